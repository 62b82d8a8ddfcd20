#pragma once

// Arrival-rate functions λ(t) for the cluster simulator: piecewise constant
// over fixed bins, with exact Poisson sampling of arrival times, and factories
// for the shapes the research systems evaluate on (constant, sinusoidal with the
// Polimi project's intensities, step, spike, on/off, random walk) and for
// plain-text rate files. See docs/simulator-workloads.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/ziggurat.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rlscale::sim {

/// A data file (rate file, trace) that cannot be read or is malformed.
/// `what()` reads like a compiler diagnostic: `file:line:column: message`
/// (the column, then the line, left out when 0, i.e. not about one place).
class data_file_error : public rlscale::error {
public:
    /// An error about `file` at `line` and `column` (0 for none), explained by `message`.
    data_file_error(std::filesystem::path file, std::size_t line, std::size_t column, const std::string& message)
        : error(location(file, line, column) + message), file_(std::move(file)), line_(line), column_(column) {}
    /// The file the error is about.
    [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
    /// 1-based line number, 0 when the error is about the whole file.
    [[nodiscard]] std::size_t line() const noexcept { return line_; }
    /// 1-based column (CSV field) number, 0 when the error is about a whole line.
    [[nodiscard]] std::size_t column() const noexcept { return column_; }

private:
    static std::string location(const std::filesystem::path& file, std::size_t line, std::size_t column) {
        // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on ":" + std::string.
        std::string s = file.string();
        if (line > 0) {
            s += ':';
            s += std::to_string(line);
            if (column > 0) {
                s += ':';
                s += std::to_string(column);
            }
        }
        s += ": ";
        return s;
    }
    std::filesystem::path file_;
    std::size_t line_;
    std::size_t column_;
};

namespace detail {

/// Most bins a factory will build (32 bytes each): beyond this a
/// duration/bin pair is almost certainly a unit mistake.
inline constexpr double max_workload_bins = 1e8;

/// Number of bins of width bin_s covering duration_s: ceil(duration_s / bin_s),
/// except that a ratio within 1e-9 of an integer counts as that integer (so
/// 1.1 s in 0.1 s bins is 11 bins, not 12).
inline std::size_t bin_count(double duration_s, double bin_s) {
    const check_fields check("");
    check.greater("duration_s", duration_s, 0).greater("bin_s", bin_s, 0);
    const double q = duration_s / bin_s;
    const double nearest = std::round(q);
    const double n = std::abs(q - nearest) <= 1e-9 * std::max(1.0, q) ? nearest : std::ceil(q);
    check.require(n <= max_workload_bins, "duration_s",
                  "span at most " + format_number(max_workload_bins) + " bins of " + format_number(bin_s) + " s", duration_s);
    return std::max<std::size_t>(1, static_cast<std::size_t>(n));
}

/// Rates of the bins covering duration_s, each the mean of a shape over its
/// bin: (Λ(end) - Λ(start)) / bin_s, where Λ is the shape's integral from 0.
template <typename Integral>
std::vector<double> bin_means(Integral&& cumulative, double duration_s, double bin_s) {
    const std::size_t n = bin_count(duration_s, bin_s);
    std::vector<double> rates(n);
    double previous = cumulative(0.0);
    for (std::size_t k = 0; k < n; ++k) {
        const double next = cumulative(static_cast<double>(k + 1) * bin_s);
        rates[k] = std::max(0.0, (next - previous) / bin_s);  // max: rounding never makes a rate negative
        previous = next;
    }
    return rates;
}

/// Length of the overlap of [a, b) with [lo, hi).
inline double overlap(double a, double b, double lo, double hi) noexcept {
    return std::max(0.0, std::min(b, hi) - std::max(a, lo));
}

}  // namespace detail

/// An arrival-rate function λ(t) in requests/second, piecewise constant over
/// bins of `bin_seconds`, starting at t = 0. After the last bin the rate is 0,
/// or the workload repeats from its first bin if `repeat` is true.
class workload {
public:
    /// Validates bin_seconds (finite, > 0) and rates (non-empty, each finite
    /// and >= 0); throws config_error naming the field, e.g. `workload.rates[3]`.
    workload(std::vector<double> rates, double bin_seconds, bool repeat = false)
        : bin_(bin_seconds), repeat_(repeat), rates_(std::move(rates)) {
        const check_fields check("workload");
        check.greater("bin_seconds", bin_, 0).non_empty("rates", rates_.size());
        for (std::size_t k = 0; k < rates_.size(); ++k) check.at_least("rates[" + std::to_string(k) + "]", rates_[k], 0);
        const std::size_t n = rates_.size();
        duration_ = static_cast<double>(n) * bin_;
        // bins_[k].next_positive: the first bin at or after k with a positive
        // rate (n if none), so next_arrival skips a zero stretch in one step.
        bins_.resize(n);
        std::size_t next = n;
        for (std::size_t k = n; k-- > 0;) {
            if (rates_[k] > 0) next = k;
            bins_[k] = {rates_[k], next};
        }
        first_positive_ = next;
        // cumulative_[k]: expected arrivals in bins 0..k-1.
        cumulative_.resize(n + 1);
        cumulative_[0] = 0;
        for (std::size_t k = 0; k < n; ++k) cumulative_[k + 1] = cumulative_[k] + rates_[k] * bin_;
        // Each rate finite, but their sum over one pass may not be (the
        // expected arrivals would then be NaN).
        check.require(std::isfinite(cumulative_[n]), "rates", "sum, times bin_seconds, to a finite count of arrivals per pass",
                      cumulative_[n]);
    }

    /// λ(t) in requests/second; 0 for t < 0, and after the end unless it repeats.
    [[nodiscard]] double rate(double t) const noexcept {
        if (!(t >= 0)) return 0;  // also NaN
        if (t >= duration_) {
            if (!repeat_ || !std::isfinite(t)) return 0;
            t = std::fmod(t, duration_);
        }
        return bins_[bin_at(t)].rate;
    }

    /// Width of every bin, in seconds.
    [[nodiscard]] double bin_seconds() const noexcept { return bin_; }

    /// The rate of each bin, in requests/second.
    [[nodiscard]] const std::vector<double>& rates() const noexcept { return rates_; }

    /// Length of one pass over the bins: rates().size() * bin_seconds().
    [[nodiscard]] double duration() const noexcept { return duration_; }

    /// Whether the rates start over after duration() instead of dropping to 0.
    [[nodiscard]] bool repeats() const noexcept { return repeat_; }

    /// ∫ λ over [t0, t1]: the expected number of arrivals in that window (0 if t1 <= t0).
    [[nodiscard]] double expected_arrivals(double t0, double t1) const noexcept {
        if (!(t1 > t0)) return 0;
        return cumulative_to(t1) - cumulative_to(t0);
    }

    /// Next arrival time strictly after t of a Poisson process with rate λ(·),
    /// drawing from gen; +infinity when no arrival can follow (a non-repeating
    /// workload with only zero rates left). Exact for piecewise-constant rates:
    /// an exponential gap within the bin (exponential01, by the ziggurat: one
    /// generator call per gap most of the time), and on crossing a bin boundary
    /// a fresh start there (the exponential is memoryless). O(1) per call apart
    /// from bins too short to hold the gap; no allocation. t < 0 counts as 0.
    /// A repeating workload whose passes hold almost no arrivals (say 1e-300
    /// requests per pass) would take one draw per bin for ~1/mass passes: once
    /// a whole pass from a wrap point back to it has gone without an arrival,
    /// and at least max_bin_draws gaps have been drawn, the rest is found by
    /// inverting the integrated rate instead (one more exponential E: skip
    /// floor(E / mass) whole passes, then the point in the pass where the
    /// cumulative intensity reaches the remainder, by binary search). Equally
    /// exact (the process is memoryless at the wrap point), and the switch
    /// comes so late that every draw of an ordinary workload is the bin-by-bin
    /// one. +infinity when the arrival's time overflows a double.
    template <std::uniform_random_bit_generator Gen>
    double next_arrival(double t, Gen& gen) const {
        arrival_cursor cursor;
        return next_arrival(t, gen, cursor);
    }

    /// The bin next_arrival read last, kept by a caller that draws one
    /// arrival after another (the cluster keeps one per function beside its
    /// other per-function state): a draw inside that bin then reads nothing
    /// of the bins array. A cursor belongs to one workload; a default one
    /// holds no bin.
    struct arrival_cursor {
        std::size_t index = std::numeric_limits<std::size_t>::max();
        double rate = 0;
        std::size_t next_positive = 0;
    };

    /// next_arrival(t, gen), reading bins through `cursor` and leaving in it
    /// the bin of the arrival. The same arithmetic, so the same result, with
    /// or without a cursor carried over from the previous call.
    template <std::uniform_random_bit_generator Gen>
    double next_arrival(double t, Gen& gen, arrival_cursor& cursor) const {
        constexpr double infinity = std::numeric_limits<double>::infinity();
        if (std::isnan(t)) return t;
        const double start = t;
        if (t < 0) t = 0;
        const std::size_t n = bins_.size();
        if (first_positive_ == n) return infinity;  // every rate is 0
        double base = 0;  // start of the current pass over the bins
        if (t >= duration_) {
            if (!repeat_ || !std::isfinite(t)) return infinity;
            base = std::floor(t / duration_) * duration_;
            t -= base;
            if (t >= duration_) {  // rounding of the floor above
                base += duration_;
                t -= duration_;
            }
            t = std::max(t, 0.0);
        }
        std::size_t k = bin_at(t);
        const auto read = [&](std::size_t i) {
            if (cursor.index != i) {
                cursor = {i, bins_[i].rate, bins_[i].next_positive};
            }
        };
        std::size_t wraps = 0;        // passes started since t (repeating workloads only)
        std::uint64_t draws = 0;      // gaps drawn so far
        for (;;) {
            read(k);
            const std::size_t next = cursor.next_positive;
            if (next == n) {  // only zero rates until the end of this pass
                if (!repeat_) return infinity;
                base += duration_;
                if (++wraps >= 2 && draws >= max_bin_draws) return invert_from_pass(base, start, gen, cursor);
                k = first_positive_;
                t = static_cast<double>(k) * bin_;
            } else if (next != k) {
                k = next;
                t = static_cast<double>(k) * bin_;
            }
            read(k);
            const double end = k + 1 == n ? duration_ : static_cast<double>(k + 1) * bin_;
            // Exponential(rate): a standard exponential (ziggurat) over the rate.
            const double gap = exponential01(gen) / cursor.rate;
            ++draws;
            if (t + gap < end) {
                const double arrival = base + (t + gap);
                // A zero gap, or rounding far from the origin, must not return t itself.
                return arrival > start ? arrival : std::nextafter(start, infinity);
            }
            t = end;
            if (++k == n) {
                if (!repeat_) return infinity;
                base += duration_;
                if (++wraps >= 2 && draws >= max_bin_draws) return invert_from_pass(base, start, gen, cursor);
                k = 0;
                t = 0;
            }
        }
    }

    /// This workload with every rate multiplied by factor (finite, >= 0).
    [[nodiscard]] workload scaled(double factor) const {
        check_fields("").at_least("factor", factor, 0);
        std::vector<double> r(rates_);
        for (double& x : r) x *= factor;
        return workload(std::move(r), bin_, repeat_);
    }

private:
    /// Gaps next_arrival draws bin by bin before it may switch to inverting
    /// the integrated rate (besides a whole pass without an arrival): with
    /// so many, a pass of an ordinary workload holds an arrival with
    /// certainty for all practical purposes, so its draws never switch.
    static constexpr std::uint64_t max_bin_draws = std::uint64_t{1} << 16;

    /// The first arrival at or after `base` (the start of a pass, a repeating
    /// workload with a positive rate somewhere), by inverting the integrated
    /// rate: one exponential E, floor(E / mass) whole passes skipped, then the
    /// time where the pass's cumulative intensity reaches the remainder.
    template <std::uniform_random_bit_generator Gen>
    double invert_from_pass(double base, double start, Gen& gen, arrival_cursor& cursor) const {
        constexpr double infinity = std::numeric_limits<double>::infinity();
        const std::size_t n = bins_.size();
        const double mass = cumulative_.back();
        const double e = exponential01(gen);
        // A mass that underflowed to 0 (rates near the smallest double): the
        // arrival is farther than any double time.
        if (!(mass > 0)) return infinity;
        double passes = std::floor(e / mass);
        if (!std::isfinite(passes)) return infinity;
        double rest = e - passes * mass;  // in [0, mass) up to rounding
        if (rest < 0) rest = 0;
        base += passes * duration_;
        if (!std::isfinite(base)) return infinity;
        // First bin whose cumulative end exceeds rest: a positive rate there.
        const auto it = std::upper_bound(cumulative_.begin() + 1, cumulative_.end(), rest);
        std::size_t k;
        double t;
        if (it == cumulative_.end()) {  // rest rounded to the whole mass: end of the last positive bin
            k = n;
            while (k-- > 0 && !(bins_[k].rate > 0)) {
            }
            t = k + 1 == n ? duration_ : static_cast<double>(k + 1) * bin_;
        } else {
            k = static_cast<std::size_t>(it - cumulative_.begin()) - 1;
            const double lo = static_cast<double>(k) * bin_;
            const double end = k + 1 == n ? duration_ : static_cast<double>(k + 1) * bin_;
            t = std::min(lo + (rest - cumulative_[k]) / bins_[k].rate, end);
            if (!(t >= lo)) t = lo;
        }
        if (cursor.index != k) cursor = {k, bins_[k].rate, bins_[k].next_positive};
        const double arrival = base + t;
        if (!std::isfinite(arrival)) return infinity;
        return arrival > start ? arrival : std::nextafter(start, infinity);
    }

    /// Bin holding t, for 0 <= t < duration_: floor(t / bin), corrected when
    /// rounding puts t at or past that bin's end.
    [[nodiscard]] std::size_t bin_at(double t) const noexcept {
        const std::size_t last = bins_.size() - 1;
        auto k = static_cast<std::size_t>(t / bin_);
        if (k >= last) return last;
        if (t >= static_cast<double>(k + 1) * bin_) ++k;
        return k;
    }

    /// ∫ λ over [0, t].
    [[nodiscard]] double cumulative_to(double t) const noexcept {
        if (!(t > 0)) return 0;
        const double pass = cumulative_.back();
        double passes = 0;
        if (t >= duration_) {
            if (!repeat_) return pass;
            if (!std::isfinite(t)) return pass > 0 ? std::numeric_limits<double>::infinity() : 0;
            passes = std::floor(t / duration_);
            t = std::max(0.0, t - passes * duration_);
            if (t >= duration_) return (passes + 1) * pass;
        }
        const std::size_t k = bin_at(t);
        return passes * pass + cumulative_[k] + bins_[k].rate * (t - static_cast<double>(k) * bin_);
    }

    /// One bin as next_arrival reads it: its rate and where the next
    /// positive rate is, side by side in one cache line.
    struct bin {
        double rate;
        std::size_t next_positive;  // first bin at or after this one with a positive rate; n if none
    };

    // What next_arrival reads comes first.
    std::vector<bin> bins_;
    double bin_;
    double duration_ = 0;
    std::size_t first_positive_ = 0;  // bins_[0].next_positive: n when every rate is 0
    bool repeat_;
    std::vector<double> rates_;       // the rates again, for rates()
    std::vector<double> cumulative_;
};

/// A constant rate (requests/second) for duration_s, in bins of bin_s.
inline workload constant(double rate, double duration_s, double bin_s = 1.0) {
    check_fields("").at_least("rate", rate, 0);
    return workload(std::vector<double>(detail::bin_count(duration_s, bin_s), rate), bin_s);
}

/// λ(t) = max(0, mean + amplitude·sin(2π t / period_s + phase)), each bin
/// holding the value at its midpoint.
inline workload sinusoidal(double mean, double amplitude, double period_s, double duration_s, double phase = 0,
                           double bin_s = 1.0) {
    check_fields("")
        .at_least("mean", mean, 0)
        .at_least("amplitude", amplitude, 0)
        .greater("period_s", period_s, 0)
        .finite("phase", phase);
    std::vector<double> rates(detail::bin_count(duration_s, bin_s));
    for (std::size_t k = 0; k < rates.size(); ++k) {
        const double mid = (static_cast<double>(k) + 0.5) * bin_s;
        rates[k] = std::max(0.0, mean + amplitude * std::sin(2 * std::numbers::pi * mid / period_s + phase));
    }
    return workload(std::move(rates), bin_s);
}

/// One of the sinusoidal load profiles of the Polimi project,
/// which its JMeter Throughput Shaping Timer replays second by second:
/// rps(t) = max(min_rate, mean + amplitude·sin(2π t/period_s + phase) + ε),
/// ε ~ N(0, noise_stddev²) drawn afresh each second. Numbers and their
/// sources: docs/simulator-workloads.md. The defaults are high().
struct polimi_intensity {
    double mean = 50;                        ///< baseRPS: the mean rate, requests/second
    double amplitude = 35;                   ///< half the peak-to-trough swing, requests/second
    double period_s = 180;                   ///< one cycle per 180-s JMeter profile
    double phase = 4 * std::numbers::pi - 15;  ///< the notebook's sin(t - 15), reduced to (-π, π]: ≈ -2.434 rad
    double noise_stddev = 7;                 ///< noiseSTD: per-second Gaussian jitter, requests/second
    double min_rate = 1;                     ///< np.clip(rps, 1, None): the profile never drops below 1 request/s

    /// Low intensity: 25 ± 10 req/s, fitted to the project's committed JMeter/workloadProfile.csv.
    static constexpr polimi_intensity low() noexcept { return {25, 10, 180, 4 * std::numbers::pi - 15, 5, 1}; }
    /// Medium intensity: 37.5 ± 22.5 req/s, midway between low and high (the project publishes no numbers for it).
    static constexpr polimi_intensity medium() noexcept { return {37.5, 22.5, 180, 4 * std::numbers::pi - 15, 6, 1}; }
    /// High intensity: 50 ± 35 req/s, the project's WorkloadAndConfigGenerator notebook (baseRPS 50, amplitude 35, noiseSTD 7).
    static constexpr polimi_intensity high() noexcept { return {50, 35, 180, 4 * std::numbers::pi - 15, 7, 1}; }
};

namespace detail {
inline void validate(const polimi_intensity& p) {
    check_fields("polimi_intensity")
        .at_least("mean", p.mean, 0)
        .at_least("amplitude", p.amplitude, 0)
        .greater("period_s", p.period_s, 0)
        .finite("phase", p.phase)
        .at_least("noise_stddev", p.noise_stddev, 0)
        .at_least("min_rate", p.min_rate, 0);
}
}  // namespace detail

/// A Polimi sinusoidal profile without its noise: the expected rate,
/// max(min_rate, mean + amplitude·sin(...)) at each bin's midpoint.
inline workload sinusoidal(const polimi_intensity& p, double duration_s, double bin_s = 1.0) {
    detail::validate(p);
    workload w = sinusoidal(p.mean, p.amplitude, p.period_s, duration_s, p.phase, bin_s);
    std::vector<double> rates = w.rates();
    for (double& r : rates) r = std::max(r, p.min_rate);
    return workload(std::move(rates), bin_s);
}

/// A Polimi sinusoidal profile with its noise, as the project generated it:
/// one N(0, noise_stddev²) draw per bin added to the midpoint value, then
/// clipped below at min_rate.
template <std::uniform_random_bit_generator Gen>
workload noisy_sinusoidal(const polimi_intensity& p, double duration_s, Gen& gen, double bin_s = 1.0) {
    detail::validate(p);
    std::vector<double> rates(detail::bin_count(duration_s, bin_s));
    for (std::size_t k = 0; k < rates.size(); ++k) {
        // The noise is added to the unclipped sinusoid, as the notebook does.
        const double mid = (static_cast<double>(k) + 0.5) * bin_s;
        const double clean = p.mean + p.amplitude * std::sin(2 * std::numbers::pi * mid / p.period_s + p.phase);
        rates[k] = std::max(p.min_rate, clean + p.noise_stddev * standard_normal(gen));
    }
    return workload(std::move(rates), bin_s);
}

/// polimi_intensity::low() without noise, for duration_s (default: one 180-s cycle).
inline workload sinusoidal_low(double duration_s = 180, double bin_s = 1.0) {
    return sinusoidal(polimi_intensity::low(), duration_s, bin_s);
}

/// polimi_intensity::medium() without noise, for duration_s (default: one 180-s cycle).
inline workload sinusoidal_medium(double duration_s = 180, double bin_s = 1.0) {
    return sinusoidal(polimi_intensity::medium(), duration_s, bin_s);
}

/// polimi_intensity::high() without noise, for duration_s (default: one 180-s cycle).
inline workload sinusoidal_high(double duration_s = 180, double bin_s = 1.0) {
    return sinusoidal(polimi_intensity::high(), duration_s, bin_s);
}

/// `before` req/s until at_s, `after` from then on; a bin straddling at_s
/// holds the mean over the bin.
inline workload step(double before, double after, double at_s, double duration_s, double bin_s = 1.0) {
    check_fields("").at_least("before", before, 0).at_least("after", after, 0).at_least("at_s", at_s, 0);
    return workload(detail::bin_means(
                        [&](double t) { return before * std::min(t, at_s) + after * std::max(0.0, t - at_s); },
                        duration_s, bin_s),
                    bin_s);
}

/// `base` req/s, except `peak` during [start_s, start_s + length_s); bins
/// straddling an edge hold the mean over the bin.
inline workload spike(double base, double peak, double start_s, double length_s, double duration_s,
                      double bin_s = 1.0) {
    check_fields("")
        .at_least("base", base, 0)
        .at_least("peak", peak, 0)
        .at_least("start_s", start_s, 0)
        .greater("length_s", length_s, 0);
    return workload(detail::bin_means(
                        [&](double t) {
                            return base * t + (peak - base) * detail::overlap(0, t, start_s, start_s + length_s);
                        },
                        duration_s, bin_s),
                    bin_s);
}

/// Bursts: on_rate req/s for on_s, then 0 for off_s, repeated from t = 0;
/// bins straddling an edge hold the mean over the bin.
inline workload on_off(double on_rate, double on_s, double off_s, double duration_s, double bin_s = 1.0) {
    check_fields("").at_least("on_rate", on_rate, 0).greater("on_s", on_s, 0).at_least("off_s", off_s, 0);
    const double period = on_s + off_s;
    return workload(detail::bin_means(
                        [&](double t) {
                            // on-time in [0, t]: on_s per whole period, plus the part of the last one
                            const double periods = std::floor(t / period);
                            const double into = std::max(0.0, t - periods * period);
                            return on_rate * (periods * on_s + std::min(into, on_s));
                        },
                        duration_s, bin_s),
                    bin_s);
}

/// A random walk of the rate, one step per bin: r₀ = start,
/// r_{k+1} = r_k + step_stddev·z (z standard normal), reflected at min and
/// max so it does not stick to a bound.
template <std::uniform_random_bit_generator Gen>
workload random_walk(double start, double step_stddev, double min, double max, double duration_s, Gen& gen,
                     double bin_s = 1.0) {
    check_fields("")
        .at_least("min", min, 0)
        .at_least("max", max, 0)
        .at_least_field("max", max, "min", min)
        .finite("start", start)
        .require(start >= min && start <= max, "start",
                 "be in [min, max] = [" + format_number(min) + ", " + format_number(max) + "]", start)
        .at_least("step_stddev", step_stddev, 0);
    std::vector<double> rates(detail::bin_count(duration_s, bin_s));
    double r = start;
    for (std::size_t k = 0; k < rates.size(); ++k) {
        rates[k] = r;
        r += step_stddev * standard_normal(gen);
        // Reflect (a large step may need several), then clamp against rounding.
        for (int i = 0; i < 4 && (r < min || r > max); ++i) r = r < min ? 2 * min - r : 2 * max - r;
        r = std::clamp(r, min, max);
    }
    return workload(std::move(rates), bin_s);
}

/// A workload read from a text file: one rate (requests/second) per line,
/// one line per second; '#' starts a comment, blank lines are skipped, and a
/// UTF-8 byte-order mark at the start of the file is dropped (as the Azure
/// trace readers do). Throws data_file_error naming the file and line of a bad value.
inline workload from_rate_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw data_file_error(path, 0, 0, "cannot open rate file");
    std::vector<double> rates;
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string_view text(line);
        if (number == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a byte-order mark
        if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
        const auto first = text.find_first_not_of(" \t\r\f\v");
        if (first == std::string_view::npos) continue;
        text = text.substr(first, text.find_last_not_of(" \t\r\f\v") - first + 1);
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || end != text.data() + text.size()) {
            throw data_file_error(path, number, 0, "expected one rate (requests/second), got \"" + std::string(text) + "\"");
        }
        if (!(std::isfinite(value) && value >= 0)) {
            throw data_file_error(path, number, 0, "rate must be finite and >= 0, got " + std::string(text));
        }
        rates.push_back(value);
    }
    if (in.bad()) throw data_file_error(path, 0, 0, "read error");
    if (rates.empty()) throw data_file_error(path, 0, 0, "no rates: expected one rate per line");
    return workload(std::move(rates), 1.0);
}

}  // namespace rlscale::sim
