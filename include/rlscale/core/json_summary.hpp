#pragma once

/// A bounded description of a JSON value for an error message, for values
/// that came from outside (a file, a server, a request) and may be huge or
/// nested too deep to walk.

#include <rlscale/core/text.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace rlscale {

/// A scalar as JSON writes it, an array or object by its type and size;
/// never a recursive dump. A string is cut to 64 bytes of valid UTF-8 (then
/// "…") and written as a JSON string: its quotes and backslashes escaped, and
/// its control characters (C0, DEL and C1: U+0000-U+001F, U+007F-U+009F) as
/// `\n`, `\u001b` and the like, so that a value from outside cannot close the
/// quotes early, start a new line in a log or move the cursor of a terminal.
/// Any other text (multibyte characters included) is kept as it is.
[[nodiscard]] inline std::string json_summary(const nlohmann::json& value) {
    if (value.is_array()) return "an array of " + std::to_string(value.size());
    if (value.is_object()) return "an object of " + std::to_string(value.size()) + " fields";
    if (!value.is_string()) return value.dump();
    // dump() escapes C0 and keeps the rest of valid UTF-8 (no ensure_ascii);
    // valid_utf8 leaves nothing for the error handler, which is there only so
    // that this never throws.
    const std::string dumped = nlohmann::json(valid_utf8(value.get_ref<const std::string&>(), 64))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(dumped.size());
    constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < dumped.size(); ++i) {
        const auto c = static_cast<unsigned char>(dumped[i]);
        unsigned code = 0x100;  // not a control character
        if (c == 0x7f) {
            code = c;
        } else if (c == 0xc2 && i + 1 < dumped.size() && static_cast<unsigned char>(dumped[i + 1]) <= 0x9f) {
            code = static_cast<unsigned char>(dumped[++i]);  // C1, U+0080-U+009F, encoded C2 80-C2 9F
        }
        if (code == 0x100) {
            out += dumped[i];
        } else {
            out += "\\u00";
            out += hex[code >> 4];
            out += hex[code & 15];
        }
    }
    return out;
}

}  // namespace rlscale
