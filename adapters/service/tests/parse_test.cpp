// parse_decision_request and handle() without sockets.

#include <rlscale/policy/static_policy.hpp>
#include <rlscale/service/decision_service.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using rlscale::service::parse_decision_request;
using rlscale::service::request_error;

TEST_CASE("parse: every metric field by its C++ name") {
    const auto r = parse_decision_request(R"({
      "function": "f", "time_s": -3.5, "replicas": 2, "min_replicas": 0, "max_replicas": 9,
      "cpu_limit": 0.5, "memory_limit_mb": 256,
      "metrics": {"interval_s": 15, "arrivals": 10, "completions": 9, "drops": 1, "throughput_rps": 0.6,
                  "latency_mean_s": 0.1, "latency": {"p50": 0.05, "p90": 0.2, "p95": 0.3, "p99": 0.4, "p999": null},
                  "queue_length": 3, "in_service": 2, "cpu_utilization": 0.7, "memory_utilization": 0.4,
                  "cpu_limit": 0.5, "memory_limit_mb": 256, "ready_replicas": 2, "starting_replicas": 1,
                  "pending_replicas": 0, "cold_starts": 1, "replica_seconds": 30},
      "slo": {"latency_s": 0.5, "percentile": 0.99, "target_rps": 3}})");
    CHECK(r.function == "f");
    CHECK(r.state.time_s == -3.5);
    CHECK(r.state.replicas == 2);
    CHECK(r.state.min_replicas == 0);
    CHECK(r.state.max_replicas == 9);
    CHECK(r.state.cpu_limit == 0.5);
    CHECK(r.state.slo.percentile == 0.99);
    CHECK(r.metrics.interval_s == 15);
    CHECK(r.metrics.arrivals == 10);
    CHECK(r.metrics.drops == 1);
    CHECK(r.metrics.latency.p90 == 0.2);
    CHECK(std::isnan(r.metrics.latency.p999));
    CHECK(r.metrics.queue_length == 3);
    CHECK(r.metrics.starting_replicas == 1);
    CHECK(r.metrics.replica_seconds == 30);
}

TEST_CASE("parse: errors name the field") {
    const auto field_of = [](const std::string& body) {
        try {
            (void)parse_decision_request(body);
        } catch (const request_error& e) {
            return e.field();
        }
        return std::string("(accepted)");
    };
    const std::string head = R"({"function":"f","time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,)";
    CHECK(field_of(head + R"("metrics":{"interval_s":0}})") == "metrics.interval_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":"NaN"}})") == "metrics.interval_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"queue_length":1.5}})") == "metrics.queue_length");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"latency":[1]}})") == "metrics.latency");
    CHECK(field_of(head + R"("metrics":{"interval_s":1},"slo":{"latency_s":0}})") == "slo.latency_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":1}})") == "(accepted)");
    CHECK(field_of("nope") == "body");
}

TEST_CASE("handle: status and body without sockets") {
    rlscale::service::decision_service svc({}, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{50}); });
    const auto ok = svc.handle(R"({"function":"f","time_s":0,"replicas":1,"min_replicas":1,"max_replicas":8,"metrics":{"interval_s":1}})");
    CHECK(ok.status == 200);
    // static wants 50: clamped to max 8, and rate-limited from 1 by max_step_up 4 first.
    CHECK(nlohmann::json::parse(ok.body).at("replicas") == 5);
    CHECK(nlohmann::json::parse(ok.body).at("reason") == "guard: rate-limited");
    const auto bad = svc.handle("{}");
    CHECK(bad.status == 400);
    CHECK(nlohmann::json::parse(bad.body).at("replicas") == -1);
}
