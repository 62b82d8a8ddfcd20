#pragma once

// y = W·x in integers, for one input vector: W signed 8-bit (out × in), x
// unsigned 8-bit, y 32-bit. The kernel of quantized_mlp. A single-input
// forward pass of a 128-unit network is bound by streaming its weights: as
// floats they outgrow the 32 KB L1 cache and come from L2; as bytes they are
// a quarter of the size and stay in L1, and one VNNI instruction does 64
// multiply-adds.
//
// Weight layout ("packed"): W is padded with zeros to a multiple of 16 rows
// and 4 columns and stored as 64-byte blocks of 16 rows × 4 consecutive
// columns. Inside a block, row r's 4 columns are bytes 4r..4r+3, which is
// the operand layout of vpdpbusd: each 32-bit lane multiplies 4 weight
// bytes by the same 4 input bytes and adds the 4 products to its
// accumulator, so one block times one broadcast 4-byte group of x updates
// 16 rows. Blocks are ordered by row block, then by column group: block
// (rb, g) starts at byte (rb · groups + g) · 64, with groups = padded in / 4,
// so one row block's weights are contiguous and read front to back.
// int8_packed_offset gives the byte of element (i, j).
//
// Every path computes exact integer sums (the largest, 255 · 127 · in, fits
// 32 bits for any in below 66,000, and vpdpbusd does not saturate), so the
// SIMD paths and the portable one agree bit for bit; the tests check it.
//
// The caller provides x with padded-in readable bytes (their values are
// irrelevant: the padded columns of W are zero) and room in y for padded-out
// values (the padded rows come out as 0).

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__) || defined(__AVXVNNI__)
#include <immintrin.h>
#endif

namespace rlscale::nn::detail {

inline constexpr Eigen::Index int8_block_rows = 16;  ///< rows per packed block (one 512-bit accumulator)
inline constexpr Eigen::Index int8_block_cols = 4;   ///< columns per packed block (one vpdpbusd lane)
inline constexpr Eigen::Index int8_block_bytes = int8_block_rows * int8_block_cols;

/// `out` rounded up to whole row blocks.
[[nodiscard]] constexpr Eigen::Index int8_padded_rows(Eigen::Index out) noexcept {
    return (out + int8_block_rows - 1) / int8_block_rows * int8_block_rows;
}

/// `in` rounded up to whole column groups.
[[nodiscard]] constexpr Eigen::Index int8_padded_cols(Eigen::Index in) noexcept {
    return (in + int8_block_cols - 1) / int8_block_cols * int8_block_cols;
}

/// Byte offset of W(i, j) in the packed layout of a matrix with `in` columns.
[[nodiscard]] constexpr Eigen::Index int8_packed_offset(Eigen::Index i, Eigen::Index j, Eigen::Index in) noexcept {
    const Eigen::Index groups = int8_padded_cols(in) / int8_block_cols;
    const Eigen::Index block = (i / int8_block_rows) * groups + j / int8_block_cols;
    return block * int8_block_bytes + (i % int8_block_rows) * int8_block_cols + j % int8_block_cols;
}

/// y = W·x on the packed layout in plain C++: the reference for the SIMD
/// paths, and the kernel where none is compiled in. Writes padded-out values.
inline void int8_gemv_portable(const std::int8_t* w, Eigen::Index out, Eigen::Index in, const std::uint8_t* x,
                               std::int32_t* y) noexcept {
    const Eigen::Index groups = int8_padded_cols(in) / int8_block_cols;
    const Eigen::Index blocks = int8_padded_rows(out) / int8_block_rows;
    for (Eigen::Index rb = 0; rb < blocks; ++rb) {
        std::int32_t acc[int8_block_rows] = {};
        for (Eigen::Index g = 0; g < groups; ++g) {
            const std::int8_t* block = w + (rb * groups + g) * int8_block_bytes;
            const std::uint8_t* xg = x + g * int8_block_cols;
            for (Eigen::Index r = 0; r < int8_block_rows; ++r) {
                for (Eigen::Index k = 0; k < int8_block_cols; ++k) {
                    acc[r] += std::int32_t{xg[k]} * std::int32_t{block[r * int8_block_cols + k]};
                }
            }
        }
        for (Eigen::Index r = 0; r < int8_block_rows; ++r) {
            y[rb * int8_block_rows + r] = acc[r];
        }
    }
}

/// x's 4 bytes of column group g as one 32-bit value, to be broadcast to
/// every lane (memcpy: x has no alignment and the bytes have no int type).
[[nodiscard]] inline std::int32_t int8_load_group(const std::uint8_t* x, Eigen::Index g) noexcept {
    std::int32_t v = 0;
    std::memcpy(&v, x + g * int8_block_cols, sizeof v);
    return v;
}

/// Walks `blocks` row blocks in tiles for a SIMD kernel: tiles of `Max`
/// blocks, then at most one tile of each smaller power of two, calling
/// `kernel(blocks, split, first)` with both counts as integral constants.
/// A tile of fewer blocks splits the columns over Max / blocks partial sums,
/// so every tile keeps the same number of accumulators in flight.
template <int Blocks, int Max, typename Kernel>
inline void int8_tail_tiles(Eigen::Index b, Eigen::Index blocks, const Kernel& kernel) noexcept {
    if constexpr (Blocks >= 1) {
        if (b + Blocks <= blocks) {
            kernel(std::integral_constant<int, Blocks>{}, std::integral_constant<int, Max / Blocks>{}, b);
            b += Blocks;
        }
        int8_tail_tiles<Blocks / 2, Max>(b, blocks, kernel);
    }
}

template <int Max, typename Kernel>
inline void int8_for_tiles(Eigen::Index blocks, const Kernel& kernel) noexcept {
    Eigen::Index b = 0;
    for (; b + Max <= blocks; b += Max) kernel(std::integral_constant<int, Max>{}, std::integral_constant<int, 1>{}, b);
    int8_tail_tiles<Max / 2, Max>(b, blocks, kernel);
}

#if defined(__AVX512VNNI__) && defined(__AVX512F__)

/// Row blocks [b0, b0 + Blocks) with `Split` partial sums over the column
/// groups (group g goes to partial sum g % Split). One vpdpbusd has a
/// latency of several cycles, so a single accumulator chain would leave the
/// unit idle: Blocks × Split independent chains (8) keep it busy, as in
/// gemv.hpp.
template <int Blocks, int Split>
inline void int8_gemv_blocks_avx512(const std::int8_t* w, Eigen::Index groups, const std::uint8_t* x,
                                    std::int32_t* y, Eigen::Index b0) noexcept {
    __m512i acc[Blocks][Split];
    for (int b = 0; b < Blocks; ++b) {
        for (int s = 0; s < Split; ++s) {
            acc[b][s] = _mm512_setzero_si512();
        }
    }
    const std::int8_t* first = w + b0 * groups * int8_block_bytes;
    const auto step = [&](Eigen::Index g, int s) {
        const __m512i xg = _mm512_set1_epi32(int8_load_group(x, g));
        for (int b = 0; b < Blocks; ++b) {
            const __m512i wb = _mm512_loadu_si512(first + (b * groups + g) * int8_block_bytes);
            acc[b][s] = _mm512_dpbusd_epi32(acc[b][s], xg, wb);
        }
    };
    Eigen::Index g = 0;
    for (; g + Split <= groups; g += Split) {
        for (int s = 0; s < Split; ++s) {
            step(g + s, s);
        }
    }
    for (; g < groups; ++g) {
        step(g, 0);
    }
    for (int b = 0; b < Blocks; ++b) {
        for (int s = 1; s < Split; ++s) {
            acc[b][0] = _mm512_add_epi32(acc[b][0], acc[b][s]);
        }
        _mm512_storeu_si512(y + (b0 + b) * int8_block_rows, acc[b][0]);
    }
}

/// y = W·x with AVX-512 VNNI: one 512-bit vpdpbusd per packed block.
inline void int8_gemv_avx512_vnni(const std::int8_t* w, Eigen::Index out, Eigen::Index in, const std::uint8_t* x,
                                  std::int32_t* y) noexcept {
    const Eigen::Index groups = int8_padded_cols(in) / int8_block_cols;
    int8_for_tiles<8>(int8_padded_rows(out) / int8_block_rows, [&](auto blocks, auto split, Eigen::Index b) {
        int8_gemv_blocks_avx512<decltype(blocks)::value, decltype(split)::value>(w, groups, x, y, b);
    });
}

#endif

#if defined(__AVXVNNI__)

/// As int8_gemv_blocks_avx512 with 256-bit registers: a packed block is two
/// halves of 8 rows each (bytes 0..31 and 32..63), so the same layout
/// serves both. At most 8 accumulators, since AVX2 has 16 registers.
template <int Blocks, int Split>
inline void int8_gemv_blocks_avx_vnni(const std::int8_t* w, Eigen::Index groups, const std::uint8_t* x,
                                      std::int32_t* y, Eigen::Index b0) noexcept {
    __m256i acc[Blocks][2][Split];
    for (int b = 0; b < Blocks; ++b) {
        for (int h = 0; h < 2; ++h) {
            for (int s = 0; s < Split; ++s) {
                acc[b][h][s] = _mm256_setzero_si256();
            }
        }
    }
    const std::int8_t* first = w + b0 * groups * int8_block_bytes;
    const auto step = [&](Eigen::Index g, int s) {
        const __m256i xg = _mm256_set1_epi32(int8_load_group(x, g));
        for (int b = 0; b < Blocks; ++b) {
            const std::int8_t* block = first + (b * groups + g) * int8_block_bytes;
            for (int h = 0; h < 2; ++h) {
                const __m256i wh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + h * 32));
                acc[b][h][s] = _mm256_dpbusd_avx_epi32(acc[b][h][s], xg, wh);
            }
        }
    };
    Eigen::Index g = 0;
    for (; g + Split <= groups; g += Split) {
        for (int s = 0; s < Split; ++s) {
            step(g + s, s);
        }
    }
    for (; g < groups; ++g) {
        step(g, 0);
    }
    for (int b = 0; b < Blocks; ++b) {
        for (int h = 0; h < 2; ++h) {
            for (int s = 1; s < Split; ++s) {
                acc[b][h][0] = _mm256_add_epi32(acc[b][h][0], acc[b][h][s]);
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + (b0 + b) * int8_block_rows + h * 8), acc[b][h][0]);
        }
    }
}

/// y = W·x with AVX-VNNI (256-bit vpdpbusd, e.g. Alder Lake, Zen 5 without
/// AVX-512 enabled): two instructions per packed block.
inline void int8_gemv_avx_vnni(const std::int8_t* w, Eigen::Index out, Eigen::Index in, const std::uint8_t* x,
                               std::int32_t* y) noexcept {
    const Eigen::Index groups = int8_padded_cols(in) / int8_block_cols;
    int8_for_tiles<4>(int8_padded_rows(out) / int8_block_rows, [&](auto blocks, auto split, Eigen::Index b) {
        int8_gemv_blocks_avx_vnni<decltype(blocks)::value, decltype(split)::value>(w, groups, x, y, b);
    });
}

#endif

// Quantizing an activation vector to the kernel's unsigned bytes: the scan
// for its range and the conversion. Both run once per layer on a vector as
// wide as the layer, and in plain C++ they cost as much as the product
// itself (the compiler does not vectorise a float min/max reduction, nor
// narrow floats to bytes well), so they have an AVX-512 path too. Both paths
// give identical results: min and max are exact, the SIMD path's fused
// multiply-add is std::fma in the portable one, and both round in the
// current rounding mode (to nearest, ties to even, unless changed).

/// The range [lo, hi] of a vector, widened to include 0.
struct float_range {
    float lo = 0.0F;
    float hi = 0.0F;
};

/// min(0, a_j...) and max(0, a_j...) over a[0..n); a NaN is skipped.
[[nodiscard]] inline float_range range_with_zero_portable(const float* a, Eigen::Index n) noexcept {
    float_range r;
    for (Eigen::Index j = 0; j < n; ++j) {
        r.lo = a[j] < r.lo ? a[j] : r.lo;  // false for a NaN, which keeps the bound
        r.hi = a[j] > r.hi ? a[j] : r.hi;
    }
    return r;
}

/// u_j = round(clamp(a_j · inv + z, 0, 255)) for j in [0, n), the product
/// and sum fused; a NaN gives 0.
inline void quantize_u8_portable(const float* a, Eigen::Index n, float inv, float z, std::uint8_t* u) noexcept {
    for (Eigen::Index j = 0; j < n; ++j) {
        float v = std::fma(a[j], inv, z);
        v = v > 0.0F ? v : 0.0F;  // a NaN fails the comparison and becomes 0
        v = v < 255.0F ? v : 255.0F;
        u[j] = static_cast<std::uint8_t>(std::nearbyint(v));
    }
}

#if defined(__AVX512F__)

[[nodiscard]] inline float_range range_with_zero_avx512(const float* a, Eigen::Index n) noexcept {
    // vminps/vmaxps return their second operand when either is a NaN, so
    // with the running bound second a NaN is skipped, as in the portable path.
    __m512 lo = _mm512_setzero_ps();
    __m512 hi = _mm512_setzero_ps();
    Eigen::Index j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 v = _mm512_loadu_ps(a + j);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    // The lanes hold no NaN, so reducing them in any order is exact: swap
    // the 256-bit halves, then the 128-bit quarters, then pairs and single
    // values within each quarter, keeping the min (max) each time. (GCC
    // 12's _mm512_reduce_min_ps trips its own -Wuninitialized.)
    const auto reduce = [](__m512 v, auto op) {
        v = op(v, _mm512_shuffle_f32x4(v, v, 0x4E));
        v = op(v, _mm512_shuffle_f32x4(v, v, 0xB1));
        v = op(v, _mm512_permute_ps(v, 0x4E));
        v = op(v, _mm512_permute_ps(v, 0xB1));
        return _mm512_cvtss_f32(v);
    };
    float_range out = range_with_zero_portable(a + j, n - j);
    out.lo = std::min(out.lo, reduce(lo, [](__m512 x, __m512 y) { return _mm512_min_ps(x, y); }));
    out.hi = std::max(out.hi, reduce(hi, [](__m512 x, __m512 y) { return _mm512_max_ps(x, y); }));
    return out;
}

inline void quantize_u8_avx512(const float* a, Eigen::Index n, float inv, float z, std::uint8_t* u) noexcept {
    const __m512 inv_v = _mm512_set1_ps(inv);
    const __m512 z_v = _mm512_set1_ps(z);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 top = _mm512_set1_ps(255.0F);
    Eigen::Index j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), inv_v, z_v);
        v = _mm512_min_ps(_mm512_max_ps(v, zero), top);  // a NaN becomes 0 (second operand)
        // Convert in the current rounding mode, then keep the low byte of
        // each 32-bit lane (the values are already in 0..255).
        _mm_storeu_si128(reinterpret_cast<__m128i*>(u + j), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    quantize_u8_portable(a + j, n - j, inv, z, u + j);
}

/// dequantize_portable with 16 rows per step (the last step masked).
inline void dequantize_avx512(const std::int32_t* acc, const std::int32_t* row_sum, const float* row_scale,
                              const float* bias, float sigma, std::int32_t z, Eigen::Index n, float* y) noexcept {
    const __m512 sigma_v = _mm512_set1_ps(sigma);
    const __m512i z_v = _mm512_set1_epi32(z);
    for (Eigen::Index i = 0; i < n; i += 16) {
        const Eigen::Index left = n - i;
        const __mmask16 m = left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1U << left) - 1U);
        const __m512i exact = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, acc + i),
                                               _mm512_mullo_epi32(z_v, _mm512_maskz_loadu_epi32(m, row_sum + i)));
        const __m512 scale = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row_scale + i), sigma_v);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(exact), _mm512_maskz_loadu_ps(m, bias + i)));
    }
}

#endif

/// y_i = fma(s_i σ, (acc_i − z · rs_i), b_i) for i in [0, n): a layer's
/// output from its 32-bit sums (quantized_mlp's dequantization; the integer
/// part is exact, its conversion to float rounds to nearest).
inline void dequantize_portable(const std::int32_t* acc, const std::int32_t* row_sum, const float* row_scale,
                                const float* bias, float sigma, std::int32_t z, Eigen::Index n, float* y) noexcept {
    for (Eigen::Index i = 0; i < n; ++i) {
        y[i] = std::fma(row_scale[i] * sigma, static_cast<float>(acc[i] - z * row_sum[i]), bias[i]);
    }
}

/// dequantize_portable, vectorised where the caller compiles for AVX-512.
inline void dequantize(const std::int32_t* acc, const std::int32_t* row_sum, const float* row_scale, const float* bias,
                       float sigma, std::int32_t z, Eigen::Index n, float* y) noexcept {
#if defined(__AVX512F__)
    dequantize_avx512(acc, row_sum, row_scale, bias, sigma, z, n, y);
#else
    dequantize_portable(acc, row_sum, row_scale, bias, sigma, z, n, y);
#endif
}

/// range_with_zero_portable, vectorised where the caller compiles for AVX-512.
[[nodiscard]] inline float_range range_with_zero(const float* a, Eigen::Index n) noexcept {
#if defined(__AVX512F__)
    return range_with_zero_avx512(a, n);
#else
    return range_with_zero_portable(a, n);
#endif
}

/// quantize_u8_portable, vectorised where the caller compiles for AVX-512.
inline void quantize_u8(const float* a, Eigen::Index n, float inv, float z, std::uint8_t* u) noexcept {
#if defined(__AVX512F__)
    quantize_u8_avx512(a, n, inv, z, u);
#else
    quantize_u8_portable(a, n, inv, z, u);
#endif
}

/// Which kernel int8_gemv uses, chosen when the caller is compiled (no
/// run-time dispatch: the library adds no flags, the caller's -march decides).
[[nodiscard]] constexpr const char* int8_gemv_path() noexcept {
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
    return "avx512_vnni";
#elif defined(__AVXVNNI__)
    return "avx_vnni";
#else
    return "portable";
#endif
}

/// y = W·x, W packed (see the top of this file), x with int8_padded_cols(in)
/// readable bytes, y with room for int8_padded_rows(out) values.
inline void int8_gemv(const std::int8_t* w, Eigen::Index out, Eigen::Index in, const std::uint8_t* x,
                      std::int32_t* y) noexcept {
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
    int8_gemv_avx512_vnni(w, out, in, x, y);
#elif defined(__AVXVNNI__)
    int8_gemv_avx_vnni(w, out, in, x, y);
#else
    int8_gemv_portable(w, out, in, x, y);
#endif
}

}  // namespace rlscale::nn::detail
