#pragma once

// A multidimensional checkpoint for the controller's tests: a DDPG actor
// for the FIRM encoder whose output ignores the state.

#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace rlscale::controller::test {

/// Writes to `path` a DDPG checkpoint for one function `function`: μ =
/// tanh(bias) whatever the state (the FIRM encoder's 9 inputs), absolute
/// actions (replicas 1..20, CPU 0.128..2.048 cores, memory 256..3072 MiB),
/// and a guard that moves replicas by at most +4/-2, CPU by 0.5 cores and
/// memory by 256 MiB a tick from the current values.
inline void write_ddpg_checkpoint(const std::string& path, const std::string& function, std::array<float, 3> bias,
                                  int vertical_min_replicas = guard_config{}.vertical_min_replicas) {
    nn::mlp<float> net(std::vector<nn::layer_spec>{{9, 3, nn::activation::tanh}});
    net.parameters().setZero();
    for (std::size_t i = 0; i < 3; ++i) net.bias(0)[static_cast<Eigen::Index>(i)] = bias[i];
    nlohmann::json j = nn::make_checkpoint(net);
    serving_spec s;
    s.algorithm = "ddpg";
    s.encoder = {{"name", "firm"}};
    s.actions = action_spec(rl::multidimensional_actions(1, {}));
    s.functions = {function};
    s.guard = {.max_step_up = 4, .max_step_down = 2};
    s.guard.max_cpu_step = 0.5;
    s.guard.max_memory_step_mb = 256;
    s.guard.vertical_min_replicas = vertical_min_replicas;
    j["serving"] = s.to_json();
    nn::write_checkpoint_file(path, j);
}

}  // namespace rlscale::controller::test
