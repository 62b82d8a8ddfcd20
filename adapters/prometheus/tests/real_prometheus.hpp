// A real Prometheus server for tests: an exporter with known values on a
// loopback port, and the Prometheus binary (RLSCALE_PROMETHEUS_BINARY,
// Debian's /usr/bin/prometheus) started on another loopback port scraping it
// every second. Used by the adapter's tests and the controller's end-to-end
// test; the including target defines RLSCALE_PROMETHEUS_BINARY and
// RLSCALE_PROMETHEUS_TMPDIR.
#pragma once

#include "loopback_socket.hpp"
#include "test_server.hpp"

#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/metrics_source.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <fcntl.h>
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
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rlscale::prometheus::test {

using namespace std::chrono_literals;


/// The server binary: $RLSCALE_PROMETHEUS_BINARY when set, else the one
/// found at configure time.
inline const std::string prometheus_binary = [] {
    const char* env = std::getenv("RLSCALE_PROMETHEUS_BINARY");
    return std::string(env && *env ? env : RLSCALE_PROMETHEUS_BINARY);
}();

inline std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// An exporter with known values. Counters grow linearly from the
/// exporter's start and carry explicit timestamps, so their rates are exact:
/// requests 5/s; latency histogram buckets (cumulative, per second)
/// le 0.05: 1, 0.1: 3, 0.25: 4, 0.5: 4.6, 1: 5, +Inf: 5, sum 0.6;
/// CPU 0.25 cores. Gauges: working set 128 MiB, limits 0.5 cores and
/// 256 MiB (container "fn"), and a sidecar "proxy" using 0.09 of its 0.1
/// cores and 16 of its 64 MiB, so the pod's totals differ from fn's:
/// CPU 0.34 of 0.6 cores, memory 144 of 320 MiB. Cumulative cAdvisor series
/// of the pod itself (container="") and of the pause container ("POD")
/// would double-count if a query took them. 3 replicas of which 1 ready,
/// 1 running but not ready, 1 pending.
/// A second function, "idle", has counters that do not move.
class exporter {
public:
    exporter()
        : start_ms_(now_ms()), server_([this](httplib::Server& s) {
              s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
                  res.set_content(render(), "text/plain; version=0.0.4");
              });
          }) {}
    [[nodiscard]] int port() const noexcept { return server_.port(); }

private:
    [[nodiscard]] std::string render() const {
        const std::int64_t t = now_ms();
        const double e = static_cast<double>(t - start_ms_) / 1000.0;
        const std::string ts = " " + std::to_string(t) + "\n";
        std::ostringstream o;
        o.precision(17);
        const std::string fn = R"(namespace="fn",pod="fn-7d9f6c-bcdfg")";
        const std::string idle = R"(namespace="idle",pod="idle-5c8d7f-zzzzz")";
        // Namespace "gap": two running, ready pods with a 1-core, 1 GiB limit,
        // usage reported for one only, which also has a sidecar without a limit.
        const std::string gap_a = R"(namespace="gap",pod="gap-6b7c8d-ccccc",container="app")";
        const std::string gap_a_sidecar = R"(namespace="gap",pod="gap-6b7c8d-ccccc",container="proxy")";
        const std::string gap_b = R"(namespace="gap",pod="gap-6b7c8d-bbbbb",container="app")";
        // Namespace "evicted": a running pod at 0.3 of its 1-core limit and
        // half its 1 GiB; an evicted one whose limits kube-state-metrics still
        // exports; and one deleted (a scale-down) that kube-state-metrics no
        // longer exports at all. cAdvisor's series of both gone pods' containers
        // still carry usage (written with their own timestamps, Prometheus
        // never marks them stale): 0.9 and 0.6 cores, 2 GiB and 1 GiB, which
        // a utilisation must not add to the running pod's.
        const std::string ev_run = R"(namespace="evicted",pod="ev-5f6d7c-rnnnn",container="app")";
        const std::string ev_gone = R"(namespace="evicted",pod="ev-5f6d7c-vctdd",container="app")";
        const std::string ev_deleted = R"(namespace="evicted",pod="ev-5f6d7c-dlkdd",container="app")";
        // Namespace "web": the Deployment web's pod beside pods named after
        // it that are not its own (a StatefulSet web-cache's, a Job
        // web-migrate's), which the default pod pattern must leave out.
        // Namespace "rolling": a resize rolling out, a pod of the old
        // template (0.5 core, 256 MiB) beside one of the new (1 core, 512 MiB).
        const std::string roll_old = R"(namespace="rolling",pod="roll-5c6d7f-bbbbb",container="app")";
        const std::string roll_new = R"(namespace="rolling",pod="roll-6b7c8d-ccccc",container="app")";
        const std::string web = R"(namespace="web",pod="web-7d9f6c-x2k4p")";
        const std::string web_cache = R"(namespace="web",pod="web-cache-0")";
        const std::string web_job = R"(namespace="web",pod="web-migrate-x7k2p")";
        o << "# TYPE http_requests_total counter\n";
        o << "http_requests_total{" << fn << "} " << 5 * e << ts;
        o << "http_requests_total{" << web << "} " << 5 * e << ts;
        o << "http_requests_total{" << web_cache << "} " << 7 * e << ts;
        o << "http_requests_total{" << web_job << "} " << 3 * e << ts;
        o << "http_requests_total{" << idle << "} 10" << ts;
        o << "# TYPE http_request_duration_seconds histogram\n";
        const std::pair<const char*, double> buckets[] = {{"0.05", 1}, {"0.1", 3}, {"0.25", 4}, {"0.5", 4.6}, {"1", 5}, {"+Inf", 5}};
        for (const auto& [le, per_s] : buckets)
            o << "http_request_duration_seconds_bucket{" << fn << ",le=\"" << le << "\"} " << per_s * e << ts;
        o << "http_request_duration_seconds_sum{" << fn << "} " << 0.6 * e << ts;
        o << "http_request_duration_seconds_count{" << fn << "} " << 5 * e << ts;
        for (const auto& [le, per_s] : buckets) {
            (void)per_s;
            o << "http_request_duration_seconds_bucket{" << idle << ",le=\"" << le << "\"} 10" << ts;
        }
        o << "http_request_duration_seconds_sum{" << idle << "} 1" << ts;
        o << "http_request_duration_seconds_count{" << idle << "} 10" << ts;
        o << "# TYPE container_cpu_usage_seconds_total counter\n";
        o << "container_cpu_usage_seconds_total{" << fn << ",container=\"fn\"} " << 0.25 * e << ts;
        o << "container_cpu_usage_seconds_total{" << fn << ",container=\"proxy\"} " << 0.09 * e << ts;
        o << "container_cpu_usage_seconds_total{" << fn << ",container=\"\"} " << 0.34 * e << ts;
        o << "container_cpu_usage_seconds_total{" << fn << ",container=\"POD\"} " << 0.01 * e << ts;
        o << "container_cpu_usage_seconds_total{" << gap_a << "} " << 0.3 * e << ts;
        o << "container_cpu_usage_seconds_total{" << gap_a_sidecar << "} " << 0.01 * e << ts;
        o << "container_cpu_usage_seconds_total{" << ev_run << "} " << 0.3 * e << ts;
        o << "container_cpu_usage_seconds_total{" << ev_gone << "} " << 0.9 * e << ts;
        o << "container_cpu_usage_seconds_total{" << ev_deleted << "} " << 0.6 * e << ts;
        o << "# TYPE container_memory_working_set_bytes gauge\n";
        o << "container_memory_working_set_bytes{" << fn << ",container=\"fn\"} 134217728" << ts;
        o << "container_memory_working_set_bytes{" << fn << ",container=\"proxy\"} 16777216" << ts;
        o << "container_memory_working_set_bytes{" << fn << ",container=\"\"} 150994944" << ts;
        o << "container_memory_working_set_bytes{" << fn << ",container=\"POD\"} 1048576" << ts;
        o << "container_memory_working_set_bytes{" << gap_a << "} 536870912" << ts;
        o << "container_memory_working_set_bytes{" << gap_a_sidecar << "} 16777216" << ts;
        o << "container_memory_working_set_bytes{" << ev_run << "} 536870912" << ts;
        o << "container_memory_working_set_bytes{" << ev_gone << "} 2147483648" << ts;
        o << "container_memory_working_set_bytes{" << ev_deleted << "} 1073741824" << ts;
        o << "# TYPE kube_pod_container_resource_limits gauge\n";
        o << "kube_pod_container_resource_limits{" << web << ",container=\"app\",resource=\"cpu\",unit=\"core\"} 0.5" << ts;
        o << "kube_pod_container_resource_limits{" << web_cache << ",container=\"app\",resource=\"cpu\",unit=\"core\"} 4" << ts;
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"fn\",resource=\"cpu\",unit=\"core\"} 0.5" << ts;
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"fn\",resource=\"memory\",unit=\"byte\"} 268435456" << ts;
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"proxy\",resource=\"cpu\",unit=\"core\"} 0.1" << ts;
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"proxy\",resource=\"memory\",unit=\"byte\"} 67108864" << ts;
        // A pending pod (not running yet) with larger limits, in a container
        // of its own (so no query naming the fn container sees it): the
        // pod-wide limit queries must not read it.
        o << "kube_pod_container_resource_limits{namespace=\"fn\",pod=\"fn-7d9f6c-npqrs\",container=\"cache\",resource=\"cpu\",unit=\"core\"} 2" << ts;
        o << "kube_pod_container_resource_limits{namespace=\"fn\",pod=\"fn-7d9f6c-npqrs\",container=\"cache\",resource=\"memory\",unit=\"byte\"} 2147483648" << ts;
        for (const std::string& pod : {gap_a, gap_b, ev_run}) {
            o << "kube_pod_container_resource_limits{" << pod << ",resource=\"cpu\",unit=\"core\"} 1" << ts;
            o << "kube_pod_container_resource_limits{" << pod << ",resource=\"memory\",unit=\"byte\"} 1073741824" << ts;
        }
        o << "kube_pod_container_resource_limits{" << roll_old << ",resource=\"cpu\",unit=\"core\"} 0.5" << ts;
        o << "kube_pod_container_resource_limits{" << roll_old << ",resource=\"memory\",unit=\"byte\"} 268435456" << ts;
        o << "kube_pod_container_resource_limits{" << roll_new << ",resource=\"cpu\",unit=\"core\"} 1" << ts;
        o << "kube_pod_container_resource_limits{" << roll_new << ",resource=\"memory\",unit=\"byte\"} 536870912" << ts;
        // The evicted pod had the larger limits of an earlier pod template.
        o << "kube_pod_container_resource_limits{" << ev_gone << ",resource=\"cpu\",unit=\"core\"} 2" << ts;
        o << "kube_pod_container_resource_limits{" << ev_gone << ",resource=\"memory\",unit=\"byte\"} 2147483648" << ts;
        o << "# TYPE kube_deployment_status_replicas_ready gauge\n";
        o << "kube_deployment_status_replicas_ready{namespace=\"fn\",deployment=\"fn\"} 1" << ts;
        o << "# TYPE kube_deployment_status_replicas gauge\n";
        o << "kube_deployment_status_replicas{namespace=\"fn\",deployment=\"fn\"} 3" << ts;
        o << "# TYPE kube_pod_status_phase gauge\n";
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-bcdfg\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"web\",pod=\"web-7d9f6c-x2k4p\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"web\",pod=\"web-cache-0\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-hjklm\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-npqrs\",phase=\"Pending\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"gap\",pod=\"gap-6b7c8d-ccccc\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"gap\",pod=\"gap-6b7c8d-bbbbb\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"rolling\",pod=\"roll-5c6d7f-bbbbb\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"rolling\",pod=\"roll-6b7c8d-ccccc\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"evicted\",pod=\"ev-5f6d7c-rnnnn\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"evicted\",pod=\"ev-5f6d7c-vctdd\",phase=\"Running\"} 0" << ts;
        o << "kube_pod_status_phase{namespace=\"evicted\",pod=\"ev-5f6d7c-vctdd\",phase=\"Failed\"} 1" << ts;
        // Namespace "late": two running, ready pods (for unscraped_pods: one
        // of them has no scrape target, so no `up` series, yet). Namespace
        // "cold": one running pod, not ready.
        o << "kube_pod_status_phase{namespace=\"late\",pod=\"late-6b7c8d-ccccc\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"late\",pod=\"late-6b7c8d-bbbbb\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"cold\",pod=\"cold-6b7c8d-ccccc\",phase=\"Running\"} 1" << ts;
        o << "# TYPE kube_pod_status_ready gauge\n";
        o << "kube_pod_status_ready{namespace=\"fn\",pod=\"fn-7d9f6c-bcdfg\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"fn\",pod=\"fn-7d9f6c-hjklm\",condition=\"true\"} 0" << ts;
        o << "kube_pod_status_ready{namespace=\"gap\",pod=\"gap-6b7c8d-ccccc\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"gap\",pod=\"gap-6b7c8d-bbbbb\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"late\",pod=\"late-6b7c8d-ccccc\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"late\",pod=\"late-6b7c8d-bbbbb\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"cold\",pod=\"cold-6b7c8d-ccccc\",condition=\"true\"} 0" << ts;
        return o.str();
    }

    std::int64_t start_ms_;
    loopback_server server_;
};

/// A loopback port nobody listens on right now.
inline int free_port() { return rlscale::test::loopback_socket().port(); }

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A pod's own scrape target, as a PodMonitor makes one: its `up` series
/// carries the pod's namespace and pod labels.
struct pod_target {
    std::string namespace_;
    std::string pod;
    bool scraped = true;  ///< false: a port nobody listens on (up 0)
};

/// A Prometheus process scraping `target_port` every second; terminated
/// (then killed) and its directory removed on destruction. Each of `pods`
/// is one more job whose samples are dropped, so that it adds only its `up`
/// series: 1 from `target_port`, or 0 from a port nobody listens on.
class prometheus_process {
public:
    explicit prometheus_process(int target_port, std::vector<pod_target> pods = {}) : pods_(std::move(pods)) {
        if (!pods_.empty()) hold_dead_port();
        if (::access(prometheus_binary.c_str(), X_OK) != 0)
            FAIL("the Prometheus server binary " << prometheus_binary
                                                 << " is missing or not executable: install the Debian package 'prometheus'");
        std::filesystem::create_directories(RLSCALE_PROMETHEUS_TMPDIR);
        std::string tmpl = std::string(RLSCALE_PROMETHEUS_TMPDIR) + "/run-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir_ = tmpl;
        // The port is free when chosen but another process (a test running
        // in parallel) may take it before Prometheus binds it; try again then.
        for (int attempt = 1; !start(target_port); ++attempt) {
            if (attempt == 3) FAIL("Prometheus found its port taken three times; its log:\n" << log());
        }
        wait_ready();
    }

private:
    /// Starts Prometheus on a fresh port; false if it exited at once because
    /// the port was taken meanwhile.
    bool start(int target_port) {
        port_ = free_port();
        {
            std::ofstream cfg(dir_ / "prometheus.yml");
            cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                << "scrape_configs:\n  - job_name: rlscale-exporter\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n"
                << "    static_configs:\n      - targets: ['127.0.0.1:" << target_port << "']\n";
            for (std::size_t i = 0; i < pods_.size(); ++i) {
                const pod_target& t = pods_[i];
                cfg << "  - job_name: pod-" << i << "\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n"
                    << "    static_configs:\n      - targets: ['127.0.0.1:" << (t.scraped ? target_port : dead_port_) << "']\n"
                    << "        labels: {namespace: '" << t.namespace_ << "', pod: '" << t.pod << "'}\n"
                    << "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: '.+'\n        action: drop\n";
            }
        }
        const std::string config_flag = "--config.file=" + (dir_ / "prometheus.yml").string();
        const std::string storage_flag = "--storage.tsdb.path=" + (dir_ / "data").string();
        const std::string listen_flag = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
        const std::string log_path = (dir_ / "prometheus.log").string();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            const char* argv[] = {prometheus_binary.c_str(), config_flag.c_str(), storage_flag.c_str(), listen_flag.c_str(),
                                  "--log.level=warn", nullptr};
            ::execv(prometheus_binary.c_str(), const_cast<char* const*>(argv));
            std::_Exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + 3s;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                if (log().find("address already in use") == std::string::npos)
                    FAIL("Prometheus (" << prometheus_binary << ") exited with status " << status << "; its log:\n" << log());
                pid_ = -1;
                return false;
            }
            if (httplib::Client("127.0.0.1", port_).Get("/-/healthy") && ::waitpid(pid_, &status, WNOHANG) == 0) return true;
            std::this_thread::sleep_for(50ms);
        }
        return true;
    }

public:
    prometheus_process(const prometheus_process&) = delete;
    prometheus_process& operator=(const prometheus_process&) = delete;
    ~prometheus_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            int status = 0;
            while (::waitpid(pid_, &status, WNOHANG) == 0) {
                if (std::chrono::steady_clock::now() > deadline) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, &status, 0);
                    break;
                }
                std::this_thread::sleep_for(20ms);
            }
        }
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] std::string log() const { return read_file(dir_ / "prometheus.log"); }

    /// Fails unless `promql` returns a value ≥ `at_least` within `timeout`.
    void wait_for(const std::string& promql, double at_least, std::chrono::seconds timeout) {
        const client c({.url = url()});
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string last = "no answer";
        while (std::chrono::steady_clock::now() < deadline) {
            check_alive();
            try {
                const auto r = c.query(promql);
                if (r.type == result_type::vector && r.vector.size() == 1 && r.vector[0].point.value >= at_least) return;
                last = r.vector.empty() ? "empty result" : "value " + std::to_string(r.vector[0].point.value);
            } catch (const prometheus_error& e) {
                last = e.what();
            }
            std::this_thread::sleep_for(250ms);
        }
        FAIL("Prometheus did not return " << promql << " >= " << at_least << " within " << timeout.count()
                                          << " s (last: " << last << "); its log:\n" << log());
    }

    /// Waits until the exporter is up and Prometheus holds at least
    /// `samples` scrapes of it from the last `window` (rates over a window
    /// are exact only once that much history is there).
    void wait_for_scrapes(std::chrono::seconds window, int samples) {
        wait_for(R"(up{job="rlscale-exporter"})", 1, 60s);
        wait_for(R"(count_over_time(kube_deployment_status_replicas{namespace="fn"}[)" + std::to_string(window.count()) + "s])",
                 samples, 60s);
    }

private:
    void check_alive() {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            FAIL("Prometheus (" << prometheus_binary << ") exited with status " << status << "; its log:\n" << log());
        }
    }

    void wait_ready() {
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            check_alive();
            httplib::Client http("127.0.0.1", port_);
            http.set_connection_timeout(1, 0);
            http.set_read_timeout(2, 0);
            if (const auto res = http.Get("/-/ready"); res && res->status == 200) return;
            std::this_thread::sleep_for(100ms);
        }
        FAIL("Prometheus did not become ready on " << url() << " within 60 s; its log:\n" << log());
    }

    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::vector<pod_target> pods_;  // one job each, adding an up series
    /// A loopback port bound and kept without listening, for the targets
    /// that are not scraped: connections to it are refused, and nothing
    /// else can take it meanwhile (a free port released at once could
    /// become another server's). Closed with its owner, even one whose
    /// constructor throws (members built before the throw are destroyed).
    std::optional<rlscale::test::loopback_socket> dead_;
    int dead_port_ = 0;

    void hold_dead_port() { dead_port_ = dead_.emplace().port(); }
};

/// An exporter and a Prometheus that has scraped it for at least 8 s.
struct scraped_setup {
    exporter exp;
    prometheus_process prom{exp.port()};
    scraped_setup() { prom.wait_for_scrapes(10s, 8); }
};

}  // namespace rlscale::prometheus::test
