#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/mlp.hpp>

namespace rlscale::nn {

namespace detail {
template <typename T>
void require_same_shape(const mlp<T>& target, const mlp<T>& source, const char* what) {
    if (!(target.layout() == source.layout())) {
        throw error(std::string(what) + ": the two networks have different shapes (" + std::to_string(target.parameters().size()) +
                    " and " + std::to_string(source.parameters().size()) + " parameters, or other layers)");
    }
}
}  // namespace detail

/// θ_target ← θ_source (DQN's periodic target copy).
template <typename T>
void hard_update(mlp<T>& target, const mlp<T>& source) {
    detail::require_same_shape(target, source, "hard_update");
    target.parameters() = source.parameters();
}

/// Polyak averaging: θ_target ← τ·θ_source + (1 - τ)·θ_target, τ ∈ [0, 1]
/// (SCARLET: τ = 0.005; AWARE/FIRM: τ = 3e-3). τ = 0 leaves the target as
/// it is. The arithmetic is in T: below T's epsilon (2^-23 in float) 1 − τ
/// rounds and the target is not pulled toward the source by τ (at or below
/// 2^-24, 1 − τ is 1: θ_target + τ·θ_source, no pull at all); an agent
/// whose τ is a double checks it as T itself (dqn and ddpg refuse τ below
/// epsilon).
template <typename T>
void soft_update(mlp<T>& target, const mlp<T>& source, T tau) {
    detail::require_same_shape(target, source, "soft_update");
    check_fields("").in("tau", tau, T(0), T(1));
    auto t = target.parameters();
    t = tau * source.parameters() + (T(1) - tau) * t;
}

}  // namespace rlscale::nn
