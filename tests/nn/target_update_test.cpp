#include <rlscale/nn/target_update.hpp>

#include <doctest/doctest.h>

namespace test_nn_target_update {

using namespace rlscale::nn;

TEST_CASE("soft_update is Polyak averaging: θ' ← τθ + (1-τ)θ'") {
    mlp<double> target({2, 3, 1});
    mlp<double> source({2, 3, 1});
    target.parameters().setConstant(4.0);
    source.parameters().setConstant(8.0);
    soft_update(target, source, 0.25);
    CHECK(target.parameters().isConstant(5.0));  // 0.25·8 + 0.75·4
    soft_update(target, source, 0.0);
    CHECK(target.parameters().isConstant(5.0));
    soft_update(target, source, 1.0);
    CHECK(target.parameters() == source.parameters());
}

TEST_CASE("repeated soft updates with SCARLET's τ converge to the source") {
    mlp<float> target({2, 3, 1});
    mlp<float> source({2, 3, 1});
    source.parameters().setConstant(1.0F);
    for (int i = 0; i < 2000; ++i) {
        soft_update(target, source, 0.005F);
    }
    // (1 - 0.005)^2000 ≈ 4.4e-5 of the gap remains
    CHECK((target.parameters().array() - 1.0F).abs().maxCoeff() < 1e-4F);
}

TEST_CASE("hard_update copies exactly, and both refuse networks of another shape") {
    mlp<double> target({2, 3, 1});
    mlp<double> source({2, 3, 1});
    source.parameters().setLinSpaced(-1.0, 1.0);
    hard_update(target, source);
    CHECK(target.parameters() == source.parameters());

    mlp<double> other({2, 4, 1});
    CHECK_THROWS_WITH_AS(hard_update(other, source), doctest::Contains("different shapes"), rlscale::error);
    CHECK_THROWS_AS(soft_update(other, source, 0.5), rlscale::error);
    CHECK_THROWS_WITH_AS(soft_update(target, source, 1.5), doctest::Contains("tau"), rlscale::config_error);
}

}  // namespace test_nn_target_update
