#include "gzip_bytes.hpp"
#include "lengthless_dripping_server.hpp"
#include "loopback_socket.hpp"
#include "test_server.hpp"

#include <rlscale/prometheus/client.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace test_prometheus_client {

using namespace rlscale::prometheus;
using rlscale::prometheus::test::loopback_server;
using rlscale::prometheus::test::one_sample;
using rlscale::prometheus::test::success;
using namespace std::chrono_literals;

namespace {

/// What the fake server last received.
struct recorded {
    std::mutex mutex;
    std::string method, path, authorization, query, time, start, end, step, timeout;
};

void serve_json(httplib::Server& s, const std::string& path, int status, std::string body, recorded* rec = nullptr) {
    const auto handler = [status, body, rec](const httplib::Request& req, httplib::Response& res) {
        if (rec) {
            std::lock_guard lock(rec->mutex);
            rec->method = req.method;
            rec->path = req.path;
            rec->authorization = req.get_header_value("Authorization");
            rec->query = req.get_param_value("query");
            rec->time = req.get_param_value("time");
            rec->start = req.get_param_value("start");
            rec->end = req.get_param_value("end");
            rec->step = req.get_param_value("step");
            rec->timeout = req.get_param_value("timeout");
        }
        res.status = status;
        res.set_content(body, "application/json");
    };
    s.Get(path, handler);
    s.Post(path, handler);
}

client_config local(const loopback_server& s) {
    return {.url = s.url(), .connect_timeout = 1000ms, .read_timeout = 2000ms};
}

}  // namespace

TEST_CASE("client: instant query over loopback, parameters and result") {
    recorded rec;
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/api/v1/query", 200,
                   success(R"({"resultType":"vector","result":[{"metric":{"job":"fn"},"value":[1700000000,"42.5"]}]})"), &rec);
    });
    const client c(local(s));
    const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000250));
    const auto r = c.query(R"(sum(rate(x{a="b"}[1m])))", at);
    REQUIRE(r.type == result_type::vector);
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].metric.at("job") == "fn");
    CHECK(r.vector[0].point.value == 42.5);
    std::lock_guard lock(rec.mutex);
    CHECK(rec.method == "GET");
    CHECK(rec.query == R"(sum(rate(x{a="b"}[1m])))");
    CHECK(rec.time == "1700000000.250");
    CHECK(rec.timeout == "2000ms");
    CHECK(rec.authorization.empty());
}

TEST_CASE("client: range query sends start, end and step and parses the matrix") {
    recorded rec;
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/api/v1/query_range", 200,
                   success(R"({"resultType":"matrix","result":[{"metric":{},"values":[[100,"1"],[115,"NaN"],[130,"3"]]}]})"), &rec);
    });
    const client c(local(s));
    const auto t0 = std::chrono::system_clock::time_point(100s);
    const auto r = c.query_range("up", t0, t0 + 30s, 15000ms);
    REQUIRE(r.type == result_type::matrix);
    REQUIRE(r.matrix.size() == 1);
    REQUIRE(r.matrix[0].points.size() == 3);
    CHECK(r.matrix[0].points[0].value == 1);
    CHECK(std::isnan(r.matrix[0].points[1].value));
    CHECK(r.matrix[0].points[2].time == 130);
    {
        std::lock_guard lock(rec.mutex);
        CHECK(rec.start == "100.000");
        CHECK(rec.end == "130.000");
        CHECK(rec.step == "15.000");
    }
    CHECK_THROWS_AS((void)c.query_range("up", t0, t0 + 30s, 0ms), rlscale::config_error);
    CHECK_THROWS_AS((void)c.query_range("up", t0 + 30s, t0, 1000ms), rlscale::config_error);
}

TEST_CASE("client: format_unix_time keeps the sign of a time before the epoch, under a second too") {
    using tp = std::chrono::system_clock::time_point;
    CHECK(format_unix_time(tp(0ms)) == "0.000");
    CHECK(format_unix_time(tp(1700000000250ms)) == "1700000000.250");
    CHECK(format_unix_time(tp(-500ms)) == "-0.500");
    CHECK(format_unix_time(tp(-1ms)) == "-0.001");
    CHECK(format_unix_time(tp(-999ms)) == "-0.999");
    CHECK(format_unix_time(tp(-1000ms)) == "-1.000");
    CHECK(format_unix_time(tp(-1500ms)) == "-1.500");
    // Sub-millisecond parts are cut toward zero: -0.4 ms is 0 ms.
    CHECK(format_unix_time(tp(std::chrono::microseconds(-400))) == "0.000");
    CHECK(format_unix_time(tp(std::chrono::microseconds(-1400))) == "-0.001");
}

TEST_CASE("client: NaN, +Inf and -Inf sample values come back as such") {
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/api/v1/query", 200, success(R"({"resultType":"vector","result":[
            {"metric":{"k":"nan"},"value":[1,"NaN"]},
            {"metric":{"k":"pinf"},"value":[1,"+Inf"]},
            {"metric":{"k":"ninf"},"value":[1,"-Inf"]}]})"));
    });
    const auto r = client(local(s)).query("q");
    REQUIRE(r.vector.size() == 3);
    CHECK(std::isnan(r.vector[0].point.value));
    CHECK(r.vector[1].point.value == INFINITY);
    CHECK(r.vector[2].point.value == -INFINITY);
}

TEST_CASE("client: empty result is an empty vector, not zero") {
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/api/v1/query", 200, success(R"({"resultType":"vector","result":[]})"));
    });
    const auto r = client(local(s)).query("absent_metric");
    CHECK(r.type == result_type::vector);
    CHECK(r.vector.empty());
}

TEST_CASE("client: the error envelope is an api_error with errorType, error and status") {
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/api/v1/query", 400,
                   R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"})");
    });
    try {
        (void)client(local(s)).query("sum(");
        FAIL("no exception");
    } catch (const api_error& e) {
        CHECK(e.http_status() == 400);
        CHECK(e.error_type() == "bad_data");
        CHECK(e.message().find("parse error") != std::string::npos);
    }
}

TEST_CASE("client: 503 without an envelope is an http_error, with one an api_error") {
    loopback_server s([&](httplib::Server& srv) {
        srv.Get("/plain/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
            res.status = 503;
            res.set_content("upstream unavailable", "text/plain");
        });
        serve_json(srv, "/env/api/v1/query", 503, R"({"status":"error","errorType":"timeout","error":"query timed out in query execution"})");
    });
    try {
        (void)client({.url = s.url() + "/plain"}).query("up");
        FAIL("no exception");
    } catch (const http_error& e) {
        CHECK(e.http_status() == 503);
        CHECK(e.body() == "upstream unavailable");
    }
    try {
        (void)client({.url = s.url() + "/env/"}).query("up");
        FAIL("no exception");
    } catch (const api_error& e) {
        CHECK(e.http_status() == 503);
        CHECK(e.error_type() == "timeout");
    }
}

TEST_CASE("client: malformed body is a parse_error") {
    loopback_server s([&](httplib::Server& srv) {
        serve_json(srv, "/a/api/v1/query", 200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"res");
        serve_json(srv, "/b/api/v1/query", 200, success(R"({"resultType":"vector","result":[{"metric":{},"value":[1,"12abc"]}]})"));
    });
    CHECK_THROWS_AS((void)client({.url = s.url() + "/a"}).query("up"), parse_error);
    try {
        (void)client({.url = s.url() + "/b"}).query("up");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(e.field() == "data.result[0].value[1]");
    }
}

TEST_CASE("client: server down is a transport_error, not a timeout") {
    int port = 0;
    {
        loopback_server s([](httplib::Server&) {});
        port = s.port();
    }  // closed: nothing listens on the port any more
    const client c({.url = "http://127.0.0.1:" + std::to_string(port), .connect_timeout = 1000ms});
    const auto t0 = std::chrono::steady_clock::now();
    try {
        (void)c.query("up");
        FAIL("no exception");
    } catch (const timeout_error&) {
        FAIL("connection refused reported as a timeout");
    } catch (const transport_error& e) {
        CHECK(e.url().find(std::to_string(port)) != std::string::npos);
        CHECK(!e.cause().empty());
    }
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("client: a slow server hits the read timeout, bounded") {
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    loopback_server s([&](httplib::Server& srv) {
        srv.Get("/api/v1/query", [&](const httplib::Request&, httplib::Response& res) {
            std::unique_lock lock(m);
            cv.wait_for(lock, 10s, [&] { return release; });
            res.set_content(one_sample("1"), "application/json");
        });
    });
    const client c({.url = s.url(), .connect_timeout = 1000ms, .read_timeout = 300ms});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS((void)c.query("up"), timeout_error);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(elapsed >= 250ms);
    CHECK(elapsed < 2s);
    {
        std::lock_guard lock(m);
        release = true;
    }
    cv.notify_all();
}

TEST_CASE("client: an answer dripping in a byte at a time is cut at the connect, read and write timeouts together") {
    const auto body = std::make_shared<std::string>(one_sample("1"));
    loopback_server s([&](httplib::Server& srv) {
        srv.Get("/api/v1/query", [body](const httplib::Request&, httplib::Response& res) {
            // One byte every 100 ms: no read waits long, the whole takes seconds.
            res.set_content_provider(body->size(), "application/json", [body](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                std::this_thread::sleep_for(100ms);
                return sink.is_writable() && sink.write(body->data() + offset, 1);
            });
        });
    });
    const client c({.url = s.url(), .connect_timeout = 300ms, .read_timeout = 500ms, .write_timeout = 200ms});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS((void)c.query("up"), doctest::Contains("within 1000 ms"), timeout_error);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(elapsed >= 900ms);
    CHECK(elapsed < 3s);
}

TEST_CASE("client: a body without a length, dripping in past the deadline, is a timeout, not a truncated answer") {
    // A raw HTTP/1.1 server: no Content-Length, not chunked, so the body
    // ends where the connection closes; the deadline's cut closes it first.
    rlscale::test::lengthless_dripping_server server(one_sample("1"));
    const client c({.url = "http://127.0.0.1:" + std::to_string(server.port()), .connect_timeout = 300ms,
                    .read_timeout = 500ms, .write_timeout = 200ms});
    CHECK_THROWS_WITH_AS((void)c.query("up"), doctest::Contains("the answer was cut short (no whole answer within 1000 ms"),
                         timeout_error);
}

TEST_CASE("client: bearer token and basic auth headers are sent") {
    recorded rec;
    loopback_server s([&](httplib::Server& srv) { serve_json(srv, "/api/v1/query", 200, one_sample("1"), &rec); });
    (void)client({.url = s.url(), .bearer_token = "s3cr3t-token"}).query("up");
    {
        std::lock_guard lock(rec.mutex);
        CHECK(rec.authorization == "Bearer s3cr3t-token");
    }
    (void)client({.url = s.url(), .basic = basic_auth{"alice", "p@ss:word"}}).query("up");
    {
        std::lock_guard lock(rec.mutex);
        // base64("alice:p@ss:word")
        CHECK(rec.authorization == "Basic YWxpY2U6cEBzczp3b3Jk");
    }
}

TEST_CASE("client: POST sends the query form-encoded and a path prefix is kept") {
    recorded rec;
    loopback_server s([&](httplib::Server& srv) { serve_json(srv, "/prom/api/v1/query", 200, one_sample("7"), &rec); });
    const auto r = client({.url = s.url() + "/prom/", .use_post = true}).query(R"(a{b="c d&e"} + 1)");
    CHECK(r.vector.at(0).point.value == 7);
    std::lock_guard lock(rec.mutex);
    CHECK(rec.method == "POST");
    CHECK(rec.path == "/prom/api/v1/query");
    CHECK(rec.query == R"(a{b="c d&e"} + 1)");
}

TEST_CASE("client: an answer larger than max_response_bytes once inflated is a transport_error, a gzip bomb included") {
    // 40 MiB of spaces before the envelope (valid JSON), sent gzip-compressed
    // whether asked or not (the client inflates whatever says gzip): about
    // 40 KB cross the wire, and inflated they pass the 32 MiB default.
    const std::string bomb = rlscale::test::gzip_bytes(std::string(40u << 20, ' ') + one_sample("7"));
    REQUIRE(bomb.size() < (1u << 20));
    loopback_server s([&](httplib::Server& srv) {
        const auto send = [&bomb](int status) {
            return [&bomb, status](const httplib::Request&, httplib::Response& res) {
                res.status = status;
                res.set_header("Content-Encoding", "gzip");
                res.set_content(bomb, "application/json");
            };
        };
        srv.Get("/api/v1/query", send(200));
        srv.Post("/api/v1/query", send(502));
    });
    client_config cfg = local(s);
    try {
        (void)client(cfg).query("up");
        FAIL("expected a transport_error");
    } catch (const transport_error& e) {
        CHECK_MESSAGE(std::string(e.what()).find("max_response_bytes (33554432 bytes") != std::string::npos, e.what());
    }
    cfg.max_response_bytes = 64u << 20;
    const auto r = client(cfg).query("up");
    REQUIRE(r.vector.size() == 1);
    CHECK(r.vector[0].point.value == 7);
    // An error answer over POST is bounded the same way.
    cfg.max_response_bytes = 1u << 20;
    cfg.use_post = true;
    CHECK_THROWS_WITH_AS((void)client(cfg).query("up"), doctest::Contains("max_response_bytes"), transport_error);
    cfg.max_response_bytes = 0;
    CHECK_THROWS_WITH_AS(client{cfg}, doctest::Contains("prometheus.max_response_bytes"), rlscale::config_error);
}

TEST_CASE("client: configuration errors name the field") {
    const auto field_of = [](const client_config& cfg) {
        try {
            client c(cfg);
        } catch (const rlscale::config_error& e) {
            return e.field();
        }
        return std::string("(accepted)");
    };
    CHECK(field_of({.url = "127.0.0.1:9090"}) == "prometheus.url");
    CHECK(field_of({.url = "ftp://host:21"}) == "prometheus.url");
    CHECK(field_of({.url = "http://"}) == "prometheus.url");
    CHECK(field_of({.url = "http://h:0"}) == "prometheus.url");
    CHECK(field_of({.url = "http://h:65536"}) == "prometheus.url");
    CHECK(field_of({.url = "http://h:90x"}) == "prometheus.url");
    CHECK(field_of({.url = "http://[fd00::1"}) == "prometheus.url");
    CHECK(field_of({.url = "http://h:9090/prom?x=1"}) == "prometheus.url");
    CHECK(field_of({.url = "http://user@h:9090"}) == "prometheus.url");
    CHECK(field_of({.connect_timeout = 0ms}) == "prometheus.connect_timeout");
    CHECK(field_of({.read_timeout = -1ms}) == "prometheus.read_timeout");
    // Over a day: their sum (the query's deadline) would overflow at max().
    CHECK(field_of({.read_timeout = std::chrono::milliseconds::max()}) == "prometheus.read_timeout");
    CHECK(field_of({.write_timeout = 86400001ms}) == "prometheus.write_timeout");
    CHECK(field_of({.connect_timeout = 86400000ms}) == "(accepted)");
    client_config dir{.url = "http://h:1"};
    dir.ca_cert_dir = "/etc/ssl/certs";
    CHECK(field_of(dir) == "prometheus.ca_cert_dir");
    CHECK(field_of({.bearer_token = "t", .basic = basic_auth{"u", "p"}}) == "prometheus.bearer_token");
    CHECK(field_of({.url = "http://h:1", .ca_cert_file = "/etc/ssl/certs/ca-certificates.crt"}) == "prometheus.ca_cert_file");
    CHECK(field_of({.bearer_token = "abc\r\nX-Injected: 1"}) == "prometheus.bearer_token");
    CHECK(field_of({.bearer_token = "abc\n"}) == "prometheus.bearer_token");
    CHECK(field_of({.basic = basic_auth{"u", "p\r\n"}}) == "prometheus.basic");
    CHECK(field_of({}) == "(accepted)");
    CHECK(client_config{}.verify_tls);
}

TEST_CASE("client: an IPv6 literal with hex digits is reached, with a bracketed Host header and the path prefix kept") {
    std::mutex mutex;
    std::string host, path;
    loopback_server s(
        [&](httplib::Server& srv) {
            srv.Get("/prom/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
                std::lock_guard lock(mutex);
                host = req.get_header_value("Host");
                path = req.path;
                res.set_content(one_sample("4"), "application/json");
            });
        },
        "::");
    // A dual-stack listener reached through an IPv4-mapped IPv6 address,
    // whose hex digits httplib's own URL parser refuses.
    const std::string authority = "[::ffff:7f00:1]:" + std::to_string(s.port());
    const client c({.url = "http://" + authority + "/prom/", .connect_timeout = 1000ms, .read_timeout = 2000ms});
    CHECK(c.query("up").vector.at(0).point.value == 4);
    std::lock_guard lock(mutex);
    CHECK(host == authority);
    CHECK(path == "/prom/api/v1/query");
}

TEST_CASE("client: https to a plain-http server fails in the TLS handshake as a transport_error") {
    loopback_server s([&](httplib::Server& srv) { serve_json(srv, "/api/v1/query", 200, one_sample("1")); });
    const client c({.url = "https://127.0.0.1:" + std::to_string(s.port()), .connect_timeout = 1000ms, .read_timeout = 1000ms});
    CHECK_THROWS_AS((void)c.query("up"), transport_error);
}

TEST_CASE("client: an answer of more JSON values than max_response_values is refused unparsed, a gzip one included") {
    // 32 MiB of {}, (inside the default max_response_bytes) gzip-compressed to
    // about 33 KB: parsed, it would take over a gigabyte.
    std::string many = R"({"status":"success","data":{"resultType":"vector","result":[)";
    const std::size_t target = (std::size_t{32} << 20) - 64;
    many.reserve(target + 8);
    while (many.size() < target) many += "{},";
    many += "{}]}}";
    const std::string packed = rlscale::test::gzip_bytes(many);
    REQUIRE(packed.size() < (1u << 20));
    loopback_server s([&](httplib::Server& srv) {
        const auto send = [&packed](int status) {
            return [&packed, status](const httplib::Request&, httplib::Response& res) {
                res.status = status;
                res.set_header("Content-Encoding", "gzip");
                res.set_content(packed, "application/json");
            };
        };
        srv.Get("/api/v1/query", send(200));
        srv.Post("/api/v1/query", send(502));
    });
    client_config cfg = local(s);
    CHECK_THROWS_WITH_AS((void)client(cfg).query("up"), doctest::Contains("max_response_values (8388608)"), parse_error);
    cfg.use_post = true;  // a non-2xx answer so big is an http_error, as one nested too deep
    CHECK_THROWS_AS((void)client(cfg).query("up"), http_error);

    // The bound as configured: a one-sample answer is 11 values by the count.
    loopback_server one([&](httplib::Server& srv) { serve_json(srv, "/api/v1/query", 200, one_sample("3")); });
    client_config small = local(one);
    small.max_response_values = 11;
    CHECK(client(small).query("up").vector.at(0).point.value == 3);
    small.max_response_values = 10;
    CHECK_THROWS_WITH_AS((void)client(small).query("up"), doctest::Contains("max_response_values (10)"), parse_error);
    small.max_response_values = 0;
    CHECK_THROWS_WITH_AS(client{small}, doctest::Contains("prometheus.max_response_values"), rlscale::config_error);
}

TEST_CASE("client: a CA file and a CA directory together are refused, not the directory silently ignored") {
    // cpp-httplib loads the file and drops the directory when both are set.
    try {
        client c({.url = "https://127.0.0.1:9091", .ca_cert_file = "/etc/ssl/certs/ca-certificates.crt", .ca_cert_dir = "/etc/ssl/certs"});
        FAIL("accepted");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "prometheus.ca_cert_dir");
        CHECK(std::string(e.what()).find("/etc/ssl/certs") != std::string::npos);
    }
    CHECK_NOTHROW(client({.url = "https://127.0.0.1:9091", .ca_cert_dir = "/etc/ssl/certs"}));
    CHECK_NOTHROW(client({.url = "https://127.0.0.1:9091", .ca_cert_file = "/etc/ssl/certs/ca-certificates.crt"}));
}

TEST_CASE("client: a TLS handshake the server never answers is a timeout_error after the connect timeout") {
    // A listener that is never accepted from: the kernel completes the TCP
    // connect, and the client's ClientHello gets no answer.
    const rlscale::test::loopback_socket listener(8);
    const client c({.url = "https://127.0.0.1:" + std::to_string(listener.port()), .connect_timeout = 200ms,
                    .read_timeout = 1000ms, .write_timeout = 1000ms});
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS((void)c.query("up"), doctest::Contains("connect timeout of 200 ms"), timeout_error);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    CHECK(elapsed >= 200ms);
    CHECK(elapsed < 2s);  // the connect timeout, not the whole query's deadline (2200 ms)
}

}  // namespace test_prometheus_client
