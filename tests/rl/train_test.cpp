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
#include <cstdint>
#include <span>
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

/// make_env() with episodes of `episode_steps` steps that records the seed
/// of every reset and counts its steps.
struct counting_env {
    env_t env;
    std::vector<std::uint64_t> seeds;
    std::uint64_t steps = 0;

    explicit counting_env(int episode_steps)
        : env(one_function(), {.episode_steps = episode_steps, .actions = sim::action_kind::replica_count, .functions = bounds()},
              scarlet_encoder{}, reward_t(scarlet_reward{}, 0.5)) {}
    [[nodiscard]] std::size_t function_count() const noexcept { return env.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return env.observation_size(); }
    std::span<const float> reset(std::uint64_t seed) {
        seeds.push_back(seed);
        return env.reset(seed);
    }
    sim::step_result step_to(std::span<const scaling_target> targets) {
        ++steps;
        return env.step_to(targets);
    }
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env.states(); }
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return env.metrics(); }
};
static_assert(rl::target_environment<counting_env>);

/// Holds every function where it is (a joint-delta index of 1, "no change").
struct holding_learner {
    using value_type = std::int32_t;
    std::uint64_t observed = 0;

    [[nodiscard]] std::size_t action_width() const noexcept { return 1; }
    void explore(std::span<const float>, std::span<std::int32_t> out) { out[0] = 1; }
    bool observe(std::span<const float>, std::span<const std::int32_t>, double, std::span<const float>, bool, bool) {
        ++observed;
        return false;
    }
    [[nodiscard]] learner_stats stats() const noexcept { return {.steps = observed}; }
};
static_assert(learner<holding_learner>);

/// make_env() with episodes of `episode_steps` steps whose encoder refuses
/// every `period`-th observation (counted over the environment's life,
/// reset's included; every one with period 1), saying so through
/// observation_valid() and each step's result. Records, per step, whether
/// the observation it was chosen on was refused, the replicas before it
/// and the target it was given.
struct refusing_env {
    env_t env;
    std::uint64_t period = 1;
    std::uint64_t observations = 0;
    bool valid = true;
    std::vector<bool> chosen_on_refused;
    std::vector<bool> next_valid;  // whether each step's next observation was accepted
    std::vector<int> replicas_before;
    std::vector<int> targets;

    refusing_env(int episode_steps, std::uint64_t refuse_period)
        : env(one_function(), {.episode_steps = episode_steps, .actions = sim::action_kind::replica_count, .functions = bounds()},
              scarlet_encoder{}, reward_t(scarlet_reward{}, 0.5)),
          period(refuse_period) {}
    [[nodiscard]] std::size_t function_count() const noexcept { return env.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return env.observation_size(); }
    std::span<const float> reset(std::uint64_t seed) {
        const auto o = env.reset(seed);
        valid = observations++ % period != 0;
        return o;
    }
    sim::step_result step_to(std::span<const scaling_target> t) {
        chosen_on_refused.push_back(!valid);
        replicas_before.push_back(env.states()[0].replicas);
        targets.push_back(t[0].replicas);
        sim::step_result r = env.step_to(t);
        valid = observations++ % period != 0;
        r.observation_valid = valid;
        next_valid.push_back(valid);
        return r;
    }
    [[nodiscard]] bool observation_valid() const noexcept { return valid; }
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env.states(); }
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return env.metrics(); }
};
static_assert(rl::target_environment<refusing_env>);

/// Scales up by one (a joint-delta index of 2) and counts its calls.
struct upscaling_learner {
    using value_type = std::int32_t;
    std::uint64_t explored = 0;
    std::uint64_t observed = 0;

    [[nodiscard]] std::size_t action_width() const noexcept { return 1; }
    void explore(std::span<const float>, std::span<std::int32_t> out) {
        ++explored;
        out[0] = 2;
    }
    bool observe(std::span<const float>, std::span<const std::int32_t>, double, std::span<const float>, bool, bool) {
        ++observed;
        return false;
    }
    [[nodiscard]] learner_stats stats() const noexcept { return {.steps = observed}; }
};
static_assert(learner<upscaling_learner>);

}  // namespace

TEST_CASE("train does not act on a refused observation: every function holds its replicas and the learner is not asked, in turn and in parallel") {
    const rl::joint_delta_actions actions(1);
    for (const bool parallel : {false, true}) {
        for (const std::uint64_t period : {std::uint64_t{1}, std::uint64_t{3}}) {
            CAPTURE(parallel);
            CAPTURE(period);
            std::vector<refusing_env> envs;
            envs.emplace_back(5, period);
            envs.emplace_back(4, period);
            upscaling_learner learner;
            (void)rl::train(std::span<refusing_env>(envs), learner, actions,
                            {.steps = 24, .seed = 3, .report_every = 0, .parallel_envs = parallel, .threads = 1},
                            [](const rl::train_report&) {});
            std::uint64_t refused = 0;
            std::uint64_t storable = 0;  // steps from and to an observation accepted
            for (const refusing_env& e : envs) {
                for (std::size_t k = 0; k < e.targets.size(); ++k) {
                    CAPTURE(k);
                    if (e.chosen_on_refused[k]) {
                        ++refused;
                        CHECK(e.targets[k] == e.replicas_before[k]);
                    } else {
                        CHECK(e.targets[k] == std::min(e.replicas_before[k] + 1, 10));
                        storable += e.next_valid[k] ? 1 : 0;
                    }
                }
            }
            CHECK(envs[0].targets.size() + envs[1].targets.size() == 24);
            CHECK(refused > 0);
            CHECK(learner.explored == 24 - refused);
            // Only a transition from and to an accepted observation is stored.
            CHECK(learner.observed == storable);
            if (period == 3) CHECK(storable > 0);
        }
    }
}

TEST_CASE("train on observations that are all refused draws nothing from the learner's generator") {
    std::vector<refusing_env> envs;
    envs.emplace_back(5, 1);
    const rl::joint_delta_actions actions(1);
    rl::dqn_config c = small_config();
    c.learning_starts = 0;
    rl::dqn<float> agent(envs[0].observation_size(), actions.layout(), c, 7);
    rl::dqn<float> twin(envs[0].observation_size(), actions.layout(), c, 7);
    (void)rl::train(std::span<refusing_env>(envs), agent, actions, {.steps = 12, .seed = 3, .report_every = 0},
                    [](const rl::train_report&) {});
    CHECK(agent.steps() == 0);
    for (std::size_t k = 0; k < envs[0].targets.size(); ++k) CHECK(envs[0].targets[k] == envs[0].replicas_before[k]);
    // Exploring now draws what the untouched twin draws.
    const std::vector<float> o(envs[0].observation_size(), 0.25F);
    for (int k = 0; k < 50; ++k) {
        CAPTURE(k);
        std::array<std::int32_t, 1> a{};
        std::array<std::int32_t, 1> b{};
        agent.explore(o, a);
        twin.explore(o, b);
        CHECK(a == b);
    }
}

TEST_CASE("train refuses zero steps by name, before touching an environment or reporting") {
    const rl::joint_delta_actions actions(1);
    for (const bool parallel : {false, true}) {
        CAPTURE(parallel);
        std::vector<counting_env> envs;
        envs.emplace_back(5);
        envs.emplace_back(5);
        holding_learner learner;
        int reports = 0;
        CHECK_THROWS_WITH_AS((void)rl::train(std::span<counting_env>(envs), learner, actions,
                                             {.steps = 0, .seed = 1, .parallel_envs = parallel, .threads = 1},
                                             [&](const rl::train_report&) { ++reports; }),
                             "train_options.steps: must be >= 1, got 0", config_error);
        CHECK(reports == 0);
        CHECK(envs[0].seeds.empty());
        CHECK(envs[1].seeds.empty());
        CHECK(learner.observed == 0);
    }
}

TEST_CASE("train starts the next episode only when a step remains for it, in turn and in parallel") {
    const rl::joint_delta_actions actions(1);
    const auto run = [&](std::vector<counting_env>& envs, rl::train_options options) {
        holding_learner learner;
        std::vector<rl::train_report> reports;
        const rl::train_report last = rl::train(std::span<counting_env>(envs), learner, actions, options,
                                                [&](const rl::train_report& r) { reports.push_back(r); });
        CHECK(learner.observed == options.steps);
        REQUIRE(!reports.empty());
        CHECK(reports.back().step == options.steps);
        CHECK(reports.back().episode == last.episode);
        return last;
    };
    SUBCASE("in turn: an episode that ends on the last step starts none") {
        std::vector<counting_env> envs;
        envs.emplace_back(5);
        // Two episodes of 5 steps; the second ends on step 10.
        const rl::train_report last = run(envs, {.steps = 10, .seed = 20, .report_every = 0});
        CHECK(envs[0].seeds == std::vector<std::uint64_t>{20, 21});
        CHECK(last.episode == 2);
        // One step more: the third episode runs, for one step.
        std::vector<counting_env> more;
        more.emplace_back(5);
        CHECK(run(more, {.steps = 11, .seed = 20, .report_every = 0}).episode == 3);
        CHECK(more[0].seeds == std::vector<std::uint64_t>{20, 21, 22});
    }
    SUBCASE("in turn over two environments: the last episode's end resets neither") {
        std::vector<counting_env> envs;
        envs.emplace_back(4);
        envs.emplace_back(4);
        // Episodes 0 and 2 on envs[0], 1 on envs[1]; episode 2 ends on step 12.
        const rl::train_report last = run(envs, {.steps = 12, .seed = 7, .report_every = 5});
        CHECK(envs[0].seeds == std::vector<std::uint64_t>{7, 9});
        CHECK(envs[1].seeds == std::vector<std::uint64_t>{8});
        CHECK(last.episode == 3);
    }
    SUBCASE("parallel: an environment the remaining rounds do not reach starts no episode") {
        std::vector<counting_env> envs;
        envs.emplace_back(3);
        envs.emplace_back(2);
        // Rounds of two steps, the fifth partial (envs[0] only): envs[1]'s
        // second episode ends in round 4, the last to step it; envs[0]'s
        // second ends in round 6 of a 12-step run, the last round.
        const rl::train_report partial = run(envs, {.steps = 9, .seed = 100, .report_every = 0, .parallel_envs = true, .threads = 2});
        CHECK(envs[0].seeds == std::vector<std::uint64_t>{100, 102});
        CHECK(envs[1].seeds == std::vector<std::uint64_t>{101, 103});
        CHECK(envs[0].steps == 5);
        CHECK(envs[1].steps == 4);
        CHECK(partial.episode == 4);

        std::vector<counting_env> full;
        full.emplace_back(3);
        full.emplace_back(2);
        const rl::train_report last = run(full, {.steps = 12, .seed = 100, .report_every = 4, .parallel_envs = true, .threads = 1});
        CHECK(full[0].seeds == std::vector<std::uint64_t>{100, 102});
        CHECK(full[1].seeds == std::vector<std::uint64_t>{101, 103, 105});
        CHECK(last.episode == 5);
    }
    SUBCASE("parallel: fewer steps than environments reset only the ones stepped") {
        std::vector<counting_env> envs;
        for (int i = 0; i < 3; ++i) envs.emplace_back(5);
        const rl::train_report last = run(envs, {.steps = 2, .seed = 1, .report_every = 0, .parallel_envs = true, .threads = 1});
        CHECK(envs[0].seeds == std::vector<std::uint64_t>{1});
        CHECK(envs[1].seeds == std::vector<std::uint64_t>{2});
        CHECK(envs[2].seeds.empty());
        CHECK(envs[2].steps == 0);
        CHECK(last.episode == 2);
    }
}

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
