#include <rlscale/encode/simppo_encoder.hpp>

#include "refusal.hpp"

#include <doctest/doctest.h>

#include <array>
#include <limits>
#include <string_view>

namespace test_encode_simppo_encoder {

using namespace rlscale;

namespace {

using test::inf;
using test::qnan;

function_metrics simppo_metrics(std::uint64_t arrivals = 200) {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = arrivals;
    m.completions = 190;
    m.latency.p99 = 0.5;
    m.cpu_utilization = 0.6;
    m.memory_utilization = 0.4;
    return m;
}

scaling_state simppo_state() {
    scaling_state s;
    s.slo = {.latency_s = 0.25, .percentile = 0.99};
    s.cpu_limit = 1.0;
    s.memory_limit_mb = 512;
    s.replicas = 10;
    s.max_replicas = 100;
    return s;
}

}  // namespace

TEST_CASE("encode simppo: local state worked out by hand") {
    const simppo_encoder enc;
    REQUIRE(enc.size() == 7);
    std::array<float, 7> out{};
    REQUIRE(enc.encode(simppo_metrics(), simppo_state(), out));
    // SP: p99 0.5 s > SLO 0.25 s, so SP = 0.25 / 0.5 = 0.5
    CHECK(out[0] == doctest::Approx(0.5));
    CHECK(out[1] == doctest::Approx(0.6));  // RU_cpu as measured
    CHECK(out[2] == doctest::Approx(0.4));  // RU_mem as measured
    CHECK(out[3] == 0.0f);                  // AC: no previous rate yet
    // RLT_cpu: 1 core = 1024 shares; (1024 - 128) / (2048 - 128) = 896 / 1920 = 0.46667
    CHECK(out[4] == doctest::Approx(896.0 / 1920.0));
    // RLT_mem: (512 - 128) / (2048 - 128) = 384 / 1920 = 0.2
    CHECK(out[5] == doctest::Approx(0.2));
    // NC: (10 - 0) / (1000 - 0) = 0.01
    CHECK(out[6] == doctest::Approx(0.01));
}

TEST_CASE("encode simppo: AC follows the arrival rate from tick to tick") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    REQUIRE(enc.encode(simppo_metrics(200), simppo_state(), out));  // AR = 200 / 10 = 20
    CHECK(enc.previous_arrival_rps() == doctest::Approx(20.0));
    REQUIRE(enc.encode(simppo_metrics(100), simppo_state(), out));  // AR = 10
    CHECK(out[3] == doctest::Approx(-0.5));                          // (10 - 20) / max(10, 20) = -0.5
    REQUIRE(enc.encode(simppo_metrics(300), simppo_state(), out));  // AR = 30
    CHECK(out[3] == doctest::Approx(2.0 / 3.0));                     // (30 - 10) / 30 = 0.66667
    REQUIRE(enc.encode(simppo_metrics(0), simppo_state(), out));    // AR = 0
    CHECK(out[3] == doctest::Approx(-1.0));                          // (0 - 30) / 30 = -1
    REQUIRE(enc.encode(simppo_metrics(0), simppo_state(), out));    // AR = 0 twice: no request then or now
    CHECK(out[3] == 0.0f);
    CHECK(simppo_arrival_change(0, 0) == 0.0);
}

TEST_CASE("encode simppo: a refused tick still records its arrival rate when its interval is valid") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    REQUIRE(enc.encode(simppo_metrics(300), simppo_state(), out));  // AR = 30
    function_metrics bad = simppo_metrics(100);                      // AR = 10
    bad.cpu_utilization = qnan;
    CHECK_FALSE(enc.encode(bad, simppo_state(), out));
    CHECK(enc.previous_arrival_rps() == doctest::Approx(10.0));
    REQUIRE(enc.encode(simppo_metrics(200), simppo_state(), out));  // AR = 20
    CHECK(out[3] == doctest::Approx(0.5));                           // (20 - 10) / 20
    // an unusable interval leaves the remembered rate alone
    function_metrics no_interval = simppo_metrics(500);
    no_interval.interval_s = qnan;
    CHECK_FALSE(enc.encode(no_interval, simppo_state(), out));
    CHECK(enc.previous_arrival_rps() == doctest::Approx(20.0));
    simppo_encoder fresh = enc;
    fresh.reset();
    CHECK_FALSE(fresh.previous_arrival_rps().has_value());
    CHECK(enc.previous_arrival_rps().has_value());  // copies are independent
}

TEST_CASE("encode simppo: one encoder serves N functions in round-robin order") {
    const simppo_encoder enc({}, 2);
    REQUIRE(enc.functions() == 2);
    std::array<float, 7> out{};
    // tick 1: function 0 at AR 20, function 1 at AR 5
    REQUIRE(enc.encode(simppo_metrics(200), simppo_state(), out));
    REQUIRE(enc.encode(simppo_metrics(50), simppo_state(), out));
    CHECK(out[3] == 0.0f);  // function 1 has no previous rate (it is not function 0's 20)
    // tick 2: function 0 at AR 10, function 1 at AR 10
    REQUIRE(enc.encode(simppo_metrics(100), simppo_state(), out));
    CHECK(out[3] == doctest::Approx(-0.5));  // function 0: (10 - 20) / 20
    REQUIRE(enc.encode(simppo_metrics(100), simppo_state(), out));
    CHECK(out[3] == doctest::Approx(0.5));  // function 1: (10 - 5) / 10
    CHECK(enc.previous_arrival_rps(0) == doctest::Approx(10.0));
    CHECK(enc.previous_arrival_rps(1) == doctest::Approx(10.0));
    CHECK_FALSE(enc.previous_arrival_rps(2).has_value());
    CHECK_THROWS_AS(simppo_encoder({}, 0), config_error);
}

TEST_CASE("encode simppo: a clock that goes back starts a new episode with AC 0") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    scaling_state s = simppo_state();
    s.time_s = 15;
    REQUIRE(enc.encode(simppo_metrics(200), s, out));  // AR 20 at t = 15
    s.time_s = 30;
    REQUIRE(enc.encode(simppo_metrics(100), s, out));  // AR 10 at t = 30
    CHECK(out[3] == doctest::Approx(-0.5));
    s.time_s = 15;  // reset of the environment: back to the first interval
    REQUIRE(enc.encode(simppo_metrics(300), s, out));
    CHECK(out[3] == 0.0f);
    s.time_s = 30;
    REQUIRE(enc.encode(simppo_metrics(150), s, out));  // AR 15 after 30
    CHECK(out[3] == doctest::Approx(-0.5));            // (15 - 30) / 30
}

TEST_CASE("encode simppo: a clock that goes back forgets the old episode even when the new interval has no rate") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    scaling_state s = simppo_state();
    s.time_s = 15;
    REQUIRE(enc.encode(simppo_metrics(100), s, out));
    s.time_s = 30;
    REQUIRE(enc.encode(simppo_metrics(200), s, out));  // the old episode ends with AR 20 at t = 30
    s.time_s = 15;                                      // a new episode whose first interval has no rate
    function_metrics no_rate = simppo_metrics(50);
    no_rate.interval_s = 0;
    CHECK(enc.encode(no_rate, s, out).field == "interval_s");
    CHECK_FALSE(enc.previous_arrival_rps().has_value());
    s.time_s = 30;
    REQUIRE(enc.encode(simppo_metrics(100), s, out));  // AR 10: nothing of this episode before it
    CHECK(out[3] == 0.0f);
    // the same through the by-index overload
    const simppo_encoder by_index({}, 2);
    s.time_s = 30;
    REQUIRE(by_index.encode(1, simppo_metrics(200), s, out));
    s.time_s = 15;
    CHECK(by_index.encode(1, no_rate, s, out).field == "interval_s");
    s.time_s = 30;
    REQUIRE(by_index.encode(1, simppo_metrics(100), s, out));
    CHECK(out[3] == 0.0f);
    // within an episode an interval without a rate keeps the one before it
    const simppo_encoder same;
    s.time_s = 15;
    REQUIRE(same.encode(simppo_metrics(200), s, out));
    s.time_s = 30;
    CHECK(same.encode(no_rate, s, out).field == "interval_s");
    s.time_s = 45;
    REQUIRE(same.encode(simppo_metrics(100), s, out));
    CHECK(out[3] == doctest::Approx(-0.5));  // (10 - 20) / 20
}

TEST_CASE("encode simppo: a clock that is not finite is refused by name and forgets the rate") {
    simppo_encoder enc;
    test::refusal<decltype(enc), 7> refused(enc);
    std::array<float, 7> out{};
    scaling_state s = simppo_state();
    for (const double bad : {qnan, inf, -inf}) {
        CAPTURE(bad);
        s.time_s = 100;
        REQUIRE(enc.encode(simppo_metrics(200), s, out));  // AR 20 at t = 100
        s.time_s = bad;
        refused(simppo_metrics(100), s, "state.time_s", bad);
        CHECK_FALSE(enc.previous_arrival_rps().has_value());
        s.time_s = 0;  // a new episode, after a clock that could not tell
        REQUIRE(enc.encode(simppo_metrics(300), s, out));
        CHECK(out[3] == 0.0f);
        s.time_s = bad;
        const encode_status st = enc.encode(0, simppo_metrics(100), s, out);
        CHECK(st.field == "state.time_s");
        CHECK_FALSE(enc.previous_arrival_rps().has_value());
        enc.reset();
    }
}

TEST_CASE("encode simppo: a remembered rate set with a clock that is not finite is forgotten, as encode forgets it") {
    for (const double bad : {qnan, inf, -inf}) {
        CAPTURE(bad);
        simppo_encoder enc;
        enc.remember_arrival(0, 20.0, bad);
        CHECK_FALSE(enc.previous_arrival_rps().has_value());
        CHECK(enc.previous_arrival_time_s() == 0.0);
        std::array<float, 7> out{};
        scaling_state s = simppo_state();
        s.time_s = 0;  // a new episode: no AR_t-1 to compare with
        REQUIRE(enc.encode(simppo_metrics(100), s, out));
        CHECK(out[3] == 0.0f);
        enc.remember_arrival(0, 20.0, 50.0);  // a finite clock is kept
        CHECK(enc.previous_arrival_rps() == doctest::Approx(20.0));
        CHECK(enc.previous_arrival_time_s() == 50.0);
        enc.remember_arrival(0, 20.0, bad);  // and replaced by nothing
        CHECK_FALSE(enc.previous_arrival_rps().has_value());
    }
}

TEST_CASE("encode simppo: the pure overload takes AR_t-1 and changes nothing") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    REQUIRE(enc.encode(simppo_metrics(200), simppo_state(), 40.0, out));
    CHECK(out[3] == doctest::Approx(-0.5));  // (20 - 40) / 40
    REQUIRE(enc.encode(simppo_metrics(200), simppo_state(), std::nullopt, out));
    CHECK(out[3] == 0.0f);
    CHECK_FALSE(enc.previous_arrival_rps().has_value());
    CHECK(enc.encode(simppo_metrics(), simppo_state(), -1.0, out).field == "previous_arrival_rps");
    CHECK(enc.encode(simppo_metrics(), simppo_state(), qnan, out).field == "previous_arrival_rps");
}

TEST_CASE("encode simppo: SP is 1 without a violation or request and 0 when requests are stuck") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    function_metrics m = simppo_metrics();
    m.latency.p99 = 0.2;  // within 0.25
    REQUIRE(enc.encode(m, simppo_state(), out));
    CHECK(out[0] == 1.0f);
    m.latency.p99 = 0.25;  // equal to the SLO: met
    REQUIRE(enc.encode(m, simppo_state(), out));
    CHECK(out[0] == 1.0f);
    function_metrics idle;
    idle.interval_s = 10;  // no arrivals, no completions, NaN latencies
    REQUIRE(enc.encode(idle, simppo_state(), out));
    CHECK(out[0] == 1.0f);
    // zero replicas with requests waiting: nothing completes, the latency is NaN
    function_metrics stalled = idle;
    stalled.arrivals = 5;
    stalled.queue_length = 5;
    scaling_state zero = simppo_state();
    zero.replicas = 0;
    REQUIRE(enc.encode(stalled, zero, out));
    CHECK(out[0] == 0.0f);
    CHECK(out[6] == 0.0f);  // NC = 0 / 1000
}

TEST_CASE("encode simppo: min-max normalisation is clamped to 0..1") {
    const simppo_encoder enc;
    std::array<float, 7> out{};
    scaling_state s = simppo_state();
    s.cpu_limit = 4;         // 4096 shares, above 2048
    s.memory_limit_mb = 64;  // below 128 MB
    s.replicas = 2000;       // above 1000
    REQUIRE(enc.encode(simppo_metrics(), s, out));
    CHECK(out[4] == 1.0f);
    CHECK(out[5] == 0.0f);
    CHECK(out[6] == 1.0f);
    s.cpu_limit = 0.125;  // exactly 128 shares
    s.memory_limit_mb = 2048;
    s.replicas = 0;
    REQUIRE(enc.encode(simppo_metrics(), s, out));
    CHECK(out[4] == 0.0f);
    CHECK(out[5] == 1.0f);
    CHECK(out[6] == 0.0f);
    // custom bounds: cpu 0..4 cores, 2 cores → 0.5
    const simppo_encoder wide({.cpu_min_cores = 0, .cpu_max_cores = 4});
    s.cpu_limit = 2;
    REQUIRE(wide.encode(simppo_metrics(), s, out));
    CHECK(out[4] == doctest::Approx(0.5));
}

TEST_CASE("encode simppo: a non-finite or negative input is refused by name and out is untouched") {
    const simppo_encoder enc;
    test::refusal<decltype(enc), 7> refused(enc);
    for (const double bad : test::bad_values(-1.0)) {
        CAPTURE(bad);
        function_metrics m = simppo_metrics();
        m.latency.p99 = bad;
        refused(m, simppo_state(), "latency.p99");
        m = simppo_metrics();
        m.cpu_utilization = bad;
        refused(m, simppo_state(), "cpu_utilization");
        m = simppo_metrics();
        m.memory_utilization = bad;
        refused(m, simppo_state(), "memory_utilization");
        m = simppo_metrics();
        m.interval_s = bad;
        refused(m, simppo_state(), "interval_s");
        scaling_state s = simppo_state();
        s.cpu_limit = 0;  // unknown, not the smallest limit
        refused(simppo_metrics(), s, "state.cpu_limit");
        s = simppo_state();
        s.memory_limit_mb = 0;
        refused(simppo_metrics(), s, "state.memory_limit_mb");
        s = simppo_state();
        s.cpu_limit = bad;
        refused(simppo_metrics(), s, "state.cpu_limit");
        s = simppo_state();
        s.memory_limit_mb = bad;
        refused(simppo_metrics(), s, "state.memory_limit_mb");
        s = simppo_state();
        s.slo.latency_s = bad;
        refused(simppo_metrics(), s, "slo.latency_s");
        s = simppo_state();
        s.slo.percentile = bad;
        refused(simppo_metrics(), s, "slo.percentile");
    }
    function_metrics tiny = simppo_metrics();
    tiny.interval_s = 1e-310;  // finite and > 0, but 200 arrivals in it are an infinite rate
    refused(tiny, simppo_state(), "interval_s");
    scaling_state s = simppo_state();
    s.replicas = -3;
    refused(simppo_metrics(), s, "state.replicas");
    s = simppo_state();
    s.slo.latency_s = 0;  // a zero SLO cannot be preserved
    refused(simppo_metrics(), s, "slo.latency_s");
    s = simppo_state();
    s.slo.percentile = 1.5;
    refused(simppo_metrics(), s, "slo.percentile");
    function_metrics m = simppo_metrics();
    m.interval_s = 0;
    refused(m, simppo_state(), "interval_s");
    // the first bad field is named (SP's inputs come first)
    m = simppo_metrics();
    m.latency.p99 = qnan;
    m.cpu_utilization = qnan;
    refused(m, simppo_state(), "latency.p99");
    // a value that overflows a float is refused, not written as infinity
    m = simppo_metrics();
    m.cpu_utilization = 1e300;
    std::array<float, 7> out{};
    const encode_status st = enc.encode(m, simppo_state(), out);
    CHECK(st.field == "cpu_utilization");
    CHECK(st.value == 1e300);
    std::array<float, 6> short_out{};
    CHECK(enc.encode(simppo_metrics(), simppo_state(), short_out).field == "out.size");
}

TEST_CASE("encode simppo: a bad configuration throws config_error naming the bound") {
    try {
        simppo_encoder enc({.cpu_min_cores = 2, .cpu_max_cores = 1});
        FAIL("no exception");
    } catch (const config_error& e) {
        CHECK(e.field() == "simppo_state_config.cpu_max_cores");
    }
    try {
        simppo_encoder enc({.memory_min_mb = -1});
        FAIL("no exception");
    } catch (const config_error& e) {
        CHECK(e.field() == "simppo_state_config.memory_min_mb");
    }
    CHECK_THROWS_AS(simppo_encoder({.containers_max = qnan}), config_error);
    CHECK(simppo_state_config::simppo().containers_max == 1000);
    CHECK(simppo_state_config::simppo().cpu_max_cores == 2.0);  // 2048 shares
}

}  // namespace test_encode_simppo_encoder
