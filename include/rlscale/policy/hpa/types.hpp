#pragma once

/// What the HPA controller sees and what it is asked to track: the pods of
/// the scale target, the metric samples, one sync's input, and the metric
/// specs with their targets (autoscaling/v2 MetricSpec). Quantities are
/// integers in milli-units, as the controller reads them. See docs/hpa.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace rlscale::hpa {

// ---------------------------------------------------------------------------
// What the controller sees: pods and metric observations
// ---------------------------------------------------------------------------

/// Lifecycle of a pod as the HPA classifies it.
enum class pod_phase : std::uint8_t {
    running,    ///< scheduled and started
    pending,    ///< not scheduled or not started yet: counted as unready
    succeeded,  ///< finished; counted like a running pod (Kubernetes does not special-case it)
    failed,     ///< failed: ignored
    deleting,   ///< being deleted, phase unknown: ignored (prefer pod::deleted with the real phase)
};

/// Status of the pod's `Ready` condition.
enum class pod_condition : std::uint8_t {
    ready,      ///< condition True
    not_ready,  ///< condition False
    unknown,    ///< condition Unknown
    absent,     ///< no Ready condition reported
};

/// One pod of the scale target, as listed by the controller.
struct pod {
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

/// What the metrics APIs returned for one metric spec of config::metrics.
struct metric_observation {
    std::span<const pod_sample> pods = {};       ///< resource and pods metrics: entry i is input::pods[i] (pods past the end are missing)
    std::span<const std::int64_t> extra = {};    ///< resource and pods metrics: samples of pods not in the pod list (milli-units)
    std::span<const std::int64_t> values = {};   ///< object metric: its value (first entry); external metric: every matching series (summed)
    bool failed = false;                         ///< the metrics API returned an error for this metric
};

/// One controller sync's view of the scale target.
struct input {
    int current_replicas = 1;                       ///< the target's `spec.replicas`
    std::span<const pod> pods = {};                 ///< every pod the selector matches, in any phase
    std::span<const metric_observation> metrics = {};  ///< one per metric spec, same order; fewer = the rest failed
    int status_replicas = -1;                       ///< the target's `status.replicas` (per-pod object and external targets divide by it); < 0 = current_replicas

    /// The status replica count in use: status_replicas, or current_replicas when unset.
    [[nodiscard]] int status_or_current() const noexcept { return status_replicas >= 0 ? status_replicas : current_replicas; }
};

// ---------------------------------------------------------------------------
// Metric specs
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

namespace detail {
/// The API's spelling of a target kind, for messages.
[[nodiscard]] constexpr const char* target_name(metric_target t) noexcept {
    switch (t) {
        case metric_target::utilization: return "utilization";
        case metric_target::average_value: return "average_value";
        case metric_target::value: return "value";
    }
    return "?";
}
}  // namespace detail

/// A resource a resource metric reads; the CPU initialisation rules apply to CPU only.
enum class resource_name : std::uint8_t {
    cpu,     ///< CPU, millicores
    memory,  ///< memory, milli-bytes
};

/// One metric spec with its target.
struct metric {
    metric_source source = metric_source::resource;  ///< where the metric comes from
    metric_target target = metric_target::utilization;  ///< what is compared with the target
    resource_name resource = resource_name::cpu;     ///< resource metrics: which resource
    std::int32_t average_utilization = 80;           ///< utilisation target, % of request (Kubernetes' default 80)
    std::int64_t target_milli = 0;                   ///< value and average-value targets, milli-units

    /// Resource metric with a target average utilisation, % of request.
    [[nodiscard]] static metric resource_utilization(resource_name r, std::int32_t percent) noexcept {
        return {metric_source::resource, metric_target::utilization, r, percent, 0};
    }
    /// Resource metric with a target average value per pod, milli-units.
    [[nodiscard]] static metric resource_average_value(resource_name r, std::int64_t milli) noexcept {
        return {metric_source::resource, metric_target::average_value, r, 0, milli};
    }
    /// Pods metric with a target average value per pod, milli-units.
    [[nodiscard]] static metric pods_average_value(std::int64_t milli) noexcept {
        return {metric_source::pods, metric_target::average_value, resource_name::cpu, 0, milli};
    }
    /// Object metric with a target total value, milli-units.
    [[nodiscard]] static metric object_value(std::int64_t milli) noexcept {
        return {metric_source::object, metric_target::value, resource_name::cpu, 0, milli};
    }
    /// Object metric with a target value per pod, milli-units.
    [[nodiscard]] static metric object_average_value(std::int64_t milli) noexcept {
        return {metric_source::object, metric_target::average_value, resource_name::cpu, 0, milli};
    }
    /// External metric with a target total value, milli-units.
    [[nodiscard]] static metric external_value(std::int64_t milli) noexcept {
        return {metric_source::external, metric_target::value, resource_name::cpu, 0, milli};
    }
    /// External metric with a target value per pod, milli-units.
    [[nodiscard]] static metric external_average_value(std::int64_t milli) noexcept {
        return {metric_source::external, metric_target::average_value, resource_name::cpu, 0, milli};
    }

    /// Throws config_error naming `field` if the target does not fit the source or is not positive.
    void validate(const std::string& field) const {
        const bool value_target = target == metric_target::value || target == metric_target::average_value;
        const check_fields check(field);
        switch (source) {
            case metric_source::resource:
                check.require(target != metric_target::value, "target",
                              "be utilization or average_value for a resource metric", detail::target_name(target));
                break;
            case metric_source::pods:
                check.require(target == metric_target::average_value, "target", "be average_value for a pods metric",
                              detail::target_name(target));
                break;
            case metric_source::object:
            case metric_source::external:
                check.require(value_target, "target", "be value or average_value for an object or external metric",
                              detail::target_name(target));
                break;
        }
        if (target == metric_target::utilization) check.greater("average_utilization", average_utilization, 0);
        if (value_target) check.greater("target_milli", target_milli, 0);
    }
};

}  // namespace rlscale::hpa
