#pragma once

/// The decision service's connection handling: detail::bounded_task_queue,
/// an httplib::TaskQueue that refuses connections beyond a bound (answered
/// 503 by one rejecting thread, or closed at once when that one is full too),
/// and detail::connection_server, an httplib::Server that gives every request
/// a deadline to arrive whole. See docs/adapters/service.md.

// Eigen before httplib: <resolv.h>, which httplib includes, defines a macro
// `_res` that Eigen uses as a parameter name, so Eigen must be parsed first
// whatever order a user includes rlscale's headers in.
#include <Eigen/Core>
#include <httplib.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rlscale::service {

namespace detail {

/// How the current thread serves the connection it is running: decide
/// (a worker), answer 503 without deciding (the rejecting thread), or close
/// at once without reading (the accept thread, when every queue is full).
enum class connection_mode { serve, reject, drop };

/// The current thread's connection_mode; bounded_task_queue sets it around each connection.
[[nodiscard]] inline connection_mode& current_connection_mode() noexcept {
    thread_local connection_mode mode = connection_mode::serve;
    return mode;
}

/// httplib's task queue with a bound: `threads` workers, at most `max_queued`
/// connections waiting. A connection beyond goes to a rejecting thread that
/// serves it with `rejecting()` true, so the handlers answer 503 without
/// deciding; when that one already has `max_rejecting` waiting, the
/// connection is run on the accept thread in connection_mode::drop, which
/// connection_server closes at once without reading it. httplib 0.11's
/// enqueue cannot refuse a connection, hence this.
class bounded_task_queue final : public httplib::TaskQueue {
public:
    /// `queued` is kept equal to the connections waiting for a worker;
    /// `overloaded` counts connections beyond max_queued, `dropped` those of
    /// them closed at once.
    bounded_task_queue(std::size_t threads, std::size_t max_queued, std::size_t max_rejecting, std::atomic<std::uint64_t>& queued,
                       std::atomic<std::uint64_t>& overloaded, std::atomic<std::uint64_t>& dropped)
        : max_queued_(max_queued), max_rejecting_(max_rejecting), queued_(queued), overloaded_(overloaded), dropped_(dropped) {
        workers_.reserve(threads);
        try {
            for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(jobs_, jobs_cv_, connection_mode::serve); });
            rejecter_ = std::thread([this] { run(rejects_, rejects_cv_, connection_mode::reject); });
        } catch (...) {
            shutdown();  // joins the threads already started (a joinable thread destroyed would terminate)
            throw;
        }
    }
    bounded_task_queue(const bounded_task_queue&) = delete;
    bounded_task_queue& operator=(const bounded_task_queue&) = delete;
    ~bounded_task_queue() override { shutdown(); }

    /// Queues a connection for a worker, else for the rejecting thread, else
    /// runs it here (on the accept thread) in connection_mode::drop.
    void enqueue(std::function<void()> fn) override {
        {
            std::unique_lock lock(mutex_);
            if (jobs_.size() < max_queued_) {
                jobs_.push_back(std::move(fn));
                queued_.store(jobs_.size());
                lock.unlock();
                jobs_cv_.notify_one();
                return;
            }
            ++overloaded_;
            if (rejects_.size() < max_rejecting_) {
                rejects_.push_back(std::move(fn));
                lock.unlock();
                rejects_cv_.notify_one();
                return;
            }
        }
        ++dropped_;
        run_as(fn, connection_mode::drop);  // everything is full: close it without reading
    }

    /// Sets what shutdown() runs first, once (set it before listening). httplib
    /// 0.11 calls shutdown() as soon as its accept loop ends, whether by
    /// stop() or because accept() failed and it closed the listening socket
    /// itself (without marking it closed): the callback tells the server the
    /// listener is gone, so that the connections still queued are served as
    /// in a stop, not at full length.
    void on_shutdown(std::function<void()> fn) { on_shutdown_ = std::move(fn); }

    /// Runs on_shutdown's callback, lets the workers and the rejecting thread
    /// finish what is queued, and joins them.
    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            if (stopped_) return;
            stopped_ = true;
        }
        if (on_shutdown_) on_shutdown_();
        jobs_cv_.notify_all();
        rejects_cv_.notify_all();
        for (auto& t : workers_) t.join();
        if (rejecter_.joinable()) rejecter_.join();
    }

    /// True on a thread serving a connection that was refused for overload.
    [[nodiscard]] static bool rejecting() noexcept { return current_connection_mode() == connection_mode::reject; }

private:
    static void run_as(std::function<void()>& fn, connection_mode mode) {
        current_connection_mode() = mode;
        fn();
        current_connection_mode() = connection_mode::serve;
    }

    void run(std::deque<std::function<void()>>& queue, std::condition_variable& cv, connection_mode mode) {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock lock(mutex_);
                cv.wait(lock, [&] { return stopped_ || !queue.empty(); });
                if (queue.empty()) return;  // stopped and drained
                fn = std::move(queue.front());
                queue.pop_front();
                if (mode == connection_mode::serve) queued_.store(queue.size());
            }
            run_as(fn, mode);
        }
    }

    std::size_t max_queued_;
    std::size_t max_rejecting_;
    std::atomic<std::uint64_t>& queued_;
    std::atomic<std::uint64_t>& overloaded_;
    std::atomic<std::uint64_t>& dropped_;
    std::mutex mutex_;
    std::condition_variable jobs_cv_;     // workers wait here for jobs_
    std::condition_variable rejects_cv_;  // the rejecting thread waits here for rejects_
    std::deque<std::function<void()>> jobs_;
    std::deque<std::function<void()>> rejects_;
    std::vector<std::thread> workers_;
    std::thread rejecter_;
    bool stopped_ = false;
    std::function<void()> on_shutdown_;
};

/// The limits connection_server applies to each connection.
struct connection_limits {
    std::chrono::milliseconds read_timeout;        ///< longest wait for any one read
    std::chrono::milliseconds write_timeout;       ///< longest wait for any one write
    std::chrono::milliseconds keep_alive_timeout;  ///< longest wait for the first byte of a request after the first on a connection
    std::size_t keep_alive_max_count;              ///< requests served on one connection
    std::chrono::milliseconds request_deadline;    ///< a request must be read whole within this
    /// The most bytes one request may take on the wire (request line,
    /// headers, chunk framing and body): a chunked body, which httplib's
    /// payload limit does not see, is cut there. 0: no limit.
    std::size_t request_bytes = 0;
    /// Connections waiting for a worker (bounded_task_queue's count), or
    /// null. While any waits, a keep-alive connection's next answer says
    /// `Connection: close`, so clients that keep their connections busy
    /// cannot hold every worker while others (a health probe) wait. (An
    /// idle one is not closed early: a client may be sending its next
    /// request as the server closes, and would see it fail.)
    const std::atomic<std::uint64_t>* waiting = nullptr;
};

/// httplib's socket stream (buffered reads, timed writes) with a deadline:
/// once it passes, every read fails, however steadily bytes arrive. One
/// stream serves a connection's requests in turn; start_request() sets the
/// deadline of the next. Uses poll(), so any descriptor number works.
class deadline_stream final : public httplib::Stream {
public:
    using clock = std::chrono::steady_clock;

    deadline_stream(socket_t sock, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout)
        : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

    /// Reads of the next request must end by `deadline`, and read at most
    /// `max_bytes` (0: no limit).
    void start_request(clock::time_point deadline, std::size_t max_bytes = 0) noexcept {
        deadline_ = deadline;
        bytes_left_ = max_bytes == 0 ? std::numeric_limits<std::size_t>::max() : max_bytes;
    }

    /// True once a read was refused because the deadline had passed.
    [[nodiscard]] bool timed_out() const noexcept { return timed_out_; }

    /// True once a read was refused because the request had read its bytes.
    [[nodiscard]] bool over_size() const noexcept { return over_size_; }

    /// True once an answer said `Connection: close` (an answer to a request
    /// whose body was not read, or httplib's own last answer): the
    /// connection must serve nothing more.
    [[nodiscard]] bool close_requested() const noexcept { return close_requested_; }

    /// Whether bytes already read wait in the buffer.
    [[nodiscard]] bool buffered() const noexcept { return begin_ < end_; }

    /// Waits for a byte at most read_timeout and until the deadline.
    bool is_readable() const override {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - clock::now());
        if (left.count() <= 0) {
            timed_out_ = true;
            return false;
        }
        if (wait(POLLIN, std::min(read_timeout_, left))) return true;
        if (clock::now() >= deadline_) timed_out_ = true;
        return false;
    }

    /// Waits at most write_timeout for room to write.
    bool is_writable() const override { return wait(POLLOUT, write_timeout_); }

    ssize_t read(char* ptr, std::size_t size) override {
        if (bytes_left_ == 0) {
            over_size_ = true;
            return -1;
        }
        size = std::min(size, bytes_left_);
        if (!buffered()) {
            if (!is_readable()) return -1;
            ssize_t n;
            do {
                n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) return n;
            begin_ = 0;
            end_ = static_cast<std::size_t>(n);
        }
        const std::size_t n = std::min(size, end_ - begin_);
        std::memcpy(ptr, buffer_.data() + begin_, n);
        begin_ += n;
        bytes_left_ -= n;
        return static_cast<ssize_t>(n);
    }

    /// From now on, a request whose read times out gets no answer: the
    /// connection is closed unanswered, as a stopping server's queued
    /// connection whose request had not arrived whole (a 400 would tell
    /// its client the request was wrong, where a reset says to retry).
    void silent_on_timeout() noexcept { silent_on_timeout_ = true; }

    /// True once the current request timed out in silent_on_timeout mode:
    /// whatever answer httplib makes for it (a 400) is not written.
    [[nodiscard]] bool answer_suppressed() const noexcept { return silent_on_timeout_ && timed_out_; }

    /// The stream of the connection this thread is serving, or null: set by
    /// connection_server while it serves one, so that a handler (the error
    /// handler, which sees no stream) can tell an answer that will not be
    /// written.
    [[nodiscard]] static const deadline_stream*& current() noexcept {
        thread_local const deadline_stream* stream = nullptr;
        return stream;
    }

    /// Whether the answer being made on this thread will not be written
    /// (answer_suppressed() of the current stream).
    [[nodiscard]] static bool current_answer_suppressed() noexcept {
        const deadline_stream* stream = current();
        return stream != nullptr && stream->answer_suppressed();
    }

    ssize_t write(const char* ptr, std::size_t size) override {
        if (silent_on_timeout_ && timed_out_) return -1;
        note_connection_close(std::string_view(ptr, size));
        if (!is_writable()) return -1;
        ssize_t n;
        do {
            n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        return n;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override { address(::getpeername, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { address(::getsockname, ip, port); }
    socket_t socket() const override { return sock_; }

private:
    /// httplib writes an answer's status line and headers in one write.
    void note_connection_close(std::string_view bytes) noexcept {
        if (!bytes.starts_with("HTTP/1.")) return;
        const std::string_view head = bytes.substr(0, bytes.find("\r\n\r\n"));
        if (head.find("\r\nConnection: close\r\n") != std::string_view::npos || head.ends_with("\r\nConnection: close")) {
            close_requested_ = true;
        }
    }

    [[nodiscard]] bool wait(short events, std::chrono::milliseconds timeout) const {
        pollfd p{sock_, events, 0};
        int r;
        do {
            r = ::poll(&p, 1, static_cast<int>(timeout.count()));
        } while (r < 0 && errno == EINTR);
        return r > 0;
    }

    void address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        if (get(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
        std::array<char, NI_MAXHOST> host{};
        std::array<char, NI_MAXSERV> serv{};
        if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host.data(), host.size(), serv.data(), serv.size(),
                          NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
            return;
        }
        ip = host.data();
        port = std::atoi(serv.data());
    }

    socket_t sock_;
    std::chrono::milliseconds read_timeout_;
    std::chrono::milliseconds write_timeout_;
    clock::time_point deadline_ = clock::time_point::max();
    mutable bool timed_out_ = false;
    std::size_t bytes_left_ = std::numeric_limits<std::size_t>::max();
    bool over_size_ = false;
    bool close_requested_ = false;
    bool silent_on_timeout_ = false;
    std::array<char, 4096> buffer_{};
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

/// An httplib::Server that serves each connection with a deadline_stream:
/// every request must arrive whole within `request_deadline` of the moment
/// its worker starts waiting for it (for a keep-alive connection, when the
/// previous answer has been written), so a client sending a byte now and
/// then holds a worker for at most that long. A connection whose request
/// misses its deadline is closed. Between two requests of a keep-alive
/// connection the next must also begin within `keep_alive_timeout`; a
/// connection's first request has until its deadline. An answer keeps its
/// connection alive only while no other connection waits for a worker
/// (connection_limits::waiting), and never on the rejecting thread. Once
/// the server stops, a worker's queued connection (accepted before the stop)
/// is still answered if its request has already arrived whole (it is read
/// within 20 ms), with `Connection: close`; one that has not is closed
/// unanswered, as are idle connections and the rejecting thread's.
/// A connection run in connection_mode::drop is closed at once: it gets a
/// fixed 503 only if the socket takes it without waiting, and is never read
/// beyond what has already arrived.
/// (httplib 0.11 lets a subclass replace process_and_close_socket, the
/// function a queued connection runs; the request itself is still parsed,
/// routed and answered by httplib's process_request.)
class connection_server final : public httplib::Server {
public:
    explicit connection_server(connection_limits limits) : limits_(limits) {}

    /// Closes the socket bound by bind_to_port / bind_to_any_port, for a
    /// server that will never listen on it (httplib's destructor does not
    /// close it). Only before listen_after_bind.
    void close_unlistened() noexcept {
        if (const socket_t s = svr_sock_.exchange(INVALID_SOCKET); s != INVALID_SOCKET) ::close(s);
    }

    /// Marks the listening socket closed, once httplib's accept loop has
    /// ended (bounded_task_queue::on_shutdown). When accept() fails, httplib
    /// 0.11 closes the socket but leaves its number in svr_sock_: without
    /// this, the connections still queued would be served as if the server
    /// were running (each may hold a worker for its request deadline), and
    /// a later stop() would shut down and close that number again, which by
    /// then may be another descriptor of the process.
    void listener_closed() noexcept { svr_sock_.store(INVALID_SOCKET); }

private:
    using clock = std::chrono::steady_clock;

    bool process_and_close_socket(socket_t sock) override {
        bool ret = false;
        if (current_connection_mode() == connection_mode::drop) {
            refuse_at_once(sock);
        } else {
            int yes = 1;
            ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
            deadline_stream strm(sock, limits_.read_timeout, limits_.write_timeout);
            struct serving {
                explicit serving(const deadline_stream& s) noexcept { deadline_stream::current() = &s; }
                serving(const serving&) = delete;
                serving& operator=(const serving&) = delete;
                ~serving() { deadline_stream::current() = nullptr; }
            } const serving_this(strm);
            for (std::size_t left = limits_.keep_alive_max_count; left > 0; --left) {
                const bool first = left == limits_.keep_alive_max_count;
                const bool stopping = svr_sock_ == INVALID_SOCKET;
                if (stopping && (!first || current_connection_mode() == connection_mode::reject)) break;
                // Stopping: only a request already there is read, so that
                // stop() is not held by slow clients queued behind.
                const auto deadline = clock::now() + (stopping ? std::chrono::milliseconds(20) : limits_.request_deadline);
                strm.start_request(deadline, limits_.request_bytes);
                if (stopping) strm.silent_on_timeout();  // not there whole in time: closed unanswered
                // A connection's first request may take until its deadline to
                // begin; keep_alive_timeout is the wait between requests.
                const auto until = first ? deadline : std::min(deadline, clock::now() + limits_.keep_alive_timeout);
                if (!strm.buffered() && !wait_for_request(sock, until, first)) break;
                const bool last = left == 1 || stopping || others_waiting() || current_connection_mode() == connection_mode::reject;
                bool connection_closed = false;
                ret = process_request(strm, last, connection_closed, nullptr);
                if (!ret || last || connection_closed || strm.timed_out() || strm.over_size() || strm.close_requested()) break;
            }
        }
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return ret;
    }

    /// Whether other connections wait for a worker.
    [[nodiscard]] bool others_waiting() const noexcept {
        return limits_.waiting != nullptr && limits_.waiting->load(std::memory_order_relaxed) > 0;
    }

    /// Waits until the socket has a byte (or has closed) by `until`, in short
    /// slices. A keep-alive connection's wait for its next request ends as
    /// soon as the server stops; once it has stopped, a connection's first
    /// request is served only if it has already arrived.
    bool wait_for_request(socket_t sock, clock::time_point until, bool first) const {
        constexpr std::chrono::milliseconds slice{50};
        for (;;) {
            const bool stopping = svr_sock_ == INVALID_SOCKET;
            if (!first && stopping) return false;
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
            if (left.count() <= 0) return false;
            pollfd p{sock, POLLIN, 0};
            const int r = ::poll(&p, 1, stopping ? 0 : static_cast<int>(std::min(left, slice).count()));
            if (r > 0) return true;
            if (r < 0 && errno != EINTR) return false;
            if (stopping) return false;
        }
    }

    /// Writes a fixed 503 if the socket takes it without waiting, then reads
    /// (without waiting) what the client has sent so far, so that closing
    /// does not reset the connection before the client reads the answer.
    static void refuse_at_once(socket_t sock) {
        static constexpr std::string_view body = R"({"error":"overloaded: request queue full","replicas":-1})";
        static const std::string answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
                                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + std::string(body);
        (void)::send(sock, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        std::array<char, 4096> discard{};
        for (int i = 0; i < 16 && ::recv(sock, discard.data(), discard.size(), MSG_DONTWAIT) > 0; ++i) {
        }
    }

    connection_limits limits_;
};

}  // namespace detail

}  // namespace rlscale::service
