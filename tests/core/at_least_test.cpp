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

TEST_CASE("at_least reads a NaN limit as the current one") {
    const scaling_state s = current();  // 1 core, 512 MB
    // A horizontal floor (NaN limits) keeps the agent from shrinking below the current limits ...
    decision d = at_least(wish(4, 0.5, 256), wish(4), s, "raised");
    CHECK(d.cpu_limit == 1.0);
    CHECK(d.memory_limit_mb == 512);
    CHECK(d.reason == "raised");
    // ... and lets it grow them.
    d = at_least(wish(4, 1.5, 768), wish(4), s, "raised");
    CHECK(d.cpu_limit == 1.5);
    CHECK(d.memory_limit_mb == 768);
    CHECK(d.reason == "agent");
    // An agent that leaves a limit unchanged keeps NaN unless the floor asks for more.
    d = at_least(wish(4), wish(4, 0.5, 1024), s, "raised");
    CHECK(std::isnan(d.cpu_limit));
    CHECK(d.memory_limit_mb == 1024);
    // Neither sets a limit: it stays unchanged (NaN), nothing raised.
    d = at_least(wish(4), wish(3), s, "raised");
    CHECK(std::isnan(d.cpu_limit));
    CHECK(std::isnan(d.memory_limit_mb));
    CHECK(d.reason == "agent");
    // An unknown current limit: the floor's own value counts.
    scaling_state unknown = s;
    unknown.cpu_limit = nan;
    d = at_least(wish(4), wish(4, 0.5), unknown, "raised");
    CHECK(d.cpu_limit == 0.5);
}

TEST_CASE("property: at_least is the larger of the two in every dimension, at the edges of int too") {
    const scaling_state s = current();
    rng gen(31);
    const int edges[] = {std::numeric_limits<int>::min(), -1, 0, 1, 4, std::numeric_limits<int>::max() - 1, std::numeric_limits<int>::max()};
    const auto pick_limit = [&](double scale) {
        const auto u = uniform01(gen);
        return u < 0.25 ? nan : scale * uniform01(gen);
    };
    for (int i = 0; i < 20000; ++i) {
        const int a = i % 3 == 0 ? edges[i % 7] : static_cast<int>(uniform01(gen) * 40) - 5;
        const int b = i % 5 == 0 ? edges[(i / 5) % 7] : static_cast<int>(uniform01(gen) * 40) - 5;
        const decision agent = wish(a, pick_limit(4), pick_limit(4096));
        const decision floor = wish(b, pick_limit(4), pick_limit(4096));
        const decision d = at_least(agent, floor, s, "raised");
        CAPTURE(a);
        CAPTURE(b);
        CHECK(d.replicas == std::max(a, b));
        const auto effective = [](double x, double cur) { return std::isnan(x) ? cur : x; };
        CHECK(effective(d.cpu_limit, s.cpu_limit) ==
              std::max(effective(agent.cpu_limit, s.cpu_limit), effective(floor.cpu_limit, s.cpu_limit)));
        CHECK(effective(d.memory_limit_mb, s.memory_limit_mb) ==
              std::max(effective(agent.memory_limit_mb, s.memory_limit_mb), effective(floor.memory_limit_mb, s.memory_limit_mb)));
        const bool raised = b > a || effective(floor.cpu_limit, s.cpu_limit) > effective(agent.cpu_limit, s.cpu_limit) ||
                            effective(floor.memory_limit_mb, s.memory_limit_mb) > effective(agent.memory_limit_mb, s.memory_limit_mb);
        CHECK(d.reason == (raised ? std::string_view("raised") : std::string_view("agent")));
    }
}

}  // namespace test_core_at_least
