#include "../../apps/common/output_file.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include "../temp_path.hpp"

namespace test_apps_output_file {

using namespace rlscale::apps;
using rlscale::test::fresh_path;

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Files in `dir` whose name starts with `prefix` and holds ".tmp-".
int temporaries(const std::filesystem::path& dir, const std::string& prefix) {
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(prefix) && name.find(".tmp-") != std::string::npos) ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("output_file: writes the whole text, replaces an existing file and leaves no temporary file") {
    const auto path = fresh_path("output_file", "out.csv");
    write_text_file(path, "a,b\n1,2\n");
    CHECK(read_file(path) == "a,b\n1,2\n");
    write_text_file(path, "replaced\n");
    CHECK(read_file(path) == "replaced\n");
    write_text_file(path, "");
    CHECK(std::filesystem::exists(path));
    CHECK(read_file(path).empty());
    CHECK(temporaries(path.parent_path(), "out.csv") == 0);
}

TEST_CASE("output_file: nothing reaches the target before commit, and an abandoned writer leaves the old file") {
    const auto path = fresh_path("output_file", "streamed.csv");
    write_text_file(path, "old\n");
    {
        output_file out(path);
        std::fprintf(out.get(), "new %d\n", 1);
        out.write("more\n");
        CHECK(read_file(path) == "old\n");
        CHECK(temporaries(path.parent_path(), "streamed.csv") == 1);
        // Destroyed without commit(), as when the run throws.
    }
    CHECK(read_file(path) == "old\n");
    CHECK(temporaries(path.parent_path(), "streamed.csv") == 0);
    {
        output_file out(path);
        std::fprintf(out.get(), "new %d\n", 2);
        out.commit();
        CHECK(out.get() == nullptr);
        out.commit();  // a second commit does nothing
    }
    CHECK(read_file(path) == "new 2\n");
}

TEST_CASE("output_file: a replaced file keeps its permissions, a link keeps pointing at the replaced file") {
    const auto path = fresh_path("output_file", "kept.csv");
    write_text_file(path, "1\n");
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    write_text_file(path, "2\n");
    CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

    const auto link = fresh_path("output_file", "link.csv");
    std::filesystem::create_symlink(path.filename(), link);
    write_text_file(link, "through the link\n");
    CHECK(std::filesystem::is_symlink(std::filesystem::symlink_status(link)));
    CHECK(read_file(path) == "through the link\n");
}

TEST_CASE("output_file: a missing directory or a directory in the way throws naming the path") {
    const auto path = fresh_path("output_file", "no_such_dir") / "out.csv";
    try {
        write_text_file(path, "x\n");
        FAIL("wrote into a missing directory");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
        CHECK(std::string(e.what()).find("No such file or directory") != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(path.parent_path()));

    const auto dir = fresh_path("output_file", "dir_in_the_way");
    std::filesystem::create_directories(dir);
    CHECK_THROWS_WITH_AS(write_text_file(dir, "x\n"), doctest::Contains("it is a directory"), std::runtime_error);
    CHECK(std::filesystem::is_directory(dir));
}

TEST_CASE("output_file: a device is written in place, and a full one is an error naming it") {
    if (!std::filesystem::exists("/dev/full") || !std::filesystem::exists("/dev/null")) {
        MESSAGE("no /dev/full or /dev/null here");
        return;
    }
    write_text_file("/dev/null", "discarded\n");  // not renamed over: written in place
    CHECK(std::filesystem::is_character_file("/dev/null"));
    try {
        write_text_file("/dev/full", "x\n");
        FAIL("writing /dev/full succeeded");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "cannot write '/dev/full': No space left on device");
    }
    // Streamed past the stdio buffer: the failure is reported at commit.
    output_file out("/dev/full");
    for (int i = 0; i < 10'000; ++i) std::fprintf(out.get(), "row %d\n", i);
    CHECK_THROWS_WITH_AS(out.commit(), "cannot write '/dev/full': No space left on device", std::runtime_error);
}

TEST_CASE("output_file: a writable file in a directory that allows no temporary file is written in place") {
    if (::geteuid() == 0) {
        MESSAGE("running as root: directory permissions do not apply");
        return;
    }
    const auto dir = fresh_path("output_file", "read_only_dir");
    std::filesystem::create_directories(dir);
    write_text_file(dir / "in_place.csv", "old\n");
    std::filesystem::permissions(dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    write_text_file(dir / "in_place.csv", "new\n");
    CHECK(read_file(dir / "in_place.csv") == "new\n");
    CHECK_THROWS_WITH_AS(write_text_file(dir / "new.csv", "x\n"), doctest::Contains("Permission denied"), std::runtime_error);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
}

TEST_CASE("output_file: a file whose temporary name would be too long is written in place") {
    // 245 characters: the name fits, "<name>.tmp-<random>" does not (255 at most).
    const std::string name = std::string(241, 'n') + ".csv";
    const auto path = fresh_path("output_file", name);
    write_text_file(path, "new file\n");  // a new file
    CHECK(read_file(path) == "new file\n");
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    write_text_file(path, "replaced in place\n");  // an existing one
    CHECK(read_file(path) == "replaced in place\n");
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(temporaries(path.parent_path(), name.substr(0, 20)) == 0);
}

TEST_CASE("output_file: the file stdout writes to is written through stdout's descriptor, not replaced") {
    const auto path = fresh_path("output_file", "stdout.txt");
    write_text_file(path, "");
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    std::fflush(stdout);
    std::cout.flush();
    const int saved = ::dup(1);
    REQUIRE(saved >= 0);
    const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    // From here to the restore below nothing may print (doctest writes to stdout).
    ::dup2(fd, 1);
    ::close(fd);
    bool threw = false;
    try {
        write_text_file(path, "csv\n");
    } catch (const std::exception&) {
        threw = true;
    }
    const bool wrote_after = ::write(1, "printed after\n", 14) == 14;
    ::dup2(saved, 1);
    ::close(saved);
    CHECK_FALSE(threw);
    CHECK(wrote_after);
    // Not replaced (what stdout prints afterwards reaches the named file),
    // nor truncated (the text follows what stdout wrote before).
    CHECK(read_file(path) == "csv\nprinted after\n");
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(temporaries(path.parent_path(), "stdout.txt") == 0);
}

TEST_CASE("output_file: another user's file is written in place and keeps its owner") {
    if (::geteuid() != 0) {
        MESSAGE("not root: cannot give a file to another user");
        return;
    }
    const auto path = fresh_path("output_file", "others.csv");
    write_text_file(path, "old\n");
    REQUIRE(::chown(path.c_str(), 65534, static_cast<gid_t>(-1)) == 0);
    struct stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);
    write_text_file(path, "new\n");
    CHECK(read_file(path) == "new\n");
    struct stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    CHECK(after.st_uid == 65534);
    CHECK(temporaries(path.parent_path(), "others.csv") == 0);
}

TEST_CASE("output_file: an existing file that may not be written is refused, not replaced") {
    if (::geteuid() == 0) {
        MESSAGE("running as root: file permissions do not apply");
        return;
    }
    const auto path = fresh_path("output_file", "read_only.csv");
    write_text_file(path, "kept\n");
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::group_read |
                                           std::filesystem::perms::others_read);
    CHECK_THROWS_WITH_AS(write_text_file(path, "x\n"), doctest::Contains("Permission denied"), std::runtime_error);
    CHECK(read_file(path) == "kept\n");
    CHECK(temporaries(path.parent_path(), "read_only.csv") == 0);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace test_apps_output_file
