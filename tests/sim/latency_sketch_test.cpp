#include <rlscale/sim/latency_sketch.hpp>

#include <rlscale/core/random.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
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
        for (const double q : {0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
            CAPTURE(q);
            const auto n = static_cast<double>(values.size());
            const auto rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * n)));
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

}  // namespace test_sim_latency_sketch
