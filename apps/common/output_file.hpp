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
// file has its target replaced. An existing file the caller may not write
// (e.g. mode 444) is refused ("Permission denied"), as opening it would be.
// These are written in place instead, still checking every write and the
// close:
//   - a target that is not a regular file (a device such as /dev/full, a
//     FIFO, a pipe or terminal behind /dev/stdout, a dangling link);
//   - the file the program's stdout or stderr already writes to (e.g.
//     `--csv /dev/stdout > run.txt`): written through a duplicate of that
//     descriptor, so nothing is truncated or replaced and what the program
//     prints later still lands in the same file;
//   - an existing file owned by another user (replacing it would change
//     its owner, and a sticky directory such as /tmp forbids it);
//   - a file whose directory allows no temporary file while the file itself
//     is writable, or whose temporary name would be too long.
// A rename the system refuses at commit (EPERM, EBUSY for a bind-mounted
// file, EXDEV) falls back to copying the finished text into the target.
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

#include <sys/stat.h>
#include <unistd.h>

namespace rlscale::apps {

class output_file {
public:
    /// Opens the stream `get()` returns: a temporary file beside `path`, or
    /// `path` itself (see the header comment). Throws std::runtime_error
    /// naming `path` if neither can be opened, or if `path` is a directory.
    explicit output_file(std::filesystem::path path) : path_(std::move(path)) {
        namespace fs = std::filesystem;
        // What the program has printed goes out first: the target may be its
        // own stdout or stderr (a file, a pipe, a terminal), and their
        // buffers would otherwise land after this file's text.
        std::fflush(stdout);
        std::fflush(stderr);
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
        int same_as_fd = -1;  // 1 or 2 when the target is what stdout or stderr writes to
        if (!in_place && fs::is_regular_file(target)) {
            // An existing file that cannot be written is not replaced behind the user's back.
            errno = 0;
            if (::access(path_.c_str(), W_OK) != 0) fail("", errno != 0 ? errno : EACCES);
            struct stat file_stat {};
            if (::stat(path_.c_str(), &file_stat) == 0) {
                for (const int fd : {1, 2}) {
                    struct stat fd_stat {};
                    if (::fstat(fd, &fd_stat) == 0 && fd_stat.st_dev == file_stat.st_dev && fd_stat.st_ino == file_stat.st_ino) {
                        same_as_fd = fd;
                        break;
                    }
                }
                // Replacing another user's file would make it ours (or be refused in a sticky directory).
                if (same_as_fd != -1 || file_stat.st_uid != ::geteuid()) in_place = true;
            }
        }
        if (same_as_fd != -1) {
            errno = 0;
            const int fd = ::dup(same_as_fd);
            if (fd < 0) fail("", errno);
            file_ = ::fdopen(fd, "wb");  // no truncation: the stream's offset is shared
            if (file_ == nullptr) {
                const int err = errno;
                ::close(fd);
                fail("", err);
            }
            return;
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
            // directory) or when only the temporary name is too long;
            // otherwise report why the directory refused.
            if (file_ == nullptr && open_errno != ENAMETOOLONG && !(fs::exists(target) && ::access(path_.c_str(), W_OK) == 0)) {
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
            if (ec) {
                const int err = ec.value();
                // The file may be written but not replaced: copy the text into it.
                if (err != EPERM && err != EBUSY && err != EXDEV) fail("", err);
                copy_into_final();
                std::filesystem::remove(tmp_, ec);
            }
            tmp_.clear();
        }
    }

private:
    /// Copies the finished temporary file into final_ in place, checking
    /// every read, write and the close (the temporary file is left for the
    /// caller or the destructor to remove).
    void copy_into_final() const {
        errno = 0;
        std::FILE* in = std::fopen(tmp_.c_str(), "rb");
        if (in == nullptr) fail("", errno);
        errno = 0;
        std::FILE* out = std::fopen(final_.c_str(), "wb");
        if (out == nullptr) {
            const int err = errno;
            std::fclose(in);
            fail("", err);
        }
        char buffer[1 << 16];
        int err = 0;
        for (;;) {
            errno = 0;
            const std::size_t n = std::fread(buffer, 1, sizeof buffer, in);
            if (n > 0 && std::fwrite(buffer, 1, n, out) != n) {
                err = errno != 0 ? errno : EIO;
                break;
            }
            if (n < sizeof buffer) {
                if (std::ferror(in)) err = errno != 0 ? errno : EIO;
                break;
            }
        }
        std::fclose(in);
        errno = 0;
        if (err == 0 && (std::fflush(out) != 0 || std::ferror(out))) err = errno != 0 ? errno : EIO;
        if (err == 0 && ::fsync(::fileno(out)) != 0) err = errno;
        errno = 0;
        if (std::fclose(out) != 0 && err == 0) err = errno != 0 ? errno : EIO;
        if (err != 0) fail("", err);
    }

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
