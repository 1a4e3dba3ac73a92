#!/usr/bin/env bash
# What the data-parallel code path costs at world size 1 (NCCL communicator,
# gradient buckets, the loss all-reduce) against the plain path, on the
# GPT-2 124M shapes: alternating runs of `alibi-bench train` with and without
# --data-parallel, medians of each, and the ratio. The issue's bar: < 2%.
#   bench/data_parallel.sh [BIN_DIR] [OUT_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; OUT="${2:-bench-out}"; ROUNDS="${3:-3}"
mkdir -p "$OUT"
common=(train --config configs/gpt2-124m.yaml --steps 30 --warmup 5 --set train.grad_accum=1)
for round in $(seq 1 "$ROUNDS"); do
  "$BIN/alibi-bench" "${common[@]}" --json "$OUT/dp-plain-$round.json"
  "$BIN/alibi-bench" "${common[@]}" --data-parallel --json "$OUT/dp-nccl-$round.json"
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def ms(kind):
    return [json.load(open(f"{out}/dp-{kind}-{r}.json"))["ms_per_step_median"] for r in range(1, rounds + 1)]
plain, nccl = ms("plain"), ms("nccl")
p, n = statistics.median(plain), statistics.median(nccl)
print(f"plain path      ms/step per round: {' '.join(f'{x:.2f}' for x in plain)}  median {p:.2f}")
print(f"data-parallel   ms/step per round: {' '.join(f'{x:.2f}' for x in nccl)}  median {n:.2f}")
print(f"overhead of the data-parallel path at world size 1: {100 * (n / p - 1):+.2f}% (bar: < 2%)")
PY
