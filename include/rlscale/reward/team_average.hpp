#pragma once

/// SIMPPO's team reward (Qiu et al., SIMPPO, §6.1 "Rewards" and §6.2):
/// r_t = Σ_i r_t^i / N, the mean of the agents' own rewards.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/detail/features.hpp>

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

namespace rlscale {

/// The mean over agents of a per-agent reward `R`, each agent scored on a
/// span of its one function: SIMPPO's r_t = Σ_i r_t^i / N. 0 for no agent.
template <reward R>
struct team_average {
    R per_agent;  ///< the reward each agent would get alone (e.g. simppo_reward)

    /// Mean of `per_agent` over the functions; throws rlscale::error when the
    /// spans differ in size.
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics,
                                    std::span<const scaling_state> states) const {
        detail::require_same_size("team_average", metrics.size(), states.size());
        if (metrics.empty()) return 0;
        double sum = 0;
        for (std::size_t i = 0; i < metrics.size(); ++i)
            sum += static_cast<double>(per_agent(metrics.subspan(i, 1), states.subspan(i, 1)));
        return sum / static_cast<double>(metrics.size());
    }

    /// Mean over the functions of `per_agent` plus each agent's own
    /// `penalties[i]` (SIMPPO's r_t^i includes its penalty, e.g.
    /// simppo_reward::penalty); throws rlscale::error when the spans differ
    /// in size, or naming `penalties[i]` when one is not finite or is
    /// positive (a penalty lowers the reward, as simppo_reward_config
    /// requires; a NaN would make the team reward NaN).
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics, std::span<const scaling_state> states,
                                    std::span<const double> penalties) const {
        detail::require_same_size("team_average penalties", metrics.size(), penalties.size());
        double sum = 0;
        for (std::size_t i = 0; i < penalties.size(); ++i) {
            const double p = penalties[i];
            if (!(std::isfinite(p) && p <= 0))
                throw error("team_average: penalties[" + std::to_string(i) +
                            "]: must be finite and <= 0 (a penalty lowers the reward), got " + format_number(p));
            sum += p;
        }
        const double base = (*this)(metrics, states);
        return metrics.empty() ? base : base + sum / static_cast<double>(metrics.size());
    }
};

}  // namespace rlscale
