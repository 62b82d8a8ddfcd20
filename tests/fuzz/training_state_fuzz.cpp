// Fuzz target: the learners' training states (load_training_state of
// rl::dqn, rl::ppo discrete and continuous, rl::ddpg and
// multiagent::simppo_coordinator; include/rlscale/nn/detail/state_io.hpp and
// core/detail/binary_io.hpp).
//
// Input: one byte choosing the learner (its value mod 6: 0 dqn, 1 ppo
// discrete, 2 ppo continuous, 3 ddpg (TD3), 4 the SIMPPO coordinator, 5 dqn
// given the rest unframed), then a payload. For 0–4 the target frames the
// payload itself (magic line, version, byte order, value size, length,
// checksum), so the fuzzer reaches past the checksum into every field; for
// 5 the bytes are the whole file, which exercises the frame.
//
// Property: loading throws nothing but rlscale::checkpoint_error; a refused
// load leaves the learner's parameters and counters as they were; a learner
// that loads then acts and trains for a few steps with nothing escaping but
// rlscale::error, and its parameters stay finite.
//
// The seed corpus is made by this file's own main, built with
// RLSCALE_TRAINING_STATE_CORPUS (small learners trained a few steps, their
// states with the frame cut off; each is checked to load before it is
// written). From the repository's root:
//   g++ -std=c++20 -O1 -Iinclude -Itests/fuzz -isystem /usr/include/eigen3 -DRLSCALE_TRAINING_STATE_CORPUS
//       tests/fuzz/training_state_fuzz.cpp -o /tmp/make_corpus
//   /tmp/make_corpus tests/fuzz/corpus/training_state

#include "fuzz_check.hpp"

#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/multiagent/simppo.hpp>
#include <rlscale/rl/ddpg.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/ppo.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

constexpr std::string_view target = "training_state";
using namespace rlscale;

constexpr std::size_t obs = 2;

rl::dqn<float> make_dqn() {
    rl::dqn_config c;
    c.hidden = {4};
    c.batch_size = 2;
    c.replay_capacity = 4;
    c.learning_starts = 2;
    return rl::dqn<float>(obs, {.heads = 1, .actions_per_head = 2}, c, 1);
}

rl::ppo_config ppo_small() {
    rl::ppo_config c;
    c.actor_hidden = {4};
    c.critic_hidden = {4};
    c.rollout_steps = 4;
    c.minibatch_size = 2;
    c.epochs = 1;
    return c;
}
rl::ppo<float, std::int32_t> make_ppo_discrete() { return {obs, obs, rl::q_layout{.heads = 1, .actions_per_head = 3}, ppo_small(), 1}; }
rl::ppo<float, float> make_ppo_continuous() { return {obs, obs, 1, ppo_small(), 1}; }

rl::ddpg<float> make_ddpg() {
    rl::ddpg_config c;
    c.actor_hidden = {4};
    c.critic_hidden = {4};
    c.batch_size = 2;
    c.replay_capacity = 4;
    c.learning_starts = 2;
    c.twin_critics = true;
    c.policy_noise = 0.2;
    c.policy_delay = 2;
    c.exploration = rl::ddpg_exploration::ornstein_uhlenbeck;
    return rl::ddpg<float>(obs, {rl::action_bound{.low = -1, .high = 1}}, c, 1);
}

multiagent::simppo_config simppo_small() {
    multiagent::simppo_config c;
    c.ppo.actor_hidden = {4};
    c.ppo.critic_hidden = {4};
    c.ppo.rollout_steps = 4;
    c.threads = 0;
    return c;
}

/// A few steps of acting and learning on random observations.
template <typename Learner>
void drive(Learner& l, int steps, std::uint64_t seed) {
    rng gen(seed);
    std::vector<float> o(obs);
    std::vector<float> next(obs);
    std::vector<typename Learner::value_type> a(l.action_width());
    for (auto& x : o) x = static_cast<float>(uniform(gen, -1, 1));
    for (int t = 0; t < steps; ++t) {
        l.explore(o, a);
        for (auto& x : next) x = static_cast<float>(uniform(gen, -1, 1));
        l.observe(o, a, static_cast<double>(o[0]), next, t % 5 == 4, false);
        o = next;
    }
}

/// A coordinator with two agents run for a few ticks with constant metrics.
void drive(multiagent::simppo_coordinator& c, int ticks) {
    const std::size_t n = c.agent_count();
    std::vector<function_metrics> m(n);
    std::vector<scaling_state> s(n);
    for (std::size_t i = 0; i < n; ++i) {
        m[i].interval_s = 15;
        m[i].arrivals = 30 + 10 * i;
        m[i].cpu_utilization = 0.5;
        s[i].time_s = 0;
    }
    std::vector<scaling_target> targets(n);
    c.begin_episode(m, s);
    for (int t = 0; t < ticks; ++t) {
        c.act(s, targets);
        for (std::size_t i = 0; i < n; ++i) {
            s[i].replicas = std::clamp(targets[i].replicas, s[i].min_replicas, s[i].max_replicas);
            s[i].time_s += 15;
        }
        (void)c.observe(m, s, t % 3 == 2);
    }
}

template <typename Learner>
std::string magic_of() {
    // The magic line is the saved state's first line.
    Learner l = [] {
        if constexpr (std::is_same_v<Learner, rl::dqn<float>>) return make_dqn();
        else if constexpr (std::is_same_v<Learner, rl::ppo<float, std::int32_t>>) return make_ppo_discrete();
        else if constexpr (std::is_same_v<Learner, rl::ppo<float, float>>) return make_ppo_continuous();
        else return make_ddpg();
    }();
    std::ostringstream out;
    l.save_training_state(out);
    const std::string s = out.str();
    return s.substr(0, s.find('\n') + 1);
}

/// `payload` framed as a learner's state with magic line `magic`.
std::string framed(std::string_view magic, std::string_view payload) {
    std::ostringstream out;
    rlscale::detail::write_frame(out, {.magic = magic, .version = 1, .value_size = sizeof(float), .kind = ""}, payload, "fuzz");
    return out.str();
}

/// Loads `bytes`; a checkpoint_error is an allowed refusal (false), anything
/// else fails the property.
template <typename Learner>
bool load(Learner& l, const std::string& bytes) {
    std::istringstream in(bytes);
    try {
        l.load_training_state(in);
        return true;
    } catch (const checkpoint_error&) {
    } catch (const std::exception& e) {
        fuzz::fail(target, std::string("load: an exception other than checkpoint_error escaped: ") + e.what());
    } catch (...) {
        fuzz::fail(target, "load: a non-std exception escaped");
    }
    return false;
}

/// Runs `f`; an rlscale::error is allowed (a learner may refuse a value a
/// loaded state leads to), anything else fails the property.
template <typename F>
void allowed(std::string_view step, F&& f) {
    try {
        f();
    } catch (const rlscale::error&) {
    } catch (const std::exception& e) {
        fuzz::fail(target, std::string(step) + ": an exception other than rlscale::error escaped: " + e.what());
    } catch (...) {
        fuzz::fail(target, std::string(step) + ": a non-std exception escaped");
    }
}

template <typename Vector>
bool finite(const Vector& v) {
    return v.allFinite();
}

template <typename Learner>
void check_learner(Learner& l, const std::string& bytes) {
    const Eigen::VectorXf before = l.actor().parameters();
    const std::uint64_t steps = l.steps();
    if (!load(l, bytes)) {
        RLSCALE_FUZZ_CHECK(l.actor().parameters() == before && l.steps() == steps, target, "a refused load changed the learner");
        return;
    }
    RLSCALE_FUZZ_CHECK(finite(l.actor().parameters()), target, "a loaded actor holds a value not finite");
    allowed("drive", [&] { drive(l, 6, 3); });
}

void check_dqn(rl::dqn<float>& l, const std::string& bytes) {
    const Eigen::VectorXf before = l.online().parameters();
    if (!load(l, bytes)) {
        RLSCALE_FUZZ_CHECK(l.online().parameters() == before && l.steps() == 0, target, "a refused load changed the learner");
        return;
    }
    RLSCALE_FUZZ_CHECK(finite(l.online().parameters()), target, "a loaded network holds a value not finite");
    allowed("drive", [&] { drive(l, 6, 3); });
}

void check_coordinator(const std::string& bytes) {
    multiagent::simppo_coordinator c(simppo_small());
    c.add_agent("kept", "cpu");
    const Eigen::VectorXf before = c.learner(0).actor().parameters();
    if (!load(c, bytes)) {
        RLSCALE_FUZZ_CHECK(c.agent_count() == 1 && c.name(0) == "kept" && c.learner(0).actor().parameters() == before, target,
                           "a refused load changed the coordinator");
        return;
    }
    for (std::size_t i = 0; i < c.agent_count(); ++i) {
        RLSCALE_FUZZ_CHECK(finite(c.learner(i).actor().parameters()), target, "a loaded agent's actor holds a value not finite");
    }
    allowed("drive", [&] { drive(c, 4); });
    allowed("add_agent", [&] { (void)c.add_agent("new", "cpu"); });
}

const std::string& simppo_magic() {
    static const std::string m = "rlscale.simppo.training_state\n";
    return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 6) {
        case 0: {
            auto l = make_dqn();
            static const std::string magic = magic_of<rl::dqn<float>>();
            check_dqn(l, framed(magic, payload));
            break;
        }
        case 1: {
            auto l = make_ppo_discrete();
            static const std::string magic = magic_of<rl::ppo<float, std::int32_t>>();
            check_learner(l, framed(magic, payload));
            break;
        }
        case 2: {
            auto l = make_ppo_continuous();
            static const std::string magic = magic_of<rl::ppo<float, float>>();
            check_learner(l, framed(magic, payload));
            break;
        }
        case 3: {
            auto l = make_ddpg();
            static const std::string magic = magic_of<rl::ddpg<float>>();
            check_learner(l, framed(magic, payload));
            break;
        }
        case 4:
            check_coordinator(framed(simppo_magic(), payload));
            break;
        default: {
            auto l = make_dqn();
            check_dqn(l, std::string(payload));
            break;
        }
    }
    return 0;
}

#ifdef RLSCALE_TRAINING_STATE_CORPUS
#include <filesystem>
#include <fstream>

namespace {

/// The payload of a saved state (its frame cut off): the magic line, 20
/// bytes of header, the payload, 8 bytes of checksum.
std::string payload_of(const std::string& state) {
    const std::size_t header = state.find('\n') + 1 + 20;
    return state.substr(header, state.size() - header - 8);
}

template <typename Learner>
std::string state_of(const Learner& l) {
    std::ostringstream out;
    l.save_training_state(out);
    return out.str();
}

void write(const std::filesystem::path& dir, const std::string& name, char selector, const std::string& bytes) {
    std::ofstream out(dir / name, std::ios::binary);
    out.put(selector);
    out << bytes;
}

/// A seed that did not load would only exercise a refusal.
template <typename Learner>
void check_loads(Learner fresh, const std::string& state, const char* name) {
    RLSCALE_FUZZ_CHECK(load(fresh, state), target, std::string("the seed ") + name + " does not load");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    {
        auto l = make_dqn();
        write(dir, "dqn-fresh", 0, payload_of(state_of(l)));
        drive(l, 9, 1);  // the replay wrapped, updates taken
        check_loads(make_dqn(), state_of(l), "dqn");
        write(dir, "dqn-trained", 0, payload_of(state_of(l)));
        write(dir, "dqn-whole-file", 5, state_of(l));
    }
    {
        auto l = make_ppo_discrete();
        drive(l, 6, 1);  // one update, two steps of the next rollout
        check_loads(make_ppo_discrete(), state_of(l), "ppo-discrete-mid-rollout");
        write(dir, "ppo-discrete-mid-rollout", 1, payload_of(state_of(l)));
    }
    {
        auto l = make_ppo_continuous();
        drive(l, 7, 1);
        check_loads(make_ppo_continuous(), state_of(l), "ppo-continuous-mid-rollout");
        write(dir, "ppo-continuous-mid-rollout", 2, payload_of(state_of(l)));
    }
    {
        auto l = make_ddpg();
        drive(l, 9, 1);
        check_loads(make_ddpg(), state_of(l), "ddpg-td3-trained");
        write(dir, "ddpg-td3-trained", 3, payload_of(state_of(l)));
    }
    {
        multiagent::simppo_coordinator c(simppo_small());
        c.add_agent("f0", "cpu");
        c.add_agent("f1", "io");
        drive(c, 5);
        c.refresh_base_models();
        multiagent::simppo_coordinator fresh(simppo_small());
        RLSCALE_FUZZ_CHECK(load(fresh, state_of(c)), target, "the seed simppo does not load");
        write(dir, "simppo-two-agents-one-base", 4, payload_of(state_of(c)));
    }
    return 0;
}
#endif
