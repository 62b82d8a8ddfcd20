#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/rl/dqn.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// Maps a discrete agent's output (one index per head of a q_layout) to
/// per-function actions: replica targets for a policy, and the values a
/// sim::cluster_env step takes.
template <typename A>
concept action_map = requires(const A& a, std::span<const std::int32_t> heads, std::span<const scaling_state> states,
                              std::span<int> replicas, std::span<double> env_values, std::span<std::int32_t> heads_out) {
    { a.layout() } noexcept -> std::same_as<q_layout>;
    { a.functions() } noexcept -> std::convertible_to<std::size_t>;
    { a.replicas(heads, states, replicas) } noexcept;
    { a.env_values(heads, env_values) } noexcept;
    { a.heads_for(states, replicas, heads_out) } noexcept;
};

namespace detail {
inline int add_saturating(int a, int b) noexcept {
    const long long r = static_cast<long long>(a) + b;
    if (r > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
    if (r < std::numeric_limits<int>::min()) return std::numeric_limits<int>::min();
    return static_cast<int>(r);
}
}  // namespace detail

namespace detail {
/// Validated replica deltas: non-empty, distinct, within ±1000.
inline std::vector<int> checked_deltas(const char* field, std::vector<int> deltas) {
    if (deltas.empty() || deltas.size() > 16) throw config_error(field, "must hold 1 to 16 values, got " + std::to_string(deltas.size()));
    for (std::size_t i = 0; i < deltas.size(); ++i) {
        if (deltas[i] < -1000 || deltas[i] > 1000) {
            throw config_error(std::string(field) + "[" + std::to_string(i) + "]", "must be in [-1000, 1000], got " + std::to_string(deltas[i]));
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (deltas[j] == deltas[i]) {
                throw config_error(std::string(field) + "[" + std::to_string(i) + "]", "repeats " + std::to_string(deltas[i]));
            }
        }
    }
    return deltas;
}
/// The index of the delta that brings `from` closest to `to` (ties to the smaller move).
inline std::int32_t nearest_delta(const std::vector<int>& deltas, int from, int to) noexcept {
    std::int32_t best = 0;
    long long best_gap = std::numeric_limits<long long>::max();
    for (std::size_t i = 0; i < deltas.size(); ++i) {
        const long long gap = std::llabs(static_cast<long long>(from) + deltas[i] - to);
        if (gap < best_gap || (gap == best_gap && std::abs(deltas[i]) < std::abs(deltas[static_cast<std::size_t>(best)]))) {
            best = static_cast<std::int32_t>(i);
            best_gap = gap;
        }
    }
    return best;
}
}  // namespace detail

/// SCARLET §3.1: one joint action over N functions, each −1, 0 or +1 replica
/// (or another delta set), as a single head of k^N Q-values for k deltas.
/// Index i encodes function f's choice as its base-k digit f (SCARLET:
/// 0 = −1, 1 = 0, 2 = +1). The output grows as k^N, the limit the paper
/// names (§6.2); k^N ≤ 4096 here.
class joint_delta_actions {
public:
    explicit joint_delta_actions(std::size_t functions, std::vector<int> deltas = {-1, 0, 1})
        : functions_(functions), deltas_(detail::checked_deltas("joint_delta_actions.deltas", std::move(deltas))) {
        if (functions < 1) throw config_error("joint_delta_actions.functions", "must be >= 1, got 0");
        count_ = 1;
        for (std::size_t f = 0; f < functions; ++f) {
            count_ *= deltas_.size();
            if (count_ > 4096) {
                throw config_error("joint_delta_actions.functions", std::to_string(functions) + " functions with " +
                                                                        std::to_string(deltas_.size()) +
                                                                        " deltas each exceed 4096 joint actions");
            }
        }
    }
    [[nodiscard]] q_layout layout() const noexcept { return {.heads = 1, .actions_per_head = count_}; }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] const std::vector<int>& deltas() const noexcept { return deltas_; }

    /// Replica change of function `f` under joint index `index`.
    [[nodiscard]] int delta(std::int32_t index, std::size_t f) const noexcept {
        auto i = static_cast<std::size_t>(index);
        for (std::size_t k = 0; k < f; ++k) i /= deltas_.size();
        return deltas_[i % deltas_.size()];
    }
    void replicas(std::span<const std::int32_t> heads, std::span<const scaling_state> states, std::span<int> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = detail::add_saturating(states[f].replicas, delta(heads[0], f));
    }
    void env_values(std::span<const std::int32_t> heads, std::span<double> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = delta(heads[0], f);
    }
    /// The joint index that moves each function closest to `target`.
    void heads_for(std::span<const scaling_state> states, std::span<const int> target, std::span<std::int32_t> out) const noexcept {
        std::int32_t index = 0;
        std::int32_t place = 1;
        for (std::size_t f = 0; f < functions_; ++f) {
            index += place * detail::nearest_delta(deltas_, states[f].replicas, target[f]);
            place *= static_cast<std::int32_t>(deltas_.size());
        }
        out[0] = index;
    }

private:
    std::size_t functions_;
    std::vector<int> deltas_;
    std::size_t count_ = 1;
};

/// One head per function choosing among the same deltas (by default −1, 0,
/// +1): k·N outputs instead of k^N, so N can grow; each head is trained on
/// the shared reward with its own target.
class factored_delta_actions {
public:
    explicit factored_delta_actions(std::size_t functions, std::vector<int> deltas = {-1, 0, 1})
        : functions_(functions), deltas_(detail::checked_deltas("factored_delta_actions.deltas", std::move(deltas))) {
        if (functions < 1) throw config_error("factored_delta_actions.functions", "must be >= 1, got 0");
    }
    [[nodiscard]] q_layout layout() const noexcept { return {.heads = functions_, .actions_per_head = deltas_.size()}; }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] const std::vector<int>& deltas() const noexcept { return deltas_; }
    void replicas(std::span<const std::int32_t> heads, std::span<const scaling_state> states, std::span<int> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) {
            out[f] = detail::add_saturating(states[f].replicas, deltas_[static_cast<std::size_t>(heads[f])]);
        }
    }
    void env_values(std::span<const std::int32_t> heads, std::span<double> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = deltas_[static_cast<std::size_t>(heads[f])];
    }
    void heads_for(std::span<const scaling_state> states, std::span<const int> target, std::span<std::int32_t> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = detail::nearest_delta(deltas_, states[f].replicas, target[f]);
    }

private:
    std::size_t functions_;
    std::vector<int> deltas_;
};

/// Polimi: the agent picks the replica count itself, `min + index` for
/// index in [0, max − min], one head per function.
class replica_count_actions {
public:
    replica_count_actions(std::size_t functions, int min_replicas, int max_replicas)
        : functions_(functions), min_(min_replicas), max_(max_replicas) {
        if (functions < 1) throw config_error("replica_count_actions.functions", "must be >= 1, got 0");
        if (min_replicas < 0) throw config_error("replica_count_actions.min_replicas", "must be >= 0, got " + std::to_string(min_replicas));
        if (max_replicas < min_replicas || max_replicas - min_replicas > 4096) {
            throw config_error("replica_count_actions.max_replicas",
                               "must be in [min_replicas, min_replicas + 4096], got " + std::to_string(max_replicas));
        }
    }
    [[nodiscard]] q_layout layout() const noexcept {
        return {.heads = functions_, .actions_per_head = static_cast<std::size_t>(max_ - min_ + 1)};
    }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    void replicas(std::span<const std::int32_t> heads, std::span<const scaling_state> /*states*/, std::span<int> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = min_ + heads[f];
    }
    void env_values(std::span<const std::int32_t> heads, std::span<double> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = min_ + heads[f];
    }
    void heads_for(std::span<const scaling_state> /*states*/, std::span<const int> target, std::span<std::int32_t> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = std::clamp(target[f], min_, max_) - min_;
    }

private:
    std::size_t functions_;
    int min_;
    int max_;
};

static_assert(action_map<joint_delta_actions>);
static_assert(action_map<factored_delta_actions>);
static_assert(action_map<replica_count_actions>);

}  // namespace rlscale::rl
