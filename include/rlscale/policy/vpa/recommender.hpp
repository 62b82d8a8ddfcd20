#pragma once

/// The Kubernetes VPA recommender for one container, from
/// kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender/:
///
/// - model/aggregations_config.go: histogram options and defaults
///   (`config`);
/// - model/aggregate_container_state.go: the CPU usage and memory peak
///   histograms, first/last sample times and sample count
///   (`aggregate_container_state`);
/// - model/container.go: one memory peak per aggregation interval and the
///   OOM bump (`container_state`);
/// - logic/estimator.go: percentile, margin, confidence multiplier and
///   minimum estimators (free functions);
/// - logic/recommender.go: target p90, lower bound p50, upper bound p95,
///   each plus a 15 % margin, the bounds widened by the confidence
///   multiplier, at least 25 millicores and 250 MiB
///   (`estimate_container_resources`);
///
/// and `recommender`, which holds the three for one container and speaks
/// rlscale's units (cores, MB). Quantities inside follow Go's
/// `ResourceAmount`: an int64 of millicores or bytes, truncated where Go
/// truncates, so the tests can check Go's exact numbers. See docs/vpa.md.

#include <rlscale/core/validate.hpp>
#include <rlscale/policy/vpa/histogram.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace rlscale::vpa {

// ---------------------------------------------------------------------------
// Quantities (model/types.go)

/// An amount of a resource: millicores for CPU, bytes for memory (ResourceAmount).
using resource_amount = std::int64_t;

/// The largest amount the VPA represents (MaxResourceAmount = 1e14).
inline constexpr resource_amount max_resource_amount = 100'000'000'000'000;

/// `amount` truncated to an integer within [0, 1e14] (resourceAmountFromFloat);
/// NaN gives 0.
[[nodiscard]] inline resource_amount resource_amount_from_float(double amount) noexcept {
    if (std::isnan(amount)) return 0;
    if (amount > static_cast<double>(max_resource_amount)) return max_resource_amount;
    if (amount < 0) amount = 0;
    return static_cast<resource_amount>(amount);
}
/// Cores to millicores (CPUAmountFromCores).
[[nodiscard]] inline resource_amount cpu_amount_from_cores(double cores) noexcept { return resource_amount_from_float(cores * 1000.0); }
/// Millicores to cores (CoresFromCPUAmount).
[[nodiscard]] inline double cores_from_cpu_amount(resource_amount a) noexcept { return static_cast<double>(a) / 1000.0; }
/// Bytes to an amount (MemoryAmountFromBytes).
[[nodiscard]] inline resource_amount memory_amount_from_bytes(double bytes) noexcept { return resource_amount_from_float(bytes); }
/// An amount to bytes (BytesFromMemoryAmount).
[[nodiscard]] inline double bytes_from_memory_amount(resource_amount a) noexcept { return static_cast<double>(a); }
/// `a` × `factor`, truncated (ScaleResource).
[[nodiscard]] inline resource_amount scale_resource(resource_amount a, double factor) noexcept {
    return resource_amount_from_float(static_cast<double>(a) * factor);
}

/// CPU and memory amounts of one container (model.Resources).
struct resources {
    resource_amount cpu = 0;     ///< millicores
    resource_amount memory = 0;  ///< bytes
};

/// What the recommender recommends for one container (RecommendedContainerResources).
struct recommended_container_resources {
    resources target;       ///< recommended amount
    resources lower_bound;  ///< below this the updater would resize
    resources upper_bound;  ///< above this the updater would resize
};

// ---------------------------------------------------------------------------
// Configuration

/// Every parameter of the VPA recommender, with its defaults
/// (model/aggregations_config.go, recommender/config/config.go,
/// logic/recommender.go). Times in seconds.
struct config {
    // Histograms (aggregations_config.go). Changing the bucket scheme in Go
    // requires a new checkpoint version.
    double cpu_histogram_decay_half_life_s = 24 * 3600.0;     ///< CPUHistogramDecayHalfLife
    double memory_histogram_decay_half_life_s = 24 * 3600.0;  ///< MemoryHistogramDecayHalfLife
    double histogram_bucket_size_growth = 0.05;               ///< each bucket 5 % wider than the last (ratio 1.05)
    double cpu_histogram_first_bucket_cores = 0.01;           ///< first CPU bucket [0, 0.01) cores
    double cpu_histogram_max_cores = 1000.0;                  ///< CPU buckets up to 1000 cores
    double memory_histogram_first_bucket_bytes = 1e7;         ///< first memory bucket [0, 1e7) bytes
    double memory_histogram_max_bytes = 1e12;                 ///< memory buckets up to 1e12 bytes
    double min_sample_weight = 0.1;                           ///< minSampleWeight; histogram epsilon = 0.001 × this
    bool cpu_sample_weight_by_request = false;                ///< weight CPU samples by max(request, min_sample_weight), as the VPA did before kubernetes/autoscaler ca812b36 (2025); now every sample weighs min_sample_weight
    double memory_aggregation_interval_s = 24 * 3600.0;       ///< one memory peak per interval (MemoryAggregationInterval)
    std::int64_t memory_aggregation_interval_count = 8;       ///< intervals in the aggregation window (state expires after it)
    double oom_bump_up_ratio = 1.2;                           ///< after an OOM, memory × this (OOMBumpUpRatio)
    double oom_min_bump_up_bytes = 100.0 * 1024 * 1024;       ///< ... and at least this much more (OOMMinBumpUp, 100 MiB)

    // Estimators (config.go's defaults, recommender.go's formulas).
    double safety_margin_fraction = 0.15;             ///< each estimate × (1 + this)
    double pod_min_cpu_millicores = 25;               ///< smallest CPU recommendation
    double pod_min_memory_mb = 250;                   ///< smallest memory recommendation, in the VPA's MB (× 1024 × 1024 bytes)
    double target_cpu_percentile = 0.9;               ///< TargetCPUPercentile
    double lower_bound_cpu_percentile = 0.5;          ///< LowerBoundCPUPercentile
    double upper_bound_cpu_percentile = 0.95;         ///< UpperBoundCPUPercentile
    double target_memory_percentile = 0.9;            ///< TargetMemoryPercentile
    double lower_bound_memory_percentile = 0.5;       ///< LowerBoundMemoryPercentile
    double upper_bound_memory_percentile = 0.95;      ///< UpperBoundMemoryPercentile
    double confidence_interval_cpu_s = 24 * 3600.0;     ///< history length that counts as confidence 1 (ConfidenceIntervalCPU)
    double confidence_interval_memory_s = 24 * 3600.0;  ///< ConfidenceIntervalMemory
    double upper_bound_confidence_multiplier = 1.0;   ///< upper bound × (1 + this/confidence)^exponent
    double upper_bound_confidence_exponent = 1.0;     ///< no history: ×∞ (capped at 1e14), 1 day: ×2, 1 week: ×1.14
    double lower_bound_confidence_multiplier = 0.001; ///< lower bound × (1 + this/confidence)^exponent
    double lower_bound_confidence_exponent = -2.0;    ///< no history: ×0, 5 min: ×0.6, 1 h: ×0.95

    // Units.
    double bytes_per_mb = 1024.0 * 1024.0;  ///< bytes in one rlscale MB (MiB, as the Prometheus adapter and the VPA's own "MB" count)

    /// The CPU histogram's buckets (cpuHistogramOptions).
    [[nodiscard]] histogram_options cpu_histogram_options() const {
        return histogram_options::exponential(cpu_histogram_max_cores, cpu_histogram_first_bucket_cores, 1.0 + histogram_bucket_size_growth,
                                              epsilon());
    }
    /// The memory histogram's buckets (memoryHistogramOptions).
    [[nodiscard]] histogram_options memory_histogram_options() const {
        return histogram_options::exponential(memory_histogram_max_bytes, memory_histogram_first_bucket_bytes,
                                              1.0 + histogram_bucket_size_growth, epsilon());
    }
    /// The smallest weight a histogram keeps (epsilon = 0.001 × minSampleWeight).
    [[nodiscard]] double epsilon() const noexcept { return 0.001 * min_sample_weight; }
    /// How long a container's state lives without samples (GetMemoryAggregationWindowLength).
    [[nodiscard]] double memory_aggregation_window_s() const noexcept {
        return memory_aggregation_interval_s * static_cast<double>(memory_aggregation_interval_count);
    }

    /// Throws config_error naming the first field out of range.
    void validate() const {
        check_fields("vpa_config")
            .greater("cpu_histogram_decay_half_life_s", cpu_histogram_decay_half_life_s, 0.0)
            .greater("memory_histogram_decay_half_life_s", memory_histogram_decay_half_life_s, 0.0)
            .greater("histogram_bucket_size_growth", histogram_bucket_size_growth, 0.0)
            .greater("cpu_histogram_first_bucket_cores", cpu_histogram_first_bucket_cores, 0.0)
            .greater_field("cpu_histogram_max_cores", cpu_histogram_max_cores, "cpu_histogram_first_bucket_cores",
                           cpu_histogram_first_bucket_cores)
            .greater("memory_histogram_first_bucket_bytes", memory_histogram_first_bucket_bytes, 0.0)
            .greater_field("memory_histogram_max_bytes", memory_histogram_max_bytes, "memory_histogram_first_bucket_bytes",
                           memory_histogram_first_bucket_bytes)
            .greater("min_sample_weight", min_sample_weight, 0.0)
            .greater("memory_aggregation_interval_s", memory_aggregation_interval_s, 0.0)
            .at_least("memory_aggregation_interval_count", memory_aggregation_interval_count, std::int64_t{1})
            .at_least("oom_bump_up_ratio", oom_bump_up_ratio, 1.0)
            .at_least("oom_min_bump_up_bytes", oom_min_bump_up_bytes, 0.0)
            .at_least("safety_margin_fraction", safety_margin_fraction, 0.0)
            .at_least("pod_min_cpu_millicores", pod_min_cpu_millicores, 0.0)
            .at_least("pod_min_memory_mb", pod_min_memory_mb, 0.0)
            .in("target_cpu_percentile", target_cpu_percentile, 0.0, 1.0)
            .in("lower_bound_cpu_percentile", lower_bound_cpu_percentile, 0.0, 1.0)
            .in("upper_bound_cpu_percentile", upper_bound_cpu_percentile, 0.0, 1.0)
            .in("target_memory_percentile", target_memory_percentile, 0.0, 1.0)
            .in("lower_bound_memory_percentile", lower_bound_memory_percentile, 0.0, 1.0)
            .in("upper_bound_memory_percentile", upper_bound_memory_percentile, 0.0, 1.0)
            // lower bound ≤ target ≤ upper bound: a lower bound above the
            // target (or a target above the upper bound) puts every target
            // outside its own bounds, and the updater would resize on every
            // recommendation.
            .require(lower_bound_cpu_percentile <= target_cpu_percentile, "lower_bound_cpu_percentile",
                     "be <= target_cpu_percentile (" + format_number(target_cpu_percentile) + ")", lower_bound_cpu_percentile)
            .at_least_field("upper_bound_cpu_percentile", upper_bound_cpu_percentile, "target_cpu_percentile", target_cpu_percentile)
            .require(lower_bound_memory_percentile <= target_memory_percentile, "lower_bound_memory_percentile",
                     "be <= target_memory_percentile (" + format_number(target_memory_percentile) + ")",
                     lower_bound_memory_percentile)
            .at_least_field("upper_bound_memory_percentile", upper_bound_memory_percentile, "target_memory_percentile",
                            target_memory_percentile)
            .greater("confidence_interval_cpu_s", confidence_interval_cpu_s, 0.0)
            .greater("confidence_interval_memory_s", confidence_interval_memory_s, 0.0)
            // (1 + multiplier / confidence)^exponent, with the base above 1:
            // the upper bound's exponent ≥ 0 widens it upwards (Go's 1.0) and
            // the lower bound's ≤ 0 widens it downwards (Go's −2.0); the other
            // sign would narrow a bound past the target on a short history.
            .greater("upper_bound_confidence_multiplier", upper_bound_confidence_multiplier, 0.0)
            .at_least("upper_bound_confidence_exponent", upper_bound_confidence_exponent, 0.0)
            .greater("lower_bound_confidence_multiplier", lower_bound_confidence_multiplier, 0.0)
            .at_most("lower_bound_confidence_exponent", lower_bound_confidence_exponent, 0.0)
            .greater("bytes_per_mb", bytes_per_mb, 0.0);
        // The histograms' options check these again, under the names of
        // histogram_options' parameters (ratio, num_buckets, epsilon), which
        // no vpa_config holds: they are checked here first, by the field
        // that sets them. A growth below the double's resolution gives a
        // ratio of 1 (1 + 1e-17 == 1), and a small one needs about
        // max / first buckets.
        const check_fields check("vpa_config");
        check.require(1.0 + histogram_bucket_size_growth > 1.0, "histogram_bucket_size_growth", "be large enough that 1 + it > 1",
                      histogram_bucket_size_growth);
        check_histogram_buckets(check, "cpu_histogram_first_bucket_cores", cpu_histogram_first_bucket_cores, "cpu_histogram_max_cores",
                                cpu_histogram_max_cores);
        check_histogram_buckets(check, "memory_histogram_first_bucket_bytes", memory_histogram_first_bucket_bytes,
                                "memory_histogram_max_bytes", memory_histogram_max_bytes);
        check.require(epsilon() > 0, "min_sample_weight", "be large enough that 0.001 × it > 0", min_sample_weight);
        (void)cpu_histogram_options();
        (void)memory_histogram_options();
    }

private:
    /// Refuses a histogram from `first` to `max` with more buckets than
    /// histogram_options::max_buckets at this growth, naming the growth; a
    /// count that overflows (a maximum near the double's range over a tiny
    /// first bucket) names the maximum.
    void check_histogram_buckets(const check_fields& check, const std::string& first_field, double first, const std::string& max_field,
                                 double max) const {
        const double n = histogram_options::exponential_buckets(max, first, 1.0 + histogram_bucket_size_growth);
        const std::string from = first_field + " (" + format_number(first) + ")";
        check.require(std::isfinite(n), max_field,
                      "give a finite number of histogram buckets from " + from + " at histogram_bucket_size_growth (" +
                          format_number(histogram_bucket_size_growth) + ")",
                      max);
        check.require(n <= histogram_options::max_buckets, "histogram_bucket_size_growth",
                      "give at most " + format_number(histogram_options::max_buckets) + " histogram buckets from " + from + " to " +
                          max_field + " (" + format_number(max) + ")",
                      histogram_bucket_size_growth);
    }
};

// ---------------------------------------------------------------------------
// Aggregation (model/aggregate_container_state.go)

/// The usage history of one container (or of every container with one
/// name): decaying histograms of CPU usage and of memory peaks, and the
/// first and last CPU sample times and count (AggregateContainerState).
class aggregate_container_state {
public:
    /// Empty histograms with `c`'s options and half-lives; `c` must be valid.
    explicit aggregate_container_state(const config& c, double created_s = 0)
        : aggregate_cpu_usage(c.cpu_histogram_options(), c.cpu_histogram_decay_half_life_s),
          aggregate_memory_peaks(c.memory_histogram_options(), c.memory_histogram_decay_half_life_s),
          creation_time_s(created_s),
          min_sample_weight_(c.min_sample_weight),
          weight_by_request_(c.cpu_sample_weight_by_request),
          window_s_(c.memory_aggregation_window_s()) {}

    decaying_histogram aggregate_cpu_usage;     ///< CPU usage, cores (AggregateCPUUsage)
    decaying_histogram aggregate_memory_peaks;  ///< one memory peak per container and interval, bytes (AggregateMemoryPeaks)
    double first_sample_start_s = 0;            ///< first CPU sample (FirstSampleStart); meaningless while total_samples_count is 0
    double last_sample_start_s = 0;             ///< last CPU sample (LastSampleStart)
    std::int64_t total_samples_count = 0;       ///< CPU samples aggregated (TotalSamplesCount)
    double creation_time_s = 0;                 ///< CreationTime

    /// A CPU usage sample of `usage` millicores measured from `time_s`
    /// (addCPUSample): weight min_sample_weight, or max(request in cores,
    /// min_sample_weight) with cpu_sample_weight_by_request.
    void add_cpu_sample(double time_s, resource_amount usage, resource_amount request) noexcept {
        const double weight =
            weight_by_request_ ? std::max(cores_from_cpu_amount(request), min_sample_weight_) : min_sample_weight_;
        aggregate_cpu_usage.add_sample(cores_from_cpu_amount(usage), weight, time_s);
        // Go tests FirstSampleStart.IsZero(); rlscale's clock may start at 0,
        // so the count says whether there is a first sample.
        if (total_samples_count == 0 || time_s > last_sample_start_s) last_sample_start_s = time_s;
        if (total_samples_count == 0 || time_s < first_sample_start_s) first_sample_start_s = time_s;
        ++total_samples_count;
    }
    /// A memory peak of `usage` bytes, weight 1, at `time_s` (AddSample, memory).
    void add_memory_sample(double time_s, resource_amount usage) noexcept {
        aggregate_memory_peaks.add_sample(bytes_from_memory_amount(usage), 1.0, time_s);
    }
    /// Removes a memory peak added before (SubtractSample, memory).
    void subtract_memory_sample(double time_s, resource_amount usage) noexcept {
        aggregate_memory_peaks.subtract_sample(bytes_from_memory_amount(usage), 1.0, time_s);
    }

    /// Adds `other`'s histograms, sample count and time span (MergeContainerState).
    void merge(const aggregate_container_state& other) noexcept {
        aggregate_cpu_usage.merge(other.aggregate_cpu_usage);
        aggregate_memory_peaks.merge(other.aggregate_memory_peaks);
        if (other.total_samples_count > 0) {
            if (total_samples_count == 0 || other.first_sample_start_s < first_sample_start_s) first_sample_start_s = other.first_sample_start_s;
            if (total_samples_count == 0 || other.last_sample_start_s > last_sample_start_s) last_sample_start_s = other.last_sample_start_s;
        }
        total_samples_count += other.total_samples_count;
    }

    /// Whether the state has had no sample for a whole aggregation window
    /// (interval × count), counted from its creation when it has none (isExpired).
    [[nodiscard]] bool is_expired(double now_s) const noexcept {
        if (total_samples_count == 0) return now_s - creation_time_s >= window_s_;
        return now_s - last_sample_start_s >= window_s_;
    }

private:
    double min_sample_weight_ = 0.1;
    bool weight_by_request_ = false;
    double window_s_ = 8 * 24 * 3600.0;
};

// ---------------------------------------------------------------------------
// One container (model/container.go)

/// One container's recent usage: its request, the memory peak of the
/// current aggregation interval, and the interval's end (ContainerState).
/// Samples go to an aggregator (aggregate_container_state, or anything with
/// its add_cpu_sample, add_memory_sample and subtract_memory_sample).
class container_state {
public:
    /// Interval and OOM parameters from `c`.
    explicit container_state(const config& c) noexcept
        : interval_s_(c.memory_aggregation_interval_s), oom_ratio_(c.oom_bump_up_ratio), oom_min_bytes_(c.oom_min_bump_up_bytes) {}

    resources request;  ///< the container's current request (Request)

    /// Adds a CPU sample unless its usage is negative or it does not come
    /// after the last one (addCPUSample). True when aggregated.
    template <typename Aggregator>
    bool add_cpu_sample(Aggregator& aggregator, double time_s, resource_amount usage) noexcept {
        if (usage < 0 || !std::isfinite(time_s) || (has_cpu_sample_ && !(time_s > last_cpu_sample_start_s_))) return false;
        aggregator.add_cpu_sample(time_s, usage, request.cpu);
        last_cpu_sample_start_s_ = time_s;
        has_cpu_sample_ = true;
        return true;
    }

    /// Adds a memory sample (addMemorySample). The aggregator holds one peak
    /// per interval, stamped with the interval's end: a sample before the end
    /// that beats the current peak replaces it (subtract, add); a sample at or
    /// after the end opens the interval that contains it and is its first
    /// peak. Samples older than the last are refused unless they come from
    /// an OOM. True when accepted.
    template <typename Aggregator>
    bool add_memory_sample(Aggregator& aggregator, double time_s, resource_amount usage, bool is_oom = false) noexcept {
        if (usage < 0 || !std::isfinite(time_s) || (!is_oom && has_memory_sample_ && time_s < last_memory_sample_start_s_)) return false;
        last_memory_sample_start_s_ = time_s;
        has_memory_sample_ = true;
        if (!has_window_) {  // the first sample
            window_end_s_ = time_s;
            has_window_ = true;
        }
        bool add_new_peak = false;
        if (time_s < window_end_s_) {
            const resource_amount old_max = max_memory_peak();
            if (old_max != 0 && usage > old_max) {
                aggregator.subtract_memory_sample(window_end_s_, old_max);  // remove the old peak
                add_new_peak = true;
            }
        } else {
            // Shift the window to the interval holding the sample: Go's
            // ts.Sub(WindowEnd).Truncate(interval) + interval.
            window_end_s_ += std::floor((time_s - window_end_s_) / interval_s_) * interval_s_ + interval_s_;
            memory_peak_ = 0;
            oom_peak_ = 0;
            add_new_peak = true;
        }
        if (add_new_peak) {
            aggregator.add_memory_sample(window_end_s_, usage);
            (is_oom ? oom_peak_ : memory_peak_) = usage;
        }
        return true;
    }

    /// Records an OOM kill at `time_s` of a container with `requested_memory`
    /// bytes (RecordOOM): a memory sample of max(used + min bump, used ×
    /// ratio), used = max(request, this interval's usage peak). Refused
    /// (false) when more than one interval older than the last memory sample.
    template <typename Aggregator>
    bool record_oom(Aggregator& aggregator, double time_s, resource_amount requested_memory) noexcept {
        if (!std::isfinite(time_s)) return false;
        if (has_memory_sample_ && time_s < last_memory_sample_start_s_ - interval_s_) return false;  // too old
        // Not the OOM peak: subsequent OOMs must not run the recommendation away.
        const resource_amount used = std::max(requested_memory, memory_peak_);
        const resource_amount needed = std::max(used + memory_amount_from_bytes(oom_min_bytes_), scale_resource(used, oom_ratio_));
        return add_memory_sample(aggregator, time_s, needed, true);
    }

    /// The larger of this interval's usage peak and OOM peak (GetMaxMemoryPeak).
    [[nodiscard]] resource_amount max_memory_peak() const noexcept { return std::max(memory_peak_, oom_peak_); }
    /// End of the current memory aggregation interval (WindowEnd, not inclusive).
    [[nodiscard]] double window_end_s() const noexcept { return window_end_s_; }

private:
    double interval_s_ = 24 * 3600.0;
    double oom_ratio_ = 1.2;
    double oom_min_bytes_ = 100.0 * 1024 * 1024;
    double last_cpu_sample_start_s_ = 0;
    bool has_cpu_sample_ = false;
    resource_amount memory_peak_ = 0;  ///< usage peak of the current interval
    resource_amount oom_peak_ = 0;     ///< OOM-estimated peak of the current interval
    double window_end_s_ = 0;
    bool has_window_ = false;
    double last_memory_sample_start_s_ = 0;
    bool has_memory_sample_ = false;
};

// ---------------------------------------------------------------------------
// Estimators (logic/estimator.go)

/// The p-th percentile of the CPU usage histogram (percentileCPUEstimator).
[[nodiscard]] inline resource_amount percentile_cpu_estimate(const aggregate_container_state& s, double p) noexcept {
    return cpu_amount_from_cores(s.aggregate_cpu_usage.percentile(p));
}
/// The p-th percentile of the memory peaks histogram (percentileMemoryEstimator).
[[nodiscard]] inline resource_amount percentile_memory_estimate(const aggregate_container_state& s, double p) noexcept {
    return memory_amount_from_bytes(s.aggregate_memory_peaks.percentile(p));
}
/// base + base × fraction (cpuMarginEstimator, memoryMarginEstimator).
[[nodiscard]] inline resource_amount with_margin(resource_amount base, double fraction) noexcept {
    return base + scale_resource(base, fraction);
}
/// How much history `s` holds, in units of `interval_s` (getConfidence):
/// min(time between the first and last sample, sample count / one per
/// minute), both over the interval. A day of one sample a minute is 1.
[[nodiscard]] inline double confidence(const aggregate_container_state& s, double interval_s) noexcept {
    const double lifespan = (s.last_sample_start_s - s.first_sample_start_s) / interval_s;
    const double samples = static_cast<double>(s.total_samples_count) / (interval_s / 60.0);
    return std::min(lifespan, samples);
}
/// base × (1 + multiplier / confidence)^exponent (cpuConfidenceMultiplier);
/// no history gives ×∞ (capped at 1e14) or ×0.
[[nodiscard]] inline resource_amount with_confidence_multiplier(resource_amount base, double multiplier, double exponent,
                                                                double confidence) noexcept {
    return scale_resource(base, std::pow(1.0 + multiplier / confidence, exponent));
}
/// max(base, minimum) (cpuMinResourceEstimator).
[[nodiscard]] inline resource_amount with_min_resource(resource_amount base, resource_amount minimum) noexcept {
    return std::max(base, minimum);
}

/// The recommendation for one container of a pod with `containers`
/// containers (podResourceRecommender.estimateContainerResources, with
/// GetRecommendedPodResources's minimums split evenly across the pod's
/// containers): each estimate is a percentile plus the margin; the bounds
/// are then scaled by the confidence multiplier; all are at least the
/// minimum.
[[nodiscard]] inline recommended_container_resources estimate_container_resources(const config& c, const aggregate_container_state& s,
                                                                                  int containers = 1) noexcept {
    const double fraction = 1.0 / static_cast<double>(std::max(containers, 1));
    const resource_amount min_cpu = scale_resource(cpu_amount_from_cores(c.pod_min_cpu_millicores * 0.001), fraction);
    const resource_amount min_memory = scale_resource(memory_amount_from_bytes(c.pod_min_memory_mb * 1024 * 1024), fraction);
    const double cpu_confidence = confidence(s, c.confidence_interval_cpu_s);
    const double memory_confidence = confidence(s, c.confidence_interval_memory_s);
    const double m = c.safety_margin_fraction;

    recommended_container_resources r;
    r.target.cpu = with_min_resource(with_margin(percentile_cpu_estimate(s, c.target_cpu_percentile), m), min_cpu);
    r.target.memory = with_min_resource(with_margin(percentile_memory_estimate(s, c.target_memory_percentile), m), min_memory);
    r.lower_bound.cpu = with_min_resource(
        with_confidence_multiplier(with_margin(percentile_cpu_estimate(s, c.lower_bound_cpu_percentile), m),
                                   c.lower_bound_confidence_multiplier, c.lower_bound_confidence_exponent, cpu_confidence),
        min_cpu);
    r.lower_bound.memory = with_min_resource(
        with_confidence_multiplier(with_margin(percentile_memory_estimate(s, c.lower_bound_memory_percentile), m),
                                   c.lower_bound_confidence_multiplier, c.lower_bound_confidence_exponent, memory_confidence),
        min_memory);
    r.upper_bound.cpu = with_min_resource(
        with_confidence_multiplier(with_margin(percentile_cpu_estimate(s, c.upper_bound_cpu_percentile), m),
                                   c.upper_bound_confidence_multiplier, c.upper_bound_confidence_exponent, cpu_confidence),
        min_cpu);
    r.upper_bound.memory = with_min_resource(
        with_confidence_multiplier(with_margin(percentile_memory_estimate(s, c.upper_bound_memory_percentile), m),
                                   c.upper_bound_confidence_multiplier, c.upper_bound_confidence_exponent, memory_confidence),
        min_memory);
    return r;
}

// ---------------------------------------------------------------------------
// One container in rlscale's units

/// Per-replica CPU (cores) and memory (MB); NaN when unknown.
struct vertical_resources {
    double cpu = std::numeric_limits<double>::quiet_NaN();        ///< cores
    double memory_mb = std::numeric_limits<double>::quiet_NaN();  ///< MB of config::bytes_per_mb bytes
};

/// A recommendation in cores and MB.
struct recommendation {
    vertical_resources target;       ///< what to set
    vertical_resources lower_bound;  ///< resize when the current value is below this
    vertical_resources upper_bound;  ///< ... or above this
};

/// The VPA recommender for one container: its aggregate state, its
/// container state and the estimators, fed in cores and MB at times in
/// seconds. Histograms are sized at construction; feeding and recommending
/// never allocate and never throw.
class recommender {
public:
    /// Validates `c` (config_error naming the field).
    explicit recommender(vpa::config c = {})
        : config_((c.validate(), c)), aggregate_(config_), container_(config_) {}

    /// The container's current request (for the OOM bump and, with
    /// cpu_sample_weight_by_request, the CPU sample weight). Non-finite or
    /// negative values count as 0.
    void set_request(double cpu_cores, double memory_mb) noexcept {
        container_.request.cpu = cpu_amount_from_cores(finite_or_zero(cpu_cores));
        container_.request.memory = memory_amount_from_bytes(finite_or_zero(memory_mb) * config_.bytes_per_mb);
    }

    /// A CPU usage sample, cores, measured from `time_s`. False when refused
    /// (negative, not finite, or not after the previous one).
    bool add_cpu_sample(double time_s, double cores) noexcept {
        if (!(std::isfinite(cores) && cores >= 0)) return false;
        return container_.add_cpu_sample(aggregate_, time_s, cpu_amount_from_cores(cores));
    }
    /// A memory usage sample, MB. False when refused (negative, not finite, older than the last).
    bool add_memory_sample(double time_s, double memory_mb) noexcept {
        if (!(std::isfinite(memory_mb) && memory_mb >= 0)) return false;
        return container_.add_memory_sample(aggregate_, time_s, memory_amount_from_bytes(memory_mb * config_.bytes_per_mb));
    }
    /// An OOM kill at `time_s` of the container with `memory_request_mb`
    /// (RecordOOM). False when refused (too old, not finite).
    bool record_oom(double time_s, double memory_request_mb) noexcept {
        if (!(std::isfinite(memory_request_mb) && memory_request_mb >= 0)) return false;
        return container_.record_oom(aggregate_, time_s, memory_amount_from_bytes(memory_request_mb * config_.bytes_per_mb));
    }

    /// The recommendation in Go's units (millicores, bytes).
    [[nodiscard]] recommended_container_resources recommend_amounts() const noexcept {
        return estimate_container_resources(config_, aggregate_);
    }
    /// The recommendation in cores and MB.
    [[nodiscard]] recommendation recommend() const noexcept {
        const recommended_container_resources r = recommend_amounts();
        return {convert(r.target), convert(r.lower_bound), convert(r.upper_bound)};
    }

    /// Forgets every sample: the state of a recommender just built with
    /// the same configuration (the histograms are made afresh).
    void reset() {
        aggregate_ = aggregate_container_state(config_);
        container_ = container_state(config_);
    }

    /// CPU samples aggregated so far (TotalSamplesCount).
    [[nodiscard]] std::int64_t samples() const noexcept { return aggregate_.total_samples_count; }
    [[nodiscard]] const aggregate_container_state& aggregate() const noexcept { return aggregate_; }
    [[nodiscard]] const container_state& container() const noexcept { return container_; }
    [[nodiscard]] const vpa::config& config() const noexcept { return config_; }

private:
    [[nodiscard]] static double finite_or_zero(double x) noexcept { return std::isfinite(x) && x > 0 ? x : 0.0; }
    [[nodiscard]] vertical_resources convert(const resources& r) const noexcept {
        return {cores_from_cpu_amount(r.cpu), bytes_from_memory_amount(r.memory) / config_.bytes_per_mb};
    }

    vpa::config config_;
    aggregate_container_state aggregate_;
    container_state container_;
};

}  // namespace rlscale::vpa

namespace rlscale {
/// The VPA recommender's parameters under their rlscale name.
using vpa_config = vpa::config;
}  // namespace rlscale
