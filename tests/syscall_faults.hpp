#pragma once

namespace rlscale::test {

/// Which fsync calls fail_fsync makes fail.
enum class fsync_target { none, files, directories };

/// From now on, fsync of the `target` kind (regular files or directories)
/// fails with `error` (EIO by default), `times` times (-1: every time);
/// fsync_target::none turns this off. This executable's fsync replaces the C library's (made through
/// the system call otherwise), for tests of what a failed sync leaves
/// behind; the rest of the program is untouched.
void fail_fsync(fsync_target target, int times = -1, int error = 5 /* EIO */) noexcept;

/// fsync calls made to fail so far.
int failed_fsyncs() noexcept;

}  // namespace rlscale::test
