#pragma once

/// CRC-32 (IEEE 802.3, the zlib/PNG/gzip one): reflected polynomial
/// 0xEDB88320, initial value and final XOR 0xFFFFFFFF. crc32("123456789") is
/// 0xCBF43926. Table-driven, one byte at a time: the trajectory store checks
/// records of a few kilobytes, far from being limited by this.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rlscale::detail {

inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t n = 0; n < 256; ++n) {
        std::uint32_t c = n;
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
    return table;
}();

/// The CRC-32 of the bytes so far (`crc`, 0 for none) followed by `data[0..n)`:
/// crc32_update(crc32_update(0, a), b) is the CRC of a then b.
[[nodiscard]] constexpr std::uint32_t crc32_update(std::uint32_t crc, const unsigned char* data, std::size_t n) noexcept {
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = crc32_table[(crc ^ data[i]) & 0xFFU] ^ (crc >> 8);
    return ~crc;
}

/// The CRC-32 of a string's bytes (usable in constant expressions).
[[nodiscard]] constexpr std::uint32_t crc32(std::string_view s) noexcept {
    std::uint32_t crc = 0xFFFFFFFFU;
    for (const char ch : s) crc = crc32_table[(crc ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (crc >> 8);
    return ~crc;
}

[[nodiscard]] constexpr std::uint32_t crc32(const unsigned char* data, std::size_t n) noexcept {
    return crc32_update(0, data, n);
}

}  // namespace rlscale::detail
