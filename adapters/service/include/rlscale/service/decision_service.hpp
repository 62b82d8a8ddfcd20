#pragma once

/// rlscale::decision_service: scaling decisions over HTTP (the Polimi
/// project's interface). POST /decide with a JSON body of one function's
/// metrics and scaling state answers {"replicas": n, ...}; malformed input
/// answers 400, an internal failure 500, overload 503 and an oversized body
/// 413, each with {"error": "...", "replicas": -1}, which a scaler reads as
/// "keep the current replicas". One guarded policy per function, created on
/// the function's first request (at most max_functions, the least recently
/// used evicted beyond); decisions of one function are serialised, decisions
/// of different functions run concurrently, and a function's time_s may not
/// go back or leap ahead. replace() swaps every policy while the service runs
/// (a reload): requests in flight finish on the policies they started with.
/// Request parsing is in <rlscale/service/request.hpp>, the bounded
/// connection queue and the request deadline in
/// <rlscale/service/task_queue.hpp>. See docs/adapters/service.md.

#include <rlscale/core/control.hpp>
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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
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
    std::size_t max_rejecting = 64;                       ///< connections waiting to be answered 503 (beyond: closed at once)
    std::size_t max_functions = 1024;                     ///< functions with a policy; a new name beyond evicts the least recently used
    std::size_t max_function_name = 253;                  ///< longest function name, bytes
    /// Requests must give slo.latency_s, slo.percentile and slo.target_rps
    /// (400 otherwise): set when a learned policy is served, whose encoder
    /// reads them, so a default never stands in for the function's SLO.
    bool require_slo = false;
    std::chrono::milliseconds read_timeout{5000};         ///< longest wait for any one read from a socket
    std::chrono::milliseconds write_timeout{5000};        ///< longest wait for any one write to a socket
    std::chrono::milliseconds request_deadline{5000};     ///< a request must arrive whole within this, else its connection is closed
    /// Idle keep-alive connections are closed after this: the wait for a
    /// connection's next request (its first has until request_deadline).
    std::chrono::seconds keep_alive_timeout{2};
    std::size_t keep_alive_max_count = 100;               ///< requests served on one connection
    /// A function's time_s may be this much before its last accepted one. A
    /// KPA and an HPA take a clock up to their max_clock_backwards_s back as
    /// jitter and one further back as a new history: with another value
    /// here, build them with the same (baseline_settings::kpa_max_clock_backwards_s
    /// and hpa_max_clock_backwards_s, which a learned policy's fallback HPA reads too).
    std::chrono::milliseconds max_time_backwards{1000};
    std::chrono::seconds max_time_jump{86400};            ///< a function's time_s may be at most this much after its last accepted one
    guard_config guard = {};                              ///< step limits of every function's guarded policy

    static constexpr std::size_t max_threads = 1024;      ///< the most worker threads `threads` may ask for

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
        if (threads > max_threads) {
            throw config_error("decision_service_config.threads",
                               "must be <= " + std::to_string(max_threads) + ", got " + std::to_string(threads));
        }
        positive("max_queued", max_queued);
        positive("max_rejecting", max_rejecting);
        positive("max_functions", max_functions);
        positive("max_function_name", max_function_name);
        positive("keep_alive_max_count", keep_alive_max_count);
        // At most a day each: the deadlines are added to the clock's now and
        // waited on with poll()'s int milliseconds.
        const auto within_a_day = [](const char* name, std::chrono::milliseconds d) {
            constexpr std::chrono::milliseconds day = std::chrono::hours(24);
            if (d.count() <= 0 || d > day) {
                throw config_error(std::string("decision_service_config.") + name,
                                   "must be in (0, " + std::to_string(day.count()) + "] ms, got " + std::to_string(d.count()));
            }
        };
        within_a_day("read_timeout", read_timeout);
        within_a_day("write_timeout", write_timeout);
        within_a_day("request_deadline", request_deadline);
        // Compared in seconds: converted to milliseconds first, a huge
        // count would overflow (2^61 + 1 s wraps to 1000 ms) and pass.
        if (constexpr std::chrono::seconds day = std::chrono::hours(24); keep_alive_timeout.count() <= 0 || keep_alive_timeout > day) {
            throw config_error("decision_service_config.keep_alive_timeout",
                               "must be in (0, " + std::to_string(day.count()) + "] s, got " + std::to_string(keep_alive_timeout.count()));
        }
        if (max_time_backwards.count() < 0) {
            throw config_error("decision_service_config.max_time_backwards",
                               "must be >= 0 ms, got " + std::to_string(max_time_backwards.count()) + " ms");
        }
        if (max_time_jump.count() <= 0) {
            throw config_error("decision_service_config.max_time_jump", "must be > 0 s, got " + std::to_string(max_time_jump.count()) + " s");
        }
        guard.validate();
    }
};

/// Makes the policy of a function on its first request. May throw (the
/// request then answers 500 and the next request of that function tries again).
/// It runs outside the service's locks, so a slow factory (a learned
/// policy validates and copies a whole network) holds up no other request;
/// it may therefore be called from several request threads at once, for
/// different functions or for the same one (the first policy made is the
/// function's, any other is dropped).
using policy_factory = std::function<any_policy(const std::string& function)>;

/// An HTTP status and JSON body.
struct http_answer {
    int status = 200;  ///< HTTP status
    std::string body;  ///< JSON
};

namespace detail {

/// `j` as JSON text; a string that is not valid UTF-8 (which no text from
/// outside should be by now) has each bad byte replaced by U+FFFD instead of
/// throwing.
[[nodiscard]] inline std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A decision's answer: replicas, source and reason, and the per-replica
/// limits a multidimensional policy set ("cpu_limit" cores,
/// "memory_limit_mb"), each only when it is to change.
[[nodiscard]] inline json decision_json(const decision& d) {
    json j = {{"replicas", d.replicas}, {"source", to_string(d.source)}, {"reason", d.reason}};
    if (std::isfinite(d.cpu_limit)) j["cpu_limit"] = d.cpu_limit;
    if (std::isfinite(d.memory_limit_mb)) j["memory_limit_mb"] = d.memory_limit_mb;
    return j;
}

/// decision_json, and for a hold on metrics that check_metrics refuses,
/// which one and its value: "invalid_metric": {"field": ..., "value": ...}
/// (a value JSON cannot carry, NaN or ±∞, as the string "nan", "inf" or
/// "-inf"), so that a client can tell what to fix.
[[nodiscard]] inline json answer_json(const decision& d, const function_metrics& m) {
    json j = decision_json(d);
    if (d.source != decision_source::hold) return j;
    if (const encode_status status = check_metrics(m); !status) {
        const double v = status.value;
        const json value = std::isfinite(v) ? json(v) : json(std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
        j["invalid_metric"] = {{"field", std::string(status.field)}, {"value", value}};
    }
    return j;
}

}  // namespace detail

/// {"error": message, "replicas": -1}. Never throws for a message that is
/// not valid UTF-8 (see detail::dump); a message carrying client text should
/// pass it through detail::printable first, which also bounds it.
[[nodiscard]] inline std::string error_body(std::string_view message) {
    return detail::dump(detail::json{{"error", message}, {"replicas", -1}});
}

/// Counters of a running service (monotonic since construction, but for
/// `queued` and `functions`).
struct service_stats {
    std::uint64_t decisions = 0;          ///< functions decided: one per 200 answer to a single request, one per function of a multi-function one
    /// Requests refused as malformed: every 4xx answer but 404 and 405 (a
    /// wrong path or method), that is 400 (a field, the JSON, a length, a
    /// body on a GET, httplib's own for a bad request line or headers), 413
    /// (a body over the limit, by Content-Length or chunked), 414, 415 (a
    /// compressed body) and 416. Not a request cut off by a stop, whose
    /// connection is closed unanswered.
    std::uint64_t bad_requests = 0;
    std::uint64_t internal_errors = 0;    ///< 500 answers
    std::uint64_t overloaded = 0;         ///< connections refused because the queue was full (answered 503, or dropped)
    std::uint64_t dropped = 0;            ///< of those, connections closed at once because the rejecting queue was full too
    std::uint64_t evicted = 0;            ///< policies evicted (least recently used) to make room for a new function
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
/// the connections in progress and joins every thread. Requests with invalid
/// UTF-8 or nested deeper than max_json_depth answer 400; a request must
/// arrive whole within request_deadline; the function table keeps the
/// max_functions most recently used functions.
///
/// Endpoints: POST /decide (the decision), GET /healthz ({"status": "ok"}).
/// Any other method on these paths answers 405, any other path 404, both
/// with {"error": ..., "replicas": -1}.
class decision_service {
public:
    /// Validates `config` and keeps `factory`, which makes each function's
    /// policy on its first request. Throws config_error naming the field,
    /// or if `factory` is empty.
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
        server_ = std::make_unique<detail::connection_server>(detail::connection_limits{
            .read_timeout = config_.read_timeout,
            .write_timeout = config_.write_timeout,
            .keep_alive_timeout = config_.keep_alive_timeout,
            .keep_alive_max_count = config_.keep_alive_max_count,
            .request_deadline = config_.request_deadline,
            .request_bytes = request_bytes(),
            .waiting = &queued_});
        configure(*server_);
        // The workers start here, before anything listens: a thread that
        // cannot be created is this call's error, not an abort inside
        // httplib's listening thread after the port was announced.
        try {
            queue_ = std::make_unique<detail::bounded_task_queue>(config_.threads, config_.max_queued, config_.max_rejecting,
                                                                  queued_, overloaded_, dropped_);
        } catch (const std::exception& e) {
            server_.reset();
            throw error("decision_service: cannot start " + std::to_string(config_.threads) + " worker threads: " + e.what());
        }
        const int port = config_.port == 0 ? server_->bind_to_any_port(config_.host)
                                           : (server_->bind_to_port(config_.host, config_.port) ? config_.port : -1);
        if (port <= 0) {
            server_.reset();
            queue_.reset();
            throw error("decision_service: cannot bind " + config_.host + ":" + std::to_string(config_.port));
        }
        port_ = port;
        // Set before the thread starts; cleared as soon as the accept loop
        // ends (httplib shuts the queue down then, before the queued
        // connections are finished), and again when the thread returns.
        listening_ = true;
        queue_->on_shutdown([this, srv = server_.get()] {
            srv->listener_closed();
            listening_ = false;
        });
        try {
            thread_ = std::thread([this, srv = server_.get()] {
                srv->listen_after_bind();
                listening_ = false;
            });
        } catch (const std::exception& e) {
            listening_ = false;
            port_ = 0;
            server_->close_unlistened();
            queue_.reset();  // first: its on_shutdown callback uses server_
            server_.reset();
            throw error(std::string("decision_service: cannot start the listening thread: ") + e.what());
        }
        // httplib ignores stop() until listening has begun: wait for it.
        while (!server_->is_running() && listening_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return port_;
    }

    /// True from a successful start() until stop(), as long as the listening
    /// thread accepts: false once its accept loop has ended on its own (at
    /// once, before the connections already accepted are finished, which
    /// are then served as in a stop()). httplib 0.11
    /// closes the listening socket when accept() fails with an error other
    /// than EMFILE, EINTR or EAGAIN (ENFILE, ENOBUFS, ENOMEM, ...), finishes
    /// the connections it had accepted and returns: the service then takes no
    /// new connection, and a program should exit for its supervisor to
    /// restart it (the example server checks every second and exits with 1).
    [[nodiscard]] bool listening() const noexcept { return listening_; }

    /// Stops serving and joins every thread; the port is released when it returns. Idempotent.
    void stop() {
        std::lock_guard lock(lifecycle_);
        if (!thread_.joinable()) return;
        listening_ = false;
        server_->stop();
        thread_.join();
        server_.reset();
        port_ = 0;
    }

    /// The bound port while running, else 0.
    [[nodiscard]] int port() const noexcept { return port_; }
    /// The configuration, validated.
    [[nodiscard]] const decision_service_config& config() const noexcept { return config_; }

    /// Serves `policy` for requests that carry several functions (see
    /// handle): a multi-function learned policy decides them all together,
    /// in the order `functions` names them. Keeps the factory in use.
    void serve_joint(any_joint_policy policy, std::vector<std::string> functions) {
        // The factory read and the swap under one hold of replace_mutex_:
        // a replace() between them would otherwise be undone.
        std::lock_guard serial(replace_mutex_);
        swap_in(make_policies(current()->factory, joint_service_policy{std::move(policy), std::move(functions)}));
    }

    /// Replaces every policy at once, while serving or not: from now on each
    /// function's policy is made afresh by `factory` on its next request (so
    /// a stateful policy such as the HPA starts over, as at start-up), and
    /// multi-function requests go to `joint` if given. Requests in flight
    /// finish on the policies they started with. Throws config_error, and
    /// changes nothing, if `factory` is empty or `joint` names a different
    /// number of functions than its policy decides.
    void replace(policy_factory factory, std::optional<joint_service_policy> joint = std::nullopt) {
        std::lock_guard serial(replace_mutex_);
        swap_in(make_policies(std::move(factory), std::move(joint)));
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
    /// several functions answers 400. Never throws: client input that cannot
    /// be decided answers 400, any other failure 500.
    [[nodiscard]] http_answer handle(std::string_view body) {
        const std::shared_ptr<policies> p = current();
        return answer_errors([&]() -> http_answer {
            const detail::json j = detail::parse_body(body);
            if (j.is_object() && j.contains("functions")) return handle_multi(*p, j);
            if (p->joint && p->joint->functions.size() > 1) {
                throw request_error("body", "this service decides " + std::to_string(p->joint->functions.size()) +
                                                " functions together; send {\"functions\": [...]} with one request per function, in order");
            }
            const decision_request req = detail::parse_request(j, config_.max_function_name, config_.require_slo);
            const decision d = decide_one(*find_or_create(*p, req.function), req);
            ++decisions_;
            return {200, detail::dump(detail::answer_json(d, req.metrics))};
        });
    }

    /// The counters now.
    [[nodiscard]] service_stats stats() const {
        service_stats s;
        s.decisions = decisions_.load();
        s.bad_requests = bad_requests_.load();
        s.internal_errors = internal_errors_.load();
        s.overloaded = overloaded_.load();
        s.dropped = dropped_.load();
        s.evicted = evicted_.load();
        s.queued = queued_.load();
        s.replacements = replacements_.load();
        const auto p = current();
        std::lock_guard lock(p->functions_mutex);
        s.functions = p->index.size();
        return s;
    }

private:
    /// The last time_s accepted for one function: its first request sets it;
    /// later ones may be at most max_time_backwards before it and at most
    /// max_time_jump after it, and it keeps the latest time accepted.
    struct function_clock {
        std::optional<double> last;

        /// Throws request_error("time_s") if `t` is out of bounds.
        void check(double t, const decision_service_config& c) const {
            if (!last) return;
            const double backwards = std::chrono::duration<double>(c.max_time_backwards).count();
            const double jump = std::chrono::duration<double>(c.max_time_jump).count();
            const auto s = [](double v) { return detail::json(v).dump(); };
            if (t < *last - backwards) {
                throw request_error("time_s", "goes back to " + s(t) + " s from this function's last time " + s(*last) + " s (at most " +
                                                  s(backwards) + " s allowed)");
            }
            if (t > *last + jump) {
                throw request_error("time_s", "jumps to " + s(t) + " s from this function's last time " + s(*last) + " s (at most " +
                                                  s(jump) + " s ahead allowed)");
            }
        }
        /// Records a decided request's time.
        void accept(double t) { last = last ? std::max(*last, t) : t; }
    };

    struct joint_entry {
        joint_entry(any_joint_policy p, std::vector<std::string> f)
            : policy(std::move(p)), functions(std::move(f)), clocks(functions.size()) {}
        std::mutex mutex;  // guards policy and clocks
        any_joint_policy policy;
        std::vector<std::string> functions;
        std::vector<function_clock> clocks;  // one per function, in order
    };

    struct entry {
        explicit entry(any_policy p, guard_config g) : policy(std::move(p), g) {}
        std::mutex mutex;  // guards policy and clock
        guarded<any_policy> policy;
        function_clock clock;
    };

    /// Function names with their policies, most recently used first.
    using recency_list = std::list<std::pair<std::string, std::shared_ptr<entry>>>;

    /// Everything one replace() installs: the factory, the joint policy and
    /// the per-function policies made from the factory so far (at most
    /// max_functions: the least recently used is evicted for a new one). A
    /// request holds the set it started on, and the entries it decides with,
    /// so neither a replace() nor an eviction frees a policy in use.
    struct policies {
        policy_factory factory;
        std::unique_ptr<joint_entry> joint;
        mutable std::mutex functions_mutex;  // guards recency and index
        recency_list recency;
        std::unordered_map<std::string_view, recency_list::iterator> index;  // keys view the names in `recency`
    };

    [[nodiscard]] std::shared_ptr<policies> make_policies(policy_factory factory, std::optional<joint_service_policy> joint) const {
        if (!factory) throw config_error("decision_service.factory", "must not be empty");
        auto p = std::make_shared<policies>();
        p->factory = std::move(factory);
        if (joint) {
            // One function's policy is the factory's: a joint of one would
            // give that function a second policy and clock, which a
            // multi-function body would reach and a single one not.
            if (joint->functions.size() < 2) {
                throw config_error("decision_service.joint", "names " + std::to_string(joint->functions.size()) +
                                                                 " functions; a joint policy decides at least 2 (serve one "
                                                                 "function's policy through the factory)");
            }
            if (joint->policy.functions() != joint->functions.size()) {
                throw config_error("decision_service.joint", "the policy decides " + std::to_string(joint->policy.functions()) +
                                                                 " functions, " + std::to_string(joint->functions.size()) + " names given");
            }
            // A request for them must list them all, and lists are bounded by max_functions.
            if (joint->functions.size() > config_.max_functions) {
                throw config_error("decision_service.joint", "the policy decides " + std::to_string(joint->functions.size()) +
                                                                 " functions, more than max_functions (" +
                                                                 std::to_string(config_.max_functions) + ")");
            }
            // Requests name them: each must be a name a request can carry, once.
            const std::vector<std::string>& names = joint->functions;
            for (std::size_t i = 0; i < names.size(); ++i) {
                const std::string field = "decision_service.joint.functions[" + std::to_string(i) + "]";
                if (const std::string problem = detail::function_name_problem(names[i], config_.max_function_name); !problem.empty()) {
                    throw config_error(field, "\"" + detail::printable(names[i]) + "\" " + problem + ", which no request can carry");
                }
                if (const auto it = std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]);
                    it != names.begin() + static_cast<std::ptrdiff_t>(i)) {
                    throw config_error(field, "repeats functions[" + std::to_string(it - names.begin()) + "], \"" +
                                                  detail::printable(names[i]) + "\"");
                }
            }
            p->joint = std::make_unique<joint_entry>(std::move(joint->policy), std::move(joint->functions));
        }
        return p;
    }

    [[nodiscard]] std::shared_ptr<policies> current() const {
        std::lock_guard lock(policies_mutex_);
        return policies_;
    }

    /// Installs `next` (made by make_policies); the caller holds replace_mutex_.
    void swap_in(std::shared_ptr<policies> next) {
        std::lock_guard lock(policies_mutex_);
        policies_ = std::move(next);
        ++replacements_;
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
            return {500, error_body("internal: " + detail::printable(e.what(), internal_message_bytes))};
        } catch (...) {
            ++internal_errors_;
            return {500, error_body("internal error")};
        }
    }

    /// Most bytes of an exception's message a 500 answer repeats.
    static constexpr std::size_t internal_message_bytes = 1000;

    /// Runs `f`, naming element `i` of a multi-function request in the request_error it throws.
    template <typename F>
    static auto at_element(std::size_t i, F&& f) {
        try {
            return f();
        } catch (const request_error& e) {
            // A bracket-quoted key ("[\"a.b\"]") follows the index with no dot.
            throw request_error("functions[" + std::to_string(i) + "]" + (e.field().starts_with('[') ? "" : ".") + e.field(), e.detail());
        }
    }

    /// Decides one request with its function's policy, if its time_s is
    /// within bounds of the function's clock (else request_error).
    decision decide_one(entry& fn, const decision_request& req) {
        std::lock_guard lock(fn.mutex);
        fn.clock.check(req.state.time_s, config_);
        const decision d = within_bounds(fn.policy.decide(req.metrics, req.state), req.state);
        fn.clock.accept(req.state.time_s);
        return d;
    }

    /// `d` with its count inside [min, max]: a 200 answer always is. The
    /// guard keeps the current count on metrics it refuses, even outside
    /// the bounds (a controller then sends nothing); a client of the
    /// service applies the answer, so a hold is brought within bounds here.
    static decision within_bounds(decision d, const scaling_state& s) noexcept {
        d.replicas = replica_bounds::of(s).clamp(d.replicas);
        return d;
    }

    /// Answers a body {"functions": [...]} (see handle); throws request_error for a refused element.
    http_answer handle_multi(policies& p, const detail::json& j) {
        for (const auto& [key, v] : j.items()) {
            if (key != "functions") {
                throw request_error(detail::join("", key), "unknown field (a multi-function request has only \"functions\")");
            }
        }
        const auto& list = j["functions"];
        if (!list.is_array() || list.empty()) throw request_error("functions", "must be a non-empty array of requests");
        if (list.size() > config_.max_functions) {
            throw request_error("functions", "more than " + std::to_string(config_.max_functions) + " requests");
        }
        std::vector<decision_request> reqs;
        for (std::size_t i = 0; i < list.size(); ++i) {
            detail::object(list[i], "functions[" + std::to_string(i) + "]");
            reqs.push_back(at_element(i, [&] { return detail::parse_request(list[i], config_.max_function_name, config_.require_slo); }));
        }
        std::vector<decision> out(reqs.size());
        if (p.joint) {
            if (reqs.size() != p.joint->functions.size()) {
                throw request_error("functions", "has " + std::to_string(reqs.size()) + " requests, the policy decides " +
                                                     std::to_string(p.joint->functions.size()) + " functions together");
            }
            std::vector<function_metrics> m;
            std::vector<scaling_state> st;
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                // Element i is the policy's function i: another name, or the
                // right names in another order, would get another function's
                // decision.
                at_element(i, [&] {
                    if (reqs[i].function != p.joint->functions[i]) {
                        throw request_error("function", "is \"" + detail::printable(reqs[i].function) +
                                                            "\"; the policy decides \"" + p.joint->functions[i] + "\" at position " +
                                                            std::to_string(i));
                    }
                });
                m.push_back(reqs[i].metrics);
                st.push_back(reqs[i].state);
            }
            std::lock_guard lock(p.joint->mutex);
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                at_element(i, [&] { p.joint->clocks[i].check(reqs[i].state.time_s, config_); });
            }
            p.joint->policy.decide(std::span<const function_metrics>(m), std::span<const scaling_state>(st), std::span<decision>(out));
            // The service's guard over every function, as for one-function
            // policies (a joint policy from a checkpoint guards itself too;
            // the guard is idempotent).
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                out[i] = check_metrics(m[i]) ? apply_guard(out[i], st[i], config_.guard, m[i].ready_replicas) : keep(st[i], "guard: invalid metrics");
                out[i] = within_bounds(out[i], st[i]);
                p.joint->clocks[i].accept(reqs[i].state.time_s);
            }
        } else {
            // Every element's name and time are checked before any is
            // decided, so a refused element leaves the others undecided,
            // unless a clock moves in between (a concurrent request of the
            // same function): then the check in decide_one refuses, after
            // the elements before it.
            std::unordered_map<std::string_view, std::size_t> first;
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                const auto inserted = first.emplace(reqs[i].function, i);
                if (!inserted.second) {
                    const std::size_t earlier = inserted.first->second;
                    at_element(i, [&] {
                        throw request_error("function", "\"" + detail::printable(reqs[i].function) + "\" is also functions[" +
                                                            std::to_string(earlier) + "]; a function appears once per request");
                    });
                }
            }
            // A refused request changes nothing: the functions with a
            // policy have their times checked, then the policies of those
            // without one are made (a factory that throws refuses the
            // request), and only then are any added to the table, which
            // may evict others. A new function's clock takes any time.
            std::vector<std::shared_ptr<entry>> fns(reqs.size());
            std::vector<bool> found(reqs.size());
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                fns[i] = find(p, reqs[i].function);
                found[i] = fns[i] != nullptr;
                if (fns[i]) {
                    std::lock_guard lock(fns[i]->mutex);
                    at_element(i, [&] { fns[i]->clock.check(reqs[i].state.time_s, config_); });
                }
            }
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                if (!fns[i]) fns[i] = make_entry(p, reqs[i].function);
            }
            add_all(p, reqs, found, fns);
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                out[i] = at_element(i, [&] { return decide_one(*fns[i], reqs[i]); });
            }
        }
        detail::json answers = detail::json::array();
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            detail::json a = detail::answer_json(out[i], reqs[i].metrics);
            a["function"] = reqs[i].function;
            answers.push_back(std::move(a));
        }
        decisions_ += reqs.size();
        return {200, detail::dump(detail::json{{"decisions", std::move(answers)}})};
    }

    /// The entry of function `name`, or null; does not mark it used.
    [[nodiscard]] static std::shared_ptr<entry> find(policies& p, const std::string& name) {
        std::lock_guard lock(p.functions_mutex);
        const auto it = p.index.find(name);
        return it == p.index.end() ? nullptr : it->second->second;
    }

    /// A new entry for function `name`, with a policy from the factory.
    /// Called outside the table's lock, so that other requests do not wait
    /// for the factory.
    [[nodiscard]] std::shared_ptr<entry> make_entry(const policies& p, const std::string& name) const {
        return std::make_shared<entry>(p.factory(name), config_.guard);
    }

    /// Puts the entries `fns` of a request's functions in the table, as the
    /// most recently used: those still in it first (so that adding the
    /// others evicts none of this request's functions; a request names at
    /// most max_functions), then those `found` but evicted meanwhile, and
    /// the new ones. Where a concurrent request put another entry for a
    /// function in the table, that one is the function's, and replaces
    /// fns[i]. All under one hold of the table's lock.
    void add_all(policies& p, const std::vector<decision_request>& reqs, const std::vector<bool>& found,
                 std::vector<std::shared_ptr<entry>>& fns) {
        std::lock_guard lock(p.functions_mutex);
        std::vector<bool> in_table(reqs.size());
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            if (const auto it = p.index.find(reqs[i].function); it != p.index.end()) {
                p.recency.splice(p.recency.begin(), p.recency, it->second);
                fns[i] = it->second->second;
                in_table[i] = true;
            }
        }
        // The evicted ones keep their clocks and policies, as if never evicted.
        for (const bool pass_found : {true, false}) {
            for (std::size_t i = 0; i < reqs.size(); ++i) {
                if (in_table[i] || found[i] != pass_found) continue;
                add_locked(p, reqs[i].function, fns[i]);
            }
        }
    }

    /// Adds `e` as function `name`'s entry, the most recently used,
    /// evicting the least recently used function when max_functions have
    /// one. The caller holds the table's lock and knows `name` is not in it.
    void add_locked(policies& p, const std::string& name, std::shared_ptr<entry> e) {
        if (p.index.size() >= config_.max_functions) {
            p.index.erase(p.recency.back().first);
            p.recency.pop_back();  // requests deciding with it keep it alive
            ++evicted_;
        }
        p.recency.emplace_front(name, std::move(e));
        p.index.emplace(p.recency.front().first, p.recency.begin());
    }

    /// The entry of function `name`, made by the factory if it has none,
    /// evicting the least recently used function when max_functions have
    /// one; marks it the most recently used. O(1) besides the factory.
    std::shared_ptr<entry> find_or_create(policies& p, const std::string& name) {
        if (auto e = find_or_add(p, name, nullptr)) return e;
        // Made before the eviction, so that a factory that throws evicts
        // nothing.
        return find_or_add(p, name, make_entry(p, name));
    }

    /// The entry of function `name`, marked the most recently used; if it
    /// has none, `made` becomes its entry (evicting the least recently used
    /// function when max_functions have one), and with `made` null, null.
    /// A request that made the same function's policy meanwhile got there
    /// first: its entry is the function's, `made` is dropped.
    std::shared_ptr<entry> find_or_add(policies& p, const std::string& name, std::shared_ptr<entry> made) {
        std::lock_guard lock(p.functions_mutex);
        if (const auto it = p.index.find(name); it != p.index.end()) {
            p.recency.splice(p.recency.begin(), p.recency, it->second);  // iterators stay valid
            return it->second->second;
        }
        if (!made) return nullptr;
        add_locked(p, name, std::move(made));
        return p.recency.front().second;
    }

    /// The most bytes one request may take on the wire: twice the body
    /// limit (room for a chunked body's framing) and 64 KiB for the request
    /// line and headers. Beyond it the connection is cut (httplib answers
    /// 400), so a chunked body cannot grow without bound.
    [[nodiscard]] std::size_t request_bytes() const noexcept {
        constexpr std::size_t head = 64 * 1024;
        const std::size_t cap = std::numeric_limits<std::size_t>::max();
        return config_.max_body_bytes > (cap - head) / 2 ? cap : 2 * config_.max_body_bytes + head;
    }

    static void json_reply(httplib::Response& res, int status, const std::string& body) {
        res.status = status;
        res.set_content(body, "application/json");
    }

    void configure(httplib::Server& srv) {
        // httplib asks for its queue once per listen and owns it from then
        // on; start() has made it already.
        srv.new_task_queue = [this] { return queue_.release(); };
        srv.set_payload_max_length(config_.max_body_bytes);
        // connection_server applies the keep-alive limits itself; httplib
        // advertises these in each answer's Keep-Alive header.
        srv.set_keep_alive_timeout(static_cast<time_t>(config_.keep_alive_timeout.count()));
        srv.set_keep_alive_max_count(config_.keep_alive_max_count);
        // Headers and body go out in separate writes: without TCP_NODELAY,
        // Nagle and delayed ACKs add ~40 ms to every keep-alive answer.
        // (connection_server sets it on every accepted socket as well.)
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
        // httplib sets these as SO_RCVTIMEO / SO_SNDTIMEO of accepted sockets;
        // connection_server applies them, the keep-alive limits and the
        // request deadline itself (connection_limits).
        srv.set_read_timeout(us(config_.read_timeout).first, us(config_.read_timeout).second);
        srv.set_write_timeout(us(config_.write_timeout).first, us(config_.write_timeout).second);

        srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            const auto refuse = [this, &res](int status, const std::string& what) {
                ++bad_requests_;
                // The body is not read: the connection cannot carry another request.
                res.set_header("Connection", "close");
                json_reply(res, status, error_body(what));
                return httplib::Server::HandlerResponse::Handled;
            };
            // httplib inflates a gzip or brotli body as it reads it, after its
            // size limit has been checked on the compressed bytes: a small
            // body could inflate into gigabytes. Refused before it is read.
            for (auto [it, end] = req.headers.equal_range("Content-Encoding"); it != end; ++it) {
                if (!ascii_iequals(it->second, "identity")) {  // content codings ignore case (RFC 9110 §8.4.1)
                    return refuse(415, "Content-Encoding " + detail::printable(it->second, 64) +
                                           ": not accepted (send the body uncompressed)");
                }
            }
            // A body's length must be unambiguous (RFC 9112 §6.3): httplib reads
            // the first of several Content-Length headers and the digits before
            // any junk, where a proxy in front may read another length and see
            // a second request in this one's body.
            const auto lengths = req.headers.equal_range("Content-Length");
            std::size_t count = 0;
            for (auto it = lengths.first; it != lengths.second; ++it, ++count) {
                const std::string& v = it->second;
                if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
                    return refuse(400, "Content-Length " + detail::printable(v, 64) + ": not a length");
                }
            }
            if (count > 1) return refuse(400, "Content-Length: given " + std::to_string(count) + " times");
            if (count == 1 && req.has_header("Transfer-Encoding")) {
                return refuse(400, "Content-Length: given with Transfer-Encoding");
            }
            // The same for Transfer-Encoding: httplib decodes a body as chunked
            // only when the first such header is "chunked", and otherwise reads
            // it to the connection's close, where a proxy may join a second
            // header to the first ("chunked, identity") or frame "gzip" by the
            // close. One header whose one coding is chunked; a last coding
            // other than chunked leaves the length unknown (400, RFC 9112
            // §6.3), chunked after another coding is a coding not done here
            // (501, §6.1).
            const auto codings = req.headers.equal_range("Transfer-Encoding");
            const auto coding_count = static_cast<std::size_t>(std::distance(codings.first, codings.second));
            if (coding_count > 1) return refuse(400, "Transfer-Encoding: given " + std::to_string(coding_count) + " times");
            if (coding_count == 1) {
                const std::string_view value = trim_http_spaces(codings.first->second);
                if (!ascii_iequals(value, "chunked")) {
                    const std::size_t comma = value.rfind(',');
                    const std::string_view last = trim_http_spaces(comma == std::string_view::npos ? value : value.substr(comma + 1));
                    const std::string shown = "Transfer-Encoding " + detail::printable(std::string(value), 64);
                    if (ascii_iequals(last, "chunked")) return refuse(501, shown + ": only chunked is accepted");
                    return refuse(400, shown + ": the body's length is unknown (chunked must be the last coding)");
                }
            }
            // httplib reads a body only for POST, PUT, PATCH, DELETE and PRI:
            // another method's body would stay on the connection and be read
            // as the next request, a second answer to this one.
            const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE" ||
                                    req.method == "PRI";
            const bool has_body = coding_count == 1 || (count == 1 && lengths.first->second.find_first_not_of('0') != std::string::npos);
            if (!reads_body && has_body) {
                return refuse(400, "body: a " + detail::printable(req.method, 16) + " request carries none here");
            }
            // Such a request without either header has no body (RFC 9112
            // §6.3), but httplib reads one to the connection's close: a worker
            // held until the request deadline, and a request pipelined behind
            // taken as this one's body.
            if (reads_body && count == 0 && coding_count == 0) {
                if (req.method == "POST") return refuse(411, "Content-Length: required (or Transfer-Encoding: chunked)");
                // A PUT, PATCH, DELETE or PRI without one: no route takes
                // them, and httplib would read a body to the close before
                // the route's answer. Answered here as the routes answer
                // (405 with Allow on the service's two paths, 404
                // elsewhere; neither a malformed request), without reading.
                res.set_header("Connection", "close");
                if (req.path == "/decide" || req.path == "/healthz") {
                    res.set_header("Allow", req.path == "/decide" ? "POST" : "GET");
                    json_reply(res, 405,
                               error_body("method " + detail::printable(req.method) + " not allowed on " + detail::printable(req.path)));
                } else {
                    json_reply(res, 404, error_body("not found: " + detail::printable(req.path)));
                }
                return httplib::Server::HandlerResponse::Handled;
            }
            // Range is ignored (RFC 9110 §14.2 lets a server): every answer
            // is the whole JSON document, never multipart/byteranges.
            // (httplib's Request is not const where it is made.)
            const_cast<httplib::Request&>(req).ranges.clear();
            return httplib::Server::HandlerResponse::Unhandled;
        });
        srv.Post("/decide", [this](const httplib::Request& req, httplib::Response& res) {
            if (detail::bounded_task_queue::rejecting()) {
                res.set_header("Connection", "close");
                json_reply(res, 503, error_body("overloaded: request queue full"));
                return;
            }
            // httplib checks its payload limit against Content-Length only:
            // a chunked body is bounded here (its bytes on the wire by the
            // stream, at about twice the limit).
            if (req.body.size() > config_.max_body_bytes) {
                ++bad_requests_;
                json_reply(res, 413, error_body("body: larger than the request size limit (" +
                                                std::to_string(config_.max_body_bytes) + " bytes)"));
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
                json_reply(res, 405, error_body("method " + detail::printable(req.method) + " not allowed on " + detail::printable(req.path)));
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
        // request line, ...) gets a JSON body too; ours already have one (and
        // were counted where they were made). The path is the client's,
        // percent-decoded: any bytes, any length.
        srv.set_error_handler(httplib::Server::HandlerWithResponse([this, limit = config_.max_body_bytes](const httplib::Request& req,
                                                                                                         httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            // Not a request cut off by a stop (its connection is closed
            // unanswered: the 400 httplib made here is never written).
            if (res.status >= 400 && res.status < 500 && res.status != 404 && !detail::deadline_stream::current_answer_suppressed()) {
                ++bad_requests_;
            }
            std::string what;
            switch (res.status) {
                case 404: what = "not found: " + detail::printable(req.path); break;
                case 413: what = "body: larger than the request size limit (" + std::to_string(limit) + " bytes)"; break;
                case 400:
                    what = "request: not a well-formed HTTP request (its request line or headers, or a body cut at the "
                           "request size limit)";
                    break;
                default: what = "HTTP " + std::to_string(res.status); break;
            }
            res.set_content(error_body(what), "application/json");
            // A request refused this way may have left bytes unread (a
            // body cut short, a chunked trailer, a length over the limit):
            // they must not be read as the next request. Only a 404 has
            // been read whole.
            if (res.status != 404) res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }));
        srv.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            ++internal_errors_;
            std::string what = "internal error";
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = "internal: " + detail::printable(e.what(), internal_message_bytes);
            } catch (...) {
            }
            json_reply(res, 500, error_body(what));
        });
    }

    decision_service_config config_;
    std::mutex replace_mutex_;  // one replace() or serve_joint() at a time
    mutable std::mutex policies_mutex_;
    std::shared_ptr<policies> policies_;
    std::atomic<std::uint64_t> replacements_{0};
    std::atomic<std::uint64_t> decisions_{0};
    std::atomic<std::uint64_t> bad_requests_{0};
    std::atomic<std::uint64_t> internal_errors_{0};
    std::atomic<std::uint64_t> overloaded_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> evicted_{0};
    std::atomic<std::uint64_t> queued_{0};
    std::mutex lifecycle_;
    std::unique_ptr<detail::connection_server> server_;
    std::unique_ptr<detail::bounded_task_queue> queue_;  // made by start(), handed to httplib when it listens
    std::thread thread_;
    std::atomic<int> port_{0};
    std::atomic<bool> listening_{false};  // see listening()
};

}  // namespace rlscale::service
