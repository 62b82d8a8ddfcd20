#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>

namespace test_reward_replica_cost {

using namespace rlscale;

namespace {
struct constant_reward {
    double value = 0.8;
    double operator()(std::span<const function_metrics>, std::span<const scaling_state>) const { return value; }
};
}  // namespace

static_assert(reward<with_replica_cost<constant_reward>>);
static_assert(reward<with_replica_cost<scarlet_reward>>);

TEST_CASE("with_replica_cost subtracts the weighted mean share of the replica budget") {
    const with_replica_cost r(constant_reward{}, 0.5);
    const std::array<function_metrics, 2> m{};
    // shares 2/10 and 6/8: mean 0.475; 0.8 - 0.5 * 0.475 = 0.5625
    const std::array<scaling_state, 2> s{scaling_state{.replicas = 2, .max_replicas = 10}, scaling_state{.replicas = 6, .max_replicas = 8}};
    CHECK(r(m, s) == doctest::Approx(0.5625));
    // a share above 1 counts 1; max 0 counts 0: (1 + 0) / 2 = 0.5; 0.8 - 0.25 = 0.55
    const std::array<scaling_state, 2> odd{scaling_state{.replicas = 20, .max_replicas = 10}, scaling_state{.replicas = 3, .max_replicas = 0}};
    CHECK(r(m, odd) == doctest::Approx(0.55));
    CHECK(with_replica_cost(constant_reward{}, 0)(m, s) == doctest::Approx(0.8));
    CHECK_THROWS_WITH_AS(with_replica_cost(constant_reward{}, -1), doctest::Contains("with_replica_cost.weight"), config_error);
}

TEST_CASE("with_replica_cost stays finite for a weight near the largest double") {
    const std::array<function_metrics, 2> m{};
    const std::array<scaling_state, 2> full{scaling_state{.replicas = 10, .max_replicas = 10},
                                            scaling_state{.replicas = 10, .max_replicas = 10}};
    // weight · share = 1e308 · 2 overflows; weight · (share / n) = 1e308
    const double r = with_replica_cost(constant_reward{}, 1e308)(m, full);
    CHECK(std::isfinite(r));
    CHECK(r == 0.8 - 1e308);
    const double largest = std::numeric_limits<double>::max();
    CHECK(with_replica_cost(constant_reward{}, largest)(m, full) == 0.8 - largest);
    // an ordinary weight keeps weight · share / n exactly as before
    const std::array<scaling_state, 3> three{scaling_state{.replicas = 1, .max_replicas = 3},
                                             scaling_state{.replicas = 2, .max_replicas = 7},
                                             scaling_state{.replicas = 5, .max_replicas = 9}};
    const std::array<function_metrics, 3> m3{};
    const double share = 1.0 / 3 + 2.0 / 7 + 5.0 / 9;
    for (const double weight : {0.5, 0.3, 0.7, 1.0 / 3}) {
        CAPTURE(weight);
        CHECK(with_replica_cost(constant_reward{}, weight)(m3, three) == 0.8 - weight * share / 3.0);
    }
}

}  // namespace test_reward_replica_cost
