#include <rlscale/nn/gradient_clip.hpp>

#include <doctest/doctest.h>

#include <limits>

namespace test_nn_gradient_clip {

using rlscale::nn::clip_grad_norm;

TEST_CASE("clip_grad_norm scales to the maximum norm and returns the norm before clipping") {
    Eigen::VectorXd g(2);
    g << 3.0, 4.0;  // norm 5
    CHECK(clip_grad_norm(g, 1.0) == doctest::Approx(5.0));
    CHECK(g.norm() == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(g[0] / g[1] == doctest::Approx(0.75));  // direction kept
}

TEST_CASE("clip_grad_norm leaves a small gradient alone") {
    Eigen::VectorXd g(2);
    g << 0.3, 0.4;
    CHECK(clip_grad_norm(g, 1.0) == doctest::Approx(0.5));
    CHECK(g[0] == 0.3);
    CHECK(g[1] == 0.4);
}

TEST_CASE("clip_grad_norm reports a non-finite norm and changes nothing") {
    Eigen::VectorXd g(2);
    g << std::numeric_limits<double>::quiet_NaN(), 1.0;
    CHECK(std::isnan(clip_grad_norm(g, 1.0)));
    CHECK(g[1] == 1.0);
}

}  // namespace test_nn_gradient_clip
