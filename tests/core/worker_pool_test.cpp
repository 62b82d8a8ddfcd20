#include <rlscale/core/detail/worker_pool.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace test_core_worker_pool {

using rlscale::detail::worker_pool;

TEST_CASE("worker_pool runs every index once, on the workers and the caller, for any number of workers") {
    for (const std::size_t workers : {0, 1, 3}) {
        worker_pool pool(workers);
        CHECK(pool.workers() == workers);
        for (const std::size_t n : {0, 1, 2, 17, 100}) {
            std::vector<std::atomic<int>> hits(n);
            auto task = [&](std::size_t i) { hits[i].fetch_add(1); };
            pool.for_each(n, task);
            for (std::size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 1);
        }
    }
}

TEST_CASE("worker_pool rethrows a task's exception on the caller's thread after every task finished, and stays usable") {
    worker_pool pool(2);
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

}  // namespace test_core_worker_pool
