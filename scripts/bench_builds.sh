# shellcheck shell=bash
# Sourced by scripts/bench_vs.sh and scripts/sim_requests_vs.sh: builds
# benchmark sources against the headers of several commits, so that the
# builds can run side by side in one run. Needs git (a clone, not an
# exported tree), g++ and Google Benchmark (libbenchmark-dev).

# bench_builds WORK SOURCE... -- REV...
# Builds the SOURCEs (paths from the repository root, as in the working
# tree) against each REV's headers (`.`: the working tree's) into
# WORK/bench-NAME, NAME being REV with / as _ (`working-tree` for `.`), and
# sets the array bench_names to the NAMEs in order. The commits are checked
# out as worktrees under WORK; bench_builds_cleanup WORK removes them.
bench_builds() {
    local work=$1
    shift
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    local files=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        files+=("$root/$1")
        shift
    done
    shift
    local main=()
    grep -q "int main" "${files[@]}" || main=(-lbenchmark_main)
    bench_names=()
    local rev name include
    for rev in "$@"; do
        name=${rev//\//_}
        if [[ "$rev" == "." ]]; then
            name=working-tree
            include="$root/include"
        else
            if ! git -C "$root" rev-parse --verify --quiet "$rev^{commit}" >/dev/null; then
                echo "bench_builds: '$rev' is not a commit of $root" >&2
                return 1
            fi
            local out
            if ! out=$(git -C "$root" worktree add --detach "$work/tree-$name" "$rev" 2>&1); then
                echo "bench_builds: cannot check out $rev: $out" >&2
                return 1
            fi
            include="$work/tree-$name/include"
        fi
        echo "building $name" >&2
        # examples/ (the working tree's, like the sources) for the helpers
        # some benchmarks share with the examples, e.g. bench/train_bench.cpp's
        # "common/scarlet_dqn.hpp".
        g++ -std=c++20 -O3 -march=native -DNDEBUG -I"$include" -I"$root/examples" -isystem /usr/include/eigen3 "${files[@]}" \
            -o "$work/bench-$name" "${main[@]}" -lbenchmark -pthread
        bench_names+=("$name")
    done
}

# bench_builds_cleanup WORK: removes bench_builds' worktrees and WORK.
bench_builds_cleanup() {
    local root d
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    for d in "$1"/tree-*; do
        [[ -d $d ]] && git -C "$root" worktree remove --force "$d" >/dev/null 2>&1
    done
    rm -rf "$1"
}
