// DDPG/TD3 updates at FIRM's and CleanRL's sizes, each beside the batched
// forward passes one update is made of and the sampling of its minibatch.
#include <rlscale/rl/ddpg.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <optional>
#include <vector>

namespace {

using namespace rlscale;

// Transitions in the replay when an update is timed, as BM_dqn_update
// (rl_bench.cpp) fills: ~2 MB at FIRM's size, ~3.4 MB at CleanRL's, so that a
// minibatch's sampling pays the cache misses it pays in training rather than
// reading a replay that fits in L1.
constexpr std::size_t filled_transitions = 20'000;

struct shape {
    std::size_t observations;
    std::size_t actions;
    rl::ddpg_config config;
};

// FIRM: 10 inputs (its state), 3 action dimensions, 40×40, batch 64, the
// action joining the critic after hidden layer 1, an actor step every update,
// its preset replay of 10^5 transitions. No update runs while the replay is
// filled (learning_starts); the benchmarks call update() themselves.
shape firm(nn::matmul_precision p) {
    rl::ddpg_config c = rl::ddpg_config::firm();
    c.learning_starts = c.replay_capacity;
    c.precision = p;
    return {10, 3, c};
}

// CleanRL on a MuJoCo-sized task (17 inputs, 6 actions, e.g. HalfCheetah):
// 256×256, batch 256, the action at the critic's input, an actor step every
// second update (policy_frequency 2), so one iteration is the mean of both.
// A replay of 10^5 (its preset's 10^6 would only allocate more: the
// benchmark fills filled_transitions), no update while it is filled.
shape cleanrl(nn::matmul_precision p) {
    rl::ddpg_config c = rl::ddpg_config::cleanrl();
    c.replay_capacity = 100'000;
    c.learning_starts = c.replay_capacity;
    c.precision = p;
    return {17, 6, c};
}

/// The agent with filled_transitions random transitions in its replay.
rl::ddpg<float> filled_agent(const shape& s) {
    std::vector<rl::action_bound> bounds(s.actions, rl::action_bound{-1, 1});
    rl::ddpg<float> agent(s.observations, bounds, s.config, 1);
    rng gen(2);
    std::vector<float> o(s.observations), o2(s.observations), a(s.actions);
    for (std::size_t t = 0; t < filled_transitions; ++t) {
        for (auto& x : o) x = static_cast<float>(uniform(gen, -1, 1));
        for (auto& x : o2) x = static_cast<float>(uniform(gen, -1, 1));
        for (auto& x : a) x = static_cast<float>(uniform(gen, -1, 1));
        // Below learning_starts (the replay's capacity): no update runs.
        agent.observe(o, a, uniform(gen, -1, 1), o2, false);
    }
    return agent;
}

struct update_variant {
    bool cleanrl_size;
    nn::matmul_precision precision = nn::matmul_precision::full;
    std::size_t shards = 1;   // ddpg_config::update_shards
    std::size_t threads = 1;  // ddpg_config::update_threads
};

// Wall-clock time per update; with threads, the agent's own worker polls
// between updates, as it does in training.
void BM_ddpg_update(benchmark::State& state, update_variant v) {
    shape s = v.cleanrl_size ? cleanrl(v.precision) : firm(v.precision);
    s.config.update_shards = v.shards;
    s.config.update_threads = v.threads;
    auto agent = filled_agent(s);
    for (auto _ : state) {
        const auto stats = agent.update();
        benchmark::DoNotOptimize(stats);
    }
}
constexpr auto bf16 = nn::matmul_precision::bf16;
BENCHMARK_CAPTURE(BM_ddpg_update, firm, update_variant{false})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, firm_bf16, update_variant{false, bf16})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, firm_2_shards_1_thread, update_variant{false, {}, 2, 1})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, firm_2_update_threads, update_variant{false, {}, 2, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, firm_bf16_2_update_threads, update_variant{false, bf16, 2, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, cleanrl, update_variant{true})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, cleanrl_bf16, update_variant{true, bf16})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, cleanrl_2_update_threads, update_variant{true, {}, 2, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ddpg_update, cleanrl_bf16_2_update_threads, update_variant{true, bf16, 2, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();

// The forward passes of one update with an actor step, and nothing else:
// μ'(s'), Q'(s', ã), Q(s, a), μ(s) and Q(s, μ(s)), batched, in full
// precision through the same products as the update (the backward passes,
// Adam and Polyak make up the rest).
void BM_ddpg_forward(benchmark::State& state, int variant) {
    const shape s = variant == 0 ? firm(nn::matmul_precision::full) : cleanrl(nn::matmul_precision::full);
    auto agent = filled_agent(s);
    const auto n = static_cast<Eigen::Index>(s.config.batch_size);
    using matrix = Eigen::MatrixXf;
    matrix obs = matrix::Random(static_cast<Eigen::Index>(s.observations), n);
    matrix next = matrix::Random(static_cast<Eigen::Index>(s.observations), n);
    matrix act = matrix::Random(static_cast<Eigen::Index>(s.actions), n);
    const auto& critic = agent.critic();
    // The update's buffers let its passes use the small-batch kernels.
    constexpr Eigen::Index columns = rl::ddpg<float>::kernel_columns;
    constexpr auto full = nn::matmul_precision::full;
    nn::mlp<float>::batch_buffer actor_buf(agent.actor(), n, full, columns);
    nn::mlp<float>::batch_buffer head_buf(critic.head(), n, full, columns);
    std::optional<nn::mlp<float>::batch_buffer> trunk_buf;
    if (critic.has_trunk()) trunk_buf.emplace(critic.trunk(), n, full, columns);
    matrix head_in(critic.head().input_size(), n);
    const Eigen::Index join = critic.join_width();
    const auto q = [&](const rl::ddpg_critic<float>& c, const matrix& st, const auto& a) {
        if (c.has_trunk()) {
            head_in.topRows(join) = c.trunk().forward_batch(st, *trunk_buf);
        } else {
            head_in.topRows(join) = st;
        }
        head_in.bottomRows(a.rows()) = a;
        return c.head().forward_batch(head_in, head_buf);
    };
    for (auto _ : state) {
        const auto a_next = agent.target_actor().forward_batch(next, actor_buf);
        benchmark::DoNotOptimize(q(agent.target_critic(), next, a_next).data());
        benchmark::DoNotOptimize(q(critic, obs, act).data());
        const auto mu = agent.actor().forward_batch(obs, actor_buf);
        benchmark::DoNotOptimize(q(critic, obs, mu).data());
    }
}
BENCHMARK_CAPTURE(BM_ddpg_forward, firm, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ddpg_forward, cleanrl, 1)->Unit(benchmark::kMicrosecond);

// Sampling alone: one minibatch drawn from the agent's replay (filled with
// filled_transitions) into a batch, as an update's first step does.
void BM_replay_sample(benchmark::State& state, bool clean_rl) {
    const shape s = clean_rl ? cleanrl({}) : firm({});
    const rl::ddpg<float> agent = filled_agent(s);
    rl::replay_batch<float, float> batch(s.observations, s.actions, s.config.batch_size);
    rng gen(3);
    for (auto _ : state) {
        agent.replay().sample(s.config.batch_size, gen, batch);
        benchmark::DoNotOptimize(batch.observations.data());
    }
}
BENCHMARK_CAPTURE(BM_replay_sample, firm, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_replay_sample, cleanrl, true)->Unit(benchmark::kMicrosecond);

}  // namespace
