#pragma once

#include <rlscale/core/error.hpp>

#include <Eigen/Core>

#include <string>

namespace rlscale::nn::detail {

/// An optimiser's step must see as many parameters and gradients as it was
/// made for; `who` names the optimiser in the error.
inline void check_step_sizes(const char* who, Eigen::Index expected, Eigen::Index params, Eigen::Index grads) {
    if (params != expected || grads != expected) {
        throw error(std::string(who) + "::step: got " + std::to_string(params) + " parameters and " +
                    std::to_string(grads) + " gradients, the optimiser was made for " + std::to_string(expected));
    }
}

}  // namespace rlscale::nn::detail
