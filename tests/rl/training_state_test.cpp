// Training state of the DQN and PPO learners (DDPG's is in ddpg_test.cpp):
// a learner restored from it acts and trains on bit for bit as the one
// saved, mid-rollout and with a wrapped replay too; and every refusal (a
// corrupted, truncated or foreign file, another learner's shape, a value
// training would refuse, forged under a recomputed checksum) names its
// field and leaves the learner as it was.
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/rollout_buffer.hpp>

#include <doctest/doctest.h>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <sstream>
#include <streambuf>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace test_rl_training_state {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

/// A saved state split into its frame and payload, so that a test can
/// change the payload and frame it again with a recomputed checksum (as a
/// writer with a bug would), which the checksum cannot catch.
struct framed {
    std::string bytes;
    std::size_t header;  // magic, version, byte order, value size, length

    framed(std::string b, std::size_t magic_size) : bytes(std::move(b)), header(magic_size + 4 + 4 + 4 + 8) {}
    [[nodiscard]] std::string payload() const { return bytes.substr(header, bytes.size() - header - 8); }
    [[nodiscard]] std::string with_payload(const std::string& p) const {
        REQUIRE(p.size() == bytes.size() - header - 8);
        std::string out = bytes.substr(0, header) + p;
        const std::uint64_t h = rlscale::detail::fnv1a64(p);
        out.append(reinterpret_cast<const char*>(&h), sizeof h);
        return out;
    }
    /// The state with value `v` written at `offset` into the payload.
    template <typename V>
    [[nodiscard]] std::string forged(std::size_t offset, V v) const {
        std::string p = payload();
        REQUIRE(offset + sizeof v <= p.size());
        std::memcpy(p.data() + offset, &v, sizeof v);
        return with_payload(p);
    }
};

template <typename Learner>
std::string saved_state(const Learner& l) {
    std::stringstream out;
    l.save_training_state(out);
    return out.str();
}

template <typename Learner>
void refused(Learner& l, const std::string& data, const char* message) {
    std::istringstream in(data);
    CHECK_THROWS_WITH_AS(l.load_training_state(in), doctest::Contains(message), checkpoint_error);
}

// ---------------------------------------------------------------- DQN

dqn_config dqn_small() {
    dqn_config c;
    c.hidden = {16, 16};
    c.gamma = 0.9;
    c.adam.lr = 1e-3;
    c.batch_size = 16;
    c.replay_capacity = 60;  // wraps during the runs below
    c.learning_starts = 32;
    c.train_frequency = 2;
    c.epsilon = {.start = 1.0, .end = 0.05, .decay = 100};
    return c;
}

/// A corridor of 6 cells (actions left and right, terminal at both ends,
/// cut after 30 steps) whose state is the copyable struct itself.
struct corridor {
    int cell = 2;
    int t = 0;
    [[nodiscard]] std::array<float, 6> observe() const {
        std::array<float, 6> o{};
        o[static_cast<std::size_t>(cell)] = 1;
        return o;
    }
    /// One explore/observe step of `agent`; returns the action.
    std::int32_t step(dqn<float>& agent) {
        const auto o = observe();
        std::array<std::int32_t, 1> a{};
        agent.explore(o, a);
        ++t;
        cell += a[0] == 0 ? -1 : 1;
        const bool terminated = cell < 0 || cell > 5;
        const double reward = cell > 5 ? 1.0 : (cell < 0 ? 0.1 : 0.0);
        cell = std::clamp(cell, 0, 5);
        const bool truncated = !terminated && t >= 30;
        agent.observe(o, a, reward, observe(), terminated, truncated);
        if (terminated || truncated) *this = corridor{};
        return a[0];
    }
};

void check_same(dqn<float>& a, dqn<float>& b) {
    CHECK(b.online().parameters() == a.online().parameters());
    CHECK(b.target().parameters() == a.target().parameters());
    CHECK(b.optimizer().first_moment() == a.optimizer().first_moment());
    CHECK(b.optimizer().second_moment() == a.optimizer().second_moment());
    CHECK(b.optimizer().step_count() == a.optimizer().step_count());
    CHECK(b.optimizer().config().lr == a.optimizer().config().lr);
    CHECK(b.steps() == a.steps());
    CHECK(b.updates() == a.updates());
    CHECK(b.epsilon() == a.epsilon());
    CHECK(b.replay().size() == a.replay().size());
    CHECK(b.replay().pushed() == a.replay().pushed());
}

constexpr q_layout corridor_layout{.heads = 1, .actions_per_head = 2};

}  // namespace

TEST_CASE("dqn training state: an agent restored from it explores and trains on exactly as the saved one") {
    for (const auto moments : {nn::moment_storage::parameter_type, nn::moment_storage::bfloat16}) {
        CAPTURE(nn::to_string(moments));
        dqn_config c = dqn_small();
        c.adam.moments = moments;
        dqn<float> a(6, corridor_layout, c, 5);
        a.optimizer().set_lr(2e-3);  // what a schedule may change is carried
        corridor env;
        for (int t = 0; t < 130; ++t) (void)env.step(a);
        REQUIRE(a.updates() > 10);
        REQUIRE(a.replay().pushed() > a.replay().capacity());

        // Another seed: weights and generator are replaced. bfloat16
        // moments round with bits keyed by the seed, so they need the same.
        const std::uint64_t other = moments == nn::moment_storage::bfloat16 ? 5 : 99;
        dqn<float> b(6, corridor_layout, c, other);
        std::istringstream in(saved_state(a));
        b.load_training_state(in);
        check_same(a, b);
        corridor env_b = env;
        for (int t = 0; t < 120; ++t) REQUIRE(env.step(a) == env_b.step(b));
        check_same(a, b);
        CHECK(b.last_update().loss == a.last_update().loss);
    }

    // Through a file.
    dqn<float> a(6, corridor_layout, dqn_small(), 3);
    corridor env;
    for (int t = 0; t < 70; ++t) (void)env.step(a);
    // update() is public: a caller may take more gradient steps than environment steps.
    for (int u = 0; u < 60; ++u) (void)a.update();
    REQUIRE(a.updates() > a.steps());
    const auto path = std::filesystem::temp_directory_path() / ("rlscale_dqn_state_" + std::to_string(::getpid()) + ".bin");
    a.save_training_state(path);
    dqn<float> f(6, corridor_layout, dqn_small(), 4);
    f.load_training_state(path);
    check_same(a, f);
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(f.load_training_state(path), doctest::Contains("cannot open"), rlscale::error);
    // Not a regular file: refused by name before it is opened (/dev/zero
    // would be read until memory runs out, a FIFO would block the open).
    CHECK_THROWS_WITH_AS(f.load_training_state("/dev/zero"), doctest::Contains("'/dev/zero' is not a regular file"), rlscale::error);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(f.load_training_state(path), doctest::Contains("is not a regular file"), rlscale::error);
    std::filesystem::remove(path);
}

TEST_CASE("dqn training state: a corrupted, truncated or foreign state is refused by name and changes nothing") {
    const dqn_config c = dqn_small();
    dqn<float> a(6, corridor_layout, c, 5);
    corridor env;
    for (int t = 0; t < 80; ++t) (void)env.step(a);
    REQUIRE(a.replay().full());
    const std::string bytes = saved_state(a);

    dqn<float> b(6, corridor_layout, c, 6);
    const Eigen::VectorXf before = b.online().parameters();
    std::string flipped = bytes;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
    refused(b, flipped, "training_state.checksum");
    refused(b, bytes.substr(0, bytes.size() - 1), "training_state.length");
    refused(b, bytes + "x", "training_state.length");
    refused(b, bytes.substr(0, 10), "training_state.magic: the data ends inside it (10 of its 27 bytes; truncated)");
    refused(b, "", "training_state.magic: the data ends inside it");
    refused(b, "rlscale.dqn.trainin", "training_state.magic: the data ends inside it");
    refused(b, "rlscale.ddpg.training_state\n and more", "training_state.magic: not a DQN training state");

    // Other learners' shapes.
    dqn<float> wider(7, corridor_layout, c, 1);
    refused(wider, bytes, "training_state.observation_size: is 6, expected 7");
    dqn<float> three(6, {.heads = 1, .actions_per_head = 3}, c, 1);
    refused(three, bytes, "training_state.actions_per_head: is 2, expected 3");
    dqn_config narrower = c;
    narrower.hidden = {16, 8};
    dqn<float> narrow(6, corridor_layout, narrower, 1);
    refused(narrow, bytes, "training_state.layers: are [6→16, 16→16, 16→2], the learner's [6→16, 16→8, 8→2]");
    dqn_config smaller = c;
    smaller.replay_capacity = 50;
    dqn<float> small(6, corridor_layout, smaller, 1);
    refused(small, bytes, "training_state.replay_capacity");
    dqn<double> doubles(6, corridor_layout, c, 1);
    refused(doubles, bytes, "training_state.value_size: is 4, expected 8");
    dqn_config bf16 = c;
    bf16.adam.moments = nn::moment_storage::bfloat16;
    dqn<float> bf16_a(6, corridor_layout, bf16, 5);
    dqn<float> bf16_b(6, corridor_layout, bf16, 6);
    refused(bf16_b, saved_state(bf16_a), "training_state.adam.rounding_seed");

    // Well framed, holding what training refuses. The payload: 4 sizes, the
    // layers (a count and 9 values), 2 counters, the generator's 4 words,
    // then the online and the target network, Adam (seed, lr, step, m, v)
    // and the replay (size, next, pushed, observations, next observations,
    // actions, ...).
    const framed f(bytes, std::string_view("rlscale.dqn.training_state\n").size());
    const std::size_t P = static_cast<std::size_t>(a.online().parameter_count());
    const std::size_t online = 4 * 8 + 10 * 8 + 2 * 8 + 4 * 8;
    const std::size_t replay = online + 2 * P * 4 + 3 * 8 + 2 * P * 4;
    const std::size_t n = a.replay().size();
    refused(b, f.forged(online + 5 * 4, std::numeric_limits<float>::quiet_NaN()), "training_state.online[5]: is not finite");
    refused(b, f.forged(online + 2 * P * 4 + 2 * 8, std::int64_t{-1}), "training_state.adam");
    refused(b, f.forged(online + 2 * P * 4 + 3 * 8 + P * 4 + 7 * 4, -1.0F), "training_state.adam.v[7]: is negative");
    refused(b, f.forged(replay + 3 * 8 + 2 * n * 6 * 4 + 3 * 4, std::int32_t{2}), "training_state.replay.actions[3]: is 2, must be in [0, 2)");
    refused(b, f.forged(replay + 2 * 8, std::uint64_t{1'000'000}), "training_state.replay.pushed");
    refused(b, f.forged(online - 4 * 8, std::array<std::uint64_t, 4>{}), "training_state.generator: is all zero");
    // The forging itself is sound: the payload framed again unchanged loads.
    {
        dqn<float> ok(6, corridor_layout, c, 8);
        std::istringstream in(f.with_payload(f.payload()));
        ok.load_training_state(in);
        check_same(a, ok);
    }

    CHECK(b.online().parameters() == before);
    CHECK(b.steps() == 0);
    CHECK(b.updates() == 0);
    CHECK(b.replay().empty());
    CHECK(b.optimizer().step_count() == 0);
}

// ---------------------------------------------------------------- PPO

namespace {

ppo_config ppo_small() {
    ppo_config c;
    c.actor_hidden = {8};
    c.critic_hidden = {8};
    c.rollout_steps = 16;
    c.minibatch_size = 4;
    c.epochs = 2;
    c.actor_lr = 1e-2;
    c.critic_lr = 1e-2;
    c.entropy_coef = 0.01;
    c.anneal_updates = 6;  // the rates change from update to update
    return c;
}

/// An environment of random observations from its own generator, copyable
/// so that two learners can be driven through the same steps. Episodes end
/// by termination or truncation now and then, and every 13th step does not
/// begin where the last one ended (observe() cuts the step before it).
struct noise_env {
    rng gen{17};
    std::vector<float> o = std::vector<float>(3, 0.25F);
    int t = 0;

    template <typename Learner>
    std::vector<typename Learner::value_type> step(Learner& agent) {
        std::vector<typename Learner::value_type> a(agent.action_width());
        agent.explore(o, a);
        std::vector<float> next(o.size());
        for (auto& x : next) x = static_cast<float>(uniform(gen, -1, 1));
        double reward = 0;
        for (std::size_t i = 0; i < a.size(); ++i) reward += static_cast<double>(a[i]) * o[i % o.size()];
        agent.observe(o, a, reward, next, t % 7 == 6, t % 11 == 10);
        ++t;
        o = next;
        if (t % 13 == 0) o[0] += 0.5F;
        return a;
    }
};

template <typename Learner>
void check_same(Learner& a, Learner& b) {
    CHECK(b.actor().parameters() == a.actor().parameters());
    CHECK(b.critic().parameters() == a.critic().parameters());
    CHECK(b.log_std() == a.log_std());
    CHECK(b.actor_optimizer().first_moment() == a.actor_optimizer().first_moment());
    CHECK(b.critic_optimizer().second_moment() == a.critic_optimizer().second_moment());
    CHECK(b.actor_optimizer().config().lr == a.actor_optimizer().config().lr);
    CHECK(b.critic_optimizer().step_count() == a.critic_optimizer().step_count());
    CHECK(b.steps() == a.steps());
    CHECK(b.rollouts() == a.rollouts());
    CHECK(b.stats().updates == a.stats().updates);
    CHECK(b.own_rollout().size() == a.own_rollout().size());
    CHECK(b.own_rollout().last_open() == a.own_rollout().last_open());
}

/// Drives a learner made by make(5) through two updates and 9 steps of the
/// third rollout, restores its state into one made by make(other_seed), and
/// drives both through the same 60 steps more.
template <typename Make>
void check_resume(Make make, std::uint64_t other_seed) {
    auto a = make(5);
    noise_env env;
    for (int t = 0; t < 41; ++t) (void)env.step(a);
    REQUIRE(a.rollouts() == 2);
    REQUIRE(a.own_rollout().size() == 9);
    auto b = make(other_seed);
    std::istringstream in(saved_state(a));
    b.load_training_state(in);
    check_same(a, b);
    noise_env env_b = env;
    for (int t = 0; t < 60; ++t) REQUIRE(env.step(a) == env_b.step(b));
    REQUIRE(a.rollouts() == 6);
    check_same(a, b);
    CHECK(b.last_update().loss == a.last_update().loss);
}

}  // namespace

TEST_CASE("ppo training state: a learner restored mid-rollout samples and trains on exactly as the saved one, discrete and continuous") {
    SUBCASE("discrete, two heads") {
        check_resume([](std::uint64_t seed) { return ppo<float, std::int32_t>(3, 3, {.heads = 2, .actions_per_head = 3}, ppo_small(), seed); },
                     77);
    }
    SUBCASE("continuous, two dimensions") {
        check_resume([](std::uint64_t seed) { return ppo<float, float>(3, 3, 2, ppo_small(), seed); }, 77);
    }
    SUBCASE("bfloat16 moments, from the same seed") {
        check_resume(
            [](std::uint64_t seed) {
                ppo_config c = ppo_small();
                c.adam_moments = nn::moment_storage::bfloat16;
                return ppo<float, float>(3, 3, 2, c, seed);
            },
            5);
    }
    SUBCASE("through a file") {
        ppo<float, float> a(3, 3, 2, ppo_small(), 5);
        noise_env env;
        for (int t = 0; t < 20; ++t) (void)env.step(a);
        const auto path = std::filesystem::temp_directory_path() / ("rlscale_ppo_state_" + std::to_string(::getpid()) + ".bin");
        a.save_training_state(path);
        ppo<float, float> f(3, 3, 2, ppo_small(), 6);
        f.load_training_state(path);
        check_same(a, f);
        std::filesystem::remove(path);
        CHECK_THROWS_WITH_AS(f.load_training_state(path), doctest::Contains("cannot open"), rlscale::error);
    }
}

TEST_CASE("ppo training state: a corrupted, truncated or foreign state is refused by name and changes nothing") {
    const q_layout layout{.heads = 2, .actions_per_head = 3};
    const ppo_config c = ppo_small();
    ppo<float, std::int32_t> a(3, 3, layout, c, 5);
    noise_env env;
    for (int t = 0; t < 21; ++t) (void)env.step(a);
    const std::size_t n = a.own_rollout().size();
    REQUIRE(n == 5);
    const std::string bytes = saved_state(a);

    ppo<float, std::int32_t> b(3, 3, layout, c, 6);
    const Eigen::VectorXf before = b.actor().parameters();
    std::string flipped = bytes;
    flipped[flipped.size() / 3] = static_cast<char>(flipped[flipped.size() / 3] ^ 0x01);
    refused(b, flipped, "training_state.checksum");
    refused(b, bytes.substr(0, bytes.size() - 8), "training_state.length");
    ppo<float, float> continuous(3, 3, 2, c, 1);
    refused(continuous, bytes, "training_state.magic: not a continuous PPO training state");
    ppo<float, std::int32_t> four(3, 3, {.heads = 2, .actions_per_head = 4}, c, 1);
    refused(four, bytes, "training_state.actions_per_head: is 3, expected 4");
    ppo<float, std::int32_t> critic_sees_more(3, 5, layout, c, 1);
    refused(critic_sees_more, bytes, "training_state.critic_observation_size: is 3, expected 5");
    ppo_config relu = c;
    relu.hidden_activation = nn::activation::relu;  // as many parameters, another network
    ppo<float, std::int32_t> other_activation(3, 3, layout, relu, 1);
    refused(other_activation, bytes, "training_state.actor_layers");
    ppo_config longer = c;
    longer.rollout_steps = 32;
    ppo<float, std::int32_t> long_rollout(3, 3, layout, longer, 1);
    refused(long_rollout, bytes, "training_state.rollout_capacity: is 16, expected 32");

    // Well framed, holding what training refuses. The rollout is the
    // payload's tail: size, the advantages flag, actor and critic
    // observations, actions, then log π, V, rewards, truncation values,
    // terminated and truncated, n values each.
    const framed f(bytes, std::string_view("rlscale.ppo.training_state\n").size());
    const std::size_t tail = 8 + 1 + n * (3 + 3) * 4 + n * 2 * 4 + 6 * n * 4;
    const std::size_t rollout = f.payload().size() - tail;
    const std::size_t actions = rollout + 9 + n * 6 * 4;
    const std::size_t terminated = actions + n * 2 * 4 + 4 * n * 4;
    refused(b, f.forged(actions + 4, std::int32_t{3}), "training_state.rollout.actions[1]: is 3, must be in [0, 3)");
    refused(b, f.forged(actions + n * 2 * 4 + 4, std::numeric_limits<float>::infinity()), "training_state.rollout.log_probs[1]: is not finite");
    // Step 4 terminated (t = 20); marked truncated too, which push() never does.
    REQUIRE(a.own_rollout().terminated()(4) == 1.0F);
    refused(b, f.forged(terminated + n * 4 + 4 * 4, 1.0F), "training_state.rollout.terminated[4]: and truncated are 1 and 1");
    refused(b, f.forged(terminated + 4, 0.5F), "training_state.rollout.terminated[1]: and truncated are 0.5 and 0");
    refused(b, f.forged(terminated - n * 4, 0.5F), "training_state.rollout.truncation_values[0]: is 0.5 on a step not truncated");
    refused(b, f.forged(rollout, std::uint64_t{17}), "training_state.rollout.size: 17 steps, the capacity is 16");
    refused(b, f.forged(rollout - 8, std::numeric_limits<double>::quiet_NaN()), "training_state.last_next_value");
    refused(b, f.forged(rollout - 8, 1e39), "training_state.last_next_value: is 1e+39, must be finite as a float");
    refused(b, f.forged(rollout + 8, std::uint8_t{2}), "training_state.rollout.advantages_ready: is 2");
    {
        ppo<float, std::int32_t> ok(3, 3, layout, c, 8);
        std::istringstream in(f.with_payload(f.payload()));
        ok.load_training_state(in);
        check_same(a, ok);
    }

    CHECK(b.actor().parameters() == before);
    CHECK(b.steps() == 0);
    CHECK(b.rollouts() == 0);
    CHECK(b.own_rollout().empty());
}

TEST_CASE("rollout_buffer state round-trips its steps, flags and computed advantages, and refuses a shape it cannot hold") {
    rollout_buffer<float, float> r(8, 2, 3, 1);
    const std::array<float, 2> ao{0.5F, -0.5F};
    const std::array<float, 3> co{1, 2, 3};
    const std::array<float, 1> act{0.25F};
    r.push(ao, co, act, -1.0, 0.5, 1.0, false, false);
    r.push(ao, co, act, -1.5, 0.25, 0.0, false, true, 0.75);
    r.push(ao, co, act, -0.5, 0.125, 2.0, true, false);
    r.compute_advantages(0.0, 0.9, 0.95);
    rlscale::detail::binary_writer w;
    r.write_state(w);
    rollout_buffer<float, float> back(8, 2, 3, 1);
    rlscale::detail::binary_reader in(w.bytes(), "rollout.");
    back.read_state(in);
    CHECK(in.remaining() == 0);
    REQUIRE(back.size() == 3);
    CHECK(back.advantages_ready());
    CHECK(back.advantages().head(3) == r.advantages().head(3));
    CHECK(back.returns().head(3) == r.returns().head(3));
    CHECK(back.truncated().head(3) == r.truncated().head(3));
    CHECK(back.truncation_values().head(3) == r.truncation_values().head(3));
    CHECK(back.critic_observations().leftCols(3) == r.critic_observations().leftCols(3));
    CHECK_FALSE(back.last_open());

    rollout_buffer<float, float> small(2, 2, 3, 1);
    rlscale::detail::binary_reader again(w.bytes(), "rollout.");
    CHECK_THROWS_WITH_AS(small.read_state(again), doctest::Contains("rollout.size: 3 steps, the capacity is 2"), checkpoint_error);
    CHECK(small.empty());
}

// ---------------------------------------------------------------- reading bounded

namespace {

/// learner.max_training_state_length(), or a failed check where the
/// learner has none.
template <typename Learner>
std::uint64_t max_length_of(const Learner& l) {
    if constexpr (requires { l.max_training_state_length(); }) {
        return l.max_training_state_length();
    } else {
        FAIL("the learner states no largest training state");
        return 0;
    }
}

/// A stream of `size` bytes that cannot seek (as a pipe): `first`, then
/// zeros, made as they are read, counting how many were taken.
class generated_buffer : public std::streambuf {
public:
    generated_buffer(std::string first, std::uint64_t size) : first_(std::move(first)), size_(size) {}
    [[nodiscard]] std::uint64_t taken() const noexcept { return at_; }

protected:
    int_type underflow() override {
        if (at_ >= size_) return traits_type::eof();
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), size_ - at_));
        for (std::size_t i = 0; i < n; ++i) chunk_[i] = at_ + i < first_.size() ? first_[static_cast<std::size_t>(at_ + i)] : '\0';
        at_ += n;
        setg(chunk_.data(), chunk_.data(), chunk_.data() + n);
        return traits_type::to_int_type(chunk_[0]);
    }

private:
    std::string first_;
    std::uint64_t size_;
    std::uint64_t at_ = 0;
    std::array<char, 4096> chunk_{};
};

/// The header of a DQN<float> training state declaring `length` payload bytes.
std::string dqn_header(std::uint64_t length) {
    std::string h = "rlscale.dqn.training_state\n";
    const std::uint32_t version = 1;
    const std::uint32_t order = rlscale::detail::byte_order_mark;
    const std::uint32_t value_size = sizeof(float);
    for (const std::uint32_t v : {version, order, value_size}) h.append(reinterpret_cast<const char*>(&v), sizeof v);
    h.append(reinterpret_cast<const char*>(&length), sizeof length);
    return h;
}

}  // namespace

TEST_CASE("training state: the largest payload a learner takes is what it writes with its replay or rollout full") {
    dqn<float> a(6, corridor_layout, dqn_small(), 5);
    corridor env;
    for (int t = 0; t < 80; ++t) (void)env.step(a);
    REQUIRE(a.replay().full());
    const std::string bytes = saved_state(a);
    const std::size_t dqn_header_size = std::string_view("rlscale.dqn.training_state\n").size() + 20;
    CHECK(max_length_of(a) == bytes.size() - dqn_header_size - 8);

    // PPO mid-rollout (5 of 16 steps, no advantages yet): the other 11
    // steps (3 + 3 observation values, 6 values and 2 int32 actions each)
    // and the 16 advantages and returns are what a full rollout adds.
    const q_layout layout{.heads = 2, .actions_per_head = 3};
    ppo<float, std::int32_t> p(3, 3, layout, ppo_small(), 5);
    noise_env noise;
    for (int t = 0; t < 21; ++t) (void)noise.step(p);
    REQUIRE(p.own_rollout().size() == 5);
    const std::size_t ppo_header_size = std::string_view("rlscale.ppo.training_state\n").size() + 20;
    CHECK(max_length_of(p) == saved_state(p).size() - ppo_header_size - 8 + 11 * ((3 + 3 + 6) * 4 + 2 * 4) + 2 * 16 * 4);
}

TEST_CASE("training state: a load reads the frame's header first and takes no more than the length it allows") {
    dqn<float> b(6, corridor_layout, dqn_small(), 6);
    const Eigen::VectorXf before = b.online().parameters();
    // The payload's first fields as the agent writes them (4 sizes, then the
    // layers: a count and 9 values), so that only the length is wrong.
    const std::string own = saved_state(b);
    const std::string head = own.substr(dqn_header(0).size(), 4 * 8 + 10 * 8);
    // 64 MiB of zeros from a stream that cannot seek: refused by the magic
    // line after its first bytes, not after the whole stream.
    {
        generated_buffer zeros("", std::uint64_t{64} << 20);
        std::istream in(&zeros);
        CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains("training_state.magic: not a DQN training state"), checkpoint_error);
        CHECK(zeros.taken() <= 64 * 1024);
    }
    // A header declaring 2^40 bytes: refused by its length, before a byte of
    // the payload is allocated (the stream holds 64 MiB, far less).
    {
        generated_buffer huge(dqn_header(std::uint64_t{1} << 40) + head, std::uint64_t{64} << 20);
        std::istream in(&huge);
        CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains("training_state.length: says 1099511627776 bytes, more than the"),
                             checkpoint_error);
        CHECK(huge.taken() <= 128 * 1024);
    }
    // A length the agent could write, on a stream that ends early.
    {
        const std::uint64_t length = max_length_of(b);
        generated_buffer cut(dqn_header(length) + head, 1000);
        std::istream in(&cut);
        const std::string says = "training_state.length: says " + std::to_string(length) + " bytes";
        CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains(says.c_str()), checkpoint_error);
    }
    // The same through the path overload: a small file whose header claims
    // 2^40 bytes is refused by the length (a payload of other sizes by the
    // first that differs), and one whose header claims what
    // the agent writes is refused by the file's size before it is read.
    const auto path = std::filesystem::temp_directory_path() / ("rlscale_dqn_claims_" + std::to_string(::getpid()) + ".bin");
    {
        std::ofstream(path, std::ios::binary) << dqn_header(std::uint64_t{1} << 40) << head;
        CHECK_THROWS_WITH_AS(b.load_training_state(path), doctest::Contains("training_state.length: says 1099511627776 bytes, more than the"),
                             checkpoint_error);
        std::ofstream(path, std::ios::binary) << dqn_header(std::uint64_t{1} << 40) << std::string(100, '\0');
        CHECK_THROWS_WITH_AS(b.load_training_state(path), doctest::Contains("training_state.observation_size: is 0, expected 6"), checkpoint_error);
        std::ofstream(path, std::ios::binary) << dqn_header(max_length_of(b)) << std::string(100, '\0');
        CHECK_THROWS_WITH_AS(b.load_training_state(path), doctest::Contains("the data holds 100 with the checksum"), checkpoint_error);
    }
    std::filesystem::remove(path);
    CHECK(b.online().parameters() == before);
    CHECK(b.steps() == 0);
}

}  // namespace test_rl_training_state
