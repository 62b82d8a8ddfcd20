#pragma once

#include <cstdint>
#include <limits>

namespace rlscale {

/// Latency percentiles of the requests completed in one control interval,
/// in seconds; NaN when none completed.
struct latency_percentiles {
    double p50 = std::numeric_limits<double>::quiet_NaN();   ///< median
    double p90 = std::numeric_limits<double>::quiet_NaN();   ///< SCARLET's SLA percentile
    double p95 = std::numeric_limits<double>::quiet_NaN();   ///< 95th
    double p99 = std::numeric_limits<double>::quiet_NaN();   ///< SIMPPO's SLO percentile
    double p999 = std::numeric_limits<double>::quiet_NaN();  ///< 99.9th
};

/// What one function did over one control interval. Filled by the simulator
/// (and, later, by the Prometheus adapter); read by encoders and rewards.
/// Counts are over the interval; replica counts, queue and limits are at its
/// end; utilisations are averages over it.
struct function_metrics {
    double interval_s = 0;               ///< length of the interval
    std::uint64_t arrivals = 0;          ///< requests that arrived
    std::uint64_t completions = 0;       ///< requests that finished
    std::uint64_t drops = 0;             ///< requests dropped (waited past the timeout, or queue full)
    double throughput_rps = 0;           ///< completions / interval_s
    double latency_mean_s = std::numeric_limits<double>::quiet_NaN();  ///< mean end-to-end latency (wait + service)
    latency_percentiles latency;         ///< end-to-end latency percentiles
    std::uint32_t queue_length = 0;      ///< requests waiting for a replica
    std::uint32_t in_service = 0;        ///< requests being served
    double cpu_utilization = 0;          ///< CPU used / CPU limit of the ready replicas, averaged
    double memory_utilization = 0;       ///< memory used / memory limit of the ready replicas, averaged
    double cpu_limit = 0;                ///< CPU limit of one replica, cores
    double memory_limit_mb = 0;          ///< memory limit of one replica, MB
    /// The smallest CPU limit over the running replicas, cores, where
    /// replicas may differ (the Prometheus adapter reads cpu_limit as the
    /// largest): below cpu_limit while replicas of an older pod template run
    /// beside newer ones, as while a resize rolls out. NaN: not read (the
    /// simulator's replicas always share one limit, and it leaves this NaN).
    double cpu_limit_min = std::numeric_limits<double>::quiet_NaN();
    /// The smallest memory limit over the running replicas, MB; NaN: not read.
    double memory_limit_min_mb = std::numeric_limits<double>::quiet_NaN();
    std::uint32_t ready_replicas = 0;    ///< replicas serving
    std::uint32_t starting_replicas = 0; ///< replicas in their cold start
    std::uint32_t pending_replicas = 0;  ///< replicas that do not fit on the node yet
    std::uint32_t cold_starts = 0;       ///< replicas that became ready during the interval
    double replica_seconds = 0;          ///< ∫ (ready + starting + draining) replicas dt: what the function paid for
};

/// The latency statistic an SLO names: 0.5, 0.9, 0.95, 0.99 or 0.999 pick
/// that percentile, 0 the mean; any other value picks the nearest percentile
/// above it. NaN when nothing completed.
[[nodiscard]] inline double latency_at(const function_metrics& m, double percentile) noexcept {
    if (percentile <= 0) return m.latency_mean_s;
    if (percentile <= 0.5) return m.latency.p50;
    if (percentile <= 0.9) return m.latency.p90;
    if (percentile <= 0.95) return m.latency.p95;
    if (percentile <= 0.99) return m.latency.p99;
    return m.latency.p999;
}

}  // namespace rlscale
