#!/usr/bin/env bash
# Our training step and the PyTorch baseline (../shared/bench/train_bench.py)
# on the same GPU in one run, then the comparison table.
#   bench/train.sh [BIN_DIR] [BASELINE_DIR] [OUT_DIR]
# Shapes as in the baseline: GPT-2 124M (12 x 768, 12 heads, L 1024,
# micro-batch 16) and 350M (24 x 1024, 16 heads, micro-batch 8), vocab 50304,
# no accumulation. TRAIN_BUDGET_S bounds the baseline's
# run (its 350M runs are skipped when they would not fit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; BASE="${2:-../shared/bench}"; OUT="${3:-bench-out}"
mkdir -p "$OUT"
for model in 124m 350m; do
  for position in alibi learned; do
    "$BIN/alibi-bench" train --config "configs/gpt2-$model.yaml" --steps 20 --warmup 3 \
      --set train.grad_accum=1 model.position="$position" model.max_position=1024 --json "$OUT/ours-$model-$position.json"
  done
done
BENCH_OUT="$OUT" TRAIN_BUDGET_S="${TRAIN_BUDGET_S:-150}" python3 "$BASE/train_bench.py" > "$OUT/pytorch-train.log" 2>&1 \
  || echo "PyTorch baseline failed: see $OUT/pytorch-train.log"
python3 bench/compare_train.py "$OUT" --record "$OUT/train-bench.json"
