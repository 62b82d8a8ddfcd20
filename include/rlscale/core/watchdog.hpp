#pragma once

/// A one-shot watchdog: calls a function once, from a thread of its own,
/// unless it is disarmed first. It bounds a blocking call that has only
/// per-operation timeouts (an HTTP request whose server sends a byte now and
/// then never trips a per-read timeout): the function cancels the call, and
/// disarm() says whether it had to. Not for hot paths: it starts a thread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace rlscale {

class watchdog {
public:
    /// The longest timeout taken; longer ones are shortened to it (a wait
    /// of centuries would overflow the clock).
    static constexpr std::chrono::milliseconds max_timeout = std::chrono::hours(24);

    /// Starts waiting: `on_expiry` runs once `timeout` has passed, unless
    /// disarm() (or the destructor) comes first.
    watchdog(std::chrono::milliseconds timeout, std::function<void()> on_expiry)
        : thread_([this, timeout = std::min(timeout, max_timeout), f = std::move(on_expiry)] {
              std::unique_lock lock(mutex_);
              if (cv_.wait_for(lock, timeout, [this] { return disarmed_; })) return;
              fired_ = true;
              lock.unlock();
              if (f) f();
          }) {}

    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() { (void)disarm(); }

    /// Stops the watchdog, waiting for `on_expiry` to return if it is
    /// running. True if it fired. Idempotent.
    bool disarm() {
        {
            std::lock_guard lock(mutex_);
            disarmed_ = true;
        }
        cv_.notify_one();
        if (thread_.joinable()) thread_.join();
        return fired_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool disarmed_ = false;
    bool fired_ = false;
    std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace rlscale
