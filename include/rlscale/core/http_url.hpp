#pragma once

/// The parts of an HTTP server's URL, `http[s]://host[:port][/path]`, split
/// without an HTTP library: cpp-httplib's own URL parser takes an IPv6
/// literal only of digits and colons, so `[fd00:10:96::1]` (the usual
/// in-cluster service address) cannot be reached through it. The HTTP
/// adapters connect by host and port and send `host_header()` as Host.

#include <rlscale/core/error.hpp>
#include <rlscale/core/text.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

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

namespace detail {

/// A host name as DNS and the resolver take it: dot-separated labels of
/// 1-63 letters, digits, '-' and '_', none starting or ending with '-', at
/// most 253 characters, with an optional final dot (an absolute name). '_' is
/// not in RFC 952/1123 host names but resolvers look such names up (Docker
/// Compose service names), and it was accepted before.
[[nodiscard]] inline bool is_dns_host(std::string_view host) noexcept {
    if (host.ends_with('.')) host.remove_suffix(1);
    if (host.empty() || host.size() > 253) return false;
    std::size_t label = 0;  // length of the label so far
    char previous = '.';
    for (const char c : host) {
        if (c == '.') {
            if (label == 0 || previous == '-') return false;
            label = 0;
        } else {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            if (!ok || (c == '-' && label == 0) || ++label > 63) return false;
        }
        previous = c;
    }
    return label > 0 && previous != '-';
}

}  // namespace detail

/// Splits `url`. Throws config_error(field) naming the URL (its control
/// characters escaped) for another scheme, a control character (U+0000-U+001F,
/// U+007F) anywhere, no host, an unclosed bracket or a bracketed host that is
/// not an IPv6 address (inet_pton's syntax, no zone id), a host that is
/// neither a DNS name (detail::is_dns_host) nor a dotted-quad IPv4 address
/// (an all-numeric host must be one, and so must a host inet_aton reads as
/// an address, such as 0x7f.0.0.1, 0x7f000001 or 127.1), a port that is not
/// 1-65535, a query or fragment, user information, whitespace in the path
/// and, unless `allow_path`, a path.
[[nodiscard]] inline http_url split_http_url(std::string_view url, const std::string& field, bool allow_path) {
    const auto bad = [&](const std::string& what) {
        // The URL as given, its control characters escaped (a CR or LF must
        // not start a new line in a log).
        throw config_error(field, what + ", got \"" + escape_controls(valid_utf8(url, 200)) + "\"");
    };
    for (const char ch : url) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) bad("must have no control characters");
    }
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
        in6_addr addr{};
        if (a.host.find(':') == std::string::npos || a.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos ||
            ::inet_pton(AF_INET6, a.host.c_str(), &addr) != 1) {
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
    // A DNS name or an IPv4 address (or the IPv6 literal checked above). A
    // name's last label is never all digits, so an all-numeric host is meant
    // as an IPv4 address and must be a whole dotted quad. So must a host that
    // inet_aton reads as an address, in hexadecimal, octal or short form
    // (0x7f.0.0.1, 0x7f000001, 0x7f.1, 1.2.3.0x4), or would read but for a
    // final dot: getaddrinfo reads it as inet_aton does and connects to that
    // address with no lookup, so it is an IPv4 address that would otherwise
    // pass for a name.
    if (a.host.find(':') == std::string::npos) {
        in_addr addr{};
        const std::string bare = a.host.ends_with('.') ? a.host.substr(0, a.host.size() - 1) : a.host;
        const bool numeric = a.host.find_first_not_of("0123456789.") == std::string::npos || ::inet_aton(bare.c_str(), &addr) != 0;
        if (numeric ? ::inet_pton(AF_INET, a.host.c_str(), &addr) != 1 : !detail::is_dns_host(a.host)) {
            bad("has a host that is not a DNS name or an IP address");
        }
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
