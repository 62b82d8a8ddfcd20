#include <rlscale/core/random.hpp>
#include <rlscale/lifecycle/lifecycle.hpp>
#include <rlscale/lifecycle/stage.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace test_lifecycle_lifecycle {

using rlscale::actor_role;
using rlscale::lifecycle;
using rlscale::lifecycle_config;
using rlscale::stage;
using json = nlohmann::json;

namespace {

lifecycle_config small_config() {
    lifecycle_config c;
    c.window = 3;
    c.t_online = 50;
    c.t_serving = 80;
    c.t_var = 5;
    c.bootstrapping = true;
    return c;
}

/// Feeds `rewards` and returns the transitions they caused.
std::vector<lifecycle::transition> feed(lifecycle& l, const std::vector<double>& rewards) {
    std::vector<lifecycle::transition> out;
    for (const double r : rewards) {
        if (auto t = l.end_episode(r)) out.push_back(*t);
    }
    return out;
}

/// The queries the control loop asks, in one comparable record.
struct roles {
    actor_role acts;
    bool explores;
    bool learns;
    bool off_policy;
    bool behaviour_cloning;
    friend bool operator==(const roles&, const roles&) = default;
};

roles roles_of(const lifecycle& l) {
    return {l.who_acts(), l.explores(), l.learns(), l.off_policy(), l.behaviour_cloning()};
}

/// What the stage table says the queries must answer.
roles expected_roles(stage s, bool retraining, bool high_stakes) {
    switch (s) {
        case stage::initialized: return {actor_role::fallback, false, false, false, false};
        case stage::offline: return {actor_role::fallback, false, true, true, true};
        case stage::online:
            if (retraining && high_stakes) return {actor_role::fallback, false, true, true, false};
            return {actor_role::agent, true, true, false, false};
        case stage::serving: return {actor_role::agent, false, false, false, false};
    }
    return {actor_role::fallback, false, false, false, false};
}

void check_config_field(const lifecycle_config& c, const std::string& field) {
    CAPTURE(field);
    try {
        c.validate();
        FAIL("validate() accepted the configuration");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == field);
        CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
    CHECK_THROWS_AS(lifecycle{c}, rlscale::config_error);
}

}  // namespace

TEST_CASE("stage names are the paper's status codes and read back") {
    for (const stage s : {stage::initialized, stage::offline, stage::online, stage::serving}) {
        CHECK(rlscale::stage_from_string(rlscale::to_string(s)) == s);
    }
    CHECK(rlscale::to_string(stage::initialized) == "INITIALIZED");
    CHECK(rlscale::to_string(stage::offline) == "OFFLINE");
    CHECK(rlscale::to_string(stage::online) == "ONLINE");
    CHECK(rlscale::to_string(stage::serving) == "SERVING");
    try {
        (void)rlscale::stage_from_string("online", "profile.stage");
        FAIL("a lower-case stage name was accepted");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "profile.stage");
        CHECK(std::string(e.what()).find("\"online\"") != std::string::npos);
    }
    CHECK_FALSE(rlscale::parse_stage("online").has_value());
    CHECK_FALSE(rlscale::parse_stage("").has_value());
    CHECK_FALSE(rlscale::parse_stage("SERVING ").has_value());
    CHECK(rlscale::actor_role_from_string("agent") == actor_role::agent);
    CHECK(rlscale::actor_role_from_string("fallback") == actor_role::fallback);
    CHECK_THROWS_AS((void)rlscale::actor_role_from_string("hpa"), rlscale::config_error);
}

TEST_CASE("who acts: the fallback before ONLINE and in a high-stakes retraining pass, else the agent") {
    using rlscale::who_acts;
    for (const bool retraining : {false, true}) {
        for (const bool high_stakes : {false, true}) {
            CAPTURE(retraining);
            CAPTURE(high_stakes);
            CHECK(who_acts(stage::initialized, retraining, high_stakes) == actor_role::fallback);
            CHECK(who_acts(stage::offline, retraining, high_stakes) == actor_role::fallback);
            CHECK(who_acts(stage::online, retraining, high_stakes) ==
                  (retraining && high_stakes ? actor_role::fallback : actor_role::agent));
            CHECK(who_acts(stage::serving, retraining, high_stakes) == actor_role::agent);
        }
    }
}

TEST_CASE("Algorithm 1 has exactly four edges besides the start") {
    const std::array<stage, 4> all = {stage::initialized, stage::offline, stage::online, stage::serving};
    int edges = 0;
    for (const stage a : all) {
        for (const stage b : all) edges += rlscale::legal_transition(a, b) ? 1 : 0;
    }
    CHECK(edges == 5);
    CHECK(rlscale::legal_transition(stage::initialized, stage::offline));
    CHECK(rlscale::legal_transition(stage::initialized, stage::online));
    CHECK(rlscale::legal_transition(stage::offline, stage::online));
    CHECK(rlscale::legal_transition(stage::online, stage::serving));
    CHECK(rlscale::legal_transition(stage::serving, stage::online));
    CHECK_FALSE(rlscale::legal_transition(stage::initialized, stage::serving));
    CHECK_FALSE(rlscale::legal_transition(stage::offline, stage::serving));
    CHECK_FALSE(rlscale::legal_transition(stage::serving, stage::offline));
}

TEST_CASE("with bootstrapping the agent starts OFFLINE behind the fallback") {
    lifecycle l(small_config());
    CHECK(l.current_stage() == stage::initialized);
    CHECK(l.who_acts() == actor_role::fallback);
    const auto t = l.start();
    CHECK(t.from == stage::initialized);
    CHECK(t.to == stage::offline);
    CHECK(t.reason == "bootstrapping enabled");
    CHECK(t.episode == 0);
    CHECK(t.samples == 0);
    CHECK(l.current_stage() == stage::offline);
    CHECK(l.who_acts() == actor_role::fallback);
    CHECK(l.learns());
    CHECK(l.off_policy());
    CHECK(l.behaviour_cloning());
    CHECK_FALSE(l.explores());
    CHECK(l.transition_count() == 1);
    REQUIRE(l.log().size() == 1);
    CHECK(l.log().front() == t);
}

TEST_CASE("without bootstrapping the agent starts ONLINE and explores") {
    auto c = small_config();
    c.bootstrapping = false;
    lifecycle l(c);
    const auto t = l.start();
    CHECK(t.to == stage::online);
    CHECK(t.reason == "no bootstrapping");
    CHECK(l.who_acts() == actor_role::agent);
    CHECK(l.explores());
    CHECK(l.learns());
    CHECK_FALSE(l.off_policy());
    CHECK_FALSE(l.retraining());
}

TEST_CASE("Algorithm 1 walked through: OFFLINE, ONLINE, SERVING, retraining") {
    lifecycle l(small_config());  // K = 3, T_online 50, T_serving 80, T_var 5
    l.start();

    SUBCASE("OFFLINE moves to ONLINE on the K-th reward whose mean reaches T_online") {
        CHECK_FALSE(l.end_episode(60));
        CHECK_FALSE(l.end_episode(60));
        const auto t = l.end_episode(60);
        REQUIRE(t);
        CHECK(t->from == stage::offline);
        CHECK(t->to == stage::online);
        CHECK(t->episode == 2);
        CHECK(t->samples == 3);
        CHECK(t->mean == 60);
        CHECK(t->std == 0);
        CHECK(t->reason == "mean 60 >= T_online 50 over the last 3 episodes");
        CHECK(l.window_size() == 0);  // the window restarts
    }

    SUBCASE("the whole cycle") {
        feed(l, {60, 60, 60});
        REQUIRE(l.current_stage() == stage::online);
        CHECK_FALSE(l.retraining());
        CHECK(roles_of(l) == expected_roles(stage::online, false, false));

        CHECK_FALSE(l.end_episode(90));
        CHECK_FALSE(l.end_episode(90));
        const auto serve = l.end_episode(90);
        REQUIRE(serve);
        CHECK(serve->to == stage::serving);
        CHECK(serve->reason == "mean 90 >= T_serving 80 and std 0 <= T_var 5 over the last 3 episodes");
        CHECK(roles_of(l) == expected_roles(stage::serving, false, false));

        // Serving holds while the condition does.
        CHECK(feed(l, {90, 90, 90, 88, 92}).empty());
        CHECK(l.current_stage() == stage::serving);

        // One wide episode in a full window: std(88, 92, 70) > 5.
        const auto retrain = l.end_episode(70);
        REQUIRE(retrain);
        CHECK(retrain->from == stage::serving);
        CHECK(retrain->to == stage::online);
        CHECK(retrain->mean == doctest::Approx(250.0 / 3));
        CHECK(retrain->reason.find("std ") == 0);
        CHECK(retrain->reason.find("> T_var 5 over the last 3 episodes: retraining") != std::string::npos);
        CHECK(retrain->reason.find("T_serving") == std::string::npos);
        CHECK(l.retraining());
        CHECK(l.explores());

        // Back to serving ends the retraining pass.
        feed(l, {85, 85, 85});
        CHECK(l.current_stage() == stage::serving);
        CHECK_FALSE(l.retraining());
        CHECK(l.transition_count() == 5);
        CHECK(l.episodes() == 15);
    }
}

TEST_CASE("OFFLINE never jumps to SERVING, even on serving-grade rewards") {
    lifecycle l(small_config());
    l.start();
    const auto ts = feed(l, {100, 100, 100});
    REQUIRE(ts.size() == 1);
    CHECK(ts[0].to == stage::online);
    // The fallback's rewards that opened ONLINE do not count for SERVING: K
    // more episodes of the agent's are needed.
    CHECK_FALSE(l.end_episode(100));
    CHECK_FALSE(l.end_episode(100));
    const auto t = l.end_episode(100);
    REQUIRE(t);
    CHECK(t->from == stage::online);
    CHECK(t->to == stage::serving);
    CHECK(t->episode == 5);
}

TEST_CASE("no decision on fewer than K rewards since the last transition") {
    lifecycle l(small_config());
    l.start();
    feed(l, {60, 60, 60, 90, 90, 90});
    REQUIRE(l.current_stage() == stage::serving);
    // A catastrophic first episode in SERVING does not flip it on its own...
    CHECK_FALSE(l.end_episode(-1000));
    CHECK_FALSE(l.end_episode(90));
    CHECK(l.current_stage() == stage::serving);
    // ...the K-th reward decides, over the whole window.
    const auto t = l.end_episode(90);
    REQUIRE(t);
    CHECK(t->to == stage::online);
    CHECK(t->reason.find("mean ") == 0);
    CHECK(t->reason.find(" and std ") != std::string::npos);  // both conditions failed
}

TEST_CASE("thresholds are inclusive as Algorithm 1 writes them") {
    auto c = small_config();
    c.window = 2;
    lifecycle l(c);
    l.start();
    SUBCASE("mean == T_online moves to ONLINE") {
        CHECK_FALSE(l.end_episode(45));
        CHECK(l.end_episode(55));
    }
    SUBCASE("mean == T_serving and std == T_var serve, and keep serving") {
        feed(l, {50, 50});
        REQUIRE(l.current_stage() == stage::online);
        CHECK_FALSE(l.end_episode(75));
        const auto t = l.end_episode(85);  // mean 80, std 5
        REQUIRE(t);
        CHECK(t->to == stage::serving);
        CHECK(t->std == 5);
        CHECK(feed(l, {75, 85, 85, 75}).empty());
        CHECK(l.current_stage() == stage::serving);
        const auto low = l.end_episode(84.5);  // (75, 84.5): mean 79.75 < 80, std 4.75
        REQUIRE(low);
        CHECK(low->reason == "mean 79.75 < T_serving 80 over the last 2 episodes: retraining");
    }
    SUBCASE("a mean below T_serving in ONLINE stays ONLINE") {
        feed(l, {50, 50});
        CHECK(feed(l, {79, 79, 79, 79}).empty());
        CHECK(l.current_stage() == stage::online);
    }
}

TEST_CASE("K equal rewards meet a threshold of their own value, however their sum rounds") {
    // Values not exact in binary, with K where sum / K lands an ulp below the
    // value (99.9, 0.1 and 129.3 with K = 10, 100.1 with K = 3) or above it
    // (100.1 with K = 10, 99.9 with K = 3).
    struct rewards {
        double value;
        std::size_t k;
    };
    for (const rewards r : {rewards{99.9, 10}, rewards{0.1, 10}, rewards{129.3, 10}, rewards{100.1, 3}, rewards{100.1, 10},
                            rewards{99.9, 3}}) {
        CAPTURE(r.value);
        CAPTURE(r.k);
        const std::vector<double> constant(r.k, r.value);
        const double above = std::nextafter(r.value, INFINITY);
        const double below = std::nextafter(r.value, -INFINITY);
        lifecycle_config c;
        c.window = r.k;
        c.bootstrapping = true;
        c.t_var = 1e-300;  // met only by a spread of exactly 0

        {
            INFO("thresholds at the value are met: mean == T_online, mean == T_serving, std 0 <= T_var");
            c.t_online = r.value;
            c.t_serving = r.value;
            lifecycle l(c);
            l.start();
            const auto online = feed(l, constant);
            REQUIRE(online.size() == 1);
            CHECK(online[0].to == stage::online);
            CHECK(online[0].mean == r.value);
            CHECK(online[0].std == 0);
            const auto serving = feed(l, constant);
            REQUIRE(serving.size() == 1);
            CHECK(serving[0].to == stage::serving);
            CHECK(serving[0].std == 0);
            // and keep it serving: neither mean < T_serving nor std > T_var
            for (int i = 0; i < 3; ++i) CHECK(feed(l, constant).empty());
            CHECK(l.current_stage() == stage::serving);
            CHECK(l.window_statistics() == std::pair<double, double>{r.value, 0.0});
            lifecycle restored;
            CHECK_NOTHROW(from_json(json(l), restored));
        }
        {
            INFO("T_online one ulp above the value is not met");
            c.t_online = above;
            c.t_serving = above;
            lifecycle l(c);
            l.start();
            for (int i = 0; i < 3; ++i) CHECK(feed(l, constant).empty());
            CHECK(l.current_stage() == stage::offline);
        }
        {
            INFO("T_serving one ulp above the value is not met");
            c.t_online = r.value;
            c.t_serving = above;
            lifecycle l(c);
            l.start();
            CHECK(feed(l, constant).size() == 1);
            for (int i = 0; i < 3; ++i) CHECK(feed(l, constant).empty());
            CHECK(l.current_stage() == stage::online);
        }
        {
            INFO("SERVING at T_serving stays, one ulp below it leaves");
            c.t_online = below;
            c.t_serving = r.value;
            c.t_var = 1;  // the mean alone decides
            lifecycle l(c);
            l.start();
            REQUIRE(feed(l, constant).size() == 1);
            REQUIRE(feed(l, constant).size() == 1);
            REQUIRE(l.current_stage() == stage::serving);
            const auto down = feed(l, std::vector<double>(r.k, below));
            REQUIRE(down.size() == 1);
            CHECK(down[0].to == stage::online);
            CHECK(down[0].mean == below);
            CHECK(down[0].reason.find("mean ") == 0);
        }
    }
}

TEST_CASE("end_episode refuses to count past the largest episodes or transition_count, and changes nothing") {
    constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();

    SUBCASE("episodes") {
        lifecycle l(small_config());  // K = 3, T_online 50
        l.start();
        feed(l, {10, 10, 10});  // OFFLINE, a full window below T_online
        json j = l;
        j["episodes"] = top - 1;
        lifecycle big;
        from_json(j, big);
        CHECK_FALSE(big.end_episode(10));
        CHECK(big.episodes() == top);
        const json at_top = big;
        lifecycle restored;
        from_json(at_top, restored);  // the count at its largest still reads back
        CHECK(json(restored) == at_top);
        for (const double reward : {10.0, 90.0}) {  // with and without a transition
            CAPTURE(reward);
            CHECK_THROWS_WITH_AS(big.end_episode(reward),
                                 "lifecycle::end_episode(): episodes is 18446744073709551615, the largest count it holds; "
                                 "no further episode can be recorded",
                                 rlscale::error);
            CHECK(json(big) == at_top);
        }
    }
    SUBCASE("transition_count") {
        // SERVING, its log down to its newest transition: ONLINE -> SERVING,
        // numbered 2^64 - 1, at the earliest episode a run reaches it.
        lifecycle_config c = small_config();
        c.window = 1;
        c.log_capacity = 1;
        lifecycle l(c);
        l.start();
        feed(l, {60, 90});
        REQUIRE(l.current_stage() == stage::serving);
        json j = l;
        j["transition_count"] = top;
        j["log"][0]["episode"] = top - 2;
        j["episodes"] = top - 1;
        lifecycle big;
        from_json(j, big);
        const json before = big;
        // A reward that leaves SERVING would make transition 2^64.
        CHECK_THROWS_WITH_AS(big.end_episode(10),
                             "lifecycle::end_episode(): transition_count is 18446744073709551615, the largest count it holds; "
                             "no further transition can be made",
                             rlscale::error);
        CHECK(json(big) == before);
        // One that keeps it serving makes none, and is recorded.
        CHECK_FALSE(big.end_episode(90));
        CHECK(big.episodes() == top);
        CHECK(big.transition_count() == top);
        lifecycle restored;
        CHECK_NOTHROW(from_json(json(big), restored));
    }
}

TEST_CASE("who acts, learns and explores in each stage, with and without high stakes") {
    for (const bool high_stakes : {false, true}) {
        CAPTURE(high_stakes);
        auto c = small_config();
        c.high_stakes = high_stakes;
        lifecycle l(c);
        CHECK(roles_of(l) == expected_roles(stage::initialized, false, high_stakes));
        l.start();
        CHECK(roles_of(l) == expected_roles(stage::offline, false, high_stakes));
        feed(l, {60, 60, 60});
        REQUIRE(l.current_stage() == stage::online);
        // The first training pass is the agent's, high stakes or not.
        CHECK(roles_of(l) == expected_roles(stage::online, false, high_stakes));
        CHECK(l.who_acts() == actor_role::agent);
        feed(l, {90, 90, 90});
        REQUIRE(l.current_stage() == stage::serving);
        CHECK(roles_of(l) == expected_roles(stage::serving, false, high_stakes));
        feed(l, {10, 10, 10});
        REQUIRE(l.current_stage() == stage::online);
        REQUIRE(l.retraining());
        CHECK(roles_of(l) == expected_roles(stage::online, true, high_stakes));
        CHECK(l.who_acts() == (high_stakes ? actor_role::fallback : actor_role::agent));
        CHECK(l.off_policy() == high_stakes);
        CHECK_FALSE(l.behaviour_cloning());
        CHECK(std::string(l.reason_tag()).find("ONLINE retraining") != std::string::npos);
        feed(l, {90, 90, 90});
        CHECK(roles_of(l) == expected_roles(stage::serving, false, high_stakes));
    }
}

TEST_CASE("reason tags name the stage and who acts") {
    auto c = small_config();
    c.high_stakes = true;
    lifecycle l(c);
    CHECK(l.reason_tag() == "lifecycle: INITIALIZED, fallback acts");
    l.start();
    CHECK(l.reason_tag() == "lifecycle: OFFLINE, fallback acts, agent learns off-policy");
    feed(l, {60, 60, 60});
    CHECK(l.reason_tag() == "lifecycle: ONLINE, agent explores");
    feed(l, {90, 90, 90});
    CHECK(l.reason_tag() == "lifecycle: SERVING, agent acts");
    feed(l, {0, 0, 0});
    CHECK(l.reason_tag() == "lifecycle: ONLINE retraining (high stakes), fallback acts, agent learns off-policy");
}

TEST_CASE("the fallback floors the agent exactly when configured and the agent acts") {
    for (const bool floor : {false, true}) {
        for (const bool high_stakes : {false, true}) {
            CAPTURE(floor);
            CAPTURE(high_stakes);
            auto c = small_config();
            c.fallback_floor = floor;
            c.high_stakes = high_stakes;
            lifecycle l(c);
            CHECK_FALSE(l.floors_agent());  // INITIALIZED: the fallback acts
            l.start();
            CHECK_FALSE(l.floors_agent());  // OFFLINE: the fallback acts, there is nothing to floor
            feed(l, {60, 60, 60});
            REQUIRE(l.current_stage() == stage::online);
            CHECK(l.floors_agent() == floor);
            feed(l, {90, 90, 90});
            REQUIRE(l.current_stage() == stage::serving);
            CHECK(l.floors_agent() == floor);
            feed(l, {0, 0, 0});
            REQUIRE(l.retraining());
            CHECK(l.floors_agent() == (floor && !high_stakes));  // high-stakes retraining: the fallback acts
        }
    }
}

TEST_CASE("misuse is refused") {
    lifecycle l(small_config());
    CHECK_THROWS_AS(l.end_episode(1), rlscale::error);
    l.start();
    CHECK_THROWS_AS(l.start(), rlscale::error);
    CHECK_THROWS_AS(l.end_episode(std::nan("")), rlscale::error);
    CHECK_THROWS_AS(l.end_episode(INFINITY), rlscale::error);
    // Finite but so large that the window's sum or spread would overflow.
    CHECK_THROWS_WITH_AS(l.end_episode(1e308), doctest::Contains("within +-1e+100"), rlscale::error);
    CHECK_THROWS_AS(l.end_episode(-2 * lifecycle::max_reward), rlscale::error);
    CHECK(l.episodes() == 0);
    CHECK(l.window_size() == 0);
}

TEST_CASE("the log keeps the last log_capacity transitions and counts all") {
    auto c = small_config();
    c.window = 1;
    c.log_capacity = 2;
    lifecycle l(c);
    l.start();
    feed(l, {60, 90, 0, 90, 0});  // OFFLINE→ONLINE→SERVING→ONLINE→SERVING→ONLINE
    CHECK(l.transition_count() == 6);
    REQUIRE(l.log().size() == 2);
    CHECK(l.log()[0].to == stage::serving);
    CHECK(l.log()[0].episode == 3);
    CHECK(l.log()[1].to == stage::online);
    CHECK(l.log()[1].episode == 4);
}

TEST_CASE("configuration errors name the field") {
    CHECK_NOTHROW(lifecycle_config{}.validate());
    CHECK_NOTHROW(lifecycle_config::aware_code().validate());
    CHECK(lifecycle_config::aware_code().window == 10);
    CHECK_FALSE(lifecycle_config::aware_code().bootstrapping);

    auto c = lifecycle_config{};
    c.window = 0;
    check_config_field(c, "lifecycle_config.window");
    c = {};
    c.t_var = 0;
    check_config_field(c, "lifecycle_config.t_var");
    c = {};
    c.t_var = std::nan("");
    check_config_field(c, "lifecycle_config.t_var");
    c = {};
    c.t_online = 90;
    c.t_serving = 80;
    check_config_field(c, "lifecycle_config.t_serving");
    c = {};
    c.t_online = INFINITY;
    check_config_field(c, "lifecycle_config.t_online");
    c = {};
    c.log_capacity = 0;
    check_config_field(c, "lifecycle_config.log_capacity");
    c = {};
    c.t_online = 80;
    c.t_serving = 80;  // equal thresholds are allowed
    CHECK_NOTHROW(c.validate());
}

TEST_CASE("a configuration reads back from JSON and errors name the field") {
    auto c = small_config();
    c.high_stakes = true;
    c.log_capacity = 7;
    const json j = c;
    const auto back = j.get<lifecycle_config>();
    CHECK(back.window == c.window);
    CHECK(back.t_online == c.t_online);
    CHECK(back.t_serving == c.t_serving);
    CHECK(back.t_var == c.t_var);
    CHECK(back.bootstrapping == c.bootstrapping);
    CHECK(back.high_stakes == c.high_stakes);
    CHECK(back.log_capacity == c.log_capacity);
    CHECK_FALSE(back.fallback_floor);
    {
        auto floored = c;
        floored.fallback_floor = true;
        CHECK(json(floored).get<lifecycle_config>().fallback_floor);
        // A profile written before the floor existed reads as without it.
        json old = json(floored);
        old.erase("fallback_floor");
        CHECK_FALSE(old.get<lifecycle_config>().fallback_floor);
    }

    const auto rejects = [&](json bad, const std::string& field) {
        CAPTURE(field);
        try {
            (void)bad.get<lifecycle_config>();
            FAIL("accepted");
        } catch (const rlscale::config_error& e) {
            CHECK(e.field() == field);
        }
    };
    json bad = j;
    bad.erase("t_var");
    rejects(bad, "lifecycle_config.t_var");
    bad = j;
    bad["window"] = -1;
    rejects(bad, "lifecycle_config.window");
    bad = j;
    bad["bootstrapping"] = "yes";
    rejects(bad, "lifecycle_config.bootstrapping");
    bad = j;
    bad["fallback_floor"] = 1;
    rejects(bad, "lifecycle_config.fallback_floor");
    bad = j;
    bad["t_var"] = -2;
    rejects(bad, "lifecycle_config.t_var");
}

TEST_CASE("property: random reward sequences over many configurations follow Algorithm 1") {
    rlscale::rng gen(20230711);
    std::array<int, 4> seen{};  // OFFLINE→ONLINE, ONLINE→SERVING, SERVING→ONLINE, start
    long long episodes_total = 0;
    long long ambiguous = 0;
    int failures = 0;

    for (int trial = 0; trial < 150; ++trial) {
        lifecycle_config c;
        c.window = 1 + static_cast<std::size_t>(rlscale::uniform_index(gen, 20));
        c.t_online = static_cast<double>(rlscale::uniform_index(gen, 101));
        c.t_serving = c.t_online + static_cast<double>(rlscale::uniform_index(gen, 51));
        c.t_var = 0.5 * static_cast<double>(1 + rlscale::uniform_index(gen, 40));
        c.bootstrapping = rlscale::uniform_index(gen, 2) == 1;
        c.high_stakes = rlscale::uniform_index(gen, 2) == 1;
        c.log_capacity = 1 + static_cast<std::size_t>(rlscale::uniform_index(gen, 30));
        const auto K = c.window;
        CAPTURE(trial);
        CAPTURE(K);

        lifecycle l(c);
        const auto start = l.start();
        ++seen[3];
        stage model = start.to;
        bool retraining = false;
        std::vector<double> since;  // rewards since the last transition
        std::uint64_t transitions = 1;

        // Rewards from a regime process: segments of random length around a
        // level near one of the thresholds, with little or much noise, in
        // multiples of 0.5 so that sums are exact.
        const std::array<double, 5> levels = {c.t_online - 30, c.t_online, c.t_serving, c.t_serving + 15, c.t_serving + 60};
        const std::array<double, 4> noise = {0.0, 1.0, c.t_var / 2, 3 * c.t_var};
        std::size_t segment_left = 0;
        double level = 0;
        double sigma = 0;

        for (std::uint64_t e = 0; e < 3000; ++e) {
            if (segment_left == 0) {
                segment_left = 1 + static_cast<std::size_t>(rlscale::uniform_index(gen, 4 * K));
                level = levels[rlscale::uniform_index(gen, levels.size())];
                sigma = noise[rlscale::uniform_index(gen, noise.size())];
            }
            --segment_left;
            const double reward = std::round(2 * (level + sigma * rlscale::standard_normal(gen))) / 2;
            since.push_back(reward);
            const auto t = l.end_episode(reward);
            ++episodes_total;

            std::optional<bool> expected;  // whether Algorithm 1 moves, unless a threshold is too close to call
            double sum = 0;
            double mean = 0;
            double sd = 0;
            if (since.size() >= K) {
                for (std::size_t i = since.size() - K; i < since.size(); ++i) sum += since[i];
                mean = sum / static_cast<double>(K);
                long double sq = 0;
                for (std::size_t i = since.size() - K; i < since.size(); ++i) {
                    const long double d = static_cast<long double>(since[i]) - static_cast<long double>(sum) / K;
                    sq += d * d;
                }
                sd = static_cast<double>(std::sqrt(sq / K));
                const bool std_close = std::abs(sd - c.t_var) < 1e-9;
                // sums of half-integers and integer thresholds: exact comparisons
                const bool mean_online = sum >= c.t_online * static_cast<double>(K);
                const bool mean_serving = sum >= c.t_serving * static_cast<double>(K);
                switch (model) {
                    case stage::offline: expected = mean_online; break;
                    case stage::online:
                        if (!mean_serving) expected = false;
                        else if (!std_close) expected = sd <= c.t_var;
                        break;
                    case stage::serving:
                        if (!mean_serving) expected = true;
                        else if (!std_close) expected = sd > c.t_var;
                        break;
                    case stage::initialized: break;
                }
                if (!expected) ++ambiguous;
            }

            bool ok = true;
            if (since.size() < K) ok = ok && !t;  // no decision on fewer than K rewards
            if (expected) ok = ok && (t.has_value() == *expected);
            if (t) {
                ok = ok && t->from == model && rlscale::legal_transition(t->from, t->to) && t->from != stage::initialized;
                ok = ok && t->episode == e && t->samples == K && t->mean == mean && std::abs(t->std - sd) <= 1e-9;
                // the logged condition holds for the logged window
                switch (t->from) {
                    case stage::offline: ok = ok && t->to == stage::online && t->mean >= c.t_online; break;
                    case stage::online:
                        ok = ok && t->to == stage::serving && t->mean >= c.t_serving && t->std <= c.t_var;
                        break;
                    case stage::serving:
                        ok = ok && t->to == stage::online && (t->mean < c.t_serving || t->std > c.t_var);
                        break;
                    case stage::initialized: ok = false; break;
                }
                ok = ok && !t->reason.empty();
                seen[t->from == stage::offline ? 0 : t->from == stage::online ? 1 : 2] += 1;
                if (t->from == stage::serving) retraining = true;
                if (t->to == stage::serving) retraining = false;
                model = t->to;
                since.clear();
                ++transitions;
            }
            // the stage stays put without a transition; the queries follow the table
            ok = ok && l.current_stage() == model && l.retraining() == retraining;
            ok = ok && roles_of(l) == expected_roles(model, retraining, c.high_stakes);
            ok = ok && l.window_size() == std::min(since.size(), K);
            if (!ok) {
                ++failures;
                if (failures < 10) {
                    INFO("episode ", e, " stage ", rlscale::to_string(model), " reward ", reward, " mean ", mean, " std ", sd);
                    CHECK(ok);
                }
            }
        }
        CHECK(l.transition_count() == transitions);
        CHECK(l.log().size() == std::min<std::uint64_t>(transitions, c.log_capacity));
        CHECK(l.log().back().to == l.current_stage());
    }
    CHECK(failures == 0);
    MESSAGE("episodes ", episodes_total, ", OFFLINE→ONLINE ", seen[0], ", ONLINE→SERVING ", seen[1],
            ", SERVING→ONLINE ", seen[2], ", too close to call ", ambiguous);
    CHECK(seen[0] >= 50);
    CHECK(seen[1] >= 200);
    CHECK(seen[2] >= 200);
}

TEST_CASE("the state round-trips through JSON and the restored lifecycle continues identically") {
    rlscale::rng gen(7);
    for (int trial = 0; trial < 40; ++trial) {
        lifecycle_config c;
        c.window = 1 + static_cast<std::size_t>(rlscale::uniform_index(gen, 8));
        c.t_online = 40;
        c.t_serving = 60;
        c.t_var = 8;
        c.bootstrapping = trial % 2 == 0;
        c.high_stakes = trial % 3 == 0;
        c.fallback_floor = trial % 5 < 2;
        c.log_capacity = 1 + static_cast<std::size_t>(rlscale::uniform_index(gen, 6));
        lifecycle a(c);
        CAPTURE(trial);

        // before start() too
        {
            const json j = a;
            lifecycle r;
            from_json(j, r);
            CHECK(json(r) == j);
        }
        a.start();
        const auto cut = rlscale::uniform_index(gen, 400);
        std::vector<double> rewards(800);
        for (double& r : rewards) r = rlscale::uniform(gen, 20, 90);
        for (std::uint64_t i = 0; i < cut; ++i) a.end_episode(rewards[i]);

        const std::string text = json(a).dump();
        lifecycle b;
        from_json(json::parse(text), b);
        CHECK(json(b).dump() == text);  // bit-exact doubles
        CHECK(b.config().fallback_floor == c.fallback_floor);
        CHECK(b.floors_agent() == a.floors_agent());
        if (c.fallback_floor) {  // a state written before the floor existed restores without it
            json old = json::parse(text);
            old["config"].erase("fallback_floor");
            lifecycle o;
            from_json(old, o);
            CHECK_FALSE(o.config().fallback_floor);
            CHECK(o.current_stage() == a.current_stage());
        }
        CHECK(b.current_stage() == a.current_stage());
        CHECK(b.retraining() == a.retraining());
        CHECK(b.episodes() == a.episodes());
        CHECK(b.window() == a.window());
        CHECK(b.log() == a.log());
        CHECK(b.transition_count() == a.transition_count());
        bool same = true;
        for (std::uint64_t i = cut; i < rewards.size(); ++i) same = same && (a.end_episode(rewards[i]) == b.end_episode(rewards[i]));
        CHECK(same);
        CHECK(json(a) == json(b));
    }
}

TEST_CASE("restoring a malformed state names the field and leaves the lifecycle as it was") {
    auto c = small_config();
    lifecycle source(c);
    source.start();
    feed(source, {60, 60, 60, 90, 90, 90, 95});
    REQUIRE(source.current_stage() == stage::serving);
    const json good = source;

    lifecycle target(small_config());
    target.start();
    target.end_episode(12);
    const json before = target;

    const auto rejects = [&](const json& bad, const std::string& field) {
        CAPTURE(field);
        try {
            from_json(bad, target);
            FAIL("accepted");
        } catch (const rlscale::checkpoint_error& e) {
            CHECK(e.field() == field);
            // Named once, under its place in the file ("config.t_var"),
            // not also under the struct's own name.
            CHECK_MESSAGE(std::string(e.what()).find("lifecycle_config") == std::string::npos, e.what());
        }
        CHECK(json(target) == before);
    };

    json bad = good;
    bad["stage"] = "RUNNING";
    rejects(bad, "stage");
    bad = good;
    bad["config"]["t_var"] = 0;
    rejects(bad, "config.t_var");
    bad = good;
    bad["config"]["t_serving"] = 10;
    rejects(bad, "config.t_serving");
    bad = good;
    bad["config"].erase("window");
    rejects(bad, "config.window");
    bad = good;
    bad["window"] = json::array({1, 2, 3, 4});
    rejects(bad, "window");
    bad = good;
    bad["window"] = json::array({"x"});
    rejects(bad, "window[0]");
    bad = good;
    bad["window"] = json::array({1e308});
    rejects(bad, "window[0]");
    bad = good;
    bad["log"][0]["to"] = "SERVING";
    rejects(bad, "log[0].to");
    bad = good;
    bad["log"][1]["from"] = "SERVING";
    rejects(bad, "log[1].from");  // SERVING → ONLINE is an edge, but log[0] entered OFFLINE
    bad = good;
    bad.erase("episodes");
    rejects(bad, "episodes");
    bad = good;
    bad["version"] = 2;
    rejects(bad, "version");
    bad = good;
    bad["retraining"] = true;
    rejects(bad, "retraining");
    bad = good;
    bad["stage"] = "ONLINE";
    rejects(bad, "stage");
    bad = good;
    bad["transition_count"] = 0;
    rejects(bad, "transition_count");
    bad = good;
    bad["log"][2]["mean"] = nullptr;
    rejects(bad, "log[2].mean");
    rejects(json::array(), "(top level)");

    // A state no run could have reached: each transition must have been
    // made as start() and end_episode() make them.
    bad = good;
    bad["config"]["bootstrapping"] = false;  // start() would have entered ONLINE
    rejects(bad, "log[0]");
    bad = good;
    bad["log"][0]["mean"] = 123.0;  // start() looks at no rewards: it logs mean 0 and std 0
    rejects(bad, "log[0].mean");
    bad = good;
    bad["log"][0]["std"] = 7.0;
    rejects(bad, "log[0].std");
    bad = good;
    bad["log"][1]["samples"] = 1;  // decided on fewer than K rewards
    rejects(bad, "log[1]");
    bad = good;
    bad["log"][1]["mean"] = -1000.0;  // OFFLINE -> ONLINE below T_online
    rejects(bad, "log[1]");
    bad = good;
    bad["log"][2]["std"] = 1e6;  // ONLINE -> SERVING above T_var
    rejects(bad, "log[2]");
    bad = good;
    bad["log"] = json::array();  // SERVING with three transitions and no log
    rejects(bad, "log");
    // Each decision waits for K rewards after the transition before it.
    REQUIRE(good["log"][1]["episode"] == c.window - 1);
    REQUIRE(good["log"][2]["episode"] == 2 * c.window - 1);
    bad = good;
    bad["log"][1]["episode"] = c.window - 2;  // K - 1 rewards after start()
    rejects(bad, "log[1].episode");
    bad = good;
    bad["log"][2]["episode"] = 2 * c.window - 2;  // K - 1 rewards after entering ONLINE
    rejects(bad, "log[2].episode");
    // The log keeps the newest min(transition_count, log_capacity) transitions,
    // and a whole log begins with start().
    bad = good;
    bad["log"].erase(0);  // two of three with room for 1024
    rejects(bad, "log");
    bad["config"]["log_capacity"] = 2;  // now the newest two of three: as a run keeps them
    CHECK_NOTHROW(from_json(bad, target));
    from_json(before, target);
    bad["transition_count"] = 2;  // a whole log of two that does not begin with start()
    rejects(bad, "log[0]");
    bad = good;
    bad["transition_count"] = 5;
    rejects(bad, "log");
    // A log that dropped its oldest: the first one kept must be what its
    // number can be (transition_count − kept + 1), and no earlier than a run
    // reaches it.
    bad = good;
    bad["log"].erase(0);
    bad["config"]["log_capacity"] = 2;
    bad["transition_count"] = 1000000;  // OFFLINE -> ONLINE as transition 999,999
    rejects(bad, "log[0]");
    bad["transition_count"] = 3;
    bad["config"]["bootstrapping"] = false;  // OFFLINE, never entered without bootstrapping
    rejects(bad, "log[0]");
    bad = good;
    bad["log"].erase(0);
    bad["log"].erase(0);
    bad["config"]["log_capacity"] = 1;  // only ONLINE -> SERVING, transition 3 at episode 2K - 1
    CHECK_NOTHROW(from_json(bad, target));
    from_json(before, target);
    bad["transition_count"] = 4;  // transition 4 would be SERVING -> ONLINE
    rejects(bad, "log[0]");
    bad["transition_count"] = 5;  // transition 5 is ONLINE -> SERVING, but not before episode 4K - 1
    rejects(bad, "log[0]");
    // The window holds the last min(K, episodes since the last transition)
    // rewards: one here (episode 6, after the transition at episode 5).
    REQUIRE(good["window"].size() == 1);
    bad = good;
    bad["window"] = json::array();
    rejects(bad, "window");
    bad = good;
    bad["episodes"] = 9;  // three episodes since: the window would be full
    rejects(bad, "window");
    bad["window"] = json::array({95, 95, 95});
    CHECK_NOTHROW(from_json(bad, target));
    from_json(before, target);
    bad["window"] = json::array({95, 95});  // a run keeps K once it has them
    rejects(bad, "window");
    // A full window that meets its stage's exit condition: the episode that
    // filled it would have left SERVING (mean below T_serving).
    bad["window"] = json::array({10, 10, 10});
    rejects(bad, "window");
    bad["window"] = json::array({95, 60, 95});  // std above T_var: also leaves
    rejects(bad, "window");
    // retraining is true exactly in an ONLINE stage entered from SERVING.
    lifecycle again(c);
    again.start();
    feed(again, {60, 60, 60, 90, 90, 90, 95, 10, 10, 10});
    REQUIRE(again.current_stage() == stage::online);
    REQUIRE(again.retraining());
    json retrain = again;
    CHECK_NOTHROW(from_json(retrain, target));
    CHECK(target.retraining());
    from_json(before, target);
    retrain["retraining"] = false;
    rejects(retrain, "retraining");
}

TEST_CASE("restoring an INITIALIZED state that recorded episodes names the count") {
    const lifecycle fresh(small_config());
    const auto rejects = [](const json& bad, const std::string& field, const std::string& message) {
        lifecycle target(small_config());
        try {
            from_json(bad, target);
            FAIL("accepted");
        } catch (const rlscale::checkpoint_error& e) {
            CHECK(e.field() == field);
            CHECK(e.message() == message);
        }
    };
    json bad = fresh;
    bad["episodes"] = 4;
    rejects(bad, "episodes", "must be 0 in stage INITIALIZED, got 4 (no episode is recorded before start())");
    bad["window"] = json::array({1, 2});
    rejects(bad, "window", "must be empty in stage INITIALIZED, holds 2 rewards (no episode is recorded before start())");
}

}  // namespace test_lifecycle_lifecycle
