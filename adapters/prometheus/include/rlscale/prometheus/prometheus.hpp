#pragma once

/// rlscale::prometheus: a Prometheus HTTP API client and a metrics source
/// that fills rlscale::function_metrics from PromQL.
#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/errors.hpp>
#include <rlscale/prometheus/metrics_source.hpp>
#include <rlscale/prometheus/response.hpp>
