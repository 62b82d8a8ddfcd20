// Proves that deciding allocates nothing after construction, for every
// policy and for the composed and type-erased forms, over long runs whose
// histories (HPA recommendations and scale events, KPA samples) wrap their
// reserved capacity, with bad inputs mixed in.
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/policy/policy.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

namespace test_policy_policy_alloc {

namespace {

using namespace rlscale;

long allocations() { return test::allocation_count(); }

/// Tick `t`'s metrics: a load that swings, with a NaN, an infinity, a
/// negative value and an empty interval every so often.
function_metrics metrics_at(int t, int replicas) {
    function_metrics m;
    m.interval_s = 15;
    const double load = 40.0 + 35.0 * std::sin(t * 0.05);
    m.arrivals = static_cast<std::uint64_t>(load * 15);
    m.completions = m.arrivals;
    m.throughput_rps = load;
    m.latency_mean_s = 0.1;
    m.latency = {0.05, 0.1, 0.15, 0.2, 0.4};
    m.in_service = static_cast<std::uint32_t>(load * 0.1);
    m.ready_replicas = static_cast<std::uint32_t>(replicas);
    m.starting_replicas = t % 7 == 0 ? 2 : 0;
    m.cpu_limit = 1;
    m.cpu_utilization = std::min(1.0, load / (20.0 * replicas));
    m.memory_utilization = 0.4;
    switch (t % 97) {
        case 11: m.cpu_utilization = std::numeric_limits<double>::quiet_NaN(); break;
        case 23: m.cpu_utilization = std::numeric_limits<double>::infinity(); break;
        case 37: m.cpu_utilization = -1; break;
        case 51: m = function_metrics{}; break;
        default: break;
    }
    return m;
}

/// Runs `p` for `ticks` control ticks after a warm-up tick and returns the
/// allocations made after the warm-up.
template <typename P>
long allocations_over(P& p, int ticks) {
    scaling_state s{.replicas = 1, .min_replicas = 1, .max_replicas = 40, .cpu_limit = 1};
    (void)p.decide(metrics_at(0, 1), s);
    const long before = allocations();
    for (int t = 1; t <= ticks; ++t) {
        s.time_s = 15.0 * t;
        const decision d = p.decide(metrics_at(t, s.replicas), s);
        REQUIRE(d.replicas >= s.min_replicas);
        REQUIRE(d.replicas <= s.max_replicas);
        s.replicas = d.replicas;
    }
    return allocations() - before;
}

constexpr int ticks = 20000;  // 83 simulated hours: every history wraps

}  // namespace

TEST_CASE("hpa_policy decide allocates nothing, legacy and with the default behavior") {
    hpa_policy legacy(hpa_config::cpu_utilization(70));
    CHECK(allocations_over(legacy, ticks) == 0);
    hpa_config c = hpa_config::cpu_utilization(70);
    c.behavior = hpa_behavior{};
    c.history_capacity = 64;  // small, so the recommendation history wraps often
    hpa_policy with_behavior(std::move(c));
    CHECK(allocations_over(with_behavior, ticks) == 0);
}

TEST_CASE("kpa, ensure and static decide allocate nothing") {
    kpa_policy kpa({.container_concurrency = 1, .max_samples = 64});
    CHECK(allocations_over(kpa, ticks) == 0);
    ensure_policy ensure({.service_time_s = 0.05, .concurrency = 1});
    CHECK(allocations_over(ensure, ticks) == 0);
    static_policy fixed{.replicas = 3};
    CHECK(allocations_over(fixed, ticks) == 0);
}

TEST_CASE("guarded with_fallback and any_policy decide allocate nothing") {
    guarded composed{with_fallback{kpa_policy{{.container_concurrency = 1}}, hpa_policy{hpa_config::cpu_utilization(70)}},
                     {.max_step_up = 4, .max_step_down = 2}};
    CHECK(allocations_over(composed, ticks) == 0);
    any_policy erased(guarded{hpa_policy{hpa_config::cpu_utilization(70)}});
    CHECK(allocations_over(erased, ticks) == 0);
}

TEST_CASE("copies of policies keep their reserved histories: deciding with a copy allocates nothing") {
    hpa_config c = hpa_config::cpu_utilization(70);
    c.behavior = hpa_behavior{};
    const hpa_policy original(std::move(c));
    std::vector<hpa_policy> copies(3, original);  // copy construction
    hpa_policy assigned(hpa_config::cpu_utilization(50));
    assigned = original;  // copy assignment
    CHECK(allocations_over(copies[2], ticks) == 0);
    CHECK(allocations_over(assigned, ticks) == 0);
}

TEST_CASE("downscale_stabilizer apply allocates nothing") {
    downscale_stabilizer st(3, 20);
    int current = 1;
    int out_of_range = 0;
    const long before = test::allocation_count();
    for (int t = 0; t < 20'000; ++t) {
        const int target = (t * 7) % 13;
        current = st.apply(static_cast<std::size_t>(t % 3), current, target);
        // The stabilised count is the target, or a higher one kept from the window.
        out_of_range += current < target || current > 12 ? 1 : 0;
    }
    CHECK(test::allocation_count() - before == 0);
    CHECK(out_of_range == 0);
}

}  // namespace test_policy_policy_alloc
