// Tests against a real Prometheus server: the test serves an exporter with
// known counters, gauges and histograms on a loopback port, starts
// Prometheus (RLSCALE_PROMETHEUS_BINARY, Debian's /usr/bin/prometheus) on
// another loopback port with a 1 s scrape interval, waits until enough has
// been scraped, then reads the values back through the adapter.

#include "real_prometheus.hpp"

#include <rlscale/core/control.hpp>
#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/metrics_source.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace test_prometheus_real_prometheus {

using namespace rlscale::prometheus;
using namespace rlscale::prometheus::test;
using namespace std::chrono_literals;

TEST_CASE("real prometheus: instant and range queries return the exporter's values") {
    scraped_setup s;
    const client c({.url = s.prom.url()});

    // Instant vector with the scrape's labels.
    auto r = c.query(R"(kube_deployment_status_replicas_ready{namespace="fn"})");
    REQUIRE(r.type == result_type::vector);
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == 1);
    CHECK(r.vector[0].metric.at("__name__") == "kube_deployment_status_replicas_ready");
    CHECK(r.vector[0].metric.at("deployment") == "fn");
    CHECK(r.vector[0].metric.at("job") == "rlscale-exporter");

    r = c.query(R"(container_memory_working_set_bytes{namespace="fn",container="fn"})");
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == 134217728);

    // A counter's rate: 5 requests per second.
    r = c.query(R"(sum(rate(http_requests_total{namespace="fn"}[5s])))");
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == doctest::Approx(5).epsilon(0.03));

    // histogram_quantile over the known buckets: p50 0.0875, p90 0.458333…, p99 0.9375.
    const auto q = [&](const char* quantile) {
        const auto res = c.query(std::string("histogram_quantile(") + quantile +
                                 R"(, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="fn"}[5s]))))");
        REQUIRE(res.vector.size() == 1);
        return res.vector[0].point.value;
    };
    CHECK(q("0.5") == doctest::Approx(0.0875).epsilon(1e-6));
    CHECK(q("0.9") == doctest::Approx(0.25 + 0.25 * 0.5 / 0.6).epsilon(1e-6));
    CHECK(q("0.99") == doctest::Approx(0.9375).epsilon(1e-6));

    // Time passed explicitly.
    r = c.query(R"(kube_deployment_status_replicas{namespace="fn"})", std::chrono::system_clock::now() - 1s);
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == 3);

    // Range query: a matrix of the gauge, and of a rate.
    const auto end = std::chrono::system_clock::now();
    auto m = c.query_range(R"(kube_deployment_status_replicas{namespace="fn"})", end - 4s, end, 1000ms);
    REQUIRE(m.type == result_type::matrix);
    REQUIRE(m.matrix.size() == 1);
    CHECK(m.matrix[0].points.size() == 5);
    for (const auto& p : m.matrix[0].points) CHECK(p.value == 3);
    CHECK(m.matrix[0].points.back().time - m.matrix[0].points.front().time == doctest::Approx(4));
    m = c.query_range(R"(sum(rate(http_requests_total{namespace="fn"}[5s])))", end - 2s, end, 1000ms);
    REQUIRE(m.matrix.size() == 1);
    REQUIRE(m.matrix[0].points.size() == 3);
    for (const auto& p : m.matrix[0].points) CHECK(p.value == doctest::Approx(5).epsilon(0.03));

    // Scalar, string and the special values.
    r = c.query(R"(scalar(kube_deployment_status_replicas{namespace="fn"}))");
    REQUIRE(r.type == result_type::scalar);
    CHECK(r.scalar.value == 3);
    r = c.query(R"("hello")");
    REQUIRE(r.type == result_type::string);
    CHECK(r.string_value == "hello");
    CHECK(std::isnan(c.query("0/0").scalar.value));
    CHECK(c.query("1/0").scalar.value == INFINITY);
    CHECK(c.query("-1/0").scalar.value == -INFINITY);
    r = c.query(R"(sum(kube_deployment_status_replicas{namespace="fn"}) * 0 / 0)");
    REQUIRE(r.vector.size() == 1);
    CHECK(std::isnan(r.vector[0].point.value));

    // Empty result.
    r = c.query(R"(kube_deployment_status_replicas{namespace="no-such-namespace"})");
    CHECK(r.type == result_type::vector);
    CHECK(r.vector.empty());

    // Prometheus' error envelope for bad PromQL; POST works too.
    try {
        (void)c.query("sum(");
        FAIL("no exception");
    } catch (const api_error& e) {
        CHECK(e.http_status() == 400);
        CHECK(e.error_type() == "bad_data");
        CHECK_FALSE(e.message().empty());
    }
    const client post({.url = s.prom.url(), .use_post = true});
    r = post.query(R"(kube_deployment_status_replicas{namespace="fn"})");
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == 3);
}

TEST_CASE("real prometheus: the metrics source fills function_metrics from the default templates") {
    scraped_setup s;
    const metrics_source src(client({.url = s.prom.url()}), {.window = 5s});

    const auto busy = src.fetch({.function = "fn", .namespace_ = "fn", .deployment = "fn"});
    for (const auto& miss : busy.status.missing) MESSAGE("missing " << miss.field << ": " << miss.reason);
    CHECK(busy.status.complete());
    const auto& m = busy.metrics;
    CHECK(m.interval_s == 5);
    CHECK(m.throughput_rps == doctest::Approx(5).epsilon(0.03));
    CHECK(static_cast<double>(m.completions) == doctest::Approx(25).epsilon(0.05));
    CHECK(static_cast<double>(m.arrivals) == doctest::Approx(25).epsilon(0.05));
    CHECK(m.latency_mean_s == doctest::Approx(0.12).epsilon(1e-6));
    CHECK(m.latency.p50 == doctest::Approx(0.0875).epsilon(1e-6));
    CHECK(m.latency.p90 == doctest::Approx(0.25 + 0.25 * 0.5 / 0.6).epsilon(1e-6));
    CHECK(m.latency.p95 == doctest::Approx(0.5 + 0.5 * (4.75 - 4.6) / 0.4).epsilon(1e-6));
    CHECK(m.latency.p99 == doctest::Approx(0.9375).epsilon(1e-6));
    CHECK(m.latency.p999 == doctest::Approx(0.5 + 0.5 * (4.995 - 4.6) / 0.4).epsilon(1e-6));
    // The pod's containers, fn and its sidecar, without cAdvisor's pod-level
    // and pause-container series: 0.34 of 0.6 cores, 144 of 320 MiB.
    CHECK(m.cpu_utilization == doctest::Approx(0.34 / 0.6).epsilon(0.03));
    CHECK(m.memory_utilization == doctest::Approx(144.0 / 320.0));
    CHECK(m.cpu_limit == doctest::Approx(0.6));
    CHECK(m.memory_limit_mb == doctest::Approx(320));
    CHECK(m.cpu_limit_min == doctest::Approx(0.6));  // one running pod with limits
    CHECK(m.memory_limit_min_mb == doctest::Approx(320));
    CHECK(m.ready_replicas == 1);
    CHECK(m.starting_replicas == 1);
    CHECK(m.pending_replicas == 1);
    CHECK(m.replica_seconds == doctest::Approx(15));
    CHECK(rlscale::check_metrics(m).ok);

    // One container named: its usage over its limits, the sidecar left out.
    const auto app = src.fetch({.function = "fn", .namespace_ = "fn", .deployment = "fn", .container = "fn"});
    CHECK(app.status.complete());
    CHECK(app.metrics.cpu_utilization == doctest::Approx(0.5).epsilon(0.03));
    CHECK(app.metrics.memory_utilization == doctest::Approx(0.5));
    CHECK(app.metrics.cpu_limit == doctest::Approx(0.5));
    CHECK(app.metrics.memory_limit_mb == doctest::Approx(256));
    CHECK(app.metrics.throughput_rps == doctest::Approx(5).epsilon(0.03));
    // A container the pods do not have: no data, never 0.
    const auto none = src.fetch({.function = "fn", .namespace_ = "fn", .deployment = "fn", .container = "sidecar"});
    CHECK(std::isnan(none.metrics.cpu_limit));
    CHECK(none.status.is_missing("cpu_limit"));
    CHECK(none.status.is_missing("cpu_utilization"));
    CHECK_FALSE(none.status.is_missing("throughput_rps"));

    // Pods named after the workload that are not its own (a StatefulSet
    // web-cache's web-cache-0, a Job web-migrate's web-migrate-x7k2p) are left
    // out: web's 5 requests/s and 0.5-core limit, not 15 and the cache's 4 cores,
    // which the earlier pattern <name>-[a-z0-9]+-[a-z0-9]+ read.
    const auto web = src.fetch({.function = "web", .namespace_ = "web", .deployment = "web"});
    CHECK(web.metrics.throughput_rps == doctest::Approx(5).epsilon(0.03));
    CHECK(web.metrics.cpu_limit == doctest::Approx(0.5));
    const auto loose = client({.url = s.prom.url()}).query(R"(sum(rate(http_requests_total{namespace="web",pod=~"web-[a-z0-9]+-[a-z0-9]+"}[5s])))");
    REQUIRE(loose.vector.size() == 1);
    CHECK(loose.vector[0].point.value == doctest::Approx(15).epsilon(0.03));

    // An idle function: a real zero rate is read as zero; its latencies are
    // NaN (no completions) and it has no CPU series at all: no data, never 0.
    const auto idle = src.fetch({.function = "idle", .namespace_ = "idle", .deployment = "idle"});
    CHECK(idle.metrics.throughput_rps == 0);
    CHECK(idle.metrics.completions == 0);
    CHECK(std::isnan(idle.metrics.latency.p90));
    CHECK(std::isnan(idle.metrics.latency_mean_s));
    CHECK(idle.status.find("latency.p90")->reason.find("NaN") != std::string::npos);
    CHECK(std::isnan(idle.metrics.cpu_utilization));
    CHECK(idle.status.find("cpu_utilization")->reason.find("empty result") != std::string::npos);
    CHECK(idle.status.is_missing("ready_replicas"));
    const auto check = rlscale::check_metrics(idle.metrics);
    CHECK_FALSE(check.ok);
    CHECK(check.field == "cpu_utilization");

    // A pod whose usage is not reported (its node's scrape failing, or just
    // started) is not read as an idle one: the utilisations are no data,
    // where the sums alone gave 0.3 / 2 cores = 0.15 and a scale-down (the
    // other pod's sidecar, with usage but no limit, does not stand in for it).
    const auto gap = src.fetch({.function = "gap", .namespace_ = "gap", .deployment = "gap"});
    CHECK(std::isnan(gap.metrics.cpu_utilization));
    CHECK(gap.status.find("cpu_utilization")->reason.find("empty result") != std::string::npos);
    CHECK(std::isnan(gap.metrics.memory_utilization));
    CHECK(gap.status.is_missing("memory_utilization"));
    CHECK(gap.metrics.cpu_limit == doctest::Approx(1));  // the limits themselves are there
    const client c({.url = s.prom.url()});
    const auto sums = c.query(R"(sum(rate(container_cpu_usage_seconds_total{namespace="gap"}[5s])) / sum(kube_pod_container_resource_limits{namespace="gap",resource="cpu"}))");
    REQUIRE(sums.vector.size() == 1);
    CHECK(sums.vector[0].point.value == doctest::Approx(0.155).epsilon(0.05));  // what the template no longer reads

    // An evicted pod's limits (exported by kube-state-metrics until the pod
    // object is deleted) count neither in the denominator nor as a pod
    // without usage; the usage cAdvisor still reports for it and for a
    // deleted pod is not in the numerator either: the running pod's 0.3 of
    // 1 core and 0.5 GiB of 1 GiB, not (0.3 + 0.9 + 0.6) / 1 and 3.5 / 1.
    const auto evicted = src.fetch({.function = "ev", .namespace_ = "evicted", .deployment = "ev"});
    CHECK_FALSE(evicted.status.is_missing("cpu_utilization"));
    CHECK_FALSE(evicted.status.is_missing("memory_utilization"));
    CHECK(evicted.metrics.cpu_utilization == doctest::Approx(0.3).epsilon(0.05));
    CHECK(evicted.metrics.memory_utilization == doctest::Approx(0.5));
    {
        // The gone pods' usage is there to be read: the sum over every pod's
        // usage, as the template read before, is 1.8 cores and 3.5 GiB.
        const auto all = c.query(R"(sum(rate(container_cpu_usage_seconds_total{namespace="evicted"}[5s])))");
        REQUIRE(all.vector.size() == 1);
        CHECK(all.vector[0].point.value == doctest::Approx(1.8).epsilon(0.05));
        const auto all_mem = c.query(R"(sum(container_memory_working_set_bytes{namespace="evicted"}) / 1073741824)");
        REQUIRE(all_mem.vector.size() == 1);
        CHECK(all_mem.vector[0].point.value == doctest::Approx(3.5));
    }
    // and its larger limits, from an earlier pod template, are not the current ones.
    CHECK(evicted.metrics.cpu_limit == doctest::Approx(1));
    CHECK(evicted.metrics.memory_limit_mb == doctest::Approx(1024));
    CHECK(evicted.metrics.cpu_limit_min == doctest::Approx(1));
    CHECK(evicted.metrics.memory_limit_min_mb == doctest::Approx(1024));

    // A resize rolling out: the largest limits are the new pod's, the
    // smallest the old pod's, which still runs.
    const auto rolling = src.fetch({.function = "roll", .namespace_ = "rolling", .deployment = "roll"});
    CHECK(rolling.metrics.cpu_limit == doctest::Approx(1));
    CHECK(rolling.metrics.cpu_limit_min == doctest::Approx(0.5));
    CHECK(rolling.metrics.memory_limit_mb == doctest::Approx(512));
    CHECK(rolling.metrics.memory_limit_min_mb == doctest::Approx(256));
    CHECK_FALSE(rolling.status.is_missing("cpu_limit_min"));
}

TEST_CASE("real prometheus: unscraped_pods with the documented query holds back the request fields while a ready pod is not scraped") {
    // Each pod's own target, as a PodMonitor makes one: fn's ready pod
    // scraped, its pod that is not ready not (it counts 0: it receives no
    // requests); gap's two ready pods, one of them not scraped; late's two
    // ready pods, one scraped and one with no target at all (not discovered
    // yet, or left out by the PodMonitor's selector or relabelling: no `up`
    // series); cold's one pod, not ready and not scraped.
    exporter exp;
    prometheus_process prom(exp.port(), {{.namespace_ = "fn", .pod = "fn-7d9f6c-bcdfg", .scraped = true},
                                         {.namespace_ = "fn", .pod = "fn-7d9f6c-hjklm", .scraped = false},
                                         {.namespace_ = "gap", .pod = "gap-6b7c8d-ccccc", .scraped = true},
                                         {.namespace_ = "gap", .pod = "gap-6b7c8d-bbbbb", .scraped = false},
                                         {.namespace_ = "late", .pod = "late-6b7c8d-ccccc", .scraped = true},
                                         {.namespace_ = "cold", .pod = "cold-6b7c8d-ccccc", .scraped = false}});
    prom.wait_for_scrapes(10s, 8);
    prom.wait_for(R"(count(up{namespace=~"fn|gap|late|cold"}))", 6, 30s);
    // The query docs/adapters/prometheus.md gives: the ready pods minus the
    // ready pods whose every `up` is 1.
    const std::string documented =
        R"(sum(max by (namespace, pod) (kube_pod_status_ready{namespace="{namespace}",pod=~"{pod_regex}",condition="true"})))"
        R"( - (count((max by (namespace, pod) (kube_pod_status_ready{namespace="{namespace}",pod=~"{pod_regex}",condition="true"}) == 1))"
        R"( and on(namespace, pod) (min by (namespace, pod) (up{namespace="{namespace}",pod=~"{pod_regex}"}) == 1)) or vector(0)))";
    query_templates q;
    metrics_source::set_query(q, "unscraped_pods", documented);
    const metrics_source src(client({.url = prom.url()}), {.window = 5s, .queries = q});
    const client c({.url = prom.url()});
    const auto unscraped = [&](const char* ns) {
        const auto r = c.query(src.query_for("unscraped_pods", {.function = ns, .namespace_ = ns, .deployment = ns}));
        REQUIRE(r.vector.size() == 1);
        return r.vector[0].point.value;
    };
    CHECK(unscraped("fn") == 0);
    CHECK(unscraped("gap") == 1);
    CHECK(unscraped("late") == 1);
    CHECK(unscraped("cold") == 0);  // no pod ready: 0, not an empty result

    // fn: its only ready pod is scraped; the one not ready, not scraped, counts 0.
    const auto fn = src.fetch({.function = "fn", .namespace_ = "fn", .deployment = "fn"});
    for (const auto& miss : fn.status.missing) MESSAGE("fn missing " << miss.field << ": " << miss.reason);
    CHECK(fn.status.complete());
    CHECK(fn.metrics.throughput_rps == doctest::Approx(5).epsilon(0.03));

    // gap: one ready pod not scraped (up 0); late: one ready pod without an
    // `up` series, which the query documented before, a sum of 1 - up over
    // the pods that have one, read as scraped. The request fields are not
    // sent; the limits and replicas, from kube-state-metrics' own scrape, are read.
    const std::string not_sent = "not sent: 1 of the function's pods are not scraped (unscraped_pods)";
    for (const std::string ns : {"gap", "late"}) {
        CAPTURE(ns);
        const auto held = src.fetch({.function = ns, .namespace_ = ns, .deployment = ns});
        for (const std::string_view field : {"throughput_rps", "arrivals", "completions", "latency_mean_s", "latency.p90"}) {
            CAPTURE(field);
            const auto* m = held.status.find(field);
            REQUIRE(m != nullptr);
            CHECK(m->reason == not_sent);
        }
        CHECK(std::isnan(held.metrics.throughput_rps));
        CHECK_FALSE(held.status.is_missing("unscraped_pods"));
    }
    const auto gap = src.fetch({.function = "gap", .namespace_ = "gap", .deployment = "gap"});
    CHECK_FALSE(gap.status.is_missing("cpu_limit"));
    CHECK(gap.metrics.cpu_limit == doctest::Approx(1));
    const std::string before =
        R"(sum((1 - up{namespace="late"}) * on(namespace, pod) group_left() max by (namespace, pod) (kube_pod_status_ready{namespace="late",condition="true"})))";
    const auto old_reading = c.query(before);
    REQUIRE(old_reading.vector.size() == 1);
    CHECK(old_reading.vector[0].point.value == 0);  // what the query documented before read

    // cold: no pod ready, so none is missing from the sums: the request
    // fields are sent (and come back empty: the pod serves nothing).
    const auto cold = src.fetch({.function = "cold", .namespace_ = "cold", .deployment = "cold"});
    CHECK_FALSE(cold.status.is_missing("unscraped_pods"));
    REQUIRE(cold.status.find("throughput_rps") != nullptr);
    CHECK(cold.status.find("throughput_rps")->reason.find("empty result") != std::string::npos);

    // idle: kube-state-metrics exports no readiness for its pods, so the
    // check has no value, and a check that cannot be read never passes.
    const auto idle = src.fetch({.function = "idle", .namespace_ = "idle", .deployment = "idle"});
    CHECK(idle.status.is_missing("unscraped_pods"));
    REQUIRE(idle.status.find("throughput_rps") != nullptr);
    CHECK(idle.status.find("throughput_rps")->reason.rfind("not sent: unscraped_pods has no value", 0) == 0);
}

}  // namespace test_prometheus_real_prometheus
