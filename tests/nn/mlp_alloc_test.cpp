// Proves the network's hot paths allocate nothing after construction, with
// the counting allocator of tests/alloc_counter.cpp.
#include <rlscale/nn/nn.hpp>

#include "../alloc_counter.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace test_nn_mlp_alloc {

namespace {
long allocations() { return rlscale::test::allocation_count(); }
}  // namespace

using namespace rlscale::nn;

TEST_CASE("the counter sees operator new and Eigen's allocations (so the tests below can fail)") {
    long before = allocations();
    auto* p = new int(3);
    CHECK(allocations() - before == 1);
    delete p;
    before = allocations();
    Eigen::VectorXf v(100);
    CHECK(allocations() - before == 1);
    before = allocations();
    rlscale::nn::mlp<float> net({2, 3, 1});
    CHECK(net.predict(Eigen::VectorXf::Zero(2)).size() == 1);  // predict() allocates by design
    CHECK(allocations() - before >= 3);
}

TEST_CASE("single-input forward allocates nothing after construction") {
    rlscale::rng gen(1);
    mlp<float> net({7, 64, 64, 3});
    net.initialize(init_scheme::torch_default, gen);
    mlp<float>::inference_buffer buf(net);
    Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(7, -1.0F, 1.0F);
    Eigen::Map<const Eigen::VectorXf> x_view(x.data(), x.size());  // a caller's own storage

    const long before = allocations();
    float sink = 0;
    for (int i = 0; i < 1000; ++i) {
        x[0] = static_cast<float>(i) * 1e-3F;
        sink += net.forward(x, buf)[0];
        sink += net.forward(x_view, buf)[1];
    }
    const long after = allocations();
    CHECK(after - before == 0);
    CHECK(std::isfinite(sink));
}

TEST_CASE("Adam's step allocates nothing, with either weight decay, a gradient scale and bfloat16 moments, on a size that leaves a tail") {
    for (const auto& config : {adam_config{}, adam_config{.weight_decay = 0.01},
                               adam_config{.weight_decay = 0.01, .decoupled_weight_decay = true},
                               adam_config{.moments = rlscale::nn::moment_storage::bfloat16},
                               adam_config{.weight_decay = 0.01, .moments = rlscale::nn::moment_storage::bfloat16}}) {
        adam<float> opt(37, config);
        Eigen::VectorXf theta = Eigen::VectorXf::Ones(37);
        const Eigen::VectorXf g = Eigen::VectorXf::Constant(37, 0.5F);
        opt.step(theta, g);  // warm-up
        const long before = allocations();
        for (int i = 0; i < 10; ++i) {
            opt.step(theta, g);
            opt.step(theta, g, 0.5F);
        }
        CHECK(allocations() - before == 0);
        CHECK(theta.allFinite());
    }
}

TEST_CASE("a training step (batch forward, Huber loss, backward, clipping, Adam, soft update) allocates nothing") {
    rlscale::rng gen(2);
    mlp<float> q({7, 128, 128, 9});
    mlp<float> target({7, 128, 128, 9});
    q.initialize(init_scheme::torch_default, gen);
    hard_update(target, q);
    adam<float> opt(q.parameter_count(), adam_config::scarlet());
    mlp<float>::batch_buffer buf(q, 128);
    mlp<float>::gradient grad(q);
    Eigen::MatrixXf x = Eigen::MatrixXf::Random(7, 128);
    Eigen::MatrixXf y_target = Eigen::MatrixXf::Random(9, 128);
    Eigen::MatrixXf dy(9, 128);

    const auto step = [&] {
        const auto y = q.forward_batch(x, buf);
        const float loss = huber_loss(y, y_target, dy);
        q.backward(buf, dy, grad);
        auto g = grad.values();
        clip_grad_norm(g, 10.0F);
        opt.step(q.parameters(), grad.values());
        soft_update(target, q, 0.005F);
        return loss;
    };
    static_cast<void>(step());  // warm-up
    const long before = allocations();
    float sink = 0;
    for (int i = 0; i < 20; ++i) {
        sink += step();
    }
    CHECK(allocations() - before == 0);
    CHECK(std::isfinite(sink));
}

}  // namespace test_nn_mlp_alloc
