// fsync for the executables that link this file: the system call, or EIO
// when a test asks for it (syscall_faults.hpp). Calls from the headers under
// test resolve to this definition, which the executable exports in place of
// the C library's.
#include "syscall_faults.hpp"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace {

std::atomic<rlscale::test::fsync_target> target{rlscale::test::fsync_target::none};
std::atomic<int> remaining{0};
std::atomic<int> failed{0};
std::atomic<int> error_number{EIO};

bool should_fail(int fd) noexcept {
    const auto t = target.load();
    if (t == rlscale::test::fsync_target::none) return false;
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) return false;
    const bool dir = S_ISDIR(st.st_mode);
    if (dir != (t == rlscale::test::fsync_target::directories)) return false;
    int left = remaining.load();
    while (left != 0) {
        if (left < 0) return true;
        if (remaining.compare_exchange_weak(left, left - 1)) return true;
    }
    return false;
}

}  // namespace

namespace rlscale::test {

void fail_fsync(fsync_target t, int times, int error) noexcept {
    remaining.store(times);
    error_number.store(error);
    target.store(t);
}

int failed_fsyncs() noexcept { return failed.load(); }

}  // namespace rlscale::test

extern "C" int fsync(int fd) {
    if (should_fail(fd)) {
        failed.fetch_add(1);
        errno = error_number.load();
        return -1;
    }
    return static_cast<int>(::syscall(SYS_fsync, fd));
}
