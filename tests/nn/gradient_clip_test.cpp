#include <rlscale/core/error.hpp>
#include <rlscale/nn/gradient_clip.hpp>

#include <doctest/doctest.h>

#include <cmath>
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

TEST_CASE("clip_grad_norm refuses a max_norm that is not finite and > 0, naming it, and changes nothing") {
    Eigen::VectorXd g(2);
    g << 3.0, 4.0;
    const auto refused = [&g](double max_norm, const char* message) {
        CHECK_THROWS_WITH_AS(clip_grad_norm(g, max_norm), doctest::Contains(message), rlscale::error);
        CHECK(g[0] == 3.0);
        CHECK(g[1] == 4.0);
    };
    refused(-1.0, "clip_grad_norm: max_norm must be finite and > 0, got -1");  // would flip the gradient
    refused(std::numeric_limits<double>::quiet_NaN(), "max_norm must be finite and > 0, got nan");  // would never clip
    refused(0.0, "got 0");  // would zero it
    refused(-0.0, "got -0");
    refused(std::numeric_limits<double>::infinity(), "got inf");
    Eigen::VectorXf f(2);
    f << 3.0F, 4.0F;
    CHECK_THROWS_WITH_AS(clip_grad_norm(f, -2.5F), doctest::Contains("got -2.5"), rlscale::error);
    CHECK(f[0] == 3.0F);
    CHECK(clip_grad_norm(f, 1e-30F) == doctest::Approx(5.0));  // tiny but valid: clipped, not refused
    CHECK(f.norm() < 1e-29F);
}

}  // namespace test_nn_gradient_clip
