#include <rlscale/nn/activation.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace test_nn_activation {

using namespace rlscale::nn;

namespace {
double apply(activation a, double x) {
    Eigen::Matrix<double, 1, 1> v;
    v << x;
    activate(a, v);
    return v[0];
}
}  // namespace

TEST_CASE("activations compute identity, ReLU and tanh") {
    CHECK(apply(activation::identity, -1.5) == -1.5);
    CHECK(apply(activation::relu, -1.5) == 0.0);
    CHECK(apply(activation::relu, 2.0) == 2.0);
    CHECK(apply(activation::tanh, 0.5) == doctest::Approx(std::tanh(0.5)));
}

TEST_CASE("activation names round-trip and unknown names are rejected with the name") {
    for (auto a : {activation::identity, activation::relu, activation::tanh}) {
        CHECK(activation_from_string(to_string(a)) == a);
    }
    CHECK_THROWS_WITH_AS(static_cast<void>(activation_from_string("sigmoid", "layers[0].activation")),
                         doctest::Contains("layers[0].activation: unknown activation \"sigmoid\""),
                         rlscale::config_error);
}

TEST_CASE("activation_backward matches finite differences for every activation") {
    // Points away from ReLU's kink at 0, where the derivative is undefined.
    Eigen::VectorXd x(8);
    x << -2.1, -0.7, -0.31, -0.05, 0.04, 0.29, 0.9, 1.7;
    for (auto a : {activation::identity, activation::relu, activation::tanh}) {
        CAPTURE(to_string(a));
        Eigen::VectorXd y = x;
        activate(a, y);
        Eigen::VectorXd delta = Eigen::VectorXd::Ones(x.size());
        activation_backward(a, delta, y);
        Eigen::VectorXd numeric(x.size());
        const double h = 1e-6;
        for (Eigen::Index i = 0; i < x.size(); ++i) {
            numeric[i] = (apply(a, x[i] + h) - apply(a, x[i] - h)) / (2 * h);
        }
        CHECK(rlscale::test::relative_error(delta, numeric) < 1e-6);
    }
}

}  // namespace test_nn_activation
