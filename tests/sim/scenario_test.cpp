#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/sim/scenario.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../temp_path.hpp"

namespace test_sim_scenario {

using namespace rlscale;
using namespace rlscale::sim;

TEST_CASE("scenario: polimi refuses a load level it does not know, naming it") {
    CHECK_THROWS_WITH_AS(polimi("hihg", 600), "level: must be low, medium or high, got \"hihg\"", config_error);
    CHECK_THROWS_AS(polimi("", 600), config_error);
    CHECK(polimi("medium", 600).name == "polimi-medium");
}

TEST_CASE("scenario: the named scenarios, their functions and bounds") {
    const scenario s = scarlet_3fn(600);
    CHECK(s.name == "scarlet-3fn");
    REQUIRE(s.config.functions.size() == 3);
    REQUIRE(s.states.size() == 3);
    CHECK(s.config.functions[0].profile.name == "fibonacci-python");
    CHECK(s.states[1].max_replicas == 20);
    CHECK(s.states[2].slo.target_rps == 600);
    const scenario p = named_scenario("polimi-high", "unused", 600);
    CHECK(p.config.functions.size() == 1);
    CHECK(p.states[0].slo.percentile == 0.0);  // the mean
    CHECK_THROWS_WITH_AS((void)named_scenario("nope", "unused", 600), doctest::Contains("unknown scenario \"nope\""), config_error);
}

TEST_CASE("scenario: run() plays a joint policy through the simulator, the same for the same seed") {
    const scenario s = scarlet_3fn(900);
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 1.0; };
    const outcome a = run(s, per_function_policy("static", s), 3, score, true);
    const outcome b = run(s, per_function_policy("static", s), 3, score, true);
    CHECK(a.reward_ticks == 60);  // 900 s of 15 s ticks
    CHECK(a.mean_reward() == 1.0);
    CHECK(a.ticks_log.size() == 180);  // three functions
    CHECK(a.replica_seconds == b.replica_seconds);
    CHECK(a.violations == b.violations);
    CHECK(a.replica_seconds > 0);
    // A static policy provisioned for the peak keeps its count after the first tick.
    for (const tick_record& r : a.ticks_log) CHECK(r.decided == a.ticks_log[r.function].decided);
    const outcome c = run(s, per_function_policy("static", s), 4, score, true);
    std::uint64_t arrivals_a = 0;
    std::uint64_t arrivals_c = 0;
    for (const tick_record& r : a.ticks_log) arrivals_a += r.arrivals;
    for (const tick_record& r : c.ticks_log) arrivals_c += r.arrivals;
    CHECK(arrivals_a != arrivals_c);  // another seed, other requests
    CHECK(run(s, per_function_policy("static", s), 4, score).ticks_log.empty());
}

// Asks for 2 replicas, 0.25 cores and 512 MB every tick; remembers the limits it was shown.
struct resizing_policy {
    std::vector<double> seen_cpu;
    std::vector<double> seen_memory;
    [[nodiscard]] std::size_t functions() const noexcept { return 1; }
    [[nodiscard]] bool ready() const noexcept { return true; }
    void decide(std::span<const function_metrics>, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        if (seen_cpu.size() < 8) {
            seen_cpu.push_back(s[0].cpu_limit);
            seen_memory.push_back(s[0].memory_limit_mb);
        }
        out[0] = decision{.replicas = 2, .cpu_limit = 0.25, .memory_limit_mb = 512};
    }
};

TEST_CASE("scenario: run() applies a decision's CPU and memory limits and shows the policy the limits in force") {
    const scenario s = named_scenario("polimi-low", "unused", 300);
    REQUIRE(s.config.functions.size() == 1);
    const double cpu0 = s.config.functions[0].profile.cpu_limit;
    const double memory0 = s.config.functions[0].profile.memory_mb;
    REQUIRE(cpu0 != 0.25);
    REQUIRE(memory0 != 512);
    resizing_policy p;
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
    (void)run(s, p, 1, score);
    REQUIRE(p.seen_cpu.size() >= 3);
    CHECK(p.seen_cpu[0] == cpu0);
    CHECK(p.seen_memory[0] == memory0);
    CHECK(p.seen_cpu[1] == 0.25);  // applied after the first decision
    CHECK(p.seen_memory[1] == 512);
    CHECK(p.seen_cpu[2] == 0.25);
}

struct fixed_policy {
    int replicas = 0;
    [[nodiscard]] std::size_t functions() const noexcept { return 1; }
    [[nodiscard]] bool ready() const noexcept { return true; }
    void decide(std::span<const function_metrics>, std::span<const scaling_state>, std::span<decision> out) noexcept {
        out[0] = decision{.replicas = replicas};
    }
};

TEST_CASE("scenario: run() counts a stall as a violation, a slow request still in service is not one") {
    // 5-s requests, SLO 10 s, rare arrivals: many ticks end with a request in
    // service and none completed, and nothing ever waits at 4 replicas.
    sim::function_profile p;
    p.name = "slow";
    p.service = sim::service_time::deterministic(5.0);
    p.cpu_limit = 1;
    p.memory_mb = 128;
    p.slo_s = 10;
    p.timeout_s = 1e9;  // no drops: a stall shows only as waiting requests
    scenario sc{.name = "slow", .config = {.node = {.cores = 16, .memory_mb = 16384}}, .duration_s = 6 * 3600};
    sc.config.functions.push_back({.profile = p, .load = sim::constant(0.05, sc.duration_s), .max_replicas = 4, .initial_replicas = 4});
    sc.states.push_back(bounds(p, 0.99, 4));
    sc.states[0].min_replicas = 0;
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
    const outcome served = run(sc, fixed_policy{4}, 1, score);
    REQUIRE(served.ticks > 500);
    CHECK(served.violations == 0);
    // At zero replicas requests only wait: every tick with arrivals is a stall.
    sc.config.functions[0].initial_replicas = 0;
    const outcome stalled = run(sc, fixed_policy{0}, 1, score);
    REQUIRE(stalled.ticks > 500);
    CHECK(stalled.violations >= stalled.ticks);
}

TEST_CASE("scenario: run() refuses a duration that is not finite or under one control interval, naming it") {
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 1.0; };
    for (const double duration : {0.0, 10.0, 14.5, -15.0, std::nan("")}) {
        CAPTURE(duration);
        scenario s = scarlet_3fn(900);
        s.duration_s = duration;
        const std::string says =
            "scenario.duration_s: must be finite and >= one control interval (15 s), got " + format_number(duration);
        CHECK_THROWS_WITH_AS((void)run(s, per_function_policy("static", s), 1, score), says.c_str(), config_error);
    }
    // One interval is one tick; a tail shorter than an interval is not simulated.
    scenario s = scarlet_3fn(900);
    s.duration_s = 15;
    CHECK(run(s, per_function_policy("static", s), 1, score).reward_ticks == 1);
    s.duration_s = 100;
    CHECK(run(s, per_function_policy("static", s), 1, score).reward_ticks == 6);
}

TEST_CASE("scenario: azure() refuses a duration or a load it cannot use, and a function never invoked, by name") {
    const auto excerpt = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "azure2019-excerpt";
    const std::vector<std::string> hashes = azure_3fn_hashes();
    const double nan = std::nan("");
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, nan), "azure.duration_s: must be finite and > 0, got nan", config_error);
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, -60), "azure.duration_s: must be finite and > 0, got -60", config_error);
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, 0), "azure.duration_s: must be finite and > 0, got 0", config_error);
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, 600, "a", -4), "azure.replicas_of_load: must be finite and > 0, got -4",
                         config_error);
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, 600, "a", 0), "azure.replicas_of_load: must be finite and > 0, got 0",
                         config_error);
    CHECK_THROWS_WITH_AS((void)azure(excerpt, hashes, 600, "a", nan), "azure.replicas_of_load: must be finite and > 0, got nan",
                         config_error);
    // Valid settings build as before: the duration cut to the trace's 480 minutes.
    const scenario ok = azure(excerpt, hashes, 1e9);
    CHECK(ok.duration_s == 480 * 60);
    CHECK(ok.config.functions.size() == 3);

    // A trace whose function f0 is never invoked in its minutes.
    const std::filesystem::path dir = test::fresh_path("scenario", "azure_uninvoked");
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "invocations.csv") << "HashOwner,HashApp,HashFunction,Trigger,480,481,482\n"
                                              "o,a,f1,http,60,120,60\n"
                                              "o,a,f0,http,0,0,0\n";
    std::ofstream(dir / "durations.csv")
        << "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,"
           "percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\n"
           "o,a,f1,100,240,10,500,10,20,50,100,150,400,500\n"
           "o,a,f0,100,240,10,500,10,20,50,100,150,400,500\n";
    const std::vector<std::string> invoked{"f1"};
    CHECK(azure(dir, invoked, 180).config.functions.size() == 1);
    const std::vector<std::string> both{"f1", "f0"};
    CHECK_THROWS_WITH_AS((void)azure(dir, both, 180),
                         "azure.hashes: function \"f0\" has no invocations in the trace's minutes (3): choose one that is invoked",
                         config_error);
}

TEST_CASE("scenario: p99_ratio is the nearest-rank quantile") {
    outcome o;
    o.p99_ratios = {0.5, 0.1, 0.9, 0.3};
    CHECK(o.p99_ratio(0.5) == 0.3);
    CHECK(o.p99_ratio(1.0) == 0.9);
    CHECK(o.p99_ratio(0.25) == 0.1);
    // q outside [0, 1] is taken at its end: no index before the first or past the last.
    CHECK(o.p99_ratio(0.0) == 0.1);
    CHECK(o.p99_ratio(-1.0) == 0.1);
    CHECK(o.p99_ratio(2.0) == 0.9);
}

TEST_CASE("scenario: p99_ratio(0.07) and p99_ratio(0.55) of 1 to 100 are the 7th and 55th, though q times 100 rounds above them") {
    outcome o;
    for (int i = 100; i >= 1; --i) o.p99_ratios.push_back(i);
    CHECK(o.p99_ratio(0.07) == 7);
    CHECK(o.p99_ratio(0.55) == 55);
    for (int k = 1; k <= 100; ++k) {
        CAPTURE(k);
        CHECK(o.p99_ratio(k / 100.0) == k);
    }
}

TEST_CASE("scenario baselines: settings read off the function, and the HPA at a budget") {
    const scenario s = scarlet_3fn(900);
    CHECK_THROWS_WITH_AS((void)baseline_policy("vpa", s.config.functions[0]), doctest::Contains("or a checkpoint .json"), config_error);
    CHECK(per_function_policy("hpa-60", s).functions() == 3);
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
    // Every target in the sweep spends less than the budget: none matches.
    const std::vector<frontier_point> cheap{{40, 10, 0}, {60, 5, 0}};
    CHECK(hpa_at_budget(s, cheap, 100, 1, score).target == 0);
    // The budget lies between two sweep points: the bisection stays in that bracket.
    const outcome at50 = run(s, per_function_policy("hpa-50", s), 1, score);
    const outcome at70 = run(s, per_function_policy("hpa-70", s), 1, score);
    REQUIRE(at50.replica_seconds > at70.replica_seconds);
    const frontier_point m = hpa_at_budget(s, {{50, at50.replica_seconds, 0}, {70, at70.replica_seconds, 0}}, at70.replica_seconds + 1, 1, score);
    CHECK(m.target >= 50);
    CHECK(m.target < 70);
    CHECK(m.replica_seconds >= at70.replica_seconds + 1);
}

namespace {

/// The CSV csv_header and csv_rows write for one run, as text.
std::string csv_text(const scenario& sc, std::string_view policy, const outcome& o) {
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* f = open_memstream(&buffer, &size);
    REQUIRE(f != nullptr);
    csv_header(f);
    csv_rows(f, sc, policy, o);
    REQUIRE(std::fclose(f) == 0);
    std::string text(buffer, size);
    std::free(buffer);  // NOLINT(cppcoreguidelines-no-malloc): open_memstream's buffer
    return text;
}

/// The fields of a CSV record as RFC 4180 reads them (quoted fields
/// unquoted, doubled quotes halved); `line` holds no record separator.
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("scenario: csv_field quotes a field RFC 4180 style only when it must") {
    CHECK(csv_field("hpa") == "hpa");
    CHECK(csv_field("") == "");
    CHECK(csv_field("runs/a b/dqn.json") == "runs/a b/dqn.json");
    CHECK(csv_field("a,b.json") == "\"a,b.json\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field("two\nlines") == "\"two\nlines\"");
    CHECK(csv_field("cr\r") == "\"cr\r\"");
    CHECK(csv_field("\"") == "\"\"\"\"");
}

TEST_CASE("scenario: csv_rows writes as many fields as the header, a policy name with a comma or quote included") {
    scenario s = scarlet_3fn(60);
    const auto score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
    const outcome o = run(s, per_function_policy("static", s), 1, score, true);
    REQUIRE(o.ticks_log.size() == 12);  // 4 ticks of 3 functions

    // A plain name is written as it always was.
    const std::string plain = csv_text(s, "static", o);
    const std::string header = plain.substr(0, plain.find('\n'));
    const std::size_t columns = csv_fields(header).size();
    CHECK(columns == 13);
    const std::string first = plain.substr(header.size() + 1, plain.find('\n', header.size() + 1) - header.size() - 1);
    CHECK(first.starts_with("scarlet-3fn,static,fibonacci-python,15,"));

    // A checkpoint path with a comma and a quote: one field, read back whole.
    const std::string policy = "runs/lr=1e-4,gamma=0.99/\"best\".json";
    s.name = "scarlet, renamed";
    const std::string text = csv_text(s, policy, o);
    std::size_t records = 0;
    for (std::size_t pos = text.find('\n') + 1; pos < text.size();) {
        const std::size_t end = text.find('\n', pos);
        const std::vector<std::string> fields = csv_fields(text.substr(pos, end - pos));
        REQUIRE(fields.size() == columns);
        CHECK(fields[0] == "scarlet, renamed");
        CHECK(fields[1] == policy);
        CHECK(fields[12] == "policy");
        ++records;
        pos = end + 1;
    }
    CHECK(records == o.ticks_log.size());
    CHECK(text.find("\"runs/lr=1e-4,gamma=0.99/\"\"best\"\".json\"") != std::string::npos);
}

}  // namespace test_sim_scenario
