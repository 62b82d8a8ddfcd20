#include <rlscale/nn/loss.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace test_nn_loss {

using namespace rlscale::nn;

TEST_CASE("Huber loss has SmoothL1Loss(beta=1) values") {
    // d = pred - target = {0.5, -2, 0, 3}: 0.5·0.25, 2 - 0.5, 0, 3 - 0.5 → mean 4.125 / 4
    Eigen::Vector4d pred(1.5, -1.0, 2.0, 3.0);
    Eigen::Vector4d target(1.0, 1.0, 2.0, 0.0);
    Eigen::Vector4d grad;
    CHECK(huber_loss(pred, target, grad) == doctest::Approx(4.125 / 4));
    // dL/dpred: d/n inside, sign(d)/n outside
    CHECK(grad[0] == doctest::Approx(0.5 / 4));
    CHECK(grad[1] == doctest::Approx(-1.0 / 4));
    CHECK(grad[2] == 0.0);
    CHECK(grad[3] == doctest::Approx(1.0 / 4));
}

TEST_CASE("Huber loss with beta != 1 scales the quadratic part") {
    // beta = 2, d = 1: 0.5·1/2 = 0.25; d = 3: 3 - 1 = 2
    Eigen::Vector2d pred(1.0, 3.0);
    Eigen::Vector2d target(0.0, 0.0);
    Eigen::Vector2d grad;
    CHECK(huber_loss(pred, target, grad, 2.0) == doctest::Approx((0.25 + 2.0) / 2));
    CHECK(grad[0] == doctest::Approx(0.5 / 2));
}

TEST_CASE("Huber loss gradient at the edges: sign(d) as torch, 0 at d = 0 with beta 0, NaN for a NaN") {
    Eigen::VectorXd pred(3), target(3), grad(3);
    pred << 1.0, 2.0, std::nan("");
    target << 1.0, 1.0, 0.0;
    (void)huber_loss(pred, target, grad, 0.0);
    CHECK(grad[0] == 0.0);
    CHECK(grad[1] == doctest::Approx(1.0 / 3));
    CHECK(std::isnan(grad[2]));
}

TEST_CASE("MSE loss value and gradient") {
    Eigen::Vector3d pred(1.0, 2.0, 3.0);
    Eigen::Vector3d target(0.0, 2.0, 5.0);
    Eigen::Vector3d grad;
    CHECK(mse_loss(pred, target, grad) == doctest::Approx(5.0 / 3));
    CHECK(grad[0] == doctest::Approx(2.0 / 3));
    CHECK(grad[2] == doctest::Approx(-4.0 / 3));
}

TEST_CASE("MSE loss with the gradient written over the prediction or the target") {
    const Eigen::Vector3d pred(1.0, 2.0, 3.0);
    const Eigen::Vector3d target(0.0, 2.0, 5.0);
    Eigen::Vector3d p = pred;
    CHECK(mse_loss(p, target, p) == doctest::Approx(5.0 / 3));  // not (pred - target)'s overwritten values
    CHECK(p[0] == doctest::Approx(2.0 / 3));
    Eigen::Vector3d t = target;
    CHECK(mse_loss(pred, t, t) == doctest::Approx(5.0 / 3));
    CHECK(t[2] == doctest::Approx(-4.0 / 3));
}

TEST_CASE("loss gradients match finite differences") {
    // A 3 × 4 batch with differences on both sides of Huber's |d| = 1 boundary
    // (none within h of it).
    Eigen::MatrixXd pred(3, 4);
    pred << 0.3, -1.7, 2.4, 0.05, -0.6, 1.2, -3.1, 0.8, 0.1, 0.45, -0.2, 1.9;
    const Eigen::MatrixXd target = Eigen::MatrixXd::Constant(3, 4, 0.2);
    Eigen::MatrixXd grad(3, 4);
    Eigen::MatrixXd scratch(3, 4);
    Eigen::Map<Eigen::VectorXd> flat(pred.data(), pred.size());

    SUBCASE("Huber") {
        huber_loss(pred, target, grad);
        const auto numeric = rlscale::test::numerical_gradient([&] { return huber_loss(pred, target, scratch); }, flat);
        CHECK(rlscale::test::relative_error(grad.reshaped(), numeric) < 1e-6);
    }
    SUBCASE("MSE") {
        mse_loss(pred, target, grad);
        const auto numeric = rlscale::test::numerical_gradient([&] { return mse_loss(pred, target, scratch); }, flat);
        CHECK(rlscale::test::relative_error(grad.reshaped(), numeric) < 1e-6);
    }
}

}  // namespace test_nn_loss
