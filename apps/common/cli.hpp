#pragma once

// Strict parsing of the programs' option values: the whole text must be
// the number (no "10x"), unsigned options take no sign (std::stoull reads
// "-3" as 2^64 - 3), floating values must be finite. A refused value is a
// usage_error naming the option and the text, which a program prints before
// exiting with 2.

#include <rlscale/core/text.hpp>
#include <rlscale/core/validate.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace rlscale::cli {

/// An option's value that cannot be used.
class usage_error : public std::runtime_error {
public:
    usage_error(std::string_view option, const std::string& what) : std::runtime_error(std::string(option) + ": " + what) {}
};

/// `text` quoted, its control characters escaped, cut past `max_bytes`
/// (with "..."), for a message.
[[nodiscard]] inline std::string quoted(std::string_view text, std::size_t max_bytes = 64) {
    return "\"" + escape_controls(valid_utf8(text, max_bytes, "...")) + "\"";
}

/// A file's path quoted, cut only past 4096 bytes (a path's length on
/// Linux): a path cut to 64 bytes would not say which file.
[[nodiscard]] inline std::string quoted_path(std::string_view path) { return quoted(path, 4096); }

/// A finite number, the whole text.
[[nodiscard]] inline double number(std::string_view option, std::string_view text) {
    double v = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc{} || ptr != end || !std::isfinite(v)) {
        throw usage_error(option, "expected a finite number, got " + quoted(text));
    }
    return v;
}

/// A number greater than `lo` (and finite).
[[nodiscard]] inline double number_above(std::string_view option, std::string_view text, double lo) {
    const double v = number(option, text);
    if (!(v > lo)) throw usage_error(option, "must be > " + format_number(lo) + ", got " + quoted(text));
    return v;
}

/// A finite number in [lo, hi], the whole text.
[[nodiscard]] inline double number_in(std::string_view option, std::string_view text, double lo, double hi) {
    const double v = number(option, text);
    if (!(v >= lo && v <= hi)) {
        throw usage_error(option, "must be in [" + format_number(lo) + ", " + format_number(hi) + "], got " + quoted(text));
    }
    return v;
}

/// An integer in [lo, hi], the whole text.
template <typename T = long long>
[[nodiscard]] T integer(std::string_view option, std::string_view text, T lo = std::numeric_limits<T>::min(),
                        T hi = std::numeric_limits<T>::max()) {
    T v{};
    const char* end = text.data() + text.size();
    // from_chars takes no '+' and, for an unsigned T, no '-'.
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc{} || ptr != end || text.empty()) {
        throw usage_error(option, std::string(std::is_unsigned_v<T> ? "expected a non-negative integer" : "expected an integer") +
                                      (ec == std::errc::result_out_of_range ? " in range" : "") + ", got " + quoted(text));
    }
    if (v < lo || v > hi) {
        throw usage_error(option, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + quoted(text));
    }
    return v;
}

/// A seed: any unsigned 64-bit integer.
[[nodiscard]] inline std::uint64_t seed(std::string_view option, std::string_view text) {
    return integer<std::uint64_t>(option, text);
}

/// Runs a program's `run(argc, argv)`: a usage_error is printed and exits
/// with 2, any other exception (a configuration refused, a file that
/// cannot be written) is printed and exits with 1, instead of aborting.
template <typename Run>
int guarded_main(int argc, char** argv, Run run) {
    try {
        return run(argc, argv);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}

}  // namespace rlscale::cli
