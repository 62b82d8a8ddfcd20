#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>

#include <cmath>
#include <string>

namespace rlscale::nn {

namespace detail {

/// Throws rlscale::error naming the loss and the shapes unless target and
/// grad have pred's (Eigen's own checks are off in release builds, where a
/// smaller target or grad would be read or written past its end).
template <typename P, typename T, typename G>
void check_loss_shapes(const char* loss, const Eigen::MatrixBase<P>& pred, const Eigen::MatrixBase<T>& target,
                       const Eigen::MatrixBase<G>& grad) {
    const auto shape = [](Eigen::Index r, Eigen::Index c) { return std::to_string(r) + "x" + std::to_string(c); };
    if (target.rows() != pred.rows() || target.cols() != pred.cols() || grad.rows() != pred.rows() || grad.cols() != pred.cols()) {
        throw error(std::string(loss) + ": pred is " + shape(pred.rows(), pred.cols()) + ", target " + shape(target.rows(), target.cols()) +
                    " and grad " + shape(grad.rows(), grad.cols()) + "; all three must have one shape");
    }
}

}  // namespace detail

// Losses reduce by the mean over every element, as PyTorch does by default
// (reduction='mean'), and write dL/dpred into `grad` (same shape as `pred`).

/// Huber loss with PyTorch `SmoothL1Loss(beta)` semantics: per element
/// d = pred - target, l = 0.5·d²/β if |d| < β, else |d| - 0.5·β. With β = 1
/// it is also `HuberLoss(delta=1)`. Returns the mean. Throws rlscale::error
/// for a β below 0 or NaN (torch refuses it too) and for shapes that differ.
template <typename DerivedP, typename DerivedT, typename DerivedG>
typename DerivedP::Scalar huber_loss(const Eigen::MatrixBase<DerivedP>& pred, const Eigen::MatrixBase<DerivedT>& target,
                                     Eigen::MatrixBase<DerivedG>& grad, typename DerivedP::Scalar beta = 1) {
    using T = typename DerivedP::Scalar;
    detail::check_loss_shapes("huber_loss", pred, target, grad);
    if (!(beta >= 0)) throw error("huber_loss: beta must be >= 0, got " + format_number(beta));
    const auto n = static_cast<T>(pred.size());
    T sum = 0;
    for (Eigen::Index j = 0; j < pred.cols(); ++j) {
        for (Eigen::Index i = 0; i < pred.rows(); ++i) {
            const T d = pred(i, j) - target(i, j);
            if (std::abs(d) < beta) {
                sum += T(0.5) * d * d / beta;
                grad(i, j) = d / beta / n;
            } else {
                sum += std::abs(d) - T(0.5) * beta;
                // sign(d), as torch: 0 at d = 0 (β = 0), and a NaN d stays NaN.
                grad(i, j) = (d > 0 ? T(1) : d < 0 ? T(-1) : d) / n;
            }
        }
    }
    return sum / n;
}

/// Mean squared error, mean over elements of (pred - target)², gradient
/// 2·(pred - target)/n. Returns the mean. Throws rlscale::error for shapes
/// that differ.
template <typename DerivedP, typename DerivedT, typename DerivedG>
typename DerivedP::Scalar mse_loss(const Eigen::MatrixBase<DerivedP>& pred, const Eigen::MatrixBase<DerivedT>& target,
                                   Eigen::MatrixBase<DerivedG>& grad) {
    using T = typename DerivedP::Scalar;
    detail::check_loss_shapes("mse_loss", pred, target, grad);
    const auto n = static_cast<T>(pred.size());
    // The loss first: `grad` may be `pred` or `target` (written in place).
    const T loss = (pred - target).squaredNorm() / n;
    grad.derived() = (pred - target) * (T(2) / n);
    return loss;
}

}  // namespace rlscale::nn
