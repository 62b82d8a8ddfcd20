#pragma once

/// Deep deterministic policy gradient (Lillicrap et al. 2016) with the TD3
/// options of Fujimoto et al. (2018: twin critics, target policy smoothing,
/// delayed actor and target updates) and TD3+BC's behaviour-cloning term
/// (Fujimoto & Gu 2021) for learning from another controller's transitions.
/// docs/ddpg.md gives each formula beside the papers'.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/detail/worker_pool.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/detail/state_io.hpp>
#include <rlscale/nn/gradient_clip.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/mlp.hpp>
#include <rlscale/nn/target_update.hpp>
#include <rlscale/rl/detail/scalar_checks.hpp>
#include <rlscale/rl/noise.hpp>
#include <rlscale/rl/replay_buffer.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <iterator>
#include <limits>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace rlscale::rl {

/// The range of one action dimension: the actor's tanh output is rescaled to
/// [low, high] and every exploring or smoothed action is clipped to it.
struct action_bound {
    double low = -1;  ///< smallest action value
    double high = 1;  ///< largest action value (> low)

    [[nodiscard]] double scale() const noexcept { return (high - low) / 2; }
    [[nodiscard]] double bias() const noexcept { return (high + low) / 2; }

    friend bool operator==(const action_bound&, const action_bound&) = default;
};

/// Which noise explore() adds to μ(s).
enum class ddpg_exploration {
    ornstein_uhlenbeck,  ///< temporally correlated, scale ε decaying per update (FIRM, Lillicrap et al.)
    gaussian,            ///< independent N(0, σ·scale_d) per step (CleanRL, TD3)
};

[[nodiscard]] constexpr std::string_view to_string(ddpg_exploration e) noexcept {
    return e == ddpg_exploration::ornstein_uhlenbeck ? "ornstein_uhlenbeck" : "gaussian";
}

/// Hyperparameters of the DDPG/TD3 updater. The defaults are CleanRL's
/// `ddpg_continuous_action.py` (see cleanrl()).
struct ddpg_config {
    std::vector<Eigen::Index> actor_hidden = {256, 256};   ///< actor hidden widths (ReLU); tanh output
    std::vector<Eigen::Index> critic_hidden = {256, 256};  ///< critic hidden widths (ReLU); linear output
    /// Where the action enters the critic: 0 = concatenated with the state at
    /// the input ([s; a]); k ≥ 1 = concatenated with the k-th hidden layer's
    /// output ([h_k; a]), as in Lillicrap et al. §7 and FIRM (k = 1). Less
    /// than critic_hidden.size(): at least one hidden layer sees the action.
    std::size_t critic_action_layer = 0;
    nn::adam_config actor_adam{.lr = 3e-4};   ///< the actor's optimiser
    nn::adam_config critic_adam{.lr = 3e-4};  ///< each critic's optimiser
    double gamma = 0.99;                      ///< discount γ
    double tau = 0.005;                       ///< Polyak coefficient τ of the targets, per target update
    std::size_t batch_size = 256;             ///< transitions per update
    std::size_t replay_capacity = 1'000'000;  ///< replay buffer size
    std::size_t learning_starts = 25'000;     ///< warm-up steps: uniform random actions, no updates
    std::size_t train_frequency = 1;          ///< environment steps per update
    double actor_grad_clip_norm = 0;          ///< rescale the actor's gradient to at most this L2 norm (0 = off)
    double critic_grad_clip_norm = 0;         ///< the same for each critic's gradient (0 = off)
    bool twin_critics = false;                ///< TD3: two critics, the smaller target value in y
    double policy_noise = 0;                  ///< TD3 smoothing σ on μ'(s'), in units of each scale (0 = off)
    double noise_clip = 0.5;                  ///< TD3 smoothing noise clipped to ±c (units of each scale)
    std::size_t policy_delay = 1;             ///< actor and target updates every d critic updates (TD3: 2)
    double bc_alpha = 0;                      ///< TD3+BC α: λ = α / mean|Q| and a behaviour-cloning term (0 = off)
    /// Penalty on the actor's pre-scaling output u = tanh(·) ∈ [−1, 1]:
    /// the actor loss gains action_l2 · mean_{d,j} u_dj² (0 = off). It keeps
    /// the tanh from saturating at a bound, where its gradient vanishes and
    /// the policy cannot leave it (OpenAI baselines' HER uses 1.0).
    double action_l2 = 0;
    ddpg_exploration exploration = ddpg_exploration::gaussian;  ///< noise added by explore()
    gaussian_noise_config gaussian{};         ///< Gaussian exploration: σ in units of each scale
    ornstein_uhlenbeck_config ou{};           ///< Ornstein-Uhlenbeck exploration (and ε's decay per update)
    /// Precision of the update's matrix products: `full` or `bf16` (float
    /// only; bfloat16 operands, float sums and parameters; see dqn_config).
    /// Acting (greedy, explore) is always in full precision.
    nn::matmul_precision precision = nn::matmul_precision::full;
    /// Data-parallel updates, as in dqn_config: the batch is cut into this
    /// many column ranges (shards) of near-equal size; each goes through the
    /// forward passes, the losses and the backward passes on its own, and
    /// the critics' and the actor's gradients are summed in shard order
    /// before each Adam step. The result depends on the number of shards
    /// (other float sums), never on how many threads run them. 1: the whole
    /// batch in one pass.
    std::size_t update_shards = 1;
    /// Threads that run the shards, the calling thread included (at most
    /// update_shards). More than one starts update_threads − 1 threads that
    /// the agent owns and reuses; between updates they poll for 200 µs
    /// before they sleep.
    std::size_t update_threads = 1;

    /// CleanRL `ddpg_continuous_action.py`: actor and critic 256×256, Adam
    /// lr 3e-4 both, batch 256, replay 10^6, γ 0.99, τ 0.005, Gaussian
    /// exploration 0.1·scale, 25 000 warm-up steps, policy_frequency 2 (the
    /// actor and the targets every second critic update), the action at the
    /// critic's input.
    [[nodiscard]] static ddpg_config cleanrl() {
        ddpg_config c;
        c.policy_delay = 2;
        return c;
    }

    /// CleanRL `td3_continuous_action.py`: as cleanrl() with twin critics and
    /// target policy smoothing (σ 0.2 clipped to ±0.5, both times the
    /// scale), policy delay 2.
    [[nodiscard]] static ddpg_config td3() {
        ddpg_config c = cleanrl();
        c.twin_critics = true;
        c.policy_noise = 0.2;
        c.noise_clip = 0.5;
        c.policy_delay = 2;
        return c;
    }

    /// FIRM (Qiu et al. 2020; `ddpg/ddpg.py`, `ddpg/actorcritic.py`): actor
    /// lr 3e-4, critic lr 3e-3, batch 64, replay 10^5, γ 0.9, τ 0.001, 70
    /// warm-up steps, hidden 40×40 for both networks, the action joining the
    /// critic after its first hidden layer, Ornstein-Uhlenbeck exploration
    /// (θ 0.15, σ 0.2, dt 0.01, μ 0) times ε from 1 down by 1e-6 per
    /// update. FIRM's BatchNorm layers are not reproduced (the networks here
    /// have none), nor its softmax actor or its targets drawn as fresh
    /// random networks (both defects; docs/ddpg.md).
    [[nodiscard]] static ddpg_config firm() {
        ddpg_config c;
        c.actor_hidden = {40, 40};
        c.critic_hidden = {40, 40};
        c.critic_action_layer = 1;
        c.actor_adam = {.lr = 3e-4};
        c.critic_adam = {.lr = 3e-3};
        c.batch_size = 64;
        c.replay_capacity = 100'000;
        c.gamma = 0.9;
        c.tau = 0.001;
        c.learning_starts = 70;
        c.exploration = ddpg_exploration::ornstein_uhlenbeck;
        c.ou = ornstein_uhlenbeck_config::firm();
        return c;
    }

    /// Throws config_error naming the first out-of-range field and its value.
    void validate() const {
        const check_fields check("ddpg_config");
        check.count("actor_hidden", actor_hidden.size(), 1, 64).count("critic_hidden", critic_hidden.size(), 1, 64);
        for (std::size_t i = 0; i < actor_hidden.size(); ++i) check.at_least("actor_hidden[" + std::to_string(i) + "]", actor_hidden[i], 1);
        for (std::size_t i = 0; i < critic_hidden.size(); ++i) check.at_least("critic_hidden[" + std::to_string(i) + "]", critic_hidden[i], 1);
        // Joining after the last hidden layer would leave Q affine in the
        // action (the linear output over [h(s); a]): ∂Q/∂a the same in every
        // state, so the actor would push every state's action to one corner.
        check.require(critic_action_layer < critic_hidden.size(), "critic_action_layer",
                      "be less than the number of critic hidden layers (" + format_number(critic_hidden.size()) +
                          "): joined after the last one, Q would be affine in the action",
                      critic_action_layer)
            .in("gamma", gamma, 0, 1)
            .in_open_closed("tau", tau, 0, 1)
            .in("batch_size", batch_size, std::size_t{1}, std::size_t{1'000'000})
            .at_least_field("replay_capacity", replay_capacity, "batch_size", batch_size)
            // The replay buffer's own limit, named here rather than as replay_buffer.capacity.
            .at_most("replay_capacity", replay_capacity, replay_buffer<>::max_capacity)
            .at_least("train_frequency", train_frequency, 1)
            .at_least("actor_grad_clip_norm", actor_grad_clip_norm, 0)
            .at_least("critic_grad_clip_norm", critic_grad_clip_norm, 0)
            .at_least("policy_noise", policy_noise, 0)
            .at_least("noise_clip", noise_clip, 0)
            .in("policy_delay", policy_delay, std::size_t{1}, std::size_t{1'000'000})
            .at_least("bc_alpha", bc_alpha, 0)
            .at_least("action_l2", action_l2, 0)
            .in("update_shards", update_shards, std::size_t{1}, batch_size)
            .in("update_threads", update_threads, std::size_t{1}, update_shards)
            .require(exploration == ddpg_exploration::gaussian || exploration == ddpg_exploration::ornstein_uhlenbeck,
                     "exploration", "be gaussian or ornstein_uhlenbeck", static_cast<int>(exploration));
        nested("actor_adam", [&] { actor_adam.validate(); });
        nested("critic_adam", [&] { critic_adam.validate(); });
        nested("gaussian", [&] { gaussian.validate(); });
        nested("ou", [&] { ou.validate(); });
    }

private:
    /// Re-throws a nested struct's config_error under "ddpg_config.<member>".
    template <typename F>
    static void nested(std::string_view member, F&& validate) {
        validate_nested("ddpg_config", member, std::forward<F>(validate));
    }
};

/// What one update did.
struct ddpg_update_stats {
    double critic_loss = 0;       ///< mean squared TD error (the mean over both critics with twin_critics)
    double actor_loss = std::numeric_limits<double>::quiet_NaN();  ///< −λ·mean Q(s, μ(s)) (+ BC term); NaN when the actor was not updated
    double mean_q = 0;            ///< mean Q_1(s, a) over the batch, before the step
    double critic_grad_norm = 0;  ///< L2 norm of the critics' gradient (both, jointly) before clipping
    double actor_grad_norm = std::numeric_limits<double>::quiet_NaN();  ///< actor's gradient norm before clipping; NaN when not updated
    bool actor_updated = false;   ///< the actor and the targets were updated (every policy_delay updates)
    bool applied = true;          ///< false when a gradient was not finite: every network stayed as it was
};

/// The critic Q(s, a) of ddpg, as one or two MLPs.
///
/// With the action at the input (action_layer 0) it is one network, the
/// `head`, over [s; a] (state rows first, as torch.cat([s, a])). With the
/// action joining after hidden layer k ≥ 1 it is two: the `trunk` s → h_1 →
/// … → h_k (ReLU) and the `head` [h_k; a] → h_{k+1} → … → 1. The critic's
/// flat parameter order (its optimiser's, and parameters()) is the trunk's
/// parameters followed by the head's, each in nn::mlp's order.
template <typename T>
class ddpg_critic {
public:
    using network = nn::mlp<T>;
    using vector = typename network::vector;

    ddpg_critic(std::size_t observation_size, std::size_t action_size, const std::vector<Eigen::Index>& hidden,
                std::size_t action_layer)
        : action_layer_(action_layer),
          observation_size_(static_cast<Eigen::Index>(observation_size)),
          action_size_(static_cast<Eigen::Index>(action_size)),
          trunk_(make_trunk(observation_size, hidden, action_layer)),
          head_(make_head(observation_size, action_size, hidden, action_layer)) {}

    /// 0: the action is at the input; k: it joins after hidden layer k.
    [[nodiscard]] std::size_t action_layer() const noexcept { return action_layer_; }
    [[nodiscard]] bool has_trunk() const noexcept { return trunk_.has_value(); }
    /// The state-only layers before the action joins. Throws rlscale::error
    /// when the action is at the input (there is no trunk).
    [[nodiscard]] const network& trunk() const {
        if (!trunk_.has_value()) no_trunk();
        return *trunk_;
    }
    [[nodiscard]] network& trunk() {
        if (!trunk_.has_value()) no_trunk();
        return *trunk_;
    }
    /// The layers from the join ([h_k; a] or [s; a]) to Q.
    [[nodiscard]] const network& head() const noexcept { return head_; }
    [[nodiscard]] network& head() noexcept { return head_; }
    [[nodiscard]] Eigen::Index observation_size() const noexcept { return observation_size_; }
    [[nodiscard]] Eigen::Index action_size() const noexcept { return action_size_; }
    /// Rows of the state part of the head's input: h_k's width or the observation size.
    [[nodiscard]] Eigen::Index join_width() const noexcept { return head_.input_size() - action_size_; }
    [[nodiscard]] Eigen::Index parameter_count() const noexcept {
        return head_.parameter_count() + (trunk_.has_value() ? trunk_->parameter_count() : 0);
    }

    /// PyTorch's nn.Linear default, trunk then head, layer by layer.
    template <std::uniform_random_bit_generator Gen>
    void initialize(Gen& gen) {
        if (trunk_.has_value()) trunk_->initialize(nn::init_scheme::torch_default, gen);
        head_.initialize(nn::init_scheme::torch_default, gen);
    }

    /// Every parameter in the critic's flat order, copied into `out`.
    void read_parameters(Eigen::Ref<vector> out) const {
        check_size(out.size());
        const Eigen::Index nt = trunk_.has_value() ? trunk_->parameter_count() : 0;
        if (nt > 0) out.head(nt) = trunk_->parameters();
        out.tail(head_.parameter_count()) = head_.parameters();
    }
    /// Sets every parameter from `in` (the critic's flat order).
    void write_parameters(const Eigen::Ref<const vector>& in) {
        check_size(in.size());
        const Eigen::Index nt = trunk_.has_value() ? trunk_->parameter_count() : 0;
        if (nt > 0) trunk_->parameters() = in.head(nt);
        head_.parameters() = in.tail(head_.parameter_count());
    }

    /// Allocating convenience for tests and examples: Q(s, a) for one pair.
    [[nodiscard]] T predict(const Eigen::Ref<const vector>& s, const Eigen::Ref<const vector>& a) const {
        vector x(head_.input_size());
        if (trunk_.has_value()) {
            x.head(join_width()) = trunk_->predict(s);
        } else {
            x.head(join_width()) = s;
        }
        x.tail(action_size_) = a;
        return head_.predict(x)(0);
    }

    /// θ ← θ_source (both pieces).
    void hard_update_from(const ddpg_critic& source) {
        if (trunk_.has_value()) nn::hard_update(*trunk_, source.trunk());
        nn::hard_update(head_, source.head());
    }
    /// θ ← τ·θ_source + (1 − τ)·θ (both pieces).
    void soft_update_from(const ddpg_critic& source, T tau) {
        if (trunk_.has_value()) nn::soft_update(*trunk_, source.trunk(), tau);
        nn::soft_update(head_, source.head(), tau);
    }

private:
    [[noreturn]] static void no_trunk() {
        throw error("ddpg_critic::trunk: the action is at the critic's input (critic_action_layer 0), there is no trunk");
    }
    void check_size(Eigen::Index n) const {
        if (n != parameter_count()) {
            throw error("ddpg_critic: " + std::to_string(n) + " parameters given, the critic has " +
                        std::to_string(parameter_count()));
        }
    }
    static std::optional<network> make_trunk(std::size_t in, const std::vector<Eigen::Index>& hidden, std::size_t k) {
        if (k == 0) return std::nullopt;
        std::vector<nn::layer_spec> layers;
        auto prev = static_cast<Eigen::Index>(in);
        for (std::size_t l = 0; l < k; ++l) {
            layers.push_back({prev, hidden[l], nn::activation::relu});
            prev = hidden[l];
        }
        return network(std::move(layers));
    }
    static network make_head(std::size_t in, std::size_t actions, const std::vector<Eigen::Index>& hidden, std::size_t k) {
        std::vector<nn::layer_spec> layers;
        Eigen::Index prev = (k == 0 ? static_cast<Eigen::Index>(in) : hidden[k - 1]) + static_cast<Eigen::Index>(actions);
        for (std::size_t l = k; l < hidden.size(); ++l) {
            layers.push_back({prev, hidden[l], nn::activation::relu});
            prev = hidden[l];
        }
        layers.push_back({prev, 1, nn::activation::identity});
        return network(std::move(layers));
    }

    std::size_t action_layer_;
    Eigen::Index observation_size_;
    Eigen::Index action_size_;
    std::optional<network> trunk_;
    network head_;
};

/// DDPG, and TD3 through its options: a deterministic actor μ(s) (tanh,
/// rescaled to each dimension's bounds), one or two critics Q(s, a), target
/// copies of each, experience replay, separate Adam optimisers, Polyak target
/// updates. All storage is allocated at construction; greedy, explore,
/// observe and update allocate nothing. A copy is a snapshot of the agent
/// (weights, optimisers, replay, generator) that trains on as the original
/// would; with update_threads > 1 it starts threads of its own.
///
/// Deterministic: the same seed, configuration and inputs give the same
/// weights (initialisation, warm-up actions, noise, sampling and smoothing
/// noise all draw from the learner's own generator).
template <typename T = float>
class ddpg {
public:
    using network = nn::mlp<T>;
    using critic_type = ddpg_critic<T>;
    using vector = typename network::vector;
    using matrix = typename network::matrix;
    using batch_type = replay_batch<T, T>;
    using value_type = T;  ///< the learner concept's action value type: one value per action dimension

    /// Every batched pass of an update may use the register kernels of
    /// nn/detail/small_batch.hpp up to CleanRL's batch of 256 (the buffers'
    /// kernel_columns), where they are measured faster than Eigen's product
    /// (FIRM's 40-row layers at 64 samples, CleanRL's 256-row layers at 128
    /// and 256; docs/benchmarks.md); other products, larger layers and
    /// larger batches still go to Eigen's.
    static constexpr Eigen::Index kernel_columns = nn::max_batch_kernel_columns;

    /// An agent for observations of `observation_size` values and one action
    /// dimension per entry of `bounds`. Initialises the actor and the critics
    /// (PyTorch's nn.Linear default) from `seed` and the targets as copies of
    /// them. Throws config_error for a bad configuration or bound, before
    /// allocating the networks: besides ddpg_config::validate, a τ, clip
    /// norm or Gaussian σ that the agent's type T cannot carry (see
    /// check_as_scalar).
    ddpg(std::size_t observation_size, std::vector<action_bound> bounds, ddpg_config config, std::uint64_t seed)
        : config_((config.validate(), check_precision(config.precision), check_as_scalar(config), std::move(config))),
          bounds_(checked_noise_scale(config_, checked_bounds(observation_size, std::move(bounds)))),
          gen_(seed),
          actor_(actor_layers(observation_size, bounds_.size(), config_.actor_hidden)),
          target_actor_(actor_.layers()),
          critics_{make_critic(observation_size), make_critic(observation_size)},
          target_critics_{make_critic(observation_size), make_critic(observation_size)},
          actor_opt_(actor_.parameter_count(), config_.actor_adam.rounding_stream(seed, 0)),
          critic_opt_{nn::adam<T>(critics_[0].parameter_count(), config_.critic_adam.rounding_stream(seed, 1)),
                      nn::adam<T>(critics_[0].parameter_count(), config_.critic_adam.rounding_stream(seed, 2))},
          replay_(config_.replay_capacity, observation_size, bounds_.size()),
          batch_(observation_size, bounds_.size(), config_.batch_size),
          act_buf_(actor_),
          gflat_{vector::Zero(critics_[0].parameter_count()), vector::Zero(critics_[0].parameter_count())},
          pflat_(vector::Zero(critics_[0].parameter_count())),
          snapshot_{saved_critic(critics_[0].parameter_count()), saved_critic(critics_[0].parameter_count())},
          scale_(static_cast<Eigen::Index>(bounds_.size())),
          bias_(static_cast<Eigen::Index>(bounds_.size())),
          inv_scale_sq_(static_cast<Eigen::Index>(bounds_.size())),
          low_(static_cast<Eigen::Index>(bounds_.size())),
          high_(static_cast<Eigen::Index>(bounds_.size())),
          next_action_(matrix::Zero(dims(), cap())),
          smoothing_(matrix::Zero(dims(), cap())),
          mu_(matrix::Zero(dims(), cap())),
          dmu_(matrix::Zero(dims(), cap())),
          dq_(matrix::Zero(1, cap())),
          y_(vector::Zero(cap())),
          noise_(static_cast<std::size_t>(dims()), T(0)),
          ou_(bounds_.size(), config_.ou, scales(bounds_)),
          gaussian_(bounds_.size(), config_.gaussian, scales(bounds_)) {
        for (std::size_t d = 0; d < bounds_.size(); ++d) {
            const auto i = static_cast<Eigen::Index>(d);
            scale_(i) = static_cast<T>(bounds_[d].scale());
            bias_(i) = static_cast<T>(bounds_[d].bias());
            inv_scale_sq_(i) = static_cast<T>(1 / (bounds_[d].scale() * bounds_[d].scale()));
            low_(i) = static_cast<T>(bounds_[d].low);
            high_(i) = static_cast<T>(bounds_[d].high);
        }
        const auto shard_capacity =
            static_cast<Eigen::Index>((config_.batch_size + config_.update_shards - 1) / config_.update_shards);
        shards_.reserve(config_.update_shards);
        for (std::size_t k = 0; k < config_.update_shards; ++k) {
            shards_.emplace_back(actor_, critics_[0], shard_capacity, config_.precision);
        }
        if (config_.update_threads > 1) {
            // As the DQN's: its threads poll for 200 µs before they sleep.
            pool_ = rlscale::detail::copyable_worker_pool(config_.update_threads - 1, std::chrono::microseconds(200));
        }
        actor_.initialize(nn::init_scheme::torch_default, gen_);
        critics_[0].initialize(gen_);
        if (config_.twin_critics) critics_[1].initialize(gen_);
        // The targets start as copies of the online networks (FIRM draws them
        // as fresh random networks instead, ddpg.py:62-63: a defect).
        nn::hard_update(target_actor_, actor_);
        for (std::size_t i = 0; i < critic_count(); ++i) target_critics_[i].hard_update_from(critics_[i]);
    }

    [[nodiscard]] const ddpg_config& config() const noexcept { return config_; }
    [[nodiscard]] const std::vector<action_bound>& bounds() const noexcept { return bounds_; }
    [[nodiscard]] std::size_t observation_size() const noexcept { return replay_.observation_size(); }
    [[nodiscard]] std::size_t action_size() const noexcept { return bounds_.size(); }
    /// 2 with twin_critics, else 1.
    [[nodiscard]] std::size_t critic_count() const noexcept { return config_.twin_critics ? 2 : 1; }
    [[nodiscard]] const network& actor() const noexcept { return actor_; }
    [[nodiscard]] network& actor() noexcept { return actor_; }
    /// The actor as the serving side runs it: rl::deterministic_actor
    /// passes the network's tanh output u in [−1, 1] to a continuous action
    /// map, which scales it to the map's own limits. The agent's actions are
    /// bias + scale · u, the same values only when every bound is [−1, 1].
    /// Throws config_error naming the first other bound (ddpg.bounds[d]):
    /// its served actions would not be the ones it trained. Train an agent
    /// to be served with bounds of [−1, 1] and let the action map scale.
    [[nodiscard]] const network& serving_actor() const {
        for (std::size_t d = 0; d < bounds_.size(); ++d) {
            if (bounds_[d] != action_bound{}) {
                throw config_error("ddpg.bounds[" + std::to_string(d) + "]",
                                   "is [" + format_number(bounds_[d].low) + ", " + format_number(bounds_[d].high) +
                                       "]; a served actor's tanh output reaches the action map unscaled, so only an agent "
                                       "whose every bound is [-1, 1] acts as served");
            }
        }
        return actor_;
    }
    [[nodiscard]] const network& target_actor() const noexcept { return target_actor_; }
    [[nodiscard]] network& target_actor() noexcept { return target_actor_; }
    /// Critic i (0, or 1 with twin_critics); throws rlscale::error otherwise.
    [[nodiscard]] const critic_type& critic(std::size_t i = 0) const { return critics_[checked_critic(i)]; }
    [[nodiscard]] critic_type& critic(std::size_t i = 0) { return critics_[checked_critic(i)]; }
    [[nodiscard]] const critic_type& target_critic(std::size_t i = 0) const { return target_critics_[checked_critic(i)]; }
    [[nodiscard]] critic_type& target_critic(std::size_t i = 0) { return target_critics_[checked_critic(i)]; }
    [[nodiscard]] nn::adam<T>& actor_optimizer() noexcept { return actor_opt_; }
    /// Critic i's optimiser, over the critic's flat order (trunk, then head).
    [[nodiscard]] nn::adam<T>& critic_optimizer(std::size_t i = 0) { return critic_opt_[checked_critic(i)]; }
    [[nodiscard]] const replay_buffer<T, T>& replay() const noexcept { return replay_; }
    /// Environment steps observed so far.
    [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
    /// Critic updates applied so far.
    [[nodiscard]] std::uint64_t updates() const noexcept { return updates_; }
    /// Actor (and target) updates applied so far.
    [[nodiscard]] std::uint64_t actor_updates() const noexcept { return actor_updates_; }
    [[nodiscard]] const ornstein_uhlenbeck_noise& ou_noise() const noexcept { return ou_; }
    /// Figures of the last update observe() ran.
    [[nodiscard]] const ddpg_update_stats& last_update() const noexcept { return last_; }

    /// Turns the behaviour-cloning term on (α > 0) or off (0), e.g. when an
    /// agent bootstrapped offline from another controller goes online.
    /// Throws config_error unless α is finite and ≥ 0, and finite in T.
    void set_bc_alpha(double alpha) {
        const check_fields check("ddpg_config");
        check.at_least("bc_alpha", alpha, 0.0);
        check_bc_alpha_as_scalar(check, alpha);
        config_.bc_alpha = alpha;
    }
    /// Starts a new episode of the Ornstein-Uhlenbeck process (observe()
    /// does so after a terminated or truncated transition; rl::train also
    /// calls it when an episode ends on a transition it did not store).
    void reset_noise() noexcept { ou_.reset(); }

    /// Gives the Ornstein-Uhlenbeck exploration `n` processes (streams),
    /// one per environment that rl::train runs at once, so that
    /// environments neither share one process's consecutive (and nearly
    /// equal) draws nor reset each other's at an episode's end. Stream 0 is
    /// the process used so far, its state kept; the others start at μ. All
    /// share ε and its decay. n = 1 returns to the one process, stream 0's
    /// (allocating nothing). More streams allocate; throws config_error for
    /// n = 0.
    void set_exploration_streams(std::size_t n) {
        if (n == 0) check_fields("ddpg.set_exploration_streams").require(false, "n", "be at least 1", n);
        select_exploration_stream(0);
        if (n == 1) {
            parked_noise_.clear();  // one process again: allocates nothing
            return;
        }
        parked_noise_.assign(n * bounds_.size(), ou_.config().mu);
    }
    /// The number of exploration streams (1 unless set_exploration_streams set more).
    [[nodiscard]] std::size_t exploration_streams() const noexcept {
        return bounds_.empty() ? 1 : std::max<std::size_t>(1, parked_noise_.size() / bounds_.size());
    }
    /// Makes stream i the process that explore(), observe() and
    /// reset_noise() advance, and that save_training_state() writes; the
    /// stream it replaces is kept as it was. Allocates nothing; throws
    /// rlscale::error for a stream not set.
    void select_exploration_stream(std::size_t i) {
        if (i == stream_) return;
        if (i >= exploration_streams()) {
            check_fields("ddpg.select_exploration_stream")
                .require(false, "stream", "be below exploration_streams() (" + format_number(exploration_streams()) + ")", i);
        }
        // Park the running state in its stream's place, then run stream i's
        // (whose place then holds a stale copy, overwritten when it is parked).
        const std::size_t d = bounds_.size();
        ou_.exchange_state(std::span<double>(parked_noise_.data() + stream_ * d, d));
        ou_.exchange_state(std::span<double>(parked_noise_.data() + i * d, d));
        stream_ = i;
    }

    /// Writes everything training reads and changes, so that an agent
    /// restored from it (load_training_state) acts and trains on exactly as
    /// this one would: the online and target networks, both optimisers'
    /// moments and step counts, the replay buffer in its ring order, the
    /// generator, the Ornstein-Uhlenbeck state and ε, and the step, update
    /// and actor-update counters (so the warm-up is not played again), and
    /// what may change while training (the behaviour-cloning α of
    /// set_bc_alpha, each optimiser's learning rate). Not written: the rest
    /// of the configuration and the bounds (the restoring agent is built
    /// with them; its networks' layers are checked against the file) and
    /// last_update(), and with several exploration streams
    /// (set_exploration_streams) the streams other than the selected one:
    /// the selected stream's process is written, and a restoring agent puts
    /// it in its own selected stream and keeps its other streams as they
    /// are, so a run with several streams resumes with their processes
    /// restarted, not exactly as it would have gone on. A binary frame in
    /// this machine's byte order with a
    /// checksum; 2·observation_size + action_size + 1 values and a byte per
    /// stored transition plus four values per parameter.
    void save_training_state(std::ostream& out) const {
        namespace io = nn::detail;
        vector flat(critics_[0].parameter_count());
        rlscale::detail::write_frame(out, training_state_format(), "ddpg::save_training_state", [&](rlscale::detail::binary_writer& w) {
            w.put(static_cast<std::uint64_t>(observation_size()));
            w.put(static_cast<std::uint64_t>(action_size()));
            w.put(static_cast<std::uint64_t>(critic_count()));
            w.put(static_cast<std::uint64_t>(actor_.parameter_count()));
            w.put(static_cast<std::uint64_t>(critics_[0].parameter_count()));
            w.put(static_cast<std::uint64_t>(replay_.capacity()));
            for (const std::vector<std::uint64_t>& shape : network_shapes()) io::put_shape(w, shape);
            w.put(config_.bc_alpha);
            w.put(steps_);
            w.put(updates_);
            w.put(actor_updates_);
            w.put(gen_.state());
            w.put(ou_.epsilon());
            w.put_all(ou_.state());
            io::put_values(w, actor_.parameters());
            io::put_values(w, target_actor_.parameters());
            for (std::size_t i = 0; i < critic_count(); ++i) {
                critics_[i].read_parameters(flat);
                io::put_values(w, flat);
                target_critics_[i].read_parameters(flat);
                io::put_values(w, flat);
            }
            io::put_adam(w, actor_opt_);
            for (std::size_t i = 0; i < critic_count(); ++i) io::put_adam(w, critic_opt_[i]);
            replay_.write_state(w);
        });
    }

    /// Restores what save_training_state wrote, from an agent built with the
    /// same observation size, bounds and configuration (and, with bfloat16
    /// Adam moments, the same seed, which keys their rounding). Everything is
    /// read and checked before anything changes: a truncated or corrupted
    /// file, another agent's shape or a value training would refuse (a
    /// non-finite weight, moment or stored transition) throws
    /// checkpoint_error naming the field, and the agent is left as it was.
    /// The frame's header is read first: a length above
    /// max_training_state_length() is refused before the payload is read,
    /// and a stream that can seek (a file) is checked to hold that length.
    void load_training_state(std::istream& in) {
        namespace io = nn::detail;
        const auto head = [this](rlscale::detail::binary_reader& r) {
            io::expect_value(r, "observation_size", observation_size(), " (the agent's)");
            io::expect_value(r, "action_size", action_size(), " (the agent's)");
            io::expect_value(r, "critic_count", critic_count(), " (the agent's twin_critics)");
            io::expect_value(r, "actor_parameters", static_cast<std::uint64_t>(actor_.parameter_count()), " (the agent's actor_hidden)");
            io::expect_value(r, "critic_parameters", static_cast<std::uint64_t>(critics_[0].parameter_count()), " (the agent's critic layers)");
            io::expect_value(r, "replay_capacity", replay_.capacity(), " (the agent's replay_capacity)");
            // Each network's layers (inputs, outputs, activation) and where the
            // action joins the critic: equal parameter counts do not make equal
            // networks (the action at the input or after a first layer as wide
            // as the second, say).
            const auto shapes = network_shapes();
            io::check_shape(r, "actor_layers", shapes[0], "its actor_hidden");
            io::check_shape(r, "critic_layers", shapes[1], "its critic_hidden and critic_action_layer");
        };
        const std::string payload = rlscale::detail::read_frame(in, training_state_format(), "training_state.", max_training_state_length(),
                                                                "bytes this agent writes at most (its replay full)", head);
        rlscale::detail::binary_reader r(payload, "training_state.");
        head(r);
        const double bc_alpha = r.get<double>("bc_alpha");
        if (!(std::isfinite(bc_alpha) && bc_alpha >= 0)) {
            throw checkpoint_error("training_state.bc_alpha", "is " + format_number(bc_alpha) + ", must be finite and >= 0");
        }
        if (!(bc_alpha <= static_cast<double>(std::numeric_limits<T>::max()))) {
            throw checkpoint_error("training_state.bc_alpha", "is " + format_number(bc_alpha) + ", must be finite in the agent's " +
                                                                  detail::scalar_name<T>());
        }
        const auto steps = r.get<std::uint64_t>("steps");
        const auto updates = r.get<std::uint64_t>("updates");
        const auto actor_updates = r.get<std::uint64_t>("actor_updates");
        if (actor_updates > updates) {
            throw checkpoint_error("training_state.actor_updates", std::to_string(actor_updates) + " is more than the " +
                                                                       std::to_string(updates) + " updates");
        }
        const rng gen = io::get_generator(r, "generator");
        ornstein_uhlenbeck_noise ou = ou_;
        try {
            const double epsilon = r.get<double>("ou_epsilon");
            ou.set_epsilon(epsilon);
            std::vector<double> x(action_size());
            r.get_all(std::span<double>(x), "ou_state");
            ou.set_state(x);
            // As the configuration's eps_start is checked: ε·x·scale_d, the
            // noise explore() adds in T, must be finite there, or a float
            // agent would explore not at all.
            const double limit = noise_limit;
            for (std::size_t d = 0; d < x.size(); ++d) {
                const double scale = bounds_[d].scale();
                if (!(epsilon * scale <= limit)) {
                    throw checkpoint_error("training_state.ou_epsilon", "is " + format_number(epsilon) + ", beyond what the agent's " +
                                                                            detail::scalar_name<T>() + " noise can carry (at most " +
                                                                            format_number(limit / scale) + ")");
                }
                if (!(std::abs(epsilon * x[d] * scale) <= limit)) {
                    throw checkpoint_error("training_state.ou_state[" + std::to_string(d) + "]",
                                           "is " + format_number(x[d]) + ", a noise beyond the agent's " + detail::scalar_name<T>());
                }
            }
        } catch (const checkpoint_error&) {
            throw;
        } catch (const error& e) {
            throw checkpoint_error("training_state.ou", e.what());
        }
        vector actor(actor_.parameter_count());
        vector target_actor(actor_.parameter_count());
        io::get_finite(r, actor, "actor");
        io::get_finite(r, target_actor, "target_actor");
        std::array<vector, 2> critic{vector(critics_[0].parameter_count()), vector(critics_[0].parameter_count())};
        std::array<vector, 2> target_critic = critic;
        for (std::size_t i = 0; i < critic_count(); ++i) {
            io::get_finite(r, critic[i], "critic[" + std::to_string(i) + "]");
            io::get_finite(r, target_critic[i], "target_critic[" + std::to_string(i) + "]");
        }
        nn::adam<T> actor_opt = io::get_adam(r, actor_opt_, "actor_adam");
        std::array<nn::adam<T>, 2> critic_opt = critic_opt_;
        for (std::size_t i = 0; i < critic_count(); ++i) {
            critic_opt[i] = io::get_adam(r, critic_opt_[i], "critic_adam[" + std::to_string(i) + "]");
        }
        replay_buffer<T, T> replay(replay_.capacity(), replay_.observation_size(), replay_.action_size());
        nn::detail::read_tail(payload, r, replay, "training_state.replay.", 0);
        if (replay.pushed() > steps) {
            throw checkpoint_error("training_state.replay.pushed", std::to_string(replay.pushed()) + " transitions, more than the " +
                                                                       std::to_string(steps) + " steps");
        }

        // Everything read and checked: nothing below throws.
        actor_.parameters() = actor;
        target_actor_.parameters() = target_actor;
        for (std::size_t i = 0; i < critic_count(); ++i) {
            critics_[i].write_parameters(critic[i]);
            target_critics_[i].write_parameters(target_critic[i]);
        }
        actor_opt_ = std::move(actor_opt);
        critic_opt_ = std::move(critic_opt);
        replay_ = std::move(replay);
        ou_ = std::move(ou);
        gen_ = gen;
        config_.bc_alpha = bc_alpha;
        steps_ = steps;
        updates_ = updates;
        actor_updates_ = actor_updates;
        last_ = {};
    }

    /// save_training_state to a file, replacing it only once the new one is
    /// on disk (a crash leaves the old file or the new one).
    void save_training_state(const std::filesystem::path& path) const { nn::detail::save_state_file(*this, path); }
    /// load_training_state from a file; a file that cannot be opened throws
    /// rlscale::error naming it.
    void load_training_state(const std::filesystem::path& path) { nn::detail::load_state_file(*this, path, "ddpg"); }
    /// The largest payload load_training_state takes, in bytes: what this
    /// agent's save_training_state writes with its replay buffer full.
    [[nodiscard]] std::uint64_t max_training_state_length() const {
        namespace io = nn::detail;
        std::uint64_t n = 6 * sizeof(std::uint64_t);
        for (const std::vector<std::uint64_t>& shape : network_shapes()) n += io::shape_bytes(shape);
        n += sizeof(config_.bc_alpha) + sizeof(steps_) + sizeof(updates_) + sizeof(actor_updates_) + sizeof(gen_.state()) + sizeof(ou_.epsilon()) +
             static_cast<std::uint64_t>(ou_.state().size_bytes());
        n += 2 * (static_cast<std::uint64_t>(actor_.parameter_count()) +
                  static_cast<std::uint64_t>(critic_count()) * static_cast<std::uint64_t>(critics_[0].parameter_count())) *
             sizeof(T);
        n += io::adam_bytes(actor_opt_);
        for (std::size_t i = 0; i < critic_count(); ++i) n += io::adam_bytes(critic_opt_[i]);
        return n + io::replay_state_bytes<T, T>(replay_);
    }

    /// μ(s): the actor's action for `observation`, one value per dimension.
    /// Throws rlscale::error for spans of other sizes and for an
    /// observation with a value that is not finite (whose action would be
    /// NaN), naming it.
    void greedy(std::span<const T> observation, std::span<T> out) {
        check_observation(observation);
        check_action_span(out);
        const auto u = actor_.forward(Eigen::Map<const vector>(observation.data(), static_cast<Eigen::Index>(observation.size())),
                                      act_buf_);
        // Clamped: bias + scale·tanh rounds past a bound by an ulp when tanh
        // saturates at ±1 and the bounds are not symmetric.
        for (Eigen::Index d = 0; d < dims(); ++d) {
            out[static_cast<std::size_t>(d)] = std::clamp(bias_(d) + scale_(d) * u(d), low_(d), high_(d));
        }
    }

    /// During the first learning_starts steps a uniformly random action
    /// within the bounds; afterwards μ(s) plus the configured noise, clipped
    /// to each dimension's bounds. Refuses what greedy() refuses, before
    /// anything is drawn or the noise process advanced.
    void explore(std::span<const T> observation, std::span<T> out) {
        check_observation(observation);
        check_action_span(out);
        if (steps_ < config_.learning_starts) {
            for (std::size_t d = 0; d < bounds_.size(); ++d) out[d] = static_cast<T>(uniform(gen_, bounds_[d].low, bounds_[d].high));
            return;
        }
        greedy(observation, out);
        if (config_.exploration == ddpg_exploration::ornstein_uhlenbeck) {
            ou_.sample(gen_, std::span<T>(noise_));
        } else {
            gaussian_.sample(gen_, std::span<T>(noise_));
        }
        for (std::size_t d = 0; d < bounds_.size(); ++d) {
            const auto i = static_cast<Eigen::Index>(d);
            // std::clamp passes a NaN through: a non-finite noise draw adds nothing.
            const T n = std::isfinite(noise_[d]) ? noise_[d] : T(0);
            out[d] = std::clamp(out[d] + n, low_(i), high_(i));
        }
    }

    /// Stores one transition and, on schedule (once learning_starts steps
    /// are stored and the replay holds a batch, every train_frequency
    /// steps), takes an update. Returns true when an update ran (its figures
    /// in last_update()). A truncated transition still bootstraps; only a
    /// terminated one does not.
    bool observe(std::span<const T> observation, std::span<const T> action, double reward, std::span<const T> next_observation,
                 bool terminated, bool truncated = false) {
        replay_.push(observation, action, reward, next_observation, terminated, truncated);
        ++steps_;
        if (terminated || truncated) ou_.reset();
        if (steps_ >= config_.learning_starts && replay_.size() >= config_.batch_size && steps_ % config_.train_frequency == 0) {
            last_ = update();
            return true;
        }
        return false;
    }

    /// One update on a minibatch sampled from the replay buffer.
    ddpg_update_stats update() {
        replay_.sample(config_.batch_size, gen_, batch_);
        return update(batch_);
    }

    /// One update on a given batch (its leading batch.size columns, at most
    /// batch_size); with target policy smoothing the N(0, 1) draws come from
    /// the agent's generator.
    ddpg_update_stats update(const batch_type& batch) {
        check_batch(batch);
        const auto n = static_cast<Eigen::Index>(batch.size);
        if (config_.policy_noise > 0) {
            for (Eigen::Index j = 0; j < n; ++j) {
                for (Eigen::Index d = 0; d < dims(); ++d) smoothing_(d, j) = static_cast<T>(standard_normal(gen_));
            }
        }
        return update_impl(batch);
    }

    /// As above with the smoothing noise's N(0, 1) draws given (action_size ×
    /// at least batch.size; ignored when policy_noise is 0), so that a test
    /// can feed a reference implementation the same noise.
    ddpg_update_stats update(const batch_type& batch, const Eigen::Ref<const matrix>& smoothing_noise) {
        check_batch(batch);
        const auto n = static_cast<Eigen::Index>(batch.size);
        if (smoothing_noise.rows() != dims() || smoothing_noise.cols() < n) {
            throw error("ddpg::update: smoothing_noise is " + std::to_string(smoothing_noise.rows()) + " × " +
                        std::to_string(smoothing_noise.cols()) + ", expected " + std::to_string(dims()) + " × " +
                        std::to_string(n));
        }
        smoothing_.leftCols(n) = smoothing_noise.leftCols(n);
        return update_impl(batch);
    }

    // The learner concept (rl::train runs any learner).
    [[nodiscard]] std::size_t action_width() const noexcept { return bounds_.size(); }
    [[nodiscard]] learner_stats stats() const noexcept {
        const double exploration =
            config_.exploration == ddpg_exploration::ornstein_uhlenbeck ? ou_.epsilon() : config_.gaussian.sigma;
        return {.steps = steps_, .updates = updates_, .exploration = exploration, .last_loss = last_.critic_loss};
    }

private:
    /// The actor's layers, then the critic's action layer and its trunk's
    /// and head's layers, as (inputs, outputs, activation) triples: what the
    /// training state checks an agent's networks by.
    [[nodiscard]] std::array<std::vector<std::uint64_t>, 2> network_shapes() const {
        std::array<std::vector<std::uint64_t>, 2> shapes;
        nn::detail::add_layer_shapes(shapes[0], actor_.layers());
        const critic_type& c = critics_[0];
        shapes[1].push_back(static_cast<std::uint64_t>(c.action_layer()));
        if (c.has_trunk()) nn::detail::add_layer_shapes(shapes[1], c.trunk().layers());
        nn::detail::add_layer_shapes(shapes[1], c.head().layers());
        return shapes;
    }

    [[nodiscard]] static constexpr rlscale::detail::frame_format training_state_format() noexcept {
        return {.magic = "rlscale.ddpg.training_state\n", .version = 1, .value_size = sizeof(T), .kind = "a DDPG training state"};
    }

    /// Scratch space for one critic's batched passes.
    struct workspace {
        workspace(const critic_type& c, Eigen::Index capacity, nn::matmul_precision p)
            : head_buf(c.head(), capacity, p, kernel_columns),
              head_in(matrix::Zero(c.head().input_size(), capacity)),
              dx(matrix::Zero(c.head().input_size(), capacity)) {
            if (c.has_trunk()) trunk_buf.emplace(c.trunk(), capacity, p, kernel_columns);
        }
        std::optional<typename network::batch_buffer> trunk_buf;
        typename network::batch_buffer head_buf;
        matrix head_in;  ///< [h_k; a] or [s; a], one column per sample
        matrix dx;       ///< dQ/d(head input)
    };
    struct critic_gradient {
        explicit critic_gradient(const critic_type& c) : head(c.head()) {
            if (c.has_trunk()) trunk.emplace(c.trunk());
        }
        std::optional<typename network::gradient> trunk;
        typename network::gradient head;
    };
    /// What one shard of an update works in: the buffers of its passes, its
    /// gradients and its partial sums.
    struct shard {
        shard(const network& actor, const critic_type& critic, Eigen::Index capacity, nn::matmul_precision p)
            : actor_buf(actor, capacity, p, kernel_columns),
              target_actor_buf(actor, capacity, p, kernel_columns),
              ws{workspace(critic, capacity, p), workspace(critic, capacity, p)},
              target_ws(critic, capacity, p),
              critic_grad{critic_gradient(critic), critic_gradient(critic)},
              actor_grad(actor) {}
        typename network::batch_buffer actor_buf;
        typename network::batch_buffer target_actor_buf;
        std::array<workspace, 2> ws;
        workspace target_ws;
        std::array<critic_gradient, 2> critic_grad;
        typename network::gradient actor_grad;
        // Over its columns: Σ (Q_i(s, a) − y)² per critic, Σ Q_1(s, a),
        // whether μ(s) is finite, Σ Q_1(s, μ(s)), Σ |Q_1(s, μ(s))|, the
        // behaviour-cloning sum and Σ u².
        std::array<double, 2> squared_error{};
        double sum_q = 0;
        bool mu_finite = true;
        double sum_q_pi = 0;
        double sum_abs_q_pi = 0;
        double bc = 0;
        double l2 = 0;
    };
    /// A critic's parameters and Adam state, kept while an actor step may
    /// still fail so that a rejected update leaves every network unchanged.
    struct saved_critic {
        explicit saved_critic(Eigen::Index n) : theta(vector::Zero(n)), m(vector::Zero(n)), v(vector::Zero(n)) {}
        vector theta;
        vector m;
        vector v;
        std::int64_t t = 0;
    };

    [[nodiscard]] Eigen::Index dims() const noexcept { return static_cast<Eigen::Index>(bounds_.size()); }
    [[nodiscard]] Eigen::Index cap() const noexcept { return static_cast<Eigen::Index>(config_.batch_size); }

    /// Q(s, a) for a batch (1 × n), a view into `ws`.
    Eigen::Ref<const matrix> critic_forward(const critic_type& c, const Eigen::Ref<const matrix>& s,
                                            const Eigen::Ref<const matrix>& a, workspace& ws) const {
        const Eigen::Index n = s.cols();
        const Eigen::Index join = c.join_width();
        if (c.has_trunk()) {
            ws.head_in.topLeftCorner(join, n) = c.trunk().forward_batch(s, *ws.trunk_buf);
        } else {
            ws.head_in.topLeftCorner(join, n) = s;
        }
        ws.head_in.block(join, 0, dims(), n) = a;
        return c.head().forward_batch(ws.head_in.leftCols(n), ws.head_buf);
    }

    /// Back-propagates dL/dQ (1 × n) from the last critic_forward on `ws`
    /// for the critic's step: the head's gradient into g.head and the
    /// trunk's into g.trunk.
    void critic_backward(const critic_type& c, workspace& ws, const Eigen::Ref<const matrix>& dq,
                         critic_gradient& g) const {
        const Eigen::Index n = dq.cols();
        if (!c.has_trunk()) {
            c.head().backward(ws.head_buf, dq, g.head);
            return;
        }
        // Of the head's input gradient only dL/dh_k, into the trunk; dL/da,
        // the rows after it, is not needed for the critic's step.
        auto dh = ws.dx.topLeftCorner(c.join_width(), n);
        c.head().backward(ws.head_buf, dq, g.head, dh, 0, c.join_width());
        c.trunk().backward(*ws.trunk_buf, dh, *g.trunk);
    }

    /// dL/da (dims × n) from dL/dQ (1 × n) for the last critic_forward on
    /// `ws`, into the bottom rows of ws.dx, for the actor's step: the
    /// critic's own gradient is not needed there, nor the rows of dL/dh_k.
    void critic_action_gradient(const critic_type& c, workspace& ws, const Eigen::Ref<const matrix>& dq) const {
        const Eigen::Index join = c.join_width();
        c.head().input_gradient(ws.head_buf, dq, ws.dx.block(join, 0, dims(), dq.cols()), join);
    }

    /// The critic's gradient in its flat order (trunk, then head).
    static void flatten(const critic_type& c, const critic_gradient& g, vector& out) {
        const Eigen::Index nt = c.has_trunk() ? c.trunk().parameter_count() : 0;
        if (nt > 0) out.head(nt) = g.trunk->values();
        out.tail(c.head().parameter_count()) = g.head.values();
    }

    void adam_step_critic(std::size_t i) {
        critic_type& c = critics_[i];
        if (!c.has_trunk()) {
            critic_opt_[i].step(c.head().parameters(), gflat_[i]);
            return;
        }
        c.read_parameters(pflat_);
        critic_opt_[i].step(pflat_, gflat_[i]);
        c.write_parameters(pflat_);
    }

    /// Runs pass(k) for every shard k < count: on the agent's threads when
    /// it has them, else one after another.
    template <typename F>
    void for_each_shard(std::size_t count, F& pass) {
        if (pool_ && count > 1) {
            pool_->for_each(count, pass);
        } else {
            for (std::size_t k = 0; k < count; ++k) pass(k);
        }
    }

    /// Shard k's columns of an n-column batch cut into `count` shards: [first, first + size).
    struct columns {
        Eigen::Index first;
        Eigen::Index size;
    };
    static columns shard_columns(std::size_t k, std::size_t count, std::size_t n) noexcept {
        const std::size_t first = k * n / count;
        return {static_cast<Eigen::Index>(first), static_cast<Eigen::Index>((k + 1) * n / count - first)};
    }

    // The passes below write only their own shard and their own columns of
    // the shared per-sample matrices, so shards can run at the same time.

    /// Steps 1 to 3 of an update on columns c of the batch, into sh: the
    /// target action, the TD targets, each critic's squared error and
    /// gradient (dL/dQ over the whole batch's n), and, when the actor is
    /// due, μ(s).
    void critic_pass(const batch_type& batch, columns c, Eigen::Index n, bool actor_due, shard& sh) {
        const auto s = batch.observations.middleCols(c.first, c.size);
        const auto s_next = batch.next_observations.middleCols(c.first, c.size);
        const auto a = batch.actions.middleCols(c.first, c.size);
        const std::size_t critics = critic_count();
        const T gamma = static_cast<T>(config_.gamma);
        sh.mu_finite = true;

        // 1. Target action ã = μ'(s'), rescaled to the bounds; with target
        //    policy smoothing (TD3 §5.3) ã ← clip(ã + clip(σ·z, −c, c)·scale_d,
        //    low_d, high_d). Each dimension is clipped to its own bounds:
        //    CleanRL's td3_continuous_action.py clips every dimension with
        //    dimension 0's bounds (action_space.low[0], high[0]), a defect
        //    whenever the bounds differ.
        auto next = next_action_.middleCols(c.first, c.size);
        {
            const auto u_next = target_actor_.forward_batch(s_next, sh.target_actor_buf);
            next.array() = (u_next.array().colwise() * scale_.array()).colwise() + bias_.array();
            if (config_.policy_noise > 0) {
                const T sigma = static_cast<T>(config_.policy_noise);
                const T clip = static_cast<T>(config_.noise_clip);
                for (Eigen::Index j = 0; j < c.size; ++j) {
                    for (Eigen::Index d = 0; d < dims(); ++d) {
                        const T eps = std::clamp(sigma * smoothing_(d, c.first + j), -clip, clip) * scale_(d);
                        next(d, j) = std::clamp(next(d, j) + eps, low_(d), high_(d));
                    }
                }
            }
        }

        // 2. TD target y = r + γ·(1 − terminated)·min_i Q'_i(s', ã): a
        //    truncated transition still bootstraps.
        auto y = y_.segment(c.first, c.size);
        y = critic_forward(target_critics_[0], s_next, next, sh.target_ws).row(0).transpose();
        if (critics == 2) y = y.cwiseMin(critic_forward(target_critics_[1], s_next, next, sh.target_ws).row(0).transpose());
        y.array() = batch.rewards.segment(c.first, c.size).array() +
                    gamma * (T(1) - batch.terminated.segment(c.first, c.size).array()) * y.array();

        // 3. Critic loss mean_j (Q_i(s_j, a_j) − y_j)² for each critic, and its gradient.
        auto dq = dq_.middleCols(c.first, c.size);
        for (std::size_t i = 0; i < critics; ++i) {
            const auto q = critic_forward(critics_[i], s, a, sh.ws[i]);
            dq = (q.row(0) - y.transpose()) * (T(2) / static_cast<T>(n));
            sh.squared_error[i] = static_cast<double>((q.row(0) - y.transpose()).squaredNorm());
            if (i == 0) sh.sum_q = static_cast<double>(q.row(0).sum());
            critic_backward(critics_[i], sh.ws[i], dq, sh.critic_grad[i]);
        }

        // The actor's forward pass does not depend on the critics, so it is
        // taken (and checked) before anything changes.
        if (actor_due) {
            const auto u = actor_.forward_batch(s, sh.actor_buf);
            auto mu = mu_.middleCols(c.first, c.size);
            mu.array() = (u.array().colwise() * scale_.array()).colwise() + bias_.array();
            sh.mu_finite = mu.allFinite();
        }
    }

    /// The actor loss's forward part on columns c, on the updated critic 1:
    /// Σ Q_1(s, μ(s)), and with them the sums the BC and action_l2 terms need.
    void actor_value_pass(const batch_type& batch, columns c, shard& sh) {
        const auto s = batch.observations.middleCols(c.first, c.size);
        const auto a = batch.actions.middleCols(c.first, c.size);
        const auto mu = mu_.middleCols(c.first, c.size);
        const auto q_pi = critic_forward(critics_[0], s, mu, sh.ws[0]);
        sh.sum_q_pi = static_cast<double>(q_pi.sum());
        sh.sum_abs_q_pi = 0;
        sh.bc = 0;
        if (config_.bc_alpha > 0) {
            sh.sum_abs_q_pi = static_cast<double>(q_pi.cwiseAbs().sum());
            sh.bc = static_cast<double>(((mu - a).array().square().colwise() * inv_scale_sq_.array()).sum());
        }
        sh.l2 = 0;
        if (config_.action_l2 > 0) {
            for (Eigen::Index j = 0; j < c.size; ++j) {
                for (Eigen::Index d = 0; d < dims(); ++d) {
                    const double u = static_cast<double>((mu(d, j) - bias_(d)) / scale_(d));
                    sh.l2 += u * u;
                }
            }
        }
    }

    /// The actor's gradient on columns c, into sh.actor_grad, for the
    /// loss −λ·mean_j Q_1(s_j, μ(s_j)) (+ BC and action_l2 terms) over n
    /// samples. The gradient reaches μ through dQ/da, the critic's input
    /// gradient, from the last actor_value_pass on the same shard.
    void actor_gradient_pass(const batch_type& batch, columns c, Eigen::Index n, double lambda, shard& sh) {
        const auto a = batch.actions.middleCols(c.first, c.size);
        const auto mu = mu_.middleCols(c.first, c.size);
        auto dq = dq_.middleCols(c.first, c.size);
        dq.setConstant(static_cast<T>(-lambda / static_cast<double>(n)));
        critic_action_gradient(critics_[0], sh.ws[0], dq);
        // dL/du = dL/da ⊙ scale (a = bias + scale ⊙ u; the mlp's backward
        // then goes through the tanh).
        auto dmu = dmu_.middleCols(c.first, c.size);
        dmu = sh.ws[0].dx.block(critics_[0].join_width(), 0, dims(), c.size);
        const auto dims_n = static_cast<double>(n * dims());
        if (config_.bc_alpha > 0) {
            const T k = static_cast<T>(2.0 / dims_n);
            dmu.array() += k * ((mu - a).array().colwise() * inv_scale_sq_.array());
        }
        dmu.array().colwise() *= scale_.array();
        if (config_.action_l2 > 0) {
            // d(action_l2 · mean u²)/du = 2 · action_l2 · u / (n · dims).
            const T k = static_cast<T>(2.0 * config_.action_l2 / dims_n);
            for (Eigen::Index j = 0; j < c.size; ++j) {
                for (Eigen::Index d = 0; d < dims(); ++d) dmu(d, j) += k * (mu(d, j) - bias_(d)) / scale_(d);
            }
        }
        actor_.backward(sh.actor_buf, dmu, sh.actor_grad);
    }

    ddpg_update_stats update_impl(const batch_type& batch) {
        const std::size_t n = batch.size;
        const auto ni = static_cast<Eigen::Index>(n);
        const std::size_t count = std::min(shards_.size(), n);
        const std::size_t critics = critic_count();
        const bool actor_due = (updates_ + 1) % config_.policy_delay == 0;  // every policy_delay critic updates (TD3 §5.2)
        ddpg_update_stats stats;

        // Steps 1 to 3 on every shard; the critics' gradients summed into
        // shard 0's, in shard order.
        auto critic_step = [&](std::size_t k) { critic_pass(batch, shard_columns(k, count, n), ni, actor_due, shards_[k]); };
        for_each_shard(count, critic_step);
        double loss = 0;
        double grad_sq = 0;
        double sum_q = 0;
        bool mu_finite = true;
        for (std::size_t k = 0; k < count; ++k) {
            sum_q += shards_[k].sum_q;
            mu_finite = mu_finite && shards_[k].mu_finite;
        }
        for (std::size_t i = 0; i < critics; ++i) {
            double squared_error = 0;
            critic_gradient& g = shards_[0].critic_grad[i];
            for (std::size_t k = 0; k < count; ++k) {
                squared_error += shards_[k].squared_error[i];
                if (k == 0) continue;
                g.head.values() += shards_[k].critic_grad[i].head.values();
                if (g.trunk) g.trunk->values() += shards_[k].critic_grad[i].trunk->values();
            }
            loss += squared_error / static_cast<double>(n);
            flatten(critics_[i], g, gflat_[i]);
            grad_sq += static_cast<double>(gflat_[i].squaredNorm());
        }
        stats.mean_q = sum_q / static_cast<double>(n);
        stats.critic_loss = loss / static_cast<double>(critics);
        stats.critic_grad_norm = std::sqrt(grad_sq);
        if (!std::isfinite(stats.critic_grad_norm) || !std::isfinite(stats.critic_loss)) {
            stats.applied = false;  // keep the networks as they were
            return stats;
        }

        // 4. With the actor due, μ(s) must be finite; the critics are saved
        //    in case the actor's gradient is not finite after all.
        if (actor_due) {
            if (!mu_finite) {
                stats.applied = false;
                return stats;
            }
            for (std::size_t i = 0; i < critics; ++i) save_critic(i);
        }

        // 5. Critic steps: clip each critic's gradient norm, then Adam.
        for (std::size_t i = 0; i < critics; ++i) {
            if (config_.critic_grad_clip_norm > 0) nn::clip_grad_norm(gflat_[i], static_cast<T>(config_.critic_grad_clip_norm));
            adam_step_critic(i);
        }
        if (!actor_due) {
            ++updates_;
            if (config_.exploration == ddpg_exploration::ornstein_uhlenbeck) ou_.decay();
            return stats;
        }

        // 6. Actor loss on the updated critic 1 (as CleanRL and TD3 order
        //    it): −λ·mean_j Q_1(s_j, μ(s_j)) + mean_{d,j} ((μ_d(s_j) − a_dj)/scale_d)²,
        //    where λ = 1 without behaviour cloning and α / mean_j |Q_1(s_j, μ(s_j))|
        //    with it (TD3+BC §5, λ held constant). λ needs the whole batch's
        //    mean |Q| before any shard's backward pass, so with cloning the
        //    forward and backward parts run as two rounds.
        const bool cloning = config_.bc_alpha > 0;
        double lambda = 1;
        if (cloning) {
            auto value_step = [&](std::size_t k) { actor_value_pass(batch, shard_columns(k, count, n), shards_[k]); };
            for_each_shard(count, value_step);
        }
        auto gradient_step = [&](std::size_t k) {
            const columns c = shard_columns(k, count, n);
            if (!cloning) actor_value_pass(batch, c, shards_[k]);
            actor_gradient_pass(batch, c, ni, lambda, shards_[k]);
        };
        if (cloning) {
            double sum_abs_q = 0;
            for (std::size_t k = 0; k < count; ++k) sum_abs_q += shards_[k].sum_abs_q_pi;
            const double mean_abs_q = sum_abs_q / static_cast<double>(n);
            lambda = mean_abs_q > 0 ? config_.bc_alpha / mean_abs_q : config_.bc_alpha;
        }
        for_each_shard(count, gradient_step);
        double sum_q_pi = 0;
        double bc = 0;
        double l2 = 0;
        auto g = shards_[0].actor_grad.values();
        for (std::size_t k = 0; k < count; ++k) {
            sum_q_pi += shards_[k].sum_q_pi;
            bc += shards_[k].bc;
            l2 += shards_[k].l2;
            if (k > 0) g += shards_[k].actor_grad.values();
        }
        const auto dims_n = static_cast<double>(n * static_cast<std::size_t>(dims()));
        stats.actor_loss = -lambda * (sum_q_pi / static_cast<double>(n)) + bc / dims_n + l2 * (config_.action_l2 / dims_n);
        stats.actor_grad_norm = static_cast<double>(g.norm());
        if (!std::isfinite(stats.actor_grad_norm) || !std::isfinite(stats.actor_loss)) {
            for (std::size_t i = 0; i < critics; ++i) restore_critic(i);
            stats.applied = false;
            stats.actor_loss = std::numeric_limits<double>::quiet_NaN();
            return stats;
        }
        if (config_.actor_grad_clip_norm > 0) nn::clip_grad_norm(g, static_cast<T>(config_.actor_grad_clip_norm));
        actor_opt_.step(actor_.parameters(), g);

        // 7. Polyak updates of every target with τ.
        const auto tau = static_cast<T>(config_.tau);
        nn::soft_update(target_actor_, actor_, tau);
        for (std::size_t i = 0; i < critics; ++i) target_critics_[i].soft_update_from(critics_[i], tau);

        ++updates_;
        ++actor_updates_;
        stats.actor_updated = true;
        if (config_.exploration == ddpg_exploration::ornstein_uhlenbeck) ou_.decay();
        return stats;
    }

    void save_critic(std::size_t i) {
        saved_critic& s = snapshot_[i];
        critics_[i].read_parameters(s.theta);
        critic_opt_[i].read_moments(s.m, s.v);
        s.t = critic_opt_[i].step_count();
    }
    void restore_critic(std::size_t i) {
        const saved_critic& s = snapshot_[i];
        critics_[i].write_parameters(s.theta);
        critic_opt_[i].restore(s.t, s.m, s.v);
    }

    static void check_precision(nn::matmul_precision p) {
        check_fields("ddpg_config").require(p != nn::matmul_precision::bf16 || std::is_same_v<T, float>, "precision",
                                            "be full unless the agent is ddpg<float>", nn::to_string(p));
    }
    /// ddpg_config::validate checks its real numbers as doubles; the update
    /// uses them as T. In float, τ = 1e-50 is 0 (the targets frozen) and a
    /// τ below ε = 2^-23 leaves 1 − τ rounded (to 1 at or below 2^-24: no
    /// pull toward the online network at all; between, a pull of ε, not τ);
    /// a clip norm of 1e-50 is 0 (every gradient
    /// zeroed, where 0 in the configuration means off) and 1e39 is infinite.
    /// bc_alpha (through λ = α / mean|Q|) and action_l2 (as 2·action_l2 /
    /// (n·dims)) scale the actor's gradient in T: 1e39 would make it
    /// infinite, and every update would be discarded. Target policy
    /// smoothing draws σ·z clipped to ±c in T: a policy_noise or (with
    /// smoothing on) a noise_clip of 1e-50 is 0 there, which turns the
    /// smoothing off as 0 does, and 1e39 is infinite; each must be finite
    /// and > 0 in T, or 0.
    static void check_as_scalar(const ddpg_config& c) {
        const check_fields check("ddpg_config");
        detail::require_tau_as<T>(check, c.tau, "the targets do");
        detail::require_positive_as<T>(check, "actor_grad_clip_norm", c.actor_grad_clip_norm, true);
        detail::require_positive_as<T>(check, "critic_grad_clip_norm", c.critic_grad_clip_norm, true);
        detail::require_positive_as<T>(check, "policy_noise", c.policy_noise, true);
        if (c.policy_noise > 0) detail::require_positive_as<T>(check, "noise_clip", c.noise_clip, true);
        check_bc_alpha_as_scalar(check, c.bc_alpha);
        const double limit = static_cast<double>(std::numeric_limits<T>::max());
        check.require(2 * c.action_l2 <= limit, "action_l2",
                      std::string("keep 2 * action_l2, its gradient's coefficient, finite in the agent's ") + detail::scalar_name<T>() +
                          " (action_l2 at most " + format_number(limit / 2) + ")",
                      c.action_l2);
    }
    static void check_bc_alpha_as_scalar(const check_fields& check, double alpha) {
        const double limit = static_cast<double>(std::numeric_limits<T>::max());
        check.require(alpha <= limit, "bc_alpha",
                      std::string("be finite in the agent's ") + detail::scalar_name<T>() + " (at most " + format_number(limit) + ")",
                      alpha);
    }
    /// The largest noise scale T carries with room for the largest
    /// standard normal draw (|N| < 9): what checked_noise_scale holds the
    /// configuration's noise to, and restore() a saved ε and OU state.
    static constexpr double noise_limit = static_cast<double>(std::numeric_limits<T>::max()) / 9;
    /// Gaussian exploration draws σ·scale_d·N(0, 1) in double and rounds it
    /// to T, and explore() adds nothing for a draw that is not finite there:
    /// σ = 1e39 is a finite double and an infinite float, so it would add no
    /// noise at all. σ·scale_d, with room for the largest draw (|N| < 9 from
    /// standard_normal), must be finite in T, and not 0 there unless σ is.
    ///
    /// Ornstein-Uhlenbeck exploration likewise: each step adds
    /// σ·√dt·N(0, 1) to x, and explore() adds ε·scale_d·x_d rounded to T.
    /// σ·√dt·scale_d, with the same room, must be finite in T and not 0
    /// there unless σ is (σ = 1e40 in float would add no noise at all), and
    /// so must the first draw's ε·σ·√dt·scale_d (ε from eps_start).
    static std::vector<action_bound> checked_noise_scale(const ddpg_config& c, std::vector<action_bound> bounds) {
        const double limit = noise_limit;
        if (c.exploration == ddpg_exploration::ornstein_uhlenbeck) {
            const double sigma = c.ou.sigma;
            const double sqrt_dt = std::sqrt(c.ou.dt);
            for (std::size_t d = 0; d < bounds.size(); ++d) {
                const double s = sigma * sqrt_dt * bounds[d].scale();
                const bool ok = std::isfinite(s) && s <= limit && (sigma == 0 || static_cast<T>(s) > 0);
                const std::string what = "times sqrt(dt) (" + format_number(sqrt_dt) + ") and ddpg.bounds[" + std::to_string(d) +
                                         "]'s scale (" + format_number(bounds[d].scale()) + "), ";
                check_fields("ddpg_config.ou")
                    .require(ok, "sigma",
                             "give, " + what + "a noise step that is finite and not 0 in the agent's " + detail::scalar_name<T>() +
                                 " (at most " + format_number(limit) + ")",
                             sigma);
                const double first = c.ou.eps_start * s;
                check_fields("ddpg_config.ou")
                    .require(std::isfinite(first) && first <= limit, "eps_start",
                             "give, times sigma " + what + "a noise that is finite in the agent's " + detail::scalar_name<T>() +
                                 " (at most " + format_number(limit) + ")",
                             c.ou.eps_start);
            }
            return bounds;
        }
        if (c.exploration != ddpg_exploration::gaussian) return bounds;
        const double sigma = c.gaussian.sigma;
        for (std::size_t d = 0; d < bounds.size(); ++d) {
            const double s = sigma * bounds[d].scale();
            const bool ok = std::isfinite(s) && s <= limit && (sigma == 0 || static_cast<T>(s) > 0);
            check_fields("ddpg_config.gaussian")
                .require(ok, "sigma",
                         "give, times ddpg.bounds[" + std::to_string(d) + "]'s scale (" + format_number(bounds[d].scale()) +
                             "), a noise that is finite and not 0 in the agent's " + (sizeof(T) == 4 ? "float" : "double") +
                             " (at most " + format_number(limit) + ")",
                         sigma);
        }
        return bounds;
    }
    static std::vector<action_bound> checked_bounds(std::size_t observation_size, std::vector<action_bound> bounds) {
        const check_fields check("ddpg");
        check.in("observation_size", observation_size, std::size_t{1}, std::size_t{1} << 20)
            .count("bounds", bounds.size(), 1, 1024);
        for (std::size_t d = 0; d < bounds.size(); ++d) {
            const check_fields b("ddpg.bounds[" + std::to_string(d) + "]");
            b.finite("low", bounds[d].low).finite("high", bounds[d].high).greater_field("high", bounds[d].high, "low", bounds[d].low);
            // The actor computes in T: the bounds and their half-width (and
            // its inverse square, which scales the action penalty) must be
            // finite there too (1e39 is a finite double and an infinite
            // float; ±1e308 overflows high - low).
            const double half = (bounds[d].high - bounds[d].low) / 2;
            const double limit = static_cast<double>(std::numeric_limits<T>::max());
            const auto representable = [&](double x) { return std::isfinite(x) && std::abs(x) <= limit; };
            b.require(representable(bounds[d].low), "low", "be finite in the agent's type", bounds[d].low)
                .require(representable(bounds[d].high), "high", "be finite in the agent's type", bounds[d].high)
                .require(representable(half) && representable(1 / (half * half)), "high",
                         "leave a half-width whose square and inverse square are finite in the agent's type", bounds[d].high)
                // Distinct in double, one value in T (1e6 and 1e6 + 0.01 in
                // float): the dimension would be frozen at that value.
                .require(static_cast<T>(bounds[d].low) < static_cast<T>(bounds[d].high), "high",
                         "be above low in the agent's type (rounded to it, the two are one value)", bounds[d].high);
        }
        return bounds;
    }
    static std::vector<double> scales(const std::vector<action_bound>& bounds) {
        std::vector<double> s;
        s.reserve(bounds.size());
        for (const auto& b : bounds) s.push_back(b.scale());
        return s;
    }
    static std::vector<nn::layer_spec> actor_layers(std::size_t in, std::size_t actions, const std::vector<Eigen::Index>& hidden) {
        std::vector<nn::layer_spec> layers;
        auto prev = static_cast<Eigen::Index>(in);
        for (const Eigen::Index w : hidden) {
            layers.push_back({prev, w, nn::activation::relu});
            prev = w;
        }
        layers.push_back({prev, static_cast<Eigen::Index>(actions), nn::activation::tanh});
        return layers;
    }
    critic_type make_critic(std::size_t observation_size) const {
        return critic_type(observation_size, bounds_.size(), config_.critic_hidden, config_.critic_action_layer);
    }
    std::size_t checked_critic(std::size_t i) const {
        if (i >= critic_count()) {
            throw error("ddpg: critic " + std::to_string(i) + " requested, the agent has " + std::to_string(critic_count()));
        }
        return i;
    }
    void check_batch(const batch_type& batch) const {
        if (batch.size < 1 || batch.size > config_.batch_size) {
            throw error("ddpg::update: batch of " + std::to_string(batch.size) + " transitions, must be in [1, " +
                        std::to_string(config_.batch_size) + "]");
        }
        if (const std::string why = batch.shape_error(observation_size(), bounds_.size()); !why.empty()) {
            throw error("ddpg::update: " + why);
        }
    }
    void check_observation(std::span<const T> observation) const {
        if (observation.size() != observation_size()) {
            throw error("ddpg: observation has " + std::to_string(observation.size()) + " values, expected " +
                        std::to_string(observation_size()));
        }
        for (std::size_t i = 0; i < observation.size(); ++i) {
            if (!std::isfinite(observation[i])) {
                throw error("ddpg: observation[" + std::to_string(i) + "] is " + format_number(static_cast<double>(observation[i])) +
                            ", must be finite");
            }
        }
    }
    void check_action_span(std::span<T> out) const {
        if (out.size() != bounds_.size()) {
            throw error("ddpg: action span has " + std::to_string(out.size()) + " entries, expected " +
                        std::to_string(bounds_.size()));
        }
    }

    ddpg_config config_;
    std::vector<action_bound> bounds_;
    rng gen_;
    network actor_;
    network target_actor_;
    std::array<critic_type, 2> critics_;         // the second is used with twin_critics only
    std::array<critic_type, 2> target_critics_;
    nn::adam<T> actor_opt_;
    std::array<nn::adam<T>, 2> critic_opt_;
    replay_buffer<T, T> replay_;
    batch_type batch_;
    typename network::inference_buffer act_buf_;
    std::vector<shard> shards_;                           // update_shards of them
    rlscale::detail::copyable_worker_pool pool_;          // with update_threads > 1
    std::array<vector, 2> gflat_;  // each critic's gradient in its flat order
    vector pflat_;                 // a critic's parameters, flat, for its Adam step
    std::array<saved_critic, 2> snapshot_;
    vector scale_;  // (high − low)/2 per dimension
    vector bias_;   // (high + low)/2 per dimension
    vector inv_scale_sq_;  // 1/scale² per dimension (the BC term's weights)
    vector low_;
    vector high_;
    matrix next_action_;  // ã per sample
    matrix smoothing_;    // N(0, 1) draws of the target policy smoothing
    matrix mu_;           // μ(s) per sample
    matrix dmu_;          // dL/du per sample
    matrix dq_;           // dL/dQ per sample
    vector y_;            // TD targets
    std::vector<T> noise_;
    ornstein_uhlenbeck_noise ou_;           // the selected exploration stream's process
    std::vector<double> parked_noise_;      // every stream's state, dims per stream (the selected one's is stale)
    std::size_t stream_ = 0;                // the selected stream
    gaussian_noise gaussian_;
    std::uint64_t steps_ = 0;
    std::uint64_t updates_ = 0;
    std::uint64_t actor_updates_ = 0;
    ddpg_update_stats last_;
};

static_assert(learner<ddpg<float>>);

}  // namespace rlscale::rl
