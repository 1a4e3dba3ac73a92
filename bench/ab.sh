#!/usr/bin/env bash
# A/B of the training step between builds, on one GPU in one call: each
# binary folder's `alibi-bench train` on the same shapes, in rounds whose
# order alternates (A B C, then C B A, ...) so that a drift of the GPU's
# clocks or temperature falls on every build alike; then each build's median
# over the rounds and its ratio to the first build (bench/compare_ab.py).
#   bench/ab.sh OUT_DIR BIN_DIR [BIN_DIR...]
# A build is named by its folder's name; a folder with a lib/ inside (as
# scripts/device_pack.sh makes) runs with it on LD_LIBRARY_PATH. To compare
# a measuring switch (docs/environment.md) on one binary, a folder's
# alibi-bench may be a script that runs the other folder's with the variable
# set, e.g. `ALIBI_SM90_FWD_GRID=items exec "$(dirname "$(realpath "$0")")/../main/alibi-bench" "$@"`.
# Environment: AB_CONFIGS (default: configs/gpt2-124m.yaml), AB_ROUNDS (2),
# AB_STEPS (20, after 3 of warm-up), AB_SET (more --set overrides, spaces
# between them), AB_TIMEOUT_S (90, a run), AB_BUDGET_S (no round starts after
# this many seconds; default none).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bench/ab.sh OUT_DIR BIN_DIR [BIN_DIR...]}"; shift
[ $# -ge 1 ] || { echo "bench/ab.sh: no binary folder given" >&2; exit 2; }
for bin in "$@"; do
  [ -x "$bin/alibi-bench" ] || { echo "bench/ab.sh: $bin/alibi-bench is not an executable" >&2; exit 2; }
done
mkdir -p "$OUT" || exit 2
start=$(date +%s)
read -r -a overrides <<< "${AB_SET:-}"
run() {  # bin config round
  local bin=$1 config=$2 round=$3 name
  name="$(basename "$bin")-$(basename "$config" .yaml)-r$round"
  ( [ -d "$bin/lib" ] && export LD_LIBRARY_PATH="$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    timeout "${AB_TIMEOUT_S:-90}" "$bin/alibi-bench" train --config "$config" --steps "${AB_STEPS:-20}" --warmup 3 \
      --set train.grad_accum=1 "${overrides[@]}" --json "$OUT/ab-$name.json" > "$OUT/ab-$name.log" 2>&1 ) \
    || echo "bench/ab.sh: $name failed (exit $?): see $OUT/ab-$name.log" >&2
}
bins=("$@")
for ((round = 1; round <= ${AB_ROUNDS:-2}; ++round)); do
  if [ -n "${AB_BUDGET_S:-}" ] && [ $(( $(date +%s) - start )) -ge "$AB_BUDGET_S" ]; then
    echo "bench/ab.sh: time budget spent after $((round - 1)) round(s)" >&2; break
  fi
  order=("${bins[@]}")
  if (( round % 2 == 0 )); then  # the other way round
    order=(); for ((i = ${#bins[@]} - 1; i >= 0; --i)); do order+=("${bins[i]}"); done
  fi
  for config in ${AB_CONFIGS:-configs/gpt2-124m.yaml}; do
    for bin in "${order[@]}"; do run "$bin" "$config" "$round"; done
  done
done
names=(); for bin in "${bins[@]}"; do names+=("$(basename "$bin")"); done
python3 bench/compare_ab.py "$OUT" "${names[@]}" --record "$OUT/ab.json"
