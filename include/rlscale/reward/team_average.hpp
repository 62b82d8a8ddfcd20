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
    /// in size ("2 metrics but 1 penalties"), or naming `penalties[i]` when
    /// one is not finite or is positive (a penalty lowers the reward, as
    /// simppo_reward_config requires; a NaN would make the team reward NaN).
    /// Any finite penalties give a finite mean, -DBL_MAX each included.
    [[nodiscard]] double operator()(std::span<const function_metrics> metrics, std::span<const scaling_state> states,
                                    std::span<const double> penalties) const {
        if (metrics.size() != penalties.size())
            throw error("team_average: " + std::to_string(metrics.size()) + " metrics but " +
                        std::to_string(penalties.size()) + " penalties");
        double sum = 0;
        for (std::size_t i = 0; i < penalties.size(); ++i) {
            const double p = penalties[i];
            if (!(std::isfinite(p) && p <= 0))
                throw error("team_average: penalties[" + std::to_string(i) +
                            "]: must be finite and <= 0 (a penalty lowers the reward), got " + format_number(p));
            sum += p;
        }
        const double base = (*this)(metrics, states);
        if (metrics.empty()) return base;
        const double n = static_cast<double>(metrics.size());
        double mean = sum / n;
        // Finite penalties whose sum overflows (two of -DBL_MAX, which
        // simppo_reward_config allows) still have a finite mean: each is
        // divided first. Only then, so that the sum's rounding is as always.
        if (!std::isfinite(sum)) {
            mean = 0;
            for (const double p : penalties) mean += p / n;
        }
        return base + mean;
    }
};

}  // namespace rlscale
