// Adam with its moments stored as bfloat16 (moment_storage::bfloat16):
// the stochastic rounding, the step against float Adam, reproducibility,
// restore, and the refusals.

#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/nn/detail/bfloat16.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace test_nn_adam_bfloat16 {

using rlscale::nn::adam;
using rlscale::nn::adam_config;
using rlscale::nn::moment_storage;
namespace detail = rlscale::nn::detail;

constexpr adam_config half_config{.lr = 0.01, .moments = moment_storage::bfloat16, .rounding_seed = 7};

bool is_bfloat16(float x) { return (std::bit_cast<std::uint32_t>(x) & 0xffffU) == 0; }

TEST_CASE("stochastic rounding to bfloat16 is exact in expectation: over all 2^16 random halves the mean is the value") {
    // Values inside one binade, at the bottom of a spacing, a quarter and
    // three quarters in, a denormal, negative, and already representable.
    for (const float x : {1.0F + 0x1.0p-10F, 3.14159F, 0.999F * 0.5F, -2.7182818F, 1e-39F, 0.75F, 6.0e-5F}) {
        CAPTURE(x);
        const float down = detail::from_bf16(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
        double sum = 0;
        int ups = 0;
        for (std::uint32_t r = 0; r < 65536; ++r) {
            const float y = detail::from_bf16(detail::to_bf16_stochastic(x, r));
            CHECK((y == down || std::abs(y) > std::abs(down)));
            ups += y != down ? 1 : 0;
            sum += y;
        }
        CHECK(sum / 65536.0 == doctest::Approx(static_cast<double>(x)).epsilon(1e-12));
        CHECK(ups == static_cast<int>(std::bit_cast<std::uint32_t>(x) & 0xffffU));
    }
    // Infinity and NaN are kept.
    CHECK(std::isinf(detail::from_bf16(detail::to_bf16_stochastic(INFINITY, 0xffffU))));
    CHECK(std::isnan(detail::from_bf16(detail::to_bf16_stochastic(std::nanf(""), 0xffffU))));
    CHECK(std::isnan(detail::from_bf16(detail::to_bf16_stochastic(std::bit_cast<float>(0x7fffffffU), 0xffffU))));
}

TEST_CASE("the vectorised widening and moment rounding equal their portable twins bit for bit, at every length to 40") {
#if !RLSCALE_DETAIL_BFLOAT16_SIMD
    MESSAGE("built without AVX-512: the vectorised paths are the portable ones, so this compares them with themselves");
#endif
    std::vector<float> m;
    std::vector<float> v;
    for (int i = 0; i < 40; ++i) {
        m.push_back(std::ldexp(std::sin(0.7F * static_cast<float>(i)), (i % 11) - 5));
        v.push_back(std::ldexp(0.5F + 0.01F * static_cast<float>(i), -(i % 37)));
    }
    // Special values: NaN, ±infinity, a subnormal, zeros, the largest float.
    m[3] = std::nanf("");
    v[4] = INFINITY;
    m[5] = -INFINITY;
    v[6] = 1e-40F;
    m[7] = -0.0F;
    v[8] = 0.0F;
    m[9] = std::numeric_limits<float>::max();
    v[10] = std::bit_cast<float>(0x7fffffffU);
    for (Eigen::Index n = 0; n <= 40; ++n) {
        CAPTURE(n);
        for (const std::uint32_t key : {0U, 12345U}) {
            for (const std::uint32_t first : {0U, 7U, 0xfffffff0U}) {
                std::vector<std::uint16_t> mo(41, 0xabcd), vo(41, 0xabcd), mp(41, 0xabcd), vp(41, 0xabcd);
                detail::narrow_moments(m.data(), v.data(), mo.data(), vo.data(), key, first, n);
                detail::narrow_moments_portable(m.data(), v.data(), mp.data(), vp.data(), key, first, n);
                CHECK(mo == mp);
                CHECK(vo == vp);
                CHECK(mo[static_cast<std::size_t>(n)] == 0xabcd);  // nothing written past n
                CHECK(vo[static_cast<std::size_t>(n)] == 0xabcd);
                std::vector<float> w(41, -1.0F), wp(41, -1.0F);
                detail::widen_bf16(mo.data(), w.data(), n);
                detail::widen_bf16_portable(mo.data(), wp.data(), n);
                CHECK(std::memcmp(w.data(), wp.data(), w.size() * sizeof(float)) == 0);
            }
        }
    }
}

TEST_CASE("the counter-based bits round up as often as they should across indices") {
    // x a quarter of the way from one bfloat16 to the next: about a quarter
    // of the indices round it up, under any key.
    const float x = std::bit_cast<float>(0x3f804000U);
    for (const std::uint32_t key : {0U, 1U, 0xdeadbeefU}) {
        CAPTURE(key);
        int ups_low = 0;
        int ups_high = 0;
        const int n = 100000;
        for (int i = 0; i < n; ++i) {
            const std::uint32_t r = detail::mix_bits(key, static_cast<std::uint32_t>(i));
            ups_low += detail::from_bf16(detail::to_bf16_stochastic(x, r)) > x ? 1 : 0;
            ups_high += detail::from_bf16(detail::to_bf16_stochastic(x, r >> 16)) > x ? 1 : 0;
        }
        CHECK(ups_low == doctest::Approx(n / 4).epsilon(0.02));
        CHECK(ups_high == doctest::Approx(n / 4).epsilon(0.02));
    }
}

TEST_CASE("bfloat16 moments: the first step equals float Adam's, the moments are stored as bfloat16 in half the bytes") {
    // Sizes with and without a tail below the register width.
    for (const Eigen::Index n : {5, 37, 48}) {
        CAPTURE(n);
        adam_config full = half_config;
        full.moments = moment_storage::parameter_type;
        adam<float> f(n, full);
        adam<float> h(n, half_config);
        CHECK(h.state_bytes() * 2 == f.state_bytes());
        Eigen::VectorXf a = Eigen::VectorXf::LinSpaced(n, -1.0F, 2.0F);
        Eigen::VectorXf b = a;
        const Eigen::VectorXf g = Eigen::VectorXf::LinSpaced(n, 0.3F, -0.7F).array().sin();
        // From zero moments the step reads m and v before they are rounded.
        f.step(a, g);
        h.step(b, g);
        CHECK(a == b);
        const Eigen::VectorXf m = h.first_moment();
        const Eigen::VectorXf v = h.second_moment();
        for (Eigen::Index i = 0; i < n; ++i) {
            CHECK(is_bfloat16(m[i]));
            CHECK(is_bfloat16(v[i]));
            CHECK(std::abs(m[i] - f.first_moment()[i]) <= std::abs(f.first_moment()[i]) * 0x1.0p-7F);
            CHECK(std::abs(v[i] - f.second_moment()[i]) <= f.second_moment()[i] * 0x1.0p-7F);
        }
        // 200 steps later each parameter has moved within 2 % of float
        // Adam's distance (the moments' rounding noise, under 2⁻⁷ a step,
        // averages out over steps).
        const Eigen::VectorXf start = a;
        for (int k = 0; k < 200; ++k) {
            const Eigen::VectorXf gk = (g.array() * (1.0F + 0.01F * static_cast<float>(k % 7))).matrix();
            f.step(a, gk);
            h.step(b, gk);
        }
        const Eigen::ArrayXf moved = (a - start).array().abs();
        CHECK(moved.minCoeff() > 1.0F);
        CHECK(((a - b).array().abs() <= 0.02F * moved).all());
    }
}

TEST_CASE("bfloat16 moments keep beta2's decay, which rounding to nearest would lose") {
    // One gradient, then none: v falls by β₂ = 0.999 a step, a quarter or
    // less of bfloat16's spacing. Rounded to nearest, v would never move;
    // rounded stochastically, its mean over many parameters follows float's.
    const Eigen::Index n = 4096;
    adam_config full = half_config;
    full.moments = moment_storage::parameter_type;
    adam<float> f(n, full);
    adam<float> h(n, half_config);
    Eigen::VectorXf a = Eigen::VectorXf::Zero(n);
    Eigen::VectorXf b = a;
    f.step(a, Eigen::VectorXf::Constant(n, 0.5F));
    h.step(b, Eigen::VectorXf::Constant(n, 0.5F));
    const Eigen::VectorXf zero = Eigen::VectorXf::Zero(n);
    for (int k = 0; k < 1000; ++k) {
        f.step(a, zero);
        h.step(b, zero);
    }
    const double v_float = f.second_moment().cast<double>().mean();
    const double v_half = h.second_moment().cast<double>().mean();
    CHECK(v_float == doctest::Approx(0.25 * 0.001 * std::pow(0.999, 1000)).epsilon(1e-3));
    CHECK(v_half == doctest::Approx(v_float).epsilon(0.01));
    // Rounded to nearest, the same value stays where it was.
    const float v0 = detail::from_bf16(detail::to_bf16(0.25F * 0.001F));
    CHECK(detail::from_bf16(detail::to_bf16(v0 * 0.999F)) == v0);
}

TEST_CASE("bfloat16 moments: reproducible for a seed, other bits under another seed, and resumed exactly from restore") {
    const Eigen::Index n = 53;
    const Eigen::VectorXf g0 = Eigen::VectorXf::LinSpaced(n, -0.9F, 0.8F);
    const auto run = [&](adam<float>& opt, Eigen::VectorXf& p, int from, int to) {
        for (int k = from; k < to; ++k) opt.step(p, (g0.array() * std::cos(0.3F * static_cast<float>(k))).matrix());
    };
    adam<float> a(n, half_config);
    adam<float> b(n, half_config);
    adam_config other = half_config;
    other.rounding_seed = 8;
    adam<float> c(n, other);
    Eigen::VectorXf pa = Eigen::VectorXf::Ones(n);
    Eigen::VectorXf pb = pa;
    Eigen::VectorXf pc = pa;
    run(a, pa, 0, 30);
    run(b, pb, 0, 30);
    run(c, pc, 0, 30);
    CHECK(pa == pb);
    CHECK(a.first_moment() == b.first_moment());
    CHECK(a.second_moment() == b.second_moment());
    CHECK(a.second_moment() != c.second_moment());

    // A checkpoint's state, restored into a fresh optimiser, continues bit
    // for bit (the bits depend on seed, step and index only).
    nlohmann::json j = a;
    adam<float> resumed(n, half_config);
    resumed.restore(j.at("step").get<std::int64_t>(), Eigen::Map<const Eigen::VectorXf>(j.at("m").get<std::vector<float>>().data(), n),
                    Eigen::Map<const Eigen::VectorXf>(j.at("v").get<std::vector<float>>().data(), n));
    adam_config read_back;
    from_json(j.at("config"), read_back);
    CHECK(read_back == half_config);
    Eigen::VectorXf presumed = pa;
    run(a, pa, 30, 60);
    run(resumed, presumed, 30, 60);
    CHECK(pa == presumed);
    CHECK(a.second_moment() == resumed.second_moment());

    // Subnormal moments (a parameter whose gradient has stayed zero for
    // hundreds of steps) come back exactly too.
    Eigen::VectorXf tiny_m = Eigen::VectorXf::Constant(n, detail::from_bf16(0x0001));
    Eigen::VectorXf tiny_v = Eigen::VectorXf::Constant(n, detail::from_bf16(0x0042));
    tiny_m[1] = -detail::from_bf16(0x007f);
    adam<float> tiny(n, half_config);
    tiny.restore(5, tiny_m, tiny_v);
    CHECK(tiny.first_moment() == tiny_m);
    CHECK(tiny.second_moment() == tiny_v);
    CHECK(tiny_m[0] > 0.0F);
    CHECK(std::fpclassify(tiny_m[0]) == FP_SUBNORMAL);

    // read_moments gives the same values without allocating a result.
    Eigen::VectorXf m(n);
    Eigen::VectorXf v(n);
    a.read_moments(m, v);
    CHECK(m == a.first_moment());
    CHECK(v == a.second_moment());
    Eigen::VectorXf short_m(n - 1);
    CHECK_THROWS_AS(a.read_moments(short_m, v), rlscale::error);
}

TEST_CASE("bfloat16 moments are refused for double parameters naming the field, and a checkpoint's unknown storage by name") {
    CHECK_THROWS_WITH_AS(adam<double>(4, half_config), doctest::Contains("adam_config.moments"), rlscale::config_error);
    nlohmann::json j = adam_config{};
    CHECK(j.at("moments") == "parameter_type");
    adam_config c;
    j["moments"] = "float8";
    CHECK_THROWS_WITH_AS(from_json(j, c), doctest::Contains("adam_config.moments"), rlscale::config_error);
    j["moments"] = "bfloat16";
    j["rounding_seed"] = -1;
    CHECK_THROWS_WITH_AS(from_json(j, c), doctest::Contains("adam_config.rounding_seed"), rlscale::config_error);
    // Written before the field existed: float moments.
    j.erase("moments");
    j.erase("rounding_seed");
    from_json(j, c);
    CHECK(c == adam_config{});
}

}  // namespace test_nn_adam_bfloat16
