#pragma once

/// The Kubernetes HPA and VPA together as one multidimensional baseline
/// (and a fallback for learned multidimensional policies): replicas from
/// the HPA (hpa_policy), per-replica limits from the VPA (vpa_policy).
///
/// The two are not independent. hpa_policy measures CPU utilisation against
/// the CPU limit (function_metrics::cpu_utilization), so when the VPA
/// raises the limit the same load reads as a lower utilisation and the HPA
/// scales in; when it lowers the limit the HPA scales out. Kubernetes warns
/// against running the HPA and the VPA on the same CPU or memory metric for
/// this reason (vertical-pod-autoscaler/docs/known-limitations.md) and
/// suggests a memory-only VPA beside a CPU HPA: hpa_vpa_config::memory_only().
/// The pair is offered as the baseline the literature compares
/// with (AWARE's navigator), not as a recommended configuration: the VPA's
/// slow, bounds-gated updates (hours of history, resizes only outside
/// [lower, upper]) keep the feedback loose. See docs/vpa.md.

#include <rlscale/core/concepts.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/vpa_policy.hpp>

#include <utility>

namespace rlscale {

/// The pair's settings.
struct hpa_vpa_config {
    hpa_config hpa;          ///< the HPA (replicas)
    vpa_policy_config vpa;   ///< the VPA (limits); vpa.vertical_requires_replicas (default 2) withholds resizes of a function with fewer replicas

    /// AWARE's setting: the HPA at 80 % CPU (its default metric) and the VPA
    /// within AWARE's action bounds, never resizing a single replica.
    [[nodiscard]] static hpa_vpa_config aware() { return {hpa_config{}, vpa_policy_config::aware()}; }

    /// Kubernetes' advice for using both (vertical-pod-autoscaler/docs/faq.md):
    /// the HPA on CPU, the VPA on memory only.
    [[nodiscard]] static hpa_vpa_config memory_only() {
        hpa_vpa_config c;
        c.vpa.control_cpu = false;
        return c;
    }
};

/// The HPA for replicas and the VPA for limits. Both see every tick (the
/// VPA keeps learning while the HPA scales). The decision is the HPA's
/// (replicas, source, reason) with the VPA's limits; the reason is the
/// VPA's when it changes a limit. A resize is withheld when the HPA's count
/// is below the VPA's replica minimum (vertical_requires_replicas).
///
/// The two decide independently, as the two Kubernetes controllers do: when
/// the HPA holds (no usable CPU metric, scaling disabled, too many pods) the
/// VPA may still resize, from its own checks of the metrics. The decision
/// then keeps the HPA's decision_source::hold (the count was not decided)
/// and carries the VPA's limits and reason; with_fallback takes such a
/// decision as it is rather than asking its backup.
class hpa_vpa_policy {
public:
    /// Validates both configurations (config_error naming the field).
    explicit hpa_vpa_policy(hpa_vpa_config c = {}) : hpa_(std::move(c.hpa)), vpa_(std::move(c.vpa)) {}
    /// From two policies already built.
    hpa_vpa_policy(hpa_policy hpa, vpa_policy vpa) : hpa_(std::move(hpa)), vpa_(std::move(vpa)) {}

    [[nodiscard]] bool ready() const noexcept { return hpa_.ready() && vpa_.ready(); }

    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        decision d = hpa_.decide(m, s);
        const decision v = vpa_.decide(m, s);
        // The VPA's replica minimum holds for the count this decision leaves
        // too: a resize in the tick the HPA scales in to fewer replicas
        // would restart the only ones left.
        if (!v.vertical() || d.replicas < vpa_.config().vertical_requires_replicas) return d;
        d.cpu_limit = v.cpu_limit;
        d.memory_limit_mb = v.memory_limit_mb;
        d.reason = v.reason;
        return d;
    }

    /// Forwards an OOM kill to the VPA (vpa_policy::on_oom).
    bool on_oom(const scaling_state& s) noexcept { return vpa_.on_oom(s); }

    [[nodiscard]] hpa_policy& hpa() noexcept { return hpa_; }
    [[nodiscard]] const hpa_policy& hpa() const noexcept { return hpa_; }
    [[nodiscard]] vpa_policy& vpa() noexcept { return vpa_; }
    [[nodiscard]] const vpa_policy& vpa() const noexcept { return vpa_; }

private:
    hpa_policy hpa_;
    vpa_policy vpa_;
};
static_assert(policy<hpa_vpa_policy>);

}  // namespace rlscale
