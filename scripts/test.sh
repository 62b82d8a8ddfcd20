#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds, and runs every test.
# The last lines are ctest's summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rlscale_install_missing
rlscale_configure_and_build
echo "== running the test suite"
cd "$RLSCALE_BUILD"
ctest --output-on-failure --parallel "$RLSCALE_JOBS" --timeout 900
