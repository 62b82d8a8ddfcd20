#include <rlscale/sim/function_profile.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace test_sim_function_profile {

using rlscale::config_error;
using rlscale::sim::function_profile;
using rlscale::sim::matrix_multiplication;
using rlscale::sim::profile;
using rlscale::sim::profile_names;

TEST_CASE("function_profile: every named profile validates and carries its name") {
    const auto names = profile_names();
    CHECK(names.size() == 10);
    for (const auto& name : names) {
        CAPTURE(name);
        const function_profile f = profile(name);
        CHECK(f.name == name);
        CHECK_NOTHROW(f.validate());
        CHECK(f.service.mean() > 0);
        CHECK(f.cold_start.mean() > 0);
        // A request fits its SLO when served alone at full speed: the papers'
        // SLOs are reachable (mean service time well under the SLO).
        CHECK(f.service.mean() < f.slo_s);
    }
    CHECK(std::find(names.begin(), names.end(), "fibonacci-python") != names.end());
    CHECK(std::find(names.begin(), names.end(), "io-bound") != names.end());
    CHECK(std::find(names.begin(), names.end(), "matmul-350") != names.end());
}

TEST_CASE("function_profile: the papers' numbers are the ones documented") {
    // SCARLET's p90 SLAs from its DQN configuration: 1 s, 2.5 s, 10 s.
    CHECK(profile("fibonacci-python").slo_s == 1.0);
    CHECK(profile("hotel-app-geo").slo_s == 2.5);
    CHECK(profile("hotel-app-profile").slo_s == 10.0);
    CHECK(profile("fibonacci-python").concurrency == 1);  // vSwarm's gRPC server has one worker
    // SIMPPO: SLO = 1.15 × the isolated p99, and the service p99 is that p99.
    const auto md = profile("memory-bound");
    CHECK(md.slo_s == doctest::Approx(1.15 * 0.1788));
    CHECK(md.service.quantile(0.99) == doctest::Approx(0.1788).epsilon(1e-12));
    // I/O-bound functions use well below a core while in service.
    CHECK(profile("io-bound").cpu_demand < 0.5 * profile("cpu-bound").cpu_demand);
    CHECK(profile("memory-bound").memory_mb > profile("cpu-bound").memory_mb);
    // Polimi: 1 s threshold on the mean response time.
    CHECK(profile("matmul-100").slo_s == 1.0);
}

TEST_CASE("function_profile: matmul service time grows as n cubed and n outside 50..350 is rejected") {
    const double t50 = matrix_multiplication(50).service.mean();
    const double t350 = matrix_multiplication(350).service.mean();
    CHECK(t350 == doctest::Approx(0.300).epsilon(1e-12));
    CHECK(t50 == doctest::Approx(0.005 + 0.295 / 343).epsilon(1e-12));
    double previous = 0;
    for (int n = 50; n <= 350; n += 25) {
        CAPTURE(n);
        const double t = matrix_multiplication(n).service.mean();
        CHECK(t > previous);
        previous = t;
    }
    // Beyond the fixed overhead the time is c·n³: doubling n multiplies it by 8.
    const double overhead = 0.005;
    CHECK((matrix_multiplication(200).service.mean() - overhead) ==
          doctest::Approx(8 * (matrix_multiplication(100).service.mean() - overhead)).epsilon(1e-12));
    CHECK(profile("matmul-200") == matrix_multiplication(200));
    CHECK(profile("matmul-200").name == "matmul-200");
    CHECK_THROWS_WITH_AS(matrix_multiplication(49), doctest::Contains("matrix_multiplication.n: must be in [50, 350]"),
                         config_error);
    CHECK_THROWS_WITH_AS(matrix_multiplication(351), doctest::Contains("got 351"), config_error);
    CHECK_THROWS_WITH_AS(profile("matmul-400"), doctest::Contains("matrix_multiplication.n"), config_error);
}

TEST_CASE("function_profile: an unknown name throws listing the known names") {
    CHECK_THROWS_WITH_AS(profile("hello-world"),
                         doctest::Contains("profile: unknown profile \"hello-world\"; known: fibonacci-python, "
                                           "hotel-app-geo, hotel-app-profile, cpu-bound, memory-bound, io-bound, "
                                           "matmul-<n> for 50 <= n <= 350"),
                         config_error);
    CHECK_THROWS_WITH_AS(profile("matmul-"), doctest::Contains("unknown profile \"matmul-\""), config_error);
    CHECK_THROWS_WITH_AS(profile("matmul-1x"), doctest::Contains("unknown profile \"matmul-1x\""), config_error);
    CHECK_THROWS_AS(profile(""), config_error);
}

TEST_CASE("function_profile: validate names the field and the value") {
    function_profile f = profile("cpu-bound");
    f.concurrency = 0;
    CHECK_THROWS_WITH_AS(f.validate(), "function_profile.concurrency: must be >= 1, got 0", config_error);
    f = profile("cpu-bound");
    f.cpu_demand = -0.5;
    CHECK_THROWS_WITH_AS(f.validate(), doctest::Contains("function_profile.cpu_demand: must be finite and > 0, got -0.5"),
                         config_error);
    f = profile("cpu-bound");
    f.memory_mb = std::nan("");
    CHECK_THROWS_WITH_AS(f.validate(), doctest::Contains("function_profile.memory_mb: must be finite and >= 1, got nan"),
                         config_error);
    f = profile("cpu-bound");
    f.cpu_limit = 0;
    CHECK_THROWS_WITH_AS(f.validate(), doctest::Contains("function_profile.cpu_limit"), config_error);
    f = profile("cpu-bound");
    f.slo_s = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH_AS(f.validate(), doctest::Contains("function_profile.slo_s"), config_error);
    f = profile("cpu-bound");
    f.timeout_s = 0;
    CHECK_THROWS_WITH_AS(f.validate(), doctest::Contains("function_profile.timeout_s"), config_error);
    f.timeout_s = std::numeric_limits<double>::infinity();  // never drop
    CHECK_NOTHROW(f.validate());
    f.name.clear();
    CHECK_THROWS_WITH_AS(f.validate(), "function_profile.name: must not be empty, got \"\"", config_error);
}

TEST_CASE("function_profile: limits below the least a cluster sets are refused") {
    // set_cpu_limit clamps to at least 0.01 cores and set_memory_limit to
    // at least 1 MB: a smaller profile limit would hold only until the
    // first resize, and never come back after it.
    function_profile f = profile("cpu-bound");
    f.cpu_limit = 0.001;
    CHECK_THROWS_WITH_AS(f.validate(), "function_profile.cpu_limit: must be finite and >= 0.01, got 0.001", config_error);
    f.cpu_limit = 0.01;
    CHECK_NOTHROW(f.validate());
    f.memory_mb = 0.5;
    CHECK_THROWS_WITH_AS(f.validate(), "function_profile.memory_mb: must be finite and >= 1, got 0.5", config_error);
    f.memory_mb = 1;
    CHECK_NOTHROW(f.validate());

}

TEST_CASE("function_profile: designated initialisation with defaults validates") {
    const function_profile f{.name = "custom", .service = rlscale::sim::service_time::exponential(0.05)};
    CHECK_NOTHROW(f.validate());
    CHECK(f.concurrency == 1);
    CHECK(f.cold_start.mean() == 1.0);
}

}  // namespace test_sim_function_profile
