#pragma once

// Helpers shared by the tests: finite-difference gradients and relative error.

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace rlscale::test {

/// ‖a - b‖ / max(‖a‖ + ‖b‖, tiny): the usual relative error of a gradient check.
template <typename A, typename B>
double relative_error(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
    const double diff = (a.template cast<double>() - b.template cast<double>()).norm();
    const double scale = std::max(a.template cast<double>().norm() + b.template cast<double>().norm(), 1e-300);
    return diff / scale;
}

/// Central differences of scalar f with respect to every element of x
/// (x is restored afterwards).
template <typename F>
Eigen::VectorXd numerical_gradient(F&& f, Eigen::Ref<Eigen::VectorXd> x, double h = 1e-6) {
    Eigen::VectorXd g(x.size());
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double saved = x[i];
        x[i] = saved + h;
        const double up = f();
        x[i] = saved - h;
        const double down = f();
        x[i] = saved;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

}  // namespace rlscale::test
