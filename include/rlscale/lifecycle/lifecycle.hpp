#pragma once

/// AWARE's agent lifecycle (Qiu et al., USENIX ATC'23, §3.3-§3.4,
/// Algorithm 1): which stage the agent is in, decided at the end of every
/// episode from the mean and standard deviation of the recent episode
/// rewards, and what that stage means for the control loop (who acts,
/// whether the agent learns, explores, learns off-policy, is regularised
/// toward the fallback).
///
///     INITIALIZED ──bootstrapping──► OFFLINE ──mean ≥ T_online──► ONLINE ◄──mean < T_serving or std > T_var── SERVING
///          └──────no bootstrapping──────────────────────────────►   └──────mean ≥ T_serving and std ≤ T_var──────►
///
/// Window semantics (a choice Algorithm 1 leaves open, see docs/lifecycle.md):
/// a decision needs K episode rewards, and the window restarts at every
/// transition, so each stage is judged only on episodes played in it. The
/// rewards that move OFFLINE to ONLINE were earned by the fallback; without
/// the restart the same rewards could carry the agent on to SERVING one
/// episode later without it ever having acted.
///
/// Deterministic and free of global state: the same rewards give the same
/// transitions. Not thread-safe; one control loop owns it.

#include <rlscale/core/error.hpp>
#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/lifecycle/stage.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlscale {

/// The user profile P of Algorithm 1. The thresholds are in the units of the
/// environment's episode reward (the sum of its step rewards): set them per
/// environment, e.g. T_online at the fallback's own episode reward (AWARE
/// §5.4 used 130, "the per-episode reward achieved by the rule-based
/// autoscaler").
struct lifecycle_config {
    std::size_t window = 10;          ///< K: episode rewards a decision looks at (the AWARE code's last 10)
    double t_online = 100;            ///< T_online: OFFLINE → ONLINE when mean ≥ T_online
    double t_serving = 100;           ///< T_serving: ONLINE → SERVING when mean ≥ T_serving (and std ≤ T_var); SERVING → ONLINE when mean < T_serving
    double t_var = 10;                ///< T_var: bound on the (population) standard deviation of the window
    bool bootstrapping = true;        ///< INITIALIZED → OFFLINE (the fallback acts, the agent learns from it); false: → ONLINE
    bool high_stakes = false;         ///< retraining after a degradation keeps the fallback acting; the agent learns off-policy (§3.3)
    /// Whenever the agent acts (ONLINE and SERVING), the fallback's decision
    /// is a floor under it (`at_least`): the agent may ask for more replicas
    /// and larger limits than the fallback, never for fewer. Not in AWARE;
    /// see docs/lifecycle.md for what it buys and costs.
    bool fallback_floor = false;
    std::size_t log_capacity = 1024;  ///< transitions kept in the log, newest last; transition_count() counts every one

    /// Largest window and log accepted (a bound on what a file may make us allocate).
    static constexpr std::size_t max_window = 1'000'000;
    static constexpr std::size_t max_log_capacity = 1'000'000;

    /// The public AWARE code's retraining rule (rl-controller/ppo.py): over the
    /// last 10 episode rewards, serve when mean ≥ 100 and std < 10. It has no
    /// bootstrapping (its flag is never read); its strict `std < 10` becomes
    /// Algorithm 1's `std ≤ T_var`.
    [[nodiscard]] static lifecycle_config aware_code() {
        lifecycle_config c;
        c.window = 10;
        c.t_online = 100;
        c.t_serving = 100;
        c.t_var = 10;
        c.bootstrapping = false;
        c.high_stakes = false;
        return c;
    }

    void validate() const {
        check_fields("lifecycle_config")
            .in("window", window, std::size_t{1}, max_window)
            .finite("t_online", t_online)
            .at_least_field("t_serving", t_serving, "t_online", t_online)
            .greater("t_var", t_var, 0.0)
            .in("log_capacity", log_capacity, std::size_t{1}, max_log_capacity);
    }
};

/// One change of stage, as the log keeps it.
struct lifecycle_transition {
    stage from = stage::initialized;  ///< stage before
    stage to = stage::initialized;    ///< stage after
    std::uint64_t episode = 0;        ///< index (0-based) of the episode whose end triggered it; start()'s carries 0
    std::size_t samples = 0;          ///< rewards the decision looked at: K, or 0 for start()
    double mean = 0;                  ///< mean of those rewards (0 for start())
    double std = 0;                   ///< their population standard deviation (0 for start())
    std::string reason;               ///< e.g. "mean 84.2 >= T_online 80 over the last 10 episodes"

    friend bool operator==(const lifecycle_transition&, const lifecycle_transition&) = default;
};

namespace detail::lifecycle_json {

using json = nlohmann::json;

inline std::string path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}
inline std::string path(const std::string& parent, std::size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

template <typename Error>
const json& field(const json& object, std::string_view key, const std::string& parent) {
    if (!object.is_object()) {
        throw Error(parent.empty() ? "(top level)" : parent, "expected an object, got " + json_summary(object));
    }
    const auto it = object.find(key);
    if (it == object.end()) throw Error(path(parent, key), "missing");
    return *it;
}

template <typename Error>
double finite_number(const json& v, const std::string& at) {
    if (!v.is_number()) throw Error(at, "expected a finite number, got " + json_summary(v));
    const double x = v.get<double>();
    if (!std::isfinite(x)) throw Error(at, "expected a finite number, got " + json_summary(v));
    return x;
}

template <typename Error>
std::uint64_t unsigned_integer(const json& v, const std::string& at) {
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 0)) {
        throw Error(at, "expected a non-negative integer, got " + json_summary(v));
    }
    return v.get<std::uint64_t>();
}

template <typename Error>
bool boolean(const json& v, const std::string& at) {
    if (!v.is_boolean()) throw Error(at, "expected true or false, got " + json_summary(v));
    return v.get<bool>();
}

template <typename Error>
std::string text(const json& v, const std::string& at) {
    if (!v.is_string()) throw Error(at, "expected a string, got " + json_summary(v));
    return v.get<std::string>();
}

template <typename Error>
stage stage_value(const json& v, const std::string& at) {
    const std::string name = text<Error>(v, at);
    try {
        return stage_from_string(name, at);
    } catch (const config_error&) {
        throw Error(at, "unknown stage " + json_summary(v) + " (expected INITIALIZED, OFFLINE, ONLINE or SERVING)");
    }
}

/// Reads a lifecycle_config's fields from `j` (every field required but
/// fallback_floor, no validation), throwing Error at `parent.<field>`.
template <typename Error>
lifecycle_config read_config(const json& j, const std::string& parent) {
    lifecycle_config c;
    const auto get = [&](std::string_view key) -> const json& { return field<Error>(j, key, parent); };
    c.window = static_cast<std::size_t>(
        std::min<std::uint64_t>(unsigned_integer<Error>(get("window"), path(parent, "window")), std::numeric_limits<std::size_t>::max()));
    c.t_online = finite_number<Error>(get("t_online"), path(parent, "t_online"));
    c.t_serving = finite_number<Error>(get("t_serving"), path(parent, "t_serving"));
    c.t_var = finite_number<Error>(get("t_var"), path(parent, "t_var"));
    c.bootstrapping = boolean<Error>(get("bootstrapping"), path(parent, "bootstrapping"));
    c.high_stakes = boolean<Error>(get("high_stakes"), path(parent, "high_stakes"));
    // Optional: states written before the floor existed have no such field.
    if (j.is_object() && j.contains("fallback_floor")) {
        c.fallback_floor = boolean<Error>(j["fallback_floor"], path(parent, "fallback_floor"));
    }
    c.log_capacity = static_cast<std::size_t>(
        std::min<std::uint64_t>(unsigned_integer<Error>(get("log_capacity"), path(parent, "log_capacity")), std::numeric_limits<std::size_t>::max()));
    return c;
}

}  // namespace detail::lifecycle_json

inline void to_json(nlohmann::json& j, const lifecycle_config& c) {
    j = nlohmann::json{{"window", c.window},           {"t_online", c.t_online},
                       {"t_serving", c.t_serving},     {"t_var", c.t_var},
                       {"bootstrapping", c.bootstrapping}, {"high_stakes", c.high_stakes},
                       {"fallback_floor", c.fallback_floor}, {"log_capacity", c.log_capacity}};
}

/// Reads and validates a profile; throws config_error naming
/// "lifecycle_config.<field>" (missing, of the wrong type, or out of range).
inline void from_json(const nlohmann::json& j, lifecycle_config& c) {
    lifecycle_config read = detail::lifecycle_json::read_config<config_error>(j, "lifecycle_config");
    read.validate();
    c = read;
}

inline void to_json(nlohmann::json& j, const lifecycle_transition& t) {
    j = nlohmann::json{{"from", to_string(t.from)}, {"to", to_string(t.to)}, {"episode", t.episode},
                       {"samples", t.samples},      {"mean", t.mean},        {"std", t.std},
                       {"reason", t.reason}};
}

/// Manages one agent's stage (Algorithm 1's OBSERVEANDTRIGGER, one step per
/// episode end) and answers the control loop's questions about it.
class lifecycle {
public:
    using transition = lifecycle_transition;

    /// Validates `config` (config_error naming the field). The stage is
    /// INITIALIZED until start().
    explicit lifecycle(lifecycle_config config = {}) : config_(config) {
        config_.validate();
        window_.assign(config_.window, 0.0);
    }

    [[nodiscard]] const lifecycle_config& config() const noexcept { return config_; }
    [[nodiscard]] stage current_stage() const noexcept { return stage_; }
    /// Whether the agent is in ONLINE because SERVING degraded (a retraining
    /// pass), as opposed to its first training after INITIALIZED or OFFLINE.
    [[nodiscard]] bool retraining() const noexcept { return retraining_; }
    /// Episode rewards recorded by end_episode() since construction.
    [[nodiscard]] std::uint64_t episodes() const noexcept { return episodes_; }

    /// Algorithm 1, lines 4-9: INITIALIZED → OFFLINE when bootstrapping,
    /// else ONLINE. Throws rlscale::error unless the stage is INITIALIZED;
    /// on that, or on std::bad_alloc, nothing changes.
    transition start() {
        if (stage_ != stage::initialized) {
            throw error("lifecycle::start(): already started (stage " + std::string(to_string(stage_)) + ")");
        }
        transition t;
        t.from = stage::initialized;
        t.to = config_.bootstrapping ? stage::offline : stage::online;
        t.episode = episodes_;
        t.reason = config_.bootstrapping ? "bootstrapping enabled" : "no bootstrapping";
        enter(t);
        return t;
    }

    /// The largest reward magnitude end_episode accepts: the window's sums
    /// of squared deviations stay finite for any window size below 1e100.
    static constexpr double max_reward = 1e100;

    /// Records one episode's reward (the sum of its step rewards) and applies
    /// Algorithm 1, lines 10-21, once the window holds K rewards earned since
    /// the last transition. Returns the transition, if any. Throws
    /// rlscale::error before start(), on a reward that is not finite or
    /// beyond ±max_reward (which would poison K decisions, or make the
    /// window's mean or spread overflow), or when episodes() or, for a
    /// transition, transition_count() is already at its largest value (it
    /// would wrap to 0, and the state would no longer read back). Nothing
    /// changes then, nor when building the transition runs out of memory
    /// (std::bad_alloc).
    std::optional<transition> end_episode(double reward) {
        if (stage_ == stage::initialized) throw error("lifecycle::end_episode(): called before start()");
        if (!(std::abs(reward) <= max_reward)) {
            throw error("lifecycle::end_episode(): reward must be finite and within +-" + format_number(max_reward) + ", got " +
                        format_number(reward));
        }
        constexpr std::uint64_t counter_max = std::numeric_limits<std::uint64_t>::max();
        if (episodes_ == counter_max) {
            throw error("lifecycle::end_episode(): episodes is " + format_number(episodes_) +
                        ", the largest count it holds; no further episode can be recorded");
        }
        const std::uint64_t episode = episodes_;
        // Decide on the window as it will be with this reward, without
        // storing it yet: everything that can throw (the reason's strings,
        // the log's room) comes before the first change.
        if (window_size_ + 1 < config_.window) {  // fewer than K rewards in this stage: no decision
            record(reward);
            return std::nullopt;
        }
        const auto [mean, sd] = statistics_with(reward);
        if (!leaves(stage_, mean, sd, config_)) {
            record(reward);
            return std::nullopt;
        }
        if (transition_count_ == counter_max) {
            throw error("lifecycle::end_episode(): transition_count is " + format_number(transition_count_) +
                        ", the largest count it holds; no further transition can be made");
        }

        const std::string over = " over the last " + format_number(config_.window) + " episodes";
        transition t;
        t.from = stage_;
        t.episode = episode;
        t.samples = config_.window;
        t.mean = mean;
        t.std = sd;
        switch (stage_) {
            case stage::offline:  // line 11: avg(R) ≥ T_online
                t.to = stage::online;
                t.reason = "mean " + format_number(mean) + " >= T_online " + format_number(config_.t_online) + over;
                break;
            case stage::online:  // line 15: avg(R) ≥ T_serving and std(R) ≤ T_var
                t.to = stage::serving;
                t.reason = "mean " + format_number(mean) + " >= T_serving " + format_number(config_.t_serving) +
                           " and std " + format_number(sd) + " <= T_var " + format_number(config_.t_var) + over;
                break;
            case stage::serving: {  // line 19: avg(R) < T_serving or std(R) > T_var
                const bool low = mean < config_.t_serving;
                const bool wide = sd > config_.t_var;
                t.to = stage::online;
                std::string why;
                if (low) why = "mean " + format_number(mean) + " < T_serving " + format_number(config_.t_serving);
                if (low && wide) why += " and ";
                if (wide) why += "std " + format_number(sd) + " > T_var " + format_number(config_.t_var);
                t.reason = why + over + ": retraining";
                break;
            }
            case stage::initialized: return std::nullopt;  // unreachable: checked above
        }
        // The transition restarts the window, so this reward is not stored:
        // it counts only as an episode, and it is in the transition's mean.
        enter(t);
        ++episodes_;
        return t;
    }

    /// Who acts this tick. INITIALIZED: the fallback (nothing is learned
    /// yet); OFFLINE: the fallback; ONLINE: the agent, or the fallback during
    /// a high-stakes retraining pass; SERVING: the agent.
    [[nodiscard]] actor_role who_acts() const noexcept { return rlscale::who_acts(stage_, retraining_, config_.high_stakes); }
    /// Whether the fallback's decision is a floor under the agent's this
    /// tick: configured (fallback_floor) and the agent acts.
    [[nodiscard]] bool floors_agent() const noexcept {
        return config_.fallback_floor && who_acts() == actor_role::agent;
    }
    /// Whether the agent explores (noise, sampling): ONLINE while it acts.
    [[nodiscard]] bool explores() const noexcept {
        return stage_ == stage::online && who_acts() == actor_role::agent;
    }
    /// Whether the agent updates its networks: OFFLINE and ONLINE. SERVING
    /// only evaluates (the AWARE code's skip_update).
    [[nodiscard]] bool learns() const noexcept { return stage_ == stage::offline || stage_ == stage::online; }
    /// Whether the agent learns from the fallback's transitions rather than
    /// its own: OFFLINE, and ONLINE during a high-stakes retraining pass.
    [[nodiscard]] bool off_policy() const noexcept {
        return stage_ == stage::offline || high_stakes_retraining();
    }
    /// Whether the actor is regularised toward the fallback's actions
    /// (TD3+BC; AWARE §3.4 cites BCQ against extrapolation error): OFFLINE
    /// only. A high-stakes retraining pass starts from a policy that served
    /// well; pulling it toward the fallback would undo it.
    [[nodiscard]] bool behaviour_cloning() const noexcept { return stage_ == stage::offline; }

    /// A decision's reason for the decision log (a string literal).
    [[nodiscard]] std::string_view reason_tag() const noexcept {
        switch (stage_) {
            case stage::initialized: return "lifecycle: INITIALIZED, fallback acts";
            case stage::offline: return "lifecycle: OFFLINE, fallback acts, agent learns off-policy";
            case stage::online:
                if (high_stakes_retraining()) {
                    return "lifecycle: ONLINE retraining (high stakes), fallback acts, agent learns off-policy";
                }
                return retraining_ ? "lifecycle: ONLINE retraining, agent explores" : "lifecycle: ONLINE, agent explores";
            case stage::serving: return "lifecycle: SERVING, agent acts";
        }
        return "lifecycle: INITIALIZED, fallback acts";
    }

    /// Rewards in the current window (earned since the last transition, at
    /// most K), oldest first.
    [[nodiscard]] std::vector<double> window() const {
        std::vector<double> out;
        out.reserve(window_size_);
        for (std::size_t i = 0; i < window_size_; ++i) out.push_back(at(i));
        return out;
    }
    [[nodiscard]] std::size_t window_size() const noexcept { return window_size_; }

    /// Mean and population standard deviation of the window (0, 0 when empty),
    /// two-pass, oldest first, the mean kept within the window's smallest and
    /// largest reward, as the decisions compute them.
    [[nodiscard]] std::pair<double, double> window_statistics() const noexcept {
        return statistics(window_size_, [this](std::size_t i) { return at(i); });
    }

    /// The last config().log_capacity transitions, oldest first.
    [[nodiscard]] const std::deque<transition>& log() const noexcept { return log_; }
    /// Every transition since construction, including those the log dropped.
    [[nodiscard]] std::uint64_t transition_count() const noexcept { return transition_count_; }

    /// The whole state, for a checkpoint: configuration, stage, window,
    /// episode count and log.
    friend void to_json(nlohmann::json& j, const lifecycle& l) {
        nlohmann::json log = nlohmann::json::array();
        for (const transition& t : l.log_) log.push_back(t);
        j = nlohmann::json{{"version", json_version},
                           {"config", l.config_},
                           {"stage", to_string(l.stage_)},
                           {"retraining", l.retraining_},
                           {"episodes", l.episodes_},
                           {"window", l.window()},
                           {"transition_count", l.transition_count_},
                           {"log", std::move(log)}};
    }

    /// Restores a state to_json wrote. Validates everything first and throws
    /// checkpoint_error naming the JSON path of the offending field
    /// ("config.t_var", "window[3]", "log[0].to"); `l` is unchanged then.
    friend void from_json(const nlohmann::json& j, lifecycle& l) { l = parse(j); }

    /// The format version to_json writes.
    static constexpr std::int64_t json_version = lifecycle_json_version;

private:
    [[nodiscard]] bool high_stakes_retraining() const noexcept {
        return stage_ == stage::online && retraining_ && config_.high_stakes;
    }

    [[nodiscard]] double at(std::size_t i) const noexcept { return window_[(window_start_ + i) % window_.size()]; }

    void push(double reward) noexcept {
        if (window_size_ < window_.size()) {
            window_[(window_start_ + window_size_) % window_.size()] = reward;
            ++window_size_;
        } else {  // full: the oldest leaves
            window_[window_start_] = reward;
            window_start_ = (window_start_ + 1) % window_.size();
        }
    }

    /// Mean and population standard deviation of the `n` values `value(0)`,
    /// ..., `value(n - 1)`, two-pass, in that order. The mean is clamped into
    /// [min, max] of the values: rounding can put a sum's quotient an ulp
    /// outside them (ten rewards of 99.9 sum to 998.9999999999999, whose
    /// tenth is 99.89999999999999), which would make K equal rewards miss an
    /// inclusive threshold they meet. Clamped, a constant window's mean is
    /// exactly its value and its deviation exactly 0.
    template <typename Value>
    [[nodiscard]] static std::pair<double, double> statistics(std::size_t n, const Value& value) noexcept {
        if (n == 0) return {0.0, 0.0};
        double sum = 0;
        double lo = value(0);
        double hi = lo;
        for (std::size_t i = 0; i < n; ++i) {
            const double x = value(i);
            sum += x;
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
        const double mean = std::clamp(sum / static_cast<double>(n), lo, hi);
        double squares = 0;
        for (std::size_t i = 0; i < n; ++i) squares += (value(i) - mean) * (value(i) - mean);
        return {mean, std::sqrt(squares / static_cast<double>(n))};
    }

    /// window_statistics() of the window `push(reward)` would leave when it
    /// makes the window full (it holds K - 1 or K rewards), computed without
    /// changing it, in the same order.
    [[nodiscard]] std::pair<double, double> statistics_with(double reward) const noexcept {
        const std::size_t kept = config_.window - 1;  // the newest K - 1 stay
        const std::size_t skip = window_size_ - kept;
        return statistics(config_.window, [&](std::size_t i) { return i < kept ? at(skip + i) : reward; });
    }

    /// An episode that made no transition: its reward joins the window.
    void record(double reward) noexcept {
        push(reward);
        ++episodes_;
    }

    /// Makes transition `t`. `t` is a copy and the log's push_back the only
    /// step that can fail (std::bad_alloc), and std::deque's push_back then
    /// changes nothing; both come before the first change, so a failed
    /// transition leaves the lifecycle as it was.
    void enter(transition t) {
        const stage from = t.from;
        const stage to = t.to;
        log_.push_back(std::move(t));
        while (log_.size() > config_.log_capacity) log_.pop_front();
        ++transition_count_;
        if (to == stage::serving) retraining_ = false;
        if (from == stage::serving) retraining_ = true;
        stage_ = to;
        window_size_ = 0;  // the next decision looks only at episodes of the new stage
        window_start_ = 0;
    }

    /// Algorithm 1's condition for leaving `from` on K rewards of this mean
    /// and standard deviation: OFFLINE when avg ≥ T_online (line 11),
    /// ONLINE when avg ≥ T_serving and std ≤ T_var (line 15), SERVING when
    /// avg < T_serving or std > T_var (line 19). INITIALIZED is left by start().
    [[nodiscard]] static bool leaves(stage from, double mean, double sd, const lifecycle_config& c) noexcept {
        switch (from) {
            case stage::offline: return mean >= c.t_online;
            case stage::online: return mean >= c.t_serving && sd <= c.t_var;
            case stage::serving: return mean < c.t_serving || sd > c.t_var;
            case stage::initialized: return false;
        }
        return false;
    }

    /// Why transition `t` could not have been made under `c`, or "" if it could.
    [[nodiscard]] static std::string judged_wrongly(const transition& t, const lifecycle_config& c) {
        if (t.from == stage::initialized) {
            const stage first = c.bootstrapping ? stage::offline : stage::online;
            if (t.to != first) {
                return "start() enters " + std::string(to_string(first)) + " with config.bootstrapping " +
                       (c.bootstrapping ? "true" : "false") + ", not " + std::string(to_string(t.to));
            }
            if (t.samples != 0) return "start() looks at no rewards, but samples is " + std::to_string(t.samples);
            return {};
        }
        if (t.samples != c.window) {
            return "samples is " + std::to_string(t.samples) + ", but a transition is decided on config.window (" +
                   std::to_string(c.window) + ") rewards";
        }
        if (!leaves(t.from, t.mean, t.std, c)) {
            return std::string(to_string(t.from)) + " -> " + std::string(to_string(t.to)) + " with mean " + format_number(t.mean) +
                   " and std " + format_number(t.std) + " does not meet its condition under the config's thresholds";
        }
        return {};
    }

    static lifecycle parse(const nlohmann::json& j) {
        namespace lj = detail::lifecycle_json;
        using E = checkpoint_error;
        const auto get = [&](std::string_view key) -> const nlohmann::json& { return lj::field<E>(j, key, ""); };

        const std::uint64_t version = lj::unsigned_integer<E>(get("version"), "version");
        if (version != static_cast<std::uint64_t>(json_version)) {
            throw E("version", "unknown version " + std::to_string(version) + " (this build reads version " +
                                   std::to_string(json_version) + ")");
        }
        lifecycle_config config = lj::read_config<E>(get("config"), "config");
        try {
            config.validate();
        } catch (const config_error& e) {
            // "lifecycle_config.t_var" → "config.t_var"
            const std::string& f = e.field();
            const std::string_view prefix = "lifecycle_config.";
            const std::string name = f.rfind(prefix, 0) == 0 ? f.substr(prefix.size()) : f;
            throw E("config." + name, e.detail());
        }
        lifecycle l(config);
        l.stage_ = lj::stage_value<E>(get("stage"), "stage");
        l.retraining_ = lj::boolean<E>(get("retraining"), "retraining");
        if (l.retraining_ && l.stage_ != stage::online) {
            throw E("retraining", "is true but the stage is " + std::string(to_string(l.stage_)) +
                                      " (a retraining pass happens in ONLINE)");
        }
        l.episodes_ = lj::unsigned_integer<E>(get("episodes"), "episodes");

        const nlohmann::json& window = get("window");
        if (!window.is_array()) throw E("window", "expected an array, got " + json_summary(window));
        if (window.size() > config.window) {
            throw E("window", "holds " + std::to_string(window.size()) + " rewards, more than config.window (" +
                                  std::to_string(config.window) + ")");
        }
        if (window.size() > l.episodes_) {
            throw E("window", "holds " + std::to_string(window.size()) + " rewards, more than episodes (" +
                                  std::to_string(l.episodes_) + ")");
        }
        if (l.stage_ == stage::initialized && (!window.empty() || l.episodes_ != 0)) {
            if (!window.empty()) {
                throw E("window", "must be empty in stage INITIALIZED, holds " + std::to_string(window.size()) +
                                      " rewards (no episode is recorded before start())");
            }
            throw E("episodes", "must be 0 in stage INITIALIZED, got " + std::to_string(l.episodes_) +
                                    " (no episode is recorded before start())");
        }
        for (std::size_t i = 0; i < window.size(); ++i) {
            const double r = lj::finite_number<E>(window[i], lj::path("window", i));
            if (!(std::abs(r) <= max_reward)) {
                throw E(lj::path("window", i), "is " + format_number(r) + ", beyond +-" + format_number(max_reward) + " (end_episode refuses it)");
            }
            l.push(r);
        }

        l.transition_count_ = lj::unsigned_integer<E>(get("transition_count"), "transition_count");
        const nlohmann::json& log = get("log");
        if (!log.is_array()) throw E("log", "expected an array, got " + json_summary(log));
        if (log.size() > config.log_capacity) {
            throw E("log", "holds " + std::to_string(log.size()) + " transitions, more than config.log_capacity (" +
                               std::to_string(config.log_capacity) + ")");
        }
        if (log.size() > l.transition_count_) {
            throw E("transition_count", "is " + std::to_string(l.transition_count_) + " but the log holds " +
                                            std::to_string(log.size()) + " transitions");
        }
        if ((l.stage_ == stage::initialized) != (l.transition_count_ == 0)) {
            throw E("transition_count", "is " + std::to_string(l.transition_count_) + " in stage " +
                                            std::string(to_string(l.stage_)) +
                                            " (zero exactly while INITIALIZED)");
        }
        for (std::size_t i = 0; i < log.size(); ++i) {
            const std::string p = lj::path("log", i);
            const auto f = [&](std::string_view key) -> const nlohmann::json& { return lj::field<E>(log[i], key, p); };
            transition t;
            t.from = lj::stage_value<E>(f("from"), lj::path(p, "from"));
            t.to = lj::stage_value<E>(f("to"), lj::path(p, "to"));
            if (!legal_transition(t.from, t.to)) {
                throw E(lj::path(p, "to"), "no transition " + std::string(to_string(t.from)) + " -> " +
                                               std::string(to_string(t.to)) + " in Algorithm 1");
            }
            if (i > 0 && t.from != l.log_.back().to) {
                throw E(lj::path(p, "from"), "is " + std::string(to_string(t.from)) + " but the previous transition entered " +
                                                 std::string(to_string(l.log_.back().to)));
            }
            t.episode = lj::unsigned_integer<E>(f("episode"), lj::path(p, "episode"));
            if (t.from == stage::initialized ? t.episode != 0 : t.episode >= l.episodes_) {
                throw E(lj::path(p, "episode"),
                        "is " + std::to_string(t.episode) +
                            (t.from == stage::initialized ? std::string(", but start() happens before episode 0")
                                                          : ", not among the episodes recorded (" +
                                                                std::to_string(l.episodes_) + ")"));
            }
            if (i > 0 && t.episode < l.log_.back().episode) {
                throw E(lj::path(p, "episode"), "is " + std::to_string(t.episode) + ", before the previous transition's (" +
                                                    std::to_string(l.log_.back().episode) + ")");
            }
            // Every transition restarts the window, and a decision needs K
            // rewards: K episodes after start() (which comes before episode
            // 0, so at episode K - 1 at the earliest), K after any other.
            if (i > 0) {
                const transition& previous = l.log_.back();
                const std::uint64_t k = config.window;
                const std::uint64_t earliest = previous.from == stage::initialized ? k - 1
                                               : previous.episode > UINT64_MAX - k ? UINT64_MAX
                                                                                   : previous.episode + k;
                if (t.episode < earliest) {
                    throw E(lj::path(p, "episode"),
                            "is " + std::to_string(t.episode) + ", but a decision needs config.window (" + std::to_string(config.window) +
                                ") rewards after the previous transition (episode " + std::to_string(previous.episode) +
                                "), so episode " + std::to_string(earliest) + " at the earliest");
                }
            }
            const std::uint64_t samples = lj::unsigned_integer<E>(f("samples"), lj::path(p, "samples"));
            if (samples > config.window) {
                throw E(lj::path(p, "samples"), "is " + std::to_string(samples) + ", more than config.window (" +
                                                    std::to_string(config.window) + ")");
            }
            t.samples = static_cast<std::size_t>(samples);
            t.mean = lj::finite_number<E>(f("mean"), lj::path(p, "mean"));
            t.std = lj::finite_number<E>(f("std"), lj::path(p, "std"));
            if (t.std < 0) throw E(lj::path(p, "std"), "must be >= 0, got " + format_number(t.std));
            // start() looks at no rewards: it logs mean 0 and std 0.
            if (t.from == stage::initialized) {
                if (t.mean != 0) throw E(lj::path(p, "mean"), "is " + format_number(t.mean) + ", but start() looks at no rewards and logs 0");
                if (t.std != 0) throw E(lj::path(p, "std"), "is " + format_number(t.std) + ", but start() looks at no rewards and logs 0");
            }
            t.reason = lj::text<E>(f("reason"), lj::path(p, "reason"));
            // Each transition as end_episode() or start() made it: on K
            // rewards, with its condition met (Algorithm 1), or start()'s.
            if (const std::string why = judged_wrongly(t, config); !why.empty()) throw E(p, why);
            l.log_.push_back(std::move(t));
        }
        if (log.empty() && l.transition_count_ > 0) {
            throw E("log", "is empty but transition_count is " + std::to_string(l.transition_count_) + " (the log keeps the newest)");
        }
        // The log drops only what exceeds log_capacity, so it holds the
        // newest min(transition_count, log_capacity) transitions; when it
        // holds them all, the first is start() (transition 1).
        const std::uint64_t kept = std::min<std::uint64_t>(l.transition_count_, config.log_capacity);
        if (l.log_.size() != kept) {
            throw E("log", "holds " + std::to_string(l.log_.size()) + " transitions, but a lifecycle with transition_count " +
                               std::to_string(l.transition_count_) + " and config.log_capacity " +
                               std::to_string(config.log_capacity) + " keeps the newest " + std::to_string(kept));
        }
        if (!l.log_.empty() && (l.log_.front().from == stage::initialized) != (l.transition_count_ == l.log_.size())) {
            throw E(lj::path("log", 0), "is " + std::string(to_string(l.log_.front().from)) + " -> " +
                                            std::string(to_string(l.log_.front().to)) +
                                            (l.transition_count_ == l.log_.size() ? ", but a log holding every transition begins with start()"
                                                                                   : ", start(), but the log does not hold every transition"));
        }
        // A log that dropped its oldest transitions: the first one kept must
        // be what that transition's number can be, no earlier than a run
        // reaches it. start() is transition 1; with bootstrapping, OFFLINE
        // -> ONLINE is transition 2; after ONLINE is entered, ONLINE ->
        // SERVING and SERVING -> ONLINE alternate; and each transition after
        // start() needs K more rewards (transition j at episode (j - 1)·K - 1
        // at the earliest).
        if (!l.log_.empty() && l.log_.front().from != stage::initialized) {
            const transition& first = l.log_.front();
            const std::uint64_t number = l.transition_count_ - l.log_.size() + 1;
            const std::uint64_t online_entered = config.bootstrapping ? 2 : 1;
            std::string why;
            if (first.from == stage::offline) {
                if (!config.bootstrapping) {
                    why = "leaves OFFLINE, which a lifecycle without bootstrapping never enters";
                } else if (number != 2) {
                    why = "leaves OFFLINE, which only transition 2 does";
                }
            } else if (number <= online_entered || (((number - online_entered) % 2 == 1) != (first.from == stage::online))) {
                why = "is " + std::string(to_string(first.from)) + " -> " + std::string(to_string(first.to)) +
                      ", which transition " + std::to_string(number) + " cannot be" +
                      (config.bootstrapping ? " with bootstrapping" : " without bootstrapping");
            }
            const std::uint64_t k = config.window;  // >= 1; number >= 2 here
            if (why.empty() && (number - 1 > UINT64_MAX / k || first.episode < (number - 1) * k - 1)) {
                why = "is at episode " + std::to_string(first.episode) + ", too early for transition " + std::to_string(number) +
                      " (each after start() needs config.window, " + std::to_string(k) + ", more rewards)";
            }
            if (!why.empty()) {
                throw E(lj::path("log", 0), why + "; transition_count " + std::to_string(l.transition_count_) + " and " +
                                                std::to_string(l.log_.size()) + " kept make it transition " + std::to_string(number));
            }
        }
        // A retraining pass is exactly an ONLINE stage entered from SERVING.
        if (!l.log_.empty()) {
            const bool from_serving = l.stage_ == stage::online && l.log_.back().from == stage::serving;
            if (l.retraining_ != from_serving) {
                throw E("retraining", std::string("is ") + (l.retraining_ ? "true" : "false") + " but the last transition is " +
                                          std::string(to_string(l.log_.back().from)) + " -> " + std::string(to_string(l.log_.back().to)));
            }
        }
        if (!l.log_.empty() && l.log_.back().to != l.stage_) {
            throw E("stage", "is " + std::string(to_string(l.stage_)) + " but the last transition entered " +
                                 std::string(to_string(l.log_.back().to)));
        }
        // The window as end_episode() leaves it: every transition empties it
        // and each later episode adds its reward, so it holds the last
        // min(K, episodes since the last transition) rewards (start() comes
        // before episode 0, any other transition at the end of its
        // episode); and a full one never meets the stage's exit condition,
        // or that episode would have made the transition.
        if (!l.log_.empty()) {
            const transition& last = l.log_.back();
            const std::uint64_t since = last.from == stage::initialized ? l.episodes_ - last.episode : l.episodes_ - last.episode - 1;
            const std::uint64_t expected = std::min<std::uint64_t>(config.window, since);
            if (l.window_size_ != expected) {
                throw E("window", "holds " + std::to_string(l.window_size_) + " rewards, but " + std::to_string(since) +
                                      " episodes ended since the last transition (at episode " + std::to_string(last.episode) +
                                      "), so it holds the last " + std::to_string(expected) + " (at most config.window, " +
                                      std::to_string(config.window) + ")");
            }
            if (l.window_size_ == config.window) {
                const auto [mean, sd] = l.window_statistics();
                if (leaves(l.stage_, mean, sd, config)) {
                    throw E("window", "has mean " + format_number(mean) + " and std " + format_number(sd) + " over config.window (" +
                                          std::to_string(config.window) + ") rewards, which leave " +
                                          std::string(to_string(l.stage_)) +
                                          " (Algorithm 1), so its last episode would have made that transition");
                }
            }
        }
        return l;
    }

    lifecycle_config config_;
    stage stage_ = stage::initialized;
    bool retraining_ = false;
    std::uint64_t episodes_ = 0;
    std::vector<double> window_;  // ring buffer of capacity K
    std::size_t window_start_ = 0;
    std::size_t window_size_ = 0;
    std::deque<transition> log_;
    std::uint64_t transition_count_ = 0;
};

}  // namespace rlscale
