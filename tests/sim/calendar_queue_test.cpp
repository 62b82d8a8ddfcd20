// detail::calendar_queue, the cluster's event queue, against an ordered set
// of (key, id) pairs under random operations: ties, keys before the window,
// far keys that wait in overflow, infinities, and enough operations that the
// width adapts both ways.
#include <rlscale/core/random.hpp>
#include <rlscale/core/ziggurat.hpp>
#include <rlscale/sim/detail/calendar_queue.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>
#include <vector>

namespace test_sim_calendar_queue {

using rlscale::sim::detail::calendar_queue;

/// The reference: what the queue must hold, in the order it must give.
struct reference {
    std::set<std::pair<double, std::uint32_t>> order;
    std::vector<double> key;
    std::vector<bool> present;

    explicit reference(std::uint32_t capacity) : key(capacity), present(capacity, false) {}

    void set(std::uint32_t id, double k) {
        erase(id);
        order.insert({k, id});
        key[id] = k;
        present[id] = true;
    }
    void erase(std::uint32_t id) {
        if (present[id]) {
            order.erase({key[id], id});
            present[id] = false;
        }
    }
};

void check_same(calendar_queue& q, const reference& ref) {
    REQUIRE(q.size() == ref.order.size());
    REQUIRE(q.empty() == ref.order.empty());
    if (!ref.order.empty()) {
        REQUIRE(q.top() == ref.order.begin()->second);
        REQUIRE(q.top_key() == ref.order.begin()->first);
    }
}

/// A simulation's pattern: pop the top and put it back later than the
/// clock, with other ids changing key or leaving meanwhile. `spread` is how
/// far ahead keys go; `tie_grid` rounds keys to a grid so that many tie.
void run(std::uint32_t capacity, double spread, double tie_grid, std::uint64_t seed, int operations) {
    calendar_queue q(capacity);
    reference ref(capacity);
    rlscale::rng gen(seed);
    double clock = 0;
    const auto draw = [&](double scale) {
        double k = clock + scale * rlscale::exponential01(gen);
        if (tie_grid > 0) {
            k = std::ceil(k / tie_grid) * tie_grid;
        }
        return k;
    };
    for (std::uint32_t id = 0; id < capacity; id += 2) {
        const double k = draw(spread);
        q.set(id, k);
        ref.set(id, k);
    }
    check_same(q, ref);
    for (int op = 0; op < operations; ++op) {
        const std::uint64_t u = gen() % 100;
        const auto id = static_cast<std::uint32_t>(gen() % capacity);
        if (u < 50 && !ref.order.empty()) {
            // The hold step: the top moves on from the clock.
            const std::uint32_t top = q.top();
            clock = q.top_key();
            const double k = draw(spread);
            q.set(top, k);
            ref.set(top, k);
        } else if (u < 65) {
            // A key behind the top (the clock lags the top's bucket).
            const double k = clock + 0.01 * spread * rlscale::uniform01(gen);
            q.set(id, k);
            ref.set(id, k);
        } else if (u < 80) {
            q.erase(id);
            ref.erase(id);
        } else if (u < 95) {
            const double k = draw(spread);
            q.set(id, k);
            ref.set(id, k);
        } else if (u < 98) {
            const double k = draw(1000 * spread);  // far ahead: overflow
            q.set(id, k);
            ref.set(id, k);
        } else {
            const double k = u == 98 ? std::numeric_limits<double>::infinity() : clock + 1e9;
            q.set(id, k);
            ref.set(id, k);
        }
        check_same(q, ref);
        REQUIRE(q.contains(id) == ref.present[id]);
        if (ref.present[id]) {
            REQUIRE(q.key(id) == ref.key[id]);
        }
    }
    // Drain: every id comes out in (key, id) order.
    while (!ref.order.empty()) {
        check_same(q, ref);
        const std::uint32_t top = q.top();
        q.erase(top);
        ref.erase(top);
    }
    CHECK(q.empty());
}

TEST_CASE("calendar_queue gives the least (key, id) like an ordered set, whatever the key spread") {
    for (const double spread : {1e-6, 1e-3, 1.0, 1e3}) {
        CAPTURE(spread);
        run(257, spread, 0, 1, 30000);
    }
}

TEST_CASE("calendar_queue breaks ties by id, so its order does not depend on the order of operations") {
    run(64, 1.0, 0.25, 2, 20000);
    run(1000, 1e-3, 1e-3, 3, 20000);

    calendar_queue a(8);
    calendar_queue b(8);
    for (std::uint32_t id = 0; id < 8; ++id) {
        a.set(id, 5.0);
        b.set(7 - id, 5.0);
    }
    for (std::uint32_t expected = 0; expected < 8; ++expected) {
        CHECK(a.top() == expected);
        CHECK(b.top() == expected);
        a.erase(expected);
        b.erase(expected);
    }
}

TEST_CASE("calendar_queue adapts its width to the keys' density and still gives the same order") {
    calendar_queue q(4096, 1.0);  // far too wide for keys 1e-4 apart
    reference ref(4096);
    rlscale::rng gen(4);
    double clock = 0;
    for (std::uint32_t id = 0; id < 4096; ++id) {
        const double k = 1e-4 * id * rlscale::uniform01(gen);
        q.set(id, k);
        ref.set(id, k);
    }
    for (int op = 0; op < 50000; ++op) {
        const std::uint32_t top = q.top();
        REQUIRE(top == ref.order.begin()->second);
        clock = q.top_key();
        const double k = clock + 0.4 * rlscale::exponential01(gen);
        q.set(top, k);
        ref.set(top, k);
    }
    CHECK(q.width() < 1.0 / 64);
    // Then keys far apart: the width grows back.
    calendar_queue wide(64, 1e-9);
    for (std::uint32_t id = 0; id < 64; ++id) {
        wide.set(id, static_cast<double>(id));
    }
    for (int op = 0; op < 50000; ++op) {
        const std::uint32_t top = wide.top();
        wide.set(top, wide.top_key() + 64);
    }
    CHECK(wide.width() > 1e-6);
}

TEST_CASE("calendar_queue: clear, negative and extreme keys") {
    calendar_queue q(16);
    q.set(3, -1e300);
    q.set(4, -std::numeric_limits<double>::infinity());
    q.set(5, 1e300);
    q.set(6, 0.0);
    CHECK(q.top() == 4);
    q.erase(4);
    CHECK(q.top() == 3);
    q.erase(3);
    CHECK(q.top() == 6);
    q.erase(6);
    CHECK(q.top() == 5);
    q.clear();
    CHECK(q.empty());
    CHECK_FALSE(q.contains(5));
    q.set(5, 2.0);
    CHECK(q.top() == 5);
    CHECK(q.size() == 1);
}

}  // namespace test_sim_calendar_queue
