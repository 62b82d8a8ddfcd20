#pragma once

/// The neural-network core shared by DQN, PPO and DDPG.

#include <rlscale/nn/activation.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/nn/distributions.hpp>
#include <rlscale/nn/gradient_clip.hpp>
#include <rlscale/nn/init.hpp>
#include <rlscale/nn/layer_spec.hpp>
#include <rlscale/nn/loss.hpp>
#include <rlscale/nn/mlp.hpp>
#include <rlscale/nn/orthogonal_init.hpp>
#include <rlscale/nn/quantized_mlp.hpp>
#include <rlscale/nn/sgd.hpp>
#include <rlscale/nn/target_update.hpp>
