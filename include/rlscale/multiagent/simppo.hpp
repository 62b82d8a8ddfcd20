#pragma once

/// SIMPPO's multi-agent framework (Qiu et al., SIMPPO, §6): one PPO agent
/// per function over a shared cluster, each actor reading its function's
/// local state, each critic the local state plus the auxiliary global state
/// of the other agents, every agent rewarded with the team average (or,
/// with simppo_config::team_weight below 1, a mix of the team average and
/// its own reward); agents added and removed while training runs, and base
/// models per function category for parameter sharing.

#include <rlscale/core/error.hpp>
#include <rlscale/core/function_metrics.hpp>
#include <rlscale/core/scaling.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/encode/simppo_global_state.hpp>
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/detail/worker_pool.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/nn/detail/state_io.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/reward/simppo_reward.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/shared_network.hpp>
#include <rlscale/rl/simppo_actions.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rlscale::multiagent {

/// Settings of the SIMPPO coordinator.
struct simppo_config {
    rl::ppo_config ppo = rl::ppo_config::simppo_multi_agent();  ///< every agent's learner (Table 2, minibatch 5)
    simppo_state_config state{};          ///< normalisation of local and global states
    simppo_reward_config reward{};        ///< α and the penalty
    rl::simppo_action_config actions{};   ///< step sizes and limits of the 7 actions
    bool global_state = true;   ///< critics read the auxiliary global state (false: zeros there, an ablation)
    /// Each agent's reward is team_weight × the team average + (1 − team_weight) × its own
    /// reward. 1 is SIMPPO's team reward (§6.2); 0 gives each agent its own reward, as
    /// S-RL agents have (what the critics read is set by global_state).
    double team_weight = 1;
    bool parameter_sharing = true;  ///< a new agent starts from its category's base model when there is one
    /// Worker threads for acting and updating besides the caller: unset, one
    /// per extra core; 0, the caller alone.
    std::optional<std::size_t> threads;
    std::uint64_t seed = 1;     ///< agent k (in order of addition) learns with seed + k

    /// Throws config_error naming the field and its value for a bad nested
    /// setting ("simppo_config.actions.cpu_step_cores"), for CPU or memory
    /// bounds of actions.limits other than state's (a limit the actions
    /// reach must lie in the range the encoder normalises over, and each
    /// bound of that range must be reachable: "simppo_config.actions.limits.
    /// cpu_max_cores: must equal state.cpu_max_cores (8), got 2"; the
    /// container bounds of actions.limits are not read), for more than 256
    /// threads and for a team_weight not in [0, 1].
    void validate() const {
        validate_nested("simppo_config", "ppo", [&] { ppo.validate(); });
        validate_nested("simppo_config", "state", [&] { state.validate(); });
        validate_nested("simppo_config", "reward", [&] { reward.validate(); });
        validate_nested("simppo_config", "actions", [&] { actions.validate(); });
        const auto same = [](std::string_view bound, double state_value) {
            return "equal state." + std::string(bound) + " (" + format_number(state_value) + ")";
        };
        const simppo_state_config& l = actions.limits;
        check_fields("simppo_config.actions.limits")
            .require(l.cpu_min_cores == state.cpu_min_cores, "cpu_min_cores", same("cpu_min_cores", state.cpu_min_cores), l.cpu_min_cores)
            .require(l.cpu_max_cores == state.cpu_max_cores, "cpu_max_cores", same("cpu_max_cores", state.cpu_max_cores), l.cpu_max_cores)
            .require(l.memory_min_mb == state.memory_min_mb, "memory_min_mb", same("memory_min_mb", state.memory_min_mb), l.memory_min_mb)
            .require(l.memory_max_mb == state.memory_max_mb, "memory_max_mb", same("memory_max_mb", state.memory_max_mb), l.memory_max_mb);
        check_fields("simppo_config")
            .at_most("threads", threads.value_or(0), std::size_t{256})
            .in("team_weight", team_weight, 0.0, 1.0);
    }
};

/// What one tick of training produced.
struct simppo_tick {
    double team_reward = 0;      ///< mean of their own reward (penalties included) over the agents scored
    std::size_t updates = 0;     ///< agents that updated this tick (their rollout was full)
    std::size_t invalid = 0;     ///< agents whose observation was refused (they held, nothing stored)
    std::size_t unscored = 0;    ///< agents whose reward inputs were refused (simppo_reward::inputs): no reward, their step not stored
};

/// The SIMPPO coordinator: computes each agent's local and auxiliary global
/// state and the team reward every tick, steps every agent, and updates the
/// agents whose rollout is full, in parallel. Functions are passed in agent
/// order (agent i manages function i of the spans).
///
/// The loop, per episode:
///
///     coordinator.begin_episode(metrics, states);
///     while (…) {
///         coordinator.act(states, targets);                  // sample an action per agent
///         auto r = env.step_to(targets);                      // the shared cluster moves
///         coordinator.observe(r.info, env.states(), r.truncated);  // rewards, storage, updates
///     }
///
/// Adding or removing an agent builds or drops that agent only: no other
/// agent's networks change shape, because the global state has 16 features
/// whatever the number of agents. After a change (best between observe()
/// and the next act()), pass the new function set (in agent order) and go
/// on with act() and observe(): the next observe() computes every critic
/// input over the new set. Call begin_episode only at a real episode start:
/// mid-episode it cuts every agent's open step and each encoder records the
/// interval a second time (its arrival change AC reads 0).
class simppo_coordinator {
public:
    using learner_type = rl::ppo<float, std::int32_t>;
    static constexpr std::size_t local_size = simppo_encoder::feature_count;         ///< 7
    static constexpr std::size_t global_size = simppo_global_state::feature_count;   ///< 16
    static constexpr std::size_t critic_size = local_size + global_size;            ///< 23
    static constexpr std::size_t action_count = rl::simppo_actions::action_count;   ///< 7
    static constexpr auto hold = static_cast<std::int32_t>(rl::simppo_action::hold);

    /// Throws config_error for a bad configuration.
    explicit simppo_coordinator(simppo_config config)
        : config_((config.validate(), std::move(config))),
          global_(config_.state),
          reward_(config_.reward),
          actions_(1, config_.actions),
          pool_(config_.threads ? *config_.threads : std::max(1u, std::thread::hardware_concurrency()) - 1) {
        // One update workspace per thread (the caller's and each worker's),
        // not one per agent: an agent's gradient and minibatch storage is
        // needed only while it updates.
        const learner_type shapes(local_size, critic_size, layout(), config_.ppo, 0, rl::update_storage::supplied);
        workspaces_.reserve(pool_.threads());
        for (std::size_t t = 0; t < pool_.threads(); ++t) workspaces_.emplace_back(shapes);
        network_shapes_ = network_shapes(shapes);
        parameter_counts_ = {shapes.actor().parameter_count(), shapes.critic().parameter_count()};
    }

    [[nodiscard]] const simppo_config& config() const noexcept { return config_; }
    [[nodiscard]] std::size_t agent_count() const noexcept { return agents_.size(); }
    [[nodiscard]] const std::string& name(std::size_t i) const { return agents_.at(i)->name; }
    [[nodiscard]] const std::string& category(std::size_t i) const { return agents_.at(i)->category; }
    [[nodiscard]] learner_type& learner(std::size_t i) { return agents_.at(i)->learner; }
    [[nodiscard]] const learner_type& learner(std::size_t i) const { return agents_.at(i)->learner; }
    /// The index of the agent called `name`.
    [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            if (agents_[i]->name == name) return i;
        }
        return std::nullopt;
    }
    /// Worker threads besides the caller.
    [[nodiscard]] std::size_t threads() const noexcept { return pool_.workers(); }

    /// Adds an agent for function `name` of `category` (any label: "cpu",
    /// "memory", "io", …) at the end of the agent order and returns its
    /// index. With parameter sharing and a base model for the category, its
    /// actor and critic start as copies of the base model (fresh optimiser
    /// state); otherwise they are initialised from its seed. Throws
    /// config_error, adding nothing, for an empty or taken name, an empty
    /// category, or a name or category that is not valid UTF-8 (the name
    /// goes into the agent's checkpoint, which is JSON: checkpoint() could
    /// never write one).
    std::size_t add_agent(std::string name, std::string category) {
        check_fields("simppo_coordinator.add_agent")
            .require(!name.empty(), "name", "not be empty", "\"\"")
            .require(is_valid_utf8(name), "name", "be valid UTF-8", quoted(name))
            .require(!find(name).has_value(), "name", "not be taken by another agent", quoted(name))
            .require(!category.empty(), "category", "not be empty", "\"\"")
            .require(is_valid_utf8(category), "category", "be valid UTF-8", quoted(category));
        // Everything that can fail (room in both vectors, the agent's
        // storage) before anything changes: a coordinator that could not add
        // the agent is left as it was, its next agent's seed included.
        if (agents_.size() == agents_.capacity() || previous_states_.size() == previous_states_.capacity()) {
            const std::size_t room = std::max<std::size_t>(4, 2 * agents_.size());  // grown geometrically, as push_back would
            agents_.reserve(room);
            previous_states_.reserve(room);
        }
        auto a = std::make_unique<agent>(std::move(name), std::move(category), config_, config_.seed + created_);
        if (config_.parameter_sharing) {
            if (const auto base = bases_.find(a->category); base != bases_.end()) {
                a->learner.actor().parameters() = base->second.actor;
                a->learner.critic().parameters() = base->second.critic;
                a->from_base = true;
            }
        }
        agents_.push_back(std::move(a));
        // Its previous state is unknown until it is first seen: the global
        // state then counts no change for it (see previous_known).
        previous_states_.emplace_back();
        ++created_;
        return agents_.size() - 1;
    }

    /// Removes the agent called `name` (later agents move up one index).
    /// Throws config_error when there is none.
    void remove_agent(std::string_view name) {
        const auto i = find(name);
        check_fields("simppo_coordinator.remove_agent").require(i.has_value(), "name", "name an agent", quoted(name));
        agents_.erase(agents_.begin() + static_cast<std::ptrdiff_t>(*i));
        previous_states_.erase(previous_states_.begin() + static_cast<std::ptrdiff_t>(*i));
    }

    /// Agent i's own reward averaged over the ticks since the last
    /// refresh_base_models (what the refresh ranks the agents of a category
    /// by); NaN before its first tick since then.
    [[nodiscard]] double own_reward_mean(std::size_t i) const {
        const agent& a = *agents_.at(i);
        return a.own_steps == 0 ? std::numeric_limits<double>::quiet_NaN() : a.own_reward_sum / static_cast<double>(a.own_steps);
    }

    /// Whether agent i started from its category's base model.
    [[nodiscard]] bool started_from_base(std::size_t i) const { return agents_.at(i)->from_base; }
    [[nodiscard]] bool has_base_model(std::string_view category) const { return bases_.contains(std::string(category)); }

    /// Replaces each category's base model with the networks of its agent
    /// whose own reward was highest on average since the last refresh
    /// (§6.2: "slowly updated … by replacing its network parameters with the
    /// existing agents that manage the same type of functions"), and starts
    /// a new averaging window. A category none of whose agents has been
    /// scored since the last refresh keeps its base model. An agent whose
    /// actor or critic holds a value not finite (a diverged network, which
    /// holds and stores nothing but is still scored) is never picked: every
    /// agent started from it would hold for good.
    void refresh_base_models() {
        std::map<std::string, std::pair<double, const agent*>> best;
        for (const auto& a : agents_) {
            if (a->own_steps == 0) continue;  // no reward since the last refresh: not a candidate
            if (!a->learner.actor().parameters().allFinite() || !a->learner.critic().parameters().allFinite()) continue;
            const double mean = a->own_reward_sum / static_cast<double>(a->own_steps);
            const auto it = best.find(a->category);
            if (it == best.end() || mean > it->second.first) best[a->category] = {mean, a.get()};
        }
        for (const auto& [cat, pick] : best) {
            bases_[cat] = {pick.second->learner.actor().parameters(), pick.second->learner.critic().parameters()};
        }
        for (auto& a : agents_) a->own_reward_sum = 0, a->own_steps = 0;
    }

    /// Starts an episode: encodes each agent's observation from the first
    /// interval's metrics and states (one per agent, in agent order).
    /// Throws rlscale::error when the spans do not hold one entry per agent.
    void begin_episode(std::span<const function_metrics> m, std::span<const scaling_state> s) {
        check_spans("begin_episode", "metrics", m.size(), "states", s.size());
        std::copy(s.begin(), s.end(), previous_states_.begin());
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            agent& a = *agents_[i];
            a.previous_known = true;
            // A step of the last episode still open (it did not end with
            // `truncated`) is cut, valued by V of the observation that
            // followed it: the next stored step is another episode's.
            if (a.learner.own_rollout().last_open()) {
                a.cut_open(a.valid ? a.learner.value(a.critic_input) : std::numeric_limits<double>::quiet_NaN());
            }
            a.previous_action = hold;
            a.pending = false;
            a.acted = false;
            encode(i, m, s, a.local, a.critic_input, a.valid);
        }
    }

    /// Chooses every agent's action from its current observation (sampled
    /// when `explore`, else the most likely) and writes each function's
    /// absolute target. An agent whose observation was refused, or whose
    /// actor's output is not finite (a diverged network), holds. A step is
    /// stored only when exploring with a finite value; when one is not, the
    /// agent's last stored step is cut there (rollout_buffer::cut_last).
    /// A second act() before observe() (a caller deciding again after a step
    /// that failed) replaces the first decision: the penalty compares with
    /// the action before the discarded one, as observe() makes the chosen
    /// action (or hold) the previous action only once its interval is scored.
    void act(std::span<const scaling_state> s, std::span<scaling_target> targets, bool explore = true) {
        check_spans("act", "states", s.size(), "targets", targets.size());
        auto one = [&](std::size_t i) {
            agent& a = *agents_[i];
            a.pending = false;
            a.acted = false;
            if (a.valid) {
                std::array<std::int32_t, 1> choice{};
                a.log_prob = explore ? a.learner.sample(a.local, choice)
                                     : (a.learner.greedy(a.local, choice) ? 0.0 : std::numeric_limits<double>::quiet_NaN());
                a.value = a.learner.value(a.critic_input);
                if (std::isfinite(a.log_prob)) {
                    a.acted = true;
                    a.action = choice[0];
                    a.penalty = actions_.penalty(s[i], a.previous_action, a.action, reward_);
                    targets[i] = actions_.target(s[i], a.action);
                    a.pending = explore && std::isfinite(a.value);
                }
            }
            // previous_action is left as it is until observe(): a repeated
            // act() compares with the same action the first one did.
            if (!a.acted) targets[i] = {.replicas = s[i].replicas};
            // This step is not stored: the last stored one ends here, valued
            // by V of this observation when it is known.
            if (!a.pending) a.cut_open(a.valid ? a.value : std::numeric_limits<double>::quiet_NaN());
        };
        pool_.for_each(agents_.size(), one);
        std::copy(s.begin(), s.end(), previous_states_.begin());
        for (auto& a : agents_) a->previous_known = true;
    }

    /// Scores the interval that followed act(): each agent's own reward
    /// (α·SP + (1 − α)/2·(RU_cpu + RU_mem) plus the penalty of the action
    /// it took, if any, exploring or not) and the team
    /// average; stores team_weight × the team average + (1 − team_weight)
    /// × its own reward as each agent's reward; encodes the next
    /// observations; stores each agent's transition (a truncated step
    /// bootstraps from V of the next critic input) and updates, in
    /// parallel, every agent whose rollout is now full. `s` becomes the
    /// states the next interval's changes are counted from (as act() makes
    /// them), so a second observe() without act() counts no change the
    /// agents did not make. When an agent's update throws, the rest of the
    /// tick is still done for every agent before the first failure is
    /// rethrown: the interval has been scored and stored, so go on with
    /// act(); observing the same interval again would score it twice.
    simppo_tick observe(std::span<const function_metrics> m, std::span<const scaling_state> s, bool truncated) {
        check_spans("observe", "metrics", m.size(), "states", s.size());
        simppo_tick tick;
        // An agent added since act() has no previous state: no change is counted for it.
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            if (!agents_[i]->previous_known) previous_states_[i] = s[i];
        }
        // A function whose reward inputs are refused (a latency or a
        // utilisation missing or not finite) has no reward this interval:
        // scored from them, its SLO preservation and utilisation would read
        // as 0 and pull every agent's team reward down. It is left out of
        // the team average and of its own reward statistics, and its step is
        // not stored (below). Fields the reward does not read do not count.
        double sum = 0;
        std::size_t scored = 0;
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            agent& a = *agents_[i];
            a.scored = static_cast<bool>(simppo_reward::inputs(m[i], s[i]));
            if (!a.scored) {
                a.own_reward = 0;
                ++tick.unscored;
                continue;
            }
            a.own_reward = reward_(m.subspan(i, 1), s.subspan(i, 1)) + (a.acted ? a.penalty : 0.0);
            a.own_reward_sum += a.own_reward;
            ++a.own_steps;
            sum += a.own_reward;
            ++scored;
        }
        tick.team_reward = scored == 0 ? 0.0 : sum / static_cast<double>(scored);
        auto one = [&](std::size_t i, std::size_t thread) {
            agent& a = *agents_[i];
            std::array<float, local_size> next_local{};
            std::array<float, critic_size> next_critic{};
            bool next_valid = true;
            encode(i, m, s, next_local, next_critic, next_valid);
            a.updated = false;
            // A failure (a rollout that cannot be learned from) is rethrown
            // after the agent moved on to its next observation: the tick is
            // complete for every agent, and the caller goes on with act()
            // (calling observe() again for the same interval would score it
            // twice; see observe()).
            std::exception_ptr failure;
            if (a.pending && !a.scored) {
                // The step's reward is unknown: not stored. The step stored
                // before it ends here, valued by V of this step's observation.
                a.cut_open(a.value);
            } else if (a.pending) {
                try {
                    const double r = config_.team_weight * tick.team_reward + (1 - config_.team_weight) * a.own_reward;
                    // A refused next observation cannot be valued: the step is
                    // cut there (the agent holds and stores nothing next tick)
                    // and bootstraps from V(s_t).
                    const bool cut = truncated || !next_valid;
                    double next_v = next_valid ? a.learner.value(next_critic) : a.value;
                    if (!std::isfinite(next_v)) next_v = a.value;
                    auto& rollout = a.learner.own_rollout();
                    rollout.push(a.local, a.critic_input, std::span<const std::int32_t>(&a.action, 1), a.log_prob, a.value, r, false, cut,
                                 next_v);
                    if (rollout.full()) {
                        learn_and_clear(a, cut ? 0.0 : next_v, workspaces_[thread]);
                        a.updated = true;
                    }
                } catch (...) {
                    failure = std::current_exception();
                }
            } else if (a.learner.own_rollout().last_open()) {
                // observe() again without act() (a tick not decided): the
                // last stored step ends here, valued by V of where it ended,
                // so GAE does not join it to the next step stored.
                a.cut_open(a.valid ? a.learner.value(a.critic_input) : std::numeric_limits<double>::quiet_NaN());
            }
            // The action just scored is the next one's previous action; a
            // hold (not chosen, or observe() without act()) breaks an oscillation.
            a.previous_action = a.acted ? a.action : hold;
            a.pending = false;
            a.acted = false;
            a.local = next_local;
            a.critic_input = next_critic;
            a.valid = next_valid;
            if (failure) std::rethrow_exception(failure);
        };
        // The states just observed are where the next interval's changes are
        // counted from, also when no act() comes before the next observe().
        // Copied even when an update throws below: the tick is complete.
        const auto move_on = [&] {
            std::copy(s.begin(), s.end(), previous_states_.begin());
            for (auto& a : agents_) a->previous_known = true;
        };
        try {
            pool_.for_each_on_thread(agents_.size(), one);
        } catch (...) {
            move_on();
            throw;
        }
        move_on();
        for (const auto& a : agents_) {
            tick.updates += a->updated ? 1 : 0;
            tick.invalid += a->valid ? 0 : 1;
        }
        return tick;
    }

    /// Publishes agent i's actor to `net` (for serving through
    /// rl::categorical_actor).
    void publish(std::size_t i, rl::shared_network<float>& net) const { net.publish(agents_.at(i)->learner.actor()); }

    /// The guard the agents train under, as a serving guard: one action per
    /// tick moves one resource by one step (the step limits are exactly the
    /// action map's steps, so the guard never cuts a legal action short),
    /// limits stay within the actions' bounds, and vertical actions apply at
    /// any replica count (the simulator, like SIMPPO's platform, resizes
    /// running containers in place). An operator whose platform evicts a pod
    /// to resize it raises `vertical_min_replicas` when serving
    /// (learned_policy_options::vertical_min_replicas).
    [[nodiscard]] guard_config serving_guard() const noexcept {
        const rl::simppo_action_config& a = config_.actions;
        guard_config g{.max_step_up = a.replica_step, .max_step_down = a.replica_step};
        g.max_cpu_step = a.cpu_step_cores;
        g.max_memory_step_mb = a.memory_step_mb;
        g.min_cpu_limit = a.limits.cpu_min_cores;
        g.max_cpu_limit = a.limits.cpu_max_cores;
        g.min_memory_limit_mb = a.limits.memory_min_mb;
        g.max_memory_limit_mb = a.limits.memory_max_mb;
        g.vertical_min_replicas = 0;
        return g;
    }

    /// Agent i's actor as a checkpoint the registry serves
    /// (make_learned_policy, `rlscale-decision-service --checkpoint`): the
    /// network and a serving spec {algorithm ppo, encoder simppo, actions
    /// simppo with this coordinator's steps, one function named after the
    /// agent, serving_guard()}. The registry's simppo encoder has SIMPPO's
    /// bounds, so a coordinator with other state bounds cannot write one
    /// (config_error).
    [[nodiscard]] nlohmann::json checkpoint(std::size_t i) const { return checkpoint(i, serving_guard()); }

    /// As above with another guard in the spec.
    [[nodiscard]] nlohmann::json checkpoint(std::size_t i, guard_config guard) const {
        const simppo_state_config d{};
        const simppo_state_config& c = config_.state;
        const simppo_state_config& l = config_.actions.limits;
        check_fields("simppo_coordinator.checkpoint")
            .require(c.cpu_min_cores == d.cpu_min_cores && c.cpu_max_cores == d.cpu_max_cores && c.memory_min_mb == d.memory_min_mb &&
                         c.memory_max_mb == d.memory_max_mb && c.containers_min == d.containers_min && c.containers_max == d.containers_max,
                     "config.state", "hold SIMPPO's bounds (the serving spec's simppo encoder has no settings)", "other bounds")
            .require(l.cpu_min_cores == d.cpu_min_cores && l.cpu_max_cores == d.cpu_max_cores && l.memory_min_mb == d.memory_min_mb &&
                         l.memory_max_mb == d.memory_max_mb,
                     "config.actions.limits", "hold SIMPPO's bounds (the serving spec's simppo action map has only its steps)",
                     "other bounds");
        guard.validate();
        const agent& a = *agents_.at(i);
        serving_spec spec;
        spec.algorithm = "ppo";
        spec.encoder = {{"name", "simppo"}};
        spec.actions = action_spec(actions_);
        spec.functions = {a.name};
        spec.guard = guard;
        nlohmann::json j = nn::make_checkpoint(a.learner.actor());
        j["serving"] = spec.to_json();
        return j;
    }

    /// Writes everything training reads and changes, so that a coordinator
    /// restored from it (load_training_state) goes on exactly as this one
    /// would, between any two calls (after act() too): each agent's name,
    /// category, seed and learner (ppo::save_training_state: networks,
    /// optimisers, the rollout so far, generator, counters), what it carries
    /// from call to call (its last observation, the action awaiting its
    /// reward, the previous action, its encoder's AR_{t-1}, its reward sums
    /// since the last refresh of the base models), the base models, the
    /// states the global state compares with, and how many agents were
    /// created (the next agent's seed). Not written: the configuration (the
    /// restoring coordinator is built with it) and the threads. A
    /// checksummed binary frame in this machine's byte order.
    /// An agent whose actor or critic, or either's Adam moments, hold a
    /// value that is not finite (a diverged agent, which holds and stores
    /// nothing while the others train on) is refused with rlscale::error
    /// naming it, before anything is written: load_training_state refuses
    /// such a learner, so the state could never be restored, the healthy
    /// agents' included. Remove the agent (remove_agent) or reset its
    /// networks first.
    void save_training_state(std::ostream& out) const {
        check_finite_networks();
        // Each agent's learner state, framed on its own: made once here, put
        // into the payload as a string by both of write_frame's passes.
        std::vector<std::string> learners(agents_.size());
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            std::ostringstream learner;
            agents_[i]->learner.save_training_state(learner);
            learners[i] = std::move(learner).str();
        }
        rlscale::detail::write_frame(out, training_state_format(), "simppo_coordinator::save_training_state",
                                     [&](rlscale::detail::binary_writer& w) { write_payload(w, learners); });
    }

    /// Restores what save_training_state wrote, into a coordinator built
    /// with the same configuration; its agents and base models are replaced
    /// by the saved ones. Everything is read and checked before anything
    /// changes: a truncated or corrupted file, a learner another
    /// configuration builds, or a value training would refuse (a
    /// parameter not finite, an action outside SIMPPO's 7, a pending step
    /// without a finite log π and V, two agents of one name, a name or
    /// category that is not valid UTF-8, as add_agent refuses) throws
    /// checkpoint_error naming the field (an agent's learner's fields
    /// within "training_state.agents[i].learner"), and the coordinator is
    /// left as it was.
    /// The frame's header is read first: a length above `max_length` (by
    /// default max_training_state_length, 1 GiB; the coordinator's state
    /// grows with its agents, so it has no bound of its own) is refused
    /// before the payload is read.
    static constexpr std::uint64_t max_training_state_length = std::uint64_t{1} << 30;
    void load_training_state(std::istream& in, std::uint64_t max_length = max_training_state_length) {
        const std::string payload = rlscale::detail::read_frame(in, training_state_format(), "training_state.", max_length,
                                                                "bytes a coordinator's state may hold (load_training_state's max_length)");
        rlscale::detail::binary_reader r(payload, "training_state.");
        const auto get_string = [&r](const std::string& field) {
            const auto n = r.get<std::uint64_t>(field + ".length");
            if (n > r.remaining()) throw checkpoint_error(r.name(field), std::to_string(n) + " bytes, more than the data holds");
            std::string str(static_cast<std::size_t>(n), '\0');
            r.get_all(std::span<char>(str.data(), str.size()), field);
            return str;
        };
        const auto count = [&r](const char* field, std::uint64_t max) {
            const auto n = r.get<std::uint64_t>(field);
            if (n > max) throw checkpoint_error(r.name(field), "is " + std::to_string(n) + ", more than the data could hold");
            return static_cast<std::size_t>(n);
        };
        nn::detail::expect_value(r, "seed", config_.seed, " (the coordinator's simppo_config.seed)");
        // The networks every agent and base model has: checked before the
        // base models are read by them.
        nn::detail::check_shape(r, "actor_layers", network_shapes_[0], "its ppo.actor_hidden and ppo.hidden_activation");
        nn::detail::check_shape(r, "critic_layers", network_shapes_[1], "its ppo.critic_hidden and ppo.hidden_activation");
        const auto created = r.get<std::uint64_t>("created");
        std::map<std::string, base_model> bases;
        const std::size_t base_count = count("bases", r.remaining() / 8);
        for (std::size_t k = 0; k < base_count; ++k) {
            const std::string field = "bases[" + std::to_string(k) + "]";
            std::string cat = get_string(field + ".category");
            base_model base{Eigen::VectorXf(parameter_counts_[0]), Eigen::VectorXf(parameter_counts_[1])};
            nn::detail::get_finite(r, base.actor, field + ".actor");
            nn::detail::get_finite(r, base.critic, field + ".critic");
            if (cat.empty() || !bases.emplace(std::move(cat), std::move(base)).second) {
                throw checkpoint_error(r.name(field + ".category"), "is empty or repeated");
            }
        }
        // An agent takes over 300 bytes besides its learner's state.
        const std::size_t n = count("agents", r.remaining() / 300);
        std::vector<std::unique_ptr<agent>> agents;
        std::vector<scaling_state> previous;
        for (std::size_t i = 0; i < n; ++i) {
            const std::string field = "agents[" + std::to_string(i) + "]";
            scaling_state& p = previous.emplace_back();
            const std::string state = field + ".previous_state.";
            p.replicas = r.get<std::int32_t>(state + "replicas");
            p.min_replicas = r.get<std::int32_t>(state + "min_replicas");
            p.max_replicas = r.get<std::int32_t>(state + "max_replicas");
            p.cpu_limit = r.get<double>(state + "cpu_limit");
            p.memory_limit_mb = r.get<double>(state + "memory_limit_mb");
            p.time_s = r.get<double>(state + "time_s");
            p.slo.latency_s = r.get<double>(state + "slo.latency_s");
            p.slo.percentile = r.get<double>(state + "slo.percentile");
            p.slo.target_rps = r.get<double>(state + "slo.target_rps");
            std::string name = get_string(field + ".name");
            std::string cat = get_string(field + ".category");
            if (name.empty() || cat.empty()) throw checkpoint_error(r.name(field), "has an empty name or category");
            // As add_agent refuses them: checkpoint() could not write the name.
            for (const auto& [what, text] : {std::pair<const char*, const std::string*>{".name", &name}, {".category", &cat}}) {
                if (!is_valid_utf8(*text)) throw checkpoint_error(r.name(field + what), quoted(*text) + " is not valid UTF-8");
            }
            for (const auto& other : agents) {
                if (other->name == name) throw checkpoint_error(r.name(field + ".name"), quoted(name) + " is another agent's too");
            }
            const auto seed = r.get<std::uint64_t>(field + ".seed");
            auto a = std::make_unique<agent>(std::move(name), std::move(cat), config_, seed);
            std::array<std::uint8_t, 6> flags{};
            r.get_all(std::span<std::uint8_t>(flags), field + ".flags");
            for (const std::uint8_t f : flags) {
                if (f > 1) throw checkpoint_error(r.name(field + ".flags"), "hold " + std::to_string(f) + ", not 0 or 1");
            }
            a->valid = flags[0] == 1;
            a->pending = flags[1] == 1;
            a->updated = flags[2] == 1;
            a->from_base = flags[3] == 1;
            a->acted = flags[4] == 1;
            a->previous_known = flags[5] == 1;
            a->action = r.get<std::int32_t>(field + ".action");
            a->previous_action = r.get<std::int32_t>(field + ".previous_action");
            for (const auto* what : {&a->action, &a->previous_action}) {
                if (*what < 0 || static_cast<std::size_t>(*what) >= action_count) {
                    throw checkpoint_error(r.name(field + (what == &a->action ? ".action" : ".previous_action")),
                                           "is " + std::to_string(*what) + ", must be in [0, " + std::to_string(action_count) + ")");
                }
            }
            a->log_prob = r.get<double>(field + ".log_prob");
            a->value = r.get<double>(field + ".value");
            // The rollout stores them as floats: a finite double past
            // float's range (1e39) would be refused at the next store.
            for (const auto& [what, x] : {std::pair<const char*, double>{".log_prob", a->log_prob}, {".value", a->value}}) {
                if (std::isfinite(x) && !std::isfinite(static_cast<float>(x))) {
                    throw checkpoint_error(r.name(field + what), "is " + format_number(x) + ", beyond float's range");
                }
            }
            a->penalty = r.get<double>(field + ".penalty");
            a->own_reward = r.get<double>(field + ".own_reward");
            a->own_reward_sum = r.get<double>(field + ".own_reward_sum");
            a->own_steps = r.get<std::uint64_t>(field + ".own_steps");
            if (a->pending && !(a->acted && a->valid && std::isfinite(a->log_prob) && std::isfinite(a->value))) {
                throw checkpoint_error(r.name(field + ".pending"), "is set without a valid observation and a finite log π and V");
            }
            for (const auto& [what, x] : {std::pair<const char*, double>{".penalty", a->penalty}, {".own_reward_sum", a->own_reward_sum}}) {
                if (!std::isfinite(x)) throw checkpoint_error(r.name(field + what), "is " + format_number(x) + ", must be finite");
            }
            r.get_all(std::span<float>(a->local), field + ".local");
            r.get_all(std::span<float>(a->critic_input), field + ".critic_input");
            for (const float x : a->local) {
                if (!std::isfinite(x)) throw checkpoint_error(r.name(field + ".local"), "holds a value not finite");
            }
            for (const float x : a->critic_input) {
                if (!std::isfinite(x)) throw checkpoint_error(r.name(field + ".critic_input"), "holds a value not finite");
            }
            const auto has_rate = r.get<std::uint8_t>(field + ".arrival_rate.known");
            const auto rate = r.get<double>(field + ".arrival_rate.rps");
            const auto rate_time = r.get<double>(field + ".arrival_rate.time_s");
            // The clock is kept as the caller gave it (only compared) but
            // must be finite, as the encoder refuses any other: a NaN would
            // never compare earlier and hide every episode boundary. The
            // rate is requests/s of an interval: finite and >= 0.
            if (has_rate > 1) throw checkpoint_error(r.name(field + ".arrival_rate.known"), "is " + std::to_string(has_rate) + ", not 0 or 1");
            if (!std::isfinite(rate) || rate < 0) {
                throw checkpoint_error(r.name(field + ".arrival_rate.rps"), "is " + format_number(rate) + ", must be finite and >= 0");
            }
            if (!std::isfinite(rate_time)) {
                throw checkpoint_error(r.name(field + ".arrival_rate.time_s"), "is " + format_number(rate_time) + ", must be finite");
            }
            a->encoder.remember_arrival(0, has_rate == 1 ? std::optional<double>(rate) : std::nullopt, rate_time);
            const std::string learner = get_string(field + ".learner");
            std::istringstream learner_in(learner);
            try {
                a->learner.load_training_state(learner_in);
            } catch (const checkpoint_error& e) {
                // "training_state.actor[3]" of the learner's own state becomes
                // "training_state.agents[i].learner.actor[3]".
                std::string_view inner = e.field();
                if (inner.starts_with("training_state")) inner.remove_prefix(std::string_view("training_state").size());
                const std::string dot = inner.empty() || inner.starts_with('.') ? "" : ".";
                throw checkpoint_error(r.name(field + ".learner") + dot + std::string(inner), e.message());
            }
            // observe() updates from a full rollout and clears it in the same call.
            if (a->learner.own_rollout().full()) {
                throw checkpoint_error(r.name(field + ".learner.rollout.size"),
                                       "is the rollout's capacity, which the coordinator never leaves between calls (it updates and clears)");
            }
            agents.push_back(std::move(a));
        }
        if (r.remaining() != 0) throw checkpoint_error("training_state", std::to_string(r.remaining()) + " bytes after the last agent");
        for (const auto& a : agents) {
            if (a->seed - config_.seed >= created) {  // seed + k for k < created, modulo 2^64 as add_agent makes it
                throw checkpoint_error("training_state.created", "is " + std::to_string(created) + ", but agent \"" + a->name +
                                                                     "\" has seed " + std::to_string(a->seed) + " (seeds are seed + k, k < created)");
            }
        }

        // Everything read and checked: nothing below throws.
        agents_ = std::move(agents);
        previous_states_ = std::move(previous);
        bases_ = std::move(bases);
        created_ = created;
    }

    /// save_training_state to a file, replacing it only once the new one is
    /// on disk (a crash leaves the old file or the new one).
    /// A diverged agent is refused before the file is opened: neither the
    /// file nor a temporary beside it is created, and an existing file is
    /// left as it was.
    void save_training_state(const std::filesystem::path& path) const {
        check_finite_networks();
        nn::detail::save_state_file(*this, path);
    }
    /// load_training_state from a file; a file that cannot be opened throws
    /// rlscale::error naming it.
    void load_training_state(const std::filesystem::path& path, std::uint64_t max_length = max_training_state_length) {
        nn::detail::load_state_file(*this, path, "simppo_coordinator", max_length);
    }

    /// Agent i's local observation and critic input as last encoded.
    [[nodiscard]] std::span<const float> local_state(std::size_t i) const { return agents_.at(i)->local; }
    [[nodiscard]] std::span<const float> critic_input(std::size_t i) const { return agents_.at(i)->critic_input; }

    /// Bytes an agent holds: the agent object and the value arrays its
    /// learner allocated (parameters and Adam moments, rollout, one-sample
    /// activations, minibatch order: ppo::heap_bytes); not the heap's own
    /// bookkeeping, nor names too long for the strings' inline storage. Its
    /// updates work in workspace_bytes(), which the agents share.
    [[nodiscard]] std::size_t agent_bytes(std::size_t i) const { return sizeof(agent) + agents_.at(i)->learner.heap_bytes(); }

    /// Bytes of the update workspaces (gradients and minibatch storage), one
    /// per thread, whatever the number of agents.
    [[nodiscard]] std::size_t workspace_bytes() const noexcept {
        std::size_t total = 0;
        for (const auto& w : workspaces_) total += w.bytes();
        return total;
    }

private:
    struct agent {
        agent(std::string n, std::string c, const simppo_config& config, std::uint64_t learner_seed)
            : name(std::move(n)),
              category(std::move(c)),
              seed(learner_seed),
              learner(local_size, critic_size, layout(), config.ppo, learner_seed, rl::update_storage::supplied),
              encoder(config.state) {}
        std::string name;
        std::string category;
        std::uint64_t seed;      ///< its learner's (config.seed + the order of its creation)
        learner_type learner;
        simppo_encoder encoder;  ///< keeps this function's AR_{t-1}
        std::array<float, local_size> local{};
        std::array<float, critic_size> critic_input{};
        bool valid = false;
        bool pending = false;    ///< an action was sampled and awaits its reward
        bool updated = false;
        bool from_base = false;
        bool acted = false;           ///< act() chose an action (its penalty counts)
        bool previous_known = false;  ///< previous_states_ holds this agent's state at the last act() or observe()
        std::int32_t action = 0;
        std::int32_t previous_action = hold;  ///< the action of the last interval observe() scored (hold when none was chosen)
        double log_prob = 0;
        double value = 0;
        double penalty = 0;
        double own_reward = 0;
        bool scored = false;  ///< this interval's metrics were usable (set by observe, not saved)
        double own_reward_sum = 0;
        std::uint64_t own_steps = 0;

        /// Cuts the last stored step if it is still open
        /// (rollout_buffer::last_open), bootstrapping from `next_value` (V of
        /// the observation that followed it) when finite, else from the
        /// step's own V(s).
        void cut_open(double next_value) {
            auto& r = learner.own_rollout();
            if (!r.last_open()) return;
            r.cut_last(std::isfinite(next_value) ? next_value
                                                 : static_cast<double>(r.values()(static_cast<Eigen::Index>(r.size() - 1))));
        }
    };

    struct base_model {
        Eigen::VectorXf actor;
        Eigen::VectorXf critic;
    };

    /// GAE over agent a's full rollout (bootstrapping from `last_value`),
    /// an update, and the rollout cleared, also when either throws: a full
    /// rollout would refuse every later step.
    void learn_and_clear(agent& a, double last_value, learner_type::workspace& w) {
        auto& rollout = a.learner.own_rollout();
        struct clear_at_exit {
            learner_type::rollout& r;
            ~clear_at_exit() { r.clear(); }
        } const clear{rollout};
        rollout.compute_advantages(last_value, config_.ppo.gamma, config_.ppo.gae_lambda);
        (void)a.learner.update(rollout, w);
    }

    static constexpr rl::q_layout layout() noexcept { return {.heads = 1, .actions_per_head = action_count}; }

    /// A name or category as an error shows it: quoted, at most 64 bytes of
    /// valid UTF-8 (a byte that is not becomes U+FFFD), control characters
    /// written as \xNN.
    [[nodiscard]] static std::string quoted(std::string_view text) { return "\"" + escape_controls(valid_utf8(text, 64)) + "\""; }

    /// Throws rlscale::error naming the first agent, by name and index, whose
    /// actor, critic or Adam moments hold a value that is not finite: what
    /// ppo::load_training_state refuses of a learner's networks and
    /// optimisers (the rest of its state, the rollout and the counters, only
    /// ever holds what the learner accepted).
    void check_finite_networks() const {
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            // Writable through the pointer: the optimisers have no const
            // accessor. Nothing is changed.
            learner_type& l = agents_[i]->learner;
            std::string what;
            std::optional<Eigen::Index> at;
            float value = 0;
            const auto look = [&](const char* part, const Eigen::Ref<const Eigen::VectorXf>& v) {
                for (Eigen::Index k = 0; !at && k < v.size(); ++k) {
                    if (!std::isfinite(v(k))) {
                        at = k;
                        what = part;
                        value = v(k);
                    }
                }
            };
            look("actor", l.actor().parameters());
            look("critic", l.critic().parameters());
            // The moments are copied out: only while no value was found yet.
            if (!at) look("actor's Adam first moment", l.actor_optimizer().first_moment());
            if (!at) look("actor's Adam second moment", l.actor_optimizer().second_moment());
            if (!at) look("critic's Adam first moment", l.critic_optimizer().first_moment());
            if (!at) look("critic's Adam second moment", l.critic_optimizer().second_moment());
            if (at) {
                const std::string& name = agents_[i]->name;
                throw error("simppo_coordinator::save_training_state: agent " + quoted(name) + " (index " + std::to_string(i) + ")'s " +
                            what + " holds a value that is not finite (" + format_number(value) + " at [" + std::to_string(*at) +
                            "]), which load_training_state refuses: the whole state, the other agents' included, could not be "
                            "restored; remove it (remove_agent(" + quoted(name) + ")) or reset its networks first. Nothing was written");
            }
        }
    }
    /// Every agent's actor and critic layers (what the configuration
    /// builds), as the training state checks them.
    [[nodiscard]] static std::array<std::vector<std::uint64_t>, 2> network_shapes(const learner_type& shapes) {
        std::array<std::vector<std::uint64_t>, 2> out;
        nn::detail::add_layer_shapes(out[0], shapes.actor().layers());
        nn::detail::add_layer_shapes(out[1], shapes.critic().layers());
        return out;
    }
    /// The training state's payload (save_training_state), each agent's
    /// learner state given already saved.
    void write_payload(rlscale::detail::binary_writer& w, const std::vector<std::string>& learners) const {
        const auto put_string = [&w](const std::string& str) {
            w.put(static_cast<std::uint64_t>(str.size()));
            w.put_all(std::span<const char>(str.data(), str.size()));
        };
        w.put(config_.seed);
        for (const auto& shape : network_shapes_) nn::detail::put_shape(w, shape);
        w.put(created_);
        w.put(static_cast<std::uint64_t>(bases_.size()));
        for (const auto& [cat, base] : bases_) {
            put_string(cat);
            nn::detail::put_values(w, base.actor);
            nn::detail::put_values(w, base.critic);
        }
        w.put(static_cast<std::uint64_t>(agents_.size()));
        for (std::size_t i = 0; i < agents_.size(); ++i) {
            const agent& a = *agents_[i];
            const scaling_state& p = previous_states_[i];
            w.put(static_cast<std::int32_t>(p.replicas));
            w.put(static_cast<std::int32_t>(p.min_replicas));
            w.put(static_cast<std::int32_t>(p.max_replicas));
            for (const double x : {p.cpu_limit, p.memory_limit_mb, p.time_s, p.slo.latency_s, p.slo.percentile, p.slo.target_rps}) w.put(x);
            put_string(a.name);
            put_string(a.category);
            w.put(a.seed);
            for (const bool flag : {a.valid, a.pending, a.updated, a.from_base, a.acted, a.previous_known}) {
                w.put(static_cast<std::uint8_t>(flag ? 1 : 0));
            }
            w.put(a.action);
            w.put(a.previous_action);
            for (const double x : {a.log_prob, a.value, a.penalty, a.own_reward, a.own_reward_sum}) w.put(x);
            w.put(a.own_steps);
            w.put_all(std::span<const float>(a.local));
            w.put_all(std::span<const float>(a.critic_input));
            const std::optional<double> rate = a.encoder.previous_arrival_rps();
            w.put(static_cast<std::uint8_t>(rate ? 1 : 0));
            w.put(rate.value_or(0.0));
            w.put(a.encoder.previous_arrival_time_s());
            put_string(learners[i]);
        }
    }
    static constexpr rlscale::detail::frame_format training_state_format() noexcept {
        return {.magic = "rlscale.simppo.training_state\n", .version = 1, .value_size = sizeof(float), .kind = "a SIMPPO training state"};
    }

    /// Throws naming the first of the two spans that does not hold one entry per agent.
    void check_spans(const char* what, const char* first, std::size_t a, const char* second, std::size_t b) const {
        for (const auto& [name, size] : {std::pair{first, a}, std::pair{second, b}}) {
            if (size != agents_.size()) {
                throw error("simppo_coordinator::" + std::string(what) + ": " + name + " has " + std::to_string(size) +
                            " entries, expected " + std::to_string(agents_.size()) + " (one per agent)");
            }
        }
    }

    /// Agent i's local state and critic input [local, global] from the
    /// interval's metrics and states (previous_states_ for the global
    /// state's action terms); `valid` false when either was refused.
    void encode(std::size_t i, std::span<const function_metrics> m, std::span<const scaling_state> s,
                std::array<float, local_size>& local, std::array<float, critic_size>& critic, bool& valid) const {
        agent& a = *agents_[i];
        valid = static_cast<bool>(a.encoder.encode(m[i], s[i], local));
        std::copy(local.begin(), local.end(), critic.begin());
        const std::span<float> g(critic.data() + local_size, global_size);
        if (config_.global_state) {
            // Over the other agents whose inputs are usable: one function's
            // missing metric refuses its own observation, not every agent's.
            valid = valid && static_cast<bool>(global_.encode_usable(m, s, previous_states_, i, g));
        } else {
            std::fill(g.begin(), g.end(), 0.0F);
        }
        if (!valid) {
            local.fill(0.0F);
            critic.fill(0.0F);
        }
    }

    simppo_config config_;
    simppo_global_state global_;
    simppo_reward reward_;
    rl::simppo_actions actions_;
    std::vector<std::unique_ptr<agent>> agents_;
    std::vector<scaling_state> previous_states_;
    std::map<std::string, base_model> bases_;
    std::uint64_t created_ = 0;
    rlscale::detail::worker_pool pool_;
    std::vector<learner_type::workspace> workspaces_;  // one per thread of pool_
    std::array<std::vector<std::uint64_t>, 2> network_shapes_;  // every agent's actor and critic layers
    std::array<Eigen::Index, 2> parameter_counts_{};          // and their parameter counts
};

}  // namespace rlscale::multiagent
