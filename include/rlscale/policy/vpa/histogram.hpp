#pragma once

/// The Kubernetes VPA recommender's histograms, from kubernetes/autoscaler
/// vertical-pod-autoscaler/pkg/recommender/util/:
///
/// - histogram_options (histogram_options.go): linear or exponential
///   buckets. Exponential bucket n ≥ 1 starts at
///   first_bucket_size · (ratio^n − 1) / (ratio − 1); the last bucket starts
///   at or above max_value and has no upper end.
/// - histogram (histogram.go): a weight per bucket, the total weight, and the
///   first and last non-empty buckets (a bucket is empty below epsilon).
///   percentile(p) returns the END of the bucket where the cumulative weight
///   first reaches p · total (the start of the last bucket if it is the last
///   one), 0 when the histogram is empty.
/// - decaying_histogram (decaying_histogram.go): a sample's weight is
///   multiplied by 2^((t − reference) / half_life); the reference timestamp,
///   a whole multiple of the half-life, moves forward (rescaling every
///   weight by a power of two) once a sample would need a factor above
///   2^100, so weights never overflow.
///
/// Storage is sized at construction; adding, subtracting, merging and
/// percentiles never allocate and never throw. Where Go panics (a negative
/// weight, histograms with different options) these do nothing instead.
/// Times are seconds on the caller's clock. Checkpoints (SaveToChekpoint,
/// LoadFromCheckpoint) are not reproduced. See docs/vpa.md.

#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rlscale::vpa {

/// The number and size of a histogram's buckets (HistogramOptions).
class histogram_options {
public:
    /// Buckets [0, s), [s, 2s), ... up to the first bucket starting at or
    /// above max_value (NewLinearHistogramOptions). Throws config_error
    /// unless max_value, bucket_size and epsilon are finite and > 0.
    [[nodiscard]] static histogram_options linear(double max_value, double bucket_size, double epsilon) {
        check_fields("histogram_options")
            .greater("max_value", max_value, 0.0)
            .greater("bucket_size", bucket_size, 0.0)
            .greater("epsilon", epsilon, 0.0);
        const double n = std::ceil(max_value / bucket_size) + 1;
        check_buckets(n);
        return histogram_options(kind::linear, static_cast<int>(n), bucket_size, 1.0, epsilon);
    }

    /// Buckets growing by `ratio`, the first [0, first_bucket_size), up to the
    /// first bucket starting at or above max_value
    /// (NewExponentialHistogramOptions): ⌈log_ratio(max·(ratio−1)/first + 1)⌉ + 1
    /// buckets. Throws config_error unless max_value, first_bucket_size and
    /// epsilon are finite and > 0 and ratio > 1.
    [[nodiscard]] static histogram_options exponential(double max_value, double first_bucket_size, double ratio, double epsilon) {
        check_fields("histogram_options")
            .greater("max_value", max_value, 0.0)
            .greater("first_bucket_size", first_bucket_size, 0.0)
            .greater("ratio", ratio, 1.0)
            .greater("epsilon", epsilon, 0.0);
        const double n = exponential_buckets(max_value, first_bucket_size, ratio);
        check_buckets(n);
        return histogram_options(kind::exponential, static_cast<int>(n), first_bucket_size, ratio, epsilon);
    }

    /// The most buckets a histogram may have: a guard against a
    /// configuration that would allocate without bound.
    static constexpr int max_buckets = 1 << 20;

    /// The number of buckets exponential() makes for these values, before
    /// its checks (infinite or NaN where the formula overflows or ratio is
    /// not above 1), for a caller that checks them under its own names.
    [[nodiscard]] static double exponential_buckets(double max_value, double first_bucket_size, double ratio) noexcept {
        return std::ceil(log(ratio, max_value * (ratio - 1) / first_bucket_size + 1)) + 1;
    }

    /// Number of buckets (NumBuckets).
    [[nodiscard]] int num_buckets() const noexcept { return num_buckets_; }

    /// Minimum weight of a non-empty bucket (Epsilon).
    [[nodiscard]] double epsilon() const noexcept { return epsilon_; }

    /// The bucket `value` falls in; values outside the range go to the first
    /// or the last bucket (FindBucket). NaN goes to the first.
    [[nodiscard]] int find_bucket(double value) const noexcept {
        const int last = num_buckets_ - 1;
        double b = 0;
        if (kind_ == kind::linear) {
            b = value / size_;  // int(value / bucketSize)
        } else {
            if (!(value >= size_)) return 0;  // value < firstBucketSize
            // bucket(value) = floor(log_ratio(value/first·(ratio−1) + 1))
            b = log(ratio_, value * (ratio_ - 1) / size_ + 1);
        }
        if (!(b >= 0)) return 0;
        if (b >= static_cast<double>(last)) return last;
        return static_cast<int>(b);  // truncation, as Go's int()
    }

    /// Where bucket `bucket` starts (GetBucketStart); an index outside
    /// [0, num_buckets) is brought into it (Go panics).
    [[nodiscard]] double bucket_start(int bucket) const noexcept {
        bucket = std::clamp(bucket, 0, num_buckets_ - 1);
        if (kind_ == kind::linear) return static_cast<double>(bucket) * size_;
        if (bucket == 0) return 0.0;
        return size_ * (std::pow(ratio_, static_cast<double>(bucket)) - 1) / (ratio_ - 1);
    }

    [[nodiscard]] bool operator==(const histogram_options&) const = default;

private:
    enum class kind : std::uint8_t { linear, exponential };

    histogram_options(kind k, int n, double size, double ratio, double epsilon) noexcept
        : kind_(k), num_buckets_(n), size_(size), ratio_(ratio), epsilon_(epsilon) {}

    /// Go's log(base, x) = ln x / ln base.
    [[nodiscard]] static double log(double base, double x) noexcept { return std::log(x) / std::log(base); }

    static void check_buckets(double n) {
        check_fields("histogram_options")
            .require(n >= 1 && n <= max_buckets, "num_buckets", "be in [1, " + format_number(max_buckets) + "]", n);
    }

    kind kind_ = kind::linear;
    int num_buckets_ = 1;
    double size_ = 1;    ///< bucket size (linear) or first bucket size (exponential)
    double ratio_ = 1;   ///< growth of each bucket over the previous (exponential)
    double epsilon_ = 1;
};

/// A weighted histogram over fixed buckets (histogram.go's histogram).
class histogram {
public:
    /// An empty histogram: min_bucket at the last bucket, max_bucket at 0.
    explicit histogram(histogram_options options)
        : options_(options),
          weights_(static_cast<std::size_t>(options.num_buckets()), 0.0),
          min_bucket_(options.num_buckets() - 1) {}

    /// Adds `weight` to the bucket of `value` (AddSample). A negative or
    /// non-finite weight is ignored (Go panics on a negative one).
    void add_sample(double value, double weight) noexcept {
        if (!(weight >= 0 && std::isfinite(weight))) return;
        const int bucket = options_.find_bucket(value);
        at(bucket) += weight;
        total_weight_ += weight;
        if (bucket < min_bucket_ && at(bucket) >= options_.epsilon()) min_bucket_ = bucket;
        if (bucket > max_bucket_ && at(bucket) >= options_.epsilon()) max_bucket_ = bucket;
    }

    /// Removes `weight` from the bucket of `value`; a bucket or total that
    /// falls below epsilon becomes 0 (SubtractSample, safeSubtract).
    void subtract_sample(double value, double weight) noexcept {
        if (!(weight >= 0 && std::isfinite(weight))) return;
        const int bucket = options_.find_bucket(value);
        total_weight_ = safe_subtract(total_weight_, weight, options_.epsilon());
        at(bucket) = safe_subtract(at(bucket), weight, options_.epsilon());
        update_min_and_max_bucket();
    }

    /// Adds every bucket of `other` (Merge). False, and nothing merged, when
    /// the options differ (Go panics).
    bool merge(const histogram& other) noexcept {
        if (!(options_ == other.options_)) return false;
        for (int b = other.min_bucket_; b <= other.max_bucket_; ++b) at(b) += other.at(b);
        total_weight_ += other.total_weight_;
        min_bucket_ = std::min(min_bucket_, other.min_bucket_);
        max_bucket_ = std::max(max_bucket_, other.max_bucket_);
        return true;
    }

    /// The p-th percentile (0 ≤ p ≤ 1; below 0 gives the smallest value,
    /// above 1 the largest): the end of the first bucket where the
    /// cumulative weight reaches p · total, the start of the last bucket if
    /// that is it (it has no end); 0 when empty (Percentile).
    [[nodiscard]] double percentile(double p) const noexcept {
        if (empty()) return 0.0;
        double partial_sum = 0.0;
        const double threshold = p * total_weight_;
        int bucket = min_bucket_;
        for (; bucket < max_bucket_; ++bucket) {
            partial_sum += at(bucket);
            if (partial_sum >= threshold) break;
        }
        if (bucket < options_.num_buckets() - 1) return options_.bucket_start(bucket + 1);  // the end of the bucket
        return options_.bucket_start(bucket);
    }

    /// Whether no bucket holds epsilon or more (IsEmpty).
    [[nodiscard]] bool empty() const noexcept { return at(min_bucket_) < options_.epsilon(); }

    /// Same options, same non-empty range and bucket weights within 1e-15 (Equals).
    [[nodiscard]] bool equals(const histogram& other) const noexcept {
        if (!(options_ == other.options_) || min_bucket_ != other.min_bucket_ || max_bucket_ != other.max_bucket_) return false;
        for (int b = min_bucket_; b <= max_bucket_; ++b) {
            const double diff = at(b) - other.at(b);
            if (diff > 1e-15 || diff < -1e-15) return false;
        }
        return true;
    }

    /// Multiplies every weight by `factor` ≥ 0 (percentiles do not change);
    /// buckets that fall below epsilon leave the non-empty range (scale).
    void scale(double factor) noexcept {
        if (!(factor >= 0)) return;
        for (int b = min_bucket_; b <= max_bucket_; ++b) at(b) *= factor;
        total_weight_ *= factor;
        update_min_and_max_bucket();
    }

    [[nodiscard]] const histogram_options& options() const noexcept { return options_; }
    [[nodiscard]] double total_weight() const noexcept { return total_weight_; }
    [[nodiscard]] double bucket_weight(int bucket) const noexcept { return at(std::clamp(bucket, 0, options_.num_buckets() - 1)); }
    /// First non-empty bucket, or the last bucket when empty.
    [[nodiscard]] int min_bucket() const noexcept { return min_bucket_; }
    /// Last non-empty bucket, or 0 when empty.
    [[nodiscard]] int max_bucket() const noexcept { return max_bucket_; }

private:
    /// Every weight and the total to 0, the range empty (as constructed).
    void clear() noexcept {
        std::fill(weights_.begin(), weights_.end(), 0.0);
        total_weight_ = 0;
        min_bucket_ = options_.num_buckets() - 1;
        max_bucket_ = 0;
    }

    [[nodiscard]] static double safe_subtract(double value, double sub, double epsilon) noexcept {
        value -= sub;
        return value < epsilon ? 0.0 : value;
    }

    /// Moves min_bucket up and max_bucket down past empty buckets
    /// (updateMinAndMaxBucket).
    void update_min_and_max_bucket() noexcept {
        const double epsilon = options_.epsilon();
        const int last = options_.num_buckets() - 1;
        while (at(min_bucket_) < epsilon && min_bucket_ < last) ++min_bucket_;
        while (at(max_bucket_) < epsilon && max_bucket_ > 0) --max_bucket_;
    }

    // Bucket indices are never negative; the max tells the compiler so
    // (GCC 12's -Warray-bounds cannot prove it through percentile's loop).
    [[nodiscard]] double& at(int b) noexcept { return weights_[static_cast<std::size_t>(std::max(b, 0))]; }
    [[nodiscard]] double at(int b) const noexcept { return weights_[static_cast<std::size_t>(std::max(b, 0))]; }

    friend class decaying_histogram;

    histogram_options options_;
    std::vector<double> weights_;  ///< cumulative weight per bucket
    double total_weight_ = 0.0;
    int min_bucket_ = 0;
    int max_bucket_ = 0;
};

/// A histogram whose samples lose half their weight every half-life
/// (decaying_histogram.go). Only relative weights matter, so the reference
/// timestamp may move at any time, rescaling every weight by a power of two.
class decaying_histogram {
public:
    /// Renormalise once a decay factor would exceed 2^max_decay_exponent (maxDecayExponent).
    static constexpr int max_decay_exponent = 100;

    /// An empty histogram with reference timestamp 0 (Go's zero time).
    /// Throws config_error unless half_life_s is finite and > 0.
    decaying_histogram(histogram_options options, double half_life_s) : histogram_(options), half_life_s_(half_life_s) {
        check_fields("decaying_histogram").greater("half_life_s", half_life_s, 0.0);
    }

    /// Adds `value` with weight · 2^((t − reference) / half_life) (AddSample).
    /// A non-finite time is ignored.
    void add_sample(double value, double weight, double time_s) noexcept {
        if (!std::isfinite(time_s)) return;
        histogram_.add_sample(value, weight * decay_factor(time_s));
    }

    /// Removes a sample added with the same value, weight and time (SubtractSample).
    void subtract_sample(double value, double weight, double time_s) noexcept {
        if (!std::isfinite(time_s)) return;
        histogram_.subtract_sample(value, weight * decay_factor(time_s));
    }

    /// Adds `other`'s samples, first aligning the older reference timestamp
    /// with the younger (Merge; Go shifts `other` in place, this scales its
    /// weights on the way in with the same result). False, and nothing
    /// merged, when the half-lives or the options differ.
    bool merge(const decaying_histogram& other) noexcept {
        if (half_life_s_ != other.half_life_s_ || !(histogram_.options() == other.histogram_.options())) return false;
        if (reference_s_ < other.reference_s_) shift_reference_timestamp(other.reference_s_);
        double factor = 1.0;
        if (other.reference_s_ < reference_s_) {
            // other.shiftReferenceTimestamp(h.referenceTimestamp): reference_s_
            // is already a multiple of the half-life, so Round leaves it.
            factor = std::ldexp(1.0, shift_exponent(other.reference_s_, reference_s_));
        }
        if (factor == 1.0) return histogram_.merge(other.histogram_);
        // other.scale(factor), then histogram.Merge. factor < 1, and buckets
        // outside other's non-empty range hold less than epsilon, so the
        // scaled range is [lo, hi] inside [min_bucket, max_bucket].
        const histogram& o = other.histogram_;
        const double epsilon = o.options_.epsilon();
        const int last = o.options_.num_buckets() - 1;
        int lo = o.min_bucket_;
        int hi = o.max_bucket_;
        while (o.at(lo) * factor < epsilon && lo < last) ++lo;
        while (o.at(hi) * factor < epsilon && hi > 0) --hi;
        for (int b = lo; b <= hi; ++b) histogram_.at(b) += o.at(b) * factor;
        histogram_.total_weight_ += o.total_weight_ * factor;
        histogram_.min_bucket_ = std::min(histogram_.min_bucket_, lo);
        histogram_.max_bucket_ = std::max(histogram_.max_bucket_, hi);
        return true;
    }

    /// The p-th percentile of the decayed weights (Percentile).
    [[nodiscard]] double percentile(double p) const noexcept { return histogram_.percentile(p); }
    /// Whether no bucket holds epsilon or more (IsEmpty).
    [[nodiscard]] bool empty() const noexcept { return histogram_.empty(); }

    /// Same half-life, same reference timestamp and equal histograms (Equals).
    [[nodiscard]] bool equals(const decaying_histogram& other) const noexcept {
        return half_life_s_ == other.half_life_s_ && reference_s_ == other.reference_s_ && histogram_.equals(other.histogram_);
    }

    [[nodiscard]] const histogram& buckets() const noexcept { return histogram_; }
    [[nodiscard]] double half_life_s() const noexcept { return half_life_s_; }
    /// The time whose samples have weight factor 1; a multiple of the half-life.
    [[nodiscard]] double reference_timestamp_s() const noexcept { return reference_s_; }

private:
    /// round((from − to) / half_life), bounded so ldexp stays defined
    /// (beyond ±2000 the factor is 0 or ∞ anyway).
    [[nodiscard]] int shift_exponent(double from, double to) const noexcept {
        const double e = std::floor((from - to) / half_life_s_ + 0.5);
        return static_cast<int>(std::clamp(e, -2000.0, 2000.0));
    }

    /// Moves the reference to `t` rounded to a multiple of the half-life
    /// (Go's Time.Round: halfway rounds up) and rescales every weight by
    /// 2^((old − new) / half_life) (shiftReferenceTimestamp).
    void shift_reference_timestamp(double t) noexcept {
        const double new_reference = std::floor(t / half_life_s_ + 0.5) * half_life_s_;
        histogram_.scale(std::ldexp(1.0, shift_exponent(reference_s_, new_reference)));
        reference_s_ = new_reference;
    }

    /// 2^((t − reference) / half_life), renormalising first when t is more
    /// than max_decay_exponent half-lives past the reference (decayFactor).
    /// An empty histogram also moves its reference back to a sample before
    /// it: the reference starts at 0 and Go's at the zero time, before every
    /// real timestamp, but a caller's clock may start below 0, and samples
    /// far before the reference would weigh less than epsilon and never
    /// count.
    double decay_factor(double t) noexcept {
        const double max_allowed = reference_s_ + half_life_s_ * max_decay_exponent;
        if (t > max_allowed) {
            shift_reference_timestamp(t);
        } else if (t < reference_s_ && histogram_.empty()) {
            histogram_.clear();  // what is left is below epsilon: forgotten, not scaled up
            reference_s_ = std::floor(t / half_life_s_ + 0.5) * half_life_s_;
        }
        return std::exp2((t - reference_s_) / half_life_s_);
    }

    histogram histogram_;
    double half_life_s_ = 86400;
    double reference_s_ = 0;
};

}  // namespace rlscale::vpa
