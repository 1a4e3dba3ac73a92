#!/usr/bin/env bash
# Our attention kernel and the PyTorch baselines (../shared/bench/attn_bench.py:
# FlexAttention with ALiBi, cuDNN causal without bias, ...) on the same GPU in
# one run, then the comparison table. Ours runs twice: the default (fast)
# backward and the bitwise reproducible one (runtime.deterministic).
#   bench/attention.sh [BIN_DIR] [BASELINE_DIR] [OUT_DIR]
# ATTN_LS (default 1024,4096,16384) and ATTN_CFGS (head_dim:heads, default
# 64:16,128:8) choose the shapes; batch = max(1, 16384 / L), as the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; BASE="${2:-../shared/bench}"; OUT="${3:-bench-out}"
export ATTN_LS="${ATTN_LS:-1024,4096,16384}" ATTN_CFGS="${ATTN_CFGS:-64:16,128:8}"
mkdir -p "$OUT"
for cfg in ${ATTN_CFGS//,/ }; do
  for L in ${ATTN_LS//,/ }; do
    D="${cfg%%:*}"; H="${cfg##*:}"; B=$(( L >= 16384 ? 1 : 16384 / L ))
    "$BIN/alibi-bench" attention --device cuda --head-dim "$D" --heads "$H" --len "$L" --batch "$B" \
      --backward --json "$OUT/ours-attn-D$D-L$L.json"
    "$BIN/alibi-bench" attention --device cuda --head-dim "$D" --heads "$H" --len "$L" --batch "$B" \
      --backward --deterministic --json "$OUT/ours-attn-det-D$D-L$L.json"
  done
done
BENCH_OUT="$OUT" ATTN_BUDGET_S="${ATTN_BUDGET_S:-200}" python3 "$BASE/attn_bench.py" > "$OUT/pytorch-attn.log" 2>&1 \
  || echo "PyTorch baseline failed: see $OUT/pytorch-attn.log"
python3 bench/compare_attention.py "$OUT" --record "$OUT/attention-bench.json"
