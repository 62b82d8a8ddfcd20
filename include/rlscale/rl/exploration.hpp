#pragma once

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>

namespace rlscale::rl {

/// ε as a function of the number of steps taken so far.
template <typename S>
concept epsilon_schedule = requires(const S s, std::uint64_t step) {
    { s(step) } noexcept -> std::convertible_to<double>;
};

namespace detail {
inline void check_probability(const char* field, double v) {
    check_fields("").in(field, v, 0, 1);
}
}  // namespace detail

/// `end + (start − end)·exp(−step / decay)`: SCARLET's schedule (Table 4:
/// ε 0.9, decay 150; the final value is not given there, 0.05 here).
struct exponential_epsilon {
    double start = 0.9;
    double end = 0.05;
    double decay = 150;  ///< steps for the excess over `end` to fall by a factor e

    [[nodiscard]] static exponential_epsilon scarlet() noexcept { return {}; }

    void validate() const {
        detail::check_probability("exponential_epsilon.start", start);
        detail::check_probability("exponential_epsilon.end", end);
        check_fields("exponential_epsilon").greater("decay", decay, 0);
    }
    [[nodiscard]] double operator()(std::uint64_t step) const noexcept {
        return end + (start - end) * std::exp(-static_cast<double>(step) / decay);
    }
};

/// Straight from `start` to `end` over `steps`, then `end`.
struct linear_epsilon {
    double start = 1.0;
    double end = 0.05;
    std::uint64_t steps = 10'000;

    void validate() const {
        detail::check_probability("linear_epsilon.start", start);
        detail::check_probability("linear_epsilon.end", end);
        check_fields("linear_epsilon").greater("steps", steps, 0);
    }
    [[nodiscard]] double operator()(std::uint64_t step) const noexcept {
        const double f = std::min(1.0, static_cast<double>(step) / static_cast<double>(steps));
        return start + (end - start) * f;
    }
};

/// The same ε at every step (0 = greedy).
struct constant_epsilon {
    double value = 0.05;

    void validate() const { detail::check_probability("constant_epsilon.value", value); }
    [[nodiscard]] double operator()(std::uint64_t /*step*/) const noexcept { return value; }
};

static_assert(epsilon_schedule<exponential_epsilon>);
static_assert(epsilon_schedule<linear_epsilon>);
static_assert(epsilon_schedule<constant_epsilon>);

}  // namespace rlscale::rl
