// BM_act/aware: one AWARE decision as served (encode with FIRM's encoder,
// μ(s) of the 9→40→40→3 tanh actor, the multidimensional action map, the
// guard with its vertical limits; the HPA+VPA fallback configured, not used),
// beside the actor's bare forward pass in the same run. BM_act/aware_floored:
// the same decision above the HPA+VPA's (set_fallback_floor), so the HPA and
// the VPA recommender also decide on every tick.
#include <rlscale/core/random.hpp>
#include <rlscale/encode/firm_encoder.hpp>
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

using namespace rlscale;

namespace {

nn::mlp<float> aware_actor() {
    rng gen(1);
    nn::mlp<float> net({9, 40, 40, 3}, nn::activation::relu, nn::activation::tanh);
    net.initialize(nn::init_scheme::torch_default, gen);
    return net;
}

function_metrics aware_metrics(double cpu) {
    function_metrics m;
    m.interval_s = 15;
    m.arrivals = m.completions = 900;
    m.throughput_rps = 60;
    m.latency_mean_s = 0.25;
    m.latency = {0.2, 0.4, 0.5, 0.7, 1.0};
    m.cpu_utilization = cpu;
    m.memory_utilization = 0.5;
    m.cpu_limit = 1;
    m.memory_limit_mb = 768;
    m.ready_replicas = 6;
    return m;
}

void act_aware(benchmark::State& state, bool floored) {
    const nn::mlp<float> net = aware_actor();
    auto weights = std::make_shared<rl::shared_network<float>>(net);
    weights->publish(net);
    rl::multidimensional_config c = rl::multidimensional_config::aware();
    c.mode = rl::multidimensional_mode::relative;
    guard_config g;
    g.min_cpu_limit = c.min_cpu_limit;
    g.max_cpu_limit = c.max_cpu_limit;
    g.min_memory_limit_mb = c.min_memory_limit_mb;
    g.max_memory_limit_mb = c.max_memory_limit_mb;
    std::vector<hpa_vpa_policy> fallbacks(1, hpa_vpa_policy(hpa_vpa_config::aware()));
    rl_policy<firm_encoder, rl::deterministic_actor, rl::multidimensional_actions, hpa_vpa_policy> policy(
        firm_encoder{}, rl::deterministic_actor(weights), rl::multidimensional_actions(1, c), std::move(fallbacks), g);
    policy.set_fallback_floor(floored);
    function_metrics m = aware_metrics(0.5);
    scaling_state s{.replicas = 6, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1, .memory_limit_mb = 768,
                    .slo = {.latency_s = 1, .percentile = 0.9}};
    int i = 0;
    for (auto _ : state) {
        m.cpu_utilization = 0.3 + 0.001 * (i & 255);  // vary the input
        s.time_s = 15.0 * ++i;
        benchmark::DoNotOptimize(policy.decide(m, s));
    }
}
void BM_act_aware(benchmark::State& state) { act_aware(state, false); }
void BM_act_aware_floored(benchmark::State& state) { act_aware(state, true); }
BENCHMARK(BM_act_aware)->Name("BM_act/aware");
BENCHMARK(BM_act_aware_floored)->Name("BM_act/aware_floored");

void BM_forward_aware_actor(benchmark::State& state) {
    const nn::mlp<float> net = aware_actor();
    nn::mlp<float>::inference_buffer buf(net);
    Eigen::VectorXf x = Eigen::VectorXf::Random(9);
    int i = 0;
    for (auto _ : state) {
        x(0) = 0.001F * static_cast<float>(i++ & 255);
        benchmark::DoNotOptimize(net.forward(x, buf).data());
    }
}
BENCHMARK(BM_forward_aware_actor)->Name("BM_act/aware_actor_forward_only");

}  // namespace
