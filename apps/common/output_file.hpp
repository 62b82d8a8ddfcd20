#pragma once

// Output files of rlscale's programs (CSVs, SVG plots), written so that a
// failure is never silent and a reader never sees half a file:
//
//     rlscale::apps::output_file csv("run.csv");  // a temporary file beside run.csv
//     std::fprintf(csv.get(), "a,b\n");
//     csv.commit();                                // checked, then renamed over run.csv
//
//     rlscale::apps::write_text_file("plot.svg", text);  // the same, for a whole text
//
// A regular file (or a new one) is written to a temporary file in the same
// directory ("<name>.tmp-<random>"), flushed, synced and closed with every
// step checked, then renamed over the target; a symbolic link to a regular
// file has its target replaced. A target that is not a regular file (a
// device such as /dev/full or /dev/stdout, a FIFO, a dangling link), or
// whose directory allows no temporary file while the file itself is
// writable, is written in place, still checking every write and the close.
// Any failure throws std::runtime_error naming the path and the system's
// reason ("cannot write 'run.csv': No space left on device"); a temporary
// file is removed when the writer is destroyed without commit().

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

namespace rlscale::apps {

class output_file {
public:
    /// Opens the stream `get()` returns: a temporary file beside `path`, or
    /// `path` itself (see the header comment). Throws std::runtime_error
    /// naming `path` if neither can be opened, or if `path` is a directory.
    explicit output_file(std::filesystem::path path) : path_(std::move(path)) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::file_status link = fs::symlink_status(path_, ec);
        const fs::file_status target = fs::status(path_, ec);
        if (fs::is_directory(target)) fail("it is a directory", 0);
        fs::path final_path = path_;
        bool in_place = false;
        if (fs::is_symlink(link)) {
            if (fs::is_regular_file(target)) {
                final_path = fs::canonical(path_, ec);
                if (ec) fail("cannot resolve the link", ec.value());
            } else {
                in_place = true;  // a link to a device, or a dangling one
            }
        } else if (fs::exists(target) && !fs::is_regular_file(target)) {
            in_place = true;  // a device, a FIFO, a socket
        }
        if (!in_place) {
            std::random_device entropy;
            for (int attempt = 0; attempt < 16 && file_ == nullptr; ++attempt) {
                const std::uint64_t tag = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
                fs::path tmp = final_path;
                tmp += ".tmp-" + std::to_string(tag);
                errno = 0;
                file_ = std::fopen(tmp.c_str(), "wbx");  // 'x': never an existing file
                if (file_ != nullptr) {
                    tmp_ = std::move(tmp);
                    final_ = final_path;
                    // A replaced file keeps its permissions.
                    if (fs::is_regular_file(target)) fs::permissions(tmp_, target.permissions(), ec);
                } else if (errno != EEXIST) {
                    break;
                }
            }
            const int open_errno = errno;
            // No temporary file next to it: write in place when the file
            // itself can be written (e.g. a writable file in a read-only
            // directory); otherwise report why the directory refused.
            if (file_ == nullptr && !(fs::exists(target) && ::access(path_.c_str(), W_OK) == 0)) {
                fail("", open_errno);
            }
        }
        if (file_ == nullptr) {
            errno = 0;
            file_ = std::fopen(path_.c_str(), "wb");
            if (file_ == nullptr) fail("", errno);
        }
    }

    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    /// Closes and removes an uncommitted temporary file (an in-place target
    /// keeps what was written).
    ~output_file() {
        if (file_ != nullptr) std::fclose(file_);
        if (!tmp_.empty()) {
            std::error_code ignored;
            std::filesystem::remove(tmp_, ignored);
        }
    }

    /// The stream to write to; null after commit().
    [[nodiscard]] std::FILE* get() const noexcept { return file_; }
    /// The path the text goes to.
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    /// Appends `text`, throwing if the write fails.
    void write(std::string_view text) {
        if (!text.empty() && std::fwrite(text.data(), 1, text.size(), file_) != text.size()) fail("", errno);
    }

    /// Flushes, syncs (a temporary file), closes and renames over the
    /// target, checking each step; throws std::runtime_error naming the path
    /// and the reason on failure (the temporary file is then removed).
    void commit() {
        if (file_ == nullptr) return;
        errno = 0;
        if (std::fflush(file_) != 0 || std::ferror(file_)) fail("", errno);
        if (!tmp_.empty() && ::fsync(::fileno(file_)) != 0) fail("", errno);
        std::FILE* f = file_;
        file_ = nullptr;
        errno = 0;
        if (std::fclose(f) != 0) fail("", errno);
        if (!tmp_.empty()) {
            std::error_code ec;
            std::filesystem::rename(tmp_, final_, ec);
            if (ec) fail("", ec.value());
            tmp_.clear();
        }
    }

private:
    [[noreturn]] void fail(const std::string& why, int err) const {
        std::string reason = why;
        if (reason.empty()) reason = err != 0 ? std::strerror(err) : "write error";
        throw std::runtime_error("cannot write '" + path_.string() + "': " + reason);
    }

    std::filesystem::path path_;   ///< as given, for messages
    std::filesystem::path final_;  ///< what the temporary file is renamed to (the link's target for a link)
    std::filesystem::path tmp_;    ///< the temporary file; empty when writing in place or once renamed
    std::FILE* file_ = nullptr;
};

/// Writes `text` to `path` as output_file does (atomically where it can),
/// throwing std::runtime_error naming the path and the reason on failure.
inline void write_text_file(const std::filesystem::path& path, std::string_view text) {
    output_file out(path);
    out.write(text);
    out.commit();
}

}  // namespace rlscale::apps
