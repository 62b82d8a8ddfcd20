// Exploration noise for continuous actions (rl/noise.hpp).
#include <rlscale/rl/noise.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

namespace test_rl_noise {

using namespace rlscale;
using namespace rlscale::rl;

TEST_CASE("the Ornstein-Uhlenbeck process reverts to its mean") {
    rng gen(1);
    std::array<double, 1> x{};
    // σ = 0: the distance to μ shrinks by exactly (1 − θ·dt) per step.
    ornstein_uhlenbeck_noise still(1, {.theta = 0.5, .sigma = 0.0, .dt = 0.1, .mu = 2.0});
    still.set_state(std::vector<double>{5.0});
    still.sample(gen, std::span<double>(x));
    CHECK(x[0] == doctest::Approx(2.0 + 3.0 * 0.95));
    // σ > 0: from x = 5, E[x_t] = μ + (5 − μ)(1 − θ·dt)^t.
    ornstein_uhlenbeck_noise noisy(1, {.theta = 0.5, .sigma = 0.2, .dt = 0.1, .mu = 2.0});
    double mean = 0;
    const int runs = 4000;
    for (int run = 0; run < runs; ++run) {
        noisy.set_state(std::vector<double>{5.0});
        for (int t = 0; t < 20; ++t) noisy.sample(gen, std::span<double>(x));
        mean += x[0] / runs;
    }
    CHECK(mean == doctest::Approx(2.0 + 3.0 * std::pow(0.95, 20)).epsilon(0.01));
    noisy.reset();
    CHECK(noisy.state()[0] == 2.0);
}

TEST_CASE("the Ornstein-Uhlenbeck process's stationary variance is the Euler-Maruyama step's, sigma^2 / (theta (2 - theta dt))") {
    const ornstein_uhlenbeck_config c{.theta = 0.15, .sigma = 0.2, .dt = 0.01, .mu = 0};
    ornstein_uhlenbeck_noise noise(2, c);
    rng gen(7);
    std::array<float, 2> x{};
    // Burn in for 10 relaxation times (1/(θ·dt) steps each), then sample
    // every relaxation time so the draws are nearly independent.
    const int tau_steps = static_cast<int>(1 / (c.theta * c.dt));
    for (int t = 0; t < 10 * tau_steps; ++t) noise.sample(gen, std::span<float>(x));
    double sum = 0, sq = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
        for (int t = 0; t < tau_steps; ++t) noise.sample(gen, std::span<float>(x));
        for (const float v : x) {
            sum += v;
            sq += static_cast<double>(v) * v;
        }
    }
    const double m = sum / (2 * n);
    const double var = sq / (2 * n) - m * m;
    // Euler-Maruyama's exact stationary variance is σ²dt / (1 − (1 − θdt)²)
    // = σ²/(θ(2 − θdt)) ≈ σ²/(2θ)·(1 + θdt/2): here 0.075 % above σ²/(2θ).
    const double expected = c.sigma * c.sigma / (c.theta * (2 - c.theta * c.dt));
    CHECK(var == doctest::Approx(expected).epsilon(0.06));
    CHECK(std::abs(m) < 0.05);
}

TEST_CASE("with a large theta dt the stationary variance is sigma^2 / (theta (2 - theta dt)), not sigma^2 / (2 theta)") {
    // θ·dt = 0.5: each step keeps half the distance to μ. The discrete
    // variance is σ²/(0.5·1.5) = 4σ²/3, a third above σ²/(2θ) = σ².
    const ornstein_uhlenbeck_config c{.theta = 0.5, .sigma = 0.3, .dt = 1, .mu = 1};
    ornstein_uhlenbeck_noise noise(2, c);
    rng gen(11);
    std::array<double, 2> x{};
    for (int t = 0; t < 50; ++t) noise.sample(gen, std::span<double>(x));
    double sum = 0, sq = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        for (int t = 0; t < 10; ++t) noise.sample(gen, std::span<double>(x));  // correlation 0.5^10 between draws
        for (const double v : x) {
            sum += v;
            sq += v * v;
        }
    }
    const double m = sum / (2 * n);
    const double var = sq / (2 * n) - m * m;
    const double discrete = c.sigma * c.sigma / (c.theta * (2 - c.theta * c.dt));
    CHECK(discrete == doctest::Approx(4 * c.sigma * c.sigma / 3));
    CHECK(var == doctest::Approx(discrete).epsilon(0.03));
    CHECK(var > 1.2 * c.sigma * c.sigma / (2 * c.theta));  // the continuous formula is a quarter too low
    CHECK(m == doctest::Approx(c.mu).epsilon(0.02));
    // θ·dt = 1: a fresh draw around μ at every step, variance σ²·dt.
    const ornstein_uhlenbeck_config one{.theta = 1, .sigma = 0.3, .dt = 1, .mu = 0};
    CHECK(one.sigma * one.sigma / (one.theta * (2 - one.theta * one.dt)) == doctest::Approx(one.sigma * one.sigma * one.dt));
    ornstein_uhlenbeck_noise fresh(1, one);
    std::array<double, 1> y{};
    double sq1 = 0;
    for (int i = 0; i < n; ++i) {
        fresh.sample(gen, std::span<double>(y));
        sq1 += y[0] * y[0];
    }
    CHECK(sq1 / n == doctest::Approx(one.sigma * one.sigma).epsilon(0.04));
}

TEST_CASE("epsilon decays by eps_decay per decay() down to eps_end and scales the output") {
    ornstein_uhlenbeck_noise noise(1, {.eps_start = 1, .eps_decay = 0.3, .eps_end = 0.2});
    CHECK(noise.epsilon() == 1);
    noise.decay();
    CHECK(noise.epsilon() == doctest::Approx(0.7));
    noise.decay();
    noise.decay();
    CHECK(noise.epsilon() == doctest::Approx(0.2));
    noise.decay();
    CHECK(noise.epsilon() == doctest::Approx(0.2));
    // FIRM: 1 decreasing by 1e-6 per update.
    ornstein_uhlenbeck_noise firm(1, ornstein_uhlenbeck_config::firm());
    for (int i = 0; i < 1000; ++i) firm.decay();
    CHECK(firm.epsilon() == doctest::Approx(1 - 1000 * 1e-6).epsilon(1e-12));
    // The output is ε·scale·x.
    ornstein_uhlenbeck_noise scaled(2, {.eps_start = 0.5}, std::vector<double>{1.0, 4.0});
    rng gen(3);
    std::array<double, 2> out{};
    scaled.sample(gen, std::span<double>(out));
    CHECK(out[0] == doctest::Approx(0.5 * scaled.state()[0]));
    CHECK(out[1] == doctest::Approx(0.5 * 4.0 * scaled.state()[1]));
    scaled.reset();
    CHECK(scaled.state()[0] == 0);
}

TEST_CASE("gaussian noise has standard deviation sigma times each dimension's scale") {
    gaussian_noise noise(3, {.sigma = 0.1}, std::vector<double>{1.0, 5.0, 0.5});
    rng gen(11);
    std::array<double, 3> x{};
    std::array<double, 3> sq{};
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
        noise.sample(gen, std::span<double>(x));
        for (std::size_t d = 0; d < 3; ++d) sq[d] += x[d] * x[d] / n;
    }
    CHECK(std::sqrt(sq[0]) == doctest::Approx(0.1).epsilon(0.02));
    CHECK(std::sqrt(sq[1]) == doctest::Approx(0.5).epsilon(0.02));
    CHECK(std::sqrt(sq[2]) == doctest::Approx(0.05).epsilon(0.02));
}

TEST_CASE("noise is deterministic for a seed and takes any 64-bit generator") {
    const auto draw = [](std::uint64_t seed) {
        ornstein_uhlenbeck_noise ou(2, ornstein_uhlenbeck_config::firm());
        gaussian_noise g(2, gaussian_noise_config::cleanrl());
        rng gen(seed);
        std::vector<double> out;
        std::array<double, 2> x{};
        for (int i = 0; i < 10; ++i) {
            ou.sample(gen, std::span<double>(x));
            out.insert(out.end(), x.begin(), x.end());
            g.sample(gen, std::span<double>(x));
            out.insert(out.end(), x.begin(), x.end());
        }
        return out;
    };
    CHECK(draw(1) == draw(1));
    CHECK(draw(1) != draw(2));
    std::mt19937_64 mt(5);
    gaussian_noise g(1, {});
    std::array<float, 1> x{};
    g.sample(mt, std::span<float>(x));
    CHECK(std::isfinite(x[0]));
}

TEST_CASE("noise configuration errors name the field and the value") {
    CHECK_THROWS_WITH_AS(ornstein_uhlenbeck_noise(1, {.theta = -1}), doctest::Contains("ornstein_uhlenbeck_config.theta: must be finite and >= 0, got -1"),
                         config_error);
    CHECK_THROWS_WITH_AS(ornstein_uhlenbeck_noise(1, {.dt = 0}), doctest::Contains("ornstein_uhlenbeck_config.dt: must be finite and > 0, got 0"),
                         config_error);
    CHECK_THROWS_WITH_AS(ornstein_uhlenbeck_noise(1, {.eps_start = 0.1, .eps_end = 0.2}),
                         doctest::Contains("ornstein_uhlenbeck_config.eps_start: must be finite and >= eps_end (0.2), got 0.1"),
                         config_error);
    // θ·dt above 1 overshoots the mean every step, above 2 diverges to ±inf
    // and then NaN: refused, naming θ.
    CHECK_THROWS_WITH_AS(ornstein_uhlenbeck_noise(1, {.theta = 250, .dt = 0.01}),
                         doctest::Contains("ornstein_uhlenbeck_config.theta: must be at most 1/dt"), config_error);
    CHECK_NOTHROW(ornstein_uhlenbeck_noise(1, {.theta = 100, .dt = 0.01}));
    CHECK_THROWS_WITH_AS(gaussian_noise(1, {.sigma = -0.1}), doctest::Contains("gaussian_noise_config.sigma: must be finite and >= 0, got -0.1"),
                         config_error);
    CHECK_THROWS_WITH_AS(gaussian_noise(2, {}, std::vector<double>{1.0}),
                         doctest::Contains("gaussian_noise.scale: must hold one value per dimension (2), got 1"), config_error);
    CHECK_THROWS_WITH_AS(gaussian_noise(2, {}, std::vector<double>{1.0, 0.0}), doctest::Contains("gaussian_noise.scale[1]: must be finite and > 0, got 0"),
                         config_error);
    CHECK_THROWS_WITH_AS(gaussian_noise(0, {}), doctest::Contains("gaussian_noise.dims"), config_error);
    ornstein_uhlenbeck_noise ou(2, {});
    rng gen(1);
    std::array<double, 3> wrong{};
    CHECK_THROWS_WITH_AS(ou.sample(gen, std::span<double>(wrong)), doctest::Contains("out has 3 values, expected 2"), error);
}

}  // namespace test_rl_noise
