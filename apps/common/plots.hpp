// SVG plots of evaluation runs: per function, the offered load, each
// policy's replicas, and each policy's latency at the SLO percentile
// against the SLO.
#pragma once

#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/sim/scenario.hpp>
#include "svg_plot.hpp"

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace rlscale::apps {

// The scenarios and the run loop live in the library (sim/scenario.hpp).
using namespace rlscale::sim;  // NOLINT(google-build-using-namespace)

/// One policy's run, for plotting.
struct labelled_run {
    std::string policy;
    const outcome* result = nullptr;
};

inline void plot_runs(const std::filesystem::path& path, const scenario& sc, const std::vector<labelled_run>& runs) {
    std::vector<panel> panels;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::uint32_t f = 0; f < sc.config.functions.size(); ++f) {
        const std::string& fn = sc.config.functions[f].profile.name;
        panel load{.title = fn + ": offered load", .y_label = "req/s"};
        panel replicas{.title = fn + ": replicas", .y_label = "replicas"};
        panel latency{.title = fn + ": latency at the SLO percentile (log)", .y_label = "seconds", .log_y = true};
        for (std::size_t k = 0; k < runs.size(); ++k) {
            series r{.label = runs[k].policy};
            series l{.label = runs[k].policy};
            series offered{.label = "offered load"};
            for (const tick_record& t : runs[k].result->ticks_log) {
                if (t.function != f) continue;
                r.x.push_back(t.time_s);
                r.y.push_back(t.decided);
                l.x.push_back(t.time_s);
                l.y.push_back(std::isfinite(t.latency_at_slo_s) && t.latency_at_slo_s > 0 ? t.latency_at_slo_s : nan);
                offered.x.push_back(t.time_s);
                offered.y.push_back(t.offered_rps);
            }
            if (k == 0) load.lines.push_back(std::move(offered));
            replicas.lines.push_back(std::move(r));
            latency.lines.push_back(std::move(l));
        }
        if (!latency.lines.empty() && !latency.lines[0].x.empty()) {
            const double slo = sc.states[f].slo.latency_s;
            latency.lines.push_back({.label = "SLO", .x = {latency.lines[0].x.front(), latency.lines[0].x.back()}, .y = {slo, slo},
                                     .color = "#000000", .dashed = true});
        }
        panels.push_back(std::move(load));
        panels.push_back(std::move(replicas));
        panels.push_back(std::move(latency));
    }
    write_svg(path, sc.name + ": load, replicas and tail latency per policy", panels, "simulated time (s)", 900, 170);
}

}  // namespace rlscale::apps
