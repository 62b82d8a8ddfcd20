#!/usr/bin/env bash
# Sim-to-sim transfer: the SCARLET demo's DQN trained on the request-level
# and on the tick-level model (same seeds), each evaluated on the
# request-level model against the same loads. Prints one table row per seed
# and model: SLO violations and replica-seconds on the training scenario and
# on the unseen Azure functions, and the training's wall-clock time.
#
#   scripts/sim_to_sim.sh [DEMO_BINARY] [SEEDS...]     (default: build/examples/rlscale_scarlet_demo 1 2 3)
set -euo pipefail
demo=${1:-build/examples/rlscale_scarlet_demo}
shift || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| seed | trained on | scarlet-3fn: violations | replica-seconds | azure-3fn (unseen): violations | replica-seconds | training wall clock |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for seed in "${seeds[@]}"; do
  for model in request tick; do
    log="$out/$model-$seed.log"
    "$demo" --seed "$seed" --model "$model" --out "$out/$model-$seed" > "$log"
    row() { grep -F "| $1 (" "$log" | grep -F "| dqn |" | awk -F'|' '{gsub(/ /,"",$4); gsub(/ /,"",$6); printf "%s | %s", $4, $6}'; }
    train=$(sed -n 's/^trained: .*updates, \(.*\) s wall clock$/\1/p' "$log")
    echo "| $seed | $model | $(row scarlet-3fn) | $(row azure-3fn) | ${train} s |"
  done
done
