// The tick-level model stays within its documented error bounds against the
// request-level model (docs/simulator.md, "Validation of the tick-level
// model"), on the grid's cells at loads 0.5, 0.95 and 1.2, cold starts and
// contention. Measured windows are the docs' table's (1800 s, three runs)
// where that is under 100,000 requests, otherwise a tenth of them.
#include <rlscale/sim/model_validation.hpp>

#include <doctest/doctest.h>

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

}  // namespace test_sim_model_validation
