#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang, AddressSanitizer + UBSan)
# into ./build-fuzz and runs each for a bounded time from the committed seed
# corpus. New inputs go to build-fuzz/corpus/<harness>, never into the
# repository; a crash leaves its input in build-fuzz/crashes/<harness> and
# ends the script with a non-zero exit.
#
#   bash scripts/fuzz.sh               # 60 s per harness
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh config checkpoint
# FUZZ_SEED fixes libFuzzer's seed (CI: the same inputs on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(config shard checkpoint)

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DALIBI_WITH_CUDA=OFF -DALIBI_BUILD_TESTS=OFF -DALIBI_BUILD_FUZZERS=ON
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${HARNESSES[@]}")

status=0
for harness in "${HARNESSES[@]}"; do
  work="$BUILD_DIR/corpus/$harness" crashes="$BUILD_DIR/crashes/$harness"
  mkdir -p "$work" "$crashes"
  echo "== fuzz_$harness: ${SECONDS_EACH}s"
  # The first folder receives new inputs; the committed seeds are read only.
  if ! "$BUILD_DIR/tests/fuzz/fuzz_$harness" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 \
      ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
      -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$harness"; then
    echo "fuzz_$harness: FAILED; the input is in $crashes" >&2
    status=1
  fi
done
exit $status
