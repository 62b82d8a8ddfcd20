// The README's embedding example: a scheduler's control loop around one
// composed policy. The simulator stands in for the scheduler; a metrics
// outage (NaN utilisation) between 300 s and 330 s shows the guard holding.
//
//   rlscale_embed [--seconds S]
#include "../apps/common/cli.hpp"
#include <rlscale/rlscale.hpp>

#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

static int program(int argc, char** argv) {
    double seconds = 900;
    if (argc == 3 && std::string_view(argv[1]) == "--seconds") {
        // At least one 15-s control interval; at most 1e6 s (about 11.6
        // days, 66,666 printed intervals), well inside a load's 1e8 bins.
        seconds = rlscale::cli::number_in("--seconds", argv[2], 15, 1e6);
    } else if (argc != 1) {
        std::fprintf(stderr, "usage: %s [--seconds S]\n", argv[0]);
        return 2;
    }

    // The "scheduler": one function on a 16-core node, load swinging 20..180 req/s.
    namespace sim = rlscale::sim;
    const sim::function_profile profile = sim::matrix_multiplication(200);
    sim::cluster scheduler({.node = {.cores = 16, .memory_mb = 16384},
                            .functions = {{.profile = profile, .load = sim::sinusoidal(100, 80, 600, seconds), .max_replicas = 20}}},
                           /*seed=*/42);

    // KPA first, the HPA when the KPA cannot decide; both inside a guard that
    // keeps [min, max], moves at most +4 / -2 replicas a tick and holds on bad input.
    rlscale::guarded policy{
        rlscale::with_fallback{rlscale::kpa_policy{{.container_concurrency = static_cast<double>(profile.concurrency)}},
                               rlscale::hpa_policy{rlscale::hpa_config::cpu_utilization(70)}},
        {.max_step_up = 4, .max_step_down = 2}};
    rlscale::scaling_state state{.replicas = 1, .min_replicas = 1, .max_replicas = 20,
                                 .slo = {.latency_s = profile.slo_s, .percentile = 0.99}};

    std::vector<rlscale::function_metrics> metrics(1);
    std::printf("%8s %10s %10s %9s %8s  %s\n", "time_s", "arrivals", "p99_s", "replicas", "source", "reason");
    for (double t = 15; t <= seconds; t += 15) {
        scheduler.step(15, metrics);                   // one control interval
        rlscale::function_metrics m = metrics[0];
        if (t > 300 && t <= 330) m.cpu_utilization = std::nan("");  // a metrics outage
        state.replicas = scheduler.replicas(0);
        state.time_s = t;
        const rlscale::decision d = policy.decide(m, state);  // noexcept, no allocation
        scheduler.set_replicas(0, d.replicas);               // always within [min, max]
        const std::string_view source = rlscale::to_string(d.source);
        const std::string_view reason = d.reason.empty() ? "-" : d.reason;
        std::printf("%8.0f %10llu %10.4f %9d %8.*s  %.*s\n", t, static_cast<unsigned long long>(m.arrivals), m.latency.p99,
                    d.replicas, static_cast<int>(source.size()), source.data(), static_cast<int>(reason.size()), reason.data());
    }
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
