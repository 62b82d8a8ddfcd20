// Evaluates named policies on a scenario or on Azure Functions 2019 trace
// functions, side by side on the same requests: prints a table (SLO
// violation rate, p99 relative to the SLO, replica-seconds, mean reward),
// and writes a CSV row per function and tick and an SVG plot of load,
// replicas and tail latency against the SLO for each policy.
//
//   rlscale-evaluate [--scenario NAME | --trace DIR [--functions H1,H2,...]]
//                    [--policy P]... [--hours H] [--seed S] [--csv FILE] [--svg FILE]
//
// NAME: scarlet-3fn (default), polimi-low, polimi-medium, polimi-high, azure-3fn.
// DIR: a directory in the Azure 2019 format (invocations.csv, durations.csv),
// e.g. ../shared/data/azure2019; --functions picks functions by hash prefix
// (default: the three most invoked). P: hpa (CPU target 70 %), hpa-<percent>
// (e.g. hpa-60), kpa, ensure, static, or a checkpoint with its serving spec
// (a .json path, e.g. written by rlscale_scarlet_demo), served through the
// policy registry as rlscale-controller and rlscale-decision-service serve
// it; default: hpa, kpa, ensure and static.
// The reward column is the demo's training reward (SCARLET's, minus 1.5 ×
// the mean share of the replica budget in use).
#include "../common/cli.hpp"
#include "../common/plots.hpp"

#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/sim/scenario.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> out;
    for (std::size_t pos = 0; pos <= list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        if (comma > pos) out.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
    }
    return out;
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [--scenario NAME | --trace DIR [--functions H1,H2,...]] [--policy P]... [--hours H] [--seed S]\n"
                 "          [--csv FILE] [--svg FILE]\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace rlscale;
    using namespace rlscale::apps;
    using namespace rlscale::sim;
    std::string scenario_name = "scarlet-3fn";
    std::filesystem::path trace_dir;
    std::vector<std::string> functions;
    std::vector<std::string> policies;
    double hours = 1;
    std::uint64_t seed = 1;
    std::string csv_path;
    std::string svg_path;
    try {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) return usage(argv[0]);
        if (arg == "--scenario") {
            scenario_name = argv[++i];
        } else if (arg == "--trace") {
            trace_dir = argv[++i];
        } else if (arg == "--functions") {
            functions = split(argv[++i]);
        } else if (arg == "--policy") {
            policies.emplace_back(argv[++i]);
        } else if (arg == "--hours") {
            hours = cli::number_above(arg, argv[++i], 0);
        } else if (arg == "--seed") {
            seed = cli::seed(arg, argv[++i]);
        } else if (arg == "--csv") {
            csv_path = argv[++i];
        } else if (arg == "--svg") {
            svg_path = argv[++i];
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return usage(argv[0]);
        }
    }
    } catch (const cli::usage_error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    if (!(hours > 0)) {
        std::fprintf(stderr, "--hours must be > 0, got %g\n", hours);
        return 2;
    }
    if (policies.empty()) policies = {"hpa", "kpa", "ensure", "static"};
    try {
        scenario sc;
        if (!trace_dir.empty()) {
            if (functions.empty()) {
                const sim::azure_trace trace = sim::azure_trace::load(trace_dir / "invocations.csv");
                for (std::size_t r = 0; r < 3 && r < trace.functions().size(); ++r) {
                    functions.push_back(trace.by_rank(r).hash_function.substr(0, 10));
                }
            }
            sc = azure(trace_dir, functions, 3600 * hours, "trace-" + std::to_string(functions.size()) + "fn");
        } else {
            sc = named_scenario(scenario_name, std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt", 3600 * hours);
        }
        std::FILE* csv = nullptr;
        if (!csv_path.empty()) {
            csv = std::fopen(csv_path.c_str(), "w");
            if (csv == nullptr) throw error("cannot write " + csv_path);
            csv_header(csv);
        }
        // SCARLET's reward minus 1.5 × the replica budget in use (the demo's training reward).
        const with_replica_cost<scarlet_reward> reward(scarlet_reward{}, 1.5);
        std::vector<outcome> results;
        std::printf("scenario %s: %zu functions, %.3g simulated hours, seed %llu\n\n", sc.name.c_str(), sc.states.size(),
                    sc.duration_s / 3600, static_cast<unsigned long long>(seed));
        std::printf("| policy | SLO violation rate | p99 / SLO, median tick | replica-seconds | mean reward |\n");
        std::printf("|---|---:|---:|---:|---:|\n");
        for (const std::string& p : policies) {
            const bool checkpoint = p.size() > 5 && p.ends_with(".json");
            any_joint_policy policy = checkpoint ? checkpoint_policy(p, sc) : per_function_policy(p, sc);
            results.push_back(run(sc, policy, seed, reward, csv != nullptr || !svg_path.empty()));
            const outcome& o = results.back();
            if (csv != nullptr) csv_rows(csv, sc, p, o);
            std::printf("| %s | %.1f %% | %.3g | %.0f | %+.3f |\n", p.c_str(), 100.0 * o.violation_rate(), o.p99_ratio(0.5),
                        o.replica_seconds, o.mean_reward());
        }
        if (csv != nullptr) std::fclose(csv);
        if (!svg_path.empty()) {
            std::vector<labelled_run> runs;
            for (std::size_t k = 0; k < policies.size(); ++k) runs.push_back({policies[k], &results[k]});
            plot_runs(svg_path, sc, runs);
            std::printf("\nwrote %s\n", svg_path.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
