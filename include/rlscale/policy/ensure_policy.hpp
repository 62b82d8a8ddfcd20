#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/validate.hpp>

#include <cmath>
#include <string>

namespace rlscale {

/// ENSURE's square-root staffing rule: with R = λ·E[S]/concurrency the
/// offered load in replicas, run ⌈R + c·√R⌉ replicas. The √R term is the
/// headroom that keeps the waiting probability roughly constant as the load
/// grows (Halfin–Whitt).
struct ensure_config {
    double service_time_s = 0.1;  ///< E[S]: mean service time of one request, seconds
    double concurrency = 1;       ///< requests one replica serves at once
    double c = 1.0;               ///< headroom coefficient

    void validate() const {
        check_fields("ensure_config").greater("service_time_s", service_time_s, 0).greater("concurrency", concurrency, 0).at_least("c", c, 0);
    }
};

/// The ENSURE baseline: λ is the interval's arrival rate.
class ensure_policy {
public:
    explicit ensure_policy(ensure_config config = {}) : config_((config.validate(), config)) {}

    [[nodiscard]] bool ready() const noexcept { return true; }
    [[nodiscard]] const ensure_config& config() const noexcept { return config_; }

    decision decide(const function_metrics& m, const scaling_state& s) const noexcept {
        if (!(m.interval_s > 0) || !std::isfinite(m.interval_s)) {
            return hold(s, "ensure: no interval");
        }
        const double lambda = static_cast<double>(m.arrivals) / m.interval_s;
        const double r = lambda * config_.service_time_s / config_.concurrency;
        // An offered load beyond double's range (a tiny interval, a huge
        // service time) asks for the most replicas; with c = 0 the sum
        // would be ∞ + 0·∞, NaN, read as none.
        const double need = std::isfinite(r) ? r + config_.c * std::sqrt(r) : r;
        const int n = saturating_ceil(need);
        return {.replicas = replica_bounds::of(s).clamp(n), .source = decision_source::policy, .reason = "ensure: R + c·√R"};
    }

private:
    ensure_config config_;
};
static_assert(policy<ensure_policy>);

}  // namespace rlscale
