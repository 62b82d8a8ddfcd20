#!/usr/bin/env bash
# The SCARLET demo's training time (its "trained: ... s wall clock" line, 12,000
# steps) for an older demo binary and this one's configurations, run in turn
# so that a noisy machine affects them alike. Prints one table row per round
# and configuration.
#
#   scripts/demo_timing.sh OLD_DEMO [NEW_DEMO] [ROUNDS]
#
# OLD_DEMO is e.g. the demo of an earlier commit built from its own tree
# (git worktree add /tmp/old <commit>, then configure and build its
# rlscale_scarlet_demo target); NEW_DEMO defaults to build/examples/rlscale_scarlet_demo.
set -euo pipefail
old=${1:?usage: scripts/demo_timing.sh OLD_DEMO [NEW_DEMO] [ROUNDS]}
new=${2:-build/examples/rlscale_scarlet_demo}
rounds=${3:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Each configuration: its label, the binary, then its arguments (split on
# spaces; the binary is kept whole, so its path may hold spaces).
configs=("old|$old|"
         "the default (tick-level, 2 shards on 2 threads)|$new|"
         "--model tick --update-threads 1|$new|--model tick --update-threads 1"
         "--model tick --precision bf16|$new|--model tick --precision bf16"
         "--model request --update-threads 1|$new|--model request --update-threads 1"
         "--model request|$new|--model request")
echo "| round | configuration | training wall clock |"
echo "|---:|---|---:|"
for round in $(seq 1 "$rounds"); do
  for config in "${configs[@]}"; do
    label=${config%%|*}
    rest=${config#*|}
    bin=${rest%%|*}
    read -r -a args <<< "${rest#*|}"
    t=$("$bin" "${args[@]}" --hours 0.05 --out "$out/demo" | sed -n 's/^trained: .*updates, \(.*\) s wall clock$/\1/p')
    echo "| $round | $label | $t s |"
  done
done
