#pragma once

/// SIMPPO's auxiliary global state g_t^i (Qiu et al., SIMPPO, §6.1 "Value
/// Function Inputs", Table 1 third row): the other agents j ≠ i summarised as
/// one virtual agent, fed to agent i's value network next to its local state.

#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/detail/features.hpp>
#include <rlscale/encode/simppo_encoder.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

namespace rlscale {

/// Agent i's auxiliary global state over the other agents j ≠ i, 16 features:
///
/// | k | feature | §6.1 |
/// |---|---|---|
/// | 0, 1 | ARLT_cpu = Σ RLT_cpu^j, ARLT_mem = Σ RLT_mem^j | a) aggregated resource limits |
/// | 2, 3 | AV_cpu = Σ ΔRLT_cpu^j, AV_mem = Σ ΔRLT_mem^j | b) aggregated vertical actions |
/// | 4 | AH = Σ ΔNC^j | c) aggregated horizontal actions |
/// | 5 | MSP = mean SP^j | d) mean SLO preservation |
/// | 6, 7 | MRU_cpu, MRU_mem = mean RU^j | e) mean resource utilisation |
/// | 8–15 | population standard deviation over j of RLT_cpu, RLT_mem, ΔRLT_cpu, ΔRLT_mem, ΔNC, SP, RU_cpu, RU_mem | "the standard deviation of the selected variables" |
///
/// RLT and NC are min-max normalised as in the local state (simppo_encoder);
/// ΔX^j = X^j(t) - X^j(t-1) in those units, the action agent j took between
/// `previous_states` and `states`. SP^j and RU^j are as in the local state
/// (SP^j = 1 when j is idle, 0 when its requests are stuck). The paper sums
/// the vertical actions of both resources into one AV and writes one MRU;
/// they are kept apart per resource here because a CPU and a memory step
/// (or utilisation) are different quantities. "The standard deviation of the
/// selected variables" is the population deviation (divided by N - 1, the
/// number of other agents). With no other agent (N = 1) the sums, means and
/// deviations are 0 except MSP = 1 (nobody violates an SLO).
///
/// Not an `encoder` (it reads every agent, not one function), but its
/// `encode` is noexcept, allocates nothing and leaves `out` untouched when
/// it refuses, like an encoder's.
class simppo_global_state {
public:
    static constexpr std::size_t feature_count = 16;  ///< auxiliary global-state features

    /// SIMPPO's bounds.
    simppo_global_state() : simppo_global_state(simppo_state_config{}) {}
    /// Validates `config` (throws config_error).
    explicit simppo_global_state(simppo_state_config config) : config_(config) { config_.validate(); }

    [[nodiscard]] std::size_t size() const noexcept { return feature_count; }
    [[nodiscard]] const simppo_state_config& config() const noexcept { return config_; }

    /// Writes g_t^i for agent `i` of the agents described by `metrics`,
    /// `states` (at t) and `previous_states` (at t - 1), all of one size;
    /// refuses a size mismatch, an out-of-range `i` or any bad input of an
    /// agent j ≠ i, naming the field (the first bad agent in index order;
    /// agent i's own inputs are not read).
    [[nodiscard]] encode_status encode(std::span<const function_metrics> metrics,
                                       std::span<const scaling_state> states,
                                       std::span<const scaling_state> previous_states, std::size_t i,
                                       std::span<float> out) const noexcept {
        return encode_over(metrics, states, previous_states, i, out, false);
    }

    /// As encode, but an agent j ≠ i whose inputs are refused is left out
    /// instead of refusing g_t^i: the sums, means and deviations are over
    /// the other agents whose inputs are usable (N − 1 counts only them;
    /// with none, g_t^i is that of an agent alone). Refuses only a size
    /// mismatch or an out-of-range `i`. A coordinator uses it, so that one
    /// function's missing metric refuses no other agent's observation.
    [[nodiscard]] encode_status encode_usable(std::span<const function_metrics> metrics,
                                              std::span<const scaling_state> states,
                                              std::span<const scaling_state> previous_states, std::size_t i,
                                              std::span<float> out) const noexcept {
        return encode_over(metrics, states, previous_states, i, out, true);
    }

private:
    [[nodiscard]] encode_status encode_over(std::span<const function_metrics> metrics,
                                            std::span<const scaling_state> states,
                                            std::span<const scaling_state> previous_states, std::size_t i,
                                            std::span<float> out, bool skip_refused) const noexcept {
        const std::size_t n = metrics.size();
        if (states.size() != n) return encode_status::invalid("states.size", static_cast<double>(states.size()));
        if (previous_states.size() != n)
            return encode_status::invalid("previous_states.size", static_cast<double>(previous_states.size()));
        if (i >= n) return encode_status::invalid("agent_index", static_cast<double>(i));

        // First pass: validate each other agent and accumulate sums.
        std::array<double, variable_count> sum{};
        std::size_t usable = 0;
        for (std::size_t j = 0; j < n; ++j) {
            if (j == i) continue;
            std::array<double, variable_count> v{};
            if (const encode_status st = variables(metrics[j], states[j], previous_states[j], v); !st) {
                if (skip_refused) continue;
                return st;
            }
            for (std::size_t k = 0; k < variable_count; ++k) sum[k] += v[k];
            ++usable;
        }
        const auto others = static_cast<double>(usable);
        std::array<double, variable_count> mean{};
        for (std::size_t k = 0; k < variable_count; ++k) mean[k] = others > 0 ? sum[k] / others : 0.0;

        // Second pass: population variance around the mean (inputs already valid).
        std::array<double, variable_count> var{};
        for (std::size_t j = 0; j < n; ++j) {
            if (j == i) continue;
            std::array<double, variable_count> v{};
            if (!variables(metrics[j], states[j], previous_states[j], v)) continue;  // left out in the first pass too
            for (std::size_t k = 0; k < variable_count; ++k) var[k] += (v[k] - mean[k]) * (v[k] - mean[k]);
        }
        std::array<double, feature_count> features{
            sum[rlt_cpu], sum[rlt_mem], sum[d_rlt_cpu], sum[d_rlt_mem], sum[d_nc],  // a) b) c)
            others > 0 ? mean[sp] : 1.0,                                            // d) MSP
            mean[ru_cpu], mean[ru_mem],                                             // e) MRU
        };
        for (std::size_t k = 0; k < variable_count; ++k)
            features[8 + k] = others > 0 ? std::sqrt(var[k] / others) : 0.0;
        // A global feature is an aggregate over agents, named by itself: the
        // value refused is the feature.
        return detail::write_features(features, names, features, out);
    }

    /// Indices of one agent's selected variables.
    enum variable : std::size_t { rlt_cpu, rlt_mem, d_rlt_cpu, d_rlt_mem, d_nc, sp, ru_cpu, ru_mem, variable_count };

    /// One agent's selected variables, or the first bad input.
    [[nodiscard]] encode_status variables(const function_metrics& m, const scaling_state& s, const scaling_state& prev,
                                          std::array<double, variable_count>& v) const noexcept {
        detail::input_check check;
        double preservation = 1;
        detail::encode_latency_preservation(m, s, check, preservation);
        // The utilisations as the agent's own encoder takes them: beyond a
        // float (1e300) its observation is refused, and here it is left out
        // rather than making every other agent's mean unwritable.
        check.nonnegative("cpu_utilization", m.cpu_utilization)
            .nonnegative("memory_utilization", m.memory_utilization)
            .require(detail::fits_float(m.cpu_utilization), "cpu_utilization", m.cpu_utilization)
            .require(detail::fits_float(m.memory_utilization), "memory_utilization", m.memory_utilization)
            .positive("state.cpu_limit", s.cpu_limit)  // 0: unknown, not the smallest limit (as simppo_encoder)
            .positive("state.memory_limit_mb", s.memory_limit_mb)
            .nonnegative("state.replicas", s.replicas)
            .positive("previous_state.cpu_limit", prev.cpu_limit)
            .positive("previous_state.memory_limit_mb", prev.memory_limit_mb)
            .nonnegative("previous_state.replicas", prev.replicas);
        if (!check.ok()) return check.status();
        const auto cpu = [&](double c) { return detail::min_max(c, config_.cpu_min_cores, config_.cpu_max_cores); };
        const auto mem = [&](double mb) { return detail::min_max(mb, config_.memory_min_mb, config_.memory_max_mb); };
        const auto nc = [&](int r) { return detail::min_max(r, config_.containers_min, config_.containers_max); };
        v[rlt_cpu] = cpu(s.cpu_limit);
        v[rlt_mem] = mem(s.memory_limit_mb);
        v[d_rlt_cpu] = cpu(s.cpu_limit) - cpu(prev.cpu_limit);
        v[d_rlt_mem] = mem(s.memory_limit_mb) - mem(prev.memory_limit_mb);
        v[d_nc] = nc(s.replicas) - nc(prev.replicas);
        v[sp] = preservation;
        v[ru_cpu] = m.cpu_utilization;
        v[ru_mem] = m.memory_utilization;
        return encode_status::valid();
    }

    static constexpr std::array<std::string_view, feature_count> names{
        "ARLT_cpu", "ARLT_mem", "AV_cpu", "AV_mem", "AH", "MSP", "MRU_cpu", "MRU_mem",
        "std.RLT_cpu", "std.RLT_mem", "std.AV_cpu", "std.AV_mem", "std.AH", "std.SP", "std.RU_cpu", "std.RU_mem"};
    simppo_state_config config_;  ///< normalisation bounds, shared with the local state
};

static_assert(noexcept(std::declval<const simppo_global_state&>().encode(
    std::span<const function_metrics>{}, std::span<const scaling_state>{}, std::span<const scaling_state>{},
    std::size_t{0}, std::span<float>{})));

}  // namespace rlscale
