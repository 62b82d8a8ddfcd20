#include <rlscale/encode/polimi_encoder.hpp>

#include "refusal.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <string_view>

namespace test_encode_polimi_encoder {

using namespace rlscale;

namespace {

using test::inf;
using test::qnan;

function_metrics polimi_metrics() {
    function_metrics m;
    m.interval_s = 10;
    m.arrivals = 60;
    m.completions = 50;
    m.latency_mean_s = 0.5;
    m.latency.p90 = 2.0;
    m.ready_replicas = 2;
    m.cpu_utilization = 0.7;
    return m;
}

/// The paper's SLO: a threshold of 1 s on the average response time.
scaling_state polimi_state() {
    scaling_state s;
    s.slo = {.latency_s = 1.0, .percentile = 0};
    return s;
}

}  // namespace

TEST_CASE("encode polimi: features worked out by hand") {
    const polimi_encoder enc(0.1);
    REQUIRE(enc.size() == 5);
    std::array<float, 5> out{};
    REQUIRE(enc.encode(polimi_metrics(), polimi_state(), out));
    CHECK(out[0] == 2.0f);                  // nInstances = 2 ready replicas
    CHECK(out[1] == doctest::Approx(0.5));  // P = RT / threshold = 0.5 / 1.0
    CHECK(out[2] == doctest::Approx(4.0));  // QLD = (RT - D) / D = (0.5 - 0.1) / 0.1
    // U = λ·D / n = (60 / 10 = 6 rps) · 0.1 s / 2 = 0.3
    CHECK(out[3] == doctest::Approx(0.3));
    CHECK(out[4] == doctest::Approx(6.0));  // workload = 60 / 10 rps
}

TEST_CASE("encode polimi: a logged check's inputs, at its scale, encode consistently (D derived from its utilization)") {
    // "check_4": nInstances 2, avgResponseTime 5.126, Threshold 1.0, workload
    // 9.35; its utilization 0.026647 = 9.35 · D / 2 gives D = 0.0056998 s.
    // D comes from the logged utilization, so the utilization check is a
    // round trip, not an independent reproduction; the formulas themselves
    // are checked against values worked out by hand above.
    const double d = 0.026646669705849987 * 2 / 9.35;
    const polimi_encoder enc(d);
    function_metrics m;
    m.interval_s = 20;
    m.arrivals = 187;  // 187 / 20 = 9.35 rps
    m.completions = 187;
    m.latency_mean_s = 5.125999649153228;
    m.ready_replicas = 2;
    std::array<float, 5> out{};
    REQUIRE(enc.encode(m, polimi_state(), out));
    CHECK(out[0] == 2.0f);
    CHECK(out[1] == doctest::Approx(5.125999649153228));    // pressure = avgResponseTime / 1.0
    CHECK(out[2] == doctest::Approx((5.126 - d) / d).epsilon(1e-3));  // (5.126 - 0.0057) / 0.0057 ≈ 898
    CHECK(out[3] == doctest::Approx(0.026646669705849987));  // utilization
    CHECK(out[4] == doctest::Approx(9.35));                  // workload
}

TEST_CASE("encode polimi: measured CPU, scales, no ready instance and an idle interval") {
    const polimi_encoder enc(0.1, {.instances_scale = 10, .workload_scale_rps = 60, .measured_cpu = true});
    REQUIRE(enc.size() == 6);
    std::array<float, 6> out{};
    function_metrics m = polimi_metrics();
    m.ready_replicas = 0;
    REQUIRE(enc.encode(m, polimi_state(), out));
    CHECK(out[0] == 0.0f);                  // 0 / 10
    CHECK(out[3] == doctest::Approx(0.6));  // 6 · 0.1 / max(0, 1)
    CHECK(out[4] == doctest::Approx(0.1));  // 6 / 60
    CHECK(out[5] == doctest::Approx(0.7));  // measured CPU
    m.ready_replicas = 5;
    REQUIRE(enc.encode(m, polimi_state(), out));
    CHECK(out[0] == doctest::Approx(0.5));   // 5 / 10
    CHECK(out[3] == doctest::Approx(0.12));  // 6 · 0.1 / 5
    function_metrics idle;
    idle.interval_s = 10;
    idle.ready_replicas = 1;
    REQUIRE(enc.encode(idle, polimi_state(), out));
    CHECK(out[1] == 0.0f);  // no request: no pressure
    CHECK(out[2] == 0.0f);  // and no queue
    CHECK(out[3] == 0.0f);  // λ = 0
    // a response time below the demand gives a negative QLD, as the formula says
    m.latency_mean_s = 0.05;
    REQUIRE(enc.encode(m, polimi_state(), out));
    CHECK(out[2] == doctest::Approx(-0.5));  // (0.05 - 0.1) / 0.1
}

TEST_CASE("encode polimi: the response time is the SLO's statistic unless configured") {
    std::array<float, 5> out{};
    scaling_state p90 = polimi_state();
    p90.slo.percentile = 0.9;
    // default: the SLO bounds p90, so RT = p90 = 2.0
    REQUIRE(polimi_encoder(0.1).encode(polimi_metrics(), p90, out));
    CHECK(out[1] == doctest::Approx(2.0));   // 2.0 / 1.0
    CHECK(out[2] == doctest::Approx(19.0));  // (2.0 - 0.1) / 0.1
    // configured: the mean, whatever the SLO
    REQUIRE(polimi_encoder(0.1, {.response_time_percentile = 0}).encode(polimi_metrics(), p90, out));
    CHECK(out[1] == doctest::Approx(0.5));
    // configured: p90 against the paper's mean SLO
    REQUIRE(polimi_encoder(0.1, {.response_time_percentile = 0.9}).encode(polimi_metrics(), polimi_state(), out));
    CHECK(out[1] == doctest::Approx(2.0));
}

TEST_CASE("encode polimi: a non-finite or negative input is refused by name and out is untouched") {
    const polimi_encoder enc(0.1, {.measured_cpu = true});
    test::refusal<decltype(enc), 6> refused(enc);
    for (const double bad : test::bad_values(-0.1)) {
        CAPTURE(bad);
        function_metrics m = polimi_metrics();
        m.latency_mean_s = bad;
        refused(m, polimi_state(), "latency_mean_s");
        m = polimi_metrics();
        m.interval_s = bad;
        refused(m, polimi_state(), "interval_s");
        m = polimi_metrics();
        m.cpu_utilization = bad;
        refused(m, polimi_state(), "cpu_utilization");
        scaling_state s = polimi_state();
        s.slo.latency_s = bad;
        refused(polimi_metrics(), s, "slo.latency_s");
        s = polimi_state();
        s.slo.percentile = bad;
        refused(polimi_metrics(), s, "slo.percentile");
    }
    function_metrics tiny = polimi_metrics();
    tiny.interval_s = 1e-310;  // finite and > 0, but its arrivals are an infinite rate
    refused(tiny, polimi_state(), "interval_s");
    scaling_state s = polimi_state();
    s.slo.latency_s = 0;
    refused(polimi_metrics(), s, "slo.latency_s");
    function_metrics stalled;
    stalled.interval_s = 10;
    stalled.in_service = 3;  // work pending, nothing completed: P and QLD would be infinite
    refused(stalled, polimi_state(), "latency_mean_s");
    function_metrics huge = polimi_metrics();
    huge.latency_mean_s = 1e300;  // finite, but P and QLD overflow a float
    refused(huge, polimi_state(), "latency_mean_s", 1e300);
    // against an SLO so small that P = latency / SLO overflows the double:
    // the value is the latency refused, not P (infinite)
    scaling_state tight = polimi_state();
    tight.slo.latency_s = 1e-10;
    refused(huge, tight, "latency_mean_s", 1e300);
    // a latency that fits a float, whose P does not
    function_metrics fast = polimi_metrics();
    fast.latency_mean_s = 1e30;
    refused(fast, tight, "latency_mean_s", 1e30);
    // an SLO whose reciprocal does not fit a float: P of an ordinary
    // latency (0.5 s) does not fit either, and the SLO is named
    scaling_state tiny_slo = polimi_state();
    tiny_slo.slo.latency_s = 1e-40;
    refused(polimi_metrics(), tiny_slo, "slo.latency_s", 1e-40);
    // ... unless the latency itself does not fit a float
    refused(huge, tiny_slo, "latency_mean_s", 1e300);
    // a latency small enough keeps P within range against it
    function_metrics quick = polimi_metrics();
    quick.latency_mean_s = 1e-5;  // P = 1e35
    std::array<float, 5> out{};
    CHECK(polimi_encoder(1e-6).encode(quick, tiny_slo, out));
    CHECK(out[1] == doctest::Approx(1e35));
    std::array<float, 5> short_out{};  // measured_cpu needs 6
    CHECK(enc.encode(polimi_metrics(), polimi_state(), short_out).field == "out.size");
}

TEST_CASE("encode polimi: a bad demand time or configuration throws config_error") {
    CHECK_THROWS_AS(polimi_encoder{0.0}, config_error);
    CHECK_THROWS_AS(polimi_encoder{qnan}, config_error);
    // finite and > 0, but QLD = (RT - D) / D of every latency of 1 s or more
    // would overflow a float: refused by name, not at every encoding
    CHECK_THROWS_WITH_AS(polimi_encoder{1e-310}, doctest::Contains("demand_time_s: must be finite and >= 2.93"), config_error);
    CHECK_THROWS_WITH_AS(polimi_encoder{1e-310}, doctest::Contains("got 1e-310"), config_error);
    const polimi_encoder smallest(3e-39);  // just above the least, 1 / FLT_MAX
    std::array<float, 5> out{};
    CHECK(smallest.encode(polimi_metrics(), polimi_state(), out));  // QLD = 0.5 / 3e-39 = 1.7e38
    CHECK(std::isfinite(out[2]));
    CHECK_THROWS_AS(polimi_encoder(0.1, {.response_time_percentile = 2}), config_error);
    CHECK_THROWS_AS(polimi_encoder(0.1, {.response_time_percentile = qnan}), config_error);
    CHECK_THROWS_AS(polimi_encoder(0.1, {.instances_scale = 0}), config_error);
    CHECK_THROWS_AS(polimi_encoder(0.1, {.workload_scale_rps = -1}), config_error);
    CHECK_FALSE(polimi_encoder_config::polimi().response_time_percentile.has_value());
}

}  // namespace test_encode_polimi_encoder
