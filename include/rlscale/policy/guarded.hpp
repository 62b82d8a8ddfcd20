#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/saturating.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

namespace rlscale {

/// Limits of `guarded`: how far one decision may move the replicas and, for
/// multidimensional policies, the per-replica CPU and memory limits.
///
/// Vertical limits apply only to decisions that set a limit (a finite
/// `decision::cpu_limit` or `memory_limit_mb`); a horizontal-only policy is
/// unaffected by them. A resize restarts a Kubernetes pod (AWARE §3.3: the
/// VPA evicts it), so by default a vertical change is withheld while the
/// function asks for, has ready, or would run fewer than
/// `vertical_min_replicas` replicas: resizing the only replica serving takes
/// the service down.
struct guard_config {
    int max_step_up = 4;    ///< most replicas added in one tick
    int max_step_down = 2;  ///< most replicas removed in one tick
    double max_cpu_step = std::numeric_limits<double>::infinity();        ///< most cores a replica's CPU limit moves in one tick
    double max_memory_step_mb = std::numeric_limits<double>::infinity();  ///< most MB a replica's memory limit moves in one tick
    double min_cpu_limit = 0.01;    ///< smallest CPU limit of a replica, cores
    double max_cpu_limit = std::numeric_limits<double>::infinity();       ///< largest CPU limit of a replica, cores
    double min_memory_limit_mb = 1;  ///< smallest memory limit of a replica, MB
    double max_memory_limit_mb = std::numeric_limits<double>::infinity();  ///< largest memory limit of a replica, MB
    int vertical_min_replicas = 2;  ///< vertical changes withheld below this many replicas (0 or 1: never withheld)

    void validate() const {
        check_fields("guard_config")
            .at_least("max_step_up", max_step_up, 0)
            .at_least("max_step_down", max_step_down, 0)
            .require(max_cpu_step > 0, "max_cpu_step", "be > 0 (+inf: no limit)", max_cpu_step)
            .require(max_memory_step_mb > 0, "max_memory_step_mb", "be > 0 (+inf: no limit)", max_memory_step_mb)
            .require(std::isfinite(min_cpu_limit) && min_cpu_limit > 0, "min_cpu_limit", "be finite and > 0", min_cpu_limit)
            .require(max_cpu_limit >= min_cpu_limit, "max_cpu_limit", "be >= min_cpu_limit (+inf: no bound)", max_cpu_limit)
            .require(std::isfinite(min_memory_limit_mb) && min_memory_limit_mb > 0, "min_memory_limit_mb",
                     "be finite and > 0", min_memory_limit_mb)
            .require(max_memory_limit_mb >= min_memory_limit_mb, "max_memory_limit_mb", "be >= min_memory_limit_mb (+inf: no bound)",
                     max_memory_limit_mb)
            .at_least("vertical_min_replicas", vertical_min_replicas, 0);
    }
};

namespace detail {
/// One limit moved at most `step` from `current` (when `current` is a usable
/// limit) and kept within [lo, hi]; NaN stays NaN (no change asked).
[[nodiscard]] inline double guard_limit(double wanted, double current, double step, double lo, double hi) noexcept {
    if (std::isnan(wanted)) return wanted;
    double v = wanted;
    if (std::isfinite(current) && current > 0) v = std::clamp(v, current - step, current + step);
    return std::clamp(v, lo, hi);
}
}  // namespace detail

/// `d` limited to at most `limits.max_step_up` / `max_step_down` from the
/// current count and to [min, max] of `s`. When the current count is itself
/// outside [min, max], it is brought inside first (bounds win over the rate
/// limit). A policy's own decision that had to change says why. Exact for
/// every int input: the step arithmetic saturates instead of overflowing.
///
/// A vertical decision's limits are then checked: a limit that is not
/// finite and > 0 is dropped (the current one stays); when the replicas
/// asked for, the replicas ready (`ready_replicas`, the metrics' count) or
/// the decided count are below `vertical_min_replicas`, both are dropped (a
/// resize during a cold start, 3 asked for and 1 ready, would restart the
/// only replica serving; a caller that leaves function_metrics::ready_replicas
/// at its default 0 has every resize withheld); otherwise each moves at most its step from the
/// current limit and stays within its bounds (bounds win over the step).
///
/// `guard_in_place` changes `d` where it is; `apply_guard` (below) returns
/// the guarded copy. Hot paths use the first: passing a decision just built
/// by value made the compiler copy it with one wide load over the narrower
/// stores that built it, which the core cannot forward from its store
/// buffer, so each decision waited for those stores to reach the cache.
inline void guard_in_place(decision& d, const scaling_state& s, const guard_config& limits,
                           std::int64_t ready_replicas) noexcept {
    const replica_bounds bounds = replica_bounds::of(s);
    const int current = bounds.clamp(s.replicas);
    const int limited = std::clamp(d.replicas, saturating_sub(current, std::max(0, limits.max_step_down)),
                                   saturating_add(current, std::max(0, limits.max_step_up)));
    const int final_count = bounds.clamp(limited);
    const bool own = d.source == decision_source::policy;
    const bool replicas_changed = final_count != d.replicas;
    const bool rate_limited = final_count == limited;
    if (replicas_changed && own) d.reason = rate_limited ? "guard: rate-limited" : "guard: clamped to [min, max]";
    d.replicas = final_count;
    if (!d.vertical()) return;
    // A vertical change the guard drops is named beside a count it changed,
    // so the log says both (reasons are literals: one per combination).
    const auto vertical_reason = [&](std::string_view alone, std::string_view after_rate_limit, std::string_view after_clamp) {
        if (!own) return;
        d.reason = !replicas_changed ? alone : rate_limited ? after_rate_limit : after_clamp;
    };
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const auto usable = [](double v) { return std::isnan(v) || (std::isfinite(v) && v > 0); };
    const bool dropped = !usable(d.cpu_limit) || !usable(d.memory_limit_mb);
    if (dropped) {
        if (!usable(d.cpu_limit)) d.cpu_limit = nan;
        if (!usable(d.memory_limit_mb)) d.memory_limit_mb = nan;
        vertical_reason("guard: invalid limit dropped", "guard: rate-limited, invalid limit dropped",
                        "guard: clamped to [min, max], invalid limit dropped");
    }
    if (std::min({std::int64_t{s.replicas}, ready_replicas, std::int64_t{final_count}}) < limits.vertical_min_replicas) {
        if (d.vertical()) {
            vertical_reason("guard: vertical change withheld below vertical_min_replicas",
                            "guard: rate-limited, vertical change withheld below vertical_min_replicas",
                            "guard: clamped to [min, max], vertical change withheld below vertical_min_replicas");
        }
        d.cpu_limit = d.memory_limit_mb = nan;
        return;
    }
    const double cpu = detail::guard_limit(d.cpu_limit, s.cpu_limit, limits.max_cpu_step, limits.min_cpu_limit, limits.max_cpu_limit);
    const double mem = detail::guard_limit(d.memory_limit_mb, s.memory_limit_mb, limits.max_memory_step_mb,
                                           limits.min_memory_limit_mb, limits.max_memory_limit_mb);
    const bool changed = (!std::isnan(cpu) && cpu != d.cpu_limit) || (!std::isnan(mem) && mem != d.memory_limit_mb);
    // A limit stepped or bounded is named too, after what was said before.
    if (changed) {
        if (dropped) {
            vertical_reason("guard: invalid limit dropped, limit step or bounds",
                            "guard: rate-limited, invalid limit dropped, limit step or bounds",
                            "guard: clamped to [min, max], invalid limit dropped, limit step or bounds");
        } else {
            vertical_reason("guard: limit step or bounds", "guard: rate-limited, limit step or bounds",
                            "guard: clamped to [min, max], limit step or bounds");
        }
    }
    d.cpu_limit = cpu;
    d.memory_limit_mb = mem;
}

/// `d` guarded: see guard_in_place.
[[nodiscard]] inline decision apply_guard(decision d, const scaling_state& s, const guard_config& limits,
                                          std::int64_t ready_replicas) noexcept {
    guard_in_place(d, s, limits, ready_replicas);
    return d;
}

/// As above, for a caller with no metrics at hand: every replica asked for
/// is taken to be ready. A controller passes the metrics' ready count
/// instead (guarded and rl_policy do), so that a cold start withholds a resize.
[[nodiscard]] inline decision apply_guard(decision d, const scaling_state& s, const guard_config& limits) noexcept {
    return apply_guard(d, s, limits, s.replicas);
}

/// A policy made safe to put in a control loop: metrics that fail
/// `check_metrics` never reach the inner policy, and the count stays as it
/// is, even outside [min, max] (a decision on no data is no decision); the
/// inner decision is clamped to [min, max] and to at most `max_step_up` /
/// `max_step_down` from the current count. When the current count is itself
/// outside [min, max], it is brought inside first (bounds win over the rate
/// limit).
template <policy P>
class guarded {
public:
    explicit guarded(P inner, guard_config config = {}) : inner_(std::move(inner)), config_((config.validate(), config)) {}

    [[nodiscard]] bool ready() const noexcept { return inner_.ready(); }
    [[nodiscard]] P& inner() noexcept { return inner_; }
    [[nodiscard]] const guard_config& config() const noexcept { return config_; }

    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        if (const encode_status status = check_metrics(m); !status) return keep(s, "guard: invalid metrics");
        decision d = inner_.decide(m, s);
        guard_in_place(d, s, config_, m.ready_replicas);
        return d;
    }

private:
    P inner_;
    guard_config config_;
};

}  // namespace rlscale
