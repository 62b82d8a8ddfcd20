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
#include "../temp_path.hpp"

namespace test_lifecycle_trajectory_store_alloc {

using rlscale::file_trajectory_store;
using rlscale::file_trajectory_store_options;
using rlscale::memory_trajectory_store;
using rlscale::trajectory_step;

namespace {

using rlscale::test::fresh_path;

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

/// Calls `call` with every allocation over `bytes` failing; whether it
/// threw std::bad_alloc.
template <typename Call>
bool runs_out_of_memory(std::size_t bytes, const Call& call) {
    const limit_off off;
    rlscale::test::fail_allocations_over(bytes);
    try {
        call();
    } catch (const std::bad_alloc&) {
        return true;
    }
    return false;
}

}  // namespace

TEST_CASE("file trajectory store: a step whose record cannot grow the write buffer is taken back whole, and the file opens") {
    const auto path = fresh_path("trajectory_store", "alloc_failure.rlt");
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

TEST_CASE("file trajectory store: a begin record that cannot grow the write buffer is taken back whole, and the file opens") {
    const auto path = fresh_path("trajectory_store", "alloc_failure_begin.rlt");
    {
        file_trajectory_store store(path);
        // A new store's write buffer has held only the 16-byte file header:
        // the 24-byte begin record outgrows it part-way through.
        {
            const limit_off off;
            rlscale::test::fail_allocations_over(1);
            CHECK_THROWS_AS((void)store.begin_episode(), std::bad_alloc);
        }
        CHECK_FALSE(store.episode_open());
        REQUIRE(store.begin_episode() == 0);
        store.append(small_step(1));
        CHECK(store.end_episode().steps == 1);
    }
    file_trajectory_store again(path);
    REQUIRE(again.episode_count() == 1);
    std::vector<trajectory_step> out;
    again.read_episode(0, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].reward == 1);
    std::filesystem::remove(path);
}

TEST_CASE("file trajectory store: an episode whose end cannot be recorded for want of memory stays open, and ending it again leaves a file that opens") {
    const auto path = fresh_path("trajectory_store", "alloc_failure_end.rlt");
    int refused = 0;
    {
        file_trajectory_store store(path);
        // Episode k has k steps, so the write buffer is filled to a
        // different point each time: some end records outgrow it part-way
        // through. No allocation may succeed while an episode ends.
        for (std::uint64_t k = 0; k < 24; ++k) {
            CAPTURE(k);
            REQUIRE(store.begin_episode() == k);
            for (std::uint64_t i = 0; i < k; ++i) store.append(small_step(static_cast<float>(i)));
            if (runs_out_of_memory(1, [&] { (void)store.end_episode(); })) {
                ++refused;
                CHECK(store.episode_open());
                CHECK(store.episode_count() == k);
                CHECK(store.end_episode().steps == k);
            }
            CHECK(store.committed_size() == std::filesystem::file_size(path));
        }
    }
    REQUIRE(refused > 0);
    file_trajectory_store again(path);
    REQUIRE(again.episode_count() == 24);
    std::vector<trajectory_step> out;
    for (std::uint64_t k = 0; k < 24; ++k) {
        again.read_episode(k, out);
        CHECK(out.size() == k);
    }
    std::filesystem::remove(path);
}

TEST_CASE("file trajectory store: an episode the index has no room for is not committed, and a rewrite after it cuts where an episode begins") {
    const auto path = fresh_path("trajectory_store", "alloc_failure_index.rlt");
    file_trajectory_store_options o;
    o.max_file_episodes = 60;  // rewritten once it holds 91, down to 60
    int refused = 0;
    {
        file_trajectory_store store(path, o);
        // A first episode with a large step: the write buffer keeps room
        // for any later end record, so what fails below is the index's
        // growth (a new block of a few hundred bytes every few episodes).
        (void)store.begin_episode();
        trajectory_step big = small_step(0);
        big.state.assign(1000, 0.25F);
        store.append(big);
        (void)store.end_episode();
        for (std::uint64_t e = 1; e < 80; ++e) {
            CAPTURE(e);
            REQUIRE(store.begin_episode() == e);
            store.append(small_step(static_cast<float>(e)));
            if (runs_out_of_memory(128, [&] { (void)store.end_episode(); })) {
                ++refused;
                CHECK(store.episode_open());
                CHECK(store.episode_count() == e);
                (void)store.end_episode();
            }
            CHECK(store.summaries().size() == e + 1);
            CHECK(store.episodes_in_file() == e + 1);
        }
        REQUIRE(refused > 0);
        // Past 90 episodes the file is rewritten from where episode 31 begins.
        for (std::uint64_t e = 80; e < 91; ++e) {
            REQUIRE(store.begin_episode() == e);
            store.append(small_step(static_cast<float>(e)));
            (void)store.end_episode();
        }
        CHECK(store.rewrites() == 1);
        CHECK(store.first_episode_in_file() == 31);
    }
    file_trajectory_store again(path, o);
    CHECK(again.recovery().truncated_bytes == 0);
    REQUIRE(again.episode_count() == 91);
    CHECK(again.first_episode_in_file() == 31);
    std::vector<trajectory_step> out;
    for (std::uint64_t e = 31; e < 91; ++e) {
        again.read_episode(e, out);
        REQUIRE(out.size() == 1);
        CHECK(out[0].reward == static_cast<float>(e));
    }
    std::filesystem::remove(path);
}

TEST_CASE("memory trajectory store: an episode it has no room to keep for want of memory stays open with its steps") {
    memory_trajectory_store store(100);
    int refused = 0;
    // The list of episodes grows by a block of a few hundred bytes every
    // few episodes; those ends fail.
    for (std::uint64_t e = 0; e < 40; ++e) {
        CAPTURE(e);
        REQUIRE(store.begin_episode() == e);
        for (int i = 0; i < 3; ++i) store.append(small_step(static_cast<float>(i)));
        if (runs_out_of_memory(128, [&] { (void)store.end_episode(); })) {
            ++refused;
            CHECK(store.episode_open());
            CHECK(store.episode_count() == e);
            CHECK(store.end_episode().steps == 3);
        }
        std::vector<trajectory_step> out;
        store.read_episode(e, out);
        CHECK(out.size() == 3);
    }
    REQUIRE(refused > 0);
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

namespace test_lifecycle_trajectory_store_alloc {

TEST_CASE("file trajectory store: appending a step allocates nothing once the write buffer has room (the step is encoded from the caller's)") {
    const auto path = fresh_path("trajectory_store", "append_no_alloc.rlt");
    file_trajectory_store store(path);
    // The first episode grows the write buffer; ending it writes the
    // records and keeps the buffer's room.
    (void)store.begin_episode();
    for (int i = 0; i < 200; ++i) store.append(small_step(static_cast<float>(i)));
    (void)store.end_episode();
    (void)store.begin_episode();
    const trajectory_step step = small_step(7);
    const long before = rlscale::test::allocation_count();
    for (int i = 0; i < 200; ++i) store.append(step);
    CHECK(rlscale::test::allocation_count() - before == 0);
    CHECK(store.end_episode().steps == 200);
    std::vector<trajectory_step> out;
    store.read_episode(1, out);
    REQUIRE(out.size() == 200);
    CHECK(out[199].step == 199);
    CHECK(out[199].episode == 1);
    CHECK(out[199].reward == 7);
    std::filesystem::remove(path);
}

}  // namespace test_lifecycle_trajectory_store_alloc
