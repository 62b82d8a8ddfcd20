#pragma once

// rlscale::kubernetes: replicas through the scale subresource and container
// resources through strategic-merge patches, against the Kubernetes API;
// leader election over a Lease for a controller run as several replicas.
#include <rlscale/kubernetes/client.hpp>
#include <rlscale/kubernetes/config.hpp>
#include <rlscale/kubernetes/errors.hpp>
#include <rlscale/kubernetes/leader_election.hpp>
#include <rlscale/kubernetes/quantity.hpp>
