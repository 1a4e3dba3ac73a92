#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (GPU tests skip without a GPU),
# then fuzzes the config, shard and checkpoint readers for a bounded time
# (scripts/fuzz.sh; FUZZ_SECONDS per harness, 0 to skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
if [ "${FUZZ_SECONDS:-30}" -gt 0 ]; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-30}" FUZZ_SEED="${FUZZ_SEED:-1}" bash scripts/fuzz.sh
fi
