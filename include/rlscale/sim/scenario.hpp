#pragma once

/// The simulated scenarios rlscale evaluates policies on (SCARLET's three
/// functions, Polimi's matrix multiplication, Azure Functions 2019 trace
/// functions), and the loop that runs any joint policy through one from one
/// replica per function, scoring every control interval: SLO violations,
/// p99 against the SLO, replica-seconds, a reward, and optionally every
/// function-tick (for CSV output). Used by rlscale-evaluate, the baselines
/// program and the SCARLET demo.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/latency_sketch.hpp>
#include <rlscale/sim/simulation.hpp>
#include <rlscale/sim/workload.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale::sim {

/// One experiment: a cluster, each function's bounds and objective, a length.
struct scenario {
    std::string name;
    sim::cluster_config config;
    std::vector<scaling_state> states;  ///< bounds and SLO per function
    /// Simulated seconds; run() plays whole control intervals, so it needs
    /// at least one (15 s) and leaves a tail shorter than one unsimulated.
    double duration_s = 3600;
};

inline constexpr double control_interval_s = 15;  // the HPA's default sync period

inline scaling_state bounds(const sim::function_profile& p, double percentile, int max_replicas, double target_rps = 0) {
    return {.replicas = 1, .min_replicas = 1, .max_replicas = max_replicas, .cpu_limit = p.cpu_limit,
            .memory_limit_mb = p.memory_mb, .slo = {.latency_s = p.slo_s, .percentile = percentile, .target_rps = target_rps}};
}

/// SCARLET: its three functions side by side, each swinging
/// around 450 req/s with a 600 req/s target throughput, SLAs at p90.
/// `phase_offset` shifts every function's sinusoid (a different day).
inline scenario scarlet_3fn(double duration_s, double phase_offset = 0) {
    scenario s{.name = "scarlet-3fn", .config = {.node = {.cores = 8, .memory_mb = 16384}}, .duration_s = duration_s};
    double phase = phase_offset;
    for (const char* name : {"fibonacci-python", "hotel-app-geo", "hotel-app-profile"}) {
        const sim::function_profile p = sim::profile(name);
        s.config.functions.push_back({.profile = p, .load = sim::sinusoidal(450, 300, 600, duration_s, phase), .max_replicas = 20});
        s.states.push_back(bounds(p, 0.9, 20, 600));
        phase += 2.0;
    }
    return s;
}

/// Polimi: the 200 × 200 matrix multiplication under its low,
/// medium or high sinusoidal load; its SLO bounds the mean latency.
inline scenario polimi(std::string_view level, double duration_s) {
    if (level != "low" && level != "medium" && level != "high") {
        throw config_error("level", "must be low, medium or high, got \"" + std::string(level) + "\"");
    }
    const sim::function_profile p = sim::matrix_multiplication(200);
    sim::workload load = level == "low" ? sim::sinusoidal_low(duration_s)
                         : level == "medium" ? sim::sinusoidal_medium(duration_s)
                                             : sim::sinusoidal_high(duration_s);
    scenario s{.name = "polimi-" + std::string(level), .config = {.node = {.cores = 16, .memory_mb = 16384}}, .duration_s = duration_s};
    s.config.functions.push_back({.profile = p, .load = std::move(load), .max_replicas = 30});
    s.states.push_back(bounds(p, 0.0, 30));
    return s;
}

/// Azure Functions 2019 functions on one 32-core node. Each replays its own
/// per-minute counts, scaled so that its mean offered load is `replicas_of_load`
/// replicas' worth of work, with its own service times (the trace's duration
/// percentiles). SLO: 1.15 × the service p99 (SIMPPO's relaxation of the
/// isolated p99), judged at p90: these services are heavy-tailed, so a
/// per-interval p99 would exceed it under any policy. `duration_s` (finite,
/// > 0) is cut to the trace's length; `replicas_of_load` must be finite and
/// > 0, and every function must have invocations in the trace's minutes.
inline scenario azure(const std::filesystem::path& data, std::span<const std::string> hashes, double duration_s,
                      std::string name = "azure-3fn", double replicas_of_load = 4) {
    check_fields("azure").greater("duration_s", duration_s, 0.0).greater("replicas_of_load", replicas_of_load, 0.0);
    const sim::azure_trace trace = sim::azure_trace::load(data / "invocations.csv");
    const std::vector<sim::azure_duration> durations = sim::load_azure_durations(data / "durations.csv");
    scenario s{.name = std::move(name), .config = {.node = {.cores = 32, .memory_mb = 32768}},
               .duration_s = std::min(duration_s, 60.0 * static_cast<double>(trace.minutes()))};
    for (const std::string& hash : hashes) {
        const sim::azure_function_trace& f = trace.by_hash(hash);
        // No invocations: no load to scale to replicas_of_load (and no rate to judge a policy by).
        if (!(f.total() > 0)) {
            throw config_error("azure.hashes", "function \"" + hash + "\" has no invocations in the trace's minutes (" +
                                                   format_number(trace.minutes()) + "): choose one that is invoked");
        }
        sim::function_profile p = sim::profile("memory-bound");
        p.name = "azure-" + hash;
        p.service = sim::service_time::from_azure_percentiles_ms(sim::duration_by_hash(durations, f.hash_function).percentiles_ms);
        p.cpu_demand = 1.0;
        p.slo_s = 1.15 * p.service.quantile(0.99);
        const double mean_rate = f.total() / (60.0 * static_cast<double>(f.per_minute.size()));
        const double scale = replicas_of_load / (mean_rate * p.service.mean());
        s.config.functions.push_back({.profile = p, .load = sim::to_workload(f, scale), .max_replicas = 40});
        s.states.push_back(bounds(p, 0.9, 40, mean_rate * scale));
    }
    return s;
}

/// The three Azure functions of docs/baselines.md: flat, bursty, very bursty.
inline std::vector<std::string> azure_3fn_hashes() { return {"34c2db012d", "0c0c478de9", "1f19e3ce23"}; }

/// Every named scenario, for `--scenario all`.
inline std::vector<scenario> all_scenarios(const std::filesystem::path& data, double duration_s) {
    std::vector<scenario> out;
    out.push_back(scarlet_3fn(duration_s));
    for (const char* level : {"low", "medium", "high"}) out.push_back(polimi(level, duration_s));
    const auto hashes = azure_3fn_hashes();
    out.push_back(azure(data, hashes, duration_s));
    return out;
}

/// A named scenario: scarlet-3fn, polimi-low|medium|high or azure-3fn.
inline scenario named_scenario(std::string_view name, const std::filesystem::path& data, double duration_s) {
    if (name == "scarlet-3fn") return scarlet_3fn(duration_s);
    if (name == "polimi-low") return polimi("low", duration_s);
    if (name == "polimi-medium") return polimi("medium", duration_s);
    if (name == "polimi-high") return polimi("high", duration_s);
    if (name == "azure-3fn") {
        const auto hashes = azure_3fn_hashes();
        return azure(data, hashes, duration_s);
    }
    throw config_error("scenario", "unknown scenario \"" + std::string(name) +
                                       "\" (scarlet-3fn, polimi-low, polimi-medium, polimi-high, azure-3fn)");
}

/// Requests one replica completes per second at full load: its concurrency,
/// or fewer when its CPU limit cannot run that many at once.
inline double replica_capacity(const sim::function_profile& p) {
    const double parallel = std::min(static_cast<double>(p.concurrency), p.cpu_limit / p.cpu_demand);
    return parallel / p.service.mean();
}

/// One function-tick of a run.
struct tick_record {
    double time_s = 0;
    std::uint32_t function = 0;
    double offered_rps = 0;  ///< arrivals / interval
    double p99_s = 0;
    double slo_latency_s = 0;  ///< the SLO bound
    double latency_at_slo_s = 0;  ///< latency at the SLO percentile
    std::uint64_t arrivals = 0;
    std::uint64_t drops = 0;
    int ready = 0;
    int decided = 0;
    decision_source source = decision_source::policy;
};

/// What a run measured.
struct outcome {
    double ticks = 0;                 ///< function-ticks with arrivals
    double violations = 0;            ///< of those, SLO violated or requests dropped
    std::vector<double> p99_ratios;   ///< p99 / SLO of each function-tick with completions
    double replica_seconds = 0;
    double reward_sum = 0;            ///< Σ over ticks of the scenario's reward
    double reward_ticks = 0;
    double fallback_ticks = 0;        ///< function-ticks decided by a fallback or held
    std::vector<tick_record> ticks_log;

    [[nodiscard]] double violation_rate() const { return ticks > 0 ? violations / ticks : 0.0; }
    [[nodiscard]] double mean_reward() const { return reward_ticks > 0 ? reward_sum / reward_ticks : 0.0; }
    /// The q-quantile (nearest rank) of the per-tick p99 / SLO ratios; q is
    /// taken within [0, 1] (0 gives the smallest).
    [[nodiscard]] double p99_ratio(double q) const {
        if (p99_ratios.empty()) return 0;
        std::vector<double> v = p99_ratios;
        const std::uint64_t rank = detail::nearest_rank(std::clamp(std::isnan(q) ? 1.0 : q, 0.0, 1.0), v.size());
        const auto k = static_cast<std::size_t>(rank) - 1;
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
        return v[k];
    }
};

/// Runs `decide` through `sc` from one replica per function, every
/// control_interval_s, scoring each tick with `score` (a reward over all
/// functions). The same seed gives every policy the same requests. `model`
/// picks the simulator (the request-level one by default). Only whole
/// intervals are played: sc.duration_s must be finite and at least one
/// interval (a shorter run would score no tick, a perfect 0 violations),
/// and a tail shorter than one interval (the last 5 s of 100 s) is not
/// simulated.
template <joint_policy Policy, typename Score>
outcome run(const scenario& sc, Policy&& policy, std::uint64_t seed, const Score& score, bool keep_ticks = false,
            sim_model model = sim_model::request) {
    check_fields("scenario").require(std::isfinite(sc.duration_s) && sc.duration_s + 1e-9 >= control_interval_s, "duration_s",
                                     "be finite and >= one control interval (" + format_number(control_interval_s) + " s)",
                                     sc.duration_s);
    sim::simulation sim(sc.config, seed, model);
    const std::size_t n = sim.function_count();
    std::vector<scaling_state> states = sc.states;
    std::vector<function_metrics> m(n);
    std::vector<decision> d(n);
    outcome o;
    for (double t = control_interval_s; t <= sc.duration_s + 1e-9; t += control_interval_s) {
        sim.step(control_interval_s, m);
        for (std::uint32_t f = 0; f < n; ++f) {
            states[f].replicas = sim.replicas(f);
            states[f].cpu_limit = sim.cpu_limit(f);
            states[f].memory_limit_mb = sim.memory_limit_mb(f);
            states[f].time_s = t;
        }
        o.reward_sum += score(std::span<const function_metrics>(m), std::span<const scaling_state>(states));
        o.reward_ticks += 1;
        policy.decide(std::span<const function_metrics>(m), std::span<const scaling_state>(states), std::span<decision>(d));
        for (std::uint32_t f = 0; f < n; ++f) {
            sim.set_replicas(f, d[f].replicas);
            // A multidimensional decision (a DDPG checkpoint, HPA+VPA) resizes too; NaN keeps a limit.
            if (std::isfinite(d[f].cpu_limit)) sim.set_cpu_limit(f, d[f].cpu_limit);
            if (std::isfinite(d[f].memory_limit_mb)) sim.set_memory_limit(f, d[f].memory_limit_mb);
            const scaling_state& s = states[f];
            if (m[f].arrivals > 0) {
                o.ticks += 1;
                if (violates_slo(m[f], s)) o.violations += 1;
            }
            if (m[f].completions > 0) o.p99_ratios.push_back(m[f].latency.p99 / s.slo.latency_s);
            if (d[f].source != decision_source::policy) o.fallback_ticks += 1;
            o.replica_seconds += m[f].replica_seconds;
            if (keep_ticks) {
                o.ticks_log.push_back({.time_s = t, .function = f,
                                       .offered_rps = static_cast<double>(m[f].arrivals) / control_interval_s,
                                       .p99_s = m[f].latency.p99, .slo_latency_s = s.slo.latency_s,
                                       .latency_at_slo_s = latency_at(m[f], s.slo.percentile), .arrivals = m[f].arrivals,
                                       .drops = m[f].drops, .ready = static_cast<int>(m[f].ready_replicas),
                                       .decided = d[f].replicas, .source = d[f].source});
            }
        }
    }
    return o;
}

/// A CSV field as RFC 4180 writes it: in double quotes, each inner quote
/// doubled, when it holds a comma, a double quote, a CR or an LF (a policy
/// named by a checkpoint path may); unchanged otherwise.
inline std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

/// Appends a run's ticks to a CSV (header written by csv_header); the
/// scenario, policy and function names are written with csv_field.
inline void csv_header(std::FILE* csv) {
    std::fprintf(csv, "scenario,policy,function,time_s,offered_rps,arrivals,drops,p99_s,latency_at_slo_s,slo_s,ready,decided,source\n");
}
inline void csv_rows(std::FILE* csv, const scenario& sc, std::string_view policy, const outcome& o) {
    const std::string scenario_name = csv_field(sc.name);
    const std::string policy_name = csv_field(policy);
    std::vector<std::string> function_names;
    function_names.reserve(sc.config.functions.size());
    for (const auto& f : sc.config.functions) function_names.push_back(csv_field(f.profile.name));
    for (const tick_record& r : o.ticks_log) {
        const std::string_view source = to_string(r.source);
        std::fprintf(csv, "%s,%.*s,%s,%.0f,%.6g,%llu,%llu,%.6g,%.6g,%.6g,%d,%d,%.*s\n", scenario_name.c_str(),
                     static_cast<int>(policy_name.size()), policy_name.data(), function_names.at(r.function).c_str(), r.time_s,
                     r.offered_rps, static_cast<unsigned long long>(r.arrivals), static_cast<unsigned long long>(r.drops), r.p99_s,
                     r.latency_at_slo_s, r.slo_latency_s, r.ready, r.decided, static_cast<int>(source.size()), source.data());
    }
}

}  // namespace rlscale::sim
