#pragma once

// Standard exponential and standard normal variates by the ziggurat method
// (Marsaglia & Tsang, "The Ziggurat Method for Generating Random Variables",
// J. Stat. Software 5(8), 2000), for hot loops such as the simulator's service
// times and arrival gaps, where -log(1 - U) or Box–Muller would cost one or
// two libm calls per variate.
//
// The method. The area under a decreasing f on [0, ∞), f(0) = 1 (e^-x for the
// exponential, e^(-x²/2) for |Z|), is covered by N = 256 horizontal layers of
// equal area v. Layer i (1 <= i < N) is the rectangle [0, x[i]) × [f(x[i]),
// f(x[i+1])], with r = x[1] > x[2] > ... > x[N] = 0; layer 0 is the rectangle
// [0, r) × [0, f(r)] plus the tail beyond r, and is given the width x[0] =
// v / f(r) so that it too is a rectangle of area v. A uniform point of the
// union of layers, kept only if it lies under f, is a uniform point under f:
// its abscissa has density ∝ f. One 64-bit draw picks the layer (bits 0-7)
// and the abscissa x = U·x[i] (U from bits 11-63, as uniform01 takes them;
// bit 8 is the normal's sign), and then:
//   - x < x[i+1] (97.8 % of draws for the exponential, 98.5 % for the normal):
//     that part of the layer lies wholly under f, so x is accepted after one
//     multiply and one compare (this fast path is inlined, the rest is not);
//   - i = 0 and x >= r: the point fell in the tail, whose share of layer 0,
//     (x[0] - r) / x[0], is exactly the tail's share of v; the tail is drawn
//     exactly: r + an exponential (memorylessness), or by Marsaglia's (1964)
//     method for the normal;
//   - otherwise x is in the wedge between x[i+1] and x[i]: a uniform height in
//     the layer is drawn and the point kept if it is below f(x); if not, all
//     starts again with a fresh draw.
// Every branch is an exact rejection step or an exact conditional law, so the
// result has the target distribution up to the 2⁻⁵³ granularity of U and the
// rounding of the tables: every layer's area is v to within 1e-12 relative
// (checked here at compile time for the top layer, in the tests for all).
//
// The tables are computed at compile time from r, by x[i+1] = f⁻¹(f(x[i]) +
// v / x[i]) (layer i has area v), with compile-time exp, log and sqrt: they
// are the same on every platform and need no initialisation at run time. r is
// Marsaglia & Tsang's, the root of "the top layer [0, x[N-1]) × [f(x[N-1]), 1]
// has area v too". The fast path calls no libm function; only the wedge test
// (about 2 % of draws) calls std::exp, whose last bit may differ between C
// libraries. 256 layers for both distributions: one mask picks the layer, and
// both 257-entry table pairs (8 KiB) stay in L1.

#include <rlscale/core/random.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>

namespace rlscale {

namespace detail {

// Compile-time versions of exp, log and sqrt for building the tables (accurate
// to a unit or two in the last place over the range used); std:: versions are
// not constexpr in C++20.

inline constexpr double ln2_hi = 6.93147180369123816490e-01;  // ln 2 split (fdlibm): k·ln2_hi is exact for |k| < 2¹¹
inline constexpr double ln2_lo = 1.90821492927058770002e-10;

/// e^x: x = k·ln 2 + t with |t| <= ln(2)/2, e^t by its Taylor series, times 2^k.
constexpr double exp_constexpr(double x) noexcept {
    const double kd = x * 1.44269504088896338700;  // x / ln 2
    const int k = static_cast<int>(kd < 0 ? kd - 0.5 : kd + 0.5);
    const double t = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0;
    for (int n = 20; n >= 1; --n) p = 1.0 + p * t / n;  // Horner: 1 + t(1 + t/2(1 + t/3(...)))
    for (int j = 0; j < k; ++j) p *= 2.0;
    for (int j = 0; j > k; --j) p *= 0.5;
    return p;
}

/// ln y for y > 0: y = m·2^e with m in [√½, √2), ln m = 2·atanh(s) with
/// s = (m - 1)/(m + 1), |s| < 0.172, by its series.
constexpr double log_constexpr(double y) noexcept {
    int e = 0;
    double m = y;
    while (m >= 1.4142135623730951) {
        m *= 0.5;
        ++e;
    }
    while (m < 0.7071067811865476) {
        m *= 2.0;
        --e;
    }
    const double s = (m - 1.0) / (m + 1.0);
    const double s2 = s * s;
    double p = 0.0;
    for (int k = 15; k >= 0; --k) p = p * s2 + 1.0 / (2 * k + 1);  // Σ s^2k / (2k + 1)
    return e * ln2_hi + (2.0 * s * p + e * ln2_lo);
}

/// √a for a >= 0 (0 for anything else): Newton's iteration from above, which
/// decreases until rounding stops it.
constexpr double sqrt_constexpr(double a) noexcept {
    if (!(a > 0.0)) return 0.0;
    double x = a > 1.0 ? a : 1.0;
    for (;;) {
        const double next = 0.5 * (x + a / x);
        if (!(next < x)) return x;
        x = next;
    }
}

/// Number of ziggurat layers: the low 8 bits of a draw pick one.
inline constexpr std::size_t ziggurat_layers = 256;

/// The layers of a ziggurat: x[i] the right edge of layer i, f[i] = f(x[i]).
struct ziggurat_table {
    std::array<double, ziggurat_layers + 1> x{};  // x[0] = v/f(r) (base), x[1] = r, ..., x[N] = 0
    std::array<double, ziggurat_layers + 1> f{};  // increasing, f[N] = f(0) = 1
    double v = 0.0;                              // the common area of the layers
};

/// The ziggurat of a decreasing density f with f(0) = 1 and inverse f_inv,
/// for the base edge r, where tail_ratio = (∫ f over [r, ∞)) / f(r).
template <typename Density, typename Inverse>
constexpr ziggurat_table make_ziggurat(double r, double tail_ratio, Density f, Inverse f_inv) noexcept {
    constexpr std::size_t n = ziggurat_layers;
    ziggurat_table z;
    z.v = f(r) * (r + tail_ratio);  // the base rectangle plus the tail
    z.x[0] = r + tail_ratio;        // = v / f(r)
    z.x[1] = r;
    for (std::size_t i = 1; i + 1 < n; ++i) {
        z.x[i + 1] = f_inv(f(z.x[i]) + z.v / z.x[i]);  // layer i has area v
    }
    z.x[n] = 0.0;
    for (std::size_t i = 0; i <= n; ++i) z.f[i] = f(z.x[i]);
    return z;
}

/// Whether the top layer [0, x[N-1]) × [f[N-1], 1], whose area no step above
/// sets, also has area v: true only if r is the right root.
constexpr bool ziggurat_closes(const ziggurat_table& z) noexcept {
    const double top = z.x[ziggurat_layers - 1] * (1.0 - z.f[ziggurat_layers - 1]);
    const double error = top > z.v ? top - z.v : z.v - top;
    return error <= 1e-11 * z.v;
}

/// f(x) = e^(-x). r from Marsaglia & Tsang (2000); the tail ratio is 1.
inline constexpr ziggurat_table exponential_ziggurat = make_ziggurat(
    7.69711747013104972, 1.0, [](double x) { return exp_constexpr(-x); }, [](double y) { return -log_constexpr(y); });

/// Mills' ratio (∫ e^(-t²/2) over [x, ∞)) / e^(-x²/2) for x > 2, by Laplace's
/// continued fraction 1/(x + 1/(x + 2/(x + 3/(x + ...)))), converged to double
/// precision after 40 terms at x = 3.65.
constexpr double mills_ratio(double x) noexcept {
    double t = x;
    for (int k = 64; k >= 1; --k) t = x + k / t;
    return 1.0 / t;
}

/// f(x) = e^(-x²/2), the normal density's shape on [0, ∞). r from Marsaglia & Tsang (2000).
inline constexpr double normal_ziggurat_r = 3.6541528853610088;
inline constexpr ziggurat_table normal_ziggurat = make_ziggurat(
    normal_ziggurat_r, mills_ratio(normal_ziggurat_r), [](double x) { return exp_constexpr(-0.5 * x * x); },
    [](double y) { return sqrt_constexpr(-2.0 * log_constexpr(y)); });

static_assert(ziggurat_closes(exponential_ziggurat), "r does not make the exponential ziggurat's layers close");
static_assert(ziggurat_closes(normal_ziggurat), "r does not make the normal ziggurat's layers close");

/// The abscissa U·x[i] of a draw, with U = (bits >> 11)·2⁻⁵³ as in uniform01.
constexpr double ziggurat_abscissa(std::uint64_t bits, double width) noexcept {
    return static_cast<double>(bits >> 11U) * 0x1.0p-53 * width;
}

/// A magnitude with bit 8 of a draw as its sign bit: a random sign without a
/// branch, which would mispredict half the time.
constexpr double with_sign_of_bit8(double magnitude, std::uint64_t bits) noexcept {
    return std::bit_cast<double>(std::bit_cast<std::uint64_t>(magnitude) | ((bits & 0x100U) << 55U));
}

/// A tail variate of the standard normal, conditioned on Z >= r, by Marsaglia's
/// (1964) method: x ~ Exp(rate r), kept with probability e^(-x²/2) (that
/// another exponential exceeds x²/2), gives r + x the density ∝ e^(-(r+x)²/2).
template <std::uniform_random_bit_generator Gen>
double normal_tail(Gen& gen, double r) {
    for (;;) {
        const double x = -std::log(1.0 - uniform01(gen)) / r;  // 1 - U is in (0, 1]: the logs are finite
        const double y = -std::log(1.0 - uniform01(gen));
        if (2.0 * y > x * x) return r + x;
    }
}

// The rest of a ziggurat once a draw (layer i, abscissa x) has missed its
// layer's core: the tail or the wedge test, then fresh draws until one is
// accepted. Out of line, so that the fast path is small enough to inline
// into the caller's loop, where the generator's state stays in registers.

/// exponential01's slow path.
template <std::uniform_random_bit_generator Gen>
double exponential_outside_core(Gen& gen, std::size_t i, double x) {
    const auto& z = exponential_ziggurat;
    double offset = 0.0;  // r per trip into the tail: X | X >= r is r + X
    for (;;) {
        if (i == 0) {
            offset += z.x[1];
        } else if (z.f[i] + (z.f[i + 1] - z.f[i]) * uniform01(gen) < std::exp(-x)) {
            return offset + x;
        }
        const std::uint64_t bits = gen();
        i = bits & (ziggurat_layers - 1);
        x = ziggurat_abscissa(bits, z.x[i]);
        if (x < z.x[i + 1]) return offset + x;
    }
}

/// ziggurat_normal's slow path, for |Z|.
template <std::uniform_random_bit_generator Gen>
double normal_magnitude_outside_core(Gen& gen, std::size_t i, double x) {
    const auto& z = normal_ziggurat;
    for (;;) {
        if (i == 0) return normal_tail(gen, z.x[1]);
        if (z.f[i] + (z.f[i + 1] - z.f[i]) * uniform01(gen) < std::exp(-0.5 * x * x)) return x;
        const std::uint64_t bits = gen();
        i = bits & (ziggurat_layers - 1);
        x = ziggurat_abscissa(bits, z.x[i]);
        if (x < z.x[i + 1]) return x;
    }
}

}  // namespace detail

/// A standard exponential variate (mean 1): >= 0 and finite. Ziggurat with 256
/// layers: one generator call for 97.8 % of variates, two in the wedge, more
/// in the rare rejections and in the tail (x >= 7.697, probability 4.5e-4).
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
double exponential01(Gen& gen) {
    const auto& z = detail::exponential_ziggurat;
    const std::uint64_t bits = gen();
    const std::size_t i = bits & (detail::ziggurat_layers - 1);
    const double x = detail::ziggurat_abscissa(bits, z.x[i]);
    if (x < z.x[i + 1]) [[likely]] {
        return x;
    }
    return detail::exponential_outside_core(gen, i, x);
}

/// A standard normal variate: finite. Ziggurat with 256 layers over |Z|, and
/// the sign from bit 8 of the first draw (independent of all that decides
/// |Z|): one generator call for 98.5 % of variates, two in the wedge, more in
/// the rare rejections and in the tail (|Z| >= 3.654, probability 2.6e-4). A
/// different stream from standard_normal (Box–Muller), which stays as it is.
template <std::uniform_random_bit_generator Gen>
    requires(Gen::min() == 0 && Gen::max() == std::numeric_limits<std::uint64_t>::max())
double ziggurat_normal(Gen& gen) {
    const auto& z = detail::normal_ziggurat;
    const std::uint64_t bits = gen();
    const std::size_t i = bits & (detail::ziggurat_layers - 1);
    const double x = detail::ziggurat_abscissa(bits, z.x[i]);
    if (x < z.x[i + 1]) [[likely]] {
        return detail::with_sign_of_bit8(x, bits);
    }
    return detail::with_sign_of_bit8(detail::normal_magnitude_outside_core(gen, i, x), bits);
}

}  // namespace rlscale
