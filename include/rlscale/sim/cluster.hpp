#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/sim/detail/calendar_queue.hpp>
#include <rlscale/sim/detail/indexed_heap.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/latency_sketch.hpp>
#include <rlscale/sim/workload.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

// A request-level discrete-event simulation of one node pool hosting N
// functions (docs/simulator.md has the model, its assumptions and its
// validation against queueing theory).
//
// Time. Arrivals, cold starts and control ticks happen in real time t. Service
// is processor-shared at two levels: the k requests on one replica share its
// CPU limit L (each runs at σ = min(1, L/(k·d)) for a per-request demand d),
// and when the busy demand D = Σ min(L, k·d) of all replicas exceeds the
// node's cores C, every request slows by s = C/D. Completions are therefore
// scheduled in a node "work clock" G that advances at s: a replica's progress
// depends only on its own σ in G-time, so a node-wide slowdown moves no
// scheduled completion. Real time and G convert at the current s.
//
// Cost. Every event costs O(1) event-queue work on average (calendar
// queues, detail/calendar_queue.hpp), O(log d) in its function's dispatch
// heap over its d replicas, and O(concurrency) at most; the
// per-function accounting (replica-seconds, CPU and memory used) is integrated
// lazily when that function changes, so the work per request does not grow
// with the number of functions. What does grow is the cache misses: with
// hundreds of functions, the data of the one an event touches has usually
// left the caches. The state is laid out so that an event touches few cache
// lines, and the event loop prefetches those of the likely next event (see
// "Layout" in the class). And when no function can affect another in an
// interval (the node cannot be overloaded and no replica waits for room),
// the cluster runs the functions one after another through it, each with
// its data in the cache, with the same results bit for bit (see "One
// function at a time" in the class). All storage is allocated at
// construction (and reused by reset); stepping allocates nothing.

namespace rlscale::sim {

/// The shared node (or node pool treated as one machine).
struct node_config {
    double cores = 16;            ///< CPU cores shared by every replica
    double memory_mb = 65536;     ///< memory shared by every replica
    double cpu_overcommit = 2.0;  ///< a replica fits while Σ CPU limits ≤ cores × this (and memory fits)

    /// Whether one more replica of `cpu` cores and `memory` MB fits beside
    /// what is already placed: the one placement rule of both models.
    [[nodiscard]] bool fits(double cpu_placed, double memory_placed, double cpu, double memory) const noexcept {
        return memory_placed + memory <= memory_mb + 1e-9 && cpu_placed + cpu <= cores * cpu_overcommit + 1e-9;
    }

    void validate() const {
        check_fields("node")
            .at_least("cores", cores, 0.01)  // the smallest CPU limit a replica gets
            .at_least("memory_mb", memory_mb, 1)  // the smallest memory limit
            .at_least("cpu_overcommit", cpu_overcommit, 1);
    }
};

/// One function on the node.
struct function_config {
    function_profile profile;             ///< service, cold start, limits, concurrency, timeout
    workload load;                        ///< arrival rate λ(t)
    int max_replicas = 50;                ///< replica slots reserved; set_replicas is clamped to it
    int initial_replicas = 1;             ///< replicas ready at time 0 (no cold start)
    std::uint32_t queue_capacity = 4096;  ///< waiting requests beyond this are dropped on arrival
};

/// Everything the simulation needs besides the seed.
struct cluster_config {
    /// The most replica slots a node holds, over all its functions.
    static constexpr std::uint64_t max_replica_slots = 1'000'000;
    /// The most requests the node's replicas serve at once (max_replicas ×
    /// concurrency, summed over functions) and the most that wait (the
    /// queue capacities, summed): the simulation reserves a slot for each
    /// when it is built, so these bound its memory.
    static constexpr std::uint64_t max_request_slots = 1ULL << 24;
    static constexpr std::uint64_t max_queue_slots = 1ULL << 24;
    /// The most bytes the latency sketches may take in all: one per
    /// function and one shared (see latency_sketch_bytes).
    static constexpr double max_sketch_bytes = 1ULL << 30;

    /// Bytes of one latency sketch of relative error α over the range the
    /// cluster's sketches cover (latency_sketch's default, 1 µs to 10^5 s).
    /// A small α asks for many buckets (126,643 at 10^-4, about 1 MB).
    [[nodiscard]] static double latency_sketch_bytes(double alpha) noexcept { return latency_sketch::bytes(alpha); }

    node_config node;                       ///< the shared node
    std::vector<function_config> functions; ///< the functions it hosts
    double idle_memory_fraction = 0.6;      ///< share of a replica's memory limit used when idle (runtime, code)
    double latency_relative_error = 0.005;  ///< α of the latency percentiles (latency_sketch)
    /// Simulate the functions one after another through an interval when
    /// they cannot interact in it (see "One function at a time" in
    /// cluster): the same results, bit for bit, with each function's data
    /// in the cache. false interleaves them always (for tests).
    bool one_function_at_a_time = true;

    void validate() const {
        node.validate();
        const check_fields check("");
        check.non_empty("functions", functions.size());
        std::uint64_t slots = 0;
        std::uint64_t request_slots = 0;
        std::uint64_t queue_slots = 0;
        for (std::size_t i = 0; i < functions.size(); ++i) {
            const auto& f = functions[i];
            const std::string field = "functions[" + std::to_string(i) + "]";
            f.profile.validate(field + ".profile");
            check_fields(field)
                .at_least("max_replicas", f.max_replicas, 1)
                .at_most("max_replicas", f.max_replicas, max_replica_slots)
                .require(f.initial_replicas >= 0 && f.initial_replicas <= f.max_replicas, "initial_replicas",
                         "be in [0, max_replicas] = [0, " + format_number(f.max_replicas) + "]", f.initial_replicas)
                .at_least("queue_capacity", f.queue_capacity, 1);
            // A replica that can never be placed would wait at the head of
            // the node's pending queue for ever, and every other function's
            // new replicas behind it.
            check_fields(field + ".profile")
                .at_most("memory_mb", f.profile.memory_mb, node.memory_mb)
                .at_most("cpu_limit", f.profile.cpu_limit, node.cores * node.cpu_overcommit);
            slots += static_cast<std::uint64_t>(f.max_replicas);
            // Each term is below 2^20 × 2^31 (max_replicas was bounded above,
            // concurrency is an int); the sums stop at 2^62, far past their bound.
            constexpr std::uint64_t stop = 1ULL << 62;
            request_slots = std::min(request_slots + static_cast<std::uint64_t>(f.max_replicas) *
                                                         static_cast<std::uint64_t>(f.profile.concurrency),
                                     stop);
            queue_slots = std::min(queue_slots + f.queue_capacity, stop);
        }
        check.at_most("max_replicas summed over functions", slots, max_replica_slots);
        check.at_most("max_replicas x profile.concurrency summed over functions", request_slots, max_request_slots);
        check.at_most("queue_capacity summed over functions", queue_slots, max_queue_slots);
        check.in("idle_memory_fraction", idle_memory_fraction, 0, 1);
        check.require(latency_relative_error >= 1e-4 && latency_relative_error < 0.5, "latency_relative_error", "be in [0.0001, 0.5)",
                      latency_relative_error);
        // The function count is bounded only through the slot sums, so many
        // functions with a small α could ask for gigabytes of sketches:
        // refused by name before anything is allocated.
        const double sketch_bytes = latency_sketch_bytes(latency_relative_error);
        const double sketches = static_cast<double>(functions.size()) + 1;
        if (sketches * sketch_bytes > max_sketch_bytes) {
            check.require(false, "latency_relative_error",
                          "leave the latency sketches of the " + std::to_string(functions.size()) +
                              " functions at most 1 GiB in all (one per function and one shared, " +
                              format_number(std::round(sketch_bytes)) + " bytes each; so at most " +
                              format_number(std::floor(max_sketch_bytes / sketch_bytes) - 1) + " functions at this value)",
                          latency_relative_error);
        }
    }
};

/// The simulated cluster. Actions take effect at `now()`; `step` runs the
/// simulation for one control interval and reports per-function metrics.
class cluster {
public:
    cluster(cluster_config config, std::uint64_t seed) : config_((config.validate(), std::move(config))) {
        const auto n = static_cast<std::uint32_t>(config_.functions.size());
        std::uint32_t slots = 0;
        for (const auto& fc : config_.functions) {
            slots += static_cast<std::uint32_t>(fc.max_replicas);
        }
        std::size_t request_slots = 0;
        std::size_t queue_slots = 0;
        functions_.resize(n);
        control_.resize(n);
        services_.reserve(n);
        replicas_.resize(slots);
        for (std::uint32_t f = 0, first = 0; f < n; ++f) {
            const auto& fc = config_.functions[f];
            auto& fs = functions_[f];
            fs.first_slot = first;
            fs.memory_working_set_mb = fc.profile.memory_working_set_mb;
            fs.memory_per_request_mb = fc.profile.memory_per_request_mb;
            fs.cpu_demand = fc.profile.cpu_demand;
            fs.timeout_s = fc.profile.timeout_s;
            fs.queue_base = queue_slots;
            fs.queue_capacity = fc.queue_capacity;
            control_[f].max_replicas = static_cast<std::uint32_t>(fc.max_replicas);
            services_.push_back(fc.profile.service);
            for (std::uint32_t r = first; r < first + control_[f].max_replicas; ++r) {
                replicas_[r].function = f;
                replicas_[r].request_base = request_slots;
                request_slots += static_cast<std::size_t>(fc.profile.concurrency);
            }
            first += control_[f].max_replicas;
            queue_slots += fc.queue_capacity;
        }
        latencies_.assign(std::size_t{n} * latency_buffer, 0);
        sketches_.assign(n, latency_sketch(config_.latency_relative_error));
        quantile_sketch_ = latency_sketch(config_.latency_relative_error);
        replica_memory_.assign(slots, 0);
        requests_.assign(request_slots, request{});
        queue_.assign(queue_slots, 0);
        dispatch_entries_.assign(slots, {});
        dispatch_position_.assign(slots, detail::heap_absent);
        events_ = detail::calendar_queue(n + slots);
        completions_ = detail::calendar_queue(slots);
        event_key_.assign(std::size_t{n} + slots, infinity);
        completion_key_.assign(slots, infinity);
        pending_ = detail::indexed_heap<pending_key>(slots);
        releases_.assign(slots, {});
        reset(seed);
    }

    /// Back to time 0: empty queues, each function's initial replicas ready,
    /// generators reseeded. Allocates nothing.
    void reset(std::uint64_t seed) {
        now_ = 0;
        g_ = 0;
        speed_ = 1;
        t_anchor_ = 0;
        g_anchor_ = 0;
        busy_demand_ = 0;
        cpu_allocated_ = 0;
        memory_allocated_ = 0;
        events_.clear();
        completions_.clear();
        queues_stale_ = false;  // the key arrays are filled when next needed
        one_at_a_time_runs_ = 0;
        pending_.clear();
        for (auto& r : replicas_) {
            r.state = replica_state::free;
            r.k = 0;
            r.demand = 0;
        }
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            auto& fs = functions_[f];
            auto& fx = control_[f];
            const auto& fc = config_.functions[f];
            // Separate streams per function and purpose, so that one policy's
            // decisions never change another function's arrivals: two policies
            // compared on the same seed see identical load.
            fs.arrival_gen = rng(seed ^ (0x9e3779b97f4a7c15ULL * (2ULL * f + 1)));
            fs.service_gen = rng(seed ^ (0xd1b54a32d192ed03ULL * (2ULL * f + 2)));
            fs.arrival_cursor = {};
            fs.cpu_limit = fc.profile.cpu_limit;
            fs.memory_mb = fc.profile.memory_mb;
            fs.concurrency = static_cast<std::uint32_t>(fc.profile.concurrency_at(fs.memory_mb));
            fs.memory_share_per_request = memory_share_per_request(fs);
            fs.queue_head = 0;
            fs.queue_size = 0;
            fs.ready = fs.starting = fs.draining = 0;
            fx.pending = 0;
            fs.in_service = 0;
            fs.demand = 0;
            dispatch(fs).clear();
            fs.t_last = 0;
            fs.g_last = 0;
            fx.closed_arrivals = fx.closed_completions = fx.closed_drops = 0;
            clear_interval(f);
            // Initial replicas that do not fit wait in line like any others:
            // a later function's smaller ones wait behind them.
            for (int i = 0; i < fc.initial_replicas; ++i) {
                const std::uint32_t r = free_slot(f);
                if (pending_.empty() && fits(f)) {
                    allocate(r);
                    make_ready(r);
                } else {
                    make_pending(r);
                }
            }
            schedule_arrival(f);
        }
    }

    [[nodiscard]] double now() const noexcept { return now_; }
    [[nodiscard]] std::uint32_t function_count() const noexcept {
        return static_cast<std::uint32_t>(functions_.size());
    }
    [[nodiscard]] const cluster_config& config() const noexcept { return config_; }

    /// Intervals (calls of step) since reset that simulated the functions
    /// one at a time (cluster_config::one_function_at_a_time): those in
    /// which no function could affect another.
    [[nodiscard]] std::uint64_t one_function_at_a_time_runs() const noexcept { return one_at_a_time_runs_; }

    /// Replicas asked for (ready + starting + pending, not draining).
    [[nodiscard]] int replicas(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        return static_cast<int>(fs.ready + fs.starting + control_[f].pending);
    }
    [[nodiscard]] double cpu_limit(std::uint32_t f) const noexcept { return functions_[f].cpu_limit; }
    [[nodiscard]] double memory_limit_mb(std::uint32_t f) const noexcept { return functions_[f].memory_mb; }

    /// Requests of f that arrived since reset; completed; dropped; and in the
    /// system now (queued or in service). Conservation:
    /// arrivals = completions + drops + in_flight.
    [[nodiscard]] std::uint64_t total_arrivals(std::uint32_t f) const noexcept {
        return control_[f].closed_arrivals + functions_[f].arrivals;
    }
    [[nodiscard]] std::uint64_t total_completions(std::uint32_t f) const noexcept {
        return control_[f].closed_completions + functions_[f].completions;
    }
    [[nodiscard]] std::uint64_t total_drops(std::uint32_t f) const noexcept {
        return control_[f].closed_drops + functions_[f].drops;
    }
    [[nodiscard]] std::uint64_t in_flight(std::uint32_t f) const noexcept {
        return functions_[f].queue_size + functions_[f].in_service;
    }

    /// Scales f to n replicas (clamped to [0, max_replicas]). Scale-out adds
    /// replicas that start cold (or stay pending while they do not fit);
    /// scale-in removes pending ones first, then starting ones, then idle
    /// ready ones, and lets busy ones finish their requests (draining).
    void set_replicas(std::uint32_t f, int n) noexcept {
        touch(f);
        const int target = std::clamp(n, 0, static_cast<int>(control_[f].max_replicas));
        int current = replicas(f);
        for (; current < target; ++current) {
            const std::uint32_t r = free_slot(f);
            if (r == no_slot) {
                // Every free slot is held by a replica still draining: the
                // busiest of them serves again (it kept its resources).
                if (!revive_draining(f)) break;
                continue;
            }
            if (pending_.empty() && fits(f)) {
                allocate(r);
                start_cold(r);
            } else {
                make_pending(r);
            }
        }
        for (; current > target; --current) {
            remove_one(f);
        }
    }

    /// Sets f's CPU limit per replica (in-place resize of running replicas),
    /// clamped to [0.01, node cores × cpu_overcommit] (the bound a profile's
    /// limit is validated against). A raise is not checked against the room
    /// left on the node, unlike a memory limit.
    void set_cpu_limit(std::uint32_t f, double cores) noexcept {
        if (!std::isfinite(cores)) {
            return;
        }
        auto& fs = functions_[f];
        touch(f);
        const double limit = std::clamp(cores, 0.01, config_.node.cores * config_.node.cpu_overcommit);
        for (std::uint32_t r = fs.first_slot; r < fs.first_slot + control_[f].max_replicas; ++r) {
            replica& rep = replicas_[r];
            if (rep.state == replica_state::starting || rep.state == replica_state::ready ||
                rep.state == replica_state::draining) {
                cpu_allocated_ += limit - rep.cpu;
                rep.cpu = limit;
                if (rep.state != replica_state::starting) {
                    advance_progress(rep);
                    update_demand(r);
                    reschedule(r);
                }
            }
        }
        fs.cpu_limit = limit;
        place_pending();  // a smaller limit may leave room for a pending replica
    }

    /// Sets f's memory limit per replica, clamped to [1 MB, what fits on the
    /// node given the other replicas]: a resize the node cannot hold is cut
    /// short rather than evicting anything.
    void set_memory_limit(std::uint32_t f, double mb) noexcept {
        if (!std::isfinite(mb)) {
            return;
        }
        auto& fs = functions_[f];
        touch(f);
        const auto placed = static_cast<double>(fs.ready + fs.starting + fs.draining);
        double limit = std::clamp(mb, 1.0, config_.node.memory_mb);  // more than the node could never be placed
        if (placed > 0 && limit > fs.memory_mb) {
            const double room = config_.node.memory_mb - memory_allocated_;
            limit = std::min(limit, fs.memory_mb + room / placed);
        }
        const std::uint32_t end = fs.first_slot + control_[f].max_replicas;
        for (std::uint32_t r = fs.first_slot; r < end; ++r) {
            const replica& rep = replicas_[r];
            if (rep.state == replica_state::starting || rep.state == replica_state::ready ||
                rep.state == replica_state::draining) {
                memory_allocated_ += limit - replica_memory_[r];
                replica_memory_[r] = limit;
            }
        }
        fs.memory_mb = limit;
        const auto concurrency = static_cast<std::uint32_t>(config_.functions[f].profile.concurrency_at(limit));
        if (concurrency != fs.concurrency) {
            // Requests beyond a lowered concurrency finish where they run
            // (a replica takes no more until it is below it); a raised one
            // takes queued requests onto its new slots at once, oldest first.
            fs.concurrency = concurrency;
            for (std::uint32_t r = fs.first_slot; r < end; ++r) {
                if (replicas_[r].state == replica_state::ready) {
                    advance_progress(replicas_[r]);
                    update_demand(r);
                    fill_from_queue(r);
                }
            }
        }
        fs.memory_share_per_request = memory_share_per_request(fs);
        place_pending();
    }

    /// Runs the simulation for `interval_s` seconds and writes every
    /// function's metrics for that interval into `out` (size
    /// function_count()). Allocates nothing. Throws config_error naming interval_s
    /// unless the interval is finite and positive (the clock never runs
    /// backwards or to infinity), or `out` unless it holds exactly one entry
    /// per function (a function left out would carry its interval into the
    /// next), before anything changes.
    void step(double interval_s, std::span<function_metrics> out) {
        // Checked without building the message unless it fails: stepping allocates nothing.
        if (!(std::isfinite(interval_s) && interval_s > 0)) check_fields("cluster.step").greater("interval_s", interval_s, 0.0);
        if (out.size() != function_count()) {
            check_fields("cluster.step").require(false, "out", "hold one entry per function (" + format_number(function_count()) + ")",
                                         out.size());
        }
        const double until = now_ + interval_s;
        run_until(until);
        // Recompute the node demand from scratch once per interval so that
        // rounding in its running sum cannot accumulate.
        double demand = 0;
        for (const auto& fs : functions_) {
            demand += fs.demand;
        }
        busy_demand_ = demand;
        update_speed();
        for (std::uint32_t f = 0; f < function_count(); ++f) {
            out[f] = close_interval(f, interval_s);
        }
    }

private:
    static constexpr std::uint32_t no_slot = std::numeric_limits<std::uint32_t>::max();
    /// Latencies of one interval a function keeps as they are before they
    /// go to its own sketch (see Layout).
    static constexpr std::uint32_t latency_buffer = 128;
    static constexpr double infinity = std::numeric_limits<double>::infinity();

    enum class replica_state : std::uint8_t { free, pending, starting, ready, draining };

    // Layout. With many functions, an event costs the cache lines it misses
    // more than its arithmetic: the data of the function it touches has
    // usually left the caches since that function's previous event. So the
    // state is split by which code touches it, and what one event touches
    // sits together:
    // - functions_ (function_state): what an arrival or completion reads and
    //   writes, in five cache lines grouped by use. The profile fields an
    //   event needs (d, timeout) are copied there, so that an event reads
    //   nothing of the ~1 KB function_config but the workload (on arrival).
    // - services_: each function's service_time, copied into one array
    //   (sampling reads the first cache line of it).
    // - control_ (function_control): what only scaling actions and interval
    //   ends use.
    // - replicas_: one cache line per replica slot. The memory a replica
    //   holds, needed only to place and resize, sits apart in
    //   replica_memory_. Pending replicas wait in pending_, a heap in the
    //   order placement takes them, so that placing one scans nothing.
    // - requests_: target and arrival of each request slot side by side.
    // - dispatch_entries_ and dispatch_position_: the dispatch heaps of all
    //   functions, indexed by replica slot, so that each is one short run
    //   (detail::indexed_heap_ref).
    // - latencies_: each function's latencies of the current interval, up to
    //   latency_buffer of them, written one after another. A latency_sketch
    //   spreads its counts over about 10 KB (at the default α), so one sketch
    //   per function would miss the cache on nearly every completion. The buffer fills the
    //   shared quantile_sketch_ at the end of the interval; when it is full,
    //   it is emptied into the function's own sketch (sketches_), which is
    //   then used instead. Both hold the same counts, so the same
    //   percentiles.
    // run_until prefetches what the likely next event touches (the other
    // heap's top, this heap's runner-up), so that those misses overlap with
    // the current event's work.

    /// What an arrival or completion of one function reads and writes, in
    /// five cache lines grouped by which events touch them.
    struct alignas(64) function_state {
        // line 0, every event: time integrals, brought up to now by touch()
        double t_last = 0;
        double g_last = 0;
        double replica_seconds = 0;
        double cpu_used_s = 0;       // core-seconds actually used
        double cpu_capacity_s = 0;   // core-seconds of limit on serving replicas
        double memory_used_s = 0;    // MB-seconds used
        double memory_capacity_s = 0;
        double demand = 0;           // Σ min(L, k·d) over its replicas
        // line 1, every event: what they integrate; dispatch
        double cpu_limit = 1;
        double memory_mb = 128;
        double memory_working_set_mb = 0;     // the profile's absolute memory model (0 = proportional)
        double memory_per_request_mb = 0;
        double memory_share_per_request = 0;  // proportional model: (1 − idle)·memory_mb / concurrency
        std::uint32_t ready = 0;              // ready, not draining
        std::uint32_t starting = 0;
        std::uint32_t draining = 0;
        std::uint32_t in_service = 0;
        std::uint32_t concurrency = 1;  // requests served at once (the profile's, or fewer under the absolute memory model)
        std::uint32_t first_slot = 0;   // its replica slots are [first_slot, first_slot + max_replicas)
        // line 2, every event: counted over the current interval; sizes
        std::uint64_t arrivals = 0;
        std::uint64_t completions = 0;
        std::uint64_t drops = 0;
        double latency_sum = 0;
        double cpu_demand = 1;          // the profile's d
        double timeout_s = 30;          // the profile's queue timeout
        std::uint32_t buffered = 0;     // latencies in its latencies_ buffer
        std::uint32_t dispatch_size = 0;
        std::uint32_t queue_size = 0;   // the FIFO of arrival times: a ring in queue_
        std::uint32_t queue_capacity = 0;
        // line 3, arrivals and request starts
        rng arrival_gen;
        rng service_gen;
        // line 4, queue use; the workload's bin of the last arrival
        std::size_t queue_base = 0;
        std::uint32_t queue_head = 0;
        workload::arrival_cursor arrival_cursor;
    };

    /// What only scaling actions and interval ends read.
    struct function_control {
        std::uint32_t max_replicas = 0;
        std::uint32_t pending = 0;
        std::uint32_t cold_starts = 0;  // over the current interval
        // totals over the intervals closed since reset (the current one is in function_state)
        std::uint64_t closed_arrivals = 0;
        std::uint64_t closed_completions = 0;
        std::uint64_t closed_drops = 0;
    };

    struct alignas(64) replica {
        double progress = 0;            // work done per request since ready, in full-speed seconds
        double g_last = 0;              // G at which `progress` was last brought up to date
        double sigma = 1;               // per-request speed in G-time: min(1, L/(k·d))
        double demand = 0;              // cores it asks of the node: min(L, k·d)
        double cpu = 0;                 // CPU limit it holds on the node
        std::size_t request_base = 0;   // its `concurrency` request slots in requests_
        std::uint32_t function = 0;
        std::uint32_t k = 0;            // requests in service
        replica_state state = replica_state::free;
    };

    struct request {
        double target = 0;   // progress at which it completes
        double arrival = 0;  // its arrival time
    };

    /// Pending replicas are placed oldest first, the lowest slot first among
    /// equally old ones.
    using pending_key = std::pair<double, std::uint32_t>;  // (when it started waiting, slot)

    // ---- the event loop ------------------------------------------------

    void run_until(double until) noexcept {
        if (config_.one_function_at_a_time && functions_independent()) {
            if (!queues_stale_) {
                fill_key_arrays();
            }
            ++one_at_a_time_runs_;
            const double start = now_;
            deferring_releases_ = true;
            for (std::uint32_t f = 0; f < function_count(); ++f) {
                now_ = start;
                g_ = g_at(start);
                run_function_until(f, until);
            }
            deferring_releases_ = false;
            apply_releases();
            now_ = start;
            g_ = g_at(start);
            move_clock(until);
            return;
        }
        if (queues_stale_) {
            refill_queues();
        }
        run_interleaved_until(until);
    }

    /// Every function's events through the event queues, in time order.
    void run_interleaved_until(double until) noexcept {
        while (true) {
            const double t_event = events_.empty() ? infinity : events_.top_key();
            const double t_done = completions_.empty() ? infinity : time_at(completions_.top_key());
            const double t = std::min(t_event, t_done);
            if (t > until) {
                move_clock(until);
                return;
            }
            move_clock(t);
            // The next event is most likely the other heap's top or this
            // heap's runner-up: start loading what they touch.
            if (t_done <= t_event) {
                prefetch_event(events_.top());
                prefetch_completion(completions_.runner_up());
                finish_request(completions_.top());
            } else {
                prefetch_completion(completions_.top());
                prefetch_event(events_.runner_up());
                const std::uint32_t id = events_.top();
                if (id < function_count()) {
                    arrive(id);
                } else {
                    erase_event(id);
                    const std::uint32_t r = id - function_count();
                    touch(replicas_[r].function);
                    make_ready(r);
                    ++control_[replicas_[r].function].cold_starts;
                }
            }
        }
    }

    /// x / y, skipping the division when y is 1 (the node and the replica
    /// are usually not overloaded): x / 1 is exactly x.
    static double divide(double x, double y) noexcept { return y == 1.0 ? x : x / y; }

    // ---- one function at a time ---------------------------------------
    //
    // Functions interact only through the node: the slowdown s when the busy
    // demand exceeds the cores, and the room a released replica leaves for a
    // pending one. When the node cannot be overloaded in an interval (every
    // placed replica at its full demand still fits the cores) and no replica
    // is pending, s stays 1 and nothing one function does reaches another,
    // so each function can run through the interval on its own, its events
    // in the same order as in the interleaved loop and computed alike: G is
    // a function of the time alone (g_at), and so is a completion's time
    // (time_at). Each function's data then stays in the cache for the whole
    // interval instead of being evicted between its events. The event queues
    // are left aside meanwhile: the keys move to event_key_ and
    // completion_key_ when the cluster starts running functions one at a
    // time, and back into the queues when the interleaved loop next runs, so
    // that neither loop maintains both.
    //
    // The one thing the functions share that changes meanwhile is the sums
    // of the CPU and memory placed on the node: a draining replica releases
    // its share when its last request finishes. Nothing reads the sums in
    // the interval (no replica is pending), but a later placement or memory
    // raise does, to the last bit (the room a raised memory limit is
    // clamped to), and floating-point sums depend on the order of their
    // terms. So the releases are recorded and taken off the sums after the
    // run, in the order the interleaved loop would have made them.

    /// Whether no function can affect another before the next action: no
    /// pending replica, and the demand of every placed replica at its
    /// largest within the cores (with a margin for the rounding of the
    /// running sum).
    [[nodiscard]] bool functions_independent() const noexcept {
        if (!pending_.empty() || speed_ != 1.0) {
            return false;
        }
        double most = 0;
        for (const replica& rep : replicas_) {
            if (rep.state == replica_state::free || rep.state == replica_state::pending) {
                continue;
            }
            const auto& fs = functions_[rep.function];
            const double k = std::max(rep.k, fs.concurrency);
            most += std::min(rep.cpu, k * fs.cpu_demand);
        }
        return most <= config_.node.cores * (1 - 1e-9);
    }

    /// f's events up to `until`, in the interleaved loop's order: the
    /// earlier of its next completion and its next arrival or cold-start
    /// end, a completion first on a tie, and among equal keys the lowest id.
    void run_function_until(std::uint32_t f, double until) noexcept {
        const std::uint32_t first = functions_[f].first_slot;
        const std::uint32_t slots = control_[f].max_replicas;
        const double* const completions = completion_key_.data() + first;
        const double* const cold_starts = event_key_.data() + function_count() + first;
        const function_state& fs = functions_[f];
        while (true) {
            const std::uint32_t c = fs.in_service > 0 ? least_index(completions, slots) : 0;
            const std::uint32_t s = fs.starting > 0 ? least_index(cold_starts, slots) : 0;
            const double arrival = event_key_[f];
            const double t_done = fs.in_service > 0 ? time_at(completions[c]) : infinity;
            const double cold_start = fs.starting > 0 ? cold_starts[s] : infinity;
            const bool arrives = arrival <= cold_start;
            const double t_event = arrives ? arrival : cold_start;
            const double t = std::min(t_event, t_done);
            if (t > until) {
                return;
            }
            move_clock(t);
            if (t_done <= t_event) {
                finish_request(first + c);
            } else if (arrives) {
                arrive(f);
            } else {
                const std::uint32_t r = first + s;
                erase_event(function_count() + r);
                touch(f);
                make_ready(r);
                ++control_[f].cold_starts;
            }
        }
    }

    /// Takes the replicas released while the functions ran one at a time
    /// off the node's sums in the interleaved loop's order: that of their
    /// last completions, least (key, slot) first. The order is exact: a
    /// draining replica takes no new requests, so its last completion was
    /// keyed by its own earlier events, and was in the queue before any
    /// completion with a greater key, or with the same key and a greater
    /// slot, was taken.
    void apply_releases() noexcept {
        std::sort(releases_.begin(), releases_.begin() + static_cast<std::ptrdiff_t>(release_count_));
        for (std::size_t i = 0; i < release_count_; ++i) {
            const std::uint32_t r = releases_[i].second;
            cpu_allocated_ -= replicas_[r].cpu;
            memory_allocated_ -= replica_memory_[r];
        }
        release_count_ = 0;
    }

    /// Index of the least of keys[0, n) (n ≥ 1), the lowest on a tie.
    static std::uint32_t least_index(const double* keys, std::uint32_t n) noexcept {
        std::uint32_t best = 0;
        for (std::uint32_t i = 1; i < n; ++i) {
            if (keys[i] < keys[best]) {
                best = i;
            }
        }
        return best;
    }

    /// Moves every key from the event queues to event_key_ and
    /// completion_key_ (infinity for an id not queued).
    void fill_key_arrays() noexcept {
        for (std::uint32_t id = 0; id < event_key_.size(); ++id) {
            event_key_[id] = events_.contains(id) ? events_.key(id) : infinity;
        }
        for (std::uint32_t r = 0; r < completion_key_.size(); ++r) {
            completion_key_[r] = completions_.contains(r) ? completions_.key(r) : infinity;
        }
        queues_stale_ = true;
    }

    /// The event queues again from event_key_ and completion_key_.
    void refill_queues() noexcept {
        events_.clear();
        completions_.clear();
        for (std::uint32_t id = 0; id < event_key_.size(); ++id) {
            if (event_key_[id] < infinity) {
                events_.set(id, event_key_[id]);
            }
        }
        for (std::uint32_t r = 0; r < completion_key_.size(); ++r) {
            if (completion_key_[r] < infinity) {
                completions_.set(r, completion_key_[r]);
            }
        }
        queues_stale_ = false;
    }

    // Every change of a key goes through these: to the key arrays while the
    // functions run one at a time (and until the interleaved loop next
    // runs), else to the queues.
    void set_event(std::uint32_t id, double key) noexcept {
        if (queues_stale_) {
            event_key_[id] = key;
        } else {
            events_.set(id, key);
        }
    }
    void erase_event(std::uint32_t id) noexcept {
        if (queues_stale_) {
            event_key_[id] = infinity;
        } else {
            events_.erase(id);
        }
    }
    void set_completion(std::uint32_t r, double key) noexcept {
        if (queues_stale_) {
            completion_key_[r] = key;
        } else {
            completions_.set(r, key);
        }
    }
    void erase_completion(std::uint32_t r) noexcept {
        if (queues_stale_) {
            completion_key_[r] = infinity;
        } else {
            completions_.erase(r);
        }
    }

    // ---- the clocks ------------------------------------------------------

    /// G at real time t ≥ the anchor: G advances at s from where s last
    /// changed, so that while s holds, G is a function of t alone.
    [[nodiscard]] double g_at(double t) const noexcept { return g_anchor_ + (t - t_anchor_) * speed_; }

    /// The real time at which G reaches g (≥ the anchor's), at the current s.
    [[nodiscard]] double time_at(double g) const noexcept { return t_anchor_ + divide(g - g_anchor_, speed_); }

    void move_clock(double t) noexcept {
        if (t > now_) {
            now_ = t;
            g_ = g_at(t);
        }
    }

    void update_speed() noexcept {
        const double cores = config_.node.cores;
        const double speed = busy_demand_ > cores ? cores / busy_demand_ : 1.0;
        if (speed != speed_) {
            t_anchor_ = now_;
            g_anchor_ = g_;
            speed_ = speed;
        }
    }

    // ---- prefetching ------------------------------------------------------

    static constexpr std::size_t cache_line = 64;

    static void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(p);
#else
        (void)p;
#endif
    }

    /// Prefetches every cache line of the `bytes` bytes at p.
    static void prefetch(const void* p, std::size_t bytes) noexcept {
        const auto* first = static_cast<const char*>(p);
        for (std::size_t at = 0; at < bytes; at += cache_line) {
            prefetch(first + at);
        }
        prefetch(first + bytes - 1);
    }

    /// Prefetches what an arrival (event id < n) reads first: the
    /// function's state, its workload and its service time.
    void prefetch_event(std::uint32_t id) const noexcept {
        if (id >= function_count()) {
            return;  // none, or a cold start: rare
        }
        prefetch(&functions_[id], sizeof(function_state));
        prefetch(&config_.functions[id].load, sizeof(workload));
        prefetch(&services_[id]);
    }

    /// Prefetches what a completion on replica slot r reads first: the
    /// replica, its function's state and its request slots.
    void prefetch_completion(std::uint32_t r) const noexcept {
        if (r == detail::heap_absent) {
            return;
        }
        const replica& rep = replicas_[r];
        prefetch(&rep);
        prefetch(&functions_[rep.function], sizeof(function_state));
        prefetch(&requests_[rep.request_base]);
    }

    // ---- requests --------------------------------------------------------

    void schedule_arrival(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        const double next = config_.functions[f].load.next_arrival(now_, fs.arrival_gen, fs.arrival_cursor);
        if (std::isfinite(next)) {
            set_event(f, next);
        } else {
            erase_event(f);
        }
    }

    void arrive(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        touch(f);
        ++fs.arrivals;
        // A full queue first lets go of the requests that waited past the
        // timeout (dropped, as they would be when taken), so their places
        // take new arrivals instead of turning them away.
        if (fs.dispatch_size == 0 && fs.queue_size == fs.queue_capacity) expire_queue(f);
        if (fs.dispatch_size > 0) {
            start_request(fs.first_slot + dispatch(fs).top(), now_);
        } else if (fs.queue_size < fs.queue_capacity) {
            queue_[fs.queue_base + ring_index(fs, fs.queue_size)] = now_;
            ++fs.queue_size;
        } else {
            ++fs.drops;
        }
        schedule_arrival(f);
    }

    /// Index in f's ring of the queued request `i` places behind its head.
    static std::uint32_t ring_index(const function_state& fs, std::uint32_t i) noexcept {
        const std::uint64_t j = std::uint64_t{fs.queue_head} + i;  // < 2·capacity
        return static_cast<std::uint32_t>(j < fs.queue_capacity ? j : j - fs.queue_capacity);
    }

    /// Removes the request at the head of f's queue.
    static void pop_head(function_state& fs) noexcept {
        fs.queue_head = ring_index(fs, 1);
        --fs.queue_size;
    }

    /// Pops the oldest queued request that has not yet waited past the
    /// timeout (dropping those that have); returns its arrival time, or a
    /// negative value when none is left.
    double pop_queued(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        while (fs.queue_size > 0) {
            const double arrival = queue_[fs.queue_base + fs.queue_head];
            pop_head(fs);
            if (now_ - arrival <= fs.timeout_s) {
                return arrival;
            }
            ++fs.drops;
        }
        return -1;
    }

    /// Drops every queued request whose deadline has passed (they sit at the
    /// head: the queue is FIFO).
    void expire_queue(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        while (fs.queue_size > 0 && now_ - queue_[fs.queue_base + fs.queue_head] > fs.timeout_s) {
            pop_head(fs);
            ++fs.drops;
        }
    }

    void start_request(std::uint32_t r, double arrival) noexcept {
        replica& rep = replicas_[r];
        auto& fs = functions_[rep.function];
        advance_progress(rep);
        const double work = services_[rep.function].sample(fs.service_gen);
        request& q = requests_[rep.request_base + rep.k];
        q.target = rep.progress + work;
        q.arrival = arrival;
        ++rep.k;
        ++fs.in_service;
        update_demand(r);
        reschedule(r);
    }

    void finish_request(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        const std::uint32_t f = rep.function;
        auto& fs = functions_[f];
        touch(f);
        advance_progress(rep);
        // The request with the least work left is the one finishing.
        request* const slots = requests_.data() + rep.request_base;
        std::uint32_t first = 0;
        for (std::uint32_t i = 1; i < rep.k; ++i) {
            if (slots[i].target < slots[first].target) {
                first = i;
            }
        }
        const double latency = now_ - slots[first].arrival;
        fs.latency_sum += latency;
        if (fs.buffered == latency_buffer) {
            flush_latencies(f);
        }
        latencies_[std::size_t{f} * latency_buffer + fs.buffered] = latency;
        ++fs.buffered;
        ++fs.completions;
        slots[first] = slots[rep.k - 1];
        --rep.k;
        --fs.in_service;
        if (rep.state == replica_state::draining) {
            if (rep.k == 0) {
                update_demand(r);
                if (deferring_releases_) {
                    // Its share leaves the node's sums after the run
                    // (apply_releases), ordered by this completion's key.
                    releases_[release_count_++] = {completion_key_[r], r};
                }
                erase_completion(r);
                --fs.draining;
                release(r);
                return;
            }
        } else if (rep.k < fs.concurrency) {  // a lowered concurrency is not refilled past its new level
            const double arrival = pop_queued(f);
            if (arrival >= 0) {
                start_request(r, arrival);  // k back up; demand and schedule updated there
                return;
            }
        }
        update_demand(r);
        reschedule(r);
    }

    // ---- replicas --------------------------------------------------------

    /// f's heap of ready replicas with room, keyed by k (ids are slots
    /// relative to first_slot).
    detail::indexed_heap_ref<std::uint32_t> dispatch(function_state& fs) noexcept {
        return {dispatch_entries_.data() + fs.first_slot, dispatch_position_.data() + fs.first_slot,
                fs.dispatch_size};
    }

    /// Brings a replica's per-request progress up to the current G.
    void advance_progress(replica& rep) noexcept {
        rep.progress += rep.sigma * (g_ - rep.g_last);
        rep.g_last = g_;
    }

    /// Recomputes σ and the demand of replica r after k or L changed (its
    /// progress must be current).
    void update_demand(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        auto& fs = functions_[rep.function];
        const double want = static_cast<double>(rep.k) * fs.cpu_demand;
        const double new_demand = std::min(rep.cpu, want);
        fs.demand += new_demand - rep.demand;
        busy_demand_ += new_demand - rep.demand;
        rep.demand = new_demand;
        rep.sigma = (rep.k == 0 || want <= rep.cpu) ? 1.0 : rep.cpu / want;
        update_speed();
        if (rep.state == replica_state::ready) {
            if (rep.k < fs.concurrency) {
                dispatch(fs).set(r - fs.first_slot, rep.k);
            } else {
                dispatch(fs).erase(r - fs.first_slot);
            }
        }
    }

    /// Schedules replica r's next completion in G-time.
    void reschedule(std::uint32_t r) noexcept {
        const replica& rep = replicas_[r];
        if (rep.k == 0) {
            erase_completion(r);
            return;
        }
        const request* const slots = requests_.data() + rep.request_base;
        double least = slots[0].target;
        for (std::uint32_t i = 1; i < rep.k; ++i) {
            least = std::min(least, slots[i].target);
        }
        set_completion(r, g_ + divide(std::max(0.0, least - rep.progress), rep.sigma));
    }

    std::uint32_t free_slot(std::uint32_t f) const noexcept {
        const std::uint32_t first = functions_[f].first_slot;
        for (std::uint32_t r = first; r < first + control_[f].max_replicas; ++r) {
            if (replicas_[r].state == replica_state::free) {
                return r;
            }
        }
        return no_slot;
    }

    [[nodiscard]] bool fits(std::uint32_t f) const noexcept {
        const auto& fs = functions_[f];
        return config_.node.fits(cpu_allocated_, memory_allocated_, fs.cpu_limit, fs.memory_mb);
    }

    void allocate(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        const auto& fs = functions_[rep.function];
        rep.cpu = fs.cpu_limit;
        replica_memory_[r] = fs.memory_mb;
        cpu_allocated_ += rep.cpu;
        memory_allocated_ += replica_memory_[r];
    }

    void release(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        if (!deferring_releases_) {  // else apply_releases does it, in the interleaved loop's order
            cpu_allocated_ -= rep.cpu;
            memory_allocated_ -= replica_memory_[r];
        }
        rep.state = replica_state::free;
        place_pending();
    }

    void start_cold(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        auto& fs = functions_[rep.function];
        rep.state = replica_state::starting;
        ++fs.starting;
        const double delay = config_.functions[rep.function].profile.cold_start.sample(fs.service_gen);
        set_event(function_count() + r, now_ + delay);
    }

    void make_pending(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        rep.state = replica_state::pending;
        pending_.set(r, {now_, r});
        ++control_[rep.function].pending;
    }

    /// Ready replica r takes queued requests while it is below the concurrency.
    void fill_from_queue(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        const auto& fs = functions_[rep.function];
        while (rep.k < fs.concurrency) {
            const double arrival = pop_queued(rep.function);
            if (arrival < 0) {
                break;
            }
            start_request(r, arrival);
        }
    }

    /// Turns f's draining replica with the most requests in service back
    /// into a ready one (a scale-out while every slot is draining); false
    /// when f has none.
    bool revive_draining(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        std::uint32_t r = no_slot;
        for (std::uint32_t s = fs.first_slot; s < fs.first_slot + control_[f].max_replicas; ++s) {
            if (replicas_[s].state == replica_state::draining && (r == no_slot || replicas_[s].k > replicas_[r].k)) {
                r = s;
            }
        }
        if (r == no_slot) {
            return false;
        }
        replicas_[r].state = replica_state::ready;
        --fs.draining;
        ++fs.ready;
        advance_progress(replicas_[r]);
        update_demand(r);  // back in the dispatch heap when below the concurrency
        fill_from_queue(r);
        return true;
    }

    /// A replica whose cold start ended (or an initial one) starts serving
    /// the queue.
    void make_ready(std::uint32_t r) noexcept {
        replica& rep = replicas_[r];
        auto& fs = functions_[rep.function];
        if (rep.state == replica_state::starting) {
            --fs.starting;
        }
        rep.state = replica_state::ready;
        ++fs.ready;
        rep.k = 0;
        rep.progress = 0;
        rep.g_last = g_;
        rep.sigma = 1;
        rep.demand = 0;
        dispatch(fs).set(r - fs.first_slot, 0);
        fill_from_queue(r);
    }

    /// Starts pending replicas, oldest first, while they fit.
    void place_pending() noexcept {
        while (!pending_.empty()) {
            const std::uint32_t r = pending_.top();
            const std::uint32_t f = replicas_[r].function;
            if (!fits(f)) {
                return;
            }
            touch(f);
            --control_[f].pending;
            pending_.erase(r);
            allocate(r);
            start_cold(r);
        }
    }

    /// Removes one replica of f for a scale-in (see set_replicas).
    void remove_one(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        auto& fx = control_[f];
        const auto find = [&](replica_state s) {
            for (std::uint32_t r = fs.first_slot + fx.max_replicas; r-- > fs.first_slot;) {
                if (replicas_[r].state == s) {
                    return r;
                }
            }
            return no_slot;
        };
        if (fx.pending > 0) {
            const std::uint32_t r = find(replica_state::pending);
            replicas_[r].state = replica_state::free;
            pending_.erase(r);
            --fx.pending;
            place_pending();  // it may have been first in line, ahead of ones that fit
            return;
        }
        if (fs.starting > 0) {
            const std::uint32_t r = find(replica_state::starting);
            erase_event(function_count() + r);
            --fs.starting;
            release(r);
            return;
        }
        if (fs.ready == 0) {
            return;
        }
        auto ready = dispatch(fs);
        std::uint32_t r = no_slot;
        if (!ready.empty() && ready.top_key() == 0) {
            r = fs.first_slot + ready.top();  // an idle replica
        } else {
            // All busy: the one with the fewest requests drains first.
            for (std::uint32_t s = fs.first_slot; s < fs.first_slot + fx.max_replicas; ++s) {
                if (replicas_[s].state == replica_state::ready && (r == no_slot || replicas_[s].k < replicas_[r].k)) {
                    r = s;
                }
            }
        }
        ready.erase(r - fs.first_slot);
        --fs.ready;
        if (replicas_[r].k == 0) {
            release(r);
        } else {
            replicas_[r].state = replica_state::draining;
            ++fs.draining;
        }
    }

    // ---- accounting ------------------------------------------------------

    /// The proportional memory model's share of the limit one request in
    /// service uses: (1 − idle)·limit / concurrency.
    [[nodiscard]] double memory_share_per_request(const function_state& fs) const noexcept {
        return (1 - config_.idle_memory_fraction) * fs.memory_mb / fs.concurrency;
    }

    /// Integrates f's time-weighted quantities up to now; called before any
    /// change to f's replicas, requests or limits.
    void touch(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        const double dt = now_ - fs.t_last;
        if (dt > 0) {
            const double serving = fs.ready + fs.draining;
            fs.replica_seconds += (serving + fs.starting) * dt;
            fs.cpu_capacity_s += serving * fs.cpu_limit * dt;
            if (fs.memory_working_set_mb > 0) {
                const double used = serving * fs.memory_working_set_mb + fs.in_service * fs.memory_per_request_mb;
                fs.memory_used_s += std::min(used, serving * fs.memory_mb) * dt;
            } else {
                const double idle = config_.idle_memory_fraction;
                fs.memory_used_s +=
                    (serving * idle * fs.memory_mb + fs.in_service * fs.memory_share_per_request) * dt;
            }
            fs.memory_capacity_s += serving * fs.memory_mb * dt;
            fs.t_last = now_;
        }
        // ∫ D_f·s dt = ∫ D_f dG. D_f is a running sum of the replicas'
        // demands; when they return to zero it may be left a rounding error
        // below (−6e-17 after demands of 0.3), which must not become a
        // negative CPU utilisation (the encoders refuse those).
        fs.cpu_used_s += std::max(0.0, fs.demand) * (g_ - fs.g_last);
        fs.g_last = g_;
    }

    void clear_interval(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        if (fs.completions > fs.buffered) {
            sketches_[f].clear();  // the buffer overflowed into it
        }
        fs.buffered = 0;
        fs.replica_seconds = fs.cpu_used_s = fs.cpu_capacity_s = 0;
        fs.memory_used_s = fs.memory_capacity_s = 0;
        fs.arrivals = fs.completions = fs.drops = 0;
        control_[f].cold_starts = 0;
        fs.latency_sum = 0;
    }

    /// Moves f's buffered latencies into its own sketch.
    void flush_latencies(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        const double* const buffer = latencies_.data() + std::size_t{f} * latency_buffer;
        for (std::uint32_t i = 0; i < fs.buffered; ++i) {
            sketches_[f].add(buffer[i]);
        }
        fs.buffered = 0;
    }

    /// The sketch of every latency f recorded in the current interval: its
    /// own when the buffer overflowed, else the shared one, filled from the
    /// buffer. Either way the same values, so the same quantiles.
    const latency_sketch& interval_latencies(std::uint32_t f) noexcept {
        auto& fs = functions_[f];
        if (fs.completions > fs.buffered) {
            flush_latencies(f);
            return sketches_[f];
        }
        quantile_sketch_.clear();
        const double* const buffer = latencies_.data() + std::size_t{f} * latency_buffer;
        for (std::uint32_t i = 0; i < fs.buffered; ++i) {
            quantile_sketch_.add(buffer[i]);
        }
        return quantile_sketch_;
    }

    function_metrics close_interval(std::uint32_t f, double interval_s) noexcept {
        auto& fs = functions_[f];
        auto& fx = control_[f];
        touch(f);
        expire_queue(f);
        function_metrics m;
        m.interval_s = interval_s;
        m.arrivals = fs.arrivals;
        m.completions = fs.completions;
        m.drops = fs.drops;
        m.throughput_rps = interval_s > 0 ? static_cast<double>(fs.completions) / interval_s : 0;
        if (fs.completions > 0) {
            m.latency_mean_s = fs.latency_sum / static_cast<double>(fs.completions);
            static constexpr double qs[] = {0.50, 0.90, 0.95, 0.99, 0.999};
            double p[5];
            interval_latencies(f).quantiles(qs, p);
            m.latency = {.p50 = p[0], .p90 = p[1], .p95 = p[2], .p99 = p[3], .p999 = p[4]};
        }
        m.queue_length = fs.queue_size;
        m.in_service = fs.in_service;
        m.cpu_utilization = fs.cpu_capacity_s > 0 ? fs.cpu_used_s / fs.cpu_capacity_s : 0;
        m.memory_utilization = fs.memory_capacity_s > 0 ? fs.memory_used_s / fs.memory_capacity_s : 0;
        m.cpu_limit = fs.cpu_limit;
        m.memory_limit_mb = fs.memory_mb;
        m.ready_replicas = fs.ready;
        m.starting_replicas = fs.starting;
        m.pending_replicas = fx.pending;
        m.cold_starts = fx.cold_starts;
        m.replica_seconds = fs.replica_seconds;
        fx.closed_arrivals += fs.arrivals;
        fx.closed_completions += fs.completions;
        fx.closed_drops += fs.drops;
        clear_interval(f);
        return m;
    }

    cluster_config config_;
    std::vector<function_state> functions_;
    std::vector<function_control> control_;
    std::vector<service_time> services_;      // per function: a copy of its profile's service time
    std::vector<replica> replicas_;
    std::vector<double> latencies_;           // per function: latency_buffer latencies of the current interval
    std::vector<latency_sketch> sketches_;    // per function: its latencies beyond the buffer
    latency_sketch quantile_sketch_;          // the percentiles of a function whose latencies fit the buffer
    std::vector<double> replica_memory_;      // per replica slot: memory it holds on the node
    std::vector<request> requests_;           // every replica's request slots
    std::vector<double> queue_;               // every function's FIFO ring of arrival times
    std::vector<detail::heap_entry<std::uint32_t>> dispatch_entries_;  // every function's dispatch heap
    std::vector<std::uint32_t> dispatch_position_;                     // (see dispatch())
    detail::calendar_queue events_{0};             // real time: arrivals (id f), cold-start ends (id n + r)
    detail::calendar_queue completions_{0};        // G-time: each busy replica's next completion (id r)
    detail::indexed_heap<pending_key> pending_{0}; // pending replicas (id r), oldest first
    std::vector<double> event_key_;       // while queues_stale_, per events_ id: its key, infinity when absent
    std::vector<double> completion_key_;  // while queues_stale_, per replica slot: its completion key, or infinity
    bool queues_stale_ = false;           // the keys are in the arrays, not the queues (one function at a time ran)
    bool deferring_releases_ = false;     // the functions run one at a time: releases wait for apply_releases
    std::vector<pending_key> releases_;   // per release meanwhile: (its last completion's key, slot); a slot is released once a run at most
    std::size_t release_count_ = 0;
    std::uint64_t one_at_a_time_runs_ = 0;
    double now_ = 0;
    double g_ = 0;
    double t_anchor_ = 0;  // (real time, G) where the speed s last changed
    double g_anchor_ = 0;
    double speed_ = 1;
    double busy_demand_ = 0;
    double cpu_allocated_ = 0;
    double memory_allocated_ = 0;
};

}  // namespace rlscale::sim
