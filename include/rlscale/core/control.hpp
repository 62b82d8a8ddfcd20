#pragma once

/// Control-loop primitives shared by policies, learners and the programs:
/// which metrics may be acted on, replica bounds, "hold", and the SLO test.
/// Below both policy/ and rl/, so that neither includes the other.

#include <rlscale/core/detail/features.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/saturating.hpp>
#include <rlscale/core/scaling.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace rlscale {


/// The first field of `m` that no policy should act on, or valid. Every
/// number a policy reads must be finite and non-negative (cpu_limit_min and
/// memory_limit_min_mb are not checked: NaN means not read, and only the
/// controller's resize settle compares them); latencies may be NaN only when
/// nothing completed (no data, not zero latency); an interval of zero length
/// is missing data.
[[nodiscard]] inline encode_status check_metrics(const function_metrics& m) noexcept {
    const auto bad = [](double x) { return !(std::isfinite(x) && x >= 0); };
    if (bad(m.interval_s) || m.interval_s == 0) return encode_status::invalid("interval_s", m.interval_s);
    if (bad(m.throughput_rps)) return encode_status::invalid("throughput_rps", m.throughput_rps);
    if (bad(m.cpu_utilization)) return encode_status::invalid("cpu_utilization", m.cpu_utilization);
    if (bad(m.memory_utilization)) return encode_status::invalid("memory_utilization", m.memory_utilization);
    if (bad(m.cpu_limit)) return encode_status::invalid("cpu_limit", m.cpu_limit);
    if (bad(m.memory_limit_mb)) return encode_status::invalid("memory_limit_mb", m.memory_limit_mb);
    if (bad(m.replica_seconds)) return encode_status::invalid("replica_seconds", m.replica_seconds);
    if (m.completions > 0) {
        if (bad(m.latency_mean_s)) return encode_status::invalid("latency_mean_s", m.latency_mean_s);
        if (bad(m.latency.p50)) return encode_status::invalid("latency.p50", m.latency.p50);
        if (bad(m.latency.p90)) return encode_status::invalid("latency.p90", m.latency.p90);
        if (bad(m.latency.p95)) return encode_status::invalid("latency.p95", m.latency.p95);
        if (bad(m.latency.p99)) return encode_status::invalid("latency.p99", m.latency.p99);
        if (bad(m.latency.p999)) return encode_status::invalid("latency.p999", m.latency.p999);
    }
    return encode_status::valid();
}

/// The replica bounds of `s`, made usable whatever it holds: lower ≥ 0,
/// upper ≥ lower.
struct replica_bounds {
    int lower = 0;  ///< smallest allowed count
    int upper = 0;  ///< largest allowed count

    [[nodiscard]] static replica_bounds of(const scaling_state& s) noexcept {
        const int lo = std::max(0, s.min_replicas);
        return {lo, std::max(lo, s.max_replicas)};
    }
    [[nodiscard]] int clamp(int n) const noexcept { return std::clamp(n, lower, upper); }
};

/// "Keep the current replicas" (within bounds), the Polimi convention for an
/// agent that cannot decide.
[[nodiscard]] inline decision hold(const scaling_state& s, std::string_view reason) noexcept {
    return {.replicas = replica_bounds::of(s).clamp(s.replicas), .source = decision_source::hold, .reason = reason};
}

/// The current count, unchanged, even outside [min, max]: what to do when
/// nothing usable is known (bounds are enforced on decisions made from data,
/// not by a jump on none). A negative count, which no cluster has, is
/// brought into the bounds.
[[nodiscard]] inline decision keep(const scaling_state& s, std::string_view reason) noexcept {
    if (s.replicas < 0) return hold(s, reason);
    return {.replicas = s.replicas, .source = decision_source::hold, .reason = reason};
}

/// `d` raised to at least `floor` in every dimension the floor sets: the
/// larger replica count, and per replica the larger CPU and memory limit.
/// A NaN limit in `floor` asks for nothing (a VPA that keeps the current
/// limit), so the agent may move that limit either way; a NaN limit in `d`
/// stands for `s`'s current one when compared. When anything was raised, the
/// result's reason is `raised_reason`; its source stays `d`'s. The fallback
/// as a floor under a learning agent: it may ask for more than the
/// fallback, never for less.
[[nodiscard]] inline decision at_least(decision d, const decision& floor, const scaling_state& s,
                                       std::string_view raised_reason) noexcept {
    bool raised = false;
    if (floor.replicas > d.replicas) {
        d.replicas = floor.replicas;
        raised = true;
    }
    const auto raise = [&](double& mine, double theirs, double current) {
        if (std::isnan(theirs)) return;
        const double have = std::isnan(mine) ? current : mine;
        if (std::isnan(have) || theirs > have) {
            mine = theirs;
            raised = true;
        }
    };
    raise(d.cpu_limit, floor.cpu_limit, s.cpu_limit);
    raise(d.memory_limit_mb, floor.memory_limit_mb, s.memory_limit_mb);
    if (raised) d.reason = raised_reason;
    return d;
}

/// Whether function metrics `m` violate `s`'s SLO: a dropped request, the
/// latency at the SLO percentile above the bound, or a stall: requests
/// waiting in the queue and none completed in the interval (as at zero
/// replicas). A request still in service at the interval's end, with none
/// waiting, is not a stall: its latency is counted when it completes. A
/// latency that is not a usable number although requests completed is a
/// violation; an interval with no completion and no waiting request is not.
[[nodiscard]] inline bool violates_slo(const function_metrics& m, const scaling_state& s) noexcept {
    if (m.drops > 0) return true;
    if (m.completions == 0 && m.queue_length > 0) return true;  // stalled
    const double latency = latency_at(m, s.slo.percentile);
    if (m.completions > 0 && !detail::is_nonnegative(latency)) return true;
    return detail::is_nonnegative(latency) && !(latency <= s.slo.latency_s);
}

}  // namespace rlscale
