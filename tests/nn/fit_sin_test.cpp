// An end-to-end check of the training pieces together: an MLP learns
// sin(x) on [-π, π] with Adam and the MSE loss, from a fixed seed.
#include <rlscale/nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

using namespace rlscale::nn;

TEST_CASE_TEMPLATE("an MLP fits sin(x) over -π..π below MSE 1e-5 within 3000 Adam steps", T, float, double) {
    constexpr Eigen::Index batch = 64;
    constexpr int steps = 3000;
    rlscale::rng gen(20261123);
    mlp<T> net({1, 32, 32, 1}, activation::tanh);
    net.initialize(init_scheme::torch_default, gen);
    adam<T> opt(net.parameter_count(), adam_config{.lr = 3e-3});
    typename mlp<T>::batch_buffer buf(net, 256);
    typename mlp<T>::gradient grad(net);
    Eigen::Matrix<T, 1, Eigen::Dynamic> x(batch);
    Eigen::Matrix<T, 1, Eigen::Dynamic> dy(batch);

    for (int step = 0; step < steps; ++step) {
        for (Eigen::Index i = 0; i < batch; ++i) {
            x[i] = static_cast<T>(rlscale::uniform(gen, -std::numbers::pi, std::numbers::pi));
        }
        const auto y = net.forward_batch(x, buf);
        static_cast<void>(mse_loss(y, x.array().sin().matrix(), dy));
        net.backward(buf, dy, grad);
        opt.step(net.parameters(), grad.values());
    }

    // Evaluate on an even grid the training never saw exactly.
    Eigen::Matrix<T, 1, Eigen::Dynamic> grid =
        Eigen::Matrix<T, 1, Eigen::Dynamic>::LinSpaced(256, static_cast<T>(-std::numbers::pi), static_cast<T>(std::numbers::pi));
    Eigen::Matrix<T, 1, Eigen::Dynamic> unused(256);
    const T mse = mse_loss(net.forward_batch(grid, buf), grid.array().sin().matrix(), unused);
    MESSAGE("final MSE on a 256-point grid: " << mse);
    CHECK(mse < T(1e-5));
}
