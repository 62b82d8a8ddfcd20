#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace rlscale {

/// Kubernetes' scale-down stabilisation (the HPA's
/// behavior.scaleDown.stabilizationWindowSeconds, 300 s by default) for any
/// policy's replica targets, counted in control ticks: a scale-up passes at
/// once; a scale-down goes no lower than the highest target of the last
/// `window` ticks (this one included). A policy that reads only the present
/// (a DQN on one interval's metrics) scales in between the bursts of a
/// periodic load and meets every burst cold; with the window it keeps what
/// the last burst needed for as long as the HPA would.
///
/// One ring of `window` targets per function, allocated at construction;
/// `apply` allocates nothing. window = 0 turns it off.
class downscale_stabilizer {
public:
    /// Throws config_error for a window above 100,000 ticks, more than
    /// 1,000,000 functions or 10^8 targets in all, before allocating anything.
    downscale_stabilizer(std::size_t functions, std::size_t window)
        : functions_(checked(functions, window)), window_(window), targets_(functions * window, empty), next_(functions, 0) {}

    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    [[nodiscard]] std::size_t window() const noexcept { return window_; }

    /// Function f's stabilised target given its current replicas and the
    /// policy's `target` this tick; records `target`.
    [[nodiscard]] int apply(std::size_t f, int current, int target) noexcept {
        if (window_ == 0 || f >= functions_) return target;
        int* ring = targets_.data() + f * window_;
        ring[next_[f]] = target;
        next_[f] = (next_[f] + 1) % window_;
        if (target >= current) return target;
        const int highest = *std::max_element(ring, ring + window_);
        return std::min(current, std::max(target, highest));
    }

    /// Forgets every recorded target (a new episode).
    void reset() noexcept {
        std::fill(targets_.begin(), targets_.end(), empty);
        std::fill(next_.begin(), next_.end(), 0);
    }

private:
    [[nodiscard]] static std::size_t checked(std::size_t functions, std::size_t window) {
        check_fields("downscale_stabilizer")
            .at_most("window", window, 100'000)
            .at_most("functions", functions, 1'000'000)
            .at_most("functions × window", functions * window, 100'000'000);  // both bounded first: no overflow
        return functions;
    }

    static constexpr int empty = std::numeric_limits<int>::min();
    std::size_t functions_;
    std::size_t window_;
    std::vector<int> targets_;
    std::vector<std::size_t> next_;
};

}  // namespace rlscale
