#include <rlscale/encode/simppo_global_state.hpp>

#include "refusal.hpp"

#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <vector>

namespace test_encode_simppo_global_state {

using namespace rlscale;

namespace {

using test::qnan;

scaling_state agent_state(double cpu, double mem_mb, int replicas) {
    scaling_state s;
    s.slo = {.latency_s = 0.25, .percentile = 0.99};
    s.cpu_limit = cpu;
    s.memory_limit_mb = mem_mb;
    s.replicas = replicas;
    s.max_replicas = 100;
    return s;
}

function_metrics agent_metrics(double p99, std::uint64_t completions, double cpu, double mem) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = completions;
    m.completions = completions;
    m.latency.p99 = p99;
    m.cpu_utilization = cpu;
    m.memory_utilization = mem;
    return m;
}

/// Agent 0 is garbage (it must be excluded from its own global state);
/// agents 1 and 2 are the virtual agent.
struct three_agents {
    std::vector<function_metrics> metrics{
        agent_metrics(qnan, 10, qnan, -1),      // agent 0: invalid, but it is i
        agent_metrics(0.5, 10, 0.6, 0.4),     // agent 1: SP = 0.25 / 0.5 = 0.5
        agent_metrics(qnan, 0, 0.2, 0.8),      // agent 2: idle, SP = 1
    };
    std::vector<scaling_state> now{agent_state(1, 128, 1), agent_state(1.0, 512, 20), agent_state(2.0, 1088, 0)};
    std::vector<scaling_state> before{agent_state(1, 128, 1), agent_state(0.5, 512, 10), agent_state(2.0, 128, 10)};
};

}  // namespace

TEST_CASE("encode simppo global state: sums, means and deviations over the other agents by hand") {
    const simppo_global_state g;
    REQUIRE(g.size() == 16);
    const three_agents a;
    std::array<float, 16> out{};
    REQUIRE(g.encode(a.metrics, a.now, a.before, 0, out));
    // agent 1: RLT_cpu (1 - .125)/1.875 = .46667 (was .2), RLT_mem 384/1920 = .2 (was .2), NC .02 (was .01)
    // agent 2: RLT_cpu 1 (was 1), RLT_mem 960/1920 = .5 (was 0), NC 0 (was .01)
    CHECK(out[0] == doctest::Approx(0.875 / 1.875 + 1.0));  // ARLT_cpu
    CHECK(out[1] == doctest::Approx(0.7));                   // ARLT_mem = .2 + .5
    CHECK(out[2] == doctest::Approx(0.875 / 1.875 - 0.2));   // AV_cpu = .26667 + 0
    CHECK(out[3] == doctest::Approx(0.5));                   // AV_mem = 0 + .5
    CHECK(out[4] == doctest::Approx(0.0));                   // AH = .01 - .01
    CHECK(out[5] == doctest::Approx(0.75));                  // MSP = (.5 + 1) / 2
    CHECK(out[6] == doctest::Approx(0.4));                   // MRU_cpu = (.6 + .2) / 2
    CHECK(out[7] == doctest::Approx(0.6));                   // MRU_mem = (.4 + .8) / 2
    // population deviation of two values = |a - b| / 2
    CHECK(out[8] == doctest::Approx((1.0 - 0.875 / 1.875) / 2));  // RLT_cpu
    CHECK(out[9] == doctest::Approx(0.15));                       // RLT_mem |.2 - .5| / 2
    CHECK(out[10] == doctest::Approx((0.875 / 1.875 - 0.2) / 2));  // ΔRLT_cpu
    CHECK(out[11] == doctest::Approx(0.25));                      // ΔRLT_mem |0 - .5| / 2
    CHECK(out[12] == doctest::Approx(0.01));                      // ΔNC |.01 - (-.01)| / 2
    CHECK(out[13] == doctest::Approx(0.25));                      // SP |.5 - 1| / 2
    CHECK(out[14] == doctest::Approx(0.2));                       // RU_cpu
    CHECK(out[15] == doctest::Approx(0.2));                       // RU_mem
}

TEST_CASE("encode simppo global state: a stuck agent counts with SP 0 instead of blocking the others") {
    const simppo_global_state g;
    const three_agents a;
    std::vector<function_metrics> m = a.metrics;
    m[2].arrivals = 4;  // agent 2 now has requests waiting and none completed
    m[2].queue_length = 4;
    std::array<float, 16> out{};
    REQUIRE(g.encode(m, a.now, a.before, 0, out));
    CHECK(out[5] == doctest::Approx(0.25));   // MSP = (0.5 + 0) / 2
    CHECK(out[13] == doctest::Approx(0.25));  // std SP = |0.5 - 0| / 2
}

TEST_CASE("encode simppo global state: three other agents, population deviation by hand") {
    const simppo_global_state g;
    // agents 1..3 differ only in RU_cpu: 0.2, 0.4, 0.9; agent 0 is i
    std::vector<function_metrics> m{agent_metrics(0.1, 10, 0.5, 0.5), agent_metrics(0.1, 10, 0.2, 0.5),
                                    agent_metrics(0.1, 10, 0.4, 0.5), agent_metrics(0.1, 10, 0.9, 0.5)};
    const std::vector<scaling_state> s(4, agent_state(1, 512, 5));
    std::array<float, 16> out{};
    REQUIRE(g.encode(m, s, s, 0, out));
    // mean = 1.5 / 3 = 0.5; deviations -0.3, -0.1, 0.4; squares .09 + .01 + .16 = .26;
    // population variance .26 / 3 = .086667, deviation sqrt = .294392
    CHECK(out[6] == doctest::Approx(0.5));
    CHECK(out[14] == doctest::Approx(0.294392).epsilon(1e-5));
    CHECK(out[7] == doctest::Approx(0.5));  // MRU_mem
    CHECK(out[15] == doctest::Approx(0.0));
    CHECK(out[5] == doctest::Approx(1.0));  // p99 0.1 within 0.25 everywhere
    // ARLT_cpu = 3 · 896 / 1920 = 1.4; no action: AV and AH are 0
    CHECK(out[0] == doctest::Approx(1.4));
    CHECK(out[2] == 0.0f);
    CHECK(out[4] == 0.0f);
}

TEST_CASE("encode simppo global state: a lone agent sees an empty virtual agent") {
    const simppo_global_state g;
    const std::vector<function_metrics> m{agent_metrics(0.5, 10, 0.6, 0.4)};
    const std::vector<scaling_state> s{agent_state(1, 512, 3)};
    std::array<float, 16> out{};
    out.fill(7);
    REQUIRE(g.encode(m, s, s, 0, out));
    for (std::size_t k = 0; k < out.size(); ++k) CHECK(out[k] == (k == 5 ? 1.0f : 0.0f));
}

TEST_CASE("encode simppo global state: bad shapes and bad inputs of another agent are refused") {
    const simppo_global_state g;
    three_agents a;
    std::array<float, 16> out{};
    out.fill(42);
    CHECK(g.encode(a.metrics, a.now, a.before, 3, out).field == "agent_index");
    CHECK(g.encode(a.metrics, std::span(a.now).first(2), a.before, 0, out).field == "states.size");
    CHECK(g.encode(a.metrics, a.now, std::span(a.before).first(2), 0, out).field == "previous_states.size");
    std::array<float, 15> short_out{};
    CHECK(g.encode(a.metrics, a.now, a.before, 0, short_out).field == "out.size");
    // agent 0's garbage is refused when agent 1 asks
    const encode_status st = g.encode(a.metrics, a.now, a.before, 1, out);
    CHECK_FALSE(st.ok);
    CHECK(st.field == "latency.p99");
    a.metrics[0].latency.p99 = 0.1;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "cpu_utilization");
    a.metrics[0].cpu_utilization = 0.1;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "memory_utilization");
    a.metrics[0].memory_utilization = 0.1;
    a.before[0].replicas = -1;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "previous_state.replicas");
    a.before[0].replicas = 1;
    a.now[2].cpu_limit = qnan;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "state.cpu_limit");
    a.now[2].cpu_limit = 0;  // unknown, not the smallest limit
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "state.cpu_limit");
    a.now[2].cpu_limit = 2;
    a.now[0].memory_limit_mb = 0;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "state.memory_limit_mb");
    a.now[0].memory_limit_mb = 128;
    a.before[2].cpu_limit = 0;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out).field == "previous_state.cpu_limit");
    a.before[2].cpu_limit = 2;
    a.before[1].memory_limit_mb = 0;
    CHECK(g.encode(a.metrics, a.now, a.before, 0, out).field == "previous_state.memory_limit_mb");
    a.before[1].memory_limit_mb = 512;
    a.now[2].cpu_limit = qnan;
    for (const float v : out) CHECK(v == 42.0f);
    a.now[2].cpu_limit = 2;
    CHECK(g.encode(a.metrics, a.now, a.before, 1, out));
}

TEST_CASE("encode simppo global state: encode_usable leaves a refused agent out, as if it were not there") {
    const simppo_global_state g;
    three_agents a;  // agent 0's inputs are refused
    std::array<float, 16> usable{};
    usable.fill(42);
    REQUIRE(g.encode_usable(a.metrics, a.now, a.before, 1, usable));
    // The same features as agents 1 and 2 alone give agent 1 (index 0 of the pair).
    const std::vector<function_metrics> m{a.metrics[1], a.metrics[2]};
    const std::vector<scaling_state> now{a.now[1], a.now[2]};
    const std::vector<scaling_state> before{a.before[1], a.before[2]};
    std::array<float, 16> alone{};
    REQUIRE(g.encode(m, now, before, 0, alone));
    CHECK(usable == alone);
    // A utilisation beyond a float (finite, >= 0) is refused as the agent's
    // own encoder refuses it: left out, not turned into a mean no other
    // agent's observation can hold.
    for (const double huge : {1e300, 1e39}) {
        three_agents h;
        h.metrics[0] = agent_metrics(0.1, 10, huge, 0.2);
        usable.fill(42);
        REQUIRE(g.encode_usable(h.metrics, h.now, h.before, 1, usable));
        CHECK(usable == alone);
        h.metrics[0] = agent_metrics(0.1, 10, 0.3, huge);
        REQUIRE(g.encode_usable(h.metrics, h.now, h.before, 1, usable));
        CHECK(usable == alone);
        CHECK(g.encode(h.metrics, h.now, h.before, 1, usable).field == "memory_utilization");
    }
    // With every other agent refused, an agent sees the empty virtual agent.
    a.metrics[2].cpu_utilization = -1;
    REQUIRE(g.encode_usable(a.metrics, a.now, a.before, 1, usable));
    for (std::size_t k = 0; k < usable.size(); ++k) CHECK(usable[k] == (k == 5 ? 1.0f : 0.0f));
    // With every input usable it is encode, bit for bit.
    three_agents b;
    b.metrics[0] = agent_metrics(0.1, 10, 0.3, 0.2);
    std::array<float, 16> plain{};
    REQUIRE(g.encode(b.metrics, b.now, b.before, 2, plain));
    REQUIRE(g.encode_usable(b.metrics, b.now, b.before, 2, usable));
    CHECK(usable == plain);
    // Shapes are still refused, and refused leaves `out` as it was.
    usable.fill(42);
    CHECK(g.encode_usable(a.metrics, a.now, a.before, 3, usable).field == "agent_index");
    CHECK(g.encode_usable(a.metrics, std::span(a.now).first(2), a.before, 0, usable).field == "states.size");
    for (const float v : usable) CHECK(v == 42.0f);
}

}  // namespace test_encode_simppo_global_state
