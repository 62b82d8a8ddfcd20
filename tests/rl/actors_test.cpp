#include <rlscale/rl/actors.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>

namespace test_rl_actors {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

/// A one-layer network (2 inputs) whose output is its bias, `out`.
nn::mlp<float> bias_net(std::initializer_list<float> out) {
    nn::mlp<float> net({2, static_cast<Eigen::Index>(out.size())});
    net.parameters().setZero();
    Eigen::Index i = 0;
    for (const float v : out) net.bias(0)[i++] = v;
    return net;
}

/// Weights of bias_net(out), published unless asked not to.
std::shared_ptr<shared_network<float>> constant(std::initializer_list<float> out, bool publish = true) {
    const nn::mlp<float> net = bias_net(out);
    auto w = std::make_shared<shared_network<float>>(net);
    if (publish) w->publish(net);
    return w;
}

}  // namespace

TEST_CASE("greedy_q_actor: the best action of each head, or why not") {
    const std::array<float, 2> obs{0.5F, 1.0F};
    std::array<std::int32_t, 2> out{-1, -1};
    greedy_q_actor unpublished(constant({0, 1, 0, 2, 0, 0}, false), {.heads = 2, .actions_per_head = 3});
    CHECK(unpublished.act(obs, out) == act_status::no_weights);
    CHECK(out == std::array<std::int32_t, 2>{-1, -1});  // nothing written

    greedy_q_actor a(constant({0, 1, 0, 2, 0, 0}), {.heads = 2, .actions_per_head = 3});
    CHECK(a.input_size() == 2);
    CHECK(a.output_size() == 2);
    CHECK(a.act(obs, out) == act_status::ok);
    CHECK(out == std::array<std::int32_t, 2>{1, 0});

    // Finite weights whose output overflows float: 3e38 · (0.5 + 1.0) = inf.
    nn::mlp<float> huge({2, 3});
    huge.parameters().setZero();
    huge.weight(0)(1, 0) = 3e38F;
    huge.weight(0)(1, 1) = 3e38F;
    auto hw = std::make_shared<shared_network<float>>(huge);
    hw->publish(huge);
    greedy_q_actor overflow(hw, {.heads = 1, .actions_per_head = 3});
    std::array<std::int32_t, 1> one{-1};
    CHECK(overflow.act(obs, one) == act_status::not_finite);
    CHECK(one[0] == -1);

    CHECK_THROWS_WITH_AS(greedy_q_actor(constant({0, 1}), {.heads = 1, .actions_per_head = 3}), doctest::Contains("greedy_q_actor.weights"),
                         config_error);
    CHECK_THROWS_AS(greedy_q_actor(nullptr, {}), config_error);
}

TEST_CASE("categorical_actor: greedy over logits, or a seeded sample from softmax") {
    const std::array<float, 2> obs{0.0F, 0.0F};
    // logits log(0.1), log(0.3), log(0.6): probabilities 0.1, 0.3, 0.6
    auto w = constant({std::log(0.1F), std::log(0.3F), std::log(0.6F)});
    categorical_actor greedy(w, {.heads = 1, .actions_per_head = 3});
    std::array<std::int32_t, 1> out{};
    CHECK(greedy.act(obs, out) == act_status::ok);
    CHECK(out[0] == 2);

    categorical_actor sampled(w, {.heads = 1, .actions_per_head = 3}, categorical_mode::sample, 7);
    std::array<int, 3> counts{};
    const int n = 30'000;
    for (int i = 0; i < n; ++i) {
        REQUIRE(sampled.act(obs, out) == act_status::ok);
        ++counts[static_cast<std::size_t>(out[0])];
    }
    // Within 4 standard deviations of the binomial counts.
    const std::array<double, 3> p{0.1, 0.3, 0.6};
    for (std::size_t k = 0; k < 3; ++k) {
        CAPTURE(k);
        CHECK(std::abs(counts[k] - n * p[k]) < 4 * std::sqrt(n * p[k] * (1 - p[k])));
    }
    // The same seed draws the same actions.
    categorical_actor a(w, {.heads = 1, .actions_per_head = 3}, categorical_mode::sample, 11);
    categorical_actor b(w, {.heads = 1, .actions_per_head = 3}, categorical_mode::sample, 11);
    for (int i = 0; i < 100; ++i) {
        std::array<std::int32_t, 1> x{};
        std::array<std::int32_t, 1> y{};
        (void)a.act(obs, x);
        (void)b.act(obs, y);
        CHECK(x == y);
    }
    // Huge logits do not overflow the softmax.
    categorical_actor big(constant({1e30F, 0.0F}), {.heads = 1, .actions_per_head = 2}, categorical_mode::sample, 1);
    for (int i = 0; i < 10; ++i) {
        REQUIRE(big.act(obs, out) == act_status::ok);
        CHECK(out[0] == 0);
    }
}

TEST_CASE("deterministic_actor: mu(s) as continuous values") {
    const std::array<float, 2> obs{0.0F, 0.0F};
    deterministic_actor a(constant({-0.5F, 0.25F, 1.0F}));
    CHECK(a.output_size() == 3);
    std::array<float, 3> out{};
    CHECK(a.act(obs, out) == act_status::ok);
    CHECK(out == std::array<float, 3>{-0.5F, 0.25F, 1.0F});
    deterministic_actor none(constant({0.0F}, false));
    std::array<float, 1> one{};
    CHECK(none.act(obs, one) == act_status::no_weights);
    static_assert(actor<deterministic_actor>);
    static_assert(std::same_as<deterministic_actor::value_type, float>);
}

TEST_CASE("every actor refuses an observation or an action span of the wrong size, writing nothing") {
    const std::array<float, 3> long_obs{0.5F, 1.0F, 2.0F};
    const std::array<float, 2> obs{0.5F, 1.0F};
    std::array<std::int32_t, 1> short_out{-1};
    std::array<std::int32_t, 2> out{-1, -1};
    greedy_q_actor q(constant({0, 1, 0, 2, 0, 0}), {.heads = 2, .actions_per_head = 3});
    CHECK(q.act(long_obs, out) == act_status::bad_size);
    CHECK(q.act(obs, short_out) == act_status::bad_size);
    q.serve_int8();
    CHECK(q.act(long_obs, out) == act_status::bad_size);
    CHECK(q.act(obs, short_out) == act_status::bad_size);
    CHECK(out == std::array<std::int32_t, 2>{-1, -1});
    CHECK(short_out[0] == -1);
    categorical_actor c(constant({0, 1, 0, 2, 0, 0}), {.heads = 2, .actions_per_head = 3}, categorical_mode::greedy, 1);
    CHECK(c.act(long_obs, out) == act_status::bad_size);
    CHECK(c.act(obs, short_out) == act_status::bad_size);
    deterministic_actor d(constant({-0.5F, 0.25F, 1.0F}));
    std::array<float, 2> two{9, 9};
    std::array<float, 3> three{9, 9, 9};
    CHECK(d.act(obs, two) == act_status::bad_size);
    CHECK(d.act(long_obs, three) == act_status::bad_size);
    CHECK(two == std::array<float, 2>{9, 9});
    CHECK(three == std::array<float, 3>{9, 9, 9});
    CHECK(to_string(act_status::bad_size) == "observation or action of the wrong size");
}

TEST_CASE("actors follow every publish (int8 serving too): each serves the newest weights from the next call on") {
    const std::array<float, 2> obs{0.0F, 0.0F};
    auto w = constant({1, 0, 0});
    greedy_q_actor q(w, {.heads = 1, .actions_per_head = 3});
    greedy_q_actor q8(w, {.heads = 1, .actions_per_head = 3});
    q8.serve_int8();
    categorical_actor c(w, {.heads = 1, .actions_per_head = 3});
    deterministic_actor d(w);
    std::array<std::int32_t, 1> qa{};
    std::array<std::int32_t, 1> q8a{};
    std::array<std::int32_t, 1> ca{};
    std::array<float, 3> mu{};
    for (int round = 0; round < 6; ++round) {
        CAPTURE(round);
        const auto best = static_cast<std::size_t>(round % 3);
        std::array<float, 3> out{};
        out[best] = static_cast<float>(round + 1);
        w->publish(bias_net({out[0], out[1], out[2]}));
        // Twice per publish: the first call refreshes the actor's copy, the
        // second serves from it.
        for (int call = 0; call < 2; ++call) {
            REQUIRE(q.act(obs, qa) == act_status::ok);
            REQUIRE(q8.act(obs, q8a) == act_status::ok);
            REQUIRE(c.act(obs, ca) == act_status::ok);
            REQUIRE(d.act(obs, mu) == act_status::ok);
            CHECK(qa[0] == static_cast<std::int32_t>(best));
            CHECK(q8a[0] == static_cast<std::int32_t>(best));
            CHECK(ca[0] == static_cast<std::int32_t>(best));
            CHECK(mu == out);
        }
    }
    // A publish refused (non-finite weights) leaves every actor serving the last good ones.
    auto bad = bias_net({0, 0, 9});
    bad.bias(0)[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(w->publish(bad), error);
    REQUIRE(d.act(obs, mu) == act_status::ok);
    CHECK(mu == std::array<float, 3>{0, 0, 6});
}

}  // namespace test_rl_actors
