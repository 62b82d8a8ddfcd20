#include <rlscale/rl/action_space.hpp>

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <vector>

using namespace rlscale;
using namespace rlscale::rl;

namespace {
std::vector<scaling_state> states(std::initializer_list<int> replicas) {
    std::vector<scaling_state> s;
    for (const int r : replicas) s.push_back({.replicas = r, .min_replicas = 1, .max_replicas = 10});
    return s;
}
}  // namespace

TEST_CASE("joint delta actions: 3^N outputs, each function's base-3 digit") {
    const joint_delta_actions a(3);
    CHECK(a.layout().heads == 1);
    CHECK(a.layout().actions_per_head == 27);
    // index 0 = all -1, 13 = all 0 (1 + 3 + 9), 26 = all +1, 5 = digits (2, 1, 0) = (+1, 0, -1)
    const auto s = states({4, 4, 4});
    std::array<int, 3> out{};
    std::array<double, 3> env{};
    const std::array<std::pair<std::int32_t, std::array<int, 3>>, 4> cases{{{0, {3, 3, 3}}, {13, {4, 4, 4}}, {26, {5, 5, 5}}, {5, {5, 4, 3}}}};
    for (const auto& [index, expected] : cases) {
        CAPTURE(index);
        const std::array<std::int32_t, 1> h{index};
        a.replicas(h, s, out);
        CHECK(out == expected);
        a.env_values(h, env);
        for (std::size_t f = 0; f < 3; ++f) CHECK(env[f] == expected[f] - 4);
        std::array<std::int32_t, 1> back{};
        a.heads_for(s, out, back);
        CHECK(back[0] == index);
    }
    // every index decodes to a distinct delta vector
    std::set<std::array<int, 3>> seen;
    for (std::int32_t i = 0; i < 27; ++i) {
        const std::array<std::int32_t, 1> h{i};
        a.replicas(h, s, out);
        seen.insert(out);
    }
    CHECK(seen.size() == 27);
    CHECK_THROWS_WITH_AS(joint_delta_actions(8), doctest::Contains("exceed 4096"), config_error);
    CHECK_THROWS_WITH_AS(joint_delta_actions(2, {1, 1}), doctest::Contains("joint_delta_actions.deltas[1]"), config_error);
}

TEST_CASE("joint delta actions over a wider delta set") {
    const joint_delta_actions a(2, {-2, -1, 0, 1, 4});
    CHECK(a.layout().actions_per_head == 25);
    const auto s = states({5, 5});
    // index 4 + 5 * 1 = 9: function 0 takes deltas[4] = +4, function 1 deltas[1] = -1
    const std::array<std::int32_t, 1> h{9};
    std::array<int, 2> out{};
    a.replicas(h, s, out);
    CHECK(out == std::array<int, 2>{9, 4});
    std::array<std::int32_t, 1> back{};
    const std::array<int, 2> targets{8, 2};  // +3 is nearest to +4, -3 nearest to -2
    a.heads_for(s, targets, back);
    CHECK(back[0] == 4 + 5 * 0);
}

TEST_CASE("factored delta actions: one head of three per function") {
    const factored_delta_actions a(4);
    CHECK(a.layout().heads == 4);
    CHECK(a.layout().outputs() == 12);
    const auto s = states({1, 2, 3, 4});
    const std::array<std::int32_t, 4> h{0, 1, 2, 0};
    std::array<int, 4> out{};
    a.replicas(h, s, out);
    CHECK(out == std::array<int, 4>{0, 2, 4, 3});
    std::array<std::int32_t, 4> back{};
    const std::array<int, 4> targets{0, 9, 3, 1};
    a.heads_for(s, targets, back);
    CHECK(back == std::array<std::int32_t, 4>{0, 2, 1, 0});
}

TEST_CASE("replica count actions: min + index per function") {
    const replica_count_actions a(2, 1, 8);
    CHECK(a.layout().actions_per_head == 8);
    CHECK(a.layout().heads == 2);
    const auto s = states({3, 3});
    const std::array<std::int32_t, 2> h{0, 7};
    std::array<int, 2> out{};
    a.replicas(h, s, out);
    CHECK(out == std::array<int, 2>{1, 8});
    std::array<std::int32_t, 2> back{};
    const std::array<int, 2> targets{20, 0};
    a.heads_for(s, targets, back);
    CHECK(back == std::array<std::int32_t, 2>{7, 0});
    CHECK_THROWS_WITH_AS(replica_count_actions(1, 5, 4), doctest::Contains("replica_count_actions.max_replicas"), config_error);
}
