#!/usr/bin/env bash
# The request-level simulator's throughput at two or more commits, side by
# side in one run: bench/sim_requests_bench.cpp (from the working tree) is
# built against each commit's headers and the builds run in turn, ROUNDS
# times, so that a noisy machine affects them alike.
#
#   scripts/sim_requests_vs.sh [--rounds N] REV [REV...]
#
# REV is a git revision, or `.` for the working tree. Prints, per build and
# round, simulated requests per second at 10 and 1,000 functions (the median
# of 3 repetitions), then a table of the best round of each and the ratios.
# Needs g++ and Google Benchmark (libbenchmark-dev).
set -euo pipefail

rounds=3
if [[ "${1:-}" == "--rounds" ]]; then
    rounds=$2
    shift 2
fi
if [[ $# -lt 1 ]]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'for d in "$work"/tree-*; do [[ -d $d ]] && git -C "$root" worktree remove --force "$d" >/dev/null 2>&1; done; rm -rf "$work"' EXIT

names=()
for rev in "$@"; do
    name=${rev//\//_}
    if [[ "$rev" == "." ]]; then
        name=working-tree
        include="$root/include"
    else
        git -C "$root" worktree add --detach "$work/tree-$name" "$rev" >/dev/null 2>&1
        include="$work/tree-$name/include"
    fi
    echo "building $name" >&2
    g++ -std=c++20 -O3 -march=native -DNDEBUG -I"$include" "$root/bench/sim_requests_bench.cpp" \
        -o "$work/bench-$name" -lbenchmark_main -lbenchmark -pthread
    names+=("$name")
done

declare -A best10 best1000
for ((round = 1; round <= rounds; ++round)); do
    for name in "${names[@]}"; do
        out=$("$work/bench-$name" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>/dev/null)
        r10=$(awk '/10fn.*_median/ { for (i = 1; i <= NF; ++i) if ($i ~ /^items_per_second=/) { sub(/items_per_second=/, "", $i); print $i } }' <<<"$out")
        r1000=$(awk '/1000fn.*_median/ { for (i = 1; i <= NF; ++i) if ($i ~ /^items_per_second=/) { sub(/items_per_second=/, "", $i); print $i } }' <<<"$out")
        echo "round $round $name: 10fn $r10 req/s, 1000fn $r1000 req/s"
        # Google Benchmark prints rates with a k/M/G suffix.
        v10=$(numfmt --from=si "${r10%/s}")
        v1000=$(numfmt --from=si "${r1000%/s}")
        [[ -z "${best10[$name]:-}" || $v10 -gt ${best10[$name]} ]] && best10[$name]=$v10
        [[ -z "${best1000[$name]:-}" || $v1000 -gt ${best1000[$name]} ]] && best1000[$name]=$v1000
    done
done

first=${names[0]}
echo
echo "| build | 10fn (M req/s) | 1000fn (M req/s) | cost per request, 1000 fn / 10 fn | 10fn / $first | 1000fn / $first |"
echo "|---|---:|---:|---:|---:|---:|"
for name in "${names[@]}"; do
    awk -v n="$name" -v a="${best10[$name]}" -v b="${best1000[$name]}" -v a0="${best10[$first]}" -v b0="${best1000[$first]}" \
        'BEGIN { printf "| %s | %.2f | %.2f | %.2fx | %.2fx | %.2fx |\n", n, a / 1e6, b / 1e6, a / b, a / a0, b / b0 }'
done
