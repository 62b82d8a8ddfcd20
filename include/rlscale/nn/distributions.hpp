#pragma once

/// The action distributions of policy-gradient learners (PPO): a categorical
/// distribution over one head's logits and a diagonal Gaussian with a
/// state-independent log standard deviation. Each offers sampling (from a
/// generator the caller passes), the log-probability, the entropy, and the
/// gradient of w_lp·log π(a) + w_ent·H with respect to its parameters, which
/// is all a clipped-surrogate update needs. Everything is computed in
/// double whatever the network's scalar type, allocates nothing and never
/// throws. Gradients are checked against finite differences in
/// tests/nn/distributions_test.cpp.

#include <rlscale/core/random.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <type_traits>

namespace rlscale::nn {

/// Categorical distribution π(a) = softmax(z)_a over one head's logits z
/// (an Eigen vector expression, e.g. a segment of a network's output).
struct categorical {
    /// Logits of a magnitude above this (2^20) have their log-probabilities
    /// taken as (z_k − top) − log Σ exp(z − top) rather than z_k − (top +
    /// log Σ exp(z − top)): the sum top + log(...) is rounded to top's
    /// spacing, 2^-32 at 2^20 but 2 at 10^16 (so three equal logits of
    /// 10^16 would give log π = −2, not −log 3) and 16 at 10^17. Below it
    /// the error is under 2^-33, and the usual form is kept, so that
    /// ordinary logits give the same bits as they always have.
    static constexpr double large_logit = 1048576.0;

    /// log Σ_k exp(z_k), shifted by the largest logit so exp cannot overflow.
    /// Beyond `large_logit` it is rounded to the largest logit's spacing;
    /// the log-probabilities, entropy, samples and gradients do not go
    /// through it there.
    template <typename Derived>
    [[nodiscard]] static double log_normalizer(const Eigen::MatrixBase<Derived>& logits) noexcept {
        return normalize(logits).lse;
    }

    /// log π(a) = z_a − log Σ_k exp(z_k).
    template <typename Derived>
    [[nodiscard]] static double log_prob(const Eigen::MatrixBase<Derived>& logits, Eigen::Index a) noexcept {
        return normalize(logits).log_prob(static_cast<double>(logits(a)));
    }

    /// H = −Σ_k π_k log π_k = log Σ exp(z) − Σ_k π_k z_k.
    template <typename Derived>
    [[nodiscard]] static double entropy(const Eigen::MatrixBase<Derived>& logits) noexcept {
        return entropy_visiting(logits, normalize(logits), [](Eigen::Index, double, double) noexcept {});
    }

    /// log π(a) and H, as `log_prob` and `entropy` compute them.
    struct evaluation {
        double log_prob;
        double entropy;
    };

    /// log π(a) and H in one pass, writing every log π_k into `log_probs`
    /// and every π_k = exp(log π_k) into `probs` (one value per logit each)
    /// for `gradient_from_evaluation`. The same arithmetic as log_prob,
    /// entropy and gradient, with one log-normaliser instead of three and
    /// one exp per logit instead of two: a PPO update evaluates a head this
    /// way per sample, then needs the gradient once its weights are known.
    template <typename Derived, typename OutLogProbs, typename OutProbs>
    static evaluation evaluate(const Eigen::MatrixBase<Derived>& logits, Eigen::Index a, OutLogProbs&& log_probs,
                               OutProbs&& probs) noexcept {
        const double h = entropy_visiting(logits, normalize(logits), [&](Eigen::Index k, double lp, double p) noexcept {
            log_probs(k) = lp;
            probs(k) = p;
        });
        return {.log_prob = static_cast<double>(log_probs(a)), .entropy = h};
    }

    /// `gradient` from evaluate's log-probabilities, probabilities and
    /// entropy: the same values, bit for bit.
    template <typename LogProbs, typename Probs, typename Out>
    static void gradient_from_evaluation(const Eigen::MatrixBase<LogProbs>& log_probs, const Eigen::MatrixBase<Probs>& probs,
                                         Eigen::Index a, double entropy, double w_log_prob, double w_entropy,
                                         Out&& d_logits) noexcept {
        using S = typename std::remove_cvref_t<Out>::Scalar;
        for (Eigen::Index k = 0; k < log_probs.size(); ++k) {
            d_logits(k) = static_cast<S>(d_logit(static_cast<double>(log_probs(k)), static_cast<double>(probs(k)), k == a, entropy,
                                                 w_log_prob, w_entropy));
        }
    }

    /// The most likely action (ties to the lowest index). The logits must be
    /// finite: with a NaN the index is unspecified (the actors check
    /// allFinite() before they choose).
    template <typename Derived>
    [[nodiscard]] static Eigen::Index mode(const Eigen::MatrixBase<Derived>& logits) noexcept {
        Eigen::Index best = 0;
        for (Eigen::Index k = 1; k < logits.size(); ++k) {
            if (logits(k) > logits(best)) best = k;
        }
        return best;
    }

    /// A draw by inverse CDF with one uniform from `gen`. The logits must be
    /// below +inf and not NaN, and not all −inf: with a +inf or a NaN, or
    /// with every logit −inf, the draw is the last index (and its log_prob
    /// is NaN), so a caller acting on it checks log_prob first
    /// (simppo_coordinator holds the function then).
    template <typename Derived, std::uniform_random_bit_generator Gen>
    [[nodiscard]] static Eigen::Index sample(const Eigen::MatrixBase<Derived>& logits, Gen& gen) noexcept {
        const normalizer norm = normalize(logits);
        double u = uniform01(gen);
        for (Eigen::Index k = 0; k < logits.size(); ++k) {
            u -= std::exp(norm.log_prob(static_cast<double>(logits(k))));
            if (u < 0) return k;
        }
        return logits.size() - 1;  // u within rounding of 1
    }

    /// Writes d(w_log_prob·log π(a) + w_entropy·H)/dz into `d_logits`
    /// (overwriting it): ∂log π(a)/∂z_k = [k = a] − π_k and
    /// ∂H/∂z_k = −π_k (log π_k + H).
    template <typename Derived, typename Out>
    static void gradient(const Eigen::MatrixBase<Derived>& logits, Eigen::Index a, double w_log_prob, double w_entropy,
                         Out&& d_logits) noexcept {
        using S = typename std::remove_cvref_t<Out>::Scalar;
        const normalizer norm = normalize(logits);
        const double h = entropy_visiting(logits, norm, [](Eigen::Index, double, double) noexcept {});
        for (Eigen::Index k = 0; k < logits.size(); ++k) {
            const double lp = norm.log_prob(static_cast<double>(logits(k)));
            d_logits(k) = static_cast<S>(d_logit(lp, std::exp(lp), k == a, h, w_log_prob, w_entropy));
        }
    }

private:
    /// The log-normaliser of a head's logits, and the log-probabilities from it.
    struct normalizer {
        double top;        ///< the largest logit
        double log_total;  ///< log Σ_k exp(z_k − top)
        double lse;        ///< top + log_total: log Σ_k exp(z_k)
        bool large;        ///< top finite and beyond ±large_logit: log π_k from (z_k − top) − log_total

        /// log π_k of the logit `z`: z − lse, or (z − top) − log_total for
        /// large logits, where z − top is exact for the logits that carry
        /// any probability (within a factor 2 of top, Sterbenz) and
        /// log_total keeps its own precision.
        [[nodiscard]] double log_prob(double z) const noexcept { return large ? (z - top) - log_total : z - lse; }
    };

    template <typename Derived>
    [[nodiscard]] static normalizer normalize(const Eigen::MatrixBase<Derived>& logits) noexcept {
        double top = static_cast<double>(logits(0));
        for (Eigen::Index k = 1; k < logits.size(); ++k) top = std::max(top, static_cast<double>(logits(k)));
        double total = 0;
        for (Eigen::Index k = 0; k < logits.size(); ++k) total += std::exp(static_cast<double>(logits(k)) - top);
        const double log_total = std::log(total);
        return {.top = top,
                .log_total = log_total,
                .lse = top + log_total,
                .large = std::isfinite(top) && std::abs(top) > large_logit};
    }

    /// H from the log-normaliser, handing each log π_k and π_k to
    /// `visit(k, log π_k, π_k)` on the way: the one loop behind entropy and
    /// evaluate.
    template <typename Derived, typename Visit>
    static double entropy_visiting(const Eigen::MatrixBase<Derived>& logits, const normalizer& norm, Visit&& visit) noexcept {
        double h = 0;
        for (Eigen::Index k = 0; k < logits.size(); ++k) {
            const double lp = norm.log_prob(static_cast<double>(logits(k)));
            const double p = std::exp(lp);
            visit(k, lp, p);
            // A logit of −∞ (a masked action) has π_k = 0 and adds nothing:
            // 0 · (−∞) would be NaN. Only that case is skipped: a finite
            // logit's term is as before, and a NaN still makes H NaN.
            if (lp != -std::numeric_limits<double>::infinity()) h -= p * lp;
        }
        return h;
    }

    /// One logit's share of the gradient, from log π_k, π_k = exp(log π_k),
    /// whether k is the action taken, and H.
    static double d_logit(double log_prob_k, double p, bool taken, double entropy, double w_log_prob, double w_entropy) noexcept {
        const double d_lp = (taken ? 1.0 : 0.0) - p;
        // As in the entropy: a masked action (π_k = 0, log π_k = −∞) adds 0.
        const double d_h = log_prob_k != -std::numeric_limits<double>::infinity() ? -p * (log_prob_k + entropy) : 0.0;
        return w_log_prob * d_lp + w_entropy * d_h;
    }
};

/// Diagonal Gaussian N(μ, diag(σ²)) with σ = exp(log_std): μ from the
/// network, log_std a parameter of its own that does not depend on the state
/// (PPO's continuous policy). Log-probabilities and entropies are sums over
/// the dimensions.
struct diagonal_gaussian {
    static constexpr double half_log_two_pi = 0.91893853320467274178;  ///< ½·log 2π

    /// log π(a) = Σ_d −(a_d − μ_d)²/(2σ_d²) − log σ_d − ½ log 2π.
    template <typename M, typename S, typename A>
    [[nodiscard]] static double log_prob(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& log_std,
                                         const Eigen::MatrixBase<A>& action) noexcept {
        double lp = 0;
        for (Eigen::Index d = 0; d < mean.size(); ++d) {
            const double ls = static_cast<double>(log_std(d));
            const double z = (static_cast<double>(action(d)) - static_cast<double>(mean(d))) * std::exp(-ls);
            lp += -0.5 * z * z - ls - half_log_two_pi;
        }
        return lp;
    }

    /// H = Σ_d ½ + ½ log 2π + log σ_d.
    template <typename S>
    [[nodiscard]] static double entropy(const Eigen::MatrixBase<S>& log_std) noexcept {
        double h = 0;
        for (Eigen::Index d = 0; d < log_std.size(); ++d) h += 0.5 + half_log_two_pi + static_cast<double>(log_std(d));
        return h;
    }

    /// a_d = μ_d + σ_d·ξ_d with ξ_d standard normal draws from `gen`, in
    /// dimension order.
    template <typename M, typename S, typename Out, std::uniform_random_bit_generator Gen>
    static void sample(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& log_std, Gen& gen,
                       Out&& out) noexcept {
        using T = typename std::remove_cvref_t<Out>::Scalar;
        for (Eigen::Index d = 0; d < mean.size(); ++d) {
            out(d) = static_cast<T>(static_cast<double>(mean(d)) +
                                    std::exp(static_cast<double>(log_std(d))) * standard_normal(gen));
        }
    }

    /// Writes d(w_log_prob·log π(a) + w_entropy·H)/dμ into `d_mean` and the
    /// same with respect to log σ into `d_log_std` (both overwritten):
    /// ∂log π/∂μ_d = (a_d − μ_d)/σ_d², ∂log π/∂log σ_d = (a_d − μ_d)²/σ_d² − 1,
    /// ∂H/∂log σ_d = 1.
    template <typename M, typename S, typename A, typename DM, typename DS>
    static void gradient(const Eigen::MatrixBase<M>& mean, const Eigen::MatrixBase<S>& log_std,
                         const Eigen::MatrixBase<A>& action, double w_log_prob, double w_entropy, DM&& d_mean,
                         DS&& d_log_std) noexcept {
        using TM = typename std::remove_cvref_t<DM>::Scalar;
        using TS = typename std::remove_cvref_t<DS>::Scalar;
        for (Eigen::Index d = 0; d < mean.size(); ++d) {
            const double inv_std = std::exp(-static_cast<double>(log_std(d)));
            const double z = (static_cast<double>(action(d)) - static_cast<double>(mean(d))) * inv_std;
            d_mean(d) = static_cast<TM>(w_log_prob * z * inv_std);
            d_log_std(d) = static_cast<TS>(w_log_prob * (z * z - 1) + w_entropy);
        }
    }
};

}  // namespace rlscale::nn
