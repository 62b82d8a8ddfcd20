#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/serving_spec.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test_policy_registry {

using namespace rlscale;
using nlohmann::json;

namespace {

using test::healthy;

/// A checkpoint for `spec` whose network prefers output `best` (its bias).
json checkpoint_for(const serving_spec& spec, Eigen::Index inputs, Eigen::Index outputs, Eigen::Index best) {
    nn::mlp<float> net({inputs, outputs});
    net.parameters().setZero();
    net.bias(0)[best] = 1.0F;
    json j = nn::make_checkpoint(net);
    j["serving"] = spec.to_json();
    return j;
}

serving_spec two_function_spec() {
    serving_spec s;
    s.algorithm = "dqn";
    s.encoder = {{"name", "scarlet_relative"}};
    s.actions = action_spec(rl::factored_delta_actions(2));
    s.downscale_window = 0;
    s.functions = {"a", "b"};
    s.guard = {.max_step_up = 3, .max_step_down = 1};
    return s;
}

/// checkpoint_error naming `field` when building from `j`.
void rejects(const json& j, const std::string& field, const std::string& value = "") {
    CAPTURE(field);
    try {
        (void)make_learned_policy(j);
        FAIL("accepted");
    } catch (const checkpoint_error& e) {
        CHECK(e.field() == field);
        CHECK(std::string(e.what()).find(value) != std::string::npos);
        MESSAGE(e.what());
    }
}

}  // namespace

TEST_CASE("serving spec: round trip and field-named errors") {
    const serving_spec s = two_function_spec();
    const serving_spec back = serving_spec::from_json(s.to_json());
    CHECK(back.to_json() == s.to_json());
    CHECK(back.function_count() == 2);
    CHECK(back.guard.max_step_up == 3);

    json bad = s.to_json();
    bad["functions"] = json::array();
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.functions"), checkpoint_error);
    bad = s.to_json();
    bad["downscale_window"] = -1;
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.downscale_window"), checkpoint_error);
    // Each within its own range, too many together: named before the weights are read.
    bad = s.to_json();
    bad["downscale_window"] = 100'000;
    bad["functions"] = json::array();
    for (int i = 0; i < 1001; ++i) bad["functions"].push_back("f" + std::to_string(i));
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad),
                         doctest::Contains("serving.downscale_window: is 100000: with 1001 functions that is more than 100000000"),
                         checkpoint_error);
    bad["functions"].erase(1000);
    CHECK(serving_spec::from_json(bad).function_count() == 1000);
    bad = s.to_json();
    bad["guard"]["max_step_up"] = "4";
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.guard.max_step_up"), checkpoint_error);
    bad = s.to_json();
    bad.erase("encoder");
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.encoder"), checkpoint_error);
}

TEST_CASE("registry: a checkpoint's spec becomes the learned policy it describes") {
    // Factored deltas over two functions: output 2 of head 0 is +1, output 0 of head 1 (index 3) is -1.
    const serving_spec spec = two_function_spec();
    json j = checkpoint_for(spec, 10, 6, 2);
    learned_policy p = make_learned_policy(j);
    CHECK(p.spec.functions == std::vector<std::string>{"a", "b"});
    CHECK(p.policy.functions() == 2);
    const std::array<function_metrics, 2> m{healthy(), healthy()};
    std::array<scaling_state, 2> s{};
    for (auto& x : s) x = {.replicas = 4, .min_replicas = 1, .max_replicas = 10, .time_s = 15};
    std::array<decision, 2> d{};
    p.policy.decide(m, s, d);
    CHECK(d[0].replicas == 5);  // head 0 prefers +1
    CHECK(d[1].replicas == 3);  // head 1's outputs are all 0: ties go to index 0, -1
    CHECK(d[0].source == decision_source::policy);

    // The weights can be replaced while serving.
    nn::mlp<float> other({10, 6});
    other.parameters().setZero();
    other.bias(0)[1] = 1.0F;  // head 0 holds
    p.weights->publish(other);
    p.policy.decide(m, s, d);
    CHECK(d[0].replicas == 4);

    // The guard is the tighter of the spec's and the program's.
    j = checkpoint_for(spec, 10, 6, 2);
    j["serving"]["actions"] = action_spec(rl::factored_delta_actions(2, {-5, 0, 5}));
    learned_policy wide = make_learned_policy(j, {.guard = guard_config{.max_step_up = 2, .max_step_down = 2}});
    wide.policy.decide(m, s, d);
    CHECK(d[0].replicas == 6);  // +5 limited to +2 (the program's limit)
    CHECK(d[1].replicas == 3);  // -5 limited to -1 (the spec's limit)
}

TEST_CASE("registry: policies made over one loaded checkpoint's weights share them, each deciding on its own") {
    serving_spec spec = two_function_spec();
    spec.actions = action_spec(rl::factored_delta_actions(2, {-5, 0, 5}));  // head 0: +5, head 1: -5
    learned_policy first = make_learned_policy(checkpoint_for(spec, 10, 6, 2));
    learned_policy second = make_learned_policy(first.spec, first.weights, {.guard = guard_config{.max_step_up = 1, .max_step_down = 1}});
    CHECK(second.weights.get() == first.weights.get());  // no shared_network of its own
    const std::array<function_metrics, 2> m{healthy(), healthy()};
    std::array<scaling_state, 2> s{};
    for (auto& x : s) x = {.replicas = 4, .min_replicas = 1, .max_replicas = 10, .time_s = 15};
    std::array<decision, 2> d{};
    // Each with its own guard: the spec's +3, and +1 from the options.
    first.policy.decide(m, s, d);
    CHECK(d[0].replicas == 7);
    CHECK(d[1].replicas == 3);
    second.policy.decide(m, s, d);
    CHECK(d[0].replicas == 5);
    CHECK(d[1].replicas == 3);

    // A publish reaches both policies.
    nn::mlp<float> holds({10, 6});
    holds.parameters().setZero();
    holds.bias(0)[1] = 1.0F;  // head 0 holds
    first.weights->publish(holds);
    for (learned_policy* p : {&first, &second}) {
        p->policy.decide(m, s, d);
        CHECK(d[0].replicas == 4);
    }

    // The same checks as from a checkpoint, of the spec too, and weights that are not there.
    serving_spec other = spec;
    other.functions = {"a", "a"};
    CHECK_THROWS_WITH_AS((void)make_learned_policy(other, first.weights), doctest::Contains("serving.functions[1]"), checkpoint_error);
    other = spec;
    other.algorithm = "a3c";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(other, first.weights), doctest::Contains("serving.algorithm"), checkpoint_error);
    other = spec;
    other.functions = {"a", "b", "c"};  // 15 inputs, the network takes 10
    CHECK_THROWS_WITH_AS((void)make_learned_policy(other, first.weights), doctest::Contains("network.layers[0].in: is 10"), checkpoint_error);
    CHECK_THROWS_WITH_AS((void)make_learned_policy(spec, nullptr), doctest::Contains("learned_policy.weights"), config_error);
    const auto unpublished = std::make_shared<rl::shared_network<float>>(nn::mlp<float>({10, 6}));
    CHECK_THROWS_WITH_AS((void)make_learned_policy(spec, unpublished), doctest::Contains("learned_policy.weights: must hold published weights"),
                         config_error);
}

TEST_CASE("registry: the int8 copy is refused for a checkpoint that is not a dqn's, naming the option") {
    serving_spec spec = two_function_spec();
    spec.algorithm = "ppo";
    const json j = checkpoint_for(spec, 10, 6, 2);
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j, {.int8 = true}), doctest::Contains("learned_policy_options.int8"), config_error);
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j, {.int8 = true}), doctest::Contains("serves dqn checkpoints only; this one is ppo"),
                         config_error);
    CHECK_NOTHROW((void)make_learned_policy(j));
    spec.algorithm = "dqn";
    CHECK_NOTHROW((void)make_learned_policy(checkpoint_for(spec, 10, 6, 2), {.int8 = true}));
}

TEST_CASE("registry: a checkpoint of another version or format is refused as such before its other fields are read") {
    const serving_spec spec = two_function_spec();
    json j = checkpoint_for(spec, 10, 6, 0);
    j["version"] = 2;
    j["serving"]["encoder"]["name"] = "transformer";  // what a later version might write
    rejects(j, "version", "unknown version 2");
    CHECK_THROWS_WITH_AS((void)spec_of(j), doctest::Contains("unknown version 2"), checkpoint_error);
    // A lifecycle field of another version's shape: the version is named, not the lifecycle.
    j = checkpoint_for(spec, 10, 6, 0);
    j["version"] = 2;
    j["lifecycle"] = {{"version", 7}};
    rejects(j, "version", "unknown version 2");
    j = checkpoint_for(spec, 10, 6, 0);
    j["format"] = "other.checkpoint";
    j["serving"] = 5;
    rejects(j, "format", "other.checkpoint");
    CHECK_THROWS_WITH_AS((void)make_learned_policy(json::array()), doctest::Contains("must be a JSON object"), checkpoint_error);
}

TEST_CASE("registry: a spec this build cannot serve is rejected naming the field and value") {
    const serving_spec spec = two_function_spec();
    json j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["algorithm"] = "a3c";
    rejects(j, "serving.algorithm");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["encoder"]["name"] = "transformer";
    rejects(j, "serving.encoder.name");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"]["name"] = "teleport";
    rejects(j, "serving.actions.name");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"]["deltas"] = json::array({1, "x"});
    rejects(j, "serving.actions.deltas[1]");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"]["deltas"] = json::array({1, 1});
    rejects(j, "serving.actions");  // the map's own validation, under the spec's path
    // Shapes: the network must take N × encoder inputs and give the map's outputs.
    rejects(checkpoint_for(spec, 12, 6, 0), "network.layers[0].in");
    rejects(checkpoint_for(spec, 10, 9, 0), "network.layers[0].out");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"] = {{"name", "replica_count"}, {"min_replicas", 1}};
    rejects(j, "serving.actions.max_replicas");
    // Integers beyond int are refused as written, not cut to 32 bits
    // (4294967297 would have been read as 1).
    j["serving"]["actions"] = {{"name", "replica_count"}, {"min_replicas", 4294967297LL}, {"max_replicas", 4294967306LL}};
    rejects(j, "serving.actions.min_replicas", "4294967297");
    j["serving"]["actions"] = {{"name", "replica_count"}, {"min_replicas", 1}, {"max_replicas", 3000000000ULL}};
    rejects(j, "serving.actions.max_replicas", "3000000000");
    j["serving"]["actions"] = {{"name", "replica_count"}, {"min_replicas", 1}, {"max_replicas", std::numeric_limits<std::uint64_t>::max()}};
    rejects(j, "serving.actions.max_replicas", "18446744073709551615");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"]["deltas"] = json::array({-1, 0, 4294967297LL});
    rejects(j, "serving.actions.deltas[2]", "4294967297");
    // A setting the map or encoder does not have (a misspelling, or a newer
    // build's) is refused, not served at its default.
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["actions"]["delta"] = json::array({-2, 0, 2});
    rejects(j, "serving.actions.delta", "is not a setting of action map \"factored_delta\" (it has: deltas)");
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["encoder"]["rps_scale"] = 50;
    rejects(j, "serving.encoder.rps_scale", "is not a setting of encoder \"scarlet_relative\" (it has none)");
    // A function named twice: two outputs would decide it and none the other.
    j = checkpoint_for(spec, 10, 6, 0);
    j["serving"]["functions"][1] = j["serving"]["functions"][0];
    rejects(j, "serving.functions[1]", "already functions[0]");
}

TEST_CASE("registry: checkpoints written before serving specs keep serving as before") {
    // The SCARLET demo's field: the relative encoder, its actions and stabiliser.
    nn::mlp<float> net({15, 15});
    net.parameters().setZero();
    json demo = nn::make_checkpoint(net);
    demo["scarlet_demo"] = {{"actions", "utilization"}, {"targets", {0.55, 0.7, 0.85, 0.95}}, {"downscale_window", 20}};
    const serving_spec s = spec_of(demo);
    CHECK(s.encoder_name() == "scarlet_relative");
    CHECK(s.actions_name() == "utilization_target");
    CHECK(s.function_count() == 3);
    CHECK(s.downscale_window == 20);
    CHECK(make_learned_policy(demo).policy.functions() == 3);
    // No field at all: the one-function SCARLET network with -1/0/+1.
    json plain = nn::make_checkpoint(nn::mlp<float>({static_cast<Eigen::Index>(scarlet_encoder{}.size()), 3}));
    const serving_spec p = spec_of(plain);
    CHECK(p.encoder_name() == "scarlet");
    CHECK(p.actions_name() == "joint_delta");
    CHECK(p.function_count() == 1);
}

TEST_CASE("registry: an old checkpoint's declared input width is believed only once its arrays hold that many weights") {
    // Found by the checkpoint fuzzer: a checkpoint with the SCARLET demo's
    // field and a first layer declaring 52,000,000,000 inputs (with three
    // weights in all) made spec_of name one function per 5 declared inputs,
    // 10.4 billion names, before the network's arrays were checked:
    // libFuzzer's out-of-memory under its 512 MB limit. Here 500,000
    // declared inputs (100,000 names) show the same order of work.
    for (const std::int64_t in : {std::int64_t{500'000}, std::int64_t{52'000'000'000}}) {
        CAPTURE(in);
        json j = {{"format", "rlscale.checkpoint"},
                  {"version", 1},
                  {"network",
                   {{"scalar", "float32"},
                    {"layers", json::array({{{"in", in}, {"out", 3}, {"activation", "identity"}, {"weight", {5.0, 0.0, 0.0}}}})}}},
                  {"scarlet_demo", {{"actions", "delta"}}}};
        CHECK_THROWS_WITH_AS(static_cast<void>(spec_of(j)), doctest::Contains("network.layers[0].weight[0]"), checkpoint_error);
        CHECK_THROWS_AS(static_cast<void>(make_learned_policy(j)), checkpoint_error);
    }
}

TEST_CASE("registry: baselines by name with one set of defaults") {
    const function_metrics m = healthy(0.9);
    const scaling_state s{.replicas = 4, .min_replicas = 1, .max_replicas = 20, .time_s = 15};
    CHECK(hpa_target_of("hpa") == 70);
    CHECK(hpa_target_of("hpa-55") == 55);
    CHECK(hpa_target_of("kpa") == 0);
    CHECK_THROWS_WITH_AS((void)hpa_target_of("hpa-0"), doctest::Contains("1..100"), config_error);
    CHECK_THROWS_WITH_AS((void)hpa_target_of("hpa-7x"), doctest::Contains("1..100"), config_error);
    // CPU at 90 % of 4 replicas, target 70 %: ceil(4 · 0.9 / 0.7) = 6.
    any_policy hpa = make_baseline("hpa");
    CHECK(hpa.decide(m, s).replicas == 6);
    any_policy hpa45 = make_baseline("hpa-45");
    CHECK(hpa45.decide(m, s).replicas == 8);
    CHECK(make_baseline("static", {.static_replicas = 9}).decide(m, s).replicas == 9);
    CHECK(make_baseline("kpa").ready());
    CHECK(make_baseline("ensure").ready());
    CHECK_THROWS_WITH_AS((void)make_baseline("vpa"), doctest::Contains("unknown policy \"vpa\""), config_error);
    // Settings out of range are refused by name, only those the policy reads.
    CHECK_THROWS_WITH_AS((void)make_baseline("static", {.static_replicas = -3}),
                         doctest::Contains("baseline_settings.static_replicas: must be >= 0, got -3"), config_error);
    CHECK_THROWS_WITH_AS((void)make_baseline("hpa", {.hpa_cpu_target_percent = 0}),
                         doctest::Contains("baseline_settings.hpa_cpu_target_percent"), config_error);
    baseline_settings clock_back;
    clock_back.kpa_max_clock_backwards_s = -1;
    CHECK_THROWS_WITH_AS((void)make_baseline("kpa", clock_back),
                         doctest::Contains("baseline_settings.kpa_max_clock_backwards_s: must be finite and >= 0, got -1"), config_error);
    // The HPA likewise, by name ("hpa" and "hpa-<percent>") and as a learned policy's fallback.
    baseline_settings hpa_clock_back;
    hpa_clock_back.hpa_max_clock_backwards_s = -1;
    for (const char* name : {"hpa", "hpa-60"}) {
        CHECK_THROWS_WITH_AS((void)make_baseline(name, hpa_clock_back),
                             doctest::Contains("baseline_settings.hpa_max_clock_backwards_s: must be finite and >= 0, got -1"), config_error);
    }
    CHECK_NOTHROW((void)make_baseline("kpa", hpa_clock_back));  // not read by the KPA
    // A busy tick at t = 100 scales 4 -> 8; the next, 2 s back with the 8
    // replicas, still busy: with 5 s of jitter the scale-up of 4 in the last
    // 15 s still limits it, with the default 1 s a new history does not.
    std::vector<int> after_jitter;
    for (const double allowed : {5.0, 1.0}) {
        CAPTURE(allowed);
        baseline_settings b;
        b.hpa_max_clock_backwards_s = allowed;
        any_policy hpa = make_baseline("hpa", b);
        function_metrics busy = healthy(3.0);
        busy.ready_replicas = 4;
        REQUIRE(hpa.decide(busy, {.replicas = 4, .min_replicas = 1, .max_replicas = 100, .time_s = 100}).replicas == 8);
        busy.ready_replicas = 8;
        after_jitter.push_back(hpa.decide(busy, {.replicas = 8, .min_replicas = 1, .max_replicas = 100, .time_s = 98}).replicas);
    }
    any_policy fresh = make_baseline("hpa");
    function_metrics busy8 = healthy(3.0);
    busy8.ready_replicas = 8;
    CHECK(after_jitter[1] == fresh.decide(busy8, {.replicas = 8, .min_replicas = 1, .max_replicas = 100, .time_s = 98}).replicas);
    CHECK(after_jitter[0] < after_jitter[1]);
    // The KPA takes the jitter its caller allows: 2 s back is jitter with 5 s, a new history with the default 1 s.
    // A panic (2000 in flight at one ready replica) is kept through an idle tick 2 s back only in the first.
    for (const double allowed : {5.0, 1.0}) {
        CAPTURE(allowed);
        baseline_settings b;
        b.kpa_max_clock_backwards_s = allowed;
        any_policy kpa = make_baseline("kpa", b);
        function_metrics burst{};
        burst.interval_s = 15;
        burst.queue_length = 2000;
        burst.ready_replicas = 1;
        scaling_state t{.replicas = 1, .min_replicas = 1, .max_replicas = 1000, .time_s = 100};
        const int panic = kpa.decide(burst, t).replicas;
        REQUIRE(panic > 2);
        function_metrics idle{};
        idle.interval_s = 15;
        idle.ready_replicas = static_cast<std::uint32_t>(panic);
        t.replicas = panic;
        t.time_s = 98;
        const int next = kpa.decide(idle, t).replicas;
        if (allowed == 5.0) CHECK(next == panic);  // still in panic: never below its count
        else CHECK(next < panic);
    }
    CHECK_THROWS_WITH_AS((void)make_baseline("kpa", {.container_concurrency = std::nan("")}),
                         doctest::Contains("baseline_settings.container_concurrency"), config_error);
    CHECK_THROWS_WITH_AS((void)make_baseline("ensure", {.service_time_s = 0}), doctest::Contains("baseline_settings.service_time_s"),
                         config_error);
    CHECK(make_baseline("hpa", {.service_time_s = 0, .static_replicas = -3}).ready());  // read by other policies only
    CHECK(make_baseline("hpa", {.hpa_cpu_target_percent = 150}).ready());              // Kubernetes allows a target above 100 %
}

TEST_CASE("serving spec: a key of guard this reader does not know is refused naming it, and every key guard_json writes is read") {
    serving_spec s = two_function_spec();
    json bad = s.to_json();
    bad["guard"] = {{"max_step_up", 1}, {"max_step_dwon", 1}};  // misspelt: max_step_down would stay 2
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.guard.max_step_dwon: is not a guard limit (it has: max_step_up"),
                         checkpoint_error);
    bad["guard"] = {{"vertical_min_replica", 0}};
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(bad), doctest::Contains("serving.guard.vertical_min_replica"), checkpoint_error);
    // Every field set away from its default: guard_json writes each key, and each is read back.
    s.guard = {.max_step_up = 5,
               .max_step_down = 3,
               .max_cpu_step = 0.5,
               .max_memory_step_mb = 64,
               .min_cpu_limit = 0.25,
               .max_cpu_limit = 4,
               .min_memory_limit_mb = 128,
               .max_memory_limit_mb = 4096,
               .vertical_min_replicas = 3};
    const json all = s.to_json();
    CHECK(all["guard"].size() == std::size(serving_spec::guard_keys));
    const serving_spec back = serving_spec::from_json(all);
    CHECK(back.to_json() == all);
    CHECK(back.guard.max_memory_limit_mb == 4096);
    CHECK(back.guard.vertical_min_replicas == 3);
}

TEST_CASE("serving spec: a key of the spec this reader does not know is refused naming it, and every key to_json writes is read") {
    serving_spec s = two_function_spec();
    // Each misspelt: served with downscale_window 0, no floor and the default step limit 4.
    for (const auto& [key, value] : {std::pair<std::string, json>{"downscale_windw", 20},
                                     std::pair<std::string, json>{"fallback_flor", true},
                                     std::pair<std::string, json>{"guards", {{"max_step_up", 1}}}}) {
        json j = checkpoint_for(s, 10, 6, 2);
        j["serving"][key] = value;
        rejects(j, "serving." + key, "is not a field of the serving spec (it has: algorithm, encoder, actions, downscale_window, functions, guard, "
                                     "fallback_floor, requires)");
    }
    // Every field set: to_json writes each key, and each is read back.
    s.downscale_window = 3;
    s.fallback_floor = true;
    const json all = s.to_json();
    CHECK(all.size() == std::size(serving_spec::keys));
    const serving_spec back = serving_spec::from_json(all);
    CHECK(back.to_json() == all);
    CHECK(back.fallback_floor);
    CHECK(back.downscale_window == 3);
    // A newer build's required feature is named as such, not as an unknown key.
    json newer = all;
    newer["requires"] = {"fallback_floor", "quantile_guard"};
    newer["quantile_guard"] = {{"q", 0.99}};
    CHECK_THROWS_WITH_AS((void)serving_spec::from_json(newer), doctest::Contains("serving.requires[1]: is \"quantile_guard\""), checkpoint_error);
    // An unknown key is named with its control bytes escaped: the message
    // stays one line (the controller prints it on a reload it refuses).
    json forged = checkpoint_for(two_function_spec(), 10, 6, 2);
    forged["serving"]["x\r\nrlscale-controller: reloaded"] = 1;
    rejects(forged, "serving.x\\x0d\\x0arlscale-controller: reloaded", "is not a field of the serving spec");
    forged = checkpoint_for(two_function_spec(), 10, 6, 2);
    forged["serving"]["guard"]["max_step_up\n"] = 1;
    rejects(forged, "serving.guard.max_step_up\\x0a", "is not a guard limit");
    forged = checkpoint_for(two_function_spec(), 10, 6, 2);
    forged["serving"]["encoder"]["\x1b[32m"] = 1;
    rejects(forged, "serving.encoder.\\x1b[32m", "is not a setting of");
    forged = checkpoint_for(two_function_spec(), 10, 6, 2);
    forged["serving"]["next\xc2\x85line"] = 1;  // NEL, a C1 control
    rejects(forged, "serving.next\\xc2\\x85line", "is not a field of the serving spec");
}

TEST_CASE("registry: a key of the SCARLET demo's field that the demo never wrote is refused naming it") {
    nn::mlp<float> net({15, 15});
    net.parameters().setZero();
    json demo = nn::make_checkpoint(net);
    // All four keys the demo wrote, whatever its actions (the unused list too).
    demo["scarlet_demo"] = {{"actions", "utilization"}, {"deltas", {-1, 0, 1}}, {"targets", {0.55, 0.7, 0.85, 0.95}}, {"downscale_window", 20}};
    CHECK(make_learned_policy(demo).spec.downscale_window == 20);
    json delta = nn::make_checkpoint(nn::mlp<float>({5, 3}));  // one function
    delta["scarlet_demo"] = {{"actions", "delta"}, {"deltas", {-1, 0, 1}}, {"targets", {0.55, 0.7, 0.85, 0.95}}, {"downscale_window", 20}};
    CHECK(make_learned_policy(delta).spec.actions_name() == "joint_delta");
    json bad = demo;
    bad["scarlet_demo"].erase("downscale_window");
    bad["scarlet_demo"]["downscale_windw"] = 20;  // served with no stabiliser
    rejects(bad, "scarlet_demo.downscale_windw", "is not a setting of the demo's checkpoint (it has: actions, deltas, targets, downscale_window)");
}

TEST_CASE("registry: a spec built in code with a guard limit that is not a number, or a bound of -inf, is refused as a checkpoint's is") {
    const serving_spec spec = two_function_spec();
    const learned_policy served = make_learned_policy(checkpoint_for(spec, 10, 6, 2));
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    constexpr double inf = std::numeric_limits<double>::infinity();
    const auto refused = [&](const serving_spec& s, const std::string& field, const std::string& value) {
        CAPTURE(field);
        try {
            (void)make_learned_policy(s, served.weights);
            FAIL("accepted");
        } catch (const checkpoint_error& e) {
            CHECK(e.field() == "serving.guard." + field);
            CHECK(std::string(e.what()).find(value) != std::string::npos);
            MESSAGE(e.what());
        }
        CHECK_THROWS_AS((void)s.to_json(), checkpoint_error);  // nor written into a checkpoint as "no limit"
    };
    // guard_json leaves out what is not finite: each was served as "no limit".
    serving_spec s = spec;
    s.guard.max_cpu_step = nan;
    refused(s, "max_cpu_step", "got nan");
    s = spec;
    s.guard.max_memory_step_mb = -inf;
    refused(s, "max_memory_step_mb", "got -inf");
    s = spec;
    s.guard.max_cpu_limit = -inf;
    refused(s, "max_cpu_limit", "got -inf");
    s = spec;
    s.guard.max_memory_limit_mb = nan;
    refused(s, "max_memory_limit_mb", "got nan");
    s = spec;
    s.guard.min_cpu_limit = inf;
    refused(s, "min_cpu_limit", "got inf");
    s = spec;
    s.guard.min_memory_limit_mb = nan;
    refused(s, "min_memory_limit_mb", "got nan");
    // Read from a checkpoint, a bound below the other is named the same way.
    json j = checkpoint_for(spec, 10, 6, 2);
    j["serving"]["guard"]["min_cpu_limit"] = 2;
    j["serving"]["guard"]["max_cpu_limit"] = 1;
    rejects(j, "serving.guard.max_cpu_limit", "must be >= min_cpu_limit (+inf: no bound), got 1");
    // +inf stays the default "no limit" of the steps and upper bounds.
    s = spec;
    s.guard.max_cpu_step = inf;
    s.guard.max_memory_step_mb = inf;
    s.guard.max_cpu_limit = inf;
    s.guard.max_memory_limit_mb = inf;
    CHECK_NOTHROW((void)make_learned_policy(s, served.weights));
}

TEST_CASE("registry: a fallback_for name that is no function of the spec is refused naming it") {
    const serving_spec spec = two_function_spec();
    const json j = checkpoint_for(spec, 10, 6, 2);
    learned_policy_options o;
    o.fallback_for["b"] = {.hpa_cpu_target_percent = 50};
    CHECK_NOTHROW((void)make_learned_policy(j, o));
    o.fallback_for["bb"] = {.hpa_cpu_target_percent = 5};  // a typo: b would have the default fallback
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j, o),
                         doctest::Contains("learned_policy_options.fallback_for.bb: names no function of the spec (it has: a, b)"), config_error);
    const learned_policy served = make_learned_policy(checkpoint_for(spec, 10, 6, 2));
    CHECK_THROWS_WITH_AS((void)make_learned_policy(spec, served.weights, o), doctest::Contains("learned_policy_options.fallback_for.bb"),
                         config_error);
}

TEST_CASE("registry: the program's guard is checked before it is merged, and its limit bounds are refused as the spec's") {
    const serving_spec spec = two_function_spec();
    const json j = checkpoint_for(spec, 10, 6, 2);
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const auto refused = [&](const guard_config& g, const std::string& field, const std::string& value) {
        CAPTURE(field);
        try {
            (void)make_learned_policy(j, {.guard = g});
            FAIL("accepted");
        } catch (const config_error& e) {
            CHECK(e.field() == "learned_policy_options.guard." + field);
            CHECK(std::string(e.what()).find(value) != std::string::npos);
            MESSAGE(e.what());
        }
    };
    // A NaN step would be lost by std::min, a negative one passed on.
    refused({.max_cpu_step = nan}, "max_cpu_step", "got nan");
    refused({.max_memory_step_mb = nan}, "max_memory_step_mb", "got nan");
    refused({.max_cpu_step = -1}, "max_cpu_step", "got -1");
    refused({.max_step_up = -1}, "max_step_up", "got -1");
    refused({.max_step_down = -2}, "max_step_down", "got -2");
    // The bounds are the spec's: one given here would not be served.
    refused({.max_cpu_limit = 2}, "max_cpu_limit", "the limit bounds come from the spec (serving.guard), got 2");
    refused({.min_cpu_limit = 0.5}, "min_cpu_limit", "got 0.5");
    refused({.min_memory_limit_mb = 64}, "min_memory_limit_mb", "got 64");
    refused({.max_memory_limit_mb = 1024}, "max_memory_limit_mb", "got 1024");
    // Steps and the defaults are taken.
    CHECK_NOTHROW((void)make_learned_policy(j, {.guard = guard_config{.max_step_up = 2, .max_cpu_step = 0.5, .max_memory_step_mb = 64}}));
    CHECK_NOTHROW((void)make_learned_policy(j, {.guard = guard_config{}}));
}

TEST_CASE("registry: match_slots pairs a spec's slots with functions by name, in order when it names none, and flags a partial match") {
    using names = std::vector<std::string>;
    const auto slots_of = [](const slot_assignment& a) { return a.function_of_slot; };
    // Exactly the functions, in another order: slot k decides the function of its name.
    const slot_assignment permuted = match_slots(names{"b", "c", "a"}, names{"a", "b", "c"});
    CHECK(permuted.matching == slot_matching::by_name);
    CHECK(slots_of(permuted) == std::vector<std::size_t>{1, 2, 0});
    CHECK(permuted.unmatched.empty());
    // None of them (trained on other functions): in order.
    const slot_assignment other = match_slots(names{"x", "y"}, names{"a", "b"});
    CHECK(other.matching == slot_matching::in_order);
    CHECK(slots_of(other) == std::vector<std::size_t>{0, 1});
    // Some and not others: partial, naming the functions no slot names.
    const slot_assignment some = match_slots(names{"a", "x", "c"}, names{"a", "b", "c"});
    CHECK(some.matching == slot_matching::partial);
    CHECK(some.unmatched == std::vector<std::size_t>{1});
    // A name given to two functions is taken once per slot of that name.
    const slot_assignment twice = match_slots(names{"a", "b"}, names{"b", "b"});
    CHECK(twice.matching == slot_matching::partial);
    CHECK(twice.unmatched == std::vector<std::size_t>{1});
    const slot_assignment both = match_slots(names{"a", "a"}, names{"a", "a"});
    CHECK(both.matching == slot_matching::by_name);
    CHECK(slots_of(both) == std::vector<std::size_t>{0, 1});
    // Any ranges of strings or views.
    const std::array<std::string_view, 2> views{"q", "p"};
    CHECK(slots_of(match_slots(names{"p", "q"}, views)) == std::vector<std::size_t>{1, 0});
}

TEST_CASE("registry: step_limits_guard tightens a spec's guard only by the steps given, open_guard holds nothing but them") {
    CHECK_FALSE(step_limits_guard(std::nullopt, std::nullopt).has_value());
    const auto up = step_limits_guard(1, std::nullopt);
    REQUIRE(up.has_value());
    CHECK(up->max_step_up == 1);
    CHECK(up->max_step_down == std::numeric_limits<int>::max());
    const auto down = step_limits_guard(std::nullopt, 0);
    REQUIRE(down.has_value());
    CHECK(down->max_step_up == std::numeric_limits<int>::max());
    CHECK(down->max_step_down == 0);
    // Accepted by make_learned_policy as it is (its limit bounds are the defaults).
    const json j = checkpoint_for(two_function_spec(), 10, 6, 2);
    CHECK_NOTHROW((void)make_learned_policy(j, {.guard = up}));
    CHECK_NOTHROW((void)make_learned_policy(j, {.guard = step_limits_guard(3, 2)}));

    const guard_config open = open_guard(std::nullopt, 5);
    CHECK_NOTHROW(open.validate());
    CHECK(open.max_step_up == std::numeric_limits<int>::max());
    CHECK(open.max_step_down == 5);
    CHECK(open.vertical_min_replicas == 0);
    CHECK(open.min_cpu_limit == std::numeric_limits<double>::min());
    CHECK(open.min_memory_limit_mb == std::numeric_limits<double>::min());
    CHECK(std::isinf(open.max_cpu_step));
    CHECK(std::isinf(open.max_memory_step_mb));
    CHECK(std::isinf(open.max_cpu_limit));
    CHECK(std::isinf(open.max_memory_limit_mb));
}

TEST_CASE("registry: a learned policy's fallback settings are refused by the options' names before an HPA is built") {
    const serving_spec spec = two_function_spec();
    const json j = checkpoint_for(spec, 10, 6, 2);
    baseline_settings bad;
    bad.hpa_max_clock_backwards_s = -1;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j, {.fallback = bad}),
                         doctest::Contains("learned_policy_options.fallback.hpa_max_clock_backwards_s: must be finite and >= 0, got -1"),
                         config_error);
    learned_policy_options per_function;
    per_function.fallback_for.emplace(spec.functions[1], baseline_settings{.hpa_cpu_target_percent = 0});
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j, per_function),
                         doctest::Contains(("learned_policy_options.fallback_for." + spec.functions[1] + ".hpa_cpu_target_percent").c_str()),
                         config_error);
    baseline_settings jitter;
    jitter.hpa_max_clock_backwards_s = 5;
    CHECK_NOTHROW((void)make_learned_policy(j, {.fallback = jitter}));
}

TEST_CASE("registry: a learned policy never resizes from a current limit that is unknown (0 or negative)") {
    // simppo's action map under an encoder that does not read limits: the
    // network asks for cpu_up whatever the state.
    serving_spec spec;
    spec.algorithm = "dqn";
    spec.encoder = {{"name", "scarlet_relative"}};
    spec.actions = {{"name", "simppo"}};
    spec.functions = {"api"};
    spec.guard.vertical_min_replicas = 0;
    const auto inputs = static_cast<Eigen::Index>(make_encoder(spec.encoder, 1).size());
    learned_policy p = make_learned_policy(checkpoint_for(spec, inputs, 7, 3));  // 3: cpu_up
    const std::array<function_metrics, 1> m{healthy()};  // the pod has 1 core
    std::array<scaling_state, 1> s{};
    std::array<decision, 1> d{};
    for (const double unknown : {0.0, -1.0}) {
        CAPTURE(unknown);
        s[0] = {.replicas = 4, .min_replicas = 1, .max_replicas = 10, .cpu_limit = unknown, .memory_limit_mb = 512, .time_s = 15};
        p.policy.decide(m, s, d);
        CHECK(d[0].replicas == 4);
        CHECK(std::isnan(d[0].cpu_limit));  // not 0.125: a step from 0 would shrink the pod to an eighth
        CHECK_FALSE(d[0].vertical());
    }
    // From a known limit the step is taken.
    s[0].cpu_limit = 1;
    p.policy.decide(m, s, d);
    CHECK(d[0].cpu_limit == 1.125);
}

}  // namespace test_policy_registry
