#pragma once

// The three matrix products of an mlp's batched passes, for batches of at
// most small_batch_columns samples (PPO's minibatches of 5, SIMPPO's 10),
// or up to max_kernel_columns where a buffer asks (DDPG's batches of 64 and
// 256):
//
//   forward          Y = W·A + b·1ᵀ     (out × n)
//   weight gradient  G = D·Aᵀ, g_b = D·1 (out × in, out)
//   input gradient   X = Wᵀ·D           (in × n)
//
// with W column-major out × in, as an mlp stores it. A general matrix
// product packs both operands into blocks before it multiplies; with a
// handful of columns the packing of W costs about half as much as the
// arithmetic, and the kernel's 4-column blocks leave a ragged remainder.
// These kernels read W where it lies, once per call, and keep the
// n columns' accumulators (or the n columns of D) in vector registers:
//
// - forward: a block of rows of W·A for all n columns at once; each column
//   of W contributes one fused multiply-add per register and column of A.
// - weight gradient: a block of rows of D stays in registers, and each
//   column of G is written once, as the sum over the n samples.
// - input gradient, for a narrow W (a head of fewer than 8 outputs), a
//   wide one of at least 64 inputs on a batch of at
//   most small_batch_columns or at least wide_input_gradient_columns, and
//   in between one of at least 40 rows and 40 inputs in whole blocks of 8:
//   W is transposed into scratch (a register's square of values at a time)
//   and multiplied as a forward pass. Through a W of few inputs (64 × 7,
//   64 × 23) or of a ragged block of inputs (40 × 43 at 64 columns)
//   Eigen's product, which packs Wᵀ once, is faster, and a dot product per
//   output spends as much on reducing its partial sums as on multiplying
//   (measured: bench/mlp_bench.cpp, BM_small_batch_*;
//   small_input_gradient_pays has the figures).
//
// Like gemv.hpp, the blocks have compile-time sizes (fixed-size Eigen
// arrays), so the compiler vectorises them for whatever instruction set the
// caller compiles for; no intrinsics, no flags. The transpose uses Eigen's
// packet transpose (Eigen::internal::ptranspose, which Eigen's own
// products use), for the same reason. The number of columns is a
// template parameter too, dispatched once per call. Sums run in another
// order than Eigen's product, so results agree with it to rounding, not
// bit for bit (tests/nn/small_batch_test.cpp, against products in double).

#include <rlscale/nn/detail/packet.hpp>

#include <Eigen/Core>

#include <algorithm>

namespace rlscale::nn::detail {

/// Largest batch the kernels take by default (mlp_batch_buffer's
/// kernel_columns); wider batches go to Eigen's product.
inline constexpr Eigen::Index small_batch_columns = 10;

/// Largest batch a buffer may ask them to take. Beyond small_batch_columns
/// they were measured at 64 columns, at the shapes of FIRM's DDPG
/// networks (40-row layers, 3- and 1-row heads) and of the SCARLET DQN
/// (128-row layers, a 15-row head; bench/mlp_bench.cpp,
/// BM_small_batch/*_n64), and at 128 and 256 columns at the shapes of
/// CleanRL's DDPG networks (256-row layers of 17, 23 and 256 inputs, 6- and
/// 1-row heads; BM_small_batch/*_n128, *_n256). The forward pass and the
/// weight gradient of the 40-, 128- and 256-row layers beat Eigen's product
/// (1.4–2.0× at 64 columns and at 128); the 15- and 6-row heads' forward
/// passes are 1.7–1.8× slower. The rules draw the lines there (forward
/// from 16 rows, weight gradient from 8), which puts other shapes (8 to 14
/// rows, 16 to 39, and weights other than 40, 128 or 256 rows of up to
/// wide_batch_weight_values values) on a side by interpolation, not by
/// measurement. Larger weights, which each group of column_group columns
/// reads again, were not measured and go to Eigen's.
inline constexpr Eigen::Index max_kernel_columns = 256;
inline constexpr Eigen::Index wide_batch_weight_values = 256 * 256;

/// Batches from which a wide W's input gradient goes to the transposing
/// kernel too (see small_input_gradient_pays).
inline constexpr Eigen::Index wide_input_gradient_columns = 128;

/// Largest wide W (in values) whose input gradient goes to the transposing
/// kernel on batches of up to small_batch_columns: PPO's 64 × 64, the shape
/// measured (see small_input_gradient_pays); larger ones are not.
inline constexpr Eigen::Index small_input_gradient_values = 64 * 64;

/// Largest W (in values) whose input gradient goes to the transposing
/// kernel on batches of more than small_batch_columns and fewer than
/// wide_input_gradient_columns: the shapes measured there go up to the
/// DQN's 128 × 128 (see small_input_gradient_pays); larger ones are not.
inline constexpr Eigen::Index mid_input_gradient_values = 128 * 128;

/// Fewest rows and inputs of a W whose input gradient goes to the
/// transposing kernel on those batches: FIRM's 40 × 40, the smallest shape
/// measured faster there; smaller ones are not measured.
inline constexpr Eigen::Index mid_input_gradient_width = 40;

/// Columns whose accumulators are held in registers at once.
inline constexpr Eigen::Index column_group = 8;

/// Whether a batch of n columns through an out × in weight may go to the
/// kernels at all, for a buffer that allows up to `columns`.
[[nodiscard]] constexpr bool small_batch_fits(Eigen::Index out, Eigen::Index in, Eigen::Index n,
                                              Eigen::Index columns) noexcept {
    return n <= columns && (n <= small_batch_columns || out * in <= wide_batch_weight_values);
}

/// Where each kernel beats Eigen's product (bench/mlp_bench.cpp,
/// BM_small_batch_* beside BM_eigen_batch_*, on AVX2 and AVX-512), given
/// that the batch fits (small_batch_fits). Up to small_batch_columns: for
/// the forward pass at least 8 rows (4 up to 6 columns), for the weight
/// gradient at least 4; with fewer rows their blocks are too narrow to fill
/// a register. Beyond: at least 16 rows for the forward pass and 8 for the
/// weight gradient (see max_kernel_columns). The input gradient the other
/// way round: for a narrow W (fewer than 8 rows) on any batch that fits, and
/// for a W of at least 16 rows and 64 inputs (its transpose's forward pass
/// then has 64 rows or more) on batches of at most small_batch_columns (W
/// of at most small_input_gradient_values) or of wide_input_gradient_columns
/// or more; in between, for a W of at least mid_input_gradient_width rows
/// and inputs, its inputs in whole blocks of 8, of at most
/// mid_input_gradient_values.
/// Measured on the AVX-512 machine
/// through PPO's 64 × 64: 1.6× Eigen's product at 5 columns, 1.4× at 10
/// (since the transpose goes a register's square at a time; before, Eigen's
/// was faster there). Measured at 128 columns: 1.3× Eigen's product through 256 × 256,
/// while through 256 × 17 and 256 × 23 Eigen's is 1.3–2.0× faster (64 to
/// 255 inputs are not measured). At 64 columns: faster through FIRM's
/// 40 × 40 (1.3×) and the DQN's 128 × 128 (1.0–1.3× over two runs), slower
/// through 40 × 10, 40 × 43 and 128 × 15, whose inputs leave a ragged block
/// (DDPG's critic step takes the 40 × 43 head layer's gradient for its
/// first 40 inputs alone, the trunk's outputs: mlp::backward's `first` and
/// `count`). Shapes between 40 × 40 and 128 × 128 and batches other than
/// 64 between 11 and 127 columns are interpolated, not measured; the
/// 15 × 128 head (1.4× faster at 64 columns) is left to Eigen's product,
/// as narrower W than 40 rows are not measured there, and no buffer that
/// allows such batches (DDPG's) has one. See small_input_gradient.
[[nodiscard]] constexpr bool small_forward_pays(Eigen::Index out, Eigen::Index in, Eigen::Index n,
                                                Eigen::Index columns = small_batch_columns) noexcept {
    if (!small_batch_fits(out, in, n, columns)) return false;
    if (n > small_batch_columns) return out >= 16;
    return out >= 8 || (out >= 4 && n <= 6);
}
[[nodiscard]] constexpr bool small_weight_gradient_pays(Eigen::Index out, Eigen::Index in, Eigen::Index n,
                                                        Eigen::Index columns = small_batch_columns) noexcept {
    if (!small_batch_fits(out, in, n, columns)) return false;
    return out >= (n > small_batch_columns ? 8 : 4);
}
[[nodiscard]] constexpr bool small_input_gradient_pays(Eigen::Index out, Eigen::Index in, Eigen::Index n,
                                                       Eigen::Index columns = small_batch_columns) noexcept {
    if (!small_batch_fits(out, in, n, columns)) return false;
    if (out < 8) return true;
    if (out < 16) return false;
    if (n > small_batch_columns && n < wide_input_gradient_columns) {
        return out >= mid_input_gradient_width && in >= mid_input_gradient_width && in % 8 == 0 &&
               out * in <= mid_input_gradient_values;
    }
    return in >= 64 && (n >= wide_input_gradient_columns || out * in <= small_input_gradient_values);
}

// Eigen's packet types carry vector attributes that a template argument
// drops (-Wignored-attributes); only the type's size and Eigen's functions
// on it are used here, as in Eigen's own headers.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
/// Wt = Wᵀ: W out × in column-major (leading dimension out) into `wt`,
/// in × out column-major (leading dimension in). Squares of P × P values go
/// through registers (P = packet_size<T>); the edges value by value.
template <typename T>
inline void transpose_into(const T* w, Eigen::Index out, Eigen::Index in, T* wt) noexcept {
    using packet = typename Eigen::internal::packet_traits<T>::type;
    constexpr int P = Eigen::internal::unpacket_traits<packet>::size;
    const Eigen::Index out_p = out / P * P;
    const Eigen::Index in_p = in / P * P;
    for (Eigen::Index k0 = 0; k0 < in_p; k0 += P) {
        for (Eigen::Index i0 = 0; i0 < out_p; i0 += P) {
            Eigen::internal::PacketBlock<packet, P> square;
            for (int c = 0; c < P; ++c) square.packet[c] = Eigen::internal::ploadu<packet>(w + (k0 + c) * out + i0);
            Eigen::internal::ptranspose(square);
            for (int r = 0; r < P; ++r) Eigen::internal::pstoreu(wt + (i0 + r) * in + k0, square.packet[r]);
        }
    }
    for (Eigen::Index i = out_p; i < out; ++i) {
        for (Eigen::Index k = 0; k < in; ++k) wt[i * in + k] = w[k * out + i];
    }
    for (Eigen::Index k = in_p; k < in; ++k) {
        for (Eigen::Index i = 0; i < out_p; ++i) wt[i * in + k] = w[k * out + i];
    }
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// Calls f(std::integral_constant<int, Rows>, i0) over [0, out) in blocks of
/// 2P, P, 8, 4, 2 and 1 rows (P = packet_size<T>): whole registers
/// first, then narrower ones for the 3 or 7 outputs of a policy head.
template <typename T, typename F>
inline void for_row_blocks(Eigen::Index out, F&& f) {
    constexpr int P = packet_size<T>;
    Eigen::Index i = 0;
    for (; i + 2 * P <= out; i += 2 * P) f(std::integral_constant<int, 2 * P>{}, i);
    if (i + P <= out) {
        f(std::integral_constant<int, P>{}, i);
        i += P;
    }
    if constexpr (P > 8) {
        if (i + 8 <= out) {
            f(std::integral_constant<int, 8>{}, i);
            i += 8;
        }
    }
    if constexpr (P > 4) {
        if (i + 4 <= out) {
            f(std::integral_constant<int, 4>{}, i);
            i += 4;
        }
    }
    if constexpr (P > 2) {
        if (i + 2 <= out) {
            f(std::integral_constant<int, 2>{}, i);
            i += 2;
        }
    }
    if (i < out) f(std::integral_constant<int, 1>{}, i);
}

/// Calls f(std::integral_constant<int, N>{}) for the run-time n in
/// [1, column_group].
template <typename F>
inline void dispatch_columns(Eigen::Index n, F&& f) {
    switch (n) {
        case 1: f(std::integral_constant<int, 1>{}); break;
        case 2: f(std::integral_constant<int, 2>{}); break;
        case 3: f(std::integral_constant<int, 3>{}); break;
        case 4: f(std::integral_constant<int, 4>{}); break;
        case 5: f(std::integral_constant<int, 5>{}); break;
        case 6: f(std::integral_constant<int, 6>{}); break;
        case 7: f(std::integral_constant<int, 7>{}); break;
        case 8: f(std::integral_constant<int, 8>{}); break;
        default: break;
    }
}

template <int Rows, int N, typename T>
inline void small_forward_rows(const T* w, Eigen::Index out, Eigen::Index in, const T* a, Eigen::Index lda,
                               const T* b, T* y, Eigen::Index ldy, Eigen::Index i0) noexcept {
    using block = Eigen::Array<T, Rows, 1>;
    using column = Eigen::Map<const block, Eigen::Unaligned>;
    block acc[N];
    const block bias = b != nullptr ? block(column(b + i0)) : block::Zero();
    for (int j = 0; j < N; ++j) acc[j] = bias;
    const T* wk = w + i0;
    for (Eigen::Index k = 0; k < in; ++k, wk += out) {
        const block wcol = column(wk);
        for (int j = 0; j < N; ++j) acc[j] += wcol * a[j * lda + k];
    }
    for (int j = 0; j < N; ++j) Eigen::Map<block, Eigen::Unaligned>(y + j * ldy + i0) = acc[j];
}

/// Y = W·A + b·1ᵀ for n columns (b null: no bias).
/// W: out × in, column-major (leading dimension out); A: in × n with
/// leading dimension lda; b: out; Y: out × n with leading dimension ldy,
/// not aliasing A. Columns go in groups of up to column_group, each group
/// reading W once.
template <typename T>
inline void small_forward(const T* w, Eigen::Index out, Eigen::Index in, const T* a, Eigen::Index lda, Eigen::Index n,
                          const T* b, T* y, Eigen::Index ldy) noexcept {
    for (Eigen::Index c0 = 0; c0 < n; c0 += column_group) {
        dispatch_columns(std::min(column_group, n - c0), [&](auto cols) {
            for_row_blocks<T>(out, [&](auto rows, Eigen::Index i0) {
                small_forward_rows<decltype(rows)::value, decltype(cols)::value>(w, out, in, a + c0 * lda, lda, b,
                                                                                  y + c0 * ldy, ldy, i0);
            });
        });
    }
}

template <int Rows, int N, bool Accumulate, typename T>
inline void small_weight_gradient_rows(const T* d, Eigen::Index ldd, Eigen::Index out, const T* a, Eigen::Index lda,
                                       Eigen::Index in, T* g, T* gb, Eigen::Index i0) noexcept {
    using block = Eigen::Array<T, Rows, 1>;
    using column = Eigen::Map<const block, Eigen::Unaligned>;
    block dj[N];
    for (int j = 0; j < N; ++j) dj[j] = column(d + j * ldd + i0);
    block sum = dj[0];
    for (int j = 1; j < N; ++j) sum += dj[j];
    Eigen::Map<block, Eigen::Unaligned> bias(gb + i0);
    if constexpr (Accumulate) {
        bias += sum;
    } else {
        bias = sum;
    }
    T* gk = g + i0;
    for (Eigen::Index k = 0; k < in; ++k, gk += out) {
        block acc = dj[0] * a[k];
        for (int j = 1; j < N; ++j) acc += dj[j] * a[j * lda + k];
        Eigen::Map<block, Eigen::Unaligned> gcol(gk);
        if constexpr (Accumulate) {
            gcol += acc;
        } else {
            gcol = acc;
        }
    }
}

/// G = D·Aᵀ and g_b = D·1 for n columns. D: out × n
/// with leading dimension ldd; A: in × n with leading dimension lda; G:
/// out × in column-major (leading dimension out); g_b: out. Columns go in
/// groups of up to column_group; the first group writes G, later ones add.
template <typename T>
inline void small_weight_gradient(const T* d, Eigen::Index ldd, Eigen::Index out, const T* a, Eigen::Index lda,
                                  Eigen::Index in, Eigen::Index n, T* g, T* gb) noexcept {
    for (Eigen::Index c0 = 0; c0 < n; c0 += column_group) {
        dispatch_columns(std::min(column_group, n - c0), [&](auto cols) {
            for_row_blocks<T>(out, [&](auto rows, Eigen::Index i0) {
                constexpr int R = decltype(rows)::value;
                constexpr int N = decltype(cols)::value;
                if (c0 == 0) {
                    small_weight_gradient_rows<R, N, false>(d, ldd, out, a, lda, in, g, gb, i0);
                } else {
                    small_weight_gradient_rows<R, N, true>(d + c0 * ldd, ldd, out, a + c0 * lda, lda, in, g, gb, i0);
                }
            });
        });
    }
}

/// X = Wᵀ·D for n columns, where small_input_gradient_pays says (a policy
/// or value head of fewer than 8 rows, a W of up to 64 × 64 on a batch of
/// up to small_batch_columns, or a wide W on a large batch). W
/// (out × in) is transposed into `wt` (in × out, column-major: in · out
/// values), then multiplied as a forward pass without bias. D: out × n with
/// leading dimension ldd; X: in × n with leading dimension ldx.
template <typename T>
inline void small_input_gradient(const T* w, Eigen::Index out, Eigen::Index in, const T* d, Eigen::Index ldd,
                                 Eigen::Index n, T* x, Eigen::Index ldx, T* wt) noexcept {
    transpose_into(w, out, in, wt);
    small_forward(wt, in, out, d, ldd, n, static_cast<const T*>(nullptr), x, ldx);
}

}  // namespace rlscale::nn::detail
