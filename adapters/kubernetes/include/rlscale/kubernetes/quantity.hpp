#pragma once

#include <cstdint>
#include <string>

#include <rlscale/core/error.hpp>

namespace rlscale::kubernetes {

/// Largest CPU quantity accepted, in millicores (one million cores). Guards
/// against a unit mistake turning into an absurd request.
inline constexpr std::int64_t max_cpu_millicores = 1'000'000'000;
/// Largest memory quantity accepted, in bytes (1 PiB).
inline constexpr std::int64_t max_memory_bytes = std::int64_t{1} << 50;

/// CPU in millicores as a Kubernetes quantity: whole cores as "2", otherwise
/// millicores as "500m". Throws config_error naming `field` unless
/// 0 < millicores <= max_cpu_millicores.
[[nodiscard]] inline std::string format_cpu(std::int64_t millicores, const std::string& field = "cpu") {
    if (millicores <= 0 || millicores > max_cpu_millicores) {
        throw config_error(field, "CPU must be in (0, " + std::to_string(max_cpu_millicores) +
                                      "] millicores, got " + std::to_string(millicores));
    }
    if (millicores % 1000 == 0) return std::to_string(millicores / 1000);
    return std::to_string(millicores) + "m";
}

/// Memory in bytes as a Kubernetes quantity with the largest exact binary
/// suffix: "1Gi", "256Mi", "64Ki", else plain bytes "1000". Throws
/// config_error naming `field` unless 0 < bytes <= max_memory_bytes.
[[nodiscard]] inline std::string format_memory(std::int64_t bytes, const std::string& field = "memory") {
    if (bytes <= 0 || bytes > max_memory_bytes) {
        throw config_error(field, "memory must be in (0, " + std::to_string(max_memory_bytes) + "] bytes, got " +
                                      std::to_string(bytes));
    }
    constexpr std::int64_t ki = 1024;
    constexpr std::int64_t mi = ki * 1024;
    constexpr std::int64_t gi = mi * 1024;
    constexpr std::int64_t ti = gi * 1024;
    if (bytes % ti == 0) return std::to_string(bytes / ti) + "Ti";
    if (bytes % gi == 0) return std::to_string(bytes / gi) + "Gi";
    if (bytes % mi == 0) return std::to_string(bytes / mi) + "Mi";
    if (bytes % ki == 0) return std::to_string(bytes / ki) + "Ki";
    return std::to_string(bytes);
}

}  // namespace rlscale::kubernetes
