#pragma once

/// The Kubernetes HPA controller for one scale target (kubernetes/kubernetes
/// pkg/controller/podautoscaler/horizontal.go, reconcileAutoscaler): several
/// metrics through the replica calculator, the replica bounds, then the
/// legacy normalisation or `behavior`, with the history of recommendations
/// and scale events that needs. See docs/hpa.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/reserved_vector.hpp>
#include <rlscale/policy/hpa/config.hpp>
#include <rlscale/policy/hpa/rate_limits.hpp>
#include <rlscale/policy/hpa/replica_calculator.hpp>
#include <rlscale/policy/hpa/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace rlscale::hpa {

/// What the last compute() saw, for logs and tests.
struct evaluation {
    int metric_replicas = -1;          ///< largest valid proposal over the metrics; -1 = none used
    int invalid_metrics = 0;           ///< metrics that gave no proposal
    int desired = 0;                   ///< the answer
    bool metrics_failed = false;       ///< no usable proposal: the current count was kept
    std::string_view reason = "hpa: not run";  ///< why (a string literal)
};

/// The Kubernetes HPA controller for one scale target. Stateful: it keeps
/// the unstabilised recommendations and the scale events of the last
/// stabilisation window and policy period (at most
/// config::history_capacity of each, reserved at construction; beyond
/// that the oldest entry is overwritten, which only matters when more than
/// that many syncs fall inside one window). compute() never allocates.
///
/// A clock more than config::max_clock_backwards_s (1 s) before the newest
/// recommendation's or scale event's (a new run or episode whose clock
/// starts again) starts a new history: the recommendations and scale events
/// are dropped and the sync goes on as a fresh controller's would at that
/// time (its first sync records the initial recommendation again). Kept,
/// entries stamped after the clock would count as inside every window and
/// period, so the earlier run's recommendations would hold the count for as
/// long as the clock takes to pass them. A clock less far back is jitter and
/// the history is read as it is. Every step that takes a time (recommend,
/// compute, normalize, stabilize, record_scale_event) checks this first;
/// limit(), which records nothing, reads no scale events then.
///
/// A clock that is not finite is no time to record at: those steps hold
/// (return the current count; recommend and compute with the reason
/// "hpa: clock is not finite") and record nothing, the history kept.
/// Recorded, a NaN-stamped entry would count as inside every window and
/// period for ever (no comparison with NaN puts it outside) and never
/// leave its slot; restore_history() refuses one for the same reason.
class controller {
public:
    /// Validates and copies `c`; reserves the history.
    explicit controller(hpa::config c = {}) : config_(prepared(std::move(c))) {
        calc_ = {config_.tolerance, config_.cpu_initialization_period_s, config_.delay_of_initial_readiness_s, std::nullopt,
                 std::nullopt};
        if (config_.behavior) {  // tolerancesForHpa: per-direction tolerances come with `behavior`
            calc_.scale_down_tolerance = config_.behavior->scale_down.tolerance;
            calc_.scale_up_tolerance = config_.behavior->scale_up.tolerance;
        }
        recommendations_.reserve(config_.history_capacity);
        up_events_.reserve(config_.history_capacity);
        down_events_.reserve(config_.history_capacity);
    }

    /// The configuration in use (metrics defaulted).
    [[nodiscard]] const hpa::config& config() const noexcept { return config_; }
    /// The replica calculator in use.
    [[nodiscard]] const replica_calculator& calculator() const noexcept { return calc_; }
    /// What the last compute() saw.
    [[nodiscard]] const evaluation& last_evaluation() const noexcept { return last_; }
    /// Recommendations remembered for stabilisation.
    [[nodiscard]] std::span<const recommendation> recommendations() const noexcept { return recommendations_; }
    /// Scale-up events remembered for the rate policies.
    [[nodiscard]] std::span<const scale_event> scale_up_events() const noexcept { return up_events_; }
    /// Scale-down events remembered for the rate policies.
    [[nodiscard]] std::span<const scale_event> scale_down_events() const noexcept { return down_events_; }

    /// Replaces the history (a restart from saved state, or a test's fixture).
    /// Afterwards no initial recommendation is recorded, as in Kubernetes when
    /// the controller already knows the HPA. A later step whose clock is more
    /// than max_clock_backwards_s before the newest restored entry starts a
    /// new history, as for entries recorded here. Throws config_error beyond
    /// capacity or on a time that is not finite (an entry stamped NaN would
    /// count as inside every window for ever), the history then unchanged.
    void restore_history(std::span<const recommendation> recommendations, std::span<const scale_event> up = {},
                         std::span<const scale_event> down = {}) {
        const auto check = [this](const char* f, std::size_t n) {
            if (n > config_.history_capacity) {
                check_fields("hpa_policy")
                    .fail(f, "hold at most history_capacity (" + format_number(config_.history_capacity) + ") entries", n);
            }
        };
        check("recommendations", recommendations.size());
        check("scale_up_events", up.size());
        check("scale_down_events", down.size());
        const auto check_times = [](const char* f, const auto& entries) {
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (!std::isfinite(entries[i].time_s)) {
                    check_fields("hpa_policy").finite(std::string(f) + "[" + std::to_string(i) + "].time_s", entries[i].time_s);
                }
            }
        };
        check_times("recommendations", recommendations);
        check_times("scale_up_events", up);
        check_times("scale_down_events", down);
        recommendations_.assign(recommendations.begin(), recommendations.end());
        up_events_.assign(up.begin(), up.end());
        down_events_.assign(down.begin(), down.end());
        initialized_ = true;
        newest_s_ = -std::numeric_limits<double>::infinity();
        for (const recommendation& r : recommendations_) newest_s_ = std::max(newest_s_, r.time_s);
        for (const scale_event& e : up_events_) newest_s_ = std::max(newest_s_, e.time_s);
        for (const scale_event& e : down_events_) newest_s_ = std::max(newest_s_, e.time_s);
    }

    /// One controller sync (reconcileAutoscaler): the replica count to set.
    /// Several metrics: the largest proposal wins; failed metrics block the
    /// sync if all fail or if the rest would scale down. Then the legacy
    /// clamp and stabilisation, or `behavior`.
    [[nodiscard]] int compute(const input& in, double now_s) noexcept {
        return compute(config_.metrics, in, now_s, config_.min_replicas, config_.max_replicas);
    }

    /// One controller sync as compute(in, now_s), with `specs` in place of the
    /// config's metrics (`in.metrics` follows `specs`) and the replica bounds
    /// [min_replicas, max_replicas] in place of the config's.
    [[nodiscard]] int compute(std::span<const metric> specs, const input& in, double now_s, int min_replicas,
                              int max_replicas) noexcept {
        const int desired = recommend(specs, in, now_s, min_replicas, max_replicas);
        if (desired != in.current_replicas) store_scale_event(in.current_replicas, desired, now_s);
        return desired;
    }

    /// compute(specs, in, now_s, min_replicas, max_replicas) without its
    /// scale event: the count to set, with the recommendation recorded, for
    /// a caller that records the event once the change is made
    /// (record_scale_event), as Kubernetes stores it only after the scale
    /// update succeeded.
    [[nodiscard]] int recommend(std::span<const metric> specs, const input& in, double now_s, int min_replicas,
                                int max_replicas) noexcept {
        const int current = in.current_replicas;
        last_ = {-1, 0, current, false, "hpa: no change"};
        // Before the initial recommendation, which a new history records again.
        if (!clock_usable(now_s)) {
            last_.reason = "hpa: clock is not finite";
            return current;
        }
        if (!initialized_) {  // recordInitialRecommendation
            push_recommendation({current, now_s}, -std::numeric_limits<double>::infinity());
            initialized_ = true;
        }
        int desired = 0;
        if (current == 0 && min_replicas != 0) {
            last_.reason = "hpa: scaling disabled at zero replicas";
            return current;
        }
        if (current > max_replicas) {
            desired = max_replicas;
            last_.reason = "hpa: current above max_replicas";
        } else if (current < min_replicas) {
            desired = min_replicas;
            last_.reason = "hpa: current below min_replicas";
        } else {
            // computeReplicasForMetrics: the largest valid proposal.
            int best = 0;
            bool have = false;
            int invalid = 0;
            for (std::size_t i = 0; i < specs.size(); ++i) {
                const metric_observation* obs = i < in.metrics.size() ? &in.metrics[i] : nullptr;
                const replica_proposal p = proposal(specs[i], obs, in, now_s);
                if (!p.ok()) {
                    ++invalid;
                    continue;
                }
                if (!have || p.replicas > best) best = p.replicas;
                have = true;
            }
            last_.invalid_metrics = invalid;
            if (static_cast<std::size_t>(invalid) >= specs.size() || (invalid > 0 && best < current)) {
                last_.metrics_failed = true;
                last_.reason = invalid > 0 && have ? "hpa: metrics invalid, no scale down on partial metrics" : "hpa: no valid metric";
                return current;
            }
            last_.metric_replicas = best;
            desired = std::max(0, best);
            desired = normalize(current, desired, now_s, min_replicas, max_replicas);
            last_.reason = desired > current ? "hpa: scale up" : desired < current ? "hpa: scale down" : "hpa: no change";
        }
        last_.desired = desired;
        return desired;
    }

    /// The normalisation step alone (normalizeDesiredReplicas or
    /// normalizeDesiredReplicasWithBehaviors): stabilises `desired`, applies
    /// the bounds and rate limits, and records the recommendation; it does not
    /// record a scale event. Holds (`current`, nothing recorded) on a clock
    /// that is not finite.
    [[nodiscard]] int normalize(int current, int desired, double now_s) noexcept {
        if (!clock_usable(now_s)) return current;
        return normalize(current, desired, now_s, config_.min_replicas, config_.max_replicas);
    }

    /// The stabilisation step alone (stabilizeRecommendation, or
    /// stabilizeRecommendationWithBehaviors with `behavior`): the stabilised
    /// recommendation for `desired`, which is recorded; no bounds, no rate
    /// limits. Holds (`current`, nothing recorded) on a clock that is not
    /// finite.
    [[nodiscard]] int stabilize(int current, int desired, double now_s) noexcept {
        if (!clock_usable(now_s)) return current;
        if (!config_.behavior) return stabilize_legacy(desired, now_s);
        return stabilize_with_behavior(current, desired, now_s);
    }

    /// The limiting step alone (convertDesiredReplicasWithRules, or
    /// convertDesiredReplicasWithBehaviorRate with `behavior`): `desired`
    /// within the bounds and the legacy scale-up limit or the rate policies
    /// over the recorded scale events. Records nothing: a clock more than
    /// max_clock_backwards_s before the newest entry reads no scale events,
    /// as a fresh controller would (the next recording step drops them).
    [[nodiscard]] int limit(int current, int desired, double now_s) const noexcept {
        if (!config_.behavior) {
            return legacy_bounded_replicas(current, desired, config_.min_replicas, config_.max_replicas,
                                           config_.legacy_scale_up_factor, config_.legacy_scale_up_minimum);
        }
        if (clock_went_back(now_s)) return rate_limited(current, desired, now_s, config_.min_replicas, config_.max_replicas, {}, {});
        return rate_limited(current, desired, now_s, config_.min_replicas, config_.max_replicas, up_events_, down_events_);
    }

    /// Records that the target was scaled from `previous` to `next` at
    /// `now_s` (storeScaleEvent; compute() does this itself). Without
    /// `behavior` nothing is kept, as no rate policy reads it; nor at a
    /// clock that is not finite.
    void record_scale_event(int previous, int next, double now_s) noexcept {
        if (!clock_usable(now_s)) return;
        if (next != previous) store_scale_event(previous, next, now_s);
    }

protected:
    /// Whether `now_s` is more than max_clock_backwards_s before the newest
    /// recommendation or scale event, or before `also_s` (a caller's own
    /// entry to be recorded, as hpa_policy's pending change): a new run
    /// whose clock starts again. False on an empty history and on a clock
    /// that is not finite (hpa_policy::decide and the steps here hold on it,
    /// the history kept).
    [[nodiscard]] bool clock_went_back(double now_s, double also_s = -std::numeric_limits<double>::infinity()) const noexcept {
        return std::isfinite(now_s) && std::max(newest_s_, also_s) - now_s > config_.max_clock_backwards_s;
    }

    /// Starts a new history: drops the recommendations and scale events (the
    /// capacity stays reserved) and records the initial recommendation again
    /// at the next sync, as a fresh controller does.
    void start_new_history() noexcept {
        recommendations_.clear();
        up_events_.clear();
        down_events_.clear();
        initialized_ = false;
        newest_s_ = -std::numeric_limits<double>::infinity();
    }

    /// Whether a step may record at `now_s`, which every step that records
    /// at a time asks first: false on a clock that is not finite (the step
    /// holds and records nothing); otherwise true, after start_new_history()
    /// when clock_went_back(now_s).
    [[nodiscard]] bool clock_usable(double now_s) noexcept {
        if (!std::isfinite(now_s)) return false;
        if (clock_went_back(now_s)) start_new_history();
        return true;
    }

private:
    static hpa::config prepared(hpa::config c) {
        c.validate();
        if (c.metrics.empty()) c.metrics.push_back(metric::resource_utilization(resource_name::cpu, 80));
        return c;
    }

    /// One metric's proposal (computeReplicasForMetric).
    [[nodiscard]] replica_proposal proposal(const metric& spec, const metric_observation* obs, const input& in,
                                            double now_s) const noexcept {
        if (obs == nullptr || obs->failed) return replica_proposal::failure("metric unavailable");
        const int current = in.current_replicas;
        switch (spec.source) {
            case metric_source::resource:
                if (spec.target == metric_target::utilization) {
                    return calc_.resource_replicas(current, spec.average_utilization, spec.resource, in.pods, *obs, now_s);
                }
                return calc_.raw_resource_replicas(current, spec.target_milli, spec.resource, in.pods, *obs, now_s);
            case metric_source::pods:
                return calc_.pods_metric_replicas(current, spec.target_milli, in.pods, *obs, now_s);
            case metric_source::object:
                if (obs->values.empty()) return replica_proposal::failure("no object metric value");
                if (spec.target == metric_target::value) {
                    return calc_.object_replicas(current, spec.target_milli, obs->values.front(), in.pods);
                }
                return calc_.object_per_pod_replicas(in.status_or_current(), spec.target_milli, obs->values.front());
            case metric_source::external:
                if (spec.target == metric_target::value) {
                    return calc_.external_replicas(current, spec.target_milli, obs->values, in.pods);
                }
                return calc_.external_per_pod_replicas(in.status_or_current(), spec.target_milli, obs->values);
        }
        return replica_proposal::failure("unknown metric source");
    }

    int normalize(int current, int desired, double now_s, int min_replicas, int max_replicas) noexcept {
        if (!config_.behavior) {
            const int stabilized = stabilize_legacy(desired, now_s);
            return legacy_bounded_replicas(current, stabilized, min_replicas, max_replicas, config_.legacy_scale_up_factor,
                                           config_.legacy_scale_up_minimum);
        }
        const int stabilized = stabilize_with_behavior(current, desired, now_s);
        return rate_limited(current, stabilized, now_s, min_replicas, max_replicas, up_events_, down_events_);
    }

    [[nodiscard]] double up_window() const noexcept {
        return static_cast<double>(config_.behavior->scale_up.stabilization_window_seconds.value_or(0));
    }
    [[nodiscard]] double down_window() const noexcept {
        const auto& w = config_.behavior->scale_down.stabilization_window_seconds;
        return w ? static_cast<double>(*w) : config_.downscale_stabilization_s;
    }

    /// Stores `rec`, reusing the last slot older than `obsolete_before`; when full, the oldest.
    void push_recommendation(recommendation rec, double obsolete_before) noexcept {
        newest_s_ = std::max(newest_s_, rec.time_s);
        std::size_t reuse = recommendations_.size();
        for (std::size_t i = 0; i < recommendations_.size(); ++i) {
            if (recommendations_[i].time_s < obsolete_before) reuse = i;
        }
        if (reuse < recommendations_.size()) {
            recommendations_[reuse] = rec;
        } else if (recommendations_.size() < config_.history_capacity) {
            recommendations_.push_back(rec);  // within the reserved capacity: no allocation
        } else {
            auto oldest = std::min_element(recommendations_.begin(), recommendations_.end(),
                                           [](const auto& a, const auto& b) { return a.time_s < b.time_s; });
            *oldest = rec;
        }
    }

    /// stabilizeRecommendation: the highest recommendation within the
    /// downscale window; records `desired`.
    int stabilize_legacy(int desired, double now_s) noexcept {
        const int highest = legacy_stabilized(recommendations_, desired, now_s, config_.downscale_stabilization_s);
        push_recommendation({desired, now_s}, now_s - config_.downscale_stabilization_s);
        return highest;
    }

    /// stabilizeRecommendationWithBehaviors over the two windows; records `desired`.
    int stabilize_with_behavior(int current, int desired, double now_s) noexcept {
        const double up = up_window();
        const double down = down_window();
        const int stabilized = behavior_stabilized(recommendations_, current, desired, now_s, up, down);
        push_recommendation({desired, now_s}, std::min(now_s - up, now_s - down));
        return stabilized;
    }

    /// convertDesiredReplicasWithBehaviorRate: rate policies over the scale
    /// events `up` and `down`, then the bounds.
    [[nodiscard]] int rate_limited(int current, int desired, double now_s, int min_replicas, int max_replicas,
                                   std::span<const scale_event> up, std::span<const scale_event> down) const noexcept {
        const hpa::behavior& b = *config_.behavior;
        if (desired > current) {
            const int limit = std::max(current, scale_up_limit(current, up, down, b.scale_up, now_s));
            const int maximum_allowed = std::min(max_replicas, limit);
            return desired > maximum_allowed ? maximum_allowed : desired;
        }
        if (desired < current) {
            const int limit = std::min(current, scale_down_limit(current, up, down, b.scale_down, now_s));
            const int minimum_allowed = std::max(min_replicas, limit);
            return desired < minimum_allowed ? minimum_allowed : desired;
        }
        return desired;
    }

    /// storeScaleEvent: marks events older than the longest period outdated and reuses the last such slot.
    void store_scale_event(int previous, int next, double now_s) noexcept {
        if (!config_.behavior) return;
        newest_s_ = std::max(newest_s_, now_s);
        const bool up = next > previous;
        const scaling_rules& rules = up ? config_.behavior->scale_up : config_.behavior->scale_down;
        rlscale::detail::reserved_vector<scale_event>& events = up ? up_events_ : down_events_;
        std::int32_t longest = 0;
        for (const scaling_policy& p : rules.policies) longest = std::max(longest, p.period_seconds);
        const double cutoff = now_s - static_cast<double>(longest);
        std::size_t reuse = events.size();
        for (std::size_t i = 0; i < events.size(); ++i) {
            if (events[i].time_s < cutoff) events[i].outdated = true;
            if (events[i].outdated) reuse = i;
        }
        // In 64 bits: a count near the int range's ends (a negative current
        // count, say) must not wrap the change, which the rate limits read.
        const std::int64_t change = up ? std::int64_t{next} - previous : std::int64_t{previous} - next;
        const scale_event e{static_cast<int>(std::min<std::int64_t>(change, std::numeric_limits<std::int32_t>::max())), now_s, false};
        if (reuse < events.size()) {
            events[reuse] = e;
        } else if (events.size() < config_.history_capacity) {
            events.push_back(e);  // within the reserved capacity: no allocation
        } else {
            auto oldest = std::min_element(events.begin(), events.end(), [](const auto& a, const auto& c) { return a.time_s < c.time_s; });
            *oldest = e;
        }
    }

    hpa::config config_;
    replica_calculator calc_;
    // Reserved to history_capacity at construction; copies keep the reservation.
    rlscale::detail::reserved_vector<recommendation> recommendations_;
    rlscale::detail::reserved_vector<scale_event> up_events_;
    rlscale::detail::reserved_vector<scale_event> down_events_;
    bool initialized_ = false;
    /// The latest time among the entries recorded since the history began
    /// (clock_went_back reads it; every time recorded or restored is finite).
    double newest_s_ = -std::numeric_limits<double>::infinity();
    evaluation last_;
};

}  // namespace rlscale::hpa
