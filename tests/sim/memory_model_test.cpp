#include <rlscale/sim/cluster.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace test_sim_memory_model {

using namespace rlscale::sim;
using rlscale::function_metrics;

namespace {

/// Exponential service of mean 1 s, 8 requests per replica when memory
/// allows, 0.25 core per request (2 cores serve all 8 at full speed), and
/// the absolute memory model: 200 MB idle plus 50 MB per request.
function_profile memory_hungry() {
    function_profile p;
    p.name = "memory-hungry";
    p.service = service_time::exponential(1.0);
    p.cpu_demand = 0.25;
    p.cpu_limit = 2.0;
    p.memory_mb = 600;
    p.concurrency = 8;
    p.cold_start = service_time::deterministic(0.001);
    p.timeout_s = 1e9;
    p.memory_working_set_mb = 200;
    p.memory_per_request_mb = 50;
    return p;
}

cluster make(const function_profile& p, double rate) {
    return cluster({.node = {.cores = 64, .memory_mb = 1 << 20, .cpu_overcommit = 1},
                    .functions = {{.profile = p, .load = constant(rate, 1e6, 1e6), .max_replicas = 4, .initial_replicas = 2,
                                   .queue_capacity = 100000}}},
                   3);
}

struct totals {
    double latency = 0;
    double completions = 0;
    double memory_utilization = 0;
    int intervals = 0;
};

totals run(cluster& sim, double seconds) {
    std::vector<function_metrics> m(1);
    totals t;
    for (double s = 0; s < seconds; s += 60) {
        sim.step(60, m);
        t.latency += m[0].latency_mean_s * static_cast<double>(m[0].completions);
        t.completions += static_cast<double>(m[0].completions);
        t.memory_utilization += m[0].memory_utilization;
        ++t.intervals;
    }
    return t;
}

}  // namespace

TEST_CASE("function_profile::concurrency_at: what fits in the memory limit, at least 1, at most the concurrency") {
    const function_profile p = memory_hungry();
    CHECK(p.concurrency_at(600) == 8);
    CHECK(p.concurrency_at(1e6) == 8);
    CHECK(p.concurrency_at(349) == 2);
    CHECK(p.concurrency_at(250) == 1);
    CHECK(p.concurrency_at(10) == 1);
    function_profile proportional = p;
    proportional.memory_working_set_mb = 0;
    CHECK(proportional.concurrency_at(10) == 8);
}

TEST_CASE("absolute memory model: a smaller memory limit costs concurrency and latency, a larger one costs utilisation") {
    // 6 requests/s over 2 replicas of mean service 1 s: 3 in service per replica.
    cluster roomy = make(memory_hungry(), 6);
    cluster starved = make(memory_hungry(), 6);
    starved.set_memory_limit(0, 320);  // (320 - 200) / 50 = 2 requests per replica: overloaded
    const totals a = run(roomy, 1800);
    const totals b = run(starved, 1800);
    const double mean_a = a.latency / a.completions;
    const double mean_b = b.latency / b.completions;
    MESSAGE("mean latency: 600 MB " << mean_a << " s, 320 MB " << mean_b << " s");
    CHECK(mean_a < 1.3);
    CHECK(mean_b > 3 * mean_a);
    // Memory used does not scale with the limit: (200 + 50·3) / 600 at 3 in service per replica.
    const double util_a = a.memory_utilization / a.intervals;
    MESSAGE("memory utilisation at 600 MB: " << util_a);
    CHECK(util_a == doctest::Approx(350.0 / 600).epsilon(0.05));
    // Back to a roomy limit: concurrency returns and the queue drains.
    starved.set_memory_limit(0, 600);
    run(starved, 1800);
    const totals c = run(starved, 1800);
    CHECK(c.latency / c.completions < 1.3);
}

TEST_CASE("proportional memory model unchanged: utilisation is the idle fraction of the limit when idle") {
    function_profile p = memory_hungry();
    p.memory_working_set_mb = 0;
    p.memory_per_request_mb = 0;
    cluster sim = make(p, 0);
    std::vector<function_metrics> m(1);
    sim.step(60, m);
    CHECK(m[0].memory_utilization == doctest::Approx(0.6));
    sim.set_memory_limit(0, 300);
    sim.step(60, m);
    CHECK(m[0].memory_utilization == doctest::Approx(0.6));
}

}  // namespace test_sim_memory_model

namespace test_sim_memory_model_concurrency {

using namespace rlscale::sim;

namespace {

/// One replica of a 10-s function whose concurrency follows its memory limit
/// (working set 100 MB, 50 MB per request, at most 4): 10 requests at t < 1.
cluster one_replica(double memory_mb) {
    const function_profile p{.name = "x", .service = service_time::deterministic(10.0), .cpu_demand = 0.1, .memory_mb = memory_mb,
                             .cpu_limit = 1.0, .concurrency = 4, .cold_start = service_time::deterministic(1.0),
                             .timeout_s = std::numeric_limits<double>::infinity(), .memory_working_set_mb = 100,
                             .memory_per_request_mb = 50};
    std::vector<double> rates(1000, 0.0);
    rates[0] = 10;
    cluster_config c{.node = {.cores = 8, .memory_mb = 16384}};
    c.functions.push_back({.profile = p, .load = workload(rates, 1.0), .max_replicas = 1, .initial_replicas = 1});
    return cluster(c, 7);
}

}  // namespace

TEST_CASE("memory model: a raised concurrency takes queued requests at once, a lowered one is not refilled past its level") {
    std::vector<rlscale::function_metrics> m(1);
    SUBCASE("raised") {
        cluster c = one_replica(150);  // concurrency 1
        c.step(2.0, m);
        REQUIRE(m[0].in_service == 1);
        const auto queued = m[0].queue_length;
        REQUIRE(queued >= 4);
        c.set_memory_limit(0, 300);  // concurrency 4: three more from the queue now
        c.step(1.0, m);
        CHECK(m[0].in_service == 4);
        CHECK(m[0].queue_length == queued - 3);
    }
    SUBCASE("lowered") {
        cluster c = one_replica(300);  // concurrency 4
        c.step(2.0, m);
        REQUIRE(m[0].in_service == 4);
        REQUIRE(m[0].queue_length >= 2);
        c.set_memory_limit(0, 150);  // concurrency 1: the four running finish where they run
        c.step(1.0, m);
        CHECK(m[0].in_service == 4);
        c.step(10.0, m);  // they finished at t = 10; one new request took their place
        CHECK(m[0].completions == 4);
        CHECK(m[0].in_service == 1);
        c.step(10.0, m);
        CHECK(m[0].completions == 1);
        CHECK(m[0].in_service == 1);
    }
}

}  // namespace test_sim_memory_model_concurrency
