// The controller's loop with a scripted metrics source and actuator:
// configuration validation, dry run, decision-log lines, metrics outages
// (hold, never scale to min), failed changes (logged, no retry storm) and
// the /metrics text.
#include <rlscale/controller/config.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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
    j = two_functions();
    j["functions"][0]["policy"] = "dqn";
    fails(j, "functions[0].checkpoint", "required");
    j = two_functions();
    j["control_interval_s"] = "15";
    fails(j, "control_interval_s", "must be a number");
    j = two_functions();
    j["functions"] = nlohmann::json::array();
    fails(j, "functions", "non-empty");
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

TEST_CASE("controller: a reload that fails keeps every policy serving; one that succeeds replaces them") {
    const std::string path = write_learned_checkpoint("reload.json", 2);
    fake_source source{.cpu = {{"checkout", 0.5}, {"search", 0.5}}};
    fake_actuator actuator{.replicas_of = {{"checkout", 4}, {"search", 5}}};
    control_loop loop(parse_config(learned_config(path)), source, actuator);
    CHECK(loop.tick(100)[0].replicas_after == 5);
    // The file is replaced by one whose spec names an encoder this build does not know.
    (void)write_learned_checkpoint("reload.json", 0, "transformer");
    CHECK_THROWS_WITH_AS(loop.reload(), doctest::Contains("serving.encoder.name"), checkpoint_error);
    const auto kept = loop.tick(115);
    CHECK(kept[0].result.source == decision_source::policy);
    CHECK(kept[0].replicas_after == 6);  // still +1 from 5
    // A good file: the new network (prefers -1) serves from the next tick.
    (void)write_learned_checkpoint("reload.json", 0);
    loop.reload();
    CHECK(loop.stats().reloads == 1);
    CHECK(loop.tick(130)[0].replicas_after == 5);
}
