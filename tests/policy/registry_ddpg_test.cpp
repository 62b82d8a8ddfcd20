#include <rlscale/lifecycle/lifecycle.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/serving_spec.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <string>
#include <vector>
#include <string_view>

namespace test_policy_registry_ddpg {

using namespace rlscale;
using nlohmann::json;

namespace {

/// A DDPG actor for the FIRM encoder (9 inputs) whose tanh output is its
/// bias: μ(s) = tanh(bias) whatever the state.
json ddpg_checkpoint(std::array<float, 3> bias, const rl::multidimensional_config& c = {}) {
    nn::mlp<float> net(std::vector<nn::layer_spec>{{9, 3, nn::activation::tanh}});
    net.parameters().setZero();
    for (int i = 0; i < 3; ++i) net.bias(0)[i] = bias[static_cast<std::size_t>(i)];
    json j = nn::make_checkpoint(net);
    serving_spec s;
    s.algorithm = "ddpg";
    s.encoder = {{"name", "firm"}};
    s.actions = action_spec(rl::multidimensional_actions(1, c));
    s.functions = {"web"};
    s.guard = {.max_step_up = 4, .max_step_down = 2};
    s.guard.max_cpu_step = 0.5;
    j["serving"] = s.to_json();
    return j;
}

scaling_state state(int replicas) {
    return {.replicas = replicas, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1.0, .memory_limit_mb = 1024, .time_s = 15,
            .slo = {.latency_s = 1, .percentile = 0.9}};
}

}  // namespace

TEST_CASE("registry serves a ddpg checkpoint: mu(s) through the multidimensional map and the guard, limits included") {
    learned_policy lp = make_learned_policy(ddpg_checkpoint({0.0F, 1.0F, -0.2F}));
    CHECK(lp.spec.algorithm == "ddpg");
    CHECK(lp.spec.guard.max_cpu_step == doctest::Approx(0.5));
    const function_metrics m = test::healthy();
    const std::array<function_metrics, 1> ms{m};
    const std::array<scaling_state, 1> ss{state(5)};
    std::array<decision, 1> d{};
    lp.policy.decide(ms, ss, d);
    const rl::multidimensional_config c;
    CHECK(d[0].source == decision_source::policy);
    CHECK(d[0].replicas == 9);  // absolute: 1 + 0.5·19 = 10.5 → 11, rate-limited to 5 + 4
    CHECK(std::string_view(d[0].reason) == "guard: rate-limited, limit step or bounds");  // both named
    // CPU: tanh(1) maps to 0.128 + 0.8808·1.92 = 1.82 cores, stepped to 1.0 + 0.5.
    CHECK(d[0].cpu_limit == doctest::Approx(1.5));
    const double mem = c.min_memory_limit_mb + (std::tanh(-0.2) + 1) / 2 * (c.max_memory_limit_mb - c.min_memory_limit_mb);
    CHECK(d[0].memory_limit_mb == doctest::Approx(mem).epsilon(1e-5));
}

TEST_CASE("registry ddpg: the spec round-trips the vertical guard and the action map's settings") {
    rl::multidimensional_config c;
    c.mode = rl::multidimensional_mode::relative;
    c.max_replica_step = 2;
    const json j = ddpg_checkpoint({0, 0, 0}, c);
    const serving_spec s = serving_spec::from_json(j["serving"]);
    CHECK(s.guard.max_cpu_step == doctest::Approx(0.5));
    CHECK(s.guard.max_memory_step_mb == std::numeric_limits<double>::infinity());
    CHECK_FALSE(j["serving"]["guard"].contains("max_memory_step_mb"));
    const rl::multidimensional_actions back = make_continuous_action_map(s.actions, 1);
    CHECK(back.config().mode == rl::multidimensional_mode::relative);
    CHECK(back.config().max_replica_step == 2);
}

TEST_CASE("registry ddpg: bad specs are refused naming the field") {
    json j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["actions"]["name"] = "joint_delta";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("serving.actions.name"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["actions"]["mode"] = "sideways";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("serving.actions.mode"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["actions"]["max_cpu_limit"] = 0.01;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("max_cpu_limit"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["guard"]["max_cpu_step"] = -1;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("serving.guard.max_cpu_step"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["functions"] = json::array({"a", "b"});  // the network takes one function's 9 inputs
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("network.layers[0].in"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["algorithm"] = "sac";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("this build serves dqn, ppo, ddpg"), checkpoint_error);
    j = ddpg_checkpoint({0, 0, 0});
    j["serving"]["fallback_floor"] = "yes";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(j), doctest::Contains("serving.fallback_floor: must be true or false"), checkpoint_error);
}

TEST_CASE("registry ddpg: a spec with fallback_floor serves mu(s) above the HPA+VPA's decision") {
    // μ(s) = tanh(-3) everywhere: close to the smallest replicas and limits.
    json j = ddpg_checkpoint({-3.0F, -3.0F, -3.0F});
    CHECK_FALSE(j["serving"].contains("fallback_floor"));  // written only when set
    const std::array<function_metrics, 1> ms{test::healthy(0.9)};  // 90 % CPU on 4 ready replicas
    const std::array<scaling_state, 1> ss{state(5)};
    std::array<decision, 1> plain{};
    learned_policy alone = make_learned_policy(j);
    CHECK_FALSE(alone.spec.fallback_floor);
    alone.policy.decide(ms, ss, plain);
    CHECK(plain[0].replicas == 3);  // 1, rate-limited to 5 - 2
    CHECK(plain[0].cpu_limit < 1.0);

    j["serving"]["fallback_floor"] = true;
    learned_policy floored = make_learned_policy(j);
    CHECK(floored.spec.fallback_floor);
    CHECK(serving_spec::from_json(floored.spec.to_json()).fallback_floor);
    std::array<decision, 1> d{};
    floored.policy.decide(ms, ss, d);
    CHECK(d[0].source == decision_source::policy);
    // The HPA asks for more than 5 at 90 % against its target. The VPA keeps
    // the current limits (they lie within its bounds), so it asks for
    // nothing there and the actor's own limits pass, as without the floor.
    CHECK(d[0].replicas > 5);
    CHECK(d[0].reason == std::string_view("guard: limit step or bounds"));  // the guard's reason replaces the floor's
    CHECK(d[0].cpu_limit == doctest::Approx(plain[0].cpu_limit));
    CHECK(d[0].memory_limit_mb == doctest::Approx(plain[0].memory_limit_mb));
}

TEST_CASE("registry: a spec lists the floor in requires, and a feature this build lacks is refused by name") {
    json j = ddpg_checkpoint({0, 0, 0});
    CHECK_FALSE(j["serving"].contains("requires"));  // nothing required: the spec reads as before
    serving_spec spec = serving_spec::from_json(j["serving"]);
    spec.fallback_floor = true;
    j["serving"] = spec.to_json();
    CHECK(j["serving"]["requires"] == json::array({"fallback_floor"}));
    CHECK(make_learned_policy(j).spec.fallback_floor);

    // A spec written before "requires" existed still reads, floor and all.
    json older = j;
    older["serving"].erase("requires");
    CHECK(make_learned_policy(older).spec.fallback_floor);

    json newer = j;
    newer["serving"]["requires"] = {"fallback_floor", "quantile_guard"};
    CHECK_THROWS_WITH_AS((void)make_learned_policy(newer),
                         doctest::Contains("serving.requires[1]: is \"quantile_guard\", a feature this build does not implement "
                                           "(it knows: fallback_floor)"),
                         checkpoint_error);
    newer["serving"]["requires"] = "fallback_floor";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(newer), doctest::Contains("serving.requires: must be an array"), checkpoint_error);
    newer["serving"]["requires"] = {3};
    CHECK_THROWS_WITH_AS((void)make_learned_policy(newer), doctest::Contains("serving.requires[0]: must be a string, got 3"),
                         checkpoint_error);
    newer["serving"]["requires"] = json::array();
    CHECK(make_learned_policy(newer).spec.fallback_floor);  // an empty list requires nothing; the field still reads

    // Required but not set: the spec contradicts itself and is refused.
    json contradictory = j;
    contradictory["serving"]["fallback_floor"] = false;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(contradictory),
                         doctest::Contains("serving.requires[0]: names fallback_floor, but fallback_floor is not true"), checkpoint_error);
    contradictory["serving"].erase("fallback_floor");
    CHECK_THROWS_AS((void)make_learned_policy(contradictory), checkpoint_error);
}

TEST_CASE("registry ddpg: invalid metrics hold without a resize, and a single replica is never resized") {
    learned_policy lp = make_learned_policy(ddpg_checkpoint({0.0F, 1.0F, 1.0F}));
    function_metrics bad = test::healthy();
    bad.cpu_utilization = std::numeric_limits<double>::quiet_NaN();
    const std::array<function_metrics, 1> ms{bad};
    const std::array<scaling_state, 1> ss{state(5)};
    std::array<decision, 1> d{};
    lp.policy.decide(ms, ss, d);
    CHECK(d[0].replicas == 5);
    CHECK_FALSE(d[0].vertical());
    const std::array<function_metrics, 1> good{test::healthy()};
    const std::array<scaling_state, 1> one{state(1)};
    lp.policy.decide(good, one, d);
    CHECK(d[0].source == decision_source::policy);
    CHECK_FALSE(d[0].vertical());
}

TEST_CASE("registry ddpg with a downscale window: a held-back scale-in keeps a reason about a limit, and replaces one about the count") {
    // μ(s) = tanh(bias): replicas 1 + (μ0 + 1) / 2 · 19 (absolute), so a bias
    // of atanh(2 (r - 1) / 19 - 1) asks for r replicas.
    const auto asking = [](int replicas, float cpu_bias) {
        nn::mlp<float> net(std::vector<nn::layer_spec>{{9, 3, nn::activation::tanh}});
        net.parameters().setZero();
        net.bias(0)[0] = static_cast<float>(std::atanh(2.0 * (replicas - 1) / 19.0 - 1.0));
        net.bias(0)[1] = cpu_bias;
        return net;
    };
    json j = ddpg_checkpoint({0.0F, 0.0F, 0.0F});
    j["serving"]["downscale_window"] = 3;
    for (const bool cold_start : {false, true}) {
        CAPTURE(cold_start);
        learned_policy lp = make_learned_policy(j);
        function_metrics m = test::healthy();
        const std::array<scaling_state, 1> ss{state(5)};
        std::array<decision, 1> d{};
        lp.weights->publish(asking(5, 0.0F));
        lp.policy.decide(std::array<function_metrics, 1>{m}, ss, d);
        REQUIRE(d[0].replicas == 5);
        // Then a scale-in to 3 with a resize: the window keeps the 5.
        lp.weights->publish(asking(3, 0.0F));
        if (cold_start) m.ready_replicas = 1;  // the guard withholds the resize too
        lp.policy.decide(std::array<function_metrics, 1>{m}, ss, d);
        CHECK(d[0].replicas == 5);
        CHECK(d[0].source == decision_source::policy);
        if (cold_start) {
            CHECK_FALSE(d[0].vertical());
            CHECK(std::string_view(d[0].reason) == "guard: vertical change withheld below vertical_min_replicas");
        } else {
            CHECK(d[0].vertical());
            CHECK(std::string_view(d[0].reason) == "rl: held by the downscale window");
        }
    }
}

TEST_CASE("registry ddpg: unknown current limits (0) never become a resize from assumed ones, in either mode") {
    // μ(s) = 0 everywhere: in relative mode "no change". A state whose
    // limits are 0 (unknown: the decision service's reading of a request
    // without them) is refused by the FIRM encoder, and the HPA+VPA fallback
    // keeps limits it cannot measure.
    for (const auto mode : {rl::multidimensional_mode::relative, rl::multidimensional_mode::absolute}) {
        CAPTURE(rl::to_string(mode));
        rl::multidimensional_config c;
        c.mode = mode;
        learned_policy lp = make_learned_policy(ddpg_checkpoint({0.0F, 0.0F, 0.0F}, c));
        function_metrics m = test::healthy();
        m.cpu_limit = 0;  // not measured either
        m.memory_limit_mb = 0;
        scaling_state unknown = state(4);
        unknown.cpu_limit = 0;
        unknown.memory_limit_mb = 0;
        const std::array<function_metrics, 1> ms{m};
        const std::array<scaling_state, 1> ss{unknown};
        std::array<decision, 1> d{};
        lp.policy.decide(ms, ss, d);
        CHECK(d[0].source == decision_source::fallback);
        CHECK_FALSE(d[0].vertical());
        CHECK(std::isnan(d[0].cpu_limit));
        CHECK(std::isnan(d[0].memory_limit_mb));
    }
}

TEST_CASE("reload_weights publishes a retrained network of the same spec and refuses another spec, changing nothing") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "reload_weights";
    std::filesystem::create_directories(dir);
    learned_policy lp = make_learned_policy(ddpg_checkpoint({0.0F, 1.0F, -0.2F}));
    const std::array<function_metrics, 1> ms{test::healthy()};
    const std::array<scaling_state, 1> ss{state(5)};
    std::array<decision, 1> before{}, after{};
    lp.policy.decide(ms, ss, before);
    const std::uint64_t version = lp.weights->version();

    // Another spec: the relative map, and another function list.
    rl::multidimensional_config relative;
    relative.mode = rl::multidimensional_mode::relative;
    nn::write_checkpoint_file(dir / "relative.json", ddpg_checkpoint({0.0F, -1.0F, 0.0F}, relative));
    json other_function = ddpg_checkpoint({0.0F, -1.0F, 0.0F});
    other_function["serving"]["functions"] = {"api"};
    nn::write_checkpoint_file(dir / "function.json", other_function);
    // Each refused by the value that differs, named down to it.
    for (const auto& refused : {std::pair{"relative.json", "serving.actions.mode: is \"relative\""},
                                std::pair{"function.json", "serving.functions[0]: is \"api\""}}) {
        const std::string file = refused.first, said = refused.second;
        CAPTURE(file);
        try {
            reload_weights(lp, dir / file);
            FAIL("accepted a checkpoint of another spec");
        } catch (const checkpoint_error& e) {
            CHECK_MESSAGE(std::string(e.what()).find(said) != std::string::npos, e.what());
            CHECK(std::string(e.what()).find("the policy serves \"") != std::string::npos);
        }
        CHECK(lp.weights->version() == version);
        lp.policy.decide(ms, ss, after);
        CHECK(after[0].cpu_limit == before[0].cpu_limit);
    }

    // The same spec, retrained: served from the next decision.
    nn::write_checkpoint_file(dir / "retrained.json", ddpg_checkpoint({0.0F, -1.0F, -0.2F}));
    reload_weights(lp, dir / "retrained.json");
    CHECK(lp.weights->version() == version + 1);
    lp.policy.decide(ms, ss, after);
    CHECK(after[0].cpu_limit < before[0].cpu_limit);
}

TEST_CASE("registry: a checkpoint written under a lifecycle is served only once its actor was trusted to act, unless allowed") {
    const auto with_lifecycle = [](json life) {
        json j = ddpg_checkpoint({0.0F, 1.0F, -0.2F});
        j["lifecycle"] = std::move(life);
        return j;
    };
    // A lifecycle walked through Algorithm 1 (K = 3, T_online 50, T_serving 80, T_var 5).
    const auto walked = [](const std::vector<double>& rewards, bool high_stakes) {
        lifecycle_config c;
        c.window = 3;
        c.t_online = 50;
        c.t_serving = 80;
        c.t_var = 5;
        c.bootstrapping = true;
        c.high_stakes = high_stakes;
        lifecycle l(c);
        l.start();
        for (const double r : rewards) (void)l.end_episode(r);
        return json(l);
    };
    const std::vector<double> to_online{60, 60, 60}, to_serving{60, 60, 60, 90, 90, 90}, drifted{60, 60, 60, 90, 90, 90, 88, 92, 70};
    REQUIRE(walked(to_serving, false)["stage"] == "SERVING");
    REQUIRE(walked(drifted, false)["stage"] == "ONLINE");
    REQUIRE(walked(drifted, false)["retraining"] == true);

    const json offline = with_lifecycle(walked({}, false));
    CHECK_THROWS_WITH_AS((void)make_learned_policy(offline),
                         doctest::Contains("lifecycle.stage: is \"OFFLINE\": under its lifecycle the fallback acts"), checkpoint_error);
    const json online = with_lifecycle(walked(to_online, false));
    CHECK_THROWS_WITH_AS((void)make_learned_policy(online),
                         doctest::Contains("lifecycle.stage: is \"ONLINE\": the actor had not yet reached SERVING"), checkpoint_error);
    CHECK_NOTHROW((void)make_learned_policy(online, {.allow_before_serving = true}));
    // A high-stakes retraining pass: the fallback acts, the actor learns off-policy.
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(walked(drifted, true))),
                         doctest::Contains("is \"ONLINE\" (retraining): under its lifecycle the fallback acts"), checkpoint_error);
    // Served: SERVING, and ONLINE while the agent acts in a retraining pass (it had served, and drifted).
    const json serving = with_lifecycle(walked(to_serving, false));
    CHECK_NOTHROW((void)make_learned_policy(serving));
    CHECK_NOTHROW((void)make_learned_policy(with_lifecycle(walked(drifted, false))));
    // What is judged is read with its type checked, and refused by its path; the
    // rest of the lifecycle's state is the trainer's, not read here.
    json damaged = walked(to_serving, false);
    damaged["stage"] = 3;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)),
                         doctest::Contains("checkpoint field lifecycle.stage: is 3, not a stage"), checkpoint_error);
    damaged = walked(drifted, false);
    damaged["retraining"] = "yes";
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)),
                         doctest::Contains("checkpoint field lifecycle.retraining: is \"yes\", not true or false"), checkpoint_error);
    damaged = walked(drifted, false);
    damaged["config"]["high_stakes"] = 1;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)), doctest::Contains("lifecycle.config.high_stakes: is 1"),
                         checkpoint_error);
    // A high-stakes retraining pass whose config is damaged is not read as "not high stakes".
    damaged = walked(drifted, true);
    damaged.erase("config");
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)), doctest::Contains("lifecycle.config: is absent"),
                         checkpoint_error);
    damaged = walked(drifted, true);
    damaged["config"] = nullptr;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)), doctest::Contains("lifecycle.config: is null"),
                         checkpoint_error);
    damaged = walked(drifted, true);
    damaged["config"].erase("high_stakes");
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)),
                         doctest::Contains("lifecycle.config.high_stakes: is absent"), checkpoint_error);
    damaged = walked(drifted, true);
    damaged.erase("retraining");
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)), doctest::Contains("lifecycle.retraining: is absent"),
                         checkpoint_error);
    damaged = walked(to_serving, false);
    damaged["version"] = 2;  // another layout: not judged as this one
    CHECK_THROWS_WITH_AS((void)make_learned_policy(with_lifecycle(damaged)),
                         doctest::Contains("lifecycle.version: is 2, not 1, the version this build reads"), checkpoint_error);
    damaged = walked(to_serving, false);
    damaged["window"] = "not the trainer's business here";
    CHECK_NOTHROW((void)make_learned_policy(with_lifecycle(damaged)));
    // A "lifecycle" field of another shape is another tool's, not judged.
    CHECK_NOTHROW((void)make_learned_policy(with_lifecycle(nullptr)));
    CHECK_NOTHROW((void)make_learned_policy(with_lifecycle(json::array())));
    CHECK_NOTHROW((void)make_learned_policy(with_lifecycle({{"stage", "OFFLINE"}})));

    // A reload of such a checkpoint is refused the same way, changing nothing.
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "reload_lifecycle";
    std::filesystem::create_directories(dir);
    learned_policy lp = make_learned_policy(serving);
    const std::uint64_t version = lp.weights->version();
    nn::write_checkpoint_file(dir / "online.json", online);
    CHECK_THROWS_WITH_AS(reload_weights(lp, dir / "online.json"), doctest::Contains("lifecycle.stage"), checkpoint_error);
    CHECK(lp.weights->version() == version);
    reload_weights(lp, dir / "online.json", {.allow_before_serving = true});
    CHECK(lp.weights->version() == version + 1);
}

}  // namespace test_policy_registry_ddpg
