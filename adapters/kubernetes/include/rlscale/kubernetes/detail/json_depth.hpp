#pragma once

#include <rlscale/core/text.hpp>

#include <cstddef>
#include <string_view>

namespace rlscale::kubernetes::detail {

/// Deepest nesting of JSON answers the adapters read. Kubernetes objects are
/// far shallower (a Deployment with managedFields stays under 20 levels);
/// nlohmann::json copies, compares and dumps values recursively, so a deeper
/// answer is refused before it is parsed.
inline constexpr std::size_t max_json_depth = 64;

/// Most JSON values an answer the adapters read may hold (counted on the
/// bytes by rlscale::json_value_bound, before parsing): a parsed value
/// takes tens of bytes however short its text, so 16 MiB of `{},` (the
/// client's default max_response_bytes) would take about half a gigabyte.
/// Kubernetes objects hold far fewer: a Deployment with managedFields is a
/// few thousand.
inline constexpr std::size_t max_json_values = std::size_t{1} << 20;

/// True when `json_text` holds more than max_json_values values.
[[nodiscard]] constexpr bool json_too_many_values(std::string_view json_text) noexcept {
    return rlscale::json_value_bound(json_text, max_json_values) > max_json_values;
}

/// True when `json_text` nests deeper than `max_depth` (counted on the bytes
/// by rlscale::json_nesting_depth, which stops as soon as it is too deep).
[[nodiscard]] constexpr bool json_too_deep(std::string_view json_text, std::size_t max_depth = max_json_depth) noexcept {
    return rlscale::json_nesting_depth(json_text, max_depth) > max_depth;
}

}  // namespace rlscale::kubernetes::detail
