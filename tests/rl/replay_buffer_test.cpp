#include <rlscale/rl/replay_buffer.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace test_rl_replay_buffer {

using rlscale::rl::replay_buffer;

namespace {
std::array<float, 2> obs(float v) { return {v, -v}; }
}  // namespace

TEST_CASE("replay_buffer stores transitions and overwrites the oldest once full") {
    replay_buffer<float> buf(3, 2);
    replay_buffer<float>::batch b(2, 1, 4);
    CHECK(buf.empty());
    for (int i = 0; i < 5; ++i) {
        const auto o = obs(static_cast<float>(i));
        const auto n = obs(static_cast<float>(i + 1));
        buf.push(o, i % 3, 10.0 * i, n, i == 4, i == 3);
    }
    CHECK(buf.full());
    CHECK(buf.size() == 3);
    CHECK(buf.pushed() == 5);
    // oldest kept is transition 2, then 3, then 4
    for (std::size_t k = 0; k < 3; ++k) buf.get(k, k, b);
    CHECK(b.observations(0, 0) == 2.0F);
    CHECK(b.observations(1, 0) == -2.0F);
    CHECK(b.next_observations(0, 0) == 3.0F);
    CHECK(b.actions(0, 0) == 2);
    CHECK(b.rewards(0) == 20.0F);
    CHECK(b.observations(0, 1) == 3.0F);
    CHECK(b.truncated(1) == 1.0F);
    CHECK(b.terminated(1) == 0.0F);
    CHECK(b.observations(0, 2) == 4.0F);
    CHECK(b.terminated(2) == 1.0F);
    CHECK(b.truncated(2) == 0.0F);
    CHECK_THROWS_AS(buf.get(3, 0, b), rlscale::error);
}

TEST_CASE("replay_buffer sampling is uniform over the stored transitions and seeded") {
    replay_buffer<float> buf(100, 2);
    for (int i = 0; i < 250; ++i) {
        const auto o = obs(static_cast<float>(i));
        buf.push(o, 0, i, o, false);
    }
    replay_buffer<float>::batch b(2, 1, 64);
    rlscale::rng gen(7);
    std::vector<int> counts(250, 0);
    for (int draw = 0; draw < 2000; ++draw) {
        buf.sample(64, gen, b);
        REQUIRE(b.size == 64);
        for (int j = 0; j < 64; ++j) {
            const int v = static_cast<int>(b.observations(0, j));
            REQUIRE(static_cast<float>(v) == b.rewards(j));  // rows stay together
            REQUIRE(b.slots[static_cast<std::size_t>(j)] == static_cast<std::size_t>(v % 100));  // pushed into slot v mod 100
            ++counts[static_cast<std::size_t>(v)];
        }
    }
    for (int i = 0; i < 150; ++i) CHECK(counts[static_cast<std::size_t>(i)] == 0);  // overwritten
    // 128,000 draws over 100 slots: 1280 expected each; 5 sigma is about 178
    for (int i = 150; i < 250; ++i) {
        CHECK(counts[static_cast<std::size_t>(i)] > 1280 - 180);
        CHECK(counts[static_cast<std::size_t>(i)] < 1280 + 180);
    }
    rlscale::rng a(3);
    rlscale::rng c(3);
    replay_buffer<float>::batch b1(2, 1, 8);
    replay_buffer<float>::batch b2(2, 1, 8);
    buf.sample(8, a, b1);
    buf.sample(8, c, b2);
    CHECK(b1.observations == b2.observations);
}

TEST_CASE("replay_buffer rejects bad transitions and stores nothing") {
    replay_buffer<float> buf(4, 2, 2);
    const auto o = obs(1);
    const std::array<std::int32_t, 2> a{0, 1};
    const std::array<float, 2> nan_obs{1, std::numeric_limits<float>::quiet_NaN()};
    const std::array<float, 3> long_obs{1, 2, 3};
    const std::array<std::int32_t, 2> negative{0, -1};
    CHECK_THROWS_WITH_AS(buf.push(nan_obs, a, 0, o, false), doctest::Contains("observation[1]"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, a, 0, nan_obs, false), doctest::Contains("next_observation[1]"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(long_obs, a, 0, o, false), doctest::Contains("observation has 3"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, negative, 0, o, false), doctest::Contains("action[1] is -1"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, a, std::numeric_limits<double>::infinity(), o, false), doctest::Contains("reward"),
                         rlscale::error);
    // Finite as a double, infinite as the float the buffer stores.
    CHECK_THROWS_WITH_AS(buf.push(o, a, 1e39, o, false), doctest::Contains("must be finite as the buffer's float"), rlscale::error);
    CHECK(buf.empty());
    CHECK_THROWS_WITH_AS(replay_buffer<float>(0, 2), doctest::Contains("replay_buffer.capacity"), rlscale::config_error);
    replay_buffer<float>::batch b(2, 2, 2);
    rlscale::rng gen(1);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, b), doctest::Contains("empty"), rlscale::error);
    buf.push(o, a, 0, o, false);
    CHECK_THROWS_WITH_AS(buf.sample(3, gen, b), doctest::Contains("exceeds"), rlscale::error);
    replay_buffer<float>::batch wrong(3, 2, 2);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, wrong), doctest::Contains("the batch holds"), rlscale::error);
}

TEST_CASE("replay_buffer holds 10^6 transitions") {
    replay_buffer<float> buf(1'000'000, 4);
    const std::array<float, 4> o{1, 2, 3, 4};
    for (int i = 0; i < 1'000'100; ++i) buf.push(o, 1, 0.5, o, false);
    CHECK(buf.full());
    CHECK(buf.size() == 1'000'000);
}

TEST_CASE("replay_buffer stores continuous actions and refuses non-finite ones") {
    replay_buffer<float, float> rb(4, 2, 3);
    const std::array<float, 2> o{0.1F, 0.2F};
    const std::array<float, 3> a{-0.5F, 0.0F, 0.75F};
    rb.push(o, a, 1.0, o, false);
    rlscale::rl::replay_batch<float, float> batch(2, 3, 1);
    rb.get(0, 0, batch);
    CHECK(batch.actions(0, 0) == -0.5F);
    CHECK(batch.actions(2, 0) == 0.75F);
    const std::array<float, 3> bad{0.0F, std::numeric_limits<float>::infinity(), 0.0F};
    CHECK_THROWS_WITH_AS(rb.push(o, bad, 1.0, o, false), doctest::Contains("action[1]"), rlscale::error);
    CHECK(rb.size() == 1);
}

}  // namespace test_rl_replay_buffer
