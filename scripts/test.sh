#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds, and runs every test.
# The last lines are ctest's summary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --sanitize: the same suite built with Clang's AddressSanitizer and
# UndefinedBehaviorSanitizer (every finding fails its test) at -O1, in
# build-sanitize/, plus a bounded run of every libFuzzer target
# (RLSCALE_FUZZ_SECONDS each, default 60; tests fuzz.<name>.run). Left out:
# the benchmarks (they measure speed), the build checks (header
# self-containment, consumer projects: nothing runs under a sanitizer there)
# and ThreadSanitizer (it cannot be combined with ASan; the normal suite runs
# it). Clang because its sanitizers compile this code about twice as fast as
# GCC's. No debug information by default (a report names the functions but
# not the lines; it builds about 8 % faster): RLSCALE_SANITIZE_FLAGS="-O1 -g1
# -DNDEBUG" adds line numbers. Extra arguments go to ctest, e.g.
# `./scripts/test.sh --sanitize -L fuzz`.
sanitize=0
if [ "${1:-}" = "--sanitize" ]; then
    sanitize=1
    shift
    RLSCALE_PACKAGES+=(clang libclang-rt-14-dev)
fi

rlscale_install_missing
if [ "$sanitize" -eq 1 ]; then
    RLSCALE_BUILD="${RLSCALE_SANITIZE_BUILD:-$RLSCALE_ROOT/build-sanitize}"
    echo "== configuring in $RLSCALE_BUILD (Clang, AddressSanitizer, UndefinedBehaviorSanitizer, fuzzers)"
    cmake -S "$RLSCALE_ROOT" -B "$RLSCALE_BUILD" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${RLSCALE_SANITIZE_FLAGS:--O1 -DNDEBUG}" -DRLSCALE_SANITIZE=address,undefined \
        -DRLSCALE_FUZZ=ON -DRLSCALE_FUZZ_SECONDS="${RLSCALE_FUZZ_SECONDS:-60}" \
        -DRLSCALE_BUILD_BENCHMARKS=OFF -DRLSCALE_BUILD_CHECKS=OFF
    echo "== building with $RLSCALE_JOBS jobs"
    cmake --build "$RLSCALE_BUILD" --parallel "$RLSCALE_JOBS"
    export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
    rlscale_configure_and_build
fi
echo "== running the test suite"
cd "$RLSCALE_BUILD"
ctest --output-on-failure --parallel "$RLSCALE_JOBS" --timeout 1800 "$@"
