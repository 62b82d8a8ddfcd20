// Uses the installed Prometheus and Kubernetes adapters (find_package with
// COMPONENTS prometheus kubernetes) and a learned policy through the registry.
// The adapters first, on purpose: they must stand before any other rlscale header.
#include <rlscale/kubernetes/kubernetes.hpp>
#include <rlscale/prometheus/prometheus.hpp>
#include <rlscale/policy/registry.hpp>

#include <cstdio>

int main() {
    const std::string cpu = rlscale::kubernetes::format_cpu(1500);
    const double v = rlscale::prometheus::parse_sample_value("0.25", "value");
    rlscale::any_policy hpa = rlscale::make_baseline("hpa-60");
    std::printf("adapters: cpu %s, sample %.2f, hpa ready %d\n", cpu.c_str(), v, hpa.ready() ? 1 : 0);
    return cpu == "1500m" && v == 0.25 && hpa.ready() ? 0 : 1;
}
