#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/saturating.hpp>

#include <algorithm>
#include <string>
#include <utility>

namespace rlscale {

/// Limits of `guarded`: how far one decision may move the replicas.
struct guard_config {
    int max_step_up = 4;    ///< most replicas added in one tick
    int max_step_down = 2;  ///< most replicas removed in one tick

    void validate() const { check_fields("guard_config").at_least("max_step_up", max_step_up, 0).at_least("max_step_down", max_step_down, 0); }
};

/// `d` limited to at most `limits.max_step_up` / `max_step_down` from the
/// current count and to [min, max] of `s`. When the current count is itself
/// outside [min, max], it is brought inside first (bounds win over the rate
/// limit). A policy's own decision that had to change says why. Exact for
/// every int input: the step arithmetic saturates instead of overflowing.
[[nodiscard]] inline decision apply_guard(decision d, const scaling_state& s, const guard_config& limits) noexcept {
    const replica_bounds bounds = replica_bounds::of(s);
    const int current = bounds.clamp(s.replicas);
    const int limited = std::clamp(d.replicas, saturating_sub(current, std::max(0, limits.max_step_down)),
                                   saturating_add(current, std::max(0, limits.max_step_up)));
    const int final_count = bounds.clamp(limited);
    if (final_count != d.replicas && d.source == decision_source::policy) {
        d.reason = final_count == limited ? "guard: rate-limited" : "guard: clamped to [min, max]";
    }
    d.replicas = final_count;
    return d;
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
        return apply_guard(inner_.decide(m, s), s, config_);
    }

private:
    P inner_;
    guard_config config_;
};

}  // namespace rlscale
