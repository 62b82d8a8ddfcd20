// Run under ThreadSanitizer (see tests/CMakeLists.txt): rl::train stepping
// four simulated environments on three threads while a DQN learns on the
// calling thread, its updates cut into two shards on two threads
// (dqn_config::update_shards).
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/train.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <span>
#include <vector>

using namespace rlscale;

TEST_CASE("tsan: parallel environments step on worker threads, and sharded updates run on two, without a data race") {
    using env_t = sim::cluster_env<scarlet_encoder, scarlet_reward>;
    std::vector<env_t> envs;
    for (int i = 0; i < 4; ++i) {
        sim::cluster_config config{.node = {.cores = 16, .memory_mb = 16384},
                                   .functions = {{.profile = sim::matrix_multiplication(200),
                                                  .load = sim::constant(15.0 + 10.0 * i, 3600), .max_replicas = 10}}};
        std::vector<scaling_state> states{{.replicas = 1, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1, .memory_limit_mb = 256,
                                           .slo = {.latency_s = 1.0, .percentile = 0.9, .target_rps = 30}}};
        envs.emplace_back(config, sim::env_config{.episode_steps = 7 + i, .actions = sim::action_kind::replica_count, .functions = states});
    }
    const rl::joint_delta_actions actions(1);
    rl::dqn_config c = rl::dqn_config::scarlet();
    c.hidden = {8};
    c.batch_size = 8;
    c.learning_starts = 20;
    c.replay_capacity = 500;
    c.update_shards = c.update_threads = 2;
    rl::dqn<float> agent(envs[0].observation_size(), actions.layout(), c, 3);
    int reports = 0;
    const rl::train_report last =
        rl::train(std::span<env_t>(envs), agent, actions,
                  {.steps = 120, .seed = 5, .report_every = 40, .downscale_window = 2, .parallel_envs = true, .threads = 3},
                  [&](const rl::train_report&) { ++reports; });
    CHECK(reports == 3);
    CHECK(last.step == 120);
    CHECK(last.updates > 0);
}
