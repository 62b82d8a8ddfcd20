#pragma once

/// One concept per kind of component. Each model is followed, in its own
/// header or in the tests, by a static_assert that it satisfies its concept.

#include <Eigen/Core>

#include <concepts>
#include <cstdint>

namespace rlscale {

/// A first-order optimiser over a flat parameter vector: `step(θ, ∇θ)`
/// updates θ in place.
template <typename O>
concept optimizer = requires(O& opt, Eigen::Map<Eigen::Matrix<typename O::scalar, Eigen::Dynamic, 1>> params,
                             const Eigen::Matrix<typename O::scalar, Eigen::Dynamic, 1>& grad) {
    typename O::scalar;
    opt.step(params, grad);
    { opt.step_count() } -> std::convertible_to<std::int64_t>;
};

}  // namespace rlscale
