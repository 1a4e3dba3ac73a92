#include <algorithm>
#include <cmath>

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/cross_entropy.cuh"
#include "kernels/map.cuh"

namespace alibi::cuda {
namespace {

// One block per row: a row of a 50k vocabulary is ~100 KB of bf16, enough
// work for 512 threads, and the whole reduction stays on one SM.
constexpr int kThreads = 512;
constexpr int kVec = 8;  // 8 bf16 = one 128-bit load

// Running (max, sum of exp(x - max)) over a stream of values: one exp per
// element and a single read of the logits (online softmax).
struct MaxSum {
  float m = -INFINITY, s = 0.f;
  __device__ void add(float x) {
    if (x > m) {
      s = s * expf(m - x) + 1.f;
      m = x;
    } else {
      s += expf(x - m);
    }
  }
};

__device__ MaxSum merge(MaxSum a, MaxSum b) {
  MaxSum r;
  r.m = fmaxf(a.m, b.m);
  if (r.m == -INFINITY) return r;  // both empty
  r.s = a.s * expf(a.m - r.m) + b.s * expf(b.m - r.m);
  return r;
}

// Fixed butterfly over the warp, then warp results merged in warp order:
// deterministic for a given launch shape.
__device__ MaxSum block_merge(MaxSum v) {
  __shared__ float shared_m[kThreads / kWarp], shared_s[kThreads / kWarp];
  __shared__ float result_m, result_s;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    MaxSum other;
    other.m = __shfl_xor_sync(0xffffffffu, v.m, offset);
    other.s = __shfl_xor_sync(0xffffffffu, v.s, offset);
    v = merge(v, other);
  }
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) {
    shared_m[warp] = v.m;
    shared_s[warp] = v.s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    MaxSum total;
    for (int w = 0; w < kThreads / kWarp; ++w) total = merge(total, MaxSum{shared_m[w], shared_s[w]});
    result_m = total.m;
    result_s = total.s;
  }
  __syncthreads();
  return MaxSum{result_m, result_s};
}

// Where a row fits in shared memory (kKeepRow), the first pass keeps it there
// and the gradient pass reads it back from there: the logits come from DRAM
// once instead of twice. Each thread reads back only the elements it stored
// itself, so no barrier is needed between the passes.
template <bool kVectorized, bool kKeepRow>
__global__ void cross_entropy_kernel(float* losses, bf16* logits, const int32_t* targets, int64_t V,
                                     bool compute_grad, float dloss_scale) {
  extern __shared__ __align__(16) unsigned char kept_bytes[];
  bf16* kept = reinterpret_cast<bf16*>(kept_bytes);
  const int64_t n = blockIdx.x;
  bf16* x = logits + n * V;
  const int32_t target = targets[n];
  if (target < 0 || target >= V) {  // not scored, or out of range (see header)
    if (threadIdx.x == 0) losses[n] = target < 0 ? 0.f : NAN;
    if (compute_grad)
      for (int64_t v = threadIdx.x; v < V; v += kThreads) x[v] = __float2bfloat16_rn(0.f);
    return;
  }
  // Read before the barrier inside block_merge; pass 2 overwrites it.
  const float target_logit = __bfloat162float(x[target]);

  MaxSum local;
  if (kVectorized) {
    for (int64_t v = threadIdx.x * kVec; v < V; v += kThreads * kVec) {
      const Pack<bf16, kVec> p = *reinterpret_cast<const Pack<bf16, kVec>*>(x + v);
      if constexpr (kKeepRow) *reinterpret_cast<Pack<bf16, kVec>*>(kept + v) = p;
#pragma unroll
      for (int k = 0; k < kVec; ++k) local.add(__bfloat162float(p.v[k]));
    }
  } else {
    for (int64_t v = threadIdx.x; v < V; v += kThreads) {
      const bf16 xv = x[v];
      if constexpr (kKeepRow) kept[v] = xv;
      local.add(__bfloat162float(xv));
    }
  }
  const MaxSum row = block_merge(local);
  if (threadIdx.x == 0) losses[n] = row.m + logf(row.s) - target_logit;
  if (!compute_grad) return;

  // Gradient, as the CPU computes it: scale * (exp(x - m) / sum), then minus
  // scale at the target.
  const float inv_sum = 1.f / row.s;
  auto grad = [&](int64_t v, float xv) {
    float g = dloss_scale * (expf(xv - row.m) * inv_sum);
    if (v == target) g -= dloss_scale;
    return __float2bfloat16_rn(g);
  };
  const bf16* source = kKeepRow ? kept : x;
  if (kVectorized) {
    for (int64_t v = threadIdx.x * kVec; v < V; v += kThreads * kVec) {
      Pack<bf16, kVec> p = *reinterpret_cast<const Pack<bf16, kVec>*>(source + v);
#pragma unroll
      for (int k = 0; k < kVec; ++k) p.v[k] = grad(v + k, __bfloat162float(p.v[k]));
      *reinterpret_cast<Pack<bf16, kVec>*>(x + v) = p;
    }
  } else {
    for (int64_t v = threadIdx.x; v < V; v += kThreads) x[v] = grad(v, __bfloat162float(source[v]));
  }
}

// The longest row kept in shared memory on this GPU, in bytes (0: none):
// at most 110 KB (GPT-2's padded 50,304 are 100.6 KB), and only as long as
// two blocks of 512 threads still fit an SM, 1024 threads streaming (on
// Hopper's 228 KB; an A100's 164 KB or an sm_86/89 card's 100 KB keep
// shorter rows only). Both kept-row kernels opt in to it once per process;
// where that fails, rows are read twice.
int64_t kept_row_limit() {
  static const int64_t limit = [] {
    constexpr int64_t kMaxKeptRowBytes = 110 * 1024, kReservedPerBlock = 2048;  // static + the runtime's 1 KB
    int device = 0, per_block = 0, per_sm = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) {
      cudaGetLastError();
      return int64_t{0};
    }
    const int64_t bytes = std::min({kMaxKeptRowBytes, int64_t{per_block} - kReservedPerBlock,
                                    int64_t{per_sm} / 2 - kReservedPerBlock});
    if (bytes <= 0) return int64_t{0};
    for (auto* kernel : {cross_entropy_kernel<true, true>, cross_entropy_kernel<false, true>}) {
      if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)) !=
          cudaSuccess) {
        cudaGetLastError();
        return int64_t{0};
      }
      // A hint that the SM's memory go to shared memory (two blocks' rows)
      // rather than L1, which this streaming kernel does not reuse.
      if (cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                               cudaSharedmemCarveoutMaxShared) != cudaSuccess)
        cudaGetLastError();
    }
    return bytes;
  }();
  return limit;
}

}  // namespace

void cross_entropy(float* losses, bf16* logits, const int32_t* targets, int64_t N, int64_t V,
                   bool compute_grad, float dloss_scale, cudaStream_t stream) {
  if (N == 0) return;
  // Rows start 16-byte aligned when the base is and V is a multiple of 8.
  const bool vectorized = V % kVec == 0 && aligned16(logits);
  // Without the gradient there is no second pass to feed.
  const bool keep_row = compute_grad && V * static_cast<int64_t>(sizeof(bf16)) <= kept_row_limit();
  const auto kernel = vectorized ? (keep_row ? cross_entropy_kernel<true, true> : cross_entropy_kernel<true, false>)
                                 : (keep_row ? cross_entropy_kernel<false, true> : cross_entropy_kernel<false, false>);
  const size_t shared = keep_row ? static_cast<size_t>(V) * sizeof(bf16) : 0;
  kernel<<<static_cast<unsigned>(N), kThreads, shared, stream>>>(losses, logits, targets, V, compute_grad,
                                                                dloss_scale);
  check_launch("cross_entropy", {{"N", N}, {"V", V}});
}

}  // namespace alibi::cuda
