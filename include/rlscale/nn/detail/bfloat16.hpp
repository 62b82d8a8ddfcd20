#pragma once

// bfloat16 conversions. A bfloat16 is the top half of a float (8 exponent
// bits, 7 stored mantissa bits): the same range, about 2 to 3 significant
// decimal digits.

#include <bit>
#include <cstdint>

namespace rlscale::nn::detail {

/// float → bfloat16 bits, rounded to nearest even. NaN stays a (quiet) NaN
/// and a subnormal becomes a zero of its sign, as vcvtneps2bf16 does.
[[nodiscard]] inline std::uint16_t to_bf16(float x) noexcept {
    std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    if ((u & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>((u >> 16) | 0x40U);
    if ((u & 0x7f800000U) == 0) return static_cast<std::uint16_t>((u >> 16) & 0x8000U);
    u += 0x7fffU + ((u >> 16) & 1U);
    return static_cast<std::uint16_t>(u >> 16);
}

/// bfloat16 bits → float (exact).
[[nodiscard]] inline float from_bf16(std::uint16_t b) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// float → bfloat16 bits, rounded stochastically with the 16 random bits
/// `r`: up to the next bfloat16 with probability (x − down)/(up − down),
/// else down (toward zero in magnitude), so the expected result is x. This
/// keeps changes far below bfloat16's resolution in expectation, where
/// rounding to nearest would drop them every time. A finite x past the
/// largest bfloat16 may become infinity, as any rounding up does; NaN stays
/// a quiet NaN. Subnormals are rounded like any other value.
[[nodiscard]] inline std::uint16_t to_bf16_stochastic(float x, std::uint32_t r) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
    if ((u & 0x7fffffffU) > 0x7f800000U) return static_cast<std::uint16_t>((u >> 16) | 0x40U);
    if ((u & 0x7fffffffU) == 0x7f800000U) return static_cast<std::uint16_t>(u >> 16);  // ±infinity
    return static_cast<std::uint16_t>((u + (r & 0xffffU)) >> 16);
}

/// 32 well-mixed bits from a key and an index (MurmurHash3's finaliser of
/// the index's Weyl-sequence value mixed with the key): a counter-based
/// random stream, so any element's bits at any step can be computed without
/// state. Distinct indices under one key give distinct outputs.
[[nodiscard]] constexpr std::uint32_t mix_bits(std::uint32_t key, std::uint32_t index) noexcept {
    std::uint32_t x = (index * 0x9e3779b1U) ^ key;
    x ^= x >> 16;
    x *= 0x85ebca6bU;
    x ^= x >> 13;
    x *= 0xc2b2ae35U;
    x ^= x >> 16;
    return x;
}

}  // namespace rlscale::nn::detail
