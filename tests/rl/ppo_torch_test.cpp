// One ppo<double>::update(rollout) against PyTorch on the same weights and
// minibatch, with one epoch and one minibatch holding the whole rollout.
//
// The fixture tests/fixtures/ppo_update_torch.json was computed by
// torch.autograd and torch.optim.Adam in float64 and is committed, so this
// test needs no Python. Regenerate it (Debian 12: apt-get install
// python3-torch python3-numpy) with
//
//     /usr/bin/python3 scripts/fixtures/ppo_update_torch.py
//
// Cases (see the generator's docstring):
//  1. simppo_discrete: SIMPPO's shapes (actor 7→16→16→7, one head of 7;
//     critic 23→16→16→1 reading the global state too), 10 samples, ratios
//     clipped on both sides, the gradient-norm clip biting;
//  2. two_heads_value_clip: two heads of 3 actions, value clipping biting,
//     separate actor and critic learning rates, no norm clip;
//  3. continuous: a 2-D Gaussian with a learned state-independent log-std,
//     value clipping and the norm clip;
//  4. one_sample: a one-sample minibatch, whose advantage is not normalised.
// Checked: every loss term, the approximate KL, the clip fraction, the
// gradient norm before clipping, and every actor, critic and log-std
// parameter after the Adam step, each to a relative 1e-9.

#include <rlscale/rl/ppo.hpp>

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

namespace test_rl_ppo_torch {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

using json = nlohmann::json;

Eigen::VectorXd vec(const json& values) {
    const auto v = values.get<std::vector<double>>();
    return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

std::vector<Eigen::Index> hidden_of(const json& sizes) {
    const auto s = sizes.get<std::vector<Eigen::Index>>();
    return {s.begin() + 1, s.end() - 1};
}

ppo_config config_of(const json& cs, std::size_t n) {
    const json& c = cs.at("config");
    ppo_config p;
    p.actor_hidden = hidden_of(cs.at("actor_sizes"));
    p.critic_hidden = hidden_of(cs.at("critic_sizes"));
    REQUIRE(cs.at("hidden_activation").get<std::string>() == "tanh");
    p.hidden_activation = nn::activation::tanh;
    p.clip = c.at("clip").get<double>();
    p.entropy_coef = c.at("entropy_coef").get<double>();
    p.value_coef = c.at("value_coef").get<double>();
    p.clip_value = c.at("clip_value").get<bool>();
    p.value_clip = c.at("value_clip").get<double>();
    p.normalize_advantages = c.at("normalize_advantages").get<bool>();
    p.max_grad_norm = c.at("max_grad_norm").get<double>();
    p.actor_lr = c.at("actor_lr").get<double>();
    p.critic_lr = c.at("critic_lr").get<double>();
    p.adam_eps = c.at("adam_eps").get<double>();
    REQUIRE(c.at("beta1").get<double>() == 0.9);
    REQUIRE(c.at("beta2").get<double>() == 0.999);
    p.rollout_steps = n;
    p.minibatch_size = n;
    p.epochs = 1;
    return p;
}

/// Loads weights and the batch into `agent` and a rollout, runs one update
/// and compares everything with the fixture.
template <typename Action>
void run_case(const json& cs) {
    test::torch_comparison cmp;
    const json& batch = cs.at("batch");
    const json& expected = cs.at("expected");
    const std::size_t n = batch.at("old_log_probs").size();
    const auto actor_sizes = cs.at("actor_sizes").get<std::vector<std::size_t>>();
    const auto critic_sizes = cs.at("critic_sizes").get<std::vector<std::size_t>>();
    const ppo_config config = config_of(cs, n);

    auto make = [&] {
        if constexpr (std::is_integral_v<Action>) {
            const q_layout layout{.heads = cs.at("heads").get<std::size_t>(), .actions_per_head = cs.at("actions_per_head").get<std::size_t>()};
            return ppo<double, Action>(actor_sizes.front(), critic_sizes.front(), layout, config, 7);
        } else {
            return ppo<double, Action>(actor_sizes.front(), critic_sizes.front(), cs.at("action_dims").get<std::size_t>(), config, 7);
        }
    };
    ppo<double, Action> agent = make();
    agent.actor().parameters() = vec(cs.at("actor_params"));
    agent.critic().parameters() = vec(cs.at("critic_params"));
    if constexpr (!std::is_integral_v<Action>) agent.log_std() = vec(cs.at("log_std"));

    rollout_buffer<double, Action> r(n, actor_sizes.front(), critic_sizes.front(), agent.action_width());
    for (std::size_t j = 0; j < n; ++j) {
        const auto a_obs = batch.at("actor_obs")[j].get<std::vector<double>>();
        const auto c_obs = batch.at("critic_obs")[j].get<std::vector<double>>();
        const auto act = batch.at("actions")[j].get<std::vector<Action>>();
        // The reward and flags do not enter an update on given advantages.
        r.push(a_obs, c_obs, act, batch.at("old_log_probs")[j].get<double>(), batch.at("old_values")[j].get<double>(), 0, false,
               false);
        // The pre-step log-probabilities PyTorch computed.
        cmp.scalar("log_prob[" + std::to_string(j) + "]", agent.log_prob(a_obs, act), expected.at("log_probs")[j].get<double>());
    }
    const auto adv = batch.at("advantages").get<std::vector<double>>();
    const auto ret = batch.at("returns").get<std::vector<double>>();
    r.set_advantages(adv, ret);

    const ppo_update_stats s = agent.update(r);
    CHECK(s.steps == 1);
    CHECK(s.skipped == 0);
    cmp.scalar("pg_loss", s.pg_loss, expected.at("pg_loss").get<double>());
    cmp.scalar("value_loss", s.value_loss, expected.at("v_loss").get<double>());
    cmp.scalar("entropy", s.entropy, expected.at("entropy").get<double>());
    cmp.scalar("approx_kl", s.approx_kl, expected.at("approx_kl").get<double>());
    cmp.scalar("loss", s.loss, expected.at("loss").get<double>());
    CHECK(s.clip_fraction == doctest::Approx(expected.at("clipfrac").get<double>()).epsilon(1e-12));
    cmp.scalar("grad_norm", s.grad_norm, expected.at("grad_norm").get<double>());
    cmp.close("actor parameters after the step", agent.actor().parameters(), vec(expected.at("actor_params")));
    cmp.close("critic parameters after the step", agent.critic().parameters(), vec(expected.at("critic_params")));
    if constexpr (!std::is_integral_v<Action>) cmp.close("log_std after the step", agent.log_std(), vec(expected.at("log_std")));
}

}  // namespace

TEST_CASE("ppo::update(rollout) matches PyTorch: losses, KL, clip fraction, gradient norm and the Adam step (fixture)") {
    const json fixture = test::load_torch_fixture("ppo_update_torch.json");
    REQUIRE(fixture.at("cases").size() == 4);
    for (const json& cs : fixture.at("cases")) {
        INFO("case: " << cs.at("name").get<std::string>());
        if (cs.at("kind").get<std::string>() == "discrete") {
            run_case<std::int32_t>(cs);
        } else {
            run_case<double>(cs);
        }
    }
}

}  // namespace test_rl_ppo_torch
