#pragma once

/// What serving needs to know of a trained network, stored in its
/// checkpoint beside the weights (field "serving"): the algorithm, the
/// encoder and its settings, the action map and its settings, the
/// scale-down stabiliser, the functions in order, and the guard limits the
/// policy was evaluated with. policy/registry.hpp turns a spec into a
/// policy; every program (controller, decision service, evaluation tool)
/// serves a checkpoint through it.

#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/policy/guarded.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rlscale {

namespace detail {

/// `names` joined with ", ", for an error's list of what is known.
template <typename Names>
[[nodiscard]] std::string joined_names(const Names& names) {
    std::string out;
    for (const std::string_view n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

/// A key as an error names it: valid UTF-8, at most 64 bytes, its control
/// bytes escaped (a key holding a line break must not forge a log line).
[[nodiscard]] inline std::string printable_key(std::string_view key) { return escape_controls(valid_utf8(key, 64)); }

/// The first key of object `o` that is none of `known`, if any.
template <typename Names>
[[nodiscard]] std::optional<std::string> unknown_key(const nlohmann::json& o, const Names& known) {
    for (const auto& item : o.items()) {
        if (std::find(std::begin(known), std::end(known), item.key()) == std::end(known)) return item.key();
    }
    return std::nullopt;
}

}  // namespace detail

/// A learned policy's serving spec. Names are checked by the registry when
/// a policy is built (a spec may name what a newer build knows); shapes and
/// types are checked when it is read.
///
/// A field that changes what is served, and that a reader which does not
/// know it would skip, is also listed in "requires" when it is set (today:
/// "fallback_floor"). A reader refuses a spec that requires a feature it
/// does not implement, so a checkpoint is never served without a setting it
/// was trained with. Builds from before "requires" existed do not read it.
/// A key this build does not know is refused whether it is required or not
/// (from_json); builds before that skipped it, "requires" is what stops them.
struct serving_spec {
    /// The features this build implements, as "requires" names them.
    static constexpr std::string_view known_features[] = {"fallback_floor"};
    /// The keys of a spec: the fields to_json writes and from_json reads.
    static constexpr std::string_view keys[] = {"algorithm", "encoder", "actions",        "downscale_window",
                                                "functions", "guard",   "fallback_floor", "requires"};
    /// The keys of "guard": the guard_config fields guard_json writes.
    static constexpr std::string_view guard_keys[] = {
        "max_step_up",   "max_step_down", "max_cpu_step",        "max_memory_step_mb",   "min_cpu_limit",
        "max_cpu_limit", "min_memory_limit_mb", "max_memory_limit_mb", "vertical_min_replicas"};

    std::string algorithm = "dqn";  ///< dqn (greedy over Q heads) | ppo (greedy over logits) | ddpg (μ(s))
    /// The encoder: {"name": scarlet | scarlet_relative | polimi | simppo | firm, ...its settings}.
    nlohmann::json encoder = {{"name", "scarlet_relative"}};
    /// The action map: {"name": joint_delta | factored_delta | replica_count | utilization_target | simppo, ...its settings}.
    nlohmann::json actions = {{"name", "joint_delta"}};
    std::size_t downscale_window = 0;    ///< scale-down stabilisation in ticks (0 = none)
    std::vector<std::string> functions;  ///< the functions in the order the network sees them (their count is N)
    guard_config guard = {};             ///< step limits the policy was trained and evaluated with
    bool fallback_floor = false;         ///< the fallback's decision is a floor under the policy's (rl_policy::set_fallback_floor)

    [[nodiscard]] std::size_t function_count() const noexcept { return functions.size(); }
    [[nodiscard]] std::string encoder_name() const { return encoder.at("name").get<std::string>(); }
    [[nodiscard]] std::string actions_name() const { return actions.at("name").get<std::string>(); }

    /// Writes the spec. Its guard is checked first, as from_json checks a
    /// checkpoint's (checkpoint_error naming serving.guard.<field> and the
    /// value): guard_json leaves out a value that is not finite, so a NaN
    /// step or a -inf bound would otherwise be written, and served, as the
    /// default "no limit".
    [[nodiscard]] nlohmann::json to_json() const {
        check_guard(guard);
        nlohmann::json j = {{"algorithm", algorithm},
                            {"encoder", encoder},
                            {"actions", actions},
                            {"downscale_window", downscale_window},
                            {"functions", functions},
                            {"guard", guard_json()}};
        if (fallback_floor) {  // written only when set: other specs read as before
            j["fallback_floor"] = true;
            j["requires"] = {"fallback_floor"};
        }
        return j;
    }

    /// The guard's limits; the vertical ones only where they differ from
    /// the defaults (a horizontal policy's spec stays as it was).
    [[nodiscard]] nlohmann::json guard_json() const {
        nlohmann::json g = {{"max_step_up", guard.max_step_up}, {"max_step_down", guard.max_step_down}};
        const guard_config d;
        const auto put = [&](const char* key, double v, double def) {
            if (v != def && std::isfinite(v)) g[key] = v;
        };
        put("max_cpu_step", guard.max_cpu_step, d.max_cpu_step);
        put("max_memory_step_mb", guard.max_memory_step_mb, d.max_memory_step_mb);
        put("min_cpu_limit", guard.min_cpu_limit, d.min_cpu_limit);
        put("max_cpu_limit", guard.max_cpu_limit, d.max_cpu_limit);
        put("min_memory_limit_mb", guard.min_memory_limit_mb, d.min_memory_limit_mb);
        put("max_memory_limit_mb", guard.max_memory_limit_mb, d.max_memory_limit_mb);
        if (guard.vertical_min_replicas != d.vertical_min_replicas) g["vertical_min_replicas"] = guard.vertical_min_replicas;
        return g;
    }

    /// guard_config::validate's rules, failing as a checkpoint's guard does:
    /// checkpoint_error naming serving.guard.<field> and the value.
    static void check_guard(const guard_config& g) {
        try {
            g.validate();
        } catch (const config_error& e) {
            const std::string& field = e.field();  // guard_config.<field>
            const std::size_t dot = field.find('.');
            throw checkpoint_error("serving.guard." + (dot == std::string::npos ? field : field.substr(dot + 1)), e.detail());
        }
    }

    /// Reads a spec; throws checkpoint_error naming the field (as
    /// "serving.<field>") for a missing or mistyped value, and for a key
    /// that is none of the spec's fields.
    [[nodiscard]] static serving_spec from_json(const nlohmann::json& j) {
        const auto fail = [](const std::string& field, const std::string& message) {
            throw checkpoint_error("serving." + field, message);
        };
        if (!j.is_object()) fail("", "must be an object");
        serving_spec s;
        const auto string_field = [&](const char* field) -> std::string {
            if (!j.contains(field)) fail(field, "is missing");
            if (!j[field].is_string()) fail(field, "must be a string, got " + json_summary(j[field]));
            return j[field].get<std::string>();
        };
        const auto named_object = [&](const char* field) -> nlohmann::json {
            if (!j.contains(field)) fail(field, "is missing");
            const auto& o = j[field];
            if (!o.is_object()) fail(field, "must be an object, got " + json_summary(o));
            if (!o.contains("name")) fail(std::string(field) + ".name", "is missing");
            if (!o["name"].is_string()) fail(std::string(field) + ".name", "must be a string, got " + json_summary(o["name"]));
            return o;
        };
        s.algorithm = string_field("algorithm");
        s.encoder = named_object("encoder");
        s.actions = named_object("actions");
        if (j.contains("downscale_window")) {
            const auto& w = j["downscale_window"];
            if (!w.is_number_integer() || w.get<std::int64_t>() < 0 || w.get<std::int64_t>() > 100'000) {
                fail("downscale_window", "must be an integer in [0, 100000], got " + json_summary(w));
            }
            s.downscale_window = w.get<std::size_t>();
        }
        if (j.contains("fallback_floor")) {
            if (!j["fallback_floor"].is_boolean()) fail("fallback_floor", "must be true or false, got " + json_summary(j["fallback_floor"]));
            s.fallback_floor = j["fallback_floor"].get<bool>();
        }
        if (j.contains("requires")) {
            const auto& r = j["requires"];
            if (!r.is_array() || r.size() > 64) fail("requires", "must be an array of at most 64 feature names, got " + json_summary(r));
            for (std::size_t i = 0; i < r.size(); ++i) {
                const std::string field = "requires[" + std::to_string(i) + "]";
                if (!r[i].is_string()) fail(field, "must be a string, got " + json_summary(r[i]));
                const auto name = r[i].get<std::string>();
                if (std::find(std::begin(known_features), std::end(known_features), name) == std::end(known_features)) {
                    fail(field, "is \"" + name + "\", a feature this build does not implement (it knows: " +
                                    detail::joined_names(known_features) +
                                    "); serving the checkpoint without it would not serve what was trained");
                }
                // Required but not set contradicts itself: the spec was edited
                // or written wrongly, and which half is meant is unknown.
                if (name == "fallback_floor" && !s.fallback_floor) fail(field, "names fallback_floor, but fallback_floor is not true");
            }
        }
        // A key this reader does not know is refused, as guard's are (below):
        // a misspelt field ("downscale_windw") would otherwise be served at
        // its default. After "requires", which names a newer build's
        // feature more plainly than its unknown key would.
        if (const auto key = detail::unknown_key(j, keys)) {
            fail(detail::printable_key(*key), "is not a field of the serving spec (it has: " + detail::joined_names(keys) + ")");
        }
        if (!j.contains("functions")) fail("functions", "is missing");
        const auto& f = j["functions"];
        if (!f.is_array() || f.empty() || f.size() > 4096) fail("functions", "must be an array of 1 to 4096 names, got " + json_summary(f));
        for (std::size_t i = 0; i < f.size(); ++i) {
            if (!f[i].is_string() || f[i].get<std::string>().empty()) {
                fail("functions[" + std::to_string(i) + "]", "must be a non-empty string, got " + json_summary(f[i]));
            }
            // One network output per function: a name given twice would
            // have two outputs decide one function and another none.
            const std::string name = f[i].get<std::string>();
            if (const auto seen = std::find(s.functions.begin(), s.functions.end(), name); seen != s.functions.end()) {
                fail("functions[" + std::to_string(i) + "]",
                     "is " + json_summary(f[i]) + ", already functions[" + std::to_string(seen - s.functions.begin()) + "]");
            }
            s.functions.push_back(name);
        }
        // One ring of downscale_window targets per function: bounded
        // together, as the stabiliser bounds them, and named here, before
        // the weights are read.
        if (s.downscale_window * s.functions.size() > 100'000'000) {
            fail("downscale_window", "is " + std::to_string(s.downscale_window) + ": with " + std::to_string(s.functions.size()) +
                                         " functions that is more than 100000000 targets to keep (functions x window)");
        }
        if (j.contains("guard")) {
            const auto& g = j["guard"];
            if (!g.is_object()) fail("guard", "must be an object, got " + json_summary(g));
            // A key this reader does not know is refused, as the registry
            // refuses an unknown encoder or action setting: a misspelt limit
            // ("max_step_dwon") would otherwise serve with the default.
            if (const auto key = detail::unknown_key(g, guard_keys)) {
                fail("guard." + detail::printable_key(*key), "is not a guard limit (it has: " + detail::joined_names(guard_keys) + ")");
            }
            const auto step = [&](const char* field, int& into) {
                if (!g.contains(field)) return;
                if (!g[field].is_number_integer() || g[field].get<std::int64_t>() < 0 ||
                    g[field].get<std::int64_t>() > 2'147'483'647) {
                    fail(std::string("guard.") + field, "must be an integer in [0, 2147483647], got " + json_summary(g[field]));
                }
                into = g[field].get<int>();
            };
            step("max_step_up", s.guard.max_step_up);
            step("max_step_down", s.guard.max_step_down);
            step("vertical_min_replicas", s.guard.vertical_min_replicas);
            const auto limit = [&](const char* field, double& into) {
                if (!g.contains(field)) return;
                if (!g[field].is_number() || !(g[field].get<double>() > 0) || !std::isfinite(g[field].get<double>())) {
                    fail(std::string("guard.") + field, "must be a finite number > 0, got " + json_summary(g[field]));
                }
                into = g[field].get<double>();
            };
            limit("max_cpu_step", s.guard.max_cpu_step);
            limit("max_memory_step_mb", s.guard.max_memory_step_mb);
            limit("min_cpu_limit", s.guard.min_cpu_limit);
            limit("max_cpu_limit", s.guard.max_cpu_limit);
            limit("min_memory_limit_mb", s.guard.min_memory_limit_mb);
            limit("max_memory_limit_mb", s.guard.max_memory_limit_mb);
            check_guard(s.guard);
        }
        return s;
    }
};

}  // namespace rlscale
