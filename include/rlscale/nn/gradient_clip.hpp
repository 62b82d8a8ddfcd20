#pragma once

#include <Eigen/Core>

#include <cmath>

namespace rlscale::nn {

/// Scales `grad` so that its global L2 norm is at most `max_norm`, as
/// torch.nn.utils.clip_grad_norm_ does (coefficient max_norm/(norm + 1e-6),
/// applied only when below 1). Returns the norm before clipping; a
/// non-finite norm is returned as is and leaves `grad` unchanged, so the
/// caller can skip the step.
template <typename Derived>
typename Derived::Scalar clip_grad_norm(Eigen::MatrixBase<Derived>& grad, typename Derived::Scalar max_norm) {
    using T = typename Derived::Scalar;
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
