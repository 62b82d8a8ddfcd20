#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/shared_network.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale {

/// A learned policy of any algorithm: encoder, actor, action map, guard,
/// stabiliser and fallback, deciding all its functions each tick.
///
/// Each tick, every function's metrics go through `Encoder` (told which
/// function it encodes) into one observation, functions concatenated in
/// order; `Actor` (greedy over Q heads, greedy or sampled over logits, or
/// μ(s)) turns it into action values; `Actions` turns those into each
/// function's target; the guard clamps each to [min, max] and to the
/// per-tick step limits, and an optional scale-down stabiliser (the HPA's
/// window, in ticks) keeps what the last `downscale_window` ticks needed.
/// The fallback (by default the Kubernetes HPA, one per function) decides
/// instead, under the same guard, when no weights are published yet, when
/// any function's metrics fail check_metrics or the encoder, or when the
/// actor's output is not finite; a function whose own metrics fail
/// check_metrics keeps its count (even outside [min, max]: a decision on no
/// data is no decision, as under guarded<>). Every function is encoded
/// every tick, so one refused function never shifts another's history. With
/// set_fallback_floor(true), the fallback also decides on every tick the
/// actor does, and its decision is a floor under the actor's (`at_least`,
/// before the guard): the learned policy may add replicas and resources to
/// what the fallback asks for, never take them away.
///
/// Deciding is noexcept and allocates nothing. The weights live in a
/// rl::shared_network that a learner (or a checkpoint load) may update
/// while decisions run: the actor serves one consistent snapshot, copied
/// on the first tick after each publish (rl::network_follower).
/// One rl_policy per control loop; many may share one shared_network.
template <encoder Encoder, actor Actor, action_map Actions, policy Fallback = hpa_policy>
    requires std::same_as<typename Actor::value_type, typename Actions::value_type>
class rl_policy {
public:
    using value_type = typename Actor::value_type;

    /// Throws config_error when the actor's shape does not match the
    /// encoder and action map, or the fallbacks are not one per function.
    rl_policy(Encoder encoder, Actor actor, Actions actions, std::vector<Fallback> fallbacks, guard_config limits = {},
              std::size_t downscale_window = 0)
        : encoder_(std::move(encoder)),
          actor_(std::move(actor)),
          actions_(std::move(actions)),
          fallbacks_(std::move(fallbacks)),
          guard_((limits.validate(), limits)),
          functions_(actions_.functions()),
          stabilizer_(functions_, downscale_window) {
        const std::size_t in = functions_ * encoder_.size();
        check_fields("rl_policy")
            .require(actor_.input_size() == in, "actor",
                     "take " + format_number(in) + " inputs (the encoder's, for " + format_number(functions_) + " functions)",
                     actor_.input_size())
            .require(actor_.output_size() == actions_.width(), "actor",
                     "give " + format_number(actions_.width()) + " action values (the action map's)", actor_.output_size())
            .require(fallbacks_.size() == functions_, "fallbacks", "hold one per function (" + format_number(functions_) + ")",
                     fallbacks_.size());
        // An encoder that remembers each function's last interval (AR_{t-1})
        // must be built for as many functions as it serves: one built for
        // fewer encodes the rest without history (AC = 0) and says nothing.
        if constexpr (requires { encoder_.functions(); }) {
            if (encoder_.functions() != functions_) {
                check_fields("rl_policy.encoder")
                    .require(false, "functions",
                             "equal the action map's function count (" + format_number(functions_) + "): pass it to the encoder's constructor",
                             encoder_.functions());
            }
        }
        observation_.resize(in);
        values_.resize(actions_.width());
        targets_.resize(functions_);
        refused_.resize(functions_);
    }

    /// The greedy DQN form: `weights` served by rl::greedy_q_actor laid
    /// out as the discrete action map's heads.
    rl_policy(std::shared_ptr<rl::shared_network<float>> weights, Encoder encoder, Actions actions, std::vector<Fallback> fallbacks,
              guard_config limits = {}, std::size_t downscale_window = 0)
        requires std::same_as<Actor, rl::greedy_q_actor> && discrete_action_map<Actions>
        // `actions` is copied, not moved: the order in which the arguments
        // are built is unspecified, and the actor reads its layout.
        : rl_policy(std::move(encoder), rl::greedy_q_actor(checked(std::move(weights)), actions.layout()), Actions(actions),
                    std::move(fallbacks), limits, downscale_window) {}

    [[nodiscard]] std::size_t functions() const noexcept { return functions_; }
    /// Whether the fallback's decision is a floor under the actor's (off by default).
    void set_fallback_floor(bool on) noexcept { fallback_floor_ = on; }
    [[nodiscard]] bool fallback_floor() const noexcept { return fallback_floor_; }
    /// Ready when the fallback can decide; whether the actor serves is weights_ready().
    [[nodiscard]] bool ready() const noexcept {
        return std::all_of(fallbacks_.begin(), fallbacks_.end(), [](const Fallback& f) { return f.ready(); });
    }
    [[nodiscard]] bool weights_ready() const noexcept
        requires requires(const Actor& a) { a.weights().ready(); }
    {
        return actor_.weights().ready();
    }
    [[nodiscard]] rl::shared_network<float>& weights() noexcept
        requires requires(const Actor& a) { a.weights(); }
    {
        return actor_.weights();
    }
    [[nodiscard]] Fallback& fallback(std::size_t f) noexcept { return fallbacks_[f]; }
    [[nodiscard]] const Encoder& encoder_in_use() const noexcept { return encoder_; }
    [[nodiscard]] Actor& actor() noexcept { return actor_; }
    [[nodiscard]] const Actions& actions() const noexcept { return actions_; }
    [[nodiscard]] const guard_config& guard() const noexcept { return guard_; }
    [[nodiscard]] std::size_t downscale_window() const noexcept { return stabilizer_.window(); }

    /// Decides every function's replicas (and, from a multidimensional
    /// action map, limits) for one tick: `m`, `s` and `out`
    /// hold one entry per function. Spans of the wrong length hold every
    /// function they cover.
    void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        if (m.size() != functions_ || s.size() != functions_ || out.size() != functions_) {
            for (std::size_t f = 0; f < std::min(s.size(), out.size()); ++f) out[f] = hold(s[f], "rl: wrong number of functions");
            return;
        }
        const char* why = learned(m, s);
        for (std::size_t f = 0; f < functions_; ++f) {
            // Each function is told its own refusal; a function whose input
            // was fine that another function's refusal sent to the fallback
            // is told so, not the other's reason.
            const char* own = refused_[f] != nullptr ? refused_[f] : refused_any_ ? "rl: another function's input was refused, fallback" : why;
            // No data, no decision: the count stays as it is, even outside
            // [min, max], as under guarded<> (the guard would move it to a bound).
            // When learned() succeeded it had checked every function's metrics.
            if (why != nullptr && !check_metrics(m[f])) {
                out[f] = keep(s[f], "rl: invalid metrics, count kept");
                continue;
            }
            // Built where it goes: copying a decision just built (its fields
            // stored one by one) costs a wide load the core cannot forward
            // from those stores, so it waits for them to reach the cache.
            decision& d = out[f];
            if (why == nullptr) {
                d = {.replicas = targets_[f].replicas,
                     .source = decision_source::policy,
                     .reason = "rl: learned",
                     .cpu_limit = targets_[f].cpu_limit,
                     .memory_limit_mb = targets_[f].memory_limit_mb};
                if (fallback_floor_ && fallbacks_[f].ready()) {
                    d = at_least(d, fallbacks_[f].decide(m[f], s[f]), s[f], "rl: learned, raised to the fallback's floor");
                }
            } else {
                d = fallback_decision(f, m[f], s[f], own);
            }
            guard_in_place(d, s[f], guard_, m[f].ready_replicas);
            // The stabilised target lies between the guarded target and the
            // current count, so the step limits still hold; bounds are reapplied.
            if (stabilizer_.window() > 0) {
                const int stabilised = replica_bounds::of(s[f]).clamp(stabilizer_.apply(f, s[f].replicas, d.replicas));
                // Said instead of a reason about the count alone; a reason
                // about a limit (dropped, withheld, stepped) is kept.
                if (stabilised != d.replicas && d.source == decision_source::policy &&
                    (d.reason == "rl: learned" || d.reason == "guard: rate-limited" || d.reason == "guard: clamped to [min, max]")) {
                    d.reason = "rl: held by the downscale window";
                }
                d.replicas = stabilised;
            }
        }
    }

    /// The one-function form (the rlscale policy interface); with more
    /// functions configured it holds.
    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        if (functions_ != 1) return hold(s, "rl: decide(m, s) needs a one-function policy");
        decision d;
        decide(std::span<const function_metrics>(&m, 1), std::span<const scaling_state>(&s, 1), std::span<decision>(&d, 1));
        return d;
    }

    /// Serves the Q network from an int8 copy (rl::greedy_q_actor::serve_int8).
    void serve_int8()
        requires std::same_as<Actor, rl::greedy_q_actor>
    {
        actor_.serve_int8();
    }
    [[nodiscard]] bool serves_int8() const noexcept
        requires std::same_as<Actor, rl::greedy_q_actor>
    {
        return actor_.serves_int8();
    }

    /// The actor's action values of the last tick it decided (head indices for a discrete actor).
    [[nodiscard]] std::span<const value_type> last_values() const noexcept { return values_; }
    /// The observation of the last tick (zeros where a function was refused).
    [[nodiscard]] std::span<const float> last_observation() const noexcept { return observation_; }

private:
    static std::shared_ptr<rl::shared_network<float>> checked(std::shared_ptr<rl::shared_network<float>> w) {
        check_fields("rl_policy").not_null("weights", w);
        return w;
    }

    /// Encodes, acts and maps to targets; nullptr on success, else why not.
    const char* learned(std::span<const function_metrics> m, std::span<const scaling_state> s) noexcept {
        const std::size_t width = encoder_.size();
        const char* why = nullptr;
        std::fill(refused_.begin(), refused_.end(), nullptr);
        refused_any_ = false;
        for (std::size_t f = 0; f < functions_; ++f) {
            const std::span<float> slice(observation_.data() + f * width, width);
            if (!check_metrics(m[f])) {
                std::fill(slice.begin(), slice.end(), 0.0F);
                refused_[f] = "rl: invalid metrics, fallback";
            } else if (const encode_status st = encode_function(encoder_, f, m[f], s[f], slice); !st) {
                std::fill(slice.begin(), slice.end(), 0.0F);
                refused_[f] = refusal_reason(st.field);
            }
            if (refused_[f] != nullptr) {
                refused_any_ = true;
                if (why == nullptr) why = refused_[f];
            }
        }
        if (why != nullptr) return why;
        switch (actor_.act(observation_, values_)) {
            case act_status::ok: break;
            case act_status::no_weights: return "rl: no weights published, fallback";
            case act_status::not_finite: return "rl: network output not finite, fallback";
            case act_status::bad_size: return "rl: observation or action of the wrong size, fallback";
        }
        actions_.targets(values_, m, s, targets_);
        return nullptr;
    }

    /// The reason of a decision whose observation the encoder refused: the
    /// scaling state's limits by name (a limit of 0 means "unknown", which
    /// encoders that read limits refuse), the rest of the state, or the
    /// metrics.
    static const char* refusal_reason(std::string_view field) noexcept {
        if (field == "state.cpu_limit") return "rl: encoder refused state.cpu_limit, fallback";
        if (field == "state.memory_limit_mb") return "rl: encoder refused state.memory_limit_mb, fallback";
        if (field.starts_with("state.") || field.starts_with("slo.") || field.starts_with("previous_state.")) {
            return "rl: encoder refused the scaling state, fallback";
        }
        return "rl: encoder refused the metrics, fallback";
    }

    decision fallback_decision(std::size_t f, const function_metrics& m, const scaling_state& s, const char* why) noexcept {
        if (!fallbacks_[f].ready()) return hold(s, why);
        decision d = fallbacks_[f].decide(m, s);
        if (d.source == decision_source::policy) {
            d.source = decision_source::fallback;
            d.reason = why;
        }
        return d;
    }

    Encoder encoder_;
    Actor actor_;
    Actions actions_;
    std::vector<Fallback> fallbacks_;
    bool fallback_floor_ = false;
    guard_config guard_;
    std::size_t functions_;
    downscale_stabilizer stabilizer_;
    std::vector<float> observation_;
    std::vector<value_type> values_;
    std::vector<scaling_target> targets_;
    std::vector<const char*> refused_;  // this tick: each function's refusal, or nullptr
    bool refused_any_ = false;
};

/// A learned DQN policy: greedy over the Q heads of published weights.
template <encoder Encoder, discrete_action_map Actions, policy Fallback = hpa_policy>
using dqn_policy = rl_policy<Encoder, rl::greedy_q_actor, Actions, Fallback>;

}  // namespace rlscale
