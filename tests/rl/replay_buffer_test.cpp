#include <rlscale/rl/replay_buffer.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace test_rl_replay_buffer {

using rlscale::rl::replay_buffer;

namespace {
std::array<float, 2> obs(float v) { return {v, -v}; }
}  // namespace

TEST_CASE("replay_buffer stores transitions and overwrites the oldest once full") {
    replay_buffer<float> buf(3, 2);
    replay_buffer<float>::batch b(2, 1, 4);
    CHECK(buf.empty());
    for (int i = 0; i < 5; ++i) {
        const auto o = obs(static_cast<float>(i));
        const auto n = obs(static_cast<float>(i + 1));
        buf.push(o, i % 3, 10.0 * i, n, i == 4, i == 3);
    }
    CHECK(buf.full());
    CHECK(buf.size() == 3);
    CHECK(buf.pushed() == 5);
    // oldest kept is transition 2, then 3, then 4
    for (std::size_t k = 0; k < 3; ++k) buf.get(k, k, b);
    CHECK(b.observations(0, 0) == 2.0F);
    CHECK(b.observations(1, 0) == -2.0F);
    CHECK(b.next_observations(0, 0) == 3.0F);
    CHECK(b.actions(0, 0) == 2);
    CHECK(b.rewards(0) == 20.0F);
    CHECK(b.observations(0, 1) == 3.0F);
    CHECK(b.truncated(1) == 1.0F);
    CHECK(b.terminated(1) == 0.0F);
    CHECK(b.observations(0, 2) == 4.0F);
    CHECK(b.terminated(2) == 1.0F);
    CHECK(b.truncated(2) == 0.0F);
    CHECK_THROWS_AS(buf.get(3, 0, b), rlscale::error);
}

TEST_CASE("replay_buffer sampling is uniform over the stored transitions and seeded") {
    replay_buffer<float> buf(100, 2);
    for (int i = 0; i < 250; ++i) {
        const auto o = obs(static_cast<float>(i));
        buf.push(o, 0, i, o, false);
    }
    replay_buffer<float>::batch b(2, 1, 64);
    rlscale::rng gen(7);
    std::vector<int> counts(250, 0);
    for (int draw = 0; draw < 2000; ++draw) {
        buf.sample(64, gen, b);
        REQUIRE(b.size == 64);
        for (int j = 0; j < 64; ++j) {
            const int v = static_cast<int>(b.observations(0, j));
            REQUIRE(static_cast<float>(v) == b.rewards(j));  // rows stay together
            REQUIRE(b.slots[static_cast<std::size_t>(j)] == static_cast<std::size_t>(v % 100));  // pushed into slot v mod 100
            ++counts[static_cast<std::size_t>(v)];
        }
    }
    for (int i = 0; i < 150; ++i) CHECK(counts[static_cast<std::size_t>(i)] == 0);  // overwritten
    // 128,000 draws over 100 slots: 1280 expected each; 5 sigma is about 178
    for (int i = 150; i < 250; ++i) {
        CHECK(counts[static_cast<std::size_t>(i)] > 1280 - 180);
        CHECK(counts[static_cast<std::size_t>(i)] < 1280 + 180);
    }
    rlscale::rng a(3);
    rlscale::rng c(3);
    replay_buffer<float>::batch b1(2, 1, 8);
    replay_buffer<float>::batch b2(2, 1, 8);
    buf.sample(8, a, b1);
    buf.sample(8, c, b2);
    CHECK(b1.observations == b2.observations);
}

TEST_CASE("replay_buffer rejects bad transitions and stores nothing") {
    replay_buffer<float> buf(4, 2, 2);
    const auto o = obs(1);
    const std::array<std::int32_t, 2> a{0, 1};
    const std::array<float, 2> nan_obs{1, std::numeric_limits<float>::quiet_NaN()};
    const std::array<float, 3> long_obs{1, 2, 3};
    const std::array<std::int32_t, 2> negative{0, -1};
    CHECK_THROWS_WITH_AS(buf.push(nan_obs, a, 0, o, false), doctest::Contains("observation[1]"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, a, 0, nan_obs, false), doctest::Contains("next_observation[1]"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(long_obs, a, 0, o, false), doctest::Contains("observation has 3"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, negative, 0, o, false), doctest::Contains("action[1] is -1"), rlscale::error);
    CHECK_THROWS_WITH_AS(buf.push(o, a, std::numeric_limits<double>::infinity(), o, false), doctest::Contains("reward"),
                         rlscale::error);
    // Finite as a double, infinite as the float the buffer stores.
    CHECK_THROWS_WITH_AS(buf.push(o, a, 1e39, o, false), doctest::Contains("must be finite as the buffer's float"), rlscale::error);
    CHECK(buf.empty());
    CHECK_THROWS_WITH_AS(replay_buffer<float>(0, 2), doctest::Contains("replay_buffer.capacity"), rlscale::config_error);
    replay_buffer<float>::batch b(2, 2, 2);
    rlscale::rng gen(1);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, b), doctest::Contains("empty"), rlscale::error);
    buf.push(o, a, 0, o, false);
    CHECK_THROWS_WITH_AS(buf.sample(3, gen, b), doctest::Contains("exceeds"), rlscale::error);
    replay_buffer<float>::batch wrong(3, 2, 2);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, wrong), doctest::Contains("the batch holds"), rlscale::error);
}

TEST_CASE("replay_buffer holds 10^6 transitions") {
    replay_buffer<float> buf(1'000'000, 4);
    const std::array<float, 4> o{1, 2, 3, 4};
    for (int i = 0; i < 1'000'100; ++i) buf.push(o, 1, 0.5, o, false);
    CHECK(buf.full());
    CHECK(buf.size() == 1'000'000);
}

TEST_CASE("replay_buffer stores continuous actions and refuses non-finite ones") {
    replay_buffer<float, float> rb(4, 2, 3);
    const std::array<float, 2> o{0.1F, 0.2F};
    const std::array<float, 3> a{-0.5F, 0.0F, 0.75F};
    rb.push(o, a, 1.0, o, false);
    rlscale::rl::replay_batch<float, float> batch(2, 3, 1);
    rb.get(0, 0, batch);
    CHECK(batch.actions(0, 0) == -0.5F);
    CHECK(batch.actions(2, 0) == 0.75F);
    const std::array<float, 3> bad{0.0F, std::numeric_limits<float>::infinity(), 0.0F};
    CHECK_THROWS_WITH_AS(rb.push(o, bad, 1.0, o, false), doctest::Contains("action[1]"), rlscale::error);
    CHECK(rb.size() == 1);
}

TEST_CASE("replay_buffer state: written in ring order, read back to sample the same rows, a bad one refused and the buffer left empty") {
    replay_buffer<float> buf(3, 2);
    for (int i = 0; i < 5; ++i) {
        const auto o = obs(static_cast<float>(i));
        const auto n = obs(static_cast<float>(i + 1));
        buf.push(o, i % 3, 10.0 * i, n, i == 4, i == 3);
    }
    rlscale::detail::binary_writer w;
    buf.write_state(w);
    replay_buffer<float> copy(3, 2);
    rlscale::detail::binary_reader r(w.bytes(), "replay.");
    copy.read_state(r);
    CHECK(r.remaining() == 0);
    CHECK(copy.size() == 3);
    CHECK(copy.pushed() == 5);
    rlscale::rng g1(4);
    rlscale::rng g2(4);
    replay_buffer<float>::batch a(2, 1, 16);
    replay_buffer<float>::batch b(2, 1, 16);
    buf.sample(16, g1, a);
    copy.sample(16, g2, b);
    CHECK(a.observations == b.observations);
    CHECK(a.actions == b.actions);
    CHECK(a.rewards == b.rewards);
    CHECK(a.terminated == b.terminated);
    CHECK(a.truncated == b.truncated);
    // The next push overwrites the same (oldest) row in both.
    buf.push(obs(9), 1, 0, obs(9), false);
    copy.push(obs(9), 1, 0, obs(9), false);
    for (std::size_t k = 0; k < 3; ++k) {
        buf.get(k, k, a);
        copy.get(k, k, b);
    }
    CHECK(a.observations.leftCols(3) == b.observations.leftCols(3));

    // Each field as push() would check it; the buffer is left empty.
    const std::string good = w.bytes();
    const auto refused = [&](std::string bytes, const char* field) {
        replay_buffer<float> target(3, 2);
        target.push(obs(1), 0, 0, obs(1), false);
        rlscale::detail::binary_reader in(bytes, "replay.");
        CHECK_THROWS_WITH_AS(target.read_state(in), doctest::Contains(field), rlscale::checkpoint_error);
        CHECK(target.empty());
    };
    const auto with_u64 = [&](std::size_t at, std::uint64_t v) {
        std::string bytes = good;
        std::memcpy(bytes.data() + at, &v, sizeof v);
        return bytes;
    };
    refused(with_u64(0, 4), "replay.size: 4 transitions, the capacity is 3");
    refused(with_u64(8, 3), "replay.next: is 3");
    refused(with_u64(16, 2), "replay.pushed: is 2");
    const std::size_t actions_at = 24 + 2 * 3 * 2 * sizeof(float);
    std::string negative = good;
    const std::int32_t minus = -1;
    std::memcpy(negative.data() + actions_at, &minus, sizeof minus);
    refused(negative, "replay.actions[0]");
    std::string flags = good;
    flags[flags.size() - 1] = 4;
    refused(flags, "replay.flags[2]");
    std::string nan_reward = good;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(nan_reward.data() + actions_at + 3 * sizeof(std::int32_t), &nan, sizeof nan);
    refused(nan_reward, "replay.rewards[0]");
    refused(good.substr(0, good.size() - 2), "replay.flags: the data ends inside it");
    // Not full: the next slot must follow the last stored one.
    replay_buffer<float> partial(3, 2);
    partial.push(obs(1), 0, 0, obs(1), false);
    rlscale::detail::binary_writer pw;
    partial.write_state(pw);
    std::string moved = pw.bytes();
    const std::uint64_t two = 2;
    std::memcpy(moved.data() + 8, &two, sizeof two);
    refused(moved, "replay.next: is 2");
}

namespace {
/// The state's bytes as the format has them, built by hand: the ring's
/// position, then each field in slot order (every observation, every next
/// observation, every action, every reward, every flag byte).
template <typename T, typename Action>
std::string state_bytes_by_hand(std::uint64_t size, std::uint64_t next, std::uint64_t pushed, const std::vector<T>& observations,
                                const std::vector<T>& next_observations, const std::vector<Action>& actions,
                                const std::vector<T>& rewards, const std::vector<std::uint8_t>& flags) {
    std::string bytes;
    const auto put = [&bytes](const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); };
    put(&size, 8);
    put(&next, 8);
    put(&pushed, 8);
    put(observations.data(), observations.size() * sizeof(T));
    put(next_observations.data(), next_observations.size() * sizeof(T));
    put(actions.data(), actions.size() * sizeof(Action));
    put(rewards.data(), rewards.size() * sizeof(T));
    put(flags.data(), flags.size());
    return bytes;
}

/// Pushes `count` distinct transitions into a buffer of `capacity` and
/// checks its state's bytes against the format built by hand, then that
/// the bytes read back give the same transitions.
template <typename T, typename Action>
void check_state_format(std::size_t capacity, std::size_t observation_size, std::size_t action_size, std::size_t count) {
    CAPTURE(capacity);
    CAPTURE(observation_size);
    CAPTURE(action_size);
    CAPTURE(count);
    replay_buffer<T, Action> buf(capacity, observation_size, action_size);
    std::vector<T> o(observation_size);
    std::vector<T> n(observation_size);
    std::vector<Action> a(action_size);
    // What each slot holds at the end (a later push overwrites the slot).
    std::vector<std::vector<T>> slot_o(capacity), slot_n(capacity);
    std::vector<std::vector<Action>> slot_a(capacity);
    std::vector<T> slot_r(capacity);
    std::vector<std::uint8_t> slot_f(capacity);
    for (std::size_t t = 0; t < count; ++t) {
        for (std::size_t i = 0; i < observation_size; ++i) {
            o[i] = static_cast<T>(0.25 * static_cast<double>(t) + static_cast<double>(i));
            n[i] = static_cast<T>(-0.5 * static_cast<double>(t) - static_cast<double>(i));
        }
        for (std::size_t i = 0; i < action_size; ++i) a[i] = static_cast<Action>((t * 7 + i) % 13);
        const double r = 1.5 * static_cast<double>(t) - 3.0;
        const bool terminated = t % 3 == 0;
        const bool truncated = t % 5 == 0;
        buf.push(std::span<const T>(o), std::span<const Action>(a), r, std::span<const T>(n), terminated, truncated);
        const std::size_t slot = t % capacity;
        slot_o[slot] = o;
        slot_n[slot] = n;
        slot_a[slot] = a;
        slot_r[slot] = static_cast<T>(r);
        slot_f[slot] = static_cast<std::uint8_t>((terminated ? 1 : 0) | (truncated ? 2 : 0));
    }
    const std::size_t stored = std::min(count, capacity);
    std::vector<T> all_o, all_n, all_r;
    std::vector<Action> all_a;
    std::vector<std::uint8_t> all_f;
    for (std::size_t slot = 0; slot < stored; ++slot) {
        all_o.insert(all_o.end(), slot_o[slot].begin(), slot_o[slot].end());
        all_n.insert(all_n.end(), slot_n[slot].begin(), slot_n[slot].end());
        all_a.insert(all_a.end(), slot_a[slot].begin(), slot_a[slot].end());
        all_r.push_back(slot_r[slot]);
        all_f.push_back(slot_f[slot]);
    }
    rlscale::detail::binary_writer w;
    buf.write_state(w);
    const std::string expected = state_bytes_by_hand<T, Action>(stored, count % capacity == 0 && count > 0 ? 0 : (count < capacity ? count : count % capacity),
                                                                count, all_o, all_n, all_a, all_r, all_f);
    CHECK(w.bytes().size() == expected.size());
    CHECK(w.bytes() == expected);

    replay_buffer<T, Action> copy(capacity, observation_size, action_size);
    rlscale::detail::binary_reader r(w.bytes(), "replay.");
    copy.read_state(r);
    CHECK(r.remaining() == 0);
    typename replay_buffer<T, Action>::batch b(observation_size, action_size, 1);
    for (std::size_t k = 0; k < stored; ++k) {
        copy.get(k, 0, b);
        const std::size_t slot = count <= capacity ? k : (count + k) % capacity;
        bool same = b.rewards(0) == slot_r[slot] && b.terminated(0) == T((slot_f[slot] & 1) != 0 ? 1 : 0) &&
                    b.truncated(0) == T((slot_f[slot] & 2) != 0 ? 1 : 0);
        for (std::size_t i = 0; i < observation_size; ++i) {
            same = same && b.observations(static_cast<Eigen::Index>(i), 0) == slot_o[slot][i] &&
                   b.next_observations(static_cast<Eigen::Index>(i), 0) == slot_n[slot][i];
        }
        for (std::size_t i = 0; i < action_size; ++i) same = same && b.actions(static_cast<Eigen::Index>(i), 0) == slot_a[slot][i];
        CHECK(same);
        if (!same) break;
    }
}
}  // namespace

TEST_CASE("replay_buffer state: each field in slot order, byte for byte, whatever the value and action types") {
    // float values and indices; double values and indices (a record whose
    // actions are narrower than its values); continuous actions of both
    // types; one and several actions; a partial ring, a full one and one
    // that went round; fields longer than the writer stages at once, and a
    // row longer.
    check_state_format<float, std::int32_t>(5, 2, 1, 3);
    check_state_format<float, std::int32_t>(5, 3, 2, 5);
    check_state_format<float, std::int32_t>(5, 3, 2, 12);
    check_state_format<double, std::int32_t>(7, 3, 1, 9);
    check_state_format<double, std::int32_t>(7, 1, 3, 4);
    check_state_format<float, float>(6, 10, 3, 20);
    check_state_format<double, double>(6, 4, 6, 6);
    check_state_format<float, std::int32_t>(1500, 5, 3, 2100);
    check_state_format<float, std::int32_t>(5000, 5, 3, 5200);  // fields of 100 KB, staged in parts
    check_state_format<double, float>(3, 20'000, 2, 4);           // a row wider than the stage
    check_state_format<double, double>(1, 2, 1, 3);
}

namespace {
/// Resident memory of this process in bytes (Linux: /proc/self/statm).
std::size_t resident_bytes() {
    std::ifstream in("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    in >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}
}  // namespace

TEST_CASE("replay_buffer does not write a large replay's memory at construction") {
    // 2 * 10^7 transitions of 2 float values each (about 400 MB of
    // records): the records are left uninitialised, so constructing the
    // buffer leaves its pages untouched and not resident until transitions
    // are pushed there.
    const std::size_t before = resident_bytes();
    replay_buffer<float> buf(20'000'000, 2);
    const std::size_t after = resident_bytes();
    CHECK(after < before + 32 * 1024 * 1024);
    buf.push(obs(1), 0, 0.0, obs(2), false);
    CHECK(buf.size() == 1);
}

TEST_CASE("replay_buffer sample and get refuse a batch any of whose arrays is too small, naming it, and write nothing") {
    replay_buffer<float> buf(4, 2);
    for (int i = 0; i < 3; ++i) buf.push(obs(static_cast<float>(i)), i % 2, i, obs(static_cast<float>(i + 1)), false);
    rlscale::rng gen(5);
    // A batch of 8 whose Eigen arrays were grown to 64 columns, its slots
    // not: shape_error (what an update reads) has nothing to say, but
    // sampling 64 would write slots[8..63].
    replay_buffer<float>::batch grown(2, 1, 8);
    grown.observations.conservativeResize(Eigen::NoChange, 64);
    grown.next_observations.conservativeResize(Eigen::NoChange, 64);
    grown.actions.conservativeResize(Eigen::NoChange, 64);
    grown.rewards.conservativeResize(64);
    grown.terminated.conservativeResize(64);
    grown.truncated.conservativeResize(64);
    // Only the slots are short: the room check names them, and nothing else.
    CHECK(grown.room_error(2, 1, 64) == "batch.slots holds 8, fewer than the 64 transitions to write");
    for (std::size_t j = 0; j < 8; ++j) grown.slots[j] = 100 + j;
    const auto untouched = [](const replay_buffer<float>::batch& b) {
        bool same = b.size == 0;
        for (std::size_t j = 0; j < b.slots.size(); ++j) same = same && b.slots[j] == 100 + j;
        return same;
    };
    CHECK_THROWS_WITH_AS(buf.sample(64, gen, grown), doctest::Contains("replay_buffer.sample: batch.slots holds 8, fewer than the 64 transitions to write"),
                         rlscale::error);
    CHECK(untouched(grown));
    CHECK_THROWS_WITH_AS(buf.get(0, 20, grown), doctest::Contains("replay_buffer.get: batch.slots holds 8, fewer than the 21 transitions to write"),
                         rlscale::error);
    CHECK(untouched(grown));
    // Each array by name: truncated, then those an update reads too.
    replay_buffer<float>::batch b(2, 1, 8);
    for (std::size_t j = 0; j < 8; ++j) b.slots[j] = 100 + j;
    auto bad = b;
    bad.truncated.resize(3);
    CHECK_THROWS_WITH_AS(buf.sample(8, gen, bad), doctest::Contains("replay_buffer.sample: batch.truncated holds 3, fewer than the 8 transitions to write"),
                         rlscale::error);
    CHECK(untouched(bad));
    CHECK_THROWS_WITH_AS(buf.get(1, 3, bad), doctest::Contains("replay_buffer.get: batch.truncated holds 3, fewer than the 4"), rlscale::error);
    buf.get(1, 2, bad);  // column 2 is there in every array
    CHECK(bad.truncated(2) == 0.0F);
    bad = b;
    bad.rewards.resize(5);
    CHECK_THROWS_WITH_AS(buf.sample(6, gen, bad), doctest::Contains("batch.rewards holds 5"), rlscale::error);
    CHECK(untouched(bad));
    bad = b;
    bad.terminated.resize(0);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, bad), doctest::Contains("batch.terminated holds 0"), rlscale::error);
    bad = b;
    bad.next_observations.conservativeResize(Eigen::NoChange, 2);
    CHECK_THROWS_WITH_AS(buf.sample(3, gen, bad), doctest::Contains("batch.next_observations holds 2"), rlscale::error);
    CHECK(untouched(bad));
    bad = b;
    bad.next_observations.resize(1, 8);
    CHECK_THROWS_WITH_AS(buf.sample(1, gen, bad), doctest::Contains("replay_buffer.sample: batch.next_observations has 1 rows, the buffer 2"),
                         rlscale::error);
    CHECK(untouched(bad));
    CHECK_THROWS_WITH_AS(buf.get(0, 0, bad), doctest::Contains("replay_buffer.get: batch.next_observations has 1 rows"), rlscale::error);
    replay_buffer<float>::batch wide(3, 1, 8);
    CHECK_THROWS_WITH_AS(buf.get(0, 0, wide), doctest::Contains("replay_buffer.get: batch.observations has 3 rows, the buffer 2"), rlscale::error);
    // A batch that fits samples as before.
    buf.sample(8, gen, b);
    CHECK(b.size == 8);
    for (std::size_t j = 0; j < 8; ++j) CHECK(b.slots[j] < 3);
}

}  // namespace test_rl_replay_buffer
