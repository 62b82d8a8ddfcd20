#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace rlscale {

/// SCARLET's state made comparable across functions, so that a network
/// trained on SCARLET's functions can serve others: the replica count as a
/// share of the function's maximum, CPU and memory utilisation, the
/// throughput relative to the function's target throughput (SCARLET's
/// target RPS, which the raw encoder feeds as its own feature) and the
/// requests waiting per ready replica (how far demand runs ahead of
/// capacity). Ratios are clamped
/// to [0, 4]. Latency relative to the SLO is left out on purpose: SCARLET's
/// SLAs sit orders of magnitude above its services' latencies, so a network
/// trained there has never seen it move except in overload, and reads a
/// tight SLO elsewhere as permanent overload.
class relative_scarlet_encoder {
public:
    static constexpr std::size_t feature_count = 5;
    [[nodiscard]] std::size_t size() const noexcept { return feature_count; }

    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s, std::span<float> out) const noexcept {
        const auto bad = [](double x) { return !(std::isfinite(x) && x >= 0); };
        if (out.size() != feature_count) return encode_status::invalid("out.size", static_cast<double>(out.size()));
        if (s.max_replicas <= 0) return encode_status::invalid("state.max_replicas", s.max_replicas);
        if (s.replicas < 0) return encode_status::invalid("state.replicas", s.replicas);
        if (bad(m.cpu_utilization)) return encode_status::invalid("cpu_utilization", m.cpu_utilization);
        if (bad(m.memory_utilization)) return encode_status::invalid("memory_utilization", m.memory_utilization);
        if (bad(m.throughput_rps)) return encode_status::invalid("throughput_rps", m.throughput_rps);
        if (bad(s.slo.target_rps)) return encode_status::invalid("slo.target_rps", s.slo.target_rps);
        const auto ratio = [](double x) { return static_cast<float>(std::clamp(x, 0.0, 4.0)); };
        out[0] = ratio(static_cast<double>(s.replicas) / s.max_replicas);
        out[1] = ratio(m.cpu_utilization);
        out[2] = ratio(m.memory_utilization);
        out[3] = s.slo.target_rps > 0 ? ratio(m.throughput_rps / s.slo.target_rps) : 0.0F;
        out[4] = m.ready_replicas > 0 ? ratio(static_cast<double>(m.queue_length) / m.ready_replicas)
                                      : (m.queue_length > 0 ? 4.0F : 0.0F);
        return encode_status::valid();
    }
};
static_assert(encoder<relative_scarlet_encoder>);

}  // namespace rlscale
