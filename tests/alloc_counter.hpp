#pragma once

#include <cstddef>

namespace rlscale::test {

/// Allocations (malloc, calloc, realloc, aligned allocations, and so
/// operator new and Eigen) made by this executable so far.
long allocation_count() noexcept;

/// From now on, every allocation of more than `bytes` fails (malloc returns
/// null with ENOMEM, so operator new throws std::bad_alloc); 0 turns this
/// off. For tests of what an allocation failure leaves behind.
void fail_allocations_over(std::size_t bytes) noexcept;

}  // namespace rlscale::test
