// rollout_buffer: GAE(λ) and returns against values worked out by hand (the
// arithmetic is in the comments; γ = λ = 0.5, so γλ = 0.25, and every number
// is a short binary fraction, exact in float too), termination and
// truncation kept apart, and push's refusals.
#include <rlscale/rl/rollout_buffer.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_rl_rollout_buffer {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

enum class ending { none, terminated, truncated };

/// One stored step of a hand-worked example.
struct step {
    double value;
    double reward;
    ending how = ending::none;
    double truncation_value = 0;
};

/// A buffer of 1-input observations (the step's index) holding `steps`.
template <typename T = double>
rollout_buffer<T> fill(const std::vector<step>& steps, std::size_t capacity = 8) {
    rollout_buffer<T> r(capacity, 1, 1, 1);
    for (std::size_t t = 0; t < steps.size(); ++t) {
        const std::array<T, 1> o{static_cast<T>(t)};
        const std::array<std::int32_t, 1> a{0};
        const step& s = steps[t];
        r.push(o, o, a, -1.0, s.value, s.reward, s.how == ending::terminated, s.how == ending::truncated, s.truncation_value);
    }
    return r;
}

template <typename T>
void check_advantages(const rollout_buffer<T>& r, const std::vector<double>& advantages, const std::vector<double>& returns) {
    REQUIRE(r.advantages_ready());
    REQUIRE(r.size() == advantages.size());
    for (std::size_t t = 0; t < advantages.size(); ++t) {
        CAPTURE(t);
        const auto j = static_cast<Eigen::Index>(t);
        CHECK(static_cast<double>(r.advantages()(j)) == doctest::Approx(advantages[t]).epsilon(1e-12));
        CHECK(static_cast<double>(r.returns()(j)) == doctest::Approx(returns[t]).epsilon(1e-12));
        // The critic's targets: returns = advantages + values.
        CHECK(static_cast<double>(r.returns()(j)) == doctest::Approx(static_cast<double>(r.advantages()(j) + r.values()(j))).epsilon(1e-12));
    }
}

}  // namespace

TEST_CASE_TEMPLATE("GAE without an episode end bootstraps the last step from last_value (worked by hand)", T, float, double) {
    // V = [1, 2, 1, 2], r = [1, 1, 1, 1], last_value = 2, γ = λ = 0.5.
    //   δ3 = 1 + 0.5·2 − 2 = 0      A3 = 0
    //   δ2 = 1 + 0.5·2 − 1 = 1      A2 = 1 + 0.25·0 = 1
    //   δ1 = 1 + 0.5·1 − 2 = −0.5   A1 = −0.5 + 0.25·1 = −0.25
    //   δ0 = 1 + 0.5·2 − 1 = 1      A0 = 1 + 0.25·(−0.25) = 0.9375
    //   returns = A + V = [1.9375, 1.75, 2, 2]
    auto r = fill<T>({{1, 1}, {2, 1}, {1, 1}, {2, 1}});
    CHECK_FALSE(r.advantages_ready());
    r.compute_advantages(2, 0.5, 0.5);
    check_advantages(r, {0.9375, -0.25, 1, 0}, {1.9375, 1.75, 2, 2});
    // last_value reaches the last step: 10 makes δ3 = 1 + 5 − 2 = 4, A3 = 4,
    // A2 = 1 + 0.25·4 = 2, A1 = −0.5 + 0.5 = 0, A0 = 1 + 0 = 1.
    r.compute_advantages(10, 0.5, 0.5);
    check_advantages(r, {1, 0, 2, 4}, {2, 2, 3, 6});
    // Computing again on the same steps gives the same (nothing accumulates).
    r.compute_advantages(2, 0.5, 0.5);
    check_advantages(r, {0.9375, -0.25, 1, 0}, {1.9375, 1.75, 2, 2});
}

TEST_CASE("rollout_buffer compute_advantages refuses returns that overflow the stored type, naming the step, and is not ready") {
    rollout_buffer<float> r = fill<float>({{0, 3e38}, {0, 3e38}, {0, 3e38}});
    CHECK_THROWS_WITH_AS(r.compute_advantages(0, 1, 1), doctest::Contains("not finite as a float"), error);
    CHECK_FALSE(r.advantages_ready());
    // The data is kept: with γ = 0 nothing sums past the float range.
    r.compute_advantages(0, 0, 1);
    CHECK(r.advantages_ready());
    CHECK(r.advantages()(0) == doctest::Approx(3e38));
}

TEST_CASE("GAE with a termination in the middle: no bootstrap from the next state and no advantage flows back across it") {
    // V = [1, 2, 1, 2, 1], r = 1 each, step 1 terminated, last_value = 2.
    //   δ4 = 1 + 0.5·2 − 1 = 1                     A4 = 1
    //   δ3 = 1 + 0.5·1 − 2 = −0.5                  A3 = −0.5 + 0.25·1 = −0.25
    //   δ2 = 1 + 0.5·2 − 1 = 1                     A2 = 1 + 0.25·(−0.25) = 0.9375
    //   δ1 = 1 + 0.5·0 − 2 = −1   (terminal)       A1 = −1  (A2 does not flow back)
    //   δ0 = 1 + 0.5·2 − 1 = 1                     A0 = 1 + 0.25·(−1) = 0.75
    //   returns = [1.75, 1, 1.9375, 1.75, 2]
    auto r = fill({{1, 1}, {2, 1, ending::terminated}, {1, 1}, {2, 1}, {1, 1}});
    r.compute_advantages(2, 0.5, 0.5);
    check_advantages(r, {0.75, -1, 0.9375, -0.25, 1}, {1.75, 1, 1.9375, 1.75, 2});
    CHECK(r.terminated()(1) == 1.0);
    CHECK(r.truncated()(1) == 0.0);

    // A step both terminated and truncated is terminal: its truncation value
    // is dropped and nothing is bootstrapped.
    rollout_buffer<double> r2(8, 1, 1, 1);
    const std::array<double, 1> o{0};
    const std::array<std::int32_t, 1> a{0};
    for (int t = 0; t < 5; ++t) r2.push(o, o, a, 0, t % 2 == 0 ? 1 : 2, 1, t == 1, t == 1, 100);
    r2.compute_advantages(2, 0.5, 0.5);
    CHECK(r2.terminated()(1) == 1.0);
    CHECK(r2.truncated()(1) == 0.0);
    CHECK(r2.truncation_values()(1) == 0.0);
    check_advantages(r2, {0.75, -1, 0.9375, -0.25, 1}, {1.75, 1, 1.9375, 1.75, 2});
}

TEST_CASE("GAE with a truncation in the middle bootstraps from truncation_value and no advantage flows back across the cut") {
    // As the termination case, but step 1 is cut by a time limit and the
    // observation it left is worth 4.
    //   A4 = 1, A3 = −0.25, A2 = 0.9375 (as before)
    //   δ1 = 1 + 0.5·4 − 2 = 1   (cut: V_next = truncation_value)   A1 = 1  (A2 does not flow back)
    //   δ0 = 1 + 0.5·2 − 1 = 1   (V_next = V(s1), not the truncation value)   A0 = 1 + 0.25·1 = 1.25
    //   returns = [2.25, 3, 1.9375, 1.75, 2]
    auto r = fill({{1, 1}, {2, 1, ending::truncated, 4}, {1, 1}, {2, 1}, {1, 1}});
    CHECK(r.truncated()(1) == 1.0);
    CHECK(r.terminated()(1) == 0.0);
    CHECK(r.truncation_values()(1) == 4.0);
    CHECK(r.truncation_values()(0) == 0.0);
    r.compute_advantages(2, 0.5, 0.5);
    check_advantages(r, {1.25, 1, 0.9375, -0.25, 1}, {2.25, 3, 1.9375, 1.75, 2});
}

TEST_CASE("cut_last ends the last stored step as a truncation: the same advantages as a step pushed truncated") {
    // The truncation-in-the-middle example, with step 1 pushed as an
    // ordinary step and cut afterwards (its successor was not stored).
    auto r = fill({{1, 1}, {2, 1}});
    CHECK(r.last_open());
    r.cut_last(4);
    CHECK_FALSE(r.last_open());
    CHECK(r.truncated()(1) == 1.0);
    CHECK(r.truncation_values()(1) == 4.0);
    CHECK(r.truncated()(0) == 0.0);
    for (const step& s : std::vector<step>{{1, 1}, {2, 1}, {1, 1}}) {
        const std::array<double, 1> o{static_cast<double>(r.size())};
        const std::array<std::int32_t, 1> a{0};
        r.push(o, o, a, -1.0, s.value, s.reward, false, false);
    }
    r.compute_advantages(2, 0.5, 0.5);
    check_advantages(r, {1.25, 1, 0.9375, -0.25, 1}, {2.25, 3, 1.9375, 1.75, 2});

    // A step that already ended is left as it is, an empty buffer too, and a
    // non-finite value is refused.
    auto ended = fill({{1, 1, ending::truncated, 7}, {1, 1, ending::terminated}});
    ended.cut_last(3);
    CHECK(ended.truncated()(1) == 0.0);
    CHECK(ended.terminated()(1) == 1.0);
    auto cut = fill({{1, 1, ending::truncated, 7}});
    cut.cut_last(3);
    CHECK(cut.truncation_values()(0) == 7.0);
    CHECK_FALSE(ended.last_open());
    rollout_buffer<double> empty(4, 1, 1, 1);
    CHECK_FALSE(empty.last_open());
    empty.cut_last(1);
    CHECK(empty.empty());
    CHECK_THROWS_WITH_AS(cut.cut_last(not_a_number), doctest::Contains("truncation_value"), error);
    // Cutting after compute_advantages asks for them again.
    auto again = fill({{1, 1}, {2, 1}});
    again.compute_advantages(0, 0.5, 0.5);
    again.cut_last(4);
    CHECK_FALSE(again.advantages_ready());
}

TEST_CASE("GAE on a rollout whose last step is truncated uses truncation_value and ignores last_value") {
    // (a)'s steps with step 3 cut and worth 6; last_value 100 is ignored.
    //   δ3 = 1 + 0.5·6 − 2 = 2      A3 = 2
    //   δ2 = 1 + 0.5·2 − 1 = 1      A2 = 1 + 0.25·2 = 1.5
    //   δ1 = 1 + 0.5·1 − 2 = −0.5   A1 = −0.5 + 0.25·1.5 = −0.125
    //   δ0 = 1 + 0.5·2 − 1 = 1      A0 = 1 + 0.25·(−0.125) = 0.96875
    //   returns = [1.96875, 1.875, 2.5, 4]
    auto r = fill({{1, 1}, {2, 1}, {1, 1}, {2, 1, ending::truncated, 6}});
    r.compute_advantages(100, 0.5, 0.5);
    check_advantages(r, {0.96875, -0.125, 1.5, 2}, {1.96875, 1.875, 2.5, 4});

    // A terminated last step ignores last_value too: δ3 = 1 − 2 = −1, A3 = −1,
    // A2 = 1 − 0.25 = 0.75, A1 = −0.5 + 0.1875 = −0.3125, A0 = 1 − 0.078125 = 0.921875.
    auto t = fill({{1, 1}, {2, 1}, {1, 1}, {2, 1, ending::terminated}});
    t.compute_advantages(100, 0.5, 0.5);
    check_advantages(t, {0.921875, -0.3125, 0.75, -1}, {1.921875, 1.6875, 1.75, 1});
}

TEST_CASE("GAE with lambda 1 gives discounted returns (bootstrapped at cuts) and lambda 0 one-step TD errors") {
    // V = [1, 2, 1, 2], r = [2, 0, 4, 0], last_value = 8, γ = 0.5.
    // λ = 1: returns are the discounted sums bootstrapped with last_value,
    //   R3 = 0 + 0.5·8 = 4, R2 = 4 + 0.5·4 = 6, R1 = 0 + 0.5·6 = 3, R0 = 2 + 0.5·3 = 3.5,
    //   A = R − V = [2.5, 1, 5, 2].
    auto r = fill({{1, 2}, {2, 0}, {1, 4}, {2, 0}});
    r.compute_advantages(8, 0.5, 1.0);
    check_advantages(r, {2.5, 1, 5, 2}, {3.5, 3, 6, 4});
    // λ = 0: A_t = δ_t = r_t + γ·V_next − V_t, returns = r_t + γ·V_next:
    //   [2 + 1 − 1, 0 + 0.5 − 2, 4 + 1 − 1, 0 + 4 − 2] = [2, −1.5, 4, 2], returns [3, 0.5, 5, 4].
    r.compute_advantages(8, 0.5, 0.0);
    check_advantages(r, {2, -1.5, 4, 2}, {3, 0.5, 5, 4});
    // λ = 1 with step 1 cut (worth 10): R1 = 0 + 0.5·10 = 5, R0 = 2 + 0.5·5 = 4.5; R2, R3 as before.
    auto cut = fill({{1, 2}, {2, 0, ending::truncated, 10}, {1, 4}, {2, 0}});
    cut.compute_advantages(8, 0.5, 1.0);
    check_advantages(cut, {3.5, 3, 5, 2}, {4.5, 5, 6, 4});
    // γ = 0: the advantage is the reward minus the value, nothing else.
    r.compute_advantages(8, 0.0, 0.7);
    check_advantages(r, {1, -2, 3, -2}, {2, 0, 4, 0});
}

TEST_CASE("compute_advantages refuses gamma or lambda outside [0, 1] and a non-finite last_value, naming them") {
    auto r = fill({{1, 1}, {2, 1}});
    CHECK_THROWS_WITH_AS(r.compute_advantages(0, 1.5, 0.5), doctest::Contains("gamma: must be in [0, 1], got 1.5"), config_error);
    CHECK_THROWS_WITH_AS(r.compute_advantages(0, 0.5, -0.1), doctest::Contains("lambda: must be in [0, 1], got -0.1"), config_error);
    CHECK_THROWS_WITH_AS(r.compute_advantages(not_a_number, 0.5, 0.5), doctest::Contains("last_value is nan"), error);
    CHECK_THROWS_WITH_AS(r.compute_advantages(infinity, 0.5, 0.5), doctest::Contains("last_value is inf"), error);
    CHECK_FALSE(r.advantages_ready());
    // A new step makes computed advantages stale.
    r.compute_advantages(0, 0.5, 0.5);
    CHECK(r.advantages_ready());
    const std::array<double, 1> o{0};
    const std::array<std::int32_t, 1> a{0};
    r.push(o, o, a, 0, 0, 0, false, false);
    CHECK_FALSE(r.advantages_ready());
}

TEST_CASE("push stores every field in its column and keeps actor and critic observations apart") {
    rollout_buffer<float, float> r(3, 2, 3, 2);
    CHECK(r.capacity() == 3);
    CHECK(r.actor_observation_size() == 2);
    CHECK(r.critic_observation_size() == 3);
    CHECK(r.action_width() == 2);
    CHECK(r.empty());
    const std::array<float, 2> ao{0.5F, -0.5F};
    const std::array<float, 3> co{1.0F, 2.0F, 3.0F};
    const std::array<float, 2> act{0.25F, -1.5F};
    r.push(ao, co, act, -0.75, 2.5, -1.0, false, true, 7.0);
    REQUIRE(r.size() == 1);
    CHECK(r.actor_observations()(0, 0) == 0.5F);
    CHECK(r.actor_observations()(1, 0) == -0.5F);
    CHECK(r.critic_observations()(2, 0) == 3.0F);
    CHECK(r.actions()(0, 0) == 0.25F);
    CHECK(r.actions()(1, 0) == -1.5F);
    CHECK(r.log_probs()(0) == -0.75F);
    CHECK(r.values()(0) == 2.5F);
    CHECK(r.rewards()(0) == -1.0F);
    CHECK(r.truncated()(0) == 1.0F);
    CHECK(r.truncation_values()(0) == 7.0F);
    // A truncation value given for a step that was not cut is not kept.
    r.push(ao, co, act, 0, 0, 0, false, false, 9.0);
    CHECK(r.truncation_values()(1) == 0.0F);
    CHECK(r.truncated()(1) == 0.0F);
}

TEST_CASE("push refuses wrong sizes, a full rollout and non-finite numbers, names the field and stores nothing") {
    rollout_buffer<double, double> r(2, 2, 3, 1);
    const std::array<double, 2> ao{0.1, 0.2};
    const std::array<double, 3> co{0.3, 0.4, 0.5};
    const std::array<double, 1> act{0.6};
    const std::array<double, 3> ao_long{1, 2, 3};
    const std::array<double, 2> co_short{1, 2};
    const std::array<double, 2> act_long{1, 2};
    CHECK_THROWS_WITH_AS(r.push(ao_long, co, act, 0, 0, 0, false, false), doctest::Contains("actor_observation has 3 values, expected 2"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co_short, act, 0, 0, 0, false, false), doctest::Contains("critic_observation has 2 values, expected 3"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co, act_long, 0, 0, 0, false, false), doctest::Contains("action has 2 values, expected 1"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co, act, not_a_number, 0, 0, false, false), doctest::Contains("log_prob is nan"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co, act, 0, infinity, 0, false, false), doctest::Contains("value is inf"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co, act, 0, 0, -infinity, false, false), doctest::Contains("reward is -inf"), error);
    CHECK_THROWS_WITH_AS(r.push(ao, co, act, 0, 0, 0, false, true, not_a_number), doctest::Contains("truncation_value is nan"), error);
    const std::array<double, 1> act_nan{not_a_number};
    CHECK_THROWS_WITH_AS(r.push(ao, co, act_nan, 0, 0, 0, false, false), doctest::Contains("action is nan"), error);
    CHECK(r.empty());
    // Finite as a double but not as the float a float rollout stores.
    rollout_buffer<float> f(2, 1, 1, 1);
    const std::array<float, 1> one{0.5F};
    const std::array<std::int32_t, 1> discrete{0};
    CHECK_THROWS_WITH_AS(f.push(one, one, discrete, 0, 0, 1e39, false, false), doctest::Contains("reward is 1e+39, must be finite as a float"), error);
    CHECK_THROWS_WITH_AS(f.push(one, one, discrete, -1e39, 0, 0, false, false), doctest::Contains("log_prob"), error);
    CHECK_THROWS_WITH_AS(f.push(one, one, discrete, 0, 1e39, 0, false, false), doctest::Contains("value"), error);
    CHECK_THROWS_WITH_AS(f.push(one, one, discrete, 0, 0, 0, false, true, 1e39), doctest::Contains("truncation_value"), error);
    CHECK(f.empty());
    f.push(one, one, discrete, 0, 0, 0, false, false);
    CHECK_THROWS_WITH_AS(f.cut_last(1e39), doctest::Contains("truncation_value"), error);
    // Nothing was written either: the next good step lands in column 0 with its own numbers.
    r.push(ao, co, act, -0.5, 1.5, 2.5, false, false);
    CHECK(r.size() == 1);
    CHECK(r.actor_observations()(0, 0) == 0.1);
    CHECK(r.log_probs()(0) == -0.5);
    CHECK(r.values()(0) == 1.5);
    CHECK(r.truncated()(0) == 0.0);
    r.push(ao, co, act, 0, 0, 0, false, false);
    CHECK(r.full());
    CHECK_THROWS_WITH_AS(r.push(ao, co, act, 0, 0, 0, false, false), doctest::Contains("full (2 steps)"), error);
    CHECK(r.size() == 2);
}

TEST_CASE("push refuses a non-finite observation, as replay_buffer does, and stores nothing") {
    // "Throws rlscale::error (and stores nothing) when ... a number is not
    // finite": observations are numbers of the step too, and a NaN one
    // would turn the whole minibatch's gradient into NaN at update time.
    rollout_buffer<double> r(4, 2, 2, 1);
    const std::array<double, 2> ok{0.1, 0.2};
    const std::array<double, 2> bad{0.1, not_a_number};
    const std::array<std::int32_t, 1> a{0};
    CHECK_THROWS_WITH_AS(r.push(bad, ok, a, 0, 0, 0, false, false), doctest::Contains("actor_observation"), error);
    CHECK_THROWS_WITH_AS(r.push(ok, bad, a, 0, 0, 0, false, false), doctest::Contains("critic_observation"), error);
    CHECK(r.empty());
}

TEST_CASE("clear forgets the steps and keeps the storage and capacity") {
    rollout_buffer<float> r(3, 2, 2, 1);
    const std::array<float, 2> o{1, 2};
    const std::array<std::int32_t, 1> a{1};
    for (int t = 0; t < 3; ++t) r.push(o, o, a, 0, 0, 1, false, false);
    r.compute_advantages(0, 0.9, 0.9);
    REQUIRE(r.full());
    const float* storage = r.actor_observations().data();
    r.clear();
    CHECK(r.empty());
    CHECK_FALSE(r.full());
    CHECK_FALSE(r.advantages_ready());
    CHECK(r.capacity() == 3);
    CHECK(r.actor_observations().data() == storage);
    CHECK(r.actor_observations().cols() == 3);
    for (int t = 0; t < 3; ++t) r.push(o, o, a, 0, 0, 1, false, false);
    CHECK(r.full());
}

TEST_CASE("set_advantages overwrites advantages and returns, refusing wrong sizes and non-finite values") {
    auto r = fill({{1, 1}, {2, 1}, {1, 1}});
    const std::vector<double> adv{0.5, -0.5, 2.0};
    const std::vector<double> ret{1.0, 3.0, -4.0};
    r.set_advantages(adv, ret);
    CHECK(r.advantages_ready());
    for (Eigen::Index t = 0; t < 3; ++t) {
        CHECK(r.advantages()(t) == adv[static_cast<std::size_t>(t)]);
        CHECK(r.returns()(t) == ret[static_cast<std::size_t>(t)]);
    }
    r.compute_advantages(0, 0.5, 0.5);  // overwritten again by GAE
    const Eigen::VectorXd gae = r.advantages().head(3);
    const std::vector<double> two{1, 2};
    const std::vector<double> with_nan{1, not_a_number, 2};
    CHECK_THROWS_WITH_AS(r.set_advantages(two, ret), doctest::Contains("advantages has 2 values, expected 3"), error);
    CHECK_THROWS_WITH_AS(r.set_advantages(adv, two), doctest::Contains("returns has 2 values, expected 3"), error);
    CHECK_THROWS_WITH_AS(r.set_advantages(with_nan, ret), doctest::Contains("advantages is nan"), error);
    CHECK_THROWS_WITH_AS(r.set_advantages(adv, with_nan), doctest::Contains("returns is nan"), error);
    CHECK(r.advantages().head(3) == gae);  // nothing half-written
}

TEST_CASE("rollout_buffer refuses a zero capacity or size, naming it") {
    CHECK_THROWS_WITH_AS((rollout_buffer<float>(0, 2, 2, 1)), doctest::Contains("rollout_buffer.capacity: must be in [1, 10000000], got 0"),
                         config_error);
    CHECK_THROWS_WITH_AS((rollout_buffer<float>(4, 0, 2, 1)), doctest::Contains("rollout_buffer.actor_observation_size"), config_error);
    CHECK_THROWS_WITH_AS((rollout_buffer<float>(4, 2, 0, 1)), doctest::Contains("rollout_buffer.critic_observation_size"), config_error);
    CHECK_THROWS_WITH_AS((rollout_buffer<float>(4, 2, 2, 0)), doctest::Contains("rollout_buffer.action_width"), config_error);
}

}  // namespace test_rl_rollout_buffer
