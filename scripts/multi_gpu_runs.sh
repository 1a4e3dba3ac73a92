#!/usr/bin/env bash
# The multi-GPU experiments of data-parallel training in one command
# (to be recorded in docs/results/multi-gpu.md, issue 7; what has run so far:
# docs/results/data-parallel.md), for a machine of several GPUs:
#   scripts/multi_gpu_runs.sh DATA_DIR [BIN_DIR] [OUT_DIR]
# DATA_DIR is a dataset made by alibi-data (e.g. WikiText-2). N below is the
# largest entry of COUNTS. Runs, each with OpenMPI's mpirun (MPIRUN):
#   1. equivalence: N ranks against 1 rank with N times the accumulation
#      (the same train.global_batch), STEPS steps of the 124M model; and the
#      same N-rank run with ZeRO-1 (dist.zero1), with its optimizer memory;
#   2. a killed rank: N ranks, rank 1 fails after the checkpoint at
#      KILL_AT (ALIBI_FAULT), then a resume on N ranks, against run 1;
#   3. scaling: tokens/s at each count in COUNTS with the same micro-batch
#      per GPU, SCALE_STEPS steps, for the 124M and the 350M model.
# Then scripts/multi_gpu_report.py prints the tables.
# Environment: COUNTS ("1 2 4 8", cut to the GPUs present), STEPS (200),
# KILL_AT (100), SCALE_STEPS (30), MODEL_SET (extra --set for every run, e.g.
# a tiny model and runtime.device=cpu for a dry run on the CPU), MPIRUN.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:?dataset folder made by alibi-data}"; BIN="${2:-build}"; OUT="${3:-runs/multi-gpu}"
STEPS="${STEPS:-200}"; KILL_AT="${KILL_AT:-100}"; SCALE_STEPS="${SCALE_STEPS:-30}"
export NCCL_NVLS_ENABLE="${NCCL_NVLS_ENABLE:-0}"  # NVLink multicast stays off on shared hosts
MPIRUN="${MPIRUN:-mpirun --bind-to none --oversubscribe $([ "$(id -u)" = 0 ] && echo --allow-run-as-root)}"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
counts=()
for n in ${COUNTS:-1 2 4 8}; do
  if [ "${gpus:-0}" -eq 0 ] || [ "$n" -le "$gpus" ]; then counts+=("$n"); fi
done
N="${counts[-1]}"
mkdir -p "$OUT"

# train LOG RUN RANKS CONFIG [alibi-train arguments...]: one run in OUT/RUN,
# its output in OUT/LOG.log.
train() {
  local log="$1" run="$2" ranks="$3" config="$4"; shift 4
  # shellcheck disable=SC2086
  $MPIRUN -np "$ranks" -x NCCL_NVLS_ENABLE -x ALIBI_FAULT "$BIN/alibi-train" --config "$config" "$@" \
    --set data.dir="$DATA" log.run_dir="$OUT/$run" log.interval=10 train.eval_interval=0 ${MODEL_SET:-} \
    ${RUN_SET:-} > "$OUT/$log.log" 2>&1
}

echo "== 1. equivalence at $N ranks ($STEPS steps)"
export ALIBI_FAULT="" RUN_SET="train.steps=$STEPS train.global_batch=$((16 * N)) checkpoint.interval=$KILL_AT"
train equiv-1rank equiv-1rank 1 configs/gpt2-124m.yaml --overwrite
train equiv-n equiv-n "$N" configs/gpt2-124m.yaml --overwrite
train equiv-n-zero1 equiv-n-zero1 "$N" configs/gpt2-124m.yaml --overwrite --set dist.zero1=true

echo "== 2. rank 1 fails at step $((KILL_AT + 2)); resume from step $KILL_AT"
start=$(date +%s)
if ALIBI_FAULT="error:1:$((KILL_AT + 2))" train killed killed "$N" configs/gpt2-124m.yaml --overwrite; then
  echo "the job did not fail" | tee "$OUT/killed.seconds"
else
  echo "$(( $(date +%s) - start ))" > "$OUT/killed.seconds"
fi
train resumed killed "$N" configs/gpt2-124m.yaml --resume

echo "== 3. scaling over ${counts[*]} GPUs ($SCALE_STEPS steps each)"
for model in 124m 350m; do
  micro=$(awk '/micro_batch:/{print $2}' "configs/gpt2-$model.yaml")
  for n in "${counts[@]}"; do
    RUN_SET="train.steps=$SCALE_STEPS train.global_batch=$((micro * n)) checkpoint.interval=0" \
      train "scale-$model-$n" "scale-$model-$n" "$n" "configs/gpt2-$model.yaml" --overwrite
  done
done

python3 scripts/multi_gpu_report.py "$OUT" "$N" "$KILL_AT" "${counts[@]}"
