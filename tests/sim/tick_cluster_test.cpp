#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/detail/poisson.hpp>
#include <rlscale/sim/env.hpp>
#include <rlscale/sim/simulation.hpp>
#include <rlscale/sim/tick_cluster.hpp>

#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_sim_tick_cluster {

using namespace rlscale::sim;
using rlscale::function_metrics;
using rlscale::rng;

namespace {

function_profile server(double mean_s, int concurrency = 1, double cpu_limit = 1.0) {
    function_profile p;
    p.name = "server";
    p.service = service_time::exponential(mean_s);
    p.cpu_demand = 1.0;
    p.cpu_limit = cpu_limit;
    p.memory_mb = 128;
    p.concurrency = concurrency;
    p.cold_start = service_time::deterministic(2.0);
    p.timeout_s = 30;
    return p;
}

cluster_config one_function(const function_profile& p, double rate, int replicas, int max_replicas = 10) {
    cluster_config c{.node = {.cores = 1e4, .memory_mb = 1e9, .cpu_overcommit = 1}, .functions = {}};
    c.functions.push_back({.profile = p, .load = constant(rate, 100'000, 15), .max_replicas = max_replicas,
                           .initial_replicas = replicas, .queue_capacity = 10'000});
    return c;
}

bool valid(const function_metrics& m) {
    const auto ok = [](double x) { return std::isfinite(x) && x >= 0; };
    if (!ok(m.cpu_utilization) || !ok(m.memory_utilization) || !ok(m.replica_seconds) || !ok(m.throughput_rps)) return false;
    if (m.completions == 0) return true;
    const auto& l = m.latency;
    return ok(m.latency_mean_s) && ok(l.p50) && l.p50 <= l.p90 && l.p90 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999 &&
           std::isfinite(l.p999);
}

}  // namespace

namespace {

/// A generator that always returns its largest value: uniform01 near 1 - 2^-53.
struct max_generator {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<std::uint64_t>::max(); }
    result_type operator()() { return max(); }
};

}  // namespace

TEST_CASE("detail::poisson: a uniform above the whole computed sum ends in the far tail, not where p underflows") {
    // Below a mean of 10 the draw inverts the cdf. A u past the rounded sum
    // of the pmf (here 8.083, whose sum stops short of 1 - 2^-53) once ran on
    // until the probabilities underflowed, returning ~286.
    max_generator gen;
    for (double mean = 0.01; mean < 10; mean += 0.001) {
        CAPTURE(mean);
        const auto k = detail::poisson(mean, gen);
        CHECK(static_cast<double>(k) >= mean);
        CHECK(k <= 50);
    }
    CHECK(detail::poisson(8.083, gen) <= 50);
}

TEST_CASE("detail::poisson: mean and variance equal the mean, and the probabilities match the pmf") {
    for (const double mean : {0.3, 2.0, 9.9, 10.0, 47.0, 2500.0}) {
        CAPTURE(mean);
        rng gen(7);
        constexpr int n = 200'000;
        double sum = 0;
        double sum2 = 0;
        std::vector<double> counts(64, 0);
        for (int i = 0; i < n; ++i) {
            const auto k = detail::poisson(mean, gen);
            const double x = static_cast<double>(k);
            sum += x;
            sum2 += x * x;
            const double offset = x - std::floor(mean) + 32;
            if (offset >= 0 && offset < 64) counts[static_cast<std::size_t>(offset)] += 1;
        }
        const double m = sum / n;
        const double v = sum2 / n - m * m;
        CHECK(std::abs(m - mean) < 6 * std::sqrt(mean / n));
        CHECK(std::abs(v - mean) < 6 * mean * std::sqrt(2.0 / n) + 1e-9);
        // The frequencies near the mode against the pmf, each within 6 standard errors.
        for (std::size_t j = 0; j < counts.size(); ++j) {
            const double k = std::floor(mean) - 32 + static_cast<double>(j);
            if (k < 0) continue;
            const double p = std::exp(-mean + k * std::log(mean) - detail::log_factorial(static_cast<std::uint64_t>(k)));
            CHECK(std::abs(counts[j] / n - p) < 6 * std::sqrt(p * (1 - p) / n) + 1e-5);
        }
    }
    rng gen(1);
    CHECK(detail::poisson(0.0, gen) == 0);
    CHECK(detail::poisson(-1.0, gen) == 0);
    CHECK(detail::poisson(std::numeric_limits<double>::quiet_NaN(), gen) == 0);
    CHECK(detail::poisson(std::numeric_limits<double>::infinity(), gen) == 0);
    // log_factorial against a direct sum, across the table's end.
    double direct = 0;
    for (std::uint64_t k = 1; k <= 40; ++k) {
        direct += std::log(static_cast<double>(k));
        CHECK(detail::log_factorial(k) == doctest::Approx(direct).epsilon(1e-13));
    }
}

TEST_CASE("detail::service_table: moments and quantiles of each kind") {
    const auto exp = detail::service_table::of(service_time::exponential(0.2));
    CHECK(exp.mean == doctest::Approx(0.2));
    CHECK(exp.cs2 == doctest::Approx(1.0));
    CHECK(exp.quantile(0.9) == doctest::Approx(-0.2 * std::log(0.1)).epsilon(1e-12));
    CHECK(exp.cdf(exp.quantile(0.3)) == doctest::Approx(0.3));
    const auto logn = detail::service_table::of(service_time::lognormal_from_mean_cv(1.0, 3.0));
    CHECK(logn.cs2 == doctest::Approx(9.0));
    const auto det = detail::service_table::of(service_time::deterministic(0.05));
    CHECK(det.cs2 == 0);
    CHECK(det.cdf(0.049) == 0);
    CHECK(det.cdf(0.05) == 1);
    // The empirical kind's second moment against sampling it.
    const service_time azure = service_time::from_azure_percentiles_ms({43, 57, 84, 162, 293, 1506, 10081});
    const auto emp = detail::service_table::of(azure);
    rng gen(3);
    double s = 0, s2 = 0;
    constexpr int n = 400'000;
    for (int i = 0; i < n; ++i) {
        const double x = azure.sample(gen);
        s += x;
        s2 += x * x;
    }
    const double mean = s / n;
    CHECK(emp.mean == doctest::Approx(mean).epsilon(0.01));
    CHECK(emp.cs2 == doctest::Approx((s2 / n - mean * mean) / (mean * mean)).epsilon(0.03));
    // Body and tail: 0.99 × body + 0.01 × tail is the mean; this tail (p99
    // 1.5 s, p100 10 s) is heavy, the exponential's (5.6× its body) is not.
    CHECK(0.99 * emp.body_mean + 0.01 * emp.tail_mean == doctest::Approx(emp.mean).epsilon(1e-9));
    CHECK(emp.tail_mean == doctest::Approx(0.5 * (1.506 + 10.081)).epsilon(0.01));
    CHECK(emp.heavy_tail());
    CHECK(!exp.heavy_tail());
    CHECK(exp.tail_mean / exp.body_mean == doctest::Approx((1 + std::log(100.0)) / ((1 - 0.01 * (1 + std::log(100.0))) / 0.99)).epsilon(0.02));
}

TEST_CASE("tick_cluster: conservation, whole counters and valid metrics under random scaling") {
    function_profile p = server(0.05, 4, 2.0);
    cluster_config config{.node = {.cores = 6, .memory_mb = 4096, .cpu_overcommit = 2}, .functions = {}};
    for (int f = 0; f < 3; ++f) {
        config.functions.push_back({.profile = p, .load = sinusoidal(60 + 30 * f, 50, 300, 3600), .max_replicas = 12,
                                    .initial_replicas = 2, .queue_capacity = 500});
    }
    tick_cluster sim(config, 11);
    std::vector<function_metrics> m(3);
    rng gen(5);
    std::uint64_t arrivals = 0;
    for (int tick = 0; tick < 400; ++tick) {
        for (std::uint32_t f = 0; f < 3; ++f) {
            sim.set_replicas(f, static_cast<int>(rlscale::uniform_index(gen, 14)) - 1);
            if (tick % 7 == 0) sim.set_cpu_limit(f, 0.1 + 3 * rlscale::uniform01(gen));
            if (tick % 11 == 0) sim.set_memory_limit(f, 50 + 400 * rlscale::uniform01(gen));
        }
        sim.step(15, m);
        for (std::uint32_t f = 0; f < 3; ++f) {
            CAPTURE(tick);
            CHECK(valid(m[f]));
            CHECK(sim.replicas(f) >= 0);
            CHECK(sim.replicas(f) <= 12);
            CHECK(m[f].ready_replicas + m[f].starting_replicas + m[f].pending_replicas == static_cast<std::uint32_t>(sim.replicas(f)));
            // Never more out than in (in_flight is the difference, so its
            // sum with the two is the arrivals by definition).
            CHECK(sim.total_completions(f) + sim.total_drops(f) <= sim.total_arrivals(f));
            CHECK(sim.total_arrivals(f) == sim.total_completions(f) + sim.total_drops(f) + sim.in_flight(f));
            CHECK(m[f].cpu_utilization <= 1.0 + 1e-9);
            CHECK(m[f].memory_utilization <= 1.0 + 1e-9);
            arrivals += m[f].arrivals;
        }
    }
    CHECK(arrivals > 100'000);
}

TEST_CASE("tick_cluster: the same seed gives the same metrics, reset restarts the run") {
    const cluster_config config = one_function(server(0.1), 30, 4);
    const auto run = [&](tick_cluster& sim) {
        std::vector<double> out;
        std::vector<function_metrics> m(1);
        for (int t = 0; t < 40; ++t) {
            sim.set_replicas(0, 2 + t % 5);
            sim.step(15, m);
            out.push_back(static_cast<double>(m[0].arrivals));
            out.push_back(m[0].latency.p90);
            out.push_back(m[0].replica_seconds);
        }
        return out;
    };
    tick_cluster a(config, 3);
    tick_cluster b(config, 3);
    const std::vector<double> first = run(a);
    CHECK(first == run(b));
    a.reset(3);
    CHECK(first == run(a));
    tick_cluster c(config, 4);
    CHECK(first != run(c));
}

TEST_CASE("tick_cluster: an M/M/1 queue's mean latency, and overload bounded by the timeout") {
    // ρ = 0.5: E[T] = 1/(μ − λ) = 0.2 s for μ = 10, λ = 5.
    tick_cluster sim(one_function(server(0.1), 5, 1), 1);
    std::vector<function_metrics> m(1);
    double latency = 0, completions = 0, arrivals = 0;
    for (int t = 0; t < 400; ++t) {
        sim.step(15, m);
        if (t < 20) continue;
        latency += m[0].latency_mean_s * static_cast<double>(m[0].completions);
        completions += static_cast<double>(m[0].completions);
        arrivals += static_cast<double>(m[0].arrivals);
    }
    CHECK(latency / completions == doctest::Approx(0.2).epsilon(0.03));
    CHECK(completions / arrivals == doctest::Approx(1.0).epsilon(0.01));
    // ρ = 1.5: throughput is the capacity, the rest times out after 30 s.
    tick_cluster over(one_function(server(0.1), 15, 1), 1);
    double served = 0, dropped = 0, p90 = 0;
    for (int t = 0; t < 200; ++t) {
        over.step(15, m);
        if (t < 20) continue;
        served += static_cast<double>(m[0].completions);
        dropped += static_cast<double>(m[0].drops);
        p90 = m[0].latency.p90;
        CHECK(m[0].cpu_utilization == doctest::Approx(1.0));
    }
    CHECK(served / (180 * 15) == doctest::Approx(10).epsilon(0.02));
    CHECK(dropped / (180 * 15) == doctest::Approx(5).epsilon(0.05));
    CHECK(p90 == doctest::Approx(30).epsilon(0.02));
}

TEST_CASE("tick_cluster: cold starts, pending replicas and scale-in order") {
    function_profile p = server(0.05);
    cluster_config config{.node = {.cores = 4, .memory_mb = 1e6, .cpu_overcommit = 1}, .functions = {}};
    config.functions.push_back({.profile = p, .load = constant(10, 10'000), .max_replicas = 8, .initial_replicas = 0});
    tick_cluster sim(config, 1);
    std::vector<function_metrics> m(1);
    sim.set_replicas(0, 6);  // 4 fit on 4 cores, 2 wait
    CHECK(sim.replicas(0) == 6);
    sim.step(1, m);
    CHECK(m[0].ready_replicas == 0);
    CHECK(m[0].starting_replicas == 4);
    CHECK(m[0].pending_replicas == 2);
    CHECK(m[0].completions == 0);  // nothing serves yet: arrivals wait
    sim.step(2, m);                // the 2-s cold start ends
    CHECK(m[0].ready_replicas == 4);
    CHECK(m[0].cold_starts == 4);
    CHECK(m[0].completions > 0);
    CHECK(m[0].latency.p99 > 1.0);  // the first requests waited for a replica
    sim.set_replicas(0, 3);         // pending ones go first, then ready ones
    sim.step(1, m);
    CHECK(m[0].pending_replicas == 0);
    CHECK(m[0].ready_replicas == 3);
    sim.set_replicas(0, INT_MAX);
    CHECK(sim.replicas(0) == 8);
    sim.set_replicas(0, INT_MIN);
    CHECK(sim.replicas(0) == 0);
    sim.set_cpu_limit(0, std::numeric_limits<double>::quiet_NaN());
    CHECK(sim.cpu_limit(0) == 1.0);
    sim.set_cpu_limit(0, 1e9);
    CHECK(sim.cpu_limit(0) == 4.0);
    sim.set_memory_limit(0, -5);
    CHECK(sim.memory_limit_mb(0) == 1.0);
}

TEST_CASE("tick_cluster: node contention slows every function when the work exceeds the cores") {
    // Two functions, each 4 one-core replicas under 3 cores of work, on 4 cores:
    // 6 cores of work on 4 cores, so each serves about 2 cores' worth.
    cluster_config config{.node = {.cores = 4, .memory_mb = 1e6, .cpu_overcommit = 2}, .functions = {}};
    for (int f = 0; f < 2; ++f) {
        config.functions.push_back({.profile = server(0.1), .load = constant(30, 10'000), .max_replicas = 4, .initial_replicas = 4});
    }
    tick_cluster sim(config, 2);
    std::vector<function_metrics> m(2);
    double served = 0;
    for (int t = 0; t < 60; ++t) {
        sim.step(15, m);
        if (t >= 10) served += static_cast<double>(m[0].completions + m[1].completions);
    }
    CHECK(served / (50 * 15) == doctest::Approx(40).epsilon(0.03));  // 4 cores / 0.1 s
}

TEST_CASE("tick_cluster: errors and options") {
    CHECK_THROWS_WITH_AS(tick_cluster(one_function(server(0.1), 1, 1), 1, tick_options{.substep_s = 0}),
                         doctest::Contains("tick_options.substep_s"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(tick_cluster(one_function(server(0.1), 1, 1), 1, tick_options{.substep_s = 1e-9}),
                         doctest::Contains("tick_options.substep_s"), rlscale::config_error);
    cluster_config bad = one_function(server(0.1), 1, 1);
    bad.functions[0].initial_replicas = 99;
    CHECK_THROWS_AS(tick_cluster(bad, 1), rlscale::config_error);
    // A coarser sub-step keeps the long-run figures.
    tick_cluster fine(one_function(server(0.1), 5, 1), 1);
    tick_cluster coarse(one_function(server(0.1), 5, 1), 1, {.substep_s = 5});
    std::vector<function_metrics> m(1);
    double a = 0, b = 0;
    for (int t = 0; t < 200; ++t) {
        fine.step(15, m);
        a += static_cast<double>(m[0].completions);
        coarse.step(15, m);
        b += static_cast<double>(m[0].completions);
    }
    CHECK(a == doctest::Approx(b).epsilon(0.03));
}

TEST_CASE("both models: an interval that is not finite and positive is refused, and nothing moves") {
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        CAPTURE(to_string(model));
        simulation sim(one_function(server(0.1), 5, 2), 1, model);
        std::vector<function_metrics> m(1);
        sim.step(15, m);
        const double now = sim.now();
        for (const double bad : {0.0, -5.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
            CAPTURE(bad);
            CHECK_THROWS_WITH_AS(sim.step(bad, m), doctest::Contains("interval_s"), rlscale::config_error);
            CHECK(sim.now() == now);
        }
        sim.step(15, m);
        CHECK(sim.now() == now + 15);
    }
}

TEST_CASE("both models: a metrics span without one entry per function is refused, and nothing moves") {
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        CAPTURE(to_string(model));
        cluster_config config = one_function(server(0.1), 5, 2);
        config.functions.push_back(config.functions[0]);
        config.functions[1].profile.name = "second";
        simulation sim(config, 1, model);
        std::vector<function_metrics> two(2);
        sim.step(15, two);
        const double now = sim.now();
        for (const std::size_t size : {0, 1, 3}) {
            CAPTURE(size);
            std::vector<function_metrics> wrong(size);
            const std::string expected = "out: must hold one entry per function (2), got " + std::to_string(size);
            CHECK_THROWS_WITH_AS(sim.step(15, wrong), doctest::Contains(expected.c_str()), rlscale::config_error);
            CHECK(sim.now() == now);
        }
        // The next interval is one interval: nothing was carried over.
        sim.step(15, two);
        CHECK(sim.now() == now + 15);
        CHECK(two[1].interval_s == 15);
        CHECK(two[1].arrivals < 2 * 15 * 5);
    }
}

TEST_CASE("both models: a CPU limit is clamped to the node's cores times the overcommit, as a profile's is validated") {
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        CAPTURE(to_string(model));
        cluster_config config = one_function(server(0.1, 1, 6.0), 1, 1);
        config.node = {.cores = 4, .memory_mb = 1e6, .cpu_overcommit = 1.5};
        simulation sim(config, 1, model);
        CHECK(sim.cpu_limit(0) == 6.0);
        sim.set_cpu_limit(0, 6.0);  // the limit it started with stays
        CHECK(sim.cpu_limit(0) == 6.0);
        sim.set_cpu_limit(0, 100.0);
        CHECK(sim.cpu_limit(0) == 6.0);
        sim.set_cpu_limit(0, 0.0);
        CHECK(sim.cpu_limit(0) == 0.01);
    }
}

TEST_CASE("both models: a smaller CPU limit places pending replicas it leaves room for") {
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        CAPTURE(to_string(model));
        // 4 cores, no overcommit: 4 replicas of 1 core fit, 2 more wait.
        cluster_config config{.node = {.cores = 4, .memory_mb = 1e6, .cpu_overcommit = 1}, .functions = {}};
        config.functions.push_back({.profile = server(0.1), .load = constant(1, 1e6, 1e6), .max_replicas = 10, .initial_replicas = 4});
        simulation sim(config, 1, model);
        std::vector<function_metrics> m(1);
        sim.set_replicas(0, 6);
        sim.step(1, m);
        CHECK(m[0].pending_replicas == 2);
        sim.set_cpu_limit(0, 0.5);  // 6 × 0.5 = 3 cores: all fit now
        sim.step(1, m);
        CHECK(m[0].pending_replicas == 0);
    }
}

TEST_CASE("tick_cluster: a request rate beyond 2^64 per interval saturates the counts instead of converting out of range") {
    cluster_config config = one_function(server(0.1), 5, 2);
    config.functions[0].load = constant(1e21, 1e6, 1e6);
    tick_cluster huge(config, 1);
    std::vector<function_metrics> m(1);
    huge.step(15, m);
    CHECK(m[0].arrivals > std::uint64_t{1} << 63);  // 1.5e22 requests: saturated, not 0
    CHECK(m[0].drops > std::uint64_t{1} << 62);
    CHECK(valid(m[0]));
}

TEST_CASE("simulation and cluster_env choose the model per environment") {
    const cluster_config config = one_function(server(0.1), 5, 2);
    simulation request(config, 1);
    simulation tick(config, 1, sim_model::tick);
    CHECK(request.model() == sim_model::request);
    CHECK(tick.model() == sim_model::tick);
    CHECK(sim_model_from_string("tick") == sim_model::tick);
    CHECK(to_string(sim_model::request) == "request");
    CHECK_THROWS_WITH_AS(sim_model_from_string("fluid", "--model"), doctest::Contains("--model"), rlscale::config_error);
    cluster_env<> env(config, {.episode_steps = 10, .actions = action_kind::replica_count, .model = sim_model::tick});
    CHECK(env.simulation().model() == sim_model::tick);
    env.reset(1);
    const std::vector<double> action{3};
    const step_result r = env.step(action);
    CHECK(env.simulation().replicas(0) == 3);
    CHECK(r.info[0].arrivals > 0);
    CHECK(r.observation_valid);
}

TEST_CASE("detail::gamma: mean and variance equal the shape") {
    for (const double shape : {1.0, 3.5, 40.0, 1e4}) {
        CAPTURE(shape);
        rng gen(9);
        constexpr int n = 200'000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; ++i) {
            const double x = detail::gamma(shape, gen);
            CHECK_FALSE(x < 0);
            s += x;
            s2 += x * x;
        }
        const double m = s / n;
        CHECK(std::abs(m - shape) < 6 * std::sqrt(shape / n));
        CHECK(std::abs(s2 / n - m * m - shape) < 6 * shape * std::sqrt((2.0 + 6.0 / shape) / n));
    }
    rng gen(1);
    CHECK(detail::gamma(0.0, gen) == 0);
}

TEST_CASE("tick_cluster: an interval's percentiles are order statistics of its completions") {
    // About one request per interval: with one completion every percentile is
    // that request's latency; with few, p99 is their largest, so it varies
    // from interval to interval and its mean lies far below the distribution's p99.
    tick_cluster sim(one_function(server(0.1), 1.0 / 15, 1), 4);
    std::vector<function_metrics> m(1);
    int single = 0;
    for (int t = 0; t < 300; ++t) {
        sim.step(15, m);
        if (m[0].completions == 1) {
            ++single;
            CHECK(m[0].latency.p50 == m[0].latency.p999);
        }
    }
    CHECK(single > 50);
    tick_cluster busy(one_function(server(0.1), 2.0, 1), 4);  // ρ = 0.2, 30 requests per interval
    double p99_sum = 0;
    double p99_min = 1e9, p99_max = 0;
    for (int t = 0; t < 200; ++t) {
        busy.step(15, m);
        p99_sum += m[0].latency.p99;
        p99_min = std::min(p99_min, m[0].latency.p99);
        p99_max = std::max(p99_max, m[0].latency.p99);
    }
    // The sojourn is exponential with rate μ − λ = 8/s: p99 = ln(100)/8 = 0.576 s;
    // the largest of 30 has mean H_30/8 = 0.50 s.
    CHECK(p99_sum / 200 == doctest::Approx(0.50).epsilon(0.08));
    CHECK(p99_max > 1.5 * p99_min);
}

TEST_CASE("tick_cluster: the queue and the requests in service are snapshots that vary") {
    tick_cluster sim(one_function(server(0.1), 8, 1), 6);  // M/M/1 at ρ = 0.8: mean queue 3.2
    std::vector<function_metrics> m(1);
    double queue = 0, empty = 0, busy = 0;
    constexpr int n = 2000;
    for (int t = 0; t < n; ++t) {
        sim.step(15, m);
        queue += m[0].queue_length;
        empty += m[0].queue_length == 0 ? 1 : 0;
        busy += m[0].in_service;
        CHECK(m[0].in_service <= 1);
    }
    CHECK(queue / n == doctest::Approx(3.2).epsilon(0.15));
    CHECK(empty / n == doctest::Approx(1 - 0.64).epsilon(0.15));  // P(no one waits) = 1 − ρ² in M/M/1
    CHECK(busy / n == doctest::Approx(0.8).epsilon(0.1));
}

namespace {

struct interval_stats {
    double mean = 0;
    double sd = 0;
};

interval_stats stats(const std::vector<double>& x) {
    double m = 0, v = 0;
    for (const double e : x) m += e;
    m /= static_cast<double>(x.size());
    for (const double e : x) v += (e - m) * (e - m);
    return {m, std::sqrt(v / static_cast<double>(x.size()))};
}

// An Azure Functions 2019 function with a far tail (p99 0.71 s, p100 13.4 s:
// 1 % of the requests hold a server for about 7 s) at 8 req/s on 6
// replicas: per interval, the CPU utilisation, the queue and the p90.
struct per_interval {
    std::vector<double> cpu, queue, p90;
};

template <class Model>
per_interval run_heavy_tail(Model& sim, int intervals) {
    std::vector<function_metrics> m(1);
    per_interval out;
    for (int t = 0; t < intervals; ++t) {
        sim.step(15, m);
        if (t < 4) continue;
        out.cpu.push_back(m[0].cpu_utilization);
        out.queue.push_back(m[0].queue_length);
        out.p90.push_back(std::isnan(m[0].latency.p90) ? 0.0 : m[0].latency.p90);
    }
    return out;
}

}  // namespace

TEST_CASE("tick_cluster: a far tail holds servers, and an interval's queue and p90 vary as the request-level model's") {
    function_profile p = server(0.5);
    p.service = service_time::from_azure_percentiles_ms({258, 357, 376, 394, 409, 713, 13440});
    REQUIRE(detail::service_table::of(p.service).heavy_tail());
    const cluster_config config = one_function(p, 8.0, 6);
    constexpr int intervals = 2000;
    cluster request(config, 11);
    tick_cluster tick(config, 11);
    const per_interval r = run_heavy_tail(request, intervals);
    const per_interval t = run_heavy_tail(tick, intervals);
    const interval_stats rc = stats(r.cpu), tc = stats(t.cpu);
    const interval_stats rq = stats(r.queue), tq = stats(t.queue);
    const interval_stats rp = stats(r.p90), tp = stats(t.p90);
    const auto within = [](double tick_value, double request_value, double relative) {
        return std::abs(tick_value - request_value) <= relative * std::abs(request_value);
    };
    // The means agree as the validation grid's do ...
    CHECK(within(tc.mean, rc.mean, 0.03));
    CHECK(within(tp.mean, rp.mean, 0.1));
    // ... and so does the spread from one interval to the next. With the
    // tail's mean occupancy alone the CPU's was 0.62 of the request-level
    // model's, the queue's 0.37 and the p90's 0.11.
    CHECK(within(tc.sd, rc.sd, 0.2));
    CHECK(within(tq.sd, rq.sd, 0.3));
    CHECK(within(tp.sd, rp.sd, 0.3));
    CHECK(within(tq.mean, rq.mean, 0.4));
}

}  // namespace test_sim_tick_cluster
