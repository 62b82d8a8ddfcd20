#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/http_body.hpp>
#include <rlscale/core/http_url.hpp>
#include <rlscale/core/request_deadline.hpp>
#include <rlscale/prometheus/errors.hpp>
#include <rlscale/prometheus/response.hpp>

// Eigen before httplib: <resolv.h>, which httplib includes, defines a macro
// `_res` that Eigen uses as a parameter name, so Eigen must be parsed first
// whatever order a user includes rlscale's headers in.
#include <Eigen/Core>
#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rlscale::prometheus {

/// HTTP basic authentication.
struct basic_auth {
    std::string username;
    std::string password;
};

/// Where Prometheus is and how to talk to it.
struct client_config {
    /// `http://host[:port][/prefix]` or `https://…`; a path prefix is kept
    /// (Prometheus behind a reverse proxy, `--web.route-prefix`).
    std::string url = "http://127.0.0.1:9090";
    std::chrono::milliseconds connect_timeout{2000};  ///< TCP (and TLS) connect
    std::chrono::milliseconds read_timeout{10000};    ///< per read from the socket; also sent as the query's `timeout`
    std::chrono::milliseconds write_timeout{5000};    ///< per write to the socket
    std::string bearer_token;                         ///< sent as `Authorization: Bearer …` when not empty
    std::optional<basic_auth> basic;                  ///< sent as `Authorization: Basic …` when set
    bool verify_tls = true;                           ///< verify the server's certificate and host name (https)
    std::string ca_cert_file;                         ///< PEM bundle to verify against (empty: system default)
    std::string ca_cert_dir;                          ///< directory of hashed CA certificates (empty: none; not with ca_cert_file)
    bool use_post = false;                            ///< POST form-encoded parameters (long queries) instead of GET
    bool send_query_timeout = true;                   ///< pass read_timeout as the query's `timeout` parameter
    /// The largest answer read, counted after a gzip or brotli answer is
    /// inflated; a larger one is a transport_error and is not kept.
    std::size_t max_response_bytes = std::size_t{32} << 20;
    /// The most JSON values an answer may hold (counted from its text before
    /// it is parsed, each bracket and comma one); a larger one is refused
    /// unparsed, as a parse_error (http_error for a non-2xx answer).
    std::size_t max_response_values = default_max_response_values;
};

/// Unix time in seconds with millisecond precision, as the API takes it
/// (a time before the epoch with a minus sign, -500 ms as "-0.500").
[[nodiscard]] inline std::string format_unix_time(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    char buf[48];
    // Whole seconds and milliseconds of the magnitude, the sign written
    // apart: -500 ms has 0 whole seconds, whose own sign would be lost.
    // Negated as unsigned, so the smallest value has a magnitude too.
    const unsigned long long magnitude = ms < 0 ? 0ULL - static_cast<unsigned long long>(ms) : static_cast<unsigned long long>(ms);
    std::snprintf(buf, sizeof buf, "%s%llu.%03llu", ms < 0 ? "-" : "", magnitude / 1000, magnitude % 1000);
    return buf;
}

/// A client of Prometheus' HTTP API (`/api/v1/query` and
/// `/api/v1/query_range`). Each call opens its own connection, so one client
/// may be used from several threads at once. Every call either returns the
/// parsed result or throws a prometheus_error: transport_error (no answer),
/// timeout_error (no answer in time), api_error (the error envelope),
/// http_error (another non-2xx answer) or parse_error (a malformed answer).
class client {
public:
    /// Throws config_error naming the field for an unusable configuration.
    explicit client(client_config cfg) : cfg_(std::move(cfg)) {
        // Host and port kept apart: httplib's URL parser takes an IPv6 literal
        // only of digits and colons ([fd00:10:96::1] fails).
        server_ = split_http_url(cfg_.url, "prometheus.url", true);
        const auto positive = [](std::chrono::milliseconds d) { return d.count() > 0; };
        // At most a day each, so their sum (the whole query's deadline) and
        // the timeout sent to Prometheus stay far inside the integer range.
        const auto check_timeout = [&positive](const char* field, std::chrono::milliseconds d) {
            if (!positive(d) || d > std::chrono::milliseconds(std::chrono::hours(24))) {
                throw config_error(field, "must be in (0, 86400000] ms, got " + std::to_string(d.count()) + " ms");
            }
        };
        check_timeout("prometheus.connect_timeout", cfg_.connect_timeout);
        check_timeout("prometheus.read_timeout", cfg_.read_timeout);
        check_timeout("prometheus.write_timeout", cfg_.write_timeout);
        if (cfg_.max_response_bytes == 0) throw config_error("prometheus.max_response_bytes", "must be positive, got 0");
        if (cfg_.max_response_values == 0) throw config_error("prometheus.max_response_values", "must be positive, got 0");
        if (!cfg_.bearer_token.empty() && cfg_.basic)
            throw config_error("prometheus.bearer_token", "set either a bearer token or basic auth, not both");
        if (!server_.https && (!cfg_.ca_cert_file.empty() || !cfg_.ca_cert_dir.empty())) {
            throw config_error(cfg_.ca_cert_file.empty() ? "prometheus.ca_cert_dir" : "prometheus.ca_cert_file",
                               "CA certificates given for a plain http:// URL (" + cfg_.url + ")");
        }
        // cpp-httplib loads one of the two (the file), so the directory
        // would be ignored without a word.
        if (!cfg_.ca_cert_file.empty() && !cfg_.ca_cert_dir.empty()) {
            throw config_error("prometheus.ca_cert_dir", "\"" + cfg_.ca_cert_dir + "\" given with ca_cert_file \"" +
                                                             cfg_.ca_cert_file + "\"; set one of the two");
        }
        // Header values: a line break would end the header and start another one.
        const auto breaks = [](const std::string& v) { return v.find_first_of("\r\n") != std::string::npos; };
        if (breaks(cfg_.bearer_token)) throw config_error("prometheus.bearer_token", "must not contain a line break (CR or LF)");
        if (cfg_.basic && (breaks(cfg_.basic->username) || breaks(cfg_.basic->password))) {
            throw config_error("prometheus.basic", "username and password must not contain a line break (CR or LF)");
        }
    }

    [[nodiscard]] const client_config& config() const noexcept { return cfg_; }

    /// An instant query at `at` (the server's current time when absent).
    [[nodiscard]] query_result query(std::string_view promql,
                                     std::optional<std::chrono::system_clock::time_point> at = std::nullopt) const {
        httplib::Params params{{"query", std::string(promql)}};
        if (at) params.emplace("time", format_unix_time(*at));
        return request("/api/v1/query", std::move(params));
    }

    /// A range query over [start, end] every `step`. Throws config_error for
    /// a non-positive step or end before start.
    [[nodiscard]] query_result query_range(std::string_view promql, std::chrono::system_clock::time_point start,
                                           std::chrono::system_clock::time_point end,
                                           std::chrono::milliseconds step) const {
        if (step.count() <= 0) throw config_error("step", "must be positive, got " + std::to_string(step.count()) + " ms");
        if (end < start) throw config_error("end", format_unix_time(end) + " is before start " + format_unix_time(start));
        httplib::Params params{{"query", std::string(promql)},
                               {"start", format_unix_time(start)},
                               {"end", format_unix_time(end)},
                               {"step", format_unix_time(std::chrono::system_clock::time_point(step))}};
        return request("/api/v1/query_range", std::move(params));
    }

private:
    [[nodiscard]] static std::string form_encode(const httplib::Params& params) {
        static constexpr char hex[] = "0123456789ABCDEF";
        std::string out;
        for (const auto& [k, v] : params) {
            if (!out.empty()) out += '&';
            for (const std::string* s : {&k, &v}) {
                for (const char ch : *s) {
                    const auto c = static_cast<unsigned char>(ch);
                    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_' || c == '.' || c == '~') {
                        out += static_cast<char>(c);
                    } else {
                        out += '%';
                        out += hex[c >> 4];
                        out += hex[c & 15];
                    }
                }
                if (s == &k) out += '=';
            }
        }
        return out;
    }

    [[nodiscard]] query_result request(const std::string& endpoint, httplib::Params params) const {
        if (cfg_.send_query_timeout) params.emplace("timeout", std::to_string(cfg_.read_timeout.count()) + "ms");
        const std::string path = server_.path + endpoint;
        const std::string where = server_.origin() + path;

#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
        if (server_.https) {
            httplib::SSLClient http(server_.host, server_.port);
            http.enable_server_certificate_verification(cfg_.verify_tls);
            if (!cfg_.ca_cert_file.empty() || !cfg_.ca_cert_dir.empty())
                http.set_ca_cert_path(cfg_.ca_cert_file, cfg_.ca_cert_dir);
            return exchange(http, path, where, params);
        }
#else
        if (server_.https) throw transport_error(where, "https needs cpp-httplib built with CPPHTTPLIB_OPENSSL_SUPPORT");
#endif
        httplib::Client http(server_.host, server_.port);
        return exchange(http, path, where, params);
    }

    template <typename Http>
    [[nodiscard]] query_result exchange(Http& http, const std::string& path, const std::string& where,
                                        const httplib::Params& params) const {
        const auto split = [](std::chrono::milliseconds d) {
            return std::pair<time_t, time_t>{static_cast<time_t>(d.count() / 1000), static_cast<time_t>((d.count() % 1000) * 1000)};
        };
        const auto [cs, cus] = split(cfg_.connect_timeout);
        const auto [rs, rus] = split(cfg_.read_timeout);
        const auto [ws, wus] = split(cfg_.write_timeout);
        http.set_connection_timeout(cs, cus);
        http.set_read_timeout(rs, rus);
        http.set_write_timeout(ws, wus);
        http.set_keep_alive(false);
        http.set_follow_location(false);
        if (!cfg_.bearer_token.empty()) http.set_bearer_token_auth(cfg_.bearer_token);
        if (cfg_.basic) http.set_basic_auth(cfg_.basic->username, cfg_.basic->password);
        const httplib::Headers headers{{"Host", server_.host_header()}, {"Accept", "application/json"}};
        const auto started = std::chrono::steady_clock::now();
        const std::string form = form_encode(params);
        // The timeouts bound each connect, read and write; a server sending a
        // byte now and then (or dripping its TLS handshake) trips none. So
        // the query as a whole gets their sum, and is cut (its socket shut
        // down) when it runs over.
        const std::chrono::milliseconds whole = cfg_.connect_timeout + cfg_.read_timeout + cfg_.write_timeout;
        request_deadline deadline(whole);
        http.set_socket_options(deadline.socket_hook());
        httplib::Request req;
        req.method = cfg_.use_post ? "POST" : "GET";
        req.path = cfg_.use_post ? path : path + "?" + form;
        req.headers = headers;
        if (cfg_.use_post) {
            req.body = form;
            req.set_header("Content-Type", "application/x-www-form-urlencoded");
        }
        bounded_body body{cfg_.max_response_bytes, {}};
        body.receive_into(req);
        httplib::Response response;
        httplib::Error err = httplib::Error::Success;
        const bool answered = http.send(req, response, err);
        const bool was_cut = deadline.finish();
        if (body.over) {
            throw transport_error(where, "the answer is larger than max_response_bytes (" +
                                             std::to_string(cfg_.max_response_bytes) + " bytes, counted inflated); not read");
        }
        // Cut by the deadline: a timeout even when httplib saw an answer (a
        // body without a length ends where the cut shut the socket).
        if (was_cut) {
            throw timeout_error(where, (answered ? std::string("the answer was cut short") : httplib::to_string(err)) +
                                           " (no whole answer within " + std::to_string(whole.count()) +
                                           " ms, the connect, read and write timeouts together)");
        }
        if (!answered) {
            const auto elapsed = std::chrono::steady_clock::now() - started;
            const std::string cause = httplib::to_string(err);
            if (err == httplib::Error::ConnectionTimeout)
                throw timeout_error(where, cause + " (connect timeout " + std::to_string(cfg_.connect_timeout.count()) + " ms)");
            // cpp-httplib reports a TLS handshake that timed out (each of its
            // waits is bounded by the connect timeout) as a failed one.
            if (err == httplib::Error::SSLConnection && elapsed >= cfg_.connect_timeout)
                throw timeout_error(where, cause + " (no TLS handshake within the connect timeout of " +
                                               std::to_string(cfg_.connect_timeout.count()) + " ms)");
            // cpp-httplib reports a read that timed out as a plain read error.
            if ((err == httplib::Error::Read || err == httplib::Error::Write) && elapsed >= cfg_.read_timeout)
                throw timeout_error(where, cause + " (no answer within the read timeout of " +
                                               std::to_string(cfg_.read_timeout.count()) + " ms)");
            throw transport_error(where, cause);
        }
        return decode_response(response.status, body.bytes, cfg_.max_response_values);
    }

    client_config cfg_;
    http_url server_;  // scheme, host, port and path prefix (without a trailing slash)
};

}  // namespace rlscale::prometheus
