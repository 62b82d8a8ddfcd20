#pragma once

/// FIRM's reward as AWARE states it (Qiu et al., AWARE, §2.2):
/// r = α·SP·|R| + (1-α)·Σ_{i∈R} RU_i over the resource set R.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

namespace rlscale {

/// FIRM/AWARE's reward constants.
struct firm_reward_config {
    double alpha = 0.3;  ///< α: AWARE gives no value; 0.3 is the same authors' SIMPPO setting (SIMPPO Table 2)

    /// AWARE's reward with SIMPPO's α.
    [[nodiscard]] static firm_reward_config aware() { return {}; }

    /// Throws config_error unless α ∈ [0, 1].
    void validate() const {
        check_fields("firm_reward_config").in("alpha", alpha, 0, 1);
    }
};

/// FIRM/AWARE's reward for one workload (AWARE §2.2):
/// r = α·SP·|R| + (1-α)·Σ_{i∈R} RU_i over R = {CPU, memory} (|R| = 2, the
/// resources whose limits the agent sets and function_metrics measures).
///
/// SP = min(SP_latency, SP_throughput), the tighter of the two SLOs AWARE
/// allows: SP_latency is SLO / latency at the SLO percentile when violated,
/// else 1 (1 when idle; 0 when requests were pending but none completed, the
/// latency is invalid or the SLO unusable); SP_throughput is throughput /
/// min(target, arrival rate) when below it, else 1 (1 without a target,
/// `slo.target_rps` = 0; 0 when the target is negative or not finite, or the
/// throughput or the interval is not a valid number). RU_i is the
/// utilisation clamped to [0, 1] (0 when not finite or negative), so
/// r ∈ [0, 2]. It never throws on metric or SLO values, only when the spans
/// do not hold exactly one workload.
class firm_reward {
public:
    static constexpr double resource_count = 2;  ///< |R|: CPU and memory

    /// AWARE's reward with SIMPPO's α (implicit, so `cluster_env`'s `Reward reward = {}` works).
    firm_reward() : firm_reward(firm_reward_config{}) {}
    /// Validates `config` (throws config_error).
    explicit firm_reward(firm_reward_config config) : config_(config) { config_.validate(); }

    [[nodiscard]] const firm_reward_config& config() const noexcept { return config_; }

    /// The reward of the one workload in the spans; throws rlscale::error
    /// unless both spans hold exactly one element.
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics,
                                    std::span<const scaling_state> states) const {
        detail::require_one_agent("firm_reward", metrics.size(), states.size());
        const function_metrics& m = metrics.front();
        const scaling_state& s = states.front();
        const double sp = std::min(detail::reward_latency_preservation(m, s), detail::reward_throughput_preservation(m, s));
        const double ru = detail::reward_utilization(m.cpu_utilization) + detail::reward_utilization(m.memory_utilization);
        return config_.alpha * sp * resource_count + (1 - config_.alpha) * ru;
    }

private:
    firm_reward_config config_;  ///< constants
};

static_assert(reward<firm_reward>);

}  // namespace rlscale
