// rl::train with parallel environments: every environment runs its own
// episodes at once, the learner sees their transitions in environment order,
// episode seeds follow seed + k·N + i, and the run is the same for any
// number of threads. The sequential mode is checked against the same
// hand-written reference.
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/train.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace test_rl_parallel_train {

using namespace rlscale;

namespace {

using reward_t = with_replica_cost<scarlet_reward>;
using env_t = sim::cluster_env<scarlet_encoder, reward_t>;

/// Polimi's 200 × 200 matrix multiplication at a constant `rps`, at most 10
/// replicas, SLO 1 s on the p90; episodes of `episode_steps` intervals.
env_t make_env(double rps, int episode_steps, std::size_t functions = 1) {
    sim::cluster_config config{.node = {.cores = 16, .memory_mb = 16384}};
    std::vector<scaling_state> states;
    for (std::size_t f = 0; f < functions; ++f) {
        config.functions.push_back({.profile = sim::matrix_multiplication(200), .load = sim::constant(rps, 3600), .max_replicas = 10});
        states.push_back({.replicas = 1, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1, .memory_limit_mb = 256,
                          .slo = {.latency_s = 1.0, .percentile = 0.9, .target_rps = 30}});
    }
    return env_t(config, {.episode_steps = episode_steps, .actions = sim::action_kind::replica_count, .functions = states},
                 scarlet_encoder{}, reward_t(scarlet_reward{}, 0.5));
}

/// Three environments under different loads whose episodes end in different rounds.
constexpr std::array<double, 3> loads{15, 30, 45};
constexpr std::array<int, 3> episode_lengths{5, 7, 9};
std::vector<env_t> three_envs() {
    std::vector<env_t> envs;
    for (std::size_t i = 0; i < loads.size(); ++i) envs.push_back(make_env(loads[i], episode_lengths[i]));
    return envs;
}

/// A learner's view of one step.
struct transition {
    std::vector<float> observation;
    std::int32_t action = 0;
    double reward = 0;
    std::vector<float> next_observation;
    bool truncated = false;
    bool operator==(const transition&) const = default;
};

/// A joint −1/0/+1 index that depends on the observation only, so a
/// reference run that sees the same observations takes the same actions.
std::int32_t scripted_choice(std::span<const float> observation) {
    double sum = 0;
    for (std::size_t k = 0; k < observation.size(); ++k) sum += static_cast<double>(observation[k]) * static_cast<double>(k + 1);
    return static_cast<std::int32_t>(std::llabs(std::llround(sum * 1000)) % 3);
}

/// A learner that acts by scripted_choice and records every call: 'e' for
/// explore, 'o' for observe, and each observed transition.
struct scripted_learner {
    using value_type = std::int32_t;
    std::vector<char> calls;
    std::vector<transition> seen;

    [[nodiscard]] std::size_t action_width() const noexcept { return 1; }
    void explore(std::span<const float> observation, std::span<std::int32_t> out) {
        calls.push_back('e');
        out[0] = scripted_choice(observation);
    }
    bool observe(std::span<const float> s, std::span<const std::int32_t> a, double r, std::span<const float> next, bool /*terminated*/,
                 bool truncated) {
        calls.push_back('o');
        seen.push_back({{s.begin(), s.end()}, a[0], r, {next.begin(), next.end()}, truncated});
        return seen.size() % 4 == 0;  // "updates" every fourth step
    }
    [[nodiscard]] learner_stats stats() const noexcept {
        return {.steps = seen.size(), .updates = seen.size() / 4, .exploration = 0.5, .last_loss = 0.25};
    }
};
static_assert(learner<scripted_learner>);

/// One episode of `env` from `seed`, `steps` steps at most, driven by hand
/// as rl::train describes it: scripted_choice through the joint action map,
/// the scale-down stabiliser and the function's bounds, then step_to.
std::vector<transition> reference_episode(env_t env, std::uint64_t seed, std::size_t steps, std::size_t window) {
    const rl::joint_delta_actions actions(1);
    downscale_stabilizer stabilizer(1, window);
    const auto first = env.reset(seed);
    std::vector<float> s(first.begin(), first.end());
    std::vector<transition> out;
    while (out.size() < steps) {
        const std::array<std::int32_t, 1> a{scripted_choice(s)};
        const scaling_state state = env.states()[0];
        std::array<scaling_target, 1> target{};
        actions.targets(a, env.metrics(), env.states(), target);
        target[0].replicas = replica_bounds::of(state).clamp(stabilizer.apply(0, state.replicas, target[0].replicas));
        const auto r = env.step_to(target);
        out.push_back({s, a[0], r.reward, {r.observation.begin(), r.observation.end()}, r.truncated});
        s.assign(r.observation.begin(), r.observation.end());
        if (r.truncated) break;
    }
    return out;
}

/// Splits one environment's transitions into episodes (each ends truncated,
/// but for a last one cut short by the step budget).
std::vector<std::vector<transition>> episodes_of(const std::vector<transition>& steps) {
    std::vector<std::vector<transition>> out(1);
    for (const transition& t : steps) {
        if (out.back().size() > 0 && out.back().back().truncated) out.emplace_back();
        out.back().push_back(t);
    }
    return out;
}

/// A cluster_env that records its reset seeds and can be told to throw on its n-th step.
struct recording_env {
    env_t env;
    std::vector<std::uint64_t> seeds{};
    int throw_at_step = -1;
    int steps = 0;

    [[nodiscard]] std::size_t function_count() const noexcept { return env.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return env.observation_size(); }
    std::span<const float> reset(std::uint64_t seed) {
        seeds.push_back(seed);
        return env.reset(seed);
    }
    sim::step_result step_to(std::span<const scaling_target> targets) {
        if (++steps == throw_at_step) throw std::runtime_error("simulator failure");
        return env.step_to(targets);
    }
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env.states(); }
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return env.metrics(); }
};
static_assert(rl::target_environment<recording_env>);

rl::dqn_config tiny_dqn() {
    rl::dqn_config c = rl::dqn_config::scarlet();
    c.hidden = {16};
    c.batch_size = 16;
    c.learning_starts = 50;
    c.replay_capacity = 2000;
    c.epsilon = {.start = 0.9, .end = 0.05, .decay = 200};
    return c;
}

/// A DQN trained in parallel on four environments: its weights and reports.
struct dqn_run {
    std::vector<float> weights;
    std::vector<rl::train_report> reports;
};
dqn_run train_dqn(std::size_t envs_count, std::size_t threads, bool parallel) {
    std::vector<env_t> envs;
    for (std::size_t i = 0; i < envs_count; ++i) envs.push_back(make_env(15.0 + 10.0 * static_cast<double>(i), 20 + static_cast<int>(i)));
    const rl::joint_delta_actions actions(1);
    rl::dqn<float> agent(envs[0].observation_size(), actions.layout(), tiny_dqn(), 7);
    dqn_run run;
    const rl::train_options options{.steps = 400, .seed = 11, .report_every = 100, .downscale_window = 2,
                                    .parallel_envs = parallel, .threads = threads};
    rl::train(std::span<env_t>(envs), agent, actions, options, [&](const rl::train_report& r) {
        run.reports.push_back(r);
        run.reports.back().steps_per_s = 0;  // wall clock
    });
    const auto p = agent.online().parameters();
    run.weights.assign(p.data(), p.data() + p.size());
    return run;
}

bool same_reports(const std::vector<rl::train_report>& a, const std::vector<rl::train_report>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k) {
        if (a[k].step != b[k].step || a[k].episode != b[k].episode || a[k].epsilon != b[k].epsilon ||
            a[k].mean_reward != b[k].mean_reward || a[k].mean_loss != b[k].mean_loss ||
            a[k].slo_violation_rate != b[k].slo_violation_rate || a[k].updates != b[k].updates) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("parallel environments train the same DQN for 1, 2 and 4 threads from one seed") {
    const dqn_run one = train_dqn(4, 1, true);
    REQUIRE(one.reports.size() == 4);
    CHECK(one.reports.back().step == 400);
    CHECK(one.reports.back().updates > 300);
    for (const std::size_t threads : {2, 4, 0}) {
        CAPTURE(threads);
        const dqn_run other = train_dqn(4, threads, true);
        CHECK(other.weights == one.weights);
        CHECK(same_reports(other.reports, one.reports));
    }
    // The run is not the sequential one (four episodes at once, other seeds).
    CHECK(train_dqn(4, 1, false).weights != one.weights);
}

TEST_CASE("with one environment, parallel and sequential training are the same run") {
    const dqn_run sequential = train_dqn(1, 0, false);
    const dqn_run parallel = train_dqn(1, 0, true);
    CHECK(parallel.weights == sequential.weights);
    CHECK(same_reports(parallel.reports, sequential.reports));
}

TEST_CASE("the learner chooses for every environment, then observes each one's transition, in environment order") {
    constexpr std::uint64_t seed = 40;
    constexpr std::size_t window = 3;
    constexpr std::uint64_t steps = 3 * 20 + 2;  // the last round is partial
    std::vector<env_t> envs = three_envs();
    const std::size_t n = envs.size();
    const rl::joint_delta_actions actions(1);
    for (const std::size_t threads : {1, 3}) {
        CAPTURE(threads);
        scripted_learner learner;
        std::vector<std::uint64_t> report_steps;
        const rl::train_report last = rl::train(std::span<env_t>(envs), learner, actions,
                                                {.steps = steps, .seed = seed, .report_every = 10, .downscale_window = window,
                                                 .parallel_envs = true, .threads = threads},
                                                [&](const rl::train_report& r) { report_steps.push_back(r.step); });

        // Exactly `steps` transitions, in rounds of n choices then n observations.
        REQUIRE(learner.seen.size() == steps);
        std::vector<char> expected_calls;
        for (std::uint64_t done = 0; done < steps; done += n) {
            const auto round = std::min<std::uint64_t>(n, steps - done);
            expected_calls.insert(expected_calls.end(), round, 'e');
            expected_calls.insert(expected_calls.end(), round, 'o');
        }
        CHECK(learner.calls == expected_calls);

        // Reports when a round crosses a multiple of report_every, and at the end.
        CHECK(report_steps == std::vector<std::uint64_t>{12, 21, 30, 42, 51, 60, 62});
        CHECK(last.step == steps);
        CHECK(last.updates == steps / 4);

        // Environment i's k-th episode is what a run of that environment alone
        // from seed + k·n + i gives, with its own stabiliser.
        std::size_t started = 0;
        for (std::size_t i = 0; i < n; ++i) {
            std::vector<transition> own;
            for (std::size_t c = i; c < learner.seen.size(); c += n) own.push_back(learner.seen[c]);
            const auto episodes = episodes_of(own);
            CHECK(episodes.size() == (own.size() + static_cast<std::size_t>(episode_lengths[i]) - 1) /
                                         static_cast<std::size_t>(episode_lengths[i]));
            for (std::size_t k = 0; k < episodes.size(); ++k) {
                CAPTURE(i);
                CAPTURE(k);
                CHECK(episodes[k] == reference_episode(make_env(loads[i], episode_lengths[i]), seed + k * n + i, episodes[k].size(), window));
            }
            started += episodes.size();  // an episode that ends on the environment's last step starts none
        }
        CHECK(last.episode == started);
    }
}

namespace {

/// scripted_learner with exploration streams and reset_noise (as ddpg's
/// Ornstein-Uhlenbeck exploration has): records each call with the stream
/// selected at the time ('N' with the count for set_exploration_streams).
struct streamed_learner : scripted_learner {
    std::vector<std::pair<char, std::size_t>> events;
    std::size_t stream = 0;

    void explore(std::span<const float> observation, std::span<std::int32_t> out) {
        events.emplace_back('e', stream);
        scripted_learner::explore(observation, out);
    }
    bool observe(std::span<const float> s, std::span<const std::int32_t> a, double r, std::span<const float> next, bool terminated,
                 bool truncated) {
        events.emplace_back('o', stream);
        return scripted_learner::observe(s, a, r, next, terminated, truncated);
    }
    void set_exploration_streams(std::size_t n) {
        events.emplace_back('N', n);
        stream = 0;
    }
    void select_exploration_stream(std::size_t i) { stream = i; }
    void reset_noise() { events.emplace_back('r', stream); }
};
static_assert(learner<streamed_learner>);

/// An environment whose encoder refuses the observation that ends each
/// episode, so the episode's last transition is never stored.
struct refusing_end_env {
    env_t env;

    [[nodiscard]] std::size_t function_count() const noexcept { return env.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return env.observation_size(); }
    std::span<const float> reset(std::uint64_t seed) { return env.reset(seed); }
    sim::step_result step_to(std::span<const scaling_target> targets) {
        sim::step_result r = env.step_to(targets);
        if (r.truncated) r.observation_valid = false;
        return r;
    }
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env.states(); }
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return env.metrics(); }
};
static_assert(rl::target_environment<refusing_end_env>);

/// An environment whose encoder refuses the observation each episode starts
/// from (as cluster_env's does with no replica serving at time 0), and says
/// so through observation_valid().
struct refusing_start_env {
    env_t env;
    bool valid = true;

    [[nodiscard]] std::size_t function_count() const noexcept { return env.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return env.observation_size(); }
    std::span<const float> reset(std::uint64_t seed) {
        valid = false;
        return env.reset(seed);
    }
    sim::step_result step_to(std::span<const scaling_target> targets) {
        valid = true;
        return env.step_to(targets);
    }
    [[nodiscard]] bool observation_valid() const noexcept { return valid; }
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env.states(); }
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return env.metrics(); }
};
static_assert(rl::target_environment<refusing_start_env>);

}  // namespace

TEST_CASE("parallel environments explore on streams of their own: environment i's choices and transitions on stream i, one stream again at the end") {
    std::vector<env_t> envs = three_envs();
    const std::size_t n = envs.size();
    const rl::joint_delta_actions actions(1);
    constexpr std::uint64_t steps = 3 * 4 + 1;
    streamed_learner learner;
    (void)rl::train(std::span<env_t>(envs), learner, actions,
                    {.steps = steps, .seed = 3, .report_every = 0, .parallel_envs = true, .threads = 2}, [](const rl::train_report&) {});
    std::vector<std::pair<char, std::size_t>> expected{{'N', n}};
    for (std::uint64_t done = 0; done < steps; done += n) {
        const auto round = static_cast<std::size_t>(std::min<std::uint64_t>(n, steps - done));
        for (std::size_t i = 0; i < round; ++i) expected.emplace_back('e', i);
        for (std::size_t i = 0; i < round; ++i) expected.emplace_back('o', i);
    }
    expected.emplace_back('N', 1);
    CHECK(learner.events == expected);

    // In turn, one stream: the learner's streams are left alone.
    streamed_learner in_turn;
    (void)rl::train(std::span<env_t>(envs), in_turn, actions, {.steps = 4, .seed = 3, .report_every = 0}, [](const rl::train_report&) {});
    CHECK(in_turn.events == std::vector<std::pair<char, std::size_t>>{{'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}});
}

TEST_CASE("an episode that ends on a transition not stored still resets the learner's exploration noise, on its own stream") {
    const rl::joint_delta_actions actions(1);
    SUBCASE("in turn") {
        std::vector<refusing_end_env> envs{{make_env(15, 3)}};
        streamed_learner learner;
        (void)rl::train(std::span<refusing_end_env>(envs), learner, actions, {.steps = 7, .seed = 1, .report_every = 0},
                        [](const rl::train_report&) {});
        // Episodes of 3 steps: two stored transitions, then a refused end.
        CHECK(learner.events == std::vector<std::pair<char, std::size_t>>{{'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}, {'e', 0}, {'r', 0},
                                                                          {'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}, {'e', 0}, {'r', 0},
                                                                          {'e', 0}, {'o', 0}});
        CHECK(learner.seen.size() == 5);
    }
    SUBCASE("parallel: environment 1's end resets stream 1") {
        std::vector<refusing_end_env> envs{{make_env(15, 3)}, {make_env(30, 2)}};
        streamed_learner learner;
        (void)rl::train(std::span<refusing_end_env>(envs), learner, actions,
                        {.steps = 4, .seed = 1, .report_every = 0, .parallel_envs = true, .threads = 1}, [](const rl::train_report&) {});
        CHECK(learner.events == std::vector<std::pair<char, std::size_t>>{{'N', 2}, {'e', 0}, {'e', 1}, {'o', 0}, {'o', 1},
                                                                          {'e', 0}, {'e', 1}, {'o', 0}, {'r', 1}, {'N', 1}});
    }
}

TEST_CASE("a refused first observation is not acted on and its transition is not stored, in turn and in parallel") {
    const rl::joint_delta_actions actions(1);
    SUBCASE("in turn") {
        std::vector<refusing_start_env> envs{{make_env(15, 3)}};
        streamed_learner learner;
        (void)rl::train(std::span<refusing_start_env>(envs), learner, actions, {.steps = 7, .seed = 1, .report_every = 0},
                        [](const rl::train_report&) {});
        // Episodes of 3 steps: the first step of each holds without asking
        // the learner, and its transition is not stored.
        CHECK(learner.events == std::vector<std::pair<char, std::size_t>>{{'e', 0}, {'o', 0}, {'e', 0}, {'o', 0},
                                                                          {'e', 0}, {'o', 0}, {'e', 0}, {'o', 0}});
        REQUIRE(learner.seen.size() == 4);
        // What is stored starts from the second observation on. The
        // reference's first step acts by its scripted choice, a step down
        // (index 0 of -1/0/+1) from the minimum, which the bounds turn into
        // the hold that train makes on the refused observation: their second
        // observations are the same.
        const std::vector<transition> episode = reference_episode(make_env(15, 3), 1, 3, 0);
        REQUIRE(episode[0].action == 0);
        CHECK(learner.seen[0] == episode[1]);
        CHECK(learner.seen[1] == episode[2]);
    }
    SUBCASE("parallel") {
        std::vector<refusing_start_env> envs{{make_env(15, 3)}, {make_env(30, 2)}};
        streamed_learner learner;
        (void)rl::train(std::span<refusing_start_env>(envs), learner, actions,
                        {.steps = 4, .seed = 1, .report_every = 0, .parallel_envs = true, .threads = 1}, [](const rl::train_report&) {});
        CHECK(learner.events == std::vector<std::pair<char, std::size_t>>{{'N', 2}, {'e', 0}, {'e', 1}, {'o', 0}, {'o', 1}, {'N', 1}});
    }
}

TEST_CASE("an on-policy learner (PPO) is refused parallel environments by name") {
    std::vector<env_t> envs = three_envs();
    const rl::joint_delta_actions actions(1);
    rl::ppo_config c;
    c.rollout_steps = 16;
    c.minibatch_size = 4;
    const std::size_t inputs = envs[0].observation_size();
    rl::ppo<float, std::int32_t> agent(inputs, inputs, actions.layout(), c, 1);
    CHECK_THROWS_WITH_AS((void)rl::train(std::span<env_t>(envs), agent, actions,
                                         {.steps = 30, .seed = 1, .report_every = 0, .parallel_envs = true, .threads = 2},
                                         [](const rl::train_report&) {}),
                         doctest::Contains("train_options.parallel_envs"), config_error);
    // In turn, it trains.
    const auto report = rl::train(std::span<env_t>(envs), agent, actions, {.steps = 30, .seed = 1, .report_every = 0},
                                  [](const rl::train_report&) {});
    CHECK(report.step == 30);
}

TEST_CASE("environment i's k-th episode resets with seed + k * envs + i") {
    std::vector<recording_env> envs;
    for (std::size_t i = 0; i < loads.size(); ++i) envs.push_back({make_env(loads[i], episode_lengths[i])});
    const std::size_t n = envs.size();
    scripted_learner learner;
    const rl::joint_delta_actions actions(1);
    constexpr std::uint64_t seed = 1000;
    constexpr std::uint64_t steps = 3 * 30;
    (void)rl::train(std::span<recording_env>(envs), learner, actions,
                    {.steps = steps, .seed = seed, .report_every = 0, .parallel_envs = true, .threads = 2}, [](const rl::train_report&) {});
    for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        std::vector<std::uint64_t> expected;
        // Only episodes that get a step start: none after one that ends on the last step.
        const auto length = static_cast<std::size_t>(episode_lengths[i]);
        for (std::size_t k = 0; k < (30 + length - 1) / length; ++k) expected.push_back(seed + k * n + i);
        CHECK(envs[i].seeds == expected);
        CHECK(envs[i].steps == 30);
    }
}

TEST_CASE("sequential training is unchanged: episode e runs on envs[e mod N] with seed + e, one stabiliser restarted per episode") {
    constexpr std::uint64_t seed = 40;
    constexpr std::size_t window = 3;
    std::vector<env_t> envs = three_envs();
    const rl::joint_delta_actions actions(1);
    scripted_learner learner;
    int reports = 0;
    const rl::train_report last = rl::train(std::span<env_t>(envs), learner, actions,
                                            {.steps = 50, .seed = seed, .report_every = 10, .downscale_window = window,
                                             .threads = 4},  // ignored without parallel_envs
                                            [&](const rl::train_report& r) {
                                                ++reports;
                                                CHECK(r.step == static_cast<std::uint64_t>(10 * reports));
                                            });
    CHECK(reports == 5);
    REQUIRE(learner.seen.size() == 50);
    std::vector<char> alternating;
    for (int k = 0; k < 50; ++k) alternating.insert(alternating.end(), {'e', 'o'});
    CHECK(learner.calls == alternating);
    const auto episodes = episodes_of(learner.seen);
    for (std::size_t e = 0; e < episodes.size(); ++e) {
        CAPTURE(e);
        const std::size_t i = e % envs.size();
        CHECK(episodes[e] == reference_episode(make_env(loads[i], episode_lengths[i]), seed + e, episodes[e].size(), window));
    }
    CHECK(last.episode == episodes.size());
}

TEST_CASE("parallel training clamps threads to the environments and rejects mismatched environments by field") {
    SUBCASE("more threads than environments") {
        const auto run = [](std::size_t threads) {
            std::vector<env_t> envs = three_envs();
            scripted_learner learner;
            const rl::joint_delta_actions actions(1);
            (void)rl::train(std::span<env_t>(envs), learner, actions,
                            {.steps = 30, .seed = 3, .report_every = 0, .parallel_envs = true, .threads = threads},
                            [](const rl::train_report&) {});
            return learner.seen;
        };
        CHECK(run(16) == run(1));
    }
    SUBCASE("an environment with another function count") {
        std::vector<env_t> envs;
        envs.push_back(make_env(30, 10));
        envs.push_back(make_env(30, 10, 2));
        scripted_learner learner;
        const rl::joint_delta_actions actions(1);
        try {
            (void)rl::train(std::span<env_t>(envs), learner, actions, {.steps = 10, .parallel_envs = true, .threads = 2},
                            [](const rl::train_report&) {});
            FAIL("no config_error");
        } catch (const config_error& e) {
            CHECK(e.field() == "train.envs[1].function_count");
        }
        CHECK(learner.calls.empty());
    }
    SUBCASE("an environment that throws while stepping on a worker stops the run with its exception") {
        std::vector<recording_env> envs;
        for (int i = 0; i < 4; ++i) envs.push_back({make_env(30, 10)});
        envs[2].throw_at_step = 3;
        scripted_learner learner;
        const rl::joint_delta_actions actions(1);
        const auto run = [&] {
            (void)rl::train(std::span<recording_env>(envs), learner, actions,
                            {.steps = 40, .report_every = 0, .parallel_envs = true, .threads = 4}, [](const rl::train_report&) {});
        };
        CHECK_THROWS_WITH_AS(run(), "simulator failure", std::runtime_error);
        CHECK(learner.seen.size() == 8);  // two whole rounds; the third is not observed
    }
}

}  // namespace test_rl_parallel_train
