// Run under ThreadSanitizer: a DDPG/TD3+BC agent whose updates run their
// shards on three threads writes each shard's own buffers and its own
// columns of the agent's per-sample matrices, and nothing else.
#include <rlscale/core/random.hpp>
#include <rlscale/rl/ddpg.hpp>

#include <doctest/doctest.h>

#include <array>

namespace test_tsan_ddpg {

using namespace rlscale;

TEST_CASE("tsan: sharded ddpg updates (twin critics, smoothing, behaviour cloning) on three threads, without a data race") {
    rl::ddpg_config c = rl::ddpg_config::td3();
    c.actor_hidden = c.critic_hidden = {16, 16};
    c.critic_action_layer = 1;
    c.batch_size = 24;
    c.replay_capacity = 200;
    c.learning_starts = 24;
    c.bc_alpha = 2.5;
    c.action_l2 = 0.5;
    c.update_shards = c.update_threads = 3;
    rl::ddpg<float> agent(4, {{-1, 1}, {0, 2}}, c, 1);
    rng gen(2);
    std::array<float, 4> s{};
    std::array<float, 4> s2{};
    std::array<float, 2> a{};
    for (int t = 0; t < 80; ++t) {
        for (auto& x : s) x = static_cast<float>(uniform01(gen));
        for (auto& x : s2) x = static_cast<float>(uniform01(gen));
        agent.explore(s, a);
        agent.observe(s, a, uniform01(gen), s2, t % 20 == 19);
    }
    CHECK(agent.updates() > 50);
    CHECK(agent.actor_updates() > 25);
    CHECK(agent.actor().parameters().allFinite());
}

}  // namespace test_tsan_ddpg
