#pragma once

/// SCARLET's joint reward (Song et al., SCARLET, §3.1 Table 2 and §3.2):
/// r = -1 if any function violates its SLA, else 1 - (mean_f tail_f / SLA_f)^0.4.
/// SCARLET's experiments bound the p90 latency (§5.2).

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/core/validate.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

namespace rlscale {

/// SCARLET's reward constants.
struct scarlet_reward_config {
    double exponent = 0.4;          ///< power applied to the mean tail/SLA ratio (Table 2)
    double violation_reward = -1;   ///< reward when any function violates its SLA (Table 2)
    bool drops_violate = false;     ///< count a dropped request as a violation (not in SCARLET: off by default)

    /// Table 2's constants.
    [[nodiscard]] static scarlet_reward_config scarlet() { return {}; }

    /// Throws config_error unless exponent > 0 and violation_reward ≤ 0, both finite.
    void validate() const {
        check_fields("scarlet_reward_config").greater("exponent", exponent, 0).at_most("violation_reward", violation_reward, 0);
    }
};

/// SCARLET's reward over all the functions of one interval (§3.1 Table 2,
/// §3.2): -1 if any function violates its SLA, else
/// 1 - (mean_f tail_f / SLA_f)^0.4.
///
/// tail_f is f's latency at its SLO percentile (`latency_at`), SLA_f its SLO
/// latency. A function violates when tail_f > SLA_f (tail_f = SLA_f meets
/// it); when requests were pending but none completed (no latency: the work
/// is stuck); when its latency is NaN, infinite or negative although
/// requests completed; when its SLO cannot be compared with (bound not
/// finite and > 0, or percentile outside [0, 1]) and it has a latency; and,
/// with `drops_violate`, when it dropped a request. The mean runs over the
/// functions with a measured latency: an idle function (nothing completed,
/// nothing pending) has no tail latency to average and does not move the
/// reward. Without a violation the reward is in [0, 1]; 1 when no function
/// had a request, 0 for an empty span. It never throws on metric or SLO
/// values (sim::cluster_env::reward_of is noexcept), only on spans of
/// different sizes.
class scarlet_reward {
public:
    /// Table 2's constants (implicit, so `cluster_env`'s `Reward reward = {}` works).
    scarlet_reward() : scarlet_reward(scarlet_reward_config{}) {}
    /// Validates `config` (throws config_error).
    explicit scarlet_reward(scarlet_reward_config config) : config_(config) { config_.validate(); }

    [[nodiscard]] const scarlet_reward_config& config() const noexcept { return config_; }

    /// The reward of one interval; throws rlscale::error when the spans differ in size.
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics,
                                    std::span<const scaling_state> states) const {
        detail::require_same_size("scarlet_reward", metrics.size(), states.size());
        if (metrics.empty()) return 0;
        double ratio_sum = 0;
        std::size_t measured = 0;
        bool violated = false;
        for (std::size_t f = 0; f < metrics.size(); ++f) {
            const function_slo& sla = states[f].slo;
            const double tail = latency_at(metrics[f], sla.percentile);
            switch (detail::read_latency(metrics[f], tail)) {
                case detail::latency_reading::measured:
                    if (!detail::is_usable_slo(sla) || tail > sla.latency_s) {
                        violated = true;
                    } else {
                        ratio_sum += tail / sla.latency_s;
                        ++measured;
                    }
                    break;
                case detail::latency_reading::idle: break;  // no request: no ratio
                case detail::latency_reading::stalled:
                case detail::latency_reading::invalid: violated = true; break;
            }
            if (config_.drops_violate && metrics[f].drops > 0) violated = true;
        }
        if (violated) return config_.violation_reward;
        if (measured == 0) return 1.0;
        return 1.0 - std::pow(ratio_sum / static_cast<double>(measured), config_.exponent);
    }

private:
    scarlet_reward_config config_;  ///< constants
};

static_assert(reward<scarlet_reward>);

}  // namespace rlscale
