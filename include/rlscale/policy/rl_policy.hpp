#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/nn/quantized_mlp.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/input_check.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/shared_network.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace rlscale {

/// A learned Q-network served greedily as a scaling policy: encoder, network,
/// action map, guard and fallback.
///
/// Each tick, every function's metrics go through `Encoder` into one
/// observation (functions concatenated in order); the current published
/// network scores the actions; the greedy action of each head becomes replica
/// targets through `Actions`; the guard clamps each to [min, max] and to the
/// per-tick step limits. The fallback (by default the Kubernetes HPA, one per
/// function) decides instead, under the same guard, when no weights are
/// published yet, when a function's metrics fail check_metrics or the
/// encoder, or when the network's output is not finite.
///
/// Deciding is noexcept and allocates nothing. The weights live in a
/// rl::shared_network that a trainer (or a checkpoint load) may update
/// while decisions run: each rl_policy reads one consistent snapshot per
/// tick. One rl_policy per control loop; many may share one shared_network.
template <encoder Encoder, rl::action_map Actions, policy Fallback = hpa_policy>
class rl_policy {
public:
    using network = nn::mlp<float>;

    /// Throws config_error when the network's shape does not match the
    /// encoder and action map, or the fallbacks are not one per function.
    rl_policy(std::shared_ptr<rl::shared_network<float>> weights, Encoder encoder, Actions actions,
              std::vector<Fallback> fallbacks, guard_config limits = {})
        : weights_(std::move(weights)),
          encoder_(std::move(encoder)),
          actions_(std::move(actions)),
          fallbacks_(std::move(fallbacks)),
          guard_((limits.validate(), limits)),
          functions_(actions_.functions()) {
        if (!weights_) throw config_error("rl_policy.weights", "must not be null");
        const auto& layout = weights_->layout();
        const std::size_t in = functions_ * encoder_.size();
        if (static_cast<std::size_t>(layout.layers().front().in) != in) {
            throw config_error("rl_policy.weights", "network takes " + std::to_string(layout.layers().front().in) +
                                                       " inputs, the encoder gives " + std::to_string(in) + " for " +
                                                       std::to_string(functions_) + " functions");
        }
        if (static_cast<std::size_t>(layout.layers().back().out) != actions_.layout().outputs()) {
            throw config_error("rl_policy.weights", "network has " + std::to_string(layout.layers().back().out) +
                                                       " outputs, the action map needs " +
                                                       std::to_string(actions_.layout().outputs()));
        }
        if (fallbacks_.size() != functions_) {
            throw config_error("rl_policy.fallbacks", "needs one per function (" + std::to_string(functions_) + "), got " +
                                                          std::to_string(fallbacks_.size()));
        }
        observation_.resize(in);
        heads_.resize(actions_.layout().heads);
        targets_.resize(functions_);
        buffer_ = std::make_unique<network::inference_buffer>(network(layout.layers()));
    }

    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    /// Ready when the fallback can decide; whether the network serves is weights_ready().
    [[nodiscard]] bool ready() const noexcept {
        return std::all_of(fallbacks_.begin(), fallbacks_.end(), [](const Fallback& f) { return f.ready(); });
    }
    [[nodiscard]] bool weights_ready() const noexcept { return weights_->ready(); }
    [[nodiscard]] rl::shared_network<float>& weights() noexcept { return *weights_; }
    [[nodiscard]] Fallback& fallback(std::size_t f) noexcept { return fallbacks_[f]; }
    [[nodiscard]] const Encoder& encoder_in_use() const noexcept { return encoder_; }
    [[nodiscard]] const Actions& actions() const noexcept { return actions_; }

    /// Decides every function's replicas for one tick: `m`, `s` and `out`
    /// hold one entry per function. Short spans hold every function.
    void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        if (m.size() != functions_ || s.size() != functions_ || out.size() != functions_) {
            for (std::size_t f = 0; f < std::min(s.size(), out.size()); ++f) out[f] = hold(s[f], "rl: wrong number of functions");
            return;
        }
        const char* why = learned(m, s);
        for (std::size_t f = 0; f < functions_; ++f) {
            decision d;
            if (why == nullptr) {
                d = {.replicas = targets_[f], .source = decision_source::policy, .reason = "rl: greedy"};
            } else {
                d = fallback_decision(f, m[f], s[f], why);
            }
            out[f] = apply_guard(d, s[f], guard_);
        }
    }

    /// The one-function form (the rlscale policy interface); with more
    /// functions configured it holds.
    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        if (functions_ != 1) return hold(s, "rl: decide(m, s) needs a one-function policy");
        decision d;
        decide(std::span<const function_metrics>(&m, 1), std::span<const scaling_state>(&s, 1), std::span<decision>(&d, 1));
        return d;
    }

    /// Serves from an int8 copy of the weights (nn::quantized_mlp: about 4×
    /// faster per decision, and the greedy action agrees with the float
    /// network's on about 99 % of inputs; docs/benchmarks.md). The copy is
    /// re-quantized, without allocating, on the first decision after each
    /// publish. Allocates the copy here, so call it before deciding.
    void serve_int8() {
        if (!weights_->ready()) throw config_error("rl_policy.serve_int8", "needs published weights to size the int8 copy");
        const auto snapshot = weights_->acquire();
        quantized_ = std::make_unique<nn::quantized_mlp>(*snapshot.operator->());
        quantized_buffer_ = std::make_unique<nn::quantized_mlp::inference_buffer>(*quantized_);
        quantized_version_ = 0;
    }
    [[nodiscard]] bool serves_int8() const noexcept { return quantized_ != nullptr; }

    /// The greedy head indices of the last tick the network decided.
    [[nodiscard]] std::span<const std::int32_t> last_heads() const noexcept { return heads_; }

private:
    /// Encodes, scores and maps to replica targets; nullptr on success, else why not.
    const char* learned(std::span<const function_metrics> m, std::span<const scaling_state> s) noexcept {
        if (!weights_->ready()) return "rl: no weights published, fallback";
        const std::size_t width = encoder_.size();
        for (std::size_t f = 0; f < functions_; ++f) {
            if (!check_metrics(m[f])) return "rl: invalid metrics, fallback";
            const std::span<float> slice(observation_.data() + f * width, width);
            if (!encoder_.encode(m[f], s[f], slice)) return "rl: encoder refused the metrics, fallback";
        }
        const Eigen::Map<const Eigen::VectorXf> x(observation_.data(), static_cast<Eigen::Index>(observation_.size()));
        if (quantized_) {
            // The version is read before the snapshot: a publish in between
            // leaves the copy newer than recorded, and it is redone next tick.
            if (const std::uint64_t v = weights_->version(); v != quantized_version_) {
                const auto snapshot = weights_->acquire();
                quantized_->quantize_from(*snapshot.operator->());
                quantized_version_ = v;
            }
            const auto q = quantized_->forward(x, *quantized_buffer_);
            if (!q.allFinite()) return "rl: network output not finite, fallback";
            rl::argmax_per_head(q, actions_.layout(), heads_);
        } else {
            const auto snapshot = weights_->acquire();
            const auto q = snapshot->forward(x, *buffer_);
            if (!q.allFinite()) return "rl: network output not finite, fallback";
            rl::argmax_per_head(q, actions_.layout(), heads_);
        }
        rl::replica_targets(actions_, heads_, m, s, targets_);
        return nullptr;
    }

    decision fallback_decision(std::size_t f, const function_metrics& m, const scaling_state& s, const char* why) noexcept {
        if (!check_metrics(m) || !fallbacks_[f].ready()) return hold(s, why);
        decision d = fallbacks_[f].decide(m, s);
        if (d.source == decision_source::policy) {
            d.source = decision_source::fallback;
            d.reason = why;
        }
        return d;
    }

    std::shared_ptr<rl::shared_network<float>> weights_;
    Encoder encoder_;
    Actions actions_;
    std::vector<Fallback> fallbacks_;
    guard_config guard_;
    std::size_t functions_;
    std::vector<float> observation_;
    std::vector<std::int32_t> heads_;
    std::vector<int> targets_;
    std::unique_ptr<network::inference_buffer> buffer_;
    std::unique_ptr<nn::quantized_mlp> quantized_;
    std::unique_ptr<nn::quantized_mlp::inference_buffer> quantized_buffer_;
    std::uint64_t quantized_version_ = 0;
};

}  // namespace rlscale
