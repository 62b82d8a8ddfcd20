// One artefact from training to production: the SCARLET demo's checkpoint,
// as the demo wrote it, served by the rlscale-controller program in dry run
// (metrics from a real Prometheus on loopback, replica counts from a
// loopback API server) and by the rlscale-decision-service program over
// HTTP, makes the same decisions as the policy rlscale-evaluate builds
// (load_learned_policy, the registry's default options) for the same inputs:
// the controller's decision log gives the inputs of every tick, which are
// replayed, in order, through the evaluation tool's policy and POSTed to the
// decision service.
#include <rlscale/controller/config.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/service/request.hpp>

// After Eigen: <resolv.h>, which httplib pulls in, defines a macro `_res`
// that Eigen uses as a parameter name.
#include "../../prometheus/tests/real_prometheus.hpp"
#include "../../kubernetes/tests/lease_server.hpp"
#include "../../adapters/controller/tests/ddpg_checkpoint.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace rlscale;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A program started with fork/exec, stopped with SIGTERM at destruction.
class child_process {
public:
    child_process(const std::string& program, std::vector<std::string> args, const std::filesystem::path& log) {
        args.insert(args.begin(), program);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(program.c_str(), argv.data());
            ::_exit(127);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() { stop(); }

    /// Sends SIGTERM and waits; returns the exit status (or -1).
    int stop() {
        if (pid_ <= 0) return status_;
        ::kill(pid_, SIGTERM);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return status_;
    }
    /// Sends `sig` to the running program.
    void signal(int sig) const { REQUIRE(::kill(pid_, sig) == 0); }
    [[nodiscard]] bool running() {
        if (pid_ <= 0) return false;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            return false;
        }
        return true;
    }

private:
    pid_t pid_ = -1;
    int status_ = -1;
};

/// The Scale of the Deployment fn/fn: 3 replicas.
void answer_scale(const httplib::Request&, httplib::Response& res) {
    const json scale = {{"kind", "Scale"},
                        {"apiVersion", "autoscaling/v1"},
                        {"metadata", {{"name", "fn"}, {"namespace", "fn"}, {"resourceVersion", "7"}}},
                        {"spec", {{"replicas", 3}}},
                        {"status", {{"replicas", 3}, {"selector", "app=fn"}}}};
    res.set_content(scale.dump(), "application/json");
}

/// A Prometheus on loopback answering every instant query (GET or POST)
/// with one sample of 0.5, in the query API's envelope.
std::unique_ptr<prometheus::test::loopback_server> constant_prometheus() {
    return std::make_unique<prometheus::test::loopback_server>([](httplib::Server& s) {
        const auto answer = [](const httplib::Request&, httplib::Response& res) {
            res.set_content(prometheus::test::one_sample("0.5"), "application/json");
        };
        s.Get("/api/v1/query", answer);
        s.Post("/api/v1/query", answer);
    });
}

/// The API server's side of the Deployment fn/fn (GET of its Scale): the
/// controller reads the current replica count there; in dry run it never writes.
class scale_server {
public:
    scale_server()
        : server_([this](httplib::Server& s) {
              s.Get("/apis/apps/v1/namespaces/fn/deployments/fn/scale", answer_scale);
              s.Put("/apis/apps/v1/namespaces/fn/deployments/fn/scale", [this](const httplib::Request&, httplib::Response& res) {
                  ++writes_;
                  res.status = 500;
              });
          }) {}
    [[nodiscard]] std::string url() const { return server_.url(); }
    [[nodiscard]] int writes() const { return writes_.load(); }

private:
    std::atomic<int> writes_{0};
    prometheus::test::loopback_server server_;
};

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The decision-log lines of a file, grouped by tick time.
std::map<double, std::vector<json>> ticks_of(const std::filesystem::path& log) {
    std::map<double, std::vector<json>> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const json j = json::parse(line);
        out[j.at("time_s").get<double>()].push_back(j);
    }
    return out;
}

/// Waits (at most 10 s) until the decision service behind `http` answers
/// /healthz; fails the test with the program's output `log` otherwise.
void wait_until_serving(httplib::Client& http, const std::filesystem::path& log) {
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        const auto r = http.Get("/healthz");
        up = r && r->status == 200;
        if (!up) std::this_thread::sleep_for(100ms);
    }
    REQUIRE_MESSAGE(up, "the decision service did not start:\n" << read_file(log));
}

/// Waits until `log` contains `text` (at most 30 s).
bool wait_for_text(const std::filesystem::path& log, const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (read_file(log).find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

/// Runs the controller program with `args`, its standard output a pipe whose
/// reading end is closed (a log shipper that went away) and its standard
/// error in `log`. With `stop_after` empty, waits until it exits (at most
/// 30 s); otherwise stops it with SIGTERM two seconds (two ticks of one
/// second) after `log` shows that text. Returns its exit status, or minus
/// the number of the signal that killed it.
int run_with_reader_gone(const std::vector<std::string>& args, const std::filesystem::path& log, const std::string& stop_after) {
    std::vector<std::string> argv_text = args;
    argv_text.insert(argv_text.begin(), RLSCALE_CONTROLLER_BINARY);
    std::vector<char*> argv;  // built before the fork: the child only makes system calls
    for (std::string& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // As a shell starts it: SIGPIPE at its default action, not blocked.
        // (This process's loopback servers set it ignored, which exec keeps.)
        ::signal(SIGPIPE, SIG_DFL);
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        ::sigprocmask(SIG_UNBLOCK, &pipe_set, nullptr);
        const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[0]);  // nobody reads: the program's first write fails
    ::close(fds[1]);
    int st = 0;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    bool seen = false;
    while (::waitpid(pid, &st, WNOHANG) == 0) {
        if (!stop_after.empty() && !seen && read_file(log).find(stop_after) != std::string::npos) {
            seen = true;
            deadline = std::chrono::steady_clock::now() + 2s;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, &st, 0);
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

}  // namespace

TEST_CASE("the demo's checkpoint: controller (dry run, real Prometheus) and decision service decide as rlscale-evaluate does") {
    const std::filesystem::path checkpoint = RLSCALE_DEMO_CHECKPOINT;
    REQUIRE_MESSAGE(std::filesystem::exists(checkpoint), "run the demo fixture first (ctest -R example.scarlet_demo): " << checkpoint);
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "serving-parity";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);

    // The checkpoint as the demo wrote it: a three-function spec.
    const learned_policy probe = load_learned_policy(checkpoint);
    REQUIRE(probe.spec.function_count() == 3);
    CHECK(probe.spec.encoder_name() == "scarlet_relative");

    // Metrics: the exporter's function fn, through a real Prometheus. The
    // three functions read it with different arrival and CPU queries, so
    // their inputs differ.
    prometheus::test::exporter exp;
    prometheus::test::prometheus_process prom(exp.port());
    prom.wait_for_scrapes(10s, 8);
    scale_server cluster;

    const auto function = [&](const std::string& name, double load) {
        json f = {{"name", name}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20},
                  {"policy", "learned"}, {"checkpoint", checkpoint.string()},
                  {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}, {"target_rps", 600}}}};
        char arrivals[200];
        std::snprintf(arrivals, sizeof arrivals, R"(%g * sum(increase(http_requests_total{namespace="{namespace}",pod=~"{pod_regex}"}[{window}])))", load);
        char cpu[300];
        std::snprintf(cpu, sizeof cpu,
                      R"(%g * sum(rate(container_cpu_usage_seconds_total{namespace="{namespace}",pod=~"{pod_regex}",container="fn"}[{window}])) / sum(kube_pod_container_resource_limits{namespace="{namespace}",pod=~"{pod_regex}",container="fn",resource="cpu"}))",
                      std::min(load, 1.9));
        // The checkpoint's encoder (scarlet_relative) reads the queue, which
        // has no default query: the exporter exports no queue gauge, so it
        // reads an empty queue.
        f["promql"] = {{"arrivals", arrivals}, {"cpu_utilization", cpu}, {"queue_length", "vector(0)"}};
        return f;
    };
    const json config = {
        {"control_interval_s", 3},
        {"dry_run", true},
        {"decision_log", (dir / "decisions.jsonl").string()},
        {"metrics_address", ""},
        {"prometheus", {{"url", prom.url()}, {"timeout_ms", 10000}}},
        {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
        {"functions", {function("fibonacci-python", 1.0), function("hotel-app-geo", 1.5), function("hotel-app-profile", 1.9)}},
    };
    std::ofstream(dir / "controller.json") << config.dump(2);

    // The controller program, in dry run, for at least five ticks.
    {
        child_process controller(RLSCALE_CONTROLLER_BINARY, {"--config", (dir / "controller.json").string(), "--dry-run"},
                                 dir / "controller.log");
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline && controller.running() &&
               (!std::filesystem::exists(dir / "decisions.jsonl") || ticks_of(dir / "decisions.jsonl").size() < 6)) {
            std::this_thread::sleep_for(200ms);
        }
        CHECK(controller.running());
        CHECK(controller.stop() == 0);
        MESSAGE("controller output:\n" << read_file(dir / "controller.log"));
    }
    CHECK(cluster.writes() == 0);  // dry run: nothing written
    auto ticks = ticks_of(dir / "decisions.jsonl");
    ticks.erase(std::prev(ticks.end()));  // the last tick may have been cut short by the stop
    REQUIRE(ticks.size() >= 5);

    // The decision service program, serving the same file.
    const int port = prometheus::test::free_port();
    child_process service(RLSCALE_SERVICE_BINARY, {"--checkpoint", checkpoint.string(), "--port", std::to_string(port)},
                          dir / "service.log");
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(10, 0);
    wait_until_serving(http, dir / "service.log");

    // rlscale-evaluate's policy for the checkpoint: the registry's default options.
    learned_policy evaluate = load_learned_policy(checkpoint);
    int learned_decisions = 0;
    int compared = 0;
    for (const auto& [time_s, records] : ticks) {
        REQUIRE(records.size() == 3);
        std::vector<function_metrics> m(3);
        std::vector<scaling_state> s(3);
        json body = {{"functions", json::array()}};
        for (std::size_t f = 0; f < 3; ++f) {
            const json& r = records[f];
            CHECK(r.at("function") == probe.spec.functions[f]);
            CHECK_FALSE(r.contains("error"));
            service::detail::parse_metrics(r.at("inputs"), m[f]);
            s[f] = {.replicas = r.at("replicas_before").get<int>(), .min_replicas = 1, .max_replicas = 20, .time_s = time_s,
                    .slo = {.latency_s = 0.5, .percentile = 0.9, .target_rps = 600}};
            body["functions"].push_back({{"function", r.at("function")},
                                         {"time_s", time_s},
                                         {"replicas", s[f].replicas},
                                         {"min_replicas", 1},
                                         {"max_replicas", 20},
                                         {"metrics", r.at("inputs")},
                                         {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}, {"target_rps", 600}}}});
        }
        std::vector<decision> d(3);
        evaluate.policy.decide(std::span<const function_metrics>(m), std::span<const scaling_state>(s), std::span<decision>(d));
        const auto answer = http.Post("/decide", body.dump(), "application/json");
        REQUIRE(answer);
        REQUIRE_MESSAGE(answer->status == 200, answer->body);
        const json served = json::parse(answer->body).at("decisions");
        REQUIRE(served.size() == 3);
        for (std::size_t f = 0; f < 3; ++f) {
            const json& r = records[f];
            CAPTURE(r.dump());
            CHECK(r.at("replicas_after").get<int>() == d[f].replicas);
            CHECK(r.at("source").get<std::string>() == to_string(d[f].source));
            CHECK(r.at("reason").get<std::string>() == d[f].reason);
            CHECK(served[f].at("replicas").get<int>() == d[f].replicas);
            CHECK(served[f].at("source").get<std::string>() == to_string(d[f].source));
            CHECK(served[f].at("reason").get<std::string>() == d[f].reason);
            if (d[f].source == decision_source::policy) ++learned_decisions;
            ++compared;
        }
    }
    MESSAGE(compared << " decisions compared, " << learned_decisions << " made by the network");
    CHECK(learned_decisions > 0);  // the network decided, not only the fallback
    // A one-function request to a three-function policy is refused with the reason.
    const auto single = http.Post("/decide", R"({"function":"a","time_s":1,"replicas":1,"min_replicas":1,"max_replicas":5,"metrics":{"interval_s":15,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})",
                                  "application/json");
    REQUIRE(single);
    CHECK(single->status == 400);
    CHECK(single->body.find("3 functions together") != std::string::npos);
    CHECK(service.stop() == 0);
}

TEST_CASE("the decision service program reloads its checkpoint on SIGHUP, all or nothing") {
    const std::filesystem::path demo = RLSCALE_DEMO_CHECKPOINT;
    REQUIRE_MESSAGE(std::filesystem::exists(demo), "run the demo fixture first (ctest -R example.scarlet_demo): " << demo);
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "service-reload";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path served = dir / "checkpoint.json";
    const json original = json::parse(read_file(demo));
    std::ofstream(served) << original.dump();

    // The replacement: the same spec with a network that always chooses the
    // hold action for every function.
    json replacement = original;
    json& last = replacement.at("network").at("layers").back();
    for (auto& row : last.at("weight")) {
        for (auto& w : row) w = 0.0;
    }
    const std::size_t per_head = last.at("bias").size() / 3;
    for (std::size_t i = 0; i < last.at("bias").size(); ++i) last.at("bias")[i] = i % per_head == 0 ? 10.0 : 0.0;

    // One busy tick of three functions at 2 replicas, as a request and as policy inputs.
    json body = {{"functions", json::array()}};
    std::vector<function_metrics> m(3);
    std::vector<scaling_state> s(3);
    const learned_policy probe = load_learned_policy(served);
    for (std::size_t f = 0; f < 3; ++f) {
        const json metrics = {{"interval_s", 15.0}, {"arrivals", 4500}, {"completions", 4400}, {"throughput_rps", 293.0},
                              {"latency_mean_s", 0.4},
                              {"latency", {{"p50", 0.3}, {"p90", 0.6}, {"p95", 0.8}, {"p99", 1.2}, {"p999", 2.0}}},
                              {"memory_utilization", 0.5}, {"memory_limit_mb", 512.0}, {"cpu_utilization", 0.95}, {"cpu_limit", 1.0}, {"ready_replicas", 2},
                              {"queue_length", 0}, {"in_service", 0}};
        service::detail::parse_metrics(metrics, m[f]);
        s[f] = {.replicas = 2, .min_replicas = 1, .max_replicas = 20, .time_s = 100.0,
                .slo = {.latency_s = 0.5, .percentile = 0.9, .target_rps = 600}};
        body["functions"].push_back({{"function", probe.spec.functions[f]}, {"time_s", 100.0}, {"replicas", 2}, {"min_replicas", 1},
                                     {"max_replicas", 20}, {"metrics", metrics},
                                     {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}, {"target_rps", 600}}}});
    }
    // What a policy freshly made from a checkpoint decides, in process.
    const auto fresh = [&](const json& checkpoint) {
        learned_policy p = make_learned_policy(checkpoint);
        std::vector<decision> d(3);
        p.policy.decide(std::span<const function_metrics>(m), std::span<const scaling_state>(s), std::span<decision>(d));
        return d;
    };
    const std::vector<decision> before = fresh(original);
    const std::vector<decision> after = fresh(replacement);
    CAPTURE(after[0].reason);
    REQUIRE(after[0].replicas == 2);  // held
    REQUIRE(before[0].replicas != after[0].replicas);  // so the reload is visible in the answer

    const int port = prometheus::test::free_port();
    const std::filesystem::path log = dir / "service.log";
    child_process service(RLSCALE_SERVICE_BINARY, {"--checkpoint", served.string(), "--port", std::to_string(port)}, log);
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(10, 0);
    wait_until_serving(http, log);
    // Each request is the first of a fresh policy's life only before any
    // reload; the service's joint policy keeps its state between requests, so
    // compare the first answer of each generation.
    const auto decide = [&] {
        const auto answer = http.Post("/decide", body.dump(), "application/json");
        REQUIRE(answer);
        REQUIRE_MESSAGE(answer->status == 200, answer->body);
        return json::parse(answer->body).at("decisions");
    };
    const json first = decide();
    for (std::size_t f = 0; f < 3; ++f) CHECK(first[f].at("replicas").get<int>() == before[f].replicas);

    // A checkpoint that does not load: refused with the field, the old policy keeps serving.
    json broken = original;
    broken.at("serving").at("encoder").at("name") = "no-such-encoder";
    std::ofstream(served, std::ios::trunc) << broken.dump();
    service.signal(SIGHUP);
    REQUIRE_MESSAGE(wait_for_text(log, "reload refused"), read_file(log));
    CHECK(read_file(log).find("no-such-encoder") != std::string::npos);
    const json kept = decide();
    CHECK(kept[0].at("replicas").get<int>() != after[0].replicas);
    CHECK(service.running());

    // A checkpoint that loads replaces the policy at once.
    std::ofstream(served, std::ios::trunc) << replacement.dump();
    service.signal(SIGHUP);
    REQUIRE_MESSAGE(wait_for_text(log, "reloaded checkpoint"), read_file(log));
    const json now = decide();
    for (std::size_t f = 0; f < 3; ++f) {
        CHECK(now[f].at("replicas").get<int>() == after[f].replicas);
        CHECK(now[f].at("reason").get<std::string>() == after[f].reason);
    }
    CHECK(service.stop() == 0);
    MESSAGE("service output:\n" << read_file(log));
}

TEST_CASE("the decision service program serves a checkpoint under its own guard, tightened only by the steps given") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "service-guard";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // Checkpoints whose heads ask for +8 (action 2) or -8 (action 0)
    // replicas; their guard allows +8 and -2 (the default) in one decision:
    // of one function (served one function per policy) and of two (served
    // jointly).
    const auto write = [&](const std::string& name, const std::vector<std::string>& functions, const std::vector<int>& action,
                           int spec_step_up = 8) {
        const auto n = static_cast<Eigen::Index>(functions.size());
        nn::mlp<float> net({5 * n, 3 * n});
        net.parameters().setZero();
        for (Eigen::Index f = 0; f < n; ++f) net.bias(0)[3 * f + action[static_cast<std::size_t>(f)]] = 1.0F;
        json checkpoint = nn::make_checkpoint(net);
        serving_spec spec;
        spec.encoder = {{"name", "scarlet_relative"}};
        spec.actions = action_spec(rl::factored_delta_actions(functions.size(), {-8, 0, 8}));
        spec.functions = functions;
        spec.guard.max_step_up = spec_step_up;
        checkpoint["serving"] = spec.to_json();
        const std::filesystem::path path = dir / name;
        nn::write_checkpoint_file(path, checkpoint);
        return path;
    };
    const std::filesystem::path one = write("one.json", {"solo"}, {2});
    const std::filesystem::path two = write("two.json", {"a", "b"}, {2, 0});  // a up, b down
    const std::filesystem::path ddpg = dir / "ddpg.json";
    // A multidimensional checkpoint whose spec resizes at one replica (the
    // guard's default withholds resizes below two): μ asks for the middle
    // of the replica range and near the top of the CPU and memory ranges.
    controller::test::write_ddpg_checkpoint(ddpg.string(), "solo", {0.0F, 2.0F, 2.0F}, 1);
    const auto element = [](const std::string& function, int replicas) {
        const json metrics = {{"interval_s", 15.0}, {"arrivals", 100}, {"completions", 100}, {"throughput_rps", 6.6},
                              {"latency_mean_s", 0.1}, {"latency", {{"p50", 0.1}, {"p90", 0.2}, {"p95", 0.2}, {"p99", 0.3}, {"p999", 0.4}}},
                              {"memory_utilization", 0.5}, {"memory_limit_mb", 512.0}, {"cpu_utilization", 0.5}, {"cpu_limit", 1.0},
                              {"ready_replicas", replicas}, {"queue_length", 0}, {"in_service", 0}};
        return json{{"function", function}, {"time_s", 100.0}, {"replicas", replicas}, {"min_replicas", 1}, {"max_replicas", 50},
                    {"metrics", metrics}, {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}, {"target_rps", 10}}}};
    };
    // The answers of the service started with `flags` for `body`.
    const auto answers = [&](const std::filesystem::path& checkpoint, const json& body, const std::vector<std::string>& flags) {
        const int port = prometheus::test::free_port();
        const std::filesystem::path log = dir / "service.log";
        std::vector<std::string> args = {"--checkpoint", checkpoint.string(), "--port", std::to_string(port)};
        args.insert(args.end(), flags.begin(), flags.end());
        child_process service(RLSCALE_SERVICE_BINARY, args, log);
        httplib::Client http("127.0.0.1", port);
        http.set_read_timeout(10, 0);
        wait_until_serving(http, log);
        const auto answer = http.Post("/decide", body.dump(), "application/json");
        REQUIRE(answer);
        REQUIRE_MESSAGE(answer->status == 200, answer->body);
        CHECK(service.stop() == 0);
        const json decided = json::parse(answer->body);
        return decided.contains("decisions") ? decided.at("decisions") : json::array({decided});
    };
    // The replicas each function is given, `solo` at 4 or `a` and `b` at 4.
    const auto served = [&](const std::filesystem::path& checkpoint, const std::vector<std::string>& flags) {
        const json body = checkpoint == one ? element("solo", 4) : json{{"functions", json::array({element("a", 4), element("b", 4)})}};
        std::vector<int> out;
        for (const json& d : answers(checkpoint, body, flags)) out.push_back(d.at("replicas").get<int>());
        return out;
    };
    CHECK(served(one, {}) == std::vector<int>{12});  // the spec's +8, not the service's default 4
    CHECK(served(two, {}) == std::vector<int>{12, 2});  // and the spec's -2
    CHECK(served(one, {"--max-step-up", "3"}) == std::vector<int>{7});
    CHECK(served(two, {"--max-step-up", "3"}) == std::vector<int>{7, 2});  // only the step given tightens
    CHECK(served(two, {"--max-step-down", "1"}) == std::vector<int>{12, 3});
    CHECK(served(two, {"--max-step-up", "10", "--max-step-down", "3"}) == std::vector<int>{12, 2});  // a looser step does not loosen
    // At one replica the spec resizes; the service's guard withholds nothing.
    const json resized = answers(ddpg, element("solo", 1), {}).at(0);
    INFO(resized.dump());
    CHECK(resized.at("replicas").get<int>() == 5);  // +4, the spec's step
    REQUIRE(resized.contains("cpu_limit"));
    CHECK(resized.at("cpu_limit").get<double>() == doctest::Approx(1.5));  // 1 core + the spec's 0.5 step
    REQUIRE(resized.contains("memory_limit_mb"));
    CHECK(resized.at("memory_limit_mb").get<double>() == doctest::Approx(768));  // 512 + 256

    // A checkpoint reloaded on SIGHUP is served under the same rule: the
    // step given tightens the new spec's guard, and nothing else does.
    const std::filesystem::path step2 = write("step2.json", {"solo"}, {2}, 2);
    const std::filesystem::path reloaded = dir / "reloaded.json";
    nn::write_checkpoint_file(reloaded, nn::read_checkpoint_file(one));
    const int port = prometheus::test::free_port();
    const std::filesystem::path log = dir / "reload.log";
    child_process service(RLSCALE_SERVICE_BINARY, {"--checkpoint", reloaded.string(), "--port", std::to_string(port), "--max-step-up", "3"},
                          log);
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(10, 0);
    wait_until_serving(http, log);
    const auto decide = [&](int replicas) {
        const auto answer = http.Post("/decide", element("solo", replicas).dump(), "application/json");
        REQUIRE(answer);
        REQUIRE_MESSAGE(answer->status == 200, answer->body);
        return json::parse(answer->body);
    };
    std::size_t reloads = 0;
    const auto reload = [&](const std::filesystem::path& from) {
        nn::write_checkpoint_file(reloaded, nn::read_checkpoint_file(from));
        service.signal(SIGHUP);
        ++reloads;
        const auto count = [&] {
            const std::string text = read_file(log);
            std::size_t n = 0;
            for (std::size_t at = text.find("reloaded checkpoint"); at != std::string::npos; at = text.find("reloaded checkpoint", at + 1)) ++n;
            return n;
        };
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (count() < reloads && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
        REQUIRE_MESSAGE(count() == reloads, read_file(log));
    };
    CHECK(decide(4).at("replicas").get<int>() == 7);  // the spec's +8 under the flag's 3
    reload(ddpg);
    const json at_one = decide(1);
    INFO(at_one.dump());
    CHECK(at_one.at("replicas").get<int>() == 4);  // the spec's +4 under the flag's 3
    REQUIRE(at_one.contains("cpu_limit"));
    CHECK(at_one.at("cpu_limit").get<double>() == doctest::Approx(1.5));  // resized at one replica, as the spec allows
    reload(step2);
    CHECK(decide(4).at("replicas").get<int>() == 6);  // the new spec's +2, tighter than the flag's 3
    CHECK(service.stop() == 0);
}

TEST_CASE("rlscale-controller --once exits 0 when every function decided and 3 when one's tick failed") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "controller-once";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // A Prometheus on loopback answering every query with one sample (the
    // query API's documented envelope), and a port where nothing listens.
    const auto prom = constant_prometheus();
    const std::string unreachable = "http://127.0.0.1:" + std::to_string(prometheus::test::free_port());
    scale_server cluster;

    const auto run_once = [&](const std::string& name, const std::string& prometheus_url) {
        const json f = {{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20},
                        {"policy", "hpa"}, {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}}}};
        const json config = {
            {"control_interval_s", 3},
            {"dry_run", true},
            {"decision_log", (dir / (name + ".jsonl")).string()},
            {"metrics_address", ""},
            {"prometheus", {{"url", prometheus_url}, {"timeout_ms", 2000}}},
            {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
            {"functions", {f}},
        };
        std::ofstream(dir / (name + ".json")) << config.dump(2);
        child_process controller(RLSCALE_CONTROLLER_BINARY, {"--config", (dir / (name + ".json")).string(), "--once"},
                                 dir / (name + ".log"));
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (controller.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
        REQUIRE_MESSAGE(!controller.running(), "--once did not end:\n" << read_file(dir / (name + ".log")));
        return controller.stop();
    };

    CHECK(run_once("answered", prom->url()) == 0);
    const auto answered = ticks_of(dir / "answered.jsonl");
    REQUIRE(answered.size() == 1);
    CHECK_FALSE(answered.begin()->second.at(0).contains("error"));

    CHECK(run_once("unreachable", unreachable) == 3);
    const auto failed = ticks_of(dir / "unreachable.jsonl");
    REQUIRE(failed.size() == 1);
    CHECK(failed.begin()->second.at(0).contains("error"));
    CHECK(read_file(dir / "unreachable.log").find("rlscale-controller: fn: ") != std::string::npos);
    CHECK(cluster.writes() == 0);
}

TEST_CASE("rlscale-controller: a decision log on standard output whose reader is gone is reported, the program is not killed by SIGPIPE") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "controller-epipe";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto prom = constant_prometheus();
    const std::string unreachable = "http://127.0.0.1:" + std::to_string(prometheus::test::free_port());
    scale_server cluster;
    // No /metrics endpoint: its HTTP server would set SIGPIPE ignored itself.
    const auto write_config = [&](const std::string& name, const std::string& prometheus_url) {
        const json config = {
            {"control_interval_s", 1},
            {"dry_run", true},
            {"decision_log", "-"},
            {"metrics_address", ""},
            {"prometheus", {{"url", prometheus_url}, {"timeout_ms", 2000}}},
            {"kubernetes", {{"in_cluster", false}, {"server", cluster.url()}, {"token", "t"}}},
            {"functions",
             {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20}, {"policy", "hpa"},
               {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}}}}}},
        };
        std::ofstream(dir / (name + ".json")) << config.dump(2);
        return (dir / (name + ".json")).string();
    };
    const std::string lost = "rlscale-controller: writing the decision log - failed (" + std::string(std::strerror(EPIPE)) + ")";

    const auto run = [&](const std::string& name, const std::string& prometheus_url, bool once) {
        std::vector<std::string> args = {"--config", write_config(name, prometheus_url)};
        if (once) args.emplace_back("--once");
        return run_with_reader_gone(args, dir / (name + ".log"), once ? std::string() : lost);
    };

    // --once: the function decided, its line lost and said so; the status is
    // that of the tick (0: decided).
    CHECK_MESSAGE(run("answered", prom->url(), true) == 0, read_file(dir / "answered.log"));
    CHECK_MESSAGE(read_file(dir / "answered.log").find(lost) != std::string::npos, read_file(dir / "answered.log"));

    // --once with the metrics unreadable: 3, the function's error on stderr.
    CHECK_MESSAGE(run("unreachable", unreachable, true) == 3, read_file(dir / "unreachable.log"));
    const std::string failed = read_file(dir / "unreachable.log");
    CHECK_MESSAGE(failed.find(lost) != std::string::npos, failed);
    CHECK_MESSAGE(failed.find("rlscale-controller: fn: ") != std::string::npos, failed);

    // Running: it keeps ticking (each line lost, reported once) until
    // stopped with SIGTERM.
    CHECK_MESSAGE(run("running", prom->url(), false) == 0, read_file(dir / "running.log"));
    const std::string text = read_file(dir / "running.log");
    CHECK_MESSAGE(text.find(lost) != std::string::npos, text);
    CHECK_MESSAGE(text.find(lost, text.find(lost) + 1) == std::string::npos, text);
    CHECK(cluster.writes() == 0);
}

TEST_CASE("rlscale-controller with leader election: one replica of two ticks, a clean stop hands over, a lost Lease exits 4") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "controller-election";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const auto prom = constant_prometheus();
    // The loopback API server: the Lease, and the Scale of fn/fn (read only: dry run).
    kubernetes::test::lease_server api([](httplib::Server& s) { s.Get("/apis/apps/v1/namespaces/fn/deployments/fn/scale", answer_scale); });
    std::map<std::string, int> metrics_port;
    const auto start = [&](const std::string& id) {
        metrics_port[id] = prometheus::test::free_port();
        const json config = {
            {"control_interval_s", 1},
            {"dry_run", true},
            {"decision_log", (dir / (id + ".jsonl")).string()},
            {"metrics_address", "127.0.0.1:" + std::to_string(metrics_port[id])},
            {"prometheus", {{"url", prom->url()}, {"timeout_ms", 2000}}},
            {"kubernetes", {{"in_cluster", false}, {"server", api.url()}, {"token", "t"}}},
            {"leader_election",
             {{"namespace", "fn"}, {"lease_name", "rlscale-controller"}, {"identity", id}, {"lease_duration_s", 2},
              {"renew_deadline_s", 1}, {"retry_period_s", 0.2}}},
            {"functions",
             {{{"name", "fn"}, {"namespace", "fn"}, {"workload", "fn"}, {"min_replicas", 1}, {"max_replicas", 20}, {"policy", "hpa"},
               {"slo", {{"latency_s", 0.5}, {"percentile", 0.9}}}}}},
        };
        std::ofstream(dir / (id + ".json")) << config.dump(2);
        return std::make_unique<child_process>(RLSCALE_CONTROLLER_BINARY, std::vector<std::string>{"--config", (dir / (id + ".json")).string()},
                                               dir / (id + ".log"));
    };
    const auto lines = [&](const std::string& id) {
        std::size_t n = 0;
        for (const auto& [t, records] : ticks_of(dir / (id + ".jsonl"))) n += records.size();
        return n;
    };
    const auto leader_gauge = [&](const std::string& id) {
        httplib::Client http("127.0.0.1", metrics_port[id]);
        const auto r = http.Get("/metrics");
        if (!r || r->status != 200) return std::string("no answer");
        const auto at = r->body.find("\nrlscale_controller_leader ");
        return at == std::string::npos ? std::string("absent") : r->body.substr(at + 27, 1);
    };
    const auto wait_until = [](const auto& cond, std::chrono::seconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!cond() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(50ms);
        return cond();
    };

    auto a = start("controller-a");
    REQUIRE_MESSAGE(wait_until([&] { return lines("controller-a") >= 1; }, 20s), read_file(dir / "controller-a.log"));
    auto b = start("controller-b");
    REQUIRE(wait_until([&] { return read_file(dir / "controller-b.log").find("waiting for the lease") != std::string::npos; }, 20s));
    std::this_thread::sleep_for(3s);  // more than the lease's duration: A renews, B keeps waiting
    CHECK(lines("controller-b") == 0);
    CHECK(b->running());
    CHECK(api.lease("fn", "rlscale-controller").at("spec").at("holderIdentity") == "controller-a");
    CHECK(leader_gauge("controller-a") == "1");
    CHECK(leader_gauge("controller-b") == "0");

    // A stops cleanly and hands the Lease back; B ticks at once, without waiting out the duration.
    // A's lines are counted once it has exited: a tick it had begun when
    // told to stop is finished and logged first.
    CHECK(a->stop() == 0);
    const std::size_t a_lines = lines("controller-a");
    CHECK(a_lines >= 3);
    // Handed back: free, or already taken by B (which retries every 0.2 s).
    CHECK(api.lease("fn", "rlscale-controller").at("spec").value("holderIdentity", std::string()) != "controller-a");
    REQUIRE_MESSAGE(wait_until([&] { return lines("controller-b") >= 1; }, 10s), read_file(dir / "controller-b.log"));
    CHECK(api.lease("fn", "rlscale-controller").at("spec").at("holderIdentity") == "controller-b");
    CHECK(api.lease("fn", "rlscale-controller").at("spec").at("leaseTransitions") == 1);
    CHECK(read_file(dir / "controller-b.log").find("leading: holds the lease fn/rlscale-controller as controller-b") != std::string::npos);

    // The API stops answering: B cannot renew, stops and exits 4.
    api.set_unavailable(true);
    REQUIRE(wait_until([&] { return !b->running(); }, 15s));
    CHECK(b->stop() == 4);
    CHECK(read_file(dir / "controller-b.log").find("lost the lease fn/rlscale-controller") != std::string::npos);
    CHECK(lines("controller-a") == a_lines);
}
