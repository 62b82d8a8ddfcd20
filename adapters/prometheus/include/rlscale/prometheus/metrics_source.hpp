#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/errors.hpp>
#include <rlscale/prometheus/response.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale::prometheus {

/// The PromQL behind each field of function_metrics. A template may use the
/// placeholders {namespace}, {workload} (the Deployment's or StatefulSet's
/// name; {deployment} is the same), {function}, {pod_regex} (label values,
/// escaped for a PromQL string), {workload_kind} (`deployment` or
/// `statefulset`, as kube-state-metrics names its metrics and labels),
/// {container} (function_target::container, escaped for a PromQL string)
/// and {container_regex} (that name matched literally, or `.+`, every named
/// container, when none is given), {window} (e.g. `60s`),
/// {window_seconds} (e.g. `60`), {request_counter} and {duration_histogram}
/// (metric names). Each must evaluate to a single number: a scalar or a
/// one-element vector (aggregate with sum() or max()). An empty template
/// leaves its field unqueried (reported as not configured).
struct query_templates {
    /// Completed requests per second (the request counter's rate).
    std::string throughput_rps =
        R"(sum(rate({request_counter}{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))";
    /// Requests that arrived in the window. The default counts completed
    /// requests, the usual meaning of a request counter.
    std::string arrivals =
        R"(sum(increase({request_counter}{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))";
    /// Requests completed in the window.
    std::string completions =
        R"(sum(increase({request_counter}{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))";
    std::string drops;         ///< requests dropped in the window (no default)
    std::string queue_length;  ///< requests waiting (no default)
    std::string in_service;    ///< requests being served (no default)
    /// Mean latency: rate of the histogram's _sum over rate of its _count
    /// (NaN, hence no data, when nothing completed).
    std::string latency_mean_s =
        R"(sum(rate({duration_histogram}_sum{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])) / sum(rate({duration_histogram}_count{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))";
    std::string latency_p50 = quantile("0.5");
    std::string latency_p90 = quantile("0.9");
    std::string latency_p95 = quantile("0.95");
    std::string latency_p99 = quantile("0.99");
    std::string latency_p999 = quantile("0.999");
    /// cAdvisor CPU seconds per second of the function's containers over
    /// their CPU limits: the average utilisation of the replicas. With a
    /// container named in the target, that container's alone (as the HPA's
    /// ContainerResource metric); `container!="POD"` drops the pause
    /// container and `.+` cAdvisor's pod-level series (container="").
    ///
    /// Only running pods count, on both sides: kube-state-metrics keeps
    /// exporting the limits of evicted, completed and pending pods, and
    /// cAdvisor's series of a deleted or evicted pod's containers (written
    /// with their own timestamps, so never marked stale) stay readable for
    /// the lookback, and their rate for the window: after a scale-down from
    /// 4 pods to 2, the usage of 4 over the limits of 2 would read twice the
    /// load. The result is empty (no data, so no scaling) while a running
    /// pod's container with a limit has no usage series: cAdvisor not
    /// reporting it (a failing kubelet scrape, a pod just started) would
    /// otherwise count it as idle in the denominator and read as a scale-down.
    std::string cpu_utilization = utilization(
        R"(rate(container_cpu_usage_seconds_total{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",container!="POD"}[{window}]))",
        "cpu");
    /// cAdvisor working set over the memory limits (one container's when
    /// the target names it), with the same rules.
    std::string memory_utilization = utilization(
        R"(container_memory_working_set_bytes{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",container!="POD"})",
        "memory");
    /// CPU limit of one replica, cores: the sum over its containers, or the
    /// named container's; the largest over running pods (an evicted or
    /// completed pod's limits, still exported, would hold an old limit).
    std::string cpu_limit =
        R"(max(sum by (pod) (kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"} == 1))))";
    /// Memory limit of one replica, MiB (the named container's when given),
    /// the largest over running pods.
    std::string memory_limit_mb =
        R"(max(sum by (pod) (kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",resource="memory"} and on(pod) (kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"} == 1))) / 1048576)";
    /// The smallest CPU limit over running pods, cores per replica: below
    /// cpu_limit while pods of an older template still run (a rollout).
    std::string cpu_limit_min =
        R"(min(sum by (pod) (kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"} == 1))))";
    /// The smallest memory limit over running pods, MiB per replica.
    std::string memory_limit_min_mb =
        R"(min(sum by (pod) (kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",resource="memory"} and on(pod) (kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"} == 1))) / 1048576)";
    /// Ready replicas (kube-state-metrics).
    std::string ready_replicas =
        R"(sum(kube_{workload_kind}_status_replicas_ready{namespace="{namespace}",{workload_kind}="{workload}"}))";
    /// Pods running but not ready yet: in their cold start.
    std::string starting_replicas =
        R"(sum(kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"}) - sum(kube_pod_status_ready{namespace="{namespace}",pod=~"{pod_regex}",condition="true"}))";
    /// Pods not scheduled yet.
    std::string pending_replicas =
        R"(sum(kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Pending"}))";
    std::string cold_starts;  ///< replicas that became ready in the window (no default)
    /// Replicas paid for over the window: average replica count × window.
    std::string replica_seconds =
        R"(sum(avg_over_time(kube_{workload_kind}_status_replicas{namespace="{namespace}",{workload_kind}="{workload}"}[{window}])) * {window_seconds})";
    /// The function's pods whose metrics Prometheus fails to scrape (no
    /// default: which labels `up` carries depends on the scrape
    /// configuration). A pod that is not scraped drops out of every sum
    /// over the pods' own series, which then reads as less load than there
    /// is, a scale-in. When this reads more than 0, or has no value, the
    /// fields summed over the pods' series (throughput, arrivals,
    /// completions, drops, queue length, in service and the latencies) are
    /// reported missing without being sent. With the pods' labels on `up`
    /// (a PodMonitor, or relabelling from Kubernetes service discovery),
    /// the ready pods less the ready pods whose every `up` is 1, so that a
    /// ready pod with no `up` series at all (not discovered yet, not
    /// selected, dropped by relabelling) counts as not scraped; a pod not
    /// ready serves nothing, and its `up` is 0 while it starts:
    /// docs/adapters/prometheus.md.
    std::string unscraped_pods;

    /// sum(U) / sum(L), where U is the running pods' `usage` and L their
    /// limits of `resource`, unless some series of L has no usage series
    /// for its pod and container.
    [[nodiscard]] static std::string utilization(std::string_view usage, std::string_view resource) {
        const std::string running = R"((kube_pod_status_phase{namespace="{namespace}",pod=~"{pod_regex}",phase="Running"} == 1))";
        const std::string limits =
            R"((kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container=~"{container_regex}",resource=")" +
            std::string(resource) + R"("} and on(pod) )" + running + ")";
        const std::string u(usage);
        const std::string running_usage = "(" + u + " and on(pod) " + running + ")";
        return "(sum(" + running_usage + ") / sum(" + limits + ")) unless on() (" + limits + " unless on(pod, container) " + u + ")";
    }

    /// histogram_quantile(q, …) over the duration histogram's buckets.
    [[nodiscard]] static std::string quantile(std::string_view q) {
        return "histogram_quantile(" + std::string(q) +
               R"(, sum by (le) (rate({duration_histogram}_bucket{namespace="{namespace}",pod=~"{pod_regex}"}[{window}]))))";
    }
};

/// The kind of workload whose pods serve a function.
enum class workload_kind { deployment, statefulset };

/// Which function to read: its label values in Prometheus.
struct function_target {
    std::string function;    ///< {function}; free for custom templates
    std::string namespace_;  ///< {namespace}
    std::string deployment;  ///< {workload} and {deployment}: the Deployment's or StatefulSet's name
    /// {pod_regex}, a regular expression as given; when empty, the names
    /// the workload's own pods have, with the name's regex characters
    /// escaped: for a Deployment `<name>-<hash>-<suffix>` as Kubernetes
    /// generates them (the pod-template hash 1 to 10 of `4-9bcdf`, the suffix
    /// 5 of `bcdfghjklmnpqrstvwxz2456789`), so that another workload's pods
    /// named after it (a StatefulSet `web-cache`'s `web-cache-0`, a Job's
    /// `web-migrate-x7k2p`, a CronJob's `web-29475862-x7k2p`: its Jobs are
    /// named by the minute, which starts with a 2 until 2046) are not read as
    /// `web`'s; for a StatefulSet `<name>-<ordinal>`. Prometheus anchors `=~` at both ends,
    /// so `api` never matches `api-gateway-…`. Kubernetes cuts a generated
    /// name's stem to 58 characters before the suffix, so a Deployment name
    /// of more than 46 characters needs a regex of its own.
    std::string pod_regex;
    workload_kind kind = workload_kind::deployment;  ///< {workload_kind}
    /// {container}: one container of the pods, whose utilisations and
    /// limits the default templates then read alone (a sidecar's would
    /// otherwise be added in). Empty: every container of the pods.
    std::string container;
};

/// How the metrics source queries.
struct metrics_source_config {
    /// {window}: how far back rates and increases look. At least about four
    /// scrape intervals, or rate() comes back empty.
    std::chrono::seconds window{60};
    /// One fetch sends no query after this much time has passed since it
    /// began (the rest are reported missing), so a fetch takes at most about
    /// the deadline plus one query's timeout.
    std::chrono::milliseconds fetch_deadline{10000};
    /// How far an answer's sample time may be from the instant asked beyond
    /// the millisecond the time is sent to (an answer further off is for
    /// another instant: its field is missing). VictoriaMetrics releases that
    /// answer a query for a recent instant as of that instant less their
    /// `-search.latencyOffset` (30 s by default), and stamp it so, need that
    /// offset here. Not negative.
    std::chrono::milliseconds answer_time_tolerance{0};
    std::string request_counter = "http_requests_total";           ///< {request_counter}
    std::string duration_histogram = "http_request_duration_seconds";  ///< {duration_histogram}
    query_templates queries;
};

/// Why one field has no value.
struct missing_field {
    std::string_view field;  ///< e.g. "cpu_utilization", "latency.p90"
    std::string query;       ///< the PromQL sent (empty if never sent)
    std::string reason;      ///< e.g. "empty result", "NaN", the error text
};

/// What a fetch could and could not read.
struct metrics_status {
    std::vector<missing_field> missing;       ///< configured fields without a value
    std::vector<std::string_view> unqueried;  ///< fields whose template is empty
    std::vector<std::string> warnings;        ///< Prometheus' warnings

    /// Every configured field has a value.
    [[nodiscard]] bool complete() const noexcept { return missing.empty(); }
    [[nodiscard]] bool is_missing(std::string_view field) const noexcept {
        for (const auto& m : missing)
            if (m.field == field) return true;
        return false;
    }
    [[nodiscard]] const missing_field* find(std::string_view field) const noexcept {
        for (const auto& m : missing)
            if (m.field == field) return &m;
        return nullptr;
    }
};

/// One function's metrics and what was missing from them.
struct metrics_sample {
    function_metrics metrics;
    metrics_status status;
};

namespace detail {

/// The characters Kubernetes generates a pod's random suffix from
/// (apimachinery's util/rand alphabet), as a regex class.
inline constexpr std::string_view generated_name_class = "[bcdfghjklmnpqrstvwxz2456789]";
/// The characters of a Deployment's pod-template hash, as a regex class: the
/// decimal digits of a 32-bit hash, each mapped into that alphabet
/// (SafeEncodeString: 0-5 to 4-9, 6-9 to b, c, d, f).
inline constexpr std::string_view pod_template_hash_class = "[4-9bcdf]";

/// `s` with every RE2 metacharacter escaped, so it matches itself literally.
[[nodiscard]] inline std::string regex_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (std::string_view(R"(\.+*?()|[]{}^$)").find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

[[nodiscard]] inline bool is_metric_name(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!(alpha || (i > 0 && c >= '0' && c <= '9'))) return false;
    }
    return true;
}

}  // namespace detail

/// Replaces {name} placeholders in `tmpl` from `values` (name, value)
/// pairs. A brace followed by lower-case letters or underscores and a
/// closing brace is a placeholder; an unknown one throws config_error
/// naming `field` and the placeholder. Other braces (PromQL label matchers)
/// are left alone.
[[nodiscard]] inline std::string expand_template(std::string_view tmpl,
                                                 const std::vector<std::pair<std::string_view, std::string>>& values,
                                                 std::string_view field) {
    std::string out;
    out.reserve(tmpl.size() + 64);
    std::size_t i = 0;
    while (i < tmpl.size()) {
        if (tmpl[i] == '{') {
            std::size_t j = i + 1;
            while (j < tmpl.size() && ((tmpl[j] >= 'a' && tmpl[j] <= 'z') || tmpl[j] == '_')) ++j;
            if (j > i + 1 && j < tmpl.size() && tmpl[j] == '}') {
                const auto name = tmpl.substr(i + 1, j - i - 1);
                bool found = false;
                for (const auto& [k, v] : values)
                    if (k == name) {
                        out += v;
                        found = true;
                        break;
                    }
                if (!found) {
                    std::string known;
                    for (const auto& [k, v] : values) known += (known.empty() ? "{" : ", {") + std::string(k) + "}";
                    throw config_error("queries." + std::string(field),
                                       "unknown placeholder {" + std::string(name) + "} (known: " + known + ")");
                }
                i = j + 1;
                continue;
            }
        }
        out += tmpl[i++];
    }
    return out;
}

/// Fills function_metrics for one function from Prometheus. Every field
/// whose query fails, returns nothing or returns NaN/±∞ (or a negative
/// number) is reported in the status and left without a value: NaN for the
/// floating-point fields (so check_metrics refuses the sample and a guarded
/// policy holds), but an untouched 0 for the counters and counts (arrivals,
/// completions, drops, queue_length, in_service, the replica counts,
/// cold_starts), which check_metrics cannot tell from a real 0. Callers must
/// not act on a sample whose status is not complete(): hold instead.
class metrics_source {
public:
    /// Throws config_error for a bad window, metric name or template.
    metrics_source(client c, metrics_source_config cfg) : client_(std::move(c)), cfg_(std::move(cfg)) {
        if (cfg_.window.count() <= 0) throw config_error("window", "must be positive, got " + std::to_string(cfg_.window.count()) + " s");
        if (cfg_.fetch_deadline.count() <= 0) {
            throw config_error("fetch_deadline", "must be positive, got " + std::to_string(cfg_.fetch_deadline.count()) + " ms");
        }
        if (cfg_.answer_time_tolerance.count() < 0) {
            throw config_error("answer_time_tolerance",
                               "must not be negative, got " + std::to_string(cfg_.answer_time_tolerance.count()) + " ms");
        }
        if (!detail::is_metric_name(cfg_.request_counter))
            throw config_error("request_counter", "\"" + cfg_.request_counter + "\" is not a metric name");
        if (!detail::is_metric_name(cfg_.duration_histogram))
            throw config_error("duration_histogram", "\"" + cfg_.duration_histogram + "\" is not a metric name");
        const function_target probe{.function = "f", .namespace_ = "ns", .deployment = "d", .pod_regex = "p"};
        for (const auto& spec : fields()) (void)expand_template(cfg_.queries.*spec.tmpl, values(probe), spec.name);
        (void)expand_template(cfg_.queries.unscraped_pods, values(probe), unscraped_pods_name);
    }

    [[nodiscard]] const metrics_source_config& config() const noexcept { return cfg_; }
    [[nodiscard]] const client& prometheus_client() const noexcept { return client_; }

    /// The PromQL sent for `field` (e.g. "latency.p90") and `f`; empty when
    /// its template is empty. Throws config_error for an unknown field or a
    /// target without namespace.
    [[nodiscard]] std::string query_for(std::string_view field, const function_target& f) const {
        check_target(f);
        const auto tmpl = template_of(field);
        if (tmpl == nullptr) throw config_error("field", "unknown function_metrics field \"" + std::string(field) + "\"");
        return expand_template(cfg_.queries.*tmpl, values(f), field);
    }

    /// The instant Prometheus evaluated `r` at (a sample's time), if it
    /// carries one: an empty vector or a matrix does not.
    [[nodiscard]] static std::optional<std::chrono::system_clock::time_point> evaluation_time(const query_result& r) {
        const double t = sample_time(r);
        // Within a day of the epoch or past year 10000: not a reading's time.
        if (!(std::isfinite(t) && t > 86400 && t < 253402300800.0)) return std::nullopt;
        // Rounded to the millisecond Prometheus writes it in (…123.123 is
        // stored a hair below; truncated, the rest of the fetch would ask for …122).
        return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::round<std::chrono::milliseconds>(std::chrono::duration<double>(t))));
    }

    /// Replaces the template of `field` (e.g. "latency.p90") in `queries`.
    /// Throws config_error naming the field when it has no query.
    static void set_query(query_templates& queries, std::string_view field, std::string promql) {
        const auto tmpl = template_of(field);
        if (tmpl == nullptr) throw config_error("promql." + std::string(field), "is not a function_metrics field with a query (nor unscraped_pods)");
        queries.*tmpl = std::move(promql);
    }

    /// Reads `f`'s metrics over the window ending at `at` (when absent, the
    /// instant Prometheus evaluated the first query at, which the rest of
    /// the fetch then uses too); a field whose answer carries another time
    /// than that instant is missing. Never throws for an unreachable or failing
    /// Prometheus: every failure is in the status. Once a query fails at the
    /// transport level (refused, timed out) or Prometheus answers that it
    /// timed out or is unavailable, and once the fetch deadline has passed,
    /// the remaining fields are reported missing without being sent, so a
    /// fetch stays bounded by about the deadline plus one timeout. Throws
    /// config_error only for a target without namespace.
    [[nodiscard]] metrics_sample fetch(const function_target& f,
                                       std::optional<std::chrono::system_clock::time_point> at = std::nullopt) const {
        check_target(f);
        constexpr double nan = std::numeric_limits<double>::quiet_NaN();
        metrics_sample out;
        auto& m = out.metrics;
        m.interval_s = static_cast<double>(cfg_.window.count());
        m.throughput_rps = nan;
        m.latency_mean_s = nan;
        m.latency = {};
        m.cpu_utilization = nan;
        m.memory_utilization = nan;
        m.cpu_limit = nan;
        m.memory_limit_mb = nan;
        m.replica_seconds = nan;

        const auto vals = values(f);
        const auto deadline = std::chrono::steady_clock::now() + cfg_.fetch_deadline;
        std::optional<std::chrono::system_clock::time_point> when = at;
        std::string unreachable;
        // Why the fields summed over the pods' own series are not sent, if
        // they are not: a pod not scraped would read as no load.
        std::string unscraped;
        if (!cfg_.queries.unscraped_pods.empty()) {
            std::string promql = expand_template(cfg_.queries.unscraped_pods, vals, unscraped_pods_name);
            double v = nan;
            std::string reason = query_value(promql, when, out.status, unreachable, v);
            if (reason.empty()) reason = value_problem(v, true, 4294967295.0);
            if (!reason.empty()) {
                unscraped = "unscraped_pods has no value (" + reason + ")";
                out.status.missing.push_back({unscraped_pods_name, std::move(promql), std::move(reason)});
            } else if (v > 0) {
                unscraped = std::to_string(static_cast<std::uint32_t>(std::round(v))) + " of the function's pods are not scraped (unscraped_pods)";
            }
        }
        for (const auto& spec : fields()) {
            const std::string& tmpl = cfg_.queries.*spec.tmpl;
            if (tmpl.empty()) {
                out.status.unqueried.push_back(spec.name);
                continue;
            }
            std::string promql = expand_template(tmpl, vals, spec.name);
            if (unreachable.empty() && std::chrono::steady_clock::now() >= deadline) {
                unreachable = "the fetch deadline (" + std::to_string(cfg_.fetch_deadline.count()) + " ms) has passed";
            }
            if (!unreachable.empty()) {
                out.status.missing.push_back({spec.name, std::move(promql), "not sent: " + unreachable});
                continue;
            }
            if (spec.per_pod && !unscraped.empty()) {
                out.status.missing.push_back({spec.name, std::move(promql), "not sent: " + unscraped});
                continue;
            }
            double v = nan;
            std::string reason = query_value(promql, when, out.status, unreachable, v);
            if (reason.empty()) reason = value_problem(v, spec.integral, spec.max_integral);
            if (!reason.empty()) {
                out.status.missing.push_back({spec.name, std::move(promql), std::move(reason)});
                continue;
            }
            spec.set(m, spec.integral ? std::round(v) : v);
        }
        return out;
    }

    /// The name unscraped_pods goes by in a status, an error and set_query.
    static constexpr std::string_view unscraped_pods_name = "unscraped_pods";

private:
    /// Sends `promql` (at `when`, which the first answer that carries an
    /// instant sets when absent) and puts its one number in `v`; returns
    /// why it has none, or empty (an answer for another instant than
    /// `when` has none). Prometheus' warnings go to `st`; a failure
    /// after which no more queries should be sent sets `unreachable`.
    [[nodiscard]] std::string query_value(const std::string& promql, std::optional<std::chrono::system_clock::time_point>& when,
                                          metrics_status& st, std::string& unreachable, double& v) const {
        std::string reason;
        try {
            const std::optional<std::chrono::system_clock::time_point> asked = when;
            const query_result r = client_.query(promql, when);
            // The rest of the fetch is evaluated at the instant of the
            // first answer that carries one, not each at the server's
            // own "now" as the queries go out one after another: a
            // limit and the usage over it are never read on either
            // side of a change (a rollout) that lands in between.
            if (!when) when = evaluation_time(r);
            for (const auto& w : r.warnings) st.warnings.push_back(w);
            // Prometheus stamps an instant query's samples with the time it
            // was evaluated at, so a sample of another time is no answer
            // for the instant asked (a cache or proxy in between answering
            // from another query): its value is not this fetch's.
            if (asked) reason = time_problem(r, *asked, cfg_.answer_time_tolerance);
            if (reason.empty()) reason = single_value(r, v);
            // A value Prometheus warned about (a partial answer from a
            // store or replica that did not respond, through Thanos or a
            // federation) may be missing pods' data: not a value.
            // Prometheus 2.47 to 2.53 also put PromQL's informational
            // notes in `warnings` ("PromQL info: metric might not be a
            // counter ...", histogram_quantile's monotonicity fix), which
            // say nothing about missing data: those are kept, not acted on.
            // VictoriaMetrics' isPartial: a storage node did not answer.
            if (reason.empty() && r.partial) reason = "the answer is partial (isPartial: a storage node did not answer)";
            if (reason.empty()) {
                std::size_t serious = 0;
                const std::string* first = nullptr;
                for (const std::string& w : r.warnings) {
                    if (w.starts_with("PromQL info:")) continue;
                    if (first == nullptr) first = &w;
                    ++serious;
                }
                if (first != nullptr) {
                    reason = "Prometheus warned: " + valid_utf8(*first, 256, "...") +
                             (serious > 1 ? " (and " + std::to_string(serious - 1) + " more)" : "");
                }
            }
        } catch (const transport_error& e) {
            unreachable = e.what();
            reason = e.what();
        } catch (const api_error& e) {
            // Prometheus is overloaded: more queries would only wait as long.
            if (e.error_type() == "timeout" || e.error_type() == "unavailable" || e.error_type() == "canceled") unreachable = e.what();
            reason = e.what();
        } catch (const http_error& e) {
            // A proxy in front asking clients to back off (429) or
            // reporting Prometheus unreachable or slow (502, 503, 504):
            // the rest of the fetch is not sent either.
            const int status = e.http_status();
            if (status == 429 || status == 502 || status == 503 || status == 504) unreachable = e.what();
            reason = e.what();
        } catch (const prometheus_error& e) {
            reason = e.what();
        }
        return reason;
    }

    /// The time `r`'s samples carry: NaN when it has none (an empty
    /// vector, a matrix).
    [[nodiscard]] static double sample_time(const query_result& r) noexcept {
        if (r.type == result_type::scalar) return r.scalar.time;
        if (r.type == result_type::vector && !r.vector.empty()) return r.vector.front().point.time;
        if (r.type == result_type::string) return r.string_time;
        return std::numeric_limits<double>::quiet_NaN();
    }

    /// Why `r` is not an answer for the instant `asked`, or empty: its
    /// samples' time differs from the time sent (`asked` to the
    /// millisecond, as format_unix_time writes it) by more than the
    /// rounding of a millisecond and `tolerance`. An answer without a
    /// sample has no time to compare.
    [[nodiscard]] static std::string time_problem(const query_result& r, std::chrono::system_clock::time_point asked,
                                                  std::chrono::milliseconds tolerance) {
        if (r.type == result_type::matrix || (r.type == result_type::vector && r.vector.empty())) return {};
        const double t = sample_time(r);
        const auto sent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(asked.time_since_epoch()).count();
        // Written so that a time that is not finite is refused too.
        if (std::abs(t * 1000.0 - static_cast<double>(sent_ms)) <= 1.5 + static_cast<double>(tolerance.count())) return {};
        char text[64];
        // Three decimals as the time is sent; a time far past any date in
        // exponent form, so the text stays short.
        if (std::abs(t) < 1e15) {
            std::snprintf(text, sizeof text, "%.3f", t);
        } else {
            std::snprintf(text, sizeof text, "%g", t);
        }
        return "answer evaluated at " + std::string(text) + ", asked for " + format_unix_time(asked) + ": not the instant asked";
    }

    /// Why `v` is not a value of a field (NaN, infinite, negative, or
    /// beyond an integral field's range), or empty.
    [[nodiscard]] static std::string value_problem(double v, bool integral, double max_integral) {
        if (std::isnan(v)) return "NaN (no data)";
        if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
        if (v < 0) return "negative value " + std::to_string(v);
        if (integral && v > max_integral) return "value " + std::to_string(v) + " out of range";
        return {};
    }

    struct field_spec {
        std::string_view name;
        std::string query_templates::*tmpl;
        void (*set)(function_metrics&, double);
        bool integral;
        double max_integral;
        bool per_pod;  ///< summed over the pods' own series (see query_templates::unscraped_pods)
    };

    [[nodiscard]] static const std::array<field_spec, 23>& fields() {
        constexpr double u32 = 4294967295.0;
        constexpr double u64 = 1.8e19;
        static const std::array<field_spec, 23> specs{{
            {"throughput_rps", &query_templates::throughput_rps, [](function_metrics& m, double v) { m.throughput_rps = v; }, false, 0, true},
            {"arrivals", &query_templates::arrivals, [](function_metrics& m, double v) { m.arrivals = static_cast<std::uint64_t>(v); }, true, u64, true},
            {"completions", &query_templates::completions, [](function_metrics& m, double v) { m.completions = static_cast<std::uint64_t>(v); }, true, u64, true},
            {"drops", &query_templates::drops, [](function_metrics& m, double v) { m.drops = static_cast<std::uint64_t>(v); }, true, u64, true},
            {"queue_length", &query_templates::queue_length, [](function_metrics& m, double v) { m.queue_length = static_cast<std::uint32_t>(v); }, true, u32, true},
            {"in_service", &query_templates::in_service, [](function_metrics& m, double v) { m.in_service = static_cast<std::uint32_t>(v); }, true, u32, true},
            {"latency_mean_s", &query_templates::latency_mean_s, [](function_metrics& m, double v) { m.latency_mean_s = v; }, false, 0, true},
            {"latency.p50", &query_templates::latency_p50, [](function_metrics& m, double v) { m.latency.p50 = v; }, false, 0, true},
            {"latency.p90", &query_templates::latency_p90, [](function_metrics& m, double v) { m.latency.p90 = v; }, false, 0, true},
            {"latency.p95", &query_templates::latency_p95, [](function_metrics& m, double v) { m.latency.p95 = v; }, false, 0, true},
            {"latency.p99", &query_templates::latency_p99, [](function_metrics& m, double v) { m.latency.p99 = v; }, false, 0, true},
            {"latency.p999", &query_templates::latency_p999, [](function_metrics& m, double v) { m.latency.p999 = v; }, false, 0, true},
            {"cpu_utilization", &query_templates::cpu_utilization, [](function_metrics& m, double v) { m.cpu_utilization = v; }, false, 0, false},
            {"memory_utilization", &query_templates::memory_utilization, [](function_metrics& m, double v) { m.memory_utilization = v; }, false, 0, false},
            {"cpu_limit", &query_templates::cpu_limit, [](function_metrics& m, double v) { m.cpu_limit = v; }, false, 0, false},
            {"memory_limit_mb", &query_templates::memory_limit_mb, [](function_metrics& m, double v) { m.memory_limit_mb = v; }, false, 0, false},
            {"cpu_limit_min", &query_templates::cpu_limit_min, [](function_metrics& m, double v) { m.cpu_limit_min = v; }, false, 0, false},
            {"memory_limit_min_mb", &query_templates::memory_limit_min_mb, [](function_metrics& m, double v) { m.memory_limit_min_mb = v; }, false, 0, false},
            {"ready_replicas", &query_templates::ready_replicas, [](function_metrics& m, double v) { m.ready_replicas = static_cast<std::uint32_t>(v); }, true, u32, false},
            {"starting_replicas", &query_templates::starting_replicas, [](function_metrics& m, double v) { m.starting_replicas = static_cast<std::uint32_t>(v); }, true, u32, false},
            {"pending_replicas", &query_templates::pending_replicas, [](function_metrics& m, double v) { m.pending_replicas = static_cast<std::uint32_t>(v); }, true, u32, false},
            {"cold_starts", &query_templates::cold_starts, [](function_metrics& m, double v) { m.cold_starts = static_cast<std::uint32_t>(v); }, true, u32, false},
            {"replica_seconds", &query_templates::replica_seconds, [](function_metrics& m, double v) { m.replica_seconds = v; }, false, 0, false},
        }};
        return specs;
    }

    /// The member of query_templates holding `name`'s template: a
    /// function_metrics field's (fields()) or unscraped_pods's; null for
    /// any other name.
    [[nodiscard]] static auto template_of(std::string_view name) -> std::string query_templates::* {
        for (const auto& spec : fields())
            if (spec.name == name) return spec.tmpl;
        if (name == unscraped_pods_name) return &query_templates::unscraped_pods;
        return nullptr;
    }

    static void check_target(const function_target& f) {
        if (f.namespace_.empty()) throw config_error("function_target.namespace_", "is empty");
    }

    [[nodiscard]] std::vector<std::pair<std::string_view, std::string>> values(const function_target& f) const {
        const bool stateful = f.kind == workload_kind::statefulset;
        const std::string pods = !f.pod_regex.empty() ? f.pod_regex
                                 : stateful          ? detail::regex_escape(f.deployment) + "-[0-9]+"
                                                     : detail::regex_escape(f.deployment) + "-" + std::string(detail::pod_template_hash_class) +
                                                           "{1,10}-" + std::string(detail::generated_name_class) + "{5}";
        return {{"namespace", escape_double_quoted(f.namespace_)},
                {"workload", escape_double_quoted(f.deployment)},
                {"workload_kind", stateful ? "statefulset" : "deployment"},
                {"deployment", escape_double_quoted(f.deployment)},
                {"function", escape_double_quoted(f.function)},
                {"pod_regex", escape_double_quoted(pods)},
                {"container", escape_double_quoted(f.container)},
                {"container_regex", f.container.empty() ? ".+" : escape_double_quoted(detail::regex_escape(f.container))},
                {"window", std::to_string(cfg_.window.count()) + "s"},
                {"window_seconds", std::to_string(cfg_.window.count())},
                {"request_counter", cfg_.request_counter},
                {"duration_histogram", cfg_.duration_histogram}};
    }

    /// The one number `r` holds, or why it holds none.
    [[nodiscard]] static std::string single_value(const query_result& r, double& v) {
        switch (r.type) {
            case result_type::scalar: v = r.scalar.value; return {};
            case result_type::vector:
                // A native histogram sample is no number: alone it is no
                // value, beside a float one another series.
                if (r.vector.empty() && r.dropped_histograms > 0)
                    return "native histogram sample, expected a number (wrap the query in histogram_quantile(), "
                           "histogram_sum() or histogram_count())";
                if (r.vector.empty()) return "empty result (no series matched)";
                if (r.vector.size() + r.dropped_histograms > 1)
                    return std::to_string(r.vector.size() + r.dropped_histograms) +
                           " series, expected one (aggregate the query with sum() or max())";
                v = r.vector.front().point.value;
                return {};
            default: return "result type " + std::string(to_string(r.type)) + ", expected vector or scalar";
        }
    }

    client client_;
    metrics_source_config cfg_;
};

}  // namespace rlscale::prometheus
