#include "cuda/cuda_check.cuh"
#include "kernels/attention_decode.cuh"
#include "kernels/alibi_score.cuh"
#include "kernels/common.cuh"
#include "kernels/dependent_launch.cuh"

#include <cmath>
#include <type_traits>

namespace alibi::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kVec = 8;              // bf16 channels in one 16-byte load
constexpr int kMinKeysPerSplit = 64;  // below this a block's fixed costs dominate
constexpr int kMaxKeysPerSplit = 1024;
constexpr int kBlocksPerSm = 4;

// How a block of kThreads walks the keys of one split, for head dim kD: each
// key is read by a team of kLanes lanes, kVec channels a lane (kD = 80 and
// 96 leave some lanes of a 16-lane team idle); the block's kTeams teams take
// kTeams consecutive keys, kUnroll rounds of them in flight per iteration.
template <int kD>
struct DecodeTraits {
  static_assert(kD % kVec == 0 && kD <= 32 * kVec, "head dim: a multiple of 8, at most 256");
  static constexpr int kLanes = kD <= 4 * kVec ? 4 : kD <= 8 * kVec ? 8 : kD <= 16 * kVec ? 16 : 32;
  static constexpr int kTeams = kThreads / kLanes;
  static constexpr int kUnroll = 8;  // 16 loads of 16 bytes in flight a lane
  static constexpr int kKeysPerIteration = kTeams * kUnroll;
};

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

// One split of one (row, head): an online softmax per team over its keys,
// then the teams merged through shared memory, into the split's partial.
template <int kD>
__device__ void score_split(float* workspace, const bf16* qkv, bf16* k_cache, bf16* v_cache, const int32_t* lengths,
                            const float* slopes, const KvCacheDims& s, int64_t keys_per_split, int64_t splits) {
  using Tr = DecodeTraits<kD>;
  __shared__ float team_max[Tr::kTeams], team_sum[Tr::kTeams];
  __shared__ float team_values[Tr::kTeams][Tr::kLanes * kVec];
  const int64_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int lane = threadIdx.x % Tr::kLanes, team = threadIdx.x / Tr::kLanes;
  const bool has_channels = lane * kVec < kD;
  const int64_t n = min(max(static_cast<int64_t>(lengths[b]), int64_t{0}), s.L);
  const int64_t begin = split * keys_per_split, end = min(begin + keys_per_split, n);
  float* out = partial_at(workspace, b, h, split, s.H, splits, kD);
  if (begin >= end) {  // past the row's keys: a split that weighs nothing
    for (int d = threadIdx.x; d < kD + 2; d += kThreads) out[d] = d == 0 ? -INFINITY : 0.f;
    return;
  }
  const AlibiLog2 alibi = AlibiLog2::of(slopes[h], kD);
  const bf16* token = qkv + b * 3 * s.H * kD + h * kD;  // its q; k and v follow at strides of H * D
  float q[kVec] = {};
  if (has_channels) unpack_bf16x8(*reinterpret_cast<const uint4*>(token + lane * kVec), q);
  const int64_t head = (b * s.H + h) * s.L * kD + lane * kVec;
  if (end == n) {  // this split holds the newest position: append the token's key and value first
    if (team == 0 && has_channels) {
      const int64_t at = head + (n - 1) * kD;
      *reinterpret_cast<uint4*>(k_cache + at) = *reinterpret_cast<const uint4*>(token + s.H * kD + lane * kVec);
      *reinterpret_cast<uint4*>(v_cache + at) = *reinterpret_cast<const uint4*>(token + 2 * s.H * kD + lane * kVec);
    }
    __syncthreads();  // the block's own writes are visible to its reads below
  }
  const bf16* keys = k_cache + head;
  const bf16* values = v_cache + head;
  float m = -INFINITY, l = 0.f, acc[kVec] = {};
  // Every lane runs the same iterations (the team sums shuffle over the warp).
  for (int64_t first = begin + team; first - team < end; first += Tr::kKeysPerIteration) {
    uint4 k_packed[Tr::kUnroll], v_packed[Tr::kUnroll];
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      const int64_t j = first + u * Tr::kTeams;
      const bool load = has_channels && j < end;
      k_packed[u] = load ? *reinterpret_cast<const uint4*>(keys + j * kD) : make_uint4(0, 0, 0, 0);
      v_packed[u] = load ? *reinterpret_cast<const uint4*>(values + j * kD) : make_uint4(0, 0, 0, 0);
    }
    float score[Tr::kUnroll], step_max = m;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      float k[kVec], dot = 0.f;
      unpack_bf16x8(k_packed[u], k);
#pragma unroll
      for (int i = 0; i < kVec; ++i) dot = fmaf(q[i], k[i], dot);
#pragma unroll
      for (int offset = Tr::kLanes / 2; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
      const int64_t j = first + u * Tr::kTeams;
      // The query is the row's last position, n - 1: rel = j - (n - 1).
      score[u] = j < end ? alibi.score(dot, alibi.bias(float(j - (n - 1)))) : -INFINITY;
      step_max = fmaxf(step_max, score[u]);
    }
    if (step_max == -INFINITY) continue;  // this team had no keys this time
    const float rescale = exp2f(m - step_max);  // 0 while m is -inf
    l *= rescale;
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[i] *= rescale;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      const float p = exp2f(score[u] - step_max);
      float v[kVec];
      unpack_bf16x8(v_packed[u], v);
      l += p;
#pragma unroll
      for (int i = 0; i < kVec; ++i) acc[i] = fmaf(p, v[i], acc[i]);
    }
    m = step_max;
  }
  if (lane == 0) team_max[team] = m, team_sum[team] = l;
#pragma unroll
  for (int i = 0; i < kVec; ++i) team_values[team][lane * kVec + i] = acc[i];
  __syncthreads();
  float block_m = -INFINITY;
  for (int t = 0; t < Tr::kTeams; ++t) block_m = fmaxf(block_m, team_max[t]);
  for (int d = threadIdx.x; d < kD + 1; d += kThreads) {
    float total = 0.f;
    for (int t = 0; t < Tr::kTeams; ++t) {
      const float w = team_max[t] > -INFINITY ? exp2f(team_max[t] - block_m) : 0.f;
      total = fmaf(w, d < kD ? team_values[t][d] : team_sum[t], total);
    }
    if (d < kD) out[2 + d] = total;
    else out[1] = total;
  }
  if (threadIdx.x == 0) out[0] = block_m;
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
__global__ void __launch_bounds__(kThreads)
    decode_kernel(bf16* out, float* workspace, int* counters, const bf16* qkv, bf16* k_cache, bf16* v_cache,
                  const int32_t* lengths, const float* slopes, KvCacheDims s, int64_t keys_per_split, int64_t splits) {
  wait_for_previous_kernels();
  allow_next_kernel_to_start();
  score_split<kD>(workspace, qkv, k_cache, v_cache, lengths, slopes, s, keys_per_split, splits);
  const int64_t h = blockIdx.y, b = blockIdx.z;
  if (last_split_done(counters + b * s.H + h, splits)) combine_splits(out, workspace, s, splits, b, h);
}

// Calls f(std::integral_constant<int, D>{}) for the head dims a model may have.
template <typename F>
void dispatch_decode_head_dim(int64_t D, F&& f) {
  switch (D) {
    case 32: return f(std::integral_constant<int, 32>{});
    case 64: return f(std::integral_constant<int, 64>{});
    case 80: return f(std::integral_constant<int, 80>{});
    case 96: return f(std::integral_constant<int, 96>{});
    case 128: return f(std::integral_constant<int, 128>{});
    case 256: return f(std::integral_constant<int, 256>{});
  }
}

bool decode_head_dim_supported(int64_t D) { return D == 32 || D == 64 || D == 80 || D == 96 || D == 128 || D == 256; }

}  // namespace

void kv_cache_write(bf16* k_cache, bf16* v_cache, const bf16* qkv, const int32_t* starts, int64_t T,
                    KvCacheDims dims, cudaStream_t stream) {
  const int64_t n = dims.B * T * dims.H * dims.D;
  if (n == 0) return;
  launch_dependent(kv_cache_write_kernel, dim3(blocks_for(n, 256)), dim3(256), 0, stream, k_cache, v_cache, qkv, starts,
                   T, dims);
  check_launch("kv_cache_write", {{"B", dims.B}, {"T", T}, {"H", dims.H}, {"L", dims.L}, {"D", dims.D}});
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
