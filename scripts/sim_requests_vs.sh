#!/usr/bin/env bash
# The request-level simulator's throughput at two or more commits, side by
# side in one run: bench/sim_requests_bench.cpp (from the working tree) is
# built against each commit's headers and the builds run in turn, ROUNDS
# times, so that a noisy machine affects them alike.
#
#   scripts/sim_requests_vs.sh [--rounds N] REV [REV...]
#
# REV is a git revision, or `.` for the working tree. Prints, per build and
# round, simulated requests per second (the median of 3 repetitions) at 10
# and 1,000 functions, run one function at a time and interleaved (see
# bench/sim_requests_bench.cpp; before one_function_at_a_time existed both
# are the interleaved loop), then a table of the best round of each and the
# ratios.
# Needs g++ and Google Benchmark (libbenchmark-dev).
set -euo pipefail

rounds=3
if [[ "${1:-}" == "--rounds" ]]; then
    rounds=$2
    shift 2
fi
if [[ $# -lt 1 ]]; then
    sed -n '2,15p' "$0" >&2
    exit 2
fi

# shellcheck source=scripts/bench_builds.sh
source "$(dirname "$0")/bench_builds.sh"
work=$(mktemp -d)
trap 'bench_builds_cleanup "$work"' EXIT
bench_builds "$work" bench/sim_requests_bench.cpp -- "$@"
names=("${bench_names[@]}")

# The median rate (simulated requests per second) of one benchmark in a run's output.
rate() {
    awk -v name="BM_sim_requests/$1/" 'index($1, name) == 1 && /_median/ {
        for (i = 1; i <= NF; ++i) if ($i ~ /^items_per_second=/) { sub(/items_per_second=/, "", $i); sub(/\/s$/, "", $i); print $i } }' <<<"$2"
}

cases=(10fn 1000fn 10fn_interleaved 1000fn_interleaved)
declare -A best
for ((round = 1; round <= rounds; ++round)); do
    for name in "${names[@]}"; do
        out=$("$work/bench-$name" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
        line="round $round $name:"
        for c in "${cases[@]}"; do
            r=$(rate "$c" "$out")
            line+=" $c $r"
            # Google Benchmark prints rates with a k/M/G suffix (a lowercase
            # k, which numfmt refuses: upper-cased, it reads it as SI).
            v=$(numfmt --from=si "${r^^}")
            key="$name/$c"
            if [[ -z "${best[$key]:-}" || $v -gt ${best[$key]} ]]; then best[$key]=$v; fi
        done
        echo "$line req/s"
    done
done

first=${names[0]}
echo
echo "Best round of each, M simulated requests per second; \"cost\" is the cost per request at 1,000 functions over that at 10."
echo
echo "| build | 10 fn | 1,000 fn | cost | 10 fn interleaved | 1,000 fn interleaved | cost interleaved | 10 fn over $first | 1,000 fn over $first |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for name in "${names[@]}"; do
    awk -v n="$name" -v a="${best[$name/10fn]}" -v b="${best[$name/1000fn]}" \
        -v c="${best[$name/10fn_interleaved]}" -v d="${best[$name/1000fn_interleaved]}" \
        -v a0="${best[$first/10fn]}" -v b0="${best[$first/1000fn]}" \
        'BEGIN { printf "| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2fx | %.2fx |\n", n, a / 1e6, b / 1e6, a / b, c / 1e6, d / 1e6, c / d, a / a0, b / b0 }'
done
