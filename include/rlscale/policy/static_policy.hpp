#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>

namespace rlscale {

/// A static allocation: always the same replica count (within [min, max]).
struct static_policy {
    int replicas = 1;  ///< the count to run

    [[nodiscard]] bool ready() const noexcept { return true; }
    decision decide(const function_metrics&, const scaling_state& s) const noexcept {
        return {.replicas = replica_bounds::of(s).clamp(replicas), .source = decision_source::policy, .reason = "static"};
    }
};
static_assert(policy<static_policy>);

}  // namespace rlscale
