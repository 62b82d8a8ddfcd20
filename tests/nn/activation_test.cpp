#include <rlscale/nn/activation.hpp>

#include "../test_util.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

namespace test_nn_activation {

using namespace rlscale::nn;

namespace {
double apply(activation a, double x) {
    Eigen::Matrix<double, 1, 1> v;
    v << x;
    activate(a, v);
    return v[0];
}
}  // namespace

TEST_CASE("activations compute identity, ReLU and tanh") {
    CHECK(apply(activation::identity, -1.5) == -1.5);
    CHECK(apply(activation::relu, -1.5) == 0.0);
    CHECK(apply(activation::relu, 2.0) == 2.0);
    CHECK(apply(activation::tanh, 0.5) == doctest::Approx(std::tanh(0.5)));
}

TEST_CASE("activation names round-trip and unknown names are rejected with the name") {
    for (auto a : {activation::identity, activation::relu, activation::tanh}) {
        CHECK(activation_from_string(to_string(a)) == a);
    }
    CHECK_THROWS_WITH_AS(static_cast<void>(activation_from_string("sigmoid", "layers[0].activation")),
                         doctest::Contains("layers[0].activation: unknown activation \"sigmoid\""),
                         rlscale::config_error);
}

TEST_CASE("activation_backward matches finite differences for every activation") {
    // Points away from ReLU's kink at 0, where the derivative is undefined.
    Eigen::VectorXd x(8);
    x << -2.1, -0.7, -0.31, -0.05, 0.04, 0.29, 0.9, 1.7;
    for (auto a : {activation::identity, activation::relu, activation::tanh}) {
        CAPTURE(to_string(a));
        Eigen::VectorXd y = x;
        activate(a, y);
        Eigen::VectorXd delta = Eigen::VectorXd::Ones(x.size());
        activation_backward(a, delta, y);
        Eigen::VectorXd numeric(x.size());
        const double h = 1e-6;
        for (Eigen::Index i = 0; i < x.size(); ++i) {
            numeric[i] = (apply(a, x[i] + h) - apply(a, x[i] - h)) / (2 * h);
        }
        CHECK(rlscale::test::relative_error(delta, numeric) < 1e-6);
    }
}

namespace {
template <typename T>
auto bits(T v) {
    if constexpr (sizeof(T) == 4) {
        return std::bit_cast<std::uint32_t>(v);
    } else {
        return std::bit_cast<std::uint64_t>(v);
    }
}
}  // namespace

TEST_CASE_TEMPLATE("the contiguous activations equal the expressions bit for bit, at every length and alignment", T, float, double) {
    // The single-input forward passes apply tanh through
    // detail::tanh_contiguous; training applies the expression. Both must
    // give the same bits, or a served network would not be the trained one.
#ifdef EIGEN_VECTORIZE
    if constexpr (std::is_same_v<T, float>) {
        // Otherwise the test would compare the expression with itself.
        REQUIRE(Eigen::internal::packet_traits<float>::HasTanh);
        REQUIRE(Eigen::internal::packet_traits<float>::size > 1);
    }
#endif
    const T inf = std::numeric_limits<T>::infinity();
    const std::vector<T> special = {T(0),      T(-0.0),   T(1e-30),  T(-1e-30), T(3.9e-4), T(4e-4), T(-4.1e-4),
                                    T(7.9),    T(-7.9),   T(7.99),   T(8),      T(-9),     T(100),  T(-1e30),
                                    inf,       -inf,      std::numeric_limits<T>::denorm_min(),
                                    std::numeric_limits<T>::quiet_NaN()};
    std::mt19937 gen(11);
    std::uniform_real_distribution<T> wide(T(-10), T(10));
    std::uniform_real_distribution<T> narrow(T(-0.01), T(0.01));
    constexpr int max_len = 200;
    constexpr int max_offset = 16;
    constexpr int guard = 8;  // values past the end, which must stay as they were
    const T sentinel = T(1234.5);
    alignas(64) T expr[max_len + max_offset + guard];
    alignas(64) T fast[max_len + max_offset + guard];
    for (const activation a : {activation::tanh, activation::relu, activation::identity}) {
        for (int n = 1; n <= max_len; ++n) {
            for (int offset = 0; offset < max_offset; ++offset) {
                CAPTURE(to_string(a));
                CAPTURE(n);
                CAPTURE(offset);
                std::fill(std::begin(fast), std::end(fast), sentinel);
                for (int i = 0; i < n; ++i) {
                    const int k = (n * 7 + offset * 3 + i) % 64;
                    const T v = k < static_cast<int>(special.size()) ? special[k] : (k % 2 == 0 ? wide(gen) : narrow(gen));
                    expr[offset + i] = fast[offset + i] = v;
                }
                Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> e(expr + offset, n);
                activate(a, e);
                activate(a, fast + offset, n);
                int differing = 0;
                for (int i = 0; i < n; ++i) differing += bits(expr[offset + i]) != bits(fast[offset + i]);
                CHECK(differing == 0);
                int overwritten = 0;
                for (int i = 0; i < max_len + max_offset + guard; ++i) {
                    if (i < offset || i >= offset + n) overwritten += bits(fast[i]) != bits(sentinel);
                }
                CHECK(overwritten == 0);
            }
        }
    }
}

TEST_CASE("Eigen's float tanh gives the same bits in a register as alone, on 1 in 256 of all floats") {
    // tanh_contiguous takes whole registers through the packet function
    // and the rest through the expression, whose loop may take a value
    // alone (when a vector does not start on a register boundary). This is
    // why that split cannot change a value. Every 256th bit pattern, with
    // a varying low byte so the mantissa's low bits are covered too.
    using packet = Eigen::internal::packet_traits<float>::type;
    constexpr int P = Eigen::internal::packet_traits<float>::size;
    alignas(64) float in[P];
    alignas(64) float out[P];
    std::uint64_t differing = 0;
    std::uint64_t checked = 0;
    for (std::uint64_t base = 0; base < (std::uint64_t{1} << 32); base += 256 * P) {
        for (int k = 0; k < P; ++k) {
            in[k] = std::bit_cast<float>(static_cast<std::uint32_t>(base + 256 * static_cast<std::uint64_t>(k) + ((base >> 12) & 255)));
        }
        Eigen::internal::pstore(out, Eigen::internal::ptanh(Eigen::internal::pload<packet>(in)));
        for (int k = 0; k < P; ++k) {
            if (std::isnan(in[k])) continue;
            ++checked;
            differing += std::bit_cast<std::uint32_t>(Eigen::numext::tanh(in[k])) != std::bit_cast<std::uint32_t>(out[k]);
        }
    }
    CHECK(checked > 16'000'000);
    CHECK(differing == 0);
}

}  // namespace test_nn_activation
