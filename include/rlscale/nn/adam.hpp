#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/detail/bfloat16.hpp>
#include <rlscale/nn/detail/packet.hpp>
#include <rlscale/nn/detail/step_check.hpp>

#include <Eigen/Core>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

namespace rlscale::nn {

/// How Adam stores its two moment estimates.
enum class moment_storage : std::uint8_t {
    parameter_type,  ///< in the parameters' type (torch.optim.Adam)
    /// bfloat16, rounded stochastically after each step (adam<float> only):
    /// half the optimiser's memory. Each step computes in float from the
    /// stored values; the rounding is unbiased, so changes below
    /// bfloat16's resolution (β₂ = 0.999 shrinks v by 0.1 % a step, an
    /// eighth to a quarter of its spacing) survive in expectation, where rounding to
    /// nearest would drop them every time.
    bfloat16,
};

[[nodiscard]] constexpr std::string_view to_string(moment_storage s) noexcept {
    return s == moment_storage::bfloat16 ? "bfloat16" : "parameter_type";
}

/// Adam's hyperparameters (Kingma & Ba 2015, Algorithm 1), with PyTorch's
/// names and defaults.
struct adam_config {
    double lr = 1e-3;             ///< step size α
    double beta1 = 0.9;           ///< decay of the first-moment estimate
    double beta2 = 0.999;         ///< decay of the second-moment estimate
    double eps = 1e-8;            ///< added to √v̂ for numerical stability
    double weight_decay = 0.0;    ///< L2 coefficient λ (0 = none)
    bool decoupled_weight_decay = false;  ///< false: g += λθ (torch.optim.Adam); true: θ -= lr·λ·θ (AdamW)
    moment_storage moments = moment_storage::parameter_type;  ///< how m and v are stored
    std::uint64_t rounding_seed = 0;  ///< moments = bfloat16: the seed of the rounding's random bits

    /// These settings for optimiser `which` (0 to 3) of a learner seeded
    /// `seed`: rounding_seed + 4·seed + which, so a learner's optimisers
    /// round bfloat16 moments with streams of their own (two optimisers on
    /// one stream would round alike, step for step) and another seed rounds
    /// otherwise. With moments kept in the parameter type the seed is unused
    /// (a checkpoint still records it).
    [[nodiscard]] adam_config rounding_stream(std::uint64_t seed, std::uint64_t which) const noexcept {
        adam_config c = *this;
        c.rounding_seed += seed * 4 + which;
        return c;
    }

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
/// torch.optim.Adam (and AdamW with `decoupled_weight_decay`) step for step
/// to rounding: the same update, with its operations in another order than
/// torch's (m as β1·m + (1 − β1)·g where torch lerps; √v times 1/√(1 − β2ᵗ)
/// where torch divides), and with 1 − β1 and 1 − β2 computed in T from β
/// rounded to T, where torch rounds the double 1 − β. For float and
/// β2 = 0.999 the latter makes v's increment 1.3e-5 smaller relative to
/// torch's and a step about 6e-6 larger (the PyTorch comparisons run in
/// double, where the two agree to 1e-16). Changing it would move every
/// trained figure the docs quote.
///
/// With `moments = moment_storage::bfloat16` the moments are kept as
/// bfloat16: each step reads them into float, does the same arithmetic, and
/// rounds them back stochastically with random bits that depend only on
/// (rounding_seed, step count, index), so a run is reproducible for a seed
/// and resumes exactly from restore(). Not torch's Adam: the moments carry
/// rounding noise of less than 2⁻⁷ of their value per step.
template <typename T>
class adam {
public:
    using scalar = T;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    adam(Eigen::Index parameter_count, adam_config config = {})
        : config_((check(config), config)),
          m_(vector::Zero(half() ? 0 : parameter_count)),
          v_(vector::Zero(half() ? 0 : parameter_count)),
          m16_(half() ? parameter_count : 0),
          v16_(half() ? parameter_count : 0),
          n_(parameter_count) {
        m16_.setZero();
        v16_.setZero();
    }

    /// θ ← θ - α·m̂/(√v̂ + ε) with m̂, v̂ the bias-corrected moment estimates.
    /// Each gradient value must be finite with |g| below about √(max of T)
    /// (1.8e19 in float, 1.3e154 in double): g·g overflows beyond it, the
    /// second moment becomes +∞ and stays so, and that parameter never moves
    /// again. Nothing here checks it; the learners skip a step whose
    /// gradient norm is not finite, and a value that large has a norm that
    /// is not finite either.
    void step(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad) { step(params, grad, T(1)); }

    /// The same step on the gradient `grad_scale`·g, each value scaled as it
    /// is read: equal bit for bit to scaling g in place first (what
    /// clip_grad_norm does) and stepping on it, without the pass that
    /// writes the scaled gradient back.
    void step(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad, T grad_scale) {
        detail::check_step_sizes("adam", n_, params.size(), grad.size());
        // Saturated (a restored count may be at the limit): the bias
        // corrections are 1 long before it.
        if (t_ < std::numeric_limits<std::int64_t>::max()) ++t_;
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
        // value gets the same operations in the same order whatever the
        // block (torch's Adam orders some of them otherwise; the result
        // agrees to rounding). `g` is the block's gradient, already
        // scaled, in registers (or on the stack for the tail).
        const auto update = [=](auto& p, auto& g, auto& m, auto& v) {
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
        if constexpr (std::is_same_v<T, float>) {
            if (half()) {
                step_bfloat16(params, grad, grad_scale, scaled, update);
                return;
            }
        }
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
    /// schedule); the moments are kept. Throws config_error naming
    /// adam_config.lr, and changes nothing, for a rate the constructor
    /// refuses: not finite and > 0, or lr / (1 − β1) not finite in T (1e39
    /// for a float network: its first step would make every parameter
    /// infinite).
    void set_lr(double lr) {
        adam_config next = config_;
        next.lr = lr;
        check(next);
        config_.lr = lr;
    }
    [[nodiscard]] std::int64_t step_count() const noexcept { return t_; }
    /// The first moment m, as a copy (in T whatever the storage).
    [[nodiscard]] vector first_moment() const {
        vector m(n_);
        read(m_, m16_, m);
        return m;
    }
    /// The second moment v, as a copy (in T whatever the storage).
    [[nodiscard]] vector second_moment() const {
        vector v(n_);
        read(v_, v16_, v);
        return v;
    }
    /// Writes m and v into vectors of parameter_count() values, without
    /// allocating.
    void read_moments(Eigen::Ref<vector> m, Eigen::Ref<vector> v) const {
        if (m.size() != n_ || v.size() != n_) {
            throw error("adam::read_moments: m has " + std::to_string(m.size()) + " values and v " + std::to_string(v.size()) +
                        ", the optimiser " + std::to_string(n_));
        }
        read(m_, m16_, m);
        read(v_, v16_, v);
    }
    [[nodiscard]] Eigen::Index parameter_count() const noexcept { return n_; }
    /// The bytes the two moments occupy.
    [[nodiscard]] std::size_t state_bytes() const noexcept {
        return static_cast<std::size_t>(m_.size() + v_.size()) * sizeof(T) +
               static_cast<std::size_t>(m16_.size() + v16_.size()) * sizeof(std::uint16_t);
    }

    /// Replaces the whole state at once (used by checkpoint loading, which
    /// validates first). Sizes must match. With bfloat16 storage, values
    /// that are bfloat16 (all this optimiser writes, subnormals included)
    /// are kept exactly, others rounded to nearest.
    void restore(std::int64_t step_count, const Eigen::Ref<const vector>& m, const Eigen::Ref<const vector>& v) {
        if (m.size() != n_ || v.size() != n_ || step_count < 0) {
            throw error("adam::restore: state (m " + std::to_string(m.size()) + ", v " + std::to_string(v.size()) + " values, step " +
                        std::to_string(step_count) + ") does not match the optimiser (" + std::to_string(n_) + " values, step >= 0)");
        }
        if (half()) {
            // A finite float at or above about 3.3962e38 rounds to infinity in
            // bfloat16; refused before anything changes.
            for (const auto* part : {&m, &v}) {
                for (Eigen::Index i = 0; i < n_; ++i) {
                    const float x = static_cast<float>((*part)[i]);
                    if (std::isfinite(x) && !std::isfinite(detail::from_bf16(detail::to_bf16(x)))) {
                        throw error(std::string("adam::restore: ") + (part == &m ? "m" : "v") + "[" + std::to_string(i) + "] = " +
                                    format_number(x) + " is beyond bfloat16's range");
                    }
                }
            }
        }
        t_ = step_count;
        if (half()) {
            // A bfloat16 value (subnormals included) is kept exactly;
            // anything else is rounded to nearest.
            const auto narrow = [](T x) {
                const auto u = std::bit_cast<std::uint32_t>(static_cast<float>(x));
                return (u & 0xffffU) == 0 ? static_cast<std::uint16_t>(u >> 16) : detail::to_bf16(static_cast<float>(x));
            };
            for (Eigen::Index i = 0; i < n_; ++i) {
                m16_[i] = narrow(m[i]);
                v16_[i] = narrow(v[i]);
            }
        } else {
            m_ = m;
            v_ = v;
        }
    }

private:
    using half_vector = Eigen::Matrix<std::uint16_t, Eigen::Dynamic, 1>;

    static void check(const adam_config& config) {
        config.validate();
        // Valid as doubles, but the step computes in T: eps must not round to
        // 0, the betas not to 1, and the first step's size must stay finite.
        check_fields("adam_config")
            .require(static_cast<T>(config.eps) > T(0), "eps", "stay above 0 in the parameters' precision", config.eps)
            .require(static_cast<T>(config.beta1) < T(1), "beta1", "stay below 1 in the parameters' precision", config.beta1)
            .require(static_cast<T>(config.beta2) < T(1), "beta2", "stay below 1 in the parameters' precision", config.beta2)
            // A rate that is 0 in T (1e-50 in float) would take no step at all.
            .require(static_cast<T>(config.lr) > T(0), "lr", "stay above 0 in the parameters' precision", config.lr)
            .require(std::isfinite(static_cast<T>(config.lr / (1.0 - config.beta1))), "lr",
                     "keep lr / (1 - beta1) finite in the parameters' precision", config.lr)
            // λ and AdamW's 1 − lr·λ are used in T: past its range they
            // would be infinite, and every parameter NaN after one step.
            .require(config.weight_decay <= static_cast<double>(std::numeric_limits<T>::max()), "weight_decay",
                     "fit the parameters' precision", config.weight_decay)
            .require(std::abs(1.0 - config.lr * config.weight_decay) <= static_cast<double>(std::numeric_limits<T>::max()),
                     "weight_decay", "keep 1 - lr * weight_decay within the parameters' precision", config.weight_decay);
        if (!std::is_same_v<T, float> && config.moments == moment_storage::bfloat16) {
            throw config_error("adam_config.moments", "bfloat16 moments need float parameters (adam<float>)");
        }
    }
    [[nodiscard]] bool half() const noexcept { return config_.moments == moment_storage::bfloat16; }

    static void read(const vector& full, const half_vector& h, Eigen::Ref<vector> out) {
        if (h.size() > 0) {
            for (Eigen::Index i = 0; i < h.size(); ++i) out[i] = static_cast<T>(detail::from_bf16(h[i]));
        } else {
            out = full;
        }
    }

    /// The bfloat16 step: per register's worth of values, m and v read into
    /// float, `update` (the same arithmetic as the float step), m and v
    /// rounded back stochastically. The random bits of element i at step t
    /// are detail::mix_bits(key(t), i): the low half rounds m, the high half v.
    template <typename Update>
    void step_bfloat16(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad, T grad_scale, bool scaled,
                       const Update& step_values) {
        // A copy whose address does not escape, so that its constants stay
        // in registers across the moments' stores (the vector stores may
        // alias anything).
        const Update update = step_values;
        constexpr int P = detail::packet_size<float>;
        using block = Eigen::Array<float, P, 1>;
        using view = Eigen::Map<block, Eigen::Unaligned>;
        using const_view = Eigen::Map<const block, Eigen::Unaligned>;
        const std::uint32_t key = step_key();
        float* pd = params.data();
        const float* gd = grad.data();
        std::uint16_t* md = m16_.data();
        std::uint16_t* vd = v16_.data();
        Eigen::Index i = 0;
        for (; i + P <= n_; i += P) {
            view p(pd + i);
            block m;
            block v;
            detail::widen_bf16(md + i, m.data(), P);
            detail::widen_bf16(vd + i, v.data(), P);
            block g = const_view(gd + i);
            if (scaled) g *= grad_scale;
            update(p, g, m, v);
            detail::narrow_moments(m.data(), v.data(), md + i, vd + i, key, static_cast<std::uint32_t>(i), P);
        }
        if (i < n_) {
            using tail = Eigen::Array<float, Eigen::Dynamic, 1>;
            using tail_block = Eigen::Array<float, Eigen::Dynamic, 1, Eigen::ColMajor, P, 1>;
            const Eigen::Index r = n_ - i;
            Eigen::Map<tail> p(pd + i, r);
            tail_block m(r);
            tail_block v(r);
            detail::widen_bf16(md + i, m.data(), r);
            detail::widen_bf16(vd + i, v.data(), r);
            tail_block g = Eigen::Map<const tail>(gd + i, r);
            if (scaled) g *= grad_scale;
            update(p, g, m, v);
            detail::narrow_moments(m.data(), v.data(), md + i, vd + i, key, static_cast<std::uint32_t>(i), r);
        }
    }

    /// The key of step t_'s random bits: the seed and the step mixed.
    [[nodiscard]] std::uint32_t step_key() const noexcept {
        const auto s = config_.rounding_seed;
        const auto t = static_cast<std::uint64_t>(t_);
        const std::uint32_t a = detail::mix_bits(static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(s >> 32));
        return detail::mix_bits(a ^ static_cast<std::uint32_t>(t >> 32), static_cast<std::uint32_t>(t));
    }

    adam_config config_;
    vector m_;
    vector v_;
    half_vector m16_;
    half_vector v16_;
    Eigen::Index n_;
    std::int64_t t_ = 0;
};

static_assert(optimizer<adam<float>>);
static_assert(optimizer<adam<double>>);

}  // namespace rlscale::nn
