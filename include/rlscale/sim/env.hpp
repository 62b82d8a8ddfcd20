#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/sim/simulation.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

// Gymnasium-style environments over the simulated cluster: reset(seed)
// returns the first observation; step(action) advances one control interval
// and returns observation, reward, terminated, truncated and info (the raw
// per-function metrics). The observation encoder and the reward are template
// parameters checked by concepts, so a policy's encoder and reward plug in
// unchanged.

namespace rlscale::sim {

/// A small default encoder: replicas / max, CPU utilisation, latency at the
/// SLO's statistic / SLO (capped at 4, 0 when nothing completed), arrival
/// rate / target (capped at 4; 0 without a target), queue length / 100
/// (capped at 4). Refuses non-finite or negative inputs by name.
struct basic_encoder {
    [[nodiscard]] static constexpr std::size_t size() noexcept { return 5; }
    static encode_status encode(const function_metrics& m, const scaling_state& s, std::span<float> out) noexcept {
        const double latency = latency_at(m, s.slo.percentile);
        if (!(std::isfinite(m.cpu_utilization) && m.cpu_utilization >= 0)) {
            return encode_status::invalid("cpu_utilization", m.cpu_utilization);
        }
        if (m.completions > 0 && !(std::isfinite(latency) && latency >= 0)) {
            return encode_status::invalid("latency", latency);
        }
        if (!(std::isfinite(m.interval_s) && m.interval_s > 0)) {
            return encode_status::invalid("interval_s", m.interval_s);
        }
        const auto cap = [](double x) { return std::clamp(x, 0.0, 4.0); };
        const double rate = static_cast<double>(m.arrivals) / m.interval_s;
        out[0] = static_cast<float>(static_cast<double>(m.ready_replicas + m.starting_replicas) /
                                    std::max(1, s.max_replicas));
        out[1] = static_cast<float>(cap(m.cpu_utilization));
        out[2] = static_cast<float>(m.completions > 0 && s.slo.latency_s > 0 ? cap(latency / s.slo.latency_s) : 0.0);
        out[3] = static_cast<float>(s.slo.target_rps > 0 ? cap(rate / s.slo.target_rps) : 0.0);
        out[4] = static_cast<float>(cap(m.queue_length / 100.0));
        return encode_status::valid();
    }
};
static_assert(encoder<basic_encoder>);

/// A small default reward in SCARLET's form (SCARLET, §4): −1 if any
/// function violates its SLO (rlscale::violates_slo: its latency at the SLO
/// statistic above the SLO, a dropped request, or requests waiting with none
/// completed, e.g. at zero replicas), otherwise 1 − (mean latency/SLO)^0.4.
/// A function without a measured latency and not stalled (idle, or its
/// requests still in service) counts with ratio 0. No function: −1.
struct basic_reward {
    double operator()(std::span<const function_metrics> m, std::span<const scaling_state> s) const noexcept {
        if (m.empty()) return -1;
        double ratio_sum = 0;
        for (std::size_t i = 0; i < m.size(); ++i) {
            if (violates_slo(m[i], s[i])) return -1;
            const double latency = latency_at(m[i], s[i].slo.percentile);
            const double ratio = std::isfinite(latency) && latency >= 0 ? latency / s[i].slo.latency_s : 0.0;
            if (!(ratio <= 1)) return -1;  // an unusable SLO
            ratio_sum += ratio;
        }
        return 1 - std::pow(ratio_sum / static_cast<double>(m.size()), 0.4);
    }
};
static_assert(reward<basic_reward>);

/// How step() reads its action vector (one value per function).
enum class action_kind {
    replica_delta,       ///< add this many replicas (SCARLET: −1, 0, +1)
    replica_count,       ///< set the replica count (Polimi)
    cpu_limit_delta,     ///< add this many cores to the CPU limit (vertical)
    memory_limit_delta,  ///< add this many MB to the memory limit (vertical)
};

/// Settings of an environment.
struct env_config {
    double control_interval_s = 15;                  ///< simulated seconds per step
    int episode_steps = 200;                         ///< steps until `truncated`
    action_kind actions = action_kind::replica_delta;  ///< meaning of the action vector
    std::vector<scaling_state> functions;            ///< per function (bounds, SLO); empty = SLO at p90 from the profile, bounds 0..max_replicas
    sim_model model = sim_model::request;            ///< the request-level model, or the faster tick-level one (docs/simulator.md)
    tick_options tick{};                             ///< settings of the tick-level model
};

/// The result of one step; spans view the environment's own buffers.
struct step_result {
    std::span<const float> observation;  ///< every function's encoding, concatenated (zeros where an encoder refused its input)
    bool observation_valid = true;       ///< every encoder accepted its input
    double reward = 0;                   ///< the joint reward
    bool terminated = false;             ///< never: autoscaling is a continuing task
    bool truncated = false;              ///< the episode reached episode_steps (true again for any step past it)
    std::span<const function_metrics> info;  ///< the raw metrics of the interval
};

/// The joint environment over all functions (SCARLET's setting). Agent views
/// for a multi-agent setting (SIMPPO) read one function's slice of the
/// observation with `observation_of` and score it with `reward_of`.
///
/// reset() runs one control interval before the episode's first step (its
/// observation is that interval's), so an episode of episode_steps steps
/// simulates episode_steps + 1 intervals, [0, (episode_steps + 1) ×
/// control_interval_s). A load that does not repeat must last that long: one
/// sized episode_steps × control_interval_s has ended by the last step,
/// which sees no arrivals. Size loads (episode_steps + 1) × interval, as the
/// SIMPPO and AWARE scenarios of examples/common do, or make them repeat.
///
/// step() and step_to() before the first reset() throw rlscale::error: the
/// cluster would run without a chosen seed and without reset's first
/// interval. Past episode_steps the environment does not stop: each further
/// step simulates one more interval and returns truncated = true again, so a
/// caller that wants episodes of episode_steps resets when it sees truncated.
template <encoder Encoder = basic_encoder, reward Reward = basic_reward>
class cluster_env {
public:
    cluster_env(cluster_config config, env_config env, Encoder encoder = {}, Reward reward = {})
        : sim_(std::move(config), 0, env.model, env.tick), env_(std::move(env)), encoder_(encoder), reward_(reward),
          metrics_(sim_.function_count()), observation_(sim_.function_count() * encoder_.size()) {
        const check_fields check("env");
        check.greater("control_interval_s", env_.control_interval_s, 0).at_least("episode_steps", env_.episode_steps, 1);
        if (env_.functions.empty()) {
            for (const auto& f : sim_.config().functions) {
                env_.functions.push_back({.replicas = f.initial_replicas, .min_replicas = 0, .max_replicas = f.max_replicas,
                                          .cpu_limit = f.profile.cpu_limit, .memory_limit_mb = f.profile.memory_mb,
                                          .slo = {.latency_s = f.profile.slo_s, .percentile = 0.9}});
            }
        } else {
            check.require(env_.functions.size() == sim_.function_count(), "functions",
                          "hold one entry per cluster function (" + format_number(sim_.function_count()) + ")",
                          env_.functions.size());
            // An objective no interval can meet (a NaN or non-positive
            // latency bound) would score every step -1 whatever the policy does.
            for (std::size_t f = 0; f < env_.functions.size(); ++f) {
                const scaling_state& st = env_.functions[f];
                check_fields("env.functions[" + std::to_string(f) + "]")
                    .greater("slo.latency_s", st.slo.latency_s, 0.0)
                    .in_closed_open("slo.percentile", st.slo.percentile, 0.0, 1.0)
                    .at_least("slo.target_rps", st.slo.target_rps, 0.0)
                    .at_least("min_replicas", st.min_replicas, 0)
                    .at_least_field("max_replicas", st.max_replicas, "min_replicas", st.min_replicas);
            }
        }
        // An encoder that remembers each function's last interval (AR_{t-1})
        // must be built for as many functions as it is given: one built for
        // fewer would encode the rest without history and say nothing.
        if constexpr (requires { encoder_.functions(); }) {
            if (encoder_.functions() != sim_.function_count()) {
                check_fields("encoder").require(false, "functions",
                                                "equal the cluster's function count (" + format_number(sim_.function_count()) +
                                                    "): pass it to the encoder's constructor",
                                                encoder_.functions());
            }
        }
    }

    [[nodiscard]] std::size_t function_count() const noexcept { return sim_.function_count(); }
    [[nodiscard]] std::size_t observation_size() const noexcept { return observation_.size(); }
    [[nodiscard]] const sim::simulation& simulation() const noexcept { return sim_; }

    /// Restarts the episode: the cluster at time 0 with `seed`, one interval
    /// run with the initial replicas, and that interval's observation. That
    /// interval comes before the episode's steps: step k (from 1) runs
    /// [k, k + 1) × control_interval_s, so the last of episode_steps steps
    /// needs load until (episode_steps + 1) × control_interval_s.
    std::span<const float> reset(std::uint64_t seed) {
        sim_.reset(seed);
        steps_ = 0;
        started_ = true;
        // A stateful encoder (an arrival-rate change) starts the episode
        // afresh, even when no step came since the last reset.
        if constexpr (requires { encoder_.reset(); }) encoder_.reset();
        sim_.step(env_.control_interval_s, metrics_);
        encode_all();
        return observation_;
    }

    /// Whether every encoder accepted the last observation, reset's or
    /// step's (a refused function's slice is zeros). A learner must not
    /// store a transition from or to a refused observation.
    [[nodiscard]] bool observation_valid() const noexcept { return observation_valid_; }

    /// Applies one action per function, runs one control interval, and
    /// returns what happened. A non-finite action value means "no change".
    /// Replica targets are clamped to each function's [min_replicas,
    /// max_replicas] of env_config::functions (then by the simulator to
    /// max_replicas of its configuration), so an agent's ±1 moves stay in
    /// its bounds.
    step_result step(std::span<const double> action) {
        require_started("cluster_env::step");
        if (action.size() != function_count()) {
            throw error("cluster_env::step: " + std::to_string(action.size()) + " action values for " +
                        std::to_string(function_count()) + " functions");
        }
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            const double a = action[f];
            if (!std::isfinite(a)) {
                continue;
            }
            // A replica target in double, brought into int's range before it is
            // converted (3e9 or a delta of 2^31 - 1 must not wrap to 0).
            const auto count = [](double target) {
                return static_cast<int>(std::clamp(std::round(target), 0.0, static_cast<double>(std::numeric_limits<int>::max())));
            };
            const replica_bounds bounds = replica_bounds::of(env_.functions[f]);
            switch (env_.actions) {
                case action_kind::replica_delta: sim_.set_replicas(f, bounds.clamp(count(sim_.replicas(f) + std::round(a)))); break;
                case action_kind::replica_count: sim_.set_replicas(f, bounds.clamp(count(a))); break;
                case action_kind::cpu_limit_delta: sim_.set_cpu_limit(f, sim_.cpu_limit(f) + a); break;
                case action_kind::memory_limit_delta: sim_.set_memory_limit(f, sim_.memory_limit_mb(f) + a); break;
            }
        }
        return advance();
    }

private:
    // Stepping before the first reset would play the constructor's seed 0
    // without reset's first interval: an episode no reset(seed) reproduces.
    void require_started(const char* call) const {
        if (!started_) throw error(std::string(call) + ": call reset(seed) first");
    }

    step_result advance() {
        sim_.step(env_.control_interval_s, metrics_);
        encode_all();
        ++steps_;
        return {.observation = observation_,
                .observation_valid = observation_valid_,
                .reward = reward_(std::span<const function_metrics>(metrics_), std::span<const scaling_state>(env_.functions)),
                .terminated = false,
                .truncated = steps_ >= env_.episode_steps,
                .info = metrics_};
    }

public:

    /// Sets every function's replicas (and, where a target gives them, the
    /// per-replica CPU and memory limits) to absolute targets, runs one
    /// control interval, and returns what happened. What a learned policy's
    /// action map produces, so a training loop needs no action_kind: the
    /// meaning of the values is in their type. Replica targets are clamped
    /// to [0, max_replicas] of each function's configuration by the
    /// simulator (not to the scaling_state's bounds: a policy's guard does that).
    step_result step_to(std::span<const scaling_target> targets) {
        require_started("cluster_env::step_to");
        if (targets.size() != function_count()) {
            throw error("cluster_env::step_to: " + std::to_string(targets.size()) + " targets for " +
                        std::to_string(function_count()) + " functions");
        }
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            const scaling_target& t = targets[f];
            sim_.set_replicas(f, t.replicas);
            if (std::isfinite(t.cpu_limit)) sim_.set_cpu_limit(f, t.cpu_limit);
            if (std::isfinite(t.memory_limit_mb)) sim_.set_memory_limit(f, t.memory_limit_mb);
        }
        return advance();
    }

    /// Function f's slice of the last observation (an agent's view).
    [[nodiscard]] std::span<const float> observation_of(std::size_t f) const noexcept {
        return std::span<const float>(observation_).subspan(f * encoder_.size(), encoder_.size());
    }

    /// Each function's metrics of the last interval (what the last
    /// observation encodes).
    [[nodiscard]] std::span<const function_metrics> metrics() const noexcept { return metrics_; }

    /// Each function's scaling state as the encoders last saw it.
    [[nodiscard]] std::span<const scaling_state> states() const noexcept { return env_.functions; }

    /// Function f's own reward for the last interval (an agent's reward).
    [[nodiscard]] double reward_of(std::size_t f) const noexcept {
        return reward_(std::span<const function_metrics>(metrics_).subspan(f, 1),
                       std::span<const scaling_state>(env_.functions).subspan(f, 1));
    }

private:
    void encode_all() noexcept {
        observation_valid_ = true;
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            scaling_state& s = env_.functions[f];
            s.replicas = sim_.replicas(f);
            s.cpu_limit = sim_.cpu_limit(f);
            s.memory_limit_mb = sim_.memory_limit_mb(f);
            s.time_s = sim_.now();
            const auto slice = std::span<float>(observation_).subspan(f * encoder_.size(), encoder_.size());
            if (!encode_function(encoder_, f, metrics_[f], s, slice)) {
                std::fill(slice.begin(), slice.end(), 0.0F);
                observation_valid_ = false;
            }
        }
    }

    sim::simulation sim_;
    env_config env_;
    Encoder encoder_;
    Reward reward_;
    std::vector<function_metrics> metrics_;
    std::vector<float> observation_;
    int steps_ = 0;
    bool started_ = false;  // reset() has run: step() and step_to() may advance
    bool observation_valid_ = true;
};

}  // namespace rlscale::sim
