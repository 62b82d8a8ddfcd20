#pragma once

// bfloat16 conversions. A bfloat16 is the top half of a float (8 exponent
// bits, 7 stored mantissa bits): the same range, about 2 to 3 significant
// decimal digits.

#include <Eigen/Core>

#include <bit>
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#define RLSCALE_DETAIL_BFLOAT16_SIMD 1
#endif

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

/// dst[i] = from_bf16(src[i]) for i < n.
inline void widen_bf16_portable(const std::uint16_t* src, float* dst, Eigen::Index n) noexcept {
    for (Eigen::Index i = 0; i < n; ++i) dst[i] = from_bf16(src[i]);
}

/// Adam's two moments rounded back to bfloat16: element i of `m` and `v`
/// (at index first + i of the optimiser) rounded stochastically with
/// r = mix_bits(key, first + i), m with r's low half and v with its high
/// half.
inline void narrow_moments_portable(const float* m, const float* v, std::uint16_t* mo, std::uint16_t* vo, std::uint32_t key,
                                    std::uint32_t first, Eigen::Index n) noexcept {
    for (Eigen::Index i = 0; i < n; ++i) {
        const std::uint32_t r = mix_bits(key, first + static_cast<std::uint32_t>(i));
        mo[i] = to_bf16_stochastic(m[i], r);
        vo[i] = to_bf16_stochastic(v[i], r >> 16);
    }
}

#if RLSCALE_DETAIL_BFLOAT16_SIMD

/// widen_bf16_portable, 16 values at a time (the same values).
inline void widen_bf16(const std::uint16_t* src, float* dst, Eigen::Index n) noexcept {
    Eigen::Index i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
    widen_bf16_portable(src + i, dst + i, n - i);
}

namespace bfloat16_simd {
/// 16 lanes of to_bf16_stochastic(x, r) (r already masked to 16 bits).
inline __m256i round(__m512i u, __m512i r) noexcept {
    const __m512i magnitude = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7f800000));
    const __mmask16 inf = _mm512_cmpeq_epi32_mask(magnitude, _mm512_set1_epi32(0x7f800000));
    const __m512i top = _mm512_srli_epi32(u, 16);
    __m512i out = _mm512_srli_epi32(_mm512_add_epi32(u, r), 16);
    out = _mm512_mask_mov_epi32(out, inf, top);
    out = _mm512_mask_mov_epi32(out, nan, _mm512_or_si512(top, _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(out);
}
}  // namespace bfloat16_simd

/// narrow_moments_portable, 16 values at a time (the same bits).
inline void narrow_moments(const float* m, const float* v, std::uint16_t* mo, std::uint16_t* vo, std::uint32_t key,
                           std::uint32_t first, Eigen::Index n) noexcept {
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i low = _mm512_set1_epi32(0xffff);
    Eigen::Index i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(first + static_cast<std::uint32_t>(i))), lanes);
        __m512i x = _mm512_xor_si512(_mm512_mullo_epi32(index, _mm512_set1_epi32(static_cast<int>(0x9e3779b1U))),
                                     _mm512_set1_epi32(static_cast<int>(key)));
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
        x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0x85ebca6bU)));
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
        x = _mm512_mullo_epi32(x, _mm512_set1_epi32(static_cast<int>(0xc2b2ae35U)));
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
        const __m512i um = _mm512_castps_si512(_mm512_loadu_ps(m + i));
        const __m512i uv = _mm512_castps_si512(_mm512_loadu_ps(v + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(mo + i), bfloat16_simd::round(um, _mm512_and_si512(x, low)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(vo + i), bfloat16_simd::round(uv, _mm512_srli_epi32(x, 16)));
    }
    narrow_moments_portable(m + i, v + i, mo + i, vo + i, key, first + static_cast<std::uint32_t>(i), n - i);
}

#else

inline void widen_bf16(const std::uint16_t* src, float* dst, Eigen::Index n) noexcept { widen_bf16_portable(src, dst, n); }
inline void narrow_moments(const float* m, const float* v, std::uint16_t* mo, std::uint16_t* vo, std::uint32_t key,
                           std::uint32_t first, Eigen::Index n) noexcept {
    narrow_moments_portable(m, v, mo, vo, key, first, n);
}

#endif

}  // namespace rlscale::nn::detail
