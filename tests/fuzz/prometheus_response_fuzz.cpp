// Fuzz target: rlscale::prometheus::decode_response
// (adapters/prometheus/include/rlscale/prometheus/response.hpp), which turns
// an HTTP answer from Prometheus into a query_result or a typed error.
//
// Input: the first byte picks the HTTP status (16 values: 2xx, 1xx, 3xx, 4xx,
// 5xx, 0 and -1); the rest is the body.
//
// Property: only rlscale::prometheus::prometheus_error (or a subclass)
// escapes, and its what() is valid UTF-8 (as are an api_error's type and
// message and an http_error's body, the latter at most 512 bytes and the "…"
// marking a cut). A non-2xx status never gives a result. A result holds only
// the member its type names, and its label names and values, strings and
// warnings are valid UTF-8.

#include "fuzz_check.hpp"

#include <rlscale/core/text.hpp>
#include <rlscale/prometheus/errors.hpp>
#include <rlscale/prometheus/response.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view target = "prometheus_response";

void check_utf8(std::string_view text, const std::string& what) {
    RLSCALE_FUZZ_CHECK(rlscale::is_valid_utf8(text), target, what + " is not valid UTF-8: \"" + rlscale::fuzz::excerpt(text) + "\"");
}

void check_labels(const rlscale::prometheus::labels& labels) {
    for (const auto& [k, v] : labels) {
        check_utf8(k, "a label name");
        check_utf8(v, "a label value");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static constexpr int statuses[16] = {200, 200, 200, 201, 204, 299, 100, 199, 300, 400, 401, 422, 500, 503, 0, -1};
    const int status = statuses[data[0] % 16];
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    namespace p = rlscale::prometheus;
    try {
        const p::query_result r = p::decode_response(status, body);
        RLSCALE_FUZZ_CHECK(status >= 200 && status <= 299, target, "HTTP " + std::to_string(status) + " decoded as a result");
        using t = p::result_type;
        RLSCALE_FUZZ_CHECK(r.type == t::vector || r.vector.empty(), target, "a non-vector result holds vector samples");
        RLSCALE_FUZZ_CHECK(r.type == t::matrix || r.matrix.empty(), target, "a non-matrix result holds matrix series");
        RLSCALE_FUZZ_CHECK(r.type == t::string || r.string_value.empty(), target, "a non-string result holds a string");
        for (const auto& s : r.vector) check_labels(s.metric);
        for (const auto& s : r.matrix) check_labels(s.metric);
        check_utf8(r.string_value, "a string result");
        for (const auto& w : r.warnings) check_utf8(w, "a warning");
    } catch (const p::api_error& e) {
        check_utf8(e.what(), "api_error::what()");
        check_utf8(e.error_type(), "api_error::error_type()");
        check_utf8(e.message(), "api_error::message()");
        RLSCALE_FUZZ_CHECK(e.http_status() == status, target, "api_error with another status");
    } catch (const p::http_error& e) {
        check_utf8(e.what(), "http_error::what()");
        check_utf8(e.body(), "http_error::body()");
        RLSCALE_FUZZ_CHECK(e.body().size() <= 512 + 3, target, "http_error::body() longer than 512 bytes and the cut mark");
        RLSCALE_FUZZ_CHECK(e.http_status() == status, target, "http_error with another status");
        RLSCALE_FUZZ_CHECK(status < 200 || status > 299, target, "http_error for a 2xx status");
    } catch (const p::prometheus_error& e) {
        check_utf8(e.what(), "prometheus_error::what()");
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, std::string("an exception other than prometheus_error escaped: ") + e.what());
    } catch (...) {
        rlscale::fuzz::fail(target, "a non-std exception escaped");
    }
    return 0;
}
