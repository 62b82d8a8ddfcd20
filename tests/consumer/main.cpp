// Builds and runs a network through rlscale's public headers only.
#include <rlscale/rlscale.hpp>

#include <cstdio>

int main() {
    rlscale::rng gen(42);
    rlscale::nn::mlp<float> q({7, 128, 128, 9});
    q.initialize(rlscale::nn::init_scheme::torch_default, gen);
    rlscale::nn::mlp<float>::inference_buffer buf(q);
    Eigen::VectorXf x = Eigen::VectorXf::Ones(7);
    const auto y = q.forward(x, buf);
    std::printf("consumer: %d outputs, first %.6f\n", static_cast<int>(y.size()), static_cast<double>(y[0]));
    return y.size() == 9 ? 0 : 1;
}
