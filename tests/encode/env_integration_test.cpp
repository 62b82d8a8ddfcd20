// The seed encoders and rewards plugged into the simulator's joint
// environment, as docs/encoders-rewards.md shows.
#include <rlscale/encode/encode.hpp>
#include <rlscale/reward/reward.hpp>
#include <rlscale/sim/env.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace test_encode_env_integration {

using namespace rlscale;

namespace {

sim::cluster_config two_functions() {
    sim::cluster_config c{.node = {.cores = 8, .memory_mb = 16384}};
    c.functions.push_back({.profile = sim::profile("hotel-app-geo"), .load = sim::constant(20, 1e5, 1e5),
                           .max_replicas = 10, .initial_replicas = 2});
    c.functions.push_back({.profile = sim::profile("hotel-app-profile"), .load = sim::constant(80, 1e5, 1e5),
                           .max_replicas = 10, .initial_replicas = 1});
    return c;
}

double rate(const function_metrics& m) { return static_cast<double>(m.arrivals) / m.interval_s; }

}  // namespace

TEST_CASE("encode env: one simppo encoder for two functions keeps each function's AC apart") {
    sim::cluster_env<simppo_encoder, team_average<simppo_reward>> env(two_functions(), {.control_interval_s = 5},
                                                                      simppo_encoder({}, 2));
    static_cast<void>(env.reset(7));
    std::vector<double> previous{0, 0};
    const std::vector<double> hold{0, 0};
    auto r = env.step(hold);
    for (std::size_t f = 0; f < 2; ++f) previous[f] = rate(r.info[f]);
    for (int t = 0; t < 4; ++t) {
        r = env.step(hold);
        REQUIRE(r.observation_valid);
        for (std::size_t f = 0; f < 2; ++f) {
            CAPTURE(f);
            const double now = rate(r.info[f]);
            // AC = (AR_t - AR_{t-1}) / max(AR_t, AR_{t-1}) of the same function
            CHECK(env.observation_of(f)[3] == doctest::Approx(simppo_arrival_change(now, previous[f])));
            previous[f] = now;
        }
        CHECK(std::isfinite(r.reward));
    }
    // a reset goes back in time: every AC restarts at 0
    static_cast<void>(env.reset(8));
    CHECK(env.observation_of(0)[3] == 0.0f);
    CHECK(env.observation_of(1)[3] == 0.0f);
}

TEST_CASE("encode env: the seed encoders and rewards build in cluster_env, a stateful encoder with the function count") {
    sim::cluster_env<scarlet_encoder, scarlet_reward> scarlet(two_functions(), {.control_interval_s = 5});
    CHECK(scarlet.reset(1).size() == 2 * scarlet_encoder::feature_count);
    // FIRM's encoder remembers each function's last arrival rate: one built
    // for one function (the default) is refused for two.
    CHECK_THROWS_AS((sim::cluster_env<firm_encoder, team_average<firm_reward>>(two_functions(), {.control_interval_s = 5})),
                    config_error);
    sim::cluster_env<firm_encoder, team_average<firm_reward>> firm(two_functions(), {.control_interval_s = 5}, firm_encoder({}, 2));
    CHECK(firm.reset(1).size() == 2 * firm_encoder::feature_count);
    const std::vector<double> hold{0, 0};
    const double reward = scarlet.step(hold).reward;
    CHECK((reward == -1.0 || (reward >= 0 && reward <= 1)));
    const double firm_reward_value = firm.step(hold).reward;
    CHECK((firm_reward_value >= 0 && firm_reward_value <= 2));
}

TEST_CASE("encode env: a reset right after a reset observes as a fresh environment does (the encoder's history restarts)") {
    sim::cluster_env<simppo_encoder, team_average<simppo_reward>> twice(two_functions(), {.control_interval_s = 5}, simppo_encoder({}, 2));
    sim::cluster_env<simppo_encoder, team_average<simppo_reward>> fresh(two_functions(), {.control_interval_s = 5}, simppo_encoder({}, 2));
    (void)twice.reset(1);
    const auto again = twice.reset(2);
    const std::vector<float> a(again.begin(), again.end());
    const auto once = fresh.reset(2);
    CHECK(a == std::vector<float>(once.begin(), once.end()));
}

TEST_CASE("encode env: observation_valid() says whether reset's observation was refused, as a step's result does") {
    // No replica at time 0 and requests arriving: the first interval completes
    // none with requests pending, which polimi's encoder refuses.
    sim::cluster_config c{.node = {.cores = 8, .memory_mb = 16384}};
    c.functions.push_back({.profile = sim::profile("hotel-app-geo"), .load = sim::constant(20, 1e5, 1e5),
                           .max_replicas = 10, .initial_replicas = 0});
    sim::cluster_env<polimi_encoder, scarlet_reward> env(c, {.control_interval_s = 5}, polimi_encoder(0.01));
    const auto first = env.reset(3);
    CHECK_FALSE(env.observation_valid());
    for (const float v : first) CHECK(v == 0.0F);  // the refused slice is zeros
    const std::vector<scaling_target> two{{.replicas = 2}};
    bool accepted = false;
    for (int t = 0; t < 20 && !accepted; ++t) {
        const sim::step_result r = env.step_to(two);
        CHECK(env.observation_valid() == r.observation_valid);
        accepted = r.observation_valid;
    }
    CHECK(accepted);  // once replicas serve, the encoder accepts again
    // A reset with replicas from the start is accepted.
    c.functions[0].initial_replicas = 2;
    sim::cluster_env<polimi_encoder, scarlet_reward> served(c, {.control_interval_s = 5}, polimi_encoder(0.01));
    (void)served.reset(3);
    CHECK(served.observation_valid());
}

}  // namespace test_encode_env_integration
