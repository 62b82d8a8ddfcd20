// Inputs the nn layer refuses, or turns into NaN, instead of a wrong answer:
// a quantized hidden layer that overflows, non-finite weights, int8 sums that
// would overflow, Adam settings that break in float, bfloat16 moments beyond
// range, a checkpoint of a network with another's optimiser, layer sizes
// beyond an index, loss shapes, and an input inside the pass's own buffer.
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/nn/loss.hpp>
#include <rlscale/nn/quantized_mlp.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace test_nn_refusals {

using namespace rlscale::nn;

TEST_CASE("quantized_mlp: a hidden layer that overflows gives NaN, as the float pass does, not a confident answer") {
    mlp<float> net({1, 2, 2, 1});  // relu, relu, identity
    net.weight(0).setConstant(1.0F);
    net.weight(1).setConstant(1e38F);  // finite, but 10 x 2 x 1e38 overflows
    net.weight(2).setConstant(1.0F);
    Eigen::VectorXf x(1);
    x << 10.0F;
    const quantized_mlp q(net);
    CHECK_FALSE(net.predict(x).allFinite());
    CHECK(std::isnan(q.predict(x)[0]));
}

TEST_CASE("quantized_mlp: a non-finite weight in a quantized layer makes its row NaN, wherever it lies in the row") {
    mlp<float> net({1, 4, 1});
    net.weight(0).setConstant(1.0F);
    net.weight(1).setConstant(0.5F);
    Eigen::VectorXf x(1);
    x << 1.0F;
    for (const Eigen::Index j : {0, 2, 3}) {
        CAPTURE(j);
        net.weight(1).setConstant(0.5F);
        net.weight(1)(0, j) = std::numeric_limits<float>::quiet_NaN();
        const quantized_mlp q(net);
        CHECK(std::isnan(net.predict(x)[0]));
        CHECK(std::isnan(q.predict(x)[0]));
        net.weight(1)(0, j) = std::numeric_limits<float>::infinity();
        const quantized_mlp qi(net);
        CHECK_FALSE(qi.predict(x).allFinite());
    }
    net.weight(1).setConstant(0.5F);
    quantized_mlp q(net);
    CHECK(q.predict(x)[0] == doctest::Approx(net.predict(x)[0]).epsilon(0.02));  // and it comes back once re-quantized
}

TEST_CASE("quantized_mlp: an int8 layer wider than its int32 sums hold is refused, naming the layer") {
    CHECK(quantized_mlp::max_int8_inputs == 66311);
    const mlp<float> wide({1, 66312, 1});
    CHECK_THROWS_WITH_AS(quantized_mlp{wide}, doctest::Contains("quantized_mlp.layers[1].in: must be <= 66311, got 66312"),
                         rlscale::config_error);
    const mlp<float> widest({1, 66311, 1});
    CHECK_NOTHROW(quantized_mlp{widest});
}

TEST_CASE("adam<float>: settings valid as doubles but not in float are refused by name") {
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.eps = 1e-50}), doctest::Contains("adam_config.eps"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.beta2 = 1 - 1e-9}), doctest::Contains("adam_config.beta2"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.beta1 = 1 - 1e-9}), doctest::Contains("adam_config.beta1"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.lr = 1e39}), doctest::Contains("adam_config.lr"), rlscale::config_error);
    // A rate that is a float 0 would take no step.
    CHECK_THROWS_WITH_AS(adam<float>(2, adam_config{.lr = 1e-50}),
                         doctest::Contains("adam_config.lr: must stay above 0 in the parameters' precision, got 1e-50"),
                         rlscale::config_error);
    CHECK_NOTHROW(adam<double>(2, adam_config{.lr = 1e-50}));
    CHECK_NOTHROW(adam<double>(2, adam_config{.eps = 1e-50}));  // fine in double
    CHECK_NOTHROW(adam<float>(2, adam_config{.eps = 1e-8}));
}

TEST_CASE("adam<float>: set_lr refuses a rate the constructor refuses, and keeps the rate it had") {
    adam<float> opt(2, adam_config{});
    const double before = opt.config().lr;
    // 1e39 is not a float; 4e37 / (1 - 0.9) is not either: the first step would make every parameter infinite.
    CHECK_THROWS_WITH_AS(opt.set_lr(1e39), doctest::Contains("adam_config.lr"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(opt.set_lr(4e37), doctest::Contains("adam_config.lr"), rlscale::config_error);
    CHECK_THROWS_AS(opt.set_lr(0), rlscale::config_error);
    CHECK_THROWS_AS(opt.set_lr(1e-50), rlscale::config_error);  // a float 0
    CHECK_THROWS_AS(opt.set_lr(std::numeric_limits<double>::quiet_NaN()), rlscale::config_error);
    CHECK(opt.config().lr == before);
    opt.set_lr(3e37);  // 3e38 after the bias correction: a float
    CHECK(opt.config().lr == 3e37);
    adam<double> wide(2, adam_config{});
    wide.set_lr(4e37);  // fine in double
    CHECK(wide.config().lr == 4e37);
}

TEST_CASE("adam: bfloat16 moments refuse a restored value that would round to infinity, and keep their state") {
    adam<float> opt(2, adam_config{.moments = moment_storage::bfloat16});
    Eigen::VectorXf m(2), v(2);
    m << 3.4e38F, 0.0F;
    v << 1.0F, 1.0F;
    CHECK_THROWS_WITH_AS(opt.restore(3, m, v), doctest::Contains("m[0]"), rlscale::error);
    CHECK(opt.step_count() == 0);
    m << 3.0e38F, 0.0F;  // rounds to a finite bfloat16
    CHECK_NOTHROW(opt.restore(3, m, v));
    CHECK(opt.step_count() == 3);
}

TEST_CASE("make_checkpoint refuses an optimiser of another network before anything is written") {
    const mlp<float> net({3, 4, 2});
    const adam<float> other(7);
    CHECK_THROWS_WITH_AS((void)make_checkpoint(net, other), doctest::Contains("7 parameters, the network has 26"), rlscale::error);
    const std::filesystem::path path = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "refusals_mismatch.json";
    save_checkpoint(path, net, adam<float>(net.parameters().size()));
    CHECK_THROWS(save_checkpoint(path, net, other));
    mlp<float> back({3, 4, 2});
    adam<float> back_opt(back.parameters().size());
    CHECK_NOTHROW(load_checkpoint(path, back, back_opt));  // the good file is still there
}

TEST_CASE("parameter_layout: layer sizes whose parameter count overflows an index are refused") {
    const Eigen::Index huge = Eigen::Index{1} << 62;
    CHECK_THROWS_WITH_AS(parameter_layout(std::vector<layer_spec>{layer_spec{.in = huge, .out = 4}}), doctest::Contains("layers[0].in"),
                         rlscale::config_error);
}

TEST_CASE("huber_loss and mse_loss refuse shapes that differ and a negative or NaN beta") {
    Eigen::MatrixXf pred = Eigen::MatrixXf::Zero(2, 3);
    Eigen::MatrixXf target = Eigen::MatrixXf::Zero(2, 2);
    Eigen::MatrixXf grad = Eigen::MatrixXf::Zero(2, 3);
    CHECK_THROWS_WITH_AS((void)huber_loss(pred, target, grad), doctest::Contains("pred is 2x3, target 2x2"), rlscale::error);
    CHECK_THROWS_AS((void)mse_loss(pred, target, grad), rlscale::error);
    target = Eigen::MatrixXf::Zero(2, 3);
    Eigen::MatrixXf small_grad = Eigen::MatrixXf::Zero(1, 3);
    CHECK_THROWS_AS((void)huber_loss(pred, target, small_grad), rlscale::error);
    CHECK_THROWS_WITH_AS((void)huber_loss(pred, target, grad, -1.0F), doctest::Contains("beta must be >= 0, got -1"), rlscale::error);
    CHECK_THROWS_AS((void)huber_loss(pred, target, grad, std::nanf("")), rlscale::error);
    CHECK(huber_loss(pred, target, grad, 0.0F) == 0.0F);
}

TEST_CASE("forward refuses an input that lies in the inference buffer the pass writes") {
    mlp<float> first({4, 40});
    mlp<float> second({40, 40, 3});
    mlp<float>::inference_buffer buf(second);
    REQUIRE(buf.bytes() >= 2 * 40 * sizeof(float));
    mlp<float>::inference_buffer own(first);
    const Eigen::VectorXf x = Eigen::VectorXf::Ones(4);
    const auto h = first.forward(x, buf);  // a view into buf
    CHECK_THROWS_WITH_AS((void)second.forward(h, buf), doctest::Contains("lies in the inference buffer"), rlscale::error);
    const Eigen::VectorXf copy = h;
    CHECK_NOTHROW((void)second.forward(copy, buf));
    CHECK_NOTHROW((void)second.forward(first.forward(x, own), buf));  // another buffer: fine
}

}  // namespace test_nn_refusals
