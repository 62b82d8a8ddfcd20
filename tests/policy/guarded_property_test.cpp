// Property test: whatever it is fed, a guarded policy returns a replica
// count within [min, max] that moves at most the configured step from the
// current count (when the current count is within bounds).
#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>

#include <rlscale/core/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>

namespace test_policy_guarded_property {

using namespace rlscale;

namespace {

/// A policy that returns anything at all, including extremes.
struct chaotic_policy {
    rng* gen;
    [[nodiscard]] bool ready() const noexcept { return true; }
    decision decide(const function_metrics&, const scaling_state&) noexcept {
        constexpr int extremes[] = {std::numeric_limits<int>::min(), -1, 0, 1, std::numeric_limits<int>::max()};
        const auto k = uniform_index(*gen, 7);
        const int n = k < 5 ? extremes[k] : static_cast<int>(uniform_index(*gen, 2000)) - 1000;
        return {.replicas = n, .source = decision_source::policy, .reason = "chaos"};
    }
};

/// A value from the nasty set: NaN, ±Inf, negative, huge, zero, or ordinary.
double nasty(rng& gen) {
    switch (uniform_index(gen, 8)) {
        case 0: return std::numeric_limits<double>::quiet_NaN();
        case 1: return std::numeric_limits<double>::infinity();
        case 2: return -std::numeric_limits<double>::infinity();
        case 3: return -uniform(gen, 0, 1e6);
        case 4: return uniform(gen, 1e12, 1e300);
        case 5: return 0.0;
        default: return uniform(gen, 0, 10);
    }
}

/// A value a policy may act on: finite and non-negative, usually ordinary,
/// sometimes zero or huge.
double usable(rng& gen) {
    switch (uniform_index(gen, 8)) {
        case 0: return 0.0;
        case 1: return uniform(gen, 1e12, 1e300);
        default: return uniform(gen, 0, 10);
    }
}

/// Metrics every field of which a policy may act on.
function_metrics usable_metrics(rng& gen) {
    function_metrics m;
    m.interval_s = uniform_index(gen, 8) == 0 ? uniform(gen, 1e-9, 1e-3) : uniform(gen, 1, 60);
    m.arrivals = uniform_index(gen, 10) == 0 ? std::numeric_limits<std::uint64_t>::max() : uniform_index(gen, 100000);
    m.completions = uniform_index(gen, 1000);
    m.throughput_rps = usable(gen);
    m.latency_mean_s = usable(gen);
    m.latency = {usable(gen), usable(gen), usable(gen), usable(gen), usable(gen)};
    m.queue_length = static_cast<std::uint32_t>(uniform_index(gen, 1u << 31));
    m.in_service = static_cast<std::uint32_t>(uniform_index(gen, 1000));
    m.cpu_utilization = usable(gen);
    m.memory_utilization = usable(gen);
    m.cpu_limit = usable(gen);
    m.memory_limit_mb = usable(gen);
    m.ready_replicas = static_cast<std::uint32_t>(uniform_index(gen, 5000));
    m.replica_seconds = usable(gen);
    return m;
}

/// Half the time metrics a policy may act on (so that its decisions are
/// what the guard limits); a quarter of the time one field from the nasty
/// set; otherwise every field from it, or empty metrics.
function_metrics random_metrics(rng& gen) {
    function_metrics m = usable_metrics(gen);
    const auto kind = uniform_index(gen, 4);
    if (kind < 2) return m;
    if (kind == 2) {
        double* fields[] = {&m.interval_s,    &m.throughput_rps,     &m.latency_mean_s, &m.latency.p50,       &m.latency.p90,
                            &m.latency.p95,   &m.latency.p99,        &m.latency.p999,   &m.cpu_utilization,   &m.memory_utilization,
                            &m.cpu_limit,     &m.memory_limit_mb,    &m.replica_seconds};
        *fields[uniform_index(gen, std::size(fields))] = nasty(gen);
        return m;
    }
    if (uniform_index(gen, 20) == 0) return function_metrics{};  // empty metrics
    m.interval_s = nasty(gen);
    m.throughput_rps = nasty(gen);
    m.latency_mean_s = nasty(gen);
    m.latency = {nasty(gen), nasty(gen), nasty(gen), nasty(gen), nasty(gen)};
    m.cpu_utilization = nasty(gen);
    m.memory_utilization = nasty(gen);
    m.cpu_limit = nasty(gen);
    m.memory_limit_mb = nasty(gen);
    m.replica_seconds = nasty(gen);
    return m;
}

scaling_state random_state(rng& gen, double time) {
    scaling_state s;
    s.min_replicas = static_cast<int>(uniform_index(gen, 5));
    s.max_replicas = s.min_replicas + static_cast<int>(uniform_index(gen, 50));
    s.replicas = s.min_replicas + static_cast<int>(uniform_index(gen, static_cast<std::uint64_t>(s.max_replicas - s.min_replicas + 1)));
    s.time_s = uniform_index(gen, 50) == 0 ? nasty(gen) : time;
    return s;
}

/// Checks the property on n observations; at least `min_acted` of them must
/// be decided by the guarded policy rather than held by the guard, or the
/// test would pass on holds alone.
template <typename P>
void check_property(P& p, const guard_config& g, rng& gen, int n, long min_acted) {
    long failures = 0;
    long acted = 0;
    for (int i = 0; i < n; ++i) {
        const function_metrics m = random_metrics(gen);
        const scaling_state s = random_state(gen, i * 15.0);
        const decision d = p.decide(m, s);
        if (d.source != decision_source::hold) ++acted;
        const bool in_bounds = d.replicas >= s.min_replicas && d.replicas <= s.max_replicas;
        const bool rate_ok = d.replicas - s.replicas <= g.max_step_up && s.replicas - d.replicas <= g.max_step_down;
        if (!in_bounds || !rate_ok) {
            ++failures;
        }
    }
    CHECK(failures == 0);
    MESSAGE(acted << " of " << n << " observations decided by the policy, the rest held");
    CHECK(acted >= min_acted);
}

}  // namespace

TEST_CASE("property: a guarded chaotic policy stays in bounds and within the rate limit over a million observations") {
    rng gen(2026);
    const guard_config g{.max_step_up = 3, .max_step_down = 2};
    guarded<chaotic_policy> p(chaotic_policy{&gen}, g);
    check_property(p, g, gen, 1'000'000, 500'000);
}

TEST_CASE("property: guarded KPA with an ENSURE fallback stays in bounds and within the rate limit on nasty metrics") {
    rng gen(7);
    const guard_config g{.max_step_up = 4, .max_step_down = 1};
    guarded p(with_fallback(kpa_policy{}, ensure_policy{}), g);
    check_property(p, g, gen, 1'000'000, 500'000);
}

namespace {

/// The guard's answer worked out in 64-bit arithmetic, where nothing a
/// 32-bit input can hold overflows: the current count brought into
/// [max(0, min), max(lower, max)], the decision limited to the steps from
/// it, then clamped to the bounds.
int exact_guard(int decided, int current_raw, int min_r, int max_r, int up, int down) {
    const long long lo = std::max(0, min_r);
    const long long hi = std::max<long long>(lo, max_r);
    const long long current = std::clamp<long long>(current_raw, lo, hi);
    const long long limited = std::clamp<long long>(decided, current - down, current + up);
    return static_cast<int>(std::clamp(limited, lo, hi));
}

/// An int from the edges of the range, small values, or anywhere.
int edge_int(rng& gen) {
    constexpr int max = std::numeric_limits<int>::max();
    constexpr int min = std::numeric_limits<int>::min();
    constexpr int edges[] = {min, min + 1, -2, -1, 0, 1, 2, 5, 7, max / 2, max / 2 + 1, max - 2, max - 1, max};
    if (uniform_index(gen, 4) == 0) return static_cast<int>(static_cast<std::int64_t>(uniform_index(gen, 1ULL << 32)) + min);
    return edges[uniform_index(gen, std::size(edges))];
}

}  // namespace

TEST_CASE("guard: a step limit of INT_MAX does not overflow (static 7 from 5 replicas is 7, not 1)") {
    const guard_config g{.max_step_up = std::numeric_limits<int>::max(), .max_step_down = 2};
    const scaling_state s{.replicas = 5, .min_replicas = 1, .max_replicas = 10};
    const decision d = apply_guard({.replicas = 7, .source = decision_source::policy, .reason = "static"}, s, g);
    CHECK(d.replicas == 7);
    CHECK(d.reason == "static");
    const guard_config down{.max_step_up = 4, .max_step_down = std::numeric_limits<int>::max()};
    CHECK(apply_guard({.replicas = 1, .source = decision_source::policy}, s, down).replicas == 1);
    const scaling_state top{.replicas = std::numeric_limits<int>::max(), .min_replicas = 0, .max_replicas = std::numeric_limits<int>::max()};
    CHECK(apply_guard({.replicas = std::numeric_limits<int>::max(), .source = decision_source::policy}, top, g).replicas ==
          std::numeric_limits<int>::max());
    const scaling_state bottom{.replicas = 0, .min_replicas = 0, .max_replicas = std::numeric_limits<int>::max()};
    CHECK(apply_guard({.replicas = std::numeric_limits<int>::min(), .source = decision_source::policy}, bottom, down).replicas == 0);
}

TEST_CASE("property: the guard gives the exact answer for any ints, at the edges of the range too") {
    rng gen(31);
    long wrong = 0;
    for (int i = 0; i < 2'000'000; ++i) {
        const int decided = edge_int(gen);
        const int current = edge_int(gen);
        const int min_r = edge_int(gen);
        const int max_r = edge_int(gen);
        const int up = std::abs(std::max(edge_int(gen), -std::numeric_limits<int>::max()));
        const int down = std::abs(std::max(edge_int(gen), -std::numeric_limits<int>::max()));
        const scaling_state s{.replicas = current, .min_replicas = min_r, .max_replicas = max_r};
        const decision d = apply_guard({.replicas = decided, .source = decision_source::policy}, s, {.max_step_up = up, .max_step_down = down});
        const int want = exact_guard(decided, current, min_r, max_r, up, down);
        if (d.replicas != want) {
            if (++wrong <= 5) {
                MESSAGE("decided " << decided << ", current " << current << ", [" << min_r << ", " << max_r << "], up " << up << ", down "
                                   << down << ": got " << d.replicas << ", want " << want);
            }
        }
    }
    CHECK(wrong == 0);
}

TEST_CASE("guard: invalid metrics keep the current count, even outside [min, max] (no actuation)") {
    // Scaled to 50 by hand with a maximum of 20: without usable metrics the
    // guard must not move it to 20 (a decision made on no data).
    guarded<static_policy> p(static_policy{.replicas = 3}, {.max_step_up = 4, .max_step_down = 2});
    function_metrics bad;
    bad.cpu_utilization = std::numeric_limits<double>::quiet_NaN();
    bad.interval_s = 15;
    const decision d = p.decide(bad, {.replicas = 50, .min_replicas = 1, .max_replicas = 20});
    CHECK(d.source == decision_source::hold);
    CHECK(d.replicas == 50);
    // With usable metrics the count is brought inside the bounds first (50 →
    // 20), then the step limit applies (static 3 from 20 is at most 2 down).
    function_metrics good;
    good.interval_s = 15;
    CHECK(p.decide(good, {.replicas = 50, .min_replicas = 1, .max_replicas = 20}).replicas == 18);
}

}  // namespace test_policy_guarded_property
