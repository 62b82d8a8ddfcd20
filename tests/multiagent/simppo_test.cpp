#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/multiagent/simppo.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/sim/env.hpp>

#include "../temp_path.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace test_multiagent_simppo {

using namespace rlscale;
using namespace rlscale::multiagent;

namespace {

/// `n` functions cycling through the CPU-, memory- and I/O-bound profiles on
/// one node, each under a constant load.
sim::cluster_config shared_node(std::size_t n) {
    sim::cluster_config c;
    c.node.cores = 8;
    c.node.memory_mb = 32768;
    const sim::function_profile profiles[] = {sim::profile("cpu-bound"), sim::profile("memory-bound"), sim::profile("io-bound")};
    for (std::size_t i = 0; i < n; ++i) {
        c.functions.push_back({.profile = profiles[i % 3], .load = sim::constant(2.0 + static_cast<double>(i), 3600),
                               .max_replicas = 20, .initial_replicas = 2});
    }
    return c;
}

const char* category_of(std::size_t i) {
    static const char* names[] = {"cpu", "memory", "io"};
    return names[i % 3];
}

/// Agents f0, f1 and f2, one per category.
void add_three_agents(simppo_coordinator& coord) {
    for (std::size_t i = 0; i < 3; ++i) coord.add_agent("f" + std::to_string(i), category_of(i));
}

/// Resets `env` with `seed` and begins the coordinator's episode on it.
void begin_on(simppo_coordinator& coord, sim::cluster_env<>& env, std::uint64_t seed) {
    (void)env.reset(seed);
    coord.begin_episode(env.metrics(), env.states());
}

sim::env_config env_of(std::size_t n) {
    sim::env_config e{.control_interval_s = 15, .episode_steps = 10, .functions = {}};
    const auto c = shared_node(n);
    for (const auto& f : c.functions) {
        e.functions.push_back({.replicas = f.initial_replicas, .min_replicas = 1, .max_replicas = f.max_replicas,
                               .cpu_limit = f.profile.cpu_limit, .memory_limit_mb = f.profile.memory_mb,
                               .slo = {.latency_s = f.profile.slo_s, .percentile = 0.99}});
    }
    return e;
}

simppo_config small_config(std::size_t threads) {
    simppo_config c;
    c.ppo.actor_hidden = {16, 16};
    c.ppo.critic_hidden = {16, 16};
    c.ppo.rollout_steps = 10;
    c.threads = threads;
    c.seed = 11;
    return c;
}

/// Runs `episodes` episodes of the coordinator's agents on their shared node.
std::size_t train(simppo_coordinator& coord, std::size_t episodes, std::uint64_t seed) {
    const std::size_t n = coord.agent_count();
    sim::cluster_env<> env(shared_node(n), env_of(n));
    std::vector<scaling_target> targets(n);
    std::size_t updates = 0;
    for (std::size_t e = 0; e < episodes; ++e) {
        (void)env.reset(seed + e);
        coord.begin_episode(env.metrics(), env.states());
        for (;;) {
            coord.act(env.states(), targets);
            const auto r = env.step_to(targets);
            const simppo_tick t = coord.observe(r.info, env.states(), r.truncated);
            updates += t.updates;
            CHECK(std::isfinite(t.team_reward));
            if (r.truncated) break;
        }
    }
    return updates;
}

}  // namespace

TEST_CASE("simppo_coordinator: actors read 7 local features, critics 23 (local plus the 16 global ones), one head of 7 actions") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    CHECK(coord.learner(0).actor_observation_size() == 7);
    CHECK(coord.learner(0).critic_observation_size() == 23);
    CHECK(coord.learner(0).layout().actions_per_head == 7);
    CHECK(coord.learner(0).config().minibatch_size == 5);
}

TEST_CASE("simppo_coordinator: every agent is rewarded with the team average, and the global state describes the others") {
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    sim::cluster_env<> env(shared_node(3), env_of(3));
    begin_on(coord, env, 3);
    std::vector<scaling_target> targets(3);
    coord.act(env.states(), targets);
    const auto r = env.step_to(targets);
    const simppo_tick t = coord.observe(r.info, env.states(), false);
    // Each agent's stored reward is the team reward.
    const simppo_reward reward;
    double own_sum = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        REQUIRE(coord.learner(i).own_rollout().size() == 1);
        CHECK(coord.learner(i).own_rollout().rewards()(0) == doctest::Approx(t.team_reward));
        own_sum += reward(r.info.subspan(i, 1), env.states().subspan(i, 1));
    }
    // Without penalties the team reward is the mean metric reward; penalties only lower it.
    CHECK(t.team_reward <= own_sum / 3 + 1e-9);
    // The critic input's global part is simppo_global_state over the other agents.
    const auto critic = coord.critic_input(1);
    CHECK(critic[7 + 5] >= 0.0F);  // MSP, a mean of SP in [0, 1]
    CHECK(critic[7 + 5] <= 1.0F);
}

TEST_CASE("simppo_coordinator: one function's refused metrics refuse only its own observation and leave the team reward alone") {
    // Each agent's stored reward is its own (team_weight 0), so the team
    // reward can be checked against the rewards the other agents stored.
    simppo_config c = small_config(0);
    c.team_weight = 0;
    simppo_coordinator coord(c);
    add_three_agents(coord);
    sim::cluster_env<> env(shared_node(3), env_of(3));
    begin_on(coord, env, 3);
    std::vector<scaling_target> targets(3);
    coord.act(env.states(), targets);
    auto r = env.step_to(targets);
    REQUIRE(coord.observe(r.info, env.states(), false).unscored == 0);
    for (std::size_t i = 0; i < 3; ++i) REQUIRE(coord.learner(i).own_rollout().size() == 1);
    const auto& rollout1 = coord.learner(1).own_rollout();
    REQUIRE(rollout1.last_open());
    const double v1 = coord.learner(1).value(coord.critic_input(1));  // V of the observation agent 1 acts from next

    coord.act(env.states(), targets);
    r = env.step_to(targets);
    std::vector<function_metrics> m(r.info.begin(), r.info.end());
    m[1].cpu_utilization = std::numeric_limits<double>::quiet_NaN();  // function 1's exporter lost a series
    const simppo_tick t = coord.observe(m, env.states(), false);
    CHECK(t.invalid == 1);   // function 1 alone: the others' global state leaves it out
    CHECK(t.unscored == 1);  // and it has no reward
    // Its step's reward is unknown: not stored; the step before it ends
    // where it began, valued by V of that observation. The others store theirs.
    CHECK(rollout1.size() == 1);
    CHECK(rollout1.truncated()(0) == 1.0);
    CHECK(rollout1.truncation_values()(0) == doctest::Approx(v1));
    REQUIRE(coord.learner(0).own_rollout().size() == 2);
    REQUIRE(coord.learner(2).own_rollout().size() == 2);
    const double r0 = coord.learner(0).own_rollout().rewards()(1);
    const double r2 = coord.learner(2).own_rollout().rewards()(1);
    CHECK(t.team_reward == doctest::Approx((r0 + r2) / 2));
    CHECK(std::isfinite(coord.critic_input(0)[7 + 5]));

    // Agent 1 holds next tick; the others act on. A field neither the
    // reward nor the encoders read (function 0's throughput) missing
    // changes nothing.
    coord.act(env.states(), targets);
    CHECK(targets[1].replicas == env.states()[1].replicas);
    r = env.step_to(targets);
    m.assign(r.info.begin(), r.info.end());
    m[0].throughput_rps = std::numeric_limits<double>::quiet_NaN();
    const simppo_tick t2 = coord.observe(m, env.states(), false);
    CHECK(t2.invalid == 0);
    CHECK(t2.unscored == 0);
    CHECK(coord.learner(0).own_rollout().size() == 3);
    CHECK(rollout1.size() == 1);  // it held: nothing to store
}

TEST_CASE("simppo_coordinator: team_weight mixes the team average with each agent's own reward") {
    // Three coordinators with the same seed act alike on the first tick; they
    // differ only in the reward they store.
    const auto stored_rewards = [](double team_weight, double& team) {
        simppo_config c = small_config(0);
        c.team_weight = team_weight;
        simppo_coordinator coord(c);
        add_three_agents(coord);
        sim::cluster_env<> env(shared_node(3), env_of(3));
        begin_on(coord, env, 5);
        std::vector<scaling_target> targets(3);
        coord.act(env.states(), targets);
        const auto r = env.step_to(targets);
        team = coord.observe(r.info, env.states(), false).team_reward;
        std::vector<double> out;
        for (std::size_t i = 0; i < 3; ++i) {
            REQUIRE(coord.learner(i).own_rollout().size() == 1);
            out.push_back(coord.learner(i).own_rollout().rewards()(0));
        }
        return out;
    };
    double team1 = 0, team0 = 0, team_mix = 0;
    const auto as_team = stored_rewards(1, team1);
    const auto own = stored_rewards(0, team0);
    const auto mix = stored_rewards(0.25, team_mix);
    CHECK(team0 == team1);
    CHECK(team_mix == team1);
    double own_mean = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(as_team[i] == doctest::Approx(team1));
        CHECK(mix[i] == doctest::Approx(0.25 * team1 + 0.75 * own[i]));
        own_mean += own[i] / 3;
    }
    // The own rewards average to the team reward, and they are not all equal
    // (else the mix would not be tested).
    CHECK(own_mean == doctest::Approx(team1));
    CHECK(std::abs(own[0] - own[1]) + std::abs(own[1] - own[2]) > 1e-3);

    for (const double bad : {-0.1, 1.5, std::nan("")}) {
        simppo_config c = small_config(0);
        c.team_weight = bad;
        CHECK_THROWS_WITH_AS(simppo_coordinator{c}, doctest::Contains("simppo_config.team_weight"), config_error);
    }
    // A nested struct's field is named under simppo_config.
    simppo_config c = small_config(0);
    c.ppo.gamma = 2;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c}, doctest::Contains("simppo_config.ppo.gamma"), config_error);
}

TEST_CASE("simppo_coordinator: agents added and removed while training keep every other agent's networks and keep learning") {
    simppo_coordinator coord(small_config(1));
    add_three_agents(coord);
    CHECK(train(coord, 2, 100) == 6);  // 20 steps, rollout 10: two updates per agent

    // Remember the other agents' networks: their storage and their values.
    const float* actor0 = coord.learner(0).actor().parameters().data();
    const Eigen::VectorXf before0 = coord.learner(0).actor().parameters();
    const std::uint64_t rollouts0 = coord.learner(0).rollouts();

    coord.add_agent("f3", "cpu");
    REQUIRE(coord.agent_count() == 4);
    CHECK(coord.learner(0).actor().parameters().data() == actor0);  // not rebuilt
    CHECK(coord.learner(0).actor().parameters() == before0);
    CHECK(coord.learner(0).critic_observation_size() == 23);        // same shape with four agents
    CHECK(train(coord, 1, 200) == 4);
    CHECK(coord.learner(0).rollouts() == rollouts0 + 1);
    CHECK(coord.learner(3).rollouts() == 1);

    coord.remove_agent("f1");
    REQUIRE(coord.agent_count() == 3);
    CHECK(coord.name(1) == "f2");
    CHECK(coord.learner(0).actor().parameters().data() == actor0);
    CHECK(train(coord, 1, 300) == 3);
    CHECK_THROWS_WITH_AS(coord.remove_agent("f1"), doctest::Contains("name"), config_error);
    CHECK_THROWS_WITH_AS(coord.add_agent("f0", "cpu"), doctest::Contains("\"f0\""), config_error);
}

TEST_CASE("simppo_coordinator: a name or category that is not valid UTF-8 is refused by add_agent, naming the field, and adds nothing") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    // The name goes into the agent's checkpoint, which is JSON: added, it
    // made every checkpoint(i) of the agent throw the JSON library's error,
    // naming nothing.
    CHECK_THROWS_WITH_AS(coord.add_agent("bad\xff", "cpu"),
                         doctest::Contains("simppo_coordinator.add_agent.name: must be valid UTF-8, got \"bad\xEF\xBF\xBD\""), config_error);
    CHECK_THROWS_WITH_AS(coord.add_agent("f1", "c\xC3pu\n"),
                         doctest::Contains("simppo_coordinator.add_agent.category: must be valid UTF-8, got \"c\xEF\xBF\xBDpu\\x0a\""),
                         config_error);
    REQUIRE(coord.agent_count() == 1);
    // Nothing was used up: the next agent has the seed it would have had.
    simppo_coordinator fresh(small_config(0));
    fresh.add_agent("f0", "cpu");
    CHECK(coord.add_agent("f1", "cpu") == 1);
    CHECK(fresh.add_agent("f1", "cpu") == 1);
    CHECK(coord.learner(1).actor().parameters() == fresh.learner(1).actor().parameters());
    // Text that is valid UTF-8 is any name's, and is written as it is.
    const std::size_t i = coord.add_agent("caf\xC3\xA9", "\xE2\x9A\x99");
    CHECK(coord.checkpoint(i)["serving"]["functions"][0] == "caf\xC3\xA9");
    // A name echoed in an error is made valid UTF-8 (the error goes to logs and JSON).
    try {
        coord.remove_agent("gone\xff");
        FAIL("remove_agent did not throw");
    } catch (const config_error& e) {
        CHECK(is_valid_utf8(e.what()));
        CHECK(std::string(e.what()).find("\"gone\xEF\xBF\xBD\"") != std::string::npos);
    }
    CHECK(coord.agent_count() == 3);
}

TEST_CASE("simppo_coordinator: a new agent starts from its category's base model, refreshed from the agents of that category") {
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    (void)train(coord, 2, 5);
    CHECK_FALSE(coord.has_base_model("cpu"));
    coord.refresh_base_models();
    CHECK(coord.has_base_model("cpu"));
    CHECK(coord.has_base_model("io"));

    const std::size_t a = coord.add_agent("new-cpu", "cpu");
    CHECK(coord.started_from_base(a));
    CHECK(coord.learner(a).actor().parameters() == coord.learner(0).actor().parameters());  // f0 is the only cpu agent
    CHECK(coord.learner(a).critic().parameters() == coord.learner(0).critic().parameters());
    const std::size_t b = coord.add_agent("new-gpu", "gpu");  // no base model for this label
    CHECK_FALSE(coord.started_from_base(b));

    simppo_config no_sharing = small_config(0);
    no_sharing.parameter_sharing = false;
    simppo_coordinator plain(no_sharing);
    plain.add_agent("f0", "cpu");
    (void)train(plain, 1, 5);
    plain.refresh_base_models();
    CHECK_FALSE(plain.started_from_base(plain.add_agent("f1", "cpu")));
}

TEST_CASE("simppo_coordinator: training is deterministic for a seed, with or without worker threads") {
    simppo_coordinator serial(small_config(0));
    simppo_coordinator threaded(small_config(2));
    for (std::size_t i = 0; i < 4; ++i) {
        serial.add_agent("f" + std::to_string(i), category_of(i));
        threaded.add_agent("f" + std::to_string(i), category_of(i));
    }
    CHECK(serial.threads() == 0);
    CHECK(threaded.threads() == 2);
    (void)train(serial, 2, 9);
    (void)train(threaded, 2, 9);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(serial.learner(i).actor().parameters() == threaded.learner(i).actor().parameters());
        CHECK(serial.learner(i).critic().parameters() == threaded.learner(i).critic().parameters());
    }
}

TEST_CASE("simppo_coordinator: agents update in one workspace per thread, so an agent holds no gradient and memory per agent excludes it") {
    simppo_coordinator coord(small_config(2));
    coord.add_agent("f0", category_of(0));
    const std::size_t workspaces = coord.workspace_bytes();
    const auto& l = coord.learner(0);
    CHECK_FALSE(l.owns_workspace());
    const simppo_coordinator::learner_type::workspace one(l);
    CHECK(workspaces == 3 * one.bytes());  // the caller and two workers
    const auto params = static_cast<std::size_t>(l.actor().parameter_count() + l.critic().parameter_count());
    // The workspace holds both gradients and more.
    CHECK(one.bytes() > params * sizeof(float));
    // An agent: parameters and two Adam moments, its rollout, itself.
    CHECK(l.parameter_bytes() == 3 * params * sizeof(float));
    CHECK(l.heap_bytes() > l.parameter_bytes() + l.own_rollout().bytes());
    CHECK(coord.agent_bytes(0) > l.heap_bytes());
    CHECK(coord.agent_bytes(0) < l.heap_bytes() + 4096);  // the agent object and its names
    CHECK(coord.agent_bytes(0) < 4 * params * sizeof(float));
    for (std::size_t i = 1; i < 6; ++i) coord.add_agent("f" + std::to_string(i), category_of(i));
    CHECK(coord.workspace_bytes() == workspaces);
    (void)train(coord, 2, 9);
    CHECK(coord.workspace_bytes() == workspaces);
}

TEST_CASE("simppo_coordinator with bfloat16 Adam moments: two bytes per moment, and the same training with and without worker threads") {
    simppo_config half = small_config(0);
    half.ppo.adam_moments = rlscale::nn::moment_storage::bfloat16;
    simppo_coordinator full_coord(small_config(0));
    simppo_coordinator serial(half);
    half.threads = 2;
    simppo_coordinator threaded(half);
    for (std::size_t i = 0; i < 4; ++i) {
        full_coord.add_agent("f" + std::to_string(i), category_of(i));
        serial.add_agent("f" + std::to_string(i), category_of(i));
        threaded.add_agent("f" + std::to_string(i), category_of(i));
    }
    const auto& l = serial.learner(0);
    const auto params = static_cast<std::size_t>(l.actor().parameter_count() + l.critic().parameter_count());
    CHECK(l.parameter_bytes() == params * sizeof(float) + 2 * params * sizeof(std::uint16_t));
    CHECK(full_coord.agent_bytes(0) - serial.agent_bytes(0) == params * sizeof(float));
    (void)train(serial, 2, 9);
    (void)train(threaded, 2, 9);
    (void)train(full_coord, 2, 9);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(serial.learner(i).actor().parameters() == threaded.learner(i).actor().parameters());
        CHECK(serial.learner(i).critic().parameters() == threaded.learner(i).critic().parameters());
        // The rounding did act: the weights differ from float moments'.
        CHECK(serial.learner(i).critic().parameters() != full_coord.learner(i).critic().parameters());
    }
}

namespace {
/// Critic-input indices of the global state's change features (agent i's
/// view of the others): AV_cpu, AV_mem, AH and their deviations.
constexpr std::array<std::size_t, 6> change_features{7 + 2, 7 + 3, 7 + 4, 7 + 10, 7 + 11, 7 + 12};
}  // namespace

TEST_CASE("simppo_coordinator: a refused observation cuts the stored step, so GAE never joins steps that are not adjacent") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    sim::cluster_env<> env(shared_node(1), env_of(1));
    begin_on(coord, env, 3);
    std::vector<scaling_target> targets(1);
    const auto& rollout = coord.learner(0).own_rollout();

    coord.act(env.states(), targets);
    auto r = env.step_to(targets);
    // The next observation is refused (a CPU limit of 0 reads as unknown),
    // while the interval's metrics, and so the step's reward, are usable.
    // (Refused metrics leave the step unstored: the test above.)
    std::vector<scaling_state> unknown(env.states().begin(), env.states().end());
    unknown[0].cpu_limit = 0;
    const simppo_tick refused = coord.observe(r.info, unknown, false);
    CHECK(refused.invalid == 1);
    CHECK(refused.unscored == 0);
    REQUIRE(rollout.size() == 1);
    CHECK(rollout.truncated()(0) == 1.0);  // cut, bootstrapping from V(s_t)
    CHECK(rollout.truncation_values()(0) == rollout.values()(0));

    // The agent holds and stores nothing; then stores again, after the cut.
    const int held = env.states()[0].replicas;
    coord.act(env.states(), targets);
    CHECK(targets[0].replicas == held);
    CHECK(std::isnan(targets[0].cpu_limit));
    r = env.step_to(targets);
    CHECK(coord.observe(r.info, env.states(), false).invalid == 0);
    CHECK(rollout.size() == 1);
    coord.act(env.states(), targets);
    r = env.step_to(targets);
    (void)coord.observe(r.info, env.states(), false);
    REQUIRE(rollout.size() == 2);
    CHECK(rollout.truncated()(1) == 0.0);  // open: the next stored step follows it

    // An act that is not stored (greedy) cuts the open step there, valued by
    // V of the observation it would have been followed by.
    coord.act(env.states(), targets, false);
    CHECK(rollout.size() == 2);
    CHECK(rollout.truncated()(1) == 1.0);
    CHECK(rollout.truncation_values()(1) == doctest::Approx(coord.learner(0).value(coord.critic_input(0))));

    // An episode whose last observe() did not say `truncated` leaves its last
    // step open; begin_episode cuts it, valued by V of the observation that followed.
    simppo_coordinator next(small_config(0));
    next.add_agent("f0", "cpu");
    (void)env.reset(8);
    next.begin_episode(env.metrics(), env.states());
    next.act(env.states(), targets);
    r = env.step_to(targets);
    (void)next.observe(r.info, env.states(), false);
    const auto& open = next.learner(0).own_rollout();
    REQUIRE(open.size() == 1);
    CHECK(open.truncated()(0) == 0.0);
    const double successor = next.learner(0).value(next.critic_input(0));
    (void)env.reset(9);
    next.begin_episode(env.metrics(), env.states());
    CHECK(open.truncated()(0) == 1.0);
    CHECK(open.truncation_values()(0) == doctest::Approx(successor));

    // observe() twice without an act() between (a tick not decided): the
    // open step ends where it ended, valued by V of that observation, and
    // is not joined to the step the next act() stores.
    simppo_coordinator skip(small_config(0));
    skip.add_agent("f0", "cpu");
    (void)env.reset(10);
    skip.begin_episode(env.metrics(), env.states());
    skip.act(env.states(), targets);
    r = env.step_to(targets);
    (void)skip.observe(r.info, env.states(), false);
    const auto& stored = skip.learner(0).own_rollout();
    REQUIRE(stored.size() == 1);
    CHECK(stored.last_open());
    const double ended_at = skip.learner(0).value(skip.critic_input(0));
    r = env.step_to(targets);
    (void)skip.observe(r.info, env.states(), false);  // no act() before it
    CHECK(stored.size() == 1);
    CHECK(stored.truncated()(0) == 1.0);
    CHECK(stored.truncation_values()(0) == doctest::Approx(ended_at));
    skip.act(env.states(), targets);
    r = env.step_to(targets);
    (void)skip.observe(r.info, env.states(), false);
    REQUIRE(stored.size() == 2);
    CHECK(stored.truncated()(0) == 1.0);
}

TEST_CASE("simppo_coordinator: after a removal or an addition, each agent's previous state stays its own (no change counted for a newcomer)") {
    const auto states_of = [](std::size_t n) {
        std::vector<scaling_state> s = env_of(n).functions;
        for (std::size_t i = 0; i < n; ++i) {
            s[i].cpu_limit = 0.5 + 0.5 * static_cast<double>(i);  // every function's limits and count differ
            s[i].memory_limit_mb = 512 + 256 * static_cast<double>(i);
            s[i].replicas = 2 + static_cast<int>(i);
        }
        return s;
    };
    const std::vector<scaling_state> s3 = states_of(3);
    sim::cluster_env<> env(shared_node(3), env_of(3));
    (void)env.reset(4);
    const std::vector<function_metrics> m3(env.metrics().begin(), env.metrics().end());
    std::vector<scaling_target> targets(3);

    // Removal between act and observe: f0 goes, nothing changes for f1 and f2.
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    coord.begin_episode(m3, s3);
    coord.act(s3, targets);
    coord.remove_agent("f0");
    const std::vector<function_metrics> m2(m3.begin() + 1, m3.end());
    const std::vector<scaling_state> s2(s3.begin() + 1, s3.end());
    REQUIRE(coord.observe(m2, s2, false).invalid == 0);
    for (std::size_t i = 0; i < 2; ++i) {
        for (const std::size_t k : change_features) {
            CAPTURE(i);
            CAPTURE(k);
            CHECK(coord.critic_input(i)[k] == 0.0F);
        }
    }

    // Addition between act and observe: the newcomer's first state is no change.
    simppo_coordinator grown(small_config(0));
    for (std::size_t i = 0; i < 2; ++i) grown.add_agent("f" + std::to_string(i), category_of(i));
    const std::vector<function_metrics> first2(m3.begin(), m3.begin() + 2);
    const std::vector<scaling_state> firsts2(s3.begin(), s3.begin() + 2);
    grown.begin_episode(first2, firsts2);
    targets.resize(2);
    grown.act(firsts2, targets);
    grown.add_agent("f2", category_of(2));
    REQUIRE(grown.observe(m3, s3, false).invalid == 0);
    for (std::size_t i = 0; i < 2; ++i) {
        for (const std::size_t k : change_features) CHECK(grown.critic_input(i)[k] == 0.0F);
    }
}

TEST_CASE("simppo_coordinator: a second observe() without act() counts no change the agents did not make") {
    sim::cluster_env<> env(shared_node(3), env_of(3));
    (void)env.reset(4);
    const std::vector<function_metrics> m(env.metrics().begin(), env.metrics().end());
    const std::vector<scaling_state> s0(env.states().begin(), env.states().end());
    std::vector<scaling_target> targets(3);
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    coord.begin_episode(m, s0);
    coord.act(s0, targets);
    // f1 scaled out and resized in the interval that followed.
    std::vector<scaling_state> s1 = s0;
    s1[1].replicas += 1;
    s1[1].cpu_limit += 0.25;
    s1[1].memory_limit_mb += 128;
    REQUIRE(coord.observe(m, s1, false).invalid == 0);
    const auto changed = [&](std::size_t i) {
        bool any = false;
        for (const std::size_t k : change_features) any = any || coord.critic_input(i)[k] != 0.0F;
        return any;
    };
    CHECK(changed(0));  // f0 and f2 see f1's change
    CHECK(changed(2));
    // A tick not decided: the same states again, so nobody changed anything.
    REQUIRE(coord.observe(m, s1, false).invalid == 0);
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK_FALSE(changed(i));
    }
}

TEST_CASE("simppo_coordinator: a diverged agent is never its category's base model") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    coord.add_agent("f1", "cpu");
    sim::cluster_env<> env(shared_node(2), env_of(2));
    // f0 diverged: its actor holds NaN, so it holds every tick but is still
    // scored. Make it the better-rewarded one: f1 always scales out, so its
    // utilisation (and reward) falls.
    coord.learner(0).actor().parameters()(0) = std::numeric_limits<float>::quiet_NaN();
    auto& actor = coord.learner(1).actor();
    actor.parameters().setZero();
    actor.bias(actor.layer_count() - 1)(static_cast<Eigen::Index>(rl::simppo_action::scale_out)) = 1;
    begin_on(coord, env, 3);
    std::vector<scaling_target> targets(2);
    for (int t = 0; t < 5; ++t) {
        coord.act(env.states(), targets, false);
        const auto r = env.step_to(targets);
        (void)coord.observe(r.info, env.states(), false);
    }
    REQUIRE(coord.own_reward_mean(0) > coord.own_reward_mean(1));
    coord.refresh_base_models();
    REQUIRE(coord.has_base_model("cpu"));
    // The base model is f1's, whatever the two rewards were.
    coord.add_agent("f2", "cpu");
    CHECK(coord.started_from_base(2));
    CHECK(coord.learner(2).actor().parameters().allFinite());
    CHECK(coord.learner(2).actor().parameters() == coord.learner(1).actor().parameters());
}

TEST_CASE("simppo_coordinator: the penalty of an illegal action counts when acting greedily too") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    // An actor whose greedy choice is always scale_out (its last bias).
    auto& actor = coord.learner(0).actor();
    actor.parameters().setZero();
    actor.bias(actor.layer_count() - 1)(static_cast<Eigen::Index>(rl::simppo_action::scale_out)) = 1;
    sim::cluster_env<> env(shared_node(1), env_of(1));
    (void)env.reset(6);
    std::vector<scaling_state> s(env.states().begin(), env.states().end());
    s[0].max_replicas = s[0].replicas;  // scale_out is illegal
    coord.begin_episode(env.metrics(), s);
    std::vector<scaling_target> targets(1);
    coord.act(s, targets, false);
    const auto r = env.step_to(targets);
    const double team = coord.observe(r.info, env.states(), false).team_reward;
    const simppo_reward reward(coord.config().reward);
    const rl::simppo_actions actions(1, coord.config().actions);
    const double penalty = actions.penalty(s[0], 0, static_cast<std::int32_t>(rl::simppo_action::scale_out), reward);
    REQUIRE(penalty < 0);
    CHECK(team == doctest::Approx(reward(r.info, env.states()) + penalty));
    CHECK(coord.learner(0).own_rollout().empty());  // greedy: nothing stored
}

TEST_CASE("simppo_coordinator: an actor gone non-finite holds its function, stores nothing and is not penalised") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    coord.learner(0).actor().parameters()(0) = std::numeric_limits<float>::quiet_NaN();
    sim::cluster_env<> env(shared_node(1), env_of(1));
    begin_on(coord, env, 7);
    std::vector<scaling_target> targets(1);
    for (const bool explore : {true, false}) {
        const scaling_state before = env.states()[0];
        coord.act(env.states(), targets, explore);
        CHECK(targets[0].replicas == before.replicas);
        CHECK(std::isnan(targets[0].cpu_limit));
        CHECK(std::isnan(targets[0].memory_limit_mb));
        const auto r = env.step_to(targets);
        const double team = coord.observe(r.info, env.states(), false).team_reward;
        CHECK(team == doctest::Approx(simppo_reward(coord.config().reward)(r.info, env.states())));
        CHECK(coord.learner(0).own_rollout().empty());
    }
}

TEST_CASE("simppo_coordinator: refreshing base models again before any new reward keeps the models picked") {
    // Two CPU agents (f0 and f3); the refresh must keep the better one, not
    // fall back to the first of the category when no agent has a new reward.
    bool tested = false;
    for (std::uint64_t seed = 1; seed < 30 && !tested; ++seed) {
        simppo_coordinator coord(small_config(0));
        for (std::size_t i = 0; i < 4; ++i) coord.add_agent("f" + std::to_string(i), category_of(i));
        (void)train(coord, 1, seed);
        coord.refresh_base_models();
        const Eigen::VectorXf picked = coord.learner(coord.add_agent("probe1", "cpu")).actor().parameters();
        coord.remove_agent("probe1");
        if (picked == coord.learner(0).actor().parameters()) continue;  // f0 won: the case is not exercised
        REQUIRE(picked == coord.learner(3).actor().parameters());
        coord.refresh_base_models();  // no tick since the last refresh
        CHECK(coord.learner(coord.add_agent("probe2", "cpu")).actor().parameters() == picked);
        tested = true;
    }
    CHECK(tested);
}

TEST_CASE("simppo_coordinator refuses spans that do not hold one entry per agent, naming the span") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    std::vector<function_metrics> m1(1);
    std::vector<function_metrics> m2(2);
    std::vector<scaling_state> s1(1);
    std::vector<scaling_state> s2(2);
    std::vector<scaling_target> t2(2);
    CHECK_THROWS_WITH_AS(coord.begin_episode(m2, s1),
                         doctest::Contains("simppo_coordinator::begin_episode: metrics has 2 entries, expected 1 (one per agent)"), error);
    CHECK_THROWS_WITH_AS(coord.begin_episode(m1, s2), doctest::Contains("begin_episode: states has 2 entries, expected 1"), error);
    CHECK_THROWS_WITH_AS(coord.act(s1, t2), doctest::Contains("act: targets has 2 entries, expected 1"), error);
    CHECK_THROWS_WITH_AS((void)coord.observe(m1, s2, false), doctest::Contains("observe: states has 2 entries, expected 1"), error);
}

TEST_CASE("simppo_coordinator: a hold between two opposite actions breaks the oscillation, as simppo_actions defines it") {
    // Greedy: scale_out, then a hold forced by a refused observation, then
    // scale_in. Replicas +1, 0, -1: no oscillation, so no penalty.
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    auto& actor = coord.learner(0).actor();
    const auto prefer = [&actor](rl::simppo_action a) {
        actor.parameters().setZero();
        actor.bias(actor.layer_count() - 1)(static_cast<Eigen::Index>(a)) = 1;
    };
    sim::cluster_env<> env(shared_node(1), env_of(1));
    begin_on(coord, env, 8);
    std::vector<scaling_target> targets(1);
    prefer(rl::simppo_action::scale_out);
    coord.act(env.states(), targets, false);
    auto r = env.step_to(targets);
    std::vector<function_metrics> broken(r.info.begin(), r.info.end());
    broken[0].cpu_utilization = std::nan("");
    REQUIRE(coord.observe(broken, env.states(), false).invalid == 1);
    coord.act(env.states(), targets, false);  // holds: the observation was refused
    r = env.step_to(targets);
    REQUIRE(coord.observe(r.info, env.states(), false).invalid == 0);
    prefer(rl::simppo_action::scale_in);
    const std::vector<scaling_state> before(env.states().begin(), env.states().end());
    coord.act(before, targets, false);
    r = env.step_to(targets);
    const double team = coord.observe(r.info, env.states(), false).team_reward;
    const simppo_reward reward(coord.config().reward);
    const rl::simppo_actions actions(1, coord.config().actions);
    const auto in = static_cast<std::int32_t>(rl::simppo_action::scale_in);
    const double after_hold = actions.penalty(before[0], static_cast<std::int32_t>(rl::simppo_action::hold), in, reward);
    // The case tells the two apart: right after scale_out it would be penalised.
    REQUIRE(actions.penalty(before[0], static_cast<std::int32_t>(rl::simppo_action::scale_out), in, reward) < after_hold);
    CHECK(team == doctest::Approx(reward(r.info, env.states()) + after_hold));
}

TEST_CASE("simppo_coordinator: a trained agent's actor is served greedily through rl_policy, the guard and the HPA fallback") {
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    (void)train(coord, 1, 21);

    sim::cluster_env<> env(shared_node(3), env_of(3));
    begin_on(coord, env, 77);
    std::vector<scaling_target> greedy(3);
    coord.act(env.states(), greedy, false);

    const rl::simppo_actions actions(1);
    for (std::size_t i = 0; i < 3; ++i) {
        auto weights = std::make_shared<rl::shared_network<float>>(coord.learner(i).actor());
        coord.publish(i, *weights);
        rl_policy<simppo_encoder, rl::categorical_actor, rl::simppo_actions> served(
            simppo_encoder{}, rl::categorical_actor(weights, actions.layout()), actions, {hpa_policy(hpa_config::cpu_utilization(70))},
            guard_config{.max_step_up = 1, .max_step_down = 1});
        const function_metrics& m = env.metrics()[i];
        const scaling_state& s = env.states()[i];
        const decision d = served.decide(m, s);
        INFO("agent " << i);
        // The served replicas are the coordinator's greedy target (the actor
        // reads the same 7 local features; its first tick has no AR_{t-1} in
        // either encoder).
        CHECK(d.source == decision_source::policy);
        CHECK(d.replicas == greedy[i].replicas);
        // A NaN metric never reaches the actor: the guard holds.
        function_metrics bad = m;
        bad.cpu_utilization = std::numeric_limits<double>::quiet_NaN();
        const decision held = served.decide(bad, s);
        CHECK(held.replicas == s.replicas);
        CHECK(held.source != decision_source::policy);
    }
}

TEST_CASE("simppo_coordinator: the actions' CPU and memory bounds must equal the state's, named with both values") {
    // A state range of 0.125..8 cores with the actions' default 0.125..2: a
    // function at 3 cores could not scale up, and cpu_down would jump 3 → 2.
    simppo_config c = small_config(0);
    c.state.cpu_max_cores = 8;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c},
                         doctest::Contains("simppo_config.actions.limits.cpu_max_cores: must equal state.cpu_max_cores (8), got 2"),
                         config_error);
    c = small_config(0);
    c.actions.limits.cpu_min_cores = 0.25;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c},
                         doctest::Contains("simppo_config.actions.limits.cpu_min_cores: must equal state.cpu_min_cores (0.125), got 0.25"),
                         config_error);
    c = small_config(0);
    c.state.memory_min_mb = 256;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c},
                         doctest::Contains("simppo_config.actions.limits.memory_min_mb: must equal state.memory_min_mb (256), got 128"),
                         config_error);
    c = small_config(0);
    c.actions.limits.memory_max_mb = 1024;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c},
                         doctest::Contains("simppo_config.actions.limits.memory_max_mb: must equal state.memory_max_mb (2048), got 1024"),
                         config_error);
    // A lower bound of 0, in both: the actions refuse it (a limit of 0 is
    // what the encoders read as unknown).
    c = small_config(0);
    c.state.cpu_min_cores = 0;
    c.actions.limits.cpu_min_cores = 0;
    CHECK_THROWS_WITH_AS(simppo_coordinator{c},
                         doctest::Contains("simppo_config.actions.limits.cpu_min_cores: must be finite and > 0 (a limit of 0 reads as unknown), got 0"),
                         config_error);
    // Other bounds, the same in both, are fine; the actions' container
    // bounds are not read.
    c = small_config(0);
    c.state.cpu_max_cores = c.actions.limits.cpu_max_cores = 8;
    c.state.memory_min_mb = c.actions.limits.memory_min_mb = 256;
    c.actions.limits.containers_max = 10;
    CHECK_NOTHROW(simppo_coordinator{c});
}

TEST_CASE("simppo_coordinator: act() again before observe() replaces the first decision, whose action no penalty compares with") {
    // A caller whose step failed decides again: the discarded action is not
    // the previous action of the one taken.
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    auto& actor = coord.learner(0).actor();
    const auto prefer = [&actor](rl::simppo_action a) {
        actor.parameters().setZero();
        actor.bias(actor.layer_count() - 1)(static_cast<Eigen::Index>(a)) = 1;
    };
    const simppo_reward reward(coord.config().reward);
    const rl::simppo_actions actions(1, coord.config().actions);
    const auto out = static_cast<std::int32_t>(rl::simppo_action::scale_out);
    const auto in = static_cast<std::int32_t>(rl::simppo_action::scale_in);
    const auto hold = static_cast<std::int32_t>(rl::simppo_action::hold);
    sim::cluster_env<> env(shared_node(1), env_of(1));
    begin_on(coord, env, 9);
    std::vector<scaling_target> targets(1);

    // The first tick: scale_out decided, discarded, then scale_in. After the
    // episode's start the previous action is hold: no oscillation.
    std::vector<scaling_state> before(env.states().begin(), env.states().end());
    prefer(rl::simppo_action::scale_out);
    coord.act(before, targets, false);
    REQUIRE(targets[0].replicas == before[0].replicas + 1);
    prefer(rl::simppo_action::scale_in);
    coord.act(before, targets, false);
    REQUIRE(targets[0].replicas == before[0].replicas - 1);
    REQUIRE(actions.penalty(before[0], out, in, reward) < actions.penalty(before[0], hold, in, reward));
    auto r = env.step_to(targets);
    double team = coord.observe(r.info, env.states(), false).team_reward;
    CHECK(team == doctest::Approx(reward(r.info, env.states()) + actions.penalty(before[0], hold, in, reward)));

    // The second tick: hold decided, discarded, then scale_out. It follows
    // the scale_in just scored, not the discarded hold: an oscillation.
    before.assign(env.states().begin(), env.states().end());
    prefer(rl::simppo_action::hold);
    coord.act(before, targets, false);
    prefer(rl::simppo_action::scale_out);
    coord.act(before, targets, false);
    REQUIRE(actions.penalty(before[0], in, out, reward) < actions.penalty(before[0], hold, out, reward));
    r = env.step_to(targets);
    team = coord.observe(r.info, env.states(), false).team_reward;
    CHECK(team == doctest::Approx(reward(r.info, env.states()) + actions.penalty(before[0], in, out, reward)));

    // Exploring, twice: one step stored, the second decision's. The bias
    // makes each sample all but certain (a logit 60 above the others:
    // probability 1 - 6e-26 in float), so the stored action tells the two
    // decisions apart.
    const auto strongly_prefer = [&](rl::simppo_action a) {
        prefer(a);
        actor.bias(actor.layer_count() - 1) *= 60;
    };
    before.assign(env.states().begin(), env.states().end());
    strongly_prefer(rl::simppo_action::scale_out);
    coord.act(before, targets, true);
    REQUIRE(targets[0].replicas == before[0].replicas + 1);
    strongly_prefer(rl::simppo_action::scale_in);
    coord.act(before, targets, true);
    REQUIRE(targets[0].replicas == before[0].replicas - 1);
    r = env.step_to(targets);
    (void)coord.observe(r.info, env.states(), false);
    const auto& rollout = coord.learner(0).own_rollout();
    REQUIRE(rollout.size() == 1);
    CHECK(rollout.actions()(0, 0) == in);
}

TEST_CASE("simppo_coordinator::checkpoint is an artefact the registry serves: the same greedy choice through make_learned_policy") {
    simppo_coordinator coord(small_config(0));
    add_three_agents(coord);
    (void)train(coord, 1, 31);
    sim::cluster_env<> env(shared_node(3), env_of(3));
    begin_on(coord, env, 78);
    std::vector<scaling_target> greedy(3);
    coord.act(env.states(), greedy, false);
    for (std::size_t i = 0; i < 3; ++i) {
        const nlohmann::json checkpoint = coord.checkpoint(i, guard_config{.max_step_up = 1, .max_step_down = 1});
        CHECK(checkpoint.at("serving").at("functions") == nlohmann::json::array({"f" + std::to_string(i)}));
        learned_policy served = make_learned_policy(checkpoint);
        std::array<decision, 1> d{};
        served.policy.decide(env.metrics().subspan(i, 1), env.states().subspan(i, 1), d);
        INFO("agent " << i);
        CHECK(d[0].source == decision_source::policy);
        CHECK(d[0].replicas == greedy[i].replicas);
    }
    simppo_config other = small_config(0);
    other.state.containers_max = 50;
    simppo_coordinator narrow(other);
    narrow.add_agent("f0", "cpu");
    CHECK_THROWS_WITH_AS((void)narrow.checkpoint(0), doctest::Contains("config.state"), config_error);
}

namespace {

/// An actor (SIMPPO's 7 inputs and 7 logits) that prefers `action` whatever the state.
nn::mlp<float> preferring(rl::simppo_action action) {
    nn::mlp<float> net(std::vector<nn::layer_spec>{{7, 7, nn::activation::identity}});
    net.parameters().setZero();
    net.bias(0)[static_cast<Eigen::Index>(action)] = 5.0F;
    return net;
}

}  // namespace

TEST_CASE("simppo serving: a checkpoint's vertical actions reach the decision as limits, at any replica count as trained") {
    simppo_coordinator coord(small_config(0));
    coord.add_agent("f0", "cpu");
    const nlohmann::json trained = coord.checkpoint(0);
    const nlohmann::json& guard = trained.at("serving").at("guard");
    CHECK(guard.at("max_step_up") == 1);
    CHECK(guard.at("max_step_down") == 1);
    CHECK(guard.at("max_cpu_step") == 0.125);
    CHECK(guard.at("max_memory_step_mb") == 128);
    CHECK(guard.at("vertical_min_replicas") == 0);
    CHECK(guard.at("min_cpu_limit") == 0.125);
    CHECK(guard.at("max_cpu_limit") == 2.0);
    CHECK(guard.at("min_memory_limit_mb") == 128);
    CHECK(guard.at("max_memory_limit_mb") == 2048);

    sim::cluster_env<> env(shared_node(1), env_of(1));
    (void)env.reset(5);
    function_metrics m = env.metrics()[0];
    scaling_state s = env.states()[0];
    s.replicas = 1;  // vertical actions apply at one replica too
    s.cpu_limit = 1.1;  // not a multiple of the step: the guard's step limit must not cut the sum short
    s.memory_limit_mb = 512;
    const auto serve = [&](rl::simppo_action action, const learned_policy_options& options = {}) {
        nlohmann::json j = nn::make_checkpoint(preferring(action));
        j["serving"] = trained.at("serving");
        learned_policy p = make_learned_policy(j, options);
        std::array<decision, 1> d{};
        p.policy.decide(std::span<const function_metrics>(&m, 1), std::span<const scaling_state>(&s, 1), d);
        INFO("action " << to_string(action) << ", reason " << d[0].reason);
        CHECK(d[0].source == decision_source::policy);
        return d[0];
    };
    decision d = serve(rl::simppo_action::cpu_up);
    CHECK(d.replicas == 1);
    CHECK(d.cpu_limit == 1.1 + 0.125);
    CHECK(std::isnan(d.memory_limit_mb));  // unchanged
    d = serve(rl::simppo_action::memory_down);
    CHECK(d.memory_limit_mb == 384);
    CHECK(std::isnan(d.cpu_limit));
    d = serve(rl::simppo_action::scale_out);
    CHECK(d.replicas == 2);
    CHECK_FALSE(d.vertical());

    // An operator whose platform evicts a pod to resize it withholds
    // vertical changes below two replicas when serving.
    learned_policy_options evicting;
    evicting.vertical_min_replicas = -1;
    CHECK_THROWS_WITH_AS((void)make_learned_policy(trained, evicting), doctest::Contains("learned_policy_options.vertical_min_replicas"),
                         config_error);
    evicting.vertical_min_replicas = 2;
    d = serve(rl::simppo_action::cpu_up, evicting);
    CHECK(d.replicas == 1);
    CHECK_FALSE(d.vertical());
    CHECK(d.reason == std::string_view("guard: vertical change withheld below vertical_min_replicas"));
    s.replicas = 3;
    d = serve(rl::simppo_action::cpu_up, evicting);
    CHECK(d.cpu_limit == 1.1 + 0.125);
    // ... and while fewer than two are ready (a cold start: 3 asked for, 1 serving).
    const std::uint32_t ready = m.ready_replicas;
    REQUIRE(ready >= 2);
    m.ready_replicas = 1;
    d = serve(rl::simppo_action::cpu_up, evicting);
    CHECK(d.replicas == 3);
    CHECK_FALSE(d.vertical());
    CHECK(d.reason == std::string_view("guard: vertical change withheld below vertical_min_replicas"));
    m.ready_replicas = ready;

    // The servers' step limits (rlscale-decision-service, the controller)
    // tighten steps only: the spec's vertical_min_replicas stands.
    learned_policy_options server;
    server.guard = guard_config{.max_step_up = 4, .max_step_down = 2};
    s.replicas = 1;
    d = serve(rl::simppo_action::cpu_down, server);
    CHECK(d.cpu_limit == 1.1 - 0.125);
    CHECK(std::isnan(d.memory_limit_mb));

    // A coordinator with other action bounds cannot write a spec the
    // registry would serve with SIMPPO's; a bad guard is refused too.
    // (The actions' CPU and memory bounds are the state's: simppo_config
    // refuses others, so a wider action bound comes with a wider state.)
    simppo_config wide = small_config(0);
    wide.state.cpu_max_cores = 4;
    wide.actions.limits.cpu_max_cores = 4;
    simppo_coordinator other(wide);
    other.add_agent("f0", "cpu");
    CHECK_THROWS_WITH_AS((void)other.checkpoint(0), doctest::Contains("config.state"), config_error);
    CHECK_THROWS_WITH_AS((void)coord.checkpoint(0, guard_config{.max_step_up = -1}), doctest::Contains("max_step_up"), config_error);
}

}  // namespace test_multiagent_simppo

namespace test_multiagent_simppo {

namespace {

/// Ticks of `coord` on `env` until `ticks` are done or the episode ends,
/// keeping each tick's targets. With `stop_after_act`, the last tick stops
/// between act() and observe(), an action awaiting its reward.
struct driver {
    sim::cluster_env<> env;
    std::vector<scaling_target> targets;
    std::vector<std::vector<scaling_target>> seen;

    driver(std::size_t n, std::uint64_t seed) : env(shared_node(n), env_of(n)), targets(n) { (void)env.reset(seed); }

    void begin(simppo_coordinator& coord) { coord.begin_episode(env.metrics(), env.states()); }
    void act(simppo_coordinator& coord) {
        coord.act(env.states(), targets);
        seen.push_back(targets);
    }
    bool observe(simppo_coordinator& coord) {
        const auto r = env.step_to(targets);
        (void)coord.observe(r.info, env.states(), r.truncated);
        return r.truncated;
    }
};

/// Equal targets, a NaN limit (unchanged) equal to a NaN.
bool same_targets(const std::vector<scaling_target>& x, const std::vector<scaling_target>& y) {
    const auto same = [](double p, double q) { return p == q || (std::isnan(p) && std::isnan(q)); };
    return std::equal(x.begin(), x.end(), y.begin(), y.end(), [&](const scaling_target& p, const scaling_target& q) {
        return p.replicas == q.replicas && same(p.cpu_limit, q.cpu_limit) && same(p.memory_limit_mb, q.memory_limit_mb);
    });
}

void check_same(const simppo_coordinator& a, const simppo_coordinator& b) {
    REQUIRE(b.agent_count() == a.agent_count());
    for (std::size_t i = 0; i < a.agent_count(); ++i) {
        CAPTURE(i);
        CHECK(b.name(i) == a.name(i));
        CHECK(b.category(i) == a.category(i));
        CHECK(b.started_from_base(i) == a.started_from_base(i));
        const double ma = a.own_reward_mean(i);
        const double mb = b.own_reward_mean(i);
        CHECK((ma == mb || (std::isnan(ma) && std::isnan(mb))));
        CHECK(b.learner(i).actor().parameters() == a.learner(i).actor().parameters());
        CHECK(b.learner(i).critic().parameters() == a.learner(i).critic().parameters());
        CHECK(b.learner(i).rollouts() == a.learner(i).rollouts());
        CHECK(b.learner(i).own_rollout().size() == a.learner(i).own_rollout().size());
        const auto la = a.local_state(i);
        const auto lb = b.local_state(i);
        CHECK(std::equal(la.begin(), la.end(), lb.begin(), lb.end()));
    }
    for (const char* cat : {"cpu", "memory", "io"}) CHECK(b.has_base_model(cat) == a.has_base_model(cat));
}

}  // namespace

TEST_CASE("simppo_coordinator training state: a coordinator restored between act() and observe() goes on exactly as the saved one") {
    simppo_coordinator a(small_config(0));
    for (std::size_t i = 0; i < 3; ++i) a.add_agent("f" + std::to_string(i), category_of(i));
    (void)train(a, 2, 40);
    a.refresh_base_models();
    a.remove_agent("f1");
    a.add_agent("f3", "cpu");  // from the cpu base model, the fourth agent created
    REQUIRE(a.started_from_base(2));
    driver da(3, 77);
    da.begin(a);
    for (int t = 0; t < 4; ++t) {
        da.act(a);
        (void)da.observe(a);
    }
    da.act(a);  // an action awaits its reward

    std::stringstream saved;
    a.save_training_state(saved);
    simppo_config c = small_config(2);  // threads are not part of the state
    simppo_coordinator b(c);
    b.add_agent("stranger", "gpu");  // replaced by the saved agents
    b.load_training_state(saved);
    check_same(a, b);
    CHECK_FALSE(b.find("stranger").has_value());

    // Both go on through the same steps: the rest of this episode, an agent
    // added (the same seed, from the same base model), and two episodes more.
    driver db = da;
    bool ended = false;
    while (!ended) {
        ended = da.observe(a);
        REQUIRE(db.observe(b) == ended);
        if (!ended) {
            da.act(a);
            db.act(b);
            REQUIRE(same_targets(db.seen.back(), da.seen.back()));
        }
    }
    // Refreshed now, the base models come from reward sums partly earned
    // before the save (carried across it).
    a.refresh_base_models();
    b.refresh_base_models();
    CHECK(a.add_agent("f4", "cpu") == b.add_agent("f4", "cpu"));
    CHECK(b.learner(3).actor().parameters() == a.learner(3).actor().parameters());
    (void)train(a, 2, 500);
    (void)train(b, 2, 500);
    check_same(a, b);
    CHECK(a.learner(3).rollouts() == 2);
    // The base models refreshed from the reward sums since the last refresh
    // (carried across the restore): agents added from them start alike.
    a.refresh_base_models();
    b.refresh_base_models();
    for (const char* cat : {"cpu", "memory", "io"}) {
        CAPTURE(cat);
        const std::size_t i = a.add_agent(std::string("new-") + cat, cat);
        REQUIRE(b.add_agent(std::string("new-") + cat, cat) == i);
        CHECK(a.started_from_base(i));
        CHECK(b.learner(i).actor().parameters() == a.learner(i).actor().parameters());
        CHECK(b.learner(i).critic().parameters() == a.learner(i).critic().parameters());
    }

    // Through a file.
    const auto path = std::filesystem::temp_directory_path() / ("rlscale_simppo_state_" + std::to_string(::getpid()) + ".bin");
    a.save_training_state(path);
    simppo_coordinator f(small_config(0));
    f.load_training_state(path);
    check_same(a, f);
    std::filesystem::remove(path);
}

// A two-agent coordinator's training state after one short episode.
std::string saved_two_agent_state() {
    simppo_coordinator a(small_config(0));
    for (std::size_t i = 0; i < 2; ++i) a.add_agent("f" + std::to_string(i), category_of(i));
    (void)train(a, 1, 40);
    std::stringstream saved;
    a.save_training_state(saved);
    return saved.str();
}

// A training state's payload: the bytes between its header (the magic's
// line and 20 bytes) and its 8-byte checksum.
constexpr std::size_t state_header_bytes = std::string_view("rlscale.simppo.training_state\n").size() + 20;
std::string state_payload(const std::string& bytes) {
    return bytes.substr(state_header_bytes, bytes.size() - state_header_bytes - 8);
}
// `bytes` with its payload replaced and the checksum recomputed, as a
// writer with a bug would.
std::string with_payload(const std::string& bytes, const std::string& payload) {
    std::string forged = bytes.substr(0, state_header_bytes) + payload;
    const std::uint64_t h = rlscale::detail::fnv1a64(payload);
    forged.append(reinterpret_cast<const char*>(&h), sizeof h);
    return forged;
}

TEST_CASE("simppo_coordinator training state: a corrupted or foreign state, or a bad agent within it, is refused by name and changes nothing") {
    const std::string bytes = saved_two_agent_state();

    simppo_coordinator b(small_config(0));
    b.add_agent("kept", "io");
    const Eigen::VectorXf before = b.learner(0).actor().parameters();
    const auto refused = [&](simppo_coordinator& coord, const std::string& data, const char* message) {
        std::istringstream in(data);
        CHECK_THROWS_WITH_AS(coord.load_training_state(in), doctest::Contains(message), checkpoint_error);
    };
    std::string flipped = bytes;
    flipped[flipped.size() - 100] = static_cast<char>(flipped[flipped.size() - 100] ^ 0x04);
    refused(b, flipped, "training_state.checksum");
    refused(b, bytes.substr(0, bytes.size() - 3), "training_state.length");
    simppo_config other_seed = small_config(0);
    other_seed.seed = 12;
    simppo_coordinator c12(other_seed);
    refused(c12, bytes, "training_state.seed: is 11, expected 12");
    simppo_config wider = small_config(0);
    wider.ppo.actor_hidden = {32, 16};
    simppo_coordinator cw(wider);
    refused(cw, bytes, "training_state.actor_layers: are [7→16, 16→16, 16→7], the learner's [7→32, 32→16, 16→7]");

    // An agent's learner state that is not one (its own checksum fails): two
    // learner states of about 15 kB each make most of the payload, so the
    // byte a quarter into it lies in agent 0's; the outer checksum is
    // recomputed, as a writer with a bug would.
    std::string payload = state_payload(bytes);
    payload[payload.size() / 4] = static_cast<char>(payload[payload.size() / 4] ^ 0x40);
    refused(b, with_payload(bytes, payload), "training_state.agents[0].learner.checksum");

    REQUIRE(b.agent_count() == 1);
    CHECK(b.name(0) == "kept");
    CHECK(b.learner(0).actor().parameters() == before);
}

TEST_CASE("simppo_coordinator training state: an arrival rate's clock that is not finite is refused by name and changes nothing") {
    const std::string bytes = saved_two_agent_state();
    // Agent 0's encoder state ends its block just before its learner's
    // state (a length, then the learner's own frame): the flag "known", the
    // rate and the clock, 8 bytes each but the flag.
    const std::string payload = state_payload(bytes);
    const std::size_t learner = payload.find("rlscale.ppo.training_state\n");
    REQUIRE(learner != std::string::npos);
    const std::size_t time_at = learner - 16;
    double time_s = 0;
    std::memcpy(&time_s, payload.data() + time_at, sizeof time_s);
    REQUIRE(payload[time_at - 9] == 1);  // a rate is known
    CHECK(std::isfinite(time_s));
    CHECK(time_s > 0);

    simppo_coordinator b(small_config(0));
    b.add_agent("kept", "io");
    const Eigen::VectorXf before = b.learner(0).actor().parameters();
    for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        CAPTURE(bad);
        std::string forged_payload = payload;
        std::memcpy(forged_payload.data() + time_at, &bad, sizeof bad);
        std::istringstream in(with_payload(bytes, forged_payload));
        const std::string message = "training_state.agents[0].arrival_rate.time_s: is " + format_number(bad) + ", must be finite";
        CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains(message.c_str()), checkpoint_error);
    }
    REQUIRE(b.agent_count() == 1);
    CHECK(b.name(0) == "kept");
    CHECK(b.learner(0).actor().parameters() == before);
    // the state as saved loads
    std::istringstream in(bytes);
    b.load_training_state(in);
    CHECK(b.agent_count() == 2);
}

namespace {

/// The whole of the file at `path`.
std::string file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The names in `dir`.
std::vector<std::string> listing(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("simppo_coordinator training state: a diverged agent is refused at save by name, nothing written, and saves once removed") {
    simppo_coordinator a(small_config(0));
    a.add_agent("f0", "cpu");
    a.add_agent("f1", "memory");
    driver d(2, 31);
    d.begin(a);
    for (int t = 0; t < 4; ++t) {
        d.act(a);
        (void)d.observe(a);
    }
    const std::filesystem::path dir = rlscale::test::fresh_path("simppo_training_state", "diverged");
    std::filesystem::create_directories(dir);
    const std::filesystem::path kept = dir / "kept.bin";
    a.save_training_state(kept);  // a state saved while every agent was healthy
    const std::string kept_bytes = file_bytes(kept);
    REQUIRE_FALSE(kept_bytes.empty());

    // f0 diverges: it holds and stores nothing, the team reward stays
    // finite, and training goes on.
    a.learner(0).actor().parameters()(3) = std::numeric_limits<float>::quiet_NaN();
    for (int t = 0; t < 4; ++t) {
        d.act(a);
        CHECK(d.targets[0].replicas == d.env.states()[0].replicas);
        (void)d.observe(a);
    }
    // Saved, the state would not load (the learner's load refuses its
    // actor): refused now, naming the agent, the stream untouched.
    const char* message = "simppo_coordinator::save_training_state: agent \"f0\" (index 0)'s actor holds a value that is not finite (nan at [3])";
    std::ostringstream out;
    CHECK_THROWS_WITH_AS(a.save_training_state(out), doctest::Contains(message), error);
    CHECK_THROWS_WITH_AS(a.save_training_state(out), doctest::Contains("remove it (remove_agent(\"f0\")) or reset its networks first"), error);
    CHECK(out.str().empty());
    CHECK(static_cast<bool>(out));
    // Through a file: no new file, the old one as it was, no temporary left.
    const std::filesystem::path fresh = dir / "new.bin";
    CHECK_THROWS_WITH_AS(a.save_training_state(fresh), doctest::Contains(message), error);
    CHECK_THROWS_WITH_AS(a.save_training_state(kept), doctest::Contains(message), error);
    CHECK_FALSE(std::filesystem::exists(fresh));
    CHECK(file_bytes(kept) == kept_bytes);
    CHECK(listing(dir) == std::vector<std::string>{"kept.bin"});

    // A critic gone non-finite, or an optimiser's moment, is refused too.
    a.learner(1).critic().parameters()(0) = std::numeric_limits<float>::infinity();
    a.remove_agent("f0");
    CHECK_THROWS_WITH_AS(a.save_training_state(out),
                         doctest::Contains("agent \"f1\" (index 0)'s critic holds a value that is not finite (inf at [0])"), error);
    a.learner(0).critic().parameters()(0) = 0;
    auto& opt = a.learner(0).critic_optimizer();
    Eigen::VectorXf m = opt.first_moment();
    m(5) = std::numeric_limits<float>::quiet_NaN();
    const Eigen::VectorXf v = opt.second_moment();
    const std::int64_t steps = opt.step_count();
    opt.restore(steps, m, v);
    CHECK_THROWS_WITH_AS(a.save_training_state(out),
                         doctest::Contains("agent \"f1\" (index 0)'s critic's Adam first moment holds a value that is not finite (nan at [5])"),
                         error);
    CHECK(out.str().empty());
    m(5) = 0;
    opt.restore(steps, m, v);

    // Without the diverged agent, the state saves and loads.
    a.save_training_state(fresh);
    simppo_coordinator b(small_config(0));
    b.load_training_state(fresh);
    REQUIRE(b.agent_count() == 1);
    CHECK(b.name(0) == "f1");
    CHECK(b.learner(0).actor().parameters() == a.learner(0).actor().parameters());
    std::filesystem::remove_all(dir);
}

TEST_CASE("simppo_coordinator training state: an agent's name that is not valid UTF-8 is refused by name and changes nothing") {
    const std::string bytes = saved_two_agent_state();
    // Agent 0's name, "f0" after its 8-byte length, made "f" and a byte
    // that is no UTF-8.
    std::string payload = state_payload(bytes);
    const std::string name = std::string("\x02\0\0\0\0\0\0\0", 8) + "f0";
    const std::size_t at = payload.find(name);
    REQUIRE(at != std::string::npos);
    payload[at + 9] = '\xff';
    simppo_coordinator b(small_config(0));
    b.add_agent("kept", "io");
    std::istringstream in(with_payload(bytes, payload));
    CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains("training_state.agents[0].name: \"f\xEF\xBF\xBD\" is not valid UTF-8"),
                         checkpoint_error);
    REQUIRE(b.agent_count() == 1);
    CHECK(b.name(0) == "kept");
}

}  // namespace test_multiagent_simppo
