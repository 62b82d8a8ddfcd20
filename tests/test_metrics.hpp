#pragma once

// Metrics shared by the policy tests.

#include <rlscale/core/function_metrics.hpp>

namespace rlscale::test {

/// One healthy interval: 150 requests in 15 s, all served well within a 1 s
/// SLO, at `cpu` utilisation on 4 ready replicas.
inline function_metrics healthy(double cpu = 0.5) {
    function_metrics m;
    m.interval_s = 15;
    m.arrivals = m.completions = 150;
    m.throughput_rps = 10;
    m.latency_mean_s = 0.1;
    m.latency = {0.1, 0.2, 0.25, 0.3, 0.4};
    m.cpu_utilization = cpu;
    m.memory_utilization = 0.3;
    m.cpu_limit = 1;
    m.memory_limit_mb = 256;
    m.ready_replicas = 4;
    return m;
}

}  // namespace rlscale::test
