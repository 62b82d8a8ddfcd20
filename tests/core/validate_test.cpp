#include <rlscale/core/validate.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/rl/dqn.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

namespace test_core_validate {

using namespace rlscale;

namespace {
std::string message(auto&& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    }
    return "accepted";
}
}  // namespace

TEST_CASE("config_error: what() is the field and the detail, detail() the message alone") {
    const config_error e("hpa_config.target", "must be > 0, got -1");
    CHECK(std::string(e.what()) == "hpa_config.target: must be > 0, got -1");
    CHECK(e.field() == "hpa_config.target");
    CHECK(e.detail() == "must be > 0, got -1");
    // Thrown again under another name, the message keeps one field name.
    const config_error outer("functions[2]." + e.field(), e.detail());
    CHECK(std::string(outer.what()) == "functions[2].hpa_config.target: must be > 0, got -1");
}

TEST_CASE("format_number: integers as integers, other values in their shortest exact form") {
    CHECK(format_number(3) == "3");
    CHECK(format_number(std::int64_t{-2147483648}) == "-2147483648");
    CHECK(format_number(1.5) == "1.5");
    CHECK(format_number(0.001) == "0.001");
    CHECK(format_number(1e300) == "1e+300");
    CHECK(format_number(std::numeric_limits<double>::quiet_NaN()) == "nan");
    CHECK(format_number(-std::numeric_limits<double>::infinity()) == "-inf");
}

TEST_CASE("check_fields: one field-path and message style for every check") {
    const check_fields c("demo_config");
    CHECK(message([&] { c.in("gamma", 1.5, 0, 1); }) == "demo_config.gamma: must be in [0, 1], got 1.5");
    CHECK(message([&] { c.in("gamma", std::numeric_limits<double>::quiet_NaN(), 0, 1); }) == "demo_config.gamma: must be in [0, 1], got nan");
    CHECK(message([&] { c.in_open_closed("tau", 0.0, 0, 1); }) == "demo_config.tau: must be in (0, 1], got 0");
    CHECK(message([&] { c.in_closed_open("beta", 1.0, 0, 1); }) == "demo_config.beta: must be in [0, 1), got 1");
    CHECK(message([&] { c.at_least("n", 0, 1); }) == "demo_config.n: must be >= 1, got 0");
    CHECK(message([&] { c.greater("lr", std::numeric_limits<double>::infinity(), 0); }) == "demo_config.lr: must be finite and > 0, got inf");
    CHECK(message([&] { c.at_most("k", 7, 5); }) == "demo_config.k: must be <= 5, got 7");
    CHECK(message([&] { c.count("targets", 0, 1, 16); }) == "demo_config.targets: must hold 1 to 16 values, got 0");
    CHECK(message([&] { c.at_most("penalty", 0.5, 0); }) == "demo_config.penalty: must be finite and <= 0, got 0.5");
    CHECK(message([&] { c.at_most("penalty", -std::numeric_limits<double>::infinity(), 0); }) ==
          "demo_config.penalty: must be finite and <= 0, got -inf");
    CHECK(message([&] { c.at_least_field("max", 1, "min", 2); }) == "demo_config.max: must be >= min (2), got 1");
    CHECK(message([&] { c.at_least_field("hi", std::numeric_limits<double>::quiet_NaN(), "lo", 0.5); }) ==
          "demo_config.hi: must be finite and >= lo (0.5), got nan");
    CHECK(message([&] { c.greater_field("hi", 0.5, "lo", 0.5); }) == "demo_config.hi: must be finite and > lo (0.5), got 0.5");
    CHECK(message([&] { c.non_empty("policies", 0); }) == "demo_config.policies: must hold at least 1 value, got 0");
    CHECK(message([&] { c.not_null("weights", std::shared_ptr<int>{}); }) == "demo_config.weights: must not be null, got null");
    CHECK(message([&] { c.require(false, "target", "be value for an object metric", "utilization"); }) ==
          "demo_config.target: must be value for an object metric, got utilization");
    CHECK(message([&] { c.in("ok", 0.5, 0, 1).at_least("also", 3, 1); }) == "accepted");
    CHECK(message([&] {
              c.at_least_field("max", 2, "min", 2).greater_field("hi", 1.5, "lo", 1.0).non_empty("l", 1).not_null("p", &c);
          }) == "accepted");
    CHECK(message([&] { check_fields("").greater("demand_time_s", -1.0, 0); }) == "demand_time_s: must be finite and > 0, got -1");
    try {
        c.at_least("n", 0, 1);
        FAIL("accepted");
    } catch (const config_error& e) {
        CHECK(e.field() == "demo_config.n");
    }
}

TEST_CASE("configuration structs validate through check_fields") {
    rl::dqn_config d;
    d.gamma = 1.5;
    CHECK(message([&] { d.validate(); }) == "dqn_config.gamma: must be in [0, 1], got 1.5");
    d = {};
    d.replay_capacity = 10;
    CHECK(message([&] { d.validate(); }) == "dqn_config.replay_capacity: must be >= batch_size (128), got 10");
    CHECK(message([] { guard_config{.max_step_up = -1}.validate(); }) == "guard_config.max_step_up: must be >= 0, got -1");
    CHECK(message([] { kpa_config{.max_samples = 1}.validate(); }) == "kpa_config.max_samples: must be >= 2, got 1");
    CHECK(message([] { nn::adam_config{.beta1 = 1.0}.validate(); }) == "adam_config.beta1: must be in [0, 1), got 1");
    CHECK(message([] { hpa_config{.min_replicas = 3, .max_replicas = 2}.validate(); }) ==
          "hpa_config.max_replicas: must be >= min_replicas (3), got 2");
    CHECK(message([] { hpa_config{.tolerance = 1.5}.validate(); }) == "hpa_config.tolerance: must be in [0, 1), got 1.5");
    hpa::metric pods = hpa::metric::pods_average_value(100);
    pods.target = hpa::metric_target::utilization;
    CHECK(message([&] { hpa_config{.metrics = {pods}}.validate(); }) ==
          "hpa_config.metrics[0].target: must be average_value for a pods metric, got utilization");
}

}  // namespace test_core_validate
