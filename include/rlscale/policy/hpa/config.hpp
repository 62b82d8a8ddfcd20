#pragma once

/// An HPA object and the controller flags that shape its decisions: the
/// metric specs, `behavior` (HorizontalPodAutoscalerBehavior: per-direction
/// stabilisation windows, rate policies and tolerances) with Kubernetes'
/// defaults, and the validation of all of it. See docs/hpa.md.

#include <rlscale/core/error.hpp>
#include <rlscale/policy/hpa/types.hpp>
#include <rlscale/core/validate.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rlscale::hpa {

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
struct scaling_policy {
    scaling_policy_type type = scaling_policy_type::pods;  ///< pods or percent
    std::int32_t value = 4;                                ///< pods, or percent, per period (> 0)
    std::int32_t period_seconds = 15;                      ///< length of the period, seconds (1..1800)
};

/// Rules for one direction (HPAScalingRules).
struct scaling_rules {
    std::optional<std::int32_t> stabilization_window_seconds = {};  ///< window, seconds (0..3600); none: 0 up, config::downscale_stabilization_s down
    select_policy select = select_policy::max;                      ///< how the policies combine
    std::vector<scaling_policy> policies = {};                      ///< rate policies (at least one)
    std::optional<double> tolerance = {};                           ///< this direction's tolerance (HPAScalingRules.tolerance); none = config::tolerance

    /// Kubernetes' default scale-up rules: window 0 s, Max of {4 pods / 15 s, 100 % / 15 s}.
    [[nodiscard]] static scaling_rules default_scale_up() {
        return {0, select_policy::max, {{scaling_policy_type::pods, 4, 15}, {scaling_policy_type::percent, 100, 15}}, std::nullopt};
    }
    /// Kubernetes' default scale-down rules: the controller's window (300 s), 100 % / 15 s.
    [[nodiscard]] static scaling_rules default_scale_down() {
        return {std::nullopt, select_policy::max, {{scaling_policy_type::percent, 100, 15}}, std::nullopt};
    }

    /// Throws config_error naming `field` for a value outside the API's range.
    void validate(const std::string& field) const {
        const check_fields check(field);
        if (stabilization_window_seconds) check.in("stabilization_window_seconds", *stabilization_window_seconds, 0, 3600);
        if (tolerance) check.at_least("tolerance", *tolerance, 0);
        check.non_empty("policies", policies.size());
        for (std::size_t i = 0; i < policies.size(); ++i) {
            check_fields(field + ".policies[" + std::to_string(i) + "]")
                .greater("value", policies[i].value, 0)
                .in_open_closed("period_seconds", policies[i].period_seconds, 0, 1800);
        }
    }
};

/// Scaling behavior (HorizontalPodAutoscalerBehavior), with Kubernetes' defaults.
struct behavior {
    scaling_rules scale_up = scaling_rules::default_scale_up();      ///< rules when the recommendation is above the current count
    scaling_rules scale_down = scaling_rules::default_scale_down();  ///< rules when it is below
};

/// An HPA object plus the controller flags that shape its decisions.
/// Configuration errors name the fields `hpa_config.<field>` (its name in
/// namespace rlscale).
struct config {
    int min_replicas = 1;                          ///< spec.minReplicas (0 allows scale to zero)
    int max_replicas = 10;                         ///< spec.maxReplicas
    std::vector<metric> metrics = {};              ///< spec.metrics; empty = CPU at 80 % (Kubernetes' default)
    std::optional<hpa::behavior> behavior = {};    ///< spec.behavior; none = the legacy algorithm
    double tolerance = 0.1;                        ///< --horizontal-pod-autoscaler-tolerance: no change while |ratio - 1| ≤ this
    double cpu_initialization_period_s = 300;      ///< --horizontal-pod-autoscaler-cpu-initialization-period
    double delay_of_initial_readiness_s = 30;      ///< --horizontal-pod-autoscaler-initial-readiness-delay
    double downscale_stabilization_s = 300;        ///< --horizontal-pod-autoscaler-downscale-stabilization (legacy window; default scale-down window)
    double legacy_scale_up_factor = 2;             ///< legacy limit: at most max(factor × current, minimum) (scaleUpLimitFactor)
    int legacy_scale_up_minimum = 4;               ///< legacy limit's floor (scaleUpLimitMinimum; >= 1)
    std::size_t history_capacity = 1024;           ///< recommendations and scale events kept per kind (reserved at construction)
    std::size_t max_pods = 1024;                   ///< pods hpa_policy::decide() can synthesise from an aggregate (reserved at construction)
    /// A clock at most this far before the newest recommendation's or scale
    /// event's is jitter: the history is kept. Further back starts a new
    /// history (a new run whose clock starts again). 1 s, as
    /// kpa_config::max_clock_backwards_s and the decision service's
    /// max_time_backwards.
    double max_clock_backwards_s = 1;

    /// One CPU-utilisation metric at `percent` % of request, everything else default.
    [[nodiscard]] static config cpu_utilization(std::int32_t percent) {
        config c;
        c.metrics = {metric::resource_utilization(resource_name::cpu, percent)};
        return c;
    }

    /// Throws config_error naming the first field outside its range, with its value.
    void validate() const {
        check_fields("hpa_config")
            .at_least("min_replicas", min_replicas, 0)
            .at_least("max_replicas", max_replicas, 1)
            .at_least_field("max_replicas", max_replicas, "min_replicas", min_replicas)
            .in_closed_open("tolerance", tolerance, 0, 1)
            .at_least("cpu_initialization_period_s", cpu_initialization_period_s, 0)
            .at_least("delay_of_initial_readiness_s", delay_of_initial_readiness_s, 0)
            .at_least("downscale_stabilization_s", downscale_stabilization_s, 0)
            // Kubernetes fixes it at 2; below 1 the scale-up limit would be
            // under the current count and every sync would scale down.
            .at_least("legacy_scale_up_factor", legacy_scale_up_factor, 1)
            // Kubernetes fixes it at 4; at 0 a target at zero replicas (a
            // minimum of 0) could never scale up, as factor × 0 = 0.
            .at_least("legacy_scale_up_minimum", legacy_scale_up_minimum, 1)
            .at_least("history_capacity", history_capacity, 1)
            .at_most("history_capacity", history_capacity, std::size_t{1} << 20)
            .at_least("max_pods", max_pods, 1)
            .at_most("max_pods", max_pods, std::size_t{1} << 22)
            .at_least("max_clock_backwards_s", max_clock_backwards_s, 0.0);
        for (std::size_t i = 0; i < metrics.size(); ++i) {
            metrics[i].validate("hpa_config.metrics[" + std::to_string(i) + "]");
        }
        if (behavior) {
            behavior->scale_up.validate("hpa_config.behavior.scale_up");
            behavior->scale_down.validate("hpa_config.behavior.scale_down");
        }
    }
};

}  // namespace rlscale::hpa
