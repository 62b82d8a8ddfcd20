#pragma once

/// SIMPPO's local state (Qiu et al., SIMPPO, §3.1 "State Space" and Table 1,
/// first row): SP, RU_cpu, RU_mem, AC, RLT_cpu, RLT_mem, NC.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/encode/detail/arrival_history.hpp>
#include <rlscale/core/detail/features.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rlscale {

/// SIMPPO's min-max normalisation bounds of the resource limits and the
/// container count (§3.1: "the cpu.shares for a container cannot be smaller
/// than 128 or larger than 2048, and the number of containers cannot be
/// smaller than 0 or larger than 1000"). rlscale holds CPU limits in cores;
/// cpu.shares convert at 1024 shares per core (Docker's and Kubernetes'
/// convention), so 128..2048 shares are 0.125..2 cores.
struct simppo_state_config {
    double cpu_min_cores = 128.0 / 1024;   ///< lower CPU limit: 128 cpu.shares
    double cpu_max_cores = 2048.0 / 1024;  ///< upper CPU limit: 2048 cpu.shares
    double memory_min_mb = 128;            ///< lower memory limit, MB (not in the paper: OpenWhisk's minimum)
    double memory_max_mb = 2048;           ///< upper memory limit, MB (not in the paper: covers rlscale's profiles)
    double containers_min = 0;             ///< lower container count (§3.1)
    double containers_max = 1000;          ///< upper container count: AWS Lambda's default concurrency (§3.1)

    /// The bounds SIMPPO states (§3.1); the memory bounds are rlscale's.
    [[nodiscard]] static simppo_state_config simppo() { return {}; }

    /// Throws config_error, naming the member, unless every bound is finite,
    /// ≥ 0 and lower < upper.
    void validate() const {
        check_range("cpu_min_cores", cpu_min_cores, "cpu_max_cores", cpu_max_cores);
        check_range("memory_min_mb", memory_min_mb, "memory_max_mb", memory_max_mb);
        check_range("containers_min", containers_min, "containers_max", containers_max);
    }

private:
    static void check_range(const char* lo_name, double lo, const char* hi_name, double hi) {
        check_fields("simppo_state_config").at_least(lo_name, lo, 0).greater_field(hi_name, hi, lo_name, lo);
    }
};

/// SIMPPO's arrival-rate change (§3.1): (AR_t - AR_{t-1}) / max(AR_t, AR_{t-1}),
/// in [-1, 1]; 0 when both rates are 0 (no request then or now).
[[nodiscard]] inline double simppo_arrival_change(double current_rps, double previous_rps) noexcept {
    const double larger = std::max(current_rps, previous_rps);
    return larger > 0 ? (current_rps - previous_rps) / larger : 0.0;
}

/// One agent's SIMPPO local state l_t, 7 features:
///
/// | k | feature | formula (§3.1) |
/// |---|---|---|
/// | 0 | SP | SLO / latency at the SLO percentile when it exceeds the SLO, else 1; 1 when idle (no request); 0 when requests were pending but none completed |
/// | 1 | RU_cpu | `cpu_utilization` as measured (CPU used / limit) |
/// | 2 | RU_mem | `memory_utilization` as measured |
/// | 3 | AC | (AR_t - AR_{t-1}) / max(AR_t, AR_{t-1}), AR = arrivals / interval_s; 0 without AR_{t-1} |
/// | 4 | RLT_cpu | min-max of `state.cpu_limit` over [cpu_min_cores, cpu_max_cores], clamped to [0, 1] |
/// | 5 | RLT_mem | min-max of `state.memory_limit_mb` over [memory_min_mb, memory_max_mb], clamped |
/// | 6 | NC | min-max of `state.replicas` over [containers_min, containers_max], clamped |
///
/// SP, AC lie in [-1, 1] as §3.1 says; RU is written as measured (a source
/// may report more than 1 when a container bursts past its CPU limit), the
/// rewards clamp it.
///
/// AC needs the previous interval's arrival rate. The three-argument
/// `encode` (the `encoder` concept) keeps it in the encoder (see
/// detail::arrival_history): constructed for N functions, the encoder
/// expects them in the same order at every tick, 0..N-1 (sim::cluster_env's
/// order); with the default N = 1 an instance serves one function. It
/// remembers AR_t of every interval whose `interval_s` is valid, even when
/// another field is refused, and forgets it when `state.time_s` goes back (a
/// new episode), even when the new interval has no rate of its own; a clock
/// that is not finite is refused as `state.time_s`. Because of that state, one instance must not be called from
/// two threads at once (copies are independent). The four-argument `encode`
/// is pure: the caller passes AR_{t-1}.
class simppo_encoder : public detail::arrival_history_encoder<simppo_encoder> {
public:
    using detail::arrival_history_encoder<simppo_encoder>::encode;

    static constexpr std::size_t feature_count = 7;  ///< local-state features

    /// The paper's bounds, one function (implicit, so `cluster_env`'s
    /// `Encoder encoder = {}` works; pass the function count for a joint one).
    simppo_encoder() : simppo_encoder(simppo_state_config{}) {}
    /// Validates `config` (throws config_error) and keeps AR_{t-1} for
    /// `functions` functions encoded in round-robin order (≥ 1).
    explicit simppo_encoder(simppo_state_config config, std::size_t functions = 1)
        : detail::arrival_history_encoder<simppo_encoder>(functions), config_(config) {
        config_.validate();
    }

    [[nodiscard]] std::size_t size() const noexcept { return feature_count; }
    [[nodiscard]] const simppo_state_config& config() const noexcept { return config_; }

    /// Encodes with AR_{t-1} = `previous_arrival_rps` (none: AC = 0); changes nothing.
    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s,
                                       std::optional<double> previous_arrival_rps,
                                       std::span<float> out) const noexcept {
        detail::input_check check;
        double sp = 1;
        detail::encode_latency_preservation(m, s, check, sp);
        check.nonnegative("cpu_utilization", m.cpu_utilization)
            .nonnegative("memory_utilization", m.memory_utilization)
            .positive("interval_s", m.interval_s)
            .require(detail::finite_rate(m.arrivals, m.interval_s), "interval_s", m.interval_s)  // 1e-310 s: an infinite rate
            .nonnegative("previous_arrival_rps", previous_arrival_rps.value_or(0))
            .positive("state.cpu_limit", s.cpu_limit)  // 0: unknown, not the smallest limit
            .positive("state.memory_limit_mb", s.memory_limit_mb)
            .nonnegative("state.replicas", s.replicas);
        if (!check.ok()) return check.status();
        const double arrival_rps = static_cast<double>(m.arrivals) / m.interval_s;
        const std::array<double, feature_count> features{
            sp,                                                                              // SP
            m.cpu_utilization,                                                               // RU_cpu
            m.memory_utilization,                                                            // RU_mem
            simppo_arrival_change(arrival_rps, previous_arrival_rps.value_or(arrival_rps)),  // AC
            detail::min_max(s.cpu_limit, config_.cpu_min_cores, config_.cpu_max_cores),     // RLT_cpu
            detail::min_max(s.memory_limit_mb, config_.memory_min_mb, config_.memory_max_mb),  // RLT_mem
            detail::min_max(s.replicas, config_.containers_min, config_.containers_max),    // NC
        };
        const std::array<double, feature_count> inputs{
            s.slo.latency_s, m.cpu_utilization, m.memory_utilization, static_cast<double>(m.arrivals),
            s.cpu_limit,     s.memory_limit_mb, static_cast<double>(s.replicas)};
        return detail::write_features(features, names, inputs, out);
    }

private:
    static constexpr std::array<std::string_view, feature_count> names{
        "slo.latency_s",   "cpu_utilization",        "memory_utilization", "arrivals",
        "state.cpu_limit", "state.memory_limit_mb", "state.replicas"};
    simppo_state_config config_;               ///< normalisation bounds
};

static_assert(function_encoder<simppo_encoder>);

}  // namespace rlscale
