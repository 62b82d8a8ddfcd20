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
// it; default: hpa, kpa, ensure and static. A checkpoint's slots decide
// the scenario's functions as the controller matches them: by the names in
// its spec (serving.functions) when those are the scenario's, in any
// order; in order when it names none of them (a note says so); a spec
// naming some and not others is refused.
// The reward column is the demo's training reward (SCARLET's, minus 1.5 ×
// the mean share of the replica budget in use).
#include "../common/cli.hpp"
#include "../common/output_file.hpp"
#include "../common/plots.hpp"

#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/sim/scenario.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

constexpr const char* usage_text =
    "usage: rlscale-evaluate [--scenario NAME | --trace DIR [--functions H1,H2,...]] [--policy P]...\n"
    "                        [--hours H] [--seed S] [--csv FILE] [--svg FILE]\n";

/// The comma-separated hash prefixes of --functions: none empty, none twice.
std::vector<std::string> function_list(std::string_view option, const std::string& list) {
    std::vector<std::string> out;
    for (std::size_t pos = 0;;) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        const std::string item = list.substr(pos, comma - pos);
        if (item.empty()) throw rlscale::cli::usage_error(option, "an empty function in " + rlscale::cli::quoted(list));
        if (std::find(out.begin(), out.end(), item) != out.end()) {
            throw rlscale::cli::usage_error(option, rlscale::cli::quoted(item) + " is named twice");
        }
        out.push_back(item);
        if (comma == list.size()) return out;
        pos = comma + 1;
    }
}

/// Whether a --policy value names a checkpoint (a .json file) rather than a baseline.
bool is_checkpoint(const std::string& p) { return p.size() > 5 && p.ends_with(".json"); }

/// `p` made absolute, its symbolic links followed (a dangling one too: the
/// file a write through it would create) and its "." and ".." resolved.
std::filesystem::path resolved(std::filesystem::path p) {
    namespace fs = std::filesystem;
    std::error_code ec;
    p = fs::absolute(p, ec);
    for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
        const fs::path target = fs::read_symlink(p, ec);
        if (ec) break;
        p = target.is_absolute() ? target : p.parent_path() / target;
    }
    const fs::path canonical = fs::weakly_canonical(p, ec);
    return ec ? p.lexically_normal() : canonical;
}

/// Whether `a` and `b` name one file: the same text, the same path once
/// resolved ("out.csv" and "./out.csv", or a link and its target, whether
/// or not the file exists yet), or one existing file (hard links).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
    if (a == b || resolved(a) == resolved(b)) return true;
    std::error_code ec;
    return std::filesystem::equivalent(a, b, ec);  // false (ec set) when either does not exist
}

/// A file the run will write: refused before any simulation when its
/// directory does not exist or cannot be written (an existing file that
/// can be written is accepted: output_file then writes it in place).
void check_writable(std::string_view option, const std::filesystem::path& file) {
    const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    if (file.filename().empty() || std::filesystem::is_directory(file, ec)) {
        throw rlscale::cli::usage_error(option, "cannot write " + rlscale::cli::quoted_path(file.string()) + ": it is a directory");
    }
    if (std::filesystem::exists(file, ec)) {
        if (::access(file.c_str(), W_OK) == 0) return;
        const int err = errno;
        throw rlscale::cli::usage_error(option, "cannot write " + rlscale::cli::quoted_path(file.string()) + ": " + std::strerror(err));
    }
    if (!std::filesystem::is_directory(dir, ec) || ::access(dir.c_str(), W_OK) != 0) {
        throw rlscale::cli::usage_error(option, "cannot write " + rlscale::cli::quoted_path(file.string()) + ": " +
                                                    rlscale::cli::quoted_path(dir.string()) + " is not a writable directory");
    }
}

}  // namespace

static int program(int argc, char** argv) {
    using namespace rlscale;
    using namespace rlscale::apps;
    using namespace rlscale::sim;
    std::string scenario_name;
    std::filesystem::path trace_dir;
    std::vector<std::string> functions;
    std::vector<std::string> policies;
    double hours = 1;
    std::uint64_t seed = 1;
    std::string csv_path;
    std::string svg_path;
    static constexpr std::string_view known[] = {"--scenario", "--trace", "--functions", "--policy", "--hours", "--seed", "--csv", "--svg"};
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage_text, stdout);
            return 0;
        }
        if (std::find(std::begin(known), std::end(known), arg) == std::end(known)) {
            throw cli::usage_error(arg.starts_with("-") ? "unknown option" : "unknown argument", cli::quoted(arg) + "\n" + usage_text);
        }
        if (i + 1 >= argc) throw cli::usage_error(arg, "missing value");
        const std::string value = argv[++i];
        // An empty scenario, trace or file would otherwise read as "not given".
        if (value.empty() && (arg == "--scenario" || arg == "--trace" || arg == "--csv" || arg == "--svg")) {
            throw cli::usage_error(arg, "must not be empty");
        }
        if (arg == "--scenario") {
            scenario_name = value;
        } else if (arg == "--trace") {
            trace_dir = value;
        } else if (arg == "--functions") {
            functions = function_list(arg, value);
        } else if (arg == "--policy") {
            policies.push_back(value);
        } else if (arg == "--hours") {
            hours = cli::number_above(arg, value, 0);
            // 20,000 hours (2.3 years) of simulated time, as the demos: a load
            // binned by the second holds at most 1e8 bins (sim::max_workload_bins,
            // about 27,777 hours), and a run ends.
            if (hours > 2e4) throw cli::usage_error(arg, "must be <= 20000, got " + cli::quoted(value));
            // A run plays whole control intervals (15 s).
            if (3600 * hours + 1e-9 < control_interval_s) {
                throw cli::usage_error(arg, "must be at least one control interval (15 s, about 0.0042 hours), got " + cli::quoted(value));
            }
        } else if (arg == "--seed") {
            seed = cli::seed(arg, value);
        } else if (arg == "--csv") {
            csv_path = value;
        } else {
            svg_path = value;
        }
    }
    if (!scenario_name.empty() && !trace_dir.empty()) throw cli::usage_error("--scenario", "and --trace are alternatives: give one");
    if (!functions.empty() && trace_dir.empty()) throw cli::usage_error("--functions", "picks functions of --trace: give --trace DIR");
    if (scenario_name.empty()) scenario_name = "scarlet-3fn";
    if (policies.empty()) policies = {"hpa", "kpa", "ensure", "static"};
    if (!csv_path.empty()) check_writable("--csv", csv_path);
    if (!svg_path.empty()) check_writable("--svg", svg_path);
    if (!csv_path.empty() && !svg_path.empty()) {
        if (same_file(csv_path, svg_path)) {
            throw cli::usage_error("--svg", "names the same file as --csv (" + cli::quoted_path(csv_path) + " and " + cli::quoted_path(svg_path) +
                                                "): give two files");
        }
    }
    // No output may replace one of the run's inputs: a checkpoint, or a
    // trace file the scenario is read from.
    {
        std::vector<std::pair<std::string, std::filesystem::path>> inputs;  // option, file
        for (const std::string& p : policies) {
            if (is_checkpoint(p)) inputs.emplace_back("--policy", p);
        }
        const std::filesystem::path data =
            !trace_dir.empty() ? trace_dir
            : scenario_name == "azure-3fn" ? std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt"
                                           : std::filesystem::path();
        if (!data.empty()) {
            const char* option = trace_dir.empty() ? "--scenario" : "--trace";
            inputs.emplace_back(option, data / "invocations.csv");
            inputs.emplace_back(option, data / "durations.csv");
        }
        for (const auto& [option, output] : {std::pair<const char*, const std::string&>{"--csv", csv_path}, {"--svg", svg_path}}) {
            if (output.empty()) continue;
            for (const auto& [input_option, input] : inputs) {
                if (same_file(output, input)) {
                    throw cli::usage_error(option, "names a file the run reads (" + input_option + " " + cli::quoted_path(input.string()) +
                                                       " and " + option + " " + cli::quoted_path(output) +
                                                       "): an output may not replace an input");
                }
            }
        }
    }

    // A scenario, trace, function or checkpoint that cannot be used is a
    // usage error naming its option and the value given.
    scenario sc;
    if (!trace_dir.empty()) {
        const auto trace_error = [&](const rlscale::error& e) {
            return cli::usage_error("--trace", cli::quoted_path(trace_dir.string()) + ": " + e.what());
        };
        const sim::azure_trace trace = [&] {
            try {
                return sim::azure_trace::load(trace_dir / "invocations.csv");
            } catch (const rlscale::error& e) {
                throw trace_error(e);
            }
        }();
        if (functions.empty()) {
            for (std::size_t r = 0; r < 3 && r < trace.functions().size(); ++r) {
                functions.push_back(trace.by_rank(r).hash_function.substr(0, 10));
            }
        }
        // Each given prefix resolved to its function: two that name one
        // function (a prefix and the full hash) are refused.
        std::vector<std::string> hashes;
        for (std::size_t k = 0; k < functions.size(); ++k) {
            try {
                hashes.push_back(trace.by_hash(functions[k]).hash_function);
            } catch (const config_error& e) {
                throw cli::usage_error("--functions", cli::quoted(functions[k]) + ": " + e.detail());
            }
            for (std::size_t j = 0; j < k; ++j) {
                if (hashes[j] == hashes[k]) {
                    throw cli::usage_error("--functions", cli::quoted(functions[j]) + " and " + cli::quoted(functions[k]) +
                                                              " name the same function " + cli::quoted(hashes[k]));
                }
            }
        }
        try {
            sc = azure(trace_dir, functions, 3600 * hours, "trace-" + std::to_string(functions.size()) + "fn");
        } catch (const config_error& e) {
            if (e.field() == "azure.hashes") throw cli::usage_error("--functions", e.detail());
            throw trace_error(e);
        } catch (const rlscale::error& e) {
            throw trace_error(e);
        }
    } else {
        try {
            sc = named_scenario(scenario_name, std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt", 3600 * hours);
        } catch (const config_error& e) {
            if (e.field() == "scenario") throw cli::usage_error("--scenario", e.detail());
            throw cli::usage_error("--scenario", cli::quoted(scenario_name) + ": " + e.what());
        } catch (const rlscale::error& e) {
            throw cli::usage_error("--scenario", cli::quoted(scenario_name) + ": " + e.what());
        }
    }
    // Every policy is built, and every checkpoint loaded, before the first run.
    std::vector<any_joint_policy> built;
    std::vector<std::string> notes;
    for (const std::string& p : policies) {
        const bool checkpoint = is_checkpoint(p);
        try {
            slot_matching matched = slot_matching::by_name;
            built.push_back(checkpoint ? checkpoint_policy(p, sc, &matched) : per_function_policy(p, sc));
            if (checkpoint && matched == slot_matching::in_order) {
                notes.push_back("note: " + p + " names none of scenario " + sc.name +
                                "'s functions (serving.functions): its slots decide them in order");
            }
        } catch (const config_error& e) {
            if (e.field() == "policy" || e.field() == "policy.functions") throw cli::usage_error("--policy", e.detail());
            throw cli::usage_error("--policy", cli::quoted_path(p) + ": " + e.what());
        } catch (const rlscale::error& e) {  // a checkpoint that cannot be read
            throw cli::usage_error("--policy", cli::quoted_path(p) + ": " + e.what());
        }
    }
    // SCARLET's reward minus 1.5 × the replica budget in use (the demo's training reward).
    const with_replica_cost<scarlet_reward> reward(scarlet_reward{}, 1.5);
    std::vector<outcome> results;
    std::printf("scenario %s: %zu functions, %.3g simulated hours, seed %llu\n\n", sc.name.c_str(), sc.states.size(),
                sc.duration_s / 3600, static_cast<unsigned long long>(seed));
    for (const std::string& note : notes) std::printf("%s\n\n", note.c_str());
    std::printf("| policy | SLO violation rate | p99 / SLO, median tick | replica-seconds | mean reward |\n");
    std::printf("|---|---:|---:|---:|---:|\n");
    for (std::size_t k = 0; k < policies.size(); ++k) {
        results.push_back(run(sc, built[k], seed, reward, !csv_path.empty() || !svg_path.empty()));
        const outcome& o = results.back();
        std::printf("| %s | %.1f %% | %.3g | %.0f | %+.3f |\n", policies[k].c_str(), 100.0 * o.violation_rate(), o.p99_ratio(0.5),
                    o.replica_seconds, o.mean_reward());
    }
    // The outputs are written once every run is done (an interrupted run
    // leaves no temporary file behind), each to a temporary file beside it,
    // renamed over it once complete; a failed write throws naming the file.
    // The CSV's text is written and flushed (its errors checked) first, then
    // the SVG written, and only then the CSV renamed into place: a CSV or
    // SVG that cannot be written leaves the other file as it was.
    std::optional<output_file> csv;
    if (!csv_path.empty()) {
        csv.emplace(csv_path);
        csv_header(csv->get());
        for (std::size_t k = 0; k < policies.size(); ++k) csv_rows(csv->get(), sc, policies[k], results[k]);
        errno = 0;
        if (std::fflush(csv->get()) != 0 || std::ferror(csv->get())) {
            const int err = errno;
            throw std::runtime_error("cannot write '" + csv_path + "': " + (err != 0 ? std::strerror(err) : "write error"));
        }
    }
    if (!svg_path.empty()) {
        std::vector<labelled_run> runs;
        for (std::size_t k = 0; k < policies.size(); ++k) runs.push_back({policies[k], &results[k]});
        plot_runs(svg_path, sc, runs);
    }
    if (csv) csv->commit();
    if (!svg_path.empty()) std::printf("\nwrote %s\n", svg_path.c_str());
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
