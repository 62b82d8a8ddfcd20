#pragma once

/// The decision service's bounded connection queue: detail::bounded_task_queue,
/// an httplib::TaskQueue that refuses connections beyond a bound (they are
/// answered 503). See docs/adapters/service.md.

// Eigen before httplib: <resolv.h>, which httplib includes, defines a macro
// `_res` that Eigen uses as a parameter name, so Eigen must be parsed first
// whatever order a user includes rlscale's headers in.
#include <Eigen/Core>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace rlscale::service {

namespace detail {

/// httplib's task queue with a bound: `threads` workers, at most `max_queued`
/// connections waiting. A connection beyond goes to a rejecting thread (or,
/// when that one has `max_rejecting` waiting, is served on the accept thread)
/// that serves it with `rejecting()` true, so the handlers answer 503 without
/// deciding. httplib 0.11's enqueue cannot refuse a connection, hence this.
class bounded_task_queue final : public httplib::TaskQueue {
public:
    bounded_task_queue(std::size_t threads, std::size_t max_queued, std::size_t max_rejecting,
                       std::atomic<std::uint64_t>& queued, std::atomic<std::uint64_t>& overloaded)
        : max_queued_(max_queued), max_rejecting_(max_rejecting), queued_(queued), overloaded_(overloaded) {
        workers_.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(jobs_, jobs_cv_, false); });
        rejecter_ = std::thread([this] { run(rejects_, rejects_cv_, true); });
    }
    bounded_task_queue(const bounded_task_queue&) = delete;
    bounded_task_queue& operator=(const bounded_task_queue&) = delete;
    ~bounded_task_queue() override { shutdown(); }

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
        run_rejecting(fn);  // everything is full: answer 503 here
    }

    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            if (stopped_) return;
            stopped_ = true;
        }
        jobs_cv_.notify_all();
        rejects_cv_.notify_all();
        for (auto& t : workers_) t.join();
        if (rejecter_.joinable()) rejecter_.join();
    }

    /// True on a thread serving a connection that was refused for overload.
    [[nodiscard]] static bool rejecting() noexcept { return rejecting_flag(); }

private:
    static bool& rejecting_flag() noexcept {
        thread_local bool flag = false;
        return flag;
    }
    static void run_rejecting(std::function<void()>& fn) {
        rejecting_flag() = true;
        fn();
        rejecting_flag() = false;
    }

    void run(std::deque<std::function<void()>>& queue, std::condition_variable& cv, bool rejecting) {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock lock(mutex_);
                cv.wait(lock, [&] { return stopped_ || !queue.empty(); });
                if (queue.empty()) return;  // stopped and drained
                fn = std::move(queue.front());
                queue.pop_front();
                if (!rejecting) queued_.store(queue.size());
            }
            if (rejecting) {
                run_rejecting(fn);
            } else {
                fn();
            }
        }
    }

    std::size_t max_queued_;
    std::size_t max_rejecting_;
    std::atomic<std::uint64_t>& queued_;
    std::atomic<std::uint64_t>& overloaded_;
    std::mutex mutex_;
    std::condition_variable jobs_cv_;     // workers wait here for jobs_
    std::condition_variable rejects_cv_;  // the rejecting thread waits here for rejects_
    std::deque<std::function<void()>> jobs_;
    std::deque<std::function<void()>> rejects_;
    std::vector<std::thread> workers_;
    std::thread rejecter_;
    bool stopped_ = false;
};

}  // namespace detail

}  // namespace rlscale::service
