// Microbenchmarks of the neural-network core. The names are stable so
// results can be compared over time (docs/benchmarks.md). Each rlscale
// benchmark runs beside a baseline measured in the same process, so claims
// are ratios from one run on one (possibly noisy) machine.
#include <rlscale/nn/nn.hpp>
#include <rlscale/nn/quantized_mlp.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <string>
#include <utility>
#include <vector>

namespace {

using namespace rlscale::nn;

template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, 1> random_input(Eigen::Index n, rlscale::rng& gen) {
    Eigen::Matrix<T, Eigen::Dynamic, 1> x(n);
    for (Eigen::Index i = 0; i < n; ++i) x[i] = static_cast<T>(rlscale::uniform(gen, -1, 1));
    return x;
}

/// One single-input forward pass of rlscale's mlp (ReLU hidden layers,
/// identity output).
void bm_mlp_forward(benchmark::State& state, const std::vector<layer_spec>& layers) {
    rlscale::rng gen(1);
    mlp<float> net(layers);
    net.initialize(init_scheme::torch_default, gen);
    mlp<float>::inference_buffer buf(net);
    Eigen::VectorXf x = random_input<float>(net.input_size(), gen);
    for (auto _ : state) {
        auto y = net.forward(x, buf);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
}

/// One single-input forward pass of the int8 copy of the network that
/// bm_mlp_forward measures (same seed, so the same weights and input).
void bm_quantized_forward(benchmark::State& state, const std::vector<layer_spec>& layers) {
    rlscale::rng gen(1);
    mlp<float> net(layers);
    net.initialize(init_scheme::torch_default, gen);
    const quantized_mlp q(net);
    quantized_mlp::inference_buffer buf(q);
    Eigen::VectorXf x = random_input<float>(net.input_size(), gen);
    for (auto _ : state) {
        auto y = q.forward(x, buf);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
}

/// Baseline: the same 7→64→64→3 network written with fixed-size Eigen
/// matrices, the layout a hand-tuned single-network implementation would use.
void bm_eigen_fixed_forward_simppo_actor(benchmark::State& state) {
    rlscale::rng gen(1);
    mlp<float> net({7, 64, 64, 3});
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::Matrix<float, 64, 7> w1 = net.weight(0);
    const Eigen::Matrix<float, 64, 1> b1 = net.bias(0);
    const Eigen::Matrix<float, 64, 64> w2 = net.weight(1);
    const Eigen::Matrix<float, 64, 1> b2 = net.bias(1);
    const Eigen::Matrix<float, 3, 64> w3 = net.weight(2);
    const Eigen::Matrix<float, 3, 1> b3 = net.bias(2);
    const Eigen::Matrix<float, 7, 1> x = random_input<float>(7, gen);
    Eigen::Matrix<float, 64, 1> h1;
    Eigen::Matrix<float, 64, 1> h2;
    Eigen::Matrix<float, 3, 1> y;
    for (auto _ : state) {
        h1.noalias() = w1 * x;
        h1 = (h1 + b1).cwiseMax(0.0F);
        h2.noalias() = w2 * h1;
        h2 = (h2 + b2).cwiseMax(0.0F);
        y.noalias() = w3 * h2;
        y += b3;
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
}

/// Baseline: the same network through Eigen's general dynamic-size GEMV on
/// views of rlscale's own storage, which is what mlp::forward would be
/// without its register-blocked kernel (nn/detail/gemv.hpp).
void bm_eigen_dynamic_forward(benchmark::State& state, const std::vector<layer_spec>& layers) {
    rlscale::rng gen(1);
    mlp<float> net(layers);
    net.initialize(init_scheme::torch_default, gen);
    Eigen::VectorXf ping(net.layout().max_width());
    Eigen::VectorXf pong(net.layout().max_width());
    Eigen::VectorXf x = random_input<float>(net.input_size(), gen);
    for (auto _ : state) {
        const float* in = x.data();
        Eigen::Index in_size = net.input_size();
        for (std::size_t l = 0; l < net.layer_count(); ++l) {
            Eigen::Map<Eigen::VectorXf> y((l % 2 == 0 ? ping : pong).data(), layers[l].out);
            y.noalias() = net.weight(l) * Eigen::Map<const Eigen::VectorXf>(in, in_size);
            y += net.bias(l);
            activate(layers[l].act, y);
            in = y.data();
            in_size = layers[l].out;
        }
        benchmark::DoNotOptimize(in);
        benchmark::ClobberMemory();
    }
}

/// One layer's y = W·x + b through the single-input kernel alone, to show
/// where a forward pass spends its time.
void bm_gemv(benchmark::State& state, Eigen::Index out, Eigen::Index in) {
    rlscale::rng gen(3);
    // Weight then bias in one vector, as in an mlp (the kernel relies on it).
    Eigen::VectorXf params = random_input<float>(out * in + out, gen);
    const float* w = params.data();
    const float* b = params.data() + out * in;
    Eigen::VectorXf x = random_input<float>(in, gen);
    Eigen::VectorXf y(out);
    for (auto _ : state) {
        rlscale::nn::detail::gemv_bias(w, out, in, x.data(), b, y.data());
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
}

/// One DQN-style training step on a batch: forward, Huber loss, backward,
/// Adam step.
void bm_mlp_train_step(benchmark::State& state, const std::vector<layer_spec>& layers, Eigen::Index batch) {
    rlscale::rng gen(2);
    mlp<float> net(layers);
    net.initialize(init_scheme::torch_default, gen);
    adam<float> opt(net.parameter_count(), adam_config::scarlet());
    mlp<float>::batch_buffer buf(net, batch);
    mlp<float>::gradient grad(net);
    Eigen::MatrixXf x(net.input_size(), batch);
    Eigen::MatrixXf target(net.output_size(), batch);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rlscale::uniform(gen, -1, 1));
    for (Eigen::Index i = 0; i < target.size(); ++i) target.data()[i] = static_cast<float>(rlscale::uniform(gen, -1, 1));
    Eigen::MatrixXf dy(net.output_size(), batch);
    for (auto _ : state) {
        const auto y = net.forward_batch(x, buf);
        benchmark::DoNotOptimize(huber_loss(y, target, dy));
        net.backward(buf, dy, grad);
        opt.step(net.parameters(), grad.values());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

int main(int argc, char** argv) {
    // Arguments are copied into the registered benchmark, so they are owned
    // values (a std::initializer_list would dangle once this line ends).
    benchmark::RegisterBenchmark("BM_mlp_forward/simppo_actor", bm_mlp_forward,
                                 make_layers({7, 64, 64, 3}));
    benchmark::RegisterBenchmark("BM_eigen_fixed_forward/simppo_actor", bm_eigen_fixed_forward_simppo_actor);
    benchmark::RegisterBenchmark("BM_eigen_dynamic_forward/simppo_actor", bm_eigen_dynamic_forward,
                                 make_layers({7, 64, 64, 3}));
    benchmark::RegisterBenchmark("BM_mlp_forward/scarlet_q", bm_mlp_forward, make_layers({7, 128, 128, 9}));
    benchmark::RegisterBenchmark("BM_eigen_dynamic_forward/scarlet_q", bm_eigen_dynamic_forward,
                                 make_layers({7, 128, 128, 9}));
    for (const auto& [out, in] : {std::pair<Eigen::Index, Eigen::Index>{64, 7}, {64, 64}, {3, 64}}) {
        benchmark::RegisterBenchmark(("BM_gemv/" + std::to_string(out) + "x" + std::to_string(in)).c_str(), bm_gemv,
                                     out, in);
    }
    benchmark::RegisterBenchmark("BM_mlp_train_step/scarlet_q_b128", bm_mlp_train_step,
                                 make_layers({7, 128, 128, 9}), Eigen::Index{128});
    // The three-function SCARLET network (15 inputs, 27 joint actions): the
    // side-by-side baselines of BM_act/scarlet_3fn and BM_dqn_update/scarlet.
    benchmark::RegisterBenchmark("BM_mlp_forward/scarlet_3fn_q", bm_mlp_forward, make_layers({15, 128, 128, 27}));
    // Its int8 inference copy (nn/quantized_mlp.hpp), measured beside it.
    benchmark::RegisterBenchmark("BM_quantized_forward/scarlet_3fn_q", bm_quantized_forward,
                                 make_layers({15, 128, 128, 27}));
    benchmark::RegisterBenchmark("BM_mlp_train_step/scarlet_3fn_q_b128", bm_mlp_train_step,
                                 make_layers({15, 128, 128, 27}), Eigen::Index{128});
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
