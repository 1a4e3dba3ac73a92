#!/usr/bin/env bash
# Where the time of one KV-cache decode step goes: the untraced step time of
# `alibi-bench decode`, then every kernel of a short run timed by Nsight
# Compute (each node of the recorded step, clocks left alone), the last step
# grouped by bench/breakdown.py --decode.
#   bench/decode_breakdown.sh BIN_DIR OUT_DIR [BATCH] [CONTEXT]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:?bin dir}"; OUT="${2:?out dir}"; B="${3:-1}"; L="${4:-1024}"
mkdir -p "$OUT"
args=(decode --config configs/gpt2-124m.yaml --set model.embed_layernorm=true --batch "$B" --context "$L")
"$BIN/alibi-bench" "${args[@]}" --new-tokens 64 --json "$OUT/decode-step-b$B-l$L.json"
ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['ms_per_token'])" "$OUT/decode-step-b$B-l$L.json")
ncu --clock-control none --cache-control none --graph-profiling node --metrics gpu__time_duration.sum --csv \
  --log-file "$OUT/ncu-decode-b$B-l$L.csv" "$BIN/alibi-bench" "${args[@]}" --new-tokens 3 --reps 1 > /dev/null
python3 bench/breakdown.py "$OUT/ncu-decode-b$B-l$L.csv" 1 "$ms" --decode --json "$OUT/breakdown-decode-b$B-l$L.json"
