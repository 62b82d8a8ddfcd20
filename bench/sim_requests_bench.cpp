// Request-level simulator throughput: simulated requests per wall-clock
// second, for a small and a large cluster at moderate load. The cost per
// request should stay flat as the number of functions grows
// (docs/simulator.md). This file needs only <rlscale/sim/cluster.hpp>, and
// builds against its older versions too, so that scripts/sim_requests_vs.sh
// can build it against an older checkout and compare side by side.
#include <rlscale/sim/cluster.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace {

using namespace rlscale::sim;

/// Makes the cluster interleave its functions' events in every interval
/// (cluster_config::one_function_at_a_time = false), where the headers have
/// the option; before it, the cluster always did.
template <class Config>
void interleave(Config& config) {
    if constexpr (requires { config.one_function_at_a_time; }) {
        config.one_function_at_a_time = false;
    }
}

/// `functions` functions at 40 req/s each, 50 ms exponential service, about
/// half loaded (4 replicas of concurrency 1 each), on a node big enough that
/// the count of functions is the only thing that changes. No function can
/// overload the node, so the cluster runs one function at a time through
/// each interval, unless `interleaved` (the cost of a node that could be
/// overloaded, where every event goes through the cluster's event queues).
void BM_sim_requests(benchmark::State& state, int functions, bool interleaved = false) {
    function_profile p;
    p.name = "bench";
    p.service = service_time::exponential(0.05);
    p.cold_start = service_time::deterministic(0.5);
    cluster_config config{.node = {.cores = 8.0 * functions, .memory_mb = 1e9, .cpu_overcommit = 1}};
    const workload daily = sinusoidal(40, 20, 300, 300);
    const workload load(daily.rates(), daily.bin_seconds(), /*repeat=*/true);
    for (int f = 0; f < functions; ++f) {
        config.functions.push_back({.profile = p, .load = load, .max_replicas = 8,
                                    .initial_replicas = 4, .queue_capacity = 1024});
    }
    if (interleaved) {
        interleave(config);
    }
    cluster sim(config, 1);
    std::vector<rlscale::function_metrics> m(sim.function_count());
    std::int64_t requests = 0;
    for (auto _ : state) {
        sim.step(1.0, m);
        for (const auto& fm : m) requests += static_cast<std::int64_t>(fm.arrivals);
    }
    state.SetItemsProcessed(requests);
}

// Whole periods of the 300-s sinusoid, so that every run simulates the same load.
BENCHMARK_CAPTURE(BM_sim_requests, 10fn, 10)->Unit(benchmark::kMillisecond)->Iterations(3000);
BENCHMARK_CAPTURE(BM_sim_requests, 1000fn, 1000)->Unit(benchmark::kMillisecond)->Iterations(300);
BENCHMARK_CAPTURE(BM_sim_requests, 10fn_interleaved, 10, true)->Unit(benchmark::kMillisecond)->Iterations(3000);
BENCHMARK_CAPTURE(BM_sim_requests, 1000fn_interleaved, 1000, true)->Unit(benchmark::kMillisecond)->Iterations(300);

}  // namespace
