// The single-input kernel of nn/detail/gemv.hpp on its own: the over-read
// it documents (at most 3 values past W, which an mlp's bias covers) with W
// in an allocation of exactly that size, so the sanitizer build catches a
// read beyond it; and the narrow tails computed as one wider block equal
// the narrower blocks they replace, bit for bit (each output lane sums the
// same products in the same order whatever the block's height).
#include <rlscale/core/random.hpp>
#include <rlscale/nn/detail/gemv.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace test_nn_gemv {

using namespace rlscale;
using namespace rlscale::nn::detail;

namespace {

template <typename T>
std::vector<T> random_values(std::size_t n, rng& gen) {
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(uniform(gen, -1, 1));
    return v;
}

}  // namespace

TEST_CASE_TEMPLATE("gemv_bias reads at most 3 values past W and equals the product", T, float, double) {
    rng gen(5);
    for (Eigen::Index out = 1; out <= 40; ++out) {
        for (const Eigen::Index in : {1, 2, 3, 5, 7, 8, 9, 17, 64}) {
            CAPTURE(out);
            CAPTURE(in);
            // W alone in its own heap block of out · in + 3 values; the bias elsewhere.
            const auto size = static_cast<std::size_t>(out * in);
            const std::unique_ptr<T[]> w(new T[size + 3]);
            const std::vector<T> values = random_values<T>(size + 3, gen);
            std::memcpy(w.get(), values.data(), (size + 3) * sizeof(T));
            const std::vector<T> b = random_values<T>(static_cast<std::size_t>(out), gen);
            const std::vector<T> x = random_values<T>(static_cast<std::size_t>(in), gen);
            std::vector<T> y(static_cast<std::size_t>(out) + 1, T(7));
            gemv_bias(w.get(), out, in, x.data(), b.data(), y.data());
            CHECK(y.back() == T(7));  // nothing written past out
            for (Eigen::Index i = 0; i < out; ++i) {
                double expected = static_cast<double>(b[static_cast<std::size_t>(i)]);
                for (Eigen::Index j = 0; j < in; ++j) {
                    expected += static_cast<double>(w[static_cast<std::size_t>(j * out + i)]) * static_cast<double>(x[static_cast<std::size_t>(j)]);
                }
                CHECK(static_cast<double>(y[static_cast<std::size_t>(i)]) == doctest::Approx(expected).epsilon(1e-5));
            }
        }
    }
}

TEST_CASE("gemv_rows: a block's height does not change any output lane's bits") {
    // gemv_bias takes a 5- to 7-row tail as one 8-row block; the same rows
    // as 4-row blocks (as before) or as one 8-row block must agree exactly.
    rng gen(9);
    for (const Eigen::Index out : {5, 6, 7, 13, 23}) {
        for (const Eigen::Index in : {1, 7, 23, 64, 65}) {
            CAPTURE(out);
            CAPTURE(in);
            const std::vector<float> w = random_values<float>(static_cast<std::size_t>(out * in + out + 8), gen);
            const float* b = w.data() + out * in;
            const std::vector<float> x = random_values<float>(static_cast<std::size_t>(in), gen);
            const Eigen::Index i0 = out - (out % 8 == 0 ? 8 : out % 8);  // the tail's first row
            const auto tail = static_cast<int>(out - i0);
            std::vector<float> wide(static_cast<std::size_t>(out), 0.0F);
            std::vector<float> narrow(static_cast<std::size_t>(out), 0.0F);
            gemv_rows<8, 8>(w.data(), out, in, x.data(), b, wide.data(), i0, tail);
            gemv_rows<4, 8>(w.data(), out, in, x.data(), b, narrow.data(), i0, std::min(tail, 4));
            if (tail > 4) gemv_rows<4, 8>(w.data(), out, in, x.data(), b, narrow.data(), i0 + 4, tail - 4);
            CHECK(std::memcmp(wide.data(), narrow.data(), wide.size() * sizeof(float)) == 0);
        }
    }
}

}  // namespace test_nn_gemv
