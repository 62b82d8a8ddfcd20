#pragma once

/// A deadline for one blocking network request (POSIX): once it passes, the
/// request's sockets are shut down, so whatever it is waiting for (connect,
/// a TLS handshake, a read of a server that sends a byte now and then)
/// fails at once. Used by the HTTP adapters, whose library bounds each
/// operation but not the whole. While it is armed, SIGPIPE is blocked in the
/// requesting thread and one raised by a write to a cut socket (OpenSSL
/// writes without MSG_NOSIGNAL) is consumed, so a cut never kills the
/// process.

#include <rlscale/core/watchdog.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <functional>
#include <mutex>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rlscale {

class request_deadline {
public:
    /// Arms the deadline `limit` from now, in the calling thread (the one
    /// that makes the request and calls finish()).
    explicit request_deadline(std::chrono::milliseconds limit) : sigpipe_(), dog_(limit, [this] { cut(); }) {}

    request_deadline(const request_deadline&) = delete;
    request_deadline& operator=(const request_deadline&) = delete;
    ~request_deadline() { (void)finish(); }

    /// A socket-options hook for the HTTP client: called with each socket
    /// the request opens, before it connects. Keeps a duplicate of it, so a
    /// cut reaches the socket even while the client holds its own locks,
    /// and the number cannot be reused before finish(). The duplicate is
    /// close-on-exec like the socket, so a child process another thread
    /// starts meanwhile does not inherit the connection.
    [[nodiscard]] std::function<void(int)> socket_hook() {
        return [this](int sock) {
            std::lock_guard lock(mutex_);
            const int copy = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
            if (copy < 0) {
                // No descriptor for the duplicate (the process is at its
                // limit): the deadline could not reach this socket, so the
                // request fails now rather than run without it.
                ::shutdown(sock, SHUT_RDWR);
                return;
            }
            sockets_.push_back(copy);
            if (cut_) ::shutdown(copy, SHUT_RDWR);
        };
    }

    /// Disarms the deadline and releases the sockets' duplicates; true if
    /// the request was cut. Idempotent; call it in the requesting thread.
    bool finish() {
        const bool was_cut = dog_.disarm();
        {
            std::lock_guard lock(mutex_);
            for (const int s : sockets_) ::close(s);
            sockets_.clear();
        }
        sigpipe_.release();
        return was_cut;
    }

private:
    /// Blocks SIGPIPE in this thread until release(), then consumes one
    /// raised meanwhile (unless one was pending before) and restores the mask.
    class sigpipe_block {
    public:
        sigpipe_block() {
            sigemptyset(&pipe_);
            sigaddset(&pipe_, SIGPIPE);
            blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &saved_) == 0;
            sigset_t pending;
            sigemptyset(&pending);
            was_pending_ = blocked_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
        }
        sigpipe_block(const sigpipe_block&) = delete;
        sigpipe_block& operator=(const sigpipe_block&) = delete;
        /// Restores the mask if release() was not called (the watchdog
        /// after it failed to start, and the constructor threw).
        ~sigpipe_block() { release(); }
        void release() noexcept {
            if (!blocked_) return;
            blocked_ = false;
            sigset_t pending;
            sigemptyset(&pending);
            if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
                const timespec zero{0, 0};
                while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
                }
            }
            pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
        }

    private:
        sigset_t pipe_{};
        sigset_t saved_{};
        bool blocked_ = false;
        bool was_pending_ = false;
    };

    void cut() {
        std::lock_guard lock(mutex_);
        cut_ = true;
        for (const int s : sockets_) ::shutdown(s, SHUT_RDWR);
    }

    std::mutex mutex_;
    std::vector<int> sockets_;
    bool cut_ = false;
    sigpipe_block sigpipe_;
    watchdog dog_;  // last: it may call cut() once the members above exist
};

}  // namespace rlscale
