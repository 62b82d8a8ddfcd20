// rlscale-decision-service: serves scaling decisions over HTTP with one of
// rlscale's policies. See docs/adapters/service.md.

#include "../common/cli.hpp"

#include <rlscale/policy/registry.hpp>
#include <rlscale/service/decision_service.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace {

constexpr std::string_view usage = R"(usage: rlscale-decision-service [options]

Serves scaling decisions: POST /decide with a function's metrics as JSON,
answers {"replicas": n, "source": ..., "reason": ...}; {"functions": [...]}
decides several functions at once (all of a multi-function learned policy,
together); errors answer {"error": ..., "replicas": -1} (keep the current
replicas). GET /healthz.

  --host ADDR                 listen address (default 127.0.0.1)
  --port N                    TCP port, 0 = any free port (default 8080)
  --policy NAME               hpa | hpa-<percent> | kpa | ensure | static (default hpa)
  --checkpoint FILE           serve the learned policy of a checkpoint (its serving
                              spec: algorithm, encoder, actions, stabiliser), with
                              the HPA (--hpa-cpu-target) as fallback; overrides --policy
  --hpa-cpu-target PERCENT    hpa: target CPU utilisation, % of the request (default 70)
  --container-concurrency N   kpa, ensure: requests one replica serves at once (default 1)
  --kpa-target-utilization U  kpa: share of the concurrency to aim for (default 0.7)
  --ensure-service-time S     ensure: mean service time, seconds (default 0.1)
  --ensure-c C                ensure: headroom coefficient (default 1)
  --static-replicas N         static: the replica count (default 1)
  --max-step-up N             most replicas added per decision (default 4; with
                              --checkpoint, the spec's guard, tightened to N if given)
  --max-step-down N           most replicas removed per decision (default 2; with
                              --checkpoint, the spec's guard, tightened to N if given)
  --max-body-bytes N          larger bodies answer 413 (default 65536)
  --threads N                 worker threads (default 4)
  --max-queued N              connections waiting for a worker; beyond, 503 (default 64)
  --max-functions N           functions with a policy; a new one beyond evicts the
                              least recently used (default 1024)
  --request-deadline-ms N     a request must arrive whole within this (default 5000)
  --help                      this text

SIGHUP reloads the checkpoint (--checkpoint), all or nothing: one that does
not load is refused with the reason on stderr and the policy in use keeps
serving; one that loads replaces every function's policy (stateful parts
such as the stabiliser and the fallback's history start afresh). Stops
cleanly on SIGINT or SIGTERM (exit 0). Exits with 1 if the listening socket
fails (accept() returns an error such as ENFILE) so that a supervisor can
restart it.
)";

struct options {
    rlscale::service::decision_service_config service;
    std::string policy = "hpa";
    std::string checkpoint;
    rlscale::baseline_settings baseline;  // the registry's defaults
    bool step_up_given = false;           // --max-step-up
    bool step_down_given = false;         // --max-step-down
};

/// The step limits given on the command line; none for one not given.
std::optional<int> step_up(const options& o) {
    return o.step_up_given ? std::optional<int>(o.service.guard.max_step_up) : std::nullopt;
}
std::optional<int> step_down(const options& o) {
    return o.step_down_given ? std::optional<int>(o.service.guard.max_step_down) : std::nullopt;
}

/// What tightens a checkpoint's own guard (its serving.guard, the limits it
/// was evaluated under): the step limits given, each other limit left open;
/// none when neither was given.
std::optional<rlscale::guard_config> learned_guard(const options& o) { return rlscale::step_limits_guard(step_up(o), step_down(o)); }

[[noreturn]] void fail(const std::string& message) {
    std::cerr << "rlscale-decision-service: " << message << "\n(see --help)\n";
    std::exit(2);
}

/// A refused setting named by the option that set it.
std::string flag_message(const rlscale::config_error& e) {
    static constexpr std::pair<std::string_view, std::string_view> flags[] = {
        {"policy", "--policy"},
        {"baseline_settings.hpa_cpu_target_percent", "--hpa-cpu-target"},
        {"baseline_settings.container_concurrency", "--container-concurrency"},
        {"baseline_settings.kpa_target_utilization", "--kpa-target-utilization"},
        {"baseline_settings.service_time_s", "--ensure-service-time"},
        {"baseline_settings.ensure_c", "--ensure-c"},
        {"baseline_settings.static_replicas", "--static-replicas"},
        {"decision_service_config.host", "--host"},
        {"decision_service_config.port", "--port"},
        {"decision_service_config.max_body_bytes", "--max-body-bytes"},
        {"decision_service_config.threads", "--threads"},
        {"decision_service_config.max_queued", "--max-queued"},
        {"decision_service_config.max_functions", "--max-functions"},
        {"decision_service_config.request_deadline", "--request-deadline-ms"},
        {"guard_config.max_step_up", "--max-step-up"},
        {"guard_config.max_step_down", "--max-step-down"},
    };
    for (const auto& [field, flag] : flags) {
        if (e.field() == field) return std::string(flag) + ": " + e.detail();
    }
    return e.what();
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        static constexpr std::string_view known[] = {
            "--host", "--port", "--policy", "--checkpoint", "--hpa-cpu-target", "--container-concurrency",
            "--kpa-target-utilization", "--ensure-service-time", "--ensure-c", "--static-replicas", "--max-step-up",
            "--max-step-down", "--max-body-bytes", "--threads", "--max-queued", "--max-functions", "--request-deadline-ms"};
        if (std::find(std::begin(known), std::end(known), flag) == std::end(known)) {
            fail((flag.starts_with("-") ? "unknown option " : "unknown argument ") + rlscale::cli::quoted(flag));
        }
        if (i + 1 >= argc) fail(std::string(flag) + ": missing value");
        const std::string v = argv[++i];
        // An empty checkpoint (an unset variable in a unit file) would serve
        // the baseline as if none were given; an empty policy names none.
        if (v.empty() && (flag == "--checkpoint" || flag == "--policy")) fail(std::string(flag) + ": must not be empty");
        using rlscale::cli::integer;
        using rlscale::cli::number;
        try {
            if (flag == "--host") o.service.host = v;
            else if (flag == "--port") o.service.port = integer<int>(flag, v);
            else if (flag == "--policy") o.policy = v;
            else if (flag == "--checkpoint") o.checkpoint = v;
            else if (flag == "--hpa-cpu-target") o.baseline.hpa_cpu_target_percent = integer<int>(flag, v);
            else if (flag == "--container-concurrency") o.baseline.container_concurrency = number(flag, v);
            else if (flag == "--kpa-target-utilization") o.baseline.kpa_target_utilization = number(flag, v);
            else if (flag == "--ensure-service-time") o.baseline.service_time_s = number(flag, v);
            else if (flag == "--ensure-c") o.baseline.ensure_c = number(flag, v);
            else if (flag == "--static-replicas") o.baseline.static_replicas = integer<int>(flag, v);
            else if (flag == "--max-step-up") o.service.guard.max_step_up = integer<int>(flag, v), o.step_up_given = true;
            else if (flag == "--max-step-down") o.service.guard.max_step_down = integer<int>(flag, v), o.step_down_given = true;
            else if (flag == "--max-body-bytes") o.service.max_body_bytes = integer<std::size_t>(flag, v);
            else if (flag == "--threads") o.service.threads = integer<std::size_t>(flag, v);
            else if (flag == "--max-queued") o.service.max_queued = integer<std::size_t>(flag, v);
            else if (flag == "--max-functions") o.service.max_functions = integer<std::size_t>(flag, v);
            else if (flag == "--request-deadline-ms") o.service.request_deadline = std::chrono::milliseconds(integer<long long>(flag, v));
        } catch (const rlscale::cli::usage_error& e) {
            fail(e.what());
        }
    }
    // A bad value is a bad option (exit 2), not a failure to serve.
    // A learned policy's encoder reads the SLO: requests must give it.
    o.service.require_slo = !o.checkpoint.empty();
    try {
        o.service.validate();
        // A checkpoint's policy guards itself with its spec's limits
        // (tightened by the steps given, learned_guard). The service's own
        // guard, over every decision, then holds only the steps given: its
        // defaults (4 and 2 replicas, vertical changes withheld below 2
        // replicas, limits of at least 0.01 cores and 1 MB) would tighten
        // the spec's, which the controller and rlscale-evaluate serve as
        // they are. It still clamps to [min, max] and holds on bad metrics.
        if (!o.checkpoint.empty()) o.service.guard = rlscale::open_guard(step_up(o), step_down(o));
        // A checkpoint's policy falls back to the HPA, which reads its target.
        o.baseline.validate(o.checkpoint.empty() ? std::string_view(o.policy) : std::string_view("hpa"));
    } catch (const rlscale::config_error& e) {
        fail(flag_message(e));
    }
    return o;
}

/// The factory for --policy, through the registry; one policy is built
/// here so that a bad configuration fails at start-up.
rlscale::service::policy_factory make_factory(const options& o) {
    try {
        (void)rlscale::make_baseline(o.policy, o.baseline);
    } catch (const rlscale::config_error& e) {
        fail(flag_message(e));
    }
    return [name = o.policy, settings = o.baseline](const std::string&) { return rlscale::make_baseline(name, settings); };
}

/// The factory for a one-function learned policy: each function gets its
/// own policy (its own stabiliser and fallback) over the checkpoint's one
/// set of weights, `loaded`'s (the checkpoint is not read again).
rlscale::service::policy_factory learned_factory(const rlscale::learned_policy& loaded, const options& o) {
    return [spec = loaded.spec, weights = loaded.weights, o](const std::string&) {
        auto p = rlscale::make_learned_policy(spec, weights, {.fallback = o.baseline, .guard = learned_guard(o)});
        return rlscale::any_policy(std::move(p.policy));
    };
}

/// Reads and validates the checkpoint in full (spec, shapes, weights) and
/// installs it: a multi-function policy serves multi-function requests
/// together. Throws, installing nothing, if the checkpoint does not load.
/// Returns a description for the log.
std::string serve_checkpoint(rlscale::service::decision_service& service, const options& o) {
    const nlohmann::json checkpoint = rlscale::nn::read_checkpoint_file(o.checkpoint);
    rlscale::learned_policy p = rlscale::make_learned_policy(checkpoint, {.fallback = o.baseline, .guard = learned_guard(o)});
    const std::size_t n = p.spec.function_count();
    rlscale::service::policy_factory factory = learned_factory(p, o);
    std::optional<rlscale::service::joint_service_policy> joint;
    if (n > 1) joint = rlscale::service::joint_service_policy{std::move(p.policy), p.spec.functions};
    service.replace(std::move(factory), std::move(joint));
    return "checkpoint " + o.checkpoint + " (" + p.spec.algorithm + ", " + std::to_string(n) + " function" + (n == 1 ? "" : "s") + ")";
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    // Block the signals in every thread (the server's threads inherit the
    // mask); this thread waits for them with sigwait.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    try {
        auto service = std::make_unique<rlscale::service::decision_service>(o.service, make_factory(o));
        std::string serving = "policy " + o.policy;
        if (!o.checkpoint.empty()) {
            // A checkpoint that does not load at start-up is a bad option
            // (exit 2, naming it), as rlscale-evaluate refuses it; on SIGHUP
            // the policy in use keeps serving instead.
            try {
                serving = serve_checkpoint(*service, o);
            } catch (const rlscale::error& e) {
                fail("--checkpoint: " + rlscale::cli::quoted_path(o.checkpoint) + ": " + e.what());
            }
        }
        const int port = service->start();
        std::cerr << "rlscale-decision-service: " << serving << ", listening on " << o.service.host << ":" << port << std::endl;
        for (;;) {
            // Waits a second at a time: the listening thread can also return
            // on its own (accept() failing, e.g. with ENFILE), after which no
            // connection is taken; exiting lets a supervisor restart us.
            const timespec tick{.tv_sec = 1, .tv_nsec = 0};
            const int sig = sigtimedwait(&signals, nullptr, &tick);
            if (sig < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                    std::cerr << "rlscale-decision-service: sigtimedwait: " << std::strerror(errno) << std::endl;
                    service->stop();
                    return 1;
                }
                if (service->listening()) continue;
                std::cerr << "rlscale-decision-service: the listening socket failed (accept() returned an error), "
                             "no longer accepting connections; exiting"
                          << std::endl;
                service->stop();
                return 1;
            }
            if (sig != SIGHUP) {
                std::cerr << "rlscale-decision-service: signal " << sig << ", stopping" << std::endl;
                break;
            }
            if (o.checkpoint.empty()) {
                std::cerr << "rlscale-decision-service: SIGHUP: no --checkpoint to reload, " << serving << " keeps serving" << std::endl;
                continue;
            }
            try {
                serving = serve_checkpoint(*service, o);
                std::cerr << "rlscale-decision-service: reloaded " << serving << std::endl;
            } catch (const std::exception& e) {
                std::cerr << "rlscale-decision-service: reload refused, the policy in use keeps serving: " << e.what() << std::endl;
            }
        }
        service->stop();
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rlscale-decision-service: " << e.what() << std::endl;
        return 1;
    }
}
