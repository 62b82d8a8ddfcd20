#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/ziggurat.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/detail/poisson.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/service_time.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

// A tick-level model of the same cluster as sim::cluster: the same
// configuration, actions and metrics, at a cost per simulated second that
// does not depend on the request rate. docs/simulator.md ("The tick-level
// model") has the model, its assumptions and its validation against the
// request-level model.
//
// Each control interval is cut into sub-steps of at most
// tick_options::substep_s. Per function and sub-step:
//
// - Arrivals: one Poisson draw with the workload's integral over the sub-step.
// - Capacity: the ready replicas N, each serving up to c requests at once, each
//   request at speed min(1, κ/k) for k in service and κ = cpu_limit/cpu_demand,
//   all slowed by the node speed s when the node is contended: μ = s·N·min(c, κ)/E[S]
//   requests per second at full occupancy.
// - Fluid backlog: what arrives beyond μ waits in a FIFO of cohorts (one per
//   sub-step, with its arrival time); served oldest first, dropped when older than
//   the timeout or beyond the queue capacity. A served cohort's wait is its age.
// - Random waiting below saturation: at ρ = λ/μ < 1 the queue an M/G/m-like system
//   holds on average, from Sakasegawa's approximation of the M/M/m queue scaled by
//   Allen–Cunneen's (1 + c_s²)/2 (FCFS servers; c_s² of the service times below
//   their 99th percentile), relaxing toward its stationary value with the
//   queue's relaxation time 1/(μ(1 − √ρ)²). The wait is 0 with probability
//   1 − C and exponential otherwise; the part of its spread an interval does
//   not see (a slowly drifting queue) becomes a level.
// - Far tails: when the service times above their 99th percentile average at
//   least 10× the rest's and hold a server for several sub-steps, the servers
//   they hold are drawn per sub-step (hold_tail), and the budget is what the
//   other servers can take.
// - Processor sharing: when a replica admits more requests than its κ (c > max(1, κ)),
//   requests share it; the mean stretch of service follows the stationary
//   M/M/m mean sojourn time (processor sharing is insensitive to the
//   service-time distribution), without FCFS waiting.
// - Node contention: when the work arriving exceeds the cores, s solves
//   Σ_f min(s·D_f, W_f) = cores, with D_f the CPU the function's serving
//   replicas can use (N·min(L, c·d)) and W_f = λ·E[S]·d the work arriving;
//   below that, the mean slowdown of a normally distributed busy demand
//   (node_speed); s = 1 when the replicas cannot ask for more than the cores.
// - Latency: each completion's latency is wait + stretch·S/s; the interval's
//   percentiles are the mixture of these distributions over the sub-steps
//   (the service-time distribution held as its quantile function at fixed
//   probabilities) at order statistics drawn for the interval's number of
//   completions, so that few requests give the spread of a sample quantile.
//
// Replicas: cold starts, pending replicas and placement follow the
// request-level model (oldest pending first while CPU and memory fit). A
// scale-in removes pending, then starting, then ready replicas at once (the
// request-level model lets busy replicas drain; here their requests stay
// with the function's remaining capacity). Counters are real numbers inside
// and whole numbers in the metrics (the fractions carried to the next
// interval), so arrivals = completions + drops + in_flight holds exactly.
// The queue length and requests in service are drawn snapshots, as the
// request-level model's are.
//
// Storage is allocated at construction; stepping allocates nothing.

namespace rlscale::sim {

/// Settings of the tick-level model.
struct tick_options {
    double substep_s = 1.0;  ///< longest sub-step of an interval, seconds (at least 1 ms)

    void validate() const { check_fields("tick_options").at_least("substep_s", substep_s, 1e-3); }
};

namespace detail {

/// A service-time distribution as its quantile function at fixed
/// probabilities, with its mean and squared coefficient of variation: what
/// the tick-level model's queueing formulas and latency percentiles read.
struct service_table {
    static constexpr std::array<double, 23> probabilities{0.0,  0.05, 0.1,   0.2,   0.3,   0.4,    0.5,    0.6,
                                                          0.7,  0.8,  0.85,  0.9,   0.925, 0.95,   0.97,   0.98,
                                                          0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99999};
    static constexpr std::size_t size = probabilities.size();
    static constexpr double body_probability = 0.99;  // where body_cs2's distribution ends
    std::array<double, size> q{};  // quantile at each probability
    double mean = 1;
    double cs2 = 0;       // Var/mean²
    double body_cs2 = 0;  // Var/mean² of the distribution below its 99th percentile (the queue's waits read it)
    double body_mean = 1;  // mean below the 99th percentile
    double tail_mean = 1;  // mean above it
    // A heavy tail: its mean at least heavy_tail_ratio × the body's. Its
    // requests then hold servers as a random number of their own (see serve).
    static constexpr double heavy_tail_ratio = 10;
    [[nodiscard]] bool heavy_tail() const noexcept { return body_mean > 0 && tail_mean >= heavy_tail_ratio * body_mean; }

    static service_table of(const service_time& s) {
        service_table t;
        for (std::size_t j = 0; j < size; ++j) t.q[j] = s.quantile(probabilities[j]);
        t.mean = s.mean();
        switch (s.kind()) {
            case service_time_kind::deterministic: t.cs2 = 0; break;
            case service_time_kind::exponential: t.cs2 = 1; break;
            case service_time_kind::lognormal: t.cs2 = std::expm1(s.sigma() * s.sigma()); break;
            case service_time_kind::empirical: {
                // E[X²] of the piecewise-linear inverse CDF, segment by segment.
                const auto p = s.probabilities();
                const auto v = s.values();
                double second = 0;
                for (std::size_t i = 0; i + 1 < p.size(); ++i) {
                    second += (p[i + 1] - p[i]) * (v[i] * v[i] + v[i] * v[i + 1] + v[i + 1] * v[i + 1]) / 3.0;
                }
                t.cs2 = std::max(0.0, second / (t.mean * t.mean) - 1.0);
                break;
            }
        }
        // The body: the quantile function linear between the points up to body_probability.
        double mass = 0, first = 0, second = 0;
        for (std::size_t j = 0; j + 1 < size && probabilities[j + 1] <= body_probability; ++j) {
            const double dp = probabilities[j + 1] - probabilities[j];
            mass += dp;
            first += dp * 0.5 * (t.q[j] + t.q[j + 1]);
            second += dp * (t.q[j] * t.q[j] + t.q[j] * t.q[j + 1] + t.q[j + 1] * t.q[j + 1]) / 3.0;
        }
        const double body_mean = first / mass;
        t.body_cs2 = body_mean > 0 ? std::max(0.0, second / mass / (body_mean * body_mean) - 1.0) : 0.0;
        // The tail's mean from its own points (the difference of the means
        // would magnify the body's interpolation error a hundredfold), the
        // body's from the exact mean.
        double tail = (1.0 - probabilities[size - 1]) * t.q[size - 1];
        for (std::size_t j = 0; j + 1 < size; ++j) {
            if (probabilities[j] >= body_probability) tail += (probabilities[j + 1] - probabilities[j]) * 0.5 * (t.q[j] + t.q[j + 1]);
        }
        t.tail_mean = tail / (1.0 - body_probability);
        t.body_mean = std::max(0.0, (t.mean - tail) / body_probability);
        return t;
    }

    /// P(S ≤ u), linear between the quantile points (1 beyond the last).
    [[nodiscard]] double cdf(double u) const noexcept {
        if (u < q[0]) return 0;
        if (u >= q[size - 1]) return 1;
        std::size_t j = 0;
        while (q[j + 1] <= u) ++j;
        return probabilities[j] + (u - q[j]) / (q[j + 1] - q[j]) * (probabilities[j + 1] - probabilities[j]);
    }

    /// The density of cdf at u (0 outside the points).
    [[nodiscard]] double pdf(double u) const noexcept {
        if (u < q[0] || u >= q[size - 1]) return 0;
        std::size_t j = 0;
        while (q[j + 1] <= u) ++j;
        return (probabilities[j + 1] - probabilities[j]) / (q[j + 1] - q[j]);
    }

    /// The quantile at p, linear between the points.
    [[nodiscard]] double quantile(double p) const noexcept {
        if (p <= 0) return q[0];
        if (p >= probabilities[size - 1]) return q[size - 1];
        std::size_t j = 0;
        while (probabilities[j + 1] <= p) ++j;
        return q[j] + (p - probabilities[j]) / (probabilities[j + 1] - probabilities[j]) * (q[j + 1] - q[j]);
    }
};

/// Sakasegawa's approximation of the M/M/m queue at load ρ < 1 with m servers
/// (m real, ≥ 1): the probability of waiting, ρ^(√(2(m+1)) − 1), and the mean
/// queue length C·ρ/(1 − ρ).
struct mmm_queue {
    double wait_probability = 0;
    double queue_length = 0;

    static mmm_queue at(double rho, double m) noexcept {
        if (!(rho > 0)) return {};
        const double c = std::pow(rho, std::sqrt(2.0 * (m + 1.0)) - 1.0);
        return {c, c * rho / (1.0 - rho)};
    }
};

}  // namespace detail

/// The tick-level cluster: the same interface as sim::cluster (reset,
/// set_replicas, set_cpu_limit, set_memory_limit, step), at a cost per
/// interval of O(functions × sub-steps), whatever the request rate.
class tick_cluster {
public:
    tick_cluster(cluster_config config, std::uint64_t seed, tick_options options = {})
        : config_((config.validate(), std::move(config))), options_((options.validate(), options)) {
        const auto n = static_cast<std::uint32_t>(config_.functions.size());
        functions_.resize(n);
        std::uint32_t slots = 0;
        for (std::uint32_t f = 0; f < n; ++f) {
            auto& fs = functions_[f];
            const auto& fc = config_.functions[f];
            fs.first_slot = slots;
            fs.max_replicas = static_cast<std::uint32_t>(fc.max_replicas);
            fs.service = detail::service_table::of(fc.profile.service);
            slots += fs.max_replicas;
        }
        slots_.resize(slots);
        cohorts_.resize(static_cast<std::size_t>(n) * max_cohorts);
        components_.resize(static_cast<std::size_t>(n) * max_components);
        reset(seed);
    }

    /// Back to time 0: empty queues, each function's initial replicas ready,
    /// generators reseeded. Allocates nothing.
    void reset(std::uint64_t seed) {
        now_ = 0;
        cpu_allocated_ = memory_allocated_ = 0;
        pending_total_ = 0;
        for (auto& s : slots_) s = slot{};
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            auto& fs = functions_[f];
            const auto& fc = config_.functions[f];
            fs.arrival_gen = rng(seed ^ (0x9e3779b97f4a7c15ULL * (2ULL * f + 1)));
            fs.start_gen = rng(seed ^ (0xd1b54a32d192ed03ULL * (2ULL * f + 2)));
            fs.percentile_gen = rng(seed ^ (0x8cb92ba72f3d8dd7ULL * (2ULL * f + 3)));
            fs.tail_gen = rng(seed ^ (0xa0761d6478bd642fULL * (2ULL * f + 5)));
            fs.cpu_limit = fc.profile.cpu_limit;
            fs.memory_mb = fc.profile.memory_mb;
            fs.concurrency = fc.profile.concurrency_at(fs.memory_mb);
            fs.ready = fs.starting = fs.pending = 0;
            fs.next_ready = infinity;
            fs.cohort_head = fs.cohort_count = 0;
            fs.backlog = 0;
            fs.random_queue = 0;
            fs.tail_held = {};
            fs.tail_busy = fs.last_served = 0;
            fs.wait_probability = 0;
            fs.in_service = 0;
            fs.arrivals_carry = fs.completions_carry = fs.drops_carry = 0;
            fs.total_arrivals = fs.total_completions = fs.total_drops = 0;
            clear_interval(fs);
            // Initial replicas that do not fit wait in line like any others:
            // a later function's smaller ones wait behind them.
            for (int i = 0; i < fc.initial_replicas; ++i) {
                const std::uint32_t r = free_slot(f);
                if (pending_total_ == 0 && fits(f)) {
                    allocate(f);
                    slots_[r].state = slot_state::ready;
                    ++fs.ready;
                } else {
                    make_pending(f, r);
                }
            }
        }
    }

    [[nodiscard]] double now() const noexcept { return now_; }
    [[nodiscard]] std::uint32_t function_count() const noexcept { return static_cast<std::uint32_t>(functions_.size()); }
    [[nodiscard]] const cluster_config& config() const noexcept { return config_; }
    [[nodiscard]] const tick_options& options() const noexcept { return options_; }

    /// Replicas asked for (ready + starting + pending).
    [[nodiscard]] int replicas(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        return static_cast<int>(fs.ready + fs.starting + fs.pending);
    }
    [[nodiscard]] double cpu_limit(std::uint32_t f) const noexcept { return functions_[f].cpu_limit; }
    [[nodiscard]] double memory_limit_mb(std::uint32_t f) const noexcept { return functions_[f].memory_mb; }

    /// Whole requests of f since reset, as the metrics reported them;
    /// arrivals = completions + drops + in_flight.
    [[nodiscard]] std::uint64_t total_arrivals(std::uint32_t f) const noexcept { return functions_[f].total_arrivals; }
    [[nodiscard]] std::uint64_t total_completions(std::uint32_t f) const noexcept { return functions_[f].total_completions; }
    [[nodiscard]] std::uint64_t total_drops(std::uint32_t f) const noexcept { return functions_[f].total_drops; }
    [[nodiscard]] std::uint64_t in_flight(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        return fs.total_arrivals - fs.total_completions - fs.total_drops;
    }

    /// Scales f to n replicas (clamped to [0, max_replicas]): new ones start
    /// cold, or wait pending while they do not fit; a scale-in removes
    /// pending, then starting, then ready replicas.
    void set_replicas(std::uint32_t f, int n) noexcept {
        auto& fs = functions_[f];
        const int target = std::clamp(n, 0, static_cast<int>(fs.max_replicas));
        int current = replicas(f);
        for (; current < target; ++current) {
            const std::uint32_t r = free_slot(f);
            if (pending_total_ == 0 && fits(f)) {
                allocate(f);
                start_cold(f, r);
            } else {
                make_pending(f, r);
            }
        }
        bool released = false;
        for (; current > target; --current) released |= remove_one(f);
        if (released) place_pending();
    }

    /// Sets f's CPU limit per replica, clamped to [0.01, node cores ×
    /// cpu_overcommit] (the bound a profile's limit is validated against).
    void set_cpu_limit(std::uint32_t f, double cores) noexcept {
        if (!std::isfinite(cores)) return;
        auto& fs = functions_[f];
        const double limit = std::clamp(cores, 0.01, config_.node.cores * config_.node.cpu_overcommit);
        cpu_allocated_ += static_cast<double>(fs.ready + fs.starting) * (limit - fs.cpu_limit);
        fs.cpu_limit = limit;
        place_pending();  // a smaller limit may leave room for a pending replica
    }

    /// Sets f's memory limit per replica, clamped to [1 MB, what fits on the
    /// node given the other replicas].
    void set_memory_limit(std::uint32_t f, double mb) noexcept {
        if (!std::isfinite(mb)) return;
        auto& fs = functions_[f];
        const auto placed = static_cast<double>(fs.ready + fs.starting);
        double limit = std::clamp(mb, 1.0, config_.node.memory_mb);  // more than the node could never be placed
        if (placed > 0 && limit > fs.memory_mb) {
            limit = std::min(limit, fs.memory_mb + (config_.node.memory_mb - memory_allocated_) / placed);
        }
        memory_allocated_ += placed * (limit - fs.memory_mb);
        fs.memory_mb = limit;
        fs.concurrency = config_.functions[f].profile.concurrency_at(limit);
        place_pending();
    }

    /// Runs the model for `interval_s` seconds and writes every function's
    /// metrics for that interval into `out` (size function_count()).
    /// Allocates nothing. Throws config_error naming interval_s unless the
    /// interval is finite and positive, or `out` unless it holds exactly one
    /// entry per function, before anything changes.
    void step(double interval_s, std::span<function_metrics> out) {
        // Checked without building the message unless it fails: stepping allocates nothing.
        if (!(std::isfinite(interval_s) && interval_s > 0)) check_fields("tick_cluster.step").greater("interval_s", interval_s, 0.0);
        if (out.size() != function_count()) {
            check_fields("tick_cluster.step").require(false, "out", "hold one entry per function (" + format_number(function_count()) + ")",
                                         out.size());
        }
        interval_ = interval_s;
        const double steps = std::max(1.0, std::ceil(interval_s / options_.substep_s - 1e-9));
        const double h = interval_s / steps;
        const auto whole_steps = static_cast<std::uint64_t>(std::min(steps, 1e18));
        for (std::uint64_t k = 0; k < whole_steps; ++k) substep(h);
        for (std::uint32_t f = 0; f < function_count(); ++f) out[f] = close_interval(f, interval_s);
    }

private:
    static constexpr double infinity = std::numeric_limits<double>::infinity();
    static constexpr std::uint32_t max_cohorts = 64;     // FIFO cohorts per function (the oldest merge beyond)
    static constexpr std::uint32_t max_components = 24;  // latency mixture components per function and interval
    static constexpr double max_random_load = 0.99;      // ρ at which the random queue stops growing
    static constexpr std::size_t tail_phases = 3;        // Erlang phases of a heavy-tail request's holding time
    // A standard exponential as 10 points: the mean of each probability band
    // (bands 0–.2–.4–.6–.8–.9–.95–.98–.99–.999–1, weights their widths); the
    // points' mean is 1.
    static constexpr std::array<double, 10> stretch_weights{0.2, 0.2, 0.2, 0.2, 0.1, 0.05, 0.03, 0.01, 0.009, 0.001};
    // E[X | band] = (G(p0) − G(p1))/(p1 − p0) with G(p) = (1 − p)(1 − ln(1 − p)).
    static constexpr std::array<double, 10> stretch_points{0.10742579474316116, 0.36009733395886701, 0.69989540754966173, 1.2231435513142099, 1.9162907318741549, 2.6094379124341005, 3.3848717856378867, 4.2188758248681983, 5.3493273978776417, 7.9077552789821368};

    enum class slot_state : std::uint8_t { free, pending, starting, ready };
    struct slot {
        slot_state state = slot_state::free;
        double since = 0;  // pending: when it started waiting; starting: when it is ready
    };
    struct cohort {
        double count = 0;    // requests (a real number: the fluid's)
        double arrival = 0;  // their arrival time
    };
    // One part of an interval's latency distribution: `weight` completions
    // whose latency is wait + scale·(1 + X)·S, X exponential of mean
    // `stretch` (0: none), the wait being `shift` plus, with probability
    // `wait_probability`, an exponential of mean `wait_mean`.
    struct component {
        double weight = 0;
        double shift = 0;
        double scale = 1;
        double stretch = 0;
        double wait_probability = 0;
        double wait_mean = 0;
    };

    // A waiting component's service points for mixture_cdf: band midpoints
    // (shifted and scaled), band masses, and mass·e^((centre − reference)/w).
    struct convolution_table {
        std::array<double, detail::service_table::size - 1> centre{};
        std::array<double, detail::service_table::size - 1> mass{};
        std::array<double, detail::service_table::size - 1> weighted{};
        double reference = 0;
        double total = 1;
    };

    struct function_state {
        std::uint32_t first_slot = 0;
        std::uint32_t max_replicas = 0;
        detail::service_table service;
        rng arrival_gen;
        rng start_gen;
        rng percentile_gen;  // the order statistics an interval's percentiles are
        rng tail_gen;        // the heavy tail's arrivals and ends
        double cpu_limit = 1;
        double memory_mb = 128;
        int concurrency = 1;
        std::uint32_t ready = 0;
        std::uint32_t starting = 0;
        std::uint32_t pending = 0;
        double next_ready = infinity;  // earliest end of a cold start
        // the fluid FIFO: cohorts in cohorts_[f * max_cohorts ...], a ring
        std::uint32_t cohort_head = 0;
        std::uint32_t cohort_count = 0;
        double backlog = 0;       // Σ cohort counts
        double random_queue = 0;  // mean queue of the random waiting below saturation
        std::array<double, tail_phases> tail_held{};  // requests of a heavy tail holding servers, by phase
        double tail_busy = 0;     // their sum (a whole number)
        double last_served = 0;   // requests that reached a server in the last sub-step
        double wait_probability = 0;  // C of the last sub-step (0: no random waiting)
        double in_service = 0;    // requests in service, last sub-step
        // this sub-step
        double rate = 0;       // arrivals per second
        double arrived = 0;    // arrivals
        double capacity = 0;   // requests per second the ready replicas can serve at node speed 1
        double work_cap = 0;   // cores its serving replicas can use
        double work_rate = 0;  // cores the arriving work needs
        double request_demand = 0;  // cores one request in service asks: min(cpu_demand, cpu_limit)
        // the current interval
        std::uint32_t components = 0;
        double arrivals = 0, completions = 0, drops = 0;
        double arrivals_carry = 0, completions_carry = 0, drops_carry = 0;
        double latency_sum = 0;
        double replica_seconds = 0, cpu_used_s = 0, cpu_usable_s = 0, cpu_capacity_s = 0, memory_used_s = 0, memory_capacity_s = 0;
        std::uint32_t cold_starts = 0;
        // since reset, whole requests
        std::uint64_t total_arrivals = 0, total_completions = 0, total_drops = 0;
    };

    // ---- one sub-step ------------------------------------------------------

    void substep(double h) noexcept {
        const double t0 = now_;
        const double mid = t0 + 0.5 * h;
        double work_cap = 0;
        double work_rate = 0;
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            auto& fs = functions_[f];
            const auto& profile = config_.functions[f].profile;
            if (fs.next_ready <= mid) promote(f, mid);
            const double expected = config_.functions[f].load.expected_arrivals(t0, t0 + h);
            fs.arrived = static_cast<double>(detail::poisson(expected, fs.arrival_gen));
            fs.rate = expected / h;
            const double kappa = fs.cpu_limit / profile.cpu_demand;
            const double n = fs.ready;
            fs.capacity = n * std::min(static_cast<double>(fs.concurrency), kappa) / fs.service.mean;
            fs.work_cap = n * std::min(fs.cpu_limit, fs.concurrency * profile.cpu_demand);
            fs.work_rate = (fs.rate + fs.backlog / h) * fs.service.mean * profile.cpu_demand;
            fs.request_demand = std::min(profile.cpu_demand, fs.cpu_limit);
            work_cap += fs.work_cap;
            work_rate += std::min(fs.work_cap, fs.work_rate);
        }
        const double s = node_speed(work_cap, work_rate);
        for (std::uint32_t f = 0; f < function_count(); ++f) serve(f, h, s, mid);
        now_ = t0 + h;
    }

    /// The node speed s. 1 while the serving replicas cannot ask for more
    /// than the cores. When the work arriving needs more than the cores, the
    /// root of Σ_f min(s·cap_f, work_f) = cores. In between, the busy demand
    /// D still exceeds the cores at times: D is taken as normal with mean
    /// M = Σ_f min(cap_f, σ·work_f) and variance Σ_f M_f·d_f (requests come
    /// and go independently, each asking d_f cores), a request sees the
    /// slowdown max(1, D/C) in proportion to D, so the mean stretch is
    /// σ = E[D·max(1, D/C)]/E[D]; and since stretched requests stay longer,
    /// M grows with σ: a few fixed-point rounds.
    [[nodiscard]] double node_speed(double work_cap, double work_rate) const noexcept {
        const double cores = config_.node.cores;
        if (work_cap <= cores) return 1;
        if (work_rate < cores) {  // work_rate: Σ min(cap_f, work_f)
            double stretch = 1;
            for (int round = 0; round < 8; ++round) {
                double mean = 0;
                double variance = 0;
                for (const auto& fs : functions_) {
                    const double m = std::min(fs.work_cap, fs.work_rate * stretch);
                    mean += m;
                    variance += m * fs.request_demand;
                }
                if (!(mean > 0) || mean >= cores) break;
                const double sd = std::sqrt(variance);
                const double z = (cores - mean) / sd;
                const double tail = 0.5 * std::erfc(z / std::numbers::sqrt2);
                const double density = std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
                const double above = mean * tail + sd * density;                                       // E[D; D > C]
                const double above2 = (mean * mean + variance) * tail + sd * (cores + mean) * density;  // E[D²; D > C]
                stretch = std::max(1.0, (mean + above2 / cores - above) / mean);
            }
            return 1 / stretch;
        }
        const auto used = [&](double s) {
            double sum = 0;
            for (const auto& fs : functions_) sum += std::min(s * fs.work_cap, fs.work_rate);
            return sum;
        };
        double lo = 0;
        double hi = 1;
        for (int i = 0; i < 40; ++i) {
            const double m = 0.5 * (lo + hi);
            (used(m) < cores ? lo : hi) = m;
        }
        return std::max(hi, 1e-6);
    }

    void serve(std::uint32_t f, double h, double s, double mid) noexcept {
        auto& fs = functions_[f];
        const auto& fc = config_.functions[f];
        const auto& profile = fc.profile;
        const double timeout = profile.timeout_s;
        const double n = fs.ready;
        const double c = fs.concurrency;
        const double kappa = fs.cpu_limit / profile.cpu_demand;
        const double mu = s * fs.capacity;  // requests per second at full occupancy
        fs.arrivals += fs.arrived;

        // The unloaded service stretch: 1/min(1, κ) (a replica below one core per
        // request runs each slower), over the node speed.
        const double base_scale = 1.0 / (std::min(1.0, kappa) * s);

        // Random waiting below saturation (relaxes toward its stationary mean).
        const bool fcfs = c <= std::max(1.0, kappa);
        const double servers = std::max(1.0, n * std::min(c, std::max(1.0, kappa)));
        const double rho = mu > 0 ? std::min(fs.rate / mu, max_random_load) : 0.0;
        // Allen–Cunneen's variability factor, from the body of the service
        // times: a tail beyond the 99th percentile (Azure's functions reach
        // 100× their p99) holds one server for long while the others serve,
        // which the full c_s² would read as a long queue for everyone.
        const double factor = fcfs ? 0.5 * (1.0 + std::min(fs.service.cs2, fs.service.body_cs2)) : 1.0;
        const detail::mmm_queue stationary = detail::mmm_queue::at(rho, servers);
        const double target = factor * stationary.queue_length;
        if (mu > 0 && rho > 0) {
            const double root = 1.0 - std::sqrt(rho);
            const double tau = 1.0 / (mu * root * root);
            fs.random_queue += (target - fs.random_queue) * -std::expm1(-h / tau);
        } else {
            fs.random_queue = 0;
        }
        // A far tail holds servers for seconds at a time (hold_tail): the
        // budget below is then what the other servers can take, μ' =
        // (servers − K)/(base_scale · body mean · body share), μ on average.
        // The random queue above reads the mean load, so the mean wait is not
        // counted twice; K adds the sub-steps in which the tail holds enough
        // servers for a backlog to build.
        const double hold = fs.service.tail_mean * base_scale;
        const bool tail = fcfs && n > 0 && fs.service.heavy_tail() && hold >= static_cast<double>(tail_phases) * h;
        const double body_share = detail::service_table::body_probability;
        fs.tail_busy = tail ? hold_tail(fs, servers, h, hold) : 0;
        if (!tail) fs.tail_held = {};
        const double mu_all = tail ? (servers - fs.tail_busy) / (base_scale * fs.service.body_mean * body_share) : mu;

        // Fluid FIFO: this sub-step's arrivals join as a cohort; serve oldest first.
        // The service budget is the draw times μ'/λ (μh on average): below
        // saturation it covers the draw, whose fluctuations the random
        // queue above accounts for, so only an excess of arrivals over
        // capacity builds a backlog; above it, the mean throughput is μ.
        push_cohort(f, fs.arrived, mid);
        double budget = fs.rate > 0 ? fs.arrived * mu_all / fs.rate : mu_all * h;
        double served = 0;
        double dropped = 0;
        double wait_sum = 0;
        cohort* ring = &cohorts_[static_cast<std::size_t>(f) * max_cohorts];
        while (fs.cohort_count > 0) {
            cohort& head = ring[fs.cohort_head];
            const double age = mid - head.arrival;
            if (age > timeout) {
                dropped += head.count;
                pop_cohort(f);
                continue;
            }
            if (budget <= 0) break;
            const double take = std::min(head.count, budget);
            budget -= take;
            served += take;
            wait_sum += take * age;
            head.count -= take;
            fs.backlog -= take;
            if (head.count <= 1e-12) pop_cohort(f);
        }
        // The queue's capacity bounds the backlog: the newest arrivals are refused.
        const double queue_capacity = fc.queue_capacity;
        while (fs.backlog > queue_capacity && fs.cohort_count > 0) {
            cohort& tail = ring[(fs.cohort_head + fs.cohort_count - 1) % max_cohorts];
            const double excess = std::min(tail.count, fs.backlog - queue_capacity);
            tail.count -= excess;
            fs.backlog -= excess;
            dropped += excess;
            if (tail.count <= 1e-12) --fs.cohort_count;
        }
        if (fs.cohort_count == 0) fs.backlog = 0;
        fs.last_served = served;

        // The latency of what was served: its fluid wait, plus the random wait
        // and the processor-sharing stretch of a loaded system.
        const bool saturated = fs.backlog > 0.5;
        double probability = 0;
        double wait_mean = 0;
        const double scale = base_scale;
        double stretch = 0;
        if (!saturated && rho > 0 && stationary.queue_length > 0) {
            if (fcfs) {
                const double level = fs.random_queue / (factor * stationary.queue_length);  // 1 once relaxed
                probability = std::min(1.0, stationary.wait_probability * level);
                if (probability < 1e-7) probability = 0;  // below what any reported percentile can show
                wait_mean = factor * base_scale * fs.service.mean / (servers * (1.0 - rho));
            } else {
                // Processor sharing: a request shares its replica with the others
                // in service, so its service stretches by 1 + X, X exponential with
                // the mean that makes the mean sojourn the stationary L/λ.
                stretch = fs.random_queue / (servers * rho);
            }
        }
        fs.wait_probability = probability;
        // Timeouts of the random waits.
        double timed_out = 0;
        if (probability > 0 && std::isfinite(timeout)) {
            timed_out = served * probability * std::exp(-timeout / wait_mean);
        }
        const double completed = served - timed_out;
        dropped += timed_out;
        if (completed > 0) {
            double shift = served > 0 ? wait_sum / served : 0;
            if (probability > 0) {
                // One interval sees only part of the waits' spread when the queue
                // drifts slowly. The share α of their variance that arises within
                // an interval of length T stays random, the rest is a level (here
                // its mean). For a queue whose length decorrelates over
                // τ = (1 + ρ)/(μ(1 − ρ)²)·(1 + c_s²)/2 (M/M/1's integrated
                // autocorrelation time, μ the total service rate), the share of
                // its variance within a window is 1 − 2/x + 2(1 − e^(−x))/x² at
                // x = T/τ; the service times of the requests ahead add their own.
                const double mean_wait = probability * wait_mean;
                const double total = probability * wait_mean * wait_mean * (2 - probability);
                const double tau = (1 + rho) / (mu * (1 - rho) * (1 - rho)) * factor;
                const double x = interval_ / tau;
                const double drift = x < 1e-3 ? x / 3 : 1 - 2 / x + 2 * -std::expm1(-x) / (x * x);
                const double spread = mean_wait * base_scale * fs.service.mean * fs.service.cs2 / servers;
                const double alpha = std::min(1.0, drift + spread / total);
                shift += (1 - alpha) * mean_wait;
                wait_mean *= alpha;
            }
            add_component(f, {.weight = completed, .shift = shift, .scale = scale, .stretch = stretch,
                              .wait_probability = probability, .wait_mean = wait_mean});
            fs.latency_sum += completed * (shift + probability * wait_mean + scale * (1 + stretch) * fs.service.mean);
        }
        fs.completions += completed;
        fs.drops += dropped;

        // Accounting: replica-seconds, CPU and memory.
        const double serving = n;
        fs.replica_seconds += (serving + fs.starting) * h;
        const double cpu_cap = n * fs.cpu_limit;
        fs.cpu_capacity_s += cpu_cap * h;
        // The work done, at most what the replicas can use over the interval
        // (capped when the interval closes: below saturation a sub-step's
        // draw may exceed the capacity, the random queue then finishes it).
        // With a far tail, the body's work as served and the tail's as held.
        const double body_work = tail ? body_share * fs.service.body_mean : fs.service.mean;
        const double tail_cores = fs.tail_busy * s * fs.request_demand;
        fs.cpu_used_s += saturated ? s * fs.work_cap * h : served * body_work * profile.cpu_demand + tail_cores * h;
        fs.cpu_usable_s += s * fs.work_cap * h;
        fs.in_service = std::min(n * c, served / h * scale * (1 + stretch) * body_work + fs.tail_busy);
        if (profile.memory_working_set_mb > 0) {
            const double mem = serving * profile.memory_working_set_mb + fs.in_service * profile.memory_per_request_mb;
            fs.memory_used_s += std::min(mem, serving * fs.memory_mb) * h;
        } else {
            const double idle = config_.idle_memory_fraction;
            fs.memory_used_s += (serving * idle * fs.memory_mb + fs.in_service * (1 - idle) * fs.memory_mb / c) * h;
        }
        fs.memory_capacity_s += serving * fs.memory_mb * h;
    }

    /// The servers a far tail holds, K, drawn for this sub-step. A far tail
    /// (Azure's functions: 1 % of the requests at 10 to 500 times the mean
    /// of the rest) holds servers for seconds at a time, and the other
    /// requests are served by those it leaves, a number that varies from one
    /// sub-step to the next. Without it the queue sees only K's mean, and an
    /// interval's queue, p90 and CPU utilisation vary far less than the
    /// request-level model's (docs/simulator.md, "Where it is poor").
    ///
    /// Each request that reached a server in the last sub-step belongs to
    /// the tail with probability 1 − body_probability, and holds its server
    /// for an Erlang time of tail_phases phases with the tail's mean
    /// (stretched as service is): c_v 0.58, where Azure's tails, spread about
    /// evenly between p99 and p100, have about 0.5, and an exponential time
    /// (c_v 1) made too many long holds. Each phase passes on a binomial draw
    /// of its requests with the probability h/(hold/phases) of moving on in
    /// a step, so that a phase lasts hold/phases on average in whole steps and
    /// K's mean is the tail's rate × its holding time. K never exceeds the
    /// servers; the newest give way.
    double hold_tail(function_state& fs, double servers, double h, double hold) noexcept {
        const double move = static_cast<double>(tail_phases) * h / hold;
        for (std::size_t i = tail_phases; i-- > 0;) {
            const double moved = binomial(fs.tail_held[i], move, fs.tail_gen);
            fs.tail_held[i] -= moved;
            if (i + 1 < tail_phases) fs.tail_held[i + 1] += moved;
        }
        const double tail_share = 1.0 - detail::service_table::body_probability;
        fs.tail_held[0] += static_cast<double>(detail::poisson(fs.last_served * tail_share, fs.tail_gen));
        double excess = -std::floor(servers);
        for (const double k : fs.tail_held) excess += k;
        for (std::size_t i = 0; i < tail_phases && excess > 0; ++i) {
            const double cut = std::min(excess, fs.tail_held[i]);
            fs.tail_held[i] -= cut;
            excess -= cut;
        }
        double held = 0;
        for (const double k : fs.tail_held) held += k;
        return held;
    }

    /// A binomial draw (n whole, p in [0, 1]): one uniform per trial up to 32
    /// trials, a normal approximation (rounded, within [0, n]) beyond.
    static double binomial(double n, double p, rng& gen) noexcept {
        if (n <= 32) {
            double k = 0;
            for (int i = 0; i < static_cast<int>(n); ++i) k += uniform01(gen) < p ? 1 : 0;
            return k;
        }
        const double draw = std::round(n * p + std::sqrt(n * p * (1 - p)) * standard_normal(gen));
        return std::clamp(draw, 0.0, n);
    }

    void push_cohort(std::uint32_t f, double count, double arrival) noexcept {
        auto& fs = functions_[f];
        if (count <= 0) return;
        cohort* ring = &cohorts_[static_cast<std::size_t>(f) * max_cohorts];
        if (fs.cohort_count == max_cohorts) {
            // Full: the two oldest cohorts merge (at their mean arrival time).
            cohort& a = ring[fs.cohort_head];
            cohort& b = ring[(fs.cohort_head + 1) % max_cohorts];
            const double total = a.count + b.count;
            b.arrival = total > 0 ? (a.count * a.arrival + b.count * b.arrival) / total : b.arrival;
            b.count = total;
            fs.cohort_head = (fs.cohort_head + 1) % max_cohorts;
            --fs.cohort_count;
        }
        ring[(fs.cohort_head + fs.cohort_count) % max_cohorts] = {count, arrival};
        ++fs.cohort_count;
        fs.backlog += count;
    }

    /// Removes f's oldest cohort (what is left of it leaves the backlog).
    void pop_cohort(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        fs.backlog -= cohorts_[static_cast<std::size_t>(f) * max_cohorts + fs.cohort_head].count;
        fs.cohort_head = (fs.cohort_head + 1) % max_cohorts;
        --fs.cohort_count;
        if (fs.cohort_count == 0) fs.backlog = 0;
    }

    /// Adds a latency component, merging with the interval's previous one when
    /// both are unsaturated (no fluid wait) or the function's list is full.
    void add_component(std::uint32_t f, const component& c) noexcept {
        auto& fs = functions_[f];
        component* list = &components_[static_cast<std::size_t>(f) * max_components];
        if (fs.components > 0) {
            component& last = list[fs.components - 1];
            if ((last.shift == 0 && c.shift == 0) || fs.components == max_components) {
                const double w = last.weight + c.weight;
                const double a = last.weight / w;
                const double b = c.weight / w;
                last.shift = a * last.shift + b * c.shift;
                last.scale = a * last.scale + b * c.scale;
                last.stretch = a * last.stretch + b * c.stretch;
                const double p = a * last.wait_probability + b * c.wait_probability;
                last.wait_mean = p > 0 ? (a * last.wait_probability * last.wait_mean + b * c.wait_probability * c.wait_mean) / p : 0;
                last.wait_probability = p;
                last.weight = w;
                return;
            }
        }
        list[fs.components++] = c;
    }

    // ---- replicas ------------------------------------------------------------

    void promote(std::uint32_t f, double t) noexcept {
        auto& fs = functions_[f];
        fs.next_ready = infinity;
        for (std::uint32_t r = fs.first_slot; r < fs.first_slot + fs.max_replicas; ++r) {
            slot& sl = slots_[r];
            if (sl.state != slot_state::starting) continue;
            if (sl.since <= t) {
                sl.state = slot_state::ready;
                --fs.starting;
                ++fs.ready;
                ++fs.cold_starts;
            } else {
                fs.next_ready = std::min(fs.next_ready, sl.since);
            }
        }
    }

    [[nodiscard]] std::uint32_t free_slot(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        for (std::uint32_t r = fs.first_slot; r < fs.first_slot + fs.max_replicas; ++r) {
            if (slots_[r].state == slot_state::free) return r;
        }
        return fs.first_slot;  // unreachable: replicas() < max_replicas here
    }

    [[nodiscard]] bool fits(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        return config_.node.fits(cpu_allocated_, memory_allocated_, fs.cpu_limit, fs.memory_mb);
    }

    void allocate(std::uint32_t f) noexcept {
        cpu_allocated_ += functions_[f].cpu_limit;
        memory_allocated_ += functions_[f].memory_mb;
    }

    void release(std::uint32_t f) noexcept {
        cpu_allocated_ -= functions_[f].cpu_limit;
        memory_allocated_ -= functions_[f].memory_mb;
    }

    void start_cold(std::uint32_t f, std::uint32_t r) noexcept {
        auto& fs = functions_[f];
        slots_[r].state = slot_state::starting;
        slots_[r].since = now_ + config_.functions[f].profile.cold_start.sample(fs.start_gen);
        fs.next_ready = std::min(fs.next_ready, slots_[r].since);
        ++fs.starting;
    }

    void make_pending(std::uint32_t f, std::uint32_t r) noexcept {
        slots_[r].state = slot_state::pending;
        slots_[r].since = now_;
        ++functions_[f].pending;
        ++pending_total_;
    }

    /// Starts pending replicas, oldest first, while they fit.
    void place_pending() noexcept {
        while (pending_total_ > 0) {
            std::size_t best = slots_.size();
            for (std::size_t r = 0; r < slots_.size(); ++r) {
                if (slots_[r].state == slot_state::pending && (best == slots_.size() || slots_[r].since < slots_[best].since)) best = r;
            }
            const std::uint32_t f = function_of(static_cast<std::uint32_t>(best));
            if (!fits(f)) return;
            --functions_[f].pending;
            --pending_total_;
            allocate(f);
            start_cold(f, static_cast<std::uint32_t>(best));
        }
    }

    [[nodiscard]] std::uint32_t function_of(std::uint32_t r) const noexcept {
        std::uint32_t lo = 0;
        std::uint32_t hi = function_count();
        while (hi - lo > 1) {
            const std::uint32_t m = (lo + hi) / 2;
            (functions_[m].first_slot <= r ? lo : hi) = m;
        }
        return lo;
    }

    /// Removes one replica of f: pending, else starting, else ready. Returns
    /// whether pending replicas should be placed again (capacity was freed,
    /// or the pending line changed).
    bool remove_one(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        const auto last_in = [&](slot_state s) {
            for (std::uint32_t r = fs.first_slot + fs.max_replicas; r-- > fs.first_slot;) {
                if (slots_[r].state == s) return r;
            }
            return fs.first_slot;
        };
        if (fs.pending > 0) {
            slots_[last_in(slot_state::pending)].state = slot_state::free;
            --fs.pending;
            --pending_total_;
            return true;  // it may have been first in line, ahead of ones that fit: place again
        }
        if (fs.starting > 0) {
            slots_[last_in(slot_state::starting)].state = slot_state::free;
            --fs.starting;
            release(f);
            return true;
        }
        if (fs.ready > 0) {
            slots_[last_in(slot_state::ready)].state = slot_state::free;
            --fs.ready;
            release(f);
            return true;
        }
        return false;
    }

    // ---- metrics ---------------------------------------------------------------

    static void clear_interval(function_state& fs) noexcept {
        fs.components = 0;
        fs.arrivals = fs.completions = fs.drops = 0;
        fs.latency_sum = 0;
        fs.replica_seconds = fs.cpu_used_s = fs.cpu_usable_s = fs.cpu_capacity_s = fs.memory_used_s = fs.memory_capacity_s = 0;
        fs.cold_starts = 0;
    }

    /// Whole requests out of a real count, the fraction carried forward.
    static std::uint64_t whole(double amount, double& carry) noexcept {
        const double total = amount + carry;
        const double n = std::floor(total + 1e-9);
        carry = total - n;
        // Beyond 2^64 (a rate of 10^21 requests per second) the count saturates
        // rather than converting out of range.
        return n > 0 ? static_cast<std::uint64_t>(std::min(n, 1.8e19)) : 0;
    }

    /// P(latency ≤ t) of f's interval mixture, and its density.
    [[nodiscard]] std::pair<double, double> mixture_cdf(const function_state& fs, const component* list, double t) const noexcept {
        double p = 0;
        double d = 0;
        double total = 0;
        for (std::uint32_t i = 0; i < fs.components; ++i) {
            const component& c = list[i];
            total += c.weight;
            double pc = 0;
            double dc = 0;
            if (c.stretch > 0) {
                for (std::size_t k = 0; k < stretch_points.size(); ++k) {
                    const double scale = c.scale * (1 + c.stretch * stretch_points[k]);
                    const double u = (t - c.shift) / scale;
                    pc += stretch_weights[k] * fs.service.cdf(u);
                    dc += stretch_weights[k] * fs.service.pdf(u) / scale;
                }
            } else {
                const double u = (t - c.shift) / c.scale;
                pc = fs.service.cdf(u);
                dc = fs.service.pdf(u) / c.scale;
            }
            pc *= 1 - c.wait_probability;
            dc *= 1 - c.wait_probability;
            if (c.wait_probability > 0) {
                // The exponential wait convolved with the service points (the
                // table's band midpoints x_j): Σ_{x_j < t} m_j(1 − e^(−(t − x_j)/w)),
                // with e^(−(t − x_j)/w) = e^(−(t − x_ref)/w)·e^(−(x_ref − x_j)/w)
                // and the second factors precomputed (convolution_table).
                const convolution_table& table = convolution_[i];
                double mass = 0;
                double weighted = 0;
                std::size_t j = 0;
                for (; j < table.centre.size() && table.centre[j] < t; ++j) {
                    mass += table.mass[j];
                    weighted += table.weighted[j];
                }
                double tail_sum = 0;
                const double exponent = (table.reference - t) / c.wait_mean;
                if (exponent < 700) {
                    tail_sum = std::exp(exponent) * weighted;
                } else {
                    for (std::size_t k = 0; k < j; ++k) tail_sum += table.mass[k] * std::exp((table.centre[k] - t) / c.wait_mean);
                }
                pc += c.wait_probability * (mass - tail_sum) / table.total;
                dc += c.wait_probability * tail_sum / (c.wait_mean * table.total);
            }
            p += c.weight * pc;
            d += c.weight * dc;
        }
        return {p / total, d / total};
    }

    /// Fills convolution_ for f's components that wait (see mixture_cdf).
    void prepare_convolution(const function_state& fs, const component* list) noexcept {
        constexpr auto& probabilities = detail::service_table::probabilities;
        for (std::uint32_t i = 0; i < fs.components; ++i) {
            const component& c = list[i];
            if (c.wait_probability <= 0) continue;
            convolution_table& table = convolution_[i];
            table.total = probabilities.back();
            for (std::size_t j = 0; j + 1 < probabilities.size(); ++j) {
                table.centre[j] = c.shift + c.scale * 0.5 * (fs.service.q[j] + fs.service.q[j + 1]);
                table.mass[j] = probabilities[j + 1] - probabilities[j];
            }
            table.reference = table.centre.back();
            for (std::size_t j = 0; j < table.centre.size(); ++j) {
                table.weighted[j] = table.mass[j] * std::exp((table.centre[j] - table.reference) / c.wait_mean);
            }
        }
    }

    /// The latency at probability target of f's interval mixture: a Newton
    /// step where it stays inside the bracket, bisection otherwise.
    [[nodiscard]] double mixture_quantile(const function_state& fs, const component* list, double target, double lo) const noexcept {
        if (fs.components == 1 && list[0].wait_probability == 0 && list[0].stretch == 0) {
            return list[0].shift + list[0].scale * fs.service.quantile(target);
        }
        double hi = 0;
        for (std::uint32_t i = 0; i < fs.components; ++i) {
            const component& c = list[i];
            hi = std::max(hi, c.shift + c.scale * (1 + c.stretch * stretch_points.back()) * fs.service.q.back() + 40 * c.wait_mean);
        }
        hi = std::max(hi, lo) * (1 + 1e-9) + 1e-12;
        // Start from the components' own quantiles, weighted: usually within a
        // few Newton steps of the answer.
        double guess = 0;
        double total = 0;
        for (std::uint32_t i = 0; i < fs.components; ++i) {
            const component& c = list[i];
            double t = c.shift + c.scale * (1 + c.stretch) * fs.service.quantile(target);
            if (c.wait_probability > 1 - target) t += c.wait_mean * std::log(c.wait_probability / (1 - target));
            guess += c.weight * t;
            total += c.weight;
        }
        guess /= total;
        double t = guess > lo && guess < hi ? guess : 0.5 * (lo + hi);
        for (int i = 0; i < 60; ++i) {
            const auto [p, d] = mixture_cdf(fs, list, t);
            if (std::abs(p - target) <= 1e-6) return t;
            if (p < target) {
                lo = t;
            } else {
                hi = t;
            }
            if (hi - lo <= 1e-5 * hi) break;
            const double newton = d > 0 ? t - (p - target) / d : -1;
            t = (newton > lo && newton < hi) ? newton : 0.5 * (lo + hi);
        }
        return 0.5 * (lo + hi);
    }

    function_metrics close_interval(std::uint32_t f, double interval_s) noexcept {
        auto& fs = functions_[f];
        function_metrics m;
        m.interval_s = interval_s;
        m.arrivals = whole(fs.arrivals, fs.arrivals_carry);
        m.completions = whole(fs.completions, fs.completions_carry);
        m.drops = whole(fs.drops, fs.drops_carry);
        // Never more out than in: what a rounding would report beyond that waits.
        const std::uint64_t in = fs.total_arrivals + m.arrivals;
        const std::uint64_t out = fs.total_completions + fs.total_drops;
        if (out + m.completions + m.drops > in) {
            const std::uint64_t excess = out + m.completions + m.drops - in;
            const std::uint64_t from_drops = std::min(excess, m.drops);
            m.drops -= from_drops;
            fs.drops_carry += static_cast<double>(from_drops);
            m.completions -= excess - from_drops;
            fs.completions_carry += static_cast<double>(excess - from_drops);
        }
        fs.total_arrivals += m.arrivals;
        fs.total_completions += m.completions;
        fs.total_drops += m.drops;
        m.throughput_rps = static_cast<double>(m.completions) / interval_s;
        if (m.completions > 0 && fs.completions > 0) {
            m.latency_mean_s = fs.latency_sum / fs.completions;
            const component* list = &components_[static_cast<std::size_t>(f) * max_components];
            prepare_convolution(fs, list);
            static constexpr double qs[] = {0.50, 0.90, 0.95, 0.99, 0.999};
            // The request-level model reports the nearest-rank quantile of the
            // interval's n completions, the value of rank k = ⌈q·n⌉: random,
            // and for few requests far from the q-quantile (of 30 requests the
            // p99 is the largest). Here too: the k-th of n uniforms is drawn,
            // U(k) = G_k / G_(n+1) with G_j sums of independent Gamma
            // increments, jointly for the five ranks, and the latency
            // reported is the mixture's quantile at U(k).
            const auto n = static_cast<double>(m.completions);
            double rank[5];
            for (int i = 0; i < 5; ++i) rank[i] = std::clamp(std::ceil(qs[i] * n), 1.0, n);
            double sums[6];
            double previous = 0;
            double sum = 0;
            for (int i = 0; i < 5; ++i) {
                sum += detail::gamma(rank[i] - previous, fs.percentile_gen);
                sums[i] = sum;
                previous = rank[i];
            }
            sums[5] = sum + detail::gamma(n + 1 - previous, fs.percentile_gen);
            double p[5];
            double lo = 0;
            for (int i = 0; i < 5; ++i) {
                const double u = sums[5] > 0 ? sums[i] / sums[5] : qs[i];
                // Ranks that coincide (few completions) are the same request.
                lo = p[i] = i > 0 && rank[i] == rank[i - 1] ? p[i - 1]
                                                            : mixture_quantile(fs, list, std::clamp(u, 1e-12, 1 - 1e-12), lo);
            }
            m.latency = {.p50 = p[0], .p90 = p[1], .p95 = p[2], .p99 = p[3], .p999 = p[4]};
        }
        // The request-level model reports the queue and the requests in
        // service at the interval's end: a snapshot, not a mean. Drawn here
        // from the last sub-step's state: the fluid backlog, plus below
        // saturation a random queue that is empty with probability 1 − C and
        // otherwise geometric (M/M/m) with the mean that gives its mean
        // length; in service, binomial over the slots (Poisson, capped, beyond
        // 64 slots) about its mean.
        double queued = fs.backlog;
        if (fs.wait_probability > 0 && uniform01(fs.percentile_gen) < fs.wait_probability) {
            queued += std::floor(exponential01(fs.percentile_gen) * fs.random_queue / fs.wait_probability);
        }
        const double slots = static_cast<double>(fs.ready) * fs.concurrency;
        double busy = 0;
        if (slots <= 64) {  // binomial over the slots
            const double p_busy = slots > 0 ? std::min(1.0, fs.in_service / slots) : 0.0;
            for (int k = 0; k < static_cast<int>(slots); ++k) busy += uniform01(fs.percentile_gen) < p_busy ? 1 : 0;
        } else {
            busy = std::min(static_cast<double>(detail::poisson(fs.in_service, fs.percentile_gen)), slots);
        }
        m.queue_length = static_cast<std::uint32_t>(std::min(std::round(queued), 4e9));
        m.in_service = static_cast<std::uint32_t>(std::min(busy, 4e9));
        m.cpu_utilization = fs.cpu_capacity_s > 0 ? std::min(fs.cpu_used_s, fs.cpu_usable_s) / fs.cpu_capacity_s : 0;
        m.memory_utilization = fs.memory_capacity_s > 0 ? fs.memory_used_s / fs.memory_capacity_s : 0;
        m.cpu_limit = fs.cpu_limit;
        m.memory_limit_mb = fs.memory_mb;
        m.ready_replicas = fs.ready;
        m.starting_replicas = fs.starting;
        m.pending_replicas = fs.pending;
        m.cold_starts = fs.cold_starts;
        m.replica_seconds = fs.replica_seconds;
        clear_interval(fs);
        return m;
    }

    cluster_config config_;
    tick_options options_;
    std::vector<function_state> functions_;
    std::vector<slot> slots_;
    std::vector<cohort> cohorts_;
    std::vector<component> components_;
    std::vector<convolution_table> convolution_ = std::vector<convolution_table>(max_components);  // scratch of close_interval
    double now_ = 0;
    double interval_ = 15;  // the interval step() is running
    double cpu_allocated_ = 0;
    double memory_allocated_ = 0;
    std::uint32_t pending_total_ = 0;
};

}  // namespace rlscale::sim
