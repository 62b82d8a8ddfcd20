// rlscale-decision-service: serves scaling decisions over HTTP with one of
// rlscale's policies. See docs/adapters/service.md.

#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/service/decision_service.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage = R"(usage: rlscale-decision-service [options]

Serves scaling decisions: POST /decide with a function's metrics as JSON,
answers {"replicas": n, "source": ..., "reason": ...}; errors answer
{"error": ..., "replicas": -1} (keep the current replicas). GET /healthz.

  --host ADDR                 listen address (default 127.0.0.1)
  --port N                    TCP port, 0 = any free port (default 8080)
  --policy NAME               hpa | kpa | ensure | static (default hpa)
  --hpa-cpu-target PERCENT    hpa: target CPU utilisation, % of the limit (default 80)
  --kpa-concurrency N         kpa: requests one replica serves at once (default 100)
  --kpa-target-utilization U  kpa: share of the concurrency to aim for (default 0.7)
  --ensure-service-time S     ensure: mean service time, seconds (default 0.1)
  --ensure-concurrency N      ensure: requests one replica serves at once (default 1)
  --ensure-c C                ensure: headroom coefficient (default 1)
  --static-replicas N         static: the replica count (default 1)
  --max-step-up N             most replicas added per decision (default 4)
  --max-step-down N           most replicas removed per decision (default 2)
  --max-body-bytes N          larger bodies answer 413 (default 65536)
  --threads N                 worker threads (default 4)
  --max-queued N              connections waiting for a worker; beyond, 503 (default 64)
  --max-functions N           distinct functions served (default 1024)
  --help                      this text

Stops cleanly on SIGINT or SIGTERM.
)";

struct options {
    rlscale::service::decision_service_config service;
    std::string policy = "hpa";
    int hpa_cpu_target = 80;
    rlscale::kpa_config kpa;
    rlscale::ensure_config ensure;
    int static_replicas = 1;
};

[[noreturn]] void fail(const std::string& message) {
    std::cerr << "rlscale-decision-service: " << message << "\n(see --help)\n";
    std::exit(2);
}

long long to_integer(std::string_view flag, const std::string& v) {
    try {
        std::size_t used = 0;
        const long long n = std::stoll(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return n;
    } catch (const std::exception&) {
        fail(std::string(flag) + ": expected an integer, got '" + v + "'");
    }
}

double to_double(std::string_view flag, const std::string& v) {
    try {
        std::size_t used = 0;
        const double x = std::stod(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return x;
    } catch (const std::exception&) {
        fail(std::string(flag) + ": expected a number, got '" + v + "'");
    }
}

std::size_t to_size(std::string_view flag, const std::string& v) {
    const long long n = to_integer(flag, v);
    if (n < 0) fail(std::string(flag) + ": must be >= 0");
    return static_cast<std::size_t>(n);
}

int to_int(std::string_view flag, const std::string& v) {
    const long long n = to_integer(flag, v);
    if (n < -2147483647LL || n > 2147483647LL) fail(std::string(flag) + ": out of range");
    return static_cast<int>(n);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        if (i + 1 >= argc) fail(std::string(flag) + ": " + (flag.starts_with("--") ? "missing value" : "unknown argument"));
        const std::string v = argv[++i];
        if (flag == "--host") o.service.host = v;
        else if (flag == "--port") o.service.port = to_int(flag, v);
        else if (flag == "--policy") o.policy = v;
        else if (flag == "--hpa-cpu-target") o.hpa_cpu_target = to_int(flag, v);
        else if (flag == "--kpa-concurrency") o.kpa.container_concurrency = to_double(flag, v);
        else if (flag == "--kpa-target-utilization") o.kpa.target_utilization = to_double(flag, v);
        else if (flag == "--ensure-service-time") o.ensure.service_time_s = to_double(flag, v);
        else if (flag == "--ensure-concurrency") o.ensure.concurrency = to_double(flag, v);
        else if (flag == "--ensure-c") o.ensure.c = to_double(flag, v);
        else if (flag == "--static-replicas") o.static_replicas = to_int(flag, v);
        else if (flag == "--max-step-up") o.service.guard.max_step_up = to_int(flag, v);
        else if (flag == "--max-step-down") o.service.guard.max_step_down = to_int(flag, v);
        else if (flag == "--max-body-bytes") o.service.max_body_bytes = to_size(flag, v);
        else if (flag == "--threads") o.service.threads = to_size(flag, v);
        else if (flag == "--max-queued") o.service.max_queued = to_size(flag, v);
        else if (flag == "--max-functions") o.service.max_functions = to_size(flag, v);
        else fail("unknown option " + std::string(flag));
    }
    return o;
}

/// The factory for --policy; built once here so a bad configuration fails at start-up.
rlscale::service::policy_factory make_factory(const options& o) {
    if (o.policy == "hpa") {
        const rlscale::hpa_config c = rlscale::hpa_config::cpu_utilization(o.hpa_cpu_target);
        (void)rlscale::hpa_policy(c);
        return [c](const std::string&) { return rlscale::any_policy(rlscale::hpa_policy(c)); };
    }
    if (o.policy == "kpa") {
        (void)rlscale::kpa_policy(o.kpa);
        return [c = o.kpa](const std::string&) { return rlscale::any_policy(rlscale::kpa_policy(c)); };
    }
    if (o.policy == "ensure") {
        (void)rlscale::ensure_policy(o.ensure);
        return [c = o.ensure](const std::string&) { return rlscale::any_policy(rlscale::ensure_policy(c)); };
    }
    if (o.policy == "static") {
        if (o.static_replicas < 0) fail("--static-replicas: must be >= 0");
        return [n = o.static_replicas](const std::string&) { return rlscale::any_policy(rlscale::static_policy{n}); };
    }
    fail("--policy: expected hpa, kpa, ensure or static, got '" + o.policy + "'");
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    // Block the stop signals in every thread (the server's threads inherit
    // the mask); this thread waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    try {
        rlscale::service::decision_service service(o.service, make_factory(o));
        const int port = service.start();
        std::cerr << "rlscale-decision-service: policy " << o.policy << ", listening on " << o.service.host << ":" << port
                  << std::endl;
        int sig = 0;
        sigwait(&stop_signals, &sig);
        std::cerr << "rlscale-decision-service: signal " << sig << ", stopping" << std::endl;
        service.stop();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rlscale-decision-service: " << e.what() << std::endl;
        return 1;
    }
}
