#pragma once

/// The controller's loop, independent of where metrics come from and how
/// replicas are changed: each tick, for each function, read its metrics,
/// decide through its guarded policy (the HPA as fallback for learned
/// policies), apply the decision unless in dry-run, and write one JSON line
/// to the decision log. Reading or actuating failures never become scaling
/// commands: missing metrics make the guard hold, a failed read of the
/// current count skips the function for that tick, and a failed change is
/// logged and counted (the actuator bounds its own retries).

#include <rlscale/controller/config.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rlscale::controller {

/// One read of a function's metrics: what was measured, and the fields that
/// had no data (left NaN, so the guard holds).
struct metrics_reading {
    function_metrics metrics;
    std::vector<std::string> missing;  ///< names of fields without data
    std::string error;                 ///< non-empty when the read failed outright
};

/// Where metrics come from (the Prometheus adapter, or a test's fake).
template <typename S>
concept metrics_source = requires(S& s, const function_spec& f, double now_s) {
    { s.read(f, now_s) } -> std::same_as<metrics_reading>;
};

/// How replicas are read and changed (the Kubernetes adapter, or a fake).
/// Both throw on failure; set_replicas changes nothing when it throws.
template <typename A>
concept replica_actuator = requires(A& a, const function_spec& f, int n) {
    { a.replicas(f) } -> std::convertible_to<int>;
    a.set_replicas(f, n);
};

/// What happened to one function in one tick (one decision-log line).
struct decision_record {
    double time_s = 0;
    std::string function;
    int replicas_before = -1;  ///< -1 when the current count could not be read
    int replicas_after = -1;   ///< what the cluster was asked for (or would be, in dry run)
    decision result;
    bool applied = false;      ///< the change was made (false in dry run, on no change, or on error)
    std::string error;         ///< a read or actuation failure, if any
    function_metrics inputs;
    std::vector<std::string> missing;

    /// The decision-log line: timestamp, replicas before and after, the inputs,
    /// the action, which policy decided and why.
    [[nodiscard]] nlohmann::json to_json() const {
        const auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
        nlohmann::json j = {
            {"time_s", time_s},
            {"function", function},
            {"replicas_before", replicas_before},
            {"replicas_after", replicas_after},
            {"action", replicas_before >= 0 && replicas_after >= 0 ? replicas_after - replicas_before : 0},
            {"source", std::string(to_string(result.source))},
            {"reason", std::string(result.reason)},
            {"applied", applied},
            {"inputs",
             {{"arrivals", inputs.arrivals},
              {"throughput_rps", num(inputs.throughput_rps)},
              {"cpu_utilization", num(inputs.cpu_utilization)},
              {"memory_utilization", num(inputs.memory_utilization)},
              {"latency_p90_s", num(inputs.latency.p90)},
              {"latency_p99_s", num(inputs.latency.p99)},
              {"ready_replicas", inputs.ready_replicas}}},
        };
        if (!missing.empty()) j["missing"] = missing;
        if (!error.empty()) j["error"] = error;
        return j;
    }
};

/// Counters for the controller's own /metrics endpoint.
struct counters {
    std::uint64_t ticks = 0;
    std::uint64_t decisions = 0;
    std::uint64_t fallbacks = 0;  ///< decisions made by a fallback
    std::uint64_t holds = 0;      ///< decisions that kept the current count for lack of usable input
    std::uint64_t changes = 0;    ///< replica changes applied
    std::uint64_t read_errors = 0;
    std::uint64_t actuation_errors = 0;
    double last_tick_seconds = 0;  ///< wall-clock duration of the last tick
};

/// A policy for `f` as the configuration names it, guarded with `limits`.
/// Learned policies (dqn) serve their checkpoint with the HPA as fallback.
inline any_policy make_policy(const function_spec& f, const guard_config& limits) {
    hpa_config hpa = hpa_config::cpu_utilization(static_cast<std::int32_t>(std::lround(f.cpu_target_percent)));
    hpa.behavior = hpa_behavior{};
    if (f.policy == "hpa") return any_policy(guarded(hpa_policy(std::move(hpa)), limits));
    if (f.policy == "kpa") return any_policy(guarded(kpa_policy({.container_concurrency = f.container_concurrency}), limits));
    if (f.policy == "ensure") {
        return any_policy(guarded(ensure_policy({.service_time_s = f.service_time_s, .concurrency = f.container_concurrency}), limits));
    }
    if (f.policy == "static") return any_policy(guarded(static_policy{.replicas = f.static_replicas}, limits));
    // dqn: a one-function SCARLET-state network, −1/0/+1 per tick
    const nlohmann::json j = nn::read_checkpoint_file(f.checkpoint);
    auto weights = std::make_shared<rl::shared_network<float>>(nn::network_from_checkpoint<float>(j));
    weights->load(f.checkpoint);
    std::vector<hpa_policy> fallback;
    fallback.emplace_back(std::move(hpa));
    return any_policy(rl_policy<scarlet_encoder, rl::joint_delta_actions>(weights, scarlet_encoder{}, rl::joint_delta_actions(1),
                                                                          std::move(fallback), limits));
}

/// The loop's state: one policy per function, the counters.
template <metrics_source Source, replica_actuator Actuator>
class control_loop {
public:
    /// Builds every function's policy (throws config_error or
    /// checkpoint_error before the first tick if one cannot be built).
    control_loop(config c, Source& source, Actuator& actuator) : config_(std::move(c)), source_(source), actuator_(actuator) {
        for (const function_spec& f : config_.functions) policies_.push_back(make_policy(f, config_.guard));
    }

    [[nodiscard]] const config& settings() const noexcept { return config_; }
    [[nodiscard]] const counters& stats() const noexcept { return stats_; }

    /// One tick at controller time `now_s`: a record per function, in order.
    std::vector<decision_record> tick(double now_s) {
        std::vector<decision_record> out;
        ++stats_.ticks;
        for (std::size_t i = 0; i < config_.functions.size(); ++i) out.push_back(decide_one(i, now_s));
        return out;
    }

    /// Records the wall-clock duration of the last tick (for /metrics).
    void set_last_tick_seconds(double s) noexcept { stats_.last_tick_seconds = s; }

private:
    decision_record decide_one(std::size_t i, double now_s) {
        const function_spec& f = config_.functions[i];
        decision_record r;
        r.time_s = now_s;
        r.function = f.name;
        try {
            r.replicas_before = actuator_.replicas(f);
        } catch (const std::exception& e) {
            ++stats_.read_errors;
            r.error = std::string("reading the replica count failed: ") + e.what();
            r.result = {.replicas = -1, .source = decision_source::hold, .reason = "controller: current replicas unknown"};
            return r;  // no decision without the current count
        }
        metrics_reading reading;
        try {
            reading = source_.read(f, now_s);
        } catch (const std::exception& e) {
            reading.error = e.what();
        }
        if (!reading.error.empty()) {
            ++stats_.read_errors;
            r.error = "reading metrics failed: " + reading.error;
            reading.metrics = function_metrics{};
            reading.metrics.cpu_utilization = std::nan("");  // no data: the guard holds
        }
        r.inputs = reading.metrics;
        r.missing = reading.missing;
        const scaling_state s{.replicas = r.replicas_before, .min_replicas = f.min_replicas, .max_replicas = f.max_replicas,
                              .time_s = now_s, .slo = f.slo};
        r.result = policies_[i].decide(reading.metrics, s);
        r.replicas_after = r.result.replicas;
        ++stats_.decisions;
        if (r.result.source == decision_source::fallback) ++stats_.fallbacks;
        if (r.result.source == decision_source::hold) ++stats_.holds;
        if (config_.dry_run || r.replicas_after == r.replicas_before) return r;
        try {
            actuator_.set_replicas(f, r.replicas_after);
            r.applied = true;
            ++stats_.changes;
        } catch (const std::exception& e) {
            ++stats_.actuation_errors;
            r.error = std::string("changing replicas failed: ") + e.what();
        }
        return r;
    }

    config config_;
    Source& source_;
    Actuator& actuator_;
    std::vector<any_policy> policies_;
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
    metric("rlscale_controller_decisions_total", "counter", "Decisions made, all functions.", static_cast<double>(c.decisions));
    metric("rlscale_controller_fallbacks_total", "counter", "Decisions made by a fallback policy.", static_cast<double>(c.fallbacks));
    metric("rlscale_controller_holds_total", "counter", "Decisions that kept the current replicas for lack of usable input.",
           static_cast<double>(c.holds));
    metric("rlscale_controller_changes_total", "counter", "Replica changes applied.", static_cast<double>(c.changes));
    metric("rlscale_controller_read_errors_total", "counter", "Failed reads of metrics or replica counts.",
           static_cast<double>(c.read_errors));
    metric("rlscale_controller_actuation_errors_total", "counter", "Failed replica changes.", static_cast<double>(c.actuation_errors));
    metric("rlscale_controller_tick_seconds", "gauge", "Wall-clock duration of the last tick.", c.last_tick_seconds);
    return out;
}

}  // namespace rlscale::controller
