#pragma once

// The vector width the hand-blocked kernels (gemv, the small-batch products,
// Adam's step) size their fixed-size blocks by.

#include <Eigen/Core>

namespace rlscale::nn::detail {

/// Values of T per vector register for the instruction set compiled for
/// (16 floats with AVX-512, 8 with AVX2, 4 with SSE; 1 when Eigen
/// vectorises nothing).
template <typename T>
inline constexpr int packet_size =
    EIGEN_MAX_ALIGN_BYTES / static_cast<int>(sizeof(T)) > 0 ? EIGEN_MAX_ALIGN_BYTES / static_cast<int>(sizeof(T)) : 1;

}  // namespace rlscale::nn::detail
