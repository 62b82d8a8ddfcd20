// cluster_config::one_function_at_a_time: when no function can affect
// another in an interval, the cluster simulates the functions one after
// another; the metrics must be those of the interleaved event loop, bit for
// bit, whatever the node, the distributions (deterministic ones tie) and the
// scaling and resizing between intervals.
#include <rlscale/sim/cluster.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace test_sim_cluster_one_at_a_time {

using namespace rlscale::sim;
using rlscale::function_metrics;

/// Same bits (NaN equals NaN: a mean latency with nothing completed).
bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_same(const function_metrics& a, const function_metrics& b) {
    CHECK(a.arrivals == b.arrivals);
    CHECK(a.completions == b.completions);
    CHECK(a.drops == b.drops);
    CHECK(same(a.throughput_rps, b.throughput_rps));
    CHECK(same(a.latency_mean_s, b.latency_mean_s));
    CHECK(same(a.latency.p50, b.latency.p50));
    CHECK(same(a.latency.p90, b.latency.p90));
    CHECK(same(a.latency.p95, b.latency.p95));
    CHECK(same(a.latency.p99, b.latency.p99));
    CHECK(same(a.latency.p999, b.latency.p999));
    CHECK(a.queue_length == b.queue_length);
    CHECK(a.in_service == b.in_service);
    CHECK(same(a.cpu_utilization, b.cpu_utilization));
    CHECK(same(a.memory_utilization, b.memory_utilization));
    CHECK(same(a.cpu_limit, b.cpu_limit));
    CHECK(same(a.memory_limit_mb, b.memory_limit_mb));
    CHECK(a.ready_replicas == b.ready_replicas);
    CHECK(a.starting_replicas == b.starting_replicas);
    CHECK(a.pending_replicas == b.pending_replicas);
    CHECK(a.cold_starts == b.cold_starts);
    CHECK(same(a.replica_seconds, b.replica_seconds));
}

/// Six functions of SCARLET's three profiles on a node of `cores` cores,
/// with deterministic service and cold starts if `ties`.
cluster_config six_functions(double cores, double memory_mb, bool ties) {
    cluster_config config{.node = {.cores = cores, .memory_mb = memory_mb, .cpu_overcommit = 2}, .functions = {}};
    const char* const names[] = {"fibonacci-python", "hotel-app-geo", "hotel-app-profile"};
    for (int f = 0; f < 6; ++f) {
        function_profile p = profile(names[f % 3]);
        if (ties) {
            p.service = service_time::deterministic(0.05);
            p.cold_start = service_time::deterministic(0.5);
        }
        const workload daily = sinusoidal(20 + 10 * f, 10, 120, 30);
        config.functions.push_back({.profile = p, .load = workload(daily.rates(), daily.bin_seconds(), true),
                                    .max_replicas = 10, .initial_replicas = 2, .queue_capacity = 256});
    }
    return config;
}

/// Runs the cluster both ways with the same random actions between
/// intervals; returns how many intervals ran one function at a time.
std::uint64_t compare(cluster_config config, double interval_s, std::uint64_t seed) {
    config.one_function_at_a_time = false;
    cluster interleaved(config, seed);
    config.one_function_at_a_time = true;
    cluster one_at_a_time(config, seed);
    std::vector<function_metrics> a(6);
    std::vector<function_metrics> b(6);
    std::mt19937_64 actions(seed);
    for (int step = 0; step < 200; ++step) {
        interleaved.step(interval_s, a);
        one_at_a_time.step(interval_s, b);
        for (std::size_t f = 0; f < a.size(); ++f) {
            CAPTURE(step);
            CAPTURE(f);
            check_same(a[f], b[f]);
        }
        for (std::uint32_t f = 0; f < 6; ++f) {
            const std::uint64_t u = actions() % 16;
            const auto x = actions();
            if (u < 6) {
                interleaved.set_replicas(f, static_cast<int>(x % 11));
                one_at_a_time.set_replicas(f, static_cast<int>(x % 11));
            } else if (u < 8) {
                interleaved.set_cpu_limit(f, 0.2 + static_cast<double>(x % 20) * 0.1);
                one_at_a_time.set_cpu_limit(f, 0.2 + static_cast<double>(x % 20) * 0.1);
            } else if (u < 10) {
                interleaved.set_memory_limit(f, 128 + static_cast<double>(x % 8) * 64);
                one_at_a_time.set_memory_limit(f, 128 + static_cast<double>(x % 8) * 64);
            }
        }
    }
    CHECK(interleaved.one_function_at_a_time_runs() == 0);
    return one_at_a_time.one_function_at_a_time_runs();
}

/// Four busy functions (service 0.5 s, so scale-ins leave replicas
/// draining in several functions at once) with memory limits of many
/// significant bits, on a node of ample cores and little memory; between
/// intervals, random scaling and resizing, and raises past the room left
/// while nothing is pending, which the room clamps. The room is the node's
/// memory less its running sum of placed limits, so the clamped limit
/// shows that sum to the last bit, including the releases of replicas that
/// finished draining while the functions ran one at a time. Returns how
/// many raises were clamped; `runs` is set to the intervals run one at a
/// time.
int compare_clamped_raises(std::uint64_t seed, std::uint64_t& runs) {
    cluster_config config{.node = {.cores = 1000, .memory_mb = 3000, .cpu_overcommit = 1}, .functions = {}};
    for (int f = 0; f < 4; ++f) {
        const function_profile p{.name = "f" + std::to_string(f), .service = service_time::exponential(0.5), .cpu_demand = 1,
                                 .memory_mb = 100.3 + 7.9 * f, .cpu_limit = 1, .cold_start = service_time::exponential(1)};
        config.functions.push_back({.profile = p, .load = constant(6 + 2 * f, 3600), .max_replicas = 10, .initial_replicas = 3,
                                    .queue_capacity = 64});
    }
    config.one_function_at_a_time = false;
    cluster interleaved(config, seed);
    config.one_function_at_a_time = true;
    cluster one_at_a_time(config, seed);
    std::vector<function_metrics> a(4);
    std::vector<function_metrics> b(4);
    std::mt19937_64 actions(seed);
    int clamped = 0;
    for (int step = 0; step < 300; ++step) {
        interleaved.step(5, a);
        one_at_a_time.step(5, b);
        bool pending = false;
        for (std::size_t f = 0; f < a.size(); ++f) {
            CAPTURE(step);
            CAPTURE(f);
            check_same(a[f], b[f]);
            pending = pending || a[f].pending_replicas > 0;
        }
        for (std::uint32_t f = 0; f < 4; ++f) {
            const std::uint64_t u = actions() % 8;
            const auto x = actions();
            if (u < 3) {
                interleaved.set_replicas(f, static_cast<int>(x % 11));
                one_at_a_time.set_replicas(f, static_cast<int>(x % 11));
                pending = true;  // a scale-out may leave replicas pending
            } else if (u < 5) {
                interleaved.set_memory_limit(f, 50 + static_cast<double>(x % 1000) * 0.37);
                one_at_a_time.set_memory_limit(f, 50 + static_cast<double>(x % 1000) * 0.37);
            } else if (u == 5 && !pending) {
                interleaved.set_memory_limit(f, 2999);
                one_at_a_time.set_memory_limit(f, 2999);
                CAPTURE(step);
                CAPTURE(f);
                CHECK(same(interleaved.memory_limit_mb(f), one_at_a_time.memory_limit_mb(f)));
                clamped += interleaved.memory_limit_mb(f) < 2999 ? 1 : 0;
            }
        }
    }
    runs = one_at_a_time.one_function_at_a_time_runs();
    return clamped;
}

TEST_CASE("one function at a time: the interleaved loop's metrics, bit for bit") {
    SUBCASE("a node no function can overload: every interval one at a time") {
        CHECK(compare(six_functions(200, 1e6, false), 15, 1) == 200);
        CHECK(compare(six_functions(200, 1e6, false), 1, 2) == 200);
    }
    SUBCASE("ties: deterministic service and cold starts") {
        CHECK(compare(six_functions(200, 1e6, true), 15, 3) == 200);
    }
    SUBCASE("a node that is sometimes full: the cluster switches between the two ways") {
        const std::uint64_t runs = compare(six_functions(24, 1e6, false), 15, 4);
        CHECK(runs > 10);
        CHECK(runs < 190);
        const std::uint64_t tied = compare(six_functions(24, 1e6, true), 15, 5);
        CHECK(tied > 10);
        CHECK(tied < 190);
    }
    SUBCASE("a node short of memory: pending replicas keep the functions interleaved") {
        CHECK(compare(six_functions(200, 4096, false), 15, 6) < 200);
    }
    SUBCASE("a raised memory limit clamped to the room left, with no replica pending") {
        // The replicas released while the functions ran one at a time leave
        // the node's memory sum in the interleaved loop's order, so the
        // room, and the limit clamped to it, are the same to the last bit.
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            CAPTURE(seed);
            std::uint64_t runs = 0;
            CHECK(compare_clamped_raises(seed, runs) > 10);
            CHECK(runs > 50);
        }
    }
}

}  // namespace test_sim_cluster_one_at_a_time
