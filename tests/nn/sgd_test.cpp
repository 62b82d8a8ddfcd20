#include <rlscale/nn/sgd.hpp>

#include <doctest/doctest.h>

namespace test_nn_sgd {

using rlscale::nn::sgd;
using rlscale::nn::sgd_config;

TEST_CASE("SGD: θ ← θ - lr·(g + λθ)") {
    sgd<double> opt(2, sgd_config{.lr = 0.5, .weight_decay = 0.1});
    Eigen::VectorXd theta(2);
    theta << 1.0, -2.0;
    Eigen::VectorXd g(2);
    g << 0.2, 0.4;
    opt.step(theta, g);
    CHECK(theta[0] == doctest::Approx(1.0 - 0.5 * (0.2 + 0.1)));
    CHECK(theta[1] == doctest::Approx(-2.0 - 0.5 * (0.4 - 0.2)));
    CHECK(opt.step_count() == 1);
    CHECK_THROWS_WITH_AS(sgd<double>(2, sgd_config{.lr = 0}), doctest::Contains("sgd_config.lr"), rlscale::config_error);
}

}  // namespace test_nn_sgd
