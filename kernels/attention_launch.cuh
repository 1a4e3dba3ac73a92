// Launchers of the tensor-core attention kernels, one instantiation per
// supported head dim (in attention_forward_sm80.cu and attention_backward_sm80.cu, so
// the two compile in parallel). attention.cu validates and dispatches.
#pragma once

#include <cuda_runtime.h>

#include "kernels/attention.cuh"
#include "kernels/attention_tiles.cuh"

namespace alibi::cuda {

struct AttentionLaunch {
  HeadLayout layout;
  int64_t B;
  cudaStream_t stream;
  AttentionTuning tuning;
};

template <int D>
cudaError_t launch_attention_forward(bf16* out, float* lse, const bf16* qkv, const float* slopes,
                                     const AttentionLaunch& l);

// Hopper (sm_90a) forward, D = 64, 80, 96 or 128 (attention_forward_sm90.cu;
// 80 and 96 in 128-column tiles, attention_traits.cuh sm90_tile_dim).
// key_bounds: filled by launch_attention_key_bounds to skip the key tiles
// that ALiBi makes negligible (attention_key_skip.cuh), or null.
template <int D>
cudaError_t launch_attention_forward_sm90(bf16* out, float* lse, const bf16* qkv,
                                          const float* slopes, const float* key_bounds,
                                          const AttentionLaunch& l);

// delta is fp32 [B, H, T] scratch.
template <int D>
cudaError_t launch_attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                      const bf16* out, const float* lse, const float* slopes,
                                      float* delta, const AttentionLaunch& l);

// delta[b,h,t] = dO . O (the first step of both backwards; attention_backward_sm80.cu).
cudaError_t launch_attention_row_dot(float* delta, const bf16* dout, const bf16* out,
                                     const AttentionLaunch& l);

// Partial column sums for the qkv bias gradient (attention_backward's
// dqkv_sums), taken by the Hopper backward's row-statistics kernel (v: of
// dout) and dQ conversion (q: of dQ as stored) from what they read or write
// anyway. The tokens of a head are summed in chunks of
// column_sum_rows(tile) rows, a block of those kernels each; row
// b * chunks + c, column h * D + d holds chunk c of (b, h)'s sum of column d:
// q then v, each [B * chunks, H * D], one after the other.
struct QkvColumnPartials {
  float* q = nullptr;  // null: not taken
  float* v = nullptr;
  int64_t chunks = 0;  // a head's chunks: ceil(T / column_sum_rows)
};
constexpr int kColumnSumThreads = 256;  // a block of the kernels that take them
__host__ __device__ constexpr int column_sum_rows(int tile) { return kColumnSumThreads / (tile / 8); }

// Hopper (sm_90a) backward, D = 64, 80, 96 or 128 (attention_backward_sm90.cu);
// same arguments and results as launch_attention_backward, with scratch of
// attention_sm90_stats_floats for the row statistics (16-byte aligned) and
// dq_accum: fp32 scratch (attention_dq_accumulator_floats) for the fused
// kernel that adds dQ into it, or null for the deterministic pair of kernels.
// sums: where to write the partials it takes (v always, q with dq_accum).
template <int D>
cudaError_t launch_attention_backward_sm90(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                           const bf16* out, const float* lse, const float* slopes,
                                           float* stats_scratch, float* dq_accum,
                                           const QkvColumnPartials& sums, const AttentionLaunch& l);
int64_t attention_sm90_stats_floats(int64_t B, int64_t H, int64_t T);

// Size of dq_accum in floats (D = 64 .. 128; attention_backward_sm90.cu).
int64_t attention_dq_accumulator_floats(int64_t B, int64_t H, int64_t T, int64_t D);

// Allows a kernel more than the default 48 KiB of dynamic shared memory.
template <class Kernel>
cudaError_t allow_shared_memory(Kernel kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}

inline dim3 attention_grid(int64_t T, int rows_per_cta, const AttentionLaunch& l) {
  return dim3(unsigned((T + rows_per_cta - 1) / rows_per_cta), unsigned(l.B * l.layout.H));
}

}  // namespace alibi::cuda
