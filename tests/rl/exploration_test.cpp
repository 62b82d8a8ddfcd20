#include <rlscale/rl/exploration.hpp>

#include <doctest/doctest.h>

#include <cmath>

namespace test_rl_exploration {

using namespace rlscale::rl;

TEST_CASE("exponential epsilon follows end + (start - end) exp(-t / decay)") {
    const exponential_epsilon e = exponential_epsilon::scarlet();
    CHECK(e(0) == doctest::Approx(0.9));
    // t = 150: 0.05 + 0.85 / e = 0.362697...
    CHECK(e(150) == doctest::Approx(0.05 + 0.85 * std::exp(-1.0)).epsilon(1e-12));
    CHECK(e(150) == doctest::Approx(0.3627).epsilon(1e-4));
    CHECK(e(1500) == doctest::Approx(0.05).epsilon(1e-4));
    CHECK(e(100) > e(101));
}

TEST_CASE("linear and constant epsilon") {
    const linear_epsilon l{.start = 1.0, .end = 0.1, .steps = 100};
    CHECK(l(0) == doctest::Approx(1.0));
    CHECK(l(50) == doctest::Approx(0.55));
    CHECK(l(100) == doctest::Approx(0.1));
    CHECK(l(10'000) == doctest::Approx(0.1));
    CHECK(constant_epsilon{0.2}(12345) == doctest::Approx(0.2));
}

TEST_CASE("epsilon schedules reject out-of-range settings naming the field") {
    CHECK_THROWS_WITH_AS((exponential_epsilon{.start = 1.5}.validate()), doctest::Contains("exponential_epsilon.start"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS((exponential_epsilon{.decay = 0}.validate()), doctest::Contains("exponential_epsilon.decay"),
                         rlscale::config_error);
    CHECK_THROWS_WITH_AS((linear_epsilon{.steps = 0}.validate()), doctest::Contains("linear_epsilon.steps"), rlscale::config_error);
    CHECK_THROWS_WITH_AS((constant_epsilon{-0.1}.validate()), doctest::Contains("constant_epsilon.value"), rlscale::config_error);
}

}  // namespace test_rl_exploration
