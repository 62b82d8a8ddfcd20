#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include <rlscale/core/error.hpp>

namespace rlscale::kubernetes {

/// The longest wait a Retry-After (header or Status details) is read as: a
/// larger value saturates here, so converting it to any std::chrono duration
/// cannot overflow (the client waits at most client_config::max_retry_wait).
inline constexpr std::chrono::seconds max_retry_after{86'400};

/// The API server answered with a failure. Built from the `Status` object in
/// the body (`kind: Status`, `apiVersion: v1`, `status: Failure`, `code`,
/// `reason`, `message`, `details`); when the body is not a Status object the
/// HTTP code is kept and `reason()` is derived from it (e.g. 404 → NotFound).
/// Texts taken from the answer are valid UTF-8, printable and bounded (see
/// detail::printable_excerpt), so what() can go into a JSON log line.
class api_error : public rlscale::error {
public:
    api_error(int code, std::string reason, std::string message, std::string method, std::string path,
              nlohmann::json status_object, std::optional<std::chrono::seconds> retry_after = std::nullopt)
        : error("kubernetes: " + method + " " + path + " failed with " + std::to_string(code) + " " + reason +
                (message.empty() ? std::string{} : ": " + message)),
          code_(code),
          reason_(std::move(reason)),
          message_(std::move(message)),
          method_(std::move(method)),
          path_(std::move(path)),
          status_(std::move(status_object)),
          retry_after_(retry_after ? std::optional(std::clamp(*retry_after, std::chrono::seconds(0), max_retry_after))
                                   : std::nullopt) {}

    /// HTTP status code of the answer.
    [[nodiscard]] int code() const noexcept { return code_; }
    /// Status.reason: Unauthorized, Forbidden, NotFound, Conflict, Invalid,
    /// TooManyRequests, ...
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    /// Status.message as sent by the server (made printable, at most 1024
    /// bytes), or a printable excerpt of a body that is not a Status (at most
    /// 200 bytes).
    [[nodiscard]] const std::string& status_message() const noexcept { return message_; }
    [[nodiscard]] const std::string& method() const noexcept { return method_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// The whole Status object (null when the body was not one, or was nested
    /// deeper than detail::max_json_depth and so not parsed).
    [[nodiscard]] const nlohmann::json& status_object() const noexcept { return status_; }
    /// Retry-After header or Status.details.retryAfterSeconds, if any, in
    /// [0, max_retry_after]; a value that is not a non-negative integer reads
    /// as max_retry_after.
    [[nodiscard]] std::optional<std::chrono::seconds> retry_after() const noexcept { return retry_after_; }

    [[nodiscard]] bool is_conflict() const noexcept { return code_ == 409; }
    [[nodiscard]] bool is_not_found() const noexcept { return code_ == 404; }
    [[nodiscard]] bool is_forbidden() const noexcept { return code_ == 403; }
    [[nodiscard]] bool is_unauthorized() const noexcept { return code_ == 401; }
    [[nodiscard]] bool is_invalid() const noexcept { return code_ == 422; }
    [[nodiscard]] bool is_too_many_requests() const noexcept { return code_ == 429; }

private:
    int code_;
    std::string reason_;
    std::string message_;
    std::string method_;
    std::string path_;
    nlohmann::json status_;
    std::optional<std::chrono::seconds> retry_after_;
};

/// No HTTP answer: connection refused, TLS failure (including an untrusted
/// server certificate), broken connection, or an answer that is not the
/// documented object.
class transport_error : public rlscale::error {
public:
    using rlscale::error::error;
};

/// A connect, read or write timeout fired.
class timeout_error : public transport_error {
public:
    using transport_error::transport_error;
};

/// A change (any method but GET) failed once its request may have reached
/// the server, so it may have been applied: a timeout after connecting, a
/// connection reset or closed before the whole answer, an answer too large
/// to read, a 500, 502 or 504 answer (the API conventions: the outcome is
/// unknown), or a 2xx answer that is not the documented object (applied,
/// the answer unreadable). A GET, or a change that failed before it was
/// sent (connecting, TLS), throws a plain timeout_error or transport_error
/// (or api_error): nothing changed. It derives from timeout_error, as the
/// first of these cases did alone.
class write_outcome_unknown : public timeout_error {
public:
    using timeout_error::timeout_error;
};

/// Retries (409 Conflict, 429 TooManyRequests) used up. `last()` is the last
/// failure the server sent.
class retries_exhausted : public api_error {
public:
    retries_exhausted(const api_error& last, int attempts)
        : api_error(last), attempts_(attempts),
          what_("kubernetes: gave up after " + std::to_string(attempts) + " attempts; last: " + last.what()) {}
    [[nodiscard]] int attempts() const noexcept { return attempts_; }
    [[nodiscard]] const char* what() const noexcept override { return what_.c_str(); }

private:
    int attempts_;
    std::string what_;
};

/// A request that changes something was not sent because the client's
/// write gate (client::gate_writes) said no: nothing was changed by it.
class write_refused : public rlscale::error {
public:
    write_refused(const std::string& method, const std::string& path, const std::string& reason)
        : error("kubernetes: " + method + " " + path + " not sent: " + reason) {}
};

/// The replica count was not what the caller read when it decided (another
/// controller, `kubectl scale`, an HPA changed it since): nothing was sent,
/// so the other party's change stands.
class count_changed : public rlscale::error {
public:
    count_changed(const std::string& where, std::int32_t expected, std::int32_t found)
        : error("kubernetes: " + where + ": spec.replicas is " + std::to_string(found) + ", not the " + std::to_string(expected) +
                " the change was decided from; nothing sent"),
          expected_(expected),
          found_(found) {}
    [[nodiscard]] std::int32_t expected() const noexcept { return expected_; }
    [[nodiscard]] std::int32_t found() const noexcept { return found_; }

private:
    std::int32_t expected_;
    std::int32_t found_;
};

}  // namespace rlscale::kubernetes
