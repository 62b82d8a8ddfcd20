// The action distributions of PPO (categorical and diagonal Gaussian) and
// orthogonal initialisation, in double: the probabilities and entropies
// against formulas written out here, the gradients against central
// differences, the samplers against the distributions they draw from, and
// the orthogonal matrices against their definition.
#include <rlscale/core/random.hpp>
#include <rlscale/nn/distributions.hpp>
#include <rlscale/nn/orthogonal_init.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <limits>
#include <cstdint>
#include <numbers>
#include <utility>
#include <vector>

namespace test_nn_distributions {

using namespace rlscale;
using namespace rlscale::nn;

namespace {

Eigen::VectorXd random_vector(Eigen::Index n, rng& gen, double lo, double hi) {
    Eigen::VectorXd v(n);
    for (Eigen::Index i = 0; i < n; ++i) v(i) = uniform(gen, lo, hi);
    return v;
}

/// softmax(z) the textbook way (for moderate logits only).
Eigen::VectorXd softmax(const Eigen::VectorXd& z) {
    Eigen::VectorXd p = z.array().exp();
    return p / p.sum();
}

/// The (w_log_prob, w_entropy) pairs the gradients are checked with: each
/// term alone, both, negative weights, and neither.
constexpr std::array<std::pair<double, double>, 5> weight_pairs{{{1.0, 0.0}, {0.0, 1.0}, {0.7, -0.3}, {-1.3, 0.05}, {0.0, 0.0}}};

}  // namespace

TEST_CASE("categorical: the probabilities exp(log_prob) of every action add up to 1 and are the softmax of the logits") {
    rng gen(1);
    for (Eigen::Index k = 1; k <= 6; ++k) {
        for (int trial = 0; trial < 5; ++trial) {
            CAPTURE(k);
            CAPTURE(trial);
            const Eigen::VectorXd z = random_vector(k, gen, -4, 4);
            const Eigen::VectorXd p = softmax(z);
            double total = 0;
            for (Eigen::Index a = 0; a < k; ++a) {
                const double lp = categorical::log_prob(z, a);
                CHECK(lp <= 0);
                CHECK(std::exp(lp) == doctest::Approx(p(a)).epsilon(1e-12));
                total += std::exp(lp);
            }
            CHECK(total == doctest::Approx(1.0).epsilon(1e-14));
            CHECK(categorical::log_normalizer(z) == doctest::Approx(std::log(z.array().exp().sum())).epsilon(1e-14));
        }
    }
}

TEST_CASE("categorical: the entropy is -sum p log p, log K at uniform logits and less than log K otherwise") {
    rng gen(2);
    for (Eigen::Index k = 1; k <= 6; ++k) {
        CAPTURE(k);
        const Eigen::VectorXd z = random_vector(k, gen, -3, 3);
        const Eigen::VectorXd p = softmax(z);
        double direct = 0;
        for (Eigen::Index a = 0; a < k; ++a) direct -= p(a) * std::log(p(a));
        CHECK(categorical::entropy(z) == doctest::Approx(direct).epsilon(1e-12));
        const Eigen::VectorXd flat = Eigen::VectorXd::Constant(k, 0.37);
        CHECK(categorical::entropy(flat) == doctest::Approx(std::log(static_cast<double>(k))).epsilon(1e-14));
        if (k > 1) CHECK(categorical::entropy(z) < std::log(static_cast<double>(k)) - 1e-6);
    }
    // One action: no uncertainty at all.
    CHECK(categorical::entropy(Eigen::VectorXd::Constant(1, 5.0)) == doctest::Approx(0.0));
}

TEST_CASE("categorical: adding a constant to every logit changes no probability, entropy or gradient") {
    rng gen(3);
    const Eigen::VectorXd z = random_vector(5, gen, -2, 2);
    for (const double shift : {-1000.0, -3.5, 0.25, 1000.0}) {
        CAPTURE(shift);
        const Eigen::VectorXd zs = z.array() + shift;
        for (Eigen::Index a = 0; a < 5; ++a) CHECK(categorical::log_prob(zs, a) == doctest::Approx(categorical::log_prob(z, a)).epsilon(1e-10));
        CHECK(categorical::entropy(zs) == doctest::Approx(categorical::entropy(z)).epsilon(1e-10));
        CHECK(categorical::log_normalizer(zs) == doctest::Approx(categorical::log_normalizer(z) + shift).epsilon(1e-12));
        Eigen::VectorXd g(5);
        Eigen::VectorXd gs(5);
        categorical::gradient(z, 2, 0.8, 0.3, g);
        categorical::gradient(zs, 2, 0.8, 0.3, gs);
        CHECK((g - gs).cwiseAbs().maxCoeff() < 1e-10);
        CHECK(categorical::mode(zs) == categorical::mode(z));
    }
}

TEST_CASE("categorical: logits of +-1e4 give finite log-probabilities, entropy and gradients, no NaN") {
    const Eigen::Vector3d z(1e4, -1e4, 0.0);
    CHECK(categorical::log_normalizer(z) == doctest::Approx(1e4));
    CHECK(categorical::log_prob(z, 0) == doctest::Approx(0.0));
    CHECK(categorical::log_prob(z, 1) == doctest::Approx(-2e4));
    CHECK(categorical::log_prob(z, 2) == doctest::Approx(-1e4));
    CHECK(std::isfinite(categorical::entropy(z)));
    CHECK(categorical::entropy(z) == doctest::Approx(0.0));
    CHECK(categorical::mode(z) == 0);
    Eigen::Vector3d g;
    for (const auto& weights : weight_pairs) {
        const double w_lp = weights.first;
        const double w_ent = weights.second;
        for (Eigen::Index a = 0; a < 3; ++a) {
            categorical::gradient(z, a, w_lp, w_ent, g);
            CHECK(g.allFinite());
        }
    }
    // The chosen action is the certain one: nothing to gain.
    categorical::gradient(z, 0, 1.0, 1.0, g);
    CHECK(g.cwiseAbs().maxCoeff() < 1e-12);
    // An impossible action: raise its logit, lower the certain one's.
    categorical::gradient(z, 1, 1.0, 0.0, g);
    CHECK(g(0) == doctest::Approx(-1.0));
    CHECK(g(1) == doctest::Approx(1.0));
    CHECK(g(2) == doctest::Approx(0.0));
    // Two tied huge logits: a fair coin between them.
    const Eigen::Vector3d tie(-1e4, 1e4, 1e4);
    CHECK(categorical::entropy(tie) == doctest::Approx(std::log(2.0)));
    CHECK(categorical::log_prob(tie, 2) == doctest::Approx(-std::log(2.0)));
    CHECK(categorical::log_prob(tie, 0) == doctest::Approx(-2e4 - std::log(2.0)));
    rng gen(4);
    int impossible = 0;
    for (int i = 0; i < 1000; ++i) impossible += categorical::sample(tie, gen) == 0 ? 1 : 0;
    CHECK(impossible == 0);
}

TEST_CASE("categorical: logits of 1e15 to 1e17 keep log 3 of three equal ones, in log_prob, entropy, gradient, evaluate and sample") {
    // top + log Σ exp(z - top) is rounded to top's spacing there (2 at
    // 1e16, 16 at 1e17): log π must not go through that sum.
    const double log3 = std::log(3.0);
    const auto check_uniform = [log3](const auto& z, std::uint64_t seed) {
        for (Eigen::Index a = 0; a < 3; ++a) CHECK(categorical::log_prob(z, a) == doctest::Approx(-log3).epsilon(1e-12));
        CHECK(categorical::entropy(z) == doctest::Approx(log3).epsilon(1e-12));
        Eigen::Vector3d g;
        categorical::gradient(z, 0, 1.0, 0.0, g);
        CHECK(g(0) == doctest::Approx(2.0 / 3.0).epsilon(1e-12));
        CHECK(g(1) == doctest::Approx(-1.0 / 3.0).epsilon(1e-12));
        CHECK(g(2) == doctest::Approx(-1.0 / 3.0).epsilon(1e-12));
        categorical::gradient(z, 1, 0.0, 1.0, g);  // the entropy is at its maximum: no gradient
        CHECK(g.cwiseAbs().maxCoeff() < 1e-12);
        Eigen::Vector3d log_probs;
        Eigen::Vector3d probs;
        const auto e = categorical::evaluate(z, 2, log_probs, probs);
        CHECK(e.log_prob == doctest::Approx(-log3).epsilon(1e-12));
        CHECK(e.entropy == doctest::Approx(log3).epsilon(1e-12));
        CHECK(probs.sum() == doctest::Approx(1.0).epsilon(1e-12));
        rng gen(seed);
        std::array<int, 3> counts{};
        for (int i = 0; i < 30000; ++i) ++counts[static_cast<std::size_t>(categorical::sample(z, gen))];
        for (const int n : counts) CHECK((n > 9500 && n < 10500));  // 10000 within 6 standard deviations (81.6)
    };
    for (const double c : {1e15, 1e16, 1e17, -1e16, 1e300}) {
        CAPTURE(c);
        check_uniform(Eigen::Vector3d::Constant(c), 7);
    }
    for (const float c : {1e15F, 3e16F, 1e17F, 3e38F}) {
        CAPTURE(c);
        check_uniform(Eigen::Vector3f::Constant(c), 8);
    }
    // Unequal logits: the same probabilities as without the offset 2^50
    // (spacing 0.25 there).
    const double big = 1125899906842624.0;  // 2^50
    const Eigen::Vector3d small(0.0, -0.5, -1.75);
    const Eigen::Vector3d shifted = small.array() + big;
    for (Eigen::Index a = 0; a < 3; ++a) {
        CHECK(categorical::log_prob(shifted, a) == doctest::Approx(categorical::log_prob(small, a)).epsilon(1e-12));
    }
    CHECK(categorical::entropy(shifted) == doctest::Approx(categorical::entropy(small)).epsilon(1e-12));
    // A masked action next to huge logits stays impossible.
    const Eigen::Vector3d masked(1e16, -std::numeric_limits<double>::infinity(), 1e16);
    CHECK(categorical::log_prob(masked, 1) == -std::numeric_limits<double>::infinity());
    CHECK(categorical::log_prob(masked, 0) == doctest::Approx(-std::log(2.0)).epsilon(1e-12));
    CHECK(categorical::entropy(masked) == doctest::Approx(std::log(2.0)).epsilon(1e-12));
}

TEST_CASE("categorical: ordinary logits give log pi = z - (top + log sum exp(z - top)), bit for bit") {
    rng gen(9);
    for (const double scale : {1.0, 30.0, 1e4, 1048576.0}) {
        CAPTURE(scale);
        const Eigen::VectorXd z = random_vector(6, gen, -scale, scale);
        const double top = z.maxCoeff();
        double total = 0;
        for (Eigen::Index k = 0; k < z.size(); ++k) total += std::exp(z(k) - top);
        const double lse = top + std::log(total);
        CHECK(categorical::log_normalizer(z) == lse);
        for (Eigen::Index a = 0; a < z.size(); ++a) CHECK(categorical::log_prob(z, a) == z(a) - lse);
    }
}

TEST_CASE("categorical: all logits -infinity, or one NaN or +infinity, draw the last index with a NaN log_prob") {
    constexpr double inf = std::numeric_limits<double>::infinity();
    rng gen(10);
    for (const Eigen::Vector3d& z : {Eigen::Vector3d(-inf, -inf, -inf), Eigen::Vector3d(0.0, std::nan(""), 1.0),
                                    Eigen::Vector3d(inf, 0.0, 1.0)}) {
        CHECK(categorical::sample(z, gen) == 2);
        CHECK(std::isnan(categorical::log_prob(z, 2)));
    }
}

TEST_CASE("categorical: a logit of -infinity (a masked action) adds nothing to the entropy or the gradient, no NaN") {
    const double inf = std::numeric_limits<double>::infinity();
    const Eigen::Vector3d masked(0.0, 1.0, -inf);
    const Eigen::Vector2d open(0.0, 1.0);
    CHECK(categorical::entropy(masked) == doctest::Approx(categorical::entropy(open)).epsilon(1e-15));
    CHECK(categorical::log_prob(masked, 2) == -inf);
    Eigen::Vector3d g;
    Eigen::Vector2d g_open;
    for (const auto& weights : weight_pairs) {
        const double w_lp = weights.first;
        const double w_ent = weights.second;
        for (Eigen::Index a = 0; a < 2; ++a) {
            CAPTURE(a);
            categorical::gradient(masked, a, w_lp, w_ent, g);
            categorical::gradient(open, a, w_lp, w_ent, g_open);
            REQUIRE(g.allFinite());
            CHECK(g(0) == doctest::Approx(g_open(0)).epsilon(1e-15));
            CHECK(g(1) == doctest::Approx(g_open(1)).epsilon(1e-15));
            CHECK(g(2) == 0.0);
        }
    }
    // Only -infinity is a masked action: a NaN logit still makes the entropy NaN, as do logits all -infinity.
    CHECK(std::isnan(categorical::entropy(Eigen::Vector2d(std::numeric_limits<double>::quiet_NaN(), 0.0))));
    CHECK(std::isnan(categorical::entropy(Eigen::Vector2d(-inf, -inf))));
}

TEST_CASE("categorical::gradient equals central differences of w_lp*log_prob + w_ent*entropy and overwrites its output") {
    rng gen(5);
    for (const Eigen::Index k : {2, 3, 5}) {
        for (int trial = 0; trial < 4; ++trial) {
            Eigen::VectorXd z = random_vector(k, gen, -3, 3);
            const auto a = static_cast<Eigen::Index>(uniform_index(gen, static_cast<std::uint64_t>(k)));
            for (const auto& weights : weight_pairs) {
                const double w_lp = weights.first;
                const double w_ent = weights.second;
                CAPTURE(k);
                CAPTURE(trial);
                CAPTURE(w_lp);
                CAPTURE(w_ent);
                Eigen::VectorXd g = Eigen::VectorXd::Constant(k, 123.0);  // overwritten, not added to
                categorical::gradient(z, a, w_lp, w_ent, g);
                const auto f = [&] { return w_lp * categorical::log_prob(z, a) + w_ent * categorical::entropy(z); };
                const Eigen::VectorXd numeric = test::numerical_gradient(f, z);
                if (w_lp == 0 && w_ent == 0) {
                    CHECK(g.cwiseAbs().maxCoeff() == 0.0);
                } else {
                    CHECK(test::relative_error(g, numeric) < 1e-7);
                    CHECK((g - numeric).cwiseAbs().maxCoeff() < 1e-7 * numeric.cwiseAbs().maxCoeff());
                }
            }
        }
    }
}

TEST_CASE("categorical::gradient into a float segment of a wider vector writes that segment only") {
    const Eigen::Vector3d z(0.5, -1.0, 2.0);
    Eigen::VectorXf out = Eigen::VectorXf::Constant(7, 9.0F);
    categorical::gradient(z, 1, 1.0, 0.2, out.segment(2, 3));
    Eigen::Vector3d expected;
    categorical::gradient(z, 1, 1.0, 0.2, expected);
    CHECK(out(0) == 9.0F);
    CHECK(out(1) == 9.0F);
    CHECK(out(5) == 9.0F);
    CHECK(out(6) == 9.0F);
    for (Eigen::Index i = 0; i < 3; ++i) CHECK(out(2 + i) == doctest::Approx(expected(i)).epsilon(1e-6));
}

TEST_CASE("categorical::evaluate and gradient_from_evaluation give log_prob, entropy, probabilities and gradient exactly, float logits included") {
    rng gen(8);
    for (const Eigen::Index k : {1, 2, 3, 7, 27}) {
        for (int trial = 0; trial < 5; ++trial) {
            const Eigen::VectorXd z = random_vector(k, gen, trial == 4 ? -1e4 : -3, trial == 4 ? 1e4 : 3);
            const Eigen::VectorXf zf = z.cast<float>();
            const auto a = static_cast<Eigen::Index>(uniform_index(gen, static_cast<std::uint64_t>(k)));
            CAPTURE(k);
            CAPTURE(trial);
            Eigen::VectorXd log_probs = Eigen::VectorXd::Constant(k + 2, 5.0);
            Eigen::VectorXd probs = Eigen::VectorXd::Constant(k + 2, 5.0);
            const auto e = categorical::evaluate(zf, a, log_probs.segment(1, k), probs.segment(1, k));
            CHECK(e.log_prob == categorical::log_prob(zf, a));
            CHECK(e.entropy == categorical::entropy(zf));
            CHECK(log_probs(0) == 5.0);  // only the segments are written
            CHECK(log_probs(k + 1) == 5.0);
            CHECK(probs(0) == 5.0);
            CHECK(probs(k + 1) == 5.0);
            for (Eigen::Index i = 0; i < k; ++i) {
                CHECK(log_probs(1 + i) == categorical::log_prob(zf, i));
                CHECK(probs(1 + i) == std::exp(categorical::log_prob(zf, i)));
            }
            for (const auto& weights : weight_pairs) {
                Eigen::VectorXf expected(k);
                Eigen::VectorXf got = Eigen::VectorXf::Constant(k, 123.0F);
                categorical::gradient(zf, a, weights.first, weights.second, expected);
                categorical::gradient_from_evaluation(log_probs.segment(1, k), probs.segment(1, k), a, e.entropy, weights.first,
                                                      weights.second, got);
                CHECK(got == expected);
            }
        }
    }
}

TEST_CASE("categorical::mode is the largest logit, ties to the lowest index") {
    CHECK(categorical::mode(Eigen::Vector4d(0.1, 3.0, -2.0, 2.9)) == 1);
    CHECK(categorical::mode(Eigen::Vector4d(1.0, 2.0, 2.0, 2.0)) == 1);
    CHECK(categorical::mode(Eigen::Vector4d(5.0, 5.0, 5.0, 5.0)) == 0);
    CHECK(categorical::mode(Eigen::Vector4d(-3.0, -2.0, -1.0, -0.5)) == 3);
    CHECK(categorical::mode(Eigen::VectorXd::Constant(1, -7.0)) == 0);
}

TEST_CASE("categorical::sample: 100k seeded draws match the softmax within 4 standard errors, draw one uniform each, repeat by seed") {
    const Eigen::Vector4d z(0.5, -1.0, 2.0, 0.0);
    const Eigen::VectorXd p = softmax(z);
    constexpr int draws = 100'000;
    rng gen(6);
    std::array<int, 4> counts{};
    int out_of_range = 0;
    for (int i = 0; i < draws; ++i) {
        const Eigen::Index a = categorical::sample(z, gen);
        if (a < 0 || a >= 4) {
            ++out_of_range;
        } else {
            ++counts[static_cast<std::size_t>(a)];
        }
    }
    REQUIRE(out_of_range == 0);
    for (std::size_t a = 0; a < 4; ++a) {
        CAPTURE(a);
        const double freq = counts[a] / static_cast<double>(draws);
        const double se = std::sqrt(p(static_cast<Eigen::Index>(a)) * (1 - p(static_cast<Eigen::Index>(a))) / draws);
        CHECK(std::abs(freq - p(static_cast<Eigen::Index>(a))) < 4 * se);
    }
    // One uniform per draw: the generator advances by exactly one call.
    rng a(11);
    rng b(11);
    (void)categorical::sample(z, a);
    (void)b();
    CHECK(a == b);
    // The same seed, the same draws; another seed, other draws.
    rng g1(12);
    rng g2(12);
    rng g3(13);
    std::vector<Eigen::Index> s1;
    std::vector<Eigen::Index> s2;
    std::vector<Eigen::Index> s3;
    for (int i = 0; i < 200; ++i) {
        s1.push_back(categorical::sample(z, g1));
        s2.push_back(categorical::sample(z, g2));
        s3.push_back(categorical::sample(z, g3));
    }
    CHECK(s1 == s2);
    CHECK(s1 != s3);
}

TEST_CASE("diagonal_gaussian: log_prob is the log of the product of the 1-D normal densities") {
    rng gen(7);
    for (const Eigen::Index dims : {1, 2, 4}) {
        for (int trial = 0; trial < 5; ++trial) {
            CAPTURE(dims);
            CAPTURE(trial);
            const Eigen::VectorXd mean = random_vector(dims, gen, -2, 2);
            const Eigen::VectorXd log_std = random_vector(dims, gen, -1.5, 1);
            const Eigen::VectorXd action = random_vector(dims, gen, -3, 3);
            double density = 1;
            for (Eigen::Index d = 0; d < dims; ++d) {
                const double sigma = std::exp(log_std(d));
                const double u = (action(d) - mean(d)) / sigma;
                density *= std::exp(-0.5 * u * u) / (sigma * std::sqrt(2 * std::numbers::pi));
            }
            CHECK(diagonal_gaussian::log_prob(mean, log_std, action) == doctest::Approx(std::log(density)).epsilon(1e-12));
        }
    }
    // At the mean of a standard normal: -1/2 log 2 pi per dimension.
    CHECK(diagonal_gaussian::log_prob(Eigen::Vector2d(1, 2), Eigen::Vector2d::Zero(), Eigen::Vector2d(1, 2)) ==
          doctest::Approx(-std::log(2 * std::numbers::pi)));
}

TEST_CASE("diagonal_gaussian: the entropy is the sum of 1/2 log(2 pi e sigma^2) and does not depend on the mean") {
    const Eigen::Vector3d log_std(-0.5, 0.0, 1.2);
    double expected = 0;
    for (Eigen::Index d = 0; d < 3; ++d) {
        const double sigma = std::exp(log_std(d));
        expected += 0.5 * std::log(2 * std::numbers::pi * std::numbers::e * sigma * sigma);
    }
    CHECK(diagonal_gaussian::entropy(log_std) == doctest::Approx(expected).epsilon(1e-14));
    CHECK(diagonal_gaussian::entropy(Eigen::VectorXd::Zero(1)) == doctest::Approx(1.4189385332046727));
    CHECK(diagonal_gaussian::half_log_two_pi == doctest::Approx(0.5 * std::log(2 * std::numbers::pi)).epsilon(1e-16));
}

TEST_CASE("diagonal_gaussian::gradient equals central differences in the mean and the log-std and overwrites its outputs") {
    rng gen(8);
    for (const Eigen::Index dims : {1, 2, 3}) {
        for (int trial = 0; trial < 4; ++trial) {
            Eigen::VectorXd mean = random_vector(dims, gen, -2, 2);
            Eigen::VectorXd log_std = random_vector(dims, gen, -1, 0.8);
            const Eigen::VectorXd action = random_vector(dims, gen, -3, 3);
            for (const auto& weights : weight_pairs) {
                const double w_lp = weights.first;
                const double w_ent = weights.second;
                CAPTURE(dims);
                CAPTURE(trial);
                CAPTURE(w_lp);
                CAPTURE(w_ent);
                Eigen::VectorXd d_mean = Eigen::VectorXd::Constant(dims, -55.0);
                Eigen::VectorXd d_log_std = Eigen::VectorXd::Constant(dims, 77.0);
                diagonal_gaussian::gradient(mean, log_std, action, w_lp, w_ent, d_mean, d_log_std);
                const auto f = [&] {
                    return w_lp * diagonal_gaussian::log_prob(mean, log_std, action) + w_ent * diagonal_gaussian::entropy(log_std);
                };
                const Eigen::VectorXd numeric_mean = test::numerical_gradient(f, mean);
                const Eigen::VectorXd numeric_log_std = test::numerical_gradient(f, log_std);
                if (w_lp == 0 && w_ent == 0) {
                    CHECK(d_mean.cwiseAbs().maxCoeff() == 0.0);
                    CHECK(d_log_std.cwiseAbs().maxCoeff() == 0.0);
                } else {
                    if (w_lp != 0) CHECK(test::relative_error(d_mean, numeric_mean) < 1e-7);
                    CHECK(test::relative_error(d_log_std, numeric_log_std) < 1e-7);
                }
                CHECK((d_mean - numeric_mean).cwiseAbs().maxCoeff() < 1e-7 * std::max(1.0, numeric_mean.cwiseAbs().maxCoeff()));
                CHECK((d_log_std - numeric_log_std).cwiseAbs().maxCoeff() <
                      1e-7 * std::max(1.0, numeric_log_std.cwiseAbs().maxCoeff()));
            }
        }
    }
}

TEST_CASE("diagonal_gaussian::sample: 100k seeded draws have the mean and standard deviation per dimension, uncorrelated, and repeat by seed") {
    const Eigen::Vector2d mean(1.0, -2.0);
    const Eigen::Vector2d log_std(std::log(0.5), std::log(2.0));
    constexpr int draws = 100'000;
    rng gen(9);
    Eigen::Vector2d x;
    Eigen::Vector2d sum = Eigen::Vector2d::Zero();
    Eigen::Vector2d sum_sq = Eigen::Vector2d::Zero();
    double cross = 0;
    int non_finite = 0;
    for (int i = 0; i < draws; ++i) {
        diagonal_gaussian::sample(mean, log_std, gen, x);
        non_finite += x.allFinite() ? 0 : 1;
        sum += x;
        sum_sq += x.cwiseProduct(x);
        cross += (x(0) - mean(0)) * (x(1) - mean(1));
    }
    REQUIRE(non_finite == 0);
    for (Eigen::Index d = 0; d < 2; ++d) {
        CAPTURE(d);
        const double sigma = std::exp(log_std(d));
        const double m = sum(d) / draws;
        const double sd = std::sqrt(sum_sq(d) / draws - m * m);
        CHECK(std::abs(m - mean(d)) < 4 * sigma / std::sqrt(draws));
        // The sample standard deviation's standard error is about sigma/sqrt(2n).
        CHECK(std::abs(sd - sigma) < 4 * sigma / std::sqrt(2.0 * draws));
    }
    const double correlation = cross / draws / (0.5 * 2.0);
    CHECK(std::abs(correlation) < 4 / std::sqrt(static_cast<double>(draws)));

    // Same seed, same actions (into a float vector too); another seed differs.
    rng g1(21);
    rng g2(21);
    rng g3(22);
    Eigen::Vector2d a1;
    Eigen::Vector2d a2;
    Eigen::Vector2d a3;
    Eigen::Vector2f af;
    bool all_equal = true;
    bool any_differs = false;
    for (int i = 0; i < 50; ++i) {
        diagonal_gaussian::sample(mean, log_std, g1, a1);
        diagonal_gaussian::sample(mean, log_std, g2, af);
        diagonal_gaussian::sample(mean, log_std, g3, a3);
        a2 = af.cast<double>();
        all_equal = all_equal && (a1 - a2).cwiseAbs().maxCoeff() < 1e-5 * std::max(1.0, a1.cwiseAbs().maxCoeff());
        any_differs = any_differs || a1 != a3;
    }
    CHECK(all_equal);
    CHECK(any_differs);
    // A standard deviation of exp(-40) is as good as the mean.
    rng g4(23);
    diagonal_gaussian::sample(mean, Eigen::Vector2d::Constant(-40), g4, a1);
    CHECK((a1 - mean).cwiseAbs().maxCoeff() < 1e-15);
}

TEST_CASE("initialize_orthogonal: square, tall and wide weights have orthonormal rows or columns times the gain") {
    struct shape {
        Eigen::Index out;
        Eigen::Index in;
    };
    for (const shape s : {shape{5, 5}, shape{8, 3}, shape{3, 8}, shape{1, 6}, shape{6, 1}, shape{64, 7}}) {
        for (const double gain : {1.0, std::sqrt(2.0), 0.01}) {
            CAPTURE(s.out);
            CAPTURE(s.in);
            CAPTURE(gain);
            rng gen(31);
            Eigen::MatrixXd w(s.out, s.in);
            initialize_orthogonal(w, gain, gen);
            REQUIRE(w.rows() == s.out);
            REQUIRE(w.cols() == s.in);
            // out >= in: orthonormal columns, WᵀW = gain² I; out < in: orthonormal rows, WWᵀ = gain² I.
            const Eigen::MatrixXd gram = s.out >= s.in ? Eigen::MatrixXd(w.transpose() * w) : Eigen::MatrixXd(w * w.transpose());
            const Eigen::Index k = std::min(s.out, s.in);
            CHECK((gram - gain * gain * Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff() < 1e-6 * gain * gain);
            CHECK((gram / (gain * gain) - Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff() < 1e-12);
            // A float weight: the same to float precision.
            rng gen_f(31);
            Eigen::MatrixXf wf(s.out, s.in);
            initialize_orthogonal(wf, gain, gen_f);
            CHECK((wf.cast<double>() - w).cwiseAbs().maxCoeff() < 1e-6 * gain);
        }
    }
}

TEST_CASE("initialize_orthogonal is the Q of the QR decomposition of the row-major normal draws, with R's diagonal made positive") {
    // torch.nn.init.orthogonal_: A = (out × in) standard normal draws in
    // row-major order, transposed when out < in; A = QR with R's diagonal
    // positive; W = gain·Q (transposed back). Hence Wᵀ·A/gain (tall) or
    // W·Aᵀ/gain (wide) is that R: upper triangular with a positive diagonal.
    for (const auto& shape : {std::pair<Eigen::Index, Eigen::Index>{4, 4}, {6, 3}, {2, 5}}) {
        const Eigen::Index out = shape.first;
        const Eigen::Index in = shape.second;
        CAPTURE(out);
        CAPTURE(in);
        const double gain = 1.7;
        rng gen(41);
        Eigen::MatrixXd w(out, in);
        initialize_orthogonal(w, gain, gen);
        rng draws(41);
        Eigen::MatrixXd a(out, in);
        for (Eigen::Index i = 0; i < out; ++i) {
            for (Eigen::Index j = 0; j < in; ++j) a(i, j) = standard_normal(draws);
        }
        CHECK(gen == draws);  // out·in normal draws, nothing more
        const Eigen::MatrixXd r = out >= in ? Eigen::MatrixXd(w.transpose() * a / gain) : Eigen::MatrixXd(w * a.transpose() / gain);
        const Eigen::Index k = std::min(out, in);
        REQUIRE(r.rows() == k);
        for (Eigen::Index i = 0; i < k; ++i) {
            CAPTURE(i);
            CHECK(r(i, i) > 1e-3);
            for (Eigen::Index j = 0; j < i; ++j) CHECK(std::abs(r(i, j)) < 1e-12);
        }
    }
}

TEST_CASE("initialize_orthogonal is deterministic for a seed and differs between seeds") {
    const auto draw = [](std::uint64_t seed) {
        rng gen(seed);
        Eigen::MatrixXd w(7, 4);
        initialize_orthogonal(w, 1.0, gen);
        return w;
    };
    CHECK(draw(5) == draw(5));
    CHECK(draw(5) != draw(6));
    // Whatever was in the weight before does not matter.
    rng gen(5);
    Eigen::MatrixXd w = Eigen::MatrixXd::Constant(7, 4, 3.0);
    initialize_orthogonal(w, 1.0, gen);
    CHECK(w == draw(5));
}

}  // namespace test_nn_distributions
