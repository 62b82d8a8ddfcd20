// Proves the quantized network's hot paths allocate nothing after
// construction, with the counting allocator of tests/alloc_counter.cpp.
#include <rlscale/nn/quantized_mlp.hpp>

#include <rlscale/core/random.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/mlp.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace test_nn_quantized_mlp_alloc {

namespace {
long allocations() { return rlscale::test::allocation_count(); }
}  // namespace

using namespace rlscale::nn;

TEST_CASE("quantized_mlp: construction allocates, so the tests below can fail") {
    const long before = allocations();
    const quantized_mlp q(mlp<float>({15, 128, 128, 27}));
    quantized_mlp::inference_buffer buf(q);
    CHECK(allocations() - before >= 3);
}

TEST_CASE("quantized_mlp: single-input forward allocates nothing after construction") {
    rlscale::rng gen(1);
    mlp<float> net({15, 128, 128, 27});
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    quantized_mlp::inference_buffer buf(q);
    Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(15, -1.0F, 1.0F);
    Eigen::Map<const Eigen::VectorXf> x_view(x.data(), x.size());  // a caller's own storage

    const long before = allocations();
    float sink = 0;
    for (int i = 0; i < 1000; ++i) {
        x[0] = static_cast<float>(i) * 1e-3F;
        sink += q.forward(x, buf)[0];
        sink += q.forward(x_view, buf)[1];
    }
    CHECK(allocations() - before == 0);
    CHECK(std::isfinite(sink));
}

TEST_CASE("quantized_mlp: re-quantizing into existing storage allocates nothing") {
    rlscale::rng gen(2);
    mlp<float> net({15, 128, 128, 27});
    net.initialize(init_scheme::torch_default, gen);
    quantized_mlp q(net);
    quantized_mlp::inference_buffer buf(q);
    const Eigen::VectorXf x = Eigen::VectorXf::Constant(15, 0.5F);

    const long before = allocations();
    float sink = 0;
    for (int i = 0; i < 20; ++i) {
        net.parameters().array() *= 0.99F;  // as a training step would change them
        q.quantize_from(net);
        sink += q.forward(x, buf)[0];
    }
    CHECK(allocations() - before == 0);
    CHECK(std::isfinite(sink));
}

}  // namespace test_nn_quantized_mlp_alloc
