// The controller's /metrics endpoint over real sockets: scrapes answered,
// requests with a body (or another method) answered at once without reading
// it, and clients that send without end, connect without sending, or do not
// read held to the endpoint's bounds (memory, descriptors, time).
#include <rlscale/controller/metrics_endpoint.hpp>

#include "raw_connection.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using rlscale::controller::metrics_endpoint;
using rlscale::test::raw_connection;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view scrape_text = "# TYPE rlscale_controller_ticks_total counter\nrlscale_controller_ticks_total 7\n";

// The endpoint's bounds as these tests rely on them (metrics_endpoint::
// max_connections and connection_deadline), written out so that the tests
// also build against an endpoint without them.
constexpr std::size_t connection_cap = 16;
constexpr auto deadline = 2s;

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

/// The process's resident memory, from /proc/self/statm.
std::size_t resident_bytes() {
    std::size_t bytes = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        unsigned long size = 0;
        unsigned long resident = 0;
        if (std::fscanf(f, "%lu %lu", &size, &resident) == 2) bytes = resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        std::fclose(f);
    }
    return bytes;
}

/// The process's open descriptors.
std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

/// One request, the whole answer (until the endpoint closes).
std::string ask(int port, const std::string& request) {
    raw_connection c(port);
    if (!c.connected() || !c.send(request)) return "not sent";
    return c.read_all(5s);
}

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
    SUBCASE("a POST without a length (a server reading its body would wait for the close)") {
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

TEST_CASE("controller metrics endpoint: the request line is read strictly, header names in any case, a query string changes nothing") {
    metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); });
    const int port = endpoint.port();
    const auto status = [port](const std::string& request) { return status_line(ask(port, request)); };
    CHECK(status("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
    CHECK(status("GET /metrics HTTP/1.0\n\n") == "HTTP/1.1 200 OK");                      // LF line ends, no headers
    CHECK(status("GET /metrics HTTP/1.1\r\nHost: x\n\r\n") == "HTTP/1.1 200 OK");         // mixed
    CHECK(status("GET /metrics HTTP/1.1\r\ncontent-length: 0\r\n\r\n") == "HTTP/1.1 200 OK");
    CHECK(status("GET /metrics HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello") == "HTTP/1.1 400 Bad Request");
    CHECK(status("GET /metrics HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n\r\n") == "HTTP/1.1 400 Bad Request");
    CHECK(status("GET /other HTTP/1.1\r\n\r\n") == "HTTP/1.1 404 Not Found");
    CHECK(status("GET /metricsx HTTP/1.1\r\n\r\n") == "HTTP/1.1 404 Not Found");
    CHECK(status("DELETE /metrics HTTP/1.1\r\n\r\n") == "HTTP/1.1 405 Method Not Allowed");
    CHECK(status("get /metrics HTTP/1.1\r\n\r\n") == "HTTP/1.1 405 Method Not Allowed");  // methods are case-sensitive
    for (const char* bad : {"GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
                            "GET /metrics HTTP/1.1 \r\n\r\n", "GET /metrics http/1.1\r\n\r\n", "G(T /metrics HTTP/1.1\r\n\r\n",
                            "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                            "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", "GET /met\rrics HTTP/1.1\r\n\r\n", "\r\n\r\n"}) {
        CAPTURE(bad);
        CHECK(status(bad) == "HTTP/1.1 400 Bad Request");
    }
    const std::string head = ask(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    CHECK(head.find("Content-Length: " + std::to_string(scrape_text.size()) + "\r\n") != std::string::npos);
    CHECK(head.find("Content-Type: text/plain; version=0.0.4\r\n") != std::string::npos);
    CHECK(head.ends_with("\r\n\r\n"));
}

TEST_CASE("controller metrics endpoint: header lines sent without end are cut off at the head limit, the process's memory barely grows") {
    metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); });
    raw_connection c(endpoint.port());
    REQUIRE(c.connected());
    REQUIRE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
    const std::string line = "X-A: " + std::string(8000, 'a') + "\r\n";
    constexpr std::size_t offer = std::size_t{50} << 20;
    const std::size_t before = resident_bytes();
    REQUIRE(before > 0);
    std::size_t offered = 0;
    bool refused = false;
    const auto start = std::chrono::steady_clock::now();
    while (offered < offer && std::chrono::steady_clock::now() - start < 10s) {
        if (!c.send(line)) {
            refused = true;  // reset (EPIPE, ECONNRESET): the endpoint closed it
            break;
        }
        offered += line.size();
    }
    const std::size_t after = resident_bytes();
    const std::size_t grown = after - std::min(after, before);
    INFO("offered " << offered << " bytes, resident memory grew by " << grown << " bytes");
    CHECK(grown < (std::size_t{8} << 20));
    if (!refused) {
        // Every byte was taken (into the kernel's buffers): the answer is a
        // 431 and the connection is closed.
        const std::string a = c.read_all(deadline + 1s);
        CHECK(status_line(a) == "HTTP/1.1 431 Request Header Fields Too Large");
        CHECK(c.closed_by_server(0ms));
    }
    CHECK(offered < offer);
    // The endpoint goes on serving.
    CHECK(status_line(ask(endpoint.port(), "GET /metrics HTTP/1.1\r\n\r\n")) == "HTTP/1.1 200 OK");
}

TEST_CASE("controller metrics endpoint: idle connections beyond the cap neither keep a scrape out nor take the process's descriptors") {
    metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); });
    const std::size_t before = open_descriptors();
    constexpr std::size_t idle_count = 120;
    std::vector<std::unique_ptr<raw_connection>> idle;
    for (std::size_t i = 0; i < idle_count; ++i) {
        idle.push_back(std::make_unique<raw_connection>(endpoint.port()));
        REQUIRE(idle.back()->connected());
    }
    std::this_thread::sleep_for(200ms);  // all accepted by now
    // The test's own idle_count descriptors aside, the endpoint holds at most its cap.
    const std::size_t held = open_descriptors() - before - idle_count;
    INFO("the endpoint holds " << held << " descriptors for " << idle_count << " idle connections");
    CHECK(held <= connection_cap);
    raw_connection scrape(endpoint.port());
    REQUIRE(scrape.connected());
    REQUIRE(scrape.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto start = std::chrono::steady_clock::now();
    const std::string answer = scrape.read_all(deadline + 2s);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(status_line(answer) == "HTTP/1.1 200 OK");
    CHECK(answer.ends_with(scrape_text));
    CHECK(took < deadline + 500ms);
}

TEST_CASE("controller metrics endpoint: a scrape waiting to be accepted is not closed unread by idle connections accepted after it") {
    // The endpoint's thread is held in the text function (as behind a lock)
    // while a scrape connects and sends its request, then a cap's worth of
    // idle connections: all wait in the backlog, and the endpoint takes
    // them in one round when the text function returns.
    std::atomic<int> calls{0};
    metrics_endpoint endpoint("127.0.0.1:0", [&calls] {
        if (calls.fetch_add(1) == 0) std::this_thread::sleep_for(500ms);
        return std::string(scrape_text);
    });
    std::thread first([&endpoint] { (void)ask(endpoint.port(), "GET /metrics HTTP/1.1\r\n\r\n"); });
    while (calls.load() == 0) std::this_thread::sleep_for(1ms);
    raw_connection scrape(endpoint.port());
    REQUIRE(scrape.connected());
    REQUIRE(scrape.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::vector<std::unique_ptr<raw_connection>> idle;
    for (std::size_t i = 0; i < connection_cap + 4; ++i) {
        idle.push_back(std::make_unique<raw_connection>(endpoint.port()));
        REQUIRE(idle.back()->connected());
    }
    const std::string answer = scrape.read_all(deadline + 2s);
    first.join();
    CHECK(status_line(answer) == "HTTP/1.1 200 OK");
    CHECK(answer.ends_with(scrape_text));
}

TEST_CASE("controller metrics endpoint: a connection that has not sent its whole request by the deadline is closed") {
    metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); });
    raw_connection idle(endpoint.port());
    raw_connection drip(endpoint.port());  // a byte every 50 ms of a head that never ends
    REQUIRE(idle.connected());
    REQUIRE(drip.connected());
    const std::string head = "GET /metrics HTTP/1.1\r\nX-A: " + std::string(1000, 'a');
    const auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration idle_closed{};
    std::chrono::steady_clock::duration drip_closed{};
    for (std::size_t i = 0; std::chrono::steady_clock::now() - start < deadline + 2s && (idle_closed.count() == 0 || drip_closed.count() == 0);
         ++i) {
        if (drip_closed.count() == 0 && (!drip.send(head.substr(i % head.size(), 1)) || drip.closed_by_server(0ms))) {
            drip_closed = std::chrono::steady_clock::now() - start;
        }
        if (idle_closed.count() != 0) {
            std::this_thread::sleep_for(50ms);
        } else if (idle.closed_by_server(50ms)) {
            idle_closed = std::chrono::steady_clock::now() - start;
        }
    }
    CHECK(idle_closed > deadline - 300ms);
    CHECK(idle_closed < deadline + 1s);
    CHECK(drip_closed > deadline - 300ms);
    CHECK(drip_closed < deadline + 1s);
}

TEST_CASE("controller metrics endpoint: a large text is delivered whole, and a client that does not read it is dropped at the deadline") {
    std::string big;
    for (int i = 0; big.size() < (std::size_t{16} << 20); ++i) big += "rlscale_controller_test_series{i=\"" + std::to_string(i) + "\"} 1\n";
    const std::string four_mb = big.substr(0, big.rfind('\n', std::size_t{4} << 20) + 1);
    const std::string* text = &four_mb;
    metrics_endpoint endpoint("127.0.0.1:0", [&text] { return *text; });
    SUBCASE("4 MB to a reader") {
        const std::string answer = ask(endpoint.port(), "GET /metrics HTTP/1.1\r\n\r\n");
        CHECK(status_line(answer) == "HTTP/1.1 200 OK");
        CHECK(answer.find("Content-Length: " + std::to_string(four_mb.size()) + "\r\n") != std::string::npos);
        CHECK(answer.size() > four_mb.size());
        CHECK(answer.ends_with(four_mb));
    }
    SUBCASE("16 MB to a client that reads nothing until the deadline has passed") {
        text = &big;
        raw_connection c(endpoint.port());
        REQUIRE(c.send("GET /metrics HTTP/1.1\r\n\r\n"));
        std::this_thread::sleep_for(deadline + 500ms);
        const auto start = std::chrono::steady_clock::now();
        const std::string answer = c.read_all(3s);
        CHECK(std::chrono::steady_clock::now() - start < 2s);  // closed: read_all did not wait its 3 s
        CHECK(answer.size() < big.size());
    }
}

TEST_CASE("controller metrics endpoint: the destructor returns at once, right after construction and with idle clients connected") {
    for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        { metrics_endpoint endpoint("127.0.0.1:0", [] { return std::string(scrape_text); }); }
        CHECK(std::chrono::steady_clock::now() - start < 500ms);
    }
    std::vector<std::unique_ptr<raw_connection>> clients;
    auto endpoint = std::make_unique<metrics_endpoint>("127.0.0.1:0", [] { return std::string(scrape_text); });
    for (int i = 0; i < 8; ++i) clients.push_back(std::make_unique<raw_connection>(endpoint->port()));
    REQUIRE(clients[0]->send("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
    std::this_thread::sleep_for(100ms);
    const auto start = std::chrono::steady_clock::now();
    endpoint.reset();
    CHECK(std::chrono::steady_clock::now() - start < 500ms);
    for (const auto& c : clients) CHECK(c->closed_by_server(1000ms));
}

TEST_CASE("controller metrics endpoint: a text function that throws is answered 500 and the endpoint goes on") {
    std::atomic<int> calls{0};
    metrics_endpoint endpoint("127.0.0.1:0", [&calls]() -> std::string {
        if (++calls == 1) throw std::runtime_error("counters unavailable");
        return std::string(scrape_text);
    });
    const std::string failed = ask(endpoint.port(), "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(status_line(failed) == "HTTP/1.1 500 Internal Server Error");
    CHECK(failed.find("counters unavailable") != std::string::npos);
    CHECK(ask(endpoint.port(), "GET /metrics HTTP/1.1\r\n\r\n").ends_with(scrape_text));
}

TEST_CASE("controller metrics endpoint: IPv6 and host names are listened on, a bad or taken address is refused naming metrics_address") {
    SUBCASE("[::1]") {
        metrics_endpoint endpoint("[::1]:0", [] { return std::string(scrape_text); });
        REQUIRE(endpoint.port() > 0);
        const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        timeval wait{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        sockaddr_in6 addr{};
        addr.sin6_family = AF_INET6;
        addr.sin6_port = htons(static_cast<std::uint16_t>(endpoint.port()));
        addr.sin6_addr = in6addr_loopback;
        REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0);
        const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
        REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
        std::string answer;
        char buffer[4096];
        for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) answer.append(buffer, static_cast<std::size_t>(n));
        ::close(fd);
        CHECK(status_line(answer) == "HTTP/1.1 200 OK");
        CHECK(answer.ends_with(scrape_text));
    }
    SUBCASE("a host name") {
        metrics_endpoint endpoint("localhost:0", [] { return std::string(scrape_text); });
        CHECK(endpoint.port() > 0);
    }
    SUBCASE("refused") {
        metrics_endpoint taken("127.0.0.1:0", [] { return std::string(scrape_text); });
        // No colon, no port, an address of no interface here (TEST-NET-3), a port taken.
        for (const std::string& address : {std::string("127.0.0.1"), std::string("127.0.0.1:x"), std::string("203.0.113.1:0"),
                                           "127.0.0.1:" + std::to_string(taken.port())}) {
            CAPTURE(address);
            try {
                metrics_endpoint endpoint(address, [] { return std::string(scrape_text); });
                FAIL("listening on " << address);
            } catch (const rlscale::config_error& e) {
                CHECK(e.field() == "metrics_address");
                CHECK(std::string(e.what()).find(address) != std::string::npos);
            }
        }
    }
}
