// Run under ThreadSanitizer (see tests/CMakeLists.txt): control loops on
// several threads decide through rl_policy and greedy_agent, and refresh a
// network_follower, while a trainer publishes new weights and loads
// checkpoints, rejected ones included.
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/action_space.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

using namespace rlscale;

namespace {
nn::mlp<float> constant_net(float v) {
    nn::mlp<float> net({15, 32, 27});
    net.parameters().setConstant(v);
    return net;
}
function_metrics healthy() {
    function_metrics m;
    m.interval_s = 15;
    m.throughput_rps = 10;
    m.cpu_utilization = 0.5;
    m.memory_utilization = 0.3;
    m.cpu_limit = 1;
    m.ready_replicas = 3;
    return m;
}
}  // namespace

TEST_CASE("deciding on many threads while the weights are replaced") {
    auto weights = std::make_shared<rl::shared_network<float>>(constant_net(0));
    weights->publish(constant_net(0.01F));
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "tsan";
    std::filesystem::create_directories(dir);
    nn::save_checkpoint(dir / "good.json", constant_net(0.02F));
    std::ofstream(dir / "bad.json") << "{\"format\": \"rlscale.checkpoint\"";

    std::atomic<bool> stop{false};
    std::atomic<long> decisions{0};
    std::atomic<long> torn{0};
    std::vector<std::thread> loops;
    for (int t = 0; t < 3; ++t) {
        loops.emplace_back([&, t] {
            std::vector<hpa_policy> fallbacks(3, hpa_policy(hpa_config::cpu_utilization(50)));
            dqn_policy<scarlet_encoder, rl::joint_delta_actions> p(weights, scarlet_encoder{}, rl::joint_delta_actions(3),
                                                                  std::move(fallbacks));
            rl::greedy_agent agent(weights);
            rl::network_follower<float> follower(weights);
            const std::array<function_metrics, 3> m{healthy(), healthy(), healthy()};
            std::array<scaling_state, 3> s{};
            for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 10};
            std::array<decision, 3> d{};
            const std::array<float, 15> obs{};
            while (!stop.load()) {
                p.decide(m, s, d);
                for (const auto& x : d) {
                    if (x.replicas < 1 || x.replicas > 10) torn.fetch_add(1);
                }
                if (agent.act(obs) >= agent.action_count()) torn.fetch_add(1);
                {
                    const auto g = weights->acquire();
                    const auto w = g->parameters();
                    if ((w.array() != w[0]).any()) torn.fetch_add(1);
                }
                // What the actors serve: a follower's copy, refreshed only
                // when a newer snapshot is out, is one whole snapshot too.
                if (follower.refresh()) {
                    const auto w = follower.net().parameters();
                    if ((w.array() != w[0]).any()) torn.fetch_add(1);
                }
                decisions.fetch_add(1);
                s[static_cast<std::size_t>(t)].time_s += 15;
            }
        });
    }
    while (decisions.load() < 3) std::this_thread::yield();  // every loop is running
    for (int i = 0; i < 400; ++i) {
        weights->publish(constant_net(0.001F * static_cast<float>(i)));
        if (i % 50 == 0) {
            weights->load(dir / "good.json");
            CHECK_THROWS_AS(weights->load(dir / "bad.json"), checkpoint_error);
        }
    }
    stop.store(true);
    for (auto& l : loops) l.join();
    CHECK(torn.load() == 0);
    CHECK(decisions.load() > 0);
}
