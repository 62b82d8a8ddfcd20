#pragma once

/// The rewards of the research systems: SCARLET, SIMPPO (per agent and team
/// average) and FIRM/AWARE.

#include <rlscale/reward/firm_reward.hpp>
#include <rlscale/reward/replica_cost.hpp>
#include <rlscale/reward/scarlet_reward.hpp>
#include <rlscale/reward/simppo_reward.hpp>
#include <rlscale/reward/team_average.hpp>

namespace rlscale {

static_assert(reward<team_average<simppo_reward>>);
static_assert(reward<team_average<firm_reward>>);

}  // namespace rlscale
