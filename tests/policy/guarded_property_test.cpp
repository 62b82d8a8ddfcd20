// Property test: whatever it is fed, a guarded policy returns a replica
// count within [min, max] that moves at most the configured step from the
// current count (when the current count is within bounds).
#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>

#include <rlscale/core/random.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

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

function_metrics random_metrics(rng& gen) {
    function_metrics m;
    if (uniform_index(gen, 20) == 0) return m;  // empty metrics
    m.interval_s = nasty(gen);
    m.arrivals = uniform_index(gen, 3) == 0 ? std::numeric_limits<std::uint64_t>::max() : uniform_index(gen, 100000);
    m.completions = uniform_index(gen, 1000);
    m.throughput_rps = nasty(gen);
    m.latency_mean_s = nasty(gen);
    m.latency = {nasty(gen), nasty(gen), nasty(gen), nasty(gen), nasty(gen)};
    m.queue_length = static_cast<std::uint32_t>(uniform_index(gen, 1u << 31));
    m.in_service = static_cast<std::uint32_t>(uniform_index(gen, 1000));
    m.cpu_utilization = nasty(gen);
    m.memory_utilization = nasty(gen);
    m.cpu_limit = nasty(gen);
    m.memory_limit_mb = nasty(gen);
    m.ready_replicas = static_cast<std::uint32_t>(uniform_index(gen, 5000));
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

template <typename P>
void check_property(P& p, const guard_config& g, rng& gen, int n) {
    long failures = 0;
    for (int i = 0; i < n; ++i) {
        const function_metrics m = random_metrics(gen);
        const scaling_state s = random_state(gen, i * 15.0);
        const decision d = p.decide(m, s);
        const bool in_bounds = d.replicas >= s.min_replicas && d.replicas <= s.max_replicas;
        const bool rate_ok = d.replicas - s.replicas <= g.max_step_up && s.replicas - d.replicas <= g.max_step_down;
        if (!in_bounds || !rate_ok) {
            ++failures;
        }
    }
    CHECK(failures == 0);
}

}  // namespace

TEST_CASE("property: a guarded chaotic policy stays in bounds and within the rate limit over a million observations") {
    rng gen(2026);
    const guard_config g{.max_step_up = 3, .max_step_down = 2};
    guarded<chaotic_policy> p(chaotic_policy{&gen}, g);
    check_property(p, g, gen, 1'000'000);
}

TEST_CASE("property: guarded KPA with an ENSURE fallback stays in bounds and within the rate limit on nasty metrics") {
    rng gen(7);
    const guard_config g{.max_step_up = 4, .max_step_down = 1};
    guarded p(with_fallback(kpa_policy{}, ensure_policy{}), g);
    check_property(p, g, gen, 1'000'000);
}
