#pragma once

// The worker pool moved to core (rl::train runs environments on it too);
// this name is kept for the multi-agent trainer and its tests.
#include <rlscale/core/detail/worker_pool.hpp>

namespace rlscale::multiagent::detail {

using rlscale::detail::worker_pool;

}  // namespace rlscale::multiagent::detail
