#pragma once

/// The controller's loop, independent of where metrics come from and how
/// replicas are changed: each tick, for each function, read its metrics,
/// decide through its guarded policy (the HPA as fallback for learned
/// policies), apply the decision unless in dry-run, and write one JSON line
/// to the decision log. Reading or actuating failures never become scaling
/// commands: a reading with an invalid value, or with any field missing but
/// those harmless_missing excuses, keeps the current count (no actuation at
/// all, even outside [min, max]), whichever fields the function's policy
/// reads (an hpa function whose pods have no memory limit, so no memory
/// utilisation, holds too); a failed read of the current count skips the
/// function for that tick, and a failed change is logged and counted (the
/// actuator bounds its own retries). No exception leaves a tick, and every
/// text that reaches the decision log is made valid UTF-8 first.

#include <rlscale/controller/config.hpp>
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/serving_spec.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <string_view>
#include <cstdint>
#include <fstream>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rlscale::controller {

/// A configured metric without a value in one reading, and why.
struct missing_metric {
    std::string field;   ///< e.g. "arrivals", "latency.p90"
    std::string reason;  ///< e.g. "prometheus: HTTP 503, errorType unavailable: ...", "empty result"
};

/// One read of a function's metrics: what was measured, and the fields that
/// had no data. A missing floating-point field is NaN; a missing counter
/// (arrivals, completions, replicas, ...) cannot be, so it is only known to
/// be missing from this list, and the controller never uses such a reading.
struct metrics_reading {
    function_metrics metrics;
    std::vector<missing_metric> missing;  ///< configured fields without data
    std::string error;                    ///< non-empty when the read failed outright
};

/// Whether a missing `field` leaves nothing a policy could be misled by:
/// latencies when nothing completed in the window (no request, no latency),
/// and the smallest limits over the replicas, which no policy reads (a
/// resize is not seen in place without them). Every other missing field
/// makes the reading unusable, whether or not the function's policy reads
/// it: memory_utilization missing holds an hpa function too.
[[nodiscard]] inline bool harmless_missing(std::string_view field, const function_metrics& m) noexcept {
    if (field == "cpu_limit_min" || field == "memory_limit_min_mb") return true;
    return m.completions == 0 && (field == "latency_mean_s" || field.starts_with("latency."));
}

/// Why `r` cannot be decided on, or empty when it can: the read failed, a
/// field is missing that harmless_missing does not excuse (named, with its reason),
/// or the values fail check_metrics.
[[nodiscard]] inline std::string unusable_reason(const metrics_reading& r) {
    if (!r.error.empty()) return "reading metrics failed: " + r.error;
    std::string out;
    for (const missing_metric& m : r.missing) {
        if (harmless_missing(m.field, r.metrics)) continue;
        out += (out.empty() ? "metrics missing: " : "; ") + m.field + " (" + m.reason + ")";
    }
    if (!out.empty()) return out;
    if (const encode_status st = check_metrics(r.metrics); !st) return "metrics invalid: " + std::string(st.field) + " is not a usable value";
    return {};
}


/// Where metrics come from (the Prometheus adapter, or a test's fake).
template <typename S>
concept metrics_source = requires(S& s, const function_spec& f, double now_s) {
    { s.read(f, now_s) } -> std::same_as<metrics_reading>;
};

/// Thrown by a conditional change (set_replicas(f, n, read)) when the count
/// is no longer the one read: nothing was changed, and the loop does not
/// try the count again another way in the same tick.
class count_changed : public rlscale::error {
public:
    using rlscale::error::error;
};

/// Thrown by a change that failed after it may have reached the cluster
/// (an answer late, cut off or unreadable; a 500, 502 or 504): the cluster
/// may or may not have applied it (the Kubernetes adapter's
/// write_outcome_unknown).
class outcome_unknown : public rlscale::error {
public:
    using rlscale::error::error;
};

/// How replicas are read and changed (the Kubernetes adapter, or a fake).
/// Both throw on failure; set_replicas changes nothing when it throws.
/// An actuator that also offers set_replicas(f, n, read) (and
/// set_limits(f, replicas, limits, read)) is called with the count the
/// decision was made from, and must change nothing when the count is no
/// longer that one: a change someone else made meanwhile then stands.
template <typename A>
concept replica_actuator = requires(A& a, const function_spec& f, int n) {
    { a.replicas(f) } -> std::convertible_to<int>;
    a.set_replicas(f, n);
};

/// Per-replica limits to set: cores and MiB; NaN leaves one as it is.
struct replica_limits {
    double cpu_cores = std::numeric_limits<double>::quiet_NaN();
    double memory_mb = std::numeric_limits<double>::quiet_NaN();
};

/// An actuator that can also set a function's per-replica limits (on the
/// container `f.resize_container`): set_limits sets them, and the replica
/// count too when `replicas` holds one, as ONE change: when it is refused,
/// neither changed. (When the control loop's call is refused it changes the
/// count alone through set_replicas.)
template <typename A>
concept resizing_actuator = replica_actuator<A> && requires(A& a, const function_spec& f, std::optional<int> replicas,
                                                            const replica_limits& l) {
    a.set_limits(f, replicas, l);
};

/// The limits of decision `d` that are to be applied to `f`, whose current
/// limits are `cpu_now` cores and `memory_now` MiB: those a resize container
/// is configured for, that the decision sets, and that move by at least
/// f.resize_min_change of the current value. A limit whose current value
/// is unknown (not finite and > 0) is not changed: the policy stepped from
/// a value that is not the cluster's. CPU is kept to whole millicores and
/// memory to whole MiB, the units the patch is sent in, at least one unit
/// and at most 1e12. Nullopt when none is.
[[nodiscard]] inline std::optional<replica_limits> limits_to_apply(const function_spec& f, const decision& d, double cpu_now,
                                                                   double memory_now) noexcept {
    if (f.resize_container.empty()) return std::nullopt;
    const auto moves = [&](double to, double now, double unit) {
        if (!std::isfinite(now) || !(now > 0) || !std::isfinite(to)) return false;
        const double units = std::round(to / unit);
        if (!(units >= 1 && units <= 1e12)) return false;
        return std::abs(units - std::round(now / unit)) >= 1 && std::abs(to - now) >= f.resize_min_change * now;
    };
    replica_limits l;
    if (moves(d.cpu_limit, cpu_now, 1e-3)) l.cpu_cores = std::round(d.cpu_limit * 1000) / 1000;
    if (moves(d.memory_limit_mb, memory_now, 1)) l.memory_mb = std::round(d.memory_limit_mb);
    if (std::isnan(l.cpu_cores) && std::isnan(l.memory_mb)) return std::nullopt;
    return l;
}

/// Every field of `m` as JSON, in the names the decision service's request
/// body uses (so a decision-log line's inputs can be sent to it as they
/// are); a non-finite number becomes null.
[[nodiscard]] inline nlohmann::json metrics_json(const function_metrics& m) {
    const auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
    nlohmann::json j = {{"interval_s", num(m.interval_s)},
            {"arrivals", m.arrivals},
            {"completions", m.completions},
            {"drops", m.drops},
            {"throughput_rps", num(m.throughput_rps)},
            {"latency_mean_s", num(m.latency_mean_s)},
            {"latency", {{"p50", num(m.latency.p50)}, {"p90", num(m.latency.p90)}, {"p95", num(m.latency.p95)},
                         {"p99", num(m.latency.p99)}, {"p999", num(m.latency.p999)}}},
            {"queue_length", m.queue_length},
            {"in_service", m.in_service},
            {"cpu_utilization", num(m.cpu_utilization)},
            {"memory_utilization", num(m.memory_utilization)},
            {"cpu_limit", num(m.cpu_limit)},
            {"memory_limit_mb", num(m.memory_limit_mb)},
            {"ready_replicas", m.ready_replicas},
            {"starting_replicas", m.starting_replicas},
            {"pending_replicas", m.pending_replicas},
            {"cold_starts", m.cold_starts},
            {"replica_seconds", num(m.replica_seconds)}};
    // The smallest limits over the replicas, only where read.
    if (std::isfinite(m.cpu_limit_min)) j["cpu_limit_min"] = m.cpu_limit_min;
    if (std::isfinite(m.memory_limit_min_mb)) j["memory_limit_min_mb"] = m.memory_limit_min_mb;
    return j;
}

/// What happened to one function in one tick (one decision-log line).
struct decision_record {
    double time_s = 0;
    std::string function;
    int replicas_before = -1;  ///< -1 when the current count could not be read
    int replicas_after = -1;   ///< what the cluster was asked for (or would be, in dry run)
    decision result;
    bool applied = false;      ///< the change was made (false in dry run, on no change, or on error)
    bool resize_configured = false;  ///< limits are applied for this function (resize_container set, actuator able)
    std::optional<replica_limits> limits_sent;  ///< the limits asked of the cluster this tick (or that would be, in dry run)
    bool limits_applied = false;     ///< they were set
    bool resize_settling = false;    ///< a change of limits was withheld: the last resize is not yet in place (resize_settle_s)
    /// Set when this tick re-sent, and had answered as applied, limits that
    /// were applied before but never read back: when they were first sent.
    std::optional<double> limits_first_sent_s;
    std::string error;         ///< a read or actuation failure, if any
    /// What else the tick found, e.g. the count already at replicas_after
    /// (another writer set it since it was read: nothing sent, not applied).
    std::string note;
    function_metrics inputs;
    std::vector<missing_metric> missing;

    /// The decision-log line: timestamp, replicas before and after, the inputs,
    /// the action, which policy decided and why. Every text is made valid
    /// UTF-8 (an error may quote a server's answer), so the line always dumps.
    [[nodiscard]] nlohmann::json to_json() const {
        nlohmann::json j = {
            {"time_s", time_s},
            {"function", valid_utf8(function)},
            {"replicas_before", replicas_before},
            {"replicas_after", replicas_after},
            {"action", replicas_before >= 0 && replicas_after >= 0 ? replicas_after - replicas_before : 0},
            {"source", std::string(to_string(result.source))},
            {"reason", valid_utf8(result.reason)},
            {"applied", applied},
            {"inputs", metrics_json(inputs)},
        };
        if (!missing.empty()) {
            nlohmann::json list = nlohmann::json::array();
            for (const missing_metric& m : missing) list.push_back({{"field", valid_utf8(m.field)}, {"reason", valid_utf8(m.reason, 512)}});
            j["missing"] = std::move(list);
        }
        if (!error.empty()) j["error"] = valid_utf8(error, 2048);
        if (!note.empty()) j["note"] = valid_utf8(note, 2048);
        // A multidimensional policy's limits: logged as not applied when the
        // function has no resize container; else the decided values, what
        // was asked of the cluster (changes below resize_min_change are not)
        // and whether it was set.
        if (!resize_configured) {
            if (std::isfinite(result.cpu_limit)) j["cpu_limit_not_applied"] = result.cpu_limit;
            if (std::isfinite(result.memory_limit_mb)) j["memory_limit_mb_not_applied"] = result.memory_limit_mb;
        } else if (result.vertical()) {
            if (std::isfinite(result.cpu_limit)) j["cpu_limit"] = result.cpu_limit;
            if (std::isfinite(result.memory_limit_mb)) j["memory_limit_mb"] = result.memory_limit_mb;
            if (limits_sent) {
                nlohmann::json sent = nlohmann::json::object();
                if (std::isfinite(limits_sent->cpu_cores)) sent["cpu_limit"] = limits_sent->cpu_cores;
                if (std::isfinite(limits_sent->memory_mb)) sent["memory_limit_mb"] = limits_sent->memory_mb;
                j["limits_sent"] = std::move(sent);
            }
            if (resize_settling) j["limits_withheld"] = "the last resize is not yet in place";
            if (limits_first_sent_s) {
                j["limits_repeated"] = "the same limits were first sent at limits_first_sent_s, answered as applied, and never read back";
                j["limits_first_sent_s"] = *limits_first_sent_s;
            }
            j["limits_applied"] = limits_applied;
        }
        return j;
    }
};

/// Counters for the controller's own /metrics endpoint.
struct counters {
    std::uint64_t ticks = 0;
    std::uint64_t ticks_skipped = 0;  ///< scheduled ticks not run because an earlier one (or the process) overran them
    std::uint64_t decisions = 0;
    std::uint64_t fallbacks = 0;  ///< decisions made by a fallback
    std::uint64_t holds = 0;      ///< decisions that kept the current count for lack of usable input
    std::uint64_t changes = 0;    ///< replica changes applied
    std::uint64_t resizes = 0;    ///< limit changes applied
    std::uint64_t resizes_withheld = 0;  ///< limit changes not sent: the last resize not yet in place (resize_settle_s)
    std::uint64_t resizes_repeated = 0;  ///< limit changes sent again: the same sent before, answered as applied, never read back
    std::uint64_t read_errors = 0;  ///< ticks of a function whose replica count or metrics could not be used
    std::uint64_t actuation_errors = 0;
    std::uint64_t reloads = 0;          ///< successful policy reloads
    std::uint64_t reload_errors = 0;    ///< reloads refused (the policies in use kept serving)
    double last_tick_seconds = 0;  ///< wall-clock duration of the last tick
    /// Readings in which a field was missing, by (function, field).
    std::map<std::pair<std::string, std::string>, std::uint64_t> missing_metrics;
};

/// The deadline of the tick after the one due at `due`, when that tick has
/// ended at `now`: one interval after `due` while that has not passed; else
/// (the tick overran its interval, or the whole process stalled) one
/// interval after `now`. The loop never runs missed ticks back to back,
/// which would let the per-tick step limit move the replicas by many steps
/// in a moment. `skipped`, if given, is increased by the scheduled ticks
/// that passed during the overrun and are not run, floor((now - due) /
/// interval): 1 for a 20 s tick at a 15 s interval (the next one then runs
/// 35 s after it started), 40 for a 10-minute stall.
template <typename TimePoint, typename Duration>
[[nodiscard]] TimePoint next_tick_deadline(TimePoint due, TimePoint now, Duration interval, std::uint64_t* skipped = nullptr) {
    const TimePoint next = due + interval;
    if (now <= next) return next;
    if (skipped != nullptr) *skipped += static_cast<std::uint64_t>((now - due) / interval);
    return now + interval;
}

/// The controller's clock for policies and records: the system clock's
/// reading when it was made, plus the steady (monotonic) time since. It
/// reads as wall time in the log, yet a step of the system clock (NTP, an
/// operator, a VM restored) moves the times policies compare neither back
/// nor ahead: the HPA's stabilisation windows and rate periods keep the
/// times of earlier ticks, and a clock set back 10 minutes would keep every
/// scale event "recent" for 10 more minutes (no scale-up under load), one
/// set ahead would drop the scale-down window at once. The log's times
/// drift from the system clock by whatever it was stepped by since start.
template <typename System = std::chrono::system_clock, typename Steady = std::chrono::steady_clock>
class controller_clock {
public:
    controller_clock() : controller_clock(System::now(), Steady::now()) {}
    controller_clock(typename System::time_point wall, typename Steady::time_point start)
        : wall_s_(std::chrono::duration<double>(wall.time_since_epoch()).count()), start_(start) {}

    /// Seconds at the steady clock's reading `t` (the loop's own).
    [[nodiscard]] double seconds_at(typename Steady::time_point t) const noexcept {
        return wall_s_ + std::chrono::duration<double>(t - start_).count();
    }
    [[nodiscard]] double now_s() const noexcept { return seconds_at(Steady::now()); }

private:
    double wall_s_;
    typename Steady::time_point start_;
};

/// The baseline settings of a configured function (the registry's
/// defaults for what it leaves out).
[[nodiscard]] inline baseline_settings settings_of(const function_spec& f) {
    baseline_settings b;
    b.hpa_cpu_target_percent = static_cast<int>(std::lround(f.cpu_target_percent));
    b.container_concurrency = f.container_concurrency;
    b.service_time_s = f.service_time_s;
    b.static_replicas = f.static_replicas;
    return b;
}

/// A baseline policy for `f` as the configuration names it, guarded with `limits`.
[[nodiscard]] inline any_policy make_policy(const function_spec& f, const guard_config& limits) {
    return any_policy(guarded(make_baseline(f.policy, settings_of(f)), limits));
}

/// Whether `f` is served by a learned policy from its checkpoint.
[[nodiscard]] inline bool is_learned(const function_spec& f) noexcept { return f.policy == "learned" || f.policy == "dqn"; }

/// The policies of a configuration: each baseline function alone, and the
/// functions that name the same checkpoint together as one joint policy
/// (the checkpoint's serving spec says how many functions it decides).
struct policy_group {
    std::vector<std::size_t> members;  ///< indices into config::functions, in the order the policy sees them
    any_joint_policy policy;
    /// A digest (FNV-1a, never 0) of the checkpoint file's bytes the policy
    /// was built from, the bytes it parsed (0 for a baseline): a reload keeps
    /// a group whose file did not change, with its state (stabiliser, the
    /// fallback's history).
    std::uint64_t checkpoint_digest = 0;
};

/// The function_metrics fields a learned policy's encoder reads that the
/// Prometheus adapter has no usable default query for, by the encoder's name
/// in the serving spec (adapters/prometheus/include/rlscale/prometheus/
/// metrics_source.hpp, query_templates: queue_length, in_service, drops and
/// cold_starts have no default, and unqueried read 0; arrivals' default
/// counts completed requests, so in a stall it reads 0). What each encoder
/// reads, from its encode() in include/rlscale/encode/:
/// - scarlet (scarlet_encoder.hpp): cpu_utilization, memory_utilization,
///   throughput_rps; every one has a default.
/// - scarlet_relative (relative_scarlet_encoder.hpp): those and
///   ready_replicas, and queue_length per ready replica: unqueried, a
///   function whose requests queue reads as unloaded.
/// - polimi (polimi_encoder.hpp): arrivals (its utilisation and workload
///   features), the latency at the SLO's percentile, ready_replicas,
///   cpu_utilization; a stall reads as idle unless arrivals counts requests
///   as they arrive (core/detail/features.hpp, read_latency).
/// - simppo (simppo_encoder.hpp, encode/detail/arrival_history.hpp): the
///   arrival rate and its change, the latency, cpu_ and memory_utilization.
/// - firm (firm_encoder.hpp): the arrival rate, throughput_rps, the latency,
///   cpu_ and memory_utilization.
/// The latencies, completions and the utilisations have default queries;
/// read_latency also reads queue_length and in_service, but only to tell a
/// stall from an idle interval, which arrivals counted on arrival already
/// does. An encoder this table does not name is refused by the registry.
[[nodiscard]] inline std::vector<std::string_view> encoder_needs_queries(std::string_view encoder) {
    if (encoder == "scarlet_relative") return {"queue_length"};
    if (encoder == "polimi" || encoder == "simppo" || encoder == "firm") return {"arrivals"};
    return {};
}

/// The same for a learned policy's action map, by its name in the serving
/// spec: utilization_target (rl/action_space.hpp, demand_replicas) scales
/// its target by (arrivals + queue_length) / completions, how far demand ran
/// ahead of the work done, which with arrivals counted as completions (the
/// default query) is never above 1 plus the queue: a burst the demo's map
/// follows would not be followed. It also reads queue_length. The other maps
/// read the state only.
[[nodiscard]] inline std::vector<std::string_view> action_map_needs_queries(std::string_view actions) {
    if (actions == "utilization_target") return {"arrivals", "queue_length"};
    return {};
}

namespace detail {

/// Throws config_error naming `functions[i].promql.<field>` for the first
/// field the encoder `encoder` or the action map `actions` reads that
/// function `i` has no query for (see encoder_needs_queries and
/// action_map_needs_queries), in the words of the checks of policies
/// ensure and kpa (config.hpp).
inline void check_encoder_queries(const function_spec& f, std::size_t i, const std::string& encoder, const std::string& actions) {
    std::vector<std::pair<std::string_view, std::string>> needs;
    for (const std::string_view field : encoder_needs_queries(encoder)) needs.emplace_back(field, "encoder " + encoder);
    for (const std::string_view field : action_map_needs_queries(actions)) needs.emplace_back(field, "action map " + actions);
    for (const auto& need : needs) {
        const std::string_view field = need.first;
        if (f.promql.count(std::string(field)) != 0) continue;
        const std::string path = "functions[" + std::to_string(i) + "].promql." + std::string(field);
        const std::string needed = "is required for policy " + f.policy + " with " + need.second + " (the serving spec of " +
                                   f.checkpoint + ")";
        if (field == "arrivals") {
            throw config_error(path, needed +
                                         ": the requests that arrived in the window, counted as they arrive, e.g. a proxy's or the "
                                         "service's received-requests counter; the default query counts completed requests, so a "
                                         "function whose requests all hang would read no arrivals, look idle and be scaled in");
        }
        if (field == "queue_length") {
            throw config_error(path, needed + ": the requests waiting for a replica, e.g. a gauge the service or its proxy exports; "
                                              "it has no default query, and unqueried it reads 0, so a function whose requests queue "
                                              "would look unloaded and be scaled in");
        }
        throw config_error(path, needed + ": it has no default query, and unqueried it reads 0");
    }
}

}  // namespace detail

/// Builds every group of `c` through the registry. A learned group's
/// functions are taken in the order of the spec's function names when they
/// are exactly the group's names, in configuration order when none of them
/// is (a policy trained on other functions, served on these), and refused
/// when only some are; each gets the fallback HPA
/// of its own cpu_target_percent, whatever names the spec uses. Throws
/// config_error naming the field: for a learned group, the first member's
/// `functions[i].checkpoint`, with the file and what is wrong with it, or a
/// member's `functions[i].promql.<field>` when it has no query for a field
/// the spec's encoder needs (encoder_needs_queries).
[[nodiscard]] inline std::vector<policy_group> make_policies(const config& c) {
    std::vector<policy_group> out;
    std::map<std::string, std::vector<std::size_t>> by_checkpoint;
    std::vector<std::string> checkpoint_order;
    for (std::size_t i = 0; i < c.functions.size(); ++i) {
        const function_spec& f = c.functions[i];
        if (is_learned(f)) {
            if (by_checkpoint.count(f.checkpoint) == 0) checkpoint_order.push_back(f.checkpoint);
            by_checkpoint[f.checkpoint].push_back(i);
            continue;
        }
        std::vector<any_policy> one;
        one.push_back(make_policy(f, c.guard));
        out.push_back({{i}, any_joint_policy(per_function<any_policy>(std::move(one))), 0});
    }
    for (const std::string& path : checkpoint_order) {
        const std::vector<std::size_t>& members = by_checkpoint[path];
        const std::string field = "functions[" + std::to_string(members.front()) + "].checkpoint";
        // The spec first: it says which member takes which of the network's
        // slots, and so under which of its names each member's fallback is.
        // The digest is of the bytes parsed (one read of the file, checked
        // as every checkpoint is before a byte is digested).
        nlohmann::json checkpoint;
        serving_spec spec;
        std::uint64_t digest = 0;
        try {
            const std::string bytes = nn::read_checkpoint_bytes(path);
            digest = std::max<std::uint64_t>(rlscale::detail::fnv1a64(bytes), 1);  // 0 is a baseline's
            checkpoint = nn::parse_checkpoint_text(bytes, path);
            spec = spec_of(checkpoint);
        } catch (const rlscale::error& e) {
            throw config_error(field, path + ": " + e.what());
        }
        if (spec.function_count() != members.size()) {
            std::string names;
            for (const std::size_t i : members) names += (names.empty() ? "" : ", ") + c.functions[i].name;
            throw config_error(field, path + " decides " + std::to_string(spec.function_count()) + " functions (" +
                                          std::to_string(members.size()) + " configured with it: " + names + ")");
        }
        // The one rule rlscale-evaluate follows too (match_slots): by name,
        // or in configuration order when the spec names none of them.
        std::vector<std::string> member_names;
        for (const std::size_t i : members) member_names.push_back(c.functions[i].name);
        const slot_assignment slots = match_slots(spec.functions, member_names);
        if (slots.matching == slot_matching::partial) {
            // Some names match and some do not: in configuration order a
            // matched function could take another's slot (the one trained
            // on a function of its name), so the pairing is refused.
            std::string unmatched;
            std::string spec_names;
            for (const std::size_t k : slots.unmatched) unmatched += (unmatched.empty() ? "" : ", ") + valid_utf8(member_names[k], 64);
            for (const std::string& name : spec.functions) spec_names += (spec_names.empty() ? "" : ", ") + valid_utf8(name, 64);
            throw config_error(field, path + " decides the functions " + spec_names + "; configured with it: " + unmatched +
                                          ", which it does not name, beside functions it names (name every function as the "
                                          "spec does, or none of them, to serve it in configuration order)");
        }
        std::vector<std::size_t> ordered;
        for (const std::size_t k : slots.function_of_slot) ordered.push_back(members[k]);
        // Slot k (the spec's k-th name) serves function ordered[k]: its
        // fallback HPA has that function's cpu_target_percent.
        learned_policy_options options{.fallback = settings_of(c.functions[ordered.front()]), .guard = learned_guard(c)};
        for (std::size_t k = 0; k < ordered.size(); ++k) {
            options.fallback_for.emplace(spec.functions[k], settings_of(c.functions[ordered[k]]));
        }
        try {
            learned_policy p = make_learned_policy(checkpoint, options);
            out.push_back({std::move(ordered), std::move(p.policy), digest});
        } catch (const rlscale::error& e) {
            throw config_error(field, path + ": " + e.what());
        }
        // Built, so the encoder is one this build knows: each member needs a
        // query for every field it reads that has none by default (or a
        // misleading one).
        for (const std::size_t i : members) detail::check_encoder_queries(c.functions[i], i, spec.encoder_name(), spec.actions_name());
    }
    return out;
}

/// The loop's state: the policy groups, the counters.
template <metrics_source Source, replica_actuator Actuator>
class control_loop {
public:
    /// The error of a record whose group was not run because `stop` was set.
    static constexpr std::string_view stopping_error = "not run: the controller is stopping";

    /// Builds every policy (throws config_error, naming the field, before
    /// the first tick if one cannot be built).
    /// Throws config_error when two functions scale one workload, unless
    /// `c.dry_run` (check_distinct_workloads).
    control_loop(config c, Source& source, Actuator& actuator)
        : config_((c.dry_run ? void() : check_distinct_workloads(c), std::move(c))), source_(source), actuator_(actuator),
          groups_(make_policies(config_)), settling_(config_.functions.size()), unconfirmed_(config_.functions.size()) {}

    [[nodiscard]] const config& settings() const noexcept { return config_; }
    [[nodiscard]] const counters& stats() const noexcept { return stats_; }

    /// Called with each function's record as soon as it is final (after its
    /// change was made or refused), so a log line is written before the next
    /// function is read or, in a group, actuated.
    using record_sink = std::function<void(const decision_record&)>;

    /// One tick at controller time `now_s`: a record per function, in
    /// configuration order. Each group's functions are read, then decided
    /// together, then actuated one by one, each handed to `on_record` as
    /// soon as its change is made or refused. When `stop` is set
    /// (checked before each group), the remaining functions are not read;
    /// their records say so (and are not handed out). Never throws.
    std::vector<decision_record> tick(double now_s, const record_sink& on_record = {}, const std::atomic<bool>* stop = nullptr) {
        std::vector<decision_record> out(config_.functions.size());
        ++stats_.ticks;
        for (policy_group& g : groups_) {
            if (stop != nullptr && stop->load()) {
                for (const std::size_t i : g.members) {
                    out[i].time_s = now_s;
                    out[i].function = config_.functions[i].name;
                    out[i].error = stopping_error;
                    out[i].result = {.replicas = -1, .source = decision_source::hold, .reason = "controller: stopping"};
                }
                continue;
            }
            decide_group(g, now_s, out, on_record);
        }
        return out;
    }

    /// Counts ticks left out after a stall (see next_tick_deadline).
    void count_skipped_ticks(std::uint64_t n) noexcept { stats_.ticks_skipped += n; }

    /// Records the wall-clock duration of the last tick (for /metrics).
    void set_last_tick_seconds(double s) noexcept { stats_.last_tick_seconds = s; }
    /// Counts a refused reload (for /metrics).
    void count_reload_error() noexcept { ++stats_.reload_errors; }

    /// Rebuilds every policy from the configuration (new checkpoints,
    /// read again from their files), all or nothing: if any cannot be built
    /// (an unreadable file, a spec naming something this build does not
    /// know, a network that does not fit) the error propagates, naming the
    /// field, and every policy in use keeps serving. The program calls it on
    /// SIGHUP.
    void reload() {
        std::vector<policy_group> fresh = make_policies(config_);
        // Every group built: now keep the ones that did not change (the
        // baselines, and learned groups whose file has the same bytes), so a
        // reload does not reset their state.
        for (std::size_t k = 0; k < fresh.size() && k < groups_.size(); ++k) {
            if (fresh[k].members == groups_[k].members && fresh[k].checkpoint_digest == groups_[k].checkpoint_digest) {
                fresh[k].policy = std::move(groups_[k].policy);
            }
        }
        groups_ = std::move(fresh);
        ++stats_.reloads;
    }

private:
    /// The text of the exception being handled, whatever its type.
    static std::string current_exception_text() {
        try {
            throw;
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "unknown exception";
        }
    }

    static void emit(const record_sink& on_record, const decision_record& r) noexcept {
        if (!on_record) return;
        try {
            on_record(r);
        } catch (...) {
            // The sink's own failure (a full disk) must not stop the loop.
        }
    }

    /// Reads, decides and actuates group `g`, handing each member's record
    /// to `on_record` right after its actuation (or, when it could not be
    /// read, in its turn), in the group's order; on a failure of the whole
    /// group, the members not yet handed out are, with the error.
    void decide_group(policy_group& g, double now_s, std::vector<decision_record>& out, const record_sink& on_record) noexcept {
        const std::size_t n = g.members.size();
        std::size_t emitted = 0;  // members handed out, in the group's order
        try {
            std::vector<function_metrics> metrics(n);
            std::vector<scaling_state> states(n);
            std::vector<decision> decisions(n);
            std::vector<bool> known(n, false);
            std::vector<bool> usable(n, false);
            for (std::size_t k = 0; k < n; ++k) {
                const function_spec& f = config_.functions[g.members[k]];
                decision_record& r = out[g.members[k]];
                r.time_s = now_s;
                r.function = f.name;
                try {
                    r.replicas_before = actuator_.replicas(f);
                    known[k] = true;
                } catch (...) {
                    ++stats_.read_errors;
                    r.error = "reading the replica count failed: " + current_exception_text();
                    r.result = {.replicas = -1, .source = decision_source::hold, .reason = "controller: current replicas unknown"};
                }
                metrics_reading reading;
                if (known[k]) {
                    try {
                        reading = source_.read(f, now_s);
                    } catch (...) {
                        reading.error = current_exception_text();
                    }
                }
                for (const missing_metric& m : reading.missing) ++stats_.missing_metrics[{f.name, m.field}];
                r.missing = reading.missing;
                if (known[k]) {
                    const std::string why = unusable_reason(reading);
                    usable[k] = why.empty();
                    if (!usable[k]) {
                        ++stats_.read_errors;
                        r.error = why;
                    }
                }
                if (!usable[k]) {
                    // The policy still sees the tick (its clocks move on) but no data.
                    reading.metrics.cpu_utilization = std::nan("");
                }
                r.inputs = reading.metrics;
                metrics[k] = reading.metrics;
                // Limits not measured are 0, unknown (known_limit); a
                // multidimensional policy steps from the measured ones.
                states[k] = {.replicas = known[k] ? r.replicas_before : f.min_replicas, .min_replicas = f.min_replicas,
                             .max_replicas = f.max_replicas,
                             .cpu_limit = usable[k] ? known_limit(reading.metrics.cpu_limit) : 0.0,
                             .memory_limit_mb = usable[k] ? known_limit(reading.metrics.memory_limit_mb) : 0.0,
                             .time_s = now_s, .slo = f.slo};
            }
            g.policy.decide(std::span<const function_metrics>(metrics), std::span<const scaling_state>(states),
                            std::span<decision>(decisions));
            for (std::size_t k = 0; k < n; ++k) {
                // No decision without the current count. No data, no
                // actuation: the count stays, even outside [min, max].
                if (known[k]) {
                    const decision d = usable[k] ? decisions[k] : keep(states[k], "controller: metrics unusable, no change");
                    actuate(g.members[k], d, usable[k], out[g.members[k]]);
                }
                // Out before the next member is actuated: a change made is
                // logged even if the process is killed later in the group.
                emit(on_record, out[g.members[k]]);
                ++emitted;
            }
        } catch (...) {
            // Allocation failure or a policy that broke its contract: nothing
            // more is done for this group this tick; the members not yet
            // handed out are, with the error.
            const std::string what = current_exception_text();
            for (std::size_t k = emitted; k < n; ++k) {
                decision_record& r = out[g.members[k]];
                r.time_s = now_s;
                r.function = config_.functions[g.members[k]].name;
                if (r.error.empty()) r.error = "tick failed: " + what;
                emit(on_record, r);
            }
        }
    }

    /// Whether function `i`'s last resize is still rolling out at `r`'s
    /// reading; clears it once a usable reading shows it in place (every
    /// limit sent read back as the largest and, where read, the smallest
    /// over the running replicas, nothing starting or pending) or once
    /// resize_settle_s has passed. A reading with fields missing settles
    /// nothing: a missing count of starting or pending replicas reads 0.
    bool still_settling(std::size_t i, const decision_record& r, bool usable) noexcept {
        std::optional<settling_resize>& s = settling_[i];
        if (!s) return false;
        const function_metrics& m = r.inputs;
        const auto in_place = [](double sent, double read, double unit) {
            return std::isnan(sent) || (std::isfinite(read) && same_in_units(read, sent, unit));
        };
        // The smallest limit too: after a raise the largest reads the new
        // one as soon as one new pod runs, while old pods still run.
        //   limit not sent                  -> in place
        //   smallest NaN, listed missing    -> not in place (it could not be read)
        //   smallest NaN, not listed        -> in place (not read: the largest judges)
        //   smallest a number               -> in place when it is the limit sent
        const auto smallest_in_place = [&](double sent, double read, std::string_view field, double unit) {
            if (std::isnan(sent)) return true;
            if (std::isnan(read)) {
                return std::none_of(r.missing.begin(), r.missing.end(), [&](const missing_metric& x) { return x.field == field; });
            }
            return in_place(sent, read, unit);
        };
        const bool settled = usable && in_place(s->sent.cpu_cores, m.cpu_limit, millicore) && in_place(s->sent.memory_mb, m.memory_limit_mb, mebibyte) &&
                             smallest_in_place(s->sent.cpu_cores, m.cpu_limit_min, "cpu_limit_min", millicore) &&
                             smallest_in_place(s->sent.memory_mb, m.memory_limit_min_mb, "memory_limit_min_mb", mebibyte) &&
                             m.starting_replicas == 0 && m.pending_replicas == 0;
        // A clock that did not move forward (or is not finite) keeps the wait.
        const bool expired = r.time_s - s->sent_s >= config_.functions[i].resize_settle_s;
        // Applied (at this or an earlier sending) and never seen: remembered,
        // so that sending the same limits again is logged and counted as a repeat.
        if (expired && !settled && s->applied_once) unconfirmed_[i] = *s;
        if (settled || expired) s.reset();
        return s.has_value();
    }

    /// The units a patch sends limits in: whole millicores, whole MiB.
    static constexpr double millicore = 1e-3;
    static constexpr double mebibyte = 1;

    /// Whether `x` and `y` are the same number of whole `unit`s (finite values).
    [[nodiscard]] static bool same_in_units(double x, double y, double unit) noexcept {
        return std::round(x / unit) == std::round(y / unit);
    }

    /// Whether limits `a` and `b` are the same in the units the patch is
    /// sent in, NaN (not set) matching NaN.
    [[nodiscard]] static bool same_limits(const replica_limits& a, const replica_limits& b) noexcept {
        const auto same = [](double x, double y, double unit) {
            if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
            return same_in_units(x, y, unit);
        };
        return same(a.cpu_cores, b.cpu_cores, millicore) && same(a.memory_mb, b.memory_mb, mebibyte);
    }

    /// Whether the limits read in `m` moved from `before` (a limit not read
    /// now, or not then, has not moved: not finite or not above 0, the
    /// unknown limit of known_limit).
    [[nodiscard]] static bool limits_moved(const replica_limits& before, const function_metrics& m) noexcept {
        const auto moved = [](double was, double now, double unit) {
            const auto known = [](double x) { return std::isfinite(x) && x > 0; };
            return known(was) && known(now) && !same_in_units(was, now, unit);
        };
        return moved(before.cpu_cores, m.cpu_limit, millicore) || moved(before.memory_mb, m.memory_limit_mb, mebibyte);
    }

    void actuate(std::size_t i, const decision& d, bool usable, decision_record& r) {
        const function_spec& f = config_.functions[i];
        r.result = d;
        r.replicas_after = d.replicas;
        ++stats_.decisions;
        if (d.source == decision_source::fallback) ++stats_.fallbacks;
        if (d.source == decision_source::hold) ++stats_.holds;
        const bool count_changes = r.replicas_after != r.replicas_before;
        if constexpr (resizing_actuator<Actuator>) {
            r.resize_configured = !f.resize_container.empty();
            // Judged on every reading, not only when a resize is wanted: a
            // resize in place before the count moved stays in place.
            const bool settling = r.resize_configured && still_settling(i, r, usable);
            r.limits_sent = limits_to_apply(f, d, r.inputs.cpu_limit, r.inputs.memory_limit_mb);
            if (r.limits_sent && settling) {
                // Fewer replicas meant to carry the load with a larger limit:
                // the count alone would cut what the decision raised.
                if (count_changes && count_alone_cuts_capacity(r, *r.limits_sent)) {
                    r.note = std::string(count_alone_withheld) + " (the last resize is not yet in place)";
                    r.replicas_after = r.replicas_before;
                    r.limits_sent.reset();
                    r.resize_settling = true;
                    ++stats_.resizes_withheld;
                    return;
                }
                r.limits_sent.reset();
                r.resize_settling = true;
                ++stats_.resizes_withheld;
            }
            std::optional<settling_resize>& unconfirmed = unconfirmed_[i];
            if (unconfirmed && usable && limits_moved(unconfirmed->read, r.inputs)) unconfirmed.reset();  // the cluster's limits moved: forgotten
            // Sending the same limits again: a repeat (logged once answered as applied).
            std::optional<double> repeat_of;
            if (r.limits_sent && unconfirmed && same_limits(*r.limits_sent, unconfirmed->sent)) repeat_of = unconfirmed->first_sent_s;
            // What a resize sent this tick is remembered with: the limits read
            // now, and when the same limits were first sent.
            const replica_limits read_now{.cpu_cores = r.inputs.cpu_limit, .memory_mb = r.inputs.memory_limit_mb};
            const double first_sent_s = repeat_of.value_or(r.time_s);
            if (config_.dry_run) return;
            if (r.limits_sent) {
                // What the log says when the count alone then goes through.
                std::string_view count_alone = "; the replica count was changed alone";
                bool outcome_is_unknown = false;
                // The count and the limits in one change: both or neither.
                try {
                    const std::optional<int> count = count_changes ? std::optional<int>(r.replicas_after) : std::nullopt;
                    bool count_sent = count_changes;
                    if constexpr (requires { actuator_.set_limits(f, count, *r.limits_sent, std::optional<int>()); }) {
                        count_sent = sent(count_changes, [&] { return actuator_.set_limits(f, count, *r.limits_sent, std::optional<int>(r.replicas_before)); });
                    } else {
                        count_sent = sent(count_changes, [&] { return actuator_.set_limits(f, count, *r.limits_sent); });
                    }
                    r.limits_applied = true;
                    settling_[i] = settling_resize{*r.limits_sent, r.time_s, read_now, true, first_sent_s};
                    unconfirmed.reset();
                    ++stats_.resizes;
                    if (repeat_of) {
                        r.limits_first_sent_s = repeat_of;
                        ++stats_.resizes_repeated;
                    }
                    if (count_changes) count_applied(r, count_sent);
                    return;
                } catch (const count_changed& e) {
                    // Someone else changed the count since it was read: their
                    // change stands, and the count alone is not tried either.
                    ++stats_.actuation_errors;
                    r.error = std::string(count_changes ? "changing replicas and limits refused: " : "changing limits refused: ") + e.what();
                    return;
                } catch (const outcome_unknown& e) {
                    // Sent, and perhaps applied: the count alone below finds
                    // it at the target if so, which says nothing of the
                    // limits, so the record does not claim either way. The
                    // readings tell when (if) it is in place.
                    // A repeat stays one: the same limits were answered as applied before.
                    settling_[i] = settling_resize{*r.limits_sent, r.time_s, read_now, repeat_of.has_value(), first_sent_s};
                    unconfirmed.reset();
                    ++stats_.actuation_errors;
                    r.error = std::string(count_changes ? "changing replicas and limits failed after it was sent, and may have been applied: "
                                                        : "changing limits failed after it was sent, and may have been applied: ") +
                              e.what();
                    count_alone = "; the replica count is at the target (set alone, or by that change); whether the limits "
                                  "were applied shows in the next reading";
                    outcome_is_unknown = true;
                } catch (...) {
                    ++stats_.actuation_errors;
                    r.error = std::string(count_changes ? "changing replicas and limits failed: " : "changing limits failed: ") +
                              current_exception_text();
                }
                // A limit the cluster refuses must not stop horizontal
                // scaling: the count alone, through its own call; but not a
                // scale-in whose raised limits were to carry the load.
                if (!count_changes) return;
                if (count_alone_cuts_capacity(r, *r.limits_sent)) {
                    r.error += outcome_is_unknown ? std::string("; the replica count was not sent alone: that change, if applied, set it "
                                                                "with its limits, and the next reading shows whether it was")
                                                  : "; " + std::string(count_alone_withheld);
                    return;
                }
                try {
                    if (set_count(f, r)) {
                        r.applied = true;
                        ++stats_.changes;
                        r.error += count_alone;
                    } else if (outcome_is_unknown) {
                        // Already at the target: by the change whose outcome
                        // is unknown, or by another writer; not known to be ours.
                        r.error += "; the replica count was found at the target, set by that change or by another writer";
                    } else {
                        count_applied(r, false);  // the change was refused: another writer's
                    }
                } catch (const outcome_unknown& e) {
                    ++stats_.actuation_errors;
                    r.error += std::string("; changing replicas alone failed after it was sent, and may have been applied: ") + e.what();
                } catch (...) {
                    ++stats_.actuation_errors;
                    r.error += "; changing replicas alone failed too: " + current_exception_text();
                }
                return;
            }
        }
        if (config_.dry_run || !count_changes) return;
        try {
            count_applied(r, set_count(f, r));
        } catch (const outcome_unknown& e) {
            // Sent, and perhaps applied: the next reading of the count says.
            ++stats_.actuation_errors;
            r.error = std::string("changing replicas failed after it was sent, and may have been applied: ") + e.what();
        } catch (...) {
            ++stats_.actuation_errors;
            r.error = "changing replicas failed: " + current_exception_text();
        }
    }

    /// Why a scale-in is not sent without its limits.
    static constexpr std::string_view count_alone_withheld =
        "the replica count was not changed alone: fewer replicas with their limits not raised would lower the capacity the "
        "decision raised";

    /// Whether changing `r`'s count without `limits` would cut capacity the
    /// decision meant to add: fewer replicas, and a limit to be raised above
    /// the one read (`limits` come from limits_to_apply, which sets none
    /// whose current value could not be read).
    [[nodiscard]] static bool count_alone_cuts_capacity(const decision_record& r, const replica_limits& limits) noexcept {
        if (r.replicas_after >= r.replicas_before) return false;
        const auto raises = [](double to, double now) { return std::isfinite(to) && to > now; };  // NaN: not changed
        return raises(limits.cpu_cores, r.inputs.cpu_limit) || raises(limits.memory_mb, r.inputs.memory_limit_mb);
    }

    /// Sets the count of `r`, conditional on the count it was decided from
    /// where the actuator offers that; whether it was sent (see sent()).
    bool set_count(const function_spec& f, const decision_record& r) {
        if constexpr (requires { actuator_.set_replicas(f, r.replicas_after, r.replicas_before); }) {
            return sent(true, [&] { return actuator_.set_replicas(f, r.replicas_after, r.replicas_before); });
        } else {
            return sent(true, [&] { return actuator_.set_replicas(f, r.replicas_after); });
        }
    }

    /// Makes the actuator's call `change`. An actuator that returns bool
    /// says whether it sent the count (false: the cluster already had it);
    /// one that returns nothing is taken to have sent it when there was
    /// one (`with_count`).
    template <typename Change>
    static bool sent(bool with_count, Change&& change) {
        if constexpr (std::same_as<decltype(change()), bool>) {
            return change();
        } else {
            change();
            return with_count;
        }
    }

    /// Records the count change of `r` as applied when it was sent; when the
    /// cluster already had the count (another writer set it since it was
    /// read), as not applied, with a note.
    void count_applied(decision_record& r, bool count_sent) {
        if (count_sent) {
            r.applied = true;
            ++stats_.changes;
            return;
        }
        r.note = "spec.replicas was already " + std::to_string(r.replicas_after) +
                 " (set by another writer since it was read); nothing sent";
    }

    config config_;
    Source& source_;
    Actuator& actuator_;
    std::vector<policy_group> groups_;
    /// A resize sent and not yet seen in place, by function index.
    struct settling_resize {
        replica_limits sent;
        double sent_s = 0;      ///< when it was sent (this time)
        replica_limits read;    ///< the limits read when it was sent
        /// These limits were answered as applied, at this sending or an
        /// earlier one (not only an outcome unknown, which may not have been).
        bool applied_once = false;
        double first_sent_s = 0;  ///< when the same limits were first sent (sent_s, or earlier for a repeat)
    };
    std::vector<std::optional<settling_resize>> settling_;
    /// A resize applied that no reading showed within resize_settle_s, by
    /// function index; forgotten once the limits read move or a resize is
    /// sent (a repeat carries its first time on).
    std::vector<std::optional<settling_resize>> unconfirmed_;
    counters stats_;
};

/// The counters in Prometheus' text exposition format (version 0.0.4).
[[nodiscard]] inline std::string prometheus_text(const counters& c) {
    std::string out;
    const auto metric = [&out](const char* name, const char* type, const char* help, double value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " ";
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g\n", value);
        out += buf;
    };
    metric("rlscale_controller_ticks_total", "counter", "Control ticks run.", static_cast<double>(c.ticks));
    metric("rlscale_controller_ticks_skipped_total", "counter",
           "Scheduled ticks not run because a tick or the process overran them (never run back to back).",
           static_cast<double>(c.ticks_skipped));
    metric("rlscale_controller_decisions_total", "counter", "Decisions made, all functions.", static_cast<double>(c.decisions));
    metric("rlscale_controller_fallbacks_total", "counter", "Decisions made by a fallback policy.", static_cast<double>(c.fallbacks));
    metric("rlscale_controller_holds_total", "counter", "Decisions that kept the current replicas for lack of usable input.",
           static_cast<double>(c.holds));
    metric("rlscale_controller_changes_total", "counter", "Replica changes applied.", static_cast<double>(c.changes));
    metric("rlscale_controller_resizes_total", "counter", "Limit changes applied (with the replica count when it changed too).",
           static_cast<double>(c.resizes));
    metric("rlscale_controller_resizes_withheld_total", "counter",
           "Limit changes not sent because the last resize was not yet in place (resize_settle_s).", static_cast<double>(c.resizes_withheld));
    metric("rlscale_controller_resizes_repeated_total", "counter",
           "Limit changes sent again: the same limits were sent before, answered as applied, and no reading showed them within "
           "resize_settle_s.",
           static_cast<double>(c.resizes_repeated));
    metric("rlscale_controller_read_errors_total", "counter", "Failed reads of metrics or replica counts.",
           static_cast<double>(c.read_errors));
    metric("rlscale_controller_actuation_errors_total", "counter", "Failed replica or limit changes.", static_cast<double>(c.actuation_errors));
    metric("rlscale_controller_reloads_total", "counter", "Policy reloads (SIGHUP) that replaced the policies.", static_cast<double>(c.reloads));
    metric("rlscale_controller_reload_errors_total", "counter", "Policy reloads refused; the policies in use kept serving.",
           static_cast<double>(c.reload_errors));
    metric("rlscale_controller_tick_seconds", "gauge", "Wall-clock duration of the last tick.", c.last_tick_seconds);
    out += "# HELP rlscale_controller_missing_metrics_total Readings without a value for a configured metric (the decision log says why).\n"
           "# TYPE rlscale_controller_missing_metrics_total counter\n";
    const auto label = [](std::string_view v) { return escape_double_quoted(valid_utf8(v, 256)); };
    for (const auto& [key, n] : c.missing_metrics) {
        out += "rlscale_controller_missing_metrics_total{function=\"" + label(key.first) + "\",field=\"" + label(key.second) + "\"} " +
               std::to_string(n) + "\n";
    }
    return out;
}

}  // namespace rlscale::controller
