#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/action_space.hpp>

#include "../test_metrics.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

namespace test_policy_rl_policy {

using namespace rlscale;

namespace {

using test::healthy;

/// A 3-function SCARLET network (15 inputs, 27 joint actions) whose output
/// is its bias: a constant preference for joint action `best`.
nn::mlp<float> preferring(std::int32_t best) {
    nn::mlp<float> net({15, 27});
    net.parameters().setZero();
    net.bias(0)[best] = 1.0F;
    return net;
}

using scarlet_rl = dqn_policy<scarlet_encoder, rl::joint_delta_actions>;

scarlet_rl make_policy(const std::shared_ptr<rl::shared_network<float>>& w, guard_config g = {}) {
    std::vector<hpa_policy> fallbacks(3, hpa_policy(hpa_config::cpu_utilization(50)));
    return scarlet_rl(w, scarlet_encoder{}, rl::joint_delta_actions(3), std::move(fallbacks), g);
}

std::array<scaling_state, 3> states(int replicas) {
    std::array<scaling_state, 3> s{};
    for (auto& x : s) x = {.replicas = replicas, .min_replicas = 1, .max_replicas = 6, .time_s = 15};
    return s;
}

using simppo_rl = dqn_policy<simppo_encoder, rl::factored_delta_actions>;

/// A 2-function SIMPPO policy (factored replica steps) whose network outputs
/// zeros, its weights published, with the HPA as the fallback.
simppo_rl zero_simppo_policy() {
    nn::mlp<float> net({14, 6});
    net.parameters().setZero();
    auto w = std::make_shared<rl::shared_network<float>>(net);
    w->publish(net);
    return simppo_rl(w, simppo_encoder(simppo_state_config{}, 2), rl::factored_delta_actions(2),
                     std::vector<hpa_policy>(2, hpa_policy(hpa_config::cpu_utilization(50))));
}

std::array<scaling_state, 2> simppo_states() {
    std::array<scaling_state, 2> s{};
    for (auto& x : s) x = {.replicas = 2, .min_replicas = 1, .max_replicas = 6, .time_s = 15, .slo = {.latency_s = 1, .percentile = 0.9}};
    return s;
}

}  // namespace

TEST_CASE("rl_policy serves the network's greedy joint action through the action map") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(0));
    w->publish(preferring(5));  // digits (2, 1, 0): +1, 0, -1
    scarlet_rl p = make_policy(w);
    const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    CHECK(d[0].replicas == 5);
    CHECK(d[1].replicas == 4);
    CHECK(d[2].replicas == 3);
    for (const auto& x : d) CHECK(x.source == decision_source::policy);
    CHECK(p.last_values()[0] == 5);
}

TEST_CASE("rl_policy with a downscale window: a scale-in the window holds back says so in the reason") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(13));
    w->publish(preferring(13));  // digits (1, 1, 1): hold everywhere
    std::vector<hpa_policy> fallbacks(3, hpa_policy(hpa_config::cpu_utilization(50)));
    scarlet_rl p(w, scarlet_encoder{}, rl::joint_delta_actions(3), std::move(fallbacks), guard_config{}, 3);
    const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    CHECK(d[0].replicas == 4);
    CHECK(std::string_view(d[0].reason) == "rl: learned");
    w->publish(preferring(0));  // -1 everywhere: the window keeps the 4 of the tick before
    p.decide(m, s, d);
    for (const auto& x : d) {
        CHECK(x.replicas == 4);
        CHECK(x.source == decision_source::policy);
        CHECK(std::string_view(x.reason) == "rl: held by the downscale window");
    }
}

TEST_CASE("rl_policy clamps the network's choice to max_replicas") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(0));
    w->publish(preferring(26));  // +1 everywhere
    scarlet_rl p = make_policy(w);
    const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    const auto s = states(6);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    for (const auto& x : d) CHECK(x.replicas == 6);
}

TEST_CASE("rl_policy falls back to the HPA before weights are published and holds on invalid metrics") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(0));
    scarlet_rl p = make_policy(w);
    // CPU at 100 % of request against a 50 % target: the HPA doubles 4 -> 8, clamped to 6
    const std::array<function_metrics, 3> m{healthy(1.0), healthy(1.0), healthy(1.0)};
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    for (const auto& x : d) {
        CHECK(x.source == decision_source::fallback);
        CHECK(x.replicas == 6);
    }
    w->publish(preferring(13));  // hold everywhere
    std::array<function_metrics, 3> bad{healthy(), healthy(), healthy()};
    bad[1].cpu_utilization = std::numeric_limits<double>::quiet_NaN();
    p.decide(bad, s, d);
    CHECK(d[0].source == decision_source::fallback);  // one bad function: the joint observation is unusable
    CHECK(d[1].source == decision_source::hold);      // its own metrics are bad: hold
    CHECK(d[1].replicas == 4);
    CHECK(d[2].source == decision_source::fallback);
    // A count outside [min, max] is kept on no data, as guarded<> keeps it,
    // not moved to a bound.
    auto outside = s;
    outside[1].replicas = 20;  // max 6
    p.decide(bad, outside, d);
    CHECK(d[1].source == decision_source::hold);
    CHECK(d[1].replicas == 20);
    CHECK(d[0].replicas <= 6);
}

TEST_CASE("rl_policy falls back when the network's output is not finite") {
    // finite metrics and weights whose product overflows float
    nn::mlp<float> big = preferring(0);
    big.weight(0).setConstant(1e30F);
    auto w = std::make_shared<rl::shared_network<float>>(big);
    w->publish(big);
    scarlet_rl p = make_policy(w);
    std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    m[0].throughput_rps = 1e30;
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    for (const auto& x : d) {
        CHECK(x.source == decision_source::fallback);
        CHECK(x.reason == "rl: network output not finite, fallback");
    }
}

TEST_CASE("rl_policy rejects a network of the wrong shape and fallbacks of the wrong count") {
    auto w = std::make_shared<rl::shared_network<float>>(nn::mlp<float>({10, 27}));
    CHECK_THROWS_WITH_AS(make_policy(w), doctest::Contains("rl_policy.actor: must take 15 inputs (the encoder's, for 3 functions), got 10"), config_error);
    auto w2 = std::make_shared<rl::shared_network<float>>(nn::mlp<float>({15, 9}));
    CHECK_THROWS_WITH_AS(make_policy(w2), doctest::Contains("greedy_q_actor.weights: must have 27 outputs (the action layout's), got 9"), config_error);
    auto w3 = std::make_shared<rl::shared_network<float>>(preferring(0));
    CHECK_THROWS_WITH_AS(scarlet_rl(w3, scarlet_encoder{}, rl::joint_delta_actions(3), {}), doctest::Contains("rl_policy.fallbacks"),
                         config_error);
}

TEST_CASE("rl_policy refuses an encoder that remembers fewer (or more) functions than it serves") {
    // An encoder built for one function would encode the second without its
    // arrival-rate history (AC = 0 for ever) and say nothing.
    nn::mlp<float> net({14, 6});
    auto w = std::make_shared<rl::shared_network<float>>(net);
    const std::vector<hpa_policy> fallbacks(2, hpa_policy(hpa_config::cpu_utilization(50)));
    CHECK_THROWS_WITH_AS(simppo_rl(w, simppo_encoder{}, rl::factored_delta_actions(2), fallbacks),
                         doctest::Contains("rl_policy.encoder.functions: must equal the action map's function count (2)"), config_error);
    CHECK_THROWS_WITH_AS(simppo_rl(w, simppo_encoder(simppo_state_config{}, 3), rl::factored_delta_actions(2), fallbacks),
                         doctest::Contains("got 3"), config_error);
    CHECK_NOTHROW(simppo_rl(w, simppo_encoder(simppo_state_config{}, 2), rl::factored_delta_actions(2), fallbacks));
}

TEST_CASE("rl_policy with the fallback as a floor: the learned policy may add replicas, never go below the fallback") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(0));
    w->publish(preferring(5));  // +1, 0, -1 from 4: 5, 4, 3
    using floored = rl_policy<scarlet_encoder, rl::greedy_q_actor, rl::joint_delta_actions, static_policy>;
    floored p(w, scarlet_encoder{}, rl::joint_delta_actions(3), std::vector<static_policy>(3, static_policy{.replicas = 4}));
    CHECK_FALSE(p.fallback_floor());
    const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    CHECK(d[2].replicas == 3);  // off by default
    p.set_fallback_floor(true);
    p.decide(m, s, d);
    CHECK(d[0].replicas == 5);
    CHECK(d[0].reason == "rl: learned");
    CHECK(d[1].replicas == 4);
    CHECK(d[1].reason == "rl: learned");
    CHECK(d[2].replicas == 4);
    CHECK(d[2].reason == "rl: learned, raised to the fallback's floor");
    for (const auto& x : d) CHECK(x.source == decision_source::policy);
    // The guard still has the last word: a floor above max is clamped.
    floored high(w, scarlet_encoder{}, rl::joint_delta_actions(3), std::vector<static_policy>(3, static_policy{.replicas = 50}));
    high.set_fallback_floor(true);
    high.decide(m, s, d);
    for (const auto& x : d) CHECK(x.replicas == 6);
    // Invalid metrics: no learned decision to floor; the fallback path holds as before.
    std::array<function_metrics, 3> bad = m;
    bad[1].cpu_utilization = std::nan("");
    p.decide(bad, s, d);
    CHECK(d[1].source == decision_source::hold);
    CHECK(d[1].replicas == 4);
}

TEST_CASE("a one-function rl_policy is a policy") {
    using one = dqn_policy<scarlet_encoder, rl::factored_delta_actions>;
    static_assert(policy<one>);
    nn::mlp<float> net({5, 3});
    net.parameters().setZero();
    net.bias(0)[2] = 1;  // +1
    auto w = std::make_shared<rl::shared_network<float>>(net);
    w->publish(net);
    one p(w, scarlet_encoder{}, rl::factored_delta_actions(1), std::vector<hpa_policy>(1));
    const scaling_state s{.replicas = 2, .min_replicas = 1, .max_replicas = 5};
    CHECK(p.decide(healthy(), s).replicas == 3);
}

TEST_CASE("rl_policy serving int8 follows each publish and agrees with the float network") {
    auto w = std::make_shared<rl::shared_network<float>>(preferring(0));
    scarlet_rl p = make_policy(w);
    CHECK_THROWS_WITH_AS(p.serve_int8(), doctest::Contains("greedy_q_actor.serve_int8"), config_error);
    w->publish(preferring(5));
    p.serve_int8();
    CHECK(p.serves_int8());
    const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
    const auto s = states(4);
    std::array<decision, 3> d{};
    p.decide(m, s, d);
    CHECK(p.last_values()[0] == 5);
    w->publish(preferring(26));  // the copy is re-quantized on the next decision
    p.decide(m, s, d);
    CHECK(p.last_values()[0] == 26);
    CHECK(d[0].replicas == 5);

    // A trained-size network: the int8 copy's greedy action matches the
    // float network's on nearly every observation.
    rng gen(7);
    nn::mlp<float> net({15, 128, 128, 27});
    net.initialize(nn::init_scheme::torch_default, gen);
    auto w2 = std::make_shared<rl::shared_network<float>>(net);
    w2->publish(net);
    scarlet_rl exact = make_policy(w2);
    scarlet_rl fast = make_policy(w2);
    fast.serve_int8();
    std::uniform_real_distribution<double> u(0.0, 1.0);
    int same = 0;
    const int n = 2000;
    for (int t = 0; t < n; ++t) {
        std::array<function_metrics, 3> mt{healthy(u(gen)), healthy(u(gen)), healthy(u(gen))};
        for (auto& x : mt) x.memory_utilization = u(gen);
        std::array<decision, 3> a{};
        std::array<decision, 3> b{};
        exact.decide(mt, s, a);
        fast.decide(mt, s, b);
        same += exact.last_values()[0] == fast.last_values()[0] ? 1 : 0;
    }
    MESSAGE("int8 and float greedy actions agree on " << same << " of " << n << " observations");
    CHECK(same >= n * 95 / 100);
}

TEST_CASE("rl_policy encodes every function with its own history: a refused function never shifts another's") {
    // SIMPPO's encoder keeps AR_{t-1} per function. Function 0's metrics are
    // refused at the first tick; function 1's arrival-rate change at the
    // second tick must still be measured against its own first tick.
    simppo_rl p = zero_simppo_policy();
    std::array<scaling_state, 2> s = simppo_states();
    std::array<function_metrics, 2> m{healthy(), healthy()};
    m[0].cpu_utilization = std::numeric_limits<double>::quiet_NaN();  // refused
    std::array<decision, 2> d{};
    p.decide(m, s, d);
    CHECK(d[0].source != decision_source::policy);

    m[0] = healthy();
    m[1].arrivals = 300;  // 10 -> 20 requests/s
    for (auto& x : s) x.time_s = 30;
    p.decide(m, s, d);
    CHECK(d[1].source == decision_source::policy);
    // The reference: the stateless form with each function's own AR_{t-1}.
    const simppo_encoder reference;
    std::array<float, 7> f0{};
    std::array<float, 7> f1{};
    REQUIRE(reference.encode(m[0], s[0], std::nullopt, f0));  // function 0 has no usable previous interval
    REQUIRE(reference.encode(m[1], s[1], 10.0, f1));          // function 1 had 10 requests/s
    const auto obs = p.last_observation();
    REQUIRE(obs.size() == 14);
    for (std::size_t i = 0; i < 7; ++i) {
        CAPTURE(i);
        CHECK(obs[i] == f0[i]);
        CHECK(obs[7 + i] == f1[i]);
    }
    CHECK(f1[3] != 0.0F);  // the arrival-rate change is really measured
}

TEST_CASE("rl_policy names a refused limit in the decision's reason (0 is an unknown limit, not the smallest)") {
    simppo_rl p = zero_simppo_policy();
    std::array<scaling_state, 2> s = simppo_states();
    const std::array<function_metrics, 2> m{healthy(), healthy()};
    std::array<decision, 2> d{};
    p.decide(m, s, d);
    CHECK(d[0].source == decision_source::policy);
    s[0].cpu_limit = 0;
    p.decide(m, s, d);
    // Both go to the fallback; each is told its own reason.
    for (const auto& x : d) CHECK(x.source != decision_source::policy);
    CHECK(std::string_view(d[0].reason) == "rl: encoder refused state.cpu_limit, fallback");
    CHECK(std::string_view(d[1].reason) == "rl: another function's input was refused, fallback");
    s[0].cpu_limit = 1;
    s[1].memory_limit_mb = 0;
    p.decide(m, s, d);
    CHECK(std::string_view(d[0].reason) == "rl: another function's input was refused, fallback");
    CHECK(std::string_view(d[1].reason) == "rl: encoder refused state.memory_limit_mb, fallback");
    // Both refused: each its own.
    s[0].cpu_limit = 0;
    p.decide(m, s, d);
    CHECK(std::string_view(d[0].reason) == "rl: encoder refused state.cpu_limit, fallback");
    CHECK(std::string_view(d[1].reason) == "rl: encoder refused state.memory_limit_mb, fallback");
    s[0].cpu_limit = 1;
    s[1].memory_limit_mb = 128;
    s[1].slo.latency_s = -1;  // the state's SLO: the scaling state, not the metrics
    p.decide(m, s, d);
    CHECK(std::string_view(d[1].reason) == "rl: encoder refused the scaling state, fallback");
    s[1].slo.latency_s = 1;
    p.decide(m, s, d);
    CHECK(d[1].source == decision_source::policy);
}

TEST_CASE("per_function lifts single-function policies to a joint policy, any_joint_policy erases its type") {
    std::vector<static_policy> each{static_policy{.replicas = 2}, static_policy{.replicas = 5}};
    any_joint_policy p(per_function<static_policy>(std::move(each)));
    CHECK(p.functions() == 2);
    CHECK(p.ready());
    const std::array<function_metrics, 2> m{healthy(), healthy()};
    std::array<scaling_state, 2> s{};
    for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 6};
    std::array<decision, 2> d{};
    p.decide(m, s, d);
    CHECK(d[0].replicas == 2);
    CHECK(d[1].replicas == 5);
    // Spans of the wrong length hold.
    std::array<decision, 1> one{};
    p.decide(std::span<const function_metrics>(m).first(1), std::span<const scaling_state>(s).first(1), one);
    CHECK(one[0].source == decision_source::hold);
    CHECK(one[0].replicas == 3);
    // The one-function form refuses a two-function policy.
    CHECK(p.decide(m[0], s[0]).source == decision_source::hold);
}

}  // namespace test_policy_rl_policy
