// AWARE in the simulator: a DDPG agent (FIRM's) scaling one workload's
// replicas, CPU limit and memory limit together, managed by AWARE's
// lifecycle (INITIALIZED → OFFLINE → ONLINE → SERVING, back to ONLINE when
// its rewards degrade), bootstrapped from the Kubernetes HPA+VPA pair and
// served under the guard. Three experiments, each printed beside the paper:
//
//   1. bootstrapping: the same agent trained with and without bootstrapping
//      from HPA+VPA (AWARE §5.4, Fig. 10);
//   2. retraining: after training, workload changes are injected; AWARE's
//      retraining against the same agent never retraining (§5.3, Fig. 9);
//   3. the trained agent against HPA+VPA on Azure-trace loads it never saw.
//
//   rlscale_aware_demo [--episodes E] [--retrain-episodes R] [--eval-episodes V]
//                      [--alpha A] [--window K] [--seed S] [--out DIR]
//
// Every step goes to a trajectory store (DIR/trajectories.rlt); the curves
// to DIR/aware_training.csv and DIR/aware_training.svg; the trained actor
// and its lifecycle to DIR/aware_actor.json.
#include "../apps/common/cli.hpp"
#include "../apps/common/output_file.hpp"
#include "common/aware_scenario.hpp"

#include <rlscale/encode/firm_encoder.hpp>
#include <rlscale/lifecycle/lifecycle.hpp>
#include <rlscale/lifecycle/trajectory_store.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/reward/firm_reward.hpp>
#include <rlscale/rl/ddpg.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>
#include <rlscale/sim/env.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace rlscale;
using examples::aware_change;
using examples::aware_scenario;

namespace {

struct options {
    int episodes = 150;          ///< training episodes per run (bootstrapping experiment)
    int retrain_episodes = 40;   ///< episodes after each injected change
    int eval_episodes = 8;       ///< episodes per unseen load
    double alpha = 0.8;          ///< FIRM's reward α (AWARE gives none)
    double online_bc = 0;        ///< TD3+BC α kept while ONLINE after bootstrapping (0 = plain DDPG online, as AWARE)
    std::size_t window = 10;     ///< K: the lifecycle's window (the AWARE code's 10)
    rl::multidimensional_mode mode = rl::multidimensional_mode::relative;  ///< how the actor's values move replicas and limits
    bool td3 = false;            ///< TD3's twin critics, target smoothing and delayed actor updates on FIRM's DDPG
    bool fallback_floor = true;  ///< the bootstrapped agent acts above the fallback's floor (lifecycle_config::fallback_floor)
    double action_l2 = 1;        ///< penalty on the actor's tanh output (rl::ddpg_config::action_l2; 0 = FIRM's plain loss)
    std::uint64_t seed = 1;
    std::filesystem::path out = "aware-demo";
    std::filesystem::path trace;  ///< the Azure trace for the unseen loads (empty: the first found, simppo_trace_dirs())
};

[[noreturn]] void usage(const std::string& why, int status = 2) {
    std::fprintf(stderr,
                 "%s\nusage: rlscale_aware_demo [--episodes E] [--retrain-episodes R] [--eval-episodes V] [--alpha A] [--online-bc B] [--mode relative|absolute] [--td3 on|off] [--action-l2 L] [--window K] "
                 "[--fallback-floor on|off] [--seed S] [--trace DIR] [--out DIR]\n",
                 why.c_str());
    std::exit(status);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage("rlscale_aware_demo: AWARE's bootstrapping, lifecycle and retraining in the simulator (docs/aware.md)", 0);
        }
        if (i + 1 >= argc) usage("missing value after " + flag);
        const std::string v = argv[++i];
        try {
            using cli::usage_error;
            // A finite number (cli::number: the whole text, no sign but '-')
            // in [lo, hi], or [lo, hi) when `open_hi`.
            const auto real = [&](double lo, double hi, bool open_hi) {
                const double x = cli::number(flag, v);
                if (!(x >= lo && (open_hi ? x < hi : x <= hi))) {
                    throw usage_error(flag, "must be in [" + format_number(lo) + ", " + format_number(hi) + (open_hi ? ")" : "]") +
                                                ", got " + cli::quoted(v));
                }
                return x;
            };
            const auto one_of = [&](std::string_view a, std::string_view b) {
                if (v != a && v != b) throw usage_error(flag, "must be " + std::string(a) + " or " + std::string(b) + ", got " + cli::quoted(v));
                return v == a;
            };
            if (flag == "--episodes") o.episodes = cli::integer<int>(flag, v, 1, 100000);
            else if (flag == "--retrain-episodes") o.retrain_episodes = cli::integer<int>(flag, v, 1, 100000);
            else if (flag == "--eval-episodes") o.eval_episodes = cli::integer<int>(flag, v, 1, 100000);
            else if (flag == "--window") o.window = cli::integer<std::size_t>(flag, v, 1, 1000);
            else if (flag == "--seed") o.seed = cli::seed(flag, v);
            else if (flag == "--online-bc") o.online_bc = real(0, 1e6, true);
            else if (flag == "--alpha") o.alpha = real(0, 1, false);
            else if (flag == "--mode") {
                o.mode = one_of("relative", "absolute") ? rl::multidimensional_mode::relative : rl::multidimensional_mode::absolute;
            } else if (flag == "--action-l2") o.action_l2 = real(0, 1e6, true);
            else if (flag == "--fallback-floor") o.fallback_floor = one_of("on", "off");
            else if (flag == "--td3") o.td3 = one_of("on", "off");
            else if (flag == "--out") {
                if (v.empty()) usage("--out: must name a directory");
                o.out = v;
            } else if (flag == "--trace") {
                if (v.empty()) usage("--trace: must name a directory holding invocations.csv");
                o.trace = v;
            }
            else usage("unknown option " + flag);
        } catch (const cli::usage_error& e) {  // names the flag and the value
            usage(e.what());
        }
    }
    return o;
}

using env_t = sim::cluster_env<firm_encoder, firm_reward>;
using agent_t = rl::ddpg<float>;

/// What a run of episodes did, summed over its intervals.
struct tally {
    int intervals = 0;
    int violations = 0;          ///< intervals with arrivals whose p90 exceeded the SLO, or that dropped requests (share: of all intervals)
    double cpu_util = 0;         ///< Σ CPU utilisation
    double mem_util = 0;         ///< Σ memory utilisation
    double cores = 0;            ///< Σ replicas × CPU limit (cores allocated)
    double memory_gb = 0;        ///< Σ replicas × memory limit (GB allocated)
    double reward = 0;           ///< Σ step rewards
    int episodes = 0;

    void add(const tally& o) {
        intervals += o.intervals, violations += o.violations, cpu_util += o.cpu_util, mem_util += o.mem_util;
        cores += o.cores, memory_gb += o.memory_gb, reward += o.reward, episodes += o.episodes;
    }
    [[nodiscard]] double violation_share() const { return intervals > 0 ? static_cast<double>(violations) / intervals : 0; }
    [[nodiscard]] double mean(double sum) const { return intervals > 0 ? sum / intervals : 0; }
    [[nodiscard]] double episode_reward() const { return episodes > 0 ? reward / episodes : 0; }
};

void count(tally& t, const function_metrics& m, const scaling_state& s, double reward) {
    ++t.intervals;
    const double p90 = latency_at(m, s.slo.percentile);
    if (m.arrivals > 0 && (m.drops > 0 || !(p90 <= s.slo.latency_s))) ++t.violations;
    t.cpu_util += m.cpu_utilization;
    t.mem_util += m.memory_utilization;
    t.cores += s.replicas * s.cpu_limit;
    t.memory_gb += s.replicas * s.memory_limit_mb / 1000;
    t.reward += reward;
}

/// The fallback's HPA CPU utilisation target.
constexpr int fallback_hpa_target = 70;

/// The HPA (CPU utilisation 70 % unless given, Kubernetes' default
/// behavior) and the VPA (AWARE's bounds) as one multidimensional policy.
hpa_vpa_policy make_fallback(int hpa_target_percent = fallback_hpa_target) {
    return hpa_vpa_policy(make_hpa(hpa_target_percent), vpa_policy(vpa_policy_config::aware()));
}

/// `s` on a clock that keeps running across episodes (each episode's
/// simulation starts at 0): the VPA's histograms decay over wall time and a
/// fallback that lives across episodes must never see its clock go back.
scaling_state on_run_clock(scaling_state s, double offset_s) {
    s.time_s += offset_s;
    return s;
}

/// The guard: ±4 / −2 replicas per step, limits within AWARE's bounds,
/// resizes withheld below two replicas.
guard_config make_guard(const rl::multidimensional_config& a) {
    guard_config g;
    g.max_step_up = 4;
    g.max_step_down = 2;
    g.min_cpu_limit = a.min_cpu_limit;
    g.max_cpu_limit = a.max_cpu_limit;
    g.min_memory_limit_mb = a.min_memory_limit_mb;
    g.max_memory_limit_mb = a.max_memory_limit_mb;
    return g;
}

/// AWARE's bounds (replicas 1–20, CPU 128–2048 millicores, memory
/// 256–3072 MB). Relative: a value of ±1 moves replicas by ±2, the CPU limit
/// by ±0.25 core and the memory limit by ±256 MB per step (AWARE's code
/// moves ±1 replica, ±128 millicores, ±128 MiB); absolute: the value spans
/// the bounds.
rl::multidimensional_config action_config(rl::multidimensional_mode mode) {
    rl::multidimensional_config c = rl::multidimensional_config::aware();
    c.mode = mode;
    c.max_replica_step = 2;
    c.max_cpu_step = 0.25;
    c.max_memory_step_mb = 256;
    return c;
}

/// FIRM's DDPG (ddpg_config::firm()) with AWARE's Table 2 where it differs
/// from FIRM's code: γ 0.99 and τ 3e-3.
rl::ddpg_config agent_config(bool td3, double action_l2) {
    rl::ddpg_config c = rl::ddpg_config::firm();
    c.action_l2 = action_l2;
    if (td3) {
        c.twin_critics = true;
        c.policy_noise = 0.2;
        c.noise_clip = 0.5;
        c.policy_delay = 2;
    }
    c.gamma = 0.99;
    c.tau = 3e-3;
    c.replay_capacity = 100'000;
    return c;
}

/// One agent managed by a lifecycle, the fallback beside it, the action
/// map and the guard: AWARE's control loop for one workload.
struct managed_agent {
    agent_t agent;
    rlscale::lifecycle life;
    hpa_vpa_policy fallback = make_fallback();
    rl::multidimensional_actions actions;
    guard_config guard = make_guard(rl::multidimensional_config::aware());
    double bc_alpha = 2.5;  ///< TD3+BC's α while OFFLINE (Fujimoto & Gu's default)
    double online_bc_alpha = 0;  ///< TD3+BC's α once ONLINE or SERVING (0 = plain DDPG)
    bool frozen = false;    ///< never retrains (the no-retraining baseline)
    double clock_s = 0;     ///< simulated seconds of the episodes run so far (the fallback's clock)

    managed_agent(lifecycle_config lc, std::uint64_t seed, rl::multidimensional_config a, const rl::ddpg_config& c)
        : agent(firm_encoder::feature_count, std::vector<rl::action_bound>(3, rl::action_bound{-1, 1}), c, seed),
          life(lc),
          actions(1, a) {
        life.start();
        sync_bc();
    }
    void sync_bc() { agent.set_bc_alpha(life.behaviour_cloning() ? bc_alpha : online_bc_alpha); }
};

/// Runs one episode of `m` on `env` (reset with `seed`), storing every step
/// in `store` (when given); returns its tally. The fallback decides every
/// tick, so its histograms and windows stay current whoever acts.
tally run_episode(managed_agent& m, env_t& env, std::uint64_t seed, trajectory_store* store, bool learn = true) {
    std::array<float, 9> obs{};
    std::array<float, 9> next{};
    std::array<float, 3> values{};
    std::array<float, 3> applied{};
    std::array<scaling_target, 1> target{};
    const auto first = env.reset(seed);
    std::copy(first.begin(), first.end(), obs.begin());
    bool obs_valid = env.observation_valid();  // a transition from or to a refused observation is not learnt from
    m.agent.reset_noise();
    tally t;
    if (store != nullptr) store->begin_episode();
    for (int step = 0;; ++step) {
        const function_metrics& metrics = env.metrics()[0];
        const scaling_state& state = env.states()[0];
        const decision from_fallback = m.fallback.decide(metrics, on_run_clock(state, m.clock_s));
        const bool agent_acts = m.life.who_acts() == actor_role::agent;
        decision d;
        if (!check_metrics(metrics)) {
            d = keep(state, "guard: invalid metrics");
        } else if (agent_acts) {
            if (m.life.explores() && !m.frozen) m.agent.explore(obs, values);
            else m.agent.greedy(obs, values);
            m.actions.targets(values, env.metrics(), env.states(), target);
            d = {.replicas = target[0].replicas, .source = decision_source::policy, .reason = m.life.reason_tag(),
                 .cpu_limit = target[0].cpu_limit, .memory_limit_mb = target[0].memory_limit_mb};
            if (m.life.floors_agent()) d = at_least(d, from_fallback, state, "lifecycle: agent acts, raised to the fallback's floor");
        } else {
            d = from_fallback;
            d.source = decision_source::fallback;
            d.reason = m.life.reason_tag();
        }
        d = apply_guard(d, state, m.guard, metrics.ready_replicas);
        target[0] = {.replicas = d.replicas, .cpu_limit = d.cpu_limit, .memory_limit_mb = d.memory_limit_mb};
        // What was applied, in the agent's action space: the agent learns
        // from the guarded action (or the fallback's), not from its wish.
        m.actions.values_for(target, env.states(), applied);
        const auto r = env.step_to(target);
        std::copy(r.observation.begin(), r.observation.end(), next.begin());
        count(t, r.info[0], env.states()[0], r.reward);
        if (store != nullptr) {
            store->append({.step = static_cast<std::uint64_t>(step), .stage = m.life.current_stage(),
                           .actor = agent_acts ? actor_role::agent : actor_role::fallback, .reward = r.reward,
                           .state = std::vector<float>(obs.begin(), obs.end()),
                           .action = std::vector<float>(applied.begin(), applied.end())});
        }
        if (learn && !m.frozen && m.life.learns() && obs_valid && r.observation_valid) {
            m.agent.observe(obs, applied, r.reward, next, false, r.truncated);
        }
        obs = next;
        obs_valid = r.observation_valid;
        if (r.truncated) break;
    }
    t.episodes = 1;
    m.clock_s += env.simulation().now();
    if (store != nullptr) (void)store->end_episode();
    return t;
}

/// The fallback alone for one episode.
tally run_fallback_episode(hpa_vpa_policy& fallback, const guard_config& guard, env_t& env, std::uint64_t seed, double& clock_s) {
    (void)env.reset(seed);
    std::array<scaling_target, 1> target{};
    tally t;
    for (;;) {
        const decision d = apply_guard(fallback.decide(env.metrics()[0], on_run_clock(env.states()[0], clock_s)), env.states()[0], guard,
                                       env.metrics()[0].ready_replicas);
        target[0] = {.replicas = d.replicas, .cpu_limit = d.cpu_limit, .memory_limit_mb = d.memory_limit_mb};
        const auto r = env.step_to(target);
        count(t, r.info[0], env.states()[0], r.reward);
        if (r.truncated) break;
    }
    t.episodes = 1;
    clock_s += env.simulation().now();
    return t;
}

env_t make_env(const aware_scenario& sc, const sim::function_profile& p, sim::workload load, double alpha) {
    return env_t(sc.cluster(p, std::move(load)), sc.env(p), firm_encoder(firm_encoder_config::aware()),
                 firm_reward(firm_reward_config{.alpha = alpha}));
}

/// A training run: `episodes` episodes of the training loads, every one on
/// its own load and seed; the per-episode rewards, the tally until the
/// first SERVING (or of the whole run) and of the whole run.
struct training_run {
    std::vector<double> rewards;
    std::vector<stage> stages;
    std::vector<int> violations;
    tally until_serving;
    tally all;
    std::optional<int> first_serving;
    std::optional<managed_agent> last_served;  ///< the agent as it last entered SERVING (the converged policy)
    double served_reward = 0;                  ///< the mean reward of the window that let it serve
};

training_run train(managed_agent& m, const aware_scenario& sc, int episodes, double alpha, std::uint64_t seed, trajectory_store* store,
                   const char* name) {
    training_run run;
    const auto p = examples::aware_profile();
    for (int e = 0; e < episodes; ++e) {
        env_t env = make_env(sc, p, sc.training_load(static_cast<std::uint64_t>(e)), alpha);
        const stage during = m.life.current_stage();
        const tally t = run_episode(m, env, seed + static_cast<std::uint64_t>(e), store);
        run.rewards.push_back(t.reward);
        run.stages.push_back(during);
        run.violations.push_back(t.violations);
        run.all.add(t);
        if (!run.first_serving) run.until_serving.add(t);
        if (const auto tr = m.life.end_episode(t.reward)) {
            m.sync_bc();
            std::printf("  %-16s episode %4d: %s -> %s (%s)\n", name, e, std::string(to_string(tr->from)).c_str(),
                        std::string(to_string(tr->to)).c_str(), tr->reason.c_str());
            if (tr->to == stage::serving) {
                if (!run.first_serving) run.first_serving = e + 1;
                run.last_served.emplace(m);
                run.served_reward = tr->mean;
            }
        }
        if ((e + 1) % 25 == 0 || e + 1 == episodes) {
            std::printf("  %-16s episode %4d/%d  stage %-7s  reward %7.1f  violations %3d/%d  updates %llu\n", name, e + 1, episodes,
                        std::string(to_string(m.life.current_stage())).c_str(), t.reward, t.violations, t.intervals,
                        static_cast<unsigned long long>(m.agent.updates()));
        }
    }
    return run;
}

/// The fallback alone over the same episodes as `train`.
tally fallback_over(const aware_scenario& sc, int episodes, double alpha, std::uint64_t seed, aware_change change = aware_change::none,
                    double level = 1.0, int first = 0, std::vector<double>* rewards = nullptr) {
    hpa_vpa_policy fb = make_fallback();
    const guard_config g = make_guard(rl::multidimensional_config::aware());
    const auto p = examples::aware_profile(change);
    tally all;
    double clock_s = 0;
    for (int e = first; e < first + episodes; ++e) {
        env_t env = make_env(sc, p, sc.training_load(static_cast<std::uint64_t>(e), level), alpha);
        const tally t = run_fallback_episode(fb, g, env, seed + static_cast<std::uint64_t>(e), clock_s);
        if (rewards != nullptr) rewards->push_back(t.reward);
        all.add(t);
    }
    return all;
}

void print_row(const char* name, const tally& t, const char* extra = "") {
    std::printf("| %-32s | %9.1f | %6.1f %% | %6.1f %% | %6.1f %% | %6.2f | %6.2f |%s\n", name, t.episode_reward(),
                100 * t.violation_share(), 100 * t.mean(t.cpu_util), 100 * t.mean(t.mem_util), t.mean(t.cores), t.mean(t.memory_gb),
                extra);
}
void print_header() {
    std::printf("| %-32s | %9s | %8s | %8s | %8s | %6s | %6s |\n", "run", "reward/ep", "SLO viol", "CPU util", "mem util", "cores",
                "mem GB");
    std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(34, '-').c_str(), std::string(11, '-').c_str(), std::string(10, '-').c_str(),
                std::string(10, '-').c_str(), std::string(10, '-').c_str(), std::string(8, '-').c_str(), std::string(8, '-').c_str());
}

double ratio(double a, double b) { return b > 0 ? a / b : (a > 0 ? INFINITY : 1.0); }

void write_svg(const std::filesystem::path& path, const std::vector<std::pair<std::string, std::vector<double>>>& curves) {
    double lo = INFINITY;
    double hi = -INFINITY;
    std::size_t n = 0;
    for (const auto& [name, c] : curves) {
        for (const double v : c) lo = std::min(lo, v), hi = std::max(hi, v);
        n = std::max(n, c.size());
    }
    if (!(hi > lo)) hi = lo + 1;
    const double w = 720;
    const double h = 360;
    const double pad = 40;
    const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
    std::ostringstream out;  // formatted as a std::ofstream would, then written checked and atomically
    out << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h << "'>\n"
        << "<rect width='100%' height='100%' fill='white'/>\n";
    std::size_t k = 0;
    for (const auto& [name, c] : curves) {
        out << "<polyline fill='none' stroke='" << colours[k % 4] << "' stroke-width='1.5' points='";
        for (std::size_t i = 0; i < c.size(); ++i) {
            const double x = pad + (w - 2 * pad) * static_cast<double>(i) / static_cast<double>(std::max<std::size_t>(1, n - 1));
            const double y = h - pad - (h - 2 * pad) * (c[i] - lo) / (hi - lo);
            out << x << "," << y << " ";
        }
        out << "'/>\n<text x='" << pad + 10 << "' y='" << 20 + 16 * k << "' fill='" << colours[k % 4] << "' font-size='13'>" << name
            << "</text>\n";
        ++k;
    }
    out << "<text x='" << pad << "' y='" << h - 10 << "' font-size='11'>episodes; episode reward " << lo << " .. " << hi
        << "</text>\n</svg>\n";
    apps::write_text_file(path, out.str());
}

}  // namespace

static int program(int argc, char** argv) {
    const options o = parse(argc, argv);
    const auto started = std::chrono::steady_clock::now();
    const aware_scenario sc({.trace_dir = o.trace});
    if (!o.trace.empty() && !sc.from_trace()) {
        usage("--trace: no Azure trace with usable functions in " + cli::quoted(o.trace.string()) + " (it needs an invocations.csv)");
    }
    // Only once the trace is read: a refused run leaves no directory behind.
    std::filesystem::create_directories(o.out);
    std::printf("AWARE in the simulator: one workload (%s), replicas 1-%d, CPU %.3f-%.3f cores, memory %.0f-%.0f MB; "
                "%d steps of %.0f s per episode; FIRM reward alpha %.2f; %s actions; unseen loads: %s\n",
                examples::aware_profile().name.c_str(), sc.config().max_replicas, rl::multidimensional_config::aware().min_cpu_limit,
                rl::multidimensional_config::aware().max_cpu_limit, rl::multidimensional_config::aware().min_memory_limit_mb,
                rl::multidimensional_config::aware().max_memory_limit_mb, sc.config().episode_steps, sc.config().control_interval_s,
                o.alpha, std::string(rl::to_string(o.mode)).c_str(), sc.from_trace() ? ("Azure 2019 trace (" + sc.trace_dir()->string() + ")").c_str() : "synthetic (no trace found)");

    // Calibration: the rule-based reward sets the thresholds (AWARE §5.4 set
    // T_online to the rule-based autoscaler's per-episode reward, 130).
    std::vector<double> rule_rewards;
    const int calibration = static_cast<int>(std::max<std::size_t>(o.window, 5));
    (void)fallback_over(sc, calibration, o.alpha, o.seed + 1'000'000, aware_change::none, 1.0, 10'000, &rule_rewards);
    const double rule_mean = std::accumulate(rule_rewards.begin(), rule_rewards.end(), 0.0) / static_cast<double>(rule_rewards.size());
    double rule_var = 0;
    for (const double r : rule_rewards) rule_var += (r - rule_mean) * (r - rule_mean);
    const double rule_std = std::sqrt(rule_var / static_cast<double>(rule_rewards.size()));
    lifecycle_config lc;
    lc.window = o.window;
    lc.t_online = rule_mean - 0.5 * rule_std;
    lc.t_serving = rule_mean;
    lc.t_var = std::max(2.0 * rule_std, 0.02 * std::abs(rule_mean));
    std::printf("HPA+VPA over %d calibration episodes: reward %.1f +- %.1f per episode -> T_online %.1f, T_serving %.1f, T_var %.1f, K %zu\n",
                calibration, rule_mean, rule_std, lc.t_online, lc.t_serving, lc.t_var, lc.window);

    // 1. Bootstrapping.
    std::printf("\n1. bootstrapping (AWARE Fig. 10): %d training episodes each; %s\n", o.episodes,
                o.fallback_floor ? "the bootstrapped agent acts above HPA+VPA's decision (--fallback-floor on)"
                                 : "no floor under the agent (--fallback-floor off, as AWARE)");
    std::filesystem::remove(o.out / "trajectories.rlt");  // a fresh run; the store would append to an old one
    file_trajectory_store store(o.out / "trajectories.rlt");
    lifecycle_config with = lc;
    with.bootstrapping = true;
    with.fallback_floor = o.fallback_floor;
    lifecycle_config without = lc;
    without.bootstrapping = false;
    managed_agent boot(with, o.seed, action_config(o.mode), agent_config(o.td3, o.action_l2));
    boot.online_bc_alpha = o.online_bc;
    managed_agent scratch(without, o.seed, action_config(o.mode), agent_config(o.td3, o.action_l2));
    training_run a = train(boot, sc, o.episodes, o.alpha, o.seed, &store, "bootstrapped");
    const training_run b = train(scratch, sc, o.episodes, o.alpha, o.seed, nullptr, "from scratch");
    std::vector<double> rule_curve;
    const tally rule = fallback_over(sc, o.episodes, o.alpha, o.seed, aware_change::none, 1.0, 0, &rule_curve);
    std::printf("\n");
    print_header();
    print_row("HPA+VPA (rule-based)", rule);
    print_row("RL, bootstrapped (AWARE)", a.all);
    print_row("RL, from scratch", b.all);
    if (a.first_serving) print_row("AWARE until SERVING", a.until_serving);
    if (b.first_serving) print_row("from scratch until SERVING", b.until_serving);
    const auto serving = [&o](const training_run& r) {
        return r.first_serving ? "after " + std::to_string(*r.first_serving) + " episodes"
                               : "never (in " + std::to_string(o.episodes) + " episodes)";
    };
    std::printf("first SERVING: bootstrapped %s, from scratch %s\n", serving(a).c_str(), serving(b).c_str());
    int worse = 0;
    std::string worse_episodes;  // the first few, with both counts and the agent's stage
    std::vector<int> rule_violations;
    {
        hpa_vpa_policy fb = make_fallback();
        const guard_config g = make_guard(rl::multidimensional_config::aware());
        double clock_s = 0;
        for (int e = 0; e < o.episodes; ++e) {
            env_t env = make_env(sc, examples::aware_profile(), sc.training_load(static_cast<std::uint64_t>(e)), o.alpha);
            rule_violations.push_back(run_fallback_episode(fb, g, env, o.seed + static_cast<std::uint64_t>(e), clock_s).violations);
            const auto ei = static_cast<std::size_t>(e);
            if (a.violations[ei] > rule_violations.back()) {
                if (++worse <= 5) {
                    worse_episodes += (worse > 1 ? "; " : " (") + std::string("episode ") + std::to_string(e) + ": " +
                                      std::to_string(a.violations[ei]) + " against " +
                                      std::to_string(rule_violations.back()) + ", " +
                                      std::string(to_string(a.stages[ei]));
                }
            }
        }
    }
    std::printf("SLO violations during training, from scratch / bootstrapped: %.1fx (paper: 16.9x)\n",
                ratio(b.all.violations, a.all.violations));
    std::printf("CPU utilisation, bootstrapped vs from scratch: %+.1f %% (paper: +47.5 %%); memory: %+.1f %% (paper: +39.2 %%)\n",
                100 * (ratio(a.all.mean(a.all.cpu_util), b.all.mean(b.all.cpu_util)) - 1),
                100 * (ratio(a.all.mean(a.all.mem_util), b.all.mean(b.all.mem_util)) - 1));
    std::printf("reward per episode, bootstrapped vs from scratch: %+.1f %% (paper: +47.3 %% before convergence)\n",
                100 * (ratio(a.all.episode_reward(), b.all.episode_reward()) - 1));
    // The paper measures until the agent converged; here, until each agent
    // first entered SERVING: the violations training cost each (counts, over
    // windows of different lengths), and the means over each window.
    if (a.first_serving && b.first_serving) {
        std::printf("until each first entered SERVING (bootstrapped %d episodes, from scratch %d): SLO violations from scratch / "
                    "bootstrapped %.1fx (%d / %d intervals; paper: 16.9x); CPU utilisation %+.1f %%, memory %+.1f %%, reward per "
                    "episode %+.1f %%\n",
                    *a.first_serving, *b.first_serving, ratio(b.until_serving.violations, a.until_serving.violations),
                    b.until_serving.violations, a.until_serving.violations,
                    100 * (ratio(a.until_serving.mean(a.until_serving.cpu_util), b.until_serving.mean(b.until_serving.cpu_util)) - 1),
                    100 * (ratio(a.until_serving.mean(a.until_serving.mem_util), b.until_serving.mean(b.until_serving.mem_util)) - 1),
                    100 * (ratio(a.until_serving.episode_reward(), b.until_serving.episode_reward()) - 1));
    } else if (a.first_serving) {
        // The agent from scratch never converged: its count over every
        // episode is a lower bound on its count until it would have.
        std::printf("until each first entered SERVING (bootstrapped %d episodes, from scratch not in %d): SLO violations from scratch / "
                    "bootstrapped at least %.1fx (%d in all %d episodes / %d; paper: 16.9x)\n",
                    *a.first_serving, o.episodes, ratio(b.all.violations, a.until_serving.violations), b.all.violations, o.episodes,
                    a.until_serving.violations);
    } else {
        std::printf("until each first entered SERVING: not compared, the bootstrapped agent never did\n");
    }
    if (worse > 0) worse_episodes += worse > 5 ? "; ...)" : ")";
    std::printf("episodes in which the bootstrapped agent violated the SLO more often than HPA+VPA on the same load: %d of %d%s\n", worse,
                o.episodes, worse_episodes.c_str());

    // 2. Retraining.
    std::printf("\n2. retraining after workload changes (AWARE Fig. 9): %d episodes per change\n", o.retrain_episodes);
    // The converged agent: as it last entered SERVING (AWARE injects the
    // changes into a converged, serving agent), else as training left it.
    const managed_agent converged_agent = a.last_served ? *a.last_served : boot;
    const double converged = a.last_served ? a.served_reward
                                           : std::accumulate(a.rewards.end() - std::min<std::ptrdiff_t>(10, std::ssize(a.rewards)),
                                                             a.rewards.end(), 0.0) /
                                                 static_cast<double>(std::min<std::ptrdiff_t>(10, std::ssize(a.rewards)));
    if (a.last_served) {
        std::printf("the converged agent: the bootstrapped one as it last entered SERVING, at a window mean of %.1f per episode\n",
                    converged);
    } else {
        std::printf("the bootstrapped agent never reached SERVING; the changes go to it as training left it (%s), whose last "
                    "episodes earned %.1f\n",
                    std::string(to_string(boot.life.current_stage())).c_str(), converged);
    }
    print_header();
    tally retrain_total;
    tally frozen_total;
    tally rule_total;
    for (const aware_change change : {aware_change::load_level, aware_change::service_time, aware_change::new_profile}) {
        managed_agent retraining = converged_agent;
        managed_agent frozen = converged_agent;
        frozen.frozen = true;
        // Each starts the change with a fresh fallback, as the HPA+VPA it is
        // compared with does: a floor with the VPA history of the training
        // episodes behind it would be a better-informed floor than the rule's.
        for (managed_agent* m : {&retraining, &frozen}) {
            m->fallback = make_fallback();
            m->clock_s = 0;
        }
        const double level = change == aware_change::load_level ? 1.8 : 1.0;
        const auto p = examples::aware_profile(change);
        tally rt;
        tally fz;
        for (int e = 0; e < o.retrain_episodes; ++e) {
            const auto episode = static_cast<std::uint64_t>(50'000 + e);
            env_t env1 = make_env(sc, p, sc.training_load(episode, level), o.alpha);
            const tally t1 = run_episode(retraining, env1, o.seed + episode, nullptr);
            if (const auto tr = retraining.life.end_episode(t1.reward)) {
                retraining.sync_bc();
                std::printf("  %-16s episode %4d: %s -> %s (%s)\n", std::string(to_string(change)).c_str(), e,
                            std::string(to_string(tr->from)).c_str(), std::string(to_string(tr->to)).c_str(), tr->reason.c_str());
            }
            rt.add(t1);
            env_t env2 = make_env(sc, p, sc.training_load(episode, level), o.alpha);
            fz.add(run_episode(frozen, env2, o.seed + episode, nullptr, false));
        }
        const tally rl = fallback_over(sc, o.retrain_episodes, o.alpha, o.seed, change, level, 50'000);
        const std::string name(to_string(change));
        print_row(("AWARE (retrains), " + name).c_str(), rt);
        print_row(("never retrains, " + name).c_str(), fz);
        print_row(("HPA+VPA, " + name).c_str(), rl);
        retrain_total.add(rt);
        frozen_total.add(fz);
        rule_total.add(rl);
    }
    print_row("AWARE (retrains), all changes", retrain_total);
    print_row("never retrains, all changes", frozen_total);
    print_row("HPA+VPA, all changes", rule_total);
    std::printf("SLO violations, never retraining / AWARE: %.1fx (paper: 3.1x)\n", ratio(frozen_total.violations, retrain_total.violations));
    std::printf("AWARE's reward after the changes vs the converged reward before them: %+.1f %% (paper: -3.6 %%; the changed "
                "workloads have other attainable rewards, so this mixes the change's cost with retraining's)\n",
                100 * (ratio(retrain_total.episode_reward(), converged) - 1));

    // 3. Unseen loads.
    std::printf("\n3. the bootstrapped agent (greedy, no learning) against HPA+VPA on %zu unseen loads%s, %d episodes each\n",
                sc.unseen_count(), sc.from_trace() ? " from the Azure trace" : " (synthetic)", o.eval_episodes);
    managed_agent served = converged_agent;
    served.frozen = true;
    // HPA+VPA with the HPA's CPU target from 30 to 90 % (70 % is the
    // fallback's), each on the same loads and seeds as the agent.
    constexpr int first_target = 30;
    constexpr int target_step = 5;
    constexpr std::size_t target_count = 13;
    const auto target_of = [](std::size_t k) { return first_target + target_step * static_cast<int>(k); };
    tally agent_unseen;
    std::array<tally, target_count> rule_unseen{};
    // Episode e on unseen load i: 30 steps further into the load per
    // episode, and the same simulator seed for every policy.
    const auto unseen_env = [&](std::size_t i, int e) {
        return make_env(sc, examples::aware_profile(), sc.unseen_load(i, static_cast<std::size_t>(e) * 30), o.alpha);
    };
    const auto unseen_seed = [&](std::size_t i, int e) {
        return o.seed + 90'000 + static_cast<std::uint64_t>(i * 1000 + static_cast<std::size_t>(e));
    };
    for (std::size_t i = 0; i < sc.unseen_count(); ++i) {
        const guard_config g = make_guard(rl::multidimensional_config::aware());
        // On each load the agent's floor starts fresh, as each HPA+VPA does.
        served.fallback = make_fallback();
        served.clock_s = 0;
        for (int e = 0; e < o.eval_episodes; ++e) {
            env_t env = unseen_env(i, e);
            agent_unseen.add(run_episode(served, env, unseen_seed(i, e), nullptr, false));
        }
        for (std::size_t k = 0; k < target_count; ++k) {
            hpa_vpa_policy fb = make_fallback(target_of(k));
            double clock_s = 0;
            for (int e = 0; e < o.eval_episodes; ++e) {
                env_t env = unseen_env(i, e);
                rule_unseen[k].add(run_fallback_episode(fb, g, env, unseen_seed(i, e), clock_s));
            }
        }
    }
    // At the agent's resources: the target whose HPA+VPA allocates the mean
    // cores closest to the agent's. (The HPA's target moves replicas, and the
    // VPA then sizes each replica's CPU limit to its usage, so over the
    // sweep the cores need not move monotonically, nor reach the agent's.)
    // Beside it, the target with the fewest violations.
    const double agent_cores = agent_unseen.mean(agent_unseen.cores);
    std::size_t closest = 0;
    std::size_t fewest = 0;
    for (std::size_t k = 1; k < target_count; ++k) {
        const tally& t = rule_unseen[k];
        if (std::abs(t.mean(t.cores) - agent_cores) < std::abs(rule_unseen[closest].mean(rule_unseen[closest].cores) - agent_cores)) {
            closest = k;
        }
        if (t.violation_share() < rule_unseen[fewest].violation_share()) fewest = k;
    }
    const std::size_t default_target = (fallback_hpa_target - first_target) / target_step;
    print_header();
    print_row("RL (AWARE, bootstrapped)", agent_unseen);
    print_row("HPA+VPA", rule_unseen[default_target]);
    // The closest and the fewest-violations targets, each once and only
    // when it is not the fallback's own row above.
    const std::string closest_name = "HPA+VPA " + std::to_string(target_of(closest)) + " % (closest cores)";
    if (closest != default_target) print_row(closest_name.c_str(), rule_unseen[closest]);
    const std::string fewest_name = "HPA+VPA " + std::to_string(target_of(fewest)) + " % (fewest viol.)";
    if (fewest != closest && fewest != default_target) print_row(fewest_name.c_str(), rule_unseen[fewest]);
    std::printf("HPA+VPA by the HPA's CPU target (violations at mean cores):");
    for (std::size_t k = 0; k < target_count; ++k) {
        std::printf("%s %d %%: %.1f %% at %.2f", k == 0 ? "" : ";", target_of(k), 100 * rule_unseen[k].violation_share(),
                    rule_unseen[k].mean(rule_unseen[k].cores));
    }
    std::printf("\n");
    const tally& near = rule_unseen[closest];
    std::printf("at the agent's resources: HPA+VPA with a %d %% target allocates %.2f cores and %.2f GB against the agent's %.2f "
                "and %.2f (%.2fx and %.2fx the agent's); SLO violations, agent / HPA+VPA: %.1f %% / %.1f %% (HPA+VPA's fewest "
                "over the targets: %.1f %% at %d %%)\n",
                target_of(closest), near.mean(near.cores), near.mean(near.memory_gb), agent_cores, agent_unseen.mean(agent_unseen.memory_gb),
                ratio(near.mean(near.cores), agent_cores), ratio(near.mean(near.memory_gb), agent_unseen.mean(agent_unseen.memory_gb)),
                100 * agent_unseen.violation_share(), 100 * near.violation_share(), 100 * rule_unseen[fewest].violation_share(),
                target_of(fewest));

    // Outputs: curves, trajectories, the actor with its lifecycle.
    {
        // Formatted as a std::ofstream would, then written checked and atomically.
        std::ostringstream csv;
        csv << "episode,bootstrapped_reward,bootstrapped_stage,scratch_reward,scratch_stage,hpa_vpa_reward\n";
        for (std::size_t e = 0; e < a.rewards.size(); ++e) {
            csv << e << "," << a.rewards[e] << "," << to_string(a.stages[e]) << "," << b.rewards[e] << "," << to_string(b.stages[e]) << ","
                << rule_curve[e] << "\n";
        }
        apps::write_text_file(o.out / "aware_training.csv", csv.str());
        write_svg(o.out / "aware_training.svg",
                  {{"bootstrapped (AWARE)", a.rewards}, {"from scratch", b.rewards}, {"HPA+VPA", rule_curve}});
    }
    {
        // The artefact the controller and the decision service serve: the
        // actor, its serving spec (ddpg, FIRM's encoder, the multidimensional
        // map, the guard) and the lifecycle it was trained under.
        managed_agent artefact = converged_agent;
        nlohmann::json j = nn::make_checkpoint(artefact.agent.serving_actor());
        serving_spec spec;
        spec.algorithm = "ddpg";
        spec.encoder = {{"name", "firm"}, {"cpu_max_cores", firm_encoder_config::aware().cpu_max_cores},
                        {"memory_max_mb", firm_encoder_config::aware().memory_max_mb}};
        spec.actions = action_spec(artefact.actions);
        spec.functions = {examples::aware_profile().name};
        spec.guard = artefact.guard;
        spec.fallback_floor = artefact.life.config().fallback_floor;
        j["serving"] = spec.to_json();
        j["lifecycle"] = artefact.life;
        nn::write_checkpoint_file(o.out / "aware_actor.json", j);
        // Served back through the registry, it decides as the trainer's greedy
        // path does (above a fallback of its own when it was trained with the floor).
        // The registry refuses an actor whose lifecycle never reached
        // SERVING; the comparison below serves it anyway, as it is.
        learned_policy served_back = load_learned_policy(
            o.out / "aware_actor.json", {.allow_before_serving = artefact.life.current_stage() != stage::serving});
        env_t env = make_env(sc, examples::aware_profile(), sc.unseen_load(0, 0), o.alpha);
        (void)env.reset(o.seed);
        int same = 0;
        int ticks = 0;
        std::array<float, 3> values{};
        std::array<scaling_target, 1> target{};
        std::array<decision, 1> d{};
        hpa_vpa_policy floor = make_fallback();
        for (int step = 0; step < 20; ++step) {
            const auto obs = env.observation_of(0);
            artefact.agent.greedy(std::span<const float>(obs.data(), obs.size()), values);
            artefact.actions.targets(values, env.metrics(), env.states(), target);
            decision wish = {.replicas = target[0].replicas, .cpu_limit = target[0].cpu_limit, .memory_limit_mb = target[0].memory_limit_mb};
            if (spec.fallback_floor) wish = at_least(wish, floor.decide(env.metrics()[0], env.states()[0]), env.states()[0], "floor");
            const decision mine = apply_guard(wish, env.states()[0], artefact.guard, env.metrics()[0].ready_replicas);
            served_back.policy.decide(env.metrics(), env.states(), d);
            ++ticks;
            const auto close = [](double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= 1e-4 * std::abs(b); };
            if (d[0].replicas == mine.replicas && close(d[0].cpu_limit, mine.cpu_limit) && close(d[0].memory_limit_mb, mine.memory_limit_mb)) {
                ++same;
            }
            target[0] = {.replicas = mine.replicas, .cpu_limit = mine.cpu_limit, .memory_limit_mb = mine.memory_limit_mb};
            (void)env.step_to(target);
        }
        std::printf("\ncheckpoint %s (ddpg, lifecycle stage %s) served back through the registry: %d of %d decisions identical to "
                    "the trainer's greedy ones\n",
                    (o.out / "aware_actor.json").string().c_str(), std::string(to_string(artefact.life.current_stage())).c_str(), same,
                    ticks);
    }
    std::printf("\ntrajectory store: %zu episodes in %s\n", store.episode_count(), (o.out / "trajectories.rlt").string().c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("wrote %s, %s and %s in %.0f s\n", (o.out / "aware_training.csv").string().c_str(),
                (o.out / "aware_training.svg").string().c_str(), (o.out / "aware_actor.json").string().c_str(), seconds);
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
