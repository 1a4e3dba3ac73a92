#!/usr/bin/env bash
# Our KV-cache decode (alibi-bench decode) and the PyTorch baselines
# (bench/decode_baseline.py: transformers' BLOOM generate(), and a static-cache
# step under torch.compile) on the same GPU and the same random weights, then
# the comparison table (bench/compare_decode.py).
#   bench/decode.sh [BIN_DIR] [OUT_DIR]
# GPT-2 124M shape with BLOOM's embedding LayerNorm (12 x 768, 12 heads, vocab
# 50304); alibi-bench exports its weights (0.5 GB) to MODEL_DIR (default
# a temporary folder) for the baselines. BASELINE_TIMEOUT_S bounds them. Batch 1 and 32, prompts of 1024 and 16384 tokens, 64 greedy
# tokens timed per configuration. DECODE_ARGS: more `alibi-bench decode`
# options for ours (e.g. --fused-step).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-build}"; OUT="${2:-bench-out}"
mkdir -p "$OUT"
MODEL="${MODEL_DIR:-$(mktemp -d)/model-124m}"
read -r -a extra <<< "${DECODE_ARGS:-}"
"$BIN/alibi-bench" decode --config configs/gpt2-124m.yaml --set model.embed_layernorm=true "${extra[@]}" \
  --batch 1,32 --context 1024,16384 --new-tokens 64 --export "$MODEL" --json "$OUT/ours-decode.json"
timeout "${BASELINE_TIMEOUT_S:-1800}" python3 bench/decode_baseline.py --folder "$MODEL" --batch 1,32 --context 1024,16384 --new-tokens 64 \
  --json "$OUT/pytorch-decode.json" > "$OUT/pytorch-decode.log" 2>&1 \
  || echo "PyTorch decode baseline failed: see $OUT/pytorch-decode.log"
python3 bench/compare_decode.py "$OUT" --record "$OUT/decode-bench.json"
