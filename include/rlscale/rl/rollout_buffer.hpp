#pragma once

/// On-policy experience for PPO: one rollout of transitions in the order
/// they happened, with generalised advantage estimates (GAE, Schulman et al.
/// 2016) and discounted returns computed at its end.

#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

namespace rlscale::rl {

/// A rollout of up to `capacity` transitions, sized at construction; push,
/// compute_advantages and clear allocate nothing. Samples are columns (one
/// per step), laid out for mlp::forward_batch.
///
/// The actor and the critic may see different inputs: SIMPPO's critic reads
/// the agent's local state and the auxiliary global state of the others,
/// its actor the local state only. `Action` is std::int32_t for discrete
/// actions (one index per head) or a floating type for continuous ones (one
/// value per dimension).
///
/// Termination and truncation are kept apart. A terminated step ends in a
/// terminal state, worth 0; a truncated one was cut by a time limit (an
/// autoscaling episode is a cut of an endless task), so its return is
/// bootstrapped from V of the observation the cut left, passed to push() as
/// `truncation_value`. Either way the next stored step starts a new episode
/// and no advantage flows back across it.
template <typename T = float, typename Action = std::int32_t>
class rollout_buffer {
public:
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    using action_matrix = Eigen::Matrix<Action, Eigen::Dynamic, Eigen::Dynamic>;
    using action_type = Action;

    /// Throws config_error for a zero capacity or size, or sizes beyond 10^7
    /// transitions or 2^20 inputs.
    rollout_buffer(std::size_t capacity, std::size_t actor_observation_size, std::size_t critic_observation_size,
                   std::size_t action_width)
        : actor_observations_(dim("actor_observation_size", actor_observation_size, 1u << 20), dim("capacity", capacity, 10'000'000)),
          critic_observations_(dim("critic_observation_size", critic_observation_size, 1u << 20), static_cast<Eigen::Index>(capacity)),
          actions_(dim("action_width", action_width, 1u << 10), static_cast<Eigen::Index>(capacity)),
          log_probs_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          values_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          rewards_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          truncation_values_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          terminated_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          truncated_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          advantages_(vector::Zero(static_cast<Eigen::Index>(capacity))),
          returns_(vector::Zero(static_cast<Eigen::Index>(capacity))) {
        actor_observations_.setZero();
        critic_observations_.setZero();
        actions_.setZero();
    }

    [[nodiscard]] std::size_t capacity() const noexcept { return static_cast<std::size_t>(log_probs_.size()); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool full() const noexcept { return size_ == capacity(); }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t actor_observation_size() const noexcept { return static_cast<std::size_t>(actor_observations_.rows()); }
    [[nodiscard]] std::size_t critic_observation_size() const noexcept { return static_cast<std::size_t>(critic_observations_.rows()); }
    [[nodiscard]] std::size_t action_width() const noexcept { return static_cast<std::size_t>(actions_.rows()); }
    /// Whether compute_advantages has run since the last push or clear.
    [[nodiscard]] bool advantages_ready() const noexcept { return advantages_ready_; }

    /// Throws as push() would for these values (sizes, and each value
    /// finite as stored), storing nothing: for a caller that changes the
    /// rollout (cut_last) before it pushes them.
    void check_step(std::span<const T> actor_observation, std::span<const T> critic_observation, std::span<const Action> action,
                    double log_prob, double value, double reward, double truncation_value = 0) const {
        check_size("actor_observation", actor_observation.size(), actor_observation_size());
        check_size("critic_observation", critic_observation.size(), critic_observation_size());
        check_size("action", action.size(), action_width());
        // The inputs first, then what was derived from them (a NaN action
        // gives a NaN log π: the action is the value to name).
        for (const T x : actor_observation) check_finite("actor_observation", static_cast<double>(x));
        for (const T x : critic_observation) check_finite("critic_observation", static_cast<double>(x));
        if constexpr (std::is_floating_point_v<Action>) {
            for (const Action a : action) check_finite("action", static_cast<double>(a));
        }
        // Checked as stored: 1e39 is a finite double but an infinite float.
        check_stored("log_prob", log_prob);
        check_stored("value", value);
        check_stored("reward", reward);
        check_stored("truncation_value", truncation_value);
    }

    /// Appends one step: what the actor and the critic saw, the action, its
    /// log-probability under the policy that acted, the critic's V of the
    /// step's observation, the reward, and how the step ended. Throws
    /// rlscale::error (and stores nothing) when the buffer is full, a span
    /// has the wrong size or a number is not finite.
    void push(std::span<const T> actor_observation, std::span<const T> critic_observation, std::span<const Action> action,
              double log_prob, double value, double reward, bool terminated, bool truncated, double truncation_value = 0) {
        if (full()) throw error("rollout_buffer::push: the rollout is full (" + std::to_string(capacity()) + " steps)");
        check_step(actor_observation, critic_observation, action, log_prob, value, reward, truncation_value);
        const auto j = static_cast<Eigen::Index>(size_);
        for (std::size_t i = 0; i < actor_observation.size(); ++i) actor_observations_(static_cast<Eigen::Index>(i), j) = actor_observation[i];
        for (std::size_t i = 0; i < critic_observation.size(); ++i) critic_observations_(static_cast<Eigen::Index>(i), j) = critic_observation[i];
        for (std::size_t i = 0; i < action.size(); ++i) actions_(static_cast<Eigen::Index>(i), j) = action[i];
        log_probs_(j) = static_cast<T>(log_prob);
        values_(j) = static_cast<T>(value);
        rewards_(j) = static_cast<T>(reward);
        terminated_(j) = terminated ? T(1) : T(0);
        truncated_(j) = truncated && !terminated ? T(1) : T(0);
        truncation_values_(j) = truncated && !terminated ? static_cast<T>(truncation_value) : T(0);
        ++size_;
        advantages_ready_ = false;
    }

    /// GAE(λ) and returns over the stored steps, last to first:
    ///
    ///     δ_t = r_t + γ·(1 − terminated_t)·V_next − V(s_t)
    ///     A_t = δ_t + γλ·(1 − done_t)·A_{t+1},   returns_t = A_t + V(s_t)
    ///
    /// with V_next = truncation_value_t for a truncated step, V(s_{t+1}) for
    /// an ordinary one, and `last_value` (V of the observation after the
    /// last stored step) at the rollout's end; done_t = terminated_t or
    /// truncated_t. λ = 1 gives discounted Monte-Carlo returns bootstrapped
    /// at cuts; λ = 0 one-step TD. Throws rlscale::error for γ or λ outside
    /// [0, 1] or a non-finite `last_value`.
    void compute_advantages(double last_value, double gamma, double lambda) {
        if (!(gamma >= 0 && gamma <= 1 && lambda >= 0 && lambda <= 1)) {  // only then: check_fields' name allocates
            check_fields("rollout_buffer::compute_advantages").in("gamma", gamma, 0, 1).in("lambda", lambda, 0, 1);
        }
        check_finite("last_value", last_value);
        double gae = 0;
        for (std::size_t k = size_; k-- > 0;) {
            const auto t = static_cast<Eigen::Index>(k);
            const bool terminal = terminated_(t) != T(0);
            const bool cut = truncated_(t) != T(0);
            double next_value = 0;
            if (terminal) {
                next_value = 0;
            } else if (cut) {
                next_value = static_cast<double>(truncation_values_(t));
            } else if (k + 1 == size_) {
                next_value = last_value;
            } else {
                next_value = static_cast<double>(values_(t + 1));
            }
            const double v = static_cast<double>(values_(t));
            const double delta = static_cast<double>(rewards_(t)) + gamma * next_value - v;
            gae = delta + (terminal || cut ? 0.0 : gamma * lambda * gae);
            advantages_(t) = static_cast<T>(gae);
            returns_(t) = static_cast<T>(gae + v);
            if (!std::isfinite(advantages_(t)) || !std::isfinite(returns_(t))) {
                // Overflowed (rewards near the type's range): an update would skip every minibatch.
                advantages_ready_ = false;
                throw error("rollout_buffer::compute_advantages: step " + std::to_string(k) + "'s advantage " + format_number(gae) +
                            " or return " + format_number(gae + v) + " is not finite as " + (sizeof(T) == 4 ? "a float" : "a double"));
            }
        }
        advantages_ready_ = true;
    }

    /// Ends the last stored step as truncated, bootstrapping from
    /// `truncation_value`: for a caller that will not store the step that
    /// follows it (the next observation was refused, or the next action is
    /// not recorded), so GAE does not join it to a later, non-adjacent step.
    /// A terminated or already truncated last step, or an empty buffer, is
    /// left as it is. Throws rlscale::error for a non-finite value.
    void cut_last(double truncation_value) {
        check_stored("truncation_value", truncation_value);
        if (!last_open()) return;
        const auto t = static_cast<Eigen::Index>(size_ - 1);
        truncated_(t) = T(1);
        truncation_values_(t) = static_cast<T>(truncation_value);
        advantages_ready_ = false;
    }

    /// Whether a step is stored and the last one neither terminated nor
    /// truncated: its successor is the next step pushed (cut_last would cut it).
    [[nodiscard]] bool last_open() const noexcept {
        if (size_ == 0) return false;
        const auto t = static_cast<Eigen::Index>(size_ - 1);
        return terminated_(t) == T(0) && truncated_(t) == T(0);
    }

    /// Forgets every step (storage is kept).
    void clear() noexcept {
        size_ = 0;
        advantages_ready_ = false;
    }

    /// actor_observation_size × capacity; the leading size() columns are the steps.
    [[nodiscard]] const matrix& actor_observations() const noexcept { return actor_observations_; }
    /// critic_observation_size × capacity.
    [[nodiscard]] const matrix& critic_observations() const noexcept { return critic_observations_; }
    /// action_width × capacity.
    [[nodiscard]] const action_matrix& actions() const noexcept { return actions_; }
    [[nodiscard]] const vector& log_probs() const noexcept { return log_probs_; }
    [[nodiscard]] const vector& values() const noexcept { return values_; }
    [[nodiscard]] const vector& rewards() const noexcept { return rewards_; }
    /// 1 where the step ended in a terminal state, else 0.
    [[nodiscard]] const vector& terminated() const noexcept { return terminated_; }
    /// 1 where the step was cut by a time limit (and did not terminate), else 0.
    [[nodiscard]] const vector& truncated() const noexcept { return truncated_; }
    /// V of the observation a cut left, where truncated, else 0.
    [[nodiscard]] const vector& truncation_values() const noexcept { return truncation_values_; }
    /// GAE advantages (after compute_advantages).
    [[nodiscard]] const vector& advantages() const noexcept { return advantages_; }
    /// Advantages plus values: the critic's regression targets.
    [[nodiscard]] const vector& returns() const noexcept { return returns_; }

    /// Overwrites the advantages and returns of the stored steps, for a
    /// caller that estimates them otherwise (or a test that gives them).
    /// Throws rlscale::error unless both hold size() finite values.
    void set_advantages(std::span<const T> advantages, std::span<const T> returns) {
        check_size("advantages", advantages.size(), size_);
        check_size("returns", returns.size(), size_);
        for (std::size_t k = 0; k < size_; ++k) {
            check_finite("advantages", static_cast<double>(advantages[k]));
            check_finite("returns", static_cast<double>(returns[k]));
        }
        for (std::size_t k = 0; k < size_; ++k) {
            advantages_(static_cast<Eigen::Index>(k)) = advantages[k];
            returns_(static_cast<Eigen::Index>(k)) = returns[k];
        }
        advantages_ready_ = true;
    }

    /// The bytes its arrays hold (storage sized at construction).
    [[nodiscard]] std::size_t bytes() const noexcept {
        const auto values = static_cast<std::size_t>(actor_observations_.size() + critic_observations_.size() + log_probs_.size() +
                                                     values_.size() + rewards_.size() + truncation_values_.size() +
                                                     terminated_.size() + truncated_.size() + advantages_.size() + returns_.size());
        return values * sizeof(T) + static_cast<std::size_t>(actions_.size()) * sizeof(Action);
    }

    /// Appends the stored steps (and, when computed, their advantages and
    /// returns) to `w`: a learner's training state, saved mid-rollout.
    void write_state(rlscale::detail::binary_writer& w) const {
        const std::size_t n = size_;
        w.put(static_cast<std::uint64_t>(n));
        w.put(static_cast<std::uint8_t>(advantages_ready_ ? 1 : 0));
        w.put_all(std::span<const T>(actor_observations_.data(), n * actor_observation_size()));
        w.put_all(std::span<const T>(critic_observations_.data(), n * critic_observation_size()));
        w.put_all(std::span<const Action>(actions_.data(), n * action_width()));
        for (const vector* v : {&log_probs_, &values_, &rewards_, &truncation_values_, &terminated_, &truncated_}) {
            w.put_all(std::span<const T>(v->data(), n));
        }
        if (advantages_ready_) {
            w.put_all(std::span<const T>(advantages_.data(), n));
            w.put_all(std::span<const T>(returns_.data(), n));
        }
    }

    /// Reads what write_state wrote for a rollout of this shape, replacing
    /// the contents. Each value is checked as push() checks it (and the
    /// flags as push() sets them; with integral actions and an
    /// `action_count`, each action below it); a bad one throws
    /// checkpoint_error naming it, and the buffer is then left empty (read
    /// into a fresh buffer to keep the old contents on failure).
    void read_state(rlscale::detail::binary_reader& r, std::size_t action_count = 0) {
        try {
            clear();
            const auto size = r.get<std::uint64_t>("size");
            if (size > capacity()) {
                throw checkpoint_error(r.name("size"), std::to_string(size) + " steps, the capacity is " + std::to_string(capacity()));
            }
            const auto ready = r.get<std::uint8_t>("advantages_ready");
            if (ready > 1) throw checkpoint_error(r.name("advantages_ready"), "is " + std::to_string(ready) + ", not 0 or 1");
            const auto n = static_cast<std::size_t>(size);
            const auto finite = [&r](const char* field, const T* v, std::size_t count) {
                for (std::size_t i = 0; i < count; ++i) {
                    if (!std::isfinite(v[i])) throw checkpoint_error(r.name(field) + "[" + std::to_string(i) + "]", "is not finite");
                }
            };
            const auto read = [&](const char* field, T* v, std::size_t count) {
                r.get_all(std::span<T>(v, count), field);
                finite(field, v, count);
            };
            read("actor_observations", actor_observations_.data(), n * actor_observation_size());
            read("critic_observations", critic_observations_.data(), n * critic_observation_size());
            r.get_all(std::span<Action>(actions_.data(), n * action_width()), "actions");
            for (std::size_t i = 0; i < n * action_width(); ++i) {
                const Action a = actions_.data()[i];
                if constexpr (std::is_integral_v<Action>) {
                    if (a < 0 || (action_count > 0 && static_cast<std::size_t>(a) >= action_count)) {
                        throw checkpoint_error(r.name("actions") + "[" + std::to_string(i) + "]",
                                               "is " + std::to_string(a) + ", must be in [0, " +
                                                   (action_count > 0 ? std::to_string(action_count) : std::string("2^31")) + ")");
                    }
                } else if (!std::isfinite(a)) {
                    throw checkpoint_error(r.name("actions") + "[" + std::to_string(i) + "]", "is not finite");
                }
            }
            read("log_probs", log_probs_.data(), n);
            read("values", values_.data(), n);
            read("rewards", rewards_.data(), n);
            read("truncation_values", truncation_values_.data(), n);
            r.get_all(std::span<T>(terminated_.data(), n), "terminated");
            r.get_all(std::span<T>(truncated_.data(), n), "truncated");
            for (std::size_t i = 0; i < n; ++i) {
                const auto t = static_cast<Eigen::Index>(i);
                const auto flag = [](T x) { return x == T(0) || x == T(1); };
                if (!flag(terminated_(t)) || !flag(truncated_(t)) || (terminated_(t) != T(0) && truncated_(t) != T(0))) {
                    throw checkpoint_error(r.name("terminated") + "[" + std::to_string(i) + "]",
                                           "and truncated are " + format_number(static_cast<double>(terminated_(t))) + " and " +
                                               format_number(static_cast<double>(truncated_(t))) + ", which push() never stores");
                }
                if (truncated_(t) == T(0) && truncation_values_(t) != T(0)) {
                    throw checkpoint_error(r.name("truncation_values") + "[" + std::to_string(i) + "]",
                                           "is " + format_number(static_cast<double>(truncation_values_(t))) +
                                               " on a step not truncated (push() stores 0)");
                }
            }
            if (ready == 1) {
                read("advantages", advantages_.data(), n);
                read("returns", returns_.data(), n);
            }
            size_ = n;
            advantages_ready_ = ready == 1;
        } catch (...) {
            clear();
            throw;
        }
    }

private:
    static Eigen::Index dim(const char* field, std::size_t value, std::size_t max) {
        check_fields("rollout_buffer").in(field, value, std::size_t{1}, max);
        return static_cast<Eigen::Index>(value);
    }
    static void check_size(const char* what, std::size_t got, std::size_t want) {
        if (got != want) {
            throw error("rollout_buffer: " + std::string(what) + " has " + std::to_string(got) + " values, expected " +
                        std::to_string(want));
        }
    }
    static void check_finite(const char* what, double x) {
        if (!std::isfinite(x)) throw error("rollout_buffer: " + std::string(what) + " is " + format_number(x) + ", must be finite");
    }
    /// `x` finite as a double and as the T it is stored as.
    static void check_stored(const char* what, double x) {
        if (!std::isfinite(x) || !std::isfinite(static_cast<T>(x))) {
            throw error("rollout_buffer: " + std::string(what) + " is " + format_number(x) + ", must be finite as " +
                        (sizeof(T) == 4 ? "a float" : "a double"));
        }
    }

    matrix actor_observations_;
    matrix critic_observations_;
    action_matrix actions_;
    vector log_probs_;
    vector values_;
    vector rewards_;
    vector truncation_values_;
    vector terminated_;
    vector truncated_;
    vector advantages_;
    vector returns_;
    std::size_t size_ = 0;
    bool advantages_ready_ = false;
};

}  // namespace rlscale::rl
