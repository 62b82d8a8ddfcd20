// Run under ThreadSanitizer (see tests/CMakeLists.txt): the SIMPPO
// coordinator acting and updating its agents on worker threads, with agents
// added and removed between episodes and a task that throws.
#include <rlscale/multiagent/simppo.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace rlscale;
using namespace rlscale::multiagent;

TEST_CASE("tsan: simppo_coordinator acts and updates on worker threads without a data race") {
    simppo_config c;
    c.ppo.actor_hidden = {8};
    c.ppo.critic_hidden = {8};
    c.ppo.rollout_steps = 10;
    c.threads = 3;
    simppo_coordinator coord(c);
    for (int i = 0; i < 6; ++i) coord.add_agent("f" + std::to_string(i), i % 2 == 0 ? "cpu" : "io");
    const auto episode = [&](int steps) {
        const std::size_t n = coord.agent_count();
        std::vector<function_metrics> m(n);
        std::vector<scaling_state> s(n);
        for (std::size_t f = 0; f < n; ++f) {
            m[f].interval_s = 15;
            m[f].arrivals = m[f].completions = 50;
            m[f].latency = {0.05, 0.1, 0.15, 0.2, 0.3};
            m[f].cpu_utilization = 0.5;
            m[f].memory_utilization = 0.4;
            s[f] = {.replicas = 2, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1, .memory_limit_mb = 512,
                    .slo = {.latency_s = 0.5, .percentile = 0.99}};
        }
        std::vector<scaling_target> t(n);
        std::size_t updates = 0;
        coord.begin_episode(m, s);
        for (int k = 0; k < steps; ++k) {
            coord.act(s, t);
            for (std::size_t f = 0; f < n; ++f) s[f].replicas = t[f].replicas;
            updates += coord.observe(m, s, k + 1 == steps).updates;
        }
        return updates;
    };
    CHECK(episode(20) == 12);
    coord.add_agent("f6", "cpu");
    coord.remove_agent("f1");
    CHECK(episode(10) == 6);
    coord.refresh_base_models();
}
