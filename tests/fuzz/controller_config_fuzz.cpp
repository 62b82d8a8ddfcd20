// Fuzz target: the controller's configuration and decision log
// (adapters/controller/include/rlscale/controller/config.hpp, controller.hpp).
//
// Input: a JSON configuration document, optionally followed by a NUL byte and
// raw bytes for a decision-log record (split further on NUL into function,
// error, reason, missing field, missing reason; without a NUL, the whole
// input serves as each of them).
//
// Property:
//   - rlscale::controller::parse_config lets only rlscale::config_error
//     escape; a configuration it accepts passes config_warnings without an
//     exception, and every function has 0 <= min <= max;
//   - decision_record::to_json().dump() never throws, for a record whose
//     texts (function, error, result.reason, missing fields) are any bytes,
//     and for each configured function's record; the line is valid UTF-8,
//     parses back, and its "function" is the name made valid UTF-8.

#include "fuzz_check.hpp"

#include <rlscale/controller/config.hpp>
#include <rlscale/controller/controller.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/text.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view target = "controller_config";

/// Up to `n` NUL-separated pieces of `s` (the last holds the rest).
std::vector<std::string> split(std::string_view s, std::size_t n) {
    std::vector<std::string> out;
    while (out.size() + 1 < n) {
        const std::size_t nul = s.find('\0');
        if (nul == std::string_view::npos) break;
        out.emplace_back(s.substr(0, nul));
        s.remove_prefix(nul + 1);
    }
    out.emplace_back(s);
    return out;
}

void check_record(const rlscale::controller::decision_record& r) {
    std::string line;
    try {
        line = r.to_json().dump();
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, std::string("decision_record::to_json().dump() threw: ") + e.what());
    } catch (...) {
        rlscale::fuzz::fail(target, "decision_record::to_json().dump() threw a non-std exception");
    }
    RLSCALE_FUZZ_CHECK(rlscale::is_valid_utf8(line), target, "a decision-log line that is not valid UTF-8");
    const nlohmann::json back = nlohmann::json::parse(line, nullptr, false);
    RLSCALE_FUZZ_CHECK(!back.is_discarded() && back.is_object(), target, "a decision-log line that does not parse back");
    RLSCALE_FUZZ_CHECK(back.value("function", std::string()) == rlscale::valid_utf8(r.function), target,
                         "the logged function is not the name made valid UTF-8");
    if (!r.error.empty()) {
        RLSCALE_FUZZ_CHECK(back.contains("error") && back["error"].is_string() && back["error"].get<std::string>().size() <= 2048 + 3,
                             target, "the logged error is missing or longer than 2048 bytes and the cut mark");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = input.find('\0');
    const std::string_view config_text = input.substr(0, nul);
    const std::string_view record_bytes = nul == std::string_view::npos ? input : input.substr(nul + 1);

    // The decision-log line of a record made of arbitrary bytes.
    const std::vector<std::string> parts = split(record_bytes, 5);
    const auto part = [&](std::size_t i) -> const std::string& { return parts[nul == std::string_view::npos ? 0 : std::min(i, parts.size() - 1)]; };
    rlscale::controller::decision_record r;
    r.function = part(0);
    r.error = part(1);
    const std::string reason = part(2);  // outlives r: result.reason is a string_view
    r.result = {.replicas = static_cast<int>(size % 7) - 1, .source = static_cast<rlscale::decision_source>(size % 3), .reason = reason};
    r.replicas_before = static_cast<int>(size % 5) - 1;
    r.replicas_after = r.result.replicas;
    r.time_s = size % 2 == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(size);
    if (parts.size() > 3 || nul == std::string_view::npos) r.missing.push_back({part(3), part(4)});
    check_record(r);

    const nlohmann::json j = nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    rlscale::controller::config c;
    try {
        c = rlscale::controller::parse_config(j);
    } catch (const rlscale::config_error& e) {
        RLSCALE_FUZZ_CHECK(rlscale::is_valid_utf8(e.what()), target, "a config_error whose message is not valid UTF-8");
        return 0;
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, std::string("parse_config let an exception other than config_error escape: ") + e.what());
    } catch (...) {
        rlscale::fuzz::fail(target, "parse_config let a non-std exception escape");
    }
    try {
        (void)rlscale::controller::config_warnings(c);
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, std::string("config_warnings threw for an accepted configuration: ") + e.what());
    }
    RLSCALE_FUZZ_CHECK(!c.functions.empty(), target, "an accepted configuration without functions");
    for (const auto& f : c.functions) {
        RLSCALE_FUZZ_CHECK(1 <= f.min_replicas && f.min_replicas <= f.max_replicas, target, "an accepted function with min > max or min < 1");
        RLSCALE_FUZZ_CHECK(f.policy != "kpa" || f.promql.count("in_service") == 1, target, "an accepted kpa function without promql.in_service");
        rlscale::controller::decision_record fr;
        fr.function = f.name;
        fr.error = part(1);
        fr.result = {.replicas = f.max_replicas, .source = rlscale::decision_source::policy, .reason = reason};
        fr.replicas_before = f.min_replicas;
        fr.replicas_after = f.max_replicas;
        check_record(fr);
    }
    return 0;
}
