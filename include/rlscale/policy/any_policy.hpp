#pragma once

#include <rlscale/core/concepts.hpp>

#include <memory>
#include <utility>

namespace rlscale {

/// A type-erased policy, for code that picks a policy at run time (the
/// controller reads its policy from a configuration file). Construction
/// allocates once; deciding adds one indirect call and never allocates.
class any_policy {
public:
    template <policy P>
    explicit any_policy(P p) : self_(std::make_unique<model<P>>(std::move(p))) {}

    [[nodiscard]] bool ready() const noexcept { return self_->ready(); }
    decision decide(const function_metrics& m, const scaling_state& s) noexcept { return self_->decide(m, s); }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        [[nodiscard]] virtual bool ready() const noexcept = 0;
        virtual decision decide(const function_metrics& m, const scaling_state& s) noexcept = 0;
    };
    template <typename P>
    struct model final : concept_t {
        explicit model(P p) : policy(std::move(p)) {}
        [[nodiscard]] bool ready() const noexcept override { return policy.ready(); }
        decision decide(const function_metrics& m, const scaling_state& s) noexcept override {
            return policy.decide(m, s);
        }
        P policy;
    };
    std::unique_ptr<concept_t> self_;
};

}  // namespace rlscale
