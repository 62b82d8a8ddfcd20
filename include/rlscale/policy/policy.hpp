#pragma once

/// Policies and their composition: learned policies (rl_policy), the
/// Kubernetes HPA, Knative's KPA, ENSURE
/// and a static count as baselines; `guarded`, `with_fallback` and the
/// type-erased `any_policy` to compose them; joint policies over several
/// functions; the serving spec and the registry that builds any of them by
/// name or from a checkpoint.

#include <rlscale/policy/any_policy.hpp>
#include <rlscale/policy/ensure_policy.hpp>
#include <rlscale/policy/guarded.hpp>
#include <rlscale/policy/hpa_policy.hpp>
#include <rlscale/policy/hpa_vpa_policy.hpp>
#include <rlscale/policy/joint_policy.hpp>
#include <rlscale/policy/kpa_policy.hpp>
#include <rlscale/policy/registry.hpp>
#include <rlscale/policy/rl_policy.hpp>
#include <rlscale/policy/scenario_baselines.hpp>
#include <rlscale/policy/serving_spec.hpp>
#include <rlscale/policy/static_policy.hpp>
#include <rlscale/policy/vpa_policy.hpp>
#include <rlscale/policy/with_fallback.hpp>
