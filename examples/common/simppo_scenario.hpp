// SIMPPO's reproduction setting on the simulator (Qiu et al., SIMPPO, §4,
// §5, §7): N functions of three categories (CPU-, memory- and I/O-intensive)
// under Azure Functions 2019 load, all on one shared node (the multi-tenant
// case SIMPPO trains in) or each alone on a node of its own (the
// single-tenant baseline S-RL is trained and judged in). Shared by the
// SIMPPO examples and their tests.
#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/env.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/scenario.hpp>
#include <rlscale/sim/workload.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rlscale::examples {

/// SIMPPO's three coarse function categories (§6.2 "Network Parameter
/// Sharing": CPU-, memory- and I/O-intensive), one base model each.
enum class simppo_category : std::uint8_t {
    cpu,     ///< CPU-intensive (Image-Resize, Image-Inference): sim's cpu-bound profile
    memory,  ///< memory-intensive (Base64, Markdown2HTML): memory-bound
    io,      ///< I/O-bound (Uploader, Compression): io-bound
};

/// "cpu", "memory" or "io".
[[nodiscard]] constexpr std::string_view label(simppo_category c) noexcept {
    switch (c) {
        case simppo_category::cpu: return "cpu";
        case simppo_category::memory: return "memory";
        case simppo_category::io: return "io";
    }
    return "cpu";
}

/// The category of label "cpu", "memory" or "io"; throws config_error
/// ("category") for anything else.
[[nodiscard]] inline simppo_category simppo_category_from(std::string_view text) {
    if (text == "cpu") return simppo_category::cpu;
    if (text == "memory") return simppo_category::memory;
    if (text == "io") return simppo_category::io;
    throw config_error("category", "must be \"cpu\", \"memory\" or \"io\", got \"" + std::string(text) + "\"");
}

/// The simulator profile of a category: sim::profile("cpu-bound"),
/// "memory-bound" or "io-bound" (SIMPPO §4, §7.2; each SLO is 1.15 × the
/// isolated p99 of its service time, as §4 defines it).
[[nodiscard]] inline sim::function_profile simppo_profile(simppo_category c) {
    switch (c) {
        case simppo_category::cpu: return sim::profile("cpu-bound");
        case simppo_category::memory: return sim::profile("memory-bound");
        case simppo_category::io: return sim::profile("io-bound");
    }
    return sim::profile("cpu-bound");
}

/// `n` categories cycling cpu, memory, io, cpu, …: 12 functions give 4 of
/// each (§7.1 starts from 12 functions, one per benchmark of Table 3, which
/// spans the three categories).
[[nodiscard]] inline std::vector<simppo_category> simppo_categories(std::size_t n) {
    std::vector<simppo_category> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<simppo_category>(i % 3);
    return out;
}

/// Where the arrival rates come from.
enum class simppo_load_source : std::uint8_t {
    automatic,  ///< the Azure trace when one is found (simppo_trace_dirs), else synthetic
    trace,      ///< the Azure trace; throws when none is found
    synthetic,  ///< always the synthetic Azure-like shape (no file read)
};

/// How a trace becomes a function's rate.
enum class simppo_trace_mode : std::uint8_t {
    /// SIMPPO §4: "uniformly and randomly sampled the invocation rate at each
    /// RL step from the constructed dataset" of per-minute rates, pooled over
    /// the trace's functions (a function's pattern "changed to multiple
    /// function traces"): one independent draw per control interval.
    sampled,
    /// One trace function's per-minute rates replayed in order (60-s bins)
    /// from a random minute: the trace's own time correlation.
    replay,
};

/// Settings of the SIMPPO scenario. Every random choice derives from `seed`,
/// so the same settings build the same loads; the simulation's arrivals and
/// service times are seeded separately, by the cluster or env_config's reset.
struct simppo_scenario_config {
    std::size_t functions = 12;                 ///< N (§7.1 starts with 12)
    std::vector<simppo_category> categories{};  ///< one per function; empty = simppo_categories(functions)
    double control_interval_s = 15;             ///< seconds per RL step (the paper gives none; the HPA's and sim::control_interval_s)
    int episode_steps = 50;                     ///< T, steps per episode (Table 2: 50)
    double duration_s = 0;                      ///< length of each load before it repeats; 0 = (episode_steps + 1) × control_interval_s (reset runs one interval)
    double mean_load_replicas = 2;              ///< mean offered load of each function, in replicas kept busy (λ·E[S] / min(concurrency, cpu_limit / cpu_demand))
    double peak_cap = 4;                        ///< no rate above this multiple of a function's mean (the trace has bursts of 50×)
    double shared_mean_utilization = 0.75;      ///< the shared node's cores = Σ mean CPU demand / this (unless node_cores is set)
    double node_cores = 0;                      ///< cores of the node; 0 = sized by shared_mean_utilization
    double node_memory_mb = 0;                  ///< memory of the node; 0 = node_memory_replicas' rule, or Σ max_replicas × profile memory × 2
    double node_memory_replicas = 0;            ///< > 0 (and node_memory_mb 0): node memory = Σ this × profile memory, the replicas per function the node holds on average; replicas beyond it stay pending, so functions compete for placement
    /// The node's cores and memory are sized for the first this many
    /// functions (0 = all): a run that adds functions later sizes it for
    /// those it starts with, so the added ones join a node already as busy
    /// as the rule makes it, not one sized for them in advance.
    std::size_t node_functions = 0;
    int min_replicas = 1;                       ///< lower replica bound of every function (SIMPPO allows 0; 1 keeps a function reachable in the simulator, which has no scale-from-zero)
    int max_replicas = 20;                      ///< upper replica bound (the simulator reserves this many slots)
    int initial_replicas = 1;                   ///< replicas ready at time 0
    double slo_percentile = 0.99;               ///< SIMPPO's SLO percentile (see simppo_scenario)
    simppo_load_source load = simppo_load_source::automatic;  ///< trace or synthetic
    simppo_trace_mode trace_mode = simppo_trace_mode::sampled;  ///< how a trace is used
    std::filesystem::path trace_dir{};          ///< directory holding invocations.csv; empty = the first of simppo_trace_dirs() that has one (a named directory without one counts as no trace)
    double synthetic_period_s = 1800;           ///< period of the synthetic load's slow swing (a day's cycle compressed so an episode sees part of it)
    std::uint64_t seed = 1;                     ///< seeds every load

    /// The length of each load: duration_s, or (episode_steps + 1) ×
    /// control_interval_s when it is 0.
    [[nodiscard]] double load_duration() const noexcept {
        return duration_s > 0 ? duration_s : (static_cast<double>(episode_steps) + 1) * control_interval_s;
    }

    /// Throws config_error naming the field ("simppo_scenario_config.peak_cap")
    /// and its value.
    void validate() const {
        const check_fields check("simppo_scenario_config");
        check.in("functions", functions, std::size_t{1}, std::size_t{1000})
            .require(categories.empty() || categories.size() == functions, "categories",
                     "be empty or hold one category per function (" + format_number(functions) + ")", categories.size())
            .greater("control_interval_s", control_interval_s, 0.0)
            .at_least("episode_steps", episode_steps, 1)
            .at_least("duration_s", duration_s, 0.0)
            .greater("mean_load_replicas", mean_load_replicas, 0.0)
            .at_least("peak_cap", peak_cap, 1.0)
            .in_open_closed("shared_mean_utilization", shared_mean_utilization, 0.0, 4.0)
            .at_least("node_cores", node_cores, 0.0)
            .at_least("node_memory_mb", node_memory_mb, 0.0)
            // A million replicas per function keeps the node's memory, their sum, finite.
            .in("node_memory_replicas", node_memory_replicas, 0.0, 1e6)
            .at_most("node_functions", node_functions, functions)
            .at_least("min_replicas", min_replicas, 0)
            .at_least("max_replicas", max_replicas, 1)
            .at_least_field("max_replicas", max_replicas, "min_replicas", min_replicas)
            .require(initial_replicas >= min_replicas && initial_replicas <= max_replicas, "initial_replicas",
                     "be in [min_replicas, max_replicas] = [" + format_number(min_replicas) + ", " + format_number(max_replicas) + "]",
                     initial_replicas)
            .in_open_closed("slo_percentile", slo_percentile, 0.0, 1.0)
            .greater("synthetic_period_s", synthetic_period_s, 0.0);
        // Each load holds one rate per bin of at least control_interval_s: keep it small.
        check.require(load_duration() <= 1e7, duration_s > 0 ? "duration_s" : "episode_steps",
                      "give loads of at most 1e+07 s (" + format_number(load_duration()) + " s asked)",
                      duration_s > 0 ? duration_s : static_cast<double>(episode_steps));
        for (std::size_t i = 0; i < categories.size(); ++i) {
            const auto c = static_cast<int>(categories[i]);
            check.in("categories[" + std::to_string(i) + "]", c, 0, 2);
        }
    }
};

/// Where an Azure Functions 2019 trace (a directory with invocations.csv) may
/// be, best first, found the way the existing programs find it: the shared
/// 455-function excerpt (RLSCALE_DATA_DIR/azure2019 when the tests define
/// it, then <checkout>/../shared/data/azure2019 next to this file), then the
/// 12-function excerpt kept in the repository (RLSCALE_SOURCE_DIR/data/
/// azure2019-excerpt when the examples define it, then the same path next to
/// this file).
[[nodiscard]] inline std::vector<std::filesystem::path> simppo_trace_dirs() {
    std::vector<std::filesystem::path> dirs;
#ifdef RLSCALE_DATA_DIR
    dirs.push_back(std::filesystem::path(RLSCALE_DATA_DIR) / "azure2019");
#endif
    const std::filesystem::path checkout = std::filesystem::path(__FILE__).parent_path() / ".." / "..";
    dirs.push_back(checkout / ".." / "shared" / "data" / "azure2019");
#ifdef RLSCALE_SOURCE_DIR
    dirs.push_back(std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt");
#endif
    dirs.push_back(checkout / "data" / "azure2019-excerpt");
    return dirs;
}

/// The trace directory `config` names, or the first of simppo_trace_dirs()
/// holding an invocations.csv; none when nothing is found (or the load is
/// synthetic).
[[nodiscard]] inline std::optional<std::filesystem::path> find_simppo_trace(const simppo_scenario_config& config) {
    if (config.load == simppo_load_source::synthetic) return std::nullopt;
    const auto has_trace = [](const std::filesystem::path& dir) {
        std::error_code ec;
        return std::filesystem::is_regular_file(dir / "invocations.csv", ec);
    };
    const auto tidy = [](const std::filesystem::path& dir) {
        std::error_code ec;
        std::filesystem::path p = std::filesystem::weakly_canonical(dir, ec);
        return ec ? dir : p;
    };
    if (!config.trace_dir.empty()) {
        if (has_trace(config.trace_dir)) return tidy(config.trace_dir);
        return std::nullopt;
    }
    for (const std::filesystem::path& dir : simppo_trace_dirs()) {
        if (has_trace(dir)) return tidy(dir);
    }
    return std::nullopt;
}

namespace simppo_detail {

/// Functions of the trace whose shape is used: active in at least 90 % of
/// the minutes, at least 5 invocations a minute on average (fewer are
/// mostly rounding noise) and a coefficient of variation of at least 0.15
/// (flat timers carry no load change). 8 of the 455 shared functions, 2 of
/// the 12 of the repository's excerpt.
inline constexpr double min_active_fraction = 0.9;
inline constexpr double min_mean_per_minute = 5;
inline constexpr double min_cv = 0.15;

/// Bins of `bin_s` covering `duration_s` (both > 0, validated): at least one.
inline std::size_t bins_covering(double duration_s, double bin_s) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(duration_s / bin_s - 1e-9)));
}

/// `v` (≥ 0) rescaled to mean 1 with no value above `cap`: v·k capped at
/// `cap`, for the k that makes the mean of the capped values 1 (found by
/// bisection; the mean is increasing in k). Rescaling alone would leave a
/// burst of 50× the mean; capping after rescaling would lower the mean.
/// When even k → ∞ cannot reach mean 1 (fewer than 1/cap of the values are
/// positive), every positive value becomes `cap`. All 0 stays 0.
inline void normalise(std::vector<double>& v, double cap) {
    const auto capped_mean = [&](double k) {
        double s = 0;
        for (const double x : v) s += std::min(x * k, cap);
        return s / static_cast<double>(v.size());
    };
    double sum = 0;
    double positive = 0;
    for (const double x : v) {
        sum += x;
        positive += x > 0 ? 1 : 0;
    }
    if (!(sum > 0)) return;
    if (cap * positive < static_cast<double>(v.size())) {
        for (double& x : v) x = x > 0 ? cap : 0.0;
        return;
    }
    // mean(min(v·k, cap)) = 1 lies between k = 1 / mean(v) (no cap binding:
    // mean ≤ 1) and the k that lifts the smallest positive value to cap (mean ≥ 1).
    double lo = static_cast<double>(v.size()) / sum;
    double smallest = std::numeric_limits<double>::infinity();
    for (const double x : v) {
        if (x > 0) smallest = std::min(smallest, x);
    }
    double hi = std::max(lo, cap / smallest);
    for (int i = 0; i < 100 && hi - lo > 1e-12 * hi; ++i) {
        const double mid = 0.5 * (lo + hi);
        (capped_mean(mid) < 1 ? lo : hi) = mid;
    }
    for (double& x : v) x = std::min(x * hi, cap);
}

/// Each selected trace function's per-minute rate shape, mean 1 and at most
/// `cap` (see normalise).
inline std::vector<std::vector<double>> trace_shapes(const sim::azure_trace& trace, double cap) {
    std::vector<std::vector<double>> shapes;
    for (const sim::azure_function_trace& f : trace.functions()) {
        const auto minutes = static_cast<double>(f.per_minute.size());
        if (minutes == 0) continue;
        double active = 0;
        double sum = 0;
        double squares = 0;
        for (const double c : f.per_minute) {
            active += c > 0 ? 1 : 0;
            sum += c;
            squares += c * c;
        }
        const double mean = sum / minutes;
        const double cv = mean > 0 ? std::sqrt(std::max(0.0, squares / minutes - mean * mean)) / mean : 0.0;
        if (active / minutes < min_active_fraction || mean < min_mean_per_minute || cv < min_cv) continue;
        shapes.push_back(f.per_minute);
        normalise(shapes.back(), cap);
    }
    return shapes;
}

/// An Azure-like synthetic rate shape of `bins` bins of `bin_s`, mean 1: a
/// slow sinusoidal swing (±30 % over `period_s`, random phase, standing in
/// for the diurnal cycle), bursts (each bin starts one with probability 0.08,
/// lasting a geometric number of bins with mean 2, multiplying the rate by
/// U(1.5, 3)) and per-bin lognormal jitter (σ = 0.25), then normalised
/// (mean 1, at most `cap`).
inline std::vector<double> synthetic_shape(std::size_t bins, double bin_s, double period_s, double cap, rng& gen) {
    std::vector<double> v(bins);
    const double phase = uniform(gen, 0.0, 2 * std::numbers::pi);
    double burst = 1;
    int burst_left = 0;
    constexpr double sigma = 0.25;
    for (std::size_t k = 0; k < bins; ++k) {
        if (burst_left == 0 && uniform01(gen) < 0.08) {
            burst = uniform(gen, 1.5, 3.0);
            burst_left = 1;
            while (uniform01(gen) < 0.5) ++burst_left;
        }
        const double t = (static_cast<double>(k) + 0.5) * bin_s;
        const double swing = 1 + 0.3 * std::sin(2 * std::numbers::pi * t / period_s + phase);
        const double jitter = std::exp(sigma * standard_normal(gen) - 0.5 * sigma * sigma);
        v[k] = swing * jitter * (burst_left > 0 ? burst : 1.0);
        if (burst_left > 0) --burst_left;
    }
    normalise(v, cap);
    return v;
}

}  // namespace simppo_detail

/// SIMPPO's reproduction setting, built once from a simppo_scenario_config:
/// per function a category, a profile, an arrival rate and a scaling state,
/// and the node they share.
///
/// - Functions: simppo_profile of each category, named "<profile>-<i>"
///   ("cpu-bound-0", "memory-bound-1", …).
/// - Load: each function's mean rate is `mean_load_replicas` replicas'
///   worth of work (sim::replica_capacity), shaped by the Azure Functions
///   2019 trace (simppo_trace_mode; each selected trace function's
///   per-minute counts rescaled to mean 1 with bursts capped at `peak_cap`,
///   simppo_detail::normalise) or, when no trace is found
///   or `load` is synthetic, by an Azure-like synthetic shape (a slow swing,
///   bursts and jitter; simppo_detail::synthetic_shape). Loads repeat after
///   `duration_s`. The loads depend on `seed` and the trace found only:
///   another seed, other loads (a training loop cycling several seeds sees several traces, as
///   SIMPPO's agents did).
/// - Node: `node_cores` cores, by default Σ mean CPU demand (of the first
///   node_functions functions, or all) / shared_mean_utilization (0.75)
///   rounded up, so that when replicas are
///   plentiful (every request in service at once, none waiting in a queue)
///   the functions' peaks together ask for more cores than the node has and
///   slow each other down: the contention SIMPPO's multi-tenant case is
///   about. With the defaults (12 functions, 16 cores of mean demand, 22
///   cores) the functions' individual peaks add up to 30-60 cores; held at
///   12 replicas each, they violate their SLO in about 15-30 % of the
///   intervals on the shared node against about 10 % alone, and their p99
///   is a few to 25 % higher (0.8 makes it about 40 % of the intervals, 0.6
///   almost none). CPU placement is not limited (cpu_overcommit high enough for
///   every replica at the largest CPU limit): OpenWhisk places containers by
///   memory, and cpu.shares are weights, not reservations. Memory is, by
///   default, room for every function's max_replicas at twice its profile's
///   memory. (The simulator's cpu_limit is a hard per-replica cap where
///   cpu.shares would let an idle node's spare CPU be used: an
///   approximation.)
/// - Isolated: the same node with one function alone, as S-RL's
///   single-tenant baseline ran "with no other functions running on the
///   platform" (§5.1).
/// - Scaling state: replicas initial_replicas in [min_replicas,
///   max_replicas], the profile's CPU and memory limits (inside
///   simppo_state_config's bounds, 0.125..2 cores and 128..2048 MB), and
///   the SLO at p99: SIMPPO defines each function's SLO as its p99 latency
///   in isolation plus 15 % (§4) and reports p99 throughout (§5, §7), and
///   the profiles' slo_s are 1.15 × their service p99, so p99 is the
///   percentile the bound was made for. (The library's Azure scenario
///   judges at p90 because its trace service times are heavy-tailed; these
///   profiles are not.) With the per-interval p99 of one 15-s interval, a
///   few percent of intervals (more for the I/O profile, σ = 0.6) exceed
///   the bound even without any queueing.
/// - Env: control_interval_s (15 s: the paper gives no step length),
///   episode_steps (50, Table 2's T), actions read as replica counts by
///   cluster_env::step (an action map's targets go through step_to, which
///   also sets the limits).
class simppo_scenario {
public:
    /// Validates `config` (throws config_error) and builds every load; throws
    /// config_error ("load") when `load` is trace and no trace is found, and
    /// data_file_error when a trace file is malformed.
    explicit simppo_scenario(simppo_scenario_config config = {}) : config_(std::move(config)) {
        config_.validate();
        if (config_.categories.empty()) config_.categories = simppo_categories(config_.functions);
        const double duration = config_.load_duration();
        std::vector<std::vector<double>> shapes;
        if (const auto dir = find_simppo_trace(config_)) {
            shapes = simppo_detail::trace_shapes(sim::azure_trace::load(*dir / "invocations.csv"), config_.peak_cap);
            if (!shapes.empty()) trace_dir_ = *dir;
        }
        if (config_.load == simppo_load_source::trace && shapes.empty()) {
            throw config_error("load", "is trace but no Azure trace with usable functions was found (trace_dir \"" +
                                           config_.trace_dir.string() + "\", or simppo_trace_dirs())");
        }
        std::vector<double> pool;  // sampled mode: every minute of every selected function
        for (const auto& s : shapes) pool.insert(pool.end(), s.begin(), s.end());

        double demand = 0;
        double memory = 0;
        for (std::size_t i = 0; i < config_.functions; ++i) {
            const simppo_category c = config_.categories[i];
            sim::function_profile p = simppo_profile(c);
            p.name += "-" + std::to_string(i);
            const double mean_rps = config_.mean_load_replicas * sim::replica_capacity(p);
            rng gen(config_.seed ^ (0x9e3779b97f4a7c15ULL * (i + 1)));
            sim::workload load = make_load(shapes, pool, mean_rps, duration, gen);
            if (config_.node_functions == 0 || i < config_.node_functions) {
                demand += mean_rps * p.service.mean() * p.cpu_demand;
                memory += config_.node_memory_replicas > 0 ? config_.node_memory_replicas * p.memory_mb
                                                           : static_cast<double>(config_.max_replicas) * p.memory_mb * 2;
            }
            states_.push_back({.replicas = config_.initial_replicas, .min_replicas = config_.min_replicas,
                               .max_replicas = config_.max_replicas, .cpu_limit = p.cpu_limit, .memory_limit_mb = p.memory_mb,
                               .slo = {.latency_s = p.slo_s, .percentile = config_.slo_percentile}});
            functions_.push_back({.profile = std::move(p), .load = std::move(load), .max_replicas = config_.max_replicas,
                                  .initial_replicas = config_.initial_replicas});
            mean_rps_.push_back(mean_rps);
        }
        node_.cores = config_.node_cores > 0 ? config_.node_cores : std::max(1.0, std::ceil(demand / config_.shared_mean_utilization));
        node_.memory_mb = config_.node_memory_mb > 0 ? config_.node_memory_mb : memory;
        // Every replica of every function at SIMPPO's largest CPU limit fits.
        const double largest_cpu = static_cast<double>(config_.functions) * static_cast<double>(config_.max_replicas) *
                                   simppo_state_config{}.cpu_max_cores;
        node_.cpu_overcommit = std::max(1.0, largest_cpu / node_.cores);
    }

    /// The settings, with `categories` filled in.
    [[nodiscard]] const simppo_scenario_config& config() const noexcept { return config_; }
    /// N.
    [[nodiscard]] std::size_t size() const noexcept { return functions_.size(); }
    /// Function i's category.
    [[nodiscard]] simppo_category category(std::size_t i) const { return config_.categories.at(i); }
    /// Function i's category label: "cpu", "memory" or "io".
    [[nodiscard]] std::string_view label(std::size_t i) const { return examples::label(category(i)); }
    /// Every function's label, in order.
    [[nodiscard]] std::vector<std::string> labels() const {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < size(); ++i) out.emplace_back(label(i));
        return out;
    }
    /// Whether the loads come from an Azure trace (else the synthetic shape).
    [[nodiscard]] bool from_trace() const noexcept { return trace_dir_.has_value(); }
    /// The trace directory the loads come from, if any.
    [[nodiscard]] const std::optional<std::filesystem::path>& trace_dir() const noexcept { return trace_dir_; }
    /// The node every cluster of this scenario runs on.
    [[nodiscard]] const sim::node_config& node() const noexcept { return node_; }
    /// Function i's profile, load and replica slots.
    [[nodiscard]] const sim::function_config& function(std::size_t i) const { return functions_.at(i); }
    /// Every function's scaling state (bounds, limits, SLO), in order.
    [[nodiscard]] const std::vector<scaling_state>& states() const noexcept { return states_; }
    /// Function i's long-run mean arrival rate, requests/second.
    [[nodiscard]] double mean_rps(std::size_t i) const { return mean_rps_.at(i); }
    /// Cores function i keeps busy at its mean rate when no request waits.
    [[nodiscard]] double mean_cpu_demand(std::size_t i) const {
        const sim::function_profile& p = function(i).profile;
        return mean_rps(i) * p.service.mean() * p.cpu_demand;
    }
    /// Cores function i keeps busy at its highest rate when no request waits.
    [[nodiscard]] double peak_cpu_demand(std::size_t i) const {
        const sim::function_config& f = function(i);
        const auto& rates = f.load.rates();
        return *std::max_element(rates.begin(), rates.end()) * f.profile.service.mean() * f.profile.cpu_demand;
    }

    /// All N functions on the shared node (the multi-tenant case).
    [[nodiscard]] sim::cluster_config shared_node() const { return {.node = node_, .functions = functions_}; }
    /// Function i alone on a node of its own, the same node (the single-tenant
    /// case); throws std::out_of_range for i ≥ size().
    [[nodiscard]] sim::cluster_config isolated_node(std::size_t i) const { return {.node = node_, .functions = {function(i)}}; }
    /// The environment settings for shared_node(): one scaling state per function.
    [[nodiscard]] sim::env_config shared_env() const {
        return {.control_interval_s = config_.control_interval_s, .episode_steps = config_.episode_steps,
                .actions = sim::action_kind::replica_count, .functions = states_};
    }
    /// The environment settings for isolated_node(i).
    [[nodiscard]] sim::env_config isolated_env(std::size_t i) const {
        return {.control_interval_s = config_.control_interval_s, .episode_steps = config_.episode_steps,
                .actions = sim::action_kind::replica_count, .functions = {states_.at(i)}};
    }

private:
    [[nodiscard]] sim::workload make_load(const std::vector<std::vector<double>>& shapes, const std::vector<double>& pool,
                                          double mean_rps, double duration, rng& gen) const {
        if (shapes.empty()) {
            const std::size_t bins = simppo_detail::bins_covering(duration, config_.control_interval_s);
            std::vector<double> rates =
                simppo_detail::synthetic_shape(bins, config_.control_interval_s, config_.synthetic_period_s, config_.peak_cap, gen);
            for (double& r : rates) r *= mean_rps;
            return sim::workload(std::move(rates), config_.control_interval_s, true);
        }
        if (config_.trace_mode == simppo_trace_mode::sampled) {
            std::vector<double> rates(simppo_detail::bins_covering(duration, config_.control_interval_s));
            for (double& r : rates) r = mean_rps * pool[uniform_index(gen, pool.size())];
            return sim::workload(std::move(rates), config_.control_interval_s, true);
        }
        const std::vector<double>& shape = shapes[uniform_index(gen, shapes.size())];
        const std::size_t start = uniform_index(gen, shape.size());
        std::vector<double> rates(simppo_detail::bins_covering(duration, 60.0));
        for (std::size_t m = 0; m < rates.size(); ++m) rates[m] = mean_rps * shape[(start + m) % shape.size()];
        return sim::workload(std::move(rates), 60.0, true);
    }

    simppo_scenario_config config_;
    std::vector<sim::function_config> functions_;
    std::vector<scaling_state> states_;
    std::vector<double> mean_rps_;
    sim::node_config node_;
    std::optional<std::filesystem::path> trace_dir_;
};

/// simppo_scenario(config).shared_node(): all functions on the shared node.
[[nodiscard]] inline sim::cluster_config shared_node(const simppo_scenario_config& config = {}) {
    return simppo_scenario(config).shared_node();
}

/// simppo_scenario(config).isolated_node(i): function i alone on its node.
[[nodiscard]] inline sim::cluster_config isolated_node(std::size_t i, const simppo_scenario_config& config = {}) {
    return simppo_scenario(config).isolated_node(i);
}

/// simppo_scenario(config).shared_env(): the environment settings of the shared node.
[[nodiscard]] inline sim::env_config simppo_env(const simppo_scenario_config& config = {}) {
    return simppo_scenario(config).shared_env();
}

}  // namespace rlscale::examples
