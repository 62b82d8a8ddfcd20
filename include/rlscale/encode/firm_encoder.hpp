#pragma once

/// FIRM's state as AWARE uses it (Qiu et al., AWARE, §2.2 and Table 1): resource
/// limits (CPU, RAM), resource utilisation (CPU, memory, I/O, network), SLO
/// preservation (latency, throughput) and the observed load change.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/encode/detail/arrival_history.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/core/validate.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rlscale {

/// Normalisation of the FIRM/AWARE resource limits.
struct firm_encoder_config {
    double cpu_max_cores = 4;        ///< CPU limit mapped to 1.0: one node's cores (AWARE §2.3: four cores)
    double memory_max_mb = 16384;    ///< memory limit mapped to 1.0: one node's memory (AWARE §2.3: 16 GB)

    /// AWARE's characterisation cluster (§2.3): nodes of 4 cores and 16 GB.
    [[nodiscard]] static firm_encoder_config aware() { return {}; }

    /// Throws config_error unless both bounds are finite and > 0.
    void validate() const {
        check_fields("firm_encoder_config").greater("cpu_max_cores", cpu_max_cores, 0);
        check_fields("firm_encoder_config").greater("memory_max_mb", memory_max_mb, 0);
    }
};

/// One workload's FIRM/AWARE state (AWARE §2.2, Table 1), 9 features:
///
/// | k | feature | formula |
/// |---|---|---|
/// | 0 | RLT_cpu | `state.cpu_limit` / cpu_max_cores, clamped to [0, 1] |
/// | 1 | RLT_mem | `state.memory_limit_mb` / memory_max_mb, clamped to [0, 1] |
/// | 2 | RU_cpu | `cpu_utilization` as measured |
/// | 3 | RU_mem | `memory_utilization` as measured |
/// | 4 | RU_io | 0: function_metrics has no I/O counter |
/// | 5 | RU_net | 0: function_metrics has no network counter |
/// | 6 | SP_latency | SLO / latency at the SLO percentile when it exceeds the SLO, else 1; 1 when idle; 0 when requests were pending but none completed |
/// | 7 | SP_throughput | throughput / min(target, AR) when below it, else 1; 1 without a target (`slo.target_rps` = 0) |
/// | 8 | load change | (AR_t - AR_{t-1}) / max(AR_t, AR_{t-1}), AR = arrivals / interval_s; 0 without AR_{t-1} |
///
/// RU_io and RU_net keep Table 1's layout for a metrics source that has
/// them. AWARE defines SP as "the ratio between the SLO metric and the
/// measured metric", 1 when met; for a throughput SLO (a floor) the ratio
/// that is ≤ 1 when violated is measured / target, and a function cannot
/// serve more than arrives, so the bound is min(target, AR) (see
/// detail::throughput_preservation). AWARE names the load change without a
/// formula; rlscale uses SIMPPO's arrival-rate change (the same authors'
/// definition), with the same state rules as simppo_encoder: the
/// three-argument `encode` remembers AR_{t-1} for `functions` functions
/// encoded in round-robin order, forgets it when `state.time_s` goes back,
/// and one instance must not be called from two threads at once.
class firm_encoder : public detail::arrival_history_encoder<firm_encoder> {
public:
    using detail::arrival_history_encoder<firm_encoder>::encode;

    static constexpr std::size_t feature_count = 9;  ///< state features

    /// The paper's bounds, one function (implicit, so `cluster_env`'s
    /// `Encoder encoder = {}` works; pass the function count for a joint one).
    firm_encoder() : firm_encoder(firm_encoder_config{}) {}
    /// Validates `config` (throws config_error) and keeps AR_{t-1} for
    /// `functions` functions encoded in round-robin order (≥ 1).
    explicit firm_encoder(firm_encoder_config config, std::size_t functions = 1)
        : detail::arrival_history_encoder<firm_encoder>(functions), config_(config) {
        config_.validate();
    }

    [[nodiscard]] std::size_t size() const noexcept { return feature_count; }
    [[nodiscard]] const firm_encoder_config& config() const noexcept { return config_; }

    /// Encodes with AR_{t-1} = `previous_arrival_rps` (none: load change 0); changes nothing.
    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s,
                                       std::optional<double> previous_arrival_rps,
                                       std::span<float> out) const noexcept {
        detail::input_check check;
        check.positive("state.cpu_limit", s.cpu_limit)  // 0: unknown, not the smallest limit
            .positive("state.memory_limit_mb", s.memory_limit_mb)
            .nonnegative("cpu_utilization", m.cpu_utilization)
            .nonnegative("memory_utilization", m.memory_utilization);
        double sp_latency = 1;
        detail::encode_latency_preservation(m, s, check, sp_latency);
        check.nonnegative("throughput_rps", m.throughput_rps)
            .nonnegative("slo.target_rps", s.slo.target_rps)
            .positive("interval_s", m.interval_s)
            .require(detail::finite_rate(m.arrivals, m.interval_s), "interval_s", m.interval_s)  // 1e-310 s: an infinite rate
            .nonnegative("previous_arrival_rps", previous_arrival_rps.value_or(0));
        if (!check.ok()) return check.status();
        const double arrival_rps = static_cast<double>(m.arrivals) / m.interval_s;
        const std::array<double, feature_count> features{
            detail::min_max(s.cpu_limit, 0, config_.cpu_max_cores),                          // RLT_cpu
            detail::min_max(s.memory_limit_mb, 0, config_.memory_max_mb),                    // RLT_mem
            m.cpu_utilization,                                                               // RU_cpu
            m.memory_utilization,                                                            // RU_mem
            0.0,                                                                             // RU_io: not measured
            0.0,                                                                             // RU_net: not measured
            sp_latency,                                                                      // SP latency
            detail::throughput_preservation(m.throughput_rps, arrival_rps, s.slo.target_rps),  // SP throughput
            simppo_arrival_change(arrival_rps, previous_arrival_rps.value_or(arrival_rps)),  // load change
        };
        const std::array<double, feature_count> inputs{
            s.cpu_limit, s.memory_limit_mb, m.cpu_utilization, m.memory_utilization, 0.0, 0.0,
            s.slo.latency_s, m.throughput_rps, static_cast<double>(m.arrivals)};
        return detail::write_features(features, names, inputs, out);
    }

private:
    static constexpr std::array<std::string_view, feature_count> names{
        "state.cpu_limit", "state.memory_limit_mb", "cpu_utilization", "memory_utilization", "io_utilization",
        "network_utilization", "slo.latency_s", "throughput_rps", "arrivals"};
    firm_encoder_config config_;               ///< normalisation bounds
};

static_assert(function_encoder<firm_encoder>);

}  // namespace rlscale
