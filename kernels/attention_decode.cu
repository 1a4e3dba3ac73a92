#include "cuda/cuda_check.cuh"
#include "kernels/attention_decode.cuh"
#include "kernels/common.cuh"

#include <cmath>

namespace alibi::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kKeysPerSplit = 256;  // keys one block scores
constexpr int kMaxHeadDim = 256;

int64_t split_count(int64_t L) { return (L + kKeysPerSplit - 1) / kKeysPerSplit; }

// A split's result: the max score m, the sum l of exp(s - m) and the values
// weighted by exp(s - m), D of them: D + 2 floats.
__device__ __forceinline__ float* partial_at(float* workspace, int64_t b, int64_t h, int64_t split, int64_t H,
                                             int64_t splits, int64_t D) {
  return workspace + ((b * H + h) * splits + split) * (D + 2);
}

__global__ void kv_cache_write_kernel(bf16* k_cache, bf16* v_cache, const bf16* qkv, const int32_t* starts,
                                      int64_t T, KvCacheDims s) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= s.B * T * s.H * s.D) return;
  const int64_t d = i % s.D, h = i / s.D % s.H, t = i / (s.D * s.H) % T, b = i / (s.D * s.H * T);
  const int64_t position = static_cast<int64_t>(starts[b]) + t;
  if (position < 0 || position >= s.L) return;
  const int64_t src = ((b * T + t) * 3 + 1) * s.H * s.D + h * s.D + d;
  const int64_t dst = ((b * s.H + h) * s.L + position) * s.D + d;
  k_cache[dst] = qkv[src];
  v_cache[dst] = qkv[src + s.H * s.D];
}

__global__ void __launch_bounds__(kThreads)
    decode_partials_kernel(float* workspace, const bf16* qkv, const bf16* k_cache, const bf16* v_cache,
                           const int32_t* lengths, const float* slopes, KvCacheDims s, int64_t splits) {
  __shared__ float q[kMaxHeadDim], p[kKeysPerSplit], reduce[kWarp];
  __shared__ float acc[kThreads];
  const int64_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z, D = s.D;
  const int64_t n = min(max(static_cast<int64_t>(lengths[b]), int64_t{0}), s.L);
  const int64_t begin = split * kKeysPerSplit, end = min(begin + kKeysPerSplit, n);
  float* out = partial_at(workspace, b, h, split, s.H, splits, D);
  if (begin >= end) {  // past the row's keys: a split that weighs nothing
    for (int64_t d = threadIdx.x; d < D + 2; d += kThreads) out[d] = d == 0 ? -INFINITY : 0.f;
    return;
  }
  const float scale = rsqrtf(static_cast<float>(D)), slope = slopes[h];
  for (int64_t d = threadIdx.x; d < D; d += kThreads) q[d] = __bfloat162float(qkv[b * 3 * s.H * D + h * D + d]) * scale;
  __syncthreads();
  const bf16* keys = k_cache + (b * s.H + h) * s.L * D;
  const bf16* values = v_cache + (b * s.H + h) * s.L * D;
  float m = -INFINITY;
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
    float dot = 0.f;
    for (int64_t d = 0; d < D; ++d) dot += q[d] * __bfloat162float(keys[j * D + d]);
    const float score = dot - slope * static_cast<float>(n - 1 - j);
    p[j - begin] = score;
    m = fmaxf(m, score);
  }
  m = block_max(m, reduce);  // its __syncthreads also publishes p
  float l = 0.f;
  for (int64_t j = threadIdx.x; j < end - begin; j += kThreads) {
    p[j] = __expf(p[j] - m);
    l += p[j];
  }
  l = block_sum(l, reduce);  // and publishes the weights
  // Weighted values: thread t takes channel t % D of every groups-th key.
  const int64_t groups = D < kThreads ? kThreads / D : 1;
  for (int64_t base = 0; base < D; base += kThreads / groups) {
    const int64_t d = base + threadIdx.x % (kThreads / groups), g = threadIdx.x / (kThreads / groups);
    float sum = 0.f;
    if (d < D && g < groups)
      for (int64_t j = begin + g; j < end; j += groups) sum += p[j - begin] * __bfloat162float(values[j * D + d]);
    __syncthreads();
    acc[threadIdx.x] = sum;
    __syncthreads();
    if (g == 0 && d < D) {
      float total = 0.f;
      for (int64_t k = 0; k < groups; ++k) total += acc[k * (kThreads / groups) + threadIdx.x];
      out[2 + d] = total;
    }
  }
  if (threadIdx.x == 0) out[0] = m, out[1] = l;
}

__global__ void decode_combine_kernel(bf16* out, const float* workspace, KvCacheDims s, int64_t splits) {
  const int64_t h = blockIdx.x, b = blockIdx.y, D = s.D;
  const float* first = workspace + (b * s.H + h) * splits * (D + 2);
  float m = -INFINITY;
  for (int64_t k = 0; k < splits; ++k) m = fmaxf(m, first[k * (D + 2)]);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float l = 0.f, v = 0.f;
    if (m > -INFINITY)
      for (int64_t k = 0; k < splits; ++k) {
        const float* part = first + k * (D + 2);
        const float w = part[0] > -INFINITY ? __expf(part[0] - m) : 0.f;
        l += w * part[1];
        v += w * part[2 + d];
      }
    out[b * s.H * D + h * D + d] = __float2bfloat16_rn(l > 0.f ? v / l : 0.f);
  }
}

}  // namespace

void kv_cache_write(bf16* k_cache, bf16* v_cache, const bf16* qkv, const int32_t* starts, int64_t T,
                    KvCacheDims dims, cudaStream_t stream) {
  const int64_t n = dims.B * T * dims.H * dims.D;
  if (n == 0) return;
  kv_cache_write_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(k_cache, v_cache, qkv, starts, T, dims);
  check_launch("kv_cache_write", {{"B", dims.B}, {"T", T}, {"H", dims.H}, {"L", dims.L}, {"D", dims.D}});
}

size_t attention_decode_workspace_bytes(KvCacheDims dims) {
  return static_cast<size_t>(dims.B * dims.H * split_count(dims.L) * (dims.D + 2)) * sizeof(float);
}

void attention_decode(bf16* out, const bf16* qkv, const bf16* k_cache, const bf16* v_cache, const int32_t* lengths,
                      const float* slopes, KvCacheDims dims, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream) {
  const Dims shape = {{"B", dims.B}, {"H", dims.H}, {"L", dims.L}, {"D", dims.D}};
  if (dims.D > kMaxHeadDim) throw_cuda_error("attention_decode", shape, "head dim above 256");
  if (workspace_bytes < attention_decode_workspace_bytes(dims))
    throw_cuda_error("attention_decode", shape, "workspace too small");
  const int64_t splits = split_count(dims.L);
  float* partials = static_cast<float*>(workspace);
  decode_partials_kernel<<<dim3(static_cast<unsigned>(splits), static_cast<unsigned>(dims.H),
                                static_cast<unsigned>(dims.B)),
                           kThreads, 0, stream>>>(partials, qkv, k_cache, v_cache, lengths, slopes, dims, splits);
  check_launch("attention_decode (partials)", shape);
  decode_combine_kernel<<<dim3(static_cast<unsigned>(dims.H), static_cast<unsigned>(dims.B)), kThreads, 0,
                          stream>>>(out, partials, dims, splits);
  check_launch("attention_decode (combine)", shape);
}

}  // namespace alibi::cuda
