#pragma once

// y = W·x + b for one input vector and a small column-major W (out × in), the
// single-input forward pass of the papers' networks (tens to a few hundred
// units). A general GEMV routine spends more on dispatch and blocking than
// on arithmetic at these sizes, so this kernel takes the rows in blocks
// whose accumulators fit in vector registers and walks the columns once:
// each column contributes one fused multiply-add per register. The blocks
// have compile-time sizes, so the compiler vectorises them for whatever
// instruction set the caller compiles for; no intrinsics, no flags.
//
// Narrow blocks (the 3 or 9 outputs of an actor or Q head) would serialise
// on one accumulator; they split the columns over several partial sums
// instead, so the adds still overlap.

#include <rlscale/nn/detail/packet.hpp>

#include <Eigen/Core>

namespace rlscale::nn::detail {

/// Rows [i0, i0 + Rows) of y = W·x + b, with `Split` partial sums over the
/// columns (column j goes to partial sum j % Split).
template <int Rows, int Split, typename T>
inline void gemv_rows(const T* w, Eigen::Index out, Eigen::Index in, const T* x, const T* b, T* y, Eigen::Index i0,
                      int valid = Rows) noexcept {
    // Fixed-size Eigen arrays: Eigen emits packet instructions for them
    // directly, so the accumulators stay in registers whatever the optimiser
    // decides about plain loops.
    using block = Eigen::Array<T, Rows, 1>;
    using column = Eigen::Map<const block, Eigen::Unaligned>;
    block acc[Split];
    for (int s = 0; s < Split; ++s) {
        acc[s].setZero();
    }
    const T* col = w + i0;
    Eigen::Index j = 0;
    for (; j + Split <= in; j += Split) {
        for (int s = 0; s < Split; ++s) {
            acc[s] += column(col + (j + s) * out) * x[j + s];
        }
    }
    for (; j < in; ++j) {
        acc[0] += column(col + j * out) * x[j];
    }
    for (int s = 1; s < Split; ++s) {
        acc[0] += acc[s];
    }
    if (valid == Rows) {
        Eigen::Map<block, Eigen::Unaligned>(y + i0) = acc[0] + column(b + i0);
    } else {
        for (int r = 0; r < valid; ++r) {
            y[i0 + r] = acc[0][r] + b[i0 + r];
        }
    }
}

/// y = W·x + b; W column-major out × in. `y` must not alias `x`.
///
/// When out ≥ 3, the last 1 to 3 rows are computed as one 4-row vector
/// block (the last 5 to 7 as one 8-row block where registers hold 8 or
/// more), which reads up to 3 values past the end of W; the caller
/// guarantees they are readable. In an mlp they are: the layer's bias (out
/// values) follows its weight in the same vector. The extra lanes are
/// discarded. This keeps a narrow output head (SIMPPO's 3 actions) vectorised.
template <typename T>
inline void gemv_bias(const T* w, Eigen::Index out, Eigen::Index in, const T* x, const T* b, T* y) noexcept {
    // A CPU with two FMA pipes of 4-cycle latency needs 8 independent
    // accumulators to stay busy. The widest block holds 8 vector registers
    // (P = values per register for the instruction set compiled for), so a
    // layer of that height streams each column once, which matters once the
    // weights outgrow the L1 cache; narrower blocks make up the 8 with
    // partial sums over the columns. Measured in bench/ (BM_mlp_forward
    // beside BM_eigen_fixed_forward and BM_eigen_dynamic_forward).
    constexpr int P = packet_size<T>;
    // The tail blocks below cover at most 15 rows past the widest blocks:
    // a wider register (2-byte values under AVX-512) would leave more.
    static_assert(P <= 16, "gemv_bias: the tail blocks assume at most 16 values per register");
    Eigen::Index i = 0;
    for (; i + 8 * P <= out; i += 8 * P) {
        gemv_rows<8 * P, 1>(w, out, in, x, b, y, i);
    }
    if (i + 4 * P <= out) {
        gemv_rows<4 * P, 2>(w, out, in, x, b, y, i);
        i += 4 * P;
    }
    if (i + 2 * P <= out) {
        gemv_rows<2 * P, 4>(w, out, in, x, b, y, i);
        i += 2 * P;
    }
    if (i + P <= out) {
        gemv_rows<P, 8>(w, out, in, x, b, y, i);
        i += P;
    }
    if constexpr (P > 8) {
        if (i + 8 <= out) {
            gemv_rows<8, 8>(w, out, in, x, b, y, i);
            i += 8;
        }
    }
    if constexpr (P > 4) {
        // 5 to 7 rows (SIMPPO's 7 actions) as one 8-row block rather than
        // two 4-row ones: half the multiply-adds and loads, the same sums
        // lane by lane, and the over-read stays within 3 values.
        if (const auto tail = out - i; tail >= 5 && tail < 8) {
            gemv_rows<8, 8>(w, out, in, x, b, y, i, static_cast<int>(tail));
            return;
        }
        if (i + 4 <= out) {
            gemv_rows<4, 8>(w, out, in, x, b, y, i);
            i += 4;
        }
    }
    const auto rest = static_cast<int>(out - i);
    if (rest > 0 && out >= 3) {
        gemv_rows<4, 8>(w, out, in, x, b, y, i, rest);  // over-reads at most 3 values: see above
        return;
    }
    switch (rest) {
        case 2: gemv_rows<2, 8>(w, out, in, x, b, y, i); break;
        case 1: gemv_rows<1, 8>(w, out, in, x, b, y, i); break;
        default: break;
    }
}

}  // namespace rlscale::nn::detail
