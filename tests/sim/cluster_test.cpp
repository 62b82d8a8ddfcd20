#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/simulation.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_sim_cluster {

using namespace rlscale::sim;
using rlscale::function_metrics;

namespace {

/// A function with exponential service of mean 1/μ, `concurrency` requests
/// per replica, 1 core per request and per replica, and a near-instant cold
/// start: the textbook server.
function_profile textbook(double mu, int concurrency = 1) {
    function_profile p;
    p.name = "textbook";
    p.service = service_time::exponential(1.0 / mu);
    p.cpu_demand = 1.0;
    p.cpu_limit = 1.0;
    p.memory_mb = 128;
    p.concurrency = concurrency;
    p.cold_start = service_time::deterministic(0.001);
    p.timeout_s = 1e9;
    p.slo_s = 1.0;
    return p;
}

/// A node large enough that processor sharing never slows anything.
node_config big_node() { return {.cores = 1024, .memory_mb = 1 << 24, .cpu_overcommit = 1}; }

struct run_totals {
    double completions = 0;
    double latency_sum = 0;
    double in_system_sum = 0;  // Σ (queue + in service) sampled at interval ends
    double samples = 0;
    double arrivals = 0;
    double time = 0;
    [[nodiscard]] double mean_latency() const { return latency_sum / completions; }
};

/// Runs `warmup` then `measured` seconds in steps of `interval`, summing the
/// measured intervals.
run_totals run(cluster& sim, double warmup, double measured, double interval = 100) {
    std::vector<function_metrics> m(sim.function_count());
    for (double t = 0; t < warmup; t += interval) sim.step(interval, m);
    run_totals totals;
    for (double t = 0; t < measured; t += interval) {
        sim.step(interval, m);
        totals.completions += static_cast<double>(m[0].completions);
        if (m[0].completions > 0) totals.latency_sum += m[0].latency_mean_s * static_cast<double>(m[0].completions);
        totals.in_system_sum += m[0].queue_length + m[0].in_service;
        totals.arrivals += static_cast<double>(m[0].arrivals);
        totals.samples += 1;
        totals.time += interval;
    }
    return totals;
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// offered load a = λ/μ.
double erlang_c(int c, double a) {
    double term = 1;  // a^k / k!
    double sum = 1;   // Σ_{k<c} a^k/k!
    for (int k = 1; k < c; ++k) {
        term *= a / k;
        sum += term;
    }
    const double top = term * a / c / (1 - a / c);  // a^c/c! · 1/(1-ρ)
    return top / (sum + top);
}

}  // namespace

TEST_CASE("M/M/1: mean waiting time matches ρ/(μ-λ) within 3 percent") {
    const double lambda = 0.5;
    const double mu = 1.0;
    cluster sim({.node = big_node(),
                 .functions = {{.profile = textbook(mu), .load = constant(lambda, 1e7, 1e7), .max_replicas = 1,
                                .initial_replicas = 1, .queue_capacity = 100000}}},
                42);
    const auto totals = run(sim, 2000, 2'000'000);
    const double wq_theory = (lambda / mu) / (mu - lambda);  // 1 s
    const double wq_sim = totals.mean_latency() - 1.0 / mu;
    MESSAGE("M/M/1 ρ=0.5: Wq simulated " << wq_sim << " s, theory " << wq_theory << " s");
    CHECK(wq_sim == doctest::Approx(wq_theory).epsilon(0.03));
    // Little's law: time-average number in system = λ·W.
    const double l_sampled = totals.in_system_sum / totals.samples;
    const double lambda_measured = totals.arrivals / totals.time;
    MESSAGE("Little: L sampled " << l_sampled << ", λW " << lambda_measured * totals.mean_latency());
    CHECK(l_sampled == doctest::Approx(lambda_measured * totals.mean_latency()).epsilon(0.03));
}

TEST_CASE("M/M/c: mean waiting time matches Erlang C within 3 percent") {
    const int c = 4;
    const double lambda = 3.0;
    const double mu = 1.0;
    cluster sim({.node = big_node(),
                 .functions = {{.profile = textbook(mu), .load = constant(lambda, 1e7, 1e7), .max_replicas = c,
                                .initial_replicas = c, .queue_capacity = 100000}}},
                7);
    const auto totals = run(sim, 2000, 600'000);
    const double wq_theory = erlang_c(c, lambda / mu) / (c * mu - lambda);
    const double wq_sim = totals.mean_latency() - 1.0 / mu;
    MESSAGE("M/M/4 ρ=0.75: Wq simulated " << wq_sim << " s, Erlang C " << wq_theory << " s");
    CHECK(wq_sim == doctest::Approx(wq_theory).epsilon(0.03));
}

TEST_CASE("requests are conserved: arrivals = completions + drops + in flight, through scaling and timeouts") {
    function_profile p = textbook(2.0, 3);
    p.timeout_s = 0.5;
    p.cold_start = service_time::exponential(2.0);
    cluster sim({.node = {.cores = 4, .memory_mb = 4096, .cpu_overcommit = 2},
                 .functions = {{.profile = p, .load = sinusoidal(20, 15, 120, 1000), .max_replicas = 20,
                                .initial_replicas = 2, .queue_capacity = 64},
                               {.profile = textbook(1.0), .load = constant(3, 1e6, 1e6), .max_replicas = 8,
                                .initial_replicas = 1}}},
                3);
    std::vector<function_metrics> m(2);
    rlscale::rng gen(5);
    std::uint64_t drops = 0;
    for (int tick = 0; tick < 600; ++tick) {
        sim.set_replicas(0, static_cast<int>(rlscale::uniform_index(gen, 25)) - 2);
        sim.set_replicas(1, static_cast<int>(rlscale::uniform_index(gen, 10)));
        if (tick % 50 == 0) sim.set_cpu_limit(1, rlscale::uniform(gen, 0.2, 2.0));
        sim.step(1.0, m);
        drops += m[0].drops;
        for (std::uint32_t f = 0; f < 2; ++f) {
            REQUIRE(sim.total_arrivals(f) == sim.total_completions(f) + sim.total_drops(f) + sim.in_flight(f));
            REQUIRE(sim.replicas(f) >= 0);
            REQUIRE(sim.replicas(f) <= sim.config().functions[f].max_replicas);
            REQUIRE(m[f].queue_length <= sim.config().functions[f].queue_capacity);
        }
    }
    CHECK(drops > 0);  // the churn and short timeout did drop requests
}

TEST_CASE("a full queue lets go of requests past their timeout before it turns an arrival away") {
    function_profile p = textbook(10.0);
    p.timeout_s = 2.0;
    cluster sim({.node = big_node(),
                 .functions = {{.profile = p, .load = constant(10, 1e6, 1e6), .max_replicas = 4, .initial_replicas = 0,
                                .queue_capacity = 10}}},
                4);
    std::vector<function_metrics> m(1);
    // No replica for 10 s: the queue fills within about a second; from then
    // on its oldest requests time out one by one, and each arrival that
    // finds it full takes the place of those that did.
    sim.step(10.0, m);
    CHECK(m[0].arrivals > 60);
    CHECK(m[0].completions == 0);
    CHECK(m[0].queue_length == 10);  // the latest arrivals, none past its timeout
    CHECK(m[0].drops == m[0].arrivals - 10);
    // A replica then serves the requests still within their timeout.
    sim.set_replicas(0, 1);
    sim.step(1.0, m);
    CHECK(m[0].completions >= 5);  // about ten at 10 per second, some of them the queued
    CHECK(sim.total_arrivals(0) == sim.total_completions(0) + sim.total_drops(0) + sim.in_flight(0));
}

TEST_CASE("cold starts visibly raise tail latency after a scale-out") {
    const auto p99_after_scale_out = [](double cold_start_s) {
        function_profile p = textbook(10.0);  // 100 ms service
        p.cold_start = service_time::deterministic(cold_start_s);
        cluster sim({.node = big_node(),
                     .functions = {{.profile = p, .load = step(2, 40, 60, 200), .max_replicas = 10,
                                    .initial_replicas = 1}}},
                    11);
        std::vector<function_metrics> m(1);
        for (int i = 0; i < 60; ++i) sim.step(1, m);
        sim.set_replicas(0, 8);  // 40 req/s needs ≥ 4 replicas of 10 req/s
        double worst = 0;
        for (int i = 0; i < 10; ++i) {
            sim.step(1, m);
            worst = std::max(worst, m[0].latency.p99);
        }
        return worst;
    };
    const double warm = p99_after_scale_out(0.01);
    const double cold = p99_after_scale_out(5.0);
    MESSAGE("worst p99 in the 10 s after scale-out: cold start 0.01 s → " << warm << " s, 5 s → " << cold << " s");
    CHECK(cold > 3 * warm);
}

TEST_CASE("two functions on an oversubscribed node slow each other") {
    const auto mean_latency_of_b = [](double rate_a) {
        function_profile p = textbook(10.0);  // 100 ms at one core
        cluster sim({.node = {.cores = 4, .memory_mb = 1 << 20, .cpu_overcommit = 16},
                     .functions = {{.profile = p, .load = constant(rate_a, 1e6, 1e6), .max_replicas = 40,
                                    .initial_replicas = 40},
                                   {.profile = p, .load = constant(10, 1e6, 1e6), .max_replicas = 40,
                                    .initial_replicas = 40}}},
                    13);
        std::vector<function_metrics> m(2);
        double sum = 0;
        double n = 0;
        for (int i = 0; i < 300; ++i) {
            sim.step(1, m);
            if (i >= 20 && m[1].completions > 0) {
                sum += m[1].latency_mean_s * static_cast<double>(m[1].completions);
                n += static_cast<double>(m[1].completions);
            }
        }
        return sum / n;
    };
    const double alone = mean_latency_of_b(0.0);   // B uses ~1 core of 4
    const double shared = mean_latency_of_b(50.0);  // A wants ~5 cores: the node is oversubscribed
    MESSAGE("B's mean latency: A idle " << alone << " s, A at 50 req/s " << shared << " s");
    CHECK(alone == doctest::Approx(0.1).epsilon(0.05));  // unslowed service, no queueing with 40 replicas
    CHECK(shared > 1.2 * alone);
}

TEST_CASE("the same seed gives identical metrics, another seed different ones") {
    const auto trace = [](std::uint64_t seed) {
        cluster sim({.node = {.cores = 8},
                     .functions = {{.profile = textbook(5.0, 2), .load = sinusoidal(10, 8, 60, 200), .max_replicas = 10,
                                    .initial_replicas = 2}}},
                    seed);
        std::vector<function_metrics> m(1);
        std::vector<double> out;
        for (int i = 0; i < 100; ++i) {
            sim.set_replicas(0, 1 + i % 7);
            sim.step(1, m);
            out.push_back(static_cast<double>(m[0].completions));
            out.push_back(m[0].latency_mean_s);
            out.push_back(m[0].replica_seconds);
        }
        return out;
    };
    const auto a = trace(99);
    const auto b = trace(99);
    const auto c = trace(100);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
    }
    // Another seed, other values: compared without NaNs (an interval with no
    // completion has a NaN mean latency, which no comparison equals).
    const auto finite = [](const std::vector<double>& v) {
        std::vector<double> out;
        for (const double x : v) out.push_back(std::isnan(x) ? -1.0 : x);
        return out;
    };
    CHECK(finite(a) != finite(c));
}

TEST_CASE("reset replays the same run") {
    cluster sim({.node = {.cores = 8},
                 .functions = {{.profile = textbook(5.0), .load = constant(4, 1e6, 1e6), .max_replicas = 4}}},
                1);
    std::vector<function_metrics> m(1);
    sim.step(50, m);
    const auto first = m[0].completions;
    sim.reset(1);
    CHECK(sim.now() == 0);
    sim.step(50, m);
    CHECK(m[0].completions == first);
}

TEST_CASE("metrics: replica-seconds, utilisation, limits and cold starts add up") {
    function_profile p = textbook(10.0);
    p.cold_start = service_time::deterministic(2.0);
    cluster sim({.node = big_node(),
                 .functions = {{.profile = p, .load = constant(5, 1e6, 1e6), .max_replicas = 4, .initial_replicas = 2}}},
                17);
    std::vector<function_metrics> m(1);
    sim.step(10, m);
    CHECK(m[0].replica_seconds == doctest::Approx(20.0));  // 2 replicas × 10 s
    CHECK(m[0].ready_replicas == 2);
    // 5 req/s × 0.1 s of one core = 0.5 busy cores over 2 cores of limit
    CHECK(m[0].cpu_utilization == doctest::Approx(0.25).epsilon(0.25));
    CHECK(m[0].cpu_limit == 1.0);
    sim.set_replicas(0, 4);
    sim.step(1, m);
    CHECK(m[0].starting_replicas == 2);
    CHECK(m[0].cold_starts == 0);
    sim.step(2, m);
    CHECK(m[0].cold_starts == 2);
    CHECK(m[0].ready_replicas == 4);
    sim.set_cpu_limit(0, 0.5);
    sim.step(1, m);
    CHECK(m[0].cpu_limit == 0.5);
}

TEST_CASE("replicas that do not fit stay pending until room frees up") {
    function_profile p = textbook(10.0);
    p.memory_mb = 1000;
    cluster sim({.node = {.cores = 64, .memory_mb = 3000, .cpu_overcommit = 1},
                 .functions = {{.profile = p, .load = constant(1, 1e6, 1e6), .max_replicas = 10, .initial_replicas = 1}}},
                2);
    std::vector<function_metrics> m(1);
    sim.set_replicas(0, 5);
    sim.step(1, m);
    CHECK(m[0].ready_replicas + m[0].starting_replicas == 3);
    CHECK(m[0].pending_replicas == 2);
    sim.set_replicas(0, 2);  // pending ones go first
    sim.step(1, m);
    CHECK(m[0].pending_replicas == 0);
    CHECK(m[0].ready_replicas == 2);
}

TEST_CASE("CPU utilisation is never negative, whatever rounding the running demand sum leaves") {
    // Demands of 0.3 cores do not sum back to exactly 0: idle intervals
    // after busy ones integrated a demand of about -6e-17.
    function_profile p = textbook(20.0, 4);
    p.cpu_demand = 0.3;
    cluster_config config{.node = {.cores = 8, .memory_mb = 16384}, .functions = {}};
    for (int i = 0; i < 3; ++i) {
        config.functions.push_back({.profile = p, .load = on_off(100, 60, 60, 3600), .max_replicas = 20, .initial_replicas = 2});
    }
    int intervals = 0;
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        cluster sim(config, seed);
        std::vector<function_metrics> m(3);
        for (int t = 0; t < 240; ++t) {
            sim.step(15, m);
            for (const auto& x : m) {
                CHECK(x.cpu_utilization >= 0);
                ++intervals;
            }
        }
    }
    CHECK(intervals == 2160);
}

TEST_CASE("bad configuration is rejected with the field named") {
    const function_config f{.profile = textbook(1.0), .load = constant(1, 10, 10)};
    CHECK_THROWS_WITH_AS(cluster({.node = {.cores = 0}, .functions = {f}}, 1), doctest::Contains("node.cores"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(cluster({.node = {.memory_mb = -1}, .functions = {f}}, 1), doctest::Contains("node.memory_mb"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {}}, 1), doctest::Contains("functions"), rlscale::config_error);
    function_config bad = f;
    bad.max_replicas = 0;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("functions[0].max_replicas"),
                         rlscale::config_error);
    bad = f;
    bad.initial_replicas = 99;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("functions[0].initial_replicas"),
                         rlscale::config_error);
    bad = f;
    bad.profile.concurrency = 0;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), "functions[0].profile.concurrency: must be >= 1, got 0",
                         rlscale::config_error);
    // A replica that could never be placed would block the node's pending queue for ever.
    bad = f;
    bad.profile.memory_mb = 70000;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("functions[0].profile.memory_mb"),
                         rlscale::config_error);
    bad = f;
    bad.profile.cpu_limit = 40;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("functions[0].profile.cpu_limit"),
                         rlscale::config_error);
    // Replica slots are bounded before they are summed or allocated.
    bad = f;
    bad.max_replicas = std::numeric_limits<int>::max();
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("functions[0].max_replicas"),
                         rlscale::config_error);
    bad.max_replicas = 600'000;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad, bad}}, 1), doctest::Contains("max_replicas summed over functions"),
                         rlscale::config_error);
    // So are the request and queue slots reserved with them (a named error, not bad_alloc).
    bad = f;
    bad.max_replicas = 1000;
    bad.profile.concurrency = 1000;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad, bad}}, 1),
                         doctest::Contains("max_replicas x profile.concurrency summed over functions: must be <= "),
                         rlscale::config_error);
    bad = f;
    bad.queue_capacity = std::numeric_limits<std::uint32_t>::max();
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1), doctest::Contains("queue_capacity summed over functions"),
                         rlscale::config_error);
    bad.queue_capacity = 1U << 23;
    CHECK_NOTHROW((void)cluster_config{.node = {}, .functions = {bad, bad}}.validate());  // 2^24 exactly: allowed
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad, bad, f}}, 1), doctest::Contains("queue_capacity summed over functions"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {f}, .latency_relative_error = 1e-10}, 1),
                         doctest::Contains("latency_relative_error"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(cluster({.node = {.cores = 0.005}, .functions = {f}}, 1), doctest::Contains("node.cores"), rlscale::config_error);
}

TEST_CASE("bad configuration: profile limits below the least a resize sets are rejected with the field named") {
    // set_cpu_limit clamps to at least 0.01 cores and set_memory_limit to at
    // least 1 MB, so a smaller profile limit would hold only until the first
    // resize and never come back.
    const function_config f{.profile = textbook(1.0), .load = constant(1, 10, 10)};
    function_config bad = f;
    bad.profile.cpu_limit = 0.001;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1),
                         "functions[0].profile.cpu_limit: must be finite and >= 0.01, got 0.001", rlscale::config_error);
    bad = f;
    bad.profile.memory_mb = 0.5;
    CHECK_THROWS_WITH_AS(cluster({.node = {}, .functions = {bad}}, 1),
                         "functions[0].profile.memory_mb: must be finite and >= 1, got 0.5", rlscale::config_error);
    // The least limits themselves: a resize below them and a reset agree.
    bad = f;
    bad.profile.cpu_limit = 0.01;
    bad.profile.memory_mb = 1;
    cluster sim({.node = {}, .functions = {bad}}, 1);
    sim.set_cpu_limit(0, 0.001);
    sim.set_memory_limit(0, 0.5);
    CHECK(sim.cpu_limit(0) == 0.01);
    CHECK(sim.memory_limit_mb(0) == 1);
    sim.reset(1);
    CHECK(sim.cpu_limit(0) == 0.01);
    CHECK(sim.memory_limit_mb(0) == 1);
}

TEST_CASE("bad configuration: latency sketches past 1 GiB in all are rejected naming latency_relative_error") {
    // At the least α, 10^-4, a sketch has 126,643 buckets (about 1 MB):
    // 4,096 functions would ask for 4 GB, within every slot bound. Only
    // validate runs here: nothing is allocated.
    CHECK(cluster_config::latency_sketch_bytes(1e-4) == 126'643 * 8.125);
    const function_config f{.profile = textbook(1.0), .load = constant(1, 10, 10), .max_replicas = 1, .initial_replicas = 0,
                            .queue_capacity = 1};
    cluster_config c{.node = {}, .functions = std::vector<function_config>(4096, f), .latency_relative_error = 1e-4};
    CHECK_THROWS_WITH_AS(c.validate(),
                         doctest::Contains("latency_relative_error: must leave the latency sketches of the 4096 functions at most 1 GiB "
                                           "in all (one per function and one shared, 1028974 bytes each; so at most 1042 functions "
                                           "at this value), got 1e-04"),
                         rlscale::config_error);
    c.functions.resize(1042, f);
    CHECK_NOTHROW(c.validate());
    c.functions.resize(1043, f);
    CHECK_THROWS_AS(c.validate(), rlscale::config_error);
    // The default α takes 20 kB a function: the 4,096 fit easily.
    c.functions.resize(4096, f);
    c.latency_relative_error = 0.005;
    CHECK_NOTHROW(c.validate());
}

}  // namespace test_sim_cluster

namespace test_sim_cluster_placement {

using namespace rlscale::sim;

TEST_CASE("both models: withdrawing the pending replica first in line places the ones behind it that fit") {
    function_profile a{.name = "a", .service = service_time::deterministic(0.1), .memory_mb = 600, .cpu_limit = 1.0,
                       .cold_start = service_time::deterministic(1.0)};
    function_profile b = a;
    b.name = "b";
    b.memory_mb = 100;
    cluster_config c{.node = {.cores = 8, .memory_mb = 1000}};
    c.functions.push_back({.profile = a, .load = constant(0.5, 3600), .max_replicas = 2, .initial_replicas = 1});
    c.functions.push_back({.profile = b, .load = constant(0.5, 3600), .max_replicas = 2, .initial_replicas = 0});
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        const std::string_view name = to_string(model);
        CAPTURE(name);
        simulation sim(c, 1, model);
        std::vector<rlscale::function_metrics> m(2);
        sim.set_replicas(0, 2);  // 600 MB more does not fit in the 400 MB left: pending
        sim.set_replicas(1, 1);  // 100 MB fits, but waits behind a's pending replica (oldest first)
        sim.step(5, m);
        CHECK(m[1].pending_replicas == 1);
        sim.set_replicas(0, 1);  // a's pending replica withdrawn: b's is placed
        sim.step(30, m);
        CHECK(m[1].pending_replicas == 0);
        CHECK(m[1].ready_replicas == 1);
    }
}

TEST_CASE("both models: at reset, initial replicas that fit wait behind an earlier function's that do not") {
    function_profile a{.name = "a", .service = service_time::deterministic(0.1), .memory_mb = 600, .cpu_limit = 1.0,
                       .cold_start = service_time::deterministic(1.0)};
    function_profile b = a;
    b.name = "b";
    b.memory_mb = 100;
    cluster_config c{.node = {.cores = 8, .memory_mb = 1000}};
    // a's second replica does not fit in the 400 MB its first leaves; b's 100 MB would.
    c.functions.push_back({.profile = a, .load = constant(0.5, 3600), .max_replicas = 2, .initial_replicas = 2});
    c.functions.push_back({.profile = b, .load = constant(0.5, 3600), .max_replicas = 2, .initial_replicas = 1});
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        const std::string_view name = to_string(model);
        CAPTURE(name);
        simulation sim(c, 1, model);
        std::vector<rlscale::function_metrics> m(2);
        for (int episode = 0; episode < 2; ++episode) {
            CAPTURE(episode);
            sim.reset(1 + static_cast<std::uint64_t>(episode));
            sim.step(5, m);
            CHECK(m[0].ready_replicas == 1);
            CHECK(m[0].pending_replicas == 1);
            CHECK(m[1].ready_replicas == 0);
            CHECK(m[1].pending_replicas == 1);
            sim.set_replicas(0, 1);  // a's pending replica withdrawn: b's is placed, and starts cold
            sim.step(30, m);
            CHECK(m[1].pending_replicas == 0);
            CHECK(m[1].ready_replicas == 1);
        }
    }
}

TEST_CASE("request model: a scale-out while every slot is still draining serves again with a draining replica") {
    const function_profile p{.name = "slow", .service = service_time::deterministic(10.0), .cpu_demand = 0.1, .memory_mb = 128,
                             .cpu_limit = 1.0, .concurrency = 1, .cold_start = service_time::deterministic(1.0),
                             .timeout_s = std::numeric_limits<double>::infinity()};
    cluster_config c{.node = {.cores = 8, .memory_mb = 16384}};
    c.functions.push_back({.profile = p, .load = constant(1.0, 3600), .max_replicas = 2, .initial_replicas = 2});
    cluster cl(c, 3);
    std::vector<rlscale::function_metrics> m(1);
    cl.step(5, m);
    REQUIRE(m[0].in_service == 2);
    cl.set_replicas(0, 0);  // both busy: both drain, holding the function's two slots
    cl.set_replicas(0, 2);  // no free slot: the two draining replicas serve again
    CHECK(cl.replicas(0) == 2);
    cl.step(20, m);
    CHECK(m[0].ready_replicas == 2);
    CHECK(m[0].completions >= 3);  // the queue is served (before: the two drained, 2 completions, then none)
}

}  // namespace test_sim_cluster_placement
