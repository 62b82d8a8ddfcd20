#include "test_server.hpp"

#include <rlscale/core/control.hpp>
#include <rlscale/prometheus/metrics_source.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <string>
#include <vector>

namespace test_prometheus_metrics_source {

using namespace rlscale::prometheus;
using rlscale::prometheus::test::loopback_server;
using rlscale::prometheus::test::success;
using namespace std::chrono_literals;

namespace {

/// Templates that name each field, so the fake server can answer by name:
/// the query `f_<name>{namespace="…",…}` gets the body mapped to <name>.
query_templates named_templates() {
    query_templates q;
    const auto t = [](const char* name) { return std::string("f_") + name + R"({namespace="{namespace}",pod=~"{pod_regex}"}[{window}])"; };
    q.throughput_rps = t("throughput_rps");
    q.arrivals = t("arrivals");
    q.completions = t("completions");
    q.drops = t("drops");
    q.queue_length = t("queue_length");
    q.in_service = t("in_service");
    q.latency_mean_s = t("latency_mean_s");
    q.latency_p50 = t("p50");
    q.latency_p90 = t("p90");
    q.latency_p95 = t("p95");
    q.latency_p99 = t("p99");
    q.latency_p999 = t("p999");
    q.cpu_utilization = t("cpu_utilization");
    q.memory_utilization = t("memory_utilization");
    q.cpu_limit = t("cpu_limit");
    q.memory_limit_mb = t("memory_limit_mb");
    q.cpu_limit_min = t("cpu_limit_min");
    q.memory_limit_min_mb = t("memory_limit_min_mb");
    q.ready_replicas = t("ready_replicas");
    q.starting_replicas = t("starting_replicas");
    q.pending_replicas = t("pending_replicas");
    q.cold_starts = t("cold_starts");
    q.replica_seconds = t("replica_seconds");
    return q;
}

std::string vec(const std::string& v) {
    return success(R"({"resultType":"vector","result":[{"metric":{},"value":[1700000000,")" + v + R"("]}]})");
}

/// `body` with its samples stamped with `time` (a query's `time`
/// parameter), as Prometheus stamps an instant query's samples with the
/// instant it evaluated the query at; a body that is not a success
/// envelope with a result is left as it is.
std::string stamped(const std::string& body, const std::string& time) {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_object() || !j["data"].contains("result")) return body;
    const double t = std::stod(time);
    const auto stamp = [t](nlohmann::json& pair) {
        if (pair.is_array() && pair.size() == 2 && pair[0].is_number()) pair[0] = t;
    };
    nlohmann::json& result = j["data"]["result"];
    stamp(result);  // a scalar or a string
    if (result.is_array()) {
        for (auto& item : result) {
            if (!item.is_object()) continue;
            if (item.contains("value")) stamp(item["value"]);
            if (item.contains("histogram")) stamp(item["histogram"]);
        }
    }
    return j.dump();
}

/// A fake Prometheus answering `f_<name>…` queries from a table; the
/// default answer is the value 1. A query with a `time` gets its answer
/// stamped with that time, as from Prometheus, unless `at_time_asked` is
/// false (a cache answering every query with the same body).
class fake_prometheus {
public:
    explicit fake_prometheus(std::map<std::string, std::pair<int, std::string>> answers, bool at_time_asked = true)
        : answers_(std::move(answers)), at_time_asked_(at_time_asked), server_([this](httplib::Server& s) {
              s.Get("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string q = req.get_param_value("query");
                  std::lock_guard lock(mutex_);
                  queries_.push_back(q);
                  times_.push_back(req.has_param("time") ? req.get_param_value("time") : std::string("(none)"));
                  const auto name = q.substr(2, q.find('{') - 2);
                  const auto it = answers_.find(name);
                  std::string body = it == answers_.end() ? vec("1") : it->second.second;
                  if (it != answers_.end()) res.status = it->second.first;
                  if (at_time_asked_ && req.has_param("time")) body = stamped(body, req.get_param_value("time"));
                  res.set_content(body, "application/json");
              });
          }) {}
    [[nodiscard]] std::string url() const { return server_.url(); }
    [[nodiscard]] std::vector<std::string> queries() {
        std::lock_guard lock(mutex_);
        return queries_;
    }
    /// Each query's `time` parameter, "(none)" when it had none.
    [[nodiscard]] std::vector<std::string> times() {
        std::lock_guard lock(mutex_);
        return times_;
    }

private:
    std::map<std::string, std::pair<int, std::string>> answers_;
    bool at_time_asked_ = true;
    std::mutex mutex_;
    std::vector<std::string> queries_;
    std::vector<std::string> times_;
    loopback_server server_;
};

const function_target target{.function = "resize", .namespace_ = "fn", .deployment = "resize"};

}  // namespace

TEST_CASE("metrics source: every field filled from its query") {
    fake_prometheus prom({{"throughput_rps", {200, vec("12.5")}},
                          {"arrivals", {200, vec("750.4")}},
                          {"completions", {200, vec("749.6")}},
                          {"drops", {200, vec("0")}},
                          {"queue_length", {200, vec("3")}},
                          {"in_service", {200, vec("4")}},
                          {"latency_mean_s", {200, vec("0.12")}},
                          {"p50", {200, vec("0.0875")}},
                          {"p90", {200, vec("0.3")}},
                          {"p95", {200, vec("0.4")}},
                          {"p99", {200, vec("0.9")}},
                          {"p999", {200, vec("0.99")}},
                          {"cpu_utilization", {200, vec("0.5")}},
                          {"memory_utilization", {200, vec("0.25")}},
                          {"cpu_limit", {200, vec("0.5")}},
                          {"memory_limit_mb", {200, vec("256")}},
                          {"cpu_limit_min", {200, vec("0.25")}},
                          {"memory_limit_min_mb", {200, vec("128")}},
                          {"ready_replicas", {200, vec("2")}},
                          {"starting_replicas", {200, vec("1")}},
                          {"pending_replicas", {200, vec("0")}},
                          {"cold_starts", {200, vec("1")}},
                          {"replica_seconds", {200, success(R"({"resultType":"scalar","result":[1,"180"]})")}}});
    const metrics_source src(client({.url = prom.url()}), {.window = 60s, .queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(s.status.complete());
    CHECK(s.status.unqueried.empty());
    const auto& m = s.metrics;
    CHECK(m.interval_s == 60);
    CHECK(m.throughput_rps == 12.5);
    CHECK(m.arrivals == 750);
    CHECK(m.completions == 750);
    CHECK(m.drops == 0);
    CHECK(m.queue_length == 3);
    CHECK(m.in_service == 4);
    CHECK(m.latency_mean_s == 0.12);
    CHECK(m.latency.p50 == 0.0875);
    CHECK(m.latency.p90 == 0.3);
    CHECK(m.latency.p95 == 0.4);
    CHECK(m.latency.p99 == 0.9);
    CHECK(m.latency.p999 == 0.99);
    CHECK(m.cpu_utilization == 0.5);
    CHECK(m.memory_utilization == 0.25);
    CHECK(m.cpu_limit == 0.5);
    CHECK(m.memory_limit_mb == 256);
    CHECK(m.cpu_limit_min == 0.25);
    CHECK(m.memory_limit_min_mb == 128);
    CHECK(m.ready_replicas == 2);
    CHECK(m.starting_replicas == 1);
    CHECK(m.pending_replicas == 0);
    CHECK(m.cold_starts == 1);
    CHECK(m.replica_seconds == 180);
    CHECK(rlscale::check_metrics(m).ok);

    const auto qs = prom.queries();
    REQUIRE(qs.size() == 23);
    CHECK(qs[0] == R"(f_throughput_rps{namespace="fn",pod=~"resize-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"}[60s])");
}

TEST_CASE("metrics source: empty, NaN, ±Inf, negative and multi-series results are no data, never zero") {
    const std::string empty = success(R"({"resultType":"vector","result":[]})");
    const std::string two = success(R"({"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"b"},"value":[1,"2"]}]})");
    fake_prometheus prom({{"throughput_rps", {200, empty}},
                          {"cpu_utilization", {200, vec("NaN")}},
                          {"memory_utilization", {200, vec("+Inf")}},
                          {"cpu_limit", {200, vec("-Inf")}},
                          {"p90", {200, vec("NaN")}},
                          {"ready_replicas", {200, vec("-1")}},
                          {"completions", {200, two}},
                          {"replica_seconds", {200, success(R"({"resultType":"string","result":[1,"x"]})")}}});
    const metrics_source src(client({.url = prom.url()}), {.window = 30s, .queries = named_templates()});
    const auto s = src.fetch(target);
    const auto& m = s.metrics;
    CHECK_FALSE(s.status.complete());
    CHECK(std::isnan(m.throughput_rps));
    CHECK(std::isnan(m.cpu_utilization));
    CHECK(std::isnan(m.memory_utilization));
    CHECK(std::isnan(m.cpu_limit));
    CHECK(std::isnan(m.latency.p90));
    CHECK(std::isnan(m.replica_seconds));
    CHECK(m.latency.p50 == 1);  // the fake's default answer
    CHECK(m.ready_replicas == 0);
    for (const char* f : {"throughput_rps", "cpu_utilization", "memory_utilization", "cpu_limit", "latency.p90",
                          "ready_replicas", "completions", "replica_seconds"}) {
        CAPTURE(f);
        CHECK(s.status.is_missing(f));
    }
    CHECK(s.status.missing.size() == 8);
    CHECK(s.status.find("throughput_rps")->reason.find("empty result") != std::string::npos);
    CHECK(s.status.find("cpu_utilization")->reason.find("NaN") != std::string::npos);
    CHECK(s.status.find("memory_utilization")->reason == "+Inf");
    CHECK(s.status.find("cpu_limit")->reason == "-Inf");
    CHECK(s.status.find("ready_replicas")->reason.find("negative") != std::string::npos);
    CHECK(s.status.find("completions")->reason.find("2 series") != std::string::npos);
    CHECK(s.status.find("replica_seconds")->reason.find("string") != std::string::npos);
    CHECK(s.status.find("throughput_rps")->query.find("f_throughput_rps{namespace=\"fn\"") == 0);
    // The guarded policy's input check refuses the sample: it holds.
    const auto check = rlscale::check_metrics(m);
    CHECK_FALSE(check.ok);
    CHECK(check.field == "throughput_rps");
}

TEST_CASE("metrics source: a native histogram sample is no data, never zero, and beside a float one another series") {
    const std::string h = R"({"count":"3","sum":"1.5","buckets":[[0,"0.5","1","3"]]})";
    const std::string only = success(R"({"resultType":"vector","result":[{"metric":{},"histogram":[1700000000,)" + h + "]}]}");
    const std::string beside = success(R"({"resultType":"vector","result":[{"metric":{"s":"h"},"histogram":[1700000000,)" + h +
                                       R"(]},{"metric":{"s":"f"},"value":[1700000000,"2"]}]})");
    fake_prometheus prom({{"throughput_rps", {200, only}}, {"p90", {200, beside}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(std::isnan(s.metrics.throughput_rps));
    CHECK(std::isnan(s.metrics.latency.p90));
    CHECK(s.metrics.latency.p50 == 1);  // the fake's default answer: the other fields are read
    CHECK(s.status.missing.size() == 2);
    REQUIRE(s.status.is_missing("throughput_rps"));
    CHECK(s.status.find("throughput_rps")->reason.find("native histogram") != std::string::npos);
    REQUIRE(s.status.is_missing("latency.p90"));
    CHECK(s.status.find("latency.p90")->reason.find("2 series") != std::string::npos);
}

TEST_CASE("metrics source: an error envelope or HTTP error for one query leaves only that field missing") {
    fake_prometheus prom({{"cpu_utilization", {422, R"({"status":"error","errorType":"execution","error":"many-to-many matching not allowed"})"}},
                          {"memory_utilization", {500, "internal error"}},
                          {"p99", {200, "not json"}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(s.status.missing.size() == 3);
    CHECK(std::isnan(s.metrics.cpu_utilization));
    CHECK(std::isnan(s.metrics.memory_utilization));
    CHECK(std::isnan(s.metrics.latency.p99));
    CHECK(s.status.find("cpu_utilization")->reason.find("execution") != std::string::npos);
    CHECK(s.status.find("memory_utilization")->reason.find("500") != std::string::npos);
    CHECK(s.status.find("latency.p99")->reason.find("malformed") != std::string::npos);
    CHECK(s.metrics.throughput_rps == 1);
    CHECK(s.metrics.ready_replicas == 1);
}

TEST_CASE("metrics source: an answer marked isPartial (VictoriaMetrics, a storage node down) is no data") {
    fake_prometheus prom({{"cpu_utilization",
                           {200, R"({"status":"success","isPartial":true,"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.15"]}]}})"}},
                          {"throughput_rps",
                           {200, R"({"status":"success","isPartial":false,"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"12.5"]}]}})"}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(std::isnan(s.metrics.cpu_utilization));  // not the partial 0.15
    REQUIRE(s.status.find("cpu_utilization") != nullptr);
    CHECK(s.status.find("cpu_utilization")->reason.find("the answer is partial (isPartial") == 0);
    CHECK(s.metrics.throughput_rps == 12.5);  // isPartial false: a whole answer
    CHECK(s.status.find("throughput_rps") == nullptr);
}

TEST_CASE("metrics source: a value Prometheus warned about (a partial answer) is no data, the warning kept") {
    const std::string partial = "partial response: store 10.0.0.7:10901 unavailable; results may be incomplete";
    fake_prometheus prom({{"cpu_utilization",
                           {200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.15"]}]},"warnings":[")" +
                                     partial + R"(","second"]})"}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(s.status.missing.size() == 1);
    CHECK(std::isnan(s.metrics.cpu_utilization));  // not the partial 0.15
    REQUIRE(s.status.find("cpu_utilization") != nullptr);
    CHECK(s.status.find("cpu_utilization")->reason == "Prometheus warned: " + partial + " (and 1 more)");
    REQUIRE(s.status.warnings.size() == 2);
    CHECK(s.status.warnings[0] == partial);
    CHECK(s.metrics.throughput_rps == 1);  // the other fields, answered without a warning, are read
    CHECK_FALSE(rlscale::check_metrics(s.metrics).ok);

    // PromQL's informational notes (in `warnings` in Prometheus 2.47-2.53) say nothing about missing data.
    const std::string info = "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"reqs\"";
    fake_prometheus noted({{"throughput_rps",
                            {200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"12.5"]}]},"warnings":[")" +
                                      rlscale::escape_double_quoted(info) + R"("]})"}}});
    const metrics_source src2(client({.url = noted.url()}), {.queries = named_templates()});
    const auto n = src2.fetch(target);
    CHECK(n.status.complete());
    CHECK(n.metrics.throughput_rps == 12.5);
    REQUIRE(n.status.warnings.size() == 1);
    CHECK(n.status.warnings[0] == info);
}

TEST_CASE("metrics source: warnings or isPartial in a shape not documented make the field missing, never a whole answer") {
    const std::string data = R"("data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.15"]}]})";
    fake_prometheus prom({{"cpu_utilization", {200, R"({"status":"success",)" + data + R"(,"warnings":"partial response"})"}},
                          {"memory_utilization", {200, R"({"status":"success",)" + data + R"(,"warnings":[{"msg":"x"}]})"}},
                          {"cpu_limit", {200, R"({"status":"success",)" + data + R"(,"isPartial":"true"})"}},
                          {"memory_limit_mb", {200, R"({"status":"success",)" + data + R"(,"isPartial":1})"}},
                          {"throughput_rps", {200, R"({"status":"success",)" + data + R"(,"warnings":null,"isPartial":null})"}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(s.status.missing.size() == 4);
    CHECK(std::isnan(s.metrics.cpu_utilization));  // not the 0.15 of an answer that may be partial
    CHECK(std::isnan(s.metrics.memory_utilization));
    CHECK(std::isnan(s.metrics.cpu_limit));
    CHECK(std::isnan(s.metrics.memory_limit_mb));
    REQUIRE(s.status.is_missing("cpu_utilization"));
    CHECK(s.status.find("cpu_utilization")->reason ==
          "prometheus: malformed response at warnings: expected an array of strings, got \"partial response\"");
    REQUIRE(s.status.is_missing("memory_utilization"));
    CHECK(s.status.find("memory_utilization")->reason.find("malformed response at warnings[0]") != std::string::npos);
    REQUIRE(s.status.is_missing("cpu_limit"));
    CHECK(s.status.find("cpu_limit")->reason.find("malformed response at isPartial") != std::string::npos);
    REQUIRE(s.status.is_missing("memory_limit_mb"));
    CHECK(s.status.find("memory_limit_mb")->reason.find("malformed response at isPartial") != std::string::npos);
    CHECK(s.metrics.throughput_rps == 0.15);  // null is no warning and no partial mark
}

TEST_CASE("metrics source: an answer for another instant than the one asked (a cache in between) is no data") {
    using std::chrono::system_clock;
    const system_clock::time_point at{std::chrono::seconds(1700000000)};
    {  // With `at`: answers stamped 1600000000 are not this fetch's, whatever their value.
        fake_prometheus cache({{"throughput_rps", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1600000000,"12.5"]}]})")}},
                               {"replica_seconds", {200, success(R"({"resultType":"scalar","result":[1600000000,"180"]})")}}},
                              /*at_time_asked=*/false);
        const metrics_source src(client({.url = cache.url()}), {.queries = named_templates()});
        const auto s = src.fetch(target, at);
        CHECK(std::isnan(s.metrics.throughput_rps));  // not 12.5
        CHECK(std::isnan(s.metrics.replica_seconds));
        CHECK(s.status.missing.size() == 2);
        REQUIRE(s.status.is_missing("throughput_rps"));
        CHECK(s.status.find("throughput_rps")->reason ==
              "answer evaluated at 1600000000.000, asked for 1700000000.000: not the instant asked");
        REQUIRE(s.status.is_missing("replica_seconds"));
        CHECK(s.status.find("replica_seconds")->reason.starts_with("answer evaluated at 1600000000.000, "));
        CHECK(s.metrics.latency.p50 == 1);  // the answers stamped 1700000000 are read
    }
    {  // The time is sent to the millisecond: an answer within that rounding is read, one 2 ms off is not.
        fake_prometheus cache({{"throughput_rps", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1700000000.001,"12.5"]}]})")}},
                               {"cpu_limit", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1700000000.002,"0.5"]}]})")}}},
                              /*at_time_asked=*/false);
        const metrics_source src(client({.url = cache.url()}), {.queries = named_templates()});
        const auto s = src.fetch(target, at + std::chrono::microseconds(700));
        CHECK(s.metrics.throughput_rps == 12.5);
        CHECK(std::isnan(s.metrics.cpu_limit));
        CHECK(s.status.missing.size() == 1);
        REQUIRE(s.status.is_missing("cpu_limit"));
        CHECK(s.status.find("cpu_limit")->reason == "answer evaluated at 1700000000.002, asked for 1700000000.000: not the instant asked");
    }
    {  // Without `at`: the first answer's time is the fetch's, and the later answers must carry it.
        fake_prometheus cache({{"throughput_rps", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[86401,"12.5"]}]})")}}},
                              /*at_time_asked=*/false);
        const metrics_source src(client({.url = cache.url()}), {.queries = named_templates()});
        const auto s = src.fetch(target);
        CHECK(s.metrics.throughput_rps == 12.5);  // the first answer: nothing to compare it with
        CHECK(s.status.missing.size() == 22);
        REQUIRE(s.status.is_missing("arrivals"));
        CHECK(s.status.find("arrivals")->reason == "answer evaluated at 1700000000.000, asked for 86401.000: not the instant asked");
        CHECK(std::isnan(s.metrics.cpu_utilization));
        CHECK_FALSE(rlscale::check_metrics(s.metrics).ok);
    }
    {  // A server that answers a recent instant as of 30 s before it (older VictoriaMetrics): read within answer_time_tolerance.
        fake_prometheus shifted({{"throughput_rps", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1699999970,"12.5"]}]})")}}},
                                /*at_time_asked=*/false);  // the other answers: 1700000000
        for (const auto tolerance : {std::chrono::milliseconds(0), std::chrono::milliseconds(29998), std::chrono::milliseconds(30000)}) {  // 29998 ms and the 1.5 ms of rounding fall 0.5 ms short
            CAPTURE(tolerance.count());
            metrics_source_config cfg{.queries = named_templates()};
            cfg.answer_time_tolerance = tolerance;
            const metrics_source src(client({.url = shifted.url()}), cfg);
            const auto s = src.fetch(target, at);
            CHECK(s.status.is_missing("throughput_rps") == (tolerance.count() < 30000));
            CHECK(s.status.missing.size() == (tolerance.count() < 30000 ? 1u : 0u));
        }
        CHECK_THROWS_WITH_AS(metrics_source(client({.url = shifted.url()}), {.answer_time_tolerance = std::chrono::milliseconds(-1)}),
                             doctest::Contains("answer_time_tolerance"), rlscale::config_error);
    }
}

TEST_CASE("metrics source: Prometheus down leaves every field missing, after a single attempt") {
    int port = 0;
    {
        loopback_server s([](httplib::Server&) {});
        port = s.port();
    }
    const metrics_source src(client({.url = "http://127.0.0.1:" + std::to_string(port), .connect_timeout = 500ms}), {});
    const auto t0 = std::chrono::steady_clock::now();
    const auto s = src.fetch(target);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(s.status.missing.size() == 19);  // every default template; drops, queue_length, in_service, cold_starts have none
    CHECK(s.status.unqueried.size() == 4);
    CHECK(s.status.missing[0].reason.find("failed") != std::string::npos);
    CHECK(s.status.missing[1].reason.find("not sent") == 0);
    CHECK(std::isnan(s.metrics.cpu_utilization));
    CHECK(std::isnan(s.metrics.throughput_rps));
    CHECK(std::isnan(s.metrics.latency.p90));
    CHECK_FALSE(rlscale::check_metrics(s.metrics).ok);
}

TEST_CASE("metrics source: empty templates are not queried") {
    fake_prometheus prom({});
    query_templates q = named_templates();
    q.drops.clear();
    q.cold_starts.clear();
    const metrics_source src(client({.url = prom.url()}), {.queries = q});
    const auto s = src.fetch(target);
    CHECK(s.status.complete());
    REQUIRE(s.status.unqueried.size() == 2);
    CHECK(s.status.unqueried[0] == "drops");
    CHECK(s.status.unqueried[1] == "cold_starts");
    CHECK(prom.queries().size() == 21);
}

TEST_CASE("metrics source: default templates") {
    const metrics_source src(client({}), {.window = 30s});
    const function_target f{.function = "thumb", .namespace_ = "prod", .deployment = "thumb", .pod_regex = "thumb-.*"};
    // Running pods' usage and limits only; no data while a running container with a limit has no usage.
    CHECK(src.query_for("cpu_utilization", f) ==
          R"((sum((rate(container_cpu_usage_seconds_total{namespace="prod",pod=~"thumb-.*",container=~".+",container!="POD"}[30s]) and on(pod) (kube_pod_status_pha)"
          R"(se{namespace="prod",pod=~"thumb-.*",phase="Running"} == 1))) / sum((kube_pod_container_resource_limits{namespace="prod",pod=~"thumb-.*",container=~".+)"
          R"(",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-.*",phase="Running"} == 1)))) unless on() ((kube_pod_container_resou)"
          R"(rce_limits{namespace="prod",pod=~"thumb-.*",container=~".+",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-.*",phase=)"
          R"("Running"} == 1)) unless on(pod, container) rate(container_cpu_usage_seconds_total{namespace="prod",pod=~"thumb-.*",container=~".+",container!="POD"}[)"
          R"(30s])))");
    CHECK(src.query_for("memory_utilization", f) ==
          R"((sum((container_memory_working_set_bytes{namespace="prod",pod=~"thumb-.*",container=~".+",container!="POD"} and on(pod) (kube_pod_status_phase{namespa)"
          R"(ce="prod",pod=~"thumb-.*",phase="Running"} == 1))) / sum((kube_pod_container_resource_limits{namespace="prod",pod=~"thumb-.*",container=~".+",resource)"
          R"(="memory"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-.*",phase="Running"} == 1)))) unless on() ((kube_pod_container_resource_lim)"
          R"(its{namespace="prod",pod=~"thumb-.*",container=~".+",resource="memory"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-.*",phase="Run)"
          R"(ning"} == 1)) unless on(pod, container) container_memory_working_set_bytes{namespace="prod",pod=~"thumb-.*",container=~".+",container!="POD"}))");
    CHECK(src.query_for("cpu_limit", f) ==
          R"(max(sum by (pod) (kube_pod_container_resource_limits{namespace="prod",pod=~"thumb-.*",container=~".+",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-.*",phase="Running"} == 1))))");
    CHECK(src.query_for("throughput_rps", f) == R"(sum(rate(http_requests_total{namespace="prod",pod=~"thumb-.*"}[30s])))");
    CHECK(src.query_for("latency.p90", f) ==
          R"(histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="prod",pod=~"thumb-.*"}[30s]))))");
    CHECK(src.query_for("latency.p999", f).rfind("histogram_quantile(0.999, ", 0) == 0);
    CHECK(src.query_for("ready_replicas", f) == R"(sum(kube_deployment_status_replicas_ready{namespace="prod",deployment="thumb"}))");
    CHECK(src.query_for("replica_seconds", f) ==
          R"(sum(avg_over_time(kube_deployment_status_replicas{namespace="prod",deployment="thumb"}[30s])) * 30)");
    CHECK(src.query_for("drops", f).empty());
    CHECK_THROWS_AS((void)src.query_for("latency.p42", f), rlscale::config_error);
    CHECK_THROWS_AS((void)src.fetch(function_target{}), rlscale::config_error);
}

TEST_CASE("metrics source: a container in the target narrows the CPU and memory queries to it") {
    const metrics_source src(client({}), {.window = 30s});
    function_target f{.function = "thumb", .namespace_ = "prod", .deployment = "thumb", .container = "app.v2"};
    // Matched literally: the dot is escaped for the regex, the backslash for
    // the PromQL string.
    CHECK(src.query_for("cpu_limit", f) ==
          R"(max(sum by (pod) (kube_pod_container_resource_limits{namespace="prod",pod=~"thumb-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}",container=~"app\\.v2",resource="cpu"} and on(pod) (kube_pod_status_phase{namespace="prod",pod=~"thumb-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}",phase="Running"} == 1))))");
    CHECK(src.query_for("memory_limit_mb", f).find(R"(container=~"app\\.v2",resource="memory")") != std::string::npos);
    CHECK(src.query_for("cpu_utilization", f).find(R"(container=~"app\\.v2",container!="POD"}[30s]) and on(pod) )") != std::string::npos);
    CHECK(src.query_for("memory_utilization", f).find(R"(container_memory_working_set_bytes{namespace="prod",pod=~"thumb-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}",container=~"app\\.v2",container!="POD"})") != std::string::npos);
    // Fields that are not per container do not change.
    CHECK(src.query_for("throughput_rps", f) == R"(sum(rate(http_requests_total{namespace="prod",pod=~"thumb-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"}[30s])))");

    // {container} for custom templates: the name as a label value.
    metrics_source_config c{.window = 30s};
    metrics_source::set_query(c.queries, "cpu_limit", R"(max(my_limit{container="{container}"}))");
    const metrics_source custom(client({}), c);
    f.container = "a\"b";
    CHECK(custom.query_for("cpu_limit", f) == R"(max(my_limit{container="a\"b"}))");
    f.container.clear();
    CHECK(custom.query_for("cpu_limit", f) == R"(max(my_limit{container=""}))");
}

TEST_CASE("metrics source: placeholders, escaping and configuration errors") {
    CHECK(expand_template(R"(x{a="{namespace}"}[{window}])", {{"namespace", "n"}, {"window", "1m"}}, "f") == R"(x{a="n"}[1m])");
    // Label matchers and empty braces are not placeholders.
    CHECK(expand_template(R"(x{a="b"} + y{} + z{__name__=~"q"})", {}, "f") == R"(x{a="b"} + y{} + z{__name__=~"q"})");
    try {
        (void)expand_template("x{nmespace}", {{"namespace", "n"}}, "cpu_utilization");
        FAIL("no exception");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "queries.cpu_utilization");
        CHECK(std::string(e.what()).find("{nmespace}") != std::string::npos);
    }
    query_templates bad;
    bad.latency_p90 = "histogram_quantile(0.9, {histogram}_bucket)";
    try {
        metrics_source src(client({}), {.queries = bad});
        FAIL("no exception");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "queries.latency.p90");
    }
    CHECK_THROWS_AS(metrics_source(client({}), {.window = 0s}), rlscale::config_error);
    CHECK_THROWS_AS(metrics_source(client({}), {.request_counter = "bad name"}), rlscale::config_error);
    CHECK_THROWS_AS(metrics_source(client({}), {.duration_histogram = ""}), rlscale::config_error);

    const metrics_source src(client({}), {});
    const function_target evil{.namespace_ = R"(a"b\c)", .deployment = "d"};
    CHECK(src.query_for("ready_replicas", evil) == R"(sum(kube_deployment_status_replicas_ready{namespace="a\"b\\c",deployment="d"}))");
}

TEST_CASE("metrics source: a StatefulSet's replicas come from kube_statefulset_* and its pods are <name>-<ordinal>") {
    const metrics_source src(client({}), {.window = 60s});
    const function_target db{.function = "db", .namespace_ = "data", .deployment = "db", .kind = workload_kind::statefulset};
    CHECK(src.query_for("ready_replicas", db) == R"(sum(kube_statefulset_status_replicas_ready{namespace="data",statefulset="db"}))");
    CHECK(src.query_for("replica_seconds", db) ==
          R"(sum(avg_over_time(kube_statefulset_status_replicas{namespace="data",statefulset="db"}[60s])) * 60)");
    CHECK(src.query_for("throughput_rps", db) == R"(sum(rate(http_requests_total{namespace="data",pod=~"db-[0-9]+"}[60s])))");
}

TEST_CASE("metrics source: the default pod pattern is the workload's own pods, escaped (api matches no api-gateway pod)") {
    const metrics_source src(client({}), {.window = 60s});
    const function_target api{.function = "api", .namespace_ = "shop", .deployment = "api"};
    const std::string q = src.query_for("throughput_rps", api);
    CHECK(q == R"(sum(rate(http_requests_total{namespace="shop",pod=~"api-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}"}[60s])))");
    // The pattern, as Prometheus reads it (fully anchored), against pod names.
    const std::regex pods("api-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}");
    CHECK(std::regex_match("api-7d9f6c5b8-x2k4p", pods));
    CHECK(std::regex_match("api-b-x2k4p", pods));
    CHECK(std::regex_match("api-4567899bcd-x2k4p", pods));  // a 10-character hash
    CHECK_FALSE(std::regex_match("api-gateway-7d9f6c5b8-x2k4p", pods));
    // Other workloads' pods named after it: a StatefulSet api-cache's, a
    // Job api-migrate's, a CronJob api's (its Jobs are api-<minutes>), and a
    // pod suffix of other than 5 characters.
    CHECK_FALSE(std::regex_match("api-cache-0", pods));
    CHECK_FALSE(std::regex_match("api-migrate-x7k2p", pods));
    CHECK_FALSE(std::regex_match("api-28391234-x7k2p", pods));
    CHECK_FALSE(std::regex_match("api-29475862-x7k2p", pods));  // a minute with no 0, 1 or 3
    CHECK_FALSE(std::regex_match("api-x7k2p-x2k4p", pods));     // not a hash: Kubernetes' hash has none of x, k, 2
    CHECK_FALSE(std::regex_match("api-7d9f6c5b8-x2k4", pods));
    CHECK_FALSE(std::regex_match("api-7d9f6c5b8d4-x2k4p", pods));  // a hash of more than 10
    // A dot in a name is a literal dot, not "any character".
    const function_target dotted{.function = "v1.2", .namespace_ = "shop", .deployment = "v1.2"};
    CHECK(src.query_for("throughput_rps", dotted).find(R"(pod=~"v1\\.2-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}")") != std::string::npos);
}

TEST_CASE("metrics source: Prometheus' timeout envelope stops the fetch, the rest are not sent") {
    fake_prometheus prom({{"throughput_rps", {503, R"({"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"})"}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    const auto s = src.fetch(target);
    CHECK(prom.queries().size() == 1);
    CHECK(s.status.missing.size() == 23);
    CHECK(s.status.find("arrivals")->reason.find("not sent") == 0);
    CHECK(s.status.find("arrivals")->reason.find("timeout") != std::string::npos);
}

TEST_CASE("metrics source: one fetch is read at one instant, the first answer's evaluation time, or the one given") {
    // The first answer is an empty vector (no time): the next one pins it.
    fake_prometheus prom({{"throughput_rps", {200, success(R"({"resultType":"vector","result":[]})")}},
                          {"arrivals", {200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1700000123.123,"5"]}]})")}}});
    const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
    (void)src.fetch(target);
    const auto times = prom.times();
    REQUIRE(times.size() == 23);
    CHECK(times[0] == "(none)");
    CHECK(times[1] == "(none)");
    // (1700000123.123 is stored a hair below: the time sent is rounded, not cut.)
    for (std::size_t i = 2; i < times.size(); ++i) CHECK(times[i] == "1700000123.123");
    // A time given is used by every query.
    fake_prometheus given({});
    const metrics_source at_src(client({.url = given.url()}), {.queries = named_templates()});
    (void)at_src.fetch(target, std::chrono::system_clock::time_point(std::chrono::seconds(1700000500)));
    const auto given_times = given.times();
    REQUIRE(given_times.size() == 23);  // else the loop below checks nothing
    for (const std::string& t : given_times) CHECK(t == "1700000500.000");
}

TEST_CASE("metrics source: a proxy's 429, 502, 503 or 504 stops the fetch, the rest are not sent") {
    for (const int status : {429, 502, 503, 504}) {
        CAPTURE(status);
        fake_prometheus prom({{"throughput_rps", {status, "<html>back off</html>"}}});
        const metrics_source src(client({.url = prom.url()}), {.queries = named_templates()});
        const auto s = src.fetch(target);
        CHECK(prom.queries().size() == 1);
        CHECK(s.status.missing.size() == 23);
        CHECK(s.status.find("throughput_rps")->reason.find(std::to_string(status)) != std::string::npos);
        CHECK(s.status.find("arrivals")->reason.find("not sent") == 0);
        CHECK(s.status.find("arrivals")->reason.find(std::to_string(status)) != std::string::npos);
    }
}

TEST_CASE("metrics source: with unscraped_pods above 0, or without a value, the sums over the pods' series are not sent") {
    const std::vector<std::string_view> per_pod{"throughput_rps", "arrivals",    "completions", "drops",       "queue_length",
                                                "in_service",     "latency_mean_s", "latency.p50", "latency.p90", "latency.p95",
                                                "latency.p99",    "latency.p999"};
    query_templates q = named_templates();
    metrics_source::set_query(q, "unscraped_pods", R"(f_unscraped_pods{namespace="{namespace}",pod=~"{pod_regex}"})");
    const auto sent = [](fake_prometheus& prom, const std::string& name) {
        for (const std::string& s : prom.queries())
            if (s.starts_with("f_" + name + "{")) return true;
        return false;
    };
    {  // Every pod scraped: the whole fetch, the check first.
        fake_prometheus prom({{"unscraped_pods", {200, vec("0")}}, {"throughput_rps", {200, vec("12.5")}}});
        const metrics_source src(client({.url = prom.url()}), {.queries = q});
        const auto s = src.fetch(target);
        CHECK(s.status.complete());
        CHECK(s.metrics.throughput_rps == 12.5);
        REQUIRE(prom.queries().size() == 24);
        CHECK(prom.queries()[0].starts_with("f_unscraped_pods{"));
    }
    // Two pods not scraped, or the check without a value (no series, NaN,
    // an error): the per-pod fields are missing and not sent, the rest read.
    for (const auto& c :
         {std::pair{std::pair{200, vec("2")}, std::string("not sent: 2 of the function's pods are not scraped (unscraped_pods)")},
          std::pair{std::pair{200, success(R"({"resultType":"vector","result":[]})")}, std::string("not sent: unscraped_pods has no value (empty result")},
          std::pair{std::pair{200, vec("NaN")}, std::string("not sent: unscraped_pods has no value (NaN")},
          std::pair{std::pair{400, std::string(R"({"status":"error","errorType":"bad_data","error":"parse error"})")}, std::string("not sent: unscraped_pods has no value (")}}) {
        // (Named, not structured bindings: clang 14 does not let CAPTURE's lambda see those.)
        const std::pair<int, std::string>& answer = c.first;
        const std::string& reason = c.second;
        CAPTURE(answer.second);
        fake_prometheus prom({{"unscraped_pods", answer}, {"cpu_utilization", {200, vec("0.5")}}, {"ready_replicas", {200, vec("3")}}});
        const metrics_source src(client({.url = prom.url()}), {.queries = q});
        const auto s = src.fetch(target);
        for (const std::string_view field : per_pod) {
            CAPTURE(field);
            const missing_field* m = s.status.find(field);
            REQUIRE(m != nullptr);
            CHECK(m->reason.starts_with(reason));
            CHECK_FALSE(sent(prom, m->query.substr(2, m->query.find('{') - 2)));
        }
        CHECK(std::isnan(s.metrics.throughput_rps));
        CHECK(std::isnan(s.metrics.latency_mean_s));
        CHECK(s.metrics.arrivals == 0);
        CHECK(s.metrics.cpu_utilization == 0.5);  // cAdvisor's and kube-state-metrics' own scrapes
        CHECK(s.metrics.ready_replicas == 3);
        CHECK(s.status.is_missing("unscraped_pods") == (answer.second != vec("2")));
        CHECK(s.status.missing.size() == per_pod.size() + (answer.second != vec("2") ? 1 : 0));
        CHECK(prom.queries().size() == 24 - per_pod.size());
    }
    // Named in errors and queries like a field; an unknown name lists it.
    CHECK(metrics_source(client({}), {.queries = q}).query_for("unscraped_pods", target).starts_with(R"(f_unscraped_pods{namespace="fn",pod=~"resize-)"));
    query_templates bad = q;
    bad.unscraped_pods = "sum(1 - up{pod=~\"{pods}\"})";
    CHECK_THROWS_WITH_AS(metrics_source(client({}), {.queries = bad}), doctest::Contains("queries.unscraped_pods"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(metrics_source::set_query(q, "unscraped", "x"), doctest::Contains("nor unscraped_pods"), rlscale::config_error);
}

TEST_CASE("metrics source: one fetch is bounded by its deadline") {
    // Every answer takes 150 ms; a 400 ms deadline lets about three queries out of 23 run.
    loopback_server slow([](httplib::Server& s) {
        s.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(150ms);
            res.set_content(vec("1"), "application/json");
        });
    });
    const metrics_source src(client({.url = slow.url()}), {.fetch_deadline = 400ms, .queries = named_templates()});
    const auto t0 = std::chrono::steady_clock::now();
    const auto s = src.fetch(target);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took < 1s);
    REQUIRE_FALSE(s.status.missing.empty());
    CHECK(s.status.missing.back().reason.find("deadline") != std::string::npos);
    CHECK(s.status.missing.size() >= 19);  // at most 4 of the 23 answered
}

}  // namespace test_prometheus_metrics_source
