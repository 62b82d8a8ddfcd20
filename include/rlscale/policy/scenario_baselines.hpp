#pragma once

/// The baselines as an operator would configure them for a simulated
/// function (the registry's policies with settings read off the function's
/// profile and load), as joint policies over a scenario, and the HPA tuned
/// to a replica budget. Above both policy/registry.hpp and sim/scenario.hpp.

#include <rlscale/core/text.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/sim/scenario.hpp>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rlscale {

/// A baseline policy for one function through the registry, with the
/// settings an operator would choose for the simulated function: hpa (CPU
/// target 70 %), hpa-<percent>, kpa and ensure at the concurrency a replica
/// can actually sustain (its concurrency, or fewer under its CPU limit),
/// static provisioned once for the peak rate at 70 % utilisation.
inline any_policy baseline_policy(std::string_view name, const sim::function_config& f) {
    baseline_settings s;
    s.container_concurrency = sim::replica_capacity(f.profile) * f.profile.service.mean();
    s.service_time_s = f.profile.service.mean();
    double peak = 0;
    for (const double r : f.load.rates()) peak = std::max(peak, r);
    s.static_replicas = std::max(1, static_cast<int>(std::ceil(peak / sim::replica_capacity(f.profile) / 0.7)));
    try {
        return make_baseline(name, s);
    } catch (const config_error& e) {
        throw config_error("policy", (e.field() == "policy" ? e.detail() : std::string(e.what())) + " or a checkpoint .json");
    }
}

/// Per-function baselines as a joint policy.
inline any_joint_policy per_function_policy(std::string_view name, const sim::scenario& sc) {
    std::vector<any_policy> policies;
    for (const auto& f : sc.config.functions) policies.push_back(baseline_policy(name, f));
    return any_joint_policy(per_function<any_policy>(std::move(policies)));
}

/// One point of the HPA's cost–violation trade-off: a CPU target and what
/// a run with it measured.
struct frontier_point {
    int target = 0;
    double replica_seconds = 0;
    double violation_rate = 0;
};

/// The HPA tuned to spend `budget` replica-seconds on `sc`, from above: a
/// higher CPU target runs fewer replicas, so walking `sweep` (runs at
/// several targets) up to the first target that spends less than `budget`
/// brackets it, and bisecting whole percentages in that bracket finds the
/// highest target that still spends at least `budget`. Run costs are noisy,
/// not strictly monotone, so this is the first such crossing, not a search
/// of every target. Returns that run's point; target 0 when the lowest
/// target in `sweep` already spends less.
template <typename Score>
frontier_point hpa_at_budget(const sim::scenario& sc, std::vector<frontier_point> sweep, double budget, std::uint64_t seed,
                             const Score& score) {
    std::sort(sweep.begin(), sweep.end(), [](const frontier_point& a, const frontier_point& b) { return a.target < b.target; });
    frontier_point above{};  // the highest target known to spend at least the budget
    int below = 101;         // the lowest target above it known to spend less (101: none)
    for (const frontier_point& p : sweep) {
        if (p.replica_seconds < budget) {
            below = p.target;
            break;
        }
        above = p;
    }
    if (above.target == 0) return above;
    while (below - above.target > 1) {
        const int mid = (above.target + below) / 2;
        const sim::outcome o = sim::run(sc, per_function_policy("hpa-" + std::to_string(mid), sc), seed, score);
        if (o.replica_seconds >= budget) {
            above = {mid, o.replica_seconds, o.violation_rate()};
        } else {
            below = mid;
        }
    }
    return above;
}

/// A joint policy whose slot k decides function slot_of[k] of the joint
/// decision: its inputs are gathered into slot order and its decisions
/// scattered back. Deciding never allocates. slot_of must be a permutation
/// of 0..N-1, one entry per function `inner` decides; config_error naming
/// slot_of otherwise (an index given twice would leave another function's
/// decision unwritten, one >= N would be read out of bounds).
class slot_permuted_policy {
public:
    slot_permuted_policy(any_joint_policy inner, std::vector<std::size_t> slot_of)
        : inner_(std::move(inner)),
          slot_of_(checked(std::move(slot_of), inner_.functions())),
          m_(slot_of_.size()),
          s_(slot_of_.size()),
          out_(slot_of_.size()) {}

    [[nodiscard]] std::size_t functions() const noexcept { return slot_of_.size(); }
    [[nodiscard]] bool ready() const noexcept { return inner_.ready(); }
    void decide(std::span<const function_metrics> m, std::span<const scaling_state> s, std::span<decision> out) noexcept {
        const std::size_t n = slot_of_.size();
        if (m.size() != n || s.size() != n || out.size() != n) {
            for (std::size_t f = 0; f < std::min(s.size(), out.size()); ++f) {
                out[f] = hold(s[f], "slot_permuted_policy: wrong number of functions");
            }
            return;
        }
        for (std::size_t k = 0; k < n; ++k) {
            m_[k] = m[slot_of_[k]];
            s_[k] = s[slot_of_[k]];
        }
        inner_.decide(m_, s_, out_);
        for (std::size_t k = 0; k < n; ++k) out[slot_of_[k]] = out_[k];
    }

private:
    [[nodiscard]] static std::vector<std::size_t> checked(std::vector<std::size_t> slot_of, std::size_t n) {
        if (slot_of.size() != n) {
            throw config_error("slot_permuted_policy.slot_of", "has " + std::to_string(slot_of.size()) +
                                                                   " entries, the inner policy decides " + std::to_string(n) + " functions");
        }
        std::vector<std::size_t> slot_with(n, n);  // the slot naming each function (n: none yet)
        for (std::size_t k = 0; k < n; ++k) {
            const std::string field = "slot_permuted_policy.slot_of[" + std::to_string(k) + "]";
            const std::size_t f = slot_of[k];
            if (f >= n) throw config_error(field, "is " + std::to_string(f) + ", not a function of 0.." + std::to_string(n - 1));
            if (slot_with[f] != n) throw config_error(field, "is " + std::to_string(f) + ", already slot_of[" + std::to_string(slot_with[f]) + "]");
            slot_with[f] = k;
        }
        return slot_of;
    }

    any_joint_policy inner_;
    std::vector<std::size_t> slot_of_;
    std::vector<function_metrics> m_;
    std::vector<scaling_state> s_;
    std::vector<decision> out_;
};

/// A checkpoint's learned policy through the registry (the call the
/// controller and the decision service make) for `sc`'s functions, its
/// slots matched to them as the controller matches its configured
/// functions: by name when the spec names exactly the scenario's functions
/// (in any order), in order when it names none of them (a policy trained
/// on other functions; `matched`, when given, says which). config_error
/// naming the file when the spec decides another number of functions
/// (field "policy") or names some of the scenario's functions and not
/// others (field "policy.functions": a function would take the slot
/// trained for another).
inline any_joint_policy checkpoint_policy(const std::filesystem::path& checkpoint, const sim::scenario& sc,
                                          slot_matching* matched = nullptr) {
    learned_policy p = load_learned_policy(checkpoint);
    const std::vector<std::string>& names = p.spec.functions;
    const std::size_t n = sc.config.functions.size();
    if (names.size() != n) {
        throw config_error("policy", checkpoint.string() + " decides " + std::to_string(names.size()) +
                                         " functions, the scenario has " + std::to_string(n));
    }
    std::vector<std::string> scenario_names;
    for (const auto& f : sc.config.functions) scenario_names.push_back(f.profile.name);
    slot_assignment slots = match_slots(names, scenario_names);
    if (slots.matching == slot_matching::partial) {
        const auto list = [](const std::vector<std::string>& v) {
            std::string out;
            for (const std::string& s : v) out += (out.empty() ? "\"" : ", \"") + escape_controls(valid_utf8(s, 64, "...")) + "\"";
            return "[" + out + "]";
        };
        throw config_error("policy.functions", checkpoint.string() + ": serving.functions " + list(names) + " names some of the functions of scenario " +
                                                   sc.name + " " + list(scenario_names) +
                                                   " and not others (name all of them, or none to decide them in order)");
    }
    if (matched != nullptr) *matched = slots.matching;
    std::vector<std::size_t> slot_of = std::move(slots.function_of_slot);
    bool in_order = true;
    for (std::size_t k = 0; k < n; ++k) in_order = in_order && slot_of[k] == k;
    if (in_order) return std::move(p.policy);
    return any_joint_policy(slot_permuted_policy(std::move(p.policy), std::move(slot_of)));
}

}  // namespace rlscale
