// Tests against a real Prometheus server: the test serves an exporter with
// known counters, gauges and histograms on a loopback port, starts
// Prometheus (RLSCALE_PROMETHEUS_BINARY, Debian's /usr/bin/prometheus) on
// another loopback port with a 1 s scrape interval, waits until enough has
// been scraped, then reads the values back through the adapter.

#include "test_server.hpp"

#include <rlscale/policy/input_check.hpp>
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

using namespace rlscale::prometheus;
using rlscale::prometheus::test::loopback_server;
using namespace std::chrono_literals;

namespace {

/// The server binary: $RLSCALE_PROMETHEUS_BINARY when set, else the one
/// found at configure time.
const std::string prometheus_binary = [] {
    const char* env = std::getenv("RLSCALE_PROMETHEUS_BINARY");
    return std::string(env && *env ? env : RLSCALE_PROMETHEUS_BINARY);
}();

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// An exporter with known values. Counters grow linearly from the
/// exporter's start and carry explicit timestamps, so their rates are exact:
/// requests 5/s; latency histogram buckets (cumulative, per second)
/// le 0.05: 1, 0.1: 3, 0.25: 4, 0.5: 4.6, 1: 5, +Inf: 5, sum 0.6;
/// CPU 0.25 cores. Gauges: working set 128 MiB, limits 0.5 cores and
/// 256 MiB, 3 replicas of which 1 ready, 1 running but not ready, 1 pending.
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
        const std::string fn = R"(namespace="fn",pod="fn-7d9f6c-abcde")";
        const std::string idle = R"(namespace="idle",pod="idle-5c8d7f-zzzzz")";
        o << "# TYPE http_requests_total counter\n";
        o << "http_requests_total{" << fn << "} " << 5 * e << ts;
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
        o << "# TYPE container_memory_working_set_bytes gauge\n";
        o << "container_memory_working_set_bytes{" << fn << ",container=\"fn\"} 134217728" << ts;
        o << "# TYPE kube_pod_container_resource_limits gauge\n";
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"fn\",resource=\"cpu\",unit=\"core\"} 0.5" << ts;
        o << "kube_pod_container_resource_limits{" << fn << ",container=\"fn\",resource=\"memory\",unit=\"byte\"} 268435456" << ts;
        o << "# TYPE kube_deployment_status_replicas_ready gauge\n";
        o << "kube_deployment_status_replicas_ready{namespace=\"fn\",deployment=\"fn\"} 1" << ts;
        o << "# TYPE kube_deployment_status_replicas gauge\n";
        o << "kube_deployment_status_replicas{namespace=\"fn\",deployment=\"fn\"} 3" << ts;
        o << "# TYPE kube_pod_status_phase gauge\n";
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-abcde\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-fghij\",phase=\"Running\"} 1" << ts;
        o << "kube_pod_status_phase{namespace=\"fn\",pod=\"fn-7d9f6c-klmno\",phase=\"Pending\"} 1" << ts;
        o << "# TYPE kube_pod_status_ready gauge\n";
        o << "kube_pod_status_ready{namespace=\"fn\",pod=\"fn-7d9f6c-abcde\",condition=\"true\"} 1" << ts;
        o << "kube_pod_status_ready{namespace=\"fn\",pod=\"fn-7d9f6c-fghij\",condition=\"true\"} 0" << ts;
        return o.str();
    }

    std::int64_t start_ms_;
    loopback_server server_;
};

/// A loopback port nobody listens on right now.
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// A Prometheus process scraping `target_port` every second; terminated
/// (then killed) and its directory removed on destruction.
class prometheus_process {
public:
    explicit prometheus_process(int target_port) {
        if (::access(prometheus_binary.c_str(), X_OK) != 0)
            FAIL("the Prometheus server binary " << prometheus_binary
                                                 << " is missing or not executable: install the Debian package 'prometheus'");
        std::filesystem::create_directories(RLSCALE_PROMETHEUS_TMPDIR);
        std::string tmpl = std::string(RLSCALE_PROMETHEUS_TMPDIR) + "/run-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir_ = tmpl;
        port_ = free_port();
        {
            std::ofstream cfg(dir_ / "prometheus.yml");
            cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                << "scrape_configs:\n  - job_name: rlscale-exporter\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n"
                << "    static_configs:\n      - targets: ['127.0.0.1:" << target_port << "']\n";
        }
        const std::string config_flag = "--config.file=" + (dir_ / "prometheus.yml").string();
        const std::string storage_flag = "--storage.tsdb.path=" + (dir_ / "data").string();
        const std::string listen_flag = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
        const std::string log = (dir_ / "prometheus.log").string();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            const char* argv[] = {prometheus_binary.c_str(), config_flag.c_str(), storage_flag.c_str(), listen_flag.c_str(),
                                  "--log.level=warn", nullptr};
            ::execv(prometheus_binary.c_str(), const_cast<char* const*>(argv));
            std::_Exit(127);
        }
        wait_ready();
    }
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
};

/// An exporter and a Prometheus that has scraped it for at least 8 s.
struct scraped_setup {
    exporter exp;
    prometheus_process prom{exp.port()};
    scraped_setup() {
        prom.wait_for(R"(up{job="rlscale-exporter"})", 1, 60s);
        prom.wait_for(R"(count_over_time(kube_deployment_status_replicas{namespace="fn"}[10s]))", 8, 60s);
    }
};

}  // namespace

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

    r = c.query(R"(container_memory_working_set_bytes{namespace="fn"})");
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
    CHECK(m.cpu_utilization == doctest::Approx(0.5).epsilon(0.03));
    CHECK(m.memory_utilization == doctest::Approx(0.5));
    CHECK(m.cpu_limit == doctest::Approx(0.5));
    CHECK(m.memory_limit_mb == doctest::Approx(256));
    CHECK(m.ready_replicas == 1);
    CHECK(m.starting_replicas == 1);
    CHECK(m.pending_replicas == 1);
    CHECK(m.replica_seconds == doctest::Approx(15));
    CHECK(rlscale::check_metrics(m).ok);

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
}
