// Fuzz target: the decision service's request handler without sockets,
// rlscale::service::decision_service::handle
// (adapters/service/include/rlscale/service/decision_service.hpp).
//
// Input: the first byte picks the baseline every function is served by
// (hpa, static, kpa, ensure: through rlscale::make_baseline, as the
// rlscale-decision-service program does); the rest is split on NUL bytes
// into up to 16 request bodies, handled in order by one service (so a
// function's clock and the least-recently-used eviction, with max_functions
// = 2, carry from one body to the next). A fresh service per input.
//
// Property, for every answer: the status is 200, 400, 413 or 503; the body is
// valid JSON (nlohmann::json::parse succeeds) and an object holding an
// integer "replicas" (-1 with a string "error" unless 200), or for a 200
// answer to a multi-function body, "decisions" whose every element holds
// one; a 200 answer's count is not negative, and is within the request's
// [max(0, min), max(min, max)], a hold on invalid metrics included. The
// counts (replicas, min_replicas, max_replicas) are read as the service
// reads them: an integer, or a whole number written as 2.0 or 5e0 below
// 2^52; a decided request with a count the service cannot read so fails.

#include "fuzz_check.hpp"

#include <rlscale/policy/registry.hpp>
#include <rlscale/service/decision_service.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view target = "decision_service";
using nlohmann::json;

/// The count in `j["replicas"]`, checked to be an integer.
std::int64_t replicas_of(const json& j, const std::string& context) {
    const auto it = j.find("replicas");
    RLSCALE_FUZZ_CHECK(it != j.end(), target, context + ": no \"replicas\"");
    RLSCALE_FUZZ_CHECK(it->is_number_integer(), target, context + ": \"replicas\" is not an integer");
    return it->get<std::int64_t>();
}

/// A request's count field `key` read as the service reads it
/// (rlscale::service::detail::count): an integer, or a whole number written
/// with a fraction or an exponent (2.0, 5e0) below 2^52. Empty when the field
/// is missing or not a number (the service refuses both, so a decided
/// request has neither; the status checks cover that). A number the service
/// cannot read as a count (a fraction, 2^52 or more as a float, an integer
/// beyond std::int64_t) in a request it decided fails the property.
std::optional<std::int64_t> count_field(const json& request, const char* key, const std::string& context) {
    const auto it = request.find(key);
    if (it == request.end() || !it->is_number()) return std::nullopt;
    if (it->is_number_unsigned()) {
        const auto v = it->get<std::uint64_t>();
        RLSCALE_FUZZ_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), target,
                             context + ": decided a request whose \"" + key + "\" is " + it->dump() + ", not a count");
        return static_cast<std::int64_t>(v);
    }
    if (it->is_number_integer()) return it->get<std::int64_t>();
    const double d = it->get<double>();
    RLSCALE_FUZZ_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 0x1p52, target,
                         context + ": decided a request whose \"" + key + "\" is " + it->dump() + ", not a whole number below 2^52");
    return static_cast<std::int64_t>(d);  // exact: whole, below 2^52 in magnitude
}

/// For a request the service decided, the counts it may answer.
void check_decided(const json& request, std::int64_t replicas, const std::string& context) {
    RLSCALE_FUZZ_CHECK(replicas >= 0, target, context + ": a decision with a negative count");
    if (!request.is_object()) return;
    const std::optional<std::int64_t> current = count_field(request, "replicas", context);
    const std::optional<std::int64_t> min = count_field(request, "min_replicas", context);
    const std::optional<std::int64_t> max = count_field(request, "max_replicas", context);
    if (!min || !max) return;  // not a request the service should have decided; left to status checks
    const std::int64_t lo = std::max<std::int64_t>(0, *min);
    const std::int64_t hi = std::max(lo, *max);
    RLSCALE_FUZZ_CHECK(replicas >= lo && replicas <= hi, target,
                         context + ": answered " + std::to_string(replicas) + " outside [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "] (the current count is " +
                             (current ? std::to_string(*current) : std::string("not a number")) + ")");
}

void check_answer(std::string_view body, const rlscale::service::http_answer& a) {
    const std::string context = "body \"" + rlscale::fuzz::excerpt(body) + "\" answered " + std::to_string(a.status) + " \"" +
                                rlscale::fuzz::excerpt(a.body, 400) + "\"";
    RLSCALE_FUZZ_CHECK(a.status == 200 || a.status == 400 || a.status == 413 || a.status == 503, target,
                         context + ": status not in {200, 400, 413, 503}");
    json answer;
    try {
        answer = json::parse(a.body);
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, context + ": the answer is not JSON: " + e.what());
    }
    RLSCALE_FUZZ_CHECK(answer.is_object(), target, context + ": the answer is not a JSON object");
    if (a.status != 200) {
        RLSCALE_FUZZ_CHECK(replicas_of(answer, context) == -1, target, context + ": a refusal whose replicas is not -1");
        RLSCALE_FUZZ_CHECK(answer.contains("error") && answer["error"].is_string(), target, context + ": a refusal without an error text");
        return;
    }
    // Only a 200 answer says the body was a request; its JSON is then valid.
    const json request = json::parse(body, nullptr, false);
    if (answer.contains("decisions")) {
        const json& list = answer["decisions"];
        RLSCALE_FUZZ_CHECK(list.is_array() && !list.empty(), target, context + ": \"decisions\" is not a non-empty array");
        const json* requests = request.is_object() && request.contains("functions") ? &request["functions"] : nullptr;
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string element = context + ", decisions[" + std::to_string(i) + "]";
            RLSCALE_FUZZ_CHECK(list[i].is_object(), target, element + ": not an object");
            const std::int64_t n = replicas_of(list[i], element);
            check_decided(requests != nullptr && requests->is_array() && i < requests->size() ? (*requests)[i] : json(), n, element);
        }
        return;
    }
    check_decided(request, replicas_of(answer, context), context);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static constexpr const char* baselines[] = {"hpa", "static", "kpa", "ensure"};
    const std::string policy = baselines[data[0] % 4];
    rlscale::service::decision_service_config config;
    config.max_functions = 2;
    rlscale::service::decision_service svc(config, [policy](const std::string&) {
        rlscale::baseline_settings s;
        s.static_replicas = 3;
        return rlscale::make_baseline(policy, s);
    });

    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    for (int n = 0; n < 16; ++n) {
        const std::size_t nul = rest.find('\0');
        const std::string_view body = rest.substr(0, nul);
        check_answer(body, svc.handle(body));
        if (nul == std::string_view::npos) break;
        rest.remove_prefix(nul + 1);
    }
    return 0;
}
