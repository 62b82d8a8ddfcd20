#pragma once

#include <rlscale/core/json_keys.hpp>
#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/prometheus/errors.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rlscale::prometheus {

/// The `resultType` of a query result.
enum class result_type { vector, matrix, scalar, string };

[[nodiscard]] inline std::string_view to_string(result_type t) noexcept {
    switch (t) {
        case result_type::vector: return "vector";
        case result_type::matrix: return "matrix";
        case result_type::scalar: return "scalar";
        case result_type::string: return "string";
    }
    return "?";
}

/// A series' label set (`__name__` included when Prometheus returns it).
using labels = std::map<std::string, std::string>;

/// One sample: Unix time in seconds and value (NaN and ±∞ kept as such).
struct sample {
    double time = 0;
    double value = std::numeric_limits<double>::quiet_NaN();
};

/// One element of an instant vector.
struct vector_sample {
    labels metric;
    sample point;
};

/// One series of a range matrix.
struct matrix_series {
    labels metric;
    std::vector<sample> points;
};

/// A successful query's `data`, with the `warnings` Prometheus attached.
/// Exactly the member named by `type` is filled.
struct query_result {
    result_type type = result_type::vector;
    std::vector<vector_sample> vector;  ///< type == vector
    std::vector<matrix_series> matrix;  ///< type == matrix
    sample scalar;                      ///< type == scalar
    double string_time = 0;             ///< type == string: its time
    std::string string_value;           ///< type == string: its value
    std::vector<std::string> warnings;  ///< Prometheus' warnings, if any (each cut to 1 KiB)
    /// The server said the answer is partial (VictoriaMetrics' `isPartial`:
    /// a storage node did not answer), so values may lack some series' data.
    bool partial = false;
    /// Native histogram samples left out: vector elements with a
    /// `histogram` instead of a `value`, and the points of matrix series'
    /// `histograms` (a series with only those is left out of `matrix`).
    /// rlscale reads float samples only; wrap such a query in
    /// histogram_quantile(), histogram_count() or histogram_sum() for one.
    std::size_t dropped_histograms = 0;
};

/// The default bound on the JSON values of an answer (client_config::
/// max_response_values): a few bytes of text such as `{},` make a value
/// that takes tens of bytes once parsed, so the byte bound alone lets an
/// answer take gigabytes. A range answer's point, `[1700000000,"12.5"],`,
/// is 21 bytes and 3 values: at 8 Mi a real answer reaches the default
/// 32 MiB byte bound (4.8 Mi values of such points) first.
inline constexpr std::size_t default_max_response_values = std::size_t{8} << 20;

/// A sample value as Prometheus writes it: a finite decimal number (an
/// optional sign, digits with an optional point, an optional exponent:
/// Prometheus writes 1e+21 and up, and below 1e-06, with one), or exactly
/// one of the three spellings Prometheus gives the special values, "NaN",
/// "+Inf" and "-Inf". Throws parse_error naming `field` otherwise ("Inf",
/// "nan", "inf", "Infinity", hexadecimal, spaces).
[[nodiscard]] inline double parse_sample_value(std::string_view text, const std::string& field) {
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "+Inf") return std::numeric_limits<double>::infinity();
    if (text == "-Inf") return -std::numeric_limits<double>::infinity();
    std::string_view digits = text;
    if (!digits.empty() && digits.front() == '+') {
        digits.remove_prefix(1);
        if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) digits = {};  // "+-1", "++1": refused below
    }
    double v = 0;
    const auto* first = digits.data();
    const auto* last = digits.data() + digits.size();
    const auto [end, ec] = std::from_chars(first, last, v, std::chars_format::general);
    // from_chars also reads "nan" and "inf"; Prometheus writes those only in
    // the exact spellings handled above, so anything else non-finite is bad.
    if (digits.empty() || ec != std::errc{} || end != last || !std::isfinite(v))
        throw parse_error(field, "sample value \"" + valid_utf8(text, 64, "...") + "\" is not a number, \"NaN\", \"+Inf\" or \"-Inf\"");
    return v;
}

namespace detail {

[[nodiscard]] inline sample parse_pair(const nlohmann::json& j, const std::string& field) {
    if (!j.is_array() || j.size() != 2)
        throw parse_error(field, "expected [<unix time>, \"<value>\"], got " + json_summary(j));
    if (!j[0].is_number()) throw parse_error(field + "[0]", "timestamp is not a number: " + json_summary(j[0]));
    if (!j[1].is_string()) throw parse_error(field + "[1]", "sample value is not a string: " + json_summary(j[1]));
    return {j[0].get<double>(), parse_sample_value(j[1].get_ref<const std::string&>(), field + "[1]")};
}

[[nodiscard]] inline labels parse_labels(const nlohmann::json& item, const std::string& field) {
    labels out;
    const auto it = item.find("metric");
    if (it == item.end()) return out;
    if (!it->is_object()) throw parse_error(field + ".metric", "expected an object of labels, got " + json_summary(*it));
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string()) throw parse_error(field + ".metric." + valid_utf8(k, 64, "..."), "label value is not a string: " + json_summary(v));
        out.emplace(k, v.get<std::string>());
    }
    return out;
}

[[nodiscard]] inline const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& path) {
    const auto it = j.find(key);
    if (it == j.end()) throw parse_error(path.empty() ? key : path + "." + key, "missing");
    return *it;
}

/// A native histogram sample, `[<unix time>, {<histogram>}]`: checked for
/// its shape only, since it is counted, not read.
inline void check_histogram_pair(const nlohmann::json& j, const std::string& field) {
    if (!j.is_array() || j.size() != 2 || !j[0].is_number() || !j[1].is_object())
        throw parse_error(field, "expected [<unix time>, {<histogram>}], got " + json_summary(j));
}

}  // namespace detail

/// Parses a successful API answer (`"status":"success"`). Throws
/// parse_error for anything else that is not the documented format; an
/// error envelope is recognised by parse_envelope_error() first.
[[nodiscard]] inline query_result parse_query_response(const nlohmann::json& body) {
    if (!body.is_object()) throw parse_error("", "the body is not a JSON object");
    const auto& status = detail::member(body, "status", "");
    if (!status.is_string() || status.get_ref<const std::string&>() != "success")
        throw parse_error("status", "expected \"success\", got " + json_summary(status));
    const auto& data = detail::member(body, "data", "");
    if (!data.is_object()) throw parse_error("data", "expected an object, got " + json_summary(data));
    const auto& type = detail::member(data, "resultType", "data");
    const auto& result = detail::member(data, "result", "data");
    if (!type.is_string()) throw parse_error("data.resultType", "expected a string, got " + json_summary(type));

    query_result out;
    const auto& t = type.get_ref<const std::string&>();
    if (t == "vector" || t == "matrix") {
        out.type = t == "vector" ? result_type::vector : result_type::matrix;
        if (result.is_null()) {
            // An empty result may be encoded as null by some servers.
        } else if (!result.is_array()) {
            throw parse_error("data.result", "expected an array for a " + t + ", got " + json_summary(result));
        } else {
            for (std::size_t i = 0; i < result.size(); ++i) {
                const std::string path = "data.result[" + std::to_string(i) + "]";
                const auto& item = result[i];
                if (!item.is_object()) throw parse_error(path, "expected an object, got " + json_summary(item));
                // A native histogram sample comes as `histogram` (vector) or
                // `histograms` (matrix) instead of or beside the float
                // samples; it is counted in dropped_histograms and left
                // out, so the float series of the same answer are kept.
                const auto hist = item.find(out.type == result_type::vector ? "histogram" : "histograms");
                const bool has_hist = hist != item.end();
                if (out.type == result_type::vector) {
                    if (has_hist) {
                        detail::check_histogram_pair(*hist, path + ".histogram");
                        ++out.dropped_histograms;
                        if (!item.contains("value")) continue;
                    }
                    out.vector.push_back({detail::parse_labels(item, path),
                                          detail::parse_pair(detail::member(item, "value", path), path + ".value")});
                } else {
                    if (has_hist) {
                        if (!hist->is_array()) throw parse_error(path + ".histograms", "expected an array, got " + json_summary(*hist));
                        for (std::size_t k = 0; k < hist->size(); ++k)
                            detail::check_histogram_pair((*hist)[k], path + ".histograms[" + std::to_string(k) + "]");
                        out.dropped_histograms += hist->size();
                        if (!item.contains("values")) continue;  // `values` is left out when a series has no float sample
                    }
                    matrix_series s{detail::parse_labels(item, path), {}};
                    const auto& values = detail::member(item, "values", path);
                    if (!values.is_array()) throw parse_error(path + ".values", "expected an array, got " + json_summary(values));
                    s.points.reserve(values.size());
                    for (std::size_t k = 0; k < values.size(); ++k)
                        s.points.push_back(detail::parse_pair(values[k], path + ".values[" + std::to_string(k) + "]"));
                    out.matrix.push_back(std::move(s));
                }
            }
        }
    } else if (t == "scalar") {
        out.type = result_type::scalar;
        out.scalar = detail::parse_pair(result, "data.result");
    } else if (t == "string") {
        out.type = result_type::string;
        if (!result.is_array() || result.size() != 2 || !result[0].is_number() || !result[1].is_string())
            throw parse_error("data.result", "expected [<unix time>, \"<string>\"], got " + json_summary(result));
        out.string_time = result[0].get<double>();
        out.string_value = result[1].get<std::string>();
    } else {
        throw parse_error("data.resultType", "unknown result type \"" + valid_utf8(t, 64, "...") + "\"");
    }
    // `warnings` and `isPartial` are how a server says the data may lack
    // series (a store or storage node did not answer): in a shape not
    // documented they are refused, never read as no warning and a whole
    // answer. null is taken as absent.
    if (const auto w = body.find("warnings"); w != body.end() && !w->is_null()) {
        if (!w->is_array()) throw parse_error("warnings", "expected an array of strings, got " + json_summary(*w));
        out.warnings.reserve(w->size());
        for (std::size_t i = 0; i < w->size(); ++i) {
            const auto& s = (*w)[i];
            if (!s.is_string())
                throw parse_error("warnings[" + std::to_string(i) + "]", "expected a string, got " + json_summary(s));
            out.warnings.push_back(valid_utf8(s.get_ref<const std::string&>(), 1024, "..."));
        }
    }
    if (const auto p = body.find("isPartial"); p != body.end() && !p->is_null()) {
        if (!p->is_boolean()) throw parse_error("isPartial", "expected true or false, got " + json_summary(*p));
        out.partial = p->get<bool>();
    }
    return out;
}

/// Whether `body` is Prometheus' error envelope; if so, fills `type` and
/// `message` from `errorType` and `error`.
[[nodiscard]] inline bool parse_envelope_error(const nlohmann::json& body, std::string& type, std::string& message) {
    if (!body.is_object()) return false;
    const auto status = body.find("status");
    if (status == body.end() || !status->is_string() || status->get_ref<const std::string&>() != "error") return false;
    const auto et = body.find("errorType");
    const auto em = body.find("error");
    // Bounded: the texts go into error messages and the decision log.
    type = et != body.end() && et->is_string() ? valid_utf8(et->get_ref<const std::string&>(), 64, "...") : std::string("unknown");
    message = em != body.end() && em->is_string() ? valid_utf8(em->get_ref<const std::string&>(), 1024, "...")
                                                  : std::string("(no error text)");
    return true;
}

/// Turns an HTTP answer into a query_result or the typed error it stands
/// for: the error envelope → api_error (whatever the status), another
/// non-2xx answer → http_error, a 2xx answer that is not the documented
/// format → parse_error. A body of more than `max_values` JSON values (by
/// json_value_bound) is refused unparsed, as one nested too deep is. A body
/// with a NUL byte anywhere is not JSON (nor an error envelope), the
/// parse_error naming the byte's offset: nlohmann's parser would stop at it.
[[nodiscard]] inline query_result decode_response(int http_status, std::string_view body_text,
                                                  std::size_t max_values = default_max_response_values) {
    // An API answer is a few levels deep; a document nested deeper is
    // refused before it is built (a recursive walk of it could overflow the stack).
    constexpr std::size_t max_depth = 64;
    if (json_nesting_depth(body_text, max_depth) > max_depth) {
        if (http_status < 200 || http_status > 299) throw http_error(http_status, valid_utf8(body_text, 512));
        throw parse_error("", "the body is nested deeper than " + std::to_string(max_depth) + " levels");
    }
    // A parsed value takes tens of bytes however short its text, so a body
    // within max_response_bytes could still take gigabytes to build.
    if (json_value_bound(body_text, max_values) > max_values) {
        if (http_status < 200 || http_status > 299) throw http_error(http_status, valid_utf8(body_text, 512));
        throw parse_error("", "the body holds more than max_response_values (" + std::to_string(max_values) +
                                  ") JSON values; not parsed");
    }
    // A NUL byte makes the body not JSON, wherever it is: nlohmann's parser
    // would stop at it and read a document followed by a NUL and anything
    // as that document.
    const std::size_t nul = rlscale::detail::first_nul_byte(body_text);
    nlohmann::json body = nul != std::string_view::npos
                              ? nlohmann::json(nlohmann::json::value_t::discarded)
                              : nlohmann::json::parse(body_text, nullptr, /*allow_exceptions=*/false);
    std::string type, message;
    if (!body.is_discarded() && parse_envelope_error(body, type, message))
        throw api_error(http_status, std::move(type), std::move(message));
    if (http_status < 200 || http_status > 299)
        throw http_error(http_status, valid_utf8(body_text, 512));
    if (body.is_discarded()) {
        if (nul != std::string_view::npos) {
            throw parse_error("", "the body is not JSON: a NUL byte at offset " + std::to_string(nul) + ", after \"" +
                                      escape_controls(valid_utf8(body_text.substr(0, nul), 128)) + "\"");
        }
        throw parse_error("", "the body is not JSON: \"" + escape_controls(valid_utf8(body_text, 128)) + "\"");
    }
    return parse_query_response(body);
}

}  // namespace rlscale::prometheus
