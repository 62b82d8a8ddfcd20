#pragma once

// Byte-level pieces of the binary state files (a learner's training state):
// a writer of trivially copyable values (into a string, into a stream with
// the checksum taken on the way, or counting only), a reader that takes
// them back with every read bounded and named, the frame around a payload
// (magic line, version, byte order, value size, length, FNV-1a checksum),
// and a whole-file write that replaces a file only once the new one is on
// disk. Values are stored in the machine's byte order; a frame records that
// order and the reader refuses another.

#include <rlscale/core/error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <istream>
#include <ios>
#include <iterator>
#include <new>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace rlscale::detail {

/// FNV-1a's starting value (its offset basis), 64 bits.
inline constexpr std::uint64_t fnv1a64_basis = 0xcbf29ce484222325ULL;

/// FNV-1a over `bytes`, 64 bits, going on from `h` (the value over the
/// bytes before them): detects a flipped or lost byte, not an adversary.
[[nodiscard]] inline std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t h = fnv1a64_basis) noexcept {
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/// Writes values as bytes: by default appended to its own string
/// (bytes()); given a stream, to the stream, with the FNV-1a checksum of
/// everything written taken on the way; or only counted.
class binary_writer {
public:
    struct count_only_t {};
    /// For the writer that counts the bytes and writes nothing.
    static constexpr count_only_t count_only{};

    binary_writer() = default;
    explicit binary_writer(count_only_t) noexcept : counting_(true) {}
    explicit binary_writer(std::ostream& out) noexcept : out_(&out) {}

    template <typename V>
        requires std::is_trivially_copyable_v<V>
    void put(const V& v) {
        write(reinterpret_cast<const char*>(&v), sizeof v);
    }
    template <typename V>
        requires std::is_trivially_copyable_v<V>
    void put_all(std::span<const V> v) {
        write(reinterpret_cast<const char*>(v.data()), v.size_bytes());
    }
    /// What was appended (empty for a writer to a stream or a counting one).
    [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }
    /// How many bytes were written (or counted).
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
    /// FNV-1a of what was written to the stream.
    [[nodiscard]] std::uint64_t checksum() const noexcept { return checksum_; }

private:
    void write(const char* p, std::size_t n) {
        size_ += n;
        if (counting_) return;
        if (out_ == nullptr) {
            bytes_.append(p, n);
            return;
        }
        checksum_ = fnv1a64(std::string_view(p, n), checksum_);
        out_->write(p, static_cast<std::streamsize>(n));
    }
    std::string bytes_;
    std::ostream* out_ = nullptr;
    bool counting_ = false;
    std::uint64_t size_ = 0;
    std::uint64_t checksum_ = fnv1a64_basis;
};

/// The checkpoint_error of a read past the end of the data: a field the
/// bytes end inside. Its own type so that a reader that holds only the
/// first bytes of a frame can tell "these bytes do not reach the field"
/// from "the field is wrong" without reading the message.
class truncated_data_error : public checkpoint_error {
public:
    using checkpoint_error::checkpoint_error;
};

/// Reads values back from a byte string. A read past the end throws
/// truncated_data_error (a checkpoint_error) naming `prefix` + the field.
class binary_reader {
public:
    binary_reader(std::string_view bytes, std::string prefix) : bytes_(bytes), prefix_(std::move(prefix)) {}

    template <typename V>
        requires std::is_trivially_copyable_v<V>
    V get(std::string_view field) {
        V v;
        take(&v, sizeof v, field);
        return v;
    }
    template <typename V>
        requires std::is_trivially_copyable_v<V>
    void get_all(std::span<V> out, std::string_view field) {
        take(out.data(), out.size_bytes(), field);
    }
    /// The next `n` bytes, read past (for a reader that places the values
    /// itself); throws as get_all does when the data ends inside them.
    [[nodiscard]] std::string_view take_bytes(std::size_t n, std::string_view field) {
        if (n > remaining()) take(nullptr, n, field);  // throws, naming the field
        const std::string_view v = bytes_.substr(at_, n);
        at_ += n;
        return v;
    }
    [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
    /// The name of a field as errors give it.
    [[nodiscard]] std::string name(std::string_view field) const { return prefix_ + std::string(field); }

private:
    void take(void* out, std::size_t n, std::string_view field) {
        if (n > remaining()) {
            throw truncated_data_error(name(field), "the data ends inside it (" + std::to_string(remaining()) + " bytes left, " +
                                                        std::to_string(n) + " needed)");
        }
        if (n > 0) std::memcpy(out, bytes_.data() + at_, n);
        at_ += n;
    }
    std::string_view bytes_;
    std::size_t at_ = 0;
    std::string prefix_;
};

/// Written as a std::uint32_t in each frame: read back in another byte
/// order it differs.
inline constexpr std::uint32_t byte_order_mark = 0x01020304;

/// What a frame declares about its payload: the format (a magic line and a
/// version), the size of the values in it, and what the file is called in
/// errors ("a DDPG training state").
struct frame_format {
    std::string_view magic;    ///< first bytes of the file, a line
    std::uint32_t version = 1;
    std::uint32_t value_size = 0;  ///< sizeof the learner's value type
    std::string_view kind;     ///< "a DDPG training state"
};

/// Writes a frame to `out`: the magic line, the version, the byte-order
/// mark, the value size, the payload's length, the payload and its FNV-1a
/// checksum. `payload(w)` puts the payload's values into the binary_writer
/// it is given; it is called twice, first to count the bytes (the length
/// comes before them), then to write them straight to `out`, so no copy of
/// the payload is made. It must put the same values both times. Throws
/// rlscale::error naming `who` when the stream fails.
template <typename Payload>
    requires std::invocable<Payload&, binary_writer&>
void write_frame(std::ostream& out, const frame_format& f, std::string_view who, Payload&& payload) {
    binary_writer counted(binary_writer::count_only);
    payload(counted);
    const auto put = [&out](const auto& v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); };
    out.write(f.magic.data(), static_cast<std::streamsize>(f.magic.size()));
    put(f.version);
    put(byte_order_mark);
    put(f.value_size);
    put(counted.size());
    binary_writer w(out);
    payload(w);
    if (w.size() != counted.size()) {
        throw error(std::string(who) + ": wrote " + std::to_string(w.size()) + " payload bytes after counting " +
                    std::to_string(counted.size()) + " (the state changed while it was written)");
    }
    put(w.checksum());
    if (!out) throw error(std::string(who) + ": the stream failed while writing");
}

/// The rest of `in`, as bytes.
[[nodiscard]] inline std::string read_all(std::istream& in) {
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Reads and checks a frame's header from `frame` (over `bytes`, the data
/// from the frame's start): the magic line, version, byte order and value
/// size as `f` says; returns the length field. Throws checkpoint_error
/// naming `frame`'s prefix + the field ("training_state.version").
[[nodiscard]] inline std::uint64_t read_frame_header(std::string_view bytes, binary_reader& frame, const frame_format& f) {
    if (bytes.size() < f.magic.size() && f.magic.starts_with(bytes)) {
        throw truncated_data_error(frame.name("magic"), "the data ends inside it (" + std::to_string(bytes.size()) + " of its " +
                                                            std::to_string(f.magic.size()) + " bytes; truncated)");
    }
    if (bytes.substr(0, f.magic.size()) != f.magic) {
        throw checkpoint_error(frame.name("magic"), "not " + std::string(f.kind) + " (it starts with other bytes)");
    }
    std::string magic(f.magic.size(), '\0');
    frame.get_all(std::span<char>(magic), "magic");
    const auto expect = [&frame](std::string_view field, std::uint32_t want, std::string_view why) {
        const auto got = frame.get<std::uint32_t>(field);
        if (got != want) {
            throw checkpoint_error(frame.name(field), "is " + std::to_string(got) + ", expected " + std::to_string(want) + std::string(why));
        }
    };
    expect("version", f.version, " (the format this build reads)");
    expect("byte_order", byte_order_mark, " (written on a machine of another byte order)");
    expect("value_size", f.value_size, " (the learner's value type)");
    return frame.get<std::uint64_t>("length");
}

/// The payload of the frame in `bytes` (a view into it), once the magic
/// line, version, byte order, value size, length and checksum are as
/// `f` and the payload say. Otherwise throws checkpoint_error naming
/// `prefix` + the field ("training_state.version").
[[nodiscard]] inline std::string_view read_frame(std::string_view bytes, const frame_format& f, const std::string& prefix) {
    binary_reader frame(bytes, prefix);
    const std::uint64_t length = read_frame_header(bytes, frame, f);
    if (frame.remaining() < sizeof(std::uint64_t) || length != frame.remaining() - sizeof(std::uint64_t)) {
        throw checkpoint_error(frame.name("length"), "says " + std::to_string(length) + " bytes, the data holds " +
                                                         std::to_string(frame.remaining()) + " with the checksum (truncated or extended)");
    }
    const std::string_view payload = bytes.substr(bytes.size() - frame.remaining(), static_cast<std::size_t>(length));
    binary_reader tail(bytes.substr(bytes.size() - sizeof(std::uint64_t)), prefix);
    if (tail.get<std::uint64_t>("checksum") != fnv1a64(payload)) {
        throw checkpoint_error(frame.name("checksum"), "does not match the data (corrupted)");
    }
    return payload;
}

/// How many bytes `in` holds from where it stands to its end, when its
/// buffer can seek (a file, a string stream); 0 and false otherwise (a
/// pipe). The stream is left where it stood.
[[nodiscard]] inline bool bytes_left(std::istream& in, std::uint64_t& left) {
    std::streambuf* const buf = in.rdbuf();
    if (buf == nullptr) return false;
    using pos = std::streambuf::pos_type;
    const pos here = buf->pubseekoff(0, std::ios::cur, std::ios::in);
    if (here == pos(std::streamoff(-1))) return false;
    const pos end = buf->pubseekoff(0, std::ios::end, std::ios::in);
    const bool ok = end != pos(std::streamoff(-1)) && std::streamoff(end) >= std::streamoff(here);
    if (buf->pubseekpos(here, std::ios::in) != here) return false;
    if (ok) left = static_cast<std::uint64_t>(std::streamoff(end) - std::streamoff(here));
    return ok;
}

/// Reads up to `n` bytes of `in` onto the end of `out`, 4 MiB at a time,
/// so that a stream that ends early holds no more memory than it gave:
/// how many it got. Reads the stream's buffer, as read_all does, so the
/// stream's state and exception mask play no part (a stream set to throw
/// at its end still gives checkpoint_error, not std::ios_base::failure).
[[nodiscard]] inline std::uint64_t read_up_to(std::istream& in, std::string& out, std::uint64_t n) {
    constexpr std::uint64_t chunk = std::uint64_t{4} << 20;
    std::streambuf* const buf = in.rdbuf();
    std::uint64_t got = 0;
    while (buf != nullptr && got < n) {
        const std::size_t want = static_cast<std::size_t>(std::min(chunk, n - got));
        const std::size_t at = out.size();
        out.resize(at + want);
        const std::streamsize read = buf->sgetn(out.data() + at, static_cast<std::streamsize>(want));
        const auto k = static_cast<std::size_t>(std::max<std::streamsize>(read, 0));
        out.resize(at + k);
        got += k;
        if (k < want) break;
    }
    return got;
}

/// Whether `in`'s buffer holds nothing more (read as read_up_to reads).
[[nodiscard]] inline bool at_end(std::istream& in) {
    std::streambuf* const buf = in.rdbuf();
    return buf == nullptr || std::istream::traits_type::eq_int_type(buf->sgetc(), std::istream::traits_type::eof());
}

/// The payload of the frame `in` holds from where it stands to its end,
/// read without taking in more than the frame may hold: the header first
/// (magic line, version, byte order, value size, length), checked as
/// read_frame(bytes) checks it; a length above `max_length` (the largest
/// payload the reader can take; `bound` says what makes it, "the most this
/// DQN agent writes") refused before anything is allocated; when the
/// stream can seek, its size checked against the length before the payload
/// is read; then exactly the payload and its checksum, after which the
/// stream must end. Throws checkpoint_error naming `prefix` + the field
/// ("training_state.length"), never std::bad_alloc.
///
/// `head(reader)`, when given, checks the payload's first fields (the
/// learner's sizes and layers): for a length above `max_length` it is
/// called on the payload's first 64 KiB at most, so that another learner's
/// state is refused by the field that differs, not only by its length.
template <typename Head = std::nullptr_t>
[[nodiscard]] std::string read_frame(std::istream& in, const frame_format& f, const std::string& prefix, std::uint64_t max_length,
                                     std::string_view bound, Head&& head = nullptr) {
    const std::size_t header_size = f.magic.size() + 3 * sizeof(std::uint32_t) + sizeof(std::uint64_t);
    std::string header;
    (void)read_up_to(in, header, header_size);
    binary_reader frame(header, prefix);
    const std::uint64_t length = read_frame_header(header, frame, f);
    constexpr std::uint64_t checksum_size = sizeof(std::uint64_t);
    if (length > max_length) {
        if constexpr (!std::is_same_v<std::remove_cvref_t<Head>, std::nullptr_t>) {
            std::string first;
            (void)read_up_to(in, first, std::min(length, std::uint64_t{64} << 10));
            binary_reader r(first, prefix);
            try {
                head(r);
            } catch (const truncated_data_error&) {
                // A field that differs is the better answer (any other
                // checkpoint_error goes out); one the first bytes do not
                // hold is the length's.
            }
        }
        throw checkpoint_error(frame.name("length"), "says " + std::to_string(length) + " bytes, more than the " + std::to_string(max_length) +
                                                         " " + std::string(bound) + " (corrupted or another learner's)");
    }
    if (std::uint64_t left = 0; bytes_left(in, left) && left != length + checksum_size) {
        throw checkpoint_error(frame.name("length"), "says " + std::to_string(length) + " bytes, the data holds " + std::to_string(left) +
                                                         " with the checksum (truncated or extended)");
    }
    std::string payload;
    std::uint64_t got = 0;
    try {
        payload.reserve(static_cast<std::size_t>(std::min(length, std::uint64_t{4} << 20)));
        got = read_up_to(in, payload, length);
    } catch (const std::bad_alloc&) {
        throw checkpoint_error(frame.name("length"), "says " + std::to_string(length) + " bytes, more than this process can allocate");
    }
    std::uint64_t sum = 0;
    std::string tail;
    const std::uint64_t tail_got = got == length ? read_up_to(in, tail, checksum_size) : 0;
    if (got != length || tail_got != checksum_size) {
        throw checkpoint_error(frame.name("length"), "says " + std::to_string(length) + " bytes, the data holds " + std::to_string(got + tail_got) +
                                                         " with the checksum (truncated)");
    }
    if (!at_end(in)) {
        throw checkpoint_error(frame.name("length"),
                               "says " + std::to_string(length) + " bytes, the data goes on after them and the checksum (extended)");
    }
    std::memcpy(&sum, tail.data(), sizeof sum);
    if (sum != fnv1a64(payload)) throw checkpoint_error(frame.name("checksum"), "does not match the data (corrupted)");
    return payload;
}

/// An output stream buffer over a file descriptor it does not own: 64 KiB
/// are gathered and written with ::write (a write at least that large goes
/// straight through). A failed write fails the stream; error() is its errno.
class fd_output_buffer : public std::streambuf {
public:
    explicit fd_output_buffer(int fd) : fd_(fd) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
    fd_output_buffer(const fd_output_buffer&) = delete;
    fd_output_buffer& operator=(const fd_output_buffer&) = delete;
    /// The errno of the write that failed (0 if none did).
    [[nodiscard]] int error() const noexcept { return error_; }

protected:
    int_type overflow(int_type c) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(c, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        if (n < static_cast<std::streamsize>(buffer_.size())) return std::streambuf::xsputn(s, n);
        if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;
        return n;
    }
    int sync() override { return drain() ? 0 : -1; }

private:
    /// Writes what is gathered and empties the buffer.
    bool drain() {
        const bool ok = write_all(pbase(), static_cast<std::size_t>(pptr() - pbase()));
        setp(buffer_.data(), buffer_.data() + buffer_.size());
        return ok;
    }
    bool write_all(const char* p, std::size_t n) {
        if (error_ != 0) return false;
        for (std::size_t done = 0; done < n;) {
            const ::ssize_t k = ::write(fd_, p + done, n - done);
            if (k < 0) {
                if (errno == EINTR) continue;
                error_ = errno;
                return false;
            }
            done += static_cast<std::size_t>(k);
        }
        return true;
    }
    int fd_;
    int error_ = 0;
    std::array<char, 64 * 1024> buffer_{};
};

/// Writes the file at `path` through a temporary file beside it, synced and
/// renamed over it, so a crash leaves the old file or the new one whole.
/// `write(out)` writes the contents to the std::ostream it is given (the
/// file, buffered; nothing is gathered in memory). `what` names the file
/// in errors ("checkpoint", "training state"). When `write` throws, the
/// temporary file is removed and the exception goes on. The new file keeps
/// the permission bits of the file it replaces (a checkpoint an operator
/// made private stays private); a new file gets 0644.
///
/// A symbolic link is written through: its target (created when it does
/// not exist yet) is replaced and the link stays. A path (or a link's target) that is a device, a pipe or a
/// socket is refused before anything is written (error naming it): the
/// rename would replace /dev/null itself with a regular file.
template <typename Write>
    requires std::invocable<Write&, std::ostream&>
void write_file_atomically(const std::filesystem::path& path, std::string_view what, Write&& write) {
    const std::string kind(what);
    // Followed link by link, so that a link to a file not written yet (a
    // volume's path before its first save) is written through too.
    std::filesystem::path target = path;
    for (int hops = 0;; ++hops) {
        std::error_code ec;
        if (!std::filesystem::is_symlink(target, ec)) break;
        if (hops == 40) throw error("cannot write " + kind + " to '" + path.string() + "': too many levels of symbolic links");
        const std::filesystem::path next = std::filesystem::read_symlink(target, ec);
        if (ec) throw error("cannot write " + kind + " to '" + path.string() + "': cannot read link '" + target.string() + "': " + ec.message());
        target = next.is_absolute() ? next : target.parent_path() / next;
    }
    if (struct stat existing {}; ::stat(target.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISDIR(existing.st_mode)) {
        const char* type = S_ISCHR(existing.st_mode)    ? "a character device"
                           : S_ISBLK(existing.st_mode)  ? "a block device"
                           : S_ISFIFO(existing.st_mode) ? "a pipe"
                           : S_ISSOCK(existing.st_mode) ? "a socket"
                                                        : "not a regular file";
        throw error("cannot write " + kind + " to '" + path.string() + "': it is " + type + ", not a file " + kind + " can replace");
    }
    // Where a link leads is named too: the link itself may be all that exists.
    const std::string where = target == path ? "'" + path.string() + "'" : "'" + target.string() + "' (where link '" + path.string() + "' points)";
    std::string tmp = target.string() + ".XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) throw error("cannot write " + kind + " beside " + where + ": " + std::strerror(errno));
    const auto fail = [&](const std::string& step, int err) {
        ::close(fd);
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw error("cannot write " + kind + " '" + tmp + "': " + step + ": " + std::strerror(err));
    };
    {
        fd_output_buffer buffer(fd);
        std::ostream out(&buffer);
        try {
            write(out);
        } catch (...) {
            // A write that failed inside `write` (a full disk) is reported
            // as such, with its errno, not as the writer's failed stream.
            if (buffer.error() != 0) fail("write failed", buffer.error());
            ::close(fd);
            std::error_code ignored;
            std::filesystem::remove(tmp, ignored);
            throw;
        }
        out.flush();
        if (!out) fail("write failed", buffer.error() != 0 ? buffer.error() : EIO);
    }
    struct stat old {};
    const ::mode_t mode = ::stat(target.c_str(), &old) == 0 && S_ISREG(old.st_mode) ? (old.st_mode & 07777) : 0644;
    if (::fchmod(fd, mode) != 0) fail("chmod failed", errno);
    if (::fsync(fd) != 0) fail("fsync failed", errno);
    if (::close(fd) != 0) {
        const int err = errno;
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw error("cannot write " + kind + " '" + tmp + "': close failed: " + std::strerror(err));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, target, ec);
    if (ec) {
        std::error_code ignored;  // the rename's error is the one to report
        std::filesystem::remove(tmp, ignored);
        throw error("cannot move " + kind + " into place at " + where + ": " + ec.message());
    }
    // The rename is durable once the directory is.
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

/// Writes `bytes` to `path` as above.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view what, std::string_view bytes) {
    write_file_atomically(path, what, [bytes](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace rlscale::detail
