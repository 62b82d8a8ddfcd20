#include <rlscale/encode/relative_scarlet_encoder.hpp>
#include <rlscale/encode/scarlet_encoder.hpp>

#include "refusal.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>

namespace test_encode_scarlet_encoder {

using namespace rlscale;

namespace {

using test::inf;
using test::qnan;

function_metrics scarlet_metrics() {
    function_metrics m;
    m.interval_s = 10;
    m.cpu_utilization = 0.5;
    m.memory_utilization = 0.25;
    m.throughput_rps = 50;
    return m;
}

scaling_state scarlet_state() {
    scaling_state s;
    s.replicas = 3;
    s.max_replicas = 10;
    s.slo.target_rps = 200;
    return s;
}

}  // namespace

TEST_CASE("encode scarlet: features worked out by hand") {
    const scarlet_encoder enc;
    REQUIRE(enc.size() == 5);
    std::array<float, 5> out{};
    REQUIRE(enc.encode(scarlet_metrics(), scarlet_state(), out));
    // containers 3 / 10 = 0.3, cpu 0.5, memory 0.25, network proxy 50 / 100 = 0.5, target 200 / 100 = 2
    CHECK(out[0] == doctest::Approx(0.3));
    CHECK(out[1] == doctest::Approx(0.5));
    CHECK(out[2] == doctest::Approx(0.25));
    CHECK(out[3] == doctest::Approx(0.5));
    CHECK(out[4] == doctest::Approx(2.0));
}

TEST_CASE("encode scarlet: replicas are normalised into 0..1 and the RPS scale is configurable") {
    const scarlet_encoder enc({.rps_scale = 500});
    std::array<float, 5> out{};
    scaling_state s = scarlet_state();
    s.replicas = 15;  // above max_replicas: clamped
    REQUIRE(enc.encode(scarlet_metrics(), s, out));
    CHECK(out[0] == 1.0f);
    CHECK(out[3] == doctest::Approx(0.1));  // 50 / 500
    CHECK(out[4] == doctest::Approx(0.4));  // 200 / 500
    s.replicas = 0;
    REQUIRE(enc.encode(scarlet_metrics(), s, out));
    CHECK(out[0] == 0.0f);
}

TEST_CASE("encode scarlet: zero replicas, no traffic and no target encode as zeros") {
    const scarlet_encoder enc;
    std::array<float, 5> out{};
    out.fill(9);
    function_metrics m;
    m.interval_s = 10;
    scaling_state s;
    s.replicas = 0;
    s.max_replicas = 4;
    REQUIRE(enc.encode(m, s, out));
    for (const float v : out) CHECK(v == 0.0f);
    // a concatenated two-function state: each function's five features in turn
    std::array<float, 10> joint{};
    REQUIRE(enc.encode(scarlet_metrics(), scarlet_state(), std::span(joint).first(5)));
    REQUIRE(enc.encode(m, s, std::span(joint).subspan(5)));
    CHECK(joint[0] == doctest::Approx(0.3));
    CHECK(joint[5] == 0.0f);
}

TEST_CASE("encode scarlet: a non-finite or negative input is refused by name and out is untouched") {
    const scarlet_encoder enc;
    test::refusal<decltype(enc), 5> refused(enc);
    for (const double bad : test::bad_values(-0.5)) {
        CAPTURE(bad);
        function_metrics m = scarlet_metrics();
        m.cpu_utilization = bad;
        refused(m, scarlet_state(), "cpu_utilization");
        m = scarlet_metrics();
        m.memory_utilization = bad;
        refused(m, scarlet_state(), "memory_utilization");
        m = scarlet_metrics();
        m.throughput_rps = bad;
        refused(m, scarlet_state(), "throughput_rps");
        scaling_state s = scarlet_state();
        s.slo.target_rps = bad;
        refused(scarlet_metrics(), s, "slo.target_rps");
    }
    scaling_state s = scarlet_state();
    s.replicas = -1;
    refused(scarlet_metrics(), s, "state.replicas");
    s = scarlet_state();
    s.max_replicas = 0;
    refused(scarlet_metrics(), s, "state.max_replicas");
    s.max_replicas = -2;
    refused(scarlet_metrics(), s, "state.max_replicas");
    // the first bad field is named
    function_metrics m = scarlet_metrics();
    m.cpu_utilization = qnan;
    m.memory_utilization = qnan;
    refused(m, scarlet_state(), "cpu_utilization");
}

TEST_CASE("encode scarlet: a wrong output size and a huge input are refused") {
    const scarlet_encoder enc;
    std::array<float, 4> short_out{};
    CHECK(enc.encode(scarlet_metrics(), scarlet_state(), short_out).field == "out.size");
    std::array<float, 5> out{};
    function_metrics m = scarlet_metrics();
    m.throughput_rps = 1e300;  // finite as a double, infinite as a float
    const encode_status st = enc.encode(m, scarlet_state(), out);
    CHECK_FALSE(st.ok);
    CHECK(st.field == "throughput_rps");
    CHECK(st.value == 1e300);  // the input refused, not the scaled feature 1e298
    test::refusal<decltype(enc), 5> refused(enc);
    scaling_state s = scarlet_state();
    s.slo.target_rps = 1e300;
    refused(scarlet_metrics(), s, "slo.target_rps", 1e300);
    // a value under the float limit that the scale lifts past it
    const scarlet_encoder fine({.rps_scale = 1e-10});
    test::refusal<decltype(fine), 5> refused_fine(fine);
    m.throughput_rps = 1e30;
    refused_fine(m, scarlet_state(), "throughput_rps", 1e30);
}

TEST_CASE("encode relative scarlet: a wrong output size is refused, nothing written past it") {
    const relative_scarlet_encoder enc;
    std::array<float, 6> buffer{};
    buffer.fill(-1.0F);
    CHECK(enc.encode(scarlet_metrics(), scarlet_state(), std::span<float>(buffer).first(3)).field == "out.size");
    CHECK(enc.encode(scarlet_metrics(), scarlet_state(), buffer).field == "out.size");
    for (const float x : buffer) CHECK(x == -1.0F);
    CHECK(enc.encode(scarlet_metrics(), scarlet_state(), std::span<float>(buffer).first(5)).ok);
}

TEST_CASE("encode relative scarlet: features worked out by hand, each ratio clamped to 0..4") {
    const relative_scarlet_encoder enc;
    REQUIRE(enc.size() == 5);
    std::array<float, 5> out{};
    function_metrics m = scarlet_metrics();
    m.queue_length = 6;
    m.ready_replicas = 2;
    REQUIRE(enc.encode(m, scarlet_state(), out));
    // replicas 3 / 10 = 0.3, cpu 0.5, memory 0.25, throughput 50 / target 200 = 0.25, queue 6 / 2 ready = 3
    CHECK(out[0] == doctest::Approx(0.3));
    CHECK(out[1] == doctest::Approx(0.5));
    CHECK(out[2] == doctest::Approx(0.25));
    CHECK(out[3] == doctest::Approx(0.25));
    CHECK(out[4] == doctest::Approx(3.0));
    // past the bound: replicas 15 / 10 = 1.5 (not clamped to 1); cpu 5, 1000 / 200 and 20 / 2 clamp to 4
    scaling_state s = scarlet_state();
    s.replicas = 15;
    m.cpu_utilization = 5;
    m.memory_utilization = 4.5;
    m.throughput_rps = 1000;
    m.queue_length = 20;
    REQUIRE(enc.encode(m, s, out));
    CHECK(out[0] == doctest::Approx(1.5));
    CHECK(out[1] == 4.0F);
    CHECK(out[2] == 4.0F);
    CHECK(out[3] == 4.0F);
    CHECK(out[4] == 4.0F);
    s.replicas = 50;  // 5 times the maximum
    REQUIRE(enc.encode(m, s, out));
    CHECK(out[0] == 4.0F);
    // a queue with nothing ready to serve it: 4; no queue and nothing ready: 0; no target: 0
    m = scarlet_metrics();
    m.queue_length = 3;
    m.ready_replicas = 0;
    s = scarlet_state();
    s.replicas = 0;
    s.slo.target_rps = 0;
    REQUIRE(enc.encode(m, s, out));
    CHECK(out[0] == 0.0F);
    CHECK(out[3] == 0.0F);
    CHECK(out[4] == 4.0F);
    m.queue_length = 0;
    REQUIRE(enc.encode(m, s, out));
    CHECK(out[4] == 0.0F);
}

TEST_CASE("encode relative scarlet: a non-finite or negative input is refused by name and out is untouched") {
    const relative_scarlet_encoder enc;
    test::refusal<decltype(enc), 5> refused(enc);
    for (const double bad : test::bad_values(-0.5)) {
        CAPTURE(bad);
        function_metrics m = scarlet_metrics();
        m.cpu_utilization = bad;
        refused(m, scarlet_state(), "cpu_utilization", bad);
        m = scarlet_metrics();
        m.memory_utilization = bad;
        refused(m, scarlet_state(), "memory_utilization", bad);
        m = scarlet_metrics();
        m.throughput_rps = bad;
        refused(m, scarlet_state(), "throughput_rps", bad);
        scaling_state s = scarlet_state();
        s.slo.target_rps = 0;  // no target: the throughput is still read, and refused
        refused(m, s, "throughput_rps", bad);
        s = scarlet_state();
        s.slo.target_rps = bad;
        refused(scarlet_metrics(), s, "slo.target_rps", bad);
    }
    scaling_state s = scarlet_state();
    s.replicas = -1;
    refused(scarlet_metrics(), s, "state.replicas", -1);
    s = scarlet_state();
    s.max_replicas = 0;
    refused(scarlet_metrics(), s, "state.max_replicas", 0);
    s.max_replicas = -2;
    refused(scarlet_metrics(), s, "state.max_replicas", -2);
    // the first bad field is named
    function_metrics m = scarlet_metrics();
    m.cpu_utilization = qnan;
    m.memory_utilization = qnan;
    refused(m, scarlet_state(), "cpu_utilization", qnan);
}

TEST_CASE("encode scarlet: a bad configuration throws config_error") {
    CHECK_THROWS_AS(scarlet_encoder({.rps_scale = 0}), config_error);
    CHECK_THROWS_AS(scarlet_encoder({.rps_scale = qnan}), config_error);
    CHECK(scarlet_encoder_config::scarlet().rps_scale == 100);
}

}  // namespace test_encode_scarlet_encoder
