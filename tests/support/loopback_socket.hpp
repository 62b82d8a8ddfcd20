#pragma once

// A TCP socket bound to a free loopback port, for tests that stand up a
// server of their own on raw POSIX sockets, or that need a port where
// connections are refused or never answered.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

}  // namespace rlscale::test
