#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/nn/activation.hpp>
#include <rlscale/nn/detail/gemv.hpp>
#include <rlscale/nn/detail/int8_gemv.hpp>
#include <rlscale/nn/layer_spec.hpp>
#include <rlscale/nn/mlp.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace rlscale::nn {

class quantized_mlp;

/// Scratch space for quantized_mlp::forward: the float activations, their
/// 8-bit quantization and the 32-bit accumulators of one layer at a time.
/// One per thread, like mlp_inference_buffer.
class quantized_mlp_inference_buffer {
public:
    explicit quantized_mlp_inference_buffer(const quantized_mlp& net);

private:
    friend class quantized_mlp;
    Eigen::VectorXf y_;                                   // a layer's output, max width
    Eigen::Matrix<std::uint8_t, Eigen::Dynamic, 1> q_;    // the next layer's input, padded width
    Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> acc_;  // W_q · q, padded width
};

/// An inference-only copy of an `mlp<float>` with 8-bit weights, for fast
/// single-input decisions: 1 byte per weight of every layer after the first
/// (parameter_bytes(): 2.9× fewer bytes than the float network for SCARLET's
/// 15→128→128→27), and the VNNI kernel of nn/detail/int8_gemv.hpp.
///
/// Layer 0 stays float: its inputs are raw features (of either sign and any
/// range), and it is small (in is the feature count). Every later layer
/// stores, per output row i, weights q_ij = round(w_ij / s_i) with the
/// symmetric scale s_i = max_j |w_ij| / 127, and its Σ_j q_ij. Its input
/// vector a is quantized as it is produced, with one scale and zero point
/// per vector (asymmetric: a_j ≈ σ (u_j - z), u_j in 0..255, the range
/// [min(a, 0), max(a, 0)] mapped onto 0..255, so z = 0 after a ReLU and
/// any activation works). Then, in 32-bit integers,
///
///     Σ_j w_ij a_j ≈ s_i σ (Σ_j q_ij u_j - z Σ_j q_ij),
///
/// and the bias and the layer's activation are applied in float.
///
/// Like mlp, `forward` is `const` and writes only to the caller's buffer,
/// so one copy serves many threads, each with its own buffer, and a pass
/// allocates nothing. The copy does not follow later changes to the float
/// network: call `quantize_from` (allocation-free) after each update.
///
/// Accuracy, measured in tests/nn/quantized_mlp_test.cpp: outputs within
/// about 1 % of the float network's output scale, and the same argmax on
/// over 99 % of random inputs to a freshly initialised 15→128→128→27
/// Q-network (the hard case: its Q-values are close together). Speed:
/// BM_quantized_forward beside BM_mlp_forward in bench/mlp_bench.cpp.
class quantized_mlp {
public:
    using vector = Eigen::VectorXf;
    using inference_buffer = quantized_mlp_inference_buffer;

    /// The widest int8 layer input whose int32 sums cannot overflow (2^31 - 1 over 255 x 127).
    static constexpr std::int64_t max_int8_inputs = 2147483647 / (255 * 127);

    /// A quantized copy of `net`; allocates all storage.
    explicit quantized_mlp(const mlp<float>& net) : layout_(net.layers()) {
        const auto& layers = layout_.layers();
        first_ = vector::Zero(layers[0].out * layers[0].in + layers[0].out);
        int8_layers_.reserve(layers.size() - 1);
        for (std::size_t l = 1; l < layers.size(); ++l) {
            const layer_spec& s = layers[l];
            // Each int32 sum adds `in` products of at most 255 x 127.
            check_fields("quantized_mlp.layers[" + std::to_string(l) + "]")
                .at_most("in", s.in, static_cast<Eigen::Index>(max_int8_inputs));
            int8_layer q;
            q.weight = weight_bytes::Zero(detail::int8_padded_rows(s.out) * detail::int8_padded_cols(s.in));
            q.row_scale = vector::Zero(s.out);
            q.row_sum = int_vector::Zero(s.out);
            q.bias = vector::Zero(s.out);
            int8_layers_.push_back(std::move(q));
            max_padded_width_ =
                std::max({max_padded_width_, detail::int8_padded_rows(s.out), detail::int8_padded_cols(s.in)});
        }
        quantize_from(net);
    }

    /// Re-quantizes `net`'s current parameters into this copy's storage,
    /// allocating nothing. Throws config_error naming the first layer whose
    /// shape or activation differs from the network this copy was made for.
    void quantize_from(const mlp<float>& net) {
        check_layout(net);
        const auto& layers = layout_.layers();
        // Layer 0: a plain copy, weight then bias in one vector as in mlp
        // (gemv_bias may read up to 3 values past the weight).
        first_ = net.parameters().head(first_.size());
        for (std::size_t l = 1; l < layers.size(); ++l) {
            quantize_layer(net.weight(l), net.bias(l), int8_layers_[l - 1]);
        }
    }

    [[nodiscard]] const std::vector<layer_spec>& layers() const noexcept { return layout_.layers(); }

    /// The bytes its parameters hold: layer 0's float weights and biases,
    /// and each later layer's packed int8 weights (rows and columns padded
    /// for the kernel) with their row scales, row sums and biases.
    [[nodiscard]] std::size_t parameter_bytes() const noexcept {
        auto bytes = static_cast<std::size_t>(first_.size()) * sizeof(float);
        for (const int8_layer& q : int8_layers_) {
            bytes += static_cast<std::size_t>(q.weight.size()) * sizeof(std::int8_t) +
                     static_cast<std::size_t>(q.row_scale.size() + q.bias.size()) * sizeof(float) +
                     static_cast<std::size_t>(q.row_sum.size()) * sizeof(std::int32_t);
        }
        return bytes;
    }
    [[nodiscard]] std::size_t layer_count() const noexcept { return layout_.layers().size(); }
    [[nodiscard]] Eigen::Index input_size() const noexcept { return layout_.layers().front().in; }
    [[nodiscard]] Eigen::Index output_size() const noexcept { return layout_.layers().back().out; }

    /// Forward pass for one input. The result is a view into `buf`, valid
    /// until the buffer's next use. Allocates nothing.
    /// Throws rlscale::error when `x` has the wrong size or `buf` was made
    /// for a smaller network.
    [[nodiscard]] Eigen::Map<const vector> forward(const Eigen::Ref<const vector>& x, inference_buffer& buf) const {
        if (x.size() != input_size()) {
            throw error("quantized_mlp::forward: input has " + std::to_string(x.size()) +
                        " values, the network takes " + std::to_string(input_size()));
        }
        // A buffer of another network would be written past its end.
        if (buf.y_.size() < layout_.max_width() || buf.q_.size() < max_padded_width_ ||
            buf.acc_.size() < max_padded_width_) {
            throw error("quantized_mlp::forward: the inference buffer was made for a smaller network (" + std::to_string(buf.y_.size()) +
                        " values per layer, this one needs " + std::to_string(layout_.max_width()) + ")");
        }
        if (detail::overlaps(x.data(), x.size(), buf.y_.data(), buf.y_.size())) {
            throw error("quantized_mlp::forward: the input lies in the inference buffer the pass writes; copy it out, or use another buffer");
        }
        const auto& layers = layout_.layers();
        const layer_spec& s0 = layers[0];
        float* y = buf.y_.data();
        detail::gemv_bias(first_.data(), s0.out, s0.in, x.data(), first_.data() + s0.out * s0.in, y);
        Eigen::Map<vector> y0(y, s0.out);
        // A non-finite input, or a first layer that overflows, gives NaN
        // outputs, as the float pass would: quantizing skips a NaN and zeroes
        // an infinite range, which would turn it into a finite, confident
        // answer. (Checked before the activation: tanh(inf) is 1.)
        if (!x.allFinite() || !y0.allFinite()) {
            Eigen::Map<vector>(y, output_size()).setConstant(std::numeric_limits<float>::quiet_NaN());
            return {y, output_size()};
        }
        activate(s0.act, y, s0.out);
        for (std::size_t l = 1; l < layers.size(); ++l) {
            const layer_spec& s = layers[l];
            const int8_layer& q = int8_layers_[l - 1];
            const vector_quantization a = quantize_vector(y, s.in, buf.q_.data());
            detail::int8_gemv(q.weight.data(), s.out, s.in, buf.q_.data(), buf.acc_.data());
            // y_i = s_i σ (acc_i - z Σ_j q_ij) + b_i, the integer part exact.
            detail::dequantize(buf.acc_.data(), q.row_sum.data(), q.row_scale.data(), q.bias.data(), a.scale, a.zero_point,
                               s.out, y);
            Eigen::Map<vector> yl(y, s.out);
            // A later layer that overflows (or a row holding a non-finite
            // weight, whose scale is NaN) gives NaN outputs too: the next
            // quantization would read it as zeros.
            if (!yl.allFinite()) {
                Eigen::Map<vector>(y, output_size()).setConstant(std::numeric_limits<float>::quiet_NaN());
                return {y, output_size()};
            }
            activate(s.act, y, s.out);
        }
        return {y, output_size()};
    }

    /// Allocating convenience for examples and tests: f(x) as a new vector.
    [[nodiscard]] vector predict(const Eigen::Ref<const vector>& x) const {
        inference_buffer buf(*this);
        return forward(x, buf);
    }

private:
    friend class quantized_mlp_inference_buffer;
    using weight_bytes = Eigen::Matrix<std::int8_t, Eigen::Dynamic, 1>;
    using int_vector = Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1>;

    /// One 8-bit layer: W in the packed layout of int8_gemv.hpp, and per row
    /// its scale s_i, Σ_j q_ij (for the zero-point correction) and bias.
    struct int8_layer {
        weight_bytes weight;
        vector row_scale;
        int_vector row_sum;
        vector bias;
    };

    /// A vector's quantization: a_j ≈ scale · (u_j - zero_point).
    struct vector_quantization {
        float scale;
        std::int32_t zero_point;
    };

    void check_layout(const mlp<float>& net) const {
        const auto& mine = layout_.layers();
        const auto& theirs = net.layers();
        if (theirs.size() != mine.size()) {
            throw config_error("layers", "quantized_mlp::quantize_from: the network has " +
                                             std::to_string(theirs.size()) + " layers, this copy was made for " +
                                             std::to_string(mine.size()));
        }
        for (std::size_t l = 0; l < mine.size(); ++l) {
            if (!(theirs[l] == mine[l])) {
                throw config_error("layers[" + std::to_string(l) + "]",
                                   "quantized_mlp::quantize_from: the network's layer is " + describe(theirs[l]) +
                                       ", this copy was made for " + describe(mine[l]));
            }
        }
    }

    [[nodiscard]] static std::string describe(const layer_spec& s) {
        return "in=" + std::to_string(s.in) + " out=" + std::to_string(s.out) + " " + std::string(to_string(s.act));
    }

    /// Per-row symmetric quantization of one layer into `q`'s storage; the
    /// padding bytes of the packed weight stay zero from construction.
    static void quantize_layer(const Eigen::Map<const Eigen::MatrixXf>& w, const Eigen::Map<const vector>& b,
                               int8_layer& q) noexcept {
        const Eigen::Index in = w.cols();
        for (Eigen::Index i = 0; i < w.rows(); ++i) {
            if (!w.row(i).allFinite()) {
                // A non-finite weight makes its row's outputs NaN, as in the
                // float network (whose answer the actors then refuse).
                q.row_scale[i] = std::numeric_limits<float>::quiet_NaN();
                q.row_sum[i] = 0;
                for (Eigen::Index j = 0; j < in; ++j) q.weight[detail::int8_packed_offset(i, j, in)] = 0;
                continue;
            }
            const float max_abs = w.row(i).cwiseAbs().maxCoeff();
            // An all-zero row keeps scale 0 and weights 0, so it yields 0.
            const float scale = max_abs > 0.0F ? max_abs / 127.0F : 0.0F;
            const float inv = max_abs > 0.0F ? 127.0F / max_abs : 0.0F;
            // A row whose largest weight is below 127 / FLT_MAX (3.7e-37):
            // its inverse scale overflows a float, which would read every
            // nonzero weight as ±127, so its weights are scaled in double.
            // Its row scale is then subnormal and coarser (about 7 % off at
            // 1e-42), and 0 below 127 · 2^-150 (8.9e-44), where the row
            // reads as zeros.
            const bool tiny = !std::isfinite(inv);
            const double inv_wide = tiny ? 127.0 / static_cast<double>(max_abs) : 0.0;
            std::int32_t sum = 0;
            for (Eigen::Index j = 0; j < in; ++j) {
                const float scaled = tiny ? static_cast<float>(static_cast<double>(w(i, j)) * inv_wide) : w(i, j) * inv;
                const auto qij = static_cast<std::int8_t>(clamp_weight(std::nearbyint(scaled)));
                q.weight[detail::int8_packed_offset(i, j, in)] = qij;
                sum += qij;
            }
            q.row_scale[i] = scale;
            q.row_sum[i] = sum;
        }
        q.bias = b;
    }

    /// v clamped to [-127, 127], a NaN mapped to 0: converting a NaN or an
    /// out-of-range float to an integer is undefined behaviour, and a
    /// diverged network may hold a NaN.
    [[nodiscard]] static float clamp_weight(float v) noexcept {
        return std::isnan(v) ? 0.0F : std::clamp(v, -127.0F, 127.0F);
    }

    /// Quantizes a[0..n) to u[0..n) (see the class comment) and returns its
    /// scale and zero point. A non-finite a gives some value in 0..255 for
    /// every u_j, never undefined behaviour.
    static vector_quantization quantize_vector(const float* a, Eigen::Index n, std::uint8_t* u) noexcept {
        // The range includes 0, so that 0 (every ReLU zero) is represented
        // exactly; after a ReLU, lo = 0 and so z = 0.
        const detail::float_range r = detail::range_with_zero(a, n);
        const float range = r.hi - r.lo;
        if (!(range > 0.0F) || !std::isfinite(r.hi) || !std::isfinite(r.lo)) {  // all zeros, or an infinity
            std::fill(u, u + n, std::uint8_t{0});
            return {0.0F, 0};
        }
        // Finite ends whose difference is beyond a float (±2e38): the scale
        // and its inverse from the difference in double, where both fit a
        // float, rather than reading the values as zeros.
        const bool wide = !(range <= std::numeric_limits<float>::max());
        const double wide_range = static_cast<double>(r.hi) - static_cast<double>(r.lo);
        const float inv = wide ? static_cast<float>(255.0 / wide_range) : 255.0F / range;
        if (!std::isfinite(inv)) {  // a range below 255 / FLT_MAX: too small to resolve, read as zeros
            std::fill(u, u + n, std::uint8_t{0});
            return {0.0F, 0};
        }
        // -lo / σ, within 0..255 since lo ≤ 0 ≤ hi.
        const float z = std::min(std::nearbyint(-r.lo * inv), 255.0F);
        detail::quantize_u8(a, n, inv, z, u);
        return {wide ? static_cast<float>(wide_range / 255.0) : range / 255.0F, static_cast<std::int32_t>(z)};
    }

    parameter_layout layout_;
    vector first_;                         // layer 0: weight (column-major out × in), then bias
    std::vector<int8_layer> int8_layers_;  // layers 1..L-1
    Eigen::Index max_padded_width_ = 0;    // widest padded in or out of the 8-bit layers
};

inline quantized_mlp_inference_buffer::quantized_mlp_inference_buffer(const quantized_mlp& net)
    : y_(Eigen::VectorXf::Zero(net.layout_.max_width())),
      q_(decltype(q_)::Zero(net.max_padded_width_)),
      acc_(decltype(acc_)::Zero(net.max_padded_width_)) {}

}  // namespace rlscale::nn
