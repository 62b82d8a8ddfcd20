#pragma once

/// rlscale::decision_service: scaling decisions over HTTP (the Polimi
/// project's interface). POST /decide with a JSON body of one function's
/// metrics and scaling state answers {"replicas": n, ...}; malformed input
/// answers 400, an internal failure 500, overload 503 and an oversized body
/// 413, each with {"error": "...", "replicas": -1}, which a scaler reads as
/// "keep the current replicas". One guarded policy per function, created on
/// the function's first request; decisions of one function are serialised,
/// decisions of different functions run concurrently. replace() swaps every
/// policy while the service runs (a reload): requests in flight finish on the
/// policies they started with. Request parsing is in
/// <rlscale/service/request.hpp>, the bounded connection queue in
/// <rlscale/service/task_queue.hpp>. See docs/adapters/service.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/service/request.hpp>
#include <rlscale/service/task_queue.hpp>

// Eigen before httplib: <resolv.h>, which httplib includes, defines a macro
// `_res` that Eigen uses as a parameter name, so Eigen must be parsed first
// whatever order a user includes rlscale's headers in.
#include <Eigen/Core>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rlscale::service {

/// Limits and addresses of a decision_service.
struct decision_service_config {
    std::string host = "127.0.0.1";                       ///< address to listen on
    int port = 8080;                                      ///< TCP port; 0 = any free port (see decision_service::port())
    std::size_t max_body_bytes = 64 * 1024;               ///< larger request bodies answer 413
    std::size_t threads = 4;                              ///< worker threads serving connections
    std::size_t max_queued = 64;                          ///< accepted connections waiting for a worker; more answer 503
    std::size_t max_rejecting = 64;                       ///< connections waiting to be answered 503 (beyond: answered on the accept thread)
    std::size_t max_functions = 1024;                     ///< distinct function names with a policy; a new name beyond answers 503
    std::size_t max_function_name = 253;                  ///< longest function name, bytes
    std::chrono::milliseconds read_timeout{5000};         ///< socket read timeout
    std::chrono::milliseconds write_timeout{5000};        ///< socket write timeout
    std::chrono::seconds keep_alive_timeout{2};           ///< idle keep-alive connections are closed after this
    std::size_t keep_alive_max_count = 100;               ///< requests served on one connection
    guard_config guard = {};                              ///< step limits of every function's guarded policy

    /// Throws config_error naming the first field outside its range.
    void validate() const {
        const auto positive = [](const char* f, std::size_t v) {
            if (v == 0) throw config_error(std::string("decision_service_config.") + f, "must be >= 1, got 0");
        };
        if (host.empty()) throw config_error("decision_service_config.host", "must not be empty");
        if (port < 0 || port > 65535) {
            throw config_error("decision_service_config.port", "must be in [0, 65535], got " + std::to_string(port));
        }
        positive("max_body_bytes", max_body_bytes);
        positive("threads", threads);
        positive("max_queued", max_queued);
        positive("max_rejecting", max_rejecting);
        positive("max_functions", max_functions);
        positive("max_function_name", max_function_name);
        positive("keep_alive_max_count", keep_alive_max_count);
        if (read_timeout.count() <= 0) throw config_error("decision_service_config.read_timeout", "must be > 0");
        if (write_timeout.count() <= 0) throw config_error("decision_service_config.write_timeout", "must be > 0");
        if (keep_alive_timeout.count() <= 0) throw config_error("decision_service_config.keep_alive_timeout", "must be > 0");
        guard.validate();
    }
};

/// Makes the policy of a function on its first request. May throw (the
/// request then answers 500 and the next request of that function tries again).
using policy_factory = std::function<any_policy(const std::string& function)>;

/// An HTTP status and JSON body.
struct http_answer {
    int status = 200;  ///< HTTP status
    std::string body;  ///< JSON
};

/// {"error": message, "replicas": -1}.
[[nodiscard]] inline std::string error_body(std::string_view message) {
    return detail::json{{"error", message}, {"replicas", -1}}.dump();
}

/// Counters of a running service (monotonic since construction).
struct service_stats {
    std::uint64_t decisions = 0;          ///< 200 answers
    std::uint64_t bad_requests = 0;       ///< 400 answers
    std::uint64_t internal_errors = 0;    ///< 500 answers
    std::uint64_t overloaded = 0;         ///< connections refused with 503 because the queue was full
    std::uint64_t too_many_functions = 0; ///< requests refused with 503 because max_functions was reached
    std::uint64_t queued = 0;             ///< connections waiting for a worker now
    std::uint64_t functions = 0;          ///< functions with a policy now
    std::uint64_t replacements = 0;       ///< replace() and serve_joint() calls that swapped the policies
};

/// A policy that decides several functions together, and their names in the
/// order it decides them.
struct joint_service_policy {
    any_joint_policy policy;
    std::vector<std::string> functions;
};

/// The HTTP decision service. start() binds and serves on a background
/// thread; stop() (or the destructor) closes the listening socket, finishes
/// the connections in progress and joins every thread.
///
/// Endpoints: POST /decide (the decision), GET /healthz ({"status": "ok"}).
/// Any other method on these paths answers 405, any other path 404, both
/// with {"error": ..., "replicas": -1}.
class decision_service {
public:
    decision_service(decision_service_config config, policy_factory factory)
        : config_((config.validate(), std::move(config))), policies_(make_policies(std::move(factory), std::nullopt)) {}
    decision_service(const decision_service&) = delete;
    decision_service& operator=(const decision_service&) = delete;
    ~decision_service() { stop(); }

    /// Binds to config.host:config.port and starts serving. Returns the
    /// bound port. Throws rlscale::error if it cannot bind or is running.
    int start() {
        std::lock_guard lock(lifecycle_);
        if (thread_.joinable()) throw error("decision_service: already started");
        server_ = std::make_unique<httplib::Server>();
        configure(*server_);
        const int port = config_.port == 0 ? server_->bind_to_any_port(config_.host)
                                           : (server_->bind_to_port(config_.host, config_.port) ? config_.port : -1);
        if (port <= 0) {
            server_.reset();
            throw error("decision_service: cannot bind " + config_.host + ":" + std::to_string(config_.port));
        }
        port_ = port;
        auto returned = std::make_shared<std::atomic<bool>>(false);
        thread_ = std::thread([srv = server_.get(), returned] {
            srv->listen_after_bind();
            returned->store(true);
        });
        // httplib ignores stop() until listening has begun: wait for it.
        while (!server_->is_running() && !returned->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return port_;
    }

    /// Stops serving and joins every thread; the port is released when it returns. Idempotent.
    void stop() {
        std::lock_guard lock(lifecycle_);
        if (!thread_.joinable()) return;
        server_->stop();
        thread_.join();
        server_.reset();
        port_ = 0;
    }

    /// The bound port while running, else 0.
    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] const decision_service_config& config() const noexcept { return config_; }

    /// Serves `policy` for requests that carry several functions (see
    /// handle): a multi-function learned policy decides them all together,
    /// in the order `functions` names them. Keeps the factory in use.
    void serve_joint(any_joint_policy policy, std::vector<std::string> functions) {
        replace(current()->factory, joint_service_policy{std::move(policy), std::move(functions)});
    }

    /// Replaces every policy at once, while serving or not: from now on each
    /// function's policy is made afresh by `factory` on its next request (so
    /// a stateful policy such as the HPA starts over, as at start-up), and
    /// multi-function requests go to `joint` if given. Requests in flight
    /// finish on the policies they started with. Throws config_error, and
    /// changes nothing, if `factory` is empty or `joint` names a different
    /// number of functions than its policy decides.
    void replace(policy_factory factory, std::optional<joint_service_policy> joint = std::nullopt) {
        auto next = make_policies(std::move(factory), std::move(joint));
        std::lock_guard lock(policies_mutex_);
        policies_ = std::move(next);
        ++replacements_;
    }

    /// The functions of the joint policy, in order (empty without one).
    [[nodiscard]] std::vector<std::string> joint_functions() const {
        const auto p = current();
        return p->joint ? p->joint->functions : std::vector<std::string>{};
    }

    /// Answers one POST /decide body, as the HTTP handler does (usable
    /// without sockets). A body {"functions": [request, ...]} decides
    /// several functions at once and answers {"decisions": [answer, ...]}
    /// in the same order: with a joint policy (serve_joint), exactly its
    /// functions, decided together; otherwise each by its own policy. A
    /// single-function request to a service whose joint policy decides
    /// several functions answers 400.
    [[nodiscard]] http_answer handle(std::string_view body) {
        const std::shared_ptr<policies> p = current();
        if (is_multi(body)) return handle_multi(*p, body);
        if (p->joint && p->joint->functions.size() > 1) {
            ++bad_requests_;
            return {400, error_body("body: this service decides " + std::to_string(p->joint->functions.size()) +
                                    " functions together; send {\"functions\": [...]} with one request per function, in order")};
        }
        return answer_errors([&]() -> http_answer {
            const decision_request req = parse_decision_request(body, config_.max_function_name);
            decision d;
            if (!decide_one(*p, req, d)) return too_many_functions();
            ++decisions_;
            return {200, detail::json{{"replicas", d.replicas}, {"source", to_string(d.source)}, {"reason", d.reason}}.dump()};
        });
    }

    [[nodiscard]] service_stats stats() const {
        service_stats s;
        s.decisions = decisions_.load();
        s.bad_requests = bad_requests_.load();
        s.internal_errors = internal_errors_.load();
        s.overloaded = overloaded_.load();
        s.too_many_functions = overloaded_functions_.load();
        s.queued = queued_.load();
        s.replacements = replacements_.load();
        const auto p = current();
        std::shared_lock lock(p->functions_mutex);
        s.functions = p->functions.size();
        return s;
    }

private:
    struct joint_entry {
        joint_entry(any_joint_policy p, std::vector<std::string> f) : policy(std::move(p)), functions(std::move(f)) {}
        std::mutex mutex;
        any_joint_policy policy;
        std::vector<std::string> functions;
    };

    struct entry {
        explicit entry(any_policy p, guard_config g) : policy(std::move(p), g) {}
        std::mutex mutex;
        guarded<any_policy> policy;
    };

    /// Everything one replace() installs: the factory, the joint policy and
    /// the per-function policies made from the factory so far. A request
    /// holds the set it started on, so a replace() never frees a policy in use.
    struct policies {
        policy_factory factory;
        std::unique_ptr<joint_entry> joint;
        mutable std::shared_mutex functions_mutex;
        std::unordered_map<std::string, std::unique_ptr<entry>> functions;
    };

    static std::shared_ptr<policies> make_policies(policy_factory factory, std::optional<joint_service_policy> joint) {
        if (!factory) throw config_error("decision_service.factory", "must not be empty");
        auto p = std::make_shared<policies>();
        p->factory = std::move(factory);
        if (joint) {
            if (joint->policy.functions() != joint->functions.size()) {
                throw config_error("decision_service.joint", "the policy decides " + std::to_string(joint->policy.functions()) +
                                                                 " functions, " + std::to_string(joint->functions.size()) + " names given");
            }
            p->joint = std::make_unique<joint_entry>(std::move(joint->policy), std::move(joint->functions));
        }
        return p;
    }

    [[nodiscard]] std::shared_ptr<policies> current() const {
        std::lock_guard lock(policies_mutex_);
        return policies_;
    }

    /// Whether a body is a multi-function request: a JSON object with a
    /// "functions" member (a cheap test first; parsing decides).
    static bool is_multi(std::string_view body) {
        if (body.find("\"functions\"") == std::string_view::npos) return false;
        try {
            const auto j = detail::json::parse(body.begin(), body.end());
            return j.is_object() && j.contains("functions");
        } catch (const std::exception&) {
            return false;  // the single-request parser reports the error
        }
    }

    /// Runs `f`: a refused request answers 400, any other exception 500.
    template <typename F>
    http_answer answer_errors(F&& f) {
        try {
            return f();
        } catch (const request_error& e) {
            ++bad_requests_;
            return {400, error_body(e.what())};
        } catch (const std::exception& e) {
            ++internal_errors_;
            return {500, error_body(std::string("internal: ") + e.what())};
        }
    }

    http_answer too_many_functions() {
        ++overloaded_functions_;
        return {503, error_body("function: too many functions (limit " + std::to_string(config_.max_functions) + ")")};
    }

    /// Decides one request with its function's own policy; false when a new
    /// function would exceed max_functions.
    bool decide_one(policies& p, const decision_request& req, decision& out) {
        entry* fn = find_or_create(p, req.function);
        if (fn == nullptr) return false;
        std::lock_guard lock(fn->mutex);
        out = fn->policy.decide(req.metrics, req.state);
        return true;
    }

    http_answer handle_multi(policies& p, std::string_view body) {
        return answer_errors([&]() -> http_answer {
            const auto j = detail::json::parse(body.begin(), body.end());
            for (const auto& [key, v] : j.items()) {
                if (key != "functions") throw request_error(key, "unknown field (a multi-function request has only \"functions\")");
            }
            const auto& list = j["functions"];
            if (!list.is_array() || list.empty()) throw request_error("functions", "must be a non-empty array of requests");
            if (list.size() > config_.max_functions) {
                throw request_error("functions", "more than " + std::to_string(config_.max_functions) + " requests");
            }
            std::vector<decision_request> reqs;
            for (std::size_t i = 0; i < list.size(); ++i) {
                try {
                    reqs.push_back(parse_decision_request(list[i].dump(), config_.max_function_name));
                } catch (const request_error& e) {
                    throw request_error("functions[" + std::to_string(i) + "]." + e.field(), e.detail());
                }
            }
            std::vector<decision> out(reqs.size());
            if (p.joint) {
                if (reqs.size() != p.joint->functions.size()) {
                    throw request_error("functions", "has " + std::to_string(reqs.size()) + " requests, the policy decides " +
                                                         std::to_string(p.joint->functions.size()) + " functions together");
                }
                std::vector<function_metrics> m;
                std::vector<scaling_state> st;
                for (const auto& r : reqs) {
                    m.push_back(r.metrics);
                    st.push_back(r.state);
                }
                std::lock_guard lock(p.joint->mutex);
                p.joint->policy.decide(std::span<const function_metrics>(m), std::span<const scaling_state>(st), std::span<decision>(out));
            } else {
                for (std::size_t i = 0; i < reqs.size(); ++i) {
                    if (!decide_one(p, reqs[i], out[i])) return too_many_functions();
                }
            }
            detail::json answers = detail::json::array();
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                answers.push_back({{"function", reqs[i].function}, {"replicas", out[i].replicas}, {"source", to_string(out[i].source)},
                                   {"reason", out[i].reason}});
            }
            decisions_ += reqs.size();
            return {200, detail::json{{"decisions", std::move(answers)}}.dump()};
        });
    }

    entry* find_or_create(policies& p, const std::string& name) {
        {
            std::shared_lock lock(p.functions_mutex);
            if (auto it = p.functions.find(name); it != p.functions.end()) return it->second.get();
        }
        std::unique_lock lock(p.functions_mutex);
        if (auto it = p.functions.find(name); it != p.functions.end()) return it->second.get();
        if (p.functions.size() >= config_.max_functions) return nullptr;
        // The factory runs under the lock so that one function gets exactly one policy.
        auto e = std::make_unique<entry>(p.factory(name), config_.guard);
        entry* raw = e.get();
        p.functions.emplace(name, std::move(e));
        return raw;
    }

    static void json_reply(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_content(body, "application/json");
    }

    void configure(httplib::Server& srv) {
        srv.new_task_queue = [this] {
            return new detail::bounded_task_queue(config_.threads, config_.max_queued, config_.max_rejecting, queued_,
                                                  overloaded_);
        };
        srv.set_payload_max_length(config_.max_body_bytes);
        // Headers and body go out in separate writes: without TCP_NODELAY,
        // Nagle and delayed ACKs add ~40 ms to every keep-alive answer.
        srv.set_tcp_nodelay(true);
        // httplib's default sets SO_REUSEPORT, which lets a second server bind
        // a port already in use and steal half its connections. SO_REUSEADDR
        // alone allows a restart over TIME_WAIT but refuses a live listener.
        srv.set_socket_options([](socket_t sock) {
            int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
        });
        const auto us = [](std::chrono::milliseconds d) {
            return std::pair<time_t, time_t>{static_cast<time_t>(d.count() / 1000), static_cast<time_t>((d.count() % 1000) * 1000)};
        };
        srv.set_read_timeout(us(config_.read_timeout).first, us(config_.read_timeout).second);
        srv.set_write_timeout(us(config_.write_timeout).first, us(config_.write_timeout).second);
        srv.set_keep_alive_timeout(static_cast<time_t>(config_.keep_alive_timeout.count()));
        srv.set_keep_alive_max_count(config_.keep_alive_max_count);

        srv.Post("/decide", [this](const httplib::Request& req, httplib::Response& res) {
            if (detail::bounded_task_queue::rejecting()) {
                res.set_header("Connection", "close");
                json_reply(res, 503, error_body("overloaded: request queue full"));
                return;
            }
            const http_answer a = handle(req.body);
            json_reply(res, a.status, a.body);
        });
        srv.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
            json_reply(res, 200, R"({"status":"ok"})");
        });
        const auto not_allowed = [](const char* allow) {
            return [allow](const httplib::Request& req, httplib::Response& res) {
                res.set_header("Allow", allow);
                json_reply(res, 405, error_body("method " + req.method + " not allowed on " + req.path));
            };
        };
        srv.Get("/decide", not_allowed("POST"));
        srv.Put("/decide", not_allowed("POST"));
        srv.Delete("/decide", not_allowed("POST"));
        srv.Patch("/decide", not_allowed("POST"));
        srv.Options("/decide", not_allowed("POST"));
        srv.Post("/healthz", not_allowed("GET"));
        srv.Put("/healthz", not_allowed("GET"));
        srv.Delete("/healthz", not_allowed("GET"));
        srv.Patch("/healthz", not_allowed("GET"));
        srv.Options("/healthz", not_allowed("GET"));
        // Every other error status httplib produces (404, 413, 400 for a bad
        // request line, ...) gets a JSON body too; ours already have one.
        srv.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            std::string what;
            switch (res.status) {
                case 404: what = "not found: " + req.path; break;
                case 413: what = "body: larger than the request size limit"; break;
                default: what = "HTTP " + std::to_string(res.status); break;
            }
            res.set_content(error_body(what), "application/json");
            return httplib::Server::HandlerResponse::Handled;
        }));
        srv.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            ++internal_errors_;
            std::string what = "internal error";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = std::string("internal: ") + e.what();
            } catch (...) {
            }
            json_reply(res, 500, error_body(what));
        });
    }

    decision_service_config config_;
    mutable std::mutex policies_mutex_;
    std::shared_ptr<policies> policies_;
    std::atomic<std::uint64_t> replacements_{0};
    std::atomic<std::uint64_t> decisions_{0};
    std::atomic<std::uint64_t> bad_requests_{0};
    std::atomic<std::uint64_t> internal_errors_{0};
    std::atomic<std::uint64_t> overloaded_{0};
    std::atomic<std::uint64_t> overloaded_functions_{0};
    std::atomic<std::uint64_t> queued_{0};
    std::mutex lifecycle_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::atomic<int> port_{0};
};

}  // namespace rlscale::service
