#pragma once

/// The Kubernetes Horizontal Pod Autoscaler as an rlscale `policy`:
/// hpa_policy is the HPA controller (rlscale::hpa::controller, in
/// <rlscale/policy/hpa/>) plus decide(), which builds the controller's input
/// from an aggregate function_metrics sample. This header also names the HPA
/// types in namespace rlscale (hpa_config, hpa_behavior, ...). See
/// docs/hpa.md.

#include <rlscale/core/concepts.hpp>
#include <rlscale/policy/hpa/hpa.hpp>
#include <rlscale/policy/input_check.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace rlscale {

// The HPA's types under their rlscale names.
using hpa_pod = hpa::pod;                        ///< one pod of the scale target
using hpa_input = hpa::input;                    ///< one controller sync's view of the scale target
using hpa_metric = hpa::metric;                  ///< one metric spec with its target
using hpa_scaling_policy = hpa::scaling_policy;  ///< one rate policy (HPAScalingPolicy)
using hpa_scaling_rules = hpa::scaling_rules;    ///< rules for one direction (HPAScalingRules)
using hpa_behavior = hpa::behavior;              ///< scaling behavior (HorizontalPodAutoscalerBehavior)
using hpa_config = hpa::config;                  ///< an HPA object plus the controller flags
using hpa_recommendation = hpa::recommendation;  ///< a recommendation remembered for stabilisation
using hpa_scale_event = hpa::scale_event;        ///< a scaling the controller made
using hpa_evaluation = hpa::evaluation;          ///< what the last sync saw
using hpa::metric_observation;
using hpa::metric_source;
using hpa::metric_target;
using hpa::pod_condition;
using hpa::pod_phase;
using hpa::pod_sample;
using hpa::replica_calculator;
using hpa::replica_proposal;
using hpa::resource_name;
using hpa::scaling_policy_type;
using hpa::select_policy;
using hpa::legacy_bounded_replicas;
using hpa::period_start;
using hpa::replicas_changed_in_period;
using hpa::scale_down_limit;
using hpa::scale_up_limit;

/// The HPA controller (every member of hpa::controller: compute(), the
/// normalisation steps, the history) as an rlscale policy. compute() and
/// decide() never allocate: the history and the pods decide() synthesises
/// (hpa_config::max_pods) are reserved at construction.
class hpa_policy : public hpa::controller {
public:
    /// Validates and copies `c`; reserves the history and the pods decide() synthesises.
    explicit hpa_policy(hpa_config c = {}) : hpa::controller(std::move(c)) {
        pods_.resize(config().max_pods);
        samples_.resize(config().max_pods);
        decide_metric_[0] = hpa_metric::resource_utilization(resource_name::cpu, 80);
        for (const hpa_metric& m : config().metrics) {
            if (m.source == metric_source::resource && m.resource == resource_name::cpu && m.target == metric_target::utilization) {
                decide_metric_[0] = m;
                break;
            }
        }
    }

    /// hpa::controller::restore_history, which also forgets the change the
    /// last decide() asked for (it belongs to the history replaced). It
    /// hides the base's, which is not virtual: called through an
    /// hpa::controller&, the pending change stays.
    void restore_history(std::span<const hpa_recommendation> recommendations, std::span<const hpa_scale_event> up = {},
                         std::span<const hpa_scale_event> down = {}) {
        hpa::controller::restore_history(recommendations, up, down);
        last_change_.reset();
    }

    /// Always ready: the HPA needs no training.
    [[nodiscard]] bool ready() const noexcept { return true; }

    /// The rlscale policy interface: one CPU-utilisation metric (the config's
    /// first, else 80 %) from `m.cpu_utilization` over `m.ready_replicas`
    /// ready pods, with `m.starting_replicas` running-but-unready pods and
    /// `m.pending_replicas` pending pods; bounds from `s`, clock `s.time_s`.
    /// Holds (the current count, within the bounds) on a non-finite or
    /// negative input, too many pods, no usable metric, or a target at zero
    /// with a non-zero minimum (Kubernetes: scaling disabled). It never asks
    /// for more than hpa_config::max_pods replicas (the pods it can
    /// synthesise), so it does not scale itself into a count it must hold.
    ///
    /// Its scale events (what the behavior's rate policies count) are the
    /// changes made, not those decided: Kubernetes stores one only after
    /// its scale update succeeded, and a decision here may be cut by a guard,
    /// refused by the cluster, or not acted on at all (the fallback under a
    /// learned policy decides every tick). So each call first records, at
    /// the last decision's time, how far the count `s.replicas` moved from
    /// the last decision's count toward its target: all of it, part of it
    /// (a guard's step limit), or nothing (a failed update, a hold, a move
    /// the other way). A move by someone else in the same direction counts
    /// too, up to the decided target: the history holds the part of the
    /// decided change that the count shows made.
    ///
    /// A clock more than hpa_config::max_clock_backwards_s (1 s) before the
    /// newest recommendation, scale event or pending change (a new run or
    /// episode whose clock starts again, as the simulator's reset() does)
    /// starts a new history: all three are dropped and the call decides as a
    /// fresh hpa_policy would. A clock less far back is jitter and keeps them.
    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        const double now = s.time_s;
        // Before the pending change is recorded: it belongs to the earlier
        // history, and recorded at its own (later) time it would outlive it.
        if (clock_went_back(now, last_change_ ? last_change_->time_s : -std::numeric_limits<double>::infinity())) {
            last_change_.reset();
            start_new_history();
        }
        record_last_change(s.replicas);
        if (!std::isfinite(now)) return hold(s, "hpa: clock is not finite");
        if (!(std::isfinite(m.cpu_utilization) && m.cpu_utilization >= 0)) return hold(s, "hpa: cpu_utilization is not finite and non-negative");
        if (!(std::isfinite(m.cpu_limit) && m.cpu_limit >= 0)) return hold(s, "hpa: cpu_limit is not finite and non-negative");
        if (!(std::isfinite(s.cpu_limit) && s.cpu_limit >= 0)) return hold(s, "hpa: state cpu_limit is not finite and non-negative");
        const std::uint64_t n_ready = m.ready_replicas;
        const std::uint64_t n_total = n_ready + m.starting_replicas + m.pending_replicas;
        if (n_total > pods_.size()) return hold(s, "hpa: more pods than hpa_config::max_pods");
        const double limit = m.cpu_limit > 0 ? m.cpu_limit : (s.cpu_limit > 0 ? s.cpu_limit : 1.0);
        const double request_d = std::clamp(std::round(limit * 1000.0), 1.0, 1e15);
        const double usage_d = std::clamp(std::round(m.cpu_utilization * request_d), 0.0, 1e15);
        const auto request = static_cast<std::int64_t>(request_d);
        const auto usage = static_cast<std::int64_t>(usage_d);
        // Ready pods started long ago; starting pods started now, not ready;
        // pending pods not scheduled. Samples are fresh.
        const double long_ago = now - 2.0 * (config().cpu_initialization_period_s + config().delay_of_initial_readiness_s) - 3600.0;
        std::size_t i = 0;
        for (; i < n_ready; ++i) {
            pods_[i] = {pod_phase::running, pod_condition::ready, long_ago, long_ago, request, {}, false};
            samples_[i] = {usage, now, 60};
        }
        for (std::uint64_t k = 0; k < m.starting_replicas; ++k, ++i) {
            pods_[i] = {pod_phase::running, pod_condition::not_ready, now, now, request, {}, false};
            samples_[i] = {std::int64_t{0}, now, 60};
        }
        for (std::uint64_t k = 0; k < m.pending_replicas; ++k, ++i) {
            pods_[i] = {pod_phase::pending, pod_condition::not_ready, std::nan(""), now, request, {}, false};
            samples_[i] = {};
        }
        const metric_observation obs{std::span<const pod_sample>(samples_.data(), i), {}, {}, false};
        const hpa_input in{s.replicas, std::span<const hpa_pod>(pods_.data(), i), std::span<const metric_observation>(&obs, 1), -1};
        const replica_bounds b = replica_bounds::of(s);
        // Never past the pods it can synthesise: above max_pods it could
        // only hold, in both directions, so it stops there instead.
        // (A count already above it stays the bound, so the cap never forces a scale-in.)
        const int upper = std::max(static_cast<int>(std::min<std::int64_t>(b.upper, static_cast<std::int64_t>(pods_.size()))),
                                   b.clamp(s.replicas));
        const int n = recommend(decide_metric_, in, now, b.lower, upper);
        if (last_evaluation().metrics_failed || n < b.lower || n > upper) {
            // No usable metric, or a target at zero that Kubernetes leaves
            // alone (scaling disabled): keep the count, brought within bounds
            // (unlike Kubernetes, which leaves a count of 0 below a minimum of 1).
            return hold(s, last_evaluation().reason);
        }
        if (n != s.replicas) last_change_ = decided_change{s.replicas, n, now};
        return {.replicas = n, .source = decision_source::policy, .reason = last_evaluation().reason};
    }

private:
    /// A change decide() asked for, whose scale event waits for the count
    /// the next call sees.
    struct decided_change {
        int from = 0;
        int to = 0;
        double time_s = 0;
    };

    /// Records the part of the last decided change that `current` shows
    /// made (see decide()), and forgets it.
    void record_last_change(int current) noexcept {
        if (!last_change_) return;
        const decided_change c = *last_change_;
        last_change_.reset();
        const std::int64_t asked = std::int64_t{c.to} - c.from;
        const std::int64_t moved = std::int64_t{current} - c.from;
        const std::int64_t made = asked > 0 ? std::clamp<std::int64_t>(moved, 0, asked) : std::clamp<std::int64_t>(moved, asked, 0);
        if (made != 0) record_scale_event(c.from, static_cast<int>(c.from + made), c.time_s);
    }

    std::optional<decided_change> last_change_;
    std::vector<hpa_pod> pods_;
    std::vector<pod_sample> samples_;
    std::array<hpa_metric, 1> decide_metric_{};
};
static_assert(policy<hpa_policy>);

}  // namespace rlscale
