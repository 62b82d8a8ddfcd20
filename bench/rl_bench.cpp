// One SCARLET decision (encode, forward, argmax, guard) and one DQN update.
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <vector>

namespace {

using namespace rlscale;

function_metrics metrics(double cpu) {
    function_metrics m;
    m.interval_s = 15;
    m.arrivals = m.completions = 6000;
    m.throughput_rps = 400;
    m.latency_mean_s = 0.002;
    m.latency = {0.001, 0.002, 0.003, 0.004, 0.008};
    m.cpu_utilization = cpu;
    m.memory_utilization = 0.3;
    m.cpu_limit = 0.5;
    m.memory_limit_mb = 256;
    m.ready_replicas = 4;
    return m;
}

// The three-function SCARLET policy: 15 inputs, 2x128 ReLU, 27 joint
// actions, guard and HPA fallbacks; decides all three functions.
// Variant 1 serves from the int8 copy of the same weights (serve_int8).
void BM_act(benchmark::State& state, int variant) {
    rng gen(1);
    const rl::joint_delta_actions actions(3);
    nn::mlp<float> net({15, 128, 128, 27});
    net.initialize(nn::init_scheme::torch_default, gen);
    auto weights = std::make_shared<rl::shared_network<float>>(net);
    weights->publish(net);
    dqn_policy<scarlet_encoder, rl::joint_delta_actions> policy(weights, scarlet_encoder{}, actions,
                                                                std::vector<hpa_policy>(3, hpa_policy(hpa_config::cpu_utilization(70))));
    if (variant == 1) policy.serve_int8();
    std::array<function_metrics, 3> m{metrics(0.4), metrics(0.7), metrics(0.9)};
    std::array<scaling_state, 3> s{};
    for (auto& x : s) x = {.replicas = 4, .min_replicas = 1, .max_replicas = 20, .slo = {.latency_s = 1, .percentile = 0.9, .target_rps = 600}};
    std::array<decision, 3> d{};
    int i = 0;
    for (auto _ : state) {
        m[0].cpu_utilization = 0.3 + 0.001 * (i++ & 255);  // vary the input
        policy.decide(m, s, d);
        benchmark::DoNotOptimize(d);
    }
}
// One decision of the Kubernetes HPA on CPU utilisation (the fallback and
// the baseline): the count at 4 replicas, the load varying, the clock
// advancing one 15-s sync per call, so the history holds the 5-minute
// stabilisation window's 21 recommendations. Variant 1 adds the
// autoscaling/v2 behavior's default rate policies and their scale events.
void BM_hpa_decide(benchmark::State& state, int variant) {
    hpa_config c = hpa_config::cpu_utilization(70);
    if (variant == 1) c.behavior = hpa::behavior{};
    hpa_policy hpa(c);
    function_metrics m = metrics(0.7);
    scaling_state s;
    s.replicas = 4;
    s.max_replicas = 20;
    int i = 0;
    for (auto _ : state) {
        m.cpu_utilization = 0.2 + 0.004 * (i++ & 255);  // from 20 % to 122 % of the limit
        s.time_s += 15;
        const decision d = hpa.decide(m, s);
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK_CAPTURE(BM_hpa_decide, cpu70, 0);
BENCHMARK_CAPTURE(BM_hpa_decide, cpu70_behavior, 1);

BENCHMARK_CAPTURE(BM_act, scarlet_3fn, 0);
BENCHMARK_CAPTURE(BM_act, scarlet_3fn_int8, 1);

// One full update with SCARLET's settings: sample 128 from a filled
// buffer, target pass, online forward and backward, clamp, Adam, Polyak.
// Variant 1 multiplies in bf16 (dqn_config::precision); variant 2 cuts the
// batch into two shards run on two threads (dqn_config::update_shards),
// variant 3 into two shards on the calling thread alone.
void BM_dqn_update(benchmark::State& state, int variant) {
    rl::dqn_config c = rl::dqn_config::scarlet();
    c.replay_capacity = 100'000;
    // No update while the buffer fills (observe() would run one per step
    // past learning_starts, about 20,000 on every call of this function):
    // every update is the benchmark's own.
    c.learning_starts = c.replay_capacity;
    if (variant == 1) c.precision = nn::matmul_precision::bf16;
    if (variant >= 2) c.update_shards = 2;
    if (variant == 2) c.update_threads = 2;
    rl::dqn<float> agent(15, {.heads = 1, .actions_per_head = 27}, c, 1);
    rng gen(2);
    std::array<float, 15> o{};
    std::array<float, 15> next{};
    for (int t = 0; t < 20'000; ++t) {
        for (auto& x : o) x = static_cast<float>(uniform01(gen));
        for (auto& x : next) x = static_cast<float>(uniform01(gen));
        const auto a = static_cast<std::int32_t>(uniform_index(gen, 27));
        agent.observe(o, std::span<const std::int32_t>(&a, 1), uniform01(gen) * 2 - 1, next, false);
    }
    for (auto _ : state) {
        const auto stats = agent.update();
        benchmark::DoNotOptimize(stats);
    }
}
BENCHMARK_CAPTURE(BM_dqn_update, scarlet, 0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_dqn_update, scarlet_bf16, 1)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_dqn_update, scarlet_2_update_threads, 2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_dqn_update, scarlet_2_shards_1_thread, 3)->Unit(benchmark::kMicrosecond);

}  // namespace
