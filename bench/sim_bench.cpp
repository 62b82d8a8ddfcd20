// Simulator throughput: simulated requests per wall-clock second, for a small
// and a large cluster at moderate load. The cost per request should stay flat
// as the number of functions grows (docs/simulator.md).
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/tick_cluster.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace {

using namespace rlscale::sim;

/// `functions` functions at 40 req/s each, 50 ms exponential service, about
/// half loaded (4 replicas of concurrency 1 each), on a node big enough that
/// the count of functions is the only thing that changes.
void BM_sim_requests(benchmark::State& state, int functions) {
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

/// The same clusters on the tick-level model: function-ticks (one function
/// through one 15-s control interval) per second. Its cost does not depend
/// on the request rate, so `rate_scale` 10 (400 req/s per function) costs
/// what 1 does.
void BM_sim_ticks(benchmark::State& state, int functions, double rate_scale) {
    function_profile p;
    p.name = "bench";
    p.service = service_time::exponential(0.05);
    p.cold_start = service_time::deterministic(0.5);
    cluster_config config{.node = {.cores = 8.0 * functions * rate_scale, .memory_mb = 1e9, .cpu_overcommit = 1}};
    const workload daily = sinusoidal(40 * rate_scale, 20 * rate_scale, 300, 300);
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

}  // namespace
