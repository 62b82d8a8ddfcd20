#pragma once

/// Shared by the fuzz targets in this directory: how a target reports a
/// violated property. The message goes to standard error, then the process
/// aborts, which libFuzzer (and the replay driver, replay_main.cpp) report as
/// a crash with the input that caused it.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace rlscale::fuzz {

/// Prints "fuzz property violated (<target>): <message>" and aborts.
[[noreturn]] inline void fail(std::string_view target, std::string_view message) {
    std::fprintf(stderr, "\nfuzz property violated (%.*s): %.*s\n", static_cast<int>(target.size()), target.data(),
                 static_cast<int>(message.size()), message.data());
    std::fflush(stderr);
    std::abort();
}

/// Aborts with `message` unless `ok`. A macro, so that the message (often
/// built from the input) is only made when the property fails.
#define RLSCALE_FUZZ_CHECK(ok, target, message)                    \
    do {                                                           \
        if (!(ok)) ::rlscale::fuzz::fail((target), (message));     \
    } while (false)

/// At most `n` bytes of `s`, for messages that quote fuzzed text.
[[nodiscard]] inline std::string excerpt(std::string_view s, std::size_t n = 200) {
    std::string out(s.substr(0, n));
    if (s.size() > n) out += "...";
    return out;
}

}  // namespace rlscale::fuzz
