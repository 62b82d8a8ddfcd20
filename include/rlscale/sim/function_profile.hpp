#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/sim/service_time.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rlscale::sim {

/// One function's behaviour in the simulator. The engine runs a request in
/// service on a replica with k requests in service at speed
/// min(1, cpu_limit / (k·cpu_demand)), slowed further by cores/demand when the
/// node's busy demand exceeds its cores (processor sharing); `service` is the
/// time at speed 1. Numbers and sources of the built-in profiles: docs/simulator.md,
/// "Function profiles and service times".
struct function_profile {
    std::string name{};             ///< e.g. "fibonacci-python"
    service_time service{};         ///< execution time of one request at full CPU (unthrottled, alone on its replica)
    double cpu_demand = 1.0;        ///< cores one request in service uses when unthrottled
    double memory_mb = 128;         ///< memory of one replica (requested = limit)
    double cpu_limit = 1.0;         ///< default CPU limit of a replica, in cores
    int concurrency = 1;            ///< requests one replica serves at once (Knative containerConcurrency)
    service_time cold_start{};      ///< time from scale-out until a new replica is ready
    double timeout_s = 30;          ///< a request that waited longer in the queue is dropped (+inf: never)
    double slo_s = 1.0;             ///< latency SLO used by rewards and tests; the paper's percentile is in the docs
    /// Absolute memory model (0 = off): MB a replica holds when idle. When
    /// set, the memory used no longer scales with the limit, and a replica
    /// serves at most floor((limit − working set) / memory_per_request_mb)
    /// requests at once (at least 1, at most `concurrency`): too small a
    /// memory limit costs concurrency, the way a memory-starved runtime
    /// admits fewer requests. Off, a replica uses
    /// cluster_config::idle_memory_fraction of its limit when idle and the
    /// rest when all its concurrency is in use.
    double memory_working_set_mb = 0;
    double memory_per_request_mb = 0;  ///< absolute memory model: MB one request in service adds

    /// Requests a replica serves at once under a memory limit of `limit_mb`.
    [[nodiscard]] int concurrency_at(double limit_mb) const noexcept {
        if (memory_working_set_mb <= 0 || memory_per_request_mb <= 0) return concurrency;
        const double fit = std::floor((limit_mb - memory_working_set_mb) / memory_per_request_mb);
        return static_cast<int>(std::clamp(fit, 1.0, static_cast<double>(concurrency)));
    }

    /// Throws config_error naming the first bad field and its value, under
    /// `prefix` (e.g. "function_profile.concurrency"; a cluster passes
    /// "functions[2].profile").
    void validate(const std::string& prefix = "function_profile") const {
        check_fields(prefix)
            .require(!name.empty(), "name", "not be empty", "\"\"")
            .greater("cpu_demand", cpu_demand, 0)
            // The least limits a cluster sets (set_cpu_limit and
            // set_memory_limit clamp to them): a smaller one would hold
            // only until the first resize, which could not set it again.
            .at_least("memory_mb", memory_mb, 1)
            .at_least("cpu_limit", cpu_limit, 0.01)
            .at_least("concurrency", concurrency, 1)
            .require(timeout_s > 0, "timeout_s", "be > 0 (+inf for no timeout)", timeout_s)
            .greater("slo_s", slo_s, 0)
            .at_least("memory_working_set_mb", memory_working_set_mb, 0)
            .at_least("memory_per_request_mb", memory_per_request_mb, 0);
    }

    /// Equal in every field.
    friend bool operator==(const function_profile&, const function_profile&) = default;
};

namespace detail {

/// Φ⁻¹(0.99): a lognormal's p99 is median·exp(z99·sigma).
inline constexpr double z99 = 2.3263478740408408;

/// The lognormal with the given 99th percentile and sigma.
inline service_time lognormal_from_p99(double p99_s, double sigma) {
    return service_time::lognormal(p99_s / std::exp(z99 * sigma), sigma);
}

/// Start-up of a Kubernetes pod whose images are cached: median 2 s and p99 5 s,
/// the upstream pod-startup SLO (assumption; the papers give no figure).
inline service_time kubernetes_pod_start() { return lognormal_from_p99(5.0, std::log(5.0 / 2.0) / z99); }

/// An OpenWhisk cold start (docker run + /init of a Python or Java action):
/// median 0.8 s, sigma 0.4, so p99 about 2 s (assumption; SIMPPO gives no figure).
inline service_time openwhisk_cold_start() { return service_time::lognormal(0.8, 0.4); }

/// SCARLET §5.1: vSwarm's fibonacci-python (a gRPC server with one worker thread,
/// fib(x) for x in 1..10), p90 SLA 1 s.
inline function_profile fibonacci_python() {
    return {.name = "fibonacci-python",
            .service = service_time::lognormal(0.001, 0.3),
            .cpu_demand = 1.0,
            .memory_mb = 200,
            .cpu_limit = 0.5,
            .concurrency = 1,
            .cold_start = kubernetes_pod_start(),
            .timeout_s = 30,
            .slo_s = 1.0};
}

/// SCARLET §5.1: DeathStarBench's hotel-app geo service in vSwarm (Go, nearest
/// hotels from an in-memory index), p90 SLA 2.5 s.
inline function_profile hotel_app_geo() {
    return {.name = "hotel-app-geo",
            .service = service_time::lognormal(0.002, 0.4),
            .cpu_demand = 0.8,
            .memory_mb = 20,
            .cpu_limit = 0.25,
            .concurrency = 100,
            .cold_start = kubernetes_pod_start(),
            .timeout_s = 30,
            .slo_s = 2.5};
}

/// SCARLET §5.1: DeathStarBench's hotel-app profile service in vSwarm (Go,
/// memcached then MongoDB lookups), p90 SLA 10 s.
inline function_profile hotel_app_profile() {
    return {.name = "hotel-app-profile",
            .service = service_time::lognormal(0.003, 0.5),
            .cpu_demand = 0.5,
            .memory_mb = 1024,
            .cpu_limit = 1.0,
            .concurrency = 100,
            .cold_start = kubernetes_pod_start(),
            .timeout_s = 30,
            .slo_s = 10.0};
}

/// SIMPPO §4: a CPU-intensive function like Image-Resize; p99 SLO = 1.15 × isolated p99.
inline function_profile cpu_bound() {
    return {.name = "cpu-bound",
            .service = lognormal_from_p99(0.400, 0.25),
            .cpu_demand = 1.0,
            .memory_mb = 256,
            .cpu_limit = 1.0,
            .concurrency = 1,
            .cold_start = openwhisk_cold_start(),
            .timeout_s = 30,
            .slo_s = 1.15 * 0.400};
}

/// SIMPPO §4, §7.2: a memory-intensive function like Markdown2HTML (isolated p99 178.8 ms).
inline function_profile memory_bound() {
    return {.name = "memory-bound",
            .service = lognormal_from_p99(0.1788, 0.4),
            .cpu_demand = 0.8,
            .memory_mb = 512,
            .cpu_limit = 1.0,
            .concurrency = 1,
            .cold_start = openwhisk_cold_start(),
            .timeout_s = 30,
            .slo_s = 1.15 * 0.1788};
}

/// SIMPPO §4, §7.2: an I/O-bound function like Uploader (p99 283.4 ms under SIMPPO,
/// 1.5 % above the isolated baseline, so about 279.2 ms isolated).
inline function_profile io_bound() {
    return {.name = "io-bound",
            .service = lognormal_from_p99(0.2792, 0.6),
            .cpu_demand = 0.2,
            .memory_mb = 128,
            .cpu_limit = 1.0,
            .concurrency = 1,
            .cold_start = openwhisk_cold_start(),
            .timeout_s = 30,
            .slo_s = 1.15 * 0.2792};
}

/// The smallest and largest matrix sizes Polimi's service was run with.
inline constexpr int matmul_min_n = 50;
inline constexpr int matmul_max_n = 350;
/// Fixed cost of one request (Flask handling, JSON of the matrices), in seconds (assumption).
inline constexpr double matmul_overhead_s = 0.005;
/// Mean service time at n = 350, in seconds, calibrated on the Polimi check record.
inline constexpr double matmul_at_350_s = 0.300;
/// Coefficient of variation of a matmul request's service time (assumption).
inline constexpr double matmul_cv = 0.1;

/// Mean service time of one n×n multiplication: overhead + c·n³, c fitted at n = 350.
inline double matmul_mean_s(int n) {
    const double r = static_cast<double>(n) / matmul_max_n;
    return matmul_overhead_s + (matmul_at_350_s - matmul_overhead_s) * r * r * r;
}

/// The named profiles other than matmul-<n>, in profile_names() order.
inline constexpr std::array<std::string_view, 6> fixed_profile_names{
    "fibonacci-python", "hotel-app-geo", "hotel-app-profile", "cpu-bound", "memory-bound", "io-bound"};
/// The matrix sizes of Polimi's tests, listed by profile_names().
inline constexpr std::array<int, 4> listed_matmul_sizes{50, 70, 100, 350};

}  // namespace detail

/// Polimi's matrix-multiplication service with an n×n matrix, 50 <= n <= 350
/// (the range its tests used; anything else throws config_error naming
/// "matrix_multiplication.n"). Named "matmul-<n>"; mean service time
/// 5 ms + 0.295 s·(n/350)³, lognormal with cv 0.1; SLO 1 s on the mean response time.
inline function_profile matrix_multiplication(int n) {
    check_fields("matrix_multiplication")
        .require(n >= detail::matmul_min_n && n <= detail::matmul_max_n, "n",
                 "be in [" + format_number(detail::matmul_min_n) + ", " + format_number(detail::matmul_max_n) +
                     "] (the sizes Polimi's service was run with)",
                 n);
    return {.name = "matmul-" + std::to_string(n),
            .service = service_time::lognormal_from_mean_cv(detail::matmul_mean_s(n), detail::matmul_cv),
            .cpu_demand = 1.0,
            .memory_mb = 256,
            .cpu_limit = 1.0,
            .concurrency = 1,
            .cold_start = detail::kubernetes_pod_start(),
            .timeout_s = 30,
            .slo_s = 1.0};
}

/// The names profile() lists: SCARLET's three functions, SIMPPO's three
/// categories, and matmul-50, -70, -100 and -350 (profile() takes any
/// matmul-<n> with 50 <= n <= 350).
inline std::vector<std::string> profile_names() {
    std::vector<std::string> names(detail::fixed_profile_names.begin(), detail::fixed_profile_names.end());
    for (int n : detail::listed_matmul_sizes) {
        names.push_back("matmul-" + std::to_string(n));
    }
    return names;
}

/// The built-in profile of that name; throws config_error ("profile") listing
/// the known names for an unknown one.
inline function_profile profile(std::string_view name) {
    if (name == "fibonacci-python") return detail::fibonacci_python();
    if (name == "hotel-app-geo") return detail::hotel_app_geo();
    if (name == "hotel-app-profile") return detail::hotel_app_profile();
    if (name == "cpu-bound") return detail::cpu_bound();
    if (name == "memory-bound") return detail::memory_bound();
    if (name == "io-bound") return detail::io_bound();
    constexpr std::string_view matmul_prefix = "matmul-";
    if (name.starts_with(matmul_prefix)) {
        const std::string_view digits = name.substr(matmul_prefix.size());
        int n = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec == std::errc{} && end == digits.data() + digits.size() && !digits.empty()) {
            return matrix_multiplication(n);
        }
    }
    std::string known;
    for (std::string_view known_name : detail::fixed_profile_names) {
        known += std::string(known_name) + ", ";
    }
    known += "matmul-<n> for " + std::to_string(detail::matmul_min_n) + " <= n <= " +
             std::to_string(detail::matmul_max_n);
    throw config_error("profile", "unknown profile \"" + std::string(name) + "\"; known: " + known);
}

}  // namespace rlscale::sim
