#pragma once

/// The previous interval's arrival rate AR_{t-1} that the stateful encoders
/// (simppo_encoder, firm_encoder) need for the arrival-rate change.

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/validate.hpp>

#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rlscale::detail {

/// The interval's arrival rate AR = arrivals / interval_s, requests/s, when
/// `interval_s` is finite and > 0 and the rate finite; else none.
[[nodiscard]] inline std::optional<double> arrival_rate(const function_metrics& m) noexcept {
    if (!(std::isfinite(m.interval_s) && m.interval_s > 0)) return std::nullopt;
    const double rate = static_cast<double>(m.arrivals) / m.interval_s;
    if (!std::isfinite(rate)) return std::nullopt;
    return rate;
}

/// AR_{t-1} of `functions()` functions, encoded in a fixed round-robin
/// order: the k-th call of an encoder's three-argument `encode` is function
/// k mod functions(). With one function per encoder (the default) that is
/// simply "the previous call". With N, one encoder serves a joint
/// environment that encodes functions 0..N-1 in that order at every tick
/// (sim::cluster_env does). A slot also forgets its rate when the controller
/// clock `scaling_state::time_s` goes back (a new episode). The slots are
/// allocated by the constructor; reading and advancing never allocate.
class arrival_history {
public:
    /// Throws config_error unless `functions` ≥ 1.
    explicit arrival_history(std::size_t functions) {
        check_fields("").at_least("functions", functions, 1);
        slots_.resize(functions);
    }

    /// Functions served in round-robin order.
    [[nodiscard]] std::size_t functions() const noexcept { return slots_.size(); }

    /// The function whose turn it is (0 before the first call).
    [[nodiscard]] std::size_t turn() const noexcept { return cursor_; }

    /// AR_{t-1}, requests/s, of the function whose turn it is, at clock
    /// `time_s`: none before its first interval, or when `time_s` is earlier
    /// than the clock of the interval it remembers (a new episode).
    [[nodiscard]] std::optional<double> previous(double time_s) const noexcept {
        const slot& s = slots_[cursor_];
        if (!s.rate || time_s < s.time_s) return std::nullopt;
        return s.rate;
    }

    /// Ends the current function's turn: remembers `rate` at `time_s` when it
    /// is given, and passes the turn to the next function. An unusable
    /// interval leaves the slot as it was within an episode, but clears it
    /// when `time_s` is earlier than the slot's clock: the remembered rate
    /// belongs to the previous episode, and kept with its later clock it
    /// would be read again once the new episode's clock reached it.
    void advance(std::optional<double> rate, double time_s) noexcept {
        keep(slots_[cursor_], rate, time_s);
        cursor_ = (cursor_ + 1) % slots_.size();
    }

    /// Ends the current function's turn without a usable clock (`time_s`
    /// not finite, which the encoders refuse): forgets its rate, since
    /// whether an episode began cannot be told, and passes the turn on.
    void skip() noexcept {
        slots_[cursor_] = {};
        cursor_ = (cursor_ + 1) % slots_.size();
    }

    /// Sets function `f`'s slot to `rate` (or nothing) at `time_s`, by
    /// index; the turn does not move. An index out of range is ignored. A
    /// `time_s` that is not finite sets nothing and forgets the rate, as
    /// `forget` does: a NaN clock would never compare later than the next
    /// interval's, and the rate would be read as AR_{t-1} in every episode.
    void set(std::size_t f, std::optional<double> rate, double time_s) noexcept {
        if (f < slots_.size()) slots_[f] = rate && std::isfinite(time_s) ? slot{rate, time_s} : slot{};
    }

    /// AR_{t-1} of function `f` at clock `time_s`, by index rather than by
    /// turn (none for an index out of range).
    [[nodiscard]] std::optional<double> previous_of(std::size_t f, double time_s) const noexcept {
        if (f >= slots_.size()) return std::nullopt;
        const slot& s = slots_[f];
        if (!s.rate || time_s < s.time_s) return std::nullopt;
        return s.rate;
    }

    /// Remembers function `f`'s `rate` at `time_s` as `advance` does, by
    /// index; the turn does not move.
    void record(std::size_t f, std::optional<double> rate, double time_s) noexcept {
        if (f < slots_.size()) keep(slots_[f], rate, time_s);
    }

    /// Forgets function `f`'s rate (a clock that is not finite), by index.
    void forget(std::size_t f) noexcept {
        if (f < slots_.size()) slots_[f] = {};
    }

    /// The remembered AR_{t-1} of `function`, if any (none for an index out of range).
    [[nodiscard]] std::optional<double> rate(std::size_t function) const noexcept {
        return function < slots_.size() ? slots_[function].rate : std::nullopt;
    }

    /// The controller clock of `function`'s remembered rate (0 when none is
    /// remembered or the index is out of range).
    [[nodiscard]] double rate_time(std::size_t function) const noexcept {
        return function < slots_.size() ? slots_[function].time_s : 0.0;
    }

    /// Forgets every rate and gives the turn back to function 0.
    void reset() noexcept {
        for (slot& s : slots_) s = {};
        cursor_ = 0;
    }

private:
    struct slot {
        std::optional<double> rate;  ///< AR, requests/s, of the function's last encoded interval
        double time_s = 0;           ///< the controller clock of that interval
    };
    /// `rate` at `time_s` replaces `s`; no rate keeps `s` unless the clock
    /// went back past it (a new episode), which clears it.
    static void keep(slot& s, std::optional<double> rate, double time_s) noexcept {
        if (rate) {
            s = {rate, time_s};
        } else if (time_s < s.time_s) {
            s = {};
        }
    }

    std::vector<slot> slots_;  ///< one per function
    std::size_t cursor_ = 0;   ///< the function whose turn it is
};

/// The stateful part shared by the encoders that need AR_{t-1} (CRTP):
/// `Derived` provides the four-argument, stateless
/// `encode(m, s, previous_arrival_rps, out)`; this base adds the
/// three-argument `encode` that the `encoder` concept calls, which encodes
/// the function whose turn it is with its remembered AR_{t-1}, then
/// remembers its AR_t and passes the turn on. Both stateful overloads read
/// the clock `state.time_s`, so they refuse one that is not finite (a NaN
/// would never compare earlier and hide an episode boundary) and forget
/// that function's rate. One instance must not be called from two threads
/// at once.
template <typename Derived>
class arrival_history_encoder {
public:
    /// Keeps AR_{t-1} for `functions` functions encoded in round-robin order (≥ 1).
    explicit arrival_history_encoder(std::size_t functions) : history_(functions) {}

    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s, std::span<float> out) const noexcept {
        if (!std::isfinite(s.time_s)) {
            history_.skip();
            return encode_status::invalid("state.time_s", s.time_s);
        }
        const encode_status st = static_cast<const Derived&>(*this).encode(m, s, history_.previous(s.time_s), out);
        history_.advance(arrival_rate(m), s.time_s);
        return st;
    }

    /// Encodes function `f` with its own remembered AR_{t-1}, then
    /// remembers its AR_t; other functions' history and the round-robin
    /// turn are untouched. What a policy over several functions calls, so
    /// that a function it skips never shifts the others. An index out of
    /// range encodes with no history and remembers nothing.
    [[nodiscard]] encode_status encode(std::size_t f, const function_metrics& m, const scaling_state& s,
                                       std::span<float> out) const noexcept {
        if (!std::isfinite(s.time_s)) {
            history_.forget(f);
            return encode_status::invalid("state.time_s", s.time_s);
        }
        const encode_status st = static_cast<const Derived&>(*this).encode(m, s, history_.previous_of(f, s.time_s), out);
        history_.record(f, arrival_rate(m), s.time_s);
        return st;
    }

    /// Forgets every AR_{t-1} and gives the turn back to function 0 (an
    /// episode boundary): the next arrival-rate change of each function is 0.
    void reset() noexcept { history_.reset(); }

    /// Functions served in round-robin order by the three-argument `encode`.
    [[nodiscard]] std::size_t functions() const noexcept { return history_.functions(); }

    /// The remembered AR_{t-1} of `function`, requests/s, if any.
    [[nodiscard]] std::optional<double> previous_arrival_rps(std::size_t function = 0) const noexcept {
        return history_.rate(function);
    }

    /// The controller clock of the interval whose rate `function` remembers
    /// (0 when none).
    [[nodiscard]] double previous_arrival_time_s(std::size_t function = 0) const noexcept { return history_.rate_time(function); }

    /// Sets what `function` remembers to `rate` at clock `time_s`, or to
    /// nothing (a learner's training state restores it); the turn does not
    /// move. An index out of range is ignored, and a `time_s` that is not
    /// finite remembers nothing, as `encode` forgets the rate on such a
    /// clock (a loader that must not lose the rate checks the clock first).
    void remember_arrival(std::size_t function, std::optional<double> rate, double time_s) noexcept {
        history_.set(function, rate, time_s);
    }

private:
    mutable arrival_history history_;  ///< AR_{t-1} per function
};

}  // namespace rlscale::detail
