// rlscale's main demo: SCARLET's DQN autoscaler reproduced end to end on the
// simulator. Trains the agent on SCARLET's three concurrent functions
// (fibonacci-python, hotel-app-geo, hotel-app-profile; p90 SLAs, 600 req/s
// target throughputs), saves and reloads the checkpoint through the
// validating loader, then serves it greedily (guarded, with the HPA as
// fallback) against the HPA, the KPA and a static allocation on the training
// scenario (fresh arrivals) and on three Azure Functions 2019 trace
// functions it never saw. Prints the table and writes a CSV and SVG plots.
//
//   rlscale_scarlet_demo [--steps N] [--hours H] [--seed S] [--out DIR] [--data DIR]
//                        [--lr X] [--gamma X] [--epsilon-decay X] [--actions delta|utilization] [--deltas a,b,...] [--targets u,v,...] [--downscale-window TICKS] [--replica-cost W]
//                        [--precision full|bf16] [--validation-hours H] [--model request|tick] [--update-threads N]
//
// By default it trains on the tick-level model and cuts each update's batch
// into two shards (docs/simulator.md has the comparison over 30 seeds that
// chose this); evaluation is always on the request-level model.
// --update-threads N cuts each update's batch into N shards run on N threads
// (dqn_config::update_shards): the result depends on N, so compare runs at
// the same N. Without it, the two default shards run on two threads, or on
// one on a one-core machine (the same result).
#include "../apps/common/cli.hpp"
#include "../apps/common/output_file.hpp"
#include "../apps/common/plots.hpp"
#include "common/scarlet_dqn.hpp"
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/sim/scenario.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {
std::vector<std::string> split_list(const std::string& list) {
    std::vector<std::string> out;
    for (std::size_t pos = 0; pos <= list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        out.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
    }
    return out;
}
}  // namespace

static int program(int argc, char** argv) {
    using namespace rlscale;
    using namespace rlscale::apps;
    using namespace rlscale::examples;
    using namespace rlscale::sim;
    std::uint64_t steps = 12'000;
    double hours = 2;
    std::uint64_t seed = 1;
    std::filesystem::path out = "scarlet-demo";
    std::filesystem::path data = std::filesystem::path(RLSCALE_SOURCE_DIR) / "data" / "azure2019-excerpt";
    rl::dqn_config config = demo_dqn_config();
    demo_actions actions;
    double cost_weight = replica_cost_weight;
    double validation_hours = 1;  // 0: keep the last weights
    sim_model model = sim_model::tick;  // what training and checkpoint selection simulate on
    config.update_shards = 2;
    config.update_threads = std::min<std::size_t>(2, std::max(1U, std::thread::hardware_concurrency()));
    for (int i = 1; i < argc; ++i) try {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "usage: %s [--steps N] [--hours H] [--seed S] [--out DIR] [--data DIR] [--lr X] [--gamma X] [--epsilon-decay X] [--actions delta|utilization] [--deltas a,b,...] [--targets u,v,...] [--downscale-window TICKS] [--replica-cost W] [--precision full|bf16] [--validation-hours H] [--model request|tick] [--update-threads N]\n", argv[0]);
            return 2;
        }
        if (arg == "--steps") {
            steps = rlscale::cli::integer<unsigned long long>(arg, argv[++i]);
        } else if (arg == "--hours") {
            hours = rlscale::cli::number(arg, argv[++i]);
        } else if (arg == "--seed") {
            seed = rlscale::cli::integer<unsigned long long>(arg, argv[++i]);
        } else if (arg == "--out") {
            out = argv[++i];
        } else if (arg == "--data") {
            data = argv[++i];
        } else if (arg == "--lr") {
            // Adam's step size: past 1 the gradients overflow and every
            // update is refused (the documented runs use 1e-4).
            config.adam.lr = rlscale::cli::number(arg, argv[++i]);
            if (!(config.adam.lr > 0 && config.adam.lr <= 1)) {
                throw rlscale::cli::usage_error(arg, "must be in (0, 1], got " + rlscale::cli::quoted(argv[i]));
            }
        } else if (arg == "--gamma") {
            config.gamma = rlscale::cli::number(arg, argv[++i]);
        } else if (arg == "--deltas") {
            actions.deltas.clear();
            for (const std::string& v : split_list(argv[++i])) actions.deltas.push_back(rlscale::cli::integer<int>(arg, v));
        } else if (arg == "--targets") {
            actions.targets.clear();
            for (const std::string& v : split_list(argv[++i])) actions.targets.push_back(rlscale::cli::number(arg, v));
        } else if (arg == "--replica-cost") {
            // A replica's price in the reward: far past 1e6 the rewards
            // overflow the replay buffer's floats, refused mid-training.
            cost_weight = rlscale::cli::number_in(arg, argv[++i], 0, 1e6);
        } else if (arg == "--downscale-window") {
            // The registry serves a checkpoint's window up to 100000 ticks.
            actions.downscale_window = rlscale::cli::integer<unsigned long>(arg, argv[++i], 0, 100'000);
        } else if (arg == "--actions") {
            actions.kind = argv[++i];
        } else if (arg == "--epsilon-decay") {
            config.epsilon.decay = rlscale::cli::number(arg, argv[++i]);
        } else if (arg == "--validation-hours") {
            validation_hours = rlscale::cli::number(arg, argv[++i]);
        } else if (arg == "--model") {
            model = sim_model_from_string(argv[++i], "--model");
        } else if (arg == "--precision") {
            config.precision = nn::matmul_precision_from_string(argv[++i], "--precision");
        } else if (arg == "--update-threads") {
            const int n = rlscale::cli::integer<int>(arg, argv[++i], 1, 64);
            config.update_shards = config.update_threads = static_cast<std::size_t>(n);
        } else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
        // Each value is checked as it is read, before --out is created: the
        // defaults are valid and each flag sets its own fields, so what the
        // checks refuse is this flag's value, a usage error naming it. Both
        // action maps are checked whichever --actions picks, so the order of
        // the flags does not matter.
        try {
            config.validate();
            (void)rl::utilization_target_actions(3, actions.targets);
            (void)rl::joint_delta_actions(3, actions.deltas);
            (void)with_action_map(actions, 3, [](const auto& map) { return map.layout().outputs(); });
        } catch (const config_error& e) {
            throw rlscale::cli::usage_error(arg, e.detail() + " (" + e.field() + ")");
        }
    } catch (const rlscale::cli::usage_error& e) {  // names the option and the value
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    } catch (const config_error& e) {  // names the option itself
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bad value for %s: %s\n", argv[i - 1], e.what());
        return 2;
    }
    if (steps == 0 || !(hours > 0) || !(cost_weight >= 0) || !(validation_hours >= 0)) {
        std::fprintf(stderr, "--steps and --hours must be > 0, --replica-cost and --validation-hours >= 0\n");
        return 2;
    }
    // The loads are binned by the second, at most 1e8 bins (27,777 hours),
    // so a longer run is refused here, by its flag; a run plays whole control
    // intervals, so one shorter than an interval is refused before training.
    for (const auto& [flag, value] : {std::pair{"--hours", hours}, std::pair{"--validation-hours", validation_hours}}) {
        if (value > 20'000) {
            std::fprintf(stderr, "%s: must be <= 20000, got %g\n", flag, value);
            return 2;
        }
        if (value > 0 && 3600 * value + 1e-9 < control_interval_s) {
            std::fprintf(stderr, "%s: must be at least one control interval (%g s, %g hours), got %g\n", flag, control_interval_s,
                         control_interval_s / 3600, value);
            return 2;
        }
    }
    try {
        // The evaluation's scenarios (and the trace under --data) are read
        // before training, so a bad --data fails at once, and before --out
        // is made, so it leaves no directory behind.
        const std::vector<scenario> scenarios{scarlet_3fn(3600 * hours), azure(data, azure_3fn_hashes(), 3600 * hours)};
        std::filesystem::create_directories(out);
        const auto t0 = std::chrono::steady_clock::now();

        const std::filesystem::path checkpoint = out / "scarlet_dqn.json";
        // 1. Train on SCARLET's scenario: one-hour episodes, fresh arrivals each.
        std::vector<scarlet_env> envs;
        for (const scenario& sc : training_scenarios(3600, seed)) envs.push_back(make_env(sc, 240, cost_weight, model));
        const rl::train_report last = with_action_map(actions, 3, [&](const auto& map) {
            rl::dqn<float> trained(envs[0].observation_size(), map.layout(), config, seed);
            const serving_spec spec = demo_spec(actions, scarlet_3fn(3600));
            std::printf("== training SCARLET's DQN (2x128, %zu outputs: %s actions, %zu inputs) for %llu steps of 15 s on the %s-level model\n",
                        map.layout().outputs(), actions.kind.c_str(), envs[0].observation_size(), static_cast<unsigned long long>(steps),
                        std::string(to_string(model)).c_str());
            // Checkpoint selection: from a third of the way on, each report
            // scores the greedy policy on a validation load (a random walk
            // of its own seed, like the training walks; never the evaluation
            // scenarios) and the best-scoring weights become the checkpoint.
            std::optional<scenario> validation;
            if (validation_hours > 0) {
                rng gen(seed + 424'242);
                validation = random_walk_3fn(3600 * validation_hours, gen);
            }
            const auto candidate = out / "candidate.json";
            double best = -std::numeric_limits<double>::infinity();
            std::uint64_t kept_step = 0;
            const auto select = [&](const rl::train_report& p) {
                std::printf("%s", rl::format_report(p).c_str());
                if (validation && p.step * 3 >= steps) {
                    save_agent(candidate, trained, spec);
                    const outcome o = run(*validation, checkpoint_policy(candidate, *validation), seed + 31, demo_reward(cost_weight), false, model);
                    std::printf("  validation reward %+.3f, slo-viol %.1f %%", o.mean_reward(), 100.0 * o.violation_rate());
                    if (o.mean_reward() > best) {
                        best = o.mean_reward();
                        kept_step = p.step;
                        std::filesystem::copy_file(candidate, checkpoint, std::filesystem::copy_options::overwrite_existing);
                        std::printf(" (kept)");
                    }
                }
                std::printf("\n");
            };
            const rl::train_report r = rl::train(std::span<scarlet_env>(envs), trained, map,
                                                     {.steps = steps, .seed = seed * 1000, .report_every = steps / 12 + 1,
                                                      .downscale_window = actions.downscale_window},
                                                     select);
            std::filesystem::remove(candidate);
            if (kept_step == 0) {
                save_agent(checkpoint, trained, spec);
                std::printf("kept the last weights (no validation)\n");
            } else {
                std::printf("kept the weights of step %llu (validation reward %+.3f)\n", static_cast<unsigned long long>(kept_step), best);
            }
            return r;
        });
        const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("trained: %llu steps (%.1f simulated hours), %llu updates, %.1f s wall clock\n",
                    static_cast<unsigned long long>(last.step), static_cast<double>(last.step) * control_interval_s / 3600.0,
                    static_cast<unsigned long long>(last.updates), train_s);

        // 2. Serve from the saved file (the validating loader).
        std::printf("checkpoint: %s\n\n", checkpoint.string().c_str());

        // 3. Evaluate against the baselines on fresh arrivals.
        const std::uint64_t eval_seed = seed + 7919;
        const auto reward = demo_reward(cost_weight);
        // Written to a temporary file beside it, renamed once complete; a
        // failed write throws naming the file.
        output_file csv_file(out / "scarlet_demo.csv");
        std::FILE* csv = csv_file.get();
        csv_header(csv);
        std::printf("| scenario | policy | SLO violation rate | p99 / SLO, median tick | replica-seconds | mean reward | fallback ticks |\n");
        std::printf("|---|---|---:|---:|---:|---:|---:|\n");
        struct frontier {
            const scenario* sc;
            outcome dqn;
            std::vector<frontier_point> hpa;
        };
        std::vector<frontier> frontiers;
        for (const scenario& sc : scenarios) {
            std::vector<outcome> results;
            const std::vector<std::string> names{"dqn", "hpa", "kpa", "static"};
            for (const std::string& name : names) {
                any_joint_policy policy = name == "dqn" ? checkpoint_policy(checkpoint, sc) : per_function_policy(name, sc);
                results.push_back(run(sc, policy, eval_seed, reward, true));
                const outcome& o = results.back();
                csv_rows(csv, sc, name, o);
                std::printf("| %s%s | %s | %.1f %% | %.3g | %.0f | %+.3f | %.1f %% |\n", sc.name.c_str(),
                            sc.name == "scarlet-3fn" ? " (trained)" : " (unseen)", name.c_str(), 100.0 * o.violation_rate(),
                            o.p99_ratio(0.5), o.replica_seconds, o.mean_reward(),
                            o.ticks > 0 ? 100.0 * o.fallback_ticks / (o.reward_ticks * static_cast<double>(sc.states.size())) : 0.0);
            }
            std::vector<labelled_run> runs;
            for (std::size_t k = 0; k < names.size(); ++k) runs.push_back({names[k], &results[k]});
            plot_runs(out / (sc.name + ".svg"), sc, runs);
            frontiers.push_back({&sc, results[0], {}});
            for (const int target : {40, 50, 60, 70, 80, 90}) {
                const outcome o = target == 70 ? results[1] : run(sc, per_function_policy("hpa-" + std::to_string(target), sc), eval_seed, reward);
                frontiers.back().hpa.push_back({target, o.replica_seconds, o.violation_rate()});
            }
        }
        // 4. The DQN against the HPA spending as much: the HPA at other CPU
        // targets traces its cost–violation trade-off, and the highest
        // target that still spends at least the DQN's replica-seconds is the
        // HPA configured for the DQN's budget.
        std::printf("\nThe HPA at other CPU targets, and at the DQN's budget:\n\n");
        std::printf("| scenario | dqn | HPA by CPU target: violations at replica-seconds | cheapest HPA spending at least the dqn's replica-seconds |\n"
                    "|---|---|---|---|\n");
        for (const frontier& f : frontiers) {
            std::string points;
            for (const frontier_point& p : f.hpa) {
                char buf[80];
                std::snprintf(buf, sizeof buf, "%s%d %%: %.1f %% at %.0f", points.empty() ? "" : "; ", p.target, 100.0 * p.violation_rate,
                              p.replica_seconds);
                points += buf;
            }
            const frontier_point match = hpa_at_budget(*f.sc, f.hpa, f.dqn.replica_seconds, eval_seed, reward);
            char matched[120];
            if (match.target == 0) {
                std::snprintf(matched, sizeof matched, "none: the dqn spends more than the HPA at 40 %%");
            } else {
                std::snprintf(matched, sizeof matched, "%d %%: %.1f %% at %.0f", match.target, 100.0 * match.violation_rate, match.replica_seconds);
            }
            std::printf("| %s | %.1f %% at %.0f | %s | %s |\n", f.sc->name.c_str(), 100.0 * f.dqn.violation_rate(), f.dqn.replica_seconds,
                        points.c_str(), matched);
        }
        csv_file.commit();
        std::printf("\nevaluation seed %llu, %.3g simulated hours per scenario (azure-3fn: at most the trace's length)\n",
                    static_cast<unsigned long long>(eval_seed), hours);
        std::printf("wrote %s, %s, %s\n", (out / "scarlet_demo.csv").string().c_str(), (out / "scarlet-3fn.svg").string().c_str(),
                    (out / "azure-3fn.svg").string().c_str());
        std::printf("total %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return rlscale::cli::guarded_main(argc, argv, program); }
