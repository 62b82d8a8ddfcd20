#pragma once

/// The controller's decision log: JSON lines appended to a file, or written
/// to standard output. A line is written whole or not at all: each goes out
/// in one write() on an O_APPEND descriptor, and a write that stops partway
/// (a full disk, the file size limit) is cut back off the file, so the log
/// never holds a torn line, and no line is written late, after a fragment of
/// itself (as a stream's buffer would, once its error state is cleared).
/// A file follows rotation: renamed away (logrotate's "create") or deleted,
/// it is created again at its path for the next line; copied and truncated
/// in place ("copytruncate"), the next line goes to its new end.

#include <rlscale/core/error.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rlscale::controller {

class decision_log {
public:
    /// Opens `path` for appending (created if absent); "-" is standard
    /// output. Throws config_error naming decision_log when it cannot be opened.
    explicit decision_log(const std::string& path) : path_(path) {
        if (path == "-") {
            fd_ = STDOUT_FILENO;
        } else {
            fd_ = open_path();
            if (fd_ < 0) throw config_error("decision_log", "cannot open " + path + " for appending: " + std::strerror(errno));
            owned_ = true;
        }
        note_file();
    }
    decision_log(const decision_log&) = delete;
    decision_log& operator=(const decision_log&) = delete;
    ~decision_log() {
        if (owned_) ::close(fd_);
    }

    /// Appends `line` and a line break. False when they could not all be
    /// written: the line is then left out (last_error() says why), the
    /// part written cut off a regular file, or, where that cannot be done
    /// (a pipe, a file another writer appended to meanwhile), ended with a
    /// line break so that the next line starts on its own. A file no longer
    /// at its path (renamed away or deleted) is first created there again;
    /// when that fails, the line is left out as well.
    bool append(std::string_view line) {
        if (owned_ && !follow_path()) {
            ++lost_;
            return false;
        }
        std::string text;
        text.reserve(line.size() + 1);
        text.append(line);
        text.push_back('\n');
        const off_t before = size();
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error_ = n < 0 ? std::strerror(errno) : "nothing written";
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        if (done == text.size()) return true;
        ++lost_;
        if (done > 0) cut(before, done);
        return false;
    }

    /// Why the last append that failed did.
    [[nodiscard]] const std::string& last_error() const noexcept { return error_; }
    /// Lines left out since the log was opened.
    [[nodiscard]] std::uint64_t lines_lost() const noexcept { return lost_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    int fd_ = -1;
    bool owned_ = false;
    bool regular_ = false;
    // The open file's identity, to tell whether the path still names it.
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::string error_;
    std::uint64_t lost_ = 0;

    [[nodiscard]] int open_path(int extra_flags = 0) const noexcept {
        return ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | extra_flags, 0666);
    }

    void note_file() noexcept {
        struct stat st {};
        const bool known = ::fstat(fd_, &st) == 0;
        regular_ = known && S_ISREG(st.st_mode);
        dev_ = known ? st.st_dev : 0;
        ino_ = known ? st.st_ino : 0;
    }

    /// Makes the descriptor the file now at the path: after a rotation by
    /// rename the open one is the rotated file, and after a deletion an
    /// unlinked one, where every line would go unseen with no error. One
    /// stat() per line while the file stays. Only a regular file is
    /// followed (a pipe or a device is not rotated), and the reopen never
    /// waits: a named pipe put at the path with no reader yet fails it
    /// (ENXIO) rather than holding the control loop. False (last_error()
    /// says why) when the path names no file and one cannot be created or
    /// opened there; the next append tries again.
    bool follow_path() {
        if (!regular_) return true;
        struct stat at {};
        if (::stat(path_.c_str(), &at) == 0 && at.st_dev == dev_ && at.st_ino == ino_) return true;
        const auto refuse = [this] {
            error_ = "cannot open it again after it was moved or deleted: " + std::string(std::strerror(errno));
            return false;
        };
        const int fd = open_path(O_NONBLOCK);
        if (fd < 0) return refuse();
        if (const int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
            refuse();
            ::close(fd);
            return false;
        }
        ::close(fd_);
        fd_ = fd;
        note_file();
        return true;
    }

    /// The file's size, or -1 when it is not a regular file (or unknown).
    [[nodiscard]] off_t size() const noexcept {
        struct stat st {};
        return regular_ && ::fstat(fd_, &st) == 0 ? st.st_size : -1;
    }

    /// Removes the `done` bytes of a torn line written at `before`, if the
    /// file ends with them (nothing else was written or truncated since);
    /// otherwise ends them with a line break.
    void cut(off_t before, std::size_t done) noexcept {
        // The offset goes back with the size: a descriptor opened without
        // O_APPEND (standard output redirected with `>`) would otherwise
        // write the next line past a hole of `done` zero bytes.
        if (before >= 0 && size() == before + static_cast<off_t>(done) && ::ftruncate(fd_, before) == 0 &&
            ::lseek(fd_, before, SEEK_SET) == before) {
            return;
        }
        while (::write(fd_, "\n", 1) < 0 && errno == EINTR) {
        }
    }
};

}  // namespace rlscale::controller
