#pragma once

// A TCP socket bound to a free loopback port, for tests that stand up a
// server of their own on raw POSIX sockets, or that need a port where
// connections are refused or never answered.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

namespace rlscale::test {

/// A TCP socket on 127.0.0.1 at a port the kernel chose, closed with the
/// object (also when a REQUIRE fails later in the test). With a backlog it
/// listens: the kernel completes clients' connects whether or not anyone
/// accepts them. Without one it only holds the port: connections to it are
/// refused, and no other server can take the port meanwhile.
class loopback_socket {
public:
    /// Listens with `backlog` when it is above 0; only binds when it is 0.
    explicit loopback_socket(int backlog = 0) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        if (backlog > 0) REQUIRE(::listen(fd_, backlog) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
    }
    loopback_socket(const loopback_socket&) = delete;
    loopback_socket& operator=(const loopback_socket&) = delete;
    ~loopback_socket() {
        if (fd_ >= 0) ::close(fd_);
    }

    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] int port() const noexcept { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

/// A listening loopback socket and one thread serving it, stopped and
/// joined with the object. `serve` runs on the thread; it takes connections
/// with accept_within() and ends soon after stopping() turns true. Declare
/// it after every member `serve` uses, so that it stops before they go.
class raw_loopback_server {
public:
    explicit raw_loopback_server(std::function<void(raw_loopback_server&)> serve)
        : serve_(std::move(serve)), thread_([this] { serve_(*this); }) {}
    ~raw_loopback_server() {
        stop_ = true;
        thread_.join();
    }
    raw_loopback_server(const raw_loopback_server&) = delete;
    raw_loopback_server& operator=(const raw_loopback_server&) = delete;

    [[nodiscard]] int port() const noexcept { return listener_.port(); }
    [[nodiscard]] bool stopping() const noexcept { return stop_; }

    /// The next connection, waiting for it in steps of `poll_ms` until one
    /// comes or the server stops (then -1).
    int accept_within(int poll_ms = 20) {
        while (!stop_) {
            pollfd p{listener_.fd(), POLLIN, 0};
            if (::poll(&p, 1, poll_ms) <= 0) continue;
            if (const int fd = ::accept(listener_.fd(), nullptr, nullptr); fd >= 0) return fd;
        }
        return -1;
    }

private:
    loopback_socket listener_{4};
    std::atomic<bool> stop_{false};
    std::function<void(raw_loopback_server&)> serve_;
    std::thread thread_;
};

}  // namespace rlscale::test
