#include <algorithm>
#include <cmath>

#include "cuda/cuda_check.cuh"
#include "kernels/common.cuh"
#include "kernels/cross_entropy.cuh"
#include "kernels/device_info.cuh"
#include "kernels/map.cuh"
#include "kernels/tma.cuh"

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
  // A pack of values with one rescale at most: its max first, then its exps
  // (no branch per element).
  template <int kN>
  __device__ void add(const Pack<bf16, kN>& p) {
    float x[kN];
    float pack_max = m;
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      x[k] = __bfloat162float(p.v[k]);
      pack_max = fmaxf(pack_max, x[k]);
    }
    if (pack_max > m) {
      s *= expf(m - pack_max);
      m = pack_max;
    }
#pragma unroll
    for (int k = 0; k < kN; ++k) s += expf(x[k] - m);
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

// A row whose target is negative (not scored) or out of range (see header):
// its loss is 0 or NaN and its gradient zero. True when the row was one.
__device__ bool finish_unscored_row(float* loss, bf16* x, int32_t target, int64_t V, bool compute_grad) {
  if (target >= 0 && target < V) return false;
  if (threadIdx.x == 0) *loss = target < 0 ? 0.f : NAN;
  if (compute_grad)
    for (int64_t v = threadIdx.x; v < V; v += kThreads) x[v] = __float2bfloat16_rn(0.f);
  return true;
}

// The gradient of a row, as the CPU computes it: scale * (exp(x - m) / sum),
// then minus scale at the target.
struct RowGradient {
  float max, inv_sum, scale;
  int32_t target;
  __device__ RowGradient(MaxSum row, float dloss_scale, int32_t target_index)
      : max(row.m), inv_sum(1.f / row.s), scale(dloss_scale), target(target_index) {}
  __device__ bf16 operator()(int64_t v, float x) const {
    float g = scale * (expf(x - max) * inv_sum);
    if (v == target) g -= scale;
    return __float2bfloat16_rn(g);
  }
};

// Writes the row's gradient over x from the logits at source (x itself, or
// its copy in shared memory), each thread the elements of the first pass.
template <bool kVectorized>
__device__ void write_gradient(bf16* x, const bf16* source, int64_t V, const RowGradient& grad) {
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

// Where a row fits in shared memory (kKeepRow), the first pass keeps it there
// and the gradient pass reads it back from there: the logits come from DRAM
// once instead of twice. Each thread reads back only the elements it stored
// itself, so no barrier is needed between the passes.
template <bool kVectorized, bool kKeepRow>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_kernel(float* losses, bf16* logits, const int32_t* targets, int64_t V, bool compute_grad,
                         float dloss_scale) {
  extern __shared__ __align__(16) unsigned char kept_bytes[];
  bf16* kept = reinterpret_cast<bf16*>(kept_bytes);
  const int64_t n = blockIdx.x;
  bf16* x = logits + n * V;
  const int32_t target = targets[n];
  if (finish_unscored_row(&losses[n], x, target, V, compute_grad)) return;
  // Read before the barrier inside block_merge; pass 2 overwrites it.
  const float target_logit = __bfloat162float(x[target]);

  MaxSum local;
  if (kVectorized) {
    for (int64_t v = threadIdx.x * kVec; v < V; v += kThreads * kVec) {
      const Pack<bf16, kVec> p = *reinterpret_cast<const Pack<bf16, kVec>*>(x + v);
      if constexpr (kKeepRow) *reinterpret_cast<Pack<bf16, kVec>*>(kept + v) = p;
      local.add(p);
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
  if (compute_grad) write_gradient<kVectorized>(x, kKeepRow ? kept : x, V, RowGradient(row, dloss_scale, target));
}

// Hopper's loss with its gradient, for rows kept in shared memory: one thread
// asks the copy engine for the whole row at once, in pieces that each complete
// on their own mbarrier, and the block reduces each piece as it lands. The
// portable kernel has one 16-byte load a thread in flight and so waits on
// memory; here the row's every byte is in flight from the start. Rows of 16-
// byte multiples at 16-byte addresses only (the vectorized case).
constexpr int kPieceBytes = 16 * 1024;
constexpr int kMaxPieces = 8;
constexpr int64_t kMaxKeptRowBytes = 110 * 1024;  // GPT-2's padded 50,304 are 100.6 KB
static_assert(int64_t{kMaxPieces} * kPieceBytes >= kMaxKeptRowBytes, "a kept row's pieces need their barriers");

__global__ void __launch_bounds__(kThreads)
    cross_entropy_bulk_kernel(float* losses, bf16* logits, const int32_t* targets, int64_t V,
                              bool /*compute_grad: always*/, float dloss_scale) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(16) unsigned char kept_bytes[];
  __shared__ uint64_t landed[kMaxPieces];
  const int64_t n = blockIdx.x;
  bf16* x = logits + n * V;
  const int32_t target = targets[n];
  if (finish_unscored_row(&losses[n], x, target, V, /*compute_grad=*/true)) return;

  const int row_bytes = static_cast<int>(V * int64_t{sizeof(bf16)});
  const int pieces = (row_bytes + kPieceBytes - 1) / kPieceBytes;
  if (threadIdx.x == 0) {
    for (int p = 0; p < pieces; ++p) tma::barrier_init(&landed[p], 1);
    tma::barrier_init_fence();
  }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int p = 0; p < pieces; ++p) {
      const int offset = p * kPieceBytes, bytes = min(kPieceBytes, row_bytes - offset);
      tma::arrive_expect_bytes(&landed[p], bytes);
      tma::load_bulk(kept_bytes + offset, reinterpret_cast<const unsigned char*>(x) + offset, bytes, &landed[p]);
    }
  // Read before the barrier inside block_merge; the gradient overwrites it.
  const float target_logit = __bfloat162float(x[target]);

  const auto* packs = reinterpret_cast<const Pack<bf16, kVec>*>(kept_bytes);
  constexpr int kPiecePacks = kPieceBytes / int{sizeof(Pack<bf16, kVec>)};
  const int row_packs = static_cast<int>(V / kVec);
  MaxSum local;
  for (int p = 0; p < pieces; ++p) {
    tma::wait(&landed[p], 0);
    const int end = min(row_packs, (p + 1) * kPiecePacks);
    for (int i = p * kPiecePacks + threadIdx.x; i < end; i += kThreads) local.add(packs[i]);
  }
  const MaxSum row = block_merge(local);
  if (threadIdx.x == 0) losses[n] = row.m + logf(row.s) - target_logit;
  write_gradient</*kVectorized=*/true>(x, reinterpret_cast<const bf16*>(kept_bytes), V,
                                       RowGradient(row, dloss_scale, target));
#endif
}

// The longest row kept in shared memory on this GPU, in bytes (0: none):
// at most 110 KB (GPT-2's padded 50,304 are 100.6 KB), and only as long as
// two blocks of 512 threads still fit an SM, 1024 threads streaming (on
// Hopper's 228 KB; an A100's 164 KB or an sm_86/89 card's 100 KB keep
// shorter rows only). The kept-row kernels opt in to it once per process;
// where that fails, rows are read twice.
int64_t kept_row_limit() {
  static const int64_t limit = [] {
    constexpr int64_t kReservedPerBlock = 2048;  // static + the runtime's 1 KB
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
    for (auto* kernel :
         {cross_entropy_kernel<true, true>, cross_entropy_kernel<false, true>, cross_entropy_bulk_kernel}) {
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
  const auto kept_vectorized = sm90_or_newer() ? cross_entropy_bulk_kernel : cross_entropy_kernel<true, true>;
  const auto kernel = vectorized ? (keep_row ? kept_vectorized : cross_entropy_kernel<true, false>)
                                 : (keep_row ? cross_entropy_kernel<false, true> : cross_entropy_kernel<false, false>);
  const size_t shared = keep_row ? static_cast<size_t>(V) * sizeof(bf16) : 0;
  kernel<<<static_cast<unsigned>(N), kThreads, shared, stream>>>(losses, logits, targets, V, compute_grad,
                                                                dloss_scale);
  check_launch("cross_entropy", {{"N", N}, {"V", V}});
}

}  // namespace alibi::cuda
