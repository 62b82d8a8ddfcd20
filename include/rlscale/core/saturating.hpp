#pragma once

/// Integer arithmetic that saturates at the type's limits instead of
/// overflowing, and the one conversion from a computed double to a replica
/// count. Every replica, step or milli-unit sum in rlscale goes through these.

#include <cmath>
#include <concepts>
#include <limits>

namespace rlscale {

/// a + b, saturated at the limits of T instead of overflowing.
template <std::signed_integral T>
[[nodiscard]] constexpr T saturating_add(T a, T b) noexcept {
    T r{};
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
    return r;
}

/// a − b, saturated at the limits of T instead of overflowing.
template <std::signed_integral T>
[[nodiscard]] constexpr T saturating_sub(T a, T b) noexcept {
    T r{};
    if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
    return r;
}

/// a × b, saturated at the limits of T instead of overflowing.
template <std::signed_integral T>
[[nodiscard]] constexpr T saturating_mul(T a, T b) noexcept {
    T r{};
    if (__builtin_mul_overflow(a, b, &r)) {
        return (a < 0) != (b < 0) ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
    }
    return r;
}

/// ⌈x⌉ as a replica count: clamped to ±10⁹ before rounding so that huge
/// values cannot overflow; NaN gives 0.
[[nodiscard]] inline int saturating_ceil(double x) noexcept {
    if (!(x == x)) return 0;
    if (x >= 1e9) return 1'000'000'000;
    if (x <= -1e9) return -1'000'000'000;
    return static_cast<int>(std::ceil(x));
}

}  // namespace rlscale
