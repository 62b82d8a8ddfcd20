#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/static_policy.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string_view>

namespace test_policy_guard_vertical {

using namespace rlscale;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

scaling_state state(int replicas, double cpu = 1.0, double mem = 1000) {
    return {.replicas = replicas, .min_replicas = 1, .max_replicas = 20, .cpu_limit = cpu, .memory_limit_mb = mem};
}

decision vertical(int replicas, double cpu, double mem) {
    return {.replicas = replicas, .source = decision_source::policy, .reason = "test", .cpu_limit = cpu, .memory_limit_mb = mem};
}

}  // namespace

TEST_CASE("apply_guard leaves a horizontal-only decision without limits") {
    const decision d = apply_guard({.replicas = 6}, state(4), guard_config{});
    CHECK(d.replicas == 6);
    CHECK_FALSE(d.vertical());
}

TEST_CASE("apply_guard moves limits at most their step and keeps them within bounds") {
    guard_config g;
    g.max_cpu_step = 0.25;
    g.max_memory_step_mb = 200;
    g.min_cpu_limit = 0.1;
    g.max_cpu_limit = 2;
    g.min_memory_limit_mb = 256;
    g.max_memory_limit_mb = 1100;
    const decision up = apply_guard(vertical(4, 3.0, 5000), state(4), g);
    CHECK(up.cpu_limit == doctest::Approx(1.25));
    CHECK(up.memory_limit_mb == doctest::Approx(1100));  // bounds win over the step
    CHECK(std::string_view(up.reason) == "guard: limit step or bounds");
    const decision down = apply_guard(vertical(4, 0.01, 10), state(4), g);
    CHECK(down.cpu_limit == doctest::Approx(0.75));
    CHECK(down.memory_limit_mb == doctest::Approx(800));
    const decision same = apply_guard(vertical(4, 1.1, nan_v), state(4), g);
    CHECK(same.cpu_limit == doctest::Approx(1.1));
    CHECK(std::isnan(same.memory_limit_mb));
    CHECK(std::string_view(same.reason) == "test");
}

TEST_CASE("apply_guard names a stepped limit beside what else it did: the count limited or clamped, a limit dropped") {
    guard_config g;
    g.max_step_up = 4;
    g.max_cpu_step = 0.5;
    g.max_memory_step_mb = 256;
    // The count rate-limited (2 -> 10 asked, 6 given) and the CPU limit stepped (0.25 -> 2.048 asked, 0.75 given).
    const decision both = apply_guard(vertical(10, 2.048, nan_v), state(2, 0.25), g);
    CHECK(both.replicas == 6);
    CHECK(both.cpu_limit == doctest::Approx(0.75));
    CHECK(std::string_view(both.reason) == "guard: rate-limited, limit step or bounds");
    // The count clamped to max (25 asked, 20 given, within the step from 18) and the memory limit stepped.
    const decision clamped = apply_guard(vertical(25, nan_v, 2000), state(18), g);
    CHECK(clamped.replicas == 20);
    CHECK(clamped.memory_limit_mb == doctest::Approx(1256));
    CHECK(std::string_view(clamped.reason) == "guard: clamped to [min, max], limit step or bounds");
    // One limit dropped (infinite), the other stepped: both said, the drop not overwritten.
    const decision dropped = apply_guard(vertical(4, inf, 2000), state(4), g);
    CHECK(std::isnan(dropped.cpu_limit));
    CHECK(dropped.memory_limit_mb == doctest::Approx(1256));
    CHECK(std::string_view(dropped.reason) == "guard: invalid limit dropped, limit step or bounds");
    const decision all = apply_guard(vertical(10, inf, 2000), state(2), g);
    CHECK(std::string_view(all.reason) == "guard: rate-limited, invalid limit dropped, limit step or bounds");
    // Within every step: the policy's reason stands.
    CHECK(std::string_view(apply_guard(vertical(4, 1.2, 1100), state(4), g).reason) == "test");
}

TEST_CASE("apply_guard withholds vertical changes below vertical_min_replicas, now or after the decision") {
    const guard_config g;  // vertical_min_replicas = 2
    const decision at_one = apply_guard(vertical(3, 2.0, 2000), state(1), g);
    CHECK(at_one.replicas == 3);
    CHECK_FALSE(at_one.vertical());
    CHECK(std::string_view(at_one.reason) == "guard: vertical change withheld below vertical_min_replicas");
    const decision to_one = apply_guard(vertical(1, 2.0, 2000), state(2), g);
    CHECK_FALSE(to_one.vertical());
    guard_config allow;
    allow.vertical_min_replicas = 0;
    CHECK(apply_guard(vertical(1, 2.0, 2000), state(1), allow).vertical());
}

TEST_CASE("apply_guard drops a limit that is not finite and positive and keeps the other") {
    const decision d = apply_guard(vertical(4, inf, 512), state(4), guard_config{});
    CHECK(std::isnan(d.cpu_limit));
    CHECK(d.memory_limit_mb == doctest::Approx(512));
    CHECK(std::string_view(d.reason) == "guard: invalid limit dropped");
    const decision neg = apply_guard(vertical(4, -1, nan_v), state(4), guard_config{});
    CHECK_FALSE(neg.vertical());
}

TEST_CASE("apply_guard names both changes when it limits the count and drops or withholds a vertical change") {
    guard_config g;
    g.max_step_up = 4;
    // The count cut from 20 to 9 by the step, and an infinite limit dropped.
    const decision dropped = apply_guard(vertical(20, inf, 512), state(5), g);
    CHECK(dropped.replicas == 9);
    CHECK(std::string_view(dropped.reason) == "guard: rate-limited, invalid limit dropped");
    // The count clamped to max (20), and the limit dropped.
    scaling_state over = state(18);
    over.max_replicas = 20;
    g.max_step_up = 100;
    CHECK(std::string_view(apply_guard(vertical(40, nan_v, -1), over, g).reason) == "guard: clamped to [min, max], invalid limit dropped");
    // The count cut by the step from 1, where a resize is withheld.
    g.max_step_up = 1;
    const decision withheld = apply_guard(vertical(5, 2.0, 2000), state(1), g);
    CHECK(withheld.replicas == 2);
    CHECK_FALSE(withheld.vertical());
    CHECK(std::string_view(withheld.reason) == "guard: rate-limited, vertical change withheld below vertical_min_replicas");
    // Another source's reason is never replaced.
    decision fallback = vertical(20, inf, 512);
    fallback.source = decision_source::fallback;
    CHECK(std::string_view(apply_guard(fallback, state(5), guard_config{.max_step_up = 4}).reason) == "test");
}

TEST_CASE("apply_guard withholds vertical changes while fewer than vertical_min_replicas replicas are ready") {
    const guard_config g;  // vertical_min_replicas = 2
    // A cold start: 3 asked for, 1 ready. Resizing would restart the only replica serving.
    const decision cold = apply_guard(vertical(3, 2.0, 2000), state(3), g, 1);
    CHECK(cold.replicas == 3);
    CHECK_FALSE(cold.vertical());
    CHECK(std::string_view(cold.reason) == "guard: vertical change withheld below vertical_min_replicas");
    CHECK_FALSE(apply_guard(vertical(3, 2.0, 2000), state(3), g, 0).vertical());
    // Two ready: the resize goes ahead, as it does with no ready count given.
    const decision warm = apply_guard(vertical(3, 2.0, 2000), state(3), g, 2);
    CHECK(warm.cpu_limit == 2.0);
    CHECK(warm.memory_limit_mb == 2000);
    CHECK(apply_guard(vertical(3, 2.0, 2000), state(3), g).vertical());
    // More ready than asked for (replicas still terminating after a scale-in)
    // does not lift the rule on the count asked for.
    CHECK_FALSE(apply_guard(vertical(1, 2.0, 2000), state(1), g, 5).vertical());
    // The rate limit's reason is kept beside the withholding.
    CHECK(std::string_view(apply_guard(vertical(9, 2.0, 2000), state(3), g, 1).reason) ==
          "guard: rate-limited, vertical change withheld below vertical_min_replicas");
}

TEST_CASE("guarded policy: a resize waits until vertical_min_replicas replicas are ready") {
    struct resizing {
        [[nodiscard]] bool ready() const noexcept { return true; }
        decision decide(const function_metrics&, const scaling_state& s) noexcept { return vertical(s.replicas, 4.0, 4096); }
    };
    guarded<resizing> g(resizing{});
    function_metrics starting = test::healthy();
    starting.ready_replicas = 1;
    starting.starting_replicas = 2;
    const decision cold = g.decide(starting, state(3));
    CHECK(cold.replicas == 3);
    CHECK_FALSE(cold.vertical());
    function_metrics ready = test::healthy();
    ready.ready_replicas = 3;
    const decision warm = g.decide(ready, state(3));
    CHECK(warm.cpu_limit == 4.0);
    CHECK(warm.memory_limit_mb == 4096);
}

TEST_CASE("guarded policy: invalid metrics never become a resize") {
    struct resizing {
        [[nodiscard]] bool ready() const noexcept { return true; }
        decision decide(const function_metrics&, const scaling_state& s) noexcept { return vertical(s.replicas, 4.0, 4096); }
    };
    guarded<resizing> g(resizing{});
    function_metrics bad = test::healthy();
    bad.cpu_utilization = nan_v;
    const decision d = g.decide(bad, state(5));
    CHECK(d.replicas == 5);
    CHECK_FALSE(d.vertical());
}

TEST_CASE("apply_guard vertical property: limits finite, positive, within bounds and steps, never below the replica rule, ready count included") {
    std::mt19937_64 gen(11);
    std::uniform_real_distribution<double> u(-1e6, 1e6);
    const double specials[] = {nan_v, inf, -inf, 0.0, -0.0, 1e-300, 1e300, std::numeric_limits<double>::denorm_min()};
    for (int trial = 0; trial < 20000; ++trial) {
        guard_config g;
        g.max_cpu_step = 0.01 + std::abs(u(gen)) / 1e5;
        g.max_memory_step_mb = 1 + std::abs(u(gen)) / 100;
        g.min_cpu_limit = 0.01;
        g.max_cpu_limit = trial % 3 == 0 ? inf : 8;
        g.vertical_min_replicas = static_cast<int>(gen() % 4);
        const auto pick = [&] { return gen() % 4 == 0 ? specials[gen() % 8] : u(gen); };
        scaling_state s = state(static_cast<int>(gen() % 30) - 5, std::abs(pick()), std::abs(pick()));
        s.replicas = gen() % 50 == 0 ? std::numeric_limits<int>::max() : s.replicas;
        const std::uint32_t counts[] = {0, 1, 2, 3, std::numeric_limits<std::uint32_t>::max()};
        const std::int64_t ready = gen() % 2 == 0 ? std::int64_t{counts[gen() % 5]} : std::int64_t{s.replicas};
        const decision d = apply_guard(vertical(static_cast<int>(gen()), pick(), pick()), s, g, ready);
        CHECK(d.replicas >= s.min_replicas);
        CHECK(d.replicas <= s.max_replicas);
        for (const auto& [v, lo, hi, step, cur] : {std::tuple{d.cpu_limit, g.min_cpu_limit, g.max_cpu_limit, g.max_cpu_step, s.cpu_limit},
                                                  std::tuple{d.memory_limit_mb, g.min_memory_limit_mb, g.max_memory_limit_mb,
                                                             g.max_memory_step_mb, s.memory_limit_mb}}) {
            if (std::isnan(v)) continue;
            REQUIRE(std::isfinite(v));
            CHECK(v >= lo);
            CHECK(v <= hi);
            if (std::isfinite(cur) && cur > 0 && cur >= lo && cur <= hi) CHECK(std::abs(v - cur) <= step + 1e-12 * std::abs(cur));
        }
        if (d.vertical()) CHECK(std::min({std::int64_t{s.replicas}, ready, std::int64_t{d.replicas}}) >= g.vertical_min_replicas);
    }
}

TEST_CASE("guard_config vertical errors name the field and the value") {
    guard_config g;
    g.max_cpu_step = 0;
    CHECK_THROWS_WITH_AS(g.validate(), doctest::Contains("guard_config.max_cpu_step"), config_error);
    g = {};
    g.max_memory_limit_mb = 0.5;
    CHECK_THROWS_WITH_AS(g.validate(), doctest::Contains("guard_config.max_memory_limit_mb"), config_error);
    g = {};
    g.min_cpu_limit = nan_v;
    CHECK_THROWS_WITH_AS(g.validate(), doctest::Contains("min_cpu_limit"), config_error);
}

}  // namespace test_policy_guard_vertical
