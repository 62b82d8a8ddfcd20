#include <rlscale/nn/quantized_mlp.hpp>

#include <rlscale/core/random.hpp>
#include <rlscale/nn/detail/int8_gemv.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/mlp.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace test_nn_quantized_mlp {

using namespace rlscale::nn;
using rlscale::rng;

namespace {

Eigen::VectorXf random_input(Eigen::Index n, rng& gen, double lo = -1, double hi = 1) {
    Eigen::VectorXf x(n);
    for (Eigen::Index i = 0; i < n; ++i) x[i] = static_cast<float>(rlscale::uniform(gen, lo, hi));
    return x;
}

/// Largest |quantized - float| over `count` random inputs, relative to the
/// largest |float output| seen (the scale of the outputs).
double worst_relative_error(const mlp<float>& net, const quantized_mlp& q, int count, rng& gen) {
    mlp<float>::inference_buffer fbuf(net);
    quantized_mlp::inference_buffer qbuf(q);
    double worst = 0;
    double scale = 0;
    for (int t = 0; t < count; ++t) {
        const Eigen::VectorXf x = random_input(net.input_size(), gen);
        const Eigen::VectorXf y = net.forward(x, fbuf);
        const Eigen::VectorXf yq = q.forward(x, qbuf);
        worst = std::max(worst, static_cast<double>((y - yq).cwiseAbs().maxCoeff()));
        scale = std::max(scale, static_cast<double>(y.cwiseAbs().maxCoeff()));
    }
    return worst / scale;
}

/// A packed int8 matrix of random values (the full int8 range, padding
/// zero) and its unpacked copy, for the kernel tests.
struct packed_matrix {
    std::vector<std::int8_t> packed;
    Eigen::MatrixXi dense;
};

packed_matrix random_packed(Eigen::Index out, Eigen::Index in, rng& gen) {
    packed_matrix m{std::vector<std::int8_t>(static_cast<std::size_t>(detail::int8_padded_rows(out) *
                                                                      detail::int8_padded_cols(in))),
                    Eigen::MatrixXi(out, in)};
    for (Eigen::Index j = 0; j < in; ++j) {
        for (Eigen::Index i = 0; i < out; ++i) {
            const auto v = static_cast<int>(rlscale::uniform_index(gen, 256)) - 128;
            m.dense(i, j) = v;
            m.packed[static_cast<std::size_t>(detail::int8_packed_offset(i, j, in))] = static_cast<std::int8_t>(v);
        }
    }
    return m;
}

}  // namespace

TEST_CASE("quantized_mlp: outputs stay within 5 percent of the float network's output scale") {
    // int8 weights and uint8 activations each carry about 2 significant
    // digits. Measured worst cases: 0.3 to 1.1 percent, and 3.4 percent for
    // the narrow 9-unit layer under He initialisation (one large activation
    // coarsens the step for the other eight).
    struct shape {
        const char* name;
        mlp<float> net;
    };
    std::vector<shape> shapes;
    shapes.push_back({"15-128-128-27 ReLU (the SCARLET DQN)", mlp<float>({15, 128, 128, 27})});
    shapes.push_back({"5-32-32-4 tanh hidden (negative activations, non-zero zero point)",
                      mlp<float>({5, 32, 32, 4}, activation::tanh)});
    shapes.push_back({"7-33-5 (padding of rows and columns)", mlp<float>({7, 33, 5})});
    shapes.push_back(
        {"3-17-65-9-2 ReLU, tanh output", mlp<float>({3, 17, 65, 9, 2}, activation::relu, activation::tanh)});
    shapes.push_back({"6-20-20-3 identity hidden", mlp<float>({6, 20, 20, 3}, activation::identity)});
    std::uint64_t seed = 11;
    for (auto& s : shapes) {
        // Not a structured binding: INFO's lambda captures `name`, which
        // Clang allows for a binding only from version 16.
        const char* name = s.name;
        auto& net = s.net;
        INFO(name);
        for (auto scheme : {init_scheme::torch_default, init_scheme::he_uniform}) {
            rng gen(seed++);
            net.initialize(scheme, gen);
            const quantized_mlp q(net);
            const double err = worst_relative_error(net, q, 300, gen);
            MESSAGE(std::string(name) << ", init " << static_cast<int>(scheme) << ": worst error " << 100 * err
                         << " % of the output scale");
            CHECK(err < 0.05);
        }
    }
}

TEST_CASE("quantized_mlp: a single float layer is computed exactly as by the mlp") {
    rng gen(3);
    mlp<float> net(std::vector<layer_spec>{{9, 5, activation::tanh}});
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    const Eigen::VectorXf x = random_input(9, gen);
    CHECK(q.predict(x) == net.predict(x));
}

TEST_CASE("quantized_mlp: a non-finite input gives NaN outputs, as the float pass does, never a finite answer") {
    rng gen(3);
    mlp<float> net({4, 16, 16, 3});
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()}) {
        Eigen::VectorXf x = random_input(4, gen);
        x[1] = bad;
        CAPTURE(bad);
        CHECK_FALSE(q.predict(x).allFinite());
    }
    // Finite activations whose range is beyond a float (±2e38 after an
    // identity layer): quantized over that range, not read as zeros (which
    // would leave the next layer's bias alone, a finite, confident answer).
    mlp<float> wide(std::vector<layer_spec>{{1, 2, activation::identity}, {2, 1, activation::identity}});
    wide.parameters().setZero();
    wide.weight(0)(0, 0) = 2e38F;
    wide.weight(0)(1, 0) = -2e38F;
    wide.weight(1)(0, 0) = 1.0F;
    wide.bias(1).setConstant(0.5F);
    const quantized_mlp qw(wide);
    const Eigen::VectorXf w_out = qw.predict(Eigen::VectorXf::Constant(1, 1.0F));
    REQUIRE(w_out.allFinite());
    CHECK(w_out[0] == doctest::Approx(2e38).epsilon(0.02));
    // Activations too small for the 8-bit range (below 255 / FLT_MAX) read as zeros.
    mlp<float> tiny({2, 4, 2});
    tiny.parameters().setZero();
    tiny.weight(0).setConstant(1e-39F);  // subnormal products
    tiny.bias(1).setConstant(0.5F);
    tiny.weight(1).setConstant(1.0F);
    const quantized_mlp qt(tiny);
    const Eigen::VectorXf out = qt.predict(Eigen::VectorXf::Constant(2, 1.0F));
    REQUIRE(out.allFinite());
    CHECK(out[0] == doctest::Approx(0.5F));
}

TEST_CASE("quantized_mlp: argmax agrees with the float network on at least 99 percent of 10000 inputs") {
    // A freshly initialised Q-network is the hard case: its 27 Q-values are
    // close together, so small errors reorder them more often than after
    // training separates the actions.
    rng gen(1);
    mlp<float> net({15, 128, 128, 27});
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    mlp<float>::inference_buffer fbuf(net);
    quantized_mlp::inference_buffer qbuf(q);
    const int n = 10000;
    int agree = 0;
    double max_abs_error = 0;
    for (int t = 0; t < n; ++t) {
        const Eigen::VectorXf x = random_input(15, gen);
        const auto y = net.forward(x, fbuf);
        Eigen::Index best = 0;
        y.maxCoeff(&best);
        const Eigen::VectorXf y_float = y;
        const auto yq = q.forward(x, qbuf);
        Eigen::Index best_q = 0;
        yq.maxCoeff(&best_q);
        agree += best == best_q ? 1 : 0;
        max_abs_error = std::max(max_abs_error, static_cast<double>((yq - y_float).cwiseAbs().maxCoeff()));
    }
    const double rate = static_cast<double>(agree) / n;
    MESSAGE("argmax agreement " << 100 * rate << " % (" << agree << " of " << n << "), max |Δq| " << max_abs_error
                                << ", int8 kernel: " << std::string(detail::int8_gemv_path()) << ", parameters "
                                << q.parameter_bytes() << " bytes against the float network's "
                                << static_cast<std::size_t>(net.parameters().size()) * sizeof(float));
    CHECK(rate >= 0.99);
    // Layer 0 in float (15·128 + 128 values), then 128×128 and 27 rows
    // padded to 32 of 128 int8 weights, each row with a float scale, an
    // int32 sum and a float bias.
    CHECK(q.parameter_bytes() == (15 * 128 + 128) * 4 + 128 * 128 + 32 * 128 + (128 + 27) * 12);
}

TEST_CASE("quantized_mlp kernel int8_gemv: the SIMD kernels equal the portable one and the plain product exactly") {
    MESSAGE("int8_gemv uses the " << std::string(detail::int8_gemv_path()) << " kernel in this build");
    rng gen(7);
    for (const auto& shape : std::vector<std::pair<Eigen::Index, Eigen::Index>>{
             {1, 1}, {16, 4}, {5, 7}, {33, 7}, {27, 128}, {128, 128}, {128, 15}, {300, 77}, {48, 1000}, {9, 64}}) {
        const Eigen::Index out = shape.first;
        const Eigen::Index in = shape.second;
        CAPTURE(out);
        CAPTURE(in);
        const packed_matrix w = random_packed(out, in, gen);
        // The padding bytes of x may hold anything: the padded columns of W are 0.
        std::vector<std::uint8_t> x(static_cast<std::size_t>(detail::int8_padded_cols(in)), 0xAB);
        Eigen::VectorXi x_dense(in);
        for (Eigen::Index j = 0; j < in; ++j) {
            const auto v = static_cast<std::uint8_t>(rlscale::uniform_index(gen, 256));
            x[static_cast<std::size_t>(j)] = v;
            x_dense[j] = v;
        }
        const auto rows = static_cast<std::size_t>(detail::int8_padded_rows(out));
        std::vector<std::int32_t> y_portable(rows, -1);
        std::vector<std::int32_t> y_dispatch(rows, -1);
        detail::int8_gemv_portable(w.packed.data(), out, in, x.data(), y_portable.data());
        detail::int8_gemv(w.packed.data(), out, in, x.data(), y_dispatch.data());
        CHECK(y_dispatch == y_portable);
        const Eigen::VectorXi expected = w.dense * x_dense;
        CHECK(Eigen::Map<const Eigen::VectorXi>(y_portable.data(), out) == expected);
        for (std::size_t i = static_cast<std::size_t>(out); i < rows; ++i) {
            CHECK(y_portable[i] == 0);  // padded rows
        }
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
        std::vector<std::int32_t> y_avx512(rows, -1);
        detail::int8_gemv_avx512_vnni(w.packed.data(), out, in, x.data(), y_avx512.data());
        CHECK(y_avx512 == y_portable);
#endif
#if defined(__AVXVNNI__)
        std::vector<std::int32_t> y_avx(rows, -1);
        detail::int8_gemv_avx_vnni(w.packed.data(), out, in, x.data(), y_avx.data());
        CHECK(y_avx == y_portable);
#endif
    }
}

TEST_CASE("quantized_mlp kernel int8_gemv: extreme values do not saturate") {
    // Two products 255 · (-128) already overflow 16 bits: vpmaddubsw (the
    // AVX2 instruction VNNI replaces) would saturate there.
    const Eigen::Index out = 20;
    const Eigen::Index in = 300;
    std::vector<std::int8_t> w(static_cast<std::size_t>(detail::int8_padded_rows(out) * detail::int8_padded_cols(in)));
    for (Eigen::Index i = 0; i < out; ++i) {
        for (Eigen::Index j = 0; j < in; ++j) {
            w[static_cast<std::size_t>(detail::int8_packed_offset(i, j, in))] = i % 2 == 0 ? std::int8_t{-128}
                                                                                             : std::int8_t{127};
        }
    }
    const std::vector<std::uint8_t> x(static_cast<std::size_t>(detail::int8_padded_cols(in)), 255);
    std::vector<std::int32_t> y(static_cast<std::size_t>(detail::int8_padded_rows(out)));
    std::vector<std::int32_t> y_portable(y.size());
    detail::int8_gemv(w.data(), out, in, x.data(), y.data());
    detail::int8_gemv_portable(w.data(), out, in, x.data(), y_portable.data());
    CHECK(y == y_portable);
    CHECK(y[0] == -128 * 255 * 300);
    CHECK(y[1] == 127 * 255 * 300);
}

TEST_CASE("quantized_mlp activation quantization: the SIMD helpers equal the portable ones exactly") {
    rng gen(13);
    for (Eigen::Index n : {1, 15, 16, 27, 128, 131}) {
        CAPTURE(n);
        Eigen::VectorXf a = random_input(n, gen, -3, 5);
        a[0] = std::numeric_limits<float>::quiet_NaN();  // skipped by the range, quantized to 0
        const detail::float_range r = detail::range_with_zero(a.data(), n);
        const detail::float_range r_portable = detail::range_with_zero_portable(a.data(), n);
        CHECK(r.lo == r_portable.lo);
        CHECK(r.hi == r_portable.hi);
        CHECK(r.lo <= 0.0F);
        CHECK(r.hi >= 0.0F);
        const float inv = 255.0F / (r.hi - r.lo);
        const float z = std::nearbyint(-r.lo * inv);
        std::vector<std::uint8_t> u(static_cast<std::size_t>(n));
        std::vector<std::uint8_t> u_portable(u.size());
        detail::quantize_u8(a.data(), n, inv, z, u.data());
        detail::quantize_u8_portable(a.data(), n, inv, z, u_portable.data());
        CHECK(u == u_portable);
        CHECK(u[0] == 0);
    }
}

TEST_CASE("quantized_mlp dequantization: the SIMD path equals the portable one and the formula exactly") {
    rng gen(17);
    for (Eigen::Index n : {1, 7, 15, 16, 17, 64, 131}) {
        CAPTURE(n);
        const auto size = static_cast<std::size_t>(n);
        std::vector<std::int32_t> acc(size);
        std::vector<std::int32_t> row_sum(size);
        std::vector<float> scale(size);
        std::vector<float> bias(size);
        for (std::size_t i = 0; i < size; ++i) {
            // Sums far beyond 2^24 too, where converting to float rounds.
            acc[i] = static_cast<std::int32_t>(rlscale::uniform_index(gen, 1U << 30)) - (1 << 29);
            row_sum[i] = static_cast<std::int32_t>(rlscale::uniform_index(gen, 2000)) - 1000;
            scale[i] = static_cast<float>(rlscale::uniform01(gen)) * 0.01F;
            bias[i] = static_cast<float>(rlscale::uniform01(gen)) - 0.5F;
        }
        const float sigma = 0.0123F;
        const std::int32_t z = 37;
        std::vector<float> y_portable(size + 1, -7.0F);
        detail::dequantize_portable(acc.data(), row_sum.data(), scale.data(), bias.data(), sigma, z, n, y_portable.data());
        CHECK(y_portable[size] == -7.0F);  // nothing written past n
        for (std::size_t i = 0; i < size; ++i) {
            // The exact sum of the three terms, rounded once to float, is what a fused multiply-add gives.
            const double product = static_cast<double>(scale[i] * sigma) * static_cast<double>(static_cast<float>(acc[i] - z * row_sum[i]));
            CHECK(y_portable[i] == static_cast<float>(product + static_cast<double>(bias[i])));
        }
#if defined(__AVX512F__)
        std::vector<float> y_simd(size + 1, -7.0F);
        detail::dequantize_avx512(acc.data(), row_sum.data(), scale.data(), bias.data(), sigma, z, n, y_simd.data());
        CHECK(y_simd == y_portable);
#else
        MESSAGE("no AVX-512 in this build: only the portable dequantization is checked");
#endif
    }
}

TEST_CASE("quantized_mlp activation range: the SIMD reduction finds the extremes in every lane") {
    // The range's lanes are reduced by shuffles; a wrong shuffle would miss
    // an extreme in some lane, so each lane of each 16-value block holds
    // the minimum and then the maximum in turn.
    for (Eigen::Index n : {16, 32, 48}) {
        for (Eigen::Index at = 0; at < n; ++at) {
            CAPTURE(n);
            CAPTURE(at);
            for (const float extreme : {-5.0F, 9.0F}) {
                Eigen::VectorXf a = Eigen::VectorXf::LinSpaced(n, -1.0F, 1.0F);
                a[at] = extreme;
                const detail::float_range r = detail::range_with_zero(a.data(), n);
                const detail::float_range expected = detail::range_with_zero_portable(a.data(), n);
                CHECK((extreme < 0 ? r.lo : r.hi) == extreme);
                CHECK(r.lo == expected.lo);
                CHECK(r.hi == expected.hi);
            }
        }
    }
}

TEST_CASE("quantized_mlp: quantize_from tracks changes to the float weights") {
    rng gen(21);
    mlp<float> net({15, 128, 128, 27});
    net.initialize(init_scheme::torch_default, gen);
    quantized_mlp q(net);
    const Eigen::VectorXf x = random_input(15, gen);
    const Eigen::VectorXf before = q.predict(x);

    // A new set of weights (as after a training step or a checkpoint load).
    net.initialize(init_scheme::he_uniform, gen);
    CHECK(q.predict(x) == before);  // a copy: it does not follow by itself
    q.quantize_from(net);
    const Eigen::VectorXf after = q.predict(x);
    CHECK(after != before);
    const Eigen::VectorXf y = net.predict(x);
    CHECK((after - y).cwiseAbs().maxCoeff() < 0.05 * y.cwiseAbs().maxCoeff());
    // Re-quantizing in place equals quantizing afresh, bit for bit.
    CHECK(after == quantized_mlp(net).predict(x));

    // A small change to one layer moves the output the same way.
    net.bias(2).array() += 1.0F;
    q.quantize_from(net);
    CHECK((q.predict(x) - after).isApproxToConstant(1.0F, 1e-5F));
}

TEST_CASE("quantized_mlp: quantize_from rejects a network of another layout, naming the layer and the sizes") {
    mlp<float> net({15, 128, 128, 27});
    quantized_mlp q(net);
    CHECK_THROWS_WITH_AS(q.quantize_from(mlp<float>({15, 128, 64, 27})),
                         doctest::Contains("layers[1]: quantized_mlp::quantize_from: the network's layer is in=128 "
                                           "out=64 relu, this copy was made for in=128 out=128 relu"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(q.quantize_from(mlp<float>({15, 128, 27})),
                         doctest::Contains("the network has 2 layers, this copy was made for 3"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS(q.quantize_from(mlp<float>({15, 128, 128, 27}, activation::tanh)),
                         doctest::Contains("layers[0]"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(q.quantize_from(mlp<float>({16, 128, 128, 27})), doctest::Contains("in=16"),
                         rlscale::config_error);
    try {
        q.quantize_from(mlp<float>({15, 128, 128, 9}));
        FAIL("expected a config_error");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "layers[2]");
    }
}

TEST_CASE("quantized_mlp: forward rejects a wrong input size and a buffer of a smaller network") {
    mlp<float> net({3, 20, 2});
    const quantized_mlp q(net);
    quantized_mlp::inference_buffer buf(q);
    CHECK_THROWS_WITH_AS(static_cast<void>(q.forward(Eigen::VectorXf::Zero(4), buf)),
                         doctest::Contains("input has 4 values, the network takes 3"), rlscale::error);
    const quantized_mlp small(mlp<float>({3, 4, 2}));
    quantized_mlp::inference_buffer small_buf(small);
    CHECK_THROWS_WITH_AS(static_cast<void>(q.forward(Eigen::VectorXf::Zero(3), small_buf)),
                         doctest::Contains("smaller network"), rlscale::error);
    CHECK(q.forward(Eigen::VectorXf::Zero(3), buf).size() == 2);
}

TEST_CASE("quantized_mlp: forward is deterministic and keeps no state between calls") {
    rng gen(5);
    mlp<float> net({7, 33, 40, 5}, activation::tanh);
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    const quantized_mlp twin(net);
    quantized_mlp::inference_buffer buf(q);
    quantized_mlp::inference_buffer other(q);
    const Eigen::VectorXf x1 = random_input(7, gen);
    const Eigen::VectorXf x2 = random_input(7, gen, -10, 10);
    const Eigen::VectorXf first = q.forward(x1, buf);
    static_cast<void>(q.forward(x2, buf));
    CHECK(Eigen::VectorXf(q.forward(x1, buf)) == first);
    CHECK(Eigen::VectorXf(q.forward(x1, other)) == first);
    CHECK(Eigen::VectorXf(twin.forward(x1, other)) == first);
}

TEST_CASE("quantized_mlp: all-zero activations and non-finite inputs are handled") {
    // Zero weights: every hidden activation is 0 (the zero-range case), so
    // the output is the last bias.
    mlp<float> net({4, 16, 16, 3});
    net.bias(2) << 1.0F, -2.0F, 3.0F;
    quantized_mlp q(net);
    CHECK(q.predict(Eigen::VectorXf::Ones(4)) == net.bias(2));

    // A NaN or infinite feature gives some output, without undefined
    // behaviour (the float-to-byte conversions are clamped first).
    rng gen(9);
    net.initialize(init_scheme::torch_default, gen);
    q.quantize_from(net);
    Eigen::VectorXf x = random_input(4, gen);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    CHECK(q.predict(x).size() == 3);
    x[1] = std::numeric_limits<float>::infinity();
    CHECK(q.predict(x).size() == 3);
}

TEST_CASE("quantized_mlp: a row of weights below 127 / FLT_MAX keeps their ratios") {
    // The row [1e-37, 1e-38]: 127 / 1e-37 overflows a float, and scaled by
    // it both weights read 127 (the output 2e-7 rather than 1.1e-7).
    mlp<float> net({1, 2, 1});
    net.weight(0) << 1.0F, 1.0F;
    net.bias(0).setZero();
    net.weight(1) << 1e-37F, 1e-38F;
    net.bias(1).setZero();
    const quantized_mlp q(net);
    Eigen::VectorXf x(1);
    x << 1e30F;
    const float exact = net.predict(x)[0];
    const float quantized = q.predict(x)[0];
    CAPTURE(exact);
    CAPTURE(quantized);
    REQUIRE(exact > 0.0F);
    CHECK(std::abs(quantized - exact) / exact < 0.02F);  // 1e-38 is 12.7 of 127: 13, off by 0.3 of 140
}

}  // namespace test_nn_quantized_mlp
