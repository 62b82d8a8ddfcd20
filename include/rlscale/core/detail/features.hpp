#pragma once

/// Helpers shared by the encoders and rewards: input checks that name the
/// first bad field, min-max normalisation and the papers' SLO preservation.

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

namespace rlscale::detail {

/// The encode_status field naming the latency statistic `latency_at` picks.
[[nodiscard]] constexpr std::string_view latency_field(double percentile) noexcept {
    if (percentile <= 0) return "latency_mean_s";
    if (percentile <= 0.5) return "latency.p50";
    if (percentile <= 0.9) return "latency.p90";
    if (percentile <= 0.95) return "latency.p95";
    if (percentile <= 0.99) return "latency.p99";
    return "latency.p999";
}

/// True when `v` is finite and not negative: what every metric must be.
[[nodiscard]] inline bool is_nonnegative(double v) noexcept { return std::isfinite(v) && v >= 0; }

/// True when `p` names a latency statistic: finite and in [0, 1] (0 = the mean).
[[nodiscard]] inline bool is_percentile(double p) noexcept { return std::isfinite(p) && p >= 0 && p <= 1; }

/// True when a latency SLO can be compared with: bound finite and > 0,
/// percentile in [0, 1].
[[nodiscard]] inline bool is_usable_slo(const function_slo& slo) noexcept {
    return std::isfinite(slo.latency_s) && slo.latency_s > 0 && is_percentile(slo.percentile);
}

/// Whether `count / interval_s` is a finite rate: false for an interval
/// that is not > 0, and for one so short (1e-310 s) that the rate
/// overflows, which the encoders refuse as `interval_s`, the field at fault.
[[nodiscard]] inline bool finite_rate(std::uint64_t count, double interval_s) noexcept {
    return interval_s > 0 && std::isfinite(static_cast<double>(count) / interval_s);
}

/// Records the first invalid (non-finite or negative) input of an encoding.
class input_check {
public:
    /// Requires `v` finite and ≥ 0; the first failure is kept.
    input_check& nonnegative(std::string_view field, double v) noexcept {
        if (status_.ok && !is_nonnegative(v)) status_ = encode_status::invalid(field, v);
        return *this;
    }
    /// Requires `v` finite and > 0 (a divisor).
    input_check& positive(std::string_view field, double v) noexcept {
        if (status_.ok && !(std::isfinite(v) && v > 0)) status_ = encode_status::invalid(field, v);
        return *this;
    }
    /// Records `field` as invalid unless `condition` holds.
    input_check& require(bool condition, std::string_view field, double v) noexcept {
        if (status_.ok && !condition) status_ = encode_status::invalid(field, v);
        return *this;
    }
    [[nodiscard]] bool ok() const noexcept { return status_.ok; }
    [[nodiscard]] encode_status status() const noexcept { return status_; }

private:
    encode_status status_ = encode_status::valid();  ///< the first failure, or valid
};

/// True when `v` is finite and fits a float (a huge but finite double does not).
[[nodiscard]] inline bool fits_float(double v) noexcept {
    return std::isfinite(v) && std::abs(v) <= static_cast<double>(std::numeric_limits<float>::max());
}

/// Copies `features` into `out` as floats, or reports the first that is not
/// finite or does not fit a float, under the name `names[k]` of the input it
/// came from and with that input's value `inputs[k]` (the value refused, not
/// the scaled feature, so that a caller can find it in its metrics).
/// `out` is written only when it has the features' size and every feature
/// fits, so a refused encoding leaves it untouched.
[[nodiscard]] inline encode_status write_features(std::span<const double> features,
                                                  std::span<const std::string_view> names,
                                                  std::span<const double> inputs,
                                                  std::span<float> out) noexcept {
    if (out.size() != features.size()) return encode_status::invalid("out.size", static_cast<double>(out.size()));
    for (std::size_t k = 0; k < features.size(); ++k) {
        if (!fits_float(features[k])) return encode_status::invalid(names[k], inputs[k]);
    }
    for (std::size_t k = 0; k < features.size(); ++k) out[k] = static_cast<float>(features[k]);
    return encode_status::valid();
}

/// (v - lo) / (hi - lo), clamped to [0, 1]; the papers' min-max normalisation.
[[nodiscard]] inline double min_max(double v, double lo, double hi) noexcept {
    return std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
}

/// True when work was pending in the interval: requests arrived, waited or
/// were being served.
[[nodiscard]] inline bool work_pending(const function_metrics& m) noexcept {
    return m.arrivals > 0 || m.queue_length > 0 || m.in_service > 0;
}

/// How an interval's latency at the SLO statistic reads.
enum class latency_reading {
    measured,  ///< requests completed and the statistic is a finite, non-negative number
    idle,      ///< nothing completed and nothing was pending: no request, so no violation
    stalled,   ///< nothing completed although requests were pending
    invalid,   ///< requests completed but the statistic is NaN, infinite or negative
};

/// Classifies `latency` (the statistic at the SLO percentile) for metrics `m`.
[[nodiscard]] inline latency_reading read_latency(const function_metrics& m, double latency) noexcept {
    if (m.completions > 0) return is_nonnegative(latency) ? latency_reading::measured : latency_reading::invalid;
    if (is_nonnegative(latency)) return latency_reading::measured;  // a source that reports latency without counts
    return work_pending(m) ? latency_reading::stalled : latency_reading::idle;
}

/// SIMPPO §3.1 / AWARE §2.2 latency SLO preservation: SLO / measured when
/// the SLO is violated, else 1. `latency` must be finite and ≥ 0, `slo` > 0.
[[nodiscard]] inline double latency_preservation(double latency, double slo) noexcept {
    return latency > slo ? slo / latency : 1.0;
}

/// AWARE §2.2 throughput SLO preservation: throughput / min(target, arrival
/// rate) when the function completes fewer requests per second than that
/// bound (it cannot serve more than arrives), else 1; 1 without a target.
[[nodiscard]] inline double throughput_preservation(double throughput_rps, double arrival_rps,
                                                    double target_rps) noexcept {
    const double bound = std::min(target_rps, arrival_rps);
    if (target_rps <= 0 || bound <= 0 || throughput_rps >= bound) return 1.0;
    return throughput_rps / bound;
}

/// Latency SLO preservation for an encoder. Measured: SLO / latency when
/// violated, else 1. Idle (no request): 1, as SIMPPO §3.1 states. Stalled
/// (requests pending, none completed, e.g. at zero replicas): 0, the limit of
/// SLO / latency as the latency grows without bound, the same value the
/// rewards give, so that an agent sees the stall and can scale out instead of
/// being refused an observation. A bad SLO (not finite and > 0) or a latency
/// that is NaN, infinite or negative although requests completed is refused
/// with the field named, as is a percentile outside [0, 1].
inline void encode_latency_preservation(const function_metrics& m, const scaling_state& s, input_check& check,
                                        double& sp) noexcept {
    check.positive("slo.latency_s", s.slo.latency_s)
        .require(is_percentile(s.slo.percentile), "slo.percentile", s.slo.percentile);
    const double latency = latency_at(m, s.slo.percentile);
    switch (read_latency(m, latency)) {
        case latency_reading::measured: sp = latency_preservation(latency, s.slo.latency_s); return;
        case latency_reading::idle: sp = 1.0; return;
        case latency_reading::stalled: sp = 0.0; return;
        case latency_reading::invalid: check.require(false, latency_field(s.slo.percentile), latency); return;
    }
}

/// Latency SLO preservation for a reward, which cannot refuse its input:
/// SLO / latency when violated, else 1; 1 for an idle interval; 0 (the
/// worst) for a stalled interval, an invalid latency, or a measured latency
/// against an unusable SLO (see is_usable_slo).
[[nodiscard]] inline double reward_latency_preservation(const function_metrics& m, const scaling_state& s) noexcept {
    const double latency = latency_at(m, s.slo.percentile);
    switch (read_latency(m, latency)) {
        case latency_reading::measured:
            return is_usable_slo(s.slo) ? latency_preservation(latency, s.slo.latency_s) : 0.0;
        case latency_reading::idle: return 1.0;
        case latency_reading::stalled:
        case latency_reading::invalid: return 0.0;
    }
    return 0.0;
}

/// A utilisation for a reward: clamped to [0, 1]; 0 (the worst) when not
/// finite or beyond float's range, the values an encoder refuses.
[[nodiscard]] inline double reward_utilization(double u) noexcept {
    return std::isfinite(u) && fits_float(u) ? std::clamp(u, 0.0, 1.0) : 0.0;
}

/// Throughput SLO preservation for a reward: 1 without a target
/// (`slo.target_rps` = 0); 0 (the worst) when the target is negative or not
/// finite, or the throughput or the interval is not a valid number.
[[nodiscard]] inline double reward_throughput_preservation(const function_metrics& m, const scaling_state& s) noexcept {
    if (s.slo.target_rps == 0) return 1.0;
    if (!is_nonnegative(s.slo.target_rps)) return 0.0;
    if (!is_nonnegative(m.throughput_rps) || !(std::isfinite(m.interval_s) && m.interval_s > 0)) return 0.0;
    return throughput_preservation(m.throughput_rps, static_cast<double>(m.arrivals) / m.interval_s, s.slo.target_rps);
}

/// Throws rlscale::error unless a reward's metrics and states pair up.
inline void require_same_size(std::string_view who, std::size_t metrics, std::size_t states) {
    if (metrics != states)
        throw error(std::string(who) + ": " + std::to_string(metrics) + " metrics but " + std::to_string(states) +
                    " states");
}

/// Throws rlscale::error unless a per-agent reward got exactly one function.
inline void require_one_agent(std::string_view who, std::size_t metrics, std::size_t states) {
    require_same_size(who, metrics, states);
    if (metrics != 1)
        throw error(std::string(who) + ": a per-agent reward scores one function, got " + std::to_string(metrics) +
                    " (use team_average)");
}

}  // namespace rlscale::detail
