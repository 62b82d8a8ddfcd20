#pragma once

/// One concept per kind of component. Each model is followed, in its own
/// header or in the tests, by a static_assert that it satisfies its concept.

#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>

#include <Eigen/Core>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace rlscale {

/// A first-order optimiser over a flat parameter vector: `step(θ, ∇θ)`
/// updates θ in place.
template <typename O>
concept optimizer = requires(O& opt, Eigen::Map<Eigen::Matrix<typename O::scalar, Eigen::Dynamic, 1>> params,
                             const Eigen::Matrix<typename O::scalar, Eigen::Dynamic, 1>& grad) {
    typename O::scalar;
    opt.step(params, grad);
    { opt.step_count() } -> std::convertible_to<std::int64_t>;
};

/// Turns one function's metrics and state into `size()` floats for an agent.
/// `encode` never throws and never writes a non-finite value: on a
/// non-finite or negative input it returns an invalid encode_status naming
/// the field.
template <typename E>
concept encoder = requires(const E& e, const function_metrics& m, const scaling_state& s, std::span<float> out) {
    { e.size() } -> std::convertible_to<std::size_t>;
    { e.encode(m, s, out) } noexcept -> std::same_as<encode_status>;
};

/// Scores one control interval from the metrics and states of the functions
/// it covers (all of them for a joint reward such as SCARLET's; a span of one
/// for a per-agent reward).
template <typename R>
concept reward = requires(const R& r, std::span<const function_metrics> m, std::span<const scaling_state> s) {
    { r(m, s) } -> std::convertible_to<double>;
};

/// Decides a function's replicas for one tick. Deciding never throws;
/// `ready()` says whether the policy can decide at all (a learned policy
/// without weights cannot).
template <typename P>
concept policy = requires(P& p, const function_metrics& m, const scaling_state& s) {
    { p.decide(m, s) } noexcept -> std::same_as<decision>;
    { p.ready() } noexcept -> std::convertible_to<bool>;
};

/// An encoder that can be told which function it encodes: encoders that keep
/// per-function history (SIMPPO's and FIRM's AR_{t-1}) read and advance
/// function `f`'s history only, so a function that is skipped one tick never
/// shifts the history of the others.
template <typename E>
concept function_encoder = encoder<E> && requires(const E& e, std::size_t f, const function_metrics& m, const scaling_state& s,
                                                  std::span<float> out) {
    { e.encode(f, m, s, out) } noexcept -> std::same_as<encode_status>;
};

/// Encodes function `f` with `e`, telling it which function when it keeps
/// per-function history.
template <encoder E>
[[nodiscard]] encode_status encode_function(const E& e, std::size_t f, const function_metrics& m, const scaling_state& s,
                                            std::span<float> out) noexcept {
    if constexpr (function_encoder<E>) {
        return e.encode(f, m, s, out);
    } else {
        return e.encode(m, s, out);
    }
}

/// The serving half of any learning algorithm: an observation in, action
/// values out. `value_type` is std::int32_t for discrete actors (one action
/// index per head: greedy over Q heads, greedy or sampled over logits) and
/// float for continuous ones (one value per action dimension: DDPG's μ(s)).
/// `act` never throws and never allocates; it reports act_status::no_weights
/// or act_status::not_finite instead of writing unusable values, so the
/// policy's fallback decides. An actor keeps its own scratch space: one per
/// control loop (actors may share published weights).
template <typename A>
concept actor = requires(A& a, std::span<const float> observation, std::span<typename A::value_type> out) {
    typename A::value_type;
    { a.input_size() } noexcept -> std::convertible_to<std::size_t>;
    { a.output_size() } noexcept -> std::convertible_to<std::size_t>;
    { a.act(observation, out) } noexcept -> std::same_as<act_status>;
};

/// Turns an actor's action values (`width()` of them, of `value_type`) into
/// one scaling_target per function: replica counts and, where the map sets
/// them, CPU and memory limits. The map may read the metrics the actor
/// observed and the current states. Never throws, never allocates.
template <typename M>
concept action_map = requires(const M& m, std::span<const typename M::value_type> values, std::span<const function_metrics> metrics,
                              std::span<const scaling_state> states, std::span<scaling_target> out) {
    typename M::value_type;
    { m.functions() } noexcept -> std::convertible_to<std::size_t>;
    { m.width() } noexcept -> std::convertible_to<std::size_t>;
    { m.targets(values, metrics, states, out) } noexcept;
};

/// An action map over discrete action indices, laid out as heads of
/// `actions_per_head` choices each (what a Q network or a categorical
/// policy outputs).
template <typename M>
concept discrete_action_map = action_map<M> && std::same_as<typename M::value_type, std::int32_t> && requires(const M& m) {
    { m.layout().heads } -> std::convertible_to<std::size_t>;
    { m.layout().actions_per_head } -> std::convertible_to<std::size_t>;
};

/// An action map over continuous values, one per action dimension.
template <typename M>
concept continuous_action_map = action_map<M> && std::same_as<typename M::value_type, float>;

/// Decides all functions of a tick together (a learned policy over N
/// functions, or per_function over single-function policies): `m`, `s` and
/// `out` hold one entry per function, in the policy's order.
template <typename P>
concept joint_policy = requires(P& p, std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) {
    { p.functions() } noexcept -> std::convertible_to<std::size_t>;
    { p.decide(m, s, out) } noexcept;
    { p.ready() } noexcept -> std::convertible_to<bool>;
};

/// What a learner reports of its progress.
struct learner_stats {
    std::uint64_t steps = 0;    ///< environment steps observed
    std::uint64_t updates = 0;  ///< gradient steps taken
    double exploration = 0;     ///< ε (DQN), the noise scale (DDPG) or the policy entropy (PPO) now
    double last_loss = 0;       ///< loss of the last update
};

/// The learning half of an algorithm: it picks exploring action values for
/// an observation, observes each transition and updates itself on its own
/// schedule (observe returns true when it updated), and reports its
/// statistics. One training loop (rl::train) runs any learner.
template <typename L>
concept learner = requires(L& l, const L& cl, std::span<const float> observation, std::span<typename L::value_type> out,
                           std::span<const typename L::value_type> action, double reward, bool terminated, bool truncated) {
    typename L::value_type;
    { cl.action_width() } noexcept -> std::convertible_to<std::size_t>;
    l.explore(observation, out);
    { l.observe(observation, action, reward, observation, terminated, truncated) } -> std::convertible_to<bool>;
    { cl.stats() } noexcept -> std::same_as<learner_stats>;
};

/// Picks one of `action_count()` discrete actions for an observation. An
/// agent object keeps its own scratch space, so each thread acting at once
/// uses its own agent (agents may share published weights).
template <typename A>
concept agent = requires(A& a, std::span<const float> observation) {
    { a.action_count() } -> std::convertible_to<std::size_t>;
    { a.act(observation) } noexcept -> std::convertible_to<std::size_t>;
};

}  // namespace rlscale
