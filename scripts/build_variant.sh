#!/usr/bin/env bash
# alibi-bench as of another commit, for comparing builds on the GPU machine
# (bench/ab.sh, bench/device_call.sh): a git worktree of REV under
# build-variants/ (ignored), configured as scripts/build.sh configures, only
# alibi-bench built, copied stripped into DEST (which then runs with a packed
# folder's lib/, as bench/ab.sh arranges).
#   scripts/build_variant.sh REV DEST
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:?usage: scripts/build_variant.sh REV DEST}"; dest="${2:?destination folder}"
commit="$(git rev-parse --verify "$rev^{commit}")"
tree="build-variants/${commit:0:12}"
[ -d "$tree" ] || git worktree add --detach "$tree" "$commit" > /dev/null
[ -f "$tree/build/CMakeCache.txt" ] ||
  cmake -S "$tree" -B "$tree/build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} > /dev/null
cmake --build "$tree/build" -j "$(nproc)" --target alibi-bench
mkdir -p "$dest"
cp "$tree/build/alibi-bench" "$dest/"
strip --strip-debug "$dest/alibi-bench"
echo "$dest/alibi-bench: alibi-bench of $(git log --oneline -1 "$commit")"
