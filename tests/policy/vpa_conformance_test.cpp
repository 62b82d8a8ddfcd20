// Conformance of rlscale's VPA recommender with Kubernetes: each TEST_CASE
// reproduces one test of kubernetes/autoscaler
// vertical-pod-autoscaler/pkg/recommender/ (the Go file and test named in
// the test name) with the same inputs and expected values. Run them with
// ./build/tests/rlscale_tests -tc='*_test.go*'.
//
// How the Go fixtures translate:
// - Times are seconds. Go's time.Unix(n, 0) is n; the decaying histogram
//   starts with its reference timestamp at 0 (Go's zero time.Time: only
//   the relative age of samples matters, and the first sample far from it
//   moves it either way). testTimestamp (2017-04-18 17:35:05 UTC) is
//   1492536905.
// - assert.InEpsilon(expected, actual, eps) is |expected − actual| ≤ eps ·
//   |expected|.
// - The Go tests that use testify mocks for the histograms (container_test.go)
//   check the calls the container makes; here a recording aggregator takes
//   the mocks' place and the calls are compared in order.
// - Go evaluates constant expressions such as 3.14*1.1 exactly; the expected
//   values below are those constants (3.454), not C++ double products.

#include <rlscale/policy/vpa/histogram.hpp>
#include <rlscale/policy/vpa/recommender.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace test_policy_vpa_conformance {

using namespace rlscale;
using namespace rlscale::vpa;

namespace {

constexpr double value_epsilon = 1e-15;   // histogram_test.go valueEpsilon
constexpr double weight_epsilon = 1e-15;  // histogram_test.go weightEpsilon
constexpr double hour = 3600.0;
constexpr double minute = 60.0;
constexpr double start_time = 1234567890.0;      // decaying_histogram_test.go startTime = time.Unix(1234567890, 0)
constexpr double test_timestamp = 1492536905.0;  // container_test.go testTimestamp, 2017-04-18 17:35:05 UTC
constexpr std::int64_t mb = 1024 * 1024;         // container_test.go mb

bool in_epsilon(double expected, double actual, double eps) { return std::fabs(expected - actual) <= eps * std::fabs(expected); }

/// histogram_test.go testHistogramOptions: NewLinearHistogramOptions(10.0, 1.0, weightEpsilon).
histogram_options test_histogram_options() { return histogram_options::linear(10.0, 1.0, weight_epsilon); }

/// One call the container made on its aggregator (the Go tests' mock histograms).
struct call {
    enum kind_t { add_cpu, add_memory, subtract_memory } kind;
    double time_s;
    resource_amount usage;
    bool operator==(const call&) const = default;
};

/// Records the calls, as the Go tests' MockHistogram expectations do.
struct recording_aggregator {
    std::vector<call> calls;
    void add_cpu_sample(double t, resource_amount usage, resource_amount /*request*/) { calls.push_back({call::add_cpu, t, usage}); }
    void add_memory_sample(double t, resource_amount usage) { calls.push_back({call::add_memory, t, usage}); }
    void subtract_memory_sample(double t, resource_amount usage) { calls.push_back({call::subtract_memory, t, usage}); }
};

/// container_test.go newContainerTest: default aggregation config, with an
/// optional custom memory aggregation interval or count.
config container_test_config(double interval_s = 24 * hour, std::int64_t count = 8) {
    config c;
    c.memory_aggregation_interval_s = interval_s;
    c.memory_aggregation_interval_count = count;
    return c;
}

}  // namespace

// ---------------------------------------------------------------------------
// util/histogram_options_test.go

TEST_CASE("histogram_options_test.go TestLinearHistogramOptions") {
    const auto o = histogram_options::linear(5.0, 0.3, 0.001);
    CHECK(o.epsilon() == 0.001);
    CHECK(o.num_buckets() == 18);
    CHECK(o.bucket_start(0) == 0.0);
    CHECK(o.bucket_start(17) == 5.1);
    CHECK(o.find_bucket(-1.0) == 0);
    CHECK(o.find_bucket(0.0) == 0);
    CHECK(o.find_bucket(1.3) == 4);
    CHECK(o.find_bucket(100.0) == 17);
}

TEST_CASE("histogram_options_test.go TestExponentialHistogramOptions") {
    const auto o = histogram_options::exponential(500.0, 40.0, 1.5, 0.001);
    CHECK(o.epsilon() == 0.001);
    CHECK(o.num_buckets() == 6);
    CHECK(o.bucket_start(0) == 0.0);
    CHECK(o.bucket_start(1) == 40.0);
    CHECK(o.bucket_start(2) == 100.0);
    CHECK(o.bucket_start(3) == 190.0);
    CHECK(o.bucket_start(4) == 325.0);
    CHECK(o.bucket_start(5) == 527.5);
    CHECK(o.find_bucket(-1.0) == 0);
    CHECK(o.find_bucket(39.99) == 0);
    CHECK(o.find_bucket(40.0) == 1);
    CHECK(o.find_bucket(100.0) == 2);
    CHECK(o.find_bucket(900.0) == 5);
}

TEST_CASE("histogram_options.go NewExponentialHistogramOptions rejects what Go rejects, naming the field") {
    CHECK_THROWS_WITH_AS((void)histogram_options::exponential(0.0, 1.0, 1.5, 0.001), "histogram_options.max_value: must be finite and > 0, got 0",
                         config_error);
    CHECK_THROWS_AS((void)histogram_options::exponential(10.0, 1.0, 1.0, 0.001), config_error);
    CHECK_THROWS_AS((void)histogram_options::linear(10.0, 1.0, 0.0), config_error);
}

TEST_CASE("aggregations_config.go CPU and memory histogram options") {
    // CPU: first bucket 0.01 cores, up to 1000 cores; memory: first bucket
    // 1e7 bytes, up to 1e12 bytes; both 5 % growth, epsilon 0.001 × 0.1.
    const config c;
    const auto cpu = c.cpu_histogram_options();
    const auto memory = c.memory_histogram_options();
    CHECK(cpu.epsilon() == doctest::Approx(1e-4));
    CHECK(cpu.num_buckets() == 176);  // ⌈log_1.05(1000·0.05/0.01 + 1)⌉ + 1
    CHECK(memory.num_buckets() == 176);
    CHECK(cpu.bucket_start(1) == doctest::Approx(0.01));
    CHECK(cpu.bucket_start(175) >= 1000.0);
    CHECK(cpu.bucket_start(174) < 1000.0);
    CHECK(memory.bucket_start(1) == doctest::Approx(1e7));
    CHECK(memory.bucket_start(175) >= 1e12);
}

// ---------------------------------------------------------------------------
// util/histogram_test.go

TEST_CASE("histogram_test.go TestPercentilesEmptyHistogram") {
    const histogram h(test_histogram_options());
    for (double p = -0.5; p <= 1.5; p += 0.5) CHECK(h.percentile(p) == 0.0);
}

TEST_CASE("histogram_test.go TestPercentiles") {
    histogram h(test_histogram_options());
    for (int i = 1; i <= 4; ++i) h.add_sample(i, i);
    CHECK(in_epsilon(2, h.percentile(0.0), value_epsilon));
    CHECK(in_epsilon(2, h.percentile(0.1), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.2), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.3), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.4), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.5), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.6), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.7), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.8), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.9), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(1.0), value_epsilon));
}

TEST_CASE("histogram_test.go TestPercentileOutOfBounds") {
    histogram h(histogram_options::linear(1.0, 0.1, weight_epsilon));
    h.add_sample(0.1, 0.1);
    h.add_sample(0.2, 0.2);
    CHECK(in_epsilon(0.2, h.percentile(-0.1), value_epsilon));
    CHECK(in_epsilon(0.3, h.percentile(1.1), value_epsilon));
    // Fill the boundary buckets.
    h.add_sample(0.0, 0.1);
    h.add_sample(1.0, 0.2);
    CHECK(in_epsilon(0.1, h.percentile(-0.1), value_epsilon));
    CHECK(in_epsilon(1.0, h.percentile(1.1), value_epsilon));
}

TEST_CASE("histogram_test.go TestEmptyHistogram") {
    histogram h(histogram_options::linear(1.0, 0.1, weight_epsilon));
    CHECK(h.empty());
    h.add_sample(0.1, weight_epsilon * 2.5);  // weight = epsilon × 2.5
    CHECK_FALSE(h.empty());
    h.subtract_sample(0.1, weight_epsilon);  // epsilon × 1.5
    CHECK_FALSE(h.empty());
    h.subtract_sample(0.1, weight_epsilon);  // epsilon × 0.5
    CHECK(h.empty());
}

TEST_CASE("histogram_test.go TestNonEmptyOnEpsilonAddition") {
    histogram h(histogram_options::linear(1.0, 0.1, weight_epsilon));
    CHECK(h.empty());
    h.add_sample(9.9, weight_epsilon * 3);
    CHECK_FALSE(h.empty());
    h.add_sample(0.1, weight_epsilon * 0.3);
    CHECK_FALSE(h.empty());  // the weight × 3 sample keeps it non-empty
    h.add_sample(999.9, weight_epsilon * 0.3);
    CHECK_FALSE(h.empty());
}

TEST_CASE("histogram_test.go TestHistogramMerge") {
    histogram h1(test_histogram_options());
    h1.add_sample(1, 1);
    h1.add_sample(2, 1);
    histogram h2(test_histogram_options());
    h2.add_sample(2, 1);
    h2.add_sample(3, 1);
    histogram expected(test_histogram_options());
    expected.add_sample(1, 1);
    expected.add_sample(2, 1);
    expected.add_sample(2, 1);
    expected.add_sample(3, 1);
    CHECK(h1.merge(h2));
    CHECK(h1.equals(expected));
}

TEST_CASE("histogram.go a negative weight and a merge of different options change nothing (Go panics)") {
    histogram h(test_histogram_options());
    h.add_sample(1, -1);
    CHECK(h.empty());
    const histogram other(histogram_options::linear(5.0, 1.0, weight_epsilon));
    CHECK_FALSE(h.merge(other));
}

// ---------------------------------------------------------------------------
// util/decaying_histogram_test.go

TEST_CASE("decaying_histogram_test.go TestPercentilesEmptyDecayingHistogram") {
    const decaying_histogram h(test_histogram_options(), hour);
    for (double p = -0.5; p <= 1.5; p += 0.5) CHECK(h.percentile(p) == 0.0);
}

TEST_CASE("decaying_histogram_test.go TestSimpleDecay") {
    decaying_histogram h(test_histogram_options(), hour);
    // A sample with a very large weight, then another 20 half-lives later,
    // whose relative weight is 2^20 · 0.001 > 1000 times larger.
    h.add_sample(2, 1000, start_time);
    h.add_sample(1, 1, start_time + 20 * hour);
    CHECK(in_epsilon(2, h.percentile(0.999), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(1.0), value_epsilon));
}

TEST_CASE("decaying_histogram_test.go TestLongtermDecay") {
    decaying_histogram h(test_histogram_options(), hour);
    // The relative decay factor of the two samples exceeds 2^maxDecayExponent.
    h.add_sample(2, 1, start_time);
    h.add_sample(1, 1, start_time + 101 * hour);
    CHECK(in_epsilon(2, h.percentile(1.0), value_epsilon));
}

TEST_CASE("decaying_histogram_test.go TestDecayingHistogramPercentiles") {
    decaying_histogram h(test_histogram_options(), hour);
    double timestamp = start_time;
    // Values and weights 1, 2, 3, 4, one half-life apart.
    for (int i = 1; i <= 4; ++i) {
        h.add_sample(i, i, timestamp);
        timestamp += hour;
    }
    // [1..2] weight 1·2^-3: 0–2 %; [2..3] 2·2^-2: 3–10 %; [3..4] 3·2^-1:
    // 11–34 %; [4..5] 4: 35–100 %.
    CHECK(in_epsilon(2, h.percentile(0.00), value_epsilon));
    CHECK(in_epsilon(2, h.percentile(0.02), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.03), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.10), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.11), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.34), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.35), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(1.00), value_epsilon));
}

TEST_CASE("decaying_histogram_test.go TestNoDecay") {
    decaying_histogram h(test_histogram_options(), hour);
    for (int i = 1; i <= 4; ++i) h.add_sample(i, i, start_time);
    CHECK(in_epsilon(2, h.percentile(0.0), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.2), value_epsilon));
    CHECK(in_epsilon(2, h.percentile(0.1), value_epsilon));
    CHECK(in_epsilon(3, h.percentile(0.3), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.4), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.5), value_epsilon));
    CHECK(in_epsilon(4, h.percentile(0.6), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.7), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.8), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(0.9), value_epsilon));
    CHECK(in_epsilon(5, h.percentile(1.0), value_epsilon));
}

TEST_CASE("decaying_histogram_test.go TestDecayingHistogramMerge") {
    decaying_histogram h1(test_histogram_options(), hour);
    h1.add_sample(1, 1, start_time);
    h1.add_sample(2, 1, start_time + hour);
    decaying_histogram h2(test_histogram_options(), hour);
    h2.add_sample(2, 1, start_time + 2 * hour);
    h2.add_sample(3, 1, start_time + hour);
    decaying_histogram expected(test_histogram_options(), hour);
    expected.add_sample(2, 1, start_time + 2 * hour);
    expected.add_sample(2, 1, start_time + hour);
    expected.add_sample(3, 1, start_time + hour);
    expected.add_sample(1, 1, start_time);
    CHECK(h1.merge(h2));
    CHECK(h1.equals(expected));
}

TEST_CASE("decaying_histogram_test.go TestDecayingHistogramSaveToCheckpoint (the reference timestamp moves)") {
    // Only the part before the checkpoint: a sample 100 half-lives past the
    // zero time moves the reference timestamp off zero, to a multiple of
    // the half-life. Checkpoints are not reproduced.
    decaying_histogram d(test_histogram_options(), hour);
    d.add_sample(2, 1, start_time + 100 * hour);
    CHECK(d.reference_timestamp_s() != 0.0);
    CHECK(std::fmod(d.reference_timestamp_s(), hour) == 0.0);
    CHECK_FALSE(d.empty());
    CHECK(d.buckets().total_weight() > 0.0);
}

TEST_CASE("decaying_histogram.go the reference moves by whole half-lives, forgetting what fell below epsilon") {
    decaying_histogram h(test_histogram_options(), hour);
    h.add_sample(3, 1, 0);
    CHECK(h.reference_timestamp_s() == 0.0);
    h.add_sample(7, 1, 120 * hour);  // past reference + 100 half-lives
    CHECK(h.reference_timestamp_s() == 120 * hour);
    // The sample at 0 now weighs 2^-120 < epsilon: out of the range.
    CHECK(h.buckets().min_bucket() == 7);
    CHECK(h.buckets().total_weight() == doctest::Approx(1.0));
    CHECK(h.percentile(0.0) == 8.0);
}

TEST_CASE("decaying_histogram: a clock that starts below 0 weighs samples as one that starts at 0 (not a Go case)") {
    // Go's reference starts at the zero time, before every real timestamp;
    // here at 0, so an empty histogram moves it back to an earlier sample.
    for (const double origin : {0.0, -1e6, -1e8}) {
        CAPTURE(origin);
        decaying_histogram h(test_histogram_options(), hour);
        h.add_sample(3, 1, origin);
        CHECK_FALSE(h.empty());
        h.add_sample(7, 1, origin + hour);  // one half-life later: twice the weight
        CHECK(h.percentile(0.3) == 4.0);   // the first third of the weight is the sample at 3
        CHECK(h.percentile(0.5) == 8.0);   // the rest is the sample at 7
    }
}

TEST_CASE("decaying_histogram: moving the reference back forgets the weights below epsilon, so the buckets still sum to the total (not a Go case)") {
    decaying_histogram h(histogram_options::linear(10.0, 1.0, 0.01), hour);
    h.add_sample(3, 0.005, 0);  // below epsilon: the histogram stays empty
    REQUIRE(h.empty());
    h.add_sample(3, 1, -hour);  // before the reference, into an empty histogram
    CHECK(h.reference_timestamp_s() == -hour);
    CHECK(h.buckets().total_weight() == 1.0);
    CHECK(h.buckets().bucket_weight(3) == 1.0);  // not 1.005: the forgotten weight is gone
}

// ---------------------------------------------------------------------------
// model/aggregate_container_state_test.go

TEST_CASE("aggregate_container_state_test.go TestAggregateStateByContainerName") {
    // Two pods with different labels, so four aggregations: pod 1 {app-A,
    // app-B}, pod 2 {app-A, app-C}. AggregateStateByContainerName merges the
    // two app-A aggregations into a new one.
    const config c;
    std::vector<aggregate_container_state> aggregations(4, aggregate_container_state(c));
    std::vector<container_state> containers(4, container_state(c));
    const double cpu[4] = {1.0, 5.0, 3.0, 5.0};
    const double memory[4] = {2e9, 10e9, 4e9, 10e9};
    for (int i = 0; i < 4; ++i) {
        containers[i].request = {cpu_amount_from_cores(3.14), memory_amount_from_bytes(3.14e9)};
        CHECK(containers[i].add_cpu_sample(aggregations[i], test_timestamp, cpu_amount_from_cores(cpu[i])));
    }
    for (int i = 0; i < 4; ++i) CHECK(containers[i].add_memory_sample(aggregations[i], test_timestamp, memory_amount_from_bytes(memory[i])));

    aggregate_container_state app_a(c);
    app_a.merge(aggregations[0]);
    app_a.merge(aggregations[2]);
    aggregate_container_state app_b(c);
    app_b.merge(aggregations[1]);
    aggregate_container_state app_c(c);
    app_c.merge(aggregations[3]);

    CHECK(app_a.total_samples_count == 2);
    CHECK(app_b.total_samples_count == 1);
    CHECK(app_c.total_samples_count == 1);

    decaying_histogram expected_cpu(c.cpu_histogram_options(), c.cpu_histogram_decay_half_life_s);
    expected_cpu.merge(aggregations[0].aggregate_cpu_usage);
    expected_cpu.merge(aggregations[2].aggregate_cpu_usage);
    decaying_histogram expected_memory(c.memory_histogram_options(), c.memory_histogram_decay_half_life_s);
    expected_memory.add_sample(2e9, 1.0, containers[0].window_end_s());
    expected_memory.add_sample(4e9, 1.0, containers[2].window_end_s());
    CHECK(expected_cpu.equals(app_a.aggregate_cpu_usage));
    CHECK(expected_memory.equals(app_a.aggregate_memory_peaks));
}

TEST_CASE("aggregate_container_state_test.go TestAggregateContainerStateIsExpired") {
    const config c;
    aggregate_container_state cs(c);
    cs.last_sample_start_s = test_timestamp;
    cs.total_samples_count = 1;
    CHECK_FALSE(cs.is_expired(test_timestamp + 7 * 24 * hour));
    CHECK(cs.is_expired(test_timestamp + 8 * 24 * hour));

    aggregate_container_state empty(c);
    empty.total_samples_count = 0;
    empty.creation_time_s = test_timestamp;
    CHECK_FALSE(empty.is_expired(test_timestamp + 7 * 24 * hour));
    CHECK(empty.is_expired(test_timestamp + 8 * 24 * hour));
}

TEST_CASE("aggregate_container_state_test.go TestAggregateContainerStateIsExpiredWithCustomIntervalCount") {
    // Count 4 with the default 24 h interval: a 96 h window.
    const config c = container_test_config(24 * hour, 4);
    const double window = 4 * 24 * hour;
    aggregate_container_state cs(c);
    cs.last_sample_start_s = test_timestamp;
    cs.total_samples_count = 1;
    CHECK_FALSE(cs.is_expired(test_timestamp + window - hour));
    CHECK(cs.is_expired(test_timestamp + window));

    aggregate_container_state empty(c);
    empty.total_samples_count = 0;
    empty.creation_time_s = test_timestamp;
    CHECK_FALSE(empty.is_expired(test_timestamp + window - hour));
    CHECK(empty.is_expired(test_timestamp + window));
}

// ---------------------------------------------------------------------------
// model/container_test.go

TEST_CASE("container_test.go TestAggregateContainerUsageSamples") {
    const config c = container_test_config();
    container_state container(c);
    container.request = {cpu_amount_from_cores(2.3), memory_amount_from_bytes(5e8)};
    recording_aggregator a;
    const double interval = c.memory_aggregation_interval_s;
    const double step = interval / 2;

    CHECK(container.add_cpu_sample(a, test_timestamp, 3140));
    CHECK(container.add_memory_sample(a, test_timestamp, 5));
    CHECK(container.add_cpu_sample(a, test_timestamp + step, 6280));
    CHECK(container.add_memory_sample(a, test_timestamp + step, 10));
    CHECK(container.add_cpu_sample(a, test_timestamp + 2 * step, 1570));
    CHECK(container.add_memory_sample(a, test_timestamp + 2 * step, 2));
    // Invalid: out of order, negative CPU, negative memory.
    CHECK_FALSE(container.add_cpu_sample(a, test_timestamp + 2 * step, 1000));
    CHECK_FALSE(container.add_cpu_sample(a, test_timestamp + 4 * step, -1000));
    CHECK_FALSE(container.add_memory_sample(a, test_timestamp + 4 * step, -1000));

    const double window_end = test_timestamp + interval;
    const std::vector<call> expected = {
        {call::add_cpu, test_timestamp, 3140},
        {call::add_memory, window_end, 5},
        {call::add_cpu, test_timestamp + step, 6280},
        {call::subtract_memory, window_end, 5},
        {call::add_memory, window_end, 10},
        {call::add_cpu, test_timestamp + 2 * step, 1570},
        {call::add_memory, window_end + interval, 2},
    };
    CHECK(a.calls == expected);

    // The CPU samples weigh minSampleWeight (0.1), whatever the request.
    aggregate_container_state aggregate(c);
    container_state fresh(c);
    fresh.request = container.request;
    CHECK(fresh.add_cpu_sample(aggregate, 0.0, 3140));  // at the reference time: decay factor 1
    CHECK(aggregate.aggregate_cpu_usage.buckets().total_weight() == doctest::Approx(0.1));
}

TEST_CASE("container_test.go TestRecordOOMIncreasedByBumpUp") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    // Bump-up factor 20 %.
    CHECK(container.record_oom(a, test_timestamp, 1000 * mb));
    CHECK(a.calls == std::vector<call>{{call::add_memory, test_timestamp + c.memory_aggregation_interval_s, 1200 * mb}});
}

TEST_CASE("container_test.go TestRecordOOMDontRunAway") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    const double window_end = test_timestamp + c.memory_aggregation_interval_s;
    CHECK(container.record_oom(a, test_timestamp, 1000 * mb));
    // Smaller OOMs do not change the sample (the OOM peak).
    CHECK(container.record_oom(a, test_timestamp, 999 * mb));
    CHECK(container.record_oom(a, test_timestamp, 999 * mb));
    // A larger OOM raises it.
    CHECK(container.record_oom(a, test_timestamp, 2000 * mb));
    const std::vector<call> expected = {
        {call::add_memory, window_end, 1200 * mb},
        {call::subtract_memory, window_end, 1200 * mb},
        {call::add_memory, window_end, 2400 * mb},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestRecordOOMIncreasedByMin") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    // At least 100 MiB more.
    CHECK(container.record_oom(a, test_timestamp, 1 * mb));
    CHECK(a.calls == std::vector<call>{{call::add_memory, test_timestamp + c.memory_aggregation_interval_s, 101 * mb}});
}

TEST_CASE("container_test.go TestRecordOOMMaxedWithKnownSample") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    const double window_end = test_timestamp + c.memory_aggregation_interval_s;
    CHECK(container.add_memory_sample(a, test_timestamp, 3000 * mb));
    // The last known sample is above the request, so it is the base.
    CHECK(container.record_oom(a, test_timestamp, 1000 * mb));
    const std::vector<call> expected = {
        {call::add_memory, window_end, 3000 * mb},
        {call::subtract_memory, window_end, 3000 * mb},
        {call::add_memory, window_end, 3600 * mb},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestRecordOOMDiscardsOldSample") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    CHECK(container.add_memory_sample(a, test_timestamp, 1000 * mb));
    // The OOM is stale; memory unchanged.
    CHECK_FALSE(container.record_oom(a, test_timestamp - 30 * hour, 1000 * mb));
    CHECK(a.calls == std::vector<call>{{call::add_memory, test_timestamp + c.memory_aggregation_interval_s, 1000 * mb}});
}

TEST_CASE("container_test.go TestRecordOOMInNewWindow") {
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    const double interval = c.memory_aggregation_interval_s;
    CHECK(container.add_memory_sample(a, test_timestamp, 2000 * mb));
    CHECK(container.record_oom(a, test_timestamp + 2 * interval, 1000 * mb));
    const std::vector<call> expected = {
        {call::add_memory, test_timestamp + interval, 2000 * mb},
        {call::add_memory, test_timestamp + 3 * interval, 2400 * mb},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestRecordOOMFreshOOMNearWindowBoundaryIsNotDiscarded") {
    // kubernetes/autoscaler#8548: an OOM one second before a sample that
    // crossed into the next interval is fresh, not stale.
    const config c = container_test_config();
    container_state container(c);
    recording_aggregator a;
    const double interval = c.memory_aggregation_interval_s;
    CHECK(container.add_memory_sample(a, test_timestamp, 100 * mb));
    const double boundary = test_timestamp + interval;
    const double window_end = test_timestamp + 2 * interval;
    CHECK(container.add_memory_sample(a, boundary, 2000 * mb));
    CHECK(container.record_oom(a, boundary - 1, 1000 * mb));
    const std::vector<call> expected = {
        {call::add_memory, test_timestamp + interval, 100 * mb},
        {call::add_memory, window_end, 2000 * mb},
        {call::subtract_memory, window_end, 2000 * mb},
        {call::add_memory, window_end, 2400 * mb},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestMemorySamplesWithCustomAggregationInterval") {
    const double interval = hour;
    const config c = container_test_config(interval);
    container_state container(c);
    recording_aggregator a;
    const double window_end1 = test_timestamp + interval;
    CHECK(container.add_memory_sample(a, test_timestamp, 5));
    // Two hours later: outside the 1 h window, a new one.
    CHECK(container.add_memory_sample(a, test_timestamp + 2 * interval, 10));
    const std::vector<call> expected = {
        {call::add_memory, window_end1, 5},
        {call::add_memory, window_end1 + 2 * interval, 10},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestMemoryPeakUpdateWithinCustomInterval") {
    const double interval = hour;
    const config c = container_test_config(interval);
    container_state container(c);
    recording_aggregator a;
    const double window_end = test_timestamp + interval;
    CHECK(container.add_memory_sample(a, test_timestamp, 5));
    // 30 min later, same window, higher: the peak is replaced.
    CHECK(container.add_memory_sample(a, test_timestamp + 30 * minute, 10));
    const std::vector<call> expected = {
        {call::add_memory, window_end, 5},
        {call::subtract_memory, window_end, 5},
        {call::add_memory, window_end, 10},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestRecordOOMDiscardsOldSampleWithCustomInterval") {
    const double interval = hour;
    const config c = container_test_config(interval);
    container_state container(c);
    recording_aggregator a;
    CHECK(container.add_memory_sample(a, test_timestamp, 1000 * mb));
    // 2 h before: older than the 1 h interval, discarded (accepted with 24 h).
    CHECK_FALSE(container.record_oom(a, test_timestamp - 2 * hour, 1000 * mb));
    CHECK(a.calls == std::vector<call>{{call::add_memory, test_timestamp + interval, 1000 * mb}});
}

TEST_CASE("container_test.go TestRecordOOMInNewWindowWithCustomInterval") {
    const double interval = hour;
    const config c = container_test_config(interval);
    container_state container(c);
    recording_aggregator a;
    const double window_end = test_timestamp + interval;
    CHECK(container.add_memory_sample(a, test_timestamp, 2000 * mb));
    // Two intervals later the window moves by the custom interval.
    CHECK(container.record_oom(a, test_timestamp + 2 * interval, 1000 * mb));
    const std::vector<call> expected = {
        {call::add_memory, window_end, 2000 * mb},
        {call::add_memory, window_end + 2 * interval, 2400 * mb},
    };
    CHECK(a.calls == expected);
}

TEST_CASE("container_test.go TestRecordOOMDiscardsOldSampleWithCustomIntervalCount") {
    const config c = container_test_config(24 * hour, 2);
    container_state container(c);
    recording_aggregator a;
    const double interval = c.memory_aggregation_interval_s;
    CHECK(container.add_memory_sample(a, test_timestamp, 1000 * mb));
    CHECK_FALSE(container.record_oom(a, test_timestamp - 3 * interval, 1000 * mb));
    CHECK(a.calls == std::vector<call>{{call::add_memory, test_timestamp + interval, 1000 * mb}});
}

TEST_CASE("container_test.go TestMemorySamplesWithCustomAggregationIntervalCount") {
    const config c = container_test_config(24 * hour, 16);
    container_state container(c);
    recording_aggregator a;
    const double interval = c.memory_aggregation_interval_s;
    const double window_end1 = test_timestamp + interval;
    CHECK(container.add_memory_sample(a, test_timestamp, 5));
    CHECK(container.add_memory_sample(a, test_timestamp + 2 * interval, 10));
    const std::vector<call> expected = {
        {call::add_memory, window_end1, 5},
        {call::add_memory, window_end1 + 2 * interval, 10},
    };
    CHECK(a.calls == expected);
}

// ---------------------------------------------------------------------------
// logic/estimator_test.go

TEST_CASE("estimator_test.go TestPercentileEstimator") {
    // Go builds plain histograms; samples at one time in the decaying
    // histograms weigh the same.
    const config c;
    aggregate_container_state s(c);
    s.aggregate_cpu_usage.add_sample(1.0, 1.0, 0);
    s.aggregate_cpu_usage.add_sample(2.0, 1.0, 0);
    s.aggregate_cpu_usage.add_sample(3.0, 1.0, 0);
    s.aggregate_memory_peaks.add_sample(1e9, 1.0, 0);
    s.aggregate_memory_peaks.add_sample(2e9, 1.0, 0);
    s.aggregate_memory_peaks.add_sample(3e9, 1.0, 0);
    const double max_relative_error = 0.05;  // histogram rounding
    CHECK(in_epsilon(1.0, cores_from_cpu_amount(percentile_cpu_estimate(s, 0.2)), max_relative_error));
    CHECK(in_epsilon(2e9, bytes_from_memory_amount(percentile_memory_estimate(s, 0.5)), max_relative_error));
}

TEST_CASE("estimator_test.go TestConfidenceMultiplier") {
    const double interval = 24 * hour;  // defaultConfidenceInterval
    const resource_amount base_cpu = cpu_amount_from_cores(3.14);
    const resource_amount base_memory = memory_amount_from_bytes(3.14e9);
    aggregate_container_state s{config{}};
    // No history: multiplier 1, exponent +1 gives the maximum amount; exponent -1 gives 0.
    CHECK(with_confidence_multiplier(base_cpu, 1.0, 1.0, confidence(s, interval)) == resource_amount{100'000'000'000'000});
    CHECK(with_confidence_multiplier(base_cpu, 1.0, -1.0, confidence(s, interval)) == 0);

    double timestamp = 0;  // anyTime = time.Unix(0, 0)
    for (int i = 1; i <= 9; ++i) {
        s.add_cpu_sample(timestamp, cpu_amount_from_cores(1.0), 0);
        timestamp += 2 * minute;
    }
    // Confidence = 9 / (60 · 24) = 0.00625.
    CHECK(confidence(s, interval) == 0.00625);
    // 3.14 · (1 + 0.1/0.00625)^2 = 907.46; 3.14e9 · 289 = 9.0746e11.
    CHECK(cores_from_cpu_amount(with_confidence_multiplier(base_cpu, 0.1, 2.0, confidence(s, interval))) == 907.46);
    CHECK(bytes_from_memory_amount(with_confidence_multiplier(base_memory, 0.1, 2.0, confidence(s, interval))) == 9.0746e+11);
}

TEST_CASE("estimator_test.go TestConfidenceMultiplierWithCustomInterval") {
    const double interval = 18 * minute;
    const resource_amount base_cpu = cpu_amount_from_cores(3.14);
    const resource_amount base_memory = memory_amount_from_bytes(3.14e9);
    aggregate_container_state s{config{}};
    double timestamp = 0;
    for (int i = 1; i <= 9; ++i) {
        s.add_cpu_sample(timestamp, cpu_amount_from_cores(1.0), 0);
        timestamp += 2 * minute;
    }
    // Confidence = 9 / 18 = 0.5; 3.14 · 1.2^2 = 4.5216, truncated to 4521 millicores.
    CHECK(confidence(s, interval) == 0.5);
    CHECK(cores_from_cpu_amount(with_confidence_multiplier(base_cpu, 0.1, 2.0, confidence(s, interval))) == 4.521);
    CHECK(bytes_from_memory_amount(with_confidence_multiplier(base_memory, 0.1, 2.0, confidence(s, interval))) == 4.5216e+9);
}

TEST_CASE("estimator_test.go TestConfidenceMultiplierNoHistory") {
    const aggregate_container_state s{config{}};
    CHECK(with_confidence_multiplier(cpu_amount_from_cores(3.14), 0.1, 2.0, confidence(s, 24 * hour)) ==
          resource_amount{100'000'000'000'000});
}

TEST_CASE("estimator_test.go TestMarginEstimator") {
    // A 10 % margin.
    CHECK(cores_from_cpu_amount(with_margin(cpu_amount_from_cores(3.14), 0.1)) == 3.454);
    CHECK(bytes_from_memory_amount(with_margin(memory_amount_from_bytes(3.14e9), 0.1)) == 3.454e9);
}

TEST_CASE("estimator_test.go TestMinResourcesEstimator") {
    CHECK(cores_from_cpu_amount(with_min_resource(cpu_amount_from_cores(3.14), cpu_amount_from_cores(0.2))) == 3.14);
    CHECK(bytes_from_memory_amount(with_min_resource(memory_amount_from_bytes(4e8), memory_amount_from_bytes(2e7))) == 4e8);
}

// ---------------------------------------------------------------------------
// logic/recommender_test.go

TEST_CASE("recommender_test.go TestMinResourcesApplied") {
    // Go's estimators return constants 0.001 cores and 1e6 bytes; here the
    // histograms hold those values, which estimate to less than the minimums.
    const config c;
    aggregate_container_state s(c);
    s.add_cpu_sample(0, cpu_amount_from_cores(0.001), 0);
    s.add_memory_sample(0, memory_amount_from_bytes(1e6));
    const recommended_container_resources r = estimate_container_resources(c, s);
    CHECK(r.target.cpu == cpu_amount_from_cores(25.0 / 1000));
    CHECK(r.target.memory == memory_amount_from_bytes(250.0 * 1024 * 1024));
    CHECK(r.lower_bound.cpu == r.target.cpu);
    CHECK(r.upper_bound.memory >= r.target.memory);
}

TEST_CASE("recommender_test.go TestMinResourcesSplitAcrossContainers") {
    const config c;
    aggregate_container_state s(c);
    s.add_cpu_sample(0, cpu_amount_from_cores(0.001), 0);
    s.add_memory_sample(0, memory_amount_from_bytes(1e6));
    const recommended_container_resources r = estimate_container_resources(c, s, 2);
    CHECK(r.target.cpu == cpu_amount_from_cores((25.0 / 1000) / 2));
    CHECK(r.target.memory == memory_amount_from_bytes((250.0 * 1024 * 1024) / 2));
}

TEST_CASE("recommender.go the confidence multipliers' documented values") {
    // "No history: ×INF; 12 h: ×3; 24 h: ×2; 1 week: ×1.14" for the upper
    // bound and "5 min: ×0.6; 30 min: ×0.9; 60 min: ×0.95" for the lower,
    // with one sample a minute.
    const config c;
    const auto multiplier_after = [&](double minutes, double multiplier, double exponent) {
        aggregate_container_state s(c);
        for (int i = 0; i <= static_cast<int>(minutes); ++i) s.add_cpu_sample(i * minute, 1000, 0);
        return std::pow(1.0 + multiplier / confidence(s, c.confidence_interval_cpu_s), exponent);
    };
    CHECK(multiplier_after(12 * 60, 1.0, 1.0) == doctest::Approx(3.0).epsilon(0.01));
    CHECK(multiplier_after(24 * 60, 1.0, 1.0) == doctest::Approx(2.0).epsilon(0.01));
    CHECK(multiplier_after(7 * 24 * 60, 1.0, 1.0) == doctest::Approx(1.14).epsilon(0.01));
    CHECK(multiplier_after(5, 0.001, -2.0) == doctest::Approx(0.6).epsilon(0.05));
    CHECK(multiplier_after(30, 0.001, -2.0) == doctest::Approx(0.9).epsilon(0.05));
    CHECK(multiplier_after(60, 0.001, -2.0) == doctest::Approx(0.95).epsilon(0.01));
}

TEST_CASE("vpa_config rejects values out of range, naming the field") {
    config c;
    c.cpu_histogram_decay_half_life_s = 0;
    CHECK_THROWS_WITH_AS(c.validate(), "vpa_config.cpu_histogram_decay_half_life_s: must be finite and > 0, got 0", config_error);
    config d;
    d.target_memory_percentile = 1.5;
    CHECK_THROWS_WITH_AS(d.validate(), "vpa_config.target_memory_percentile: must be in [0, 1], got 1.5", config_error);
    config e;
    e.memory_aggregation_interval_count = 0;
    CHECK_THROWS_AS(e.validate(), config_error);
    CHECK_NOTHROW(config{}.validate());
}

}  // namespace test_policy_vpa_conformance
