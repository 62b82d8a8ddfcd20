#pragma once

#include <rlscale/core/error.hpp>

#include <cmath>
#include <array>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>

namespace rlscale {

namespace detail {
__extension__ using uint128 = unsigned __int128;

/// Out of line, so the check costs the callers one compare and branch.
[[noreturn]] [[gnu::cold]] [[gnu::noinline]] inline void random_precondition_failed(const char* what) {
    throw error(what);
}
}  // namespace detail

/// xoshiro256++ (Blackman & Vigna): a small, fast generator whose sequence is
/// fixed by its definition, so one seed reproduces a run on every platform.
/// Satisfies std::uniform_random_bit_generator. The state is seeded through
/// splitmix64, as its authors recommend.
class rng {
public:
    using result_type = std::uint64_t;

    explicit constexpr rng(std::uint64_t seed = 0) noexcept { this->seed(seed); }

    constexpr void seed(std::uint64_t seed) noexcept {
        for (auto& word : s_) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
            word = z ^ (z >> 31U);
        }
    }

    /// A generator in the given raw state (not all zero), for reference tests.
    static constexpr rng from_state(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3) noexcept {
        rng r;
        r.s_[0] = s0;
        r.s_[1] = s1;
        r.s_[2] = s2;
        r.s_[3] = s3;
        return r;
    }

    /// The raw state, as from_state takes it (to save a generator and go on
    /// from where it was).
    [[nodiscard]] constexpr std::array<std::uint64_t, 4> state() const noexcept { return {s_[0], s_[1], s_[2], s_[3]}; }

    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    constexpr result_type operator()() noexcept {
        const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
        const std::uint64_t t = s_[1] << 17U;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    friend constexpr bool operator==(const rng&, const rng&) = default;

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << static_cast<unsigned>(k)) | (x >> static_cast<unsigned>(64 - k));
    }
    std::uint64_t s_[4]{};
};

static_assert(std::uniform_random_bit_generator<rng>);

// The standard distributions are implementation-defined, so the same seed
// would give different weights under libstdc++ and libc++. These are defined
// here bit for bit. Each assumes a generator of 64 random bits per call.

/// Uniform double in [0, 1) from the top 53 bits of one draw.
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
double uniform01(Gen& gen) {
    return static_cast<double>(gen() >> 11U) * 0x1.0p-53;
}

/// Uniform double in [lo, hi) (lo itself when lo = hi). lo + (hi − lo)·u
/// rounds to hi for u just below 1 (1 − 2⁻⁵³ with [1, 2)); such a draw
/// gives the largest value below hi instead. The multiply-add is one
/// std::fma, rounded once: written as a product and a sum, a compiler may
/// fuse them or not (by target and even by call site), and the last bit
/// would depend on the build.
///
/// Precondition: lo <= hi, both finite and hi − lo finite (not NaN, not
/// infinite, no overflow). Otherwise throws rlscale::error without drawing
/// (there is no value in [lo, hi) to give).
template <std::uniform_random_bit_generator Gen>
double uniform(Gen& gen, double lo, double hi) {
    const double width = hi - lo;
    // False for lo > hi, for a NaN or infinite bound (the width is NaN or
    // infinite) and for a width that overflows.
    if (!(width >= 0.0 && width <= std::numeric_limits<double>::max())) [[unlikely]] {
        detail::random_precondition_failed("uniform(gen, lo, hi): needs finite lo <= hi with a finite hi - lo");
    }
    const double x = std::fma(width, uniform01(gen), lo);
    return x < hi ? x : std::nextafter(hi, lo);
}

/// Standard normal by the Box–Muller transform (one draw kept, for simplicity
/// and statelessness). It calls the C library's log and cos, whose last bit
/// may differ between C libraries: a seed gives the same draws on one
/// platform, not necessarily on every one.
template <std::uniform_random_bit_generator Gen>
double standard_normal(Gen& gen) {
    const double u1 = 1.0 - uniform01(gen);  // (0, 1]: log is finite
    const double u2 = uniform01(gen);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

/// Uniform integer in [0, n) by Lemire's multiply-and-reject method (unbiased).
/// Needs 64 random bits per call, as uniform01 does: with a 32-bit
/// generator (std::mt19937) the product's high half would always be 0.
/// Precondition: n >= 1 ([0, 0) is empty); n = 0 throws rlscale::error
/// without drawing.
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
std::uint64_t uniform_index(Gen& gen, std::uint64_t n) {
    if (n == 0) [[unlikely]] {
        detail::random_precondition_failed("uniform_index(gen, n): needs n >= 1, got 0");
    }
    detail::uint128 m = static_cast<detail::uint128>(gen()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
        const std::uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = static_cast<detail::uint128>(gen()) * n;
            low = static_cast<std::uint64_t>(m);
        }
    }
    return static_cast<std::uint64_t>(m >> 64U);
}

}  // namespace rlscale
