#include <rlscale/reward/scarlet_reward.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace test_reward_scarlet_reward {

using namespace rlscale;

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

function_metrics tail(double p90) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = 100;
    m.completions = 100;
    m.latency.p90 = p90;
    return m;
}

scaling_state sla(double latency_s) {
    scaling_state s;
    s.slo = {.latency_s = latency_s, .percentile = 0.9};
    return s;
}

function_metrics idle() {
    function_metrics m;
    m.interval_s = 10;  // nothing arrived, waited or completed: NaN latencies
    return m;
}

}  // namespace

TEST_CASE("reward scarlet: 1 - mean ratio^0.4 worked out by hand") {
    const scarlet_reward r;
    const std::vector<function_metrics> m{tail(0.05), tail(0.02)};
    const std::vector<scaling_state> s{sla(0.1), sla(0.1)};
    // ratios 0.05 / 0.1 = 0.5 and 0.02 / 0.1 = 0.2, mean 0.35;
    // 0.35^0.4 = exp(0.4 · ln 0.35) = exp(0.4 · -1.049822) = exp(-0.419929) = 0.657094
    CHECK(r(m, s) == doctest::Approx(1 - 0.657094).epsilon(1e-5));
    // one function: ratio 0.5, 0.5^0.4 = exp(0.4 · -0.693147) = exp(-0.277259) = 0.757858
    CHECK(r(std::vector{tail(0.05)}, std::vector{sla(0.1)}) == doctest::Approx(1 - 0.757858).epsilon(1e-5));
    // different SLAs: 0.1 / 0.2 = 0.5 and 0.6 / 1.0 = 0.6, mean 0.55, 0.55^0.4 = exp(0.4 · -0.597837) = exp(-0.239135) = 0.787309
    CHECK(r(std::vector{tail(0.1), tail(0.6)}, std::vector{sla(0.2), sla(1.0)}) ==
          doctest::Approx(1 - 0.787309).epsilon(1e-5));
}

TEST_CASE("reward scarlet: any SLA violation scores -1") {
    const scarlet_reward r;
    const std::vector<scaling_state> s{sla(0.1), sla(0.1)};
    CHECK(r(std::vector{tail(0.05), tail(0.2)}, s) == -1.0);  // 0.2 > 0.1
    CHECK(r(std::vector{tail(0.1), tail(0.1)}, s) == doctest::Approx(0.0));  // tail == SLA meets it: 1 - 1^0.4
    CHECK(r(std::vector{tail(0.0), tail(0.0)}, s) == doctest::Approx(1.0));  // bound: ratio 0
    CHECK(r(std::vector{tail(0.1000001), tail(0.0)}, s) == -1.0);           // just above
    const scarlet_reward harsher({.violation_reward = -5});
    CHECK(harsher(std::vector{tail(0.05), tail(0.2)}, s) == -5.0);
}

TEST_CASE("reward scarlet: the SLO percentile picks the tail latency") {
    const scarlet_reward r;
    function_metrics m = tail(0.01);
    m.latency.p99 = 0.3;
    scaling_state s = sla(0.1);
    // p90: ratio 0.01 / 0.1 = 0.1
    CHECK(r(std::span(&m, 1), std::span(&s, 1)) == doctest::Approx(1 - std::pow(0.1, 0.4)));
    s.slo.percentile = 0.99;  // p99 0.3 > 0.1
    CHECK(r(std::span(&m, 1), std::span(&s, 1)) == -1.0);
}

TEST_CASE("reward scarlet: idle functions leave the mean, stalled and invalid ones violate") {
    const scarlet_reward r;
    const std::vector<scaling_state> s{sla(0.1), sla(0.1)};
    // idle has no tail latency: the mean is over the one measured ratio 0.5
    CHECK(r(std::vector{tail(0.05), idle()}, s) == doctest::Approx(1 - std::pow(0.5, 0.4)));
    CHECK(r(std::vector{idle(), idle()}, s) == 1.0);  // no request at all: nothing violated, nothing slow
    function_metrics stalled = idle();
    stalled.queue_length = 4;  // pending, none completed: stuck
    CHECK(r(std::vector{tail(0.05), stalled}, s) == -1.0);
    for (const double bad : {qnan, inf, -inf, -1.0}) {
        CAPTURE(bad);
        CHECK(r(std::vector{tail(0.05), tail(bad)}, s) == -1.0);
    }
}

TEST_CASE("reward scarlet: an unusable SLO is a violation when there is a latency to compare") {
    const scarlet_reward r;
    const std::vector<function_metrics> m{tail(0.05)};
    for (const double bad : {0.0, -1.0, qnan, inf}) {
        CAPTURE(bad);
        CHECK(r(m, std::vector{sla(bad)}) == -1.0);
        CHECK(r(std::vector{idle()}, std::vector{sla(bad)}) == 1.0);  // idle: nothing to compare
    }
    scaling_state odd = sla(0.1);
    odd.slo.percentile = qnan;
    CHECK(r(m, std::vector{odd}) == -1.0);
}

TEST_CASE("reward scarlet: drops count only when asked") {
    function_metrics dropped = tail(0.05);
    dropped.drops = 1;
    const scaling_state s = sla(0.1);
    CHECK(scarlet_reward()(std::span(&dropped, 1), std::span(&s, 1)) == doctest::Approx(1 - std::pow(0.5, 0.4)));
    CHECK(scarlet_reward({.drops_violate = true})(std::span(&dropped, 1), std::span(&s, 1)) == -1.0);
}

TEST_CASE("reward scarlet: bad shapes and configurations throw") {
    const scarlet_reward r;
    const std::vector<function_metrics> m{tail(0.05)};
    CHECK_THROWS_AS((void)r(m, std::vector<scaling_state>{}), error);
    CHECK(r(std::vector<function_metrics>{}, std::vector<scaling_state>{}) == 0.0);
    CHECK_THROWS_AS(scarlet_reward({.exponent = 0}), config_error);
    CHECK_THROWS_AS(scarlet_reward({.exponent = qnan}), config_error);
    CHECK_THROWS_AS(scarlet_reward({.violation_reward = 1}), config_error);
    CHECK(scarlet_reward_config::scarlet().exponent == 0.4);
    CHECK(scarlet_reward_config::scarlet().violation_reward == -1.0);
}

}  // namespace test_reward_scarlet_reward
