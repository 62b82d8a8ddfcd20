#include <rlscale/rl/shared_network.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

namespace test_rl_shared_network {

using namespace rlscale;
using namespace rlscale::rl;

namespace {
/// A network whose every parameter is `v`: any mix of two snapshots shows.
nn::mlp<float> constant_net(float v) {
    nn::mlp<float> net({3, 8, 2});
    net.parameters().setConstant(v);
    return net;
}
}  // namespace

TEST_CASE("shared_network publishes snapshots and refuses another architecture or non-finite weights") {
    auto w = std::make_shared<shared_network<float>>(constant_net(0));
    CHECK_FALSE(w->ready());
    w->publish(constant_net(1));
    CHECK(w->ready());
    CHECK(w->version() == 1);
    CHECK(w->acquire()->parameters()[0] == 1.0F);
    nn::mlp<float> other({3, 4, 2});
    CHECK_THROWS_WITH_AS(w->publish(other), doctest::Contains("another architecture"), error);
    CHECK_THROWS_WITH_AS(w->publish(other), doctest::Contains("(3→4 "), error);
    nn::mlp<float> nan_net = constant_net(2);
    nan_net.parameters()[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(w->publish(nan_net), doctest::Contains("non-finite"), error);
    CHECK(w->version() == 1);
    CHECK(w->acquire()->parameters()[0] == 1.0F);
    {
        const auto held = w->acquire();  // a reader holding a snapshot does not block publishing
        w->publish(constant_net(3));
        w->publish(constant_net(4));
        CHECK(held->parameters()[0] == 1.0F);
        CHECK(w->acquire()->parameters()[0] == 4.0F);
    }
}

TEST_CASE("shared_network load: a rejected checkpoint leaves the serving weights") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_TEST_TMPDIR) / "shared_network";
    std::filesystem::create_directories(dir);
    auto w = std::make_shared<shared_network<float>>(constant_net(0));
    nn::save_checkpoint(dir / "good.json", constant_net(0.5F));
    w->load(dir / "good.json");
    CHECK(w->acquire()->parameters()[3] == 0.5F);
    nn::save_checkpoint(dir / "wrong_shape.json", nn::mlp<float>({3, 4, 2}));
    CHECK_THROWS_AS(w->load(dir / "wrong_shape.json"), checkpoint_error);
    std::ofstream(dir / "truncated.json") << "{\"format\": \"rlscale.checkpoint\", \"vers";
    CHECK_THROWS_AS(w->load(dir / "truncated.json"), checkpoint_error);
    CHECK_THROWS_AS(w->load(dir / "missing.json"), checkpoint_error);
    CHECK(w->version() == 1);
    CHECK(w->acquire()->parameters()[3] == 0.5F);
}

TEST_CASE("shared_network readers never see a half-written snapshot while a writer publishes") {
    auto w = std::make_shared<shared_network<float>>(constant_net(0));
    w->publish(constant_net(1));
    std::atomic<bool> stop{false};
    std::atomic<long> torn{0};
    std::atomic<long> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (!stop.load()) {
                const auto g = w->acquire();
                const auto p = g->parameters();
                if ((p.array() != p[0]).any()) torn.fetch_add(1);
                reads.fetch_add(1);
            }
        });
    }
    // Publish while the readers read: start once they all run, go on until
    // they have read many snapshots (whatever the scheduler does).
    while (reads.load() < 3) std::this_thread::yield();
    int i = 2;
    for (; i < 3000 || (reads.load() < 20000 && i < 1'000'000); ++i) w->publish(constant_net(static_cast<float>(i)));
    stop.store(true);
    for (auto& t : readers) t.join();
    CHECK(torn.load() == 0);
    CHECK(reads.load() >= 3);
    CHECK(w->acquire()->parameters()[0] == static_cast<float>(i - 1));
}

TEST_CASE("greedy_agent picks the largest Q-value and refuses what it cannot act on") {
    nn::mlp<float> net({2, 3});
    net.parameters().setZero();
    // output = W x + b with b = (0, 1, 0.5): action 1 for x = 0
    net.bias(0) << 0.0F, 1.0F, 0.5F;
    auto w = std::make_shared<shared_network<float>>(net);
    greedy_agent agent(w);
    const std::array<float, 2> x{0, 0};
    CHECK(agent.act(x) == 3);  // nothing published yet
    w->publish(net);
    CHECK(agent.action_count() == 3);
    CHECK(agent.act(x) == 1);
    net.bias(0) << 0.0F, 1.0F, 2.0F;  // a newer snapshot: action 2
    w->publish(net);
    CHECK(agent.act(x) == 2);
    CHECK(agent.act(x) == 2);
    const std::array<float, 3> wrong{0, 0, 0};
    CHECK(agent.act(wrong) == 3);
}

TEST_CASE("shared_network::copy_if_newer hands over each newer snapshot once and nothing before the first publish") {
    auto w = std::make_shared<shared_network<float>>(constant_net(0));
    std::uint64_t held = 0;
    int calls = 0;
    float seen = -1;
    const auto copy = [&](const nn::mlp<float>& net) {
        ++calls;
        seen = net.parameters().maxCoeff();
    };
    CHECK_FALSE(w->copy_if_newer(held, copy));
    CHECK(calls == 0);
    CHECK(held == 0);
    w->publish(constant_net(1));
    CHECK(w->copy_if_newer(held, copy));
    CHECK(calls == 1);
    CHECK(seen == 1);
    CHECK(held == 1);
    CHECK(w->copy_if_newer(held, copy));  // nothing newer
    CHECK(calls == 1);
    w->publish(constant_net(2));
    w->publish(constant_net(3));
    CHECK(w->copy_if_newer(held, copy));  // only the newest is handed over
    CHECK(calls == 2);
    CHECK(seen == 3);
    CHECK(held == 3);
    // The snapshot is released after the copy: publishing goes on without waiting.
    for (int k = 0; k < 5; ++k) w->publish(constant_net(4));
    CHECK(w->copy_if_newer(held, copy));
    CHECK(seen == 4);
    CHECK(held == 8);
}

TEST_CASE("network_follower copies each newer snapshot once and holds no slot between refreshes") {
    auto w = std::make_shared<shared_network<float>>(constant_net(0));
    network_follower<float> f(w);
    CHECK_FALSE(f.refresh());  // nothing published
    CHECK(f.version() == 0);
    for (int k = 1; k <= 7; ++k) {
        CAPTURE(k);
        w->publish(constant_net(static_cast<float>(k)));
        CHECK(f.net().parameters().maxCoeff() == static_cast<float>(k - 1));  // not refreshed yet
        REQUIRE(f.refresh());
        CHECK(f.version() == static_cast<std::uint64_t>(k));
        CHECK(f.net().parameters().minCoeff() == static_cast<float>(k));
        CHECK(f.net().parameters().maxCoeff() == static_cast<float>(k));
        REQUIRE(f.refresh());  // nothing newer: the copy stays
        CHECK(f.version() == static_cast<std::uint64_t>(k));
    }
    // Between refreshes the follower holds no slot: publishes go on, and the
    // next refresh takes the newest.
    for (int k = 0; k < 9; ++k) w->publish(constant_net(100));
    REQUIRE(f.refresh());
    CHECK(f.net().parameters().minCoeff() == 100);
    CHECK_THROWS_AS(network_follower<float>(nullptr), config_error);
}

}  // namespace test_rl_shared_network
