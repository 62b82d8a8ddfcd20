// The controller end to end: metrics from a real Prometheus (Debian's binary
// on loopback, scraping an exporter with known values), replicas through
// the Kubernetes adapter against a loopback API server that keeps a
// Deployment's Scale with its resourceVersion and answers documented Status
// objects. Checks a scale-up, Prometheus going away mid-run (hold, never
// scale to min, no change sent) and a rejected change (logged, one attempt).
#include <rlscale/controller/cluster_io.hpp>
#include <rlscale/controller/controller.hpp>

// After Eigen: <resolv.h>, which httplib pulls in, defines a macro `_res`
// that Eigen uses as a parameter name.
#include "../../prometheus/tests/real_prometheus.hpp"

#include <doctest/doctest.h>

#include "ddpg_checkpoint.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

using namespace rlscale;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// The API server's side of the Deployment fn/fn: GET and PUT of its Scale
/// (autoscaling/v1) with optimistic concurrency on resourceVersion.
class fake_cluster {
public:
    fake_cluster()
        : server_([this](httplib::Server& s) {
              const std::string path = "/apis/apps/v1/namespaces/fn/deployments/fn/scale";
              s.Get(path, [this](const httplib::Request&, httplib::Response& res) {
                  std::lock_guard lock(mu_);
                  ++gets_;
                  if (throttle_) {
                      res.status = 429;
                      res.set_header("Retry-After", "0");
                      res.set_content(status(429, "TooManyRequests", "too many requests").dump(), "application/json");
                      return;
                  }
                  res.set_content(scale().dump(), "application/json");
              });
              s.Put(path, [this](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard lock(mu_);
                  ++puts_;
                  if (reject_) {
                      res.status = 422;
                      res.set_content(status(422, "Invalid", "spec.replicas: Invalid value").dump(), "application/json");
                      return;
                  }
                  if (conflict_hook_) {
                      std::exchange(conflict_hook_, nullptr)();
                      res.status = 409;
                      res.set_content(status(409, "Conflict", "the object has been modified").dump(), "application/json");
                      return;
                  }
                  const json body = json::parse(req.body);
                  if (body["metadata"].value("resourceVersion", "") != std::to_string(version_)) {
                      res.status = 409;
                      res.set_content(status(409, "Conflict", "the object has been modified").dump(), "application/json");
                      return;
                  }
                  replicas_ = body["spec"].value("replicas", 0);
                  ++version_;
                  res.set_content(scale().dump(), "application/json");
                  // Answered late (after the change was applied) when asked.
                  if (const auto late = std::exchange(late_put_, std::chrono::milliseconds(0)); late.count() > 0) {
                      mu_.unlock();
                      std::this_thread::sleep_for(late);
                      mu_.lock();
                  }
              });
              // The Deployment itself: a strategic-merge patch of spec.replicas
              // and the pod template's container resources, all or nothing.
              s.Patch("/apis/apps/v1/namespaces/fn/deployments/fn", [this](const httplib::Request& req, httplib::Response& res) {
                  patch(req, res);
                  // Answered late (after the change was applied) when asked.
                  std::chrono::milliseconds late{0};
                  {
                      std::lock_guard lock(mu_);
                      late = std::exchange(late_patch_, std::chrono::milliseconds(0));
                  }
                  if (late.count() > 0) std::this_thread::sleep_for(late);
              });
          }) {}

    [[nodiscard]] std::string url() const { return server_.url(); }
    int replicas() {
        std::lock_guard lock(mu_);
        return replicas_;
    }
    int puts() {
        std::lock_guard lock(mu_);
        return puts_;
    }
    int patches() {
        std::lock_guard lock(mu_);
        return patches_;
    }
    std::string last_patch() {
        std::lock_guard lock(mu_);
        return last_patch_;
    }
    json resources(const std::string& container) {
        std::lock_guard lock(mu_);
        return resources_.count(container) != 0 ? resources_.at(container) : json();
    }
    int gets() {
        std::lock_guard lock(mu_);
        return gets_;
    }
    /// Every GET of the Scale answers 429 with Retry-After: 0.
    void throttle() {
        std::lock_guard lock(mu_);
        throttle_ = true;
    }
    void reject_changes() {
        std::lock_guard lock(mu_);
        reject_ = true;
    }
    /// The next PUT of the Scale calls `hook` (on the server's thread), then
    /// answers 409 Conflict.
    void conflict_next_put(std::function<void()> hook) {
        std::lock_guard lock(mu_);
        conflict_hook_ = std::move(hook);
    }
    /// The next PATCH of the Deployment calls `hook`, then answers 429 with
    /// Retry-After: 0.
    void throttle_next_patch(std::function<void()> hook) {
        std::lock_guard lock(mu_);
        throttle_hook_ = std::move(hook);
    }

    /// The next PUT of the Scale is handled as usual, then answered `d` later.
    void answer_next_put_late(std::chrono::milliseconds d) {
        std::lock_guard lock(mu_);
        late_put_ = d;
    }
    /// The next PATCH of the Deployment is handled as usual, then answered
    /// `d` later.
    void answer_next_patch_late(std::chrono::milliseconds d) {
        std::lock_guard lock(mu_);
        late_patch_ = d;
    }

private:
    void patch(const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mu_);
        ++patches_;
        last_patch_ = req.body;
        if (req.get_header_value("Content-Type") != "application/strategic-merge-patch+json") {
            res.status = 415;
            res.set_content(status(415, "UnsupportedMediaType", "the body of the request was in an unknown format").dump(),
                            "application/json");
            return;
        }
        if (reject_) {
            res.status = 422;
            res.set_content(status(422, "Invalid",
                                   "Deployment.apps \"fn\" is invalid: spec.template.spec.containers[0].resources.requests: "
                                   "Invalid value: \"1\": must be less than or equal to cpu limit")
                                .dump(),
                            "application/json");
            return;
        }
        if (throttle_hook_) {
            std::exchange(throttle_hook_, nullptr)();
            res.status = 429;
            res.set_header("Retry-After", "0");
            res.set_content(status(429, "TooManyRequests", "too many requests").dump(), "application/json");
            return;
        }
        const json patch = json::parse(req.body);
        // A resourceVersion in the patch is a precondition, as the API server takes it.
        if (patch.contains("metadata") && patch["metadata"].value("resourceVersion", "") != std::to_string(version_)) {
            res.status = 409;
            res.set_content(status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again").dump(),
                            "application/json");
            return;
        }
        if (patch["spec"].contains("replicas")) replicas_ = patch["spec"]["replicas"].get<int>();
        for (const json& c : patch["spec"]["template"]["spec"]["containers"]) resources_[c.at("name")] = c.at("resources");
        ++version_;
        res.set_content(json{{"kind", "Deployment"}, {"apiVersion", "apps/v1"},
                             {"metadata", {{"name", "fn"}, {"namespace", "fn"}, {"resourceVersion", std::to_string(version_)}}},
                             {"spec", {{"replicas", replicas_}}}}
                            .dump(),
                        "application/json");
    }
    json scale() const {
        return {{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata", {{"name", "fn"}, {"namespace", "fn"}, {"resourceVersion", std::to_string(version_)}}},
                {"spec", {{"replicas", replicas_}}},
                {"status", {{"replicas", replicas_}, {"selector", "app=fn"}}}};
    }
    static json status(int code, const char* reason, const char* message) {
        return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
                {"message", message}, {"reason", reason}, {"code", code}};
    }

    std::mutex mu_;
    int replicas_ = 3;
    int version_ = 100;
    int puts_ = 0;
    int gets_ = 0;
    bool throttle_ = false;
    std::chrono::milliseconds late_patch_{0};
    std::chrono::milliseconds late_put_{0};
    int patches_ = 0;
    std::string last_patch_;
    std::map<std::string, json> resources_;
    bool reject_ = false;
    std::function<void()> conflict_hook_;
    std::function<void()> throttle_hook_;
    prometheus::test::loopback_server server_;
};

/// One function, fn/fn, held at `replicas` by a static policy (so the
/// expected decisions do not depend on timing); its metrics still come from
/// Prometheus, and missing metrics still make the guard hold.
controller::config config_for(const std::string& prometheus_url, const std::string& api_url, int replicas) {
    return controller::parse_config(json{
        {"control_interval_s", 15},
        {"prometheus", {{"url", prometheus_url}, {"timeout_ms", 10000}, {"window_s", 15}}},
        {"kubernetes", {{"in_cluster", false}, {"server", api_url}, {"token", "t"}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 10},
           {"policy", "static"}, {"static_replicas", replicas}, {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}}}}}},
    });
}

}  // namespace

TEST_CASE("kubernetes_scaler: a name the API would refuse and a bad client setting stop it before the first tick, named") {
    controller::config cfg = config_for("http://127.0.0.1:9", "http://127.0.0.1:9", 2);
    CHECK_NOTHROW(controller::kubernetes_scaler{cfg});
    cfg.functions[0].namespace_name = "Shop_Prod";
    CHECK_THROWS_WITH_AS(controller::kubernetes_scaler{cfg}, doctest::Contains("functions[0].namespace: must be a DNS-1123 label"),
                         config_error);
    cfg.functions[0].namespace_name = "fn";
    cfg.functions[0].workload = "Web/../x";
    CHECK_THROWS_WITH_AS(controller::kubernetes_scaler{cfg}, doctest::Contains("functions[0].workload:"), config_error);
    cfg.functions[0].workload = "fn";
    cfg.kubernetes["server"] = "k8s:6443";
    CHECK_THROWS_WITH_AS(controller::kubernetes_scaler{cfg}, doctest::Contains("kubernetes.server: must start with https:// or http://"),
                         config_error);
    cfg.kubernetes["server"] = "https://k8s:6443/api";
    CHECK_THROWS_WITH_AS(controller::kubernetes_scaler{cfg}, doctest::Contains("kubernetes.server:"), config_error);
}

TEST_CASE("leader_election_settings: identity from the file, else the pod's name, else the host's, names checked as the API would") {
    controller::config cfg = config_for("http://127.0.0.1:9", "http://127.0.0.1:9", 2);
    cfg.leader_election = {{"namespace", "shop"}, {"lease_name", "rlscale-controller"}, {"renew_deadline_s", 4.5},
                           {"retry_period_s", 0.25}};
    kubernetes::leader_election_config s = controller::leader_election_settings(cfg, "pod-7", "host-1");
    CHECK(s.identity == "pod-7");
    CHECK(s.namespace_name == "shop");
    CHECK(s.lease_duration == 15s);
    CHECK(s.renew_deadline == 4500ms);
    CHECK(s.retry_period == 250ms);
    CHECK(controller::leader_election_settings(cfg, "", "host-1").identity == "host-1");
    cfg.leader_election["identity"] = "controller-a";
    CHECK(controller::leader_election_settings(cfg, "pod-7", "host-1").identity == "controller-a");
    cfg.leader_election.erase("identity");
    CHECK_THROWS_WITH_AS((void)controller::leader_election_settings(cfg, "", ""), doctest::Contains("leader_election.identity"), config_error);
    cfg.leader_election["namespace"] = "Shop_Prod";
    CHECK_THROWS_WITH_AS((void)controller::leader_election_settings(cfg, "pod-7", ""), doctest::Contains("leader_election.namespace"),
                         config_error);
    cfg.leader_election["namespace"] = "shop";
    cfg.leader_election["lease_name"] = "Bad_Name";
    CHECK_THROWS_WITH_AS((void)controller::leader_election_settings(cfg, "pod-7", ""), doctest::Contains("leader_election.lease_name"),
                         config_error);
}

TEST_CASE("controller end to end: real Prometheus, loopback API server, outage and rejected change") {
    fake_cluster cluster;
    auto exp = std::make_unique<prometheus::test::exporter>();
    auto prom = std::make_unique<prometheus::test::prometheus_process>(exp->port());
    // Rates over the 15 s window are exact only once Prometheus holds more than
    // 15 s of samples.
    prom->wait_for_scrapes(20s, 17);

    const controller::config cfg = config_for(prom->url(), cluster.url(), 6);
    controller::prometheus_metrics source(cfg);
    controller::kubernetes_scaler scaler(cfg);
    controller::control_loop loop(cfg, source, scaler);

    // The metrics arrive from Prometheus (the exporter's pod, fn and its
    // sidecar, uses 0.34 of its 0.6-core limits; 1 of 3 replicas ready) and
    // the change reaches the API server: 3 -> 6.
    auto records = loop.tick(1000);
    REQUIRE(records.size() == 1);
    MESSAGE(records[0].to_json().dump());
    CHECK(records[0].error.empty());
    CHECK(records[0].inputs.cpu_utilization == doctest::Approx(0.34 / 0.6).epsilon(0.02));
    CHECK(records[0].inputs.cpu_limit == doctest::Approx(0.6));
    // No resize_container: the smallest limits, for the resize settle alone, are not asked.
    CHECK(std::isnan(records[0].inputs.cpu_limit_min));
    CHECK(std::isnan(records[0].inputs.memory_limit_min_mb));
    for (const auto& m : records[0].missing) CHECK(m.field.find("_min") == std::string::npos);
    CHECK(records[0].inputs.ready_replicas == 1);
    CHECK(records[0].result.source == decision_source::policy);
    CHECK(records[0].replicas_before == 3);
    CHECK(records[0].replicas_after == 6);
    CHECK(records[0].applied);
    CHECK(cluster.replicas() == 6);
    const int scaled = 6;
    const int puts_after_scale = cluster.puts();

    // Prometheus goes away: every metric is missing, the guard holds.
    prom.reset();
    for (int t = 1; t <= 3; ++t) {
        records = loop.tick(1000 + 15.0 * t);
        MESSAGE(records[0].to_json().dump());
        CHECK(records[0].result.source == decision_source::hold);
        CHECK(records[0].replicas_after == scaled);
        CHECK_FALSE(records[0].applied);
        CHECK_FALSE(records[0].missing.empty());
    }
    CHECK(cluster.replicas() == scaled);
    CHECK(cluster.puts() == puts_after_scale);  // nothing was sent

    // Prometheus comes back and the API server now rejects changes: the
    // rejection is logged, counted, and tried once per tick (a 422 is not retried).
    prom = std::make_unique<prometheus::test::prometheus_process>(exp->port());
    prom->wait_for_scrapes(20s, 17);
    cluster.reject_changes();
    controller::config again = config_for(prom->url(), cluster.url(), 8);
    controller::prometheus_metrics source2(again);
    controller::control_loop loop2(again, source2, scaler);
    records = loop2.tick(2000);
    MESSAGE(records[0].to_json().dump());
    CHECK(records[0].replicas_before == 6);
    CHECK(records[0].replicas_after == 8);
    CHECK_FALSE(records[0].applied);
    CHECK(records[0].error.find("422") != std::string::npos);
    CHECK(cluster.puts() == puts_after_scale + 1);
    CHECK(loop2.stats().actuation_errors == 1);
    CHECK(cluster.replicas() == scaled);
}

TEST_CASE("controller end to end: an arrivals query that matches nothing holds, it is never read as zero load (ensure, min 1)") {
    fake_cluster cluster;
    prometheus::test::exporter exp;
    prometheus::test::prometheus_process prom(exp.port());
    prom.wait_for_scrapes(20s, 17);
    // ENSURE sizes the function from its arrivals; the override names a
    // metric nobody exports, so the arrivals query returns no series.
    const controller::config cfg = controller::parse_config(json{
        {"control_interval_s", 15},
        {"prometheus", {{"url", prom.url()}, {"timeout_ms", 10000}, {"window_s", 15}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 10},
           {"policy", "ensure"}, {"service_time_s", 0.05}, {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}}},
           {"promql", {{"arrivals", "sum(increase(no_such_requests_total{namespace=\"{namespace}\"}[{window}]))"}}}}}},
    });
    controller::prometheus_metrics source(cfg);
    controller::kubernetes_scaler scaler(cfg);
    controller::control_loop loop(cfg, source, scaler);
    for (int t = 0; t < 3; ++t) {
        const auto records = loop.tick(3000 + 15.0 * t);
        REQUIRE(records.size() == 1);
        MESSAGE(records[0].to_json().dump());
        CHECK(records[0].replicas_before == 3);
        CHECK(records[0].replicas_after == 3);
        CHECK_FALSE(records[0].applied);
        // Held for the arrivals that read nothing: named in the error and
        // in the line's missing fields.
        CHECK(records[0].error.find("arrivals") != std::string::npos);
        bool arrivals_missing = false;
        for (const auto& m : records[0].missing) arrivals_missing = arrivals_missing || m.field == "arrivals";
        CHECK(arrivals_missing);
    }
    CHECK(cluster.replicas() == 3);  // not stepped down towards min
    CHECK(cluster.puts() == 0);
    CHECK(loop.stats().read_errors == 3);
}

TEST_CASE("controller end to end: a multidimensional policy's count and limits reach the API server in one patch") {
    fake_cluster cluster;
    prometheus::test::exporter exp;
    prometheus::test::prometheus_process prom(exp.port());
    prom.wait_for_scrapes(20s, 17);
    // μ asks for 11 replicas, 1.82 cores and 1386 MiB; the guard steps from
    // what Prometheus reports (3 replicas, 0.5 cores, 256 MiB): 7, 1.0, 512.
    // Of fn's 3 replicas 1 is ready, so this checkpoint's spec resizes at one
    // ready replica (vertical_min_replicas 1: a platform resizing pods in
    // place); the default's withholding is at the end.
    const std::string checkpoint = std::string(RLSCALE_PROMETHEUS_TMPDIR) + "/e2e_ddpg.json";
    controller::test::write_ddpg_checkpoint(checkpoint, "fn", {0.0F, 1.0F, -0.2F}, 1);
    // Its encoder (firm) reads arrivals, which a learned function must
    // query: the exporter has no received-requests counter, so the query is
    // the default's, over its request counter (this network's decision does
    // not depend on it).
    const json arrivals = R"(sum(increase(http_requests_total{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))";
    const auto make_config = [&](bool reject, const char* container = "fn") {
        if (reject) cluster.reject_changes();
        return controller::parse_config(json{
            {"control_interval_s", 15},
            {"prometheus", {{"url", prom.url()}, {"timeout_ms", 10000}, {"window_s", 15}}},
            {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
            {"functions",
             {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20},
               {"policy", "learned"}, {"checkpoint", checkpoint}, {"resize_container", container}, {"promql", {{"arrivals", arrivals}}},
               {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}, {"target_rps", 100}}}}}},
        });
    };
    const controller::config cfg = make_config(false);
    controller::prometheus_metrics source(cfg);
    controller::kubernetes_scaler scaler(cfg);
    controller::control_loop loop(cfg, source, scaler);
    auto records = loop.tick(1000);
    REQUIRE(records.size() == 1);
    MESSAGE(records[0].to_json().dump());
    CHECK(records[0].error.empty());
    // fn's own limits and use: the sidecar's 0.1 cores and 64 MiB are not
    // added in.
    CHECK(records[0].inputs.cpu_limit == doctest::Approx(0.5));
    CHECK(records[0].inputs.memory_limit_mb == doctest::Approx(256));
    CHECK(records[0].inputs.cpu_limit_min == doctest::Approx(0.5));  // fn's one running pod with limits
    CHECK(records[0].inputs.memory_limit_min_mb == doctest::Approx(256));
    CHECK(records[0].inputs.cpu_utilization == doctest::Approx(0.5).epsilon(0.02));
    CHECK(records[0].inputs.memory_utilization == doctest::Approx(0.5));
    CHECK(records[0].result.source == decision_source::policy);
    CHECK(records[0].replicas_after == 7);
    CHECK(records[0].applied);
    CHECK(records[0].limits_applied);
    CHECK(cluster.patches() == 1);
    CHECK(cluster.puts() == 0);  // not through the scale subresource: one request for everything
    // Conditional on the count read: the Scale's resourceVersion is a precondition of the patch.
    CHECK(json::parse(cluster.last_patch()) == json::parse(R"({"metadata":{"resourceVersion":"100"},"spec":{"replicas":7,"template":{"spec":{"containers":[
        {"name":"fn","resources":{"requests":{"cpu":"1","memory":"512Mi"},"limits":{"cpu":"1","memory":"512Mi"}}}]}}}})"));
    CHECK(cluster.replicas() == 7);

    // The current limits are read for the resized container only: a
    // container the pods do not have gives no limit, and the function holds.
    const controller::config other = make_config(false, "sidecar");
    controller::prometheus_metrics other_source(other);
    controller::control_loop other_loop(other, other_source, scaler);
    records = other_loop.tick(1010);
    MESSAGE(records[0].to_json().dump());
    CHECK(records[0].result.source == decision_source::hold);
    bool cpu_limit_missing = false;
    for (const auto& m : records[0].missing) cpu_limit_missing = cpu_limit_missing || m.field == "cpu_limit";
    CHECK(cpu_limit_missing);
    CHECK(cluster.patches() == 1);

    // An override of the largest CPU limit alone: the smallest is not asked
    // at its default, which could read other series or none (and would then
    // hold every resize for resize_settle_s); the memory limits are read as before.
    json overridden = json{
        {"control_interval_s", 15},
        {"prometheus", {{"url", prom.url()}, {"timeout_ms", 10000}, {"window_s", 15}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20},
           {"policy", "learned"}, {"checkpoint", checkpoint}, {"resize_container", "fn"},
           {"promql", {{"cpu_limit", R"(max(kube_pod_container_resource_limits{namespace="{namespace}",container="fn",resource="cpu"}))"},
                       {"arrivals", arrivals}}},
           {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}, {"target_rps", 100}}}}}},
    };
    const controller::config overridden_cfg = controller::parse_config(overridden);
    controller::prometheus_metrics overridden_source(overridden_cfg);
    const controller::metrics_reading reading = overridden_source.read(overridden_cfg.functions[0], 1012);
    CHECK(reading.metrics.cpu_limit == doctest::Approx(0.5));
    CHECK(std::isnan(reading.metrics.cpu_limit_min));
    CHECK(reading.metrics.memory_limit_min_mb == doctest::Approx(256));
    CHECK(reading.missing.empty());

    // The API server refuses the patch: neither the count nor the limits
    // change; the count alone is then tried (and refused too here).
    const controller::config refused = make_config(true);
    controller::control_loop loop2(refused, source, scaler);
    records = loop2.tick(1015);
    MESSAGE(records[0].to_json().dump());
    CHECK_FALSE(records[0].applied);
    CHECK_FALSE(records[0].limits_applied);
    CHECK(records[0].error.find("422") != std::string::npos);
    CHECK(records[0].error.find("changing replicas alone failed too") != std::string::npos);
    CHECK(cluster.patches() == 2);  // a 422 is not retried
    CHECK(cluster.puts() == 1);     // the count alone, through the scale subresource
    CHECK(cluster.replicas() == 7);
    CHECK(cluster.resources("fn")["limits"]["memory"] == "512Mi");

    // With the spec's default vertical_min_replicas (2), 1 ready replica of
    // 3 withholds the resize (it would restart the only one serving): the
    // count alone goes through the scale subresource, no limit is sent.
    fake_cluster cold;
    const std::string by_default = std::string(RLSCALE_PROMETHEUS_TMPDIR) + "/e2e_ddpg_default.json";
    controller::test::write_ddpg_checkpoint(by_default, "fn", {0.0F, 1.0F, -0.2F});
    const controller::config cold_cfg = controller::parse_config(json{
        {"control_interval_s", 15},
        {"prometheus", {{"url", prom.url()}, {"timeout_ms", 10000}, {"window_s", 15}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cold.url()}, {"token", "t"}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20},
           {"policy", "learned"}, {"checkpoint", by_default}, {"resize_container", "fn"}, {"promql", {{"arrivals", arrivals}}},
           {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}, {"target_rps", 100}}}}}},
    });
    controller::prometheus_metrics cold_source(cold_cfg);
    controller::kubernetes_scaler cold_scaler(cold_cfg);
    controller::control_loop cold_loop(cold_cfg, cold_source, cold_scaler);
    records = cold_loop.tick(1020);
    MESSAGE(records[0].to_json().dump());
    CHECK(records[0].inputs.ready_replicas == 1);
    CHECK(records[0].error.empty());
    CHECK(records[0].replicas_after == 7);
    CHECK(records[0].applied);
    CHECK_FALSE(records[0].limits_sent);
    CHECK(records[0].result.reason == std::string_view("guard: rate-limited, vertical change withheld below vertical_min_replicas"));
    CHECK(cold.patches() == 0);
    CHECK(cold.puts() == 1);
    CHECK(cold.replicas() == 7);
}

TEST_CASE("controller's Kubernetes actuator: counts up to the largest function's max_replicas, the documented attempts, limits checked before sending") {
    fake_cluster cluster;
    const controller::config cfg = controller::parse_config(json{
        {"prometheus", {{"url", "http://127.0.0.1:1"}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 2000}, {"policy", "static"},
           {"static_replicas", 1}, {"resize_container", "fn"}, {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}}}}}},
    });
    controller::kubernetes_scaler scaler(cfg);
    // Above the Kubernetes client's own default cap of 1000.
    scaler.set_replicas(cfg.functions[0], 1500);
    CHECK(cluster.replicas() == 1500);

    // A limit beyond what a quantity holds is refused by name; nothing is sent
    // (2^44 MiB overflowed int64 bytes into a 1Mi limit).
    const controller::replica_limits huge{.cpu_cores = 1.0, .memory_mb = 17592186044417.0};
    CHECK_THROWS_WITH_AS(scaler.set_limits(cfg.functions[0], std::nullopt, huge), doctest::Contains("memory_limit_mb"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = -1.0, .memory_mb = 512.0}),
                         doctest::Contains("cpu_limit"), rlscale::config_error);
    CHECK(cluster.patches() == 0);

    // Limits alone, decided for the count read (1000): another writer left
    // 1500, so nothing is sent; with the count read, they are patched.
    CHECK_THROWS_AS(scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = 1.0, .memory_mb = 512.0}, 1000),
                    controller::count_changed);
    CHECK(cluster.patches() == 0);
    CHECK_FALSE(scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = 1.0, .memory_mb = 512.0}, 1500));
    CHECK(cluster.patches() == 1);
    CHECK(cluster.replicas() == 1500);

    // max_attempts absent: the documented 3 attempts.
    cluster.throttle();
    const int before = cluster.gets();
    CHECK_THROWS(scaler.set_replicas(cfg.functions[0], 4));
    CHECK(cluster.gets() - before == 3);

    // Gated (a replica whose Lease lapsed): no write is sent, each names why.
    bool leading = false;
    scaler.gate_writes([&leading] { return leading; });
    const int gets = cluster.gets();
    CHECK_THROWS_WITH_AS(scaler.set_replicas(cfg.functions[0], 7), doctest::Contains("no longer holds the leader election's Lease"),
                         rlscale::error);
    CHECK_THROWS_AS(scaler.set_replicas(cfg.functions[0], 7, 1500), rlscale::error);
    CHECK_THROWS_AS(scaler.set_limits(cfg.functions[0], 7, {.cpu_cores = 1.0, .memory_mb = 512.0}), rlscale::error);
    CHECK(cluster.gets() == gets);
    CHECK(cluster.patches() == 1);  // the limits patched above, none since
    CHECK(cluster.replicas() == 1500);
    leading = true;  // (still throttled) the gate lets the write through: it is tried again
    CHECK_THROWS(scaler.set_replicas(cfg.functions[0], 7));
    CHECK(cluster.gets() - gets == 3);
}

TEST_CASE("controller's Kubernetes actuator: a change answered after kubernetes.timeout_ms is outcome_unknown, though applied") {
    fake_cluster cluster;
    const controller::config cfg = controller::parse_config(json{
        {"prometheus", {{"url", "http://127.0.0.1:1"}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}, {"timeout_ms", 200}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20}, {"policy", "static"},
           {"static_replicas", 1}, {"resize_container", "fn"}, {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}}}}}},
    });
    controller::kubernetes_scaler scaler(cfg);
    using std::chrono::milliseconds;
    // The API server applies the count and the limits, then answers after
    // the read timeout: the caller cannot know, and is told so.
    cluster.answer_next_patch_late(milliseconds(1500));
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(scaler.set_limits(cfg.functions[0], 7, {.cpu_cores = 1.0, .memory_mb = 512.0}, 3),
                         doctest::Contains("PATCH"), controller::outcome_unknown);
    CHECK(std::chrono::steady_clock::now() - start < milliseconds(1400));  // cut at the timeout, not waited out
    CHECK(cluster.patches() == 1);  // a timed-out change is not sent again
    CHECK(cluster.replicas() == 7);
    CHECK(cluster.resources("fn")["limits"]["memory"] == "512Mi");
    // The limits alone, the same.
    cluster.answer_next_patch_late(milliseconds(1500));
    CHECK_THROWS_AS(scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = 2.0, .memory_mb = 256.0}), controller::outcome_unknown);
    CHECK(cluster.patches() == 2);
    CHECK(cluster.resources("fn")["limits"]["memory"] == "256Mi");
    // An answer within the timeout is no error.
    cluster.answer_next_patch_late(milliseconds(20));
    scaler.set_limits(cfg.functions[0], 5, {.cpu_cores = 1.0, .memory_mb = 512.0}, 7);
    CHECK(cluster.replicas() == 5);
    // The count alone (a PUT of the Scale), in both forms, the same.
    const int puts = cluster.puts();
    cluster.answer_next_put_late(milliseconds(1500));
    CHECK_THROWS_WITH_AS(scaler.set_replicas(cfg.functions[0], 6, 5), doctest::Contains("PUT"), controller::outcome_unknown);
    CHECK(cluster.puts() == puts + 1);  // not sent again
    CHECK(cluster.replicas() == 6);
    cluster.answer_next_put_late(milliseconds(1500));
    CHECK_THROWS_AS(scaler.set_replicas(cfg.functions[0], 4), controller::outcome_unknown);
    CHECK(cluster.puts() == puts + 2);
    CHECK(cluster.replicas() == 4);
}

TEST_CASE("controller's Kubernetes actuator: a retry after a 409 or a 429 is not sent once the Lease lapsed in the wait") {
    fake_cluster cluster;
    const controller::config cfg = controller::parse_config(json{
        {"prometheus", {{"url", "http://127.0.0.1:1"}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}, {"max_attempts", 5}}},
        {"functions",
         {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20}, {"policy", "static"},
           {"static_replicas", 1}, {"resize_container", "fn"}, {"slo", {{"latency_s", 1.0}, {"percentile", 0.9}}}}}},
    });
    controller::kubernetes_scaler scaler(cfg);
    std::atomic<bool> leading{true};
    scaler.gate_writes([&leading] { return leading.load(); });

    // The PUT is answered 409 and the Lease lapses meanwhile: the client
    // reads the Scale again (reads are not gated) and does not send the PUT.
    cluster.conflict_next_put([&leading] { leading = false; });
    CHECK_THROWS_WITH_AS(scaler.set_replicas(cfg.functions[0], 7, 3),
                         doctest::Contains("PUT /apis/apps/v1/namespaces/fn/deployments/fn/scale not sent: this replica no longer holds"),
                         kubernetes::write_refused);
    CHECK(cluster.puts() == 1);
    CHECK(cluster.gets() == 2);
    CHECK(cluster.replicas() == 3);

    // The limits alone (a PATCH without a condition on the count) answered
    // 429: not sent again after the lapse.
    leading = true;
    cluster.throttle_next_patch([&leading] { leading = false; });
    CHECK_THROWS_WITH_AS(scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = 1.0, .memory_mb = 512.0}),
                         doctest::Contains("PATCH /apis/apps/v1/namespaces/fn/deployments/fn not sent"), kubernetes::write_refused);
    CHECK(cluster.patches() == 1);
    CHECK(cluster.resources("fn").is_null());

    // Still leading: the same retries go through.
    leading = true;
    cluster.conflict_next_put([] {});
    scaler.set_replicas(cfg.functions[0], 7, 3);
    CHECK(cluster.puts() == 3);
    CHECK(cluster.replicas() == 7);
    cluster.throttle_next_patch([] {});
    scaler.set_limits(cfg.functions[0], std::nullopt, {.cpu_cores = 1.0, .memory_mb = 512.0});
    CHECK(cluster.patches() == 3);
    CHECK(cluster.resources("fn")["limits"]["memory"] == "512Mi");
}
