#!/usr/bin/env bash
# Sim-to-sim transfer: the SCARLET demo's DQN trained on the request-level
# and on the tick-level model (same seeds), each evaluated on the
# request-level model against the same loads. Prints one table row per seed
# and variant: SLO violations and replica-seconds on the training scenario
# and on the unseen Azure functions, and the training's wall-clock time.
#
#   scripts/sim_to_sim.sh [DEMO_BINARY] [SEEDS...]     (default: build/examples/rlscale_scarlet_demo 1 2 3)
#
# RLSCALE_VARIANTS chooses what is trained, as "label:demo arguments"
# separated by "|"; the default is
#   "request:--model request --update-threads 1|tick:--model tick --update-threads 1"
# (one shard per update each: the demo's default is the tick-level model
# with two)
# e.g. add "|tick-bf16:--model tick --precision bf16" on a CPU with AVX-512
# BF16, or give an older demo binary's variant with no arguments ("old:").
#
# RLSCALE_EVALUATOR=build/apps/rlscale-evaluate evaluates every checkpoint
# with that evaluator instead of the demo's own evaluation (the demo then
# evaluates for 0.01 h only, and its table is ignored). Each checkpoint meets
# the same arrivals as the demo would draw (evaluation seed = seed + 7919, two
# hours), on that evaluator's request-level model. Use it to compare an older
# demo's agents with the current ones on the same loads: an older demo
# evaluates on its own simulator, whose variates may be other draws.
set -euo pipefail
demo=${1:-build/examples/rlscale_scarlet_demo}
shift || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
IFS='|' read -r -a variants <<< "${RLSCALE_VARIANTS:-request:--model request --update-threads 1|tick:--model tick --update-threads 1}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| seed | trained on | scarlet-3fn: violations | replica-seconds | azure-3fn (unseen): violations | replica-seconds | training wall clock |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for seed in "${seeds[@]}"; do
  for variant in "${variants[@]}"; do
    label=${variant%%:*}
    read -r -a args <<< "${variant#*:}"
    log="$out/$label-$seed.log"
    if [ -n "${RLSCALE_EVALUATOR:-}" ]; then
      "$demo" --seed "$seed" "${args[@]}" --hours 0.01 --out "$out/$label-$seed" > "$log"
      for sc in scarlet-3fn azure-3fn; do
        "$RLSCALE_EVALUATOR" --scenario "$sc" --hours 2 --seed $((seed + 7919)) --policy "$out/$label-$seed/scarlet_dqn.json" \
          > "$out/$label-$seed-$sc.log"
      done
      row() { grep -F "| $out/$label-$seed/scarlet_dqn.json |" "$out/$label-$seed-$1.log" | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$5); printf "%s | %s", $3, $5}'; }
    else
      "$demo" --seed "$seed" "${args[@]}" --out "$out/$label-$seed" > "$log"
      row() { grep -F "| $1 (" "$log" | grep -F "| dqn |" | awk -F'|' '{gsub(/ /,"",$4); gsub(/ /,"",$6); printf "%s | %s", $4, $6}'; }
    fi
    train=$(sed -n 's/^trained: .*updates, \(.*\) s wall clock$/\1/p' "$log")
    echo "| $seed | $label | $(row scarlet-3fn) | $(row azure-3fn) | ${train} s |"
  done
done
