#include <rlscale/reward/simppo_reward.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <vector>

namespace test_reward_simppo_reward {

using namespace rlscale;

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

function_metrics agent_metrics(double p99, double cpu, double mem) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = 100;
    m.completions = 100;
    m.latency.p99 = p99;
    m.cpu_utilization = cpu;
    m.memory_utilization = mem;
    return m;
}

scaling_state slo() {
    scaling_state s;
    s.slo = {.latency_s = 0.25, .percentile = 0.99};
    s.replicas = 5;
    s.min_replicas = 1;
    s.max_replicas = 10;
    s.cpu_limit = 1;
    s.memory_limit_mb = 512;
    return s;
}

double score(const simppo_reward& r, const function_metrics& m, const scaling_state& s = slo()) {
    return r(std::span(&m, 1), std::span(&s, 1));
}

}  // namespace

TEST_CASE("reward simppo: alpha SP plus utilisation worked out by hand") {
    const simppo_reward r;
    // SP = 0.25 / 0.5 = 0.5: 0.3 · 0.5 + 0.7 / 2 · (0.6 + 0.4) = 0.15 + 0.35 = 0.5
    CHECK(score(r, agent_metrics(0.5, 0.6, 0.4)) == doctest::Approx(0.5));
    // no violation, SP = 1: 0.3 · 1 + 0.35 · (0.2 + 0.2) = 0.3 + 0.14 = 0.44
    CHECK(score(r, agent_metrics(0.1, 0.2, 0.2)) == doctest::Approx(0.44));
    // SP = 0.25 / 1.0 = 0.25: 0.3 · 0.25 + 0.35 · (0.9 + 0.1) = 0.075 + 0.35 = 0.425
    CHECK(score(r, agent_metrics(1.0, 0.9, 0.1)) == doctest::Approx(0.425));
    // alpha = 1: SP only, 0.5 (utilisation 0.2 + 0.2 ignored; alpha 0.3 would give 0.15 + 0.14 = 0.29);
    // alpha = 0: utilisation only, 0.5 · (0.8 + 0.4) = 0.6
    CHECK(score(simppo_reward({.alpha = 1}), agent_metrics(0.5, 0.2, 0.2)) == doctest::Approx(0.5));
    CHECK(score(r, agent_metrics(0.5, 0.2, 0.2)) == doctest::Approx(0.29));
    CHECK(score(simppo_reward({.alpha = 0}), agent_metrics(0.5, 0.8, 0.4)) == doctest::Approx(0.6));
}

TEST_CASE("reward simppo: bounds, idle, stalled and invalid metrics") {
    const simppo_reward r;
    CHECK(score(r, agent_metrics(0.1, 1.0, 1.0)) == doctest::Approx(1.0));   // best: 0.3 + 0.7
    CHECK(score(r, agent_metrics(0.1, 1.5, 2.0)) == doctest::Approx(1.0));   // utilisation clamped to 1
    CHECK(score(r, agent_metrics(0.1, qnan, -1)) == doctest::Approx(0.3));   // bad utilisation counts 0
    CHECK(score(r, agent_metrics(0.1, inf, 0)) == doctest::Approx(0.3));     // infinite too
    // Beyond a float, as inputs() refuses it: the worst, not a saturated node's best.
    CHECK(score(r, agent_metrics(0.1, 1e300, 1e39)) == doctest::Approx(0.3));
    CHECK(score(r, agent_metrics(qnan, 0, 0)) == doctest::Approx(0.0));      // completions without latency: SP 0
    CHECK(score(r, agent_metrics(-1, 0, 0)) == doctest::Approx(0.0));        // negative latency: SP 0
    function_metrics idle;
    idle.interval_s = 10;
    CHECK(score(r, idle) == doctest::Approx(0.3));  // no request: SP 1, no utilisation
    function_metrics stalled = idle;
    stalled.arrivals = 3;
    CHECK(score(r, stalled) == doctest::Approx(0.0));  // pending, none completed: SP 0
    scaling_state zero_slo = slo();
    zero_slo.slo.latency_s = 0;
    CHECK(score(r, agent_metrics(0.1, 0.2, 0.2), zero_slo) == doctest::Approx(0.14));  // unusable SLO: SP 0
    CHECK(score(r, idle, zero_slo) == doctest::Approx(0.3));                             // idle: still SP 1
}

TEST_CASE("reward simppo: inputs names the first input the reward cannot score, and only those it reads") {
    CHECK(simppo_reward::inputs(agent_metrics(0.1, 0.5, 0.5), slo()));
    CHECK(simppo_reward::inputs(agent_metrics(0.1, qnan, 0.5), slo()).field == "cpu_utilization");
    CHECK(simppo_reward::inputs(agent_metrics(0.1, 0.5, -1), slo()).field == "memory_utilization");
    // Beyond a float: refused, as the agent's own encoder refuses it (not scored as a saturated node).
    CHECK(simppo_reward::inputs(agent_metrics(0.1, 1e300, 0.5), slo()).field == "cpu_utilization");
    CHECK(simppo_reward::inputs(agent_metrics(0.1, 0.5, 1e39), slo()).field == "memory_utilization");
    CHECK(simppo_reward::inputs(agent_metrics(qnan, 0.5, 0.5), slo()).field == "latency.p99");  // completions, no latency
    function_metrics idle;
    idle.interval_s = 10;
    CHECK(simppo_reward::inputs(idle, slo()));  // no request: SP 1, latency not needed
    function_metrics stalled = idle;
    stalled.arrivals = 3;
    CHECK(simppo_reward::inputs(stalled, slo()));  // pending, none completed: SP 0, a score
    scaling_state zero_slo = slo();
    zero_slo.slo.latency_s = 0;
    CHECK(simppo_reward::inputs(agent_metrics(0.1, 0.5, 0.5), zero_slo).field == "slo.latency_s");
    // Fields the reward does not read are not its inputs.
    function_metrics other = agent_metrics(0.1, 0.5, 0.5);
    other.throughput_rps = qnan;
    other.latency.p50 = qnan;
    other.interval_s = 0;
    CHECK(simppo_reward::inputs(other, slo()));
}

TEST_CASE("reward simppo: the penalty is -1 for illegal and oscillating actions") {
    const simppo_reward r;
    CHECK(r.penalty(+1, -1, false) == -1.0);  // out then in
    CHECK(r.penalty(-1, +2, false) == -1.0);  // in then out
    CHECK(r.penalty(+1, +1, false) == 0.0);
    CHECK(r.penalty(0, -1, false) == 0.0);
    CHECK(r.penalty(+1, 0, false) == 0.0);
    CHECK(r.penalty(-0.5, 0.25, false) == -1.0);  // vertical steps: down then up
    CHECK(r.penalty(0, +1, true) == -1.0);        // illegal
    CHECK(r.penalty(+1, -1, true) == -1.0);       // both: counted once, not -2
    CHECK(r.penalty(inf, -1, false) == 0.0);      // a non-finite step is no step
    CHECK(r.penalty(qnan, -1, false) == 0.0);
    CHECK(simppo_reward({.penalty = -0.5}).penalty(+1, -1, false) == -0.5);
}

TEST_CASE("reward simppo: the penalty lowers the reward") {
    const simppo_reward r;
    const function_metrics m = agent_metrics(0.5, 0.6, 0.4);  // base 0.5, as worked out above
    const scaling_state now = slo();
    scaling_state at_max = slo();
    at_max.replicas = 10;
    // scale out at the max: illegal, 0.5 + (-1) = -0.5
    CHECK(r.total(std::span(&m, 1), std::span(&now, 1), at_max, 0, +1) == doctest::Approx(-0.5));
    // in after out: oscillation, -0.5
    CHECK(r.total(std::span(&m, 1), std::span(&now, 1), now, +1, -1) == doctest::Approx(-0.5));
    // a legal step in the same direction: 0.5
    CHECK(r.total(std::span(&m, 1), std::span(&now, 1), now, +1, +1) == doctest::Approx(0.5));
    CHECK(r.total(std::span(&m, 1), std::span(&now, 1), at_max, 0, +1) <
          r(std::span(&m, 1), std::span(&now, 1)));
}

TEST_CASE("reward simppo: illegal horizontal and vertical steps") {
    scaling_state s = slo();
    s.replicas = 10;
    CHECK(simppo_reward::illegal(s, +1));
    CHECK_FALSE(simppo_reward::illegal(s, -1));
    s.replicas = 1;
    CHECK(simppo_reward::illegal(s, -1));
    CHECK_FALSE(simppo_reward::illegal(s, 0));
    CHECK_FALSE(simppo_reward::illegal(s, +1));
    s.min_replicas = 0;
    s.replicas = 0;  // scaling in at zero containers
    CHECK(simppo_reward::illegal(s, -1));
    // vertical, bounds 0.125..2 cores and 128..2048 MB
    s = slo();
    CHECK_FALSE(simppo_reward::illegal_vertical(s, +0.25, 0));
    CHECK_FALSE(simppo_reward::illegal_vertical(s, 0, -128));
    CHECK_FALSE(simppo_reward::illegal_vertical(s, 0, 0));
    s.cpu_limit = 2;
    CHECK(simppo_reward::illegal_vertical(s, +0.25, 0));  // at 2048 shares, up
    CHECK_FALSE(simppo_reward::illegal_vertical(s, -0.25, 0));
    s.cpu_limit = 0.125;
    CHECK(simppo_reward::illegal_vertical(s, -0.125, 0));  // at 128 shares, down
    s = slo();
    s.memory_limit_mb = 2048;
    CHECK(simppo_reward::illegal_vertical(s, 0, +64));
    s.memory_limit_mb = 128;
    CHECK(simppo_reward::illegal_vertical(s, 0, -64));
    s = slo();
    s.replicas = 0;  // no container: any vertical step is illegal, no step is not
    CHECK(simppo_reward::illegal_vertical(s, +0.25, 0));
    CHECK(simppo_reward::illegal_vertical(s, 0, -64));
    CHECK_FALSE(simppo_reward::illegal_vertical(s, 0, 0));
    CHECK_FALSE(simppo_reward::illegal_vertical(s, qnan, 0));
    // custom bounds
    s = slo();
    CHECK(simppo_reward::illegal_vertical(s, +0.5, 0, {.cpu_min_cores = 0.5, .cpu_max_cores = 1}));
}

TEST_CASE("reward simppo: bad shapes and configurations throw") {
    const simppo_reward r;
    const std::vector<function_metrics> two{agent_metrics(0.1, 0, 0), agent_metrics(0.1, 0, 0)};
    const std::vector<scaling_state> states{slo(), slo()};
    CHECK_THROWS_AS((void)r(two, states), error);
    CHECK_THROWS_AS((void)r(std::span(two).first(1), std::span(states).first(0)), error);
    CHECK_THROWS_AS(simppo_reward({.alpha = 1.5}), config_error);
    CHECK_THROWS_AS(simppo_reward({.alpha = qnan}), config_error);
    CHECK_THROWS_AS(simppo_reward({.penalty = +1}), config_error);  // the wrong sign
    CHECK(simppo_reward_config::simppo().alpha == 0.3);
    CHECK(simppo_reward_config::simppo().penalty == -1.0);
}

}  // namespace test_reward_simppo_reward
