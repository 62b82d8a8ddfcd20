#pragma once

/// The controller's own /metrics endpoint: GET (or HEAD) /metrics answers
/// the text a function gives, in Prometheus's text format, one request per
/// connection (every answer says "Connection: close" and closes it).
/// Nothing else is served, and no request body is read: a scrape has none,
/// so a request that says it carries one (Transfer-Encoding, a
/// Content-Length other than 0) is answered 400, another method 405 (404
/// off /metrics), at once, and the connection closed.
///
/// A small server of its own on POSIX sockets: one thread polls the
/// listening socket, a wake-up pipe (the destructor's stop) and the open
/// connections, all non-blocking. The controller's other sockets (to
/// Prometheus, the API server, the Lease) share the process's descriptors
/// and memory, so no client of this endpoint may take more than a bounded
/// share of either, nor keep a scrape out for long:
/// - at most max_connections are open at once. One more makes room by
///   closing the oldest (one whose answer is already handed over first,
///   then one still sending its request, then one being answered): idle or
///   slow connections cannot keep a scrape out, and the endpoint holds at
///   most max_connections + 4 descriptors however many connect (with the
///   listening socket, the pipe's two ends and one being accepted);
/// - a request head (request line and headers) is read up to
///   max_request_head bytes; a longer one is answered 431 and closed, so a
///   client streaming header lines without end holds at most that much;
/// - everything, reading the head and writing the answer, is done within
///   connection_deadline of the accept. A client that sends its request or
///   reads the answer slower is dropped then (a large text is written in
///   parts, as the client reads it);
/// - the request line is read strictly (method SP target SP HTTP/1.0 or
///   HTTP/1.1; CRLF or LF line ends); a query string is ignored
///   (/metrics?x is /metrics); header names are case-insensitive.
/// The text function runs on the endpoint's thread; an exception from it is
/// answered 500 and the endpoint goes on. The endpoint listens on loopback
/// unless configured otherwise.

#include <rlscale/core/error.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace rlscale::controller {

class metrics_endpoint {
public:
    /// Connections open at once; one more closes the oldest.
    static constexpr std::size_t max_connections = 16;
    /// The longest request head (request line and headers) read; longer is answered 431.
    static constexpr std::size_t max_request_head = 16 * 1024;
    /// From the accept to the last byte of the answer handed over; a connection still open then is dropped.
    static constexpr std::chrono::milliseconds connection_deadline{2000};

    /// Listens on `address` ("host:port", "[v6]:port"; port 0 takes a free
    /// one, see port()). Throws config_error naming metrics_address when it
    /// cannot listen there.
    metrics_endpoint(const std::string& address, std::function<std::string()> text) : text_(std::move(text)) {
        const auto colon = address.rfind(':');
        const auto malformed = [&address] { return config_error("metrics_address", "is \"" + address + "\", expected host:port"); };
        if (colon == std::string::npos) throw malformed();
        std::string host = address.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // [::1]:9464
        const std::string port = address.substr(colon + 1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
            throw malformed();
        }
        listener_ = listen_on(address, host, port);
        sockaddr_storage bound{};
        socklen_t length = sizeof(bound);
        if (::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
            throw config_error("metrics_address", "cannot listen on " + address + ": " + std::system_category().message(errno));
        }
        port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                                            : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
        int wake[2];
        if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
            throw config_error("metrics_address", "cannot serve " + address + ": " + std::system_category().message(errno));
        }
        wake_read_ = descriptor(wake[0]);
        wake_write_ = descriptor(wake[1]);
        connections_.reserve(max_connections + 1);
        thread_ = std::thread([this] { run(); });
    }
    metrics_endpoint(const metrics_endpoint&) = delete;
    metrics_endpoint& operator=(const metrics_endpoint&) = delete;
    /// Stops serving and joins the thread (at once: the thread waits on the
    /// wake-up pipe too, whatever its clients do); open connections are closed.
    ~metrics_endpoint() {
        const char byte = 1;
        // A full pipe already holds a wake-up; the thread reads none.
        while (::write(wake_write_.get(), &byte, 1) < 0 && errno == EINTR) {
        }
        thread_.join();
    }

    /// The port listened on.
    [[nodiscard]] int port() const noexcept { return port_; }

private:
    using clock = std::chrono::steady_clock;

    /// A file descriptor, closed with its owner.
    class descriptor {
    public:
        descriptor() = default;
        explicit descriptor(int fd) noexcept : fd_(fd) {}
        descriptor(descriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
        descriptor& operator=(descriptor&& other) noexcept {
            if (this != &other) {
                reset();
                fd_ = std::exchange(other.fd_, -1);
            }
            return *this;
        }
        descriptor(const descriptor&) = delete;
        descriptor& operator=(const descriptor&) = delete;
        ~descriptor() { reset(); }
        [[nodiscard]] int get() const noexcept { return fd_; }
        void reset() noexcept {
            if (fd_ >= 0) ::close(fd_);
            fd_ = -1;
        }

    private:
        int fd_ = -1;
    };

    enum class phase {
        reading,   ///< the request head
        writing,   ///< the answer
        draining,  ///< answered whole; what the client still sends is read and dropped until it closes
    };

    struct connection {
        descriptor fd;
        clock::time_point accepted;
        phase state = phase::reading;
        std::string bytes;      ///< the request head read so far, then the answer
        std::size_t done = 0;   ///< bytes of the answer sent, then bytes dropped while draining
        bool drain = true;      ///< once answered: read what the client still sends (false: close at once)
    };

    static descriptor listen_on(const std::string& address, const std::string& host, const std::string& port) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* found = nullptr;
        if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
            throw config_error("metrics_address", "cannot listen on " + address + ": " + ::gai_strerror(rc));
        }
        const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
        std::string why = "no address to listen on";
        for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
            descriptor s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
            if (s.get() < 0) {
                why = std::system_category().message(errno);
                continue;
            }
            // A restart binds again while the last run's connections are in TIME_WAIT.
            const int yes = 1;
            ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
            if (a->ai_family == AF_INET6) {
                const int no = 0;  // "[::]:9464" takes IPv4 too
                ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
            }
            if (::bind(s.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(s.get(), SOMAXCONN) == 0) return s;
            why = std::system_category().message(errno);
        }
        throw config_error("metrics_address", "cannot listen on " + address + ": " + why);
    }

    void run() {
        std::vector<pollfd> polled;
        polled.reserve(max_connections + 2);
        // Out of descriptors (or kernel memory), accept() fails and the
        // listening socket stays readable: it is left out of the poll for a
        // while instead of being retried in a busy loop.
        clock::time_point accept_paused_until{};
        for (;;) {
            auto now = clock::now();
            const bool accepting = now >= accept_paused_until;
            polled.clear();
            polled.push_back({wake_read_.get(), POLLIN, 0});
            polled.push_back({accepting ? listener_.get() : -1, POLLIN, 0});  // poll() skips a negative descriptor
            auto wake = accepting ? clock::time_point::max() : accept_paused_until;
            for (const connection& c : connections_) {
                polled.push_back({c.fd.get(), static_cast<short>(c.state == phase::writing ? POLLOUT : POLLIN), 0});
                wake = std::min(wake, c.accepted + connection_deadline);
            }
            int timeout_ms = -1;
            if (wake != clock::time_point::max()) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
                timeout_ms = static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
            }
            const int ready = ::poll(polled.data(), polled.size(), timeout_ms);
            if (ready < 0 && errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // ENOMEM: try again shortly
            if (ready > 0) {
                if (polled[0].revents != 0) return;  // stop
                for (std::size_t i = 0; i < connections_.size(); ++i) {
                    if (polled[i + 2].revents == 0) continue;
                    try {
                        serve(connections_[i]);
                    } catch (...) {  // out of memory making its answer: that connection is dropped, the others served
                        close(connections_[i]);
                    }
                }
            }
            now = clock::now();
            for (connection& c : connections_) {
                if (c.fd.get() >= 0 && now - c.accepted >= connection_deadline) close(c);
            }
            std::erase_if(connections_, [](const connection& c) { return c.fd.get() < 0; });
            if (ready > 0 && (polled[1].revents & POLLIN) != 0 && !accept_all(now)) {
                accept_paused_until = now + std::chrono::milliseconds(100);
            }
        }
    }

    /// Accepts what is waiting (a bounded number, so the open connections
    /// are served between bursts); false when out of descriptors or memory.
    /// At max_connections it stops when no connection accepted before this
    /// round can make room: the rest wait in the backlog until the open
    /// ones have been read (the listener stays readable, so the next poll
    /// returns at once), and a scrape accepted in a burst is never closed
    /// unread by the idle connections accepted after it.
    bool accept_all(clock::time_point now) {
        for (int i = 0; i < 64; ++i) {
            if (connections_.size() >= max_connections && !make_room(now)) return true;
            descriptor fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (fd.get() < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) return false;
                continue;  // ECONNABORTED, a network error of that connection: the next one
            }
            connection& c = connections_.emplace_back();
            c.fd = std::move(fd);
            c.accepted = now;
        }
        return true;
    }

    /// Closes the oldest connection accepted before `now`: one already
    /// answered first, then one still sending its request, then one being
    /// answered. False when there is none (all were accepted this round,
    /// none of them read yet).
    bool make_room(clock::time_point now) {
        for (const phase p : {phase::draining, phase::reading, phase::writing}) {
            auto oldest = connections_.end();
            for (auto it = connections_.begin(); it != connections_.end(); ++it) {
                if (it->state == p && it->accepted < now && (oldest == connections_.end() || it->accepted < oldest->accepted)) oldest = it;
            }
            if (oldest != connections_.end()) {
                close(*oldest);
                connections_.erase(oldest);
                return true;
            }
        }
        return false;
    }

    /// Closes `c`. One whose answer is not handed over whole is reset, so
    /// the kernel does not keep the rest for a client that does not read.
    static void close(connection& c) noexcept {
        if (c.state == phase::writing) {
            const linger reset{1, 0};
            ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        }
        c.fd.reset();
    }

    void serve(connection& c) {
        if (c.state == phase::reading) read_head(c);
        if (c.fd.get() >= 0 && c.state == phase::writing) write_answer(c);  // at once, once answered
        if (c.fd.get() >= 0 && c.state == phase::draining) drain(c);
    }

    void read_head(connection& c) {
        char buffer[4096];
        for (;;) {
            const std::size_t room = max_request_head + 1 - c.bytes.size();
            const ssize_t n = ::recv(c.fd.get(), buffer, std::min(sizeof(buffer), room), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) return close(c);  // closed or reset before the head ended
            const std::size_t from = c.bytes.size() < 2 ? 0 : c.bytes.size() - 2;
            c.bytes.append(buffer, static_cast<std::size_t>(n));
            const std::size_t end = head_end(c.bytes, from);
            if (end != std::string::npos && end <= max_request_head) {
                c.bytes = answer(std::string_view(c.bytes).substr(0, end));
                c.state = phase::writing;
                return;
            }
            if (c.bytes.size() > max_request_head) {
                // Whatever else it sends is not read: closed once answered.
                const std::string what = "the request head is longer than " + std::to_string(max_request_head) + " bytes";
                c.bytes = plain(431, "Request Header Fields Too Large", what, false);
                c.state = phase::writing;
                c.drain = false;
                return;
            }
        }
    }

    void write_answer(connection& c) {
        while (c.done < c.bytes.size()) {
            const ssize_t n = ::send(c.fd.get(), c.bytes.data() + c.done, c.bytes.size() - c.done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n < 0) return close(c);
            c.done += static_cast<std::size_t>(n);
        }
        // Handed over whole. Closed at once, a connection the client still
        // sends on (a body, a second request) would be reset, and the reset
        // can discard the answer before the client reads it: so the
        // endpoint says it is done sending and reads what comes until the
        // client closes (a bounded amount, within the deadline).
        std::string().swap(c.bytes);
        c.done = 0;
        c.state = phase::draining;
        if (!c.drain) return c.fd.reset();
        ::shutdown(c.fd.get(), SHUT_WR);
    }

    static void drain(connection& c) {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::recv(c.fd.get(), buffer, sizeof(buffer), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) return close(c);
            c.done += static_cast<std::size_t>(n);
            if (c.done > max_request_head) return close(c);
        }
    }

    /// The end of the request head (past the empty line that ends it) in
    /// `bytes`, looking from `from`; npos if it has not ended.
    static std::size_t head_end(std::string_view bytes, std::size_t from) noexcept {
        for (std::size_t at = bytes.find('\n', from); at != std::string_view::npos; at = bytes.find('\n', at + 1)) {
            if (at + 1 < bytes.size() && bytes[at + 1] == '\n') return at + 2;
            if (at + 2 < bytes.size() && bytes[at + 1] == '\r' && bytes[at + 2] == '\n') return at + 3;
        }
        return std::string_view::npos;
    }

    static bool is_token(std::string_view s) noexcept {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
            const auto u = static_cast<unsigned char>(ch);
            return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                   std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
        });
    }

    static bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   const auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; };
                   return lower(x) == lower(y);
               });
    }

    /// An answer whose body is the line `what`.
    static std::string plain(int status, std::string_view reason, const std::string& what, bool head_only,
                             std::string_view extra_headers = {}) {
        return response(status, reason, "text/plain", what + "\n", head_only, extra_headers);
    }

    static std::string response(int status, std::string_view reason, std::string_view content_type, std::string_view body, bool head_only,
                                std::string_view extra_headers = {}) {
        std::string r;
        r.reserve(160 + extra_headers.size() + (head_only ? 0 : body.size()));
        r.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
        r.append("Content-Type: ").append(content_type).append("\r\n");
        r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
        r.append(extra_headers);
        r.append("Connection: close\r\n\r\n");
        if (!head_only) r.append(body);
        return r;
    }

    /// The whole answer to the request head `head` (which ends with its empty line).
    std::string answer(std::string_view head) const {
        const auto bad_request = [](const std::string& what) { return plain(400, "Bad Request", what, false); };
        // Its lines, each without its line end; a CR anywhere else is refused.
        std::vector<std::string_view> lines;
        for (std::size_t at = 0; at < head.size();) {
            const std::size_t end = head.find('\n', at);
            std::string_view line = head.substr(at, end - at);
            if (line.ends_with('\r')) line.remove_suffix(1);
            if (line.find('\r') != std::string_view::npos) return bad_request("a bare CR in the request head");
            lines.push_back(line);
            at = end + 1;
        }
        // method SP target SP version, nothing else.
        const std::string_view request_line = lines.front();
        const std::size_t space1 = request_line.find(' ');
        const std::size_t space2 = space1 == std::string_view::npos ? space1 : request_line.find(' ', space1 + 1);
        if (space2 == std::string_view::npos || request_line.find(' ', space2 + 1) != std::string_view::npos) {
            return bad_request("the request line is not: method target version");
        }
        const std::string_view method = request_line.substr(0, space1);
        const std::string_view target = request_line.substr(space1 + 1, space2 - space1 - 1);
        const std::string_view version = request_line.substr(space2 + 1);
        if (!is_token(method)) return bad_request("the method is not a token");
        if (target.empty() || std::any_of(target.begin(), target.end(), [](char ch) {
                const auto u = static_cast<unsigned char>(ch);
                return u <= 0x20 || u == 0x7f;
            })) {
            return bad_request("the request target is empty or holds a control character");
        }
        if (version != "HTTP/1.1" && version != "HTTP/1.0") return bad_request("the version is not HTTP/1.0 or HTTP/1.1");
        bool chunked = false;    // Transfer-Encoding, whatever its value
        bool has_body = false;   // a Content-Length other than 0
        for (std::size_t i = 1; i + 1 < lines.size(); ++i) {  // the last line is the empty one
            const std::string_view line = lines[i];
            const std::size_t colon = line.find(':');
            // A name with white space before its colon, or a folded line
            // (starting with white space), is refused.
            if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return bad_request("a header line is not name: value");
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
            if (std::any_of(value.begin(), value.end(), [](char ch) {
                    const auto u = static_cast<unsigned char>(ch);
                    return (u < 0x20 && u != '\t') || u == 0x7f;
                })) {
                return bad_request("a header value holds a control character");
            }
            const std::string_view name = line.substr(0, colon);
            if (equal_ignoring_case(name, "Transfer-Encoding")) chunked = true;
            if (equal_ignoring_case(name, "Content-Length") && (value.empty() || value.find_first_not_of('0') != std::string_view::npos)) {
                has_body = true;
            }
        }
        const bool head_only = method == "HEAD";
        const std::string_view path = target.substr(0, target.find('?'));  // a query string changes nothing
        if (method != "GET" && method != "HEAD") {
            if (path != "/metrics") return plain(404, "Not Found", "not found", head_only);
            return plain(405, "Method Not Allowed", "method not allowed: /metrics answers GET and HEAD", false, "Allow: GET, HEAD\r\n");
        }
        // A scrape has no body; one would be read as the next request.
        if (chunked) return bad_request("a scrape carries no body (Transfer-Encoding)");
        if (has_body) return bad_request("a scrape carries no body (Content-Length)");
        if (path != "/metrics") return plain(404, "Not Found", "not found", head_only);
        try {
            return response(200, "OK", "text/plain; version=0.0.4", text_(), head_only);
        } catch (const std::exception& e) {
            return plain(500, "Internal Server Error", std::string("the metrics text could not be made: ") + e.what(), head_only);
        } catch (...) {
            return plain(500, "Internal Server Error", "the metrics text could not be made", head_only);
        }
    }

    std::function<std::string()> text_;
    descriptor listener_;
    descriptor wake_read_;
    descriptor wake_write_;
    std::vector<connection> connections_;  ///< the thread's own
    int port_ = 0;
    std::thread thread_;
};

}  // namespace rlscale::controller
