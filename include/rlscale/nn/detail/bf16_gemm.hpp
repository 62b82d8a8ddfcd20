#pragma once

// C = A·B with bfloat16 operands and float accumulation: the matrix products
// of an mlp's batched passes when its batch buffer asks for
// matmul_precision::bf16. A bfloat16 is the top half of a float (8 exponent
// bits, 7 stored mantissa bits), so a conversion is a rounding of the
// mantissa and the range is that of float.
//
// Operand layout. vdpbf16ps multiplies, in each 32-bit lane, two bf16 of one
// operand by two bf16 of the other and adds both products to a float
// accumulator. Both operands are therefore stored as 32-bit "pairs": two
// consecutive elements along the summed dimension k (k = 2q in the low half,
// k = 2q + 1 in the high half; an odd K is padded with a zero).
//
// - A (M × K) is packed in panels of 16 rows: panel p holds, for each pair
//   q, 16 words (rows 16p..16p+15), so one 512-bit load gives one pair of 16
//   rows. Word (m, q) is at apack[(m / 16) · Kp · 16 + q · 16 + m % 16], with
//   Kp = ceil(K / 2); rows beyond M are zero.
// - B (K × N) is read one word at a time and broadcast, so any layout will
//   do: word (q, n) is at b[q · bq + n · bn]. A column-major bf16 matrix has
//   bq = 1, bn = Kp (to_bf16_columns); the transpose of a column-major float
//   matrix with `rows` rows, packed by pack_pairs, has bq = rows, bn = 1.
//
// The SIMD path (AVX-512 BF16) and the portable one round the operands the
// same way (the tests check it bit for bit) and sum in a different order, so
// their products agree to float rounding, not bit for bit.

#include <rlscale/nn/detail/bfloat16.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>
#define RLSCALE_DETAIL_BF16_SIMD 1
#endif

namespace rlscale::nn::detail {

inline constexpr Eigen::Index bf16_panel_rows = 16;  ///< rows per packed panel of A (one 512-bit accumulator)

/// Pairs along a dimension of `k` elements: ceil(k / 2).
[[nodiscard]] constexpr Eigen::Index bf16_pairs(Eigen::Index k) noexcept { return (k + 1) / 2; }

/// `rows` rounded up to whole panels.
[[nodiscard]] constexpr Eigen::Index bf16_padded_rows(Eigen::Index rows) noexcept {
    return (rows + bf16_panel_rows - 1) / bf16_panel_rows * bf16_panel_rows;
}

/// Words of a packed A of M × K.
[[nodiscard]] constexpr Eigen::Index bf16_packed_words(Eigen::Index m, Eigen::Index k) noexcept {
    return bf16_padded_rows(m) * bf16_pairs(k);
}

[[nodiscard]] inline std::uint32_t bf16_pair(float even, float odd) noexcept {
    return static_cast<std::uint32_t>(to_bf16(even)) | (static_cast<std::uint32_t>(to_bf16(odd)) << 16);
}

// ---------------------------------------------------------------- portable

/// dst(q, r) = pair(src(r, 2q), src(r, 2q + 1)) for r < rows, q < ceil(cols / 2),
/// and 0 for rows ≤ r < padded_rows; src column-major (leading dimension ld),
/// dst(q, r) at dst[q · q_stride + r]. A missing column 2q + 1 counts as 0.
inline void pack_pairs_portable(const float* src, Eigen::Index ld, Eigen::Index rows, Eigen::Index padded_rows,
                                Eigen::Index cols, std::uint32_t* dst, Eigen::Index q_stride) noexcept {
    for (Eigen::Index q = 0; q < bf16_pairs(cols); ++q) {
        const float* even = src + 2 * q * ld;
        const bool has_odd = 2 * q + 1 < cols;
        std::uint32_t* out = dst + q * q_stride;
        for (Eigen::Index r = 0; r < rows; ++r) out[r] = bf16_pair(even[r], has_odd ? even[ld + r] : 0.0F);
        for (Eigen::Index r = rows; r < padded_rows; ++r) out[r] = 0;
    }
}

/// B from a column-major float matrix (K × N, leading dimension ld): word
/// (q, n) = pair(src(2q, n), src(2q + 1, n)) at dst[n · ceil(K / 2) + q]
/// (so bq = 1, bn = ceil(K / 2)); an odd K is padded with a zero.
inline void to_bf16_columns_portable(const float* src, Eigen::Index ld, Eigen::Index k, Eigen::Index n,
                                     std::uint32_t* dst) noexcept {
    const Eigen::Index kp = bf16_pairs(k);
    for (Eigen::Index j = 0; j < n; ++j) {
        const float* in = src + j * ld;
        for (Eigen::Index q = 0; q < kp; ++q) dst[j * kp + q] = bf16_pair(in[2 * q], 2 * q + 1 < k ? in[2 * q + 1] : 0.0F);
    }
}

/// Packs A = Wᵀ into panels, W column-major (K × M, leading dimension ld):
/// word (m, q) = pair(W(2q, m), W(2q + 1, m)).
inline void pack_a_transposed_bf16_portable(const float* w, Eigen::Index ld, Eigen::Index k, Eigen::Index m,
                                            std::uint32_t* apack) noexcept {
    const Eigen::Index kp = bf16_pairs(k);
    for (Eigen::Index i = 0; i < bf16_padded_rows(m); ++i) {
        std::uint32_t* out = apack + (i / bf16_panel_rows) * kp * bf16_panel_rows + i % bf16_panel_rows;
        for (Eigen::Index q = 0; q < kp; ++q) {
            if (i < m) {
                const float* col = w + i * ld;
                out[q * bf16_panel_rows] = bf16_pair(col[2 * q], 2 * q + 1 < k ? col[2 * q + 1] : 0.0F);
            } else {
                out[q * bf16_panel_rows] = 0;
            }
        }
    }
}

/// C (M × N, column-major, leading dimension ldc) = A · B on the layouts
/// above, each pair's two products added to a float accumulator.
inline void gemm_bf16_portable(Eigen::Index m, Eigen::Index n, Eigen::Index kp, const std::uint32_t* apack,
                               const std::uint32_t* b, Eigen::Index bq, Eigen::Index bn, float* c,
                               Eigen::Index ldc) noexcept {
    for (Eigen::Index j = 0; j < n; ++j) {
        for (Eigen::Index i = 0; i < m; ++i) {
            const std::uint32_t* a = apack + (i / bf16_panel_rows) * kp * bf16_panel_rows + i % bf16_panel_rows;
            float acc = 0;
            for (Eigen::Index q = 0; q < kp; ++q) {
                const std::uint32_t wa = a[q * bf16_panel_rows];
                const std::uint32_t wb = b[q * bq + j * bn];
                acc += from_bf16(static_cast<std::uint16_t>(wa)) * from_bf16(static_cast<std::uint16_t>(wb)) +
                       from_bf16(static_cast<std::uint16_t>(wa >> 16)) * from_bf16(static_cast<std::uint16_t>(wb >> 16));
            }
            c[j * ldc + i] = acc;
        }
    }
}

// ---------------------------------------------------------------- AVX-512 BF16

#ifdef RLSCALE_DETAIL_BF16_SIMD

[[nodiscard]] inline __mmask16 bf16_row_mask(Eigen::Index rows) noexcept {
    return rows >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1U << rows) - 1U);
}

/// 16 words: pair(even[r], odd[r]) for the rows in `mask`, 0 elsewhere.
[[nodiscard]] inline __m512i bf16_pair16(const float* even, const float* odd, __mmask16 mask) noexcept {
    const __m512 e = _mm512_maskz_loadu_ps(mask, even);
    const __m512 o = odd != nullptr ? _mm512_maskz_loadu_ps(mask, odd) : _mm512_setzero_ps();
    const __m512i lo = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(e)));
    const __m512i hi = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(o)));
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

inline void pack_pairs_simd(const float* src, Eigen::Index ld, Eigen::Index rows, Eigen::Index padded_rows,
                            Eigen::Index cols, std::uint32_t* dst, Eigen::Index q_stride) noexcept {
    for (Eigen::Index q = 0; q < bf16_pairs(cols); ++q) {
        const float* even = src + 2 * q * ld;
        const float* odd = 2 * q + 1 < cols ? even + ld : nullptr;
        std::uint32_t* out = dst + q * q_stride;
        Eigen::Index r = 0;
        for (; r + 16 <= rows; r += 16) {
            _mm512_storeu_si512(out + r, bf16_pair16(even + r, odd != nullptr ? odd + r : nullptr, 0xffff));
        }
        for (; r < padded_rows; r += 16) {
            const __m512i w = r < rows ? bf16_pair16(even + r, odd != nullptr ? odd + r : nullptr, bf16_row_mask(rows - r))
                                       : _mm512_setzero_si512();
            _mm512_mask_storeu_epi32(out + r, bf16_row_mask(padded_rows - r), w);
        }
    }
}

inline void to_bf16_columns_simd(const float* src, Eigen::Index ld, Eigen::Index k, Eigen::Index n,
                                 std::uint32_t* dst) noexcept {
    const Eigen::Index kp = bf16_pairs(k);
    for (Eigen::Index j = 0; j < n; ++j) {
        const float* in = src + j * ld;
        std::uint32_t* out = dst + j * kp;
        // 32 floats (16 words) at a time; the last chunk's loads are masked,
        // so an odd K's pad comes out as a zero.
        for (Eigen::Index i = 0; i < k; i += 32) {
            const Eigen::Index left = k - i;
            const __m512 lo = _mm512_maskz_loadu_ps(bf16_row_mask(left), in + i);
            const __m512 hi = left > 16 ? _mm512_maskz_loadu_ps(bf16_row_mask(left - 16), in + i + 16) : _mm512_setzero_ps();
            const __m512i words = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_mask_storeu_epi32(out + i / 2, bf16_row_mask(kp - i / 2), words);
        }
    }
}

/// Transposes 16 × 16 32-bit words in place: r[l] word q becomes r[q] word l.
inline void transpose16x16_epi32(__m512i r[16]) noexcept {
    __m512i t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + j], 128-bit lane k: word 4k + j of rows 4g..4g+3.
    __m512i u[16];
    for (int g = 0; g < 4; ++g) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        const __m512i even_lo = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88);
        const __m512i odd_lo = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xdd);
        const __m512i even_hi = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88);
        const __m512i odd_hi = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xdd);
        r[j] = _mm512_shuffle_i32x4(even_lo, even_hi, 0x88);
        r[8 + j] = _mm512_shuffle_i32x4(even_lo, even_hi, 0xdd);
        r[4 + j] = _mm512_shuffle_i32x4(odd_lo, odd_hi, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(odd_lo, odd_hi, 0xdd);
    }
}

/// Packs A = Wᵀ: each 16 columns × 32 rows of W become 16 × 16 words
/// (a column's 32 floats are 16 consecutive pairs), transposed into 16 pairs
/// of the panel.
inline void pack_a_transposed_bf16_simd(const float* w, Eigen::Index ld, Eigen::Index k, Eigen::Index m,
                                        std::uint32_t* apack) noexcept {
    const Eigen::Index kp = bf16_pairs(k);
    for (Eigen::Index p = 0; p * bf16_panel_rows < m; ++p) {
        const Eigen::Index cols = std::min<Eigen::Index>(m - p * bf16_panel_rows, bf16_panel_rows);
        std::uint32_t* panel = apack + p * kp * bf16_panel_rows;
        for (Eigen::Index k0 = 0; k0 < k; k0 += 32) {
            const Eigen::Index left = k - k0;
            __m512i r[16];
            for (Eigen::Index l = 0; l < 16; ++l) {
                if (l < cols) {
                    const float* col = w + (p * bf16_panel_rows + l) * ld + k0;
                    const __m512 lo = _mm512_maskz_loadu_ps(bf16_row_mask(left), col);
                    const __m512 hi = left > 16 ? _mm512_maskz_loadu_ps(bf16_row_mask(left - 16), col + 16) : _mm512_setzero_ps();
                    r[l] = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
                } else {
                    r[l] = _mm512_setzero_si512();
                }
            }
            transpose16x16_epi32(r);
            const Eigen::Index pairs = std::min<Eigen::Index>(kp - k0 / 2, 16);
            for (Eigen::Index q = 0; q < pairs; ++q) _mm512_storeu_si512(panel + (k0 / 2 + q) * bf16_panel_rows, r[q]);
        }
    }
}

/// One tile: P panels (16·P rows, `rows` of them real) × NR columns.
template <int P, int NR>
inline void gemm_bf16_tile(Eigen::Index kp, const std::uint32_t* a, const std::uint32_t* b, Eigen::Index bq,
                           Eigen::Index bn, float* c, Eigen::Index ldc, Eigen::Index rows) noexcept {
    __m512 acc[P][NR];
    for (int i = 0; i < P; ++i) {
        for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
    }
    const Eigen::Index panel_words = kp * bf16_panel_rows;
    for (Eigen::Index q = 0; q < kp; ++q) {
        __m512bh av[P];
        for (int i = 0; i < P; ++i) {
            av[i] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(a + i * panel_words + q * bf16_panel_rows));
        }
        const std::uint32_t* bw = b + q * bq;
        for (int j = 0; j < NR; ++j) {
            const __m512bh bb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(bw[j * bn])));
            for (int i = 0; i < P; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av[i], bb);
        }
    }
    for (int j = 0; j < NR; ++j) {
        for (int i = 0; i < P; ++i) {
            const Eigen::Index left = rows - 16 * i;
            if (left >= 16) {
                _mm512_storeu_ps(c + j * ldc + 16 * i, acc[i][j]);
            } else {
                _mm512_mask_storeu_ps(c + j * ldc + 16 * i, bf16_row_mask(left), acc[i][j]);
            }
        }
    }
}

inline constexpr int bf16_tile_panels = 4;  ///< rows per tile: 4 panels (64 rows)
inline constexpr int bf16_tile_cols = 6;    ///< columns per tile: 4 × 6 = 24 accumulators

template <int P>
inline void gemm_bf16_row_tile(Eigen::Index n, Eigen::Index kp, const std::uint32_t* a, const std::uint32_t* b,
                               Eigen::Index bq, Eigen::Index bn, float* c, Eigen::Index ldc, Eigen::Index rows) noexcept {
    Eigen::Index j = 0;
    for (; j + bf16_tile_cols <= n; j += bf16_tile_cols) {
        gemm_bf16_tile<P, bf16_tile_cols>(kp, a, b + j * bn, bq, bn, c + j * ldc, ldc, rows);
    }
    const auto rest = b + j * bn;
    float* cr = c + j * ldc;
    switch (n - j) {
        case 5: gemm_bf16_tile<P, 5>(kp, a, rest, bq, bn, cr, ldc, rows); break;
        case 4: gemm_bf16_tile<P, 4>(kp, a, rest, bq, bn, cr, ldc, rows); break;
        case 3: gemm_bf16_tile<P, 3>(kp, a, rest, bq, bn, cr, ldc, rows); break;
        case 2: gemm_bf16_tile<P, 2>(kp, a, rest, bq, bn, cr, ldc, rows); break;
        case 1: gemm_bf16_tile<P, 1>(kp, a, rest, bq, bn, cr, ldc, rows); break;
        default: break;
    }
}

inline void gemm_bf16_simd(Eigen::Index m, Eigen::Index n, Eigen::Index kp, const std::uint32_t* apack,
                           const std::uint32_t* b, Eigen::Index bq, Eigen::Index bn, float* c,
                           Eigen::Index ldc) noexcept {
    const Eigen::Index panel_words = kp * bf16_panel_rows;
    for (Eigen::Index i = 0; i < m; i += bf16_tile_panels * bf16_panel_rows) {
        const Eigen::Index rows = std::min<Eigen::Index>(m - i, bf16_tile_panels * bf16_panel_rows);
        const std::uint32_t* a = apack + (i / bf16_panel_rows) * panel_words;
        switch ((rows + bf16_panel_rows - 1) / bf16_panel_rows) {
            case 4: gemm_bf16_row_tile<4>(n, kp, a, b, bq, bn, c + i, ldc, rows); break;
            case 3: gemm_bf16_row_tile<3>(n, kp, a, b, bq, bn, c + i, ldc, rows); break;
            case 2: gemm_bf16_row_tile<2>(n, kp, a, b, bq, bn, c + i, ldc, rows); break;
            default: gemm_bf16_row_tile<1>(n, kp, a, b, bq, bn, c + i, ldc, rows); break;
        }
    }
}

#endif  // RLSCALE_DETAIL_BF16_SIMD

// ---------------------------------------------------------------- dispatch

// The dispatchers' bodies depend on the instruction set a translation unit is
// compiled for; an inline namespace named after it gives the two builds'
// dispatchers different names. That does not make translation units built
// for different instruction sets safe to link together: their callers
// (mlp's products, and everything else in rlscale, as in Eigen) are inline
// functions and templates of one name whose bodies differ by target, and the
// linker keeps one copy. Every translation unit of a program that includes
// rlscale must be compiled with the same -march (docs/cmake.md).
#ifdef RLSCALE_DETAIL_BF16_SIMD
inline namespace bf16_avx512 {
#else
inline namespace bf16_portable {
#endif

/// True when the AVX-512 BF16 kernels are compiled in.
[[nodiscard]] constexpr bool bf16_simd_available() noexcept {
#ifdef RLSCALE_DETAIL_BF16_SIMD
    return true;
#else
    return false;
#endif
}

inline void pack_pairs(const float* src, Eigen::Index ld, Eigen::Index rows, Eigen::Index padded_rows,
                       Eigen::Index cols, std::uint32_t* dst, Eigen::Index q_stride) noexcept {
#ifdef RLSCALE_DETAIL_BF16_SIMD
    pack_pairs_simd(src, ld, rows, padded_rows, cols, dst, q_stride);
#else
    pack_pairs_portable(src, ld, rows, padded_rows, cols, dst, q_stride);
#endif
}

/// Packs A (M × K, column-major, leading dimension ld) into panels.
inline void pack_a_bf16(const float* src, Eigen::Index ld, Eigen::Index m, Eigen::Index k, std::uint32_t* apack) noexcept {
    const Eigen::Index panel_words = bf16_pairs(k) * bf16_panel_rows;
    for (Eigen::Index p = 0; p * bf16_panel_rows < m; ++p) {
        const Eigen::Index rows = std::min<Eigen::Index>(m - p * bf16_panel_rows, bf16_panel_rows);
        pack_pairs(src + p * bf16_panel_rows, ld, rows, bf16_panel_rows, k, apack + p * panel_words, bf16_panel_rows);
    }
}

/// Packs A = Wᵀ (M × K) from W (K × M, column-major, leading dimension ld) into panels.
inline void pack_a_transposed_bf16(const float* w, Eigen::Index ld, Eigen::Index k, Eigen::Index m,
                                   std::uint32_t* apack) noexcept {
#ifdef RLSCALE_DETAIL_BF16_SIMD
    pack_a_transposed_bf16_simd(w, ld, k, m, apack);
#else
    pack_a_transposed_bf16_portable(w, ld, k, m, apack);
#endif
}

inline void to_bf16_columns(const float* src, Eigen::Index ld, Eigen::Index k, Eigen::Index n, std::uint32_t* dst) noexcept {
#ifdef RLSCALE_DETAIL_BF16_SIMD
    to_bf16_columns_simd(src, ld, k, n, dst);
#else
    to_bf16_columns_portable(src, ld, k, n, dst);
#endif
}

inline void gemm_bf16(Eigen::Index m, Eigen::Index n, Eigen::Index kp, const std::uint32_t* apack,
                      const std::uint32_t* b, Eigen::Index bq, Eigen::Index bn, float* c, Eigen::Index ldc) noexcept {
#ifdef RLSCALE_DETAIL_BF16_SIMD
    gemm_bf16_simd(m, n, kp, apack, b, bq, bn, c, ldc);
#else
    gemm_bf16_portable(m, n, kp, apack, b, bq, bn, c, ldc);
#endif
}

}  // inline namespace

}  // namespace rlscale::nn::detail

#undef RLSCALE_DETAIL_BF16_SIMD
