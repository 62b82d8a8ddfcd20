#pragma once

/// Orthogonal weight initialisation (PPO's usual choice). Apart from
/// init.hpp because it needs Eigen's QR decomposition, which serving code
/// does not.

#include <rlscale/core/random.hpp>

#include <Eigen/Core>
#include <Eigen/QR>

#include <algorithm>
#include <random>

namespace rlscale::nn {

/// Orthogonal initialisation (Saxe et al. 2014), as torch.nn.init.orthogonal_
/// draws it: a (out × in) matrix of standard normal draws from `gen`
/// (row-major order, transposed first when out < in), its QR decomposition,
/// Q with each column's sign made that of R's diagonal (so the result is
/// uniform over orthogonal matrices), transposed back, times `gain`. The
/// rows (out ≤ in) or columns (out > in) of the weight are then orthonormal
/// up to the gain. Allocates (initialisation time only).
template <typename DerivedW, std::uniform_random_bit_generator Gen>
void initialize_orthogonal(Eigen::MatrixBase<DerivedW>& weight, double gain, Gen& gen) {
    using T = typename DerivedW::Scalar;
    const Eigen::Index rows = weight.rows();
    const Eigen::Index cols = weight.cols();
    Eigen::MatrixXd a(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i) {
        for (Eigen::Index j = 0; j < cols; ++j) a(i, j) = standard_normal(gen);
    }
    const bool wide = rows < cols;
    if (wide) a.transposeInPlace();
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
    const Eigen::Index k = std::min(a.rows(), a.cols());
    Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(a.rows(), k);
    for (Eigen::Index j = 0; j < k; ++j) {
        if (qr.matrixQR()(j, j) < 0) q.col(j) = -q.col(j);
    }
    if (wide) q.transposeInPlace();
    weight = (gain * q).template cast<T>();
}

}  // namespace rlscale::nn
