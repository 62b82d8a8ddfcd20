#!/usr/bin/env bash
# The HPA's cost–violation frontier on the demo's unseen Azure functions
# (azure-3fn, two hours) for the evaluation seeds of the given demo seeds
# (seed + 7919, as scarlet_demo and sim_to_sim.sh evaluate): the HPA at CPU
# targets 40 to 90 % in steps of 5. One row per seed and target; the rows
# let scripts/sim_to_sim_stats.py compare agents at equal cost.
#
#   scripts/hpa_frontier.sh [EVALUATOR] [SEEDS...]   (default: build/apps/rlscale-evaluate 1 2 3)
set -euo pipefail
evaluate=${1:-build/apps/rlscale-evaluate}
shift || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
targets=(40 45 50 55 60 65 70 75 80 85 90)
echo "| seed | HPA CPU target | azure-3fn: violations | replica-seconds |"
echo "|---:|---:|---:|---:|"
for seed in "${seeds[@]}"; do
  args=()
  for t in "${targets[@]}"; do args+=(--policy "hpa-$t"); done
  "$evaluate" --scenario azure-3fn --hours 2 --seed $((seed + 7919)) "${args[@]}" |
    awk -F'|' -v seed="$seed" '$2 ~ /^ hpa-[0-9]+ $/ { t = $2; gsub(/[ hpa-]/, "", t); v = $3; gsub(/ /, "", v); r = $5; gsub(/ /, "", r); printf "| %s | %s | %s | %s |\n", seed, t, v, r }'
done
