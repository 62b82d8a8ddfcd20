#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/activation.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace rlscale::nn {

/// One fully connected layer: y = f(W x + b) with W of shape out × in.
struct layer_spec {
    Eigen::Index in = 0;                    ///< inputs (fan_in)
    Eigen::Index out = 0;                   ///< outputs (fan_out)
    activation act = activation::identity;  ///< f, applied element-wise

    friend bool operator==(const layer_spec&, const layer_spec&) = default;
};

/// Layers for the sizes {n0, n1, ..., nL}: every layer but the last uses
/// `hidden`, the last uses `output` (identity for Q-values and logits).
[[nodiscard]] inline std::vector<layer_spec> make_layers(std::initializer_list<Eigen::Index> sizes,
                                                         activation hidden = activation::relu,
                                                         activation output = activation::identity) {
    check_fields("").require(sizes.size() >= 2, "sizes", "hold at least 2 values (an input and an output size)",
                             sizes.size());
    std::vector<layer_spec> layers;
    layers.reserve(sizes.size() - 1);
    const auto* it = sizes.begin();
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        layers.push_back({it[l], it[l + 1], l + 2 == sizes.size() ? output : hidden});
    }
    return layers;
}

/// Where each layer's parameters sit in one contiguous vector: for layer l,
/// the weight (column-major, out × in) and then the bias. Shared by the
/// network and its gradient so both have the same flat order, which lets the
/// optimiser, clipping and Polyak updates work on a single vector. Two
/// layouts are equal when their layers are.
class parameter_layout {
public:
    explicit parameter_layout(std::vector<layer_spec> layers) : layers_(std::move(layers)) {
        check_fields("").non_empty("layers", layers_.size());
        offsets_.reserve(layers_.size());
        for (std::size_t l = 0; l < layers_.size(); ++l) {
            const auto& s = layers_[l];
            const check_fields check("layers[" + std::to_string(l) + "]");
            check.at_least("in", s.in, 1).at_least("out", s.out, 1);
            if (l > 0) {
                const Eigen::Index previous = layers_[l - 1].out;
                check.require(s.in == previous, "in", "equal the previous layer's out (" + format_number(previous) + ")", s.in);
            }
            // out x in + out, refused where it would overflow an index.
            Eigen::Index weights = 0;
            Eigen::Index with_bias = 0;
            Eigen::Index total = 0;
            const bool overflows = __builtin_mul_overflow(s.out, s.in, &weights) ||
                                   __builtin_add_overflow(weights, s.out, &with_bias) ||
                                   __builtin_add_overflow(size_, with_bias, &total);
            check.require(!overflows, "in", "leave out x in + out, summed over the layers, within an index (out " +
                                                 format_number(s.out) + ")",
                          s.in);
            offsets_.push_back(size_);
            size_ = total;
            max_width_ = std::max({max_width_, s.in, s.out});
        }
    }

    [[nodiscard]] const std::vector<layer_spec>& layers() const noexcept { return layers_; }
    [[nodiscard]] Eigen::Index size() const noexcept { return size_; }
    [[nodiscard]] Eigen::Index max_width() const noexcept { return max_width_; }
    [[nodiscard]] Eigen::Index weight_offset(std::size_t l) const noexcept { return offsets_[l]; }
    [[nodiscard]] Eigen::Index bias_offset(std::size_t l) const noexcept {
        return offsets_[l] + layers_[l].out * layers_[l].in;
    }

    friend bool operator==(const parameter_layout& a, const parameter_layout& b) { return a.layers_ == b.layers_; }

private:
    std::vector<layer_spec> layers_;
    std::vector<Eigen::Index> offsets_;
    Eigen::Index size_ = 0;
    Eigen::Index max_width_ = 0;
};

namespace detail {

/// Whether [a, a + n) and [b, b + m) share an element (a total order on
/// pointers, so unrelated arrays compare safely).
template <typename T>
[[nodiscard]] bool overlaps(const T* a, Eigen::Index n, const T* b, Eigen::Index m) noexcept {
    const std::less<const T*> before;
    return n > 0 && m > 0 && before(a, b + m) && before(b, a + n);
}

/// Flat parameter storage with per-layer views; the base of both the network
/// and its gradient.
template <typename T>
class layered_parameters {
public:
    using scalar = T;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    explicit layered_parameters(std::vector<layer_spec> layers)
        : layout_(std::move(layers)), values_(vector::Zero(layout_.size())) {}

    [[nodiscard]] const std::vector<layer_spec>& layers() const noexcept { return layout_.layers(); }
    [[nodiscard]] std::size_t layer_count() const noexcept { return layout_.layers().size(); }
    [[nodiscard]] Eigen::Index input_size() const noexcept { return layout_.layers().front().in; }
    [[nodiscard]] Eigen::Index output_size() const noexcept { return layout_.layers().back().out; }
    [[nodiscard]] Eigen::Index parameter_count() const noexcept { return layout_.size(); }
    [[nodiscard]] const parameter_layout& layout() const noexcept { return layout_; }

    /// Weight of layer l, out × in, column-major.
    [[nodiscard]] Eigen::Map<matrix> weight(std::size_t l) noexcept {
        const auto& s = layout_.layers()[l];
        return {values_.data() + layout_.weight_offset(l), s.out, s.in};
    }
    [[nodiscard]] Eigen::Map<const matrix> weight(std::size_t l) const noexcept {
        const auto& s = layout_.layers()[l];
        return {values_.data() + layout_.weight_offset(l), s.out, s.in};
    }
    [[nodiscard]] Eigen::Map<vector> bias(std::size_t l) noexcept {
        return {values_.data() + layout_.bias_offset(l), layout_.layers()[l].out};
    }
    [[nodiscard]] Eigen::Map<const vector> bias(std::size_t l) const noexcept {
        return {values_.data() + layout_.bias_offset(l), layout_.layers()[l].out};
    }

    /// Every parameter in one vector: layer by layer, weight then bias.
    /// A view, never the vector itself, so the size fixed at construction
    /// cannot change.
    [[nodiscard]] Eigen::Map<vector> values() noexcept { return {values_.data(), values_.size()}; }
    [[nodiscard]] Eigen::Map<const vector> values() const noexcept { return {values_.data(), values_.size()}; }

private:
    parameter_layout layout_;
    vector values_;
};

}  // namespace detail

}  // namespace rlscale::nn
