#pragma once

// gzip-compresses a string with zlib, for test servers that send
// compressed answers (Content-Encoding: gzip) whether asked or not.

#include <zlib.h>

#include <stdexcept>
#include <string>

namespace rlscale::test {

inline std::string gzip_bytes(const std::string& plain) {
    z_stream z{};
    // 15 window bits + 16: a gzip header and trailer rather than zlib's.
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("gzip_bytes: deflateInit2 failed");
    }
    std::string out(deflateBound(&z, static_cast<uLong>(plain.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
    z.avail_in = static_cast<uInt>(plain.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw std::runtime_error("gzip_bytes: deflate failed");
    out.resize(z.total_out);
    return out;
}

}  // namespace rlscale::test
