#include <rlscale/sim/workload.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>
#include "../temp_path.hpp"

namespace test_sim_workload {

using rlscale::config_error;
using rlscale::rng;
using namespace rlscale::sim;

namespace {

using rlscale::test::fresh_path;

constexpr double infinity = std::numeric_limits<double>::infinity();

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

/// `make()` must throw config_error whose field is `field` and whose message
/// contains `value` (the offending value as written).
template <typename Make>
void check_config_error(Make&& make, const std::string& field, const std::string& value) {
    CAPTURE(field);
    try {
        make();
        FAIL("accepted a bad value");
    } catch (const config_error& e) {
        CHECK(e.field() == field);
        CHECK(std::string(e.what()).find(value) != std::string::npos);
    }
}

/// Arrival counts in windows of `window_s` over [0, horizon), by repeated next_arrival from 0.
std::vector<double> window_counts(const workload& w, double horizon, double window_s, std::uint64_t seed) {
    std::vector<double> counts(static_cast<std::size_t>(std::ceil(horizon / window_s)), 0.0);
    rng gen(seed);
    for (double t = w.next_arrival(0.0, gen); t < horizon; t = w.next_arrival(t, gen)) {
        counts[static_cast<std::size_t>(t / window_s)] += 1;
    }
    return counts;
}

/// Arrivals in `counts` match the workload's integral window by window:
/// Pearson's chi-square within 4 standard deviations of its degrees of
/// freedom, and no window beyond 5 Poisson sigmas.
void check_poisson_windows(const workload& w, const std::vector<double>& counts, double window_s) {
    double chi2 = 0;
    int dof = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double a = static_cast<double>(i) * window_s;
        const double expected = w.expected_arrivals(a, a + window_s);
        CAPTURE(a);
        if (expected == 0) {
            CHECK(counts[i] == 0);
            continue;
        }
        CHECK(std::abs(counts[i] - expected) <= 5 * std::sqrt(expected) + 1);
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
        ++dof;
    }
    CAPTURE(chi2);
    CAPTURE(dof);
    CHECK(chi2 < dof + 4 * std::sqrt(2.0 * dof));
}

}  // namespace

TEST_CASE("workload: rate is piecewise constant over bins, 0 before 0 and after the end") {
    const workload w({1, 2, 0, 4}, 0.5);
    CHECK(w.bin_seconds() == 0.5);
    CHECK(w.duration() == 2.0);
    CHECK_FALSE(w.repeats());
    CHECK(w.rates() == std::vector<double>{1, 2, 0, 4});
    CHECK(w.rate(-0.1) == 0);
    CHECK(w.rate(0) == 1);
    CHECK(w.rate(0.49) == 1);
    CHECK(w.rate(0.5) == 2);
    CHECK(w.rate(1.2) == 0);
    CHECK(w.rate(1.99) == 4);
    CHECK(w.rate(2.0) == 0);
    CHECK(w.rate(1e9) == 0);
    CHECK(w.rate(infinity) == 0);
    CHECK(w.rate(std::numeric_limits<double>::quiet_NaN()) == 0);

    const workload r({1, 2, 0, 4}, 0.5, true);
    CHECK(r.repeats());
    CHECK(r.rate(2.0) == 1);
    CHECK(r.rate(2.7) == 2);
    CHECK(r.rate(1000.0 + 1.6) == 4);
    CHECK(r.rate(infinity) == 0);
}

TEST_CASE("workload: expected_arrivals integrates the rate, across bins and repeats") {
    const workload w({1, 2, 0, 4}, 0.5);
    CHECK(w.expected_arrivals(0, 2) == doctest::Approx(3.5));
    CHECK(w.expected_arrivals(0.25, 0.75) == doctest::Approx(0.25 * 1 + 0.25 * 2));
    CHECK(w.expected_arrivals(-5, 100) == doctest::Approx(3.5));
    CHECK(w.expected_arrivals(1, 0.5) == 0);
    const workload r({1, 2, 0, 4}, 0.5, true);
    CHECK(r.expected_arrivals(0, 20) == doctest::Approx(35));
    CHECK(r.expected_arrivals(2.25, 2.75) == doctest::Approx(0.25 * 1 + 0.25 * 2));
}

TEST_CASE("workload: construction rejects bad rates and bins, naming the field and value") {
    check_config_error([] { workload({1, 2, 3, -2}, 1.0); }, "workload.rates[3]", "got -2");
    CHECK_THROWS_WITH(workload({1, 2, 3, -2}, 1.0), "workload.rates[3]: must be finite and >= 0, got -2");
    check_config_error([] { workload({1, std::numeric_limits<double>::quiet_NaN()}, 1.0); }, "workload.rates[1]", "nan");
    check_config_error([] { workload({infinity}, 1.0); }, "workload.rates[0]", "inf");
    check_config_error([] { workload({}, 1.0); }, "workload.rates", "must hold at least 1 value, got 0");
    check_config_error([] { workload({1}, 0.0); }, "workload.bin_seconds", "got 0");
    check_config_error([] { workload({1}, -1.0); }, "workload.bin_seconds", "got -1");
    check_config_error([] { workload({1}, infinity); }, "workload.bin_seconds", "inf");
    // Each rate finite, their total over a pass not: refused (expected arrivals would be NaN).
    check_config_error([] { workload({1e308, 1e308}, 2.0); }, "workload.rates", "finite count of arrivals per pass, got inf");
    CHECK_NOTHROW(workload({1e307, 1e307}, 2.0));
    // Errors derive from rlscale::error.
    CHECK_THROWS_AS(workload({}, 1.0), rlscale::error);
}

TEST_CASE("workload: scaled multiplies every rate and keeps bins and repeat") {
    const workload w = workload({1, 0, 3}, 2.0, true).scaled(2.5);
    CHECK(w.rates() == std::vector<double>{2.5, 0, 7.5});
    CHECK(w.bin_seconds() == 2.0);
    CHECK(w.repeats());
    CHECK(constant(4, 10).scaled(0).rates() == std::vector<double>(10, 0.0));
    check_config_error([] { (void)constant(1, 10).scaled(-1); }, "factor", "got -1");
    check_config_error([] { (void)constant(1, 10).scaled(infinity); }, "factor", "inf");
}

TEST_CASE("workload constant: one rate over whole bins covering the duration") {
    const workload w = constant(5, 10);
    CHECK(w.rates() == std::vector<double>(10, 5.0));
    CHECK(w.duration() == 10);
    // 1.1 / 0.1 is 11.000000000000002 in floating point: still 11 bins.
    CHECK(constant(2, 1.1, 0.1).rates().size() == 11);
    // A duration that is not a whole number of bins is rounded up.
    CHECK(constant(2, 10.5, 2).rates().size() == 6);
    check_config_error([] { (void)constant(-1, 10); }, "rate", "got -1");
    check_config_error([] { (void)constant(1, 0); }, "duration_s", "got 0");
    check_config_error([] { (void)constant(1, 10, -0.5); }, "bin_s", "got -0.5");
    check_config_error([] { (void)constant(1, 1e12, 1e-3); }, "duration_s", "must span at most 1e+08 bins of 0.001 s, got 1e+12");
}

TEST_CASE("workload sinusoidal: mean + amplitude sin(2 pi t / period + phase) at bin midpoints, clipped at 0") {
    const workload w = sinusoidal(10, 5, 60, 120, 0.3);
    REQUIRE(w.rates().size() == 120);
    for (const double t : {0.0, 14.0, 15.0, 44.7, 90.0, 119.5}) {
        CAPTURE(t);
        const double mid = std::floor(t) + 0.5;
        CHECK(w.rate(t) == doctest::Approx(10 + 5 * std::sin(2 * std::numbers::pi * mid / 60 + 0.3)));
    }
    // Mean over whole periods is the mean rate.
    CHECK(w.expected_arrivals(0, 120) / 120 == doctest::Approx(10).epsilon(1e-9));
    // An amplitude above the mean is clipped at 0, never negative.
    const workload c = sinusoidal(1, 5, 20, 20);
    CHECK(c.rate(15.5) == 0);
    CHECK(c.rate(5.5) == doctest::Approx(1 + 5 * std::sin(2 * std::numbers::pi * 5.5 / 20)));
    check_config_error([] { (void)sinusoidal(-1, 5, 60, 120); }, "mean", "got -1");
    check_config_error([] { (void)sinusoidal(1, -5, 60, 120); }, "amplitude", "got -5");
    check_config_error([] { (void)sinusoidal(1, 5, 0, 120); }, "period_s", "got 0");
    check_config_error([] { (void)sinusoidal(1, 5, 60, 120, infinity); }, "phase", "inf");
}

TEST_CASE("workload sinusoidal: the Polimi low, medium and high intensities") {
    struct expected_shape {
        workload w;
        polimi_intensity p;
        double mean;
        double amplitude;
    };
    const std::vector<expected_shape> cases{{sinusoidal_low(), polimi_intensity::low(), 25, 10},
                                            {sinusoidal_medium(), polimi_intensity::medium(), 37.5, 22.5},
                                            {sinusoidal_high(), polimi_intensity::high(), 50, 35}};
    for (const auto& c : cases) {
        CAPTURE(c.mean);
        CHECK(c.p.mean == c.mean);
        CHECK(c.p.amplitude == c.amplitude);
        CHECK(c.p.period_s == 180);
        REQUIRE(c.w.rates().size() == 180);
        // One whole cycle: mean, peak and trough as published.
        CHECK(c.w.expected_arrivals(0, 180) / 180 == doctest::Approx(c.mean).epsilon(1e-9));
        const auto [lo, hi] = std::minmax_element(c.w.rates().begin(), c.w.rates().end());
        CHECK(*hi == doctest::Approx(c.mean + c.amplitude).epsilon(1e-3));
        CHECK(*lo == doctest::Approx(c.mean - c.amplitude).epsilon(1e-3));
        // The notebook's phase, sin(t - 15): starting below the mean, peaking
        // about 115 s in, trough about 25 s in.
        CHECK(c.w.rate(0) < c.mean);
        CHECK(std::distance(c.w.rates().begin(), hi) == doctest::Approx(115).epsilon(0.02));
        CHECK(std::distance(c.w.rates().begin(), lo) == doctest::Approx(25).epsilon(0.1));
    }
    CHECK(polimi_intensity::low().mean < polimi_intensity::medium().mean);
    CHECK(polimi_intensity::medium().mean < polimi_intensity::high().mean);
    // Longer runs repeat the cycle.
    CHECK(sinusoidal_high(720).rate(10.5 + 360) == doctest::Approx(sinusoidal_high().rate(10.5)));

    polimi_intensity bad = polimi_intensity::low();
    bad.noise_stddev = -1;
    check_config_error([&] { (void)sinusoidal(bad, 100); }, "polimi_intensity.noise_stddev", "got -1");
}

TEST_CASE("workload noisy_sinusoidal: Gaussian noise per bin around the Polimi profile, clipped below at min_rate") {
    const polimi_intensity p = polimi_intensity::high();
    rng gen(2002);
    const workload noisy = noisy_sinusoidal(p, 1800, gen);
    const workload clean = sinusoidal(p, 1800);
    REQUIRE(noisy.rates().size() == 1800);
    double sum = 0;
    double sq = 0;
    for (std::size_t k = 0; k < 1800; ++k) {
        const double d = noisy.rates()[k] - clean.rates()[k];
        sum += d;
        sq += d * d;
        CHECK(noisy.rates()[k] >= p.min_rate);
    }
    const double n = 1800;
    CHECK(std::abs(sum / n) < 4 * p.noise_stddev / std::sqrt(n));
    CHECK(std::sqrt(sq / n) == doctest::Approx(p.noise_stddev).epsilon(0.1));
    // A seed reproduces the profile.
    rng again(2002);
    CHECK(noisy_sinusoidal(p, 1800, again).rates() == noisy.rates());
    // Without noise it is the clean profile.
    polimi_intensity quiet = p;
    quiet.noise_stddev = 0;
    CHECK(noisy_sinusoidal(quiet, 1800, gen).rates() == clean.rates());
}

TEST_CASE("workload step: before until at_s, after from then on, a straddling bin holds the mean") {
    const workload w = step(2, 8, 10.5, 20);
    CHECK(w.rates().size() == 20);
    CHECK(w.rate(0) == 2);
    CHECK(w.rate(9.9) == 2);
    CHECK(w.rate(10.2) == doctest::Approx(5));  // half of [10, 11) at 2, half at 8
    CHECK(w.rate(11) == 8);
    CHECK(w.rate(19.9) == 8);
    CHECK(w.expected_arrivals(0, 20) == doctest::Approx(2 * 10.5 + 8 * 9.5));
    CHECK(step(3, 0, 5, 10).rates() == std::vector<double>{3, 3, 3, 3, 3, 0, 0, 0, 0, 0});
    check_config_error([] { (void)step(-2, 8, 10, 20); }, "before", "got -2");
    check_config_error([] { (void)step(2, -8, 10, 20); }, "after", "got -8");
    check_config_error([] { (void)step(2, 8, -10, 20); }, "at_s", "got -10");
}

TEST_CASE("workload spike: base with peak during the window") {
    const workload w = spike(1, 10, 5, 3, 20);
    CHECK(w.rate(4.9) == 1);
    CHECK(w.rate(5) == 10);
    CHECK(w.rate(7.9) == 10);
    CHECK(w.rate(8) == 1);
    CHECK(w.rate(19) == 1);
    CHECK(w.expected_arrivals(0, 20) == doctest::Approx(17 + 30));
    // Edges inside bins of 2 s: [4, 6) is half base, half peak.
    const workload coarse = spike(1, 10, 5, 3, 20, 2);
    CHECK(coarse.rate(4.5) == doctest::Approx(5.5));
    CHECK(coarse.rate(6.5) == 10);
    CHECK(coarse.rate(8.5) == 1);
    check_config_error([] { (void)spike(1, 10, 5, 0, 20); }, "length_s", "got 0");
    check_config_error([] { (void)spike(1, -10, 5, 3, 20); }, "peak", "got -10");
    check_config_error([] { (void)spike(1, 10, -5, 3, 20); }, "start_s", "got -5");
}

TEST_CASE("workload on_off: on_rate for on_s then 0 for off_s, repeated") {
    const workload w = on_off(4, 2, 3, 20);
    CHECK(w.rates() == std::vector<double>{4, 4, 0, 0, 0, 4, 4, 0, 0, 0, 4, 4, 0, 0, 0, 4, 4, 0, 0, 0});
    // Bins of 2.5 s: [0, 2.5) is on for 2 s; [2.5, 5) off; [5, 7.5) on for 2 s.
    const workload coarse = on_off(4, 2, 3, 20, 2.5);
    CHECK(coarse.rate(0) == doctest::Approx(3.2));
    CHECK(coarse.rate(3) == 0);
    CHECK(coarse.rate(6) == doctest::Approx(3.2));
    CHECK(on_off(4, 2, 0, 5).rates() == std::vector<double>(5, 4.0));
    check_config_error([] { (void)on_off(4, 0, 3, 20); }, "on_s", "got 0");
    check_config_error([] { (void)on_off(4, 2, -3, 20); }, "off_s", "got -3");
}

TEST_CASE("workload random_walk: starts at start, stays within min and max, and one seed reproduces it") {
    rng gen(5);
    const workload w = random_walk(10, 3, 2, 20, 2000, gen);
    REQUIRE(w.rates().size() == 2000);
    CHECK(w.rates().front() == 10);
    bool moved = false;
    for (const double r : w.rates()) {
        CHECK(r >= 2);
        CHECK(r <= 20);
        moved = moved || r != 10;
    }
    CHECK(moved);
    // Away from the bounds, steps have the asked standard deviation.
    rng wide_gen(8);
    const workload wide = random_walk(50, 3, 0, 100, 2000, wide_gen);
    double sq = 0;
    int n = 0;
    for (std::size_t k = 1; k < wide.rates().size(); ++k) {
        const double a = wide.rates()[k - 1];
        if (a < 15 || a > 85) continue;  // 5 sigma from a bound: no reflection
        const double d = wide.rates()[k] - a;
        sq += d * d;
        ++n;
    }
    REQUIRE(n > 500);
    CHECK(std::sqrt(sq / n) == doctest::Approx(3).epsilon(0.1));
    rng same(5);
    CHECK(random_walk(10, 3, 2, 20, 2000, same).rates() == w.rates());
    rng other(6);
    CHECK(random_walk(10, 3, 2, 20, 2000, other).rates() != w.rates());
    rng still(7);
    CHECK(random_walk(10, 0, 2, 20, 50, still).rates() == std::vector<double>(50, 10.0));
    check_config_error([&] { (void)random_walk(10, 3, 20, 2, 100, gen); }, "max", "got 2");
    check_config_error([&] { (void)random_walk(30, 3, 2, 20, 100, gen); }, "start", "got 30");
    check_config_error([&] { (void)random_walk(10, -3, 2, 20, 100, gen); }, "step_stddev", "got -3");
    check_config_error([&] { (void)random_walk(10, 3, -2, 20, 100, gen); }, "min", "got -2");
}

TEST_CASE("workload from_rate_file: one rate per second, comments and blank lines skipped") {
    const auto path = fresh_path("workload", "workload_rates.txt");
    write_file(path,
               "# requests per second, one line per second\n"
               "1.5\n"
               "\n"
               "  2   # trailing comment\n"
               "0\r\n"
               "\t3e1\n");
    const workload w = from_rate_file(path);
    CHECK(w.rates() == std::vector<double>{1.5, 2, 0, 30});
    CHECK(w.bin_seconds() == 1);
    CHECK_FALSE(w.repeats());
}

TEST_CASE("workload from_rate_file: a bad line is rejected with the file and its line number") {
    struct bad_case {
        std::string name;
        std::string text;
        std::size_t line;
        std::string says;
    };
    const std::vector<bad_case> cases{
        {"not_a_number", "1\n2\n# fine\nabc\n", 4, "abc"},
        {"two_values", "1\n2 3\n", 2, "2 3"},
        {"negative", "1\n-2\n", 2, "-2"},
        {"infinite", "inf\n", 1, "inf"},
        {"trailing_junk", "1\n5x\n", 2, "5x"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const auto path = fresh_path("workload", "workload_bad_" + c.name + ".txt");
        write_file(path, c.text);
        try {
            (void)from_rate_file(path);
            FAIL("accepted a bad rate file");
        } catch (const data_file_error& e) {
            const std::string what = e.what();
            CAPTURE(what);
            CHECK(e.line() == c.line);
            CHECK(e.file() == path);
            CHECK(what.find(path.string() + ":" + std::to_string(c.line) + ":") == 0);
            CHECK(what.find(c.says) != std::string::npos);
        }
    }
    const auto empty = fresh_path("workload", "workload_empty.txt");
    write_file(empty, "# nothing but a comment\n\n");
    CHECK_THROWS_AS((void)from_rate_file(empty), data_file_error);
    CHECK_THROWS_AS((void)from_rate_file(fresh_path("workload", "workload_does_not_exist.txt")), rlscale::error);
}

TEST_CASE("workload next_arrival: a long run at a constant rate has count / time near the rate") {
    const double rate = 50;
    const double horizon = 20000;
    const workload w = constant(rate, horizon);
    rng gen(42);
    double count = 0;
    double previous = 0;
    bool increasing = true;
    for (double t = w.next_arrival(0.0, gen); t < horizon; t = w.next_arrival(t, gen)) {
        increasing = increasing && t > previous;
        previous = t;
        count += 1;
    }
    CHECK(increasing);
    const double expected = rate * horizon;
    CHECK(std::abs(count - expected) < 3 * std::sqrt(expected));
}

TEST_CASE("workload next_arrival: windowed counts follow the integral of a step and a sinusoid") {
    SUBCASE("step from 5 to 40 req/s mid-bin") {
        const workload w = step(5, 40, 250.5, 500);
        check_poisson_windows(w, window_counts(w, 500, 10, 7), 10);
    }
    SUBCASE("sinusoid 20 plus or minus 15 req/s, period 100 s") {
        const workload w = sinusoidal(20, 15, 100, 2000);
        check_poisson_windows(w, window_counts(w, 2000, 5, 8), 5);
    }
    SUBCASE("bins shorter than the mean gap") {
        const workload w = sinusoidal(3, 2, 7, 300, 0, 0.01);
        check_poisson_windows(w, window_counts(w, 300, 3, 9), 3);
    }
}

TEST_CASE("workload next_arrival: zero-rate stretches get no arrivals") {
    const workload w = on_off(10, 5, 5, 1000);
    rng gen(3);
    int count = 0;
    for (double t = w.next_arrival(0.0, gen); t < 1000; t = w.next_arrival(t, gen)) {
        CHECK(std::fmod(t, 10.0) < 5.0);
        ++count;
    }
    CHECK(count > 4000);
    // Starting inside a zero stretch jumps to the next non-zero bin.
    const workload gap({0, 0, 0, 50}, 1.0);  // no arrival in [3, 4) has probability e^-50
    for (int i = 0; i < 100; ++i) {
        const double t = gap.next_arrival(0.5, gen);
        CHECK(t >= 3.0);
        CHECK(t < 4.0);
    }
    // Before t = 0 the rate is 0 too.
    CHECK(gap.next_arrival(-5.0, gen) >= 3.0);
}

TEST_CASE("workload next_arrival: +infinity once a non-repeating workload has nothing left") {
    rng gen(11);
    const workload w = constant(10, 5);
    double last = 0;
    int count = 0;
    for (double t = w.next_arrival(0.0, gen); t != infinity; t = w.next_arrival(t, gen)) {
        REQUIRE(count < 1000);
        last = t;
        ++count;
    }
    CHECK(count > 20);
    CHECK(last < 5.0);
    CHECK(w.next_arrival(5.0, gen) == infinity);
    CHECK(w.next_arrival(1e9, gen) == infinity);
    CHECK(w.next_arrival(infinity, gen) == infinity);
    // Only zeros left: no arrival, without walking the bins.
    const workload tail({1, 0, 0, 0}, 1.0);
    CHECK(tail.next_arrival(1.0, gen) == infinity);
    // All zero, even repeating: never.
    CHECK(workload({0, 0}, 1.0, true).next_arrival(0.0, gen) == infinity);
}

TEST_CASE("workload next_arrival: a repeating workload starts over after its duration") {
    const workload w({0, 10}, 1.0, true);
    rng gen(13);
    double count = 0;
    for (double t = w.next_arrival(0.0, gen); t < 1000; t = w.next_arrival(t, gen)) {
        CHECK(std::fmod(t, 2.0) >= 1.0);
        count += 1;
    }
    CHECK(std::abs(count - 5000) < 3 * std::sqrt(5000.0));
    // Far into the run, and exactly on a pass boundary.
    for (int i = 0; i < 100; ++i) {
        const double t = w.next_arrival(1e6 + 0.5, gen);
        CHECK(t >= 1e6 + 1);
        CHECK(t < 1e6 + 2);
        const double u = w.next_arrival(2.0, gen);
        CHECK(u >= 3.0);
        CHECK(u < 4.0);
    }
    // The last bin wraps onto the first.
    const workload wrap({5, 0, 0}, 1.0, true);
    for (int i = 0; i < 100; ++i) {
        const double t = wrap.next_arrival(0.999, gen);
        CHECK(t > 0.999);
        CHECK(std::fmod(t, 3.0) < 1.0);
    }
}

TEST_CASE("workload next_arrival: the same seed gives the same arrivals, another seed others") {
    const workload w = sinusoidal_medium(600);
    rng a(77);
    rng b(77);
    rng c(78);
    double ta = 0;
    double tb = 0;
    double tc = 0;
    bool differs = false;
    for (int i = 0; i < 5000; ++i) {
        ta = w.next_arrival(ta, a);
        tb = w.next_arrival(tb, b);
        tc = w.next_arrival(tc, c);
        REQUIRE(ta == tb);
        differs = differs || ta != tc;
    }
    CHECK(differs);
    // The arrivals are a pure function of the generator: a copy continues identically.
    rng copy = a;
    CHECK(w.next_arrival(ta, a) == w.next_arrival(ta, copy));
}

namespace {

/// An rng that throws after `limit` calls: a draw that would loop for ever
/// fails instead of hanging the suite.
struct bounded_rng {
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<std::uint64_t>::max(); }
    rng inner;
    std::uint64_t limit;
    std::uint64_t calls = 0;
    result_type operator()() {
        if (++calls > limit) throw std::runtime_error("next_arrival drew more than the limit");
        return inner();
    }
};

}  // namespace

TEST_CASE("workload next_arrival: a repeating workload of near-zero rates returns promptly, by inversion") {
    // One pass holds 6e-299 expected arrivals: bin by bin that is ~1e298
    // passes; by inverting the integrated rate, a bounded number of draws.
    const workload tiny(std::vector<double>(60, 1e-300), 1.0, true);
    bounded_rng gen{rng(5), 1'000'000};
    for (int i = 0; i < 3; ++i) {
        const double t = tiny.next_arrival(0.0, gen);
        CHECK(t > 1e290);
        CHECK(std::isfinite(t));
    }
    // Reached through scaled() of an ordinary repeating load.
    const workload scaled = workload({0, 2, 0, 5}, 1.0, true).scaled(1e-300);
    CHECK(scaled.next_arrival(0.5, gen) > 1e290);
    // A pass mass that underflows (rates near the smallest double): no time a
    // double holds, so +infinity, and far from the origin likewise.
    const workload denormal(std::vector<double>(60, 5e-324), 0.5, true);
    CHECK(denormal.next_arrival(0.0, gen) == infinity);
    // Passes times the duration past the largest double: +infinity.
    const workload subnormal(std::vector<double>(60, 1e-310), 1.0, true);
    CHECK(subnormal.next_arrival(0.0, gen) == infinity);
    // Far from the origin the arrival still comes strictly after t.
    CHECK(tiny.next_arrival(1e308, gen) > 1e308);
    CHECK(gen.calls < gen.limit);
}

TEST_CASE("workload next_arrival: the inversion past a pass without arrivals has the right distribution") {
    // Mass 4e-9 per 3-s pass, 1/4 of it in bin 0 and 3/4 in bin 2: the gap
    // is exponential with mean 3 / 4e-9 s, the bin split 1:3, the position
    // within a bin uniform.
    const workload w({1e-9, 0, 3e-9}, 1.0, true);
    rng gen(21);
    constexpr int draws = 400;
    double sum = 0;
    int in_last = 0;
    double offset_sum = 0;
    for (int i = 0; i < draws; ++i) {
        const double t = w.next_arrival(0.0, gen);
        REQUIRE(std::isfinite(t));
        const double in_pass = std::fmod(t, 3.0);
        CHECK((in_pass < 1.0 || in_pass >= 2.0));
        in_last += in_pass >= 2.0 ? 1 : 0;
        offset_sum += in_pass - std::floor(in_pass);
        sum += t;
    }
    const double mean = 3 / 4e-9;
    CHECK(std::abs(sum / draws - mean) < 4 * mean / std::sqrt(double(draws)));
    CHECK(std::abs(in_last / double(draws) - 0.75) < 4 * std::sqrt(0.75 * 0.25 / draws));
    CHECK(std::abs(offset_sum / draws - 0.5) < 4 * std::sqrt(1.0 / 12 / draws));
}

/// workload::next_arrival as it was before its inversion fallback: one
/// exponential gap per bin, bin by bin and pass by pass (the same
/// expressions, so the same bits under the same compiler flags).
double bin_by_bin_arrival(const std::vector<double>& rates, double bin, bool repeat, double t, rng& gen) {
    constexpr double infinity = std::numeric_limits<double>::infinity();
    const std::size_t n = rates.size();
    const double duration = static_cast<double>(n) * bin;
    std::vector<std::size_t> next_positive(n + 1, n);
    for (std::size_t k = n; k-- > 0;) next_positive[k] = rates[k] > 0 ? k : next_positive[k + 1];
    const std::size_t first_positive = next_positive[0];
    if (std::isnan(t)) return t;
    const double start = t;
    if (t < 0) t = 0;
    if (first_positive == n) return infinity;
    double base = 0;
    if (t >= duration) {
        if (!repeat || !std::isfinite(t)) return infinity;
        base = std::floor(t / duration) * duration;
        t -= base;
        if (t >= duration) {
            base += duration;
            t -= duration;
        }
        t = std::max(t, 0.0);
    }
    const auto bin_at = [&](double x) {
        const std::size_t last = n - 1;
        auto k = static_cast<std::size_t>(x / bin);
        if (k >= last) return last;
        if (x >= static_cast<double>(k + 1) * bin) ++k;
        return k;
    };
    std::size_t k = bin_at(t);
    for (;;) {
        const std::size_t next = next_positive[k];
        if (next == n) {
            if (!repeat) return infinity;
            base += duration;
            k = first_positive;
            t = static_cast<double>(k) * bin;
        } else if (next != k) {
            k = next;
            t = static_cast<double>(k) * bin;
        }
        const double end = k + 1 == n ? duration : static_cast<double>(k + 1) * bin;
        const double gap = rlscale::exponential01(gen) / rates[k];
        if (t + gap < end) {
            const double arrival = base + (t + gap);
            return arrival > start ? arrival : std::nextafter(start, infinity);
        }
        t = end;
        if (++k == n) {
            if (!repeat) return infinity;
            base += duration;
            k = 0;
            t = 0;
        }
    }
}

TEST_CASE("workload next_arrival: ordinary workloads draw the same arrivals as before the inversion was added") {
    // Draw by draw against the bin-by-bin algorithm (the random stream the
    // demos' figures depend on), from the same seeds. The third workload
    // holds 1e-3 arrivals per pass, so each draw crosses ~1000 passes,
    // still bin by bin; the fourth starts mid-trace and does not repeat.
    std::vector<double> sparse(30, 0.0);
    sparse[3] = 0.02;
    sparse[17] = 0.5;
    const std::vector<workload> cases = {
        workload(sinusoidal(3, 2.5, 300, 1200, 0.3).rates(), 1.0, true),
        workload(sparse, 10, true),
        workload({0.0, 0.0, 1e-3, 0.0}, 1.0, true),
        workload(sinusoidal(40, 30, 60, 600, 1).rates(), 0.5, false),
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        CAPTURE(i);
        rng gen(42 + i);
        rng ref_gen(42 + i);
        double t = i == 3 ? 123.456 : 0;
        double ref = t;
        int same = 0;
        int draws = 0;
        for (; draws < 20000 && std::isfinite(t); ++draws) {
            t = cases[i].next_arrival(t, gen);
            ref = bin_by_bin_arrival(cases[i].rates(), cases[i].bin_seconds(), i != 3, ref, ref_gen);
            same += std::memcmp(&t, &ref, sizeof t) == 0 ? 1 : 0;
        }
        CHECK(same == draws);
        CHECK(draws > 100);
    }
}

TEST_CASE("workload from_rate_file: a UTF-8 byte-order mark at the start is dropped") {
    const auto path = fresh_path("workload", "workload_bom.txt");
    write_file(path, "\xEF\xBB\xBF" "5\n6\n");
    CHECK(from_rate_file(path).rates() == std::vector<double>{5, 6});
    // Only at the start of the file: elsewhere it is text that is not a rate.
    const auto later = fresh_path("workload", "workload_bom_later.txt");
    write_file(later, "5\n\xEF\xBB\xBF" "6\n");
    CHECK_THROWS_AS((void)from_rate_file(later), data_file_error);
}

}  // namespace test_sim_workload
