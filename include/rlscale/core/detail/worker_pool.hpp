#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace rlscale::detail {

/// A fixed set of threads that run `task(i)` for i in [0, n) and return when
/// every call has finished. `run` allocates nothing (the task is passed as
/// a function pointer and a context); with zero workers the calling thread
/// does everything. An exception thrown by a task on any thread is
/// rethrown by `run` on the caller's thread once every call has finished
/// (the first one, if several throw). Calls to `run` must not overlap.
class worker_pool {
public:
    using task_fn = void (*)(void* context, std::size_t index);

    explicit worker_pool(std::size_t workers) {
        threads_.reserve(workers);
        for (std::size_t w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
    }
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;
    ~worker_pool() {
        {
            const std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) t.join();
    }

    [[nodiscard]] std::size_t workers() const noexcept { return threads_.size(); }

    /// Runs task(context, i) for every i < n, on the workers and the calling
    /// thread, and waits for all of them.
    void run(std::size_t n, task_fn task, void* context) {
        if (threads_.empty() || n <= 1) {
            for (std::size_t i = 0; i < n; ++i) task(context, i);
            return;
        }
        {
            const std::lock_guard lock(mutex_);
            task_ = task;
            context_ = context;
            next_ = 0;
            count_ = n;
            pending_ = n;
            failure_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        drain();
        std::exception_ptr failure;
        {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [this] { return pending_ == 0; });
            failure = std::move(failure_);
            failure_ = nullptr;
        }
        if (failure) std::rethrow_exception(failure);
    }

    /// run() over a callable (kept on the caller's stack: nothing allocated).
    template <typename F>
    void for_each(std::size_t n, F& f) {
        run(n, [](void* c, std::size_t i) { (*static_cast<F*>(c))(i); }, &f);
    }

private:
    /// Claims and runs indices until none is left.
    void drain() {
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
                task(context, i);
            } catch (...) {
                thrown = std::current_exception();
            }
            {
                const std::lock_guard lock(mutex_);
                if (thrown && !failure_) failure_ = std::move(thrown);
                if (--pending_ == 0) done_.notify_all();
            }
        }
    }

    void work() {
        std::size_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
            }
            drain();
        }
    }

    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    task_fn task_ = nullptr;
    void* context_ = nullptr;
    std::size_t next_ = 0;
    std::size_t count_ = 0;
    std::size_t pending_ = 0;
    std::size_t generation_ = 0;
    std::exception_ptr failure_;
    bool stop_ = false;
};

}  // namespace rlscale::detail
