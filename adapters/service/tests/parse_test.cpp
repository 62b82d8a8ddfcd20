// parse_decision_request and handle() without sockets.

#include <rlscale/policy/static_policy.hpp>
#include <rlscale/service/decision_service.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace test_service_parse {

using namespace std::string_literals;

using rlscale::service::parse_decision_request;
using rlscale::service::request_error;

namespace {

/// Whether `s` is valid UTF-8 (nlohmann refuses to dump a string that is not).
bool valid_utf8(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

/// The request_error parse_decision_request throws for `body`; fails the test if it accepts it.
request_error refusal(const std::string& body) {
    try {
        (void)parse_decision_request(body);
    } catch (const request_error& e) {
        return e;
    }
    FAIL("accepted: " << body.substr(0, 200));
    return request_error("", "");
}

const std::string head = R"({"function":"f","time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,)";

/// The field a refusal of `body` names, or "(accepted)".
std::string field_of(const std::string& body) {
    try {
        (void)parse_decision_request(body);
    } catch (const request_error& e) {
        return e.field();
    }
    return "(accepted)";
}

/// The field a refusal of `body` as JSON names (a repeated key, by its
/// path), or "(accepted)": the body only parsed, not read as a request.
std::string repeated(const std::string& body) {
    try {
        (void)rlscale::service::detail::parse_body(body);
    } catch (const request_error& e) {
        return e.field();
    }
    return "(accepted)";
}

}  // namespace

TEST_CASE("parse: a load signal left out is refused by name, never read as zero") {
    const std::string all = R"("interval_s":15,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,)"
                            R"("cpu_utilization":0,"memory_utilization":0,"ready_replicas":0)";
    CHECK(field_of(head + R"("metrics":{)" + all + "}}") == "(accepted)");
    for (const std::string field : {"arrivals", "completions", "throughput_rps", "queue_length", "in_service", "cpu_utilization",
                                    "memory_utilization", "ready_replicas"}) {
        CAPTURE(field);
        nlohmann::json body = nlohmann::json::parse(head + R"("metrics":{)" + all + "}}");
        body["metrics"].erase(field);
        CHECK(field_of(body.dump()) == "metrics." + field);
    }
}

TEST_CASE("parse: serving a learned policy, the SLO is required field by field, never its defaults") {
    const std::string metrics = R"("metrics":{"interval_s":15,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,)"
                                R"("in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0})";
    const auto field_with_slo_required = [](const std::string& body) -> std::string {
        try {
            (void)parse_decision_request(body, 253, true);
        } catch (const request_error& e) {
            return e.field();
        }
        return "(accepted)";
    };
    CHECK(field_of(head + metrics + "}") == "(accepted)");  // baselines read no SLO
    CHECK(field_with_slo_required(head + metrics + "}") == "slo");
    CHECK(field_with_slo_required(head + metrics + R"(,"slo":{"latency_s":0.2,"percentile":0.9}})") == "slo.target_rps");
    CHECK(field_with_slo_required(head + metrics + R"(,"slo":{"latency_s":0.2,"target_rps":50}})") == "slo.percentile");
    CHECK(field_with_slo_required(head + metrics + R"(,"slo":{"percentile":0.9,"target_rps":50}})") == "slo.latency_s");
    const auto r = parse_decision_request(head + metrics + R"(,"slo":{"latency_s":0.2,"percentile":0.95,"target_rps":50}})", 253, true);
    CHECK(r.state.slo.latency_s == 0.2);
    CHECK(r.state.slo.percentile == 0.95);
    CHECK(r.state.slo.target_rps == 50);
}

TEST_CASE("parse: every metric field by its C++ name") {
    const auto r = parse_decision_request(R"({
      "function": "f", "time_s": -3.5, "replicas": 2, "min_replicas": 0, "max_replicas": 9,
      "cpu_limit": 0.5, "memory_limit_mb": 256,
      "metrics": {"interval_s": 15, "arrivals": 10, "completions": 9, "drops": 1, "throughput_rps": 0.6,
                  "latency_mean_s": 0.1, "latency": {"p50": 0.05, "p90": 0.2, "p95": 0.3, "p99": 0.4, "p999": null},
                  "queue_length": 3, "in_service": 2, "cpu_utilization": 0.7, "memory_utilization": 0.4,
                  "cpu_limit": 0.5, "memory_limit_mb": 256, "cpu_limit_min": 0.25, "memory_limit_min_mb": null,
                  "ready_replicas": 2, "starting_replicas": 1, "pending_replicas": 0, "cold_starts": 1, "replica_seconds": 30},
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
    CHECK(r.metrics.cpu_limit_min == 0.25);
    CHECK(std::isnan(r.metrics.memory_limit_min_mb));
}

TEST_CASE("parse: errors name the field") {
    CHECK(field_of(head + R"("metrics":{"interval_s":0}})") == "metrics.interval_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":"NaN"}})") == "metrics.interval_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"queue_length":1.5}})") == "metrics.queue_length");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"latency":[1]}})") == "metrics.latency");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"cpu_limit_min":-1}})") == "metrics.cpu_limit_min");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0},"slo":{"latency_s":0}})") == "slo.latency_s");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})") == "(accepted)");
    CHECK(field_of("nope") == "body");
    // A key twice in one object is refused, whichever object (nlohmann
    // would keep the last: replicas -5 here).
    CHECK(field_of(R"({"function":"f","time_s":1,"replicas":3,"replicas":-5,"min_replicas":1,"max_replicas":8,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})") ==
          "replicas");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"interval_s":2}})") == "metrics.interval_s");
    // Named by its path, through arrays too.
    CHECK(repeated(R"({"functions":[{"a":1},{"b":[1,[2],{"c":3}],"b":2}]})") == "functions[1].b");
    CHECK(repeated(R"({"functions":[{"a":1},{"b":[1,[2],{"c":3,"c":4}]}]})") == "functions[1].b[2].c");
    CHECK(repeated(R"([[],{"x":{"y":1,"y":2}}])") == "[1].x.y");
    CHECK(repeated(R"({"a":1,"b":1,"a":2,"b":2})") == "a");
    // The same key in two objects, nested or side by side, is fine.
    CHECK_NOTHROW((void)rlscale::service::detail::parse_body(R"({"x":{"x":1,"y":{"x":2}},"z":[{"x":1},{"x":2}]})"));
}

TEST_CASE("parse: current limits left out or 0 are the measured ones, else 0 (unknown), never scaling_state's defaults") {
    const std::string metrics = R"("metrics":{"interval_s":15,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,)"
                                R"("in_service":0,"cpu_utilization":0.5,"memory_utilization":0.5,"ready_replicas":1)";
    const auto measured = parse_decision_request(head + metrics + R"(,"cpu_limit":2,"memory_limit_mb":2048}})");
    CHECK(measured.state.cpu_limit == 2);
    CHECK(measured.state.memory_limit_mb == 2048);
    const auto unknown = parse_decision_request(head + metrics + "}}");
    CHECK(unknown.state.cpu_limit == 0);
    CHECK(unknown.state.memory_limit_mb == 0);
    const auto given = parse_decision_request(head + R"("cpu_limit":0.5,"memory_limit_mb":256,)" + metrics +
                                              R"(,"cpu_limit":2,"memory_limit_mb":2048}})");
    CHECK(given.state.cpu_limit == 0.5);
    CHECK(given.state.memory_limit_mb == 256);
    // A limit given as 0 says "unknown": the measured one stands in, as if left out.
    const auto zero = parse_decision_request(head + R"("cpu_limit":0,"memory_limit_mb":0,)" + metrics +
                                             R"(,"cpu_limit":2,"memory_limit_mb":2048}})");
    CHECK(zero.state.cpu_limit == 2);
    CHECK(zero.state.memory_limit_mb == 2048);
    const auto zero_unmeasured = parse_decision_request(head + R"("cpu_limit":0,"memory_limit_mb":0,)" + metrics + "}}");
    CHECK(zero_unmeasured.state.cpu_limit == 0);
    CHECK(zero_unmeasured.state.memory_limit_mb == 0);
}

TEST_CASE("parse: an integer beyond 2^64 is refused for its range, a fraction for its type") {
    const std::string huge = refusal(head + R"("metrics":{"interval_s":1,"arrivals":18446744073709551616}})").what();
    CHECK(huge.find("metrics.arrivals: must be <= ") != std::string::npos);
    const std::string fraction = refusal(head + R"("metrics":{"interval_s":1,"arrivals":1.5}})").what();
    CHECK(fraction.find("metrics.arrivals: must be an integer, got 1.5") != std::string::npos);
}

TEST_CASE("parse: a whole number written as a float is that integer, a fraction or one out of range is refused") {
    const std::string metrics = R"("interval_s":15,"completions":0,"throughput_rps":0,"in_service":0,)"
                                R"("cpu_utilization":0,"memory_utilization":0,"ready_replicas":1)";
    // `top` replaces the head's replicas, `more` adds metrics fields.
    const auto body = [&](const std::string& top, const std::string& more) {
        return R"({"function":"f","time_s":0,)" + top + R"(,"metrics":{)" + metrics + "," + more + "}}";
    };
    const std::string counts = R"("min_replicas":1,"max_replicas":8)";
    // JSON has one number type: 3.0 and 1e2 are the integers 3 and 100.
    const auto r = parse_decision_request(body(R"("replicas":3.0,)" + counts, R"("arrivals":1e2,"queue_length":0.0)"));
    CHECK(r.state.replicas == 3);
    CHECK(r.metrics.arrivals == 100);
    CHECK(r.metrics.queue_length == 0);
    // The bounds of each field, written as floats: exact.
    const auto edges = parse_decision_request(body(R"("replicas":-0.0,"min_replicas":0,"max_replicas":1e6)",
                                                   R"("arrivals":4503599627370495.0,"queue_length":4294967295.0)"));
    CHECK(edges.state.replicas == 0);
    CHECK(edges.state.max_replicas == 1'000'000);
    CHECK(edges.metrics.arrivals == 4'503'599'627'370'495ULL);  // 2^52 - 1: the largest taken written as a float
    CHECK(edges.metrics.queue_length == 4'294'967'295U);
    // A fraction, a negative, a whole number out of range: refused naming the field and the value.
    const auto refused = [&](const std::string& top, const std::string& more) {
        return std::string(refusal(body(top, more)).what());
    };
    const std::string ok_replicas = R"("replicas":3,)" + counts;
    CHECK(refused(R"("replicas":2.5,)" + counts, R"("arrivals":0,"queue_length":0)") == "replicas: must be an integer, got 2.5");
    CHECK(refused(R"("replicas":-1.0,)" + counts, R"("arrivals":0,"queue_length":0)") == "replicas: must be >= 0, got -1.0");
    CHECK(refused(R"("replicas":1000001.0,)" + counts, R"("arrivals":0,"queue_length":0)") ==
          "replicas: must be <= 1000000, got 1000001.0");
    CHECK(refused(ok_replicas, R"("arrivals":1e300,"queue_length":0)") ==
          "metrics.arrivals: must be <= 18446744073709551615, got 1e+300");
    CHECK(refused(ok_replicas, R"("arrivals":18446744073709551616.0,"queue_length":0)") ==
          "metrics.arrivals: must be <= 18446744073709551615, got 1.8446744073709552e+19");
    CHECK(refused(ok_replicas, R"("arrivals":0,"queue_length":4294967296.0)") ==
          "metrics.queue_length: must be <= 4294967295, got 4294967296.0");
    CHECK(refused(ok_replicas, R"("arrivals":0.5e0,"queue_length":0)") == "metrics.arrivals: must be an integer, got 0.5");
    // From 2^52 up a double has rounded the text: a fraction there, or an
    // integer a double cannot hold, would be read as another number.
    const std::string hint = " (written with a fraction or exponent, a number from 2^52 up cannot be read exactly: write the integer without them)";
    CHECK(refused(ok_replicas, R"("arrivals":4503599627370497.5,"queue_length":0)") ==
          "metrics.arrivals: must be an integer, got 4.503599627370498e+15" + hint);
    CHECK(refused(ok_replicas, R"("arrivals":9007199254740993.0,"queue_length":0)") ==
          "metrics.arrivals: must be an integer, got 9.007199254740992e+15" + hint);
    CHECK(refused(ok_replicas, R"("arrivals":4503599627370496.0,"queue_length":0)") ==
          "metrics.arrivals: must be an integer, got 4.503599627370496e+15" + hint);
    CHECK(refused(ok_replicas, R"("arrivals":18446744073709549568.0,"queue_length":0)") ==
          "metrics.arrivals: must be an integer, got 1.844674407370955e+19" + hint);
    // Written without a fraction or exponent, the same integers are exact.
    const auto exact = parse_decision_request(body(ok_replicas, R"("arrivals":9007199254740993,"queue_length":0)"));
    CHECK(exact.metrics.arrivals == 9'007'199'254'740'993ULL);
}

TEST_CASE("handle: a hold on refused metrics names the field and its value") {
    rlscale::service::decision_service svc({}, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{3}); });
    const std::string body = R"({"function":"f","time_s":0,"replicas":2,"min_replicas":1,"max_replicas":8,"metrics":{"interval_s":1,)"
                             R"("arrivals":4,"completions":4,"throughput_rps":4,"queue_length":0,"in_service":0,"cpu_utilization":0.5,)"
                             R"("memory_utilization":0.5,"ready_replicas":2,"latency_mean_s":null,)"
                             R"("latency":{"p50":0.1,"p90":0.1,"p95":0.1,"p99":0.1,"p999":0.1}}})";
    const auto held = svc.handle(body);
    REQUIRE(held.status == 200);
    const nlohmann::json j = nlohmann::json::parse(held.body);
    CHECK(j.at("source") == "hold");
    CHECK(j.at("replicas") == 2);
    CHECK(j.at("invalid_metric").at("field") == "latency_mean_s");
    CHECK(j.at("invalid_metric").at("value") == "nan");
    std::string fine = body;
    fine.replace(fine.find("null"), 4, "0.1");
    const nlohmann::json decided = nlohmann::json::parse(svc.handle(fine).body);
    CHECK(decided.at("replicas") == 3);
    CHECK_FALSE(decided.contains("invalid_metric"));
}

TEST_CASE("handle: status and body without sockets") {
    rlscale::service::decision_service svc({}, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{50}); });
    const auto ok = svc.handle(R"({"function":"f","time_s":0,"replicas":1,"min_replicas":1,"max_replicas":8,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})");
    CHECK(ok.status == 200);
    // static wants 50: clamped to max 8, and rate-limited from 1 by max_step_up 4 first.
    CHECK(nlohmann::json::parse(ok.body).at("replicas") == 5);
    CHECK(nlohmann::json::parse(ok.body).at("reason") == "guard: rate-limited");
    const auto bad = svc.handle("{}");
    CHECK(bad.status == 400);
    CHECK(nlohmann::json::parse(bad.body).at("replicas") == -1);
}

TEST_CASE("parse: invalid UTF-8 is refused as 400 naming the field, with a bounded, valid UTF-8 message") {
    const std::string tail = R"(,"time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})";
    const std::vector<std::string> bodies = {
        "{\"function\":\"f\xff\"" + tail,                                 // a byte that is never UTF-8
        "{\"function\":\"f\xe2\x82\"" + tail,                             // a truncated three-byte sequence
        "{\"function\":\"f\xc0\xaf\"" + tail,                             // an overlong encoding of '/'
        "{\"function\":\"f\xed\xa0\x80\"" + tail,                        // a UTF-16 surrogate encoded as UTF-8
        "{\"function\":\"" + std::string(60000, 'a') + "\xff\"" + tail,    // a long string before the bad byte
        "\xff",                                                             // outside any string
        head + "\"metrics\":{\"interval_s\":1,\"l\xffx\":1}}",           // in a key
    };
    for (const auto& body : bodies) {
        CAPTURE(body.substr(0, 80));
        const request_error e = refusal(body);
        CHECK(e.field() == "body");
        CHECK(valid_utf8(e.what()));
        CHECK(std::string(e.what()).size() < 400);  // the body is echoed at most ~100 bytes
    }
    // Valid multibyte UTF-8 is accepted as it is.
    CHECK(parse_decision_request("{\"function\":\"f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" + tail).function ==
          "f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    // A long unknown key is named, cut to a bounded length.
    const request_error key = refusal(head + R"("metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0},")" + std::string(10000, 'k') + R"(":1})");
    CHECK(key.field().rfind("kkkk", 0) == 0);
    CHECK(std::string(key.what()).size() < 400);
    const request_error nested = refusal(head + R"("metrics":{"interval_s":1,")" + std::string(10000, 'k') + R"(":1}})");
    CHECK(nested.field().rfind("metrics.kkkk", 0) == 0);
    CHECK(std::string(nested.what()).size() < 400);
    // A number too large for a double, with many digits: named by its field,
    // and echoed bounded too.
    const request_error big = refusal(head + R"("metrics":{"interval_s":1)" + std::string(20000, '9') + "}}");
    CHECK(big.field() == "metrics.interval_s");
    CHECK(std::string(big.what()).find("number too large for a double") != std::string::npos);
    CHECK(std::string(big.what()).size() < 400);
    CHECK(refusal(R"({"functions":[{"function":"a"},{"replicas":1e999}]})").field() == "functions[1].replicas");
}

TEST_CASE("handle: invalid UTF-8 and unprintable exception messages answer 400 or 500 with valid JSON, never throw") {
    rlscale::service::decision_service svc({}, [](const std::string& f) {
        if (f == "broken") throw std::runtime_error("factory broke on \xff\xfe");
        return rlscale::any_policy(rlscale::static_policy{1});
    });
    const std::string tail = R"(,"time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})";
    for (const std::string& body : {"{\"function\":\"f\xff\"" + tail, "{\"function\":\"f\xe2\x82\"" + tail,
                                    "{\"functions\":[{\"function\":\"\xff\"" + tail + "]}"}) {
        rlscale::service::http_answer a;
        CHECK_NOTHROW(a = svc.handle(body));
        CHECK(a.status == 400);
        CHECK(valid_utf8(a.body));
        CHECK(a.body.size() < 400);
    }
    rlscale::service::http_answer a;
    CHECK_NOTHROW(a = svc.handle(R"({"function":"broken")" + tail));
    CHECK(a.status == 500);
    CHECK(valid_utf8(a.body));
    CHECK(svc.stats().bad_requests == 3);
    CHECK(svc.stats().internal_errors == 1);
}

TEST_CASE("parse: a body nested deeper than max_json_depth is refused before it is built") {
    for (const std::size_t levels : {65, 1000, 100000}) {
        CAPTURE(levels);
        const request_error arrays = refusal(std::string(levels, '[') + std::string(levels, ']'));
        CHECK(arrays.field() == "body");
        CHECK(std::string(arrays.what()).find("nested deeper than 64") != std::string::npos);
        std::string objects;
        for (std::size_t i = 0; i < levels; ++i) objects += R"({"a":)";
        objects += '1';
        objects.append(levels, '}');
        CHECK(std::string(refusal(objects).what()).find("nested deeper than 64") != std::string::npos);
        // Unclosed: refused for its depth too, before the parser sees the end.
        CHECK(refusal(std::string(levels, '[')).field() == "body");
    }
    // 64 levels are parsed: body, metrics, latency and 61 arrays in p50 is a type error, not a depth error.
    const auto latency = [&](std::size_t arrays) {
        return head + R"("metrics":{"interval_s":1,"latency":{"p50":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}}}";
    };
    CHECK(refusal(latency(61)).field() == "metrics.latency.p50");
    CHECK(refusal(latency(62)).field() == "body");
    // Brackets inside strings, escaped quotes included, do not count.
    const std::string name = "x\\\"" + std::string(200, '[') + "\\\\" + std::string(40, '{');
    const auto r = parse_decision_request(R"({"function":")" + name + R"(","time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})");
    CHECK(r.function == "x\"" + std::string(200, '[') + "\\" + std::string(40, '{'));
}

TEST_CASE("handle: deeply nested bodies answer 400, single or several functions, without exhausting the stack") {
    rlscale::service::decision_service svc({}, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{1}); });
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    for (const std::string& body : {deep, R"({"functions":[)" + deep + "]}", R"({"functions":)" + deep + "}",
                                    R"({"functions":[{"function":"f","metrics":)" + deep + "}]}"}) {
        const auto a = svc.handle(body);
        CHECK(a.status == 400);
        CHECK(a.body.find("body: nested deeper than 64") != std::string::npos);
    }
}

TEST_CASE("parse: a NUL byte anywhere is malformed JSON named by its offset, the request before it never decided") {
    const std::string request = head + R"("metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,)"
                                       R"("in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})";
    REQUIRE(field_of(request) == "(accepted)");
    const std::string at_end = "a NUL byte at offset " + std::to_string(request.size());
    // After a whole request (nlohmann's parser stops at the NUL, so these
    // were decided as the request alone, where any other reader refuses them).
    for (const std::string& tail :
         {std::string(1, '\0'), std::string("\0\xff\xfe not json {{{", 16), std::string("\0,\"replicas\":-5}", 16)}) {
        CAPTURE(tail.size());
        const request_error e = refusal(request + tail);
        CHECK(e.field() == "body");
        CHECK(e.detail() == "malformed JSON: " + at_end);
    }
    // Inside a string, raw, it is malformed too, at its own offset.
    std::string in_name = request;
    in_name.replace(in_name.find(R"("f")"), 3, std::string("\"a\0b\"", 5));
    CHECK(refusal(in_name).detail() == "malformed JSON: a NUL byte at offset " + std::to_string(request.find(R"("f")") + 2));
    CHECK(refusal(std::string(1, '\0')).detail() == "malformed JSON: a NUL byte at offset 0");
    // Written as the escape \u0000 it is JSON: the parser reads it, and the
    // name is refused for what it holds, not the body.
    std::string escaped = request;
    escaped.replace(escaped.find(R"("f")"), 3, R"("a\u0000b")");
    CHECK(refusal(escaped).field() == "function");
    CHECK(refusal(head + R"("metrics":{"interval_s":1,"a\u0000b":1}})").field() == "metrics.a\0b"s);

    // handle() answers 400 and decides nothing.
    rlscale::service::decision_service svc({}, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{5}); });
    for (const std::string& body : {request + std::string(1, '\0'), R"({"functions":[)" + request + "]}" + std::string("\0xyz", 4)}) {
        const auto a = svc.handle(body);
        CHECK(a.status == 400);
        CHECK(nlohmann::json::parse(a.body).at("error").get<std::string>().find("body: malformed JSON: a NUL byte at offset ") == 0);
    }
    CHECK(svc.stats().decisions == 0);
    CHECK(svc.handle(request).status == 200);
}

TEST_CASE("parse: a key that is empty or holds . [ ] or a quote is named bracket-quoted, never as no field or another field") {
    const std::string metrics = R"("metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,)"
                                R"("in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0})";
    // At the top level: "" named no field, "metrics.interval_s" the required one.
    CHECK(field_of(head + R"("":1,)" + metrics + "}") == R"([""])");
    CHECK(field_of(head + R"("metrics.interval_s":1,)" + metrics + "}") == R"(["metrics.interval_s"])");
    CHECK(refusal(head + R"("metrics.interval_s":1,)" + metrics + "}").what() == std::string(R"(["metrics.interval_s"]: unknown field)"));
    CHECK(field_of(head + R"("replicas[0]":1,)" + metrics + "}") == R"(["replicas[0]"])");
    CHECK(field_of(head + R"("a]":1,)" + metrics + "}") == R"(["a]"])");
    CHECK(field_of(head + R"("say \"hi\\\"":1,)" + metrics + "}") == R"(["say \"hi\\\""])");
    // Inside metrics, its latency and the SLO.
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"":1}})") == R"(metrics[""])");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"latency.p50":1}})") == R"(metrics["latency.p50"])");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"latency":{"p50":1,"p9.9":1}}})") == R"(metrics.latency["p9.9"])");
    CHECK(field_of(head + metrics + R"(,"slo":{"latency_s":1,"":2}})") == R"(slo[""])");
    // A plain unknown key is named as before.
    CHECK(field_of(head + R"("extra":1,)" + metrics + "}") == "extra");
    CHECK(field_of(head + R"("metrics":{"interval_s":1,"extra":1}})") == "metrics.extra");
    // A repeated key, by its path.
    CHECK(repeated(R"({"":1,"":2})") == R"([""])");
    CHECK(repeated(R"({"functions":[{"m":{"a.b":1,"a.b":2}}]})") == R"(functions[0].m["a.b"])");
    CHECK(repeated(R"({"x":{"[1]":{"y":1,"y":2}}})") == R"(x["[1]"].y)");
    // A number too large for a double, by its path too.
    CHECK(refusal(R"({"a.b":{"c":1e999}})").field() == R"(["a.b"].c)");
}

TEST_CASE("parse: a function name with a C1 control character is refused, named by its code point and offset") {
    const std::string tail = R"(,"time_s":0,"replicas":1,"min_replicas":1,"max_replicas":2,"metrics":{"interval_s":1,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})";
    const auto refused = [&](const std::string& name) {
        const request_error e = refusal(R"({"function":")" + name + "\"" + tail);
        CHECK(e.field() == "function");
        return e.detail();
    };
    CHECK(refused(R"(\u0085x)") == "contains a control character (U+0085 at byte 0)");  // NEL, C2 85
    CHECK(refused("ab\xc2\x80") == "contains a control character (U+0080 at byte 2)");
    CHECK(refused(R"(a\u009f)") == "contains a control character (U+009F at byte 1)");
    // C0 and DEL, as before, now with theirs.
    CHECK(refused(R"(a\tb)") == "contains a control character (U+0009 at byte 1)");
    CHECK(refused(R"(\u0000)") == "contains a control character (U+0000 at byte 0)");
    CHECK(refused("a\x7f") == "contains a control character (U+007F at byte 1)");
    // Around them: U+00A0 (C2 A0) and a character whose later bytes are
    // 80 to 9F (U+2005, E2 80 85; U+0100, C4 80) are names.
    for (const std::string name : {"\xc2\xa0x", "a\xe2\x80\x85", "\xc4\x80", "\xc2\xbf"}) {
        CAPTURE(name);
        CHECK(parse_decision_request(R"({"function":")" + name + "\"" + tail).function == name);
    }
    CHECK(rlscale::service::detail::function_name_problem("a\xc2\x85", 253) == "contains a control character (U+0085 at byte 1)");
}

}  // namespace test_service_parse
