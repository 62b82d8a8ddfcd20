// The controller's /metrics endpoint over real sockets: scrapes answered,
// and requests with a body (or a method httplib reads one for) answered at
// once without reading it.
#include <rlscale/controller/metrics_endpoint.hpp>

#include "raw_connection.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>

using rlscale::controller::metrics_endpoint;
using rlscale::test::raw_connection;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view scrape_text = "# TYPE rlscale_controller_ticks_total counter\nrlscale_controller_ticks_total 7\n";

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

}  // namespace

TEST_CASE("controller metrics endpoint: GET and HEAD /metrics answer the text, one request per connection") {
    std::atomic<int> scrapes{0};
    metrics_endpoint endpoint("127.0.0.1:0", [&] {
        ++scrapes;
        return std::string(scrape_text);
    });
    REQUIRE(endpoint.port() > 0);
    for (int i = 0; i < 2; ++i) {
        raw_connection c(endpoint.port());
        REQUIRE(c.connected());
        REQUIRE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
        const auto start = std::chrono::steady_clock::now();
        const std::string answer = c.read_all(5s);  // until the endpoint closes
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        CHECK(status_line(answer) == "HTTP/1.1 200 OK");
        CHECK(answer.find("Connection: close") != std::string::npos);
        CHECK(answer.ends_with(scrape_text));
    }
    CHECK(scrapes == 2);
    raw_connection head(endpoint.port());
    REQUIRE(head.send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string h = head.read_all(5s);
    CHECK(status_line(h) == "HTTP/1.1 200 OK");
    CHECK(h.find("rlscale_controller_ticks_total 7") == std::string::npos);
}

TEST_CASE("controller metrics endpoint: a request with a body, or a POST, is answered at once and its body never read") {
    metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); });
    // Each is answered and closed within a second, though its body never
    // ends: the endpoint does not wait for it.
    const auto answered = [&](const std::string& head) {
        raw_connection c(endpoint.port());
        REQUIRE(c.connected());
        REQUIRE(c.send(head));
        const auto start = std::chrono::steady_clock::now();
        std::string answer = c.read_all(3s);
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK_MESSAGE(took < 2s, "the endpoint waited for the body: " << head);
        return answer;
    };
    SUBCASE("a POST without a length (httplib would read it to the close)") {
        const std::string a = answered("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\nno end");
        CHECK(status_line(a) == "HTTP/1.1 405 Method Not Allowed");
        CHECK(a.find("Allow: GET, HEAD") != std::string::npos);
    }
    SUBCASE("a chunked POST whose chunks never end") {
        const std::string a = answered("POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + std::string(1024, 'x'));
        CHECK(status_line(a) == "HTTP/1.1 405 Method Not Allowed");
    }
    SUBCASE("a POST elsewhere") {
        CHECK(status_line(answered("POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")) == "HTTP/1.1 404 Not Found");
    }
    SUBCASE("a GET with a body (its bytes would be read as the next request)") {
        const std::string a = answered("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(status_line(a) == "HTTP/1.1 400 Bad Request");
        CHECK(a.find("rlscale_controller_ticks_total") == std::string::npos);  // one answer, not a scrape too
        CHECK(a.find("HTTP/1.1", 1) == std::string::npos);
    }
    SUBCASE("a chunked GET") {
        CHECK(status_line(answered("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello")) ==
              "HTTP/1.1 400 Bad Request");
    }
    SUBCASE("a GET with Content-Length 0 is a scrape") {
        const std::string a = answered("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        CHECK(status_line(a) == "HTTP/1.1 200 OK");
        CHECK(a.find(scrape_text) != std::string::npos);
    }
}
