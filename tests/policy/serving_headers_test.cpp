// Serving never includes a trainer. This file includes every serving header,
// then defines its own types with the names of the trainers' (the DQN
// learner, the replay buffer, the exploration schedules, the training
// loop). Had any serving header pulled a trainer header in, these would be
// redefinitions and this file would not compile: the build fails.
#include <rlscale/core/concepts.hpp>
#include <rlscale/core/control.hpp>
#include <rlscale/core/downscale_stabilizer.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/policy/serving_spec.hpp>
#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/q_layout.hpp>
#include <rlscale/rl/shared_network.hpp>

#include <doctest/doctest.h>

namespace rlscale::rl {
// rl/dqn.hpp
template <typename T>
class dqn {
public:
    static constexpr const char* what = "not the learner";
};
struct dqn_config {};
// rl/replay_buffer.hpp
template <typename T, typename A>
class replay_buffer {};
// rl/exploration.hpp
struct exponential_epsilon {};
// rl/train.hpp
struct train_options {};
}  // namespace rlscale::rl

TEST_CASE("serving headers compile without any trainer header") {
    CHECK(std::string_view(rlscale::rl::dqn<float>::what) == "not the learner");
    static_assert(rlscale::joint_policy<rlscale::any_joint_policy>);
}
