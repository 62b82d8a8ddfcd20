// Cost of one random variate, in the time column (ns per variate): the
// exponential by inversion through libm against the ziggurat, and the normal
// by Box–Muller (standard_normal) against the ziggurat, with one uniform01 (a
// single generator call) as the floor. The simulator draws an exponential or a
// normal for every arrival and every request's service time.
#include <rlscale/core/random.hpp>
#include <rlscale/core/ziggurat.hpp>

#include <benchmark/benchmark.h>

#include <cmath>

namespace {

/// One variate per iteration from xoshiro256++, kept alive by DoNotOptimize.
template <typename Variate>
void BM_variates(benchmark::State& state, Variate variate) {
    rlscale::rng gen(1);
    for (auto _ : state) {
        double x = variate(gen);
        benchmark::DoNotOptimize(x);
    }
    state.SetItemsProcessed(state.iterations());
}

constexpr auto uniform = [](rlscale::rng& gen) { return rlscale::uniform01(gen); };
constexpr auto libm_exponential = [](rlscale::rng& gen) { return -std::log(1.0 - rlscale::uniform01(gen)); };
constexpr auto ziggurat_exponential = [](rlscale::rng& gen) { return rlscale::exponential01(gen); };
constexpr auto box_muller_normal = [](rlscale::rng& gen) { return rlscale::standard_normal(gen); };
constexpr auto ziggurat_normal = [](rlscale::rng& gen) { return rlscale::ziggurat_normal(gen); };

BENCHMARK_CAPTURE(BM_variates, uniform01, uniform);
BENCHMARK_CAPTURE(BM_variates, libm_exponential, libm_exponential);
BENCHMARK_CAPTURE(BM_variates, ziggurat_exponential, ziggurat_exponential);
BENCHMARK_CAPTURE(BM_variates, box_muller_normal, box_muller_normal);
BENCHMARK_CAPTURE(BM_variates, ziggurat_normal, ziggurat_normal);

}  // namespace
