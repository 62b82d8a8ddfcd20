#pragma once

/// SIMPPO's action space (Qiu et al., SIMPPO, §3.1 "Action Space", Table 1
/// second row, the same for single- and multi-agent): per function, one of
/// seven discrete actions that scale the number of containers NC
/// (horizontal) or one container's CPU or memory limit RLT_cpu, RLT_mem
/// (vertical) by one step, or hold.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/saturating.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/reward/simppo_reward.hpp>
#include <rlscale/rl/q_layout.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>

namespace rlscale::rl {

/// The seven actions of one SIMPPO agent, by head index. The paper names the
/// three dimensions and the two directions (Table 1: "Vertical Scaling:
/// Resource Limits (RLT_cpu, RLT_mem). Horizontal Scaling: Number of
/// Containers (NC)"; §3.1: "scaling either up or down", "either out or in")
/// but not their order, nor a hold action; the order and the hold are
/// rlscale's (a hold is what an agent takes when the current allocation is
/// right: without it every step would change something).
enum class simppo_action : std::int32_t {
    hold = 0,         ///< change nothing
    scale_out = 1,    ///< NC + replica_step
    scale_in = 2,     ///< NC − replica_step
    cpu_up = 3,       ///< RLT_cpu + cpu_step_cores
    cpu_down = 4,     ///< RLT_cpu − cpu_step_cores
    memory_up = 5,    ///< RLT_mem + memory_step_mb
    memory_down = 6,  ///< RLT_mem − memory_step_mb
};

/// "hold", "scale_out", "scale_in", "cpu_up", "cpu_down", "memory_up",
/// "memory_down"; "unknown" for any other value.
[[nodiscard]] constexpr std::string_view to_string(simppo_action a) noexcept {
    switch (a) {
        case simppo_action::hold: return "hold";
        case simppo_action::scale_out: return "scale_out";
        case simppo_action::scale_in: return "scale_in";
        case simppo_action::cpu_up: return "cpu_up";
        case simppo_action::cpu_down: return "cpu_down";
        case simppo_action::memory_up: return "memory_up";
        case simppo_action::memory_down: return "memory_down";
    }
    return "unknown";
}

/// The resource an action changes.
enum class simppo_dimension : std::uint8_t {
    none,      ///< hold (or an index outside 0..6)
    replicas,  ///< NC, horizontal
    cpu,       ///< RLT_cpu, vertical
    memory,    ///< RLT_mem, vertical
};

/// What one action changes, before any clamping: a replica count and the two
/// per-replica limits (each 0 when the action leaves it alone).
struct simppo_action_delta {
    int replicas = 0;      ///< containers added (> 0) or removed (< 0)
    double cpu_cores = 0;  ///< change of one container's CPU limit, cores
    double memory_mb = 0;  ///< change of one container's memory limit, MB

    friend bool operator==(const simppo_action_delta&, const simppo_action_delta&) = default;
};

/// The step sizes of SIMPPO's actions and the bounds the vertical actions
/// keep the limits in.
///
/// The paper gives no step sizes. The defaults: one container; 128
/// cpu.shares, its smallest unit of CPU (§3.1: "cpu.shares for a container
/// cannot be smaller than 128"), i.e. 0.125 cores at 1024 shares per core;
/// 128 MB, OpenWhisk's smallest memory limit and its usual granularity. §2's
/// example scales cpu.shares by 512 and adds a 256-MB container, so larger
/// steps are within the paper's setting too. `limits` are the local state's
/// bounds (simppo_state_config: 0.125..2 cores, 128..2048 MB), so a limit
/// never leaves the range the encoder normalises over (the SIMPPO
/// coordinator's configuration, multiagent::simppo_config, refuses CPU or
/// memory bounds here that differ from its state's); its container bounds
/// are not used here (the replica bounds are each scaling_state's [min, max]).
struct simppo_action_config {
    int replica_step = 1;                   ///< containers per horizontal step, 1..1000
    double cpu_step_cores = 128.0 / 1024;   ///< cores per CPU step (128 cpu.shares)
    double memory_step_mb = 128;            ///< MB per memory step
    simppo_state_config limits{};           ///< CPU and memory bounds of the vertical actions (§3.1)

    /// The defaults above.
    [[nodiscard]] static simppo_action_config simppo() { return {}; }

    /// Throws config_error naming the member ("simppo_action_config.
    /// cpu_step_cores", "simppo_action_config.limits.memory_max_mb") and its
    /// value unless: replica_step is in [1, 1000]; every bound of `limits`
    /// is finite and lower < upper, the two lower limit bounds
    /// (cpu_min_cores, memory_min_mb) > 0 and containers_min ≥ 0 (a CPU or
    /// memory limit of 0 is what simppo_encoder and simppo_global_state read
    /// as unknown: an action that set it would leave the agent unable to
    /// observe its function); each limit step is finite, > 0 and at most the
    /// width of its range (a larger one could only jump between the two
    /// bounds).
    void validate() const {
        constexpr std::string_view positive = "be finite and > 0 (a limit of 0 reads as unknown)";
        const check_fields bounds("simppo_action_config.limits");
        bounds.require(std::isfinite(limits.cpu_min_cores) && limits.cpu_min_cores > 0, "cpu_min_cores", positive, limits.cpu_min_cores)
            .greater_field("cpu_max_cores", limits.cpu_max_cores, "cpu_min_cores", limits.cpu_min_cores)
            .require(std::isfinite(limits.memory_min_mb) && limits.memory_min_mb > 0, "memory_min_mb", positive, limits.memory_min_mb)
            .greater_field("memory_max_mb", limits.memory_max_mb, "memory_min_mb", limits.memory_min_mb)
            .at_least("containers_min", limits.containers_min, 0.0)
            .greater_field("containers_max", limits.containers_max, "containers_min", limits.containers_min);
        const double cpu_range = limits.cpu_max_cores - limits.cpu_min_cores;
        const double memory_range = limits.memory_max_mb - limits.memory_min_mb;
        check_fields("simppo_action_config")
            .in("replica_step", replica_step, 1, 1000)
            .require(std::isfinite(cpu_step_cores) && cpu_step_cores > 0 && cpu_step_cores <= cpu_range, "cpu_step_cores",
                     "be finite, > 0 and <= limits.cpu_max_cores - limits.cpu_min_cores (" + format_number(cpu_range) + ")",
                     cpu_step_cores)
            .require(std::isfinite(memory_step_mb) && memory_step_mb > 0 && memory_step_mb <= memory_range, "memory_step_mb",
                     "be finite, > 0 and <= limits.memory_max_mb - limits.memory_min_mb (" + format_number(memory_range) + ")",
                     memory_step_mb);
    }
};

/// SIMPPO's action space as a discrete action map: one head per function
/// (one agent per function, §6.1), 7 actions per head (simppo_action).
///
/// `targets` writes absolute targets, as the action_map concept asks:
///
/// | action | replicas | cpu_limit | memory_limit_mb |
/// |---|---|---|---|
/// | hold | current | NaN | NaN |
/// | scale_out / scale_in | current ± replica_step, within [min_replicas, max_replicas] | NaN | NaN |
/// | cpu_up / cpu_down | current | current ± cpu_step_cores, within [cpu_min_cores, cpu_max_cores] | NaN |
/// | memory_up / memory_down | current | NaN | current ± memory_step_mb, within [memory_min_mb, memory_max_mb] |
///
/// NaN is scaling_target's "leave as is". The result is clamped to the
/// bounds, so a step that would cross one stops at it (0.0625 cores above
/// the minimum, cpu_down gives the minimum). Because the step is legal, the
/// clamp never reverses it: from a current value outside the bounds only
/// the step toward them is legal, and it lands inside (cpu_down from 3
/// cores gives 2, cpu_up from 3 cores is illegal; scale_out from 0 replicas
/// with min_replicas 2 gives 2).
///
/// An illegal action (`illegal`, SIMPPO §3.1 penalty case a) is "not
/// executable" and is a self-loop: the target is the current state
/// (replicas = current, both limits NaN), the same as hold. The reward
/// tells them apart through `penalty`. An index outside 0..6 (a caller's
/// bug) is treated like an illegal action: it changes nothing and is
/// penalised; `targets` never reads out of bounds for it.
///
/// `targets` and the helpers are noexcept and allocate nothing; only the
/// constructor validates (and throws config_error).
class simppo_actions {
public:
    using value_type = std::int32_t;  ///< one action index per head
    static constexpr std::size_t action_count = 7;  ///< actions per head (Table 1's six steps and hold)

    /// `functions` agents (≥ 1) with `config`'s steps and bounds; throws
    /// config_error naming the field ("simppo_actions.functions",
    /// "simppo_action_config.cpu_step_cores", …).
    explicit simppo_actions(std::size_t functions, simppo_action_config config = {}) : functions_(functions), config_(config) {
        check_fields("simppo_actions").at_least("functions", functions, 1);
        config_.validate();
    }

    [[nodiscard]] q_layout layout() const noexcept { return {.heads = functions_, .actions_per_head = action_count}; }
    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return layout().heads; }
    [[nodiscard]] const simppo_action_config& config() const noexcept { return config_; }

    /// The resource action `action` changes (none for hold or an index outside 0..6).
    [[nodiscard]] static constexpr simppo_dimension dimension(std::int32_t action) noexcept {
        switch (action) {
            case 1:
            case 2: return simppo_dimension::replicas;
            case 3:
            case 4: return simppo_dimension::cpu;
            case 5:
            case 6: return simppo_dimension::memory;
            default: return simppo_dimension::none;
        }
    }

    /// +1 for scale_out, cpu_up and memory_up; −1 for scale_in, cpu_down and
    /// memory_down; 0 for hold or an index outside 0..6.
    [[nodiscard]] static constexpr int direction(std::int32_t action) noexcept {
        if (dimension(action) == simppo_dimension::none) return 0;
        return action % 2 == 1 ? 1 : -1;
    }

    /// The unit change of `action`: ±1 in the one field it changes (replicas,
    /// cpu_cores or memory_mb), 0 elsewhere; all 0 for hold.
    [[nodiscard]] static constexpr simppo_action_delta unit_delta(std::int32_t action) noexcept {
        const int d = direction(action);
        switch (dimension(action)) {
            case simppo_dimension::replicas: return {.replicas = d};
            case simppo_dimension::cpu: return {.cpu_cores = static_cast<double>(d)};
            case simppo_dimension::memory: return {.memory_mb = static_cast<double>(d)};
            case simppo_dimension::none: break;
        }
        return {};
    }

    /// The nominal change of `action` with this map's steps, before any
    /// clamping at a bound (scale_in: replicas = −replica_step; cpu_up:
    /// cpu_cores = +cpu_step_cores; hold: all 0). The change a target
    /// actually makes is `target(s, action)` minus the current state.
    [[nodiscard]] simppo_action_delta delta(std::int32_t action) const noexcept {
        const simppo_action_delta u = unit_delta(action);
        return {.replicas = u.replicas * config_.replica_step,
                .cpu_cores = u.cpu_cores * config_.cpu_step_cores,
                .memory_mb = u.memory_mb * config_.memory_step_mb};
    }

    /// SIMPPO §3.1 penalty case a: whether `action` cannot be executed from
    /// `s`. Hold never is. A horizontal step is illegal by
    /// simppo_reward::illegal (scale out at or above max_replicas, scale in
    /// at or below min_replicas, which covers scaling in at zero containers);
    /// a vertical step by simppo_reward::illegal_vertical with this map's
    /// limits (any limit change while the function has no container, or a
    /// limit already at its bound pushed past it), and also when the current
    /// limit is not finite and > 0 (no step can be taken from an unknown
    /// value: a caller that did not measure a limit passes 0, and a step from
    /// 0 would order a size unrelated to the pod's). An index outside 0..6 is
    /// illegal.
    [[nodiscard]] bool illegal(const scaling_state& s, std::int32_t action) const noexcept {
        const simppo_action_delta d = delta(action);
        switch (dimension(action)) {
            case simppo_dimension::none: return action != static_cast<std::int32_t>(simppo_action::hold);
            case simppo_dimension::replicas: return simppo_reward::illegal(s, d.replicas);
            case simppo_dimension::cpu:
                return !known(s.cpu_limit) || simppo_reward::illegal_vertical(s, d.cpu_cores, 0.0, config_.limits);
            case simppo_dimension::memory:
                return !known(s.memory_limit_mb) || simppo_reward::illegal_vertical(s, 0.0, d.memory_mb, config_.limits);
        }
        return true;
    }

    /// SIMPPO §3.1 penalty case b: whether `action` right after
    /// `previous_action` is an oscillation, "scale down and up in two
    /// consecutive time steps". Precisely: both change the same resource
    /// (replicas, CPU limit or memory limit) in opposite directions
    /// (scale_out then scale_in or the reverse, cpu_up then cpu_down or the
    /// reverse, memory_up then memory_down or the reverse). Repeating a step,
    /// a step of another resource (cpu_up then memory_down) and anything
    /// next to a hold are not oscillations; a hold in between breaks the
    /// pair. Actions are compared as chosen, as the paper detects it "by
    /// comparing the actions of the current and last time step", so an
    /// illegal previous action counts too. Pass hold as `previous_action`
    /// at the first step of an episode (an index outside 0..6 counts as hold).
    [[nodiscard]] static constexpr bool oscillates(std::int32_t previous_action, std::int32_t action) noexcept {
        const simppo_dimension d = dimension(action);
        return d != simppo_dimension::none && d == dimension(previous_action) &&
               direction(previous_action) * direction(action) < 0;
    }

    /// SIMPPO §3.1's penalty for choosing `action` in state `before` (the
    /// state it was chosen in, before it was applied) right after
    /// `previous_action`: `reward.penalty(...)`, i.e. reward.config().penalty
    /// (−1 by default) when the action is `illegal(before, action)` or
    /// `oscillates(previous_action, action)`, else 0; both at once count
    /// once. Add it to the reward of the interval that followed the action
    /// (team_average takes one per agent).
    [[nodiscard]] double penalty(const scaling_state& before, std::int32_t previous_action, std::int32_t action,
                                 const simppo_reward& reward) const noexcept {
        // simppo_reward::penalty compares the signs of two steps of one
        // dimension: the previous step counts only when it was of the same one.
        const bool same = dimension(action) != simppo_dimension::none && dimension(action) == dimension(previous_action);
        const double previous = same ? static_cast<double>(direction(previous_action)) : 0.0;
        return reward.penalty(previous, static_cast<double>(direction(action)), illegal(before, action));
    }

    /// The absolute target of `action` from `s` (see the class comment): the
    /// current state for hold and for an illegal action.
    [[nodiscard]] scaling_target target(const scaling_state& s, std::int32_t action) const noexcept {
        scaling_target t{.replicas = s.replicas};
        if (illegal(s, action)) return t;
        const simppo_action_delta d = delta(action);
        switch (dimension(action)) {
            case simppo_dimension::none: break;
            case simppo_dimension::replicas:
                // Legal, so below max_replicas for a scale-out and above
                // min_replicas for a scale-in: the clamp never reverses the step.
                t.replicas = replica_bounds::of(s).clamp(saturating_add(s.replicas, d.replicas));
                break;
            case simppo_dimension::cpu:
                // Legal, so below the upper bound for a step up and above the
                // lower one for a step down (lower < upper: validated).
                t.cpu_limit = std::clamp(s.cpu_limit + d.cpu_cores, config_.limits.cpu_min_cores, config_.limits.cpu_max_cores);
                break;
            case simppo_dimension::memory:
                t.memory_limit_mb =
                    std::clamp(s.memory_limit_mb + d.memory_mb, config_.limits.memory_min_mb, config_.limits.memory_max_mb);
                break;
        }
        return t;
    }

    /// One target per function: `target(states[f], values[f])`. `values`,
    /// `states` and `out` hold at least functions() entries; `metrics` is
    /// not read.
    void targets(std::span<const std::int32_t> values, std::span<const function_metrics> /*metrics*/,
                 std::span<const scaling_state> states, std::span<scaling_target> out) const noexcept {
        static_assert(sizeof(scaling_target) == sizeof(int) + 4 + 2 * sizeof(double),
                      "scaling_target has a new field: copy it below too");
        for (std::size_t f = 0; f < functions_; ++f) {
            // Field by field: a whole-struct copy compiles to a 16-byte load
            // spanning two smaller stores of the temporary, which the core
            // cannot forward (a stall of tens of cycles per decision).
            const scaling_target t = target(states[f], values[f]);
            out[f].replicas = t.replicas;
            out[f].cpu_limit = t.cpu_limit;
            out[f].memory_limit_mb = t.memory_limit_mb;
        }
    }

    /// The action that moves `s` toward `goal` the most, in steps: for each
    /// resource the gap |goal − current| / step (a NaN goal limit, or a
    /// current one not finite and > 0: no gap), the largest gap wins if it
    /// is at least half a step (ties in the order replicas, CPU, memory), in
    /// its direction; hold when no gap is that large or the winning move is
    /// illegal. For learning from another policy's targets.
    [[nodiscard]] std::int32_t action_toward(const scaling_state& s, const scaling_target& goal) const noexcept {
        const double gaps[3] = {
            static_cast<double>(goal.replicas) - static_cast<double>(s.replicas),
            std::isfinite(goal.cpu_limit) && known(s.cpu_limit) ? goal.cpu_limit - s.cpu_limit : 0.0,
            std::isfinite(goal.memory_limit_mb) && known(s.memory_limit_mb) ? goal.memory_limit_mb - s.memory_limit_mb : 0.0,
        };
        const double steps[3] = {static_cast<double>(config_.replica_step), config_.cpu_step_cores, config_.memory_step_mb};
        std::int32_t best = static_cast<std::int32_t>(simppo_action::hold);
        double best_steps = 0.5;
        for (std::int32_t k = 0; k < 3; ++k) {
            const double in_steps = std::abs(gaps[k]) / steps[k];
            if (in_steps >= best_steps && (best == 0 || in_steps > best_steps)) {
                best = 1 + 2 * k + (gaps[k] > 0 ? 0 : 1);
                best_steps = in_steps;
            }
        }
        return illegal(s, best) ? static_cast<std::int32_t>(simppo_action::hold) : best;
    }

    /// The head indices that move each function toward a replica count
    /// `target[f]` (scale_out, scale_in or hold), as the other discrete maps'
    /// `heads_for`.
    void heads_for(std::span<const scaling_state> states, std::span<const int> target, std::span<std::int32_t> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = action_toward(states[f], {.replicas = target[f]});
    }

    /// The head indices that move each function toward `target[f]`
    /// (`action_toward`), limits included.
    void heads_for(std::span<const scaling_state> states, std::span<const scaling_target> target,
                   std::span<std::int32_t> out) const noexcept {
        for (std::size_t f = 0; f < functions_; ++f) out[f] = action_toward(states[f], target[f]);
    }

private:
    /// Whether a state's limit is one a step can be taken from: finite and
    /// > 0 (0 is how a caller says it did not measure the limit).
    [[nodiscard]] static bool known(double limit) noexcept { return std::isfinite(limit) && limit > 0; }

    std::size_t functions_;
    simppo_action_config config_;
};

static_assert(discrete_action_map<simppo_actions>);

}  // namespace rlscale::rl
