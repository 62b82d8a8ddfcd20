// Tests of rlscale::kubernetes against a loopback HTTP(S) server that
// reproduces the API server's documented objects: autoscaling/v1 Scale with
// metadata.resourceVersion (a stale one gets 409 Conflict), meta/v1 Status
// for 401/403/404/409/422/429 (429 with Retry-After), strategic-merge
// patches of Deployments and the pods/resize subresource, and slow answers.
// No real API server can run here.

#include "gzip_bytes.hpp"
#include "lengthless_dripping_server.hpp"
#include "loopback_socket.hpp"

#include <doctest/doctest.h>

#include <rlscale/kubernetes/kubernetes.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace k8s = rlscale::kubernetes;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json status_object(int code, const std::string& reason, const std::string& message, json details = json::object()) {
    json s = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
              {"message", message}, {"reason", reason},   {"code", code}};
    if (!details.empty()) s["details"] = std::move(details);
    return s;
}

struct fake_api_server {
    std::unique_ptr<httplib::Server> server;
    std::thread thread;
    int port = 0;

    std::mutex mu;
    // The Deployment prod/web and its Scale.
    std::int32_t replicas = 3;
    std::int64_t resource_version = 100;
    std::map<std::string, json> container_resources = {{"app", json::object()}, {"sidecar", json::object()}};
    std::map<std::string, json> pod_resources = {{"app", json::object()}};
    // Behaviour switches.
    std::set<std::string> valid_tokens = {"tok-1"};
    int concurrent_writes = 0;  // after a GET, another writer bumps resourceVersion
    int throttle = 0;           // next N requests get 429
    std::string retry_after = "1";  // the 429's Retry-After header ("" = none)
    json retry_after_seconds;       // its details.retryAfterSeconds (null = the header's value if numeric)
    bool forbidden = false;
    bool invalid_patch = false;
    bool proxy_error = false;   // a proxy in front answers 502 with HTML
    bool wrong_kind = false;    // the answer is not a Scale
    std::function<void(json&)> edit_scale;  // changes every Scale the server answers (malformed objects)
    // Answers every authorised request with exactly this (code, body, content type) instead.
    struct canned_answer {
        int code = 200;
        std::string body;
        std::string content_type = "application/json";
        bool gzip = false;  // sent gzip-compressed (Content-Encoding: gzip), asked or not
    };
    std::optional<canned_answer> canned;
    std::chrono::milliseconds delay{0};
    std::chrono::milliseconds write_delay{0};  // added before answering a change (not a GET)
    bool drip = false;  // GET answers the Scale a byte at a time
    // After applying a change (PUT, PATCH): its answer's status line and
    // headers go out, then the connection closes before the body.
    bool cut_change_answer = false;
    // After applying a change: this status with a Status object instead of the object.
    std::optional<int> applied_change_status;
    // After applying a change: a 200 whose body is not the documented object.
    bool garbled_change_answer = false;
    // What was seen.
    std::vector<std::string> authorizations;
    std::vector<std::string> methods;
    std::string last_patch_body;
    std::string last_patch_type;
    std::string last_patch_path;

    explicit fake_api_server(const std::string& cert = {}, const std::string& key = {}, const std::string& bind_host = "127.0.0.1") {
        if (cert.empty()) {
            server = std::make_unique<httplib::Server>();
        } else {
            server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
        }
        const std::string scale_route = R"(/apis/apps/v1/namespaces/([^/]+)/(deployments|statefulsets)/([^/]+)/scale)";
        server->Get(scale_route, [this](const httplib::Request& rq, httplib::Response& rs) {
            if (!drip) return handle(rq, rs, "GET");
            // The Scale, one byte every 100 ms: no read ever waits long.
            auto body = std::make_shared<std::string>(scale_json().dump());
            rs.set_content_provider(body->size(), "application/json",
                                    [body](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                        std::this_thread::sleep_for(100ms);
                                        return sink.is_writable() && sink.write(body->data() + offset, 1);
                                    });
        });
        server->Put(scale_route, [this](const httplib::Request& rq, httplib::Response& rs) {
            handle(rq, rs, "PUT");
            after_change(rs);
        });
        server->Patch(R"(/apis/apps/v1/namespaces/([^/]+)/(deployments|statefulsets)/([^/]+))",
                      [this](const httplib::Request& rq, httplib::Response& rs) {
                          handle(rq, rs, "PATCH");
                          after_change(rs);
                      });
        server->Patch(R"(/api/v1/namespaces/([^/]+)/pods/([^/]+)/resize)",
                      [this](const httplib::Request& rq, httplib::Response& rs) { handle(rq, rs, "RESIZE"); });
        port = server->bind_to_any_port(bind_host);
        REQUIRE(port > 0);
        thread = std::thread([this] { server->listen_after_bind(); });
        for (int i = 0; i < 200 && !server->is_running(); ++i) std::this_thread::sleep_for(5ms);
    }
    ~fake_api_server() {
        server->stop();
        thread.join();
    }
    fake_api_server(const fake_api_server&) = delete;
    fake_api_server& operator=(const fake_api_server&) = delete;

    std::string url(const char* scheme = "http") const { return std::string(scheme) + "://127.0.0.1:" + std::to_string(port); }

    json scale_json() const {
        json spec = json::object();
        if (replicas != 0) spec["replicas"] = replicas;  // omitempty
        json sc = {{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata",
                 {{"name", "web"},
                  {"namespace", "prod"},
                  {"uid", "6b6a4c2e-3f0b-4d5e-9a51-3c1d7f0e2a11"},
                  {"resourceVersion", std::to_string(resource_version)},
                  {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
                {"spec", spec},
                {"status", {{"replicas", replicas}, {"selector", "app=web"}}}};
        if (edit_scale) edit_scale(sc);
        return sc;
    }

    /// The answer to a change that was applied (a 200), as the switches say.
    void after_change(httplib::Response& rs) {
        std::lock_guard lock(mu);
        if (rs.status != 200) return;
        if (applied_change_status) {
            const int code = *applied_change_status;
            return reply(rs, code, status_object(code, code == 504 ? "Timeout" : "InternalError",
                                                 code == 504 ? "the server was unable to return a response in the time allotted"
                                                             : "etcdserver: request timed out"));
        }
        if (garbled_change_answer) return rs.set_content("{\"kind\":\"Scale\",\"spec\":[", "application/json");
        if (cut_change_answer) {
            // Promise a body, send none: the server closes the connection.
            const std::size_t promised = rs.body.size() + 1;
            rs.body.clear();  // a body would be sent in place of the provider
            rs.set_content_provider(promised, "application/json",
                                    [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
        }
    }

    static void reply(httplib::Response& rs, int code, const json& body) {
        rs.status = code;
        rs.set_content(body.dump(), "application/json");
    }

    static void apply_containers(std::map<std::string, json>& into, const json& containers) {
        for (const auto& c : containers) {
            auto& r = into[c.at("name").get<std::string>()];
            for (const auto& part : {"requests", "limits"}) {
                if (c["resources"].contains(part)) r[part].update(c["resources"][part]);
            }
        }
    }

    void handle(const httplib::Request& rq, httplib::Response& rs, const std::string& op) {
        std::chrono::milliseconds d;
        {
            std::lock_guard lock(mu);
            d = delay + (op != "GET" ? write_delay : std::chrono::milliseconds(0));
        }
        if (d.count() > 0) std::this_thread::sleep_for(d);
        std::lock_guard lock(mu);
        methods.push_back(op);
        const auto auth = rq.get_header_value("Authorization");
        authorizations.push_back(auth);
        if (auth.rfind("Bearer ", 0) != 0 || valid_tokens.count(auth.substr(7)) == 0) {
            return reply(rs, 401, status_object(401, "Unauthorized", "Unauthorized"));
        }
        if (throttle > 0) {
            --throttle;
            if (!retry_after.empty()) rs.set_header("Retry-After", retry_after);
            json details = json::object();
            if (!retry_after_seconds.is_null()) {
                details["retryAfterSeconds"] = retry_after_seconds;
            } else if (!retry_after.empty() && retry_after.size() < 10 &&
                       retry_after.find_first_not_of("0123456789") == std::string::npos) {
                details["retryAfterSeconds"] = std::stoi(retry_after);
            }
            return reply(rs, 429, status_object(429, "TooManyRequests", "Too many requests, please try again later.", details));
        }
        if (canned) {
            rs.status = canned->code;
            if (canned->gzip) rs.set_header("Content-Encoding", "gzip");
            rs.set_content(canned->gzip ? rlscale::test::gzip_bytes(canned->body) : canned->body, canned->content_type);
            return;
        }
        if (proxy_error) {
            rs.status = 502;
            rs.set_content("<html><body>502 Bad Gateway</body></html>", "text/html");
            return;
        }
        const std::string ns = rq.matches[1];
        if (op == "RESIZE") {
            const std::string pod = rq.matches[2];
            if (ns != "prod" || pod != "web-0") {
                return reply(rs, 404, status_object(404, "NotFound", "pods \"" + pod + "\" not found",
                                                    {{"name", pod}, {"kind", "pods"}}));
            }
            last_patch_body = rq.body;
            last_patch_type = rq.get_header_value("Content-Type");
            last_patch_path = rq.path;
            if (last_patch_type != "application/strategic-merge-patch+json") {
                return reply(rs, 415, status_object(415, "UnsupportedMediaType", "the body of the request was in an unknown format"));
            }
            apply_containers(pod_resources, json::parse(rq.body)["spec"]["containers"]);
            json containers = json::array();
            for (const auto& [n, r] : pod_resources) containers.push_back({{"name", n}, {"resources", r}});
            return reply(rs, 200, {{"kind", "Pod"}, {"apiVersion", "v1"},
                                   {"metadata", {{"name", pod}, {"namespace", ns}}},
                                   {"spec", {{"containers", containers}}}});
        }
        const std::string kind = rq.matches[2];
        const std::string name = rq.matches[3];
        if (ns != "prod" || kind != "deployments" || name != "web") {
            return reply(rs, 404, status_object(404, "NotFound", kind + ".apps \"" + name + "\" not found",
                                                {{"name", name}, {"group", "apps"}, {"kind", kind}}));
        }
        if (forbidden && op != "GET") {
            return reply(rs, 403, status_object(403, "Forbidden",
                                                "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:prod:scaler\" "
                                                "cannot update resource \"deployments/scale\" in API group \"apps\" in the namespace \"prod\"",
                                                {{"name", "web"}, {"group", "apps"}, {"kind", "deployments"}}));
        }
        if (op == "GET") {
            auto sc = scale_json();
            if (wrong_kind) sc["kind"] = "Deployment";
            reply(rs, 200, sc);
            if (concurrent_writes > 0) {  // someone else updates the Deployment right after our read
                --concurrent_writes;
                ++resource_version;
            }
            return;
        }
        if (op == "PUT") {
            const auto body = json::parse(rq.body);
            if (body.value("kind", "") != "Scale" || body.value("apiVersion", "") != "autoscaling/v1") {
                return reply(rs, 400, status_object(400, "BadRequest", "expected an autoscaling/v1 Scale"));
            }
            if (body["metadata"].value("resourceVersion", "") != std::to_string(resource_version)) {
                return reply(rs, 409, status_object(409, "Conflict",
                                                    "Operation cannot be fulfilled on deployments.apps \"web\": the object has been "
                                                    "modified; please apply your changes to the latest version and try again",
                                                    {{"name", "web"}, {"group", "apps"}, {"kind", "deployments"}}));
            }
            replicas = body["spec"].value("replicas", 0);
            ++resource_version;
            return reply(rs, 200, scale_json());
        }
        // PATCH of the Deployment.
        last_patch_body = rq.body;
        last_patch_type = rq.get_header_value("Content-Type");
        last_patch_path = rq.path;
        if (last_patch_type != "application/strategic-merge-patch+json") {
            return reply(rs, 415, status_object(415, "UnsupportedMediaType", "the body of the request was in an unknown format"));
        }
        if (invalid_patch) {
            json details = {{"name", "web"}, {"group", "apps"}, {"kind", "Deployment"},
                            {"causes", json::array({{{"reason", "FieldValueInvalid"},
                                                     {"message", "Invalid value: \"600m\": must be less than or equal to cpu limit"},
                                                     {"field", "spec.template.spec.containers[0].resources.requests"}}})}};
            return reply(rs, 422, status_object(422, "Invalid",
                                                "Deployment.apps \"web\" is invalid: spec.template.spec.containers[0].resources.requests: "
                                                "Invalid value: \"600m\": must be less than or equal to cpu limit",
                                                details));
        }
        const json patch = json::parse(rq.body);
        // A resourceVersion in a patch is a precondition, as the API server takes it.
        if (patch.contains("metadata") && patch["metadata"].contains("resourceVersion") &&
            patch["metadata"]["resourceVersion"] != std::to_string(resource_version)) {
            return reply(rs, 409, status_object(409, "Conflict",
                                                "Operation cannot be fulfilled on deployments.apps \"web\": the object has been "
                                                "modified; please apply your changes to the latest version and try again",
                                                {{"name", "web"}, {"group", "apps"}, {"kind", "deployments"}}));
        }
        if (patch["spec"].contains("replicas")) {
            const json& n = patch["spec"]["replicas"];
            if (!n.is_number_integer() || n.get<long long>() < 0) {
                return reply(rs, 422, status_object(422, "Invalid",
                                                    "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: " + n.dump() +
                                                        ": must be greater than or equal to 0"));
            }
            replicas = n.get<int>();
        }
        apply_containers(container_resources, patch["spec"]["template"]["spec"]["containers"]);
        ++resource_version;
        json containers = json::array();
        for (const auto& [n, r] : container_resources) containers.push_back({{"name", n}, {"resources", r}});
        return reply(rs, 200, {{"kind", "Deployment"}, {"apiVersion", "apps/v1"},
                               {"metadata", {{"name", "web"}, {"namespace", "prod"},
                                             {"resourceVersion", std::to_string(resource_version)}}},
                               {"spec", {{"replicas", replicas}, {"template", {{"spec", {{"containers", containers}}}}}}}});
    }

    std::size_t requests() {
        std::lock_guard lock(mu);
        return methods.size();
    }
};

k8s::client_config test_config(const fake_api_server& s) {
    auto c = k8s::explicit_config(s.url(), "tok-1");
    c.connect_timeout = 2s;
    c.read_timeout = 3s;
    c.write_timeout = 3s;
    c.retry_backoff = 10ms;
    c.max_retry_wait = 2s;
    c.max_replicas = 50;
    return c;
}

std::filesystem::path temp_dir(const std::string& name) {
    auto p = std::filesystem::path(RLSCALE_K8S_TEST_TMPDIR) / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Gives `cfg` timeouts summing to one second (300 ms connect, 500 ms read,
/// 200 ms write) and checks that each of `calls` reads of a Scale from a
/// server that never finishes its answer in time is cut there with a
/// timeout_error, all within `calls` × 3 s.
void expect_cut_at_one_second(k8s::client_config cfg, int calls = 1) {
    cfg.connect_timeout = 300ms;
    cfg.read_timeout = 500ms;
    cfg.write_timeout = 200ms;
    k8s::client cli(cfg);
    const auto t = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
        CHECK_THROWS_WITH_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"), doctest::Contains("within 1000 ms"),
                             k8s::timeout_error);
    }
    CHECK(seconds_since(t) < 3.0 * calls);
    CHECK(seconds_since(t) > 0.9 * calls);
}

}  // namespace

TEST_CASE("quantities are formatted as Kubernetes quantities and validated") {
    CHECK(k8s::format_cpu(500) == "500m");
    CHECK(k8s::format_cpu(2000) == "2");
    CHECK(k8s::format_cpu(1) == "1m");
    CHECK(k8s::format_memory(256LL << 20) == "256Mi");
    CHECK(k8s::format_memory(1LL << 30) == "1Gi");
    CHECK(k8s::format_memory(3LL << 40) == "3Ti");
    CHECK(k8s::format_memory(64 * 1024) == "64Ki");
    CHECK(k8s::format_memory(1000) == "1000");
    CHECK_THROWS_AS((void)k8s::format_cpu(0), rlscale::config_error);
    CHECK_THROWS_AS((void)k8s::format_memory(-5), rlscale::config_error);
    try {
        (void)k8s::format_cpu(-1, "containers[0].limits.cpu_millicores");
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "containers[0].limits.cpu_millicores");
        CHECK(std::string(e.what()).find("-1") != std::string::npos);
    }
}

TEST_CASE("explicit configuration validates and keeps TLS verification on") {
    const auto c = k8s::explicit_config("https://api.example:6443/", "t");
    CHECK(c.server == "https://api.example:6443");
    CHECK_FALSE(c.insecure_skip_tls_verify);
    CHECK_THROWS_AS((void)k8s::explicit_config("api.example:6443", "t"), rlscale::config_error);
    CHECK_THROWS_AS((void)k8s::explicit_config("https://a", "t", "/nonexistent/ca.crt"), rlscale::config_error);
    auto bad = c;
    bad.max_attempts = 0;
    CHECK_THROWS_AS(k8s::client{bad}, rlscale::config_error);
}

TEST_CASE("each timeout is bounded above by 24 h, and the error names the field and the value") {
    const auto c = k8s::explicit_config("https://api.example:6443", "t");
    const auto refusal = [](const k8s::client_config& cfg) -> std::string {
        try {
            k8s::client cli(cfg);
        } catch (const rlscale::config_error& e) {
            return e.field() + ": " + e.what();
        }
        return "accepted";
    };
    auto cfg = c;
    cfg.read_timeout = std::chrono::milliseconds::max();  // summed with the others and scaled by 9: overflow
    std::string r = refusal(cfg);
    CHECK(r.rfind("read_timeout: ", 0) == 0);
    CHECK(r.find("got 9223372036854775807 ms") != std::string::npos);
    cfg = c;
    cfg.connect_timeout = std::chrono::hours(24) + 1ms;
    r = refusal(cfg);
    CHECK(r.rfind("connect_timeout: ", 0) == 0);
    CHECK(r.find("got 86400001 ms") != std::string::npos);
    cfg = c;
    cfg.write_timeout = std::chrono::hours(25);
    CHECK(refusal(cfg).rfind("write_timeout: ", 0) == 0);
    cfg = c;
    cfg.read_timeout = 0ms;
    r = refusal(cfg);
    CHECK(r.rfind("read_timeout: ", 0) == 0);
    CHECK(r.find("got 0 ms") != std::string::npos);
    cfg = c;
    cfg.connect_timeout = cfg.read_timeout = cfg.write_timeout = std::chrono::hours(24);
    CHECK(refusal(cfg) == "accepted");
}

TEST_CASE("reads the Scale of a Deployment") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    const auto sc = cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
    CHECK(sc.name == "web");
    CHECK(sc.namespace_name == "prod");
    CHECK(sc.resource_version == "100");
    CHECK(sc.spec_replicas == 3);
    CHECK(sc.status_replicas == 3);
    CHECK(sc.selector == "app=web");
    CHECK(s.authorizations.at(0) == "Bearer tok-1");
}

TEST_CASE("sets replicas with GET then PUT carrying the resourceVersion and zero omits spec.replicas") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    auto sc = cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 7);
    CHECK(sc.spec_replicas == 7);
    CHECK(s.replicas == 7);
    CHECK(s.methods == std::vector<std::string>{"GET", "PUT"});
    sc = cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 0);
    CHECK(s.replicas == 0);
    CHECK(sc.spec_replicas == 0);
    CHECK_FALSE(sc.object["spec"].contains("replicas"));
    // Already at the target: one GET, no PUT.
    s.methods.clear();
    (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 0);
    CHECK(s.methods == std::vector<std::string>{"GET"});
}

TEST_CASE("a 409 Conflict from a stale resourceVersion is retried with a fresh read") {
    fake_api_server s;
    s.concurrent_writes = 2;
    k8s::client cli(test_config(s));
    const auto sc = cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 9);
    CHECK(sc.spec_replicas == 9);
    CHECK(s.replicas == 9);
    CHECK(s.methods == std::vector<std::string>{"GET", "PUT", "GET", "PUT", "GET", "PUT"});
}

TEST_CASE("a change conditional on the count read leaves a count someone else changed as it is") {
    fake_api_server s;
    s.replicas = 4;
    k8s::client cli(test_config(s));
    // Read 4 and decided 8: the count is still 4, so it is set.
    CHECK(cli.change_replicas(k8s::workload_kind::deployment, "prod", "web", 8, 4).count_sent);
    CHECK(s.replicas == 8);
    CHECK(s.methods == std::vector<std::string>{"GET", "PUT"});
    // Decided from 4, but it is 8 now (`kubectl scale`, another controller): nothing is sent.
    s.methods.clear();
    try {
        (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 6, 4);
        FAIL("expected count_changed");
    } catch (const k8s::count_changed& e) {
        CHECK(e.expected() == 4);
        CHECK(e.found() == 8);
        CHECK(std::string(e.what()).find("spec.replicas is 8, not the 4") != std::string::npos);
    }
    CHECK(s.methods == std::vector<std::string>{"GET"});
    CHECK(s.replicas == 8);
    // Already at the count asked for, whoever set it: done, nothing sent,
    // and said so (the change is not the caller's).
    s.methods.clear();
    const auto there = cli.change_replicas(k8s::workload_kind::deployment, "prod", "web", 8, 4);
    CHECK_FALSE(there.count_sent);
    CHECK(there.result.spec_replicas == 8);
    CHECK(s.methods == std::vector<std::string>{"GET"});
    CHECK_FALSE(cli.change_replicas(k8s::workload_kind::deployment, "prod", "web", 8).count_sent);

    // The same for the count and the resources in one patch, whose
    // resourceVersion is a precondition: a write between the read and the
    // patch is answered 409, and the read, the check and the patch are retried.
    s.methods.clear();
    s.concurrent_writes = 1;
    (void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 9,
                                                  {{.container = "app", .limits = {.cpu_millicores = 500}}}, 8);
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH", "GET", "PATCH"});
    CHECK(s.replicas == 9);
    CHECK(json::parse(s.last_patch_body)["metadata"]["resourceVersion"] == std::to_string(s.resource_version - 1));
    s.methods.clear();
    CHECK_THROWS_AS((void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 2,
                                                                 {{.container = "app", .limits = {.cpu_millicores = 250}}}, 8),
                    k8s::count_changed);
    CHECK(s.methods == std::vector<std::string>{"GET"});
    CHECK(s.replicas == 9);
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "500m");
    // The count asked for is already there (read 8, now 9, set by another
    // writer): the resources go alone, the count is left out of the patch.
    s.methods.clear();
    const auto alone = cli.change_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 9,
                                                                  {{.container = "app", .limits = {.cpu_millicores = 750}}}, 8);
    CHECK_FALSE(alone.count_sent);
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH"});
    CHECK_FALSE(json::parse(s.last_patch_body)["spec"].contains("replicas"));
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "750m");
    CHECK(s.replicas == 9);
    CHECK(cli.change_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 7,
                                                     {{.container = "app", .limits = {.cpu_millicores = 750}}}, 9)
              .count_sent);
    CHECK(json::parse(s.last_patch_body)["spec"]["replicas"] == 7);
    CHECK(s.replicas == 7);
}

TEST_CASE("container resources conditional on the workload as read: GET the Scale, PATCH with its resourceVersion, again after a 409") {
    fake_api_server s;
    s.replicas = 4;
    k8s::client cli(test_config(s));
    (void)cli.set_template_resources_if_unchanged(k8s::workload_kind::deployment, "prod", "web",
                                                  {{.container = "app", .limits = {.cpu_millicores = 500}}});
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH"});
    const json sent = json::parse(s.last_patch_body);
    CHECK(sent["metadata"]["resourceVersion"] == std::to_string(s.resource_version - 1));
    CHECK_FALSE(sent["spec"].contains("replicas"));  // no count, and none checked
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "500m");
    CHECK(s.replicas == 4);
    // A write between the read and the patch (a new leader's): 409, then read and patch again.
    s.methods.clear();
    s.concurrent_writes = 1;
    (void)cli.set_template_resources_if_unchanged(k8s::workload_kind::deployment, "prod", "web",
                                                  {{.container = "app", .limits = {.cpu_millicores = 750}}});
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH", "GET", "PATCH"});
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "750m");
    // The retry is a new write: a gate that closed meanwhile refuses it, and the late patch changed nothing.
    s.methods.clear();
    s.concurrent_writes = 1;
    bool may_write = true;
    cli.gate_writes([&may_write] { return std::exchange(may_write, false); }, "this replica no longer holds the Lease");
    CHECK_THROWS_WITH_AS((void)cli.set_template_resources_if_unchanged(k8s::workload_kind::deployment, "prod", "web",
                                                                       {{.container = "app", .limits = {.cpu_millicores = 250}}}),
                         doctest::Contains("no longer holds the Lease"), rlscale::error);
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH", "GET"});
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "750m");
}

TEST_CASE("container resources conditional on the count they were decided for: another count, nothing sent") {
    fake_api_server s;
    s.replicas = 3;  // set by another writer since the caller read 10
    k8s::client cli(test_config(s));
    CHECK_THROWS_AS((void)cli.set_template_resources_if_unchanged(k8s::workload_kind::deployment, "prod", "web",
                                                                  {{.container = "app", .limits = {.memory_bytes = 1024LL << 20}}}, 10),
                    k8s::count_changed);
    CHECK(s.methods == std::vector<std::string>{"GET"});
    CHECK(s.replicas == 3);
    CHECK(s.container_resources["app"] == json::object());
    // The count read: sent, and the count left out of the patch.
    s.methods.clear();
    (void)cli.set_template_resources_if_unchanged(k8s::workload_kind::deployment, "prod", "web",
                                                  {{.container = "app", .limits = {.memory_bytes = 1024LL << 20}}}, 3);
    CHECK(s.methods == std::vector<std::string>{"GET", "PATCH"});
    CHECK_FALSE(json::parse(s.last_patch_body)["spec"].contains("replicas"));
    CHECK(s.container_resources["app"]["limits"]["memory"] == "1Gi");
    CHECK(s.replicas == 3);
}

TEST_CASE("conflicts are retried a bounded number of times then a typed error") {
    fake_api_server s;
    s.concurrent_writes = 1000;
    auto cfg = test_config(s);
    cfg.max_attempts = 3;
    k8s::client cli(cfg);
    try {
        (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 9);
        FAIL("expected retries_exhausted");
    } catch (const k8s::retries_exhausted& e) {
        CHECK(e.attempts() == 3);
        CHECK(e.is_conflict());
        CHECK(e.reason() == "Conflict");
        CHECK(e.status_object()["details"]["name"] == "web");
    }
    CHECK(s.methods.size() == 6);  // 3 × (GET, PUT)
    CHECK(s.replicas == 3);
}

TEST_CASE("429 TooManyRequests with Retry-After is honoured") {
    fake_api_server s;
    s.throttle = 1;
    s.retry_after = "1";
    k8s::client cli(test_config(s));
    const auto t = std::chrono::steady_clock::now();
    (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 4);
    CHECK(seconds_since(t) >= 0.95);
    CHECK(s.replicas == 4);
}

TEST_CASE("429 TooManyRequests with Retry-After is capped and attempts are bounded") {
    fake_api_server s;
    s.throttle = 1;
    s.retry_after = "3600";
    auto cfg = test_config(s);
    cfg.max_retry_wait = 200ms;
    cfg.max_attempts = 3;
    k8s::client cli(cfg);
    auto t = std::chrono::steady_clock::now();
    (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
    CHECK(seconds_since(t) >= 0.19);
    CHECK(seconds_since(t) < 2.0);

    s.throttle = 1000;
    t = std::chrono::steady_clock::now();
    try {
        (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 4);
        FAIL("expected retries_exhausted");
    } catch (const k8s::retries_exhausted& e) {
        CHECK(e.attempts() == 3);
        CHECK(e.is_too_many_requests());
        REQUIRE(e.retry_after().has_value());
        CHECK(e.retry_after()->count() == 3600);
    }
    CHECK(seconds_since(t) < 2.0);
    CHECK(s.replicas == 3);
}

TEST_CASE("401 403 404 and 422 Status objects become typed errors") {
    fake_api_server s;
    SUBCASE("401 Unauthorized") {
        auto cfg = test_config(s);
        cfg.token = "wrong";
        k8s::client cli(cfg);
        try {
            (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.is_unauthorized());
            CHECK(e.reason() == "Unauthorized");
            CHECK(e.method() == "GET");
        }
    }
    SUBCASE("403 Forbidden") {
        s.forbidden = true;
        k8s::client cli(test_config(s));
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 5);
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.is_forbidden());
            CHECK(e.reason() == "Forbidden");
            CHECK(e.status_message().find("deployments/scale") != std::string::npos);
        }
        CHECK(s.methods == std::vector<std::string>{"GET", "PUT"});  // not retried
    }
    SUBCASE("404 NotFound") {
        k8s::client cli(test_config(s));
        try {
            (void)cli.get_scale(k8s::workload_kind::statefulset, "prod", "db");
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.is_not_found());
            CHECK(e.reason() == "NotFound");
            CHECK(e.status_object()["details"]["kind"] == "statefulsets");
            CHECK(e.path() == "/apis/apps/v1/namespaces/prod/statefulsets/db/scale");
        }
    }
    SUBCASE("422 Invalid") {
        s.invalid_patch = true;
        k8s::client cli(test_config(s));
        try {
            (void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                             {{.container = "app", .requests = {.cpu_millicores = 600}}});
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.is_invalid());
            CHECK(e.reason() == "Invalid");
            CHECK(e.status_object()["details"]["causes"][0]["field"] == "spec.template.spec.containers[0].resources.requests");
        }
        CHECK(s.methods.size() == 1);
    }
}

TEST_CASE("answers that are not Status or Scale objects") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    s.proxy_error = true;
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.code() == 502);
        CHECK(e.reason() == "Unknown");
        CHECK(e.status_object().is_null());
        CHECK(e.status_message().find("Bad Gateway") != std::string::npos);
    }
    s.proxy_error = false;
    s.wrong_kind = true;
    CHECK_THROWS_AS((void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 5), k8s::transport_error);
    CHECK(s.replicas == 3);
}

namespace {

/// What the controller does with an error: put its text into a JSON log line.
/// nlohmann's dump() throws type_error 316 on text that is not valid UTF-8.
bool dumps_as_json(const std::string& text) {
    try {
        (void)json{{"error", text}}.dump();
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

/// "61 FF 80": the bytes of `s` in hex, to show what a failing input was.
std::string hex_bytes(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        out += "0123456789ABCDEF"[c >> 4];
        out += "0123456789ABCDEF"[c & 0xF];
        out += ' ';
    }
    return out;
}

/// `depth` arrays inside each other around `inner`: [[[1]]].
std::string deep_arrays(std::size_t depth, const std::string& inner = "1") {
    return std::string(depth, '[') + inner + std::string(depth, ']');
}

/// `depth` objects inside each other: {"a":{"a":{}}}.
std::string deep_objects(std::size_t depth) {
    std::string s;
    for (std::size_t i = 1; i < depth; ++i) s += R"({"a":)";
    s += "{}";
    s += std::string(depth - 1, '}');
    return s;
}

/// A Scale as the server would send it, as text, with `replicas` spliced in.
std::string scale_text(const std::string& replicas) {
    return R"({"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"prod","resourceVersion":"1"},)"
           R"("spec":{"replicas":)" + replicas + R"(},"status":{"replicas":3,"selector":"app=web"}})";
}

}  // namespace

TEST_CASE("error texts from a non-UTF-8 or huge answer are valid UTF-8, bounded, and fit in a JSON log line") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    std::string fragment;  // what the message must still show
    SUBCASE("a proxy's Latin-1 502 page") {
        s.canned = {{502, "<html><head><title>502</title></head>\r\n<body>Passerelle d\xE9" "faillante \xAB" "proxy\xBB</body></html>\n",
                     "text/html; charset=iso-8859-1"}};
        fragment = "Passerelle d";
    }
    SUBCASE("a body cut in the middle of a multi-byte character") {
        s.canned = {{503, std::string(199, 'a') + "\xC3\xA9" + std::string(300, 'b'), "text/plain"}};  // é is bytes 200-201
        fragment = std::string(150, 'a');
    }
    SUBCASE("invalid bytes, overlong encodings, surrogates and control characters") {
        s.canned = {{500, std::string("bad\0gate\x1B[31mway \xFF\xFE \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 \xE2\x82", 34), "text/plain"}};
        fragment = "bad";
    }
    SUBCASE("a multi-megabyte page") {
        std::string page;
        for (int i = 0; i < 1'000'000; ++i) page += "\xE2\x82\xAC";  // €, 3 bytes each
        s.canned = {{504, page, "text/html"}};
        fragment = "\xE2\x82\xAC";
    }
    SUBCASE("a Status with a megabyte message and a control character in its reason") {
        s.canned = {{500, status_object(500, "Internal\x1B[2JError", std::string(1 << 20, 'x') + "\n").dump()}};
        fragment = "xxxx";
    }
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.code() == s.canned->code);
        CHECK(dumps_as_json(e.what()));
        CHECK(dumps_as_json(e.status_message()));
        CHECK(dumps_as_json(e.reason()));
        CHECK(e.reason().find('\x1B') == std::string::npos);
        CHECK(e.status_message().size() <= 1024);
        CHECK(std::string_view(e.what()).size() <= 1200);
        CHECK(e.status_message().find(fragment) != std::string::npos);
    }
}

TEST_CASE("a name that is not UTF-8 is refused with a message that fits in a JSON log line") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "w\xE9" "b");
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "name");
        CHECK(dumps_as_json(e.what()));
    }
    CHECK(s.requests() == 0);
}

TEST_CASE("answers of more JSON values than the bound are refused before parsing, a Status included") {
    fake_api_server s;
    auto cfg = test_config(s);
    cfg.max_attempts = 1;
    k8s::client cli(cfg);
    // {}, {}, ...: three bytes a value, tens of bytes each once parsed; 6 MB
    // of them is inside the 16 MiB answer limit.
    std::string many;
    many.reserve(3 * (k8s::detail::max_json_values + 10));
    for (std::size_t i = 0; i <= k8s::detail::max_json_values; ++i) many += "{},";
    many += "{}";
    SUBCASE("a Scale") {
        s.canned = {{200, R"({"kind":"Scale","spec":{"replicas":2},"status":{"replicas":2},"x":[)" + many + "]}"}};
        CHECK_THROWS_WITH_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"),
                             doctest::Contains("JSON of more than 1048576 values, not read"), k8s::transport_error);
    }
    SUBCASE("a 500 Status") {
        s.canned = {{500, R"({"kind":"Status","status":"Failure","reason":"InternalError","code":500,"details":[)" + many + "]}"}};
        try {
            (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.code() == 500);
            CHECK(e.status_object().is_null());
            CHECK(e.status_message().find("more than 1048576 JSON values") != std::string::npos);
        }
    }
}

TEST_CASE("answers nested 100000 levels deep are refused before parsing, with bounded errors") {
    fake_api_server s;
    auto cfg = test_config(s);
    cfg.max_attempts = 1;
    k8s::client cli(cfg);
    constexpr std::size_t depth = 100'000;
    SUBCASE("a Scale whose spec.replicas is deep arrays") {
        s.canned = {{200, scale_text(deep_arrays(depth))}};
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 5);
            FAIL("expected transport_error");
        } catch (const k8s::transport_error& e) {
            CHECK(std::string(e.what()).find("nested deeper than 64") != std::string::npos);
            CHECK(std::string_view(e.what()).size() <= 400);
        }
        CHECK(s.methods == std::vector<std::string>{"GET"});
    }
    SUBCASE("a deep top-level array") {
        s.canned = {{200, deep_arrays(depth)}};
        CHECK_THROWS_WITH_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"),
                             doctest::Contains("nested deeper than 64"), k8s::transport_error);
    }
    SUBCASE("a patched Deployment with deep objects") {
        s.canned = {{200, R"({"kind":"Deployment","spec":)" + deep_objects(depth) + "}"}};
        CHECK_THROWS_WITH_AS((void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                                              {{.container = "app", .limits = {.cpu_millicores = 100}}}),
                             doctest::Contains("nested deeper than 64"), k8s::transport_error);
    }
    SUBCASE("a 500 Status whose details are deep") {
        s.canned = {{500, R"({"kind":"Status","status":"Failure","reason":"InternalError","code":500,"details":)" +
                              deep_objects(depth) + "}"}};
        try {
            (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
            FAIL("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.code() == 500);
            CHECK(e.reason() == "InternalError");
            CHECK(e.status_object().is_null());
            CHECK(e.status_message().find("nested deeper than 64") != std::string::npos);
            CHECK(dumps_as_json(e.what()));
        }
    }
    SUBCASE("a 429 Status whose details are deep, retries used up") {
        s.canned = {{429, R"({"kind":"Status","status":"Failure","reason":"TooManyRequests","code":429,"details":)" +
                              deep_arrays(depth) + "}"}};
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 5);
            FAIL("expected retries_exhausted");
        } catch (const k8s::retries_exhausted& e) {
            CHECK(e.code() == 429);
            CHECK(e.attempts() == 1);
            CHECK(e.status_object().is_null());
        }
    }
}

TEST_CASE("nesting up to 64 levels is read, and brackets inside strings do not count") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    const auto patch = [&] {
        return cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                          {{.container = "app", .limits = {.cpu_millicores = 100}}});
    };
    s.canned = {{200, R"({"kind":"Deployment","spec":)" + deep_arrays(63) + "}"}};  // 64 levels with the outer object
    CHECK(patch()["kind"] == "Deployment");
    s.canned = {{200, R"({"kind":"Deployment","spec":)" + deep_arrays(64) + "}"}};
    CHECK_THROWS_AS((void)patch(), k8s::transport_error);

    // 100000 brackets and escaped quotes inside a string are text, not nesting.
    const std::string text = std::string(100'000, '[') + "\\\"{{{";
    s.canned = {{200, R"({"kind":"Deployment","note":")" + text + R"("})"}};
    CHECK(patch()["note"].get<std::string>().size() == 100'004);
    // (A refusal: a 500 to a change would leave its outcome unknown.)
    s.canned = {{422, status_object(422, "Invalid", std::string(100'000, '{')).dump()}};
    try {
        (void)patch();
        FAIL("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.status_object().is_object());
        CHECK(e.status_message().rfind("{{{{", 0) == 0);
        CHECK(e.status_message().size() <= 1024);
    }
}

TEST_CASE("a malformed Scale is a transport_error naming the field and the HTTP status, and nothing is written") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    struct bad_scale {
        std::string what;
        std::function<void(json&)> edit;
        std::string named;  // the message names this
    };
    const std::vector<bad_scale> cases = {
        {"kind is a number", [](json& j) { j["kind"] = 5; }, "kind"},
        {"kind is another kind", [](json& j) { j["kind"] = "Deployment"; }, "kind"},
        {"metadata is a string", [](json& j) { j["metadata"] = "web"; }, "metadata"},
        {"metadata.resourceVersion is a number", [](json& j) { j["metadata"]["resourceVersion"] = 100; }, "metadata.resourceVersion"},
        {"metadata.name is an array", [](json& j) { j["metadata"]["name"] = json::array({"web"}); }, "metadata.name"},
        {"spec is missing", [](json& j) { j.erase("spec"); }, "spec"},
        {"spec is null", [](json& j) { j["spec"] = nullptr; }, "spec"},
        {"spec is a string", [](json& j) { j["spec"] = "three"; }, "spec"},
        {"spec is an array", [](json& j) { j["spec"] = json::array({3}); }, "spec"},
        {"spec.replicas is a string", [](json& j) { j["spec"]["replicas"] = "3"; }, "spec.replicas"},
        {"spec.replicas is negative", [](json& j) { j["spec"]["replicas"] = -1; }, "spec.replicas"},
        {"spec.replicas is beyond int32", [](json& j) { j["spec"]["replicas"] = std::int64_t{1} << 40; }, "spec.replicas"},
        {"spec.replicas is beyond int64", [](json& j) { j["spec"]["replicas"] = UINT64_MAX; }, "spec.replicas"},
        {"spec.replicas is 1e300", [](json& j) { j["spec"]["replicas"] = 1e300; }, "spec.replicas"},
        {"spec.replicas is a megabyte string", [](json& j) { j["spec"]["replicas"] = std::string(1 << 20, '7'); }, "spec.replicas"},
        {"status is a string", [](json& j) { j["status"] = "ok"; }, "status"},
        {"status.replicas is 2.5", [](json& j) { j["status"]["replicas"] = 2.5; }, "status.replicas"},
        {"status.selector is a number", [](json& j) { j["status"]["selector"] = 5; }, "status.selector"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        s.edit_scale = c.edit;
        s.methods.clear();
        s.replicas = 3;
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 7);
            FAIL_CHECK("expected transport_error");
        } catch (const k8s::transport_error& e) {
            const std::string w = e.what();
            CHECK_MESSAGE(w.find(c.named) != std::string::npos, w);
            CHECK_MESSAGE(w.find("200") != std::string::npos, w);
            CHECK(w.size() <= 400);
            CHECK(dumps_as_json(w));
        } catch (const std::exception& e) {
            FAIL_CHECK("escaped as another type: " << std::string(e.what()));
        }
        CHECK(s.methods == std::vector<std::string>{"GET"});
        CHECK(s.replicas == 3);
    }
}

TEST_CASE("a malformed Status is still an api_error with the HTTP code and a derived reason") {
    fake_api_server s;
    auto cfg = test_config(s);
    cfg.max_attempts = 2;
    k8s::client cli(cfg);
    struct bad_status {
        int code;
        std::string body;
        std::string reason;
    };
    const std::vector<bad_status> cases = {
        {500, R"({"kind":5,"message":"x"})", "InternalError"},
        {409, R"({"kind":"Status","reason":5,"message":["a"],"code":"x","details":[]})", "Conflict"},
        {422, R"({"kind":"Status","reason":"Invalid","message":"bad","details":{"retryAfterSeconds":"soon"}})", "Invalid"},
        {404, R"(["kind","Status"])", "NotFound"},
        {403, "null", "Forbidden"},
        {502, "", "Unknown"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body);
        s.canned = {{c.code, c.body}};
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 7);
            FAIL_CHECK("expected api_error");
        } catch (const k8s::api_error& e) {
            CHECK(e.code() == c.code);
            CHECK(e.reason() == c.reason);
            CHECK(e.method() == "GET");
            CHECK(dumps_as_json(e.what()));
        } catch (const std::exception& e) {
            FAIL_CHECK("escaped as another type: " << std::string(e.what()));
        }
    }
}

TEST_CASE("printable_excerpt keeps valid UTF-8, escapes everything else, and never exceeds its bound") {
    using k8s::detail::printable_excerpt;
    const auto whole = [](std::string_view t) { return printable_excerpt(t, 1000); };
    // Valid text, including 2-, 3- and 4-byte characters and the edges of the valid ranges, is kept.
    CHECK(whole("Deployment.apps \"web\" is invalid") == "Deployment.apps \"web\" is invalid");
    CHECK(whole("caf\xC3\xA9 \xE2\x82\xAC" "5 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80") ==
          "caf\xC3\xA9 \xE2\x82\xAC" "5 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
    CHECK(whole("\xED\x9F\xBF|\xEE\x80\x80|\xF4\x8F\xBF\xBF|\xC2\xA0") == "\xED\x9F\xBF|\xEE\x80\x80|\xF4\x8F\xBF\xBF|\xC2\xA0");
    // Invalid bytes (Latin-1, stray continuation bytes, bytes never used in UTF-8) become \xNN.
    CHECK(whole("d\xE9" "faillante") == "d\\xE9faillante");
    CHECK(whole("\x80\xBF" "a") == "\\x80\\xBFa");
    CHECK(whole("\xFE\xFF\xC0\xC1\xF5\xF8") == "\\xFE\\xFF\\xC0\\xC1\\xF5\\xF8");
    // Truncated sequences, at the end or followed by something else.
    CHECK(whole("ab\xE2\x82") == "ab\\xE2\\x82");
    CHECK(whole("\xE2\x82" "A") == "\\xE2\\x82A");
    CHECK(whole("\xF0\x9F\x98") == "\\xF0\\x9F\\x98");
    CHECK(whole("\xC3") == "\\xC3");
    // Overlong encodings of '/' and of U+07FF / U+FFFF.
    CHECK(whole("\xC0\xAF") == "\\xC0\\xAF");
    CHECK(whole("\xE0\x80\xAF") == "\\xE0\\x80\\xAF");
    CHECK(whole("\xF0\x80\x80\xAF") == "\\xF0\\x80\\x80\\xAF");
    CHECK(whole("\xE0\x9F\xBF") == "\\xE0\\x9F\\xBF");
    CHECK(whole("\xF0\x8F\xBF\xBF") == "\\xF0\\x8F\\xBF\\xBF");
    // UTF-16 surrogates and code points above U+10FFFF.
    CHECK(whole("\xED\xA0\x80") == "\\xED\\xA0\\x80");
    CHECK(whole("\xED\xBF\xBF") == "\\xED\\xBF\\xBF");
    CHECK(whole("\xF4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80");
    // Control characters (C0, DEL, C1) and line separators become \uNNNN; runs of
    // whitespace become one space, none at either end.
    CHECK(whole(std::string_view("a\0b", 3)) == "a\\u0000b");
    CHECK(whole("\x1B[31mred\x7F") == "\\u001B[31mred\\u007F");
    CHECK(whole("next\xC2\x85line\xE2\x80\xA8sep") == "next\\u0085line\\u2028sep");
    CHECK(whole("  <html>\r\n\t<body>  502 </body>\n") == "<html> <body> 502 </body>");
    CHECK(whole(" \r\n\t ").empty());
    CHECK(whole("").empty());

    // The bound: at most max_bytes bytes, "..." when cut, never half a character or half an escape.
    CHECK(printable_excerpt("abcde", 5) == "abcde");
    CHECK(printable_excerpt("abcdef", 5) == "ab...");
    CHECK(printable_excerpt("abcdef", 2) == "ab");
    CHECK(printable_excerpt("abcdef", 0).empty());
    CHECK(printable_excerpt("abc   ", 3) == "abc");  // trailing whitespace is not content
    std::string euros;
    for (int i = 0; i < 100; ++i) euros += "\xE2\x82\xAC";
    CHECK(printable_excerpt(euros, 10) == "\xE2\x82\xAC\xE2\x82\xAC...");
    CHECK(printable_excerpt("\xFF\xFF\xFF\xFF", 10) == "\\xFF...");
    CHECK(printable_excerpt(std::string(10'000'000, 'x'), 200).size() == 200);

    // Whatever the bytes, the result is valid UTF-8 (nlohmann's dump() is the judge) within the bound.
    std::mt19937 rng(20260101);
    for (int round = 0; round < 20'000; ++round) {
        std::string bytes(rng() % 40, '\0');
        for (auto& b : bytes) {
            const auto r = rng() % 4;  // mostly the bytes that make or break UTF-8 sequences
            b = static_cast<char>(r == 0 ? rng() % 256 : r == 1 ? 0x80 + rng() % 64 : r == 2 ? 0xC0 + rng() % 64 : 'a');
        }
        const std::size_t max = rng() % 50;
        const auto out = printable_excerpt(bytes, max);
        CAPTURE(hex_bytes(bytes));
        REQUIRE(out.size() <= max);
        REQUIRE(dumps_as_json(out));
    }
}

TEST_CASE("json_nesting_depth counts array and object nesting outside strings and stops early") {
    using rlscale::json_nesting_depth;
    constexpr std::size_t at_compile_time = json_nesting_depth(R"({"a":[1,{"b":2}]})");
    CHECK(at_compile_time == 3);
    CHECK(json_nesting_depth("") == 0);
    CHECK(json_nesting_depth("42") == 0);
    CHECK(json_nesting_depth("[]") == 1);
    CHECK(json_nesting_depth("{}") == 1);
    CHECK(json_nesting_depth("[[1],[2,[3]],[]]") == 3);
    CHECK(json_nesting_depth("[[[]]] [[[[]]]]") == 4);  // the deepest point counts, not the sum
    // Brackets in strings are text; an escaped quote does not end the string, an escaped backslash does not escape it.
    CHECK(json_nesting_depth(R"({"a":"[[[[{{{{"})") == 1);
    CHECK(json_nesting_depth(R"({"a":"\"[[[["})") == 1);
    CHECK(json_nesting_depth(R"(["\\",[[1]]])") == 3);
    CHECK(json_nesting_depth(R"(["\\\"[",[1]])") == 2);
    CHECK(json_nesting_depth(R"({"[":{"]":"}"}})") == 2);
    // Malformed input: stray closers do not go below zero; an unterminated string ends the scan.
    CHECK(json_nesting_depth("]]]}[") == 1);
    CHECK(json_nesting_depth(R"(["abc[[[[)") == 1);
    // Deep input: the full depth, or max + 1 when asked to stop above max.
    CHECK(json_nesting_depth(deep_arrays(100'000)) == 100'000);
    CHECK(json_nesting_depth(deep_objects(100'000)) == 100'000);
    CHECK(json_nesting_depth(deep_arrays(100'000), 64) == 65);
    CHECK(json_nesting_depth(deep_arrays(64), 64) == 64);
    CHECK(k8s::detail::max_json_depth == 64);
}

TEST_CASE("a huge, negative or unreadable Retry-After waits max_retry_wait, never less") {
    fake_api_server s;
    auto cfg = test_config(s);
    cfg.max_retry_wait = 250ms;
    std::vector<std::chrono::milliseconds> waits;
    cfg.retry_sleep = [&](std::chrono::milliseconds w) { waits.push_back(w); };
    struct throttle_case {
        std::string header;  // Retry-After
        json details;        // details.retryAfterSeconds
    };
    const std::vector<throttle_case> unreasonable = {
        {"9223372036854775807", nullptr},  // 2^63 - 1 seconds
        {"9223372036854775808", nullptr},  // 2^63
        {"99999999999999999999999999999", nullptr},
        {"9223372036854776", nullptr},  // fits in seconds, overflows as milliseconds
        {"1e300", nullptr},
        {"-1", nullptr},
        {"soon", nullptr},
        {"2.5", nullptr},
        {"Wed, 21 Oct 2015 07:28:00 GMT", nullptr},
        {"", std::numeric_limits<std::int64_t>::max()},
        {"", std::numeric_limits<std::uint64_t>::max()},
        {"", std::int64_t{9'223'372'036'854'776}},
        {"", -5},
        {"", 1e300},
        {"", "10"},
    };
    k8s::client cli(cfg);
    for (const auto& c : unreasonable) {
        CAPTURE(c.header);
        CAPTURE(c.details.dump());
        s.throttle = 1;
        s.retry_after = c.header;
        s.retry_after_seconds = c.details;
        waits.clear();
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        REQUIRE(waits.size() == 1);
        CHECK(waits[0].count() == 250);
    }

    // What the error reports is bounded too, so converting it cannot overflow either.
    auto once = cfg;
    once.max_attempts = 1;
    s.throttle = 1;
    s.retry_after = "9223372036854775807";
    s.retry_after_seconds = nullptr;
    try {
        (void)k8s::client(once).get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected retries_exhausted");
    } catch (const k8s::retries_exhausted& e) {
        REQUIRE(e.retry_after().has_value());
        CHECK(*e.retry_after() == k8s::max_retry_after);
    }

    // Readable values below the cap are used as they are; the header wins over details.
    auto roomy = cfg;
    roomy.max_retry_wait = 5s;
    k8s::client patient(roomy);
    const std::vector<std::pair<throttle_case, std::int64_t>> readable = {
        {{"2", nullptr}, 2000}, {{"0", nullptr}, 0}, {{" 3 ", nullptr}, 3000}, {{"", 4}, 4000}, {{"3", 1}, 3000},
        {{"", nullptr}, 10},  // no Retry-After: the backoff
    };
    for (const auto& [case_, expected_ms] : readable) {
        const throttle_case& c = case_;  // CAPTURE cannot name a binding before Clang 16
        CAPTURE(c.header);
        CAPTURE(c.details.dump());
        s.throttle = 1;
        s.retry_after = c.header;
        s.retry_after_seconds = c.details;
        waits.clear();
        (void)patient.get_scale(k8s::workload_kind::deployment, "prod", "web");
        REQUIRE(waits.size() == 1);
        CHECK(waits[0].count() == expected_ms);
    }
}

TEST_CASE("conflict backoff doubling saturates at max_retry_wait instead of overflowing") {
    fake_api_server s;
    s.concurrent_writes = 2;
    auto cfg = test_config(s);
    cfg.max_retry_wait = std::chrono::milliseconds::max();
    cfg.retry_backoff = std::chrono::milliseconds::max() / 2 + 1ms;
    std::vector<std::chrono::milliseconds> waits;
    cfg.retry_sleep = [&](std::chrono::milliseconds w) { waits.push_back(w); };
    (void)k8s::client(cfg).set_replicas(k8s::workload_kind::deployment, "prod", "web", 9);
    REQUIRE(waits.size() == 2);
    CHECK(waits[0] == cfg.retry_backoff);
    CHECK(waits[1] == cfg.max_retry_wait);
    CHECK(s.replicas == 9);
}

TEST_CASE("a throttled patch is retried after Retry-After and sent once it passes") {
    fake_api_server s;
    s.throttle = 2;
    s.retry_after = "0";
    k8s::client cli(test_config(s));
    (void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                     {{.container = "app", .requests = {.memory_bytes = 128LL << 20}}});
    CHECK(s.methods == std::vector<std::string>{"PATCH", "PATCH", "PATCH"});
    CHECK(s.container_resources["app"]["requests"]["memory"] == "128Mi");
}

TEST_CASE("replicas and container resources change in one strategic-merge patch, or not at all") {
    fake_api_server s;
    s.replicas = 3;
    k8s::client cli(test_config(s));
    const auto dep = cli.set_replicas_and_template_resources(
        k8s::workload_kind::deployment, "prod", "web", 5,
        {{.container = "app", .requests = {.cpu_millicores = 750}, .limits = {.cpu_millicores = 750, .memory_bytes = 640LL << 20}}});
    CHECK(s.methods == std::vector<std::string>{"PATCH"});
    CHECK(s.last_patch_path == "/apis/apps/v1/namespaces/prod/deployments/web");
    CHECK(json::parse(s.last_patch_body) == json::parse(R"({"spec":{"replicas":5,"template":{"spec":{"containers":[
        {"name":"app","resources":{"requests":{"cpu":"750m"},"limits":{"cpu":"750m","memory":"640Mi"}}}]}}}})"));
    CHECK(dep["spec"]["replicas"] == 5);
    CHECK(s.replicas == 5);
    CHECK(s.container_resources["app"]["limits"]["memory"] == "640Mi");

    // Refused by the server (422): neither the count nor the resources change.
    s.methods.clear();
    s.invalid_patch = true;
    CHECK_THROWS_AS((void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 8,
                                                                 {{.container = "app", .limits = {.cpu_millicores = 500}}}),
                    k8s::api_error);
    CHECK(s.methods == std::vector<std::string>{"PATCH"});  // a 422 is not retried
    CHECK(s.replicas == 5);
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "750m");

    // A count outside [0, max_replicas] or an invalid container: nothing is sent.
    s.methods.clear();
    s.invalid_patch = false;
    for (int bad : {-1, 51}) {
        try {
            (void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", bad,
                                                          {{.container = "app", .limits = {.cpu_millicores = 500}}});
            FAIL("expected config_error");
        } catch (const rlscale::config_error& e) {
            CHECK(e.field() == "replicas");
        }
    }
    CHECK_THROWS_AS((void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", 4,
                                                                 {{.container = "app", .limits = {.cpu_millicores = 0}}}),
                    rlscale::config_error);
    CHECK(s.requests() == 0);
    CHECK(s.replicas == 5);
}

TEST_CASE("invalid replicas and names are refused before anything is sent") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    for (int bad : {-1, 51}) {
        try {
            (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", bad);
            FAIL("expected config_error");
        } catch (const rlscale::config_error& e) {
            CHECK(e.field() == "replicas");
            CHECK(std::string(e.what()).find(std::to_string(bad)) != std::string::npos);
        }
    }
    CHECK_THROWS_AS((void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "../web", 2), rlscale::config_error);
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "Prod", "web"), rlscale::config_error);
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "", "web"), rlscale::config_error);
    CHECK(s.requests() == 0);
}

TEST_CASE("validate_label_name and validate_object_name follow DNS-1123 and name the field") {
    // Accepted: the longest of each, dots in object names only.
    const std::string label63(63, 'a'), subdomain253 = std::string(126, 'a') + "." + std::string(126, 'b');
    CHECK_NOTHROW(k8s::validate_label_name("namespace", label63));
    CHECK_NOTHROW(k8s::validate_label_name("namespace", "kube-system"));
    CHECK_NOTHROW(k8s::validate_object_name("workload", subdomain253));
    CHECK_NOTHROW(k8s::validate_object_name("workload", "web.v2"));
    CHECK_NOTHROW(k8s::validate_object_name("workload", "a-b.c-d.e"));
    CHECK_NOTHROW(k8s::validate_object_name("workload", "a.b.c"));
    struct refused {
        bool label;
        std::string value;
    };
    for (const auto& r : {refused{true, label63 + "a"}, refused{true, "a.b"}, refused{true, "-a"}, refused{true, ""},
                          refused{false, subdomain253 + "c"}, refused{false, "web."}, refused{false, "Web"},
                          refused{false, "a/b"}, refused{false, "a..b"}, refused{false, "a.-b"}, refused{false, "a-.b"},
                          refused{false, "a.b-.c"}}) {
        CAPTURE(r.value);
        try {
            if (r.label) {
                k8s::validate_label_name("namespace", r.value);
            } else {
                k8s::validate_object_name("workload", r.value);
            }
            FAIL("expected config_error");
        } catch (const rlscale::config_error& e) {
            CHECK(e.field() == (r.label ? "namespace" : "workload"));
            CHECK(std::string(e.what()).find(r.label ? "DNS-1123 label" : "DNS-1123 subdomain") != std::string::npos);
            CHECK(std::string(e.what()).find("'" + r.value.substr(0, 60)) != std::string::npos);
        }
    }
}

TEST_CASE("container resources are one strategic-merge patch or nothing when any value is invalid") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    const auto dep = cli.set_template_resources(
        k8s::workload_kind::deployment, "prod", "web",
        {{.container = "app",
          .requests = {.cpu_millicores = 500, .memory_bytes = 256LL << 20},
          .limits = {.cpu_millicores = 1000, .memory_bytes = 512LL << 20}},
         {.container = "sidecar", .limits = {.memory_bytes = 64LL << 20}}});
    CHECK(s.methods == std::vector<std::string>{"PATCH"});
    CHECK(s.last_patch_type == "application/strategic-merge-patch+json");
    CHECK(s.last_patch_path == "/apis/apps/v1/namespaces/prod/deployments/web");
    const json expected = json::parse(R"({"spec":{"template":{"spec":{"containers":[
        {"name":"app","resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}}},
        {"name":"sidecar","resources":{"limits":{"memory":"64Mi"}}}]}}}})");
    CHECK(json::parse(s.last_patch_body) == expected);
    CHECK(dep["kind"] == "Deployment");
    CHECK(s.container_resources["app"]["limits"]["cpu"] == "1");

    s.methods.clear();
    // Second container invalid (request above limit): nothing at all is sent.
    try {
        (void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                         {{.container = "app", .requests = {.cpu_millicores = 250}},
                                          {.container = "sidecar",
                                           .requests = {.memory_bytes = 1LL << 30},
                                           .limits = {.memory_bytes = 1LL << 20}}});
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "containers[1].requests.memory_bytes");
    }
    CHECK_THROWS_AS((void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                                     {{.container = "app", .limits = {.cpu_millicores = 0}}}),
                    rlscale::config_error);
    CHECK_THROWS_AS((void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web",
                                                     {{.container = "app", .limits = {.cpu_millicores = 100}},
                                                      {.container = "app", .limits = {.cpu_millicores = 200}}}),
                    rlscale::config_error);
    CHECK_THROWS_AS((void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web", {{.container = "app"}}),
                    rlscale::config_error);
    CHECK_THROWS_AS((void)cli.set_template_resources(k8s::workload_kind::deployment, "prod", "web", {}),
                    rlscale::config_error);
    CHECK(s.requests() == 0);
    CHECK(s.container_resources["app"]["requests"]["cpu"] == "500m");
}

TEST_CASE("in-place pod resize patches the resize subresource") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    const auto pod = cli.resize_pod("prod", "web-0",
                                    {{.container = "app", .requests = {.cpu_millicores = 1500}, .limits = {.cpu_millicores = 2000}}});
    CHECK(s.last_patch_path == "/api/v1/namespaces/prod/pods/web-0/resize");
    CHECK(s.last_patch_type == "application/strategic-merge-patch+json");
    CHECK(json::parse(s.last_patch_body) ==
          json::parse(R"({"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1500m"},"limits":{"cpu":"2"}}}]}})"));
    CHECK(pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1500m");
    CHECK_THROWS_AS((void)cli.resize_pod("prod", "web-9", {{.container = "app", .limits = {.cpu_millicores = 100}}}),
                    k8s::api_error);
}

TEST_CASE("a rotated token file is re-read before the next request") {
    fake_api_server s;
    s.valid_tokens = {"tok-1", "tok-2"};
    const auto dir = temp_dir("rotation");
    write_file(dir / "token", "tok-1\n");
    auto cfg = test_config(s);
    cfg.token.clear();
    cfg.token_file = (dir / "token").string();
    k8s::client cli(cfg);
    (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
    write_file(dir / "token", "tok-2\n");
    s.valid_tokens = {"tok-2"};  // the old token has expired
    (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
    CHECK(s.authorizations == std::vector<std::string>{"Bearer tok-1", "Bearer tok-2"});
}

TEST_CASE("a token file with a line break inside the token is refused, naming the file and not the token") {
    fake_api_server s;
    const auto dir = temp_dir("token_line_break");
    write_file(dir / "token", "tok-1\nX-Injected: yes\n");
    auto cfg = test_config(s);
    cfg.token.clear();
    cfg.token_file = (dir / "token").string();
    k8s::client cli(cfg);
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "token_file");
        CHECK(std::string(e.what()).find(cfg.token_file) != std::string::npos);
        CHECK(std::string(e.what()).find("line break") != std::string::npos);
        CHECK(std::string(e.what()).find("tok-1") == std::string::npos);
        CHECK(std::string(e.what()).find("Injected") == std::string::npos);
    }
    CHECK(s.authorizations.empty());  // nothing was sent
    write_file(dir / "token", "tok-1\r\n");  // a CR LF at the end is trimmed, as before
    CHECK(cli.get_scale(k8s::workload_kind::deployment, "prod", "web").spec_replicas == 3);
    write_file(dir / "token", "tok\r-1");
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"), rlscale::config_error);
}

TEST_CASE("an answer larger than max_response_bytes once inflated is refused, a gzip bomb included") {
    fake_api_server s;
    // A Scale padded with 20 MiB of spaces inside the object (valid JSON),
    // sent gzip-compressed whether asked or not (the client inflates
    // whatever says gzip): about 20 KB cross the wire.
    const std::string scale = s.scale_json().dump();
    s.canned = fake_api_server::canned_answer{200, "{" + std::string(20u << 20, ' ') + scale.substr(1)};
    s.canned->gzip = true;
    auto cfg = test_config(s);
    k8s::client cli(cfg);
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected a transport_error");
    } catch (const k8s::transport_error& e) {
        CHECK_MESSAGE(std::string(e.what()).find("max_response_bytes (16777216 bytes") != std::string::npos, e.what());
    }
    cfg.max_response_bytes = 32u << 20;
    const auto read = k8s::client(cfg).get_scale(k8s::workload_kind::deployment, "prod", "web");
    CHECK(read.spec_replicas == 3);
    // An error answer is bounded the same way.
    s.canned = fake_api_server::canned_answer{503, std::string(20u << 20, 'x'), "text/plain"};
    s.canned->gzip = true;
    CHECK_THROWS_WITH_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"),
                         doctest::Contains("max_response_bytes"), k8s::transport_error);
    cfg.max_response_bytes = 0;
    CHECK_THROWS_WITH_AS(k8s::client{cfg}, doctest::Contains("max_response_bytes"), rlscale::config_error);
}

TEST_CASE("slow answers hit the read timeout") {
    fake_api_server s;
    s.delay = 1500ms;
    auto cfg = test_config(s);
    cfg.read_timeout = 200ms;
    k8s::client cli(cfg);
    const auto t = std::chrono::steady_clock::now();
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"), k8s::timeout_error);
    CHECK(seconds_since(t) < 1.2);
}

TEST_CASE("a change timing out once sent is write_outcome_unknown (it may have been applied), a read timing out is not") {
    fake_api_server s;
    s.write_delay = 1500ms;
    auto cfg = test_config(s);
    cfg.read_timeout = 200ms;
    k8s::client cli(cfg);
    CHECK_THROWS_WITH_AS((void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 5), doctest::Contains("PUT"),
                         k8s::write_outcome_unknown);
    s.write_delay = 0ms;
    s.delay = 1500ms;
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL("expected a timeout_error");
    } catch (const k8s::write_outcome_unknown& e) {
        FAIL("a GET changes nothing, yet: " << e.what());
    } catch (const k8s::timeout_error& e) {
        CHECK(std::string(e.what()).find("GET") != std::string::npos);
    }
    // A change whose read of the count times out first was never sent.
    try {
        (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", 6);
        FAIL("expected a timeout_error");
    } catch (const k8s::write_outcome_unknown& e) {
        FAIL("nothing was sent, yet: " << e.what());
    } catch (const k8s::timeout_error&) {
    }
}

TEST_CASE("a change applied, then answered with a cut connection, a 500, 502 or 504, or a garbled 200, is write_outcome_unknown, and a read the same is not") {
    fake_api_server s;
    k8s::client cli(test_config(s));
    const auto expect_unknown = [&](const char* method, auto&& call) {
        try {
            call();
            FAIL_CHECK("expected write_outcome_unknown");
        } catch (const k8s::write_outcome_unknown& e) {
            CHECK(std::string(e.what()).find(method) != std::string::npos);
        } catch (const std::exception& e) {
            FAIL_CHECK("escaped as another type: " << std::string(e.what()));
        }
    };
    const auto put = [&] { (void)cli.set_replicas(k8s::workload_kind::deployment, "prod", "web", s.replicas + 1); };
    const auto patch = [&] {
        (void)cli.set_replicas_and_template_resources(k8s::workload_kind::deployment, "prod", "web", s.replicas + 1,
                                                      {{.container = "app", .limits = {.cpu_millicores = 700}}}, s.replicas);
    };
    SUBCASE("the connection closes after the status line") {
        s.cut_change_answer = true;
        expect_unknown("PUT", put);
        CHECK(s.replicas == 4);  // applied
        expect_unknown("PATCH", patch);
        CHECK(s.replicas == 5);
        CHECK(s.container_resources["app"]["limits"]["cpu"] == "700m");
    }
    SUBCASE("500, 502 and 504 answers") {
        for (const int code : {500, 502, 504}) {
            CAPTURE(code);
            s.applied_change_status = code;
            const int before = s.replicas;
            expect_unknown("PUT", put);
            CHECK(s.replicas == before + 1);
            expect_unknown("PATCH", patch);
            CHECK(s.replicas == before + 2);
        }
    }
    SUBCASE("a 200 that is not the documented object") {
        s.garbled_change_answer = true;
        expect_unknown("PUT", put);
        expect_unknown("PATCH", patch);
        CHECK(s.replicas == 5);
    }
    // Refusals are still api_errors: nothing was applied.
    s.cut_change_answer = false;
    s.applied_change_status.reset();
    s.garbled_change_answer = false;
    s.forbidden = true;
    CHECK_THROWS_AS(put(), k8s::api_error);
    s.forbidden = false;
    // A read answered 500 is an api_error, not an unknown outcome.
    s.canned = {{500, status_object(500, "InternalError", "etcdserver: request timed out").dump()}};
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL_CHECK("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.code() == 500);
    }
}

TEST_CASE("an answer dripping in a byte at a time is cut at the connect, read and write timeouts together") {
    fake_api_server s;
    s.drip = true;  // about 25 s for the whole Scale; no single read waits 100 ms
    expect_cut_at_one_second(test_config(s));
}

TEST_CASE("a body without a length, dripping in past the deadline, is a timeout, and for a change write_outcome_unknown") {
    // The deadline's cut closes the connection before the body is whole;
    // what was read is not the answer, and a change was sent.
    rlscale::test::lengthless_dripping_server s(scale_text("3"));  // about 15 s of dripping
    auto cfg = k8s::explicit_config("http://127.0.0.1:" + std::to_string(s.port()), "tok-1");
    cfg.connect_timeout = 300ms;
    cfg.read_timeout = 500ms;
    cfg.write_timeout = 200ms;
    const k8s::client cli(cfg);
    auto t = std::chrono::steady_clock::now();
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL_CHECK("expected a timeout_error");
    } catch (const k8s::write_outcome_unknown& e) {
        FAIL_CHECK("a GET changes nothing, yet: " << e.what());
    } catch (const k8s::timeout_error& e) {
        CHECK(std::string(e.what()).find("GET") != std::string::npos);
        CHECK(std::string(e.what()).find("the answer was cut short (no whole answer within 1000 ms") != std::string::npos);
    } catch (const std::exception& e) {
        FAIL_CHECK("escaped as another type: " << std::string(e.what()));
    }
    CHECK(seconds_since(t) < 3.0);
    t = std::chrono::steady_clock::now();
    try {
        (void)cli.resize_pod("prod", "web-0", {{.container = "app", .limits = {.cpu_millicores = 700}}});
        FAIL_CHECK("expected write_outcome_unknown");
    } catch (const k8s::write_outcome_unknown& e) {
        CHECK(std::string(e.what()).find("PATCH") != std::string::npos);
        CHECK(std::string(e.what()).find("the answer was cut short (no whole answer within 1000 ms") != std::string::npos);
        CHECK(std::string(e.what()).find("the change may have been applied") != std::string::npos);
    } catch (const std::exception& e) {
        FAIL_CHECK("escaped as another type: " << std::string(e.what()));
    }
    CHECK(seconds_since(t) < 3.0);
}

TEST_CASE("server URLs: host and port split, IPv6 literals with hex digits reached") {
    const auto a = k8s::detail::split_server("https://[fd00:10:96::1]:6443");
    CHECK(a.https);
    CHECK(a.host == "fd00:10:96::1");
    CHECK(a.port == 6443);
    const auto b = k8s::detail::split_server("http://api.example");
    CHECK_FALSE(b.https);
    CHECK(b.host == "api.example");
    CHECK(b.port == 80);
    CHECK(k8s::detail::split_server("https://10.0.0.1").port == 443);
    CHECK(k8s::detail::split_server("https://[::1]").host == "::1");
    for (const char* bad : {"ftp://x", "https://", "https://[fd00::1", "https://[]:1", "https://h:0", "https://h:65536", "https://h:8x",
                            "https://h:", "https://h/api", "https://[::1]/x", "https://[::1]x"}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH_AS((void)k8s::detail::split_server(bad), doctest::Contains("server"), rlscale::config_error);
        CHECK_THROWS_AS(k8s::client(k8s::explicit_config(bad, "t")), rlscale::config_error);
    }

    // A dual-stack listener reached through an IPv4-mapped IPv6 address,
    // whose hex digits httplib's own URL parser refused.
    fake_api_server s({}, {}, "::");
    auto cfg = test_config(s);
    cfg.server = "http://[::ffff:7f00:1]:" + std::to_string(s.port);
    k8s::client cli(cfg);
    CHECK(cli.get_scale(k8s::workload_kind::deployment, "prod", "web").spec_replicas == s.replicas);
}

TEST_CASE("a refused connection is a transport error") {
    int port = 0;
    {
        fake_api_server s;
        port = s.port;
    }
    auto cfg = k8s::explicit_config("http://127.0.0.1:" + std::to_string(port), "tok-1");
    cfg.connect_timeout = 1s;
    k8s::client cli(cfg);
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"), k8s::transport_error);
}

TEST_CASE("in-cluster configuration from the environment and the service-account files") {
    const auto dir = temp_dir("in_cluster");
    write_file(dir / "token", "tok-1\n");
    write_file(dir / "ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write_file(dir / "namespace", "prod");
    const k8s::in_cluster_paths paths{.token_file = (dir / "token").string(),
                                      .ca_file = (dir / "ca.crt").string(),
                                      .namespace_file = (dir / "namespace").string()};
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    try {
        (void)k8s::in_cluster_config(paths);
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "KUBERNETES_SERVICE_HOST");
    }
    ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    auto c = k8s::in_cluster_config(paths);
    CHECK(c.server == "https://10.96.0.1:443");
    CHECK(c.default_namespace == "prod");
    CHECK(c.token_file == paths.token_file);
    CHECK(c.ca_file == paths.ca_file);
    CHECK_FALSE(c.insecure_skip_tls_verify);
    ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    CHECK(k8s::in_cluster_config(paths).server == "https://[fd00::1]:443");
    ::setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    CHECK_THROWS_AS((void)k8s::in_cluster_config(paths), rlscale::config_error);
    ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    auto missing = paths;
    missing.token_file = (dir / "absent").string();
    try {
        (void)k8s::in_cluster_config(missing);
        FAIL("expected config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "token_file");
    }
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
}

namespace {
// One shell word: single-quoted, an embedded ' written '\'' (so a checkout
// path with a space or a quote in it reaches openssl whole).
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool make_cert(const std::filesystem::path& dir, const std::string& stem) {
    const std::string cli = RLSCALE_OPENSSL_CLI;
    if (cli.empty()) return false;
    const std::string cmd = shell_quote(cli) + " req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1" +
                            " -addext subjectAltName=IP:127.0.0.1 -keyout " + shell_quote((dir / (stem + ".key")).string()) +
                            " -out " + shell_quote((dir / (stem + ".crt")).string()) + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}
}  // namespace

TEST_CASE("HTTPS in-cluster config trusts the given CA and refuses an untrusted certificate") {
    const auto dir = temp_dir("tls");
    // openssl is one of the packages scripts/test.sh installs: a failure to
    // make a certificate fails the test, never skips it.
    REQUIRE(make_cert(dir, "server"));
    REQUIRE(make_cert(dir, "other"));
    fake_api_server s((dir / "server.crt").string(), (dir / "server.key").string());
    write_file(dir / "token", "tok-1");
    write_file(dir / "namespace", "prod\n");
    ::setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    ::setenv("KUBERNETES_SERVICE_PORT", std::to_string(s.port).c_str(), 1);
    auto cfg = k8s::in_cluster_config({.token_file = (dir / "token").string(),
                                       .ca_file = (dir / "server.crt").string(),
                                       .namespace_file = (dir / "namespace").string()});
    ::unsetenv("KUBERNETES_SERVICE_HOST");
    ::unsetenv("KUBERNETES_SERVICE_PORT");
    cfg.connect_timeout = 2s;
    cfg.read_timeout = 3s;
    k8s::client cli(cfg);
    const auto sc = cli.set_replicas(k8s::workload_kind::deployment, "", "web", 6);  // default namespace
    CHECK(sc.spec_replicas == 6);
    CHECK(s.replicas == 6);

    // Same server, but the client trusts another CA: refused, nothing changes.
    auto untrusted = cfg;
    untrusted.ca_file = (dir / "other.crt").string();
    CHECK_THROWS_AS((void)k8s::client(untrusted).set_replicas(k8s::workload_kind::deployment, "", "web", 8),
                    k8s::transport_error);
    // No CA file: the system trust store does not know the self-signed certificate.
    auto system_store = cfg;
    system_store.ca_file.clear();
    CHECK_THROWS_AS((void)k8s::client(system_store).get_scale(k8s::workload_kind::deployment, "", "web"),
                    k8s::transport_error);
    CHECK(s.replicas == 6);
}

TEST_CASE("HTTPS: an answer dripping in a byte at a time is cut, and the cut does not kill the process with SIGPIPE") {
    const auto dir = temp_dir("tls_drip");
    REQUIRE(make_cert(dir, "server"));
    fake_api_server s((dir / "server.crt").string(), (dir / "server.key").string());
    s.drip = true;
    // httplib's server ignores SIGPIPE for the whole process; a program that
    // only makes requests does not. OpenSSL writing to the cut socket would
    // then end it (exit 141) unless the client blocks SIGPIPE around the call.
    struct default_sigpipe {
        default_sigpipe() { std::signal(SIGPIPE, SIG_DFL); }
        ~default_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }
    } during_this_test;
    expect_cut_at_one_second(k8s::explicit_config(s.url("https"), "tok-1", (dir / "server.crt").string()), 3);
    // The signal mask is the caller's again: SIGPIPE is not left blocked.
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    CHECK(sigismember(&mask, SIGPIPE) == 0);
}

namespace {

/// A TCP relay on a loopback port to `target_port` that passes the client's
/// bytes on at once and the server's one every `gap`: a TLS handshake
/// through it drips, and no single read waits long.
class dripping_relay {
public:
    dripping_relay(int target_port, std::chrono::milliseconds gap) : target_(target_port), gap_(gap) {}
    [[nodiscard]] int port() const noexcept { return server_.port(); }

private:
    void relay(const rlscale::test::raw_loopback_server& self, int client) const {
        const int server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(target_));
        if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
            std::string pending;  // the server's bytes not yet passed on
            auto next = std::chrono::steady_clock::now();
            char buf[4096];
            while (!self.stopping()) {
                pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
                if (::poll(p, 2, 5) < 0) break;
                if (p[0].revents & (POLLIN | POLLHUP)) {
                    const auto n = ::recv(client, buf, sizeof buf, 0);
                    if (n <= 0) break;
                    (void)::send(server, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
                }
                if (p[1].revents & POLLIN) {
                    const auto n = ::recv(server, buf, sizeof buf, 0);
                    if (n > 0) pending.append(buf, static_cast<std::size_t>(n));
                }
                if (!pending.empty() && std::chrono::steady_clock::now() >= next) {
                    if (::send(client, pending.data(), 1, MSG_NOSIGNAL) != 1) break;
                    pending.erase(0, 1);
                    next = std::chrono::steady_clock::now() + gap_;
                }
            }
        }
        ::close(server);
    }
    int target_;
    std::chrono::milliseconds gap_;
    // One connection, relayed until it ends or the relay stops.
    rlscale::test::raw_loopback_server server_{[this](rlscale::test::raw_loopback_server& server) {
        if (const int client = server.accept_within(); client >= 0) {
            relay(server, client);
            ::close(client);
        }
    }};
};

}  // namespace

TEST_CASE("HTTPS: a TLS handshake the server never answers is a timeout_error after the connect timeout") {
    // A listener that takes the TCP connection (the kernel's backlog) and
    // never sends a byte of the handshake.
    const rlscale::test::loopback_socket listener(4);
    auto cfg = k8s::explicit_config("https://127.0.0.1:" + std::to_string(listener.port()), "tok-1");
    cfg.connect_timeout = 300ms;
    cfg.max_attempts = 1;
    k8s::client cli(cfg);
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"), k8s::timeout_error);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("HTTPS: a TLS handshake dripping in a byte at a time is cut at the timeouts' sum too") {
    const auto dir = temp_dir("tls_handshake_drip");
    REQUIRE(make_cert(dir, "server"));
    fake_api_server s((dir / "server.crt").string(), (dir / "server.key").string());
    dripping_relay relay(s.port, 20ms);  // the server's ~1.5 KB of handshake: about 30 s
    expect_cut_at_one_second(k8s::explicit_config("https://127.0.0.1:" + std::to_string(relay.port()), "tok-1", (dir / "server.crt").string()));
}

TEST_CASE("an answer with a NUL byte anywhere is not JSON, named by its offset: a Scale is a transport_error, a Status no Status") {
    fake_api_server s;
    auto cfg = test_config(s);
    cfg.max_attempts = 1;
    k8s::client cli(cfg);
    const std::string scale = scale_text("2");
    // nlohmann's parser stops at a NUL: each of these was read as the Scale before it.
    for (const std::string& tail : {std::string(1, '\0'), std::string("\0\xFF not json {{{", 16),
                                    std::string(1, '\0') + R"(,"spec":{"replicas":40}})"}) {
        CAPTURE(tail.size());
        s.canned = {{200, scale + tail}};
        try {
            (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
            FAIL_CHECK("expected transport_error");
        } catch (const k8s::transport_error& e) {
            const std::string w = e.what();
            CHECK_MESSAGE(w.find("answered 200: not JSON: a NUL byte at offset " + std::to_string(scale.size())) != std::string::npos, w);
            CHECK(dumps_as_json(w));
            CHECK(w.find('\0') == std::string::npos);
        }
    }
    // Raw inside a string, at its own offset.
    std::string inside = scale;
    const std::size_t at = inside.find("app=web") + 3;
    inside[at] = '\0';
    s.canned = {{200, inside}};
    CHECK_THROWS_WITH_AS((void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web"),
                         doctest::Contains(("a NUL byte at offset " + std::to_string(at)).c_str()), k8s::transport_error);
    // A Status before a NUL is no Status: the code's own reason, the offset in the message.
    const std::string status = status_object(409, "AlreadyExists", "taken").dump();
    s.canned = {{409, status + std::string("\0{}", 3)}};
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL_CHECK("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.code() == 409);
        CHECK(e.status_object().is_null());
        CHECK(e.reason() == "Conflict");
        CHECK_MESSAGE(e.status_message().find("a NUL byte at offset " + std::to_string(status.size())) != std::string::npos,
                      e.status_message());
        CHECK(dumps_as_json(e.what()));
    }
    // Written as the escape \u0000 inside a string it is JSON, read as before.
    std::string escaped = scale;
    escaped.replace(escaped.find("app=web"), 7, R"(app=\u0000)");
    s.canned = {{200, escaped}};
    CHECK(cli.get_scale(k8s::workload_kind::deployment, "prod", "web").selector == std::string("app=\0", 5));
    s.canned = {{409, R"({"kind":"Status","status":"Failure","reason":"AlreadyExists","message":"a\u0000b","code":409})"}};
    try {
        (void)cli.get_scale(k8s::workload_kind::deployment, "prod", "web");
        FAIL_CHECK("expected api_error");
    } catch (const k8s::api_error& e) {
        CHECK(e.status_object().is_object());
        CHECK(e.reason() == "AlreadyExists");
    }
}
