// Leader election over a Lease, against a loopback server that reproduces the
// coordination.k8s.io/v1 Lease API's objects and errors (lease_server.hpp).
#include "lease_server.hpp"

#include <doctest/doctest.h>

#include <rlscale/kubernetes/leader_election.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace k8s = rlscale::kubernetes;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

k8s::client api_for(const k8s::test::lease_server& s) {
    k8s::client_config c = k8s::explicit_config(s.url(), "tok", "");
    c.read_timeout = 5s;
    return k8s::client(c);
}

k8s::leader_election_config candidate(const std::string& identity) {
    k8s::leader_election_config c;
    c.namespace_name = "shop";
    c.lease_name = "rlscale-controller";
    c.identity = identity;
    return c;  // 15 s, 10 s, 2 s
}

using steady = std::chrono::steady_clock;

/// The read clock of tests that step the time: the attempt's `now` stands.
steady::time_point stepped() { return steady::time_point::min(); }
const steady::time_point t0 = steady::time_point(1000s);
const std::chrono::system_clock::time_point wall0 = std::chrono::system_clock::time_point(1'780'000'000s);

}  // namespace

TEST_CASE("leader election: the first candidate creates the Lease, another waits out an unchanged record's duration, then takes it") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    k8s::leader_elector b(api, candidate("pod-b"), stepped);

    REQUIRE(a.try_acquire_or_renew(t0, wall0));
    CHECK(a.leading(t0));
    json l = server.lease("shop", "rlscale-controller");
    CHECK(l.at("spec").at("holderIdentity") == "pod-a");
    CHECK(l.at("spec").at("leaseDurationSeconds") == 15);
    CHECK(l.at("spec").at("renewTime") == k8s::micro_time(wall0));
    CHECK_FALSE(l.at("spec").contains("leaseTransitions"));  // 0, omitted

    CHECK_FALSE(b.try_acquire_or_renew(t0 + 1s, wall0 + 1s));  // A holds it: B first sees the record at t0 + 1 s
    CHECK(b.holder() == "pod-a");
    CHECK_FALSE(b.leading(t0 + 1s));

    REQUIRE(a.try_acquire_or_renew(t0 + 2s, wall0 + 2s));  // a renewal: same acquireTime, new renewTime
    l = server.lease("shop", "rlscale-controller");
    CHECK(l.at("spec").at("acquireTime") == k8s::micro_time(wall0));
    CHECK(l.at("spec").at("renewTime") == k8s::micro_time(wall0 + 2s));

    CHECK_FALSE(b.try_acquire_or_renew(t0 + 3s, wall0 + 3s));  // the record changed: B's wait starts again at t0 + 3 s
    // A renews no more. It stops acting 10 s (the renew deadline) after its last renewal...
    CHECK(a.leading(t0 + 2s + 9999ms));
    CHECK_FALSE(a.leading(t0 + 12s));
    // ...and B takes over 15 s (the record's duration) after it saw the record change, not before.
    CHECK_FALSE(b.try_acquire_or_renew(t0 + 17900ms, wall0 + 17900ms));
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-a");
    REQUIRE(b.try_acquire_or_renew(t0 + 18s, wall0 + 18s));
    l = server.lease("shop", "rlscale-controller");
    CHECK(l.at("spec").at("holderIdentity") == "pod-b");
    CHECK(l.at("spec").at("leaseTransitions") == 1);
    CHECK(l.at("spec").at("acquireTime") == k8s::micro_time(wall0 + 18s));

    // A comes back: it sees B's record and does not act.
    CHECK_FALSE(a.try_acquire_or_renew(t0 + 19s, wall0 + 19s));
    CHECK_FALSE(a.leading(t0 + 19s));
    CHECK(a.holder() == "pod-b");
    CHECK(b.leading(t0 + 19s));
}

TEST_CASE("leader election: the wait uses the record's own leaseDurationSeconds, measured on the candidate's clock") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    // Another candidate's record with a 40 s duration and a renewTime far in the past (its clock is not ours).
    server.put("shop", "rlscale-controller",
               {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "rlscale-controller"}, {"namespace", "shop"}}},
                {"spec", {{"holderIdentity", "pod-z"}, {"leaseDurationSeconds", 40}, {"renewTime", "2001-01-01T00:00:00.000000Z"},
                          {"leaseTransitions", 6}}}});
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
    CHECK_FALSE(a.try_acquire_or_renew(t0 + 39s, wall0 + 39s));
    REQUIRE(a.try_acquire_or_renew(t0 + 40s, wall0 + 40s));
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("leaseTransitions") == 7);
}

TEST_CASE("leader election: another holder's record counts as seen when the read returned, not when it was sent") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    REQUIRE(a.try_acquire_or_renew(t0, wall0));
    // B's read is answered 6 s after it was sent (a throttled API server).
    steady::time_point answered = t0 + 6s;
    k8s::leader_elector b(api, candidate("pod-b"), [&] { return answered; });
    CHECK_FALSE(b.try_acquire_or_renew(t0, wall0));
    CHECK(b.another_holds());
    // 15 s after the request was sent is too early: A may have renewed just before the answer.
    answered = steady::time_point::min();
    CHECK_FALSE(b.try_acquire_or_renew(t0 + 15s, wall0 + 15s));
    CHECK(b.try_acquire_or_renew(t0 + 21s, wall0 + 21s));
}

TEST_CASE("leader election: a write that loses the race is a 409 and leaves the other holder in place") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    REQUIRE(a.try_acquire_or_renew(t0, wall0));
    k8s::leader_elector b(api, candidate("pod-b"), stepped);
    CHECK_FALSE(b.try_acquire_or_renew(t0, wall0));
    // Between B's read and its write, pod-c takes the Lease.
    server.before_put([](std::map<std::string, json>& leases) {
        json& l = leases.at("shop/rlscale-controller");
        l["spec"]["holderIdentity"] = "pod-c";
        l["metadata"]["resourceVersion"] = "999";
    });
    CHECK_FALSE(b.try_acquire_or_renew(t0 + 15s, wall0 + 15s));
    CHECK(b.last_error().find("409 Conflict") != std::string::npos);
    CHECK_FALSE(b.leading(t0 + 15s));
    server.before_put({});
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-c");
}

TEST_CASE("leader election: two candidates creating the Lease at once: one 409 AlreadyExists, one holder") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    k8s::leader_elector b(api, candidate("pod-b"), stepped);
    std::atomic<int> leaders{0};
    std::thread ta([&] { leaders += a.try_acquire_or_renew(t0, wall0) ? 1 : 0; });
    std::thread tb([&] { leaders += b.try_acquire_or_renew(t0, wall0) ? 1 : 0; });
    ta.join();
    tb.join();
    CHECK(leaders.load() == 1);
    const std::string holder = server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity");
    CHECK(((holder == "pod-a" && a.leading(t0)) || (holder == "pod-b" && b.leading(t0))));
    CHECK_FALSE((a.leading(t0) && b.leading(t0)));
}

TEST_CASE("leader election: a release hands the Lease over at once") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    k8s::leader_elector b(api, candidate("pod-b"), stepped);
    REQUIRE(a.try_acquire_or_renew(t0, wall0));
    CHECK_FALSE(b.try_acquire_or_renew(t0 + 1s, wall0 + 1s));
    REQUIRE(a.release(wall0 + 2s));
    CHECK_FALSE(a.leading(t0 + 2s));
    const json l = server.lease("shop", "rlscale-controller");
    CHECK_FALSE(l.at("spec").contains("holderIdentity"));
    CHECK(l.at("spec").at("leaseDurationSeconds") == 1);
    CHECK_FALSE(b.release(wall0 + 2s));  // not the holder: nothing sent
    REQUIRE(b.try_acquire_or_renew(t0 + 2500ms, wall0 + 2500ms));  // no holder: no wait
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("leaseTransitions") == 1);
}

TEST_CASE("leader election: spec fields it does not write (coordinated election's strategy, preferredHolder) are sent back as read") {
    k8s::test::lease_server server;
    server.put("shop", "rlscale-controller",
               json{{"apiVersion", "coordination.k8s.io/v1"},
                    {"kind", "Lease"},
                    {"metadata", {{"name", "rlscale-controller"}, {"namespace", "shop"}, {"labels", {{"team", "autoscaling"}}}}},
                    {"spec", {{"strategy", "OldestEmulationVersion"}, {"preferredHolder", "pod-b"}, {"leaseDurationSeconds", 15}}}});
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    REQUIRE(a.try_acquire_or_renew(t0, wall0));  // no holder: taken at once
    json l = server.lease("shop", "rlscale-controller");
    CHECK(l.at("spec").at("holderIdentity") == "pod-a");
    CHECK(l.at("spec").at("strategy") == "OldestEmulationVersion");
    CHECK(l.at("spec").at("preferredHolder") == "pod-b");
    CHECK(l.at("metadata").at("labels").at("team") == "autoscaling");
    REQUIRE(a.try_acquire_or_renew(t0 + 2s, wall0 + 2s));  // a renewal
    REQUIRE(a.release(wall0 + 3s));
    l = server.lease("shop", "rlscale-controller");
    CHECK_FALSE(l.at("spec").contains("holderIdentity"));  // a cleared field is removed, as before
    CHECK(l.at("spec").at("leaseDurationSeconds") == 1);
    CHECK(l.at("spec").at("strategy") == "OldestEmulationVersion");
    CHECK(l.at("spec").at("preferredHolder") == "pod-b");
}

TEST_CASE("leader election: a Lease read without a spec, or with a null one, is taken and gets one") {
    for (const bool null_spec : {false, true}) {
        CAPTURE(null_spec);
        k8s::test::lease_server server;
        json lease{{"apiVersion", "coordination.k8s.io/v1"},
                   {"kind", "Lease"},
                   {"metadata", {{"name", "rlscale-controller"}, {"namespace", "shop"}, {"labels", {{"team", "autoscaling"}}}}}};
        if (null_spec) lease["spec"] = nullptr;
        server.put("shop", "rlscale-controller", lease);
        const k8s::client api = api_for(server);
        k8s::leader_elector a(api, candidate("pod-a"), stepped);
        REQUIRE(a.try_acquire_or_renew(t0, wall0));  // no holder: taken at once, by an update
        const json l = server.lease("shop", "rlscale-controller");
        REQUIRE(l.at("spec").is_object());
        CHECK(l.at("spec").at("holderIdentity") == "pod-a");
        CHECK(l.at("spec").at("leaseDurationSeconds") == 15);
        CHECK(l.at("metadata").at("labels").at("team") == "autoscaling");
    }
    // A spec that is not an object is refused on the read, naming the field,
    // and nothing is written.
    k8s::test::lease_server server;
    const json bad{{"apiVersion", "coordination.k8s.io/v1"},
                   {"kind", "Lease"},
                   {"metadata", {{"name", "rlscale-controller"}, {"namespace", "shop"}}},
                   {"spec", "pod-b"}};
    server.put("shop", "rlscale-controller", bad);
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
    CHECK(a.last_error().find("Lease field spec is") != std::string::npos);
    CHECK(server.lease("shop", "rlscale-controller").at("spec") == "pod-b");
}

TEST_CASE("leader election: failures are kept, not thrown, and a malformed Lease names its field") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    server.set_unavailable(true);
    CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
    CHECK(a.last_error().find("503") != std::string::npos);
    server.set_unavailable(false);
    server.put("shop", "rlscale-controller",
               {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", {{"name", "rlscale-controller"}}},
                {"spec", {{"holderIdentity", 5}}}});
    CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
    CHECK(a.last_error().find("spec.holderIdentity") != std::string::npos);
    server.put("shop", "rlscale-controller",
               {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", {{"name", "rlscale-controller"}}},
                {"spec", {{"leaseDurationSeconds", -3}}}});
    CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
    CHECK(a.last_error().find("spec.leaseDurationSeconds") != std::string::npos);
    CHECK_FALSE(a.leading(t0));
}

TEST_CASE("leader election: the configuration's fields are checked and named") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    const auto refused = [&](k8s::leader_election_config c) -> std::string {
        try {
            k8s::leader_elector e(api, std::move(c), stepped);
        } catch (const rlscale::config_error& e) {
            return e.field();
        }
        return "accepted";
    };
    CHECK(refused(candidate("pod-a")) == "accepted");
    auto c = candidate("");
    CHECK(refused(c) == "identity");
    c = candidate("pod\n");
    CHECK(refused(c) == "identity");
    // Latin-1, not UTF-8: JSON could not carry it, so every write would fail.
    c = candidate("pod-\xE9");
    CHECK(refused(c) == "identity");
    CHECK(refused(candidate("pod-\xC3\xA9")) == "accepted");  // the same é in UTF-8
    c = candidate("pod-a");
    c.namespace_name = "Shop";
    CHECK(refused(c) == "namespace");
    c = candidate("pod-a");
    c.lease_name = "";
    CHECK(refused(c) == "lease_name");
    c = candidate("pod-a");
    c.retry_period = 0ms;
    CHECK(refused(c) == "retry_period");
    c = candidate("pod-a");
    c.renew_deadline = 2400ms;  // = 1.2 x 2 s
    CHECK(refused(c) == "renew_deadline");
    c = candidate("pod-a");
    c.lease_duration = 10s;  // = the renew deadline
    CHECK(refused(c) == "lease_duration");
}

TEST_CASE("leader election: an identity with a control character is refused naming the byte, its offset and the value") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    const auto message = [&](const std::string& identity) -> std::string {
        try {
            k8s::leader_elector e(api, candidate(identity), stepped);
        } catch (const rlscale::config_error& e) {
            return e.what();
        }
        return "accepted";
    };
    CHECK(message(std::string("pod-a\x01")) == "identity: contains a control character, \\x01 at offset 5, got 'pod-a\\u0001'");
    // The excerpt shows a tab as a space; the byte named is what tells it.
    CHECK(message("pod-a\tpod-b") == "identity: contains a control character, \\x09 at offset 5, got 'pod-a pod-b'");
    CHECK(message(std::string("pod\x7f")) == "identity: contains a control character, \\x7F at offset 3, got 'pod\\u007F'");
}

TEST_CASE("leader election: out-of-range durations are refused before any arithmetic on them, naming the value") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    const auto message = [&](k8s::leader_election_config c) -> std::string {
        try {
            k8s::leader_elector e(api, std::move(c), stepped);
        } catch (const rlscale::config_error& e) {
            return e.field() + ": " + e.what();
        }
        return "accepted";
    };
    auto c = candidate("pod-a");
    c.lease_duration = std::chrono::seconds(std::int64_t{INT32_MAX} + 1);
    const std::string too_long = message(c);
    CHECK(too_long.rfind("lease_duration: ", 0) == 0);
    CHECK(too_long.find("2^31-1 s") != std::string::npos);
    CHECK(too_long.find("got 2147483648 s") != std::string::npos);
    // In milliseconds this one wraps round to about +9.2e18 ms, far above
    // renew_deadline: compared after the conversion, it was accepted.
    c.lease_duration = std::chrono::seconds(-9'223'372'036'854'776);
    const std::string negative = message(c);
    CHECK(negative.rfind("lease_duration: ", 0) == 0);
    CHECK(negative.find("got -9223372036854776 s") != std::string::npos);
    c.lease_duration = std::chrono::seconds::min();
    CHECK(message(c).rfind("lease_duration: ", 0) == 0);
    c.lease_duration = 0s;
    CHECK(message(c).rfind("lease_duration: ", 0) == 0);
    // The largest renew deadline and retry period: refused, never multiplied.
    c = candidate("pod-a");
    c.renew_deadline = std::chrono::milliseconds::max();
    CHECK(message(c).rfind("lease_duration: ", 0) == 0);
    c = candidate("pod-a");
    c.retry_period = std::chrono::milliseconds::max();
    CHECK(message(c).rfind("renew_deadline: ", 0) == 0);
    c = candidate("pod-a");
    c.lease_duration = std::chrono::seconds(INT32_MAX);
    c.renew_deadline = std::chrono::milliseconds(std::int64_t{INT32_MAX} * 1000 - 1);
    c.retry_period = c.renew_deadline / 2;
    CHECK(message(c) == "accepted");
}

TEST_CASE("leader election: a Lease field that is not UTF-8 is refused by name before anything is sent") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::lease spec;
    spec.holder = "pod-\xE9";
    spec.duration_s = 15;
    CHECK_THROWS_WITH_AS((void)api.create_lease("default", "ctl", spec), doctest::Contains("lease.spec.holderIdentity: is not valid UTF-8"),
                         rlscale::config_error);
    spec.holder = "pod-a";
    spec.renew_time = "2026-01-01T00:00:00\xFF";
    CHECK_THROWS_WITH_AS((void)api.create_lease("default", "ctl", spec), doctest::Contains("lease.spec.renewTime: is not valid UTF-8"),
                         rlscale::config_error);
    spec.renew_time.clear();
    const k8s::lease made = api.create_lease("default", "ctl", spec);
    spec.acquire_time = "\xC3";
    CHECK_THROWS_WITH_AS((void)api.update_lease("default", "ctl", made, spec), doctest::Contains("lease.spec.acquireTime: is not valid UTF-8"),
                         rlscale::config_error);
    CHECK(api.get_lease("default", "ctl")->holder == "pod-a");
}

TEST_CASE("leader election: a Lease write answered 201 or 200 with a body that is not a Lease is write_outcome_unknown, sent once") {
    // The write was applied; only its answer is unreadable, so it is not the
    // transport_error that says nothing changed.
    httplib::Server garbled;
    std::atomic<int> posts{0};
    std::atomic<int> puts{0};
    const std::string not_a_lease = R"({"kind":"Lease","spec":[)";
    garbled.Post(R"(/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases)", [&](const httplib::Request&, httplib::Response& rs) {
        ++posts;
        rs.status = 201;
        rs.set_content(not_a_lease, "application/json");
    });
    garbled.Put(R"(/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases/([^/]+))", [&](const httplib::Request&, httplib::Response& rs) {
        ++puts;
        rs.status = 200;
        rs.set_content(not_a_lease, "application/json");
    });
    const int port = garbled.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    std::thread serving([&] { garbled.listen_after_bind(); });
    for (int i = 0; i < 1000 && !garbled.is_running(); ++i) std::this_thread::sleep_for(2ms);
    k8s::client_config c = k8s::explicit_config("http://127.0.0.1:" + std::to_string(port), "tok", "");
    c.read_timeout = 5s;
    const k8s::client api(c);
    k8s::lease spec;
    spec.holder = "pod-a";
    spec.duration_s = 15;
    CHECK_THROWS_WITH_AS((void)api.create_lease("shop", "ctl", spec), doctest::Contains("POST"), k8s::write_outcome_unknown);
    k8s::lease read;
    read.resource_version = "501";
    CHECK_THROWS_WITH_AS((void)api.update_lease("shop", "ctl", read, spec), doctest::Contains("PUT"), k8s::write_outcome_unknown);
    CHECK(posts == 1);
    CHECK(puts == 1);
    garbled.stop();
    serving.join();
}

TEST_CASE("micro_time writes the API's MicroTime in UTC with microseconds") {
    using namespace std::chrono;
    CHECK(k8s::micro_time(system_clock::time_point(0s)) == "1970-01-01T00:00:00.000000Z");
    CHECK(k8s::micro_time(system_clock::time_point(1'780'000'000s + 123456us)) == "2026-05-28T20:26:40.123456Z");
    CHECK(k8s::micro_time(system_clock::time_point(-1us)) == "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("leader_election on its threads: one leader, a holder whose renewals hang stops leading at the deadline, a successor takes over") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    const auto fast = [](const std::string& id) {
        auto c = candidate(id);
        c.lease_duration = 2s;
        c.renew_deadline = 800ms;
        c.retry_period = 100ms;
        return c;
    };
    std::atomic<int> a_lost{0}, b_lost{0};
    k8s::leader_election a(api, fast("pod-a"), [&] { ++a_lost; });
    const auto until = [](const auto& cond, std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!cond() && steady::now() < end) std::this_thread::sleep_for(5ms);
        return cond();
    };
    REQUIRE(until([&] { return a.is_leader(); }, 5s));
    k8s::leader_election b(api, fast("pod-b"), [&] { ++b_lost; });
    std::this_thread::sleep_for(500ms);
    CHECK_FALSE(b.is_leader());

    // Every request now hangs 3 s: A's renewals time out (the election cuts
    // each request after renew_deadline / 3), and A stops leading 0.8 s
    // after its last renewal, long before a 3-s answer could come.
    server.set_delay(3000ms);
    const auto hung = steady::now();
    REQUIRE(until([&] { return a_lost.load() == 1; }, 2500ms));
    CHECK(steady::now() - hung < 2000ms);  // not when the 3-s request answers
    CHECK_FALSE(a.is_leader());
    // Never two leaders: B takes over only after the requests answer again
    // and the record has not changed for 2 s.
    bool both = false;
    CHECK_FALSE(until([&] { both = both || (a.is_leader() && b.is_leader()); return b.is_leader(); }, 1000ms));
    server.set_delay(0ms);
    CHECK(until([&] { both = both || (a.is_leader() && b.is_leader()); return b.is_leader(); }, 10s));
    CHECK_FALSE(both);
    CHECK(a_lost.load() == 1);
    CHECK_FALSE(a.is_leader());  // a candidate that lost does not compete again
    CHECK(b_lost.load() == 0);
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-b");

    // The Lease deleted and created again by C (as an operator forcing a
    // failover would): B reads another holder and stops leading at once.
    server.put("shop", "rlscale-controller",
               {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "rlscale-controller"}, {"namespace", "shop"}}},
                {"spec", {{"holderIdentity", "pod-c"}, {"leaseDurationSeconds", 2}}}});
    const auto taken = steady::now();
    REQUIRE(until([&] { return b_lost.load() == 1; }, 2s));
    CHECK(steady::now() - taken < 600ms);  // well before the 800-ms renew deadline
    CHECK_FALSE(b.is_leader());

    // A clean stop of a replica that holds the Lease hands it back.
    CHECK_FALSE(b.stop());  // not the holder any more: nothing sent
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-c");
    CHECK_FALSE(a.stop());
    std::atomic<int> d_lost{0};
    server.put("shop", "rlscale-controller", json());
    k8s::leader_election d(api, fast("pod-d"), [&] { ++d_lost; });
    REQUIRE(until([&] { return d.is_leader(); }, 5s));
    CHECK(d.stop());
    CHECK_FALSE(d.is_leader());
    CHECK_FALSE(server.lease("shop", "rlscale-controller").at("spec").contains("holderIdentity"));
    CHECK(d_lost.load() == 0);
}

TEST_CASE("leader election: the holder renews with one conditional write, and reads the Lease only when that write fails") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    k8s::leader_elector a(api, candidate("pod-a"), stepped);
    REQUIRE(a.try_acquire_or_renew(t0, wall0));  // a read (404), then the create
    CHECK(server.reads() == 1);
    CHECK(server.writes() == 1);
    // Renewals: one PUT each, no read.
    REQUIRE(a.try_acquire_or_renew(t0 + 2s, wall0 + 2s));
    REQUIRE(a.try_acquire_or_renew(t0 + 4s, wall0 + 4s));
    CHECK(server.reads() == 1);
    CHECK(server.writes() == 3);
    json l = server.lease("shop", "rlscale-controller");
    CHECK(l.at("spec").at("acquireTime") == k8s::micro_time(wall0));
    CHECK(l.at("spec").at("renewTime") == k8s::micro_time(wall0 + 4s));
    CHECK_FALSE(l.at("spec").contains("leaseTransitions"));
    // Someone else wrote the Lease: the conditional write is a 409, the
    // attempt reads the Lease, finds another holder and does not lead.
    l["spec"]["holderIdentity"] = "pod-c";
    server.put("shop", "rlscale-controller", l);
    CHECK_FALSE(a.try_acquire_or_renew(t0 + 6s, wall0 + 6s));
    CHECK(a.another_holds());
    CHECK(a.holder() == "pod-c");
    CHECK(server.reads() == 2);
    CHECK(server.writes() == 3);
    CHECK_FALSE(a.leading(t0 + 6s));
    // The Lease deleted while held: the write is a 404, the read finds none, and the Lease is created again.
    k8s::leader_elector d(api, candidate("pod-d"), stepped);
    server.put("shop", "rlscale-controller", json());
    REQUIRE(d.try_acquire_or_renew(t0, wall0));
    server.put("shop", "rlscale-controller", json());
    const int reads = server.reads();
    REQUIRE(d.try_acquire_or_renew(t0 + 2s, wall0 + 2s));
    CHECK(server.reads() == reads + 1);
    CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-d");
    CHECK(d.leading(t0 + 2s));
}

TEST_CASE("leader election: a client whose writes are gated on the election's own leadership still takes the Lease") {
    k8s::test::lease_server server;
    const auto until = [](const auto& cond, std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!cond() && steady::now() < end) std::this_thread::sleep_for(5ms);
        return cond();
    };
    SUBCASE("leader_election, gated on its is_leader()") {
        k8s::client api = api_for(server);
        std::optional<k8s::leader_election> election;
        api.gate_writes([&election] { return election && election->is_leader(); }, "not the leader");
        auto c = candidate("pod-a");
        c.lease_duration = 2s;
        c.renew_deadline = 800ms;
        c.retry_period = 100ms;
        election.emplace(api, c, [] {});
        REQUIRE_MESSAGE(until([&] { return election->is_leader(); }, 5s), election->last_error());
        CHECK(server.lease("shop", "rlscale-controller").at("spec").at("holderIdentity") == "pod-a");
        // Renewals go on past the first take, and the gate now lets the caller's writes through.
        const int writes = server.writes();
        CHECK(until([&] { return server.writes() >= writes + 2; }, 2s));
        CHECK(election->is_leader());
        CHECK(election->stop());
        CHECK_FALSE(server.lease("shop", "rlscale-controller").at("spec").contains("holderIdentity"));
    }
    SUBCASE("leader_elector, whose client refuses every write") {
        k8s::client api = api_for(server);
        api.gate_writes([] { return false; }, "never");
        k8s::leader_elector a(api, candidate("pod-a"), stepped);
        CHECK_MESSAGE(a.try_acquire_or_renew(t0, wall0), a.last_error());
        CHECK_MESSAGE(a.try_acquire_or_renew(t0 + 2s, wall0 + 2s), a.last_error());
        CHECK(a.release(wall0 + 3s));
        CHECK(server.writes() == 3);
        // The caller's own writes through that client are still refused.
        CHECK_THROWS_AS((void)api.create_lease("shop", "other", k8s::lease{}), k8s::write_refused);
    }
}

TEST_CASE("leader election: an attempt's requests end within the renew deadline, whatever the client's timeouts and retries") {
    k8s::test::lease_server server;
    // A client that would wait 25 s per request and try 5 times.
    k8s::client_config slow = k8s::explicit_config(server.url(), "tok", "");
    slow.connect_timeout = 5s;
    slow.read_timeout = 10s;
    slow.write_timeout = 10s;
    slow.max_attempts = 5;
    const k8s::client api(slow);
    auto c = candidate("pod-a");
    c.lease_duration = 2s;
    c.renew_deadline = 900ms;
    c.retry_period = 100ms;
    SUBCASE("one attempt of leader_elector") {
        k8s::leader_elector a(api, c, stepped);
        server.set_delay(3000ms);  // every request hangs 3 s
        const auto started = steady::now();
        CHECK_FALSE(a.try_acquire_or_renew(t0, wall0));
        CHECK(steady::now() - started < 1500ms);  // one read, cut at 900 ms
        CHECK(a.last_error().find("GET") != std::string::npos);
        server.set_delay(0ms);
    }
    SUBCASE("stop() of a leader_election whose requests hang") {
        std::optional<k8s::leader_election> election;
        election.emplace(api, c, [] {});
        const auto until = [](const auto& cond, std::chrono::milliseconds limit) {
            const auto end = steady::now() + limit;
            while (!cond() && steady::now() < end) std::this_thread::sleep_for(5ms);
            return cond();
        };
        REQUIRE(until([&] { return election->is_leader(); }, 5s));
        server.set_delay(3000ms);
        std::this_thread::sleep_for(300ms);  // a renewal is under way and hangs
        const auto stopping = steady::now();
        (void)election->stop();  // the renewal and the release: each cut at 900 ms
        CHECK(steady::now() - stopping < 2500ms);
        server.set_delay(0ms);
    }
}

TEST_CASE("leader_election on its threads: a holder whose every request takes over a quarter of the renew deadline keeps leading") {
    k8s::test::lease_server server;
    const k8s::client api = api_for(server);
    auto c = candidate("pod-a");
    c.lease_duration = 5s;
    c.renew_deadline = 3500ms;
    c.retry_period = 100ms;
    std::atomic<int> lost{0};
    k8s::leader_election a(api, c, [&] { ++lost; });
    const auto until = [](const auto& cond, std::chrono::milliseconds limit) {
        const auto end = steady::now() + limit;
        while (!cond() && steady::now() < end) std::this_thread::sleep_for(5ms);
        return cond();
    };
    REQUIRE(until([&] { return a.is_leader(); }, 5s));
    // Every request now takes 900 ms (the election's timeouts are
    // renew_deadline / 3, 1.17 s): a renewal of one write ends 1.8 s after
    // the start of the renewal before it, 1.7 s within the 3.5-s deadline.
    // (A read and a write per renewal, and the retry period counted from
    // the end of the last, needed 3.7 s and lost the Lease.)
    server.set_delay(900ms);
    const int writes = server.writes();
    bool always = true;
    const auto end = steady::now() + 5s;
    while (steady::now() < end) {
        always = always && a.is_leader();
        std::this_thread::sleep_for(20ms);
    }
    CHECK(always);
    CHECK(lost.load() == 0);
    CHECK(server.writes() - writes >= 4);  // one every 1.0 s
    server.set_delay(0ms);
    CHECK(a.stop());
}
