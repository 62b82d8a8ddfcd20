#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/activation.hpp>
#include <rlscale/nn/detail/bf16_gemm.hpp>
#include <rlscale/nn/detail/gemv.hpp>
#include <rlscale/nn/detail/small_batch.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/layer_spec.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace rlscale::nn {

template <typename T>
class mlp;

/// Gradient of a loss with respect to every parameter of an `mlp`, in the
/// network's flat order (so `values()` lines up with `mlp::parameters()`).
template <typename T>
class mlp_gradient : public detail::layered_parameters<T> {
public:
    explicit mlp_gradient(const mlp<T>& net) : detail::layered_parameters<T>(net.layers()) {}

    void set_zero() noexcept { this->values().setZero(); }
};

/// Scratch space for single-input forward passes: two vectors as wide as the
/// widest layer, used alternately. One per thread; the network itself is
/// never written by a forward pass, so any number of threads may share it.
template <typename T>
class mlp_inference_buffer {
public:
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    explicit mlp_inference_buffer(const mlp<T>& net)
        : ping_(vector::Zero(net.layout().max_width())), pong_(vector::Zero(net.layout().max_width())) {}

    /// The bytes its two vectors hold.
    [[nodiscard]] std::size_t bytes() const noexcept { return static_cast<std::size_t>(ping_.size() + pong_.size()) * sizeof(T); }

private:
    friend class mlp<T>;
    vector ping_;
    vector pong_;
};

/// The widest batch an `mlp_batch_buffer` may let the small-batch kernels
/// take (its `kernel_columns`); the default it uses is 10.
inline constexpr Eigen::Index max_batch_kernel_columns = detail::max_kernel_columns;

/// Precision of the matrix products in batched passes.
enum class matmul_precision {
    full,  ///< the network's own scalar type throughout
    bf16,  ///< operands rounded to bfloat16, products summed in float (float networks only)
};

[[nodiscard]] constexpr std::string_view to_string(matmul_precision p) noexcept {
    return p == matmul_precision::bf16 ? "bf16" : "full";
}

/// Parses the names written by `to_string`; throws config_error naming `field`.
[[nodiscard]] inline matmul_precision matmul_precision_from_string(std::string_view name,
                                                                   const std::string& field = "precision") {
    if (name == "full") return matmul_precision::full;
    if (name == "bf16") return matmul_precision::bf16;
    throw config_error(field, "unknown precision \"" + std::string(name) + "\" (expected full or bf16)");
}

/// Scratch space for batched forward and backward passes, for up to
/// `capacity` samples: a copy of the input batch, every layer's activations
/// (the backward pass needs them) and two delta matrices.
///
/// With `matmul_precision::bf16` the passes multiply bfloat16 operands (8
/// bits of mantissa) and sum in float, the mixed precision of bf16 training:
/// activations, deltas, biases, the gradient and the parameters stay float,
/// only each product's inputs are rounded. The buffer then also holds the
/// packed bf16 copies of weights, inputs and deltas; on a CPU with AVX-512
/// BF16 a product runs about 2.7 times as fast as in float.
template <typename T>
class mlp_batch_buffer {
public:
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    ///
    /// `kernel_columns`: the widest batch whose full-precision products may go
    /// to the register kernels of detail/small_batch.hpp rather than Eigen's
    /// product, where they pay (per product and shape); at most
    /// detail::max_kernel_columns. The default keeps them to small batches
    /// (PPO's minibatches); DDPG asks for the most, 256 (CleanRL's batch;
    /// FIRM's is 64). The two paths
    /// sum in different orders, so the choice changes results in their last
    /// bits.
    mlp_batch_buffer(const mlp<T>& net, Eigen::Index capacity, matmul_precision precision = matmul_precision::full,
                     Eigen::Index kernel_columns = detail::small_batch_columns)
        : capacity_(capacity), precision_(precision), kernel_columns_(kernel_columns) {
        check_fields("")
            .greater("capacity", capacity, 0)
            .in("kernel_columns", kernel_columns, Eigen::Index{0}, detail::max_kernel_columns)
            .require(precision != matmul_precision::bf16 || std::is_same_v<T, float>, "precision",
                     "be full unless the network is float", to_string(precision));
        input_ = matrix::Zero(net.input_size(), capacity);
        activations_.reserve(net.layer_count());
        for (const auto& s : net.layers()) {
            activations_.push_back(matrix::Zero(s.out, capacity));
        }
        delta_[0] = matrix::Zero(net.layout().max_width(), capacity);
        delta_[1] = matrix::Zero(net.layout().max_width(), capacity);
        if (precision == matmul_precision::full) {
            // The transpose of a layer's weight, for an input gradient that goes
            // to the transposing kernel (small_input_gradient_pays, whose
            // answer changes with the batch only at small_batch_columns and
            // wide_input_gradient_columns: one batch from each of its three
            // ranges that the buffer holds is tried). The first layer's may
            // be a slice of its inputs (`first` and `count`), which the rule
            // can take where the whole layer is too large for it: every slice
            // width is tried.
            Eigen::Index words = 0;
            const Eigen::Index widest = std::max<Eigen::Index>(1, std::min(capacity, kernel_columns));
            const Eigen::Index middle = std::min(widest, detail::small_batch_columns + 1);
            const auto pays = [&](Eigen::Index out, Eigen::Index in) {
                return detail::small_input_gradient_pays(out, in, 1, kernel_columns) ||
                       detail::small_input_gradient_pays(out, in, middle, kernel_columns) ||
                       detail::small_input_gradient_pays(out, in, widest, kernel_columns);
            };
            for (std::size_t l = 0; l < net.layer_count(); ++l) {
                const layer_spec& s = net.layers()[l];
                for (Eigen::Index in = l == 0 ? 1 : s.in; in <= s.in; ++in) {
                    if (pays(s.out, in)) words = std::max(words, in * s.out);
                }
            }
            transposed_.assign(static_cast<std::size_t>(words), T(0));
        }
        if (precision == matmul_precision::bf16) {
            // One layer's operands at a time, so each is sized for the largest layer.
            Eigen::Index weight_words = 0;
            for (const auto& s : net.layers()) {
                weight_words = std::max({weight_words, detail::bf16_packed_words(s.out, s.in), detail::bf16_packed_words(s.in, s.out)});
            }
            const Eigen::Index width = net.layout().max_width();
            const Eigen::Index pairs = detail::bf16_pairs(width);
            const Eigen::Index batch_words = std::max(detail::bf16_padded_rows(width) * detail::bf16_pairs(capacity),
                                                      pairs * capacity);
            packed_weight_.assign(static_cast<std::size_t>(weight_words), 0);
            packed_rows_.assign(static_cast<std::size_t>(batch_words), 0);
            packed_cols_.assign(static_cast<std::size_t>(batch_words), 0);
        }
    }

    [[nodiscard]] matmul_precision precision() const noexcept { return precision_; }
    [[nodiscard]] Eigen::Index capacity() const noexcept { return capacity_; }
    [[nodiscard]] Eigen::Index kernel_columns() const noexcept { return kernel_columns_; }
    /// Values held for the transposing input-gradient kernel's Wᵀ (0 when no
    /// layer's input gradient can go to it).
    [[nodiscard]] std::size_t transpose_scratch_values() const noexcept { return transposed_.size(); }
    /// Samples in the last forward pass (0 before the first).
    [[nodiscard]] Eigen::Index batch_size() const noexcept { return batch_; }
    /// The bytes its arrays hold (activations, deltas and scratch).
    [[nodiscard]] std::size_t bytes() const noexcept {
        auto values = static_cast<std::size_t>(input_.size() + delta_[0].size() + delta_[1].size()) + transposed_.size();
        for (const matrix& a : activations_) values += static_cast<std::size_t>(a.size());
        const std::size_t words = packed_weight_.size() + packed_rows_.size() + packed_cols_.size();
        return values * sizeof(T) + words * sizeof(std::uint32_t);
    }

private:
    friend class mlp<T>;
    Eigen::Index capacity_;
    matmul_precision precision_;
    Eigen::Index kernel_columns_;
    Eigen::Index batch_ = 0;
    matrix input_;
    std::vector<matrix> activations_;
    matrix delta_[2];
    // bf16 only: the packed A operand when it is a weight or its transpose,
    // when it is a delta, and the B operand (detail/bf16_gemm.hpp).
    std::vector<std::uint32_t> packed_weight_;
    std::vector<std::uint32_t> packed_rows_;
    std::vector<std::uint32_t> packed_cols_;
    // Full precision: scratch of detail/small_batch.hpp.
    std::vector<T> transposed_;
};

/// A multilayer perceptron whose layer sizes are chosen at construction, when
/// all of its storage is allocated. Parameters live in one contiguous vector
/// (per layer: weight column-major out × in, then bias), so an optimiser step,
/// gradient clipping and a Polyak update are each one pass over one vector.
///
/// Forward and backward passes are `const`: activations go to a caller-owned
/// buffer (`mlp_inference_buffer`, `mlp_batch_buffer`), so one network can
/// serve many threads, each with its own buffer. A single-input pass
/// allocates nothing; a batched one allocates nothing through rlscale's own
/// kernels, and Eigen's larger products (beyond the buffer's
/// kernel_columns, at layers of a few hundred) allocate their blocking
/// buffers (docs/nn.md).
///
/// Batches are column-major: one sample per column (in × batch).
template <typename T>
class mlp : public detail::layered_parameters<T> {
    using base = detail::layered_parameters<T>;

public:
    using typename base::matrix;
    using typename base::scalar;
    using typename base::vector;
    using inference_buffer = mlp_inference_buffer<T>;
    using batch_buffer = mlp_batch_buffer<T>;
    using gradient = mlp_gradient<T>;

    /// A network of the given layers, with every parameter zero (call
    /// `initialize`). Throws config_error when the layers do not chain.
    explicit mlp(std::vector<layer_spec> layers) : base(std::move(layers)) {}

    /// A network of sizes {n0, ..., nL}, e.g. {7, 64, 64, 3}.
    mlp(std::initializer_list<Eigen::Index> sizes, activation hidden = activation::relu,
        activation output = activation::identity)
        : base(make_layers(sizes, hidden, output)) {}

    /// Every parameter, in flat order (a view of the network's own storage).
    [[nodiscard]] Eigen::Map<vector> parameters() noexcept { return this->values(); }
    [[nodiscard]] Eigen::Map<const vector> parameters() const noexcept { return this->values(); }

    /// Draws every weight and bias by `scheme` from `gen`, layer by layer.
    template <std::uniform_random_bit_generator Gen>
    void initialize(init_scheme scheme, Gen& gen) {
        for (std::size_t l = 0; l < this->layer_count(); ++l) {
            auto w = this->weight(l);
            auto b = this->bias(l);
            initialize_layer(scheme, w, b, gen);
        }
    }

    /// Forward pass for one input. The result is a view into `buf`, valid
    /// until the buffer's next use. Allocates nothing.
    /// Throws rlscale::error when `x` has the wrong size.
    [[nodiscard]] Eigen::Map<const vector> forward(const Eigen::Ref<const vector>& x, inference_buffer& buf) const {
        if (x.size() != this->input_size()) {
            throw error("mlp::forward: input has " + std::to_string(x.size()) + " values, the network takes " +
                        std::to_string(this->input_size()));
        }
        // A buffer of a smaller network would be written past its end.
        if (buf.ping_.size() < this->layout().max_width() || buf.pong_.size() < this->layout().max_width()) {
            throw error("mlp::forward: the inference buffer holds " + std::to_string(std::min(buf.ping_.size(), buf.pong_.size())) +
                        " values per layer, the network needs " + std::to_string(this->layout().max_width()));
        }
        // The layers write into the buffer; an input inside it (a previous
        // pass's result fed back) would be overwritten as it is read.
        if (detail::overlaps(x.data(), x.size(), buf.ping_.data(), buf.ping_.size()) ||
            detail::overlaps(x.data(), x.size(), buf.pong_.data(), buf.pong_.size())) {
            throw error("mlp::forward: the input lies in the inference buffer the pass writes; copy it out, or use another buffer");
        }
        const T* in = x.data();
        Eigen::Index in_size = this->input_size();
        for (std::size_t l = 0; l < this->layer_count(); ++l) {
            const layer_spec& s = this->layers()[l];
            Eigen::Map<vector> y((l % 2 == 0 ? buf.ping_ : buf.pong_).data(), s.out);
            detail::gemv_bias(this->weight(l).data(), s.out, in_size, in, this->bias(l).data(), y.data());
            activate(s.act, y.data(), s.out);
            in = y.data();
            in_size = s.out;
        }
        return {in, in_size};
    }

    /// Forward pass for a batch `x` (in × n, n ≤ buf.capacity()), keeping the
    /// activations in `buf` for `backward`. The result (out × n) is a view
    /// into `buf`.
    [[nodiscard]] Eigen::Ref<const matrix> forward_batch(const Eigen::Ref<const matrix>& x, batch_buffer& buf) const {
        const Eigen::Index n = x.cols();
        if (x.rows() != this->input_size() || n <= 0 || n > buf.capacity()) {
            throw error("mlp::forward_batch: batch is " + std::to_string(x.rows()) + " × " + std::to_string(n) +
                        ", expected " + std::to_string(this->input_size()) + " × (1.." +
                        std::to_string(buf.capacity()) + ")");
        }
        check_buffer(buf, "mlp::forward_batch");
        buf.input_.leftCols(n) = x;
        for (std::size_t l = 0; l < this->layer_count(); ++l) {
            auto y = buf.activations_[l].leftCols(n);
            const auto& a_in = l == 0 ? buf.input_ : buf.activations_[l - 1];
            if (buf.precision_ == matmul_precision::bf16) {
                product_bf16(buf, this->weight(l), false, a_in.data(), a_in.rows(), n, y.data(), y.rows());
                y.colwise() += this->bias(l);
            } else if (detail::small_forward_pays(y.rows(), a_in.rows(), n, buf.kernel_columns_)) {
                detail::small_forward(this->weight(l).data(), y.rows(), a_in.rows(), a_in.data(), a_in.rows(), n,
                                      this->bias(l).data(), y.data(), y.outerStride());
            } else {
                y.noalias() = this->weight(l) * a_in.leftCols(n);
                y.colwise() += this->bias(l);
            }
            activate(this->layers()[l].act, y);
        }
        buf.batch_ = n;
        return buf.activations_.back().leftCols(n);
    }

    /// Backward pass for the batch of the last `forward_batch` on `buf`:
    /// given dL/dy (out × n), writes dL/dθ for every parameter into `grad`
    /// (overwriting it, not accumulating).
    void backward(batch_buffer& buf, const Eigen::Ref<const matrix>& dy, gradient& grad) const {
        backward_impl(buf, dy, &grad, nullptr, 0, this->input_size(), "mlp::backward");
    }

    /// As above, and also writes dL/dx (in × n) into `dx`, e.g. dQ/da for
    /// DDPG's actor update.
    void backward(batch_buffer& buf, const Eigen::Ref<const matrix>& dy, gradient& grad,
                  Eigen::Ref<matrix> dx) const {
        check_input_rows(buf, dx, 0, this->input_size(), "mlp::backward");
        backward_impl(buf, dy, &grad, &dx, 0, this->input_size(), "mlp::backward");
    }

    /// As above, but writes only rows [first, first + count) of dL/dx into
    /// `dx` (count × n): for DDPG's critic step, which needs dL/dh of the
    /// trunk's output (the first inputs of the critic's head) and not dL/da
    /// of the action after it. The rows equal those of the whole dL/dx, to
    /// rounding (the first layer's product is narrower).
    void backward(batch_buffer& buf, const Eigen::Ref<const matrix>& dy, gradient& grad, Eigen::Ref<matrix> dx,
                  Eigen::Index first, Eigen::Index count) const {
        check_input_rows(buf, dx, first, count, "mlp::backward");
        backward_impl(buf, dy, &grad, &dx, first, first + count, "mlp::backward");
    }

    /// The input gradient alone: dL/dx for the batch of the last
    /// `forward_batch` on `buf`, given dL/dy, without any parameter gradient,
    /// and only for the inputs from `first` on: `dx` is
    /// (input_size() − first) × n. For DDPG's actor step, which needs dQ/da
    /// (the action's rows at the end of the critic's input) and none of the
    /// critic's gradient. The rows equal those `backward` writes, to
    /// rounding (the first layer's product is narrower).
    void input_gradient(batch_buffer& buf, const Eigen::Ref<const matrix>& dy, Eigen::Ref<matrix> dx,
                        Eigen::Index first = 0) const {
        check_input_rows(buf, dx, first, this->input_size() - first, "mlp::input_gradient");
        backward_impl(buf, dy, nullptr, &dx, first, this->input_size(), "mlp::input_gradient");
    }

    /// Allocating convenience for examples and tests: f(x) as a new vector.
    [[nodiscard]] vector predict(const Eigen::Ref<const vector>& x) const {
        inference_buffer buf(*this);
        return forward(x, buf);
    }

private:
    /// y = op(W) · b in bf16, op(W) = W or Wᵀ; b column-major with leading
    /// dimension ldb and n columns, y with leading dimension ldy.
    static void product_bf16(batch_buffer& buf, Eigen::Map<const matrix> w, bool transpose, const T* b,
                             Eigen::Index ldb, Eigen::Index n, T* y, Eigen::Index ldy) {
        if constexpr (std::is_same_v<T, float>) {
            // A = op(W), packed straight from W's storage: rows × k.
            const Eigen::Index rows = transpose ? w.cols() : w.rows();
            const Eigen::Index k = transpose ? w.rows() : w.cols();
            if (transpose) {
                detail::pack_a_transposed_bf16(w.data(), w.rows(), k, rows, buf.packed_weight_.data());
            } else {
                detail::pack_a_bf16(w.data(), w.rows(), rows, k, buf.packed_weight_.data());
            }
            detail::to_bf16_columns(b, ldb, k, n, buf.packed_cols_.data());
            const Eigen::Index kp = detail::bf16_pairs(k);
            detail::gemm_bf16(rows, n, kp, buf.packed_weight_.data(), buf.packed_cols_.data(), 1, kp, y, ldy);
        }
    }

    /// g = d · a_inᵀ in bf16 (d: out × n, a_in: in × n; g: out × in).
    template <typename D, typename A>
    static void gradient_bf16(batch_buffer& buf, const D& d, const A& a_in, Eigen::Map<matrix> g) {
        if constexpr (std::is_same_v<T, float>) {
            const Eigen::Index n = buf.batch_;
            detail::pack_a_bf16(d.data(), d.outerStride(), d.rows(), n, buf.packed_rows_.data());
            // B = a_inᵀ: word (q, i) = pair(a_in(i, 2q), a_in(i, 2q + 1)).
            detail::pack_pairs(a_in.data(), a_in.rows(), a_in.rows(), a_in.rows(), n, buf.packed_cols_.data(), a_in.rows());
            detail::gemm_bf16(d.rows(), g.cols(), detail::bf16_pairs(n), buf.packed_rows_.data(), buf.packed_cols_.data(),
                              a_in.rows(), 1, g.data(), g.rows());
        }
    }

    /// Throws unless `buf` was made for a network of this one's layer
    /// sizes: another's activations, deltas and scratch would be read and
    /// written past their ends.
    void check_buffer(const batch_buffer& buf, const char* caller) const {
        bool same = buf.input_.rows() == this->input_size() && buf.activations_.size() == this->layer_count() &&
                    buf.delta_[0].rows() >= this->layout().max_width();
        for (std::size_t l = 0; same && l < this->layer_count(); ++l) same = buf.activations_[l].rows() == this->layers()[l].out;
        if (!same) {
            std::string made = std::to_string(buf.input_.rows());
            for (const auto& a : buf.activations_) made += "-" + std::to_string(a.rows());
            std::string net = std::to_string(this->input_size());
            for (const layer_spec& s : this->layers()) net += "-" + std::to_string(s.out);
            throw error(std::string(caller) + ": the batch buffer was made for a " + made + " network, this one is " + net);
        }
    }

    /// Throws unless inputs [first, first + count) are inputs of this
    /// network and `dx` is count × the last batch.
    void check_input_rows(const batch_buffer& buf, const Eigen::Ref<matrix>& dx, Eigen::Index first, Eigen::Index count,
                          const char* caller) const {
        const Eigen::Index in = this->input_size();
        if (first < 0 || first >= in) {
            throw error(std::string(caller) + ": first is " + std::to_string(first) + ", expected an input in [0, " +
                        std::to_string(in) + ")");
        }
        if (count < 1 || count > in - first) {
            throw error(std::string(caller) + ": count is " + std::to_string(count) + ", expected 1 to " +
                        std::to_string(in - first) + " (inputs " + std::to_string(first) + " to " + std::to_string(in - 1) + ")");
        }
        if (dx.rows() != count || dx.cols() != buf.batch_size()) {
            throw error(std::string(caller) + ": dx is " + std::to_string(dx.rows()) + " × " + std::to_string(dx.cols()) +
                        ", expected " + std::to_string(count) + " × " + std::to_string(buf.batch_size()) + " (inputs " +
                        std::to_string(first) + " to " + std::to_string(first + count - 1) + " of the last forward_batch)");
        }
    }

    /// Back-propagates dy through the last forward_batch on `buf`: the
    /// parameter gradient into *grad (none when null) and rows [first, end)
    /// of dL/dx into *dx (none when null). Errors name `caller`.
    void backward_impl(batch_buffer& buf, const Eigen::Ref<const matrix>& dy, gradient* grad, Eigen::Ref<matrix>* dx,
                       Eigen::Index first, Eigen::Index end, const char* caller) const {
        check_buffer(buf, caller);
        const Eigen::Index n = buf.batch_;
        if (n == 0 || dy.rows() != this->output_size() || dy.cols() != n) {
            throw error(std::string(caller) + ": dy is " + std::to_string(dy.rows()) + " × " + std::to_string(dy.cols()) +
                        ", expected " + std::to_string(this->output_size()) + " × " + std::to_string(n) +
                        " (the last forward_batch)");
        }
        if (grad != nullptr && !(grad->layout() == this->layout())) {
            throw error(std::string(caller) + ": the gradient was made for a network of another shape (" +
                        std::to_string(grad->layout().size()) + " parameters, this one has " + std::to_string(this->layout().size()) + ")");
        }
        const std::size_t last = this->layer_count() - 1;
        int cur = 0;
        auto delta = buf.delta_[cur].topLeftCorner(this->output_size(), n);
        delta = dy;
        activation_backward(this->layers()[last].act, delta, buf.activations_[last].leftCols(n));
        for (std::size_t l = last + 1; l-- > 0;) {
            const layer_spec& s = this->layers()[l];
            auto d = buf.delta_[cur].topLeftCorner(s.out, n);
            const auto& a_in = l == 0 ? buf.input_ : buf.activations_[l - 1];
            const bool bf16 = buf.precision_ == matmul_precision::bf16;
            if (grad == nullptr) {
                // input gradient only
            } else if (bf16) {
                gradient_bf16(buf, d, a_in, grad->weight(l));
                grad->bias(l).noalias() = d.rowwise().sum();
            } else if (detail::small_weight_gradient_pays(s.out, s.in, n, buf.kernel_columns_)) {
                detail::small_weight_gradient(d.data(), d.outerStride(), s.out, a_in.data(), a_in.rows(), s.in, n,
                                              grad->weight(l).data(), grad->bias(l).data());
            } else {
                grad->weight(l).noalias() = d * a_in.leftCols(n).transpose();
                grad->bias(l).noalias() = d.rowwise().sum();
            }
            if (l == 0 && dx == nullptr) {
                break;
            }
            // The first layer's input gradient only for inputs [first, end):
            // W's columns first to end − 1, contiguous in its column-major store.
            const Eigen::Index skip = l == 0 ? first : 0;
            const Eigen::Index rows_in = (l == 0 ? end : s.in) - skip;
            const Eigen::Map<const matrix> w(this->weight(l).data() + skip * s.out, s.out, rows_in);
            auto d_in = buf.delta_[1 - cur].topLeftCorner(rows_in, n);
            if (bf16) {
                product_bf16(buf, w, true, d.data(), d.outerStride(), n, d_in.data(), d_in.outerStride());
            } else if (detail::small_input_gradient_pays(s.out, rows_in, n, buf.kernel_columns_) &&
                       s.out * rows_in <= static_cast<Eigen::Index>(buf.transposed_.size())) {
                detail::small_input_gradient(w.data(), s.out, rows_in, d.data(), d.outerStride(), n, d_in.data(),
                                             d_in.outerStride(), buf.transposed_.data());
            } else {
                d_in.noalias() = w.transpose() * d;
            }
            if (l > 0) {
                activation_backward(this->layers()[l - 1].act, d_in, buf.activations_[l - 1].leftCols(n));
            } else {
                *dx = d_in;
            }
            cur = 1 - cur;
        }
    }
};

}  // namespace rlscale::nn
