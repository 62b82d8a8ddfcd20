#pragma once

/// The AWARE agent's lifecycle stages (Qiu et al., USENIX ATC'23, Algorithm 1)
/// and who acts in them, with the names the paper writes.

#include <rlscale/core/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rlscale {

/// A stage of Algorithm 1. The order is the paper's: an agent starts
/// INITIALIZED, bootstraps OFFLINE (optional), trains ONLINE, then serves.
enum class stage : std::uint8_t {
    initialized,  ///< INITIALIZED: created, nothing learned yet
    offline,      ///< OFFLINE: offline training, the fallback acts, the agent learns from its transitions
    online,       ///< ONLINE: online training, the agent acts and explores (or, high-stakes retraining, the fallback acts)
    serving,      ///< SERVING: online policy serving, the agent acts greedily and does not learn
};

/// The paper's status code: "INITIALIZED", "OFFLINE", "ONLINE", "SERVING".
[[nodiscard]] constexpr std::string_view to_string(stage s) noexcept {
    switch (s) {
        case stage::initialized: return "INITIALIZED";
        case stage::offline: return "OFFLINE";
        case stage::online: return "ONLINE";
        case stage::serving: return "SERVING";
    }
    return "INITIALIZED";
}

/// The stage a status code names, or nothing. Exact and case-sensitive, as
/// the paper writes them.
[[nodiscard]] constexpr std::optional<stage> parse_stage(std::string_view name) noexcept {
    for (const stage s : {stage::initialized, stage::offline, stage::online, stage::serving}) {
        if (name == to_string(s)) return s;
    }
    return std::nullopt;
}

/// The stage a status code names; throws config_error naming `field` and the
/// value otherwise.
[[nodiscard]] inline stage stage_from_string(std::string_view name, const std::string& field = "stage") {
    if (const std::optional<stage> s = parse_stage(name)) return *s;
    throw config_error(field, "unknown stage \"" + std::string(name) +
                                  "\" (expected INITIALIZED, OFFLINE, ONLINE or SERVING)");
}

/// Who acts on the environment in a tick.
enum class actor_role : std::uint8_t {
    fallback,  ///< the heuristic controller (HPA/VPA): AWARE's navigator while bootstrapping
    agent,     ///< the RL agent
};

[[nodiscard]] constexpr std::string_view to_string(actor_role r) noexcept {
    switch (r) {
        case actor_role::fallback: return "fallback";
        case actor_role::agent: return "agent";
    }
    return "fallback";
}

/// The role `name` ("fallback", "agent") names; throws config_error naming
/// `field` and the value otherwise.
[[nodiscard]] inline actor_role actor_role_from_string(std::string_view name, const std::string& field = "actor") {
    if (name == "fallback") return actor_role::fallback;
    if (name == "agent") return actor_role::agent;
    throw config_error(field, "unknown actor \"" + std::string(name) + "\" (expected fallback or agent)");
}

/// Who acts in stage `s`: the fallback while INITIALIZED (nothing is learned
/// yet) and OFFLINE; ONLINE, the agent, or the fallback during a retraining
/// pass (`retraining`) of a high-stakes deployment (`high_stakes`); SERVING,
/// the agent. The one rule lifecycle::who_acts and the registry's judgement
/// of a checkpoint's lifecycle both apply.
[[nodiscard]] constexpr actor_role who_acts(stage s, bool retraining, bool high_stakes) noexcept {
    switch (s) {
        case stage::initialized:
        case stage::offline: return actor_role::fallback;
        case stage::online: return retraining && high_stakes ? actor_role::fallback : actor_role::agent;
        case stage::serving: return actor_role::agent;
    }
    return actor_role::fallback;
}

/// The version of the layout lifecycle::to_json writes (lifecycle::
/// json_version), here so that code judging a checkpoint's lifecycle field
/// need not include the lifecycle itself.
inline constexpr std::int64_t lifecycle_json_version = 1;

/// Whether Algorithm 1 has an edge from `from` to `to`: INITIALIZED → OFFLINE
/// (bootstrapping) or ONLINE, OFFLINE → ONLINE, ONLINE → SERVING, SERVING →
/// ONLINE (retraining). No stage is skipped and none is re-entered.
[[nodiscard]] constexpr bool legal_transition(stage from, stage to) noexcept {
    switch (from) {
        case stage::initialized: return to == stage::offline || to == stage::online;
        case stage::offline: return to == stage::online;
        case stage::online: return to == stage::serving;
        case stage::serving: return to == stage::online;
    }
    return false;
}

}  // namespace rlscale
