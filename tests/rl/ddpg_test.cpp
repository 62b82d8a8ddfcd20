// DDPG and TD3 (rl/ddpg.hpp): one update against an independent reference,
// targets, determinism, learning a continuous bandit, rejected steps and
// errors.
//
// The reference below shares no code with the agent: networks are evaluated
// by plain loops over flat parameter vectors (the layout docs/ddpg.md
// describes), losses are written sample by sample, gradients are central
// finite differences of those losses with respect to every parameter, and
// Adam and Polyak averaging are applied by hand.
#include <rlscale/rl/ddpg.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace test_rl_ddpg {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

using vec = std::vector<double>;

// ---------------------------------------------------------------- reference

/// One MLP on a flat parameter vector (per layer: weight column-major out ×
/// in, then bias), sample by sample.
vec ref_mlp(const double* p, const std::vector<nn::layer_spec>& layers, vec x) {
    for (const auto& l : layers) {
        vec y(static_cast<std::size_t>(l.out));
        const double* w = p;
        const double* b = p + l.out * l.in;
        for (Eigen::Index i = 0; i < l.out; ++i) {
            double sum = b[i];
            for (Eigen::Index k = 0; k < l.in; ++k) sum += w[k * l.out + i] * x[static_cast<std::size_t>(k)];
            if (l.act == nn::activation::relu) sum = std::max(sum, 0.0);
            if (l.act == nn::activation::tanh) sum = std::tanh(sum);
            y[static_cast<std::size_t>(i)] = sum;
        }
        p += l.out * l.in + l.out;
        x = std::move(y);
    }
    return x;
}

struct shapes {
    std::vector<nn::layer_spec> actor;
    std::vector<nn::layer_spec> trunk;  // empty when the action is at the input
    std::vector<nn::layer_spec> head;
    Eigen::Index trunk_params = 0;
    std::vector<action_bound> bounds;
};

vec ref_actor(const vec& p, const shapes& sh, const vec& s) {
    vec u = ref_mlp(p.data(), sh.actor, s);
    for (std::size_t d = 0; d < u.size(); ++d) u[d] = sh.bounds[d].bias() + sh.bounds[d].scale() * u[d];
    return u;
}

double ref_q(const vec& p, const shapes& sh, const vec& s, const vec& a) {
    vec h = sh.trunk.empty() ? s : ref_mlp(p.data(), sh.trunk, s);
    h.insert(h.end(), a.begin(), a.end());
    return ref_mlp(p.data() + sh.trunk_params, sh.head, h)[0];
}

struct adam_state {
    std::int64_t t = 0;
    vec m;
    vec v;
};

void ref_adam(vec& theta, adam_state& st, const vec& g, const nn::adam_config& c) {
    ++st.t;
    const double b1 = 1 - std::pow(c.beta1, static_cast<double>(st.t));
    const double b2 = 1 - std::pow(c.beta2, static_cast<double>(st.t));
    for (std::size_t i = 0; i < theta.size(); ++i) {
        st.m[i] = c.beta1 * st.m[i] + (1 - c.beta1) * g[i];
        st.v[i] = c.beta2 * st.v[i] + (1 - c.beta2) * g[i] * g[i];
        theta[i] -= c.lr * (st.m[i] / b1) / (std::sqrt(st.v[i] / b2) + c.eps);
    }
}

void ref_clip(vec& g, double max_norm) {
    if (max_norm <= 0) return;
    double sq = 0;
    for (const double x : g) sq += x * x;
    const double coef = max_norm / (std::sqrt(sq) + 1e-6);
    if (coef < 1) {
        for (double& x : g) x *= coef;
    }
}

template <typename F>
vec finite_difference(vec theta, F&& loss) {
    vec g(theta.size());
    for (std::size_t i = 0; i < theta.size(); ++i) {
        const double keep = theta[i];
        const double h = 1e-6 * std::max(1.0, std::abs(keep));
        theta[i] = keep + h;
        const double up = loss(theta);
        theta[i] = keep - h;
        const double down = loss(theta);
        theta[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

struct transition_batch {
    std::vector<vec> s, a, s_next;
    vec r, terminated, truncated;
};

struct ref_agent {
    shapes sh;
    ddpg_config c;
    vec actor, target_actor;
    vec critic[2], target_critic[2];
    adam_state actor_adam, critic_adam[2];
    std::uint64_t updates = 0;

    struct result {
        double critic_loss = 0;
        double actor_loss = std::numeric_limits<double>::quiet_NaN();
        double mean_q = 0;
        bool actor_updated = false;
    };

    /// One update; z[d][j] are the smoothing noise's N(0, 1) draws.
    result update(const transition_batch& b, const std::vector<vec>& z) {
        const std::size_t n = b.r.size();
        const std::size_t dims = sh.bounds.size();
        const std::size_t critics = c.twin_critics ? 2 : 1;
        result res;
        // TD targets.
        vec y(n);
        for (std::size_t j = 0; j < n; ++j) {
            vec next = ref_actor(target_actor, sh, b.s_next[j]);
            if (c.policy_noise > 0) {
                for (std::size_t d = 0; d < dims; ++d) {
                    const double eps = std::clamp(c.policy_noise * z[d][j], -c.noise_clip, c.noise_clip) * sh.bounds[d].scale();
                    next[d] = std::clamp(next[d] + eps, sh.bounds[d].low, sh.bounds[d].high);
                }
            }
            double q_next = ref_q(target_critic[0], sh, b.s_next[j], next);
            if (critics == 2) q_next = std::min(q_next, ref_q(target_critic[1], sh, b.s_next[j], next));
            y[j] = b.r[j] + c.gamma * (1 - b.terminated[j]) * q_next;
        }
        // Critic steps.
        for (std::size_t i = 0; i < critics; ++i) {
            const auto loss = [&](const vec& theta) {
                double sum = 0;
                for (std::size_t j = 0; j < n; ++j) {
                    const double d = ref_q(theta, sh, b.s[j], b.a[j]) - y[j];
                    sum += d * d;
                }
                return sum / static_cast<double>(n);
            };
            res.critic_loss += loss(critic[i]) / static_cast<double>(critics);
            if (i == 0) {
                for (std::size_t j = 0; j < n; ++j) res.mean_q += ref_q(critic[0], sh, b.s[j], b.a[j]) / static_cast<double>(n);
            }
            vec g = finite_difference(critic[i], loss);
            ref_clip(g, c.critic_grad_clip_norm);
            ref_adam(critic[i], critic_adam[i], g, c.critic_adam);
        }
        ++updates;
        if (updates % c.policy_delay != 0) return res;
        // Actor step on the updated critic 1, λ held constant.
        double lambda = 1;
        if (c.bc_alpha > 0) {
            double mean_abs = 0;
            for (std::size_t j = 0; j < n; ++j) mean_abs += std::abs(ref_q(critic[0], sh, b.s[j], ref_actor(actor, sh, b.s[j])));
            lambda = c.bc_alpha / (mean_abs / static_cast<double>(n));
        }
        const auto actor_loss = [&](const vec& theta) {
            double q = 0;
            double bc = 0;
            for (std::size_t j = 0; j < n; ++j) {
                const vec mu = ref_actor(theta, sh, b.s[j]);
                q += ref_q(critic[0], sh, b.s[j], mu);
                for (std::size_t d = 0; d < dims; ++d) {
                    const double e = (mu[d] - b.a[j][d]) / sh.bounds[d].scale();
                    bc += e * e;
                }
            }
            const double reg = c.bc_alpha > 0 ? bc / static_cast<double>(n * dims) : 0.0;
            double l2 = 0;
            for (std::size_t j = 0; j < n; ++j) {
                const vec mu = ref_actor(theta, sh, b.s[j]);
                for (std::size_t d = 0; d < dims; ++d) {
                    const double u = (mu[d] - sh.bounds[d].bias()) / sh.bounds[d].scale();
                    l2 += u * u;
                }
            }
            return -lambda * q / static_cast<double>(n) + reg + c.action_l2 * l2 / static_cast<double>(n * dims);
        };
        res.actor_loss = actor_loss(actor);
        vec g = finite_difference(actor, actor_loss);
        ref_clip(g, c.actor_grad_clip_norm);
        ref_adam(actor, actor_adam, g, c.actor_adam);
        // Polyak.
        const auto polyak = [&](vec& target, const vec& online) {
            for (std::size_t k = 0; k < target.size(); ++k) target[k] = c.tau * online[k] + (1 - c.tau) * target[k];
        };
        polyak(target_actor, actor);
        for (std::size_t i = 0; i < critics; ++i) polyak(target_critic[i], critic[i]);
        res.actor_updated = true;
        return res;
    }
};

// ---------------------------------------------------------------- helpers

vec to_vec(const Eigen::Ref<const Eigen::VectorXd>& v) { return {v.data(), v.data() + v.size()}; }

vec critic_params(const ddpg_critic<double>& c) {
    Eigen::VectorXd v(c.parameter_count());
    c.read_parameters(v);
    return to_vec(v);
}

void check_close(const std::string& what, const vec& actual, const vec& expected, double rtol, double atol) {
    REQUIRE(actual.size() == expected.size());
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double err = std::abs(actual[i] - expected[i]) / (atol + rtol * std::abs(expected[i]));
        if (err > worst) worst = err, at = i;
    }
    INFO(what << ": worst element " << at << " is " << actual[at] << ", reference " << expected[at]);
    CHECK(worst <= 1.0);
}

/// Random moments and step count, so that the Adam step depends on the
/// gradient's magnitude (a first step from zero moments is ≈ lr·sign(g)).
void randomize_adam(nn::adam<double>& opt, rng& gen) {
    Eigen::VectorXd m(opt.parameter_count());
    Eigen::VectorXd v(opt.parameter_count());
    for (Eigen::Index i = 0; i < m.size(); ++i) {
        m(i) = 0.05 * standard_normal(gen);
        v(i) = uniform(gen, 1e-3, 1e-2);
    }
    opt.restore(4, m, v);
}

adam_state state_of(nn::adam<double>& opt) {
    return {opt.step_count(), to_vec(opt.first_moment()), to_vec(opt.second_moment())};
}

void perturb(Eigen::Ref<Eigen::VectorXd> p, rng& gen, double sd) {
    for (Eigen::Index i = 0; i < p.size(); ++i) p(i) += sd * standard_normal(gen);
}

const std::vector<action_bound> test_bounds = {{-1, 2}, {0, 0.5}};
constexpr std::size_t obs_size = 3;

transition_batch random_batch(rng& gen, std::size_t n) {
    transition_batch b;
    for (std::size_t j = 0; j < n; ++j) {
        vec s(obs_size), s2(obs_size), a(test_bounds.size());
        for (auto& x : s) x = uniform(gen, -1, 1);
        for (auto& x : s2) x = uniform(gen, -1, 1);
        for (std::size_t d = 0; d < a.size(); ++d) a[d] = uniform(gen, test_bounds[d].low, test_bounds[d].high);
        b.s.push_back(s), b.s_next.push_back(s2), b.a.push_back(a);
        b.r.push_back(uniform(gen, -1, 1));
        b.terminated.push_back(j == 1 ? 1.0 : 0.0);
        b.truncated.push_back(j == 2 ? 1.0 : 0.0);
    }
    return b;
}

replay_batch<double, double> to_replay(const transition_batch& b, std::size_t capacity) {
    replay_batch<double, double> r(obs_size, test_bounds.size(), capacity);
    for (std::size_t j = 0; j < b.r.size(); ++j) {
        const auto col = static_cast<Eigen::Index>(j);
        for (std::size_t i = 0; i < obs_size; ++i) {
            r.observations(static_cast<Eigen::Index>(i), col) = b.s[j][i];
            r.next_observations(static_cast<Eigen::Index>(i), col) = b.s_next[j][i];
        }
        for (std::size_t d = 0; d < test_bounds.size(); ++d) r.actions(static_cast<Eigen::Index>(d), col) = b.a[j][d];
        r.rewards(col) = b.r[j];
        r.terminated(col) = b.terminated[j];
        r.truncated(col) = b.truncated[j];
    }
    r.size = b.r.size();
    return r;
}

ddpg_config small_config() {
    ddpg_config c;
    c.actor_hidden = {5, 4};
    c.critic_hidden = {6, 5};
    c.batch_size = 8;
    c.replay_capacity = 64;
    c.learning_starts = 8;
    c.gamma = 0.9;
    c.tau = 0.1;
    c.actor_adam = {.lr = 1e-2};
    c.critic_adam = {.lr = 2e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6};
    c.policy_delay = 1;
    return c;
}

/// TD3 (twin critics, smoothing 0.2, policy delay 2) on small_config,
/// learning after 20 steps.
ddpg_config small_td3_config() {
    ddpg_config c = small_config();
    c.twin_critics = true;
    c.policy_noise = 0.2;
    c.policy_delay = 2;
    c.learning_starts = 20;
    return c;
}

/// 120 steps of exploring random states (environment seed 1), with reward
/// −a₀² and some terminated and truncated transitions.
template <typename T>
void play_random_states(ddpg<T>& agent) {
    rng env(1);
    std::vector<T> s(obs_size), s2(obs_size), a(test_bounds.size());
    for (int t = 0; t < 120; ++t) {
        for (auto& x : s) x = static_cast<T>(uniform(env, -1, 1));
        for (auto& x : s2) x = static_cast<T>(uniform(env, -1, 1));
        agent.explore(s, a);
        agent.observe(s, a, -a[0] * a[0], s2, t % 17 == 16, t % 23 == 22);
    }
}

/// Builds an agent, pulls its targets away from the online networks and
/// randomises Adam's state, then runs `updates` updates on the same agent
/// and on the reference and compares them.
void check_against_reference(const ddpg_config& c, int updates) {
    ddpg<double> agent(obs_size, test_bounds, c, 11);
    rng gen(99);
    perturb(agent.target_actor().parameters(), gen, 0.05);
    randomize_adam(agent.actor_optimizer(), gen);
    for (std::size_t i = 0; i < agent.critic_count(); ++i) {
        Eigen::VectorXd p(agent.target_critic(i).parameter_count());
        agent.target_critic(i).read_parameters(p);
        perturb(p, gen, 0.05);
        agent.target_critic(i).write_parameters(p);
        randomize_adam(agent.critic_optimizer(i), gen);
    }

    ref_agent ref;
    ref.c = c;
    ref.sh.actor = agent.actor().layers();
    ref.sh.head = agent.critic().head().layers();
    if (agent.critic().has_trunk()) {
        ref.sh.trunk = agent.critic().trunk().layers();
        ref.sh.trunk_params = agent.critic().trunk().parameter_count();
    }
    ref.sh.bounds = test_bounds;
    ref.actor = to_vec(agent.actor().parameters());
    ref.target_actor = to_vec(agent.target_actor().parameters());
    ref.actor_adam = state_of(agent.actor_optimizer());
    for (std::size_t i = 0; i < agent.critic_count(); ++i) {
        ref.critic[i] = critic_params(agent.critic(i));
        ref.target_critic[i] = critic_params(agent.target_critic(i));
        ref.critic_adam[i] = state_of(agent.critic_optimizer(i));
    }

    for (int u = 0; u < updates; ++u) {
        CAPTURE(u);
        const transition_batch b = random_batch(gen, 6);
        // Large draws, so that the noise clip and the bounds both bite.
        Eigen::MatrixXd z(2, 6);
        std::vector<vec> zr(2, vec(6));
        for (Eigen::Index d = 0; d < 2; ++d) {
            for (Eigen::Index j = 0; j < 6; ++j) {
                z(d, j) = zr[static_cast<std::size_t>(d)][static_cast<std::size_t>(j)] = 2.5 * standard_normal(gen);
            }
        }
        const auto stats = agent.update(to_replay(b, c.batch_size), z);
        const auto expected = ref.update(b, zr);
        REQUIRE(stats.applied);
        CHECK(stats.actor_updated == expected.actor_updated);
        CHECK(stats.critic_loss == doctest::Approx(expected.critic_loss).epsilon(1e-9));
        CHECK(stats.mean_q == doctest::Approx(expected.mean_q).epsilon(1e-9));
        if (expected.actor_updated) {
            CHECK(stats.actor_loss == doctest::Approx(expected.actor_loss).epsilon(1e-9));
        } else {
            CHECK(std::isnan(stats.actor_loss));
        }
        // Adam's first moment carries the gradient (m = β1·m + (1 − β1)·g):
        // finite differences agree to about 1e-7.
        check_close("actor m", to_vec(agent.actor_optimizer().first_moment()), ref.actor_adam.m, 1e-6, 1e-9);
        check_close("actor", to_vec(agent.actor().parameters()), ref.actor, 1e-9, 1e-11);
        check_close("target actor", to_vec(agent.target_actor().parameters()), ref.target_actor, 1e-9, 1e-11);
        for (std::size_t i = 0; i < agent.critic_count(); ++i) {
            CAPTURE(i);
            check_close("critic m", to_vec(agent.critic_optimizer(i).first_moment()), ref.critic_adam[i].m, 1e-6, 1e-9);
            check_close("critic", critic_params(agent.critic(i)), ref.critic[i], 1e-9, 1e-11);
            check_close("target critic", critic_params(agent.target_critic(i)), ref.target_critic[i], 1e-9, 1e-11);
        }
    }
    CHECK(agent.updates() == static_cast<std::uint64_t>(updates));
}

}  // namespace

TEST_CASE("one ddpg update equals a finite-difference reference: action at the critic's input") {
    check_against_reference(small_config(), 2);
}

TEST_CASE("one ddpg update equals a finite-difference reference: action joining after hidden layer 1, gradients clipped") {
    ddpg_config c = small_config();
    c.critic_action_layer = 1;
    c.critic_grad_clip_norm = 0.05;
    c.actor_grad_clip_norm = 0.02;
    check_against_reference(c, 2);
}

TEST_CASE("one ddpg update equals a finite-difference reference: action joining after a later hidden layer") {
    ddpg_config c = small_config();
    c.critic_hidden = {6, 5, 4};
    c.critic_action_layer = 2;
    check_against_reference(c, 1);
}

TEST_CASE("td3 updates equal the reference: twin critics, given smoothing noise clipped to each dimension's bounds, policy delay 2") {
    ddpg_config c = small_config();
    c.critic_action_layer = 1;
    c.twin_critics = true;
    c.policy_noise = 0.4;
    c.noise_clip = 0.5;
    c.policy_delay = 2;
    check_against_reference(c, 4);
}

TEST_CASE("the action_l2 penalty on the actor's tanh output equals the reference, alone and with behaviour cloning") {
    ddpg_config c = small_config();
    c.action_l2 = 0.7;
    check_against_reference(c, 2);
    c.bc_alpha = 2.5;
    c.critic_action_layer = 1;
    check_against_reference(c, 2);
}

TEST_CASE("td3+bc updates equal the reference: lambda = alpha / mean |Q| and the behaviour-cloning term") {
    ddpg_config c = small_config();
    c.twin_critics = true;
    c.policy_noise = 0.2;
    c.bc_alpha = 2.5;
    check_against_reference(c, 2);
    c.critic_action_layer = 1;
    c.policy_delay = 2;
    check_against_reference(c, 2);
}

TEST_CASE("sharded ddpg updates equal the reference: ddpg in four shards, td3+bc with action_l2 in three, on one thread and on several") {
    // Each shard's gradient is a partial sum of the batch's; the reference
    // takes the whole batch at once.
    for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        CAPTURE(threads);
        ddpg_config c = small_config();
        c.update_shards = 4;  // a batch of 6: shards of one and two columns
        c.update_threads = threads;
        check_against_reference(c, 2);
    }
    for (const std::size_t threads : {std::size_t{1}, std::size_t{3}}) {
        CAPTURE(threads);
        ddpg_config c = small_config();
        c.twin_critics = true;
        c.policy_noise = 0.3;
        c.noise_clip = 0.4;
        c.policy_delay = 2;
        c.bc_alpha = 2.5;  // λ needs every shard's mean |Q| before any backward pass
        c.action_l2 = 0.7;
        c.critic_action_layer = 1;
        c.critic_grad_clip_norm = 0.5;
        c.update_shards = 3;
        c.update_threads = threads;
        check_against_reference(c, 4);
    }
}

TEST_CASE("sharded ddpg: bit for bit the same weights on one thread and on three, run after run, and a batch smaller than the shard count") {
    const auto train = [](std::size_t shards, std::size_t threads) {
        ddpg_config c = small_config();
        c.twin_critics = true;
        c.policy_noise = 0.2;
        c.bc_alpha = 1;
        c.update_shards = shards;
        c.update_threads = threads;
        ddpg<float> agent(obs_size, test_bounds, c, 5);
        rng gen(6);
        std::vector<float> s(obs_size), s2(obs_size), a(test_bounds.size());
        for (int t = 0; t < 60; ++t) {
            for (auto& x : s) x = static_cast<float>(uniform(gen, -1, 1));
            for (auto& x : s2) x = static_cast<float>(uniform(gen, -1, 1));
            agent.explore(s, a);
            agent.observe(s, a, uniform(gen, -1, 1), s2, t % 9 == 8);
        }
        return agent;
    };
    ddpg<float> one = train(3, 1);
    ddpg<float> three = train(3, 3);
    ddpg<float> again = train(3, 3);
    REQUIRE(one.updates() > 40);
    CHECK(three.updates() == one.updates());
    CHECK(three.actor().parameters() == one.actor().parameters());
    CHECK(again.actor().parameters() == one.actor().parameters());
    for (std::size_t i = 0; i < 2; ++i) {
        CAPTURE(i);
        Eigen::VectorXf p1(one.critic(i).parameter_count()), p3(one.critic(i).parameter_count());
        one.critic(i).read_parameters(p1);
        three.critic(i).read_parameters(p3);
        CHECK(p3 == p1);
        one.target_critic(i).read_parameters(p1);
        three.target_critic(i).read_parameters(p3);
        CHECK(p3 == p1);
    }

    // A copy is a snapshot with threads of its own: it trains on exactly as
    // the original does.
    ddpg<float> copy = three;
    for (int u = 0; u < 3; ++u) {
        three.update();
        copy.update();
    }
    CHECK(copy.actor().parameters() == three.actor().parameters());
    CHECK(copy.updates() == three.updates());

    // Two transitions in three shards: one column each, the third idle.
    ddpg_config c = small_config();
    ddpg<double> whole(obs_size, test_bounds, c, 8);
    c.update_shards = c.update_threads = 3;
    ddpg<double> sharded(obs_size, test_bounds, c, 8);
    rng gen(9);
    const auto batch = to_replay(random_batch(gen, 2), c.batch_size);
    const auto a = whole.update(batch);
    const auto b = sharded.update(batch);
    CHECK(b.critic_loss == doctest::Approx(a.critic_loss).epsilon(1e-12));
    CHECK(b.actor_loss == doctest::Approx(a.actor_loss).epsilon(1e-12));
    CHECK((sharded.actor().parameters() - whole.actor().parameters()).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("a truncated transition bootstraps and a terminated one does not") {
    rng gen(5);
    const transition_batch b = random_batch(gen, 6);
    const auto run = [&](const transition_batch& batch) {
        ddpg<double> agent(obs_size, test_bounds, small_config(), 3);
        agent.update(to_replay(batch, 8));
        return critic_params(agent.critic());
    };
    const vec base = run(b);
    transition_batch truncated = b;
    truncated.truncated[0] = 1;  // the flag alone changes nothing
    CHECK(run(truncated) == base);
    transition_batch terminated = b;
    terminated.terminated[0] = 1;
    CHECK(run(terminated) != base);

    // y = r exactly where terminated: with γ = 0 the flag is moot, so the
    // two agree again.
    ddpg_config c = small_config();
    c.gamma = 0;
    ddpg<double> a1(obs_size, test_bounds, c, 3);
    ddpg<double> a2(obs_size, test_bounds, c, 3);
    a1.update(to_replay(b, 8));
    a2.update(to_replay(terminated, 8));
    CHECK(critic_params(a1.critic()) == critic_params(a2.critic()));
}

TEST_CASE("the target networks start as copies of the online ones") {
    for (const std::size_t k : {0u, 1u}) {
        ddpg_config c = small_config();
        c.critic_action_layer = k;
        c.twin_critics = true;
        ddpg<double> agent(obs_size, test_bounds, c, 7);
        CHECK(agent.target_actor().parameters() == agent.actor().parameters());
        for (std::size_t i = 0; i < 2; ++i) {
            CHECK(critic_params(agent.target_critic(i)) == critic_params(agent.critic(i)));
        }
        // The twin critics are initialised independently.
        CHECK(critic_params(agent.critic(0)) != critic_params(agent.critic(1)));
    }
}

TEST_CASE("the actor's output is tanh rescaled to each dimension's bounds and the critic's layout is documented") {
    ddpg_config c = small_config();
    c.critic_action_layer = 1;
    ddpg<double> agent(obs_size, test_bounds, c, 2);
    CHECK(agent.actor().layers().back().act == nn::activation::tanh);
    CHECK(agent.critic().trunk().layers().size() == 1);
    CHECK(agent.critic().trunk().output_size() == 6);
    CHECK(agent.critic().head().input_size() == 6 + 2);  // [h_1; a]
    CHECK(agent.critic().head().output_size() == 1);
    const vec s = {0.3, -0.2, 0.9};
    std::vector<double> out(2);
    agent.greedy(s, out);
    const Eigen::VectorXd u = agent.actor().predict(Eigen::Map<const Eigen::VectorXd>(s.data(), 3));
    CHECK(out[0] == doctest::Approx(0.5 + 1.5 * u(0)));
    CHECK(out[1] == doctest::Approx(0.25 + 0.25 * u(1)));
}

TEST_CASE("ddpg is deterministic for a seed") {
    const auto run = [](std::uint64_t seed, ddpg_exploration e) {
        ddpg_config c = small_td3_config();
        c.exploration = e;
        ddpg<double> agent(obs_size, test_bounds, c, seed);
        play_random_states(agent);
        vec out = to_vec(agent.actor().parameters());
        const vec q = critic_params(agent.critic(1));
        out.insert(out.end(), q.begin(), q.end());
        return out;
    };
    for (const auto e : {ddpg_exploration::gaussian, ddpg_exploration::ornstein_uhlenbeck}) {
        CHECK(run(4, e) == run(4, e));
        CHECK(run(4, e) != run(5, e));
    }
}

TEST_CASE("bfloat16 moments: each optimiser rounds with bits of its own, and a run repeats for a seed") {
    // Twin critics started equal (and their targets) get equal gradients on
    // every batch; only the moments' rounding can tell them apart.
    const auto run = [](nn::moment_storage moments, std::uint64_t seed) {
        ddpg_config c = small_td3_config();
        c.actor_adam.moments = moments;
        c.critic_adam.moments = moments;
        ddpg<float> agent(obs_size, test_bounds, c, seed);
        Eigen::VectorXf p(agent.critic(0).parameter_count());
        agent.critic(0).read_parameters(p);
        agent.critic(1).write_parameters(p);
        agent.target_critic(0).read_parameters(p);
        agent.target_critic(1).write_parameters(p);
        play_random_states(agent);
        REQUIRE(agent.updates() > 50);
        std::array<std::vector<float>, 3> out;
        for (std::size_t i = 0; i < 2; ++i) {
            agent.critic(i).read_parameters(p);
            out[i].assign(p.data(), p.data() + p.size());
        }
        const auto& actor = agent.actor().parameters();
        out[2].assign(actor.data(), actor.data() + actor.size());
        for (const auto& v : out)
            for (const float x : v) REQUIRE(std::isfinite(x));
        return out;
    };
    // The set-up holds: with float moments the twins stay equal bit for bit.
    const auto plain = run(nn::moment_storage::parameter_type, 4);
    CHECK(plain[0] == plain[1]);
    // With bfloat16 moments each critic's optimiser rounds on its own
    // stream, so the twins part (they stayed equal when both shared one).
    const auto half = run(nn::moment_storage::bfloat16, 4);
    CHECK(half[0] != half[1]);
    double gap = 0;
    double scale = 0;
    for (std::size_t i = 0; i < half[0].size(); ++i) {
        gap = std::max(gap, static_cast<double>(std::abs(half[0][i] - half[1][i])));
        scale = std::max(scale, static_cast<double>(std::abs(half[0][i])));
    }
    CHECK(gap < 0.05 * scale);  // rounding noise, not another run
    CHECK(run(nn::moment_storage::bfloat16, 4) == half);
    CHECK(run(nn::moment_storage::bfloat16, 5) != half);

    // Streams: rounding_seed + 4·seed + which (actor 0, critics 1 and 2).
    ddpg_config c = small_config();
    c.twin_critics = true;
    c.critic_adam.rounding_seed = 100;
    ddpg<float> agent(obs_size, test_bounds, c, 7);
    CHECK(agent.actor_optimizer().config().rounding_seed == 28);
    CHECK(agent.critic_optimizer(0).config().rounding_seed == 129);
    CHECK(agent.critic_optimizer(1).config().rounding_seed == 130);
    CHECK(agent.config().critic_adam.rounding_seed == 100);  // the configuration as given
}

TEST_CASE("explore: uniform within the bounds during warm-up, then mu(s) plus noise clipped to the bounds") {
    ddpg_config c = small_config();
    c.learning_starts = 50;
    c.gaussian.sigma = 3;  // large: the clip must bite
    ddpg<double> agent(obs_size, test_bounds, c, 8);
    const vec s = {0.1, 0.2, 0.3};
    vec a(2), mu(2);
    for (int t = 0; t < 200; ++t) {
        agent.explore(s, a);
        for (std::size_t d = 0; d < 2; ++d) {
            CHECK(a[d] >= test_bounds[d].low);
            CHECK(a[d] <= test_bounds[d].high);
        }
        agent.observe(s, a, 0, s, false);
    }
    agent.greedy(s, mu);
    int at_bound = 0;
    for (int t = 0; t < 100; ++t) {
        agent.explore(s, a);
        at_bound += (a[0] == 2.0 || a[0] == -1.0) ? 1 : 0;
    }
    CHECK(at_bound > 10);
    CHECK(agent.stats().exploration == 3);
}

TEST_CASE("the Ornstein-Uhlenbeck scale decays once per update") {
    ddpg_config c = ddpg_config::firm();
    c.ou.eps_decay = 0.01;
    c.batch_size = 8;
    c.learning_starts = 8;
    ddpg<float> agent(3, {{-1, 1}}, c, 1);
    std::vector<float> s = {0.1f, 0.2f, 0.3f}, a(1);
    for (int t = 0; t < 20; ++t) {
        agent.explore(s, a);
        agent.observe(s, a, 0, s, false);
    }
    CHECK(agent.updates() == 13);
    CHECK(agent.ou_noise().epsilon() == doctest::Approx(1 - 13 * 0.01));
    CHECK(agent.stats().exploration == doctest::Approx(1 - 13 * 0.01));
}

TEST_CASE("exploration streams: each its own Ornstein-Uhlenbeck process, one epsilon, stream 0 kept, errors by name") {
    ddpg_config c = ddpg_config::firm();
    c.learning_starts = 0;
    c.batch_size = 1000;  // no update: the noise alone moves
    c.ou.sigma = 1.0;
    ddpg<float> agent(3, {{-100, 100}, {-100, 100}}, c, 4);
    const std::vector<float> s = {0.1f, 0.2f, 0.3f};
    std::vector<float> a(2);
    CHECK(agent.exploration_streams() == 1);
    for (int t = 0; t < 5; ++t) agent.explore(s, a);
    const std::vector<double> x0(agent.ou_noise().state().begin(), agent.ou_noise().state().end());
    REQUIRE(x0 != std::vector<double>(2, 0.0));

    agent.set_exploration_streams(3);
    CHECK(agent.exploration_streams() == 3);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == x0);  // stream 0 kept
    agent.select_exploration_stream(2);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == std::vector<double>(2, c.ou.mu));
    for (int t = 0; t < 3; ++t) agent.explore(s, a);
    const std::vector<double> x2(agent.ou_noise().state().begin(), agent.ou_noise().state().end());
    REQUIRE(x2 != std::vector<double>(2, 0.0));
    // An episode's end on stream 1 resets stream 1 only.
    agent.select_exploration_stream(1);
    agent.explore(s, a);
    agent.observe(s, a, 0, s, false, true);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == std::vector<double>(2, c.ou.mu));
    agent.select_exploration_stream(0);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == x0);
    agent.select_exploration_stream(2);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == x2);
    agent.reset_noise();  // stream 2's
    agent.select_exploration_stream(0);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == x0);
    agent.select_exploration_stream(2);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == std::vector<double>(2, c.ou.mu));
    agent.select_exploration_stream(0);

    CHECK_THROWS_WITH_AS(agent.select_exploration_stream(3), doctest::Contains("stream"), config_error);
    CHECK_THROWS_WITH_AS(agent.set_exploration_streams(0), doctest::Contains("n"), config_error);
    CHECK(agent.exploration_streams() == 3);  // a refused call changes nothing

    // Back to one process: stream 0's, whichever stream was selected.
    agent.select_exploration_stream(2);
    agent.set_exploration_streams(1);
    CHECK(agent.exploration_streams() == 1);
    CHECK(std::vector<double>(agent.ou_noise().state().begin(), agent.ou_noise().state().end()) == x0);
}

TEST_CASE("ddpg learns a one-step continuous bandit: reward -(a - f(s))^2") {
    ddpg_config c;
    c.actor_hidden = {32, 32};
    c.critic_hidden = {32, 32};
    c.critic_action_layer = 1;
    c.actor_adam = {.lr = 1e-3};
    c.critic_adam = {.lr = 2e-3};
    c.batch_size = 64;
    c.replay_capacity = 5000;
    c.learning_starts = 256;
    c.gamma = 0;
    c.tau = 0.02;
    c.gaussian.sigma = 0.3;
    ddpg<float> agent(1, {{-1, 1}}, c, 3);
    const auto f = [](float s) { return 0.6f * s - 0.2f; };
    rng env(2);
    std::vector<float> s(1), a(1);
    for (int t = 0; t < 10000; ++t) {
        s[0] = static_cast<float>(uniform(env, -1, 1));
        agent.explore(s, a);
        const float e = a[0] - f(s[0]);
        agent.observe(s, a, -static_cast<double>(e * e), s, true);
    }
    // The actor tracks a critic that is itself learning from noisy actions:
    // its error wanders by a few hundredths from one update to the next.
    // Untrained, it is about 0.5.
    double worst = 0;
    double mean = 0;
    for (int i = 0; i <= 20; ++i) {
        s[0] = -1 + 0.1f * static_cast<float>(i);
        agent.greedy(s, a);
        const double e = std::abs(static_cast<double>(a[0] - f(s[0])));
        worst = std::max(worst, e);
        mean += e / 21;
    }
    CHECK(mean < 0.05);
    CHECK(worst < 0.15);
}

TEST_CASE("a non-finite gradient leaves every network and optimiser as it was") {
    const auto snapshot = [](ddpg<double>& agent) {
        vec out = to_vec(agent.actor().parameters());
        for (const vec& v : {to_vec(agent.target_actor().parameters()), critic_params(agent.critic(0)),
                             critic_params(agent.target_critic(0)), to_vec(agent.critic_optimizer(0).first_moment()),
                             to_vec(agent.actor_optimizer().first_moment())}) {
            out.insert(out.end(), v.begin(), v.end());
        }
        out.push_back(static_cast<double>(agent.critic_optimizer(0).step_count()));
        out.push_back(static_cast<double>(agent.actor_optimizer().step_count()));
        return out;
    };
    rng gen(3);
    const transition_batch b = random_batch(gen, 6);

    SUBCASE("the critic's: a NaN reward") {
        ddpg<double> agent(obs_size, test_bounds, small_config(), 1);
        auto batch = to_replay(b, 8);
        batch.rewards(3) = std::numeric_limits<double>::quiet_NaN();
        const vec before = snapshot(agent);
        const auto stats = agent.update(batch);
        CHECK_FALSE(stats.applied);
        CHECK(snapshot(agent) == before);
        CHECK(agent.updates() == 0);
    }
    SUBCASE("the actor's: a NaN output bias in the actor (its target stays finite)") {
        ddpg<double> agent(obs_size, test_bounds, small_config(), 1);
        agent.actor().bias(agent.actor().layer_count() - 1)(0) = std::numeric_limits<double>::quiet_NaN();
        const vec before = snapshot(agent);
        const auto stats = agent.update(to_replay(b, 8));
        CHECK_FALSE(stats.applied);
        const vec after = snapshot(agent);
        REQUIRE(after.size() == before.size());
        for (std::size_t i = 0; i < after.size(); ++i) {
            CHECK((after[i] == before[i] || (std::isnan(after[i]) && std::isnan(before[i]))));
        }
        CHECK(agent.updates() == 0);
    }
    SUBCASE("the actor's after the critic's step: a critic step so large that Q overflows, undone") {
        ddpg_config c = small_config();
        c.critic_adam.lr = 1e300;
        ddpg<double> agent(obs_size, test_bounds, c, 1);
        const vec before = snapshot(agent);
        const auto stats = agent.update(to_replay(b, 8));
        CHECK_FALSE(stats.applied);
        CHECK(snapshot(agent) == before);
        CHECK(agent.updates() == 0);
    }
}

TEST_CASE("configuration and input errors name the field and the value") {
    const auto fails = [](ddpg_config c, const std::string& text) {
        CHECK_THROWS_WITH_AS(ddpg<double>(3, test_bounds, c, 1), doctest::Contains(text.c_str()), config_error);
    };
    ddpg_config c = small_config();
    c.gamma = 1.5;
    fails(c, "ddpg_config.gamma: must be in [0, 1], got 1.5");
    c = small_config();
    c.critic_action_layer = 3;
    fails(c, "ddpg_config.critic_action_layer: must be less than the number of critic hidden layers (2)");
    c.critic_action_layer = 2;  // after the last hidden layer: Q affine in the action
    fails(c, "ddpg_config.critic_action_layer: must be less than the number of critic hidden layers (2): joined after the "
             "last one, Q would be affine in the action, got 2");
    c = small_config();
    c.replay_capacity = 4;
    fails(c, "ddpg_config.replay_capacity: must be >= batch_size (8), got 4");
    c = small_config();
    c.policy_delay = 0;
    fails(c, "ddpg_config.policy_delay");
    c = small_config();
    c.noise_clip = -1;
    fails(c, "ddpg_config.noise_clip: must be finite and >= 0, got -1");
    c = small_config();
    c.bc_alpha = std::numeric_limits<double>::quiet_NaN();
    fails(c, "ddpg_config.bc_alpha: must be finite and >= 0, got nan");
    c = small_config();
    c.actor_adam.lr = 0;
    fails(c, "ddpg_config.actor_adam.lr: must be finite and > 0, got 0");
    c = small_config();
    c.critic_adam.beta2 = 1;
    fails(c, "ddpg_config.critic_adam.beta2");
    c = small_config();
    c.ou.theta = -0.5;
    fails(c, "ddpg_config.ou.theta: must be finite and >= 0, got -0.5");
    c = small_config();
    c.gaussian.sigma = -1;
    fails(c, "ddpg_config.gaussian.sigma");
    c = small_config();
    c.actor_hidden = {};
    fails(c, "ddpg_config.actor_hidden");
    c = small_config();
    c.precision = nn::matmul_precision::bf16;
    fails(c, "ddpg_config.precision: must be full unless the agent is ddpg<float>, got bf16");
    c = small_config();
    c.update_shards = 0;
    fails(c, "ddpg_config.update_shards: must be in [1, 8], got 0");
    c.update_shards = 9;
    fails(c, "ddpg_config.update_shards: must be in [1, 8], got 9");
    c.update_shards = 2;
    c.update_threads = 3;
    fails(c, "ddpg_config.update_threads: must be in [1, 2], got 3");
    c.update_threads = 0;
    fails(c, "ddpg_config.update_threads");

    CHECK_THROWS_WITH_AS(ddpg<double>(3, {{0, 1}, {1, 1}}, small_config(), 1),
                         doctest::Contains("ddpg.bounds[1].high: must be finite and > low (1), got 1"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<double>(3, {{-std::numeric_limits<double>::infinity(), 1}}, small_config(), 1),
                         doctest::Contains("ddpg.bounds[0].low: must be finite, got -inf"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<double>(3, {}, small_config(), 1), doctest::Contains("ddpg.bounds"), config_error);
    // Bounds finite as doubles but not in the agent's type, or whose
    // half-width overflows: refused by name, not turned into infinite actions.
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{-1e39, 1e39}}, small_config(), 1),
                         doctest::Contains("ddpg.bounds[0].low: must be finite in the agent's type"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{0, 1e39}}, small_config(), 1),
                         doctest::Contains("ddpg.bounds[0].high: must be finite in the agent's type"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<double>(3, {{-1e308, 1e308}}, small_config(), 1), doctest::Contains("ddpg.bounds[0].high"),
                         config_error);
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{0, 1e-30}}, small_config(), 1), doctest::Contains("ddpg.bounds[0].high"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<double>(0, test_bounds, small_config(), 1), doctest::Contains("ddpg.observation_size"),
                         config_error);

    ddpg<double> agent(3, test_bounds, small_config(), 1);
    vec s(3), a(2), wrong(4);
    CHECK_THROWS_WITH_AS(agent.greedy(wrong, a), doctest::Contains("observation has 4 values, expected 3"), error);
    CHECK_THROWS_WITH_AS(agent.explore(s, wrong), doctest::Contains("action span has 4 entries, expected 2"), error);
    CHECK_THROWS_AS(agent.observe(s, wrong, 0, s, false), error);
    a[1] = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH_AS(agent.observe(s, a, 0, s, false), doctest::Contains("action[1]"), error);
    replay_batch<double, double> big(3, 2, 16);
    big.size = 9;
    CHECK_THROWS_WITH_AS(agent.update(big), doctest::Contains("batch of 9 transitions, must be in [1, 8]"), error);
    replay_batch<double, double> ok(3, 2, 8);
    ok.size = 4;
    // A batch built or resized by hand: each array the update reads is
    // checked by name for the agent's sizes and the batch's transitions.
    {
        replay_batch<double, double> wide(4, 2, 8);
        wide.size = 4;
        CHECK_THROWS_WITH_AS(agent.update(wide), doctest::Contains("ddpg::update: batch.observations has 4 rows, the agent 3"), error);
        replay_batch<double, double> bad = ok;
        bad.actions.resize(3, 8);
        CHECK_THROWS_WITH_AS(agent.update(bad), doctest::Contains("batch.actions has 3 rows, the agent 2 actions"), error);
        bad = ok;
        bad.next_observations.conservativeResize(Eigen::NoChange, 2);
        CHECK_THROWS_WITH_AS(agent.update(bad), doctest::Contains("batch.next_observations holds 2, fewer than the batch's 4"),
                             error);
        bad = ok;
        bad.rewards.resize(3);
        CHECK_THROWS_WITH_AS(agent.update(bad), doctest::Contains("batch.rewards holds 3"), error);
        bad = ok;
        bad.terminated.resize(0);
        CHECK_THROWS_WITH_AS(agent.update(bad), doctest::Contains("batch.terminated holds 0"), error);
        CHECK(ok.shape_error(3, 2).empty());
    }
    CHECK_THROWS_WITH_AS(agent.update(ok, Eigen::MatrixXd::Zero(2, 3)), doctest::Contains("smoothing_noise is 2 × 3"), error);
    CHECK_THROWS_WITH_AS((void)agent.critic(1), doctest::Contains("critic 1 requested, the agent has 1"), error);
    CHECK_THROWS_WITH_AS((void)agent.critic().trunk(), doctest::Contains("there is no trunk"), error);
    CHECK_THROWS_WITH_AS(agent.set_bc_alpha(-1), doctest::Contains("ddpg_config.bc_alpha: must be finite and >= 0, got -1"),
                         config_error);
    agent.set_bc_alpha(2.5);
    CHECK(agent.config().bc_alpha == 2.5);
    agent.set_bc_alpha(0);
    CHECK(agent.config().bc_alpha == 0);
}

TEST_CASE("the presets carry the papers' and CleanRL's numbers") {
    const ddpg_config f = ddpg_config::firm();
    CHECK(f.actor_adam.lr == 3e-4);
    CHECK(f.critic_adam.lr == 3e-3);
    CHECK(f.batch_size == 64);
    CHECK(f.replay_capacity == 100'000);
    CHECK(f.gamma == 0.9);
    CHECK(f.tau == 0.001);
    CHECK(f.learning_starts == 70);
    CHECK(f.critic_action_layer == 1);
    CHECK(f.actor_hidden == std::vector<Eigen::Index>{40, 40});
    CHECK(f.exploration == ddpg_exploration::ornstein_uhlenbeck);
    CHECK(f.ou.theta == 0.15);
    CHECK(f.ou.sigma == 0.2);
    CHECK(f.ou.dt == 0.01);
    CHECK(f.ou.eps_decay == 1e-6);
    const ddpg_config cl = ddpg_config::cleanrl();
    CHECK(cl.actor_hidden == std::vector<Eigen::Index>{256, 256});
    CHECK(cl.batch_size == 256);
    CHECK(cl.learning_starts == 25'000);
    CHECK(cl.policy_delay == 2);
    CHECK(cl.gaussian.sigma == 0.1);
    CHECK(cl.critic_action_layer == 0);
    CHECK_FALSE(cl.twin_critics);
    const ddpg_config t = ddpg_config::td3();
    CHECK(t.twin_critics);
    CHECK(t.policy_noise == 0.2);
    CHECK(t.noise_clip == 0.5);
    CHECK(t.policy_delay == 2);
    for (const auto& c : {f, cl, t}) CHECK_NOTHROW(c.validate());
}

namespace {

/// A small deterministic environment for the resume test: the next
/// observation follows the action, the reward is the action's distance to a
/// target, and an episode is cut every 25 steps.
struct resume_env {
    std::array<float, obs_size> s{0.1F, -0.2F, 0.3F};
    int t = 0;
    /// One explore/observe step of `agent`; returns the action taken.
    std::array<float, 2> step(ddpg<float>& agent) {
        std::array<float, 2> a{};
        agent.explore(s, a);
        std::array<float, obs_size> next{};
        next[0] = 0.9F * s[0] + 0.1F * a[0];
        next[1] = 0.8F * s[1] + 0.2F * a[1];
        next[2] = 0.5F * s[2] - 0.1F * a[0] * a[1];
        const double reward = -(a[0] - 0.5) * (a[0] - 0.5) - (a[1] - 0.25) * (a[1] - 0.25);
        ++t;
        const bool cut = t % 25 == 0;
        agent.observe(s, a, reward, next, false, cut);
        s = cut ? std::array<float, obs_size>{0.1F, -0.2F, 0.3F} : next;
        return a;
    }
};

ddpg_config resume_config() {
    ddpg_config c = small_td3_config();
    c.exploration = ddpg_exploration::ornstein_uhlenbeck;
    c.ou.eps_decay = 0.01;
    c.replay_capacity = 40;  // wraps during the run
    return c;
}

void check_same_training(ddpg<float>& a, ddpg<float>& b) {
    CHECK(b.actor().parameters() == a.actor().parameters());
    CHECK(b.target_actor().parameters() == a.target_actor().parameters());
    for (std::size_t i = 0; i < a.critic_count(); ++i) {
        Eigen::VectorXf pa(a.critic(i).parameter_count());
        Eigen::VectorXf pb(b.critic(i).parameter_count());
        a.critic(i).read_parameters(pa);
        b.critic(i).read_parameters(pb);
        CHECK(pb == pa);
        a.target_critic(i).read_parameters(pa);
        b.target_critic(i).read_parameters(pb);
        CHECK(pb == pa);
        CHECK(b.critic_optimizer(i).second_moment() == a.critic_optimizer(i).second_moment());
    }
    CHECK(b.actor_optimizer().first_moment() == a.actor_optimizer().first_moment());
    CHECK(b.steps() == a.steps());
    CHECK(b.updates() == a.updates());
    CHECK(b.actor_updates() == a.actor_updates());
    CHECK(b.ou_noise().epsilon() == a.ou_noise().epsilon());
}

}  // namespace

TEST_CASE("ddpg training state: an agent restored from it acts and trains on exactly as the saved one") {
    const ddpg_config c = resume_config();
    ddpg<float> a(obs_size, test_bounds, c, 5);
    // What may change while training is carried too.
    a.set_bc_alpha(0.5);
    a.critic_optimizer(1).set_lr(5e-3);
    resume_env env;
    for (int t = 0; t < 90; ++t) (void)env.step(a);  // past the warm-up, the replay wrapped, mid-episode
    REQUIRE(a.updates() > 0);
    REQUIRE(a.replay().full());
    std::stringstream saved;
    a.save_training_state(saved);
    const std::string bytes = saved.str();
    // Its replay full: the payload is the most this agent writes, and the bound a load takes.
    const std::size_t header_size = std::string_view("rlscale.ddpg.training_state\n").size() + 20;
    CHECK(a.max_training_state_length() == bytes.size() - header_size - 8);
    // A stream set to throw at its end or on failure reads it as any other (it reads the stream's buffer).
    {
        ddpg<float> strict(obs_size, test_bounds, c, 98);
        std::istringstream in(bytes);
        in.exceptions(std::ios::failbit | std::ios::badbit | std::ios::eofbit);
        CHECK_NOTHROW(strict.load_training_state(in));
        std::istringstream cut(bytes.substr(0, bytes.size() - 9));
        cut.exceptions(std::ios::failbit | std::ios::badbit | std::ios::eofbit);
        CHECK_THROWS_AS(strict.load_training_state(cut), rlscale::checkpoint_error);
    }

    // Another seed: its initial weights, generator and noise are all replaced.
    ddpg<float> b(obs_size, test_bounds, c, 99);
    std::istringstream in(bytes);
    b.load_training_state(in);
    CHECK(b.config().bc_alpha == 0.5);
    CHECK(b.critic_optimizer(1).config().lr == 5e-3);
    check_same_training(a, b);
    resume_env env_b = env;
    for (int t = 0; t < 60; ++t) {
        const auto x = env.step(a);
        const auto y = env_b.step(b);
        REQUIRE(x == y);
    }
    check_same_training(a, b);

    // Through a file, replaced whole.
    const auto path = std::filesystem::temp_directory_path() / ("rlscale_ddpg_state_" + std::to_string(::getpid()) + ".bin");
    a.save_training_state(path);
    ddpg<float> f(obs_size, test_bounds, c, 7);
    f.load_training_state(path);
    check_same_training(a, f);
    std::filesystem::remove(path);
    CHECK_THROWS_WITH_AS(f.load_training_state(path), doctest::Contains("cannot open"), rlscale::error);
}

TEST_CASE("ddpg training state: a corrupted, truncated or foreign state is refused by name and changes nothing") {
    const ddpg_config c = resume_config();
    ddpg<float> a(obs_size, test_bounds, c, 5);
    resume_env env;
    for (int t = 0; t < 50; ++t) (void)env.step(a);
    std::stringstream saved;
    a.save_training_state(saved);
    const std::string bytes = saved.str();

    ddpg<float> b(obs_size, test_bounds, c, 6);
    const Eigen::VectorXf before = b.actor().parameters();
    const auto refused = [&](ddpg<float>& agent, const std::string& data, const char* field) {
        std::istringstream in(data);
        CHECK_THROWS_WITH_AS(agent.load_training_state(in), doctest::Contains(field), checkpoint_error);
    };
    std::string flipped = bytes;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
    refused(b, flipped, "training_state.checksum");
    refused(b, bytes.substr(0, bytes.size() - 1), "training_state.length");
    refused(b, bytes + "x", "training_state.length");
    refused(b, bytes.substr(0, 10), "training_state.magic");
    refused(b, "not a state at all, but long enough to hold a magic", "training_state.magic");
    refused(b, "", "training_state.magic");
    CHECK(b.actor().parameters() == before);
    CHECK(b.steps() == 0);
    CHECK(b.replay().empty());

    // Another agent's shape, value type or replay capacity.
    ddpg<float> wider(obs_size + 1, test_bounds, c, 1);
    refused(wider, bytes, "training_state.observation_size: is 3, expected 4");
    ddpg_config single = c;
    single.twin_critics = false;
    single.policy_noise = 0;
    ddpg<float> one(obs_size, test_bounds, single, 1);
    refused(one, bytes, "training_state.critic_count");
    ddpg_config smaller = c;
    smaller.replay_capacity = 32;
    ddpg<float> small(obs_size, test_bounds, smaller, 1);
    refused(small, bytes, "training_state.replay_capacity");
    // Networks of as many parameters but other layers: the action joining
    // the critic at its input or after a first layer as wide as the second.
    ddpg_config square = c;
    square.critic_hidden = {6, 6};
    ddpg<float> at_input(obs_size, test_bounds, square, 1);
    square.critic_action_layer = 1;
    ddpg<float> after_first(obs_size, test_bounds, square, 1);
    REQUIRE(at_input.critic().parameter_count() == after_first.critic().parameter_count());
    std::stringstream square_state;
    at_input.save_training_state(square_state);
    refused(after_first, square_state.str(), "training_state.critic_layers: are [action at layer 0: 5→6, 6→6, 6→1]");
    ddpg<double> doubles(obs_size, test_bounds, c, 1);
    std::istringstream in(bytes);
    CHECK_THROWS_WITH_AS(doubles.load_training_state(in), doctest::Contains("training_state.value_size: is 4, expected 8"),
                         checkpoint_error);

    // A well-framed state holding a value training refuses: a NaN weight
    // (the checksum recomputed, as a writer with a bug would).
    std::string forged = bytes;
    const std::size_t header = 28 + 4 + 4 + 4 + 8;  // magic, version, byte order, value size, length
    // Six sizes, the actor's 3 layers and the critic's action layer and 3
    // layers (a count and three values each), bc_alpha, three counters, the
    // generator, OU's ε and state: then the actor.
    const std::size_t actor_at = header + 6 * 8 + (1 + 9) * 8 + (1 + 10) * 8 + 8 + 3 * 8 + 4 * 8 + 8 + 2 * 8;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(forged.data() + actor_at, &nan, sizeof nan);
    const std::uint64_t sum = rlscale::detail::fnv1a64(std::string_view(forged).substr(header, forged.size() - header - 8));
    std::memcpy(forged.data() + forged.size() - 8, &sum, sizeof sum);
    refused(b, forged, "training_state.actor[0]: is not finite");
    CHECK(b.actor().parameters() == before);
    // Late in the payload too: the last stored transition's flags byte.
    std::string late = bytes;
    late[late.size() - 9] = 7;
    const std::uint64_t late_sum = rlscale::detail::fnv1a64(std::string_view(late).substr(header, late.size() - header - 8));
    std::memcpy(late.data() + late.size() - 8, &late_sum, sizeof late_sum);
    refused(b, late, "training_state.replay.flags[");
    CHECK(b.actor().parameters() == before);
    CHECK(b.steps() == 0);
    CHECK(b.replay().empty());

    // With bfloat16 moments the rounding is keyed on the seed: another
    // seed's agent is told so; the same seed's resumes exactly.
    ddpg_config half = c;
    half.actor_adam.moments = nn::moment_storage::bfloat16;
    half.critic_adam.moments = nn::moment_storage::bfloat16;
    ddpg<float> h(obs_size, test_bounds, half, 5);
    resume_env env_h;
    for (int t = 0; t < 50; ++t) (void)env_h.step(h);
    std::stringstream hs;
    h.save_training_state(hs);
    ddpg<float> other_seed(obs_size, test_bounds, half, 6);
    refused(other_seed, hs.str(), "training_state.actor_adam.rounding_seed");
    ddpg<float> same_seed(obs_size, test_bounds, half, 5);
    std::istringstream hin(hs.str());
    same_seed.load_training_state(hin);
    resume_env env_s = env_h;
    for (int t = 0; t < 30; ++t) REQUIRE(env_h.step(h) == env_s.step(same_seed));
    check_same_training(h, same_seed);
}

TEST_CASE("serving_actor refuses an agent whose bounds are not [-1, 1]") {
    // The served network's tanh output reaches the action map unscaled: an
    // agent trained with other bounds would act otherwise when served.
    ddpg<double> scaled(3, {{-1, 1}, {0, 1}}, small_config(), 1);
    CHECK_THROWS_WITH_AS((void)scaled.serving_actor(),
                         doctest::Contains("ddpg.bounds[1]: is [0, 1]; a served actor's tanh output reaches the action map unscaled"),
                         config_error);
    ddpg<double> unit(3, std::vector<action_bound>(2), small_config(), 1);
    CHECK(&unit.serving_actor() == &unit.actor());
    // What it returns computes the agent's greedy actions.
    const vec s = {0.3, -0.2, 0.9};
    vec greedy(2);
    unit.greedy(s, greedy);
    nn::mlp<double>::inference_buffer buf(unit.serving_actor());
    const auto u = unit.serving_actor().forward(Eigen::Map<const Eigen::VectorXd>(s.data(), 3), buf);
    CHECK(u(0) == greedy[0]);
    CHECK(u(1) == greedy[1]);
}

TEST_CASE("greedy stays within the bounds when a saturated tanh rounds past one") {
    // bias + scale·(±1) in float lands an ulp outside some bounds; greedy
    // clamps. Saturate the actor (every weight 50, inputs positive or
    // negative) over 200 random bound pairs.
    rng gen(5);
    int past = 0;
    for (int k = 0; k < 200; ++k) {
        const double lo = uniform(gen, -3, 3);
        const double hi = lo + uniform(gen, 0.01, 5);
        const std::vector<action_bound> b = {{lo, hi}};
        ddpg<float> agent(3, b, small_config(), 1);
        const float low = static_cast<float>(lo);
        const float high = static_cast<float>(hi);
        const float scale = static_cast<float>(b[0].scale());
        const float bias = static_cast<float>(b[0].bias());
        past += (bias + scale > high) + (bias - scale < low);
        for (const float sign : {1.0F, -1.0F}) {
            agent.actor().parameters().setConstant(50 * sign);
            const std::vector<float> s = {1, 1, 1};
            std::vector<float> a(1);
            agent.greedy(s, a);
            CAPTURE(lo);
            CAPTURE(hi);
            CHECK(a[0] >= low);
            CHECK(a[0] <= high);
            CHECK(a[0] == std::clamp(bias + scale * sign, low, high));
        }
    }
    CHECK(past > 0);  // the unclamped expression does go past a bound here
}

TEST_CASE("bounds that round to one value in the agent's type are refused") {
    // Distinct in double, one float: the dimension would be frozen.
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{-1, 1}, {1e6, 1e6 + 0.01}}, small_config(), 1),
                         doctest::Contains("ddpg.bounds[1].high: must be above low in the agent's type"), config_error);
    // The same bounds are two values in double, and a float pair one step apart is accepted.
    CHECK_NOTHROW(ddpg<double>(3, {{1e6, 1e6 + 0.01}}, small_config(), 1));
    CHECK_NOTHROW(ddpg<float>(3, {{1e6, 1e6 + 0.0625}}, small_config(), 1));
}

TEST_CASE("tau, clip norms and the Gaussian sigma that the agent's type cannot carry are refused by name") {
    const auto fails = [](ddpg_config c, const std::string& text) {
        CHECK_THROWS_WITH_AS(ddpg<float>(3, test_bounds, c, 1), doctest::Contains(text.c_str()), config_error);
    };
    // tau: 1e-50 is a float 0 (the targets frozen); below float's epsilon 1 - tau rounds.
    ddpg_config c = small_config();
    c.tau = 1e-50;
    fails(c, "ddpg_config.tau: must be at least the agent's float epsilon (1.1920929e-07)");
    fails(c, "got 1e-50");
    c.tau = 1e-7;
    fails(c, "ddpg_config.tau: must be at least the agent's float epsilon");
    fails(c, "got 1e-07");
    c.tau = static_cast<double>(std::numeric_limits<float>::epsilon());
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    c.tau = 1e-10;  // fine in double
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    fails(c, "ddpg_config.tau");
    c.tau = 1e-17;
    CHECK_THROWS_WITH_AS(ddpg<double>(3, test_bounds, c, 1),
                         doctest::Contains("ddpg_config.tau: must be at least the agent's double epsilon"), config_error);

    // A positive clip norm that is 0 in float would zero every gradient; one that is infinite is refused too.
    c = small_config();
    c.critic_grad_clip_norm = 1e-50;
    fails(c, "ddpg_config.critic_grad_clip_norm: must be finite and > 0 as the agent's float (or 0 for off), got 1e-50");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    c = small_config();
    c.actor_grad_clip_norm = 1e-50;
    fails(c, "ddpg_config.actor_grad_clip_norm: must be finite and > 0 as the agent's float (or 0 for off), got 1e-50");
    c.actor_grad_clip_norm = 1e39;
    fails(c, "ddpg_config.actor_grad_clip_norm: must be finite and > 0 as the agent's float (or 0 for off), got 1e+39");
    c.actor_grad_clip_norm = 0;  // off
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));

    // Gaussian sigma: 1e39 is an infinite float, and explore() would add no noise at all.
    c = small_config();
    c.gaussian.sigma = 1e39;
    fails(c, "ddpg_config.gaussian.sigma: must give, times ddpg.bounds[0]'s scale (1.5), a noise that is finite and not 0 "
             "in the agent's float");
    fails(c, "got 1e+39");
    c.gaussian.sigma = 1e-50;
    fails(c, "ddpg_config.gaussian.sigma");
    // Times a scale: the draw is sigma * scale * N(0, 1), rounded to float.
    c.gaussian.sigma = 1e37;
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{-1, 1}, {-100, 100}}, c, 1),
                         doctest::Contains("ddpg_config.gaussian.sigma: must give, times ddpg.bounds[1]'s scale (100)"),
                         config_error);
    CHECK_NOTHROW(ddpg<double>(3, {{-1, 1}, {-100, 100}}, c, 1));
    c.gaussian.sigma = 0;  // no noise, as asked
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
    // Only Gaussian exploration draws with it.
    c.gaussian.sigma = 1e39;
    c.exploration = ddpg_exploration::ornstein_uhlenbeck;
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
}

TEST_CASE("the Ornstein-Uhlenbeck sigma and eps_start that the agent's type cannot carry are refused by name") {
    const auto fails = [](ddpg_config c, const std::string& text) {
        CHECK_THROWS_WITH_AS(ddpg<float>(3, test_bounds, c, 1), doctest::Contains(text.c_str()), config_error);
    };
    ddpg_config c = small_config();
    c.exploration = ddpg_exploration::ornstein_uhlenbeck;
    // sigma * sqrt(dt) * scale is 1.5e39, an infinite float: explore() would add no noise at all.
    c.ou.sigma = 1e40;
    fails(c, "ddpg_config.ou.sigma: must give, times sqrt(dt) (0.1) and ddpg.bounds[0]'s scale (1.5), a noise step that is "
             "finite and not 0 in the agent's float");
    fails(c, "got 1e+40");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));  // a double holds it
    c.ou.sigma = 1e-50;  // a float 0
    fails(c, "ddpg_config.ou.sigma");
    // Times each dimension's scale: the second's (100) takes 1e37 past the limit.
    c.ou.sigma = 1e37;
    CHECK_NOTHROW(ddpg<float>(3, {{-1, 1}}, c, 1));
    CHECK_THROWS_WITH_AS(ddpg<float>(3, {{-1, 1}, {-100, 100}}, c, 1),
                         doctest::Contains("ddpg_config.ou.sigma: must give, times sqrt(dt) (0.1) and ddpg.bounds[1]'s scale (100)"),
                         config_error);
    c.ou.sigma = 0;  // no noise, as asked
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
    // eps_start multiplies the draw: 1e40 * 0.2 * 0.1 * 1.5 = 3e38, past float's range with room for |N(0, 1)| < 9.
    c.ou.sigma = 0.2;
    c.ou.eps_start = 1e40;
    fails(c, "ddpg_config.ou.eps_start: must give, times sigma times sqrt(dt) (0.1) and ddpg.bounds[0]'s scale (1.5), a noise "
             "that is finite in the agent's float");
    fails(c, "got 1e+40");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    // Only Ornstein-Uhlenbeck exploration draws with them.
    c.ou.sigma = 1e40;
    c.exploration = ddpg_exploration::gaussian;
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));

    // An accepted large sigma still explores: explore() differs from greedy().
    ddpg_config big = small_config();
    big.exploration = ddpg_exploration::ornstein_uhlenbeck;
    big.learning_starts = 0;
    big.ou.sigma = 1e30;
    ddpg<float> agent(3, test_bounds, big, 1);
    const std::vector<float> obs{0.1f, -0.2f, 0.3f};
    std::vector<float> g(2);
    std::vector<float> e(2);
    int differ = 0;
    for (int i = 0; i < 10; ++i) {
        agent.greedy(obs, g);
        agent.explore(obs, e);
        differ += e != g;
    }
    CHECK(differ == 10);
}

TEST_CASE("bc_alpha and action_l2 that the agent's type cannot carry are refused by name, in the configuration, set_bc_alpha and a training state") {
    const auto fails = [](ddpg_config c, const std::string& text) {
        CHECK_THROWS_WITH_AS(ddpg<float>(3, test_bounds, c, 1), doctest::Contains(text.c_str()), config_error);
    };
    // 1e39 is an infinite float: the actor's gradient would be too, and no update would ever be applied.
    ddpg_config c = small_config();
    c.bc_alpha = 1e39;
    fails(c, "ddpg_config.bc_alpha: must be finite in the agent's float");
    fails(c, "got 1e+39");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    c.bc_alpha = 2.5;
    ddpg<float> agent(3, test_bounds, c, 1);
    CHECK_THROWS_WITH_AS(agent.set_bc_alpha(1e39), doctest::Contains("ddpg_config.bc_alpha: must be finite in the agent's float"),
                         config_error);
    CHECK(agent.config().bc_alpha == 2.5);  // unchanged
    ddpg<double> wide(3, test_bounds, c, 1);
    CHECK_NOTHROW(wide.set_bc_alpha(1e39));

    c = small_config();
    c.action_l2 = 1e39;
    fails(c, "ddpg_config.action_l2: must keep 2 * action_l2, its gradient's coefficient, finite in the agent's float");
    fails(c, "got 1e+39");
    c.action_l2 = 2e38;  // a float, but twice it is not
    fails(c, "ddpg_config.action_l2");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    c.action_l2 = 1e-3;
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));

    // A training state holding bc_alpha 1e39 (the checksum recomputed).
    const ddpg_config rc = resume_config();
    ddpg<float> a(obs_size, test_bounds, rc, 5);
    resume_env env;
    for (int t = 0; t < 20; ++t) (void)env.step(a);
    std::stringstream saved;
    a.save_training_state(saved);
    std::string forged = saved.str();
    const std::size_t header = 28 + 4 + 4 + 4 + 8;            // magic, version, byte order, value size, length
    const std::size_t bc_at = header + 6 * 8 + (1 + 9) * 8 + (1 + 10) * 8;  // six sizes, the actor's and the critic's layers
    double stored = 0;
    std::memcpy(&stored, forged.data() + bc_at, sizeof stored);
    REQUIRE(stored == rc.bc_alpha);
    const double huge = 1e39;
    std::memcpy(forged.data() + bc_at, &huge, sizeof huge);
    const std::uint64_t sum = rlscale::detail::fnv1a64(std::string_view(forged).substr(header, forged.size() - header - 8));
    std::memcpy(forged.data() + forged.size() - 8, &sum, sizeof sum);
    ddpg<float> b(obs_size, test_bounds, rc, 6);
    std::istringstream in(forged);
    CHECK_THROWS_WITH_AS(b.load_training_state(in), doctest::Contains("training_state.bc_alpha: is 1e+39, must be finite in the agent's float"),
                         checkpoint_error);
    CHECK(b.steps() == 0);

    // The same for the Ornstein-Uhlenbeck ε the state carries (after
    // bc_alpha, the three counters and the generator's 32 bytes), as for
    // the configuration's eps_start: 1e40 in float would explore not at all.
    std::string forged_eps = saved.str();
    const std::size_t eps_at = bc_at + 8 + 3 * 8 + 32;
    double stored_eps = 0;
    std::memcpy(&stored_eps, forged_eps.data() + eps_at, sizeof stored_eps);
    REQUIRE(stored_eps == a.stats().exploration);
    const double huge_eps = 1e40;
    std::memcpy(forged_eps.data() + eps_at, &huge_eps, sizeof huge_eps);
    const std::uint64_t eps_sum = rlscale::detail::fnv1a64(std::string_view(forged_eps).substr(header, forged_eps.size() - header - 8));
    std::memcpy(forged_eps.data() + forged_eps.size() - 8, &eps_sum, sizeof eps_sum);
    std::istringstream eps_in(forged_eps);
    CHECK_THROWS_WITH_AS(b.load_training_state(eps_in), doctest::Contains("training_state.ou_epsilon: is 1e+40"), checkpoint_error);
    CHECK(b.steps() == 0);
    std::istringstream unforged(saved.str());  // the state as saved loads
    CHECK_NOTHROW(b.load_training_state(unforged));
    CHECK(b.steps() == a.steps());
}

TEST_CASE("a replay_capacity above the replay buffer's limit is refused naming ddpg_config.replay_capacity") {
    ddpg_config c = small_config();
    c.replay_capacity = replay_buffer<>::max_capacity + 1;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("ddpg_config.replay_capacity"), config_error);
    CHECK_THROWS_WITH_AS(ddpg<float>(3, test_bounds, c, 1), doctest::Contains("ddpg_config.replay_capacity: must be <= 100000000"),
                         config_error);
}

TEST_CASE("ddpg greedy and explore refuse an observation with a value that is not finite, naming it, before drawing or advancing the noise") {
    // A NaN observation gave NaN actions (mu(s) is NaN, and clamp passes it
    // through); dqn refuses it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const std::array<float, 3> first_nan{nan, 0.2F, 0.3F};
    const std::array<float, 3> last_inf{0.1F, 0.2F, inf};
    const std::array<float, 3> fine{0.1F, 0.2F, 0.3F};
    for (const ddpg_exploration exploration : {ddpg_exploration::ornstein_uhlenbeck, ddpg_exploration::gaussian}) {
        CAPTURE(static_cast<int>(exploration));
        ddpg_config c = small_config();
        c.exploration = exploration;
        ddpg<float> agent(3, test_bounds, c, 5);
        ddpg<float> twin(3, test_bounds, c, 5);
        std::array<float, 2> a{9.0F, 9.0F};
        std::array<float, 2> b{};
        // Refused in the warm-up (a uniform draw) and after it (mu(s) plus noise).
        for (int phase = 0; phase < 2; ++phase) {
            CAPTURE(phase);
            CHECK_THROWS_WITH_AS(agent.explore(first_nan, a), "ddpg: observation[0] is nan, must be finite", error);
            CHECK_THROWS_WITH_AS(agent.explore(last_inf, a), "ddpg: observation[2] is inf, must be finite", error);
            CHECK_THROWS_WITH_AS(agent.greedy(first_nan, a), "ddpg: observation[0] is nan, must be finite", error);
            CHECK_THROWS_WITH_AS(agent.greedy(last_inf, a), "ddpg: observation[2] is inf, must be finite", error);
            CHECK(a == std::array<float, 2>{9.0F, 9.0F});
            // Nothing was drawn and the noise did not move: the agent explores as its twin.
            for (std::size_t t = 0; t < c.learning_starts; ++t) {
                agent.explore(fine, a);
                twin.explore(fine, b);
                CHECK(a == b);
                (void)agent.observe(fine, a, 0.5, fine, false);
                (void)twin.observe(fine, b, 0.5, fine, false);
            }
            a = {9.0F, 9.0F};
        }
        REQUIRE(agent.steps() >= c.learning_starts);
        agent.greedy(fine, a);
        twin.greedy(fine, b);
        CHECK(a == b);
    }
}

TEST_CASE("target smoothing's policy_noise and noise_clip that the agent's type cannot carry are refused by name") {
    // 1e-50 is a positive double and a float 0: the smoothing was off, the
    // loss exactly that of policy_noise 0.
    const auto fails = [](ddpg_config c, const std::string& text) {
        CHECK_THROWS_WITH_AS(ddpg<float>(3, test_bounds, c, 1), text.c_str(), config_error);
    };
    ddpg_config c = small_config();
    c.policy_noise = 1e-50;
    fails(c, "ddpg_config.policy_noise: must be finite and > 0 as the agent's float (or 0 for off), got 1e-50");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));  // a double holds it
    c.policy_noise = 1e39;
    fails(c, "ddpg_config.policy_noise: must be finite and > 0 as the agent's float (or 0 for off), got 1e+39");
    c.policy_noise = 0.2;
    c.noise_clip = 1e-50;
    fails(c, "ddpg_config.noise_clip: must be finite and > 0 as the agent's float (or 0 for off), got 1e-50");
    CHECK_NOTHROW(ddpg<double>(3, test_bounds, c, 1));
    c.noise_clip = 1e39;
    fails(c, "ddpg_config.noise_clip: must be finite and > 0 as the agent's float (or 0 for off), got 1e+39");
    for (const double clip : {0.0, 1e-30, 0.5}) {
        CAPTURE(clip);
        c.noise_clip = clip;
        CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
    }
    // Without smoothing the clip is not read.
    c.policy_noise = 0;
    c.noise_clip = 1e-50;
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
    c.policy_noise = 1e-30;  // a float
    c.noise_clip = 0.5;
    CHECK_NOTHROW(ddpg<float>(3, test_bounds, c, 1));
}

}  // namespace test_rl_ddpg
