#pragma once

// Byte-level pieces of the binary state files (a learner's training state):
// a writer that appends trivially copyable values to a string, a reader that
// takes them back with every read bounded and named, the frame around a
// payload (magic line, version, byte order, value size, length, FNV-1a
// checksum), and a whole-file write that replaces a file only once the new
// one is on disk. Values are stored in the machine's byte order; a frame
// records that order and the reader refuses another.

#include <rlscale/core/error.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <istream>
#include <iterator>
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

/// FNV-1a over `bytes`, 64 bits: detects a flipped or lost byte, not an
/// adversary.
[[nodiscard]] inline std::uint64_t fnv1a64(std::string_view bytes) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/// Appends values to a byte string.
class binary_writer {
public:
    template <typename V>
        requires std::is_trivially_copyable_v<V>
    void put(const V& v) {
        bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    template <typename V>
        requires std::is_trivially_copyable_v<V>
    void put_all(std::span<const V> v) {
        bytes_.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
    }
    [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }

private:
    std::string bytes_;
};

/// Reads values back from a byte string. A read past the end throws
/// checkpoint_error naming `prefix` + the field.
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
    [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
    /// The name of a field as errors give it.
    [[nodiscard]] std::string name(std::string_view field) const { return prefix_ + std::string(field); }

private:
    void take(void* out, std::size_t n, std::string_view field) {
        if (n > remaining()) {
            throw checkpoint_error(name(field), "the data ends inside it (" + std::to_string(remaining()) + " bytes left, " +
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

/// Writes `payload` framed: the magic line, the version, the byte-order
/// mark, the value size, the payload's length, the payload and its FNV-1a
/// checksum. Throws rlscale::error naming `who` when the stream fails.
inline void write_frame(std::ostream& out, const frame_format& f, std::string_view payload, std::string_view who) {
    const auto put = [&out](const auto& v) { out.write(reinterpret_cast<const char*>(&v), sizeof v); };
    out.write(f.magic.data(), static_cast<std::streamsize>(f.magic.size()));
    put(f.version);
    put(byte_order_mark);
    put(f.value_size);
    put(static_cast<std::uint64_t>(payload.size()));
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    put(fnv1a64(payload));
    if (!out) throw error(std::string(who) + ": the stream failed while writing");
}

/// The rest of `in`, as bytes.
[[nodiscard]] inline std::string read_all(std::istream& in) {
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The payload of the frame in `bytes` (a view into it), once the magic
/// line, version, byte order, value size, length and checksum are as
/// `f` and the payload say. Otherwise throws checkpoint_error naming
/// `prefix` + the field ("training_state.version").
[[nodiscard]] inline std::string_view read_frame(std::string_view bytes, const frame_format& f, const std::string& prefix) {
    binary_reader frame(bytes, prefix);
    if (bytes.size() < f.magic.size() && f.magic.starts_with(bytes)) {
        throw checkpoint_error(frame.name("magic"), "the data ends inside it (" + std::to_string(bytes.size()) + " of its " +
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
    const auto length = frame.get<std::uint64_t>("length");
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

/// Writes `bytes` to `path` through a temporary file beside it, synced and
/// renamed over it, so a crash leaves the old file or the new one whole.
/// `what` names the file in errors ("checkpoint", "training state").
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, std::string_view what) {
    const std::string kind(what);
    std::string tmp = path.string() + ".XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) throw error("cannot write " + kind + " beside '" + path.string() + "': " + std::strerror(errno));
    const auto fail = [&](const std::string& step) {
        const int saved = errno;
        ::close(fd);
        std::filesystem::remove(tmp);
        throw error("cannot write " + kind + " '" + tmp + "': " + step + ": " + std::strerror(saved));
    };
    for (std::size_t done = 0; done < bytes.size();) {
        const ::ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write failed");
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, 0644) != 0) fail("chmod failed");
    if (::fsync(fd) != 0) fail("fsync failed");
    if (::close(fd) != 0) {
        std::filesystem::remove(tmp);
        throw error("cannot write " + kind + " '" + tmp + "': close failed: " + std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw error("cannot move " + kind + " into place at '" + path.string() + "': " + ec.message());
    }
    // The rename is durable once the directory is.
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace rlscale::detail
