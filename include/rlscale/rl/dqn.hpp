#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/detail/worker_pool.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/detail/state_io.hpp>
#include <rlscale/nn/gradient_clip.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/mlp.hpp>
#include <rlscale/nn/target_update.hpp>
#include <rlscale/rl/exploration.hpp>
#include <rlscale/rl/detail/scalar_checks.hpp>
#include <rlscale/rl/q_layout.hpp>
#include <rlscale/rl/replay_buffer.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <limits>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace rlscale::rl {

/// Hyperparameters of the DQN updater.
struct dqn_config {
    std::vector<Eigen::Index> hidden = {128, 128};  ///< hidden layer widths (ReLU)
    double gamma = 0.99;                   ///< discount factor γ
    double tau = 0.005;                    ///< Polyak coefficient of the target network, each update
    nn::adam_config adam = nn::adam_config::scarlet();  ///< optimiser (lr 1e-4)
    std::size_t batch_size = 128;          ///< transitions per update
    std::size_t replay_capacity = 1'000'000;  ///< replay buffer size
    std::size_t learning_starts = 128;     ///< transitions stored before the first update
    std::size_t train_frequency = 1;       ///< environment steps per update
    double huber_beta = 1.0;               ///< SmoothL1 β of the TD loss
    double grad_clip_value = 100;          ///< clamp each gradient element to ±this (0 = off)
    double grad_clip_norm = 0;             ///< rescale the gradient to at most this L2 norm (0 = off)
    bool double_dqn = false;               ///< pick a' with the online network, value it with the target
    /// Precision of the update's matrix products: `full` (the network's
    /// scalar type) or `bf16` (bfloat16 operands, float sums and float
    /// parameters; about twice as fast an update on AVX-512 BF16 CPUs).
    /// Acting (greedy, explore) is always in full precision.
    nn::matmul_precision precision = nn::matmul_precision::full;
    exponential_epsilon epsilon = exponential_epsilon::scarlet();  ///< exploration schedule
    /// Data-parallel updates: the batch is cut into this many column ranges
    /// (shards) of near-equal size, each taken through the forward passes,
    /// the loss and the backward pass on its own, and their gradients are
    /// summed in shard order. The result depends on the number of shards
    /// (the float sums run in another order than over the whole batch at
    /// once), never on how many threads run them. 1: the whole batch in one
    /// pass.
    std::size_t update_shards = 1;
    /// Threads that run the shards, the calling thread included (at most
    /// update_shards). More than one starts update_threads − 1 threads that
    /// the agent owns and reuses for every update; between updates they
    /// poll for 200 µs before they sleep (so training steps that follow
    /// each other closely do not pay for waking them).
    std::size_t update_threads = 1;

    /// SCARLET §4.4 and Table 4: 2×128 ReLU, Adam lr 1e-4, γ 0.99, τ 0.005,
    /// replay 10^6, ε 0.9 decaying with constant 150; batch 128, Huber (β 1)
    /// and gradient elements clamped to ±100 as in the reference DQN it builds on.
    [[nodiscard]] static dqn_config scarlet() { return {}; }

    void validate() const {
        const check_fields check("dqn_config");
        check.count("hidden", hidden.size(), 1, 64);
        for (std::size_t i = 0; i < hidden.size(); ++i) check.at_least("hidden[" + std::to_string(i) + "]", hidden[i], 1);
        check.in("gamma", gamma, 0, 1)
            .in_open_closed("tau", tau, 0, 1)
            .at_least("batch_size", batch_size, 1)
            .at_least_field("replay_capacity", replay_capacity, "batch_size", batch_size)
            // Updates begin once learning_starts transitions are stored, which a
            // smaller replay never holds: such an agent would never learn.
            .at_least_field("replay_capacity", replay_capacity, "learning_starts", learning_starts)
            // The replay buffer's own limit, named here rather than as replay_buffer.capacity.
            .at_most("replay_capacity", replay_capacity, replay_buffer<>::max_capacity)
            .at_least("train_frequency", train_frequency, 1)
            .greater("huber_beta", huber_beta, 0)
            .at_least("grad_clip_value", grad_clip_value, 0)
            .at_least("grad_clip_norm", grad_clip_norm, 0);
        check.in("update_shards", update_shards, std::size_t{1}, batch_size)
            .in("update_threads", update_threads, std::size_t{1}, update_shards);
        validate_nested("dqn_config", "adam", [&] { adam.validate(); });
        validate_nested("dqn_config", "epsilon", [&] { epsilon.validate(); });
    }
};

/// What one update did.
struct dqn_update_stats {
    double loss = 0;            ///< mean Huber loss over the batch and heads
    double grad_norm = 0;       ///< gradient L2 norm before clipping
    double mean_q = 0;          ///< mean Q of the chosen actions
    bool applied = true;        ///< false when the gradient was not finite and the step was skipped
};

/// Deep Q-learning (Mnih et al.; as SCARLET uses it): an online and a target
/// network, experience replay, TD targets from the target network (or, with
/// `double_dqn`, the online network's choice valued by the target), Huber
/// loss, Adam, gradient clipping and a Polyak update of the target after
/// every gradient step. All storage is allocated at construction; acting,
/// storing and updating allocate nothing. A copy is a snapshot of the agent
/// (networks, optimiser, replay, generator, counters) that acts and trains
/// on as the original would; with update_threads > 1 it starts threads of
/// its own.
template <typename T = float>
class dqn {
public:
    using network = nn::mlp<T>;
    using vector = typename network::vector;
    using matrix = typename network::matrix;

    /// Builds and initialises (PyTorch's nn.Linear default) both networks
    /// from `seed`. Throws config_error for a bad configuration, before
    /// allocating anything.
    dqn(std::size_t observation_size, q_layout layout, dqn_config config, std::uint64_t seed)
        : config_((config.validate(), layout.validate(), check_precision(config.precision), check_as_scalar(config),
                   check_sizes(observation_size, layout), std::move(config))),
          layout_(layout),
          gen_(seed),
          online_(make_layers(observation_size, layout, config_.hidden)),
          target_(online_.layers()),
          optimizer_(online_.parameter_count(), config_.adam.rounding_stream(seed, 0)),
          replay_(config_.replay_capacity, observation_size, layout.heads),
          batch_(observation_size, layout.heads, config_.batch_size),
          act_buffer_(online_) {
        online_.initialize(nn::init_scheme::torch_default, gen_);
        nn::hard_update(target_, online_);
        const auto capacity =
            static_cast<Eigen::Index>((config_.batch_size + config_.update_shards - 1) / config_.update_shards);
        shards_.reserve(config_.update_shards);
        for (std::size_t s = 0; s < config_.update_shards; ++s) {
            shards_.emplace_back(online_, target_, capacity, layout.outputs(), config_.precision);
        }
        if (config_.update_threads > 1) {
            // Its threads poll for the next update for 200 µs before they
            // sleep: waking a sleeping thread costs about as much as a shard.
            pool_ = rlscale::detail::copyable_worker_pool(config_.update_threads - 1, std::chrono::microseconds(200));
        }
    }

    [[nodiscard]] const dqn_config& config() const noexcept { return config_; }
    [[nodiscard]] q_layout layout() const noexcept { return layout_; }
    [[nodiscard]] std::size_t observation_size() const noexcept { return replay_.observation_size(); }
    [[nodiscard]] const network& online() const noexcept { return online_; }
    [[nodiscard]] network& online() noexcept { return online_; }
    [[nodiscard]] const network& target() const noexcept { return target_; }
    [[nodiscard]] network& target() noexcept { return target_; }
    [[nodiscard]] nn::adam<T>& optimizer() noexcept { return optimizer_; }
    [[nodiscard]] const replay_buffer<T>& replay() const noexcept { return replay_; }
    /// Environment steps observed so far (drives ε and the update schedule).
    [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
    /// Gradient steps taken so far.
    [[nodiscard]] std::uint64_t updates() const noexcept { return updates_; }
    /// ε at the current step.
    [[nodiscard]] double epsilon() const noexcept { return config_.epsilon(steps_); }

    /// The greedy action per head for `observation` (one index per head
    /// into `out`). Throws rlscale::error for an observation of another
    /// size or with a value that is not finite (whose Q-values would be NaN,
    /// read as action 0), naming it.
    void greedy(std::span<const T> observation, std::span<std::int32_t> out) {
        check_observation(observation);
        check_action_span(out);
        const auto q = online_.forward(Eigen::Map<const vector>(observation.data(), static_cast<Eigen::Index>(observation.size())),
                                       act_buffer_);
        argmax_per_head(q, layout_, out);
    }

    /// ε-greedy: with probability ε(steps) a uniformly random action per
    /// head (each head explores independently), else the greedy one.
    void explore(std::span<const T> observation, std::span<std::int32_t> out) {
        check_action_span(out);
        const double eps = epsilon();
        greedy(observation, out);
        for (std::size_t h = 0; h < layout_.heads; ++h) {
            if (uniform01(gen_) < eps) out[h] = static_cast<std::int32_t>(uniform_index(gen_, layout_.actions_per_head));
        }
    }

    /// Stores one transition and, on schedule, takes a gradient step.
    /// Returns true when an update ran (its figures in last_update()).
    bool observe(std::span<const T> observation, std::span<const std::int32_t> action, double reward,
                 std::span<const T> next_observation, bool terminated, bool truncated = false) {
        for (std::size_t h = 0; h < action.size() && h < layout_.heads; ++h) {
            if (static_cast<std::size_t>(action[h]) >= layout_.actions_per_head) {
                throw error("dqn::observe: action[" + std::to_string(h) + "] is " + std::to_string(action[h]) + ", the head has " +
                            std::to_string(layout_.actions_per_head) + " actions");
            }
        }
        replay_.push(observation, action, reward, next_observation, terminated, truncated);
        ++steps_;
        if (replay_.size() >= std::max(config_.learning_starts, config_.batch_size) && steps_ % config_.train_frequency == 0) {
            last_ = update();
            return true;
        }
        return false;
    }

    /// One gradient step on a minibatch sampled from the replay buffer.
    dqn_update_stats update() {
        replay_.sample(config_.batch_size, gen_, batch_);
        return update(batch_);
    }

    /// One gradient step on a given batch (its leading `batch.size`
    /// columns, at most batch_size): the TD targets, the Huber loss, its
    /// gradient, clipping, the Adam step and the target's Polyak update, in
    /// that order. Public so that a test can compare it with a reference
    /// implementation on the same weights and data. Throws rlscale::error for
    /// an empty or oversized batch or one of other shapes, or an action index
    /// outside its head.
    dqn_update_stats update(const replay_batch<T>& batch) {
        check_batch(batch);
        const std::size_t n = batch.size;
        const std::size_t shards = std::min(shards_.size(), n);
        auto pass = [&](std::size_t s) {
            const std::size_t first = s * n / shards;
            shard_pass(batch, first, (s + 1) * n / shards - first, n, shards_[s]);
        };
        if (pool_ && shards > 1) {
            pool_->for_each(shards, pass);
        } else {
            for (std::size_t s = 0; s < shards; ++s) pass(s);
        }
        // Shard 0's gradient becomes the batch's.
        auto g = shards_[0].grad.values();
        double loss = 0;
        double sum_q = 0;
        for (std::size_t s = 0; s < shards; ++s) {
            loss += shards_[s].loss;
            sum_q += shards_[s].sum_q;
            if (s > 0) g += shards_[s].grad.values();
        }
        dqn_update_stats stats;
        stats.loss = loss / static_cast<double>(n * layout_.heads);
        stats.mean_q = sum_q / static_cast<double>(n * layout_.heads);
        stats.grad_norm = static_cast<double>(g.norm());
        // A non-finite loss (a NaN target: Huber's gradient would still be a
        // finite ±1 and push Q towards nothing) or gradient: no step.
        if (!std::isfinite(stats.grad_norm) || !std::isfinite(stats.loss)) {
            stats.applied = false;  // keep the networks as they were
            return stats;
        }
        if (config_.grad_clip_value > 0) {
            const auto c = static_cast<T>(config_.grad_clip_value);
            g = g.cwiseMax(-c).cwiseMin(c);
        }
        if (config_.grad_clip_norm > 0) nn::clip_grad_norm(g, static_cast<T>(config_.grad_clip_norm));
        optimizer_.step(online_.parameters(), g);
        nn::soft_update(target_, online_, static_cast<T>(config_.tau));
        ++updates_;
        return stats;
    }

    /// Figures of the last update observe() ran.
    [[nodiscard]] const dqn_update_stats& last_update() const noexcept { return last_; }

    /// Writes everything training reads and changes, so that an agent
    /// restored from it (load_training_state) acts and trains on exactly as
    /// this one would: the online and target networks, the optimiser's
    /// moments, step count and learning rate, the replay buffer in its ring
    /// order (sampling draws slots), the generator, and the step and update
    /// counters (which drive ε and the update schedule, so neither restarts).
    /// Not written: the rest of the configuration (the restoring agent is
    /// built with it; its network's layers are checked against the file) and
    /// last_update(). A checksummed binary frame in this machine's byte
    /// order: four values per parameter plus, per stored transition,
    /// 2·observation_size + 1 values, `heads` action indices and a byte.
    void save_training_state(std::ostream& out) const {
        namespace io = nn::detail;
        rlscale::detail::write_frame(out, training_state_format(), "dqn::save_training_state", [&](rlscale::detail::binary_writer& w) {
            w.put(static_cast<std::uint64_t>(observation_size()));
            w.put(static_cast<std::uint64_t>(layout_.heads));
            w.put(static_cast<std::uint64_t>(layout_.actions_per_head));
            w.put(static_cast<std::uint64_t>(replay_.capacity()));
            io::put_shape(w, network_shape());
            w.put(steps_);
            w.put(updates_);
            w.put(gen_.state());
            io::put_values(w, online_.parameters());
            io::put_values(w, target_.parameters());
            io::put_adam(w, optimizer_);
            replay_.write_state(w);
        });
    }

    /// Restores what save_training_state wrote, from an agent built with the
    /// same observation size, layout and configuration (and, with bfloat16
    /// Adam moments, the same seed, which keys their rounding). Everything is
    /// read and checked before anything changes: a truncated or corrupted
    /// file, another agent's shape, or a value training would refuse (a
    /// weight or moment not finite, a stored action outside its head) throws
    /// checkpoint_error naming the field, and the agent is left as it was.
    /// The frame's header is read first: a length above
    /// max_training_state_length() is refused before the payload is read,
    /// and a stream that can seek (a file) is checked to hold that length.
    /// At its peak a load holds the payload and a second replay buffer
    /// beside the agent.
    void load_training_state(std::istream& in) {
        namespace io = nn::detail;
        const auto head = [this](rlscale::detail::binary_reader& r) {
            io::expect_value(r, "observation_size", observation_size(), " (the agent's)");
            io::expect_value(r, "heads", layout_.heads, " (the agent's layout)");
            io::expect_value(r, "actions_per_head", layout_.actions_per_head, " (the agent's layout)");
            io::expect_value(r, "replay_capacity", replay_.capacity(), " (the agent's replay_capacity)");
            io::check_shape(r, "layers", network_shape(), "its hidden widths and layout");
        };
        const std::string payload = rlscale::detail::read_frame(in, training_state_format(), "training_state.", max_training_state_length(),
                                                                "bytes this agent writes at most (its replay full)", head);
        rlscale::detail::binary_reader r(payload, "training_state.");
        head(r);
        const auto steps = r.get<std::uint64_t>("steps");
        const auto updates = r.get<std::uint64_t>("updates");  // update() is public: any number per step
        const rng gen = io::get_generator(r, "generator");
        vector online(online_.parameter_count());
        vector target(target_.parameter_count());
        io::get_finite(r, online, "online");
        io::get_finite(r, target, "target");
        nn::adam<T> optimizer = io::get_adam(r, optimizer_, "adam");
        replay_buffer<T> replay(replay_.capacity(), replay_.observation_size(), replay_.action_size());
        nn::detail::read_tail(payload, r, replay, "training_state.replay.", layout_.actions_per_head);
        if (replay.pushed() > steps) {
            throw checkpoint_error("training_state.replay.pushed", std::to_string(replay.pushed()) + " transitions, more than the " +
                                                                       std::to_string(steps) + " steps");
        }
        // Everything read and checked: nothing below throws.
        online_.parameters() = online;
        target_.parameters() = target;
        optimizer_ = std::move(optimizer);
        replay_ = std::move(replay);
        gen_ = gen;
        steps_ = steps;
        updates_ = updates;
        last_ = {};
    }

    /// save_training_state to a file, replacing it only once the new one is
    /// on disk (a crash leaves the old file or the new one).
    void save_training_state(const std::filesystem::path& path) const { nn::detail::save_state_file(*this, path); }
    /// load_training_state from a file; a file that cannot be opened throws
    /// rlscale::error naming it.
    void load_training_state(const std::filesystem::path& path) { nn::detail::load_state_file(*this, path, "dqn"); }
    /// The largest payload load_training_state takes, in bytes: what this
    /// agent's save_training_state writes with its replay buffer full.
    [[nodiscard]] std::uint64_t max_training_state_length() const {
        namespace io = nn::detail;
        return 4 * sizeof(std::uint64_t) + io::shape_bytes(network_shape()) + sizeof(steps_) + sizeof(updates_) + sizeof(gen_.state()) +
               static_cast<std::uint64_t>(online_.parameter_count() + target_.parameter_count()) * sizeof(T) + io::adam_bytes(optimizer_) +
               io::replay_state_bytes<T, std::int32_t>(replay_);
    }

    // The learner concept (rl::train runs any learner).
    using value_type = std::int32_t;  ///< one action index per head
    [[nodiscard]] std::size_t action_width() const noexcept { return layout_.heads; }
    [[nodiscard]] learner_stats stats() const noexcept {
        return {.steps = steps_, .updates = updates_, .exploration = epsilon(), .last_loss = last_.loss};
    }

private:
    /// What one shard of an update works in.
    struct shard {
        shard(const network& online, const network& target, Eigen::Index capacity, std::size_t outputs,
              nn::matmul_precision precision)
            : online_batch(online, capacity, precision),
              next_batch(online, capacity, precision),
              target_batch(target, capacity, precision),
              grad(online),
              dq(matrix::Zero(static_cast<Eigen::Index>(outputs), capacity)) {}
        typename network::batch_buffer online_batch;
        typename network::batch_buffer next_batch;
        typename network::batch_buffer target_batch;
        typename network::gradient grad;
        matrix dq;
        double loss = 0;
        double sum_q = 0;
    };

    /// The forward passes, TD targets, Huber loss and backward pass of the
    /// batch's columns [first, first + count), into sh (its gradient, loss
    /// and Σ Q). `n` is the whole batch's size: the loss is a mean over it.
    void shard_pass(const replay_batch<T>& batch, std::size_t first, std::size_t count, std::size_t n, shard& sh) const {
        const auto c0 = static_cast<Eigen::Index>(first);
        const auto ni = static_cast<Eigen::Index>(count);
        const auto A = static_cast<Eigen::Index>(layout_.actions_per_head);
        const auto H = static_cast<Eigen::Index>(layout_.heads);

        // Targets: y = r + γ·(1 − terminated)·max_a' Q_target(s', a') per head.
        const auto q_next_target = target_.forward_batch(batch.next_observations.middleCols(c0, ni), sh.target_batch);
        const T* q_next_online = nullptr;
        if (config_.double_dqn) {
            q_next_online = online_.forward_batch(batch.next_observations.middleCols(c0, ni), sh.next_batch).data();
        }
        const auto q = online_.forward_batch(batch.observations.middleCols(c0, ni), sh.online_batch);

        auto dq = sh.dq.leftCols(ni);
        dq.setZero();
        const T scale = T(1) / static_cast<T>(n * layout_.heads);
        const auto beta = static_cast<T>(config_.huber_beta);
        const auto gamma = static_cast<T>(config_.gamma);
        double loss = 0;
        double sum_q = 0;
        for (Eigen::Index j = 0; j < ni; ++j) {
            const Eigen::Index b = c0 + j;  // column in the batch
            for (Eigen::Index h = 0; h < H; ++h) {
                const Eigen::Index base = h * A;
                T next = 0;
                if (config_.double_dqn) {
                    const T* col = q_next_online + j * q.rows();
                    Eigen::Index best = 0;
                    for (Eigen::Index a = 1; a < A; ++a) {
                        if (col[base + a] > col[base + best]) best = a;
                    }
                    next = q_next_target(base + best, j);
                } else {
                    next = q_next_target(base, j);
                    for (Eigen::Index a = 1; a < A; ++a) next = std::max(next, q_next_target(base + a, j));
                }
                const T y = batch.rewards(b) + gamma * (T(1) - batch.terminated(b)) * next;
                const Eigen::Index row = base + batch.actions(h, b);
                const T d = q(row, j) - y;
                sum_q += static_cast<double>(q(row, j));
                if (std::abs(d) < beta) {
                    loss += static_cast<double>(T(0.5) * d * d / beta);
                    dq(row, j) = d / beta * scale;
                } else {
                    loss += static_cast<double>(std::abs(d) - T(0.5) * beta);
                    dq(row, j) = (d > 0 ? T(1) : T(-1)) * scale;
                }
            }
        }
        online_.backward(sh.online_batch, dq, sh.grad);
        sh.loss = loss;
        sh.sum_q = sum_q;
    }

    /// The network's layers as (inputs, outputs, activation) triples: what
    /// the training state checks an agent's network by.
    [[nodiscard]] std::vector<std::uint64_t> network_shape() const {
        std::vector<std::uint64_t> shape;
        nn::detail::add_layer_shapes(shape, online_.layers());
        return shape;
    }
    [[nodiscard]] static constexpr rlscale::detail::frame_format training_state_format() noexcept {
        return {.magic = "rlscale.dqn.training_state\n", .version = 1, .value_size = sizeof(T), .kind = "a DQN training state"};
    }

    /// dqn_config::validate checks its real numbers as doubles; the update
    /// uses them as T. 1e39 is a finite double but an infinite float, and
    /// 1e-46 a positive double but a float 0: an infinite or zero Huber β
    /// or τ, or a zero clip (every gradient element clamped to 0, where 0
    /// in the configuration means off), would train nothing.
    static void check_as_scalar(const dqn_config& c) {
        const check_fields check("dqn_config");
        detail::require_tau_as<T>(check, c.tau, "the target does");
        detail::require_positive_as<T>(check, "huber_beta", c.huber_beta);
        detail::require_positive_as<T>(check, "grad_clip_value", c.grad_clip_value, true);
        detail::require_positive_as<T>(check, "grad_clip_norm", c.grad_clip_norm, true);
    }
    /// The replay buffer's limits, named as the agent's: an observation
    /// size or a layout with more heads than the buffer stores per
    /// transition fails here, before the networks are allocated.
    static void check_sizes(std::size_t observation_size, q_layout layout) {
        check_fields("dqn").at_most("observation_size", observation_size, replay_buffer<T>::max_observation_size);
        check_fields("q_layout").at_most("heads", layout.heads, replay_buffer<T>::max_action_size);
    }
    static void check_precision(nn::matmul_precision p) {
        check_fields("dqn_config").require(p != nn::matmul_precision::bf16 || std::is_same_v<T, float>, "precision",
                                           "be full unless the agent is dqn<float>", nn::to_string(p));
    }
    static std::vector<nn::layer_spec> make_layers(std::size_t in, q_layout layout, const std::vector<Eigen::Index>& hidden) {
        check_fields("dqn").at_least("observation_size", in, 1);
        std::vector<nn::layer_spec> layers;
        Eigen::Index prev = static_cast<Eigen::Index>(in);
        for (const Eigen::Index w : hidden) {
            layers.push_back({prev, w, nn::activation::relu});
            prev = w;
        }
        layers.push_back({prev, static_cast<Eigen::Index>(layout.outputs()), nn::activation::identity});
        return layers;
    }
    void check_batch(const replay_batch<T>& batch) const {
        if (batch.size < 1 || batch.size > config_.batch_size) {
            throw error("dqn::update: batch of " + std::to_string(batch.size) + " transitions, must be in [1, " +
                        std::to_string(config_.batch_size) + "]");
        }
        if (const std::string why = batch.shape_error(observation_size(), layout_.heads); !why.empty()) {
            throw error("dqn::update: " + why);
        }
        for (std::size_t j = 0; j < batch.size; ++j) {
            for (std::size_t h = 0; h < layout_.heads; ++h) {
                const std::int32_t a = batch.actions(static_cast<Eigen::Index>(h), static_cast<Eigen::Index>(j));
                if (a < 0 || static_cast<std::size_t>(a) >= layout_.actions_per_head) {
                    throw error("dqn::update: batch.actions(" + std::to_string(h) + ", " + std::to_string(j) + ") is " +
                                std::to_string(a) + ", the head has " + std::to_string(layout_.actions_per_head) + " actions");
                }
            }
        }
    }
    void check_observation(std::span<const T> observation) const {
        if (observation.size() != replay_.observation_size()) {
            throw error("dqn: observation has " + std::to_string(observation.size()) + " values, expected " +
                        std::to_string(replay_.observation_size()));
        }
        for (std::size_t i = 0; i < observation.size(); ++i) {
            if (!std::isfinite(observation[i])) {
                throw error("dqn: observation[" + std::to_string(i) + "] is " + format_number(observation[i]) + ", must be finite");
            }
        }
    }
    void check_action_span(std::span<std::int32_t> out) const {
        if (out.size() != layout_.heads) {
            throw error("dqn: action span has " + std::to_string(out.size()) + " entries, expected " + std::to_string(layout_.heads));
        }
    }

    dqn_config config_;
    q_layout layout_;
    rng gen_;
    network online_;
    network target_;
    nn::adam<T> optimizer_;
    replay_buffer<T> replay_;
    replay_batch<T> batch_;
    typename network::inference_buffer act_buffer_;
    std::vector<shard> shards_;                           // update_shards of them
    rlscale::detail::copyable_worker_pool pool_;          // with update_threads > 1
    std::uint64_t steps_ = 0;
    std::uint64_t updates_ = 0;
    dqn_update_stats last_;
};

static_assert(learner<dqn<float>>);

}  // namespace rlscale::rl
