// Proves the encoders allocate nothing per encoding (after construction),
// with the counting allocator of tests/alloc_counter.cpp.
#include <rlscale/encode/encode.hpp>
#include <rlscale/reward/reward.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <vector>

namespace test_encode_encoders_alloc {

using namespace rlscale;

namespace {

long allocations() { return rlscale::test::allocation_count(); }

function_metrics tick(std::uint64_t arrivals) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = arrivals;
    m.completions = arrivals;
    m.throughput_rps = static_cast<double>(arrivals) / 10;
    m.latency_mean_s = 0.1;
    m.latency = {.p50 = 0.1, .p90 = 0.2, .p95 = 0.25, .p99 = 0.3, .p999 = 0.5};
    m.cpu_utilization = 0.5;
    m.memory_utilization = 0.4;
    m.ready_replicas = 2;
    return m;
}

scaling_state state() {
    scaling_state s;
    s.replicas = 2;
    s.slo = {.latency_s = 0.25, .percentile = 0.99, .target_rps = 50};
    return s;
}

}  // namespace

TEST_CASE("encoders allocate nothing per encoding, refused or not") {
    const scarlet_encoder scarlet;
    const simppo_encoder simppo({}, 3);
    const firm_encoder firm({}, 3);
    const polimi_encoder polimi(0.05, {.measured_cpu = true});
    const simppo_global_state global;
    std::vector<function_metrics> metrics{tick(100), tick(200), tick(300)};
    const std::vector<scaling_state> states(3, state());
    std::array<float, 16> out{};
    int ok = 0;

    const long before = allocations();
    for (int i = 0; i < 1000; ++i) {
        metrics[i % 3].arrivals = static_cast<std::uint64_t>(i);
        metrics[1].cpu_utilization = i % 7 == 0 ? std::numeric_limits<double>::quiet_NaN() : 0.5;  // refused now and then
        for (std::size_t f = 0; f < 3; ++f) {
            ok += static_cast<bool>(scarlet.encode(metrics[f], states[f], std::span(out).first(scarlet.size())));
            ok += static_cast<bool>(simppo.encode(metrics[f], states[f], std::span(out).first(simppo.size())));
            ok += static_cast<bool>(firm.encode(metrics[f], states[f], std::span(out).first(firm.size())));
            ok += static_cast<bool>(polimi.encode(metrics[f], states[f], std::span(out).first(polimi.size())));
            ok += static_cast<bool>(global.encode(metrics, states, states, f, out));
        }
    }
    const long after = allocations();
    CHECK(after - before == 0);
    CHECK(ok > 0);
}

TEST_CASE("the per-agent rewards allocate nothing") {
    const simppo_reward simppo;
    const firm_reward firm;
    const scarlet_reward scarlet;
    const team_average<simppo_reward> team{simppo};
    const std::vector<function_metrics> metrics{tick(100), tick(200), tick(300)};
    const std::vector<scaling_state> states(3, state());
    double sum = 0;

    const long before = allocations();
    for (int i = 0; i < 1000; ++i) {
        sum += simppo(std::span(metrics).first(1), std::span(states).first(1));
        sum += firm(std::span(metrics).first(1), std::span(states).first(1));
        sum += scarlet(metrics, states);
        sum += team(metrics, states);
    }
    const long after = allocations();
    CHECK(after - before == 0);
    CHECK(sum != 0);
}

}  // namespace test_encode_encoders_alloc
