#pragma once

#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>
#include <xtensor/xtensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace rlscale::rl {

/// One minibatch drawn from a replay_buffer, laid out for mlp::forward_batch:
/// column j of `observations` and `next_observations` is transition j.
/// Sized once (observation size × batch capacity); sampling fills the
/// leading `size` columns and allocates nothing.
template <typename T = float, typename Action = std::int32_t>
struct replay_batch {
    using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using action_matrix = Eigen::Matrix<Action, Eigen::Dynamic, Eigen::Dynamic>;
    using index_matrix = action_matrix;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    replay_batch(std::size_t observation_size, std::size_t action_size, std::size_t capacity)
        : observations(static_cast<Eigen::Index>(observation_size), static_cast<Eigen::Index>(capacity)),
          next_observations(static_cast<Eigen::Index>(observation_size), static_cast<Eigen::Index>(capacity)),
          actions(static_cast<Eigen::Index>(action_size), static_cast<Eigen::Index>(capacity)),
          rewards(static_cast<Eigen::Index>(capacity)),
          terminated(static_cast<Eigen::Index>(capacity)),
          truncated(static_cast<Eigen::Index>(capacity)),
          slots(capacity) {}

    [[nodiscard]] std::size_t capacity() const noexcept { return static_cast<std::size_t>(observations.cols()); }

    /// Why the leading `size` columns cannot be read as transitions of
    /// `observation_size` values and `action_size` actions, naming the first
    /// array that is wrong; empty when they can. The fields are public, so a
    /// caller may have built or resized them by hand. Allocates nothing for
    /// a batch that fits.
    [[nodiscard]] std::string shape_error(std::size_t observation_size, std::size_t action_size) const {
        return layout_error(observation_size, action_size, size, false, "the agent");
    }

    /// Why `count` transitions of `observation_size` values and
    /// `action_size` actions cannot be written into the leading columns
    /// (replay_buffer::sample and get write every array, `truncated` and
    /// `slots` included), naming the first array that is too small; empty
    /// when they can. Allocates nothing for a batch that fits.
    [[nodiscard]] std::string room_error(std::size_t observation_size, std::size_t action_size, std::size_t count) const {
        return layout_error(observation_size, action_size, count, true, "the buffer");
    }

    matrix observations;       ///< observation_size × capacity
    matrix next_observations;  ///< observation_size × capacity
    action_matrix actions;     ///< action_size × capacity: one index per head (discrete) or one value per dimension (continuous)
    vector rewards;            ///< capacity
    vector terminated;         ///< 1 where the episode ended in a terminal state (no bootstrap), else 0
    vector truncated;          ///< 1 where the episode was cut short (bootstrap still applies), else 0
    std::vector<std::size_t> slots;  ///< capacity: the buffer slot each sampled transition came from
    std::size_t size = 0;      ///< transitions in the leading columns

private:
    /// The rows of each array (`owner` names who expects them), then its
    /// room for `count` transitions: the arrays an update reads, and with
    /// `every` also those only sampling writes (`truncated`, `slots`).
    [[nodiscard]] std::string layout_error(std::size_t observation_size, std::size_t action_size, std::size_t count,
                                           bool every, const char* owner) const {
        const auto rows = [owner](const char* field, Eigen::Index have, std::size_t want, const char* what) {
            return std::string("batch.") + field + " has " + std::to_string(have) + " rows, " + owner + " " + std::to_string(want) +
                   " " + what;
        };
        const auto room = [count, every](const char* field, std::size_t have) {
            return std::string("batch.") + field + " holds " + std::to_string(have) + ", fewer than the " +
                   (every ? std::string() : std::string("batch's ")) + std::to_string(count) + " transitions" +
                   (every ? " to write" : "");
        };
        const auto fits = [count](auto have) { return static_cast<std::size_t>(have) >= count; };
        if (static_cast<std::size_t>(observations.rows()) != observation_size) {
            return rows("observations", observations.rows(), observation_size, "observation values");
        }
        if (static_cast<std::size_t>(next_observations.rows()) != observation_size) {
            return rows("next_observations", next_observations.rows(), observation_size, "observation values");
        }
        if (static_cast<std::size_t>(actions.rows()) != action_size) return rows("actions", actions.rows(), action_size, "actions");
        const auto cols = [](Eigen::Index n) { return static_cast<std::size_t>(n); };
        if (!fits(observations.cols())) return room("observations", cols(observations.cols()));
        if (!fits(next_observations.cols())) return room("next_observations", cols(next_observations.cols()));
        if (!fits(actions.cols())) return room("actions", cols(actions.cols()));
        if (!fits(rewards.size())) return room("rewards", cols(rewards.size()));
        if (!fits(terminated.size())) return room("terminated", cols(terminated.size()));
        if (every && !fits(truncated.size())) return room("truncated", cols(truncated.size()));
        if (every && !fits(slots.size())) return room("slots", slots.size());
        return {};
    }
};

/// A uniform experience-replay ring buffer: (state, action, reward, next
/// state, terminated, truncated). All storage is allocated at construction,
/// one record per transition (the observation, the next observation, the
/// reward, the actions and the flags side by side, so that a sampled
/// transition is one or two cache lines to fetch rather than one or two per
/// field); push() overwrites the oldest transition once full; sample()
/// draws uniformly with replacement using the generator it is given.
/// Neither allocates.
///
/// `Action` is the type of the stored action values: std::int32_t indices
/// for discrete learners (one per head: a single index for a joint action
/// space, one per function for a factored one; must be >= 0), or a floating
/// type for continuous ones (one value per dimension; must be finite).
template <typename T = float, typename Action = std::int32_t>
class replay_buffer {
public:
    using batch = replay_batch<T, Action>;
    using action_type = Action;

    /// The largest capacity, observation size and action size a buffer takes.
    static constexpr std::size_t max_capacity = 100'000'000;
    static constexpr std::size_t max_observation_size = std::size_t{1} << 20;
    static constexpr std::size_t max_action_size = std::size_t{1} << 10;

    /// Throws config_error for a zero capacity or size, capacity above 10^8
    /// (max_capacity), or a size above max_observation_size or max_action_size.
    replay_buffer(std::size_t capacity, std::size_t observation_size, std::size_t action_size = 1)
        : capacity_(checked("capacity", capacity, max_capacity)),
          observation_size_(checked("observation_size", observation_size, max_observation_size)),
          action_size_(checked("action_size", action_size, max_action_size)),
          stride_(record_values(observation_size_, action_size_)),
          records_(shape2{capacity_, stride_}) {}

    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] bool full() const noexcept { return size_ == capacity_; }
    [[nodiscard]] std::size_t observation_size() const noexcept { return observation_size_; }
    [[nodiscard]] std::size_t action_size() const noexcept { return action_size_; }
    /// Transitions pushed since construction or clear(), including overwritten ones.
    [[nodiscard]] std::uint64_t pushed() const noexcept { return pushed_; }

    /// Stores one transition, overwriting the oldest when full. Throws
    /// rlscale::error naming the field for a wrong size, a negative action or
    /// a non-finite value, and then stores nothing.
    void push(std::span<const T> observation, std::span<const Action> action, double reward,
              std::span<const T> next_observation, bool terminated, bool truncated = false) {
        check_size("observation", observation.size(), observation_size_);
        check_size("next_observation", next_observation.size(), observation_size_);
        check_size("action", action.size(), action_size_);
        check_finite("observation", observation);
        check_finite("next_observation", next_observation);
        for (std::size_t i = 0; i < action.size(); ++i) {
            if constexpr (std::is_integral_v<Action>) {
                if (action[i] < 0) {
                    throw error("replay_buffer.push: action[" + std::to_string(i) + "] is " + std::to_string(action[i]) +
                                ", must be >= 0");
                }
            } else if (!std::isfinite(action[i])) {
                throw error("replay_buffer.push: action[" + std::to_string(i) + "] is " + std::to_string(action[i]) +
                            ", must be finite");
            }
        }
        // Checked as stored: 1e39 is a finite double but an infinite float.
        if (!std::isfinite(reward) || !std::isfinite(static_cast<T>(reward))) {
            throw error("replay_buffer.push: reward is " + format_number(reward) + ", must be finite as the buffer's " +
                        (sizeof(T) == 4 ? "float" : "double"));
        }
        const std::size_t row = next_;
        std::copy(observation.begin(), observation.end(), observation_at(row));
        std::copy(next_observation.begin(), next_observation.end(), next_observation_at(row));
        reward_at(row) = static_cast<T>(reward);
        for (std::size_t i = 0; i < action_size_; ++i) set_action(row, i, action[i]);
        set_flags(row, static_cast<std::uint8_t>((terminated ? 1u : 0u) | (truncated ? 2u : 0u)));
        next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
        if (size_ < capacity_) ++size_;
        ++pushed_;
    }

    /// Convenience for a single action value.
    void push(std::span<const T> observation, Action action, double reward, std::span<const T> next_observation,
              bool terminated, bool truncated = false) {
        push(observation, std::span<const Action>(&action, 1), reward, next_observation, terminated, truncated);
    }

    /// Draws `n` transitions uniformly with replacement into `out`'s leading
    /// columns. Throws rlscale::error if the buffer is empty, `n` exceeds the
    /// batch's capacity or the batch was sized for other shapes (any array,
    /// `slots` and `truncated` included, too small for `n`: see
    /// replay_batch::room_error), and then writes nothing.
    template <std::uniform_random_bit_generator Gen>
    void sample(std::size_t n, Gen& gen, batch& out) const {
        if (size_ == 0) throw error("replay_buffer.sample: the buffer is empty");
        if (n > out.capacity()) {
            throw error("replay_buffer.sample: batch of " + std::to_string(n) + " exceeds the batch capacity " +
                        std::to_string(out.capacity()));
        }
        if (static_cast<std::size_t>(out.observations.rows()) != observation_size_ ||
            static_cast<std::size_t>(out.actions.rows()) != action_size_) {
            throw error("replay_buffer.sample: the batch holds " + std::to_string(out.observations.rows()) + " observation and " +
                        std::to_string(out.actions.rows()) + " action rows, the buffer " + std::to_string(observation_size_) + " and " +
                        std::to_string(action_size_));
        }
        // Every array is written: each must hold the n transitions (the
        // fields are public, so one may have been resized by hand).
        if (const std::string why = out.room_error(observation_size_, action_size_, n); !why.empty()) {
            throw error("replay_buffer.sample: " + why);
        }
        // Draw every slot and prefetch its row, then copy: the rows are
        // scattered over a buffer far larger than the caches, and a copy
        // that waits for each row in turn takes longer than the gradient
        // step on the batch.
        for (std::size_t j = 0; j < n; ++j) {
            out.slots[j] = static_cast<std::size_t>(uniform_index(gen, size_));
            prefetch_row(out.slots[j]);
        }
        for (std::size_t j = 0; j < n; ++j) copy_row(out.slots[j], j, out);  // copy_row rewrites the same slot
        out.size = n;
    }

    /// Copies transition `i` (0 = oldest still stored) into column `column`
    /// of `out`. Throws rlscale::error, writing nothing, for an `i` not
    /// stored or a batch whose arrays are of other shapes or do not reach
    /// `column`.
    void get(std::size_t i, std::size_t column, batch& out) const {
        if (i >= size_) throw error("replay_buffer.get: index " + std::to_string(i) + " >= size " + std::to_string(size_));
        if (column >= out.capacity()) throw error("replay_buffer.get: column " + std::to_string(column) + " beyond the batch");
        if (const std::string why = out.room_error(observation_size_, action_size_, column + 1); !why.empty()) {
            throw error("replay_buffer.get: " + why);
        }
        copy_row((oldest() + i) % capacity_, column, out);
    }

    /// Forgets every transition (storage is kept).
    void clear() noexcept { size_ = next_ = 0, pushed_ = 0; }

    /// Appends the ring's position and the stored transitions, in slot
    /// order, to `w` (a learner's training state; sampling draws slots, so
    /// the order is what makes a restored buffer sample the same rows).
    void write_state(rlscale::detail::binary_writer& w) const {
        w.put(static_cast<std::uint64_t>(size_));
        w.put(static_cast<std::uint64_t>(next_));
        w.put(pushed_);
        // Field by field, each in slot order (an array per field, the
        // format from before the records), staged through a fixed array so
        // that the writer sees few large writes.
        const std::size_t n = size_;
        const std::size_t values = observation_size_ * sizeof(T);
        const std::size_t actions = action_size_ * sizeof(Action);
        put_field(w, n, values, [this](std::size_t row) { return bytes_of(observation_at(row)); });
        put_field(w, n, values, [this](std::size_t row) { return bytes_of(next_observation_at(row)); });
        put_field(w, n, actions, [this](std::size_t row) { return bytes_at(row); });
        put_field(w, n, sizeof(T), [this](std::size_t row) { return bytes_of(&reward_at(row)); });
        put_field(w, n, 1, [this, actions](std::size_t row) { return bytes_at(row) + actions; });
    }

    /// Reads what write_state wrote for a buffer of this shape, replacing
    /// the contents. Every value is checked as push() checks it, and the
    /// ring's position against the capacity; with integral actions and an
    /// `action_count`, each action must also be below it (the learner's
    /// choices per head). A bad value throws checkpoint_error naming it, and
    /// the buffer is then left empty (read into a fresh buffer to keep the
    /// old contents on failure).
    void read_state(rlscale::detail::binary_reader& r, std::size_t action_count = 0) {
        try {
            const auto size = r.get<std::uint64_t>("size");
            const auto next = r.get<std::uint64_t>("next");
            const auto pushed = r.get<std::uint64_t>("pushed");
            if (size > capacity_) {
                throw checkpoint_error(r.name("size"), std::to_string(size) + " transitions, the capacity is " + std::to_string(capacity_));
            }
            if (size < capacity_ ? next != size : next >= capacity_) {
                throw checkpoint_error(r.name("next"), "is " + std::to_string(next) + ", which " + std::to_string(size) +
                                                           " stored transitions in a ring of " + std::to_string(capacity_) + " cannot have");
            }
            if (pushed < size) {
                throw checkpoint_error(r.name("pushed"), "is " + std::to_string(pushed) + ", fewer than the " + std::to_string(size) + " stored");
            }
            const auto n = static_cast<std::size_t>(size);
            clear();
            // Each field whole, as write_state wrote it (so a state that
            // ends early is refused naming the field it ends in), checked as
            // push() checks, in the order of the fields (the same value named
            // first as before the records), then placed in the records.
            const std::size_t values = observation_size_ * sizeof(T);
            const std::size_t actions = action_size_ * sizeof(Action);
            const std::string_view observations = r.take_bytes(n * values, "observations");
            const std::string_view next_observations = r.take_bytes(n * values, "next_observations");
            const std::string_view action_bytes = r.take_bytes(n * actions, "actions");
            const std::string_view rewards = r.take_bytes(n * sizeof(T), "rewards");
            const std::string_view flags = r.take_bytes(n, "flags");
            const auto finite = [&r](const char* field, std::string_view bytes) {
                for (std::size_t i = 0; i < bytes.size() / sizeof(T); ++i) {
                    if (!std::isfinite(value_at<T>(bytes, i))) {
                        throw checkpoint_error(r.name(field) + "[" + std::to_string(i) + "]", "is not finite");
                    }
                }
            };
            finite("observations", observations);
            finite("next_observations", next_observations);
            finite("rewards", rewards);
            for (std::size_t i = 0; i < n * action_size_; ++i) {
                const Action a = value_at<Action>(action_bytes, i);
                bool ok = false;
                if constexpr (std::is_integral_v<Action>) {
                    ok = a >= 0 && (action_count == 0 || static_cast<std::size_t>(a) < action_count);
                } else {
                    ok = std::isfinite(a);
                }
                if (!ok) {
                    throw checkpoint_error(r.name("actions") + "[" + std::to_string(i) + "]",
                                           "is " + std::to_string(a) +
                                               (action_count == 0 ? std::string(", which push() refuses")
                                                                  : ", must be in [0, " + std::to_string(action_count) + ")"));
                }
            }
            for (std::size_t i = 0; i < n; ++i) {
                const auto f = static_cast<std::uint8_t>(flags[i]);
                if (f > 3) throw checkpoint_error(r.name("flags") + "[" + std::to_string(i) + "]", "is " + std::to_string(f) + ", not a pair of flags");
            }
            for (std::size_t row = 0; row < n; ++row) {
                std::memcpy(observation_at(row), observations.data() + row * values, values);
                std::memcpy(next_observation_at(row), next_observations.data() + row * values, values);
                std::memcpy(&reward_at(row), rewards.data() + row * sizeof(T), sizeof(T));
                std::memcpy(bytes_at(row), action_bytes.data() + row * actions, actions);
                bytes_at(row)[actions] = static_cast<unsigned char>(flags[row]);
            }
            size_ = n;
            next_ = static_cast<std::size_t>(next);
            pushed_ = pushed;
        } catch (...) {
            clear();
            throw;
        }
    }

private:
    using shape2 = std::array<std::size_t, 2>;

    static std::size_t checked(const char* field, std::size_t v, std::size_t max) {
        check_fields("replay_buffer").in(field, v, 1, max);
        return v;
    }
    static void check_size(const char* field, std::size_t got, std::size_t want) {
        if (got != want) {
            throw error(std::string("replay_buffer.push: ") + field + " has " + std::to_string(got) + " values, expected " +
                        std::to_string(want));
        }
    }
    static void check_finite(const char* field, std::span<const T> v) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!std::isfinite(v[i])) {
                throw error(std::string("replay_buffer.push: ") + field + "[" + std::to_string(i) + "] is " +
                            std::to_string(v[i]) + ", must be finite");
            }
        }
    }
    [[nodiscard]] std::size_t oldest() const noexcept { return size_ < capacity_ ? 0 : next_; }

    // ---- the records ------------------------------------------------------
    // A transition's record: the observation, the next observation and the
    // reward as values of T, then the actions and the flags' byte in raw
    // bytes (memcpy'd: an Action need not be a T), rounded up to whole
    // values of T so that every record starts aligned for T and Action.
    [[nodiscard]] static constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }
    [[nodiscard]] static std::size_t actions_offset(std::size_t observation_size) noexcept {
        return round_up((2 * observation_size + 1) * sizeof(T), alignof(Action));
    }
    [[nodiscard]] static std::size_t record_values(std::size_t observation_size, std::size_t action_size) noexcept {
        const std::size_t bytes = actions_offset(observation_size) + action_size * sizeof(Action) + 1;
        return round_up(round_up(bytes, std::max(alignof(T), alignof(Action))), sizeof(T)) / sizeof(T);
    }
    [[nodiscard]] T* observation_at(std::size_t row) noexcept { return records_.data() + row * stride_; }
    [[nodiscard]] const T* observation_at(std::size_t row) const noexcept { return records_.data() + row * stride_; }
    [[nodiscard]] T* next_observation_at(std::size_t row) noexcept { return observation_at(row) + observation_size_; }
    [[nodiscard]] const T* next_observation_at(std::size_t row) const noexcept { return observation_at(row) + observation_size_; }
    [[nodiscard]] T& reward_at(std::size_t row) noexcept { return observation_at(row)[2 * observation_size_]; }
    [[nodiscard]] const T& reward_at(std::size_t row) const noexcept { return observation_at(row)[2 * observation_size_]; }
    [[nodiscard]] unsigned char* bytes_at(std::size_t row) noexcept {
        return reinterpret_cast<unsigned char*>(observation_at(row)) + actions_offset(observation_size_);
    }
    [[nodiscard]] const unsigned char* bytes_at(std::size_t row) const noexcept {
        return reinterpret_cast<const unsigned char*>(observation_at(row)) + actions_offset(observation_size_);
    }
    [[nodiscard]] Action action_at(std::size_t row, std::size_t i) const noexcept {
        Action a;
        std::memcpy(&a, bytes_at(row) + i * sizeof(Action), sizeof a);
        return a;
    }
    void set_action(std::size_t row, std::size_t i, Action a) noexcept { std::memcpy(bytes_at(row) + i * sizeof(Action), &a, sizeof a); }
    [[nodiscard]] std::uint8_t flags_at(std::size_t row) const noexcept { return bytes_at(row)[action_size_ * sizeof(Action)]; }
    void set_flags(std::size_t row, std::uint8_t f) noexcept { bytes_at(row)[action_size_ * sizeof(Action)] = f; }

    [[nodiscard]] static const unsigned char* bytes_of(const T* p) noexcept { return reinterpret_cast<const unsigned char*>(p); }
    /// Value `i` of an array of V held in `bytes` (which need not be aligned for V).
    template <typename V>
    [[nodiscard]] static V value_at(std::string_view bytes, std::size_t i) noexcept {
        V v;
        std::memcpy(&v, bytes.data() + i * sizeof(V), sizeof v);
        return v;
    }

    /// Writes one field of the first `n` records, `width` bytes each (at
    /// `at(row)`), in slot order, staged through a fixed array.
    template <typename At>
    static void put_field(rlscale::detail::binary_writer& w, std::size_t n, std::size_t width, At at) {
        std::array<char, 1 << 16> stage;
        std::size_t filled = 0;
        for (std::size_t row = 0; row < n; ++row) {
            if (filled + width > stage.size()) {
                w.put_all(std::span<const char>(stage.data(), filled));
                filled = 0;
            }
            if (width > stage.size()) {  // a row wider than the stage: written on its own
                w.put_all(std::span<const char>(reinterpret_cast<const char*>(at(row)), width));
                continue;
            }
            std::memcpy(stage.data() + filled, at(row), width);
            filled += width;
        }
        if (filled > 0) w.put_all(std::span<const char>(stage.data(), filled));
    }

    static void prefetch(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(p);
#else
        (void)p;
#endif
    }
    void prefetch_row(std::size_t row) const noexcept {
        // A record spans a cache line or a few: touch one byte of each.
        const auto* first = reinterpret_cast<const unsigned char*>(observation_at(row));
        const std::size_t bytes = stride_ * sizeof(T);
        for (std::size_t at = 0; at < bytes; at += 64) prefetch(first + at);
        prefetch(first + bytes - 1);
    }

    void copy_row(std::size_t row, std::size_t j, batch& out) const noexcept {
        out.slots[j] = row;
        const auto col = static_cast<Eigen::Index>(j);
        const T* obs = observation_at(row);
        const T* next = next_observation_at(row);
        for (std::size_t i = 0; i < observation_size_; ++i) {
            out.observations(static_cast<Eigen::Index>(i), col) = obs[i];
            out.next_observations(static_cast<Eigen::Index>(i), col) = next[i];
        }
        for (std::size_t i = 0; i < action_size_; ++i) out.actions(static_cast<Eigen::Index>(i), col) = action_at(row, i);
        out.rewards(col) = reward_at(row);
        const std::uint8_t flags = flags_at(row);
        out.terminated(col) = (flags & 1u) != 0 ? T(1) : T(0);
        out.truncated(col) = (flags & 2u) != 0 ? T(1) : T(0);
    }

    std::size_t capacity_;
    std::size_t observation_size_;
    std::size_t action_size_;
    std::size_t stride_;      ///< values of T per record
    xt::xtensor<T, 2> records_;  ///< capacity_ × stride_: one record per row, its values left uninitialised until pushed
    std::size_t next_ = 0;
    std::size_t size_ = 0;
    std::uint64_t pushed_ = 0;
};

}  // namespace rlscale::rl
