// SIMPPO's agent: one PPO update on a 50-transition rollout and one serving
// decision, each beside the bare network work it is made of.
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/nn/quantized_mlp.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/simppo_actions.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace {

using namespace rlscale;

// A rollout of 50 random transitions for SIMPPO's shapes: 7 local features
// to the actor, 23 (local plus the 16 global ones) to the critic, one head
// of 7 actions.
rl::rollout_buffer<float> simppo_rollout(rl::ppo<float>& agent, std::uint64_t seed) {
    rng gen(seed);
    rl::rollout_buffer<float> r(50, 7, 23, 1);
    std::array<float, 7> local{};
    std::array<float, 23> critic{};
    for (int t = 0; t < 50; ++t) {
        for (auto& x : local) x = static_cast<float>(uniform01(gen));
        for (auto& x : critic) x = static_cast<float>(uniform01(gen));
        std::array<std::int32_t, 1> a{};
        const double lp = agent.sample(local, a);
        r.push(local, critic, a, lp, agent.value(critic), uniform01(gen) - 0.5, false, t % 10 == 9, 0.1);
    }
    r.compute_advantages(0.2, 0.99, 0.95);
    return r;
}

// One update with SIMPPO's multi-agent settings (Table 2): 5 epochs over
// minibatches of 5 drawn with replacement (10 per epoch, 50 gradient steps),
// actor 7→64→64→7 and critic 23→64→64→1; Adam's moments stored as `moments`.
void ppo_updates(benchmark::State& state, nn::moment_storage moments) {
    rl::ppo_config c = rl::ppo_config::simppo_multi_agent();
    c.adam_moments = moments;
    rl::ppo<float> agent(7, 23, {.heads = 1, .actions_per_head = 7}, c, 1);
    const auto r = simppo_rollout(agent, 2);
    for (auto _ : state) {
        const auto stats = agent.update(r);
        benchmark::DoNotOptimize(stats);
    }
}
void BM_ppo_update(benchmark::State& state) { ppo_updates(state, nn::moment_storage::parameter_type); }
BENCHMARK(BM_ppo_update)->Name("BM_ppo_update/simppo")->Unit(benchmark::kMicrosecond);

// The same update with Adam's moments stored as bfloat16 (stochastic rounding).
void BM_ppo_update_bfloat16_moments(benchmark::State& state) { ppo_updates(state, nn::moment_storage::bfloat16); }
BENCHMARK(BM_ppo_update_bfloat16_moments)->Name("BM_ppo_update/simppo_bfloat16_moments")->Unit(benchmark::kMicrosecond);

// SIMPPO's actor 7→64→64→7 and critic 23→64→64→1 (tanh), as the update
// builds them, with an Adam for each.
struct simppo_networks {
    nn::mlp<float> actor{{7, 64, 64, 7}, nn::activation::tanh};
    nn::mlp<float> critic{{23, 64, 64, 1}, nn::activation::tanh};
    nn::adam<float> aopt;
    nn::adam<float> copt;

    explicit simppo_networks(nn::moment_storage moments = nn::moment_storage::parameter_type)
        : aopt(actor.parameter_count(), {.lr = 1e-6, .moments = moments}),
          copt(critic.parameter_count(), {.lr = 1e-6, .moments = moments}) {
        rng gen(1);
        actor.initialize(nn::init_scheme::torch_default, gen);
        critic.initialize(nn::init_scheme::torch_default, gen);
    }
};

// The floor of that update: the same 50 forward and backward passes of both
// networks on 5 samples and their Adam steps, with no loss arithmetic.
void BM_ppo_update_bare(benchmark::State& state) {
    simppo_networks nets;
    auto& [actor, critic, aopt, copt] = nets;
    nn::mlp<float>::batch_buffer ab(actor, 5);
    nn::mlp<float>::batch_buffer cb(critic, 5);
    nn::mlp<float>::gradient ag(actor);
    nn::mlp<float>::gradient cg(critic);
    const Eigen::MatrixXf xa = Eigen::MatrixXf::Random(7, 5);
    const Eigen::MatrixXf xc = Eigen::MatrixXf::Random(23, 5);
    const Eigen::MatrixXf da = Eigen::MatrixXf::Constant(7, 5, 1e-3F);
    const Eigen::MatrixXf dc = Eigen::MatrixXf::Constant(1, 5, 1e-3F);
    for (auto _ : state) {
        for (int step = 0; step < 50; ++step) {
            benchmark::DoNotOptimize(actor.forward_batch(xa, ab).data());
            actor.backward(ab, da, ag);
            benchmark::DoNotOptimize(critic.forward_batch(xc, cb).data());
            critic.backward(cb, dc, cg);
            aopt.step(actor.parameters(), ag.values());
            copt.step(critic.parameters(), cg.values());
        }
    }
}
BENCHMARK(BM_ppo_update_bare)->Name("BM_ppo_update/bare_passes_and_adam")->Unit(benchmark::kMicrosecond);

// The Adam part of that floor alone: the 50 steps of both networks' Adam on
// fixed gradients (10,888 parameters, each with its two moments, stored as
// `moments`).
void adam_steps(benchmark::State& state, nn::moment_storage moments) {
    simppo_networks nets(moments);
    auto& [actor, critic, aopt, copt] = nets;
    const Eigen::VectorXf ag = Eigen::VectorXf::Constant(actor.parameter_count(), 1e-3F);
    const Eigen::VectorXf cg = Eigen::VectorXf::Constant(critic.parameter_count(), 1e-3F);
    for (auto _ : state) {
        for (int step = 0; step < 50; ++step) {
            aopt.step(actor.parameters(), ag);
            copt.step(critic.parameters(), cg);
        }
        benchmark::DoNotOptimize(actor.parameters().data());
        benchmark::DoNotOptimize(critic.parameters().data());
    }
}
void BM_ppo_update_adam(benchmark::State& state) { adam_steps(state, nn::moment_storage::parameter_type); }
BENCHMARK(BM_ppo_update_adam)->Name("BM_ppo_update/adam_steps_only")->Unit(benchmark::kMicrosecond);

// The same 50 Adam steps of both networks with bfloat16 moments.
void BM_ppo_update_adam_bfloat16(benchmark::State& state) { adam_steps(state, nn::moment_storage::bfloat16); }
BENCHMARK(BM_ppo_update_adam_bfloat16)->Name("BM_ppo_update/adam_steps_only_bfloat16_moments")->Unit(benchmark::kMicrosecond);

// What those steps would cost without Adam's square root and division: the
// same single pass over θ, g, m and v per network and step (the same loads
// and stores, as many multiply-adds), with θ -= s·m·(c·v + ε) in place of
// θ -= s·m/(√v·c + ε). Not an optimiser: a floor for the memory traffic.
void BM_ppo_update_adam_traffic(benchmark::State& state) {
    simppo_networks nets;
    auto& actor = nets.actor;
    auto& critic = nets.critic;
    const Eigen::VectorXf ag = Eigen::VectorXf::Constant(actor.parameter_count(), 1e-3F);
    const Eigen::VectorXf cg = Eigen::VectorXf::Constant(critic.parameter_count(), 1e-3F);
    Eigen::VectorXf am = Eigen::VectorXf::Zero(actor.parameter_count());
    Eigen::VectorXf av = Eigen::VectorXf::Zero(actor.parameter_count());
    Eigen::VectorXf cm = Eigen::VectorXf::Zero(critic.parameter_count());
    Eigen::VectorXf cv = Eigen::VectorXf::Zero(critic.parameter_count());
    const auto pass = [](Eigen::Ref<Eigen::VectorXf> p, const Eigen::VectorXf& g, Eigen::VectorXf& m, Eigen::VectorXf& v) {
        using block = Eigen::Array<float, 16, 1>;
        using view = Eigen::Map<block, Eigen::Unaligned>;
        const Eigen::Index n = p.size();
        Eigen::Index i = 0;
        for (; i + 16 <= n; i += 16) {
            view pb(p.data() + i);
            view mb(m.data() + i);
            view vb(v.data() + i);
            const block gb = Eigen::Map<const block, Eigen::Unaligned>(g.data() + i);
            mb = 0.9F * mb + 0.1F * gb;
            vb = 0.999F * vb + 0.001F * gb.square();
            pb -= 1e-6F * mb * (vb * 1.0001F + 1e-8F);
        }
        for (; i < n; ++i) {
            m[i] = 0.9F * m[i] + 0.1F * g[i];
            v[i] = 0.999F * v[i] + 0.001F * g[i] * g[i];
            p[i] -= 1e-6F * m[i] * (v[i] * 1.0001F + 1e-8F);
        }
    };
    for (auto _ : state) {
        for (int step = 0; step < 50; ++step) {
            pass(actor.parameters(), ag, am, av);
            pass(critic.parameters(), cg, cm, cv);
        }
        benchmark::DoNotOptimize(actor.parameters().data());
        benchmark::DoNotOptimize(critic.parameters().data());
    }
}
BENCHMARK(BM_ppo_update_adam_traffic)->Name("BM_ppo_update/adam_traffic_only")->Unit(benchmark::kMicrosecond);

function_metrics metrics(double cpu) {
    function_metrics m;
    m.interval_s = 15;
    m.arrivals = m.completions = 600;
    m.throughput_rps = 40;
    m.latency_mean_s = 0.05;
    m.latency = {0.03, 0.05, 0.08, 0.1, 0.2};
    m.cpu_utilization = cpu;
    m.memory_utilization = 0.3;
    m.cpu_limit = 1;
    m.memory_limit_mb = 512;
    m.ready_replicas = 4;
    return m;
}

// SIMPPO's actor 7→64→64→7 (tanh).
nn::mlp<float> simppo_actor() {
    rng gen(1);
    nn::mlp<float> net({7, 64, 64, 7}, nn::activation::tanh);
    net.initialize(nn::init_scheme::torch_default, gen);
    return net;
}

// One SIMPPO agent's serving decision: the local state (simppo_encoder), the
// greedy action of the actor 7→64→64→7, SIMPPO's action map, the guard
// (HPA fallback configured, not used).
void BM_act_simppo(benchmark::State& state) {
    const nn::mlp<float> net = simppo_actor();
    auto weights = std::make_shared<rl::shared_network<float>>(net);
    weights->publish(net);
    const rl::simppo_actions actions(1);
    rl_policy<simppo_encoder, rl::categorical_actor, rl::simppo_actions> policy(
        simppo_encoder{}, rl::categorical_actor(weights, actions.layout()), actions, {hpa_policy(hpa_config::cpu_utilization(70))});
    function_metrics m = metrics(0.5);
    const scaling_state s{.replicas = 4, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1, .memory_limit_mb = 512,
                          .slo = {.latency_s = 0.5, .percentile = 0.99}};
    int i = 0;
    for (auto _ : state) {
        m.cpu_utilization = 0.3 + 0.001 * (i++ & 255);  // vary the input
        benchmark::DoNotOptimize(policy.decide(m, s));
    }
}
BENCHMARK(BM_act_simppo)->Name("BM_act/simppo_agent");

// The same decision made by 1 and 2 threads at once, each with its own
// policy, all reading one set of published weights (as several serving
// threads would). Reported: wall time over all threads' decisions.
void BM_act_simppo_shared(benchmark::State& state) {
    static std::shared_ptr<rl::shared_network<float>> weights;
    if (state.thread_index() == 0) {
        const nn::mlp<float> net = simppo_actor();
        weights = std::make_shared<rl::shared_network<float>>(net);
        weights->publish(net);
    }
    const rl::simppo_actions actions(1);
    std::optional<rl_policy<simppo_encoder, rl::categorical_actor, rl::simppo_actions>> policy;
    function_metrics m = metrics(0.5);
    const scaling_state s{.replicas = 4, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1, .memory_limit_mb = 512,
                          .slo = {.latency_s = 0.5, .percentile = 0.99}};
    int i = 0;
    for (auto _ : state) {
        if (!policy) {  // the first iteration: after thread 0 has set the weights
            state.PauseTiming();
            policy.emplace(simppo_encoder{}, rl::categorical_actor(weights, actions.layout()), actions,
                           std::vector<hpa_policy>{hpa_policy(hpa_config::cpu_utilization(70))});
            state.ResumeTiming();
        }
        m.cpu_utilization = 0.3 + 0.001 * (i++ & 255);
        benchmark::DoNotOptimize(policy->decide(m, s));
    }
}
BENCHMARK(BM_act_simppo_shared)->Name("BM_act/simppo_agent_shared_weights")->Threads(1)->Threads(2)->UseRealTime();

// Single-input forward passes of `net` (an mlp or its int8 copy) on a varying input.
template <typename Net>
void forward_passes(benchmark::State& state, const Net& net) {
    typename Net::inference_buffer buf(net);
    Eigen::VectorXf x = Eigen::VectorXf::Random(7);
    int i = 0;
    for (auto _ : state) {
        x(0) = 0.001F * static_cast<float>(i++ & 255);
        benchmark::DoNotOptimize(net.forward(x, buf).data());
    }
}

// The bare forward pass of the same actor network.
void BM_forward_simppo_actor(benchmark::State& state) { forward_passes(state, simppo_actor()); }
BENCHMARK(BM_forward_simppo_actor)->Name("BM_act/simppo_actor_forward_only");

// The same actor's forward pass through an int8 copy of its weights
// (nn::quantized_mlp, as the DQN's serve_int8 uses), beside the float one.
void BM_forward_simppo_actor_int8(benchmark::State& state) { forward_passes(state, nn::quantized_mlp(simppo_actor())); }
BENCHMARK(BM_forward_simppo_actor_int8)->Name("BM_act/simppo_actor_forward_only_int8");

}  // namespace
