#pragma once

/// The serving halves of rlscale's algorithms, each a model of the `actor`
/// concept over weights a learner (or a checkpoint load) publishes to a
/// shared_network:
///
///   greedy_q_actor       DQN: the best action per Q head (float or int8)
///   categorical_actor    PPO (discrete): per head, the most likely or a sampled action over logits
///   deterministic_actor  DDPG / TD3: μ(s), one continuous value per action dimension
///
/// None includes a trainer. Each serves one consistent snapshot of the
/// published weights, the newest from the first call after each publish
/// (rl::network_follower), allocates nothing after construction, and
/// reports act_status::no_weights before the first publish and
/// act_status::not_finite for a non-finite output, act_status::bad_size for
/// an observation or action span not of the network's sizes (nothing is
/// written then that a caller could act on).

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/nn/distributions.hpp>
#include <rlscale/nn/quantized_mlp.hpp>
#include <rlscale/rl/q_layout.hpp>
#include <rlscale/rl/shared_network.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace rlscale::rl {

namespace detail {

/// Checks that `weights` is set and has `in` inputs and `out` outputs.
inline void check_network_shape(const char* who, const std::shared_ptr<shared_network<float>>& weights, std::size_t out) {
    const check_fields check(who);
    check.not_null("weights", weights);
    const auto last = static_cast<std::size_t>(weights->layout().layers().back().out);
    check.require(last == out, "weights", "have " + format_number(out) + " outputs (the action layout's)", last);
}

/// A network's forward pass over published weights (the latest snapshot,
/// through a follower's own copy), with its own scratch.
class published_forward {
public:
    explicit published_forward(std::shared_ptr<shared_network<float>> weights)
        : follower_(std::move(weights)), buffer_(follower_.net()) {}

    [[nodiscard]] std::size_t input_size() const noexcept {
        return static_cast<std::size_t>(weights().layout().layers().front().in);
    }
    [[nodiscard]] std::size_t output_size() const noexcept {
        return static_cast<std::size_t>(weights().layout().layers().back().out);
    }
    [[nodiscard]] shared_network<float>& weights() const noexcept { return follower_.weights(); }

    /// Runs `observation` through the latest snapshot and hands the output
    /// (an Eigen column) to `use`, which returns the act_status; `out_size`
    /// is the size of the span `use` writes, `outputs` how many it needs.
    template <typename Use>
    act_status operator()(std::span<const float> observation, std::size_t out_size, std::size_t outputs, Use&& use) noexcept {
        if (!follower_.refresh()) return act_status::no_weights;
        if (observation.size() != static_cast<std::size_t>(follower_.net().input_size()) || out_size != outputs) {
            return act_status::bad_size;
        }
        const Eigen::Map<const Eigen::VectorXf> x(observation.data(), static_cast<Eigen::Index>(observation.size()));
        const auto y = follower_.net().forward(x, buffer_);
        if (!y.allFinite()) return act_status::not_finite;
        return use(y);
    }

private:
    network_follower<float> follower_;
    nn::mlp<float>::inference_buffer buffer_;
};

}  // namespace detail

/// DQN's serving half: the greedy action of each head of a Q network laid
/// out as `layout` (ties to the lowest index). Optionally serves from an int8
/// copy of the weights (nn::quantized_mlp: about 4× faster per decision; the
/// greedy action agrees with the float network's on about 99 % of inputs,
/// docs/benchmarks.md), re-quantized without allocating on the first call
/// after each publish; the float copy is then released.
class greedy_q_actor {
public:
    using value_type = std::int32_t;

    /// Throws config_error when `weights` is null or its output does not
    /// match `layout`.
    greedy_q_actor(std::shared_ptr<shared_network<float>> weights, q_layout layout)
        : weights_((layout.validate(), detail::check_network_shape("greedy_q_actor", weights, layout.outputs()), std::move(weights))),
          float_(std::in_place, weights_),
          layout_(layout) {}

    [[nodiscard]] std::size_t input_size() const noexcept {
        return static_cast<std::size_t>(weights_->layout().layers().front().in);
    }
    [[nodiscard]] std::size_t output_size() const noexcept { return layout_.heads; }
    [[nodiscard]] q_layout layout() const noexcept { return layout_; }
    [[nodiscard]] shared_network<float>& weights() const noexcept { return *weights_; }

    act_status act(std::span<const float> observation, std::span<std::int32_t> out) noexcept {
        if (quantized_) return act_int8(observation, out);
        return (*float_)(observation, out.size(), layout_.heads, [&](const auto& q) {
            argmax_per_head(q, layout_, out);
            return act_status::ok;
        });
    }

    /// Serves from an int8 copy of the weights from now on (and frees the
    /// float copy). Allocates the copy here, so call it before acting;
    /// needs published weights to size it.
    void serve_int8() {
        if (quantized_) return;
        if (!weights().ready()) throw config_error("greedy_q_actor.serve_int8", "needs published weights to size the int8 copy");
        const auto snapshot = weights().acquire();
        auto quantized = std::make_unique<nn::quantized_mlp>(snapshot.net());
        quantized_buffer_ = std::make_unique<nn::quantized_mlp::inference_buffer>(*quantized);
        quantized_ = std::move(quantized);
        quantized_version_ = 0;
        float_.reset();
    }
    [[nodiscard]] bool serves_int8() const noexcept { return quantized_ != nullptr; }

private:
    act_status act_int8(std::span<const float> observation, std::span<std::int32_t> out) noexcept {
        // Re-quantized once per publish, as a network_follower copies.
        if (!weights().copy_if_newer(quantized_version_, [this](const nn::mlp<float>& net) { quantized_->quantize_from(net); }))
            return act_status::no_weights;
        if (observation.size() != static_cast<std::size_t>(quantized_->input_size()) || out.size() != layout_.heads) {
            return act_status::bad_size;
        }
        const Eigen::Map<const Eigen::VectorXf> x(observation.data(), static_cast<Eigen::Index>(observation.size()));
        const auto q = quantized_->forward(x, *quantized_buffer_);
        if (!q.allFinite()) return act_status::not_finite;
        argmax_per_head(q, layout_, out);
        return act_status::ok;
    }

    std::shared_ptr<shared_network<float>> weights_;
    std::optional<detail::published_forward> float_;  // empty once serving int8
    q_layout layout_;
    std::unique_ptr<nn::quantized_mlp> quantized_;
    std::unique_ptr<nn::quantized_mlp::inference_buffer> quantized_buffer_;
    std::uint64_t quantized_version_ = 0;
};
static_assert(actor<greedy_q_actor>);

/// How a categorical_actor picks from each head's logits.
enum class categorical_mode : std::uint8_t {
    greedy,  ///< the most likely action (serving)
    sample,  ///< a draw from softmax(logits) with the actor's own seeded generator
};

/// PPO's discrete serving half: a policy network whose output is one group
/// of logits per head (laid out as `layout`); per head, the most likely
/// action, or one sampled from softmax(logits).
class categorical_actor {
public:
    using value_type = std::int32_t;

    categorical_actor(std::shared_ptr<shared_network<float>> weights, q_layout layout,
                      categorical_mode mode = categorical_mode::greedy, std::uint64_t seed = 1)
        : net_((layout.validate(), detail::check_network_shape("categorical_actor", weights, layout.outputs()), std::move(weights))),
          layout_(layout),
          mode_(mode),
          gen_(seed) {}

    [[nodiscard]] std::size_t input_size() const noexcept { return net_.input_size(); }
    [[nodiscard]] std::size_t output_size() const noexcept { return layout_.heads; }
    [[nodiscard]] q_layout layout() const noexcept { return layout_; }
    [[nodiscard]] categorical_mode mode() const noexcept { return mode_; }

    act_status act(std::span<const float> observation, std::span<std::int32_t> out) noexcept {
        return net_(observation, out.size(), layout_.heads, [&](const auto& logits) {
            if (mode_ == categorical_mode::greedy) {
                argmax_per_head(logits, layout_, out);
                return act_status::ok;
            }
            for (std::size_t h = 0; h < layout_.heads; ++h) out[h] = sample_head(logits, h);
            return act_status::ok;
        });
    }

private:
    /// A draw from softmax of head h's logits (nn::categorical, the
    /// distribution PPO trains).
    template <typename V>
    std::int32_t sample_head(const V& logits, std::size_t h) noexcept {
        const auto n = static_cast<Eigen::Index>(layout_.actions_per_head);
        return static_cast<std::int32_t>(nn::categorical::sample(logits.segment(static_cast<Eigen::Index>(h) * n, n), gen_));
    }

    detail::published_forward net_;
    q_layout layout_;
    categorical_mode mode_;
    rng gen_;
};
static_assert(actor<categorical_actor>);

/// DDPG's and TD3's serving half: the deterministic policy μ(s), one value
/// per action dimension as the network outputs it (a tanh output layer
/// gives values in [−1, 1], which a continuous action map scales to its
/// bounds).
class deterministic_actor {
public:
    using value_type = float;

    explicit deterministic_actor(std::shared_ptr<shared_network<float>> weights)
        : net_((check(weights), std::move(weights))) {}

    [[nodiscard]] std::size_t input_size() const noexcept { return net_.input_size(); }
    [[nodiscard]] std::size_t output_size() const noexcept { return net_.output_size(); }

    act_status act(std::span<const float> observation, std::span<float> out) noexcept {
        return net_(observation, out.size(), net_.output_size(), [&](const auto& mu) {
            for (Eigen::Index i = 0; i < mu.size(); ++i) out[static_cast<std::size_t>(i)] = mu(i);
            return act_status::ok;
        });
    }

private:
    static void check(const std::shared_ptr<shared_network<float>>& w) {
        check_fields("deterministic_actor").not_null("weights", w);
    }
    detail::published_forward net_;
};
static_assert(actor<deterministic_actor>);

}  // namespace rlscale::rl
