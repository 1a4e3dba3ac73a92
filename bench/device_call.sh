#!/usr/bin/env bash
# One GPU-machine call's worth of checks, in order of need, each stage given
# what is left of the call: the GPU test suite, our decode op by op and as
# the fused step, an A/B of several builds' training step (bench/ab.sh), then
# bench/train.sh with the PyTorch baseline. Results go to OUT_DIR/r and are
# packed into OUT_DIR/results.tgz after every stage (the device tool returns
# few files, and a call cut short keeps what had landed).
#   bench/device_call.sh OUT_DIR PACK [BUILD...]
# PACK: a folder made by scripts/device_pack.sh (tests and binaries); BUILDs:
# more folders holding an alibi-bench, compared with PACK by the A/B (each
# runs with PACK's lib/ unless it has its own).
# Environment: CALL_S (the call's seconds, default 590), STAGES (default
# "tests decode ab train"; also "probe": PACK's gelu_gemm_probe, and
# "decode-ab": every build's decode op by op, "breakdown": PACK's
# bench/breakdown.sh of the 124M step, and "gemm": ncu over PACK's
# gemm_sm90 in the 124M step, ALIBI_GEMM_SM90=1 and 2, "attention": bench/attention.sh
# at the training lengths, ATTN_LS default 1024,2048), AB_ROUNDS (2), BASELINE_DIR
# (../shared/bench, for train and attention), TESTS (the gtest filter), TESTS_S (its
# seconds at most, default 240).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bench/device_call.sh OUT_DIR PACK [BUILD...]}"; PACK="$(realpath "${2:?pack folder}")"; shift 2
start=$(date +%s)
left() { echo $(( ${CALL_S:-590} - ($(date +%s) - start) )); }
# What is left of the call, at most $1 seconds and at least 1 (`timeout 0` would not stop at all).
capped() { local l; l=$(left); l=$(( l < $1 ? l : $1 )); echo $(( l > 1 ? l : 1 )); }
R="$OUT/r"; mkdir -p "$R" || exit 2
pack() { tar czf "$OUT/results.tgz" -C "$OUT" r; }
# One build's decode at issue 15's shapes, into decode-NAME.*: run_decode BUILD NAME [FLAGS...]
run_decode() {
  local build="$1" name="$2"; shift 2
  timeout "$(capped 120)" "$build/alibi-bench" decode --config configs/gpt2-124m.yaml \
    --set model.embed_layernorm=true "$@" --batch 1,32 --context 1024,16384 --new-tokens 64 \
    --json "$R/decode-$name.json" > "$R/decode-$name.log" 2>&1
  echo "decode $name: exit $?" >> "$R/stages.txt"; echo "$name"; tail -4 "$R/decode-$name.log"
}
export ALIBI_SOURCE_DIR=$PWD ALIBI_BIN_DIR="$PACK" LD_LIBRARY_PATH="$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
builds=("$PACK")
for b in "$@"; do
  [ -d "$b/lib" ] || ln -sfn "$PACK/lib" "$b/lib"
  builds+=("$(realpath "$b")")
done
# The commit the pack was built from, as its binaries report it (this checkout's
# git HEAD need not be it): what bench records name (run_facts.py).
ALIBI_COMMIT=$("$PACK/alibi-bench" --version 2>/dev/null | sed -n 's/.*(commit \([^)]*\)).*/\1/p')
export ALIBI_COMMIT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$R/gpu.txt" 2>&1
echo "pack: commit ${ALIBI_COMMIT:-unknown}" >> "$R/gpu.txt"
for stage in ${STAGES:-tests decode ab train}; do
  [ "$(left)" -gt 30 ] || { echo "device_call: no time left for $stage" | tee -a "$R/stages.txt"; continue; }
  case "$stage" in
    tests)
      timeout "$(capped "${TESTS_S:-240}")" "$PACK/alibi_tests" \
        --gtest_filter="${TESTS:-Cuda*:KvCache*:AlibiExport*:ExportFolder*:Divergence*:AdamW*:AlibiGenerate*}" \
        > "$R/tests.log" 2>&1
      echo "tests: exit $?" >> "$R/stages.txt"
      grep -aE "^\[  (PASSED|FAILED|SKIPPED) |tests from .* ran|FAILED  \]" "$R/tests.log" ;;
    decode)
      run_decode "$PACK" op-by-op
      run_decode "$PACK" fused-step --fused-step ;;
    gemm)
      for v in 1 2; do  # the last layer's fc forward and DGELU: the 12th and 13th launches
        ALIBI_GEMM_SM90=$v timeout "$(capped 60)" ncu --clock-control none -k regex:gemm_sm90 --launch-skip 11 \
          --launch-count 2 --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
          "$PACK/alibi-bench" train --config configs/gpt2-124m.yaml --steps 1 --warmup 0 --set train.grad_accum=1 \
          > "$R/ncu-gemm-sm90-$v.txt" 2>&1
        echo "gemm ALIBI_GEMM_SM90=$v: exit $?" >> "$R/stages.txt"
        echo "ALIBI_GEMM_SM90=$v"; grep -E "gemm_sm90_kernel|Duration|L2 Cache Throughput|rror" "$R/ncu-gemm-sm90-$v.txt"
      done ;;
    probe)
      timeout "$(capped 90)" "$PACK/gelu_gemm_probe" > "$R/probe.txt" 2>&1
      echo "probe: exit $?" >> "$R/stages.txt"; cat "$R/probe.txt" ;;
    decode-ab)
      for b in "${builds[@]}"; do run_decode "$b" "ab-$(basename "$b")"; done ;;
    ab)
      [ ${#builds[@]} -ge 2 ] || continue
      AB_BUDGET_S=$(capped $(( $(left) - 150 ))) bash bench/ab.sh "$R/ab" "${builds[@]}" > "$R/ab.log" 2>&1
      echo "ab: exit $?" >> "$R/stages.txt"; tail -$(( ${#builds[@]} + 3 )) "$R/ab.log" ;;
    breakdown)
      timeout "$(capped 150)" bash bench/breakdown.sh "$PACK" "$R/breakdown" > "$R/breakdown.log" 2>&1
      echo "breakdown: exit $?" >> "$R/stages.txt"; grep -E " ms x" "$R/breakdown.log" | head -16 ;;
    attention)
      ATTN_LS="${ATTN_LS:-1024,2048}" ATTN_BUDGET_S=$(capped $(( $(left) - 90 ))) timeout "$(capped 400)" \
        bash bench/attention.sh "$PACK" "${BASELINE_DIR:-../shared/bench}" "$R/attention" > "$R/attention.log" 2>&1
      echo "attention: exit $?" >> "$R/stages.txt"; tail -12 "$R/attention.log" ;;
    train)
      TRAIN_BUDGET_S=$(capped $(( $(left) - 100 ))) timeout "$(capped 600)" bash bench/train.sh "$PACK" "${BASELINE_DIR:-../shared/bench}" \
        "$R/train" > "$R/train.log" 2>&1
      echo "train: exit $?" >> "$R/stages.txt"; tail -14 "$R/train.log" ;;
    *) echo "device_call: unknown stage $stage" >&2 ;;
  esac
  pack
done
pack
