#pragma once

/// A bounded description of a JSON value for an error message, for values
/// that came from outside (a file, a server, a request) and may be huge or
/// nested too deep to walk.

#include <rlscale/core/text.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace rlscale {

/// A scalar as it is written (a string cut to 64 bytes of valid UTF-8), an
/// array or object by its type and size; never a recursive dump.
[[nodiscard]] inline std::string json_summary(const nlohmann::json& value) {
    if (value.is_array()) return "an array of " + std::to_string(value.size());
    if (value.is_object()) return "an object of " + std::to_string(value.size()) + " fields";
    if (value.is_string()) return "\"" + valid_utf8(value.get_ref<const std::string&>(), 64) + "\"";
    return value.dump();
}

}  // namespace rlscale
