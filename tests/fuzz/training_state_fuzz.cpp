// Fuzz target: the learners' training states (load_training_state of
// rl::dqn, rl::ppo discrete and continuous, rl::ddpg and
// multiagent::simppo_coordinator; include/rlscale/nn/detail/state_io.hpp and
// core/detail/binary_io.hpp).
//
// Input: one byte choosing the learner (its value mod 6: 0 dqn, 1 ppo
// discrete, 2 ppo continuous, 3 ddpg (TD3), 4 the SIMPPO coordinator, 5 dqn
// given the rest unframed), then a payload. For 0–4 the target frames the
// payload itself with the header a real saved state of that learner starts
// with (magic line, version, byte order, value size), its length and its
// checksum, so the fuzzer reaches past the checksum into every field; for
// 5 the bytes are the whole file, which exercises the frame. Inside the
// coordinator's state each agent's learner state keeps its own checksum, so
// its fields are reached through cases 0–3.
//
// Property: loading throws nothing but rlscale::checkpoint_error; a refused
// load leaves the learner as it was (the state it saves after the refusal
// is byte for byte the one it saved before); a loaded learner's actor is
// finite, and it acts and trains for a few steps with nothing escaping but
// rlscale::error. Each input is loaded into a learner (or coordinator)
// already driven a few steps, so that what a refused load must leave as it
// was differs from a fresh one's (step and update counters, a filled replay
// or a rollout under way, exploration noise, optimiser moments): a partial
// load that resets or clears any of it before throwing is caught. The driven
// learner is built once per process and copied for each input (the
// coordinator, which cannot be copied, is loaded from its saved state).
//
// The seed corpus is made by this file's own main, built with
// RLSCALE_TRAINING_STATE_CORPUS (small learners trained a few steps, their
// states with the frame cut off; each is checked to load, framed again as
// the target frames its input, before it is written). From the repository's root:
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
    c.threads = 1;  // fixed: unset, it would depend on the machine's cores
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
std::string state_of(const Learner& l) {
    std::ostringstream out;
    l.save_training_state(out);
    return out.str();
}

/// The frame's fields before the payload's length: the magic line, then
/// the version, the byte-order mark and the value size (a std::uint32_t
/// each).
constexpr std::size_t header_after_magic = 3 * sizeof(std::uint32_t);

/// The header of `state`, a saved training state: what the target frames
/// every payload with, so a new format version or value size is followed.
std::string header_of(const std::string& state) { return state.substr(0, state.find('\n') + 1 + header_after_magic); }

/// `payload` framed as read_frame expects, after `header`.
std::string framed(const std::string& header, std::string_view payload) {
    std::string out = header;
    const auto put = [&out](std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(payload.size());
    out.append(payload);
    put(rlscale::detail::fnv1a64(payload));
    return out;
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

/// The actor's parameters (DQN: the online network's).
template <typename Learner>
Eigen::VectorXf actor_of(const Learner& l) {
    if constexpr (std::is_same_v<Learner, rl::dqn<float>>) return l.online().parameters();
    else return l.actor().parameters();
}

/// Loads `bytes` into `l`, which holds a state `before` (its saved bytes):
/// refused, `l` must save the same bytes again; loaded, its actor must be
/// finite and it must act and train on.
template <typename Learner>
void check_learner(Learner& l, const std::string& bytes) {
    const std::string before = state_of(l);
    if (!load(l, bytes)) {
        RLSCALE_FUZZ_CHECK(state_of(l) == before, target, "a refused load changed the learner");
        return;
    }
    RLSCALE_FUZZ_CHECK(finite(actor_of(l)), target, "a loaded actor holds a value not finite");
    allowed("drive", [&] { drive(l, 6, 3); });
}

multiagent::simppo_coordinator make_coordinator() { return multiagent::simppo_coordinator(simppo_small()); }

/// What `make` builds, driven a few steps: built once per process, for each
/// input to be loaded into a copy of.
template <auto make>
const auto& driven() {
    static const auto l = [] {
        auto x = make();
        const std::string fresh = state_of(x);
        drive(x, 9, 2);  // updates taken, the replay wrapped or a rollout under way
        RLSCALE_FUZZ_CHECK(state_of(x) != fresh, target, "driving a learner left its state as built (the driven state tests nothing more)");
        return x;
    }();
    return l;
}

/// Makes `c` (as make_coordinator builds it) a coordinator with one agent
/// driven a few ticks. A coordinator cannot be copied: the driven one's saved
/// state is built once per process, and loaded into each input's.
void restore_driven(multiagent::simppo_coordinator& c) {
    static const std::string saved = [] {
        multiagent::simppo_coordinator c = make_coordinator();
        c.add_agent("kept", "cpu");
        const std::string fresh = state_of(c);
        drive(c, 5);  // one update, a tick of the next rollout
        std::string bytes = state_of(c);
        RLSCALE_FUZZ_CHECK(bytes != fresh, target, "driving the coordinator left its state as built (the driven state tests nothing more)");
        return bytes;
    }();
    RLSCALE_FUZZ_CHECK(load(c, saved) && state_of(c) == saved, target, "the driven coordinator's state did not load back as it was saved");
}

void check_coordinator(const std::string& bytes) {
    multiagent::simppo_coordinator c = make_coordinator();
    restore_driven(c);
    const std::string before = state_of(c);
    if (!load(c, bytes)) {
        RLSCALE_FUZZ_CHECK(state_of(c) == before, target, "a refused load changed the coordinator");
        return;
    }
    for (std::size_t i = 0; i < c.agent_count(); ++i) {
        RLSCALE_FUZZ_CHECK(finite(c.learner(i).actor().parameters()), target, "a loaded agent's actor holds a value not finite");
    }
    allowed("drive", [&] { drive(c, 4); });
    allowed("add_agent", [&] { (void)c.add_agent("new", "cpu"); });
}

/// `payload` framed behind the header of what `make` builds (taken once per
/// process), loaded into a copy of driven<make>().
template <auto make>
void check_framed(std::string_view payload) {
    static const std::string header = header_of(state_of(make()));
    if constexpr (std::is_same_v<decltype(make()), multiagent::simppo_coordinator>) {
        check_coordinator(framed(header, payload));
    } else {
        auto l = driven<make>();
        check_learner(l, framed(header, payload));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 6) {
        case 0: check_framed<make_dqn>(payload); break;
        case 1: check_framed<make_ppo_discrete>(payload); break;
        case 2: check_framed<make_ppo_continuous>(payload); break;
        case 3: check_framed<make_ddpg>(payload); break;
        case 4: check_framed<make_coordinator>(payload); break;
        default: {
            auto l = driven<make_dqn>();
            check_learner(l, std::string(payload));
            break;
        }
    }
    return 0;
}

#ifdef RLSCALE_TRAINING_STATE_CORPUS
#include <filesystem>
#include <fstream>

namespace {

/// The payload of a saved state: the frame (header, length, checksum) cut
/// off.
std::string payload_of(const std::string& state) {
    const std::size_t start = header_of(state).size() + sizeof(std::uint64_t);
    return state.substr(start, state.size() - start - sizeof(std::uint64_t));
}

void write(const std::filesystem::path& dir, const std::string& name, char selector, const std::string& bytes) {
    std::ofstream out(dir / name, std::ios::binary);
    out.put(selector);
    out << bytes;
}

/// A seed that did not load would only exercise a refusal: each is loaded
/// framed again as the target frames its input.
template <typename Learner>
void check_loads(Learner fresh, const std::string& state, const char* name) {
    RLSCALE_FUZZ_CHECK(load(fresh, framed(header_of(state), payload_of(state))), target, std::string("the seed ") + name + " does not load");
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
        check_loads(make_coordinator(), state_of(c), "simppo-two-agents-one-base");
        write(dir, "simppo-two-agents-one-base", 4, payload_of(state_of(c)));
    }
    return 0;
}
#endif
