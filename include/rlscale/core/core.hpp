#pragma once

/// Types shared by every part of rlscale: errors, the seeded generator, concepts.

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/ziggurat.hpp>
