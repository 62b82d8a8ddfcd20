#pragma once

// rlscale::kubernetes: replicas through the scale subresource and container
// resources through strategic-merge patches, against the Kubernetes API.
#include <rlscale/kubernetes/client.hpp>
#include <rlscale/kubernetes/config.hpp>
#include <rlscale/kubernetes/errors.hpp>
#include <rlscale/kubernetes/quantity.hpp>
