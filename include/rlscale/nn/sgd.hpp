#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/nn/detail/step_check.hpp>
#include <rlscale/core/validate.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace rlscale::nn {

/// Plain stochastic gradient descent's hyperparameters.
struct sgd_config {
    double lr = 1e-2;           ///< step size
    double weight_decay = 0.0;  ///< L2 coefficient λ: g += λθ

    void validate() const {
        check_fields("sgd_config").greater("lr", lr, 0);
        check_fields("sgd_config").at_least("weight_decay", weight_decay, 0);
    }
};

/// θ ← θ - lr·(g + λθ). Stateless but for the step count.
template <typename T>
class sgd {
public:
    using scalar = T;
    using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    sgd(Eigen::Index parameter_count, sgd_config config = {})
        : config_((check(config), config)), n_(parameter_count) {}

    void step(Eigen::Ref<vector> params, const Eigen::Ref<const vector>& grad) {
        detail::check_step_sizes("sgd", n_, params.size(), grad.size());
        const T lr = static_cast<T>(config_.lr);
        const T wd = static_cast<T>(config_.weight_decay);
        params -= lr * (grad + wd * params);
        ++t_;
    }

    [[nodiscard]] const sgd_config& config() const noexcept { return config_; }
    [[nodiscard]] std::int64_t step_count() const noexcept { return t_; }

private:
    static void check(const sgd_config& config) {
        config.validate();
        // Valid as doubles, but the step computes in T: a rate that is 0 in T
        // (1e-50 in float) would take no step, one past T's range (1e39)
        // would make every parameter infinite after one step, and so would λ.
        check_fields("sgd_config")
            .require(static_cast<T>(config.lr) > T(0), "lr", "stay above 0 in the parameters' precision", config.lr)
            .require(std::isfinite(static_cast<T>(config.lr)), "lr", "fit the parameters' precision", config.lr)
            .require(config.weight_decay <= static_cast<double>(std::numeric_limits<T>::max()), "weight_decay",
                     "fit the parameters' precision", config.weight_decay)
            // The step shrinks θ by lr·λ·θ: a product past T's range (lr and
            // λ of 1e20 each) would make every parameter infinite.
            .require(config.lr * config.weight_decay <= static_cast<double>(std::numeric_limits<T>::max()), "weight_decay",
                     "keep lr * weight_decay within the parameters' precision", config.weight_decay);
    }

    sgd_config config_;
    Eigen::Index n_;
    std::int64_t t_ = 0;
};

static_assert(optimizer<sgd<float>>);
static_assert(optimizer<sgd<double>>);

}  // namespace rlscale::nn
