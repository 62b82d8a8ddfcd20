// ppo: one update against a reference computed here in the plainest way
// (the loss of update()'s doc with loops and a hand-written softmax, its
// gradient by central differences, Adam's first step in closed form), for
// discrete and continuous actions, with and without value clipping; then
// determinism, the minibatch schedule, learning two small tasks, the
// refusals, the presets and learning-rate annealing. The fixture test
// against PyTorch is tests/rl/ppo_torch_test.cpp.
#include <rlscale/rl/ppo.hpp>

#include <doctest/doctest.h>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <numbers>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace test_rl_ppo {

using namespace rlscale;
using namespace rlscale::rl;

namespace {

// ---------------------------------------------------------------------------
// The reference: networks, distributions and the loss, written out.

/// The sizes of a tanh MLP with an identity output layer.
using sizes = std::vector<Eigen::Index>;

/// f(x) of a tanh MLP of `s` whose parameters are `theta`, laid out as
/// nn::mlp documents: per layer the weight (column-major, out × in), then
/// the bias.
Eigen::VectorXd reference_forward(const sizes& s, const Eigen::VectorXd& theta, const Eigen::VectorXd& x) {
    std::vector<double> a(x.data(), x.data() + x.size());
    Eigen::Index off = 0;
    for (std::size_t l = 0; l + 1 < s.size(); ++l) {
        const Eigen::Index in = s[l];
        const Eigen::Index out = s[l + 1];
        const bool hidden = l + 2 < s.size();
        std::vector<double> y(static_cast<std::size_t>(out));
        for (Eigen::Index i = 0; i < out; ++i) {
            double z = theta(off + out * in + i);  // bias
            for (Eigen::Index k = 0; k < in; ++k) z += theta(off + k * out + i) * a[static_cast<std::size_t>(k)];
            y[static_cast<std::size_t>(i)] = hidden ? std::tanh(z) : z;
        }
        off += out * in + out;
        a = y;
    }
    return Eigen::Map<const Eigen::VectorXd>(a.data(), static_cast<Eigen::Index>(a.size()));
}

/// Parameters of a network of sizes `s`: a weight and a bias per layer.
Eigen::Index parameter_count(const sizes& s) {
    Eigen::Index n = 0;
    for (std::size_t l = 0; l + 1 < s.size(); ++l) n += s[l + 1] * s[l] + s[l + 1];
    return n;
}

/// log softmax(z)_a, without shifting (the logits here are small).
double reference_log_softmax(const Eigen::VectorXd& z, Eigen::Index a) {
    double total = 0;
    for (Eigen::Index k = 0; k < z.size(); ++k) total += std::exp(z(k));
    return z(a) - std::log(total);
}

double reference_categorical_entropy(const Eigen::VectorXd& z) {
    double h = 0;
    for (Eigen::Index k = 0; k < z.size(); ++k) {
        const double lp = reference_log_softmax(z, k);
        h -= std::exp(lp) * lp;
    }
    return h;
}

/// One rollout step of the reference problem.
template <typename Action>
struct sample {
    Eigen::VectorXd actor_obs;
    Eigen::VectorXd critic_obs;
    std::vector<Action> action;
    double old_log_prob = 0;
    double old_value = 0;
    double advantage = 0;
    double ret = 0;
};

/// A PPO problem: network shapes, the distribution's shape and the samples.
template <typename Action>
struct problem {
    sizes actor;
    sizes critic;
    std::size_t heads = 0;             ///< discrete: heads of actions_per_head
    std::size_t actions_per_head = 0;  ///< discrete
    ppo_config config;
    std::vector<sample<Action>> samples;

    /// log π(a|s) and the entropy under the given actor parameters and log-std.
    [[nodiscard]] std::pair<double, double> policy(const Eigen::VectorXd& actor_theta, const Eigen::VectorXd& log_std,
                                                   const sample<Action>& s) const {
        const Eigen::VectorXd y = reference_forward(actor, actor_theta, s.actor_obs);
        double lp = 0;
        double h = 0;
        if constexpr (std::is_integral_v<Action>) {
            for (std::size_t head = 0; head < heads; ++head) {
                const Eigen::VectorXd z = y.segment(static_cast<Eigen::Index>(head * actions_per_head), static_cast<Eigen::Index>(actions_per_head));
                lp += reference_log_softmax(z, s.action[head]);
                h += reference_categorical_entropy(z);
            }
        } else {
            for (Eigen::Index d = 0; d < y.size(); ++d) {
                const double sigma = std::exp(log_std(d));
                const double u = (s.action[static_cast<std::size_t>(d)] - y(d)) / sigma;
                lp += std::log(std::exp(-0.5 * u * u) / (sigma * std::sqrt(2 * std::numbers::pi)));
                h += 0.5 * std::log(2 * std::numbers::pi * std::numbers::e * sigma * sigma);
            }
        }
        return {lp, h};
    }

    [[nodiscard]] double value(const Eigen::VectorXd& critic_theta, const sample<Action>& s) const {
        return reference_forward(critic, critic_theta, s.critic_obs)(0);
    }

    /// The advantages normalised over the whole (one) minibatch: mean 0,
    /// divided by the unbiased standard deviation plus 1e-8.
    [[nodiscard]] std::vector<double> normalized_advantages() const {
        const double n = static_cast<double>(samples.size());
        double mean = 0;
        for (const auto& s : samples) mean += s.advantage / n;
        double var = 0;
        for (const auto& s : samples) var += (s.advantage - mean) * (s.advantage - mean) / (n - 1);
        std::vector<double> out;
        for (const auto& s : samples) out.push_back((s.advantage - mean) / (std::sqrt(var) + 1e-8));
        return out;
    }

    struct losses {
        double pg = 0;
        double entropy = 0;
        double value = 0;
        double total = 0;
    };

    /// L = mean(max(−Â·ρ, −Â·clip(ρ, 1 − ε, 1 + ε))) − β·mean(H) + c_v·½·mean(e²),
    /// e² the larger of (V − R)² and (V_old + clip(V − V_old, ±c) − R)² when clipping values.
    [[nodiscard]] losses loss(const Eigen::VectorXd& actor_theta, const Eigen::VectorXd& critic_theta, const Eigen::VectorXd& log_std) const {
        const std::vector<double> adv = normalized_advantages();
        const double n = static_cast<double>(samples.size());
        const double eps = config.clip;
        losses l;
        for (std::size_t j = 0; j < samples.size(); ++j) {
            const sample<Action>& s = samples[j];
            const auto [lp, h] = policy(actor_theta, log_std, s);
            const double ratio = std::exp(lp - s.old_log_prob);
            const double clipped_ratio = std::min(std::max(ratio, 1 - eps), 1 + eps);
            l.pg += std::max(-adv[j] * ratio, -adv[j] * clipped_ratio) / n;
            l.entropy += h / n;
            const double v = value(critic_theta, s);
            double sq = (v - s.ret) * (v - s.ret);
            if (config.clip_value) {
                const double c = config.value_clip;
                const double v_clipped = s.old_value + std::min(std::max(v - s.old_value, -c), c);
                sq = std::max(sq, (v_clipped - s.ret) * (v_clipped - s.ret));
            }
            l.value += 0.5 * sq / n;
        }
        l.total = l.pg - config.entropy_coef * l.entropy + config.value_coef * l.value;
        return l;
    }
};

/// dL/dθ by the fourth-order central difference
/// (−f(θ+2h) + 8f(θ+h) − 8f(θ−h) + f(θ−2h)) / 12h for every element of θ.
template <typename F>
Eigen::VectorXd central_differences(F&& f, Eigen::VectorXd& theta, double h = 1e-3) {
    Eigen::VectorXd g(theta.size());
    for (Eigen::Index i = 0; i < theta.size(); ++i) {
        const double saved = theta(i);
        const auto at = [&](double d) {
            theta(i) = saved + d;
            return f();
        };
        g(i) = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h);
        theta(i) = saved;
    }
    return g;
}

/// Adam's first step with ε: m̂ = g, v̂ = g², so Δθ = −lr·g/(|g| + ε).
Eigen::VectorXd first_adam_step(const Eigen::VectorXd& g, double lr, double eps) {
    return -lr * g.array() / (g.array().abs() + eps);
}

/// |actual − expected| ≤ rtol·max(|expected|, 1e-4·max|expected|) elementwise.
void check_step(const std::string& what, const Eigen::VectorXd& actual, const Eigen::VectorXd& expected, double rtol) {
    REQUIRE(actual.size() == expected.size());
    const double floor = 1e-4 * expected.cwiseAbs().maxCoeff();
    REQUIRE(floor > 0);
    double worst = 0;
    Eigen::Index at = 0;
    for (Eigen::Index i = 0; i < expected.size(); ++i) {
        const double err = std::abs(actual(i) - expected(i)) / std::max(std::abs(expected(i)), floor);
        if (err > worst) worst = err, at = i;
    }
    std::ostringstream where;
    where << std::setprecision(17) << what << ": worst element " << at << " of " << expected.size() << " moved by " << actual(at)
          << ", the reference " << expected(at) << " (relative error " << worst << ")";
    INFO(where.str());
    CHECK(worst <= rtol);
}

/// The configuration of the reference tests: one epoch, one minibatch of
/// the whole rollout, no norm clip, and an Adam ε so large that the first
/// step is proportional to the gradient.
ppo_config reference_config(std::size_t n, bool clip_value) {
    ppo_config c;
    c.actor_hidden = {5, 5};
    c.critic_hidden = {5, 5};
    c.hidden_activation = nn::activation::tanh;
    c.orthogonal_init = false;
    c.rollout_steps = n;
    c.minibatch_size = n;
    c.epochs = 1;
    c.normalize_advantages = true;
    c.max_grad_norm = 0;
    c.adam_eps = 1e3;
    c.actor_lr = 2.0;
    c.critic_lr = 3.0;
    c.clip = 0.2;
    c.clip_value = clip_value;
    c.value_clip = 0.2;
    c.entropy_coef = 0.03;
    c.value_coef = 0.7;
    return c;
}

// Six samples placed so that every branch of both max()es is taken (the
// advantages already have mean 0, so normalising keeps their signs):
//   j  Â     log ρ    ρ      surrogate                    value: V − V_old, R − V
//   0  +1.0  +0.5   1.65   clipped (−1.2Â), no gradient   +0.5, +1   clipped larger: no gradient
//   1  −0.5  +0.4   1.49   unclipped (ρ > 1 + ε, Â < 0)   +0.5, −1   unclipped larger
//   2  +2.0  −0.4   0.67   unclipped (ρ < 1 − ε, Â > 0)   −0.5, −1   clipped larger: no gradient
//   3  −1.5  −0.5   0.61   clipped (−0.8Â), no gradient   −0.5, +1   unclipped larger
//   4  +0.3  +0.1   1.11   inside                         +0.1, +0.5 inside the clip
//   5  −1.3  −0.05  0.95   inside                         −0.05, −0.25 inside the clip
constexpr std::array<double, 6> advantages{1.0, -0.5, 2.0, -1.5, 0.3, -1.3};
constexpr std::array<double, 6> log_ratios{0.5, 0.4, -0.4, -0.5, 0.1, -0.05};
constexpr std::array<double, 6> value_moves{0.5, 0.5, -0.5, -0.5, 0.1, -0.05};
constexpr std::array<double, 6> return_gaps{1.0, -1.0, -1.0, 1.0, 0.5, -0.25};

/// Fills `p.samples` (observations and actions from `gen`, the rest from
/// the tables above and the current networks) and the matching rollout.
template <typename Action>
rollout_buffer<double, Action> make_reference_rollout(problem<Action>& p, ppo<double, Action>& agent, rng& gen) {
    const std::size_t n = advantages.size();
    rollout_buffer<double, Action> r(n, static_cast<std::size_t>(p.actor.front()), static_cast<std::size_t>(p.critic.front()),
                                     agent.action_width());
    const Eigen::VectorXd actor_theta = agent.actor().parameters();
    const Eigen::VectorXd critic_theta = agent.critic().parameters();
    const Eigen::VectorXd log_std = agent.log_std();
    std::vector<double> adv;
    std::vector<double> ret;
    for (std::size_t j = 0; j < n; ++j) {
        sample<Action> s;
        s.actor_obs.resize(p.actor.front());
        s.critic_obs.resize(p.critic.front());
        for (auto& x : s.actor_obs) x = uniform(gen, -1, 1);
        for (auto& x : s.critic_obs) x = uniform(gen, -1, 1);
        if constexpr (std::is_integral_v<Action>) {
            for (std::size_t h = 0; h < p.heads; ++h) s.action.push_back(static_cast<Action>(uniform_index(gen, p.actions_per_head)));
        } else {
            const Eigen::VectorXd mean = reference_forward(p.actor, actor_theta, s.actor_obs);
            for (Eigen::Index d = 0; d < mean.size(); ++d) s.action.push_back(mean(d) + std::exp(log_std(d)) * standard_normal(gen));
        }
        const double lp = p.policy(actor_theta, log_std, s).first;
        // The learner and the reference agree before any step.
        CHECK(agent.log_prob(std::vector<double>(s.actor_obs.data(), s.actor_obs.data() + s.actor_obs.size()), s.action) ==
              doctest::Approx(lp).epsilon(1e-12));
        const double v = p.value(critic_theta, s);
        CHECK(agent.value(std::vector<double>(s.critic_obs.data(), s.critic_obs.data() + s.critic_obs.size())) ==
              doctest::Approx(v).epsilon(1e-12));
        s.old_log_prob = lp - log_ratios[j];
        s.old_value = v - value_moves[j];
        s.advantage = advantages[j];
        s.ret = v + return_gaps[j];
        r.push(std::vector<double>(s.actor_obs.data(), s.actor_obs.data() + s.actor_obs.size()),
               std::vector<double>(s.critic_obs.data(), s.critic_obs.data() + s.critic_obs.size()), s.action, s.old_log_prob,
               s.old_value, 0, false, false);
        adv.push_back(s.advantage);
        ret.push_back(s.ret);
        p.samples.push_back(s);
    }
    r.set_advantages(adv, ret);
    return r;
}

/// Runs one update of `agent` on the reference rollout and checks every
/// parameter's move against Adam's first step on the finite-difference
/// gradient, and the reported losses against the reference's.
template <typename Action>
void check_reference_update(problem<Action>& p, ppo<double, Action>& agent, std::uint64_t data_seed) {
    REQUIRE(agent.actor().parameter_count() == parameter_count(p.actor));
    REQUIRE(agent.critic().parameter_count() == parameter_count(p.critic));
    rng gen(data_seed);
    const rollout_buffer<double, Action> r = make_reference_rollout(p, agent, gen);
    Eigen::VectorXd actor_theta = agent.actor().parameters();
    Eigen::VectorXd critic_theta = agent.critic().parameters();
    Eigen::VectorXd log_std = agent.log_std();
    const auto before = p.loss(actor_theta, critic_theta, log_std);
    const auto total = [&] { return p.loss(actor_theta, critic_theta, log_std).total; };
    const Eigen::VectorXd g_actor = central_differences(total, actor_theta);
    const Eigen::VectorXd g_critic = central_differences(total, critic_theta);
    const Eigen::VectorXd g_log_std = central_differences(total, log_std);

    const ppo_update_stats s = agent.update(r);
    REQUIRE(s.steps == 1);
    CHECK(s.skipped == 0);
    CHECK(s.pg_loss == doctest::Approx(before.pg).epsilon(1e-12));
    CHECK(s.value_loss == doctest::Approx(before.value).epsilon(1e-12));
    CHECK(s.entropy == doctest::Approx(before.entropy).epsilon(1e-12));
    CHECK(s.loss == doctest::Approx(before.total).epsilon(1e-12));
    // Samples 0 to 3 have |ρ − 1| > ε.
    CHECK(s.clip_fraction == doctest::Approx(4.0 / 6.0));
    CHECK(s.grad_norm == doctest::Approx(std::sqrt(g_actor.squaredNorm() + g_critic.squaredNorm() + g_log_std.squaredNorm())).epsilon(1e-7));

    const double eps = p.config.adam_eps;
    check_step("actor", agent.actor().parameters() - actor_theta, first_adam_step(g_actor, p.config.actor_lr, eps), 1e-7);
    check_step("critic", agent.critic().parameters() - critic_theta, first_adam_step(g_critic, p.config.critic_lr, eps), 1e-7);
    if constexpr (!std::is_integral_v<Action>) {
        check_step("log_std", agent.log_std() - log_std, first_adam_step(g_log_std, p.config.actor_lr, eps), 1e-7);
    }
}

// ---------------------------------------------------------------------------
// Small helpers for the rest.

template <typename T, typename Action>
rollout_buffer<T, Action> given_rollout(std::size_t n, std::size_t actor_in, std::size_t critic_in, std::size_t width, std::uint64_t seed,
                                        std::int32_t actions = 2) {
    rollout_buffer<T, Action> r(n, actor_in, critic_in, width);
    rng gen(seed);
    std::vector<T> ao(actor_in);
    std::vector<T> co(critic_in);
    std::vector<Action> a(width);
    for (std::size_t j = 0; j < n; ++j) {
        for (auto& x : ao) x = static_cast<T>(uniform(gen, -1, 1));
        for (auto& x : co) x = static_cast<T>(uniform(gen, -1, 1));
        for (auto& x : a) {
            if constexpr (std::is_integral_v<Action>) {
                x = static_cast<Action>(uniform_index(gen, static_cast<std::uint64_t>(actions)));
            } else {
                x = static_cast<Action>(uniform(gen, -1, 1));
            }
        }
        r.push(ao, co, a, uniform(gen, -2, -0.5), uniform(gen, -1, 1), uniform(gen, -1, 1), j % 4 == 3, false);
    }
    r.compute_advantages(0.5, 0.9, 0.95);
    return r;
}

ppo_config small_config() {
    ppo_config c;
    c.actor_hidden = {8};
    c.critic_hidden = {8};
    c.rollout_steps = 16;
    c.minibatch_size = 4;
    c.epochs = 2;
    c.actor_lr = 1e-2;
    c.critic_lr = 1e-2;
    c.entropy_coef = 0.01;
    return c;
}

/// A toy environment for driving learners: observations from its own
/// generator, a reward that depends on the action.
template <typename Learner>
void drive(Learner& agent, int steps, std::uint64_t env_seed) {
    using A = typename Learner::value_type;
    rng env(env_seed);
    std::vector<float> o(agent.actor_observation_size());
    std::vector<float> next(o.size());
    std::vector<A> a(agent.action_width());
    for (auto& x : o) x = static_cast<float>(uniform(env, -1, 1));
    for (int t = 0; t < steps; ++t) {
        agent.explore(o, a);
        for (auto& x : next) x = static_cast<float>(uniform(env, -1, 1));
        double reward = 0;
        for (std::size_t i = 0; i < a.size(); ++i) reward += static_cast<double>(a[i]) * o[i % o.size()];
        agent.observe(o, a, reward, next, t % 7 == 6, t % 11 == 10);
        o = next;
    }
}

}  // namespace

TEST_CASE("ppo<double> discrete update equals the reference loss's finite-difference gradient through Adam's first step, value clipping off and on") {
    for (const bool clip_value : {false, true}) {
        CAPTURE(clip_value);
        problem<std::int32_t> p;
        p.actor = {3, 5, 5, 4};
        p.critic = {4, 5, 5, 1};
        p.heads = 2;
        p.actions_per_head = 2;
        p.config = reference_config(6, clip_value);
        ppo<double, std::int32_t> agent(3, 4, {.heads = 2, .actions_per_head = 2}, p.config, 17);
        REQUIRE(agent.actor().parameter_count() == 3 * 5 + 5 + 5 * 5 + 5 + 5 * 4 + 4);
        REQUIRE(agent.critic().parameter_count() == 4 * 5 + 5 + 5 * 5 + 5 + 5 * 1 + 1);
        check_reference_update(p, agent, 23);
    }
}

TEST_CASE("ppo<double> continuous update (mean and log-std) equals the reference loss's finite-difference gradient through Adam's first step") {
    for (const bool clip_value : {false, true}) {
        CAPTURE(clip_value);
        problem<double> p;
        p.actor = {3, 5, 5, 2};
        p.critic = {4, 5, 5, 1};
        p.config = reference_config(6, clip_value);
        ppo<double, double> agent(3, 4, 2, p.config, 19);
        agent.log_std() << -0.3, 0.2;
        check_reference_update(p, agent, 29);
    }
}

TEST_CASE("ppo sample, greedy, log_prob and value agree with the networks and refuse spans of other sizes") {
    ppo<double, std::int32_t> d(3, 3, {.heads = 2, .actions_per_head = 3}, small_config(), 3);
    const std::array<double, 3> o{0.2, -0.4, 0.9};
    std::array<std::int32_t, 2> a{};
    const double lp = d.sample(o, a);
    CHECK(lp == doctest::Approx(d.log_prob(o, a)).epsilon(1e-12));
    const Eigen::VectorXd logits = d.actor().predict(Eigen::Vector3d(o[0], o[1], o[2]));
    d.greedy(o, a);
    CHECK(a[0] == nn::categorical::mode(logits.segment(0, 3)));
    CHECK(a[1] == nn::categorical::mode(logits.segment(3, 3)));
    CHECK(d.value(o) == doctest::Approx(d.critic().predict(Eigen::Vector3d(o[0], o[1], o[2]))(0)).epsilon(1e-12));
    const std::array<double, 2> short_o{0, 0};
    std::array<std::int32_t, 3> wide_a{};
    CHECK_THROWS_WITH_AS((void)d.sample(short_o, a), doctest::Contains("actor observation has 2 values, expected 3"), error);
    CHECK_THROWS_WITH_AS((void)d.sample(o, wide_a), doctest::Contains("sample: action has 3 values, expected 2"), error);
    CHECK_THROWS_WITH_AS(d.greedy(o, wide_a), doctest::Contains("greedy: action has 3 values, expected 2"), error);
    CHECK_THROWS_WITH_AS((void)d.value(short_o), doctest::Contains("value: critic_observation has 2 values, expected 3"), error);
    const std::array<std::int32_t, 2> bad{0, 3};
    CHECK_THROWS_WITH_AS((void)d.log_prob(o, bad), doctest::Contains("action[1] is 3, the head has 3 actions"), error);

    ppo<double, double> c(3, 3, 2, small_config(), 3);
    std::array<double, 2> x{};
    c.greedy(o, x);
    const Eigen::VectorXd mean = c.actor().predict(Eigen::Vector3d(o[0], o[1], o[2]));
    CHECK(x[0] == mean(0));
    CHECK(x[1] == mean(1));
    const double sampled_lp = c.sample(o, x);
    CHECK(sampled_lp == doctest::Approx(c.log_prob(o, x)).epsilon(1e-12));
    CHECK(c.log_std().size() == 2);
    CHECK(d.log_std().size() == 0);
}

TEST_CASE("ppo update: a minibatch whose gradient is not finite is skipped and left out of the update's figures") {
    // One return of 1e30 among 16: the critic's gradient on its minibatch
    // is finite value by value, but its squared norm overflows a float.
    ppo_config c = small_config();
    c.epochs = 2;
    ppo<float, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    ppo<float, std::int32_t>::rollout r(16, 2, 2, 1);
    std::vector<float> adv(16);
    std::vector<float> ret(16);
    rng gen(3);
    for (std::size_t j = 0; j < 16; ++j) {
        const std::array<float, 2> o{static_cast<float>(uniform(gen, -1, 1)), static_cast<float>(uniform(gen, -1, 1))};
        const std::array<std::int32_t, 1> a{static_cast<std::int32_t>(j % 3)};
        r.push(o, o, a, agent.log_prob(o, a), agent.value(o), 0, false, false);
        adv[j] = static_cast<float>(uniform(gen, -1, 1));
        ret[j] = j == 7 ? 1e30F : 0.5F;
    }
    r.set_advantages(adv, ret);
    const ppo_update_stats s = agent.update(r);
    CHECK(s.skipped == 2);  // the minibatch holding it, once per epoch
    CHECK(s.steps == 6);
    CHECK(std::isfinite(s.grad_norm));
    CHECK(std::isfinite(s.loss));
    CHECK(s.value_loss < 1);  // the skipped minibatch's 1e60 is not in the mean
    CHECK(agent.critic().parameters().allFinite());
}

TEST_CASE("ppo update: a clipped sample whose ratio overflows contributes nothing instead of a NaN") {
    // One stored log π_old of -1000 (an action another controller chose):
    // ρ = exp(log π + 1000) = ∞. With a positive advantage the clipped
    // constant wins, so the sample's gradient is 0, not 0·∞.
    ppo_config c = small_config();
    c.epochs = 1;
    c.minibatch_size = 16;
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    ppo<double, std::int32_t>::rollout r(16, 2, 2, 1);
    std::vector<double> adv(16);
    std::vector<double> ret(16, 0.5);
    rng gen(3);
    for (std::size_t j = 0; j < 16; ++j) {
        const std::array<double, 2> o{uniform(gen, -1, 1), uniform(gen, -1, 1)};
        const std::array<std::int32_t, 1> a{static_cast<std::int32_t>(j % 3)};
        r.push(o, o, a, j == 4 ? -1000.0 : agent.log_prob(o, a), agent.value(o), 0, false, false);
        adv[j] = j == 4 ? 5.0 : uniform(gen, -1, 1);  // far above the rest after normalising
    }
    r.set_advantages(adv, ret);
    const Eigen::VectorXd before = agent.actor().parameters();
    const ppo_update_stats s = agent.update(r);
    CHECK(s.skipped == 0);
    CHECK(s.steps == 1);
    CHECK(std::isfinite(s.pg_loss));
    CHECK(agent.actor().parameters().allFinite());
    CHECK(agent.actor().parameters() != before);
}

TEST_CASE("ppo update: a taken step's sample whose ratio overflows is left out of approx_kl, not made its infinite mean") {
    // One stored log π_old of -800 (an action another controller chose):
    // ρ = exp(log π + 800) = ∞ and (ρ − 1) − log ρ = ∞. The clipped constant
    // wins (positive advantage), so the step is taken; approx_kl is the
    // mean of the other 15 samples' terms.
    ppo_config c = small_config();
    c.epochs = 1;
    c.minibatch_size = 16;
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    ppo<double, std::int32_t>::rollout r(16, 2, 2, 1);
    std::vector<double> adv(16);
    std::vector<double> ret(16, 0.5);
    rng gen(3);
    double kl = 0;
    for (std::size_t j = 0; j < 16; ++j) {
        const std::array<double, 2> o{uniform(gen, -1, 1), uniform(gen, -1, 1)};
        const std::array<std::int32_t, 1> a{static_cast<std::int32_t>(j % 3)};
        const double lp = agent.log_prob(o, a);
        const double shift = 0.05 * static_cast<double>(j % 5);  // log ρ of the other samples
        r.push(o, o, a, j == 4 ? -800.0 : lp - shift, agent.value(o), 0, false, false);
        if (j != 4) kl += std::expm1(shift) - shift;
        adv[j] = j == 4 ? 5.0 : uniform(gen, -1, 1);
    }
    r.set_advantages(adv, ret);
    const ppo_update_stats s = agent.update(r);
    CHECK(s.skipped == 0);
    CHECK(s.steps == 1);
    CHECK(std::isfinite(s.approx_kl));
    CHECK(s.approx_kl == doctest::Approx(kl / 15).epsilon(1e-9));
    CHECK(s.kl_excluded == 1);
    CHECK(std::isfinite(s.pg_loss));
    CHECK(std::isfinite(s.loss));

    // A one-sample minibatch holding only such a sample: a step taken with
    // no finite term, so the update has no KL figure (0), not ∞.
    ppo_config one = c;
    one.minibatch_size = 1;
    one.rollout_steps = 1;
    ppo<double, std::int32_t> single(2, 2, {.heads = 1, .actions_per_head = 3}, one, 5);
    ppo<double, std::int32_t>::rollout r1(1, 2, 2, 1);
    const std::array<double, 2> o{0.3, -0.4};
    const std::array<std::int32_t, 1> a{1};
    r1.push(o, o, a, -800.0, single.value(o), 0, false, false);
    r1.set_advantages(std::vector<double>{5.0}, std::vector<double>{0.5});
    const Eigen::VectorXd before = single.actor().parameters();
    const ppo_update_stats s1 = single.update(r1);
    CHECK(s1.skipped == 0);
    CHECK(s1.steps == 1);
    CHECK(s1.approx_kl == 0);
    CHECK(s1.kl_excluded == 1);  // 0 here means no figure, not an unchanged policy
    CHECK(single.last_update().approx_kl == 0);
    CHECK(single.actor().parameters().allFinite());
}

TEST_CASE("ppo_config refuses log_std_min below -20, naming it and the value, and at -20 a float learner's log-probabilities stay finite") {
    // σ = exp(-750) rounds to 0 and 1/σ to ∞: without the floor every
    // sampled log π is NaN and observe refuses each step, naming no field.
    ppo_config c = small_config();
    c.log_std_min = -800;
    c.initial_log_std = -750;
    const char* message = "ppo_config.log_std_min: must be finite and >= -20, got -800";
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains(message), config_error);
    CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)), doctest::Contains(message), config_error);
    CHECK_THROWS_WITH_AS((ppo<double, double>(2, 2, 1, c, 1)), doctest::Contains(message), config_error);
    c.log_std_min = -20.5;
    c.initial_log_std = -20;
    CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("ppo_config.log_std_min: must be finite and >= -20, got -20.5"), config_error);

    // At the floor, float: σ and 1/σ finite, every step stored, updates taken.
    c.log_std_min = -20;
    c.initial_log_std = -20;
    c.rollout_steps = 8;
    c.minibatch_size = 4;
    ppo<float, float> agent(2, 2, 2, c, 3);
    const std::array<float, 2> s{0.1F, 0.2F};
    std::array<float, 2> a{};
    for (int step = 0; step < 16; ++step) {
        agent.explore(s, a);
        REQUIRE(std::isfinite(agent.log_prob(s, a)));
        REQUIRE(std::isfinite(a[0]));
        REQUIRE(std::isfinite(a[1]));
        REQUIRE_NOTHROW((void)agent.observe(s, a, 0.0F, s, false));
    }
    CHECK(agent.rollouts() == 2);
    CHECK(agent.last_update().skipped == 0);
    CHECK(std::isfinite(agent.last_update().approx_kl));
    CHECK(agent.log_std().allFinite());
}

TEST_CASE("ppo update: an optimiser resized through its accessor is refused before any step") {
    ppo_config c = small_config();
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    ppo<double, std::int32_t>::rollout r(8, 2, 2, 1);
    for (std::size_t j = 0; j < 8; ++j) {
        const std::array<double, 2> o{0.1 * static_cast<double>(j), -0.2};
        const std::array<std::int32_t, 1> a{static_cast<std::int32_t>(j % 3)};
        r.push(o, o, a, agent.log_prob(o, a), agent.value(o), 1.0, false, false);
    }
    std::vector<double> adv(8, 0.5);
    adv[0] = -1;
    r.set_advantages(adv, std::vector<double>(8, 1.0));
    const Eigen::VectorXd actor = agent.actor().parameters();
    const Eigen::VectorXd critic = agent.critic().parameters();
    agent.critic_optimizer() = nn::adam<double>(7, {});
    CHECK_THROWS_WITH_AS((void)agent.update(r), doctest::Contains("ppo::update: the critic optimiser is for 7 parameters"), error);
    CHECK(agent.actor().parameters() == actor);  // the actor was not stepped either
    CHECK(agent.critic().parameters() == critic);
}

TEST_CASE("ppo observe cuts the last step when the next transition does not begin where it ended") {
    ppo_config c = small_config();
    c.rollout_steps = 8;
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    const std::array<double, 2> s0{0.1, 0.2};
    const std::array<double, 2> s1{-0.3, 0.7};
    const std::array<double, 2> s2{0.9, -0.4};
    const std::array<std::int32_t, 1> a{1};
    CHECK_FALSE(agent.observe(s0, a, 1.0, s1, false, false));
    CHECK_FALSE(agent.observe(s2, a, 1.0, s0, false, false));  // not s1: a step was skipped, or another environment's
    CHECK_FALSE(agent.observe(s0, a, 1.0, s2, false, false));  // follows on from s0
    const auto& r = agent.own_rollout();
    REQUIRE(r.size() == 3);
    CHECK(r.truncated()(0) == 1.0);  // cut where it ended, bootstrapping from V(s1)
    CHECK(r.truncation_values()(0) == doctest::Approx(agent.value(s1)).epsilon(1e-12));
    CHECK(r.truncated()(1) == 0.0);  // joined to the step that follows it
    CHECK(r.last_open());

    // A refused transition that would have cut it (it begins elsewhere, with
    // a NaN reward or a reward beyond what the rollout stores) changes
    // nothing: the step stays open, and the same call with a good reward cuts it.
    ppo<float, std::int32_t> f(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    const std::array<float, 2> f0{0.1F, 0.2F};
    const std::array<float, 2> f1{-0.3F, 0.7F};
    const std::array<float, 2> f2{0.9F, -0.4F};
    CHECK_FALSE(f.observe(f0, a, 1.0, f1, false, false));
    CHECK_THROWS_WITH_AS(f.observe(f2, a, std::numeric_limits<double>::quiet_NaN(), f0, false, false), doctest::Contains("reward"),
                         rlscale::error);
    CHECK_THROWS_WITH_AS(f.observe(f2, a, 1e39, f0, false, false), doctest::Contains("reward"), rlscale::error);
    REQUIRE(f.own_rollout().size() == 1);
    CHECK(f.own_rollout().last_open());
    CHECK_FALSE(f.observe(f2, a, 1.0, f0, false, false));
    CHECK(f.own_rollout().truncated()(0) == 1.0F);
}

TEST_CASE("ppo observe stores log pi and V of the observation and bootstraps a truncation from V of the next one") {
    ppo_config c = small_config();
    c.rollout_steps = 8;
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    const std::array<double, 2> s0{0.1, 0.2};
    const std::array<double, 2> s1{-0.3, 0.7};
    const std::array<std::int32_t, 1> a{2};
    CHECK_FALSE(agent.observe(s0, a, 1.5, s1, false, true));   // truncated: V(s1) kept
    CHECK_FALSE(agent.observe(s1, a, -0.5, s0, true, false));  // terminated: nothing kept
    CHECK_FALSE(agent.observe(s0, a, 0.25, s1, false, false));
    const auto& r = agent.own_rollout();
    REQUIRE(r.size() == 3);
    CHECK(r.log_probs()(0) == doctest::Approx(agent.log_prob(s0, a)).epsilon(1e-12));
    CHECK(r.values()(0) == doctest::Approx(agent.value(s0)).epsilon(1e-12));
    CHECK(r.values()(1) == doctest::Approx(agent.value(s1)).epsilon(1e-12));
    CHECK(r.rewards()(1) == -0.5);
    CHECK(r.truncated()(0) == 1.0);
    CHECK(r.truncation_values()(0) == doctest::Approx(agent.value(s1)).epsilon(1e-12));
    CHECK(r.terminated()(1) == 1.0);
    CHECK(r.truncation_values()(1) == 0.0);
    CHECK(r.truncated()(2) == 0.0);
    CHECK(agent.steps() == 3);
    CHECK(agent.rollouts() == 0);
}

TEST_CASE("ppo observe names a non-finite continuous action, not the log-probability taken of it") {
    ppo_config c = small_config();
    c.rollout_steps = 3;
    ppo<double, double> agent(2, 2, 1, c, 5);
    const std::array<double, 2> s0{0.1, 0.2};
    const std::array<double, 2> s1{-0.3, 0.7};
    const std::array<double, 1> nan_action{std::numeric_limits<double>::quiet_NaN()};
    CHECK_THROWS_WITH_AS(agent.observe(s0, nan_action, 1.0, s1, false), doctest::Contains("action[0] is nan"), error);
    CHECK(agent.own_rollout().size() == 0);
}

TEST_CASE("ppo keeps a continuous policy's log-std within its bounds however far the entropy bonus pushes it, and refuses a saved one outside them") {
    // Actions that do not affect the reward, and a large entropy bonus: the
    // only gradient on log σ pushes it up, step after step.
    ppo_config c = small_config();
    c.rollout_steps = 8;
    c.minibatch_size = 4;
    c.epochs = 4;
    c.entropy_coef = 10;
    c.actor_lr = 0.5;
    c.max_grad_norm = 0;
    c.log_std_max = 1.5;
    ppo<double, double> agent(2, 2, 2, c, 3);
    const std::array<double, 2> s{0.1, 0.2};
    std::array<double, 2> a{};
    double highest = -1e9;
    for (int step = 0; step < 8 * 40; ++step) {
        agent.explore(s, a);
        REQUIRE(std::isfinite(a[0]));
        REQUIRE(std::isfinite(a[1]));
        (void)agent.observe(s, a, 0.0, s, false);
        highest = std::max(highest, agent.log_std().maxCoeff());
        REQUIRE(agent.log_std().maxCoeff() <= 1.5);
    }
    CHECK(highest == 1.5);  // it reached the bound (and without it would have gone on)
    CHECK(agent.rollouts() >= 40);
    // A saved state whose log-std lies outside the learner's bounds is refused, naming it.
    std::stringstream saved;
    agent.save_training_state(saved);
    ppo_config lower = c;
    lower.log_std_max = 1.0;
    ppo<double, double> other(2, 2, 2, lower, 3);
    const Eigen::VectorXd before = other.log_std();
    CHECK_THROWS_WITH_AS(other.load_training_state(saved), doctest::Contains("training_state.log_std[0]: is 1.5, outside the learner's [log_std_min, log_std_max] = [-20, 1]"),
                         checkpoint_error);
    CHECK(other.log_std() == before);
}

TEST_CASE("ppo observe refuses a non-finite observation or next_observation, or a next_observation of another size (terminated too), by name, storing nothing, and keeps learning") {
    ppo_config c = small_config();
    c.rollout_steps = 3;
    ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::array<double, 2> s0{0.1, 0.2};
    const std::array<double, 2> s1{-0.3, 0.7};
    const std::array<double, 2> bad{0.5, nan};
    const std::array<std::int32_t, 1> a{1};
    CHECK_THROWS_WITH_AS(agent.observe(s0, a, 1.0, bad, false, false), doctest::Contains("next_observation[1] is nan"), error);
    CHECK_THROWS_WITH_AS(agent.observe(s0, a, 1.0, bad, false, true), doctest::Contains("next_observation[1] is nan"), error);
    CHECK_THROWS_WITH_AS(agent.observe(bad, a, 1.0, s1, false, false), doctest::Contains("observation[1] is nan"), error);
    CHECK(agent.own_rollout().size() == 0);
    CHECK(agent.steps() == 0);
    // A terminated step's next observation is never evaluated, but it must
    // have the observation's size (it is kept: a larger one was copied past
    // the end of the learner's storage).
    const std::vector<double> wide(64, 0.0);
    CHECK_THROWS_WITH_AS(agent.observe(s0, a, 1.0, wide, true, false),
                         doctest::Contains("next_observation has 64 values, expected 2"), error);
    CHECK_THROWS_WITH_AS(agent.observe(s0, a, 1.0, std::span<const double>(), true, false),
                         doctest::Contains("next_observation has 0 values, expected 2"), error);
    CHECK(agent.own_rollout().size() == 0);
    CHECK(agent.steps() == 0);
    CHECK_FALSE(agent.observe(s0, a, 1.0, bad, true, false));
    // Later steps are stored and the rollout fills and updates as usual.
    CHECK_FALSE(agent.observe(s0, a, 1.0, s1, false, false));
    CHECK(agent.observe(s1, a, 0.5, s0, false, false));
    CHECK(agent.rollouts() == 1);
}

TEST_CASE("ppo observe: a rollout whose returns overflow is refused and dropped, and later steps are stored") {
    ppo_config c = small_config();
    c.rollout_steps = 3;
    c.gamma = 1;
    c.gae_lambda = 1;
    ppo<float, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, c, 5);
    const std::array<float, 2> s0{0.1F, 0.2F};
    const std::array<std::int32_t, 1> a{1};
    CHECK_FALSE(agent.observe(s0, a, 3e38, s0, false, false));
    CHECK_FALSE(agent.observe(s0, a, 3e38, s0, false, false));
    CHECK_THROWS_WITH_AS(agent.observe(s0, a, 3e38, s0, false, false), doctest::Contains("not finite as a float"), error);
    CHECK(agent.own_rollout().size() == 0);
    CHECK_FALSE(agent.observe(s0, a, 1.0, s0, false, false));
    CHECK(agent.own_rollout().size() == 1);
}

TEST_CASE("ppo with replacement: a minibatch whose draws are all one sample is not normalised to zero") {
    // A one-step rollout: every draw is step 0. Normalised, its advantage
    // would be exactly 0 and the actor would not move; left as is, the
    // update equals the same rollout without replacement (one sample).
    const auto r = given_rollout<double, std::int32_t>(1, 2, 2, 1, 6);
    std::array<ppo_update_stats, 2> stats{};
    std::array<Eigen::VectorXd, 2> actor{};
    for (const bool with_replacement : {false, true}) {
        ppo_config c = small_config();
        c.rollout_steps = 1;
        c.minibatch_size = 4;
        c.epochs = 1;
        c.minibatch_with_replacement = with_replacement;
        ppo<double, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 2}, c, 3);
        const Eigen::VectorXd before = agent.actor().parameters();
        stats[with_replacement] = agent.update(r);
        actor[with_replacement] = agent.actor().parameters() - before;
    }
    CHECK(stats[1].pg_loss != 0);
    CHECK(stats[1].pg_loss == doctest::Approx(stats[0].pg_loss).epsilon(1e-12));
    CHECK(actor[1].norm() > 0);
    CHECK((actor[1] - actor[0]).norm() <= 1e-12 * actor[0].norm());
}

TEST_CASE("ppo is deterministic for a seed: the same data gives bit-identical parameters, another seed others") {
    SUBCASE("discrete, two heads") {
        const auto run = [](std::uint64_t seed) {
            ppo<float, std::int32_t> agent(3, 3, {.heads = 2, .actions_per_head = 3}, small_config(), seed);
            drive(agent, 5 * 16, 77);
            REQUIRE(agent.rollouts() == 5);
            Eigen::VectorXf all(agent.actor().parameter_count() + agent.critic().parameter_count());
            all << agent.actor().parameters(), agent.critic().parameters();
            return all;
        };
        const Eigen::VectorXf a = run(1);
        CHECK(a == run(1));
        CHECK(a != run(2));
    }
    SUBCASE("continuous, two dimensions, minibatches drawn with replacement") {
        const auto run = [](std::uint64_t seed) {
            ppo_config c = small_config();
            c.minibatch_with_replacement = true;
            ppo<float, float> agent(3, 3, 2, c, seed);
            drive(agent, 5 * 16, 78);
            REQUIRE(agent.rollouts() == 5);
            Eigen::VectorXf all(agent.actor().parameter_count() + agent.critic().parameter_count() + 2);
            all << agent.actor().parameters(), agent.critic().parameters(), agent.log_std();
            return all;
        };
        const Eigen::VectorXf a = run(1);
        CHECK(a == run(1));
        CHECK(a != run(2));
    }
    SUBCASE("one initialisation, two sampling streams: the seed reaches sampling and minibatch order too") {
        // Two learners of seed 1, one with its generator advanced by one extra sample.
        ppo<float, std::int32_t> a(3, 3, {.heads = 1, .actions_per_head = 3}, small_config(), 1);
        ppo<float, std::int32_t> b(3, 3, {.heads = 1, .actions_per_head = 3}, small_config(), 1);
        REQUIRE(a.actor().parameters() == b.actor().parameters());
        const std::array<float, 3> o{0.5F, 0.5F, 0.5F};
        std::array<std::int32_t, 1> x{};
        (void)b.sample(o, x);
        const auto r = given_rollout<float, std::int32_t>(16, 3, 3, 1, 4, 3);
        (void)a.update(r);
        (void)b.update(r);
        CHECK(a.actor().parameters() != b.actor().parameters());
    }
}

TEST_CASE("ppo updates in a supplied workspace exactly as in its own, one workspace serving several learners in turn") {
    const auto all = [](const auto& agent) {
        Eigen::VectorXf v(agent.actor().parameter_count() + agent.critic().parameter_count() + agent.log_std().size());
        v << agent.actor().parameters(), agent.critic().parameters(), agent.log_std();
        return v;
    };
    SUBCASE("discrete, two heads; a critic reading more than the actor") {
        using learner = ppo<float, std::int32_t>;
        const q_layout layout{.heads = 2, .actions_per_head = 3};
        learner own_a(3, 5, layout, small_config(), 1);
        learner own_b(3, 5, layout, small_config(), 2);
        learner shared_a(3, 5, layout, small_config(), 1, update_storage::supplied);
        learner shared_b(3, 5, layout, small_config(), 2, update_storage::supplied);
        CHECK(own_a.owns_workspace());
        CHECK_FALSE(shared_a.owns_workspace());
        learner::workspace w(shared_a);
        CHECK(w.fits(shared_b));
        CHECK(w.bytes() == own_a.own_workspace().bytes());
        CHECK(w.bytes() > static_cast<std::size_t>(own_a.actor().parameter_count() + own_a.critic().parameter_count()) * sizeof(float));
        for (std::uint64_t k = 0; k < 3; ++k) {
            // 14 and 11 steps in minibatches of 4: each learner's last
            // minibatch uses fewer columns than the other's left written.
            const auto ra = given_rollout<float, std::int32_t>(14, 3, 5, 2, 10 + k, 3);
            const auto rb = given_rollout<float, std::int32_t>(11, 3, 5, 2, 20 + k, 3);
            (void)own_a.update(ra);
            (void)own_b.update(rb);
            (void)shared_a.update(ra, w);
            (void)shared_b.update(rb, w);
        }
        CHECK(all(own_a) == all(shared_a));
        CHECK(all(own_b) == all(shared_b));
        CHECK(all(own_a) != all(own_b));
    }
    SUBCASE("continuous, two dimensions, minibatches drawn with replacement, two learners in turn") {
        using learner = ppo<float, float>;
        ppo_config c = small_config();
        c.minibatch_with_replacement = true;
        learner own_a(3, 3, 2, c, 4);
        learner own_b(3, 3, 2, c, 5);
        learner shared_a(3, 3, 2, c, 4, update_storage::supplied);
        learner shared_b(3, 3, 2, c, 5, update_storage::supplied);
        learner::workspace w(shared_a);
        for (std::uint64_t k = 0; k < 3; ++k) {
            const auto ra = given_rollout<float, float>(13, 3, 3, 2, 30 + k);
            const auto rb = given_rollout<float, float>(9, 3, 3, 2, 40 + k);
            (void)own_a.update(ra);
            (void)own_b.update(rb);
            (void)shared_b.update(rb, w);
            (void)shared_a.update(ra, w);
        }
        CHECK(all(own_a) == all(shared_a));
        CHECK(all(own_b) == all(shared_b));
    }
}

TEST_CASE("ppo without its own workspace refuses update(rollout) and observe, and a workspace of other shapes, changing nothing") {
    using learner = ppo<float, std::int32_t>;
    learner agent(3, 3, {.heads = 1, .actions_per_head = 3}, small_config(), 1, update_storage::supplied);
    const Eigen::VectorXf before = agent.actor().parameters();
    const auto r = given_rollout<float, std::int32_t>(16, 3, 3, 1, 4, 3);
    CHECK_THROWS_WITH_AS((void)agent.update(r), "ppo::update: the learner was built with update_storage::supplied; pass a workspace",
                         rlscale::error);
    CHECK_THROWS_AS((void)agent.own_workspace(), rlscale::error);
    const std::array<float, 3> o{0.1F, 0.2F, 0.3F};
    const std::array<std::int32_t, 1> act{1};
    CHECK_THROWS_WITH_AS((void)agent.observe(o, act, 1.0, o, false),
                         "ppo::observe: the learner was built with update_storage::supplied; drive it with update(rollout, workspace)",
                         rlscale::error);
    CHECK(agent.own_rollout().empty());
    CHECK(agent.steps() == 0);
    ppo_config wider = small_config();
    wider.actor_hidden = {9};
    const learner other(3, 3, {.heads = 1, .actions_per_head = 3}, wider, 1, update_storage::supplied);
    learner::workspace w(other);
    CHECK_FALSE(w.fits(agent));
    CHECK_THROWS_WITH_AS((void)agent.update(r, w), "ppo::update: the workspace was built for other shapes than this learner's",
                         rlscale::error);
    ppo_config larger_minibatch = small_config();
    larger_minibatch.minibatch_size *= 2;
    CHECK_FALSE(learner::workspace(learner(3, 3, {.heads = 1, .actions_per_head = 3}, larger_minibatch, 1)).fits(agent));
    CHECK(agent.actor().parameters() == before);
    learner::workspace right(agent);
    (void)agent.update(r, right);
    CHECK(agent.actor().parameters() != before);
}

TEST_CASE("ppo takes ceil(n/minibatch) gradient steps per epoch, with and without replacement") {
    for (const bool with_replacement : {false, true}) {
        for (const std::size_t mb : {std::size_t{3}, std::size_t{5}, std::size_t{10}, std::size_t{16}}) {
            CAPTURE(with_replacement);
            CAPTURE(mb);
            ppo_config c = small_config();
            c.rollout_steps = 10;
            c.minibatch_size = mb;
            c.epochs = 3;
            c.minibatch_with_replacement = with_replacement;
            ppo<float, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 2}, c, 3);
            const auto r = given_rollout<float, std::int32_t>(10, 2, 2, 1, 6);
            const std::size_t per_epoch = (10 + mb - 1) / mb;
            const ppo_update_stats s = agent.update(r);
            CHECK(s.steps == 3 * per_epoch);
            CHECK(s.skipped == 0);
            CHECK(agent.last_update().steps == 3 * per_epoch);
            CHECK(agent.stats().updates == 3 * per_epoch);
            (void)agent.update(r);
            CHECK(agent.stats().updates == 6 * per_epoch);
            CHECK(agent.rollouts() == 2);
        }
    }
    // observe() updates once per full rollout, and counts its steps.
    ppo_config c = small_config();
    c.rollout_steps = 10;
    c.minibatch_size = 4;
    c.epochs = 2;
    ppo<float, std::int32_t> agent(3, 3, {.heads = 1, .actions_per_head = 2}, c, 3);
    drive(agent, 25, 5);
    CHECK(agent.stats().steps == 25);
    CHECK(agent.rollouts() == 2);
    CHECK(agent.stats().updates == 2 * 2 * 3);
    CHECK(agent.own_rollout().size() == 5);
    CHECK(agent.stats().last_loss == agent.last_update().loss);
    CHECK(agent.stats().exploration == agent.last_update().entropy);
}

TEST_CASE("ppo learns a three-context bandit: the greedy action is right in every context after 1000 steps, for 3 of 3 seeds") {
    // Observation: one-hot of the context (drawn by the environment); the
    // rewarded action is (context + 1) mod 3, worth 1, the others 0; every
    // step ends its episode.
    // With Adam's moments in float and in bfloat16.
    for (const auto moments : {rlscale::nn::moment_storage::parameter_type, rlscale::nn::moment_storage::bfloat16})
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        CAPTURE(seed);
        CAPTURE(to_string(moments));
        ppo_config c;
        c.actor_hidden = {16};
        c.critic_hidden = {16};
        c.rollout_steps = 64;
        c.minibatch_size = 16;
        c.epochs = 4;
        c.actor_lr = 3e-3;
        c.critic_lr = 3e-3;
        c.adam_moments = moments;
        ppo<float, std::int32_t> agent(3, 3, {.heads = 1, .actions_per_head = 3}, c, seed);
        rng env(seed + 100);
        std::array<std::int32_t, 1> a{};
        for (int t = 0; t < 1000; ++t) {
            const auto ctx = static_cast<std::size_t>(uniform_index(env, 3));
            std::array<float, 3> o{};
            o[ctx] = 1;
            agent.explore(o, a);
            const double reward = static_cast<std::size_t>(a[0]) == (ctx + 1) % 3 ? 1.0 : 0.0;
            agent.observe(o, a, reward, o, true);
        }
        for (std::size_t ctx = 0; ctx < 3; ++ctx) {
            CAPTURE(ctx);
            std::array<float, 3> o{};
            o[ctx] = 1;
            agent.greedy(o, a);
            CHECK(static_cast<std::size_t>(a[0]) == (ctx + 1) % 3);
        }
    }
}

TEST_CASE("ppo learns a continuous target per context: the mean lands within 0.1 of it and the spread shrinks within 3000 steps, for 3 of 3 seeds") {
    // Two contexts (one-hot), targets 0.6 and −0.4; reward −(a − target)²;
    // every step ends its episode.
    constexpr std::array<double, 2> targets{0.6, -0.4};
    // With Adam's moments in float and in bfloat16.
    for (const auto moments : {rlscale::nn::moment_storage::parameter_type, rlscale::nn::moment_storage::bfloat16})
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        CAPTURE(seed);
        CAPTURE(to_string(moments));
        ppo_config c;
        c.adam_moments = moments;
        c.actor_hidden = {16};
        c.critic_hidden = {16};
        c.rollout_steps = 64;
        c.minibatch_size = 16;
        c.epochs = 4;
        c.actor_lr = 3e-3;
        c.critic_lr = 3e-3;
        ppo<float, float> agent(2, 2, 1, c, seed);
        rng env(seed + 200);
        std::array<float, 1> a{};
        for (int t = 0; t < 3000; ++t) {
            const auto ctx = static_cast<std::size_t>(uniform_index(env, 2));
            std::array<float, 2> o{};
            o[ctx] = 1;
            agent.explore(o, a);
            agent.observe(o, a, -(a[0] - targets[ctx]) * (a[0] - targets[ctx]), o, true);
        }
        for (std::size_t ctx = 0; ctx < 2; ++ctx) {
            CAPTURE(ctx);
            std::array<float, 2> o{};
            o[ctx] = 1;
            agent.greedy(o, a);
            CHECK(std::abs(a[0] - targets[ctx]) < 0.1);
        }
        CHECK(agent.log_std()(0) < -1.0);  // σ from 1 to below 0.37
    }
}

TEST_CASE("ppo with bfloat16 Adam moments: half the optimiser bytes for float, refused for double naming the field") {
    ppo_config c;
    c.actor_hidden = {8};
    c.critic_hidden = {8};
    c.rollout_steps = 16;
    const ppo<float, std::int32_t> full(3, 3, {.heads = 1, .actions_per_head = 3}, c, 1);
    c.adam_moments = rlscale::nn::moment_storage::bfloat16;
    const ppo<float, std::int32_t> half(3, 3, {.heads = 1, .actions_per_head = 3}, c, 1);
    const auto params = static_cast<std::size_t>(full.actor().parameter_count() + full.critic().parameter_count());
    CHECK(full.parameter_bytes() - half.parameter_bytes() == params * sizeof(float));
    CHECK(full.heap_bytes() - half.heap_bytes() == params * sizeof(float));
    CHECK_THROWS_WITH_AS((ppo<double, std::int32_t>(3, 3, {.heads = 1, .actions_per_head = 3}, c, 1)),
                         doctest::Contains("ppo_config.adam_moments"), config_error);
}

TEST_CASE("ppo_config validation names the field and the value") {
    const auto refused = [](auto change, const std::string& message) {
        ppo_config c;
        change(c);
        CAPTURE(message);
        CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains(message.c_str()), config_error);
        CHECK_THROWS_WITH_AS((ppo<float, std::int32_t>(2, 2, {}, c, 1)), doctest::Contains(message.c_str()), config_error);
        CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)), doctest::Contains(message.c_str()), config_error);
    };
    refused([](ppo_config& c) { c.clip = 0; }, "ppo_config.clip: must be in (0, 1], got 0");
    refused([](ppo_config& c) { c.minibatch_size = 0; }, "ppo_config.minibatch_size: must be in [1, 1000000], got 0");
    refused([](ppo_config& c) { c.gae_lambda = 1.5; }, "ppo_config.gae_lambda: must be in [0, 1], got 1.5");
    refused([](ppo_config& c) { c.gamma = -0.1; }, "ppo_config.gamma: must be in [0, 1], got -0.1");
    refused([](ppo_config& c) { c.actor_hidden = {}; }, "ppo_config.actor_hidden: must hold 1 to 64 values, got 0");
    refused([](ppo_config& c) { c.critic_hidden = {64, 0}; }, "ppo_config.critic_hidden[1]: must be >= 1, got 0");
    refused([](ppo_config& c) { c.actor_lr = 0; }, "ppo_config.actor_lr: must be finite and > 0, got 0");
    refused([](ppo_config& c) { c.adam_eps = std::numeric_limits<double>::quiet_NaN(); }, "ppo_config.adam_eps: must be finite and > 0, got nan");
    refused([](ppo_config& c) { c.epochs = 0; }, "ppo_config.epochs: must be in [1, 1000], got 0");
    refused([](ppo_config& c) { c.rollout_steps = 0; }, "ppo_config.rollout_steps: must be in [1, 10000000], got 0");
    refused([](ppo_config& c) { c.value_clip = 0; }, "ppo_config.value_clip: must be finite and > 0, got 0");
    refused([](ppo_config& c) { c.entropy_coef = -0.01; }, "ppo_config.entropy_coef: must be finite and >= 0, got -0.01");
    refused([](ppo_config& c) { c.max_grad_norm = -1; }, "ppo_config.max_grad_norm: must be finite and >= 0, got -1");
    refused([](ppo_config& c) { c.initial_log_std = std::numeric_limits<double>::infinity(); }, "ppo_config.initial_log_std: must be finite, got inf");
    refused([](ppo_config& c) { c.initial_log_std = 100; }, "ppo_config.initial_log_std: must be in [-20, 2], got 100");
    refused([](ppo_config& c) { c.log_std_min = -std::numeric_limits<double>::infinity(); }, "ppo_config.log_std_min: must be finite, got -inf");
    refused([](ppo_config& c) { c.log_std_max = -30; }, "ppo_config.log_std_max: must be finite and > log_std_min (-20), got -30");
    refused([](ppo_config& c) { c.log_std_max = 90; }, "ppo_config.log_std_max: must be finite and <= 20, got 90");
    // The learner's own arguments.
    CHECK_THROWS_WITH_AS((ppo<float, std::int32_t>(0, 2, {}, {}, 1)), doctest::Contains("ppo.actor_observation_size: must be in [1, 1048576], got 0"),
                         config_error);
    CHECK_THROWS_WITH_AS((ppo<float, std::int32_t>(2, 0, {}, {}, 1)), doctest::Contains("ppo.critic_observation_size"), config_error);
    CHECK_THROWS_WITH_AS((ppo<float, std::int32_t>(2, 2, {.heads = 0, .actions_per_head = 3}, {}, 1)), doctest::Contains("q_layout.heads"),
                         config_error);
    CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 0, {}, 1)), doctest::Contains("ppo.action_dims: must be in [1, 1024], got 0"), config_error);
}

TEST_CASE("ppo presets: CleanRL's defaults and SIMPPO's Table 2, single- and multi-agent") {
    const ppo_config d = ppo_config::cleanrl();
    CHECK(d.rollout_steps == 2048);
    CHECK(d.epochs == 10);
    CHECK(d.minibatch_size == 64);
    CHECK(d.gamma == 0.99);
    CHECK(d.gae_lambda == 0.95);
    CHECK(d.clip == 0.2);
    CHECK(d.clip_value);
    CHECK(d.entropy_coef == 0.0);
    CHECK(d.value_coef == 0.5);
    CHECK(d.max_grad_norm == 0.5);
    CHECK(d.adam_eps == 1e-5);
    CHECK(d.actor_lr == 3e-4);
    CHECK_FALSE(d.minibatch_with_replacement);

    const ppo_config s = ppo_config::simppo();
    CHECK(s.actor_hidden == std::vector<Eigen::Index>{64, 64});
    CHECK(s.critic_hidden == std::vector<Eigen::Index>{64, 64});
    CHECK(s.actor_lr == 3e-4);
    CHECK(s.critic_lr == 3e-4);
    CHECK(s.gamma == 0.99);
    CHECK(s.epochs == 5);
    CHECK(s.clip == 0.2);
    CHECK(s.entropy_coef == 0.01);
    CHECK(s.value_coef == 0.05);
    CHECK(s.minibatch_size == 10);
    CHECK(s.rollout_steps == 50);
    CHECK(s.minibatch_with_replacement);
    CHECK_FALSE(s.clip_value);

    const ppo_config m = ppo_config::simppo_multi_agent();
    CHECK(m.minibatch_size == 5);
    CHECK(m.rollout_steps == 50);
    CHECK(m.epochs == 5);
    CHECK(m.entropy_coef == 0.01);
    CHECK(m.value_coef == 0.05);
    CHECK(m.actor_lr == 3e-4);
    CHECK(m.minibatch_with_replacement);
    CHECK_NOTHROW(d.validate());
    CHECK_NOTHROW(s.validate());
    CHECK_NOTHROW(m.validate());
}

TEST_CASE("ppo::update refuses an empty rollout, one without advantages, one of other shapes or too long, and changes nothing") {
    ppo_config c = small_config();
    c.rollout_steps = 8;
    ppo<float, std::int32_t> agent(3, 4, {.heads = 2, .actions_per_head = 2}, c, 1);
    const Eigen::VectorXf actor_before = agent.actor().parameters();
    const Eigen::VectorXf critic_before = agent.critic().parameters();

    rollout_buffer<float, std::int32_t> empty(8, 3, 4, 2);
    CHECK_THROWS_WITH_AS((void)agent.update(empty), doctest::Contains("ppo::update: the rollout is empty"), error);
    empty.compute_advantages(0, 0.9, 0.9);
    CHECK_THROWS_WITH_AS((void)agent.update(empty), doctest::Contains("empty"), error);

    auto stale = given_rollout<float, std::int32_t>(8, 3, 4, 2, 1);
    const std::array<float, 3> ao{};
    const std::array<float, 4> co{};
    const std::array<std::int32_t, 2> a{};
    stale.clear();
    stale.push(ao, co, a, -1, 0, 0, false, false);
    CHECK_THROWS_WITH_AS((void)agent.update(stale), doctest::Contains("advantages are not computed"), error);

    const auto other_actor = given_rollout<float, std::int32_t>(8, 4, 4, 2, 1);
    const auto other_critic = given_rollout<float, std::int32_t>(8, 3, 3, 2, 1);
    const auto other_width = given_rollout<float, std::int32_t>(8, 3, 4, 1, 1);
    for (const auto* r : {&other_actor, &other_critic, &other_width}) {
        CHECK_THROWS_WITH_AS((void)agent.update(*r), doctest::Contains("the learner 3, 4 and 2"), error);
    }
    const auto too_long = given_rollout<float, std::int32_t>(9, 3, 4, 2, 1);
    CHECK_THROWS_WITH_AS((void)agent.update(too_long), doctest::Contains("holds 9 steps, more than rollout_steps (8)"), error);

    CHECK(agent.actor().parameters() == actor_before);
    CHECK(agent.critic().parameters() == critic_before);
    CHECK(agent.rollouts() == 0);
    CHECK(agent.stats().updates == 0);
    // The same learner takes a good rollout.
    CHECK(agent.update(given_rollout<float, std::int32_t>(8, 3, 4, 2, 1)).steps == 2 * 2);
}

TEST_CASE("ppo::update refuses a rollout holding an action outside its head, naming it, and changes nothing") {
    ppo<float, std::int32_t> agent(2, 2, {.heads = 2, .actions_per_head = 3}, small_config(), 1);
    const Eigen::VectorXf before = agent.actor().parameters();
    for (const auto& refused : {std::pair<std::array<std::int32_t, 2>, std::string>{{3, 0}, "action[0] is 3, the head has 3 actions"},
                                std::pair<std::array<std::int32_t, 2>, std::string>{{0, -1}, "action[1] is -1, the head has 3 actions"}}) {
        const std::array<std::int32_t, 2> bad = refused.first;
        const std::string message = refused.second;
        CAPTURE(message);
        auto r = given_rollout<float, std::int32_t>(6, 2, 2, 2, 1, 3);
        r.clear();
        const std::array<float, 2> o{0.5F, 0.5F};
        const std::array<std::int32_t, 2> good{1, 2};
        for (int j = 0; j < 5; ++j) r.push(o, o, j == 3 ? bad : good, -1, 0, 1, false, false);
        r.compute_advantages(0, 0.9, 0.9);
        CHECK_THROWS_WITH_AS((void)agent.update(r), doctest::Contains(message.c_str()), error);
        // observe() refuses it before storing it.
        CHECK_THROWS_WITH_AS(agent.observe(o, bad, 1, o, false), doctest::Contains(message.c_str()), error);
    }
    CHECK(agent.actor().parameters() == before);
    CHECK(agent.own_rollout().empty());
    CHECK(agent.stats().steps == 0);
}

TEST_CASE("ppo explore and observe on a learner whose critic reads more than the actor throw, saying how to drive it") {
    ppo<float, std::int32_t> agent(3, 5, {.heads = 1, .actions_per_head = 2}, small_config(), 1);
    const std::array<float, 3> o{};
    std::array<std::int32_t, 1> a{};
    CHECK_THROWS_WITH_AS(agent.explore(o, a), doctest::Contains("ppo::explore: the critic reads 5 inputs and the actor 3"), error);
    CHECK_THROWS_WITH_AS(agent.observe(o, a, 0, o, false), doctest::Contains("ppo::observe: the critic reads 5 inputs and the actor 3"), error);
    CHECK_THROWS_WITH_AS(agent.observe(o, a, 0, o, false), doctest::Contains("sample(), value(), a rollout_buffer and update()"), error);
    CHECK(agent.own_rollout().empty());
    // Driven as the message says, it learns.
    const std::array<float, 5> co{};
    CHECK(std::isfinite(agent.sample(o, a)));
    CHECK(std::isfinite(agent.value(co)));
    CHECK(agent.update(given_rollout<float, std::int32_t>(16, 3, 5, 1, 2)).steps == 2 * 4);
}

TEST_CASE("ppo anneals the learning rates linearly: update k uses lr*(1 - k/K), held at the last step after K") {
    ppo_config c = small_config();
    c.actor_lr = 1e-3;
    c.critic_lr = 2e-3;
    c.anneal_updates = 4;
    ppo<float, float> agent(2, 2, 1, c, 1);
    const auto r = given_rollout<float, float>(16, 2, 2, 1, 3);
    CHECK(agent.actor_optimizer().config().lr == doctest::Approx(1e-3));
    // After update u (1-based) the last rate set is that of update k = u − 1.
    const std::array<double, 6> fractions{1.0, 0.75, 0.5, 0.25, 0.25, 0.25};
    for (std::size_t u = 0; u < fractions.size(); ++u) {
        CAPTURE(u);
        (void)agent.update(r);
        CHECK(agent.actor_optimizer().config().lr == doctest::Approx(1e-3 * fractions[u]).epsilon(1e-12));
        CHECK(agent.critic_optimizer().config().lr == doctest::Approx(2e-3 * fractions[u]).epsilon(1e-12));
    }
    // Without annealing the rates stay.
    c.anneal_updates = 0;
    ppo<float, float> plain(2, 2, 1, c, 1);
    for (int u = 0; u < 3; ++u) (void)plain.update(r);
    CHECK(plain.actor_optimizer().config().lr == 1e-3);
    CHECK(plain.critic_optimizer().config().lr == 2e-3);
}

TEST_CASE("ppo refuses an annealing whose last learning rate is 0 in the agent's type, naming anneal_updates") {
    ppo_config c = small_config();
    c.actor_lr = 1e-30;
    c.critic_lr = 1e-3;
    c.anneal_updates = std::uint64_t{1} << 60;  // the last actor rate, 8.7e-49, is a float 0
    CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)),
                         doctest::Contains("ppo_config.anneal_updates: must leave the last learning rate, min(actor_lr, critic_lr) / "
                                           "anneal_updates, above 0 in the agent's float, got 1152921504606846976"),
                         config_error);
    CHECK_NOTHROW((ppo<double, double>(2, 2, 1, c, 1)));  // 8.7e-49 is a double
    c.anneal_updates = 1'000'000;  // 1e-36: a float
    CHECK_NOTHROW((ppo<float, float>(2, 2, 1, c, 1)));
}

TEST_CASE("ppo refuses an entropy or value coefficient that is infinite in the agent's type, naming it and the value") {
    // 1e39 is a finite double and an infinite float: every minibatch's
    // gradient would be non-finite and skipped, so the agent never learned.
    for (const bool entropy : {true, false}) {
        CAPTURE(entropy);
        ppo_config c = small_config();
        (entropy ? c.entropy_coef : c.value_coef) = 1e39;
        const std::string field = entropy ? "ppo_config.entropy_coef" : "ppo_config.value_coef";
        CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)),
                             doctest::Contains((field + ": must be finite in the agent's float (at most 3.4028234663852886e+38), got 1e+39").c_str()),
                             config_error);
        CHECK_THROWS_WITH_AS((ppo<float>(2, 2, q_layout{.heads = 1, .actions_per_head = 3}, c, 1)), doctest::Contains(field.c_str()),
                             config_error);
        CHECK_NOTHROW((ppo<double, double>(2, 2, 1, c, 1)));  // a double holds it
        (entropy ? c.entropy_coef : c.value_coef) = 1e30;
        CHECK_NOTHROW((ppo<float, float>(2, 2, 1, c, 1)));
    }
}

TEST_CASE("ppo observe on a rollout filled through own_rollout() and not learned from refuses, changing nothing") {
    ppo<float, std::int32_t> agent(2, 2, {.heads = 1, .actions_per_head = 3}, small_config(), 1);
    const std::array<float, 2> o{0.5F, -0.5F};
    const std::array<std::int32_t, 1> a{1};
    auto& r = agent.own_rollout();
    while (!r.full()) r.push(o, o, a, -1.0, 0.0, 0.0, false, false);
    const std::array<float, 2> elsewhere{0.25F, 0.25F};  // not where the last step ended: observe would cut it
    CHECK_THROWS_WITH_AS(agent.observe(elsewhere, a, 1.0, o, false), doctest::Contains("the rollout is full (16 steps)"), rlscale::error);
    CHECK(r.size() == 16);
    CHECK(r.last_open());
    CHECK(agent.steps() == 0);
}

TEST_CASE("ppo sample, greedy and explore refuse an observation with a value that is not finite, naming it, before drawing anything") {
    // A NaN observation gave NaN logits, sampled as every head's last index
    // (and a NaN log pi), or NaN continuous actions; dqn refuses it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const std::array<float, 3> first_nan{nan, 0.2F, 0.3F};
    const std::array<float, 3> last_inf{0.1F, 0.2F, -inf};
    const std::array<float, 3> fine{0.1F, 0.2F, 0.3F};
    SUBCASE("discrete") {
        ppo<float, std::int32_t> agent(3, 3, {.heads = 2, .actions_per_head = 3}, small_config(), 11);
        ppo<float, std::int32_t> twin(3, 3, {.heads = 2, .actions_per_head = 3}, small_config(), 11);
        std::array<std::int32_t, 2> a{-1, -1};
        CHECK_THROWS_WITH_AS((void)agent.sample(first_nan, a), "ppo: observation[0] is nan, must be finite", error);
        CHECK_THROWS_WITH_AS((void)agent.sample(last_inf, a), "ppo: observation[2] is -inf, must be finite", error);
        CHECK_THROWS_WITH_AS(agent.greedy(first_nan, a), "ppo: observation[0] is nan, must be finite", error);
        CHECK_THROWS_WITH_AS(agent.explore(first_nan, a), "ppo: observation[0] is nan, must be finite", error);
        CHECK_THROWS_WITH_AS(agent.explore(last_inf, a), "ppo: observation[2] is -inf, must be finite", error);
        CHECK(a == std::array<std::int32_t, 2>{-1, -1});
        CHECK(agent.own_rollout().size() == 0);
        CHECK(agent.steps() == 0);
        // Nothing was drawn: the learner samples as its twin that was never refused.
        std::array<std::int32_t, 2> b{};
        for (int k = 0; k < 20; ++k) {
            CAPTURE(k);
            const double lp = agent.sample(fine, a);
            CHECK(lp == twin.sample(fine, b));
            CHECK(a == b);
        }
    }
    SUBCASE("continuous") {
        ppo<float, float> agent(3, 3, 2, small_config(), 11);
        ppo<float, float> twin(3, 3, 2, small_config(), 11);
        std::array<float, 2> x{7.0F, 7.0F};
        CHECK_THROWS_WITH_AS((void)agent.sample(first_nan, x), "ppo: observation[0] is nan, must be finite", error);
        CHECK_THROWS_WITH_AS(agent.greedy(last_inf, x), "ppo: observation[2] is -inf, must be finite", error);
        CHECK_THROWS_WITH_AS(agent.explore(first_nan, x), "ppo: observation[0] is nan, must be finite", error);
        CHECK(x == std::array<float, 2>{7.0F, 7.0F});
        std::array<float, 2> y{};
        for (int k = 0; k < 20; ++k) {
            CAPTURE(k);
            const double lp = agent.sample(fine, x);
            CHECK(lp == twin.sample(fine, y));
            CHECK(x == y);
        }
    }
    SUBCASE("a size is still named first") {
        ppo<float, std::int32_t> agent(3, 3, {.heads = 2, .actions_per_head = 3}, small_config(), 11);
        const std::array<float, 2> short_nan{nan, nan};
        std::array<std::int32_t, 2> a{};
        CHECK_THROWS_WITH_AS((void)agent.sample(short_nan, a), "ppo::actor observation has 2 values, expected 3", error);
        CHECK_THROWS_WITH_AS(agent.greedy(short_nan, a), "ppo::actor observation has 2 values, expected 3", error);
    }
}

TEST_CASE("ppo refuses a max_grad_norm that is 0 or infinite in the agent's type, naming it and the value, and keeps 0 for off") {
    // 1e-50 is a positive double and a float 0: every gradient step was
    // taken (and counted) scaled by 0, so no weight changed.
    ppo_config c = small_config();
    c.max_grad_norm = 1e-50;
    const char* message = "ppo_config.max_grad_norm: must be finite and > 0 as the agent's float (or 0 for off), got 1e-50";
    CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)), message, config_error);
    CHECK_THROWS_WITH_AS((ppo<float>(2, 2, q_layout{.heads = 1, .actions_per_head = 3}, c, 1)), message, config_error);
    CHECK_NOTHROW((ppo<double, double>(2, 2, 1, c, 1)));  // a double holds it
    c.max_grad_norm = 1e39;                               // an infinite float
    CHECK_THROWS_WITH_AS((ppo<float, float>(2, 2, 1, c, 1)), doctest::Contains("ppo_config.max_grad_norm: must be finite and > 0"),
                         config_error);
    CHECK_NOTHROW((ppo<double, double>(2, 2, 1, c, 1)));
    for (const double ok : {0.0, 1e-30, 0.5}) {
        CAPTURE(ok);
        c.max_grad_norm = ok;
        CHECK_NOTHROW((ppo<float, float>(2, 2, 1, c, 1)));
    }
}

}  // namespace test_rl_ppo
