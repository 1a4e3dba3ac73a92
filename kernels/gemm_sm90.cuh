// A Hopper (sm_90a) matrix product with the MLP's GELU epilogues fused:
//   out[M, N] = epilogue(A[M, K] W[N, K]^T)
// A and W row-major, K contiguous (both K-major), bf16 in, f32 accumulated.
// cuBLASLt's kernels with these epilogues run at ~470 TFLOP/s on an H100
// against ~690 without them (docs/results/gpu-training.md); this kernel is
// written for the 124M/350M MLP shapes (K = 768 or 1024, N = 3072 or 4096).
// Epilogues:
//  - GeluAuxBias (the fc layer's forward): pre = bf16(acc + bias) is stored,
//    and out = bf16(GELU(pre)), GELU of pre as stored (as the matrix-vector
//    path and the backward see it);
//  - Dgelu (the out layer's input gradient): out = bf16(acc * GELU'(pre)),
//    pre read.
// Either may also write the column sums of out as stored, one partial a
// tile of rows (the fc layer's bias gradient, from the Dgelu's out).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

enum class GemmEpilogue { GeluAuxBias, Dgelu };

// The rows of one of the product's tiles: column_partials has one row of
// partial sums a tile, gemm_sm90_row_tiles(M) of them.
constexpr int64_t kGemmSm90TileRows = 128;
constexpr int64_t gemm_sm90_row_tiles(int64_t M) { return (M + kGemmSm90TileRows - 1) / kGemmSm90TileRows; }

struct GemmSm90Args {
  const __nv_bfloat16* a;  // [M, K]
  const __nv_bfloat16* w;  // [N, K]
  __nv_bfloat16* out;               // [M, N]
  __nv_bfloat16* pre_written;       // [M, N], GeluAuxBias
  const __nv_bfloat16* pre_read;    // [M, N], Dgelu
  const __nv_bfloat16* bias;        // [N] or null, GeluAuxBias
  int64_t M, N, K;
  GemmEpilogue epilogue;
  // CTAs in clusters of two on tiles one above the other, sharing each W
  // slice by multicast (half the W traffic through the L2).
  bool cta_pairs = false;
  // Optional, [ceil(M / kGemmSm90TileRows), N] f32: row i the column sums of
  // out as stored over the i-th tile of rows, each in a fixed order (add the
  // rows up in order for the bits of a deterministic sum).
  float* column_partials = nullptr;
};

// Whether gemm_sm90 runs these arguments: a compute capability 9.0 device,
// K and N multiples of 8 (16-byte rows for TMA and bf16 pairs in the
// epilogue), 16-byte aligned matrices, M and N within TMA's 32-bit coordinates.
bool gemm_sm90_suits(const GemmSm90Args& args);

// Throws (naming the shape) where !gemm_sm90_suits or the launch fails.
void gemm_sm90(const GemmSm90Args& args, cudaStream_t stream);

}  // namespace alibi::cuda
