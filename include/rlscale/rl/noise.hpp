#pragma once

/// Exploration noise for continuous actions (DDPG, TD3): a temporally
/// correlated Ornstein-Uhlenbeck process with a decaying scale ε (as FIRM
/// uses it) and independent Gaussian noise (as CleanRL uses it). Both draw
/// from a generator the caller passes, keep their state in storage sized at
/// construction, and allocate nothing afterwards.

#include <rlscale/core/error.hpp>
#include <rlscale/core/random.hpp>
#include <rlscale/core/validate.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace rlscale::rl {

namespace detail {
/// Per-dimension scales: empty means 1 for every dimension; otherwise one
/// positive, finite value per dimension.
inline std::vector<double> checked_noise_scale(const char* owner, std::size_t dims, std::span<const double> scale) {
    const check_fields check(owner);
    check.in("dims", dims, std::size_t{1}, std::size_t{1} << 20);
    if (scale.empty()) return std::vector<double>(dims, 1.0);
    check.require(scale.size() == dims, "scale", "hold one value per dimension (" + format_number(dims) + ")", scale.size());
    for (std::size_t d = 0; d < dims; ++d) check.greater("scale[" + std::to_string(d) + "]", scale[d], 0.0);
    return {scale.begin(), scale.end()};
}
}  // namespace detail

/// Parameters of the Ornstein-Uhlenbeck process and of its scale ε.
struct ornstein_uhlenbeck_config {
    double theta = 0.15;      ///< mean-reversion rate θ
    double sigma = 0.2;       ///< diffusion σ
    double dt = 0.01;         ///< time step of the discretisation
    double mu = 0;            ///< long-run mean μ (also the state after reset())
    double eps_start = 1;     ///< ε before the first decay()
    double eps_decay = 1e-6;  ///< subtracted from ε by each decay() (FIRM: once per update)
    double eps_end = 0;       ///< floor of ε

    /// FIRM (`ddpg/noise.py`, `ddpg/ddpg.py`): θ 0.15, σ 0.2, dt 0.01, μ 0,
    /// ε from 1 decreasing by 1e-6 per update.
    [[nodiscard]] static ornstein_uhlenbeck_config firm() { return {}; }

    /// Throws config_error naming the first out-of-range field and its value.
    void validate() const {
        check_fields("ornstein_uhlenbeck_config")
            .at_least("theta", theta, 0.0)
            .at_least("sigma", sigma, 0.0)
            .greater("dt", dt, 0.0)
            .require(theta * dt <= 1, "theta", "be at most 1/dt (theta·dt <= 1: a larger step overshoots the mean and, past 2, diverges)",
                     theta)
            .finite("mu", mu)
            .at_least("eps_start", eps_start, 0.0)
            .at_least("eps_decay", eps_decay, 0.0)
            .at_least("eps_end", eps_end, 0.0)
            .at_least_field("eps_start", eps_start, "eps_end", eps_end);
    }
};

/// The Ornstein-Uhlenbeck process of Lillicrap et al. (2016, §7), discretised
/// by Euler-Maruyama per dimension,
///
///     x ← x + θ(μ − x)·dt + σ·√dt·N(0, 1),
///
/// whose stationary law (θ > 0) is N(μ, σ²/(θ(2 − θ·dt))): each step keeps
/// the fraction 1 − θ·dt of the distance to μ and adds variance σ²·dt, so
/// Var = σ²·dt/(1 − (1 − θ·dt)²). It tends to the continuous process's
/// σ²/(2θ) as dt → 0 (FIRM's θ 0.15, dt 0.01: 0.075 % above it); at
/// θ·dt = 1 it is σ²·dt = σ²/θ, twice that (x is then μ + σ·√dt·N(0, 1),
/// afresh at every step). sample()
/// advances x and writes ε·scale_d·x_d; decay() lowers ε by eps_decay down
/// to eps_end.
class ornstein_uhlenbeck_noise {
public:
    /// `scale` (optional): one positive multiplier per dimension, e.g. each
    /// action dimension's (high − low)/2. Throws config_error for a bad
    /// configuration or scale.
    ornstein_uhlenbeck_noise(std::size_t dims, ornstein_uhlenbeck_config config, std::span<const double> scale = {})
        : config_((config.validate(), config)),
          scale_(detail::checked_noise_scale("ornstein_uhlenbeck_noise", dims, scale)),
          x_(dims, config.mu),
          eps_(config.eps_start) {}

    [[nodiscard]] std::size_t dims() const noexcept { return x_.size(); }
    [[nodiscard]] const ornstein_uhlenbeck_config& config() const noexcept { return config_; }
    /// The process's state x (before ε and the scale).
    [[nodiscard]] std::span<const double> state() const noexcept { return x_; }
    /// The current ε.
    [[nodiscard]] double epsilon() const noexcept { return eps_; }

    /// Advances the process one step and writes ε·scale_d·x_d into `out`.
    /// Throws rlscale::error when `out` has another size.
    template <std::floating_point T, std::uniform_random_bit_generator Gen>
    void sample(Gen& gen, std::span<T> out) {
        if (out.size() != x_.size()) {
            throw error("ornstein_uhlenbeck_noise::sample: out has " + std::to_string(out.size()) + " values, expected " +
                        std::to_string(x_.size()));
        }
        const double sqrt_dt = std::sqrt(config_.dt);
        for (std::size_t d = 0; d < x_.size(); ++d) {
            x_[d] += config_.theta * (config_.mu - x_[d]) * config_.dt + config_.sigma * sqrt_dt * standard_normal(gen);
            out[d] = static_cast<T>(eps_ * scale_[d] * x_[d]);
        }
    }

    /// x ← μ (the start of an episode); ε is kept.
    void reset() noexcept { std::fill(x_.begin(), x_.end(), config_.mu); }

    /// Sets x (e.g. restored from a checkpoint). Throws rlscale::error for
    /// another size or a non-finite value.
    void set_state(std::span<const double> x) {
        if (x.size() != x_.size()) {
            throw error("ornstein_uhlenbeck_noise::set_state: " + std::to_string(x.size()) + " values, expected " +
                        std::to_string(x_.size()));
        }
        for (std::size_t d = 0; d < x.size(); ++d) {
            check_fields("ornstein_uhlenbeck_noise").finite("state[" + std::to_string(d) + "]", x[d]);
        }
        std::copy(x.begin(), x.end(), x_.begin());
    }

    /// Exchanges x with `other`, value for value (the first dims() values
    /// of `other`; it must hold that many): for parking this process's
    /// state while another one's runs in its place. No checks, no
    /// allocation.
    void exchange_state(std::span<double> other) noexcept {
        std::swap_ranges(x_.begin(), x_.end(), other.begin());
    }

    /// ε ← max(eps_end, ε − eps_decay).
    void decay() noexcept { eps_ = std::max(config_.eps_end, eps_ - config_.eps_decay); }

    /// Sets ε (e.g. restored from a checkpoint); throws config_error unless finite and ≥ 0.
    void set_epsilon(double eps) {
        check_fields("ornstein_uhlenbeck_noise").at_least("epsilon", eps, 0.0);
        eps_ = eps;
    }

private:
    ornstein_uhlenbeck_config config_;
    std::vector<double> scale_;
    std::vector<double> x_;
    double eps_;
};

/// Parameters of Gaussian exploration noise.
struct gaussian_noise_config {
    double sigma = 0.1;  ///< standard deviation in units of each dimension's scale

    /// CleanRL (`ddpg_continuous_action.py`, `td3_continuous_action.py`):
    /// exploration_noise 0.1 times the action scale.
    [[nodiscard]] static gaussian_noise_config cleanrl() { return {}; }

    void validate() const { check_fields("gaussian_noise_config").at_least("sigma", sigma, 0.0); }
};

/// Independent N(0, (σ·scale_d)²) per dimension and per call.
class gaussian_noise {
public:
    /// `scale` (optional): one positive multiplier per dimension. Throws
    /// config_error for a bad configuration or scale.
    gaussian_noise(std::size_t dims, gaussian_noise_config config, std::span<const double> scale = {})
        : config_((config.validate(), config)), scale_(detail::checked_noise_scale("gaussian_noise", dims, scale)) {}

    [[nodiscard]] std::size_t dims() const noexcept { return scale_.size(); }
    [[nodiscard]] const gaussian_noise_config& config() const noexcept { return config_; }

    /// Writes σ·scale_d·N(0, 1) into `out[d]`. Throws rlscale::error when
    /// `out` has another size.
    template <std::floating_point T, std::uniform_random_bit_generator Gen>
    void sample(Gen& gen, std::span<T> out) const {
        if (out.size() != scale_.size()) {
            throw error("gaussian_noise::sample: out has " + std::to_string(out.size()) + " values, expected " +
                        std::to_string(scale_.size()));
        }
        for (std::size_t d = 0; d < scale_.size(); ++d) out[d] = static_cast<T>(config_.sigma * scale_[d] * standard_normal(gen));
    }

private:
    gaussian_noise_config config_;
    std::vector<double> scale_;
};

}  // namespace rlscale::rl
