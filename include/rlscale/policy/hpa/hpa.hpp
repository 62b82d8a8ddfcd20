#pragma once

/// The Kubernetes Horizontal Pod Autoscaler in namespace rlscale::hpa, all of
/// it: inputs and metric specs, configuration, the replica calculator, the
/// rate limits and stabilisation, and the controller. The rlscale `policy`
/// adapter is rlscale::hpa_policy (<rlscale/policy/hpa_policy.hpp>). See
/// docs/hpa.md.

#include <rlscale/policy/hpa/config.hpp>
#include <rlscale/policy/hpa/controller.hpp>
#include <rlscale/policy/hpa/rate_limits.hpp>
#include <rlscale/policy/hpa/replica_calculator.hpp>
#include <rlscale/policy/hpa/rounding.hpp>
#include <rlscale/policy/hpa/types.hpp>
