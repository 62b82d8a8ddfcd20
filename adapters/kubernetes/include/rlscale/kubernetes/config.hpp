#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>

#include <rlscale/core/error.hpp>
#include <rlscale/core/http_url.hpp>
#include <rlscale/core/watchdog.hpp>
#include <rlscale/kubernetes/detail/printable.hpp>

namespace rlscale::kubernetes {

/// How to reach the API server and how hard to try. Build one with
/// `in_cluster_config()` or `explicit_config()`, then adjust the limits.
struct client_config {
    /// "https://host:port" (or "http://..." only for tests/proxies).
    std::string server;
    /// A fixed bearer token; ignored when `token_file` is set.
    std::string token;
    /// File holding the bearer token, re-read before every request so a
    /// rotated (projected service-account) token is picked up.
    std::string token_file;
    /// PEM CA bundle that signs the server certificate; empty = system store.
    std::string ca_file;
    /// Skip TLS verification. Off by default; never set it in production.
    bool insecure_skip_tls_verify = false;
    /// Namespace used when an empty one is passed to the client.
    std::string default_namespace;

    /// Each of the three timeouts is in (0, 24 h]; a request as a whole is
    /// cut once it has taken their sum.
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds read_timeout{10'000};
    std::chrono::milliseconds write_timeout{10'000};

    /// Total HTTP attempts per operation, including retries after 409
    /// Conflict (re-read, re-apply) and 429 TooManyRequests. At least 1.
    int max_attempts = 5;
    /// Upper bound on any single wait before a retry (Retry-After is capped).
    std::chrono::milliseconds max_retry_wait{5'000};
    /// Wait after a 429 without Retry-After, and between conflict retries
    /// (doubled each time, capped by max_retry_wait).
    std::chrono::milliseconds retry_backoff{100};
    /// set_replicas refuses any count above this.
    std::int32_t max_replicas = 1'000;
    /// The largest answer read, counted after a gzip or brotli answer is
    /// inflated; a larger one is a transport_error and is not kept.
    std::size_t max_response_bytes = std::size_t{16} << 20;
    /// Waits before a retry; empty = std::this_thread::sleep_for. Tests set
    /// it to see the waits the client chooses without sleeping.
    std::function<void(std::chrono::milliseconds)> retry_sleep;
};

/// Where the in-cluster files live; replace them in tests.
struct in_cluster_paths {
    std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
    std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

namespace detail {

inline std::string read_file(const std::string& path, const std::string& field) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(field, "cannot read file '" + path + "'");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string trim(std::string s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

/// The token in the file `path`, without surrounding whitespace. A token
/// with a line break inside is refused as the `token` field is (the error
/// names the file, never the token).
inline std::string read_token(const std::string& path) {
    auto token = trim(read_file(path, "token_file"));
    if (token.empty()) throw config_error("token_file", "file '" + path + "' holds no token");
    if (token.find_first_of("\r\n") != std::string::npos) {
        throw config_error("token_file", "file '" + path + "' holds a token with a line break inside");
    }
    return token;
}

/// The longest connect, read or write timeout: the watchdog's cap (24 h).
/// Their sum (a request's whole deadline) and 9/10 of each then stay far
/// from overflowing.
inline constexpr std::chrono::milliseconds max_timeout = watchdog::max_timeout;

inline void validate_timeout(const char* field, std::chrono::milliseconds t) {
    if (t.count() <= 0 || t > max_timeout) {
        throw config_error(field, "must be in (0, " + std::to_string(max_timeout.count()) + "] ms (24 h), got " +
                                      std::to_string(t.count()) + " ms");
    }
}

/// The parts of a server URL `http[s]://host[:port]`: an IPv6 host comes
/// without its brackets, and the port defaults to the scheme's.
using server_address = rlscale::http_url;

/// Splits `url`; throws config_error("server") for anything else (another
/// scheme, no host, a bad port, a path, a query).
[[nodiscard]] inline server_address split_server(const std::string& url) { return split_http_url(url, "server", false); }

inline void validate(const client_config& c) {
    (void)split_server(c.server);
    if (c.max_attempts < 1) throw config_error("max_attempts", "must be >= 1, got " + std::to_string(c.max_attempts));
    if (c.max_replicas < 0) throw config_error("max_replicas", "must be >= 0, got " + std::to_string(c.max_replicas));
    validate_timeout("connect_timeout", c.connect_timeout);
    validate_timeout("read_timeout", c.read_timeout);
    validate_timeout("write_timeout", c.write_timeout);
    if (c.max_retry_wait.count() < 0) throw config_error("max_retry_wait", "must be >= 0 ms, got " + std::to_string(c.max_retry_wait.count()) + " ms");
    if (c.retry_backoff.count() < 0) throw config_error("retry_backoff", "must be >= 0 ms, got " + std::to_string(c.retry_backoff.count()) + " ms");
    if (c.max_response_bytes == 0) throw config_error("max_response_bytes", "must be > 0, got 0");
    for (char ch : c.token) {
        if (ch == '\r' || ch == '\n') throw config_error("token", "must not contain a line break");
    }
}

}  // namespace detail

/// Configuration from inside a pod: https://$KUBERNETES_SERVICE_HOST:
/// $KUBERNETES_SERVICE_PORT, the service-account token (re-read before each
/// request, so rotation is followed), its CA and its namespace (the default
/// namespace). Throws config_error naming the missing variable or file.
[[nodiscard]] inline client_config in_cluster_config(const in_cluster_paths& paths = {}) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (host == nullptr || *host == '\0') {
        throw config_error("KUBERNETES_SERVICE_HOST", "not set; not running inside a Kubernetes pod?");
    }
    if (port == nullptr || *port == '\0') {
        throw config_error("KUBERNETES_SERVICE_PORT", "not set; not running inside a Kubernetes pod?");
    }
    const std::string port_s = port;
    if (port_s.find_first_not_of("0123456789") != std::string::npos || port_s.size() > 5 ||
        std::stoi(port_s) < 1 || std::stoi(port_s) > 65535) {
        throw config_error("KUBERNETES_SERVICE_PORT", "not a port number: '" + detail::printable_excerpt(port_s, 40) + "'");
    }
    std::string h = host;
    if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6 literal

    client_config c;
    c.server = "https://" + h + ":" + port_s;
    c.token_file = paths.token_file;
    (void)detail::read_token(paths.token_file);  // fail now, not at the first call
    c.ca_file = paths.ca_file;
    {
        std::ifstream ca(paths.ca_file);
        if (!ca) throw config_error("ca_file", "cannot read file '" + paths.ca_file + "'");
    }
    c.default_namespace = detail::trim(detail::read_file(paths.namespace_file, "namespace_file"));
    if (c.default_namespace.empty()) {
        throw config_error("namespace_file", "file '" + paths.namespace_file + "' holds no namespace");
    }
    return c;
}

/// Configuration for a known server: URL, bearer token, CA bundle file (empty
/// = system trust store). TLS verification stays on.
[[nodiscard]] inline client_config explicit_config(std::string server, std::string token, std::string ca_file = {}) {
    client_config c;
    c.server = std::move(server);
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    c.token = std::move(token);
    c.ca_file = std::move(ca_file);
    detail::validate(c);
    if (!c.ca_file.empty()) {
        std::ifstream ca(c.ca_file);
        if (!ca) throw config_error("ca_file", "cannot read file '" + c.ca_file + "'");
    }
    return c;
}

}  // namespace rlscale::kubernetes
