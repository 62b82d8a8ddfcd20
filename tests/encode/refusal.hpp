// Shared by the encoder tests: the values no encoder may encode, and a check
// that an encoder refuses an input by name and leaves its output untouched.
#pragma once

#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string_view>

namespace rlscale::test {

inline constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
inline constexpr double inf = std::numeric_limits<double>::infinity();

/// NaN, ±infinity and `negative`: each must be refused where a measurement belongs.
inline std::array<double, 4> bad_values(double negative) { return {qnan, inf, -inf, negative}; }

/// Checks that `encoder` refuses (m, s) naming `field`, with `out` (pre-filled
/// with a marker) left as it was.
template <typename Encoder, std::size_t N>
class refusal {
public:
    explicit refusal(const Encoder& encoder) : encoder_(encoder) {}

    void operator()(const function_metrics& m, const scaling_state& s, std::string_view field) {
        (void)refuse(m, s, field);
    }

    /// As above, and the status reports `value`, the input refused (NaN
    /// matches NaN).
    void operator()(const function_metrics& m, const scaling_state& s, std::string_view field, double value) {
        const encode_status st = refuse(m, s, field);
        if (std::isnan(value)) {
            CHECK(std::isnan(st.value));
        } else {
            CHECK(st.value == value);
        }
    }

private:
    encode_status refuse(const function_metrics& m, const scaling_state& s, std::string_view field) {
        out_.fill(marker);
        const encode_status st = encoder_.encode(m, s, std::span<float>(out_));
        CHECK_FALSE(st.ok);
        CHECK(st.field == field);
        CHECK(std::all_of(out_.begin(), out_.end(), [](float v) { return v == marker; }));
        return st;
    }

    static constexpr float marker = 42.0F;
    const Encoder& encoder_;
    std::array<float, N> out_{};
};

}  // namespace rlscale::test
