#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>

#include <cmath>
#include <string>

namespace rlscale::nn {

/// Scales `grad` so that its global L2 norm is at most `max_norm`, as
/// torch.nn.utils.clip_grad_norm_ does (coefficient max_norm/(norm + 1e-6),
/// applied only when below 1). Returns the norm before clipping; a
/// non-finite norm is returned as is and leaves `grad` unchanged, so the
/// caller can skip the step. Throws rlscale::error naming max_norm and its
/// value, with `grad` unchanged, unless max_norm is finite and > 0: a
/// negative one would flip the gradient, 0 would zero it and NaN would
/// never clip (the learners call it only with their validated settings).
template <typename Derived>
typename Derived::Scalar clip_grad_norm(Eigen::MatrixBase<Derived>& grad, typename Derived::Scalar max_norm) {
    using T = typename Derived::Scalar;
    if (!(std::isfinite(max_norm) && max_norm > T(0))) {
        throw error("clip_grad_norm: max_norm must be finite and > 0, got " + format_number(max_norm));
    }
    const T norm = grad.norm();
    if (!std::isfinite(norm)) {
        return norm;
    }
    const T coef = max_norm / (norm + T(1e-6));
    if (coef < T(1)) {
        grad *= coef;
    }
    return norm;
}

}  // namespace rlscale::nn
