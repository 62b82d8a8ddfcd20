// The SIMPPO coordinator's training tick allocates nothing once its agents
// exist: encoding, acting on the worker pool, rewards, storage and the
// agents' updates. And an agent that cannot be added for want of memory
// leaves the coordinator as it was.
#include <rlscale/multiagent/simppo.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <new>
#include <string>
#include <vector>

namespace test_multiagent_simppo_alloc {

using namespace rlscale;
using namespace rlscale::multiagent;

TEST_CASE("simppo_coordinator: begin_episode, act and observe (with updates, on worker threads) allocate nothing") {
    simppo_config c;
    c.ppo.actor_hidden = {16, 16};
    c.ppo.critic_hidden = {16, 16};
    c.ppo.rollout_steps = 10;
    c.threads = 1;
    simppo_coordinator coord(c);
    for (int i = 0; i < 4; ++i) coord.add_agent("f" + std::to_string(i), i % 2 == 0 ? "cpu" : "io");

    std::vector<function_metrics> m(4);
    std::vector<scaling_state> s(4);
    for (std::size_t f = 0; f < 4; ++f) {
        m[f].interval_s = 15;
        m[f].arrivals = m[f].completions = 100 + 10 * static_cast<std::uint64_t>(f);
        m[f].latency_mean_s = 0.1;
        m[f].latency = {0.05, 0.1, 0.15, 0.2, 0.3};
        m[f].cpu_utilization = 0.6;
        m[f].memory_utilization = 0.4;
        m[f].ready_replicas = 2;
        s[f] = {.replicas = 2, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1, .memory_limit_mb = 512,
                .slo = {.latency_s = 0.5, .percentile = 0.99}};
    }
    std::vector<scaling_target> targets(4);
    const auto episode = [&](int steps) {
        coord.begin_episode(m, s);
        std::size_t updates = 0;
        for (int t = 0; t < steps; ++t) {
            coord.act(s, targets);
            for (std::size_t f = 0; f < 4; ++f) {
                s[f].replicas = targets[f].replicas;
                m[f].cpu_utilization = 0.3 + 0.05 * static_cast<double>((t + static_cast<int>(f)) % 10);
            }
            updates += coord.observe(m, s, t + 1 == steps).updates;
        }
        return updates;
    };
    (void)episode(10);  // warm-up: first updates, thread start-up
    const long before = test::allocation_count();
    const std::size_t updates = episode(20);
    const long after = test::allocation_count();
    CHECK(updates == 8);  // two full rollouts per agent
    CHECK(after - before == 0);
}

TEST_CASE("simppo_coordinator: an agent that cannot be added for want of memory changes nothing, not even the next agent's seed") {
    simppo_config c;
    c.ppo.actor_hidden = {16, 16};
    c.ppo.critic_hidden = {16, 16};
    c.ppo.rollout_steps = 100'000;  // each agent's rollout: several MB in one allocation
    c.threads = 1;
    simppo_coordinator coord(c);
    coord.add_agent("f0", "cpu");
    {
        test::fail_allocations_over(1 << 20);
        struct limit_off {
            ~limit_off() { test::fail_allocations_over(0); }
        } off;
        CHECK_THROWS_AS(coord.add_agent("f1", "cpu"), std::bad_alloc);
    }
    CHECK(coord.agent_count() == 1);
    // The next agent is the one a coordinator that never failed would add second.
    REQUIRE(coord.add_agent("f1", "cpu") == 1);
    simppo_coordinator fresh(c);
    fresh.add_agent("f0", "cpu");
    fresh.add_agent("f1", "cpu");
    CHECK(coord.learner(1).actor().parameters() == fresh.learner(1).actor().parameters());
    CHECK(coord.learner(1).critic().parameters() == fresh.learner(1).critic().parameters());
}

}  // namespace test_multiagent_simppo_alloc
