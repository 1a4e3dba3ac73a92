#include "kernels/argmax.cuh"

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/dependent_launch.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 1024;  // one block a row: a decode step has a few rows

// The better of two candidates: the larger value, the lower index among
// equals; NaNs and empty candidates (index -1) never win. An order that does
// not depend on the order of comparisons, so any reduction tree gives
// cpu::argmax's answer.
struct Candidate {
  float value;
  int32_t index;
};

__device__ __forceinline__ Candidate better(Candidate a, Candidate b) {
  if (b.index < 0 || isnan(b.value)) return a;
  if (a.index < 0 || isnan(a.value)) return b;
  if (a.value != b.value) return a.value > b.value ? a : b;
  return a.index < b.index ? a : b;
}

__device__ __forceinline__ Candidate warp_best(Candidate c) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    Candidate other{__shfl_xor_sync(0xffffffffu, c.value, offset), __shfl_xor_sync(0xffffffffu, c.index, offset)};
    c = better(c, other);
  }
  return c;
}

__device__ __forceinline__ Candidate best_of_pieces(const bf16* row, int64_t limit) {
  Candidate c{0.f, -1};
  const int64_t pieces = (limit + 7) / 8;
#pragma unroll 4
  for (int64_t q = threadIdx.x; q < pieces; q += kThreads) {
    const uint4 packed = __ldg(reinterpret_cast<const uint4*>(row) + q);
    const __nv_bfloat16* values = reinterpret_cast<const __nv_bfloat16*>(&packed);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int64_t j = q * 8 + k;
      if (j < limit) c = better(c, {__bfloat162float(values[k]), static_cast<int32_t>(j)});
    }
  }
  return c;
}

// One block a row: in 16-byte pieces where rows are aligned to them (V a
// multiple of 8), else one value at a time; then the block's best.
__global__ void __launch_bounds__(kThreads)
    argmax_kernel(int32_t* tokens, const bf16* logits, int64_t V, int64_t limit, bool in_pieces) {
  __shared__ Candidate warps[kThreads / kWarp];
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
  const bf16* row = logits + static_cast<int64_t>(blockIdx.x) * V;
  Candidate c{0.f, -1};
  if (in_pieces)
    c = best_of_pieces(row, limit);
  else
    for (int64_t j = threadIdx.x; j < limit; j += kThreads) c = better(c, {__bfloat162float(row[j]), static_cast<int32_t>(j)});
  c = warp_best(c);
  if (threadIdx.x % kWarp == 0) warps[threadIdx.x / kWarp] = c;
  __syncthreads();
  if (threadIdx.x >= kWarp) return;
  c = warp_best(warps[threadIdx.x]);
  if (threadIdx.x == 0) tokens[blockIdx.x] = c.index < 0 ? 0 : c.index;  // a row of NaNs: 0
}

}  // namespace

void argmax(int32_t* tokens, const bf16* logits, int64_t N, int64_t V, int64_t limit, cudaStream_t stream) {
  const Dims shape = {{"N", N}, {"V", V}, {"limit", limit}};
  if (limit < 1 || limit > V) throw_cuda_error("argmax", shape, "limit must be in [1, V]");
  if (N == 0) return;
  const bool in_pieces = V % 8 == 0 && aligned16(logits);
  launch_dependent(argmax_kernel, dim3(static_cast<unsigned>(N)), dim3(kThreads), 0, stream, tokens, logits, V, limit,
                   in_pieces);
  check_launch("argmax", shape);
}

}  // namespace alibi::cuda
