#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>

#include <doctest/doctest.h>

#include <limits>

namespace test_policy_composition {

using namespace rlscale;

namespace {

/// A policy under test's control: returns `replicas`, or holds, or is not ready.
struct scripted_policy {
    int replicas = 5;
    bool is_ready = true;
    bool holds = false;
    [[nodiscard]] bool ready() const noexcept { return is_ready; }
    decision decide(const function_metrics&, const scaling_state& s) noexcept {
        if (holds) return hold(s, "scripted: hold");
        return {.replicas = replicas, .source = decision_source::policy, .reason = "scripted"};
    }
};
static_assert(policy<scripted_policy>);
static_assert(policy<guarded<scripted_policy>>);
static_assert(policy<with_fallback<scripted_policy, static_policy>>);
static_assert(policy<guarded<with_fallback<scripted_policy, static_policy>>>);
static_assert(policy<any_policy>);

function_metrics valid_metrics() {
    function_metrics m;
    m.interval_s = 15;
    m.completions = 10;
    m.latency_mean_s = 0.1;
    m.latency = {0.1, 0.2, 0.25, 0.3, 0.4};
    m.ready_replicas = 3;
    m.cpu_utilization = 0.5;
    return m;
}

scaling_state state(int replicas, int min = 1, int max = 10) {
    return {.replicas = replicas, .min_replicas = min, .max_replicas = max};
}

}  // namespace

TEST_CASE("guarded clamps to the bounds and to the per-tick step") {
    guarded<scripted_policy> g(scripted_policy{.replicas = 50}, {.max_step_up = 3, .max_step_down = 1});
    auto d = g.decide(valid_metrics(), state(4));
    CHECK(d.replicas == 7);  // 4 + 3
    CHECK(d.reason == "guard: rate-limited");
    g.inner().replicas = -20;
    CHECK(g.decide(valid_metrics(), state(4)).replicas == 3);  // 4 - 1
    g.inner().replicas = 50;
    CHECK(g.decide(valid_metrics(), state(9)).replicas == 10);  // max
    // A current count outside the bounds is brought inside first.
    g.inner().replicas = 0;
    CHECK(g.decide(valid_metrics(), state(30)).replicas == 9);  // clamp 30 to 10, then at most 1 down
}

TEST_CASE("guarded holds on invalid or missing metrics without asking the inner policy") {
    guarded<scripted_policy> g(scripted_policy{.replicas = 8});
    function_metrics m = valid_metrics();
    m.latency.p90 = std::numeric_limits<double>::quiet_NaN();
    auto d = g.decide(m, state(4));
    CHECK(d.replicas == 4);
    CHECK(d.source == decision_source::hold);
    m = valid_metrics();
    m.cpu_utilization = -0.5;
    CHECK(g.decide(m, state(4)).source == decision_source::hold);
    CHECK(g.decide(function_metrics{}, state(4)).source == decision_source::hold);  // empty: no interval
    // No completions: NaN latency means no data, which is valid.
    m = valid_metrics();
    m.completions = 0;
    m.latency = {};
    m.latency_mean_s = std::numeric_limits<double>::quiet_NaN();
    CHECK(g.decide(m, state(4)).replicas == 8);
    CHECK_THROWS_WITH_AS(guarded<scripted_policy>(scripted_policy{}, {.max_step_up = -1}),
                         doctest::Contains("guard_config.max_step_up"), config_error);
}

TEST_CASE("with_fallback uses the backup when the primary is not ready or holds") {
    with_fallback<scripted_policy, static_policy> p(scripted_policy{.replicas = 6}, static_policy{.replicas = 2});
    auto d = p.decide(valid_metrics(), state(4));
    CHECK(d.replicas == 6);
    CHECK(d.source == decision_source::policy);
    p.primary().is_ready = false;
    d = p.decide(valid_metrics(), state(4));
    CHECK(d.replicas == 2);
    CHECK(d.source == decision_source::fallback);
    p.primary().is_ready = true;
    p.primary().holds = true;
    CHECK(p.decide(valid_metrics(), state(4)).source == decision_source::fallback);
    with_fallback<scripted_policy, scripted_policy> none(scripted_policy{.is_ready = false},
                                                         scripted_policy{.is_ready = false});
    CHECK_FALSE(none.ready());
    d = none.decide(valid_metrics(), state(4));
    CHECK(d.source == decision_source::hold);
    CHECK(d.replicas == 4);
}

TEST_CASE("with_fallback: invalid metrics reach neither policy, and no data keeps the count") {
    // A guarded primary holds on a NaN; the unguarded backup must not then
    // turn the NaN into a scale-up (here from 2 to 10, past the guard's +4).
    with_fallback<guarded<scripted_policy>, static_policy> p(
        guarded<scripted_policy>(scripted_policy{.replicas = 3}, {.max_step_up = 4}), static_policy{.replicas = 10});
    scaling_state s = state(2);
    s.min_replicas = 1;
    s.max_replicas = 10;
    CHECK(p.decide(valid_metrics(), s).replicas == 3);
    for (const auto field : {0, 1, 2, 3}) {
        function_metrics m = valid_metrics();
        const double nan = std::numeric_limits<double>::quiet_NaN();
        switch (field) {
            case 0: m.interval_s = nan; break;
            case 1: m.memory_utilization = nan; break;
            case 2: m.replica_seconds = -1; break;
            default: m.latency.p99 = nan; break;
        }
        CAPTURE(field);
        const decision d = p.decide(m, s);
        CHECK(d.replicas == 2);
        CHECK(d.source == decision_source::hold);
        CHECK_FALSE(d.vertical());
    }
    // Neither ready: the count stays, even outside [min, max].
    with_fallback<scripted_policy, scripted_policy> none(scripted_policy{.is_ready = false},
                                                         scripted_policy{.is_ready = false});
    s.replicas = 0;
    CHECK(none.decide(valid_metrics(), s).replicas == 0);
    s.replicas = 40;
    CHECK(none.decide(valid_metrics(), s).replicas == 40);
}

TEST_CASE("any_policy forwards to the policy it holds") {
    any_policy p(guarded(with_fallback(scripted_policy{.replicas = 7}, static_policy{.replicas = 1})));
    CHECK(p.ready());
    CHECK(p.decide(valid_metrics(), state(5)).replicas == 7);
    any_policy s(static_policy{.replicas = 3});
    CHECK(s.decide(valid_metrics(), state(5)).replicas == 3);
}

}  // namespace test_policy_composition
