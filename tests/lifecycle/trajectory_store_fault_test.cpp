// What a file trajectory store under sync_policy::fsync does when a sync
// fails: it never reports an episode durable after a failed sync. Here, not
// in trajectory_store_test.cpp: the failure is made by this executable's
// fsync (syscall_faults.cpp).
#include "../syscall_faults.hpp"

#include <rlscale/lifecycle/trajectory_store.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include "../temp_path.hpp"

namespace test_lifecycle_trajectory_store_fault {

using rlscale::file_trajectory_store;
using rlscale::file_trajectory_store_options;
using rlscale::sync_policy;
using rlscale::trajectory_step;
using rlscale::test::fail_fsync;
using rlscale::test::fsync_target;

namespace {

using rlscale::test::fresh_path;

/// Turns the fsync failures off however the test leaves its scope.
struct faults_off {
    ~faults_off() { fail_fsync(fsync_target::none); }
};

/// Writes one episode of two steps whose rewards are `v`; returns its index.
std::uint64_t write_episode(file_trajectory_store& store, float v) {
    const std::uint64_t i = store.begin_episode();
    trajectory_step s;
    s.reward = v;
    s.state = {v, -v};
    s.action = {v};
    store.append(s);
    store.append(s);
    (void)store.end_episode();
    return i;
}

float first_reward(const file_trajectory_store& store, std::uint64_t episode) {
    std::vector<trajectory_step> steps;
    store.read_episode(episode, steps);
    REQUIRE(steps.size() == 2);
    return steps[0].reward;
}

}  // namespace

TEST_CASE("file trajectory store under fsync: a directory that cannot be synced refuses to open it, a new file or one written under flush") {
    const faults_off off;
    const auto path = fresh_path("trajectory_store_fault", "directory_at_open.rlt");
    const file_trajectory_store_options fsync_opts{.sync = sync_policy::fsync};
    const int failed_before = rlscale::test::failed_fsyncs();
    fail_fsync(fsync_target::directories, 1);
    CHECK_THROWS_WITH_AS(file_trajectory_store(path, fsync_opts), doctest::Contains("cannot sync its directory"), rlscale::error);
    CHECK(rlscale::test::failed_fsyncs() == failed_before + 1);
    {  // Under flush the directory is not synced: it opens, and writes.
        fail_fsync(fsync_target::directories);
        file_trajectory_store store(path, {});
        CHECK(write_episode(store, 1) == 0);
    }
    // The file written under flush, opened under fsync: its name is made
    // durable first, or it is not opened.
    CHECK_THROWS_WITH_AS(file_trajectory_store(path, fsync_opts), doctest::Contains("cannot sync its directory"), rlscale::error);
    // A filesystem that cannot sync a directory at all (EINVAL, EBADF)
    // counts as synced: the store opens.
    for (const int unsupported : {EINVAL, EBADF}) {
        fail_fsync(fsync_target::directories, -1, unsupported);
        file_trajectory_store store(path, fsync_opts);
        CHECK(store.episode_count() == 1);
    }
    fail_fsync(fsync_target::none);
    file_trajectory_store store(path, fsync_opts);
    CHECK(store.episode_count() == 1);
    CHECK(first_reward(store, 0) == 1);
}

TEST_CASE("file trajectory store under fsync: a failed fsync after an episode's end throws, keeps the episode, and stops writes until compact() rewrites the file") {
    const faults_off off;
    // The default bound, and none (the store then keeps no episode offsets).
    for (const std::size_t keep : {std::size_t{10'000}, std::size_t{0}}) {
        CAPTURE(keep);
        const auto path = fresh_path("trajectory_store_fault", "file_fsync.rlt");
        const file_trajectory_store_options opts{.sync = sync_policy::fsync, .max_file_episodes = keep};
        {
            file_trajectory_store store(path, opts);
            CHECK(write_episode(store, 1) == 0);
            const int failed_before = rlscale::test::failed_fsyncs();
            fail_fsync(fsync_target::files, 1);
            CHECK_THROWS_WITH_AS(write_episode(store, 2), doctest::Contains("its durability is unknown"), rlscale::error);
            CHECK(rlscale::test::failed_fsyncs() == failed_before + 1);
            CHECK(store.episode_count() == 2);  // written and counted, as the file holds it
            CHECK(first_reward(store, 1) == 2);
            // Once the sync has failed, no write, though fsync works again: it
            // could succeed without the pages the failed one dropped.
            CHECK_THROWS_WITH_AS((void)store.begin_episode(), doctest::Contains("takes no more writes: fsync of the file failed after episode 1"),
                                 rlscale::error);
            CHECK(first_reward(store, 0) == 1);  // reads go on
            // compact() rewrites the whole file (2 episodes, within
            // max_file_episodes) into one written and synced afresh; a
            // rewrite whose own fsync fails leaves the store stopped.
            fail_fsync(fsync_target::files, 1);
            CHECK_THROWS_WITH_AS(store.compact(), doctest::Contains("rewriting it with episodes 0 to 1 after a failed sync: fsync failed"),
                                 rlscale::error);
            CHECK(rlscale::test::failed_fsyncs() == failed_before + 2);
            CHECK_THROWS_WITH_AS((void)store.begin_episode(), doctest::Contains("compact() rewrites the file"), rlscale::error);
            CHECK(store.rewrites() == 0);
            store.compact();
            CHECK(store.rewrites() == 1);
            CHECK(write_episode(store, 3) == 2);
            CHECK(first_reward(store, 1) == 2);
        }
        file_trajectory_store store(path, opts);
        CHECK(store.episode_count() == 3);
        CHECK(store.recovery().truncated_bytes == 0);
        CHECK(first_reward(store, 0) == 1);
        CHECK(first_reward(store, 2) == 3);
    }
}

TEST_CASE("file trajectory store under fsync: after a failed fsync, compact() refuses to copy records the file no longer holds") {
    // What the failed sync did not write may have left the page cache and
    // read back as the disk has it: here, bytes of episode 0 overwritten
    // behind the store's back.
    const faults_off off;
    const auto path = fresh_path("trajectory_store_fault", "lost_pages.rlt");
    const file_trajectory_store_options opts{.sync = sync_policy::fsync};
    file_trajectory_store store(path, opts);
    CHECK(write_episode(store, 1) == 0);
    fail_fsync(fsync_target::files, 1);
    CHECK_THROWS(write_episode(store, 2));
    {
        std::fstream raw(path, std::ios::in | std::ios::out | std::ios::binary);
        raw.seekp(40);
        raw.write("\0\0\0\0\0\0\0\0", 8);
    }
    CHECK_THROWS_WITH_AS(store.compact(), doctest::Contains("rewriting it with episodes 0 to 1 after a failed sync: "), rlscale::error);
    CHECK(store.rewrites() == 0);
    CHECK_THROWS_WITH_AS((void)store.begin_episode(), doctest::Contains("takes no more writes"), rlscale::error);
    // The temporary file is gone.
    std::size_t beside = 0;
    for (const auto& e : std::filesystem::directory_iterator(path.parent_path())) {
        if (e.path().filename().string().starts_with("lost_pages.rlt.rewrite.")) ++beside;
    }
    CHECK(beside == 0);
}

TEST_CASE("file trajectory store under fsync: a directory that cannot be synced after a rewrite stops writes, every episode kept") {
    const faults_off off;
    for (const sync_policy sync : {sync_policy::fsync, sync_policy::flush}) {
        CAPTURE(static_cast<int>(sync));
        const auto path = fresh_path("trajectory_store_fault", "directory_after_rewrite.rlt");
        const file_trajectory_store_options opts{.sync = sync, .max_file_episodes = 2};
        {
            file_trajectory_store store(path, opts);
            for (int i = 0; i < 3; ++i) (void)write_episode(store, static_cast<float>(i));
            // The fourth episode's end rewrites the file with the newest two;
            // the new file's name then cannot be made durable.
            fail_fsync(fsync_target::directories);
            CHECK(write_episode(store, 3) == 3);
            CHECK(store.rewrites() == 1);
            CHECK(store.rewrite_failures() == 0);
            CHECK(first_reward(store, 3) == 3);
            if (sync == sync_policy::fsync) {
                // An episode written to the new file could be lost with it.
                CHECK_THROWS_WITH_AS((void)store.begin_episode(),
                                     doctest::Contains("syncing the directory after rewriting the file failed after episode 3"),
                                     rlscale::error);
                // Until a rewrite's directory sync succeeds.
                CHECK_THROWS_WITH_AS(store.compact(), doctest::Contains("syncing the directory after rewriting the file failed"), rlscale::error);
                CHECK(store.rewrites() == 2);
                CHECK_THROWS((void)store.begin_episode());
                fail_fsync(fsync_target::none);
                store.compact();
                CHECK(store.rewrites() == 3);
            }
            fail_fsync(fsync_target::none);
            CHECK(write_episode(store, 4) == 4);  // (under flush, which promises nothing across a power loss, at once)
        }
        file_trajectory_store store(path, opts);
        CHECK(store.episode_count() == 5);
        CHECK(first_reward(store, 3) == 3);
        CHECK(first_reward(store, 2) == 2);
    }
}

}  // namespace test_lifecycle_trajectory_store_fault
