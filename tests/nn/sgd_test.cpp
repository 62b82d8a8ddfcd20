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

TEST_CASE("SGD: a configuration valid as doubles but not in the parameters' precision is refused") {
    // 1e39 is infinite as a float: every parameter would be -inf after one step.
    CHECK_THROWS_WITH_AS(sgd<float>(2, sgd_config{.lr = 1e39}),
                         doctest::Contains("sgd_config.lr: must fit the parameters' precision, got 1e+39"), rlscale::config_error);
    // 1e-50 is 0 as a float: no step would ever be taken.
    CHECK_THROWS_WITH_AS(sgd<float>(2, sgd_config{.lr = 1e-50}),
                         doctest::Contains("sgd_config.lr: must stay above 0 in the parameters' precision"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(sgd<float>(2, sgd_config{.weight_decay = 1e39}),
                         doctest::Contains("sgd_config.weight_decay: must fit the parameters' precision, got 1e+39"),
                         rlscale::config_error);
    // Each fits a float, their product (the share of θ a step removes) does not.
    CHECK_THROWS_WITH_AS(sgd<float>(2, sgd_config{.lr = 1e20, .weight_decay = 1e20}),
                         doctest::Contains("sgd_config.weight_decay: must keep lr * weight_decay within the parameters' precision"),
                         rlscale::config_error);
    CHECK_NOTHROW(sgd<double>(2, sgd_config{.lr = 1e20, .weight_decay = 1e20}));
    CHECK_NOTHROW(sgd<double>(2, sgd_config{.lr = 1e39}));  // a double holds them
    CHECK_NOTHROW(sgd<double>(2, sgd_config{.lr = 1e-50, .weight_decay = 1e39}));
    CHECK_NOTHROW(sgd<float>(2, sgd_config{.lr = 1e-2, .weight_decay = 1e-4}));
}

}  // namespace test_nn_sgd
