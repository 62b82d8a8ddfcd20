#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>

#include <utility>

namespace rlscale {

/// Uses `Backup` whenever `Primary` is not ready, or holds (it saw input it
/// could not use, or failed) without changing a limit. The backup's decision
/// is marked decision_source::fallback; if the backup holds too, the result
/// holds. A hold that resizes (hpa_vpa_policy: the HPA held, the VPA
/// resized) is the primary's answer: asking the backup would drop the resize.
///
/// Metrics that fail `check_metrics` reach neither policy, and the count
/// stays as it is, as with `guarded`: a primary that holds on such input
/// (a guarded one does) would otherwise hand it to an unguarded backup,
/// and a NaN would become a scaling command. When neither policy is ready
/// the count also stays as it is (`keep`: a decision on no data is no
/// decision).
template <policy Primary, policy Backup>
class with_fallback {
public:
    with_fallback(Primary primary, Backup backup) : primary_(std::move(primary)), backup_(std::move(backup)) {}

    /// Ready when either can decide.
    [[nodiscard]] bool ready() const noexcept { return primary_.ready() || backup_.ready(); }
    [[nodiscard]] Primary& primary() noexcept { return primary_; }
    [[nodiscard]] Backup& backup() noexcept { return backup_; }

    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        if (!check_metrics(m)) return keep(s, "fallback: invalid metrics");
        if (primary_.ready()) {
            const decision d = primary_.decide(m, s);
            if (d.source != decision_source::hold || d.vertical()) {
                return d;
            }
        }
        if (!backup_.ready()) {
            return keep(s, "fallback: neither policy could decide");
        }
        decision d = backup_.decide(m, s);
        if (d.source == decision_source::policy) {
            d.source = decision_source::fallback;
        }
        return d;
    }

private:
    Primary primary_;
    Backup backup_;
};

}  // namespace rlscale
