#pragma once

/// Policies that decide all functions of a tick together: `per_function`
/// lifts any single-function policy to the joint_policy concept, and
/// `any_joint_policy` erases the type of a joint policy chosen at run time
/// (from a policy name or a checkpoint's serving spec).

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace rlscale {

/// N independent single-function policies as one joint policy: function f
/// is decided by policy f alone.
template <policy P>
class per_function {
public:
    explicit per_function(std::vector<P> policies) : policies_(std::move(policies)) {
        check_fields("per_function").non_empty("policies", policies_.size());
    }

    [[nodiscard]] std::size_t functions() const noexcept { return policies_.size(); }
    [[nodiscard]] bool ready() const noexcept {
        return std::all_of(policies_.begin(), policies_.end(), [](const P& p) { return p.ready(); });
    }
    [[nodiscard]] P& at(std::size_t f) noexcept { return policies_[f]; }

    /// One decision per function; spans of the wrong length hold every
    /// function they cover.
    void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        if (m.size() != policies_.size() || s.size() != policies_.size() || out.size() != policies_.size()) {
            for (std::size_t f = 0; f < std::min(s.size(), out.size()); ++f) out[f] = hold(s[f], "per_function: wrong number of functions");
            return;
        }
        for (std::size_t f = 0; f < policies_.size(); ++f) out[f] = policies_[f].decide(m[f], s[f]);
    }

private:
    std::vector<P> policies_;
};

/// A type-erased joint policy. Construction allocates once; deciding adds
/// one indirect call and never allocates.
class any_joint_policy {
public:
    template <joint_policy P>
    explicit any_joint_policy(P p) : self_(std::make_unique<model<P>>(std::move(p))) {}

    [[nodiscard]] std::size_t functions() const noexcept { return self_->functions(); }
    [[nodiscard]] bool ready() const noexcept { return self_->ready(); }
    void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        self_->decide(m, s, out);
    }
    /// The one-function form, for a one-function policy (else it holds).
    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        if (functions() != 1) return hold(s, "joint policy: decide(m, s) needs a one-function policy");
        decision d;
        decide(std::span<const function_metrics>(&m, 1), std::span<const scaling_state>(&s, 1), std::span<decision>(&d, 1));
        return d;
    }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        [[nodiscard]] virtual std::size_t functions() const noexcept = 0;
        [[nodiscard]] virtual bool ready() const noexcept = 0;
        virtual void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept = 0;
    };
    template <typename P>
    struct model final : concept_t {
        explicit model(P p) : policy(std::move(p)) {}
        [[nodiscard]] std::size_t functions() const noexcept override { return policy.functions(); }
        [[nodiscard]] bool ready() const noexcept override { return policy.ready(); }
        void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept override {
            policy.decide(m, s, out);
        }
        P policy;
    };
    std::unique_ptr<concept_t> self_;
};
static_assert(joint_policy<any_joint_policy>);

}  // namespace rlscale
