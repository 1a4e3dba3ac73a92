// Device helpers shared by the kernels: bf16 <-> fp32 access, deterministic
// block reductions and launch-size arithmetic. Internal to kernels/*.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace alibi::cuda {

using bf16 = __nv_bfloat16;

// All math runs in fp32; storage is fp32 or bf16 (round to nearest even).
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }
template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float x) { return __float2bfloat16_rn(x); }

constexpr int kWarp = 32;

// Butterfly sum over a warp: a fixed pattern, so the result is the same bits
// on every run (no atomics anywhere in these reductions).
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// A reduction over the whole block, returned to every thread: each warp's
// result through `shared` (at least 32 values), then one warp over those.
// blockDim.x must be a multiple of 32 and at most 1024. Calls __syncthreads:
// every thread of the block must call it.
template <typename T, typename WarpReduce>
__device__ T block_reduce(T v, T* shared, T identity, WarpReduce warp_reduce) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_reduce(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : identity;
  return warp_reduce(v);
}

template <typename T>
__device__ T block_sum(T v, T* shared) {
  return block_reduce(v, shared, T(0), [](T x) { return warp_sum(x); });
}

__device__ inline float block_max(float v, float* shared) {
  return block_reduce(v, shared, -INFINITY, [](float x) { return warp_max(x); });
}

inline unsigned int blocks_for(int64_t work_items, int threads_per_block) {
  return static_cast<unsigned int>((work_items + threads_per_block - 1) / threads_per_block);
}

// Bytes rounded up to 256: where the parts of a carved workspace start
// (cudaMalloc's alignment, enough for any vector access or tensor map).
constexpr size_t round_up_256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Eight bf16 of one 16-byte load, as floats.
__device__ __forceinline__ void unpack_bf16x8(const uint4& packed, float (&out)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(pairs[i]);
    out[2 * i] = f.x, out[2 * i + 1] = f.y;
  }
}

// Eight floats rounded to bf16 (nearest even) as one 16-byte store.
__device__ __forceinline__ uint4 pack_bf16x8(const float (&in)[8]) {
  uint4 packed;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
  for (int i = 0; i < 4; ++i) pairs[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  return packed;
}

// The current GPU's SM count, asked once (one GPU a process); an H100's where
// the query fails, since only launch sizes depend on it.
inline int multiprocessor_count() {
  static const int count = [] {
    int device = 0, n = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return n;
  }();
  return count;
}

// Whether p is aligned for 128-bit (16-byte) vector access.
inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace alibi::cuda
