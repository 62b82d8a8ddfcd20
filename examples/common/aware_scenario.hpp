#pragma once

// AWARE's setting in the simulator: one workload whose replicas, CPU limit
// and memory limit are all scaled (multidimensional Pod autoscaling), under
// loads shaped like the Azure Functions 2019 trace, with the changes
// AWARE injects after convergence (load level, service time, a new profile).

#include "simppo_scenario.hpp"

#include <rlscale/core/random.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>
#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/env.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/workload.hpp>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale::examples {

/// A workload change injected after convergence (AWARE §2.3 and §5.3: load
/// changes and workload updates).
enum class aware_change : std::uint8_t {
    none,          ///< the training workload
    load_level,    ///< the mean rate × 1.8
    service_time,  ///< every request takes 1.5 × as long (an update that made the code slower)
    new_profile,   ///< a memory-heavier, less CPU-bound function (another workload)
};

[[nodiscard]] constexpr std::string_view to_string(aware_change c) noexcept {
    switch (c) {
        case aware_change::none: return "none";
        case aware_change::load_level: return "load x1.8";
        case aware_change::service_time: return "service time x1.5";
        case aware_change::new_profile: return "new profile";
    }
    return "none";
}

/// Settings of the AWARE scenario.
struct aware_scenario_config {
    double control_interval_s = 15;  ///< seconds per RL step (AWARE gives none; the HPA's 15 s)
    int episode_steps = 100;         ///< AWARE Table 2: 100 steps per episode
    double mean_rps = 60;            ///< mean arrival rate of the training workload
    double peak_cap = 3;             ///< no rate above this multiple of the mean
    int max_replicas = 20;           ///< AWARE's code: replicas 1–20
    double slo_s = 1.0;              ///< p90 latency bound
    /// Directory holding the Azure trace's invocations.csv for the unseen
    /// loads; empty = the first of simppo_trace_dirs() that has one.
    std::filesystem::path trace_dir{};
    std::uint64_t seed = 1;          ///< seeds every load

    void validate() const {
        check_fields("aware_scenario_config")
            .greater("control_interval_s", control_interval_s, 0.0)
            .in("episode_steps", episode_steps, 1, 100'000)
            .greater("mean_rps", mean_rps, 0.0)
            .at_least("peak_cap", peak_cap, 1.0)
            .in("max_replicas", max_replicas, 2, 1000)
            .greater("slo_s", slo_s, 0.0);
    }
};

/// The workload: a web-serving function of mean 0.2 s per request at full
/// speed, 0.5 core per request in service, up to 8 requests per replica,
/// a 256 MB runtime plus 64 MB per request in service (the absolute memory
/// model: a replica with less than 768 MB serves fewer than 8 at once), a
/// Kubernetes pod start. One replica at 1 core serves 10 requests/s, at 2
/// cores 20 (AWARE's CPU bound, 2048 millicores), at 4 cores all 8 at full
/// speed.
[[nodiscard]] inline sim::function_profile aware_profile(aware_change change = aware_change::none, double slo_s = 1.0) {
    sim::function_profile p;
    p.name = "aware-web";
    const double mean_s = change == aware_change::service_time ? 0.3 : 0.2;
    p.service = sim::service_time::lognormal_from_mean_cv(mean_s, 0.5);
    p.cpu_demand = 0.5;
    p.cpu_limit = 1.0;
    p.memory_mb = 768;
    p.concurrency = 8;
    p.cold_start = sim::detail::kubernetes_pod_start();
    p.timeout_s = 30;
    p.slo_s = slo_s;
    p.memory_working_set_mb = 256;
    p.memory_per_request_mb = 64;
    if (change == aware_change::new_profile) {
        // An image-processing-like function: less CPU per request, a large
        // runtime and 160 MB per request, so memory binds before CPU.
        p.name = "aware-image";
        p.cpu_demand = 0.25;
        p.memory_working_set_mb = 512;
        p.memory_per_request_mb = 160;
    }
    return p;
}

/// Loads for training (synthetic, Azure-like) and for evaluation on loads
/// the agent never saw (the Azure Functions 2019 trace's own functions when
/// a trace is found, else synthetic shapes from other seeds).
class aware_scenario {
public:
    explicit aware_scenario(aware_scenario_config config = {}) : config_((config.validate(), config)) {
        simppo_scenario_config probe;
        probe.load = simppo_load_source::automatic;
        probe.trace_dir = config_.trace_dir;
        if (const auto dir = find_simppo_trace(probe)) {
            trace_shapes_ = simppo_detail::trace_shapes(sim::azure_trace::load(*dir / "invocations.csv"), config_.peak_cap);
            if (!trace_shapes_.empty()) trace_dir_ = *dir;
        }
    }

    [[nodiscard]] const aware_scenario_config& config() const noexcept { return config_; }
    [[nodiscard]] double episode_seconds() const noexcept {
        return (static_cast<double>(config_.episode_steps) + 1) * config_.control_interval_s;
    }
    /// Whether the unseen loads come from the Azure trace.
    [[nodiscard]] bool from_trace() const noexcept { return trace_dir_.has_value(); }
    [[nodiscard]] const std::optional<std::filesystem::path>& trace_dir() const noexcept { return trace_dir_; }
    /// Unseen loads available (the trace's usable functions, or 8 synthetic ones).
    [[nodiscard]] std::size_t unseen_count() const noexcept { return trace_shapes_.empty() ? 8 : trace_shapes_.size(); }

    /// Training load of episode `episode`: an Azure-like synthetic shape
    /// (simppo_detail::synthetic_shape: slow swing, bursts, jitter), mean
    /// mean_rps × `level`, from its own seed.
    [[nodiscard]] sim::workload training_load(std::uint64_t episode, double level = 1.0) const {
        rng gen(config_.seed ^ (0x9e3779b97f4a7c15ULL * (episode + 1)));
        const std::size_t bins = simppo_detail::bins_covering(episode_seconds(), config_.control_interval_s);
        std::vector<double> rates =
            simppo_detail::synthetic_shape(bins, config_.control_interval_s, 900, config_.peak_cap, gen);
        for (double& r : rates) r *= config_.mean_rps * level;
        return sim::workload(std::move(rates), config_.control_interval_s, true);
    }

    /// Unseen load `i` from minute `offset` of its trace function (per-minute
    /// rates, mean mean_rps): the trace's own time correlation.
    [[nodiscard]] sim::workload unseen_load(std::size_t i, std::size_t offset) const {
        if (trace_shapes_.empty()) {
            rng gen(~config_.seed ^ (0xd1b54a32d192ed03ULL * (i + 1)) ^ offset);
            const std::size_t bins = simppo_detail::bins_covering(episode_seconds(), 60);
            std::vector<double> rates = simppo_detail::synthetic_shape(bins, 60, 3600, config_.peak_cap, gen);
            for (double& r : rates) r *= config_.mean_rps;
            return sim::workload(std::move(rates), 60, true);
        }
        const std::vector<double>& shape = trace_shapes_[i % trace_shapes_.size()];
        const std::size_t bins = simppo_detail::bins_covering(episode_seconds(), 60);
        std::vector<double> rates(bins);
        for (std::size_t k = 0; k < bins; ++k) rates[k] = config_.mean_rps * shape[(offset + k) % shape.size()];
        return sim::workload(std::move(rates), 60, true);
    }

    /// One function running `profile` under `load` on a node large enough
    /// that only the function's own limits bind.
    [[nodiscard]] sim::cluster_config cluster(sim::function_profile profile, sim::workload load) const {
        return {.node = {.cores = 64, .memory_mb = 262144, .cpu_overcommit = 4},
                .functions = {{.profile = std::move(profile), .load = std::move(load), .max_replicas = config_.max_replicas,
                               .initial_replicas = 2, .queue_capacity = 100000}}};
    }

    /// The environment settings: 15-s steps, 100-step episodes, bounds 1..max, the p90 SLO.
    [[nodiscard]] sim::env_config env(const sim::function_profile& profile) const {
        return {.control_interval_s = config_.control_interval_s,
                .episode_steps = config_.episode_steps,
                .actions = sim::action_kind::replica_count,
                .functions = {{.replicas = 2, .min_replicas = 1, .max_replicas = config_.max_replicas,
                               .cpu_limit = profile.cpu_limit, .memory_limit_mb = profile.memory_mb,
                               .slo = {.latency_s = profile.slo_s, .percentile = 0.9}}}};
    }

private:
    aware_scenario_config config_;
    std::vector<std::vector<double>> trace_shapes_;
    std::optional<std::filesystem::path> trace_dir_;
};

}  // namespace rlscale::examples
