// The counting allocator behind the *_alloc_test.cpp files. glibc lets a
// program replace malloc and its relatives; both operator new (libstdc++) and
// Eigen's aligned allocator end up in them, so this counts every allocation
// in the executable.
#include "alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace {
std::atomic<long> allocations{0};
std::atomic<std::size_t> fail_over{0};

/// Whether an allocation of `size` bytes is to fail (fail_allocations_over).
bool refused(std::size_t size) noexcept {
    const std::size_t limit = fail_over.load(std::memory_order_relaxed);
    if (limit == 0 || size <= limit) return false;
    errno = ENOMEM;
    return true;
}
}  // namespace

long rlscale::test::allocation_count() noexcept { return allocations.load(); }
void rlscale::test::fail_allocations_over(std::size_t bytes) noexcept { fail_over.store(bytes); }

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (refused(size)) return nullptr;
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (count != 0 && refused(count * size)) return nullptr;
    return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (refused(size)) return nullptr;
    return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (refused(size)) return nullptr;
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (refused(size)) return nullptr;
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (refused(size)) return ENOMEM;
    *out = __libc_memalign(alignment, size);
    return *out != nullptr ? 0 : ENOMEM;
}
void free(void* p) noexcept { __libc_free(p); }
}

