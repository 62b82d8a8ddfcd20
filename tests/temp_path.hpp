#pragma once

// A fresh file path for a test, under the test program's directory
// (RLSCALE_TEST_TMPDIR, which every test target defines).

#include <filesystem>
#include <string_view>

namespace rlscale::test {

/// RLSCALE_TEST_TMPDIR/`subdir`/`name`, with `subdir` created and nothing
/// left at the path from an earlier run (a file, or a directory and all in it).
inline std::filesystem::path fresh_path(std::string_view subdir, std::string_view name) {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / subdir;
    std::filesystem::create_directories(dir);
    std::filesystem::path path = dir / name;
    std::filesystem::remove_all(path);
    return path;
}

}  // namespace rlscale::test
