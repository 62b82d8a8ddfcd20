// hpa_policy::decide: the simulator's path into the HPA, one CPU utilisation
// metric over the ready replicas of a function_metrics sample.

#include <rlscale/policy/hpa_policy.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string_view>

namespace test_policy_hpa_decide {

using namespace rlscale;

namespace {

function_metrics cpu_sample(double utilization, std::uint32_t ready, std::uint32_t starting = 0, std::uint32_t pending = 0) {
    function_metrics m;
    m.interval_s = 15;
    m.cpu_utilization = utilization;
    m.cpu_limit = 1.0;
    m.ready_replicas = ready;
    m.starting_replicas = starting;
    m.pending_replicas = pending;
    return m;
}

scaling_state at(int replicas, double time_s = 0, int min = 1, int max = 10) {
    scaling_state s;
    s.replicas = replicas;
    s.min_replicas = min;
    s.max_replicas = max;
    s.time_s = time_s;
    return s;
}

constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double k_inf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("hpa decide scales on CPU utilisation over the ready replicas") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    CHECK(hpa.ready());
    const decision d = hpa.decide(cpu_sample(0.9, 4), at(4));
    CHECK(d.replicas == 8);  // ⌈0.9 / 0.5 × 4⌉ = ⌈7.2⌉
    CHECK(d.source == decision_source::policy);
    CHECK(d.reason == "hpa: scale up");
}

TEST_CASE("hpa decide keeps the count within the tolerance") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    const decision d = hpa.decide(cpu_sample(0.54, 4), at(4));  // ratio 1.08
    CHECK(d.replicas == 4);
    CHECK(d.source == decision_source::policy);
    CHECK(d.reason == "hpa: no change");
}

TEST_CASE("hpa decide counts starting and pending replicas at zero on a scale-up") {
    // Two ready replicas at 100 % of a 50 % target want 4; with two more
    // starting (or pending) counted at 0 % the ratio is 1.0: no change.
    hpa_policy starting(hpa_config::cpu_utilization(50));
    CHECK(starting.decide(cpu_sample(1.0, 2, 2, 0), at(4)).replicas == 4);
    hpa_policy pending(hpa_config::cpu_utilization(50));
    CHECK(pending.decide(cpu_sample(1.0, 2, 0, 2), at(4)).replicas == 4);
    // Without them, the ready pods alone decide.
    hpa_policy alone(hpa_config::cpu_utilization(50));
    CHECK(alone.decide(cpu_sample(1.0, 2), at(2)).replicas == 4);
}

TEST_CASE("hpa decide scales down only after the stabilisation window") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    // The first sync remembers the current count (4) as a recommendation.
    CHECK(hpa.decide(cpu_sample(0.1, 4), at(4, 0)).replicas == 4);
    CHECK(hpa.decide(cpu_sample(0.1, 4), at(4, 15)).replicas == 4);
    CHECK(hpa.decide(cpu_sample(0.1, 4), at(4, 300)).replicas == 4);
    CHECK(hpa.decide(cpu_sample(0.1, 4), at(4, 301)).replicas == 1);  // ⌈0.2 × 4⌉
}

TEST_CASE("hpa decide applies the behavior rate limits") {
    hpa_config c = hpa_config::cpu_utilization(50);
    c.behavior = hpa_behavior{};
    hpa_policy hpa(c);
    // Wants ⌈6 × 2⌉ = 12; the default rules allow max(2 + 4, 2 × 2) per 15 s.
    CHECK(hpa.decide(cpu_sample(3.0, 2), at(2, 0)).replicas == 6);
}

TEST_CASE("hpa decide: a scale event from a count at the int range's end does not wrap the rate limits") {
    hpa_config c = hpa_config::cpu_utilization(70);
    c.behavior = hpa_behavior{};
    hpa_policy hpa(c);
    CHECK(hpa.decide(cpu_sample(0.7, 3), at(std::numeric_limits<int>::min(), 0)).replicas == 1);  // to the minimum
    // 10 s later, 5 ready pods at 20 times the target want 100: the default
    // rules (4 pods or 100 % per 15 s) allow at most 10, whatever came before.
    const decision d = hpa.decide(cpu_sample(14.0, 5), at(5, 10, 1, 1000));
    CHECK(d.replicas >= 5);
    CHECK(d.replicas <= 10);
    // The first change, recorded when the count showed it made: its size saturated, not wrapped.
    REQUIRE(hpa.scale_up_events().size() == 1);
    CHECK(hpa.scale_up_events()[0].replica_change == std::numeric_limits<std::int32_t>::max());
    CHECK(hpa.scale_up_events()[0].time_s == 0);
}

TEST_CASE("hpa decide: a scale event is the change the next count shows made, not the one decided") {
    hpa_config c = hpa_config::cpu_utilization(50);
    c.behavior = hpa_behavior{};  // scale up at most max(+4 pods, +100 %) per 15 s from the period's start
    // From 2 replicas at three times the target: 6 wanted, 6 allowed. Nothing is recorded yet.
    const auto first = [](hpa_policy& hpa) {
        REQUIRE(hpa.decide(cpu_sample(1.5, 2), at(2, 0, 1, 100)).replicas == 6);
        CHECK(hpa.scale_up_events().empty());
    };
    {
        // A guard let one replica through. Recorded: +1 at 0 s, so the period
        // began at 2 and 6 is still allowed. (Recording the +4 decided would
        // put the period's start at -1 and allow 3.)
        hpa_policy hpa(c);
        first(hpa);
        CHECK(hpa.decide(cpu_sample(1.5, 3), at(3, 5, 1, 100)).replicas == 6);
        REQUIRE(hpa.scale_up_events().size() == 1);
        CHECK(hpa.scale_up_events()[0].replica_change == 1);
        CHECK(hpa.scale_up_events()[0].time_s == 0);
    }
    {
        // The update failed (or the decision was not acted on): no event, 6 allowed again.
        hpa_policy hpa(c);
        first(hpa);
        CHECK(hpa.decide(cpu_sample(1.5, 2), at(2, 5, 1, 100)).replicas == 6);
        CHECK(hpa.scale_up_events().empty());
        CHECK(hpa.scale_down_events().empty());
    }
    {
        // The count moved the other way (another writer): no event either way.
        hpa_policy hpa(c);
        first(hpa);
        (void)hpa.decide(cpu_sample(1.5, 1), at(1, 5, 1, 100));
        CHECK(hpa.scale_up_events().empty());
        CHECK(hpa.scale_down_events().empty());
    }
    {
        // Made in full: +4 at 0 s, and the period's 100 % is used up: 6 stays.
        hpa_policy hpa(c);
        first(hpa);
        CHECK(hpa.decide(cpu_sample(1.5, 6), at(6, 5, 1, 100)).replicas == 6);
        REQUIRE(hpa.scale_up_events().size() == 1);
        CHECK(hpa.scale_up_events()[0].replica_change == 4);
        // Past the count decided (another writer added more): only the decided +4 is the HPA's.
        hpa_policy beyond(c);
        first(beyond);
        (void)beyond.decide(cpu_sample(1.5, 8), at(8, 5, 1, 100));
        REQUIRE(beyond.scale_up_events().size() == 1);
        CHECK(beyond.scale_up_events()[0].replica_change == 4);
    }
    {
        // A history restored in between replaces the decision's too: nothing recorded from before it.
        hpa_policy hpa(c);
        first(hpa);
        hpa.restore_history({});
        (void)hpa.decide(cpu_sample(1.5, 6), at(6, 5, 1, 100));
        CHECK(hpa.scale_up_events().empty());
    }
    {
        // A hold records the change made before it, and leaves nothing to
        // record itself: the count moving on after it is not the HPA's.
        hpa_policy hpa(c);
        first(hpa);
        CHECK(hpa.decide(cpu_sample(k_nan, 6), at(6, 5, 1, 100)).source == decision_source::hold);
        REQUIRE(hpa.scale_up_events().size() == 1);
        CHECK(hpa.scale_up_events()[0].replica_change == 4);
        (void)hpa.decide(cpu_sample(1.5, 8), at(8, 10, 1, 100));
        CHECK(hpa.scale_up_events().size() == 1);
    }
}

TEST_CASE("hpa decide starts a new history when the clock goes back further than max_clock_backwards_s") {
    // A run reaching t = 10000: 10 ready replicas at 300 % of a 70 % target
    // are scaled to 20 and leave an unstabilised recommendation of 43. Then a
    // new run whose clock starts again (as the simulator's reset() does):
    // every 15 s from t = 15, an idle workload. Each decision must be a fresh
    // policy's; kept, the earlier run's entries, stamped after the clock,
    // scaled the idle workload to 43 (legacy) or held it at 2 (behavior).
    for (const bool with_behavior : {false, true}) {
        CAPTURE(with_behavior);
        hpa_config c = hpa_config::cpu_utilization(70);
        if (with_behavior) c.behavior = hpa_behavior{};
        hpa_policy hpa(c);
        REQUIRE(hpa.decide(cpu_sample(3.0, 10), at(10, 10000, 1, 50)).replicas == 20);
        hpa_policy fresh(c);
        int replicas = 2;
        for (int k = 1; k <= 30; ++k) {
            const double t = 15.0 * k;
            CAPTURE(t);
            const decision d = hpa.decide(cpu_sample(0.01, static_cast<std::uint32_t>(replicas)), at(replicas, t, 1, 50));
            const decision f = fresh.decide(cpu_sample(0.01, static_cast<std::uint32_t>(replicas)), at(replicas, t, 1, 50));
            CHECK(d.replicas == f.replicas);
            CHECK(d.source == f.source);
            CHECK(std::string_view(d.reason) == std::string_view(f.reason));
            CHECK(hpa.recommendations().size() == fresh.recommendations().size());
            CHECK(hpa.scale_up_events().size() == fresh.scale_up_events().size());
            CHECK(hpa.scale_down_events().size() == fresh.scale_down_events().size());
            replicas = d.replicas;
        }
        CHECK(replicas == 1);  // the minimum, once the initial recommendation (2) has left the window
    }
}

TEST_CASE("hpa decide: a clock that is not finite holds and keeps the history") {
    // -inf is infinitely far back, yet no new run: the hold keeps the
    // history, as for NaN and +inf, and the next call decides as after any
    // other hold (the twin's, on a metric that is not finite; either hold
    // reads the pending change against the count it is given, as every call does).
    for (const bool with_behavior : {false, true}) {
        for (const double bad : {-k_inf, k_inf, k_nan}) {
            CAPTURE(with_behavior);
            CAPTURE(bad);
            hpa_config c = hpa_config::cpu_utilization(70);
            if (with_behavior) c.behavior = hpa_behavior{};
            hpa_policy hpa(c);
            hpa_policy twin(c);
            REQUIRE(hpa.decide(cpu_sample(3.0, 10), at(10, 100, 1, 50)).replicas == twin.decide(cpu_sample(3.0, 10), at(10, 100, 1, 50)).replicas);
            CHECK(hpa.decide(cpu_sample(3.0, 10), at(10, bad, 1, 50)).source == decision_source::hold);
            CHECK(twin.decide(cpu_sample(k_nan, 10), at(10, 100, 1, 50)).source == decision_source::hold);
            const decision d = hpa.decide(cpu_sample(0.01, 20), at(20, 115, 1, 50));
            const decision t = twin.decide(cpu_sample(0.01, 20), at(20, 115, 1, 50));
            CHECK(d.replicas == t.replicas);
            CHECK(hpa.recommendations().size() == twin.recommendations().size());
            CHECK(hpa.scale_up_events().size() == twin.scale_up_events().size());
        }
    }
}

TEST_CASE("hpa decide keeps its history when the clock goes back by no more than max_clock_backwards_s") {
    // 0.5 s back is clock jitter, not a new run: the history is read as it
    // is, exactly as by a twin called at the newest entry's time. The limit
    // (1 s) is measured from the newest entry, not from the last call: 1.1 s
    // before it starts a new history, though the last call was 0.6 s later.
    for (const bool with_behavior : {false, true}) {
        CAPTURE(with_behavior);
        hpa_config c = hpa_config::cpu_utilization(70);
        if (with_behavior) c.behavior = hpa_behavior{};
        hpa_policy hpa(c);
        hpa_policy twin(c);  // its clock never goes back
        REQUIRE(hpa.decide(cpu_sample(3.0, 10), at(10, 100, 1, 50)).replicas == 20);
        REQUIRE(twin.decide(cpu_sample(3.0, 10), at(10, 100, 1, 50)).replicas == 20);
        const decision jitter = hpa.decide(cpu_sample(0.01, 20), at(20, 99.5, 1, 50));
        const decision same_time = twin.decide(cpu_sample(0.01, 20), at(20, 100, 1, 50));
        CHECK(jitter.replicas == same_time.replicas);
        // The 43 still counts: legacy raises to it (2 × 20 at most); behavior holds.
        CHECK(jitter.replicas == (with_behavior ? 20 : 40));
        CHECK(hpa.recommendations().size() == twin.recommendations().size());
        CHECK(hpa.scale_up_events().size() == twin.scale_up_events().size());

        hpa_policy fresh(c);
        const decision back = hpa.decide(cpu_sample(0.01, 20), at(20, 98.9, 1, 50));
        const decision f = fresh.decide(cpu_sample(0.01, 20), at(20, 98.9, 1, 50));
        CHECK(back.replicas == f.replicas);
        CHECK(back.replicas == 20);  // the new history's initial recommendation holds the count
        CHECK(hpa.recommendations().size() == fresh.recommendations().size());
        CHECK(hpa.scale_up_events().size() == fresh.scale_up_events().size());
    }
}

TEST_CASE("hpa decide: max_clock_backwards_s sets how far back the clock may go, and is validated") {
    hpa_config c = hpa_config::cpu_utilization(70);
    c.max_clock_backwards_s = 0;  // any step back starts a new history
    hpa_policy strict(c);
    REQUIRE(strict.decide(cpu_sample(3.0, 10), at(10, 100, 1, 50)).replicas == 20);
    CHECK(strict.decide(cpu_sample(0.01, 20), at(20, 99.9, 1, 50)).replicas == 20);  // a fresh policy's answer
    CHECK(strict.recommendations().size() == 2);  // the initial recommendation and this one
    CHECK(strict.decide(cpu_sample(0.01, 20), at(20, 99.9, 1, 50)).replicas == 20);  // an equal time is not back
    CHECK(strict.recommendations().size() == 3);
    c.max_clock_backwards_s = 3600;  // more than the window: the history is kept
    hpa_policy lenient(c);
    REQUIRE(lenient.decide(cpu_sample(3.0, 10), at(10, 10000, 1, 50)).replicas == 20);
    CHECK(lenient.decide(cpu_sample(0.01, 20), at(20, 9000, 1, 50)).replicas == 40);  // the 43 still counts
    c.max_clock_backwards_s = -1;
    CHECK_THROWS_WITH_AS(hpa_policy{c}, "hpa_config.max_clock_backwards_s: must be finite and >= 0, got -1", config_error);
    c.max_clock_backwards_s = k_nan;
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.max_clock_backwards_s"), config_error);
    CHECK(hpa_config{}.max_clock_backwards_s == 1);
}

TEST_CASE("hpa decide holds on NaN or infinite or negative inputs") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    for (const double bad : {k_nan, k_inf, -k_inf, -0.5}) {
        CAPTURE(bad);
        const decision d = hpa.decide(cpu_sample(bad, 4), at(4));
        CHECK(d.replicas == 4);
        CHECK(d.source == decision_source::hold);
    }
    function_metrics m = cpu_sample(0.9, 4);
    m.cpu_limit = k_nan;
    CHECK(hpa.decide(m, at(4)).source == decision_source::hold);
    m = cpu_sample(0.9, 4);
    m.cpu_limit = -1;
    CHECK(hpa.decide(m, at(4)).source == decision_source::hold);
    scaling_state s = at(4);
    s.cpu_limit = k_nan;
    CHECK(hpa.decide(cpu_sample(0.9, 4), s).source == decision_source::hold);
    CHECK(hpa.decide(cpu_sample(0.9, 4), at(4, k_nan)).source == decision_source::hold);
    CHECK(hpa.decide(cpu_sample(0.9, 4), at(4, k_inf)).source == decision_source::hold);
    // A hold keeps the count, brought within the bounds.
    CHECK(hpa.decide(cpu_sample(k_nan, 4), at(40)).replicas == 10);
}

TEST_CASE("hpa decide holds when no replica reports a usable sample") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    const decision none = hpa.decide(cpu_sample(0.9, 0), at(3));
    CHECK(none.replicas == 3);
    CHECK(none.source == decision_source::hold);
    const decision starting_only = hpa.decide(cpu_sample(0.9, 0, 2), at(3));
    CHECK(starting_only.replicas == 3);
    CHECK(starting_only.source == decision_source::hold);
    CHECK(hpa.last_evaluation().metrics_failed);
}

TEST_CASE("hpa decide stays within the bounds") {
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    CHECK(hpa.decide(cpu_sample(0.5, 15), at(15)).replicas == 10);  // current above max
    CHECK(hpa.decide(cpu_sample(0.5, 1), at(1, 0, 3, 10)).replicas == 3);  // current below min
    const decision zero = hpa.decide(cpu_sample(0.9, 0), at(0, 0, 1, 10));  // target at zero: Kubernetes leaves it
    CHECK(zero.replicas == 1);
    CHECK(zero.source == decision_source::hold);
    hpa_policy huge(hpa_config::cpu_utilization(50));
    // Usage saturates at 10^15 milli-cores and utilisation at INT32_MAX; the
    // legacy scale-up limit, max(2 x 4, 4) = 8, then caps the answer.
    const decision d = huge.decide(cpu_sample(1e300, 4), at(4));
    CHECK(d.replicas == 8);
    CHECK(d.source == decision_source::policy);
    // Near-zero usage: the scale-down stabilisation window (300 s) holds the
    // first recommendation, the current 4.
    hpa_policy small(hpa_config::cpu_utilization(50));
    CHECK(small.decide(cpu_sample(1e-300, 4), at(4, 0, 0, 10)).replicas == 4);
}

TEST_CASE("hpa decide holds beyond max_pods and uses the state's CPU limit when the sample has none") {
    hpa_config c = hpa_config::cpu_utilization(50);
    c.max_pods = 4;
    hpa_policy few(c);
    CHECK(few.decide(cpu_sample(0.9, 5), at(5)).source == decision_source::hold);
    hpa_policy hpa(hpa_config::cpu_utilization(50));
    function_metrics m = cpu_sample(0.9, 4);
    m.cpu_limit = 0;
    scaling_state s = at(4);
    s.cpu_limit = 2.0;
    CHECK(hpa.decide(m, s).replicas == 8);
}

TEST_CASE("hpa decide never scales past max_pods, so it can still scale down from there") {
    hpa_config c = hpa_config::cpu_utilization(50);
    c.max_pods = 8;
    hpa_policy hpa(c);
    // 6 pods at 90 % want 11 (bounds allow 100): capped at the 8 it can synthesise.
    const decision up = hpa.decide(cpu_sample(0.9, 6), at(6, 0, 1, 100));
    CHECK(up.source == decision_source::policy);
    CHECK(up.replicas == 8);
    // At the cap under load it stays; idle, it scales down (not frozen).
    CHECK(hpa.decide(cpu_sample(0.9, 8), at(8, 15, 1, 100)).replicas == 8);
    // Idle at the cap: down once the 300-s scale-down window has passed.
    int n = 8;
    for (double t = 30; t <= 30 + 330; t += 15) n = hpa.decide(cpu_sample(0.05, static_cast<std::uint32_t>(n)), at(n, t, 1, 100)).replicas;
    CHECK(n < 8);
    // A count already above the cap (another controller's) is not cut to it.
    CHECK(hpa_policy(c).decide(cpu_sample(0.95, 6), at(10, 0, 1, 100)).replicas == 10);
    // Bounds win over the cap: a minimum above it is reached.
    const decision min_above = hpa_policy(c).decide(cpu_sample(0.5, 4), at(4, 0, 9, 100));
    CHECK(min_above.replicas == 9);
    CHECK(std::string_view(min_above.reason) == "hpa: current below min_replicas");
}

TEST_CASE("hpa config validation names the field") {
    hpa_config c = hpa_config::cpu_utilization(50);
    c.tolerance = 1.5;
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.tolerance"), config_error);
    c = hpa_config::cpu_utilization(0);
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.metrics[0].average_utilization"), config_error);
    c = hpa_config{};
    c.behavior = hpa_behavior{};
    c.behavior->scale_up.policies.clear();
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.behavior.scale_up.policies"), config_error);
    c = hpa_config{};
    c.max_replicas = 0;
    CHECK_THROWS_AS(hpa_policy{c}, config_error);
    // Sizes reserved at construction are bounded before anything is allocated.
    c = hpa_config{};
    c.max_pods = std::numeric_limits<std::size_t>::max();
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.max_pods"), config_error);
    c = hpa_config{};
    c.history_capacity = std::numeric_limits<std::size_t>::max();
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.history_capacity"), config_error);
    // A legacy scale-up factor below 1 would cap a scale-up below the
    // current count: 20 replicas at 95 % of an 80 % target went to 10.
    c = hpa_config::cpu_utilization(80);
    c.legacy_scale_up_factor = 0.5;
    CHECK_THROWS_WITH_AS(hpa_policy{c}, doctest::Contains("hpa_config.legacy_scale_up_factor"), config_error);
    c.legacy_scale_up_factor = 1;
    CHECK_NOTHROW(hpa_policy{c});
    // No metric given: CPU at 80 %.
    const hpa_policy defaulted{hpa_config{}};
    REQUIRE(defaulted.config().metrics.size() == 1);
    CHECK(defaulted.config().metrics[0].average_utilization == 80);
}

}  // namespace test_policy_hpa_decide
