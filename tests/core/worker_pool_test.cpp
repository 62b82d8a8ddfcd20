#include <rlscale/core/detail/worker_pool.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace test_core_worker_pool {

using rlscale::detail::worker_pool;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RLSCALE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RLSCALE_TEST_SANITIZED 1
#endif
#endif

TEST_CASE("a worker_pool whose threads cannot all start throws, having stopped and joined the ones that did") {
#ifdef RLSCALE_TEST_SANITIZED
    MESSAGE("skipped: a sanitizer's shadow memory does not fit under an address-space limit");
#else
    // In a child: its address space limited to 256 MiB more than it maps now, 1,000 workers of 8 MiB
    // stacks cannot start. The pool must throw std::system_error and leave no thread behind; a
    // constructor that left its started threads waiting would hang (the alarm ends the child) or
    // terminate on a joinable thread's destruction.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::alarm(20);
        rlimit limit{};
        std::size_t mapped = 0;
        if (FILE* f = std::fopen("/proc/self/statm", "r")) {
            unsigned long pages = 0;
            if (std::fscanf(f, "%lu", &pages) == 1) mapped = pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
            std::fclose(f);
        }
        limit.rlim_cur = limit.rlim_max = mapped + (std::size_t{256} << 20);
        if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(3);
        try {
            rlscale::detail::worker_pool pool(1000);
            ::_exit(4);  // every thread started: the limit did not bite
        } catch (const std::system_error&) {
            ::_exit(0);
        } catch (...) {
            ::_exit(5);
        }
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    if (WIFSIGNALED(status)) CHECK_MESSAGE(false, "the child ended by signal ", WTERMSIG(status));
    if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 0);
#endif
}

TEST_CASE("worker_pool runs every index once, on the workers and the caller, for any number of workers, spinning or not") {
    for (const auto& config : {std::pair<std::size_t, int>{0, 0}, {1, 0}, {3, 0}, {1, 200}, {3, 50}}) {
        const std::size_t workers = config.first;  // named, not bound: doctest's CAPTURE needs a variable
        const int spin_us = config.second;
        CAPTURE(workers);
        CAPTURE(spin_us);
        worker_pool pool(workers, std::chrono::microseconds(spin_us));
        CHECK(pool.workers() == workers);
        for (const std::size_t n : {0, 1, 2, 17, 100}) {
            std::vector<std::atomic<int>> hits(n);
            auto task = [&](std::size_t i) { hits[i].fetch_add(1); };
            pool.for_each(n, task);
            for (std::size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 1);
        }
    }
}

TEST_CASE("worker_pool tells each task its thread: below threads(), the caller's 0, and never two tasks on one thread at once") {
    for (const std::size_t workers : {0, 1, 3}) {
        CAPTURE(workers);
        worker_pool pool(workers);
        CHECK(pool.threads() == workers + 1);
        std::vector<std::atomic<int>> busy(pool.threads());
        std::vector<std::atomic<int>> ran(pool.threads());
        std::atomic<int> overlaps{0};
        std::atomic<int> out_of_range{0};
        auto task = [&](std::size_t, std::size_t thread) {
            if (thread >= busy.size()) {
                out_of_range.fetch_add(1);
                return;
            }
            if (busy[thread].fetch_add(1) != 0) overlaps.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            ran[thread].fetch_add(1);
            busy[thread].fetch_sub(1);
        };
        pool.for_each_on_thread(64, task);
        CHECK(out_of_range.load() == 0);
        CHECK(overlaps.load() == 0);
        int total = 0;
        for (const auto& r : ran) total += r.load();
        CHECK(total == 64);
        if (workers == 0) CHECK(ran[0].load() == 64);
        // One task runs on the caller.
        std::vector<std::size_t> seen;
        auto one = [&](std::size_t, std::size_t thread) { seen.push_back(thread); };
        pool.for_each_on_thread(1, one);
        CHECK(seen == std::vector<std::size_t>{0});
    }
}

TEST_CASE("worker_pool rethrows a task's exception on the caller's thread after every task finished, and stays usable") {
  for (const int spin_us : {0, 200}) {
    CAPTURE(spin_us);
    worker_pool pool(2, std::chrono::microseconds(spin_us));
    std::atomic<int> done{0};
    auto failing = [&](std::size_t i) {
        if (i == 5) throw std::runtime_error("task 5 failed");
        done.fetch_add(1);
    };
    CHECK_THROWS_WITH_AS(pool.for_each(20, failing), "task 5 failed", std::runtime_error);
    CHECK(done.load() == 19);
    std::atomic<int> again{0};
    auto fine = [&](std::size_t) { again.fetch_add(1); };
    pool.for_each(20, fine);
    CHECK(again.load() == 20);
  }
  // Without workers too: every task runs, then the first failure is rethrown.
  worker_pool serial(0);
  std::atomic<int> done{0};
  auto failing = [&](std::size_t i) {
      if (i == 5 || i == 7) throw std::runtime_error("task " + std::to_string(i) + " failed");
      done.fetch_add(1);
  };
  CHECK_THROWS_WITH_AS(serial.for_each(20, failing), "task 5 failed", std::runtime_error);
  CHECK(done.load() == 18);
}

TEST_CASE("worker_pool rethrows the failure of the lowest index, whichever thread fails first") {
    // Task 2 fails last in time (it waits until task 17 has failed); its
    // error is still the one rethrown, as it is without workers.
    for (const std::size_t workers : {0, 1, 2, 3}) {
        CAPTURE(workers);
        worker_pool pool(workers);
        std::atomic<bool> late_failed{false};
        auto failing = [&](std::size_t i) {
            if (i == 2) {
                const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
                while (workers > 0 && !late_failed.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
                throw std::runtime_error("task 2 failed");
            }
            if (i == 17) {
                late_failed.store(true);
                throw std::runtime_error("task 17 failed");
            }
        };
        for (int round = 0; round < 5; ++round) {
            late_failed.store(false);
            CHECK_THROWS_WITH_AS(pool.for_each(20, failing), "task 2 failed", std::runtime_error);
        }
    }
}

TEST_CASE("a spinning worker_pool whose workers went back to sleep still wakes for the next run") {
    worker_pool pool(1, std::chrono::microseconds(100));
    for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // well past the spin: the worker sleeps
        std::vector<std::atomic<int>> hits(8);
        auto task = [&](std::size_t i) { hits[i].fetch_add(1); };
        pool.for_each(8, task);
        for (auto& h : hits) CHECK(h.load() == 1);
    }
}

}  // namespace test_core_worker_pool
