#!/usr/bin/env bash
# Train short, test long, on WikiText (docs/results/extrapolation.md), in one
# command on a GPU machine with the WikiText files present:
#   scripts/reproduce_extrapolation.sh [DATA_ROOT] [BIN_DIR] [OUT_DIR]
# DATA_ROOT holds wikitext-2/wiki.{train,valid,test}.tokens.xz and
# wikitext-103/wiki.{valid,test}.tokens.xz (default ../shared/data).
#
# 1. tokenizes WikiText-2 (8192-piece BPE trained on its train split) and
#    WikiText-103 valid/test with the same tokenizer;
# 2. trains configs/wikitext2-small.yaml at length 512 with alibi, sinusoidal
#    and rotary positions, on the same tokens (same seed, same steps);
# 3. evaluates the three at LENGTHS, nonoverlapping, on WikiText-2 and
#    WikiText-103 valid and test, and with a sliding window (stride 256) on
#    WikiText-2 valid; writes JSON, CSV and (with gnuplot) PNG plots.
# Environment: STEPS (3000), LENGTHS (512,...,16384), TRAIN_SET (extra
# --set overrides, e.g. for a quick smoke run), METHODS.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data}"; BIN="${2:-build}"; OUT="${3:-runs/extrapolation}"
STEPS="${STEPS:-3000}"
LENGTHS="${LENGTHS:-512,1024,2048,4096,8192,16384}"
METHODS="${METHODS:-alibi sinusoidal rotary}"
mkdir -p "$OUT/text"

echo "== data"
for s in train valid test; do xz -dc "$DATA/wikitext-2/wiki.$s.tokens.xz" > "$OUT/text/wt2.$s.txt"; done
for s in valid test; do xz -dc "$DATA/wikitext-103/wiki.$s.tokens.xz" > "$OUT/text/wt103.$s.txt"; done
"$BIN/alibi-data" --train "$OUT/text/wt2.train.txt" --valid "$OUT/text/wt2.valid.txt" \
  --test "$OUT/text/wt2.test.txt" --out "$OUT/data/wikitext-2" --vocab-size 8192
# WikiText-103's valid and test are WikiText-2's articles with the full
# vocabulary; its "train" split here is only a placeholder (valid again).
"$BIN/alibi-data" --train "$OUT/text/wt103.valid.txt" --valid "$OUT/text/wt103.valid.txt" \
  --test "$OUT/text/wt103.test.txt" --tokenizer "$OUT/data/wikitext-2/tokenizer.model" \
  --out "$OUT/data/wikitext-103-eval"

echo "== training at length 512: $METHODS"
checkpoints=()
for method in $METHODS; do
  # shellcheck disable=SC2086
  "$BIN/alibi-train" --config configs/wikitext2-small.yaml --overwrite --quiet \
    --set model.position="$method" data.dir="$OUT/data/wikitext-2" log.run_dir="$OUT/runs/$method" \
    train.steps="$STEPS" checkpoint.interval=0 ${TRAIN_SET:-}
  checkpoints+=(--checkpoint "$OUT/runs/$method")
done

plot() { if command -v gnuplot >/dev/null; then bash scripts/plot_eval.sh "$1" "${1%.csv}.png" "$2"; fi; }
echo "== evaluation"
for data in wikitext-2 wikitext-103-eval; do
  for split in valid test; do
    name="$OUT/eval-$data-$split"
    "$BIN/alibi-eval" "${checkpoints[@]}" --data-dir "$OUT/data/$data" --data "$split" --lengths "$LENGTHS" \
      --max-batch-tokens 65536 --json "$name.json" --csv "$name.csv"
    plot "$name.csv" token
  done
done
sliding_lengths="$(echo "$LENGTHS" | tr ',' '\n' | awk '$1 >= 256 && $1 <= 4096' | paste -sd, -)"
[ -n "$sliding_lengths" ] && "$BIN/alibi-eval" "${checkpoints[@]}" --data-dir "$OUT/data/wikitext-2" --data valid --lengths "$sliding_lengths" \
  --stride 256 --max-batch-tokens 65536 --json "$OUT/eval-wikitext-2-valid-sliding.json" \
  --csv "$OUT/eval-wikitext-2-valid-sliding.csv"
[ -n "$sliding_lengths" ] && plot "$OUT/eval-wikitext-2-valid-sliding.csv" token
echo "results in $OUT"
