#include "../../examples/common/simppo_scenario.hpp"

#include <rlscale/core/control.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

namespace test_examples_simppo_scenario {

using namespace rlscale;
using namespace rlscale::examples;

namespace {

/// What one function did over an episode.
struct function_record {
    int ticks = 0;             ///< intervals with arrivals
    int violations = 0;        ///< of those, SLO violated (latency at p99 above the bound, or drops)
    double p99_ratio_sum = 0;  ///< Σ p99 / SLO over intervals with completions
    int p99_ticks = 0;         ///< intervals with completions

    [[nodiscard]] double violation_rate() const { return ticks > 0 ? static_cast<double>(violations) / ticks : 0.0; }
    [[nodiscard]] double mean_p99_ratio() const { return p99_ticks > 0 ? p99_ratio_sum / p99_ticks : 0.0; }
};

/// Runs one episode holding every function at `replicas` (absolute targets
/// through step_to, limits unchanged), recording each function's SLO record.
std::vector<function_record> run_fixed(const sim::cluster_config& cluster, const sim::env_config& env_config, int replicas,
                                       std::uint64_t seed) {
    sim::cluster_env<> env(cluster, env_config);
    (void)env.reset(seed);
    const std::size_t n = env.function_count();
    const std::vector<scaling_target> targets(n, scaling_target{.replicas = replicas});
    std::vector<function_record> out(n);
    int steps = 0;
    for (;;) {
        const sim::step_result r = env.step_to(targets);
        ++steps;
        for (std::size_t f = 0; f < n; ++f) {
            const function_metrics& m = r.info[f];
            const scaling_state& s = env.states()[f];
            if (m.arrivals > 0) {
                ++out[f].ticks;
                if (violates_slo(m, s)) ++out[f].violations;
            }
            if (m.completions > 0) {
                out[f].p99_ratio_sum += m.latency.p99 / s.slo.latency_s;
                ++out[f].p99_ticks;
            }
        }
        if (r.truncated) break;
    }
    CHECK(steps == env_config.episode_steps);
    return out;
}

/// Each function alone on its node, one episode each.
std::vector<function_record> run_isolated(const simppo_scenario& sc, int replicas, std::uint64_t seed) {
    std::vector<function_record> out;
    for (std::size_t i = 0; i < sc.size(); ++i) out.push_back(run_fixed(sc.isolated_node(i), sc.isolated_env(i), replicas, seed).front());
    return out;
}

double mean_violation_rate(const std::vector<function_record>& r) {
    double s = 0;
    for (const auto& f : r) s += f.violation_rate();
    return s / static_cast<double>(r.size());
}

double mean_p99_ratio(const std::vector<function_record>& r) {
    double s = 0;
    for (const auto& f : r) s += f.mean_p99_ratio();
    return s / static_cast<double>(r.size());
}

/// Generous replicas: 1.5 × the highest load any function can offer (2
/// replicas' worth on average, capped at 4 × that), so requests rarely wait.
constexpr int generous = 12;

simppo_scenario_config twelve(simppo_load_source load, int initial_replicas) {
    simppo_scenario_config c;
    c.functions = 12;
    c.load = load;
    c.initial_replicas = initial_replicas;
    c.seed = 7;
    return c;
}

void report(const char* what, const simppo_scenario& sc, const std::vector<function_record>& r) {
    std::string line = std::string(what) + (sc.from_trace() ? " (trace " + sc.trace_dir()->string() + ")" : " (synthetic)") +
                       ", violation rate / mean p99 over SLO:";
    for (std::size_t i = 0; i < r.size(); ++i) {
        line += " " + std::string(sc.label(i)) + " " + std::to_string(r[i].violation_rate()).substr(0, 4) + "/" +
                std::to_string(r[i].mean_p99_ratio()).substr(0, 4);
    }
    MESSAGE(line);
}

/// One episode with too few replicas on the shared node, and one with
/// generous replicas on the shared node and on isolated nodes.
void check_load_is_meaningful(simppo_load_source load) {
    // Too few replicas on the shared node: some function violates its SLO (here all, always).
    const simppo_scenario small(twelve(load, 1));
    const std::vector<function_record> starved = run_fixed(small.shared_node(), small.shared_env(), 1, 11);
    report("shared node, 1 replica", small, starved);
    const auto worst = std::max_element(starved.begin(), starved.end(), [](const auto& a, const auto& b) {
        return a.violation_rate() < b.violation_rate();
    });
    CHECK(worst->violation_rate() > 0.5);
    CHECK(mean_violation_rate(starved) > 0.5);

    // Generous replicas: alone, every function mostly meets its SLO (the
    // per-interval p99 of a lognormal service misses a 1.15 × p99 bound now
    // and then even without queueing, the I/O profile most).
    const simppo_scenario sc(twelve(load, generous));
    const std::vector<function_record> isolated = run_isolated(sc, generous, 11);
    report("isolated nodes, generous replicas", sc, isolated);
    for (std::size_t i = 0; i < sc.size(); ++i) {
        CAPTURE(i);
        CHECK(isolated[i].ticks >= 40);  // of 50 intervals; a trace has minutes without a request
        CHECK(isolated[i].violation_rate() <= 0.3);
        CHECK(isolated[i].mean_p99_ratio() < 1.0);
    }
    CHECK(mean_violation_rate(isolated) <= 0.2);

    // The same replicas on the shared node: contention makes p99 worse.
    const std::vector<function_record> shared = run_fixed(sc.shared_node(), sc.shared_env(), generous, 11);
    report("shared node, generous replicas", sc, shared);
    int worse = 0;
    for (std::size_t i = 0; i < sc.size(); ++i) worse += shared[i].mean_p99_ratio() > isolated[i].mean_p99_ratio() ? 1 : 0;
    MESSAGE("mean violation rate: starved " << mean_violation_rate(starved) << ", shared " << mean_violation_rate(shared)
                                            << ", isolated " << mean_violation_rate(isolated) << "; mean p99 / SLO: shared "
                                            << mean_p99_ratio(shared) << ", isolated " << mean_p99_ratio(isolated) << "; "
                                            << worse << " of 12 functions worse shared");
    CHECK(worse >= 9);
    CHECK(mean_p99_ratio(shared) > 1.03 * mean_p99_ratio(isolated));
    CHECK(mean_violation_rate(shared) > 1.3 * mean_violation_rate(isolated));
}

}  // namespace

TEST_CASE("simppo scenario: 12 functions of three categories, their bounds, SLO at p99 and environments") {
    const simppo_scenario sc(twelve(simppo_load_source::synthetic, 1));
    REQUIRE(sc.size() == 12);
    CHECK_FALSE(sc.from_trace());
    const std::vector<std::string> labels = sc.labels();
    const std::vector<std::string> expected{"cpu", "memory", "io", "cpu", "memory", "io",
                                            "cpu", "memory", "io", "cpu", "memory", "io"};
    CHECK(labels == expected);
    CHECK(sc.category(4) == simppo_category::memory);
    CHECK(sc.function(0).profile.name == "cpu-bound-0");
    CHECK(sc.function(1).profile.name == "memory-bound-1");
    CHECK(sc.function(11).profile.name == "io-bound-11");

    for (std::size_t i = 0; i < sc.size(); ++i) {
        CAPTURE(i);
        const scaling_state& s = sc.states()[i];
        const sim::function_profile& p = sc.function(i).profile;
        CHECK(s.replicas == 1);
        CHECK(s.min_replicas == 1);
        CHECK(s.max_replicas == 20);
        CHECK(sc.function(i).max_replicas == 20);
        CHECK(s.cpu_limit == p.cpu_limit);
        CHECK(s.memory_limit_mb == p.memory_mb);
        CHECK(s.slo.percentile == 0.99);
        CHECK(s.slo.latency_s == p.slo_s);
        // Inside SIMPPO's bounds, so the encoder and the action map accept them.
        CHECK(s.cpu_limit >= 0.125);
        CHECK(s.cpu_limit <= 2.0);
        CHECK(s.memory_limit_mb >= 128);
        CHECK(s.memory_limit_mb <= 2048);
        // Each function's load averages its mean rate (2 replicas' worth of work).
        const auto& rates = sc.function(i).load.rates();
        const double mean = std::accumulate(rates.begin(), rates.end(), 0.0) / static_cast<double>(rates.size());
        CHECK(mean == doctest::Approx(sc.mean_rps(i)).epsilon(0.05));
        CHECK(sc.mean_rps(i) * p.service.mean() == doctest::Approx(2.0));
        CHECK(sc.function(i).load.repeats());
        CHECK(sc.function(i).load.duration() >= 51 * 15.0);
    }
    CHECK(sc.function(0).profile.name != sc.function(3).profile.name);

    // The shared node: cores for the mean demand at 75 % utilisation; the
    // functions' peaks together need more.
    double mean_demand = 0;
    double peak_demand = 0;
    for (std::size_t i = 0; i < sc.size(); ++i) {
        mean_demand += sc.mean_cpu_demand(i);
        peak_demand += sc.peak_cpu_demand(i);
    }
    CHECK(mean_demand == doctest::Approx(4 * 2.0 + 4 * 1.6 + 4 * 0.4));
    CHECK(sc.node().cores == std::ceil(mean_demand / 0.75));
    CHECK(peak_demand > 1.3 * sc.node().cores);
    CHECK(sc.node().cores * sc.node().cpu_overcommit >= 12 * 20 * 2.0 - 1e-9);  // placement by memory only

    const sim::cluster_config shared = sc.shared_node();
    CHECK(shared.functions.size() == 12);
    CHECK_NOTHROW(shared.validate());
    CHECK(shared.node.cores == sc.node().cores);
    const sim::cluster_config alone = sc.isolated_node(5);
    REQUIRE(alone.functions.size() == 1);
    CHECK(alone.functions[0].profile.name == "io-bound-5");
    CHECK(alone.functions[0].load.rates() == sc.function(5).load.rates());
    CHECK(alone.node.cores == sc.node().cores);  // the same node, alone on it
    CHECK_THROWS_AS((void)sc.isolated_node(12), std::out_of_range);

    const sim::env_config env = sc.shared_env();
    CHECK(env.control_interval_s == 15);
    CHECK(env.episode_steps == 50);
    CHECK(env.functions.size() == 12);
    const sim::env_config env5 = sc.isolated_env(5);
    REQUIRE(env5.functions.size() == 1);
    CHECK(env5.functions[0].slo.latency_s == sc.states()[5].slo.latency_s);

    // The free functions build the same.
    const simppo_scenario_config c = twelve(simppo_load_source::synthetic, 1);
    CHECK(shared_node(c).functions[7].load.rates() == shared.functions[7].load.rates());
    CHECK(isolated_node(5, c).functions[0].load.rates() == alone.functions[0].load.rates());
    CHECK(simppo_env(c).functions.size() == 12);
}

TEST_CASE("simppo scenario: categories given, seeds and determinism") {
    simppo_scenario_config c;
    c.functions = 4;
    c.categories = {simppo_category::io, simppo_category::io, simppo_category::cpu, simppo_category::memory};
    c.load = simppo_load_source::synthetic;
    const simppo_scenario a(c);
    CHECK(a.labels() == std::vector<std::string>{"io", "io", "cpu", "memory"});
    CHECK(a.function(2).profile.name == "cpu-bound-2");
    const simppo_scenario b(c);
    for (std::size_t i = 0; i < 4; ++i) CHECK(a.function(i).load.rates() == b.function(i).load.rates());
    CHECK(a.function(0).load.rates() != a.function(1).load.rates());  // each function its own draw
    c.seed = 2;
    const simppo_scenario other(c);
    CHECK(other.function(0).load.rates() != a.function(0).load.rates());

    // The node sized for the first functions only: the same node as a
    // scenario of just those, with the same first functions.
    simppo_scenario_config first_two = c;
    first_two.functions = 2;
    first_two.categories.resize(2);
    c.node_functions = 2;
    c.node_memory_replicas = 3;
    first_two.node_memory_replicas = 3;
    const simppo_scenario sized_for_two(c);
    const simppo_scenario two(first_two);
    CHECK(sized_for_two.node().cores == two.node().cores);
    CHECK(sized_for_two.node().memory_mb == two.node().memory_mb);
    CHECK(sized_for_two.function(1).load.rates() == two.function(1).load.rates());
    c.node_functions = 0;
    const simppo_scenario sized_for_four(c);
    CHECK(sized_for_four.node().memory_mb > two.node().memory_mb);
    c.node_functions = 5;
    CHECK_THROWS_WITH_AS(simppo_scenario{c}, doctest::Contains("simppo_scenario_config.node_functions: must be"), config_error);
    c.node_functions = 0;
    c.node_memory_replicas = 0;

    CHECK(simppo_category_from("memory") == simppo_category::memory);
    CHECK(label(simppo_category::io) == "io");
    CHECK_THROWS_WITH_AS((void)simppo_category_from("gpu"), doctest::Contains("category: must be \"cpu\", \"memory\" or \"io\", got \"gpu\""),
                         config_error);
    CHECK(simppo_categories(5).size() == 5);
    CHECK(simppo_profile(simppo_category::memory).name == "memory-bound");
}

TEST_CASE("simppo scenario: the trace when found, the synthetic shape when not") {
    simppo_scenario_config c = twelve(simppo_load_source::automatic, 1);
    c.trace_dir = std::filesystem::path("/nonexistent/simppo/trace");
    const simppo_scenario missing(c);
    CHECK_FALSE(missing.from_trace());  // falls back
    CHECK_FALSE(missing.trace_dir().has_value());
    c.load = simppo_load_source::trace;
    CHECK_THROWS_WITH_AS((void)simppo_scenario(c), doctest::Contains("load: is trace but no Azure trace"), config_error);

    // Whichever trace this checkout has (the shared 455 functions, or the 12
    // kept in the repository), if any.
    c = twelve(simppo_load_source::automatic, 1);
    const simppo_scenario found(c);
    if (!found.from_trace()) {
        MESSAGE("no Azure trace found in " << simppo_trace_dirs().size() << " places; the synthetic load was used");
        return;
    }
    MESSAGE("trace: " << found.trace_dir()->string());
    for (const simppo_trace_mode mode : {simppo_trace_mode::sampled, simppo_trace_mode::replay}) {
        c.trace_mode = mode;
        const simppo_scenario sc(c);
        CHECK(sc.from_trace());
        for (std::size_t i = 0; i < sc.size(); ++i) {
            CAPTURE(i);
            const auto& rates = sc.function(i).load.rates();
            const double bin = sc.function(i).load.bin_seconds();
            CHECK(bin == (mode == simppo_trace_mode::sampled ? 15.0 : 60.0));
            CHECK(*std::max_element(rates.begin(), rates.end()) <= 4 * sc.mean_rps(i) * (1 + 1e-9));  // at most peak_cap × mean
            CHECK(*std::max_element(rates.begin(), rates.end()) > *std::min_element(rates.begin(), rates.end()));  // not flat
        }
    }
}

TEST_CASE("simppo scenario: configuration errors name the field and the value") {
    const auto fails = [](simppo_scenario_config c, const char* text) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS((void)simppo_scenario(std::move(c)), doctest::Contains(text), config_error);
    };
    simppo_scenario_config c;
    c.functions = 0;
    fails(c, "simppo_scenario_config.functions: must be in [1, 1000], got 0");
    c = {};
    c.categories = {simppo_category::cpu};
    fails(c, "simppo_scenario_config.categories: must be empty or hold one category per function (12), got 1");
    c = {};
    c.peak_cap = 0.5;
    fails(c, "simppo_scenario_config.peak_cap: must be finite and >= 1, got 0.5");
    c = {};
    c.control_interval_s = 0;
    fails(c, "simppo_scenario_config.control_interval_s: must be finite and > 0, got 0");
    c = {};
    c.initial_replicas = 30;
    fails(c, "simppo_scenario_config.initial_replicas: must be in [min_replicas, max_replicas] = [1, 20], got 30");
    c = {};
    c.max_replicas = 0;
    fails(c, "simppo_scenario_config.max_replicas: must be >= 1, got 0");
    c = {};
    c.slo_percentile = 0;
    fails(c, "simppo_scenario_config.slo_percentile: must be in (0, 1], got 0");
    c = {};
    c.shared_mean_utilization = std::nan("");
    fails(c, "simppo_scenario_config.shared_mean_utilization");
    c = {};
    c.duration_s = 1e9;
    fails(c, "simppo_scenario_config.duration_s: must give loads of at most 1e+07 s (1e+09 s asked), got 1e+09");
    c = {};
    c.episode_steps = 1'000'000;
    fails(c, "simppo_scenario_config.episode_steps: must give loads of at most 1e+07 s");
    c = {};
    c.categories.assign(12, static_cast<simppo_category>(7));
    fails(c, "simppo_scenario_config.categories[0]: must be in [0, 2], got 7");
}

TEST_CASE("simppo scenario: synthetic load is meaningful - starved, isolated and shared episodes") {
    check_load_is_meaningful(simppo_load_source::synthetic);
}

TEST_CASE("simppo scenario: trace load (or its fallback) is meaningful - starved, isolated and shared episodes") {
    check_load_is_meaningful(simppo_load_source::automatic);
}

}  // namespace test_examples_simppo_scenario
