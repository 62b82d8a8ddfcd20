#pragma once

/// Text that came from outside (a server's answer, a file, a request) made
/// safe to carry in messages and JSON: valid UTF-8, bounded in length.

#include <cstddef>
#include <string>
#include <string_view>

namespace rlscale {

/// The length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF) at the start of `s`, or 0 if it does
/// not start with one.
[[nodiscard]] constexpr std::size_t utf8_sequence_length(std::string_view s) noexcept {
    if (s.empty()) return 0;
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;  // overlong
        if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;  // overlong
        if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < n) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    }
    return n;
}

/// Whether all of `s` is valid UTF-8.
[[nodiscard]] constexpr bool is_valid_utf8(std::string_view s) noexcept {
    while (!s.empty()) {
        const std::size_t n = utf8_sequence_length(s);
        if (n == 0) return false;
        s.remove_prefix(n);
    }
    return true;
}

/// `s` as valid UTF-8: each byte that does not start a valid sequence
/// becomes U+FFFD. The result holds at most `max_bytes` bytes of text,
/// never a character cut in half, and then `ellipsis` to mark the cut.
[[nodiscard]] inline std::string valid_utf8(std::string_view s, std::size_t max_bytes = std::string_view::npos,
                                            std::string_view ellipsis = "\xE2\x80\xA6" /* … */) {
    constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    out.reserve(s.size() < max_bytes ? s.size() : max_bytes);
    while (!s.empty()) {
        const std::size_t n = utf8_sequence_length(s);
        const std::string_view piece = n == 0 ? replacement : s.substr(0, n);
        if (piece.size() > max_bytes - out.size()) {
            out += ellipsis;
            break;
        }
        out += piece;
        s.remove_prefix(n == 0 ? 1 : n);
    }
    return out;
}

/// Whether `a` and `b` are equal with ASCII letters compared without case,
/// as HTTP compares tokens (a content coding, a connection option).
[[nodiscard]] constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

/// `s` without the spaces and tabs around it (HTTP's optional whitespace
/// around a list element, RFC 9110 §5.6.1).
[[nodiscard]] constexpr std::string_view trim_http_spaces(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// `s` with each control character (C0: U+0000-U+001F, DEL: U+007F, and
/// C1: U+0080-U+009F, the bytes C2 80 to C2 9F in UTF-8) written as `\xNN`
/// a byte at a time and each backslash doubled (`\\`), so that text from
/// outside cannot start a new line or move the cursor in a log (NEL U+0085
/// and CSI U+009B do on some terminals), nor pass a literal `\x0a` off as
/// an escaped line feed: the result reads back unambiguously. Everything
/// else is kept.
[[nodiscard]] inline std::string escape_controls(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    const auto escaped = [&out](unsigned char c) {
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
        if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c == 0x7f) {
            escaped(c);
        } else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
            escaped(c);
            escaped(next);
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

/// `s` escaped for a double-quoted string as PromQL and Prometheus' text
/// exposition format read it: backslash, double quote and line feed are
/// escaped, everything else is kept.
[[nodiscard]] inline std::string escape_double_quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out;
}

namespace detail {
/// Calls `visit(c)` for each character of the JSON text `s` outside its
/// strings (neither a string's characters nor its quotes) until it returns
/// false.
template <typename Visit>
constexpr void for_each_outside_strings(std::string_view s, Visit&& visit) noexcept {
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;  // the escaped character cannot end the string
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (!visit(c)) return;
    }
}
}  // namespace detail

/// The deepest nesting of arrays and objects in the JSON text `s` (brackets
/// inside strings do not count), found without parsing, so that a document
/// nested too deep for a recursive walk (dump(), a copy) can be refused
/// before it is built. Stops counting at `limit` + 1.
[[nodiscard]] constexpr std::size_t json_nesting_depth(std::string_view s, std::size_t limit = 1'000'000) noexcept {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    detail::for_each_outside_strings(s, [&](char c) {
        if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
            return deepest <= limit;
        }
        if ((c == ']' || c == '}') && depth > 0) --depth;
        return true;
    });
    return deepest;
}

/// An upper bound on the number of values (numbers, strings, literals,
/// arrays and objects, members' values included) in the JSON text `s`: 1
/// plus its commas and opening brackets outside strings, found without
/// parsing, so that a document that would take too much memory to build
/// (a parsed value takes tens of bytes however short its text) can be
/// refused first. Stops counting at `limit` + 1.
[[nodiscard]] constexpr std::size_t json_value_bound(std::string_view s, std::size_t limit = static_cast<std::size_t>(-1) - 1) noexcept {
    std::size_t count = 1;
    detail::for_each_outside_strings(s, [&](char c) {
        if (c == ',' || c == '[' || c == '{') return ++count <= limit;
        return true;
    });
    return count;
}

}  // namespace rlscale
