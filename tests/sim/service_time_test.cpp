#include <rlscale/sim/service_time.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace test_sim_service_time {

using rlscale::rng;
using rlscale::sim::service_time;
using rlscale::sim::service_time_kind;

namespace {

constexpr int draws = 200000;

/// n draws from s with a fixed seed, each checked to be positive and finite.
std::vector<double> draw(const service_time& s, std::uint64_t seed, int n = draws) {
    rng gen(seed);
    std::vector<double> xs(static_cast<std::size_t>(n));
    for (auto& x : xs) {
        x = s.sample(gen);
    }
    return xs;
}

/// The sample mean is within 4 standard errors of mean() (and the check is
/// meaningful: the standard error itself is small).
void check_mean(const service_time& s, const std::vector<double>& xs) {
    double sum = 0;
    double sq = 0;
    for (double x : xs) {
        sum += x;
        sq += x * x;
    }
    const auto n = static_cast<double>(xs.size());
    const double m = sum / n;
    const double se = std::sqrt(std::max(sq / n - m * m, 0.0) / n);
    CAPTURE(m);
    CAPTURE(se);
    CHECK(std::abs(m - s.mean()) <= std::max(4 * se, 1e-12 * s.mean()));
    CHECK(se < 0.01 * s.mean());
}

/// For each p, the fraction of samples at or below quantile(p) is p within
/// 4 binomial standard errors: the empirical CDF agrees with quantile().
void check_quantiles(const service_time& s, std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    const auto n = static_cast<double>(xs.size());
    for (double p : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
        CAPTURE(p);
        const double q = s.quantile(p);
        const auto below = static_cast<double>(std::upper_bound(xs.begin(), xs.end(), q) - xs.begin());
        CHECK(std::abs(below / n - p) <= 4 * std::sqrt(p * (1 - p) / n));
    }
}

bool all_positive_and_finite(const std::vector<double>& xs) {
    return std::all_of(xs.begin(), xs.end(), [](double x) { return x > 0 && std::isfinite(x); });
}

// Row 10 of ../shared/data/azure2019/durations.csv (HashFunction 7f29571001…4cee,
// Count 17152): percentile_Average_{0,1,25,50,75,99,100} in ms.
constexpr std::array<double, 7> azure_row_ms{164, 202, 335, 446, 653, 3122, 21172};
// Row 5 (HashFunction 1948876d…6e71): mostly sub-millisecond, recorded as 0.
constexpr std::array<double, 7> azure_zero_row_ms{0, 0, 0, 0, 1, 1265, 1458};

}  // namespace

TEST_CASE("service_time: deterministic is exact and draws nothing") {
    const auto s = service_time::deterministic(0.25);
    CHECK(s.kind() == service_time_kind::deterministic);
    CHECK(s.mean() == 0.25);
    CHECK(s.quantile(0.0) == 0.25);
    CHECK(s.quantile(0.99) == 0.25);
    rng gen(1);
    const rng before = gen;
    for (int i = 0; i < 100; ++i) {
        CHECK(s.sample(gen) == 0.25);
    }
    CHECK(gen == before);
    CHECK(service_time{} == service_time::deterministic(1.0));
}

TEST_CASE("service_time: exponential sample mean and quantiles match mean() and quantile()") {
    const auto s = service_time::exponential(0.02);
    CHECK(s.kind() == service_time_kind::exponential);
    CHECK(s.mean() == 0.02);
    CHECK(s.quantile(0.5) == doctest::Approx(0.02 * std::log(2.0)).epsilon(1e-14));
    CHECK(s.quantile(0.0) == 0.0);
    CHECK(s.quantile(1.0) == std::numeric_limits<double>::infinity());
    const auto xs = draw(s, 11);
    CHECK(all_positive_and_finite(xs));
    check_mean(s, xs);
    check_quantiles(s, xs);
}

TEST_CASE("service_time: lognormal median, mean and quantiles") {
    const double median = 0.1;
    const double sigma = 0.5;
    const auto s = service_time::lognormal(median, sigma);
    CHECK(s.kind() == service_time_kind::lognormal);
    CHECK(s.sigma() == sigma);
    CHECK(s.mean() == doctest::Approx(median * std::exp(sigma * sigma / 2)).epsilon(1e-15));
    CHECK(s.quantile(0.5) == median);
    // Φ⁻¹ reference values (to 16 digits): 1.959963984540054 at 0.975,
    // 2.326347874040841 at 0.99, -3.090232306167814 at 0.001,
    // -6.361340902404056 at 1e-10 (the tail branch).
    CHECK(s.quantile(0.975) == doctest::Approx(median * std::exp(sigma * 1.959963984540054)).epsilon(1e-13));
    CHECK(s.quantile(0.99) == doctest::Approx(median * std::exp(sigma * 2.326347874040841)).epsilon(1e-13));
    CHECK(s.quantile(0.001) == doctest::Approx(median * std::exp(sigma * -3.090232306167814)).epsilon(1e-13));
    CHECK(s.quantile(1e-10) == doctest::Approx(median * std::exp(sigma * -6.361340902404056)).epsilon(1e-13));
    CHECK(s.quantile(0.0) == 0.0);
    CHECK(s.quantile(1.0) == std::numeric_limits<double>::infinity());

    const auto xs = draw(s, 12);
    CHECK(all_positive_and_finite(xs));
    check_mean(s, xs);
    check_quantiles(s, xs);
}

TEST_CASE("service_time: the inverse normal is symmetric and accurate to a few ulp") {
    using rlscale::sim::detail::inverse_standard_normal;
    CHECK(inverse_standard_normal(0.5) == 0.0);
    CHECK(inverse_standard_normal(0.8413447460685429) == doctest::Approx(1.0).epsilon(1e-14));  // Φ(1)
    CHECK(inverse_standard_normal(0.02275013194817921) == doctest::Approx(-2.0).epsilon(1e-14));  // Φ(-2)
    for (double p : {1e-200, 1e-12, 1e-5, 0.01, 0.02425, 0.1, 0.3, 0.5}) {
        CAPTURE(p);
        // Φ(Φ⁻¹(p)) = p to near machine precision, relative to p (tail and central branches).
        const double x = inverse_standard_normal(p);
        CHECK(0.5 * std::erfc(-x / std::sqrt(2.0)) == doctest::Approx(p).epsilon(1e-13));
        // Symmetry: 1 - p is rounded, so only to the precision that rounding allows.
        if (p >= 1e-5) {
            CHECK(inverse_standard_normal(1 - p) == doctest::Approx(-x).epsilon(1e-9));
        }
    }
    CHECK(std::isnan(inverse_standard_normal(std::nan(""))));
    CHECK(inverse_standard_normal(0.0) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("service_time: lognormal_from_mean_cv has that mean and coefficient of variation") {
    const auto s = service_time::lognormal_from_mean_cv(0.3, 0.5);
    CHECK(s.mean() == doctest::Approx(0.3).epsilon(1e-14));
    CHECK(s.sigma() == doctest::Approx(std::sqrt(std::log(1.25))).epsilon(1e-14));
    const auto xs = draw(s, 13);
    check_mean(s, xs);
    double sq = 0;
    for (double x : xs) {
        sq += (x - 0.3) * (x - 0.3);
    }
    CHECK(std::sqrt(sq / draws) / 0.3 == doctest::Approx(0.5).epsilon(0.03));
    const auto point = service_time::lognormal_from_mean_cv(0.3, 0.0);
    rng gen(3);
    CHECK(point.sample(gen) == doctest::Approx(0.3).epsilon(1e-15));
}

TEST_CASE("service_time: empirical interpolates its points and its mean is the trapezoid sum") {
    const std::array<double, 3> p{0.0, 0.5, 1.0};
    const std::array<double, 3> v{1.0, 2.0, 4.0};
    const auto s = service_time::empirical(p, v);
    CHECK(s.kind() == service_time_kind::empirical);
    CHECK(s.mean() == doctest::Approx(0.5 * 1.5 + 0.5 * 3.0).epsilon(1e-15));
    CHECK(s.quantile(0.0) == 1.0);
    CHECK(s.quantile(0.25) == 1.5);
    CHECK(s.quantile(0.5) == 2.0);
    CHECK(s.quantile(0.75) == 3.0);
    CHECK(s.quantile(1.0) == 4.0);
    REQUIRE(s.probabilities().size() == 3);
    CHECK(s.values()[2] == 4.0);
    const auto xs = draw(s, 14);
    CHECK(all_positive_and_finite(xs));
    CHECK(*std::min_element(xs.begin(), xs.end()) >= 1.0);
    CHECK(*std::max_element(xs.begin(), xs.end()) < 4.0);
    check_mean(s, xs);
    check_quantiles(s, xs);
}

TEST_CASE("service_time: an Azure durations row reproduces its percentiles") {
    const auto s = service_time::from_azure_percentiles_ms(azure_row_ms);
    REQUIRE(s.kind() == service_time_kind::empirical);
    for (std::size_t i = 0; i < azure_row_ms.size(); ++i) {
        CAPTURE(i);
        CHECK(s.quantile(service_time::azure_probabilities[i]) == doctest::Approx(azure_row_ms[i] / 1000).epsilon(1e-15));
    }
    // Between points the inverse CDF is linear: halfway from p50 to p75.
    CHECK(s.quantile(0.625) == doctest::Approx((0.446 + 0.653) / 2).epsilon(1e-14));
    // The mean of the piecewise-linear inverse CDF, worked out by hand (ms):
    // .01·(164+202)/2 + .24·(202+335)/2 + .25·(335+446)/2 + .25·(446+653)/2
    //   + .24·(653+3122)/2 + .01·(3122+21172)/2 = 875.74
    CHECK(s.mean() == doctest::Approx(0.87574).epsilon(1e-12));
    const auto xs = draw(s, 15);
    CHECK(all_positive_and_finite(xs));
    check_mean(s, xs);
    check_quantiles(s, xs);
    // The fraction of draws under each recorded percentile is that percentile.
    std::vector<double> sorted = xs;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i + 1 < azure_row_ms.size(); ++i) {
        const double p = service_time::azure_probabilities[i];
        const auto below = static_cast<double>(
            std::upper_bound(sorted.begin(), sorted.end(), azure_row_ms[i] / 1000) - sorted.begin());
        CHECK(std::abs(below / draws - p) <= 4 * std::sqrt(p * (1 - p) / draws));
    }
}

TEST_CASE("service_time: Azure zeros (sub-millisecond durations) are raised to the floor") {
    const auto s = service_time::from_azure_percentiles_ms(azure_zero_row_ms);
    CHECK(s.quantile(0.0) == service_time::azure_floor_ms / 1000);
    CHECK(s.quantile(0.5) == service_time::azure_floor_ms / 1000);
    CHECK(s.quantile(0.75) == 0.001);
    CHECK(s.quantile(1.0) == 1.458);
    CHECK(all_positive_and_finite(draw(s, 16, 10000)));
}

TEST_CASE("service_time: the same seed gives the same samples, another seed others") {
    for (const auto& s : {service_time::exponential(1.0), service_time::lognormal(1.0, 1.0),
                          service_time::from_azure_percentiles_ms(azure_row_ms)}) {
        CAPTURE(to_string(s.kind()));
        const auto a = draw(s, 99, 1000);
        const auto b = draw(s, 99, 1000);
        const auto c = draw(s, 100, 1000);
        CHECK(a == b);
        CHECK(a != c);
    }
}

TEST_CASE("service_time: samples stay positive and finite at extreme parameters") {
    const auto wide = service_time::lognormal(1.0, 30.0);  // the mean exp(450) is still finite
    CHECK(std::isfinite(wide.mean()));
    CHECK(all_positive_and_finite(draw(wide, 17, 20000)));
    const auto tiny = service_time::exponential(1e-300);
    CHECK(all_positive_and_finite(draw(tiny, 18, 20000)));
}

TEST_CASE("service_time: factories reject bad parameters, naming the field and the value") {
    using rlscale::config_error;
    const double nan = std::nan("");
    CHECK_THROWS_WITH_AS(service_time::deterministic(0.0),
                         "service_time.deterministic.seconds: must be finite and > 0, got 0", config_error);
    CHECK_THROWS_WITH_AS(service_time::exponential(-1.5),
                         "service_time.exponential.mean_s: must be finite and > 0, got -1.5", config_error);
    CHECK_THROWS_WITH_AS(service_time::exponential(nan), doctest::Contains("mean_s: must be finite and > 0, got nan"),
                         config_error);
    CHECK_THROWS_WITH_AS(service_time::lognormal(1.0, -0.5),
                         "service_time.lognormal.sigma: must be finite and >= 0, got -0.5", config_error);
    CHECK_THROWS_WITH_AS(service_time::lognormal(1.0, 40.0), doctest::Contains("service_time.lognormal.sigma"),
                         config_error);
    CHECK_THROWS_WITH_AS(service_time::lognormal(std::numeric_limits<double>::infinity(), 1.0),
                         doctest::Contains("service_time.lognormal.median_s: must be finite and > 0, got inf"),
                         config_error);
    CHECK_THROWS_WITH_AS(service_time::lognormal_from_mean_cv(1.0, -0.1),
                         doctest::Contains("service_time.lognormal_from_mean_cv.cv: must be finite and >= 0"),
                         config_error);

    const std::array<double, 3> p{0.0, 0.5, 1.0};
    const std::array<double, 3> decreasing{1.0, 3.0, 2.0};
    CHECK_THROWS_WITH_AS(service_time::empirical(p, decreasing),
                         "service_time.empirical.values_s[2]: must be finite and >= values_s[1] (3), got 2",
                         config_error);
    const std::array<double, 3> with_nan{1.0, nan, 2.0};
    CHECK_THROWS_WITH_AS(service_time::empirical(p, with_nan),
                         "service_time.empirical.values_s[1]: must be finite and > 0, got nan", config_error);
    const std::array<double, 3> values{1.0, 2.0, 3.0};
    const std::array<double, 3> not_to_one{0.0, 0.5, 0.9};
    CHECK_THROWS_WITH_AS(service_time::empirical(not_to_one, values),
                         doctest::Contains("service_time.empirical.probabilities[2]: must be 1"), config_error);
    const std::array<double, 3> repeated{0.0, 0.0, 1.0};
    CHECK_THROWS_WITH_AS(service_time::empirical(repeated, values),
                         doctest::Contains("probabilities[1]: must be finite and > probabilities[0] (0), got 0"),
                         config_error);
    const std::array<double, 2> short_values{1.0, 2.0};
    CHECK_THROWS_WITH_AS(service_time::empirical(p, short_values),
                         "service_time.empirical.values_s: must have as many points as probabilities (3), got 2",
                         config_error);
    const std::array<double, 1> one{0.0};
    CHECK_THROWS_AS(service_time::empirical(one, one), config_error);
    std::vector<double> many_p(service_time::max_points + 1);
    std::vector<double> many_v(service_time::max_points + 1, 1.0);
    for (std::size_t i = 0; i < many_p.size(); ++i) {
        many_p[i] = static_cast<double>(i) / static_cast<double>(many_p.size() - 1);
    }
    CHECK_THROWS_WITH_AS(service_time::empirical(many_p, many_v), doctest::Contains("got 17"), config_error);
    many_p.pop_back();
    many_v.pop_back();
    many_p.back() = 1.0;
    CHECK_NOTHROW(service_time::empirical(many_p, many_v));

    CHECK_THROWS_WITH_AS(service_time::from_azure_percentiles_ms({5, 6, 11, 10, 13, 1581, 1996}),
                         "service_time.from_azure_percentiles_ms.percentiles_ms[3]: must be finite and >= percentiles_ms[2] "
                         "(11), got 10",
                         config_error);
    CHECK_THROWS_WITH_AS(service_time::from_azure_percentiles_ms({-1, 6, 11, 12, 13, 1581, 1996}),
                         doctest::Contains("percentiles_ms[0]: must be finite and >= 0, got -1"), config_error);

    const auto s = service_time::exponential(1.0);
    CHECK_THROWS_WITH_AS(static_cast<void>(s.quantile(1.5)), "service_time.quantile.p: must be in [0, 1], got 1.5",
                         config_error);
    CHECK_THROWS_AS(static_cast<void>(s.quantile(nan)), config_error);
}

TEST_CASE("service_time: lognormal_from_mean_cv refuses a cv whose median would be 0, naming cv and mean_s") {
    CHECK_THROWS_WITH_AS(service_time::lognormal_from_mean_cv(1e-300, 1e150),
                         "service_time.lognormal_from_mean_cv.cv: must be small enough for mean_s (1e-300) that the median "
                         "mean_s/√(1 + cv²) is > 0, got 1e+150",
                         rlscale::config_error);
    const auto s = service_time::lognormal_from_mean_cv(1e-300, 1e10);  // a subnormal median, still > 0
    CHECK(s.quantile(0.5) > 0);
}

}  // namespace test_sim_service_time
