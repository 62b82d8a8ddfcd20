// The tick-level model against the request-level one on the validation grid
// (sim/model_validation.hpp): per cell, what each model reports per 15-s
// interval over the measured window, the tick-level model's error, and the
// wall-clock time of each model. Prints the table of docs/simulator.md.
//
//   rlscale_sim_validation [--scale X] [--seed S]
#include "../apps/common/cli.hpp"
#include <rlscale/sim/model_validation.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

static int program(int argc, char** argv) {
    using namespace rlscale::sim;
    double scale = 1;
    std::string scale_text = "1";  // as given, for messages
    std::uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc || (arg != "--scale" && arg != "--seed")) {
            std::fprintf(stderr, "usage: %s [--scale X] [--seed S]\n", argv[0]);
            return 2;
        }
        try {
            if (arg == "--scale") scale = rlscale::cli::number(arg, scale_text = argv[++i]);
            else seed = rlscale::cli::integer<unsigned long long>(arg, argv[++i]);
        } catch (const rlscale::cli::usage_error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
    }
    if (!(scale > 0)) {
        std::fprintf(stderr, "--scale must be > 0\n");
        return 2;
    }
    // The grid at this scale, checked before the table's first line: a
    // window too long for a load (--scale past about 8.3e5) or too short to
    // measure one 15-s interval (below 1/120, node contention's 900 s x
    // scale) is refused by --scale, not after the rows before it.
    std::vector<validation_cell> grid;
    try {
        grid = validation_grid(scale);
    } catch (const rlscale::config_error& e) {
        throw rlscale::cli::usage_error("--scale", "makes a load too long (" + std::string(e.what()) + "), got " +
                                                       rlscale::cli::quoted(scale_text));
    }
    for (const validation_cell& cell : grid) {
        if (!(cell.measure_s >= 7.5)) {
            throw rlscale::cli::usage_error("--scale", "must be at least 1/120 (0.008333333333333333), got " +
                                                           rlscale::cli::quoted(scale_text) + ": \"" + cell.name + "\" would measure " +
                                                           rlscale::format_number(cell.measure_s) + " s, under half a 15-s interval");
        }
    }
    using clock = std::chrono::steady_clock;
    std::printf("| cell | load | mean latency: request / tick (error) | p90 | p99 | throughput error | drops: request / tick | CPU: request / tick | time: request / tick | outside the bounds |\n");
    std::printf("|---|---:|---|---|---|---:|---|---|---|---|\n");
    std::string shape;
    double request_total = 0;
    double tick_total = 0;
    int outside = 0;
    for (const validation_cell& cell : grid) {
        const auto t0 = clock::now();
        const model_summary r = summarize(cell, sim_model::request, seed);
        const auto t1 = clock::now();
        const model_summary t = summarize(cell, sim_model::tick, seed);
        const auto t2 = clock::now();
        const double rs = std::chrono::duration<double>(t1 - t0).count();
        const double ts = std::chrono::duration<double>(t2 - t1).count();
        request_total += rs;
        tick_total += ts;
        const validation_error e = validation_error::between(r, t);
        const auto ms = [](double s) { return s * 1000; };
        std::printf("| %s | %.2f | %.4g / %.4g ms (%+.0f %%) | %.4g / %.4g ms (%+.0f %%) | %.4g / %.4g ms (%+.0f %%) | %+.1f %% | %.2f / %.2f %% | %.3f / %.3f | %.2f / %.4f s | %s |\n",
                    cell.shape == shape ? "" : cell.shape.c_str(), cell.utilization, ms(r.latency_mean_s), ms(t.latency_mean_s),
                    100 * e.latency_mean, ms(r.p90_s), ms(t.p90_s), 100 * e.p90, ms(r.p99_s), ms(t.p99_s), 100 * e.p99,
                    100 * e.throughput, 100 * r.drop_rate, 100 * t.drop_rate, r.cpu_utilization, t.cpu_utilization, rs, ts,
                    e.outside(validation_bounds::of(cell)).c_str());
        outside += e.outside(validation_bounds::of(cell)).empty() ? 0 : 1;
        shape = cell.shape;
        std::fflush(stdout);
    }
    std::printf("\nseed %llu, measured windows x %.3g, 3 runs per cell; %d cells outside the documented bounds; wall clock: request-level %.1f s, tick-level %.2f s (%.0fx)\n",
                static_cast<unsigned long long>(seed), scale, outside, request_total, tick_total, request_total / tick_total);
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
