#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/ziggurat.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <string_view>

namespace rlscale::sim {

/// The shape of a service_time distribution.
enum class service_time_kind {
    deterministic,  ///< always the same duration
    exponential,    ///< memoryless, rate 1/mean
    lognormal,      ///< ln X ~ N(ln median, sigma²)
    empirical,      ///< inverse CDF piecewise linear between percentile points
};

/// The kind's name: "deterministic", "exponential", "lognormal" or "empirical".
constexpr std::string_view to_string(service_time_kind kind) noexcept {
    switch (kind) {
        case service_time_kind::deterministic: return "deterministic";
        case service_time_kind::exponential: return "exponential";
        case service_time_kind::lognormal: return "lognormal";
        case service_time_kind::empirical: return "empirical";
    }
    return "unknown";
}

namespace detail {

/// Φ⁻¹(p), the standard normal quantile: -inf at 0, +inf at 1, NaN outside [0, 1].
/// Acklam's rational approximation (relative error below 1.15e-9) refined by one
/// Halley step on Φ(x) - p computed with std::erfc. Against 50-digit mpmath the
/// result is within 2e-16 relative for 1e-100 <= p <= 1 - 1e-6, and within 1e-16
/// absolute near the median (where x → 0); for p <= 1e-300 the step is skipped
/// (it would overflow) and the error is about 1e-10 relative. Only quantile()
/// uses it; sampling never does.
inline double inverse_standard_normal(double p) noexcept {
    if (!(p > 0.0)) {
        return p == 0.0 ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    }
    if (!(p < 1.0)) {
        return p == 1.0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    }
    if (p > 0.5) {
        return -inverse_standard_normal(1.0 - p);  // 1 - p is exact for p in [0.5, 1] (Sterbenz)
    }
    constexpr std::array<double, 6> a{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                      1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    constexpr std::array<double, 5> b{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                      6.680131188771972e+01, -1.328068155288572e+01};
    constexpr std::array<double, 6> c{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                      -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    constexpr std::array<double, 4> d{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                      3.754408661907416e+00};
    constexpr double p_low = 0.02425;  // below it the tail form, above it the central form
    double x = 0.0;
    if (p < p_low) {
        const double q = std::sqrt(-2.0 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else {
        const double q = p - 0.5;
        const double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    if (p > 1e-300) {
        // Halley's step for f(x) = Φ(x) - p, with f'(x) = φ(x) and f''(x) = -x·φ(x).
        const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
        const double u = e * std::sqrt(2.0 * std::numbers::pi) * std::exp(0.5 * x * x);
        x -= u / (1.0 + 0.5 * x * u);
    }
    return x;
}

}  // namespace detail

/// A positive random duration in seconds: the execution time of one request
/// (or the time a new replica takes to start). A small value type: no heap
/// storage, cheap to copy, and sampling allocates nothing. Every factory
/// validates its parameters and throws config_error naming the parameter and
/// its value. A default-constructed service_time is deterministic(1 s).
class service_time {
public:
    /// The most percentile points an empirical distribution holds.
    static constexpr std::size_t max_points = 16;
    /// The percentiles of the Azure Functions 2019 durations file: 0, 1, 25, 50, 75, 99, 100.
    static constexpr std::array<double, 7> azure_probabilities{0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0};
    /// Azure values below this (whole-millisecond rounding gives 0 for sub-millisecond
    /// durations) are raised to it, so every point is positive.
    static constexpr double azure_floor_ms = 0.5;

    /// Deterministic 1 s, so a profile can be declared first and filled in later.
    service_time() noexcept = default;

    /// Always `seconds` (finite, > 0). Sampling draws no random numbers.
    static service_time deterministic(double seconds) {
        check_fields("service_time.deterministic").greater("seconds", seconds, 0.0);
        service_time s;
        s.kind_ = service_time_kind::deterministic;
        s.scale_ = seconds;
        s.mean_ = seconds;
        return s;
    }

    /// Exponential with the given mean (finite, > 0): X = mean·E, E a standard
    /// exponential (exponential01, by the ziggurat).
    static service_time exponential(double mean_s) {
        check_fields("service_time.exponential").greater("mean_s", mean_s, 0.0);
        service_time s;
        s.kind_ = service_time_kind::exponential;
        s.scale_ = mean_s;
        s.mean_ = mean_s;
        return s;
    }

    /// Lognormal: ln X ~ N(ln median, sigma²), so X = median·exp(sigma·Z) and
    /// E[X] = median·exp(sigma²/2). median finite > 0; sigma finite >= 0 with a finite mean.
    static service_time lognormal(double median_s, double sigma) {
        const check_fields check("service_time.lognormal");
        check.greater("median_s", median_s, 0.0).at_least("sigma", sigma, 0.0);
        const double mean = median_s * std::exp(0.5 * sigma * sigma);
        check.require(std::isfinite(mean), "sigma", "be small enough that the mean median·exp(sigma²/2) is finite", sigma);
        service_time s;
        s.kind_ = service_time_kind::lognormal;
        s.scale_ = median_s;
        s.sigma_ = sigma;
        s.mean_ = mean;
        return s;
    }

    /// The lognormal with the given mean and coefficient of variation (sd/mean):
    /// sigma² = ln(1 + cv²), median = mean/√(1 + cv²). cv = 0 is a point mass at the mean.
    /// mean_s finite > 0; cv finite >= 0, small enough for mean_s that the
    /// median is > 0 (mean_s = 1e-300 with cv = 1e150 would give a median of 0).
    static service_time lognormal_from_mean_cv(double mean_s, double cv) {
        const check_fields check("service_time.lognormal_from_mean_cv");
        check.greater("mean_s", mean_s, 0.0)
            .require(std::isfinite(cv) && cv >= 0.0 && std::isfinite(cv * cv), "cv", "be finite and >= 0 (with cv² finite)", cv);
        const double one_plus_cv2 = 1.0 + cv * cv;
        const double median = mean_s / std::sqrt(one_plus_cv2);
        if (!(median > 0.0)) {
            check.fail("cv", "be small enough for mean_s (" + format_number(mean_s) +
                                 ") that the median mean_s/√(1 + cv²) is > 0", cv);
        }
        return lognormal(median, std::sqrt(std::log1p(cv * cv)));
    }

    /// Fitted to percentile points: the inverse CDF is piecewise linear through
    /// (probabilities[i], values_s[i]) and sampled by inversion. Probabilities
    /// strictly increase from exactly 0 to exactly 1; values are finite, > 0 and
    /// non-decreasing; 2 to max_points points.
    static service_time empirical(std::span<const double> probabilities, std::span<const double> values_s) {
        const check_fields check("service_time.empirical");
        const std::size_t n = probabilities.size();
        check.count("probabilities", n, 2, max_points)
            .require(values_s.size() == n, "values_s", "have as many points as probabilities (" + format_number(n) + ")",
                     values_s.size());
        const auto item = [](const char* name, std::size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; };
        for (std::size_t i = 0; i < n; ++i) {
            const std::string pf = item("probabilities", i);
            const double p = probabilities[i];
            check.require(i != 0 || p == 0.0, pf, "be 0 (the first point is the minimum)", p)
                .require(i != n - 1 || p == 1.0, pf, "be 1 (the last point is the maximum)", p)
                .in(pf, p, 0.0, 1.0);
            if (i > 0) check.greater_field(pf, p, item("probabilities", i - 1), probabilities[i - 1]);
            const std::string vf = item("values_s", i);
            check.greater(vf, values_s[i], 0.0);
            if (i > 0) check.at_least_field(vf, values_s[i], item("values_s", i - 1), values_s[i - 1]);
        }
        service_time s;
        s.kind_ = service_time_kind::empirical;
        s.points_ = n;
        std::copy(probabilities.begin(), probabilities.end(), s.p_.begin());
        std::copy(values_s.begin(), values_s.end(), s.v_.begin());
        s.scale_ = values_s[n / 2];
        double mean = 0.0;
        for (std::size_t i = 0; i + 1 < n; ++i) {
            const double dp = s.p_[i + 1] - s.p_[i];
            s.slope_[i] = (s.v_[i + 1] - s.v_[i]) / dp;
            mean += dp * 0.5 * (s.v_[i] + s.v_[i + 1]);  // the trapezoid under the inverse CDF
        }
        s.mean_ = mean;
        return s;
    }

    /// From one row of the Azure Functions 2019 durations file: the values in
    /// milliseconds at azure_probabilities (columns percentile_Average_0 ..
    /// _100). Values must be finite, >= 0 and non-decreasing; values below
    /// azure_floor_ms are raised to it. Note that Azure's percentiles are over
    /// per-interval average durations, not over single requests.
    static service_time from_azure_percentiles_ms(const std::array<double, 7>& percentiles_ms) {
        const check_fields check("service_time.from_azure_percentiles_ms");
        const auto item = [](std::size_t i) { return "percentiles_ms[" + std::to_string(i) + "]"; };
        std::array<double, 7> seconds{};
        for (std::size_t i = 0; i < percentiles_ms.size(); ++i) {
            const double ms = percentiles_ms[i];
            check.at_least(item(i), ms, 0.0);
            if (i > 0) check.at_least_field(item(i), ms, item(i - 1), percentiles_ms[i - 1]);
            seconds[i] = std::max(ms, azure_floor_ms) / 1000.0;
        }
        return empirical(azure_probabilities, seconds);
    }

    /// One draw in seconds: > 0 and finite. Consumes one ziggurat exponential
    /// (exponential01), one ziggurat normal (ziggurat_normal, lognormal), one
    /// uniform (empirical) or nothing (deterministic). A ziggurat variate takes
    /// one generator call most of the time and occasionally more.
    template <std::uniform_random_bit_generator Gen>
        requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
    double sample(Gen& gen) const noexcept {
        double x = scale_;
        switch (kind_) {
            case service_time_kind::deterministic: return scale_;
            case service_time_kind::exponential: x = scale_ * exponential01(gen); break;
            case service_time_kind::lognormal: x = scale_ * std::exp(sigma_ * ziggurat_normal(gen)); break;
            case service_time_kind::empirical: x = inverse_cdf(uniform01(gen)); break;
        }
        // An exponential draw of 0 (probability about 2⁻⁵³) becomes the smallest
        // positive normal double, so a sample is never 0 or infinite.
        return std::clamp(x, std::numeric_limits<double>::min(), std::numeric_limits<double>::max());
    }

    /// The exact mean: the value, the mean, median·exp(sigma²/2), or the area
    /// under the piecewise-linear inverse CDF (the mean of what sample() draws).
    [[nodiscard]] double mean() const noexcept { return mean_; }

    /// The inverse CDF at p in [0, 1]: quantile(0.5) is the median; quantile(1) is
    /// +inf for the exponential and lognormal kinds. The lognormal's goes through
    /// detail::inverse_standard_normal (about 1e-15 relative). Throws config_error
    /// for p outside [0, 1] or NaN.
    [[nodiscard]] double quantile(double p) const {
        check_fields("").in("service_time.quantile.p", p, 0.0, 1.0);  // an empty prefix allocates only to fail
        switch (kind_) {
            case service_time_kind::deterministic: return scale_;
            case service_time_kind::exponential: return -scale_ * std::log1p(-p);
            case service_time_kind::lognormal:
                return sigma_ == 0.0 ? scale_ : scale_ * std::exp(sigma_ * detail::inverse_standard_normal(p));
            case service_time_kind::empirical: return p >= 1.0 ? v_[points_ - 1] : inverse_cdf(p);
        }
        return scale_;
    }

    /// Which distribution this is.
    [[nodiscard]] service_time_kind kind() const noexcept { return kind_; }
    /// The lognormal's sigma (0 for the other kinds).
    [[nodiscard]] double sigma() const noexcept { return sigma_; }
    /// The empirical kind's probabilities (empty for the other kinds).
    [[nodiscard]] std::span<const double> probabilities() const noexcept { return {p_.data(), points_}; }
    /// The empirical kind's values in seconds (empty for the other kinds).
    [[nodiscard]] std::span<const double> values() const noexcept { return {v_.data(), points_}; }

    /// Equal kind and parameters.
    friend bool operator==(const service_time&, const service_time&) = default;

private:
    // The empirical inverse CDF at u in [0, 1]: the segment whose probability
    // range holds u, then linear interpolation. The segment index is a count of
    // the inner probabilities at or below u (they are sorted), which compiles to
    // compares and adds with no data-dependent branch: a random u would defeat
    // the branch predictor of a search loop.
    [[nodiscard]] double inverse_cdf(double u) const noexcept {
        std::size_t i = 0;
        for (std::size_t j = 1; j + 1 < points_; ++j) {
            i += static_cast<std::size_t>(p_[j] <= u);
        }
        return v_[i] + (u - p_[i]) * slope_[i];
    }

    service_time_kind kind_ = service_time_kind::deterministic;  // which distribution
    double scale_ = 1.0;   // deterministic: the value; exponential: the mean; lognormal: the median; empirical: a middle point
    double sigma_ = 0.0;   // lognormal: sigma of ln X
    double mean_ = 1.0;    // mean(), computed in the factory
    std::size_t points_ = 0;                      // empirical: number of points in use
    std::array<double, max_points> p_{};          // empirical: probabilities, strictly increasing, 0 .. 1
    std::array<double, max_points> v_{};          // empirical: values in seconds, non-decreasing
    std::array<double, max_points> slope_{};      // empirical: (v[i+1] - v[i]) / (p[i+1] - p[i])
};

}  // namespace rlscale::sim
