// The tick-level model allocates nothing after construction: stepping,
// scaling, resizing and reset, counted by tests/alloc_counter.cpp.
#include <rlscale/sim/tick_cluster.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace test_sim_tick_cluster_alloc {

using namespace rlscale::sim;

TEST_CASE("tick_cluster::step, set_replicas, set_cpu_limit, set_memory_limit and reset allocate nothing after construction") {
    function_profile p = profile("hotel-app-geo");
    p.timeout_s = 1.0;
    cluster_config config{.node = {.cores = 4, .memory_mb = 8192}};
    for (int f = 0; f < 3; ++f) {
        config.functions.push_back({.profile = p, .load = sinusoidal(300 + 100 * f, 250, 60, 1000), .max_replicas = 16,
                                    .initial_replicas = 2, .queue_capacity = 256});
    }
    tick_cluster sim(config, 1);
    std::vector<rlscale::function_metrics> m(3);
    sim.step(5, m);  // warm-up

    const long before = rlscale::test::allocation_count();
    std::uint64_t completions = 0;
    for (int tick = 0; tick < 300; ++tick) {
        sim.set_replicas(static_cast<std::uint32_t>(tick % 3), tick % 16);
        if (tick % 25 == 0) sim.set_cpu_limit(1, 0.1 + (tick % 4) * 0.5);
        if (tick % 30 == 0) sim.set_memory_limit(2, 10 + (tick % 3) * 20);
        if (tick == 150) sim.reset(2);
        sim.step(15, m);
        completions += m[0].completions;
    }
    CHECK(rlscale::test::allocation_count() - before == 0);
    CHECK(completions > 10'000);  // the loop did real work
}

}  // namespace test_sim_tick_cluster_alloc
