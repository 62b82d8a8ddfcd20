// Conformance of rlscale's HPA replica calculator with Kubernetes: each
// TEST_CASE reproduces one test of kubernetes/kubernetes
// pkg/controller/podautoscaler/replica_calculator_test.go (named in the test
// name) with the same pods, readiness, start times, metric levels, targets and
// expectations. The controller-level scenarios of horizontal_test.go are in
// hpa_behavior_test.cpp. Run them with ./build/tests/rlscale_tests -tc='k8s*'.
//
// How the Go fixtures translate:
// - Pods: max(currentReplicas, len(podPhase)) of them; readiness True, phase
//   Running, no deletion timestamp and a zero start time unless the test
//   says otherwise. Each pod has two containers, both requesting
//   `requests[i]`, so the pod's request is twice that; pods past the end of
//   `requests` have no request.
// - Resource samples: makePodMetricLevels gives both containers the level,
//   so a pod's sample is twice the level. Samples beyond the pod list belong
//   to pods the controller does not know (hpa extra samples). The tests leave
//   the sample timestamp and the Ready transition time at Go's zero time;
//   windows are one minute.
// - Clock: the sync happens at k_now; Go's zero time is 0, long before.
//   hotCPUCreationTime is now, coolCPUCreationTime three minutes ago.
// - The calculator uses the test constants: tolerance 0.1, CPU
//   initialisation period 2 min, initial readiness delay 10 s.
// - Quantities are milli-units: "1.0" CPU is 1000, a level of 300 is 300m.

#include <rlscale/policy/hpa_policy.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace test_policy_hpa_conformance {

using namespace rlscale;

namespace {

constexpr double k_now = 1.0e6;          // the controller's clock at the sync
constexpr double k_zero = 0.0;           // Go's zero time.Time
constexpr double k_hot = k_now;          // hotCPUCreationTime()
constexpr double k_cool = k_now - 180;   // coolCPUCreationTime()
constexpr std::int64_t k_int64_max = std::numeric_limits<std::int64_t>::max();
constexpr int k_int32_max = std::numeric_limits<std::int32_t>::max();

constexpr auto T = pod_condition::ready;      // v1.ConditionTrue
constexpr auto F = pod_condition::not_ready;  // v1.ConditionFalse
constexpr auto running = pod_phase::running;
constexpr auto pending = pod_phase::pending;
constexpr auto failed = pod_phase::failed;

/// The calculator with replica_calculator_test.go's constants, and optional
/// Tolerances{scaleDown, scaleUp}.
replica_calculator testing_calculator(std::optional<double> down = std::nullopt, std::optional<double> up = std::nullopt) {
    return replica_calculator{0.1, 120, 10, down, up};
}

/// replicaCalcTestCase: the pods the fake clients list and the samples they return.
struct calc_case {
    int current = 0;
    std::vector<pod_condition> readiness = {};  // podReadiness
    std::vector<double> start = {};             // podStartTime
    std::vector<pod_phase> phase = {};          // podPhase
    std::vector<bool> deleted = {};             // podDeletionTimestamp
    std::vector<std::int64_t> requests = {};    // resource.requests (per container)
    std::vector<std::int64_t> levels = {};      // makePodMetricLevels (per container)
    std::vector<std::int64_t> metric = {};      // metric.levels (pods metrics: one per pod)

    std::vector<hpa_pod> pods = {};
    std::vector<pod_sample> samples = {};
    std::vector<std::int64_t> extra = {};

    /// Builds the pods and a resource observation from `levels`.
    metric_observation resource() {
        build_pods();
        samples.assign(pods.size(), pod_sample{});
        for (std::size_t i = 0; i < levels.size(); ++i) {
            const std::int64_t pod_usage = 2 * levels[i];  // two containers at the level
            if (i < pods.size()) {
                samples[i] = {pod_usage, k_zero, 60};
            } else {
                extra.push_back(pod_usage);
            }
        }
        return {samples, extra, {}, false};
    }

    /// Builds the pods and a pods-metric observation from `metric`.
    metric_observation pods_metric() {
        build_pods();
        samples.assign(pods.size(), pod_sample{});
        for (std::size_t i = 0; i < metric.size(); ++i) {
            if (i < pods.size()) {
                samples[i] = {metric[i], k_zero, 60};
            } else {
                extra.push_back(metric[i]);
            }
        }
        return {samples, extra, {}, false};
    }

    /// Builds the pods alone (object and external metrics count ready pods).
    std::span<const hpa_pod> pod_list() {
        build_pods();
        return pods;
    }

    void build_pods() {
        pods.clear();
        extra.clear();
        const std::size_t n = std::max<std::size_t>(static_cast<std::size_t>(current), phase.size());
        for (std::size_t i = 0; i < n; ++i) {
            hpa_pod p;
            p.phase = i < phase.size() ? phase[i] : running;
            p.deleted = i < deleted.size() && deleted[i];
            p.readiness = i < readiness.size() ? readiness[i] : T;
            p.start_time_s = i < start.size() ? start[i] : k_zero;
            p.ready_transition_s = k_zero;  // LastTransitionTime is left unset
            if (i < requests.size()) p.cpu_request_milli = 2 * requests[i];
            pods.push_back(p);
        }
    }
};

/// GetResourceReplicas with a CPU utilisation target.
replica_proposal cpu_replicas(calc_case& c, std::int32_t target, const replica_calculator& calc = testing_calculator()) {
    const metric_observation obs = c.resource();
    return calc.resource_replicas(c.current, target, resource_name::cpu, c.pods, obs, k_now);
}

/// GetMetricReplicas with an average-value target.
replica_proposal pods_replicas(calc_case& c, std::int64_t target, const replica_calculator& calc = testing_calculator()) {
    const metric_observation obs = c.pods_metric();
    return calc.pods_metric_replicas(c.current, target, c.pods, obs, k_now);
}

void check(const replica_proposal& p, int replicas, std::int32_t utilization, std::int64_t raw) {
    REQUIRE(p.ok());
    CHECK(p.replicas == replicas);
    CHECK(p.utilization == utilization);
    CHECK(p.usage == raw);
}

void check(const replica_proposal& p, int replicas, std::int64_t usage) {
    REQUIRE(p.ok());
    CHECK(p.replicas == replicas);
    CHECK(p.usage == usage);
}

}  // namespace

// ---------------------------------------------------------------------------
// Resource utilisation: scale up, unready and hot-CPU pods
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcScaleUp") {
    calc_case c{.current = 3, .requests = {1000, 1000, 1000}, .levels = {300, 500, 700}};
    check(cpu_replicas(c, 30), 5, 50, 2 * 500);
}

TEST_CASE("k8s TestReplicaCalcScaleUpUnreadyLessScale") {
    calc_case c{.current = 3, .readiness = {F, T, T}, .requests = {1000, 1000, 1000}, .levels = {300, 500, 700}};
    check(cpu_replicas(c, 30), 4, 60, 2 * 600);
}

TEST_CASE("k8s TestReplicaCalcScaleUpHotCpuLessScale") {
    calc_case c{.current = 3, .start = {k_hot, k_cool, k_cool}, .requests = {1000, 1000, 1000}, .levels = {300, 500, 700}};
    check(cpu_replicas(c, 30), 4, 60, 2 * 600);
}

TEST_CASE("k8s TestReplicaCalcScaleUpUnreadyNoScale") {
    calc_case c{.current = 3, .readiness = {T, F, F}, .requests = {1000, 1000, 1000}, .levels = {400, 500, 700}};
    check(cpu_replicas(c, 30), 3, 40, 2 * 400);
}

TEST_CASE("k8s TestReplicaCalcScaleHotCpuNoScale") {
    calc_case c{.current = 3,
                .readiness = {T, F, F},
                .start = {k_cool, k_hot, k_hot},
                .requests = {1000, 1000, 1000},
                .levels = {400, 500, 700}};
    check(cpu_replicas(c, 30), 3, 40, 2 * 400);
}

TEST_CASE("k8s TestReplicaCalcScaleUpIgnoresFailedPods") {
    calc_case c{.current = 2,
                .readiness = {T, T, F, F},
                .phase = {running, running, failed, failed},
                .requests = {1000, 1000, 1000, 1000},
                .levels = {500, 700}};
    check(cpu_replicas(c, 30), 4, 60, 2 * 600);
}

TEST_CASE("k8s TestReplicaCalcScaleUpIgnoresDeletionPods") {
    calc_case c{.current = 2,
                .readiness = {T, T, F, F},
                .phase = {running, running, running, running},
                .deleted = {false, false, true, true},
                .requests = {1000, 1000, 1000, 1000},
                .levels = {500, 700}};
    check(cpu_replicas(c, 30), 4, 60, 2 * 600);
}

// ---------------------------------------------------------------------------
// Resource utilisation: scale down, unready, unscheduled and hot-CPU pods
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcScaleDown") {
    calc_case c{.current = 5, .requests = {1000, 1000, 1000, 1000, 1000}, .levels = {100, 300, 500, 250, 250}};
    check(cpu_replicas(c, 50), 3, 28, 2 * 280);
}

TEST_CASE("k8s TestReplicaCalcScaleDownExcludeUnreadyPods") {
    calc_case c{.current = 5,
                .readiness = {T, T, T, F, F},
                .requests = {1000, 1000, 1000, 1000, 1000},
                .levels = {100, 300, 500, 250, 250}};
    check(cpu_replicas(c, 50), 2, 30, 2 * 300);
}

TEST_CASE("k8s TestReplicaCalcScaleDownExcludeUnscheduledPods") {
    calc_case c{.current = 5,
                .readiness = {T, F, F, F, F},
                .phase = {running, pending, pending, pending, pending},
                .requests = {1000, 1000, 1000, 1000, 1000},
                .levels = {100}};
    check(cpu_replicas(c, 50), 1, 10, 2 * 100);
}

TEST_CASE("k8s TestReplicaCalcScaleDownIgnoreHotCpuPods") {
    calc_case c{.current = 5,
                .start = {k_cool, k_cool, k_cool, k_hot, k_hot},
                .requests = {1000, 1000, 1000, 1000, 1000},
                .levels = {100, 300, 500, 250, 250}};
    check(cpu_replicas(c, 50), 2, 30, 2 * 300);
}

TEST_CASE("k8s TestReplicaCalcScaleDownIgnoresFailedPods") {
    calc_case c{.current = 5,
                .readiness = {T, T, T, T, T, F, F},
                .phase = {running, running, running, running, running, failed, failed},
                .requests = {1000, 1000, 1000, 1000, 1000, 1000, 1000},
                .levels = {100, 300, 500, 250, 250}};
    check(cpu_replicas(c, 50), 3, 28, 2 * 280);
}

TEST_CASE("k8s TestReplicaCalcScaleDownIgnoresDeletionPods") {
    calc_case c{.current = 5,
                .readiness = {T, T, T, T, T, F, F},
                .phase = {running, running, running, running, running, running, running},
                .deleted = {false, false, false, false, false, true, true},
                .requests = {1000, 1000, 1000, 1000, 1000, 1000, 1000},
                .levels = {100, 300, 500, 250, 250}};
    check(cpu_replicas(c, 50), 3, 28, 2 * 280);
}

// ---------------------------------------------------------------------------
// Tolerance
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcTolerance") {
    calc_case c{.current = 3, .requests = {900, 1000, 1100}, .levels = {1010, 1030, 1020}};
    check(cpu_replicas(c, 100), 3, 102, 2 * 1020);
}

TEST_CASE("k8s TestReplicaCalcToleranceCM") {
    calc_case c{.current = 3, .metric = {20000, 21000, 21000}};
    check(pods_replicas(c, 20000), 3, 20666);
}

TEST_CASE("k8s TestReplicaCalcToleranceCMObject") {
    calc_case c{.current = 3};
    check(testing_calculator().object_replicas(3, 20000, 20666, c.pod_list()), 3, 20666);
}

TEST_CASE("k8s TestReplicaCalcTolerancePerPodCMObject") {
    check(testing_calculator().object_per_pod_replicas(4, 5000, 20166), 4, 5042);
}

TEST_CASE("k8s TestReplicaCalcToleranceCMExternal") {
    calc_case c{.current = 3};
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_replicas(3, 8888, values, c.pod_list()), 3, 8600);
}

TEST_CASE("k8s TestReplicaCalcTolerancePerPodCMExternal") {
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_per_pod_replicas(3, 2900, values), 3, 2867);
}

TEST_CASE("k8s TestReplicaCalcComputedToleranceAlgImplementation") {
    // The Go test derives its target from the tolerance: 10 pods using 150m
    // each against requests summing to twice that, and a target just past
    // (then just inside) the tolerance band.
    const int start_pods = 10;
    const std::int64_t total_used = start_pods * 150;
    const std::int64_t total_requested = 2 * total_used;
    const double requested_to_used = static_cast<double>(total_requested / total_used);
    const std::int64_t per_pod_requested = total_requested / start_pods;
    const double tolerance = 0.1;

    double target = std::abs(1 / (requested_to_used * (1 - tolerance))) + .01;
    auto final_cpu_percent_target = static_cast<std::int32_t>(target * 100);
    const double resources_used_ratio = static_cast<double>(total_used) / (static_cast<double>(total_requested) * target);
    const int final_pods = static_cast<int>(std::ceil(resources_used_ratio * start_pods));
    REQUIRE(final_cpu_percent_target == 56);
    REQUIRE(final_pods == 9);

    const std::int64_t level = total_used / 10;
    calc_case c{.current = start_pods,
                .requests = {per_pod_requested + 100, per_pod_requested - 100, per_pod_requested + 10, per_pod_requested - 10,
                             per_pod_requested + 2, per_pod_requested - 2, per_pod_requested + 1, per_pod_requested - 1,
                             per_pod_requested, per_pod_requested},
                .levels = std::vector<std::int64_t>(10, level)};
    const auto expected_utilization = static_cast<std::int32_t>(total_used * 100 / total_requested);
    check(cpu_replicas(c, final_cpu_percent_target), final_pods, expected_utilization, 2 * level);

    // Just inside the band: no change.
    target = std::abs(1 / (requested_to_used * (1 - tolerance))) + .004;
    final_cpu_percent_target = static_cast<std::int32_t>(target * 100);
    check(cpu_replicas(c, final_cpu_percent_target), start_pods, expected_utilization, 2 * level);
}

TEST_CASE("k8s TestReplicaCalcResourceTolerance") {
    // Tolerances{scaleDown, scaleUp} configurable per HPA (behavior.scaleUp/scaleDown.tolerance).
    const std::vector<std::int64_t> mixed{900, 1000, 1100};
    SUBCASE("within default tolerance") {
        calc_case c{.current = 3, .requests = mixed, .levels = {1010, 1030, 1020}};
        check(cpu_replicas(c, 100), 3, 102, 2 * 1020);
    }
    SUBCASE("outside 0% tolerance") {
        calc_case c{.current = 3, .requests = mixed, .levels = {909, 1010, 1111}};
        check(cpu_replicas(c, 100, testing_calculator(0.0, 0.0)), 4, 101, 2 * 1010);
    }
    SUBCASE("within 200% scale-up tolerance") {
        calc_case c{.current = 3, .requests = mixed, .levels = {1890, 1910, 1900}};
        check(cpu_replicas(c, 100, testing_calculator(0.1, 2.0)), 3, 190, 2 * 1900);
    }
    SUBCASE("outside 8% scale-up tolerance (superfluous scale-down tolerance)") {
        calc_case c{.current = 3, .requests = mixed, .levels = {1100, 1080, 1090}};
        check(cpu_replicas(c, 100, testing_calculator(2.0, 0.08)), 4, 109, 2 * 1090);
    }
    SUBCASE("within 36% scale-down tolerance") {
        calc_case c{.current = 3, .requests = mixed, .levels = {660, 640, 650}};
        check(cpu_replicas(c, 100, testing_calculator(0.36, 0.1)), 3, 65, 2 * 650);
    }
    SUBCASE("outside 34% scale-down tolerance") {
        calc_case c{.current = 3, .requests = mixed, .levels = {660, 640, 650}};
        check(cpu_replicas(c, 100, testing_calculator(0.34, 0.1)), 2, 65, 2 * 650);
    }
}

// ---------------------------------------------------------------------------
// Missing, superfluous and disjoint metrics; missing requests
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcSuperfluousMetrics") {
    // Six samples for four pods: the two unknown pods' samples do not count.
    calc_case c{.current = 4, .requests = {1000, 1000, 1000, 1000}, .levels = {4000, 9500, 3000, 7000, 3200, 2000}};
    check(cpu_replicas(c, 100), 24, 587, 2 * 5875);
}

TEST_CASE("k8s TestReplicaCalcMissingMetrics") {
    // Scale down with two pods missing: they count at 100 % of their request.
    calc_case c{.current = 4, .requests = {1000, 1000, 1000, 1000}, .levels = {400, 95}};
    check(cpu_replicas(c, 100), 3, 24, 495);
}

TEST_CASE("k8s TestReplicaCalcEmptyMetrics") {
    calc_case c{.current = 4, .requests = {1000, 1000, 1000}, .levels = {}};
    CHECK_FALSE(cpu_replicas(c, 100).ok());
}

TEST_CASE("k8s TestReplicaCalcEmptyCPURequest") {
    calc_case c{.current = 1, .requests = {}, .levels = {200}};
    const replica_proposal p = cpu_replicas(c, 100);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error == "missing request for resource");
}

TEST_CASE("k8s TestReplicaCalcDisjointResourcesMetrics") {
    // The only sample is of a pod the controller does not list.
    calc_case c{.current = 1, .requests = {1000}};
    c.build_pods();
    c.samples.assign(1, pod_sample{});
    const std::vector<std::int64_t> other_pod{2 * 100};
    const metric_observation obs{c.samples, other_pod, {}, false};
    const replica_proposal p = testing_calculator().resource_replicas(1, 100, resource_name::cpu, c.pods, obs, k_now);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error == "no metrics returned matched known pods");
}

TEST_CASE("k8s TestPlainMetricReplicaCalcMissingMetricsNoChangeEq") {
    calc_case c{.current = 5, .metric = {20000, 19000, 21000}};
    check(pods_replicas(c, 20000), 5, 20000);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsNoChangeEq") {
    calc_case c{.current = 2, .requests = {1000, 1000}, .levels = {1000}};
    check(cpu_replicas(c, 100), 2, 100, 2 * 1000);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsNoChangeGt") {
    calc_case c{.current = 2, .requests = {1000, 1000}, .levels = {1900}};
    check(cpu_replicas(c, 100), 2, 190, 2 * 1900);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsNoChangeLt") {
    calc_case c{.current = 2, .requests = {1000, 1000}, .levels = {600}};
    check(cpu_replicas(c, 100), 2, 60, 2 * 600);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsUnreadyChange") {
    calc_case c{.current = 3, .readiness = {F, T, T}, .requests = {1000, 1000, 1000}, .levels = {100, 450}};
    check(cpu_replicas(c, 50), 3, 45, 2 * 450);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsHotCpuNoChange") {
    calc_case c{.current = 3, .start = {k_hot, k_cool, k_cool}, .requests = {1000, 1000, 1000}, .levels = {100, 450}};
    check(cpu_replicas(c, 50), 3, 45, 2 * 450);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsUnreadyScaleUp") {
    calc_case c{.current = 3, .readiness = {F, T, T}, .requests = {1000, 1000, 1000}, .levels = {100, 2000}};
    check(cpu_replicas(c, 50), 4, 200, 2 * 2000);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsHotCpuScaleUp") {
    calc_case c{.current = 3,
                .readiness = {F, T, T},
                .start = {k_hot, k_cool, k_cool},
                .requests = {1000, 1000, 1000},
                .levels = {100, 2000}};
    check(cpu_replicas(c, 50), 4, 200, 2 * 2000);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsUnreadyScaleDown") {
    calc_case c{.current = 4, .readiness = {F, T, T, T}, .requests = {1000, 1000, 1000, 1000}, .levels = {100, 100, 100}};
    check(cpu_replicas(c, 50), 3, 10, 2 * 100);
}

TEST_CASE("k8s TestReplicaCalcMissingMetricsScaleDownTargetOver100") {
    // A missing pod counts at the target (300 %) of its request, not 100 %.
    calc_case c{.current = 4, .readiness = {F, T, T, T}, .requests = {1000, 1000, 2000, 2000}, .levels = {200, 100, 100}};
    check(cpu_replicas(c, 300), 2, 6, 2 * 100);
}

TEST_CASE("k8s TestReplicaCalcDuringRollingUpdateWithMaxSurge") {
    calc_case c{.current = 2, .phase = {running, running, running}, .requests = {1000, 1000, 1000}, .levels = {100, 100}};
    check(cpu_replicas(c, 50), 2, 10, 2 * 100);
}

TEST_CASE("k8s TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM") {
    // The recomputation over three pods would scale up from a scale-down
    // ratio: the count is kept.
    calc_case c{.current = 2, .phase = {running, running, running}, .metric = {10000, 10000}};
    check(pods_replicas(c, 17000), 2, 10000);
}

// ---------------------------------------------------------------------------
// Pods metrics (GetMetricReplicas)
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcScaleUpCM") {
    calc_case c{.current = 3, .metric = {20000, 10000, 30000}};
    check(pods_replicas(c, 15000), 4, 20000);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale") {
    // Readiness and start times only matter for CPU: all three pods count.
    calc_case c{.current = 3, .readiness = {T, T, F}, .start = {k_cool, k_cool, k_hot}, .metric = {50000, 10000, 30000}};
    check(pods_replicas(c, 15000), 6, 30000);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown") {
    calc_case c{.current = 3, .readiness = {F, T, F}, .start = {k_hot, k_cool, k_hot}, .metric = {50000, 15000, 30000}};
    check(pods_replicas(c, 15000), 7, 31666);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMExternal") {
    // Declared as a pods metric in the Go test (metricType podMetric).
    calc_case c{.current = 1, .metric = {8600}};
    check(pods_replicas(c, 4400), 2, 8600);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMExternalNoLabels") {
    calc_case c{.current = 1, .metric = {8600}};
    check(pods_replicas(c, 4400), 2, 8600);
}

TEST_CASE("k8s TestReplicaCalcScaleDownCM") {
    calc_case c{.current = 5, .metric = {12000, 12000, 12000, 12000, 12000}};
    check(pods_replicas(c, 20000), 3, 12000);
}

TEST_CASE("k8s TestReplicaCalcPodMetric") {
    SUBCASE("within default tolerance") {
        calc_case c{.current = 3, .metric = {20000, 21000, 21000}};
        check(pods_replicas(c, 20000), 3, 20666);
    }
    SUBCASE("outside configurable 1% tolerance") {
        calc_case c{.current = 3, .metric = {20000, 21000, 21000}};
        check(pods_replicas(c, 20000, testing_calculator(0.1, 0.01)), 4, 20666);
    }
    SUBCASE("rolling update with maxSurge: extra pod missing metric") {
        calc_case c{.current = 2, .phase = {running, running, running}, .metric = {10000, 10000}};
        check(pods_replicas(c, 17000), 2, 10000);
    }
}

// ---------------------------------------------------------------------------
// Object metrics (GetObjectMetricReplicas, GetObjectPerPodMetricReplicas)
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcScaleUpCMObject") {
    calc_case c{.current = 3};
    check(testing_calculator().object_replicas(3, 15000, 20000, c.pod_list()), 4, 20000);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMPerPodObject") {
    check(testing_calculator().object_per_pod_replicas(3, 5000, 20000), 4, 6667);
}

TEST_CASE("k8s TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods") {
    // ratio 5 over the one ready pod, not the three listed.
    calc_case c{.current = 3, .readiness = {F, T, F}};
    check(testing_calculator().object_replicas(3, 10000, 50000, c.pod_list()), 5, 50000);
}

TEST_CASE("k8s TestReplicaCalcScaleDownCMObject") {
    calc_case c{.current = 5};
    check(testing_calculator().object_replicas(5, 20000, 12000, c.pod_list()), 3, 12000);
}

TEST_CASE("k8s TestReplicaCalcScaleDownPerPodCMObject") {
    check(testing_calculator().object_per_pod_replicas(5, 2000, 6000), 3, 1200);
}

TEST_CASE("k8s TestReplicaCalcObjectMetric") {
    SUBCASE("scale up: very large metric saturates replicas to MaxInt32") {
        calc_case c{.current = 3};
        check(testing_calculator().object_replicas(3, 1, k_int64_max, c.pod_list()), k_int32_max, k_int64_max);
    }
    SUBCASE("outside configurable 1% tolerance") {
        calc_case c{.current = 3};
        check(testing_calculator(0.1, 0.01).object_replicas(3, 20000, 20666, c.pod_list()), 4, 20666);
    }
}

TEST_CASE("k8s TestReplicaCalcObjectPerPodMetric") {
    SUBCASE("within default tolerance") {
        check(testing_calculator().object_per_pod_replicas(4, 5000, 20166), 4, 5042);
    }
    SUBCASE("outside configurable 1% tolerance") {
        check(testing_calculator(0.1, 0.01).object_per_pod_replicas(4, 5000, 20208), 5, 5052);
    }
}

// ---------------------------------------------------------------------------
// External metrics (GetExternalMetricReplicas, GetExternalPerPodMetricReplicas)
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods") {
    calc_case c{.current = 3, .readiness = {F, T, F}};
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_replicas(3, 4400, values, c.pod_list()), 2, 8600);
}

TEST_CASE("k8s TestReplicaCalcScaleUpPerPodCMExternal") {
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_per_pod_replicas(3, 2150, values), 4, 2867);
}

TEST_CASE("k8s TestReplicaCalcScaleDownCMExternal") {
    calc_case c{.current = 5};
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_replicas(5, 14334, values, c.pod_list()), 3, 8600);
}

TEST_CASE("k8s TestReplicaCalcScaleDownPerPodCMExternal") {
    const std::vector<std::int64_t> values{8600};
    check(testing_calculator().external_per_pod_replicas(5, 2867, values), 3, 1720);
}

TEST_CASE("k8s TestReplicaCalcExternalMetric") {
    SUBCASE("outside configurable 1% tolerance") {
        calc_case c{.current = 3};
        const std::vector<std::int64_t> values{8900};
        check(testing_calculator(0.1, 0.01).external_replicas(3, 8800, values, c.pod_list()), 4, 8900);
    }
    SUBCASE("usage overflow caps at MaxInt64") {
        calc_case c{.current = 3};
        const std::vector<std::int64_t> values{k_int64_max / 2 + 1, k_int64_max / 2 + 1};
        check(testing_calculator().external_replicas(3, k_int64_max, values, c.pod_list()), 3, k_int64_max);
    }
}

TEST_CASE("k8s TestReplicaCalcExternalPerPodMetric") {
    SUBCASE("replica count overflow saturates to MaxInt32") {
        const std::vector<std::int64_t> values{k_int64_max};
        check(testing_calculator().external_per_pod_replicas(1, 1, values), k_int32_max, k_int64_max);
    }
    SUBCASE("usage overflow with huge target leaves replicas unchanged") {
        const std::vector<std::int64_t> values{k_int64_max};
        check(testing_calculator().external_per_pod_replicas(1, k_int64_max, values), 1, k_int64_max);
    }
    SUBCASE("outside configurable 1% tolerance") {
        const std::vector<std::int64_t> values{8600};
        check(testing_calculator(0.1, 0.01).external_per_pod_replicas(3, 2800, values), 4, 2867);
    }
}

// ---------------------------------------------------------------------------
// Pod grouping (groupPods)
// ---------------------------------------------------------------------------

namespace {

struct grouped {
    int ready = 0;
    int unready = 0;
    int missing = 0;
    int ignored = 0;
};

struct group_input {
    hpa_pod pod;
    std::optional<pod_sample> sample;
};

grouped group_all(const std::vector<group_input>& in, bool cpu) {
    const replica_calculator calc = testing_calculator();
    grouped g;
    for (const group_input& p : in) {
        switch (calc.group(p.pod, p.sample ? &*p.sample : nullptr, cpu, k_now)) {
            case hpa::pod_group::ready: ++g.ready; break;
            case hpa::pod_group::unready: ++g.unready; break;
            case hpa::pod_group::missing: ++g.missing; break;
            case hpa::pod_group::ignored: ++g.ignored; break;
        }
    }
    return g;
}

/// A pod as TestGroupPods writes them: a phase, a start time (NaN: none)
/// and a Ready condition with its last transition (absent: none).
hpa_pod group_pod(pod_phase phase, double start, pod_condition ready = pod_condition::absent, double transition = k_zero) {
    return {phase, ready, start, transition, std::nullopt, std::nullopt, false};
}

constexpr double k_no_time = std::numeric_limits<double>::quiet_NaN();
constexpr auto succeeded = pod_phase::succeeded;

void check(const grouped& g, int ready, int unready, int missing, int ignored) {
    CHECK(g.ready == ready);
    CHECK(g.unready == unready);
    CHECK(g.missing == missing);
    CHECK(g.ignored == ignored);
}

}  // namespace

TEST_CASE("k8s TestGroupPods") {
    SUBCASE("count in a ready pod - memory") {
        check(group_all({{group_pod(succeeded, k_no_time), pod_sample{1, k_now, 60}}}, false), 1, 0, 0, 0);
    }
    SUBCASE("unready a pod without ready condition - CPU") {
        check(group_all({{group_pod(succeeded, k_now), pod_sample{1, k_zero, 0}}}, true), 0, 1, 0, 0);
    }
    SUBCASE("count in a ready pod with fresh metrics during initialization period - CPU") {
        check(group_all({{group_pod(succeeded, k_now - 60, T, k_now - 30), pod_sample{1, k_now, 30}}}, true), 1, 0, 0, 0);
    }
    SUBCASE("unready a ready pod without fresh metrics during initialization period - CPU") {
        check(group_all({{group_pod(succeeded, k_now - 60, T, k_now - 30), pod_sample{1, k_now, 60}}}, true), 0, 1, 0, 0);
    }
    SUBCASE("unready an unready pod during initialization period - CPU") {
        check(group_all({{group_pod(succeeded, k_now - 600, F, k_now - 594), pod_sample{1, k_zero, 0}}}, true), 0, 1, 0, 0);
    }
    SUBCASE("count in a ready pod without fresh metrics after initialization period - CPU") {
        check(group_all({{group_pod(succeeded, k_now - 180, T, k_now - 180), pod_sample{1, k_now - 120, 60}}}, true), 1, 0, 0,
              0);
    }
    SUBCASE("count in an unready pod that was ready after initialization period - CPU") {
        check(group_all({{group_pod(succeeded, k_now - 600, F, k_now - 540), pod_sample{1, k_zero, 0}}}, true), 1, 0, 0, 0);
    }
    SUBCASE("unready pod that has never been ready after initialization period - CPU") {
        // Its condition changed 10 s after the start, not more: the Go test
        // expects it counted in (the readiness delay is exclusive).
        check(group_all({{group_pod(succeeded, k_now - 600, F, k_now - 590), pod_sample{1, k_zero, 0}}}, true), 1, 0, 0, 0);
    }
    SUBCASE("a missing pod") {
        check(group_all({{group_pod(succeeded, k_now - 180), std::nullopt}}, true), 0, 0, 1, 0);
    }
    SUBCASE("several pods") {
        check(group_all({{group_pod(succeeded, k_now), pod_sample{1, k_zero, 0}},
                         {group_pod(succeeded, k_now - 180, T, k_now - 180), pod_sample{1, k_zero, 0}},
                         {group_pod(succeeded, k_now - 180), std::nullopt}},
                        true),
              1, 1, 1, 0);
    }
    SUBCASE("pending pods are unreadied") {
        check(group_all({{group_pod(pending, k_no_time), std::nullopt}}, true), 0, 1, 0, 0);
    }
    SUBCASE("ignore pods with deletion timestamps") {
        hpa_pod deleted = group_pod(pending, k_no_time);
        deleted.deleted = true;
        check(group_all({{deleted, pod_sample{1, k_zero, 0}}}, true), 0, 0, 0, 1);
    }
    SUBCASE("ignore pods in a failed state") {
        check(group_all({{group_pod(failed, k_no_time), pod_sample{1, k_zero, 0}}}, true), 0, 0, 0, 1);
    }
}

TEST_CASE("hpa terminating pods are ignored by the metrics but counted ready for value targets") {
    // groupPods ignores a pod with a deletion timestamp, while
    // getReadyPodsCount (object and external value targets) counts any
    // Running pod whose Ready condition is True.
    calc_case c{.current = 3, .deleted = {false, false, true}};
    check(testing_calculator().object_replicas(3, 10000, 20000, c.pod_list()), 6, 20000);  // ⌈2 × 3⌉
    calc_case cpu{.current = 3, .deleted = {false, false, true}, .requests = {1000, 1000, 1000}, .levels = {1000, 1000, 1000}};
    check(cpu_replicas(cpu, 50), 4, 100, 2 * 1000);  // ⌈2 × 2⌉: the terminating pod's sample is dropped
}

}  // namespace test_policy_hpa_conformance
