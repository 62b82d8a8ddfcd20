#include <rlscale/rl/action_space.hpp>

#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <set>
#include <vector>

namespace test_rl_action_space {

using namespace rlscale;
using namespace rlscale::rl;

namespace {
std::vector<scaling_state> states(std::initializer_list<int> replicas) {
    std::vector<scaling_state> s;
    for (const int r : replicas) s.push_back({.replicas = r, .min_replicas = 1, .max_replicas = 10});
    return s;
}

/// The replica counts `a` maps `heads` to, through the one action-map
/// signature; checks that a replica map leaves the limits unset.
template <std::size_t N, typename A>
std::array<int, N> replicas_of(const A& a, std::span<const std::int32_t> heads, std::span<const function_metrics> m,
                               std::span<const scaling_state> s) {
    std::array<scaling_target, N> t{};
    a.targets(heads, m, s, t);
    std::array<int, N> out{};
    for (std::size_t f = 0; f < N; ++f) {
        out[f] = t[f].replicas;
        CHECK(std::isnan(t[f].cpu_limit));
        CHECK(std::isnan(t[f].memory_limit_mb));
    }
    return out;
}
template <std::size_t N, typename A>
std::array<int, N> replicas_of(const A& a, std::span<const std::int32_t> heads, std::span<const scaling_state> s) {
    const std::array<function_metrics, N> m{};
    return replicas_of<N>(a, heads, m, s);
}
}  // namespace

TEST_CASE("joint delta actions: 3^N outputs, each function's base-3 digit") {
    const joint_delta_actions a(3);
    CHECK(a.layout().heads == 1);
    CHECK(a.layout().actions_per_head == 27);
    // index 0 = all -1, 13 = all 0 (1 + 3 + 9), 26 = all +1, 5 = digits (2, 1, 0) = (+1, 0, -1)
    const auto s = states({4, 4, 4});
    std::array<int, 3> out{};
    const std::array<std::pair<std::int32_t, std::array<int, 3>>, 4> cases{{{0, {3, 3, 3}}, {13, {4, 4, 4}}, {26, {5, 5, 5}}, {5, {5, 4, 3}}}};
    for (const auto& c : cases) {
        // Not a structured binding: CAPTURE's lambda captures `index`, which
        // Clang allows for a binding only from version 16.
        const std::int32_t index = c.first;
        const auto& expected = c.second;
        CAPTURE(index);
        const std::array<std::int32_t, 1> h{index};
        out = replicas_of<3>(a, h, s);
        CHECK(out == expected);
        std::array<std::int32_t, 1> back{};
        a.heads_for(s, out, back);
        CHECK(back[0] == index);
    }
    // every index decodes to a distinct delta vector
    std::set<std::array<int, 3>> seen;
    for (std::int32_t i = 0; i < 27; ++i) {
        const std::array<std::int32_t, 1> h{i};
        out = replicas_of<3>(a, h, s);
        seen.insert(out);
    }
    CHECK(seen.size() == 27);
    CHECK_THROWS_WITH_AS(joint_delta_actions(8), doctest::Contains("joint_delta_actions.functions: must keep 3^functions <= 4096 joint actions, got 8"), config_error);
    CHECK_THROWS_WITH_AS(joint_delta_actions(2, {1, 1}), doctest::Contains("joint_delta_actions.deltas[1]"), config_error);
}

TEST_CASE("a layout or a joint action space too large is refused at once, not wrapped or looped over") {
    // 3 × 6148914691236517206 wraps to 2 in 64 bits.
    CHECK_THROWS_WITH_AS((rl::q_layout{.heads = 3, .actions_per_head = 6148914691236517206ULL}.validate()),
                         doctest::Contains("q_layout.actions_per_head"), config_error);
    CHECK_THROWS_WITH_AS((rl::q_layout{.heads = 4096, .actions_per_head = 8192}.validate()), doctest::Contains("heads × actions_per_head"),
                         config_error);
    CHECK_NOTHROW((rl::q_layout{.heads = 4096, .actions_per_head = 4096}.validate()));
    // One delta keeps 1^N joint actions for any N: bounded by functions itself.
    CHECK_THROWS_WITH_AS(rl::joint_delta_actions(std::size_t{1} << 62, {0}), doctest::Contains("joint_delta_actions.functions"),
                         config_error);
}

TEST_CASE("joint delta actions over a wider delta set") {
    const joint_delta_actions a(2, {-2, -1, 0, 1, 4});
    CHECK(a.layout().actions_per_head == 25);
    const auto s = states({5, 5});
    // index 4 + 5 * 1 = 9: function 0 takes deltas[4] = +4, function 1 deltas[1] = -1
    const std::array<std::int32_t, 1> h{9};
    std::array<int, 2> out{};
    out = replicas_of<2>(a, h, s);
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
    out = replicas_of<4>(a, h, s);
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
    out = replicas_of<2>(a, h, s);
    CHECK(out == std::array<int, 2>{1, 8});
    std::array<std::int32_t, 2> back{};
    const std::array<int, 2> targets{20, 0};
    a.heads_for(s, targets, back);
    CHECK(back == std::array<std::int32_t, 2>{7, 0});
    CHECK_THROWS_WITH_AS(replica_count_actions(1, 5, 4), doctest::Contains("replica_count_actions.max_replicas"), config_error);
}

namespace {
function_metrics busy(std::uint32_t ready, double cpu, std::uint64_t arrivals, std::uint64_t completions, std::uint32_t queue = 0) {
    function_metrics m;
    m.interval_s = 15;
    m.ready_replicas = ready;
    m.cpu_utilization = cpu;
    m.arrivals = arrivals;
    m.completions = completions;
    m.queue_length = queue;
    return m;
}
}  // namespace

TEST_CASE("demand_replicas: the HPA ratio, scaled by the backlog when demand outruns completions") {
    const scaling_state s{.replicas = 4, .min_replicas = 1, .max_replicas = 100};
    // Steady: 4 ready at 70 % CPU, target 70 % -> 4; target 35 % -> 8; target 0.9 -> ceil(3.11) = 4.
    CHECK(demand_replicas(busy(4, 0.7, 100, 100), s, 0.7) == 4);
    CHECK(demand_replicas(busy(4, 0.7, 100, 100), s, 0.35) == 8);
    CHECK(demand_replicas(busy(4, 0.7, 100, 100), s, 0.9) == 4);
    // Saturated: CPU at 100 %, twice the arrivals the replicas completed plus
    // 100 waiting: demand factor (200 + 100) / 100 = 3 -> 4 · 1 · 3 / 0.75 = 16.
    CHECK(demand_replicas(busy(4, 1.0, 200, 100, 100), s, 0.75) == 16);
    // The factor is capped at 4.
    CHECK(demand_replicas(busy(4, 1.0, 10'000, 100), s, 1.0) == 16);
    // Falling load: fewer arrivals than completions lowers the target.
    CHECK(demand_replicas(busy(4, 0.5, 50, 100), s, 0.5) == 2);
    // Idle: nothing arrives, nothing waits -> 0 (the bounds raise it to min).
    CHECK(demand_replicas(busy(4, 0.0, 0, 0), s, 0.7) == 0);
    // Requests but nothing completed: the cap, and at least one replica.
    CHECK(demand_replicas(busy(1, 0.2, 50, 0), s, 0.8) == 1);
    CHECK(demand_replicas(busy(2, 1.0, 50, 0), s, 0.8) == 10);
    // No ready replica: at least one while requests arrive, else unchanged.
    CHECK(demand_replicas(busy(0, 0.0, 10, 0), {.replicas = 0, .max_replicas = 5}, 0.7) == 1);
    CHECK(demand_replicas(busy(0, 0.0, 0, 0), s, 0.7) == 4);
    // A non-finite utilisation counts as saturated rather than idle.
    CHECK(demand_replicas(busy(4, std::numeric_limits<double>::quiet_NaN(), 100, 100), s, 0.5) == 8);
}

TEST_CASE("utilization target actions: one head per function, hold first, targets in order") {
    const utilization_target_actions a(2, {0.5, 0.8});
    CHECK(a.layout().heads == 2);
    CHECK(a.layout().actions_per_head == 3);
    CHECK(a.has_hold());
    CHECK(a.target(0) == 0.0);
    CHECK(a.target(1) == 0.5);
    CHECK(a.target(2) == 0.8);
    const auto s = states({4, 6});
    const std::array<function_metrics, 2> m{busy(4, 0.8, 100, 100), busy(6, 0.4, 100, 100)};
    std::array<int, 2> out{};
    const std::array<std::int32_t, 2> hold_and_half{0, 1};
    out = replicas_of<2>(a, hold_and_half, m, s);
    CHECK(out == std::array<int, 2>{4, 5});  // hold; ceil(6 · 0.4 / 0.5) = 5
    const std::array<std::int32_t, 2> both_08{2, 2};
    out = replicas_of<2>(a, both_08, m, s);
    CHECK(out == std::array<int, 2>{4, 3});

    const utilization_target_actions no_hold(1, {0.6}, false);
    CHECK(no_hold.layout().actions_per_head == 1);
    CHECK(no_hold.target(0) == 0.6);
    static_assert(discrete_action_map<utilization_target_actions>);
    static_assert(!continuous_action_map<utilization_target_actions>);
}

TEST_CASE("utilization target actions refuse bad targets, naming the field") {
    CHECK_THROWS_WITH_AS(utilization_target_actions(0), doctest::Contains("utilization_target_actions.functions"), config_error);
    CHECK_THROWS_WITH_AS(utilization_target_actions(1, {}), doctest::Contains("utilization_target_actions.targets"), config_error);
    CHECK_THROWS_WITH_AS(utilization_target_actions(1, {0.5, 0.0}), doctest::Contains("targets[1]"), config_error);
    CHECK_THROWS_WITH_AS(utilization_target_actions(1, {1.5}), doctest::Contains("got 1.5"), config_error);
    CHECK_THROWS_AS(utilization_target_actions(1, {std::numeric_limits<double>::quiet_NaN()}), config_error);
}

}  // namespace test_rl_action_space
