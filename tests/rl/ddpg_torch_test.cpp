// ddpg<double>::update(batch, smoothing_noise) against PyTorch on the same
// weights, batches and smoothing noise.
//
// The fixture tests/fixtures/ddpg_update_torch.json was computed by
// torch.autograd and torch.optim.Adam in float64 and is committed, so this
// test needs no Python. Regenerate it (Debian 12: apt-get install
// python3-torch python3-numpy) with
//
//     /usr/bin/python3 scripts/fixtures/ddpg_update_torch.py
//
// The script's docstring gives the update it computes. Cases (observations
// of 4, two action dimensions, hidden 6×5 for both networks, batches of 8
// with a terminated and a truncated transition, targets pulled away from the
// online networks, two updates each from zero Adam state):
//  1. FIRM-like: the action joins the critic after hidden layer 1, γ 0.9,
//     τ 0.001, critic lr 3e-3 (Adam's second step and Polyak both covered);
//  2. CleanRL-like: the action at the critic's input, policy delay 2 (the
//     first update trains the critic only);
//  3. TD3: twin critics, the given smoothing noise (large draws: the noise
//     clip and the bounds bite), bounds of other widths per dimension,
//     policy delay 2;
//  4. TD3+BC: twin critics, smoothing, bc_alpha 2.5, both gradient clips.
// Checked after every update: the critic loss, mean Q, both gradient norms,
// the actor loss, and every parameter of the actor, the critics and all
// targets, each to a relative 1e-9.

#include <rlscale/rl/ddpg.hpp>

#include "../torch_fixture.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace test_rl_ddpg_torch {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

using json = nlohmann::json;

Eigen::VectorXd vec(const json& j) {
    const auto v = j.get<std::vector<double>>();
    return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

Eigen::VectorXd critic_params(const ddpg_critic<double>& c) {
    Eigen::VectorXd v(c.parameter_count());
    c.read_parameters(v);
    return v;
}

nn::adam_config adam_from(const json& j) {
    return {.lr = j.at("lr").get<double>(),
            .beta1 = j.at("beta1").get<double>(),
            .beta2 = j.at("beta2").get<double>(),
            .eps = j.at("eps").get<double>()};
}

}  // namespace

TEST_CASE("ddpg::update(batch, noise) matches PyTorch: DDPG, TD3 and TD3+BC, losses and every parameter (fixture)") {
    const json fixture = test::load_torch_fixture("ddpg_update_torch.json");
    REQUIRE(fixture.at("cases").size() == 4);
    test::torch_comparison cmp;
    for (const json& cs : fixture.at("cases")) {
        INFO("case: " << cs.at("name").get<std::string>());
        const json& cfg = cs.at("config");
        ddpg_config c;
        c.actor_hidden = cfg.at("actor_hidden").get<std::vector<Eigen::Index>>();
        c.critic_hidden = cfg.at("critic_hidden").get<std::vector<Eigen::Index>>();
        c.critic_action_layer = cfg.at("critic_action_layer").get<std::size_t>();
        c.actor_adam = adam_from(cfg.at("actor_adam"));
        c.critic_adam = adam_from(cfg.at("critic_adam"));
        c.gamma = cfg.at("gamma").get<double>();
        c.tau = cfg.at("tau").get<double>();
        c.batch_size = cfg.at("batch").get<std::size_t>();
        c.replay_capacity = c.batch_size;
        c.learning_starts = c.batch_size;
        c.twin_critics = cfg.at("twin_critics").get<bool>();
        c.policy_noise = cfg.at("policy_noise").get<double>();
        c.noise_clip = cfg.at("noise_clip").get<double>();
        c.policy_delay = cfg.at("policy_delay").get<std::size_t>();
        c.bc_alpha = cfg.at("bc_alpha").get<double>();
        c.actor_grad_clip_norm = cfg.at("actor_grad_clip_norm").get<double>();
        c.critic_grad_clip_norm = cfg.at("critic_grad_clip_norm").get<double>();
        std::vector<action_bound> bounds;
        for (const json& b : cfg.at("bounds")) bounds.push_back({b[0].get<double>(), b[1].get<double>()});
        const auto obs = cfg.at("observation_size").get<std::size_t>();

        ddpg<double> agent(obs, bounds, c, 1);
        const json& init = cs.at("initial");
        REQUIRE(agent.actor().parameter_count() == static_cast<Eigen::Index>(init.at("actor").size()));
        agent.actor().parameters() = vec(init.at("actor"));
        agent.target_actor().parameters() = vec(init.at("target_actor"));
        REQUIRE(init.at("critics").size() == agent.critic_count());
        for (std::size_t i = 0; i < agent.critic_count(); ++i) {
            REQUIRE(agent.critic(i).parameter_count() == static_cast<Eigen::Index>(init.at("critics")[i].size()));
            agent.critic(i).write_parameters(vec(init.at("critics")[i]));
            agent.target_critic(i).write_parameters(vec(init.at("target_critics")[i]));
        }

        int u = 0;
        for (const json& up : cs.at("updates")) {
            CAPTURE(u);
            ++u;
            const json& b = up.at("batch");
            const std::size_t n = b.at("rewards").size();
            replay_batch<double, double> batch(obs, bounds.size(), c.batch_size);
            for (std::size_t j = 0; j < n; ++j) {
                const auto col = static_cast<Eigen::Index>(j);
                for (std::size_t i = 0; i < obs; ++i) {
                    batch.observations(static_cast<Eigen::Index>(i), col) = b.at("observations")[j][i].get<double>();
                    batch.next_observations(static_cast<Eigen::Index>(i), col) = b.at("next_observations")[j][i].get<double>();
                }
                for (std::size_t d = 0; d < bounds.size(); ++d) {
                    batch.actions(static_cast<Eigen::Index>(d), col) = b.at("actions")[j][d].get<double>();
                }
                batch.rewards(col) = b.at("rewards")[j].get<double>();
                batch.terminated(col) = b.at("terminated")[j].get<double>();
                batch.truncated(col) = b.at("truncated")[j].get<double>();
            }
            batch.size = n;
            Eigen::MatrixXd z(static_cast<Eigen::Index>(bounds.size()), static_cast<Eigen::Index>(n));
            for (std::size_t d = 0; d < bounds.size(); ++d) {
                for (std::size_t j = 0; j < n; ++j) {
                    z(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(j)) = b.at("smoothing_noise")[d][j].get<double>();
                }
            }

            const auto stats = agent.update(batch, z);
            REQUIRE(stats.applied);
            CHECK(stats.actor_updated == up.at("actor_updated").get<bool>());
            cmp.scalar("critic_loss", stats.critic_loss, up.at("critic_loss").get<double>());
            cmp.scalar("mean_q", stats.mean_q, up.at("mean_q").get<double>());
            cmp.scalar("critic_grad_norm", stats.critic_grad_norm, up.at("critic_grad_norm").get<double>());
            if (stats.actor_updated) {
                cmp.scalar("actor_loss", stats.actor_loss, up.at("actor_loss").get<double>());
                cmp.scalar("actor_grad_norm", stats.actor_grad_norm, up.at("actor_grad_norm").get<double>());
            } else {
                CHECK(std::isnan(stats.actor_loss));
            }
            const json& after = up.at("after");
            cmp.close("actor", agent.actor().parameters(), vec(after.at("actor")));
            cmp.close("target_actor", agent.target_actor().parameters(), vec(after.at("target_actor")));
            for (std::size_t i = 0; i < agent.critic_count(); ++i) {
                CAPTURE(i);
                cmp.close("critic", critic_params(agent.critic(i)), vec(after.at("critics")[i]));
                cmp.close("target_critic", critic_params(agent.target_critic(i)), vec(after.at("target_critics")[i]));
            }
        }
    }
    MESSAGE("largest differences from PyTorch: absolute " << cmp.max_abs << ", relative " << cmp.max_rel);
}

}  // namespace test_rl_ddpg_torch
