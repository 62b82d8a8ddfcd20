#include <rlscale/core/downscale_stabilizer.hpp>

#include <doctest/doctest.h>

#include <limits>

#include <vector>

namespace test_core_downscale_stabilizer {

using namespace rlscale;

TEST_CASE("downscale stabilizer: scale-ups pass, scale-downs wait for the window's highest target") {
    downscale_stabilizer st(1, 3);
    int current = 2;
    const auto step = [&](int target) { return current = st.apply(0, current, target); };
    CHECK(step(10) == 10);  // up at once
    CHECK(step(4) == 10);   // 10 is in the window
    CHECK(step(3) == 10);
    CHECK(step(5) == 5);    // 10 left the window; the highest of {4, 3, 5} is 5
    CHECK(step(12) == 12);
    CHECK(step(1) == 12);
    CHECK(step(1) == 12);
    CHECK(step(1) == 1);
}

TEST_CASE("downscale stabilizer: never above the current count, per function, reset and window 0") {
    downscale_stabilizer st(2, 4);
    CHECK(st.apply(0, 5, 9) == 9);
    // The current count fell below the window's highest by other means: a
    // scale-down target never raises it.
    CHECK(st.apply(0, 3, 2) == 3);
    // Function 1 has its own window.
    CHECK(st.apply(1, 6, 2) == 2);
    st.reset();
    CHECK(st.apply(0, 9, 1) == 1);
    downscale_stabilizer off(1, 0);
    CHECK(off.apply(0, 9, 1) == 1);
    CHECK(off.apply(0, 1, 9) == 9);
    CHECK_THROWS_WITH_AS(downscale_stabilizer(1, 200'000), doctest::Contains("downscale_stabilizer.window"), config_error);
    // Refused before the rings are allocated (not std::length_error).
    CHECK_THROWS_WITH_AS(downscale_stabilizer(1, std::numeric_limits<std::size_t>::max()), doctest::Contains("downscale_stabilizer.window"),
                         config_error);
    CHECK_THROWS_WITH_AS(downscale_stabilizer(std::numeric_limits<std::size_t>::max(), 20), doctest::Contains("downscale_stabilizer.functions"),
                         config_error);
    CHECK_THROWS_WITH_AS(downscale_stabilizer(1'000'000, 100'000), doctest::Contains("functions × window"), config_error);
}

}  // namespace test_core_downscale_stabilizer
