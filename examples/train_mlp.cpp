// rlscale's demo for now: trains a small MLP to fit sin(x) on [-π, π] with
// the library's own forward/backward passes, MSE loss and Adam, printing its
// progress, then saves and reloads a checkpoint and checks the reload
// predicts the same values.
//
//   rlscale_train_mlp [--steps N] [--seed S] [--checkpoint PATH]
#include "../apps/common/cli.hpp"
#include <rlscale/nn/nn.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <string>
#include <string_view>

namespace {

struct options {
    int steps = 3000;
    std::uint64_t seed = 20261123;
    std::filesystem::path checkpoint = std::filesystem::temp_directory_path() / "rlscale_sin.json";
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--steps") {
            o.steps = rlscale::cli::integer<int>(arg, value());
        } else if (arg == "--seed") {
            o.seed = rlscale::cli::integer<unsigned long long>(arg, value());
        } else if (arg == "--checkpoint") {
            o.checkpoint = value();
        } else {
            std::fprintf(stderr, "usage: %s [--steps N] [--seed S] [--checkpoint PATH]\n", argv[0]);
            std::exit(2);
        }
    }
    if (o.steps <= 0) {
        std::fprintf(stderr, "--steps must be positive, got %d\n", o.steps);
        std::exit(2);
    }
    return o;
}

}  // namespace

static int program(int argc, char** argv) {
    using namespace rlscale::nn;
    const options opt = parse(argc, argv);
    constexpr Eigen::Index batch = 64;
    constexpr double pi = std::numbers::pi;

    rlscale::rng gen(opt.seed);
    mlp<float> net({1, 32, 32, 1}, activation::tanh);
    net.initialize(init_scheme::torch_default, gen);
    adam<float> optimizer(net.parameter_count(), adam_config{.lr = 3e-3});
    mlp<float>::batch_buffer buf(net, 256);
    mlp<float>::gradient grad(net);
    Eigen::RowVectorXf x(batch);
    Eigen::RowVectorXf dy(batch);
    const Eigen::RowVectorXf grid = Eigen::RowVectorXf::LinSpaced(256, static_cast<float>(-pi), static_cast<float>(pi));
    Eigen::RowVectorXf scratch(256);
    const auto grid_mse = [&] { return mse_loss(net.forward_batch(grid, buf), grid.array().sin().matrix(), scratch); };

    std::printf("fitting sin(x) on [-pi, pi]: MLP 1-32-32-1 (tanh), %ld parameters, Adam lr 3e-3, batch %ld, seed %llu\n",
                static_cast<long>(net.parameter_count()), static_cast<long>(batch),
                static_cast<unsigned long long>(opt.seed));
    std::printf("%8s %14s %14s\n", "step", "train MSE", "grid MSE");
    const auto start = std::chrono::steady_clock::now();
    const int report_every = std::max(1, opt.steps / 10);
    for (int step = 1; step <= opt.steps; ++step) {
        for (Eigen::Index i = 0; i < batch; ++i) x[i] = static_cast<float>(rlscale::uniform(gen, -pi, pi));
        const float loss = mse_loss(net.forward_batch(x, buf), x.array().sin().matrix(), dy);
        net.backward(buf, dy, grad);
        optimizer.step(net.parameters(), grad.values());
        if (step % report_every == 0 || step == opt.steps) {
            std::printf("%8d %14.3g %14.3g\n", step, static_cast<double>(loss), static_cast<double>(grid_mse()));
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const float final_mse = grid_mse();
    std::printf("final MSE %.3g after %d steps in %.2f s (%.0f steps/s)\n", static_cast<double>(final_mse), opt.steps,
                seconds, opt.steps / seconds);

    save_checkpoint(opt.checkpoint, net, optimizer);
    mlp<float> reloaded({1, 32, 32, 1}, activation::tanh);
    load_checkpoint(opt.checkpoint, reloaded);
    mlp<float>::inference_buffer a(net);
    mlp<float>::inference_buffer b(reloaded);
    const Eigen::VectorXf probe = Eigen::VectorXf::Constant(1, 1.0F);
    const bool same = net.forward(probe, a)[0] == reloaded.forward(probe, b)[0];
    std::printf("checkpoint %s: reload %s; f(1) = %.6f, sin(1) = %.6f\n", opt.checkpoint.string().c_str(),
                same ? "predicts identically" : "DIFFERS", static_cast<double>(reloaded.forward(probe, b)[0]),
                std::sin(1.0));
    return same ? 0 : 1;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
