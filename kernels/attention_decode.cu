#include "cuda/cuda_check.cuh"
#include "kernels/attention_decode.cuh"
#include "kernels/attention_decode_split.cuh"
#include "kernels/common.cuh"
#include "kernels/dependent_launch.cuh"

#include <cmath>
#include <type_traits>

namespace alibi::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMinKeysPerSplit = 64;  // below this a block's fixed costs dominate
constexpr int kMaxKeysPerSplit = 1024;
constexpr int kBlocksPerSm = 4;

// Enough splits for kBlocksPerSm blocks on every SM (a long row then streams
// through many blocks at once), in powers of two between kMinKeysPerSplit and
// kMaxKeysPerSplit keys.
int64_t keys_per_split(const KvCacheDims& s) {
  const int64_t blocks = int64_t{kBlocksPerSm} * multiprocessor_count();
  const int64_t wanted = (s.L * s.B * s.H + blocks - 1) / blocks;
  int64_t keys = kMinKeysPerSplit;
  while (keys < wanted && keys < kMaxKeysPerSplit) keys *= 2;
  return keys;
}

int64_t split_count(const KvCacheDims& s) {
  const int64_t keys = keys_per_split(s);
  return (s.L + keys - 1) / keys;
}

// A split's result: the max score m (log2 units), the sum l of exp2(s - m)
// and the values weighted by exp2(s - m), D of them: D + 2 floats.
__device__ __forceinline__ float* partial_at(float* workspace, int64_t b, int64_t h, int64_t split, int64_t H,
                                             int64_t splits, int64_t D) {
  return workspace + ((b * H + h) * splits + split) * (D + 2);
}

__global__ void kv_cache_write_kernel(bf16* k_cache, bf16* v_cache, const bf16* qkv, const int32_t* starts,
                                      int64_t T, KvCacheDims s) {
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
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

// After every kernel before it: the step's attention read the lengths.
__global__ void kv_cache_advance_kernel(int32_t* lengths, int64_t B, int32_t added) {
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b < B) lengths[b] += added;
}

// One split of one (row, head) a block: blockIdx = (split, head, row). The
// row's length was set before the step and the cached keys and values before
// this launch, so the split's first round loads before the wait for the
// kernel before (which writes the token's q, k and v).
template <int kD>
__device__ void score_split_of_block(float* workspace, const bf16* qkv, bf16* k_cache, bf16* v_cache,
                                     const int32_t* lengths, const float* slopes, const KvCacheDims& s,
                                     int64_t keys_per_split, int64_t splits) {
  const int64_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int64_t n = min(max(static_cast<int64_t>(lengths[b]), int64_t{0}), s.L);
  const int64_t begin = split * keys_per_split, end = min(begin + keys_per_split, n);
  const int64_t head = (b * s.H + h) * s.L * kD;
  const auto first_round = preload_decode_split<kD, kThreads>(k_cache + head, v_cache + head, n, begin, end);
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
  score_decode_split<kD, kThreads>(partial_at(workspace, b, h, split, s.H, splits, kD),
                                   qkv + b * 3 * s.H * kD + h * kD, k_cache + head, v_cache + head, s.H * kD, n, begin,
                                   end, slopes[h], first_round, /*first_round_loaded=*/true);
}

// Whether this block is the last of its (row, head) to leave its partial:
// that one combines them. Each split counts itself in once its partial is
// visible device-wide; the last resets the count for the next launch.
__device__ bool last_split_done(int* counter, int64_t splits) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(counter, 1) == splits - 1;
    if (last) *counter = 0;  // every split of this launch has counted
  }
  __syncthreads();
  return last;
}

// The splits' partials of (b, h) merged, in split order (the same bits
// whichever block does it), read past L1 (other blocks wrote them): the
// maxima first, then a chunk of kThreads splits at a time, each split's
// weight in shared memory and the values' loads many in flight.
__device__ void combine_splits(bf16* out, const float* workspace, const KvCacheDims& s, int64_t splits, int64_t b,
                               int64_t h) {
  constexpr int kMaxChannelsPerThread = 256 / kThreads;  // D <= 256
  __shared__ float weight[kThreads];
  __shared__ float scratch[kWarp];
  const int64_t D = s.D, stride = D + 2;
  const float* first = workspace + (b * s.H + h) * splits * stride;
  float m = -INFINITY;
  for (int64_t k = threadIdx.x; k < splits; k += kThreads) m = fmaxf(m, __ldcg(first + k * stride));
  m = block_max(m, scratch);
  float l = 0.f, v[kMaxChannelsPerThread] = {};
  for (int64_t k0 = 0; k0 < splits; k0 += kThreads) {
    const int64_t k = k0 + threadIdx.x;
    float w = 0.f;
    if (k < splits && m > -INFINITY) {
      const float part_max = __ldcg(first + k * stride);
      w = part_max > -INFINITY ? exp2f(part_max - m) : 0.f;
      l += w * __ldcg(first + k * stride + 1);
    }
    weight[threadIdx.x] = w;
    __syncthreads();
    const int64_t chunk = min(static_cast<int64_t>(kThreads), splits - k0);
#pragma unroll
    for (int c = 0; c < kMaxChannelsPerThread; ++c) {
      const int64_t d = threadIdx.x + c * kThreads;
      if (d >= D) break;
      const float* values = first + k0 * stride + 2 + d;
#pragma unroll 8
      for (int64_t j = 0; j < chunk; ++j) v[c] = fmaf(weight[j], __ldcg(values + j * stride), v[c]);
    }
    __syncthreads();  // weight is the next chunk's
  }
  l = block_sum(l, scratch);
#pragma unroll
  for (int c = 0; c < kMaxChannelsPerThread; ++c) {
    const int64_t d = threadIdx.x + c * kThreads;
    if (d < D) out[b * s.H * D + h * D + d] = __float2bfloat16_rn(l > 0.f ? v[c] / l : 0.f);
  }
}

// One split of one (row, head) a block; the last of a (row, head)'s splits
// to finish combines them, so a decode step's attention is one launch.
template <int kD>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)  // keys_per_split() counts on kBlocksPerSm an SM
    decode_kernel(bf16* out, float* workspace, int* counters, const bf16* qkv, bf16* k_cache, bf16* v_cache,
                  const int32_t* lengths, const float* slopes, KvCacheDims s, int64_t keys_per_split, int64_t splits) {
  score_split_of_block<kD>(workspace, qkv, k_cache, v_cache, lengths, slopes, s, keys_per_split, splits);
  const int64_t h = blockIdx.y, b = blockIdx.z;
  if (last_split_done(counters + b * s.H + h, splits)) combine_splits(out, workspace, s, splits, b, h);
}

}  // namespace

void kv_cache_write(bf16* k_cache, bf16* v_cache, const bf16* qkv, const int32_t* starts, int64_t T,
                    KvCacheDims dims, cudaStream_t stream) {
  const int64_t n = dims.B * T * dims.H * dims.D;
  if (n == 0) return;
  launch_dependent(kv_cache_write_kernel, dim3(blocks_for(n, 256)), dim3(256), 0, stream, k_cache, v_cache, qkv, starts,
                   T, dims);
  check_launch("kv_cache_write", {{"B", dims.B}, {"T", T}, {"H", dims.H}, {"L", dims.L}, {"D", dims.D}});
}

void kv_cache_advance(int32_t* lengths, int64_t B, int64_t added, cudaStream_t stream) {
  if (B == 0) return;
  launch_dependent(kv_cache_advance_kernel, dim3(blocks_for(B, 256)), dim3(256), 0, stream, lengths, B,
                   static_cast<int32_t>(added));
  check_launch("kv_cache_advance", {{"B", B}, {"added", added}});
}

size_t attention_decode_workspace_bytes(KvCacheDims dims) {
  return static_cast<size_t>(dims.B * dims.H * split_count(dims) * (dims.D + 2)) * sizeof(float);
}

void attention_decode(bf16* out, const bf16* qkv, bf16* k_cache, bf16* v_cache, const int32_t* lengths,
                      const float* slopes, KvCacheDims dims, void* workspace, size_t workspace_bytes, int* counters,
                      cudaStream_t stream) {
  const Dims shape = {{"B", dims.B}, {"H", dims.H}, {"L", dims.L}, {"D", dims.D}};
  if (!decode_head_dim_supported(dims.D))
    throw_cuda_error("attention_decode", shape, "head dim must be one of 32, 64, 80, 96, 128, 256");
  if (workspace_bytes < attention_decode_workspace_bytes(dims))
    throw_cuda_error("attention_decode", shape, "workspace too small");
  for (const void* p : {static_cast<const void*>(qkv), static_cast<const void*>(k_cache),
                        static_cast<const void*>(v_cache)})
    if (!aligned16(p)) throw_cuda_error("attention_decode", shape, "bf16 tensors must be 16-byte aligned");
  const int64_t keys = keys_per_split(dims), splits = split_count(dims);
  float* partials = static_cast<float*>(workspace);
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(dims.H), static_cast<unsigned>(dims.B));
  dispatch_decode_head_dim(dims.D, [&](auto head_dim) {
    launch_dependent(decode_kernel<decltype(head_dim)::value>, grid, dim3(kThreads), 0, stream, out, partials, counters,
                     qkv, k_cache, v_cache, lengths, slopes, dims, keys, splits);
  });
  check_launch("attention_decode", shape);
}

}  // namespace alibi::cuda
