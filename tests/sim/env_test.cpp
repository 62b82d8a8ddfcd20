#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_sim_env {

using namespace rlscale::sim;
using rlscale::function_metrics;

namespace {

cluster_config two_functions() {
    cluster_config c{.node = {.cores = 8, .memory_mb = 16384}};
    c.functions.push_back({.profile = profile("hotel-app-geo"), .load = constant(20, 1e5, 1e5), .max_replicas = 10,
                           .initial_replicas = 2});
    c.functions.push_back({.profile = profile("hotel-app-profile"), .load = constant(10, 1e5, 1e5), .max_replicas = 10,
                           .initial_replicas = 1});
    return c;
}

}  // namespace

TEST_CASE("cluster_env: reset gives a finite observation of every function, the same for the same seed") {
    cluster_env<> env(two_functions(), {.control_interval_s = 5, .episode_steps = 10});
    const auto first = env.reset(3);
    const std::vector<float> a(first.begin(), first.end());
    CHECK(a.size() == 2 * basic_encoder::size());
    for (float x : a) CHECK(std::isfinite(x));
    const auto b = env.reset(3);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    CHECK(env.observation_of(1).size() == basic_encoder::size());
    CHECK(env.observation_of(1)[0] == doctest::Approx(0.1));  // 1 replica of max 10
}

namespace {

/// What an environment showed over one episode: every observation (reset's
/// first), reward, and function's arrivals, replicas and CPU limit.
struct episode_trace {
    std::vector<std::vector<float>> observations;
    std::vector<double> rewards;
    std::vector<std::uint64_t> arrivals;
    std::vector<double> replicas;
    std::vector<double> cpu_limits;
    bool operator==(const episode_trace&) const = default;
};

/// reset(seed), then `steps` fixed replica deltas.
template <typename Env>
episode_trace play(Env& env, std::uint64_t seed, int steps) {
    const std::vector<std::vector<double>> deltas{{1, 0}, {0, 1}, {1, -1}, {-1, 1}, {0, 0}, {2, 0}};
    episode_trace t;
    const auto o = env.reset(seed);
    t.observations.emplace_back(o.begin(), o.end());
    for (int k = 0; k < steps; ++k) {
        const auto r = env.step(deltas[static_cast<std::size_t>(k) % deltas.size()]);
        t.observations.emplace_back(r.observation.begin(), r.observation.end());
        t.rewards.push_back(r.reward);
        for (std::uint32_t f = 0; f < env.function_count(); ++f) {
            t.arrivals.push_back(r.info[f].arrivals);
            t.replicas.push_back(env.simulation().replicas(f));
            t.cpu_limits.push_back(env.simulation().cpu_limit(f));
        }
    }
    return t;
}

/// Another seed's episode played past truncation, scaling out and in and
/// resizing, then reset(3) and 8 fixed steps: what a fresh environment shows.
template <typename Env>
void check_reset_replays(Env used, Env fresh) {
    const episode_trace expected = play(fresh, 3, 8);
    static_cast<void>(used.reset(11));
    for (int k = 0; k < 14; ++k) {
        const double up = k % 3 == 0 ? 4 : -1;
        static_cast<void>(used.step(std::vector<double>{up, -up}));
    }
    const std::vector<rlscale::scaling_target> resize{{.replicas = 7, .cpu_limit = 0.5, .memory_limit_mb = 1024},
                                                      {.replicas = 0, .cpu_limit = 2, .memory_limit_mb = 64}};
    static_cast<void>(used.step_to(resize));
    const episode_trace replayed = play(used, 3, 8);
    CHECK(replayed.observations == expected.observations);
    CHECK(replayed.rewards == expected.rewards);
    CHECK(replayed.arrivals == expected.arrivals);
    CHECK(replayed.replicas == expected.replicas);
    CHECK(replayed.cpu_limits == expected.cpu_limits);
    CHECK(replayed == expected);
    // The comparison can tell episodes apart: another seed brings other arrivals.
    CHECK(play(used, 4, 8).arrivals != expected.arrivals);
}

}  // namespace

TEST_CASE("cluster_env: reset(seed) after another seed's episode with scaling replays a fresh environment's episode") {
    const env_config config{.control_interval_s = 5, .episode_steps = 10};
    SUBCASE("request-level model, basic encoder") {
        check_reset_replays(cluster_env<>(two_functions(), config), cluster_env<>(two_functions(), config));
    }
    SUBCASE("tick-level model") {
        env_config tick = config;
        tick.model = sim_model::tick;
        check_reset_replays(cluster_env<>(two_functions(), tick), cluster_env<>(two_functions(), tick));
    }
    SUBCASE("an encoder that remembers the last interval (SIMPPO's)") {
        using env_t = cluster_env<rlscale::simppo_encoder, basic_reward>;
        check_reset_replays(env_t(two_functions(), config, rlscale::simppo_encoder({}, 2)),
                            env_t(two_functions(), config, rlscale::simppo_encoder({}, 2)));
    }
}

TEST_CASE("cluster_env: each action kind acts on the cluster, and non-finite values change nothing") {
    SUBCASE("replica delta") {
        cluster_env<> env(two_functions(), {.control_interval_s = 5, .actions = action_kind::replica_delta});
        static_cast<void>(env.reset(1));
        const std::vector<double> action{1, -1};
        static_cast<void>(env.step(action));
        CHECK(env.simulation().replicas(0) == 3);
        CHECK(env.simulation().replicas(1) == 0);
        const std::vector<double> nan_action{std::numeric_limits<double>::quiet_NaN(), 100};
        static_cast<void>(env.step(nan_action));
        CHECK(env.simulation().replicas(0) == 3);
        CHECK(env.simulation().replicas(1) == 10);  // clamped to max_replicas
    }
    SUBCASE("replica count") {
        cluster_env<> env(two_functions(), {.actions = action_kind::replica_count});
        static_cast<void>(env.reset(1));
        static_cast<void>(env.step(std::vector<double>{5, 7}));
        CHECK(env.simulation().replicas(0) == 5);
        CHECK(env.simulation().replicas(1) == 7);
    }
    SUBCASE("replica targets beyond int's range saturate, never wrap to 0") {
        cluster_env<> count(two_functions(), {.actions = action_kind::replica_count});
        static_cast<void>(count.reset(1));
        static_cast<void>(count.step(std::vector<double>{3e9, -3e9}));
        CHECK(count.simulation().replicas(0) == 10);
        CHECK(count.simulation().replicas(1) == 0);
        cluster_env<> delta(two_functions(), {.actions = action_kind::replica_delta});
        static_cast<void>(delta.reset(1));
        static_cast<void>(delta.step(std::vector<double>{2147483647.0, 1e300}));
        CHECK(delta.simulation().replicas(0) == 10);
        CHECK(delta.simulation().replicas(1) == 10);
    }
    SUBCASE("CPU and memory limit deltas") {
        cluster_env<> cpu(two_functions(), {.actions = action_kind::cpu_limit_delta});
        static_cast<void>(cpu.reset(1));
        const double before = cpu.simulation().cpu_limit(0);
        const auto r = cpu.step(std::vector<double>{0.5, 0});
        CHECK(cpu.simulation().cpu_limit(0) == doctest::Approx(before + 0.5));
        CHECK(r.info[0].cpu_limit == doctest::Approx(before + 0.5));
        cluster_env<> mem(two_functions(), {.actions = action_kind::memory_limit_delta});
        static_cast<void>(mem.reset(1));
        const double mb = mem.simulation().memory_limit_mb(1);
        static_cast<void>(mem.step(std::vector<double>{0, 64}));
        CHECK(mem.simulation().memory_limit_mb(1) == doctest::Approx(mb + 64));
    }
}

TEST_CASE("cluster_env: step keeps replica targets within each function's [min_replicas, max_replicas]") {
    const std::vector<rlscale::scaling_state> states{
        {.replicas = 2, .min_replicas = 1, .max_replicas = 4, .slo = {.latency_s = 0.5, .percentile = 0.9}},
        {.replicas = 1, .min_replicas = 1, .max_replicas = 3, .slo = {.latency_s = 0.5, .percentile = 0.9}}};
    SUBCASE("replica delta: an agent's -1 and +1 stop at the bounds") {
        cluster_env<> env(two_functions(), {.control_interval_s = 5, .actions = action_kind::replica_delta, .functions = states});
        static_cast<void>(env.reset(1));
        for (int i = 0; i < 3; ++i) static_cast<void>(env.step(std::vector<double>{-1, -1}));
        CHECK(env.simulation().replicas(0) == 1);
        CHECK(env.simulation().replicas(1) == 1);
        for (int i = 0; i < 5; ++i) static_cast<void>(env.step(std::vector<double>{+1, +1}));
        CHECK(env.simulation().replicas(0) == 4);
        CHECK(env.simulation().replicas(1) == 3);
        CHECK(env.states()[0].replicas == 4);
    }
    SUBCASE("replica count") {
        cluster_env<> env(two_functions(), {.control_interval_s = 5, .actions = action_kind::replica_count, .functions = states});
        static_cast<void>(env.reset(1));
        static_cast<void>(env.step(std::vector<double>{0, 9}));
        CHECK(env.simulation().replicas(0) == 1);
        CHECK(env.simulation().replicas(1) == 3);
        static_cast<void>(env.step(std::vector<double>{3e9, -3e9}));
        CHECK(env.simulation().replicas(0) == 4);
        CHECK(env.simulation().replicas(1) == 1);
    }
}

TEST_CASE("cluster_env: step_to sets absolute targets whatever the action kind, limits only where given") {
    cluster_env<> env(two_functions(), {.control_interval_s = 5, .actions = action_kind::replica_delta});
    static_cast<void>(env.reset(1));
    const double cpu = env.simulation().cpu_limit(1);
    const std::vector<rlscale::scaling_target> t{{.replicas = 6, .cpu_limit = 1.5, .memory_limit_mb = 512}, {.replicas = 2}};
    const auto r = env.step_to(t);
    CHECK(env.simulation().replicas(0) == 6);
    CHECK(env.simulation().replicas(1) == 2);
    CHECK(env.simulation().cpu_limit(0) == doctest::Approx(1.5));
    CHECK(env.simulation().memory_limit_mb(0) == doctest::Approx(512));
    CHECK(env.simulation().cpu_limit(1) == doctest::Approx(cpu));  // NaN: unchanged
    CHECK(r.info[0].cpu_limit == doctest::Approx(1.5));
    CHECK_THROWS_WITH_AS(static_cast<void>(env.step_to(std::vector<rlscale::scaling_target>(3))), doctest::Contains("3 targets for 2"),
                         rlscale::error);
}

TEST_CASE("cluster_env: a caller's per-function states are checked, by index and field") {
    const auto field_of = [](std::vector<rlscale::scaling_state> states) -> std::string {
        try {
            cluster_env<> env(two_functions(), {.control_interval_s = 5, .episode_steps = 10, .functions = std::move(states)});
        } catch (const rlscale::config_error& e) {
            return e.field();
        }
        return "accepted";
    };
    const rlscale::scaling_state ok{.replicas = 1, .min_replicas = 0, .max_replicas = 10, .slo = {.latency_s = 0.5, .percentile = 0.9}};
    CHECK(field_of({ok, ok}) == "accepted");
    auto bad = ok;
    bad.slo.latency_s = std::nan("");
    CHECK(field_of({ok, bad}) == "env.functions[1].slo.latency_s");
    bad = ok;
    bad.slo.latency_s = 0;
    CHECK(field_of({bad, ok}) == "env.functions[0].slo.latency_s");
    bad = ok;
    bad.slo.percentile = std::nan("");
    CHECK(field_of({ok, bad}) == "env.functions[1].slo.percentile");
    bad = ok;
    bad.slo.percentile = 1.0;
    CHECK(field_of({ok, bad}) == "env.functions[1].slo.percentile");
    bad = ok;
    bad.slo.target_rps = -1;
    CHECK(field_of({ok, bad}) == "env.functions[1].slo.target_rps");
    bad = ok;
    bad.min_replicas = 7;
    bad.max_replicas = 2;
    CHECK(field_of({ok, bad}) == "env.functions[1].max_replicas");
    bad = ok;
    bad.min_replicas = -1;
    CHECK(field_of({ok, bad}) == "env.functions[1].min_replicas");
}

TEST_CASE("cluster_env: truncated after episode_steps, never terminated, and info carries the raw metrics") {
    cluster_env<> env(two_functions(), {.control_interval_s = 2, .episode_steps = 3});
    static_cast<void>(env.reset(9));
    const std::vector<double> hold{0, 0};
    for (int i = 1; i <= 3; ++i) {
        const auto r = env.step(hold);
        CHECK_FALSE(r.terminated);
        CHECK(r.truncated == (i == 3));
        CHECK(r.info.size() == 2);
        CHECK(r.info[0].interval_s == 2);
        CHECK(r.info[0].arrivals > 0);
    }
    CHECK_THROWS_WITH_AS(static_cast<void>(env.step(std::vector<double>{0})), doctest::Contains("1 action values for 2"),
                         rlscale::error);
}

TEST_CASE("basic_reward: SCARLET's form, worked by hand") {
    std::vector<function_metrics> m(2);
    const std::vector<rlscale::scaling_state> c{{.slo = {.latency_s = 1.0}}, {.slo = {.latency_s = 2.0}}};
    m[0].latency.p90 = 0.5;  // ratio 0.5
    m[1].latency.p90 = 0.5;  // ratio 0.25
    CHECK(basic_reward{}(m, c) == doctest::Approx(1 - std::pow(0.375, 0.4)));
    m[1].latency.p90 = 2.5;  // violates its 2 s SLO
    CHECK(basic_reward{}(m, c) == -1);
    m[1].latency.p90 = 0.5;
    m[0].drops = 1;
    CHECK(basic_reward{}(m, c) == -1);
    // A stall (requests pending, nothing completed, no latency) is a violation, not a latency of zero.
    m[0] = function_metrics{};
    m[0].arrivals = 300;
    m[0].queue_length = 300;
    m[0].latency.p90 = std::numeric_limits<double>::quiet_NaN();
    CHECK(basic_reward{}(m, c) == -1);
    // Idle (nothing arrived, waited or ran): meets the SLO with ratio 0.
    m[0].arrivals = 0;
    m[0].queue_length = 0;
    CHECK(basic_reward{}(m, c) == doctest::Approx(1 - std::pow(0.125, 0.4)));
    // A request in service at the interval's end, none waiting: ratio 0 too, not a stall.
    m[0].arrivals = 1;
    m[0].in_service = 1;
    CHECK(basic_reward{}(m, c) == doctest::Approx(1 - std::pow(0.125, 0.4)));
    CHECK(basic_reward{}(std::span<const function_metrics>{}, std::span<const rlscale::scaling_state>{}) == -1);
}

TEST_CASE("basic_encoder refuses non-finite or negative inputs by name and otherwise emits finite values") {
    function_metrics m;
    m.interval_s = 15;
    m.completions = 3;
    m.latency.p90 = std::numeric_limits<double>::infinity();
    std::vector<float> out(basic_encoder::size(), -7.0F);
    auto status = basic_encoder::encode(m, {.max_replicas = 0}, out);
    CHECK_FALSE(status.ok);
    CHECK(status.field == "latency");
    m.latency.p90 = 0.2;
    m.cpu_utilization = -1;
    CHECK(basic_encoder::encode(m, {}, out).field == "cpu_utilization");
    m.cpu_utilization = 0.5;
    status = basic_encoder::encode(m, {.max_replicas = 0}, out);
    CHECK(status.ok);
    for (float x : out) CHECK(std::isfinite(x));
}

TEST_CASE("cluster_env: bad settings are rejected with the field named") {
    CHECK_THROWS_WITH_AS(cluster_env<>(two_functions(), {.control_interval_s = 0}),
                         doctest::Contains("env.control_interval_s"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(cluster_env<>(two_functions(), {.episode_steps = 0}), doctest::Contains("env.episode_steps"),
                         rlscale::config_error);
    // A stateful encoder built for one function, given two.
    CHECK_THROWS_WITH_AS((cluster_env<rlscale::simppo_encoder, basic_reward>(two_functions(), {})),
                         doctest::Contains("encoder.functions: must equal the cluster's function count (2)"), rlscale::config_error);
    CHECK_NOTHROW((cluster_env<rlscale::simppo_encoder, basic_reward>(two_functions(), {}, rlscale::simppo_encoder({}, 2))));
    CHECK_THROWS_WITH_AS(cluster_env<>(two_functions(), {.functions = {rlscale::scaling_state{}}}),
                         doctest::Contains("env.functions"), rlscale::config_error);
}

TEST_CASE("cluster_env: step and step_to before the first reset are refused, naming the call, in both models") {
    for (const sim_model model : {sim_model::request, sim_model::tick}) {
        CAPTURE(static_cast<int>(model));
        cluster_env<> env(two_functions(), {.control_interval_s = 5, .episode_steps = 2, .model = model});
        CHECK_THROWS_WITH_AS(static_cast<void>(env.step(std::vector<double>{0, 0})),
                             "cluster_env::step: call reset(seed) first", rlscale::error);
        CHECK_THROWS_WITH_AS(static_cast<void>(env.step_to(std::vector<rlscale::scaling_target>(2))),
                             "cluster_env::step_to: call reset(seed) first", rlscale::error);
        CHECK(env.simulation().now() == 0);  // nothing ran
        static_cast<void>(env.reset(1));
        const std::vector<double> hold{0, 0};
        CHECK_FALSE(env.step(hold).truncated);
        CHECK(env.step(hold).truncated);
        // Past episode_steps the environment goes on, truncated every step.
        const auto past = env.step(hold);
        CHECK(past.truncated);
        CHECK(env.simulation().now() == 20);
    }
}

}  // namespace test_sim_env
