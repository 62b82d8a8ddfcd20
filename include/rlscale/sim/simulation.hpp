#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/sim/cluster.hpp>
#include <rlscale/sim/tick_cluster.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

// One interface over the two models of the simulated cluster, chosen per
// environment: the request-level discrete-event model (sim::cluster, every
// request simulated; the reference) and the tick-level model
// (sim::tick_cluster, queueing approximations per sub-step; a cost that does
// not grow with the request rate). docs/simulator.md compares them.

namespace rlscale::sim {

/// Which model simulates the cluster.
enum class sim_model {
    request,  ///< sim::cluster: every request an event
    tick,     ///< sim::tick_cluster: per sub-step queueing approximations
};

/// "request" or "tick".
constexpr std::string_view to_string(sim_model m) noexcept { return m == sim_model::tick ? "tick" : "request"; }

/// Parses "request" or "tick"; throws config_error naming `field` and the value otherwise.
inline sim_model sim_model_from_string(std::string_view text, const std::string& field = "model") {
    if (text == "request") return sim_model::request;
    if (text == "tick") return sim_model::tick;
    throw config_error(field, "must be \"request\" or \"tick\", got \"" + std::string(text) + "\"");
}

/// The cluster under either model, with the interface both share.
class simulation {
public:
    simulation(cluster_config config, std::uint64_t seed, sim_model model = sim_model::request, tick_options tick = {})
        : impl_(make(std::move(config), seed, model, tick)) {}

    [[nodiscard]] sim_model model() const noexcept { return impl_.index() == 0 ? sim_model::request : sim_model::tick; }

    void reset(std::uint64_t seed) {
        std::visit([&](auto& c) { c.reset(seed); }, impl_);
    }
    [[nodiscard]] double now() const noexcept {
        return std::visit([](const auto& c) { return c.now(); }, impl_);
    }
    [[nodiscard]] std::uint32_t function_count() const noexcept {
        return std::visit([](const auto& c) { return c.function_count(); }, impl_);
    }
    [[nodiscard]] const cluster_config& config() const noexcept {
        return std::visit([](const auto& c) -> const cluster_config& { return c.config(); }, impl_);
    }
    [[nodiscard]] int replicas(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.replicas(f); }, impl_);
    }
    [[nodiscard]] double cpu_limit(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.cpu_limit(f); }, impl_);
    }
    [[nodiscard]] double memory_limit_mb(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.memory_limit_mb(f); }, impl_);
    }
    [[nodiscard]] std::uint64_t total_arrivals(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.total_arrivals(f); }, impl_);
    }
    [[nodiscard]] std::uint64_t total_completions(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.total_completions(f); }, impl_);
    }
    [[nodiscard]] std::uint64_t total_drops(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.total_drops(f); }, impl_);
    }
    [[nodiscard]] std::uint64_t in_flight(std::uint32_t f) const noexcept {
        return std::visit([f](const auto& c) { return c.in_flight(f); }, impl_);
    }
    void set_replicas(std::uint32_t f, int n) noexcept {
        std::visit([&](auto& c) { c.set_replicas(f, n); }, impl_);
    }
    void set_cpu_limit(std::uint32_t f, double cores) noexcept {
        std::visit([&](auto& c) { c.set_cpu_limit(f, cores); }, impl_);
    }
    void set_memory_limit(std::uint32_t f, double mb) noexcept {
        std::visit([&](auto& c) { c.set_memory_limit(f, mb); }, impl_);
    }
    /// Throws config_error naming interval_s unless the interval is finite and
    /// positive, or `out` unless it holds one entry per function.
    void step(double interval_s, std::span<function_metrics> out) {
        std::visit([&](auto& c) { c.step(interval_s, out); }, impl_);
    }

private:
    using variant = std::variant<cluster, tick_cluster>;
    static variant make(cluster_config config, std::uint64_t seed, sim_model model, tick_options tick) {
        if (model == sim_model::tick) return variant(std::in_place_type<tick_cluster>, std::move(config), seed, tick);
        return variant(std::in_place_type<cluster>, std::move(config), seed);
    }
    variant impl_;
};

}  // namespace rlscale::sim
