// The bounds of attention_key_skip.cuh: one CTA per (b, h, block of
// kKeySkipRows queries), one thread per token; grid (B * H, blocks), so that
// B * H is not bound by gridDim.y's 65535 (the query blocks are: past 65535
// of them, 4M tokens, attention.cu skips no keys).
#include "kernels/attention_key_skip.cuh"

#include <cmath>

#include "kernels/common.cuh"

namespace alibi::cuda {
namespace {

// A norm that bounds nothing (NaN or inf) becomes +inf: then nothing is skipped.
__device__ float bounding_norm(const bf16* row, int64_t D) {
  const float n = sqrtf(bf16_row_dot(row, row, D));
  return isfinite(n) ? n : INFINITY;
}

__global__ void attention_key_bounds_kernel(float* bounds, const bf16* qkv, HeadLayout lay,
                                            int64_t blocks) {
  __shared__ float scratch[2][kKeySkipRows / 32];
  const int64_t bh = blockIdx.x, b = bh / lay.H, h = bh % lay.H;
  const int64_t t = int64_t(blockIdx.y) * kKeySkipRows + threadIdx.x;
  float q_norm = 0.f, k_norm = 0.f;
  if (t < lay.T) {
    const bf16* token = qkv + lay.qkv(b, 0, h) + t * lay.qkv_stride();
    q_norm = bounding_norm(token, lay.D);
    k_norm = bounding_norm(token + lay.H * lay.D, lay.D);
  }
  // The largest norms of the CTA's tokens (non-negative, or +inf).
  const float qmax = block_max(q_norm, scratch[0]);
  const float kmax = block_max(k_norm, scratch[1]);
  if (threadIdx.x == 0) {
    float* row = bounds + bh * (1 + blocks);
    row[1 + blockIdx.y] = qmax;
    // Non-negative floats order as their bit patterns (the row starts at 0).
    atomicMax(reinterpret_cast<int*>(row), __float_as_int(kmax));
  }
}

}  // namespace

cudaError_t launch_attention_key_bounds(float* bounds, const bf16* qkv, const HeadLayout& layout,
                                        int64_t B, cudaStream_t stream) {
  const int64_t blocks = KeySkipBounds::blocks_of(layout.T);
  const size_t bytes = size_t(KeySkipBounds::floats(B * layout.H, layout.T)) * sizeof(float);
  if (const cudaError_t st = cudaMemsetAsync(bounds, 0, bytes, stream); st != cudaSuccess) return st;
  const dim3 grid(unsigned(B * layout.H), unsigned(blocks));
  attention_key_bounds_kernel<<<grid, kKeySkipRows, 0, stream>>>(bounds, qkv, layout, blocks);
  return cudaGetLastError();
}

}  // namespace alibi::cuda
