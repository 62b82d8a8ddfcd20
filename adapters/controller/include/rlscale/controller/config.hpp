#pragma once

/// The controller's configuration file (JSON): which functions it scales,
/// their bounds and objectives, the policy for each, and the loop settings.
/// Parsing validates everything and names the offending field and value.

#include <rlscale/core/error.hpp>
#include <rlscale/core/json_keys.hpp>
#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/policy/guarded.hpp>

#include <rlscale/policy/registry.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace rlscale::controller {

/// One scaled workload.
struct function_spec {
    std::string name;                         ///< the controller's name for it (decision log, metrics)
    std::string namespace_name = "default";   ///< Kubernetes namespace
    std::string kind = "Deployment";          ///< Deployment or StatefulSet
    std::string workload;                     ///< the Deployment's (or StatefulSet's) name
    function_slo slo;                         ///< latency bound at a percentile, target RPS
    int min_replicas = 1;
    int max_replicas = 10;
    std::string policy = "hpa";               ///< hpa, hpa-<percent>, kpa, ensure, static, or learned (alias dqn)
    std::string checkpoint;                   ///< learned: the checkpoint, with its serving spec
    double cpu_target_percent = 70;           ///< hpa: CPU utilisation target
    double service_time_s = 0;                ///< ensure: mean service time (> 0 required for ensure)
    int static_replicas = 0;                  ///< static: the count (> 0 required for static)
    double container_concurrency = 1;         ///< kpa, ensure: requests one replica serves at once
    std::map<std::string, std::string> promql;  ///< PromQL overrides by metric name
    /// The container whose CPU and memory limits a multidimensional policy
    /// sets (in the workload's pod template; the workload then rolls its
    /// pods). Empty: limits are decided and logged, not applied.
    std::string resize_container;
    /// Also set the container's requests equal to its new limits (so a
    /// lowered limit never falls below a request, which the API refuses).
    bool resize_requests = true;
    /// A limit is changed only when the decision moves it by at least this
    /// fraction of its current value: each change restarts the pods.
    double resize_min_change = 0.05;
    /// After a resize, no other is sent until the readings show it in place
    /// (the limits read equal to those sent, the largest and, where read,
    /// the smallest over the running replicas; no replica starting or pending),
    /// or this many seconds have passed: while the pods roll, the limits read
    /// are partly the old ones, and a resize decided from them would restart
    /// the rollout.
    double resize_settle_s = 600;
};

/// The whole file.
struct config {
    double control_interval_s = 15;  ///< seconds between ticks
    bool dry_run = false;            ///< decide and log, never change the cluster
    std::string decision_log = "-";  ///< path of the JSON-lines decision log; "-" = standard output
    std::string metrics_address = "127.0.0.1:9464";  ///< the controller's own /metrics endpoint, host:port ("" = off)
    /// Per-tick step limits of every baseline function (4 and 2 unless
    /// `guard` sets them). A learned function keeps its checkpoint's guard
    /// (serving.guard, the limits it was trained and evaluated under),
    /// tightened only by the limits set (learned_guard): those the file
    /// gives, and in a config built in code, those other than the default.
    guard_config guard;
    /// Whether the file gives `guard.max_step_up`, `guard.max_step_down`
    /// (parse_config), so that a limit given at its default value tightens
    /// a learned function's guard too.
    bool guard_sets_step_up = false;
    bool guard_sets_step_down = false;
    /// {window} of the PromQL templates (`prometheus.window_s`), seconds. Its
    /// own setting, not the control interval: a rate over a window shorter
    /// than about four scrape intervals comes back empty.
    double metrics_window_s = 60;
    /// `prometheus.scrape_interval_s` when given (0: unknown); only used to
    /// warn about a short window.
    double scrape_interval_s = 0;
    nlohmann::json prometheus = nlohmann::json::object();  ///< the Prometheus adapter's settings (checked, then passed on)
    nlohmann::json kubernetes = nlohmann::json::object();  ///< the Kubernetes adapter's settings (checked, then passed on)
    /// `leader_election` (null when absent: one replica, no election):
    /// namespace and lease_name of the Lease, identity, lease_duration_s,
    /// renew_deadline_s, retry_period_s (checked, then passed on).
    nlohmann::json leader_election;
    std::vector<function_spec> functions;
};

namespace detail {

[[noreturn]] inline void bad(const std::string& field, const std::string& what, const nlohmann::json& value) {
    throw config_error(field, what + ", got " + json_summary(value));
}

/// Rejects keys of `object` outside `allowed` (a typo must not be silently ignored).
inline void only_keys(const nlohmann::json& object, const std::string& path, std::initializer_list<const char*> allowed) {
    const std::set<std::string> known(allowed.begin(), allowed.end());
    for (const auto& [key, value] : object.items()) {
        if (known.count(key) == 0) {
            std::string list;
            for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
            throw config_error(escape_controls(valid_utf8(path.empty() ? key : path + "." + key, 256)), "is not a known field (known: " + list + ")");
        }
    }
}

inline std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

inline double number(const nlohmann::json& o, const std::string& path, const char* key, double fallback, double lo, double hi) {
    if (!o.contains(key)) return fallback;
    const auto& v = o.at(key);
    if (!v.is_number()) bad(join(path, key), "must be a number", v);
    const double x = v.get<double>();
    if (!(std::isfinite(x) && x >= lo && x <= hi)) {
        std::ostringstream what;
        what << "must be in [" << lo << ", " << hi << "]";
        bad(join(path, key), what.str(), v);
    }
    return x;
}

inline int integer(const nlohmann::json& o, const std::string& path, const char* key, int fallback, int lo, int hi) {
    if (!o.contains(key)) return fallback;
    const auto& v = o.at(key);
    if (!v.is_number_integer()) bad(join(path, key), "must be an integer", v);
    const auto x = v.get<long long>();
    if (x < lo || x > hi) bad(join(path, key), "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", v);
    return static_cast<int>(x);
}

inline std::string text(const nlohmann::json& o, const std::string& path, const char* key, const std::string& fallback,
                        bool required = false) {
    if (!o.contains(key)) {
        if (required) throw config_error(join(path, key), "is required");
        return fallback;
    }
    const auto& v = o.at(key);
    if (!v.is_string()) bad(join(path, key), "must be a string", v);
    return v.get<std::string>();
}

inline bool boolean(const nlohmann::json& o, const std::string& path, const char* key, bool fallback) {
    if (!o.contains(key)) return fallback;
    const auto& v = o.at(key);
    if (!v.is_boolean()) bad(join(path, key), "must be true or false", v);
    return v.get<bool>();
}

inline const nlohmann::json& object(const nlohmann::json& o, const std::string& path, const char* key) {
    static const nlohmann::json empty = nlohmann::json::object();
    if (!o.contains(key)) return empty;
    const auto& v = o.at(key);
    if (!v.is_object()) bad(join(path, key), "must be an object", v);
    return v;
}

/// Checks the `prometheus` section: known keys, each of its type and range.
inline void check_prometheus(const nlohmann::json& p, config& c) {
    only_keys(p, "prometheus", {"url", "bearer_token", "verify_tls", "ca_cert_file", "timeout_ms", "fetch_deadline_ms", "request_counter",
                                "duration_histogram", "window_s", "scrape_interval_s"});
    const std::string url = text(p, "prometheus", "url", "http://127.0.0.1:9090");
    if (!url.starts_with("http://") && !url.starts_with("https://")) bad("prometheus.url", "must start with http:// or https://", p.at("url"));
    const std::string token = text(p, "prometheus", "bearer_token", "");
    if (token.find_first_of("\r\n") != std::string::npos) {
        throw config_error("prometheus.bearer_token", "must not contain a line break (it is sent in an HTTP header)");
    }
    (void)boolean(p, "prometheus", "verify_tls", true);
    (void)text(p, "prometheus", "ca_cert_file", "");
    (void)integer(p, "prometheus", "timeout_ms", 5000, 1, 600000);
    (void)integer(p, "prometheus", "fetch_deadline_ms", 10000, 1, 3600000);
    (void)text(p, "prometheus", "request_counter", "http_requests_total");
    (void)text(p, "prometheus", "duration_histogram", "http_request_duration_seconds");
    c.metrics_window_s = number(p, "prometheus", "window_s", 60, 1, 86400);
    if (c.metrics_window_s != std::floor(c.metrics_window_s)) bad("prometheus.window_s", "must be a whole number of seconds", p.at("window_s"));
    c.scrape_interval_s = number(p, "prometheus", "scrape_interval_s", 0, 0, 86400);
}

/// Checks the `leader_election` section: known keys, types, ranges and
/// lease_duration_s > renew_deadline_s > 1.2 x retry_period_s (the names are
/// checked as the API would, with the Kubernetes adapter, before the loop).
inline void check_leader_election(const nlohmann::json& e) {
    const std::string path = "leader_election";
    only_keys(e, path, {"namespace", "lease_name", "identity", "lease_duration_s", "renew_deadline_s", "retry_period_s"});
    if (text(e, path, "namespace", "", true).empty()) bad(join(path, "namespace"), "must not be empty", e.at("namespace"));
    if (text(e, path, "lease_name", "", true).empty()) bad(join(path, "lease_name"), "must not be empty", e.at("lease_name"));
    (void)text(e, path, "identity", "");
    const int lease = integer(e, path, "lease_duration_s", 15, 1, 3600);
    // Checked as they are used, in whole milliseconds.
    const double renew = std::round(number(e, path, "renew_deadline_s", 10, 0.001, 3600) * 1000) / 1000;
    const double retry = std::round(number(e, path, "retry_period_s", 2, 0.001, 3600) * 1000) / 1000;
    if (!(renew * 10 > retry * 12)) {
        bad(join(path, "renew_deadline_s"), "must be more than 1.2 x retry_period_s (" + std::to_string(retry) + ")",
            e.contains("renew_deadline_s") ? e.at("renew_deadline_s") : nlohmann::json(renew));
    }
    if (!(lease > renew)) {
        bad(join(path, "lease_duration_s"), "must be longer than renew_deadline_s (" + std::to_string(renew) + ")",
            e.contains("lease_duration_s") ? e.at("lease_duration_s") : nlohmann::json(lease));
    }
}

/// Attempts per Kubernetes call when `kubernetes.max_attempts` is absent.
inline constexpr int default_max_attempts = 3;
/// Each Kubernetes call's read timeout when `kubernetes.timeout_ms` is absent
/// (the Kubernetes client's own default).
inline constexpr int default_kubernetes_timeout_ms = 10000;

/// Checks the `kubernetes` section: known keys, each of its type and range.
inline void check_kubernetes(const nlohmann::json& k) {
    only_keys(k, "kubernetes", {"in_cluster", "server", "token", "ca_file", "max_attempts", "timeout_ms"});
    (void)boolean(k, "kubernetes", "in_cluster", true);
    (void)text(k, "kubernetes", "server", "");
    const std::string token = text(k, "kubernetes", "token", "");
    if (token.find_first_of("\r\n") != std::string::npos) {
        throw config_error("kubernetes.token", "must not contain a line break (it is sent in an HTTP header)");
    }
    (void)text(k, "kubernetes", "ca_file", "");
    (void)integer(k, "kubernetes", "max_attempts", default_max_attempts, 1, 100);
    (void)integer(k, "kubernetes", "timeout_ms", default_kubernetes_timeout_ms, 1, 600000);
}

/// Checks `host:port` (port 1–65535; an IPv6 host in brackets).
inline void check_address(const std::string& address) {
    const auto colon = address.rfind(':');
    const auto fail = [&](const std::string& what) { bad("metrics_address", what, nlohmann::json(address)); };
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) fail("must be host:port (\"\" turns the endpoint off)");
    const std::string port = address.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) fail("must be host:port with a numeric port");
    const int n = std::stoi(port);
    if (n < 1 || n > 65535) fail("must have a port in [1, 65535]");
}

/// A Kubernetes container name: an RFC 1123 label.
[[nodiscard]] inline bool is_dns_label(const std::string& s) noexcept {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

inline function_spec parse_function(const nlohmann::json& j, const std::string& path) {
    if (!j.is_object()) bad(path, "must be an object", j);
    only_keys(j, path,
              {"name", "namespace", "kind", "workload", "slo", "min_replicas", "max_replicas", "policy", "checkpoint",
               "cpu_target_percent", "service_time_s", "static_replicas", "container_concurrency", "promql", "resize_container",
               "resize_requests", "resize_min_change", "resize_settle_s"});
    function_spec f;
    f.name = text(j, path, "name", "", true);
    if (f.name.empty()) bad(join(path, "name"), "must not be empty", j.at("name"));
    f.namespace_name = text(j, path, "namespace", "default");
    // Empty would read the client's default namespace but query Prometheus for none.
    if (f.namespace_name.empty()) bad(join(path, "namespace"), "must not be empty (leave it out for \"default\")", j.at("namespace"));
    f.kind = text(j, path, "kind", "Deployment");
    if (f.kind != "Deployment" && f.kind != "StatefulSet") bad(join(path, "kind"), "must be Deployment or StatefulSet", j.at("kind"));
    f.workload = text(j, path, "workload", f.name);
    const std::string slo_path = join(path, "slo");
    const nlohmann::json& slo = object(j, path, "slo");
    only_keys(slo, slo_path, {"latency_s", "percentile", "target_rps"});
    f.slo.latency_s = number(slo, slo_path, "latency_s", 1.0, 1e-6, 3600);
    f.slo.percentile = number(slo, slo_path, "percentile", 0.9, 0, 1);
    f.slo.target_rps = number(slo, slo_path, "target_rps", 0, 0, 1e9);
    if (j.contains("min_replicas") && j.at("min_replicas").is_number() && j.at("min_replicas") == 0) {
        // Scaling to zero needs something that sees requests while no pod
        // runs (Knative's activator); here every pod metric comes back
        // empty at zero, each tick holds, and the function would stay at 0.
        bad(join(path, "min_replicas"),
            "must be >= 1: at 0 replicas the pods' metrics come back empty, every tick holds, and the function would never scale out again",
            j.at("min_replicas"));
    }
    f.min_replicas = integer(j, path, "min_replicas", 1, 1, 100000);
    f.max_replicas = integer(j, path, "max_replicas", 10, 1, 100000);
    if (f.max_replicas < f.min_replicas) {
        // Left out, max_replicas is its default, which the error names as such.
        if (!j.contains("max_replicas")) {
            throw config_error(join(path, "max_replicas"), "must be >= min_replicas (" + std::to_string(f.min_replicas) +
                                                               "), got none (default " + std::to_string(f.max_replicas) + ")");
        }
        bad(join(path, "max_replicas"), "must be >= min_replicas (" + std::to_string(f.min_replicas) + ")", j.at("max_replicas"));
    }
    f.policy = text(j, path, "policy", "hpa");
    const std::set<std::string> policies{"hpa", "kpa", "ensure", "static", "learned", "dqn"};
    bool hpa_percent = false;
    try {
        hpa_percent = f.policy.starts_with("hpa-") && hpa_target_of(f.policy) > 0;
    } catch (const config_error&) {
        bad(join(path, "policy"), "has an HPA target outside 1..100", j.at("policy"));
    }
    if (policies.count(f.policy) == 0 && !hpa_percent) {
        bad(join(path, "policy"), "must be one of hpa, hpa-<percent>, kpa, ensure, static, learned (or dqn)", j.at("policy"));
    }
    f.checkpoint = text(j, path, "checkpoint", "");
    if ((f.policy == "learned" || f.policy == "dqn") && f.checkpoint.empty()) {
        throw config_error(join(path, "checkpoint"), "is required for policy " + f.policy);
    }
    // A learned policy's encoder reads the SLO (its latency bound and
    // target throughput are inputs): given, never a default.
    if (f.policy == "learned" || f.policy == "dqn") {
        for (const char* key : {"latency_s", "percentile", "target_rps"}) {
            if (!slo.contains(key)) {
                throw config_error(join(slo_path, key), "is required for policy " + f.policy +
                                                            " (its encoder reads the SLO: a default never stands in for it)");
            }
        }
    }
    f.cpu_target_percent = number(j, path, "cpu_target_percent", 70, 1, 1000);
    f.service_time_s = number(j, path, "service_time_s", 0, 0, 3600);
    if (f.policy == "ensure" && !(f.service_time_s > 0)) {
        throw config_error(join(path, "service_time_s"), "is required (> 0) for policy ensure");
    }
    f.static_replicas = integer(j, path, "static_replicas", 0, 0, 100000);
    if (f.policy == "static" && f.static_replicas < 1) throw config_error(join(path, "static_replicas"), "is required (>= 1) for policy static");
    f.container_concurrency = number(j, path, "container_concurrency", 1, 1e-3, 1e6);
    f.resize_container = text(j, path, "resize_container", "");
    if (j.contains("resize_container") && !is_dns_label(f.resize_container)) {
        bad(join(path, "resize_container"), "must be a container name (lowercase letters, digits and '-', at most 63)",
            j.at("resize_container"));
    }
    f.resize_requests = boolean(j, path, "resize_requests", true);
    f.resize_min_change = number(j, path, "resize_min_change", 0.05, 0, 1);
    f.resize_settle_s = number(j, path, "resize_settle_s", 600, 0, 86400);
    const std::string promql_path = join(path, "promql");
    for (const auto& [key, value] : object(j, path, "promql").items()) {
        if (!value.is_string() || value.get<std::string>().empty()) bad(join(promql_path, key), "must be a non-empty PromQL string", value);
        f.promql[key] = value.get<std::string>();
    }
    // KPA reads concurrency as the requests in service (plus those queued)
    // when none completed in the window. Neither has a default query, and
    // an unqueried field reads 0: a function whose requests all hang would
    // look idle and be scaled down every tick of the stall.
    // ENSURE sizes the function from its arrivals, whose default query
    // counts completed requests: in a stall nothing completes, the
    // arrivals read 0, and the function would be scaled in to its minimum
    // under the backlog.
    if (f.policy == "ensure" && f.promql.count("arrivals") == 0) {
        throw config_error(join(promql_path, "arrivals"),
                           "is required for policy ensure (the requests that arrived in the window, counted as they arrive, e.g. a "
                           "proxy's or the service's received-requests counter): the default query counts completed requests, so a "
                           "function whose requests all hang would read no arrivals and be scaled in to min_replicas");
    }
    if (f.policy == "kpa" && f.promql.count("in_service") == 0) {
        throw config_error(join(promql_path, "in_service"),
                           "is required for policy kpa (the requests in flight, e.g. a gauge the service or its proxy exports): "
                           "with none completed in the window, KPA's concurrency is the requests in service plus queue_length, and "
                           "unqueried they read 0, so a stalled function would look idle");
    }
    return f;
}

}  // namespace detail

/// Throws config_error when two functions scale one workload (the same
/// namespace, kind and name): each would step from the other's change,
/// every tick. parse_config checks it unless the file sets dry_run (which
/// changes nothing, so functions may share a workload to compare
/// policies); the control loop checks it unless it runs dry.
inline void check_distinct_workloads(const config& c) {
    for (std::size_t i = 0; i < c.functions.size(); ++i) {
        const function_spec& f = c.functions[i];
        for (std::size_t k = 0; k < i; ++k) {
            const function_spec& other = c.functions[k];
            if (other.namespace_name == f.namespace_name && other.kind == f.kind && other.workload == f.workload) {
                throw config_error("functions[" + std::to_string(i) + "].workload",
                                   "\"" + valid_utf8(f.workload, 253) + "\" (" + f.kind + " in namespace \"" +
                                       valid_utf8(f.namespace_name, 63) + "\") is already scaled by functions[" + std::to_string(k) +
                                       "] (\"" + valid_utf8(other.name, 253) + "\"); only a dry run may share a workload");
            }
        }
    }
}

/// Parses and validates a configuration document. Throws config_error naming
/// the first bad field (e.g. "functions[1].max_replicas") and its value.
inline config parse_config(const nlohmann::json& j) {
    if (!j.is_object()) detail::bad("(top level)", "must be a JSON object", j);
    detail::only_keys(j, "", {"control_interval_s", "dry_run", "decision_log", "metrics_address", "guard", "prometheus", "kubernetes",
                              "leader_election", "functions"});
    config c;
    c.control_interval_s = detail::number(j, "", "control_interval_s", 15, 1, 3600);
    c.dry_run = detail::boolean(j, "", "dry_run", false);
    c.decision_log = detail::text(j, "", "decision_log", "-");
    c.metrics_address = detail::text(j, "", "metrics_address", "127.0.0.1:9464");
    const nlohmann::json& guard = detail::object(j, "", "guard");
    detail::only_keys(guard, "guard", {"max_step_up", "max_step_down"});
    c.guard.max_step_up = detail::integer(guard, "guard", "max_step_up", 4, 0, 100000);
    c.guard.max_step_down = detail::integer(guard, "guard", "max_step_down", 2, 0, 100000);
    c.guard_sets_step_up = guard.contains("max_step_up");
    c.guard_sets_step_down = guard.contains("max_step_down");
    if (!c.metrics_address.empty()) detail::check_address(c.metrics_address);
    c.prometheus = detail::object(j, "", "prometheus");
    detail::check_prometheus(c.prometheus, c);
    c.kubernetes = detail::object(j, "", "kubernetes");
    detail::check_kubernetes(c.kubernetes);
    if (j.contains("leader_election")) {
        c.leader_election = detail::object(j, "", "leader_election");
        detail::check_leader_election(c.leader_election);
    }
    if (!j.contains("functions")) throw config_error("functions", "is required (a non-empty array)");
    const auto& fs = j.at("functions");
    if (!fs.is_array() || fs.empty()) detail::bad("functions", "must be a non-empty array", fs);
    std::set<std::string> names;
    for (std::size_t i = 0; i < fs.size(); ++i) {
        const std::string path = "functions[" + std::to_string(i) + "]";
        function_spec f = detail::parse_function(fs[i], path);
        if (!names.insert(f.name).second) detail::bad(path + ".name", "repeats another function's name", fs[i].at("name"));
        c.functions.push_back(std::move(f));
    }
    if (!c.dry_run) check_distinct_workloads(c);
    return c;
}

/// What a valid configuration may still get wrong, for `--check` and the
/// start-up log: a PromQL window shorter than four scrape intervals (rates
/// come back empty and every tick holds), a bearer token sent over plain HTTP.
[[nodiscard]] inline std::vector<std::string> config_warnings(const config& c) {
    std::vector<std::string> out;
    if (c.scrape_interval_s > 0 && c.metrics_window_s < 4 * c.scrape_interval_s) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "prometheus.window_s %g is below four scrape intervals (%g s): rate() over it may come back empty, and "
                      "every tick would hold",
                      c.metrics_window_s, 4 * c.scrape_interval_s);
        out.emplace_back(buf);
    }
    const std::string url = c.prometheus.value("url", std::string("http://127.0.0.1:9090"));
    if (url.starts_with("http://") && !c.prometheus.value("bearer_token", std::string()).empty()) {
        // The URL as given, its control bytes escaped: it is not yet checked
        // beyond its scheme, and a warning is one line.
        out.emplace_back("prometheus.bearer_token is sent over plain http (" + escape_controls(valid_utf8(url, 256, "...")) +
                         "); use https:// or a trusted network");
    }
    return out;
}

/// The step limits that tighten a learned function's own guard (its
/// checkpoint's serving.guard): the ones `c` sets (given in the file, or
/// other than the default), each other limit left open; none when `c` sets
/// neither (the checkpoint's guard as it is, as rlscale-evaluate serves it).
[[nodiscard]] inline std::optional<guard_config> learned_guard(const config& c) {
    const guard_config defaults;
    const bool up = c.guard_sets_step_up || c.guard.max_step_up != defaults.max_step_up;
    const bool down = c.guard_sets_step_down || c.guard.max_step_down != defaults.max_step_down;
    return step_limits_guard(up ? std::optional<int>(c.guard.max_step_up) : std::nullopt,
                             down ? std::optional<int>(c.guard.max_step_down) : std::nullopt);
}

/// The largest configuration file load_config reads (16 MiB).
inline constexpr std::size_t max_config_bytes = std::size_t{16} << 20;

/// Reads and parses a configuration file. Throws config_error for a file
/// that cannot be read, is a directory, holds more than max_config_bytes, is not JSON (with the parser's position), or is
/// nested deeper than 32 levels (refused before it is built), has a key
/// twice in one object (rlscale::detail::duplicate_keys), and for any invalid field.
inline config load_config(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw config_error("config", path.string() + " is a directory, not a configuration file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error("config", "cannot open " + path.string());
    // Read up to a bound, not to the end: a device (/dev/zero) has none. A
    // pipe is read as a file is (--config <(...)).
    std::string text;
    std::array<char, 64 * 1024> chunk{};
    while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
        text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_config_bytes) {
            throw config_error("config", path.string() + " holds more than " + std::to_string(max_config_bytes) +
                                             " bytes (max_config_bytes); a configuration is far smaller");
        }
    }
    if (in.bad()) throw config_error("config", "cannot read " + path.string());
    constexpr std::size_t max_depth = 32;
    if (json_nesting_depth(text, max_depth) > max_depth) {
        throw config_error("config", path.string() + " is nested deeper than " + std::to_string(max_depth) + " levels");
    }
    // The JSON reader stops at a NUL byte: whatever follows would be unread.
    if (const std::size_t nul = rlscale::detail::first_nul_byte(text); nul != std::string::npos) {
        throw config_error("config", path.string() + " is not valid JSON: a NUL byte at offset " + std::to_string(nul));
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, rlscale::detail::duplicate_keys<config_error>{});
    } catch (const nlohmann::json::parse_error& e) {
        throw config_error("config", path.string() + " is not valid JSON: " + e.what());
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (1e400)
        throw config_error("config", path.string() + " cannot be read: " + e.what());
    }
    return parse_config(j);
}

}  // namespace rlscale::controller
