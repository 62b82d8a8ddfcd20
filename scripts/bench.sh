#!/usr/bin/env bash
# Builds and runs the microbenchmarks (docs/benchmarks.md). Extra arguments go
# to Google Benchmark, e.g. --benchmark_filter=forward.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rlscale_install_missing
rlscale_configure_and_build --target rlscale_bench
"$RLSCALE_BUILD/bench/rlscale_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true "$@"
