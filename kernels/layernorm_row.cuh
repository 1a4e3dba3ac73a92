// LayerNorm of one bf16 row that a block holds in shared memory, normalised
// in place, for the kernels that normalise their input rows themselves
// (matvec.cu, decode_step.cu). The arithmetic is layernorm_forward's: fp32,
// two passes (the mean, then the variance of x - mean), the output rounded
// to bf16. Internal to kernels/*.cu.
#pragma once

#include <cstdint>

#include "kernels/common.cuh"

namespace alibi::cuda {

struct RowNorm {
  float mean, rstd;
};

// row: C / 8 pieces of 8 bf16 (C a multiple of 8); weight, bias: the norm's,
// in 16-byte pieces too (shared or global memory). Thread t handles pieces t,
// t + blockDim.x, ...; every thread of the block calls it (block reductions)
// and gets the row's mean and rstd.
__device__ inline RowNorm normalise_shared_row(uint4* row, const uint4* weight, const uint4* bias, int64_t C,
                                               float eps, float* scratch) {
  constexpr int kVec = 8;
  const int64_t pieces = C / kVec;
  float sum = 0.f, x[kVec];
  for (int64_t q = threadIdx.x; q < pieces; q += blockDim.x) {
    unpack_bf16x8(row[q], x);
#pragma unroll
    for (int k = 0; k < kVec; ++k) sum += x[k];
  }
  const float mean = block_sum(sum, scratch) / static_cast<float>(C);
  float sq = 0.f;
  for (int64_t q = threadIdx.x; q < pieces; q += blockDim.x) {
    unpack_bf16x8(row[q], x);
#pragma unroll
    for (int k = 0; k < kVec; ++k) sq += (x[k] - mean) * (x[k] - mean);
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) / static_cast<float>(C) + eps);
  for (int64_t q = threadIdx.x; q < pieces; q += blockDim.x) {
    float w[kVec], c[kVec], y[kVec];
    unpack_bf16x8(row[q], x);
    unpack_bf16x8(weight[q], w);
    unpack_bf16x8(bias[q], c);
#pragma unroll
    for (int k = 0; k < kVec; ++k) y[k] = (x[k] - mean) * rstd * w[k] + c[k];
    row[q] = pack_bf16x8(y);
  }
  return {mean, rstd};
}

}  // namespace alibi::cuda
