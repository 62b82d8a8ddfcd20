// The controller's loop with a scripted metrics source and actuator:
// configuration validation, dry run, decision-log lines, metrics outages
// (hold, never scale to min), failed changes (logged, no retry storm) and
// the /metrics text.
#include <rlscale/controller/config.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/controller/decision_log.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>

#include "../../../tests/test_metrics.hpp"
#include "ddpg_checkpoint.hpp"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace rlscale;
using namespace rlscale::controller;

namespace {

nlohmann::json two_functions() {
    return nlohmann::json::parse(R"({
      "control_interval_s": 15,
      "functions": [
        {"name": "checkout", "namespace": "shop", "workload": "checkout", "slo": {"latency_s": 0.5, "percentile": 0.9},
         "min_replicas": 2, "max_replicas": 20, "policy": "hpa", "cpu_target_percent": 50},
        {"name": "search", "namespace": "shop", "min_replicas": 1, "max_replicas": 8, "policy": "static", "static_replicas": 3}
      ]
    })");
}

/// Metrics by function name; `down` makes every read fail.
struct fake_source {
    std::map<std::string, double> cpu;
    bool down = false;
    int reads = 0;
    metrics_reading read(const function_spec& f, double /*now*/) {
        ++reads;
        if (down) throw std::runtime_error("connection refused");
        metrics_reading r;
        r.metrics.interval_s = 15;
        r.metrics.cpu_utilization = cpu.at(f.name);
        r.metrics.cpu_limit = 1;
        r.metrics.ready_replicas = 4;
        return r;
    }
};

/// Replica counts by function name; `reject` makes every change fail.
struct fake_actuator {
    std::map<std::string, int> replicas_of;
    bool reject = false;
    int sets = 0;
    int replicas(const function_spec& f) { return replicas_of.at(f.name); }
    void set_replicas(const function_spec& f, int n) {
        ++sets;
        if (reject) throw std::runtime_error("422 Invalid");
        replicas_of[f.name] = n;
    }
};

}  // namespace

static_assert(metrics_source<fake_source>);
static_assert(replica_actuator<fake_actuator>);

TEST_CASE("controller config: a valid file parses with defaults") {
    const config c = parse_config(two_functions());
    REQUIRE(c.functions.size() == 2);
    CHECK(c.functions[0].slo.latency_s == 0.5);
    CHECK(c.functions[0].kind == "Deployment");
    CHECK(c.functions[1].workload == "search");  // defaults to the name
    CHECK(c.guard.max_step_up == 4);
    CHECK_FALSE(c.dry_run);
}

TEST_CASE("controller config: one workload scaled by two functions, and an empty namespace, are refused by name") {
    nlohmann::json j = two_functions();
    j["functions"][1]["workload"] = "checkout";  // search would scale checkout's Deployment too
    CHECK_THROWS_WITH_AS((void)parse_config(j),
                         doctest::Contains("functions[1].workload: \"checkout\" (Deployment in namespace \"shop\") is already scaled by functions[0] (\"checkout\")"),
                         rlscale::config_error);
    // A dry run changes nothing: functions may share a workload to compare
    // policies on it. A loop that is not dry refuses it too.
    j["dry_run"] = true;
    config shared = parse_config(j);
    CHECK(shared.dry_run);
    {
        fake_source source;
        fake_actuator cluster;
        CHECK_NOTHROW([&] { control_loop loop(shared, source, cluster); }());
        shared.dry_run = false;
        CHECK_THROWS_WITH_AS([&] { control_loop loop(shared, source, cluster); }(), doctest::Contains("only a dry run may share a workload"),
                             rlscale::config_error);
    }
    j.erase("dry_run");
    // The same name as another's default workload.
    j = two_functions();
    j["functions"][1].erase("workload");
    j["functions"][1]["name"] = "checkout-canary";
    j["functions"][1]["workload"] = "checkout";
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("is already scaled by functions[0]"), rlscale::config_error);
    // Another namespace or another kind is another workload.
    j["functions"][1]["namespace"] = "shop-2";
    CHECK_NOTHROW((void)parse_config(j));
    j["functions"][1]["namespace"] = "shop";
    j["functions"][1]["kind"] = "StatefulSet";
    CHECK_NOTHROW((void)parse_config(j));
    j = two_functions();
    j["functions"][1]["namespace"] = "";
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("functions[1].namespace: must not be empty"), rlscale::config_error);
}

TEST_CASE("controller config: bad fields are named with their values") {
    const auto fails = [](nlohmann::json j, const char* field, const char* text) {
        try {
            (void)parse_config(j);
            FAIL("accepted: " << j.dump());
        } catch (const config_error& e) {
            CHECK(std::string(e.what()).find(field) != std::string::npos);
            CHECK(std::string(e.what()).find(text) != std::string::npos);
        }
    };
    nlohmann::json j = two_functions();
    j["functions"][1]["max_replicas"] = 0;
    fails(j, "functions[1].max_replicas", "got 0");
    j = two_functions();
    j["functions"][0]["policy"] = "magic";
    fails(j, "functions[0].policy", "\"magic\"");
    j = two_functions();
    j["functions"][0]["slo"]["percentil"] = 0.9;
    fails(j, "functions[0].slo.percentil", "not a known field");
    j = two_functions();
    j["functions"][1]["name"] = "checkout";
    fails(j, "functions[1].name", "repeats");
    j = two_functions();
    j["functions"][0]["max_replicas"] = 1;
    fails(j, "functions[0].max_replicas", "min_replicas (2)");
    // Left out, max_replicas is its default (10), named as such: not a
    // lookup of the missing key escaping as a JSON library error.
    j = two_functions();
    j["functions"][0].erase("max_replicas");
    j["functions"][0]["min_replicas"] = 20;
    CHECK_THROWS_WITH_AS((void)parse_config(j),
                         doctest::Contains("functions[0].max_replicas: must be >= min_replicas (20), got none (default 10)"), config_error);
    j = two_functions();
    j["functions"][0]["policy"] = "dqn";
    fails(j, "functions[0].checkpoint", "required");
    // A learned policy's encoder reads the SLO: each field given, never a default.
    j["functions"][0]["checkpoint"] = "model.json";
    fails(j, "functions[0].slo.target_rps", "required for policy dqn");
    j["functions"][0]["slo"] = {{"percentile", 0.9}, {"target_rps", 10}};
    fails(j, "functions[0].slo.latency_s", "required for policy dqn");
    j = two_functions();
    j["control_interval_s"] = "15";
    fails(j, "control_interval_s", "must be a number");
    j = two_functions();
    j["functions"] = nlohmann::json::array();
    fails(j, "functions", "non-empty");
    // No scale to zero: at 0 pods every metric is empty and the function
    // would never scale out again.
    j = two_functions();
    j["functions"][1]["min_replicas"] = 0;
    fails(j, "functions[1].min_replicas", "never scale out again");
}

TEST_CASE("controller tick: decides, applies and logs each function") {
    fake_source source{.cpu = {{"checkout", 1.0}, {"search", 0.2}}};
    fake_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    const auto records = loop.tick(100);
    REQUIRE(records.size() == 2);
    // HPA: 100 % CPU against 50 % doubles 4 -> 8, limited to +4 by the guard
    CHECK(records[0].replicas_before == 4);
    CHECK(records[0].replicas_after == 8);
    CHECK(records[0].applied);
    CHECK(cluster.replicas_of["checkout"] == 8);
    // static 3, from 5: the guard allows -2 per tick
    CHECK(records[1].replicas_after == 3);
    for (const auto& r : records) MESSAGE(r.to_json().dump());  // the decision-log sample in docs/adapters.md
    const nlohmann::json line = records[0].to_json();
    CHECK(line["function"] == "checkout");
    CHECK(line["action"] == 4);
    CHECK(line["source"] == "policy");
    CHECK(line["inputs"]["cpu_utilization"] == 1.0);
    CHECK(loop.stats().changes == 2);
}

TEST_CASE("controller dry run decides and logs but never changes the cluster") {
    nlohmann::json j = two_functions();
    j["dry_run"] = true;
    fake_source source{.cpu = {{"checkout", 1.0}, {"search", 0.2}}};
    fake_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    control_loop loop(parse_config(j), source, cluster);
    const auto records = loop.tick(100);
    CHECK(records[0].replicas_after == 8);
    CHECK_FALSE(records[0].applied);
    CHECK(cluster.sets == 0);
    CHECK(cluster.replicas_of["checkout"] == 4);
}

TEST_CASE("controller: a metrics outage holds the current replicas and never scales to min") {
    fake_source source{.cpu = {{"checkout", 0.1}, {"search", 0.2}}};
    fake_actuator cluster{.replicas_of = {{"checkout", 10}, {"search", 3}}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    source.down = true;
    for (int t = 0; t < 20; ++t) {
        const auto records = loop.tick(15.0 * t);
        if (t == 0) MESSAGE(records[0].to_json().dump());  // the outage sample in docs/adapters.md
        CHECK(records[0].result.source == decision_source::hold);
        CHECK(records[0].replicas_after == 10);
        CHECK(records[0].error.find("connection refused") != std::string::npos);
        CHECK(records[0].to_json()["inputs"]["cpu_utilization"].is_null());
    }
    CHECK(cluster.replicas_of["checkout"] == 10);
    CHECK(loop.stats().read_errors == 40);
    CHECK(loop.stats().holds >= 20);
}

TEST_CASE("controller: a rejected change is logged and counted, one attempt per tick") {
    fake_source source{.cpu = {{"checkout", 1.0}, {"search", 0.2}}};
    fake_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 3}}, .reject = true};
    control_loop loop(parse_config(two_functions()), source, cluster);
    const auto records = loop.tick(0);
    CHECK_FALSE(records[0].applied);
    CHECK(records[0].error.find("422") != std::string::npos);
    CHECK(cluster.sets == 1);  // search is already at 3: nothing to change
    CHECK(loop.stats().actuation_errors == 1);
    CHECK(cluster.replicas_of["checkout"] == 4);
}

TEST_CASE("controller: a change is conditional on the count it was decided from, where the actuator offers that") {
    // Someone scales checkout from 4 to 30 between the controller's read and
    // its change: the conditional actuator refuses, and 30 stands.
    struct conditional_actuator {
        std::map<std::string, int> replicas_of;
        std::vector<int> reads_passed;
        int replicas(const function_spec& f) {
            const int n = replicas_of.at(f.name);
            if (f.name == "checkout") replicas_of[f.name] = 30;  // kubectl scale, right after the read
            return n;
        }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        void set_replicas(const function_spec& f, int n, int read) {
            reads_passed.push_back(read);
            if (replicas_of.at(f.name) != read) throw std::runtime_error("spec.replicas is 30, not the 4 the change was decided from");
            replicas_of[f.name] = n;
        }
    };
    static_assert(replica_actuator<conditional_actuator>);
    fake_source source{.cpu = {{"checkout", 1.0}, {"search", 0.9}}};
    conditional_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 2}}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    const auto records = loop.tick(0);
    CHECK_FALSE(records[0].applied);
    CHECK(records[0].error.find("not the 4") != std::string::npos);
    CHECK(cluster.replicas_of["checkout"] == 30);
    CHECK(records[1].applied);  // search (static 3) was not touched by anyone: changed
    CHECK(cluster.replicas_of["search"] == 3);
    CHECK(cluster.reads_passed == std::vector<int>{4, 2});
    CHECK(loop.stats().actuation_errors == 1);
}

TEST_CASE("controller /metrics text has every counter with HELP and TYPE") {
    fake_source source{.cpu = {{"checkout", 1.0}, {"search", 0.2}}};
    fake_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 3}}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    (void)loop.tick(0);
    const std::string text = prometheus_text(loop.stats());
    CHECK(text.find("# TYPE rlscale_controller_decisions_total counter\nrlscale_controller_decisions_total 2\n") != std::string::npos);
    CHECK(text.find("# HELP rlscale_controller_tick_seconds") != std::string::npos);
}

namespace {

/// A checkpoint deciding two functions ("search", then "checkout") with
/// factored deltas; its network prefers output `best` of the first head and
/// `second` of the other (0: -1, 1: hold, 2: +1).
std::string write_learned_checkpoint(const std::string& name, Eigen::Index best, const std::string& encoder = "scarlet_relative",
                                     Eigen::Index second = -1) {
    nn::mlp<float> net({10, 6});
    net.parameters().setZero();
    net.bias(0)[best] = 1.0F;
    net.bias(0)[3 + (second < 0 ? best : second)] = 1.0F;
    nlohmann::json j = nn::make_checkpoint(net);
    serving_spec spec;
    spec.encoder = {{"name", encoder}};
    spec.actions = action_spec(rl::factored_delta_actions(2));
    spec.functions = {"search", "checkout"};  // the spec's order, not the configuration's
    j["serving"] = spec.to_json();
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/" + name;
    nn::write_checkpoint_file(path, j);
    return path;
}

nlohmann::json learned_config(const std::string& checkpoint) {
    nlohmann::json j = two_functions();
    for (auto& f : j["functions"]) {
        f["policy"] = "learned";
        f["checkpoint"] = checkpoint;
        f["slo"] = {{"latency_s", 0.5}, {"percentile", 0.9}, {"target_rps", 100}};
        // The encoder scarlet_relative reads the queue, which has no default query.
        f["promql"] = {{"queue_length", R"(sum(queue_length{namespace="{namespace}",pod=~"{pod_regex}"}))"}};
        f.erase("static_replicas");
        f.erase("cpu_target_percent");
    }
    return j;
}

}  // namespace

TEST_CASE("controller: functions naming one checkpoint are decided together, in the spec's order") {
    // The first head (search) scales up, the second (checkout) down.
    const std::string path = write_learned_checkpoint("two.json", 2, "scarlet_relative", 0);
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    control_loop loop(parse_config(learned_config(path)), source, actuator);
    const auto records = loop.tick(100);
    REQUIRE(records.size() == 2);
    CHECK(records[0].function == "checkout");  // the log keeps configuration order
    CHECK(records[0].result.source == decision_source::policy);
    CHECK(records[0].replicas_after == 3);  // -1: checkout is the spec's second function
    CHECK(records[1].function == "search");
    CHECK(records[1].replicas_after == 6);  // +1
    // A checkpoint for two functions cannot serve one.
    nlohmann::json one = learned_config(path);
    one["functions"].erase(1);
    CHECK_THROWS_WITH_AS(control_loop(parse_config(one), source, actuator), doctest::Contains("decides 2 functions"), config_error);
}

TEST_CASE("controller: a learned function keeps its checkpoint's guard, tightened only by the limits the file sets") {
    // search's head asks for -8 replicas, checkout's for +8; the
    // checkpoint's guard allows +8 and -2 (the default) in one tick.
    nn::mlp<float> net({10, 6});
    net.parameters().setZero();
    net.bias(0)[0] = 1.0F;
    net.bias(0)[5] = 1.0F;
    nlohmann::json checkpoint = nn::make_checkpoint(net);
    serving_spec spec;
    spec.encoder = {{"name", "scarlet_relative"}};
    spec.actions = action_spec(rl::factored_delta_actions(2, {-8, 0, 8}));
    spec.functions = {"search", "checkout"};
    spec.guard.max_step_up = 8;
    checkpoint["serving"] = spec.to_json();
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/guard8.json";
    nn::write_checkpoint_file(path, checkpoint);
    // checkout's and search's counts after one tick from 4 and 5.
    const auto after = [&](const nlohmann::json& guard) {
        nlohmann::json j = learned_config(path);
        if (!guard.is_null()) j["guard"] = guard;
        fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
        fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
        control_loop loop(parse_config(j), source, actuator);
        const auto records = loop.tick(100);
        REQUIRE(records.size() == 2);
        return std::pair<int, int>{records[0].replicas_after, records[1].replicas_after};
    };
    using counts = std::pair<int, int>;
    CHECK(after(nullptr) == counts{12, 3});                                      // the checkpoint's +8 and -2, not the default +4
    CHECK(after({{"max_step_up", 4}}) == counts{8, 3});                          // set: the tighter of the two; -2 stands
    CHECK(after({{"max_step_down", 1}}) == counts{12, 4});                       // only the limit set tightens
    CHECK(after({{"max_step_up", 10}, {"max_step_down", 3}}) == counts{12, 3});  // a looser one does not loosen
    // A baseline function still gets the defaults.
    const config c = parse_config(two_functions());
    CHECK(c.guard.max_step_up == 4);
    CHECK(c.guard.max_step_down == 2);
    CHECK_FALSE(learned_guard(c).has_value());
    // A config built in code: a limit other than the default is set.
    config in_code = c;
    in_code.guard.max_step_up = 1;
    REQUIRE(learned_guard(in_code).has_value());
    CHECK(learned_guard(in_code)->max_step_up == 1);
    CHECK(learned_guard(in_code)->max_step_down == std::numeric_limits<int>::max());
}

TEST_CASE("controller: in a learned group each function's fallback HPA has its own cpu_target_percent") {
    const std::string path = write_learned_checkpoint("fallback_targets.json", 2);
    nlohmann::json j = learned_config(path);
    j["functions"][0]["cpu_target_percent"] = 50;  // checkout
    j["functions"][1]["cpu_target_percent"] = 90;  // search
    // checkout's metrics are unusable, so the whole group falls back; search
    // at 60 % CPU on 4 replicas: its own 90 % target asks for 3 (held at 4 by
    // the HPA's scale-down window); checkout's 50 % would have asked for 5.
    fake_source source{.cpu = {{"checkout", std::numeric_limits<double>::quiet_NaN()}, {"search", 0.6}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 4}}};
    control_loop loop(parse_config(j), source, actuator);
    const auto records = loop.tick(100);
    CHECK(records[1].function == "search");
    CHECK(records[1].result.source != decision_source::policy);
    CHECK(records[1].replicas_after == 4);
    CHECK(records[0].replicas_after == 4);  // checkout: no data, count kept
}

TEST_CASE("controller: a learned group's fallbacks keep each function's cpu_target_percent when the spec names other functions, and a partial match is refused") {
    // Every head asks for -1; with the fallback as a floor each function
    // ends at its own HPA's count: 4 replicas at 60 % CPU ask for 8 at a
    // 30 % target (checkout), 6 at a 40 % one (search).
    const auto tick_with_spec_names = [](const std::vector<std::string>& names) {
        const std::string path = write_learned_checkpoint("renamed.json", 0);
        nlohmann::json checkpoint = nlohmann::json::parse(std::ifstream(path));
        checkpoint["serving"]["functions"] = names;
        checkpoint["serving"]["fallback_floor"] = true;
        nn::write_checkpoint_file(path, checkpoint);
        nlohmann::json j = learned_config(path);
        j["functions"][0]["cpu_target_percent"] = 30;  // checkout
        j["functions"][1]["cpu_target_percent"] = 40;  // search
        fake_source source{.cpu = {{"checkout", 0.6}, {"search", 0.6}}};
        fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 4}}};
        control_loop loop(parse_config(j), source, actuator);
        return loop.tick(100);
    };
    SUBCASE("no name in common: configuration order, each with its own target") {
        const auto records = tick_with_spec_names({"function-0", "function-1"});
        REQUIRE(records.size() == 2);
        CHECK(records[0].function == "checkout");
        CHECK(records[0].replicas_after == 8);
        CHECK(records[1].function == "search");
        CHECK(records[1].replicas_after == 6);
    }
    SUBCASE("one name in common: refused, naming the function the spec does not name") {
        // In configuration order checkout would take the slot the spec
        // names "search", and search the other.
        std::string refusal;
        try {
            (void)tick_with_spec_names({"search", "function-1"});
        } catch (const config_error& e) {
            refusal = e.what();
        }
        INFO(refusal);
        CHECK(refusal.starts_with("functions[0].checkpoint: "));
        CHECK(refusal.find("decides the functions search, function-1; configured with it: checkout, which it does not name") !=
              std::string::npos);
    }
}

TEST_CASE("controller: a checkpoint that cannot be served is refused naming the field and the file") {
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    SUBCASE("an encoder this build does not know") {
        const std::string path = write_learned_checkpoint("unknown_encoder.json", 0, "transformer");
        try {
            control_loop loop(parse_config(learned_config(path)), source, actuator);
            FAIL("built a policy with an unknown encoder");
        } catch (const config_error& e) {
            CHECK(e.field() == "functions[0].checkpoint");
            const std::string what = e.what();
            CHECK(what.starts_with("functions[0].checkpoint: " + path + ": "));
            CHECK(what.find("serving.encoder.name") != std::string::npos);
        }
    }
    SUBCASE("a file that is not there") {
        const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/no_such_checkpoint.json";
        try {
            control_loop loop(parse_config(learned_config(path)), source, actuator);
            FAIL("built a policy from a missing file");
        } catch (const config_error& e) {
            CHECK(e.field() == "functions[0].checkpoint");
            CHECK(std::string(e.what()).starts_with("functions[0].checkpoint: " + path + ": "));
        }
    }
}

TEST_CASE("controller: a reload keeps the state of every policy whose checkpoint did not change") {
    // A learned policy asking for -1 every tick under a 5-tick scale-down
    // stabiliser steps down once every 5 ticks; reloading the same file
    // must not reset the stabiliser (it would step down on every tick).
    const std::string path = write_learned_checkpoint("same_file.json", 0);
    nlohmann::json checkpoint = nlohmann::json::parse(std::ifstream(path));
    checkpoint["serving"]["downscale_window"] = 5;
    nn::write_checkpoint_file(path, checkpoint);
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    const auto run = [&](bool reload) {
        fake_actuator cluster{.replicas_of = {{"checkout", 9}, {"search", 8}}};
        control_loop loop(parse_config(learned_config(path)), source, cluster);
        std::string counts;
        for (int t = 0; t < 8; ++t) {
            if (reload && t >= 5) loop.reload();
            (void)loop.tick(100 + 15.0 * t);
            counts += std::to_string(cluster.replicas_of["checkout"]) + " ";
        }
        CHECK(loop.stats().reloads == (reload ? 3 : 0));
        return counts;
    };
    const std::string steady = run(false);
    MESSAGE("checkout's count tick by tick: " << steady);
    CHECK(run(true) == steady);
}

TEST_CASE("controller: a learned group's digest is FNV-1a over the checkpoint's bytes, the ones it parsed") {
    const std::string path = write_learned_checkpoint("digest.json", 2);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<policy_group> groups = make_policies(parse_config(learned_config(path)));
    REQUIRE(groups.size() == 1);
    CHECK(groups[0].checkpoint_digest == rlscale::detail::fnv1a64(bytes));
    CHECK(groups[0].checkpoint_digest != 0);
    // Another network in the same file: another digest.
    const std::string again = write_learned_checkpoint("digest.json", 1);
    CHECK(make_policies(parse_config(learned_config(again)))[0].checkpoint_digest != groups[0].checkpoint_digest);
}

TEST_CASE("controller: a checkpoint path that is a named pipe is refused at once, not waited on for a writer") {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/checkpoint.fifo";
    std::filesystem::remove(path);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    // On a thread, so that a build which opens the pipe for reading (and so
    // waits for a writer) fails this test instead of hanging it.
    std::atomic<bool> done{false};
    std::string refusal;
    std::thread build([&] {
        try {
            (void)make_policies(parse_config(learned_config(path)));
        } catch (const config_error& e) {
            refusal = e.what();
        }
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(done);
    if (!done) {
        // A writer that opens and closes the pipe: the waiting reader reads
        // an empty file and goes on.
        const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
    }
    build.join();
    INFO(refusal);
    CHECK(refusal.find("functions[0].checkpoint") != std::string::npos);
    CHECK(refusal.find("not a regular file") != std::string::npos);
    std::filesystem::remove(path);
}

TEST_CASE("controller: a checkpoint with a key twice in one object is refused, naming the key's path") {
    const std::string path = write_learned_checkpoint("twice.json", 2);
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    // A second "functions" in the serving spec, after the first: the parser
    // would keep the last, which a reader of the file from the top misses.
    const std::size_t at = text.find("\"functions\":");
    REQUIRE(at != std::string::npos);
    text.insert(at, R"("functions":["checkout","search"],)");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    std::string refusal;
    try {
        (void)make_policies(parse_config(learned_config(path)));
    } catch (const config_error& e) {
        refusal = e.what();
    }
    CHECK(refusal == "functions[0].checkpoint: " + path + ": checkpoint field serving.functions: appears twice in '" + path + "'");
}

TEST_CASE("controller: a reload that fails keeps every policy serving, one that succeeds replaces them") {
    const std::string path = write_learned_checkpoint("reload.json", 2);
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    control_loop loop(parse_config(learned_config(path)), source, actuator);
    CHECK(loop.tick(100)[0].replicas_after == 5);
    // The file is replaced by one whose spec names an encoder this build does not know.
    (void)write_learned_checkpoint("reload.json", 0, "transformer");
    CHECK_THROWS_WITH_AS(loop.reload(), doctest::Contains("serving.encoder.name"), config_error);
    const auto kept = loop.tick(115);
    CHECK(kept[0].result.source == decision_source::policy);
    CHECK(kept[0].replicas_after == 6);  // still +1 from 5
    // A good file: the new network (prefers -1) serves from the next tick.
    (void)write_learned_checkpoint("reload.json", 0);
    loop.reload();
    CHECK(loop.stats().reloads == 1);
    CHECK(loop.tick(130)[0].replicas_after == 5);
}

// ---- failure paths -------------------------------------------------------

namespace {

/// A source whose readings the test sets directly.
struct scripted_source {
    std::map<std::string, metrics_reading> next;
    metrics_reading read(const function_spec& f, double) { return next.at(f.name); }
};

/// A busy function's reading: every field present.
metrics_reading busy_reading(int ready) {
    metrics_reading r;
    r.metrics.interval_s = 15;
    r.metrics.arrivals = 3000;
    r.metrics.completions = 2990;
    r.metrics.throughput_rps = 199;
    r.metrics.latency_mean_s = 0.05;
    r.metrics.latency = {0.04, 0.08, 0.1, 0.2, 0.3};
    r.metrics.cpu_utilization = 0.8;
    r.metrics.memory_utilization = 0.4;
    r.metrics.cpu_limit = 1;
    r.metrics.memory_limit_mb = 512;
    r.metrics.ready_replicas = static_cast<std::uint32_t>(ready);
    r.metrics.in_service = 40;
    r.metrics.replica_seconds = 15.0 * ready;
    return r;
}

nlohmann::json one_function(const std::string& policy_fields) {
    return nlohmann::json::parse(R"({"control_interval_s": 15, "functions": [{"name": "api", "namespace": "shop", "min_replicas": 1,
        "max_replicas": 20, )" + policy_fields + "}]}");
}

}  // namespace

TEST_CASE("controller: a failed arrivals query holds, it is never read as zero load (ensure, min 1)") {
    scripted_source source;
    fake_actuator cluster{.replicas_of = {{"api", 8}}};
    control_loop loop(parse_config(one_function(R"j("policy": "ensure", "service_time_s": 0.05, "promql": {"arrivals": "sum(increase(received[1m]))"})j")),
                      source, cluster);
    // Every field present: ENSURE keeps a busy function up.
    source.next["api"] = busy_reading(8);
    CHECK(loop.tick(0)[0].replicas_after > 0);
    const int before = cluster.replicas_of["api"];
    // Only the arrivals query fails (Prometheus answered 503 with its error
    // envelope): the counter stays at its default 0, and must not be used.
    metrics_reading partial = busy_reading(before);
    partial.metrics.arrivals = 0;
    partial.missing.push_back({"arrivals", "prometheus: HTTP 503, errorType unavailable: overloaded"});
    source.next["api"] = partial;
    for (int t = 1; t <= 3; ++t) {
        const auto r = loop.tick(15.0 * t)[0];
        CHECK(r.result.source == decision_source::hold);
        CHECK(r.replicas_after == before);
        CHECK_FALSE(r.applied);
        CHECK(r.error.find("arrivals") != std::string::npos);
        CHECK(r.error.find("HTTP 503") != std::string::npos);
        const nlohmann::json line = r.to_json();
        REQUIRE(line.contains("missing"));
        CHECK(line["missing"][0]["field"] == "arrivals");
        CHECK(line["missing"][0]["reason"].get<std::string>().find("503") != std::string::npos);
    }
    CHECK(cluster.replicas_of["api"] == before);
    CHECK(loop.stats().read_errors == 3);
    const std::string text = prometheus_text(loop.stats());
    CHECK(text.find(R"(rlscale_controller_missing_metrics_total{function="api",field="arrivals"} 3)") != std::string::npos);
}

TEST_CASE("controller: an hpa function holds when its memory utilisation is missing, though the HPA reads only CPU") {
    // Pods without a memory limit: the memory queries come back empty. Any
    // missing field holds the function, whichever fields its policy reads.
    scripted_source source;
    fake_actuator cluster{.replicas_of = {{"api", 4}}};
    control_loop loop(parse_config(one_function(R"j("policy": "hpa", "cpu_target_percent": 50)j")), source, cluster);
    metrics_reading r = busy_reading(4);  // 80 % CPU: the HPA alone would ask for 7
    r.metrics.memory_utilization = std::numeric_limits<double>::quiet_NaN();
    r.metrics.memory_limit_mb = std::numeric_limits<double>::quiet_NaN();
    r.missing.push_back({"memory_utilization", "empty result (no series matched)"});
    r.missing.push_back({"memory_limit_mb", "empty result (no series matched)"});
    source.next["api"] = r;
    const auto record = loop.tick(0)[0];
    CHECK(record.result.source == decision_source::hold);
    CHECK(record.replicas_after == 4);
    CHECK(record.error.find("memory_utilization") != std::string::npos);
    CHECK(cluster.sets == 0);
}

TEST_CASE("controller: KPA holds when the completions query fails") {
    scripted_source source;
    fake_actuator cluster{.replicas_of = {{"api", 6}}};
    control_loop loop(parse_config(one_function(R"j("policy": "kpa", "container_concurrency": 10, "promql": {"in_service": "sum(in_flight)"})j")),
                      source, cluster);
    metrics_reading partial = busy_reading(6);
    partial.metrics.completions = 0;
    partial.metrics.in_service = 0;
    partial.missing.push_back({"completions", "empty result (no series matched)"});
    partial.missing.push_back({"in_service", "empty result (no series matched)"});
    source.next["api"] = partial;
    const auto r = loop.tick(0)[0];
    CHECK(r.result.source == decision_source::hold);
    CHECK(r.replicas_after == 6);
    CHECK(cluster.sets == 0);
}

TEST_CASE("controller config: policy kpa needs a query for the requests in service, so a stall never reads as idle") {
    // Without one, in_service and queue_length read 0 (not queried), and a
    // window in which every request hangs (no completions) would give KPA
    // a concurrency of 0: a scale-down on each tick of the stall.
    try {
        (void)parse_config(one_function(R"("policy": "kpa", "container_concurrency": 10)"));
        FAIL("accepted a kpa function without promql.in_service");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()).find("functions[0].promql.in_service") != std::string::npos);
        CHECK(std::string(e.what()).find("required for policy kpa") != std::string::npos);
    }
    // queue_length alone is not enough: requests being served are not queued.
    CHECK_THROWS_WITH_AS(
        parse_config(one_function(R"j("policy": "kpa", "promql": {"queue_length": "sum(queued)"})j")),
        doctest::Contains("functions[0].promql.in_service"), config_error);
    const config c = parse_config(one_function(R"j("policy": "kpa", "promql": {"in_service": "sum(in_flight)"})j"));
    CHECK(c.functions[0].promql.at("in_service") == "sum(in_flight)");
    // Other policies do not read it.
    CHECK_NOTHROW((void)parse_config(one_function(R"j("policy": "ensure", "service_time_s": 0.05, "promql": {"arrivals": "sum(increase(received[1m]))"})j")));
}

TEST_CASE("controller config: policy ensure needs a query for arrivals as they arrive, so a stall never reads as no load") {
    // The default arrivals query counts completed requests: in a stall it
    // reads 0, and ENSURE would scale in to min_replicas under the backlog.
    CHECK_THROWS_WITH_AS(parse_config(one_function(R"("policy": "ensure", "service_time_s": 0.05)")),
                         doctest::Contains("functions[0].promql.arrivals"), config_error);
    CHECK_THROWS_WITH_AS(parse_config(one_function(R"j("policy": "ensure", "service_time_s": 0.05, "promql": {"in_service": "sum(in_flight)"})j")),
                         doctest::Contains("required for policy ensure"), config_error);
    const config c = parse_config(one_function(R"j("policy": "ensure", "service_time_s": 0.05, "promql": {"arrivals": "sum(increase(received[1m]))"})j"));
    CHECK(c.functions[0].promql.at("arrivals") == "sum(increase(received[1m]))");
}

TEST_CASE("controller: latency with nothing completed is not an error (an idle function still scales)") {
    scripted_source source;
    fake_actuator cluster{.replicas_of = {{"api", 4}}};
    control_loop loop(parse_config(one_function(R"("policy": "static", "static_replicas": 2)")), source, cluster);
    metrics_reading idle = busy_reading(4);
    idle.metrics.arrivals = idle.metrics.completions = 0;
    idle.metrics.throughput_rps = 0;
    idle.metrics.cpu_utilization = 0.05;
    idle.metrics.latency_mean_s = std::nan("");
    idle.metrics.latency = {};
    idle.missing.push_back({"latency_mean_s", "NaN (no data)"});
    idle.missing.push_back({"latency.p90", "NaN (no data)"});
    source.next["api"] = idle;
    const auto r = loop.tick(0)[0];
    CHECK(r.error.empty());
    CHECK(r.result.source == decision_source::policy);
    CHECK(r.replicas_after == 2);
    CHECK(cluster.replicas_of["api"] == 2);
}

TEST_CASE("controller: invalid metrics never actuate, even when the count is outside [min, max]") {
    // Scaled to 50 by hand, max 20: with a NaN CPU reading the controller must
    // not jump to 20 on no data, for a baseline and for a learned policy alike.
    scripted_source source;
    fake_actuator cluster{.replicas_of = {{"api", 50}}};
    control_loop loop(parse_config(one_function(R"("policy": "hpa")")), source, cluster);
    metrics_reading bad = busy_reading(50);
    bad.metrics.cpu_utilization = std::nan("");
    bad.missing.push_back({"cpu_utilization", "NaN (no data)"});
    source.next["api"] = bad;
    const auto r = loop.tick(0)[0];
    CHECK(r.replicas_after == 50);
    CHECK_FALSE(r.applied);
    CHECK(cluster.sets == 0);
    // Usable metrics bring it inside the bounds.
    source.next["api"] = busy_reading(50);
    CHECK(loop.tick(15)[0].replicas_after <= 20);
}

TEST_CASE("controller: a non-UTF-8 error text is logged as valid JSON, no exception escapes a tick") {
    struct hostile_actuator {
        int mode = 0;
        int replicas(const function_spec&) {
            if (mode == 1) throw 42;  // not even a std::exception
            return 4;
        }
        void set_replicas(const function_spec&, int) {
            // A proxy's Latin-1 page, cut in the middle of a UTF-8 sequence.
            throw std::runtime_error(std::string("kubernetes: HTTP 502: <h1>Passerelle d\xe9" "faillante</h1>\xc3"));
        }
    };
    scripted_source source;
    source.next["api"] = busy_reading(4);
    source.next["api"].metrics.cpu_utilization = 1.0;
    hostile_actuator cluster;
    control_loop loop(parse_config(one_function(R"("policy": "hpa", "cpu_target_percent": 50)")), source, cluster);
    const auto r = loop.tick(0)[0];
    REQUIRE_FALSE(r.error.empty());
    std::string line;
    CHECK_NOTHROW(line = r.to_json().dump());
    CHECK(line.find("Passerelle d") != std::string::npos);
    CHECK(nlohmann::json::parse(line).at("error").get<std::string>().find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
    cluster.mode = 1;
    std::vector<decision_record> records;
    CHECK_NOTHROW(records = loop.tick(15));
    REQUIRE(records.size() == 1);
    CHECK(records[0].error.find("unknown exception") != std::string::npos);
    CHECK_NOTHROW((void)records[0].to_json().dump());
}

TEST_CASE("controller: each record is handed out as soon as it is final, a stop request ends the tick between functions") {
    scripted_source source;
    source.next["checkout"] = busy_reading(4);
    source.next["search"] = busy_reading(3);
    fake_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 3}}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    std::atomic<bool> stop{false};
    std::vector<std::string> seen;
    const auto records = loop.tick(0, [&](const decision_record& r) {
        seen.push_back(r.function + (r.applied ? ":applied" : ":unchanged") + ":" + std::to_string(cluster.replicas_of[r.function]));
        stop.store(true);  // SIGTERM arrives while the first function is being logged
    }, &stop);
    REQUIRE(seen.size() == 1);  // the second function was not started
    CHECK(seen[0].starts_with("checkout:"));
    REQUIRE(records.size() == 2);
    CHECK(records[1].error.find("stopping") != std::string::npos);
    CHECK(records[1].replicas_before == -1);
}

namespace {

/// Replica counts by function name; `on_set` is called before each change
/// (and may throw, failing it).
struct watched_actuator {
    std::map<std::string, int> replicas_of;
    std::function<void(const function_spec&)> on_set;
    int replicas(const function_spec& f) { return replicas_of.at(f.name); }
    void set_replicas(const function_spec& f, int n) {
        if (on_set) on_set(f);
        replicas_of[f.name] = n;
    }
};

}  // namespace

TEST_CASE("controller: in a learned group each function's line is out before the next function's change is sent") {
    // search is the spec's first function (+1), so it is actuated first;
    // checkout's change (-1) then fails.
    const std::string path = write_learned_checkpoint("lines_in_group.json", 2, "scarlet_relative", 0);
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    std::vector<nlohmann::json> lines;
    std::size_t lines_before_checkout = 99;
    watched_actuator cluster{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    cluster.on_set = [&](const function_spec& f) {
        if (f.name != "checkout") return;
        lines_before_checkout = lines.size();
        throw std::runtime_error("connection reset");
    };
    control_loop loop(parse_config(learned_config(path)), source, cluster);
    const auto records = loop.tick(100, [&](const decision_record& r) { lines.push_back(r.to_json()); });
    CHECK(lines_before_checkout == 1);  // search's applied change was already logged
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["function"] == "search");
    CHECK(lines[0]["applied"] == true);
    CHECK(lines[0]["replicas_after"] == 6);
    CHECK(lines[1]["function"] == "checkout");
    CHECK(lines[1]["applied"] == false);
    CHECK(lines[1]["error"].get<std::string>().find("connection reset") != std::string::npos);
    CHECK(records[0].error.find("connection reset") != std::string::npos);
    CHECK(cluster.replicas_of["search"] == 6);
}

TEST_CASE("controller: after a stall the next tick is one interval away, not a burst of catch-up ticks") {
    using namespace std::chrono;
    const auto t0 = steady_clock::time_point{} + hours(1);
    const auto interval = seconds(15);
    // On time: the next deadline is one interval after the last.
    CHECK(next_tick_deadline(t0, t0 + seconds(2), interval) == t0 + interval);
    // A 10-minute stall: one tick now-ish, then the cadence resumes from now.
    std::uint64_t skipped = 0;
    const auto after_stall = t0 + minutes(10);
    const auto next = next_tick_deadline(t0, after_stall, interval, &skipped);
    CHECK(next == after_stall + interval);
    CHECK(skipped == 40);  // the ticks due at 15 s, 30 s, ..., 600 s: none ran
    // Simulate the loop: ticks within 10 minutes after the stall are 40, not 80.
    int ticks = 0;
    auto deadline = t0;
    for (auto now = after_stall; now < after_stall + minutes(10); now += milliseconds(50)) {
        if (now >= deadline) {
            ++ticks;
            deadline = next_tick_deadline(deadline, now, interval);
        }
    }
    CHECK(ticks == 40);
}

TEST_CASE("controller: a tick that overruns its interval counts the scheduled ticks it passed as skipped") {
    using namespace std::chrono;
    const auto t0 = steady_clock::time_point{} + hours(1);
    const auto interval = seconds(15);
    std::uint64_t skipped = 0;
    // A 20 s tick: the tick due at 15 s is not run, the next one starts 35 s after this one.
    CHECK(next_tick_deadline(t0, t0 + seconds(20), interval, &skipped) == t0 + seconds(35));
    CHECK(skipped == 1);
    // Ending just when the next is due: that one runs, none skipped.
    CHECK(next_tick_deadline(t0, t0 + interval, interval, &skipped) == t0 + interval);
    CHECK(skipped == 1);
    // 29.9 s: one more; 30 s: the ticks due at 15 s and 30 s.
    CHECK(next_tick_deadline(t0, t0 + milliseconds(29'900), interval, &skipped) == t0 + milliseconds(44'900));
    CHECK(skipped == 2);
    CHECK(next_tick_deadline(t0, t0 + seconds(30), interval, &skipped) == t0 + seconds(45));
    CHECK(skipped == 4);
    // The loop with every tick taking 20 s: each one counts the tick it left out.
    skipped = 0;
    auto due = t0;
    for (int t = 0; t < 10; ++t) due = next_tick_deadline(due, due + seconds(20), interval, &skipped);
    CHECK(skipped == 10);
    CHECK(due == t0 + seconds(350));
    counters c;
    c.ticks_skipped = skipped;
    CHECK(prometheus_text(c).find("\nrlscale_controller_ticks_skipped_total 10\n") != std::string::npos);
}

namespace {
/// A system clock the test sets.
struct settable_system_clock {
    using time_point = std::chrono::system_clock::time_point;
    static inline time_point reading{};
    static time_point now() noexcept { return reading; }
};
}  // namespace

TEST_CASE("controller_clock: policies' time follows the steady clock, not a system clock set back or ahead") {
    using namespace std::chrono;
    const auto wall = system_clock::time_point{} + hours(490000);  // late in 2025
    const auto start = steady_clock::time_point{} + hours(3);
    settable_system_clock::reading = wall;
    const controller_clock<settable_system_clock> clock;  // reads the system clock once
    const controller_clock<settable_system_clock> at(wall, start);
    const double w = duration<double>(wall.time_since_epoch()).count();
    CHECK(at.seconds_at(start) == w);
    CHECK(at.seconds_at(start + seconds(15)) == w + 15);
    // NTP sets the system clock back 10 minutes, then 20 ahead: the times
    // policies see still advance by the steady clock's 15 s per tick.
    settable_system_clock::reading = wall - minutes(10);
    CHECK(at.seconds_at(start + seconds(30)) == w + 30);
    settable_system_clock::reading = wall + minutes(10);
    CHECK(at.seconds_at(start + seconds(45)) == w + 45);
    const controller_clock<settable_system_clock> later;  // made now: starts from the clock as set
    CHECK(later.now_s() >= w + 600);
    CHECK(clock.now_s() < w + 600);  // made before: not moved by the step
}

TEST_CASE("controller config: the PromQL window is its own setting, and --check warns about a short one") {
    nlohmann::json j = two_functions();
    config c = parse_config(j);
    CHECK(c.metrics_window_s == 60);  // not the 15 s control interval
    CHECK(config_warnings(c).empty());
    j["prometheus"] = {{"window_s", 30}, {"scrape_interval_s", 15}};
    c = parse_config(j);
    CHECK(c.metrics_window_s == 30);
    const auto w = config_warnings(c);
    REQUIRE(w.size() == 1);
    CHECK(w[0].find("prometheus.window_s") != std::string::npos);
    CHECK(w[0].find("60") != std::string::npos);  // four scrape intervals
    j["prometheus"] = {{"window_s", 0}};
    CHECK_THROWS_WITH_AS(parse_config(j), doctest::Contains("prometheus.window_s"), config_error);
}

TEST_CASE("controller config: the prometheus and kubernetes sections are checked like the rest") {
    const auto fails = [](const nlohmann::json& j, const char* field, const char* text) {
        try {
            (void)parse_config(j);
            FAIL("accepted: " << j.dump());
        } catch (const config_error& e) {
            CHECK_MESSAGE(std::string(e.what()).find(field) != std::string::npos, e.what());
            CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
        }
    };
    nlohmann::json j = two_functions();
    j["prometheus"] = {{"bearer_tokn", "x"}};
    fails(j, "prometheus.bearer_tokn", "not a known field");
    j["prometheus"] = {{"timeout_ms", "5000"}};
    fails(j, "prometheus.timeout_ms", "must be an integer");
    j["prometheus"] = {{"bearer_token", "abc\r\nX-Evil: 1"}};
    fails(j, "prometheus.bearer_token", "line break");
    j = two_functions();
    j["kubernetes"] = {{"in_cluster", false}, {"sever", "https://k8s:6443"}};
    fails(j, "kubernetes.sever", "not a known field");
    j["kubernetes"] = {{"in_cluster", false}, {"sever\r\nrlscale-controller: configuration OK", "x"}};
    fails(j, "kubernetes.sever\\x0d\\x0arlscale-controller: configuration OK", "not a known field");
    j["kubernetes"] = {{"max_attempts", true}};
    fails(j, "kubernetes.max_attempts", "must be an integer");
    j["kubernetes"] = {{"timeout_ms", 0}};
    fails(j, "kubernetes.timeout_ms", "must be in [1, 600000]");
    j = two_functions();
    j["metrics_address"] = "127.0.0.1:";
    fails(j, "metrics_address", "host:port");
    j["metrics_address"] = "127.0.0.1:99999";
    fails(j, "metrics_address", "99999");
    j["metrics_address"] = "localhost";
    fails(j, "metrics_address", "host:port");
    j["metrics_address"] = "0.0.0.0:9464";
    CHECK(parse_config(j).metrics_address == "0.0.0.0:9464");
    // A token over plain HTTP is allowed but warned about.
    j = two_functions();
    j["prometheus"] = {{"url", "http://prometheus:9090"}, {"bearer_token", "secret"}};
    const auto w = config_warnings(parse_config(j));
    REQUIRE(w.size() == 1);
    CHECK(w[0].find("plain http") != std::string::npos);
    // The URL in the warning has its control bytes escaped: a warning is one line.
    j["prometheus"]["url"] = "http://x\r\nrlscale-controller: configuration OK";
    const auto forged = config_warnings(parse_config(j));
    REQUIRE(forged.size() == 1);
    CHECK(forged[0].find("(http://x\\x0d\\x0arlscale-controller: configuration OK)") != std::string::npos);
    CHECK(forged[0].find_first_of("\r\n") == std::string::npos);
}

TEST_CASE("controller config: leader_election is optional, and its fields and their order are checked and named") {
    CHECK(parse_config(two_functions()).leader_election.is_null());
    nlohmann::json j = two_functions();
    j["leader_election"] = {{"namespace", "shop"}, {"lease_name", "rlscale-controller"}};
    CHECK(parse_config(j).leader_election.at("lease_name") == "rlscale-controller");
    const auto field_of = [](const nlohmann::json& doc) -> std::string {
        try {
            (void)parse_config(doc);
        } catch (const config_error& e) {
            return e.field();
        }
        return "accepted";
    };
    const auto with = [&](nlohmann::json section) {
        nlohmann::json doc = two_functions();
        doc["leader_election"] = std::move(section);
        return field_of(doc);
    };
    CHECK(with({{"lease_name", "x"}}) == "leader_election.namespace");
    CHECK(with({{"namespace", "shop"}}) == "leader_election.lease_name");
    CHECK(with({{"namespace", "shop"}, {"lease_name", ""}}) == "leader_election.lease_name");
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"lease_duraton_s", 15}}) == "leader_election.lease_duraton_s");
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"lease_duration_s", 1.5}}) == "leader_election.lease_duration_s");
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"lease_duration_s", 10}}) == "leader_election.lease_duration_s");  // = renew
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"renew_deadline_s", 2.4}}) == "leader_election.renew_deadline_s");  // 1.2 x 2
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"retry_period_s", 0}}) == "leader_election.retry_period_s");
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"identity", 7}}) == "leader_election.identity");
    CHECK(with("shop") == "leader_election");
    CHECK(with({{"namespace", "shop"}, {"lease_name", "x"}, {"lease_duration_s", 3}, {"renew_deadline_s", 2}, {"retry_period_s", 0.5}}) ==
          "accepted");
}

TEST_CASE("controller config: a number beyond a double is a config_error naming the file") {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/overflow_config.json";
    {
        std::ofstream out(path);
        out << R"({"control_interval_s": 1e400})";
    }
    CHECK_THROWS_WITH_AS((void)load_config(path), doctest::Contains("overflow_config.json cannot be read"), config_error);
}

TEST_CASE("controller config: a device, a directory and a file past max_config_bytes are refused by name, a pipe is read") {
    // /dev/zero has no end: read to max_config_bytes, then refused.
    CHECK_THROWS_WITH_AS((void)load_config("/dev/zero"), doctest::Contains("/dev/zero holds more than 16777216 bytes"), config_error);
    CHECK_THROWS_WITH_AS((void)load_config(RLSCALE_CONTROLLER_TEST_TMPDIR), doctest::Contains("is a directory"), config_error);
    const std::string big = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/big_config.json";
    {
        std::ofstream out(big);
        out << R"({"functions": [{"name": "a", "policy": "static", "static_replicas": 2}]})" << std::string(max_config_bytes, ' ');
    }
    CHECK_THROWS_WITH_AS((void)load_config(big), doctest::Contains("big_config.json holds more than"), config_error);
    std::filesystem::remove(big);
    // A pipe (as --config <(...) gives) is read to its end.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const std::string text = R"({"functions": [{"name": "a", "policy": "static", "static_replicas": 2}]})";
    REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<::ssize_t>(text.size()));
    ::close(fds[1]);
    const config c = load_config("/dev/fd/" + std::to_string(fds[0]));
    ::close(fds[0]);
    REQUIRE(c.functions.size() == 1);
    CHECK(c.functions[0].name == "a");
}

TEST_CASE("controller config: a key repeated in one object is refused naming its path") {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/duplicate_config.json";
    const auto load = [&](const std::string& text) {
        {
            std::ofstream out(path);
            out << text;
        }
        try {
            (void)load_config(path);
            return std::string("accepted");
        } catch (const config_error& e) {
            CHECK(e.detail() == "appears twice");
            return e.field();
        }
    };
    const std::string f0 = R"({"name": "a", "policy": "static", "static_replicas": 2})";
    // The last value would win: a file that reads as a dry run would change the cluster.
    CHECK(load(R"({"dry_run": true, "functions": [)" + f0 + R"(], "dry_run": false})") == "dry_run");
    CHECK(load(R"({"functions": [)" + f0 +
               R"(, {"name": "b", "max_replicas": 4, "min_replicas": 1, "max_replicas": 40}]})") == "functions[1].max_replicas");
    CHECK(load(R"({"functions": [{"name": "a", "slo": {"latency_s": 1, "latency_s": 2}}]})") == "functions[0].slo.latency_s");
    CHECK(load(R"({"guard": {"max_step_up": 1}, "functions": [[1, {"x": 1}], {"name": "a", "promql": {"arrivals": "x", "arrivals": "y"}}]})") ==
          "functions[1].promql.arrivals");
    // One key in each of two objects, and the same key at two depths, are not repeats.
    CHECK(load(R"({"functions": [{"name": "a", "policy": "static", "static_replicas": 2}, {"name": "b", "policy": "static", "static_replicas": 2}]})") ==
          "accepted");
    CHECK(load(R"({"leader_election": {"namespace": "n", "lease_name": "l"}, "functions": [{"name": "namespace", "namespace": "namespace"}]})") ==
          "accepted");
}

TEST_CASE("controller config: a file nested 100,000 levels deep is refused by name, and a deep value is summarised, not dumped") {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/deep_config.json";
    {
        std::ofstream out(path);
        out << R"({"control_interval_s": )" << std::string(100000, '[') << std::string(100000, ']') << "}";
    }
    CHECK_THROWS_WITH_AS((void)load_config(path), doctest::Contains("nested deeper than 32"), config_error);
    nlohmann::json j = two_functions();
    nlohmann::json deep = nlohmann::json::array();
    nlohmann::json* at = &deep;
    for (int i = 0; i < 100000; ++i) {
        at->push_back(nlohmann::json::array());
        at = &(*at)[0];
    }
    j["control_interval_s"] = std::move(deep);
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("control_interval_s: must be a number, got an array of 1"), config_error);
}

TEST_CASE("controller config: a NUL byte anywhere in the file is refused by its offset, never the document before it read alone") {
    // The JSON reader would stop at the NUL: the functions after it unread.
    const std::string good = R"({"functions": [{"name": "a", "policy": "static", "static_replicas": 2}]})";
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/nul_config.json";
    const auto load_with = [&path](const std::string& text) {
        std::ofstream(path, std::ios::binary) << text;
        return load_config(path);
    };
    CHECK(load_with(good).functions.size() == 1);
    const std::string tail = std::string(1, '\0') + R"(, {"name": "b", "policy": "static", "static_replicas": -5}]})";
    CHECK_THROWS_WITH_AS((void)load_with(good + tail), doctest::Contains("is not valid JSON: a NUL byte at offset 72"), config_error);
    CHECK_THROWS_WITH_AS((void)load_with(std::string(1, '\0') + good), doctest::Contains("a NUL byte at offset 0"), config_error);
}

TEST_CASE("controller: a multidimensional decision's limits are logged as not applied, a horizontal one logs none") {
    decision_record r;
    r.function = "web";
    r.replicas_before = 3;
    r.replicas_after = 4;
    r.result = {.replicas = 4, .source = decision_source::policy, .reason = "rl: learned", .cpu_limit = 0.75, .memory_limit_mb = 640};
    const nlohmann::json j = r.to_json();
    CHECK(j.at("cpu_limit_not_applied").get<double>() == doctest::Approx(0.75));
    CHECK(j.at("memory_limit_mb_not_applied").get<double>() == doctest::Approx(640));
    r.result = {.replicas = 4, .source = decision_source::policy, .reason = "hpa"};
    CHECK_FALSE(r.to_json().contains("cpu_limit_not_applied"));
    CHECK_FALSE(r.to_json().contains("memory_limit_mb_not_applied"));
}

namespace {

std::string write_ddpg_checkpoint(const std::string& name, std::array<float, 3> bias) {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/" + name;
    rlscale::controller::test::write_ddpg_checkpoint(path, "web", bias);
    return path;
}

nlohmann::json resize_config(const std::string& checkpoint, const std::string& container) {
    nlohmann::json f = {{"name", "web"}, {"min_replicas", 1}, {"max_replicas", 20}, {"policy", "learned"}, {"checkpoint", checkpoint},
                        {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}, {"target_rps", 100}}},
                        // The encoder firm reads arrivals: counted as they arrive, not the completed requests.
                        {"promql", {{"arrivals", R"(sum(increase(requests_received_total{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))"}}}};
    if (!container.empty()) f["resize_container"] = container;
    return {{"control_interval_s", 15}, {"functions", {f}}};
}

TEST_CASE("controller: a learned function without a query for a field its encoder reads is refused naming functions[i].promql.<field>") {
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    const auto refused = [&](const nlohmann::json& j, const std::string& field, const std::string& words) {
        try {
            control_loop loop(parse_config(j), source, actuator);
            FAIL("accepted a learned function without its " << field);
        } catch (const config_error& e) {
            CHECK(e.field() == field);
            CHECK(std::string(e.what()).find(words) != std::string::npos);
        }
    };
    SUBCASE("scarlet_relative reads the queue, which has no default query") {
        const std::string path = write_learned_checkpoint("needs_queue.json", 0);
        nlohmann::json j = learned_config(path);
        j["functions"][1].erase("promql");
        refused(j, "functions[1].promql.queue_length", "encoder scarlet_relative");
        j["functions"][0]["promql"].erase("queue_length");
        j["functions"][0]["promql"]["cpu_utilization"] = "sum(cpu)";
        refused(j, "functions[0].promql.queue_length", "no default query");
        j = learned_config(path);
        CHECK_NOTHROW(control_loop(parse_config(j), source, actuator));
    }
    SUBCASE("utilization_target actions read arrivals and the queue (the SCARLET demo's map)") {
        nn::mlp<float> net({10, 10});
        net.parameters().setZero();
        nlohmann::json cp = nn::make_checkpoint(net);
        serving_spec spec;
        spec.encoder = {{"name", "scarlet"}};
        spec.actions = action_spec(rl::utilization_target_actions(2, {0.4, 0.55, 0.7, 0.85}, true));
        spec.functions = {"search", "checkout"};
        cp["serving"] = spec.to_json();
        const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/needs_demand.json";
        nn::write_checkpoint_file(path, cp);
        nlohmann::json j = learned_config(path);  // a queue_length query, no arrivals
        refused(j, "functions[0].promql.arrivals", "with action map utilization_target");
        for (auto& f : j["functions"]) f["promql"]["arrivals"] = "sum(rate(received_total[1m]))";
        CHECK_NOTHROW(control_loop(parse_config(j), source, actuator));
        j["functions"][1]["promql"].erase("queue_length");
        refused(j, "functions[1].promql.queue_length", "with action map utilization_target");
    }
    SUBCASE("firm reads arrivals, whose default query counts completed requests") {
        const std::string path = write_ddpg_checkpoint("needs_arrivals.json", {0.0F, 1.0F, -0.2F});
        nlohmann::json j = resize_config(path, "");
        j["functions"][0].erase("promql");
        refused(j, "functions[0].promql.arrivals", "counts completed requests");
        j["functions"][0]["policy"] = "dqn";
        refused(j, "functions[0].promql.arrivals", "policy dqn with encoder firm");
    }
    SUBCASE("scarlet reads nothing without a default query, and a reload to an encoder that does is refused") {
        const std::string path = write_learned_checkpoint("reload_needs.json", 2, "scarlet");
        nlohmann::json j = learned_config(path);
        for (auto& f : j["functions"]) f.erase("promql");
        control_loop loop(parse_config(j), source, actuator);
        CHECK(loop.tick(100)[0].replicas_after == 5);
        (void)write_learned_checkpoint("reload_needs.json", 2, "scarlet_relative");
        try {
            loop.reload();
            FAIL("reloaded an encoder whose queue_length has no query");
        } catch (const config_error& e) {
            CHECK(e.field() == "functions[0].promql.queue_length");
        }
        // Every policy kept serving: the scarlet network still scales out.
        const auto kept = loop.tick(115);
        CHECK(kept[0].result.source == decision_source::policy);
        CHECK(kept[0].replicas_after == 6);
    }
    // The table, for the encoders the cases above do not build.
    using fields = std::vector<std::string_view>;
    CHECK(encoder_needs_queries("scarlet") == fields{});
    CHECK(encoder_needs_queries("scarlet_relative") == fields{"queue_length"});
    CHECK(encoder_needs_queries("polimi") == fields{"arrivals"});
    CHECK(encoder_needs_queries("simppo") == fields{"arrivals"});
    CHECK(encoder_needs_queries("firm") == fields{"arrivals"});
    CHECK(action_map_needs_queries("utilization_target") == fields{"arrivals", "queue_length"});
    CHECK(action_map_needs_queries("joint_delta") == fields{});
}

TEST_CASE("controller decision log: a line that cannot be written whole is left out, never written late or torn") {
    const std::string path = std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/torn_log.jsonl";
    const auto line = [](int i) { return nlohmann::json{{"line", i}, {"pad", std::string(40, 'x')}}.dump(); };
    REQUIRE(line(0).size() + 1 == 60);
    // Into the file by name (opened O_APPEND), and as "-" into standard
    // output redirected to the file without O_APPEND (a shell's `>`), where
    // the offset must go back with the size.
    for (const bool via_stdout : {false, true}) {
        CAPTURE(via_stdout);
        std::filesystem::remove(path);
        // In a child: the file size limit stands in for a full disk, at 150
        // bytes (two lines and part of a third), then is lifted before line 4.
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            int status = 0;
            try {
                std::signal(SIGXFSZ, SIG_IGN);
                if (via_stdout) {
                    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
                    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) ::_exit(103);
                    ::close(fd);
                }
                decision_log log(via_stdout ? "-" : path);
                rlimit small{150, RLIM_INFINITY};
                if (::setrlimit(RLIMIT_FSIZE, &small) != 0) ::_exit(100);
                for (int i = 0; i < 6; ++i) {
                    if (i == 4) {
                        rlimit big{RLIM_INFINITY, RLIM_INFINITY};
                        if (::setrlimit(RLIMIT_FSIZE, &big) != 0) ::_exit(101);
                    }
                    if (log.append(line(i))) status |= 1 << i;
                }
                if (log.lines_lost() != 2) status |= 64;
                if (log.last_error().empty()) status |= 64;
            } catch (...) {
                ::_exit(102);
            }
            ::_exit(status);
        }
        int status = 0;
        REQUIRE(::waitpid(child, &status, 0) == child);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0b110011);  // lines 2 and 3 refused, the others written; two counted lost
        std::ifstream in(path);
        std::vector<int> written;
        for (std::string text; std::getline(in, text);) {
            CAPTURE(text);
            REQUIRE(nlohmann::json::accept(text));
            written.push_back(nlohmann::json::parse(text).at("line").get<int>());
        }
        CHECK(written == std::vector<int>{0, 1, 4, 5});
        CHECK(std::filesystem::file_size(path) == 4 * 60);
    }
    CHECK_THROWS_WITH_AS(decision_log(std::string(RLSCALE_CONTROLLER_TEST_TMPDIR) + "/no/such/dir/log.jsonl"),
                         doctest::Contains("decision_log: cannot open"), config_error);
}

TEST_CASE("controller decision log: follows rotation by rename and by copytruncate, and a deleted file is created again") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_CONTROLLER_TEST_TMPDIR) / "rotated_log";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "decisions.jsonl";
    const auto contents = [](const std::filesystem::path& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    decision_log log(path.string());
    REQUIRE(log.append("{\"line\":1}"));
    // logrotate's "create": the file renamed away, the next line starts a new one at the path.
    std::filesystem::rename(path, dir / "decisions.jsonl.1");
    REQUIRE(log.append("{\"line\":2}"));
    CHECK(contents(dir / "decisions.jsonl.1") == "{\"line\":1}\n");
    CHECK(contents(path) == "{\"line\":2}\n");
    // Deleted: created again, not written to the unlinked file.
    std::filesystem::remove(path);
    REQUIRE(log.append("{\"line\":3}"));
    CHECK(contents(path) == "{\"line\":3}\n");
    // "copytruncate": the same file emptied in place; the next line goes to its start.
    std::filesystem::copy_file(path, dir / "decisions.jsonl.2");
    std::filesystem::resize_file(path, 0);
    REQUIRE(log.append("{\"line\":4}"));
    CHECK(contents(path) == "{\"line\":4}\n");
    CHECK(contents(dir / "decisions.jsonl.2") == "{\"line\":3}\n");
    CHECK(log.lines_lost() == 0);

    // Nowhere to create it again (its directory gone): the line is lost and
    // reported, and the next append, once the directory is back, writes.
    const std::filesystem::path sub = dir / "sub";
    std::filesystem::create_directories(sub);
    decision_log inner((sub / "decisions.jsonl").string());
    REQUIRE(inner.append("{\"line\":1}"));
    std::filesystem::remove_all(sub);
    CHECK_FALSE(inner.append("{\"line\":2}"));
    CHECK(inner.lines_lost() == 1);
    CHECK(inner.last_error().find("moved or deleted") != std::string::npos);
    CHECK(inner.last_error().find(std::strerror(ENOENT)) != std::string::npos);
    std::filesystem::create_directories(sub);
    REQUIRE(inner.append("{\"line\":3}"));
    CHECK(contents(sub / "decisions.jsonl") == "{\"line\":3}\n");
}

TEST_CASE("controller decision log: a named pipe put at the path, or a log that is one, never holds an append") {
    // Opening a pipe for writing waits for a reader: a log that followed a
    // pipe re-created with no reader yet would hold the control loop there.
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_CONTROLLER_TEST_TMPDIR) / "fifo_log";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    struct sigaction ignore {};
    struct sigaction before {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGPIPE, &ignore, &before) == 0);  // as the program does: a write to a pipe with no reader is EPIPE
    const auto returns_soon = [](decision_log& log) {
        std::atomic<bool> done{false};
        std::thread t([&log, &done] {
            (void)log.append("{\"line\":2}");
            done = true;
        });
        const auto start = std::chrono::steady_clock::now();
        while (!done && std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const bool returned = done.load();
        if (!returned) {
            // Let the append go on, so that the thread can be joined.
            const int unblock = ::open(log.path().c_str(), O_RDONLY | O_NONBLOCK);
            t.join();
            if (unblock >= 0) ::close(unblock);
        } else {
            t.join();
        }
        return returned;
    };

    // A regular file replaced by a pipe nobody reads yet: the line is lost
    // and reported at once, not waited on.
    const std::filesystem::path file = dir / "decisions.jsonl";
    decision_log log(file.string());
    REQUIRE(log.append("{\"line\":1}"));
    std::filesystem::remove(file);
    REQUIRE(::mkfifo(file.c_str(), 0600) == 0);
    CHECK(returns_soon(log));
    CHECK(log.lines_lost() == 1);
    CHECK(log.last_error().find(std::strerror(ENXIO)) != std::string::npos);

    // A log that is a pipe, re-created by its reader's restart: not
    // followed (a pipe is not rotated); the line goes to the old pipe,
    // which has no reader: EPIPE, reported, at once.
    const std::filesystem::path fifo = dir / "decisions.fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    decision_log piped(fifo.string());
    REQUIRE(piped.append("{\"line\":1}"));
    ::close(reader);
    std::filesystem::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(returns_soon(piped));
    CHECK(piped.lines_lost() == 1);
    CHECK(piped.last_error().find(std::strerror(EPIPE)) != std::string::npos);
    ::sigaction(SIGPIPE, &before, nullptr);
}

/// One healthy reading with the current limits 0.8 cores and 1024 MiB.
struct limits_source {
    double cpu_limit = 0.8;
    double memory_limit_mb = 1024;
    double cpu_limit_min = std::numeric_limits<double>::quiet_NaN();        // not read unless set
    double memory_limit_min_mb = std::numeric_limits<double>::quiet_NaN();  // not read unless set
    std::uint32_t starting = 0;  // replicas running, not ready
    std::uint32_t pending = 0;   // replicas not scheduled
    std::vector<missing_metric> missing;  // fields without data
    metrics_reading read(const function_spec&, double) const {
        metrics_reading r{.metrics = rlscale::test::healthy()};
        r.missing = missing;
        r.metrics.cpu_limit = cpu_limit;
        r.metrics.memory_limit_mb = memory_limit_mb;
        r.metrics.cpu_limit_min = cpu_limit_min;
        r.metrics.memory_limit_min_mb = memory_limit_min_mb;
        r.metrics.ready_replicas = 3;
        r.metrics.starting_replicas = starting;
        r.metrics.pending_replicas = pending;
        return r;
    }
};

/// One tick of a resizing function (checkpoint `path`, limits_source's
/// readings) against `cluster`: its record, logged, and the loop's counters.
template <typename Cluster>
std::pair<decision_record, counters> one_resize_tick(const std::string& path, Cluster& cluster) {
    limits_source source;
    control_loop loop(parse_config(resize_config(path, "app")), source, cluster);
    const std::vector<decision_record> records = loop.tick(15);
    REQUIRE(records.size() == 1);
    MESSAGE(records[0].to_json().dump());
    return {records[0], loop.stats()};
}

/// One tick over two_functions() against `cluster`, checkout busy (CPU
/// 1.0: scaled up) and search idle (0.2: scaled down): both records, each
/// logged, and the loop's counters.
template <typename Cluster>
std::pair<std::vector<decision_record>, counters> tick_two_functions(Cluster& cluster) {
    fake_source source;
    source.cpu = {{"checkout", 1.0}, {"search", 0.2}};
    control_loop loop(parse_config(two_functions()), source, cluster);
    std::vector<decision_record> records = loop.tick(15);
    REQUIRE(records.size() == 2);
    for (const decision_record& r : records) MESSAGE(r.to_json().dump());
    return {std::move(records), loop.stats()};
}

/// The output bias of a checkpoint's actor that asks for `x` of a limit
/// mapped onto [lo, hi]: tanh(b) = 2 (x - lo) / (hi - lo) - 1.
float bias(double x, double lo, double hi) { return static_cast<float>(std::atanh(2 * (x - lo) / (hi - lo) - 1)); }

/// A resizing function whose policy (checkpoint `name`, written) asks for
/// more CPU and less memory, with resize_settle_s 120.
nlohmann::json settling_config(const std::string& name) {
    nlohmann::json j = resize_config(write_ddpg_checkpoint(name, {0.0F, 1.0F, -0.2F}), "app");
    j["functions"][0]["resize_settle_s"] = 120;
    return j;
}

/// A cluster whose count and limits change together or not at all.
struct resizing_actuator_fake {
    int replicas_now = 3;
    double cpu = 0.8;
    double memory = 1024;
    bool reject = false;         // every change fails
    bool reject_limits = false;  // only set_limits fails
    bool time_out_limits = false;  // set_limits applies nothing and times out
    int scale_calls = 0;
    int resize_calls = 0;
    std::optional<int> last_replicas;
    int replicas(const function_spec&) const { return replicas_now; }
    void set_replicas(const function_spec&, int n) {
        ++scale_calls;
        if (reject) throw std::runtime_error("422 Invalid");
        replicas_now = n;
    }
    void set_limits(const function_spec& f, std::optional<int> n, const replica_limits& l) {
        ++resize_calls;
        last_replicas = n;
        CHECK(f.resize_container == "app");
        if (reject || reject_limits) throw std::runtime_error("422 Invalid: must be less than or equal to cpu limit");
        if (time_out_limits) throw outcome_unknown("kubernetes: PATCH /apis/apps/v1/namespaces/shop/deployments/app timed out after 10000 ms");
        if (n) replicas_now = *n;
        if (std::isfinite(l.cpu_cores)) cpu = l.cpu_cores;
        if (std::isfinite(l.memory_mb)) memory = l.memory_mb;
    }
};

}  // namespace

static_assert(resizing_actuator<resizing_actuator_fake>);
static_assert(!resizing_actuator<fake_actuator>);

TEST_CASE("controller config: resize_container, resize_requests and resize_min_change are checked") {
    const config c = parse_config(two_functions());
    CHECK(c.functions[0].resize_container.empty());
    CHECK(c.functions[0].resize_requests);
    CHECK(c.functions[0].resize_min_change == doctest::Approx(0.05));
    nlohmann::json j = two_functions();
    j["functions"][0]["resize_container"] = "app-1";
    j["functions"][0]["resize_requests"] = false;
    j["functions"][0]["resize_min_change"] = 0;
    const config d = parse_config(j);
    CHECK(d.functions[0].resize_container == "app-1");
    CHECK_FALSE(d.functions[0].resize_requests);
    CHECK(d.functions[0].resize_min_change == 0);
    for (const char* bad : {"App", "", "-app", "app_1", "a/b"}) {
        CAPTURE(bad);
        j["functions"][0]["resize_container"] = bad;
        CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("functions[0].resize_container"), config_error);
    }
    j["functions"][0]["resize_container"] = std::string(64, 'a');
    CHECK_THROWS_AS((void)parse_config(j), config_error);
    j["functions"][0]["resize_container"] = "app";
    j["functions"][0]["resize_min_change"] = 1.5;
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("functions[0].resize_min_change"), config_error);
    j["functions"][0]["resize_min_change"] = 0.1;
    j["functions"][0]["resize_requests"] = "yes";
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("functions[0].resize_requests"), config_error);
}

TEST_CASE("controller: limits_to_apply keeps whole millicores and MiB, skips small moves and NaN, needs a container") {
    function_spec f;
    f.resize_container = "app";
    f.resize_min_change = 0.05;
    const auto with = [](double cpu, double mem) {
        decision d;
        d.cpu_limit = cpu;
        d.memory_limit_mb = mem;
        return d;
    };
    auto l = limits_to_apply(f, with(1.2345, 700.4), 1.0, 512);
    REQUIRE(l);
    CHECK(l->cpu_cores == doctest::Approx(1.235));  // whole millicores (1.2345 rounds up in binary too: 1.2345000000000000417)
    CHECK(l->memory_mb == 700);
    // Moves under 5 % of the current value are not sent; each dimension alone.
    l = limits_to_apply(f, with(1.04, 700), 1.0, 512);
    REQUIRE(l);
    CHECK(std::isnan(l->cpu_cores));
    CHECK(l->memory_mb == 700);
    CHECK_FALSE(limits_to_apply(f, with(1.04, 530), 1.0, 512));
    // NaN (unchanged), zero, negative and infinite limits are never sent.
    CHECK_FALSE(limits_to_apply(f, with(std::nan(""), std::nan("")), 1.0, 512));
    CHECK_FALSE(limits_to_apply(f, with(0, -5), 1.0, 512));
    CHECK_FALSE(limits_to_apply(f, with(std::numeric_limits<double>::infinity(), 0), 1.0, 512));
    // With the current value unknown the policy stepped from a value that is
    // not the cluster's: that limit is not sent, the other one is.
    l = limits_to_apply(f, with(0.5, 700), std::nan(""), 512);
    REQUIRE(l);
    CHECK(std::isnan(l->cpu_cores));
    CHECK(l->memory_mb == 700);
    CHECK_FALSE(limits_to_apply(f, with(0.5, 700), 0, 0));
    // A limit that rounds to zero units (or beyond 1e12 of them) is never sent.
    CHECK_FALSE(limits_to_apply(f, with(0.0004, 0.4), 1.0, 512));
    CHECK_FALSE(limits_to_apply(f, with(2e9, 2e13), 1.0, 512));
    // Below the units the patch is sent in, nothing moves even with no threshold.
    f.resize_min_change = 0;
    CHECK_FALSE(limits_to_apply(f, with(1.0004, 512.3), 1.0, 512));
    // No container configured: nothing is applied.
    f.resize_container.clear();
    CHECK_FALSE(limits_to_apply(f, with(2, 2048), 1.0, 512));
}

TEST_CASE("controller: a combined change is conditional on the count read too, and a changed count is not tried again alone") {
    const std::string path = write_ddpg_checkpoint("ddpg_conditional.json", {0.0F, 1.0F, -0.2F});
    // Read 3, then scaled to 30 by someone else before the change.
    struct conditional_resizer {
        int replicas_now = 3;
        int scale_calls = 0;
        std::vector<int> reads_passed;
        int replicas(const function_spec&) {
            const int n = replicas_now;
            replicas_now = 30;
            return n;
        }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        void set_replicas(const function_spec&, int, int) { ++scale_calls; }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&) { FAIL("the unconditional form was called"); }
        void set_limits(const function_spec&, std::optional<int> n, const replica_limits&, std::optional<int> read) {
            REQUIRE(n.has_value());
            REQUIRE(read.has_value());
            reads_passed.push_back(*read);
            if (replicas_now != *read) throw count_changed("spec.replicas is 30, not the 3 the change was decided from; nothing sent");
        }
    };
    static_assert(resizing_actuator<conditional_resizer>);
    conditional_resizer cluster;
    const auto [r, stats] = one_resize_tick(path, cluster);
    CHECK(cluster.reads_passed == std::vector<int>{3});
    CHECK(cluster.scale_calls == 0);  // not tried again as a count alone
    CHECK(cluster.replicas_now == 30);
    CHECK_FALSE(r.applied);
    CHECK_FALSE(r.limits_applied);
    CHECK(r.error.find("changing replicas and limits refused: spec.replicas is 30") == 0);
    CHECK(stats.actuation_errors == 1);
}

TEST_CASE("controller: a combined change that timed out is logged as perhaps applied, never as the count changed alone") {
    const std::string path = write_ddpg_checkpoint("ddpg_timed_out.json", {0.0F, 1.0F, -0.2F});
    // The patch reaches the cluster, which applies it, but its answer never
    // comes back: the count alone then finds the target already there.
    struct timing_out_resizer {
        int replicas_now = 3;
        int count_calls = 0;
        bool limits_changed = false;
        int replicas(const function_spec&) { return replicas_now; }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        void set_replicas(const function_spec&, int n, int read) {
            ++count_calls;
            if (replicas_now != n && replicas_now != read) throw count_changed("moved");
            replicas_now = n;
        }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&) { FAIL("the unconditional form was called"); }
        void set_limits(const function_spec&, std::optional<int> n, const replica_limits&, std::optional<int>) {
            REQUIRE(n.has_value());
            replicas_now = *n;
            limits_changed = true;
            throw outcome_unknown("kubernetes: PATCH /apis/apps/v1/namespaces/shop/deployments/app timed out after 10000 ms");
        }
    };
    static_assert(resizing_actuator<timing_out_resizer>);
    timing_out_resizer cluster;
    const auto [r, stats] = one_resize_tick(path, cluster);
    REQUIRE(r.replicas_after != 3);
    CHECK(cluster.limits_changed);
    CHECK(cluster.count_calls == 1);
    CHECK(r.applied);                // the count is at the target
    CHECK_FALSE(r.limits_applied);  // not known to be
    CHECK(r.error.find("changing replicas and limits failed after it was sent, and may have been applied: kubernetes: PATCH") == 0);
    CHECK(r.error.find("whether the limits were applied shows in the next reading") != std::string::npos);
    CHECK(r.error.find("changed alone") == std::string::npos);
    CHECK(stats.actuation_errors == 1);
}

TEST_CASE("controller: a count change that timed out is logged as perhaps applied, not as failed") {
    struct timing_out_scaler {
        std::map<std::string, int> replicas_of{{"checkout", 4}, {"search", 5}};
        int replicas(const function_spec& f) { return replicas_of.at(f.name); }
        void set_replicas(const function_spec& f, int n) {
            replicas_of[f.name] = n;  // applied, but the answer never came
            throw outcome_unknown("kubernetes: PUT /apis/apps/v1/namespaces/shop/deployments/" + f.name + "/scale timed out after 10000 ms");
        }
    };
    timing_out_scaler cluster;
    const auto [records, stats] = tick_two_functions(cluster);
    for (const decision_record& r : records) {
        REQUIRE(r.replicas_after != r.replicas_before);
        CHECK_FALSE(r.applied);  // not known to be
        CHECK(r.error.find("changing replicas failed after it was sent, and may have been applied: kubernetes: PUT") == 0);
    }
    CHECK(stats.actuation_errors == 2);
    CHECK(stats.changes == 0);
}

TEST_CASE("controller: a count another writer set to the decided one since it was read is not logged as applied") {
    // The actuator finds the count already at the target and sends nothing
    // for it (the Kubernetes actuator's change_replicas, count_sent false).
    struct already_there_scaler {
        std::map<std::string, int> replicas_of{{"checkout", 4}, {"search", 5}};
        int calls = 0;
        int replicas(const function_spec& f) { return replicas_of.at(f.name); }
        bool set_replicas(const function_spec&, int) {
            FAIL("the unconditional form was called");
            return true;
        }
        bool set_replicas(const function_spec& f, int n, int) {
            ++calls;
            return f.name != "checkout" || (replicas_of[f.name] = n, false);  // checkout: already there
        }
    };
    already_there_scaler cluster;
    const auto [records, counts] = tick_two_functions(cluster);
    CHECK(cluster.calls == 2);
    const decision_record& there = records[0].function == "checkout" ? records[0] : records[1];
    const decision_record& moved = records[0].function == "checkout" ? records[1] : records[0];
    REQUIRE(there.replicas_after != there.replicas_before);
    CHECK_FALSE(there.applied);
    CHECK(there.error.empty());
    CHECK(there.note == "spec.replicas was already " + std::to_string(there.replicas_after) + " (set by another writer since it was read); nothing sent");
    CHECK(there.to_json().at("note") == there.note);
    CHECK(moved.applied);
    CHECK_FALSE(moved.to_json().contains("note"));
    CHECK(counts.changes == 1);
    CHECK(counts.actuation_errors == 0);

    // With the limits in one change: the limits are applied, the count is not the controller's.
    const std::string path = write_ddpg_checkpoint("ddpg_already_there.json", {0.0F, 1.0F, -0.2F});
    struct already_there_resizer {
        int replicas_now = 3;
        int replicas(const function_spec&) { return replicas_now; }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        bool set_replicas(const function_spec&, int, int) {
            FAIL("the count alone was tried");
            return true;
        }
        bool set_limits(const function_spec&, std::optional<int>, const replica_limits&) {
            FAIL("the unconditional form was called");
            return true;
        }
        bool set_limits(const function_spec&, std::optional<int> n, const replica_limits&, std::optional<int>) {
            REQUIRE(n.has_value());
            replicas_now = *n;  // another writer's, before the change
            return false;
        }
    };
    static_assert(resizing_actuator<already_there_resizer>);
    already_there_resizer resizer;
    const auto [r, stats] = one_resize_tick(path, resizer);
    REQUIRE(r.replicas_after != 3);
    CHECK(r.limits_applied);
    CHECK_FALSE(r.applied);
    CHECK(r.note.find("spec.replicas was already") == 0);
    CHECK(stats.resizes == 1);
    CHECK(stats.changes == 0);

    // A combined change that fails, then the count alone finds the target.
    struct failing_then_there {
        bool outcome_is_unknown = true;  // else refused outright
        int replicas(const function_spec&) { return 3; }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        bool set_replicas(const function_spec&, int, int) { return false; }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&) { FAIL("the unconditional form was called"); }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&, std::optional<int>) const {
            if (outcome_is_unknown) throw outcome_unknown("kubernetes: PATCH /apis/apps/v1/namespaces/shop/deployments/app timed out after 10000 ms");
            throw rlscale::error("kubernetes: PATCH /apis/apps/v1/namespaces/shop/deployments/app: 422 Invalid");
        }
    };
    // Its outcome unknown: that change's count, or another writer's; claimed by neither.
    failing_then_there unknown;
    const auto [u, ustats] = one_resize_tick(path, unknown);
    CHECK_FALSE(u.applied);
    CHECK(u.error.find("; the replica count was found at the target, set by that change or by another writer") != std::string::npos);
    CHECK(u.note.empty());
    CHECK(ustats.changes == 0);
    // Refused outright: another writer's count.
    failing_then_there refused{.outcome_is_unknown = false};
    const auto [q, qstats] = one_resize_tick(path, refused);
    CHECK_FALSE(q.applied);
    CHECK(q.error.find("changing replicas and limits failed: kubernetes: PATCH") == 0);
    CHECK(q.error.find("that change") == std::string::npos);
    CHECK(q.error.find("changed alone") == std::string::npos);
    CHECK(q.note.find("spec.replicas was already") == 0);
    CHECK(qstats.changes == 0);
}

TEST_CASE("controller: after a resize, no other is sent until the readings show it in place or resize_settle_s has passed") {
    limits_source source;  // reads 0.8 cores, 1024 MiB until told otherwise
    resizing_actuator_fake cluster;
    nlohmann::json j = settling_config("ddpg_settle.json");
    control_loop loop(parse_config(j), source, cluster);
    auto r = loop.tick(15)[0];
    REQUIRE(r.limits_applied);
    CHECK(cluster.resize_calls == 1);
    CHECK(cluster.cpu == doctest::Approx(1.3));
    // The pods roll: the limits read are still the old ones. A resize
    // decided from them is withheld, and counted; the count still changes.
    r = loop.tick(30)[0];
    CHECK(r.resize_settling);
    CHECK_FALSE(r.limits_sent);
    CHECK_FALSE(r.limits_applied);
    CHECK(r.to_json().at("limits_withheld") == "the last resize is not yet in place");
    CHECK(cluster.resize_calls == 1);
    CHECK(r.applied);
    CHECK(cluster.scale_calls == 1);
    CHECK(loop.stats().resizes_withheld == 1);
    CHECK(prometheus_text(loop.stats()).find("rlscale_controller_resizes_withheld_total 1\n") != std::string::npos);
    // In place, but a replica still starting, or one pending: still withheld.
    source.cpu_limit = cluster.cpu;
    source.memory_limit_mb = cluster.memory;
    source.starting = 1;
    CHECK(loop.tick(45)[0].resize_settling);
    source.starting = 0;
    source.pending = 1;
    CHECK(loop.tick(50)[0].resize_settling);
    CHECK(cluster.resize_calls == 1);
    // In place and nothing starting or pending: the next resize goes out.
    source.pending = 0;
    r = loop.tick(60)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.resize_calls == 2);
    // Never read back (the readings stuck at the old limits): withheld until
    // resize_settle_s has passed, then sent again.
    source.cpu_limit = 0.8;
    source.memory_limit_mb = 1024;
    CHECK(loop.tick(120)[0].resize_settling);
    CHECK(cluster.resize_calls == 2);
    r = loop.tick(180)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.resize_calls == 3);
    CHECK(loop.stats().resizes_withheld == 4);
    // resize_settle_s is checked as the other settings are.
    j["functions"][0]["resize_settle_s"] = -1;
    CHECK_THROWS_WITH_AS((void)parse_config(j), doctest::Contains("resize_settle_s"), rlscale::config_error);
}

TEST_CASE("controller: a scale-in decided with a raise of its limits is withheld with them while the last resize settles") {
    limits_source source;  // reads 0.8 cores, 1024 MiB until told otherwise
    resizing_actuator_fake cluster;
    control_loop loop(parse_config(settling_config("ddpg_settle_scale_in.json")), source, cluster);
    REQUIRE(loop.tick(15)[0].limits_applied);  // 3 -> 7 replicas, 0.8 -> 1.3 cores
    // Still rolling (the old limits read), and another writer left 15 replicas:
    // the policy asks for fewer replicas with more CPU each.
    cluster.replicas_now = 15;
    const decision_record r = loop.tick(30)[0];
    CHECK(r.result.replicas < 15);
    CHECK(r.result.cpu_limit > 0.8);
    CHECK(r.resize_settling);
    CHECK_FALSE(r.limits_sent);
    CHECK_FALSE(r.applied);
    CHECK(r.replicas_after == 15);
    CHECK(r.error.empty());
    CHECK(r.note.find("the replica count was not changed alone") == 0);
    CHECK(cluster.scale_calls == 0);
    CHECK(cluster.resize_calls == 1);
    CHECK(cluster.replicas_now == 15);
    // A scale-out while it settles still goes out alone.
    cluster.replicas_now = 3;
    const decision_record out = loop.tick(45)[0];
    CHECK(out.resize_settling);
    CHECK(out.applied);
    CHECK(cluster.scale_calls == 1);
}

TEST_CASE("controller: after a raise, a resize is in place only once the smallest limit over the running replicas reads it too") {
    limits_source source;  // reads 0.8 cores, 1024 MiB until told otherwise
    resizing_actuator_fake cluster;
    control_loop loop(parse_config(settling_config("ddpg_settle_smallest.json")), source, cluster);
    REQUIRE(loop.tick(15)[0].limits_applied);
    REQUIRE(cluster.cpu == doctest::Approx(1.3));  // raised from 0.8
    // Between two waves of the rollout: a new pod runs with 1.3 cores (the
    // largest), an old one still with 0.8, nothing starting or pending.
    source.cpu_limit = cluster.cpu;
    source.memory_limit_mb = cluster.memory;
    source.cpu_limit_min = 0.8;
    source.memory_limit_min_mb = cluster.memory;
    auto r = loop.tick(30)[0];
    CHECK(r.error.empty());
    CHECK(r.resize_settling);
    CHECK(cluster.resize_calls == 1);
    CHECK(r.to_json().at("inputs").at("cpu_limit_min") == 0.8);
    // The smallest could not be read: harmless to the decision, but it shows
    // nothing in place.
    source.cpu_limit_min = std::numeric_limits<double>::quiet_NaN();
    source.missing = {{"cpu_limit_min", "empty result (no series matched)"}};
    r = loop.tick(45)[0];
    CHECK(r.error.empty());
    CHECK(r.resize_settling);
    CHECK(cluster.resize_calls == 1);
    // The CPU limit in place on every pod, but a pod with 1024 MiB still
    // runs (the memory limit was raised too): not in place.
    source.missing.clear();
    source.cpu_limit_min = cluster.cpu;
    source.memory_limit_min_mb = 1024;
    REQUIRE(cluster.memory > 1100);
    r = loop.tick(50)[0];
    CHECK(r.resize_settling);
    CHECK(cluster.resize_calls == 1);
    // The old pods gone: in place, and the next resize goes out.
    source.memory_limit_min_mb = cluster.memory;
    r = loop.tick(60)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.resize_calls == 2);
    // A source that does not read the smallest (NaN, not missing): the
    // largest alone judges, as before.
    source.cpu_limit = cluster.cpu;
    source.memory_limit_mb = cluster.memory;
    source.cpu_limit_min = std::numeric_limits<double>::quiet_NaN();
    source.memory_limit_min_mb = std::numeric_limits<double>::quiet_NaN();
    r = loop.tick(75)[0];  // in place; the policy's limits are reached (1.8 cores), nothing to send
    CHECK_FALSE(r.to_json().at("inputs").contains("cpu_limit_min"));
    CHECK(cluster.resize_calls == 2);
    // Seen in place at 75: when another writer puts 0.8 cores back, the
    // resize that follows is not withheld (sent at 60, 30 s before 120).
    source.cpu_limit = 0.8;
    r = loop.tick(90)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.resize_calls == 3);
}

TEST_CASE("controller: a resize answered as applied and never read back is sent again each resize_settle_s, logged and counted as a repeat") {
    limits_source source;  // reads 0.8 cores, 1024 MiB whatever is set
    resizing_actuator_fake cluster;
    const nlohmann::json j = settling_config("ddpg_unseen.json");
    control_loop loop(parse_config(j), source, cluster);
    auto r = loop.tick(15)[0];
    REQUIRE(r.limits_applied);
    REQUIRE(r.limits_sent);
    const replica_limits first = *r.limits_sent;
    CHECK_FALSE(r.limits_first_sent_s);
    CHECK_FALSE(r.to_json().contains("limits_repeated"));
    CHECK(loop.tick(30)[0].resize_settling);
    // resize_settle_s has passed, no reading shows the limits sent, and the
    // policy asks for them again: sent again, as a repeat of the first.
    const auto repeated = [&](double t) {
        CAPTURE(t);
        const decision_record x = loop.tick(t)[0];
        MESSAGE(x.to_json().dump());
        CHECK(x.limits_applied);
        REQUIRE(x.limits_sent);
        CHECK(x.limits_sent->cpu_cores == first.cpu_cores);
        CHECK(x.limits_sent->memory_mb == first.memory_mb);
        REQUIRE(x.limits_first_sent_s);
        CHECK(*x.limits_first_sent_s == 15);
        CHECK(x.to_json().at("limits_first_sent_s") == 15);
        CHECK(x.to_json().at("limits_repeated").get<std::string>().find("the same limits were first sent at limits_first_sent_s") == 0);
    };
    repeated(135);
    CHECK(cluster.resize_calls == 2);
    CHECK(loop.tick(150)[0].resize_settling);  // the repeat settles as any resize
    repeated(255);
    CHECK(cluster.resize_calls == 3);
    CHECK(loop.stats().resizes == 3);
    CHECK(loop.stats().resizes_repeated == 2);
    CHECK(prometheus_text(loop.stats()).find("rlscale_controller_resizes_repeated_total 2\n") != std::string::npos);
    // A repeat refused, or timed out, is neither logged nor counted as one;
    // the next is still a repeat of the first.
    cluster.reject_limits = true;
    r = loop.tick(375)[0];
    CHECK(r.limits_sent);
    CHECK_FALSE(r.limits_applied);
    CHECK_FALSE(r.limits_first_sent_s);
    CHECK_FALSE(r.to_json().contains("limits_repeated"));
    cluster.reject_limits = false;
    repeated(390);
    cluster.time_out_limits = true;
    r = loop.tick(510)[0];
    CHECK(r.limits_sent);
    CHECK_FALSE(r.limits_applied);
    CHECK_FALSE(r.limits_first_sent_s);
    cluster.time_out_limits = false;
    CHECK(loop.tick(525)[0].resize_settling);
    repeated(630);
    CHECK(cluster.resize_calls == 7);
    CHECK(loop.stats().resizes_repeated == 4);
    // The limits read move (another writer, or the rollout at last): the
    // resizes that follow are no repeats, even back to the first limits.
    source.cpu_limit = 0.9;
    r = loop.tick(750)[0];
    REQUIRE(r.limits_applied);
    CHECK_FALSE(r.limits_first_sent_s);
    CHECK(cluster.resize_calls == 8);
    source.cpu_limit = 0.8;
    CHECK(loop.tick(765)[0].resize_settling);
    r = loop.tick(870)[0];
    REQUIRE(r.limits_applied);
    CHECK(r.limits_sent->cpu_cores == first.cpu_cores);
    CHECK_FALSE(r.limits_first_sent_s);
    CHECK(loop.stats().resizes_repeated == 4);

    // A resize whose outcome is unknown may never have been applied: sent
    // again, but not as a repeat of one answered as applied.
    struct timing_out_resizer {
        int resize_calls = 0;
        int replicas_now = 3;
        int replicas(const function_spec&) const { return replicas_now; }
        void set_replicas(const function_spec&, int n) { replicas_now = n; }
        void set_limits(const function_spec&, std::optional<int> n, const replica_limits&) {
            ++resize_calls;
            if (n) replicas_now = *n;
            throw outcome_unknown("kubernetes: PATCH /apis/apps/v1/namespaces/shop/deployments/app timed out after 10000 ms");
        }
    };
    timing_out_resizer unsure;
    control_loop again(parse_config(j), source, unsure);
    CHECK_FALSE(again.tick(15)[0].limits_applied);
    CHECK(again.tick(30)[0].resize_settling);
    r = again.tick(135)[0];
    CHECK(r.limits_sent);
    CHECK_FALSE(r.limits_first_sent_s);
    CHECK(unsure.resize_calls == 2);
    CHECK(again.stats().resizes_repeated == 0);
}

TEST_CASE("controller: a resize seen in place stays settled, though replicas start later") {
    // μ asks for 1.0 cores and 1100 MiB, each within one step of the 0.8 and
    // 1024 read: tanh(b) = 2 (x - min) / (max - min) - 1.
    const rl::multidimensional_config c;
    const float cpu_1 = bias(1.0, c.min_cpu_limit, c.max_cpu_limit);
    const float mem_1100 = bias(1100, c.min_memory_limit_mb, c.max_memory_limit_mb);
    const std::string path = write_ddpg_checkpoint("ddpg_settle_later.json", {0.0F, cpu_1, mem_1100});
    limits_source source;
    resizing_actuator_fake cluster;
    control_loop loop(parse_config(resize_config(path, "app")), source, cluster);  // resize_settle_s 600
    REQUIRE(loop.tick(15)[0].limits_applied);
    CHECK(cluster.cpu == doctest::Approx(1.0));
    CHECK(cluster.memory == doctest::Approx(1100));
    // The next reading shows it in place, and the policy wants nothing else:
    // nothing is sent, and the resize is seen in place.
    source.cpu_limit = cluster.cpu;
    source.memory_limit_mb = cluster.memory;
    auto r = loop.tick(30)[0];
    CHECK_FALSE(r.limits_sent);
    CHECK_FALSE(r.resize_settling);
    // Later, replicas start (a scale-out) when the policy, reloaded, wants
    // another limit: the resize long in place does not hold it back.
    (void)write_ddpg_checkpoint("ddpg_settle_later.json", {0.0F, bias(1.2, c.min_cpu_limit, c.max_cpu_limit), mem_1100});
    loop.reload();
    source.starting = 3;
    r = loop.tick(45)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.cpu == doctest::Approx(1.2));
    CHECK(cluster.resize_calls == 2);
}

TEST_CASE("controller: a resize of the CPU limit alone settles without the smallest memory limit") {
    // μ asks for 1.0 cores and 1024 MiB: the memory limit read stays.
    const rl::multidimensional_config c;
    const std::string path = write_ddpg_checkpoint(
        "ddpg_settle_cpu_alone.json", {0.0F, bias(1.0, c.min_cpu_limit, c.max_cpu_limit), bias(1024, c.min_memory_limit_mb, c.max_memory_limit_mb)});
    limits_source source;
    resizing_actuator_fake cluster;
    control_loop loop(parse_config(resize_config(path, "app")), source, cluster);  // resize_settle_s 600
    auto r = loop.tick(15)[0];
    REQUIRE(r.limits_applied);
    REQUIRE(r.limits_sent);
    CHECK(r.limits_sent->cpu_cores == doctest::Approx(1.0));
    CHECK(std::isnan(r.limits_sent->memory_mb));
    // Every pod at 1.0 cores; the smallest memory limit could not be read,
    // and no memory limit was sent: in place.
    source.cpu_limit = 1.0;
    source.cpu_limit_min = 1.0;
    source.missing = {{"memory_limit_min_mb", "empty result (no series matched)"}};
    r = loop.tick(30)[0];
    CHECK(r.error.empty());
    CHECK_FALSE(r.limits_sent);
    // So the resize that follows another writer's 0.8 cores goes out at once.
    source.cpu_limit = 0.8;
    source.cpu_limit_min = 0.8;
    r = loop.tick(45)[0];
    CHECK_FALSE(r.resize_settling);
    CHECK(r.limits_applied);
    CHECK(cluster.resize_calls == 2);
}

TEST_CASE("controller: a reading with fields missing never counts a resize in place") {
    const std::string path = write_ddpg_checkpoint("ddpg_settle_missing.json", {0.0F, 1.0F, -0.2F});
    limits_source source;
    resizing_actuator_fake cluster;
    control_loop loop(parse_config(resize_config(path, "app")), source, cluster);  // resize_settle_s 600
    REQUIRE(loop.tick(15)[0].limits_applied);
    // The limits read back, but the counts of starting and pending replicas
    // did not come (a slow Prometheus): they read 0, which proves nothing.
    source.cpu_limit = cluster.cpu;
    source.memory_limit_mb = cluster.memory;
    source.missing = {{"starting_replicas", "not sent: the fetch's deadline passed"},
                      {"pending_replicas", "not sent: the fetch's deadline passed"}};
    auto r = loop.tick(30)[0];
    CHECK_FALSE(r.error.empty());  // unusable: no decision
    CHECK_FALSE(r.limits_sent);
    // The next reading is whole, with replicas starting: the resize is not in place.
    source.missing.clear();
    source.starting = 2;
    r = loop.tick(45)[0];
    CHECK(r.resize_settling);
    CHECK(cluster.resize_calls == 1);
}

TEST_CASE("controller: a refused combined change whose count-alone retry timed out is logged as perhaps applied") {
    const std::string path = write_ddpg_checkpoint("ddpg_refused_then_timed_out.json", {0.0F, 1.0F, -0.2F});
    struct refusing_resizer {
        int replicas_now = 3;
        int replicas(const function_spec&) { return replicas_now; }
        void set_replicas(const function_spec&, int) { FAIL("the unconditional form was called"); }
        void set_replicas(const function_spec&, int n, int) {
            replicas_now = n;  // applied, but the answer never came
            throw outcome_unknown("kubernetes: PUT /apis/apps/v1/namespaces/shop/deployments/app/scale timed out");
        }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&) { FAIL("the unconditional form was called"); }
        void set_limits(const function_spec&, std::optional<int>, const replica_limits&, std::optional<int>) {
            throw std::runtime_error("422 Invalid: spec.template.spec.containers[0].resources.limits");
        }
    };
    refusing_resizer cluster;
    const auto [r, stats] = one_resize_tick(path, cluster);
    REQUIRE(r.replicas_after != 3);
    CHECK_FALSE(r.applied);
    CHECK_FALSE(r.limits_applied);
    CHECK(r.error.find("changing replicas and limits failed: 422") == 0);
    CHECK(r.error.find("; changing replicas alone failed after it was sent, and may have been applied: kubernetes: PUT") != std::string::npos);
    CHECK(r.error.find("failed too") == std::string::npos);
    CHECK(stats.actuation_errors == 2);
}

TEST_CASE("controller: a multidimensional policy steps from the current limits, and the count and limits change in one call") {
    // μ: replicas 1 + 0.5·19 → 11 (rate-limited to 3 + 4), CPU tanh(1) → 1.82 cores (stepped from the
    // current 0.8 by at most 0.5), memory tanh(-0.2) → 1386 MiB (from the current 1024 by at most 256).
    const std::string path = write_ddpg_checkpoint("ddpg_resize.json", {0.0F, 1.0F, -0.2F});
    limits_source source;
    resizing_actuator_fake cluster;
    // The readings are set by hand each tick: no wait for a rollout to show
    // (resize_settle_s has a test of its own).
    nlohmann::json j_config = resize_config(path, "app");
    j_config["functions"][0]["resize_settle_s"] = 0;
    control_loop loop(parse_config(j_config), source, cluster);
    auto records = loop.tick(15);
    REQUIRE(records.size() == 1);
    const decision_record& r = records[0];
    CHECK(r.error.empty());
    CHECK(r.result.source == decision_source::policy);
    CHECK(r.result.replicas == 7);
    CHECK(r.result.cpu_limit == doctest::Approx(1.3));         // from 0.8, not the state's default 1.0
    CHECK(r.result.memory_limit_mb == doctest::Approx(1280));  // from 1024, not the default 128
    CHECK(cluster.scale_calls == 0);
    CHECK(cluster.resize_calls == 1);
    CHECK(cluster.last_replicas == 7);
    CHECK(cluster.replicas_now == 7);
    CHECK(cluster.cpu == doctest::Approx(1.3));
    CHECK(cluster.memory == 1280);
    CHECK(r.applied);
    CHECK(r.limits_applied);
    CHECK(loop.stats().resizes == 1);
    CHECK(loop.stats().changes == 1);
    const nlohmann::json j = r.to_json();
    CHECK(j.at("cpu_limit").get<double>() == doctest::Approx(1.3));
    CHECK(j.at("limits_sent").at("memory_limit_mb").get<double>() == 1280);
    CHECK(j.at("limits_applied").get<bool>());
    CHECK_FALSE(j.contains("cpu_limit_not_applied"));
    CHECK(prometheus_text(loop.stats()).find("rlscale_controller_resizes_total 1\n") != std::string::npos);

    // Limits alone: the count already matches, so only the limits are sent.
    cluster.replicas_now = 11;
    source.cpu_limit = 1.3;
    source.memory_limit_mb = 1280;
    records = loop.tick(30);
    CHECK(records[0].replicas_after == 11);
    CHECK(cluster.resize_calls == 2);
    CHECK_FALSE(cluster.last_replicas.has_value());
    CHECK(cluster.memory == doctest::Approx(1386));
    CHECK(records[0].limits_applied);
    CHECK_FALSE(records[0].applied);  // no replica change

    // The limits are refused: the combined change moves nothing, then the
    // count is changed alone, so a limit the cluster keeps refusing never
    // stops horizontal scaling.
    cluster.reject_limits = true;
    cluster.replicas_now = 3;
    source.cpu_limit = 0.8;
    records = loop.tick(45);
    CHECK(cluster.resize_calls == 3);
    CHECK(cluster.scale_calls == 1);
    CHECK(cluster.replicas_now == 7);
    CHECK(cluster.cpu == doctest::Approx(1.8));  // as the second tick left it
    CHECK(records[0].applied);
    CHECK_FALSE(records[0].limits_applied);
    CHECK(records[0].error.find("changing replicas and limits failed: 422 Invalid") == 0);
    CHECK(records[0].error.find("; the replica count was changed alone") != std::string::npos);
    CHECK(loop.stats().actuation_errors == 1);
    CHECK_FALSE(records[0].to_json().at("limits_applied").get<bool>());

    // Both refused: nothing moves, both failures are logged and counted.
    cluster.reject = true;
    cluster.replicas_now = 3;
    records = loop.tick(60);
    CHECK(cluster.resize_calls == 4);
    CHECK(cluster.scale_calls == 2);
    CHECK(cluster.replicas_now == 3);
    CHECK_FALSE(records[0].applied);
    CHECK(records[0].error.find("; changing replicas alone failed too: 422 Invalid") != std::string::npos);
    CHECK(loop.stats().actuation_errors == 3);

    // A scale-in decided with a raise of the CPU limit, the limits refused:
    // the count alone would lower the capacity the decision raised, so it
    // is not sent either.
    cluster.reject = false;  // (reject_limits still set)
    cluster.replicas_now = 15;
    source.cpu_limit = 0.8;
    records = loop.tick(75);
    REQUIRE(records[0].replicas_after < 15);
    REQUIRE(records[0].limits_sent);
    CHECK(records[0].limits_sent->cpu_cores > 0.8);
    CHECK(cluster.resize_calls == 5);
    CHECK(cluster.scale_calls == 2);
    CHECK(cluster.replicas_now == 15);
    CHECK_FALSE(records[0].applied);
    CHECK(records[0].error.find("; the replica count was not changed alone") != std::string::npos);
    CHECK(loop.stats().actuation_errors == 4);
}

TEST_CASE("controller: without a resize container, or in dry run, or with unusable metrics, limits are not applied") {
    const std::string path = write_ddpg_checkpoint("ddpg_noresize.json", {0.0F, 1.0F, -0.2F});
    limits_source source;
    {
        resizing_actuator_fake cluster;
        control_loop loop(parse_config(resize_config(path, "")), source, cluster);
        const auto r = loop.tick(15)[0];
        CHECK(cluster.resize_calls == 0);
        CHECK(cluster.scale_calls == 1);  // the count alone, through the scale subresource
        CHECK(r.applied);
        CHECK(r.to_json().at("cpu_limit_not_applied").get<double>() == doctest::Approx(1.3));
        CHECK_FALSE(r.to_json().contains("limits_applied"));
    }
    {
        resizing_actuator_fake cluster;
        nlohmann::json c = resize_config(path, "app");
        c["dry_run"] = true;
        control_loop loop(parse_config(c), source, cluster);
        const auto r = loop.tick(15)[0];
        CHECK(cluster.resize_calls + cluster.scale_calls == 0);
        REQUIRE(r.limits_sent);  // what would have been sent
        CHECK(r.limits_sent->cpu_cores == doctest::Approx(1.3));
        CHECK_FALSE(r.limits_applied);
        CHECK_FALSE(r.applied);
    }
    {
        resizing_actuator_fake cluster;
        limits_source broken = source;
        broken.memory_limit_mb = std::nan("");
        control_loop bad_loop(parse_config(resize_config(path, "app")), broken, cluster);
        const auto r = bad_loop.tick(15)[0];
        CHECK(cluster.resize_calls + cluster.scale_calls == 0);
        CHECK(r.result.source == decision_source::hold);
        CHECK_FALSE(r.limits_sent);
    }
}
