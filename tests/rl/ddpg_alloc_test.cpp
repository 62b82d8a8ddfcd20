// Proves DDPG's hot paths allocate nothing after construction: greedy,
// explore (warm-up, Ornstein-Uhlenbeck and Gaussian), observe and update,
// with TD3's twin critics, smoothing and delay, behaviour cloning, both
// critic layouts, both precisions, and sharded updates on two threads.
#include <rlscale/rl/ddpg.hpp>
#include <rlscale/rl/noise.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

namespace test_rl_ddpg_alloc {

using namespace rlscale;

TEST_CASE("ddpg greedy, explore, observe and update allocate nothing, for DDPG, TD3 and TD3+BC") {
    struct variant {
        rl::ddpg_config config;
        std::string name;
    };
    std::vector<variant> variants;
    {
        rl::ddpg_config c = rl::ddpg_config::firm();
        c.replay_capacity = 500;  // wraps during the loop
        c.batch_size = 32;
        c.learning_starts = 40;
        variants.push_back({c, "firm (OU, action at layer 1)"});
        c.precision = nn::matmul_precision::bf16;
        variants.push_back({c, "firm, bf16"});
        rl::ddpg_config t = rl::ddpg_config::td3();
        t.actor_hidden = t.critic_hidden = {32, 32};
        t.replay_capacity = 500;
        t.batch_size = 32;
        t.learning_starts = 40;
        t.critic_grad_clip_norm = 1;
        t.actor_grad_clip_norm = 1;
        variants.push_back({t, "td3 (Gaussian, action at the input)"});
        t.bc_alpha = 2.5;
        t.critic_action_layer = 1;
        t.exploration = rl::ddpg_exploration::ornstein_uhlenbeck;
        variants.push_back({t, "td3+bc, OU, action at layer 1"});
        t.action_l2 = 1;
        variants.push_back({t, "td3+bc with the action_l2 penalty"});
        t.update_shards = t.update_threads = 2;  // the second shard on the agent's own thread
        variants.push_back({t, "td3+bc with action_l2, two shards on two threads"});
        c.precision = nn::matmul_precision::full;
        c.update_shards = c.update_threads = 2;
        variants.push_back({c, "firm, two shards on two threads"});
    }
    for (const auto& v : variants) {
        CAPTURE(v.name);
        rl::ddpg<float> agent(10, {{-1, 1}, {0, 2}, {-3, 3}}, v.config, 1);
        std::array<float, 10> o{};
        std::array<float, 10> o2{};
        std::array<float, 3> a{};
        rng gen(4);
        agent.explore(o, a);  // warm-up
        const long before = test::allocation_count();
        for (int t = 0; t < 600; ++t) {
            for (auto& x : o) x = static_cast<float>(uniform01(gen));
            for (auto& x : o2) x = static_cast<float>(uniform01(gen));
            agent.explore(o, a);
            agent.greedy(o, a);
            agent.explore(o, a);
            agent.observe(o, a, uniform01(gen), o2, t % 100 == 99, t % 70 == 69);
        }
        agent.update();
        CHECK(test::allocation_count() - before == 0);
        CHECK(agent.updates() > 500);
    }
}

TEST_CASE("ddpg exploration streams: selecting one allocates nothing (rl::train selects one per environment, twice a round)") {
    rl::ddpg_config c = rl::ddpg_config::firm();
    c.learning_starts = 0;
    rl::ddpg<float> agent(10, {{-1, 1}, {0, 2}, {-3, 3}}, c, 1);
    agent.set_exploration_streams(4);
    std::array<float, 10> o{};
    std::array<float, 3> a{};
    const long before = test::allocation_count();
    for (int t = 0; t < 200; ++t) {
        agent.select_exploration_stream(static_cast<std::size_t>(t % 4));
        agent.explore(o, a);
        if (t % 9 == 0) agent.reset_noise();
    }
    CHECK(test::allocation_count() - before == 0);
}

TEST_CASE("noise sampling, decay and reset allocate nothing") {
    rl::ornstein_uhlenbeck_noise ou(3, rl::ornstein_uhlenbeck_config::firm(), std::vector<double>{1, 2, 3});
    rl::gaussian_noise g(3, {}, std::vector<double>{1, 2, 3});
    rng gen(1);
    std::array<float, 3> x{};
    const long before = test::allocation_count();
    for (int i = 0; i < 100; ++i) {
        ou.sample(gen, std::span<float>(x));
        ou.decay();
        g.sample(gen, std::span<float>(x));
        if (i % 10 == 0) ou.reset();
    }
    CHECK(test::allocation_count() - before == 0);
}

}  // namespace test_rl_ddpg_alloc
