#pragma once

/// AWARE's trajectory database (§3.1, Fig. 4): every step the agent or the
/// fallback takes, grouped in episodes, kept for offline training from the
/// fallback's data, for the retraining detector's episode rewards and for the
/// meta-learner's bundles of the best episodes (the top M = 20 by return).
///
/// Two stores behind one small interface:
/// - memory_trajectory_store: the last N episodes in memory;
/// - file_trajectory_store: an append-only file of CRC-checked records that
///   survives a crash of the process (and, with sync_policy::fsync, of the
///   machine) without losing an episode it reported complete, rewritten
///   with its newest episodes when it holds too many (bounded on disk).
///
/// The unit of durability is the episode: end_episode() returns once the
/// episode is in the store; an episode left open by a crash is dropped when
/// the file is reopened. The file format is described in docs/lifecycle.md
/// and above file_trajectory_store.
///
/// Neither store is thread-safe: one control loop writes. A file is opened
/// by one store at a time (an exclusive advisory lock; a second store fails
/// to open it).

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/lifecycle/detail/crc32.hpp>
#include <rlscale/lifecycle/stage.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rlscale {

/// One step of an episode.
struct trajectory_step {
    std::uint64_t episode = 0;                      ///< episode index (the store sets it)
    std::uint64_t step = 0;                         ///< position in the episode, from 0 (the store sets it)
    rlscale::stage stage = rlscale::stage::online;  ///< lifecycle stage the step was taken in
    actor_role actor = actor_role::agent;           ///< who acted
    double reward = 0;                              ///< the step's reward (finite)
    std::vector<float> state;                       ///< the observation the actor saw
    std::vector<float> action;                      ///< the action taken (the fallback's when it acted)

    friend bool operator==(const trajectory_step&, const trajectory_step&) = default;
};

/// What a store remembers of a complete episode without reading its steps.
struct episode_summary {
    std::uint64_t index = 0;                           ///< episode index, from 0, consecutive
    std::uint64_t steps = 0;                           ///< steps recorded
    double episode_return = 0;                         ///< sum of the step rewards, in step order
    rlscale::stage first_stage = stage::initialized;   ///< stage of the first step (INITIALIZED when empty)
    rlscale::stage last_stage = stage::initialized;    ///< stage of the last step (INITIALIZED when empty)

    friend bool operator==(const episode_summary&, const episode_summary&) = default;
};

/// A store of episodes. Episodes are numbered from 0 in the order they are
/// begun; a store may forget its oldest episodes (summaries() and
/// read_episode() see those it keeps), never the newest.
class trajectory_store {
public:
    virtual ~trajectory_store() = default;
    trajectory_store(const trajectory_store&) = delete;
    trajectory_store& operator=(const trajectory_store&) = delete;

    /// Opens the next episode and returns its index. Throws rlscale::error
    /// if one is already open.
    virtual std::uint64_t begin_episode() = 0;
    /// Appends a step to the open episode; its `episode` and `step` fields
    /// are set by the store. Throws rlscale::error if no episode is open or
    /// the reward is not finite.
    virtual void append(const trajectory_step& step) = 0;
    /// Closes the open episode; once this returns, the episode is in the
    /// store. Throws rlscale::error if none is open.
    virtual episode_summary end_episode() = 0;

    /// Whether an episode is open.
    [[nodiscard]] virtual bool episode_open() const noexcept = 0;
    /// Complete episodes ever recorded (kept or forgotten): the index the
    /// next episode gets.
    [[nodiscard]] virtual std::uint64_t episode_count() const noexcept = 0;
    /// Summaries of the complete episodes kept, oldest first.
    [[nodiscard]] virtual std::vector<episode_summary> summaries() const = 0;
    /// Replaces `out` with the steps of complete episode `index`. Throws
    /// rlscale::error if the store does not keep it (or cannot read it);
    /// `out` is then left as it was.
    virtual void read_episode(std::uint64_t index, std::vector<trajectory_step>& out) const = 0;

    /// The `m` kept episodes with the highest return, best first (ties: the
    /// older first): the meta-learner's trajectory bundle (AWARE: M = 20).
    [[nodiscard]] std::vector<episode_summary> top_episodes(std::size_t m) const {
        std::vector<episode_summary> all = summaries();
        const auto better = [](const episode_summary& a, const episode_summary& b) {
            if (a.episode_return != b.episode_return) return a.episode_return > b.episode_return;
            return a.index < b.index;
        };
        m = std::min(m, all.size());
        std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(), better);
        all.resize(m);
        return all;
    }

protected:
    trajectory_store() = default;
};

namespace detail {

/// The open episode's running summary, shared by the stores.
class open_episode {
public:
    explicit open_episode(std::uint64_t index) noexcept { summary_.index = index; }

    /// A step's place: its episode and its number in it.
    struct stamp {
        std::uint64_t episode = 0;
        std::uint64_t step = 0;
    };

    /// Adds `s` to the summary as this episode's next step and returns the
    /// place to stamp it with (episode, step). Throws on a non-finite reward, on a reward that would
    /// make the return non-finite (finite rewards can sum to ±inf, which
    /// would leave top_episodes() nothing to rank by), and on a stage or
    /// actor outside its enumeration (written, it would make the file
    /// unreadable). Nothing changes when it throws.
    [[nodiscard]] stamp add(const trajectory_step& s) {
        const auto refuse = [&](const std::string& what) {
            throw error("trajectory store: step " + std::to_string(summary_.steps) + " of episode " + std::to_string(summary_.index) +
                        ": " + what);
        };
        if (!std::isfinite(s.reward)) refuse("reward must be finite, got " + format_number(s.reward));
        if (const double sum = summary_.episode_return + s.reward; !std::isfinite(sum)) {
            refuse("reward " + format_number(s.reward) + " would take episode_return from " + format_number(summary_.episode_return) +
                   " to " + format_number(sum) + ", which must stay finite");
        }
        if (static_cast<unsigned>(s.stage) > static_cast<unsigned>(stage::serving)) {
            refuse("stage must be initialized, offline, online or serving, got " + std::to_string(static_cast<unsigned>(s.stage)));
        }
        if (static_cast<unsigned>(s.actor) > static_cast<unsigned>(actor_role::agent)) {
            refuse("actor must be fallback or agent, got " + std::to_string(static_cast<unsigned>(s.actor)));
        }
        const stamp at{summary_.index, summary_.steps};
        count(s.stage, s.reward);
        return at;
    }
    /// Adds a step already stamped (a replayed record).
    void count(stage st, double reward) noexcept {
        if (summary_.steps == 0) summary_.first_stage = st;
        summary_.last_stage = st;
        summary_.episode_return += reward;
        ++summary_.steps;
    }
    [[nodiscard]] const episode_summary& summary() const noexcept { return summary_; }

private:
    episode_summary summary_;
};

}  // namespace detail

/// The last `max_episodes` complete episodes in memory (the oldest are
/// dropped).
class memory_trajectory_store final : public trajectory_store {
public:
    explicit memory_trajectory_store(std::size_t max_episodes = 1000) : max_episodes_(max_episodes) {
        check_fields("memory_trajectory_store").at_least("max_episodes", max_episodes_, std::size_t{1});
    }

    std::uint64_t begin_episode() override {
        if (open_) throw error("memory_trajectory_store: begin_episode() while episode " + std::to_string(next_index_) + " is open");
        open_.emplace(next_index_);
        open_steps_.clear();
        return next_index_;
    }

    void append(const trajectory_step& step) override {
        if (!open_) throw error("memory_trajectory_store: append() with no episode open");
        trajectory_step s = step;
        // All or nothing: a step the summary counts is a step read_episode
        // returns (a push_back that cannot allocate takes the count back).
        const detail::open_episode before = *open_;
        const detail::open_episode::stamp at = open_->add(s);
        s.episode = at.episode;
        s.step = at.step;
        try {
            open_steps_.push_back(std::move(s));
        } catch (...) {
            *open_ = before;
            throw;
        }
    }

    episode_summary end_episode() override {
        if (!open_) throw error("memory_trajectory_store: end_episode() with no episode open");
        const episode_summary summary = open_->summary();
        // The deque's allocation comes first: if it fails, the steps are
        // still the open episode's (moving them into a temporary first
        // would lose them). The moves after it do not throw.
        episodes_.emplace_back();
        episodes_.back().summary = summary;
        episodes_.back().steps = std::move(open_steps_);
        open_steps_ = {};
        open_.reset();
        ++next_index_;
        while (episodes_.size() > max_episodes_) episodes_.pop_front();
        return summary;
    }

    [[nodiscard]] bool episode_open() const noexcept override { return open_.has_value(); }
    [[nodiscard]] std::uint64_t episode_count() const noexcept override { return next_index_; }
    [[nodiscard]] std::size_t max_episodes() const noexcept { return max_episodes_; }

    [[nodiscard]] std::vector<episode_summary> summaries() const override {
        std::vector<episode_summary> out;
        out.reserve(episodes_.size());
        for (const auto& e : episodes_) out.push_back(e.summary);
        return out;
    }

    void read_episode(std::uint64_t index, std::vector<trajectory_step>& out) const override {
        if (episodes_.empty() || index < episodes_.front().summary.index || index > episodes_.back().summary.index) {
            throw error("memory_trajectory_store: episode " + std::to_string(index) + " is not kept (" +
                        (episodes_.empty() ? std::string("none are")
                                           : "it keeps " + std::to_string(episodes_.front().summary.index) + " to " +
                                                 std::to_string(episodes_.back().summary.index)) +
                        ")");
        }
        const auto& e = episodes_[static_cast<std::size_t>(index - episodes_.front().summary.index)];
        std::vector<trajectory_step> steps(e.steps.begin(), e.steps.end());  // out unchanged if a copy throws
        out.swap(steps);
    }

private:
    struct episode {
        episode_summary summary;
        std::vector<trajectory_step> steps;
    };
    std::size_t max_episodes_;
    std::deque<episode> episodes_;
    std::optional<detail::open_episode> open_;
    std::vector<trajectory_step> open_steps_;
    std::uint64_t next_index_ = 0;
};

/// When file_trajectory_store makes an episode durable.
enum class sync_policy : std::uint8_t {
    flush,  ///< write() each episode to the OS at its end: survives a crash of the process (SIGKILL), not a power loss
    fsync,  ///< write() and fsync() at each episode end: survives a power loss too, at one disk flush per episode
};

struct file_trajectory_store_options {
    sync_policy sync = sync_policy::flush;     ///< when an episode becomes durable (at its end, always)
    std::size_t max_indexed_episodes = 100'000;  ///< summaries kept in memory; older episodes in the file are not read
    /// Complete episodes the file keeps: once it holds more than this plus
    /// half of it (at least one more), end_episode() rewrites it with the
    /// newest max_file_episodes (compact()). 0: the file keeps every
    /// episode and only grows. (The store remembers where each episode in
    /// the file starts, 8 bytes per episode, to know where to cut.)
    std::size_t max_file_episodes = 10'000;
    std::size_t write_buffer_bytes = 1 << 20;  ///< an open episode's records are written once this many bytes are pending
    bool salvage_prefix = false;  ///< on a corrupt record followed by a complete episode, cut the file there instead of refusing to open

    void validate() const {
        check_fields("file_trajectory_store_options")
            .at_least("max_indexed_episodes", max_indexed_episodes, std::size_t{1})
            .at_least("write_buffer_bytes", write_buffer_bytes, std::size_t{1});
    }
};

/// What opening an existing file found and repaired.
struct trajectory_recovery {
    std::uint64_t episodes = 0;         ///< complete episodes replayed (those the file holds)
    std::uint64_t stale_files_removed = 0;  ///< temporary files of a rewrite that a crash interrupted, removed
    std::uint64_t truncated_bytes = 0;  ///< bytes cut from the end of the file (0: nothing was cut)
    std::uint64_t truncated_at = 0;     ///< the file's new size when bytes were cut
    std::string reason;                 ///< why they were cut (a torn record, an unfinished episode); empty if not
    /// 0 unless the file was cut at a damaged record followed by an intact
    /// end record: the last episode torn out of order (1), or a salvage
    /// (salvage_prefix). Then the episodes that had ended after the damage,
    /// cut with it, whose numbers are given out again. That is the number
    /// in the last intact end record after the damage, minus the number the
    /// store gives out next, plus 1 (the damaged episode included, and any
    /// whose end record is damaged too); with numbering_unknown, the count
    /// of intact end records after the damage (a lower bound).
    std::uint64_t episodes_discarded = 0;
    /// Every record was cut and the first was unreadable, so the number the
    /// file's first episode had is unknown: numbering restarts at 0, and
    /// if the file had been rewritten (compact()), numbers already given
    /// out are given again. Not set when that first episode was torn out of
    /// order: its intact records say its number, 0.
    bool numbering_unknown = false;
};

namespace detail::trajectory_file {

// File layout, all integers little-endian, floats as their IEEE-754 bits:
//
//   file header (16 bytes): "RLSCTRAJ" | u32 version = 1 | u32 0
//   records, back to back:
//     u32 magic "TREC" | u32 payload length L | u8 type | u8[3] 0 | payload (L bytes) | u32 CRC-32 of the 12 + L bytes before it
//   payloads:
//     type 1 begin: u64 episode
//     type 2 step:  u64 episode | u64 step | f64 reward | u8 stage | u8 actor | u8[2] 0 | u32 n | u32 m | f32[n] state | f32[m] action
//     type 3 end:   u64 episode | u64 steps | f64 return | u8 first stage | u8 last stage | u8[6] 0
//
// An episode is complete once its end record is in the file. Episodes are
// numbered consecutively from the file's first one, which is 0 unless the
// file was rewritten with its newest episodes (compact()).

inline constexpr unsigned char file_magic[8] = {'R', 'L', 'S', 'C', 'T', 'R', 'A', 'J'};
inline constexpr std::uint32_t file_version = 1;
inline constexpr std::size_t file_header_size = 16;
inline constexpr unsigned char record_magic[4] = {'T', 'R', 'E', 'C'};
inline constexpr std::size_t record_header_size = 12;
inline constexpr std::size_t record_trailer_size = 4;
inline constexpr std::uint32_t max_payload = 64U << 20;  // 64 MiB: larger lengths are corruption
inline constexpr std::uint8_t type_begin = 1;
inline constexpr std::uint8_t type_step = 2;
inline constexpr std::uint8_t type_end = 3;
inline constexpr std::size_t begin_payload = 8;
inline constexpr std::size_t step_fixed_payload = 36;
inline constexpr std::size_t end_payload = 32;

inline void put_u8(std::vector<unsigned char>& b, std::uint8_t v) { b.push_back(v); }
inline void put_u32(std::vector<unsigned char>& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
inline void put_u64(std::vector<unsigned char>& b, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
inline void put_f32(std::vector<unsigned char>& b, float v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    put_u32(b, bits);
}
inline void put_f64(std::vector<unsigned char>& b, double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    put_u64(b, bits);
}
inline std::uint32_t get_u32(const unsigned char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    return v;
}
inline std::uint64_t get_u64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}
inline float get_f32(const unsigned char* p) noexcept {
    const std::uint32_t bits = get_u32(p);
    float v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}
inline double get_f64(const unsigned char* p) noexcept {
    const std::uint64_t bits = get_u64(p);
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}

/// Appends a record of `type` whose payload `fill` writes to `b`.
template <typename Fill>
void put_record(std::vector<unsigned char>& b, std::uint8_t type, Fill&& fill) {
    const std::size_t start = b.size();
    b.insert(b.end(), record_magic, record_magic + 4);
    put_u32(b, 0);  // length, patched below
    put_u8(b, type);
    put_u8(b, 0);
    put_u8(b, 0);
    put_u8(b, 0);
    fill(b);
    const auto length = static_cast<std::uint32_t>(b.size() - start - record_header_size);
    for (int i = 0; i < 4; ++i) b[start + 4 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(length >> (8 * i));
    put_u32(b, crc32(b.data() + start, b.size() - start));
}

inline void put_begin(std::vector<unsigned char>& b, std::uint64_t episode) {
    put_record(b, type_begin, [&](std::vector<unsigned char>& p) { put_u64(p, episode); });
}

/// Step `s` at `at` (its own episode and step fields are not read).
inline void put_step(std::vector<unsigned char>& b, const trajectory_step& s, open_episode::stamp at) {
    put_record(b, type_step, [&](std::vector<unsigned char>& p) {
        put_u64(p, at.episode);
        put_u64(p, at.step);
        put_f64(p, s.reward);
        put_u8(p, static_cast<std::uint8_t>(s.stage));
        put_u8(p, static_cast<std::uint8_t>(s.actor));
        put_u8(p, 0);
        put_u8(p, 0);
        put_u32(p, static_cast<std::uint32_t>(s.state.size()));
        put_u32(p, static_cast<std::uint32_t>(s.action.size()));
        for (const float x : s.state) put_f32(p, x);
        for (const float x : s.action) put_f32(p, x);
    });
}

inline void put_end(std::vector<unsigned char>& b, const episode_summary& e) {
    put_record(b, type_end, [&](std::vector<unsigned char>& p) {
        put_u64(p, e.index);
        put_u64(p, e.steps);
        put_f64(p, e.episode_return);
        put_u8(p, static_cast<std::uint8_t>(e.first_stage));
        put_u8(p, static_cast<std::uint8_t>(e.last_stage));
        for (int i = 0; i < 6; ++i) put_u8(p, 0);
    });
}

/// A record found at an offset: whole and CRC-checked (`problem` empty), or
/// not, with the reason.
struct record {
    std::string problem;                  ///< why the bytes there are not a record; empty when they are
    std::uint8_t type = 0;                ///< record type
    const unsigned char* payload = nullptr;  ///< L bytes, valid until the reader's next read
    std::uint32_t length = 0;             ///< L
    std::uint64_t next = 0;               ///< offset just past the record
};

/// Reads a file through a window of a megabyte at a time.
class reader {
public:
    reader(int fd, std::uint64_t size, const std::string& path) : fd_(fd), size_(size), path_(path) {}

    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

    /// `n` bytes at `offset`, or nullptr if the file ends first.
    const unsigned char* view(std::uint64_t offset, std::size_t n) {
        if (offset > size_ || n > size_ - offset) return nullptr;
        if (offset >= window_offset_ && offset + n <= window_offset_ + window_.size()) {
            return window_.data() + (offset - window_offset_);
        }
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::size_t>(n, chunk), size_ - offset));
        window_.resize(want);
        std::size_t done = 0;
        while (done < want) {
            const ::ssize_t r = ::pread(fd_, window_.data() + done, want - done, static_cast<::off_t>(offset + done));
            if (r < 0) {
                if (errno == EINTR) continue;
                const int saved = errno;
                window_.clear();
                throw error("trajectory store '" + path_ + "': read failed at offset " + std::to_string(offset + done) +
                            ": " + std::strerror(saved));
            }
            if (r == 0) {
                window_.clear();
                throw error("trajectory store '" + path_ + "': file shrank while reading at offset " +
                            std::to_string(offset + done));
            }
            done += static_cast<std::size_t>(r);
        }
        window_offset_ = offset;
        return window_.data();
    }

    /// The record at `offset`.
    record at(std::uint64_t offset) {
        record r;
        const unsigned char* h = view(offset, record_header_size);
        if (h == nullptr) {
            r.problem = "torn record header (" + std::to_string(size_ - offset) + " bytes before the end of the file)";
            return r;
        }
        if (std::memcmp(h, record_magic, 4) != 0) {
            r.problem = "no record magic";
            return r;
        }
        r.length = get_u32(h + 4);
        r.type = h[8];
        if (r.length > max_payload) {
            r.problem = "record length " + std::to_string(r.length) + " is over the limit";
            return r;
        }
        const std::size_t whole = record_header_size + r.length + record_trailer_size;
        const unsigned char* p = view(offset, whole);
        if (p == nullptr) {
            r.problem = "torn record (" + std::to_string(whole) + " bytes declared, " + std::to_string(size_ - offset) +
                        " before the end of the file)";
            return r;
        }
        if (crc32(p, whole - record_trailer_size) != get_u32(p + whole - record_trailer_size)) {
            r.problem = "CRC mismatch";
            return r;
        }
        r.payload = p + record_header_size;
        r.next = offset + whole;
        return r;
    }

private:
    static constexpr std::size_t chunk = 1 << 20;
    int fd_;
    std::uint64_t size_;
    const std::string& path_;
    std::vector<unsigned char> window_;
    std::uint64_t window_offset_ = 0;
};

}  // namespace detail::trajectory_file

/// Episodes in an append-only file of length-prefixed, CRC-32-checked
/// records (layout in detail::trajectory_file and docs/lifecycle.md).
///
/// Opening a file replays it: every record is checked, the summaries of the
/// last max_indexed_episodes complete episodes are indexed, a temporary
/// file left beside it by a rewrite that a crash interrupted is removed,
/// and a torn tail
/// (a record cut short or failing its CRC at the end of the file, and the
/// records of an episode that never ended) is cut off, leaving every
/// complete episode before it. So is the last episode torn out of order:
/// a damaged record followed by intact records of its own episode only,
/// its end record among them and the last bytes of the file (a power loss
/// before the episode's fsync can leave its pages on disk in any order). Any other corrupt record followed
/// by a complete episode is not a torn tail: the store refuses to open
/// (rlscale::error naming the file and the offset) unless salvage_prefix is
/// set. A record
/// that passes its CRC but does not fit the sequence (an episode number out
/// of order, an unknown type) is refused the same way.
///
/// Bounded on disk: when the file holds more than max_file_episodes and
/// half again, end_episode() rewrites it with the newest max_file_episodes
/// (compact(): a temporary file beside it, synced, locked and renamed over
/// it, so a crash at any moment leaves the old file or the new one whole,
/// and another store cannot open either). A rewrite is refused when the
/// path no longer names the store's file, or the file has another name.
///
/// Refused at open: a path that is not a regular file (a FIFO, a device),
/// and a file with more than one name (hard links), which a rewrite would
/// separate, leaving the others outside the store's lock.
///
/// POSIX I/O (open, pwrite, pread, fsync, ftruncate, flock) rather than
/// std::fstream: recovery needs ftruncate, durability needs fsync (a
/// stream's flush only reaches the C library's buffer), and reads at an
/// offset (pread) leave the append position alone.
class file_trajectory_store final : public trajectory_store {
public:
    explicit file_trajectory_store(std::filesystem::path path, file_trajectory_store_options options = {})
        : path_(std::move(path)), options_(options) {
        options_.validate();
        // Only a regular file can hold a store: a FIFO or a device would
        // open and then fail at the first write with an error that does not
        // say why, and opening a device can do things of its own. So the
        // path is checked before it is opened (and opened without blocking,
        // without taking a terminal), and what was opened is checked again.
        if (struct ::stat named {}; ::stat(path_string_.c_str(), &named) == 0) refuse_unless_regular(named);
        // A rewrite renames a new file over the path: a lock taken on the
        // file it replaced (opened just before the rename) is on a file no
        // longer there, so the lock must be on the file the path names
        // once it is held. Another store's rewrites can move it a few times
        // at most while this one tries.
        for (int attempt = 0;; ++attempt) {
            fd_ = ::open(path_string_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644);
            if (fd_ < 0) fail_errno("cannot open", 0);
            try {
                struct ::stat opened {};
                if (::fstat(fd_, &opened) != 0) fail_errno("cannot stat", 0);
                refuse_unless_regular(opened);
                // Another store opening a file beside this one may hold this
                // file's lock for an instant while it checks whether it is a
                // stale rewrite (remove_if_abandoned): a few short tries
                // before calling it open elsewhere.
                for (int tries = 1; ::flock(fd_, LOCK_EX | LOCK_NB) != 0; ++tries) {
                    if (errno != EWOULDBLOCK) fail_errno("cannot lock", 0);
                    if (tries == 20) throw error(where(0) + "is open in another trajectory store");
                    const ::timespec pause{0, 1'000'000};  // 1 ms
                    ::nanosleep(&pause, nullptr);
                }
                struct ::stat held {};
                struct ::stat named {};
                if (::fstat(fd_, &held) != 0) fail_errno("cannot stat", 0);
                // A file with other names (hard links): a rewrite replaces
                // this name only, the others keep the old file, and a store
                // opened through one of them would write the same episodes
                // at once, as this one's lock moves to the new file.
                if (held.st_nlink > 1) {
                    throw error(where(0) + "has " + std::to_string(held.st_nlink) +
                                " links (hard links: other names for the same file); a rewrite would replace this name only, "
                                "so this store's lock would no longer cover the others");
                }
                if (::stat(path_string_.c_str(), &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino) break;
                if (attempt == 8) throw error(where(0) + "is replaced by another trajectory store's rewrites while this one opens it");
            } catch (...) {
                ::close(fd_);
                fd_ = -1;
                throw;
            }
            ::close(fd_);
        }
        try {
            // Opened without blocking for the checks above: a regular file's
            // reads and writes do not block anyway, so this only restores the
            // usual flags.
            const int flags = ::fcntl(fd_, F_GETFL);
            if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) fail_errno("cannot set its file flags", 0);
            // Rewrites replace the file itself, not a symbolic link to it.
            std::error_code ec;
            real_path_ = std::filesystem::canonical(path_, ec);
            if (ec) throw error(where(0) + "cannot resolve its path: " + ec.message());
            remove_stale_rewrites();
            replay();
            // The file's name is durable once its directory is: a file just
            // created, or one an earlier store wrote under sync_policy::flush.
            if (options_.sync == sync_policy::fsync) {
                if (const int e = sync_directory(real_path_.parent_path()); e != 0) {
                    errno = e;
                    fail_errno("cannot sync its directory (the file's name may not survive a power loss)", 0);
                }
            }
        } catch (...) {
            ::close(fd_);
            fd_ = -1;
            throw;
        }
    }

    ~file_trajectory_store() override {
        if (fd_ < 0) return;
        // An episode left open is not in the store: cut what was written of it.
        if (open_ && !broken_ && write_offset_ > committed_end_) {
            (void)::ftruncate(fd_, static_cast<::off_t>(committed_end_));
        }
        ::close(fd_);
    }

    std::uint64_t begin_episode() override {
        usable();
        if (open_) throw error(where(write_offset_) + "begin_episode() while episode " + std::to_string(next_index_) + " is open");
        // A record that could not be encoded whole (the buffer could not
        // grow) is taken back, so no part of it reaches the file.
        const std::size_t mark = pending_.size();
        try {
            detail::trajectory_file::put_begin(pending_, next_index_);
        } catch (...) {
            pending_.resize(mark);
            throw;
        }
        episode_offset_ = write_offset_ + mark;
        open_.emplace(next_index_);
        return next_index_;
    }

    void append(const trajectory_step& step) override {
        usable();
        if (!open_) throw error(where(write_offset_) + "append() with no episode open");
        const std::uint64_t floats = static_cast<std::uint64_t>(step.state.size()) + step.action.size();
        constexpr std::uint64_t max_floats = (detail::trajectory_file::max_payload - detail::trajectory_file::step_fixed_payload) / 4;
        if (floats > max_floats) {
            throw error(where(write_offset_) + "a step's state (" + std::to_string(step.state.size()) + " floats) and action (" +
                        std::to_string(step.action.size()) + " floats) are over the record limit of " + std::to_string(max_floats) +
                        " floats together");
        }
        // All or nothing: a record that could not be encoded whole (the
        // buffer could not grow) is taken back with its count, so no part
        // of it reaches the file and the next step gets its number.
        const detail::open_episode before = *open_;
        const std::size_t mark = pending_.size();
        // Encoded straight from the caller's step, stamped on the way.
        const detail::open_episode::stamp at = open_->add(step);
        try {
            detail::trajectory_file::put_step(pending_, step, at);
        } catch (...) {
            pending_.resize(mark);
            *open_ = before;
            throw;
        }
        if (pending_.size() >= options_.write_buffer_bytes) write_pending();
    }

    episode_summary end_episode() override {
        usable();
        if (!open_) throw error(where(write_offset_) + "end_episode() with no episode open");
        const episode_summary summary = open_->summary();
        // Everything that can fail for want of memory comes before the end
        // record is written: the index's room for the episode, then the
        // record itself (taken back whole if the buffer cannot grow). A
        // bad_alloc leaves the episode open and nothing of its end in the
        // file, so end_episode() can be called again.
        reserve_index_entry();
        const std::size_t mark = pending_.size();
        try {
            detail::trajectory_file::put_end(pending_, summary);
        } catch (...) {
            pending_.resize(mark);
            unreserve_index_entry();
            throw;
        }
        try {
            write_pending();
        } catch (...) {
            unreserve_index_entry();
            throw;
        }
        // Committed: nothing from here to the fsync throws.
        open_.reset();
        committed_end_ = write_offset_;
        ++next_index_;
        fill_index_entry(summary, episode_offset_, committed_end_ - episode_offset_);
        // The episode is written and counted: if the fsync fails, it stays
        // in the store as it is in the file, and only its durability is
        // in doubt.
        if (options_.sync == sync_policy::fsync && ::fsync(fd_) != 0) {
            unsynced_ = {.error = errno, .step = "fsync of the file", .after = next_index_};
            fail_errno("fsync failed after episode " + std::to_string(summary.index) +
                           " (it is in the store, its durability is unknown; the store takes no more writes until compact() "
                           "rewrites the file)",
                       committed_end_);
        }
        // The episode is in the store: a rewrite that fails now is counted
        // and tried again later, not reported as this episode's failure.
        if (options_.max_file_episodes > 0 && next_index_ >= next_rewrite_at_ &&
            episodes_in_file() > options_.max_file_episodes + rewrite_slack()) {
            try {
                rewrite();
            } catch (const std::exception& e) {
                ++rewrite_failures_;
                next_rewrite_at_ = next_index_ + rewrite_slack();
                // The episode is committed: not even a failure to copy
                // the message escapes.
                try {
                    last_rewrite_error_ = e.what();
                } catch (...) {
                    last_rewrite_error_.clear();
                }
            }
        }
        return summary;
    }

    /// Rewrites the file with its newest max_file_episodes complete
    /// episodes (when it is 0, or the file holds no more, there is nothing
    /// to do, except after a failed sync: below): their records,
    /// copied as they are, go to a temporary file beside it, which is
    /// synced (whatever the sync policy: it replaces episodes already
    /// durable), locked and renamed over the file. Episodes keep their
    /// numbers. end_episode() calls it when the file holds too many; a
    /// caller may call it between episodes. Throws rlscale::error with an
    /// episode open, or when the rewrite fails; the store and its file are
    /// then as they were.
    ///
    /// After a failed sync (the store then takes no more writes), it
    /// rewrites the file however many episodes it holds (still dropping
    /// all but the newest max_file_episodes when it holds more): every
    /// byte of the new file is written and synced afresh, so what the
    /// failed sync left unwritten is on disk once it returns, and the store
    /// takes writes again. Every record copied is checked first: pages the
    /// failed sync did not write that have left the page cache since read
    /// back as what the disk holds, and the rewrite is then refused. Under sync_policy::fsync, a rewrite whose directory cannot be
    /// synced throws after the store has moved to the new file, which then
    /// takes no more writes (the rename may not survive a power loss).
    void compact() {
        rewrite();
        usable();
    }

    [[nodiscard]] bool episode_open() const noexcept override { return open_.has_value(); }
    [[nodiscard]] std::uint64_t episode_count() const noexcept override { return next_index_; }

    [[nodiscard]] std::vector<episode_summary> summaries() const override {
        std::vector<episode_summary> out;
        out.reserve(index_.size());
        for (const auto& e : index_) out.push_back(e.summary);
        return out;
    }

    void read_episode(std::uint64_t index, std::vector<trajectory_step>& out) const override {
        namespace tf = detail::trajectory_file;
        if (index_.empty() || index < index_.front().summary.index || index > index_.back().summary.index) {
            throw error("trajectory store '" + path_string_ + "': episode " + std::to_string(index) + " is not indexed (" +
                        (index_.empty() ? std::string("none are")
                                        : "the index holds " + std::to_string(index_.front().summary.index) + " to " +
                                              std::to_string(index_.back().summary.index)) +
                        ")");
        }
        const entry& e = index_[static_cast<std::size_t>(index - index_.front().summary.index)];
        tf::reader in(fd_, e.offset + e.length, path_string_);
        std::vector<trajectory_step> steps;  // into `out` only once whole: a throw leaves it as it was
        steps.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(e.summary.steps, 1u << 20)));
        std::uint64_t at = e.offset;
        const auto bad = [&](const std::string& what) {
            return error(where(at) + "episode " + std::to_string(index) + ": " + what + " (the file changed after it was opened)");
        };
        for (;;) {
            const tf::record r = in.at(at);
            if (!r.problem.empty()) throw bad(r.problem);
            if (r.type == tf::type_end) break;
            if (r.type == tf::type_step) {
                trajectory_step s;
                if (!decode_step(r, s)) throw bad("malformed step record");
                if (s.episode != index || s.step != steps.size()) throw bad("a step record out of sequence");
                steps.push_back(std::move(s));
            }
            at = r.next;
        }
        if (steps.size() != e.summary.steps) throw bad("holds " + std::to_string(steps.size()) + " steps, the index " + std::to_string(e.summary.steps));
        out.swap(steps);
    }

    /// What opening the file found and repaired.
    [[nodiscard]] const trajectory_recovery& recovery() const noexcept { return recovery_; }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// The file's size once every complete episode is written.
    [[nodiscard]] std::uint64_t committed_size() const noexcept { return committed_end_; }
    /// Complete episodes the file holds (from first_episode_in_file() on).
    [[nodiscard]] std::uint64_t episodes_in_file() const noexcept { return next_index_ - first_in_file_; }
    /// The number of the oldest episode the file holds.
    [[nodiscard]] std::uint64_t first_episode_in_file() const noexcept { return first_in_file_; }
    /// Rewrites done since the store opened (compact()).
    [[nodiscard]] std::uint64_t rewrites() const noexcept { return rewrites_; }
    /// Rewrites end_episode() attempted that failed (each tried again
    /// after max_file_episodes / 2 more episodes), and the last one's error.
    [[nodiscard]] std::uint64_t rewrite_failures() const noexcept { return rewrite_failures_; }
    [[nodiscard]] const std::string& last_rewrite_error() const noexcept { return last_rewrite_error_; }

private:
    /// compact() without its final check: end_episode() calls it, and counts
    /// a rewrite that throws as failed.
    void rewrite() {
        namespace tf = detail::trajectory_file;
        if (broken_) usable();
        if (open_) throw error(where(write_offset_) + "compact() while episode " + std::to_string(next_index_) + " is open");
        const std::uint64_t in_file = episodes_in_file();
        const bool recovering = unsynced_.error != 0;
        const bool over = options_.max_file_episodes > 0 && in_file > options_.max_file_episodes;
        if (!over && !recovering) return;
        const std::uint64_t dropped = over ? in_file - options_.max_file_episodes : 0;
        // Nothing dropped: from the file's first record (episode_offsets_
        // is kept only with a max_file_episodes, and is empty without episodes).
        const std::uint64_t from = dropped == 0 ? tf::file_header_size : episode_offsets_[static_cast<std::size_t>(dropped)];
        const std::uint64_t first_kept = first_in_file_ + dropped;
        const std::uint64_t kept_bytes = committed_end_ - from;
        // Everything that can throw before the file exists (after it, only
        // `abandon` throws, having closed and removed it).
        std::vector<unsigned char> chunk(std::size_t{1} << 20);
        const std::string target = real_path_.string();
        const std::filesystem::path dir = real_path_.parent_path();
        std::string tmp = target + std::string(rewrite_suffix) + "XXXXXX";
        struct ::stat mode {};
        if (::fstat(fd_, &mode) != 0) fail_errno("cannot stat it to rewrite it", 0);
        const int tfd = ::mkostemp(tmp.data(), O_CLOEXEC);
        if (tfd < 0) fail_errno("cannot create a file beside it to rewrite it", 0);
        // What the rewrite keeps, for its errors.
        const auto rewriting = [&] {
            const std::string kept = first_kept < next_index_
                                         ? "episodes " + std::to_string(first_kept) + " to " + std::to_string(next_index_ - 1)
                                         : std::string("no episode");
            return "rewriting it with " + kept + (recovering ? " after a failed sync" : "");
        };
        const auto remove_new_file = [&]() noexcept {
            ::close(tfd);
            (void)::unlink(tmp.c_str());  // allocates nothing, so it cannot throw
        };
        const auto abandon = [&](const std::string& step) {
            const int saved = errno;
            remove_new_file();
            throw error(where(from) + rewriting() + ": " + step + " ('" + tmp + "'): " + std::strerror(saved) + "; the file is unchanged");
        };
        if (::flock(tfd, LOCK_EX | LOCK_NB) != 0) abandon("cannot lock the new file");
        std::array<unsigned char, tf::file_header_size> header{};
        std::memcpy(header.data(), tf::file_magic, 8);
        for (int i = 0; i < 4; ++i) header[8 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(tf::file_version >> (8 * i));
        if (!write_all_at(tfd, header.data(), header.size(), 0)) abandon("write failed");
        for (std::uint64_t done = 0; done < kept_bytes;) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), kept_bytes - done));
            const ::ssize_t r = ::pread(fd_, chunk.data(), n, static_cast<::off_t>(from + done));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                if (r == 0) errno = EIO;  // the file shrank under the store
                abandon("read failed");
            }
            if (!write_all_at(tfd, chunk.data(), static_cast<std::size_t>(r), tf::file_header_size + done)) abandon("write failed");
            done += static_cast<std::uint64_t>(r);
        }
        // After a failed sync, the pages it could not write may have left
        // the page cache since, and the copy then holds what the disk has
        // there: every record copied must pass its checks, or the rewrite
        // is refused (those episodes are lost; reopening the file with
        // salvage_prefix keeps the ones before them).
        if (recovering) {
            std::string problem;
            std::uint64_t at = tf::file_header_size;
            try {
                tf::reader copy(tfd, tf::file_header_size + kept_bytes, tmp);
                while (at < tf::file_header_size + kept_bytes) {
                    const tf::record r = copy.at(at);
                    if (!r.problem.empty()) {
                        problem = r.problem;
                        break;
                    }
                    at = r.next;
                }
            } catch (...) {  // a failed read, or no memory for the reader's buffer
                remove_new_file();
                throw;
            }
            if (!problem.empty()) {
                remove_new_file();
                throw error(where(at - tf::file_header_size + from) + rewriting() + ": " + problem +
                            "; the file no longer holds what the failed sync did not write, and the store still takes no writes");
            }
        }
        // The file's own permissions and owner (best effort: only root may
        // give a file away).
        if (::fchmod(tfd, mode.st_mode & 07777) != 0) abandon("chmod failed");
        (void)::fchown(tfd, mode.st_uid, mode.st_gid);
        if (::fsync(tfd) != 0) abandon("fsync failed");
        // The rename replaces whatever the path names now. It must still be
        // this store's file, and its only name: the file may have been
        // renamed or removed since the store opened it, and another store
        // may hold a new file of that name (its episodes would be lost, and
        // it would go on writing to a file with no name), or a hard link
        // made since would keep the old file under another name, where
        // another store could open it and write the same episodes. The
        // rewrite is then refused, and the store goes on with its file.
        {
            const auto refuse = [&](const std::string& why) {
                remove_new_file();
                throw error(where(from) + rewriting() + ": " + why + "; the file is unchanged");
            };
            struct ::stat held {};
            struct ::stat named {};
            if (::fstat(fd_, &held) != 0) {
                const int saved = errno;
                refuse(std::string("cannot stat the file: ") + std::strerror(saved));
            }
            if (::stat(target.c_str(), &named) != 0) {
                const int saved = errno;
                refuse("the path no longer names this store's file ('" + target + "': " + std::strerror(saved) + ")");
            }
            if (named.st_dev != held.st_dev || named.st_ino != held.st_ino) {
                refuse("the path no longer names this store's file ('" + target +
                       "' is another file: this store's was renamed or replaced since the store opened it)");
            }
            if (held.st_nlink > 1) {
                refuse("the file has " + std::to_string(held.st_nlink) +
                       " links (hard links made since the store opened it): a rewrite would replace this name only, and the "
                       "store's lock would no longer cover the others");
            }
        }
        if (::rename(tmp.c_str(), target.c_str()) != 0) abandon("rename failed");
        // From here nothing throws: the store moves to the new file now.
        ::close(fd_);  // the old file, and its lock: the new one is locked
        fd_ = tfd;
        // The rename is durable once the directory is. Until then a power
        // loss can bring the old file back, which holds every episode
        // reported durable so far, but not the ones written to the new file
        // from now on: under fsync, a directory that cannot be synced stops
        // the store (see unsynced_).
        if (const int e = sync_directory(dir); e != 0 && options_.sync == sync_policy::fsync) {
            unsynced_ = {.error = e, .step = "syncing the directory after rewriting the file", .after = next_index_};
        } else {
            unsynced_ = {};  // every byte of the file is on disk
        }
        const std::uint64_t shift = from - tf::file_header_size;
        while (!index_.empty() && index_.front().summary.index < first_kept) index_.pop_front();
        for (entry& e : index_) e.offset -= shift;
        episode_offsets_.erase(episode_offsets_.begin(), episode_offsets_.begin() + static_cast<std::ptrdiff_t>(dropped));
        for (std::uint64_t& o : episode_offsets_) o -= shift;
        first_in_file_ = first_kept;
        committed_end_ -= shift;
        write_offset_ = committed_end_;
        ++rewrites_;
    }

    struct entry {
        episode_summary summary;
        std::uint64_t offset = 0;  // of its begin record
        std::uint64_t length = 0;  // through its end record
    };

    [[nodiscard]] std::string where(std::uint64_t offset) const {
        return "trajectory store '" + path_string_ + "' at offset " + std::to_string(offset) + ": ";
    }
    [[noreturn]] void fail_errno(const std::string& what, std::uint64_t offset) const {
        const int saved = errno;
        throw error(where(offset) + what + ": " + std::strerror(saved));
    }
    void usable() const {
        if (broken_) throw error(where(committed_end_) + "unusable after a failed write that could not be undone");
        if (unsynced_.error != 0) {
            throw error(where(committed_end_) + "takes no more writes: " + unsynced_.step + " failed after episode " +
                        std::to_string(unsynced_.after - 1) + " (" + std::strerror(unsynced_.error) +
                        "), and a later sync could succeed without what it failed to write; compact() rewrites the file, and "
                        "the store then takes writes again");
        }
    }

    /// Throws unless `st` is a regular file's: a store opened on a FIFO or
    /// a device would fail at its first write without saying why.
    void refuse_unless_regular(const struct ::stat& st) const {
        if (S_ISREG(st.st_mode)) return;
        const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "of an unknown type";
        throw error(where(0) + "is not a regular file (it is " + what + "); a trajectory store is kept in a regular file");
    }

    /// What a rewrite's temporary file is called after the store's path.
    static constexpr std::string_view rewrite_suffix = ".rewrite.";

    /// How many episodes past max_file_episodes the file may hold before
    /// it is rewritten: half of it, at least one (amortised: each episode
    /// is copied about twice at most).
    [[nodiscard]] std::uint64_t rewrite_slack() const noexcept { return std::max<std::uint64_t>(1, options_.max_file_episodes / 2); }

    static bool write_all_at(int fd, const unsigned char* p, std::size_t n, std::uint64_t offset) {
        for (std::size_t done = 0; done < n;) {
            const ::ssize_t w = ::pwrite(fd, p + done, n - done, static_cast<::off_t>(offset + done));
            if (w < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            done += static_cast<std::size_t>(w);
        }
        return true;
    }

    /// fsyncs directory `dir`: 0, or the errno of opening or syncing it.
    /// A filesystem that cannot sync a directory at all (EINVAL, or EBADF
    /// for a directory opened read-only: some network and FUSE mounts)
    /// counts as synced, as there is nothing more to do.
    [[nodiscard]] static int sync_directory(const std::filesystem::path& dir) noexcept {
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return errno;
        int e = ::fsync(dfd) == 0 ? 0 : errno;
        if (e == EINVAL || e == EBADF) e = 0;
        ::close(dfd);
        return e;
    }

    /// Removes the temporary files of rewrites a crash interrupted (only
    /// the store holding the file's lock rewrites it, so with the lock held
    /// any such file is stale). A file is removed only if its name is the
    /// temporary name's pattern, nobody holds its lock (another store whose
    /// own file happens to be so named does) and it begins as a trajectory
    /// store does, begins with zeros (a crash before the header reached the
    /// disk), or is empty and was last written over a minute ago (a store
    /// creating a file of that name holds an empty one for a moment):
    /// anything else of that name is left alone.
    void remove_stale_rewrites() {
        const std::filesystem::path dir = real_path_.parent_path();
        const std::string prefix = real_path_.filename().string() + std::string(rewrite_suffix);
        std::error_code ec;
        std::vector<std::filesystem::path> candidates;
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.size() == prefix.size() + 6 && name.starts_with(prefix)) candidates.push_back(it->path());
        }
        for (const auto& p : candidates) {
            if (remove_if_abandoned(p)) ++recovery_.stale_files_removed;
        }
    }

    /// Removes `p` if it is a rewrite's temporary file that nobody writes:
    /// a regular file beginning with (a prefix of) the file magic or with
    /// zeros, or empty and older than a minute, whose lock is free. The lock
    /// is held until the name is gone, and the name must still be the file
    /// locked. A store opening a file of that name meanwhile finds its name
    /// gone and opens again (its own check), or finds it locked for an
    /// instant and tries again (the constructor's short retries).
    [[nodiscard]] static bool remove_if_abandoned(const std::filesystem::path& p) noexcept {
        namespace tf = detail::trajectory_file;
        // Read-write: over NFS an exclusive lock needs a descriptor open for writing.
        const int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) return false;
        bool removed = false;
        struct ::stat st {};
        // An empty file written within the last minute may be a store's own,
        // between its creation and its lock: not touched, not even locked.
        const auto old_enough = [](const struct ::stat& s) {
            return s.st_size > 0 || std::time(nullptr) - s.st_mtim.tv_sec > 60;
        };
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && old_enough(st) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            unsigned char head[sizeof tf::file_magic] = {};
            const ::ssize_t n = ::pread(fd, head, sizeof head, 0);
            const unsigned char zeros[sizeof head] = {};
            const auto len = static_cast<std::size_t>(std::max<::ssize_t>(n, 0));
            const bool ours = n >= 0 && (std::memcmp(head, tf::file_magic, len) == 0 || std::memcmp(head, zeros, len) == 0);
            struct ::stat now {};
            removed = ours && ::lstat(p.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino &&
                      ::unlink(p.c_str()) == 0;
        }
        ::close(fd);  // releases the lock, after the name is gone
        return removed;
    }

    void index_entry(const episode_summary& s, std::uint64_t offset, std::uint64_t length) {
        reserve_index_entry();
        fill_index_entry(s, offset, length);
    }
    /// Makes room for one more episode in the index and the offsets (a
    /// deque has no reserve(): an element is added now and filled by
    /// fill_index_entry()), so that recording a committed episode cannot
    /// fail for want of memory and leave them out of step with the file.
    void reserve_index_entry() {
        index_.emplace_back();
        if (options_.max_file_episodes > 0) {
            try {
                episode_offsets_.emplace_back();
            } catch (...) {
                index_.pop_back();
                throw;
            }
        }
    }
    /// Takes back the room reserve_index_entry() made.
    void unreserve_index_entry() noexcept {
        index_.pop_back();
        if (options_.max_file_episodes > 0) episode_offsets_.pop_back();
    }
    /// Fills the room reserve_index_entry() made.
    void fill_index_entry(const episode_summary& s, std::uint64_t offset, std::uint64_t length) noexcept {
        index_.back() = {s, offset, length};
        if (options_.max_file_episodes > 0) episode_offsets_.back() = offset;
        while (index_.size() > options_.max_indexed_episodes) index_.pop_front();
    }

    /// Writes the pending bytes at write_offset_. On failure the file is cut
    /// back to the last complete episode, the open episode is dropped and
    /// rlscale::error is thrown.
    void write_pending() {
        std::size_t done = 0;
        while (done < pending_.size()) {
            const ::ssize_t n = ::pwrite(fd_, pending_.data() + done, pending_.size() - done,
                                         static_cast<::off_t>(write_offset_ + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                const int saved = errno;
                const std::uint64_t failed_at = write_offset_ + done;
                pending_.clear();
                open_.reset();
                write_offset_ = committed_end_;
                if (::ftruncate(fd_, static_cast<::off_t>(committed_end_)) != 0) broken_ = true;
                throw error(where(failed_at) + "write failed, the open episode is dropped: " + std::strerror(saved));
            }
            done += static_cast<std::size_t>(n);
        }
        write_offset_ += pending_.size();
        pending_.clear();
    }

    static bool decode_step(const detail::trajectory_file::record& r, trajectory_step& s) {
        namespace tf = detail::trajectory_file;
        if (r.length < tf::step_fixed_payload) return false;
        const unsigned char* p = r.payload;
        const std::uint32_t n = tf::get_u32(p + 28);
        const std::uint32_t m = tf::get_u32(p + 32);
        if (r.length != tf::step_fixed_payload + 4 * (static_cast<std::uint64_t>(n) + m)) return false;
        if (p[24] > static_cast<unsigned char>(stage::serving) || p[25] > static_cast<unsigned char>(actor_role::agent)) {
            return false;
        }
        s.episode = tf::get_u64(p);
        s.step = tf::get_u64(p + 8);
        s.reward = tf::get_f64(p + 16);
        s.stage = static_cast<stage>(p[24]);
        s.actor = static_cast<actor_role>(p[25]);
        s.state.resize(n);
        s.action.resize(m);
        const unsigned char* f = p + tf::step_fixed_payload;
        for (std::uint32_t i = 0; i < n; ++i, f += 4) s.state[i] = tf::get_f32(f);
        for (std::uint32_t i = 0; i < m; ++i, f += 4) s.action[i] = tf::get_f32(f);
        return true;
    }

    void write_header() {
        namespace tf = detail::trajectory_file;
        std::vector<unsigned char> h(tf::file_magic, tf::file_magic + 8);
        tf::put_u32(h, tf::file_version);
        tf::put_u32(h, 0);
        pending_ = std::move(h);
        write_offset_ = 0;
        committed_end_ = 0;
        write_pending();
        committed_end_ = write_offset_;
        if (options_.sync == sync_policy::fsync && ::fsync(fd_) != 0) fail_errno("fsync failed", 0);
    }

    void cut(std::uint64_t at, std::uint64_t size, std::string reason) {
        if (::ftruncate(fd_, static_cast<::off_t>(at)) != 0) fail_errno("cannot cut the torn tail", at);
        if (options_.sync == sync_policy::fsync && ::fsync(fd_) != 0) fail_errno("fsync failed", at);
        recovery_.truncated_bytes = size - at;
        recovery_.truncated_at = at;
        recovery_.reason = std::move(reason);
    }

    /// Reads the whole file: checks the header, indexes the complete
    /// episodes, cuts a torn tail.
    void replay() {
        namespace tf = detail::trajectory_file;
        struct ::stat st {};
        if (::fstat(fd_, &st) != 0) fail_errno("cannot stat", 0);
        const auto size = static_cast<std::uint64_t>(st.st_size);
        tf::reader in(fd_, size, path_string_);

        // The header: a new file gets one; a header cut short by a crash at
        // creation is rewritten; anything else that is not ours is refused.
        if (size < tf::file_header_size) {
            const unsigned char* h = in.view(0, static_cast<std::size_t>(size));
            unsigned char expected[tf::file_header_size] = {};
            std::memcpy(expected, tf::file_magic, 8);
            expected[8] = static_cast<unsigned char>(tf::file_version);
            const unsigned char zeros[tf::file_header_size] = {};
            const bool zeroed = size > 0 && std::memcmp(h, zeros, static_cast<std::size_t>(size)) == 0;
            if (size > 0 && !zeroed && std::memcmp(h, expected, static_cast<std::size_t>(size)) != 0) {
                throw error(where(0) + "not an rlscale trajectory store (no file header)");
            }
            if (size > 0) cut(0, size, zeroed ? zeroed_header_reason : "torn file header");
            write_header();
            return;
        }
        const unsigned char* h = in.view(0, tf::file_header_size);
        if (const unsigned char zeros[tf::file_header_size] = {}; std::memcmp(h, zeros, tf::file_header_size) == 0) {
            // A new store's header is not synced under sync_policy::flush: a
            // machine that stopped may leave the file's size without its
            // bytes (XFS, ext4 with data=writeback), reading as zeros. Only
            // a file of nothing but zeros is taken back to empty; one with
            // anything else after a zeroed header is refused.
            if (!all_zeros(in, tf::file_header_size)) {
                throw error(where(0) + "file header is zeros, and the file holds other bytes after it: not recovered");
            }
            cut(0, size, zeroed_header_reason);
            write_header();
            return;
        }
        if (std::memcmp(h, tf::file_magic, 8) != 0) throw error(where(0) + "not an rlscale trajectory store (no file header)");
        if (tf::get_u32(h + 8) != tf::file_version) {
            throw error(where(8) + "unknown format version " + std::to_string(tf::get_u32(h + 8)) +
                        " (this build reads version " + std::to_string(tf::file_version) + ")");
        }
        // Reserved: 0 in this version. A file that sets it was written by a
        // format this build does not know and is not read as if it were ours.
        if (tf::get_u32(h + 12) != 0) {
            throw error(where(12) + "reserved header field is " + std::to_string(tf::get_u32(h + 12)) +
                        ", not 0 (a newer format; this build reads version " + std::to_string(tf::file_version) + ")");
        }

        std::uint64_t at = tf::file_header_size;
        std::uint64_t committed = at;  // just past the last end record
        std::optional<detail::open_episode> episode;
        std::uint64_t episode_at = 0;
        std::string problem;
        std::optional<std::uint64_t> past_damaged_end;  // where the bad record ends, when it is a whole end record whose CRC fails
        while (at < size) {
            const tf::record r = in.at(at);
            if (!r.problem.empty()) {
                problem = r.problem;
                const std::uint64_t past = at + tf::record_header_size + tf::end_payload + tf::record_trailer_size;
                if (r.type == tf::type_end && r.length == tf::end_payload && past <= size && problem == "CRC mismatch") {
                    past_damaged_end = past;
                }
                break;
            }
            const auto refuse = [&](const std::string& what) {
                return error(where(at) + what + " in a record that passes its CRC: the file is not one this store wrote, or was edited");
            };
            const unsigned char* p = r.payload;
            switch (r.type) {
                case tf::type_begin: {
                    if (r.length != tf::begin_payload) throw refuse("a begin record of " + std::to_string(r.length) + " bytes");
                    const std::uint64_t index = tf::get_u64(p);
                    if (episode) throw refuse("episode " + std::to_string(index) + " begins inside episode " + std::to_string(episode->summary().index));
                    if (at == tf::file_header_size) {
                        // The file's first episode: 0, or the oldest a rewrite kept.
                        next_index_ = index;
                        first_in_file_ = index;
                    }
                    if (index != next_index_) throw refuse("episode " + std::to_string(index) + " begins where episode " + std::to_string(next_index_) + " was expected");
                    episode.emplace(index);
                    episode_at = at;
                    break;
                }
                case tf::type_step: {
                    trajectory_step s;
                    if (!decode_step(r, s)) throw refuse("a malformed step record");
                    if (!episode) throw refuse("a step outside any episode");
                    if (s.episode != episode->summary().index || s.step != episode->summary().steps) {
                        throw refuse("step " + std::to_string(s.step) + " of episode " + std::to_string(s.episode) +
                                     " where step " + std::to_string(episode->summary().steps) + " of episode " +
                                     std::to_string(episode->summary().index) + " was expected");
                    }
                    episode->count(s.stage, s.reward);
                    break;
                }
                case tf::type_end: {
                    if (r.length != tf::end_payload) throw refuse("an end record of " + std::to_string(r.length) + " bytes");
                    if (!episode) throw refuse("an end record outside any episode");
                    episode_summary e;
                    e.index = tf::get_u64(p);
                    e.steps = tf::get_u64(p + 8);
                    e.episode_return = tf::get_f64(p + 16);
                    for (const std::size_t b : {std::size_t{24}, std::size_t{25}}) {
                        if (p[b] > static_cast<unsigned char>(stage::serving)) {
                            throw refuse("an end record whose " + std::string(b == 24 ? "first" : "last") + " stage (payload byte " +
                                         std::to_string(b) + ") is " + std::to_string(p[b]) + ", not a stage (0 to " +
                                         std::to_string(static_cast<unsigned>(stage::serving)) + ")");
                        }
                    }
                    e.first_stage = static_cast<stage>(p[24]);
                    e.last_stage = static_cast<stage>(p[25]);
                    if (!(e == episode->summary())) {
                        throw refuse("an end record of episode " + std::to_string(e.index) + " that does not match its steps");
                    }
                    index_entry(e, episode_at, r.next - episode_at);
                    episode.reset();
                    ++next_index_;
                    committed = r.next;
                    break;
                }
                default: throw refuse("unknown record type " + std::to_string(r.type));
            }
            at = r.next;
        }

        bool torn_episode = false;  // the last episode torn out of order (below)
        if (!problem.empty()) {
            // A torn tail is a prefix of the last write. A complete episode
            // (an end record) after the bad record means data was lost in the
            // middle, which cutting would make worse.
            const auto later = find_end_record(in, at + 1);
            // Under sync_policy::fsync, everything after the last fsync is
            // one episode's records, and a power loss can keep its pages in
            // any order: its end record on disk, an earlier page not. Intact
            // records after the damage that all belong to the episode the
            // damage is in (the number expected next) are that: the episode
            // never reached the disk whole, and is cut as a torn tail. The
            // damage is in the middle when anything of another episode, or
            // any byte after the episode's end record, follows
            // (only_episode_after). When the damage is the file's first
            // record, the episode's number was not read (a rewritten file's
            // first episode keeps its number, not 0): the first whole record
            // after the damage says it, and all that follows must be that
            // episode's.
            std::uint64_t torn_index = next_index_;
            if (at == tf::file_header_size && later) {
                if (const auto first = next_whole_record(in, at + 1)) {
                    if (const tf::record r = in.at(*first); r.length >= 8) torn_index = tf::get_u64(r.payload);
                }
            }
            torn_episode = later && only_episode_after(in, at + 1, torn_index);
            if (torn_episode && at == tf::file_header_size) {
                next_index_ = torn_index;
                first_in_file_ = torn_index;
            }
            if (later && !torn_episode && !options_.salvage_prefix) {
                throw error(where(at) + problem + ", but a complete episode's end record follows at offset " +
                            std::to_string(*later) +
                            ": this is not a torn tail; refusing to cut (set salvage_prefix to keep the episodes before offset " +
                            std::to_string(committed) + ")");
            }
            // No end record after the damage, but a whole record of another
            // episode (the next one's begin record, say): the episode the
            // damage is in had been written to its end before the next one
            // began, so the damage is not that write's tear either.
            if (!later && !options_.salvage_prefix) {
                if (const auto other = record_of_another_episode(in, at + 1, next_index_)) {
                    throw error(where(at) + problem + ", but a whole record of another episode follows at offset " +
                                std::to_string(*other) +
                                ": this is not a torn tail; refusing to cut (set salvage_prefix to keep the episodes before offset " +
                                std::to_string(committed) + ")");
                }
                // The same for a damaged end record that bytes follow: the
                // episode had been written to its end when a later write began.
                if (past_damaged_end && *past_damaged_end < size) {
                    throw error(where(at) + problem + " in an end record, and " + std::to_string(size - *past_damaged_end) +
                                " bytes follow it: this is not a torn tail; refusing to cut (set salvage_prefix to keep the episodes "
                                "before offset " + std::to_string(committed) + ")");
                }
            }
            // Salvaged: the episodes that had ended after the damage, cut
            // with it, counted by number up to the last intact end record,
            // or by their intact end records when the numbering is unknown.
            std::uint64_t ended = 0;
            std::uint64_t last = 0;
            for (auto end = later; end; end = find_end_record(in, *end + 1)) {
                ++ended;
                last = tf::get_u64(in.at(*end).payload);
            }
            const bool numbered = at != tf::file_header_size;  // the first begin record was read
            const std::uint64_t discarded = numbered && ended > 0 && last >= next_index_ ? last - next_index_ + 1 : ended;
            std::string reason = "record at offset " + std::to_string(at) + ": " + problem;
            if (torn_episode) {
                reason += "; episode " + std::to_string(next_index_) + " torn out of order (its end record at offset " +
                          std::to_string(*later) + " is intact, a record before it is not: written, not yet synced, when the machine stopped)";
            } else {
                if (episode) reason += "; episode " + std::to_string(episode->summary().index) + " never ended";
                if (discarded > 0) {
                    reason += "; " + std::to_string(discarded) + (discarded == 1 ? " episode" : " episodes") +
                              " that had ended discarded with it (salvage_prefix)";
                }
            }
            cut(committed, size, reason);
            recovery_.episodes_discarded = discarded;
        } else if (episode) {
            cut(committed, size, "episode " + std::to_string(episode->summary().index) + " at offset " +
                                     std::to_string(episode_at) + " never ended");
        }
        committed_end_ = committed;
        write_offset_ = committed;
        // With every episode cut, the numbering is still the first begin
        // record's (a rewritten file's first episode keeps its number), and
        // unknown only when that record is the one that was unreadable.
        // A torn first episode's intact records said its number (0 in a
        // new file, the oldest kept in a rewritten one).
        if (at == tf::file_header_size && !problem.empty() && !torn_episode) recovery_.numbering_unknown = true;
        recovery_.episodes = episodes_in_file();
        next_rewrite_at_ = next_index_;
    }

    static constexpr const char* zeroed_header_reason = "zeroed file (its size written, not its bytes, when the machine stopped)";

    /// Whether every byte from `from` to the end of the file is 0.
    static bool all_zeros(detail::trajectory_file::reader& in, std::uint64_t from) {
        constexpr std::size_t chunk = 1 << 16;
        for (std::uint64_t at = from; at < in.size();) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, in.size() - at));
            const unsigned char* p = in.view(at, n);
            if (p == nullptr || std::any_of(p, p + n, [](unsigned char c) { return c != 0; })) return false;
            at += n;
        }
        return true;
    }

    /// Whether what follows `from` is the rest of episode `index` alone:
    /// every whole record one of its own (a begin, step and end record each
    /// start with the episode's number), up to its end record, which ends
    /// the file. A byte after that end record, zeros included, was written
    /// later (the file grew past the episode), and under fsync only once
    /// the episode was synced.
    static bool only_episode_after(detail::trajectory_file::reader& in, std::uint64_t from, std::uint64_t index) {
        namespace tf = detail::trajectory_file;
        for (auto p = next_whole_record(in, from); p;) {
            const tf::record r = in.at(*p);
            if (r.length < 8 || tf::get_u64(r.payload) != index) return false;
            if (r.type == tf::type_end) return r.next == in.size();
            p = next_whole_record(in, r.next);
        }
        return false;  // no end record of its own
    }

    /// The offset of the first whole record at or after `from` that is not
    /// one of episode `index`'s (a begin, step and end record each start with
    /// the episode's number), if any.
    static std::optional<std::uint64_t> record_of_another_episode(detail::trajectory_file::reader& in, std::uint64_t from,
                                                                  std::uint64_t index) {
        namespace tf = detail::trajectory_file;
        for (auto p = next_whole_record(in, from); p;) {
            const tf::record r = in.at(*p);
            if (r.length < 8 || tf::get_u64(r.payload) != index) return p;
            p = next_whole_record(in, r.next);
        }
        return std::nullopt;
    }

    /// The offset of the first whole end record at or after `from`, if any.
    static std::optional<std::uint64_t> find_end_record(detail::trajectory_file::reader& in, std::uint64_t from) {
        for (auto p = next_whole_record(in, from); p; p = next_whole_record(in, *p + 1)) {
            // Of an end record's type and size: a whole record of that type
            // but another size (only a foreign or crafted file has one) may
            // hold no episode number to read.
            const auto r = in.at(*p);
            if (r.type == detail::trajectory_file::type_end && r.length == detail::trajectory_file::end_payload) return p;
        }
        return std::nullopt;
    }

    /// The offset of the first whole record (its magic found, its checksum
    /// intact) at or after `from`, if any: a search byte by byte, for the
    /// records after a damaged one.
    static std::optional<std::uint64_t> next_whole_record(detail::trajectory_file::reader& in, std::uint64_t from) {
        namespace tf = detail::trajectory_file;
        for (std::uint64_t p = from; p + tf::record_header_size + tf::record_trailer_size <= in.size(); ++p) {
            const unsigned char* m = in.view(p, 4);
            if (m != nullptr && std::memcmp(m, tf::record_magic, 4) == 0 && in.at(p).problem.empty()) return p;
        }
        return std::nullopt;
    }

    std::filesystem::path path_;
    std::string path_string_ = path_.string();
    std::filesystem::path real_path_;  // path_ with symbolic links resolved: what a rewrite replaces
    file_trajectory_store_options options_;
    int fd_ = -1;
    bool broken_ = false;
    // Why a sync under sync_policy::fsync failed, if one did: the store
    // then takes no more writes (reads go on) until compact() has
    // rewritten the file. Linux may mark the pages a failed fsync could not
    // write as clean (they stay in the page cache), so a later fsync can
    // succeed and report durable an episode whose earlier records never
    // reached the disk.
    struct failed_sync {
        int error = 0;              // its errno; 0: none failed
        const char* step = "";      // what was being synced
        std::uint64_t after = 0;    // episodes in the store then
    } unsynced_;
    std::deque<entry> index_;
    std::uint64_t next_index_ = 0;
    std::optional<detail::open_episode> open_;
    std::uint64_t episode_offset_ = 0;   // of the open episode's begin record
    std::vector<unsigned char> pending_;  // encoded, not yet written; starts at write_offset_
    std::uint64_t write_offset_ = 0;
    std::uint64_t committed_end_ = 0;    // just past the last complete episode
    std::uint64_t first_in_file_ = 0;    // the number of the file's oldest episode
    std::deque<std::uint64_t> episode_offsets_;  // where each episode in the file begins (with max_file_episodes > 0)
    std::uint64_t next_rewrite_at_ = 0;  // end_episode() does not try a rewrite before this episode count
    std::uint64_t rewrites_ = 0;
    std::uint64_t rewrite_failures_ = 0;
    std::string last_rewrite_error_;
    trajectory_recovery recovery_;
};

}  // namespace rlscale
