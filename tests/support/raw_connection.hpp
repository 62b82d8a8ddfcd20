#pragma once

// A loopback TCP connection on raw POSIX sockets, for tests of rlscale's
// HTTP servers that send what an HTTP client library will not.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace rlscale::test {

/// A loopback TCP connection on raw POSIX sockets, for what httplib::Client
/// cannot do: send bytes as they are, or one at a time.
class raw_connection {
public:
    explicit raw_connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;
    ~raw_connection() {
        if (fd_ >= 0) ::close(fd_);
    }

    [[nodiscard]] bool connected() const noexcept { return connected_; }

    /// Sends all of `bytes`; false if the connection is gone.
    bool send(std::string_view bytes) {
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }

    /// Reads what has arrived, waiting at most `wait` for something; true once
    /// the server has closed the connection (end of stream or reset).
    bool closed_by_server(std::chrono::milliseconds wait) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            received_.append(buf, static_cast<std::size_t>(n));
            return false;
        }
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }

    /// Reads until what has arrived holds `text` `count` times, waiting at
    /// most `wait` in all; whether it does.
    bool read_until(std::string_view text, std::size_t count, std::chrono::milliseconds wait) {
        const auto end = std::chrono::steady_clock::now() + wait;
        const auto seen = [&] {
            std::size_t n = 0;
            for (auto at = received_.find(text); at != std::string::npos; at = received_.find(text, at + text.size())) ++n;
            return n;
        };
        while (seen() < count && std::chrono::steady_clock::now() < end && !closed_by_server(std::chrono::milliseconds(20))) {
        }
        return seen() >= count;
    }

    /// Everything the server sends until it closes the connection, waiting at most `wait` in all.
    std::string read_all(std::chrono::milliseconds wait) {
        const auto end = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < end && !closed_by_server(std::chrono::milliseconds(20))) {
        }
        return received_;
    }

private:
    int fd_;
    bool connected_ = false;
    std::string received_;
};

}  // namespace rlscale::test
