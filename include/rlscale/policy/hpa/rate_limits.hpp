#pragma once

/// The rate limits and stabilisation of the HPA controller (kubernetes/
/// kubernetes pkg/controller/podautoscaler/horizontal.go): the remembered
/// recommendations and scale events, the stabilisation over them (legacy
/// scale-down window, or the per-direction windows of `behavior`), the rate
/// policies of `behavior` and the legacy scale-up limit. Pure functions over
/// the history the controller keeps. See docs/hpa.md.

#include <rlscale/policy/hpa/config.hpp>
#include <rlscale/policy/hpa/rounding.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>

namespace rlscale::hpa {

/// A recommendation remembered for stabilisation (timestampedRecommendation).
struct recommendation {
    int replicas = 0;   ///< unstabilised recommendation
    double time_s = 0;  ///< when it was made, controller clock
};

/// A scaling the controller made (timestampedScaleEvent).
struct scale_event {
    int replica_change = 0;  ///< pods added (scale-up events) or removed (scale-down events), > 0
    double time_s = 0;       ///< when, controller clock
    bool outdated = false;   ///< older than the longest policy period at the last store: its slot may be reused
};

/// Pods added (or removed) by `events` within the last `period_s` seconds (getReplicasChangePerPeriod).
[[nodiscard]] inline std::int64_t replicas_changed_in_period(double period_s, std::span<const scale_event> events,
                                                             double now_s) noexcept {
    const double cutoff = now_s - period_s;
    std::int64_t changed = 0;
    for (const scale_event& e : events) {
        if (e.time_s > cutoff) changed += e.replica_change;
    }
    return changed;
}

/// The replica count at the start of a rate policy's period: the current
/// count with the period's scale-ups taken off and its scale-downs put back.
[[nodiscard]] inline std::int64_t period_start(int current, std::span<const scale_event> up_events,
                                               std::span<const scale_event> down_events, double period_s,
                                               double now_s) noexcept {
    return static_cast<std::int64_t>(current) - replicas_changed_in_period(period_s, up_events, now_s) +
           replicas_changed_in_period(period_s, down_events, now_s);
}

/// Largest count the scale-up rules allow (calculateScaleUpLimitWithScalingRules):
/// from the count at each period's start, `+ value` pods or `⌈× (1 + value %)⌉`,
/// the largest (select Max) or smallest (Min) over the policies; Disabled keeps `current`.
[[nodiscard]] inline int scale_up_limit(int current, std::span<const scale_event> up_events,
                                        std::span<const scale_event> down_events, const scaling_rules& rules,
                                        double now_s) noexcept {
    if (rules.select == select_policy::disabled) return current;
    const bool take_min = rules.select == select_policy::min;
    std::int64_t result = take_min ? std::numeric_limits<std::int32_t>::max() : std::numeric_limits<std::int32_t>::min();
    for (const scaling_policy& p : rules.policies) {
        const double period = static_cast<double>(p.period_seconds);
        const std::int64_t start = period_start(current, up_events, down_events, period, now_s);
        std::int64_t proposed = 0;
        if (p.type == scaling_policy_type::pods) {
            proposed = start + p.value;
        } else {
            proposed = detail::ceil_to_int(static_cast<double>(start) * (1.0 + static_cast<double>(p.value) / 100.0));
        }
        result = take_min ? std::min(result, proposed) : std::max(result, proposed);
    }
    return detail::clamp_to_int(result);
}

/// Smallest count the scale-down rules allow (calculateScaleDownLimitWithBehaviors):
/// from the count at each period's start, `- value` pods or `trunc(× (1 - value %))`,
/// the lowest (select Max: the largest change) or highest (Min); Disabled keeps `current`.
[[nodiscard]] inline int scale_down_limit(int current, std::span<const scale_event> up_events,
                                          std::span<const scale_event> down_events, const scaling_rules& rules,
                                          double now_s) noexcept {
    if (rules.select == select_policy::disabled) return current;
    const bool take_min_change = rules.select == select_policy::min;
    std::int64_t result = take_min_change ? std::numeric_limits<std::int32_t>::min() : std::numeric_limits<std::int32_t>::max();
    for (const scaling_policy& p : rules.policies) {
        const double period = static_cast<double>(p.period_seconds);
        const std::int64_t start = period_start(current, up_events, down_events, period, now_s);
        std::int64_t proposed = 0;
        if (p.type == scaling_policy_type::pods) {
            proposed = start - p.value;
        } else {
            proposed = detail::trunc_to_int(static_cast<double>(start) * (1.0 - static_cast<double>(p.value) / 100.0));
        }
        result = take_min_change ? std::max(result, proposed) : std::min(result, proposed);
    }
    return detail::clamp_to_int(result);
}

/// Legacy bounds (convertDesiredReplicasWithRules): `desired` within
/// [min, min(max, max(factor × current, minimum))].
[[nodiscard]] inline int legacy_bounded_replicas(int current, int desired, int min_replicas, int max_replicas, double factor,
                                                 int minimum) noexcept {
    const int limit = detail::trunc_to_int(std::max(factor * static_cast<double>(current), static_cast<double>(minimum)));
    const int maximum_allowed = max_replicas > limit ? limit : max_replicas;
    if (desired < min_replicas) return min_replicas;
    if (desired > maximum_allowed) return maximum_allowed;
    return desired;
}


/// Legacy stabilisation (stabilizeRecommendation): the highest of `desired`
/// and the recommendations of the last `window_s` seconds (the scale-down
/// window) of `history`.
[[nodiscard]] inline int legacy_stabilized(std::span<const recommendation> history, int desired, double now_s,
                                           double window_s) noexcept {
    const double cutoff = now_s - window_s;
    int highest = desired;
    for (const recommendation& r : history) {
        if (!(r.time_s < cutoff) && r.replicas > highest) highest = r.replicas;
    }
    return highest;
}

/// Stabilisation with `behavior` (stabilizeRecommendationWithBehaviors):
/// up_rec = min over the scale-up window, down_rec = max over the scale-down
/// window (both including `desired`); from `current`, raise to up_rec, lower
/// to down_rec.
[[nodiscard]] inline int behavior_stabilized(std::span<const recommendation> history, int current, int desired, double now_s,
                                             double up_window_s, double down_window_s) noexcept {
    const double up_cutoff = now_s - up_window_s;
    const double down_cutoff = now_s - down_window_s;
    int up_rec = desired;
    int down_rec = desired;
    for (const recommendation& r : history) {
        if (r.time_s > up_cutoff) up_rec = std::min(up_rec, r.replicas);
        if (r.time_s > down_cutoff) down_rec = std::max(down_rec, r.replicas);
    }
    int stabilized = current;
    if (stabilized < up_rec) stabilized = up_rec;
    if (stabilized > down_rec) stabilized = down_rec;
    return stabilized;
}

}  // namespace rlscale::hpa
