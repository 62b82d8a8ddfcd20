// Fuzz target: rlscale::apply_guard (include/rlscale/policy/guarded.hpp).
//
// Input: six little-endian 32-bit ints (missing bytes read as 0): decided,
// current, min, max, max_step_up, max_step_down (the two steps with their sign
// bit cleared, so >= 0), then one optional byte choosing the decision's source.
// Inputs of more than 32 bytes make the decision vertical: bytes 28-31 (int
// index 7) are the ready count (as unsigned), byte 32 vertical_min_replicas
// (mod 5) and byte 33 the CPU limit asked for.
//
// Property: the guarded count equals the exact answer computed in 64-bit
// arithmetic, lo = max(0, min), hi = max(lo, max), cur = clamp(current, lo, hi),
// answer = clamp(clamp(decided, cur - down, cur + up), lo, hi); the source is
// unchanged; for a horizontal decision the reason is unchanged when the count
// is, or when the decision was not the policy's own, and otherwise says which
// limit changed it. A vertical decision keeps its limits exactly when the
// current, ready and guarded counts are all at least vertical_min_replicas,
// and the form without a ready count equals the form given the count asked for.

#include "fuzz_check.hpp"

#include <rlscale/policy/guarded.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

constexpr std::string_view target = "guard";

std::int32_t read_int(const std::uint8_t* data, std::size_t size, std::size_t index) {
    std::uint8_t bytes[4] = {0, 0, 0, 0};
    for (std::size_t k = 0; k < 4; ++k) {
        const std::size_t at = index * 4 + k;
        if (at < size) bytes[k] = data[at];
    }
    const std::uint32_t u = static_cast<std::uint32_t>(bytes[0]) | (static_cast<std::uint32_t>(bytes[1]) << 8) |
                            (static_cast<std::uint32_t>(bytes[2]) << 16) | (static_cast<std::uint32_t>(bytes[3]) << 24);
    std::int32_t v = 0;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::int32_t decided = read_int(data, size, 0);
    const std::int32_t current = read_int(data, size, 1);
    const std::int32_t min = read_int(data, size, 2);
    const std::int32_t max = read_int(data, size, 3);
    const std::int32_t up = read_int(data, size, 4) & 0x7fffffff;
    const std::int32_t down = read_int(data, size, 5) & 0x7fffffff;
    const std::uint8_t source_byte = size > 24 ? data[24] : 0;
    const auto source = static_cast<rlscale::decision_source>(source_byte % 3);

    rlscale::scaling_state s;
    s.replicas = current;
    s.min_replicas = min;
    s.max_replicas = max;
    const bool vertical = size > 32;
    const auto ready = static_cast<std::uint32_t>(read_int(data, size, 7));
    const int vertical_min = vertical ? data[32] % 5 : 2;
    const double cpu_asked = vertical ? 0.25 + 0.25 * (size > 33 ? data[33] % 16 : 0) : std::nan("");
    const rlscale::guard_config limits{.max_step_up = up, .max_step_down = down, .vertical_min_replicas = vertical_min};
    const rlscale::decision in{.replicas = decided, .source = source, .reason = "fuzz: original reason", .cpu_limit = cpu_asked};
    const rlscale::decision out = vertical ? rlscale::apply_guard(in, s, limits, ready) : rlscale::apply_guard(in, s, limits);

    const std::int64_t lo = std::max<std::int64_t>(0, min);
    const std::int64_t hi = std::max<std::int64_t>(lo, max);
    const std::int64_t cur = std::clamp<std::int64_t>(current, lo, hi);
    const std::int64_t stepped = std::clamp<std::int64_t>(decided, cur - down, cur + up);
    const std::int64_t expected = std::clamp<std::int64_t>(stepped, lo, hi);

    const auto inputs = [&] {
        return "decided=" + std::to_string(decided) + " current=" + std::to_string(current) + " min=" + std::to_string(min) +
               " max=" + std::to_string(max) + " up=" + std::to_string(up) + " down=" + std::to_string(down);
    };
    RLSCALE_FUZZ_CHECK(out.replicas == expected, target,
                         inputs() + ": apply_guard gave " + std::to_string(out.replicas) + ", the exact answer is " +
                             std::to_string(expected));
    RLSCALE_FUZZ_CHECK(out.source == source, target, inputs() + ": the source changed");
    if (vertical) {
        const bool allowed = std::min({std::int64_t{current}, std::int64_t{ready}, expected}) >= vertical_min;
        RLSCALE_FUZZ_CHECK(out.vertical() == allowed, target,
                           inputs() + " ready=" + std::to_string(ready) + " vertical_min_replicas=" + std::to_string(vertical_min) +
                               (allowed ? ": a resize the replica rule allows was dropped" : ": a resize below the replica rule went through"));
        if (allowed) RLSCALE_FUZZ_CHECK(out.cpu_limit == cpu_asked, target, inputs() + ": the CPU limit changed with no step or bound set");
        const rlscale::decision all_ready = rlscale::apply_guard(in, s, limits);
        const rlscale::decision asked = rlscale::apply_guard(in, s, limits, current);
        RLSCALE_FUZZ_CHECK(all_ready.replicas == asked.replicas && all_ready.vertical() == asked.vertical() &&
                               (!asked.vertical() || all_ready.cpu_limit == asked.cpu_limit) && all_ready.reason == asked.reason,
                           target, inputs() + ": apply_guard without a ready count differs from it given the count asked for");
        return 0;
    }
    if (out.replicas == decided || source != rlscale::decision_source::policy) {
        RLSCALE_FUZZ_CHECK(out.reason == in.reason, target, inputs() + ": the reason changed although the guard did not act on a policy decision");
    } else {
        const std::string_view want = stepped == expected ? "guard: rate-limited" : "guard: clamped to [min, max]";
        RLSCALE_FUZZ_CHECK(out.reason == want, target,
                             inputs() + ": reason \"" + std::string(out.reason) + "\", expected \"" + std::string(want) + "\"");
    }
    return 0;
}
