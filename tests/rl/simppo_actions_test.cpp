#include <rlscale/rl/simppo_actions.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace test_rl_simppo_actions {

using namespace rlscale;
using namespace rlscale::rl;

static_assert(discrete_action_map<simppo_actions>);
static_assert(action_map<simppo_actions>);

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

constexpr std::int32_t hold_action = 0;
constexpr std::int32_t scale_out = 1;
constexpr std::int32_t scale_in = 2;
constexpr std::int32_t cpu_up = 3;
constexpr std::int32_t cpu_down = 4;
constexpr std::int32_t memory_up = 5;
constexpr std::int32_t memory_down = 6;

/// 4 replicas in [1, 10], 1 core, 512 MB: every action legal.
scaling_state mid() {
    return {.replicas = 4, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1.0, .memory_limit_mb = 512};
}

/// The target of `action` for one function, through the action-map signature.
scaling_target one(const simppo_actions& a, const scaling_state& s, std::int32_t action) {
    const std::array<std::int32_t, 1> v{action};
    const std::array<function_metrics, 1> m{};
    const std::array<scaling_state, 1> st{s};
    std::array<scaling_target, 1> out{};
    a.targets(v, m, st, out);
    return out[0];
}

/// The target equals the current state: replicas kept, both limits NaN ("unchanged").
void check_self_loop(const scaling_target& t, const scaling_state& s) {
    CHECK(t.replicas == s.replicas);
    CHECK(std::isnan(t.cpu_limit));
    CHECK(std::isnan(t.memory_limit_mb));
}

}  // namespace

TEST_CASE("simppo actions: layout of one head of 7 actions per function and the names") {
    const simppo_actions a(12);
    CHECK(a.functions() == 12);
    CHECK(a.width() == 12);
    CHECK(a.layout().heads == 12);
    CHECK(a.layout().actions_per_head == 7);
    CHECK(simppo_actions::action_count == 7);
    CHECK(to_string(simppo_action::hold) == "hold");
    CHECK(to_string(simppo_action::scale_out) == "scale_out");
    CHECK(to_string(simppo_action::memory_down) == "memory_down");
    CHECK(to_string(static_cast<simppo_action>(9)) == "unknown");
    CHECK(static_cast<std::int32_t>(simppo_action::cpu_up) == cpu_up);
    const simppo_action_config c = simppo_action_config::simppo();
    CHECK(c.replica_step == 1);
    CHECK(c.cpu_step_cores == 0.125);  // 128 cpu.shares
    CHECK(c.memory_step_mb == 128);
    CHECK(c.limits.cpu_min_cores == 0.125);
    CHECK(c.limits.cpu_max_cores == 2.0);
}

TEST_CASE("simppo actions: every action's target from a state where all are legal") {
    const simppo_actions a(1);
    const scaling_state s = mid();
    check_self_loop(one(a, s, hold_action), s);

    scaling_target t = one(a, s, scale_out);
    CHECK(t.replicas == 5);
    CHECK(std::isnan(t.cpu_limit));
    CHECK(std::isnan(t.memory_limit_mb));
    t = one(a, s, scale_in);
    CHECK(t.replicas == 3);
    CHECK(std::isnan(t.cpu_limit));
    CHECK(std::isnan(t.memory_limit_mb));

    t = one(a, s, cpu_up);
    CHECK(t.replicas == 4);
    CHECK(t.cpu_limit == 1.125);
    CHECK(std::isnan(t.memory_limit_mb));
    t = one(a, s, cpu_down);
    CHECK(t.replicas == 4);
    CHECK(t.cpu_limit == 0.875);
    CHECK(std::isnan(t.memory_limit_mb));

    t = one(a, s, memory_up);
    CHECK(t.replicas == 4);
    CHECK(std::isnan(t.cpu_limit));
    CHECK(t.memory_limit_mb == 640);
    t = one(a, s, memory_down);
    CHECK(t.replicas == 4);
    CHECK(std::isnan(t.cpu_limit));
    CHECK(t.memory_limit_mb == 384);

    for (std::int32_t k = 0; k < 7; ++k) {
        CAPTURE(k);
        CHECK_FALSE(a.illegal(s, k));
    }
}

TEST_CASE("simppo actions: several functions, each its own head and state") {
    const simppo_actions a(3);
    const std::array<std::int32_t, 3> v{scale_out, cpu_down, memory_up};
    const std::array<function_metrics, 3> m{};
    std::array<scaling_state, 3> s{mid(), mid(), mid()};
    s[1].cpu_limit = 0.5;
    s[2].replicas = 7;
    std::array<scaling_target, 3> out{};
    a.targets(v, m, s, out);
    CHECK(out[0].replicas == 5);
    CHECK(out[1].replicas == 4);
    CHECK(out[1].cpu_limit == 0.375);
    CHECK(out[2].replicas == 7);
    CHECK(out[2].memory_limit_mb == 640);
}

TEST_CASE("simppo actions: steps from the config and their deltas") {
    const simppo_actions a(1, {.replica_step = 3, .cpu_step_cores = 0.5, .memory_step_mb = 256});
    const scaling_state s = mid();
    CHECK(one(a, s, scale_out).replicas == 7);
    CHECK(one(a, s, scale_in).replicas == 1);
    CHECK(one(a, s, cpu_up).cpu_limit == 1.5);
    CHECK(one(a, s, cpu_down).cpu_limit == 0.5);
    CHECK(one(a, s, memory_up).memory_limit_mb == 768);
    CHECK(one(a, s, memory_down).memory_limit_mb == 256);

    CHECK(a.delta(hold_action) == simppo_action_delta{});
    CHECK(a.delta(scale_out) == simppo_action_delta{.replicas = 3});
    CHECK(a.delta(scale_in) == simppo_action_delta{.replicas = -3});
    CHECK(a.delta(cpu_up) == simppo_action_delta{.cpu_cores = 0.5});
    CHECK(a.delta(cpu_down) == simppo_action_delta{.cpu_cores = -0.5});
    CHECK(a.delta(memory_up) == simppo_action_delta{.memory_mb = 256});
    CHECK(a.delta(memory_down) == simppo_action_delta{.memory_mb = -256});
    CHECK(a.delta(7) == simppo_action_delta{});
    CHECK(simppo_actions::unit_delta(memory_down) == simppo_action_delta{.memory_mb = -1});
    CHECK(simppo_actions::unit_delta(scale_out) == simppo_action_delta{.replicas = 1});

    CHECK(simppo_actions::dimension(hold_action) == simppo_dimension::none);
    CHECK(simppo_actions::dimension(scale_in) == simppo_dimension::replicas);
    CHECK(simppo_actions::dimension(cpu_up) == simppo_dimension::cpu);
    CHECK(simppo_actions::dimension(memory_down) == simppo_dimension::memory);
    CHECK(simppo_actions::dimension(-1) == simppo_dimension::none);
    CHECK(simppo_actions::direction(scale_out) == 1);
    CHECK(simppo_actions::direction(cpu_down) == -1);
    CHECK(simppo_actions::direction(hold_action) == 0);
    CHECK(simppo_actions::direction(99) == 0);
}

TEST_CASE("simppo actions: a step that would cross a bound stops at it") {
    const simppo_actions a(1, {.replica_step = 3, .cpu_step_cores = 0.5, .memory_step_mb = 512});
    scaling_state s = mid();
    s.replicas = 9;  // max 10: +3 stops at 10
    CHECK(one(a, s, scale_out).replicas == 10);
    s.replicas = 2;  // min 1: -3 stops at 1
    CHECK(one(a, s, scale_in).replicas == 1);
    s.cpu_limit = 1.75;  // max 2
    CHECK(one(a, s, cpu_up).cpu_limit == 2.0);
    s.cpu_limit = 0.25;  // min 0.125
    CHECK(one(a, s, cpu_down).cpu_limit == 0.125);
    s.memory_limit_mb = 1800;  // max 2048
    CHECK(one(a, s, memory_up).memory_limit_mb == 2048);
    s.memory_limit_mb = 300;  // min 128
    CHECK(one(a, s, memory_down).memory_limit_mb == 128);

    // Outside the bounds only the step toward them is legal, and it lands inside.
    s = mid();
    s.cpu_limit = 3.0;
    CHECK(one(a, s, cpu_down).cpu_limit == 2.0);
    CHECK(a.illegal(s, cpu_up));
    s.cpu_limit = 0.05;
    CHECK(one(a, s, cpu_up).cpu_limit == doctest::Approx(0.55));
    CHECK(a.illegal(s, cpu_down));
    s = mid();
    s.replicas = 0;
    s.min_replicas = 2;
    CHECK(one(a, s, scale_out).replicas == 3);
    s.replicas = 15;  // above max 10
    CHECK(one(a, s, scale_in).replicas == 10);
    CHECK(a.illegal(s, scale_out));

    // Custom bounds.
    simppo_action_config c;
    c.limits.cpu_max_cores = 1.0;
    c.limits.memory_max_mb = 600;
    const simppo_actions b(1, c);
    s = mid();
    s.cpu_limit = 0.95;
    CHECK(one(b, s, cpu_up).cpu_limit == 1.0);
    CHECK(one(b, s, memory_up).memory_limit_mb == 600);
    s.cpu_limit = 1.0;
    CHECK(b.illegal(s, cpu_up));
}

TEST_CASE("simppo actions: an illegal action is a self-loop") {
    const simppo_actions a(1);
    SUBCASE("scale out at max_replicas") {
        scaling_state s = mid();
        s.replicas = 10;
        CHECK(a.illegal(s, scale_out));
        check_self_loop(one(a, s, scale_out), s);
        CHECK_FALSE(a.illegal(s, scale_in));
    }
    SUBCASE("scale in at min_replicas") {
        scaling_state s = mid();
        s.replicas = 1;
        CHECK(a.illegal(s, scale_in));
        check_self_loop(one(a, s, scale_in), s);
        CHECK_FALSE(a.illegal(s, scale_out));
    }
    SUBCASE("scale in at zero containers") {
        scaling_state s = mid();
        s.replicas = 0;
        s.min_replicas = 0;
        CHECK(a.illegal(s, scale_in));
        check_self_loop(one(a, s, scale_in), s);
        CHECK(one(a, s, scale_out).replicas == 1);
    }
    SUBCASE("a vertical step with zero containers") {
        scaling_state s = mid();
        s.replicas = 0;
        s.min_replicas = 0;
        for (const std::int32_t k : {cpu_up, cpu_down, memory_up, memory_down}) {
            CAPTURE(k);
            CHECK(a.illegal(s, k));
            check_self_loop(one(a, s, k), s);
        }
        CHECK_FALSE(a.illegal(s, hold_action));
    }
    SUBCASE("CPU at its bounds") {
        scaling_state s = mid();
        s.cpu_limit = 2.0;
        CHECK(a.illegal(s, cpu_up));
        check_self_loop(one(a, s, cpu_up), s);
        CHECK(one(a, s, cpu_down).cpu_limit == 1.875);
        s.cpu_limit = 0.125;
        CHECK(a.illegal(s, cpu_down));
        check_self_loop(one(a, s, cpu_down), s);
        CHECK(one(a, s, cpu_up).cpu_limit == 0.25);
    }
    SUBCASE("memory at its bounds") {
        scaling_state s = mid();
        s.memory_limit_mb = 2048;
        CHECK(a.illegal(s, memory_up));
        check_self_loop(one(a, s, memory_up), s);
        s.memory_limit_mb = 128;
        CHECK(a.illegal(s, memory_down));
        check_self_loop(one(a, s, memory_down), s);
        CHECK(one(a, s, memory_up).memory_limit_mb == 256);
    }
    SUBCASE("a limit that is not finite cannot be stepped") {
        scaling_state s = mid();
        s.cpu_limit = qnan;
        CHECK(a.illegal(s, cpu_up));
        check_self_loop(one(a, s, cpu_up), s);
        CHECK_FALSE(a.illegal(s, memory_up));
        s.memory_limit_mb = std::numeric_limits<double>::infinity();
        CHECK(a.illegal(s, memory_down));
        check_self_loop(one(a, s, memory_down), s);
    }
    SUBCASE("an index outside 0..6 changes nothing and is illegal") {
        const scaling_state s = mid();
        for (const std::int32_t k : {-1, 7, 1000, std::numeric_limits<std::int32_t>::min()}) {
            CAPTURE(k);
            CHECK(a.illegal(s, k));
            check_self_loop(one(a, s, k), s);
        }
    }
    SUBCASE("agrees with simppo_reward's tests") {
        scaling_state s = mid();
        s.replicas = 10;
        CHECK(a.illegal(s, scale_out) == simppo_reward::illegal(s, 1));
        s.cpu_limit = 2.0;
        CHECK(a.illegal(s, cpu_up) == simppo_reward::illegal_vertical(s, 0.125, 0));
        s.memory_limit_mb = 128;
        CHECK(a.illegal(s, memory_down) == simppo_reward::illegal_vertical(s, 0, -128));
    }
}

TEST_CASE("simppo actions: a limit of 0 or below is unknown and cannot be stepped") {
    // A caller that did not measure a limit passes 0 (the controller does):
    // a step from it would order a size unrelated to the pod's (cpu_up from
    // 0 would ask a pod of 1 core for 0.125).
    const simppo_actions a(1);
    for (const double unknown : {0.0, -0.0, -1.0, -std::numeric_limits<double>::infinity()}) {
        CAPTURE(unknown);
        scaling_state s = mid();
        s.cpu_limit = unknown;
        CHECK(a.illegal(s, cpu_up));
        CHECK(a.illegal(s, cpu_down));
        check_self_loop(one(a, s, cpu_up), s);
        check_self_loop(one(a, s, cpu_down), s);
        CHECK_FALSE(a.illegal(s, memory_up));  // the other limit is known
        CHECK(a.penalty(s, hold_action, cpu_up, simppo_reward{}) == -1.0);
        s = mid();
        s.memory_limit_mb = unknown;
        CHECK(a.illegal(s, memory_up));
        CHECK(a.illegal(s, memory_down));
        check_self_loop(one(a, s, memory_up), s);
        check_self_loop(one(a, s, memory_down), s);
        CHECK_FALSE(a.illegal(s, cpu_up));
    }
}

TEST_CASE("simppo actions: the action toward a target sees no gap from an unknown limit") {
    const simppo_actions a(1);
    scaling_state s = mid();
    s.cpu_limit = 0;
    // 0 -> 1.5 cores would be 12 steps, more than the 1 replica: the replica
    // step wins, as the CPU gap is not known.
    CHECK(a.action_toward(s, {.replicas = 5, .cpu_limit = 1.5}) == scale_out);
    CHECK(a.action_toward(s, {.replicas = 4, .cpu_limit = 1.5}) == hold_action);
    s = mid();
    s.memory_limit_mb = -1;
    CHECK(a.action_toward(s, {.replicas = 3, .memory_limit_mb = 1024}) == scale_in);
}

TEST_CASE("simppo actions: oscillation is the same resource reversed in consecutive steps") {
    // The pairs that oscillate, both orders.
    for (const auto& pair : std::vector<std::pair<std::int32_t, std::int32_t>>{
             {scale_out, scale_in}, {scale_in, scale_out}, {cpu_up, cpu_down}, {cpu_down, cpu_up}, {memory_up, memory_down},
             {memory_down, memory_up}}) {
        const std::int32_t previous = pair.first;
        const std::int32_t action = pair.second;
        CAPTURE(previous);
        CAPTURE(action);
        CHECK(simppo_actions::oscillates(previous, action));
    }
    // Everything else does not: repeats, holds, other resources.
    int oscillating = 0;
    for (std::int32_t p = -1; p <= 7; ++p) {
        for (std::int32_t a = -1; a <= 7; ++a) {
            if (simppo_actions::oscillates(p, a)) ++oscillating;
        }
    }
    CHECK(oscillating == 6);
    CHECK_FALSE(simppo_actions::oscillates(scale_out, scale_out));
    CHECK_FALSE(simppo_actions::oscillates(cpu_up, memory_down));
    CHECK_FALSE(simppo_actions::oscillates(scale_in, cpu_up));
    CHECK_FALSE(simppo_actions::oscillates(hold_action, scale_in));
    CHECK_FALSE(simppo_actions::oscillates(scale_in, hold_action));
}

TEST_CASE("simppo actions: penalty for illegal and oscillating actions, none otherwise") {
    const simppo_actions a(1);
    const simppo_reward r;
    const scaling_state s = mid();
    SUBCASE("none") {
        CHECK(a.penalty(s, hold_action, hold_action, r) == 0.0);
        CHECK(a.penalty(s, hold_action, scale_out, r) == 0.0);
        CHECK(a.penalty(s, scale_out, scale_out, r) == 0.0);  // the same direction twice
        CHECK(a.penalty(s, cpu_up, memory_down, r) == 0.0);   // another resource
        CHECK(a.penalty(s, scale_in, cpu_up, r) == 0.0);
        CHECK(a.penalty(s, memory_up, hold_action, r) == 0.0);
        CHECK(a.penalty(s, -5, scale_in, r) == 0.0);          // out of range previous: hold
    }
    SUBCASE("oscillation, per resource") {
        CHECK(a.penalty(s, scale_in, scale_out, r) == -1.0);
        CHECK(a.penalty(s, scale_out, scale_in, r) == -1.0);
        CHECK(a.penalty(s, cpu_down, cpu_up, r) == -1.0);
        CHECK(a.penalty(s, cpu_up, cpu_down, r) == -1.0);
        CHECK(a.penalty(s, memory_down, memory_up, r) == -1.0);
        CHECK(a.penalty(s, memory_up, memory_down, r) == -1.0);
    }
    SUBCASE("illegal") {
        scaling_state at_max = s;
        at_max.replicas = 10;
        CHECK(a.penalty(at_max, hold_action, scale_out, r) == -1.0);
        CHECK(a.penalty(at_max, scale_out, scale_out, r) == -1.0);
        scaling_state no_container = s;
        no_container.replicas = 0;
        no_container.min_replicas = 0;
        CHECK(a.penalty(no_container, hold_action, cpu_up, r) == -1.0);
        CHECK(a.penalty(no_container, hold_action, memory_down, r) == -1.0);
        CHECK(a.penalty(no_container, hold_action, hold_action, r) == 0.0);
        CHECK(a.penalty(s, hold_action, 7, r) == -1.0);
    }
    SUBCASE("illegal and oscillating at once count once") {
        scaling_state at_min = s;
        at_min.replicas = 1;
        CHECK(a.penalty(at_min, scale_out, scale_in, r) == -1.0);
    }
    SUBCASE("the reward's configured penalty") {
        const simppo_reward half({.alpha = 0.3, .penalty = -0.5});
        CHECK(a.penalty(s, cpu_up, cpu_down, half) == -0.5);
        CHECK(a.penalty(s, hold_action, cpu_down, half) == 0.0);
    }
}

TEST_CASE("simppo actions: the action toward a target") {
    const simppo_actions a(2);
    const scaling_state s = mid();
    CHECK(a.action_toward(s, {.replicas = 6}) == scale_out);
    CHECK(a.action_toward(s, {.replicas = 2}) == scale_in);
    CHECK(a.action_toward(s, {.replicas = 4}) == hold_action);
    CHECK(a.action_toward(s, {.replicas = 4, .cpu_limit = 1.5}) == cpu_up);
    CHECK(a.action_toward(s, {.replicas = 4, .cpu_limit = 1.05}) == hold_action);  // under half a step
    CHECK(a.action_toward(s, {.replicas = 4, .memory_limit_mb = 128}) == memory_down);
    // the largest gap in steps wins: 1 replica against 3 memory steps
    CHECK(a.action_toward(s, {.replicas = 5, .memory_limit_mb = 896}) == memory_up);
    // ties go to replicas, then CPU
    CHECK(a.action_toward(s, {.replicas = 5, .cpu_limit = 1.125, .memory_limit_mb = 640}) == scale_out);
    CHECK(a.action_toward(s, {.replicas = 4, .cpu_limit = 0.875, .memory_limit_mb = 384}) == cpu_down);
    // an illegal best move holds
    scaling_state full = s;
    full.replicas = 10;
    CHECK(a.action_toward(full, {.replicas = 12}) == hold_action);

    const std::array<scaling_state, 2> st{s, s};
    const std::array<int, 2> replicas{1, 9};
    std::array<std::int32_t, 2> heads{};
    a.heads_for(st, replicas, heads);
    CHECK(heads == std::array<std::int32_t, 2>{scale_in, scale_out});
    const std::array<scaling_target, 2> goals{{{.replicas = 4, .cpu_limit = 0.5}, {.replicas = 4, .memory_limit_mb = 1024}}};
    a.heads_for(st, goals, heads);
    CHECK(heads == std::array<std::int32_t, 2>{cpu_down, memory_up});
    // following the heads reaches the goal
    scaling_state now = s;
    for (int k = 0; k < 10; ++k) {
        // One function's target (`a` maps two functions, so not `one`).
        const scaling_target t = a.target(now, a.action_toward(now, {.replicas = 4, .cpu_limit = 0.5}));
        if (std::isfinite(t.cpu_limit)) now.cpu_limit = t.cpu_limit;
    }
    CHECK(now.cpu_limit == 0.5);
}

TEST_CASE("simppo actions: configuration errors name the field and the value") {
    CHECK_THROWS_WITH_AS(simppo_actions(0), doctest::Contains("simppo_actions.functions: must be >= 1, got 0"), config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.replica_step = 0}),
                         doctest::Contains("simppo_action_config.replica_step: must be in [1, 1000], got 0"), config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.replica_step = 1001}),
                         doctest::Contains("simppo_action_config.replica_step: must be in [1, 1000], got 1001"), config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.cpu_step_cores = 0}),
                         doctest::Contains("simppo_action_config.cpu_step_cores: must be finite, > 0 and <= "
                                           "limits.cpu_max_cores - limits.cpu_min_cores (1.875), got 0"),
                         config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.cpu_step_cores = qnan}),
                         doctest::Contains("simppo_action_config.cpu_step_cores: must be finite"), config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.cpu_step_cores = 2}), doctest::Contains("(1.875), got 2"), config_error);
    CHECK_THROWS_WITH_AS(simppo_actions(1, {.memory_step_mb = -128}),
                         doctest::Contains("simppo_action_config.memory_step_mb: must be finite, > 0 and <= "
                                           "limits.memory_max_mb - limits.memory_min_mb (1920), got -128"),
                         config_error);
    simppo_action_config c;
    c.limits.cpu_max_cores = 0.1;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c),
                         doctest::Contains("simppo_action_config.limits.cpu_max_cores: must be finite and > cpu_min_cores (0.125), got 0.1"),
                         config_error);
    c = {};
    c.limits.memory_min_mb = -1;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c),
                         doctest::Contains("simppo_action_config.limits.memory_min_mb: must be finite and > 0 (a limit of 0 reads as unknown), got -1"),
                         config_error);
    c = {};
    c.limits.memory_max_mb = qnan;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c), doctest::Contains("simppo_action_config.limits.memory_max_mb"), config_error);
    try {
        (void)simppo_actions(1, {.memory_step_mb = 0});
        FAIL("no throw");
    } catch (const config_error& e) {
        CHECK(e.field() == "simppo_action_config.memory_step_mb");
    }
    CHECK_NOTHROW(simppo_action_config::simppo().validate());
    CHECK_NOTHROW((void)simppo_actions(1, {.replica_step = 1000, .cpu_step_cores = 1.875, .memory_step_mb = 1920}));
}

TEST_CASE("simppo actions: a lower CPU or memory bound of 0 is refused, as the encoders read a limit of 0 as unknown") {
    // With cpu_min_cores 0, cpu_down from 0.125 cores would set the limit to
    // 0, which simppo_encoder refuses: the agent could no longer observe.
    simppo_action_config c;
    c.limits.cpu_min_cores = 0;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c),
                         doctest::Contains("simppo_action_config.limits.cpu_min_cores: must be finite and > 0 (a limit of 0 reads as unknown), got 0"),
                         config_error);
    c = {};
    c.limits.memory_min_mb = 0;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c),
                         doctest::Contains("simppo_action_config.limits.memory_min_mb: must be finite and > 0 (a limit of 0 reads as unknown), got 0"),
                         config_error);
    c = {};
    c.limits.cpu_min_cores = qnan;
    CHECK_THROWS_WITH_AS(simppo_actions(1, c), doctest::Contains("simppo_action_config.limits.cpu_min_cores: must be finite and > 0"),
                         config_error);
    // Any positive lower bound is a limit the encoders read.
    c = {};
    c.limits.cpu_min_cores = 0.001;
    c.limits.memory_min_mb = 1;
    CHECK_NOTHROW((void)simppo_actions(1, c));
    // The container bounds are not limits: 0 containers stays a lower bound.
    c = {};
    c.limits.containers_min = 0;
    CHECK_NOTHROW((void)simppo_actions(1, c));
}

}  // namespace test_rl_simppo_actions
