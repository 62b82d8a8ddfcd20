#pragma once

/// Parsing and validation of one decision request of the decision service
/// (POST /decide): parse_decision_request, request_error and the JSON field
/// helpers. A body is checked for its nesting depth before it is parsed, and
/// every text it echoes in an error is made valid UTF-8 and cut short. See
/// docs/adapters/service.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/json_keys.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/text.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rlscale::service {

/// One decision request, parsed and validated.
struct decision_request {
    std::string function;     ///< function name
    function_metrics metrics; ///< what the function did over the last interval
    scaling_state state;      ///< its current replicas, bounds, clock and SLO
};

/// A request the service refuses: `field()` names the offending JSON field
/// (e.g. "metrics.cpu_utilization"), what() is "<field>: <what>".
class request_error : public error {
public:
    request_error(std::string field, const std::string& message)
        : error(field + ": " + message), field_(std::move(field)), detail_(message) {}
    [[nodiscard]] const std::string& field() const noexcept { return field_; }
    /// The message without the field.
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

private:
    std::string field_;
    std::string detail_;
};

/// Deepest nesting of arrays and objects a request body may have (a request
/// needs 5: a multi-function body, a request, metrics, latency). Deeper bodies
/// are refused before they are parsed.
inline constexpr std::size_t max_json_depth = 64;

/// Most bytes of client text (a field name, a path, the part of a body a
/// parse error quotes) an error message repeats.
inline constexpr std::size_t max_echo_bytes = 100;

namespace detail {

using json = nlohmann::json;

/// `text` as valid UTF-8 of at most `max_bytes` bytes (then "..." is
/// appended): every byte that does not start a well-formed UTF-8 sequence
/// becomes U+FFFD. For client text that goes into a JSON answer.
[[nodiscard]] inline std::string printable(std::string_view text, std::size_t max_bytes = max_echo_bytes) {
    return rlscale::valid_utf8(text, max_bytes, "...");
}

/// Throws request_error("body") if `body` nests arrays and objects deeper
/// than `max_depth` (counted without parsing, rlscale::json_nesting_depth),
/// so a deep body is refused before a json value (whose dump() recurses) is
/// built. Unbalanced brackets are left to the parser.
inline void check_depth(std::string_view body, std::size_t max_depth) {
    if (rlscale::json_nesting_depth(body, max_depth) > max_depth) {
        throw request_error("body", "nested deeper than " + std::to_string(max_depth) + " levels");
    }
}

/// nlohmann's message for a body it cannot parse, with the part of the body
/// it quotes (after "last read: '" in a parse_error, after "parsing '" in
/// out_of_range 406, a number too large) made valid UTF-8 and cut to
/// max_echo_bytes; its own text before that is kept.
[[nodiscard]] inline std::string json_error_message(std::string_view what) {
    for (const std::string_view marker : {std::string_view("last read: '"), std::string_view("parsing '")}) {
        if (const auto at = what.find(marker); at != std::string_view::npos) {
            const std::size_t quoted = at + marker.size();
            return printable(what.substr(0, quoted), quoted) + printable(what.substr(quoted));
        }
    }
    return printable(what, 2 * max_echo_bytes);
}

/// Appends `key` to the field path `path` (as an error names a field):
/// `.key` (no dot at the start), or bracket-quoted, `["key"]`, when the
/// key is empty or holds '.', '[', ']' or '"', with '"' and '\' escaped
/// inside the quotes. Written plainly such a key would name no field (a
/// top-level "" as ""), or another one (a top-level "metrics.interval_s"
/// as the required field in metrics). The key is made printable, cut at
/// max_echo_bytes.
inline void append_key(std::string& path, std::string_view key) {
    const std::string text = printable(key);
    if (key.empty() || key.find_first_of(".[]\"") != std::string_view::npos) {
        path += "[\"";
        for (const char c : text) {
            if (c == '"' || c == '\\') path += '\\';
            path += c;
        }
        path += "\"]";
    } else {
        if (!path.empty()) path += '.';
        path += text;
    }
}

/// A request body as JSON: its depth checked (check_depth with
/// max_json_depth), then parsed. Throws request_error("body") for a body too
/// deep or malformed, including invalid UTF-8 in a string and a NUL byte
/// anywhere (named by its offset: nlohmann's parser would stop at it, and a
/// request followed by a NUL and anything would be decided, where every
/// other reader of the body refuses it). A key repeated in one object is
/// refused, named by its path (`metrics.interval_s`, `functions[1].replicas`,
/// a key bracket-quoted as append_key writes it): JSON leaves its meaning
/// open, and nlohmann keeps the last, so `"replicas": 3, "replicas": -5`
/// would be judged on the one a reader least expects.
[[nodiscard]] inline json parse_body(std::string_view body) {
    if (const std::size_t nul = rlscale::detail::first_nul_byte(body); nul != std::string_view::npos) {
        throw request_error("body", "malformed JSON: a NUL byte at offset " + std::to_string(nul));
    }
    check_depth(body, max_json_depth);
    // The objects and arrays being read, innermost last (depth is bounded
    // above, so this stays small): an object's keys so far and its current
    // key, an array's current element.
    struct open_value {
        bool array = false;
        std::unordered_set<std::string> keys;
        std::string key;
        std::size_t index = 0;
    };
    std::vector<open_value> open;
    std::optional<std::string> repeated;  // the first repeated key's path
    const auto path = [&] {
        std::string out;
        for (const auto& v : open) {
            if (v.array) {
                out += "[" + std::to_string(v.index) + "]";
            } else {
                append_key(out, v.key);
            }
        }
        return out;
    };
    const auto element_done = [&] {
        if (!open.empty() && open.back().array) ++open.back().index;
    };
    const json::parser_callback_t once = [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: open.push_back({}); break;
            case json::parse_event_t::array_start:
                open.emplace_back();
                open.back().array = true;
                break;
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                if (!open.empty()) open.pop_back();
                element_done();
                break;
            case json::parse_event_t::key:
                if (!open.empty()) {
                    open.back().key = parsed.get_ref<const std::string&>();
                    if (!open.back().keys.insert(open.back().key).second && !repeated) repeated = path();
                }
                break;
            case json::parse_event_t::value: element_done(); break;
        }
        return true;
    };
    json j;
    try {
        j = json::parse(body.begin(), body.end(), once);
    } catch (const json::out_of_range& e) {
        // A number too large for a double: the value being read is the open
        // object's current key (or the open array's current element).
        const std::string where = path();
        throw request_error(where.empty() ? std::string("body") : printable(where),
                            "number too large for a double: " + json_error_message(e.what()));
    } catch (const json::exception& e) {  // parse_error
        throw request_error("body", "malformed JSON: " + json_error_message(e.what()));
    }
    if (repeated) throw request_error(printable(*repeated), "appears twice in one object");
    return j;
}

/// `prefix` (a path, or "" at the top level) with `key` appended as
/// append_key writes it.
[[nodiscard]] inline std::string join(std::string_view prefix, std::string_view key) {
    std::string out(prefix);
    append_key(out, key);
    return out;
}

[[nodiscard]] inline const char* type_name(const json& j) noexcept {
    if (j.is_string()) return "a string";
    if (j.is_boolean()) return "a boolean";
    if (j.is_null()) return "null";
    if (j.is_array()) return "an array";
    if (j.is_object()) return "an object";
    return "a number";
}

/// A finite JSON number, or request_error. `min` is inclusive unless `strict`.
[[nodiscard]] inline double number(const json& j, const std::string& field, double min = 0, bool strict = false) {
    if (!j.is_number()) throw request_error(field, std::string("must be a number, got ") + type_name(j));
    const double v = j.get<double>();
    if (!std::isfinite(v)) throw request_error(field, "must be finite");
    if (strict ? !(v > min) : !(v >= min)) {
        throw request_error(field, std::string("must be ") + (strict ? "> " : ">= ") + json(min).dump() + ", got " + json(v).dump());
    }
    return v;
}

/// A finite number that may be negative (the clock).
[[nodiscard]] inline double any_number(const json& j, const std::string& field) {
    if (!j.is_number()) throw request_error(field, std::string("must be a number, got ") + type_name(j));
    const double v = j.get<double>();
    if (!std::isfinite(v)) throw request_error(field, "must be finite");
    return v;
}

/// A non-negative JSON integer no larger than `max`. JSON has one number
/// type: a whole number written as a float (`3.0`, `1e2`) is that integer;
/// a fraction is refused for its type, a whole number out of range for its
/// range. A number written as a float is read through a double, so it is
/// taken only below 2^52 (4503599627370496), where a double still holds
/// halves: every integer written there is exact, and a text that rounds to
/// a whole double is within a quarter of it. From 2^52 up the text may
/// already have been rounded (4503599627370497.5 reads as ...498,
/// 9007199254740993.0 as ...992) and is refused as not an integer unless
/// its rounded value is out of range. An integer written without a
/// fraction or exponent is exact up to 2^64 - 1.
[[nodiscard]] inline std::uint64_t count(const json& j, const std::string& field, std::uint64_t max) {
    if (j.is_number_float()) {
        // Also an integer literal beyond 2^64, which reads as a double.
        const double d = j.get<double>();
        if (!std::isfinite(d) || d != std::floor(d)) throw request_error(field, "must be an integer, got " + j.dump());
        if (d < 0) throw request_error(field, "must be >= 0, got " + j.dump());
        // static_cast<double>(max) may round up (2^64 - 1 to 2^64): the
        // conversion below is exact only below 2^64.
        if (d >= 0x1p64 || d > static_cast<double>(max)) {
            throw request_error(field, "must be <= " + std::to_string(max) + ", got " + j.dump());
        }
        // From 2^52 up a double has no halves: a fraction written there (or
        // the last digits of an integer from 2^53 up) may have been rounded away.
        if (d >= 0x1p52) {
            throw request_error(field, "must be an integer, got " + j.dump() +
                                           " (written with a fraction or exponent, a number from 2^52 up cannot be read"
                                           " exactly: write the integer without them)");
        }
        const auto v = static_cast<std::uint64_t>(d);  // exact: whole, in [0, 2^64)
        if (v > max) throw request_error(field, "must be <= " + std::to_string(max) + ", got " + j.dump());
        return v;
    }
    if (!j.is_number_integer()) throw request_error(field, std::string("must be an integer, got ") + type_name(j));
    if (!j.is_number_unsigned() && j.get<std::int64_t>() < 0) throw request_error(field, "must be >= 0, got " + j.dump());
    const auto v = j.get<std::uint64_t>();
    if (v > max) throw request_error(field, "must be <= " + std::to_string(max) + ", got " + j.dump());
    return v;
}

/// A finite number >= 0, or null (NaN): a latency's "no request
/// completed", a smallest limit's "not read".
[[nodiscard]] inline double number_or_null(const json& j, const std::string& field) {
    if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
    return number(j, field);
}

inline const json& object(const json& j, const std::string& field) {
    if (!j.is_object()) throw request_error(field, std::string("must be an object, got ") + type_name(j));
    return j;
}

inline void parse_latency(const json& j, latency_percentiles& out) {
    object(j, "metrics.latency");
    for (const auto& [key, v] : j.items()) {
        const std::string f = join("metrics.latency", key);
        if (key == "p50") out.p50 = number_or_null(v, f);
        else if (key == "p90") out.p90 = number_or_null(v, f);
        else if (key == "p95") out.p95 = number_or_null(v, f);
        else if (key == "p99") out.p99 = number_or_null(v, f);
        else if (key == "p999") out.p999 = number_or_null(v, f);
        else throw request_error(join("metrics.latency", key), "unknown field");
    }
}

inline void parse_metrics(const json& j, function_metrics& m) {
    object(j, "metrics");
    constexpr std::uint64_t u32 = std::numeric_limits<std::uint32_t>::max();
    constexpr std::uint64_t u64 = std::numeric_limits<std::uint64_t>::max();
    bool has_interval = false;
    // The load signals a policy acts on: each must be given (0 when it was
    // 0), so that an omitted one is never read as no load.
    static constexpr std::array<std::string_view, 8> required = {
        "arrivals", "completions", "throughput_rps", "queue_length", "in_service", "cpu_utilization",
        "memory_utilization", "ready_replicas"};
    std::array<bool, required.size()> given{};
    for (const auto& [key, v] : j.items()) {
        for (std::size_t i = 0; i < required.size(); ++i) given[i] = given[i] || key == required[i];
        const std::string f = join("metrics", key);
        // v by an explicit capture: a lambda may not capture a structured
        // binding implicitly before C++20 as Clang 14 implements it.
        const auto c32 = [&, &v = v] { return static_cast<std::uint32_t>(count(v, f, u32)); };
        if (key == "interval_s") { m.interval_s = number(v, f, 0, true); has_interval = true; }
        else if (key == "arrivals") m.arrivals = count(v, f, u64);
        else if (key == "completions") m.completions = count(v, f, u64);
        else if (key == "drops") m.drops = count(v, f, u64);
        else if (key == "throughput_rps") m.throughput_rps = number(v, f);
        else if (key == "latency_mean_s") m.latency_mean_s = number_or_null(v, f);
        else if (key == "latency") parse_latency(v, m.latency);
        else if (key == "queue_length") m.queue_length = c32();
        else if (key == "in_service") m.in_service = c32();
        else if (key == "cpu_utilization") m.cpu_utilization = number(v, f);
        else if (key == "memory_utilization") m.memory_utilization = number(v, f);
        else if (key == "cpu_limit") m.cpu_limit = number(v, f);
        else if (key == "memory_limit_mb") m.memory_limit_mb = number(v, f);
        else if (key == "cpu_limit_min") m.cpu_limit_min = number_or_null(v, f);
        else if (key == "memory_limit_min_mb") m.memory_limit_min_mb = number_or_null(v, f);
        else if (key == "ready_replicas") m.ready_replicas = c32();
        else if (key == "starting_replicas") m.starting_replicas = c32();
        else if (key == "pending_replicas") m.pending_replicas = c32();
        else if (key == "cold_starts") m.cold_starts = c32();
        else if (key == "replica_seconds") m.replica_seconds = number(v, f);
        else throw request_error(join("metrics", key), "unknown field");
    }
    if (!has_interval) throw request_error("metrics.interval_s", "missing");
    for (std::size_t i = 0; i < required.size(); ++i) {
        if (!given[i]) throw request_error(join("metrics", required[i]), "missing (a load signal is never assumed: send 0 if it was 0)");
    }
}

/// Reads `slo`; with `require_all`, each of its three fields must be given.
inline void parse_slo(const json& j, function_slo& slo, bool require_all) {
    object(j, "slo");
    bool latency = false, percentile = false, target = false;
    for (const auto& [key, v] : j.items()) {
        const std::string f = join("slo", key);
        if (key == "latency_s") {
            slo.latency_s = number(v, f, 0, true);
            latency = true;
        } else if (key == "percentile") {
            slo.percentile = number(v, f);
            if (slo.percentile >= 1) throw request_error(f, "must be < 1, got " + v.dump());
            percentile = true;
        } else if (key == "target_rps") {
            slo.target_rps = number(v, f);
            target = true;
        } else {
            throw request_error(join("slo", key), "unknown field");
        }
    }
    if (!require_all) return;
    const char* why = "missing (the learned policy's encoder reads the SLO: it is never assumed)";
    if (!latency) throw request_error("slo.latency_s", why);
    if (!percentile) throw request_error("slo.percentile", why);
    if (!target) throw request_error("slo.target_rps", why);
}

}  // namespace detail

/// Largest replica count a request may carry.
inline constexpr int max_request_replicas = 1'000'000;

namespace detail {

/// Why `name` cannot be a request's function name (1 to `max_bytes` bytes,
/// no control character: C0, DEL or C1, U+0000 to U+001F and U+007F to
/// U+009F), or empty when it can. The one rule for requests and for the
/// names a joint policy is installed with. A control character is named by
/// its code point and byte offset.
[[nodiscard]] inline std::string function_name_problem(std::string_view name, std::size_t max_bytes) {
    if (name.empty()) return "must not be empty";
    if (name.size() > max_bytes) return "longer than " + std::to_string(max_bytes) + " bytes";
    constexpr const char* hex = "0123456789ABCDEF";
    for (std::size_t i = 0; i < name.size(); ++i) {
        const unsigned c = static_cast<unsigned char>(name[i]);
        const unsigned next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0u;
        // A C1 control is C2 80 to C2 9F in UTF-8, the code point its second
        // byte (0xC2 never continues a sequence, so it starts one wherever
        // it appears); a C0 control or DEL is its one byte.
        const bool c1 = c == 0xC2 && next >= 0x80 && next <= 0x9F;
        if (c < 0x20 || c == 0x7F || c1) {
            const unsigned code = c1 ? next : c;
            return std::string("contains a control character (U+00") + hex[code >> 4] + hex[code & 0xF] + " at byte " +
                   std::to_string(i) + ")";
        }
    }
    return {};
}

/// Validates one decision request already parsed (see parse_decision_request).
[[nodiscard]] inline decision_request parse_request(const json& j, std::size_t max_function_name, bool require_slo = false) {
    object(j, "body");
    decision_request r;
    r.state.cpu_limit = 0;  // unknown until the request or its metrics give one (below)
    r.state.memory_limit_mb = 0;
    bool has_function = false, has_time = false, has_replicas = false, has_min = false, has_max = false, has_metrics = false,
         has_slo = false;
    const auto replicas = [](const json& v, const std::string& f) {
        return static_cast<int>(count(v, f, static_cast<std::uint64_t>(max_request_replicas)));
    };
    for (const auto& [key, v] : j.items()) {
        if (key == "function") {
            if (!v.is_string()) throw request_error("function", std::string("must be a string, got ") + type_name(v));
            r.function = v.get<std::string>();
            if (std::string problem = function_name_problem(r.function, max_function_name); !problem.empty()) {
                throw request_error("function", std::move(problem));
            }
            has_function = true;
        } else if (key == "time_s") {
            r.state.time_s = any_number(v, "time_s");
            has_time = true;
        } else if (key == "replicas") {
            r.state.replicas = replicas(v, "replicas");
            has_replicas = true;
        } else if (key == "min_replicas") {
            r.state.min_replicas = replicas(v, "min_replicas");
            has_min = true;
        } else if (key == "max_replicas") {
            r.state.max_replicas = replicas(v, "max_replicas");
            has_max = true;
        } else if (key == "cpu_limit") {
            r.state.cpu_limit = number(v, "cpu_limit");
        } else if (key == "memory_limit_mb") {
            r.state.memory_limit_mb = number(v, "memory_limit_mb");
        } else if (key == "metrics") {
            parse_metrics(v, r.metrics);
            has_metrics = true;
        } else if (key == "slo") {
            parse_slo(v, r.state.slo, require_slo);
            has_slo = true;
        } else {
            throw request_error(join("", key), "unknown field");
        }
    }
    if (!has_function) throw request_error("function", "missing");
    if (!has_time) throw request_error("time_s", "missing");
    if (!has_replicas) throw request_error("replicas", "missing");
    if (!has_min) throw request_error("min_replicas", "missing");
    if (!has_max) throw request_error("max_replicas", "missing");
    if (!has_metrics) throw request_error("metrics", "missing");
    if (require_slo && !has_slo) throw request_error("slo", "missing (the learned policy's encoder reads the SLO: it is never assumed)");
    // A current limit the request leaves out or gives as 0 (unknown) is the
    // measured one (metrics.cpu_limit, metrics.memory_limit_mb), else 0.
    if (!(r.state.cpu_limit > 0)) r.state.cpu_limit = known_limit(r.metrics.cpu_limit);
    if (!(r.state.memory_limit_mb > 0)) r.state.memory_limit_mb = known_limit(r.metrics.memory_limit_mb);
    if (r.state.max_replicas < r.state.min_replicas) {
        throw request_error("max_replicas", "must be >= min_replicas (" + std::to_string(r.state.min_replicas) + "), got " +
                                                std::to_string(r.state.max_replicas));
    }
    return r;
}

}  // namespace detail

/// Parses and validates one decision request (see docs/adapters/service.md).
/// Throws request_error naming the first offending field; a body nested
/// deeper than max_json_depth, malformed, or not valid UTF-8 is refused as
/// "body".
[[nodiscard]] inline decision_request parse_decision_request(std::string_view body, std::size_t max_function_name = 253,
                                                             bool require_slo = false) {
    return detail::parse_request(detail::parse_body(body), max_function_name, require_slo);
}

}  // namespace rlscale::service
