#pragma once

/// The Kubernetes Vertical Pod Autoscaler as an rlscale `policy`: the VPA
/// recommender (rlscale::vpa::recommender, in <rlscale/policy/vpa/>) fed
/// from each tick's metrics, and a simplified VPA updater that changes the
/// per-replica limits only when the current ones leave the recommendation's
/// [lower bound, upper bound]. The replica count is never changed. See
/// docs/vpa.md.
///
/// The VPA recommends requests; rlscale actuates limits (function_metrics
/// reports utilisation against the limit, and the simulator and the
/// Kubernetes adapter set limits), so here the recommendation is applied to
/// the limits.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/policy/vpa/recommender.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace rlscale {

/// When the policy applies the recommendation.
enum class vpa_update_mode : std::uint8_t {
    off,       ///< recommend only: limits never change (the VPA's "Off")
    recreate,  ///< set both limits to the target when either leaves [lower bound, upper bound] (the VPA's "Recreate"/"Auto" updater)
};

[[nodiscard]] constexpr std::string_view to_string(vpa_update_mode m) noexcept {
    return m == vpa_update_mode::off ? "off" : "recreate";
}

/// The VPA policy's settings: the recommender's, the update mode, the
/// allowed range of each limit (the VPA's minAllowed/maxAllowed) and when a
/// resize may happen.
struct vpa_policy_config {
    vpa_config recommender;                                ///< the recommender's parameters (Kubernetes' defaults)
    vpa_update_mode update_mode = vpa_update_mode::recreate;  ///< when to apply the recommendation
    double min_cpu_cores = 0;         ///< smallest CPU limit to set (minAllowed), cores
    double max_cpu_cores = 1000;      ///< largest CPU limit to set (maxAllowed), cores
    double min_memory_mb = 0;         ///< smallest memory limit to set (minAllowed), MB
    double max_memory_mb = 1e6;       ///< largest memory limit to set (maxAllowed), MB
    std::int64_t min_samples = 1;     ///< CPU samples needed before the first resize
    bool control_cpu = true;          ///< set the CPU limit (the VPA's controlledResources includes cpu)
    bool control_memory = true;       ///< set the memory limit (controlledResources includes memory)
    int vertical_requires_replicas = 2;  ///< resize only with at least this many replicas, requested and ready (the VPA updater's --min-replicas, AWARE's rule: a resize restarts a replica); ≤ 1 disables

    /// AWARE's vertical action bounds (CPU 128–2048 millicores, memory
    /// 256–3072 MiB) and its rule that a single replica is never resized.
    [[nodiscard]] static vpa_policy_config aware() {
        vpa_policy_config c;
        c.min_cpu_cores = 0.128;
        c.max_cpu_cores = 2.048;
        c.min_memory_mb = 256;
        c.max_memory_mb = 3072;
        c.vertical_requires_replicas = 2;
        return c;
    }

    /// Throws config_error naming the first field out of range.
    void validate() const {
        recommender.validate();
        check_fields("vpa_policy_config")
            .at_least("min_cpu_cores", min_cpu_cores, 0.0)
            .at_least_field("max_cpu_cores", max_cpu_cores, "min_cpu_cores", min_cpu_cores)
            .greater("max_cpu_cores", max_cpu_cores, 0.0)
            .at_least("min_memory_mb", min_memory_mb, 0.0)
            .at_least_field("max_memory_mb", max_memory_mb, "min_memory_mb", min_memory_mb)
            .greater("max_memory_mb", max_memory_mb, 0.0)
            .at_least("min_samples", min_samples, std::int64_t{0})
            .require(update_mode == vpa_update_mode::off || update_mode == vpa_update_mode::recreate, "update_mode",
                     "be off or recreate", static_cast<int>(update_mode));
    }
};

/// The VPA as a policy. Each tick it adds one CPU sample (cpu_utilization ×
/// cpu_limit, cores per replica) and one memory sample (memory_utilization
/// × memory_limit_mb) at s.time_s, recommends, clamps the recommendation to
/// [min, max] of each limit and, in recreate mode, sets every controlled
/// limit (both by default) to the target when any controlled limit is
/// outside [lower bound, upper bound].
/// The replica count stays s.replicas. Never throws from decide(); a
/// non-finite clock or metric, no ready replica, or a clock not after the
/// last sample's adds no sample and changes no limit. A memory reading of 0
/// adds no memory sample.
class vpa_policy {
public:
    /// Validates `c` (config_error naming the field); sizes the histograms.
    explicit vpa_policy(vpa_policy_config c = {}) : config_((c.validate(), c)), recommender_(config_.recommender) {}

    /// Always ready: the VPA needs no training (until min_samples it only holds the limits).
    [[nodiscard]] bool ready() const noexcept { return true; }

    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        const double now = s.time_s;
        if (!std::isfinite(now)) return keep(s, "vpa: clock is not finite");
        const auto usable = [](double x) { return std::isfinite(x) && x >= 0; };
        if (!usable(m.cpu_utilization) || !usable(m.memory_utilization) || !usable(m.cpu_limit) || !usable(m.memory_limit_mb)) {
            return keep(s, "vpa: cpu or memory metrics are not finite and non-negative");
        }
        if (m.ready_replicas == 0) return keep(s, "vpa: no ready replica to sample");
        // The limits the utilisations were measured against: the metrics',
        // else the state's.
        const double cpu_limit = m.cpu_limit > 0 ? m.cpu_limit : s.cpu_limit;
        const double memory_limit = m.memory_limit_mb > 0 ? m.memory_limit_mb : s.memory_limit_mb;
        if (!(std::isfinite(cpu_limit) && cpu_limit > 0 && std::isfinite(memory_limit) && memory_limit > 0)) {
            return keep(s, "vpa: limits are unknown");
        }

        // The recommender's inputs: usage per replica, the current request.
        // A CPU sample is refused when the clock is not after the last
        // sample's: no sample, and no resize from the history it cannot
        // add to (a clock that went back, or one that jumped ahead once and
        // left every later tick behind it). reset() starts a new history.
        const double cores = m.cpu_utilization * cpu_limit;
        const double memory_mb = m.memory_utilization * memory_limit;
        if (!std::isfinite(cores) || !std::isfinite(memory_mb)) return keep(s, "vpa: cpu or memory usage is not finite");
        recommender_.set_request(cpu_limit, memory_limit);
        if (!recommender_.add_cpu_sample(now, cores)) {
            return keep(s, "vpa: clock is not after the last sample's; no sample, no resize (reset() starts a new history)");
        }
        // A memory reading of 0 is not a working set (no replica ran in the
        // interval): the VPA's container state reads a zero peak as none,
        // and a zero interval peak would then take no later sample of the
        // interval, OOM kills included.
        // (Below a byte the amount truncates to 0: the same.)
        if (memory_mb * config_.recommender.bytes_per_mb >= 1) recommender_.add_memory_sample(now, memory_mb);
        if (recommender_.samples() < config_.min_samples || recommender_.samples() == 0) return unchanged(s, "vpa: too few samples");

        // The recommendation, capped to the allowed range (the VPA caps
        // target and bounds alike before the updater compares).
        last_ = capped(recommender_.recommend());
        has_recommendation_ = true;
        if (config_.update_mode == vpa_update_mode::off) return unchanged(s, "vpa: update mode off");

        // The updater: no resize below the replica minimum (it restarts a replica) ...
        const std::int64_t replicas = std::min<std::int64_t>(s.replicas, m.ready_replicas);
        if (replicas < config_.vertical_requires_replicas) return unchanged(s, "vpa: too few replicas to resize");
        // ... and none while every controlled limit lies within the bounds.
        const auto within = [](double current, double lower, double upper) { return current >= lower && current <= upper; };
        const bool cpu_within = !config_.control_cpu || within(s.cpu_limit, last_.lower_bound.cpu, last_.upper_bound.cpu);
        const bool memory_within =
            !config_.control_memory || within(s.memory_limit_mb, last_.lower_bound.memory_mb, last_.upper_bound.memory_mb);
        if (cpu_within && memory_within) return unchanged(s, "vpa: within bounds");
        // A resize sets every controlled resource to its target.
        decision d = unchanged(s, "vpa: target");
        if (config_.control_cpu) d.cpu_limit = last_.target.cpu;
        if (config_.control_memory) d.memory_limit_mb = last_.target.memory_mb;
        return d;
    }

    /// An OOM kill of a replica at s.time_s with memory limit
    /// s.memory_limit_mb (RecordOOM): the memory peak of the interval becomes
    /// at least max(limit × 1.2, limit + 100 MiB). False when refused.
    bool on_oom(const scaling_state& s) noexcept { return recommender_.record_oom(s.time_s, s.memory_limit_mb); }

    /// Forgets every sample and recommendation, as a new policy would (a
    /// new run whose clock starts again, a workload that changed). Keeps the
    /// configuration; the histograms are made afresh (it allocates).
    void reset() {
        recommender_.reset();
        last_ = {};
        has_recommendation_ = false;
    }

    /// The last recommendation, capped to [min, max]; NaN before min_samples.
    [[nodiscard]] vpa::recommendation last_recommendation() const noexcept { return has_recommendation_ ? last_ : vpa::recommendation{}; }
    [[nodiscard]] const vpa::recommender& recommender() const noexcept { return recommender_; }
    [[nodiscard]] const vpa_policy_config& config() const noexcept { return config_; }

private:
    /// The current replicas (brought within bounds only if negative) and no vertical change.
    [[nodiscard]] static decision unchanged(const scaling_state& s, std::string_view reason) noexcept {
        decision d = keep(s, reason);
        d.source = decision_source::policy;
        return d;
    }

    [[nodiscard]] vpa::vertical_resources cap(vpa::vertical_resources r) const noexcept {
        return {std::clamp(r.cpu, config_.min_cpu_cores, config_.max_cpu_cores),
                std::clamp(r.memory_mb, config_.min_memory_mb, config_.max_memory_mb)};
    }
    [[nodiscard]] vpa::recommendation capped(const vpa::recommendation& r) const noexcept {
        return {cap(r.target), cap(r.lower_bound), cap(r.upper_bound)};
    }

    vpa_policy_config config_;
    vpa::recommender recommender_;
    vpa::recommendation last_{};
    bool has_recommendation_ = false;
};
static_assert(policy<vpa_policy>);

}  // namespace rlscale
