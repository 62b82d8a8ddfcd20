#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace rlscale::rl {

/// How multidimensional_actions reads a value in [−1, 1].
enum class multidimensional_mode {
    absolute,  ///< the value spans the dimension's bounds: −1 = min, +1 = max
    relative,  ///< the value is a move from the current setting: ±1 = ± the dimension's step
};

[[nodiscard]] constexpr std::string_view to_string(multidimensional_mode m) noexcept {
    return m == multidimensional_mode::relative ? "relative" : "absolute";
}

/// Settings of multidimensional_actions. Replica bounds come from each
/// function's scaling_state; the limit bounds are the map's own (AWARE's
/// code: CPU 128–2048 millicores, memory 256–3072 MiB).
struct multidimensional_config {
    multidimensional_mode mode = multidimensional_mode::absolute;
    double min_cpu_limit = 0.128;        ///< cores
    double max_cpu_limit = 2.048;        ///< cores
    double min_memory_limit_mb = 256;    ///< MB
    double max_memory_limit_mb = 3072;   ///< MB
    int max_replica_step = 4;            ///< relative mode: replicas moved by a value of ±1
    double max_cpu_step = 0.5;           ///< relative mode: cores moved by a value of ±1
    double max_memory_step_mb = 512;     ///< relative mode: MB moved by a value of ±1

    /// AWARE's bounds (its code: replicas 1–20 from the state, CPU 128–2048 m, memory 256–3072 MiB).
    [[nodiscard]] static multidimensional_config aware() { return {}; }

    void validate() const {
        check_fields("multidimensional_config")
            .require(std::isfinite(min_cpu_limit) && min_cpu_limit > 0, "min_cpu_limit", "be finite and > 0", min_cpu_limit)
            .require(std::isfinite(max_cpu_limit) && max_cpu_limit > min_cpu_limit, "max_cpu_limit",
                     "be finite and > min_cpu_limit", max_cpu_limit)
            .require(std::isfinite(min_memory_limit_mb) && min_memory_limit_mb > 0, "min_memory_limit_mb", "be finite and > 0",
                     min_memory_limit_mb)
            .require(std::isfinite(max_memory_limit_mb) && max_memory_limit_mb > min_memory_limit_mb, "max_memory_limit_mb",
                     "be finite and > min_memory_limit_mb", max_memory_limit_mb)
            .in("max_replica_step", max_replica_step, 1, 1000)
            .require(std::isfinite(max_cpu_step) && max_cpu_step > 0, "max_cpu_step", "be finite and > 0", max_cpu_step)
            .require(std::isfinite(max_memory_step_mb) && max_memory_step_mb > 0, "max_memory_step_mb", "be finite and > 0",
                     max_memory_step_mb);
    }
};

/// AWARE's multidimensional Pod autoscaling as a continuous action map:
/// three values per function in [−1, 1] (what a tanh actor outputs) become
/// its replica count, the CPU limit and the memory limit of one replica, so
/// one decision changes all three. Values are clamped to [−1, 1] first; a
/// NaN value keeps the current setting (the current count; a NaN limit, the
/// decision's "unchanged", even when the current limit lies outside the
/// map's bounds or is unknown). In relative mode a limit whose current value
/// is unknown (not finite and > 0) is left unchanged too: there is nothing
/// to step from. Replica counts are rounded and kept
/// within the function's [min, max]; limits within the map's bounds.
/// Whether a vertical change may happen at all (AWARE withholds it at one
/// replica) is the guard's rule (guard_config::vertical_min_replicas), so it
/// holds for every policy, learned or not.
///
/// `values_for` is the inverse: the values that reach given targets, used to
/// store another controller's decisions (HPA+VPA while bootstrapping) as the
/// agent's own actions.
class multidimensional_actions {
public:
    using value_type = float;
    static constexpr std::size_t dimensions = 3;  ///< replicas, CPU limit, memory limit

    explicit multidimensional_actions(std::size_t functions, multidimensional_config config = {})
        : functions_(functions), config_((config.validate(), config)) {
        check_fields("multidimensional_actions").in("functions", functions, 1, 100'000);
    }

    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t width() const noexcept { return dimensions * functions_; }
    [[nodiscard]] const multidimensional_config& config() const noexcept { return config_; }

    void targets(std::span<const float> values, std::span<const function_metrics> /*metrics*/, std::span<const scaling_state> states,
                 std::span<scaling_target> out) const noexcept {
        const std::size_t n = std::min({functions_, states.size(), out.size(), values.size() / dimensions});
        for (std::size_t f = 0; f < n; ++f) {
            const scaling_state& s = states[f];
            const float* v = values.data() + dimensions * f;
            const double lo = s.min_replicas;
            const double hi = std::max(s.min_replicas, s.max_replicas);
            double replicas = s.replicas;
            if (!std::isnan(v[0])) {
                replicas = config_.mode == multidimensional_mode::absolute
                               ? lo + unit(v[0]) * (hi - lo)
                               : static_cast<double>(s.replicas) + clamp1(v[0]) * config_.max_replica_step;
            }
            out[f].replicas = static_cast<int>(std::clamp(std::round(replicas), lo, hi));
            out[f].cpu_limit = limit(v[1], s.cpu_limit, config_.min_cpu_limit, config_.max_cpu_limit, config_.max_cpu_step);
            out[f].memory_limit_mb = limit(v[2], s.memory_limit_mb, config_.min_memory_limit_mb, config_.max_memory_limit_mb,
                                           config_.max_memory_step_mb);
        }
    }

    /// The values (three per function, into `out`) that reach `targets` from
    /// `states`, clamped to [−1, 1]. A NaN limit (unchanged) maps to the
    /// value that reaches the current limit as the map reads it: the current
    /// one when it lies within the map's bounds. A value in [−1, 1] cannot
    /// say "unchanged" otherwise, so where the current limit lies outside
    /// the bounds the value reaches the nearer bound, and where it is
    /// unknown (not finite and > 0) the middle of the bounds in absolute
    /// mode. A stored teacher's hold is then a resize into the bounds. In
    /// relative mode a limit whose current value is unknown maps to 0 (no
    /// step) whatever its target: targets() reads every value there as
    /// unchanged, so no value reaches another limit, and a stored action
    /// must be one the agent's own could mean.
    void values_for(std::span<const scaling_target> targets, std::span<const scaling_state> states, std::span<float> out) const noexcept {
        const std::size_t n = std::min({functions_, states.size(), targets.size(), out.size() / dimensions});
        for (std::size_t f = 0; f < n; ++f) {
            const scaling_state& s = states[f];
            float* v = out.data() + dimensions * f;
            if (config_.mode == multidimensional_mode::absolute) {
                const double lo = s.min_replicas;
                const double hi = std::max(s.min_replicas, s.max_replicas);
                v[0] = hi > lo ? to_value((targets[f].replicas - lo) / (hi - lo)) : 0.0F;
            } else {
                v[0] = static_cast<float>(std::clamp((static_cast<double>(targets[f].replicas) - static_cast<double>(s.replicas)) / config_.max_replica_step, -1.0, 1.0));
            }
            v[1] = value_of(targets[f].cpu_limit, s.cpu_limit, config_.min_cpu_limit, config_.max_cpu_limit, config_.max_cpu_step);
            v[2] = value_of(targets[f].memory_limit_mb, s.memory_limit_mb, config_.min_memory_limit_mb, config_.max_memory_limit_mb,
                            config_.max_memory_step_mb);
        }
    }

private:
    static double clamp1(float v) noexcept { return std::clamp(static_cast<double>(v), -1.0, 1.0); }
    /// [−1, 1] → [0, 1].
    static double unit(float v) noexcept { return (clamp1(v) + 1) / 2; }
    /// [0, 1] → [−1, 1], clamped.
    static float to_value(double u) noexcept { return static_cast<float>(std::clamp(2 * u - 1, -1.0, 1.0)); }

    /// The current limit as the map reads it: within [lo, hi], or the middle
    /// when it is not a usable limit.
    static double current_within(double current, double lo, double hi) noexcept {
        return std::isfinite(current) && current > 0 ? std::clamp(current, lo, hi) : (lo + hi) / 2;
    }

    [[nodiscard]] double limit(float v, double current, double lo, double hi, double step) const noexcept {
        if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();  // unchanged, whatever the current limit
        if (config_.mode == multidimensional_mode::relative && !(std::isfinite(current) && current > 0)) {
            return std::numeric_limits<double>::quiet_NaN();  // no current limit to step from: unchanged
        }
        const double base = current_within(current, lo, hi);
        const double x = config_.mode == multidimensional_mode::absolute ? lo + unit(v) * (hi - lo) : base + clamp1(v) * step;
        return std::clamp(x, lo, hi);
    }
    [[nodiscard]] float value_of(double target, double current, double lo, double hi, double step) const noexcept {
        // As limit(): in relative mode there is no current limit to step
        // from, and every value reads as unchanged; 0 is the one stored.
        if (config_.mode == multidimensional_mode::relative && !(std::isfinite(current) && current > 0)) return 0.0F;
        const double base = current_within(current, lo, hi);
        const double x = std::isfinite(target) ? std::clamp(target, lo, hi) : base;
        if (config_.mode == multidimensional_mode::absolute) return to_value((x - lo) / (hi - lo));
        return static_cast<float>(std::clamp((x - base) / step, -1.0, 1.0));
    }

    std::size_t functions_;
    multidimensional_config config_;
};

static_assert(continuous_action_map<multidimensional_actions>);

}  // namespace rlscale::rl
