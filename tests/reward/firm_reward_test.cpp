#include <rlscale/reward/firm_reward.hpp>
#include <rlscale/reward/reward.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <vector>

namespace test_reward_firm_reward {

using namespace rlscale;

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

function_metrics workload() {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = 100;
    m.completions = 80;
    m.throughput_rps = 8;
    m.latency.p99 = 0.2;
    m.cpu_utilization = 0.5;
    m.memory_utilization = 0.25;
    return m;
}

scaling_state slo(double target_rps = 20) {
    scaling_state s;
    s.slo = {.latency_s = 0.1, .percentile = 0.99, .target_rps = target_rps};
    return s;
}

double score(const firm_reward& r, const function_metrics& m, const scaling_state& s = slo()) {
    return r(std::span(&m, 1), std::span(&s, 1));
}

}  // namespace

TEST_CASE("reward firm: alpha SP |R| plus the utilisation sum worked out by hand") {
    const firm_reward r;
    REQUIRE(firm_reward::resource_count == 2);
    // SP = min(0.1 / 0.2, 8 / min(20, 10)) = min(0.5, 0.8) = 0.5
    // 0.3 · 0.5 · 2 + 0.7 · (0.5 + 0.25) = 0.3 + 0.525
    CHECK(score(r, workload()) == doctest::Approx(0.825));
    function_metrics m = workload();
    m.latency.p99 = 0.05;  // latency met: SP = 0.8 from throughput
    CHECK(score(r, m) == doctest::Approx(0.3 * 0.8 * 2 + 0.525));
    CHECK(score(r, m, slo(0)) == doctest::Approx(0.6 + 0.525));  // no throughput SLO: SP = 1
}

TEST_CASE("reward firm: bounds and invalid metrics") {
    const firm_reward r;
    function_metrics best = workload();
    best.latency.p99 = 0.01;
    best.throughput_rps = 10;
    best.cpu_utilization = 1.2;  // clamped to 1
    best.memory_utilization = 1;
    CHECK(score(r, best) == doctest::Approx(2.0));  // 0.3 · 1 · 2 + 0.7 · 2
    function_metrics bad = workload();
    bad.throughput_rps = qnan;
    bad.cpu_utilization = qnan;
    CHECK(score(r, bad) == doctest::Approx(0.7 * 0.25));  // SP 0, RU_cpu 0
    CHECK_THROWS_AS(firm_reward({.alpha = -0.1}), config_error);
    CHECK_THROWS_AS(firm_reward({.alpha = qnan}), config_error);
    // alpha 1: SP · |R| only = 0.5 · 2 = 1
    CHECK(score(firm_reward({.alpha = 1}), workload()) == doctest::Approx(1.0));
    CHECK(firm_reward_config::aware().alpha == 0.3);
}

TEST_CASE("reward firm: idle, stalled and unusable SLOs") {
    const firm_reward r;
    function_metrics idle;
    idle.interval_s = 10;
    // no request: SP_latency 1; nothing arrives so the throughput bound min(20, 0) is met: SP 1; RU 0
    // 0.3 · 1 · 2 + 0.7 · 0 = 0.6
    CHECK(score(r, idle) == doctest::Approx(0.6));
    function_metrics stalled = idle;
    stalled.arrivals = 50;  // pending, none completed
    stalled.cpu_utilization = 1;
    // SP = min(0, 0 / min(20, 5)) = 0: 0 + 0.7 · (1 + 0) = 0.7
    CHECK(score(r, stalled) == doctest::Approx(0.7));
    scaling_state bad = slo();
    bad.slo.latency_s = 0;
    // measured latency against a zero SLO: SP 0, only utilisation 0.7 · 0.75 = 0.525
    CHECK(score(r, workload(), bad) == doctest::Approx(0.525));
    bad = slo();
    bad.slo.target_rps = qnan;  // an unusable target: SP_throughput 0
    CHECK(score(r, workload(), bad) == doctest::Approx(0.525));
    bad.slo.target_rps = -5;
    CHECK(score(r, workload(), bad) == doctest::Approx(0.525));
}

TEST_CASE("reward firm: team average over two workloads") {
    const team_average<firm_reward> team{firm_reward{}};
    function_metrics idle;
    idle.interval_s = 10;
    // idle with a throughput target: nothing arrives, SP = 1, RU 0 → 0.6
    const std::vector<function_metrics> m{workload(), idle};
    const std::vector<scaling_state> s{slo(), slo()};
    CHECK(team(m, s) == doctest::Approx((0.825 + 0.6) / 2));
    CHECK_THROWS_AS((void)firm_reward()(m, s), error);
}

}  // namespace test_reward_firm_reward
