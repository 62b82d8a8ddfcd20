#pragma once

/// Proximal policy optimisation (Schulman et al. 2017) with a clipped
/// surrogate, an entropy bonus, a (optionally clipped) value loss and GAE,
/// for discrete actions (a categorical distribution per head) and continuous
/// ones (a diagonal Gaussian with a state-independent log-std). Actor and
/// critic are separate networks, so the critic may read more than the actor
/// (SIMPPO's auxiliary global state). docs/ppo.md gives each formula beside
/// the papers'.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/detail/state_io.hpp>
#include <rlscale/nn/distributions.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/mlp.hpp>
#include <rlscale/nn/orthogonal_init.hpp>
#include <rlscale/rl/detail/scalar_checks.hpp>
#include <rlscale/rl/q_layout.hpp>
#include <rlscale/rl/rollout_buffer.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <limits>
#include <numeric>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// Where a ppo learner's update works: in storage the learner owns (the
/// default), or in a ppo::workspace passed to each update(), which learners
/// of the same shapes can share (one per thread).
enum class update_storage { own, supplied };

/// Hyperparameters of the PPO updater. The defaults are CleanRL's
/// ppo_continuous_action.py (one environment) with anneal_lr off (set
/// anneal_updates to the total steps over rollout_steps to match); its
/// discrete ppo.py differs (docs/ppo.md, "Presets").
struct ppo_config {
    std::vector<Eigen::Index> actor_hidden = {64, 64};   ///< actor hidden widths
    std::vector<Eigen::Index> critic_hidden = {64, 64};  ///< critic hidden widths
    nn::activation hidden_activation = nn::activation::tanh;  ///< of every hidden layer
    double actor_lr = 3e-4;          ///< Adam step size of the actor (and the log-std)
    double critic_lr = 3e-4;         ///< Adam step size of the critic
    double adam_eps = 1e-5;          ///< Adam's ε
    nn::moment_storage adam_moments = nn::moment_storage::parameter_type;  ///< Adam's m and v in T, or bfloat16 (float learners; about 30 % less memory per learner)
    double gamma = 0.99;             ///< discount γ
    double gae_lambda = 0.95;        ///< GAE λ
    double clip = 0.2;               ///< surrogate clip ε: ρ kept in [1 − ε, 1 + ε]
    double entropy_coef = 0.0;       ///< entropy bonus β
    double value_coef = 0.5;         ///< value-loss coefficient c_v
    bool clip_value = true;          ///< clip V around the old value (CleanRL on, SB3 off)
    double value_clip = 0.2;         ///< V kept within ± this of the old value when clip_value
    std::size_t rollout_steps = 2048;  ///< transitions per rollout (per update)
    std::size_t epochs = 10;         ///< passes over the rollout per update
    std::size_t minibatch_size = 64;   ///< transitions per gradient step
    bool minibatch_with_replacement = false;  ///< false: shuffled disjoint minibatches; true: each drawn uniformly with replacement
    bool normalize_advantages = true;  ///< per minibatch, (A − mean)/(std + 1e-8); never for one sample
    double max_grad_norm = 0.5;      ///< joint L2 clip over actor, log-std and critic gradients (0 = off)
    std::uint64_t anneal_updates = 0;  ///< > 0: the learning rates fall linearly over this many updates (CleanRL's anneal_lr)
    bool orthogonal_init = true;     ///< orthogonal weights (gains √2 hidden, 0.01 policy head, 1 value head), zero biases; else PyTorch's default
    double initial_log_std = 0;      ///< continuous actions: log σ at start
    /// Continuous actions: log σ is kept within [log_std_min, log_std_max]
    /// after every step. Once σ dwarfs the action's range the reward hardly
    /// depends on it and an entropy bonus pushes log σ up without limit,
    /// until exp(log σ) overflows and the sampled action is infinite; the
    /// bound stops that. The defaults (σ from 2e-9 to 7.4) are those of
    /// Stable-Baselines3's squashed Gaussian. log_std_min is at least −20
    /// (σ ≥ 2.1e-9 and 1/σ ≤ 4.9e8, both finite and normal in float: far
    /// below it σ rounds to 0, 1/σ to ∞ and log π is NaN); log_std_max is at
    /// most 20 (σ ≤ 4.9e8, so a sampled float action stays finite).
    double log_std_min = -20;
    double log_std_max = 2;

    /// CleanRL's ppo_continuous_action.py defaults (rollout 2048 steps, 10
    /// epochs, minibatch 64, value clipping, entropy 0, gradient clip 0.5,
    /// Adam ε 1e-5) without its learning-rate annealing.
    [[nodiscard]] static ppo_config cleanrl() { return {}; }

    /// SIMPPO, Table 2 (S-RL): actor and critic 2×64, lr 3e-4 both, γ 0.99,
    /// 5 epochs, clip 0.2, entropy 0.01, critic coefficient 0.05, minibatch
    /// 10. What the paper does not give follows its authors' public PPO
    /// code: rollouts of 5 episodes × 10 steps (50 transitions), minibatches
    /// drawn with replacement, no value clipping; λ 0.95 and the gradient
    /// clip 0.5 are CleanRL's (that code has neither).
    [[nodiscard]] static ppo_config simppo() {
        ppo_config c;
        c.entropy_coef = 0.01;
        c.value_coef = 0.05;
        c.clip_value = false;
        c.rollout_steps = 50;
        c.epochs = 5;
        c.minibatch_size = 10;
        c.minibatch_with_replacement = true;
        return c;
    }

    /// SIMPPO's multi-agent setting (Table 2): as simppo(), minibatch 5.
    [[nodiscard]] static ppo_config simppo_multi_agent() {
        ppo_config c = simppo();
        c.minibatch_size = 5;
        return c;
    }

    /// Throws config_error naming the first out-of-range field and its value.
    void validate() const {
        const check_fields check("ppo_config");
        check.count("actor_hidden", actor_hidden.size(), 1, 64).count("critic_hidden", critic_hidden.size(), 1, 64);
        for (std::size_t i = 0; i < actor_hidden.size(); ++i) check.at_least("actor_hidden[" + std::to_string(i) + "]", actor_hidden[i], 1);
        for (std::size_t i = 0; i < critic_hidden.size(); ++i) check.at_least("critic_hidden[" + std::to_string(i) + "]", critic_hidden[i], 1);
        check.greater("actor_lr", actor_lr, 0)
            .greater("critic_lr", critic_lr, 0)
            .greater("adam_eps", adam_eps, 0)
            .in("gamma", gamma, 0, 1)
            .in("gae_lambda", gae_lambda, 0, 1)
            .in_open_closed("clip", clip, 0, 1)
            .at_least("entropy_coef", entropy_coef, 0)
            .at_least("value_coef", value_coef, 0)
            .greater("value_clip", value_clip, 0)
            .in("rollout_steps", rollout_steps, std::size_t{1}, std::size_t{10'000'000})
            .in("epochs", epochs, std::size_t{1}, std::size_t{1000})
            .in("minibatch_size", minibatch_size, std::size_t{1}, std::size_t{1'000'000})
            .at_least("max_grad_norm", max_grad_norm, 0)
            .finite("initial_log_std", initial_log_std)
            .finite("log_std_min", log_std_min)
            .at_least("log_std_min", log_std_min, -20)  // σ ≥ 2.1e-9, 1/σ ≤ 4.9e8: log π stays finite
            .greater_field("log_std_max", log_std_max, "log_std_min", log_std_min)
            .at_most("log_std_max", log_std_max, 20)  // σ ≤ 4.9e8: a float action stays finite
            .in("initial_log_std", initial_log_std, log_std_min, log_std_max);
    }
};

/// What one update (all epochs over one rollout) did: means over the
/// gradient steps it took, measured before each step (a skipped step's
/// figures, not finite, are left out). approx_kl also leaves out a taken
/// step's samples whose term is not finite (ρ overflowed where the sample's
/// gradient is 0, e.g. an off-policy log π_old far below log π): it is the
/// mean over the steps that have a finite term of each one's mean over them,
/// and kl_excluded counts the samples left out (all of them when approx_kl
/// reads 0 with steps taken: then it has no figure, not "unchanged").
struct ppo_update_stats {
    double pg_loss = 0;       ///< clipped-surrogate loss
    double value_loss = 0;    ///< ½·mean squared error (clipped form when clip_value)
    double entropy = 0;       ///< mean policy entropy (summed over heads or dimensions)
    double approx_kl = 0;     ///< mean (ρ − 1) − log ρ, an estimate of KL(old ‖ new), over the samples where it is finite
    double clip_fraction = 0;  ///< share of samples with |ρ − 1| > ε
    double grad_norm = 0;     ///< joint gradient norm before clipping
    double loss = 0;          ///< pg_loss − β·entropy + c_v·value_loss
    std::size_t steps = 0;    ///< gradient steps taken
    std::size_t skipped = 0;  ///< gradient steps skipped because the gradient, or its squared norm summed in T, was not finite
    std::size_t kl_excluded = 0;  ///< samples of the steps taken whose approx_kl term was not finite, left out of it
};

/// The PPO learner. `Action` is std::int32_t for discrete actions (a
/// q_layout of heads, each a categorical over its own logits) or a floating
/// type for continuous ones (a Gaussian per dimension; no squashing, the
/// action map clips). All storage is allocated at construction; acting,
/// storing and updating allocate nothing.
///
/// Deterministic: the same seed, configuration and inputs give the same
/// weights (initialisation, sampling and minibatch order all draw from the
/// learner's own generator).
template <typename T = float, typename Action = std::int32_t>
class ppo {
public:
    static constexpr bool discrete = std::is_integral_v<Action>;
    static_assert(discrete ? std::is_same_v<Action, std::int32_t> : std::is_floating_point_v<Action>,
                  "Action is std::int32_t (discrete) or a floating type (continuous)");

    using network = nn::mlp<T>;
    using vector = typename network::vector;
    using matrix = typename network::matrix;
    using rollout = rollout_buffer<T, Action>;
    using value_type = Action;  ///< the learner concept's action value type
    /// Learns from consecutive steps of one environment under the policy
    /// that chose them (rl::train refuses parallel environments for it).
    static constexpr bool on_policy = true;

    /// Discrete actions laid out as `layout` (heads of choices). The critic
    /// reads `critic_observation_size` inputs (equal to the actor's unless
    /// it sees more). With update_storage::supplied the learner holds no
    /// update storage of its own and each update() takes a workspace.
    /// Throws config_error for a bad configuration.
    ppo(std::size_t actor_observation_size, std::size_t critic_observation_size, q_layout layout, ppo_config config,
        std::uint64_t seed, update_storage storage = update_storage::own)
        requires discrete
        : ppo(actor_observation_size, critic_observation_size, (layout.validate(), layout), layout.heads, layout.outputs(),
              std::move(config), seed, storage) {}

    /// Continuous actions of `action_dims` dimensions.
    ppo(std::size_t actor_observation_size, std::size_t critic_observation_size, std::size_t action_dims, ppo_config config,
        std::uint64_t seed, update_storage storage = update_storage::own)
        requires(!discrete)
        : ppo(actor_observation_size, critic_observation_size, q_layout{}, check_dims(action_dims), action_dims, std::move(config),
              seed, storage) {}

    /// What one update works in: both networks' gradients and the
    /// minibatch's inputs, activations and loss gradients (for SIMPPO's
    /// networks about half the size of the parameters and their Adam
    /// moments). Nothing in it carries from one update to the next, so
    /// learners of the same shapes can share one, one update at a time: a
    /// SIMPPO coordinator keeps one per thread rather than one per agent.
    /// Built for a learner's shapes (at construction, the only allocation);
    /// any learner it fits() can update in it.
    class workspace {
    public:
        explicit workspace(const ppo& l)
            : actor_grad(l.actor_),
              critic_grad(l.critic_),
              log_std_grad(vector::Zero(l.log_std_.size())),
              log_std_sample_grad(vector::Zero(l.log_std_.size())),
              mb_actor_obs(matrix::Zero(l.actor_.input_size(), l.mb_capacity())),
              mb_critic_obs(matrix::Zero(l.critic_.input_size(), l.mb_capacity())),
              mb_actions(Eigen::Matrix<Action, Eigen::Dynamic, Eigen::Dynamic>::Zero(static_cast<Eigen::Index>(l.action_width_),
                                                                                      l.mb_capacity())),
              mb_advantages(Eigen::VectorXd::Zero(l.mb_capacity())),
              actor_batch(l.actor_, l.mb_capacity()),
              critic_batch(l.critic_, l.mb_capacity()),
              d_actor(matrix::Zero(l.actor_.output_size(), l.mb_capacity())),
              d_critic(matrix::Zero(1, l.mb_capacity())),
              sample_log_pi(Eigen::VectorXd::Zero(discrete ? l.actor_.output_size() : 0)),
              sample_pi(Eigen::VectorXd::Zero(discrete ? l.actor_.output_size() : 0)),
              sample_head_entropy(Eigen::VectorXd::Zero(discrete ? static_cast<Eigen::Index>(l.layout_.heads) : 0)) {}

        /// Whether `l` has the shapes this workspace was built for (its
        /// networks' layers, log-std, action width and minibatch size).
        [[nodiscard]] bool fits(const ppo& l) const noexcept {
            return actor_grad.layers() == l.actor_.layers() && critic_grad.layers() == l.critic_.layers() &&
                   log_std_grad.size() == l.log_std_.size() && mb_actions.rows() == static_cast<Eigen::Index>(l.action_width_) &&
                   mb_advantages.size() == l.mb_capacity() &&
                   sample_head_entropy.size() == (discrete ? static_cast<Eigen::Index>(l.layout_.heads) : 0);
        }

        /// The bytes its value arrays hold.
        [[nodiscard]] std::size_t bytes() const noexcept {
            const auto values = static_cast<std::size_t>(actor_grad.values().size() + critic_grad.values().size() +
                                                         log_std_grad.size() + log_std_sample_grad.size() + mb_actor_obs.size() +
                                                         mb_critic_obs.size() + d_actor.size() + d_critic.size());
            const auto doubles = static_cast<std::size_t>(mb_advantages.size() + sample_log_pi.size() + sample_pi.size() +
                                                          sample_head_entropy.size());
            return values * sizeof(T) + doubles * sizeof(double) + static_cast<std::size_t>(mb_actions.size()) * sizeof(Action) +
                   actor_batch.bytes() + critic_batch.bytes();
        }

    private:
        friend class ppo;
        typename network::gradient actor_grad;
        typename network::gradient critic_grad;
        vector log_std_grad;
        vector log_std_sample_grad;
        matrix mb_actor_obs;
        matrix mb_critic_obs;
        Eigen::Matrix<Action, Eigen::Dynamic, Eigen::Dynamic> mb_actions;
        Eigen::VectorXd mb_advantages;
        typename network::batch_buffer actor_batch;
        typename network::batch_buffer critic_batch;
        matrix d_actor;
        matrix d_critic;
        Eigen::VectorXd sample_log_pi;        // discrete: one sample's log π_k, every head
        Eigen::VectorXd sample_pi;            // discrete: one sample's π_k, every head
        Eigen::VectorXd sample_head_entropy;  // discrete: one sample's entropy per head
    };

    /// Whether the learner holds its own update storage (update_storage::own).
    [[nodiscard]] bool owns_workspace() const noexcept { return own_.has_value(); }
    /// The learner's own workspace; throws rlscale::error when it has none.
    [[nodiscard]] const workspace& own_workspace() const {
        if (!own_) throw error("ppo::own_workspace: the learner was built with update_storage::supplied");
        return *own_;
    }

    [[nodiscard]] const ppo_config& config() const noexcept { return config_; }
    /// Discrete only: the heads and choices.
    [[nodiscard]] q_layout layout() const noexcept { return layout_; }
    [[nodiscard]] std::size_t actor_observation_size() const noexcept { return static_cast<std::size_t>(actor_.input_size()); }
    [[nodiscard]] std::size_t critic_observation_size() const noexcept { return static_cast<std::size_t>(critic_.input_size()); }
    [[nodiscard]] const network& actor() const noexcept { return actor_; }
    [[nodiscard]] network& actor() noexcept { return actor_; }
    [[nodiscard]] const network& critic() const noexcept { return critic_; }
    [[nodiscard]] network& critic() noexcept { return critic_; }
    /// Continuous only: log σ per dimension (empty for discrete actions).
    [[nodiscard]] const vector& log_std() const noexcept { return log_std_; }
    [[nodiscard]] vector& log_std() noexcept { return log_std_; }
    [[nodiscard]] nn::adam<T>& actor_optimizer() noexcept { return actor_opt_; }
    [[nodiscard]] nn::adam<T>& critic_optimizer() noexcept { return critic_opt_; }
    /// The learner's own rollout (filled by observe()).
    [[nodiscard]] const rollout& own_rollout() const noexcept { return rollout_; }
    /// The same, writable: a coordinator that computes its own critic
    /// inputs (SIMPPO) pushes into it and calls update(own_rollout()).
    [[nodiscard]] rollout& own_rollout() noexcept { return rollout_; }
    [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
    /// Updates (rollouts learned from) so far.
    [[nodiscard]] std::uint64_t rollouts() const noexcept { return rollouts_; }
    [[nodiscard]] const ppo_update_stats& last_update() const noexcept { return last_; }
    /// Parameters of actor, log-std and critic, plus Adam state, in bytes.
    [[nodiscard]] std::size_t parameter_bytes() const noexcept {
        const auto n = static_cast<std::size_t>(actor_.parameter_count() + critic_.parameter_count() + log_std_.size());
        return n * sizeof(T) + actor_opt_.state_bytes() + log_std_opt_.state_bytes() + critic_opt_.state_bytes();
    }
    /// The bytes of the value arrays the learner allocated: parameter_bytes(),
    /// its rollout, its one-sample activations, its minibatch order and its
    /// own workspace if it has one (the object itself, sizeof, aside).
    [[nodiscard]] std::size_t heap_bytes() const noexcept {
        return parameter_bytes() + rollout_.bytes() + actor_act_.bytes() + critic_act_.bytes() + indices_.size() * sizeof(std::size_t) +
               (own_ ? own_->bytes() : 0);
    }

    /// Samples an action for `observation` from the current policy (one
    /// index per head, or one value per dimension) into `out`, and returns
    /// its log-probability. Throws rlscale::error for spans of other sizes
    /// and for an observation with a value that is not finite, naming it
    /// (its logits would be NaN, sampled as each head's last index, or its
    /// actions and log π NaN), before anything is drawn.
    double sample(std::span<const T> observation, std::span<Action> out) {
        check_span("sample: action", out.size(), action_width_);
        check_observation(observation);
        const auto y = actor_forward(observation);
        if constexpr (discrete) {
            double lp = 0;
            for (std::size_t h = 0; h < layout_.heads; ++h) {
                const auto logits = y.segment(static_cast<Eigen::Index>(h * layout_.actions_per_head),
                                              static_cast<Eigen::Index>(layout_.actions_per_head));
                const Eigen::Index a = nn::categorical::sample(logits, gen_);
                out[h] = static_cast<Action>(a);
                lp += nn::categorical::log_prob(logits, a);
            }
            return lp;
        } else {
            Eigen::Map<Eigen::Matrix<Action, Eigen::Dynamic, 1>> a(out.data(), static_cast<Eigen::Index>(out.size()));
            nn::diagonal_gaussian::sample(y, log_std_, gen_, a);
            return nn::diagonal_gaussian::log_prob(y, log_std_, a);
        }
    }

    /// The policy's mode: the most likely index per head, or the mean.
    /// Returns false when the actor's output is not finite (a diverged
    /// network; `out` then holds indices or values not to act on). Throws
    /// rlscale::error for spans of other sizes and for an observation with
    /// a value that is not finite, naming it.
    bool greedy(std::span<const T> observation, std::span<Action> out) {
        check_span("greedy: action", out.size(), action_width_);
        check_observation(observation);
        const auto y = actor_forward(observation);
        if constexpr (discrete) {
            argmax_per_head(y, layout_, out);
        } else {
            for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<Action>(y(static_cast<Eigen::Index>(d)));
        }
        return y.allFinite();
    }

    /// log π(action | observation) under the current policy.
    [[nodiscard]] double log_prob(std::span<const T> observation, std::span<const Action> action) {
        check_span("log_prob: action", action.size(), action_width_);
        const auto y = actor_forward(observation);
        if constexpr (discrete) {
            double lp = 0;
            for (std::size_t h = 0; h < layout_.heads; ++h) {
                check_index(action[h], h);
                lp += nn::categorical::log_prob(y.segment(static_cast<Eigen::Index>(h * layout_.actions_per_head),
                                                          static_cast<Eigen::Index>(layout_.actions_per_head)),
                                                action[h]);
            }
            return lp;
        } else {
            const Eigen::Map<const Eigen::Matrix<Action, Eigen::Dynamic, 1>> a(action.data(), static_cast<Eigen::Index>(action.size()));
            return nn::diagonal_gaussian::log_prob(y, log_std_, a);
        }
    }

    /// The critic's V(critic_observation).
    [[nodiscard]] double value(std::span<const T> critic_observation) {
        check_span("value: critic_observation", critic_observation.size(), critic_observation_size());
        const Eigen::Map<const vector> x(critic_observation.data(), static_cast<Eigen::Index>(critic_observation.size()));
        return static_cast<double>(critic_.forward(x, critic_act_)(0));
    }

    /// One update on `r` (its advantages computed): `epochs` passes, each
    /// over shuffled disjoint minibatches of minibatch_size (the last one
    /// shorter) or over ⌈size/minibatch_size⌉ minibatches drawn with
    /// replacement; per minibatch the loss
    ///
    ///     L = mean(max(−Â·ρ, −Â·clip(ρ, 1 − ε, 1 + ε))) − β·mean(H) + c_v·½·mean((V − R)²)
    ///
    /// (ρ = exp(log π − log π_old), Â the advantages normalised within the
    /// minibatch unless it holds one sample; with clip_value the squared
    /// error is the larger of the unclipped and the clipped V's), its
    /// gradient, the joint norm clip and one Adam step of actor, log-std and
    /// critic. A minibatch whose gradient is not finite is skipped, as is one
    /// whose squared norm, summed in T, overflows (a float learner's
    /// gradient of finite values whose squares pass 3.4e38). With
    /// anneal_updates, the learning rates are scaled by 1 − k/anneal_updates
    /// at update k = 0, 1, … (held at the last step after that). Throws
    /// rlscale::error when `r` is empty, has no advantages or other shapes.
    ppo_update_stats update(const rollout& r) {
        if (!own_) throw error("ppo::update: the learner was built with update_storage::supplied; pass a workspace");
        return update(r, *own_);
    }

    /// The same update, worked in `w` (see workspace); the result does not
    /// depend on which workspace. Throws rlscale::error when `w` does not
    /// fit this learner's shapes.
    ppo_update_stats update(const rollout& r, workspace& w) {
        if (!w.fits(*this)) throw error("ppo::update: the workspace was built for other shapes than this learner's");
        check_optimizers();
        check_rollout(r);
        const std::size_t n = r.size();
        if (config_.anneal_updates > 0) {
            const double k = static_cast<double>(std::min<std::uint64_t>(rollouts_, config_.anneal_updates - 1));
            const double frac = 1.0 - k / static_cast<double>(config_.anneal_updates);
            actor_opt_.set_lr(frac * config_.actor_lr);
            log_std_opt_.set_lr(frac * config_.actor_lr);
            critic_opt_.set_lr(frac * config_.critic_lr);
        }
        ppo_update_stats total;
        std::size_t kl_steps = 0;  // steps taken with a finite approx_kl term
        const std::size_t mb = config_.minibatch_size;
        const std::size_t batches = (n + mb - 1) / mb;
        for (std::size_t e = 0; e < config_.epochs; ++e) {
            if (config_.minibatch_with_replacement) {
                for (std::size_t b = 0; b < batches; ++b) {
                    for (std::size_t j = 0; j < mb; ++j) indices_[j] = static_cast<std::size_t>(uniform_index(gen_, n));
                    minibatch_step(r, std::span<const std::size_t>(indices_.data(), mb), total, kl_steps, w);
                }
            } else {
                std::iota(indices_.begin(), indices_.begin() + static_cast<std::ptrdiff_t>(n), std::size_t{0});
                for (std::size_t i = n; i > 1; --i) std::swap(indices_[i - 1], indices_[uniform_index(gen_, i)]);
                for (std::size_t start = 0; start < n; start += mb) {
                    minibatch_step(r, std::span<const std::size_t>(indices_.data() + start, std::min(mb, n - start)), total, kl_steps, w);
                }
            }
        }
        const double steps = static_cast<double>(std::max<std::size_t>(total.steps, 1));
        total.pg_loss /= steps;
        total.value_loss /= steps;
        total.entropy /= steps;
        total.approx_kl /= static_cast<double>(std::max<std::size_t>(kl_steps, 1));  // = steps when every term is finite
        total.clip_fraction /= steps;
        total.grad_norm /= steps;
        total.loss /= steps;
        ++rollouts_;
        last_ = total;
        return total;
    }

    // The learner concept (rl::train runs any learner). The critic reads
    // the actor's observation, so these need equal input sizes; a learner
    // whose critic sees more (SIMPPO) is driven through sample(), value(),
    // a rollout_buffer and update() by its coordinator.

    [[nodiscard]] std::size_t action_width() const noexcept { return action_width_; }

    /// Samples from the current policy (sample(): an observation with a
    /// value that is not finite is refused).
    void explore(std::span<const T> observation, std::span<Action> out) {
        require_same_inputs("explore");
        (void)sample(observation, out);
    }

    /// Stores the transition in the learner's rollout (log π and V of
    /// `observation` under the current networks; V of `next_observation`
    /// bootstraps a truncation) and, when the rollout is full, computes GAE
    /// (bootstrapping from V(next_observation) unless the step ended its
    /// episode), updates and clears it. Returns true when it updated. A
    /// transition whose observation is not the previous one's
    /// next_observation ends that one as truncated first (GAE never joins
    /// steps that do not follow each other). Needs the learner's own update
    /// storage (update_storage::own).
    bool observe(std::span<const T> observation, std::span<const Action> action, double reward,
                 std::span<const T> next_observation, bool terminated, bool truncated = false) {
        require_same_inputs("observe");
        // Refused before anything is stored: a rollout filled here could not be emptied.
        if (!own_) throw error("ppo::observe: the learner was built with update_storage::supplied; drive it with update(rollout, workspace)");
        // Inputs checked by name before anything is derived from them: a NaN
        // next_observation would otherwise be kept as the next step's
        // bootstrap and refuse every later step.
        check_finite_span("observation", observation, actor_observation_size());
        if constexpr (!discrete) check_finite_span<Action>("action", action, action_width_);  // before log π is taken of it
        // A terminated step's next observation is not evaluated, so it may
        // hold anything, but it is kept (below) and must have the size.
        if (terminated) {
            check_span("next_observation", next_observation.size(), actor_observation_size());
        } else {
            check_finite_span("next_observation", next_observation, actor_observation_size());
        }
        const double lp = log_prob(observation, action);
        const double v = value(observation);
        const double next_v = terminated ? 0.0 : value(next_observation);
        if (!std::isfinite(next_v)) {
            throw error("ppo::observe: the critic's value of next_observation is " + format_number(next_v) + ", must be finite");
        }
        // A transition that does not begin where the stored one before it
        // ended (a step the caller skipped, or steps of several environments
        // taken in turn) is not joined to it by GAE: that one is cut there,
        // bootstrapping from the value of where it ended.
        // What push() refuses (a NaN reward, an action or log π not finite
        // as stored) is refused before that cut, so a refused call changes
        // nothing.
        rollout_.check_step(observation, observation, action, lp, v, reward, truncated ? next_v : 0.0);
        if (rollout_.full()) {  // filled through own_rollout() and not updated from
            throw error("ppo::observe: the rollout is full (" + std::to_string(rollout_.capacity()) +
                        " steps) and was not learned from; update(own_rollout()) and clear it first");
        }
        if (rollout_.last_open() && !std::equal(observation.begin(), observation.end(), last_next_.data())) {
            rollout_.cut_last(last_next_v_);
        }
        rollout_.push(observation, observation, action, lp, v, reward, terminated, truncated, truncated ? next_v : 0.0);
        std::copy(next_observation.begin(), next_observation.end(), last_next_.data());
        last_next_v_ = next_v;
        ++steps_;
        if (!rollout_.full()) return false;
        try {
            rollout_.compute_advantages(terminated || truncated ? 0.0 : next_v, config_.gamma, config_.gae_lambda);
            (void)update(rollout_);
        } catch (...) {
            rollout_.clear();  // a rollout that cannot be learned from is dropped, or it would refuse every later step
            throw;
        }
        rollout_.clear();
        return true;
    }

    [[nodiscard]] learner_stats stats() const noexcept {
        return {.steps = steps_, .updates = updates_, .exploration = last_.entropy, .last_loss = last_.loss};
    }

    /// Writes everything training reads and changes, so that a learner
    /// restored from it (load_training_state) acts and trains on exactly as
    /// this one would, mid-rollout too: the actor, critic and (continuous)
    /// log-std, the three optimisers' moments, step counts and learning
    /// rates (annealing changes them), the learner's own rollout with what
    /// observe() keeps between calls (the last next observation and its
    /// value), the generator, and the step, update and rollout counters.
    /// Not written: the rest of the configuration (the restoring learner is
    /// built with it; its networks' layers are checked against the file), a
    /// workspace (nothing in it carries from one update to the next) and
    /// last_update(). A checksummed binary frame in this machine's byte
    /// order.
    void save_training_state(std::ostream& out) const {
        namespace io = nn::detail;
        rlscale::detail::write_frame(out, training_state_format(), "ppo::save_training_state", [&](rlscale::detail::binary_writer& w) {
            w.put(static_cast<std::uint64_t>(actor_observation_size()));
            w.put(static_cast<std::uint64_t>(critic_observation_size()));
            w.put(static_cast<std::uint64_t>(action_width_));
            w.put(static_cast<std::uint64_t>(discrete ? layout_.actions_per_head : 0));
            w.put(static_cast<std::uint64_t>(sizeof(Action)));
            w.put(static_cast<std::uint64_t>(rollout_.capacity()));
            for (const std::vector<std::uint64_t>& shape : network_shapes()) io::put_shape(w, shape);
            w.put(steps_);
            w.put(updates_);
            w.put(rollouts_);
            w.put(gen_.state());
            io::put_values(w, actor_.parameters());
            io::put_values(w, critic_.parameters());
            io::put_values(w, log_std_);
            io::put_adam(w, actor_opt_);
            io::put_adam(w, log_std_opt_);
            io::put_adam(w, critic_opt_);
            io::put_values(w, last_next_);
            w.put(last_next_v_);
            rollout_.write_state(w);
        });
    }

    /// Restores what save_training_state wrote, from a learner built with
    /// the same sizes, action layout and configuration (and, with bfloat16
    /// Adam moments, the same seed, which keys their rounding). Everything is
    /// read and checked before anything changes: a truncated or corrupted
    /// file, another learner's shape, or a value training would refuse (a
    /// weight or moment not finite, a stored step push() would refuse)
    /// throws checkpoint_error naming the field, and the learner is left as
    /// it was. The frame's header is read first: a length above
    /// max_training_state_length() is refused before the payload is read,
    /// and a stream that can seek (a file) is checked to hold that length.
    void load_training_state(std::istream& in) {
        namespace io = nn::detail;
        const auto head = [this](rlscale::detail::binary_reader& r) {
            io::expect_value(r, "actor_observation_size", actor_observation_size(), " (the learner's)");
            io::expect_value(r, "critic_observation_size", critic_observation_size(), " (the learner's)");
            io::expect_value(r, "action_width", action_width_, discrete ? " (the learner's heads)" : " (the learner's action dimensions)");
            io::expect_value(r, "actions_per_head", discrete ? layout_.actions_per_head : 0, " (the learner's layout)");
            io::expect_value(r, "action_value_size", sizeof(Action), " (the learner's Action type)");
            io::expect_value(r, "rollout_capacity", rollout_.capacity(), " (the learner's rollout_steps)");
            const auto shapes = network_shapes();
            io::check_shape(r, "actor_layers", shapes[0], "its actor_hidden, hidden_activation and action layout");
            io::check_shape(r, "critic_layers", shapes[1], "its critic_hidden and hidden_activation");
        };
        const std::string payload = rlscale::detail::read_frame(in, training_state_format(), "training_state.", max_training_state_length(),
                                                                "bytes this learner writes at most (its rollout full)", head);
        rlscale::detail::binary_reader r(payload, "training_state.");
        head(r);
        const auto steps = r.get<std::uint64_t>("steps");
        const auto updates = r.get<std::uint64_t>("updates");
        const auto rollouts = r.get<std::uint64_t>("rollouts");
        const rng gen = io::get_generator(r, "generator");
        vector actor(actor_.parameter_count());
        vector critic(critic_.parameter_count());
        vector log_std(log_std_.size());
        io::get_finite(r, actor, "actor");
        io::get_finite(r, critic, "critic");
        io::get_finite(r, log_std, "log_std");
        for (Eigen::Index d = 0; d < log_std.size(); ++d) {
            const auto v = static_cast<double>(log_std(d));
            if (v < static_cast<double>(static_cast<T>(config_.log_std_min)) || v > static_cast<double>(static_cast<T>(config_.log_std_max))) {
                throw checkpoint_error("training_state.log_std[" + std::to_string(d) + "]",
                                       "is " + format_number(v) + ", outside the learner's [log_std_min, log_std_max] = [" +
                                           format_number(config_.log_std_min) + ", " + format_number(config_.log_std_max) + "]");
            }
        }
        nn::adam<T> actor_opt = io::get_adam(r, actor_opt_, "actor_adam");
        nn::adam<T> log_std_opt = io::get_adam(r, log_std_opt_, "log_std_adam");
        nn::adam<T> critic_opt = io::get_adam(r, critic_opt_, "critic_adam");
        // A terminated step's next observation may hold anything (observe
        // keeps it unevaluated), so it is not checked finite.
        vector last_next(last_next_.size());
        r.get_all(std::span<T>(last_next.data(), static_cast<std::size_t>(last_next.size())), "last_next_observation");
        const auto last_next_v = r.get<double>("last_next_value");
        if (!std::isfinite(last_next_v) || !std::isfinite(static_cast<T>(last_next_v))) {  // cut_last refuses it otherwise
            throw checkpoint_error("training_state.last_next_value", "is " + format_number(last_next_v) + ", must be finite as " +
                                                                         (sizeof(T) == 4 ? "a float" : "a double"));
        }
        rollout stored(rollout_.capacity(), rollout_.actor_observation_size(), rollout_.critic_observation_size(), rollout_.action_width());
        nn::detail::read_tail(payload, r, stored, "training_state.rollout.", discrete ? layout_.actions_per_head : 0);

        // Everything read and checked: nothing below throws.
        actor_.parameters() = actor;
        critic_.parameters() = critic;
        log_std_ = log_std;
        actor_opt_ = std::move(actor_opt);
        log_std_opt_ = std::move(log_std_opt);
        critic_opt_ = std::move(critic_opt);
        last_next_ = last_next;
        last_next_v_ = last_next_v;
        rollout_ = std::move(stored);
        gen_ = gen;
        steps_ = steps;
        updates_ = updates;
        rollouts_ = rollouts;
        last_ = {};
    }

    /// save_training_state to a file, replacing it only once the new one is
    /// on disk (a crash leaves the old file or the new one).
    void save_training_state(const std::filesystem::path& path) const { nn::detail::save_state_file(*this, path); }
    /// load_training_state from a file; a file that cannot be opened throws
    /// rlscale::error naming it.
    void load_training_state(const std::filesystem::path& path) { nn::detail::load_state_file(*this, path, "ppo"); }
    /// The largest payload load_training_state takes, in bytes: what this
    /// learner's save_training_state writes with its rollout full and its
    /// advantages computed.
    [[nodiscard]] std::uint64_t max_training_state_length() const {
        namespace io = nn::detail;
        std::uint64_t n = 6 * sizeof(std::uint64_t);
        for (const std::vector<std::uint64_t>& shape : network_shapes()) n += io::shape_bytes(shape);
        return n + sizeof(steps_) + sizeof(updates_) + sizeof(rollouts_) + sizeof(gen_.state()) +
               static_cast<std::uint64_t>(actor_.parameter_count() + critic_.parameter_count() + log_std_.size() + last_next_.size()) * sizeof(T) +
               io::adam_bytes(actor_opt_) + io::adam_bytes(log_std_opt_) + io::adam_bytes(critic_opt_) + sizeof(last_next_v_) +
               io::rollout_state_bytes<T, Action>(rollout_);
    }

private:
    /// Annealing's last rates are lr / anneal_updates; one that is 0 in T
    /// would make Adam refuse it in the middle of an update, after the
    /// actor's rate had changed.
    static void check_anneal(const ppo_config& c) {
        if (c.anneal_updates == 0) return;
        const double steps = static_cast<double>(c.anneal_updates);
        check_fields("ppo_config").require(static_cast<T>(std::min(c.actor_lr, c.critic_lr) / steps) > T(0), "anneal_updates",
                                           std::string("leave the last learning rate, min(actor_lr, critic_lr) / anneal_updates, above 0 in the agent's ") +
                                               detail::scalar_name<T>(),
                                           c.anneal_updates);
    }
    /// ppo_config::validate checks the loss coefficients as doubles; the
    /// update weighs each sample's gradient by coef / m (m ≥ 1, the
    /// minibatch's size) and stores it in T. 1e39 is a finite double and an
    /// infinite float: every gradient would be non-finite and every
    /// minibatch skipped, so the agent would never learn. Each coefficient
    /// must be finite in T (then so is coef / m).
    ///
    /// The joint clip scales every gradient by max_grad_norm / ‖g‖ in T: a
    /// max_grad_norm of 1e-50 is a positive double and a float 0, so each
    /// step would be taken (and counted) with a zero gradient, changing no
    /// weight, where 0 in the configuration means off. It must be finite
    /// and > 0 in T, or 0 (as dqn's grad_clip_norm).
    static void check_coefficients(const ppo_config& c) {
        const double limit = static_cast<double>(std::numeric_limits<T>::max());
        const std::string what = std::string("be finite in the agent's ") + detail::scalar_name<T>() + " (at most " +
                                 format_number(limit) + ")";
        const check_fields check("ppo_config");
        check.require(c.entropy_coef <= limit, "entropy_coef", what, c.entropy_coef)
            .require(c.value_coef <= limit, "value_coef", what, c.value_coef);
        detail::require_positive_as<T>(check, "max_grad_norm", c.max_grad_norm, true);
    }
    ppo(std::size_t actor_in, std::size_t critic_in, q_layout layout, std::size_t action_width, std::size_t actor_out,
        ppo_config config, std::uint64_t seed, update_storage storage)
        : config_((config.validate(), check_anneal(config), check_coefficients(config), std::move(config))),
          layout_(layout),
          action_width_(action_width),
          gen_(seed),
          actor_(make_layers("actor_observation_size", actor_in, config_.actor_hidden, config_.hidden_activation, actor_out)),
          critic_(make_layers("critic_observation_size", critic_in, config_.critic_hidden, config_.hidden_activation, 1)),
          log_std_(vector::Constant(discrete ? 0 : static_cast<Eigen::Index>(action_width), static_cast<T>(config_.initial_log_std))),
          actor_opt_(actor_.parameter_count(), adam_settings(config_.actor_lr, seed, 1)),
          log_std_opt_(log_std_.size(), adam_settings(config_.actor_lr, seed, 2)),
          critic_opt_(critic_.parameter_count(), adam_settings(config_.critic_lr, seed, 3)),
          rollout_(config_.rollout_steps, actor_in, critic_in, action_width),
          actor_act_(actor_),
          critic_act_(critic_),
          indices_(std::max(config_.rollout_steps, config_.minibatch_size)),
          last_next_(static_cast<Eigen::Index>(actor_in)) {
        last_next_.setZero();
        if (config_.orthogonal_init) {
            initialize_orthogonal_network(actor_, 0.01);
            initialize_orthogonal_network(critic_, 1.0);
        } else {
            actor_.initialize(nn::init_scheme::torch_default, gen_);
            critic_.initialize(nn::init_scheme::torch_default, gen_);
        }
        if (storage == update_storage::own) own_.emplace(*this);
    }

    /// The actor's and the critic's layers as (inputs, outputs, activation)
    /// triples: what the training state checks a learner's networks by.
    [[nodiscard]] std::array<std::vector<std::uint64_t>, 2> network_shapes() const {
        std::array<std::vector<std::uint64_t>, 2> shapes;
        nn::detail::add_layer_shapes(shapes[0], actor_.layers());
        nn::detail::add_layer_shapes(shapes[1], critic_.layers());
        return shapes;
    }
    [[nodiscard]] static constexpr rlscale::detail::frame_format training_state_format() noexcept {
        return {.magic = discrete ? std::string_view("rlscale.ppo.training_state\n") : std::string_view("rlscale.ppo_continuous.training_state\n"),
                .version = 1,
                .value_size = sizeof(T),
                .kind = discrete ? std::string_view("a discrete PPO training state") : std::string_view("a continuous PPO training state")};
    }

    /// One optimiser's settings; with bfloat16 moments each of the three
    /// rounds with its own bits, drawn from the learner's seed.
    [[nodiscard]] nn::adam_config adam_settings(double lr, std::uint64_t seed, std::uint64_t which) const {
        if (!std::is_same_v<T, float> && config_.adam_moments == nn::moment_storage::bfloat16) {
            throw config_error("ppo_config.adam_moments", "bfloat16 moments need a float learner (ppo<float>)");
        }
        return nn::adam_config{.lr = lr, .eps = config_.adam_eps, .moments = config_.adam_moments}.rounding_stream(seed, which);
    }

    [[nodiscard]] Eigen::Index mb_capacity() const noexcept { return static_cast<Eigen::Index>(config_.minibatch_size); }

    static std::size_t check_dims(std::size_t dims) {
        check_fields("ppo").in("action_dims", dims, std::size_t{1}, std::size_t{1024});
        return dims;
    }

    static std::vector<nn::layer_spec> make_layers(const char* field, std::size_t in, const std::vector<Eigen::Index>& hidden,
                                                   nn::activation act, std::size_t out) {
        check_fields("ppo").in(field, in, std::size_t{1}, std::size_t{1} << 20);
        std::vector<nn::layer_spec> layers;
        auto prev = static_cast<Eigen::Index>(in);
        for (const Eigen::Index w : hidden) {
            layers.push_back({prev, w, act});
            prev = w;
        }
        layers.push_back({prev, static_cast<Eigen::Index>(out), nn::activation::identity});
        return layers;
    }

    /// Orthogonal weights (gain √2 for hidden layers, `head_gain` for the
    /// output layer), zero biases.
    void initialize_orthogonal_network(network& net, double head_gain) {
        for (std::size_t l = 0; l < net.layer_count(); ++l) {
            auto w = net.weight(l);
            const bool head = l + 1 == net.layer_count();
            nn::initialize_orthogonal(w, head ? head_gain : std::sqrt(2.0), gen_);
            net.bias(l).setZero();
        }
    }

    [[nodiscard]] Eigen::Map<const vector> actor_forward(std::span<const T> observation) {
        check_span("actor observation", observation.size(), actor_observation_size());
        const Eigen::Map<const vector> x(observation.data(), static_cast<Eigen::Index>(observation.size()));
        return actor_.forward(x, actor_act_);
    }

    /// An observation to act on: the actor's size, and every value finite
    /// (as dqn's): the first that is not is named with its index and value.
    /// Checked before the forward pass, so a refused one draws nothing from
    /// the generator.
    void check_observation(std::span<const T> observation) const {
        check_span("actor observation", observation.size(), actor_observation_size());
        for (std::size_t i = 0; i < observation.size(); ++i) {
            if (!std::isfinite(observation[i])) {
                throw error("ppo: observation[" + std::to_string(i) + "] is " + format_number(static_cast<double>(observation[i])) +
                            ", must be finite");
            }
        }
    }
    /// `x` of `want` values, each finite; the first that is not is named with its index and value.
    template <typename V>
    static void check_finite_span(const char* what, std::span<const V> x, std::size_t want) {
        check_span(what, x.size(), want);
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!std::isfinite(x[i])) {
                throw error("ppo::observe: " + std::string(what) + "[" + std::to_string(i) + "] is " +
                            format_number(static_cast<double>(x[i])) + ", must be finite");
            }
        }
    }
    static void check_span(const char* what, std::size_t got, std::size_t want) {
        if (got != want) {
            throw error("ppo::" + std::string(what) + " has " + std::to_string(got) + " values, expected " + std::to_string(want));
        }
    }
    void check_index(std::int32_t a, std::size_t h) const {
        if (a < 0 || static_cast<std::size_t>(a) >= layout_.actions_per_head) {
            throw error("ppo: action[" + std::to_string(h) + "] is " + std::to_string(a) + ", the head has " +
                        std::to_string(layout_.actions_per_head) + " actions");
        }
    }
    void require_same_inputs(const char* what) const {
        if (actor_observation_size() != critic_observation_size()) {
            throw error(std::string("ppo::") + what + ": the critic reads " + std::to_string(critic_observation_size()) +
                        " inputs and the actor " + std::to_string(actor_observation_size()) +
                        "; drive such a learner with sample(), value(), a rollout_buffer and update()");
        }
    }
    /// Each optimiser sized for its parameters (they are writable through
    /// actor_optimizer() and the like): checked before the first step, so
    /// that a mismatch cannot stop an update with the actor stepped and the
    /// critic not.
    void check_optimizers() const {
        const auto check = [](const char* what, Eigen::Index optimised, Eigen::Index parameters) {
            if (optimised != parameters) {
                throw error(std::string("ppo::update: the ") + what + " optimiser is for " + std::to_string(optimised) +
                            " parameters, the learner has " + std::to_string(parameters) + "; nothing was changed");
            }
        };
        check("actor", actor_opt_.parameter_count(), actor_.parameter_count());
        check("log-std", log_std_opt_.parameter_count(), log_std_.size());
        check("critic", critic_opt_.parameter_count(), critic_.parameter_count());
    }

    void check_rollout(const rollout& r) const {
        if (r.empty()) throw error("ppo::update: the rollout is empty");
        if (!r.advantages_ready()) throw error("ppo::update: the rollout's advantages are not computed (call compute_advantages)");
        if (r.actor_observation_size() != actor_observation_size() || r.critic_observation_size() != critic_observation_size() ||
            r.action_width() != action_width_) {
            throw error("ppo::update: the rollout holds " + std::to_string(r.actor_observation_size()) + " actor inputs, " +
                        std::to_string(r.critic_observation_size()) + " critic inputs and " + std::to_string(r.action_width()) +
                        " action values per step, the learner " + std::to_string(actor_observation_size()) + ", " +
                        std::to_string(critic_observation_size()) + " and " + std::to_string(action_width_));
        }
        if (r.size() > config_.rollout_steps) {
            throw error("ppo::update: the rollout holds " + std::to_string(r.size()) + " steps, more than rollout_steps (" +
                        std::to_string(config_.rollout_steps) + ")");
        }
        if constexpr (discrete) {
            for (std::size_t j = 0; j < r.size(); ++j) {
                for (std::size_t h = 0; h < layout_.heads; ++h) check_index(r.actions()(static_cast<Eigen::Index>(h), static_cast<Eigen::Index>(j)), h);
            }
        }
    }

    /// One gradient step on the rollout's samples `idx`.
    void minibatch_step(const rollout& r, std::span<const std::size_t> idx, ppo_update_stats& total, std::size_t& kl_steps,
                        workspace& w) {
        const auto m = static_cast<Eigen::Index>(idx.size());
        const double inv_m = 1.0 / static_cast<double>(m);
        for (Eigen::Index j = 0; j < m; ++j) {
            const auto s = static_cast<Eigen::Index>(idx[static_cast<std::size_t>(j)]);
            w.mb_actor_obs.col(j) = r.actor_observations().col(s);
            w.mb_critic_obs.col(j) = r.critic_observations().col(s);
            w.mb_actions.col(j) = r.actions().col(s);
            w.mb_advantages(j) = static_cast<double>(r.advantages()(s));
        }
        // Advantages normalised within the minibatch (unbiased std, as torch's
        // Tensor.std); a single sample has no spread and is left as is, and
        // so is a minibatch drawn with replacement whose draws are all one
        // sample (normalised, its advantage would be 0: no policy gradient).
        const bool one_sample = std::all_of(idx.begin(), idx.end(), [&](std::size_t i) { return i == idx.front(); });
        if (config_.normalize_advantages && m > 1 && !one_sample) {
            const double mean = w.mb_advantages.head(m).mean();
            const double var = (w.mb_advantages.head(m).array() - mean).square().sum() / static_cast<double>(m - 1);
            w.mb_advantages.head(m) = (w.mb_advantages.head(m).array() - mean) / (std::sqrt(var) + 1e-8);
        }

        // Policy: the clipped surrogate and the entropy bonus.
        const auto y = actor_.forward_batch(w.mb_actor_obs.leftCols(m), w.actor_batch);
        const double eps = config_.clip;
        double pg = 0;
        double entropy = 0;
        double kl = 0;
        Eigen::Index kl_samples = 0;  // samples whose kl term is finite
        double clipped = 0;
        if constexpr (!discrete) w.log_std_grad.setZero();
        for (Eigen::Index j = 0; j < m; ++j) {
            const auto s = static_cast<Eigen::Index>(idx[static_cast<std::size_t>(j)]);
            double lp = 0;
            double h = 0;
            if constexpr (discrete) {
                const auto a_count = static_cast<Eigen::Index>(layout_.actions_per_head);
                for (std::size_t head = 0; head < layout_.heads; ++head) {
                    const auto base = static_cast<Eigen::Index>(head) * a_count;
                    const auto e = nn::categorical::evaluate(y.col(j).segment(base, a_count),
                                                             w.mb_actions(static_cast<Eigen::Index>(head), j),
                                                             w.sample_log_pi.segment(base, a_count), w.sample_pi.segment(base, a_count));
                    lp += e.log_prob;
                    h += e.entropy;
                    w.sample_head_entropy(static_cast<Eigen::Index>(head)) = e.entropy;
                }
            } else {
                lp = nn::diagonal_gaussian::log_prob(y.col(j), log_std_, w.mb_actions.col(j));
                h = nn::diagonal_gaussian::entropy(log_std_);
            }
            const double log_ratio = lp - static_cast<double>(r.log_probs()(s));
            const double ratio = std::exp(log_ratio);
            const double adv = w.mb_advantages(j);
            // Â = 0 contributes nothing, also where ρ overflowed (0·∞).
            const double unclipped = adv == 0 ? 0.0 : -adv * ratio;
            const double clipped_term = -adv * std::clamp(ratio, 1 - eps, 1 + eps);
            pg += std::max(unclipped, clipped_term);
            entropy += h;
            // Where ρ overflowed the term is ∞ (the sample's gradient is 0,
            // or the step is skipped): left out rather than made the mean.
            const double kl_term = (ratio - 1) - log_ratio;
            if (std::isfinite(kl_term)) {
                kl += kl_term;
                ++kl_samples;
            }
            if (std::abs(ratio - 1) > eps) clipped += 1;
            // d max(...)/dρ: the unclipped branch's −Â inside [1 − ε, 1 + ε]
            // (both branches agree there) and where it is the larger; 0 where
            // the clipped constant wins.
            const bool inside = ratio >= 1 - eps && ratio <= 1 + eps;
            const double d_ratio = inside || unclipped > clipped_term ? -adv : 0.0;
            // A clipped sample contributes exactly nothing, also where ρ
            // overflowed (log π far above an off-policy log π_old): 0·∞
            // would make the whole minibatch's gradient NaN.
            const double w_lp = d_ratio == 0 ? 0.0 : d_ratio * ratio * inv_m;
            const double w_ent = -config_.entropy_coef * inv_m;
            if constexpr (discrete) {
                const auto a_count = static_cast<Eigen::Index>(layout_.actions_per_head);
                for (std::size_t head = 0; head < layout_.heads; ++head) {
                    const auto base = static_cast<Eigen::Index>(head) * a_count;
                    nn::categorical::gradient_from_evaluation(w.sample_log_pi.segment(base, a_count), w.sample_pi.segment(base, a_count),
                                                              w.mb_actions(static_cast<Eigen::Index>(head), j),
                                                              w.sample_head_entropy(static_cast<Eigen::Index>(head)), w_lp,
                                                              w_ent, w.d_actor.col(j).segment(base, a_count));
                }
            } else {
                nn::diagonal_gaussian::gradient(y.col(j), log_std_, w.mb_actions.col(j), w_lp, w_ent, w.d_actor.col(j),
                                                w.log_std_sample_grad);
                w.log_std_grad += w.log_std_sample_grad;
            }
        }
        actor_.backward(w.actor_batch, w.d_actor.leftCols(m), w.actor_grad);
        // Its share of the joint norm, taken while the gradient is still in
        // the cache.
        const auto actor_squared_norm = static_cast<double>(w.actor_grad.values().squaredNorm());

        // Value: ½·mean of the (clipped) squared error.
        const auto v = critic_.forward_batch(w.mb_critic_obs.leftCols(m), w.critic_batch);
        double value_loss = 0;
        const double vc = config_.value_clip;
        for (Eigen::Index j = 0; j < m; ++j) {
            const auto s = static_cast<Eigen::Index>(idx[static_cast<std::size_t>(j)]);
            const double vj = static_cast<double>(v(0, j));
            const double ret = static_cast<double>(r.returns()(s));
            const double e1 = vj - ret;
            double sq = e1 * e1;
            double d_v = 2 * e1;
            if (config_.clip_value) {
                const double old = static_cast<double>(r.values()(s));
                const double diff = vj - old;
                const double clamped = old + std::clamp(diff, -vc, vc);
                const double e2 = clamped - ret;
                if (e2 * e2 > sq) {
                    sq = e2 * e2;
                    d_v = diff >= -vc && diff <= vc ? 2 * e2 : 0.0;  // the clamp passes the gradient only inside
                }
            }
            value_loss += sq;
            w.d_critic(0, j) = static_cast<T>(config_.value_coef * 0.5 * d_v * inv_m);
        }
        critic_.backward(w.critic_batch, w.d_critic.leftCols(m), w.critic_grad);

        auto ga = w.actor_grad.values();
        auto gc = w.critic_grad.values();
        const double norm =
            std::sqrt(actor_squared_norm + static_cast<double>(gc.squaredNorm()) + static_cast<double>(w.log_std_grad.squaredNorm()));
        if (!std::isfinite(norm)) {
            // Keep the networks as they were, and this step's figures out of
            // the update's means.
            ++total.skipped;
            return;
        }
        const double pg_loss = pg * inv_m;
        const double v_loss = 0.5 * value_loss * inv_m;
        const double mean_entropy = entropy * inv_m;
        total.pg_loss += pg_loss;
        total.value_loss += v_loss;
        total.entropy += mean_entropy;
        if (kl_samples == m) {
            total.approx_kl += kl * inv_m;
            ++kl_steps;
        } else {
            total.kl_excluded += static_cast<std::size_t>(m - kl_samples);
            if (kl_samples > 0) {
                total.approx_kl += kl / static_cast<double>(kl_samples);
                ++kl_steps;
            }
        }
        total.clip_fraction += clipped * inv_m;
        total.grad_norm += norm;
        total.loss += pg_loss - config_.entropy_coef * mean_entropy + config_.value_coef * v_loss;
        // The joint clip (torch.nn.utils.clip_grad_norm_'s coefficient, applied
        // only below 1), scaled into each value as Adam reads it.
        T scale = 1;
        if (config_.max_grad_norm > 0) {
            const double coef = config_.max_grad_norm / (norm + 1e-6);
            if (coef < 1) scale = static_cast<T>(coef);
        }
        actor_opt_.step(actor_.parameters(), ga, scale);
        critic_opt_.step(critic_.parameters(), gc, scale);
        if constexpr (!discrete) {
            log_std_opt_.step(log_std_, w.log_std_grad, scale);
            log_std_ = log_std_.cwiseMax(static_cast<T>(config_.log_std_min)).cwiseMin(static_cast<T>(config_.log_std_max));
        }
        ++total.steps;
        ++updates_;
    }

    ppo_config config_;
    q_layout layout_;
    std::size_t action_width_;
    rng gen_;
    network actor_;
    network critic_;
    vector log_std_;
    nn::adam<T> actor_opt_;
    nn::adam<T> log_std_opt_;
    nn::adam<T> critic_opt_;
    rollout rollout_;
    std::optional<workspace> own_;  // empty with update_storage::supplied
    typename network::inference_buffer actor_act_;
    typename network::inference_buffer critic_act_;
    std::vector<std::size_t> indices_;
    vector last_next_;          // the last observed transition's next observation (observe)
    double last_next_v_ = 0;    // and its value
    std::uint64_t steps_ = 0;
    std::uint64_t updates_ = 0;
    std::uint64_t rollouts_ = 0;
    ppo_update_stats last_;
};

static_assert(learner<ppo<float, std::int32_t>>);
static_assert(learner<ppo<float, float>>);

}  // namespace rlscale::rl
