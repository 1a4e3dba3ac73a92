#!/usr/bin/env bash
# Packs binaries built on this (GPU-less) machine for a run on a GPU machine
# whose image lacks some of our Debian libraries (SentencePiece, this
# yaml-cpp version). Usage: scripts/device_pack.sh BUILD_DIR DEST
# Then on the GPU machine:
#   export LD_LIBRARY_PATH=$PWD/DEST/lib ALIBI_BIN_DIR=$PWD/DEST ALIBI_SOURCE_DIR=$PWD
#   DEST/alibi_tests --gtest_filter='Cuda*'
set -euo pipefail
build="${1:?build dir}"; dest="${2:?destination}"
rm -rf "$dest"; mkdir -p "$dest/lib"
for f in alibi-train alibi-data alibi-eval alibi-bench alibi-generate alibi-export tests/alibi_tests; do
  [ -x "$build/$f" ] && cp "$build/$f" "$dest/" && strip --strip-debug "$dest/$(basename "$f")"
done
for bin in "$dest"/alibi*; do
  ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libsentencepiece*|libyaml-cpp*|libprotobuf*) cp -L "$lib" "$dest/lib/" ;;
      # Debian's Open MPI, in case the image's differs (only loaded, not started, on one GPU).
      libmpi*|libopen-rte*|libopen-pal*|libhwloc*|libevent*|libpmix*) cp -L "$lib" "$dest/lib/" ;;
    esac
  done
done
# The cuBLASLt probe (bench/gelu_gemm_probe.cu), where this machine has nvcc.
if command -v nvcc > /dev/null; then
  nvcc -O2 -std=c++17 -gencode=arch=compute_90a,code=sm_90a "$(dirname "$0")/../bench/gelu_gemm_probe.cu" -lcublasLt \
    -o "$dest/gelu_gemm_probe" || echo "device_pack: the probe did not build (left out)" >&2
fi
du -sh "$dest"
