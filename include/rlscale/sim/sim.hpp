#pragma once

/// The cluster simulator: a request-level discrete-event model of a node
/// pool, function profiles, workloads and Azure 2019 trace replay, and the
/// Gymnasium-style environment over it.

#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/env.hpp>
#include <rlscale/sim/simulation.hpp>
#include <rlscale/sim/tick_cluster.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/latency_sketch.hpp>
#include <rlscale/sim/service_time.hpp>
#include <rlscale/sim/workload.hpp>
