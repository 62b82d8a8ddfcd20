#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/detail/worker_pool.hpp>
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// Settings of rl::train.
struct train_options {
    std::uint64_t steps = 10'000;      ///< environment steps in total (over all environments), at least 1
    std::uint64_t seed = 1;            ///< episode e runs the simulator with seed + e (parallel: see parallel_envs)
    std::uint64_t report_every = 500;  ///< steps between progress reports (0 = only the final one)
    /// Scale-down stabilisation applied to the targets, in steps (0 = none;
    /// see downscale_stabilizer): train with the window the policy will be
    /// served with, so the agent learns that a scale-up is kept that long.
    std::size_t downscale_window = 0;
    /// Run every environment at once, each its own sequence of episodes
    /// (environment i's k-th episode with seed + k·envs + i), stepped on
    /// `threads` threads; false = one episode at a time, envs in turn.
    bool parallel_envs = false;
    /// Threads stepping environments when parallel_envs is set, the calling
    /// thread included (0 = min(envs, hardware threads); more than envs = envs).
    std::size_t threads = 0;
};

/// A progress report: figures over the steps since the previous report.
struct train_report {
    std::uint64_t step = 0;            ///< environment steps so far
    std::uint64_t episode = 0;         ///< episodes started so far (one is started only when a step remains for it)
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
/// observation, stepped with absolute targets (sim::cluster_env). With
/// parallel_envs, different environments are stepped on different threads
/// at once, so they must share no mutable state. An environment whose
/// encoders can refuse an observation reports it: step_to's result's
/// `observation_valid`, and `observation_valid()` after `reset` (optional;
/// without it the first observation counts as accepted).
template <typename E>
concept target_environment = requires(E& e, std::uint64_t seed, std::span<const scaling_target> targets) {
    { e.function_count() } -> std::convertible_to<std::size_t>;
    { e.observation_size() } -> std::convertible_to<std::size_t>;
    { e.reset(seed) } -> std::convertible_to<std::span<const float>>;
    e.step_to(targets);
    { e.states() } -> std::convertible_to<std::span<const scaling_state>>;
    { e.metrics() } -> std::convertible_to<std::span<const function_metrics>>;
};

namespace detail {

/// One environment's part of a training run: the observation s the learner
/// acts on, its action values a and the targets made of them, the
/// environment's stabiliser, and the outcome of its last step (r, s'),
/// copied out of the environment because a step_result views buffers the
/// environment's next step overwrites. Every buffer is sized here, so a
/// step allocates nothing.
template <typename Value>
struct env_slot {
    env_slot(std::size_t functions, std::size_t observation_size, std::size_t action_width, std::size_t downscale_window)
        : observation(observation_size), values(action_width), targets(functions), states(functions),
          stabilizer(functions, downscale_window), next_observation(observation_size) {}

    std::vector<float> observation;        ///< s
    bool valid = true;                     ///< every encoder accepted s
    std::vector<Value> values;             ///< a: the learner's exploring values
    std::vector<scaling_target> targets;   ///< a as stabilised targets within each function's [min, max]
    std::vector<scaling_state> states;     ///< the states a was chosen in
    downscale_stabilizer stabilizer;       ///< this environment's scale-down stabilisation
    std::vector<float> next_observation;   ///< s'
    bool next_valid = true;                ///< every encoder accepted s'
    double reward = 0;                     ///< r
    bool terminated = false;
    bool truncated = false;
    std::uint64_t slo_checks = 0;          ///< functions with arrivals in the step
    std::uint64_t slo_violations = 0;      ///< of those, the ones that violated their SLO or dropped

    /// Starts an episode of `env` with `seed`.
    template <typename Env>
    void start(Env& env, std::uint64_t seed) {
        const auto o = env.reset(seed);
        observation.assign(o.begin(), o.end());
        // An environment that can refuse its first observation says so
        // (cluster_env::observation_valid); the transition from it is not stored.
        if constexpr (requires { { env.observation_valid() } -> std::convertible_to<bool>; }) {
            valid = env.observation_valid();
        } else {
            valid = true;
        }
        stabilizer.reset();
    }

    /// Steps `env` to the targets and copies the outcome. Touches this slot
    /// and `env` only, so slots of different environments step at once.
    template <typename Env>
    void step(Env& env) {
        const auto r = env.step_to(std::span<const scaling_target>(targets));
        const auto after = env.states();
        slo_checks = slo_violations = 0;
        for (std::size_t f = 0; f < targets.size(); ++f) {
            if (r.info[f].arrivals > 0) {
                ++slo_checks;
                if (violates_slo(r.info[f], after[f])) ++slo_violations;
            }
        }
        next_observation.assign(r.observation.begin(), r.observation.end());
        next_valid = r.observation_valid;
        reward = r.reward;
        terminated = r.terminated;
        truncated = r.truncated;
    }
};

/// The calling thread's side of a training run: the learner's choices and
/// observations, and the progress reports. Both modes of rl::train drive
/// it; the learner is only ever called from here, in the order the mode
/// fixes, which is what makes a run reproducible.
template <typename Learner, typename Actions, typename OnReport>
class train_loop {
public:
    using value_type = typename Learner::value_type;
    using slot = env_slot<value_type>;

    train_loop(Learner& agent, const Actions& actions, const train_options& options, OnReport& on_report)
        : agent_(agent), actions_(actions), options_(options), on_report_(on_report) {}

    /// The learner picks exploring values for the slot's observation; the
    /// action map turns them into each function's target, which is
    /// stabilised and clamped to the function's [min, max]. An observation
    /// an encoder refused (zero-filled where it was refused) is not acted
    /// on, as serving does not act on it: every function holds its current
    /// replicas and limits, the learner is not asked (its generator and
    /// exploration noise stay where they are), and the transition is not
    /// stored (learn()).
    template <typename Env>
    void choose(slot& s, const Env& env) {
        const auto st = env.states();
        s.states.assign(st.begin(), st.end());
        if (!s.valid) {
            for (std::size_t f = 0; f < s.targets.size(); ++f) {
                const int current = s.states[f].replicas;
                // Recorded as the tick's target, as serving's hold is; a
                // hold at the current count passes the stabiliser unchanged.
                (void)s.stabilizer.apply(f, current, current);
                s.targets[f] = {.replicas = current};
            }
            return;
        }
        agent_.explore(std::span<const float>(s.observation), std::span<value_type>(s.values));
        actions_.targets(std::span<const value_type>(s.values), env.metrics(), std::span<const scaling_state>(s.states),
                         std::span<scaling_target>(s.targets));
        for (std::size_t f = 0; f < s.targets.size(); ++f) {
            const scaling_state& state = s.states[f];
            s.targets[f].replicas = replica_bounds::of(state).clamp(s.stabilizer.apply(f, state.replicas, s.targets[f].replicas));
        }
    }

    /// Offers the slot's transition to the learner (unless s or s' was
    /// refused by an encoder), counts it into the report and, unless the
    /// episode ended, moves the slot on to s'. Returns whether the episode
    /// ended: the caller starts the next.
    bool learn(slot& s) {
        if (s.valid && s.next_valid) {
            if (agent_.observe(std::span<const float>(s.observation), std::span<const value_type>(s.values), s.reward,
                               std::span<const float>(s.next_observation), s.terminated, s.truncated)) {
                loss_sum_ += agent_.stats().last_loss;
                ++window_updates_;
            }
        } else if (s.terminated || s.truncated) {
            // The episode ended on a transition that is not stored, so the
            // learner did not see it end: its exploration noise (ddpg's
            // Ornstein-Uhlenbeck process) still starts the next afresh.
            if constexpr (requires { agent_.reset_noise(); }) agent_.reset_noise();
        }
        reward_sum_ += s.reward;
        ++window_steps_;
        slo_checks_ += s.slo_checks;
        slo_violations_ += s.slo_violations;
        if (s.terminated || s.truncated) return true;
        s.observation.swap(s.next_observation);
        s.valid = s.next_valid;
        return false;
    }

    /// A learner whose exploration keeps state across steps (ddpg's
    /// Ornstein-Uhlenbeck process) gets `n` streams of it, one per
    /// environment run at once (n = 1: back to one); others are left alone.
    void use_exploration_streams(std::size_t n) {
        if constexpr (requires { agent_.set_exploration_streams(n); }) agent_.set_exploration_streams(n);
    }
    /// The stream environment i's choices and transitions go to.
    void select_exploration_stream(std::size_t i) {
        if constexpr (requires { agent_.select_exploration_stream(i); }) agent_.select_exploration_stream(i);
    }

    /// Ends a round that took the run from `before` to `after` steps:
    /// reports if a multiple of report_every was crossed or the run is over.
    void end_round(std::uint64_t before, std::uint64_t after, std::uint64_t episodes_started) {
        const std::uint64_t every = options_.report_every;
        if ((every > 0 && after / every > before / every) || after == options_.steps) emit(after, episodes_started);
    }

    [[nodiscard]] const train_report& report() const noexcept { return report_; }

private:
    void emit(std::uint64_t step, std::uint64_t episodes_started) {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - window_start_).count();
        const auto per = [](double sum, std::uint64_t count) { return count > 0 ? sum / static_cast<double>(count) : 0.0; };
        report_ = {.step = step,
                   .episode = episodes_started,
                   .epsilon = agent_.stats().exploration,
                   .mean_reward = per(reward_sum_, window_steps_),
                   .mean_loss = per(loss_sum_, window_updates_),
                   .slo_violation_rate = per(static_cast<double>(slo_violations_), slo_checks_),
                   .steps_per_s = seconds > 0 ? static_cast<double>(window_steps_) / seconds : 0.0,
                   .updates = agent_.stats().updates};
        on_report_(report_);
        reward_sum_ = loss_sum_ = 0;
        window_steps_ = window_updates_ = slo_checks_ = slo_violations_ = 0;
        window_start_ = now;
    }

    Learner& agent_;
    const Actions& actions_;
    const train_options& options_;
    OnReport& on_report_;
    train_report report_;
    double reward_sum_ = 0;
    double loss_sum_ = 0;
    std::uint64_t window_steps_ = 0;
    std::uint64_t window_updates_ = 0;
    std::uint64_t slo_checks_ = 0;
    std::uint64_t slo_violations_ = 0;
    std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
};

/// One episode at a time: episode e runs on envs[e mod N] with seed + e.
/// The next episode starts only when a step remains for it: an episode
/// that ends on the last step leaves no environment reset for nothing, and
/// the reports count only episodes that ran.
template <typename Env, typename Loop>
void train_in_turn(std::span<Env> envs, Loop& loop, typename Loop::slot& s, const train_options& options) {
    std::size_t current = 0;
    std::uint64_t episode = 0;  // the current episode, run with seed + episode
    s.start(envs[0], options.seed);
    for (std::uint64_t step = 1; step <= options.steps; ++step) {
        loop.choose(s, envs[current]);
        s.step(envs[current]);
        const bool ended = loop.learn(s);
        if (ended && step < options.steps) {
            ++episode;
            current = (current + 1) % envs.size();
            s.start(envs[current], options.seed + episode);
        }
        loop.end_round(step - 1, step, episode + 1);
    }
}

/// Every environment at once, in rounds: the learner chooses for each
/// environment in order, the environments step concurrently on the pool,
/// then the learner observes each environment's transition in order.
/// Environment i's k-th episode runs with seed + k·N + i. Only the stepping
/// leaves the calling thread, so the run does not depend on the number of
/// threads. An environment starts an episode only when a later round will
/// step it (none is reset for nothing, and the reports count only episodes
/// that ran).
template <typename Env, typename Loop>
void train_parallel(std::span<Env> envs, Loop& loop, std::span<typename Loop::slot> slots, std::size_t threads,
                    const train_options& options) {
    const std::size_t n = envs.size();
    std::vector<std::uint64_t> episode(n, 0);  // k of each environment's current episode
    // Fewer steps than environments: the first round, the only one, steps the first `steps`.
    const auto first = static_cast<std::size_t>(std::min<std::uint64_t>(n, options.steps));
    for (std::size_t i = 0; i < first; ++i) slots[i].start(envs[i], options.seed + i);
    std::uint64_t started = first;
    rlscale::detail::worker_pool pool(threads - 1);  // the calling thread steps too
    auto step = [&](std::size_t i) { slots[i].step(envs[i]); };
    // Each environment explores with its own noise process, whose episodes
    // are its own episodes; the learner is left with one again however the
    // run ends (shrinking to one stream cannot fail).
    loop.use_exploration_streams(n);
    struct one_stream_after {
        Loop& loop;
        ~one_stream_after() { loop.use_exploration_streams(1); }
    } restore{loop};
    for (std::uint64_t done = 0; done < options.steps;) {
        // The last round may be partial: it steps the first `round` environments.
        const auto round = static_cast<std::size_t>(std::min<std::uint64_t>(n, options.steps - done));
        for (std::size_t i = 0; i < round; ++i) {
            loop.select_exploration_stream(i);
            loop.choose(slots[i], envs[i]);
        }
        pool.for_each(round, step);
        for (std::size_t i = 0; i < round; ++i) {
            loop.select_exploration_stream(i);
            // Environment i steps again only if a later round reaches it
            // (the rounds after this one step the first steps - done - round).
            if (loop.learn(slots[i]) && done + round + i < options.steps) {
                ++episode[i];
                ++started;
                slots[i].start(envs[i], options.seed + episode[i] * n + i);
            }
        }
        loop.end_round(done, done + round, started);
        done += round;
    }
}

}  // namespace detail

/// Trains any `learner` on `envs` for `options.steps` steps: each step the
/// learner picks exploring action values, the action map turns them into
/// each function's target (the learner's and the map's value types must
/// agree, checked at compile time), which is stabilised, clamped to the
/// function's [min, max] and applied with step_to (absolute targets: no
/// action kind to get wrong); the transition is stored and the learner
/// updates on its own schedule. Episodes restart on truncation or
/// termination with the next seed, unless no step is left for the next one
/// (an episode that ends on the last step starts none). `options.steps`
/// must be at least 1 (config_error naming train_options.steps).
/// `on_report(const train_report&)` is called every `report_every` steps
/// and once at the end; the final report is returned. An observation an
/// encoder refused is not acted on: every function holds its current
/// replicas for that step (the learner is not asked), and transitions from
/// or to a refused observation are not stored.
///
/// With several environments (the same functions under different loads),
/// episodes take them in turn; with `parallel_envs` they all run at once,
/// stepped on `threads` threads while the learner stays on the calling
/// thread, and the run is the same for any number of threads (see
/// docs/rl.md, "Parallel environments").
template <target_environment Env, learner Learner, action_map Actions, typename OnReport>
    requires std::same_as<typename Learner::value_type, typename Actions::value_type>
train_report train(std::span<Env> envs, Learner& agent, const Actions& actions, const train_options& options, OnReport&& on_report) {
    const check_fields check("train");
    check.non_empty("envs", envs.size());
    // No step: no episode to run and no report to give.
    check_fields("train_options").at_least("steps", options.steps, std::uint64_t{1});
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

    if constexpr (requires { Learner::on_policy; }) {
        // Parallel rounds interleave environments' steps and update in the
        // middle of a round, after other environments chose their actions:
        // an on-policy learner would learn from steps its policy did not take.
        if (Learner::on_policy && options.parallel_envs) {
            throw config_error("train_options.parallel_envs", "must be false for an on-policy learner (PPO): it learns from "
                                                              "consecutive steps of one environment under its current policy");
        }
    }
    detail::train_loop<Learner, Actions, std::remove_reference_t<OnReport>> loop(agent, actions, options, on_report);
    using slot = typename decltype(loop)::slot;
    if (!options.parallel_envs) {
        slot s(n, observation_size, agent.action_width(), options.downscale_window);
        detail::train_in_turn(envs, loop, s, options);
        return loop.report();
    }
    std::vector<slot> slots;
    slots.reserve(envs.size());
    for (std::size_t i = 0; i < envs.size(); ++i) slots.emplace_back(n, observation_size, agent.action_width(), options.downscale_window);
    const std::size_t hardware = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    const std::size_t threads = std::min(envs.size(), options.threads == 0 ? hardware : options.threads);
    detail::train_parallel(envs, loop, std::span<slot>(slots), threads, options);
    return loop.report();
}

/// rl::train on one environment.
template <target_environment Env, learner Learner, action_map Actions, typename OnReport>
    requires std::same_as<typename Learner::value_type, typename Actions::value_type>
train_report train(Env& env, Learner& agent, const Actions& actions, const train_options& options, OnReport&& on_report) {
    return train(std::span<Env>(&env, 1), agent, actions, options, std::forward<OnReport>(on_report));
}

}  // namespace rlscale::rl
