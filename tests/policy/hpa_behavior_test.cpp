// Conformance of rlscale's HPA controller with Kubernetes: each TEST_CASE
// reproduces one test of kubernetes/kubernetes
// pkg/controller/podautoscaler/horizontal_test.go (named in the test name):
// a whole sync through hpa_policy::compute(), or one of its steps
// (stabilisation, limits, scale-event bookkeeping). Run them with
// ./build/tests/rlscale_tests -tc='k8s*'.
//
// How the Go fixtures translate:
// - The HPA: minReplicas, maxReplicas, a CPU utilisation metric when
//   CPUTarget > 0 followed by metricsTarget, and `behavior` when scaleUpRules
//   or scaleDownRules are set (the unset direction takes Kubernetes'
//   defaults). The controller runs with tolerance 0.1, a 2 min CPU
//   initialisation period, a 10 s readiness delay, a 5 min downscale
//   stabilisation window and scaleUpLimitFactor 8 (the test file raises it
//   from 2 in init(); the minimum stays 4).
// - Pods: len(reportedCPURequests) of them, else statusReplicas; each has
//   two containers requesting half of reportedCPURequests[i] (default 1 CPU);
//   readiness True, phase Running unless told; start time and Ready
//   transition are reportedPodStartTime[i], else Go's zero time.
// - Samples: CPU levels are split across the two containers (level/2 each,
//   so an odd level loses a millicore), stamped now with a one-minute
//   window; pods metrics are the levels as they are; an object metric is the
//   first level; an external metric is every level. A metric of type
//   "CheddarCheese" or whose metrics API errors is a failed observation.
// - History: `recommendations: nil` lets the controller record its initial
//   recommendation; `[]timestampedRecommendation{}` (or a list) replaces the
//   history, which restore_history() does.
// - Clock: the sync happens at k_now; Go's zero time is 0; hot pods started
//   now, cool pods three minutes ago.

#include <rlscale/policy/hpa_policy.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace test_policy_hpa_behavior {

using namespace rlscale;

namespace {

constexpr double k_now = 1.0e6;
constexpr double k_zero = 0.0;
constexpr double k_hot = k_now;
constexpr double k_cool = k_now - 180;

constexpr auto T = pod_condition::ready;
constexpr auto F = pod_condition::not_ready;
constexpr auto running = pod_phase::running;
constexpr auto failed = pod_phase::failed;

/// generateScalingRules(pods, podsPeriod, percent, percentPeriod, stabilizationWindow): select Max.
hpa_scaling_rules scaling_rules(std::int32_t pods, std::int32_t pods_period, std::int32_t percent, std::int32_t percent_period,
                                std::int32_t window) {
    hpa_scaling_rules r{window, select_policy::max, {}, std::nullopt};
    if (pods != 0) r.policies.push_back({scaling_policy_type::pods, pods, pods_period});
    if (percent != 0) r.policies.push_back({scaling_policy_type::percent, percent, percent_period});
    return r;
}

/// An unknown metric source type ("CheddarCheese"): its observation fails.
const hpa_metric k_cheddar = hpa_metric::pods_average_value(1);

/// horizontal_test.go's testCase.
struct hpa_case {
    int min = 0;
    int max = 0;
    int spec = 0;    // specReplicas
    int status = 0;  // statusReplicas
    std::int32_t cpu_target = 0;                              // CPUTarget
    std::vector<hpa_metric> metrics = {};                     // metricsTarget
    std::vector<std::int64_t> levels = {};                    // reportedLevels
    std::optional<std::vector<std::int64_t>> requests = {};   // reportedCPURequests, millicores
    std::vector<pod_condition> readiness = {};                // reportedPodReadiness
    std::vector<double> start = {};                           // reportedPodStartTime
    std::vector<pod_phase> phase = {};                        // reportedPodPhase
    std::vector<bool> deleted = {};                           // reportedPodDeletionTimestamp
    std::optional<hpa_scaling_rules> scale_up = {};           // scaleUpRules
    std::optional<hpa_scaling_rules> scale_down = {};         // scaleDownRules
    std::optional<std::vector<hpa_recommendation>> recommendations = {};  // nil, or the history
    std::vector<bool> metric_fails = {};                      // per metric (CPU first when cpu_target > 0)

    hpa_config config() const {
        hpa_config c;
        c.min_replicas = min;
        c.max_replicas = max;
        if (cpu_target > 0) c.metrics.push_back(hpa_metric::resource_utilization(resource_name::cpu, cpu_target));
        c.metrics.insert(c.metrics.end(), metrics.begin(), metrics.end());
        if (scale_up || scale_down) {
            c.behavior = hpa_behavior{scale_up.value_or(hpa_scaling_rules::default_scale_up()),
                                      scale_down.value_or(hpa_scaling_rules::default_scale_down())};
        }
        c.tolerance = 0.1;
        c.cpu_initialization_period_s = 120;
        c.delay_of_initial_readiness_s = 10;
        c.downscale_stabilization_s = 300;
        c.legacy_scale_up_factor = 8;
        c.legacy_scale_up_minimum = 4;
        return c;
    }

    /// One sync: the replica count the controller sets.
    int run() {
        hpa_policy hpa(config());
        if (recommendations) hpa.restore_history(*recommendations);
        return run(hpa);
    }

    int run(hpa_policy& hpa, double now = k_now) {
        build(hpa.config());
        const hpa_input in{spec, pods_, observations_, status};
        return hpa.compute(in, now);
    }

    // What run() hands to compute(), kept alive for the call.
    std::vector<hpa_pod> pods_;
    std::vector<std::vector<pod_sample>> samples_;
    std::vector<std::vector<std::int64_t>> extra_;
    std::vector<metric_observation> observations_;

    void build(const hpa_config& c) {
        const std::size_t n = requests ? requests->size() : static_cast<std::size_t>(status);
        pods_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t request = requests ? (*requests)[i] : 1000;
            const double started = i < start.size() ? start[i] : k_zero;
            hpa_pod p;
            p.phase = i < phase.size() ? phase[i] : running;
            p.deleted = i < deleted.size() && deleted[i];
            p.readiness = i < readiness.size() ? readiness[i] : T;
            p.start_time_s = started;
            p.ready_transition_s = started;
            p.cpu_request_milli = 2 * (request / 2);
            pods_.push_back(p);
        }
        samples_.assign(c.metrics.size(), {});
        extra_.assign(c.metrics.size(), {});
        observations_.clear();
        for (std::size_t m = 0; m < c.metrics.size(); ++m) {
            const hpa_metric& spec_m = c.metrics[m];
            metric_observation obs;
            obs.failed = m < metric_fails.size() && metric_fails[m];
            if (spec_m.source == metric_source::resource || spec_m.source == metric_source::pods) {
                const bool cpu = spec_m.source == metric_source::resource;
                samples_[m].assign(pods_.size(), pod_sample{});
                for (std::size_t i = 0; i < levels.size(); ++i) {
                    const std::int64_t v = cpu ? 2 * (levels[i] / 2) : levels[i];
                    if (i < pods_.size()) {
                        samples_[m][i] = {v, k_now, 60};
                    } else {
                        extra_[m].push_back(v);
                    }
                }
                obs.pods = samples_[m];
                obs.extra = extra_[m];
            } else if (spec_m.source == metric_source::object) {
                if (!levels.empty()) extra_[m].push_back(levels.front());
                obs.values = extra_[m];
            } else {
                extra_[m] = levels;
                obs.values = extra_[m];
            }
            observations_.push_back(obs);
        }
    }
};

/// Events spread evenly over the last `period_s` (generateEventsUniformDistribution).
std::vector<hpa_scale_event> uniform_events(const std::vector<int>& changes, int period_s) {
    std::vector<hpa_scale_event> out;
    const double segment = static_cast<double>(period_s) / static_cast<double>(changes.size());
    for (std::size_t i = 0; i < changes.size(); ++i) {
        const double boundary = std::trunc(period_s - segment * static_cast<double>(i + 1) + segment / 2);
        out.push_back({changes[i], k_now - boundary, false});
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Scale up
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestScaleUp") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .levels = {300, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestScaleUpUnreadyLessScale") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .levels = {300, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .readiness = {F, T, T}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpHotCpuLessScale") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .levels = {300, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .start = {k_hot, k_cool, k_cool}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpUnreadyNoScale") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .levels = {400, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .readiness = {T, F, F}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleUpHotCpuNoScale") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .levels = {400, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .readiness = {T, F, F},
               .start = {k_cool, k_hot, k_hot}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleUpIgnoresFailedPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 2, .status = 2, .cpu_target = 30, .levels = {500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}, .readiness = {T, T, F, F},
               .phase = {running, running, failed, failed}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpIgnoresDeletionPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 2, .status = 2, .cpu_target = 30, .levels = {500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}, .readiness = {T, T, F, F},
               .phase = {running, running, running, running}, .deleted = {false, false, true, true}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpCM") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(15000)},
               .levels = {20000, 10000, 30000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpCMUnreadyAndHotCpuNoLessScale") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(15000)},
               .levels = {50000, 10000, 30000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000},
               .readiness = {T, T, F}, .start = {k_cool, k_cool, k_hot}};
    CHECK(c.run() == 6);
}

TEST_CASE("k8s TestScaleUpCMUnreadyandCpuHot") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(15000)},
               .levels = {50000, 15000, 30000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000},
               .readiness = {F, T, F}, .start = {k_hot, k_cool, k_hot}};
    CHECK(c.run() == 6);  // 7 proposed, limited by maxReplicas
}

TEST_CASE("k8s TestScaleUpHotCpuNoScaleWouldScaleDown") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(15000)},
               .levels = {50000, 15000, 30000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000},
               .start = {k_hot, k_cool, k_hot}};
    CHECK(c.run() == 6);
}

TEST_CASE("k8s TestScaleUpCMObject") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::object_value(15000)}, .levels = {20000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpFromZeroCMObject") {
    hpa_case c{.min = 0, .max = 6, .spec = 0, .status = 0, .metrics = {hpa_metric::object_value(15000)}, .levels = {20000}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestScaleUpFromZeroIgnoresToleranceCMObject") {
    hpa_case c{.min = 0, .max = 6, .spec = 0, .status = 0, .metrics = {hpa_metric::object_value(1000)}, .levels = {1000}};
    CHECK(c.run() == 1);
}

TEST_CASE("k8s TestScaleUpPerPodCMObject") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::object_average_value(10000)},
               .levels = {40000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::external_value(6666)}, .levels = {8600}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpPerPodCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {hpa_metric::external_average_value(2222)},
               .levels = {8600}};
    CHECK(c.run() == 4);
}

// ---------------------------------------------------------------------------
// Several metrics, invalid and failing metrics
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestScaleUpOneMetricInvalid") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .metrics = {k_cheddar}, .levels = {300, 400, 500},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .metric_fails = {false, true}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpFromZeroOneMetricInvalid") {
    hpa_case c{.min = 0, .max = 6, .spec = 0, .status = 0, .cpu_target = 30, .metrics = {k_cheddar}, .levels = {300, 400, 500},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}, .metric_fails = {false, true}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleUpBothMetricsEmpty") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .metrics = {k_cheddar}, .levels = {},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .metric_fails = {true}};
    hpa_policy hpa(c.config());
    CHECK(c.run(hpa) == 3);
    CHECK(hpa.last_evaluation().metrics_failed);
}

TEST_CASE("k8s TestScaleUpOneMetricEmpty") {
    hpa_case c{.min = 2, .max = 6, .spec = 3, .status = 3, .cpu_target = 30, .metrics = {hpa_metric::external_value(100)},
               .levels = {300, 400, 500}, .requests = std::vector<std::int64_t>{1000, 1000, 1000},
               .metric_fails = {false, true}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestNoScaleDownOneMetricInvalid") {
    // The CPU metric alone would scale down to 3: with a metric invalid, no scale-down.
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .metrics = {k_cheddar},
               .levels = {100, 300, 500, 250, 250}, .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}, .metric_fails = {false, true}};
    hpa_policy hpa(c.config());
    hpa.restore_history(*c.recommendations);
    CHECK(c.run(hpa) == 5);
    CHECK(hpa.last_evaluation().metrics_failed);
}

TEST_CASE("k8s TestNoScaleDownOneMetricEmpty") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .metrics = {hpa_metric::external_value(1000)},
               .levels = {100, 300, 500, 250, 250}, .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}, .metric_fails = {false, true}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestNoBackoffUpscaleCM") {
    hpa_case c{.min = 1, .max = 5, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(15000)},
               .levels = {20000, 10000, 30000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestNoBackoffUpscaleCMNoBackoffCpu") {
    // CPU proposes 600 and the pods metric 4: the largest wins, then maxReplicas.
    hpa_case c{.min = 1, .max = 5, .spec = 3, .status = 3, .cpu_target = 10,
               .metrics = {hpa_metric::pods_average_value(15000)}, .levels = {20000, 10000, 30000},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestConditionFailedGetMetrics") {
    // Every metrics API errors: the count is kept, whatever the metric kind.
    hpa_case base{.min = 1, .max = 100, .spec = 3, .status = 3, .levels = {100, 200, 300},
                  .requests = std::vector<std::int64_t>{100, 100, 100}, .metric_fails = {true}};
    SUBCASE("FailedGetResourceMetric") {
        base.cpu_target = 10;
        CHECK(base.run() == 3);
    }
    SUBCASE("FailedGetPodsMetric") {
        base.metrics = {hpa_metric::pods_average_value(15000)};
        CHECK(base.run() == 3);
    }
    SUBCASE("FailedGetObjectMetric") {
        base.metrics = {hpa_metric::object_value(15000)};
        CHECK(base.run() == 3);
    }
    SUBCASE("FailedGetExternalMetric") {
        base.metrics = {hpa_metric::external_value(300)};
        CHECK(base.run() == 3);
    }
}

TEST_CASE("k8s TestEmptyMetrics") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .cpu_target = 100, .levels = {},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestEmptyCPURequest") {
    // No pods at all (reportedCPURequests is empty): the metric fails.
    hpa_case c{.min = 1, .max = 5, .spec = 1, .status = 1, .cpu_target = 100, .levels = {200},
               .requests = std::vector<std::int64_t>{}};
    CHECK(c.run() == 1);
}

// ---------------------------------------------------------------------------
// Scale down and its stabilisation
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestScaleDown") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownWithScalingRules") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000}, .scale_up = scaling_rules(0, 0, 100, 15, 30),
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownStabilizeInitialSize") {
    // No history: the initial recommendation (5) holds the scale-down back.
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestStabilizeDownscale") {
    hpa_case c{.min = 1, .max = 5, .spec = 4, .status = 4, .cpu_target = 100, .levels = {50, 50, 50},
               .requests = std::vector<std::int64_t>{100, 100, 100},
               .recommendations = std::vector<hpa_recommendation>{{10, k_now - 600}, {4, k_now - 60}}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestScaleDownCM") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::pods_average_value(20000)},
               .levels = {12000, 12000, 12000, 12000, 12000},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownCMObject") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::object_value(20000)}, .levels = {12000},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownToZeroCMObject") {
    hpa_case c{.min = 0, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::object_value(20000)}, .levels = {0},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 0);
}

TEST_CASE("k8s TestScaleDownPerPodCMObject") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::object_average_value(20000)},
               .levels = {60000}, .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::external_value(14400)}, .levels = {8600},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownToZeroCMExternal") {
    hpa_case c{.min = 0, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::external_value(14400)}, .levels = {0},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 0);
}

TEST_CASE("k8s TestScaleDownPerPodCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .metrics = {hpa_metric::external_average_value(3000)},
               .levels = {8600}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownIncludeUnreadyPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000}, .readiness = {T, T, T, F, F},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestScaleDownIgnoreHotCpuPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000},
               .start = {k_cool, k_cool, k_cool, k_hot, k_hot}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestScaleDownIgnoresFailedPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000, 1000, 1000},
               .readiness = {T, T, T, T, T, F, F}, .phase = {running, running, running, running, running, failed, failed},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestScaleDownIgnoresDeletionPods") {
    hpa_case c{.min = 2, .max = 6, .spec = 5, .status = 5, .cpu_target = 50, .levels = {100, 300, 500, 250, 250},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000, 1000, 1000},
               .readiness = {T, T, T, T, T, F, F},
               .phase = {running, running, running, running, running, running, running},
               .deleted = {false, false, false, false, false, true, true},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestMissingMetrics") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .cpu_target = 100, .levels = {400, 95},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestMissingReports") {
    hpa_case c{.min = 1, .max = 5, .spec = 4, .status = 4, .cpu_target = 50, .levels = {200},
               .requests = std::vector<std::int64_t>{200}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestAvoidUnnecessaryUpdates") {
    // The HPA the test lists targets 80 % CPU; one ready pod at 40 % would go
    // to 1, which minReplicas lifts back to the current 2.
    hpa_case c{.min = 2, .max = 6, .spec = 2, .status = 2, .cpu_target = 80, .levels = {400, 500, 700},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}, .start = {k_cool, k_hot, k_hot},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

// ---------------------------------------------------------------------------
// Tolerance
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestTolerance") {
    hpa_case c{.min = 1, .max = 5, .spec = 3, .status = 3, .cpu_target = 100, .levels = {1010, 1030, 1020},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestToleranceCM") {
    hpa_case c{.min = 1, .max = 5, .spec = 3, .status = 3, .metrics = {hpa_metric::pods_average_value(20000)},
               .levels = {20000, 20001, 21000}, .requests = std::vector<std::int64_t>{900, 1000, 1100}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestToleranceCMObject") {
    hpa_case c{.min = 1, .max = 5, .spec = 3, .status = 3, .metrics = {hpa_metric::object_value(20000)}, .levels = {20050},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestToleranceCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .metrics = {hpa_metric::external_value(8666)}, .levels = {8600}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestTolerancePerPodCMObject") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .metrics = {hpa_metric::object_average_value(2200)},
               .levels = {8600}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestTolerancePerPodCMExternal") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .metrics = {hpa_metric::external_average_value(2200)},
               .levels = {8600}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestComputedToleranceAlgImplementation") {
    const int start_pods = 10;
    const std::int64_t total_used = start_pods * 150;
    const std::int64_t total_requested = 2 * total_used;
    const double requested_to_used = static_cast<double>(total_requested / total_used);
    const std::int64_t per_pod = total_requested / start_pods;
    double target = std::abs(1 / (requested_to_used * (1 - 0.1))) + .01;
    const double used_ratio = static_cast<double>(total_used) / (static_cast<double>(total_requested) * target);
    const int final_pods = static_cast<int>(std::ceil(used_ratio * start_pods));

    hpa_case c{.min = 0, .max = 1000, .spec = start_pods, .status = start_pods,
               .cpu_target = static_cast<std::int32_t>(target * 100),
               .levels = std::vector<std::int64_t>(10, total_used / 10),
               .requests = std::vector<std::int64_t>{per_pod + 100, per_pod - 100, per_pod + 10, per_pod - 10, per_pod + 2,
                                                     per_pod - 2, per_pod + 1, per_pod - 1, per_pod, per_pod},
               .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == final_pods);
    CHECK(final_pods == 9);

    target = std::abs(1 / (requested_to_used * (1 - 0.1))) + .004;
    c.cpu_target = static_cast<std::int32_t>(target * 100);
    CHECK(c.run() == start_pods);
}

// ---------------------------------------------------------------------------
// Bounds and the legacy scale-up limit
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestMinReplicas") {
    hpa_case c{.min = 2, .max = 5, .spec = 3, .status = 3, .cpu_target = 90, .levels = {10, 95, 10},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestZeroMinReplicasDesiredZero") {
    hpa_case c{.min = 0, .max = 5, .spec = 3, .status = 3, .cpu_target = 90, .levels = {0, 0, 0},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 0);
}

TEST_CASE("k8s TestMinReplicasDesiredZero") {
    hpa_case c{.min = 2, .max = 5, .spec = 3, .status = 3, .cpu_target = 90, .levels = {0, 0, 0},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}, .recommendations = std::vector<hpa_recommendation>{}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestZeroReplicas") {
    // A target at zero with minReplicas 3: scaling is disabled.
    hpa_case c{.min = 3, .max = 5, .spec = 0, .status = 0, .cpu_target = 90, .levels = {},
               .requests = std::vector<std::int64_t>{}};
    CHECK(c.run() == 0);
}

TEST_CASE("k8s TestTooFewReplicas") {
    hpa_case c{.min = 3, .max = 5, .spec = 2, .status = 2, .cpu_target = 90, .levels = {},
               .requests = std::vector<std::int64_t>{}};
    CHECK(c.run() == 3);
}

TEST_CASE("k8s TestTooManyReplicas") {
    hpa_case c{.min = 3, .max = 5, .spec = 10, .status = 10, .cpu_target = 90, .levels = {},
               .requests = std::vector<std::int64_t>{}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestMaxReplicas") {
    hpa_case c{.min = 2, .max = 5, .spec = 3, .status = 3, .cpu_target = 90, .levels = {8000, 9500, 1000},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestSuperfluousMetrics") {
    hpa_case c{.min = 2, .max = 6, .spec = 4, .status = 4, .cpu_target = 100, .levels = {4000, 9500, 3000, 7000, 3200, 2000},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}};
    CHECK(c.run() == 6);
}

TEST_CASE("k8s TestEventCreated") {
    hpa_case c{.min = 1, .max = 5, .spec = 1, .status = 1, .cpu_target = 50, .levels = {200},
               .requests = std::vector<std::int64_t>{200}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestEventNotCreated") {
    hpa_case c{.min = 1, .max = 5, .spec = 2, .status = 2, .cpu_target = 50, .levels = {200, 200},
               .requests = std::vector<std::int64_t>{400, 400}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestScaleUpRCImmediately") {
    hpa_case c{.min = 2, .max = 6, .spec = 1, .status = 1, .levels = {0, 0, 0, 0},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}};
    CHECK(c.run() == 2);
}

TEST_CASE("k8s TestScaleDownRCImmediately") {
    hpa_case c{.min = 2, .max = 5, .spec = 6, .status = 6, .cpu_target = 50, .levels = {8000, 9500, 1000},
               .requests = std::vector<std::int64_t>{900, 1000, 1100}};
    CHECK(c.run() == 5);
}

TEST_CASE("k8s TestMoreReplicasThanSpecNoScale") {
    // A rolling update with a 25 % surge: five pods for a spec of four.
    hpa_case c{.min = 1, .max = 8, .spec = 4, .status = 5, .cpu_target = 50, .levels = {500, 500, 500, 500, 500},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000, 1000}};
    CHECK(c.run() == 4);
}

TEST_CASE("k8s TestConvertDesiredReplicasWithRules") {
    // scaleUpLimitFactor is 8 in horizontal_test.go, so calculateScaleUpLimit(3) = max(8 × 3, 4) = 24.
    struct row {
        int current, desired, min, max, expected;
    };
    const row rows[] = {
        {5, 7, 3, 8, 7},           // prenormalized desired replicas within range
        {3, 1, 2, 8, 2},           // prenormalized desired replicas < minReplicas
        {1, 0, 0, 10, 0},          // prenormalized desired zeroed replicas within range
        {20, 1000, 1, 10, 10},     // maxReplicas is the limit because maxReplicas < scaleUpLimit
        {3, 1000, 1, 2000, 24},    // scaleUpLimit is the limit because scaleUpLimit < maxReplicas
    };
    for (const row& r : rows) {
        CAPTURE(r.current);
        CAPTURE(r.desired);
        CHECK(legacy_bounded_replicas(r.current, r.desired, r.min, r.max, 8.0, 4) == r.expected);
        hpa_config c;
        c.min_replicas = r.min;
        c.max_replicas = r.max;
        c.legacy_scale_up_factor = 8;
        const hpa_policy hpa(c);
        CHECK(hpa.limit(r.current, r.desired, k_now) == r.expected);
    }
}

// ---------------------------------------------------------------------------
// Behavior: rate policies and their periods
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestUpscaleCap") {
    hpa_case c{.min = 1, .max = 100, .spec = 3, .status = 3, .cpu_target = 10, .levels = {100, 200, 300},
               .requests = std::vector<std::int64_t>{100, 100, 100}, .scale_up = scaling_rules(0, 0, 700, 60, 0)};
    CHECK(c.run() == 24);
}

TEST_CASE("k8s TestUpscaleCapGreaterThanMaxReplicas") {
    hpa_case c{.min = 1, .max = 20, .spec = 3, .status = 3, .cpu_target = 10, .levels = {100, 200, 300},
               .requests = std::vector<std::int64_t>{100, 100, 100}, .scale_up = scaling_rules(0, 0, 700, 60, 0)};
    CHECK(c.run() == 20);
}

TEST_CASE("k8s TestCalculateScaleUpLimitWithScalingRules") {
    const hpa_scaling_rules rules{300, select_policy::min,
                                  {{scaling_policy_type::pods, 2, 60}, {scaling_policy_type::percent, 50, 60}}, std::nullopt};
    CHECK(scale_up_limit(1, {}, {}, rules, k_now) == 2);
}

TEST_CASE("k8s TestCalculateScaleDownLimitWithBehaviors") {
    const hpa_scaling_rules rules{300, select_policy::min,
                                  {{scaling_policy_type::pods, 2, 60}, {scaling_policy_type::percent, 50, 60}}, std::nullopt};
    CHECK(scale_down_limit(5, {}, {}, rules, k_now) == 3);
}

TEST_CASE("k8s TestScalingWithRules") {
    // convertDesiredReplicasWithBehaviorRate, with the scale events already
    // recorded; an unset direction takes Kubernetes' default rules.
    struct row {
        const char* name;
        std::vector<hpa_scale_event> up_events;
        std::vector<hpa_scale_event> down_events;
        int min, max;
        std::optional<hpa_scaling_rules> up, down;
        int current, desired, expected;
    };
    const std::optional<hpa_scaling_rules> none;
    const std::vector<hpa_scale_event> no_events;
    const std::vector<row> rows = {
        {"prenormalized desired replicas within range", no_events, no_events, 3, 8, none, none, 5, 7, 7},
        {"prenormalized desired replicas < minReplicas", no_events, no_events, 2, 8, none, none, 3, 1, 2},
        {"prenormalized desired replicas within range when minReplicas is 0", no_events, no_events, 0, 10, none, none, 1, 0, 0},
        {"maxReplicas is the limit because maxReplicas < scaleUpLimit", no_events, no_events, 1, 10, none, none, 20, 1000, 10},
        {"desired replica count is more than the maximum replica count", no_events, no_events, 100, 150, none, none, 100, 1000,
         150},
        {"scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", no_events, no_events, 1, 2000,
         scaling_rules(0, 0, 1, 60, 0), none, 3, 1000, 4},
        // Skipped by the Go test (testThis), its expectation still holds.
        {"scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies", no_events, no_events, 3,
         2000, none, scaling_rules(20, 60, 0, 0, 0), 1000, 3, 980},
        {"scaleUp with default behavior", no_events, no_events, 1, 1000, none, none, 10, 50, 20},
        {"scaleUp with pods policy larger than percent policy", no_events, no_events, 1, 1000, scaling_rules(100, 60, 100, 60, 0),
         none, 10, 500, 110},
        {"scaleUp with percent policy larger than pods policy", no_events, no_events, 1, 1000, scaling_rules(2, 60, 100, 60, 0),
         none, 10, 500, 20},
        {"scaleUp with spec MaxReplicas limitation with large pod policy", no_events, no_events, 1, 1000,
         scaling_rules(100, 60, 0, 0, 0), none, 10, 50, 50},
        {"scaleUp with spec MaxReplicas limitation with large percent policy", no_events, no_events, 1, 1000,
         scaling_rules(10000, 60, 0, 0, 0), none, 10, 50, 50},
        {"scaleUp with pod policy limitation", no_events, no_events, 1, 1000, scaling_rules(30, 60, 0, 0, 0), none, 10, 50, 40},
        {"scaleUp with percent policy limitation", no_events, no_events, 1, 1000, scaling_rules(0, 0, 200, 60, 0), none, 10, 50,
         30},
        {"scaleDown with percent policy larger than pod policy", no_events, no_events, 1, 1000, none,
         scaling_rules(20, 60, 1, 60, 300), 100, 2, 80},
        {"scaleDown with pod policy larger than percent policy", no_events, no_events, 1, 1000, none,
         scaling_rules(2, 60, 1, 60, 300), 100, 2, 98},
        {"scaleDown with spec MinReplicas=nil limitation with large pod policy", no_events, no_events, 1, 1000, none,
         scaling_rules(100, 60, 0, 0, 300), 10, 0, 1},
        {"scaleDown with spec MinReplicas limitation with large pod policy", no_events, no_events, 1, 1000, none,
         scaling_rules(100, 60, 0, 0, 300), 10, 0, 1},
        {"scaleDown with spec MinReplicas limitation with large percent policy", no_events, no_events, 5, 1000, none,
         scaling_rules(0, 0, 100, 60, 300), 10, 2, 5},
        {"scaleDown with pod policy limitation", no_events, no_events, 1, 1000, none, scaling_rules(5, 60, 0, 0, 300), 10, 2, 5},
        {"scaleDown with percent policy limitation", no_events, no_events, 1, 1000, none, scaling_rules(0, 0, 50, 60, 300), 10,
         5, 5},
        {"scaleUp with spec MaxReplicas limitation with large pod policy and events", uniform_events({1, 5, 9}, 120), no_events,
         1, 200, scaling_rules(300, 60, 0, 0, 0), none, 100, 500, 200},
        {"scaleUp with spec MaxReplicas limitation with large percent policy and events", uniform_events({1, 5, 9}, 120),
         no_events, 1, 200, scaling_rules(0, 0, 10000, 60, 0), none, 100, 500, 200},
        {"scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
         uniform_events({1, 5, 9}, 120), no_events, 1, 1000, scaling_rules(5, 120, 0, 0, 0), none, 100, 500, 100},
        {"scaleUp with pod policy and previous scale up events", uniform_events({1, 5, 9}, 120), no_events, 1, 1000,
         scaling_rules(150, 120, 0, 0, 0), none, 100, 500, 235},
        {"scaleUp with percent policy and previous scale up events", uniform_events({1, 5, 9}, 120), no_events, 1, 1000,
         scaling_rules(0, 0, 200, 120, 0), none, 100, 500, 255},
        {"scaleUp with percent policy and previous scale up and down events", uniform_events({4}, 120),
         uniform_events({2}, 120), 1, 1000, scaling_rules(0, 0, 300, 300, 0), none, 6, 24, 16},
        {"scaleDown with default policy and previous events", no_events, uniform_events({1, 5, 9}, 120), 1, 1000, none, none,
         10, 5, 5},
        {"scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", no_events,
         uniform_events({1, 5, 9}, 120), 1, 1000, none, scaling_rules(115, 120, 0, 0, 300), 100, 0, 1},
        {"scaleDown with spec MinReplicas limitation with large pod policy and previous events", no_events,
         uniform_events({1, 5, 9}, 120), 5, 1000, none, scaling_rules(130, 120, 0, 0, 300), 100, 0, 5},
        {"scaleDown with spec MinReplicas limitation with large percent policy and previous events", no_events,
         uniform_events({1, 5, 9}, 120), 5, 1000, none, scaling_rules(0, 0, 100, 120, 300), 100, 2, 5},
        {"scaleDown with pod policy limitation and previous events", no_events, uniform_events({1, 5, 9}, 120), 1, 1000, none,
         scaling_rules(5, 120, 0, 0, 300), 100, 2, 100},
        {"scaleDown with percent policy limitation and previous events", no_events, uniform_events({2, 4, 6}, 120), 1, 1000,
         none, scaling_rules(0, 0, 50, 120, 300), 100, 0, 56},
        {"scaleDown with percent policy and previous scale up and down events", uniform_events({2}, 120),
         uniform_events({4}, 120), 1, 1000, none, scaling_rules(0, 0, 50, 180, 0), 10, 1, 6},
        {"scaleDown with previous events preventing further scale down", no_events, uniform_events({10, 10, 10}, 120), 1, 1000,
         none, scaling_rules(0, 0, 10, 120, 300), 100, 0, 100},
        {"scaleDown with with previous events still allowing more scale down", no_events, uniform_events({10, 10, 10}, 120), 1,
         1000, none, scaling_rules(0, 0, 1000, 120, 300), 10, 5, 5},
        {"check 'outdated' flag for events for one behavior for up", uniform_events({8, 12, 9, 11}, 120), no_events, 1, 1000,
         scaling_rules(1000, 60, 0, 0, 0), none, 100, 200, 200},
        {"check that events were not marked 'outdated' for two different policies in the behavior for up",
         uniform_events({8, 12, 9, 11}, 120), no_events, 1, 1000, scaling_rules(1000, 120, 100, 60, 0), none, 100, 200, 200},
        {"check that events were marked 'outdated' for two different policies in the behavior for up",
         uniform_events({8, 12, 9, 11}, 120), no_events, 1, 1000, scaling_rules(1000, 30, 100, 60, 0), none, 100, 200, 200},
        {"check 'outdated' flag for events for one behavior for down", no_events, uniform_events({8, 12, 9, 11}, 120), 1, 1000,
         none, scaling_rules(1000, 60, 0, 0, 300), 100, 5, 5},
        {"check that events were not marked 'outdated' for two different policies in the behavior for down", no_events,
         uniform_events({8, 12, 9, 11}, 120), 1, 1000, none, scaling_rules(1000, 120, 100, 60, 300), 100, 5, 5},
        {"check that events were marked 'outdated' for two different policies in the behavior for down", no_events,
         uniform_events({8, 12, 9, 11}, 120), 1, 1000, none, scaling_rules(1000, 30, 100, 60, 300), 100, 5, 5},
    };
    for (const row& r : rows) {
        CAPTURE(std::string(r.name));
        hpa_config c;
        c.min_replicas = r.min;
        c.max_replicas = r.max;
        c.behavior = hpa_behavior{r.up.value_or(hpa_scaling_rules::default_scale_up()),
                                  r.down.value_or(hpa_scaling_rules::default_scale_down())};
        hpa_policy hpa(c);
        hpa.restore_history({}, r.up_events, r.down_events);
        CHECK(hpa.limit(r.current, r.desired, k_now) == r.expected);
    }
}

TEST_CASE("k8s TestStoreScaleEvents") {
    struct row {
        const char* name;
        std::vector<hpa_scale_event> previous;
        std::vector<hpa_scale_event> expected;  // replica_change and outdated
        std::optional<hpa_scaling_rules> rules;
        std::int64_t expected_change;           // added in the last 60 s before storing
    };
    const std::vector<row> rows = {
        {"empty entries with default behavior", {}, {}, std::nullopt, 0},
        {"empty entries with two-policy-behavior", {}, {{5, k_now, false}}, scaling_rules(10, 60, 100, 60, 0), 0},
        {"one outdated entry to be kept untouched without behavior", {{7, k_now - 61, false}}, {{7, k_now, false}},
         std::nullopt, 0},
        {"one outdated entry to be replaced with behavior", {{7, k_now - 61, false}}, {{5, k_now, false}},
         scaling_rules(10, 60, 100, 60, 0), 0},
        {"one actual entry to be not touched with behavior", {{7, k_now - 58, false}}, {{7, k_now, false}, {5, k_now, false}},
         scaling_rules(10, 60, 100, 60, 0), 7},
        {"two entries, one of them to be replaced", {{7, k_now - 61, false}, {6, k_now - 59, false}},
         {{5, k_now, false}, {6, k_now, false}}, scaling_rules(10, 60, 0, 0, 0), 6},
        {"replace one entry, use policies with different periods",
         {{8, k_now - 29, false}, {6, k_now - 59, false}, {7, k_now - 61, false}, {9, k_now - 61, false}},
         {{8, k_now, false}, {6, k_now, false}, {7, k_now, true}, {5, k_now, false}}, scaling_rules(10, 60, 100, 30, 0), 14},
        {"two entries, both actual", {{7, k_now - 58, false}, {6, k_now - 59, false}},
         {{7, k_now, false}, {6, k_now, false}, {5, k_now, false}}, scaling_rules(10, 120, 100, 30, 0), 13},
    };
    const auto check_events = [](std::span<const hpa_scale_event> got, const std::vector<hpa_scale_event>& want) {
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            CAPTURE(i);
            CHECK(got[i].replica_change == want[i].replica_change);
            CHECK(got[i].outdated == want[i].outdated);
        }
    };
    for (const row& r : rows) {
        CAPTURE(std::string(r.name));
        {  // scale up from 10 to 15
            hpa_config c;
            c.max_replicas = 100;
            if (r.rules) c.behavior = hpa_behavior{*r.rules, hpa_scaling_rules::default_scale_down()};
            hpa_policy hpa(c);
            hpa.restore_history({}, r.previous, {});
            CHECK(replicas_changed_in_period(60, hpa.scale_up_events(), k_now) == r.expected_change);
            hpa.record_scale_event(10, 15, k_now);
            check_events(hpa.scale_up_events(), r.expected);
        }
        {  // scale down from 10 to 5
            hpa_config c;
            c.max_replicas = 100;
            if (r.rules) c.behavior = hpa_behavior{hpa_scaling_rules::default_scale_up(), *r.rules};
            hpa_policy hpa(c);
            hpa.restore_history({}, {}, r.previous);
            CHECK(replicas_changed_in_period(60, hpa.scale_down_events(), k_now) == r.expected_change);
            hpa.record_scale_event(10, 5, k_now);
            check_events(hpa.scale_down_events(), r.expected);
        }
    }
}

// ---------------------------------------------------------------------------
// Stabilisation windows
// ---------------------------------------------------------------------------

TEST_CASE("k8s TestNormalizeDesiredReplicas") {
    // The legacy stabilisation: the highest recommendation of the last 5 min.
    struct row {
        const char* name;
        std::vector<hpa_recommendation> history;
        int desired, expected;
        std::size_t log_length;
    };
    const std::vector<row> rows = {
        {"empty log", {}, 5, 5, 1},
        {"stabilize", {{4, k_now - 120}, {5, k_now - 60}}, 3, 5, 3},
        {"no stabilize", {{1, k_now - 120}, {2, k_now - 60}}, 3, 3, 3},
        {"no stabilize - old recommendations", {{10, k_now - 600}, {9, k_now - 540}}, 3, 3, 2},
        {"stabilize - old recommendations", {{10, k_now - 600}, {4, k_now - 60}, {5, k_now - 120}, {9, k_now - 540}}, 3, 5, 4},
    };
    for (const row& r : rows) {
        CAPTURE(std::string(r.name));
        hpa_config c;
        c.downscale_stabilization_s = 300;
        hpa_policy hpa(c);
        hpa.restore_history(r.history);
        CHECK(hpa.stabilize(r.desired, r.desired, k_now) == r.expected);
        CHECK(hpa.recommendations().size() == r.log_length);
    }
}

TEST_CASE("k8s TestNormalizeDesiredReplicasWithBehavior") {
    // stabilizeRecommendationWithBehaviors with explicit windows (0 unless set).
    struct row {
        const char* name;
        std::vector<hpa_recommendation> history;
        int current, desired, expected;
        std::vector<int> stored;  // empty: not checked
        std::int32_t up_window, down_window;
    };
    const std::vector<row> rows = {
        {"empty recommendations for scaling down", {}, 100, 5, 5, {5}, 0, 0},
        {"simple scale down stabilization", {{4, k_now - 120}, {5, k_now - 60}}, 100, 3, 5, {4, 5, 3}, 0, 180},
        {"simple scale up stabilization", {{4, k_now - 120}, {5, k_now - 60}}, 1, 7, 4, {4, 5, 7}, 300, 0},
        {"no scale down stabilization", {{1, k_now - 120}, {2, k_now - 60}}, 100, 3, 3, {1, 2, 3}, 300, 0},
        {"no scale up stabilization", {{4, k_now - 120}, {5, k_now - 60}}, 1, 3, 3, {4, 5, 3}, 0, 300},
        {"no scale down stabilization, reuse recommendation element", {{10, k_now - 600}, {9, k_now - 540}}, 100, 3, 3, {10, 3},
         0, 0},
        {"no scale up stabilization, reuse recommendation element", {{10, k_now - 600}, {9, k_now - 540}}, 1, 100, 100,
         {10, 100}, 0, 0},
        {"scale down stabilization, reuse one of obsolete recommendation element",
         {{10, k_now - 600}, {4, k_now - 60}, {5, k_now - 120}, {9, k_now - 540}}, 100, 3, 5, {10, 4, 5, 3}, 0, 180},
        {"scale up stabilization, reuse one of obsolete recommendation element",
         {{10, k_now - 6000}, {6, k_now - 60}, {5, k_now - 120}, {9, k_now - 180}}, 1, 100, 5, {100, 6, 5, 9}, 300, 0},
        {"scale up and down stabilization, do not scale up when prenormalized rec goes down",
         {{2, k_now - 6000}, {3, k_now - 180}}, 2, 1, 2, {}, 300, 300},
        {"scale up and down stabilization, do not scale down when prenormalized rec goes up",
         {{2, k_now - 6000}, {1, k_now - 180}}, 2, 3, 2, {}, 300, 300},
    };
    for (const row& r : rows) {
        CAPTURE(std::string(r.name));
        hpa_config c;
        c.max_replicas = 1000;
        c.behavior = hpa_behavior{};
        c.behavior->scale_up.stabilization_window_seconds = r.up_window;
        c.behavior->scale_down.stabilization_window_seconds = r.down_window;
        hpa_policy hpa(c);
        hpa.restore_history(r.history);
        CHECK(hpa.stabilize(r.current, r.desired, k_now) == r.expected);
        if (!r.stored.empty()) {
            const auto recs = hpa.recommendations();
            REQUIRE(recs.size() == r.stored.size());
            for (std::size_t i = 0; i < recs.size(); ++i) {
                CAPTURE(i);
                CHECK(recs[i].replicas == r.stored[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// rlscale-level checks of the same machinery over several syncs
// ---------------------------------------------------------------------------

TEST_CASE("hpa legacy downscale stabilisation keeps the highest recommendation for the window") {
    // Four pods at 100 % against a 50 % target: 8. Then eight pods at 12 %
    // recommend 2, which waits until the 8 has left the 300 s window.
    hpa_case high{.min = 1, .max = 10, .spec = 4, .status = 4, .cpu_target = 50, .levels = {1000, 1000, 1000, 1000},
                  .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}};
    hpa_policy hpa(high.config());
    hpa.restore_history({});
    CHECK(high.run(hpa, k_now) == 8);
    hpa_case low{.min = 1, .max = 10, .spec = 8, .status = 8, .cpu_target = 50, .levels = std::vector<std::int64_t>(8, 120),
                 .requests = std::vector<std::int64_t>(8, 1000)};
    CHECK(low.run(hpa, k_now + 15) == 8);
    CHECK(low.run(hpa, k_now + 300) == 8);  // the 8 is exactly at the window's edge: still in
    CHECK(low.run(hpa, k_now + 301) == 2);
}

TEST_CASE("hpa default behavior rate-limits scale-ups per 15 s period") {
    // Default scale-up rules: the larger of +4 pods and +100 % per 15 s,
    // counted from the count at the start of the period.
    hpa_config c = hpa_config::cpu_utilization(50);
    c.max_replicas = 100;
    c.behavior = hpa_behavior{};
    hpa_policy hpa(c);
    hpa_case two{.min = 1, .max = 100, .spec = 2, .status = 2, .cpu_target = 50, .levels = {5000, 5000},
                 .requests = std::vector<std::int64_t>{1000, 1000}};
    CHECK(two.run(hpa, k_now) == 6);  // wants 20: max(2 + 4, 2 × 2)
    hpa_case six{.min = 1, .max = 100, .spec = 6, .status = 6, .cpu_target = 50,
                 .levels = std::vector<std::int64_t>(6, 5000), .requests = std::vector<std::int64_t>(6, 1000)};
    CHECK(six.run(hpa, k_now + 5) == 6);    // the period began at 2: no more yet
    CHECK(six.run(hpa, k_now + 16) == 12);  // a new period from 6: max(6 + 4, 6 × 2)
    // The first event (+4 at k_now) is older than the longest period when the
    // second is stored, so its slot is reused.
    REQUIRE(hpa.scale_up_events().size() == 1);
    CHECK(hpa.scale_up_events()[0].replica_change == 6);
    CHECK(hpa.scale_up_events()[0].time_s == k_now + 16);
}

// Two pods requesting 1000 m each, using `millicores` each, against a 50 %
// CPU target; 1 to 10 replicas.
hpa_case two_pods_at(std::int64_t millicores) {
    return {.min = 1, .max = 10, .spec = 2, .status = 2, .cpu_target = 50, .levels = {millicores, millicores},
            .requests = std::vector<std::int64_t>{1000, 1000}};
}

// Kubernetes' default scaling rules for both cases.
void with_default_behavior(hpa_case& a, hpa_case& b) {
    a.scale_up = b.scale_up = hpa_scaling_rules::default_scale_up();
    a.scale_down = b.scale_down = hpa_scaling_rules::default_scale_down();
}

TEST_CASE("hpa compute starts a new history when the clock goes back further than max_clock_backwards_s") {
    // Four pods at 100 % of a 50 % target recommend 8 at k_now. A new run
    // whose clock starts again then syncs every 15 s from t = 15 with two
    // pods at 12 %: every answer must be a fresh controller's (2, then the
    // minimum once its initial recommendation has left the 300 s window).
    // Kept, the 8 stamped after the clock held the count at 8 (legacy) or 2.
    for (const bool with_behavior : {false, true}) {
        CAPTURE(with_behavior);
        hpa_case high{.min = 1, .max = 10, .spec = 4, .status = 4, .cpu_target = 50, .levels = {1000, 1000, 1000, 1000},
                      .requests = std::vector<std::int64_t>{1000, 1000, 1000, 1000}};
        hpa_case low = two_pods_at(120);
        if (with_behavior) with_default_behavior(high, low);
        hpa_policy hpa(high.config());
        hpa_policy fresh(low.config());
        REQUIRE(high.run(hpa, k_now) == 8);
        int last = 0;
        for (int k = 1; k <= 25; ++k) {
            const double t = 15.0 * k;
            CAPTURE(t);
            last = low.run(hpa, t);
            CHECK(last == low.run(fresh, t));
            CHECK(hpa.recommendations().size() == fresh.recommendations().size());
        }
        CHECK(last == 1);
    }
}

TEST_CASE("hpa steps start a new history when the clock goes back further than max_clock_backwards_s") {
    // A restored history from a run that reached t = 1000 (40 recommended,
    // 30 pods added), then a step at t = 15 of a new run whose clock starts
    // again: each step answers and records as a fresh controller would.
    hpa_config c = hpa_config::cpu_utilization(50);
    c.max_replicas = 100;
    c.behavior = hpa_behavior{};
    const std::vector<hpa_recommendation> recs = {{40, 1000}};
    const std::vector<hpa_scale_event> ups = {{30, 1000, false}};
    hpa_policy hpa(c);
    hpa.restore_history(recs, ups);
    hpa_policy fresh(c);
    SUBCASE("limit reads no scale events and records nothing") {
        CHECK(hpa.limit(10, 50, 15) == fresh.limit(10, 50, 15));
        CHECK(hpa.limit(10, 50, 15) == 20);  // max(10 + 4, 2 × 10); kept, the +30 allowed none
        CHECK(hpa.scale_up_events().size() == 1);
        CHECK(hpa.limit(10, 50, 999.5) == 10);  // jitter: the +30 is still inside the period
    }
    SUBCASE("stabilize drops the history, then records its recommendation") {
        CHECK(hpa.stabilize(10, 5, 15) == fresh.stabilize(10, 5, 15));
        CHECK(hpa.stabilize(10, 5, 30) == 5);  // kept, the 40 held the count at 10
        CHECK(hpa.recommendations().size() == 2);
        CHECK(hpa.scale_up_events().empty());
    }
    SUBCASE("normalize drops the history") {
        CHECK(hpa.normalize(10, 50, 15) == fresh.normalize(10, 50, 15));
        CHECK(hpa.normalize(20, 50, 30) == 40);  // kept, the +30 held the count at 10, then 20
        CHECK(hpa.recommendations().size() == 2);
    }
    SUBCASE("record_scale_event drops the history, then records its event") {
        hpa.record_scale_event(10, 20, 15);
        REQUIRE(hpa.scale_up_events().size() == 1);
        CHECK(hpa.scale_up_events()[0].replica_change == 10);
        CHECK(hpa.scale_up_events()[0].time_s == 15);
        CHECK(hpa.recommendations().empty());
    }
    SUBCASE("0.5 s back is jitter: the history is kept") {
        CHECK(hpa.stabilize(10, 5, 999.5) == 10);  // the 40 is inside the scale-down window
        CHECK(hpa.recommendations().size() == 2);
        CHECK(hpa.scale_up_events().size() == 1);
    }
}

TEST_CASE("hpa steps hold on a clock that is not finite and record nothing") {
    // Two pods at 125 % of a 50 % target recommend 5; at 12 %, 1. Recorded
    // at NaN, the 5 counted as inside every window for ever: the legacy HPA
    // then kept 5 (from 2) at every later clock. Each step holds instead,
    // and every later sync answers and records as a twin's that never saw
    // the clock.
    for (const bool with_behavior : {false, true}) {
        for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
            CAPTURE(with_behavior);
            CAPTURE(bad);
            hpa_case high = two_pods_at(1250);
            hpa_case low = two_pods_at(120);
            if (with_behavior) with_default_behavior(high, low);
            hpa_policy hpa(high.config());
            hpa_policy twin(high.config());
            CHECK(high.run(hpa, bad) == 2);
            CHECK(std::string(hpa.last_evaluation().reason) == "hpa: clock is not finite");
            CHECK(hpa.stabilize(2, 5, bad) == 2);
            CHECK(hpa.normalize(2, 5, bad) == 2);
            hpa.record_scale_event(2, 5, bad);
            hpa.record_scale_event(5, 2, bad);
            CHECK(hpa.recommendations().empty());
            CHECK(hpa.scale_up_events().empty());
            CHECK(hpa.scale_down_events().empty());
            for (const double t : {k_now, k_now + 1000, k_now + 1e6}) {
                CAPTURE(t);
                const int got = low.run(hpa, t);
                CHECK(got == low.run(twin, t));
                CHECK(got == (t == k_now ? 2 : 1));  // the initial recommendation (2) holds for the window
                CHECK(hpa.recommendations().size() == twin.recommendations().size());
                CHECK(hpa.scale_down_events().size() == twin.scale_down_events().size());
            }
        }
    }
}

TEST_CASE("hpa restore_history refuses a time that is not finite, naming the entry") {
    // Restored, {10 at NaN} held a legacy HPA at 10 at every later clock
    // (t = 1e3, 1e5, 1e8). Refused, the history in place stays.
    hpa_policy legacy(hpa_config::cpu_utilization(50));
    CHECK_THROWS_AS(legacy.restore_history(std::vector<hpa_recommendation>{{10, std::nan("")}}), config_error);
    for (const double t : {1e3, 1e5, 1e8}) CHECK(legacy.normalize(10, 1, t) == 1);

    hpa_config c = hpa_config::cpu_utilization(50);
    c.behavior = hpa_behavior{};
    hpa_policy hpa(c);
    const std::vector<hpa_recommendation> kept = {{3, 100}};
    const std::vector<hpa_scale_event> kept_up = {{1, 100, false}};
    hpa.restore_history(kept, kept_up);
    const std::vector<hpa_recommendation> nan_rec = {{3, 100}, {10, std::nan("")}};
    CHECK_THROWS_WITH_AS(hpa.restore_history(nan_rec), "hpa_policy.recommendations[1].time_s: must be finite, got nan", config_error);
    const std::vector<hpa_scale_event> inf_event = {{2, HUGE_VAL, false}};
    CHECK_THROWS_WITH_AS(hpa.restore_history(kept, inf_event), "hpa_policy.scale_up_events[0].time_s: must be finite, got inf",
                         config_error);
    const std::vector<hpa_scale_event> ninf_event = {{1, 50, false}, {2, -HUGE_VAL, false}};
    CHECK_THROWS_WITH_AS(hpa.restore_history(kept, {}, ninf_event),
                         "hpa_policy.scale_down_events[1].time_s: must be finite, got -inf", config_error);
    REQUIRE(hpa.recommendations().size() == 1);
    CHECK(hpa.recommendations()[0].replicas == 3);
    REQUIRE(hpa.scale_up_events().size() == 1);
    CHECK(hpa.scale_up_events()[0].time_s == 100);
    CHECK(hpa.scale_down_events().empty());
}

TEST_CASE("hpa legacy_scale_up_minimum below 1 is refused: a target at zero could never scale up") {
    // An external metric of 5000 against a 1000 target asks 5 replicas of a
    // target at 0 (minimum 0). At a scale-up minimum of 0 the legacy limit
    // is max(factor × 0, 0) = 0: "no change" for ever.
    hpa_case c{.min = 0, .max = 10, .spec = 0, .status = 0, .metrics = {hpa_metric::external_value(1000)}, .levels = {5000}};
    hpa_config cfg = c.config();
    cfg.legacy_scale_up_minimum = 0;
    CHECK_THROWS_WITH_AS(hpa_policy{cfg}, "hpa_config.legacy_scale_up_minimum: must be >= 1, got 0", config_error);
    cfg.legacy_scale_up_minimum = -3;
    CHECK_THROWS_WITH_AS(hpa_policy{cfg}, "hpa_config.legacy_scale_up_minimum: must be >= 1, got -3", config_error);
    cfg.legacy_scale_up_minimum = 1;
    hpa_policy one(cfg);
    CHECK(c.run(one) == 1);  // max(8 × 0, 1)
    CHECK(c.run() == 4);     // Kubernetes' 4
}

TEST_CASE("hpa behavior tolerances reach the replica calculator") {
    // 102 % of a 100 % target: inside the default 10 %, outside a 1 % scale-up tolerance.
    hpa_case c{.min = 1, .max = 10, .spec = 3, .status = 3, .cpu_target = 100, .levels = {1020, 1020, 1020},
               .requests = std::vector<std::int64_t>{1000, 1000, 1000}};
    CHECK(c.run() == 3);
    c.scale_up = hpa_scaling_rules::default_scale_up();
    c.scale_up->tolerance = 0.01;
    CHECK(c.run() == 4);
    hpa_policy hpa(c.config());
    CHECK(hpa.calculator().scale_up_tolerance == 0.01);
    CHECK_FALSE(hpa.calculator().scale_down_tolerance.has_value());
    hpa_config bad = c.config();
    bad.behavior->scale_down.tolerance = -0.5;
    CHECK_THROWS_AS(hpa_policy{bad}, config_error);
}

TEST_CASE("hpa per-pod value targets divide by the status replica count") {
    // GetObjectPerPodMetricReplicas compares against status.replicas: 8.4
    // against 2 per pod is within tolerance for four pods (1.05) but not for
    // the five of a surge (0.84), which then propose ⌈8.4 / 2⌉ = 5.
    hpa_case c{.min = 1, .max = 10, .spec = 4, .status = 4, .metrics = {hpa_metric::object_average_value(2000)},
               .levels = {8400}};
    CHECK(c.run() == 4);
    c.status = 5;
    CHECK(c.run() == 5);
}

}  // namespace test_policy_hpa_behavior
