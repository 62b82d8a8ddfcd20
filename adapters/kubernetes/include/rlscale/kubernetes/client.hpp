#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
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
#include <rlscale/kubernetes/config.hpp>
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

/// DNS-1123 subdomain (object names) or, with `label`, a DNS-1123 label
/// (namespaces, container names). Refusing anything else also keeps names
/// from altering the request path.
inline void validate_name(const std::string& field, const std::string& value, bool label) {
    const std::size_t max = label ? 63 : 253;
    bool ok = !value.empty() && value.size() <= max && is_alnum_lower(value.front()) && is_alnum_lower(value.back());
    for (char c : value) ok = ok && is_dns_char(c) && !(label && c == '.');
    if (!ok) {
        throw config_error(field, std::string("must be a DNS-1123 ") + (label ? "label" : "subdomain") +
                                      " (lowercase letters, digits, '-'" + (label ? "" : ", '.'") + ", at most " +
                                      std::to_string(max) + " characters), got '" + value + "'");
    }
}

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

inline std::int32_t replicas_field(const nlohmann::json& parent, const char* key, const std::string& field) {
    if (!parent.is_object() || !parent.contains(key)) return 0;  // omitempty: absent means 0
    const auto& v = parent.at(key);
    if (!v.is_number_integer()) throw transport_error("kubernetes: Scale field " + field + " is not an integer: " + v.dump());
    const auto n = v.get<std::int64_t>();
    if (n < 0 || n > INT32_MAX) throw transport_error("kubernetes: Scale field " + field + " out of range: " + v.dump());
    return static_cast<std::int32_t>(n);
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
        validate_name(f + ".container", c.container, true);
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
            detail::validate_name("default_namespace", config_.default_namespace, true);
        }
    }

    [[nodiscard]] const client_config& config() const noexcept { return config_; }

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
    scale set_replicas(workload_kind kind, const std::string& ns, const std::string& name, std::int32_t replicas) const {
        if (replicas < 0 || replicas > config_.max_replicas) {
            throw config_error("replicas", "must be in [0, " + std::to_string(config_.max_replicas) + "] (max_replicas), got " +
                                               std::to_string(replicas));
        }
        const auto path = scale_path(kind, ns, name);
        return with_retries(
            [&] {
                auto current = parse_scale(send("GET", path, {}, {}));
                if (current.spec_replicas == replicas) return current;
                if (current.resource_version.empty()) {
                    throw transport_error("kubernetes: Scale from " + path + " has no metadata.resourceVersion");
                }
                nlohmann::json body = current.object;
                body["spec"]["replicas"] = replicas;
                return parse_scale(send("PUT", path, body.dump(), "application/json"));
            },
            true);
    }

    /// Sets container requests/limits in the pod template of a Deployment or
    /// StatefulSet with ONE strategic-merge patch (containers merge by name;
    /// the controller then rolls the pods). All values are validated first:
    /// if any is invalid, nothing is sent. Returns the patched object.
    nlohmann::json set_template_resources(workload_kind kind, const std::string& ns, const std::string& name,
                                          const std::vector<container_resources>& containers) const {
        const auto n = namespace_or_default(ns);
        detail::validate_name("name", name, false);
        nlohmann::json patch = {{"spec", {{"template", {{"spec", {{"containers", detail::containers_json(containers)}}}}}}}};
        const std::string path = "/apis/apps/v1/namespaces/" + n + "/" + std::string(to_string(kind)) + "/" + name;
        const auto body = patch.dump();
        return with_retries([&] { return parse_json(send("PATCH", path, body, strategic_merge_patch), path); }, false);
    }

    /// Resizes a running pod's containers in place: ONE strategic-merge
    /// PATCH of /api/v1/namespaces/{ns}/pods/{pod}/resize (the `resize`
    /// subresource; Kubernetes 1.33+ beta, GA 1.35). Validated first; if
    /// anything is invalid nothing is sent. Returns the patched Pod.
    nlohmann::json resize_pod(const std::string& ns, const std::string& pod,
                              const std::vector<container_resources>& containers) const {
        const auto n = namespace_or_default(ns);
        detail::validate_name("pod", pod, false);
        nlohmann::json patch = {{"spec", {{"containers", detail::containers_json(containers)}}}};
        const std::string path = "/api/v1/namespaces/" + n + "/pods/" + pod + "/resize";
        const auto body = patch.dump();
        return with_retries([&] { return parse_json(send("PATCH", path, body, strategic_merge_patch), path); }, false);
    }

private:
    struct response {
        std::string method;
        std::string path;
        std::string body;
    };

    std::string namespace_or_default(const std::string& ns) const {
        const std::string& n = ns.empty() ? config_.default_namespace : ns;
        if (n.empty()) throw config_error("namespace", "empty and no default_namespace configured");
        detail::validate_name("namespace", n, true);
        return n;
    }

    std::string scale_path(workload_kind kind, const std::string& ns, const std::string& name) const {
        const auto n = namespace_or_default(ns);
        detail::validate_name("name", name, false);
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
                std::chrono::milliseconds wait = backoff;
                if (e.is_too_many_requests() && e.retry_after()) {
                    wait = std::chrono::duration_cast<std::chrono::milliseconds>(*e.retry_after());
                } else {
                    backoff = std::min(backoff * 2, config_.max_retry_wait);
                }
                std::this_thread::sleep_for(std::min(wait, config_.max_retry_wait));
            }
        }
    }

    static void set_timeout(httplib::Client& cli, void (httplib::Client::*set)(time_t, time_t), std::chrono::milliseconds ms) {
        (cli.*set)(static_cast<time_t>(ms.count() / 1000), static_cast<time_t>((ms.count() % 1000) * 1000));
    }

    response send(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type) const {
        httplib::Client cli(config_.server);
        set_timeout(cli, &httplib::Client::set_connection_timeout, config_.connect_timeout);
        set_timeout(cli, &httplib::Client::set_read_timeout, config_.read_timeout);
        set_timeout(cli, &httplib::Client::set_write_timeout, config_.write_timeout);
        if (config_.server.rfind("https://", 0) == 0) {
            if (!config_.ca_file.empty()) cli.set_ca_cert_path(config_.ca_file);
            cli.enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
        }
        const auto token = current_token();
        if (!token.empty()) cli.set_bearer_token_auth(token);
        const httplib::Headers headers = {{"Accept", "application/json"}, {"User-Agent", "rlscale-kubernetes/0.1"}};

        const auto start = std::chrono::steady_clock::now();
        httplib::Result res = method == "GET"   ? cli.Get(path, headers)
                              : method == "PUT" ? cli.Put(path, headers, body, content_type)
                                                : cli.Patch(path, headers, body, content_type);
        if (!res) {
            const auto err = res.error();
            const auto elapsed = std::chrono::steady_clock::now() - start;
            const std::string what = "kubernetes: " + method + " " + config_.server + path + ": " + httplib::to_string(err);
            const bool timed_out = err == httplib::Error::ConnectionTimeout ||
                                   (err == httplib::Error::Connection && elapsed >= config_.connect_timeout * 9 / 10) ||
                                   (err == httplib::Error::Read && elapsed >= config_.read_timeout * 9 / 10) ||
                                   (err == httplib::Error::Write && elapsed >= config_.write_timeout * 9 / 10);
            if (timed_out) throw timeout_error(what + " (timed out)");
            throw transport_error(what);
        }
        if (res->status >= 200 && res->status < 300) return {method, path, res->body};
        throw make_api_error(*res, method, path);
    }

    static api_error make_api_error(const httplib::Response& r, const std::string& method, const std::string& path) {
        int code = r.status;
        std::string reason = detail::reason_for(code);
        std::string message;
        nlohmann::json status = nlohmann::json::parse(r.body, nullptr, false);
        std::optional<std::chrono::seconds> retry_after;
        if (status.is_object() && status.value("kind", "") == "Status") {
            if (status.contains("reason") && status["reason"].is_string() && !status["reason"].get<std::string>().empty()) {
                reason = status["reason"].get<std::string>();
            }
            if (status.contains("message") && status["message"].is_string()) message = status["message"].get<std::string>();
            if (status.contains("details") && status["details"].is_object() &&
                status["details"].contains("retryAfterSeconds") && status["details"]["retryAfterSeconds"].is_number_integer()) {
                retry_after = std::chrono::seconds(std::max<std::int64_t>(0, status["details"]["retryAfterSeconds"].get<std::int64_t>()));
            }
        } else {
            status = nullptr;
            message = r.body.substr(0, 200);
        }
        if (r.has_header("Retry-After")) {
            const auto v = r.get_header_value("Retry-After");
            if (!v.empty() && v.size() < 10 && v.find_first_not_of("0123456789") == std::string::npos) {
                retry_after = std::chrono::seconds(std::stoll(v));
            }
        }
        return api_error(code, std::move(reason), std::move(message), method, path, std::move(status), retry_after);
    }

    static nlohmann::json parse_json(const response& r, const std::string& what) {
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            throw transport_error("kubernetes: " + r.method + " " + what + ": answer is not a JSON object");
        }
        return j;
    }

    static scale parse_scale(const response& r) {
        auto j = parse_json(r, r.path);
        if (j.value("kind", "") != "Scale") {
            throw transport_error("kubernetes: " + r.method + " " + r.path + ": expected kind Scale, got '" +
                                  j.value("kind", "") + "'");
        }
        scale s;
        const auto& meta = j.contains("metadata") ? j["metadata"] : nlohmann::json::object();
        if (meta.is_object()) {
            s.name = meta.value("name", "");
            s.namespace_name = meta.value("namespace", "");
            s.resource_version = meta.value("resourceVersion", "");
        }
        s.spec_replicas = detail::replicas_field(j.value("spec", nlohmann::json::object()), "replicas", "spec.replicas");
        const auto st = j.value("status", nlohmann::json::object());
        s.status_replicas = detail::replicas_field(st, "replicas", "status.replicas");
        if (st.is_object()) s.selector = st.value("selector", "");
        s.object = std::move(j);
        return s;
    }

    client_config config_;
};

}  // namespace rlscale::kubernetes
