#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/concepts.hpp>
#include <rlscale/core/saturating.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/rl/q_layout.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// Discrete action maps: each reads one action index per head of its
/// layout() (the greedy or sampled choice of a Q network or a categorical
/// policy) and writes one scaling_target per function through `targets`,
/// the signature the action_map concept checks. `heads_for` goes the other
/// way (the indices that reach given replica counts), for learning from
/// another policy's decisions.

namespace detail {
/// Validated replica deltas of action map `owner` (errors name
/// "<owner>.deltas[i]"): 1 to 16 of them, distinct, within ±1000.
inline std::vector<int> checked_deltas(const char* owner, std::vector<int> deltas) {
    const check_fields check(owner);
    check.count("deltas", deltas.size(), 1, 16);
    for (std::size_t i = 0; i < deltas.size(); ++i) {
        const std::string item = "deltas[" + std::to_string(i) + "]";
        check.in(item, deltas[i], -1000, 1000);
        for (std::size_t j = 0; j < i; ++j) {
            check.require(deltas[j] != deltas[i], item, "differ from deltas[" + std::to_string(j) + "]", deltas[i]);
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
    using value_type = std::int32_t;  ///< one action index per head
    explicit joint_delta_actions(std::size_t functions, std::vector<int> deltas = {-1, 0, 1})
        : functions_(functions), deltas_(detail::checked_deltas("joint_delta_actions", std::move(deltas))) {
        const check_fields check("joint_delta_actions");
        check.in("functions", functions, std::size_t{1}, std::size_t{4096});
        count_ = 1;
        for (std::size_t f = 0; f < functions; ++f) {
            count_ *= deltas_.size();
            check.require(count_ <= 4096, "functions", "keep " + format_number(deltas_.size()) + "^functions <= 4096 joint actions",
                          functions);
        }
    }
    [[nodiscard]] q_layout layout() const noexcept { return {.heads = 1, .actions_per_head = count_}; }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return layout().heads; }
    [[nodiscard]] const std::vector<int>& deltas() const noexcept { return deltas_; }

    /// Replica change of function `f` under joint index `index`.
    [[nodiscard]] int delta(std::int32_t index, std::size_t f) const noexcept {
        auto i = static_cast<std::size_t>(index);
        for (std::size_t k = 0; k < f; ++k) i /= deltas_.size();
        return deltas_[i % deltas_.size()];
    }
    void targets(std::span<const std::int32_t> heads, std::span<const function_metrics> /*metrics*/,
                 std::span<const scaling_state> states, std::span<scaling_target> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = {.replicas = saturating_add(states[f].replicas, delta(heads[0], f))};
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
    using value_type = std::int32_t;  ///< one action index per head
    explicit factored_delta_actions(std::size_t functions, std::vector<int> deltas = {-1, 0, 1})
        : functions_(functions), deltas_(detail::checked_deltas("factored_delta_actions", std::move(deltas))) {
        check_fields("factored_delta_actions").at_least("functions", functions, 1);
    }
    [[nodiscard]] q_layout layout() const noexcept { return {.heads = functions_, .actions_per_head = deltas_.size()}; }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return layout().heads; }
    [[nodiscard]] const std::vector<int>& deltas() const noexcept { return deltas_; }
    void targets(std::span<const std::int32_t> heads, std::span<const function_metrics> /*metrics*/,
                 std::span<const scaling_state> states, std::span<scaling_target> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) {
            out[f] = {.replicas = saturating_add(states[f].replicas, deltas_[static_cast<std::size_t>(heads[f])])};
        }
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
    using value_type = std::int32_t;  ///< one action index per head
    replica_count_actions(std::size_t functions, int min_replicas, int max_replicas)
        : functions_(functions), min_(min_replicas), max_(max_replicas) {
        check_fields("replica_count_actions")
            .at_least("functions", functions, 1)
            .at_least("min_replicas", min_replicas, 0)
            .require(max_replicas >= min_replicas && max_replicas - min_replicas <= 4096, "max_replicas",
                     "be in [min_replicas, min_replicas + 4096] = [" + format_number(min_replicas) + ", " +
                         format_number(static_cast<long long>(min_replicas) + 4096) + "]",
                     max_replicas);
    }
    [[nodiscard]] q_layout layout() const noexcept {
        return {.heads = functions_, .actions_per_head = static_cast<std::size_t>(max_ - min_ + 1)};
    }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return layout().heads; }
    [[nodiscard]] int min_replicas() const noexcept { return min_; }
    [[nodiscard]] int max_replicas() const noexcept { return max_; }
    void targets(std::span<const std::int32_t> heads, std::span<const function_metrics> /*metrics*/,
                 std::span<const scaling_state> /*states*/, std::span<scaling_target> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = {.replicas = min_ + heads[f]};
    }
    void heads_for(std::span<const scaling_state> /*states*/, std::span<const int> target, std::span<std::int32_t> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = std::clamp(target[f], min_, max_) - min_;
    }

private:
    std::size_t functions_;
    int min_;
    int max_;
};

/// The replicas that would serve the demand of the last interval at CPU
/// utilisation `target`: the HPA's ratio (ready replicas × utilisation /
/// target) scaled by how far demand ran ahead of the work done, (arrivals +
/// requests still waiting) / completions, at most 4. Utilisation alone
/// saturates at 1 in overload, so the HPA's ratio can at most multiply the
/// replicas by 1/target per interval however long the queue; the demand
/// factor lets the target follow a burst. With no ready replica: at least one
/// when requests arrive or wait, else the current count.
[[nodiscard]] inline int demand_replicas(const function_metrics& m, const scaling_state& s, double target) noexcept {
    const bool busy = m.arrivals > 0 || m.queue_length > 0;
    if (m.ready_replicas == 0 || !(target > 0)) return busy ? std::max(s.replicas, 1) : s.replicas;
    double demand = 1.0;
    if (m.completions > 0) {
        demand = std::clamp(static_cast<double>(m.arrivals + m.queue_length) / static_cast<double>(m.completions), 0.0, 4.0);
    } else if (busy) {
        demand = 4.0;
    }
    const double utilisation = std::isfinite(m.cpu_utilization) ? std::clamp(m.cpu_utilization, 0.0, 1.0) : 1.0;
    const double desired = std::ceil(static_cast<double>(m.ready_replicas) * utilisation * demand / target - 1e-9);
    const int out = static_cast<int>(std::clamp(desired, 0.0, 1.0e6));
    return busy ? std::max(out, 1) : out;
}

/// One head per function choosing a CPU utilisation target from a set (by
/// default 40, 55, 70 and 85 %), each turned into replicas by
/// `demand_replicas`, and optionally a first action that holds the current
/// count. The agent learns how much headroom each state needs; the map does
/// the proportional arithmetic an HPA does, so one decision can follow a
/// burst that ±1 steps would chase for minutes. Not in the papers:
/// RL choosing an autoscaler's target, rather than replicas, is this
/// library's extension, for loads that move faster than one replica per
/// interval.
class utilization_target_actions {
public:
    using value_type = std::int32_t;  ///< one action index per head
    explicit utilization_target_actions(std::size_t functions, std::vector<double> targets = {0.4, 0.55, 0.7, 0.85},
                                        bool hold_action = true)
        : functions_(functions), targets_(std::move(targets)), hold_(hold_action) {
        const check_fields check("utilization_target_actions");
        check.at_least("functions", functions, 1).count("targets", targets_.size(), 1, 16);
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            check.in_open_closed("targets[" + std::to_string(i) + "]", targets_[i], 0, 1);
        }
    }
    [[nodiscard]] q_layout layout() const noexcept {
        return {.heads = functions_, .actions_per_head = targets_.size() + (hold_ ? 1U : 0U)};
    }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return layout().heads; }
    [[nodiscard]] const std::vector<double>& targets() const noexcept { return targets_; }
    [[nodiscard]] bool has_hold() const noexcept { return hold_; }

    /// The utilisation target of head index `index`, or 0 for the hold action.
    [[nodiscard]] double target(std::int32_t index) const noexcept {
        if (hold_ && index == 0) return 0.0;
        return targets_[static_cast<std::size_t>(index) - (hold_ ? 1U : 0U)];
    }
    void targets(std::span<const std::int32_t> heads, std::span<const function_metrics> metrics,
                 std::span<const scaling_state> states, std::span<scaling_target> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) {
            const double u = target(heads[f]);
            out[f] = {.replicas = u > 0 ? demand_replicas(metrics[f], states[f], u) : states[f].replicas};
        }
    }

private:
    std::size_t functions_;
    std::vector<double> targets_;
    bool hold_;
};

static_assert(discrete_action_map<joint_delta_actions>);
static_assert(discrete_action_map<factored_delta_actions>);
static_assert(discrete_action_map<replica_count_actions>);
static_assert(discrete_action_map<utilization_target_actions>);

}  // namespace rlscale::rl
