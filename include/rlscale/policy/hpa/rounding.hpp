#pragma once

/// The float-to-integer conversions of the HPA controller, saturated the way
/// Kubernetes saturates them (counts capped at MaxInt32, Go's int32(float64)
/// truncation). Shared by the replica calculator and the rate limits.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace rlscale::hpa::detail {

inline constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

/// ⌈x⌉ as an int, saturated to the int32 range (Kubernetes caps at MaxInt32).
[[nodiscard]] inline int ceil_to_int(double x) noexcept {
    if (!(x == x)) return 0;
    const double c = std::ceil(x);
    if (c >= static_cast<double>(int32_max)) return static_cast<int>(int32_max);
    if (c <= -static_cast<double>(int32_max)) return -static_cast<int>(int32_max);
    return static_cast<int>(c);
}

/// trunc(x) as an int, saturated to the int32 range (Go's int32(float64)).
[[nodiscard]] inline int trunc_to_int(double x) noexcept {
    if (!(x == x)) return 0;
    const double t = std::trunc(x);
    if (t >= static_cast<double>(int32_max)) return static_cast<int>(int32_max);
    if (t <= -static_cast<double>(int32_max)) return -static_cast<int>(int32_max);
    return static_cast<int>(t);
}

/// ⌈x⌉ as an int64, saturated to its range.
[[nodiscard]] inline std::int64_t ceil_to_int64(double x) noexcept {
    if (!(x == x)) return 0;
    const double c = std::ceil(x);
    if (c >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
    if (c <= -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(c);
}

/// `v` as an int, saturated to the int32 range.
[[nodiscard]] inline int clamp_to_int(std::int64_t v) noexcept {
    return static_cast<int>(std::clamp<std::int64_t>(v, -int32_max, int32_max));
}

}  // namespace rlscale::hpa::detail
