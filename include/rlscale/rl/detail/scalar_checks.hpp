#pragma once

// Checks of a learner's settings as the learner's scalar type. Configs are
// validated as doubles; an update uses them as T, where 1e39 is infinite
// (float) and 1e-46 is 0. Used by dqn and ddpg.

#include <rlscale/core/validate.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace rlscale::rl::detail {

/// "float" or "double", as messages name the learner's type.
template <typename T>
[[nodiscard]] constexpr const char* scalar_name() noexcept {
    return sizeof(T) == 4 ? "float" : "double";
}

/// `v` must stay finite and > 0 once rounded to T. With `zero_is_off`, an
/// exact 0 is accepted (the setting is off) and the message says so.
template <typename T>
void require_positive_as(const check_fields& check, const char* field, double v, bool zero_is_off = false) {
    if (zero_is_off && v == 0) return;
    const auto t = static_cast<T>(v);
    check.require(std::isfinite(t) && t > 0, field,
                  std::string("be finite and > 0 as the agent's ") + scalar_name<T>() + (zero_is_off ? " (or 0 for off)" : ""), v);
}

/// A soft-update rate τ must be at least T's epsilon: below it 1 − τ rounds
/// (to 1 at or below epsilon / 2), and `target` moves by something else than
/// τ, or not at all.
template <typename T>
void require_tau_as(const check_fields& check, double tau, const char* target) {
    check.require(tau >= static_cast<double>(std::numeric_limits<T>::epsilon()), "tau",
                  std::string("be at least the agent's ") + scalar_name<T>() + " epsilon (" +
                      format_number(std::numeric_limits<T>::epsilon()) + "): below it, 1 - tau rounds and " + target +
                      " not move by tau",
                  tau);
}

}  // namespace rlscale::rl::detail
