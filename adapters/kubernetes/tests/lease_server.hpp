#pragma once

// A loopback stand-in for the Kubernetes API's coordination.k8s.io/v1
// Leases (no API server runs here): GET, POST and PUT of
// /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}] with the
// documented objects and errors: 404 NotFound and 409 AlreadyExists /
// Conflict as Status objects, a resourceVersion bumped on every write and
// checked on PUT. Other routes can be added by the caller.

#include <Eigen/Core>  // before httplib (see rlscale/kubernetes/client.hpp)
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace rlscale::kubernetes::test {

class lease_server {
public:
    using json = nlohmann::json;

    /// Serves Leases, and whatever `more_routes` adds, on 127.0.0.1.
    explicit lease_server(const std::function<void(httplib::Server&)>& more_routes = {}) {
        const std::string one = R"(/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases/([^/]+))";
        const std::string all = R"(/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases)";
        server_.Get(one, [this](const httplib::Request& rq, httplib::Response& rs) { handle("GET", rq, rs); });
        server_.Put(one, [this](const httplib::Request& rq, httplib::Response& rs) { handle("PUT", rq, rs); });
        server_.Post(all, [this](const httplib::Request& rq, httplib::Response& rs) { handle("POST", rq, rs); });
        if (more_routes) more_routes(server_);
        port_ = server_.bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("lease_server: cannot bind");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 1000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    lease_server(const lease_server&) = delete;
    lease_server& operator=(const lease_server&) = delete;
    ~lease_server() {
        server_.stop();
        thread_.join();
    }

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    /// The stored Lease ns/name (null when there is none).
    [[nodiscard]] json lease(const std::string& ns, const std::string& name) const {
        std::lock_guard lock(mu_);
        const auto it = leases_.find(ns + "/" + name);
        return it == leases_.end() ? json() : it->second;
    }
    /// Replaces (or, with null, deletes) the stored Lease ns/name as another writer would.
    void put(const std::string& ns, const std::string& name, json object) {
        std::lock_guard lock(mu_);
        if (object.is_null()) {
            leases_.erase(ns + "/" + name);
            return;
        }
        object["metadata"]["resourceVersion"] = std::to_string(++version_);
        leases_[ns + "/" + name] = std::move(object);
    }
    /// Every request waits this long before it is answered.
    void set_delay(std::chrono::milliseconds d) {
        std::lock_guard lock(mu_);
        delay_ = d;
    }
    /// Every request is answered 503 while set.
    void set_unavailable(bool on) {
        std::lock_guard lock(mu_);
        unavailable_ = on;
    }
    /// Called under the lock before a PUT is checked (a concurrent writer).
    void before_put(std::function<void(std::map<std::string, json>&)> f) {
        std::lock_guard lock(mu_);
        before_put_ = std::move(f);
    }
    /// Successful writes (POST and PUT) so far.
    [[nodiscard]] int writes() const {
        std::lock_guard lock(mu_);
        return writes_;
    }
    /// GET requests so far (answered or not).
    [[nodiscard]] int reads() const {
        std::lock_guard lock(mu_);
        return reads_;
    }

    static json status(int code, const std::string& reason, const std::string& message, const std::string& name) {
        return {{"kind", "Status"},
                {"apiVersion", "v1"},
                {"metadata", json::object()},
                {"status", "Failure"},
                {"message", message},
                {"reason", reason},
                {"details", {{"name", name}, {"group", "coordination.k8s.io"}, {"kind", "leases"}}},
                {"code", code}};
    }

private:
    static void reply(httplib::Response& rs, int code, const json& body) {
        rs.status = code;
        rs.set_content(body.dump(), "application/json");
    }

    void handle(const std::string& method, const httplib::Request& rq, httplib::Response& rs) {
        std::chrono::milliseconds d{};
        {
            std::lock_guard lock(mu_);
            d = delay_;
        }
        if (d.count() > 0) std::this_thread::sleep_for(d);
        std::lock_guard lock(mu_);
        if (method == "GET") ++reads_;
        if (unavailable_) return reply(rs, 503, status(503, "ServiceUnavailable", "the server is currently unable to handle the request", ""));
        const std::string ns = rq.matches[1];
        if (method == "POST") {
            const json body = json::parse(rq.body, nullptr, false);
            if (!body.is_object() || !body.contains("metadata") || !body["metadata"].contains("name")) {
                return reply(rs, 400, status(400, "BadRequest", "the body is not a Lease", ""));
            }
            const std::string name = body["metadata"]["name"];
            if (leases_.count(ns + "/" + name) != 0) {
                return reply(rs, 409, status(409, "AlreadyExists", "leases.coordination.k8s.io \"" + name + "\" already exists", name));
            }
            json stored = body;
            stored["metadata"]["namespace"] = ns;
            stored["metadata"]["resourceVersion"] = std::to_string(++version_);
            stored["metadata"]["uid"] = "0e3c-lease-" + std::to_string(version_);
            leases_[ns + "/" + name] = stored;
            ++writes_;
            return reply(rs, 201, stored);
        }
        const std::string name = rq.matches[2];
        const std::string key = ns + "/" + name;
        if (method == "PUT" && before_put_) before_put_(leases_);
        const auto it = leases_.find(key);
        if (it == leases_.end()) {
            return reply(rs, 404, status(404, "NotFound", "leases.coordination.k8s.io \"" + name + "\" not found", name));
        }
        if (method == "GET") return reply(rs, 200, it->second);
        const json body = json::parse(rq.body, nullptr, false);
        if (!body.is_object()) return reply(rs, 400, status(400, "BadRequest", "the body is not JSON", name));
        const json sent_version = body.value("metadata", json::object()).value("resourceVersion", json());
        if (sent_version.is_string() && sent_version != it->second["metadata"]["resourceVersion"]) {
            return reply(rs, 409,
                         status(409, "Conflict",
                                "Operation cannot be fulfilled on leases.coordination.k8s.io \"" + name +
                                    "\": the object has been modified; please apply your changes to the latest version and try again",
                                name));
        }
        json stored = body;
        stored["metadata"]["namespace"] = ns;
        stored["metadata"]["resourceVersion"] = std::to_string(++version_);
        it->second = stored;
        ++writes_;
        return reply(rs, 200, stored);
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    mutable std::mutex mu_;
    std::map<std::string, json> leases_;
    std::int64_t version_ = 500;
    int writes_ = 0;
    int reads_ = 0;
    std::chrono::milliseconds delay_{0};
    bool unavailable_ = false;
    std::function<void(std::map<std::string, json>&)> before_put_;
};

}  // namespace rlscale::kubernetes::test
