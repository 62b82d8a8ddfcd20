// rlscale-controller: Prometheus → encoder → policy (guarded, HPA fallback)
// → Kubernetes, one tick every control interval, one JSON line per function
// per tick in the decision log, its own /metrics endpoint, a clean stop on
// SIGTERM or SIGINT. See docs/adapters.md.
#include <rlscale/controller/config.hpp>
#include <rlscale/controller/cluster_io.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/controller/decision_log.hpp>
#include <rlscale/controller/metrics_endpoint.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include <unistd.h>

namespace {

using namespace rlscale;

constexpr const char* usage_text = R"(usage: rlscale-controller --config FILE [--dry-run] [--once] [--check]

Scales Kubernetes workloads with rlscale policies, reading metrics from
Prometheus. Every tick (control_interval_s) and for every configured function:
read its metrics, decide through its guarded policy (HPA as fallback for
learned policies; missing metrics hold the current replicas), set the replicas
through the scale subresource unless in dry run, and append one JSON line to
the decision log.

  --config FILE   the JSON configuration (reference: docs/adapters.md)
  --dry-run       decide and log, never change the cluster (overrides the file)
  --once          run one tick and exit
  --check         validate the configuration and the checkpoints, then exit
  --help          this text

SIGHUP reloads every checkpoint, all or nothing: one that does not load is
reported and the policies in use keep serving.

With leader_election configured, several replicas may run: each waits for
the Lease, one ticks, and a replica that fails to renew it stops and exits
(status 4) so that a restart competes again; a clean stop hands it back.

Exit status: 0 after a clean stop (SIGTERM, SIGINT) or a --once tick that
decided every function, 1 on an error before the loop starts
(configuration, checkpoint), 2 on bad usage, 3 when --once did not decide
every function (a metrics or replica read unusable, a change refused, a
stop, or the Lease not obtained within two lease durations; stderr says
which), 4 when the leader election's Lease was lost.
)";

std::atomic<bool> stop_requested{false};
std::atomic<bool> reload_requested{false};

extern "C" void on_signal(int) { stop_requested.store(true); }
extern "C" void on_reload(int) { reload_requested.store(true); }

/// Stand-ins for --check, which builds the policies and never ticks.
struct unreachable_source {
    controller::metrics_reading read(const controller::function_spec&, double) { return {.error = "not connected (--check)"}; }
};
struct unreachable_scaler {
    int replicas(const controller::function_spec&) { throw error("not connected (--check)"); }
    void set_replicas(const controller::function_spec&, int) { throw error("not connected (--check)"); }
};

/// The leader election's default identity: $POD_NAME (set from the pod's
/// metadata.name in the Deployment), else the host name (the pod's name
/// too, unless the pod sets another).
std::string pod_name() {
    const char* v = std::getenv("POD_NAME");
    return v != nullptr ? std::string(v) : std::string();
}
std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) buf[0] = '\0';
    // Pods on a node's network share its name: a random suffix keeps two
    // such replicas from both taking themselves for the holder.
    std::random_device entropy;
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, "_%08x%08x", entropy(), entropy());
    return std::string(buf) + suffix;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool dry_run = false;
    bool once = false;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage_text, stdout);
            return 0;
        }
        if (arg == "--config" && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg == "--dry-run") {
            dry_run = true;
        } else if (arg == "--once") {
            once = true;
        } else if (arg == "--check") {
            check = true;
        } else {
            std::fprintf(stderr, "rlscale-controller: unknown or incomplete option %s\n\n%s", argv[i], usage_text);
            return 2;
        }
    }
    if (config_path.empty()) {
        std::fprintf(stderr, "rlscale-controller: --config FILE is required\n\n%s", usage_text);
        return 2;
    }
    try {
        controller::config cfg = controller::load_config(config_path);
        cfg.dry_run = cfg.dry_run || dry_run;
        for (const std::string& w : controller::config_warnings(cfg)) std::fprintf(stderr, "rlscale-controller: warning: %s\n", w.c_str());
        if (check) {
            // Builds every policy (loading checkpoints) and the metrics sources
            // (every PromQL template checked) without touching Prometheus or
            // the cluster; the Kubernetes client too unless it is configured
            // from inside the cluster (whose files are not here). Names are
            // checked as the API would.
            unreachable_source source;
            unreachable_scaler scaler;
            controller::control_loop<unreachable_source, unreachable_scaler> probe(cfg, source, scaler);
            const controller::prometheus_metrics templates(cfg);
            if (!cfg.kubernetes.value("in_cluster", true)) {
                const controller::kubernetes_scaler client(cfg);
                (void)client;
            }
            controller::kubernetes_scaler::validate_names(cfg);
            if (!cfg.leader_election.is_null()) (void)controller::leader_election_settings(cfg, pod_name(), host_name());
            std::printf("configuration %s is valid: %zu functions\n", config_path.c_str(), cfg.functions.size());
            return 0;
        }
        controller::prometheus_metrics source(cfg);
        controller::kubernetes_scaler scaler(cfg);
        controller::control_loop<controller::prometheus_metrics, controller::kubernetes_scaler> loop(cfg, source, scaler);
        controller::decision_log log(cfg.decision_log);

        // A write past the file size limit then fails (EFBIG) and is
        // reported, as a full disk is, instead of killing the controller;
        // so does a write to a pipe whose reader has gone (EPIPE): the
        // decision log "-" is standard output, often a pipe into a log
        // shipper. The HTTP clients block SIGPIPE around each request of
        // their own accord (request_deadline).
        std::signal(SIGXFSZ, SIG_IGN);
        std::signal(SIGPIPE, SIG_IGN);
        std::signal(SIGTERM, on_signal);
        std::signal(SIGINT, on_signal);
        std::signal(SIGHUP, on_reload);

        // Leader election: this replica ticks only while it holds the Lease.
        // Losing it stops the loop between policy groups (as SIGTERM does)
        // and the program exits with status 4. Declared after the client it
        // uses, so it is stopped (and the Lease handed back) first, and before
        // the /metrics endpoint, which reports it.
        std::atomic<bool> lost_lease{false};
        std::optional<kubernetes::client> election_api;
        std::optional<kubernetes::leader_election> election;
        std::string election_name;
        if (!cfg.leader_election.is_null()) {
            const kubernetes::leader_election_config settings = controller::leader_election_settings(cfg, pod_name(), host_name());
            election_name = settings.namespace_name + "/" + settings.lease_name + " as " + settings.identity;
            // The elector sends through a client of its own made from this
            // one's configuration: one attempt per request, each bounded by
            // the renew deadline, and no write gate (kubernetes::
            // leader_elector).
            election_api.emplace(controller::kubernetes_scaler::make_config(cfg));
            election.emplace(*election_api, settings, [&lost_lease] {
                lost_lease.store(true);
                stop_requested.store(true);
            });
            // Every write of the tick first checks the Lease is still held.
            scaler.gate_writes([&election] { return election->is_leader(); });
            std::fprintf(stderr, "rlscale-controller: waiting for the lease %s\n", election_name.c_str());
        }

        std::mutex stats_mutex;
        controller::counters published;
        std::optional<controller::metrics_endpoint> endpoint;
        if (!cfg.metrics_address.empty()) {
            endpoint.emplace(cfg.metrics_address, [&] {
                std::string text;
                {
                    std::lock_guard lock(stats_mutex);
                    text = controller::prometheus_text(published);
                }
                if (election) {
                    text += "# HELP rlscale_controller_leader 1 while this replica holds the leader election's Lease, else 0.\n"
                            "# TYPE rlscale_controller_leader gauge\n"
                            "rlscale_controller_leader ";
                    text += election->is_leader() ? "1\n" : "0\n";
                }
                return text;
            });
        }

        // Each line is written and flushed as soon as its function is done,
        // so a change that was made is in the log even if the process is
        // killed in the middle of a tick.
        // A line that cannot be written whole (a full disk) is left out, not
        // written later (decision_log); each line is tried, so logging
        // resumes once the disk has room. Reported on stderr once per run of
        // failures.
        bool log_failing = false;
        const auto write_line = [&log, &log_failing](const controller::decision_record& r) {
            const bool written = log.append(r.to_json().dump());
            if (!written && !log_failing) {
                std::fprintf(stderr, "rlscale-controller: writing the decision log %s failed (%s); its lines are lost until a write succeeds\n",
                             log.path().c_str(), log.last_error().c_str());
            } else if (written && log_failing) {
                std::fprintf(stderr, "rlscale-controller: the decision log %s is written again (%llu lines lost so far)\n", log.path().c_str(),
                             static_cast<unsigned long long>(log.lines_lost()));
            }
            log_failing = !written;
        };
        const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(cfg.control_interval_s));
        auto due = std::chrono::steady_clock::now();
        // Policies' time: steady, whatever the system clock is set to while running.
        const controller::controller_clock<> clock;
        // Waits until this replica holds the Lease (logging each new election
        // error once): false when stopped first, or when --once did not get it
        // within two lease durations (a holder that died is replaced within one).
        const auto wait_for_lease = [&] {
            std::string last_error;
            const auto give_up = std::chrono::steady_clock::now() + 2 * election->config().lease_duration;
            while (!stop_requested.load() && !election->is_leader()) {
                if (once && std::chrono::steady_clock::now() > give_up) {
                    std::fprintf(stderr, "rlscale-controller: --once: did not get the lease %s; nothing decided\n", election_name.c_str());
                    return false;
                }
                if (const std::string e = election->last_error(); !e.empty() && e != last_error) {
                    std::fprintf(stderr, "rlscale-controller: leader election: %s\n", e.c_str());
                    last_error = e;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            if (stop_requested.load()) return false;
            std::fprintf(stderr, "rlscale-controller: leading: holds the lease %s\n", election_name.c_str());
            return true;
        };
        while (!stop_requested.load()) {
            // Before the first tick; later, a lapse stops the loop (lost_lease).
            if (election && !election->is_leader()) {
                if (!wait_for_lease()) break;
                due = std::chrono::steady_clock::now();
            }
            if (reload_requested.exchange(false)) {
                // All or nothing: a checkpoint that does not load leaves every policy serving.
                try {
                    loop.reload();
                    std::fprintf(stderr, "rlscale-controller: reloaded the policies\n");
                } catch (const std::exception& e) {
                    loop.count_reload_error();
                    std::fprintf(stderr, "rlscale-controller: reload refused, the policies in use keep serving: %s\n", e.what());
                }
            }
            const auto start = std::chrono::steady_clock::now();
            const double now_s = clock.seconds_at(start);
            const std::vector<controller::decision_record> records = loop.tick(now_s, write_line, &stop_requested);
            const auto end = std::chrono::steady_clock::now();
            loop.set_last_tick_seconds(std::chrono::duration<double>(end - start).count());
            if (lost_lease.load()) break;
            if (once) {
                // A one-shot run (a CronJob, a script) reports in its status
                // any function not decided: failed, or left out by a stop.
                int failed = 0;
                for (const controller::decision_record& r : records) {
                    if (r.error.empty()) continue;
                    ++failed;
                    std::fprintf(stderr, "rlscale-controller: %s: %s\n", r.function.c_str(), r.error.c_str());
                }
                return failed > 0 ? 3 : 0;
            }
            std::uint64_t skipped = 0;
            due = controller::next_tick_deadline(due, end, interval, &skipped);
            if (skipped > 0) {
                loop.count_skipped_ticks(skipped);
                std::fprintf(stderr, "rlscale-controller: %llu ticks skipped after a stall\n", static_cast<unsigned long long>(skipped));
            }
            {
                std::lock_guard lock(stats_mutex);
                published = loop.stats();
            }
            while (!stop_requested.load() && std::chrono::steady_clock::now() < due) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
        if (lost_lease.load()) {
            std::fprintf(stderr, "rlscale-controller: lost the lease %s (not renewed within renew_deadline_s, or taken by another); stopped\n",
                         election_name.c_str());
            return 4;
        }
        if (once) return 3;  // stopped before its tick ran
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rlscale-controller: %s\n", e.what());
        return 1;
    }
    return 0;
}
