// Tick-level simulator throughput: function-ticks per wall-clock second, on
// the clusters of BM_sim_requests (sim_requests_bench.cpp).
#include <rlscale/sim/tick_cluster.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace {

using namespace rlscale::sim;

/// The same clusters on the tick-level model: function-ticks (one function
/// through one 15-s control interval) per second. Its cost does not depend
/// on the request rate, so `rate_scale` 10 (400 req/s per function) costs
/// what 1 does.
void BM_sim_ticks(benchmark::State& state, int functions, double rate_scale, bool far_tail = false) {
    function_profile p;
    p.name = "bench";
    p.service = service_time::exponential(0.05);
    // A far tail: an Azure function's durations (mean 0.49 s; 1 % of the
    // requests hold a server for about 7 s), at the rate that keeps the load.
    if (far_tail) p.service = service_time::from_azure_percentiles_ms({258, 357, 376, 394, 409, 713, 13440});
    const double load_scale = rate_scale * 0.05 / p.service.mean();
    p.cold_start = service_time::deterministic(0.5);
    cluster_config config{.node = {.cores = 8.0 * functions * rate_scale, .memory_mb = 1e9, .cpu_overcommit = 1}};
    const workload daily = sinusoidal(40 * load_scale, 20 * load_scale, 300, 300);
    const workload load(daily.rates(), daily.bin_seconds(), /*repeat=*/true);
    const int replicas = static_cast<int>(4 * rate_scale);
    for (int f = 0; f < functions; ++f) {
        config.functions.push_back({.profile = p, .load = load, .max_replicas = 2 * replicas,
                                    .initial_replicas = replicas, .queue_capacity = 1024});
    }
    tick_cluster sim(config, 1);
    std::vector<rlscale::function_metrics> m(sim.function_count());
    std::int64_t requests = 0;
    for (auto _ : state) {
        sim.step(15.0, m);
        for (const auto& fm : m) requests += static_cast<std::int64_t>(fm.arrivals);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * functions);
    state.counters["requests_per_s"] = benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_sim_ticks, 10fn, 10, 1.0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_sim_ticks, 1000fn, 1000, 1.0)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sim_ticks, 10fn_10x_rate, 10, 10.0)->Unit(benchmark::kMicrosecond);
// The far tail's servers are drawn per sub-step (one uniform per held
// request up to 32 per phase, a normal draw beyond), so its cost grows with
// the rate only up to that bound.
BENCHMARK_CAPTURE(BM_sim_ticks, 10fn_far_tail, 10, 1.0, true)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_sim_ticks, 10fn_far_tail_10x_rate, 10, 10.0, true)->Unit(benchmark::kMicrosecond);

}  // namespace
