// The SCARLET demo's training loop (examples/common/scarlet_dqn.hpp) for
// 1,000 environment steps on each model of the cluster: what a step of
// training costs end to end (simulation, acting, 500 DQN updates after the
// 500 warm-up steps). The ratio of the two is the tick-level model's
// speed-up of training. tick_2_update_threads cuts each update's batch into
// two shards run on two threads (dqn_config::update_shards).
#include "common/scarlet_dqn.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace {

using namespace rlscale;
using namespace rlscale::examples;

void BM_train(benchmark::State& state, sim::sim_model model, std::size_t update_threads = 1) {
    const demo_actions actions;
    for (auto _ : state) {
        std::vector<scarlet_env> envs;
        for (const scenario& sc : training_scenarios(3600, 1)) envs.push_back(make_env(sc, 240, replica_cost_weight, model));
        const rl::train_report r = with_action_map(actions, 3, [&](const auto& map) {
            rl::dqn_config config = demo_dqn_config();
            config.update_shards = config.update_threads = update_threads;
            rl::dqn<float> agent(envs[0].observation_size(), map.layout(), config, 1);
            return rl::train(std::span<scarlet_env>(envs), agent, map,
                             {.steps = 1000, .seed = 1000, .report_every = 0, .downscale_window = actions.downscale_window},
                             [](const rl::train_report&) {});
        });
        benchmark::DoNotOptimize(r.mean_reward);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1000);
}

BENCHMARK_CAPTURE(BM_train, scarlet_demo_1000_steps/request, sim::sim_model::request)->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK_CAPTURE(BM_train, scarlet_demo_1000_steps/tick, sim::sim_model::tick)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_train, scarlet_demo_1000_steps/tick_2_update_threads, sim::sim_model::tick, 2)
    ->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

}  // namespace
