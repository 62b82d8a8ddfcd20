#pragma once

#include <rlscale/core/random.hpp>

#include <Eigen/Core>

#include <cmath>
#include <random>
#include <string_view>

namespace rlscale::nn {

/// Weight initialisation schemes. Each names the distribution it draws from,
/// with fan_in = inputs and fan_out = outputs of the layer.
enum class init_scheme {
    /// PyTorch's default for nn.Linear: kaiming_uniform_(a=√5) on the weight,
    /// i.e. U(-1/√fan_in, 1/√fan_in), and the bias from the same interval.
    torch_default,
    /// He/Kaiming normal for ReLU: N(0, 2/fan_in), bias 0.
    he_normal,
    /// He/Kaiming uniform for ReLU: U(-√(6/fan_in), √(6/fan_in)), bias 0.
    he_uniform,
    /// Glorot/Xavier uniform: U(-√(6/(fan_in+fan_out)), +…), bias 0.
    xavier_uniform,
    /// Glorot/Xavier normal: N(0, 2/(fan_in+fan_out)), bias 0.
    xavier_normal,
};

[[nodiscard]] constexpr std::string_view to_string(init_scheme s) noexcept {
    switch (s) {
        case init_scheme::torch_default: return "torch_default";
        case init_scheme::he_normal: return "he_normal";
        case init_scheme::he_uniform: return "he_uniform";
        case init_scheme::xavier_uniform: return "xavier_uniform";
        case init_scheme::xavier_normal: return "xavier_normal";
    }
    return "torch_default";
}

/// Fills one layer's weight (out × in) and bias (out) by `scheme`, drawing
/// from `gen` in storage order: all weights, then all biases.
template <typename DerivedW, typename DerivedB, std::uniform_random_bit_generator Gen>
void initialize_layer(init_scheme scheme, Eigen::MatrixBase<DerivedW>& weight, Eigen::MatrixBase<DerivedB>& bias,
                      Gen& gen) {
    using T = typename DerivedW::Scalar;
    const auto fan_in = static_cast<double>(weight.cols());
    const auto fan_out = static_cast<double>(weight.rows());
    // Column by column, each top to bottom: storage order for a matrix of
    // its own (a layer's weight), and the right elements of a block or any
    // other strided expression too.
    const auto fill = [](auto& m, auto&& draw) {
        for (Eigen::Index c = 0; c < m.cols(); ++c) {
            for (Eigen::Index r = 0; r < m.rows(); ++r) m.derived().coeffRef(r, c) = static_cast<T>(draw());
        }
    };
    const auto fill_uniform = [&gen, &fill](auto& m, double bound) { fill(m, [&] { return uniform(gen, -bound, bound); }); };
    const auto fill_normal = [&gen, &fill](auto& m, double stddev) { fill(m, [&] { return stddev * standard_normal(gen); }); };
    switch (scheme) {
        case init_scheme::torch_default:
            fill_uniform(weight, 1.0 / std::sqrt(fan_in));
            fill_uniform(bias, 1.0 / std::sqrt(fan_in));
            return;
        case init_scheme::he_normal: fill_normal(weight, std::sqrt(2.0 / fan_in)); break;
        case init_scheme::he_uniform: fill_uniform(weight, std::sqrt(6.0 / fan_in)); break;
        case init_scheme::xavier_uniform: fill_uniform(weight, std::sqrt(6.0 / (fan_in + fan_out))); break;
        case init_scheme::xavier_normal: fill_normal(weight, std::sqrt(2.0 / (fan_in + fan_out))); break;
    }
    bias.setZero();
}

}  // namespace rlscale::nn
