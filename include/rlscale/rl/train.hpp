#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>

#include <chrono>
#include <concepts>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// Settings of rl::train.
struct train_options {
    std::uint64_t steps = 10'000;      ///< environment steps in total
    std::uint64_t seed = 1;            ///< episode e runs the simulator with seed + e
    std::uint64_t report_every = 500;  ///< steps between progress reports (0 = only the final one)
    /// Scale-down stabilisation applied to the targets, in steps (0 = none;
    /// see downscale_stabilizer): train with the window the policy will be
    /// served with, so the agent learns that a scale-up is kept that long.
    std::size_t downscale_window = 0;
};

/// A progress report: figures over the steps since the previous report.
struct train_report {
    std::uint64_t step = 0;            ///< environment steps so far
    std::uint64_t episode = 0;         ///< episodes started so far
    double epsilon = 0;                ///< the learner's exploration now (ε for DQN)
    double mean_reward = 0;            ///< mean reward per step
    double mean_loss = 0;              ///< mean loss per update (0 before learning starts)
    double slo_violation_rate = 0;     ///< share of (function, step) pairs with arrivals that violated the SLO or dropped
    double steps_per_s = 0;            ///< wall-clock environment steps per second
    std::uint64_t updates = 0;         ///< gradient steps so far
};

/// One progress line: step, episode, ε, mean reward, loss, SLO violations, speed.
[[nodiscard]] inline std::string format_report(const train_report& r) {
    char line[200];
    std::snprintf(line, sizeof line, "step %7llu  episode %4llu  eps %.3f  reward %+.3f  loss %.4f  slo-viol %5.1f %%  %6.0f steps/s",
                  static_cast<unsigned long long>(r.step), static_cast<unsigned long long>(r.episode), r.epsilon, r.mean_reward,
                  r.mean_loss, 100.0 * r.slo_violation_rate, r.steps_per_s);
    return line;
}

/// An environment the training loop can run: functions under one joint
/// observation, stepped with absolute targets (sim::cluster_env).
template <typename E>
concept target_environment = requires(E& e, std::uint64_t seed, std::span<const scaling_target> targets) {
    { e.function_count() } -> std::convertible_to<std::size_t>;
    { e.observation_size() } -> std::convertible_to<std::size_t>;
    { e.reset(seed) } -> std::convertible_to<std::span<const float>>;
    e.step_to(targets);
    { e.states() } -> std::convertible_to<std::span<const scaling_state>>;
    { e.metrics() } -> std::convertible_to<std::span<const function_metrics>>;
};

/// Trains any `learner` on `envs` for `options.steps` steps: each step the
/// learner picks exploring action values, the action map turns them into
/// each function's target (the learner's and the map's value types must
/// agree, checked at compile time), which is stabilised, clamped to the
/// function's [min, max] and applied with step_to (absolute targets: no
/// action kind to get wrong); the transition is stored and the learner
/// updates on its own schedule. Episodes restart on truncation or
/// termination with the next seed. `on_report(const train_report&)` is
/// called every `report_every` steps and once at the end; the final report
/// is returned. Transitions whose observation the encoder refused are not
/// stored.
///
/// With several environments (the same functions under different loads),
/// episodes take them in turn.
template <target_environment Env, learner Learner, action_map Actions, typename OnReport>
    requires std::same_as<typename Learner::value_type, typename Actions::value_type>
train_report train(std::span<Env> envs, Learner& agent, const Actions& actions, const train_options& options, OnReport&& on_report) {
    const check_fields check("train");
    check.non_empty("envs", envs.size());
    std::size_t current = 0;
    const std::size_t n = envs[0].function_count();
    const std::size_t observation_size = envs[0].observation_size();
    for (std::size_t e = 1; e < envs.size(); ++e) {
        const std::size_t functions = envs[e].function_count();
        const std::size_t inputs = envs[e].observation_size();
        check_fields("train.envs[" + std::to_string(e) + "]")
            .require(functions == n, "function_count", "equal envs[0]'s (" + format_number(n) + ")", functions)
            .require(inputs == observation_size, "observation_size", "equal envs[0]'s (" + format_number(observation_size) + ")",
                     inputs);
    }
    check.require(actions.width() == agent.action_width(), "actions",
                  "read the learner's " + format_number(agent.action_width()) + " action values", actions.width())
        .require(actions.functions() == n, "actions", "cover the environment's " + format_number(n) + " functions",
                 actions.functions());
    std::vector<float> observation(envs[0].observation_size());
    std::vector<typename Learner::value_type> values(agent.action_width());
    std::vector<scaling_target> targets(n);
    std::vector<scaling_state> states;
    downscale_stabilizer stabilizer(n, options.downscale_window);

    std::uint64_t episode = 0;
    const auto first = envs[0].reset(options.seed);
    observation.assign(first.begin(), first.end());
    bool valid = true;

    train_report report;
    double reward_sum = 0;
    double loss_sum = 0;
    std::uint64_t window_steps = 0;
    std::uint64_t window_updates = 0;
    std::uint64_t slo_checks = 0;
    std::uint64_t slo_violations = 0;
    auto window_start = std::chrono::steady_clock::now();

    const auto emit = [&](std::uint64_t step) {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - window_start).count();
        report = {.step = step,
                  .episode = episode + 1,
                  .epsilon = agent.stats().exploration,
                  .mean_reward = window_steps > 0 ? reward_sum / static_cast<double>(window_steps) : 0.0,
                  .mean_loss = window_updates > 0 ? loss_sum / static_cast<double>(window_updates) : 0.0,
                  .slo_violation_rate = slo_checks > 0 ? static_cast<double>(slo_violations) / static_cast<double>(slo_checks) : 0.0,
                  .steps_per_s = seconds > 0 ? static_cast<double>(window_steps) / seconds : 0.0,
                  .updates = agent.stats().updates};
        on_report(report);
        reward_sum = loss_sum = 0;
        window_steps = window_updates = slo_checks = slo_violations = 0;
        window_start = now;
    };

    for (std::uint64_t step = 1; step <= options.steps; ++step) {
        Env& env = envs[current];
        const auto st = env.states();
        states.assign(st.begin(), st.end());
        agent.explore(std::span<const float>(observation), std::span<typename Learner::value_type>(values));
        actions.targets(values, env.metrics(), states, targets);
        for (std::size_t f = 0; f < n; ++f) {
            targets[f].replicas = replica_bounds::of(states[f]).clamp(stabilizer.apply(f, states[f].replicas, targets[f].replicas));
        }
        const auto r = env.step_to(targets);
        for (std::size_t f = 0; f < n; ++f) {
            if (r.info[f].arrivals > 0) {
                ++slo_checks;
                if (violates_slo(r.info[f], env.states()[f])) ++slo_violations;
            }
        }
        if (valid && r.observation_valid) {
            if (agent.observe(std::span<const float>(observation), std::span<const typename Learner::value_type>(values), r.reward,
                              r.observation, r.terminated, r.truncated)) {
                loss_sum += agent.stats().last_loss;
                ++window_updates;
            }
        }
        reward_sum += r.reward;
        ++window_steps;
        if (r.terminated || r.truncated) {
            ++episode;
            current = (current + 1) % envs.size();
            const auto o = envs[current].reset(options.seed + episode);
            stabilizer.reset();
            observation.assign(o.begin(), o.end());
            valid = true;
        } else {
            observation.assign(r.observation.begin(), r.observation.end());
            valid = r.observation_valid;
        }
        if ((options.report_every > 0 && step % options.report_every == 0) || step == options.steps) emit(step);
    }
    return report;
}

/// rl::train on one environment.
template <target_environment Env, learner Learner, action_map Actions, typename OnReport>
    requires std::same_as<typename Learner::value_type, typename Actions::value_type>
train_report train(Env& env, Learner& agent, const Actions& actions, const train_options& options, OnReport&& on_report) {
    return train(std::span<Env>(&env, 1), agent, actions, options, std::forward<OnReport>(on_report));
}

}  // namespace rlscale::rl
