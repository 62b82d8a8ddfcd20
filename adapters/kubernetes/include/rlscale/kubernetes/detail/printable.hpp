#pragma once

#include <rlscale/core/text.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rlscale::kubernetes::detail {

/// Text from outside (an answer body, a field of a foreign object, a name a
/// caller passed) made safe to put into an error message, and from there
/// into a log line or a JSON document. Stricter than rlscale::valid_utf8,
/// for text shown to an operator:
/// - valid UTF-8 is kept;
/// - each byte that is not part of a well-formed UTF-8 sequence (Latin-1
///   text, a stray continuation byte, a sequence cut short, an overlong
///   form, a surrogate, a code point above U+10FFFF) becomes `\xNN`;
/// - control characters (U+0000-U+001F except whitespace, U+007F,
///   U+0080-U+009F) and the line separators U+2028/U+2029 become `\uNNNN`;
/// - each run of ASCII whitespace (space, tab, CR, LF, VT, FF) becomes one
///   space, with none at either end, so a multi-line HTML page reads as one line.
/// The result is at most `max_bytes` bytes; when the text does not fit it
/// ends with "..." (if `max_bytes` >= 3), and it never ends in the middle of
/// a character or of an escape. Reads only as much of `text` as it needs
/// (plus any whitespace run), so a multi-megabyte body costs no more than a
/// short one.
[[nodiscard]] inline std::string printable_excerpt(std::string_view text, std::size_t max_bytes) {
    constexpr std::string_view ellipsis = "...";
    constexpr const char* hex = "0123456789ABCDEF";
    std::string out;
    std::size_t keep_if_cut = 0;  // the longest prefix of `out` that leaves room for the ellipsis
    bool pending_space = false;
    char escape[6] = {'\\', 'u', '0', '0', '0', '0'};
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            pending_space = !out.empty();
            ++i;
            continue;
        }
        const std::size_t n = rlscale::utf8_sequence_length(text.substr(i));
        std::string_view piece = text.substr(i, n == 0 ? 1 : n);
        if (n == 0) {  // an invalid byte
            const auto b = static_cast<unsigned char>(c);
            escape[1] = 'x';
            escape[2] = hex[b >> 4];
            escape[3] = hex[b & 0xF];
            piece = std::string_view(escape, 4);
        } else {
            std::uint32_t cp = static_cast<unsigned char>(c);
            if (n == 2) cp = ((cp & 0x1F) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
            if (n == 3) cp = ((cp & 0x0F) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3F) << 6) |
                             (static_cast<unsigned char>(text[i + 2]) & 0x3F);
            if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
                escape[1] = 'u';
                for (int k = 0; k < 4; ++k) escape[2 + k] = hex[(cp >> (12 - 4 * k)) & 0xF];
                piece = std::string_view(escape, 6);
            }
        }
        if (out.size() + (pending_space ? 1 : 0) + piece.size() > max_bytes) {
            if (max_bytes >= ellipsis.size()) {
                out.resize(keep_if_cut);
                out += ellipsis;
            }
            return out;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += piece;
        if (out.size() + ellipsis.size() <= max_bytes) keep_if_cut = out.size();
        i += n == 0 ? 1 : n;
    }
    return out;
}

}  // namespace rlscale::kubernetes::detail
