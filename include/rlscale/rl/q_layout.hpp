#pragma once

/// The layout of discrete action values (heads of choices) and the greedy
/// choice per head: shared by the serving actors and the DQN and PPO
/// learners, so serving needs no trainer header.

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <span>

namespace rlscale::rl {

/// The shape of a Q network's output: `heads` groups of `actions_per_head`
/// Q-values. A joint action space is one head over every combination
/// (SCARLET: 3^N); a factored one has one head per function, each with its
/// own actions, trained with its own TD target on the shared reward.
struct q_layout {
    std::size_t heads = 1;
    std::size_t actions_per_head = 3;

    [[nodiscard]] std::size_t outputs() const noexcept { return heads * actions_per_head; }
    /// The most Q-values a layout may ask for (heads × actions_per_head).
    static constexpr std::size_t max_outputs = std::size_t{1} << 24;

    void validate() const {
        const check_fields check("q_layout");
        // Each bound before the product, so that the product cannot wrap
        // (3 × 6148914691236517206 would be 2).
        check.in("heads", heads, std::size_t{1}, max_outputs).in("actions_per_head", actions_per_head, std::size_t{1}, max_outputs);
        check.require(heads * actions_per_head <= max_outputs, "actions_per_head",
                      "keep heads × actions_per_head <= " + format_number(max_outputs), actions_per_head);
    }
};

/// Greedy action per head from a Q vector laid out as in q_layout (ties go
/// to the lowest index). Writes one index per head into `out`.
template <typename Derived>
void argmax_per_head(const Eigen::MatrixBase<Derived>& q, q_layout layout, std::span<std::int32_t> out) noexcept {
    for (std::size_t h = 0; h < layout.heads; ++h) {
        const Eigen::Index base = static_cast<Eigen::Index>(h * layout.actions_per_head);
        Eigen::Index best = 0;
        for (Eigen::Index a = 1; a < static_cast<Eigen::Index>(layout.actions_per_head); ++a) {
            if (q(base + a) > q(base + best)) best = a;
        }
        out[h] = static_cast<std::int32_t>(best);
    }
}

}  // namespace rlscale::rl
