#!/usr/bin/env bash
# Benchmarks at two or more commits, side by side in one run: the given
# bench/ sources (from the working tree) are built against each commit's
# headers, and the builds run in turn, ROUNDS times, so that a noisy
# machine affects them alike.
#
#   scripts/bench_vs.sh [--rounds N] [--filter REGEX] [--source FILE]... REV [REV...]
#
# REV is a git revision, or `.` for the working tree. FILE defaults to
# bench/ppo_bench.cpp (more than one --source builds them into one binary;
# each must compile against every REV's headers). Prints each round's
# medians (of 3 repetitions: CPU time, or wall-clock time for a benchmark
# registered with UseRealTime, its name ending in /real_time or /real_time/threads:N, marked
# "(real)"), then a table of the best round of each benchmark per build and
# its ratio to the first build.
# Needs g++ and Google Benchmark (libbenchmark-dev).
set -euo pipefail

rounds=3
filter=.
sources=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        --source) sources+=("$2"); shift 2 ;;
        *) break ;;
    esac
done
if [[ $# -lt 1 ]]; then
    sed -n '2,16p' "$0" >&2
    exit 2
fi

# shellcheck source=scripts/bench_builds.sh
source "$(dirname "$0")/bench_builds.sh"
[[ ${#sources[@]} -gt 0 ]] || sources=(bench/ppo_bench.cpp)
work=$(mktemp -d)
trap 'bench_builds_cleanup "$work"' EXIT
bench_builds "$work" "${sources[@]}" -- "$@"
names=("${bench_names[@]}")

# bench_vs_medians CSV: "name,ns,kind" for each median of a Google Benchmark
# CSV report (name,iterations,real_time,cpu_time,time_unit,...): kind is
# "real" (the real_time column) for a name ending in /real_time or /real_time/threads:N, else "CPU"
# (the cpu_time column).
bench_vs_medians() {
    awk -F, '$1 ~ /_median"?$/ {
        n = $1; gsub(/"/, "", n); sub(/_median$/, "", n)
        if (n ~ /\/real_time(\/threads:[0-9]+)?$/) { t = $3; kind = "real" } else { t = $4; kind = "CPU" }
        u = $5; gsub(/"/, "", u)
        if (u == "us") t *= 1e3; else if (u == "ms") t *= 1e6; else if (u == "s") t *= 1e9
        printf "%s,%.1f,%s\n", n, t, kind }' "$1"
}

declare -A best
declare -A kinds  # benchmark -> real or CPU: the time its rows show
declare -a order=()
for ((round = 1; round <= rounds; ++round)); do
    for name in "${names[@]}"; do
        # The run goes to a file first, so that a benchmark that fails or
        # crashes stops the script (with its stderr shown) rather than
        # leaving '–' in the table.
        csv="$work/round$round-$name.csv"
        status=0
        "$work/bench-$name" --benchmark_filter="$filter" --benchmark_repetitions=3 \
            --benchmark_report_aggregates_only=true --benchmark_format=csv >"$csv" || status=$?
        if [[ $status -ne 0 ]]; then
            echo "bench_vs: bench-$name failed (exit status $status) in round $round" >&2
            exit 1
        fi
        # name,iterations,real_time,cpu_time,time_unit,... for each median, in
        # ns, with the kind of time taken: a benchmark registered with
        # UseRealTime (its name ends in /real_time) is measured by its wall
        # clock, since its CPU time counts only the calling thread (the work
        # of any other thread it runs on is missing); any other by its CPU time.
        medians=$(bench_vs_medians "$csv")
        if [[ -z $medians ]]; then
            echo "bench_vs: bench-$name reported no medians in round $round (filter '$filter')" >&2
            exit 1
        fi
        while IFS=, read -r bench t kind; do
            echo "round $round $name: $bench $t ns ($kind)"
            key="$name|$bench"
            [[ $round -eq 1 && $name == "${names[0]}" ]] && order+=("$bench")
            kinds[$bench]=$kind
            if [[ -z "${best[$key]:-}" ]] || awk -v a="$t" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
                best[$key]=$t
            fi
        done <<<"$medians"
    done
done

first=${names[0]}
echo
echo "Best round of each (median of 3 repetitions; the lowest of $rounds rounds), and ${first} over it. The time is"
echo "CPU time, or wall-clock time for a benchmark marked (real): one registered with UseRealTime, whose CPU"
echo "time would count only its calling thread."
echo
header="| benchmark |"
rule="|---|"
for name in "${names[@]}"; do
    header+=" $name |"
    rule+="---:|"
    [[ $name == "$first" ]] || { header+=" $first / $name |"; rule+="---:|"; }
done
echo "$header"
echo "$rule"
for bench in "${order[@]}"; do
    line="| \`$bench\` (${kinds[$bench]:-CPU}) |"
    base=${best[$first|$bench]:-}
    for name in "${names[@]}"; do
        v=${best[$name|$bench]:-}
        line+=" $(awk -v v="$v" 'BEGIN { if (v == "") print "–"; else if (v >= 1e6) printf "%.2f ms", v / 1e6; else if (v >= 1e3) printf "%.1f µs", v / 1e3; else printf "%.0f ns", v }') |"
        [[ $name == "$first" ]] || line+=" $(awk -v a="$base" -v b="$v" 'BEGIN { if (a == "" || b == "") print "–"; else printf "%.2f×", a / b }') |"
    done
    echo "$line"
done
