#include "kernels/decode_step.cuh"

#include <cuda/atomic>

#include <algorithm>
#include <type_traits>

#include "cuda/cuda_check.cuh"
#include "kernels/argmax_key.cuh"
#include "kernels/attention_decode_split.cuh"
#include "kernels/common.cuh"
#include "kernels/decode_step_schedule.cuh"
#include "kernels/device_info.cuh"
#include "kernels/gelu_math.cuh"
#include "kernels/layernorm_row.cuh"
#include "kernels/tma.cuh"

namespace alibi::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarp;
constexpr int kVec = 8;  // bf16 in 16 bytes
// The weight ring: kSlots bulk copies of up to kSlotBytes in flight a block,
// enough bytes in flight for an SM's share of the bandwidth.
constexpr int kSlots = 4;
constexpr uint32_t kSlotBytes = 40 * 1024;
constexpr size_t kMaxRowBytes = 48 * 1024;  // the staged input rows of a phase
constexpr size_t kDynamicShared = kSlots * size_t{kSlotBytes} + kMaxRowBytes;
constexpr long long kBarrierTimeoutCycles = 1ll << 34;  // ~10 s at 1.7 GHz

// Counters the blocks share: zero before the first step, and left so.
struct Sync {
  unsigned int arrived;     // blocks at the current grid barrier
  unsigned int generation;  // grid barriers passed since the workspace was made (wraps)
  unsigned int done;        // blocks past the LM head
  unsigned int unused;
  unsigned long long best[kDecodeStepMaxRows];  // each row's best argmax_key so far
};

// The step's activations, written and read by different blocks within the
// launch (so read with __ldcg, past the SM's own L1).
struct Buffers {
  Sync* sync;
  bf16 *x, *mid, *qkv, *hidden;  // [B,C], [B,C], [B,3C], [B,F]
  float* partials;               // [B,H,splits,D+2], attention_decode_split.cuh's partials
  int64_t splits;                // a (row, head)'s attention splits
};

// Matrix `which` of a layer (decode_step_schedule.cuh's order), or the LM head.
__device__ const bf16* weight_of(const DecodeStepModel& m, int64_t layer, int which) {
  if (which == kLmHead) return m.wte;
  const DecodeStepLayer& w = m.layers[layer];
  switch (which) {
    case kQkv: return w.qkv_weight;
    case kProj: return w.proj_weight;
    case kFc: return w.fc_weight;
    default: return w.out_weight;
  }
}

// The weights a block reads, every layer's four matrices and then the LM
// head, as one sequence of chunks through a ring of shared-memory slots:
// thread 0 keeps kSlots chunks in flight, refilling a slot as soon as the
// block is done with it, whatever phase the next chunk belongs to (weights
// never wait for activations).
class WeightRing {
 public:
  __device__ WeightRing(const DecodeStepModel& m, unsigned char* slots, uint64_t* full)
      : m_(m), schedule_(m.n_layer, m.C, m.F, m.V, gridDim.x, blockIdx.x, kSlotBytes), slots_(slots), full_(full) {}

  __device__ void start() {
    if (threadIdx.x == 0) {
      for (int s = 0; s < kSlots; ++s) tma::barrier_init(&full_[s], 1);
      tma::barrier_init_fence();
    }
    __syncthreads();
    if (threadIdx.x == 0)
      for (int64_t c = 0; c < kSlots; ++c) issue(c);
  }

  // f(weights, first output, outputs) for each chunk of this block's share
  // of the matrix, in the schedule's order; every thread of the block calls it.
  template <typename F>
  __device__ void consume(int which, F&& f) {
    const DecodeShare share = schedule_.share(which);
    for (int64_t k = 0; k < share.chunks(); ++k, ++next_) {
      const int slot = static_cast<int>(next_ % kSlots);
      tma::wait(&full_[slot], static_cast<uint32_t>((next_ / kSlots) & 1));
      const int64_t first = k * share.chunk_rows;
      f(reinterpret_cast<const uint4*>(slots_ + slot * size_t{kSlotBytes}), share.first + first,
        min(share.chunk_rows, share.count - first));
      __syncthreads();  // the slot is read: it may be refilled
      if (threadIdx.x == 0) issue(next_ + kSlots);
    }
  }

 private:
  // Chunk c of the schedule into its slot (nothing past the end).
  __device__ void issue(int64_t c) {
    if (c >= schedule_.total()) return;
    const DecodeChunk chunk = schedule_.chunk(c);
    const int64_t inputs = decode_matrix_shape(chunk.which, m_.C, m_.F, m_.V).inputs;
    const uint32_t bytes = static_cast<uint32_t>(chunk.rows * inputs * sizeof(bf16));
    const int slot = static_cast<int>(c % kSlots);
    tma::arrive_expect_bytes(&full_[slot], bytes);
    tma::load_bulk(slots_ + slot * size_t{kSlotBytes}, weight_of(m_, chunk.layer, chunk.which) + chunk.first_row * inputs,
                   bytes, &full_[slot]);
  }

  const DecodeStepModel& m_;
  DecodeSchedule schedule_;
  unsigned char* slots_;
  uint64_t* full_;
  int64_t next_ = 0;
};

// All blocks of the (cooperative, so co-resident) grid meet here; what any
// block wrote before it is visible to every block after it.
class GridBarrier {
 public:
  __device__ explicit GridBarrier(Sync* sync) : sync_(sync) {
    // Safe to read at the start: the count cannot move on before this block arrives.
    if (threadIdx.x == 0) generation_ = counter(sync_->generation).load(::cuda::memory_order_relaxed);
  }
  __device__ void wait() {
    __syncthreads();
    if (threadIdx.x == 0) {
      __threadfence();
      auto arrived = counter(sync_->arrived), generation = counter(sync_->generation);
      if (arrived.fetch_add(1, ::cuda::memory_order_acq_rel) == gridDim.x - 1) {
        arrived.store(0, ::cuda::memory_order_relaxed);
        generation.fetch_add(1, ::cuda::memory_order_release);
      } else {
        // A block that never arrives (a bug) would hang the GPU for good:
        // after seconds, the launch fails instead and the host reports it.
        const long long start = clock64();
        while (generation.load(::cuda::memory_order_acquire) == generation_)
          if (clock64() - start > kBarrierTimeoutCycles) __trap();
      }
      ++generation_;
      __threadfence();
    }
    __syncthreads();
  }

 private:
  static __device__ ::cuda::atomic_ref<unsigned int, ::cuda::thread_scope_device> counter(unsigned int& c) {
    return ::cuda::atomic_ref<unsigned int, ::cuda::thread_scope_device>(c);
  }
  Sync* sync_;
  unsigned int generation_ = 0;  // thread 0's
};

// kRows rows of `inputs` bf16 from global memory into shared memory (rows
// past B as zeros).
template <int kRows>
__device__ void stage_rows(uint4* rows, const bf16* src, int64_t B, int64_t inputs) {
  const int64_t pieces = inputs / kVec;
  for (int64_t i = threadIdx.x; i < kRows * pieces; i += kThreads)
    rows[i] = i / pieces < B ? __ldcg(reinterpret_cast<const uint4*>(src) + i) : make_uint4(0, 0, 0, 0);
  __syncthreads();
}

// The first B staged rows' LayerNorm, in place (layernorm_row.cuh).
template <int kRows>
__device__ void normalise_rows(uint4* rows, int64_t B, int64_t C, const bf16* weight, const bf16* bias, float eps,
                               float* scratch) {
  for (int64_t b = 0; b < B; ++b)
    normalise_shared_row(rows + b * (C / kVec), reinterpret_cast<const uint4*>(weight),
                         reinterpret_cast<const uint4*>(bias), C, eps, scratch);
  __syncthreads();
}

// x_0: the tokens' embeddings (NaN for a token outside the vocabulary, as
// embedding_forward), through the embedding LayerNorm where the model has
// one; block 0 also stores it, the first out-projection's residual.
template <int kRows>
__device__ void stage_embeddings(uint4* rows, const DecodeStepModel& m, const Buffers& buf, float* scratch) {
  const int64_t pieces = m.C / kVec;
  for (int64_t i = threadIdx.x; i < kRows * pieces; i += kThreads) {
    const int64_t b = i / pieces, q = i % pieces;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (b < m.B) {
      const int32_t token = __ldcg(m.tokens + b);
      const unsigned nan2 = 0x7fc07fc0u;  // two bf16 quiet NaNs
      v = token >= 0 && token < m.V ? __ldg(reinterpret_cast<const uint4*>(m.wte + token * m.C) + q)
                                    : make_uint4(nan2, nan2, nan2, nan2);
    }
    rows[i] = v;
  }
  __syncthreads();
  if (m.embed_ln_weight) normalise_rows<kRows>(rows, m.B, m.C, m.embed_ln_weight, m.embed_ln_bias, m.eps, scratch);
  if (blockIdx.x == 0)
    for (int64_t i = threadIdx.x; i < m.B * pieces; i += kThreads) reinterpret_cast<uint4*>(buf.x)[i] = rows[i];
}

// Each output of a chunk of weight rows (in shared memory) against the
// staged input rows: a warp an output, its lanes over the inputs in 16-byte
// pieces, a fixed reduction order; epilogue(b, r, sum) by lane 0 for each
// row b < B and chunk row r.
template <int kRows, typename Epilogue>
__device__ void chunk_products(const uint4* weights, int64_t count, int64_t inputs, const uint4* rows, int64_t B,
                               Epilogue&& epilogue) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t pieces = inputs / kVec;
  for (int64_t r = warp; r < count; r += kWarps) {
    const uint4* w = weights + r * pieces;
    float acc[kRows] = {};
    for (int64_t q = lane; q < pieces; q += kWarp) {
      float wf[kVec];
      unpack_bf16x8(w[q], wf);
#pragma unroll
      for (int b = 0; b < kRows; ++b) {
        float x[kVec];
        unpack_bf16x8(rows[b * pieces + q], x);
#pragma unroll
        for (int k = 0; k < kVec; ++k) acc[b] = fmaf(wf[k], x[k], acc[b]);
      }
    }
#pragma unroll
    for (int b = 0; b < kRows; ++b) acc[b] = warp_sum(acc[b]);
    if (lane == 0)
#pragma unroll
      for (int b = 0; b < kRows; ++b)
        if (b < B) epilogue(b, r, acc[b]);
  }
}

// out = residual + rows W^T + bias for this block's outputs of a layer's
// C-wide product (the out-projection, the MLP's output layer), as matvec's
// residual epilogue rounds it.
template <int kRows>
__device__ void residual_product(WeightRing& ring, DecodeMatrix which, const uint4* rows,
                                 const DecodeStepModel& m, const bf16* bias, const bf16* residual, bf16* out) {
  const int64_t inputs = decode_matrix_shape(which, m.C, m.F, m.V).inputs;
  ring.consume(which, [&](const uint4* weights, int64_t first, int64_t count) {
    chunk_products<kRows>(weights, count, inputs, rows, m.B, [&](int64_t b, int64_t r, float v) {
      const int64_t i = b * m.C + first + r;
      v += to_f32(bias[first + r]);
      out[i] = __float2bfloat16_rn(v + to_f32(__ldcg(residual + i)));
    });
  });
}

// Attention of every row's token over its cache, one split of one (row,
// head) a block at a time (the token's key and value appended by the split
// that holds its position).
template <int kD>
__device__ void attend(const DecodeStepModel& m, const DecodeStepLayer& w, const Buffers& buf) {
  const int64_t S = buf.splits, items = m.B * m.H * S;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int64_t b = item / (m.H * S), h = item / S % m.H, s = item % S;
    const int64_t n = min(max(static_cast<int64_t>(m.lengths[b]), int64_t{0}), m.L);
    const int64_t per = (n + S - 1) / S;
    const int64_t begin = min(n, s * per), end = min(begin + per, n);
    const int64_t head = (b * m.H + h) * m.L * kD;
    score_decode_split<kD, kThreads>(buf.partials + item * (kD + 2), buf.qkv + b * 3 * m.C + h * kD,
                                     w.k_cache + head, w.v_cache + head, m.H * kD, n, begin, end, m.slopes[h]);
  }
}

// The splits' partials merged into the attention output rows [B, C] (bf16,
// in shared memory), a warp a (row, head), in split order.
template <int kD>
__device__ void merge_attention(uint4* rows, const DecodeStepModel& m, const Buffers& buf) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t S = buf.splits, stride = kD + 2;
  bf16* out = reinterpret_cast<bf16*>(rows);
  for (int64_t pair = warp; pair < m.B * m.H; pair += kWarps) {
    const float* part = buf.partials + pair * S * stride;
    float top = -INFINITY;
    for (int64_t s = 0; s < S; ++s) top = fmaxf(top, __ldcg(part + s * stride));
    float l = 0.f, v[(kD + kWarp - 1) / kWarp] = {};
    for (int64_t s = 0; s < S; ++s) {
      const float part_max = __ldcg(part + s * stride);
      const float weight = part_max > -INFINITY ? exp2f(part_max - top) : 0.f;
      l = fmaf(weight, __ldcg(part + s * stride + 1), l);
#pragma unroll
      for (int i = 0; i < (kD + kWarp - 1) / kWarp; ++i) {
        const int d = lane + i * kWarp;
        if (d < kD) v[i] = fmaf(weight, __ldcg(part + s * stride + 2 + d), v[i]);
      }
    }
    const int64_t b = pair / m.H, h = pair % m.H;
#pragma unroll
    for (int i = 0; i < (kD + kWarp - 1) / kWarp; ++i) {
      const int d = lane + i * kWarp;
      if (d < kD) out[b * m.C + h * kD + d] = __float2bfloat16_rn(l > 0.f ? v[i] / l : 0.f);
    }
  }
  __syncthreads();
}

// Each block's best candidates into the rows' keys; the last block to finish
// writes the tokens and clears the keys and its count for the next step.
__device__ void finish_greedy(const DecodeStepModel& m, Sync* sync, const unsigned long long* block_best) {
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int64_t b = 0; b < m.B; ++b)
    if (block_best[b]) atomicMax(&sync->best[b], block_best[b]);
  __threadfence();
  if (atomicAdd(&sync->done, 1u) != gridDim.x - 1) return;
  __threadfence();
  for (int64_t b = 0; b < m.B; ++b) m.tokens[b] = argmax_index(atomicExch(&sync->best[b], 0ull));
  atomicExch(&sync->done, 0u);
}

template <int kRows, int kD>
__global__ void __launch_bounds__(kThreads, 1)
    decode_step_kernel(const __grid_constant__ DecodeStepModel m, const Buffers buf) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char shared[];
  __shared__ __align__(8) uint64_t full[kSlots];
  __shared__ float scratch[kWarp];
  __shared__ unsigned long long block_best[kRows];
  uint4* rows = reinterpret_cast<uint4*>(shared + kSlots * size_t{kSlotBytes});
  WeightRing ring(m, shared, full);
  ring.start();
  GridBarrier barrier(buf.sync);
  const int64_t B = m.B, C = m.C, F = m.F;
  for (int64_t l = 0; l < m.n_layer; ++l) {
    const DecodeStepLayer& w = m.layers[l];
    // qkv = LN1(x) W_qkv^T + b
    if (l == 0) stage_embeddings<kRows>(rows, m, buf, scratch);
    else stage_rows<kRows>(rows, buf.x, B, C);
    normalise_rows<kRows>(rows, B, C, w.ln1_weight, w.ln1_bias, m.eps, scratch);
    ring.consume(kQkv, [&](const uint4* weights, int64_t first, int64_t count) {
      chunk_products<kRows>(weights, count, C, rows, B, [&](int64_t b, int64_t r, float v) {
        const int64_t o = first + r;
        buf.qkv[b * 3 * C + o] = __float2bfloat16_rn(v + to_f32(w.qkv_bias[o]));
      });
    });
    barrier.wait();
    attend<kD>(m, w, buf);
    barrier.wait();
    // mid = x + Attn W_proj^T + b
    merge_attention<kD>(rows, m, buf);
    residual_product<kRows>(ring, kProj, rows, m, w.proj_bias, buf.x, buf.mid);
    barrier.wait();
    // hidden = GELU(LN2(mid) W_fc^T + b), GELU of its input as stored in bf16
    stage_rows<kRows>(rows, buf.mid, B, C);
    normalise_rows<kRows>(rows, B, C, w.ln2_weight, w.ln2_bias, m.eps, scratch);
    ring.consume(kFc, [&](const uint4* weights, int64_t first, int64_t count) {
      chunk_products<kRows>(weights, count, C, rows, B, [&](int64_t b, int64_t r, float v) {
        const int64_t o = first + r;
        const float pre = to_f32(__float2bfloat16_rn(v + to_f32(w.fc_bias[o])));
        buf.hidden[b * F + o] = __float2bfloat16_rn(pre * gelu_gate(pre));
      });
    });
    barrier.wait();
    // x = mid + hidden W_out^T + b
    stage_rows<kRows>(rows, buf.hidden, B, F);
    residual_product<kRows>(ring, kOut, rows, m, w.out_bias, buf.mid, buf.x);
    barrier.wait();
  }
  // logits = LNf(x) wte^T, and each row's likeliest token
  stage_rows<kRows>(rows, buf.x, B, C);
  normalise_rows<kRows>(rows, B, C, m.lnf_weight, m.lnf_bias, m.eps, scratch);
  if (threadIdx.x < kRows) block_best[threadIdx.x] = 0;
  __syncthreads();
  const int64_t limit = min(m.greedy_limit, m.V);
  ring.consume(kLmHead, [&](const uint4* weights, int64_t first, int64_t count) {
    chunk_products<kRows>(weights, count, C, rows, B, [&](int64_t b, int64_t r, float v) {
      const int64_t o = first + r;
      const bf16 logit = __float2bfloat16_rn(v);
      m.logits[b * m.V + o] = logit;
      const float value = to_f32(logit);
      if (o < limit && !isnan(value)) atomicMax(&block_best[b], argmax_key(value, o));
    });
  });
  if (limit > 0) finish_greedy(m, buf.sync, block_best);
#endif
}

int padded_rows(int64_t B) { return B <= 1 ? 1 : kDecodeStepMaxRows; }

size_t row_bytes(const DecodeStepModel& m) {
  return static_cast<size_t>(padded_rows(m.B) * std::max(m.C, m.F)) * sizeof(bf16);
}

int64_t split_count(const DecodeStepModel& m) {
  return std::max<int64_t>(1, multiprocessor_count() / std::max<int64_t>(1, m.B * m.H));
}

// The workspace carved: the counters first (the part that must start at zero).
Buffers carve(const DecodeStepModel& m, void* workspace, size_t* total) {
  unsigned char* base = static_cast<unsigned char*>(workspace);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    unsigned char* p = base ? base + at : nullptr;
    at += round_up_256(bytes);
    return p;
  };
  Buffers buf{};
  buf.splits = split_count(m);
  buf.sync = reinterpret_cast<Sync*>(take(sizeof(Sync)));
  buf.x = reinterpret_cast<bf16*>(take(m.B * m.C * sizeof(bf16)));
  buf.mid = reinterpret_cast<bf16*>(take(m.B * m.C * sizeof(bf16)));
  buf.qkv = reinterpret_cast<bf16*>(take(3 * m.B * m.C * sizeof(bf16)));
  buf.hidden = reinterpret_cast<bf16*>(take(m.B * m.F * sizeof(bf16)));
  buf.partials = reinterpret_cast<float*>(take(m.B * m.H * buf.splits * (m.D + 2) * sizeof(float)));
  *total = at;
  return buf;
}

bool head_dim_fused(int64_t D) { return D == 64 || D == 80 || D == 96 || D == 128; }

template <typename F>
void dispatch(const DecodeStepModel& m, F&& f) {
  auto rows = [&](auto head_dim) {
    if (padded_rows(m.B) == 1) return f(std::integral_constant<int, 1>{}, head_dim);
    return f(std::integral_constant<int, kDecodeStepMaxRows>{}, head_dim);
  };
  switch (m.D) {
    case 64: return rows(std::integral_constant<int, 64>{});
    case 80: return rows(std::integral_constant<int, 80>{});
    case 96: return rows(std::integral_constant<int, 96>{});
    case 128: return rows(std::integral_constant<int, 128>{});
  }
}

// The kernel for m's shape, asked once for the shared memory it needs;
// nullptr where the GPU cannot run it: a build whose code for this GPU was
// compiled from PTX older than sm_90 (the kernel's body is empty there), or a
// GPU that refuses the shared memory. Then the step runs op by op.
template <int kRows, int kD>
auto kernel_for() {
  using Kernel = decltype(&decode_step_kernel<kRows, kD>);
  static const Kernel usable = [] {
    const Kernel kernel = decode_step_kernel<kRows, kD>;
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess || attributes.ptxVersion < 90 ||
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(kDynamicShared)) != cudaSuccess) {
      (void)cudaGetLastError();  // the failed query is not the next launch's error
      return Kernel{nullptr};
    }
    return kernel;
  }();
  return usable;
}

size_t shared_bytes(const DecodeStepModel& m) { return kSlots * size_t{kSlotBytes} + row_bytes(m); }

// Whether the GPU runs the kernel: Hopper, cooperative launches, the kernel
// built for it, and a block on every SM at once. A failed query says no (the
// step then runs op by op) rather than throwing.
bool gpu_runs(const DecodeStepModel& m) {
  static const bool hopper_cooperative = [] {  // one GPU a process
    int device = 0, cooperative = 0;
    return sm90_or_newer() && cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device) == cudaSuccess && cooperative;
  }();
  if (!hopper_cooperative) return false;
  int per_sm = 0;
  dispatch(m, [&](auto rows, auto head_dim) {
    const auto kernel = kernel_for<decltype(rows)::value, decltype(head_dim)::value>();
    if (kernel &&
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared_bytes(m)) != cudaSuccess) {
      (void)cudaGetLastError();
      per_sm = 0;
    }
  });
  return per_sm >= 1;
}

bool aligned(const void* p) { return p == nullptr || aligned16(p); }

bool pointers_aligned(const DecodeStepModel& m) {
  for (const void* p : {static_cast<const void*>(m.wte), static_cast<const void*>(m.embed_ln_weight),
                        static_cast<const void*>(m.embed_ln_bias), static_cast<const void*>(m.lnf_weight),
                        static_cast<const void*>(m.lnf_bias)})
    if (!aligned(p)) return false;
  for (int64_t l = 0; l < m.n_layer; ++l) {
    const DecodeStepLayer& w = m.layers[l];
    for (const void* p : {static_cast<const void*>(w.ln1_weight), static_cast<const void*>(w.ln1_bias),
                          static_cast<const void*>(w.qkv_weight), static_cast<const void*>(w.proj_weight),
                          static_cast<const void*>(w.ln2_weight), static_cast<const void*>(w.ln2_bias),
                          static_cast<const void*>(w.fc_weight), static_cast<const void*>(w.out_weight),
                          static_cast<const void*>(w.k_cache), static_cast<const void*>(w.v_cache)})
      if (!aligned(p)) return false;
  }
  return true;
}

}  // namespace

bool decode_step_suits(const DecodeStepModel& m) {
  if (m.B < 1 || m.B > kDecodeStepMaxRows || m.n_layer < 1 || m.n_layer > kDecodeStepMaxLayers) return false;
  if (m.H < 1 || m.C != m.H * m.D || !head_dim_fused(m.D) || m.C % kVec != 0 || m.F % kVec != 0 || m.V < 1 || m.L < 1)
    return false;
  // A weight row fits a slot; the staged rows fit their space.
  if (static_cast<size_t>(std::max(m.C, m.F)) * sizeof(bf16) > kSlotBytes || row_bytes(m) > kMaxRowBytes) return false;
  if (m.V > 0x7fffffff || !pointers_aligned(m)) return false;
  return gpu_runs(m);
}

size_t decode_step_workspace_bytes(const DecodeStepModel& m) {
  size_t total = 0;
  carve(m, nullptr, &total);
  return total;
}

void decode_step(const DecodeStepModel& m, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const Dims shape = {{"B", m.B}, {"C", m.C}, {"H", m.H}, {"F", m.F}, {"V", m.V}, {"L", m.L}};
  if (!decode_step_suits(m)) throw_cuda_error("decode_step", shape, "model or GPU outside the fused decode step");
  size_t needed = 0;
  const Buffers buf = carve(m, workspace, &needed);
  if (workspace_bytes < needed) throw_cuda_error("decode_step", shape, "workspace too small");
  dispatch(m, [&](auto rows, auto head_dim) {
    const auto kernel = kernel_for<decltype(rows)::value, decltype(head_dim)::value>();
    cudaLaunchAttribute cooperative{};
    cooperative.id = cudaLaunchAttributeCooperative;
    cooperative.val.cooperative = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(multiprocessor_count()));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = shared_bytes(m);
    config.stream = stream;
    config.attrs = &cooperative;
    config.numAttrs = 1;
    check_cuda(cudaLaunchKernelEx(&config, kernel, m, buf), "decode_step", shape);
  });
  check_launch("decode_step", shape);
}

}  // namespace alibi::cuda
