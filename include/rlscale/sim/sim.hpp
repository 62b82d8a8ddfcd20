#pragma once

/// The cluster simulator: a request-level discrete-event model of a node
/// pool and a tick-level model of the same pool (one interface over both:
/// sim::simulation), function profiles, workloads and Azure 2019 trace
/// replay, the Gymnasium-style environment over them, and the tick-level
/// model's validation grid.

#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/env.hpp>
#include <rlscale/sim/function_profile.hpp>
#include <rlscale/sim/latency_sketch.hpp>
#include <rlscale/sim/model_validation.hpp>
#include <rlscale/sim/scenario.hpp>
#include <rlscale/sim/service_time.hpp>
#include <rlscale/sim/simulation.hpp>
#include <rlscale/sim/tick_cluster.hpp>
#include <rlscale/sim/workload.hpp>
