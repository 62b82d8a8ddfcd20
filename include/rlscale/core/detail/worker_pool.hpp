#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rlscale::detail {

/// A fixed set of threads that run `task(i)` for i in [0, n) and return when
/// every call has finished. Each call also learns which thread runs it (0
/// the caller, 1 to workers() the pool's own), so that a task can work in
/// storage kept per thread (for_each_on_thread): no two calls of one run
/// get the same index at once. Runs must not overlap or nest (a nested
/// run would reuse index 0). `run` allocates nothing (the task is passed as
/// a function pointer and a context); with zero workers the calling thread
/// does everything. An exception thrown by a task on any thread is
/// rethrown by `run` on the caller's thread once every call has finished;
/// when several throw, the one of the lowest index, so which error the
/// caller sees does not depend on the number of threads or their timing.
/// Calls to `run` must not overlap.
///
/// `spin`: how long an idle worker keeps polling for the next `run`, and
/// the caller for the last task to end, before sleeping on a condition
/// variable. Waking a sleeping thread takes a system call and, on a
/// virtual machine whose idle CPU has halted, tens of microseconds; tasks
/// of about 100 µs that come back to back (a data-parallel update per
/// training step) need the spin to gain anything. 0 (the default): sleep at
/// once, for tasks that are long or far apart.
class worker_pool {
public:
    using task_fn = void (*)(void* context, std::size_t index, std::size_t thread);

    explicit worker_pool(std::size_t workers, std::chrono::microseconds spin = std::chrono::microseconds(0))
        : spin_(spin) {
        threads_.reserve(workers);
        try {
            for (std::size_t w = 0; w < workers; ++w) threads_.emplace_back([this, w] { work(w + 1); });
        } catch (...) {
            // A thread that cannot start (EAGAIN at a process's thread or
            // memory limit): the ones started are stopped and joined, since
            // the destructor does not run for a constructor that throws.
            stop_and_join();
            throw;
        }
    }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;
    ~worker_pool() { stop_and_join(); }

    [[nodiscard]] std::size_t workers() const noexcept { return threads_.size(); }
    /// The threads a run uses, the caller's included: workers() + 1.
    [[nodiscard]] std::size_t threads() const noexcept { return threads_.size() + 1; }

    /// Runs task(context, i, thread) for every i < n, on the workers and the
    /// calling thread (thread 0), and waits for all of them.
    void run(std::size_t n, task_fn task, void* context) {
        if (threads_.empty() || n <= 1) {
            // As with workers: every index runs, then the lowest one's failure is rethrown.
            std::exception_ptr failure;
            for (std::size_t i = 0; i < n; ++i) {
                try {
                    task(context, i, 0);
                } catch (...) {
                    if (!failure) failure = std::current_exception();
                }
            }
            if (failure) std::rethrow_exception(failure);
            return;
        }
        {
            const std::lock_guard lock(mutex_);
            task_ = task;
            context_ = context;
            next_ = 0;
            count_ = n;
            pending_.store(n, std::memory_order_relaxed);
            failure_ = nullptr;
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        drain(0);
        poll([this] { return pending_.load(std::memory_order_acquire) == 0; });
        std::exception_ptr failure;
        {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
            failure = std::move(failure_);
            failure_ = nullptr;
        }
        if (failure) std::rethrow_exception(failure);
    }

    /// run() over a callable f(i) (kept on the caller's stack: nothing allocated).
    template <typename F>
    void for_each(std::size_t n, F& f) {
        run(n, [](void* c, std::size_t i, std::size_t) { (*static_cast<F*>(c))(i); }, &f);
    }

    /// run() over a callable f(i, thread), thread < threads().
    template <typename F>
    void for_each_on_thread(std::size_t n, F& f) {
        run(n, [](void* c, std::size_t i, std::size_t thread) { (*static_cast<F*>(c))(i, thread); }, &f);
    }

private:
    void stop_and_join() noexcept {
        {
            const std::lock_guard lock(mutex_);
            stop_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& t : threads_) t.join();
    }

    /// Claims and runs indices on `thread` until none is left.
    void drain(std::size_t thread) {
        for (;;) {
            std::size_t i = 0;
            task_fn task = nullptr;
            void* context = nullptr;
            {
                const std::lock_guard lock(mutex_);
                if (next_ >= count_) return;
                i = next_++;
                task = task_;
                context = context_;
            }
            std::exception_ptr thrown;
            try {
                task(context, i, thread);
            } catch (...) {
                thrown = std::current_exception();
            }
            {
                const std::lock_guard lock(mutex_);
                if (thrown && (!failure_ || i < failure_index_)) {
                    failure_ = std::move(thrown);
                    failure_index_ = i;
                }
                if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_all();
            }
        }
    }

    void work(std::size_t thread) {
        std::size_t seen = 0;
        for (;;) {
            const auto woken = [&] {
                return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
            };
            poll(woken);
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, woken);
                if (stop_.load(std::memory_order_relaxed)) return;
                seen = generation_.load(std::memory_order_relaxed);
            }
            drain(thread);
        }
    }

    /// Polls `ready` for up to spin_; true once it holds.
    template <typename Ready>
    bool poll(const Ready& ready) const {
        if (spin_.count() <= 0) return ready();
        const auto until = std::chrono::steady_clock::now() + spin_;
        for (unsigned i = 1;; ++i) {
            if (ready()) return true;
            if (i % 64 == 0) {
                if (std::chrono::steady_clock::now() >= until) return false;
                // Lets a thread that shares this CPU (more threads than
                // CPUs) run instead of waiting out the spin.
                std::this_thread::yield();
            } else {
                pause();
            }
        }
    }

    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    task_fn task_ = nullptr;
    void* context_ = nullptr;
    std::size_t next_ = 0;
    std::size_t count_ = 0;
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::size_t> generation_{0};
    std::exception_ptr failure_;
    std::size_t failure_index_ = 0;  // the index failure_ came from
    std::atomic<bool> stop_{false};
    std::chrono::microseconds spin_;
};

/// A worker_pool its owner can copy: a copy starts its own threads (as many,
/// with the same spin), so that an object owning one (a learner with
/// update_threads > 1) can be copied like any value. Empty (no pool, false)
/// with zero workers. Moving moves the threads.
class copyable_worker_pool {
public:
    copyable_worker_pool() = default;
    copyable_worker_pool(std::size_t workers, std::chrono::microseconds spin) : spin_(spin) {
        if (workers > 0) pool_ = std::make_unique<worker_pool>(workers, spin);
    }
    copyable_worker_pool(const copyable_worker_pool& other) : spin_(other.spin_) {
        if (other.pool_) pool_ = std::make_unique<worker_pool>(other.pool_->workers(), other.spin_);
    }
    copyable_worker_pool& operator=(const copyable_worker_pool& other) {
        if (this != &other) *this = copyable_worker_pool(other);
        return *this;
    }
    copyable_worker_pool(copyable_worker_pool&&) noexcept = default;
    copyable_worker_pool& operator=(copyable_worker_pool&&) noexcept = default;
    ~copyable_worker_pool() = default;

    explicit operator bool() const noexcept { return pool_ != nullptr; }
    worker_pool* operator->() const noexcept { return pool_.get(); }

private:
    std::unique_ptr<worker_pool> pool_;
    std::chrono::microseconds spin_{0};
};

}  // namespace rlscale::detail
