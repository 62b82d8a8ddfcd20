#include <rlscale/sim/latency_sketch.hpp>

#include <rlscale/core/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_sim_latency_sketch {

using rlscale::sim::latency_sketch;

TEST_CASE("latency_sketch quantiles are within the stated relative error of the exact nearest-rank quantiles") {
    rlscale::rng gen(8);
    for (const double alpha : {0.005, 0.01, 0.05}) {
        CAPTURE(alpha);
        latency_sketch sketch(alpha);
        std::vector<double> values;
        for (int i = 0; i < 100000; ++i) {
            // Lognormal latencies spanning milliseconds to minutes.
            const double x = std::exp(std::log(0.05) + 1.5 * rlscale::standard_normal(gen));
            values.push_back(x);
            sketch.add(x);
        }
        std::sort(values.begin(), values.end());
        for (const std::size_t per_mille : {0, 10, 500, 900, 950, 990, 999, 1000}) {
            const double q = static_cast<double>(per_mille) / 1000;
            CAPTURE(q);
            // ⌈q·n⌉ of q as written, in integers.
            const auto rank = std::max<std::size_t>(1, (per_mille * values.size() + 999) / 1000);
            const double exact = values[rank - 1];
            CHECK(std::abs(sketch.quantile(q) - exact) <= alpha * exact * (1 + 1e-9));
        }
    }
}

TEST_CASE("latency_sketch: empty gives NaN, clear forgets, out-of-range values clamp") {
    latency_sketch sketch(0.01, 1e-3, 10.0);
    CHECK(std::isnan(sketch.quantile(0.5)));
    sketch.add(0.2);
    CHECK(sketch.quantile(0.5) == doctest::Approx(0.2).epsilon(0.01));
    sketch.clear();
    CHECK(sketch.count() == 0);
    CHECK(std::isnan(sketch.quantile(0.9)));
    sketch.add(1e6);
    CHECK(sketch.quantile(1.0) == doctest::Approx(10.0).epsilon(0.01));
    CHECK_THROWS_WITH_AS(latency_sketch(0.7), doctest::Contains("relative_error"), rlscale::config_error);
}

TEST_CASE("latency_sketch: a NaN is not counted, and a bucket count beyond max_buckets is refused before allocating") {
    latency_sketch sketch(0.01, 1e-3, 10.0);
    sketch.add(std::nan(""));
    CHECK(sketch.count() == 0);
    sketch.add(0.5);
    sketch.add(-std::nan(""));
    CHECK(sketch.count() == 1);
    CHECK(sketch.quantile(1.0) == doctest::Approx(0.5).epsilon(0.01));
    // α = 1e-9 over [1e-6, 1e5] would need about 1.3e10 buckets.
    CHECK_THROWS_WITH_AS(latency_sketch(1e-9), doctest::Contains("latency_sketch.relative_error: must leave at most 16777216 buckets"),
                         rlscale::config_error);
    CHECK_NOTHROW(latency_sketch(1e-4));  // the cluster's smallest α: about 1.2e5 buckets
}

TEST_CASE("latency_sketch: the rank of q is that of q as written: quantile(0.07) and quantile(0.55) of 1 to 100 are 7 and 55") {
    const double alpha = 0.005;
    latency_sketch sketch(alpha);
    for (int i = 1; i <= 100; ++i) sketch.add(i);
    // 0.07 · 100 and 0.55 · 100 round above 7 and 55 in floating point.
    CHECK(std::abs(sketch.quantile(0.07) - 7) <= alpha * 7);
    CHECK(std::abs(sketch.quantile(0.55) - 55) <= alpha * 55);
    for (int k = 1; k <= 100; ++k) {
        CAPTURE(k);
        CHECK(std::abs(sketch.quantile(k / 100.0) - k) <= alpha * k);
    }
}

TEST_CASE("detail::nearest_rank: k/n gives rank k, and the simulator's quantiles keep the ceiling of q·n for n = 1 to 100000") {
    using rlscale::sim::detail::nearest_rank;
    std::uint64_t wrong = 0;
    for (std::uint64_t n = 1; n <= 300; ++n) {
        for (std::uint64_t k = 1; k <= n; ++k) {
            wrong += nearest_rank(static_cast<double>(k) / static_cast<double>(n), n) != k ? 1 : 0;
        }
    }
    CHECK(wrong == 0);
    // The quantiles the simulators report (cluster, tick_cluster) and the
    // demos print (scenario's outcome::p99_ratio) get the ranks they got
    // from the plain ceiling, clamped to [1, n].
    std::uint64_t differ = 0;
    for (const double q : {0.5, 0.9, 0.95, 0.99, 0.999}) {
        for (std::uint64_t n = 1; n <= 100000; ++n) {
            const auto ceiling = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
            const std::uint64_t before = ceiling < 1 ? 1 : (ceiling > n ? n : ceiling);
            differ += nearest_rank(q, n) != before ? 1 : 0;
        }
    }
    CHECK(differ == 0);
    CHECK(nearest_rank(0.0, 10) == 1);
    CHECK(nearest_rank(1.0, 10) == 10);
    CHECK(nearest_rank(2.0, 10) == 10);
    // Outside [0, 1], and NaN: the smallest or the largest rank, without
    // casting a negative or NaN ceiling (undefined; -0.5 gave rank 10).
    CHECK(nearest_rank(-0.5, 10) == 1);
    CHECK(nearest_rank(-std::numeric_limits<double>::infinity(), 10) == 1);
    CHECK(nearest_rank(std::numeric_limits<double>::quiet_NaN(), 10) == 10);
    CHECK(nearest_rank(1e300, 10) == 10);
    CHECK(nearest_rank(0.07, 100) == 7);
    CHECK(nearest_rank(0.55, 100) == 55);
}

}  // namespace test_sim_latency_sketch
