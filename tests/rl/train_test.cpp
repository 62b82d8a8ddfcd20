// End to end on the simulator: a DQN trained with rl::train on one function
// holds its SLO and beats a random policy; a checkpoint of it reproduces its
// decisions through rl_policy.
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/train.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <memory>
#include <vector>

namespace test_rl_train {

using namespace rlscale;

namespace {

using reward_t = with_replica_cost<scarlet_reward>;
using env_t = sim::cluster_env<scarlet_encoder, reward_t>;

/// Polimi's 200 × 200 matrix multiplication at a constant 30 req/s (about
/// 3 replicas' worth of work), at most 10 replicas, SLO 1 s on the p90.
sim::cluster_config one_function() {
    const sim::function_profile p = sim::matrix_multiplication(200);
    return {.node = {.cores = 16, .memory_mb = 16384},
            .functions = {{.profile = p, .load = sim::constant(30, 3600), .max_replicas = 10}}};
}
std::vector<scaling_state> bounds() {
    return {{.replicas = 1, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1, .memory_limit_mb = 256,
             .slo = {.latency_s = 1.0, .percentile = 0.9, .target_rps = 30}}};
}
env_t make_env() {
    return env_t(one_function(), {.episode_steps = 60, .actions = sim::action_kind::replica_count, .functions = bounds()},
                 scarlet_encoder{}, reward_t(scarlet_reward{}, 0.5));
}

rl::dqn_config small_config() {
    rl::dqn_config c = rl::dqn_config::scarlet();
    c.hidden = {64, 64};
    c.adam.lr = 1e-3;
    c.replay_capacity = 20'000;
    c.batch_size = 64;
    c.learning_starts = 200;
    c.epsilon = {.start = 0.9, .end = 0.05, .decay = 600};
    return c;
}

struct scores {
    double violation_rate = 0;
    double mean_reward = 0;
};

/// Runs `choose(observation, states) -> head index` for 240 ticks from a fresh episode.
template <typename Choose>
scores evaluate(Choose&& choose) {
    env_t env = make_env();
    const rl::joint_delta_actions actions(1);
    auto obs = env.reset(99);
    std::vector<float> o(obs.begin(), obs.end());
    double violations = 0;
    double ticks = 0;
    double reward = 0;
    for (int t = 0; t < 240; ++t) {
        const std::array<std::int32_t, 1> head{choose(std::span<const float>(o), env.states())};
        std::array<scaling_target, 1> target{};
        actions.targets(head, env.metrics(), env.states(), target);
        const std::array<double, 1> a{static_cast<double>(std::clamp(target[0].replicas, 1, 10))};
        const auto r = env.step(a);
        if (r.info[0].arrivals > 0) {
            ticks += 1;
            if (violates_slo(r.info[0], env.states()[0])) violations += 1;
        }
        reward += r.reward;
        o.assign(r.observation.begin(), r.observation.end());
        if (r.truncated) {
            obs = env.reset(100 + static_cast<std::uint64_t>(t));
            o.assign(obs.begin(), obs.end());
        }
    }
    return {violations / ticks, reward / 240};
}

}  // namespace

TEST_CASE("a DQN trained on one simulated function holds its SLO and beats a random policy, and its checkpoint decides the same") {
    env_t env = make_env();
    const rl::joint_delta_actions actions(1);
    rl::dqn<float> agent(env.observation_size(), actions.layout(), small_config(), 7);
    int reports = 0;
    const rl::train_report last = rl::train(env, agent, actions, {.steps = 3000, .seed = 5, .report_every = 1000},
                                                [&](const rl::train_report& r) {
                                                    ++reports;
                                                    MESSAGE(rl::format_report(r));
                                                });
    CHECK(reports == 3);
    CHECK(last.step == 3000);
    CHECK(last.updates > 2500);

    const scores trained = evaluate([&](std::span<const float> o, std::span<const scaling_state>) {
        std::array<std::int32_t, 1> h{};
        agent.greedy(o, h);
        return h[0];
    });
    rng gen(3);
    const scores random = evaluate([&](std::span<const float>, std::span<const scaling_state>) {
        return static_cast<std::int32_t>(uniform_index(gen, 3));
    });
    MESSAGE("trained: violations " << trained.violation_rate << ", reward " << trained.mean_reward << "; random: violations "
                                   << random.violation_rate << ", reward " << random.mean_reward);
    CHECK(trained.violation_rate <= 0.05);
    CHECK(trained.violation_rate < random.violation_rate);
    CHECK(trained.mean_reward > random.mean_reward);

    // The checkpoint, served through rl_policy, decides as the agent does.
    const std::filesystem::path path = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "train_test_dqn.json";
    nn::save_checkpoint(path, agent.online(), agent.optimizer());
    auto weights = std::make_shared<rl::shared_network<float>>(agent.online());
    weights->load(path);
    dqn_policy<scarlet_encoder, rl::joint_delta_actions> served(weights, scarlet_encoder{}, actions, std::vector<hpa_policy>(1),
                                                               {.max_step_up = 1, .max_step_down = 1});
    env_t probe = make_env();
    (void)probe.reset(42);
    std::array<double, 1> a{1};
    auto r = probe.step(a);
    int same = 0;
    for (int t = 0; t < 50; ++t) {
        const std::vector<float> o(r.observation.begin(), r.observation.end());
        const function_metrics m = r.info[0];
        const scaling_state s = probe.states()[0];
        std::array<std::int32_t, 1> h{};
        agent.greedy(o, h);
        std::array<scaling_target, 1> target{};
        actions.targets(h, probe.metrics(), probe.states(), target);
        const decision d = served.decide(m, s);
        CHECK(d.source == decision_source::policy);
        same += d.replicas == std::clamp(target[0].replicas, 1, 10) ? 1 : 0;
        a[0] = d.replicas;
        r = probe.step(a);
    }
    CHECK(same == 50);
}

}  // namespace test_rl_train
