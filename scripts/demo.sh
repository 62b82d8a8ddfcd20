#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds, and runs the demo:
# an MLP trained with rlscale's own backward pass and Adam, printing its
# progress, then checkpointed and reloaded.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rlscale_install_missing
rlscale_configure_and_build --target rlscale_train_mlp
echo "== running the demo"
"$RLSCALE_BUILD/examples/rlscale_train_mlp" "$@"
