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

/// Picks one of `action_count()` discrete actions for an observation. An
/// agent object keeps its own scratch space, so each thread acting at once
/// uses its own agent (agents may share published weights).
template <typename A>
concept agent = requires(A& a, std::span<const float> observation) {
    { a.action_count() } -> std::convertible_to<std::size_t>;
    { a.act(observation) } noexcept -> std::convertible_to<std::size_t>;
};

}  // namespace rlscale
