// What a trajectory store keeps when a step cannot be stored for want of
// memory: the step is taken back whole (the count, the numbering and any
// part of its record), so the episode goes on and the file still opens.
// Here, not in trajectory_store_test.cpp: the failure is made by this
// executable's allocator (alloc_counter.cpp).
#include "../alloc_counter.hpp"

#include <rlscale/lifecycle/trajectory_store.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

namespace test_lifecycle_trajectory_store_alloc {

using rlscale::file_trajectory_store;
using rlscale::file_trajectory_store_options;
using rlscale::memory_trajectory_store;
using rlscale::trajectory_step;

namespace {

trajectory_step small_step(float v) {
    trajectory_step s;
    s.reward = v;
    s.state = {v, -v};
    s.action = {v};
    return s;
}

/// Turns the allocation limit off however the test leaves its scope.
struct limit_off {
    ~limit_off() { rlscale::test::fail_allocations_over(0); }
};

}  // namespace

TEST_CASE("file trajectory store: a step whose record cannot grow the write buffer is taken back whole, and the file opens") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "trajectory_store";
    std::filesystem::create_directories(dir);
    const auto path = dir / "alloc_failure.rlt";
    std::filesystem::remove(path);
    {
        file_trajectory_store_options o;
        o.write_buffer_bytes = std::size_t{1} << 22;  // nothing written before the episode ends
        file_trajectory_store store(path, o);
        (void)store.begin_episode();
        store.append(small_step(1));
        (void)store.end_episode();

        (void)store.begin_episode();
        store.append(small_step(2));
        // 240,000 bytes of state: the store's copy of the step may allocate
        // them, but the buffer cannot grow to hold its record, which fails
        // part-way through encoding it.
        trajectory_step big = small_step(3);
        big.state.assign(60'000, 0.5F);
        {
            const limit_off off;
            rlscale::test::fail_allocations_over(big.state.size() * sizeof(float) + 64);
            CHECK_THROWS_AS(store.append(big), std::bad_alloc);
        }
        store.append(small_step(4));
        const auto summary = store.end_episode();
        CHECK(summary.steps == 2);
    }
    file_trajectory_store again(path);
    REQUIRE(again.episode_count() == 2);
    std::vector<trajectory_step> out;
    again.read_episode(1, out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].reward == 2);
    CHECK(out[1].reward == 4);
    CHECK(out[1].step == 1);
    std::filesystem::remove(path);
}

TEST_CASE("memory trajectory store: a step it cannot keep for want of memory is not counted") {
    memory_trajectory_store store(4);
    (void)store.begin_episode();
    long kept = 0;
    bool refused = false;
    {
        const limit_off off;
        rlscale::test::fail_allocations_over(16 * 1024);
        // Tiny steps until the list of steps has to grow past 16 KB.
        for (int i = 0; i < 100'000 && !refused; ++i) {
            try {
                store.append(small_step(static_cast<float>(i)));
                ++kept;
            } catch (const std::bad_alloc&) {
                refused = true;
            }
        }
    }
    REQUIRE(refused);
    store.append(small_step(-1));
    const auto summary = store.end_episode();
    CHECK(summary.steps == static_cast<std::uint64_t>(kept + 1));
    std::vector<trajectory_step> out;
    store.read_episode(0, out);
    REQUIRE(out.size() == summary.steps);
    CHECK(out.back().step == summary.steps - 1);
    CHECK(out.back().reward == -1);
}

}  // namespace test_lifecycle_trajectory_store_alloc
