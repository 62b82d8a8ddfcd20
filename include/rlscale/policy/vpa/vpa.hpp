#pragma once

/// The Kubernetes VPA recommender, in namespace rlscale::vpa: histograms
/// (histogram.hpp) and the per-container recommender (recommender.hpp).
/// The policy over it is <rlscale/policy/vpa_policy.hpp>. See docs/vpa.md.

#include <rlscale/policy/vpa/histogram.hpp>
#include <rlscale/policy/vpa/recommender.hpp>
