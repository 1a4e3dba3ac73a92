#!/usr/bin/env bash
# What each train.recompute setting costs and saves: step time, tokens/s, MFU
# and device memory of the 350M and 2.7B models (configs/gpt2-350m.yaml,
# configs/gpt-2.7b.yaml), no accumulation. A setting that does not fit is
# reported as such. RECOMPUTE_SETTINGS picks settings (default: all four).
#   bench/recompute.sh [BIN_DIR] [OUT_DIR] [MODELS...]   (models: 350m 2.7b)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; OUT="${2:-bench-out}"; shift 2 2>/dev/null || shift $#
if [ $# -gt 0 ]; then MODELS=("$@"); else MODELS=(350m 2.7b); fi
mkdir -p "$OUT"
config_of() { case "$1" in 350m) echo configs/gpt2-350m.yaml ;; *) echo "configs/gpt-$1.yaml" ;; esac; }
for model in "${MODELS[@]}"; do
  for recompute in ${RECOMPUTE_SETTINGS:-none attention mlp block}; do
    rm -f "$OUT/recompute-$model-$recompute.json"
    "$BIN/alibi-bench" train --config "$(config_of "$model")" --steps "${RECOMPUTE_STEPS:-8}" --warmup 2 \
      --set train.grad_accum=1 train.recompute="$recompute" --json "$OUT/recompute-$model-$recompute.json" \
      > "$OUT/recompute-$model-$recompute.log" 2>&1
    tail -1 "$OUT/recompute-$model-$recompute.log"
  done
done
python3 - "$OUT" "${MODELS[@]}" <<'PY'
import json, os, sys
out, models = sys.argv[1], sys.argv[2:]
print(f"{'model':6s} {'recompute':10s} {'ms/step':>9s} {'tok/s':>9s} {'MFU':>6s} {'device GiB':>11s}")
for model in models:
    for r in ["none", "attention", "mlp", "block"]:
        path = os.path.join(out, f"recompute-{model}-{r}.json")
        if not os.path.exists(path):
            print(f"{model:6s} {r:10s} did not run (see recompute-{model}-{r}.log)")
            continue
        o = json.load(open(path))
        print(f"{model:6s} {r:10s} {o['ms_per_step_median']:9.2f} {o['tokens_per_s']:9,.0f} "
              f"{100 * o['mfu']:5.1f}% {o['device_gib']:11.2f}")
PY
