#pragma once

/// Learning: replay buffer, exploration schedules and noise, the DQN and
/// DDPG/TD3 updaters, action maps (discrete and multidimensional), weights shared between a trainer and serving threads, and the
/// training loop over a simulated environment.

#include <rlscale/rl/action_space.hpp>
#include <rlscale/rl/actors.hpp>
#include <rlscale/rl/ddpg.hpp>
#include <rlscale/rl/dqn.hpp>
#include <rlscale/rl/exploration.hpp>
#include <rlscale/rl/multidimensional_actions.hpp>
#include <rlscale/rl/noise.hpp>
#include <rlscale/rl/ppo.hpp>
#include <rlscale/rl/q_layout.hpp>
#include <rlscale/rl/replay_buffer.hpp>
#include <rlscale/rl/rollout_buffer.hpp>
#include <rlscale/rl/shared_network.hpp>
#include <rlscale/rl/simppo_actions.hpp>
#include <rlscale/rl/train.hpp>
