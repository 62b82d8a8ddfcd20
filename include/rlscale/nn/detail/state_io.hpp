#pragma once

// The pieces of a learner's training state that every learner has: value
// vectors (parameters, moments) read back finite, an Adam optimiser's whole
// state, and the layers of a network, checked against the restoring
// learner's. Used by ddpg, dqn and ppo save_training_state /
// load_training_state.

#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/layer_spec.hpp>

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace rlscale::nn::detail {

/// Appends the values of `v` (a vector or a map of one).
template <typename V>
void put_values(rlscale::detail::binary_writer& w, const V& v) {
    using T = typename V::Scalar;
    w.put_all(std::span<const T>(v.data(), static_cast<std::size_t>(v.size())));
}

/// Reads v.size() values into `v`; one that is not finite throws
/// checkpoint_error naming field[i].
template <typename T>
void get_finite(rlscale::detail::binary_reader& r, Eigen::Matrix<T, Eigen::Dynamic, 1>& v, const std::string& field) {
    r.get_all(std::span<T>(v.data(), static_cast<std::size_t>(v.size())), field);
    for (Eigen::Index i = 0; i < v.size(); ++i) {
        if (!std::isfinite(v(i))) throw checkpoint_error(r.name(field) + "[" + std::to_string(i) + "]", "is not finite");
    }
}

/// Appends an Adam optimiser's state: its rounding seed, learning rate,
/// step count and both moments.
template <typename T>
void put_adam(rlscale::detail::binary_writer& w, const adam<T>& opt) {
    w.put(opt.config().rounding_seed);
    w.put(opt.config().lr);
    w.put(opt.step_count());
    put_values(w, opt.first_moment());
    put_values(w, opt.second_moment());
}

/// `opt` with the state put_adam wrote (the caller's optimiser is left as
/// it is). Refused with checkpoint_error naming `field`.part: with
/// bfloat16 moments a rounding seed other than the optimiser's (it keys
/// their rounding), a learning rate not finite and > 0, a moment not
/// finite, a negative second moment, a negative step count.
template <typename T>
[[nodiscard]] adam<T> get_adam(rlscale::detail::binary_reader& r, adam<T> opt, const std::string& field) {
    const auto seed = r.get<std::uint64_t>(field + ".rounding_seed");
    if (opt.config().moments == moment_storage::bfloat16 && seed != opt.config().rounding_seed) {
        throw checkpoint_error(r.name(field + ".rounding_seed"),
                               "is " + std::to_string(seed) + ", the learner's " + std::to_string(opt.config().rounding_seed) +
                                   " (bfloat16 moments round with it: build the learner with the seed of the one saved)");
    }
    const double lr = r.get<double>(field + ".lr");
    if (!(std::isfinite(lr) && lr > 0)) {
        throw checkpoint_error(r.name(field + ".lr"), "is " + format_number(lr) + ", must be finite and > 0");
    }
    try {
        opt.set_lr(lr);  // and finite steps in T: lr / (1 - beta1)
    } catch (const config_error& e) {
        throw checkpoint_error(r.name(field + ".lr"), "is " + format_number(lr) + ": " + e.detail());
    }
    const auto t = r.get<std::int64_t>(field + ".step_count");
    typename adam<T>::vector m(opt.parameter_count());
    typename adam<T>::vector v(opt.parameter_count());
    get_finite(r, m, field + ".m");
    get_finite(r, v, field + ".v");
    for (Eigen::Index i = 0; i < v.size(); ++i) {
        if (v(i) < 0) throw checkpoint_error(r.name(field + ".v") + "[" + std::to_string(i) + "]", "is negative");
    }
    try {
        opt.restore(t, m, v);
    } catch (const error& e) {
        throw checkpoint_error(r.name(field), e.what());
    }
    return opt;
}

/// Reads a generator's state (rng::state()); all zero, which xoshiro256++
/// never reaches, throws checkpoint_error naming `field`.
[[nodiscard]] inline rng get_generator(rlscale::detail::binary_reader& r, std::string_view field) {
    const auto s = r.get<std::array<std::uint64_t, 4>>(field);
    if (s == std::array<std::uint64_t, 4>{}) throw checkpoint_error(r.name(field), "is all zero, which xoshiro256++ never reaches");
    return rng::from_state(s[0], s[1], s[2], s[3]);
}

/// Appends each layer's (inputs, outputs, activation) to `out`.
inline void add_layer_shapes(std::vector<std::uint64_t>& out, const std::vector<layer_spec>& layers) {
    for (const layer_spec& l : layers) {
        out.push_back(static_cast<std::uint64_t>(l.in));
        out.push_back(static_cast<std::uint64_t>(l.out));
        out.push_back(static_cast<std::uint64_t>(l.act));
    }
}

/// A shape of add_layer_shapes triples as "[in→out, in→out, ...]"; with one
/// value before the triples (where the action joins a DDPG critic), "[action
/// at layer k: ...]".
[[nodiscard]] inline std::string describe_shape(const std::vector<std::uint64_t>& shape) {
    std::string out;
    for (std::size_t i = shape.size() % 3; i + 1 < shape.size(); i += 3) {
        out += (out.empty() ? "" : ", ") + std::to_string(shape[i]) + "→" + std::to_string(shape[i + 1]);
    }
    if (shape.size() % 3 == 1) out = "action at layer " + std::to_string(shape[0]) + ": " + out;
    return "[" + out + "]";
}

/// Appends a shape: its length, then its values.
inline void put_shape(rlscale::detail::binary_writer& w, const std::vector<std::uint64_t>& shape) {
    w.put(static_cast<std::uint64_t>(shape.size()));
    w.put_all(std::span<const std::uint64_t>(shape));
}

/// Reads a shape put_shape wrote and throws checkpoint_error naming `field`
/// unless it equals `expected` (`hint` says which settings make it).
inline void check_shape(rlscale::detail::binary_reader& r, const std::string& field, const std::vector<std::uint64_t>& expected,
                        std::string_view hint) {
    const auto n = r.get<std::uint64_t>(field);
    if (n > 4096 || n * sizeof(std::uint64_t) > r.remaining()) {
        throw checkpoint_error(r.name(field), "declares " + std::to_string(n) + " values, more than the data holds");
    }
    std::vector<std::uint64_t> saved(static_cast<std::size_t>(n));
    r.get_all(std::span<std::uint64_t>(saved), field);
    if (saved != expected) {
        throw checkpoint_error(r.name(field),
                               "are " + describe_shape(saved) + ", the learner's " + describe_shape(expected) + " (" + std::string(hint) + ")");
    }
}

/// Reads a std::uint64_t and throws checkpoint_error naming `field` unless
/// it is `want` (`why` follows the expected value in the message).
inline void expect_value(rlscale::detail::binary_reader& r, std::string_view field, std::uint64_t want, std::string_view why) {
    const auto got = r.get<std::uint64_t>(field);
    if (got != want) {
        throw checkpoint_error(r.name(field), "is " + std::to_string(got) + ", expected " + std::to_string(want) + std::string(why));
    }
}

/// Reads the rest of the payload, from where `r` stands, into `buffer`
/// (a replay buffer or a rollout: its read_state, with `action_count`),
/// which must take all of it. Errors name `prefix` + the field.
template <typename Buffer>
void read_tail(std::string_view payload, const rlscale::detail::binary_reader& r, Buffer& buffer, const std::string& prefix,
               std::size_t action_count) {
    rlscale::detail::binary_reader tail(payload.substr(payload.size() - r.remaining()), prefix);
    buffer.read_state(tail, action_count);
    if (tail.remaining() != 0) throw checkpoint_error(prefix + "end", std::to_string(tail.remaining()) + " bytes after it");
}

/// Bytes put_shape puts for `shape`.
[[nodiscard]] inline std::uint64_t shape_bytes(const std::vector<std::uint64_t>& shape) noexcept {
    return sizeof(std::uint64_t) * (1 + static_cast<std::uint64_t>(shape.size()));
}

/// Bytes put_adam puts for `opt`.
template <typename T>
[[nodiscard]] std::uint64_t adam_bytes(const adam<T>& opt) noexcept {
    return sizeof(opt.config().rounding_seed) + sizeof(opt.config().lr) + sizeof(std::int64_t) +
           2 * static_cast<std::uint64_t>(opt.parameter_count()) * sizeof(T);
}

/// The most bytes a replay buffer's write_state puts (the buffer full):
/// its size, next slot and pushed count, then per transition two
/// observations, an action, a reward and a flag byte.
template <typename T, typename Action, typename Buffer>
[[nodiscard]] std::uint64_t replay_state_bytes(const Buffer& b) noexcept {
    return 3 * sizeof(std::uint64_t) +
           static_cast<std::uint64_t>(b.capacity()) *
               (2 * static_cast<std::uint64_t>(b.observation_size()) * sizeof(T) + static_cast<std::uint64_t>(b.action_size()) * sizeof(Action) +
                sizeof(T) + 1);
}

/// The most bytes a rollout's write_state puts (full, with its advantages
/// and returns): its size and a flag byte, then per step both observations,
/// the action and eight values.
template <typename T, typename Action, typename Rollout>
[[nodiscard]] std::uint64_t rollout_state_bytes(const Rollout& r) noexcept {
    return sizeof(std::uint64_t) + 1 +
           static_cast<std::uint64_t>(r.capacity()) *
               ((static_cast<std::uint64_t>(r.actor_observation_size()) + static_cast<std::uint64_t>(r.critic_observation_size()) + 8) * sizeof(T) +
                static_cast<std::uint64_t>(r.action_width()) * sizeof(Action));
}

/// learner.save_training_state(stream) into the file at `path`, replacing
/// it only once the new one is on disk (a crash leaves the old or the new).
/// The state goes to the file as it is written, not through a copy.
template <typename Learner>
void save_state_file(const Learner& learner, const std::filesystem::path& path) {
    rlscale::detail::write_file_atomically(path, "training state", [&learner](std::ostream& out) { learner.save_training_state(out); });
}

/// learner.load_training_state(stream, limits...) from the file at `path`;
/// a file that cannot be opened throws rlscale::error naming `who` and the
/// path. The load reads the frame's header first and checks the file's
/// size against the length it declares before reading the rest.
template <typename Learner, typename... Limits>
void load_state_file(Learner& learner, const std::filesystem::path& path, std::string_view who, const Limits&... limits) {
    // Not a device or a pipe: /dev/zero would be read until memory runs
    // out, a FIFO without a writer would block the open.
    std::error_code ec;
    const std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
        throw error(std::string(who) + "::load_training_state: '" + path.string() +
                    "' is not a regular file, so not a training state file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw error(std::string(who) + "::load_training_state: cannot open '" + path.string() + "'");
    learner.load_training_state(in, limits...);
}

}  // namespace rlscale::nn::detail
