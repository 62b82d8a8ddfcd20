#pragma once

/// The controller's metrics source and actuator over the adapters: the
/// Prometheus adapter (one metrics source per function, so each may
/// override PromQL) and the Kubernetes adapter (the scale subresource, and
/// the pod template for limits).

#include <rlscale/controller/config.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/kubernetes/kubernetes.hpp>
#include <rlscale/prometheus/prometheus.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rlscale::controller {

/// The Prometheus adapter as the controller's metrics source: one source per
/// function (each may override PromQL templates).
class prometheus_metrics {
public:
    explicit prometheus_metrics(const config& c) {
        const nlohmann::json& p = c.prometheus;
        prometheus::client_config cc;
        cc.url = p.value("url", cc.url);
        cc.bearer_token = p.value("bearer_token", std::string());
        cc.verify_tls = p.value("verify_tls", true);
        cc.ca_cert_file = p.value("ca_cert_file", std::string());
        cc.read_timeout = std::chrono::milliseconds(p.value("timeout_ms", 5000));
        const prometheus::client client(cc);  // prometheus.* checked once, outside the functions' sections
        for (std::size_t i = 0; i < c.functions.size(); ++i) {
            const function_spec& f = c.functions[i];
            prometheus::metrics_source_config mc;
            mc.window = std::chrono::seconds(static_cast<long>(c.metrics_window_s));
            mc.fetch_deadline = std::chrono::milliseconds(p.value("fetch_deadline_ms", 10000));
            mc.request_counter = p.value("request_counter", mc.request_counter);
            mc.duration_histogram = p.value("duration_histogram", mc.duration_histogram);
            try {
                for (const auto& [field, promql] : f.promql) prometheus::metrics_source::set_query(mc.queries, field, promql);
                // The smallest limits serve the resize settle alone: not asked
                // for a function that never resizes, nor at their defaults
                // beside an override of the largest (the defaults may read
                // other series, or none, and would hold every resize for
                // resize_settle_s). Not asked, they read NaN: the largest
                // alone then judges a resize in place.
                const auto leave_unasked = [&](const char* smallest, const char* largest) {
                    return !f.promql.contains(smallest) && (f.resize_container.empty() || f.promql.contains(largest));
                };
                if (leave_unasked("cpu_limit_min", "cpu_limit")) mc.queries.cpu_limit_min.clear();
                if (leave_unasked("memory_limit_min_mb", "memory_limit_mb")) mc.queries.memory_limit_min_mb.clear();
                sources_.emplace(f.name, std::make_unique<prometheus::metrics_source>(client, std::move(mc)));
            } catch (const config_error& e) {
                // A template ("promql.x", or "queries.x" once set) is named
                // under this function's promql section; anything else
                // (request_counter, duration_histogram) is a prometheus setting.
                const std::string& field = e.field();
                std::string where = "prometheus." + field;
                for (const std::string_view prefix : {std::string_view("promql."), std::string_view("queries.")}) {
                    if (field.starts_with(prefix)) where = "functions[" + std::to_string(i) + "].promql." + field.substr(prefix.size());
                }
                throw config_error(where, e.detail());
            }
        }
    }

    metrics_reading read(const function_spec& f, double /*now_s*/) {
        const prometheus::workload_kind kind =
            f.kind == "StatefulSet" ? prometheus::workload_kind::statefulset : prometheus::workload_kind::deployment;
        // The limits a resize sets are one container's, so the policy reads
        // that container's limits and utilisations, not the pod's totals (a
        // sidecar's limit would be added to every step). f.promql still wins.
        const prometheus::metrics_sample sample =
            sources_.at(f.name)->fetch({.function = f.name,
                                        .namespace_ = f.namespace_name,
                                        .deployment = f.workload,
                                        .kind = kind,
                                        .container = f.resize_container});
        metrics_reading r{.metrics = sample.metrics};
        for (const auto& m : sample.status.missing) r.missing.push_back({std::string(m.field), m.reason});
        return r;
    }

private:
    std::map<std::string, std::unique_ptr<prometheus::metrics_source>> sources_;
};

/// The Kubernetes adapter as the controller's actuator.
class kubernetes_scaler {
public:
    /// The client for c.kubernetes, allowed the largest count any of c's
    /// functions may have (the client refuses counts above its max_replicas).
    /// Throws config_error naming `kubernetes.<field>` for a bad client
    /// setting and `functions[i].namespace` or `.workload` for a name the
    /// API would refuse (validate_names), before the first tick.
    explicit kubernetes_scaler(const config& c) : client_(make_config(c)) { validate_names(c); }

    /// Throws config_error naming functions[i].namespace or
    /// functions[i].workload unless each is a name the Kubernetes API
    /// accepts (a DNS-1123 label; a subdomain for the workload).
    static void validate_names(const config& c) {
        for (std::size_t i = 0; i < c.functions.size(); ++i) {
            const function_spec& f = c.functions[i];
            try {
                if (!f.namespace_name.empty()) kubernetes::validate_label_name("namespace", f.namespace_name);
                kubernetes::validate_object_name("workload", f.workload);
            } catch (const config_error& e) {
                throw config_error("functions[" + std::to_string(i) + "]." + e.field(), e.detail());
            }
        }
    }

    /// Every later write first asks `may_write`, and sends nothing when it
    /// answers false (error "... not sent: ..."): the controller passes its
    /// leader election's is_leader(), so a replica whose Lease lapsed in the
    /// middle of a tick writes nothing more. Asked before the write's first
    /// read, and by the client again before each request that changes
    /// something, so a retry after a 409 or 429 (whose waits add up to
    /// seconds) is not sent once the Lease lapsed either.
    void gate_writes(std::function<bool()> may_write) {
        may_write_ = std::move(may_write);
        client_.gate_writes(may_write_, std::string(lapsed));
    }

    int replicas(const function_spec& f) {
        return client_.get_scale(kind(f), f.namespace_name, f.workload).spec_replicas;
    }
    /// A change that failed once it may have reached the API server (its
    /// answer late, cut off or unreadable, or a 500, 502 or 504: the
    /// Kubernetes adapter's write_outcome_unknown) throws
    /// controller::outcome_unknown: it may have been applied. A failure
    /// before (reading the count, connecting) is an ordinary one. Returns
    /// whether the count was sent (false: the workload already had it).
    bool set_replicas(const function_spec& f, int n) {
        check_may_write();
        try {
            return client_.change_replicas(kind(f), f.namespace_name, f.workload, n).count_sent;
        } catch (const kubernetes::write_outcome_unknown& e) {
            throw controller::outcome_unknown(e.what());
        }
    }
    /// Only if the count is still `read` (what the decision was made from):
    /// else kubernetes::count_changed, nothing sent. Returns whether the
    /// count was sent (false: another writer set it to `n` since it was read).
    bool set_replicas(const function_spec& f, int n, int read) {
        check_may_write();
        try {
            return client_.change_replicas(kind(f), f.namespace_name, f.workload, n, read).count_sent;
        } catch (const kubernetes::count_changed& e) {
            throw controller::count_changed(e.what());
        } catch (const kubernetes::write_outcome_unknown& e) {
            throw controller::outcome_unknown(e.what());
        }
    }

    /// The limits of f.resize_container (and its requests, equal to them,
    /// with f.resize_requests) in the workload's pod template, and the count
    /// when given, in one strategic-merge patch: both or neither. The
    /// workload then rolls its pods.
    /// Throws config_error, sending nothing, for a limit beyond what a
    /// quantity holds (the controller's own limits_to_apply stays far below).
    bool set_limits(const function_spec& f, std::optional<int> replicas, const controller::replica_limits& l) {
        return set_limits(f, replicas, l, std::nullopt);
    }
    /// As above; with `read`, only if the count is still `read` (else
    /// kubernetes::count_changed, nothing sent), with a count to set or
    /// without one. Returns whether a count was
    /// sent with the limits (false without one, or when another writer set
    /// it to `replicas` since it was read: the limits go alone).
    bool set_limits(const function_spec& f, std::optional<int> replicas, const controller::replica_limits& l, std::optional<int> read) {
        check_may_write();
        kubernetes::container_resources c{.container = f.resize_container};
        // 2^53: exact in a double, and no int64 product below overflows.
        constexpr double most = 9007199254740992.0;
        if (std::isfinite(l.cpu_cores)) {
            if (l.cpu_cores < 0 || l.cpu_cores * 1000 > most) {
                throw config_error("cpu_limit", "must be in [0, " + std::to_string(most / 1000) + "] cores, got " + std::to_string(l.cpu_cores));
            }
            c.limits.cpu_millicores = std::llround(l.cpu_cores * 1000);
        }
        if (std::isfinite(l.memory_mb)) {
            if (l.memory_mb < 0 || l.memory_mb > most / 1048576) {
                throw config_error("memory_limit_mb", "must be in [0, " + std::to_string(most / 1048576) + "] MiB, got " +
                                                          std::to_string(l.memory_mb));
            }
            c.limits.memory_bytes = std::llround(l.memory_mb) * (std::int64_t{1} << 20);
        }
        if (f.resize_requests) c.requests = c.limits;
        try {
            if (replicas) {
                return client_.change_replicas_and_template_resources(kind(f), f.namespace_name, f.workload, *replicas, {c}, read).count_sent;
            }
            // Conditional too: a patch that arrives after this replica's
            // Lease lapsed cannot undo the next leader's limits, and limits
            // decided for the count read do not land on another count.
            (void)client_.set_template_resources_if_unchanged(kind(f), f.namespace_name, f.workload, {c}, read);
            return false;
        } catch (const kubernetes::count_changed& e) {
            throw controller::count_changed(e.what());
        } catch (const kubernetes::write_outcome_unknown& e) {
            throw controller::outcome_unknown(e.what());  // the patch may have been applied
        }
    }

    /// The Kubernetes client settings of c.kubernetes, allowed the largest
    /// count any of c's functions may have; config_error named under
    /// `kubernetes.`.
    static kubernetes::client_config make_config(const config& cfg) {
        const nlohmann::json& k = cfg.kubernetes;
        kubernetes::client_config c;
        try {
            c = k.value("in_cluster", true) ? kubernetes::in_cluster_config()
                                            : kubernetes::explicit_config(k.value("server", std::string()), k.value("token", std::string()),
                                                                          k.value("ca_file", std::string()));
        } catch (const config_error& e) {
            throw config_error("kubernetes." + e.field(), e.detail());  // named under the config file's section
        }
        c.max_attempts = k.value("max_attempts", detail::default_max_attempts);
        c.read_timeout = std::chrono::milliseconds(k.value("timeout_ms", detail::default_kubernetes_timeout_ms));
        for (const function_spec& f : cfg.functions) c.max_replicas = std::max(c.max_replicas, static_cast<std::int32_t>(f.max_replicas));
        return c;
    }

private:
    static kubernetes::workload_kind kind(const function_spec& f) {
        return f.kind == "StatefulSet" ? kubernetes::workload_kind::statefulset : kubernetes::workload_kind::deployment;
    }
    void check_may_write() const {
        if (may_write_ && !may_write_()) throw error("not sent: " + std::string(lapsed));
    }
    static constexpr std::string_view lapsed = "this replica no longer holds the leader election's Lease";
    kubernetes::client client_;
    std::function<bool()> may_write_;
};

/// The leader election of c.leader_election (which must be set) for the
/// Kubernetes adapter. The identity is leader_election.identity, else
/// `pod_name` (the program passes $POD_NAME), else `host_name` (the
/// program passes the host name with a random suffix: pods sharing a
/// node's network share its name); each
/// setting is checked as the API would (config_error named under
/// `leader_election.`).
[[nodiscard]] inline kubernetes::leader_election_config leader_election_settings(const config& c, const std::string& pod_name,
                                                                                const std::string& host_name) {
    const nlohmann::json& e = c.leader_election;
    kubernetes::leader_election_config out;
    out.namespace_name = e.value("namespace", std::string());
    out.lease_name = e.value("lease_name", std::string());
    out.identity = e.value("identity", std::string());
    if (out.identity.empty()) out.identity = !pod_name.empty() ? pod_name : host_name;
    out.lease_duration = std::chrono::seconds(e.value("lease_duration_s", 15));
    const auto ms = [](double s) { return std::chrono::milliseconds(std::llround(s * 1000)); };
    out.renew_deadline = ms(e.value("renew_deadline_s", 10.0));
    out.retry_period = ms(e.value("retry_period_s", 2.0));
    try {
        out.validate();
    } catch (const config_error& err) {
        const std::string& f = err.field();
        const bool timed = f == "lease_duration" || f == "renew_deadline" || f == "retry_period";
        throw config_error("leader_election." + f + (timed ? "_s" : ""), err.detail());
    }
    return out;
}

static_assert(metrics_source<prometheus_metrics>);
static_assert(resizing_actuator<kubernetes_scaler>);

}  // namespace rlscale::controller
