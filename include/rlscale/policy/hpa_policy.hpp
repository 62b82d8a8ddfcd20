#pragma once

/// The Kubernetes Horizontal Pod Autoscaler, case by case: the replica
/// calculator (kubernetes/kubernetes pkg/controller/podautoscaler/
/// replica_calculator.go) and the controller's normalisation (horizontal.go:
/// legacy clamp and scale-down stabilisation, or `behavior` with stabilisation
/// windows and rate policies). Quantities are integers in milli-units, as the
/// controller reads them (`Quantity.MilliValue()`), so the integer truncations
/// of Kubernetes are reproduced exactly. See docs/hpa.md.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/reserved_vector.hpp>
#include <rlscale/policy/input_check.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale {

// ---------------------------------------------------------------------------
// What the controller sees: pods and metric observations
// ---------------------------------------------------------------------------

/// Lifecycle of a pod as the HPA classifies it.
enum class pod_phase : std::uint8_t {
    running,    ///< scheduled and started
    pending,    ///< not scheduled or not started yet: counted as unready
    succeeded,  ///< finished; counted like a running pod (Kubernetes does not special-case it)
    failed,     ///< failed: ignored
    deleting,   ///< being deleted, phase unknown: ignored (prefer hpa_pod::deleted with the real phase)
};

/// Status of the pod's `Ready` condition.
enum class pod_condition : std::uint8_t {
    ready,      ///< condition True
    not_ready,  ///< condition False
    unknown,    ///< condition Unknown
    absent,     ///< no Ready condition reported
};

/// One pod of the scale target, as listed by the controller.
struct hpa_pod {
    pod_phase phase = pod_phase::running;            ///< lifecycle phase
    pod_condition readiness = pod_condition::ready;  ///< the Ready condition
    double start_time_s = 0;         ///< when the kubelet started the pod, controller clock; NaN = no start time
    double ready_transition_s = 0;   ///< last transition of the Ready condition, controller clock
    std::optional<std::int64_t> cpu_request_milli = {};     ///< sum of the containers' CPU requests, millicores; none = a container sets none
    std::optional<std::int64_t> memory_request_milli = {};  ///< sum of the containers' memory requests, milli-bytes; none = a container sets none
    bool deleted = false;            ///< has a deletion timestamp: ignored by the metrics, still counted ready by phase and condition for value targets
};

/// One pod's sample of a per-pod metric (resource or pods metric).
struct pod_sample {
    std::optional<std::int64_t> value_milli = {};  ///< the sample in milli-units (millicores for CPU); none = no sample for this pod (missing)
    double timestamp_s = 0;                        ///< end of the sampling window, controller clock
    double window_s = 60;                          ///< length of the sampling window
};

/// What the metrics APIs returned for one metric spec of hpa_config::metrics.
struct metric_observation {
    std::span<const pod_sample> pods = {};       ///< resource and pods metrics: entry i is hpa_input::pods[i] (pods past the end are missing)
    std::span<const std::int64_t> extra = {};    ///< resource and pods metrics: samples of pods not in the pod list (milli-units)
    std::span<const std::int64_t> values = {};   ///< object metric: its value (first entry); external metric: every matching series (summed)
    bool failed = false;                         ///< the metrics API returned an error for this metric
};

/// One controller sync's view of the scale target.
struct hpa_input {
    int current_replicas = 1;                       ///< the target's `spec.replicas`
    std::span<const hpa_pod> pods = {};             ///< every pod the selector matches, in any phase
    std::span<const metric_observation> metrics = {};  ///< one per metric spec, same order; fewer = the rest failed
    int status_replicas = -1;                       ///< the target's `status.replicas` (per-pod object and external targets divide by it); < 0 = current_replicas

    /// The status replica count in use: status_replicas, or current_replicas when unset.
    [[nodiscard]] int status_or_current() const noexcept { return status_replicas >= 0 ? status_replicas : current_replicas; }
};

// ---------------------------------------------------------------------------
// Configuration: metric specs, behavior, the HPA itself
// ---------------------------------------------------------------------------

/// Kind of metric source (autoscaling/v2 MetricSourceType).
enum class metric_source : std::uint8_t {
    resource,  ///< a resource (CPU, memory) of the pods, from the resource metrics API
    pods,      ///< a per-pod custom metric
    object,    ///< a metric describing one Kubernetes object
    external,  ///< a metric from outside the cluster
};

/// Kind of metric target (autoscaling/v2 MetricTargetType).
enum class metric_target : std::uint8_t {
    utilization,    ///< average utilisation, % of the pods' request (resource metrics)
    average_value,  ///< average value per pod
    value,          ///< total value (object and external metrics)
};

/// A resource a resource metric reads; the CPU initialisation rules apply to CPU only.
enum class resource_name : std::uint8_t {
    cpu,     ///< CPU, millicores
    memory,  ///< memory, milli-bytes
};

/// One metric spec with its target.
struct hpa_metric {
    metric_source source = metric_source::resource;  ///< where the metric comes from
    metric_target target = metric_target::utilization;  ///< what is compared with the target
    resource_name resource = resource_name::cpu;     ///< resource metrics: which resource
    std::int32_t average_utilization = 80;           ///< utilisation target, % of request (Kubernetes' default 80)
    std::int64_t target_milli = 0;                   ///< value and average-value targets, milli-units

    /// Resource metric with a target average utilisation, % of request.
    [[nodiscard]] static hpa_metric resource_utilization(resource_name r, std::int32_t percent) noexcept {
        return {metric_source::resource, metric_target::utilization, r, percent, 0};
    }
    /// Resource metric with a target average value per pod, milli-units.
    [[nodiscard]] static hpa_metric resource_average_value(resource_name r, std::int64_t milli) noexcept {
        return {metric_source::resource, metric_target::average_value, r, 0, milli};
    }
    /// Pods metric with a target average value per pod, milli-units.
    [[nodiscard]] static hpa_metric pods_average_value(std::int64_t milli) noexcept {
        return {metric_source::pods, metric_target::average_value, resource_name::cpu, 0, milli};
    }
    /// Object metric with a target total value, milli-units.
    [[nodiscard]] static hpa_metric object_value(std::int64_t milli) noexcept {
        return {metric_source::object, metric_target::value, resource_name::cpu, 0, milli};
    }
    /// Object metric with a target value per pod, milli-units.
    [[nodiscard]] static hpa_metric object_average_value(std::int64_t milli) noexcept {
        return {metric_source::object, metric_target::average_value, resource_name::cpu, 0, milli};
    }
    /// External metric with a target total value, milli-units.
    [[nodiscard]] static hpa_metric external_value(std::int64_t milli) noexcept {
        return {metric_source::external, metric_target::value, resource_name::cpu, 0, milli};
    }
    /// External metric with a target value per pod, milli-units.
    [[nodiscard]] static hpa_metric external_average_value(std::int64_t milli) noexcept {
        return {metric_source::external, metric_target::average_value, resource_name::cpu, 0, milli};
    }

    /// Throws config_error naming `field` if the target does not fit the source or is not positive.
    void validate(const std::string& field) const {
        const bool value_target = target == metric_target::value || target == metric_target::average_value;
        switch (source) {
            case metric_source::resource:
                if (target == metric_target::value) {
                    throw config_error(field + ".target", "a resource metric takes a utilization or average_value target, got value");
                }
                break;
            case metric_source::pods:
                if (target != metric_target::average_value) {
                    throw config_error(field + ".target", "a pods metric takes an average_value target");
                }
                break;
            case metric_source::object:
            case metric_source::external:
                if (!value_target) {
                    throw config_error(field + ".target", "object and external metrics take a value or average_value target");
                }
                break;
        }
        if (target == metric_target::utilization && average_utilization <= 0) {
            throw config_error(field + ".average_utilization", "must be > 0, got " + std::to_string(average_utilization));
        }
        if (value_target && target_milli <= 0) {
            throw config_error(field + ".target_milli", "must be > 0, got " + std::to_string(target_milli));
        }
    }
};

/// Kind of a rate policy (HPAScalingPolicyType).
enum class scaling_policy_type : std::uint8_t {
    pods,     ///< at most `value` pods per period
    percent,  ///< at most `value` % of the count at the period's start per period
};

/// How several rate policies combine (ScalingPolicySelect).
enum class select_policy : std::uint8_t {
    max,       ///< the policy allowing the largest change (Kubernetes' default)
    min,       ///< the policy allowing the smallest change
    disabled,  ///< no scaling in this direction
};

/// One rate policy (HPAScalingPolicy).
struct hpa_scaling_policy {
    scaling_policy_type type = scaling_policy_type::pods;  ///< pods or percent
    std::int32_t value = 4;                                ///< pods, or percent, per period (> 0)
    std::int32_t period_seconds = 15;                      ///< length of the period, seconds (1..1800)
};

/// Rules for one direction (HPAScalingRules).
struct hpa_scaling_rules {
    std::optional<std::int32_t> stabilization_window_seconds = {};  ///< window, seconds (0..3600); none: 0 up, hpa_config::downscale_stabilization_s down
    select_policy select = select_policy::max;                      ///< how the policies combine
    std::vector<hpa_scaling_policy> policies = {};                  ///< rate policies (at least one)
    std::optional<double> tolerance = {};                           ///< this direction's tolerance (HPAScalingRules.tolerance); none = hpa_config::tolerance

    /// Kubernetes' default scale-up rules: window 0 s, Max of {4 pods / 15 s, 100 % / 15 s}.
    [[nodiscard]] static hpa_scaling_rules default_scale_up() {
        return {0, select_policy::max, {{scaling_policy_type::pods, 4, 15}, {scaling_policy_type::percent, 100, 15}}, std::nullopt};
    }
    /// Kubernetes' default scale-down rules: the controller's window (300 s), 100 % / 15 s.
    [[nodiscard]] static hpa_scaling_rules default_scale_down() {
        return {std::nullopt, select_policy::max, {{scaling_policy_type::percent, 100, 15}}, std::nullopt};
    }

    /// Throws config_error naming `field` for a value outside the API's range.
    void validate(const std::string& field) const {
        if (stabilization_window_seconds && (*stabilization_window_seconds < 0 || *stabilization_window_seconds > 3600)) {
            throw config_error(field + ".stabilization_window_seconds",
                               "must be in [0, 3600], got " + std::to_string(*stabilization_window_seconds));
        }
        if (tolerance && !(std::isfinite(*tolerance) && *tolerance >= 0)) {
            throw config_error(field + ".tolerance", "must be finite and >= 0, got " + std::to_string(*tolerance));
        }
        if (policies.empty()) {
            throw config_error(field + ".policies", "must hold at least one policy");
        }
        for (std::size_t i = 0; i < policies.size(); ++i) {
            const std::string f = field + ".policies[" + std::to_string(i) + "]";
            if (policies[i].value <= 0) {
                throw config_error(f + ".value", "must be > 0, got " + std::to_string(policies[i].value));
            }
            if (policies[i].period_seconds <= 0 || policies[i].period_seconds > 1800) {
                throw config_error(f + ".period_seconds", "must be in (0, 1800], got " + std::to_string(policies[i].period_seconds));
            }
        }
    }
};

/// Scaling behavior (HorizontalPodAutoscalerBehavior), with Kubernetes' defaults.
struct hpa_behavior {
    hpa_scaling_rules scale_up = hpa_scaling_rules::default_scale_up();      ///< rules when the recommendation is above the current count
    hpa_scaling_rules scale_down = hpa_scaling_rules::default_scale_down();  ///< rules when it is below
};

/// An HPA object plus the controller flags that shape its decisions.
struct hpa_config {
    int min_replicas = 1;                        ///< spec.minReplicas (0 allows scale to zero)
    int max_replicas = 10;                       ///< spec.maxReplicas
    std::vector<hpa_metric> metrics = {};        ///< spec.metrics; empty = CPU at 80 % (Kubernetes' default)
    std::optional<hpa_behavior> behavior = {};   ///< spec.behavior; none = the legacy algorithm
    double tolerance = 0.1;                      ///< --horizontal-pod-autoscaler-tolerance: no change while |ratio - 1| ≤ this
    double cpu_initialization_period_s = 300;    ///< --horizontal-pod-autoscaler-cpu-initialization-period
    double delay_of_initial_readiness_s = 30;    ///< --horizontal-pod-autoscaler-initial-readiness-delay
    double downscale_stabilization_s = 300;      ///< --horizontal-pod-autoscaler-downscale-stabilization (legacy window; default scale-down window)
    double legacy_scale_up_factor = 2;           ///< legacy limit: at most max(factor × current, minimum) (scaleUpLimitFactor)
    int legacy_scale_up_minimum = 4;             ///< legacy limit's floor (scaleUpLimitMinimum)
    std::size_t history_capacity = 1024;         ///< recommendations and scale events kept per kind (reserved at construction)
    std::size_t max_pods = 1024;                 ///< pods decide() can synthesise from an aggregate (reserved at construction)

    /// One CPU-utilisation metric at `percent` % of request, everything else default.
    [[nodiscard]] static hpa_config cpu_utilization(std::int32_t percent) {
        hpa_config c;
        c.metrics = {hpa_metric::resource_utilization(resource_name::cpu, percent)};
        return c;
    }

    /// Throws config_error naming the first field outside its range, with its value.
    void validate() const {
        const auto finite_at_least = [](const char* f, double v, double lo) {
            if (!(std::isfinite(v) && v >= lo)) {
                throw config_error(std::string("hpa_config.") + f,
                                   "must be finite and >= " + std::to_string(lo) + ", got " + std::to_string(v));
            }
        };
        if (min_replicas < 0) throw config_error("hpa_config.min_replicas", "must be >= 0, got " + std::to_string(min_replicas));
        if (max_replicas < 1) throw config_error("hpa_config.max_replicas", "must be >= 1, got " + std::to_string(max_replicas));
        if (max_replicas < min_replicas) {
            throw config_error("hpa_config.max_replicas", "must be >= min_replicas (" + std::to_string(min_replicas) +
                                                              "), got " + std::to_string(max_replicas));
        }
        if (!(std::isfinite(tolerance) && tolerance >= 0 && tolerance < 1)) {
            throw config_error("hpa_config.tolerance", "must be in [0, 1), got " + std::to_string(tolerance));
        }
        finite_at_least("cpu_initialization_period_s", cpu_initialization_period_s, 0);
        finite_at_least("delay_of_initial_readiness_s", delay_of_initial_readiness_s, 0);
        finite_at_least("downscale_stabilization_s", downscale_stabilization_s, 0);
        if (!(std::isfinite(legacy_scale_up_factor) && legacy_scale_up_factor > 0)) {
            throw config_error("hpa_config.legacy_scale_up_factor", "must be finite and > 0, got " + std::to_string(legacy_scale_up_factor));
        }
        if (legacy_scale_up_minimum < 0) {
            throw config_error("hpa_config.legacy_scale_up_minimum", "must be >= 0, got " + std::to_string(legacy_scale_up_minimum));
        }
        if (history_capacity < 1) throw config_error("hpa_config.history_capacity", "must be >= 1, got 0");
        if (max_pods < 1) throw config_error("hpa_config.max_pods", "must be >= 1, got 0");
        for (std::size_t i = 0; i < metrics.size(); ++i) {
            metrics[i].validate("hpa_config.metrics[" + std::to_string(i) + "]");
        }
        if (behavior) {
            behavior->scale_up.validate("hpa_config.behavior.scale_up");
            behavior->scale_down.validate("hpa_config.behavior.scale_down");
        }
    }
};

// ---------------------------------------------------------------------------
// The replica calculator
// ---------------------------------------------------------------------------

/// One metric's proposal (what GetResourceReplicas & co. return).
struct replica_proposal {
    int replicas = 0;               ///< proposed replica count
    std::int32_t utilization = 0;   ///< resource utilisation targets: observed utilisation, % of request (truncated)
    std::int64_t usage = 0;         ///< observed usage, milli-units: raw average per pod (resource), average (pods), value (object, external)
    std::string_view error = {};    ///< empty on success; otherwise why the metric gave no proposal (a string literal)

    /// True when the metric produced a proposal.
    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
    /// A failed proposal.
    [[nodiscard]] static replica_proposal failure(std::string_view why) noexcept { return {0, 0, 0, why}; }
};

namespace detail {

/// How the controller counts a pod for one metric (groupPods).
enum class pod_group : std::uint8_t { ready, unready, missing, ignored };

inline constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

/// ⌈x⌉ as an int, saturated to the int32 range (Kubernetes caps at MaxInt32).
[[nodiscard]] inline int ceil_to_int(double x) noexcept {
    if (!(x == x)) return 0;
    const double c = std::ceil(x);
    if (c >= static_cast<double>(int32_max)) return static_cast<int>(int32_max);
    if (c <= -static_cast<double>(int32_max)) return -static_cast<int>(int32_max);
    return static_cast<int>(c);
}

/// trunc(x) as an int, saturated to the int32 range (Go's int32(float64)).
[[nodiscard]] inline int trunc_to_int(double x) noexcept {
    if (!(x == x)) return 0;
    const double t = std::trunc(x);
    if (t >= static_cast<double>(int32_max)) return static_cast<int>(int32_max);
    if (t <= -static_cast<double>(int32_max)) return -static_cast<int>(int32_max);
    return static_cast<int>(t);
}

/// ⌈x⌉ as an int64, saturated to its range.
[[nodiscard]] inline std::int64_t ceil_to_int64(double x) noexcept {
    if (!(x == x)) return 0;
    const double c = std::ceil(x);
    if (c >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
    if (c <= -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(c);
}

[[nodiscard]] inline int clamp_to_int(std::int64_t v) noexcept {
    return static_cast<int>(std::clamp<std::int64_t>(v, -int32_max, int32_max));
}

/// a + b, saturated instead of overflowing.
[[nodiscard]] inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
    }
    return r;
}

/// a × b, saturated instead of overflowing.
[[nodiscard]] inline std::int64_t saturating_mul(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) {
        return (a < 0) != (b < 0) ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
    }
    return r;
}

/// The request of `pod` for resource `r`.
[[nodiscard]] inline const std::optional<std::int64_t>& request_of(const hpa_pod& pod, resource_name r) noexcept {
    return r == resource_name::cpu ? pod.cpu_request_milli : pod.memory_request_milli;
}

}  // namespace detail

/// The HPA replica calculator: one proposal per metric from the pods and the
/// metric samples, with the tolerance and the missing and unready pod
/// handling of Kubernetes. Times are on the controller clock, seconds.
struct replica_calculator {
    double tolerance = 0.1;                    ///< no change while 1 - tolerance ≤ ratio ≤ 1 + tolerance
    double cpu_initialization_period_s = 300;  ///< CPU: pods started less than this ago are judged by readiness and sample freshness
    double delay_of_initial_readiness_s = 30;  ///< CPU: a not-ready pod whose condition changed within this of its start has never been ready
    std::optional<double> scale_down_tolerance = {};  ///< below 1: replaces `tolerance` (behavior.scaleDown.tolerance)
    std::optional<double> scale_up_tolerance = {};    ///< above 1: replaces `tolerance` (behavior.scaleUp.tolerance)

    /// True when `ratio` is close enough to 1 to leave the count alone:
    /// 1 - down ≤ ratio ≤ 1 + up (Tolerances.isWithin).
    [[nodiscard]] bool within_tolerance(double ratio) const noexcept {
        const double down = scale_down_tolerance.value_or(tolerance);
        const double up = scale_up_tolerance.value_or(tolerance);
        return (1.0 - down) <= ratio && ratio <= (1.0 + up);
    }

    /// How pod `i` counts (groupPods): deleted or failed pods are ignored,
    /// pending pods are unready, pods without a sample are missing; for CPU, a
    /// pod without a Ready condition or start time, a not-ready pod or one
    /// sampled before a full window since its readiness changed (within the
    /// initialisation period), or a not-ready pod that never became ready
    /// (after it), is unready; the rest are ready.
    [[nodiscard]] detail::pod_group group(const hpa_pod& pod, const pod_sample* sample, bool cpu, double now_s) const noexcept {
        using detail::pod_group;
        if (pod.deleted || pod.phase == pod_phase::deleting || pod.phase == pod_phase::failed) return pod_group::ignored;
        if (pod.phase == pod_phase::pending) return pod_group::unready;
        if (sample == nullptr || !sample->value_milli) return pod_group::missing;
        if (!cpu) return pod_group::ready;
        if (pod.readiness == pod_condition::absent || std::isnan(pod.start_time_s)) return pod_group::unready;
        bool unready = false;
        if (pod.start_time_s + cpu_initialization_period_s > now_s) {
            unready = pod.readiness == pod_condition::not_ready || sample->timestamp_s < pod.ready_transition_s + sample->window_s;
        } else {
            unready = pod.readiness == pod_condition::not_ready &&
                      pod.start_time_s + delay_of_initial_readiness_s > pod.ready_transition_s;
        }
        return unready ? pod_group::unready : pod_group::ready;
    }

    /// GetResourceReplicas: target average utilisation, % of the pods' request.
    [[nodiscard]] replica_proposal resource_replicas(int current, std::int32_t target_utilization, resource_name r,
                                                     std::span<const hpa_pod> pods, const metric_observation& m,
                                                     double now_s) const noexcept {
        return per_pod(current, target_utilization, r, true, pods, m, now_s);
    }

    /// GetRawResourceReplicas: target average value of a resource per pod, milli-units.
    [[nodiscard]] replica_proposal raw_resource_replicas(int current, std::int64_t target_milli, resource_name r,
                                                         std::span<const hpa_pod> pods, const metric_observation& m,
                                                         double now_s) const noexcept {
        return per_pod(current, target_milli, r, false, pods, m, now_s);
    }

    /// GetMetricReplicas: a pods metric with a target average value, milli-units (no CPU rules).
    [[nodiscard]] replica_proposal pods_metric_replicas(int current, std::int64_t target_milli, std::span<const hpa_pod> pods,
                                                        const metric_observation& m, double now_s) const noexcept {
        return plain(current, target_milli, false, pods, m, now_s);
    }

    /// GetObjectMetricReplicas: an object metric with a target total value.
    [[nodiscard]] replica_proposal object_replicas(int current, std::int64_t target_milli, std::int64_t value_milli,
                                                   std::span<const hpa_pod> pods) const noexcept {
        const double ratio = static_cast<double>(value_milli) / static_cast<double>(target_milli);
        replica_proposal p = usage_ratio_replicas(current, ratio, pods);
        p.usage = value_milli;
        return p;
    }

    /// GetObjectPerPodMetricReplicas: an object metric with a target value per pod.
    [[nodiscard]] replica_proposal object_per_pod_replicas(int status_replicas, std::int64_t target_milli,
                                                           std::int64_t value_milli) const noexcept {
        return per_pod_total(status_replicas, target_milli, value_milli, false);
    }

    /// GetExternalMetricReplicas: an external metric (sum of its series) with a target total value.
    [[nodiscard]] replica_proposal external_replicas(int current, std::int64_t target_milli, std::span<const std::int64_t> values,
                                                     std::span<const hpa_pod> pods) const noexcept {
        if (values.empty()) return replica_proposal::failure("no metrics returned from external metrics API");
        const std::int64_t usage = sum(values);
        replica_proposal p = usage_ratio_replicas(current, static_cast<double>(usage) / static_cast<double>(target_milli), pods);
        p.usage = usage;
        return p;
    }

    /// GetExternalPerPodMetricReplicas: an external metric with a target value per pod.
    [[nodiscard]] replica_proposal external_per_pod_replicas(int status_replicas, std::int64_t target_milli,
                                                             std::span<const std::int64_t> values) const noexcept {
        if (values.empty()) return replica_proposal::failure("no metrics returned from external metrics API");
        return per_pod_total(status_replicas, target_milli, sum(values), true);
    }

private:
    [[nodiscard]] static std::int64_t sum(std::span<const std::int64_t> values) noexcept {
        std::int64_t total = 0;
        for (const std::int64_t v : values) total = detail::saturating_add(total, v);
        return total;
    }

    [[nodiscard]] static const pod_sample* sample_of(const metric_observation& m, std::size_t i) noexcept {
        return i < m.pods.size() ? &m.pods[i] : nullptr;
    }

    /// getUsageRatioReplicaCount: ⌈ratio × ready pods⌉ outside tolerance; from zero, ⌈ratio⌉.
    [[nodiscard]] replica_proposal usage_ratio_replicas(int current, double ratio, std::span<const hpa_pod> pods) const noexcept {
        if (current == 0) return {detail::ceil_to_int(ratio), 0, 0, {}};
        if (within_tolerance(ratio)) return {current, 0, 0, {}};
        if (pods.empty()) return replica_proposal::failure("no pods returned by selector while calculating replica count");
        std::int64_t ready = 0;
        for (const hpa_pod& p : pods) {
            ready += (p.phase == pod_phase::running && p.readiness == pod_condition::ready) ? 1 : 0;
        }
        return {detail::ceil_to_int(ratio * static_cast<double>(ready)), 0, 0, {}};
    }

    /// GetObjectPerPodMetricReplicas / GetExternalPerPodMetricReplicas: the
    /// count is ⌈usage / per-pod target⌉ outside tolerance, the reported
    /// usage ⌈usage / status replicas⌉ (external: a usage at the int64 rail
    /// stays there, as Kubernetes caps an overflowed sum).
    [[nodiscard]] replica_proposal per_pod_total(int status_replicas, std::int64_t target_milli, std::int64_t usage,
                                                 bool external) const noexcept {
        replica_proposal p{status_replicas, 0, usage, {}};
        const double ratio = static_cast<double>(usage) / (static_cast<double>(target_milli) * static_cast<double>(status_replicas));
        if (!within_tolerance(ratio)) {
            p.replicas = detail::ceil_to_int(static_cast<double>(usage) / static_cast<double>(target_milli));
        }
        constexpr double int64_rail = 9223372036854775808.0;  // 2^63, as float64(math.MaxInt64) rounds
        if (external && static_cast<double>(usage) >= int64_rail) {
            p.usage = std::numeric_limits<std::int64_t>::max();
        } else if (status_replicas != 0) {
            p.usage = detail::ceil_to_int64(static_cast<double>(usage) / static_cast<double>(status_replicas));
        }
        return p;
    }

    /// Running sums of the samples that count in a ratio.
    struct totals {
        std::int64_t metrics = 0;   ///< sum of the samples
        std::int64_t requests = 0;  ///< sum of their pods' requests (resource metrics)
        std::int64_t entries = 0;   ///< samples in the metrics map (with a request, for resource metrics)
    };

    /// Resource utilisation of `t` against `target` (GetResourceUtilizationRatio).
    struct utilization_ratio {
        double ratio = 0;              ///< utilisation / target
        std::int32_t utilization = 0;  ///< % of request, truncated
        std::int64_t raw = 0;          ///< average sample per pod, milli-units
        bool ok = false;               ///< requests were found
    };

    [[nodiscard]] static utilization_ratio utilization_of(const totals& t, std::int32_t target) noexcept {
        if (t.requests == 0 || t.entries == 0) return {};
        const std::int64_t pct = detail::saturating_mul(t.metrics, 100) / t.requests;
        const auto util = static_cast<std::int32_t>(std::clamp<std::int64_t>(pct, std::numeric_limits<std::int32_t>::min(),
                                                                             std::numeric_limits<std::int32_t>::max()));
        return {static_cast<double>(util) / static_cast<double>(target), util, t.metrics / t.entries, true};
    }

    /// Average usage and its ratio to `target` (GetMetricUsageRatio), integer-averaged.
    [[nodiscard]] static double usage_ratio_of(const totals& t, std::int64_t target, std::int64_t* usage) noexcept {
        const std::int64_t avg = t.entries > 0 ? t.metrics / t.entries : 0;
        if (usage != nullptr) *usage = avg;
        return static_cast<double>(avg) / static_cast<double>(target);
    }

    /// GetResourceReplicas (utilisation) and GetRawResourceReplicas (average value).
    [[nodiscard]] replica_proposal per_pod(int current, std::int64_t target, resource_name r, bool utilization_target,
                                           std::span<const hpa_pod> pods, const metric_observation& m,
                                           double now_s) const noexcept {
        if (!utilization_target) return plain(current, target, r == resource_name::cpu, pods, m, now_s);
        using detail::pod_group;
        if (pods.empty()) return replica_proposal::failure("no pods returned by selector while calculating replica count");
        const bool cpu = r == resource_name::cpu;
        std::int64_t ready = 0;
        std::int64_t unready = 0;
        std::int64_t missing = 0;
        totals first;
        for (std::size_t i = 0; i < pods.size(); ++i) {
            const pod_group g = group(pods[i], sample_of(m, i), cpu, now_s);
            if (g == pod_group::ready) ++ready;
            if (g == pod_group::unready) ++unready;
            if (g == pod_group::missing) ++missing;
        }
        if (ready + static_cast<std::int64_t>(m.extra.size()) == 0) {
            return replica_proposal::failure("did not receive metrics for targeted pods (pods might be unready)");
        }
        for (const hpa_pod& p : pods) {
            if (!detail::request_of(p, r)) return replica_proposal::failure("missing request for resource");
        }
        for (std::size_t i = 0; i < pods.size(); ++i) {
            if (group(pods[i], sample_of(m, i), cpu, now_s) != pod_group::ready) continue;
            first.metrics = detail::saturating_add(first.metrics, *m.pods[i].value_milli);
            first.requests = detail::saturating_add(first.requests, *detail::request_of(pods[i], r));
            ++first.entries;
        }
        const std::int32_t target_pct = static_cast<std::int32_t>(target);
        const utilization_ratio u = utilization_of(first, target_pct);
        if (!u.ok) return replica_proposal::failure("no metrics returned matched known pods");
        replica_proposal out{current, u.utilization, u.raw, {}};

        const bool scale_up_with_unready = unready > 0 && u.ratio > 1.0;
        if (!scale_up_with_unready && missing == 0) {
            if (!within_tolerance(u.ratio)) out.replicas = detail::ceil_to_int(u.ratio * static_cast<double>(ready));
            return out;
        }
        // Conservative second pass: missing pods at max(100 %, target) of their
        // request on a scale-down and at 0 on a scale-up; unready pods at 0 on
        // a scale-up.
        totals second = first;
        std::int64_t counted = ready + static_cast<std::int64_t>(m.extra.size());
        const std::int64_t fallback_pct = std::max<std::int64_t>(100, target_pct);
        for (std::size_t i = 0; i < pods.size(); ++i) {
            const pod_group g = group(pods[i], sample_of(m, i), cpu, now_s);
            const std::int64_t request = *detail::request_of(pods[i], r);
            if (g == pod_group::missing && u.ratio != 1.0) {
                const std::int64_t v = u.ratio < 1.0 ? detail::saturating_mul(request, fallback_pct) / 100 : 0;
                second.metrics = detail::saturating_add(second.metrics, v);
                second.requests = detail::saturating_add(second.requests, request);
                ++second.entries;
                ++counted;
            } else if (g == pod_group::unready && scale_up_with_unready) {
                second.requests = detail::saturating_add(second.requests, request);
                ++second.entries;
                ++counted;
            }
        }
        const utilization_ratio nu = utilization_of(second, target_pct);
        if (!nu.ok) return replica_proposal::failure("no metrics returned matched known pods");
        const double new_ratio = nu.ratio;
        if (within_tolerance(new_ratio) || (u.ratio < 1.0 && new_ratio > 1.0) || (u.ratio > 1.0 && new_ratio < 1.0)) {
            return out;
        }
        const int proposed = detail::ceil_to_int(new_ratio * static_cast<double>(counted));
        if ((new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current)) return out;
        out.replicas = proposed;
        return out;
    }

    /// calcPlainMetricReplicas: average value targets (pods metrics, raw resource values).
    [[nodiscard]] replica_proposal plain(int current, std::int64_t target, bool cpu, std::span<const hpa_pod> pods,
                                         const metric_observation& m, double now_s) const noexcept {
        using detail::pod_group;
        if (pods.empty()) return replica_proposal::failure("no pods returned by selector while calculating replica count");
        std::int64_t ready = 0;
        std::int64_t unready = 0;
        std::int64_t missing = 0;
        totals first;
        for (std::size_t i = 0; i < pods.size(); ++i) {
            const pod_group g = group(pods[i], sample_of(m, i), cpu, now_s);
            if (g == pod_group::ready) {
                ++ready;
                first.metrics = detail::saturating_add(first.metrics, *m.pods[i].value_milli);
                ++first.entries;
            }
            if (g == pod_group::unready) ++unready;
            if (g == pod_group::missing) ++missing;
        }
        for (const std::int64_t v : m.extra) {
            first.metrics = detail::saturating_add(first.metrics, v);
            ++first.entries;
        }
        if (first.entries == 0) return replica_proposal::failure("did not receive metrics for targeted pods (pods might be unready)");
        std::int64_t usage = 0;
        const double ratio = usage_ratio_of(first, target, &usage);
        replica_proposal out{current, 0, usage, {}};

        const bool scale_up_with_unready = unready > 0 && ratio > 1.0;
        if (!scale_up_with_unready && missing == 0) {
            if (!within_tolerance(ratio)) out.replicas = detail::ceil_to_int(ratio * static_cast<double>(ready));
            return out;
        }
        // Second pass: missing pods at the target on a scale-down, at 0 on a
        // scale-up; unready pods at 0 on a scale-up.
        totals second = first;
        if (missing > 0 && ratio != 1.0) {
            second.metrics = detail::saturating_add(second.metrics, ratio < 1.0 ? detail::saturating_mul(target, missing) : 0);
            second.entries += missing;
        }
        if (scale_up_with_unready) second.entries += unready;
        const double new_ratio = usage_ratio_of(second, target, nullptr);
        if (within_tolerance(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
            return out;
        }
        const int proposed = detail::ceil_to_int(new_ratio * static_cast<double>(second.entries));
        if ((new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current)) return out;
        out.replicas = proposed;
        return out;
    }
};

// ---------------------------------------------------------------------------
// Rate limits of `behavior`
// ---------------------------------------------------------------------------

/// A recommendation remembered for stabilisation (timestampedRecommendation).
struct hpa_recommendation {
    int replicas = 0;   ///< unstabilised recommendation
    double time_s = 0;  ///< when it was made, controller clock
};

/// A scaling the controller made (timestampedScaleEvent).
struct hpa_scale_event {
    int replica_change = 0;  ///< pods added (scale-up events) or removed (scale-down events), > 0
    double time_s = 0;       ///< when, controller clock
    bool outdated = false;   ///< older than the longest policy period at the last store: its slot may be reused
};

/// Pods added (or removed) by `events` within the last `period_s` seconds (getReplicasChangePerPeriod).
[[nodiscard]] inline std::int64_t replicas_changed_in_period(double period_s, std::span<const hpa_scale_event> events,
                                                             double now_s) noexcept {
    const double cutoff = now_s - period_s;
    std::int64_t changed = 0;
    for (const hpa_scale_event& e : events) {
        if (e.time_s > cutoff) changed += e.replica_change;
    }
    return changed;
}

/// The replica count at the start of a rate policy's period: the current
/// count with the period's scale-ups taken off and its scale-downs put back.
[[nodiscard]] inline std::int64_t period_start(int current, std::span<const hpa_scale_event> up_events,
                                               std::span<const hpa_scale_event> down_events, double period_s,
                                               double now_s) noexcept {
    return static_cast<std::int64_t>(current) - replicas_changed_in_period(period_s, up_events, now_s) +
           replicas_changed_in_period(period_s, down_events, now_s);
}

/// Largest count the scale-up rules allow (calculateScaleUpLimitWithScalingRules):
/// from the count at each period's start, `+ value` pods or `⌈× (1 + value %)⌉`,
/// the largest (select Max) or smallest (Min) over the policies; Disabled keeps `current`.
[[nodiscard]] inline int scale_up_limit(int current, std::span<const hpa_scale_event> up_events,
                                        std::span<const hpa_scale_event> down_events, const hpa_scaling_rules& rules,
                                        double now_s) noexcept {
    if (rules.select == select_policy::disabled) return current;
    const bool take_min = rules.select == select_policy::min;
    std::int64_t result = take_min ? std::numeric_limits<std::int32_t>::max() : std::numeric_limits<std::int32_t>::min();
    for (const hpa_scaling_policy& p : rules.policies) {
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
[[nodiscard]] inline int scale_down_limit(int current, std::span<const hpa_scale_event> up_events,
                                          std::span<const hpa_scale_event> down_events, const hpa_scaling_rules& rules,
                                          double now_s) noexcept {
    if (rules.select == select_policy::disabled) return current;
    const bool take_min_change = rules.select == select_policy::min;
    std::int64_t result = take_min_change ? std::numeric_limits<std::int32_t>::min() : std::numeric_limits<std::int32_t>::max();
    for (const hpa_scaling_policy& p : rules.policies) {
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

// ---------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------

/// What the last compute() saw, for logs and tests.
struct hpa_evaluation {
    int metric_replicas = -1;          ///< largest valid proposal over the metrics; -1 = none used
    int invalid_metrics = 0;           ///< metrics that gave no proposal
    int desired = 0;                   ///< the answer
    bool metrics_failed = false;       ///< no usable proposal: the current count was kept
    std::string_view reason = "hpa: not run";  ///< why (a string literal)
};

/// The Kubernetes HPA controller for one scale target. Stateful: it keeps
/// the unstabilised recommendations and the scale events of the last
/// stabilisation window and policy period (at most
/// hpa_config::history_capacity of each, reserved at construction; beyond
/// that the oldest entry is overwritten, which only matters when more than
/// that many syncs fall inside one window). compute() and decide() never
/// allocate.
class hpa_policy {
public:
    /// Validates and copies `config`; reserves the history and the pods decide() synthesises.
    explicit hpa_policy(hpa_config config = {}) : config_(prepared(std::move(config))) {
        calc_ = {config_.tolerance, config_.cpu_initialization_period_s, config_.delay_of_initial_readiness_s, std::nullopt,
                 std::nullopt};
        if (config_.behavior) {  // tolerancesForHpa: per-direction tolerances come with `behavior`
            calc_.scale_down_tolerance = config_.behavior->scale_down.tolerance;
            calc_.scale_up_tolerance = config_.behavior->scale_up.tolerance;
        }
        recommendations_.reserve(config_.history_capacity);
        up_events_.reserve(config_.history_capacity);
        down_events_.reserve(config_.history_capacity);
        pods_.resize(config_.max_pods);
        samples_.resize(config_.max_pods);
        decide_metric_[0] = hpa_metric::resource_utilization(resource_name::cpu, 80);
        for (const hpa_metric& m : config_.metrics) {
            if (m.source == metric_source::resource && m.resource == resource_name::cpu && m.target == metric_target::utilization) {
                decide_metric_[0] = m;
                break;
            }
        }
    }

    /// The configuration in use (metrics defaulted).
    [[nodiscard]] const hpa_config& config() const noexcept { return config_; }
    /// The replica calculator in use.
    [[nodiscard]] const replica_calculator& calculator() const noexcept { return calc_; }
    /// Always ready: the HPA needs no training.
    [[nodiscard]] bool ready() const noexcept { return true; }
    /// What the last compute() or decide() saw.
    [[nodiscard]] const hpa_evaluation& last_evaluation() const noexcept { return last_; }
    /// Recommendations remembered for stabilisation.
    [[nodiscard]] std::span<const hpa_recommendation> recommendations() const noexcept { return recommendations_; }
    /// Scale-up events remembered for the rate policies.
    [[nodiscard]] std::span<const hpa_scale_event> scale_up_events() const noexcept { return up_events_; }
    /// Scale-down events remembered for the rate policies.
    [[nodiscard]] std::span<const hpa_scale_event> scale_down_events() const noexcept { return down_events_; }

    /// Replaces the history (a restart from saved state, or a test's fixture).
    /// Afterwards no initial recommendation is recorded, as in Kubernetes when
    /// the controller already knows the HPA. Throws config_error beyond capacity.
    void restore_history(std::span<const hpa_recommendation> recommendations, std::span<const hpa_scale_event> up = {},
                         std::span<const hpa_scale_event> down = {}) {
        const auto check = [this](const char* f, std::size_t n) {
            if (n > config_.history_capacity) {
                throw config_error(std::string("hpa_policy.") + f, "holds " + std::to_string(n) + " entries, capacity is " +
                                                                       std::to_string(config_.history_capacity));
            }
        };
        check("recommendations", recommendations.size());
        check("scale_up_events", up.size());
        check("scale_down_events", down.size());
        recommendations_.assign(recommendations.begin(), recommendations.end());
        up_events_.assign(up.begin(), up.end());
        down_events_.assign(down.begin(), down.end());
        initialized_ = true;
    }

    /// One controller sync (reconcileAutoscaler): the replica count to set.
    /// Several metrics: the largest proposal wins; failed metrics block the
    /// sync if all fail or if the rest would scale down. Then the legacy
    /// clamp and stabilisation, or `behavior`.
    [[nodiscard]] int compute(const hpa_input& in, double now_s) noexcept {
        return reconcile(config_.metrics, in, now_s, config_.min_replicas, config_.max_replicas);
    }

    /// The normalisation step alone (normalizeDesiredReplicas or
    /// normalizeDesiredReplicasWithBehaviors): stabilises `desired`, applies
    /// the bounds and rate limits, and records the recommendation; it does not
    /// record a scale event.
    [[nodiscard]] int normalize(int current, int desired, double now_s) noexcept {
        return normalize(current, desired, now_s, config_.min_replicas, config_.max_replicas);
    }

    /// The stabilisation step alone (stabilizeRecommendation, or
    /// stabilizeRecommendationWithBehaviors with `behavior`): the stabilised
    /// recommendation for `desired`, which is recorded; no bounds, no rate
    /// limits.
    [[nodiscard]] int stabilize(int current, int desired, double now_s) noexcept {
        if (!config_.behavior) return stabilize_legacy(desired, now_s);
        return stabilize_with_behavior(current, desired, now_s);
    }

    /// The limiting step alone (convertDesiredReplicasWithRules, or
    /// convertDesiredReplicasWithBehaviorRate with `behavior`): `desired`
    /// within the bounds and the legacy scale-up limit or the rate policies
    /// over the recorded scale events. Records nothing.
    [[nodiscard]] int limit(int current, int desired, double now_s) const noexcept {
        if (!config_.behavior) {
            return legacy_bounded_replicas(current, desired, config_.min_replicas, config_.max_replicas,
                                           config_.legacy_scale_up_factor, config_.legacy_scale_up_minimum);
        }
        return rate_limited(current, desired, now_s, config_.min_replicas, config_.max_replicas);
    }

    /// Records that the target was scaled from `previous` to `next` at
    /// `now_s` (storeScaleEvent; compute() does this itself). Without
    /// `behavior` nothing is kept, as no rate policy reads it.
    void record_scale_event(int previous, int next, double now_s) noexcept {
        if (next != previous) store_scale_event(previous, next, now_s);
    }

    /// The rlscale policy interface: one CPU-utilisation metric (the config's
    /// first, else 80 %) from `m.cpu_utilization` over `m.ready_replicas`
    /// ready pods, with `m.starting_replicas` running-but-unready pods and
    /// `m.pending_replicas` pending pods; bounds from `s`, clock `s.time_s`.
    /// Holds (the current count, within the bounds) on a non-finite or
    /// negative input, too many pods, no usable metric, or a target at zero
    /// with a non-zero minimum (Kubernetes: scaling disabled).
    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        const double now = s.time_s;
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
        const double long_ago = now - 2.0 * (config_.cpu_initialization_period_s + config_.delay_of_initial_readiness_s) - 3600.0;
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
        const int n = reconcile(decide_metric_, in, now, b.lower, b.upper);
        if (last_.metrics_failed || n < b.lower || n > b.upper) {
            // No usable metric, or a target at zero that Kubernetes leaves
            // alone (scaling disabled): keep the count, brought within bounds.
            return hold(s, last_.reason);
        }
        return {.replicas = n, .source = decision_source::policy, .reason = last_.reason};
    }

private:
    static hpa_config prepared(hpa_config c) {
        c.validate();
        if (c.metrics.empty()) c.metrics.push_back(hpa_metric::resource_utilization(resource_name::cpu, 80));
        return c;
    }

    /// One metric's proposal (computeReplicasForMetric).
    [[nodiscard]] replica_proposal proposal(const hpa_metric& spec, const metric_observation* obs, const hpa_input& in,
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

    int reconcile(std::span<const hpa_metric> specs, const hpa_input& in, double now_s, int min_replicas, int max_replicas) noexcept {
        const int current = in.current_replicas;
        last_ = {-1, 0, current, false, "hpa: no change"};
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
        if (desired != current) store_scale_event(current, desired, now_s);
        last_.desired = desired;
        return desired;
    }

    int normalize(int current, int desired, double now_s, int min_replicas, int max_replicas) noexcept {
        if (!config_.behavior) {
            const int stabilized = stabilize_legacy(desired, now_s);
            return legacy_bounded_replicas(current, stabilized, min_replicas, max_replicas, config_.legacy_scale_up_factor,
                                           config_.legacy_scale_up_minimum);
        }
        const int stabilized = stabilize_with_behavior(current, desired, now_s);
        return rate_limited(current, stabilized, now_s, min_replicas, max_replicas);
    }

    [[nodiscard]] double up_window() const noexcept {
        return static_cast<double>(config_.behavior->scale_up.stabilization_window_seconds.value_or(0));
    }
    [[nodiscard]] double down_window() const noexcept {
        const auto& w = config_.behavior->scale_down.stabilization_window_seconds;
        return w ? static_cast<double>(*w) : config_.downscale_stabilization_s;
    }

    /// Stores `rec`, reusing the last slot older than `obsolete_before`; when full, the oldest.
    void push_recommendation(hpa_recommendation rec, double obsolete_before) noexcept {
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

    /// stabilizeRecommendation: the highest recommendation within the downscale window.
    int stabilize_legacy(int desired, double now_s) noexcept {
        const double cutoff = now_s - config_.downscale_stabilization_s;
        int highest = desired;
        for (const hpa_recommendation& r : recommendations_) {
            if (!(r.time_s < cutoff) && r.replicas > highest) highest = r.replicas;
        }
        push_recommendation({desired, now_s}, cutoff);
        return highest;
    }

    /// stabilizeRecommendationWithBehaviors: up_rec = min over the scale-up
    /// window, down_rec = max over the scale-down window (both including the
    /// new one); start from current, raise to up_rec, lower to down_rec.
    int stabilize_with_behavior(int current, int desired, double now_s) noexcept {
        const double up_cutoff = now_s - up_window();
        const double down_cutoff = now_s - down_window();
        int up_rec = desired;
        int down_rec = desired;
        for (const hpa_recommendation& r : recommendations_) {
            if (r.time_s > up_cutoff) up_rec = std::min(up_rec, r.replicas);
            if (r.time_s > down_cutoff) down_rec = std::max(down_rec, r.replicas);
        }
        int recommendation = current;
        if (recommendation < up_rec) recommendation = up_rec;
        if (recommendation > down_rec) recommendation = down_rec;
        push_recommendation({desired, now_s}, std::min(up_cutoff, down_cutoff));
        return recommendation;
    }

    /// convertDesiredReplicasWithBehaviorRate: rate policies, then the bounds.
    [[nodiscard]] int rate_limited(int current, int desired, double now_s, int min_replicas, int max_replicas) const noexcept {
        const hpa_behavior& b = *config_.behavior;
        if (desired > current) {
            const int limit = std::max(current, scale_up_limit(current, up_events_, down_events_, b.scale_up, now_s));
            const int maximum_allowed = std::min(max_replicas, limit);
            return desired > maximum_allowed ? maximum_allowed : desired;
        }
        if (desired < current) {
            const int limit = std::min(current, scale_down_limit(current, up_events_, down_events_, b.scale_down, now_s));
            const int minimum_allowed = std::max(min_replicas, limit);
            return desired < minimum_allowed ? minimum_allowed : desired;
        }
        return desired;
    }

    /// storeScaleEvent: marks events older than the longest period outdated and reuses the last such slot.
    void store_scale_event(int previous, int next, double now_s) noexcept {
        if (!config_.behavior) return;
        const bool up = next > previous;
        const hpa_scaling_rules& rules = up ? config_.behavior->scale_up : config_.behavior->scale_down;
        detail::reserved_vector<hpa_scale_event>& events = up ? up_events_ : down_events_;
        std::int32_t longest = 0;
        for (const hpa_scaling_policy& p : rules.policies) longest = std::max(longest, p.period_seconds);
        const double cutoff = now_s - static_cast<double>(longest);
        std::size_t reuse = events.size();
        for (std::size_t i = 0; i < events.size(); ++i) {
            if (events[i].time_s < cutoff) events[i].outdated = true;
            if (events[i].outdated) reuse = i;
        }
        const hpa_scale_event e{up ? next - previous : previous - next, now_s, false};
        if (reuse < events.size()) {
            events[reuse] = e;
        } else if (events.size() < config_.history_capacity) {
            events.push_back(e);  // within the reserved capacity: no allocation
        } else {
            auto oldest = std::min_element(events.begin(), events.end(), [](const auto& a, const auto& c) { return a.time_s < c.time_s; });
            *oldest = e;
        }
    }

    hpa_config config_;
    replica_calculator calc_;
    // Reserved to history_capacity at construction; copies keep the reservation.
    detail::reserved_vector<hpa_recommendation> recommendations_;
    detail::reserved_vector<hpa_scale_event> up_events_;
    detail::reserved_vector<hpa_scale_event> down_events_;
    bool initialized_ = false;
    hpa_evaluation last_;
    std::vector<hpa_pod> pods_;
    std::vector<pod_sample> samples_;
    std::array<hpa_metric, 1> decide_metric_{};
};
static_assert(policy<hpa_policy>);

}  // namespace rlscale
