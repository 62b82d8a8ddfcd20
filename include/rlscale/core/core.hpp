#pragma once

/// Types and primitives shared by every part of rlscale: errors and field
/// checks, the seeded generator, concepts, the control-loop primitives, the
/// downscale stabiliser, and the HTTP helpers the adapters use (URLs, answer
/// bounds, request deadlines).

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/http_body.hpp>
#include <rlscale/core/http_url.hpp>
#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/request_deadline.hpp>
#include <rlscale/core/reserved_vector.hpp>
#include <rlscale/core/saturating.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/watchdog.hpp>
#include <rlscale/core/ziggurat.hpp>
