// The tick-level model stays within its documented error bounds against the
// request-level model (docs/simulator.md, "Validation of the tick-level
// model"), on the grid's cells at loads 0.5, 0.95 and 1.2, cold starts and
// contention. Measured windows are the docs' table's (1800 s, three runs)
// where that is under 100,000 requests, otherwise a tenth of them.
#include <rlscale/sim/model_validation.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace test_sim_model_validation {

using namespace rlscale::sim;

TEST_CASE("tick_cluster against cluster: every tested grid cell within the documented bounds") {
    int tested = 0;
    for (validation_cell cell : validation_grid(1.0)) {
        const bool load = cell.utilization == 0.5 || cell.utilization == 0.95 || cell.utilization == 1.2;
        if (!load && cell.scale_to < 0) continue;
        double rate = 0;
        for (const auto& f : cell.config.functions) rate += f.load.rates().front();
        if (rate * cell.measure_s > 100'000) cell.measure_s /= 10;
        const model_summary request = summarize(cell, sim_model::request, 1);
        const model_summary tick = summarize(cell, sim_model::tick, 1);
        const validation_error e = validation_error::between(request, tick);
        CAPTURE(cell.name);
        CAPTURE(e.latency_mean);
        CAPTURE(e.p90);
        CAPTURE(e.p99);
        CAPTURE(e.throughput);
        CAPTURE(e.drop_rate);
        CAPTURE(e.cpu_utilization);
        CHECK(e.outside(validation_bounds::of(cell)) == "");
        ++tested;
    }
    CHECK(tested == 9 * 3 + 2 + 3);
}

TEST_CASE("validation_error::outside names each figure beyond its bound") {
    const validation_bounds b;
    CHECK(validation_error{}.outside(b) == "");
    CHECK(validation_error{.p90 = -0.31, .drop_rate = 0.02}.outside(b) == "p90, drops");
    CHECK(validation_error{.latency_mean = std::nan("")}.outside(b) == "mean latency");
    validation_cell cold;
    cold.scale_to = 4;
    CHECK(validation_error{.p90 = 0.45}.outside(validation_bounds::of(cold)) == "");
    validation_cell saturated{.utilization = 0.95, .high_variance = true};
    CHECK(validation_error{.latency_mean = -0.6, .p99 = 0.31}.outside(validation_bounds::of(saturated)) == "p99");
}

TEST_CASE("summarize refuses a cell that measures no interval, or no run, by name") {
    // A window under 7.5 s rounds to no 15-s interval: every figure would be 0/0.
    validation_cell cell = validation_grid(0.003).front();
    CHECK_THROWS_WITH_AS(static_cast<void>(summarize(cell, sim_model::request, 1)), doctest::Contains("validation_cell.measure_s"),
                         rlscale::config_error);
    cell.measure_s = 7.4;
    CHECK_THROWS_WITH_AS(static_cast<void>(summarize(cell, sim_model::tick, 1)),
                         "validation_cell.measure_s: must be finite and >= 7.5, got 7.4", rlscale::config_error);
    cell.measure_s = std::nan("");
    CHECK_THROWS_AS(static_cast<void>(summarize(cell, sim_model::request, 1)), rlscale::config_error);
    cell.measure_s = 15;
    CHECK_THROWS_WITH_AS(static_cast<void>(summarize(cell, sim_model::request, 1, 0)), "summarize.runs: must be >= 1, got 0",
                         rlscale::config_error);
    CHECK_THROWS_AS(static_cast<void>(summarize(cell, sim_model::tick, 1, -2)), rlscale::config_error);
    // One interval of one run is a summary.
    cell.measure_s = 7.5;
    const model_summary s = summarize(cell, sim_model::request, 1, 1);
    CHECK(std::isfinite(s.throughput_rps));
    CHECK(s.throughput_rps > 0);
    CHECK(std::isfinite(s.cpu_utilization));
}

}  // namespace test_sim_model_validation
