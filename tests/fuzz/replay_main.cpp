// Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without
// libFuzzer, so that the committed corpus runs as an ordinary test with any
// compiler. Usage: <program> PATH... where each PATH is a file or a directory
// (its regular files are replayed, in name order, not recursively). A
// violated property aborts the process (non-zero exit, and the last
// "replaying" line names the input); otherwise it prints how many inputs ran
// and exits 0. No input at all is an error, so a missing corpus is noticed.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool read_file(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", argv[0]);
        return 2;
    }
    std::vector<std::filesystem::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path p(argv[i]);
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> files;
            for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
                if (e.is_regular_file()) files.push_back(e.path());
            }
            if (ec) {
                std::fprintf(stderr, "cannot list %s: %s\n", p.c_str(), ec.message().c_str());
                return 2;
            }
            std::sort(files.begin(), files.end());
            inputs.insert(inputs.end(), files.begin(), files.end());
        } else if (std::filesystem::is_regular_file(p, ec)) {
            inputs.push_back(p);
        } else {
            std::fprintf(stderr, "no such file or directory: %s\n", p.c_str());
            return 2;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "no inputs to replay\n");
        return 2;
    }
    std::vector<std::uint8_t> data;
    for (const auto& path : inputs) {
        if (!read_file(path, data)) {
            std::fprintf(stderr, "cannot read %s\n", path.c_str());
            return 2;
        }
        std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(), data.size());
        // A copy in a buffer of exactly the input's size, as libFuzzer passes it,
        // so that an out-of-bounds read is as likely to show here.
        std::vector<std::uint8_t> exact(data.begin(), data.end());
        static const std::uint8_t none = 0;
        (void)LLVMFuzzerTestOneInput(exact.empty() ? &none : exact.data(), exact.size());
    }
    std::printf("replayed %zu inputs: every property held\n", inputs.size());
    return 0;
}
