// Both simulator models allocate nothing after construction: stepping,
// scaling, resizing and reset, counted by tests/alloc_counter.cpp.
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/tick_cluster.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace test_sim_cluster_alloc {

using namespace rlscale::sim;

// Three functions on a small node: two of SCARLET's, and one with an Azure
// far tail (p100 19× its p99) on single-request replicas, so that the
// tick-level model draws the servers its tail holds.
cluster_config three_functions(double rate) {
    function_profile p = profile("hotel-app-geo");
    p.timeout_s = 1.0;
    cluster_config config{.node = {.cores = 4, .memory_mb = 8192}};
    for (int f = 0; f < 3; ++f) {
        function_profile q = p;
        if (f == 2) {
            q.service = service_time::from_azure_percentiles_ms({258, 357, 376, 394, 409, 713, 13440});
            q.concurrency = 1;
            q.cpu_limit = q.cpu_demand;
            q.timeout_s = 30;
        }
        config.functions.push_back({.profile = q, .load = sinusoidal(rate * (1 + f / 3.0), rate * 2 / 3, 60, 1000),
                                    .max_replicas = 16, .initial_replicas = 2, .queue_capacity = 256});
    }
    return config;
}

template <class Model>
void check_no_allocation(double rate, double interval_s, std::uint64_t min_completions, double cores = 4) {
    cluster_config config = three_functions(rate);
    if (cores != 4) {
        config.node.cores = cores;
        config.node.memory_mb = 1e7;
    }
    Model sim(config, 1);
    std::vector<rlscale::function_metrics> m(3);
    sim.step(5, m);  // warm-up

    const long before = rlscale::test::allocation_count();
    std::uint64_t completions = 0;
    for (int tick = 0; tick < 300; ++tick) {
        sim.set_replicas(static_cast<std::uint32_t>(tick % 3), 1 + tick % 16);
        if (tick % 25 == 0) sim.set_cpu_limit(1, 0.5 + (tick % 4) * 0.5);
        if (tick % 30 == 0) sim.set_memory_limit(0, 128 + (tick % 3) * 64);
        if (tick == 150) sim.reset(2);
        sim.step(interval_s, m);
        completions += m[0].completions + m[2].completions;
    }
    CHECK(rlscale::test::allocation_count() - before == 0);
    CHECK(completions > min_completions);  // the loop did real work
    if constexpr (std::is_same_v<Model, cluster>) {
        // Both ways of running an interval were exercised where meant to be.
        if (cores == 4) {
            CHECK(sim.one_function_at_a_time_runs() < 150);
        } else {
            CHECK(sim.one_function_at_a_time_runs() == 150);  // every interval since the reset
        }
    }
}

TEST_CASE("cluster::step, set_replicas, set_cpu_limit, set_memory_limit and reset allocate nothing after construction") {
    check_no_allocation<cluster>(30, 1, 1000);
    // A node no function can overload: the functions run one at a time.
    check_no_allocation<cluster>(30, 1, 1000, 1000);
}

TEST_CASE("tick_cluster::step, set_replicas, set_cpu_limit, set_memory_limit and reset allocate nothing after construction") {
    REQUIRE(detail::service_table::of(three_functions(1).functions[2].profile.service).heavy_tail());
    check_no_allocation<tick_cluster>(300, 15, 10'000);
}

}  // namespace test_sim_cluster_alloc
