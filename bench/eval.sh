#!/usr/bin/env bash
# Forward-only evaluation throughput of the GPT-2 124M ALiBi model, ours and
# PyTorch's (../shared/bench/eval_bench.py, FlexAttention) on the same GPU in
# one run. EVAL_LS (default 16384,65536): lengths; 65,536 tokens per call.
# Ours runs twice: by default (the GPU leaves out the keys that ALiBi provably
# makes negligible: runtime.skip_negligible_keys) and computing every key.
#   bench/eval.sh [BIN_DIR] [BASELINE_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; BASE="${2:-../shared/bench}"; OUT="${3:-bench-out}"
export EVAL_LS="${EVAL_LS:-16384,65536}"
mkdir -p "$OUT"
for L in ${EVAL_LS//,/ }; do
  "$BIN/alibi-bench" eval --config configs/gpt2-124m.yaml --len "$L" --tokens 65536 --json "$OUT/ours-eval-L$L.json"
  "$BIN/alibi-bench" eval --config configs/gpt2-124m.yaml --len "$L" --tokens 65536 \
    --set runtime.skip_negligible_keys=false --json "$OUT/ours-eval-exact-L$L.json"
done
BENCH_OUT="$OUT" python3 "$BASE/eval_bench.py" > "$OUT/pytorch-eval.log" 2>&1 || echo "PyTorch baseline failed"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
theirs = {r["L"]: r for r in json.load(open(os.path.join(out, "eval.json")))["runs"] if "tokens_per_s" in r}
print(f"{'L':>6} | {'ours tok/s':>12} | {'ours, every key':>15} | {'PyTorch Flex tok/s':>18} | ratio | every key")
for L in [int(x) for x in os.environ["EVAL_LS"].split(",")]:
    o = json.load(open(os.path.join(out, f"ours-eval-L{L}.json")))["tokens_per_s"]
    e = json.load(open(os.path.join(out, f"ours-eval-exact-L{L}.json")))["tokens_per_s"]
    t = theirs[L]["tokens_per_s"] if L in theirs else float("nan")
    print(f"{L:6d} | {o:12,.0f} | {e:15,.0f} | {t:18,.0f} | {o / t:.2f}x | {e / t:.2f}x")
PY
