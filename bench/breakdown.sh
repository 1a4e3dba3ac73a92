#!/usr/bin/env bash
# Where the time of one training step goes, by op class: an untraced run of
# `alibi-bench train` for the step time, then every kernel of a few steps
# timed by Nsight Compute (ncu, clocks left alone), grouped by bench/breakdown.py.
#   bench/breakdown.sh BIN_DIR OUT_DIR [CONFIG] [--set overrides...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:?bin dir}"; OUT="${2:?out dir}"; CONFIG="${3:-configs/gpt2-124m.yaml}"
shift 3 2>/dev/null || shift $#
mkdir -p "$OUT"
name="$(basename "$CONFIG" .yaml)"
"$BIN/alibi-bench" train --config "$CONFIG" --steps 10 --warmup 2 --set train.grad_accum=1 "$@" \
  --json "$OUT/breakdown-$name-step.json"
ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ms_per_step_median'])" "$OUT/breakdown-$name-step.json")
steps=2
ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
  --log-file "$OUT/ncu-$name.csv" \
  "$BIN/alibi-bench" train --config "$CONFIG" --steps $steps --warmup 0 --set train.grad_accum=1 "$@" > /dev/null
python3 bench/breakdown.py "$OUT/ncu-$name.csv" $steps "$ms" --json "$OUT/breakdown-$name.json"
