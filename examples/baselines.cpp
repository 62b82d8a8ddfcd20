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
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

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
    // The loads are binned by the second, at most 1e8 bins (27,777 hours):
    // a longer run is refused here, by its flag, as in the SCARLET demo.
    if (hours > 20'000) {
        std::fprintf(stderr, "--hours: must be <= 20000, got %g\n", hours);
        return 2;
    }
    if (3600 * hours + 1e-9 < control_interval_s) {  // a run plays whole control intervals
        std::fprintf(stderr, "--hours: must be at least one control interval (%g s, %g hours), got %g\n", control_interval_s,
                     control_interval_s / 3600, hours);
        return 2;
    }
    // A CSV path that is a directory, whose directory is missing, or an
    // existing file that may not be written, fails before the runs. The file is
    // written once every run is done (an interrupted run leaves no
    // temporary file behind).
    if (!csv_path.empty()) {
        const std::filesystem::path csv_dir = std::filesystem::path(csv_path).parent_path();
        std::error_code ec;
        if (std::filesystem::is_directory(csv_path, ec)) {
            std::fprintf(stderr, "error: cannot write '%s': it is a directory\n", csv_path.c_str());
            return 1;
        }
        if (!csv_dir.empty() && !std::filesystem::is_directory(csv_dir, ec)) {
            std::fprintf(stderr, "error: cannot write '%s': %s\n", csv_path.c_str(), std::strerror(ENOENT));
            return 1;
        }
        if (std::filesystem::exists(csv_path, ec) && ::access(csv_path.c_str(), W_OK) != 0) {
            std::fprintf(stderr, "error: cannot write '%s': %s\n", csv_path.c_str(), std::strerror(errno));
            return 1;
        }
    }
    struct csv_run {
        const scenario* sc;
        const char* policy;
        outcome o;
    };
    std::vector<csv_run> csv_runs;
    try {
        const auto start = std::chrono::steady_clock::now();
        const auto scenarios = all_scenarios(data, 3600 * hours);
        const auto no_score = [](std::span<const function_metrics>, std::span<const scaling_state>) { return 0.0; };
        std::printf("| scenario | policy | SLO violation rate | p99 / SLO, median tick | p99 / SLO, 95th pct tick | "
                    "replica-seconds |\n");
        std::printf("|---|---|---:|---:|---:|---:|\n");
        for (const auto& sc : scenarios) {
            for (const char* policy : {"hpa", "kpa", "ensure", "static"}) {
                const outcome o = run(sc, per_function_policy(policy, sc), seed, no_score, !csv_path.empty(), model);
                std::printf("| %s | %s | %.1f %% | %.3g | %.3g | %.0f |\n", sc.name.c_str(), policy, 100.0 * o.violation_rate(),
                            o.p99_ratio(0.5), o.p99_ratio(0.95), o.replica_seconds);
                if (!csv_path.empty()) csv_runs.push_back({&sc, policy, o});
            }
        }
        std::printf("\nseed %llu, %.3g simulated hours per scenario (azure-3fn: at most the trace's length), control "
                    "interval %.0f s, %s-level model; ran in %.1f s\n",
                    static_cast<unsigned long long>(seed), hours, control_interval_s, std::string(to_string(model)).c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        // To a temporary file beside csv_path, renamed over it once complete;
        // a write that fails throws naming the file: guarded_main exits 1.
        if (!csv_path.empty()) {
            rlscale::apps::output_file csv(csv_path);
            csv_header(csv.get());
            for (const csv_run& r : csv_runs) csv_rows(csv.get(), *r.sc, r.policy, r.o);
            csv.commit();
        }
    } catch (const rlscale::error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
