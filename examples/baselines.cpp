// Runs the baseline policies (HPA with the default behavior, Knative's KPA,
// ENSURE and a static allocation) on the simulator's scenarios and prints
// the table of docs/baselines.md: the bar the RL agents must beat.
//
//   rlscale_baselines [--data DIR] [--seed S] [--hours H] [--csv FILE] [--model request|tick]
//
// DIR holds an Azure Functions 2019 excerpt (invocations.csv,
// durations.csv); by default the one shipped in data/azure2019-excerpt.
#include "../apps/common/cli.hpp"
#include "../apps/common/output_file.hpp"
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/sim/scenario.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

static int program(int argc, char** argv) {
    using namespace rlscale;
    using namespace rlscale::sim;
    std::filesystem::path data = std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt";
    std::uint64_t seed = 1;
    double hours = 2;
    std::string csv_path;
    sim_model model = sim_model::request;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: %s [--data DIR] [--seed S] [--hours H] [--csv FILE] [--model request|tick]\n", argv[0]);
            return 2;
        }
        if (arg == "--data") {
            data = argv[++i];
        } else if (arg == "--seed") {
            seed = rlscale::cli::integer<unsigned long long>(arg, argv[++i]);
        } else if (arg == "--hours") {
            hours = rlscale::cli::number(arg, argv[++i]);
        } else if (arg == "--csv") {
            csv_path = argv[++i];
        } else if (arg == "--model") {
            try {
                model = sim_model_from_string(argv[++i], "--model");
            } catch (const config_error& e) {
                std::fprintf(stderr, "%s\n", e.what());
                return 2;
            }
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!(hours > 0)) {
        std::fprintf(stderr, "--hours must be > 0\n");
        return 2;
    }
    // Written to a temporary file beside csv_path and renamed over it once
    // complete; a write that fails is an error naming the file (exit 1).
    std::optional<rlscale::apps::output_file> csv_file;
    std::FILE* csv = nullptr;
    if (!csv_path.empty()) {
        try {
            csv = csv_file.emplace(csv_path).get();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        }
        csv_header(csv);
    }
    try {
        const auto start = std::chrono::steady_clock::now();
        const auto scenarios = all_scenarios(data, 3600 * hours);
        const auto no_score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
        std::printf("| scenario | policy | SLO violation rate | p99 / SLO, median tick | p99 / SLO, 95th pct tick | "
                    "replica-seconds |\n");
        std::printf("|---|---|---:|---:|---:|---:|\n");
        for (const auto& sc : scenarios) {
            for (const char* policy : {"hpa", "kpa", "ensure", "static"}) {
                const outcome o = run(sc, per_function_policy(policy, sc), seed, no_score, csv != nullptr, model);
                if (csv != nullptr) csv_rows(csv, sc, policy, o);
                std::printf("| %s | %s | %.1f %% | %.3g | %.3g | %.0f |\n", sc.name.c_str(), policy, 100.0 * o.violation_rate(),
                            o.p99_ratio(0.5), o.p99_ratio(0.95), o.replica_seconds);
            }
        }
        std::printf("\nseed %llu, %.3g simulated hours per scenario (azure-3fn: at most the trace's length), control "
                    "interval %.0f s, %s-level model; ran in %.1f s\n",
                    static_cast<unsigned long long>(seed), hours, control_interval_s, std::string(to_string(model)).c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    } catch (const rlscale::error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    if (csv_file) csv_file->commit();  // throws naming the file if any write failed: guarded_main exits 1
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
