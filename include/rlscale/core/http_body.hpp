#pragma once

/// A bound on the size of an HTTP answer, for the adapters' clients. An
/// HTTP library that inflates gzip or brotli answers (cpp-httplib does when
/// built with zlib and brotli, as Debian's is) would otherwise hold a
/// whole inflated answer in memory: a few kilobytes on the wire can become
/// gigabytes. The bound counts the bytes as they are handed over, after
/// inflation, and stops the transfer past it.

#include <cstddef>
#include <cstdint>
#include <string>

namespace rlscale {

/// Where an answer's body is collected, at most `limit` bytes of it.
struct bounded_body {
    std::size_t limit;
    std::string bytes;
    bool over = false;  ///< true once more than `limit` bytes arrived (the transfer was stopped)

    /// Makes `request` (an httplib::Request, or anything with a
    /// `content_receiver` taking (data, size, offset, total)) hand its
    /// answer's body to this object, which must outlive the exchange.
    template <typename Request>
    void receive_into(Request& request) {
        request.content_receiver = [this](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
            if (n > limit - bytes.size()) {
                over = true;
                return false;  // stops the transfer
            }
            bytes.append(data, n);
            return true;
        };
    }
};

}  // namespace rlscale
