#pragma once

/// rlscale: the whole library. Include a folder's umbrella header
/// (e.g. <rlscale/nn/nn.hpp>) or a single component's header to pull in less.

#include <rlscale/version.hpp>
#include <rlscale/core/core.hpp>
#include <rlscale/encode/encode.hpp>
#include <rlscale/lifecycle/lifecycle.hpp>
#include <rlscale/lifecycle/trajectory_store.hpp>
#include <rlscale/multiagent/simppo.hpp>
#include <rlscale/nn/nn.hpp>
#include <rlscale/policy/policy.hpp>
#include <rlscale/reward/reward.hpp>
#include <rlscale/rl/rl.hpp>
#include <rlscale/sim/sim.hpp>
