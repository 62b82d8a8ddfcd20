#include <rlscale/nn/detail/small_batch.hpp>
#include <rlscale/nn/mlp.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

namespace test_nn_small_batch {

using namespace rlscale::nn;
using rlscale::rng;

namespace {

template <typename T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

template <typename T>
matrix<T> random_matrix(Eigen::Index rows, Eigen::Index cols, rng& gen) {
    matrix<T> m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(rlscale::uniform(gen, -1, 1));
    return m;
}

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}

// Row counts that take every block path (2P, P, 8, 4, 2, 1 rows for P = 4,
// 8 and 16) and column counts in one group, in two, and in up to eight with a
// ragged last group (DDPG's batches of 64 and 256, up to max_kernel_columns).
const std::vector<Eigen::Index> row_counts{1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 40, 48, 63, 64, 65};
const std::vector<Eigen::Index> column_counts{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 37, 64, 131, detail::max_kernel_columns};

/// Calls check(out, in, n) for every combination, each captured for a failure.
template <typename Check>
void for_each_shape(const std::vector<Eigen::Index>& outs, const std::vector<Eigen::Index>& ins, Check&& check) {
    for (const Eigen::Index out : outs) {
        for (const Eigen::Index in : ins) {
            for (const Eigen::Index n : column_counts) {
                CAPTURE(out);
                CAPTURE(in);
                CAPTURE(n);
                check(out, in, n);
            }
        }
    }
}

/// One batch of n random samples and output gradients through `net` twice:
/// with a buffer that lets the kernels take up to max_kernel_columns, and
/// with one that sends every product to Eigen's. The forward pass, the
/// parameter gradient and the input gradient must agree to rounding.
void check_wide_kernels_match_eigen(mlp<double>& net, Eigen::Index n, rng& gen) {
    const Eigen::Index in = net.input_size();
    const Eigen::Index out = net.output_size();
    const matrix<double> x = random_matrix<double>(in, n, gen);
    const matrix<double> dy = random_matrix<double>(out, n, gen);
    mlp<double>::batch_buffer kernels(net, n, matmul_precision::full, detail::max_kernel_columns);
    mlp<double>::batch_buffer eigen(net, n, matmul_precision::full, 0);
    CHECK(kernels.kernel_columns() == detail::max_kernel_columns);
    mlp<double>::gradient g_kernels(net);
    mlp<double>::gradient g_eigen(net);
    matrix<double> dx_kernels(in, n);
    matrix<double> dx_eigen(in, n);
    const matrix<double> y_kernels = net.forward_batch(x, kernels);
    const matrix<double> y_eigen = net.forward_batch(x, eigen);
    CHECK(rlscale::test::relative_error(y_kernels, y_eigen) < 1e-14);
    net.backward(kernels, dy, g_kernels, dx_kernels);
    net.backward(eigen, dy, g_eigen, dx_eigen);
    CHECK(rlscale::test::relative_error(g_kernels.values(), g_eigen.values()) < 1e-13);
    CHECK(rlscale::test::relative_error(dx_kernels, dx_eigen) < 1e-13);
}

}  // namespace

TEST_CASE_TEMPLATE("small-batch forward equals W·A + b for every block and column count, with padded strides", T, float,
                   double) {
    rng gen(11);
    for_each_shape(row_counts, {1, 3, 7, 23, 64}, [&](Eigen::Index out, Eigen::Index in, Eigen::Index n) {
        const matrix<T> w = random_matrix<T>(out, in, gen);
        const matrix<T> b = random_matrix<T>(out, 1, gen);
        // A and Y inside larger matrices: leading dimensions above their rows.
        const matrix<T> a_store = random_matrix<T>(in + 3, n + 1, gen);
        matrix<T> y_store = matrix<T>::Constant(out + 2, n + 1, T(7));
        detail::small_forward(w.data(), out, in, a_store.data(), in + 3, n, b.data(), y_store.data(), out + 2);
        const matrix<T> expected = (w * a_store.topLeftCorner(in, n)).colwise() + b.col(0);
        CHECK(rlscale::test::relative_error(y_store.topLeftCorner(out, n), expected) < tolerance<T>());
        // Nothing outside Y is written.
        CHECK((y_store.bottomRows(2).array() == T(7)).all());
        CHECK((y_store.rightCols(1).array() == T(7)).all());

        detail::small_forward(w.data(), out, in, a_store.data(), in + 3, n, static_cast<const T*>(nullptr),
                              y_store.data(), out + 2);
        const matrix<T> no_bias = w * a_store.topLeftCorner(in, n);
        CHECK(rlscale::test::relative_error(y_store.topLeftCorner(out, n), no_bias) < tolerance<T>());
    });
}

TEST_CASE_TEMPLATE("small-batch weight gradient equals D·Aᵀ and D·1, overwriting G", T, float, double) {
    rng gen(12);
    for_each_shape(row_counts, {1, 3, 7, 23, 64}, [&](Eigen::Index out, Eigen::Index in, Eigen::Index n) {
        const matrix<T> d_store = random_matrix<T>(out + 5, n, gen);
        const matrix<T> a_store = random_matrix<T>(in + 1, n, gen);
        matrix<T> g = random_matrix<T>(out, in, gen);  // overwritten, not added to
        matrix<T> gb = random_matrix<T>(out, 1, gen);
        detail::small_weight_gradient(d_store.data(), out + 5, out, a_store.data(), in + 1, in, n, g.data(),
                                      gb.data());
        const auto d = d_store.topRows(out);
        const matrix<T> expected = d * a_store.topRows(in).transpose();
        const matrix<T> expected_b = d.rowwise().sum();
        CHECK(rlscale::test::relative_error(g, expected) < tolerance<T>());
        CHECK(rlscale::test::relative_error(gb, expected_b) < tolerance<T>());
    });
}

TEST_CASE_TEMPLATE("small-batch input gradient of a narrow W equals Wᵀ·D", T, float, double) {
    rng gen(13);
    for_each_shape({1, 2, 3, 4, 5, 6, 7}, {1, 3, 7, 23, 64, 65}, [&](Eigen::Index out, Eigen::Index in, Eigen::Index n) {
        const matrix<T> w = random_matrix<T>(out, in, gen);
        const matrix<T> d_store = random_matrix<T>(out + 2, n, gen);
        matrix<T> x_store = matrix<T>::Constant(in + 4, n, T(7));
        std::vector<T> scratch(static_cast<std::size_t>(in * out));
        detail::small_input_gradient(w.data(), out, in, d_store.data(), out + 2, n, x_store.data(), in + 4,
                                     scratch.data());
        const matrix<T> expected = w.transpose() * d_store.topRows(out);
        CHECK(rlscale::test::relative_error(x_store.topRows(in), expected) < tolerance<T>());
        CHECK((x_store.bottomRows(4).array() == T(7)).all());
    });
}

TEST_CASE_TEMPLATE("transpose_into writes exactly Wᵀ, through whole register squares and the edges", T, float, double) {
    rng gen(16);
    for (const Eigen::Index out : row_counts) {
        for (const Eigen::Index in : {1, 3, 7, 8, 16, 17, 23, 33, 64, 65}) {
            CAPTURE(out);
            CAPTURE(in);
            const matrix<T> w = random_matrix<T>(out, in, gen);
            // One value past the end, to see that nothing beyond Wᵀ is written.
            std::vector<T> wt(static_cast<std::size_t>(in * out + 1), T(7));
            detail::transpose_into(w.data(), out, in, wt.data());
            const Eigen::Map<const matrix<T>> got(wt.data(), in, out);
            CHECK(got == w.transpose());
            CHECK(wt.back() == T(7));
        }
    }
}

TEST_CASE_TEMPLATE("small-batch input gradient of a wide W on a large batch equals Wᵀ·D", T, float, double) {
    rng gen(17);
    for (const Eigen::Index out : {16, 17, 40, 64, 256}) {
        for (const Eigen::Index in : {64, 65, 100, 256}) {
            for (const Eigen::Index n : {128, 131, 256}) {
                CAPTURE(out);
                CAPTURE(in);
                CAPTURE(n);
                const matrix<T> w = random_matrix<T>(out, in, gen);
                const matrix<T> d_store = random_matrix<T>(out + 2, n, gen);
                matrix<T> x_store = matrix<T>::Constant(in + 4, n, T(7));
                std::vector<T> scratch(static_cast<std::size_t>(in * out));
                detail::small_input_gradient(w.data(), out, in, d_store.data(), out + 2, n, x_store.data(), in + 4,
                                             scratch.data());
                const matrix<T> expected = w.transpose() * d_store.topRows(out);
                CHECK(rlscale::test::relative_error(x_store.topRows(in), expected) < tolerance<T>());
                CHECK((x_store.bottomRows(4).array() == T(7)).all());
            }
        }
    }
}

TEST_CASE("the kernels are used exactly where they are measured to pay") {
    CHECK(detail::small_forward_pays(64, 64, 5));
    CHECK(detail::small_forward_pays(8, 64, detail::small_batch_columns));
    CHECK(detail::small_forward_pays(7, 64, 5));        // a 7-action head on PPO's minibatch of 5
    CHECK_FALSE(detail::small_forward_pays(7, 64, 10));  // ... on 10: Eigen's product
    CHECK_FALSE(detail::small_forward_pays(1, 64, 5));   // a value head
    CHECK_FALSE(detail::small_forward_pays(64, 64, detail::small_batch_columns + 1));
    CHECK(detail::small_weight_gradient_pays(7, 64, 5));
    CHECK_FALSE(detail::small_weight_gradient_pays(1, 64, 5));  // a value head
    CHECK(detail::small_input_gradient_pays(1, 64, 5));
    CHECK(detail::small_input_gradient_pays(7, 64, 10));
    CHECK(detail::small_input_gradient_pays(64, 64, 5));   // PPO's hidden layers: transposed
    CHECK(detail::small_input_gradient_pays(64, 64, 10));
    CHECK_FALSE(detail::small_input_gradient_pays(64, 23, 5));   // few inputs: Eigen's
    CHECK_FALSE(detail::small_input_gradient_pays(128, 128, 5));  // larger than measured: Eigen's
    CHECK(detail::small_input_gradient_pays(64, 64, detail::small_batch_columns + 1, detail::max_kernel_columns));
    CHECK_FALSE(detail::small_input_gradient_pays(7, 64, detail::small_batch_columns + 1));
    // The edges of each region (a change to a threshold must change this test too).
    CHECK(detail::small_forward_pays(4, 64, 6));
    CHECK_FALSE(detail::small_forward_pays(4, 64, 7));
    CHECK_FALSE(detail::small_forward_pays(3, 64, 1));
    CHECK(detail::small_forward_pays(8, 64, 1));
    CHECK(detail::small_weight_gradient_pays(4, 64, detail::small_batch_columns));
    CHECK_FALSE(detail::small_weight_gradient_pays(3, 64, 1));
    CHECK_FALSE(detail::small_weight_gradient_pays(4, 64, detail::small_batch_columns + 1));
    CHECK_FALSE(detail::small_input_gradient_pays(8, 64, 1));
    // A buffer that allows none: never.
    CHECK_FALSE(detail::small_forward_pays(64, 64, 1, 0));
    CHECK_FALSE(detail::small_weight_gradient_pays(64, 64, 1, 0));
    CHECK_FALSE(detail::small_input_gradient_pays(1, 64, 1, 0));
    // A buffer that allows max_kernel_columns (DDPG's): FIRM's shapes at its
    // batch of 64.
    const Eigen::Index wide = detail::max_kernel_columns;
    CHECK(detail::small_forward_pays(40, 43, 64, wide));           // the critic's head after the join
    CHECK(detail::small_forward_pays(40, 10, 64, wide));           // the first layers
    CHECK(detail::small_weight_gradient_pays(40, 40, 64, wide));
    CHECK_FALSE(detail::small_forward_pays(3, 40, 64, wide));       // the actor's 3-action head: Eigen's
    CHECK_FALSE(detail::small_weight_gradient_pays(3, 40, 64, wide));
    CHECK_FALSE(detail::small_weight_gradient_pays(7, 40, 11, wide));  // 4 to 7 rows beyond 10: not measured
    CHECK(detail::small_input_gradient_pays(3, 40, 64, wide));     // ... whose input gradient pays
    CHECK(detail::small_input_gradient_pays(1, 40, 64, wide));     // the critic's value head
    CHECK_FALSE(detail::small_input_gradient_pays(40, 43, 64, wide));  // a ragged block of inputs: Eigen's
    CHECK(detail::small_input_gradient_pays(40, 40, 64, wide));        // the actor's hidden layer, the critic's slice
    CHECK_FALSE(detail::small_input_gradient_pays(40, 10, 64, wide));
    CHECK_FALSE(detail::small_forward_pays(40, 43, 65, 64));       // beyond the buffer's columns
    CHECK_FALSE(detail::small_forward_pays(40, 43, wide + 1, wide));
    // Beyond small_batch_columns: a forward pass needs 16 rows (the DQN's
    // 15-action head is slower), and the weight at most 256 × 256 values.
    CHECK(detail::small_forward_pays(16, 128, 64, wide));
    CHECK_FALSE(detail::small_forward_pays(15, 128, 64, wide));
    CHECK(detail::small_forward_pays(15, 128, 10, wide));
    CHECK(detail::small_weight_gradient_pays(15, 128, 64, wide));
    CHECK(detail::small_forward_pays(128, 128, 64, wide));
    CHECK(detail::small_forward_pays(256, 256, 256, wide));        // CleanRL's hidden layer at its batch
    CHECK(detail::small_weight_gradient_pays(256, 23, 256, wide));
    CHECK_FALSE(detail::small_forward_pays(6, 256, 256, wide));    // its 6-action head: Eigen's
    CHECK_FALSE(detail::small_forward_pays(257, 256, 64, wide));
    CHECK_FALSE(detail::small_weight_gradient_pays(257, 256, 11, wide));
    CHECK(detail::small_forward_pays(512, 512, 10, wide));         // up to 10, any size
    // A wide W's input gradient: from 128 columns, 16 rows and 64 inputs.
    CHECK(detail::small_input_gradient_pays(256, 256, 128, wide));
    CHECK(detail::small_input_gradient_pays(16, 64, 128, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(256, 256, 127, wide));
    // Between small_batch_columns and 128 columns: 40 rows and 40 inputs,
    // the inputs in whole blocks of 8, at most 128 × 128 values.
    CHECK(detail::small_input_gradient_pays(128, 128, 64, wide));
    CHECK(detail::small_input_gradient_pays(40, 40, detail::small_batch_columns + 1, wide));
    CHECK(detail::small_input_gradient_pays(40, 40, detail::wide_input_gradient_columns - 1, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(40, 40, detail::small_batch_columns, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(40, 40, detail::wide_input_gradient_columns, wide));
    CHECK(detail::small_input_gradient_pays(40, 128, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(39, 128, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(128, 32, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(15, 128, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(16, 16, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(40, 44, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(136, 128, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(128, 15, 64, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(40, 40, 64, 63));  // a buffer's columns bound it
    CHECK_FALSE(detail::small_input_gradient_pays(15, 64, 128, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(256, 63, 256, wide));
    CHECK_FALSE(detail::small_input_gradient_pays(256, 23, 256, wide));  // CleanRL's first layer
    CHECK_FALSE(detail::small_input_gradient_pays(256, 256, 128, 127));  // a buffer's columns bound it too
}

TEST_CASE("a buffer's kernel_columns is validated, and wide kernels agree with Eigen's product on FIRM's shapes") {
    mlp<double> net({10, 40, 40, 3}, activation::relu, activation::tanh);
    rng gen(15);
    net.initialize(init_scheme::torch_default, gen);
    CHECK_THROWS_WITH_AS(mlp<double>::batch_buffer(net, 64, matmul_precision::full, detail::max_kernel_columns + 1),
                         doctest::Contains("kernel_columns"), rlscale::config_error);
    CHECK_THROWS_AS(mlp<double>::batch_buffer(net, 64, matmul_precision::full, -1), rlscale::config_error);
    for (const Eigen::Index n : {11, 37, 64}) {
        CAPTURE(n);
        check_wide_kernels_match_eigen(net, n, gen);
    }
}

TEST_CASE("wide kernels agree with Eigen's product on CleanRL's DDPG shapes, up to 256 columns") {
    // The actor 17→256→256→6 (tanh head) and the critic 23→256→256→1: every
    // kernel, including the transposing input gradient through 256 × 256.
    rng gen(18);
    for (const auto& sizes : {std::vector<Eigen::Index>{17, 256, 256, 6}, std::vector<Eigen::Index>{23, 256, 256, 1}}) {
        std::vector<layer_spec> layers;
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
            const bool head = l + 2 == sizes.size();
            layers.push_back({sizes[l], sizes[l + 1],
                              head ? (sizes.back() == 6 ? activation::tanh : activation::identity) : activation::relu});
        }
        mlp<double> net(layers);
        net.initialize(init_scheme::torch_default, gen);
        for (const Eigen::Index n : {128, 256}) {
            CAPTURE(sizes.back());
            CAPTURE(n);
            check_wide_kernels_match_eigen(net, n, gen);
        }
    }
}

namespace {

/// The input gradient of the first layer's inputs [first, first + count)
/// (input_gradient when they run to the last input, backward's with the
/// parameter gradient always), through a buffer that lets the kernels take
/// `columns` samples and one that sends everything to Eigen's product: the
/// kernels' buffer must have room for `scratch` values of transpose (so the
/// kernel, not the fallback to Eigen's product, computes the slice; the
/// sanitizer build catches a write beyond it), and both must agree.
void check_first_layer_slice(const std::vector<layer_spec>& layers, Eigen::Index n, Eigen::Index columns,
                             Eigen::Index first, Eigen::Index count, Eigen::Index scratch, std::uint64_t seed) {
    mlp<double> net(layers);
    rng gen(seed);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::Index in = layers.front().in;
    const matrix<double> x = random_matrix<double>(in, n, gen);
    const matrix<double> dy = random_matrix<double>(layers.back().out, n, gen);
    mlp<double>::batch_buffer kernels(net, n, matmul_precision::full, columns);
    mlp<double>::batch_buffer eigen(net, n, matmul_precision::full, 0);
    CHECK(kernels.transpose_scratch_values() == static_cast<std::size_t>(scratch));
    CHECK(eigen.transpose_scratch_values() == 0);
    (void)net.forward_batch(x, kernels);
    (void)net.forward_batch(x, eigen);
    matrix<double> dx_kernels(count, n);
    matrix<double> dx_eigen(count, n);
    if (first + count == in) {
        net.input_gradient(kernels, dy, dx_kernels, first);
        net.input_gradient(eigen, dy, dx_eigen, first);
        CHECK(rlscale::test::relative_error(dx_kernels, dx_eigen) < 1e-13);
    }
    mlp<double>::gradient g_kernels(net);
    mlp<double>::gradient g_eigen(net);
    net.backward(kernels, dy, g_kernels, dx_kernels, first, count);
    net.backward(eigen, dy, g_eigen, dx_eigen, first, count);
    CHECK(rlscale::test::relative_error(dx_kernels, dx_eigen) < 1e-13);
    CHECK(rlscale::test::relative_error(g_kernels.values(), g_eigen.values()) < 1e-13);
}

}  // namespace

TEST_CASE("a first layer too large for the kernels still gets scratch for the slice input_gradient asks for") {
    // 256 × 300 is beyond wide_batch_weight_values, so backward's input
    // gradient of the whole layer goes to Eigen's; its last 200 inputs
    // (first = 100) are within it, and the rule sends them to the
    // transposing kernel on 128 samples. The widest slice the rule takes is
    // 256 of the 300 inputs.
    CHECK(detail::small_input_gradient_pays(256, 200, 128, detail::max_kernel_columns));
    CHECK_FALSE(detail::small_input_gradient_pays(256, 300, 128, detail::max_kernel_columns));
    check_first_layer_slice({{300, 256, activation::relu}, {256, 1, activation::identity}}, 128, detail::max_kernel_columns,
                            100, 200, 256 * 256, 19);
}

TEST_CASE("a first layer whose slice the small-batch rule takes gets scratch for it (64 of 128 inputs, 5 samples)") {
    // 64 × 128 is beyond small_input_gradient_values, so on 5 samples the
    // whole layer's input gradient goes to Eigen's; the slice of its last 64
    // inputs (first = 64) is a 64 × 64 W, which the rule sends to the
    // transposing kernel, though no other layer (an 8-row head) needs
    // scratch.
    CHECK_FALSE(detail::small_input_gradient_pays(64, 128, 5));
    CHECK(detail::small_input_gradient_pays(64, 64, 5));
    CHECK_FALSE(detail::small_input_gradient_pays(8, 64, 5));
    check_first_layer_slice({{128, 64, activation::relu}, {64, 8, activation::identity}}, 5, detail::small_batch_columns, 64,
                            64, 64 * 64, 23);
}

TEST_CASE("a buffer holding batches beyond 127 samples gets scratch for the transposes it takes on fewer") {
    // A 40 × 40 W goes to the transposing kernel on 11 to 127 samples and
    // not on 1 or on 128 or more, so a buffer of 128 or 256 must size its
    // scratch from a batch in between; the critic head's first layer
    // (40 × 43) through its 40 × 40 slice of the first 40 inputs too.
    mlp<double> actor({10, 40, 40, 3}, activation::relu, activation::tanh);
    mlp<double> head(std::vector<layer_spec>{{43, 40, activation::relu}, {40, 1, activation::identity}});
    for (const Eigen::Index capacity : {Eigen::Index{128}, Eigen::Index{256}}) {
        CAPTURE(capacity);
        CHECK(mlp<double>::batch_buffer(actor, capacity, matmul_precision::full, detail::max_kernel_columns)
                  .transpose_scratch_values() == 40 * 40);
        CHECK(mlp<double>::batch_buffer(head, capacity, matmul_precision::full, detail::max_kernel_columns)
                  .transpose_scratch_values() == 40 * 40);
    }
    // Up to 10 columns a 40 × 40 W stays with Eigen's product: only the
    // 3-action head's transpose (3 × 40).
    CHECK(mlp<double>::batch_buffer(actor, 10, matmul_precision::full, detail::max_kernel_columns)
              .transpose_scratch_values() == 3 * 40);
}

TEST_CASE("a first layer whose leading slice the rule takes gets scratch for it (40 of 43 inputs, 64 samples)") {
    // DDPG's critic head at FIRM's sizes: 40 × 43 (the trunk's 40 outputs,
    // then the 3 actions) is a ragged block for the transposing kernel,
    // which the rule leaves to Eigen's product; the critic's step needs only
    // the first 40 inputs' gradient, a 40 × 40 W, which the rule takes on
    // 64 samples.
    CHECK_FALSE(detail::small_input_gradient_pays(40, 43, 64, detail::max_kernel_columns));
    CHECK(detail::small_input_gradient_pays(40, 40, 64, detail::max_kernel_columns));
    check_first_layer_slice({{43, 40, activation::relu}, {40, 1, activation::identity}}, 64, detail::max_kernel_columns, 0,
                            40, 40 * 40, 29);
    // The same slice from the middle (inputs 2 to 41), and the action's rows
    // alone (Eigen's product on both buffers: 3 inputs).
    check_first_layer_slice({{43, 40, activation::relu}, {40, 1, activation::identity}}, 64, detail::max_kernel_columns, 2,
                            40, 40 * 40, 31);
    check_first_layer_slice({{43, 40, activation::relu}, {40, 1, activation::identity}}, 64, detail::max_kernel_columns, 40,
                            3, 40 * 40, 37);
}

TEST_CASE("an mlp's batched passes give the same results on small and large batches (kernels against Eigen)") {
    // Batches of up to small_batch_columns go through the kernels, wider ones
    // through Eigen; the same samples, passed in a batch of each kind, must
    // agree column for column, and so must the gradients of a sum over them.
    rng gen(14);
    for (const auto& sizes : {std::vector<Eigen::Index>{7, 64, 64, 7}, std::vector<Eigen::Index>{23, 64, 64, 1},
                              std::vector<Eigen::Index>{3, 5, 9, 2}}) {
        std::vector<layer_spec> layers;
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
            layers.push_back({sizes[l], sizes[l + 1], l + 2 == sizes.size() ? activation::identity : activation::tanh});
        }
        mlp<double> net(layers);
        net.initialize(init_scheme::torch_default, gen);
        for (const Eigen::Index n : {1, 5, 8, 10}) {
            CAPTURE(n);
            CAPTURE(sizes[0]);
            const Eigen::Index wide = detail::small_batch_columns + 6;
            const matrix<double> x = random_matrix<double>(sizes[0], wide, gen);
            const matrix<double> dy = random_matrix<double>(sizes.back(), wide, gen);
            // Small: the first n columns. Large: the same n columns followed by others.
            mlp<double>::batch_buffer small(net, n);
            mlp<double>::batch_buffer large(net, wide);
            mlp<double>::gradient g_small(net);
            mlp<double>::gradient g_large(net);
            matrix<double> dx_small(sizes[0], n);
            matrix<double> dx_large(sizes[0], wide);
            const matrix<double> y_small = net.forward_batch(x.leftCols(n), small);
            const matrix<double> y_large = net.forward_batch(x, large);
            CHECK(rlscale::test::relative_error(y_small, y_large.leftCols(n)) < 1e-14);
            net.backward(small, dy.leftCols(n), g_small, dx_small);
            matrix<double> dy_masked = dy;
            dy_masked.rightCols(wide - n).setZero();  // only the first n samples contribute
            net.backward(large, dy_masked, g_large, dx_large);
            CHECK(rlscale::test::relative_error(g_small.values(), g_large.values()) < 1e-13);
            CHECK(rlscale::test::relative_error(dx_small, dx_large.leftCols(n)) < 1e-13);
        }
    }
}

}  // namespace test_nn_small_batch
