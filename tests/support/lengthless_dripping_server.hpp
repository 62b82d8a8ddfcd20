#pragma once

// A loopback HTTP server on raw POSIX sockets that sends a body without a
// length, for the HTTP clients' deadline tests.

#include "loopback_socket.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <utility>

namespace rlscale::test {

/// A raw HTTP/1.1 server on a loopback port that answers each of its
/// connections 200 with no Content-Length and not chunked (Connection:
/// close, so the body ends where the connection closes), and drips the body
/// a byte every 100 ms: httplib reads a body cut by the deadline as a whole one.
class lengthless_dripping_server {
public:
    explicit lengthless_dripping_server(std::string body) : body_(std::move(body)) {}
    [[nodiscard]] int port() const noexcept { return server_.port(); }

private:
    void answer(const raw_loopback_server& server, int fd) const {
        std::string request;
        char buf[1024];
        while (request.find("\r\n\r\n") == std::string::npos) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            request.append(buf, static_cast<std::size_t>(n));
        }
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
        for (std::size_t i = 0; i < body_.size() && !server.stopping(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (::send(fd, body_.data() + i, 1, MSG_NOSIGNAL) != 1) break;
        }
    }
    std::string body_;
    raw_loopback_server server_{[this](raw_loopback_server& server) {
        for (int fd; (fd = server.accept_within()) >= 0;) {
            answer(server, fd);
            ::close(fd);
        }
    }};
};

}  // namespace rlscale::test
