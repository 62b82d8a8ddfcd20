// One dqn<double>::update(batch) against PyTorch on the same weights, optimiser
// state and batch.
//
// The fixture tests/fixtures/dqn_update_torch.json was computed by
// torch.autograd and torch.optim.Adam/AdamW in float64 and is committed, so
// this test needs no Python. Regenerate it (Debian 12: apt-get install
// python3-torch python3-numpy) with
//
//     /usr/bin/python3 scripts/fixtures/dqn_update_torch.py
//
// Every case is a network 5 -> 16 -> 16 -> 6 (ReLU hidden layers, 2 heads of
// 3 actions), a target network drawn apart from the online one, and a batch of
// 8 transitions with a terminated one (no bootstrap), large rewards so that
// some |TD error| exceed β (Huber's linear branch) and others do not:
//  1. max over the target's Q, γ 0.9, τ 0.1, β 1, a truncated transition
//     (which still bootstraps), gradient elements clamped to ±0.05 (8 bite),
//     Adam's first step (zero moments; lr 1e-3, torch's betas and ε);
//  2. double DQN (online choice valued by the target; every live choice
//     differs from the target's own greedy one), γ 0.95, τ 0.2, β 0.5, two
//     terminated transitions and a truncated one, a restored Adam state (step
//     7, non-zero moments, so the step depends on |g| and not only on its
//     sign) with lr 5e-3, betas 0.8 / 0.99, ε 1e-6 and L2 weight decay 0.01,
//     elements clamped to ±0.06 (6 bite) and then the norm clipped to 0.1;
//  3. a restored Adam state (step 3) with decoupled weight decay (AdamW) 0.05,
//     lr 2e-3, γ 0.99, τ 0.05, β 2, no clipping.
// Checked: the loss, the gradient norm before clipping, the mean Q of the
// chosen actions, every online and target parameter and Adam's moments after
// the step, each to a relative 1e-9.

#include <rlscale/rl/dqn.hpp>

#include "../torch_fixture.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace test_rl_dqn_torch {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

using json = nlohmann::json;


/// Writes per-layer {weight: out × in rows, bias} into `net`.
void set_parameters(nn::mlp<double>& net, const json& layers) {
    REQUIRE(layers.size() == net.layer_count());
    for (std::size_t l = 0; l < net.layer_count(); ++l) {
        const json& w = layers[l].at("weight");
        const json& b = layers[l].at("bias");
        auto weight = net.weight(l);
        auto bias = net.bias(l);
        REQUIRE(static_cast<Eigen::Index>(w.size()) == weight.rows());
        REQUIRE(static_cast<Eigen::Index>(b.size()) == bias.size());
        for (Eigen::Index i = 0; i < weight.rows(); ++i) {
            REQUIRE(static_cast<Eigen::Index>(w[static_cast<std::size_t>(i)].size()) == weight.cols());
            for (Eigen::Index k = 0; k < weight.cols(); ++k) {
                weight(i, k) = w[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)].get<double>();
            }
            bias(i) = b[static_cast<std::size_t>(i)].get<double>();
        }
    }
}

/// Per-layer values (weights or Adam moments) as one vector in the network's flat order.
Eigen::VectorXd flat(const nn::mlp<double>& like, const json& layers) {
    nn::mlp<double> net(like.layers());
    set_parameters(net, layers);
    return net.parameters();
}

}  // namespace

TEST_CASE("dqn::update(batch) matches PyTorch: loss, gradient norm, Adam step and Polyak target (fixture)") {
    const json fixture = test::load_torch_fixture("dqn_update_torch.json");
    const auto obs_size = fixture.at("observation_size").get<std::size_t>();
    const q_layout layout{.heads = fixture.at("heads").get<std::size_t>(),
                          .actions_per_head = fixture.at("actions_per_head").get<std::size_t>()};
    const auto hidden = fixture.at("hidden").get<std::vector<Eigen::Index>>();
    REQUIRE(fixture.at("cases").size() == 3);

    test::torch_comparison cmp;
    for (const json& cs : fixture.at("cases")) {
        INFO("case: " << cs.at("name").get<std::string>());
        const json& cfg = cs.at("config");
        dqn_config c;
        c.hidden = hidden;
        c.gamma = cfg.at("gamma").get<double>();
        c.tau = cfg.at("tau").get<double>();
        c.huber_beta = cfg.at("huber_beta").get<double>();
        c.grad_clip_value = cfg.at("grad_clip_value").get<double>();
        c.grad_clip_norm = cfg.at("grad_clip_norm").get<double>();
        c.double_dqn = cfg.at("double_dqn").get<bool>();
        c.batch_size = cfg.at("batch_size").get<std::size_t>();
        c.replay_capacity = c.batch_size;
        c.learning_starts = c.batch_size;
        const json& a = cfg.at("adam");
        c.adam = {.lr = a.at("lr").get<double>(),
                  .beta1 = a.at("beta1").get<double>(),
                  .beta2 = a.at("beta2").get<double>(),
                  .eps = a.at("eps").get<double>(),
                  .weight_decay = a.at("weight_decay").get<double>(),
                  .decoupled_weight_decay = a.at("decoupled_weight_decay").get<bool>()};

        dqn<double> agent(obs_size, layout, c, 1);
        // The fixture's architecture is the agent's.
        const auto sizes = fixture.at("layer_sizes").get<std::vector<Eigen::Index>>();
        REQUIRE(sizes.size() == agent.online().layer_count() + 1);
        for (std::size_t l = 0; l < agent.online().layer_count(); ++l) {
            CHECK(agent.online().layers()[l].in == sizes[l]);
            CHECK(agent.online().layers()[l].out == sizes[l + 1]);
            CHECK(agent.online().layers()[l].act ==
                  (l + 1 < agent.online().layer_count() ? nn::activation::relu : nn::activation::identity));
        }
        set_parameters(agent.online(), cs.at("online"));
        set_parameters(agent.target(), cs.at("target"));
        if (cs.contains("adam_state")) {
            const json& st = cs.at("adam_state");
            agent.optimizer().restore(st.at("step").get<std::int64_t>(), flat(agent.online(), st.at("m")),
                                      flat(agent.online(), st.at("v")));
        }

        const json& b = cs.at("batch");
        const std::size_t n = b.at("rewards").size();
        replay_batch<double> batch(obs_size, layout.heads, c.batch_size);
        for (std::size_t j = 0; j < n; ++j) {
            const auto col = static_cast<Eigen::Index>(j);
            for (std::size_t i = 0; i < obs_size; ++i) {
                batch.observations(static_cast<Eigen::Index>(i), col) = b.at("observations")[j][i].get<double>();
                batch.next_observations(static_cast<Eigen::Index>(i), col) = b.at("next_observations")[j][i].get<double>();
            }
            for (std::size_t h = 0; h < layout.heads; ++h) {
                batch.actions(static_cast<Eigen::Index>(h), col) = b.at("actions")[j][h].get<std::int32_t>();
            }
            batch.rewards(col) = b.at("rewards")[j].get<double>();
            batch.terminated(col) = b.at("terminated")[j].get<double>();
            batch.truncated(col) = b.at("truncated")[j].get<double>();
        }
        batch.size = n;

        const dqn_update_stats stats = agent.update(batch);
        REQUIRE(stats.applied);
        CHECK(agent.updates() == 1);

        const json& e = cs.at("expected");
        cmp.scalar("loss", stats.loss, e.at("loss").get<double>());
        cmp.scalar("grad_norm", stats.grad_norm, e.at("grad_norm").get<double>());
        cmp.scalar("mean_q", stats.mean_q, e.at("mean_q").get<double>());
        cmp.close("online parameters", agent.online().parameters(), flat(agent.online(), e.at("online")));
        cmp.close("target parameters", agent.target().parameters(), flat(agent.online(), e.at("target")));
        CHECK(agent.optimizer().step_count() == e.at("adam").at("step").get<std::int64_t>());
        cmp.close("Adam m", agent.optimizer().first_moment(), flat(agent.online(), e.at("adam").at("m")));
        cmp.close("Adam v", agent.optimizer().second_moment(), flat(agent.online(), e.at("adam").at("v")));
    }
    MESSAGE("largest difference from PyTorch: " << cmp.max_abs << " absolute, " << cmp.max_rel << " relative");
}

}  // namespace test_rl_dqn_torch
