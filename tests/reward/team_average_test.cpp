#include <rlscale/reward/reward.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace test_reward_team_average {

using namespace rlscale;

namespace {

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
    return s;
}

}  // namespace

TEST_CASE("reward team average: the mean of the agents' simppo rewards") {
    const team_average<simppo_reward> team{simppo_reward{}};
    // agent 0: SP 0.25 / 0.5 = 0.5, 0.3 · 0.5 + 0.35 · 1.0 = 0.5
    // agent 1: SP 1, 0.3 + 0.35 · 0.4 = 0.44
    // agent 2: SP 0.25 / 1.0 = 0.25, 0.075 + 0.35 · 0 = 0.075
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2),
                                          agent_metrics(1.0, 0, 0)};
    const std::vector<scaling_state> s(3, slo());
    CHECK(team(m, s) == doctest::Approx((0.5 + 0.44 + 0.075) / 3));  // 1.015 / 3 = 0.338333
    CHECK(team(std::span(m).first(1), std::span(s).first(1)) == doctest::Approx(0.5));
}

TEST_CASE("reward team average: each agent's penalty joins the mean") {
    const team_average<simppo_reward> team{simppo_reward{}};
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2)};
    const std::vector<scaling_state> s(2, slo());
    const simppo_reward& r = team.per_agent;
    // agent 0 oscillated (+1 then -1): -1; agent 1 kept scaling out: 0
    const std::vector<double> penalties{r.penalty(+1, -1, false), r.penalty(+1, +1, false)};
    // ((0.5 - 1) + (0.44 + 0)) / 2 = -0.03
    CHECK(team(m, s, penalties) == doctest::Approx(-0.03));
    CHECK(team(m, s, std::vector<double>{0, 0}) == doctest::Approx((0.5 + 0.44) / 2));
    CHECK_THROWS_AS((void)team(m, s, std::vector<double>{-1}), error);
}

TEST_CASE("reward team average: a penalty that is not finite or is positive is refused by index") {
    const team_average<simppo_reward> team{simppo_reward{}};
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2)};
    const std::vector<scaling_state> s(2, slo());
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{0, std::numeric_limits<double>::quiet_NaN()}),
                         doctest::Contains("penalties[1]: must be finite and <= 0 (a penalty lowers the reward), got nan"),
                         error);
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{5, 5}), doctest::Contains("penalties[0]"), error);
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{-1, 0.5}), doctest::Contains("got 0.5"), error);
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{-std::numeric_limits<double>::infinity(), 0}),
                         doctest::Contains("penalties[0]: must be finite and <= 0 (a penalty lowers the reward), got -inf"),
                         error);
    CHECK(team(m, s, std::vector<double>{-0.0, -2}) == doctest::Approx((0.5 + 0.44 - 2) / 2));
}

TEST_CASE("reward team average: penalties of -DBL_MAX each, which simppo_reward_config allows, give a finite mean") {
    simppo_reward_config config;
    config.alpha = 0.3;
    config.penalty = -std::numeric_limits<double>::max();
    config.validate();  // finite and <= 0
    const team_average<simppo_reward> team{simppo_reward(config)};
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2)};
    const std::vector<scaling_state> s(2, slo());
    const simppo_reward& r = team.per_agent;
    // both oscillated: the sum of the two penalties overflows, their mean does not
    const std::vector<double> penalties{r.penalty(+1, -1, false), r.penalty(-1, +1, false)};
    CHECK(penalties[0] == -std::numeric_limits<double>::max());
    CHECK(penalties[1] == -std::numeric_limits<double>::max());
    const double got = team(m, s, penalties);
    CHECK(std::isfinite(got));
    CHECK(got == team(m, s) - std::numeric_limits<double>::max());
    // one of them: the sum is finite and taken as always
    CHECK(team(m, s, std::vector<double>{-std::numeric_limits<double>::max(), 0}) ==
          team(m, s) + -std::numeric_limits<double>::max() / 2);
}

TEST_CASE("reward team average: penalties that do not hold one per function are refused as penalties, not states") {
    const team_average<simppo_reward> team{simppo_reward{}};
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2)};
    const std::vector<scaling_state> s(2, slo());
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{-1}), doctest::Contains("team_average: 2 metrics but 1 penalties"),
                         error);
    CHECK_THROWS_WITH_AS((void)team(m, s, std::vector<double>{-1, 0, 0}), doctest::Contains("3 penalties"), error);
    CHECK_THROWS_WITH_AS((void)team(m, std::span(s).first(1), std::vector<double>{-1, 0}),
                         doctest::Contains("team_average: 2 metrics but 1 states"), error);
}

TEST_CASE("reward team average: empty teams, shapes and other per-agent rewards") {
    const team_average<simppo_reward> team{simppo_reward{}};
    const std::vector<function_metrics> m{agent_metrics(0.5, 0.6, 0.4), agent_metrics(0.1, 0.2, 0.2)};
    const std::vector<scaling_state> s(2, slo());
    CHECK(team(std::span(m).first(0), std::span(s).first(0)) == 0.0);
    CHECK(team(std::span(m).first(0), std::span(s).first(0), std::span<const double>{}) == 0.0);
    CHECK_THROWS_AS((void)team(m, std::span(s).first(1)), error);
    // SCARLET's reward per function, averaged: agent 0 violates (0.5 > 0.25) → -1;
    // agent 1: 1 - (0.1 / 0.25)^0.4 = 1 - 0.4^0.4 = 1 - 0.693145 = 0.306855
    const team_average<scarlet_reward> scarlet_team{scarlet_reward{}};
    CHECK(scarlet_team(m, s) == doctest::Approx((-1 + 0.306855) / 2).epsilon(1e-5));
    static_assert(reward<team_average<simppo_reward>>);
    static_assert(reward<team_average<scarlet_reward>>);
}

}  // namespace test_reward_team_average
