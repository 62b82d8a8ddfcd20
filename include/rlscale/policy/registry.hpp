#pragma once

/// One registry for every policy a program serves: a baseline by name
/// (hpa, hpa-<percent>, kpa, ensure, static) or a learned policy from a
/// checkpoint's serving spec, with one set of defaults. The controller, the
/// decision service and the evaluation tool all build their policies here,
/// so they serve the same artefact the trainer wrote and decide alike.
///
/// A checkpoint whose spec names something this build does not know, or
/// whose network does not fit its spec, is rejected with checkpoint_error
/// naming the field and the value; nothing is built, so a caller that
/// replaces a running policy only on success keeps the old one.

#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/encode/firm_encoder.hpp>
#include <rlscale/encode/polimi_encoder.hpp>
#include <rlscale/encode/relative_scarlet_encoder.hpp>
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/lifecycle/stage.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/policy/serving_spec.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>
#include <rlscale/rl/simppo_actions.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/shared_network.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace rlscale {

/// What the baselines need to know of a function. The defaults are the
/// one set every program uses unless told otherwise.
struct baseline_settings {
    int hpa_cpu_target_percent = 70;     ///< hpa: target CPU utilisation, % of the request ("hpa-<percent>" overrides it)
    double container_concurrency = 1;    ///< kpa, ensure: requests one replica serves at once
    double kpa_target_utilization = 0.7; ///< kpa: share of the concurrency to aim for
    /// kpa: how far back a tick's clock may be and count as jitter
    /// (kpa_config::max_clock_backwards_s); set it to what the caller lets
    /// time go back by (the decision service's max_time_backwards, 1 s by default)
    double kpa_max_clock_backwards_s = 1;
    /// hpa (by name and as a learned policy's fallback): the same for the
    /// HPA's history (hpa_config::max_clock_backwards_s)
    double hpa_max_clock_backwards_s = 1;
    double service_time_s = 0.1;         ///< ensure: mean service time, seconds
    double ensure_c = 1;                 ///< ensure: headroom coefficient
    int static_replicas = 1;             ///< static: the replica count

    /// Throws config_error naming the first field the baseline `policy`
    /// reads that is out of its range (`baseline_settings.container_concurrency`,
    /// ...); the fields it does not read are not looked at.
    void validate(std::string_view policy) const {
        const check_fields check("baseline_settings");
        // The HPA takes any target above 0 % (Kubernetes allows targets
        // above 100 % of the request); "hpa-<percent>" carries its own.
        if (policy == "hpa") check.at_least("hpa_cpu_target_percent", hpa_cpu_target_percent, 1);
        if (policy == "hpa" || policy.starts_with("hpa-")) check.at_least("hpa_max_clock_backwards_s", hpa_max_clock_backwards_s, 0.0);
        if (policy == "kpa" || policy == "ensure") check.greater("container_concurrency", container_concurrency, 0);
        if (policy == "kpa") {
            check.in_open_closed("kpa_target_utilization", kpa_target_utilization, 0, 1)
                .at_least("kpa_max_clock_backwards_s", kpa_max_clock_backwards_s, 0.0);
        }
        if (policy == "ensure") check.greater("service_time_s", service_time_s, 0).at_least("ensure_c", ensure_c, 0);
        if (policy == "static") check.at_least("static_replicas", static_replicas, 0);
    }
};

/// The baseline names make_baseline knows, for error messages and help texts.
inline constexpr std::string_view baseline_names = "hpa, hpa-<percent>, kpa, ensure, static";

/// The CPU target of "hpa" (`fallback`) or "hpa-<percent>", or 0 when
/// `name` names no HPA. Throws config_error (field "policy") for a
/// percentage outside 1..100.
[[nodiscard]] inline int hpa_target_of(std::string_view name, int fallback = baseline_settings{}.hpa_cpu_target_percent) {
    if (name == "hpa") return fallback;
    if (!name.starts_with("hpa-")) return 0;
    const std::string_view digits = name.substr(4);
    int target = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), target);
    if (ec != std::errc{} || end != digits.data() + digits.size() || target < 1 || target > 100) {
        throw config_error("policy", "\"" + std::string(name) + "\": the HPA's CPU target must be a whole percentage in 1..100");
    }
    return target;
}

/// The Kubernetes HPA on CPU at `percent` of the request with the default
/// behavior (scale up: no window, max of 4 pods and 100 % per 15 s; scale
/// down: 300 s window, 100 % per 15 s). A clock more than
/// `max_clock_backwards_s` back starts a new history
/// (hpa_config::max_clock_backwards_s).
[[nodiscard]] inline hpa_policy make_hpa(int percent, double max_clock_backwards_s = 1) {
    hpa_config c = hpa_config::cpu_utilization(percent);
    c.behavior = hpa_behavior{};
    c.max_clock_backwards_s = max_clock_backwards_s;
    return hpa_policy(std::move(c));
}

/// A baseline policy for one function by name (unguarded: the caller
/// guards it). Throws config_error (field "policy") for an unknown name,
/// and as baseline_settings::validate(name) for settings it reads out of range.
[[nodiscard]] inline any_policy make_baseline(std::string_view name, const baseline_settings& s = {}) {
    s.validate(name);
    if (const int target = hpa_target_of(name, s.hpa_cpu_target_percent); target > 0) return any_policy(make_hpa(target, s.hpa_max_clock_backwards_s));
    if (name == "kpa") {
        kpa_config c{.container_concurrency = s.container_concurrency, .target_utilization = s.kpa_target_utilization};
        c.max_clock_backwards_s = s.kpa_max_clock_backwards_s;
        return any_policy(kpa_policy(c));
    }
    if (name == "ensure") {
        return any_policy(ensure_policy({.service_time_s = s.service_time_s, .concurrency = s.container_concurrency, .c = s.ensure_c}));
    }
    if (name == "static") return any_policy(static_policy{.replicas = s.static_replicas});
    throw config_error("policy", "unknown policy \"" + std::string(name) + "\" (" + std::string(baseline_names) + ")");
}

/// Any encoder a serving spec can name, chosen at run time. Encoding
/// dispatches on the held type (no allocation, never throws).
class encoder_variant {
public:
    using variant = std::variant<scarlet_encoder, relative_scarlet_encoder, polimi_encoder, simppo_encoder, firm_encoder>;

    explicit encoder_variant(variant v) : v_(std::move(v)) {}

    [[nodiscard]] std::size_t size() const noexcept {
        return std::visit([](const auto& e) -> std::size_t { return e.size(); }, v_);
    }
    [[nodiscard]] encode_status encode(const function_metrics& m, const scaling_state& s, std::span<float> out) const noexcept {
        return std::visit([&](const auto& e) { return e.encode(m, s, out); }, v_);
    }
    [[nodiscard]] encode_status encode(std::size_t f, const function_metrics& m, const scaling_state& s,
                                       std::span<float> out) const noexcept {
        return std::visit([&](const auto& e) { return encode_function(e, f, m, s, out); }, v_);
    }
    [[nodiscard]] const variant& get() const noexcept { return v_; }

private:
    variant v_;
};
static_assert(function_encoder<encoder_variant>);

/// Any discrete action map a serving spec can name, chosen at run time.
class discrete_map_variant {
public:
    using value_type = std::int32_t;
    using variant = std::variant<rl::joint_delta_actions, rl::factored_delta_actions, rl::replica_count_actions,
                                 rl::utilization_target_actions, rl::simppo_actions>;

    explicit discrete_map_variant(variant v) : v_(std::move(v)) {}

    [[nodiscard]] std::size_t functions() const noexcept {
        return std::visit([](const auto& a) -> std::size_t { return a.functions(); }, v_);
    }
    [[nodiscard]] std::size_t width() const noexcept {
        return std::visit([](const auto& a) -> std::size_t { return a.width(); }, v_);
    }
    [[nodiscard]] rl::q_layout layout() const noexcept {
        return std::visit([](const auto& a) { return a.layout(); }, v_);
    }
    void targets(std::span<const std::int32_t> values, std::span<const function_metrics> metrics, std::span<const scaling_state> states,
                 std::span<scaling_target> out) const noexcept {
        std::visit([&](const auto& a) { a.targets(values, metrics, states, out); }, v_);
    }
    [[nodiscard]] const variant& get() const noexcept { return v_; }

private:
    variant v_;
};
static_assert(discrete_action_map<discrete_map_variant>);

namespace detail {

/// Refuses a setting of spec object `o` (an encoder's or an action map's,
/// `path` names it, `what` is its name) that is not "name" or one of
/// `known`: a misspelt or newer setting would otherwise be served at its
/// default, not at the value the network was trained with.
inline void only_settings(const nlohmann::json& o, const std::string& path, const std::string& what,
                          std::initializer_list<std::string_view> known) {
    for (const auto& item : o.items()) {
        const std::string& key = item.key();
        if (key == "name" || std::find(known.begin(), known.end(), key) != known.end()) continue;
        const std::string list = detail::joined_names(known);
        throw checkpoint_error(path + "." + detail::printable_key(key),
                               "is not a setting of " + what + " (" + (list.empty() ? "it has none" : "it has: " + list) + ")");
    }
}

/// Reads optional setting `key` of a spec object (`path` names it in errors).
template <typename T>
void spec_setting(const nlohmann::json& o, const char* key, const std::string& path, T& into) {
    if (!o.contains(key)) return;
    const auto& v = o[key];
    const std::string field = path + "." + key;
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) throw checkpoint_error(field, "must be a boolean, got " + json_summary(v));
    } else if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer()) throw checkpoint_error(field, "must be an integer, got " + json_summary(v));
        // Range-checked before narrowing (get<int>() would cut 2^32 + 1 to 1).
        const bool fits = v.is_number_unsigned() ? std::in_range<T>(v.template get<std::uint64_t>())
                                                 : std::in_range<T>(v.template get<std::int64_t>());
        if (!fits) {
            throw checkpoint_error(field, "must be an integer in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                                              std::to_string(std::numeric_limits<T>::max()) + "], got " + json_summary(v));
        }
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number()) throw checkpoint_error(field, "must be a number, got " + json_summary(v));
    } else {
        if (!v.is_array()) throw checkpoint_error(field, "must be an array, got " + json_summary(v));
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_number()) throw checkpoint_error(field + "[" + std::to_string(i) + "]", "must be a number, got " + json_summary(v[i]));
        }
    }
    into = v.template get<T>();
}

/// Runs `make`, turning a config_error from a component's own validation
/// into a checkpoint_error under `path`.
template <typename Make>
auto from_spec(const std::string& path, Make&& make) {
    try {
        return make();
    } catch (const config_error& e) {
        throw checkpoint_error(path, e.what());
    }
}

}  // namespace detail

/// The encoder a spec's "encoder" object names, for `functions` functions.
[[nodiscard]] inline encoder_variant make_encoder(const nlohmann::json& spec, std::size_t functions) {
    const std::string path = "serving.encoder";
    const std::string name = spec.at("name").get<std::string>();
    return detail::from_spec(path, [&] {
        if (name == "scarlet") {
            detail::only_settings(spec, path, "encoder \"scarlet\"", {"rps_scale"});
            scarlet_encoder_config c;
            detail::spec_setting(spec, "rps_scale", path, c.rps_scale);
            return encoder_variant(scarlet_encoder(c));
        }
        if (name == "scarlet_relative") {
            detail::only_settings(spec, path, "encoder \"scarlet_relative\"", {});
            return encoder_variant(relative_scarlet_encoder{});
        }
        if (name == "polimi") {
            detail::only_settings(spec, path, "encoder \"polimi\"", {"demand_time_s", "instances_scale", "workload_scale_rps", "measured_cpu"});
            double demand_time_s = 0;
            if (!spec.contains("demand_time_s")) throw checkpoint_error(path + ".demand_time_s", "is missing (polimi needs it)");
            detail::spec_setting(spec, "demand_time_s", path, demand_time_s);
            polimi_encoder_config c;
            detail::spec_setting(spec, "instances_scale", path, c.instances_scale);
            detail::spec_setting(spec, "workload_scale_rps", path, c.workload_scale_rps);
            detail::spec_setting(spec, "measured_cpu", path, c.measured_cpu);
            return encoder_variant(polimi_encoder(demand_time_s, c));
        }
        if (name == "simppo") {
            detail::only_settings(spec, path, "encoder \"simppo\"", {});
            return encoder_variant(simppo_encoder(simppo_state_config{}, functions));
        }
        if (name == "firm") {
            detail::only_settings(spec, path, "encoder \"firm\"", {"cpu_max_cores", "memory_max_mb"});
            firm_encoder_config c;
            detail::spec_setting(spec, "cpu_max_cores", path, c.cpu_max_cores);
            detail::spec_setting(spec, "memory_max_mb", path, c.memory_max_mb);
            return encoder_variant(firm_encoder(c, functions));
        }
        throw checkpoint_error(path + ".name",
                               "unknown encoder \"" + name + "\" (this build knows scarlet, scarlet_relative, polimi, simppo, firm)");
    });
}

/// The discrete action map a spec's "actions" object names, for `functions` functions.
[[nodiscard]] inline discrete_map_variant make_action_map(const nlohmann::json& spec, std::size_t functions) {
    const std::string path = "serving.actions";
    const std::string name = spec.at("name").get<std::string>();
    return detail::from_spec(path, [&] {
        if (name == "joint_delta" || name == "factored_delta") {
            detail::only_settings(spec, path, "action map \"" + name + "\"", {"deltas"});
            std::vector<int> deltas{-1, 0, 1};
            if (spec.contains("deltas")) {
                const auto& d = spec["deltas"];
                if (!d.is_array()) throw checkpoint_error(path + ".deltas", "must be an array of integers, got " + json_summary(d));
                for (std::size_t i = 0; i < d.size(); ++i) {
                    const bool fits = d[i].is_number_unsigned() ? std::in_range<int>(d[i].get<std::uint64_t>())
                                                                : d[i].is_number_integer() && std::in_range<int>(d[i].get<std::int64_t>());
                    if (!fits) {
                        throw checkpoint_error(path + ".deltas[" + std::to_string(i) + "]",
                                               "must be an integer in [" + std::to_string(std::numeric_limits<int>::min()) + ", " +
                                                   std::to_string(std::numeric_limits<int>::max()) + "], got " + json_summary(d[i]));
                    }
                }
                deltas = d.get<std::vector<int>>();
            }
            if (name == "joint_delta") return discrete_map_variant(rl::joint_delta_actions(functions, std::move(deltas)));
            return discrete_map_variant(rl::factored_delta_actions(functions, std::move(deltas)));
        }
        if (name == "replica_count") {
            detail::only_settings(spec, path, "action map \"replica_count\"", {"min_replicas", "max_replicas"});
            int lo = 0;
            int hi = 0;
            for (const char* key : {"min_replicas", "max_replicas"}) {
                if (!spec.contains(key)) throw checkpoint_error(path + "." + key, "is missing (replica_count needs it)");
            }
            detail::spec_setting(spec, "min_replicas", path, lo);
            detail::spec_setting(spec, "max_replicas", path, hi);
            return discrete_map_variant(rl::replica_count_actions(functions, lo, hi));
        }
        if (name == "utilization_target") {
            detail::only_settings(spec, path, "action map \"utilization_target\"", {"targets", "hold"});
            std::vector<double> targets{0.4, 0.55, 0.7, 0.85};
            bool hold = true;
            detail::spec_setting(spec, "targets", path, targets);
            detail::spec_setting(spec, "hold", path, hold);
            return discrete_map_variant(rl::utilization_target_actions(functions, std::move(targets), hold));
        }
        if (name == "simppo") {
            detail::only_settings(spec, path, "action map \"simppo\"", {"replica_step", "cpu_step_cores", "memory_step_mb"});
            rl::simppo_action_config c;
            detail::spec_setting(spec, "replica_step", path, c.replica_step);
            detail::spec_setting(spec, "cpu_step_cores", path, c.cpu_step_cores);
            detail::spec_setting(spec, "memory_step_mb", path, c.memory_step_mb);
            return discrete_map_variant(rl::simppo_actions(functions, c));
        }
        throw checkpoint_error(path + ".name", "unknown action map \"" + name +
                                                   "\" (this build knows joint_delta, factored_delta, replica_count, utilization_target, simppo)");
    });
}

/// The continuous action map a spec's "actions" object names (ddpg's
/// "multidimensional": replicas, CPU and memory limits per function).
[[nodiscard]] inline rl::multidimensional_actions make_continuous_action_map(const nlohmann::json& spec, std::size_t functions) {
    const std::string path = "serving.actions";
    const std::string name = spec.at("name").get<std::string>();
    return detail::from_spec(path, [&] {
        if (name != "multidimensional") {
            throw checkpoint_error(path + ".name", "unknown continuous action map \"" + name + "\" (this build knows multidimensional)");
        }
        detail::only_settings(spec, path, "action map \"multidimensional\"",
                              {"mode", "min_cpu_limit", "max_cpu_limit", "min_memory_limit_mb", "max_memory_limit_mb", "max_replica_step",
                               "max_cpu_step", "max_memory_step_mb"});
        rl::multidimensional_config c;
        if (spec.contains("mode")) {
            const auto& m = spec["mode"];
            if (!m.is_string() || (m != "absolute" && m != "relative")) {
                throw checkpoint_error(path + ".mode", "must be \"absolute\" or \"relative\", got " + json_summary(m));
            }
            c.mode = m == "relative" ? rl::multidimensional_mode::relative : rl::multidimensional_mode::absolute;
        }
        detail::spec_setting(spec, "min_cpu_limit", path, c.min_cpu_limit);
        detail::spec_setting(spec, "max_cpu_limit", path, c.max_cpu_limit);
        detail::spec_setting(spec, "min_memory_limit_mb", path, c.min_memory_limit_mb);
        detail::spec_setting(spec, "max_memory_limit_mb", path, c.max_memory_limit_mb);
        detail::spec_setting(spec, "max_replica_step", path, c.max_replica_step);
        detail::spec_setting(spec, "max_cpu_step", path, c.max_cpu_step);
        detail::spec_setting(spec, "max_memory_step_mb", path, c.max_memory_step_mb);
        return rl::multidimensional_actions(functions, c);
    });
}

/// The "actions" object of a spec for an action map (the inverse of make_action_map).
[[nodiscard]] inline nlohmann::json action_spec(const rl::joint_delta_actions& a) {
    return {{"name", "joint_delta"}, {"deltas", a.deltas()}};
}
[[nodiscard]] inline nlohmann::json action_spec(const rl::factored_delta_actions& a) {
    return {{"name", "factored_delta"}, {"deltas", a.deltas()}};
}
[[nodiscard]] inline nlohmann::json action_spec(const rl::replica_count_actions& a) {
    return {{"name", "replica_count"}, {"min_replicas", a.min_replicas()}, {"max_replicas", a.max_replicas()}};
}
[[nodiscard]] inline nlohmann::json action_spec(const rl::utilization_target_actions& a) {
    return {{"name", "utilization_target"}, {"targets", a.targets()}, {"hold", a.has_hold()}};
}
[[nodiscard]] inline nlohmann::json action_spec(const rl::multidimensional_actions& a) {
    const rl::multidimensional_config& c = a.config();
    return {{"name", "multidimensional"},
            {"mode", std::string(rl::to_string(c.mode))},
            {"min_cpu_limit", c.min_cpu_limit},
            {"max_cpu_limit", c.max_cpu_limit},
            {"min_memory_limit_mb", c.min_memory_limit_mb},
            {"max_memory_limit_mb", c.max_memory_limit_mb},
            {"max_replica_step", c.max_replica_step},
            {"max_cpu_step", c.max_cpu_step},
            {"max_memory_step_mb", c.max_memory_step_mb}};
}
[[nodiscard]] inline nlohmann::json action_spec(const rl::simppo_actions& a) {
    return {{"name", "simppo"},
            {"replica_step", a.config().replica_step},
            {"cpu_step_cores", a.config().cpu_step_cores},
            {"memory_step_mb", a.config().memory_step_mb}};
}

/// The serving spec of a checkpoint: its "serving" field, or for a
/// checkpoint written before specs existed, the spec its other fields imply
/// (the SCARLET demo's "scarlet_demo" field: the relative SCARLET encoder
/// with its action space and stabiliser; no field at all: the one-function
/// SCARLET network with −1/0/+1 actions the controller served). Throws
/// checkpoint_error naming the field.
[[nodiscard]] inline serving_spec spec_of(const nlohmann::json& checkpoint) {
    if (!checkpoint.is_object()) throw checkpoint_error("", "must be a JSON object");
    // A checkpoint of another format or version is refused as such before
    // any of its fields is read: its other fields may mean something else.
    nn::check_checkpoint_header(checkpoint);
    if (checkpoint.contains("serving")) return serving_spec::from_json(checkpoint["serving"]);
    // The declared input width sizes the spec (one function per encoder's
    // worth of inputs), so it is believed only once the network's arrays
    // hold that many weights.
    const auto inputs = [&]() -> std::size_t {
        return static_cast<std::size_t>(nn::checked_layer_specs(checkpoint).front().in);
    };
    serving_spec s;
    if (checkpoint.contains("scarlet_demo")) {
        const auto& d = checkpoint["scarlet_demo"];
        if (!d.is_object()) throw checkpoint_error("scarlet_demo", "must be an object");
        // The keys the demo wrote (all four whatever its actions: the unused
        // of deltas and targets too); another is refused, as a spec's unknown
        // key is, rather than served at its default.
        static constexpr std::string_view demo_keys[] = {"actions", "deltas", "targets", "downscale_window"};
        if (const auto key = detail::unknown_key(d, demo_keys)) {
            throw checkpoint_error("scarlet_demo." + detail::printable_key(*key),
                                   "is not a setting of the demo's checkpoint (it has: " + detail::joined_names(demo_keys) + ")");
        }
        const std::size_t n = inputs() / relative_scarlet_encoder::feature_count;
        for (std::size_t f = 0; f < n; ++f) s.functions.push_back("function-" + std::to_string(f));
        if (d.contains("actions") && !d["actions"].is_string()) {
            throw checkpoint_error("scarlet_demo.actions", "must be \"delta\" or \"utilization\", got " + json_summary(d["actions"]));
        }
        const std::string kind = d.value("actions", std::string("delta"));
        if (kind == "utilization") {
            s.actions = {{"name", "utilization_target"}, {"targets", d.value("targets", nlohmann::json::array())}, {"hold", true}};
        } else if (kind == "delta") {
            s.actions = {{"name", "joint_delta"}};
            if (d.contains("deltas")) s.actions["deltas"] = d["deltas"];
        } else {
            throw checkpoint_error("scarlet_demo.actions", "must be \"delta\" or \"utilization\", got \"" + kind + "\"");
        }
        if (d.contains("downscale_window")) {
            if (!d["downscale_window"].is_number_integer() || d["downscale_window"].get<std::int64_t>() < 0 ||
                d["downscale_window"].get<std::int64_t>() > 100'000) {
                throw checkpoint_error("scarlet_demo.downscale_window", "must be an integer in [0, 100000], got " + json_summary(d["downscale_window"]));
            }
            s.downscale_window = d["downscale_window"].get<std::size_t>();
        }
        return s;
    }
    s.encoder = {{"name", "scarlet"}};
    s.actions = {{"name", "joint_delta"}};
    s.functions = {"function-0"};
    return s;
}

/// How a learned policy is served.
struct learned_policy_options {
    baseline_settings fallback;           ///< the fallback HPA's settings (its CPU target)
    /// Per function of the spec, by name: that function's fallback settings
    /// instead of `fallback` (a function not named here gets `fallback`). A
    /// name that is no function of the spec is refused (config_error naming
    /// learned_policy_options.fallback_for.<name>).
    std::map<std::string, baseline_settings, std::less<>> fallback_for;
    /// Step limits (replicas, CPU, memory); none = the spec's. Given: the
    /// tighter of the two per direction, each checked as guard_config checks
    /// it (config_error naming learned_policy_options.guard.<field>). The
    /// limit bounds (min/max_cpu_limit, min/max_memory_limit_mb) are the
    /// spec's: one other than guard_config's default is refused. Its
    /// vertical_min_replicas is not read (see below).
    std::optional<guard_config> guard;
    /// Vertical changes withheld below this many replicas, where the platform
    /// evicts a pod to resize it; none = the spec's. Given: the larger of the two.
    std::optional<int> vertical_min_replicas;
    bool int8 = false;                    ///< dqn: serve from an int8 copy of the weights (config_error for another algorithm)
    /// Serve a checkpoint written under a lifecycle (AWARE's: its
    /// "lifecycle" field) whose actor was not trusted to act then (the
    /// fallback acting, or ONLINE before the first SERVING). Refused by
    /// default (detail::check_lifecycle_stage).
    bool allow_before_serving = false;
};

/// learned_policy_options::guard for the step limits an operator set: each
/// limit given tightens the spec's (serving.guard), each not given is left
/// open; none when neither is given (the spec's guard as it is, as
/// rlscale-evaluate serves it). What the controller and the decision
/// service pass for their step settings.
[[nodiscard]] inline std::optional<guard_config> step_limits_guard(std::optional<int> max_step_up, std::optional<int> max_step_down) {
    if (!max_step_up && !max_step_down) return std::nullopt;
    guard_config g;
    g.max_step_up = max_step_up.value_or(std::numeric_limits<int>::max());
    g.max_step_down = max_step_down.value_or(std::numeric_limits<int>::max());
    return g;
}

/// A guard over a learned policy's decisions that adds nothing to the
/// policy's own guard (its spec's) but the step limits given: no step or
/// limit bound of its own, vertical changes at any replica count. It still
/// clamps to [min, max] and holds on bad metrics, as every guard does. The
/// decision service's own guard when it serves a checkpoint.
[[nodiscard]] inline guard_config open_guard(std::optional<int> max_step_up, std::optional<int> max_step_down) {
    guard_config g;
    g.max_step_up = max_step_up.value_or(std::numeric_limits<int>::max());
    g.max_step_down = max_step_down.value_or(std::numeric_limits<int>::max());
    g.min_cpu_limit = std::numeric_limits<double>::min();
    g.min_memory_limit_mb = std::numeric_limits<double>::min();
    g.vertical_min_replicas = 0;
    return g;
}

/// How a checkpoint's slots (the names in its spec's serving.functions)
/// were matched to the functions it is served for.
enum class slot_matching {
    by_name,   ///< the spec names exactly the functions: slot k decides the one of its k-th name
    in_order,  ///< the spec names none of them (a policy trained on other functions): slot k decides function k
    partial,   ///< the spec names some of them and not others: refused by every caller (a function would take the slot trained for another)
};

/// match_slots' answer.
struct slot_assignment {
    slot_matching matching = slot_matching::in_order;
    /// Slot k decides function function_of_slot[k]: a permutation of
    /// 0..N-1. When `matching` is partial: the functions of the slots that
    /// matched, in slot order (not indexed by slot).
    std::vector<std::size_t> function_of_slot;
    /// The functions no slot names, when `matching` is partial (else empty).
    std::vector<std::size_t> unmatched;
};

/// The one rule by which a learned policy's slots meet the functions it is
/// served for (the controller's configured functions, rlscale-evaluate's
/// scenario): by name when `slot_names` names exactly `function_names` (in
/// any order), in order when it names none of them, refused (partial) when
/// it names some and not others. A name given to several functions is
/// taken once per slot of that name, in order. Both lists have the same
/// length (the caller refuses another count first, in its own words).
template <typename SlotNames, typename FunctionNames>
[[nodiscard]] slot_assignment match_slots(const SlotNames& slot_names, const FunctionNames& function_names) {
    const std::size_t n = std::size(function_names);
    slot_assignment out;
    std::vector<bool> taken(n, false);
    for (const auto& name : slot_names) {
        std::size_t f = 0;
        for (const auto& candidate : function_names) {
            if (!taken[f] && std::string_view(candidate) == std::string_view(name)) break;
            ++f;
        }
        if (f == n) continue;
        taken[f] = true;
        out.function_of_slot.push_back(f);
    }
    if (out.function_of_slot.empty()) {
        for (std::size_t f = 0; f < n; ++f) out.function_of_slot.push_back(f);
        return out;
    }
    if (out.function_of_slot.size() == n && std::size(slot_names) == n) {
        out.matching = slot_matching::by_name;
        return out;
    }
    out.matching = slot_matching::partial;
    for (std::size_t f = 0; f < n; ++f) {
        if (!taken[f]) out.unmatched.push_back(f);
    }
    return out;
}

/// A learned policy built from a checkpoint: its spec, the weights it
/// serves (publish or load into them to update it), and the policy.
struct learned_policy {
    serving_spec spec;
    std::shared_ptr<rl::shared_network<float>> weights;
    any_joint_policy policy;
};

namespace detail {

/// make_learned_policy's body: the policy `spec` describes over the weights
/// `weights_of()` returns (a shared_ptr<rl::shared_network<float>> with
/// weights published), called after the spec's own checks, so that a spec
/// this build cannot serve is refused before a network is read.
template <typename WeightsOf>
[[nodiscard]] learned_policy build_learned_policy(serving_spec spec, WeightsOf&& weights_of, const learned_policy_options& options) {
    const std::size_t n = spec.function_count();
    if (spec.algorithm != "dqn" && spec.algorithm != "ppo" && spec.algorithm != "ddpg") {
        throw checkpoint_error("serving.algorithm", "unknown algorithm \"" + spec.algorithm + "\" (this build serves dqn, ppo, ddpg)");
    }
    // The int8 copy serves the DQN's Q heads only; asked of another
    // algorithm it would be ignored without a word.
    if (options.int8 && spec.algorithm != "dqn") {
        throw config_error("learned_policy_options.int8", "serves dqn checkpoints only; this one is " + spec.algorithm);
    }
    // A name in fallback_for that is no function of the spec (a typo, or a
    // checkpoint for other functions) would leave the function meant with
    // the default fallback without a word.
    for (const auto& entry : options.fallback_for) {
        const std::string& name = entry.first;
        if (std::find(spec.functions.begin(), spec.functions.end(), name) == spec.functions.end()) {
            std::string names;
            for (const std::string& f : spec.functions) names += (names.empty() ? "" : ", ") + valid_utf8(f, 64);
            throw config_error("learned_policy_options.fallback_for." + valid_utf8(name, 64),
                               "names no function of the spec (it has: " + names + ")");
        }
    }
    // What the fallback HPA reads of its settings, refused by the options'
    // own name before an HPA is built (which would name its hpa_config).
    const auto check_fallback = [](const baseline_settings& b, const std::string& owner) {
        check_fields(owner)
            .at_least("hpa_cpu_target_percent", b.hpa_cpu_target_percent, 1)
            .at_least("hpa_max_clock_backwards_s", b.hpa_max_clock_backwards_s, 0.0);
    };
    check_fallback(options.fallback, "learned_policy_options.fallback");
    for (const auto& entry : options.fallback_for) check_fallback(entry.second, "learned_policy_options.fallback_for." + valid_utf8(entry.first, 64));
    encoder_variant encoder = make_encoder(spec.encoder, n);
    std::shared_ptr<rl::shared_network<float>> weights = std::forward<WeightsOf>(weights_of)();
    if (!weights || !weights->ready()) throw config_error("learned_policy.weights", "must hold published weights");
    const std::vector<nn::layer_spec>& layers = weights->layout().layers();
    const auto in = static_cast<std::size_t>(layers.front().in);
    const auto out = static_cast<std::size_t>(layers.back().out);
    if (in != n * encoder.size()) {
        throw checkpoint_error("network.layers[0].in", "is " + std::to_string(in) + ", the spec's encoder gives " +
                                                           std::to_string(n * encoder.size()) + " for " + std::to_string(n) + " functions");
    }
    const auto check_outputs = [&](std::size_t wanted) {
        if (out != wanted) {
            throw checkpoint_error("network.layers[" + std::to_string(layers.size() - 1) + "].out",
                                   "is " + std::to_string(out) + ", the spec's action map needs " + std::to_string(wanted));
        }
    };
    guard_config guard = spec.guard;
    if (options.guard) {
        const guard_config& o = *options.guard;
        // Checked before merging: std::min would drop a NaN step without a
        // word and pass a negative one on.
        const check_fields check("learned_policy_options.guard");
        check.at_least("max_step_up", o.max_step_up, 0)
            .at_least("max_step_down", o.max_step_down, 0)
            .require(o.max_cpu_step > 0, "max_cpu_step", "be > 0 (+inf: no limit)", o.max_cpu_step)
            .require(o.max_memory_step_mb > 0, "max_memory_step_mb", "be > 0 (+inf: no limit)", o.max_memory_step_mb);
        // The bounds are the spec's, those the policy was trained and
        // evaluated within: one set here would not be served, so a bound
        // other than the default is refused rather than ignored.
        const guard_config defaults;
        const auto spec_bound = [&](const char* field, double v, double def) {
            check.require(v == def, field,
                          "be left at its default " + format_number(def) + ": the limit bounds come from the spec (serving.guard)", v);
        };
        spec_bound("min_cpu_limit", o.min_cpu_limit, defaults.min_cpu_limit);
        spec_bound("max_cpu_limit", o.max_cpu_limit, defaults.max_cpu_limit);
        spec_bound("min_memory_limit_mb", o.min_memory_limit_mb, defaults.min_memory_limit_mb);
        spec_bound("max_memory_limit_mb", o.max_memory_limit_mb, defaults.max_memory_limit_mb);
        guard.max_step_up = std::min(guard.max_step_up, o.max_step_up);
        guard.max_step_down = std::min(guard.max_step_down, o.max_step_down);
        guard.max_cpu_step = std::min(guard.max_cpu_step, o.max_cpu_step);
        guard.max_memory_step_mb = std::min(guard.max_memory_step_mb, o.max_memory_step_mb);
    }
    if (options.vertical_min_replicas) {
        check_fields("learned_policy_options").at_least("vertical_min_replicas", *options.vertical_min_replicas, 0);
        guard.vertical_min_replicas = std::max(guard.vertical_min_replicas, *options.vertical_min_replicas);
    }
    // Function f's fallback settings: its own where the options name it.
    const auto settings = [&](std::size_t f) -> const baseline_settings& {
        if (f < spec.functions.size()) {
            if (const auto it = options.fallback_for.find(spec.functions[f]); it != options.fallback_for.end()) return it->second;
        }
        return options.fallback;
    };
    if (spec.algorithm == "ddpg") {
        rl::multidimensional_actions actions = make_continuous_action_map(spec.actions, n);
        check_outputs(actions.width());
        vpa_policy_config vpa;
        vpa.min_cpu_cores = actions.config().min_cpu_limit;
        vpa.max_cpu_cores = actions.config().max_cpu_limit;
        vpa.min_memory_mb = actions.config().min_memory_limit_mb;
        vpa.max_memory_mb = actions.config().max_memory_limit_mb;
        vpa.vertical_requires_replicas = guard.vertical_min_replicas;
        std::vector<hpa_vpa_policy> fallbacks;
        for (std::size_t f = 0; f < n; ++f) {
            fallbacks.emplace_back(make_hpa(settings(f).hpa_cpu_target_percent, settings(f).hpa_max_clock_backwards_s), vpa_policy(vpa));
        }
        rl_policy<encoder_variant, rl::deterministic_actor, rl::multidimensional_actions, hpa_vpa_policy> p(
            std::move(encoder), rl::deterministic_actor(weights), std::move(actions), std::move(fallbacks), guard, spec.downscale_window);
        p.set_fallback_floor(spec.fallback_floor);
        return {std::move(spec), weights, any_joint_policy(std::move(p))};
    }
    discrete_map_variant actions = make_action_map(spec.actions, n);
    check_outputs(actions.layout().outputs());
    std::vector<hpa_policy> fallbacks;
    for (std::size_t f = 0; f < n; ++f) fallbacks.push_back(make_hpa(settings(f).hpa_cpu_target_percent, settings(f).hpa_max_clock_backwards_s));
    const rl::q_layout layout = actions.layout();
    if (spec.algorithm == "dqn") {
        rl_policy<encoder_variant, rl::greedy_q_actor, discrete_map_variant> p(std::move(encoder), rl::greedy_q_actor(weights, layout),
                                                                                std::move(actions), std::move(fallbacks), guard,
                                                                                spec.downscale_window);
        p.set_fallback_floor(spec.fallback_floor);
        if (options.int8) p.serve_int8();
        return {std::move(spec), weights, any_joint_policy(std::move(p))};
    }
    rl_policy<encoder_variant, rl::categorical_actor, discrete_map_variant> p(std::move(encoder), rl::categorical_actor(weights, layout),
                                                                               std::move(actions), std::move(fallbacks), guard,
                                                                               spec.downscale_window);
    p.set_fallback_floor(spec.fallback_floor);
    return {std::move(spec), weights, any_joint_policy(std::move(p))};
}

/// Refuses a checkpoint written under a lifecycle (AWARE's: the
/// "lifecycle" field rlscale::lifecycle writes) whose actor was not trusted
/// to act when it was written: when the lifecycle had the fallback acting
/// (INITIALIZED, OFFLINE, a high-stakes retraining pass), or ONLINE before
/// the first SERVING (still converging). SERVING, and ONLINE while
/// retraining with the agent acting, are served. Unless
/// `options.allow_before_serving`. Only what that judgement needs is read
/// (version, stage, retraining, config.high_stakes), each required and
/// checked for its type, so a damaged field is refused by its path rather
/// than read as "not high stakes": the rest of the lifecycle's state is the
/// trainer's to restore. A "lifecycle" field of another shape (not an
/// object with a "version", as another tool may write) is not judged.
inline void check_lifecycle_stage(const nlohmann::json& checkpoint, const learned_policy_options& options) {
    if (!checkpoint.is_object()) throw checkpoint_error("", "must be a JSON object");
    nn::check_checkpoint_header(checkpoint);  // first, as spec_of: another version's lifecycle field may mean something else
    if (options.allow_before_serving) return;
    const auto field = checkpoint.find("lifecycle");
    if (field == checkpoint.end() || !field->is_object() || !field->contains("version")) return;
    constexpr std::string_view anyway = "; learned_policy_options::allow_before_serving serves it anyway";
    const auto bad = [&](const std::string& path, const nlohmann::json* v, const std::string& expected) {
        return checkpoint_error(path, "is " + (v != nullptr ? json_summary(*v) : std::string("absent")) + ", " + expected + std::string(anyway));
    };
    // The layout judged is the one lifecycle::to_json writes: another
    // version's fields may mean something else.
    const nlohmann::json& version = field->at("version");
    if (!(version.is_number_integer() && version.get<std::int64_t>() == lifecycle_json_version)) {
        throw bad("lifecycle.version", &version, "not " + std::to_string(lifecycle_json_version) + ", the version this build reads");
    }
    const auto member = [](const nlohmann::json& parent, const char* key) {
        return parent.is_object() && parent.contains(key) ? &parent.at(key) : nullptr;
    };
    const nlohmann::json* stage_field = member(*field, "stage");
    const std::optional<stage> written =
        stage_field != nullptr && stage_field->is_string() ? parse_stage(stage_field->get_ref<const std::string&>()) : std::nullopt;
    if (!written) throw bad("lifecycle.stage", stage_field, "not a stage (INITIALIZED, OFFLINE, ONLINE or SERVING)");
    const nlohmann::json* retraining_field = member(*field, "retraining");
    if (retraining_field == nullptr || !retraining_field->is_boolean()) throw bad("lifecycle.retraining", retraining_field, "not true or false");
    const nlohmann::json* config = member(*field, "config");
    if (config == nullptr || !config->is_object()) throw bad("lifecycle.config", config, "not an object");
    const nlohmann::json* high_stakes_field = member(*config, "high_stakes");
    if (high_stakes_field == nullptr || !high_stakes_field->is_boolean()) {
        throw bad("lifecycle.config.high_stakes", high_stakes_field, "not true or false");
    }
    const bool retraining = retraining_field->get<bool>();
    const bool high_stakes = high_stakes_field->get<bool>();
    const char* why = nullptr;
    if (who_acts(*written, retraining, high_stakes) == actor_role::fallback) {
        why = "under its lifecycle the fallback acts, not this actor";
    } else if (*written == stage::online && !retraining) {
        why = "the actor had not yet reached SERVING under its lifecycle (it was still converging)";
    } else {
        return;
    }
    throw checkpoint_error("lifecycle.stage", "is " + json_summary(*stage_field) + (retraining ? " (retraining)" : "") + ": " + why +
                                                  std::string(anyway));
}

}  // namespace detail

/// Builds the learned policy a checkpoint's spec describes, with one
/// fallback per function: the HPA for dqn and ppo, the HPA+VPA pair (within
/// the action map's limit bounds) for ddpg, whose multidimensional map also
/// sets CPU and memory limits. Throws checkpoint_error naming the field for
/// an unknown algorithm, encoder or action map, bad settings, or a network
/// whose inputs or outputs do not fit the spec, and for a checkpoint
/// written under a lifecycle whose actor was not trusted to act then (the
/// fallback acting, or ONLINE before the first SERVING), unless
/// `options.allow_before_serving` (detail::check_lifecycle_stage).
[[nodiscard]] inline learned_policy make_learned_policy(const nlohmann::json& checkpoint, const learned_policy_options& options = {}) {
    detail::check_lifecycle_stage(checkpoint, options);
    return detail::build_learned_policy(
        spec_of(checkpoint),
        [&] {
            const nn::mlp<float> net = nn::network_from_checkpoint<float>(checkpoint);
            auto weights = std::make_shared<rl::shared_network<float>>(net);
            weights->publish(net);
            return weights;
        },
        options);
}

/// The learned policy `spec` describes over `weights` already loaded (a
/// learned_policy's spec and weights), with state of its own (stabiliser,
/// fallbacks, the guard's memory) and `options` of its own: one checkpoint
/// served to many functions, each with its own policy (as the decision
/// service does), without reading the checkpoint again or holding a
/// shared_network per function. The new policy's actor keeps one working
/// copy of the weights, refreshed once per publish; a publish or load into
/// `weights` reaches every policy made over them. `options` are not taken
/// from the policy the weights came from: pass the same ones for the same
/// behaviour. `spec` is checked as a checkpoint's is (read back from its
/// JSON: a spec built in code meets the same rules; its guard is checked
/// before it is written, since the JSON has no NaN), and a network that
/// does not fit it is a checkpoint_error with the checkpoint's field names
/// (network.layers[0].in), weights built in code included. Throws as
/// make_learned_policy does, and config_error for weights null or never
/// published.
[[nodiscard]] inline learned_policy make_learned_policy(const serving_spec& spec, std::shared_ptr<rl::shared_network<float>> weights,
                                                        const learned_policy_options& options = {}) {
    return detail::build_learned_policy(serving_spec::from_json(spec.to_json()), [&] { return std::move(weights); }, options);
}

namespace detail {

/// Where two JSON values first differ: the path (`path`, then .key and
/// [i] below it) and the value at it on each side (null where one side
/// has no such key).
struct json_difference {
    std::string path;
    const nlohmann::json* left = nullptr;
    const nlohmann::json* right = nullptr;
};

/// The first place where `a` and `b` differ, looking into objects and into
/// arrays of the same length; nothing when they are equal.
[[nodiscard]] inline std::optional<json_difference> first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& path) {
    if (a == b) return std::nullopt;
    if (a.is_object() && b.is_object()) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            const auto other = b.find(it.key());
            if (other == b.end()) return json_difference{path + "." + it.key(), &*it, nullptr};
            if (auto d = first_difference(*it, *other, path + "." + it.key())) return d;
        }
        for (auto it = b.begin(); it != b.end(); ++it) {
            if (!a.contains(it.key())) return json_difference{path + "." + it.key(), nullptr, &*it};
        }
    }
    if (a.is_array() && b.is_array() && a.size() == b.size()) {
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (auto d = first_difference(a[i], b[i], path + "[" + std::to_string(i) + "]")) return d;
        }
    }
    return json_difference{path, &a, &b};
}

}  // namespace detail

/// Publishes a new checkpoint's weights into `policy`, which keeps serving
/// with its encoder, action map, guard and fallbacks: for a retrained
/// network of the same policy. Throws checkpoint_error, and changes
/// nothing, for a file that cannot be read, a network of another shape, or
/// a serving spec that differs from `policy.spec` in any field (another
/// encoder, action map, function list or guard would be served through the
/// wrong map); to serve another spec, build a new policy with
/// load_learned_policy. A checkpoint written under a lifecycle whose actor
/// was not trusted to act is refused as make_learned_policy refuses it (of
/// `options`, only allow_before_serving is read).
inline void reload_weights(learned_policy& policy, const std::filesystem::path& path, const learned_policy_options& options = {}) {
    const nlohmann::json checkpoint = nn::read_checkpoint_file(path);
    detail::check_lifecycle_stage(checkpoint, options);
    const nlohmann::json served = policy.spec.to_json();
    const nlohmann::json read = spec_of(checkpoint).to_json();
    // Named down to the value that differs (serving.actions.mode, serving.functions[1]).
    if (const auto d = detail::first_difference(read, served, "serving")) {
        const auto summary = [](const nlohmann::json* j) { return j != nullptr ? json_summary(*j) : std::string("absent"); };
        throw checkpoint_error(d->path, "is " + summary(d->left) + " in '" + path.string() + "', the policy serves " + summary(d->right) +
                                            "; another spec needs a new policy (load_learned_policy)");
    }
    policy.weights->load_checkpoint(checkpoint);
}

/// make_learned_policy from a checkpoint file (checkpoint_error for one
/// that cannot be read or parsed).
[[nodiscard]] inline learned_policy load_learned_policy(const std::filesystem::path& path, const learned_policy_options& options = {}) {
    return make_learned_policy(nn::read_checkpoint_file(path), options);
}

}  // namespace rlscale
