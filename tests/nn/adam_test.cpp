#include <rlscale/nn/adam.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

namespace test_nn_adam {

using rlscale::nn::adam;
using rlscale::nn::adam_config;

// Adam by hand for θ = (1, -2), lr 0.1, β1 0.9, β2 0.999, ε 1e-8.
//
// Step 1, g = (0.5, -1):
//   m = 0.1·g = (0.05, -0.1)          v = 0.001·g² = (0.00025, 0.001)
//   m̂ = m/(1-0.9) = (0.5, -1)        v̂ = v/(1-0.999) = (0.25, 1)
//   θ -= 0.1·m̂/(√v̂ + ε) → θ = (1 - 0.1·0.5/0.50000001, -2 + 0.1·1/1.00000001)
//                         = (0.900000002, -1.900000001)
// Step 2, g = (0.1, 0.2):
//   m = 0.9·m + 0.1·g = (0.055, -0.07)
//   v = 0.999·v + 0.001·g² = (0.00025975, 0.001039)
//   m̂ = m/(1-0.81) = (0.289473684..., -0.368421052...)
//   v̂ = v/(1-0.998001) = (0.129939969..., 0.519759879...)
//   θ -= 0.1·m̂/(√v̂ + ε)
TEST_CASE_TEMPLATE("Adam: two steps on two parameters match values worked out by hand", T, float, double) {
    adam<T> opt(2, adam_config{.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    Eigen::Matrix<T, Eigen::Dynamic, 1> theta(2);
    theta << T(1), T(-2);
    Eigen::Matrix<T, Eigen::Dynamic, 1> g(2);

    g << T(0.5), T(-1);
    opt.step(theta, g);
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
    CHECK(theta[0] == doctest::Approx(1 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(tol));
    CHECK(theta[1] == doctest::Approx(-2 + 0.1 * 1 / (1 + 1e-8)).epsilon(tol));
    CHECK(opt.first_moment()[0] == doctest::Approx(0.05).epsilon(tol));
    CHECK(opt.second_moment()[1] == doctest::Approx(0.001).epsilon(tol));

    g << T(0.1), T(0.2);
    opt.step(theta, g);
    const double m_hat0 = 0.055 / 0.19;
    const double m_hat1 = -0.07 / 0.19;
    const double v_hat0 = 0.00025975 / 0.001999;
    const double v_hat1 = 0.001039 / 0.001999;
    const double expect0 = (1 - 0.1 * 0.5 / (0.5 + 1e-8)) - 0.1 * m_hat0 / (std::sqrt(v_hat0) + 1e-8);
    const double expect1 = (-2 + 0.1 * 1 / (1 + 1e-8)) - 0.1 * m_hat1 / (std::sqrt(v_hat1) + 1e-8);
    // = (0.900000002 - 0.0803041, -1.900000001 + 0.0511026) = (0.8196959, -1.8488974)
    CHECK(theta[0] == doctest::Approx(expect0).epsilon(tol));
    CHECK(theta[1] == doctest::Approx(expect1).epsilon(tol));
    CHECK(theta[0] == doctest::Approx(0.8196959).epsilon(1e-6));
    CHECK(theta[1] == doctest::Approx(-1.8488974).epsilon(1e-6));
    CHECK(opt.step_count() == 2);
}

TEST_CASE("Adam: a step count at its limit saturates instead of overflowing") {
    adam<double> opt(2, adam_config{.lr = 0.1});
    opt.restore(std::numeric_limits<std::int64_t>::max(), Eigen::VectorXd::Zero(2), Eigen::VectorXd::Zero(2));
    Eigen::VectorXd p = Eigen::VectorXd::Ones(2);
    opt.step(p, Eigen::VectorXd::Constant(2, 0.5));
    CHECK(opt.step_count() == std::numeric_limits<std::int64_t>::max());
    CHECK(p.allFinite());
    CHECK(p[0] < 1.0);
}

TEST_CASE("Adam: weight decay, coupled (Adam) and decoupled (AdamW)") {
    Eigen::VectorXd g(2);
    g << 0.5, -1.0;
    SUBCASE("coupled: g += λθ, so the first step is still ≈ lr·sign(g + λθ)") {
        adam<double> opt(2, adam_config{.lr = 0.1, .weight_decay = 0.1});
        Eigen::VectorXd theta(2);
        theta << 1.0, -2.0;
        opt.step(theta, g);
        // g' = (0.6, -1.2); m̂ = g', v̂ = g'²
        CHECK(theta[0] == doctest::Approx(1 - 0.1 * 0.6 / (0.6 + 1e-8)));
        CHECK(theta[1] == doctest::Approx(-2 + 0.1 * 1.2 / (1.2 + 1e-8)));
        CHECK(opt.first_moment()[0] == doctest::Approx(0.06));
    }
    SUBCASE("decoupled: θ ← θ(1 - lr·λ), then the Adam step on g") {
        adam<double> opt(2, adam_config{.lr = 0.1, .weight_decay = 0.1, .decoupled_weight_decay = true});
        Eigen::VectorXd theta(2);
        theta << 1.0, -2.0;
        opt.step(theta, g);
        CHECK(theta[0] == doctest::Approx(1 * 0.99 - 0.1 * 0.5 / (0.5 + 1e-8)));
        CHECK(theta[1] == doctest::Approx(-2 * 0.99 + 0.1 * 1.0 / (1.0 + 1e-8)));
        CHECK(opt.first_moment()[0] == doctest::Approx(0.05));
    }
}

TEST_CASE("Adam: a step on a scaled gradient equals scaling the gradient first, bit for bit, with and without weight decay") {
    for (const Eigen::Index n : {Eigen::Index{5}, Eigen::Index{48}, Eigen::Index{37}}) {  // tail only, whole registers, both
        for (const auto& config : {adam_config{.lr = 1e-2}, adam_config{.lr = 1e-2, .weight_decay = 0.1},
                                   adam_config{.lr = 1e-2, .weight_decay = 0.1, .decoupled_weight_decay = true}}) {
            CAPTURE(n);
            CAPTURE(config.weight_decay);
            CAPTURE(config.decoupled_weight_decay);
            adam<float> fused(n, config);
            adam<float> scaled_first(n, config);
            Eigen::VectorXf a = Eigen::VectorXf::LinSpaced(n, -1.0F, 2.0F);
            Eigen::VectorXf b = a;
            for (int k = 0; k < 4; ++k) {
                const Eigen::VectorXf g = Eigen::VectorXf::LinSpaced(n, 0.3F + 0.1F * static_cast<float>(k), -0.7F).array().sin();
                const float scale = 0.37F + 0.2F * static_cast<float>(k);
                fused.step(a, g, scale);
                Eigen::VectorXf gs = g;
                gs *= scale;
                scaled_first.step(b, gs);
            }
            CHECK(a == b);
            CHECK(fused.first_moment() == scaled_first.first_moment());
            CHECK(fused.second_moment() == scaled_first.second_moment());
            // And two steps with different scales follow Adam's formula
            // worked out in double. Each step: θ ← θ·(1 − lr·λ) when decoupled;
            // g' = s·g (+ λ·θ when coupled); m, v their running averages;
            // θ ← θ − lr·m̂/(√v̂ + ε). Different scales make the ratio m̂/√v̂
            // depend on them (one step alone is about lr·sign(g')).
            adam<float> two(n, config);
            Eigen::VectorXf c = Eigen::VectorXf::LinSpaced(n, -1.0F, 2.0F);
            const Eigen::VectorXf g = Eigen::VectorXf::LinSpaced(n, 0.3F, -0.7F);
            const std::array<float, 2> scales{0.6F, 1.7F};
            Eigen::VectorXd th = c.cast<double>();
            Eigen::VectorXd m = Eigen::VectorXd::Zero(n);
            Eigen::VectorXd v = Eigen::VectorXd::Zero(n);
            for (int t = 1; t <= 2; ++t) {
                const double s = scales[static_cast<std::size_t>(t - 1)];
                two.step(c, g, scales[static_cast<std::size_t>(t - 1)]);
                const double b1 = 1 - std::pow(config.beta1, t);
                const double b2 = 1 - std::pow(config.beta2, t);
                for (Eigen::Index i = 0; i < n; ++i) {
                    double gi = s * static_cast<double>(g(i));
                    if (config.decoupled_weight_decay) {
                        th(i) *= 1 - config.lr * config.weight_decay;
                    } else {
                        gi += config.weight_decay * th(i);
                    }
                    m(i) = config.beta1 * m(i) + (1 - config.beta1) * gi;
                    v(i) = config.beta2 * v(i) + (1 - config.beta2) * gi * gi;
                    th(i) -= config.lr * (m(i) / b1) / (std::sqrt(v(i) / b2) + config.eps);
                }
            }
            for (Eigen::Index i = 0; i < n; ++i) {
                CAPTURE(i);
                CHECK(static_cast<double>(c(i)) == doctest::Approx(th(i)).epsilon(1e-6));
            }
        }
    }
}

TEST_CASE("Adam: bad configuration names the field, and mismatched sizes are refused") {
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.lr = -1}), doctest::Contains("adam_config.lr"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.beta1 = 1.0}), doctest::Contains("adam_config.beta1"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.beta2 = -0.1}), doctest::Contains("adam_config.beta2"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.eps = 0}), doctest::Contains("adam_config.eps"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.weight_decay = std::nan("")}),
                         doctest::Contains("adam_config.weight_decay"), rlscale::config_error);
    // Finite as a double, infinite as a float: every parameter would be NaN after one step.
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.weight_decay = 1e39}),
                         doctest::Contains("adam_config.weight_decay: must fit the parameters' precision, got 1e+39"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.lr = 1e10, .weight_decay = 1e30, .decoupled_weight_decay = true}),
                         doctest::Contains("adam_config.weight_decay: must keep 1 - lr * weight_decay within the parameters' precision"),
                         rlscale::config_error);
    CHECK_NOTHROW(adam<double>(2, adam_config{.weight_decay = 1e39}));  // a double holds it
    adam<double> opt(2);
    Eigen::VectorXd theta = Eigen::VectorXd::Zero(3);
    CHECK_THROWS_AS(opt.step(theta, Eigen::VectorXd::Zero(3)), rlscale::error);
    CHECK(opt.step_count() == 0);
}

TEST_CASE("Adam presets carry the papers' learning rates") {
    CHECK(adam_config::scarlet().lr == 1e-4);
    CHECK(adam_config::simppo().lr == 3e-4);
}

}  // namespace test_nn_adam
