#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace rlscale {

/// A function's service-level objective, as the papers state them.
struct function_slo {
    double latency_s = 1.0;    ///< latency bound, seconds
    double percentile = 0.9;   ///< which latency it bounds: 0.5, 0.9, 0.95, 0.99 or 0.999 (SCARLET p90, SIMPPO p99); 0 = the mean
    double target_rps = 0;     ///< arrival rate the function must sustain (SCARLET's target throughput); 0 = none
};

/// What the controller knows about a function besides its metrics: its
/// current scale, its bounds and its objective.
struct scaling_state {
    int replicas = 1;                ///< replicas currently asked for
    int min_replicas = 1;            ///< lower bound
    int max_replicas = 10;           ///< upper bound
    double cpu_limit = 1.0;          ///< CPU limit of one replica, cores
    double memory_limit_mb = 128;    ///< memory limit of one replica, MB
    double time_s = 0;               ///< controller clock, seconds (stabilisation windows, rate limits)
    function_slo slo;                ///< the function's objective
};

/// A measured per-replica limit as a state's current limit: the value when
/// it is finite and above 0, else 0, which encoders, action maps and the
/// guard read as unknown (never scaling_state's defaults, which a vertical
/// policy would step from).
[[nodiscard]] inline double known_limit(double measured) noexcept { return std::isfinite(measured) && measured > 0 ? measured : 0.0; }

/// Who made a decision.
enum class decision_source : std::uint8_t {
    policy,    ///< the policy itself
    fallback,  ///< a backup policy, because the primary was not ready, saw bad input or failed
    hold,      ///< no policy could decide: the current replicas are kept
};

[[nodiscard]] constexpr std::string_view to_string(decision_source s) noexcept {
    switch (s) {
        case decision_source::policy: return "policy";
        case decision_source::fallback: return "fallback";
        case decision_source::hold: return "hold";
    }
    return "hold";
}

/// A policy's output for one function and one tick: a replica count and,
/// from multidimensional policies (a VPA, a learned map over replicas and
/// limits), per-replica CPU and memory limits. A NaN limit leaves the
/// current one as it is, which is what every horizontal-only policy returns.
struct decision {
    int replicas = 1;                                  ///< replicas to run
    decision_source source = decision_source::policy;  ///< who decided
    std::string_view reason = {};                      ///< why, for the decision log (a string literal)
    double cpu_limit = std::numeric_limits<double>::quiet_NaN();        ///< CPU limit of one replica, cores (NaN = unchanged)
    double memory_limit_mb = std::numeric_limits<double>::quiet_NaN();  ///< memory limit of one replica, MB (NaN = unchanged)

    /// Whether the decision changes a per-replica limit.
    [[nodiscard]] bool vertical() const noexcept { return !std::isnan(cpu_limit) || !std::isnan(memory_limit_mb); }
};

/// What an encoder reports: ok, or the first metric it refused (non-finite
/// or negative) so the policy can hold or fall back instead of encoding it.
struct encode_status {
    bool ok = true;               ///< every input was valid
    std::string_view field = {};  ///< the refused field, e.g. "latency.p90" (a string literal)
    double value = 0;             ///< its value

    [[nodiscard]] static constexpr encode_status valid() noexcept { return {}; }
    [[nodiscard]] static constexpr encode_status invalid(std::string_view field, double value) noexcept {
        return {false, field, value};
    }
    explicit constexpr operator bool() const noexcept { return ok; }
};

/// What a learned policy's action map asks of one function: a replica count
/// and, for multidimensional maps, per-replica limits (NaN: leave as is).
struct scaling_target {
    int replicas = 0;                                                  ///< replicas to run
    double cpu_limit = std::numeric_limits<double>::quiet_NaN();       ///< CPU limit of one replica, cores (NaN = unchanged)
    double memory_limit_mb = std::numeric_limits<double>::quiet_NaN();  ///< memory limit of one replica, MB (NaN = unchanged)
};

/// What an actor reports with its action values.
enum class act_status : std::uint8_t {
    ok,          ///< the action values are written and usable
    no_weights,  ///< nothing published yet: the fallback decides
    not_finite,  ///< the network's output was not finite: the fallback decides
    bad_size,    ///< the observation or the action span is not the network's size: nothing is read or written
};

[[nodiscard]] constexpr std::string_view to_string(act_status s) noexcept {
    switch (s) {
        case act_status::ok: return "ok";
        case act_status::no_weights: return "no weights published";
        case act_status::not_finite: return "network output not finite";
        case act_status::bad_size: return "observation or action of the wrong size";
    }
    return "not finite";
}

}  // namespace rlscale
