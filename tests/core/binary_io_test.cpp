// The binary state files' byte-level pieces: the writer's three forms (into
// a string, into a stream with the checksum taken on the way, counting
// only), the frame written in two passes straight to a stream, the
// chained FNV-1a, and the whole-file write through a temporary file.
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace test_core_binary_io {

using namespace rlscale;
using rlscale::detail::binary_writer;

/// Values of several sizes, some large enough to pass the file buffer.
void put_sample(binary_writer& w, const std::vector<float>& big) {
    w.put(std::uint32_t{7});
    w.put(-2.5);
    w.put(std::uint8_t{255});
    w.put_all(std::span<const float>(big));
    w.put(std::array<std::uint64_t, 2>{1, 2});
}

std::vector<float> big_values(std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.25F - 3.0F;
    return v;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

constexpr rlscale::detail::frame_format format{.magic = "rlscale.test.frame\n", .version = 3, .value_size = 4, .kind = "a test frame"};

TEST_CASE("binary_writer: into a string, into a stream and counting give the same bytes, size and checksum") {
    const auto big = big_values(50'000);
    binary_writer into_string;
    put_sample(into_string, big);
    std::ostringstream out;
    binary_writer into_stream(out);
    put_sample(into_stream, big);
    binary_writer counted(binary_writer::count_only);
    put_sample(counted, big);
    const std::string& bytes = into_string.bytes();
    CHECK(bytes.size() == 4 + 8 + 1 + 4 * big.size() + 16);
    CHECK(out.str() == bytes);
    CHECK(into_stream.bytes().empty());
    CHECK(counted.bytes().empty());
    CHECK(into_string.size() == bytes.size());
    CHECK(into_stream.size() == bytes.size());
    CHECK(counted.size() == bytes.size());
    CHECK(into_stream.checksum() == rlscale::detail::fnv1a64(bytes));
}

TEST_CASE("fnv1a64 goes on from a previous value: over pieces it equals the whole, and its known values") {
    CHECK(rlscale::detail::fnv1a64("") == 0xcbf29ce484222325ULL);
    CHECK(rlscale::detail::fnv1a64("a") == 0xaf63dc4c8601ec8cULL);  // FNV-1a 64's published test value
    const std::string s = "the quick brown fox jumps over the lazy dog";
    for (std::size_t cut = 0; cut <= s.size(); cut += 7) {
        CHECK(rlscale::detail::fnv1a64(std::string_view(s).substr(cut), rlscale::detail::fnv1a64(std::string_view(s).substr(0, cut))) ==
              rlscale::detail::fnv1a64(s));
    }
}

TEST_CASE("write_frame: written in two passes straight to the stream, byte for byte the frame of the payload made first") {
    const auto big = big_values(20'000);
    binary_writer payload;
    put_sample(payload, big);
    std::ostringstream two_pass;
    int calls = 0;
    rlscale::detail::write_frame(two_pass, format, "test", [&](binary_writer& w) {
        ++calls;
        put_sample(w, big);
    });
    CHECK(calls == 2);
    // The frame put together by hand from the payload made first: the
    // magic line, version, byte-order mark, value size, length, payload,
    // checksum.
    std::string by_hand(format.magic);
    const auto put = [&by_hand](const auto& v) { by_hand.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(format.version);
    put(rlscale::detail::byte_order_mark);
    put(format.value_size);
    put(static_cast<std::uint64_t>(payload.bytes().size()));
    by_hand.append(payload.bytes());
    put(rlscale::detail::fnv1a64(payload.bytes()));
    CHECK(two_pass.str() == by_hand);
    const std::string framed = two_pass.str();
    CHECK(rlscale::detail::read_frame(framed, format, "frame.") == payload.bytes());
    CHECK(framed.size() == format.magic.size() + 3 * 4 + 8 + payload.bytes().size() + 8);
}

TEST_CASE("write_frame: a payload that puts other values the second time is an error naming the writer") {
    std::ostringstream out;
    int calls = 0;
    CHECK_THROWS_WITH_AS(rlscale::detail::write_frame(out, format, "thing::save",
                                                      [&](binary_writer& w) {
                                                          if (++calls == 2) w.put(std::uint8_t{1});
                                                          w.put(std::uint64_t{2});
                                                      }),
                         doctest::Contains("thing::save: wrote 9 payload bytes after counting 8"), error);
}

TEST_CASE("write_frame: a stream that fails is an error naming the writer") {
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    CHECK_THROWS_WITH_AS(rlscale::detail::write_frame(out, format, "thing::save", [](binary_writer& w) { w.put(1.0); }),
                         doctest::Contains("thing::save: the stream failed while writing"), error);
}

TEST_CASE("read_frame from a stream: a length above the bound is refused by the head's field when it differs, else by the length") {
    // A frame whose length (100 bytes) is above the reader's bound (50):
    // its first payload bytes are handed to `head`.
    std::ostringstream out;
    rlscale::detail::write_frame(out, format, "test", [](binary_writer& w) {
        for (std::uint64_t i = 0; i < 12; ++i) w.put(i);
        w.put(std::uint32_t{9});
    });
    const std::string framed = out.str();
    const auto read = [&framed](auto head) {
        std::istringstream in(framed);
        return rlscale::detail::read_frame(in, format, "frame.", 50, "the most this test takes", head);
    };
    // A head whose field differs answers with that field.
    CHECK_THROWS_WITH_AS(read([](rlscale::detail::binary_reader& r) {
                             if (r.get<std::uint64_t>("first") != 5) throw checkpoint_error(r.name("first"), "is not 5");
                         }),
                         "checkpoint field frame.first: is not 5", checkpoint_error);
    // A head that reads past the bytes it was given: the length answers.
    CHECK_THROWS_WITH_AS(read([](rlscale::detail::binary_reader& r) {
                             std::array<char, 200> more{};
                             r.get_all(std::span<char>(more), "rest");
                         }),
                         doctest::Contains("checkpoint field frame.length: says 100 bytes, more than the 50 the most this test takes"),
                         checkpoint_error);
    // Told apart by the error's type, not its words: a field that is wrong
    // and says the same words as a short read still answers.
    CHECK_THROWS_WITH_AS(read([](rlscale::detail::binary_reader& r) {
                             throw checkpoint_error(r.name("table"), "the data ends inside it (an index past the table)");
                         }),
                         "checkpoint field frame.table: the data ends inside it (an index past the table)", checkpoint_error);
    // A short read is a truncated_data_error, which is a checkpoint_error.
    rlscale::detail::binary_reader r(std::string_view("abc"), "x.");
    CHECK_THROWS_AS((void)r.get<std::uint32_t>("n"), rlscale::detail::truncated_data_error);
}

TEST_CASE("write_file_atomically: the stream's bytes land whole, small and large writes mixed, and a writer that throws leaves the old file") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / ("binary_io_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "state.bin";
    const auto big = big_values(100'000);  // 400 KB: passes the 64 KiB buffer whole
    binary_writer expected;
    for (int i = 0; i < 3; ++i) put_sample(expected, big);
    rlscale::detail::write_file_atomically(path, "test state", [&](std::ostream& out) {
        binary_writer w(out);
        for (int i = 0; i < 3; ++i) put_sample(w, big);
    });
    CHECK(slurp(path) == expected.bytes());
    CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read) != std::filesystem::perms::none);

    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(path, "test state",
                                                                [&](std::ostream& out) {
                                                                    out << std::string(200'000, 'x');
                                                                    throw std::runtime_error("half way");
                                                                }),
                         "half way", std::runtime_error);
    CHECK(slurp(path) == expected.bytes());
    // Nothing left beside it: the temporary file is removed.
    CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);

    rlscale::detail::write_file_atomically(path, "test state", std::string_view("short"));
    CHECK(slurp(path) == "short");
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(dir / "no_such_dir" / "x.bin", "test state", std::string_view("x")),
                         doctest::Contains("cannot write test state beside"), error);
    // A rename that fails reports its own error, not the cleanup's success.
    std::filesystem::create_directories(dir / "occupied" / "inside");
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(dir / "occupied", "test state", std::string_view("x")),
                         doctest::Contains("cannot move test state into place at"), error);
    try {
        rlscale::detail::write_file_atomically(dir / "occupied", "test state", std::string_view("x"));
    } catch (const error& e) {
        CHECK(std::string(e.what()).find("Success") == std::string::npos);
    }
    CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 2);  // no temporary left
    std::filesystem::remove_all(dir);
}

TEST_CASE("write_file_atomically: a pipe, or a link to one, is refused as it is, and a link to a file is written through") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / ("binary_io_special_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    // A pipe (as a device, /dev/null, would be) is not replaced by a regular file.
    const std::filesystem::path fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(fifo, "test state", std::string_view("x")),
                         doctest::Contains(("cannot write test state to '" + fifo.string() + "': it is a pipe").c_str()), error);
    CHECK(std::filesystem::is_fifo(fifo));
    // Nor through a link to it.
    const std::filesystem::path to_fifo = dir / "to_fifo";
    std::filesystem::create_symlink(fifo, to_fifo);
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(to_fifo, "test state", std::string_view("x")),
                         doctest::Contains("it is a pipe"), error);
    CHECK(std::filesystem::is_symlink(to_fifo));
    CHECK(std::filesystem::is_fifo(fifo));
    // A link to a file: the file takes the new bytes, the link stays a link.
    const std::filesystem::path file = dir / "file.bin";
    rlscale::detail::write_file_atomically(file, "test state", std::string_view("old"));
    const std::filesystem::path link = dir / "link.bin";
    std::filesystem::create_symlink("file.bin", link);  // relative, as links often are
    rlscale::detail::write_file_atomically(link, "test state", std::string_view("new"));
    CHECK(std::filesystem::is_symlink(link));
    CHECK(slurp(file) == "new");
    // A link to a file not written yet, in another directory: created there, the link kept.
    std::filesystem::create_directories(dir / "volume");
    const std::filesystem::path ahead = dir / "ahead.bin";
    std::filesystem::create_symlink("volume/first.bin", ahead);
    rlscale::detail::write_file_atomically(ahead, "test state", std::string_view("first"));
    CHECK(std::filesystem::is_symlink(ahead));
    CHECK(slurp(dir / "volume" / "first.bin") == "first");
    // A link into a directory that does not exist: the error names where it points.
    std::filesystem::create_symlink("missing/x.bin", dir / "nowhere.bin");
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(dir / "nowhere.bin", "test state", std::string_view("x")),
                         doctest::Contains("missing/x.bin' (where link '"), error);
    std::filesystem::remove(dir / "nowhere.bin");
    // A loop of links is refused, both links kept.
    std::filesystem::create_symlink("loop_b", dir / "loop_a");
    std::filesystem::create_symlink("loop_a", dir / "loop_b");
    CHECK_THROWS_WITH_AS(rlscale::detail::write_file_atomically(dir / "loop_a", "test state", std::string_view("x")),
                         doctest::Contains("too many levels of symbolic links"), error);
    CHECK(std::filesystem::is_symlink(dir / "loop_a"));
    // No temporary is left beside any.
    CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 8);
    CHECK(std::distance(std::filesystem::directory_iterator(dir / "volume"), std::filesystem::directory_iterator()) == 1);
    std::filesystem::remove_all(dir);
}

TEST_CASE("fd_output_buffer: a failed write fails the stream and keeps its errno") {
    // Everywhere: a descriptor open for reading only refuses writes (EBADF).
    {
        const auto path = std::filesystem::path(RLSCALE_TEST_TMPDIR) / ("binary_io_read_only_" + std::to_string(::getpid()));
        std::ofstream(path) << "x";
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        rlscale::detail::fd_output_buffer buffer(fd);
        std::ostream out(&buffer);
        out << std::string(100'000, 'x');  // more than the buffer: written through at once
        CHECK_FALSE(out);
        CHECK(buffer.error() == EBADF);
        ::close(fd);
        std::filesystem::remove(path);
    }
    // A full disk, where the system has /dev/full (Linux does).
    const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        MESSAGE("no /dev/full here: the full disk not checked");
        return;
    }
    rlscale::detail::fd_output_buffer buffer(fd);
    std::ostream out(&buffer);
    out << std::string(100'000, 'x');
    CHECK_FALSE(out);
    CHECK(buffer.error() == ENOSPC);
    ::close(fd);
}

}  // namespace test_core_binary_io
