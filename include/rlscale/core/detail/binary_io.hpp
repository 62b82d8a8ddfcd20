#pragma once

// Byte-level pieces of the binary state files (a learner's training state):
// a writer that appends trivially copyable values to a string, a reader that
// takes them back with every read bounded and named, FNV-1a for the frame's
// checksum, and a whole-file write that replaces a file only once the new
// one is on disk. Values are stored in the machine's byte order; a file
// records that order and the reader refuses another.

#include <rlscale/core/error.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
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
