#pragma once

/// The parts of an HTTP server's URL, `http[s]://host[:port][/path]`, split
/// without an HTTP library: cpp-httplib's own URL parser takes an IPv6
/// literal only of digits and colons, so `[fd00:10:96::1]` (the usual
/// in-cluster service address) cannot be reached through it. The HTTP
/// adapters connect by host and port and send `host_header()` as Host.

#include <rlscale/core/error.hpp>
#include <rlscale/core/text.hpp>

#include <string>
#include <string_view>

namespace rlscale {

struct http_url {
    bool https = true;
    std::string host;  ///< without brackets for an IPv6 literal
    int port = 443;    ///< the scheme's default when the URL has none
    std::string path;  ///< "" or starting with '/', without a trailing '/'

    /// The Host header (RFC 9110 §7.2): the host, bracketed when it is an
    /// IPv6 literal, and the port unless it is the scheme's default.
    [[nodiscard]] std::string host_header() const {
        std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
        if (port != (https ? 443 : 80)) h += ":" + std::to_string(port);
        return h;
    }

    /// `scheme://host_header()` followed by the path: for messages.
    [[nodiscard]] std::string origin() const { return std::string(https ? "https://" : "http://") + host_header(); }
};

/// Splits `url`. Throws config_error(field) naming the URL for another scheme,
/// no host, an unclosed IPv6 bracket, a port that is not 1-65535, a query or
/// fragment, user information, and, unless `allow_path`, a path.
[[nodiscard]] inline http_url split_http_url(std::string_view url, const std::string& field, bool allow_path) {
    const auto bad = [&](const std::string& what) {
        // The URL as given, its control characters escaped (a CR or LF must
        // not start a new line in a log).
        throw config_error(field, what + ", got \"" + escape_controls(valid_utf8(url, 200)) + "\"");
    };
    http_url a;
    std::string_view rest = url;
    if (rest.starts_with("https://")) {
        rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
        a.https = false;
        a.port = 80;
    } else {
        bad("must start with https:// or http://");
    }
    const std::string shape = allow_path ? "scheme://host[:port][/path]" : "scheme://host[:port] with no path";
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (path.find_first_of("?#") != std::string_view::npos || authority.find_first_of("?#") != std::string_view::npos) {
        bad("must be " + shape + ", without a query or fragment");
    }
    if (authority.find('@') != std::string_view::npos) bad("must be " + shape + ", without user information");
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (!path.empty() && !allow_path) bad("must be " + shape);
    if (path.find_first_of(" \t\r\n") != std::string_view::npos) bad("must have no whitespace in its path");
    a.path = std::string(path);

    std::string_view port;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {  // IPv6 literal: [addr] or [addr]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1) bad("has an unclosed or empty [IPv6] host");
        a.host = std::string(authority.substr(1, close - 1));
        if (a.host.find(':') == std::string::npos || a.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
            bad("has a bracketed host that is not an IPv6 address");
        }
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') bad("must be " + shape);
            port = authority.substr(1);
            has_port = true;
        }
    } else {
        const auto colon = authority.find(':');
        a.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            has_port = true;
        }
    }
    if (a.host.empty()) bad("has no host");
    // A DNS name or an IPv4 address (or the IPv6 literal checked above).
    if (a.host.find(':') == std::string::npos &&
        a.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != std::string::npos) {
        bad("has a host that is not a DNS name or an IP address");
    }
    if (has_port) {
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
            bad("must be " + shape + " with a numeric port");
        }
        a.port = std::stoi(std::string(port));
        if (a.port < 1 || a.port > 65535) bad("has a port outside 1-65535");
    }
    return a;
}

}  // namespace rlscale
