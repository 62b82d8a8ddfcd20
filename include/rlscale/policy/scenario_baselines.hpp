#pragma once

/// The baselines as an operator would configure them for a simulated
/// function (the registry's policies with settings read off the function's
/// profile and load), as joint policies over a scenario, and the HPA tuned
/// to a replica budget. Above both policy/registry.hpp and sim/scenario.hpp.

#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/sim/scenario.hpp>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstdint>
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

/// A checkpoint's learned policy through the registry (the call the
/// controller and the decision service make), checked to decide as many
/// functions as `sc` has: config_error (field "policy") otherwise.
inline any_joint_policy checkpoint_policy(const std::filesystem::path& checkpoint, const sim::scenario& sc) {
    learned_policy p = load_learned_policy(checkpoint);
    if (p.spec.function_count() != sc.config.functions.size()) {
        throw config_error("policy", checkpoint.string() + " decides " + std::to_string(p.spec.function_count()) +
                                         " functions, the scenario has " + std::to_string(sc.config.functions.size()));
    }
    return std::move(p.policy);
}

}  // namespace rlscale
