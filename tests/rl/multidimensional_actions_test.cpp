#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace test_rl_multidimensional_actions {

using namespace rlscale;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

scaling_state state(int replicas, double cpu = 1.0, double mem = 1024) {
    return {.replicas = replicas, .min_replicas = 1, .max_replicas = 21, .cpu_limit = cpu, .memory_limit_mb = mem, .time_s = 15};
}

scaling_target map_one(const rl::multidimensional_actions& a, std::array<float, 3> v, const scaling_state& s) {
    std::array<scaling_target, 1> out{};
    const std::array<function_metrics, 1> m{test::healthy()};
    a.targets(v, m, std::span<const scaling_state>(&s, 1), out);
    return out[0];
}

}  // namespace

TEST_CASE("multidimensional_actions absolute: -1, 0 and +1 reach min, middle and max of each dimension") {
    const rl::multidimensional_actions a(1, rl::multidimensional_config::aware());
    const scaling_state s = state(5);
    const auto lo = map_one(a, {-1, -1, -1}, s);
    CHECK(lo.replicas == 1);
    CHECK(lo.cpu_limit == doctest::Approx(0.128));
    CHECK(lo.memory_limit_mb == doctest::Approx(256));
    const auto mid = map_one(a, {0, 0, 0}, s);
    CHECK(mid.replicas == 11);  // 1 + 0.5 * 20
    CHECK(mid.cpu_limit == doctest::Approx(1.088));
    CHECK(mid.memory_limit_mb == doctest::Approx(1664));
    const auto hi = map_one(a, {1, 1, 1}, s);
    CHECK(hi.replicas == 21);
    CHECK(hi.cpu_limit == doctest::Approx(2.048));
    CHECK(hi.memory_limit_mb == doctest::Approx(3072));
    // Outside [-1, 1] is clamped; NaN keeps the current setting: a NaN limit
    // is the decision's "unchanged", not the current limit clamped into the
    // map's bounds (or its middle when unknown), which would be a resize.
    const auto out = map_one(a, {7, -9, static_cast<float>(nan_v)}, s);
    CHECK(out.replicas == 21);
    CHECK(out.cpu_limit == doctest::Approx(0.128));
    CHECK(std::isnan(out.memory_limit_mb));
    for (const scaling_state& odd : {state(5, 4.0, 8192), state(5, nan_v, 0)}) {  // above the bounds, unknown
        const auto t = map_one(a, {0, static_cast<float>(nan_v), static_cast<float>(nan_v)}, odd);
        CHECK(std::isnan(t.cpu_limit));
        CHECK(std::isnan(t.memory_limit_mb));
    }
    const auto kept = map_one(a, {static_cast<float>(nan_v), 0, 0}, s);
    CHECK(kept.replicas == s.replicas);
}

TEST_CASE("multidimensional_actions relative: values move each dimension from the current setting by at most its step") {
    rl::multidimensional_config c;
    c.mode = rl::multidimensional_mode::relative;
    c.max_replica_step = 3;
    c.max_cpu_step = 0.25;
    c.max_memory_step_mb = 100;
    const rl::multidimensional_actions a(1, c);
    const auto t = map_one(a, {1, -0.5F, 0.5F}, state(5, 1.0, 1000));
    CHECK(t.replicas == 8);
    CHECK(t.cpu_limit == doctest::Approx(0.875));
    CHECK(t.memory_limit_mb == doctest::Approx(1050));
    const auto floor = map_one(a, {-1, -1, -1}, state(2, 0.2, 300));
    CHECK(floor.replicas == 1);  // the function's min
    CHECK(floor.cpu_limit == doctest::Approx(0.128));
    CHECK(floor.memory_limit_mb == doctest::Approx(256));
}

TEST_CASE("multidimensional_actions relative: a limit whose current value is unknown is left unchanged, absolute mode sets it") {
    rl::multidimensional_config c;
    c.mode = rl::multidimensional_mode::relative;
    const rl::multidimensional_actions relative(1, c);
    for (const double unknown : {0.0, -1.0, nan_v, std::numeric_limits<double>::infinity()}) {
        CAPTURE(unknown);
        const auto t = map_one(relative, {0, 1, -1}, state(5, unknown, unknown));
        CHECK(t.replicas == 5);
        CHECK(std::isnan(t.cpu_limit));
        CHECK(std::isnan(t.memory_limit_mb));
    }
    const auto known = map_one(relative, {0, 1, -1}, state(5, 1.0, 1024));
    CHECK(known.cpu_limit == doctest::Approx(1.5));
    CHECK(known.memory_limit_mb == doctest::Approx(512));
    const rl::multidimensional_actions absolute(1, rl::multidimensional_config{});
    const auto a = map_one(absolute, {0, 1, -1}, state(5, 0.0, 0.0));
    CHECK(a.cpu_limit == doctest::Approx(absolute.config().max_cpu_limit));
    CHECK(a.memory_limit_mb == doctest::Approx(absolute.config().min_memory_limit_mb));
}

TEST_CASE("multidimensional_actions values_for, relative: the replica change at the edges of the integer range keeps its sign") {
    rl::multidimensional_config c;
    c.mode = rl::multidimensional_mode::relative;
    const rl::multidimensional_actions a(1, c);
    constexpr int most = std::numeric_limits<int>::max();
    constexpr int least = std::numeric_limits<int>::min();
    const auto value = [&](int current, int target) {
        scaling_state s = state(1, 1.0, 1000);
        s.replicas = current;
        s.min_replicas = 0;
        s.max_replicas = most;
        const scaling_target t{.replicas = target};
        std::array<float, 3> v{};
        a.values_for(std::span<const scaling_target>(&t, 1), std::span<const scaling_state>(&s, 1), v);
        return v[0];
    };
    CHECK(value(-2, most) == 1.0F);   // INT_MAX - (-2) overflows int: the subtraction is in double
    CHECK(value(most, -2) == -1.0F);
    CHECK(value(least, most) == 1.0F);
    CHECK(value(most, least) == -1.0F);
    CHECK(value(5, 5) == 0.0F);
}

TEST_CASE("multidimensional_actions values_for inverts targets in both modes (property over random targets)") {
    std::mt19937_64 gen(7);
    for (const auto mode : {rl::multidimensional_mode::absolute, rl::multidimensional_mode::relative}) {
        rl::multidimensional_config c;
        c.mode = mode;
        const rl::multidimensional_actions a(2, c);
        for (int trial = 0; trial < 500; ++trial) {
            std::uniform_real_distribution<float> u(-1, 1);
            const std::array<float, 6> v{u(gen), u(gen), u(gen), u(gen), u(gen), u(gen)};
            const std::array<scaling_state, 2> s{state(1 + static_cast<int>(gen() % 21), 0.5, 700), state(3, 1.5, 2000)};
            const std::array<function_metrics, 2> m{test::healthy(), test::healthy()};
            std::array<scaling_target, 2> t{};
            a.targets(v, m, s, t);
            std::array<float, 6> back{};
            a.values_for(t, s, back);
            std::array<scaling_target, 2> again{};
            a.targets(back, m, s, again);
            for (std::size_t f = 0; f < 2; ++f) {
                CHECK(again[f].replicas == t[f].replicas);
                CHECK(again[f].cpu_limit == doctest::Approx(t[f].cpu_limit).epsilon(1e-5));
                CHECK(again[f].memory_limit_mb == doctest::Approx(t[f].memory_limit_mb).epsilon(1e-5));
                for (std::size_t d = 0; d < 3; ++d) CHECK(std::abs(back[3 * f + d]) <= 1.0F);
            }
        }
    }
}

TEST_CASE("multidimensional_actions values_for maps an unchanged (NaN) limit to the value that keeps it") {
    const rl::multidimensional_actions a(1);
    const scaling_state s = state(4, 0.5, 700);
    std::array<float, 3> v{};
    const std::array<scaling_target, 1> t{scaling_target{.replicas = 4}};
    a.values_for(t, std::span<const scaling_state>(&s, 1), v);
    const auto back = map_one(a, v, s);
    CHECK(back.replicas == 4);
    CHECK(back.cpu_limit == doctest::Approx(0.5).epsilon(1e-5));
    CHECK(back.memory_limit_mb == doctest::Approx(700).epsilon(1e-5));
}

TEST_CASE("multidimensional_actions values_for, relative: a limit whose current value is unknown maps to 0 whatever its target") {
    rl::multidimensional_config c;
    c.mode = rl::multidimensional_mode::relative;
    const rl::multidimensional_actions a(1, c);
    for (const double unknown : {0.0, -1.0, nan_v, std::numeric_limits<double>::infinity()}) {
        CAPTURE(unknown);
        const scaling_state s = state(5, unknown, unknown);
        // A teacher's finite targets (below the middle of the bounds, above
        // it, at a bound) and its NaN hold: targets() reads every value in
        // this state as unchanged, so the stored value is 0, no step.
        for (const double cpu : {1.0, 0.2, 2.048, nan_v}) {
            for (const double mem : {300.0, 3000.0, nan_v}) {
                CAPTURE(cpu);
                CAPTURE(mem);
                const std::array<scaling_target, 1> t{scaling_target{.replicas = 7, .cpu_limit = cpu, .memory_limit_mb = mem}};
                std::array<float, 3> v{};
                a.values_for(t, std::span<const scaling_state>(&s, 1), v);
                CHECK(v[0] == doctest::Approx(0.5));  // the replica step is unaffected
                CHECK(v[1] == 0.0F);
                CHECK(v[2] == 0.0F);
                const auto back = map_one(a, v, s);
                CHECK(back.replicas == 7);
                CHECK(std::isnan(back.cpu_limit));
                CHECK(std::isnan(back.memory_limit_mb));
            }
        }
    }
    // A known limit still maps to its step, and absolute mode still reaches the target from an unknown limit.
    const scaling_state known = state(5, 1.0, 1024);
    const std::array<scaling_target, 1> t{scaling_target{.replicas = 5, .cpu_limit = 1.25, .memory_limit_mb = 768}};
    std::array<float, 3> v{};
    a.values_for(t, std::span<const scaling_state>(&known, 1), v);
    CHECK(v[1] == doctest::Approx(0.5));
    CHECK(v[2] == doctest::Approx(-0.5));
    const rl::multidimensional_actions absolute(1);
    const scaling_state unknown = state(5, 0.0, 0.0);
    absolute.values_for(t, std::span<const scaling_state>(&unknown, 1), v);
    const auto back = map_one(absolute, v, unknown);
    CHECK(back.cpu_limit == doctest::Approx(1.25).epsilon(1e-5));
    CHECK(back.memory_limit_mb == doctest::Approx(768).epsilon(1e-5));
}

TEST_CASE("multidimensional_config errors name the field and the value") {
    rl::multidimensional_config c;
    c.max_cpu_limit = 0.1;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("multidimensional_config.max_cpu_limit"), config_error);
    c = {};
    c.min_memory_limit_mb = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("min_memory_limit_mb"), config_error);
    CHECK_THROWS_WITH_AS(rl::multidimensional_actions(0), doctest::Contains("functions"), config_error);
}

TEST_CASE("rl_policy serves mu(s) through the multidimensional map: one decision changes replicas and both limits") {
    // A 5-input (SCARLET encoder), 3-output network whose tanh output is its bias.
    nn::mlp<float> net(std::vector<nn::layer_spec>{{5, 3, nn::activation::tanh}});
    net.parameters().setZero();
    net.bias(0) << 0.0F, 0.5F, -0.5F;
    auto w = std::make_shared<rl::shared_network<float>>(net);
    w->publish(net);
    using policy_t = rl_policy<scarlet_encoder, rl::deterministic_actor, rl::multidimensional_actions>;
    std::vector<hpa_policy> fallbacks(1, hpa_policy(hpa_config::cpu_utilization(50)));
    policy_t p(scarlet_encoder{}, rl::deterministic_actor(w), rl::multidimensional_actions(1), std::move(fallbacks),
               guard_config{.max_step_up = 100, .max_step_down = 100});
    const function_metrics m = test::healthy();
    const decision d = p.decide(m, state(10, 1.0, 1000));
    CHECK(d.source == decision_source::policy);
    CHECK(d.replicas == 11);
    CHECK(d.cpu_limit == doctest::Approx(0.128 + std::tanh(0.5) * 0 + (std::tanh(0.5F) + 1) / 2 * (2.048 - 0.128)).epsilon(1e-5));
    CHECK(d.memory_limit_mb == doctest::Approx(256 + (std::tanh(-0.5F) + 1) / 2 * (3072 - 256)).epsilon(1e-5));
    // At one replica the guard withholds the vertical half (a resize evicts the only pod).
    const decision one = p.decide(m, state(1, 1.0, 1000));
    CHECK_FALSE(one.vertical());
    CHECK(one.replicas == 11);
}

}  // namespace test_rl_multidimensional_actions
