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
# medians (of 3 repetitions, CPU time), then a table of the best round of
# each benchmark per build and its ratio to the first build.
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
    sed -n '2,14p' "$0" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
[[ ${#sources[@]} -gt 0 ]] || sources=(bench/ppo_bench.cpp)
files=()
for s in "${sources[@]}"; do files+=("$root/$s"); done
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
    main=()
    grep -q "int main" "${files[@]}" || main=(-lbenchmark_main)
    g++ -std=c++20 -O3 -march=native -DNDEBUG -I"$include" -isystem /usr/include/eigen3 "${files[@]}" \
        -o "$work/bench-$name" "${main[@]}" -lbenchmark -pthread
    names+=("$name")
done

declare -A best
declare -a order=()
for ((round = 1; round <= rounds; ++round)); do
    for name in "${names[@]}"; do
        # name,iterations,real_time,cpu_time,time_unit,... for each median, in ns
        while IFS=, read -r bench cpu; do
            echo "round $round $name: $bench $cpu ns"
            key="$name|$bench"
            [[ $round -eq 1 && $name == "${names[0]}" ]] && order+=("$bench")
            if [[ -z "${best[$key]:-}" ]] || awk -v a="$cpu" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
                best[$key]=$cpu
            fi
        done < <("$work/bench-$name" --benchmark_filter="$filter" --benchmark_repetitions=3 \
                     --benchmark_report_aggregates_only=true --benchmark_format=csv 2>/dev/null |
                 awk -F, '$1 ~ /_median"?$/ {
                     n = $1; gsub(/"/, "", n); sub(/_median$/, "", n)
                     t = $4; u = $5; gsub(/"/, "", u)
                     if (u == "us") t *= 1e3; else if (u == "ms") t *= 1e6; else if (u == "s") t *= 1e9
                     printf "%s,%.1f\n", n, t }')
    done
done

first=${names[0]}
echo
echo "Best round of each (median CPU time of 3 repetitions; the lowest of $rounds rounds), and ${first} over it."
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
    line="| \`$bench\` |"
    base=${best[$first|$bench]:-}
    for name in "${names[@]}"; do
        v=${best[$name|$bench]:-}
        line+=" $(awk -v v="$v" 'BEGIN { if (v == "") print "–"; else if (v >= 1e6) printf "%.2f ms", v / 1e6; else if (v >= 1e3) printf "%.1f µs", v / 1e3; else printf "%.0f ns", v }') |"
        [[ $name == "$first" ]] || line+=" $(awk -v a="$base" -v b="$v" 'BEGIN { if (a == "" || b == "") print "–"; else printf "%.2f×", a / b }') |"
    done
    echo "$line"
done
