#pragma once

/// SIMPPO's per-agent reward (Qiu et al., SIMPPO, §3.1 "Reward Function",
/// α in Table 2): r = α·SP + (1-α)/2·(RU_cpu + RU_mem) + penalty, penalty -1
/// for illegal and oscillating actions.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/core/validate.hpp>

#include <cmath>
#include <span>
#include <string>

namespace rlscale {

/// SIMPPO's reward constants.
struct simppo_reward_config {
    double alpha = 0.3;     ///< α: weight of SP against utilisation (Table 2: 0.3)
    double penalty = -1;    ///< added to the reward for an illegal or oscillating action (§3.1: -1); must be ≤ 0

    /// SIMPPO's constants (§3.1, Table 2).
    [[nodiscard]] static simppo_reward_config simppo() { return {}; }

    /// Throws config_error unless α ∈ [0, 1] and penalty ≤ 0, both finite.
    void validate() const {
        check_fields("simppo_reward_config")
            .in("alpha", alpha, 0, 1)
            .require(std::isfinite(penalty) && penalty <= 0, "penalty", "be finite and <= 0 (a penalty lowers the reward)", penalty);
    }
};

/// SIMPPO's reward for one agent (one function), §3.1 "Reward Function":
/// r_t = α·SP(t) + (1-α)/2·(RU_cpu(t) + RU_mem(t)) + penalty, α = 0.3.
///
/// `operator()` is the part the metrics determine, α·SP + (1-α)/2·(RU_cpu +
/// RU_mem), in [0, 1]: SP is the latency SLO preservation at the SLO
/// percentile (SLO / latency when violated, else 1; 1 when idle; 0 when
/// requests were pending but none completed, the latency is invalid or the
/// SLO unusable), RU the utilisations clamped to [0, 1] (0 when not finite
/// or negative). The penalty needs the action history, which metrics do not
/// carry: `penalty(previous_delta, delta, illegal)` gives it and `total(...)`
/// adds it. It is -1 (config().penalty, never positive) and it is *added*,
/// so it lowers the reward; one public implementation added +1, rewarding
/// the illegal and oscillating actions it meant to stop.
class simppo_reward {
public:
    /// SIMPPO's constants (implicit, so `cluster_env`'s `Reward reward = {}` works).
    simppo_reward() : simppo_reward(simppo_reward_config{}) {}
    /// Validates `config` (throws config_error).
    explicit simppo_reward(simppo_reward_config config) : config_(config) { config_.validate(); }

    [[nodiscard]] const simppo_reward_config& config() const noexcept { return config_; }

    /// The metric part of the reward of the one function in the spans; throws
    /// rlscale::error unless both spans hold exactly one element.
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics,
                                    std::span<const scaling_state> states) const {
        detail::require_one_agent("simppo_reward", metrics.size(), states.size());
        const function_metrics& m = metrics.front();
        const double sp = detail::reward_latency_preservation(m, states.front());
        const double ru = detail::reward_utilization(m.cpu_utilization) + detail::reward_utilization(m.memory_utilization);
        return config_.alpha * sp + (1 - config_.alpha) / 2 * ru;
    }

    /// Whether the metric part can be scored from `m` and `s`: the first of
    /// the inputs it reads that is refused (the SLO, the latency at the
    /// SLO's percentile when requests completed, the two utilisations), or
    /// valid. The reward itself cannot refuse: it reads a refused input as
    /// the worst value. A trainer that can leave an interval out (SIMPPO's
    /// coordinator) asks this first; other fields of `m` are not read.
    [[nodiscard]] static encode_status inputs(const function_metrics& m, const scaling_state& s) noexcept {
        detail::input_check check;
        double sp = 1;
        detail::encode_latency_preservation(m, s, check, sp);
        check.nonnegative("cpu_utilization", m.cpu_utilization)
            .nonnegative("memory_utilization", m.memory_utilization)
            .require(detail::fits_float(m.cpu_utilization), "cpu_utilization", m.cpu_utilization)
            .require(detail::fits_float(m.memory_utilization), "memory_utilization", m.memory_utilization);
        return check.status();
    }

    /// §3.1's penalty: `config().penalty` (-1) when the action was illegal
    /// (case a: not executable, a self-loop transition) or reverses the
    /// previous step's direction (case b: oscillation, "scale down and up in
    /// two consecutive time steps"), else 0; both at once still count once.
    /// Deltas are signed steps of one dimension (replicas, CPU or memory
    /// limit); 0 is "no change", and a non-finite delta counts as no change.
    [[nodiscard]] double penalty(double previous_delta, double delta, bool illegal) const noexcept {
        const bool oscillating = direction(previous_delta) * direction(delta) < 0;
        return illegal || oscillating ? config_.penalty : 0.0;
    }

    /// §3.1 case a for a horizontal step: true when scaling replicas by
    /// `delta` cannot change `s` (scale out at or above max_replicas, scale in
    /// at or below min_replicas, which covers scaling in at zero containers).
    [[nodiscard]] static bool illegal(const scaling_state& s, int delta) noexcept {
        return (delta > 0 && s.replicas >= s.max_replicas) || (delta < 0 && s.replicas <= s.min_replicas);
    }

    /// §3.1 case a for a vertical step of `cpu_delta_cores` and
    /// `memory_delta_mb`: true when a limit is asked to change although the
    /// function has no container ("scaling up/down when the number of function
    /// containers is zero"), or a limit already at a bound of `limits` is
    /// pushed past it ("scaling beyond the resource limits"). A non-finite
    /// delta counts as no change.
    [[nodiscard]] static bool illegal_vertical(const scaling_state& s, double cpu_delta_cores, double memory_delta_mb,
                                               const simppo_state_config& limits = {}) noexcept {
        const int cpu = direction(cpu_delta_cores);
        const int mem = direction(memory_delta_mb);
        if ((cpu != 0 || mem != 0) && s.replicas <= 0) return true;
        return (cpu > 0 && s.cpu_limit >= limits.cpu_max_cores) || (cpu < 0 && s.cpu_limit <= limits.cpu_min_cores) ||
               (mem > 0 && s.memory_limit_mb >= limits.memory_max_mb) ||
               (mem < 0 && s.memory_limit_mb <= limits.memory_min_mb);
    }

    /// The metric part plus the penalty for the replica step `delta` taken
    /// from `before` after the step `previous_delta`.
    [[nodiscard]] double total(std::span<const function_metrics> metrics, std::span<const scaling_state> states,
                               const scaling_state& before, int previous_delta, int delta) const {
        return (*this)(metrics, states) + penalty(previous_delta, delta, illegal(before, delta));
    }

private:
    /// +1, -1 or 0 for a step up, down or none (a non-finite step is none).
    [[nodiscard]] static int direction(double delta) noexcept {
        if (!std::isfinite(delta)) return 0;
        return delta > 0 ? 1 : (delta < 0 ? -1 : 0);
    }

    simppo_reward_config config_;  ///< constants
};

static_assert(reward<simppo_reward>);

}  // namespace rlscale
