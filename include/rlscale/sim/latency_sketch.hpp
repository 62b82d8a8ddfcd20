#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace rlscale::sim {

namespace detail {

/// The nearest rank ⌈q·n⌉ of a q-quantile among n values, clamped to
/// [1, n]. q·n is a rounded product: 0.07 · 100 gives 7.000000000000001
/// (0.07 is stored a little above 0.07), whose ceiling would be 8. So a rank
/// k whose k − 1 reaches q when divided by n (7/100 gives the very double
/// 0.07) is lowered to k − 1. For q in {0.5, 0.9, 0.95, 0.99, 0.999} this
/// never changes the ceiling (latency_sketch_test checks n = 1 to 10^5).
/// A q below 0 is rank 1, one above 1 rank n, and a NaN q rank n too (a
/// tail read high rather than low); their ceilings cast to an integer would
/// be undefined.
[[nodiscard]] inline std::uint64_t nearest_rank(double q, std::uint64_t n) noexcept {
    if (!(q <= 1)) return n;
    if (!(q >= 0)) return 1;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
    if (rank > 1 && static_cast<double>(rank - 1) / static_cast<double>(n) >= q) --rank;
    return rank < 1 ? 1 : (rank > n ? n : rank);
}

}  // namespace detail

/// Quantiles of positive values with a guaranteed relative error, in fixed
/// memory (the DDSketch idea: logarithmic buckets). A value x goes to bucket
/// i = ⌈log_γ x⌉ with γ = (1 + α)/(1 − α), and a bucket reports
/// 2γ^i/(γ + 1), which is within a factor (1 ± α) of every value it holds.
/// So every quantile it returns is within relative error α of the exact
/// nearest-rank quantile of the recorded values, for values inside
/// [min_value, max_value] (outside they are clamped to that range). Adding
/// a value and clearing allocate nothing.
///
/// Beside the counts, one bit per bucket marks the buckets that hold a
/// value, so that quantiles() visits only those: with a few dozen values
/// spread over hundreds of buckets, it skips 64 empty ones at a time.
class latency_sketch {
public:
    /// The most buckets a sketch may have (8 bytes each).
    static constexpr std::size_t max_buckets = std::size_t{1} << 24;

    static constexpr double default_min_value = 1e-6;  ///< seconds: the least value a default sketch tells apart
    static constexpr double default_max_value = 1e5;   ///< seconds: the largest

    /// The buckets a sketch of relative error α over [min_value, max_value]
    /// has (as a double: a tiny α asks for more than any integer holds).
    [[nodiscard]] static double bucket_count(double relative_error, double min_value = default_min_value,
                                             double max_value = default_max_value) noexcept {
        const double inv_log_gamma = 1.0 / std::log((1 + relative_error) / (1 - relative_error));
        return std::ceil(std::log(max_value) * inv_log_gamma) - std::ceil(std::log(min_value) * inv_log_gamma) + 1;
    }
    /// The bytes such a sketch holds: a count of 8 bytes and a used bit per bucket.
    [[nodiscard]] static double bytes(double relative_error, double min_value = default_min_value,
                                      double max_value = default_max_value) noexcept {
        return bucket_count(relative_error, min_value, max_value) * (8 + 1.0 / 8);
    }

    /// α = relative_error; values from min_value to max_value seconds.
    explicit latency_sketch(double relative_error = 0.005, double min_value = default_min_value, double max_value = default_max_value) {
        check_fields("latency_sketch")
            .require(relative_error > 0 && relative_error < 0.5, "relative_error", "be in (0, 0.5)", relative_error)
            .greater("min_value", min_value, 0)
            .greater_field("max_value", max_value, "min_value", min_value);
        gamma_ = (1 + relative_error) / (1 - relative_error);
        inv_log_gamma_ = 1.0 / std::log(gamma_);
        // The bucket count, bounded before anything is allocated (a tiny α
        // over a wide range would ask for billions).
        const double span = bucket_count(relative_error, min_value, max_value);
        check_fields("latency_sketch")
            .require(span <= static_cast<double>(max_buckets), "relative_error",
                     "leave at most " + std::to_string(max_buckets) + " buckets over [min_value, max_value] (this needs " +
                         format_number(span) + ")",
                     relative_error);
        offset_ = static_cast<std::int64_t>(std::ceil(std::log(min_value) * inv_log_gamma_));
        const auto top = static_cast<std::int64_t>(std::ceil(std::log(max_value) * inv_log_gamma_));
        const auto buckets = static_cast<std::size_t>(top - offset_ + 1);
        counts_.assign(buckets, 0);
        used_.assign((buckets + word_bits - 1) / word_bits, 0);
        min_value_ = min_value;
        max_value_ = max_value;
        alpha_ = relative_error;
    }

    [[nodiscard]] double relative_error() const noexcept { return alpha_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return n_; }

    /// Counts `x`, clamped into [min_value, max_value]; a NaN is not counted.
    void add(double x) noexcept {
        if (std::isnan(x)) return;
        x = x < min_value_ ? min_value_ : (x > max_value_ ? max_value_ : x);
        const auto i = static_cast<std::size_t>(static_cast<std::int64_t>(std::ceil(std::log(x) * inv_log_gamma_)) - offset_);
        ++counts_[i];
        used_[i / word_bits] |= std::uint64_t{1} << (i % word_bits);
        lo_ = i < lo_ ? i : lo_;
        hi_ = i > hi_ ? i : hi_;
        ++n_;
    }

    /// The nearest-rank q-quantile (the value of rank ⌈q·n⌉, 1-based), within
    /// relative error α; NaN when empty. A q outside [0, 1] reads as the
    /// nearer end, a NaN q as 1 (detail::nearest_rank).
    [[nodiscard]] double quantile(double q) const noexcept {
        if (n_ == 0) {
            return std::numeric_limits<double>::quiet_NaN();
        }
        double out = 0;
        quantiles(std::span<const double>(&q, 1), std::span<double>(&out, 1));
        return out;
    }

    /// Several quantiles in one pass over the buckets: `qs` ascending,
    /// results in `out` (same size); NaN when empty.
    void quantiles(std::span<const double> qs, std::span<double> out) const noexcept {
        if (n_ == 0) {
            for (auto& x : out) x = std::numeric_limits<double>::quiet_NaN();
            return;
        }
        if (qs.empty()) {
            return;
        }
        // Walk the used buckets in order, counting the values seen so far;
        // quantile `next` lies in the bucket where that count reaches its rank.
        std::size_t next = 0;
        std::uint64_t rank = rank_of(qs[0]);
        std::uint64_t seen = 0;
        for (std::size_t w = lo_ / word_bits; w <= hi_ / word_bits; ++w) {
            for (std::uint64_t bits = used_[w]; bits != 0; bits &= bits - 1) {
                const std::size_t i = w * word_bits + static_cast<std::size_t>(std::countr_zero(bits));
                seen += counts_[i];
                while (seen >= rank) {
                    out[next] = bucket_value(i);
                    if (++next == qs.size()) {
                        return;
                    }
                    rank = rank_of(qs[next]);
                }
            }
        }
        for (; next < qs.size(); ++next) out[next] = max_value_;
    }

    /// Forgets every value; touches only the buckets used since the last clear.
    void clear() noexcept {
        if (n_ != 0) {
            std::fill(counts_.begin() + static_cast<std::ptrdiff_t>(lo_),
                      counts_.begin() + static_cast<std::ptrdiff_t>(hi_ + 1), 0);
            std::fill(used_.begin() + static_cast<std::ptrdiff_t>(lo_ / word_bits),
                      used_.begin() + static_cast<std::ptrdiff_t>(hi_ / word_bits + 1), 0);
        }
        n_ = 0;
        lo_ = std::numeric_limits<std::size_t>::max();
        hi_ = 0;
    }

private:
    [[nodiscard]] std::uint64_t rank_of(double q) const noexcept { return detail::nearest_rank(q, n_); }
    [[nodiscard]] double bucket_value(std::size_t i) const noexcept {
        const double upper = std::pow(gamma_, static_cast<double>(static_cast<std::int64_t>(i) + offset_));
        return 2 * upper / (gamma_ + 1);
    }

    static constexpr std::size_t word_bits = 64;

    std::vector<std::uint64_t> counts_;  // 64-bit: one interval may complete more than 2^32 requests in a bucket
    std::vector<std::uint64_t> used_;  // bit i % 64 of word i / 64: bucket i holds a value
    double gamma_ = 0;
    double inv_log_gamma_ = 0;
    std::int64_t offset_ = 0;
    double min_value_ = 0;
    double max_value_ = 0;
    double alpha_ = 0;
    std::uint64_t n_ = 0;
    std::size_t lo_ = std::numeric_limits<std::size_t>::max();
    std::size_t hi_ = 0;
};

}  // namespace rlscale::sim
