#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/policy/static_policy.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace test_policy_baselines {

using namespace rlscale;

namespace {
function_metrics interval(double seconds, std::uint64_t arrivals) {
    function_metrics m;
    m.interval_s = seconds;
    m.arrivals = arrivals;
    return m;
}
}  // namespace

TEST_CASE("static_policy returns its count within bounds") {
    const scaling_state s{.replicas = 1, .min_replicas = 2, .max_replicas = 6};
    CHECK(static_policy{.replicas = 4}.decide({}, s).replicas == 4);
    CHECK(static_policy{.replicas = 9}.decide({}, s).replicas == 6);
    CHECK(static_policy{.replicas = 0}.decide({}, s).replicas == 2);
}

TEST_CASE("slot_permuted_policy: slot k decides function slot_of[k], and a slot_of that is no permutation of the functions is refused") {
    const auto inner = [] {
        std::vector<any_policy> p;
        p.emplace_back(static_policy{.replicas = 5});
        p.emplace_back(static_policy{.replicas = 7});
        return any_joint_policy(per_function<any_policy>(std::move(p)));
    };
    slot_permuted_policy swapped(inner(), {1, 0});
    CHECK(swapped.functions() == 2);
    const std::array<function_metrics, 2> m{};
    std::array<scaling_state, 2> s{};
    for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 10};
    std::array<decision, 2> d{};
    swapped.decide(m, s, d);
    CHECK(d[0].replicas == 7);  // slot 1's policy
    CHECK(d[1].replicas == 5);  // slot 0's policy
    const auto refused = [&](std::vector<std::size_t> slot_of, const std::string& field, const std::string& message) {
        CAPTURE(field);
        try {
            const slot_permuted_policy p(inner(), std::move(slot_of));
            FAIL("accepted");
        } catch (const config_error& e) {
            CHECK(e.field() == field);
            CHECK(e.detail() == message);
        }
    };
    // Function 1's decision would stay the default (1 replica, read as the policy's).
    refused({0, 0}, "slot_permuted_policy.slot_of[1]", "is 0, already slot_of[0]");
    refused({0, 5}, "slot_permuted_policy.slot_of[1]", "is 5, not a function of 0..1");  // read out of bounds
    refused({0}, "slot_permuted_policy.slot_of", "has 1 entries, the inner policy decides 2 functions");  // held every function
    refused({0, 1, 2}, "slot_permuted_policy.slot_of", "has 3 entries, the inner policy decides 2 functions");
}

TEST_CASE("ensure_policy: ⌈R + c·√R⌉ with R = λ·E[S]/concurrency, worked by hand") {
    const scaling_state s{.replicas = 1, .min_replicas = 0, .max_replicas = 100};
    // λ = 1000/10 = 100 req/s, E[S] = 0.1 s, concurrency 1: R = 10; 10 + 1.5·√10 = 14.74 → 15
    ensure_policy p({.service_time_s = 0.1, .concurrency = 1, .c = 1.5});
    CHECK(p.decide(interval(10, 1000), s).replicas == 15);
    // concurrency 4: R = 2.5; 2.5 + 1.5·1.581 = 4.87 → 5
    ensure_policy q({.service_time_s = 0.1, .concurrency = 4, .c = 1.5});
    CHECK(q.decide(interval(10, 1000), s).replicas == 5);
    CHECK(q.decide(interval(10, 0), s).replicas == 0);
    CHECK(q.decide(interval(0, 10), s).source == decision_source::hold);
    CHECK_THROWS_WITH_AS(ensure_policy({.service_time_s = 0}), doctest::Contains("ensure_config.service_time_s"),
                         config_error);
}

TEST_CASE("ensure_policy: an offered load beyond double's range asks for the most replicas, with c = 0 too") {
    const scaling_state s{.replicas = 5, .min_replicas = 1, .max_replicas = 100};
    for (const double c : {0.0, 1.5}) {
        CAPTURE(c);
        ensure_policy p({.service_time_s = 0.1, .concurrency = 1, .c = c});
        CHECK(p.decide(interval(1e-308, 1000), s).replicas == 100);  // λ = 10^311 req/s: ∞ as a double
        ensure_policy slow({.service_time_s = 1e307, .concurrency = 1, .c = c});
        CHECK(slow.decide(interval(1, 1000), s).replicas == 100);
    }
}

TEST_CASE("kpa_policy: stable mode sizes for the windowed concurrency, bounded by the scale-down rate") {
    kpa_policy kpa({.container_concurrency = 10, .target_utilization = 0.5});  // target 5 in flight per replica
    scaling_state s{.replicas = 4, .min_replicas = 1, .max_replicas = 100, .time_s = 0};
    function_metrics m = interval(2, 100);
    m.ready_replicas = 4;
    m.completions = 100;
    m.throughput_rps = 50;
    m.latency_mean_s = 0.4;  // Little: 20 in flight → ⌈20/5⌉ = 4
    auto d = kpa.decide(m, s);
    CHECK(d.replicas == 4);
    CHECK_FALSE(kpa.in_panic());
    // Load vanishes: desired 0, but at most halving per decision: ⌊4/2⌋ = 2.
    m.throughput_rps = 0;
    m.completions = 0;
    m.latency_mean_s = std::nan("");
    for (int i = 1; i <= 40; ++i) {
        s.time_s = 2.0 * i;
        d = kpa.decide(m, s);
    }
    CHECK(d.replicas == 2);  // floor(ready 4 / 2) while ready stays 4
}

TEST_CASE("kpa_policy: a burst triggers panic, which never scales down and ends after a stable window") {
    kpa_policy kpa({.container_concurrency = 10, .target_utilization = 1.0, .stable_window_s = 60});
    scaling_state s{.replicas = 2, .min_replicas = 1, .max_replicas = 1000};
    function_metrics m = interval(2, 0);
    m.ready_replicas = 2;
    m.completions = 1;
    m.throughput_rps = 10;
    m.latency_mean_s = 1.0;  // 10 in flight
    for (int i = 0; i < 30; ++i) {
        s.time_s = 2.0 * i;
        static_cast<void>(kpa.decide(m, s));
    }
    CHECK_FALSE(kpa.in_panic());
    m.throughput_rps = 100;  // a burst: 100 in flight
    s.time_s = 60;
    // Panic window (54, 60]: samples 10, 10, 100 → 40 in flight → ⌈40/10⌉ = 4,
    // and 4 / ready 2 ≥ 200 %: panic.
    auto d = kpa.decide(m, s);
    CHECK(kpa.in_panic());
    CHECK(d.replicas == 4);
    CHECK(d.reason == "kpa: panic");
    m.throughput_rps = 10;  // load back to normal
    s.time_s = 62;
    CHECK(kpa.decide(m, s).replicas == 4);  // window (56, 62]: 10, 100, 10 → 4
    s.time_s = 64;
    CHECK(kpa.decide(m, s).replicas == 4);  // (58, 64]: 100, 10, 10 → 4, panic renewed at 64
    s.time_s = 66;
    d = kpa.decide(m, s);  // (60, 66]: 10, 10, 10 → 1, but panic never scales down
    CHECK(d.replicas == 4);
    CHECK(kpa.in_panic());
    for (int i = 0; i < 40; ++i) {  // panic ends a stable window (60 s) after 64
        s.time_s = 68.0 + 2.0 * i;
        d = kpa.decide(m, s);
    }
    CHECK_FALSE(kpa.in_panic());
    CHECK(d.replicas == 1);  // stable: ⌈10/10⌉
    CHECK_THROWS_WITH_AS(kpa_policy({.panic_threshold = 0}), doctest::Contains("kpa_config.panic_threshold"),
                         config_error);
}

TEST_CASE("kpa: settings Knative refuses are refused, so panic cannot latch") {
    // A threshold at or below 100 %: with the load at the ready count panic
    // is renewed every tick and, never decreasing, holds the count for ever.
    for (const double threshold : {0.5, 1.0, 1.09, 10.5}) {
        CAPTURE(threshold);
        CHECK_THROWS_WITH_AS(kpa_policy({.panic_threshold = threshold}), doctest::Contains("kpa_config.panic_threshold"),
                             config_error);
    }
    CHECK_NOTHROW(kpa_policy({.panic_threshold = 1.1}));
    CHECK_NOTHROW(kpa_policy({.panic_threshold = 10}));
    for (const double fraction : {0.005, 1.5}) {
        CAPTURE(fraction);
        CHECK_THROWS_WITH_AS(kpa_policy({.panic_window_fraction = fraction}),
                             doctest::Contains("kpa_config.panic_window_fraction"), config_error);
    }
    CHECK_NOTHROW(kpa_policy({.panic_window_fraction = 1}));
    CHECK_THROWS_WITH_AS(kpa_policy({.target_utilization = 1.5}), doctest::Contains("kpa_config.target_utilization"),
                         config_error);
    CHECK_NOTHROW(kpa_policy({.target_utilization = 1}));
}

namespace {
/// An interval whose Little's-law concurrency is `c` (throughput c, mean latency 1 s).
function_metrics concurrency(double c, std::uint32_t ready) {
    function_metrics m = interval(2, 0);
    m.ready_replicas = ready;
    m.completions = 1;
    m.throughput_rps = c;
    m.latency_mean_s = 1.0;
    return m;
}
}  // namespace

TEST_CASE("kpa_policy: in panic, the larger of the stable and panic counts (Knative's autoscaler.go)") {
    kpa_policy kpa;  // target 70 in flight per replica
    scaling_state s{.replicas = 100, .min_replicas = 1, .max_replicas = 100000};
    decision d;
    for (int t = 0; t <= 50; t += 2) {
        s.time_s = t;
        d = kpa.decide(concurrency(7000, 100), s);
    }
    CHECK(d.replicas == 100);
    CHECK_FALSE(kpa.in_panic());
    // 90 replicas lost: the panic window (46, 52] averages (7000 + 7000 + 1500) / 3
    // = 5167 → 74 replicas, 7.4 × ready 10 ≥ 2, panic; the stable window
    // (−8, 52] averages (26 × 7000 + 1500) / 27 = 6796 → 98 replicas, the larger.
    s.time_s = 52;
    d = kpa.decide(concurrency(1500, 10), s);
    CHECK(kpa.in_panic());
    CHECK(d.replicas == 98);
}

TEST_CASE("kpa_policy: panic is judged on the unclamped panic count") {
    // max_scale_up_rate 1.5 clamps the panic count to 15 of ready 10 (1.5 <
    // threshold 2), but ⌈7000/70⌉ / 10 = 10 ≥ 2: panic, as in Knative.
    kpa_policy kpa({.max_scale_up_rate = 1.5});
    scaling_state s{.replicas = 10, .min_replicas = 1, .max_replicas = 1000, .time_s = 0};
    const decision d = kpa.decide(concurrency(7000, 10), s);
    CHECK(kpa.in_panic());
    CHECK(d.replicas == 15);
}

TEST_CASE("kpa_policy: requests completed without a latency or throughput hold, and the queue is summed without wrapping") {
    kpa_policy kpa;
    const scaling_state s{.replicas = 10, .min_replicas = 1, .max_replicas = 100000, .time_s = 0};
    for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
        function_metrics m = concurrency(5000, 10);
        m.latency_mean_s = bad;  // not zero load: the queue and in-service counts would say 0
        decision d = kpa.decide(m, s);
        CHECK(d.source == decision_source::hold);
        CHECK(d.replicas == 10);
        m = concurrency(5000, 10);
        m.throughput_rps = bad;
        d = kpa.decide(m, s);
        CHECK(d.source == decision_source::hold);
        CHECK(d.replicas == 10);
    }
    // Both negative: their product is positive, but neither is a reading.
    {
        function_metrics both = concurrency(5000, 10);
        both.latency_mean_s = -1;
        both.throughput_rps = -100;
        kpa_policy negative;
        const decision d = negative.decide(both, s);
        CHECK(d.source == decision_source::hold);
        CHECK(d.replicas == 10);
        CHECK(d.reason == "kpa: invalid concurrency");
    }
    // Nothing completed: queued + in service, UINT32_MAX + 1 not wrapping to 0.
    function_metrics m = interval(2, 0);
    m.ready_replicas = 10;
    m.queue_length = std::numeric_limits<std::uint32_t>::max();
    m.in_service = 1;
    kpa_policy fresh;
    CHECK(fresh.decide(m, s).replicas == 10000);  // ⌈(2³² / 70)⌉ clamped to 1000 × ready
}

TEST_CASE("kpa_config: scale rates at or below 1 and oversized sample stores are refused by name") {
    CHECK_THROWS_WITH_AS(kpa_policy({.max_scale_up_rate = 1.0}), doctest::Contains("kpa_config.max_scale_up_rate"), config_error);
    CHECK_THROWS_WITH_AS(kpa_policy({.max_scale_down_rate = 0.5}), doctest::Contains("kpa_config.max_scale_down_rate"), config_error);
    CHECK_THROWS_WITH_AS(kpa_policy({.max_samples = std::numeric_limits<std::size_t>::max()}),
                         doctest::Contains("kpa_config.max_samples"), config_error);
    CHECK_NOTHROW(kpa_policy({.max_scale_up_rate = 1.01, .max_scale_down_rate = 1.01}));
}

TEST_CASE("kpa_policy: a backlog behind some completions counts, not only throughput times latency") {
    // Target 1 × 0.7 in flight per replica, one replica. 20 completions at
    // 10 rps with a mean latency of 0.5 s read 5 by Little's law, but 181
    // requests are in the system: ⌈181 / 0.7⌉ = 259.
    kpa_policy kpa({.container_concurrency = 1, .target_utilization = 0.7});
    const scaling_state s{.replicas = 1, .min_replicas = 1, .max_replicas = 100000, .time_s = 0};
    function_metrics m = interval(2, 20);
    m.ready_replicas = 1;
    m.completions = 20;
    m.throughput_rps = 10;
    m.latency_mean_s = 0.5;
    m.queue_length = 180;
    m.in_service = 1;
    const decision d = kpa.decide(m, s);
    CHECK(d.source == decision_source::policy);
    CHECK(d.replicas == 259);
    CHECK(kpa.in_panic());
    // Without a backlog, Little's law is the larger: ⌈5 / 0.7⌉ = 8.
    kpa_policy calm({.container_concurrency = 1, .target_utilization = 0.7});
    m.queue_length = 0;
    CHECK(calm.decide(m, s).replicas == 8);
    // And the same backlog with nothing completed reads the same 181, so
    // the count does not jump when the completions stop.
    kpa_policy stalled({.container_concurrency = 1, .target_utilization = 0.7});
    m.queue_length = 180;
    m.completions = 0;
    m.throughput_rps = 0;
    m.latency_mean_s = std::nan("");
    CHECK(stalled.decide(m, s).replicas == 259);
}

namespace {
/// One KPA "episode" of `ticks` 2-second ticks, the clock starting at 0,
/// with no load and `ready` replicas throughout; returns the last decision.
decision idle_episode(kpa_policy& kpa, int ticks, std::uint32_t ready) {
    scaling_state s{.replicas = static_cast<int>(ready), .min_replicas = 1, .max_replicas = 1000};
    function_metrics m = interval(2, 0);
    m.ready_replicas = ready;
    decision d;
    for (int i = 0; i < ticks; ++i) {
        s.time_s = 2.0 * i;
        d = kpa.decide(m, s);
        if (kpa.in_panic()) break;
    }
    return d;
}
}  // namespace

TEST_CASE("kpa_policy: a clock that goes back starts a new history, as reset() does") {
    // Episode 1 ends in panic (a burst of 2000 in flight at its last tick:
    // ⌈2000 / 70⌉ = 29 ≥ 2 × ready 1).
    kpa_policy kpa;
    scaling_state s{.replicas = 1, .min_replicas = 1, .max_replicas = 1000, .time_s = 3600};
    decision d = kpa.decide(concurrency(2000, 1), s);
    REQUIRE(kpa.in_panic());
    REQUIRE(d.replicas == 29);
    // Episode 2 starts its clock at 0 with no load and the 29 replicas the
    // panic asked for: no tick in panic (a panic last renewed at 3600 s
    // would never end before 3660 s), so the count falls at the scale-down
    // rate, ⌊29 / 2⌋ = 14 while ready stays 29, not panic's 29 held.
    d = idle_episode(kpa, 1801, 29);
    CHECK_FALSE(kpa.in_panic());
    CHECK(d.replicas == 14);
    CHECK(d.reason == "kpa: stable");
    // Its first tick already: a fresh policy's decision.
    kpa_policy again;
    s.time_s = 3600;
    static_cast<void>(again.decide(concurrency(2000, 1), s));
    REQUIRE(again.in_panic());
    kpa_policy fresh;
    s.time_s = 0;
    const decision first = again.decide(concurrency(70, 1), s);
    CHECK_FALSE(again.in_panic());
    CHECK(first.replicas == fresh.decide(concurrency(70, 1), s).replicas);
    CHECK(first.replicas == 1);
    // An equal time, or one at most max_clock_backwards_s (1 s) back, is
    // jitter: the history is kept (the stable window averages 2000 and 0:
    // ⌈1000 / 70⌉ = 15, under the panic's 29 held).
    for (const double back : {0.0, 0.5, 1.0}) {
        CAPTURE(back);
        kpa_policy jitter;
        s.time_s = 10;
        static_cast<void>(jitter.decide(concurrency(2000, 1), s));
        s.time_s = 10 - back;
        d = jitter.decide(concurrency(0, 1), s);
        CHECK(jitter.in_panic());
        CHECK(d.replicas == 29);
    }
    // 1.5 s back is a new history.
    kpa_policy back;
    s.time_s = 10;
    static_cast<void>(back.decide(concurrency(2000, 1), s));
    s.time_s = 8.5;
    d = back.decide(concurrency(0, 1), s);
    CHECK_FALSE(back.in_panic());
    CHECK(d.replicas == 1);
    // With no tolerance, any step back is a new history; a negative one is refused.
    kpa_policy strict({.max_clock_backwards_s = 0});
    s.time_s = 10;
    static_cast<void>(strict.decide(concurrency(2000, 1), s));
    s.time_s = 9.9;
    static_cast<void>(strict.decide(concurrency(0, 1), s));
    CHECK_FALSE(strict.in_panic());
    CHECK_THROWS_WITH_AS(kpa_policy({.max_clock_backwards_s = -1}),
                         "kpa_config.max_clock_backwards_s: must be finite and >= 0, got -1", config_error);
}

TEST_CASE("kpa_policy: reset() drops the samples, the panic and the last panic count") {
    kpa_policy kpa;
    scaling_state s{.replicas = 1, .min_replicas = 1, .max_replicas = 1000, .time_s = 0};
    static_cast<void>(kpa.decide(concurrency(2000, 1), s));
    REQUIRE(kpa.in_panic());
    kpa.reset();
    CHECK_FALSE(kpa.in_panic());
    // Later clock, so only reset() can have dropped the history: a new
    // policy's decision (⌈70 / 70⌉ = 1), not panic's 29 held.
    s.time_s = 2;
    const decision d = kpa.decide(concurrency(70, 1), s);
    CHECK_FALSE(kpa.in_panic());
    CHECK(d.replicas == 1);
    CHECK(d.reason == "kpa: stable");
}

}  // namespace test_policy_baselines
