// Elementwise "map" kernels shared by elementwise.cu and gelu.cu:
// out[i] = op(i, a[i] [, b[i]]), math in fp32, any mix of f32/bf16 storage.
// Internal to kernels/*.cu.
#pragma once

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"

namespace alibi::cuda {

// V consecutive elements moved as one unit: 16 bytes for 8 bf16, so the
// loads and stores are 128-bit transactions (two of them for 8 floats).
template <typename T, int V>
struct alignas(16) Pack {
  T v[V];
};

constexpr int kMapThreads = 256;
constexpr int kMapVector = 8;

template <int V, typename TOut, typename TA, typename Op>
__global__ void map1_kernel(TOut* out, const TA* a, int64_t n, Op op) {
  const int64_t i0 = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i0 >= n) return;
  if (V > 1 && i0 + V <= n) {
    const Pack<TA, V> pa = *reinterpret_cast<const Pack<TA, V>*>(a + i0);
    Pack<TOut, V> po;
#pragma unroll
    for (int k = 0; k < V; ++k) po.v[k] = from_f32<TOut>(op(i0 + k, to_f32(pa.v[k])));
    *reinterpret_cast<Pack<TOut, V>*>(out + i0) = po;
  } else {  // the ragged tail, or unaligned views: one element at a time
    const int64_t end = i0 + V < n ? i0 + V : n;
    for (int64_t i = i0; i < end; ++i) out[i] = from_f32<TOut>(op(i, to_f32(a[i])));
  }
}

template <int V, typename TOut, typename TA, typename TB, typename Op>
__global__ void map2_kernel(TOut* out, const TA* a, const TB* b, int64_t n, Op op) {
  const int64_t i0 = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * V;
  if (i0 >= n) return;
  if (V > 1 && i0 + V <= n) {
    const Pack<TA, V> pa = *reinterpret_cast<const Pack<TA, V>*>(a + i0);
    const Pack<TB, V> pb = *reinterpret_cast<const Pack<TB, V>*>(b + i0);
    Pack<TOut, V> po;
#pragma unroll
    for (int k = 0; k < V; ++k) po.v[k] = from_f32<TOut>(op(i0 + k, to_f32(pa.v[k]), to_f32(pb.v[k])));
    *reinterpret_cast<Pack<TOut, V>*>(out + i0) = po;
  } else {
    const int64_t end = i0 + V < n ? i0 + V : n;
    for (int64_t i = i0; i < end; ++i) out[i] = from_f32<TOut>(op(i, to_f32(a[i]), to_f32(b[i])));
  }
}

// The vector path needs every pointer 16-byte aligned; views carved out of
// an arena at odd offsets take the scalar path instead.
template <typename TOut, typename TA, typename Op>
void launch_map1(TOut* out, const TA* a, int64_t n, Op op, cudaStream_t stream, const char* name) {
  if (n <= 0) return;
  if (aligned16(out) && aligned16(a)) {
    map1_kernel<kMapVector><<<blocks_for(n, kMapThreads * kMapVector), kMapThreads, 0, stream>>>(out, a, n, op);
  } else {
    map1_kernel<1><<<blocks_for(n, kMapThreads), kMapThreads, 0, stream>>>(out, a, n, op);
  }
  check_launch(name, {{"n", n}});
}

template <typename TOut, typename TA, typename TB, typename Op>
void launch_map2(TOut* out, const TA* a, const TB* b, int64_t n, Op op, cudaStream_t stream,
                 const char* name) {
  if (n <= 0) return;
  if (aligned16(out) && aligned16(a) && aligned16(b)) {
    map2_kernel<kMapVector><<<blocks_for(n, kMapThreads * kMapVector), kMapThreads, 0, stream>>>(out, a, b, n, op);
  } else {
    map2_kernel<1><<<blocks_for(n, kMapThreads), kMapThreads, 0, stream>>>(out, a, b, n, op);
  }
  check_launch(name, {{"n", n}});
}

}  // namespace alibi::cuda
