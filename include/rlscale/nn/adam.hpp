#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/detail/packet.hpp>
#include <rlscale/nn/detail/step_check.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <string>

namespace rlscale::nn {

/// Adam's hyperparameters (Kingma & Ba 2015, Algorithm 1), with PyTorch's
/// names and defaults.
struct adam_config {
    double lr = 1e-3;             ///< step size α
    double beta1 = 0.9;           ///< decay of the first-moment estimate
    double beta2 = 0.999;         ///< decay of the second-moment estimate
    double eps = 1e-8;            ///< added to √v̂ for numerical stability
    double weight_decay = 0.0;    ///< L2 coefficient λ (0 = none)
    bool decoupled_weight_decay = false;  ///< false: g += λθ (torch.optim.Adam); true: θ -= lr·λ·θ (AdamW)

    /// SCARLET §4 (DQN): Adam with lr 1e-4.
    static adam_config scarlet() { return {.lr = 1e-4}; }
    /// SIMPPO §5 (PPO actor and critic): lr 3e-4.
    static adam_config simppo() { return {.lr = 3e-4}; }

    /// Throws config_error naming the first out-of-range field.
    void validate() const {
        check_fields("adam_config")
            .greater("lr", lr, 0)
            .in_closed_open("beta1", beta1, 0, 1)
            .in_closed_open("beta2", beta2, 0, 1)
            .greater("eps", eps, 0)
            .at_least("weight_decay", weight_decay, 0);
    }

    friend bool operator==(const adam_config&, const adam_config&) = default;
};

/// Adam over a flat parameter vector, with bias correction. State (m, v, t)
/// is sized at construction; `step` allocates nothing. Matches
/// torch.optim.Adam (and AdamW with `decoupled_weight_decay`) step for step.
template <typename T>
class adam {
public:
    using scalar = T;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    adam(Eigen::Index parameter_count, adam_config config = {})
        : config_((config.validate(), config)), m_(vector::Zero(parameter_count)), v_(vector::Zero(parameter_count)) {}

    /// θ ← θ - α·m̂/(√v̂ + ε) with m̂, v̂ the bias-corrected moment estimates.
    void step(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad) { step(params, grad, T(1)); }

    /// The same step on the gradient `grad_scale`·g, each value scaled as it
    /// is read: equal bit for bit to scaling g in place first (what
    /// clip_grad_norm does) and stepping on it, without the pass that
    /// writes the scaled gradient back.
    void step(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad, T grad_scale) {
        detail::check_step_sizes("adam", m_.size(), params.size(), grad.size());
        ++t_;
        const double bias1 = 1.0 - std::pow(config_.beta1, static_cast<double>(t_));
        const double bias2 = 1.0 - std::pow(config_.beta2, static_cast<double>(t_));
        const T b1 = static_cast<T>(config_.beta1);
        const T b2 = static_cast<T>(config_.beta2);
        const T step_size = static_cast<T>(config_.lr / bias1);
        const T inv_sqrt_bias2 = static_cast<T>(1.0 / std::sqrt(bias2));
        const T eps = static_cast<T>(config_.eps);
        const T decay = static_cast<T>(1.0 - config_.lr * config_.weight_decay);
        const bool decoupled = config_.decoupled_weight_decay;
        const T l2 = decoupled ? T(0) : static_cast<T>(config_.weight_decay);
        // One pass over θ, g, m and v, a vector register's worth at a time
        // (fixed-size Eigen arrays, so sqrt and the division are vectorised
        // for the instruction set compiled for): at a few thousand
        // parameters the four vectors outgrow the L1 cache, and three
        // separate array expressions would stream them three times. Each
        // value gets the same operations, in the same order, as torch's
        // Adam, whatever the block. `g` is the block's gradient, already
        // scaled, in registers (or on the stack for the tail).
        const auto update = [&](auto& p, auto& g, auto& m, auto& v) {
            if (decoupled) {
                p *= decay;  // AdamW: decay θ directly
            } else if (l2 != T(0)) {
                g += l2 * p;  // Adam: the L2 term joins the gradient
            }
            m = b1 * m + (T(1) - b1) * g;
            v = b2 * v + (T(1) - b2) * g.square();
            p -= step_size * m / (v.sqrt() * inv_sqrt_bias2 + eps);
        };
        // A scale of 1 leaves the gradient as read, so that the unscaled
        // step is the same expression whatever the compiler contracts.
        const bool scaled = grad_scale != T(1);
        constexpr int P = detail::packet_size<T>;
        using block = Eigen::Array<T, P, 1>;
        using view = Eigen::Map<block, Eigen::Unaligned>;
        using const_view = Eigen::Map<const block, Eigen::Unaligned>;
        const Eigen::Index n = params.size();
        T* pd = params.data();
        const T* gd = grad.data();
        T* md = m_.data();
        T* vd = v_.data();
        Eigen::Index i = 0;
        for (; i + P <= n; i += P) {
            view p(pd + i);
            view m(md + i);
            view v(vd + i);
            block g = const_view(gd + i);
            if (scaled) g *= grad_scale;
            update(p, g, m, v);
        }
        if (i < n) {
            using tail = Eigen::Array<T, Eigen::Dynamic, 1>;
            // At most P values, held on the stack.
            using tail_block = Eigen::Array<T, Eigen::Dynamic, 1, Eigen::ColMajor, P, 1>;
            Eigen::Map<tail> p(pd + i, n - i);
            Eigen::Map<tail> m(md + i, n - i);
            Eigen::Map<tail> v(vd + i, n - i);
            tail_block g = Eigen::Map<const tail>(gd + i, n - i);
            if (scaled) g *= grad_scale;
            update(p, g, m, v);
        }
    }

    [[nodiscard]] const adam_config& config() const noexcept { return config_; }
    /// Changes the step size from the next step on (a learning-rate
    /// schedule); the moments are kept. Throws config_error unless lr > 0.
    void set_lr(double lr) {
        check_fields("adam_config").greater("lr", lr, 0);
        config_.lr = lr;
    }
    [[nodiscard]] std::int64_t step_count() const noexcept { return t_; }
    [[nodiscard]] const vector& first_moment() const noexcept { return m_; }
    [[nodiscard]] const vector& second_moment() const noexcept { return v_; }
    [[nodiscard]] Eigen::Index parameter_count() const noexcept { return m_.size(); }

    /// Replaces the whole state at once (used by checkpoint loading, which
    /// validates first). Sizes must match.
    void restore(std::int64_t step_count, const vector& m, const vector& v) {
        if (m.size() != m_.size() || v.size() != v_.size() || step_count < 0) {
            throw error("adam::restore: state does not match the optimiser");
        }
        t_ = step_count;
        m_ = m;
        v_ = v;
    }

private:
    adam_config config_;
    vector m_;
    vector v_;
    std::int64_t t_ = 0;
};

static_assert(optimizer<adam<float>>);
static_assert(optimizer<adam<double>>);

}  // namespace rlscale::nn
