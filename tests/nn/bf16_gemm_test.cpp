#include <rlscale/core/random.hpp>
#include <rlscale/nn/detail/bf16_gemm.hpp>

#include <doctest/doctest.h>

#include <Eigen/Core>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace test_nn_bf16_gemm {

using namespace rlscale;
using namespace rlscale::nn::detail;

namespace {

using matrix = Eigen::MatrixXf;

matrix random_matrix(Eigen::Index rows, Eigen::Index cols, rng& gen) {
    matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(uniform01(gen) * 2 - 1);
    return m;
}

std::uint16_t bits16(float x) { return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16); }

/// The product of the bf16-rounded operands, in double: what gemm_bf16
/// computes up to float summation error.
Eigen::MatrixXd rounded_product(const matrix& a, const matrix& b) {
    const auto round = [](const matrix& m) {
        Eigen::MatrixXd r(m.rows(), m.cols());
        for (Eigen::Index i = 0; i < m.size(); ++i) r.data()[i] = from_bf16(to_bf16(m.data()[i]));
        return r;
    };
    return round(a) * round(b);
}

struct shape {
    Eigen::Index m, k, n;
};

// Whole tiles, partial panels, odd K (a padded pair), one row, one column,
// tiles of 1 to 4 panels and every column remainder (N mod 6 = 0..5).
const shape shapes[] = {{128, 128, 128}, {27, 128, 128}, {128, 15, 128}, {15, 128, 128}, {128, 27, 128},
                        {17, 33, 7},     {1, 1, 1},      {65, 3, 13},    {64, 64, 6},     {3, 200, 5},
                        {40, 9, 9},      {45, 31, 10},   {100, 2, 4}};

}  // namespace

TEST_CASE("bf16 conversion rounds to nearest even and keeps infinities, NaN and the sign") {
    CHECK(to_bf16(1.0F) == 0x3f80);
    CHECK(from_bf16(0x3f80) == 1.0F);
    CHECK(to_bf16(-2.0F) == 0xc000);
    // Halfway cases go to the even neighbour; just above halfway rounds up.
    CHECK(to_bf16(std::bit_cast<float>(0x3f808000U)) == 0x3f80);
    CHECK(to_bf16(std::bit_cast<float>(0x3f818000U)) == 0x3f82);
    CHECK(to_bf16(std::bit_cast<float>(0x3f808001U)) == 0x3f81);
    CHECK(to_bf16(std::bit_cast<float>(0x3f807fffU)) == 0x3f80);
    // The largest float rounds up to infinity; infinities stay.
    CHECK(to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
    CHECK(to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
    CHECK(to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80);
    CHECK(std::isnan(from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    // A NaN whose payload is only in the low bits must not become infinity.
    CHECK(std::isnan(from_bf16(to_bf16(std::bit_cast<float>(0x7f800001U)))));
    // Subnormals flush to a zero of their sign.
    CHECK(to_bf16(std::numeric_limits<float>::denorm_min()) == 0x0000);
    CHECK(to_bf16(-std::numeric_limits<float>::denorm_min()) == 0x8000);
    // Every bf16 value converts back and forth unchanged.
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float x = from_bf16(static_cast<std::uint16_t>(b));
        if (std::isnan(x) || (b & 0x7f80U) == 0) continue;
        REQUIRE(to_bf16(x) == b);
    }
}

TEST_CASE("bf16 packing: the SIMD path rounds exactly as the portable one, specials included") {
    rng gen(11);
    for (const shape s : shapes) {
        CAPTURE(s.m);
        CAPTURE(s.k);
        matrix a = random_matrix(s.m, s.k, gen) * 1e3F;
        // Specials and rounding ties where there is room for them.
        const float specials[] = {std::numeric_limits<float>::infinity(), -0.0F, std::numeric_limits<float>::quiet_NaN(),
                                  std::numeric_limits<float>::denorm_min(), std::bit_cast<float>(0x3f808000U),
                                  std::bit_cast<float>(0x3f818000U), std::numeric_limits<float>::max(),
                                  std::bit_cast<float>(0x7f800001U),  // signalling NaN
                                  std::bit_cast<float>(0xffc00000U),  // negative NaN
                                  -std::numeric_limits<float>::denorm_min()};
        for (std::size_t i = 0; i < std::size(specials) && static_cast<Eigen::Index>(i) < a.size(); ++i) {
            a.data()[i * 7 % static_cast<std::size_t>(a.size())] = specials[i];
        }
        std::vector<std::uint32_t> simd(static_cast<std::size_t>(bf16_packed_words(s.m, s.k)), 1);
        std::vector<std::uint32_t> portable(simd.size(), 2);
        pack_a_bf16(a.data(), s.m, s.m, s.k, simd.data());
        for (Eigen::Index p = 0; p * bf16_panel_rows < s.m; ++p) {
            pack_pairs_portable(a.data() + p * bf16_panel_rows, s.m, std::min<Eigen::Index>(16, s.m - p * bf16_panel_rows), 16,
                                s.k, portable.data() + p * bf16_pairs(s.k) * bf16_panel_rows, bf16_panel_rows);
        }
        CHECK(simd == portable);

        // Aᵀ packed from A's storage equals the packing of a transposed copy.
        const matrix at = a.transpose();
        std::vector<std::uint32_t> transposed(static_cast<std::size_t>(bf16_packed_words(s.k, s.m)), 3);
        std::vector<std::uint32_t> transposed_portable(transposed.size(), 4);
        std::vector<std::uint32_t> via_copy(transposed.size(), 5);
        pack_a_transposed_bf16(a.data(), s.m, s.m, s.k, transposed.data());
        pack_a_transposed_bf16_portable(a.data(), s.m, s.m, s.k, transposed_portable.data());
        pack_a_bf16(at.data(), s.k, s.k, s.m, via_copy.data());
        CHECK(transposed == transposed_portable);
        CHECK(transposed == via_copy);

        std::vector<std::uint32_t> cols(static_cast<std::size_t>(bf16_pairs(s.m) * s.k), 6);
        std::vector<std::uint32_t> cols_portable(cols.size(), 7);
        to_bf16_columns(a.data(), s.m, s.m, s.k, cols.data());
        to_bf16_columns_portable(a.data(), s.m, s.m, s.k, cols_portable.data());
        CHECK(cols == cols_portable);
        // Word (q, n) holds elements 2q (low half) and 2q + 1 (high half); an odd K pads with +0.
        CHECK(static_cast<std::uint16_t>(cols[0]) == bits16(from_bf16(to_bf16(a(0, 0)))));
        if (s.m % 2 == 1) CHECK((cols[static_cast<std::size_t>(bf16_pairs(s.m) - 1)] >> 16) == 0);
    }
    if (!bf16_simd_available()) MESSAGE("AVX-512 BF16 is not compiled in: the dispatch used the portable path");
}

TEST_CASE("bf16 gemm: SIMD and portable kernels agree to float rounding and match the product of the rounded operands") {
    rng gen(12);
    for (const shape s : shapes) {
        CAPTURE(s.m);
        CAPTURE(s.k);
        CAPTURE(s.n);
        const matrix a = random_matrix(s.m, s.k, gen);
        const matrix b = random_matrix(s.k, s.n, gen);
        const Eigen::Index kp = bf16_pairs(s.k);
        std::vector<std::uint32_t> ap(static_cast<std::size_t>(bf16_packed_words(s.m, s.k)));
        std::vector<std::uint32_t> bp(static_cast<std::size_t>(kp * s.n));
        pack_a_bf16(a.data(), s.m, s.m, s.k, ap.data());
        to_bf16_columns(b.data(), s.k, s.k, s.n, bp.data());

        // C has a leading dimension larger than M: the rows past M are not written.
        const Eigen::Index ldc = s.m + 3;
        matrix c = matrix::Constant(ldc, s.n, 42.0F);
        matrix c_portable = matrix::Constant(ldc, s.n, 42.0F);
        gemm_bf16(s.m, s.n, kp, ap.data(), bp.data(), 1, kp, c.data(), ldc);
        gemm_bf16_portable(s.m, s.n, kp, ap.data(), bp.data(), 1, kp, c_portable.data(), ldc);
        CHECK((c.bottomRows(3).array() == 42.0F).all());
        CHECK((c_portable.bottomRows(3).array() == 42.0F).all());

        const Eigen::MatrixXd want = rounded_product(a, b);
        const double tol = 1e-5 * static_cast<double>(s.k);
        CHECK((c.topRows(s.m).cast<double>() - want).cwiseAbs().maxCoeff() <= tol);
        CHECK((c_portable.topRows(s.m).cast<double>() - want).cwiseAbs().maxCoeff() <= tol);
        // Against the float product the error is the operands' rounding: 2^-8 relative each.
        const Eigen::MatrixXd exact = (a.cast<double>() * b.cast<double>());
        CHECK((c.topRows(s.m).cast<double>() - exact).cwiseAbs().maxCoeff() <= 2.0 * std::pow(2.0, -8) * static_cast<double>(s.k));
    }
}

TEST_CASE("bf16 packing reads through a leading dimension larger than the rows") {
    rng gen(14);
    const Eigen::Index m = 21;
    const Eigen::Index k = 11;
    const Eigen::Index ld = m + 5;
    const matrix storage = random_matrix(ld, k, gen);  // rows m..ld-1 are not part of A
    const matrix a = storage.topRows(m);
    std::vector<std::uint32_t> strided(static_cast<std::size_t>(bf16_packed_words(m, k)));
    std::vector<std::uint32_t> dense(strided.size());
    pack_a_bf16(storage.data(), ld, m, k, strided.data());
    pack_a_bf16(a.data(), m, m, k, dense.data());
    CHECK(strided == dense);
    // Aᵀ from the same storage: columns of length k with stride ld.
    const matrix st = random_matrix(ld, m, gen);
    const matrix w = st.topRows(k);
    std::vector<std::uint32_t> t_strided(static_cast<std::size_t>(bf16_packed_words(m, k)));
    std::vector<std::uint32_t> t_dense(t_strided.size());
    pack_a_transposed_bf16(st.data(), ld, k, m, t_strided.data());
    pack_a_transposed_bf16(w.data(), k, k, m, t_dense.data());
    CHECK(t_strided == t_dense);
    std::vector<std::uint32_t> cols(static_cast<std::size_t>(bf16_pairs(k) * m));
    std::vector<std::uint32_t> cols_dense(cols.size());
    to_bf16_columns(st.data(), ld, k, m, cols.data());
    to_bf16_columns(w.data(), k, k, m, cols_dense.data());
    CHECK(cols == cols_dense);
}

TEST_CASE("bf16 gemm: B can be read through any strides, e.g. the transpose packed by pack_pairs") {
    rng gen(13);
    // G = D · Xᵀ, the weight gradient: B = Xᵀ with word (q, i) at q · rows + i.
    const Eigen::Index out = 40;
    const Eigen::Index in = 15;
    const Eigen::Index n = 33;
    const matrix d = random_matrix(out, n, gen);
    const matrix x = random_matrix(in, n, gen);
    std::vector<std::uint32_t> dp(static_cast<std::size_t>(bf16_packed_words(out, n)));
    std::vector<std::uint32_t> xt(static_cast<std::size_t>(bf16_pairs(n) * in));
    pack_a_bf16(d.data(), out, out, n, dp.data());
    pack_pairs(x.data(), in, in, in, n, xt.data(), in);
    matrix g(out, in);
    gemm_bf16(out, in, bf16_pairs(n), dp.data(), xt.data(), in, 1, g.data(), out);
    const matrix xt_dense = x.transpose();
    CHECK((g.cast<double>() - rounded_product(d, xt_dense)).cwiseAbs().maxCoeff() <= 1e-5 * n);
}

}  // namespace test_nn_bf16_gemm
