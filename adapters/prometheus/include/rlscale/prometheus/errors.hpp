#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/text.hpp>

#include <string>
#include <utility>

namespace rlscale::prometheus {

/// Base of every error the Prometheus adapter throws.
class prometheus_error : public rlscale::error {
public:
    using rlscale::error::error;
};

/// The request never produced an HTTP response: connection refused, DNS
/// failure, TLS handshake or certificate verification failure, reset.
/// `cause()` is cpp-httplib's name for the failure.
class transport_error : public prometheus_error {
public:
    transport_error(std::string url, std::string cause)
        : prometheus_error("prometheus: request to " + url + " failed: " + cause),
          url_(std::move(url)), cause_(std::move(cause)) {}
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    [[nodiscard]] const std::string& cause() const noexcept { return cause_; }

private:
    std::string url_;
    std::string cause_;
};

/// The server did not answer within the configured connect or read timeout.
class timeout_error : public transport_error {
public:
    using transport_error::transport_error;
};

/// Prometheus answered with its error envelope
/// (`{"status":"error","errorType":…,"error":…}`), e.g. bad_data for a
/// PromQL syntax error (HTTP 400), execution (422), timeout (503). what()
/// gives the server's texts with their control bytes escaped (a line break
/// in them must not start a line of its own in a log); error_type() and
/// message() give them as sent, made valid UTF-8.
class api_error : public prometheus_error {
public:
    api_error(int http_status, std::string error_type, std::string message)
        : prometheus_error("prometheus: HTTP " + std::to_string(http_status) + ", errorType " +
                           escape_controls(error_type) + ": " + escape_controls(message)),
          http_status_(http_status), error_type_(std::move(error_type)), message_(std::move(message)) {}
    [[nodiscard]] int http_status() const noexcept { return http_status_; }
    /// Prometheus' `errorType`: bad_data, execution, timeout, canceled,
    /// internal, unavailable, not_found, not_acceptable.
    [[nodiscard]] const std::string& error_type() const noexcept { return error_type_; }
    /// Prometheus' `error` text.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    int http_status_;
    std::string error_type_;
    std::string message_;
};

/// A non-2xx HTTP answer that is not Prometheus' error envelope (a proxy's
/// 502/503 page, 401 from an authenticating proxy). `body()` holds at most
/// the first 512 bytes of the answer, made valid UTF-8; what() gives them
/// with their control bytes (a NUL, a page's line breaks) escaped.
class http_error : public prometheus_error {
public:
    http_error(int http_status, std::string body)
        : prometheus_error("prometheus: HTTP " + std::to_string(http_status) + ": " + escape_controls(body)),
          http_status_(http_status), body_(std::move(body)) {}
    [[nodiscard]] int http_status() const noexcept { return http_status_; }
    [[nodiscard]] const std::string& body() const noexcept { return body_; }

private:
    int http_status_;
    std::string body_;
};

/// A 2xx answer whose body is not a valid Prometheus API response.
/// `field()` is the JSON path of the offending value (e.g.
/// `data.result[0].value[1]`), empty when the body is not JSON at all.
class parse_error : public prometheus_error {
public:
    parse_error(std::string field, const std::string& message)
        : prometheus_error(field.empty() ? "prometheus: malformed response: " + message
                                         : "prometheus: malformed response at " + field + ": " + message),
          field_(std::move(field)) {}
    [[nodiscard]] const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

}  // namespace rlscale::prometheus
