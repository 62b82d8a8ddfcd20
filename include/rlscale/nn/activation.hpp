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

namespace detail {

/// tanh in place over `n` contiguous values, as `activate(activation::tanh,
/// ...)` computes it: whole vector registers through Eigen's own packet
/// tanh (the function its `.tanh()` expression evaluates), four registers
/// per iteration, so their long dependency chains are issued together, and
/// the last values (fewer than a register) through the expression itself.
/// Eigen's loop over a dynamic-size vector takes one register per
/// iteration. The single-input passes use it (the SIMPPO actor's forward
/// pass 4 % faster side by side, docs/benchmarks.md). The values are the
/// expression's bit for bit (tests/nn/activation_test.cpp).
template <typename T>
inline void tanh_contiguous(T* y, Eigen::Index n) noexcept {
    using packet = typename Eigen::internal::packet_traits<T>::type;
    constexpr Eigen::Index P = Eigen::internal::packet_traits<T>::size;
    Eigen::Index i = 0;
    if constexpr (P > 1 && Eigen::internal::packet_traits<T>::HasTanh) {
        using Eigen::internal::ploadu;
        using Eigen::internal::pstoreu;
        using Eigen::internal::ptanh;
        for (; i + 4 * P <= n; i += 4 * P) {
            const packet a = ptanh(ploadu<packet>(y + i));
            const packet b = ptanh(ploadu<packet>(y + i + P));
            const packet c = ptanh(ploadu<packet>(y + i + 2 * P));
            const packet d = ptanh(ploadu<packet>(y + i + 3 * P));
            pstoreu(y + i, a);
            pstoreu(y + i + P, b);
            pstoreu(y + i + 2 * P, c);
            pstoreu(y + i + 3 * P, d);
        }
        for (; i + P <= n; i += P) {
            pstoreu(y + i, ptanh(ploadu<packet>(y + i)));
        }
    }
    if (i < n) {
        Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> rest(y + i, n - i);
        rest = rest.tanh();
    }
}

}  // namespace detail

/// Applies `a` in place to `n` contiguous values: the same values as
/// `activate` on a vector over them, with tanh through
/// detail::tanh_contiguous. The single-input forward passes use it.
template <typename T>
void activate(activation a, T* y, Eigen::Index n) noexcept {
    if (a == activation::tanh) {
        detail::tanh_contiguous(y, n);
        return;
    }
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> v(y, n);
    activate(a, v);
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
