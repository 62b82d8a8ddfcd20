#pragma once

/// The HPA replica calculator (kubernetes/kubernetes pkg/controller/
/// podautoscaler/replica_calculator.go): one replica proposal per metric from
/// the pods and their samples, with the tolerance, the unready and missing
/// pod handling and the CPU initialisation rules of Kubernetes. Quantities
/// are integers in milli-units, so the integer truncations of Kubernetes are
/// reproduced exactly. See docs/hpa.md.

#include <rlscale/core/saturating.hpp>
#include <rlscale/policy/hpa/rounding.hpp>
#include <rlscale/policy/hpa/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>

namespace rlscale::hpa {

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

/// How the controller counts a pod for one metric (groupPods).
enum class pod_group : std::uint8_t { ready, unready, missing, ignored };

namespace detail {

/// The request of `p` for resource `r`.
[[nodiscard]] inline const std::optional<std::int64_t>& request_of(const pod& p, resource_name r) noexcept {
    return r == resource_name::cpu ? p.cpu_request_milli : p.memory_request_milli;
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

    /// How pod `p` counts (groupPods): deleted or failed pods are ignored,
    /// pending pods are unready, pods without a sample are missing; for CPU, a
    /// pod without a Ready condition or start time, a not-ready pod or one
    /// sampled before a full window since its readiness changed (within the
    /// initialisation period), or a not-ready pod that never became ready
    /// (after it), is unready; the rest are ready.
    [[nodiscard]] pod_group group(const pod& p, const pod_sample* sample, bool cpu, double now_s) const noexcept {
        if (p.deleted || p.phase == pod_phase::deleting || p.phase == pod_phase::failed) return pod_group::ignored;
        if (p.phase == pod_phase::pending) return pod_group::unready;
        if (sample == nullptr || !sample->value_milli) return pod_group::missing;
        if (!cpu) return pod_group::ready;
        if (p.readiness == pod_condition::absent || std::isnan(p.start_time_s)) return pod_group::unready;
        bool unready = false;
        if (p.start_time_s + cpu_initialization_period_s > now_s) {
            unready = p.readiness == pod_condition::not_ready || sample->timestamp_s < p.ready_transition_s + sample->window_s;
        } else {
            unready = p.readiness == pod_condition::not_ready &&
                      p.start_time_s + delay_of_initial_readiness_s > p.ready_transition_s;
        }
        return unready ? pod_group::unready : pod_group::ready;
    }

    /// GetResourceReplicas: target average utilisation, % of the pods' request.
    [[nodiscard]] replica_proposal resource_replicas(int current, std::int32_t target_utilization, resource_name r,
                                                     std::span<const pod> pods, const metric_observation& m,
                                                     double now_s) const noexcept {
        return per_pod(current, target_utilization, r, true, pods, m, now_s);
    }

    /// GetRawResourceReplicas: target average value of a resource per pod, milli-units.
    [[nodiscard]] replica_proposal raw_resource_replicas(int current, std::int64_t target_milli, resource_name r,
                                                         std::span<const pod> pods, const metric_observation& m,
                                                         double now_s) const noexcept {
        return per_pod(current, target_milli, r, false, pods, m, now_s);
    }

    /// GetMetricReplicas: a pods metric with a target average value, milli-units (no CPU rules).
    [[nodiscard]] replica_proposal pods_metric_replicas(int current, std::int64_t target_milli, std::span<const pod> pods,
                                                        const metric_observation& m, double now_s) const noexcept {
        return plain(current, target_milli, false, pods, m, now_s);
    }

    /// GetObjectMetricReplicas: an object metric with a target total value.
    [[nodiscard]] replica_proposal object_replicas(int current, std::int64_t target_milli, std::int64_t value_milli,
                                                   std::span<const pod> pods) const noexcept {
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
                                                     std::span<const pod> pods) const noexcept {
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
        for (const std::int64_t v : values) total = rlscale::saturating_add<std::int64_t>(total, v);
        return total;
    }

    [[nodiscard]] static const pod_sample* sample_of(const metric_observation& m, std::size_t i) noexcept {
        return i < m.pods.size() ? &m.pods[i] : nullptr;
    }

    /// getUsageRatioReplicaCount: ⌈ratio × ready pods⌉ outside tolerance; from zero, ⌈ratio⌉.
    [[nodiscard]] replica_proposal usage_ratio_replicas(int current, double ratio, std::span<const pod> pods) const noexcept {
        if (current == 0) return {detail::ceil_to_int(ratio), 0, 0, {}};
        if (within_tolerance(ratio)) return {current, 0, 0, {}};
        if (pods.empty()) return replica_proposal::failure("no pods returned by selector while calculating replica count");
        std::int64_t ready = 0;
        for (const pod& p : pods) {
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
        const std::int64_t pct = rlscale::saturating_mul<std::int64_t>(t.metrics, 100) / t.requests;
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
                                           std::span<const pod> pods, const metric_observation& m,
                                           double now_s) const noexcept {
        if (!utilization_target) return plain(current, target, r == resource_name::cpu, pods, m, now_s);
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
        for (const pod& p : pods) {
            if (!detail::request_of(p, r)) return replica_proposal::failure("missing request for resource");
        }
        for (std::size_t i = 0; i < pods.size(); ++i) {
            if (group(pods[i], sample_of(m, i), cpu, now_s) != pod_group::ready) continue;
            first.metrics = rlscale::saturating_add<std::int64_t>(first.metrics, *m.pods[i].value_milli);
            first.requests = rlscale::saturating_add<std::int64_t>(first.requests, *detail::request_of(pods[i], r));
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
                const std::int64_t v = u.ratio < 1.0 ? rlscale::saturating_mul<std::int64_t>(request, fallback_pct) / 100 : 0;
                second.metrics = rlscale::saturating_add<std::int64_t>(second.metrics, v);
                second.requests = rlscale::saturating_add<std::int64_t>(second.requests, request);
                ++second.entries;
                ++counted;
            } else if (g == pod_group::unready && scale_up_with_unready) {
                second.requests = rlscale::saturating_add<std::int64_t>(second.requests, request);
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
    [[nodiscard]] replica_proposal plain(int current, std::int64_t target, bool cpu, std::span<const pod> pods,
                                         const metric_observation& m, double now_s) const noexcept {
        if (pods.empty()) return replica_proposal::failure("no pods returned by selector while calculating replica count");
        std::int64_t ready = 0;
        std::int64_t unready = 0;
        std::int64_t missing = 0;
        totals first;
        for (std::size_t i = 0; i < pods.size(); ++i) {
            const pod_group g = group(pods[i], sample_of(m, i), cpu, now_s);
            if (g == pod_group::ready) {
                ++ready;
                first.metrics = rlscale::saturating_add<std::int64_t>(first.metrics, *m.pods[i].value_milli);
                ++first.entries;
            }
            if (g == pod_group::unready) ++unready;
            if (g == pod_group::missing) ++missing;
        }
        for (const std::int64_t v : m.extra) {
            first.metrics = rlscale::saturating_add<std::int64_t>(first.metrics, v);
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
            second.metrics = rlscale::saturating_add<std::int64_t>(second.metrics, ratio < 1.0 ? rlscale::saturating_mul<std::int64_t>(target, missing) : 0);
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

}  // namespace rlscale::hpa
