#pragma once

/// A reward made cost-aware: `inner − weight · mean_f(replicas_f / max_f)`.
/// SCARLET's reward has no resource term, so an agent trained on it alone
/// learns to run every function at its maximum; subtracting the mean share
/// of the replica budget in use makes fewer replicas worth something while
/// the SLA term still dominates (a violation costs 1 + its share).

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <utility>

namespace rlscale {

template <reward Inner>
class with_replica_cost {
public:
    /// Throws config_error unless weight is finite and >= 0.
    explicit with_replica_cost(Inner inner, double weight = 0.5) : inner_(std::move(inner)), weight_(weight) {
        check_fields("with_replica_cost").at_least("weight", weight, 0);
    }

    [[nodiscard]] const Inner& inner() const noexcept { return inner_; }
    [[nodiscard]] double weight() const noexcept { return weight_; }

    /// The inner reward minus weight × the mean of replicas / max_replicas
    /// (each share clamped to [0, 1]; functions with max_replicas ≤ 0 count 0).
    [[nodiscard]] double operator()(std::span<const function_metrics> m, std::span<const scaling_state> s) const {
        const double base = inner_(m, s);
        if (s.empty()) return base;
        double share = 0;
        for (const scaling_state& x : s) {
            if (x.max_replicas > 0) share += std::clamp(static_cast<double>(x.replicas) / x.max_replicas, 0.0, 1.0);
        }
        const double n = static_cast<double>(s.size());
        // weight · share overflows for a weight near the double's maximum;
        // weight · (share / n) cannot (share / n ≤ 1), but rounds differently,
        // so it is taken only then and every other weight keeps its result.
        const double weighted = weight_ * share;
        return base - (std::isfinite(weighted) ? weighted / n : weight_ * (share / n));
    }

private:
    Inner inner_;
    double weight_;
};

}  // namespace rlscale
