#pragma once

#include <rlscale/core/random.hpp>
#include <rlscale/core/ziggurat.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>

namespace rlscale::sim::detail {

/// ln(k!) without std::lgamma (which writes the global `signgam` and so is
/// not safe on several threads): a table up to 15, then Stirling's series to
/// the k⁻⁵ term (absolute error below 1e-14 there).
[[nodiscard]] inline double log_factorial(std::uint64_t k) noexcept {
    static constexpr std::array<double, 16> table{0.0,
                                                  0.0,
                                                  0.69314718055994531,
                                                  1.7917594692280550,
                                                  3.1780538303479456,
                                                  4.7874917427820460,
                                                  6.5792512120101010,
                                                  8.5251613610654143,
                                                  10.604602902745251,
                                                  12.801827480081469,
                                                  15.104412573075516,
                                                  17.502307845873887,
                                                  19.987214495661886,
                                                  22.552163853123421,
                                                  25.191221182738682,
                                                  27.899271383840892};
    if (k < table.size()) return table[k];
    const double x = static_cast<double>(k);
    const double r = 1.0 / x;
    const double r2 = r * r;
    return (x + 0.5) * std::log(x) - x + 0.5 * std::log(2.0 * std::numbers::pi) +
           r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0)));
}

/// A Poisson draw of the given mean (0 for a mean that is not a positive
/// finite number). Below a mean of 10 by inversion (sequential search from
/// 0); from 10 on by Hörmann's transformed rejection with squeeze (PTRS,
/// "The transformed rejection method for generating Poisson random
/// variables", 1993), whose expected number of uniforms per draw is below
/// 3 whatever the mean. Exact in distribution; the cost does not grow with
/// the mean.
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
[[nodiscard]] std::uint64_t poisson(double mean, Gen& gen) noexcept {
    if (!(mean > 0) || !std::isfinite(mean)) return 0;
    // Far beyond any arrival count a step can hold: the mean itself (its
    // standard deviation is below 10^-7 of it), saturating short of 2^64,
    // so that no draw converts out of uint64's range.
    if (mean >= 1e15) return static_cast<std::uint64_t>(std::min(std::round(mean), 1.8e19));
    if (mean < 10) {
        double p = std::exp(-mean);
        double cumulative = p;
        const double u = uniform01(gen);
        std::uint64_t k = 0;
        while (u > cumulative && k < 1000) {
            ++k;
            p *= mean / static_cast<double>(k);
            const double next = cumulative + p;
            // The remaining mass is below the sum's precision: a u above the
            // whole computed sum (u near 1, past its rounding) ends here, not
            // where p underflows some hundreds of k later.
            if (next == cumulative || p <= 0) break;
            cumulative = next;
        }
        return k;
    }
    const double root = std::sqrt(mean);
    const double log_mean = std::log(mean);
    const double b = 0.931 + 2.53 * root;
    const double a = -0.059 + 0.02483 * b;
    const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    const double v_r = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        const double u = uniform01(gen) - 0.5;
        const double v = uniform01(gen);
        const double us = 0.5 - std::abs(u);
        const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
        if (us >= 0.07 && v <= v_r) return static_cast<std::uint64_t>(k);
        if (k < 0 || (us < 0.013 && v > us)) continue;
        const auto n = static_cast<std::uint64_t>(k);
        if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <= -mean + k * log_mean - log_factorial(n)) {
            return n;
        }
    }
}

/// A Gamma(shape, 1) draw for shape ≥ 1 (0 for shape 0), by Marsaglia and
/// Tsang's method ("A simple method for generating gamma variables", 2000):
/// a squeeze and one log on rejection, about 1.03 normals per draw whatever
/// the shape.
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
[[nodiscard]] double gamma(double shape, Gen& gen) {
    if (!(shape > 0)) return 0;
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        const double x = ziggurat_normal(gen);
        double v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        const double u = uniform01(gen);
        const double x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
        if (u > 0 && std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
    }
}

}  // namespace rlscale::sim::detail
