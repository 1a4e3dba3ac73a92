// Skipping the keys that ALiBi makes negligible, in forward-only attention.
//
// Key j's weight in row i is exp(s_ij - m (i - j)) over the row's total, and
// |s_ij| <= |q_i| |k_j| / sqrt(D). The total is at least the diagonal term
// exp(s_ii) >= exp(-|q_i| |k_i| / sqrt(D)). With qmax the largest |q_i| of a
// block of queries and kmax the largest |k_j| of the head, every key more than
//   r = (2 qmax kmax / sqrt(D) + kNegligibleLog2 ln 2) / m
// positions before the block's first query weighs less than
// 2^-kNegligibleLog2 of its row's total, so a whole tile of such keys can be
// left out: a row loses less than T * 2^-40 of its mass (2^-24 at 64k
// tokens), far below bf16's resolution (2^-8). A slope of 0 skips nothing,
// and a non-finite norm gives r = inf (nothing skipped either). The bounds
// hold qmax per kKeySkipRows queries; a kernel's query block (a multiple of
// that) takes the max over the ones it covers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/attention_tiles.cuh"

namespace alibi::cuda {

constexpr int kKeySkipRows = 64;         // queries per block of the bounds (divides kBlockM)
constexpr float kNegligibleLog2 = 40.f;  // a skipped key weighs < 2^-40 of its row

// Per (b, h): kmax, then qmax of each block of kKeySkipRows queries.
struct KeySkipBounds {
  const float* bounds;  // [B * H][1 + blocks]
  int64_t blocks;
  __host__ __device__ static int64_t blocks_of(int64_t T) { return (T + kKeySkipRows - 1) / kKeySkipRows; }
  __host__ __device__ static int64_t floats(int64_t BH, int64_t T) { return BH * (1 + blocks_of(T)); }
};

// Key tiles [0, result) of kTileRows keys that the query block of `rows`
// rows from m0 (a multiple of kKeySkipRows, m0 < T) may skip; never the tile
// of key m0, so every row of the block keeps at least its diagonal key.
template <int kTileRows>
__device__ __forceinline__ int negligible_key_tiles(const KeySkipBounds& k, int64_t bh, int m0,
                                                    int rows, float slope, int head_dim) {
  if (k.bounds == nullptr || !(slope > 0.f)) return 0;
  const float* row = k.bounds + bh * (1 + k.blocks);
  const int64_t first = m0 / kKeySkipRows;  // the bounds' blocks of the rows (those before T)
  float qmax = 0.f;
#pragma unroll
  for (int q = 0; q < (rows + kKeySkipRows - 1) / kKeySkipRows; ++q)
    if (first + q < k.blocks) qmax = fmaxf(qmax, row[1 + first + q]);
  const float kmax = row[0];
  const float r = negligible_distance(qmax * kmax, head_dim, kNegligibleLog2, slope);
  // Tile n is negligible when its last key n*kTileRows + kTileRows-1 is more
  // than r before the first query: n * kTileRows < m0 - (kTileRows - 1) - r.
  // As r > 0, room < m0 - kTileRows + 1, so ceil(room / kTileRows) is at
  // most floor(m0 / kTileRows): the tile of key m0 is kept.
  const float room = float(m0) - (kTileRows - 1) - r;
  return room > 0.f ? int(ceilf(room / kTileRows)) : 0;
}

// Fills the bounds (bounds: KeySkipBounds::floats(B * H, T) floats) from qkv.
cudaError_t launch_attention_key_bounds(float* bounds, const bf16* qkv, const HeadLayout& layout,
                                        int64_t B, cudaStream_t stream);

}  // namespace alibi::cuda
