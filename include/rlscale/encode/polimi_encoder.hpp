#pragma once

/// The Polimi serverless autoscaler's state (Polimi "Serverless Scaling with
/// Deep RL" slides, "The Scaler" and "The RL Agent"): nInstances, pressure,
/// queue-length dominant, utilisation and workload, plus optionally the
/// measured CPU ("CPUUsage (Prometheus)").

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rlscale {

/// Which response time the Polimi features read, and their scales.
struct polimi_encoder_config {
    /// Latency statistic read as the response time RT of P and QLD, as
    /// `latency_at` reads it (0 = the mean). None: the statistic the
    /// function's SLO bounds (`slo.percentile`), so that P compares RT with
    /// the threshold of the same statistic; the paper's threshold bounds the
    /// average response time (percentile 0).
    std::optional<double> response_time_percentile{};
    double instances_scale = 1;     ///< nInstances divided by this (1 = raw, as the seed sends it)
    double workload_scale_rps = 1;  ///< workload (requests/s) divided by this (1 = raw)
    bool measured_cpu = false;      ///< append the measured CPU utilisation ("CPUUsage (Prometheus)") as a 6th feature

    /// The paper's setting: raw values, no measured CPU; with the paper's SLO
    /// (mean response time, `slo.percentile` = 0) RT is avgResponseTime.
    [[nodiscard]] static polimi_encoder_config polimi() { return {}; }

    /// Throws config_error unless the scales are finite and > 0 and a given percentile is in [0, 1].
    void validate() const {
        const check_fields check("polimi_encoder_config");
        if (response_time_percentile) check.in("response_time_percentile", *response_time_percentile, 0, 1);
        check.greater("instances_scale", instances_scale, 0).greater("workload_scale_rps", workload_scale_rps, 0);
    }
};

/// One function's Polimi state, 5 features (6 with `measured_cpu`):
///
/// | k | feature | formula |
/// |---|---|---|
/// | 0 | nInstances | `ready_replicas` / instances_scale |
/// | 1 | P (pressure) | RT / `slo.latency_s` ("ObservedResponseTime / ResponseTimeThreshold") |
/// | 2 | QLD (queue-length dominant) | (RT - D) / D |
/// | 3 | U (utilisation) | λ·D / max(nInstances, 1) ("Σ ArrivalRate·DemandTime / NumberOfInstances", one component) |
/// | 4 | workload | λ / workload_scale_rps |
/// | 5 | measured CPU | `cpu_utilization` (only with `measured_cpu`) |
///
/// D is the function's demand time (seconds of work per request, a
/// constructor argument), RT the response time (see
/// polimi_encoder_config::response_time_percentile), λ = arrivals /
/// interval_s. The seed sends raw values, so P, QLD and U are unbounded
/// ratios (its own log shows QLD ≈ 5·10^4); QLD is negative when RT < D.
/// With no ready instance U is the load one instance would carry. An idle
/// interval (nothing completed, nothing pending) has no response time and
/// no pressure: P = QLD = 0. A stalled one (requests pending, none
/// completed) has no finite P or QLD, so it is refused naming the latency
/// field, and the caller holds or falls back. A P or QLD beyond float's
/// range is refused naming the latency and its value, except a P against an
/// SLO whose reciprocal does not fit a float (slo.latency_s below about
/// 2.9e-39 s), which names slo.latency_s; the constructor refuses such a
/// demand time, so QLD is only ever the latency's doing.
class polimi_encoder {
public:
    static constexpr std::size_t max_feature_count = 6;  ///< features with the measured CPU

    /// The smallest demand time accepted, 1 / FLT_MAX ≈ 2.9e-39 s: below it
    /// QLD = (RT − D) / D of every response time of 1 s or more would not
    /// fit a float, and every encoding would be refused.
    static constexpr double min_demand_time_s = 1.0 / static_cast<double>(std::numeric_limits<float>::max());

    /// Validates `demand_time_s` (finite, >= min_demand_time_s) and `config`
    /// (throws config_error).
    explicit polimi_encoder(double demand_time_s, polimi_encoder_config config = {})
        : demand_time_s_(demand_time_s), config_(config) {
        check_fields("").at_least("demand_time_s", demand_time_s, min_demand_time_s);
        // The parameter, not its copy: on the copy GCC 12 at -O1 warns (falsely)
        // that an empty response_time_percentile's value may be uninitialised.
        config.validate();
    }

    [[nodiscard]] std::size_t size() const noexcept { return config_.measured_cpu ? 6 : 5; }
    [[nodiscard]] double demand_time_s() const noexcept { return demand_time_s_; }
    [[nodiscard]] const polimi_encoder_config& config() const noexcept { return config_; }

    /// Writes the features; refuses a negative or non-finite input, naming it.
    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s,
                                       std::span<float> out) const noexcept {
        const double percentile = config_.response_time_percentile.value_or(s.slo.percentile);
        const std::string_view latency = detail::latency_field(percentile);
        detail::input_check check;
        check.positive("slo.latency_s", s.slo.latency_s)
            .require(detail::is_percentile(percentile), "slo.percentile", percentile)
            .positive("interval_s", m.interval_s)
            .require(detail::finite_rate(m.arrivals, m.interval_s), "interval_s", m.interval_s);  // 1e-310 s: an infinite rate
        const double rt = latency_at(m, percentile);
        const detail::latency_reading reading = detail::read_latency(m, rt);
        check.require(reading == detail::latency_reading::measured || reading == detail::latency_reading::idle,
                      latency, rt);
        if (config_.measured_cpu) check.nonnegative("cpu_utilization", m.cpu_utilization);
        if (!check.ok()) return check.status();
        const bool idle = reading == detail::latency_reading::idle;
        const double instances = m.ready_replicas;
        const double arrival_rps = static_cast<double>(m.arrivals) / m.interval_s;
        const std::array<double, max_feature_count> features{
            instances / config_.instances_scale,                      // nInstances
            idle ? 0.0 : rt / s.slo.latency_s,                        // P: pressure
            idle ? 0.0 : (rt - demand_time_s_) / demand_time_s_,      // QLD: queue-length dominant
            arrival_rps * demand_time_s_ / std::max(instances, 1.0),  // U: utilisation
            arrival_rps / config_.workload_scale_rps,                 // workload
            m.cpu_utilization,                                        // measured CPU (optional)
        };
        // P that does not fit a float is the latency's doing (it is refused
        // by the latency's name and value), unless the SLO is so small that
        // 1 / slo.latency_s does not fit a float (below about 2.9e-39 s):
        // then P of any latency of 1 s or more would not fit, and the SLO is
        // the value to name.
        const bool slo_too_small = !idle && !detail::fits_float(features[1]) && detail::fits_float(rt) &&
                                   !detail::fits_float(1.0 / s.slo.latency_s);
        const std::array<std::string_view, max_feature_count> names{
            "ready_replicas", slo_too_small ? "slo.latency_s" : latency, latency, "arrivals", "arrivals", "cpu_utilization"};
        const std::array<double, max_feature_count> inputs{instances,
                                                           slo_too_small ? s.slo.latency_s : rt,
                                                           rt,
                                                           static_cast<double>(m.arrivals),
                                                           static_cast<double>(m.arrivals),
                                                           m.cpu_utilization};
        return detail::write_features(std::span<const double>(features).first(size()),
                                      std::span<const std::string_view>(names).first(size()),
                                      std::span<const double>(inputs).first(size()), out);
    }

private:
    double demand_time_s_;          ///< D: the function's demand time per request, seconds
    polimi_encoder_config config_;  ///< response-time statistic and scales
};

static_assert(encoder<polimi_encoder>);

}  // namespace rlscale
