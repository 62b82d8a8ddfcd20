#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// Eigen before httplib: <resolv.h>, which httplib includes, defines a macro
// `_res` that Eigen uses as a parameter name, so Eigen must be parsed first
// whatever order a user includes rlscale's headers in.
#include <Eigen/Core>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <rlscale/core/error.hpp>
#include <rlscale/core/http_body.hpp>
#include <rlscale/core/json_keys.hpp>
#include <rlscale/core/request_deadline.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/kubernetes/config.hpp>
#include <rlscale/kubernetes/detail/json_depth.hpp>
#include <rlscale/kubernetes/detail/printable.hpp>
#include <rlscale/kubernetes/errors.hpp>
#include <rlscale/kubernetes/quantity.hpp>

namespace rlscale::kubernetes {

/// Workloads whose `scale` subresource and pod template rlscale changes.
enum class workload_kind { deployment, statefulset };

[[nodiscard]] inline std::string_view to_string(workload_kind k) noexcept {
    return k == workload_kind::deployment ? "deployments" : "statefulsets";
}

/// An autoscaling/v1 Scale object as read from the server.
struct scale {
    std::string name;
    std::string namespace_name;
    std::string resource_version;
    std::int32_t spec_replicas = 0;    ///< desired (spec.replicas, omitted when 0)
    std::int32_t status_replicas = 0;  ///< observed (status.replicas)
    std::string selector;              ///< status.selector, e.g. "app=web"
    nlohmann::json object;             ///< the whole object, as sent
};

/// What a change of a workload's replica count did: the object as it
/// stands after it (the Scale, or the whole workload for a patch with its
/// resources), and whether the count was sent. Not sent: the object
/// already had it, whoever set it (another writer since the caller read
/// it), so the change is not the caller's.
template <typename Object>
struct replicas_change {
    Object result;
    bool count_sent = false;
};

/// A coordination.k8s.io/v1 Lease, the lock of leader election
/// (leader_election.hpp). Times are the API's MicroTime text
/// ("2026-12-04T09:10:00.123456Z"); an absent field reads as empty or 0.
struct lease {
    std::string name;
    std::string namespace_name;
    std::string resource_version;  ///< metadata.resourceVersion
    std::string holder;            ///< spec.holderIdentity ("" = nobody holds it)
    std::int32_t duration_s = 0;   ///< spec.leaseDurationSeconds
    std::string acquire_time;      ///< spec.acquireTime
    std::string renew_time;        ///< spec.renewTime
    std::int32_t transitions = 0;  ///< spec.leaseTransitions
    nlohmann::json object;         ///< the whole object, as sent

    /// Whether the spec's fields are those of `o` (leader election's "has the
    /// record changed since I last saw it").
    [[nodiscard]] bool same_record(const lease& o) const noexcept {
        return holder == o.holder && duration_s == o.duration_s && acquire_time == o.acquire_time && renew_time == o.renew_time &&
               transitions == o.transitions;
    }
};

/// CPU and memory for one of requests/limits; unset fields are left as they are.
struct resource_values {
    std::optional<std::int64_t> cpu_millicores;
    std::optional<std::int64_t> memory_bytes;
};

/// New resources for one container, merged by container name.
struct container_resources {
    std::string container;
    resource_values requests;
    resource_values limits;
};

namespace detail {

inline bool is_dns_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
inline bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

inline void validate_dns_name(const std::string& field, const std::string& value, bool label) {
    const std::size_t max = label ? 63 : 253;
    bool ok = !value.empty() && value.size() <= max && is_alnum_lower(value.front()) && is_alnum_lower(value.back());
    for (char c : value) ok = ok && is_dns_char(c) && !(label && c == '.');
    // A subdomain is labels joined by dots: each part starts and ends with
    // a letter or digit ("a..b", "a.-b" and "a-.b" are not names).
    for (std::size_t i = 0; ok && i + 1 < value.size(); ++i) {
        if (value[i] == '.') ok = is_alnum_lower(value[i + 1]);
        if (value[i + 1] == '.') ok = ok && is_alnum_lower(value[i]);
    }
    if (!ok) {
        throw config_error(field, std::string("must be a DNS-1123 ") + (label ? "label" : "subdomain") +
                                      " (lowercase letters, digits, '-'" + (label ? "" : ", '.'") + ", at most " +
                                      std::to_string(max) + " characters), got '" + printable_excerpt(value, 80) + "'");
    }
}

}  // namespace detail

/// Refuses (config_error naming `field` and the value) anything but a
/// DNS-1123 label: a namespace or container name as the API server accepts
/// it. Refusing anything else also keeps names from altering a request path.
inline void validate_label_name(const std::string& field, const std::string& value) {
    detail::validate_dns_name(field, value, true);
}

/// The same for a DNS-1123 subdomain: an object's name (a Deployment's, a
/// Pod's).
inline void validate_object_name(const std::string& field, const std::string& value) {
    detail::validate_dns_name(field, value, false);
}

namespace detail {

inline std::string reason_for(int code) {
    switch (code) {
        case 400: return "BadRequest";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "NotFound";
        case 405: return "MethodNotAllowed";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 415: return "UnsupportedMediaType";
        case 422: return "Invalid";
        case 429: return "TooManyRequests";
        case 500: return "InternalError";
        case 503: return "ServiceUnavailable";
        case 504: return "Timeout";
        default: return "Unknown";
    }
}

/// Longest excerpt of a body that is not a Status object kept in an error.
inline constexpr std::size_t max_body_excerpt = 200;
/// Longest Status.message kept (422 messages list every invalid field).
inline constexpr std::size_t max_status_message = 1024;
/// Longest Status.reason kept (the documented ones are under 30 bytes).
inline constexpr std::size_t max_status_reason = 64;

/// A foreign JSON value for an error message: its type and, for a scalar,
/// its value (a string as a bounded printable excerpt). Never dumps an array
/// or object, which could be a whole document.
inline std::string describe(const nlohmann::json& v) {
    const auto count = [](std::size_t n, const char* what) {
        return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
    };
    switch (v.type()) {
        case nlohmann::json::value_t::string:
            return "string \"" + printable_excerpt(v.get_ref<const std::string&>(), 64) + "\"";
        case nlohmann::json::value_t::array: return "an array of " + count(v.size(), "element");
        case nlohmann::json::value_t::object: return "an object of " + count(v.size(), "member");
        case nlohmann::json::value_t::boolean:
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
        case nlohmann::json::value_t::number_float: return std::string(v.type_name()) + " " + v.dump();
        default: return v.type_name();  // null, binary, discarded
    }
}

/// The member `key` of `object` when it is a string, else empty. Never throws
/// (unlike nlohmann's value(), which throws type_error 302 on another type).
inline std::string_view string_member(const nlohmann::json& object, const char* key) noexcept {
    if (!object.is_object()) return {};
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view{};
}

/// The wait a Retry-After header asks for. RFC 9110 allows a number of
/// seconds (what Kubernetes sends) or an HTTP date. Blank: none. A number
/// above max_retry_after saturates there, without overflowing however many
/// digits it has; anything else (negative, fractional, a date, text) also
/// reads as max_retry_after, so a value the client cannot read never makes
/// it retry early. The wait actually used is capped by max_retry_wait.
inline std::optional<std::chrono::seconds> retry_after_header(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.empty()) return std::nullopt;
    if (v.find_first_not_of("0123456789") != std::string_view::npos) return max_retry_after;
    std::int64_t seconds = 0;
    for (char c : v) {
        seconds = seconds * 10 + (c - '0');
        if (seconds >= max_retry_after.count()) return max_retry_after;
    }
    return std::chrono::seconds(seconds);
}

/// The same for a Status's details.retryAfterSeconds (an integer; absent or
/// null: none; negative, fractional or not a number: max_retry_after).
inline std::optional<std::chrono::seconds> retry_after_member(const nlohmann::json& v) {
    if (v.is_null()) return std::nullopt;
    if (v.is_number_unsigned()) {
        const auto n = v.get<std::uint64_t>();
        return n >= static_cast<std::uint64_t>(max_retry_after.count()) ? max_retry_after : std::chrono::seconds(n);
    }
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
        return std::min(std::chrono::seconds(v.get<std::int64_t>()), max_retry_after);
    }
    return max_retry_after;
}

/// `requested` capped at `cap`, without the overflow of converting a huge
/// number of seconds to milliseconds first.
inline std::chrono::milliseconds capped_wait(std::chrono::seconds requested, std::chrono::milliseconds cap) {
    if (requested.count() <= 0) return std::chrono::milliseconds(0);
    if (requested.count() > cap.count() / 1000) return cap;  // then requested * 1000 > cap
    return std::chrono::milliseconds(requested.count() * 1000);
}

inline nlohmann::json values_json(const resource_values& v, const std::string& field) {
    nlohmann::json j = nlohmann::json::object();
    if (v.cpu_millicores) j["cpu"] = format_cpu(*v.cpu_millicores, field + ".cpu_millicores");
    if (v.memory_bytes) j["memory"] = format_memory(*v.memory_bytes, field + ".memory_bytes");
    return j;
}

/// Validates every container before anything is built, so a bad value
/// anywhere means nothing is sent. Returns the `containers` list.
inline nlohmann::json containers_json(const std::vector<container_resources>& list) {
    if (list.empty()) throw config_error("containers", "no container given");
    std::set<std::string> seen;
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& c = list[i];
        const std::string f = "containers[" + std::to_string(i) + "]";
        validate_label_name(f + ".container", c.container);
        if (!seen.insert(c.container).second) {
            throw config_error(f + ".container", "container '" + c.container + "' listed twice");
        }
        const bool any = c.requests.cpu_millicores || c.requests.memory_bytes || c.limits.cpu_millicores ||
                         c.limits.memory_bytes;
        if (!any) throw config_error(f, "container '" + c.container + "' sets no request and no limit");
        if (c.requests.cpu_millicores && c.limits.cpu_millicores && *c.requests.cpu_millicores > *c.limits.cpu_millicores) {
            throw config_error(f + ".requests.cpu_millicores",
                               std::to_string(*c.requests.cpu_millicores) + "m exceeds the limit " +
                                   std::to_string(*c.limits.cpu_millicores) + "m");
        }
        if (c.requests.memory_bytes && c.limits.memory_bytes && *c.requests.memory_bytes > *c.limits.memory_bytes) {
            throw config_error(f + ".requests.memory_bytes",
                               std::to_string(*c.requests.memory_bytes) + " bytes exceeds the limit " +
                                   std::to_string(*c.limits.memory_bytes) + " bytes");
        }
        nlohmann::json resources = nlohmann::json::object();
        auto req = values_json(c.requests, f + ".requests");
        auto lim = values_json(c.limits, f + ".limits");
        if (!req.empty()) resources["requests"] = std::move(req);
        if (!lim.empty()) resources["limits"] = std::move(lim);
        out.push_back({{"name", c.container}, {"resources", std::move(resources)}});
    }
    return out;
}

}  // namespace detail

/// Reads and changes replicas and container resources through the API server.
/// Every call has connect/read/write timeouts; retries on 409 and 429 are
/// bounded by `client_config::max_attempts`. Safe to share between threads
/// (each call opens its own connection).
class client {
public:
    inline static constexpr const char* strategic_merge_patch = "application/strategic-merge-patch+json";

    explicit client(client_config config) : config_(std::move(config)) {
        while (!config_.server.empty() && config_.server.back() == '/') config_.server.pop_back();
        detail::validate(config_);
        if (!config_.default_namespace.empty()) {
            validate_label_name("default_namespace", config_.default_namespace);
        }
    }

    [[nodiscard]] const client_config& config() const noexcept { return config_; }

    /// From now on asks `may_write` before each request that changes
    /// something (PUT, PATCH, POST, DELETE), each retry's included, and
    /// sends nothing when it answers false: write_refused, naming the
    /// request and `reason`. Reads are not gated. A leader-elected caller
    /// passes its election's is_leader(), so a write whose retries wait
    /// past the end of the Lease is not sent after it; the election itself
    /// may be given this client, since its Lease requests go through an
    /// ungated client of its own (leader_election.hpp). Not thread-safe
    /// against requests in flight: set it before sharing the client.
    void gate_writes(std::function<bool()> may_write, std::string reason) {
        may_write_ = std::move(may_write);
        write_refusal_ = std::move(reason);
    }

    /// GET .../{deployments|statefulsets}/{name}/scale.
    [[nodiscard]] scale get_scale(workload_kind kind, const std::string& ns, const std::string& name) const {
        const auto path = scale_path(kind, ns, name);
        return with_retries([&] { return parse_scale(send("GET", path, {}, {})); }, false);
    }

    /// Sets spec.replicas through the scale subresource: GET the Scale, PUT it
    /// back with the new count and the read resourceVersion; on 409 Conflict
    /// re-read and retry, on 429 wait Retry-After (capped), at most
    /// `max_attempts` attempts in all. Validates `replicas` in
    /// [0, max_replicas] before sending anything. Returns the Scale the server
    /// answered (or the current one if it already had `replicas`).
    ///
    /// With `expected_current` (the count the caller read and decided from),
    /// a Scale whose count is another one (someone scaled it since) is left
    /// as it is: count_changed is thrown and nothing is sent. The count is
    /// checked at every read, the conflict retries' included, so a change
    /// made between the caller's read and the PUT is never overwritten.
    scale set_replicas(workload_kind kind, const std::string& ns, const std::string& name, std::int32_t replicas,
                       std::optional<std::int32_t> expected_current = std::nullopt) const {
        return change_replicas(kind, ns, name, replicas, expected_current).result;
    }

    /// set_replicas, telling whether the count was sent (false when the
    /// Scale already had it, at the first read or a conflict's re-read).
    replicas_change<scale> change_replicas(workload_kind kind, const std::string& ns, const std::string& name, std::int32_t replicas,
                                           std::optional<std::int32_t> expected_current = std::nullopt) const {
        if (replicas < 0 || replicas > config_.max_replicas) {
            throw config_error("replicas", "must be in [0, " + std::to_string(config_.max_replicas) + "] (max_replicas), got " +
                                               std::to_string(replicas));
        }
        const auto path = scale_path(kind, ns, name);
        return with_retries(
            [&] {
                const auto read = send("GET", path, {}, {});
                auto current = parse_scale(read);
                if (current.spec_replicas == replicas) return replicas_change<scale>{std::move(current), false};  // already there, whoever set it
                if (expected_current && current.spec_replicas != *expected_current) {
                    throw count_changed("GET " + path, *expected_current, current.spec_replicas);
                }
                if (current.resource_version.empty()) {
                    throw read.malformed("Scale has no metadata.resourceVersion, so it cannot be updated safely");
                }
                nlohmann::json body = current.object;
                body["spec"]["replicas"] = replicas;  // parse_scale checked that spec is an object
                return replicas_change<scale>{
                    parsed_change(send("PUT", path, body.dump(), "application/json"), [](const response& r) { return parse_scale(r); }), true};
            },
            true);
    }

    /// Sets container requests/limits in the pod template of a Deployment or
    /// StatefulSet with ONE strategic-merge patch (containers merge by name;
    /// the controller then rolls the pods). All values are validated first:
    /// if any is invalid, nothing is sent. Returns the patched object.
    nlohmann::json set_template_resources(workload_kind kind, const std::string& ns, const std::string& name,
                                          const std::vector<container_resources>& containers) const {
        return patch_workload(kind, ns, name, std::nullopt, containers).result;
    }

    /// As set_template_resources, conditional on the workload as it is
    /// now: its Scale is read first and the patch carries the read's
    /// metadata.resourceVersion as a precondition, so a change anyone made
    /// in between is answered 409 Conflict, and the read and the patch are
    /// retried (at most max_attempts in all). Two requests instead of one:
    /// a patch that arrives late (from a writer that stopped acting while
    /// it was on the way, such as a leader whose Lease lapsed) cannot undo
    /// a later writer's change; its retry is a new write, which the write
    /// gate refuses (gate_writes).
    ///
    /// With `expected_current` (the count the caller read and decided the
    /// resources for), the patch is sent only if the Scale read still has
    /// that count (else count_changed, nothing sent): resources sized for
    /// 10 replicas do not land on the 3 another writer left.
    nlohmann::json set_template_resources_if_unchanged(workload_kind kind, const std::string& ns, const std::string& name,
                                                       const std::vector<container_resources>& containers,
                                                       std::optional<std::int32_t> expected_current = std::nullopt) const {
        return patch_workload(kind, ns, name, std::nullopt, containers, expected_current, true).result;
    }

    /// As set_template_resources, with spec.replicas in the same patch: one
    /// request, so the count and the resources change together or not at
    /// all (a multidimensional decision). `replicas` is validated in
    /// [0, max_replicas] with the containers before anything is sent.
    ///
    /// With `expected_current`, the Scale is read first and the patch sent
    /// only if its count is that one (else count_changed, nothing sent), with
    /// the read's metadata.resourceVersion as a precondition: a change made
    /// in between is answered 409 Conflict, and the read, the check and the
    /// patch are retried (at most max_attempts in all).
    nlohmann::json set_replicas_and_template_resources(workload_kind kind, const std::string& ns, const std::string& name,
                                                       std::int32_t replicas,
                                                       const std::vector<container_resources>& containers,
                                                       std::optional<std::int32_t> expected_current = std::nullopt) const {
        return patch_workload(kind, ns, name, replicas, containers, expected_current).result;
    }

    /// set_replicas_and_template_resources, telling whether the count was
    /// sent. With `expected_current`, a Scale that already has `replicas`
    /// (another writer set it since it was read) gets the resources alone:
    /// the count is left out of the patch, not sent.
    replicas_change<nlohmann::json> change_replicas_and_template_resources(workload_kind kind, const std::string& ns,
                                                                           const std::string& name, std::int32_t replicas,
                                                                           const std::vector<container_resources>& containers,
                                                                           std::optional<std::int32_t> expected_current = std::nullopt) const {
        return patch_workload(kind, ns, name, replicas, containers, expected_current);
    }

    /// Resizes a running pod's containers in place: ONE strategic-merge
    /// PATCH of /api/v1/namespaces/{ns}/pods/{pod}/resize (the `resize`
    /// subresource; Kubernetes 1.33+ beta, GA 1.35). Validated first; if
    /// anything is invalid nothing is sent. Returns the patched Pod.
    nlohmann::json resize_pod(const std::string& ns, const std::string& pod,
                              const std::vector<container_resources>& containers) const {
        const auto n = namespace_or_default(ns);
        validate_object_name("pod", pod);
        nlohmann::json patch = {{"spec", {{"containers", detail::containers_json(containers)}}}};
        const std::string path = "/api/v1/namespaces/" + n + "/pods/" + pod + "/resize";
        const auto body = patch.dump();
        return with_retries(
            [&] { return parsed_change(send("PATCH", path, body, strategic_merge_patch), [](const response& r) { return parse_json(r); }); },
            false);
    }

    /// GET /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name};
    /// nullopt when there is none (404). A 429 is retried as elsewhere.
    [[nodiscard]] std::optional<lease> get_lease(const std::string& ns, const std::string& name) const {
        const std::string path = lease_path(ns, name);
        try {
            return with_retries([&] { return parse_lease(send("GET", path, {}, {})); }, false);
        } catch (const retries_exhausted&) {
            throw;
        } catch (const api_error& e) {
            if (e.is_not_found()) return std::nullopt;
            throw;
        }
    }

    /// Creates the Lease `name` with `spec`'s holder, duration, times and
    /// transitions (POST). Someone else creating it first is an api_error
    /// 409 AlreadyExists; it is not retried.
    lease create_lease(const std::string& ns, const std::string& name, const lease& spec) const {
        const std::string path = leases_path(ns);
        validate_object_name("lease", name);
        nlohmann::json body = {{"apiVersion", "coordination.k8s.io/v1"},
                               {"kind", "Lease"},
                               {"metadata", {{"name", name}, {"namespace", namespace_or_default(ns)}}},
                               {"spec", nlohmann::json::object()}};
        write_lease_spec(spec, body["spec"]);
        // A 201 that is not a Lease still created it: write_outcome_unknown, not transport_error.
        return with_retries(
            [&] { return parsed_change(send("POST", path, body.dump(), "application/json"), [](const response& r) { return parse_lease(r); }); },
            false);
    }

    /// Replaces the five leader-election fields of the Lease ns/name's spec,
    /// `read` as get_lease returned it, with `spec`'s (PUT; an empty or 0
    /// field is removed), conditional on `read`'s resourceVersion: if anyone
    /// changed the Lease since, the server answers 409 Conflict, an
    /// api_error that is not retried (the caller reads again and decides
    /// again). Other spec fields (`strategy` and `preferredHolder` of
    /// coordinated leader election, and any later ones) are sent back as
    /// read. Throws config_error when `read` has no resourceVersion.
    lease update_lease(const std::string& ns, const std::string& name, const lease& read, const lease& spec) const {
        if (read.resource_version.empty()) {
            throw config_error("lease.metadata.resourceVersion", "is empty: an update could overwrite another holder's");
        }
        const std::string path = lease_path(ns, name);
        nlohmann::json body = read.object.is_object() ? read.object : nlohmann::json::object();
        body["apiVersion"] = "coordination.k8s.io/v1";
        body["kind"] = "Lease";
        if (!body["metadata"].is_object()) body["metadata"] = nlohmann::json::object();
        body["metadata"]["name"] = name;
        body["metadata"]["namespace"] = namespace_or_default(ns);
        body["metadata"]["resourceVersion"] = read.resource_version;
        if (!body["spec"].is_object()) body["spec"] = nlohmann::json::object();
        write_lease_spec(spec, body["spec"]);
        // A 200 that is not a Lease still replaced it: write_outcome_unknown, not transport_error.
        return with_retries(
            [&] { return parsed_change(send("PUT", path, body.dump(), "application/json"), [](const response& r) { return parse_lease(r); }); },
            false);
    }

private:
    std::string leases_path(const std::string& ns) const {
        return "/apis/coordination.k8s.io/v1/namespaces/" + namespace_or_default(ns) + "/leases";
    }
    std::string lease_path(const std::string& ns, const std::string& name) const {
        const std::string base = leases_path(ns);
        validate_object_name("lease", name);
        return base + "/" + name;
    }

    /// Writes the five spec fields leader election owns from `l` into
    /// `spec` (an object: both callers make it one), removing those that are
    /// empty or 0 (omitempty); every other field of `spec` is left as it is.
    static void write_lease_spec(const lease& l, nlohmann::json& spec) {
        // JSON text is UTF-8: a field that is not would make the body's
        // dump() throw nlohmann's type_error, which names nothing.
        for (const auto& [key, text] : {std::pair<const char*, const std::string*>{"holderIdentity", &l.holder},
                                        {"acquireTime", &l.acquire_time},
                                        {"renewTime", &l.renew_time}}) {
            if (!is_valid_utf8(*text)) {
                throw config_error(std::string("lease.spec.") + key, "is not valid UTF-8, got '" + detail::printable_excerpt(*text, 80) + "'");
            }
        }
        const auto put = [&spec](const char* key, bool present, const auto& value) {
            if (present) {
                spec[key] = value;
            } else {
                spec.erase(key);
            }
        };
        put("holderIdentity", !l.holder.empty(), l.holder);
        put("leaseDurationSeconds", l.duration_s > 0, l.duration_s);
        put("acquireTime", !l.acquire_time.empty(), l.acquire_time);
        put("renewTime", !l.renew_time.empty(), l.renew_time);
        put("leaseTransitions", l.transitions > 0, l.transitions);
    }

    replicas_change<nlohmann::json> patch_workload(workload_kind kind, const std::string& ns, const std::string& name,
                                  std::optional<std::int32_t> replicas, const std::vector<container_resources>& containers,
                                  std::optional<std::int32_t> expected_current = std::nullopt, bool conditional = false) const {
        if (replicas && (*replicas < 0 || *replicas > config_.max_replicas)) {
            throw config_error("replicas", "must be in [0, " + std::to_string(config_.max_replicas) + "] (max_replicas), got " +
                                               std::to_string(*replicas));
        }
        const auto n = namespace_or_default(ns);
        validate_object_name("name", name);
        nlohmann::json spec = {{"template", {{"spec", {{"containers", detail::containers_json(containers)}}}}}};
        if (replicas) spec["replicas"] = *replicas;
        const nlohmann::json patch = {{"spec", std::move(spec)}};
        const std::string path = "/apis/apps/v1/namespaces/" + n + "/" + std::string(to_string(kind)) + "/" + name;
        if (!expected_current && !conditional) {
            const auto body = patch.dump();
            return {with_retries(
                        [&] { return parsed_change(send("PATCH", path, body, strategic_merge_patch), [](const response& r) { return parse_json(r); }); },
                        false),
                    replicas.has_value()};
        }
        const auto sp = scale_path(kind, ns, name);
        return with_retries(
            [&] {
                const auto read = send("GET", sp, {}, {});
                const scale current = parse_scale(read);
                if (expected_current && current.spec_replicas != *expected_current && !(replicas && current.spec_replicas == *replicas)) {
                    throw count_changed("GET " + sp, *expected_current, current.spec_replicas);
                }
                if (current.resource_version.empty()) {
                    throw read.malformed("Scale has no metadata.resourceVersion, so the change cannot be made conditional");
                }
                // The Scale shares its workload's resourceVersion; in a patch it is a precondition.
                nlohmann::json conditional = patch;
                conditional["metadata"] = {{"resourceVersion", current.resource_version}};
                // A count already there (whoever set it) is not the caller's to send.
                const bool count_sent = replicas && current.spec_replicas != *replicas;
                if (replicas && !count_sent) conditional["spec"].erase("replicas");
                return replicas_change<nlohmann::json>{parsed_change(send("PATCH", path, conditional.dump(), strategic_merge_patch),
                                                                     [](const response& r) { return parse_json(r); }),
                                                       count_sent};
            },
            true);
    }

    /// A successful (2xx) answer.
    struct response {
        std::string method;
        std::string path;
        int status = 0;
        std::string body;

        /// The error for an answer that is not the documented object: names
        /// the request and the HTTP status, then `problem`.
        [[nodiscard]] transport_error malformed(const std::string& problem) const {
            return transport_error("kubernetes: " + method + " " + path + " answered " + std::to_string(status) + ": " + problem);
        }
    };

    std::string namespace_or_default(const std::string& ns) const {
        const std::string& n = ns.empty() ? config_.default_namespace : ns;
        if (n.empty()) throw config_error("namespace", "empty and no default_namespace configured");
        validate_label_name("namespace", n);
        return n;
    }

    std::string scale_path(workload_kind kind, const std::string& ns, const std::string& name) const {
        const auto n = namespace_or_default(ns);
        validate_object_name("name", name);
        return "/apis/apps/v1/namespaces/" + n + "/" + std::string(to_string(kind)) + "/" + name + "/scale";
    }

    std::string current_token() const {
        if (!config_.token_file.empty()) return detail::read_token(config_.token_file);
        return config_.token;
    }

    template <class Op>
    auto with_retries(Op op, bool retry_conflict) const -> decltype(op()) {
        auto backoff = config_.retry_backoff;
        for (int attempt = 1;; ++attempt) {
            try {
                return op();
            } catch (const retries_exhausted&) {
                throw;
            } catch (const api_error& e) {
                const bool retryable = e.is_too_many_requests() || (retry_conflict && e.is_conflict());
                if (!retryable) throw;
                if (attempt >= config_.max_attempts) throw retries_exhausted(e, attempt);
                std::chrono::milliseconds wait = std::min(backoff, config_.max_retry_wait);
                if (e.is_too_many_requests() && e.retry_after()) {
                    wait = detail::capped_wait(*e.retry_after(), config_.max_retry_wait);
                } else {
                    // Doubles up to max_retry_wait; compared before doubling, which could overflow.
                    backoff = backoff > config_.max_retry_wait / 2 ? config_.max_retry_wait : backoff * 2;
                }
                if (config_.retry_sleep) {
                    config_.retry_sleep(wait);
                } else {
                    std::this_thread::sleep_for(wait);
                }
            }
        }
    }

    response send(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type) const {
        if (method != "GET" && may_write_ && !may_write_()) throw write_refused(method, path, write_refusal_);
        // Host and port given apart: httplib's URL parser takes an IPv6
        // literal only of digits and colons ([fd00:10:96::1] fails).
        const detail::server_address a = detail::split_server(config_.server);
        // httplib writes Host as the bare host on the scheme's port; an IPv6
        // literal needs its brackets there.
        const std::string host = a.host_header();
        if (a.https) {
            httplib::SSLClient cli(a.host, a.port);
            if (!config_.ca_file.empty()) cli.set_ca_cert_path(config_.ca_file.c_str());
            cli.enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
            return exchange(cli, host, method, path, body, content_type);
        }
        httplib::Client cli(a.host, a.port);
        return exchange(cli, host, method, path, body, content_type);
    }

    template <typename Http>
    response exchange(Http& cli, const std::string& host, const std::string& method, const std::string& path, const std::string& body,
                      const std::string& content_type) const {
        const auto split = [](std::chrono::milliseconds ms) {
            return std::pair<time_t, time_t>{static_cast<time_t>(ms.count() / 1000), static_cast<time_t>((ms.count() % 1000) * 1000)};
        };
        cli.set_connection_timeout(split(config_.connect_timeout).first, split(config_.connect_timeout).second);
        cli.set_read_timeout(split(config_.read_timeout).first, split(config_.read_timeout).second);
        cli.set_write_timeout(split(config_.write_timeout).first, split(config_.write_timeout).second);
        const auto token = current_token();
        if (!token.empty()) cli.set_bearer_token_auth(token);
        const httplib::Headers headers = {{"Host", host}, {"Accept", "application/json"}, {"User-Agent", "rlscale-kubernetes/0.1"}};

        const auto start = std::chrono::steady_clock::now();
        // The timeouts bound each connect, read and write; a server sending a
        // byte now and then (or dripping its TLS handshake) trips none. So
        // the request as a whole gets their sum, and is cut (its socket shut
        // down) when it runs over.
        const std::chrono::milliseconds whole = config_.connect_timeout + config_.read_timeout + config_.write_timeout;
        request_deadline deadline(whole);
        cli.set_socket_options(deadline.socket_hook());
        httplib::Request req;
        req.method = method;
        req.path = path;
        req.headers = headers;
        if (method != "GET") {
            req.body = body;
            req.set_header("Content-Type", content_type);
        }
        bounded_body answer{config_.max_response_bytes, {}};
        answer.receive_into(req);
        httplib::Response res;
        httplib::Error err = httplib::Error::Success;
        const bool answered = cli.send(req, res, err);
        const bool was_cut = deadline.finish();
        const std::string where = "kubernetes: " + method + " " + detail::printable_excerpt(config_.server, 200) + path + ": ";
        // A change (any method but GET) that got as far as being sent may
        // have been applied, whatever cut its answer off: a timeout, a reset
        // or closed connection, an answer cut or too large to read. Only
        // failures before anything was sent leave it surely not applied.
        const bool change = method != "GET";
        if (answer.over) {
            const std::string what = where + "the answer is larger than max_response_bytes (" +
                                     std::to_string(config_.max_response_bytes) + " bytes, counted inflated); not read";
            if (change) throw write_outcome_unknown(what + "; the change may have been applied");
            throw transport_error(what);
        }
        if (!answered) {
            const auto elapsed = std::chrono::steady_clock::now() - start;
            const std::string what = where + httplib::to_string(err);
            const bool connecting = err == httplib::Error::ConnectionTimeout || err == httplib::Error::Connection;
            const bool never_sent = connecting || err == httplib::Error::BindIPAddress || err == httplib::Error::SSLConnection ||
                                    err == httplib::Error::SSLLoadingCerts || err == httplib::Error::SSLServerVerification ||
                                    err == httplib::Error::UnsupportedMultipartBoundaryChars;
            const bool maybe_applied = change && !never_sent;
            if (was_cut) {
                const std::string why = what + " (no whole answer within " + std::to_string(whole.count()) +
                                        " ms, the connect, read and write timeouts together)";
                if (maybe_applied) throw write_outcome_unknown(why);
                throw timeout_error(why);
            }
            // cpp-httplib reports a TLS handshake that outlasted the connect
            // timeout (each of its waits bounded by it) as a failed one.
            const bool timed_out = err == httplib::Error::ConnectionTimeout ||
                                   (err == httplib::Error::Connection && elapsed >= config_.connect_timeout * 9 / 10) ||
                                   (err == httplib::Error::SSLConnection && elapsed >= config_.connect_timeout * 9 / 10) ||
                                   (err == httplib::Error::Read && elapsed >= config_.read_timeout * 9 / 10) ||
                                   (err == httplib::Error::Write && elapsed >= config_.write_timeout * 9 / 10);
            if (timed_out && maybe_applied) throw write_outcome_unknown(what + " (timed out)");
            if (timed_out) throw timeout_error(what + " (timed out)");
            if (maybe_applied) throw write_outcome_unknown(what + " (after the request was sent: the change may have been applied)");
            throw transport_error(what);
        }
        // Cut by the deadline, yet httplib saw a whole answer: a body without
        // a length (not chunked) ends where the connection closes, and the
        // cut closed it, so what was read may be only the start of the body.
        // A timeout, as when nothing was answered; the change was sent.
        if (was_cut) {
            const std::string why = where + "the answer was cut short (no whole answer within " + std::to_string(whole.count()) +
                                    " ms, the connect, read and write timeouts together)";
            if (change) throw write_outcome_unknown(why + "; the change may have been applied");
            throw timeout_error(why);
        }
        res.body = std::move(answer.bytes);
        if (res.status >= 200 && res.status < 300) return {method, path, res.status, std::move(res.body)};
        api_error e = make_api_error(res, method, path);
        // The API conventions: a 500 means the outcome of the call is
        // unknown, a 504 that it was not completed in time; a proxy's 502
        // or 504 may come after it passed the change on.
        if (change && (res.status == 500 || res.status == 502 || res.status == 504)) {
            throw write_outcome_unknown(std::string(e.what()) + " (an answer that leaves the change's outcome unknown: it may have been applied)");
        }
        throw e;
    }

    /// `parse` of a change's 2xx answer: the change was applied, so an
    /// answer that is not the documented object throws
    /// write_outcome_unknown (the caller re-reads what it needs), not the
    /// transport_error that says nothing changed.
    template <typename Parse>
    static auto parsed_change(const response& r, Parse&& parse) -> decltype(parse(r)) {
        try {
            return parse(r);
        } catch (const transport_error& e) {
            throw write_outcome_unknown(std::string(e.what()) + " (the change was answered " + std::to_string(r.status) +
                                        ", so it was applied)");
        }
    }

    /// The error for a failed answer, built without trusting the body: a
    /// Status object gives reason, message and details.retryAfterSeconds when
    /// they have the documented types; anything else keeps the HTTP code, a
    /// reason derived from it and a bounded printable excerpt of the body. A
    /// body nested deeper than detail::max_json_depth is not parsed, nor one
    /// with a NUL byte anywhere (not JSON; the message names its offset). Texts
    /// from the body are made printable and bounded (detail::printable_excerpt),
    /// so the error's what() can go into a log line or a JSON document.
    static api_error make_api_error(const httplib::Response& r, const std::string& method, const std::string& path) {
        const int code = r.status;
        std::string reason = detail::reason_for(code);
        std::string message;
        nlohmann::json status;  // null unless the body is a Status object
        std::optional<std::chrono::seconds> retry_after;
        if (detail::json_too_deep(r.body)) {
            message = "answer nested deeper than " + std::to_string(detail::max_json_depth) + " levels, not read";
        } else if (detail::json_too_many_values(r.body)) {
            message = "answer of more than " + std::to_string(detail::max_json_values) + " JSON values, not read";
        } else if (const std::size_t nul = rlscale::detail::first_nul_byte(r.body); nul != std::string::npos) {
            // Not JSON, so not a Status: nlohmann's parser would stop at the
            // NUL and read what comes before it as the whole answer.
            message = "answer not JSON: a NUL byte at offset " + std::to_string(nul) + ", after \"" +
                      detail::printable_excerpt(std::string_view(r.body).substr(0, nul), detail::max_body_excerpt) + "\"";
        } else {
            auto j = nlohmann::json::parse(r.body, nullptr, false);
            if (detail::string_member(j, "kind") == "Status") {
                status = std::move(j);
            } else {
                message = detail::printable_excerpt(r.body, detail::max_body_excerpt);
            }
        }
        if (status.is_object()) {
            auto sent_reason = detail::printable_excerpt(detail::string_member(status, "reason"), detail::max_status_reason);
            if (!sent_reason.empty()) reason = std::move(sent_reason);
            message = detail::printable_excerpt(detail::string_member(status, "message"), detail::max_status_message);
            const auto details = status.find("details");
            if (details != status.end() && details->is_object()) {
                const auto seconds = details->find("retryAfterSeconds");
                if (seconds != details->end()) retry_after = detail::retry_after_member(*seconds);
            }
        }
        if (r.has_header("Retry-After")) {
            if (auto header = detail::retry_after_header(r.get_header_value("Retry-After"))) retry_after = header;
        }
        return api_error(code, std::move(reason), std::move(message), method, path, std::move(status), retry_after);
    }

    /// The answer's JSON object. An answer nested deeper than
    /// detail::max_json_depth (seen on the bytes, before parsing, because
    /// nlohmann::json copies and dumps recursively), one that is not JSON (a
    /// NUL byte anywhere included, named by its offset) and JSON that is not
    /// an object are transport_errors.
    static nlohmann::json parse_json(const response& r) {
        if (detail::json_too_deep(r.body)) {
            throw r.malformed("JSON nested deeper than " + std::to_string(detail::max_json_depth) + " levels, not read");
        }
        if (detail::json_too_many_values(r.body)) {
            throw r.malformed("JSON of more than " + std::to_string(detail::max_json_values) + " values, not read");
        }
        // A NUL byte anywhere makes the answer not JSON: nlohmann's parser
        // would stop at it and read an object followed by a NUL and anything
        // as that object alone.
        if (const std::size_t nul = rlscale::detail::first_nul_byte(r.body); nul != std::string::npos) {
            throw r.malformed("not JSON: a NUL byte at offset " + std::to_string(nul) + ", after \"" +
                              detail::printable_excerpt(std::string_view(r.body).substr(0, nul), 80) + "\"");
        }
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_discarded()) throw r.malformed("not JSON: \"" + detail::printable_excerpt(r.body, 80) + "\"");
        if (!j.is_object()) throw r.malformed("not a JSON object but " + detail::describe(j));
        return j;
    }

    /// The Scale in an answer. Every field read has its type checked, so a
    /// malformed Scale is a transport_error naming the field and the HTTP
    /// status, never a nlohmann::json exception. `spec` must be an object
    /// (the server always sends one; reading a missing one as 0 replicas
    /// would be a guess that set_replicas would then write); `status` may be
    /// absent; an absent `replicas` is 0 (omitempty).
    static scale parse_scale(const response& r) {
        auto j = parse_json(r);
        const auto kind = j.find("kind");
        if (kind == j.end() || *kind != "Scale") {
            throw r.malformed("expected kind Scale, got " + (kind == j.end() ? std::string("none") : detail::describe(*kind)));
        }
        const auto object_at = [&](const char* key, bool required) -> const nlohmann::json* {
            const auto it = j.find(key);
            if (it == j.end()) {
                if (required) throw r.malformed(std::string("Scale has no ") + key);
                return nullptr;
            }
            if (!it->is_object()) throw r.malformed(std::string("Scale field ") + key + " is " + detail::describe(*it) + ", not an object");
            return &*it;
        };
        const auto string_at = [&](const nlohmann::json& parent, const char* key, const std::string& field) -> std::string {
            const auto it = parent.find(key);
            if (it == parent.end()) return {};
            if (!it->is_string()) throw r.malformed("Scale field " + field + " is " + detail::describe(*it) + ", not a string");
            return it->get<std::string>();
        };
        const auto replicas_at = [&](const nlohmann::json& parent, const std::string& field) -> std::int32_t {
            const auto it = parent.find("replicas");
            if (it == parent.end()) return 0;  // omitempty: absent means 0
            if (!it->is_number_integer()) {
                throw r.malformed("Scale field " + field + " is " + detail::describe(*it) + ", not an integer");
            }
            const bool in_range = it->is_number_unsigned() ? it->get<std::uint64_t>() <= INT32_MAX
                                                           : it->get<std::int64_t>() >= 0 && it->get<std::int64_t>() <= INT32_MAX;
            if (!in_range) throw r.malformed("Scale field " + field + " is " + detail::describe(*it) + ", out of range [0, 2^31-1]");
            return static_cast<std::int32_t>(it->get<std::int64_t>());
        };

        scale s;
        if (const auto* meta = object_at("metadata", false)) {
            s.name = string_at(*meta, "name", "metadata.name");
            s.namespace_name = string_at(*meta, "namespace", "metadata.namespace");
            s.resource_version = string_at(*meta, "resourceVersion", "metadata.resourceVersion");
        }
        s.spec_replicas = replicas_at(*object_at("spec", true), "spec.replicas");
        if (const auto* st = object_at("status", false)) {
            s.status_replicas = replicas_at(*st, "status.replicas");
            s.selector = string_at(*st, "selector", "status.selector");
        }
        s.object = std::move(j);
        return s;
    }

    /// The Lease in an answer; every field read has its type checked (a
    /// transport_error naming the field and the HTTP status otherwise).
    static lease parse_lease(const response& r) {
        auto j = parse_json(r);
        const auto kind = j.find("kind");
        if (kind == j.end() || *kind != "Lease") {
            throw r.malformed("expected kind Lease, got " + (kind == j.end() ? std::string("none") : detail::describe(*kind)));
        }
        const auto object_at = [&](const char* key) -> const nlohmann::json* {
            const auto it = j.find(key);
            if (it == j.end() || it->is_null()) return nullptr;
            if (!it->is_object()) throw r.malformed(std::string("Lease field ") + key + " is " + detail::describe(*it) + ", not an object");
            return &*it;
        };
        const auto string_at = [&](const nlohmann::json* parent, const char* key, const std::string& field) -> std::string {
            if (parent == nullptr) return {};
            const auto it = parent->find(key);
            if (it == parent->end() || it->is_null()) return {};
            if (!it->is_string()) throw r.malformed("Lease field " + field + " is " + detail::describe(*it) + ", not a string");
            return it->get<std::string>();
        };
        const auto int_at = [&](const nlohmann::json* parent, const char* key, const std::string& field) -> std::int32_t {
            if (parent == nullptr) return 0;
            const auto it = parent->find(key);
            if (it == parent->end() || it->is_null()) return 0;
            const bool in_range = it->is_number_unsigned()  ? it->get<std::uint64_t>() <= INT32_MAX
                                  : it->is_number_integer() ? it->get<std::int64_t>() >= 0 && it->get<std::int64_t>() <= INT32_MAX
                                                            : false;
            if (!in_range) throw r.malformed("Lease field " + field + " is " + detail::describe(*it) + ", not an integer in [0, 2^31-1]");
            return static_cast<std::int32_t>(it->get<std::int64_t>());
        };
        const nlohmann::json* meta = object_at("metadata");
        const nlohmann::json* spec = object_at("spec");
        lease l;
        l.name = string_at(meta, "name", "metadata.name");
        l.namespace_name = string_at(meta, "namespace", "metadata.namespace");
        l.resource_version = string_at(meta, "resourceVersion", "metadata.resourceVersion");
        l.holder = string_at(spec, "holderIdentity", "spec.holderIdentity");
        l.duration_s = int_at(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds");
        l.acquire_time = string_at(spec, "acquireTime", "spec.acquireTime");
        l.renew_time = string_at(spec, "renewTime", "spec.renewTime");
        l.transitions = int_at(spec, "leaseTransitions", "spec.leaseTransitions");
        l.object = std::move(j);
        return l;
    }

    client_config config_;
    std::function<bool()> may_write_;  // empty: every write is sent
    std::string write_refusal_;
};

}  // namespace rlscale::kubernetes
