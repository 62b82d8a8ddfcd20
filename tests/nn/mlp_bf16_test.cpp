// Batched passes with bf16 products (matmul_precision::bf16) against the
// same passes in full precision.
#include <rlscale/nn/detail/bf16_gemm.hpp>
#include <rlscale/nn/mlp.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <utility>

namespace test_nn_mlp_bf16 {

using namespace rlscale::nn;
using rlscale::rng;

namespace {

struct passes {
    Eigen::MatrixXf y;
    Eigen::VectorXf grad;
    Eigen::MatrixXf dx;
};

/// Forward, backward and input gradient of `net` on (x, dy) in `precision`.
passes run(const mlp<float>& net, const Eigen::MatrixXf& x, const Eigen::MatrixXf& dy, matmul_precision precision) {
    mlp<float>::batch_buffer buf(net, 128, precision);
    mlp<float>::gradient grad(net);
    passes out{net.forward_batch(x, buf), {}, Eigen::MatrixXf(x.rows(), x.cols())};
    net.backward(buf, dy, grad, out.dx);
    out.grad = grad.values();
    return out;
}

double cosine(const Eigen::VectorXf& a, const Eigen::VectorXf& b) {
    return a.cast<double>().dot(b.cast<double>()) / (a.cast<double>().norm() * b.cast<double>().norm());
}

Eigen::MatrixXf uniform_matrix(Eigen::Index rows, Eigen::Index cols, rng& gen) {
    Eigen::MatrixXf m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rlscale::uniform(gen, -1, 1));
    return m;
}

/// The passes of `net` on a random batch of n, in full precision and in bf16.
std::pair<passes, passes> both_precisions(const mlp<float>& net, Eigen::Index n, rng& gen) {
    const Eigen::MatrixXf x = uniform_matrix(net.input_size(), n, gen);
    const Eigen::MatrixXf dy = uniform_matrix(net.output_size(), n, gen);
    return {run(net, x, dy, matmul_precision::full), run(net, x, dy, matmul_precision::bf16)};
}

}  // namespace

TEST_CASE("mlp bf16: the forward pass is the float sum of the bf16-rounded operands, layer by layer") {
    // The reference in double: each layer multiplies its bf16-rounded weight
    // by its bf16-rounded input and adds the float bias. A pass that ignored
    // the precision (plain float products) misses it by the rounding, about
    // 1e-3 relative, far outside the tolerance.
    rng gen(2);
    mlp<float> net({15, 40, 33, 27}, activation::identity, activation::identity);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::MatrixXf x = uniform_matrix(15, 37, gen);
    const auto rounded = [](const auto& m) {
        Eigen::MatrixXd r(m.rows(), m.cols());
        for (Eigen::Index j = 0; j < m.cols(); ++j) {
            for (Eigen::Index i = 0; i < m.rows(); ++i) {
                r(i, j) = rlscale::nn::detail::from_bf16(rlscale::nn::detail::to_bf16(static_cast<float>(m(i, j))));
            }
        }
        return r;
    };
    Eigen::MatrixXd a = x.cast<double>();
    for (std::size_t l = 0; l < net.layer_count(); ++l) {
        // Each layer's output is stored as float before the next layer reads it.
        const Eigen::MatrixXd y = (rounded(net.weight(l)) * rounded(a)).colwise() + net.bias(l).cast<double>();
        a = y.cast<float>().cast<double>();
    }
    mlp<float>::batch_buffer buf(net, 64, matmul_precision::bf16);
    const Eigen::MatrixXd got = net.forward_batch(x, buf).cast<double>();
    CHECK(rlscale::test::relative_error(got, a) < 1e-5);
    mlp<float>::batch_buffer full(net, 64);
    CHECK(rlscale::test::relative_error(net.forward_batch(x, full).cast<double>(), a) > 1e-4);
}

TEST_CASE("mlp bf16: without activations every pass is within 1 percent of full precision") {
    // With identity activations the only difference is the operands'
    // rounding (2^-9 relative), so the error stays at that scale.
    rng gen(3);
    mlp<float> net({15, 128, 128, 27}, activation::identity, activation::identity);
    net.initialize(init_scheme::torch_default, gen);
    for (const Eigen::Index n : {128, 37, 1}) {
        CAPTURE(n);
        const auto [full, bf16] = both_precisions(net, n, gen);
        CHECK(rlscale::test::relative_error(bf16.y, full.y) < 0.01);
        CHECK(rlscale::test::relative_error(bf16.grad, full.grad) < 0.01);
        CHECK(rlscale::test::relative_error(bf16.dx, full.dx) < 0.01);
    }
}

TEST_CASE("mlp bf16: with ReLU the gradient points where the full-precision gradient points") {
    // A unit whose pre-activation is within rounding of zero may switch on
    // or off, which moves the gradient more than the rounding itself; the
    // direction is what an optimiser follows.
    rng gen(4);
    mlp<float> net({15, 128, 128, 27});
    net.initialize(init_scheme::torch_default, gen);
    const auto [full, bf16] = both_precisions(net, 128, gen);
    CHECK(rlscale::test::relative_error(bf16.y, full.y) < 0.01);
    CHECK(cosine(bf16.grad, full.grad) > 0.99);
    // The output layer's bias gradient is a float sum of dy: exact.
    CHECK(bf16.grad.tail(27) == full.grad.tail(27));
}

TEST_CASE("mlp bf16: a pass is deterministic and backward overwrites the gradient") {
    rng gen(5);
    mlp<float> net({7, 64, 64, 3});
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::MatrixXf x = uniform_matrix(7, 100, gen);
    const Eigen::MatrixXf dy = uniform_matrix(3, 100, gen);
    mlp<float>::batch_buffer buf(net, 128, matmul_precision::bf16);
    mlp<float>::gradient grad(net);
    static_cast<void>(net.forward_batch(x, buf));
    net.backward(buf, dy, grad);
    const Eigen::VectorXf first = grad.values();
    static_cast<void>(net.forward_batch(x, buf));
    net.backward(buf, dy, grad);
    CHECK(grad.values() == first);
    CHECK(buf.precision() == matmul_precision::bf16);
}

TEST_CASE("mlp bf16: a double network refuses bf16 products, and precision names round-trip") {
    mlp<double> net({3, 4, 2});
    CHECK_THROWS_WITH_AS((mlp<double>::batch_buffer(net, 8, matmul_precision::bf16)),
                         doctest::Contains("precision"), rlscale::config_error);
    CHECK(matmul_precision_from_string(to_string(matmul_precision::bf16)) == matmul_precision::bf16);
    CHECK(matmul_precision_from_string(to_string(matmul_precision::full)) == matmul_precision::full);
    CHECK_THROWS_WITH_AS(static_cast<void>(matmul_precision_from_string("fp8", "dqn.precision")),
                         doctest::Contains("dqn.precision"), rlscale::config_error);
}

}  // namespace test_nn_mlp_bf16
