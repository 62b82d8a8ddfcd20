// What a lifecycle keeps when a transition cannot be made for want of
// memory: nothing of it. start() and end_episode() build the transition (its
// reason, the log's room for it) before they change anything, so a
// std::bad_alloc leaves the stage, the window, the counters and the log as
// they were, the state still reads back, and calling again makes the
// transition. Here, not in lifecycle_test.cpp: the failures are made by this
// executable's allocator (alloc_counter.cpp).
#include "../alloc_counter.hpp"

#include <rlscale/lifecycle/lifecycle.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <set>
#include <vector>

namespace test_lifecycle_lifecycle_alloc {

using rlscale::lifecycle;
using rlscale::lifecycle_config;
using rlscale::stage;
using json = nlohmann::json;

namespace {

/// Turns the allocation limit off however the test leaves its scope.
struct allocation_limit_off {
    ~allocation_limit_off() { rlscale::test::fail_allocations_over(0); }
};

/// What fail_until_done saw.
struct failure_report {
    int failures = 0;                 ///< calls that threw std::bad_alloc
    std::set<long> allocations_made;  ///< for each, the allocations it made before failing (how far it got)
};

/// Calls `call(l)` with every allocation over 1 byte failing, then over 2,
/// 3, ... bytes, until a call succeeds; so the first allocation larger than
/// each limit is the one that fails, from the smallest the call makes to its
/// largest. After each failure `l` must be exactly as before (the same JSON,
/// which reads back).
template <typename Call>
failure_report fail_until_done(lifecycle& l, const Call& call) {
    const json before = l;
    failure_report report;
    for (std::size_t limit = 1;; ++limit) {
        REQUIRE(limit < 65536);  // a call that never succeeds
        bool failed = false;
        long made = 0;
        {
            const allocation_limit_off off;
            const long start = rlscale::test::allocation_count();
            rlscale::test::fail_allocations_over(limit);
            try {
                call(l);
            } catch (const std::bad_alloc&) {
                failed = true;
                made = rlscale::test::allocation_count() - start;
            }
        }
        if (!failed) return report;
        ++report.failures;
        report.allocations_made.insert(made);
        CAPTURE(limit);
        const json after = l;
        CHECK(after == before);
        lifecycle restored;
        CHECK_NOTHROW(from_json(after, restored));
    }
}

}  // namespace

TEST_CASE("start() that runs out of memory leaves the lifecycle INITIALIZED, and a retry starts it") {
    for (const bool bootstrapping : {true, false}) {
        CAPTURE(bootstrapping);
        lifecycle_config c;
        c.bootstrapping = bootstrapping;
        lifecycle l(c);
        std::optional<lifecycle::transition> t;
        const failure_report report = fail_until_done(l, [&](lifecycle& x) { t = x.start(); });
        CHECK(report.failures > 0);  // it allocates (the transition's reason, or the log's room for it)
        REQUIRE(t);
        CHECK(t->from == stage::initialized);
        CHECK(t->to == (bootstrapping ? stage::offline : stage::online));
        CHECK(l.current_stage() == t->to);
        CHECK(l.transition_count() == 1);
        REQUIRE(l.log().size() == 1);
        CHECK(l.log().back() == *t);
    }
}

TEST_CASE("an episode whose transition runs out of memory is not recorded, and a retry makes the transition") {
    lifecycle_config c;
    c.window = 1;
    c.t_online = 100;
    c.t_serving = 200;
    c.t_var = 10;
    c.bootstrapping = true;
    lifecycle l(c);
    l.start();
    REQUIRE(l.current_stage() == stage::offline);

    std::optional<lifecycle::transition> t;
    const failure_report report = fail_until_done(l, [&](lifecycle& x) { t = x.end_episode(150); });
    CHECK(report.failures > 0);
    REQUIRE(t);
    CHECK(t->from == stage::offline);
    CHECK(t->to == stage::online);
    CHECK(t->episode == 0);
    CHECK(t->samples == 1);
    CHECK(t->mean == 150);
    CHECK(t->reason == "mean 150 >= T_online 100 over the last 1 episodes");
    CHECK(l.current_stage() == stage::online);
    CHECK(l.episodes() == 1);
    CHECK(l.window().empty());
    CHECK(l.transition_count() == 2);
    REQUIRE(l.log().size() == 2);
    CHECK(l.log().back() == *t);
    lifecycle restored;
    CHECK_NOTHROW(from_json(json(l), restored));
}

TEST_CASE("every transition of a long run survives running out of memory, and the run ends as one without failures") {
    // A small log drops its oldest as it goes; a large one grows and
    // reallocates: the log's room is made at different transitions.
    for (const std::size_t log_capacity : {std::size_t{3}, std::size_t{1024}}) {
        CAPTURE(log_capacity);
        lifecycle_config c;
        c.window = 2;
        c.t_online = 50;
        c.t_serving = 80;
        c.t_var = 5;
        c.bootstrapping = false;
        c.log_capacity = log_capacity;
        lifecycle l(c);
        lifecycle twin(c);  // the same run, never short of memory
        l.start();
        twin.start();

        std::set<long> failure_points;
        for (int i = 0; i < 40; ++i) {
            CAPTURE(i);
            // ONLINE -> SERVING on two rewards of 90.3, SERVING -> ONLINE on two of 10.7.
            const double reward = l.current_stage() == stage::online ? 90.3 : 10.7;
            // The first reward of each stage makes no decision, and no
            // allocation, so it cannot fail for want of memory.
            const long before = rlscale::test::allocation_count();
            CHECK_FALSE(l.end_episode(reward));
            CHECK(rlscale::test::allocation_count() == before);
            CHECK_FALSE(twin.end_episode(reward));

            std::optional<lifecycle::transition> t;
            const failure_report report = fail_until_done(l, [&](lifecycle& x) { t = x.end_episode(reward); });
            CHECK(report.failures > 0);
            failure_points.insert(report.allocations_made.begin(), report.allocations_made.end());
            const auto expected = twin.end_episode(reward);
            REQUIRE(expected);
            CHECK(t == expected);
            CHECK(json(l) == json(twin));
        }
        CHECK(l.transition_count() == 41);
        // The failures happened at several points of building a transition,
        // not only at its first allocation.
        CHECK(failure_points.size() >= 3);
    }
}

}  // namespace test_lifecycle_lifecycle_alloc
