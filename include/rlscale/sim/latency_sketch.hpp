#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace rlscale::sim {

/// Quantiles of positive values with a guaranteed relative error, in fixed
/// memory (the DDSketch idea: logarithmic buckets). A value x goes to bucket
/// i = ⌈log_γ x⌉ with γ = (1 + α)/(1 − α), and a bucket reports
/// 2γ^i/(γ + 1), which is within a factor (1 ± α) of every value it holds.
/// So every quantile it returns is within relative error α of the exact
/// nearest-rank quantile of the recorded values, for values inside
/// [min_value, max_value] (outside they are clamped to that range). Adding
/// a value and clearing allocate nothing.
class latency_sketch {
public:
    /// α = relative_error; values from min_value to max_value seconds.
    explicit latency_sketch(double relative_error = 0.005, double min_value = 1e-6, double max_value = 1e5) {
        check_fields("latency_sketch")
            .require(relative_error > 0 && relative_error < 0.5, "relative_error", "be in (0, 0.5)", relative_error)
            .greater("min_value", min_value, 0)
            .greater_field("max_value", max_value, "min_value", min_value);
        gamma_ = (1 + relative_error) / (1 - relative_error);
        inv_log_gamma_ = 1.0 / std::log(gamma_);
        offset_ = static_cast<std::int64_t>(std::ceil(std::log(min_value) * inv_log_gamma_));
        const auto top = static_cast<std::int64_t>(std::ceil(std::log(max_value) * inv_log_gamma_));
        counts_.assign(static_cast<std::size_t>(top - offset_ + 1), 0);
        min_value_ = min_value;
        max_value_ = max_value;
        alpha_ = relative_error;
    }

    [[nodiscard]] double relative_error() const noexcept { return alpha_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return n_; }

    void add(double x) noexcept {
        x = x < min_value_ ? min_value_ : (x > max_value_ ? max_value_ : x);
        const auto i = static_cast<std::size_t>(static_cast<std::int64_t>(std::ceil(std::log(x) * inv_log_gamma_)) - offset_);
        ++counts_[i];
        lo_ = i < lo_ ? i : lo_;
        hi_ = i > hi_ ? i : hi_;
        ++n_;
    }

    /// The nearest-rank q-quantile (the value of rank ⌈q·n⌉, 1-based), within
    /// relative error α; NaN when empty.
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
        std::size_t next = 0;
        if (n_ == 0) {
            for (auto& x : out) x = std::numeric_limits<double>::quiet_NaN();
            return;
        }
        std::uint64_t seen = 0;
        for (std::size_t i = lo_; i <= hi_ && next < qs.size(); ++i) {
            seen += counts_[i];
            while (next < qs.size() && seen >= rank_of(qs[next])) {
                out[next++] = bucket_value(i);
            }
        }
        for (; next < qs.size(); ++next) out[next] = max_value_;
    }

    /// Forgets every value; touches only the buckets used since the last clear.
    void clear() noexcept {
        if (n_ != 0) {
            for (std::size_t i = lo_; i <= hi_; ++i) {
                counts_[i] = 0;
            }
        }
        n_ = 0;
        lo_ = std::numeric_limits<std::size_t>::max();
        hi_ = 0;
    }

private:
    [[nodiscard]] std::uint64_t rank_of(double q) const noexcept {
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n_)));
        return rank < 1 ? 1 : (rank > n_ ? n_ : rank);
    }
    [[nodiscard]] double bucket_value(std::size_t i) const noexcept {
        const double upper = std::pow(gamma_, static_cast<double>(static_cast<std::int64_t>(i) + offset_));
        return 2 * upper / (gamma_ + 1);
    }

    std::vector<std::uint32_t> counts_;
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
