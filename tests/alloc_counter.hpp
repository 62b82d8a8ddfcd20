#pragma once

namespace rlscale::test {

/// Allocations (malloc, calloc, realloc, aligned allocations, and so
/// operator new and Eigen) made by this executable so far.
long allocation_count() noexcept;

}  // namespace rlscale::test
