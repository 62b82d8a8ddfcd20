#include <rlscale/core/random.hpp>
#include <rlscale/lifecycle/detail/crc32.hpp>
#include <rlscale/lifecycle/trajectory_store.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../temp_path.hpp"

namespace test_lifecycle_trajectory_store {

using rlscale::actor_role;
using rlscale::episode_summary;
using rlscale::file_trajectory_store;
using rlscale::file_trajectory_store_options;
using rlscale::memory_trajectory_store;
using rlscale::stage;
using rlscale::trajectory_step;
using rlscale::trajectory_store;

namespace {

using rlscale::test::fresh_path;

/// Steps in episode `e`: a function of `e` alone, so a reader can rebuild
/// what a writer wrote.
std::uint64_t steps_in(std::uint64_t e) { return (e * 7 + 3) % 13; }  // 0..12, some episodes empty

/// Step `i` of episode `e`, as the store returns it (stamped).
trajectory_step make_step(std::uint64_t e, std::uint64_t i) {
    rlscale::rng gen(e * 1000003 + i);
    trajectory_step s;
    s.episode = e;
    s.step = i;
    s.stage = static_cast<stage>(1 + (e + i / 5) % 3);
    s.actor = (e + i) % 2 == 0 ? actor_role::agent : actor_role::fallback;
    s.reward = rlscale::uniform(gen, -1, 1);
    s.state.resize(static_cast<std::size_t>((e + i) % 6));
    for (float& x : s.state) x = static_cast<float>(rlscale::uniform(gen, -100, 100));
    s.action.resize(1 + static_cast<std::size_t>(i % 2));
    for (float& x : s.action) x = static_cast<float>(rlscale::uniform(gen, -1, 1));
    return s;
}

episode_summary expected_summary(std::uint64_t e) {
    episode_summary s;
    s.index = e;
    for (std::uint64_t i = 0; i < steps_in(e); ++i) {
        const auto st = make_step(e, i);
        if (i == 0) s.first_stage = st.stage;
        s.last_stage = st.stage;
        s.episode_return += st.reward;
        ++s.steps;
    }
    return s;
}

/// Writes episode `e` (the store must be about to number it `e`).
void write_episode(trajectory_store& store, std::uint64_t e) {
    REQUIRE(store.begin_episode() == e);
    for (std::uint64_t i = 0; i < steps_in(e); ++i) {
        auto s = make_step(e, i);
        s.episode = 999;  // the store numbers steps itself
        s.step = 999;
        store.append(s);
    }
    const auto summary = store.end_episode();
    CHECK(summary == expected_summary(e));
}

/// Whether episode `e` reads back exactly as written.
bool intact(const trajectory_store& store, std::uint64_t e) {
    std::vector<trajectory_step> out;
    store.read_episode(e, out);
    if (out.size() != steps_in(e)) return false;
    for (std::uint64_t i = 0; i < out.size(); ++i) {
        if (!(out[i] == make_step(e, i))) return false;
    }
    return true;
}

std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& p, const std::vector<unsigned char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// Writes episodes 0..n-1 to a new file and returns the file offset at which
/// each episode's records start, plus the final size.
std::vector<std::uint64_t> make_file(const std::filesystem::path& p, std::uint64_t n) {
    std::vector<std::uint64_t> starts;
    file_trajectory_store store(p);
    for (std::uint64_t e = 0; e < n; ++e) {
        starts.push_back(store.committed_size());
        write_episode(store, e);
    }
    starts.push_back(store.committed_size());
    return starts;
}

}  // namespace

TEST_CASE("CRC-32 matches the IEEE check values") {
    using rlscale::detail::crc32;
    static_assert(crc32("123456789") == 0xCBF43926U);
    CHECK(crc32("") == 0x00000000U);
    CHECK(crc32("123456789") == 0xCBF43926U);
    CHECK(crc32("a") == 0xE8B7BE43U);
    CHECK(crc32("abc") == 0x352441C2U);
    CHECK(crc32("The quick brown fox jumps over the lazy dog") == 0x414FA339U);
    const std::string s = "The quick brown fox jumps over the lazy dog";
    const auto* b = reinterpret_cast<const unsigned char*>(s.data());
    CHECK(rlscale::detail::crc32(b, s.size()) == 0x414FA339U);
    // incremental: the CRC of a then b
    CHECK(rlscale::detail::crc32_update(rlscale::detail::crc32_update(0, b, 10), b + 10, s.size() - 10) == 0x414FA339U);
}

TEST_CASE("episodes round-trip through both stores") {
    const auto path = fresh_path("trajectory_store", "round_trip.trj");
    std::unique_ptr<trajectory_store> store;
    SUBCASE("memory") { store = std::make_unique<memory_trajectory_store>(100); }
    SUBCASE("file") { store = std::make_unique<file_trajectory_store>(path); }
    REQUIRE(store);
    CHECK(store->episode_count() == 0);
    CHECK(store->summaries().empty());
    for (std::uint64_t e = 0; e < 20; ++e) write_episode(*store, e);
    CHECK(store->episode_count() == 20);
    const auto sums = store->summaries();
    REQUIRE(sums.size() == 20);
    for (std::uint64_t e = 0; e < 20; ++e) {
        CHECK(sums[e] == expected_summary(e));
        CHECK(intact(*store, e));
    }
    CHECK(steps_in(1) == 10);
    CHECK(steps_in(4) == 5);
    CHECK(steps_in(7) == 0);  // an empty episode is kept too
    CHECK(sums[7].first_stage == stage::initialized);
}

TEST_CASE("stores refuse misuse") {
    const auto path = fresh_path("trajectory_store", "misuse.trj");
    std::unique_ptr<trajectory_store> store;
    SUBCASE("memory") { store = std::make_unique<memory_trajectory_store>(10); }
    SUBCASE("file") { store = std::make_unique<file_trajectory_store>(path); }
    REQUIRE(store);
    CHECK_THROWS_AS(store->append(make_step(0, 0)), rlscale::error);
    CHECK_THROWS_AS(store->end_episode(), rlscale::error);
    store->begin_episode();
    CHECK(store->episode_open());
    CHECK_THROWS_AS(store->begin_episode(), rlscale::error);
    auto bad = make_step(0, 0);
    bad.reward = std::nan("");
    CHECK_THROWS_AS(store->append(bad), rlscale::error);
    // A stage or actor outside its enumeration is refused, not written (a
    // file holding one would not open again).
    bad = make_step(0, 0);
    bad.stage = static_cast<rlscale::stage>(7);
    CHECK_THROWS_WITH_AS(store->append(bad), doctest::Contains("stage must be"), rlscale::error);
    bad = make_step(0, 0);
    bad.actor = static_cast<rlscale::actor_role>(2);
    CHECK_THROWS_WITH_AS(store->append(bad), doctest::Contains("actor must be"), rlscale::error);
    store->append(make_step(0, 0));
    store->end_episode();
    CHECK_FALSE(store->episode_open());
    std::vector<trajectory_step> out;
    CHECK_THROWS_AS(store->read_episode(1, out), rlscale::error);
    store->read_episode(0, out);
    CHECK(out.size() == 1);
    CHECK_THROWS_AS(memory_trajectory_store(0), rlscale::config_error);
    if (dynamic_cast<file_trajectory_store*>(store.get()) != nullptr) {
        store.reset();  // closed: the refused steps left nothing behind, and it opens again
        file_trajectory_store again(path);
        CHECK(again.episode_count() == 1);
    }
}

TEST_CASE("a reward that would make the episode's return non-finite is refused and changes nothing") {
    const auto path = fresh_path("trajectory_store", "return_overflow.trj");
    std::unique_ptr<trajectory_store> store;
    SUBCASE("memory") { store = std::make_unique<memory_trajectory_store>(10); }
    SUBCASE("file") { store = std::make_unique<file_trajectory_store>(path); }
    REQUIRE(store);
    store->begin_episode();
    trajectory_step step;
    step.reward = 1e308;
    store->append(step);
    // Each reward is finite; their sum is not.
    CHECK_THROWS_WITH_AS(store->append(step), doctest::Contains("step 1 of episode 0: reward 1e+308 would take episode_return from 1e+308 to inf"),
                         rlscale::error);
    step.reward = -1e308;
    store->append(step);  // numbered 1: the refused step took nothing
    const auto summary = store->end_episode();
    CHECK(summary.steps == 2);
    CHECK(summary.episode_return == 0);
    std::vector<trajectory_step> out;
    store->read_episode(0, out);
    REQUIRE(out.size() == 2);
    CHECK(out[1].step == 1);
    CHECK(out[1].reward == -1e308);
    if (dynamic_cast<file_trajectory_store*>(store.get()) != nullptr) {
        store.reset();
        file_trajectory_store again(path);
        CHECK(again.episode_count() == 1);
        CHECK(again.summaries().at(0) == summary);
    }
}

TEST_CASE("a step over the record limit is refused, naming its state and action sizes and the limit") {
    const auto path = fresh_path("trajectory_store", "record_limit.trj");
    file_trajectory_store store(path);
    store.begin_episode();
    trajectory_step step;
    step.state.resize(9'000'000);
    step.action.resize(8'000'000);  // 17,000,000 floats: the limit is (64 MiB - 36) / 4 = 16,777,207
    CHECK_THROWS_WITH_AS(store.append(step),
                         doctest::Contains("a step's state (9000000 floats) and action (8000000 floats) are over the record limit "
                                           "of 16777207 floats together"),
                         rlscale::error);
    step.state.resize(2);
    step.action.resize(1);
    store.append(step);
    CHECK(store.end_episode().steps == 1);
}

TEST_CASE("the memory store keeps the newest max_episodes") {
    memory_trajectory_store store(5);
    for (std::uint64_t e = 0; e < 12; ++e) write_episode(store, e);
    CHECK(store.episode_count() == 12);
    const auto sums = store.summaries();
    REQUIRE(sums.size() == 5);
    CHECK(sums.front().index == 7);
    CHECK(sums.back().index == 11);
    std::vector<trajectory_step> out;
    CHECK_THROWS_AS(store.read_episode(6, out), rlscale::error);
    CHECK(intact(store, 7));
    CHECK(intact(store, 11));
}

TEST_CASE("top_episodes returns the best returns first, ties to the older") {
    memory_trajectory_store store(100);
    const std::vector<double> returns = {3, 9, 1, 9, 5, -2, 7};
    for (const double r : returns) {
        store.begin_episode();
        trajectory_step s;
        s.reward = r;
        store.append(s);
        store.end_episode();
    }
    const auto top = store.top_episodes(4);
    REQUIRE(top.size() == 4);
    CHECK(top[0].index == 1);
    CHECK(top[1].index == 3);
    CHECK(top[2].index == 6);
    CHECK(top[3].index == 4);
    CHECK(store.top_episodes(100).size() == returns.size());
    CHECK(store.top_episodes(0).empty());
}

TEST_CASE("a file store reopens with every episode and continues the numbering") {
    const auto path = fresh_path("trajectory_store", "reopen.trj");
    make_file(path, 15);
    {
        file_trajectory_store store(path);
        CHECK(store.recovery().episodes == 15);
        CHECK(store.recovery().truncated_bytes == 0);
        CHECK(store.episode_count() == 15);
        for (std::uint64_t e = 0; e < 15; ++e) CHECK(intact(store, e));
        for (std::uint64_t e = 15; e < 20; ++e) write_episode(store, e);
    }
    file_trajectory_store store(path);
    CHECK(store.episode_count() == 20);
    const auto sums = store.summaries();
    REQUIRE(sums.size() == 20);
    for (std::uint64_t e = 0; e < 20; ++e) {
        CHECK(sums[e] == expected_summary(e));
        CHECK(intact(store, e));
    }
    CHECK(std::filesystem::file_size(path) == store.committed_size());
}

TEST_CASE("a file store's index is bounded and the file keeps everything") {
    const auto path = fresh_path("trajectory_store", "bounded.trj");
    file_trajectory_store_options o;
    o.max_indexed_episodes = 4;
    {
        file_trajectory_store store(path, o);
        for (std::uint64_t e = 0; e < 10; ++e) write_episode(store, e);
        const auto sums = store.summaries();
        REQUIRE(sums.size() == 4);
        CHECK(sums.front().index == 6);
        std::vector<trajectory_step> out;
        CHECK_THROWS_AS(store.read_episode(5, out), rlscale::error);
    }
    {
        file_trajectory_store store(path, o);
        CHECK(store.episode_count() == 10);
        REQUIRE(store.summaries().size() == 4);
        CHECK(store.summaries().front().index == 6);
        CHECK(intact(store, 9));
    }
    file_trajectory_store all(path);
    CHECK(all.summaries().size() == 10);
    CHECK(intact(all, 0));
    CHECK(all.top_episodes(20).size() == 10);
}

TEST_CASE("a file store holds at most max_file_episodes and half again: rewritten with the newest, numbers kept, reopened") {
    const auto path = fresh_path("trajectory_store", "rewritten.trj");
    file_trajectory_store_options o;
    o.max_file_episodes = 4;  // rewritten once it holds 7, down to 4
    o.max_indexed_episodes = 5;  // more than the bound: the index follows the file
    std::uint64_t largest = 0;
    {
        file_trajectory_store store(path, o);
        std::uint64_t before = store.committed_size();
        for (std::uint64_t e = 0; e < 30; ++e) {
            const std::uint64_t rewrites = store.rewrites();
            write_episode(store, e);
            // An episode's bytes, where the file grew by them alone.
            if (store.rewrites() == rewrites) largest = std::max(largest, store.committed_size() - before);
            CHECK(store.episodes_in_file() <= 6);
            CHECK(store.first_episode_in_file() + store.episodes_in_file() == e + 1);
            before = store.committed_size();
        }
        CHECK(largest > 0);
        CHECK(largest < 2000);
        CHECK(store.rewrites() == 8);  // at 7, 10, 13, ..., 28 episodes
        CHECK(store.rewrite_failures() == 0);
        CHECK(store.episode_count() == 30);
        CHECK(store.episodes_in_file() == 6);
        CHECK(store.first_episode_in_file() == 24);
        const auto sums = store.summaries();
        REQUIRE(sums.size() == 5);
        for (std::size_t i = 0; i < sums.size(); ++i) CHECK(sums[i] == expected_summary(25 + i));
        for (std::uint64_t e = 25; e < 30; ++e) CHECK(intact(store, e));
        std::vector<trajectory_step> out;
        CHECK_THROWS_AS(store.read_episode(23, out), rlscale::error);
        CHECK(std::filesystem::file_size(path) == store.committed_size());
        CHECK(store.committed_size() <= 16 + 6 * largest);
    }
    {
        file_trajectory_store store(path, o);
        CHECK(store.recovery().episodes == 6);
        CHECK(store.recovery().truncated_bytes == 0);
        CHECK(store.episode_count() == 30);
        CHECK(store.first_episode_in_file() == 24);
        for (std::uint64_t e = 25; e < 30; ++e) CHECK(intact(store, e));
        for (std::uint64_t e = 30; e < 33; ++e) write_episode(store, e);  // rewritten at 7 (24 to 30) down to 4, then 2 more
        CHECK(store.rewrites() == 1);
        CHECK(store.episodes_in_file() == 6);
        CHECK(store.first_episode_in_file() == 27);
    }
    // Opened with room for all: the file holds episodes 27 to 32, numbered as written.
    file_trajectory_store_options all;
    all.max_file_episodes = 0;
    file_trajectory_store store(path, all);
    CHECK(store.episode_count() == 33);
    REQUIRE(store.summaries().size() == 6);
    for (std::uint64_t e = 27; e < 33; ++e) CHECK(intact(store, e));
    for (std::uint64_t e = 33; e < 50; ++e) write_episode(store, e);
    CHECK(store.rewrites() == 0);  // 0: never rewritten
    CHECK(store.episodes_in_file() == 23);
}

TEST_CASE("compact(): rewrites down to the bound when called, nothing to do within it, refused with an episode open") {
    const auto path = fresh_path("trajectory_store", "compact_calls.trj");
    file_trajectory_store_options o;
    o.max_file_episodes = 10;
    file_trajectory_store store(path, o);
    for (std::uint64_t e = 0; e < 12; ++e) write_episode(store, e);
    const std::uint64_t size = store.committed_size();
    store.compact();  // 12 ≤ 10 + 5: end_episode left it; called, it rewrites down to 10
    CHECK(store.rewrites() == 1);
    CHECK(store.episodes_in_file() == 10);
    CHECK(store.committed_size() < size);
    store.compact();  // within the bound: nothing to do
    CHECK(store.rewrites() == 1);
    CHECK(store.first_episode_in_file() == 2);
    for (std::uint64_t e = 2; e < 12; ++e) CHECK(intact(store, e));
    store.begin_episode();
    CHECK_THROWS_WITH_AS(store.compact(), doctest::Contains("compact() while episode 12 is open"), rlscale::error);
    CHECK(store.episode_open());
    store.end_episode();
    CHECK(store.episode_count() == 13);
}

TEST_CASE("a rewrite keeps the file's permissions, replaces the file a symbolic link names (not the link), and a second store still cannot open it") {
    const auto path = fresh_path("trajectory_store", "kept_mode.trj");
    const auto link = fresh_path("trajectory_store", "kept_mode_link.trj");
    make_file(path, 3);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::create_symlink(path.filename(), link);
    file_trajectory_store_options o;
    o.max_file_episodes = 2;
    {
        file_trajectory_store store(link, o);
        for (std::uint64_t e = 3; e < 6; ++e) write_episode(store, e);
        CHECK(store.rewrites() >= 1);
        CHECK(std::filesystem::is_symlink(link));
        CHECK(std::filesystem::status(path).permissions() ==
              (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
        CHECK(std::filesystem::file_size(path) == store.committed_size());
        // The path now names the rewritten file, which the store holds locked.
        CHECK_THROWS_WITH_AS(file_trajectory_store(path, o), doctest::Contains("is open in another trajectory store"), rlscale::error);
    }
    file_trajectory_store store(path, o);
    CHECK(store.episode_count() == 6);
    CHECK(store.first_episode_in_file() >= 3);
    for (std::uint64_t e = store.first_episode_in_file(); e < 6; ++e) CHECK(intact(store, e));
    std::filesystem::remove(link);
}

TEST_CASE("opening a file removes a rewrite's temporary file that a crash left beside it, and nothing else") {
    const auto path = fresh_path("trajectory_store", "stale.trj");
    make_file(path, 3);
    const auto stale = std::filesystem::path(path.string() + ".rewrite.Ab12Cd");
    const auto zeroed = std::filesystem::path(path.string() + ".rewrite.Ef34Gh");  // its first page never written
    const auto empty = std::filesystem::path(path.string() + ".rewrite.Qr90St");   // a crash before the header was written, an hour ago
    const auto other = std::filesystem::path(path.string() + ".rewrite.notours");
    const auto foreign = std::filesystem::path(path.string() + ".rewrite.Ij56Kl");  // the pattern, not a store's content
    const auto live = std::filesystem::path(path.string() + ".rewrite.Mn78Op");     // the pattern, another open store's file
    write_bytes(stale, {'R', 'L', 'S', 'C', 'T'});  // a rewrite's header, cut short
    write_bytes(zeroed, std::vector<unsigned char>(100, 0));
    write_bytes(empty, {});
    std::filesystem::last_write_time(empty, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    const auto fresh = std::filesystem::path(path.string() + ".rewrite.Uv12Wx");  // as a store's file is while it is created
    write_bytes(fresh, {});
    std::filesystem::last_write_time(fresh, std::filesystem::file_time_type::clock::now());  // this machine's clock, as for `empty`
    write_bytes(other, {4});
    write_bytes(foreign, {1, 2, 3});
    std::filesystem::remove(live);
    {
        file_trajectory_store other_store(live);
        write_episode(other_store, 0);
        file_trajectory_store store(path);
        CHECK(store.recovery().stale_files_removed == 3);
        CHECK(store.episode_count() == 3);
        CHECK(std::filesystem::exists(live));  // locked by other_store
        CHECK(intact(other_store, 0));
    }
    CHECK_FALSE(std::filesystem::exists(stale));
    CHECK_FALSE(std::filesystem::exists(zeroed));
    CHECK_FALSE(std::filesystem::exists(empty));
    CHECK(std::filesystem::exists(fresh));
    CHECK(std::filesystem::exists(other));
    CHECK(std::filesystem::exists(foreign));
    for (const auto& p : {fresh, other, foreign, live}) std::filesystem::remove(p);
}

TEST_CASE("an episode left open is not in the store") {
    const auto path = fresh_path("trajectory_store", "open_episode.trj");
    const auto starts = make_file(path, 3);
    file_trajectory_store_options o;
    o.write_buffer_bytes = 1;  // every record reaches the file at once
    const auto copy = fresh_path("trajectory_store", "open_episode_copy.trj");
    {
        file_trajectory_store store(path, o);
        store.begin_episode();
        for (std::uint64_t i = 0; i < 4; ++i) store.append(make_step(3, i));
        CHECK(std::filesystem::file_size(path) > starts.back());
        // as a crash would leave it
        std::filesystem::copy_file(path, copy);
    }
    CHECK(std::filesystem::file_size(path) == starts.back());  // the destructor cut it
    file_trajectory_store store(copy);
    CHECK(store.episode_count() == 3);
    CHECK(store.recovery().truncated_at == starts.back());
    CHECK(store.recovery().reason.find("episode 3") != std::string::npos);
    CHECK(std::filesystem::file_size(copy) == starts.back());
    write_episode(store, 3);
    CHECK(intact(store, 3));
}

TEST_CASE("a torn or corrupt last record is cut and the episodes before it survive") {
    const auto path = fresh_path("trajectory_store", "torn.trj");
    const auto starts = make_file(path, 6);
    const auto good = read_bytes(path);
    REQUIRE(good.size() == starts.back());

    std::vector<unsigned char> bytes = good;
    std::uint64_t survivors = 5;
    SUBCASE("cut inside the last record") { bytes.resize(bytes.size() - 7); }
    SUBCASE("cut inside the last record's header") { bytes.resize(bytes.size() - 36 - 5); }
    SUBCASE("a flipped bit in the last record") { bytes[bytes.size() - 10] ^= 0x10; }
    SUBCASE("a flipped bit in the last CRC") { bytes.back() ^= 0x01; }
    SUBCASE("zeros after the last record") {
        bytes.resize(bytes.size() + 4096, 0);
        survivors = 6;
    }
    SUBCASE("half a record after the last") {
        bytes.insert(bytes.end(), good.begin() + static_cast<std::ptrdiff_t>(starts[1]),
                     good.begin() + static_cast<std::ptrdiff_t>(starts[1] + 20));
        survivors = 6;
    }
    write_bytes(path, bytes);
    {
        file_trajectory_store store(path);
        CHECK(store.episode_count() == survivors);
        CHECK(store.recovery().truncated_bytes > 0);
        CHECK(store.recovery().truncated_at == starts[survivors]);
        CHECK_FALSE(store.recovery().reason.empty());
        CHECK(std::filesystem::file_size(path) == starts[survivors]);
        for (std::uint64_t e = 0; e < survivors; ++e) CHECK(intact(store, e));
        for (std::uint64_t e = survivors; e < 8; ++e) write_episode(store, e);
    }
    file_trajectory_store store(path);
    CHECK(store.recovery().truncated_bytes == 0);
    CHECK(store.episode_count() == 8);
    for (std::uint64_t e = 0; e < 8; ++e) CHECK(intact(store, e));
}

TEST_CASE("corruption before a complete episode is refused, naming the file and offset") {
    const auto path = fresh_path("trajectory_store", "middle.trj");
    const auto starts = make_file(path, 6);
    auto bytes = read_bytes(path);
    const std::uint64_t hit = starts[2] + 30;  // inside episode 2
    bytes[hit] ^= 0x40;
    write_bytes(path, bytes);
    try {
        file_trajectory_store store(path);
        FAIL("opened a file corrupt in the middle");
    } catch (const rlscale::error& e) {
        const std::string what = e.what();
        CHECK(what.find(path.string()) != std::string::npos);
        // the first step record of episode 2, after its 24-byte begin record
        CHECK(what.find("offset " + std::to_string(starts[2] + 24) + ":") != std::string::npos);
        CHECK(what.find("not a torn tail") != std::string::npos);
    }
    CHECK(read_bytes(path) == bytes);  // left as it was

    // One complete episode after the damaged one is enough: episode 3's
    // records were written after episode 2's end (under sync_policy::fsync,
    // after its sync), so the damage to episode 2 is not a crash's tear.
    const auto one_after = fresh_path("trajectory_store", "middle_one_after.trj");
    const auto one_starts = make_file(one_after, 4);
    auto one_bytes = read_bytes(one_after);
    one_bytes[one_starts[2] + 30] ^= 0x40;
    write_bytes(one_after, one_bytes);
    CHECK_THROWS_WITH_AS(file_trajectory_store{one_after}, doctest::Contains("not a torn tail"), rlscale::error);
    CHECK(read_bytes(one_after) == one_bytes);
}

TEST_CASE("the last episode torn out of order: in a rewritten file, alone in a new file, under salvage_prefix, and refused with a later episode's bytes after it") {
    SUBCASE("the episode appended after a rewrite") {
        const auto path = fresh_path("trajectory_store", "torn_after_rewrite.trj");
        file_trajectory_store_options o;
        o.max_file_episodes = 2;  // rewritten once it holds 4, down to 2: episodes 4 and 5 after 6
        std::uint64_t start = 0;
        std::uint64_t size = 0;
        {
            file_trajectory_store store(path, o);
            for (std::uint64_t e = 0; e < 6; ++e) write_episode(store, e);
            REQUIRE(store.first_episode_in_file() == 4);
            start = store.committed_size();
            write_episode(store, 6);
            size = store.committed_size();
        }
        REQUIRE(steps_in(6) > 0);
        auto bytes = read_bytes(path);
        REQUIRE(bytes.size() == size);
        bytes[start + 24 + 20] ^= 0x40;  // episode 6's first step record
        write_bytes(path, bytes);
        file_trajectory_store store(path, o);
        CHECK(store.first_episode_in_file() == 4);
        CHECK(store.episodes_in_file() == 2);
        CHECK(store.episode_count() == 6);
        CHECK(intact(store, 5));
        CHECK(store.recovery().truncated_at == start);
        CHECK(store.recovery().episodes_discarded == 1);
        CHECK(store.recovery().reason.find("episode 6 torn out of order") != std::string::npos);
    }
    SUBCASE("a new file's only episode, its begin record damaged: numbered 0 all the same") {
        const auto path = fresh_path("trajectory_store", "torn_first.trj");
        (void)make_file(path, 1);
        auto bytes = read_bytes(path);
        bytes[16 + 14] ^= 0x40;  // episode 0's begin record
        write_bytes(path, bytes);
        file_trajectory_store store(path);
        CHECK(store.episode_count() == 0);
        CHECK(store.recovery().truncated_at == 16);
        CHECK(store.recovery().episodes_discarded == 1);
        CHECK_FALSE(store.recovery().numbering_unknown);
        CHECK(store.recovery().reason.find("episode 0 torn out of order") != std::string::npos);
    }
    SUBCASE("a rewritten file's only episode, its begin record damaged: numbered as the file kept it, not refused") {
        // The first-episode number is read from the first begin record,
        // the damaged one: its intact records after it say it.
        const auto path = fresh_path("trajectory_store", "torn_first_rewritten.trj");
        file_trajectory_store_options o;
        o.sync = rlscale::sync_policy::fsync;
        o.max_file_episodes = 1;
        std::uint64_t first = 0;
        {
            file_trajectory_store store(path, o);
            for (std::uint64_t e = 0; e < 3; ++e) write_episode(store, e);
            first = store.first_episode_in_file();
            REQUIRE(store.episodes_in_file() == 1);
        }
        REQUIRE(first == 2);
        REQUIRE(steps_in(first) > 0);
        auto bytes = read_bytes(path);
        bytes[16 + 14] ^= 0x40;  // episode 2's begin record, the file's first record
        write_bytes(path, bytes);
        {
            file_trajectory_store store(path, o);  // no salvage_prefix
            CHECK(store.episode_count() == first);
            CHECK(store.first_episode_in_file() == first);
            CHECK(store.episodes_in_file() == 0);
            CHECK(store.recovery().truncated_at == 16);
            CHECK(store.recovery().truncated_bytes == bytes.size() - 16);
            CHECK(store.recovery().episodes_discarded == 1);
            CHECK_FALSE(store.recovery().numbering_unknown);
            CHECK(store.recovery().reason.find("episode 2 torn out of order") != std::string::npos);
            write_episode(store, first);  // numbered 2 again
        }
        file_trajectory_store store(path, o);
        CHECK(store.recovery().truncated_bytes == 0);
        CHECK(store.episode_count() == first + 1);
        CHECK(intact(store, first));
    }
    SUBCASE("a rewritten file's only episode, its begin record damaged, then a byte after its end record: refused") {
        const auto path = fresh_path("trajectory_store", "torn_first_rewritten_then_more.trj");
        file_trajectory_store_options o;
        o.max_file_episodes = 1;
        {
            file_trajectory_store store(path, o);
            for (std::uint64_t e = 0; e < 3; ++e) write_episode(store, e);
            REQUIRE(store.first_episode_in_file() == 2);
            REQUIRE(store.episodes_in_file() == 1);
        }
        auto bytes = read_bytes(path);
        bytes[16 + 14] ^= 0x40;
        bytes.push_back(0);  // the file grew past the episode: a later write began
        write_bytes(path, bytes);
        CHECK_THROWS_WITH_AS(file_trajectory_store(path, o), doctest::Contains("not a torn tail"), rlscale::error);
        CHECK(read_bytes(path) == bytes);
    }
    SUBCASE("under salvage_prefix: the same cut, said the same way") {
        const auto path = fresh_path("trajectory_store", "torn_salvage.trj");
        const auto starts = make_file(path, 6);
        auto bytes = read_bytes(path);
        bytes[starts[5] + 24 + 20] ^= 0x40;
        write_bytes(path, bytes);
        file_trajectory_store_options o;
        o.salvage_prefix = true;
        file_trajectory_store store(path, o);
        CHECK(store.episode_count() == 5);
        CHECK(store.recovery().episodes_discarded == 1);
        CHECK(store.recovery().reason.find("episode 5 torn out of order") != std::string::npos);
        CHECK(store.recovery().reason.find("salvage_prefix") == std::string::npos);
    }
    SUBCASE("episode 4 damaged, its end record intact, then part of episode 5: refused") {
        const auto path = fresh_path("trajectory_store", "torn_then_next.trj");
        const auto starts = make_file(path, 6);
        auto bytes = read_bytes(path);
        bytes[starts[4] + 24 + 20] ^= 0x40;
        std::uint64_t keep = 0;
        SUBCASE("episode 5's begin record cut short") { keep = starts[5] + 10; }
        SUBCASE("the first two bytes of episode 5's record magic") { keep = starts[5] + 2; }
        SUBCASE("episode 5's begin record whole, its first step cut short") { keep = starts[5] + 24 + 10; }
        SUBCASE("the first two bytes of its magic, then zeros (a page never written)") {
            keep = starts[5] + 64;
            std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(starts[5] + 2), bytes.begin() + static_cast<std::ptrdiff_t>(keep), 0);
        }
        SUBCASE("zeros where episode 5 was: the file grew past episode 4") {
            keep = starts[5] + 64;
            std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(starts[5]), bytes.begin() + static_cast<std::ptrdiff_t>(keep), 0);
        }
        bytes.resize(keep);
        write_bytes(path, bytes);
        CHECK_THROWS_WITH_AS(file_trajectory_store{path}, doctest::Contains("not a torn tail"), rlscale::error);
        CHECK(read_bytes(path) == bytes);
    }
    SUBCASE("episode 4's end record damaged, then episode 5's begin record whole: refused, not cut as a torn tail") {
        const auto path = fresh_path("trajectory_store", "end_damaged_then_next.trj");
        const auto starts = make_file(path, 6);
        auto bytes = read_bytes(path);
        bytes[starts[5] - 3] ^= 0x40;  // inside episode 4's end record, the last record before episode 5
        bytes.resize(starts[5] + 24 + 10);  // episode 5's begin record whole, its first step cut short
        write_bytes(path, bytes);
        CHECK_THROWS_WITH_AS(file_trajectory_store{path}, doctest::Contains("a whole record of another episode follows"), rlscale::error);
        CHECK(read_bytes(path) == bytes);
        // Salvaged: cut before episode 4.
        file_trajectory_store_options o;
        o.salvage_prefix = true;
        file_trajectory_store store(path, o);
        CHECK(store.episode_count() == 4);
        CHECK(store.recovery().truncated_at == starts[4]);
    }
    SUBCASE("episode 4's end record damaged, then part of episode 5's begin record: refused, and cut with salvage_prefix") {
        const auto path = fresh_path("trajectory_store", "end_damaged_then_torn.trj");
        const auto starts = make_file(path, 6);
        auto bytes = read_bytes(path);
        bytes[starts[5] - 3] ^= 0x40;
        bytes.resize(starts[5] + 10);
        write_bytes(path, bytes);
        CHECK_THROWS_WITH_AS(file_trajectory_store{path}, doctest::Contains("in an end record, and 10 bytes follow it: this is not a torn tail"),
                             rlscale::error);
        CHECK(read_bytes(path) == bytes);
        file_trajectory_store_options o;
        o.salvage_prefix = true;
        file_trajectory_store store(path, o);
        CHECK(store.episode_count() == 4);
        CHECK(store.recovery().truncated_at == starts[4]);
    }
    SUBCASE("the last episode's end record damaged, nothing after it: a torn tail, cut") {
        const auto path = fresh_path("trajectory_store", "last_end_damaged.trj");
        const auto starts = make_file(path, 6);
        auto bytes = read_bytes(path);
        bytes[starts[6] - 3] ^= 0x40;
        write_bytes(path, bytes);
        file_trajectory_store store(path);
        CHECK(store.episode_count() == 5);
        CHECK(store.recovery().truncated_at == starts[5]);
    }
}

TEST_CASE("salvage_prefix cuts at the first damaged record, and counts the episodes that had ended after it") {
    const auto path = fresh_path("trajectory_store", "salvaged.trj");
    const auto starts = make_file(path, 6);
    auto bytes = read_bytes(path);
    bytes[starts[2] + 30] ^= 0x40;  // inside episode 2
    write_bytes(path, bytes);
    file_trajectory_store_options o;
    o.salvage_prefix = true;
    file_trajectory_store store(path, o);
    CHECK(store.episode_count() == 2);
    CHECK(intact(store, 1));
    CHECK(store.recovery().truncated_at == starts[2]);
    // Episodes 2 (damaged) to 5 had ended: cut, and said so.
    CHECK(store.recovery().episodes_discarded == 4);
    CHECK(store.recovery().reason.find("; 4 episodes that had ended discarded with it (salvage_prefix)") != std::string::npos);
    MESSAGE(store.recovery().reason);

    // The damage in episode 2's end record: episodes 2 to 5 are cut all the same.
    const auto end_path = fresh_path("trajectory_store", "middle_end.trj");
    const auto end_starts = make_file(end_path, 6);
    auto end_bytes = read_bytes(end_path);
    end_bytes[end_starts[3] - 3] ^= 0x40;
    write_bytes(end_path, end_bytes);
    file_trajectory_store salvaged(end_path, o);
    CHECK(salvaged.episode_count() == 2);
    CHECK(salvaged.recovery().episodes_discarded == 4);
}

TEST_CASE("the last episode torn out of order (its end record on disk, an earlier record not) is cut as a torn tail") {
    // Under sync_policy::fsync a power loss can keep the pages of the
    // episode being written, not yet synced, in any order.
    const auto path = fresh_path("trajectory_store", "torn_out_of_order.trj");
    const auto starts = make_file(path, 6);
    REQUIRE(steps_in(5) == 12);
    auto bytes = read_bytes(path);
    std::uint64_t damaged_at = 0;
    SUBCASE("a step record zeroed, as a page never written") {
        damaged_at = starts[5] + 24;  // episode 5's first step record, after its begin record
        std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(damaged_at), bytes.begin() + static_cast<std::ptrdiff_t>(damaged_at + 40), 0);
    }
    SUBCASE("its begin record damaged") {
        damaged_at = starts[5];
        bytes[damaged_at + 14] ^= 0x40;
    }
    write_bytes(path, bytes);
    {
        file_trajectory_store store(path);  // no salvage_prefix
        CHECK(store.episode_count() == 5);
        for (std::uint64_t e = 0; e < 5; ++e) CHECK(intact(store, e));
        CHECK(store.recovery().truncated_at == starts[5]);
        CHECK(store.recovery().truncated_bytes == bytes.size() - starts[5]);
        CHECK(store.recovery().episodes_discarded == 1);
        const std::string& reason = store.recovery().reason;
        CHECK(reason.find("record at offset " + std::to_string(damaged_at) + ":") != std::string::npos);
        CHECK(reason.find("episode 5 torn out of order (its end record at offset " + std::to_string(starts[6] - 48) + " is intact") !=
              std::string::npos);
        CHECK(reason.find("salvage_prefix") == std::string::npos);
        MESSAGE(reason);
        write_episode(store, 5);  // numbered 5 again
    }
    file_trajectory_store store(path);
    CHECK(store.recovery().truncated_bytes == 0);
    CHECK(store.episode_count() == 6);
    for (std::uint64_t e = 0; e < 6; ++e) CHECK(intact(store, e));
}

TEST_CASE("an episode that cannot be read back (the file changed after it was opened) throws and leaves the caller's steps as they were") {
    const auto path = fresh_path("trajectory_store", "changed_after_open.trj");
    const auto starts = make_file(path, 3);
    file_trajectory_store store(path);
    std::vector<trajectory_step> out;
    store.read_episode(0, out);
    REQUIRE(out.size() == steps_in(0));
    const std::vector<trajectory_step> before = out;
    // Damage the last record of episode 1 (10 steps), past its step records' start.
    REQUIRE(steps_in(1) == 10);
    auto bytes = read_bytes(path);
    bytes[starts[2] - 3] ^= 0x40;
    write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(store.read_episode(1, out), doctest::Contains("the file changed after it was opened"), rlscale::error);
    CHECK(out == before);
}

TEST_CASE("recovery that cuts every episode of a rewritten file keeps its numbering, unless the first record is unreadable") {
    const auto path = fresh_path("trajectory_store", "renumbered.trj");
    file_trajectory_store_options o;
    o.max_file_episodes = 2;  // rewritten once it holds 4, down to 2
    std::uint64_t first = 0;
    {
        file_trajectory_store store(path, o);
        for (std::uint64_t e = 0; e < 6; ++e) write_episode(store, e);
        first = store.first_episode_in_file();
    }
    REQUIRE(first == 4);
    auto bytes = read_bytes(path);
    o.salvage_prefix = true;  // a complete episode follows the damage
    SUBCASE("a record after the first begin record is damaged") {
        bytes[16 + 24 + 20] ^= 0x40;  // inside the step record after episode 4's begin record
        write_bytes(path, bytes);
        {
            file_trajectory_store store(path, o);
            CHECK(store.recovery().truncated_at == 16);
            CHECK(store.recovery().episodes_discarded == 2);  // episodes 4 and 5 had ended
            CHECK_FALSE(store.recovery().numbering_unknown);
            CHECK(store.episodes_in_file() == 0);
            CHECK(store.episode_count() == first);
            CHECK(store.first_episode_in_file() == first);
            write_episode(store, first);  // numbered 4 again, not 0: episodes 0 to 3 keep their numbers
        }
        file_trajectory_store store(path, o);
        CHECK(store.episode_count() == first + 1);
        CHECK(intact(store, first));
    }
    SUBCASE("the first begin record is damaged") {
        bytes[16 + 12 + 2] ^= 0x40;  // its episode number
        write_bytes(path, bytes);
        file_trajectory_store store(path, o);
        CHECK(store.recovery().truncated_at == 16);
        CHECK(store.recovery().numbering_unknown);
        CHECK(store.episode_count() == 0);
    }
}

TEST_CASE("salvage counts only end records of an end record's size: a shorter whole record of that type is not one") {
    const auto path = fresh_path("trajectory_store", "short_end.trj");
    file_trajectory_store_options o;
    {
        file_trajectory_store store(path, o);
        for (std::uint64_t e = 0; e < 3; ++e) write_episode(store, e);
    }
    auto bytes = read_bytes(path);
    bytes[16 + 24 + 20] ^= 0x40;  // inside the step record after episode 0's begin record
    // A whole record at the end of the file (magic, a valid CRC) of the end
    // type with a 4-byte payload: reading an episode number from it would
    // read past the file.
    std::vector<unsigned char> record = {'T', 'R', 'E', 'C', 4, 0, 0, 0, 3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    const std::uint32_t crc = rlscale::detail::crc32(record.data(), record.size());
    for (int i = 0; i < 4; ++i) record.push_back(static_cast<unsigned char>(crc >> (8 * i)));
    bytes.insert(bytes.end(), record.begin(), record.end());
    write_bytes(path, bytes);
    o.salvage_prefix = true;  // complete episodes follow the damage
    file_trajectory_store store(path, o);
    CHECK(store.recovery().truncated_at == 16);
    CHECK(store.recovery().episodes_discarded == 3);  // episodes 0 to 2 had ended; the short record is none
    CHECK(store.recovery().reason.find("3 episodes that had ended discarded") != std::string::npos);
    CHECK(store.episode_count() == 0);
}

TEST_CASE("an end record with an unknown stage is refused, naming which stage and its value") {
    const auto path = fresh_path("trajectory_store", "end_stage.trj");
    make_file(path, 1);
    auto bytes = read_bytes(path);
    REQUIRE(bytes.size() > 16 + 48);
    const std::size_t end = bytes.size() - 48;  // the end record: 12-byte header, 32-byte payload, CRC
    std::size_t byte = 0;
    std::string which;
    SUBCASE("first") {
        byte = 24;
        which = "first";
    }
    SUBCASE("last") {
        byte = 25;
        which = "last";
    }
    REQUIRE(bytes[end + 8] == 3);  // an end record
    bytes[end + 12 + byte] = 9;
    const std::uint32_t crc = rlscale::detail::crc32(bytes.data() + end, 44);
    for (int i = 0; i < 4; ++i) bytes[end + 44 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(crc >> (8 * i));
    write_bytes(path, bytes);
    const std::string expected = "an end record whose " + which + " stage (payload byte " + std::to_string(byte) + ") is 9, not a stage (0 to 3)";
    CHECK_THROWS_WITH_AS(file_trajectory_store{path}, doctest::Contains(expected.c_str()), rlscale::error);
    CHECK(read_bytes(path) == bytes);  // left as it was
}

TEST_CASE("a file that is not a trajectory store is refused and left alone") {
    const auto path = fresh_path("trajectory_store", "foreign.trj");
    const std::string text = "hello, this is somebody else's file\n";
    write_bytes(path, std::vector<unsigned char>(text.begin(), text.end()));
    try {
        file_trajectory_store store(path);
        FAIL("opened a foreign file");
    } catch (const rlscale::error& e) {
        CHECK(std::string(e.what()).find("not an rlscale trajectory store") != std::string::npos);
        CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
    }
    CHECK(std::filesystem::file_size(path) == text.size());

    write_bytes(path, {'h', 'i'});  // short, and not a header prefix
    CHECK_THROWS_AS(file_trajectory_store{path}, rlscale::error);
    CHECK(std::filesystem::file_size(path) == 2);

    write_bytes(path, {'R', 'L', 'S', 'C', 'T'});  // a header cut short at creation
    {
        file_trajectory_store store(path);
        CHECK(store.episode_count() == 0);
        write_episode(store, 0);
    }
    file_trajectory_store store(path);
    CHECK(intact(store, 0));
}

TEST_CASE("a file of zeros (its size written, not its bytes, when the machine stopped) is taken back to empty, and zeros before other bytes are refused") {
    const auto path = fresh_path("trajectory_store", "zeroed.trj");
    for (const std::size_t n : {std::size_t{5}, std::size_t{16}, std::size_t{200}}) {
        CAPTURE(n);
        write_bytes(path, std::vector<unsigned char>(n, 0));
        {
            file_trajectory_store store(path);
            CHECK(store.episode_count() == 0);
            CHECK(store.recovery().truncated_at == 0);
            CHECK(store.recovery().truncated_bytes == n);
            CHECK(store.recovery().reason.find("zeroed file") != std::string::npos);
            write_episode(store, 0);
        }
        file_trajectory_store store(path);
        CHECK(intact(store, 0));
    }
    // A zeroed header with something else after it is not a crash at creation.
    std::vector<unsigned char> bytes(64, 0);
    bytes[40] = 1;
    write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(file_trajectory_store{path}, doctest::Contains("file header is zeros, and the file holds other bytes after it"),
                         rlscale::error);
    CHECK(std::filesystem::file_size(path) == 64);
}

TEST_CASE("reading an episode that is not indexed names the store without an offset in it") {
    const auto path = fresh_path("trajectory_store", "not_indexed.trj");
    file_trajectory_store store(path);
    write_episode(store, 0);
    std::vector<trajectory_step> out;
    try {
        store.read_episode(5, out);
        FAIL("read an episode that is not indexed");
    } catch (const rlscale::error& e) {
        const std::string what = e.what();
        CHECK(what.find("episode 5 is not indexed (the index holds 0 to 0)") != std::string::npos);
        CHECK(what.find("offset") == std::string::npos);
    }
}

TEST_CASE("a header whose reserved field is not 0 is refused as a newer format, and left alone") {
    const auto path = fresh_path("trajectory_store", "reserved.trj");
    {
        file_trajectory_store store(path);
        write_episode(store, 0);
    }
    std::vector<unsigned char> bytes = read_bytes(path);
    REQUIRE(bytes.size() > 16);
    bytes[12] = 1;  // the reserved 32-bit field after the magic and the version
    write_bytes(path, bytes);
    try {
        file_trajectory_store store(path);
        FAIL("opened a file whose reserved header field is set");
    } catch (const rlscale::error& e) {
        CHECK(std::string(e.what()).find("reserved header field is 1, not 0") != std::string::npos);
    }
    CHECK(read_bytes(path) == bytes);
}

TEST_CASE("a file is open in one store at a time") {
    const auto path = fresh_path("trajectory_store", "locked.trj");
    file_trajectory_store first(path);
    try {
        file_trajectory_store second(path);
        FAIL("a second store opened the file");
    } catch (const rlscale::error& e) {
        CHECK(std::string(e.what()).find("another trajectory store") != std::string::npos);
    }
}

TEST_CASE("a rewrite is refused and counted once the path no longer names the store's file, and the store that holds that name keeps its episodes") {
    const auto path = fresh_path("trajectory_store", "moved.trj");
    const auto moved = fresh_path("trajectory_store", "moved.trj.old");
    file_trajectory_store_options o;
    o.max_file_episodes = 2;  // rewritten once the file holds 4
    {
        file_trajectory_store a(path, o);
        write_episode(a, 0);
        write_episode(a, 1);
        std::filesystem::rename(path, moved);  // while `a` has it open
        {
            file_trajectory_store b(path);  // a new file of that name, and its lock (never rewritten: it keeps every episode)
            for (std::uint64_t e = 0; e < 3; ++e) write_episode(b, e);  // each durable once it returns
            write_episode(a, 2);
            write_episode(a, 3);  // 4 in a's file: its rewrite would replace b's file
            CHECK(a.rewrites() == 0);
            CHECK(a.rewrite_failures() == 1);
            CHECK(a.last_rewrite_error().find("the path no longer names this store's file") != std::string::npos);
            CHECK(a.episodes_in_file() == 4);
            for (std::uint64_t e = 0; e < 4; ++e) CHECK(intact(a, e));
            write_episode(b, 3);  // b still writes to the file the path names
            CHECK(b.rewrite_failures() == 0);
        }
        write_episode(a, 4);  // tried again, refused again: a goes on with its file
        CHECK(a.rewrite_failures() == 2);
        CHECK_THROWS_WITH_AS(a.compact(), doctest::Contains("the path no longer names this store's file"), rlscale::error);
        CHECK(a.episode_count() == 5);
    }
    {
        file_trajectory_store b(path);
        CHECK(b.episode_count() == 4);
        CHECK(b.recovery().truncated_bytes == 0);
        for (std::uint64_t e = 0; e < 4; ++e) CHECK(intact(b, e));
    }
    {
        file_trajectory_store a(moved, o);  // a's episodes, all in the file it kept
        CHECK(a.episode_count() == 5);
        CHECK(a.first_episode_in_file() == 0);
        for (std::uint64_t e = 0; e < 5; ++e) CHECK(intact(a, e));
    }
    // The path removed: refused too, and nothing is put back at the path.
    const auto gone = fresh_path("trajectory_store", "removed.trj");
    file_trajectory_store c(gone, o);
    write_episode(c, 0);
    write_episode(c, 1);
    std::filesystem::remove(gone);
    write_episode(c, 2);
    write_episode(c, 3);
    CHECK(c.rewrite_failures() == 1);
    CHECK(c.last_rewrite_error().find("the path no longer names this store's file") != std::string::npos);
    CHECK(c.last_rewrite_error().find(std::strerror(ENOENT)) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(gone));
    for (std::uint64_t e = 0; e < 4; ++e) CHECK(intact(c, e));
}

TEST_CASE("a file with another name (a hard link) is refused at open and left alone, and a rewrite is refused once one is made") {
    const auto path = fresh_path("trajectory_store", "linked.trj");
    const auto other = fresh_path("trajectory_store", "linked_other.trj");
    file_trajectory_store_options o;
    o.max_file_episodes = 2;
    make_file(path, 1);
    std::filesystem::create_hard_link(path, other);
    const auto bytes = read_bytes(path);
    for (const auto& p : {path, other}) {
        CAPTURE(p);
        CHECK_THROWS_WITH_AS(file_trajectory_store(p, o), doctest::Contains("has 2 links"), rlscale::error);
        CHECK_THROWS_WITH_AS(file_trajectory_store(p, o), doctest::Contains("lock would no longer cover the others"), rlscale::error);
        CHECK_THROWS_WITH_AS(file_trajectory_store(p, o), doctest::Contains(p.string().c_str()), rlscale::error);
    }
    CHECK(read_bytes(path) == bytes);
    std::filesystem::remove(other);
    // A link made while a store has the file open: its rewrite would leave
    // the old file under the other name, unlocked.
    file_trajectory_store store(path, o);
    write_episode(store, 1);
    std::filesystem::create_hard_link(path, other);
    write_episode(store, 2);
    write_episode(store, 3);  // 4 in the file
    CHECK(store.rewrites() == 0);
    CHECK(store.rewrite_failures() == 1);
    CHECK(store.last_rewrite_error().find("has 2 links") != std::string::npos);
    CHECK(std::filesystem::equivalent(path, other));
    CHECK(std::filesystem::file_size(other) == store.committed_size());
    std::filesystem::remove(other);
    write_episode(store, 4);  // tried again: the file has one name now
    CHECK(store.rewrites() == 1);
    CHECK(store.rewrite_failures() == 1);
    CHECK(store.first_episode_in_file() == 3);
    for (std::uint64_t e = 3; e < 5; ++e) CHECK(intact(store, e));
}

TEST_CASE("a path that is not a regular file (a FIFO, a directory) is refused at open, naming it, and left alone") {
    const auto fifo = fresh_path("trajectory_store", "fifo.trj");
    const file_trajectory_store_options o;
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(file_trajectory_store(fifo, o), doctest::Contains("is not a regular file (it is a FIFO)"), rlscale::error);
    CHECK_THROWS_WITH_AS(file_trajectory_store(fifo, o), doctest::Contains(fifo.string().c_str()), rlscale::error);
    CHECK(std::filesystem::is_fifo(fifo));
    {  // Nothing was written to it.
        const int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        REQUIRE(fd >= 0);
        char c = 0;
        CHECK(::read(fd, &c, 1) <= 0);
        ::close(fd);
    }
    std::filesystem::remove(fifo);
    const auto dir = fresh_path("trajectory_store", "dir.trj");
    std::filesystem::create_directory(dir);
    CHECK_THROWS_WITH_AS(file_trajectory_store(dir, o), doctest::Contains("is not a regular file (it is a directory)"), rlscale::error);
    CHECK(std::filesystem::is_empty(dir));
    std::filesystem::remove(dir);
}

TEST_CASE("a store written with fsync reads back") {
    const auto path = fresh_path("trajectory_store", "fsync.trj");
    file_trajectory_store_options o;
    o.sync = rlscale::sync_policy::fsync;
    {
        file_trajectory_store store(path, o);
        for (std::uint64_t e = 0; e < 3; ++e) write_episode(store, e);
    }
    file_trajectory_store store(path, o);
    CHECK(store.episode_count() == 3);
    CHECK(intact(store, 2));
}

namespace {

/// Child: writes episodes as fast as it can and reports each complete one
/// on `report`; never returns. With `max_file_episodes` small, it rewrites
/// the file every few episodes, so kills land inside rewrites too.
[[noreturn]] void crash_writer(const std::filesystem::path& path, std::size_t buffer_bytes, std::size_t max_file_episodes, int report) {
    try {
        file_trajectory_store_options o;
        o.write_buffer_bytes = buffer_bytes;
        o.max_file_episodes = max_file_episodes;
        file_trajectory_store store(path, o);
        for (std::uint64_t e = store.episode_count();; ++e) {
            store.begin_episode();
            for (std::uint64_t i = 0; i < steps_in(e); ++i) store.append(make_step(e, i));
            store.end_episode();
            const std::uint64_t done = e;
            if (::write(report, &done, sizeof done) != static_cast<::ssize_t>(sizeof done)) ::_exit(3);
        }
    } catch (...) {
        ::_exit(2);
    }
}

}  // namespace

TEST_CASE("a writer killed at a random moment loses no episode it reported complete, rewrites of the file included") {
    const std::vector<int> delays_us = {0, 150, 700, 2000, 5000, 11000};
    rlscale::rng jitter(42);
    int cuts = 0;
    std::uint64_t survived = 0;
    std::uint64_t rewrites_survived = 0;
    std::uint64_t stale_removed = 0;
    for (std::size_t run = 0; run < delays_us.size() * 3; ++run) {
        const int delay = delays_us[run % delays_us.size()] + static_cast<int>(rlscale::uniform_index(jitter, 300));
        const std::size_t buffer_bytes = run % 3 == 1 ? (1 << 20) : 64;
        // Every third run rewrites the file once it holds 10 episodes (down to 6).
        const std::size_t max_file_episodes = run % 3 == 2 ? 6 : 1'000'000;
        file_trajectory_store_options reopen;
        reopen.max_file_episodes = max_file_episodes;
        reopen.max_indexed_episodes = 1'000'000;
        CAPTURE(run);
        CAPTURE(delay);
        CAPTURE(buffer_bytes);
        CAPTURE(max_file_episodes);
        const auto path = fresh_path("trajectory_store", "crash_" + std::to_string(run) + ".trj");
        std::uint64_t reported_max = 0;
        bool any_reported = false;

        for (int round = 0; round < 2; ++round) {  // the second round continues the file the first left
            int fds[2];
            REQUIRE(::pipe(fds) == 0);
            const ::pid_t child = ::fork();
            REQUIRE(child >= 0);
            if (child == 0) {
                ::close(fds[0]);
                crash_writer(path, buffer_bytes, max_file_episodes, fds[1]);
            }
            ::close(fds[1]);

            // Wait until a few episodes are reported, then kill at a random moment.
            std::vector<std::uint64_t> reported;
            const auto read_reports = [&](bool until_eof, std::size_t want) {
                std::uint64_t v = 0;
                std::size_t have = 0;
                auto* bytes = reinterpret_cast<unsigned char*>(&v);
                while (until_eof || reported.size() < want) {
                    const ::ssize_t n = ::read(fds[0], bytes + have, sizeof v - have);
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) break;
                    have += static_cast<std::size_t>(n);
                    if (have == sizeof v) {
                        reported.push_back(v);
                        have = 0;
                    }
                }
            };
            read_reports(false, 3 + run % 5);
            std::this_thread::sleep_for(std::chrono::microseconds(delay));
            ::kill(child, SIGKILL);
            int status = 0;
            REQUIRE(::waitpid(child, &status, 0) == child);
            CHECK(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
            read_reports(true, 0);
            ::close(fds[0]);

            REQUIRE(!reported.empty());
            for (std::size_t i = 1; i < reported.size(); ++i) CHECK(reported[i] == reported[i - 1] + 1);
            if (any_reported) CHECK(reported.front() >= reported_max + 1);
            reported_max = reported.back();
            any_reported = true;

            file_trajectory_store store(path, reopen);
            INFO("recovery: ", store.recovery().reason, " cut ", store.recovery().truncated_bytes, " bytes");
            CHECK(store.episode_count() >= reported_max + 1);
            CHECK(store.episode_count() <= reported_max + 2);  // at most one finished after its last report
            // A kill inside a rewrite leaves the old file (at most 10: the
            // one that set it off is in it) or the new one (6), whole.
            if (max_file_episodes == 6) {
                CHECK(store.episodes_in_file() <= 10);
                CHECK(store.episodes_in_file() >= std::min<std::uint64_t>(6, store.episode_count()));
                rewrites_survived += store.first_episode_in_file() > 0 ? 1 : 0;
            } else {
                CHECK(store.first_episode_in_file() == 0);
            }
            CHECK(store.recovery().stale_files_removed <= 1);
            stale_removed += store.recovery().stale_files_removed;
            bool all = true;
            for (std::uint64_t e = store.first_episode_in_file(); e < store.episode_count(); ++e) all = all && intact(store, e);
            CHECK(all);
            CHECK(std::filesystem::file_size(path) == store.committed_size());
            cuts += store.recovery().truncated_bytes > 0 ? 1 : 0;
            reported_max = store.episode_count() - 1;
        }
        // usable afterwards: append, reopen
        std::uint64_t n = 0;
        {
            file_trajectory_store store(path, reopen);
            n = store.episode_count();
            write_episode(store, n);
            write_episode(store, n + 1);
        }
        file_trajectory_store store(path, reopen);
        CHECK(store.episode_count() == n + 2);
        CHECK(store.recovery().truncated_bytes == 0);
        CHECK(intact(store, n + 1));
        survived += n;
    }
    MESSAGE((delays_us.size() * 6), " kills, ", cuts, " reopens cut a torn tail, ", survived, " episodes survived in all; ",
            rewrites_survived, " reopens found a rewritten file, ", stale_removed, " removed a rewrite's temporary file");
    CHECK(rewrites_survived > 0);
    // Some kill must have landed inside a record, or recovery went untested
    // (about a third of them do; none of 24 is a chance of about 1 in 20,000).
    CHECK(cuts > 0);
}

}  // namespace test_lifecycle_trajectory_store
