#include <rlscale/encode/firm_encoder.hpp>

#include "refusal.hpp"

#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <string_view>

namespace test_encode_firm_encoder {

using namespace rlscale;

namespace {

using test::inf;
using test::qnan;

function_metrics firm_metrics(std::uint64_t arrivals = 100) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = arrivals;
    m.completions = 80;
    m.throughput_rps = 8;
    m.latency.p99 = 0.2;
    m.cpu_utilization = 0.5;
    m.memory_utilization = 0.25;
    return m;
}

scaling_state firm_state() {
    scaling_state s;
    s.cpu_limit = 1;
    s.memory_limit_mb = 4096;
    s.slo = {.latency_s = 0.1, .percentile = 0.99, .target_rps = 20};
    return s;
}

}  // namespace

TEST_CASE("encode firm: features worked out by hand") {
    const firm_encoder enc;
    REQUIRE(enc.size() == 9);
    std::array<float, 9> out{};
    REQUIRE(enc.encode(firm_metrics(), firm_state(), out));
    CHECK(out[0] == doctest::Approx(0.25));  // RLT_cpu = 1 core / 4 cores
    CHECK(out[1] == doctest::Approx(0.25));  // RLT_mem = 4096 MB / 16384 MB
    CHECK(out[2] == doctest::Approx(0.5));   // RU_cpu
    CHECK(out[3] == doctest::Approx(0.25));  // RU_mem
    CHECK(out[4] == 0.0f);                   // RU_io: not measured
    CHECK(out[5] == 0.0f);                   // RU_net: not measured
    CHECK(out[6] == doctest::Approx(0.5));   // SP latency: p99 0.2 > 0.1, so 0.1 / 0.2
    // SP throughput: AR = 100 / 10 = 10 rps, bound min(20, 10) = 10, 8 < 10, so 8 / 10
    CHECK(out[7] == doctest::Approx(0.8));
    CHECK(out[8] == 0.0f);  // load change: first tick
    REQUIRE(enc.encode(firm_metrics(50), firm_state(), out));  // AR 10 → 5
    CHECK(out[8] == doctest::Approx(-0.5));                     // (5 - 10) / 10
    CHECK(out[7] == 1.0f);  // 8 rps served ≥ min(20, 5) = 5 arriving
}

TEST_CASE("encode firm: SP is 1 without an SLO breach and limits are clamped to 0..1") {
    const firm_encoder enc;
    std::array<float, 9> out{};
    function_metrics m = firm_metrics();
    m.latency.p99 = 0.05;
    scaling_state s = firm_state();
    s.slo.target_rps = 0;  // no throughput SLO
    s.cpu_limit = 8;       // above one node
    s.memory_limit_mb = 1e-3;  // far below the range
    REQUIRE(enc.encode(m, s, 5.0, out));
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(out[6] == 1.0f);
    CHECK(out[7] == 1.0f);
    CHECK(out[8] == doctest::Approx(0.5));  // pure overload: (10 - 5) / 10
    CHECK_FALSE(enc.previous_arrival_rps().has_value());
    // throughput above target and arrival rate: met
    m.throughput_rps = 25;
    s.slo.target_rps = 20;
    REQUIRE(enc.encode(m, s, out));
    CHECK(out[7] == 1.0f);
}

TEST_CASE("encode firm: idle and stalled intervals") {
    const firm_encoder enc;
    std::array<float, 9> out{};
    function_metrics idle;
    idle.interval_s = 10;
    REQUIRE(enc.encode(idle, firm_state(), out));
    CHECK(out[6] == 1.0f);  // no request: no latency violation
    CHECK(out[7] == 1.0f);  // nothing arrives: the target cannot be missed
    function_metrics stalled = idle;
    stalled.arrivals = 30;  // AR = 3, none completed
    stalled.in_service = 2;
    REQUIRE(enc.encode(stalled, firm_state(), out));
    CHECK(out[6] == 0.0f);  // stuck: the worst latency preservation
    CHECK(out[7] == 0.0f);  // 0 rps served of min(20, 3)
    CHECK(out[8] == 1.0f);  // (3 - 0) / 3
}

TEST_CASE("encode firm: one encoder serves N functions in round-robin order") {
    const firm_encoder enc({}, 2);
    std::array<float, 9> out{};
    REQUIRE(enc.encode(firm_metrics(100), firm_state(), out));  // function 0: AR 10
    REQUIRE(enc.encode(firm_metrics(400), firm_state(), out));  // function 1: AR 40
    CHECK(out[8] == 0.0f);
    REQUIRE(enc.encode(firm_metrics(200), firm_state(), out));  // function 0: AR 20
    CHECK(out[8] == doctest::Approx(0.5));                       // (20 - 10) / 20
    REQUIRE(enc.encode(firm_metrics(100), firm_state(), out));  // function 1: AR 10
    CHECK(out[8] == doctest::Approx(-0.75));                     // (10 - 40) / 40
    firm_encoder copy = enc;
    copy.reset();
    CHECK_FALSE(copy.previous_arrival_rps(1).has_value());
    CHECK(enc.previous_arrival_rps(1) == doctest::Approx(10.0));
}

TEST_CASE("encode firm: the load change forgets the old episode and refuses a clock that is not finite") {
    const firm_encoder enc;
    test::refusal<decltype(enc), 9> refused(enc);
    std::array<float, 9> out{};
    scaling_state s = firm_state();
    s.time_s = 30;
    REQUIRE(enc.encode(firm_metrics(200), s, out));  // the old episode ends with AR 20 at t = 30
    s.time_s = 15;                                    // a new episode whose first interval has no rate
    function_metrics no_rate = firm_metrics(50);
    no_rate.interval_s = 0;
    CHECK(enc.encode(no_rate, s, out).field == "interval_s");
    s.time_s = 30;
    REQUIRE(enc.encode(firm_metrics(100), s, out));
    CHECK(out[8] == 0.0f);
    s.time_s = 100;
    REQUIRE(enc.encode(firm_metrics(200), s, out));
    s.time_s = qnan;
    refused(firm_metrics(100), s, "state.time_s", qnan);
    s.time_s = 0;
    REQUIRE(enc.encode(firm_metrics(300), s, out));
    CHECK(out[8] == 0.0f);
}

TEST_CASE("encode firm: a non-finite or negative input is refused by name and out is untouched") {
    const firm_encoder enc;
    test::refusal<decltype(enc), 9> refused(enc);
    // A current limit of 0 is unknown, not the smallest limit.
    scaling_state zero = firm_state();
    zero.cpu_limit = 0;
    refused(firm_metrics(), zero, "state.cpu_limit");
    zero = firm_state();
    zero.memory_limit_mb = 0;
    refused(firm_metrics(), zero, "state.memory_limit_mb");
    for (const double bad : test::bad_values(-2.0)) {
        CAPTURE(bad);
        scaling_state s = firm_state();
        s.cpu_limit = bad;
        refused(firm_metrics(), s, "state.cpu_limit");
        s = firm_state();
        s.memory_limit_mb = bad;
        refused(firm_metrics(), s, "state.memory_limit_mb");
        s = firm_state();
        s.slo.target_rps = bad;
        refused(firm_metrics(), s, "slo.target_rps");
        s = firm_state();
        s.slo.latency_s = bad;
        refused(firm_metrics(), s, "slo.latency_s");
        function_metrics m = firm_metrics();
        m.cpu_utilization = bad;
        refused(m, firm_state(), "cpu_utilization");
        m = firm_metrics();
        m.memory_utilization = bad;
        refused(m, firm_state(), "memory_utilization");
        m = firm_metrics();
        m.latency.p99 = bad;
        refused(m, firm_state(), "latency.p99");
        m = firm_metrics();
        m.throughput_rps = bad;
        refused(m, firm_state(), "throughput_rps");
        m = firm_metrics();
        m.interval_s = bad;
        refused(m, firm_state(), "interval_s");
    }
    function_metrics tiny = firm_metrics();
    tiny.interval_s = 1e-310;  // finite and > 0, but its arrivals are an infinite rate
    refused(tiny, firm_state(), "interval_s");
    scaling_state s = firm_state();
    s.slo.latency_s = 0;
    refused(firm_metrics(), s, "slo.latency_s");
    std::array<float, 9> out{};
    CHECK(enc.encode(firm_metrics(), firm_state(), -1.0, out).field == "previous_arrival_rps");
    std::array<float, 8> short_out{};
    CHECK(enc.encode(firm_metrics(), firm_state(), short_out).field == "out.size");
}

TEST_CASE("encode firm: a bad configuration throws config_error") {
    CHECK_THROWS_AS(firm_encoder({.cpu_max_cores = 0}), config_error);
    CHECK_THROWS_AS(firm_encoder({.memory_max_mb = inf}), config_error);
    CHECK_THROWS_AS(firm_encoder({}, 0), config_error);
    CHECK(firm_encoder_config::aware().memory_max_mb == 16384);
    CHECK(firm_encoder_config::aware().cpu_max_cores == 4);
}

}  // namespace test_encode_firm_encoder
