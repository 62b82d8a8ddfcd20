#include <rlscale/core/control.hpp>
#include <rlscale/core/random.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string_view>

namespace test_core_at_least {

using namespace rlscale;

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

scaling_state current() {
    return {.replicas = 4, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1.0, .memory_limit_mb = 512};
}

decision wish(int replicas, double cpu = nan, double memory = nan) {
    return {.replicas = replicas, .source = decision_source::policy, .reason = "agent", .cpu_limit = cpu, .memory_limit_mb = memory};
}

}  // namespace

TEST_CASE("at_least raises replicas and limits to the floor's and says so") {
    const scaling_state s = current();
    const decision d = at_least(wish(2, 0.5, 256), wish(5, 0.75, 1024), s, "raised");
    CHECK(d.replicas == 5);
    CHECK(d.cpu_limit == 0.75);
    CHECK(d.memory_limit_mb == 1024);
    CHECK(d.reason == "raised");
    CHECK(d.source == decision_source::policy);
}

TEST_CASE("at_least leaves a decision already above the floor as it was") {
    const scaling_state s = current();
    const decision d = at_least(wish(7, 2.0, 2048), wish(5, 0.75, 1024), s, "raised");
    CHECK(d.replicas == 7);
    CHECK(d.cpu_limit == 2.0);
    CHECK(d.memory_limit_mb == 2048);
    CHECK(d.reason == "agent");
}

TEST_CASE("a NaN limit in the floor asks for nothing, a NaN limit in the decision stands for the current one") {
    const scaling_state s = current();  // 1 core, 512 MB
    // A horizontal floor (NaN limits, a VPA keeping the current ones) leaves
    // the agent free to shrink the limits ...
    decision d = at_least(wish(4, 0.5, 256), wish(4), s, "raised");
    CHECK(d.cpu_limit == 0.5);
    CHECK(d.memory_limit_mb == 256);
    CHECK(d.reason == "agent");
    // ... and to grow them.
    d = at_least(wish(4, 1.5, 768), wish(4), s, "raised");
    CHECK(d.cpu_limit == 1.5);
    CHECK(d.memory_limit_mb == 768);
    CHECK(d.reason == "agent");
    // An agent that leaves a limit unchanged keeps NaN unless the floor asks
    // for more than the current one.
    d = at_least(wish(4), wish(4, 0.5, 1024), s, "raised");
    CHECK(std::isnan(d.cpu_limit));
    CHECK(d.memory_limit_mb == 1024);
    CHECK(d.reason == "raised");
    // Neither sets a limit: it stays unchanged (NaN), nothing raised.
    d = at_least(wish(4), wish(3), s, "raised");
    CHECK(std::isnan(d.cpu_limit));
    CHECK(std::isnan(d.memory_limit_mb));
    CHECK(d.reason == "agent");
    // An unknown current limit and an agent that sets none: the floor's value counts.
    scaling_state unknown = s;
    unknown.cpu_limit = nan;
    d = at_least(wish(4), wish(4, 0.5), unknown, "raised");
    CHECK(d.cpu_limit == 0.5);
    CHECK(d.reason == "raised");
}

TEST_CASE("property: at_least is the larger of the two in every dimension the floor sets, at the edges of int too") {
    rng gen(31);
    const int edges[] = {std::numeric_limits<int>::min(), -1, 0, 1, 4, std::numeric_limits<int>::max() - 1, std::numeric_limits<int>::max()};
    const double currents[] = {1.0, 0.0, nan, std::numeric_limits<double>::infinity(), 1e-300};
    const auto pick_limit = [&](double scale) {
        const auto u = uniform01(gen);
        return u < 0.25 ? nan : scale * uniform01(gen);
    };
    for (int i = 0; i < 20000; ++i) {
        scaling_state s = current();
        s.cpu_limit = currents[i % 5];
        s.memory_limit_mb = 512 * currents[(i / 5) % 5];
        const int a = i % 3 == 0 ? edges[i % 7] : static_cast<int>(uniform01(gen) * 40) - 5;
        const int b = i % 5 == 0 ? edges[(i / 5) % 7] : static_cast<int>(uniform01(gen) * 40) - 5;
        const decision agent = wish(a, pick_limit(4), pick_limit(4096));
        const decision floor = wish(b, pick_limit(4), pick_limit(4096));
        const decision d = at_least(agent, floor, s, "raised");
        CAPTURE(a);
        CAPTURE(b);
        CAPTURE(s.cpu_limit);
        CHECK(d.replicas == std::max(a, b));
        bool raised = b > a;
        const auto check_limit = [&](double mine, double theirs, double result, double cur) {
            const double have = std::isnan(mine) ? cur : mine;
            if (std::isnan(theirs)) {  // no floor: the agent's own value, NaN included
                CHECK((std::isnan(result) ? std::isnan(mine) : result == mine));
            } else if (std::isnan(have) || theirs > have) {
                CHECK(result == theirs);
                raised = true;
            } else {
                CHECK((std::isnan(result) ? std::isnan(mine) : result == mine));
                CHECK(!(result < theirs));  // never below what the floor asked for
            }
        };
        check_limit(agent.cpu_limit, floor.cpu_limit, d.cpu_limit, s.cpu_limit);
        check_limit(agent.memory_limit_mb, floor.memory_limit_mb, d.memory_limit_mb, s.memory_limit_mb);
        CHECK(d.reason == (raised ? std::string_view("raised") : std::string_view("agent")));
    }
}

TEST_CASE("violates_slo: drops, a latency above the bound and a stall violate, an idle interval or a request in service does not") {
    scaling_state s = current();
    s.slo = {.latency_s = 1.0, .percentile = 0.9};
    function_metrics m;
    m.interval_s = 15;
    m.arrivals = 30;
    m.completions = 30;
    m.latency.p90 = 0.8;
    CHECK_FALSE(violates_slo(m, s));
    m.latency.p90 = 1.0;
    CHECK_FALSE(violates_slo(m, s));  // at the bound
    m.latency.p90 = 1.2;
    CHECK(violates_slo(m, s));
    m.latency.p90 = 0.8;
    m.drops = 1;
    CHECK(violates_slo(m, s));
    // Stalled: requests arrived and wait, none completed, so no latency was measured.
    m = function_metrics{};
    m.interval_s = 15;
    m.arrivals = 30;
    m.queue_length = 30;
    m.latency.p90 = nan;
    CHECK(violates_slo(m, s));
    m.arrivals = 0;  // still waiting from before: stalled too
    CHECK(violates_slo(m, s));
    m.queue_length = 0;  // idle: nothing arrived, waited or ran
    CHECK_FALSE(violates_slo(m, s));
    // A request arrived and is still in service, none waits: not a stall
    // (a slow function's request spanning the interval's end; its latency
    // counts when it completes).
    m.arrivals = 1;
    m.in_service = 1;
    CHECK_FALSE(violates_slo(m, s));
    // Completions with a latency that is not a number: counted as a violation, never as met.
    m.completions = 5;
    CHECK(violates_slo(m, s));
}

}  // namespace test_core_at_least
