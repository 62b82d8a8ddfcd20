// Proves the hot paths allocate nothing after construction. The counter sits
// under every allocation in this executable: glibc lets a program replace
// malloc and its relatives, and both operator new (libstdc++) and Eigen's
// aligned allocator end up in them.
#include <rlscale/nn/nn.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace {
std::atomic<long> allocations{0};
}  // namespace

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    *out = __libc_memalign(alignment, size);
    return *out != nullptr ? 0 : ENOMEM;
}
void free(void* p) noexcept { __libc_free(p); }
}

using namespace rlscale::nn;

TEST_CASE("the counter sees operator new and Eigen's allocations (so the tests below can fail)") {
    long before = allocations.load();
    auto* p = new int(3);
    CHECK(allocations.load() - before == 1);
    delete p;
    before = allocations.load();
    Eigen::VectorXf v(100);
    CHECK(allocations.load() - before == 1);
    before = allocations.load();
    rlscale::nn::mlp<float> net({2, 3, 1});
    CHECK(net.predict(Eigen::VectorXf::Zero(2)).size() == 1);  // predict() allocates by design
    CHECK(allocations.load() - before >= 3);
}

TEST_CASE("single-input forward allocates nothing after construction") {
    rlscale::rng gen(1);
    mlp<float> net({7, 64, 64, 3});
    net.initialize(init_scheme::torch_default, gen);
    mlp<float>::inference_buffer buf(net);
    Eigen::VectorXf x = Eigen::VectorXf::LinSpaced(7, -1.0F, 1.0F);
    Eigen::Map<const Eigen::VectorXf> x_view(x.data(), x.size());  // a caller's own storage

    const long before = allocations.load();
    float sink = 0;
    for (int i = 0; i < 1000; ++i) {
        x[0] = static_cast<float>(i) * 1e-3F;
        sink += net.forward(x, buf)[0];
        sink += net.forward(x_view, buf)[1];
    }
    const long after = allocations.load();
    CHECK(after - before == 0);
    CHECK(std::isfinite(sink));
}

TEST_CASE("a training step (batch forward, Huber loss, backward, clipping, Adam, soft update) allocates nothing") {
    rlscale::rng gen(2);
    mlp<float> q({7, 128, 128, 9});
    mlp<float> target({7, 128, 128, 9});
    q.initialize(init_scheme::torch_default, gen);
    hard_update(target, q);
    adam<float> opt(q.parameter_count(), adam_config::scarlet());
    mlp<float>::batch_buffer buf(q, 128);
    mlp<float>::gradient grad(q);
    Eigen::MatrixXf x = Eigen::MatrixXf::Random(7, 128);
    Eigen::MatrixXf y_target = Eigen::MatrixXf::Random(9, 128);
    Eigen::MatrixXf dy(9, 128);

    const auto step = [&] {
        const auto y = q.forward_batch(x, buf);
        const float loss = huber_loss(y, y_target, dy);
        q.backward(buf, dy, grad);
        auto g = grad.values();
        clip_grad_norm(g, 10.0F);
        opt.step(q.parameters(), grad.values());
        soft_update(target, q, 0.005F);
        return loss;
    };
    static_cast<void>(step());  // warm-up
    const long before = allocations.load();
    float sink = 0;
    for (int i = 0; i < 20; ++i) {
        sink += step();
    }
    CHECK(allocations.load() - before == 0);
    CHECK(std::isfinite(sink));
}
