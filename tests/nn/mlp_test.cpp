#include <rlscale/nn/mlp.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace test_nn_mlp {

using namespace rlscale::nn;
using rlscale::rng;

namespace {

/// Gradient check of a network in double: L = Σ c ⊙ f(X) for a fixed random
/// c, so dL/dY = c. Compares backward's dL/dθ and dL/dX with central
/// differences.
void check_network_gradients(mlp<double>& net, Eigen::Index batch, std::uint64_t seed) {
    rng gen(seed);
    net.initialize(init_scheme::torch_default, gen);
    Eigen::MatrixXd x(net.input_size(), batch);
    Eigen::MatrixXd c(net.output_size(), batch);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rlscale::uniform(gen, -2, 2);
    for (Eigen::Index i = 0; i < c.size(); ++i) c.data()[i] = rlscale::uniform(gen, -1, 1);

    mlp<double>::batch_buffer buf(net, batch);
    mlp<double>::gradient grad(net);
    Eigen::MatrixXd dx(net.input_size(), batch);
    static_cast<void>(net.forward_batch(x, buf));
    net.backward(buf, c, grad, dx);

    mlp<double>::batch_buffer scratch(net, batch);
    const auto loss = [&] { return net.forward_batch(x, scratch).cwiseProduct(c).sum(); };

    const auto numeric_params = rlscale::test::numerical_gradient(loss, net.parameters());
    CHECK(rlscale::test::relative_error(grad.values(), numeric_params) < 1e-6);

    Eigen::Map<Eigen::VectorXd> flat_x(x.data(), x.size());
    const auto numeric_x = rlscale::test::numerical_gradient(loss, flat_x);
    CHECK(rlscale::test::relative_error(dx.reshaped(), numeric_x) < 1e-6);
}

}  // namespace

TEST_CASE("mlp: layout, sizes and parameter count") {
    mlp<float> net({7, 64, 64, 3});
    CHECK(net.layer_count() == 3);
    CHECK(net.input_size() == 7);
    CHECK(net.output_size() == 3);
    CHECK(net.parameter_count() == 7 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3);
    CHECK(net.layers()[0].act == activation::relu);
    CHECK(net.layers()[2].act == activation::identity);
    // Views of one contiguous vector: layer 1's weight follows layer 0's bias.
    CHECK(net.weight(1).data() == net.bias(0).data() + 64);
}

TEST_CASE("mlp: layers that do not chain, or empty sizes, are rejected with the field") {
    CHECK_THROWS_WITH_AS(mlp<float>(std::vector<layer_spec>{{4, 8, activation::relu}, {7, 2, activation::identity}}),
                         doctest::Contains("layers[1].in: must equal the previous layer's out (8), got 7"),
                         rlscale::config_error);
    CHECK_THROWS_AS(mlp<float>(std::vector<layer_spec>{}), rlscale::config_error);
    CHECK_THROWS_WITH_AS(mlp<float>({5}), doctest::Contains("sizes"), rlscale::config_error);
    CHECK_THROWS_WITH_AS(mlp<float>({5, 0, 2}), doctest::Contains("layers[0].out: must be >= 1, got 0"),
                         rlscale::config_error);
}

TEST_CASE_TEMPLATE("mlp: single-input forward equals the batch forward and a direct computation", T, float, double) {
    rng gen(3);
    mlp<T> net({5, 16, 16, 4}, activation::tanh);
    net.initialize(init_scheme::he_uniform, gen);
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> x(5, 3);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(rlscale::uniform(gen, -1, 1));

    typename mlp<T>::batch_buffer bbuf(net, 8);
    const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> batch_out = net.forward_batch(x, bbuf);
    typename mlp<T>::inference_buffer ibuf(net);
    for (Eigen::Index j = 0; j < 3; ++j) {
        const Eigen::Matrix<T, Eigen::Dynamic, 1> xj = x.col(j);
        const Eigen::Matrix<T, Eigen::Dynamic, 1> single = net.forward(xj, ibuf);
        // The reference: the textbook formula, layer by layer.
        Eigen::Matrix<T, Eigen::Dynamic, 1> a = xj;
        for (std::size_t l = 0; l < net.layer_count(); ++l) {
            Eigen::Matrix<T, Eigen::Dynamic, 1> z = net.weight(l) * a + net.bias(l);
            if (net.layers()[l].act == activation::tanh) z = z.array().tanh().matrix();
            a = z;
        }
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
        CHECK(rlscale::test::relative_error(single, a) < tol);
        CHECK(rlscale::test::relative_error(single, batch_out.col(j)) < tol);
    }
}

TEST_CASE("mlp: forward and backward reject wrong sizes with both sizes in the message") {
    mlp<double> net({3, 4, 2});
    mlp<double>::inference_buffer ibuf(net);
    Eigen::VectorXd wrong = Eigen::VectorXd::Zero(4);
    CHECK_THROWS_WITH_AS(static_cast<void>(net.forward(wrong, ibuf)),
                         doctest::Contains("input has 4 values, the network takes 3"), rlscale::error);
    mlp<double>::batch_buffer bbuf(net, 2);
    CHECK_THROWS_AS(static_cast<void>(net.forward_batch(Eigen::MatrixXd::Zero(3, 3), bbuf)), rlscale::error);
    mlp<double>::gradient grad(net);
    CHECK_THROWS_WITH_AS(net.backward(bbuf, Eigen::MatrixXd::Zero(2, 1), grad), doctest::Contains("last forward_batch"),
                         rlscale::error);
    CHECK_THROWS_AS(mlp<double>::batch_buffer(net, 0), rlscale::config_error);

    // A buffer made for another network is refused, not written past its end.
    const mlp<double> wide({3, 64, 2});
    CHECK_THROWS_WITH_AS(static_cast<void>(wide.forward(Eigen::VectorXd::Zero(3), ibuf)),
                         doctest::Contains("the inference buffer holds 4 values per layer, the network needs 64"), rlscale::error);
    CHECK_THROWS_WITH_AS(static_cast<void>(wide.forward_batch(Eigen::MatrixXd::Zero(3, 2), bbuf)),
                         doctest::Contains("made for a 3-4-2 network, this one is 3-64-2"), rlscale::error);
    (void)net.forward_batch(Eigen::MatrixXd::Zero(3, 2), bbuf);
    mlp<double>::gradient wide_grad(wide);
    CHECK_THROWS_WITH_AS(wide.backward(bbuf, Eigen::MatrixXd::Zero(2, 2), wide_grad),
                         doctest::Contains("made for a 3-4-2 network, this one is 3-64-2"), rlscale::error);
}

TEST_CASE("initialize_layer fills exactly the block it is given, in column-major order") {
    Eigen::MatrixXd m = Eigen::MatrixXd::Constant(4, 4, 9.0);
    Eigen::VectorXd b = Eigen::VectorXd::Constant(4, 9.0);
    auto block = m.block(1, 1, 2, 2);
    auto bias = b.segment(1, 2);
    rng gen(5);
    initialize_layer(init_scheme::he_uniform, block, bias, gen);
    for (Eigen::Index r = 0; r < 4; ++r) {
        for (Eigen::Index c = 0; c < 4; ++c) {
            const bool inside = r >= 1 && r <= 2 && c >= 1 && c <= 2;
            CAPTURE(r);
            CAPTURE(c);
            CHECK((m(r, c) != 9.0) == inside);
        }
    }
    // The same draws, in the same order, as a matrix of its own.
    Eigen::MatrixXd own = Eigen::MatrixXd::Zero(2, 2);
    Eigen::VectorXd own_bias = Eigen::VectorXd::Zero(2);
    rng again(5);
    initialize_layer(init_scheme::he_uniform, own, own_bias, again);
    CHECK(Eigen::MatrixXd(m.block(1, 1, 2, 2)) == own);
}

TEST_CASE("mlp gradient check: one layer, each activation") {
    for (auto act : {activation::identity, activation::relu, activation::tanh}) {
        CAPTURE(to_string(act));
        mlp<double> layer(std::vector<layer_spec>{{5, 4, act}});
        check_network_gradients(layer, 3, 17);
    }
}

TEST_CASE("mlp gradient check: a whole 3-layer MLP, ReLU and tanh hidden layers, input gradient included") {
    SUBCASE("ReLU") {
        mlp<double> net({4, 6, 5, 3}, activation::relu);
        check_network_gradients(net, 5, 23);
    }
    SUBCASE("tanh with a tanh output") {
        mlp<double> net({4, 6, 5, 3}, activation::tanh, activation::tanh);
        check_network_gradients(net, 5, 29);
    }
    SUBCASE("batch of one") {
        mlp<double> net({7, 8, 8, 9});
        check_network_gradients(net, 1, 31);
    }
}

TEST_CASE("backward overwrites the gradient instead of accumulating") {
    rng gen(5);
    mlp<double> net({3, 4, 2});
    net.initialize(init_scheme::torch_default, gen);
    mlp<double>::batch_buffer buf(net, 4);
    mlp<double>::gradient grad(net);
    const Eigen::MatrixXd x = Eigen::MatrixXd::Constant(3, 4, 0.5);
    const Eigen::MatrixXd dy = Eigen::MatrixXd::Ones(2, 4);
    static_cast<void>(net.forward_batch(x, buf));
    net.backward(buf, dy, grad);
    const Eigen::VectorXd first = grad.values();
    net.backward(buf, dy, grad);
    CHECK(grad.values() == first);
}

TEST_CASE("initialisation schemes draw from their documented distributions") {
    rng gen(99);
    const Eigen::Index fan_in = 200;
    const Eigen::Index fan_out = 300;
    mlp<double> net(std::vector<layer_spec>{{fan_in, fan_out, activation::relu}});
    const auto w = net.weight(0);
    const double n = static_cast<double>(w.size());
    const auto variance = [&] { return w.array().square().sum() / n; };

    net.initialize(init_scheme::torch_default, gen);
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    CHECK(w.cwiseAbs().maxCoeff() <= bound);
    CHECK(net.bias(0).cwiseAbs().maxCoeff() <= bound);
    CHECK(net.bias(0).cwiseAbs().maxCoeff() > 0.0);
    CHECK(variance() == doctest::Approx(bound * bound / 3).epsilon(0.03));  // U(-b, b): b²/3

    net.initialize(init_scheme::he_normal, gen);
    CHECK(variance() == doctest::Approx(2.0 / fan_in).epsilon(0.03));
    CHECK(net.bias(0).isZero());

    net.initialize(init_scheme::he_uniform, gen);
    CHECK(variance() == doctest::Approx(2.0 / fan_in).epsilon(0.03));

    net.initialize(init_scheme::xavier_uniform, gen);
    CHECK(variance() == doctest::Approx(2.0 / (fan_in + fan_out)).epsilon(0.03));

    net.initialize(init_scheme::xavier_normal, gen);
    CHECK(variance() == doctest::Approx(2.0 / (fan_in + fan_out)).epsilon(0.03));
}

TEST_CASE("initialisation is reproducible from the seed") {
    mlp<float> a({7, 128, 128, 9});
    mlp<float> b({7, 128, 128, 9});
    rng ga(2024);
    rng gb(2024);
    a.initialize(init_scheme::torch_default, ga);
    b.initialize(init_scheme::torch_default, gb);
    CHECK(a.parameters() == b.parameters());
    rng gc(2025);
    b.initialize(init_scheme::torch_default, gc);
    CHECK(a.parameters() != b.parameters());
}

TEST_CASE_TEMPLATE("single-input forward is exact for every output width, including the narrow tail blocks", T, float,
                   double) {
    // The kernel takes rows in blocks of 8, 4, 2 and 1 vector registers, then
    // a 5- to 7-row tail as one 8-row block or a 1- to 3-row tail as one
    // 4-row block, both reading into the bias; every width from 1 to 40 and
    // several input widths cover each combination of blocks.
    rng gen(41);
    for (Eigen::Index out = 1; out <= 40; ++out) {
        for (Eigen::Index in : {1, 3, 7, 9, 64}) {
            CAPTURE(out);
            CAPTURE(in);
            mlp<T> layer(std::vector<layer_spec>{{in, out, activation::identity}});
            layer.initialize(init_scheme::torch_default, gen);
            Eigen::Matrix<T, Eigen::Dynamic, 1> x(in);
            for (Eigen::Index i = 0; i < in; ++i) x[i] = static_cast<T>(rlscale::uniform(gen, -1, 1));
            typename mlp<T>::inference_buffer buf(layer);
            const Eigen::Matrix<T, Eigen::Dynamic, 1> y = layer.forward(x, buf);
            const Eigen::Matrix<T, Eigen::Dynamic, 1> expected = layer.weight(0) * x + layer.bias(0);
            const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
            REQUIRE(y.size() == out);
            CHECK(rlscale::test::relative_error(y, expected) < tol);
        }
    }
}

TEST_CASE("input_gradient alone equals backward's dx, from any first input") {
    rng gen(21);
    // A wide first layer (its input gradient through Eigen's product) and a
    // narrow one (small_input_gradient where the buffer's
    // kernel_columns allow, else Eigen's): both paths of the first layer's
    // input gradient, on batches within and beyond 10 samples.
    for (const auto& sizes : {std::vector<Eigen::Index>{43, 40, 1}, std::vector<Eigen::Index>{13, 5, 1}}) {
        std::vector<layer_spec> layers{{sizes[0], sizes[1], activation::relu}, {sizes[1], sizes[2], activation::identity}};
        mlp<double> net(layers);
        net.initialize(init_scheme::torch_default, gen);
        for (const Eigen::Index n : {5, 64}) {
            for (const Eigen::Index columns : {Eigen::Index{0}, Eigen::Index{64}}) {
                CAPTURE(sizes[0]);
                CAPTURE(n);
                CAPTURE(columns);
                Eigen::MatrixXd x(sizes[0], n);
                for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rlscale::uniform(gen, -1, 1);
                const Eigen::MatrixXd dy = Eigen::MatrixXd::Constant(1, n, 0.25);
                mlp<double>::batch_buffer buf(net, n, matmul_precision::full, columns);
                static_cast<void>(net.forward_batch(x, buf));
                mlp<double>::gradient grad(net);
                Eigen::MatrixXd dx(sizes[0], n);
                net.backward(buf, dy, grad, dx);
                for (const Eigen::Index first : {Eigen::Index{0}, Eigen::Index{1}, sizes[0] - 3}) {
                    CAPTURE(first);
                    Eigen::MatrixXd part(sizes[0] - first, n);
                    net.input_gradient(buf, dy, part, first);
                    CHECK(rlscale::test::relative_error(part, dx.bottomRows(sizes[0] - first)) < 1e-14);
                }
            }
        }
        // bf16 products: the first layer's narrower product gives the same rows.
        mlp<float> fnet(layers);
        fnet.initialize(init_scheme::torch_default, gen);
        const Eigen::MatrixXf fx = Eigen::MatrixXf::Random(sizes[0], 64);
        const Eigen::MatrixXf fdy = Eigen::MatrixXf::Constant(1, 64, 0.25F);
        mlp<float>::batch_buffer fbuf(fnet, 64, matmul_precision::bf16);
        static_cast<void>(fnet.forward_batch(fx, fbuf));
        mlp<float>::gradient fgrad(fnet);
        Eigen::MatrixXf fdx(sizes[0], 64);
        fnet.backward(fbuf, fdy, fgrad, fdx);
        Eigen::MatrixXf fpart(3, 64);
        fnet.input_gradient(fbuf, fdy, fpart, sizes[0] - 3);
        CHECK(rlscale::test::relative_error(fpart, fdx.bottomRows(3)) < 1e-6);

        mlp<double>::batch_buffer buf(net, 4);
        static_cast<void>(net.forward_batch(Eigen::MatrixXd::Zero(sizes[0], 4), buf));
        Eigen::MatrixXd wrong(3, 4);
        const std::string wrong_rows = "mlp::input_gradient: dx is 3 × 4, expected " + std::to_string(sizes[0] - 1) + " × 4";
        CHECK_THROWS_WITH_AS(net.input_gradient(buf, Eigen::MatrixXd::Zero(1, 4), wrong, 1),
                             doctest::Contains(wrong_rows.c_str()), rlscale::error);
        Eigen::MatrixXd none(0, 4);
        const std::string bad_first = "mlp::input_gradient: first is " + std::to_string(sizes[0]);
        CHECK_THROWS_WITH_AS(net.input_gradient(buf, Eigen::MatrixXd::Zero(1, 4), none, sizes[0]),
                             doctest::Contains(bad_first.c_str()), rlscale::error);
        Eigen::MatrixXd last(1, 4);
        CHECK_THROWS_WITH_AS(net.input_gradient(buf, Eigen::MatrixXd::Zero(2, 4), last, sizes[0] - 1),
                             doctest::Contains("mlp::input_gradient: dy is 2 × 4"), rlscale::error);
    }
}

TEST_CASE("backward over a range of inputs writes those rows of dx and the same parameter gradient") {
    rng gen(27);
    mlp<double> net(std::vector<layer_spec>{{43, 40, activation::relu}, {40, 1, activation::identity}});
    net.initialize(init_scheme::torch_default, gen);
    for (const Eigen::Index n : {5, 64}) {
        for (const Eigen::Index columns : {Eigen::Index{0}, Eigen::Index{64}}) {
            CAPTURE(n);
            CAPTURE(columns);
            Eigen::MatrixXd x(43, n);
            for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rlscale::uniform(gen, -1, 1);
            Eigen::MatrixXd dy(1, n);
            for (Eigen::Index i = 0; i < n; ++i) dy(0, i) = rlscale::uniform(gen, -1, 1);
            mlp<double>::batch_buffer buf(net, n, matmul_precision::full, columns);
            static_cast<void>(net.forward_batch(x, buf));
            mlp<double>::gradient whole(net);
            Eigen::MatrixXd dx(43, n);
            net.backward(buf, dy, whole, dx);
            for (const auto& range : {std::pair<Eigen::Index, Eigen::Index>{0, 40}, {0, 43}, {40, 3}, {5, 1}}) {
                const Eigen::Index first = range.first;
                const Eigen::Index count = range.second;
                CAPTURE(first);
                CAPTURE(count);
                mlp<double>::gradient part_grad(net);
                Eigen::MatrixXd part(count, n);
                net.backward(buf, dy, part_grad, part, first, count);
                CHECK(rlscale::test::relative_error(part, dx.middleRows(first, count)) < 1e-14);
                CHECK((part_grad.values().array() == whole.values().array()).all());
            }
        }
    }
    mlp<double>::batch_buffer buf(net, 4);
    static_cast<void>(net.forward_batch(Eigen::MatrixXd::Zero(43, 4), buf));
    mlp<double>::gradient grad(net);
    const Eigen::MatrixXd dy = Eigen::MatrixXd::Zero(1, 4);
    Eigen::MatrixXd forty(40, 4);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, forty, 4, 40),
                         doctest::Contains("mlp::backward: count is 40, expected 1 to 39 (inputs 4 to 42)"), rlscale::error);
    Eigen::MatrixXd one(1, 4);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, one, 43, 1),
                         doctest::Contains("mlp::backward: first is 43, expected an input in [0, 43)"), rlscale::error);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, forty, -1, 40),
                         doctest::Contains("mlp::backward: first is -1, expected an input in [0, 43)"), rlscale::error);
    Eigen::MatrixXd none(0, 4);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, none, 0, 0), doctest::Contains("mlp::backward: count is 0"),
                         rlscale::error);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, forty, 0, 39),
                         doctest::Contains("mlp::backward: dx is 40 × 4, expected 39 × 4 (inputs 0 to 38 of the last forward_batch)"),
                         rlscale::error);
    // The whole dL/dx: the same check, for every input.
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, forty),
                         doctest::Contains("mlp::backward: dx is 40 × 4, expected 43 × 4 (inputs 0 to 42 of the last forward_batch)"),
                         rlscale::error);
    Eigen::MatrixXd narrow(43, 3);
    CHECK_THROWS_WITH_AS(net.backward(buf, dy, grad, narrow), doctest::Contains("mlp::backward: dx is 43 × 3, expected 43 × 4"),
                         rlscale::error);
}

}  // namespace test_nn_mlp
