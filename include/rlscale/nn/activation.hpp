#pragma once

#include <rlscale/core/error.hpp>

#include <Eigen/Core>

#include <string>
#include <string_view>

namespace rlscale::nn {

/// Element-wise activation applied after a layer's affine map.
enum class activation { identity, relu, tanh };

[[nodiscard]] constexpr std::string_view to_string(activation a) noexcept {
    switch (a) {
        case activation::identity: return "identity";
        case activation::relu: return "relu";
        case activation::tanh: return "tanh";
    }
    return "identity";
}

/// Parses the names written by `to_string`; throws config_error naming `field`.
[[nodiscard]] inline activation activation_from_string(std::string_view name, const std::string& field = "activation") {
    if (name == "identity") return activation::identity;
    if (name == "relu") return activation::relu;
    if (name == "tanh") return activation::tanh;
    throw config_error(field, "unknown activation \"" + std::string(name) + "\" (expected identity, relu or tanh)");
}

/// Applies `a` in place: x <- f(x).
template <typename Derived>
void activate(activation a, Eigen::DenseBase<Derived>& x) {
    switch (a) {
        case activation::identity: break;
        case activation::relu: x.derived() = x.derived().cwiseMax(typename Derived::Scalar(0)); break;
        case activation::tanh: x.derived() = x.derived().array().tanh().matrix(); break;
    }
}

/// Back-propagates through `a` in place: delta <- delta ⊙ f'(z), where f' is
/// written in terms of the activation's output y = f(z) (ReLU: y > 0;
/// tanh: 1 - y²), so the forward pass need not keep pre-activations.
template <typename DerivedDelta, typename DerivedY>
void activation_backward(activation a, Eigen::DenseBase<DerivedDelta>& delta, const Eigen::DenseBase<DerivedY>& y) {
    using T = typename DerivedDelta::Scalar;
    switch (a) {
        case activation::identity: break;
        case activation::relu:
            delta.derived() = (y.derived().array() > T(0)).select(delta.derived().array(), T(0)).matrix();
            break;
        case activation::tanh:
            delta.derived() = (delta.derived().array() * (T(1) - y.derived().array().square())).matrix();
            break;
    }
}

}  // namespace rlscale::nn
