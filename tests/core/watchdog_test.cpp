#include <rlscale/core/watchdog.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("watchdog: fires once after its timeout, not when disarmed first") {
    std::atomic<int> calls{0};
    {
        rlscale::watchdog w(30ms, [&] { ++calls; });
        while (calls == 0) std::this_thread::sleep_for(1ms);  // fires, however late its thread runs
        std::this_thread::sleep_for(50ms);
        CHECK(calls == 1);
        CHECK(w.disarm());
        CHECK(w.disarm());  // idempotent
    }
    CHECK(calls == 1);

    const auto start = std::chrono::steady_clock::now();
    {
        rlscale::watchdog w(10s, [&] { ++calls; });
        CHECK_FALSE(w.disarm());
    }
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // disarm does not wait out the timeout
    { rlscale::watchdog w(10s, [&] { ++calls; }); }         // nor does the destructor
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(calls == 1);

    // A timeout of centuries is shortened, not overflowed into an expiry now.
    rlscale::watchdog far(std::chrono::milliseconds(10'000'000'000'000), [&] { ++calls; });
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(far.disarm());
    CHECK(calls == 1);
}

TEST_CASE("watchdog: disarm waits for a running expiry to return") {
    std::atomic<bool> started{false};
    std::atomic<bool> done{false};
    rlscale::watchdog w(1ms, [&] {
        started = true;
        std::this_thread::sleep_for(100ms);
        done = true;
    });
    while (!started) std::this_thread::sleep_for(1ms);  // however late its thread runs
    CHECK(w.disarm());
    CHECK(done);
}
