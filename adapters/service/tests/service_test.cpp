// The decision service over real loopback sockets.

#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/service/decision_service.hpp>

#include "raw_connection.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace test_service_service {

using rlscale::service::decision_service;
using rlscale::service::decision_service_config;
using json = nlohmann::json;
using rlscale::test::raw_connection;

namespace {

decision_service_config loopback() {
    decision_service_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.threads = 4;
    c.guard.max_step_up = 1000;
    c.guard.max_step_down = 1000;
    return c;
}

rlscale::service::policy_factory hpa_at(int percent) {
    return [percent](const std::string&) { return rlscale::any_policy(rlscale::hpa_policy(rlscale::hpa_config::cpu_utilization(percent))); };
}

httplib::Client client(int port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(20, 0);
    c.set_write_timeout(5, 0);
    return c;
}

json request(const std::string& fn, int replicas, int lo, int hi, double cpu) {
    return json{{"function", fn},
                {"time_s", 100.0},
                {"replicas", replicas},
                {"min_replicas", lo},
                {"max_replicas", hi},
                {"metrics", {{"interval_s", 15.0}, {"arrivals", 0}, {"completions", 0}, {"throughput_rps", 0.0}, {"queue_length", 0},
                             {"in_service", 0}, {"cpu_utilization", cpu}, {"memory_utilization", 0.0}, {"cpu_limit", 1.0},
                             {"ready_replicas", replicas}}}};
}

/// Status and parsed body; fails the test if there is no answer or the body is not JSON.
std::pair<int, json> post(httplib::Client& c, const std::string& body) {
    auto res = c.Post("/decide", body, "application/json");
    REQUIRE_MESSAGE(res, "no answer: " << httplib::to_string(res.error()));
    CHECK(res->get_header_value("Content-Type") == "application/json");
    return {res->status, json::parse(res->body)};
}

void check_refused(const std::pair<int, json>& r, int status, const std::string& field) {
    CHECK(r.first == status);
    CHECK(r.second.at("replicas") == -1);
    const std::string error = r.second.at("error").get<std::string>();
    CHECK_MESSAGE(error.rfind(field + ":", 0) == 0, "error was: " << error);
}

/// Whether `s` is valid UTF-8 (nlohmann refuses to dump a string that is not).
bool valid_utf8(const std::string& s) {
    try {
        (void)json(s).dump();
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

/// Waits (at most 10 s) until `n` connections wait for a worker; whether they do.
bool wait_queued(const decision_service& svc, std::uint64_t n) {
    // One reading per check: the count may move on between two readings
    // (a connection accepted just after the count was seen at n).
    const auto by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        if (svc.stats().queued == n) return true;
        if (std::chrono::steady_clock::now() >= by) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

/// Status and body of a raw HTTP exchange: sends `request` and reads until the server closes.
std::pair<int, std::string> raw_exchange(int port, const std::string& request) {
    raw_connection c(port);
    REQUIRE(c.connected());
    REQUIRE(c.send(request));
    const std::string answer = c.read_all(std::chrono::seconds(10));
    const auto body_at = answer.find("\r\n\r\n");
    REQUIRE_MESSAGE(answer.rfind("HTTP/1.1 ", 0) == 0, "answer: " << answer.substr(0, 200));
    REQUIRE(body_at != std::string::npos);
    return {std::stoi(answer.substr(9, 3)), answer.substr(body_at + 4)};
}

}  // namespace

TEST_CASE("valid request: HPA doubles the replicas at 100% CPU of a 50% target, clamped by max") {
    decision_service svc(loopback(), hpa_at(50));
    const int port = svc.start();
    REQUIRE(port > 0);
    auto c = client(port);

    auto [status, body] = post(c, request("fn-a", 3, 1, 10, 1.0).dump());
    CHECK(status == 200);
    CHECK(body.at("replicas") == 6);
    CHECK(body.at("source") == "policy");
    CHECK(body.at("reason").is_string());

    auto [status2, body2] = post(c, request("fn-b", 4, 1, 6, 1.0).dump());
    CHECK(status2 == 200);
    CHECK(body2.at("replicas") == 6);  // 8 wanted, max 6

    // SLO and latency fields are accepted; null latency = no data.
    json r = request("fn-c", 2, 1, 10, 0.5);
    r["slo"] = {{"latency_s", 0.5}, {"percentile", 0.99}, {"target_rps", 10}};
    r["metrics"]["latency"] = {{"p90", 0.2}, {"p99", nullptr}};
    r["metrics"]["arrivals"] = 100;
    auto [status3, body3] = post(c, r.dump());
    CHECK(status3 == 200);
    CHECK(body3.at("replicas") == 2);  // at target: no change
    CHECK(svc.stats().decisions == 3);
    CHECK(svc.stats().functions == 3);
    svc.stop();
}

TEST_CASE("invalid metrics that parse are held by the guard") {
    decision_service svc(loopback(), hpa_at(50));
    auto c = client(svc.start());
    json r = request("fn", 3, 1, 10, 1.0);
    r["metrics"]["completions"] = 5;  // completions but no latency: check_metrics refuses
    auto [status, body] = post(c, r.dump());
    CHECK(status == 200);
    CHECK(body.at("replicas") == 3);
    CHECK(body.at("source") == "hold");
}

TEST_CASE("a hold on refused metrics is brought within [min, max]: a 200 answer always is") {
    decision_service svc(loopback(), hpa_at(50));
    json r = request("fn", 20, 1, 10, 1.0);
    r["metrics"]["completions"] = 5;  // completions but no latency: check_metrics refuses
    const auto above = svc.handle(r.dump());
    REQUIRE(above.status == 200);
    CHECK(json::parse(above.body).at("replicas") == 10);
    CHECK(json::parse(above.body).at("source") == "hold");
    r = request("fn", 0, 2, 10, 1.0);
    r["time_s"] = 101.0;
    r["metrics"]["completions"] = 5;
    const auto below = svc.handle(r.dump());
    REQUIRE(below.status == 200);
    CHECK(json::parse(below.body).at("replicas") == 2);
}

TEST_CASE("malformed and invalid requests answer 400 with replicas -1") {
    decision_service svc(loopback(), hpa_at(50));
    auto c = client(svc.start());
    const json good = request("fn", 3, 1, 10, 1.0);

    check_refused(post(c, "{\"function\": \"fn\", "), 400, "body");
    check_refused(post(c, ""), 400, "body");
    check_refused(post(c, "[1, 2]"), 400, "body");

    json r = good;
    r["metrics"]["cpu_utilization"] = "NaN";
    check_refused(post(c, r.dump()), 400, "metrics.cpu_utilization");
    r = good;
    r["metrics"]["cpu_utilization"] = "Infinity";
    check_refused(post(c, r.dump()), 400, "metrics.cpu_utilization");
    check_refused(post(c, R"({"function":"fn","time_s":1,"replicas":1,"min_replicas":1,"max_replicas":2,"metrics":{"interval_s":1e999}})"),
                  400, "metrics.interval_s");  // overflow: a number too large for a double, named by its field
    r = good;
    r["replicas"] = "3";
    check_refused(post(c, r.dump()), 400, "replicas");
    r = good;
    r["replicas"] = 2.5;
    check_refused(post(c, r.dump()), 400, "replicas");
    r = good;
    r["function"] = 7;
    check_refused(post(c, r.dump()), 400, "function");
    r = good;
    r["function"] = "";
    check_refused(post(c, r.dump()), 400, "function");
    r = good;
    r["metrics"]["arrivals"] = -1;
    check_refused(post(c, r.dump()), 400, "metrics.arrivals");
    r = good;
    r["metrics"]["ready_replicas"] = 5000000000LL;
    check_refused(post(c, r.dump()), 400, "metrics.ready_replicas");
    r = good;
    r["metrics"]["memory_utilization"] = -0.5;
    check_refused(post(c, r.dump()), 400, "metrics.memory_utilization");
    r = good;
    r["metrics"]["latency"] = {{"p42", 1.0}};
    check_refused(post(c, r.dump()), 400, "metrics.latency.p42");
    r = good;
    r["metrics"]["cpu"] = 1.0;
    check_refused(post(c, r.dump()), 400, "metrics.cpu");
    r = good;
    r["extra"] = true;
    check_refused(post(c, r.dump()), 400, "extra");
    r = good;
    r["metrics"] = 5;
    check_refused(post(c, r.dump()), 400, "metrics");
    r = good;
    r["slo"] = {{"percentile", 1.5}};
    check_refused(post(c, r.dump()), 400, "slo.percentile");
    r = good;
    r["max_replicas"] = 0;
    check_refused(post(c, r.dump()), 400, "max_replicas");
    for (const char* field : {"function", "time_s", "replicas", "min_replicas", "max_replicas", "metrics"}) {
        r = good;
        r.erase(field);
        check_refused(post(c, r.dump()), 400, field);
    }
    r = good;
    r["metrics"].erase("interval_s");
    check_refused(post(c, r.dump()), 400, "metrics.interval_s");

    CHECK(svc.stats().decisions == 0);
    CHECK(svc.stats().functions == 0);  // nothing invalid creates a policy
    // The server is still serving.
    auto [status, body] = post(c, good.dump());
    CHECK(status == 200);
    CHECK(body.at("replicas") == 6);
}

TEST_CASE("oversized body answers 413 with a JSON body and replicas -1") {
    decision_service_config cfg = loopback();
    cfg.max_body_bytes = 1024;
    decision_service svc(cfg, hpa_at(50));
    auto c = client(svc.start());
    json r = request(std::string(100, 'f'), 3, 1, 10, 1.0);
    REQUIRE(r.dump().size() < 1024);
    CHECK(post(c, r.dump()).first == 200);
    r["function"] = std::string(4096, 'f');
    auto [status, body] = post(c, r.dump());
    CHECK(status == 413);
    CHECK(body.at("replicas") == -1);
    CHECK(body.at("error") == "body: larger than the request size limit (1024 bytes)");
    // Still serving afterwards.
    CHECK(post(c, request("fn", 3, 1, 10, 1.0).dump()).first == 200);
}

TEST_CASE("invalid UTF-8 in a body or a path answers 400 or 404 with a valid, bounded JSON body") {
    decision_service svc(loopback(), hpa_at(50));
    const int port = svc.start();
    auto c = client(port);
    const std::string tail = R"(,"time_s":100,"replicas":3,"min_replicas":1,"max_replicas":10,"metrics":{"interval_s":15,"arrivals":0,"completions":0,"throughput_rps":0,"queue_length":0,"in_service":0,"cpu_utilization":0,"memory_utilization":0,"ready_replicas":0}})";
    for (const std::string& body : {"{\"function\":\"fn\xff\"" + tail, "{\"function\":\"fn\xe2\x82\"" + tail, std::string("\xff\xfe"),
                                    "{\"function\":\"" + std::string(30000, 'a') + "\xc3\"" + tail,
                                    "{\"functions\":[{\"function\":\"fn\xff\"" + tail + "]}"}) {
        CAPTURE(body.substr(0, 40));
        auto res = c.Post("/decide", body, "application/json");
        REQUIRE(res);
        CHECK(res->status == 400);
        REQUIRE(valid_utf8(res->body));
        CHECK(res->body.size() < 400);
        check_refused({res->status, json::parse(res->body)}, 400, "body");
    }
    // A path is echoed in the 404 answer: made valid UTF-8 and cut short.
    for (const std::string& path : {std::string("/%FF%FE"), std::string("/x\xff"), "/" + std::string(5000, 'p')}) {
        const auto [status, body] = raw_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        CHECK(status == 404);
        REQUIRE(valid_utf8(body));
        CHECK(body.size() < 400);
        CHECK(json::parse(body).at("error").get<std::string>().rfind("not found: /", 0) == 0);
    }
    CHECK(svc.stats().bad_requests == 5);
    CHECK(svc.stats().internal_errors == 0);
    CHECK(post(c, request("fn", 3, 1, 10, 1.0).dump()).first == 200);  // still serving
    // A POST whose body has neither Content-Length nor chunked encoding:
    // 411, before anything is read as its body.
    const auto [status, body] = raw_exchange(port, "POST /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n{}");
    CHECK(status == 411);
    CHECK(json::parse(body).at("error").get<std::string>() == "Content-Length: required (or Transfer-Encoding: chunked)");
}

TEST_CASE("a body nested 100,000 deep answers 400 over HTTP, the server still serving") {
    decision_service_config cfg = loopback();
    cfg.max_body_bytes = 256 * 1024;  // room for 100,000 levels of [ ]
    decision_service svc(cfg, hpa_at(50));
    auto c = client(svc.start());
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    check_refused(post(c, deep), 400, "body");
    check_refused(post(c, R"({"functions":[)" + deep + "]}"), 400, "body");
    std::string objects;
    for (int i = 0; i < 30000; ++i) objects += R"({"a":)";
    objects += '1';
    objects.append(30000, '}');
    const auto refused = post(c, objects);
    check_refused(refused, 400, "body");
    CHECK(refused.second.at("error").get<std::string>().find("nested deeper than 64") != std::string::npos);
    CHECK(post(c, request("fn", 3, 1, 10, 1.0).dump()).first == 200);
}

TEST_CASE("healthz, unknown paths and wrong methods") {
    decision_service svc(loopback(), hpa_at(50));
    auto c = client(svc.start());
    auto h = c.Get("/healthz");
    REQUIRE(h);
    CHECK(h->status == 200);
    CHECK(json::parse(h->body).at("status") == "ok");

    auto nf = c.Get("/nope");
    REQUIRE(nf);
    CHECK(nf->status == 404);
    CHECK(json::parse(nf->body).at("replicas") == -1);
    auto nf2 = c.Post("/nope", "{}", "application/json");
    REQUIRE(nf2);
    CHECK(nf2->status == 404);
    CHECK(json::parse(nf2->body).at("replicas") == -1);

    auto wm = c.Get("/decide");
    REQUIRE(wm);
    CHECK(wm->status == 405);
    CHECK(wm->get_header_value("Allow") == "POST");
    CHECK(json::parse(wm->body).at("replicas") == -1);
    auto wm2 = c.Put("/decide", "{}", "application/json");
    REQUIRE(wm2);
    CHECK(wm2->status == 405);
    CHECK(json::parse(wm2->body).at("replicas") == -1);
}

TEST_CASE("internal failures answer 500 with replicas -1 and the next request retries") {
    auto fail_first = std::make_shared<std::atomic<bool>>(true);
    decision_service svc(loopback(), [fail_first](const std::string&) {
        if (fail_first->exchange(false)) throw std::runtime_error("factory broke");
        return rlscale::any_policy(rlscale::static_policy{5});
    });
    auto c = client(svc.start());
    const auto r = post(c, request("fn", 3, 1, 10, 1.0).dump());
    check_refused(r, 500, "internal");
    CHECK(r.second.at("error").get<std::string>().find("factory broke") != std::string::npos);
    auto [status, body] = post(c, request("fn", 3, 1, 10, 1.0).dump());
    CHECK(status == 200);
    CHECK(body.at("replicas") == 5);
    CHECK(svc.stats().internal_errors == 1);
}

namespace {

/// Counts its calls in a plain (non-atomic) member and reports any two
/// decide() calls that overlap: a lost update or an overlap means the
/// service did not serialise a function's decisions.
struct counting_policy {
    std::shared_ptr<std::atomic<int>> overlaps;
    std::shared_ptr<std::atomic<bool>> busy = std::make_shared<std::atomic<bool>>(false);
    int calls = 0;

    [[nodiscard]] bool ready() const noexcept { return true; }
    rlscale::decision decide(const rlscale::function_metrics&, const rlscale::scaling_state&) noexcept {
        if (busy->exchange(true)) ++*overlaps;
        const int n = calls + 1;
        std::this_thread::yield();
        calls = n;
        busy->store(false);
        return {.replicas = n, .source = rlscale::decision_source::policy, .reason = "count"};
    }
};
static_assert(rlscale::policy<counting_policy>);

/// The replica count `svc` answers to one request of function `fn`, which
/// it must answer with 200.
int decided_replicas(decision_service& svc, const std::string& fn) {
    const auto a = svc.handle(request(fn, 1, 0, 1000, 0.5).dump());
    REQUIRE_MESSAGE(a.status == 200, a.body);
    return json::parse(a.body).at("replicas").get<int>();
}

}  // namespace

TEST_CASE("a slow factory holds up no other function's request, and two requests making one function's policy keep one") {
    // The factory of "slow" waits until it is let go (at most 10 s).
    struct gate {
        std::mutex m;
        std::condition_variable cv;
        bool open = false;
        int waiting = 0;
    };
    auto g = std::make_shared<gate>();
    auto made = std::make_shared<std::atomic<int>>(0);
    auto overlaps = std::make_shared<std::atomic<int>>(0);
    decision_service svc(loopback(), [g, made, overlaps](const std::string& f) {
        ++*made;
        if (f == "slow") {
            std::unique_lock lock(g->m);
            ++g->waiting;
            g->cv.notify_all();
            g->cv.wait_for(lock, std::chrono::seconds(10), [&] { return g->open; });
        }
        return rlscale::any_policy(counting_policy{overlaps});
    });
    const auto decide = [&](const std::string& fn) { return decided_replicas(svc, fn); };
    CHECK(decide("fast") == 1);
    // Two requests for "slow" make its policy at once; while they wait,
    // "fast" is decided.
    std::atomic<int> first{0};
    std::atomic<int> second{0};
    std::thread a([&] { first = decide("slow"); });
    std::thread b([&] { second = decide("slow"); });
    {
        std::unique_lock lock(g->m);
        CHECK(g->cv.wait_for(lock, std::chrono::seconds(10), [&] { return g->waiting == 2; }));
    }
    const auto t = std::chrono::steady_clock::now();
    CHECK(decide("fast") == 2);
    CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(5));
    {
        std::lock_guard lock(g->m);
        CHECK_FALSE(g->open);  // decided while the factory still waited
        g->open = true;
    }
    g->cv.notify_all();
    a.join();
    b.join();
    // Both requests went to one policy: one answered 1, the other 2.
    CHECK(std::set<int>{first.load(), second.load()} == std::set<int>{1, 2});
    CHECK(decide("slow") == 3);
    CHECK(*made == 3);  // "fast" once, "slow" twice (one dropped)
    CHECK(svc.stats().functions == 2);
}

TEST_CASE("concurrent requests to several functions are serialised per function") {
    auto overlaps = std::make_shared<std::atomic<int>>(0);
    decision_service_config cfg = loopback();
    cfg.threads = 4;
    decision_service svc(cfg, [overlaps](const std::string&) { return rlscale::any_policy(counting_policy{overlaps}); });
    const int port = svc.start();

    constexpr int clients = 8, per_client = 50, functions = 4;
    std::vector<std::vector<int>> answers(functions);
    std::mutex answers_mutex;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            httplib::Client c("127.0.0.1", port);
            c.set_read_timeout(20, 0);
            c.set_tcp_nodelay(true);
            c.set_keep_alive(t % 2 == 0);  // half on keep-alive connections, half one connection per request
            for (int i = 0; i < per_client; ++i) {
                const int f = (t + i) % functions;
                const json r = request("fn-" + std::to_string(f), 1, 0, 100000, 0.5);
                auto res = c.Post("/decide", r.dump(), "application/json");
                if (!res || res->status != 200) {
                    ++failures;
                    continue;
                }
                const json body = json::parse(res->body);
                const int n = body.at("replicas").get<int>();
                if (n < 0 || n > 100000) ++failures;
                std::lock_guard lock(answers_mutex);
                answers[static_cast<std::size_t>(f)].push_back(n);
            }
        });
    }
    for (auto& th : threads) th.join();

    CHECK(failures.load() == 0);
    CHECK(overlaps->load() == 0);
    CHECK(svc.stats().functions == functions);
    CHECK(svc.stats().decisions == clients * per_client);
    for (const auto& a : answers) {
        // One policy per function, no lost update: its answers are exactly 1..N.
        REQUIRE(a.size() == static_cast<std::size_t>(clients * per_client / functions));
        const std::set<int> seen(a.begin(), a.end());
        CHECK(seen.size() == a.size());
        CHECK(*seen.begin() == 1);
        CHECK(*seen.rbegin() == static_cast<int>(a.size()));
    }
}

TEST_CASE("a full function table evicts the least recently used function, which starts afresh when it comes back") {
    auto overlaps = std::make_shared<std::atomic<int>>(0);
    decision_service_config cfg = loopback();
    cfg.max_functions = 2;
    decision_service svc(cfg, [overlaps](const std::string& f) {
        if (f == "broken") throw std::runtime_error("factory broke");
        return rlscale::any_policy(counting_policy{overlaps});
    });
    // counting_policy answers how many decisions its instance has made.
    const auto decide = [&](const std::string& fn) { return decided_replicas(svc, fn); };
    CHECK(decide("a") == 1);
    CHECK(decide("b") == 1);
    CHECK(decide("a") == 2);  // a is now the most recently used
    CHECK(decide("c") == 1);  // the table is full: b, the least recently used, is evicted
    CHECK(decide("a") == 3);  // a kept its policy
    CHECK(decide("b") == 1);  // b starts afresh, evicting c
    CHECK(decide("a") == 4);
    CHECK(decide("c") == 1);
    CHECK(svc.stats().functions == 2);
    CHECK(svc.stats().evicted == 3);
    // A factory that throws evicts nothing.
    CHECK(svc.handle(request("broken", 1, 0, 1000, 0.5).dump()).status == 500);
    CHECK(svc.stats().evicted == 3);
    CHECK(decide("a") == 5);
    CHECK(decide("c") == 2);
    // A refused request of several functions adds and evicts nothing: not
    // for an existing function's time (d is new, a's time goes back), nor
    // for a factory that throws (d before it is new).
    json late = request("a", 1, 0, 1000, 0.5);
    late["time_s"] = 10.0;
    const auto refused = svc.handle(json{{"functions", {request("d", 1, 0, 1000, 0.5), late}}}.dump());
    CHECK(refused.status == 400);
    CHECK(refused.body.find("functions[1].time_s") != std::string::npos);
    CHECK(svc.handle(json{{"functions", {request("d", 1, 0, 1000, 0.5), request("broken", 1, 0, 1000, 0.5)}}}.dump()).status == 500);
    CHECK(svc.stats().evicted == 3);
    CHECK(decide("a") == 6);  // neither refused request decided a
    CHECK(decide("c") == 3);  // c was not evicted for d
    // Accepted, the new function evicts the least recently used function
    // that is not in the request: with c the least recently used, [d, c]
    // evicts a, once (c is marked used before d is added), and c keeps its policy.
    CHECK(decide("a") == 7);
    const auto both = svc.handle(json{{"functions", {request("d", 1, 0, 1000, 0.5), request("c", 1, 0, 1000, 0.5)}}}.dump());
    REQUIRE(both.status == 200);
    CHECK(json::parse(both.body).at("decisions")[0].at("replicas") == 1);
    CHECK(json::parse(both.body).at("decisions")[1].at("replicas") == 4);
    CHECK(svc.stats().evicted == 4);
    CHECK(decide("c") == 5);
    CHECK(decide("a") == 1);  // a was evicted; it now evicts d, the least recently used
    CHECK(svc.stats().evicted == 5);

    // Many threads over many names: every request is decided, the table never grows.
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                const auto a = svc.handle(request("fn-" + std::to_string((t * 7 + i) % 16), 1, 0, 1000, 0.5).dump());
                if (a.status != 200) ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
    CHECK(overlaps->load() == 0);
    CHECK(svc.stats().functions == 2);
    CHECK(svc.stats().evicted > 5);
    CHECK(svc.stats().decisions == 17 + 4 * 500);
}

TEST_CASE("time_s going backwards or jumping ahead for a function answers 400, the first request setting its clock") {
    auto overlaps = std::make_shared<std::atomic<int>>(0);
    decision_service svc(loopback(), [overlaps](const std::string&) { return rlscale::any_policy(counting_policy{overlaps}); });
    const auto at = [](const std::string& fn, double t) {
        json r = request(fn, 1, 0, 1000, 0.5);
        r["time_s"] = t;
        return r;
    };
    const auto decide = [&](const json& r) { return svc.handle(r.dump()); };
    const auto refused_for_time = [](const rlscale::service::http_answer& a, const std::string& field = "time_s") {
        CHECK(a.status == 400);
        const std::string error = json::parse(a.body).at("error").get<std::string>();
        CHECK_MESSAGE(error.rfind(field + ":", 0) == 0, "error was: " << error);
    };
    CHECK(decide(at("a", 100)).status == 200);
    refused_for_time(decide(at("a", 1e15)));        // a jump of ~30 million years
    CHECK(decide(at("a", 130)).status == 200);      // the refused time did not move the clock
    refused_for_time(decide(at("a", 50)));          // backwards
    CHECK(decide(at("a", 129.5)).status == 200);    // backwards within the 1 s tolerance
    CHECK(decide(at("a", 130 + 86400)).status == 200);  // a day ahead: the most allowed
    refused_for_time(decide(at("a", 130 + 2 * 86400 + 1)));
    CHECK(json::parse(decide(at("a", 130 + 86400)).body).at("replicas") == 5);  // 4 decisions before: none refused was decided
    // Each function has its own clock, set by its first request, whatever it is.
    CHECK(decide(at("b", 1e15)).status == 200);
    CHECK(decide(at("c", -5)).status == 200);
    refused_for_time(decide(at("b", 100)));

    // Several functions: an element refused for its time is named, and no element is decided.
    const json both = {{"functions", {at("a", 130 + 86400), at("c", -1e9)}}};
    refused_for_time(decide(both), "functions[1].time_s");
    CHECK(json::parse(decide(at("a", 130 + 86400)).body).at("replicas") == 6);
    CHECK(svc.stats().bad_requests == 5);
    // A replacement starts every function afresh, its clock too.
    svc.replace([overlaps](const std::string&) { return rlscale::any_policy(counting_policy{overlaps}); });
    CHECK(decide(at("b", 100)).status == 200);

    // The bounds are configurable: no step back at all, at most 10 s ahead.
    decision_service_config cfg = loopback();
    cfg.max_time_backwards = std::chrono::milliseconds(0);
    cfg.max_time_jump = std::chrono::seconds(10);
    decision_service strict(cfg, [overlaps](const std::string&) { return rlscale::any_policy(counting_policy{overlaps}); });
    CHECK(strict.handle(at("a", 100).dump()).status == 200);
    CHECK(strict.handle(at("a", 100).dump()).status == 200);  // the same time again
    refused_for_time(strict.handle(at("a", 99.999).dump()));
    CHECK(strict.handle(at("a", 110).dump()).status == 200);
    refused_for_time(strict.handle(at("a", 120.5).dump()));

    // A joint policy keeps a clock per function, in its order.
    std::vector<rlscale::static_policy> each{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
    strict.serve_joint(rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(each))), {"x", "y"});
    CHECK(strict.handle(json{{"functions", {at("x", 100), at("y", 500)}}}.dump()).status == 200);
    refused_for_time(strict.handle(json{{"functions", {at("x", 105), at("y", 400)}}}.dump()), "functions[1].time_s");
    refused_for_time(strict.handle(json{{"functions", {at("x", 200), at("y", 505)}}}.dump()), "functions[0].time_s");
    CHECK(strict.handle(json{{"functions", {at("x", 105), at("y", 505)}}}.dump()).status == 200);
}

namespace {

/// Blocks every decision until released, telling when one has started.
struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    int entered = 0;
};

struct blocking_policy {
    std::shared_ptr<gate> g;
    [[nodiscard]] bool ready() const noexcept { return true; }
    rlscale::decision decide(const rlscale::function_metrics&, const rlscale::scaling_state& s) noexcept {
        std::unique_lock lock(g->m);
        ++g->entered;
        g->cv.notify_all();
        g->cv.wait(lock, [&] { return g->open; });
        return {.replicas = s.replicas, .source = rlscale::decision_source::policy, .reason = "blocking"};
    }
};
static_assert(rlscale::policy<blocking_policy>);

}  // namespace

TEST_CASE("overload: with the worker busy and the queue full, a request answers 503 with replicas -1 at once") {
    auto g = std::make_shared<gate>();
    decision_service_config cfg = loopback();
    cfg.threads = 1;
    cfg.max_queued = 1;
    decision_service svc(cfg, [g](const std::string&) { return rlscale::any_policy(blocking_policy{g}); });
    const int port = svc.start();
    const std::string body = request("slow", 3, 1, 10, 0.5).dump();

    std::atomic<int> status_a{0}, status_b{0};
    std::thread a([&] {
        auto c = client(port);
        auto res = c.Post("/decide", body, "application/json");
        status_a = res ? res->status : -2;
    });
    {
        std::unique_lock lock(g->m);
        REQUIRE(g->cv.wait_for(lock, std::chrono::seconds(10), [&] { return g->entered == 1; }));
    }
    std::thread b([&] {
        auto c = client(port);
        auto res = c.Post("/decide", body, "application/json");
        status_b = res ? res->status : -2;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (svc.stats().queued < 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE(svc.stats().queued == 1);

    auto c = client(port);
    const auto t0 = std::chrono::steady_clock::now();
    const auto refused = post(c, body);
    const auto took = std::chrono::steady_clock::now() - t0;
    check_refused(refused, 503, "overloaded");
    CHECK(took < std::chrono::seconds(2));
    CHECK(svc.stats().overloaded == 1);
    // Liveness still answers on an overloaded server: 503 is only for /decide.
    auto health = client(port).Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    {
        std::lock_guard lock(g->m);
        g->open = true;
    }
    g->cv.notify_all();
    a.join();
    b.join();
    CHECK(status_a.load() == 200);
    CHECK(status_b.load() == 200);
    CHECK(svc.stats().decisions == 2);
}

TEST_CASE("slow clients cannot stop the service: every request has a deadline, overflow connections are closed at once") {
    using namespace std::chrono_literals;
    using clock = std::chrono::steady_clock;
    decision_service_config cfg = loopback();
    cfg.threads = 2;
    cfg.max_queued = 2;
    cfg.max_rejecting = 2;
    cfg.read_timeout = 5000ms;      // a byte a second never trips the per-read timeout...
    cfg.request_deadline = 1500ms;  // ...but the request deadline cuts the client off
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();

    // Ten clients that send a request one byte a second: enough to occupy both
    // workers, the queue, the rejecting thread and its queue, and more. They
    // connect 30 ms apart: httplib listens with a backlog of 5, and a burst
    // beyond it delays handshakes by a second (a SYN-ACK retransmission).
    const std::string head = "POST /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";
    constexpr std::size_t slow_clients = 10;
    const auto t0 = clock::now();
    std::vector<std::unique_ptr<raw_connection>> slow;
    std::vector<clock::time_point> connected_at;
    for (std::size_t i = 0; i < slow_clients; ++i) {
        connected_at.push_back(clock::now());
        slow.push_back(std::make_unique<raw_connection>(port));
        REQUIRE(slow.back()->connected());
        slow.back()->send(head.substr(0, 1));
        std::this_thread::sleep_for(30ms);
    }
    // One thread feeds them a byte a second and notes when the server closes
    // each, counted from its connect.
    std::vector<std::optional<clock::duration>> closed_after(slow_clients);  // read after join
    std::atomic<std::size_t> closed{0};
    std::atomic<bool> done{false};
    std::thread feeder([&] {
        std::size_t sent = 1;
        auto next_byte = t0 + 1s;
        while (!done.load()) {
            for (std::size_t i = 0; i < slow_clients; ++i) {
                if (!closed_after[i] && slow[i]->closed_by_server(0ms)) {
                    closed_after[i] = clock::now() - connected_at[i];
                    ++closed;
                }
            }
            if (clock::now() >= next_byte) {
                for (std::size_t i = 0; i < slow_clients; ++i) {
                    if (!closed_after[i]) slow[i]->send(head.substr(sent % head.size(), 1));
                }
                ++sent;
                next_byte += 1s;
            }
            std::this_thread::sleep_for(20ms);
        }
    });

    // A normal client, retrying when refused, gets its decision within a bound.
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    int status = 0;
    while (status != 200 && clock::now() - t0 < 6s) {
        auto c = client(port);
        c.set_connection_timeout(1, 0);
        c.set_read_timeout(3, 0);
        auto res = c.Post("/decide", body, "application/json");
        status = res ? res->status : -1;
        if (status != 200) std::this_thread::sleep_for(100ms);
    }
    CHECK(status == 200);
    MESSAGE("normal client served after " << std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count() << " ms");
    // Every slow client is cut off: by its deadline, or at once when nothing had room for it.
    while (closed.load() < slow_clients && clock::now() - t0 < 7s) std::this_thread::sleep_for(50ms);
    done.store(true);
    feeder.join();
    CHECK(closed.load() == slow_clients);
    // At most 2 on workers, 2 queued, 1 on the rejecting thread and 2 waiting
    // for it: at least 3 are overflow, closed at once (well before any deadline).
    CHECK(std::count_if(closed_after.begin(), closed_after.end(), [](const auto& c) { return c && *c < 750ms; }) >= 3);
    CHECK(svc.stats().overloaded >= slow_clients - 4);
    CHECK(svc.stats().dropped >= 3);
    CHECK(svc.stats().dropped <= svc.stats().overloaded);
    slow.clear();
}

TEST_CASE("the request deadline is per request: a keep-alive connection outlives it, a request sent in pieces within it is decided") {
    using namespace std::chrono_literals;
    decision_service_config cfg = loopback();
    cfg.request_deadline = 1000ms;
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    const auto post_bytes = [&](bool close) {
        return "POST /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
    };
    const auto answers_200 = [](const std::string& received) {
        std::size_t n = 0;
        for (auto at = received.find("HTTP/1.1 200"); at != std::string::npos; at = received.find("HTTP/1.1 200", at + 1)) ++n;
        return n;
    };
    // Three requests 600 ms apart on one connection: 1.2 s in all.
    raw_connection keep(port);
    REQUIRE(keep.connected());
    REQUIRE(keep.send(post_bytes(false)));
    std::this_thread::sleep_for(600ms);
    REQUIRE(keep.send(post_bytes(false)));
    std::this_thread::sleep_for(600ms);
    REQUIRE(keep.send(post_bytes(true)));
    CHECK(answers_200(keep.read_all(10s)) == 3);
    // One request in three pieces 200 ms apart.
    raw_connection pieces(port);
    REQUIRE(pieces.connected());
    const std::string whole = post_bytes(true);
    const std::size_t third = whole.size() / 3;
    REQUIRE(pieces.send(whole.substr(0, third)));
    std::this_thread::sleep_for(200ms);
    REQUIRE(pieces.send(whole.substr(third, third)));
    std::this_thread::sleep_for(200ms);
    REQUIRE(pieces.send(whole.substr(2 * third)));
    CHECK(answers_200(pieces.read_all(10s)) == 1);
    CHECK(svc.stats().decisions == 4);
}

TEST_CASE("stop() returns, closes the port and is idempotent") {
    int port = 0;
    {
        decision_service svc(loopback(), hpa_at(50));
        port = svc.start();
        auto c = client(port);
        c.set_keep_alive(true);
        REQUIRE(c.Get("/healthz"));  // an open keep-alive connection does not block stop()
        const auto t0 = std::chrono::steady_clock::now();
        svc.stop();
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
        CHECK(svc.port() == 0);
        svc.stop();
        auto after = client(port).Get("/healthz");
        CHECK_FALSE(after);
        // It can start again, on another port.
        const int again = svc.start();
        CHECK(again > 0);
        CHECK(client(again).Get("/healthz"));
    }
    // The port is free: a new service binds it.
    decision_service_config cfg = loopback();
    cfg.port = port;
    decision_service svc2(cfg, hpa_at(50));
    CHECK(svc2.start() == port);
    CHECK(client(port).Get("/healthz"));
    // A port in use is refused (no SO_REUSEPORT sharing).
    decision_service svc3(cfg, hpa_at(50));
    CHECK_THROWS_AS(svc3.start(), rlscale::error);
}

TEST_CASE("a chunked body, which the payload limit does not see, is cut at twice the body limit") {
    decision_service_config cfg = loopback();
    cfg.max_body_bytes = 4096;
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    // A valid request padded with spaces, sent chunked in 1 KiB chunks.
    const auto send_chunked = [&](std::size_t padding) {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(20, 0);
        const std::string padded = body + std::string(padding, ' ');
        return c.Post(
            "/decide",
            [&](std::size_t offset, httplib::DataSink& sink) {
                const std::size_t n = std::min<std::size_t>(1024, padded.size() - offset);
                sink.write(padded.data() + offset, n);
                if (offset + n == padded.size()) sink.done();
                return true;
            },
            "application/json");
    };
    const auto small = send_chunked(2000);
    REQUIRE(small);
    CHECK(small->status == 200);
    // Over the body limit but within the bytes a request may take on the
    // wire: read whole, then refused by its size.
    const auto over = send_chunked(6000);
    REQUIRE(over);
    CHECK(over->status == 413);
    CHECK(json::parse(over->body)["replicas"] == -1);
    CHECK(json::parse(over->body)["error"] == "body: larger than the request size limit (4096 bytes)");
    // 4 MiB chunked: cut after about 72 KiB (the request line and headers'
    // 64 KiB and twice the limit); the client sees a 400 or the cut.
    const auto big = send_chunked(std::size_t{4} << 20);
    const bool refused = !big || big->status == 400;
    CHECK(refused);
    CHECK(client(port).Post("/decide", body, "application/json")->status == 200);  // and it serves on
    // The Keep-Alive header advertises the configured limits.
    auto kept = client(port);
    kept.set_keep_alive(true);
    const auto res = kept.Post("/decide", body, "application/json");
    REQUIRE(res);
    CHECK(res->get_header_value("Keep-Alive") == "timeout=2, max=100");
}

TEST_CASE("a compressed body is refused unread (415) and an ambiguous length (400), closing the connection, and Range is ignored") {
    decision_service svc(loopback(), hpa_at(50));
    const int port = svc.start();
    // Each refused request carries a second request as its body: the
    // connection is closed after the refusal, so that one is never answered.
    const std::string inner = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto exchange = [&](const std::string& headers) {
        raw_connection c(port);
        REQUIRE(c.connected());
        REQUIRE(c.send("POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers + "\r\n" + inner));
        const auto t = std::chrono::steady_clock::now();
        const std::string answer = c.read_all(std::chrono::seconds(10));
        CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(3));  // closed, not timed out
        return answer;
    };
    const std::string length = "Content-Length: " + std::to_string(inner.size()) + "\r\n";
    const auto check = [](const std::string& answer, const std::string& status, const std::string& text) {
        CAPTURE(answer);
        CHECK(answer.rfind("HTTP/1.1 " + status, 0) == 0);
        CHECK(answer.find(text) != std::string::npos);
        CHECK(answer.find("HTTP/1.1 ", 1) == std::string::npos);  // one answer only
        CHECK(answer.find("Connection: close") != std::string::npos);
    };
    check(exchange("Content-Encoding: gzip\r\n" + length), "415", "Content-Encoding gzip: not accepted");
    check(exchange("Content-Encoding: br\r\n" + length), "415", "Content-Encoding br");
    check(exchange(length + length), "400", "Content-Length: given 2 times");
    check(exchange("Content-Length: 2\r\n" + length), "400", "Content-Length: given 2 times");
    check(exchange("Content-Length: " + std::to_string(inner.size()) + "abc\r\n"), "400", "not a length");
    check(exchange(length + "Transfer-Encoding: chunked\r\n"), "400", "with Transfer-Encoding");
    // Transfer-Encoding: one header, whose one coding is chunked. httplib
    // would read "gzip" to the connection's close and the first of two
    // headers only, where a proxy may frame the body by both.
    check(exchange("Transfer-Encoding: gzip\r\n"), "400", "Transfer-Encoding gzip: the body's length is unknown");
    check(exchange("Transfer-Encoding: chunked, gzip\r\n"), "400", "chunked must be the last coding");
    check(exchange("Transfer-Encoding: gzip, chunked\r\n"), "501", "Transfer-Encoding gzip, chunked: only chunked is accepted");
    check(exchange("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), "400", "Transfer-Encoding: given 2 times");
    // No length at all: refused at once (exchange checks that the answer
    // comes well before the 5 s request deadline), the request behind it
    // never taken as a body.
    check(exchange(""), "411", "Content-Length: required");
    // Another method that httplib reads a body for, without a length: the
    // route's answer at once (405, or 404 off the service's paths), counted
    // as no malformed request, the request behind it never read.
    const std::uint64_t bad = svc.stats().bad_requests;
    for (const auto& [line, status, text] :
         {std::tuple<std::string, std::string, std::string>{"DELETE /decide", "405", "Allow: POST"},
          {"PUT /healthz", "405", "Allow: GET"},
          {"PATCH /decide", "405", "method PATCH not allowed on /decide"},
          {"DELETE /nothere", "404", "not found: /nothere"}}) {
        raw_connection c(port);
        REQUIRE(c.connected());
        REQUIRE(c.send(line + " HTTP/1.1\r\nHost: x\r\n\r\n" + inner));
        const auto t = std::chrono::steady_clock::now();
        const std::string answer = c.read_all(std::chrono::seconds(10));
        CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(3));
        check(answer, status, text);
    }
    CHECK(svc.stats().bad_requests == bad);
    // Content-Encoding: identity is no encoding.
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    const auto plain = raw_exchange(port, "POST /decide HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Encoding: identity\r\n"
                                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(plain.first == 200);
    const auto capital = raw_exchange(port, "POST /decide HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Encoding: Identity\r\n"
                                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(capital.first == 200);  // a content coding's name ignores case
    // A Range header is ignored: the whole JSON document, never parts of it.
    const auto ranged = raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-3,5-7\r\n\r\n");
    CHECK(ranged.first == 200);
    CHECK(ranged.second == R"({"status":"ok"})");
    const auto one_range = raw_exchange(port, "GET /nothere HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-3\r\n\r\n");
    CHECK(one_range.first == 404);
    CHECK(json::parse(one_range.second)["replicas"] == -1);
}

TEST_CASE("a body on a method whose body is not read, or a chunked trailer, is refused with one answer, closing the connection") {
    decision_service svc(loopback(), hpa_at(50));
    const int port = svc.start();
    // The body is a whole second request: read as one, it would get a second answer.
    const std::string inner = "POST /decide HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    for (const std::string method : {"GET", "HEAD", "OPTIONS"}) {
        raw_connection c(port);
        REQUIRE(c.connected());
        REQUIRE(c.send(method + " /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(inner.size()) + "\r\n\r\n" + inner));
        const auto t = std::chrono::steady_clock::now();
        const std::string answer = c.read_all(std::chrono::seconds(10));
        CAPTURE(method);
        CAPTURE(answer);
        CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(3));  // closed, not timed out
        CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(answer.find("HTTP/1.1 ", 1) == std::string::npos);  // one answer only
        CHECK(answer.find("Connection: close") != std::string::npos);
        if (method == "GET") CHECK(answer.find("body: a GET request carries none here") != std::string::npos);
    }
    // A chunked body ending in a trailer field, which httplib refuses (400):
    // what it left unread is not read as a second request.
    {
        const std::string body = request("fn", 3, 1, 10, 1.0).dump();
        char size[16];
        std::snprintf(size, sizeof size, "%zx", body.size());
        raw_connection c(port);
        REQUIRE(c.connected());
        REQUIRE(c.send("POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       std::string(size) + "\r\n" + body + "\r\n0\r\nX-T: 1\r\n\r\n"));
        const std::string answer = c.read_all(std::chrono::seconds(10));
        CAPTURE(answer);
        CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(answer.find("HTTP/1.1 ", 1) == std::string::npos);
        CHECK(answer.find("Connection: close") != std::string::npos);
    }
    // A length of 0 is no body.
    const auto empty = raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 00\r\n\r\n");
    CHECK(empty.first == 200);
}

TEST_CASE("a busy keep-alive connection gives way to a connection waiting for the worker") {
    decision_service_config config = loopback();
    config.threads = 1;
    config.keep_alive_timeout = std::chrono::seconds(10);
    config.request_deadline = std::chrono::seconds(10);  // the idle wait is the shorter of the two
    decision_service svc(config, hpa_at(50));
    const int port = svc.start();
    raw_connection kept(port);
    REQUIRE(kept.connected());
    REQUIRE(kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));  // HTTP/1.1: kept alive
    REQUIRE(kept.read_until(R"({"status":"ok"})", 1, std::chrono::seconds(10)));  // answered; the worker waits for its next request
    raw_connection other(port);                                                    // waits for the one worker
    REQUIRE(other.connected());
    REQUIRE(other.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    REQUIRE(wait_queued(svc, 1));
    REQUIRE(kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));  // its next request: answered with Connection: close
    const auto t = std::chrono::steady_clock::now();
    const std::string answer = other.read_all(std::chrono::seconds(15));
    // Not after the kept connection's 10 s keep-alive: it gave way after its second request.
    CHECK(std::chrono::steady_clock::now() - t < std::chrono::seconds(5));
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
    const std::string kept_answers = kept.read_all(std::chrono::seconds(5));
    CAPTURE(kept_answers);
    const auto second = kept_answers.find("HTTP/1.1 ", 1);
    REQUIRE(second != std::string::npos);
    CHECK(kept_answers.find("Connection: close") > second);  // the first answer kept it, the second closed it
    CHECK(kept_answers.find("Connection: close") != std::string::npos);
}

TEST_CASE("stop() answers a queued connection whose request has already arrived") {
    decision_service_config config = loopback();
    config.threads = 1;
    decision_service svc(config, hpa_at(50));
    const int port = svc.start();
    // The one worker reads a request whose body comes later.
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    raw_connection first(port);
    REQUIRE(first.connected());
    REQUIRE(first.send("POST /decide HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    REQUIRE(wait_queued(svc, 0));                                 // not waiting (0 before the accept, too)
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // taken by the worker, its headers read
    raw_connection queued(port);                                  // waits for the worker, its request sent
    REQUIRE(queued.connected());
    REQUIRE(queued.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    REQUIRE(wait_queued(svc, 1));
    std::thread stopper([&svc] { svc.stop(); });
    // Until the server has stopped listening (the worker still reads).
    const auto stopping_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (raw_connection(port).connected() && std::chrono::steady_clock::now() < stopping_by) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const bool sent = first.send(body);  // no REQUIRE while stopper runs: a throw would destroy it joinable
    const std::string first_answer = first.read_all(std::chrono::seconds(5));
    stopper.join();
    CHECK(sent);
    const std::string queued_answer = queued.read_all(std::chrono::seconds(5));
    CAPTURE(first_answer);
    CAPTURE(queued_answer);
    CHECK(first_answer.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(queued_answer.rfind("HTTP/1.1 200", 0) == 0);  // answered, not reset
    CHECK(queued_answer.find("Connection: close") != std::string::npos);
}

TEST_CASE("stop() closes a queued connection whose request has not arrived whole unanswered, and does not count it as a bad request") {
    decision_service_config config = loopback();
    config.threads = 1;
    config.request_deadline = std::chrono::milliseconds(30000);
    decision_service svc(config, hpa_at(50));
    const int port = svc.start();
    // The one worker reads a request whose body comes later.
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    raw_connection first(port);
    REQUIRE(first.connected());
    REQUIRE(first.send("POST /decide HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    REQUIRE(wait_queued(svc, 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // taken by the worker, its headers read
    // Queued behind it: a request line and part of the headers, never finished.
    raw_connection cut(port);
    REQUIRE(cut.connected());
    REQUIRE(cut.send("POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: appl"));
    REQUIRE(wait_queued(svc, 1));
    std::thread stopper([&svc] { svc.stop(); });
    const auto stopping_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (raw_connection(port).connected() && std::chrono::steady_clock::now() < stopping_by) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const bool sent = first.send(body);  // no REQUIRE while stopper runs: a throw would destroy it joinable
    const std::string first_answer = first.read_all(std::chrono::seconds(10));
    const std::string cut_answer = cut.read_all(std::chrono::seconds(10));
    stopper.join();
    CHECK(sent);
    CAPTURE(first_answer);
    CAPTURE(cut_answer);
    CHECK(first_answer.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(cut_answer.empty());  // closed unanswered: its client retries
    // httplib made a 400 for it (and ran the error handler) before the
    // write was refused: no answer, no bad request.
    CHECK(svc.stats().bad_requests == 0);
    CHECK(svc.stats().decisions == 1);
}

TEST_CASE("configuration is validated") {
    decision_service_config cfg = loopback();
    cfg.threads = 0;
    CHECK_THROWS_AS(decision_service(cfg, hpa_at(50)), rlscale::config_error);
    cfg = loopback();
    cfg.port = 70000;
    CHECK_THROWS_AS(decision_service(cfg, hpa_at(50)), rlscale::config_error);
    cfg = loopback();
    cfg.request_deadline = std::chrono::milliseconds(0);
    CHECK_THROWS_AS(decision_service(cfg, hpa_at(50)), rlscale::config_error);
    // Large enough to overflow the clock when added to now: refused by name.
    cfg.request_deadline = std::chrono::milliseconds(10'000'000'000'000);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("request_deadline"), rlscale::config_error);
    cfg = loopback();
    cfg.read_timeout = std::chrono::hours(25);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("read_timeout"), rlscale::config_error);
    cfg = loopback();
    cfg.max_time_backwards = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(decision_service(cfg, hpa_at(50)), rlscale::config_error);
    cfg = loopback();
    cfg.max_time_jump = std::chrono::seconds(0);
    CHECK_THROWS_AS(decision_service(cfg, hpa_at(50)), rlscale::config_error);
    CHECK_THROWS_AS(decision_service(loopback(), nullptr), rlscale::config_error);
    cfg = loopback();
    cfg.threads = decision_service_config::max_threads + 1;
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("threads: must be <= 1024"), rlscale::config_error);
    cfg = loopback();
    cfg.host = "203.0.113.1";  // not an address of this host
    decision_service svc(cfg, hpa_at(50));
    CHECK_THROWS_AS(svc.start(), rlscale::error);
}

TEST_CASE("several functions in one request: each by its own policy, or all by a joint policy") {
    decision_service svc(loopback(), [](const std::string& f) {
        return rlscale::any_policy(rlscale::static_policy{.replicas = f == "a" ? 2 : 7});
    });
    const json both = {{"functions", {request("a", 4, 1, 10, 0.5), request("b", 4, 1, 10, 0.5)}}};
    auto [status, body] = svc.handle(both.dump());
    REQUIRE(status == 200);
    const json d = json::parse(body).at("decisions");
    REQUIRE(d.size() == 2);
    CHECK(d[0].at("function") == "a");
    CHECK(d[0].at("replicas") == 2);
    CHECK(d[1].at("replicas") == 7);  // within the guard: +3 of at most +4
    // An element that is refused is named by its index.
    json bad = both;
    bad["functions"][1]["metrics"].erase("interval_s");
    const auto refused = svc.handle(bad.dump());
    CHECK(refused.status == 400);
    CHECK(refused.body.find("functions[1].metrics.interval_s") != std::string::npos);
    // An element that is not an object is named as the element.
    const auto not_object = svc.handle(R"({"functions": [5]})");
    CHECK(not_object.status == 400);
    CHECK(json::parse(not_object.body).at("error") == "functions[0]: must be an object, got a number");
    CHECK(svc.handle(R"({"functions": []})").status == 400);
    CHECK(svc.handle(R"({"functions": [], "extra": 1})").status == 400);
    // A key that is empty or holds a dot is named bracket-quoted after the
    // element's index, and at the top level, never as no field or another.
    json dotted = both;
    dotted["functions"][0]["metrics.interval_s"] = 1;
    const auto refused_dotted = svc.handle(dotted.dump());
    CHECK(refused_dotted.status == 400);
    CHECK(json::parse(refused_dotted.body).at("error").get<std::string>().starts_with(R"(functions[0]["metrics.interval_s"]: unknown field)"));
    json empty_key = both;
    empty_key[""] = 1;
    const auto refused_empty = svc.handle(empty_key.dump());
    CHECK(refused_empty.status == 400);
    CHECK(json::parse(refused_empty.body).at("error").get<std::string>().starts_with(R"([""]: unknown field)"));

    // A joint policy over two functions: exactly two requests, decided together.
    decision_service joint(loopback(), [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{.replicas = 1}); });
    std::vector<rlscale::static_policy> each{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
    joint.serve_joint(rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(each))), {"a", "b"});
    const auto together = joint.handle(both.dump());
    REQUIRE(together.status == 200);
    const json t = json::parse(together.body).at("decisions");
    CHECK(t[0].at("replicas") == 3);
    CHECK(t[1].at("replicas") == 5);
    // A joint policy over more functions than a request may list is refused
    // when installed, not by every request after.
    decision_service_config narrow = loopback();
    narrow.max_functions = 1;
    decision_service small(narrow, [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{.replicas = 1}); });
    std::vector<rlscale::static_policy> pair{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
    CHECK_THROWS_WITH_AS(small.serve_joint(rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(pair))), {"a", "b"}),
                         doctest::Contains("more than max_functions (1)"), rlscale::config_error);
    // Names a request could not carry, or one name twice, are refused when installed.
    // A joint of one function would give it a second policy and clock.
    for (const auto& refused : {std::pair{std::vector<std::string>{"a", "a"}, std::string("joint.functions[1]: repeats functions[0]")},
                                      std::pair{std::vector<std::string>{"a", ""}, std::string("joint.functions[1]: \"\" must not be empty, which no request can carry")},
                                      std::pair{std::vector<std::string>{"a", std::string(254, 'b')}, std::string("joint.functions[1]: \"bbb")},
                                      std::pair{std::vector<std::string>{"a", std::string(254, 'b')}, std::string("\" longer than 253 bytes, which no request can carry")},
                                      std::pair{std::vector<std::string>{"a", "b\t"}, std::string("contains a control character (U+0009 at byte 1), which no request can carry")},
                                      std::pair{std::vector<std::string>{"a"}, std::string("decision_service.joint: names 1 functions; a joint policy decides at least 2")}}) {
        std::vector<rlscale::static_policy> two{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
        CHECK_THROWS_WITH_AS(joint.serve_joint(rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(two))), refused.first),
                             doctest::Contains(refused.second.c_str()), rlscale::config_error);
    }
    CHECK(joint.joint_functions() == std::vector<std::string>{"a", "b"});  // each refusal changed nothing
    const json three = {{"functions", {request("a", 4, 1, 10, 0.5), request("b", 4, 1, 10, 0.5), request("c", 4, 1, 10, 0.5)}}};
    const auto wrong = joint.handle(three.dump());
    CHECK(wrong.status == 400);
    CHECK(wrong.body.find("the policy decides 2 functions together") != std::string::npos);
    const auto single = joint.handle(request("a", 4, 1, 10, 0.5).dump());
    CHECK(single.status == 400);
    CHECK(single.body.find("2 functions together") != std::string::npos);

    // Element i must be the policy's function i: swapped, or another name,
    // is refused before anything is decided (b would get a's decision).
    const json swapped = {{"functions", {request("b", 4, 1, 10, 0.5), request("a", 4, 1, 10, 0.5)}}};
    const auto order = joint.handle(swapped.dump());
    CHECK(order.status == 400);
    CHECK(order.body.find(R"(functions[0].function: is \"b\"; the policy decides \"a\" at position 0)") != std::string::npos);
    const json other = {{"functions", {request("a", 4, 1, 10, 0.5), request("x", 4, 1, 10, 0.5)}}};
    CHECK(joint.handle(other.dump()).body.find("functions[1].function") != std::string::npos);

    // The same function twice, to per-function policies: refused before
    // either element is decided, so a's clock has not moved to 500.
    json twice = {{"functions", {request("a", 4, 1, 10, 0.5), request("a", 4, 1, 10, 0.5)}}};
    twice["functions"][0]["time_s"] = 500.0;
    const auto dup = svc.handle(twice.dump());
    CHECK(dup.status == 400);
    CHECK(dup.body.find(R"(functions[1].function: \"a\" is also functions[0])") != std::string::npos);
    json later = request("a", 4, 1, 10, 0.5);
    later["time_s"] = 101.0;
    CHECK(svc.handle(later.dump()).status == 200);  // 101 s would be refused after a clock at 500 s (1 s back at most)
}

TEST_CASE("a joint policy's decisions pass the service's guard: bounds, step limits and refused metrics") {
    decision_service joint(loopback(), [](const std::string&) { return rlscale::any_policy(rlscale::static_policy{.replicas = 1}); });
    std::vector<rlscale::static_policy> each{rlscale::static_policy{.replicas = 5000}, rlscale::static_policy{.replicas = 0}};
    joint.serve_joint(rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(each))), {"a", "b"});
    json body = {{"functions", {request("a", 4, 1, 10, 0.5), request("b", 20, 2, 10, 0.5)}}};
    auto answer = joint.handle(body.dump());
    REQUIRE(answer.status == 200);
    json d = json::parse(answer.body).at("decisions");
    // The same as the guard gives a one-function policy asking for as much.
    decision_service single(loopback(), [](const std::string& f) {
        return rlscale::any_policy(rlscale::static_policy{.replicas = f == "a" ? 5000 : 0});
    });
    const json a = json::parse(single.handle(request("a", 4, 1, 10, 0.5).dump()).body);
    const json b = json::parse(single.handle(request("b", 20, 2, 10, 0.5).dump()).body);
    CHECK(d[0].at("replicas") == a.at("replicas"));
    CHECK(d[0].at("replicas") <= 10);
    CHECK(d[0].at("reason") == a.at("reason"));
    CHECK(d[1].at("replicas") == b.at("replicas"));
    CHECK(d[1].at("replicas") >= 2);
    CHECK(d[1].at("replicas") <= 10);

    // Refused metrics hold the function (within bounds), whatever the joint policy says.
    body["functions"][0]["time_s"] = 101.0;
    body["functions"][1]["time_s"] = 101.0;
    body["functions"][1]["metrics"]["completions"] = 5;
    answer = joint.handle(body.dump());
    REQUIRE(answer.status == 200);
    d = json::parse(answer.body).at("decisions");
    CHECK(d[1].at("source") == "hold");
    CHECK(d[1].at("replicas") == 10);
}

TEST_CASE("a multidimensional decision answers its CPU and memory limits, a horizontal one answers none") {
    struct resizing {
        [[nodiscard]] bool ready() const noexcept { return true; }
        rlscale::decision decide(const rlscale::function_metrics&, const rlscale::scaling_state& s) noexcept {
            return {.replicas = s.replicas, .reason = "resize", .cpu_limit = 0.75, .memory_limit_mb = 640};
        }
    };
    decision_service svc(loopback(), [](const std::string& f) {
        if (f == "v") return rlscale::any_policy(resizing{});
        return rlscale::any_policy(rlscale::static_policy{.replicas = 4});
    });
    const auto v = svc.handle(request("v", 4, 1, 10, 0.5).dump());
    REQUIRE(v.status == 200);
    const json d = json::parse(v.body);
    CHECK(d.at("replicas") == 4);
    CHECK(d.at("cpu_limit").get<double>() == doctest::Approx(0.75));
    CHECK(d.at("memory_limit_mb").get<double>() == doctest::Approx(640));
    const auto h = svc.handle(request("h", 4, 1, 10, 0.5).dump());
    REQUIRE(h.status == 200);
    CHECK_FALSE(json::parse(h.body).contains("cpu_limit"));
    const json both = {{"functions", {request("v", 4, 1, 10, 0.5), request("h", 4, 1, 10, 0.5)}}};
    const json many = json::parse(svc.handle(both.dump()).body).at("decisions");
    CHECK(many[0].at("function") == "v");
    CHECK(many[0].at("memory_limit_mb").get<double>() == doctest::Approx(640));
    CHECK_FALSE(many[1].contains("memory_limit_mb"));
}

TEST_CASE("a resize waits for two ready replicas, on the joint path as on the one-function path") {
    struct resizing {
        [[nodiscard]] bool ready() const noexcept { return true; }
        rlscale::decision decide(const rlscale::function_metrics&, const rlscale::scaling_state& s) const noexcept {
            return {.replicas = s.replicas, .reason = "resize", .cpu_limit = 0.75, .memory_limit_mb = 640};
        }
    };
    // A cold start: 3 replicas asked for, 1 ready (the service's guard has
    // vertical_min_replicas 2, and the joint policy no guard of its own).
    json cold = request("a", 3, 1, 10, 0.5);
    cold["metrics"]["ready_replicas"] = 1;
    cold["metrics"]["starting_replicas"] = 2;
    const json warm = request("b", 3, 1, 10, 0.5);
    decision_service joint(loopback(), [](const std::string&) { return rlscale::any_policy(resizing{}); });
    joint.serve_joint(rlscale::any_joint_policy(rlscale::per_function<resizing>(std::vector<resizing>(2))), {"a", "b"});
    const auto answer = joint.handle(json{{"functions", {cold, warm}}}.dump());
    REQUIRE(answer.status == 200);
    const json d = json::parse(answer.body).at("decisions");
    CHECK(d[0].at("replicas") == 3);
    CHECK_FALSE(d[0].contains("cpu_limit"));
    CHECK(d[0].at("reason") == "guard: vertical change withheld below vertical_min_replicas");
    CHECK(d[1].at("cpu_limit").get<double>() == doctest::Approx(0.75));
    // The same function decided alone, by a service without the joint policy.
    decision_service alone(loopback(), [](const std::string&) { return rlscale::any_policy(resizing{}); });
    const json one = json::parse(alone.handle(cold.dump()).body);
    INFO(one.dump());
    CHECK(one.at("replicas") == 3);
    CHECK_FALSE(one.contains("cpu_limit"));
}

TEST_CASE("replace() swaps every policy while serving: no request fails, none is decided by a mix, a refused set changes nothing") {
    // Generation g's policy answers 10 + g replicas for every function.
    const auto generation = [](int g) {
        return [g](const std::string&) { return rlscale::any_policy(rlscale::static_policy{.replicas = 10 + g}); };
    };
    decision_service svc(loopback(), generation(0));
    const int port = svc.start();
    REQUIRE(port > 0);

    // Four clients post two-function requests while the policies are replaced
    // 50 times; every answer is 200 and both functions of one request come
    // from the same generation, which never goes backwards for a client.
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};
    std::atomic<int> answers{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            auto c = client(port);
            const std::string fa = "a" + std::to_string(t);
            const std::string fb = "b" + std::to_string(t);
            const json body = {{"functions", {request(fa, 20, 1, 100, 0.5), request(fb, 20, 1, 100, 0.5)}}};
            int last = -1;
            while (!done.load()) {
                auto res = c.Post("/decide", body.dump(), "application/json");
                if (!res || res->status != 200) {
                    ++failures;
                    continue;
                }
                const json d = json::parse(res->body).at("decisions");
                const int g = d[0].at("replicas").get<int>() - 10;
                if (d[1].at("replicas").get<int>() - 10 != g || g < last) ++failures;
                last = g;
                ++answers;
            }
        });
    }
    for (int g = 1; g <= 50; ++g) {
        svc.replace(generation(g));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    done.store(true);
    for (auto& t : clients) t.join();
    CHECK(failures.load() == 0);
    CHECK(answers.load() > 0);
    CHECK(svc.stats().replacements == 50);

    // After the last replacement every function, old or new, gets generation 50.
    auto c = client(port);
    CHECK(post(c, request("a0", 20, 1, 100, 0.5).dump()).second.at("replicas") == 60);
    CHECK(post(c, request("never-seen", 20, 1, 100, 0.5).dump()).second.at("replicas") == 60);

    // A refused replacement (an empty factory, or a joint policy whose names do
    // not match it) throws and leaves generation 50 serving.
    CHECK_THROWS_AS(svc.replace(nullptr), rlscale::config_error);
    std::vector<rlscale::static_policy> two{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
    CHECK_THROWS_AS(svc.replace(generation(51), rlscale::service::joint_service_policy{
                                                    rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(two))),
                                                    {"only-one-name"}}),
                    rlscale::config_error);
    CHECK(post(c, request("a0", 20, 1, 100, 0.5).dump()).second.at("replicas") == 60);
    CHECK(svc.stats().replacements == 50);

    // A joint policy installed while serving takes multi-function requests;
    // replacing without one returns to per-function policies.
    std::vector<rlscale::static_policy> each{rlscale::static_policy{.replicas = 3}, rlscale::static_policy{.replicas = 5}};
    svc.replace(generation(60), rlscale::service::joint_service_policy{
                                    rlscale::any_joint_policy(rlscale::per_function<rlscale::static_policy>(std::move(each))), {"a", "b"}});
    CHECK(svc.joint_functions() == std::vector<std::string>{"a", "b"});
    const json both = {{"functions", {request("a", 4, 1, 10, 0.5), request("b", 4, 1, 10, 0.5)}}};
    const auto together = post(c, both.dump());
    REQUIRE(together.first == 200);
    CHECK(together.second.at("decisions")[1].at("replicas") == 5);
    CHECK(post(c, request("a", 4, 1, 10, 0.5).dump()).first == 400);  // two functions decide together
    svc.replace(generation(70));
    CHECK(svc.joint_functions().empty());
    CHECK(post(c, request("a", 20, 1, 100, 0.5).dump()).second.at("replicas") == 80);
}

TEST_CASE("keep_alive_timeout is checked in seconds: a count that would overflow in milliseconds is refused naming it") {
    using rlscale::config_error;
    decision_service_config cfg = loopback();
    // 2^61 + 1 s is 1000 ms once multiplied by 1000 in 64 bits.
    cfg.keep_alive_timeout = std::chrono::seconds(2'305'843'009'213'693'953);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)),
                         "decision_service_config.keep_alive_timeout: must be in (0, 86400] s, got 2305843009213693953", config_error);
    cfg.keep_alive_timeout = std::chrono::seconds(86401);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("keep_alive_timeout: must be in (0, 86400] s, got 86401"),
                         config_error);
    cfg.keep_alive_timeout = std::chrono::seconds(0);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("keep_alive_timeout: must be in (0, 86400] s, got 0"),
                         config_error);
    cfg.keep_alive_timeout = std::chrono::seconds(-3);
    CHECK_THROWS_WITH_AS(decision_service(cfg, hpa_at(50)), doctest::Contains("keep_alive_timeout: must be in (0, 86400] s, got -3"),
                         config_error);
    cfg.keep_alive_timeout = std::chrono::hours(24);
    CHECK_NOTHROW(decision_service(cfg, hpa_at(50)));
}

TEST_CASE("stats().bad_requests counts every refusal of a malformed request: its framing, size and encoding too, not 404 or 405") {
    decision_service_config cfg = loopback();
    cfg.max_body_bytes = 4096;
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();
    const std::string head = "Host: x\r\nConnection: close\r\nContent-Type: application/json\r\n";
    std::uint64_t expected = 0;
    // Each counter step is made before the answer is written: no wait.
    const auto answer = [&](const std::string& raw, int status, bool bad) {
        CAPTURE(raw.substr(0, 120));
        CHECK(raw_exchange(port, raw).first == status);
        if (bad) ++expected;
        CHECK(svc.stats().bad_requests == expected);
    };
    // Refused before routing.
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: 2abc\r\n\r\n{}", 400, true);
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400, true);
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", 400, true);
    answer("GET /healthz HTTP/1.1\r\n" + head + "Content-Length: 5\r\n\r\nhello", 400, true);
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 415, true);
    // httplib's own: a request line it cannot parse, a method it does not
    // know; refused before routing, a body without a length; httplib's, a
    // Content-Length over the limit.
    answer("NOT-HTTP\r\n\r\n", 400, true);
    answer("BREW /decide HTTP/1.1\r\n" + head + "\r\n", 400, true);
    answer("POST /decide HTTP/1.1\r\n" + head + "\r\n{}", 411, true);
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: 5000\r\n\r\n" + std::string(5000, ' '), 413, true);
    // A chunked body over the limit, refused once read.
    const std::string padded(5000, ' ');
    char size[16];
    std::snprintf(size, sizeof size, "%zx", padded.size());
    answer("POST /decide HTTP/1.1\r\n" + head + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + padded + "\r\n0\r\n\r\n", 413, true);
    // A field refused by the parser.
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: 2\r\n\r\n{}", 400, true);
    // A wrong path or method is no malformed request; a decision none.
    answer("GET /nothere HTTP/1.1\r\n" + head + "\r\n", 404, false);
    answer("GET /decide HTTP/1.1\r\n" + head + "\r\n", 405, false);
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    answer("POST /decide HTTP/1.1\r\n" + head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body, 200, false);
    CHECK(svc.stats().bad_requests == 11);
}

TEST_CASE("a connection's first request may begin after keep_alive_timeout, within the request deadline, and keep_alive_timeout bounds the wait between requests") {
    using namespace std::chrono_literals;
    decision_service_config cfg = loopback();
    cfg.keep_alive_timeout = 1s;
    cfg.request_deadline = 5000ms;
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();
    const std::string body = request("fn", 3, 1, 10, 1.0).dump();
    raw_connection c(port);
    REQUIRE(c.connected());
    // Twice keep_alive_timeout after connecting, well within the deadline
    // (which starts no earlier than the connection).
    std::this_thread::sleep_for(2s);
    REQUIRE(c.send("POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\n\r\n" + body));
    CHECK(c.read_until("\"replicas\":6", 1, 20s));
    // Idle after its answer, the connection is closed after keep_alive_timeout
    // (1 s), long before the deadline (5 s) would close it.
    const auto answered = std::chrono::steady_clock::now();
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() - answered < 4s) closed = c.closed_by_server(50ms);
    CHECK(closed);
    CHECK(svc.stats().decisions == 1);
}

namespace {

/// The descriptor of this process's listening TCP socket on `port`, or -1.
int listening_socket(int port) {
    for (int fd = 0; fd < 4096; ++fd) {
        int accepting = 0;
        socklen_t len = sizeof accepting;
        if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting != 1) continue;
        sockaddr_in addr{};
        socklen_t addr_len = sizeof addr;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0 || addr.sin_family != AF_INET) continue;
        if (ntohs(addr.sin_port) == port) return fd;
    }
    return -1;
}

}  // namespace

TEST_CASE("listening() holds from start() to stop(), and turns false when accept() fails and the listener returns on its own") {
    using namespace std::chrono_literals;
    decision_service svc(loopback(), hpa_at(50));
    CHECK_FALSE(svc.listening());
    svc.start();
    CHECK(svc.listening());
    svc.stop();
    CHECK_FALSE(svc.listening());
    const int port = svc.start();
    CHECK(svc.listening());
    REQUIRE(client(port).Get("/healthz"));
    // accept() on a listening socket shut down from outside fails with
    // EINVAL: httplib takes the branch it takes for ENFILE or ENOBUFS
    // (closes the socket and returns), without stop().
    const int fd = listening_socket(port);
    REQUIRE(fd >= 0);
    REQUIRE(::shutdown(fd, SHUT_RDWR) == 0);
    const auto by = std::chrono::steady_clock::now() + 10s;
    while (svc.listening() && std::chrono::steady_clock::now() < by) std::this_thread::sleep_for(10ms);
    CHECK_FALSE(svc.listening());
    CHECK(svc.port() == port);  // not stopped
    CHECK_FALSE(raw_connection(port).connected());
    // stop() still joins everything, and the service starts again.
    svc.stop();
    CHECK_FALSE(svc.listening());
    const int again = svc.start();
    CHECK(svc.listening());
    CHECK(client(again).Get("/healthz"));
}

TEST_CASE("when the listener fails, connections still queued are closed at once as in a stop, not held for their request deadline") {
    using namespace std::chrono_literals;
    decision_service_config cfg = loopback();
    cfg.threads = 1;
    cfg.request_deadline = 60000ms;  // far beyond every wait below
    decision_service svc(cfg, hpa_at(50));
    const int port = svc.start();
    // Two silent connections: one held by the only worker, one queued.
    raw_connection held(port);
    REQUIRE(held.connected());
    std::this_thread::sleep_for(200ms);  // accepted and taken by the worker
    REQUIRE(wait_queued(svc, 0));
    raw_connection queued(port);
    REQUIRE(queued.connected());
    REQUIRE(wait_queued(svc, 1));
    const int fd = listening_socket(port);
    REQUIRE(fd >= 0);
    const auto failed = std::chrono::steady_clock::now();
    REQUIRE(::shutdown(fd, SHUT_RDWR) == 0);
    // listening() turns false as the accept loop ends, before the queued
    // connection is finished.
    while (svc.listening() && std::chrono::steady_clock::now() - failed < 20s) std::this_thread::sleep_for(10ms);
    CHECK_FALSE(svc.listening());
    // Both are closed unanswered as in a stop: seconds, not the 60 s deadline.
    bool held_closed = false;
    bool queued_closed = false;
    while ((!held_closed || !queued_closed) && std::chrono::steady_clock::now() - failed < 20s) {
        held_closed = held_closed || held.closed_by_server(50ms);
        queued_closed = queued_closed || queued.closed_by_server(50ms);
    }
    CHECK(held_closed);
    CHECK(queued_closed);
    const auto stopping = std::chrono::steady_clock::now();
    svc.stop();
    CHECK(std::chrono::steady_clock::now() - stopping < 20s);
    CHECK(svc.stats().bad_requests == 0);
    // The service starts again on a fresh listener.
    const int again = svc.start();
    CHECK(svc.listening());
    CHECK(client(again).Get("/healthz"));
}

}  // namespace test_service_service
