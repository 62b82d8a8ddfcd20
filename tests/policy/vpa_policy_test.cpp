// vpa_policy (the VPA as an rlscale policy) and hpa_vpa_policy (HPA
// replicas, VPA limits). The recommender's conformance with Kubernetes is
// in vpa_conformance_test.cpp.

#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/vpa_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>
#include <rlscale/rl/action_space.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace test_policy_vpa_policy {

using namespace rlscale;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double tick_s = 60;  // one sample a minute, as the VPA's confidence assumes

/// A function whose replicas each use `cpu_cores` and `memory_mb`,
/// measured against the limits in `s`.
function_metrics usage(const scaling_state& s, double cpu_cores, double memory_mb, std::uint32_t ready = 3) {
    function_metrics m = test::healthy();
    m.interval_s = tick_s;
    m.cpu_limit = s.cpu_limit;
    m.memory_limit_mb = s.memory_limit_mb;
    m.cpu_utilization = cpu_cores / s.cpu_limit;
    m.memory_utilization = memory_mb / s.memory_limit_mb;
    m.ready_replicas = ready;
    return m;
}

scaling_state start(int replicas = 3, double cpu = 1.0, double memory_mb = 1000) {
    return {.replicas = replicas, .min_replicas = 1, .max_replicas = 10, .cpu_limit = cpu, .memory_limit_mb = memory_mb, .time_s = 0};
}

/// Applies a decision's limits to the state, as the cluster would.
void apply(scaling_state& s, const decision& d) {
    s.replicas = d.replicas;
    if (!std::isnan(d.cpu_limit)) s.cpu_limit = d.cpu_limit;
    if (!std::isnan(d.memory_limit_mb)) s.memory_limit_mb = d.memory_limit_mb;
}

/// Runs `p` for `ticks` ticks of steady usage, applying its decisions;
/// returns the number of vertical decisions.
template <typename P>
int run_steady(P& p, scaling_state& s, int ticks, double cpu_cores, double memory_mb) {
    int resizes = 0;
    for (int i = 0; i < ticks; ++i) {
        const decision d = p.decide(usage(s, cpu_cores, memory_mb, static_cast<std::uint32_t>(s.replicas)), s);
        if (d.vertical()) ++resizes;
        apply(s, d);
        s.time_s += tick_s;
    }
    return resizes;
}

/// The end of the VPA histogram bucket holding `value` (what a percentile
/// of a steady value returns).
double bucket_end(const vpa::histogram_options& o, double value) { return o.bucket_start(o.find_bucket(value) + 1); }

}  // namespace

TEST_CASE("vpa_policy converges to p90 × 1.15 of a steady usage and then holds") {
    vpa_policy p;
    scaling_state s = start();
    const int resizes = run_steady(p, s, 2 * 24 * 60, 0.3, 400);
    CHECK(resizes >= 1);
    const vpa_config c;
    // The p90 of a steady value is the end of its bucket: 5 % wider than the
    // previous bucket, so at most 1/(1 − 1.05^-n) × 5 % above the value
    // (under 10 % here).
    const double cpu_target = std::trunc(bucket_end(c.cpu_histogram_options(), 0.3) * 1.15 * 1000) / 1000;
    CHECK(s.cpu_limit == doctest::Approx(cpu_target).epsilon(0.002));
    CHECK(s.cpu_limit >= 0.3 * 1.15);
    CHECK(s.cpu_limit <= 0.3 * 1.10 * 1.15);
    const double memory_bytes = 400 * c.bytes_per_mb;
    const double memory_target = bucket_end(c.memory_histogram_options(), memory_bytes) * 1.15 / c.bytes_per_mb;
    CHECK(s.memory_limit_mb == doctest::Approx(memory_target).epsilon(0.001));
    CHECK(s.memory_limit_mb >= 400 * 1.15);
    CHECK(s.memory_limit_mb <= 400 * 1.10 * 1.15);

    // Within the bounds now: a day more changes nothing.
    const double cpu = s.cpu_limit;
    const double memory = s.memory_limit_mb;
    CHECK(run_steady(p, s, 24 * 60, 0.3, 400) == 0);
    CHECK(s.cpu_limit == cpu);
    CHECK(s.memory_limit_mb == memory);
    const decision d = p.decide(usage(s, 0.3, 400), s);
    CHECK(d.reason == std::string_view("vpa: within bounds"));
    CHECK_FALSE(d.vertical());
    CHECK(d.replicas == s.replicas);
    CHECK(d.source == decision_source::policy);
}

TEST_CASE("vpa_policy does not resize on a short history: the bounds start wide") {
    // The upper bound is ×(1 + 1/confidence): after an hour the 1-core limit
    // over a 0.3-core usage is well within it.
    vpa_policy p;
    scaling_state s = start();
    CHECK(run_steady(p, s, 60, 0.3, 400) == 0);
    const vpa::recommendation r = p.last_recommendation();
    CHECK(r.lower_bound.cpu <= r.target.cpu);
    CHECK(r.target.cpu <= r.upper_bound.cpu);
    CHECK(r.upper_bound.cpu > 1.0);
}

TEST_CASE("vpa_policy resizes when the usage outgrows the upper bound's complement: the lower bound") {
    // Limit 0.2 cores, usage pinned near the limit at 0.19: once the history
    // is long enough the lower bound (≈ p50 × 1.15) exceeds 0.2.
    vpa_policy p;
    scaling_state s = start(3, 0.2, 1000);
    decision last{};
    for (int i = 0; i < 60 && !last.vertical(); ++i) {
        last = p.decide(usage(s, 0.19, 300), s);
        s.time_s += tick_s;
    }
    REQUIRE(last.vertical());
    CHECK(last.reason == std::string_view("vpa: target"));
    CHECK(last.cpu_limit > 0.2);
    CHECK(last.memory_limit_mb < 1000);  // both resources go to the target
}

TEST_CASE("vpa_policy raises memory after an OOM kill by at least 20 % (and 100 MB)") {
    vpa_policy p;
    scaling_state s = start(3, 0.6, 500);
    CHECK(run_steady(p, s, 60, 0.5, 300) == 0);
    REQUIRE(p.on_oom(s));
    const decision d = p.decide(usage(s, 0.5, 300), s);
    REQUIRE(d.vertical());
    // The interval's peak became max(500 × 1.2, 500 + 100) = 600 MB.
    CHECK(d.memory_limit_mb >= 600 * 1.15);
    CHECK(d.memory_limit_mb <= 600 * 1.15 * 1.10);  // bucket resolution
    CHECK(d.reason == std::string_view("vpa: target"));
}

TEST_CASE("vpa_policy never recommends below 25 millicores and 250 MB") {
    vpa_policy p;
    scaling_state s = start();
    run_steady(p, s, 2 * 24 * 60, 0.001, 1);
    CHECK(s.cpu_limit == doctest::Approx(0.025));
    CHECK(s.memory_limit_mb == doctest::Approx(250));
    const vpa::recommendation r = p.last_recommendation();
    CHECK(r.target.cpu == doctest::Approx(0.025));
    CHECK(r.lower_bound.cpu == doctest::Approx(0.025));
    CHECK(r.target.memory_mb == doctest::Approx(250));
}

TEST_CASE("vpa_policy clamps the recommendation to the allowed range (minAllowed, maxAllowed)") {
    vpa_policy_config c;
    c.max_cpu_cores = 0.2;
    c.min_memory_mb = 1000;
    vpa_policy p(c);
    scaling_state s = start(3, 1.0, 2000);
    run_steady(p, s, 2 * 24 * 60, 0.3, 400);
    CHECK(s.cpu_limit == 0.2);
    CHECK(s.memory_limit_mb == 1000);
    const vpa::recommendation r = p.last_recommendation();
    CHECK(r.target.cpu == 0.2);
    CHECK(r.upper_bound.cpu == 0.2);
    CHECK(r.lower_bound.memory_mb == 1000);
}

TEST_CASE("vpa_policy with AWARE's bounds stays within 128-2048 millicores and 256-3072 MB") {
    vpa_policy p(vpa_policy_config::aware());
    scaling_state s = start();
    run_steady(p, s, 2 * 24 * 60, 0.01, 10);
    CHECK(s.cpu_limit == 0.128);
    CHECK(s.memory_limit_mb == 256);
}

TEST_CASE("vpa_policy never produces a limit from NaN, infinite or negative metrics") {
    vpa_policy p;
    scaling_state s = start();
    run_steady(p, s, 2 * 24 * 60, 0.3, 400);  // a full history, then bad inputs with limits far out of bounds
    s.cpu_limit = 10;
    s.memory_limit_mb = 10;
    std::mt19937 rng(7);
    const double bad[] = {nan_v, inf, -inf, -1.0};
    for (int i = 0; i < 200; ++i) {
        function_metrics m = usage(s, 0.3, 400);
        const double v = bad[static_cast<std::size_t>(rng() % 4)];
        switch (rng() % 4) {
            case 0: m.cpu_utilization = v; break;
            case 1: m.memory_utilization = v; break;
            case 2: m.cpu_limit = v; break;
            default: m.memory_limit_mb = v; break;
        }
        const decision d = p.decide(m, s);
        CHECK_FALSE(d.vertical());
        CHECK(d.replicas == s.replicas);
        CHECK(d.source == decision_source::hold);
        s.time_s += tick_s;
    }
    scaling_state clockless = s;
    clockless.time_s = nan_v;
    const decision d = p.decide(usage(s, 0.3, 400), clockless);
    CHECK_FALSE(d.vertical());
    CHECK(d.reason == std::string_view("vpa: clock is not finite"));
    // No ready replica: nothing measured, nothing sampled.
    const auto before = p.recommender().samples();
    CHECK_FALSE(p.decide(usage(s, 0.3, 400, 0), s).vertical());
    CHECK(p.recommender().samples() == before);
    // A valid tick after all that resizes the out-of-bounds limits.
    s.time_s += tick_s;
    CHECK(p.decide(usage(s, 0.3, 400), s).vertical());
}

TEST_CASE("vpa_policy withholds vertical changes below vertical_requires_replicas") {
    for (const int replicas : {1, 2}) {
        CAPTURE(replicas);
        vpa_policy p;
        scaling_state s = start(replicas, 0.2, 1000);
        decision last{};
        for (int i = 0; i < 120; ++i) {
            last = p.decide(usage(s, 0.19, 300, static_cast<std::uint32_t>(replicas)), s);
            if (last.vertical()) break;
            s.time_s += tick_s;
        }
        if (replicas == 1) {
            CHECK_FALSE(last.vertical());
            CHECK(last.reason == std::string_view("vpa: too few replicas to resize"));
            CHECK(last.replicas == 1);
        } else {
            CHECK(last.vertical());
        }
    }
    SUBCASE("vertical_requires_replicas = 1 resizes a single replica") {
        vpa_policy_config c;
        c.vertical_requires_replicas = 1;
        vpa_policy p(c);
        scaling_state s = start(1, 0.2, 1000);
        CHECK(run_steady(p, s, 120, 0.19, 300) >= 1);
    }
    SUBCASE("replicas not yet ready count as missing") {
        vpa_policy p;
        scaling_state s = start(3, 0.2, 1000);
        for (int i = 0; i < 120; ++i) {
            CHECK_FALSE(p.decide(usage(s, 0.19, 300, 1), s).vertical());
            s.time_s += tick_s;
        }
    }
}

TEST_CASE("vpa_policy leaves limits unchanged before min_samples and in update mode off") {
    vpa_policy_config c;
    c.min_samples = 1000;
    vpa_policy p(c);
    scaling_state s = start(3, 0.2, 1000);
    CHECK(run_steady(p, s, 999, 0.19, 300) == 0);
    CHECK(std::isnan(p.last_recommendation().target.cpu));
    const decision d = p.decide(usage(s, 0.19, 300), s);  // the 1000th sample
    CHECK(d.vertical());

    vpa_policy_config off;
    off.update_mode = vpa_update_mode::off;
    vpa_policy q(off);
    scaling_state t = start(3, 0.2, 1000);
    CHECK(run_steady(q, t, 2 * 24 * 60, 0.19, 300) == 0);
    CHECK(q.last_recommendation().target.cpu > 0.2);  // it still recommends
    CHECK(q.decide(usage(t, 0.19, 300), t).reason == std::string_view("vpa: update mode off"));
}

TEST_CASE("vpa_policy is deterministic: the same inputs give the same decisions") {
    vpa_policy a;
    vpa_policy b;
    scaling_state sa = start();
    scaling_state sb = start();
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> cpu(0.05, 0.9);
    std::uniform_real_distribution<double> memory(50, 900);
    int resized = 0;  // decisions that set a limit: the comparison above is not empty
    for (int i = 0; i < 3 * 24 * 60; ++i) {
        const double c = cpu(rng);
        const double m = memory(rng);
        const decision da = a.decide(usage(sa, c, m), sa);
        const decision db = b.decide(usage(sb, c, m), sb);
        REQUIRE(da.replicas == db.replicas);
        REQUIRE(da.reason == db.reason);
        REQUIRE(std::isnan(da.cpu_limit) == std::isnan(db.cpu_limit));
        if (!std::isnan(da.cpu_limit)) REQUIRE(da.cpu_limit == db.cpu_limit);
        if (!std::isnan(da.memory_limit_mb)) REQUIRE(da.memory_limit_mb == db.memory_limit_mb);
        resized += std::isnan(da.cpu_limit) && std::isnan(da.memory_limit_mb) ? 0 : 1;
        apply(sa, da);
        apply(sb, db);
        sa.time_s += tick_s;
        sb.time_s += tick_s;
    }
    CHECK(resized > 0);
    CHECK(sa.cpu_limit == sb.cpu_limit);
}

TEST_CASE("vpa_policy: a clock that goes back or jumps ahead adds no sample and resizes nothing until reset()") {
    const std::string_view refused = "vpa: clock is not after the last sample's; no sample, no resize (reset() starts a new history)";
    SUBCASE("back: a new run whose clock starts at 0, with the old limits") {
        vpa_policy p;
        scaling_state s = start();
        REQUIRE(run_steady(p, s, 2 * 24 * 60, 0.3, 400) >= 1);  // converged well below 1 core and 1000 MB
        const std::int64_t samples = p.recommender().samples();
        scaling_state again = start();  // 1 core, 1000 MB: outside the learned bounds
        for (int i = 0; i < 10; ++i) {
            const decision d = p.decide(usage(again, 0.3, 400), again);
            CHECK(d.reason == refused);
            CHECK(d.source == decision_source::hold);
            CHECK_FALSE(d.vertical());
            CHECK(d.replicas == again.replicas);
            again.time_s += tick_s;
        }
        CHECK(p.recommender().samples() == samples);
        // reset() starts a new history: one sample, bounds wide, no resize.
        p.reset();
        CHECK(p.recommender().samples() == 0);
        CHECK(std::isnan(p.last_recommendation().target.cpu));
        const decision d = p.decide(usage(again, 0.3, 400), again);
        CHECK(p.recommender().samples() == 1);
        CHECK(d.reason == std::string_view("vpa: within bounds"));
    }
    SUBCASE("ahead: one tick read in milliseconds leaves every later tick behind it") {
        vpa_policy p;
        scaling_state s = start();
        run_steady(p, s, 24 * 60, 0.3, 400);
        scaling_state glitch = s;
        glitch.time_s = s.time_s * 1000;
        (void)p.decide(usage(glitch, 0.3, 400), glitch);  // accepted: after the last
        const std::int64_t samples = p.recommender().samples();
        s.time_s += tick_s;
        const decision d = p.decide(usage(s, 0.3, 400), s);
        CHECK(d.reason == refused);
        CHECK_FALSE(d.vertical());
        CHECK(p.recommender().samples() == samples);
    }
}

TEST_CASE("vpa_policy: a usage that overflows (utilisation times limit) holds, named as such, not as a clock") {
    vpa_policy p;
    scaling_state s = start();
    function_metrics m = usage(s, 0.3, 400);
    m.cpu_limit = 1e200;
    m.cpu_utilization = 1e200;  // each finite, the product not
    const decision d = p.decide(m, s);
    CHECK(d.reason == std::string_view("vpa: cpu or memory usage is not finite"));
    CHECK_FALSE(d.vertical());
    CHECK(p.recommender().samples() == 0);
}

TEST_CASE("vpa_policy: reset() gives the decisions of a new policy") {
    vpa_policy used;
    scaling_state warm = start();
    run_steady(used, warm, 24 * 60, 0.7, 800);
    used.reset();
    vpa_policy fresh;
    scaling_state a = start(), b = start();
    int resized = 0;
    for (int i = 0; i < 2 * 24 * 60; ++i) {
        const decision da = used.decide(usage(a, 0.3, 400), a);
        const decision db = fresh.decide(usage(b, 0.3, 400), b);
        REQUIRE(da.reason == db.reason);
        REQUIRE(std::isnan(da.cpu_limit) == std::isnan(db.cpu_limit));
        if (!std::isnan(da.cpu_limit)) REQUIRE(da.cpu_limit == db.cpu_limit);
        if (!std::isnan(da.memory_limit_mb)) REQUIRE(da.memory_limit_mb == db.memory_limit_mb);
        resized += da.vertical() ? 1 : 0;
        apply(a, da);
        apply(b, db);
        a.time_s += tick_s;
        b.time_s += tick_s;
    }
    CHECK(resized > 0);
}

TEST_CASE("vpa_policy: a memory reading of 0 adds no memory sample, so the interval's later peak and an OOM kill still count") {
    // A zero peak opening the interval would take no later sample of it (the
    // VPA's container state reads a zero peak as none).
    vpa_policy p;
    scaling_state s = start(3, 1.0, 1000);
    const double mb = p.config().recommender.bytes_per_mb;
    (void)p.decide(usage(s, 0.3, 0), s);  // no replica ran: memory utilisation 0
    CHECK(p.recommender().samples() == 1);  // the CPU sample is taken
    s.time_s += tick_s;
    (void)p.decide(usage(s, 0.3, 1e-9), s);  // under a byte: an amount of 0, the same
    CHECK(p.recommender().samples() == 2);
    s.time_s += tick_s;
    (void)p.decide(usage(s, 0.3, 500), s);
    CHECK(vpa::bytes_from_memory_amount(p.recommender().container().max_memory_peak()) / mb == doctest::Approx(500).epsilon(1e-6));
    s.time_s += tick_s;
    REQUIRE(p.on_oom(s));
    // max(1000 × 1.2, 1000 + 100) = 1200 MB
    CHECK(vpa::bytes_from_memory_amount(p.recommender().container().max_memory_peak()) / mb >= 1200 - 1e-6);
}

TEST_CASE("vpa_policy_config rejects values out of range, naming the field") {
    vpa_policy_config c;
    c.min_cpu_cores = 2;
    c.max_cpu_cores = 1;
    CHECK_THROWS_WITH_AS(vpa_policy{c}, "vpa_policy_config.max_cpu_cores: must be finite and >= min_cpu_cores (2), got 1", config_error);
    vpa_policy_config d;
    d.recommender.safety_margin_fraction = -0.1;
    CHECK_THROWS_WITH_AS(vpa_policy{d}, "vpa_config.safety_margin_fraction: must be finite and >= 0, got -0.1", config_error);
    vpa_policy_config e;
    e.max_memory_mb = inf;
    CHECK_THROWS_AS(vpa_policy{e}, config_error);
}

TEST_CASE("hpa_vpa_policy takes replicas from the HPA and limits from the VPA") {
    hpa_vpa_policy pair;
    hpa_policy alone;
    CHECK(pair.ready());
    scaling_state s = start(3, 0.2, 1000);
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> cpu(0.02, 0.2);
    int resizes = 0;
    for (int i = 0; i < 24 * 60; ++i) {
        const function_metrics m = usage(s, cpu(rng), 300, static_cast<std::uint32_t>(s.replicas));
        const decision dp = pair.decide(m, s);
        const decision dh = alone.decide(m, s);
        REQUIRE(dp.replicas == dh.replicas);
        REQUIRE(dp.source == dh.source);
        if (dp.vertical()) {
            ++resizes;
            CHECK(dp.reason == std::string_view("vpa: target"));
        } else {
            CHECK(dp.reason == dh.reason);
        }
        apply(s, dp);
        s.time_s += tick_s;
    }
    CHECK(resizes >= 1);
}

TEST_CASE("hpa_vpa_policy withholds a resize in the tick the HPA scales in below the VPA's replica minimum") {
    // Two replicas nearly idle (the HPA scales in to one) with a memory limit
    // below the VPA's minimum (the VPA resizes as soon as it has samples):
    // on the tick both happen, the pair must not resize the one replica left.
    hpa_vpa_config c = hpa_vpa_config::aware();
    c.vpa.min_samples = 22;
    hpa_vpa_policy pair(c);
    vpa_policy vpa_alone(c.vpa);
    scaling_state s = start(2, 0.5, 128);
    int coinciding = 0;
    for (int i = 0; i < 200; ++i) {
        const function_metrics m = usage(s, 0.025, 100, static_cast<std::uint32_t>(s.replicas));
        const decision d = pair.decide(m, s);
        const decision v = vpa_alone.decide(m, s);
        CAPTURE(i);
        if (d.vertical()) CHECK(d.replicas >= 2);
        if (v.vertical() && d.replicas < 2) {
            ++coinciding;  // the VPA alone would have resized here
            CHECK(std::isnan(d.cpu_limit));
            CHECK(std::isnan(d.memory_limit_mb));
            CHECK(d.reason != std::string_view("vpa: target"));
        }
        apply(s, d);
        s.time_s += 15;
    }
    CHECK(coinciding >= 1);
}

TEST_CASE("hpa_vpa_policy: a resize while the HPA holds is kept, and with_fallback takes it rather than asking its backup") {
    // The HPA holds every tick (more pods than it can synthesise); the VPA,
    // deciding on its own as the Kubernetes controller does, raises a memory
    // limit below its minimum. The count stays a hold; the resize must not
    // be lost to with_fallback's backup. A guard that withholds the resize
    // leaves a plain hold, which goes to the backup as before.
    hpa_vpa_config c = hpa_vpa_config::aware();
    c.hpa.max_pods = 2;
    c.vpa.min_samples = 22;
    hpa_vpa_policy pair(c);
    with_fallback<hpa_vpa_policy, static_policy> served(hpa_vpa_policy(c), static_policy{.replicas = 5});
    with_fallback<guarded<hpa_vpa_policy>, static_policy> strict(guarded<hpa_vpa_policy>(hpa_vpa_policy(c), {.vertical_min_replicas = 4}),
                                                                 static_policy{.replicas = 5});
    scaling_state s = start(3, 0.5, 128);
    int resizes = 0;
    for (int i = 0; i < 200 && resizes == 0; ++i) {
        const function_metrics m = usage(s, 0.2, 100, 3);
        const decision d = pair.decide(m, s);
        const decision w = served.decide(m, s);
        const decision g = strict.decide(m, s);
        CAPTURE(i);
        CHECK(d.replicas == 3);
        CHECK(d.source == decision_source::hold);
        CHECK(g.replicas == 5);  // never a resize: the guard strips it, the backup decides
        CHECK_FALSE(g.vertical());
        if (d.vertical()) {
            ++resizes;
            CHECK(d.reason == std::string_view("vpa: target"));
            CHECK(d.memory_limit_mb >= 256);
            CHECK(w.replicas == 3);  // the pair's decision, not the backup's 5
            CHECK(w.source == decision_source::hold);
            CHECK(w.memory_limit_mb == d.memory_limit_mb);
        } else {
            CHECK(w.replicas == 5);  // a plain hold goes to the backup
            CHECK(w.source == decision_source::fallback);
        }
        s.time_s += 15;
    }
    CHECK(resizes == 1);
}

TEST_CASE("hpa_vpa_policy withholds vertical changes at one replica") {
    hpa_vpa_config c;
    c.hpa.min_replicas = 1;
    hpa_vpa_policy pair(c);
    scaling_state s = start(1, 0.2, 1000);
    s.max_replicas = 1;  // the HPA cannot add a replica
    for (int i = 0; i < 4 * 60; ++i) {
        const decision d = pair.decide(usage(s, 0.19, 300, 1), s);
        CHECK_FALSE(d.vertical());
        CHECK(d.replicas == 1);
        s.time_s += tick_s;
    }
}

TEST_CASE("hpa_vpa_policy forwards OOM kills to the VPA") {
    hpa_vpa_policy pair;
    scaling_state s = start(3, 0.6, 500);
    run_steady(pair, s, 60, 0.45, 300);
    const double before = s.memory_limit_mb;
    REQUIRE(pair.on_oom(s));
    const decision d = pair.decide(usage(s, 0.45, 300), s);
    REQUIRE(d.vertical());
    CHECK(d.memory_limit_mb > before * 1.2);
}

TEST_CASE("hpa_vpa_policy serves as rl_policy's fallback") {
    static_assert(policy<hpa_vpa_policy>);
    using fallback_rl = dqn_policy<scarlet_encoder, rl::joint_delta_actions, hpa_vpa_policy>;
    auto w = std::make_shared<rl::shared_network<float>>(nn::mlp<float>({5, 3}));  // never published: the fallback decides
    std::vector<hpa_vpa_policy> fallbacks(1, hpa_vpa_policy{});
    fallback_rl p(w, scarlet_encoder{}, rl::joint_delta_actions(1), std::move(fallbacks));
    CHECK(p.ready());
    hpa_policy alone;
    const scaling_state s = start(4);
    const std::array<function_metrics, 1> m{usage(s, 0.9, 300, 4)};
    const std::array<scaling_state, 1> st{s};
    std::array<decision, 1> d{};
    p.decide(m, st, d);
    CHECK(d[0].source == decision_source::fallback);
    CHECK(d[0].replicas == alone.decide(m[0], s).replicas);
}

TEST_CASE("hpa_vpa_policy memory_only leaves the CPU limit to the operator (Kubernetes' advice)") {
    hpa_vpa_policy pair(hpa_vpa_config::memory_only());
    scaling_state s = start(3, 0.2, 1000);  // CPU far below its use, memory far above
    int resizes = 0;
    for (int i = 0; i < 2 * 24 * 60; ++i) {
        const decision d = pair.decide(usage(s, 0.19, 100, static_cast<std::uint32_t>(s.replicas)), s);
        CHECK(std::isnan(d.cpu_limit));
        if (d.vertical()) ++resizes;
        apply(s, d);
        s.time_s += tick_s;
    }
    CHECK(resizes >= 1);
    CHECK(s.cpu_limit == 0.2);
    CHECK(s.memory_limit_mb == doctest::Approx(250));  // the 250 MB minimum over a 100 MB usage
}

// `c` is refused with `message`, by its own check and by a policy built on it.
void refused_by_both(const vpa_config& c, const std::string& message) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(c.validate(), message.c_str(), config_error);
    vpa_policy_config p;
    p.recommender = c;
    CHECK_THROWS_WITH_AS(vpa_policy{p}, message.c_str(), config_error);
}

TEST_CASE("vpa_config: bounds on the wrong side of the target, or confidence exponents of the wrong sign, are refused") {
    // lower bound ≤ target ≤ upper bound, for CPU and memory: a lower bound
    // above the target would resize on every tick.
    vpa_config c;
    c.lower_bound_cpu_percentile = 0.99;
    refused_by_both(c, "vpa_config.lower_bound_cpu_percentile: must be <= target_cpu_percentile (0.9), got 0.99");
    c = {};
    c.upper_bound_cpu_percentile = 0.5;
    refused_by_both(c, "vpa_config.upper_bound_cpu_percentile: must be finite and >= target_cpu_percentile (0.9), got 0.5");
    c = {};
    c.target_cpu_percentile = 0.97;
    refused_by_both(c, "vpa_config.upper_bound_cpu_percentile: must be finite and >= target_cpu_percentile (0.97), got 0.95");
    c = {};
    c.lower_bound_memory_percentile = 0.95;
    refused_by_both(c, "vpa_config.lower_bound_memory_percentile: must be <= target_memory_percentile (0.9), got 0.95");
    c = {};
    c.upper_bound_memory_percentile = 0.8;
    refused_by_both(c, "vpa_config.upper_bound_memory_percentile: must be finite and >= target_memory_percentile (0.9), got 0.8");
    c = {};
    c.target_memory_percentile = 0.4;
    refused_by_both(c, "vpa_config.lower_bound_memory_percentile: must be <= target_memory_percentile (0.4), got 0.5");
    // (1 + multiplier / confidence)^exponent: the upper bound's exponent
    // must widen it upwards, the lower bound's downwards.
    c = {};
    c.upper_bound_confidence_exponent = -1;
    refused_by_both(c, "vpa_config.upper_bound_confidence_exponent: must be finite and >= 0, got -1");
    c = {};
    c.lower_bound_confidence_exponent = 2;
    refused_by_both(c, "vpa_config.lower_bound_confidence_exponent: must be finite and <= 0, got 2");
    c = {};
    c.lower_bound_confidence_exponent = inf;
    refused_by_both(c, "vpa_config.lower_bound_confidence_exponent: must be finite and <= 0, got inf");
    // Go's defaults, equal percentiles and zero exponents pass.
    CHECK_NOTHROW(vpa_config{}.validate());
    c = {};
    c.lower_bound_cpu_percentile = c.target_cpu_percentile = c.upper_bound_cpu_percentile = 0.9;
    c.lower_bound_memory_percentile = c.target_memory_percentile = c.upper_bound_memory_percentile = 0.5;
    c.upper_bound_confidence_exponent = 0;
    c.lower_bound_confidence_exponent = 0;
    CHECK_NOTHROW(c.validate());
}

TEST_CASE("vpa_config: histogram settings the histograms cannot take are refused under the vpa_config field that sets them") {
    // The histograms' own checks named histogram_options.ratio,
    // histogram_options.num_buckets or histogram_options.epsilon, which no
    // vpa_config holds.
    // 1 + 1e-17 == 1: no growth at all, though 1e-17 > 0.
    vpa_config c;
    c.histogram_bucket_size_growth = 1e-17;
    refused_by_both(c, "vpa_config.histogram_bucket_size_growth: must be large enough that 1 + it > 1, got 1e-17");
    // A growth near 0 needs about max / first buckets: 1e7 of them here.
    c = {};
    c.cpu_histogram_max_cores = 1e5;
    c.histogram_bucket_size_growth = 1e-6;
    refused_by_both(c, "vpa_config.histogram_bucket_size_growth: must give at most 1048576 histogram buckets from "
               "cpu_histogram_first_bucket_cores (0.01) to cpu_histogram_max_cores (1e+05), got 1e-06");
    c = {};
    c.memory_histogram_max_bytes = 1e14;
    c.histogram_bucket_size_growth = 1e-6;
    refused_by_both(c, "vpa_config.histogram_bucket_size_growth: must give at most 1048576 histogram buckets from "
               "memory_histogram_first_bucket_bytes (1e+07) to memory_histogram_max_bytes (1e+14), got 1e-06");
    // A count that overflows is the maximum's doing.
    c = {};
    c.cpu_histogram_first_bucket_cores = 1e-10;
    c.cpu_histogram_max_cores = 1e300;
    refused_by_both(c, "vpa_config.cpu_histogram_max_cores: must give a finite number of histogram buckets from "
               "cpu_histogram_first_bucket_cores (1e-10) at histogram_bucket_size_growth (0.05), got 1e+300");
    // epsilon = 0.001 × min_sample_weight must stay above 0.
    c = {};
    c.min_sample_weight = 1e-322;
    refused_by_both(c, "vpa_config.min_sample_weight: must be large enough that 0.001 × it > 0, got 1e-322");
    // The defaults' ranges (max / first = 1e5) take a growth down to the
    // double's resolution: 1e-15 makes about 1e5 buckets.
    c = {};
    c.histogram_bucket_size_growth = 1e-15;
    CHECK_NOTHROW(c.validate());
    CHECK(c.cpu_histogram_options().num_buckets() <= (1 << 20));
}

}  // namespace test_policy_vpa_policy
