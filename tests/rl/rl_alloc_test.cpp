// Proves the learning and serving hot paths allocate nothing after
// construction: replay push and sample, DQN acting and updating, publishing
// weights, greedy_agent::act and rl_policy::decide.
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/rollout_buffer.hpp>
#include <rlscale/rl/shared_network.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace test_rl_rl_alloc {

using namespace rlscale;

namespace {
long allocations() { return test::allocation_count(); }

/// Three healthy functions at 3 ready replicas, 100 requests a tick.
std::array<function_metrics, 3> three_functions() {
    std::array<function_metrics, 3> m{};
    for (auto& x : m) {
        x.interval_s = 15;
        x.arrivals = x.completions = 100;
        x.throughput_rps = 6.7;
        x.latency_mean_s = 0.01;
        x.latency = {0.01, 0.02, 0.03, 0.04, 0.05};
        x.cpu_limit = 1;
        x.ready_replicas = 3;
    }
    return m;
}
/// A randomly initialised network and its published snapshot.
struct published_network {
    nn::mlp<float> net;
    std::shared_ptr<rl::shared_network<float>> weights;

    published_network(std::initializer_list<Eigen::Index> sizes, std::uint64_t seed) : net(sizes) {
        rng gen(seed);
        net.initialize(nn::init_scheme::torch_default, gen);
        weights = std::make_shared<rl::shared_network<float>>(net);
        weights->publish(net);
    }
};
}  // namespace

TEST_CASE("replay push and sample, and dqn explore, observe and update allocate nothing, in both precisions, sharded too") {
    for (const auto& config : {std::pair{nn::matmul_precision::full, std::size_t{1}},
                               std::pair{nn::matmul_precision::bf16, std::size_t{1}},
                               std::pair{nn::matmul_precision::full, std::size_t{2}}}) {
        const nn::matmul_precision precision = config.first;  // named, not bound: doctest's CAPTURE needs a variable
        const std::size_t shards = config.second;
        CAPTURE(to_string(precision));
        CAPTURE(shards);
        rl::dqn_config c = rl::dqn_config::scarlet();
        c.replay_capacity = 1000;  // wraps during the loop
        c.batch_size = 32;
        c.learning_starts = 32;
        c.precision = precision;
        c.update_shards = c.update_threads = shards;  // two: the second shard on the agent's own thread
        rl::dqn<float> agent(15, {.heads = 1, .actions_per_head = 27}, c, 1);
        std::array<float, 15> o{};
        std::array<std::int32_t, 1> a{};
        rng gen(4);
        agent.explore(o, a);  // warm-up
        const long before = allocations();
        for (int t = 0; t < 3000; ++t) {
            for (auto& x : o) x = static_cast<float>(uniform01(gen));
            agent.explore(o, a);
            agent.observe(o, a, uniform01(gen), o, t % 100 == 99);
        }
        CHECK(allocations() - before == 0);
        CHECK(agent.updates() > 2900);
    }
}

TEST_CASE("publishing weights, greedy_agent act and rl_policy decide allocate nothing") {
    auto [net, weights] = published_network({15, 128, 128, 27}, 1);
    rl::greedy_agent agent(weights);
    dqn_policy<scarlet_encoder, rl::joint_delta_actions> policy(weights, scarlet_encoder{}, rl::joint_delta_actions(3),
                                                                std::vector<hpa_policy>(3, hpa_policy(hpa_config::cpu_utilization(70))));
    std::array<function_metrics, 3> m = three_functions();
    std::array<scaling_state, 3> s{};
    for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 10};
    std::array<decision, 3> d{};
    const std::array<float, 15> obs{};
    policy.decide(m, s, d);  // warm-up
    const long before = allocations();
    std::size_t invalid = 0;
    for (int t = 0; t < 5000; ++t) {
        m[t % 3].cpu_utilization = 0.2 + 0.0001 * t;
        if (t % 500 == 250) m[1].cpu_utilization = std::numeric_limits<double>::quiet_NaN();  // fallback and hold paths
        if (t % 100 == 0) weights->publish(net);
        s[0].time_s = s[1].time_s = s[2].time_s = 15.0 * t;
        policy.decide(m, s, d);
        for (std::size_t f = 0; f < 3; ++f) s[f].replicas = d[f].replicas;
        invalid += agent.act(obs) < 27u ? 0u : 1u;  // one of the 27 joint actions (27: nothing published)
    }
    CHECK(allocations() - before == 0);
    CHECK(invalid == 0);
}

TEST_CASE("rl_policy with utilisation-target actions, served int8, decides without allocating") {
    auto [net, weights] = published_network({15, 128, 128, 15}, 2);
    dqn_policy<scarlet_encoder, rl::utilization_target_actions> policy(
        weights, scarlet_encoder{}, rl::utilization_target_actions(3, {0.55, 0.7, 0.85, 0.95}),
        std::vector<hpa_policy>(3, hpa_policy(hpa_config::cpu_utilization(70))));
    std::array<function_metrics, 3> m = three_functions();
    std::array<scaling_state, 3> s{};
    for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 10};
    std::array<decision, 3> d{};
    policy.serve_int8();  // the int8 path, re-quantizing after each publish
    policy.decide(m, s, d);
    const long before = allocations();
    for (int t = 0; t < 5000; ++t) {
        if (t % 250 == 0) weights->publish(net);
        m[t % 3].cpu_utilization = 0.1 + 0.00018 * t;
        m[(t + 1) % 3].arrivals = static_cast<std::uint64_t>(50 + t % 200);
        s[0].time_s = s[1].time_s = s[2].time_s = 15.0 * t;
        policy.decide(m, s, d);
        for (std::size_t f = 0; f < 3; ++f) {
            s[f].replicas = d[f].replicas;
            m[f].ready_replicas = static_cast<std::uint32_t>(d[f].replicas);
        }
    }
    CHECK(allocations() - before == 0);
    for (const auto& x : d) CHECK((x.replicas >= 1 && x.replicas <= 10));
}

TEST_CASE("a registry-built policy (variant encoder and map, stabiliser) and every actor act without allocating") {
    auto [net, weights] = published_network({15, 64, 64, 15}, 3);
    serving_spec spec;
    spec.encoder = {{"name", "scarlet_relative"}};
    spec.actions = {{"name", "utilization_target"}, {"targets", {0.55, 0.7, 0.85, 0.95}}, {"hold", true}};
    spec.downscale_window = 20;
    spec.functions = {"a", "b", "c"};
    nlohmann::json j = nn::make_checkpoint(net);
    j["serving"] = spec.to_json();
    learned_policy p = make_learned_policy(j);
    rl::categorical_actor sampled(weights, {.heads = 3, .actions_per_head = 5}, rl::categorical_mode::sample, 5);
    rl::deterministic_actor mu(weights);
    std::array<function_metrics, 3> m = three_functions();
    std::array<scaling_state, 3> s{};
    for (auto& x : s) x = {.replicas = 3, .min_replicas = 1, .max_replicas = 10, .slo = {.target_rps = 600}};
    std::array<decision, 3> d{};
    std::array<float, 15> obs{};
    std::array<std::int32_t, 3> heads{};
    std::array<float, 15> values{};
    p.policy.decide(m, s, d);  // warm-up
    int failed = 0;
    const long before = allocations();
    for (int t = 0; t < 3000; ++t) {
        m[t % 3].cpu_utilization = 0.1 + 0.0003 * t;
        if (t % 300 == 150) m[2].cpu_utilization = std::numeric_limits<double>::quiet_NaN();  // fallback path
        s[0].time_s = s[1].time_s = s[2].time_s = 15.0 * t;
        p.policy.decide(m, s, d);
        for (std::size_t f = 0; f < 3; ++f) s[f].replicas = d[f].replicas;
        obs[static_cast<std::size_t>(t % 15)] = static_cast<float>(t % 7) * 0.1F;
        failed += sampled.act(obs, heads) == act_status::ok ? 0 : 1;
        failed += mu.act(obs, values) == act_status::ok ? 0 : 1;
    }
    CHECK(allocations() - before == 0);
    CHECK(failed == 0);
}

TEST_CASE("a registry-built ddpg policy above its HPA+VPA floor decides without allocating") {
    auto [net, weights] = published_network({9, 16, 3}, 4);
    serving_spec spec;
    spec.algorithm = "ddpg";
    spec.encoder = {{"name", "firm"}};
    spec.actions = action_spec(rl::multidimensional_actions(1, rl::multidimensional_config{}));
    spec.functions = {"web"};
    spec.fallback_floor = true;
    nlohmann::json j = nn::make_checkpoint(net);
    j["serving"] = spec.to_json();
    learned_policy p = make_learned_policy(j);
    j["serving"].erase("fallback_floor");
    j["serving"].erase("requires");
    learned_policy plain = make_learned_policy(j);  // the same without the floor, to see the floor act
    std::array<function_metrics, 1> m{three_functions()[0]};
    m[0].memory_limit_mb = 1024;
    m[0].memory_utilization = 0.4;
    std::array<scaling_state, 1> s{};
    s[0] = {.replicas = 3, .min_replicas = 1, .max_replicas = 20, .cpu_limit = 1, .memory_limit_mb = 1024};
    std::array<decision, 1> d{};
    std::array<decision, 1> e{};
    p.policy.decide(m, s, d);  // warm-up
    plain.policy.decide(m, s, e);
    int floored = 0;
    const long before = allocations();
    for (int t = 0; t < 3000; ++t) {
        m[0].cpu_utilization = 0.05 + 0.0005 * (t % 2000);  // the HPA's recommendation climbs past the actor's
        if (t % 300 == 150) m[0].cpu_utilization = std::numeric_limits<double>::quiet_NaN();
        s[0].time_s = 15.0 * t;
        m[0].ready_replicas = s[0].replicas;
        p.policy.decide(m, s, d);
        plain.policy.decide(m, s, e);
        floored += d[0].replicas > e[0].replicas ? 1 : 0;
        s[0].replicas = d[0].replicas;
        if (!std::isnan(d[0].cpu_limit)) s[0].cpu_limit = d[0].cpu_limit;
        if (!std::isnan(d[0].memory_limit_mb)) s[0].memory_limit_mb = d[0].memory_limit_mb;
    }
    CHECK(allocations() - before == 0);
    CHECK(floored > 0);  // the floor's path was taken
}

namespace {

/// Two PPO configurations between them taking every branch of an update:
/// SIMPPO's (minibatches drawn with replacement, no value clipping, the
/// norm clip) and CleanRL's shape with value clipping, shuffled disjoint
/// minibatches (the last one short), learning-rate annealing and no norm clip.
std::array<rl::ppo_config, 2> ppo_configs() {
    rl::ppo_config simppo = rl::ppo_config::simppo();
    simppo.actor_hidden = simppo.critic_hidden = {32, 32};
    rl::ppo_config cleanrl = rl::ppo_config::cleanrl();
    cleanrl.actor_hidden = cleanrl.critic_hidden = {32, 32};
    cleanrl.rollout_steps = 30;
    cleanrl.minibatch_size = 8;
    cleanrl.epochs = 3;
    cleanrl.anneal_updates = 5;
    cleanrl.max_grad_norm = 0;
    cleanrl.entropy_coef = 0.01;
    return {simppo, cleanrl};
}

/// Allocations made by sample, greedy, value and log_prob (`acting`), by
/// explore and observe over several rollouts, so including the calls that
/// update (`observing`), and by update on an outside rollout (`updating`).
struct ppo_allocations {
    long acting = 0;
    long observing = 0;
    long updating = 0;
    std::uint64_t rollouts = 0;
};

template <typename Action>
ppo_allocations count_ppo_allocations(const rl::ppo_config& config) {
    constexpr std::size_t obs = 7;
    const auto make = [&] {
        if constexpr (std::is_integral_v<Action>) {
            return rl::ppo<float, Action>(obs, obs, {.heads = 3, .actions_per_head = 5}, config, 1);
        } else {
            return rl::ppo<float, Action>(obs, obs, 3, config, 1);
        }
    };
    rl::ppo<float, Action> agent = make();
    rl::rollout_buffer<float, Action> outside(config.rollout_steps, obs, obs, 3);
    std::array<float, obs> o{};
    std::array<float, obs> next{};
    std::array<Action, 3> a{};
    rng gen(5);
    // Warm-up: one call of each.
    (void)agent.sample(o, a);
    agent.greedy(o, a);
    (void)agent.value(o);
    (void)agent.log_prob(o, a);
    agent.explore(o, a);
    (void)agent.observe(o, a, 0.5, next, false);

    ppo_allocations n;
    double sink = 0;
    long before = allocations();
    for (int t = 0; t < 200; ++t) {
        for (auto& x : o) x = static_cast<float>(uniform(gen, -1, 1));
        sink += agent.sample(o, a);
        agent.greedy(o, a);
        sink += agent.value(o) + agent.log_prob(o, a);
    }
    n.acting = allocations() - before;

    before = allocations();
    for (int t = 0; t < 4 * static_cast<int>(config.rollout_steps); ++t) {
        for (auto& x : next) x = static_cast<float>(uniform(gen, -1, 1));
        agent.explore(o, a);
        (void)agent.observe(o, a, uniform(gen, -1, 1), next, t % 13 == 12, t % 17 == 16);
        o = next;
    }
    n.observing = allocations() - before;
    n.rollouts = agent.rollouts();

    for (std::size_t j = 0; j < config.rollout_steps; ++j) {
        agent.explore(o, a);
        outside.push(o, o, a, -1.0, 0.0, uniform(gen, -1, 1), j % 10 == 9, false);
    }
    outside.compute_advantages(0.0, config.gamma, config.gae_lambda);
    before = allocations();
    for (int u = 0; u < 3; ++u) sink += agent.update(outside).loss;
    n.updating = allocations() - before;
    CHECK(std::isfinite(sink));
    return n;
}

}  // namespace

TEST_CASE("ppo<float, int32_t> sample, greedy, value, log_prob, explore, observe (including the updating calls) and update allocate nothing") {
    for (const rl::ppo_config& c : ppo_configs()) {
        CAPTURE(c.minibatch_with_replacement);
        const ppo_allocations n = count_ppo_allocations<std::int32_t>(c);
        CHECK(n.rollouts >= 4);
        CHECK(n.acting == 0);
        CHECK(n.observing == 0);
        CHECK(n.updating == 0);
    }
}

TEST_CASE("ppo<float, float> sample, greedy, value, log_prob, explore, observe (including the updating calls) and update allocate nothing") {
    for (const rl::ppo_config& c : ppo_configs()) {
        CAPTURE(c.minibatch_with_replacement);
        const ppo_allocations n = count_ppo_allocations<float>(c);
        CHECK(n.rollouts >= 4);
        CHECK(n.acting == 0);
        CHECK(n.observing == 0);
        CHECK(n.updating == 0);
    }
}

TEST_CASE("rollout_buffer push, compute_advantages and clear allocate nothing") {
    rl::rollout_buffer<float, std::int32_t> discrete(64, 7, 11, 2);
    rl::rollout_buffer<float, float> continuous(64, 7, 11, 2);
    const std::array<float, 7> ao{0.1F, 0.2F, 0.3F, 0.4F, 0.5F, 0.6F, 0.7F};
    const std::array<float, 11> co{};
    const std::array<std::int32_t, 2> ai{1, 2};
    const std::array<float, 2> af{0.5F, -0.5F};
    long pushing = 0;
    long computing = 0;
    long clearing = 0;
    for (int round = 0; round < 5; ++round) {
        long before = allocations();
        for (int t = 0; t < 64; ++t) {
            discrete.push(ao, co, ai, -1.0, 0.5, 1.0, t % 10 == 9, t % 15 == 14, 0.25);
            continuous.push(ao, co, af, -2.0, 0.5, -1.0, t % 10 == 9, t % 15 == 14, 0.25);
        }
        pushing += allocations() - before;
        before = allocations();
        discrete.compute_advantages(0.3, 0.99, 0.95);
        continuous.compute_advantages(0.3, 0.99, 0.95);
        computing += allocations() - before;
        before = allocations();
        discrete.clear();
        continuous.clear();
        clearing += allocations() - before;
    }
    CHECK(pushing == 0);
    CHECK(computing == 0);
    CHECK(clearing == 0);
}

}  // namespace test_rl_rl_alloc
