#pragma once

/// The state encoders of the research systems: SCARLET, SIMPPO (local and
/// auxiliary global state), FIRM/AWARE and Polimi.

#include <rlscale/encode/firm_encoder.hpp>
#include <rlscale/encode/polimi_encoder.hpp>
#include <rlscale/encode/relative_scarlet_encoder.hpp>
#include <rlscale/encode/scarlet_encoder.hpp>
#include <rlscale/encode/simppo_encoder.hpp>
#include <rlscale/encode/simppo_global_state.hpp>
