// Proves that the VPA allocates nothing after construction: histograms are
// sized when built, and adding samples, renormalising the decaying
// histograms, recommending, deciding and recording OOMs reuse them.
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/vpa_policy.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace test_policy_vpa_alloc {

namespace {

using namespace rlscale;

/// Tick `t`: swinging CPU and memory usage, with a NaN and a negative value now and then.
function_metrics metrics_at(int t, const scaling_state& s) {
    function_metrics m;
    m.interval_s = 60;
    m.cpu_limit = s.cpu_limit;
    m.memory_limit_mb = s.memory_limit_mb;
    m.cpu_utilization = std::min(1.0, (0.3 + 0.2 * std::sin(t * 0.01)) / s.cpu_limit);
    m.memory_utilization = std::min(1.0, (300 + 100 * std::sin(t * 0.003)) / s.memory_limit_mb);
    m.ready_replicas = static_cast<std::uint32_t>(s.replicas);
    if (t % 97 == 11) m.cpu_utilization = std::numeric_limits<double>::quiet_NaN();
    if (t % 89 == 5) m.memory_utilization = -1;
    return m;
}

template <typename P>
long allocations_over_run(P& p) {
    scaling_state s{.replicas = 3, .min_replicas = 1, .max_replicas = 10, .cpu_limit = 1.0, .memory_limit_mb = 1000};
    const long before = test::allocation_count();
    // 300 simulated days at one tick a minute: the decaying histograms'
    // reference moves every 100 half-lives (days).
    for (int t = 0; t < 300 * 24 * 60; t += 7) {
        const decision d = p.decide(metrics_at(t, s), s);
        if (!std::isnan(d.cpu_limit)) s.cpu_limit = d.cpu_limit;
        if (!std::isnan(d.memory_limit_mb)) s.memory_limit_mb = d.memory_limit_mb;
        s.replicas = d.replicas;
        if (t % 5000 == 0) (void)p.on_oom(s);
        s.time_s += 7 * 60;
    }
    return test::allocation_count() - before;
}

}  // namespace

TEST_CASE("vpa_policy allocates nothing after construction") {
    vpa_policy p;
    CHECK(allocations_over_run(p) == 0);
    CHECK(p.recommender().aggregate().aggregate_cpu_usage.reference_timestamp_s() > 0);
}

TEST_CASE("hpa_vpa_policy allocates nothing after construction") {
    hpa_vpa_policy p;
    CHECK(allocations_over_run(p) == 0);
}

}  // namespace test_policy_vpa_alloc
