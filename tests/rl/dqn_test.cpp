#include <rlscale/rl/dqn.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace test_rl_dqn {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

/// A corridor of `n` cells, start in cell `start`. Actions: 0 = left,
/// 1 = right. Leaving through the left end pays 0.1, through the right end
/// 1.0 (both terminal); each other step pays 0. A myopic agent goes left;
/// with γ = 0.9 going right is optimal from every cell of a corridor of 6.
struct corridor {
    int n = 6;
    int start = 2;
    int cell = 2;
    int t = 0;

    std::array<float, 6> observe() const {
        std::array<float, 6> o{};
        o[static_cast<std::size_t>(cell)] = 1;
        return o;
    }
    struct result {
        double reward;
        bool terminated;
        bool truncated;
    };
    result step(int action) {
        ++t;
        if (action == 0) {
            if (cell == 0) return {0.1, true, false};
            --cell;
        } else {
            if (cell == n - 1) return {1.0, true, false};
            ++cell;
        }
        return {0.0, false, t >= 30};
    }
};

dqn_config small_config(bool double_dqn, nn::matmul_precision precision = nn::matmul_precision::full) {
    dqn_config c;
    c.hidden = {32, 32};
    c.gamma = 0.9;
    c.tau = 0.01;
    c.adam.lr = 1e-3;
    c.batch_size = 32;
    c.replay_capacity = 10'000;
    c.learning_starts = 64;
    c.epsilon = {.start = 1.0, .end = 0.05, .decay = 500};
    c.double_dqn = double_dqn;
    c.precision = precision;
    return c;
}

/// `steps` ε-greedy steps of the corridor from cell 2, learning as it goes.
void play_corridor(dqn<float>& agent, int steps) {
    corridor env;
    std::array<std::int32_t, 1> a{};
    for (int s = 0; s < steps; ++s) {
        const auto o = env.observe();
        agent.explore(o, a);
        const auto r = env.step(a[0]);
        agent.observe(o, a, r.reward, env.observe(), r.terminated, r.truncated);
        if (r.terminated || r.truncated) env = corridor{};
    }
}

/// Trains for `steps` environment steps; returns the greedy action per cell.
std::array<int, 6> train_corridor(std::uint64_t seed, bool double_dqn, int steps,
                                  nn::matmul_precision precision = nn::matmul_precision::full,
                                  nn::moment_storage moments = nn::moment_storage::parameter_type) {
    dqn_config c = small_config(double_dqn, precision);
    c.adam.moments = moments;
    dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, c, seed);
    rng start_gen(seed + 100);
    corridor env;
    env.cell = env.start = static_cast<int>(uniform_index(start_gen, 6));
    std::array<std::int32_t, 1> a{};
    for (int s = 0; s < steps; ++s) {
        const auto o = env.observe();
        agent.explore(o, a);
        const auto r = env.step(a[0]);
        const auto next = env.observe();
        agent.observe(o, a, r.reward, next, r.terminated, r.truncated);
        if (r.terminated || r.truncated) {
            env.cell = static_cast<int>(uniform_index(start_gen, 6));
            env.t = 0;
        }
    }
    std::array<int, 6> policy{};
    for (int c = 0; c < 6; ++c) {
        std::array<float, 6> o{};
        o[static_cast<std::size_t>(c)] = 1;
        agent.greedy(o, a);
        policy[static_cast<std::size_t>(c)] = a[0];
    }
    return policy;
}

}  // namespace

TEST_CASE("dqn learns the optimal corridor policy for 5 of 5 seeds within 4000 steps") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        const auto policy = train_corridor(seed, false, 4000);
        for (int c = 0; c < 6; ++c) {
            CAPTURE(c);
            CHECK(policy[static_cast<std::size_t>(c)] == 1);
        }
    }
}

TEST_CASE("double dqn learns the optimal corridor policy for 5 of 5 seeds within 4000 steps") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        const auto policy = train_corridor(seed, true, 4000);
        for (int c = 0; c < 6; ++c) CHECK(policy[static_cast<std::size_t>(c)] == 1);
    }
}

TEST_CASE("dqn with bf16 products learns the optimal corridor policy for 5 of 5 seeds within 4000 steps") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        CAPTURE(seed);
        const auto policy = train_corridor(seed, false, 4000, nn::matmul_precision::bf16);
        for (int c = 0; c < 6; ++c) CHECK(policy[static_cast<std::size_t>(c)] == 1);
    }
}

TEST_CASE("dqn precision reaches the update: from one seed, bf16 and full agents take different steps") {
    std::array<dqn<float>, 2> agents{dqn<float>(6, {.heads = 1, .actions_per_head = 2}, small_config(false), 9),
                                     dqn<float>(6, {.heads = 1, .actions_per_head = 2},
                                                small_config(false, nn::matmul_precision::bf16), 9)};
    CHECK(agents[0].online().parameters() == agents[1].online().parameters());
    for (auto& agent : agents) play_corridor(agent, 200);
    REQUIRE(agents[0].updates() > 100);
    CHECK(agents[0].updates() == agents[1].updates());
    const double gap = (agents[0].online().parameters() - agents[1].online().parameters()).norm();
    CHECK(gap > 0);
    // Close, though: the same transitions and nearly the same gradients.
    CHECK(gap < 0.05 * agents[0].online().parameters().norm());
}

TEST_CASE("one dqn update: Huber TD loss against the target network, one Adam step, Polyak target") {
    dqn_config c = small_config(false);
    c.hidden = {4};
    c.batch_size = 1;
    c.replay_capacity = 1;
    c.learning_starts = 1;
    c.grad_clip_value = 0;
    c.tau = 0.25;
    dqn<double> agent(2, {.heads = 1, .actions_per_head = 3}, c, 11);
    // make the target differ from the online network
    agent.target().parameters() *= 0.5;
    const nn::mlp<double> online_before = agent.online();
    const nn::mlp<double> target_before = agent.target();

    const std::array<double, 2> s{0.3, -0.7};
    const std::array<double, 2> s2{-0.2, 0.9};
    const std::int32_t action = 2;
    const double reward = 0.4;
    const Eigen::Vector2d x(s[0], s[1]);
    const Eigen::Vector2d x2(s2[0], s2[1]);
    const Eigen::VectorXd q = online_before.predict(x);
    const Eigen::VectorXd q2 = target_before.predict(x2);
    const double y = reward + 0.9 * q2.maxCoeff();
    const double d = q(action) - y;
    const double expected_loss = std::abs(d) < 1 ? 0.5 * d * d : std::abs(d) - 0.5;

    REQUIRE(agent.observe(s, std::span<const std::int32_t>(&action, 1), reward, s2, false));
    CHECK(agent.last_update().loss == doctest::Approx(expected_loss).epsilon(1e-12));
    CHECK(agent.last_update().mean_q == doctest::Approx(q(action)).epsilon(1e-12));

    // Adam's first step moves every parameter with a non-zero gradient by lr
    // against the gradient's sign (m̂ / √v̂ = g / |g|, up to ε).
    nn::mlp<double> probe = online_before;
    nn::mlp<double>::batch_buffer buf(probe, 1);
    nn::mlp<double>::gradient g(probe);
    (void)probe.forward_batch(x, buf);
    Eigen::VectorXd dq = Eigen::VectorXd::Zero(3);
    dq(action) = std::abs(d) < 1 ? d : (d > 0 ? 1 : -1);
    probe.backward(buf, dq, g);
    const auto after = agent.online().parameters();
    for (Eigen::Index i = 0; i < after.size(); ++i) {
        const double gi = g.values()(i);
        const double step = after(i) - online_before.parameters()(i);
        if (std::abs(gi) > 1e-9) {
            CHECK(step == doctest::Approx(-1e-3 * (gi > 0 ? 1 : -1)).epsilon(1e-3));
        } else {
            CHECK(std::abs(step) < 1e-6);
        }
    }
    const Eigen::VectorXd polyak = 0.25 * agent.online().parameters() + 0.75 * target_before.parameters();
    CHECK((agent.target().parameters() - polyak).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("dqn::update(batch) on a given batch: the sampled update's step, deterministic, and validated") {
    dqn_config c = small_config(false);
    c.batch_size = 8;
    c.learning_starts = 1000;  // observe() stores, never updates
    // Two agents from one seed. One is fed transitions and updates on its
    // own sample (update()); the other updates on a batch of the same rows
    // in the same order, drawn from the same buffer with a generator in the
    // state the first agent's is in: the same step.
    dqn<double> a(2, {.heads = 2, .actions_per_head = 3}, c, 3);
    dqn<double> b(2, {.heads = 2, .actions_per_head = 3}, c, 3);
    rng gen(9);
    for (int t = 0; t < 12; ++t) {
        const std::array<double, 2> s{uniform01(gen), uniform01(gen)};
        const std::array<double, 2> s2{uniform01(gen), uniform01(gen)};
        const std::array<std::int32_t, 2> act{static_cast<std::int32_t>(t % 3), static_cast<std::int32_t>((t + 1) % 3)};
        CHECK_FALSE(a.observe(s, act, uniform01(gen), s2, t % 5 == 4, false));
    }
    REQUIRE(a.replay().size() == 12);
    // The agent's generator: seeded with 3, then drawn by its network's initialisation.
    rng replica(3);
    nn::mlp<double>(a.online().layers()).initialize(nn::init_scheme::torch_default, replica);
    replay_batch<double> batch(2, 2, 8);
    a.replay().sample(8, replica, batch);
    const dqn_update_stats sa = a.update();
    const dqn_update_stats sb = b.update(batch);
    CHECK(sa.applied);
    CHECK(sa.loss == sb.loss);
    CHECK(a.online().parameters() == b.online().parameters());
    CHECK(a.target().parameters() == b.target().parameters());
    CHECK(a.updates() == 1);
    // Other rows of the same buffer make another step: the comparison above can fail.
    dqn<double> other(2, {.heads = 2, .actions_per_head = 3}, c, 3);
    replay_batch<double> shifted(2, 2, 8);
    for (std::size_t j = 0; j < 8; ++j) a.replay().get((batch.slots[j] + 1) % 12, j, shifted);  // not wrapped: slot = age
    shifted.size = 8;
    (void)other.update(shifted);
    CHECK(other.online().parameters() != a.online().parameters());
    // A smaller batch than batch_size is one update over its leading columns.
    batch.size = 3;
    CHECK(a.update(batch).applied);
    // Bad batches are refused naming the problem, and change nothing.
    const Eigen::VectorXd before = a.online().parameters();
    batch.size = 0;
    CHECK_THROWS_WITH_AS((void)a.update(batch), doctest::Contains("batch of 0"), rlscale::error);
    batch.size = 9;
    CHECK_THROWS_WITH_AS((void)a.update(batch), doctest::Contains("batch of 9"), rlscale::error);
    batch.size = 2;
    batch.actions(1, 1) = 3;
    CHECK_THROWS_WITH_AS((void)a.update(batch), doctest::Contains("batch.actions(1, 1) is 3"), rlscale::error);
    replay_batch<double> wide(3, 2, 8);
    wide.size = 1;
    CHECK_THROWS_WITH_AS((void)a.update(wide), doctest::Contains("dqn::update: batch.observations has 3 rows, the agent 2 observation values"), rlscale::error);
    // Each array is checked for the batch's size, the terminated flags and
    // the next observations' rows too (read per sample by the TD target).
    {
        replay_batch<double> short_flags = batch;
        short_flags.terminated.resize(1);
        CHECK_THROWS_WITH_AS((void)a.update(short_flags), doctest::Contains("batch.terminated holds 1, fewer than the batch's 2 transitions"), rlscale::error);
        replay_batch<double> narrow_next = batch;
        narrow_next.next_observations.resize(1, 8);
        CHECK_THROWS_WITH_AS((void)a.update(narrow_next), doctest::Contains("batch.next_observations has 1 rows, the agent 2"), rlscale::error);
        replay_batch<double> few_actions = batch;
        few_actions.actions.conservativeResize(Eigen::NoChange, 1);
        CHECK_THROWS_WITH_AS((void)a.update(few_actions), doctest::Contains("batch.actions holds 1, fewer than the batch's 2 transitions"), rlscale::error);
    }
    CHECK(a.online().parameters() == before);
    // A NaN target (here a NaN reward) is no step: Huber's gradient would
    // still be a finite ±1 pushing Q towards nothing.
    batch.actions(1, 1) = 1;
    batch.rewards(0) = std::numeric_limits<double>::quiet_NaN();
    const dqn_update_stats nan_step = a.update(batch);
    CHECK_FALSE(nan_step.applied);
    CHECK(std::isnan(nan_step.loss));
    CHECK(a.online().parameters() == before);
    static_assert(learner<dqn<float>>);
    CHECK(a.stats().updates == 2);
}

TEST_CASE("sharded dqn updates: the sum of the shards' gradients, the same for any thread count") {
    // A batch of 9 on a double network: one shard, three shards on one
    // thread and three shards on three threads take the same step up to
    // the order of the float sums; the two three-shard agents bit for bit.
    dqn_config c = small_config(false);
    c.batch_size = 9;
    c.learning_starts = 9;
    c.double_dqn = true;
    replay_buffer<double> rows(16, 2, 2);
    rng gen(11);
    for (int t = 0; t < 12; ++t) {
        const std::array<double, 2> s{uniform01(gen), uniform01(gen)};
        const std::array<double, 2> s2{uniform01(gen), uniform01(gen)};
        const std::array<std::int32_t, 2> act{static_cast<std::int32_t>(t % 3), static_cast<std::int32_t>((t + 2) % 3)};
        rows.push(s, act, uniform01(gen) * 4 - 2, s2, t % 4 == 3);
    }
    replay_batch<double> batch(2, 2, 9);
    for (std::size_t j = 0; j < 9; ++j) rows.get((j * 7) % 12, j, batch);
    batch.size = 9;
    dqn<double> whole(2, {.heads = 2, .actions_per_head = 3}, c, 4);
    c.update_shards = 3;
    dqn<double> serial(2, {.heads = 2, .actions_per_head = 3}, c, 4);
    c.update_threads = 3;
    dqn<double> threaded(2, {.heads = 2, .actions_per_head = 3}, c, 4);
    for (int step = 0; step < 3; ++step) {
        const dqn_update_stats a = whole.update(batch);
        const dqn_update_stats b = serial.update(batch);
        const dqn_update_stats t = threaded.update(batch);
        CHECK(b.loss == doctest::Approx(a.loss).epsilon(1e-12));
        CHECK(b.mean_q == doctest::Approx(a.mean_q).epsilon(1e-12));
        CHECK(b.grad_norm == doctest::Approx(a.grad_norm).epsilon(1e-12));
        CHECK(t.loss == b.loss);
        CHECK(t.grad_norm == b.grad_norm);
    }
    CHECK((serial.online().parameters() - whole.online().parameters()).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((serial.target().parameters() - whole.target().parameters()).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(threaded.online().parameters() == serial.online().parameters());
    CHECK(threaded.target().parameters() == serial.target().parameters());
    // A batch smaller than the shard count: one column per shard, the rest idle.
    batch.size = 2;
    const dqn_update_stats small_whole = whole.update(batch);
    const dqn_update_stats small_threaded = threaded.update(batch);
    CHECK(small_threaded.loss == doctest::Approx(small_whole.loss).epsilon(1e-12));
    CHECK((threaded.online().parameters() - whole.online().parameters()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("a two-shard dqn trains on the corridor to the same weights on one and two threads, run after run") {
    const auto run = [](std::size_t threads) {
        dqn_config c = small_config(false);
        c.update_shards = 2;
        c.update_threads = threads;
        dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, c, 9);
        play_corridor(agent, 300);
        return Eigen::VectorXf(agent.online().parameters());
    };
    CHECK(run(2) == run(2));
    CHECK(run(2) == run(1));
}

TEST_CASE("dqn terminal transitions do not bootstrap") {
    dqn_config c = small_config(false);
    c.hidden = {4};
    c.batch_size = 1;
    c.replay_capacity = 1;
    c.learning_starts = 1;
    dqn<double> agent(2, {.heads = 1, .actions_per_head = 2}, c, 5);
    const std::array<double, 2> s{0.5, 0.5};
    const std::int32_t action = 0;
    const double q = agent.online().predict(Eigen::Vector2d(0.5, 0.5))(0);
    const double d = q - 2.0;  // y = r only
    REQUIRE(agent.observe(s, std::span<const std::int32_t>(&action, 1), 2.0, s, true));
    CHECK(agent.last_update().loss == doctest::Approx(std::abs(d) < 1 ? 0.5 * d * d : std::abs(d) - 0.5).epsilon(1e-12));
}

TEST_CASE("factored heads: each head learns its own best action from a shared reward") {
    // Two heads of 3 actions; the reward is 1 for head 0 choosing 2 plus 1
    // for head 1 choosing 0, one-step episodes from a constant state.
    dqn_config c = small_config(false);
    c.epsilon = {.start = 1.0, .end = 0.1, .decay = 300};
    dqn<float> agent(1, {.heads = 2, .actions_per_head = 3}, c, 3);
    const std::array<float, 1> s{1.0F};
    std::array<std::int32_t, 2> a{};
    for (int t = 0; t < 1500; ++t) {
        agent.explore(s, a);
        const double r = (a[0] == 2 ? 1.0 : 0.0) + (a[1] == 0 ? 1.0 : 0.0);
        agent.observe(s, a, r, s, true);
    }
    agent.greedy(s, a);
    CHECK(a[0] == 2);
    CHECK(a[1] == 0);
}

TEST_CASE("dqn is deterministic for a seed") {
    const auto run = [](std::uint64_t seed) {
        dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, small_config(false), seed);
        play_corridor(agent, 300);
        return Eigen::VectorXf(agent.online().parameters());
    };
    CHECK(run(9) == run(9));
    CHECK(run(9) != run(10));
}

TEST_CASE("dqn with bfloat16 Adam moments learns the corridor, repeats for a seed and rounds on a stream of the seed's") {
    const auto run = [](std::uint64_t seed, nn::moment_storage moments) {
        dqn_config c = small_config(false);
        c.adam.moments = moments;
        dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, c, seed);
        play_corridor(agent, 300);
        REQUIRE(agent.updates() > 100);
        return Eigen::VectorXf(agent.online().parameters());
    };
    const Eigen::VectorXf half = run(9, nn::moment_storage::bfloat16);
    CHECK(half.allFinite());
    CHECK(run(9, nn::moment_storage::bfloat16) == half);
    const Eigen::VectorXf plain = run(9, nn::moment_storage::parameter_type);
    CHECK(half != plain);  // the moments' rounding reaches the weights
    CHECK((half - plain).norm() < 0.05 * plain.norm());

    dqn_config c = small_config(false);
    c.adam.moments = nn::moment_storage::bfloat16;
    c.adam.rounding_seed = 3;
    dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, c, 9);
    CHECK(agent.optimizer().config().rounding_seed == 3 + 4 * 9);
    CHECK(agent.config().adam.rounding_seed == 3);

    // With these moments the corridor is still learnt (as above, three seeds).
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        CAPTURE(seed);
        const auto policy = train_corridor(seed, false, 4000, nn::matmul_precision::full, nn::moment_storage::bfloat16);
        for (int cell = 0; cell < 6; ++cell) CHECK(policy[static_cast<std::size_t>(cell)] == 1);
    }
}

TEST_CASE("dqn rejects bad configuration and input naming the field") {
    dqn_config c;
    c.gamma = 1.5;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.gamma"), config_error);
    c = dqn_config{};
    c.replay_capacity = 10;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.replay_capacity"), config_error);
    // A replay smaller than learning_starts would never let the agent learn.
    c = dqn_config{};
    c.batch_size = 32;
    c.replay_capacity = 100;
    c.learning_starts = 101;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.replay_capacity: must be >= learning_starts"),
                         config_error);
    // A nested struct's field is named under dqn_config.
    c = dqn_config{};
    c.adam.lr = -1;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.adam.lr"), config_error);
    c = dqn_config{};
    c.replay_capacity = 1000;
    c.precision = nn::matmul_precision::bf16;
    CHECK_THROWS_WITH_AS((dqn<double>(2, {.heads = 1, .actions_per_head = 3}, c, 1)), doctest::Contains("dqn_config.precision"),
                         config_error);
    c.precision = nn::matmul_precision::full;
    c.update_shards = 0;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.update_shards"), config_error);
    c.update_shards = c.batch_size + 1;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.update_shards"), config_error);
    c.update_shards = 2;
    c.update_threads = 3;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.update_threads"), config_error);
    c.update_threads = 0;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.update_threads"), config_error);
    c.update_shards = c.update_threads = 1;
    dqn<float> agent(2, {.heads = 1, .actions_per_head = 3}, c, 1);
    const std::array<float, 2> s{0, 0};
    const std::array<float, 3> wrong{0, 0, 0};
    std::array<std::int32_t, 1> a{};
    CHECK_THROWS_WITH_AS(agent.greedy(wrong, a), doctest::Contains("observation has 3"), error);
    const std::int32_t bad = 3;
    CHECK_THROWS_WITH_AS(agent.observe(s, std::span<const std::int32_t>(&bad, 1), 0, s, false), doctest::Contains("action[0] is 3"),
                         error);
    CHECK(agent.replay().empty());
}

TEST_CASE("dqn refuses tau, huber_beta and clip settings that vanish or overflow as the agent's float") {
    // Each is a valid double (dqn_config::validate passes) that the update
    // would use as a float 0 or inf: no learning, or every gradient zeroed.
    dqn_config c = small_config(false);
    const auto refused = [](const dqn_config& bad, const char* message) {
        CHECK_NOTHROW(bad.validate());
        CHECK_THROWS_WITH_AS((dqn<float>(2, {}, bad, 1)), doctest::Contains(message), config_error);
        CHECK_NOTHROW((dqn<double>(2, {}, bad, 1)));  // as a double each is fine
    };
    c.huber_beta = 1e39;
    refused(c, "dqn_config.huber_beta: must be finite and > 0 as the agent's float, got 1e+39");
    c.huber_beta = 1e-46;
    refused(c, "dqn_config.huber_beta: must be finite and > 0 as the agent's float, got 1e-46");
    c = small_config(false);
    c.tau = 1e-8;  // 1 - 1e-8 is 1 in float: the target would never move
    refused(c, "dqn_config.tau: must be at least the agent's float epsilon (1.1920929e-07)");
    c.tau = 1e-46;
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.tau"), config_error);
    c = small_config(false);
    c.grad_clip_value = 1e-46;
    refused(c, "dqn_config.grad_clip_value: must be finite and > 0 as the agent's float (or 0 for off), got 1e-46");
    c.grad_clip_value = 1e39;
    refused(c, "dqn_config.grad_clip_value: must be finite and > 0 as the agent's float (or 0 for off), got 1e+39");
    c = small_config(false);
    c.grad_clip_norm = 1e-46;
    refused(c, "dqn_config.grad_clip_norm: must be finite and > 0 as the agent's float (or 0 for off), got 1e-46");
    // 0 is off, and the smallest positive float is a clip.
    c = small_config(false);
    c.grad_clip_value = 0;
    c.grad_clip_norm = 0;
    CHECK_NOTHROW((dqn<float>(2, {}, c, 1)));
    c.grad_clip_norm = static_cast<double>(std::numeric_limits<float>::denorm_min());
    c.tau = static_cast<double>(std::numeric_limits<float>::epsilon());
    CHECK_NOTHROW((dqn<float>(2, {}, c, 1)));
}

TEST_CASE("dqn greedy and explore refuse an observation that is not finite, naming it, and change nothing") {
    dqn<float> agent(6, {.heads = 1, .actions_per_head = 2}, small_config(false), 9);
    dqn<float> twin(6, {.heads = 1, .actions_per_head = 2}, small_config(false), 9);
    std::array<float, 6> o{};
    std::array<std::int32_t, 1> a{7};
    o[1] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(agent.greedy(o, a), doctest::Contains("dqn: observation[1] is nan, must be finite"), error);
    CHECK(a[0] == 7);
    o[1] = 0;
    o[5] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(agent.explore(o, a), doctest::Contains("dqn: observation[5] is inf, must be finite"), error);
    o[5] = -std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(agent.explore(o, a), doctest::Contains("dqn: observation[5] is -inf, must be finite"), error);
    CHECK(a[0] == 7);
    // The refused calls drew nothing: the agent goes on as its twin does.
    play_corridor(agent, 200);
    play_corridor(twin, 200);
    CHECK(agent.online().parameters() == twin.online().parameters());
}

TEST_CASE("dqn configuration beyond the replay buffer's limits is refused under the agent's own names") {
    dqn_config c = small_config(false);
    c.replay_capacity = 200'000'000;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("dqn_config.replay_capacity: must be <= 100000000, got 200000000"), config_error);
    CHECK_THROWS_WITH_AS((dqn<float>(2, {}, c, 1)), doctest::Contains("dqn_config.replay_capacity: must be <= 100000000"), config_error);
    c.replay_capacity = 100'000'000;  // replay_buffer's max_capacity
    CHECK_NOTHROW(c.validate());
    // More heads than the replay stores per transition (a factored layout of
    // 2000 functions), and an observation wider than it stores.
    c = small_config(false);
    c.hidden = {1};
    CHECK_THROWS_WITH_AS((dqn<float>(2, {.heads = 2000, .actions_per_head = 2}, c, 1)), doctest::Contains("q_layout.heads: must be <= 1024, got 2000"),
                         config_error);
    CHECK_THROWS_WITH_AS((dqn<float>((std::size_t{1} << 20) + 1, {}, c, 1)), doctest::Contains("dqn.observation_size: must be <= 1048576"),
                         config_error);
    CHECK_NOTHROW((dqn<float>(2, {.heads = 1024, .actions_per_head = 2}, c, 1)));
}

TEST_CASE("a dqn copies into a snapshot that acts and trains on as the original, on one thread or more") {
    CHECK(std::is_copy_constructible_v<dqn<float>>);
    CHECK(std::is_copy_assignable_v<dqn<float>>);
    const auto check = []<typename Agent>(Agent& original) {
        if constexpr (std::is_copy_constructible_v<Agent> && std::is_copy_assignable_v<Agent>) {
            play_corridor(original, 150);
            Agent copy = original;
            Agent assigned(6, {.heads = 1, .actions_per_head = 2}, original.config(), 1);
            assigned = original;
            REQUIRE(copy.steps() == original.steps());
            REQUIRE(copy.updates() == original.updates());
            REQUIRE(copy.updates() > 0);
            play_corridor(original, 150);
            play_corridor(copy, 150);
            play_corridor(assigned, 150);
            CHECK(copy.online().parameters() == original.online().parameters());
            CHECK(copy.target().parameters() == original.target().parameters());
            CHECK(assigned.online().parameters() == original.online().parameters());
            CHECK(copy.updates() == original.updates());
            CHECK(copy.replay().pushed() == original.replay().pushed());
            std::array<std::int32_t, 1> a{}, b{};
            for (int cell = 0; cell < 6; ++cell) {
                std::array<float, 6> o{};
                o[static_cast<std::size_t>(cell)] = 1;
                original.explore(o, a);
                copy.explore(o, b);
                CHECK(a == b);
            }
        }
    };
    dqn<float> one(6, {.heads = 1, .actions_per_head = 2}, small_config(false), 4);
    check(one);
    dqn_config c = small_config(false);
    c.update_shards = c.update_threads = 2;
    dqn<float> two(6, {.heads = 1, .actions_per_head = 2}, c, 4);
    check(two);
}

}  // namespace test_rl_dqn
