// Microbenchmarks of the neural-network core. The names are stable so
// results can be compared over time (docs/benchmarks.md). Each rlscale
// benchmark runs beside a baseline measured in the same process, so claims
// are ratios from one run on one (possibly noisy) machine.
#include <rlscale/nn/nn.hpp>
#include <rlscale/nn/quantized_mlp.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <cstdint>

#include <initializer_list>
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
void bm_mlp_train_step(benchmark::State& state, const std::vector<layer_spec>& layers, Eigen::Index batch,
                       matmul_precision precision) {
    rlscale::rng gen(2);
    mlp<float> net(layers);
    net.initialize(init_scheme::torch_default, gen);
    adam<float> opt(net.parameter_count(), adam_config::scarlet());
    mlp<float>::batch_buffer buf(net, batch, precision);
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

// One 128×128×128 product, the shape of the hidden layer's batched passes;
// items are multiply-adds, so items_per_second is the achieved rate.
// `product(a, b, c)` computes c = a·b.
template <typename Product>
void bm_gemm(benchmark::State& state, Product product) {
    constexpr Eigen::Index size = 128;
    rlscale::rng gen(3);
    Eigen::MatrixXf a(size, size);
    for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = static_cast<float>(rlscale::uniform(gen, -1, 1));
    const Eigen::MatrixXf b = a.transpose();
    Eigen::MatrixXf c(size, size);
    for (auto _ : state) {
        product(a, b, c);
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * size * size * size);
}

void bm_gemm_eigen(benchmark::State& state) {
    bm_gemm(state, [](const Eigen::MatrixXf& a, const Eigen::MatrixXf& b, Eigen::MatrixXf& c) { c.noalias() = a * b; });
}

// The same product in bf16 (nn/detail/bf16_gemm.hpp), packing both operands
// from float each time as a batched pass does.
void bm_gemm_bf16(benchmark::State& state) {
    namespace d = rlscale::nn::detail;
    std::vector<std::uint32_t> ap;
    std::vector<std::uint32_t> bp;
    bm_gemm(state, [&](const Eigen::MatrixXf& a, const Eigen::MatrixXf& b, Eigen::MatrixXf& c) {
        const Eigen::Index n = a.rows();
        const Eigen::Index kp = d::bf16_pairs(n);
        ap.resize(static_cast<std::size_t>(d::bf16_packed_words(n, n)));  // sized on the first call
        bp.resize(static_cast<std::size_t>(kp * n));
        d::pack_a_bf16(a.data(), n, n, n, ap.data());
        d::to_bf16_columns(b.data(), n, n, n, bp.data());
        d::gemm_bf16(n, n, kp, ap.data(), bp.data(), 1, kp, c.data(), n);
    });
    if (!d::bf16_simd_available()) state.SetLabel("portable kernel (no AVX-512 BF16 in this build)");
}

// The three products of a batched pass on a small batch
// (nn/detail/small_batch.hpp), each beside Eigen's product of the same
// shape: W (out × in) times a batch of n columns (forward, bias included),
// the weight gradient D·Aᵀ (bias gradient included) and the input gradient
// Wᵀ·D. `ours` selects the kernel; nn::mlp uses each where it wins
// (detail::small_*_pays).
enum class small_product { forward, weight_gradient, input_gradient };

void bm_small_batch(benchmark::State& state, small_product product, Eigen::Index out, Eigen::Index in, Eigen::Index n,
                    bool ours) {
    namespace d = rlscale::nn::detail;
    rlscale::rng gen(4);
    const auto fill = [&](Eigen::MatrixXf& m) {
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rlscale::uniform(gen, -1, 1));
    };
    // W is followed by its bias, as in an mlp's parameter vector.
    Eigen::MatrixXf w(out, in + 1);
    Eigen::MatrixXf a(in, n);
    Eigen::MatrixXf dy(out, n);
    fill(w);
    fill(a);
    fill(dy);
    const auto wm = w.leftCols(in);
    const auto bias = w.col(in);
    Eigen::MatrixXf y(out, n);
    Eigen::MatrixXf g(out, in);
    Eigen::VectorXf gb(out);
    Eigen::MatrixXf x(in, n);
    std::vector<float> scratch(static_cast<std::size_t>(out * in));
    for (auto _ : state) {
        switch (product) {
            case small_product::forward:
                if (ours) {
                    d::small_forward(w.data(), out, in, a.data(), in, n, bias.data(), y.data(), out);
                } else {
                    y.noalias() = wm * a;
                    y.colwise() += bias;
                }
                benchmark::DoNotOptimize(y.data());
                break;
            case small_product::weight_gradient:
                if (ours) {
                    d::small_weight_gradient(dy.data(), out, out, a.data(), in, in, n, g.data(), gb.data());
                } else {
                    g.noalias() = dy * a.transpose();
                    gb.noalias() = dy.rowwise().sum();
                }
                benchmark::DoNotOptimize(g.data());
                break;
            case small_product::input_gradient:
                if (ours) {
                    d::small_input_gradient(w.data(), out, in, dy.data(), out, n, x.data(), in, scratch.data());
                } else {
                    x.noalias() = wm.transpose() * dy;
                }
                benchmark::DoNotOptimize(x.data());
                break;
        }
        benchmark::ClobberMemory();
    }
}

#if defined(__AVX512F__)
// The core's multiply-add ceiling: 12 independent chains of one 512-bit
// instruction, enough to fill both FMA pipes; `step(acc)` is the
// instruction and `per_step` its multiply-adds.
template <typename Step>
void bm_peak(benchmark::State& state, Step step, std::int64_t per_step) {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(1.0F + static_cast<float>(i) * 1e-7F);
    constexpr int rounds = 1000;
    for (auto _ : state) {
        for (int r = 0; r < rounds; ++r) {
            for (auto& x : acc) x = step(x);
        }
        for (auto& x : acc) benchmark::DoNotOptimize(x);
    }
    state.SetItemsProcessed(state.iterations() * rounds * 12 * per_step);
}

void bm_peak_fma_fp32(benchmark::State& state) {
    const __m512 m = _mm512_set1_ps(0.9999999F);
    const __m512 a = _mm512_set1_ps(1e-7F);
    bm_peak(state, [&](__m512 x) { return _mm512_fmadd_ps(x, m, a); }, 16);
}
#endif

#if defined(__AVX512BF16__)
// vdpbf16ps: two multiply-adds per 32-bit lane, 32 per instruction.
void bm_peak_fma_bf16(benchmark::State& state) {
    const __m512bh one = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
    bm_peak(state, [&](__m512 x) { return _mm512_dpbf16_ps(x, one, one); }, 32);
}
#endif

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
                                 make_layers({7, 128, 128, 9}), Eigen::Index{128}, matmul_precision::full);
    benchmark::RegisterBenchmark("BM_mlp_train_step/scarlet_q_b128_bf16", bm_mlp_train_step,
                                 make_layers({7, 128, 128, 9}), Eigen::Index{128}, matmul_precision::bf16);
    // The three-function SCARLET network (15 inputs, 27 joint actions): the
    // side-by-side baselines of BM_act/scarlet_3fn and BM_dqn_update/scarlet.
    benchmark::RegisterBenchmark("BM_mlp_forward/scarlet_3fn_q", bm_mlp_forward, make_layers({15, 128, 128, 27}));
    // Its int8 inference copy (nn/quantized_mlp.hpp), measured beside it.
    benchmark::RegisterBenchmark("BM_quantized_forward/scarlet_3fn_q", bm_quantized_forward,
                                 make_layers({15, 128, 128, 27}));
    benchmark::RegisterBenchmark("BM_mlp_train_step/scarlet_3fn_q_b128", bm_mlp_train_step,
                                 make_layers({15, 128, 128, 27}), Eigen::Index{128}, matmul_precision::full);
    benchmark::RegisterBenchmark("BM_mlp_train_step/scarlet_3fn_q_b128_bf16", bm_mlp_train_step,
                                 make_layers({15, 128, 128, 27}), Eigen::Index{128}, matmul_precision::bf16);
    // Small-batch products: the kernels beside Eigen, each product at each
    // shape out × in and batch n, named
    // BM_{small,eigen}_batch/<product>/<out>x<in>_n<n>.
    using shape_list = std::initializer_list<std::pair<Eigen::Index, Eigen::Index>>;
    const auto register_shapes = [](Eigen::Index n, shape_list shapes) {
        for (const auto& [out, in] : shapes) {
            const std::string shape = std::to_string(out) + "x" + std::to_string(in) + "_n" + std::to_string(n);
            for (const auto& [product, name] : {std::pair{small_product::forward, "forward"},
                                                {small_product::weight_gradient, "weight_gradient"},
                                                {small_product::input_gradient, "input_gradient"}}) {
                for (const bool ours : {true, false}) {
                    const std::string full =
                        std::string(ours ? "BM_small_batch/" : "BM_eigen_batch/") + name + "/" + shape;
                    benchmark::RegisterBenchmark(full.c_str(), bm_small_batch, product, out, in, n, ours);
                }
            }
        }
    };
    // SIMPPO's actor (7→64→64→7) and critic (23→64→64→1) on PPO's
    // minibatches of 5 and 10.
    for (const Eigen::Index n : {5, 10}) register_shapes(n, {{64, 7}, {64, 23}, {64, 64}, {7, 64}, {1, 64}});
    // The same at the shapes of FIRM's DDPG networks (actor 10→40→40→3,
    // critic 10→40, 43→40, 40→1: the action joins after the first layer)
    // and its batch of 64, where DDPG's buffers let nn::mlp use the kernels
    // (kernel_columns), and at the SCARLET DQN's 15→128→128→15 on its
    // shards of 64, where nn::mlp does not (the DQN's buffers keep the
    // default kernel_columns of 10; docs/benchmarks.md). The 40-row and 128-row
    // input-gradient cases time small_input_gradient, which nn::mlp uses at
    // 64 columns for heads of fewer than 8 rows only.
    register_shapes(64, {{40, 10}, {40, 40}, {40, 43}, {3, 40}, {1, 40}, {128, 15}, {128, 128}, {15, 128}});
    // The same at CleanRL's DDPG networks (actor 17→256→256→6, critic
    // 23→256→256→1) on 128 and 256 samples (its batch, and two shards of
    // it), where DDPG's buffers let nn::mlp use the kernels. Here the
    // input-gradient cases time the transposing kernel, which nn::mlp uses
    // for the 256 × 256 layer (16 rows and 64 inputs or more, from
    // wide_input_gradient_columns on) and the heads, not for the first
    // layers.
    for (const Eigen::Index n : {128, 256}) register_shapes(n, {{256, 17}, {256, 23}, {256, 256}, {6, 256}, {1, 256}});
    // The products underneath the training step, and the core's ceilings.
    benchmark::RegisterBenchmark("BM_gemm/eigen_float_128", bm_gemm_eigen);
    benchmark::RegisterBenchmark("BM_gemm/bf16_128", bm_gemm_bf16);
#if defined(__AVX512F__)
    benchmark::RegisterBenchmark("BM_peak_fma/fp32_avx512", bm_peak_fma_fp32);
#endif
#if defined(__AVX512BF16__)
    benchmark::RegisterBenchmark("BM_peak_fma/bf16_avx512", bm_peak_fma_bf16);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
