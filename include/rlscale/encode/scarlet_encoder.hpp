#pragma once

/// SCARLET's state (Song et al., SCARLET, §3.1 Table 2, §3.2, §4.2 "Real-time
/// Metrics Collection" and §4.3): number of containers, resource utilisation
/// (CPU, memory, network) and target throughputs, one function's share of it.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/core/validate.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace rlscale {

/// Normalisation of SCARLET's features.
struct scarlet_encoder_config {
    double rps_scale = 100;  ///< requests/s mapped to 1.0 for the target RPS and the network proxy

    /// SCARLET's setting. The paper feeds raw values; 100 RPS keeps targets of
    /// hundreds of RPS (§2.2's example SLA is 500 RPS) within a few units.
    [[nodiscard]] static scarlet_encoder_config scarlet() { return {}; }

    /// Throws config_error unless rps_scale is finite and > 0.
    void validate() const {
        check_fields("scarlet_encoder_config").greater("rps_scale", rps_scale, 0);
    }
};

/// One function's SCARLET state, 5 features:
///
/// | k | feature | formula |
/// |---|---|---|
/// | 0 | containers | `state.replicas` / `state.max_replicas`, clamped to [0, 1] |
/// | 1 | CPU utilisation | `cpu_utilization` as measured |
/// | 2 | memory utilisation | `memory_utilization` as measured |
/// | 3 | network | `throughput_rps` / rps_scale |
/// | 4 | target throughput | `slo.target_rps` / rps_scale (0 without a target) |
///
/// A multi-function SCARLET state concatenates the encodings of each
/// function in a fixed order (sim::cluster_env does). SCARLET reads node-level
/// utilisation from Prometheus (§4.2: average CPU utilisation, available
/// memory, total network traffic); rlscale reads the function's own
/// utilisation, which is what one function's scaling changes. function_metrics
/// has no network counter, so the completed-request rate stands in for the
/// "network transmission rate": each request is one round trip. The paper
/// feeds the raw container count; dividing by max_replicas keeps it in
/// [0, 1] whatever the bound.
class scarlet_encoder {
public:
    static constexpr std::size_t feature_count = 5;  ///< features per function

    /// SCARLET's setting (implicit, so `cluster_env`'s `Encoder encoder = {}` works).
    scarlet_encoder() : scarlet_encoder(scarlet_encoder_config{}) {}
    /// Validates `config` (throws config_error).
    explicit scarlet_encoder(scarlet_encoder_config config) : config_(config) { config_.validate(); }

    [[nodiscard]] std::size_t size() const noexcept { return feature_count; }
    [[nodiscard]] const scarlet_encoder_config& config() const noexcept { return config_; }

    /// Writes the five features; refuses a negative or non-finite input.
    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s,
                                       std::span<float> out) const noexcept {
        detail::input_check check;
        check.nonnegative("state.replicas", s.replicas)
            .positive("state.max_replicas", s.max_replicas)
            .nonnegative("cpu_utilization", m.cpu_utilization)
            .nonnegative("memory_utilization", m.memory_utilization)
            .nonnegative("throughput_rps", m.throughput_rps)
            .nonnegative("slo.target_rps", s.slo.target_rps);
        if (!check.ok()) return check.status();
        const std::array<double, feature_count> features{
            detail::min_max(s.replicas, 0, s.max_replicas),  // containers, 0..max_replicas
            m.cpu_utilization,                               // CPU utilisation
            m.memory_utilization,                            // memory utilisation
            m.throughput_rps / config_.rps_scale,            // network: throughput proxy
            s.slo.target_rps / config_.rps_scale,            // target throughput
        };
        const std::array<double, feature_count> inputs{
            static_cast<double>(s.replicas), m.cpu_utilization, m.memory_utilization, m.throughput_rps, s.slo.target_rps};
        return detail::write_features(features, names, inputs, out);
    }

private:
    static constexpr std::array<std::string_view, feature_count> names{
        "state.replicas", "cpu_utilization", "memory_utilization", "throughput_rps", "slo.target_rps"};
    scarlet_encoder_config config_;  ///< normalisation
};

static_assert(encoder<scarlet_encoder>);

}  // namespace rlscale
