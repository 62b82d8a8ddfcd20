#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds, and runs the demo:
# SCARLET's DQN autoscaler trained on the simulator, saved, reloaded and
# evaluated against the HPA, the KPA and a static allocation on its training
# scenario and on Azure trace functions it never saw. Prints the table and
# writes a CSV and SVG plots to ./scarlet-demo/ (options: see
# examples/scarlet_demo.cpp).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rlscale_install_missing
rlscale_configure_and_build --target rlscale_scarlet_demo
echo "== running the demo"
"$RLSCALE_BUILD/examples/rlscale_scarlet_demo" "$@"
