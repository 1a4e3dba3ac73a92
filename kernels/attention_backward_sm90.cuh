// Backward attention for Hopper (sm_90a), tiles of D = 64 or 128 columns (D =
// 80 and 96 in 128-column tiles; the default backward there; attention.cu chooses).
//
// The steps of the portable backward (attention_backward_sm80.cuh):
//   1. delta_i = dO_i . O_i and lse_i in log2 units, in padded rows
//      (Sm90RowStats; row_stats_sm90_kernel);
//   2. attention_dkdv_sm90_kernel: a CTA per (128-key block, b, h); the two
//      consumer warpgroups own 64 keys each and accumulate dK and dV in
//      registers over 64-row tiles of Q and dO (query rows >= the block's
//      first key), which the producer warp streams by TMA, with the tile's
//      lse and delta rows, through an mbarrier ring:
//        S^T  = K Q^T                (wgmma; Q from shared memory, K from
//                                     registers at D = 64, else shared memory)
//        P^T  = exp2(S^T * scale*log2e + bias - lse*log2e)   (saved lse)
//        dP^T = V dO^T               (as S^T)
//        dS^T = P^T * (dP^T - delta)
//        dV  += P^T dO               (P^T registers, dO the MN-major B operand)
//        dK  += dS^T Q               (dS^T registers, Q MN-major)
//      dK is scaled by 1/sqrt(D) once at the end;
//   3. dQ = dS K, either
//      - fused into step 2 (the default): the warpgroups exchange dS^T through
//        shared memory, each multiplies the block's 128 keys of dS by K for
//        half of the columns and adds that part into an fp32 accumulator by
//        a bulk reduction in the L2, converted to bf16 afterwards; the order
//        of the additions varies from run to run; or
//      - deterministic: attention_dq_sm90_kernel, a CTA per (128-query block,
//        b, h) whose consumers own 64 queries each and accumulate dQ over
//        64-key tiles of K and V (S = Q K^T, P, dP = dO V^T, dS, dQ += dS K),
//        every element summed by one thread in a fixed order.
// Conventions of the forward (attention_forward_sm90.cuh): log2-domain scores,
// the ALiBi bias from indices in fp32 registers, the causal mask only on
// tiles that cross a warpgroup's diagonal, rows past T masked through
// lse = +inf (probability exactly 0) and never written.
#pragma once

#include <cuda.h>

#include "kernels/alibi_score.cuh"
#include "kernels/attention_sm90_pipeline.cuh"
#include "kernels/attention_tiles.cuh"
#include "kernels/attention_traits.cuh"
#include "kernels/tma.cuh"
#include "kernels/wgmma.cuh"

namespace alibi::cuda {

// Shared memory, in bytes from a 1024-byte aligned base: the two owned
// blocks (K and V, or Q and dO), each kBoxes boxes of kBlock rows; the
// stages of the two streamed tiles (Q and dO, or K and V); per stage the
// tile's lse (log2 units) and delta; then the mbarriers.
template <class Tr>
struct Sm90BackwardSmem {
  static constexpr int kOwnedBox = Tr::kBlock * Tr::kRowBytes;
  static constexpr int kOwnedBytes = Tr::kBoxes * kOwnedBox;
  static constexpr int kStreamBox = Tr::kStream * Tr::kRowBytes;
  static constexpr int kStreamBytes = Tr::kBoxes * kStreamBox;
  static constexpr int kOwnedA = 0;
  static constexpr int kOwnedB = kOwnedA + kOwnedBytes;
  static constexpr int kStreamA = kOwnedB + kOwnedBytes;
  static constexpr int kStreamB = kStreamA + Tr::kStages * kStreamBytes;
  // dS of the fused kernel (dK/dV with dQ): two buffers of kBlock key rows
  // by kStream queries, bf16, 128-byte swizzled (the transposed A of dQ).
  static constexpr int kDsBytes = Tr::kBlock * Tr::kStream * 2;
  static constexpr int kDs = kStreamB + Tr::kStages * kStreamBytes;
  // Each consumer's dQ part of a tile (kStream rows by D / kDqColumnParts
  // columns), fp32, staged for the bulk reduction. By columns: two buffers
  // [tile % 2][consumer], so that staging one tile's part need not wait for
  // the reduction of the previous one; by turns: one per consumer (its
  // previous reduction was issued two tiles before).
  static constexpr int kDqPartBytes = Tr::kStream * (Tr::kHeadDim / Tr::kDqColumnParts) * 4;
  static constexpr int kDqPartBuffers = (Tr::kDqColumnParts == 1 ? 1 : 2) * Tr::kConsumers;
  static constexpr int kDqParts = kDs + 2 * kDsBytes;
  static constexpr int kStats = kDqParts + kDqPartBuffers * kDqPartBytes;  // float [stage][2][kStream]
  static constexpr int kBarriers = kStats + Tr::kStages * 2 * Tr::kStream * 4;
  static constexpr int kBarrierCount = StageRing<Tr::kStages, 1>::kCount;
  static constexpr size_t bytes() { return size_t(kBarriers) + 8 * kBarrierCount + 1024; }
  static_assert(kStreamBox % 1024 == 0 && kOwnedBox % 1024 == 0, "swizzle atoms stay aligned");
  static_assert(bytes() <= kSm90SharedMemoryLimit, "shared memory of one CTA on sm_90");
};

// The backward's ring (attention_sm90_pipeline.cuh): the owned blocks once
// (one arrival plus the bytes); one stream whose stage holds both tiles and
// their statistics; an empty barrier takes one arrival per consumer thread
// (an arrival releases only its own thread's reads of the stage, such as
// the statistics read with plain loads, before the producer overwrites it).
template <class Tr>
struct Sm90BackwardBarriers : StageRing<Tr::kStages, 1> {
  using Ring = StageRing<Tr::kStages, 1>;
  __device__ explicit Sm90BackwardBarriers(uint64_t* base) : Ring{base} {}
  __device__ uint64_t* owned_full() const { return Ring::once(); }
  __device__ uint64_t* full(int s) const { return Ring::full(0, s); }
  __device__ uint64_t* empty(int s) const { return Ring::empty(0, s); }
  __device__ void init() const { Ring::init(128 * Tr::kConsumers); }
};

// The per-row statistics as the Hopper backward reads them: for each (b, h)
// a row of t_pad = T rounded up to 64 floats, lse in log2 units and delta,
// with lse = +inf and delta = 0 past T (probability exactly 0); a 64-row
// tile of either is one aligned 256-byte bulk copy.
struct Sm90RowStats {
  const float* lse_log2;  // [B * H, t_pad]
  const float* delta;     // [B * H, t_pad]
  int64_t t_pad;
  __host__ __device__ static int64_t padded(int64_t T) { return (T + 63) / 64 * 64; }
};

// The order of the backward's CTAs: a 1-D grid of B * H * blocks CTAs, the
// heads taken in groups of heads_per_group; within a group, block index
// major and head minor. With the x-fastest launch order, a group's longest
// CTAs start first, and the CTAs running at once read the Q, dO (and add
// into the dQ rows) of a few heads, which stay in L2. (Block-major over all
// heads, the earlier order, had every resident CTA stream a different head
// once B * H came near the number of SMs: at L = 2048, B * H = 128 on 132
// SMs, DRAM-bound.)
struct Sm90BackwardGrid {
  int64_t heads;  // B * H
  int blocks;     // ceil(T / kBlock)
  int heads_per_group;
  __host__ __device__ int64_t ctas() const { return heads * blocks; }
  // The (b * H + h, block) of CTA `linear`.
  __device__ void locate(int64_t linear, int64_t& bh, int& block) const {
    const int64_t group_ctas = int64_t(heads_per_group) * blocks;
    const int64_t group = linear / group_ctas, first_head = group * heads_per_group;
    const int64_t in_group = linear % group_ctas;
    const int64_t group_heads = heads - first_head < heads_per_group ? heads - first_head : heads_per_group;
    block = int(in_group / group_heads);
    bh = first_head + in_group % group_heads;
  }
};

struct Sm90BackwardArgs {
  bf16* dqkv;
  float* dq_accum;  // fp32, zeroed: the fused kernel adds dS K into it (DqAccumLayout)
  Sm90RowStats stats;
  const float* slopes;
  HeadLayout layout;
  Sm90BackwardGrid grid;
};

// Where both backward kernels' CTAs start: the shared memory and its ring
// (initialized: the constructor synchronizes the block), the (b, h) and block
// index of this CTA in the grid's order, and the head's q, k, v and dout as
// the TMA sees them.
template <class Tr>
struct BackwardCta {
  unsigned char* smem;
  Sm90BackwardBarriers<Tr> bar;
  int b, h, block;
  TileSource q, k, v, dout;

  __device__ BackwardCta(unsigned char* smem_raw, const CUtensorMap* qkv_map, const CUtensorMap* dout_map,
                         const Sm90BackwardArgs& args)
      : smem(aligned_shared_base(smem_raw)),
        bar(reinterpret_cast<uint64_t*>(smem + Sm90BackwardSmem<Tr>::kBarriers)) {
    const int H = int(args.layout.H);
    int64_t bh;
    args.grid.locate(blockIdx.x, bh, block);
    b = int(bh / H), h = int(bh % H);
    const int row_base = b * int(args.layout.T);
    q = {qkv_map, h, row_base}, k = {qkv_map, H + h, row_base}, v = {qkv_map, 2 * H + h, row_base};
    dout = {dout_map, h, row_base};
    if (threadIdx.x == 0) bar.init();
    __syncthreads();
  }
};

// The producer warp (lane 0 issues the copies): the owned blocks once, then
// the streamed tiles first_row + 64 * tile, and with kStats each tile's lse
// and delta rows (stats_lse, stats_delta: this head's padded rows).
template <class Tr, bool kStats>
__device__ void produce_backward(unsigned char* smem, const Sm90BackwardBarriers<Tr>& bar,
                                 const TileSource& owned_a, const TileSource& owned_b,
                                 int owned_row, const TileSource& stream_a,
                                 const TileSource& stream_b, int first_row, int n_tiles,
                                 const float* stats_lse, const float* stats_delta) {
  using Smem = Sm90BackwardSmem<Tr>;
  if (threadIdx.x % 32 != 0) return;
  tma::prefetch_map(owned_a.map);
  tma::prefetch_map(owned_b.map);
  tma::prefetch_map(stream_b.map);  // dout (dK/dV) or qkv (dQ); a hint only
  tma::arrive_expect_bytes(bar.owned_full(), 2 * Smem::kOwnedBytes);
  load_rows_sm90<Tr, Tr::kBlock>(smem + Smem::kOwnedA, Smem::kOwnedBox, owned_a, bar.owned_full(),
                                 owned_row);
  load_rows_sm90<Tr, Tr::kBlock>(smem + Smem::kOwnedB, Smem::kOwnedBox, owned_b, bar.owned_full(),
                                 owned_row);
  constexpr uint32_t kStatBytes = Tr::kStream * sizeof(float);
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int stage = bar.stage_of(tile), row = first_row + tile * Tr::kStream;
    bar.wait_free(0, tile);
    tma::arrive_expect_bytes(bar.full(stage), 2 * Smem::kStreamBytes + (kStats ? 2 * kStatBytes : 0));
    load_rows_sm90<Tr, Tr::kStream>(smem + Smem::kStreamA + stage * Smem::kStreamBytes,
                                    Smem::kStreamBox, stream_a, bar.full(stage), row);
    load_rows_sm90<Tr, Tr::kStream>(smem + Smem::kStreamB + stage * Smem::kStreamBytes,
                                    Smem::kStreamBox, stream_b, bar.full(stage), row);
    if constexpr (kStats) {
      float* s_lse = reinterpret_cast<float*>(smem + Smem::kStats) + stage * 2 * Tr::kStream;
      tma::load_bulk(s_lse, stats_lse + row, kStatBytes, bar.full(stage));
      tma::load_bulk(s_lse + Tr::kStream, stats_delta + row, kStatBytes, bar.full(stage));
    }
  }
}

// A warpgroup's 64 rows of an owned block (K or V, Q or dO) as the A operand
// of a product over the head dim with a streamed tile: read by every wgmma
// from shared memory, or (Tr::kOwnedInRegisters) loaded once into
// registers as A fragments (ldmatrix from the 128-byte swizzled boxes).
template <class Tr, bool kInRegisters = Tr::kOwnedInRegisters>
struct OwnedRows {
  static constexpr int kSlices = kInRegisters ? Tr::kHeadDim / 16 : 1;
  uint32_t addr;  // the warpgroup's first row in the block's first box
  uint32_t frag[kSlices][4];

  __device__ explicit OwnedRows(uint32_t wg_rows_addr) : addr(wg_rows_addr) {}

  // After the owned blocks have landed.
  __device__ __forceinline__ void load() {
    if constexpr (kInRegisters) {
      using Smem = Sm90BackwardSmem<Tr>;
      const int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4;
      // ldmatrix matrices 0..3: rows 0-7 / 8-15 of the warp's 16, low / high 8 columns.
      const int row = 16 * warp + lane % 8 + 8 * ((lane / 8) % 2);  // from addr, a multiple of 8 rows
#pragma unroll
      for (int k = 0; k < kSlices; ++k) {
        const int chunk = 2 * (k % 4) + lane / 16;
        const uint32_t a = addr + (k / 4) * Smem::kOwnedBox + row * Tr::kRowBytes + ((chunk ^ (row % 8)) * 16);
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(frag[k][0]), "=r"(frag[k][1]), "=r"(frag[k][2]), "=r"(frag[k][3])
                     : "r"(a));
      }
    }
  }

  // D[64 x N] = these rows times the streamed tile's rows (b_addr, boxes
  // b_box apart), both K-major. Issues only: the caller fences and commits.
  template <int N>
  __device__ __forceinline__ void issue_times_rows(float (&d)[N / 8][4], uint32_t b_addr, int b_box) const {
    using Smem = Sm90BackwardSmem<Tr>;
#pragma unroll
    for (int k = 0; k < Tr::kDataDim / 16; ++k) {  // columns past the head's D are zeros
      const uint32_t box = k / 4, within = (k % 4) * 32;
      const uint64_t db = wgmma::desc_sw128(b_addr + box * b_box + within, 16, 1024);
      if constexpr (kInRegisters) {
        wgmma::mma_rs<N, 0>(d, frag[k], db, k > 0);
      } else {
        const uint64_t da = wgmma::desc_sw128(addr + box * Smem::kOwnedBox + within, 16, 1024);
        wgmma::mma_ss<N, 0>(d, da, db, k > 0);
      }
    }
  }
};

// D[64 x D] += A[64 x kStream] B with A in registers and B a streamed tile
// (kStream rows of D columns) read as the MN-major operand.
template <class Tr>
__device__ __forceinline__ void issue_regs_cols(float (&d)[Tr::kHeadDim / 8][4],
                                                const uint32_t (&a)[Tr::kStream / 16][4],
                                                uint32_t b_addr) {
  using Smem = Sm90BackwardSmem<Tr>;
#pragma unroll
  for (int k = 0; k < Tr::kStream / 16; ++k) {
    const uint64_t db = wgmma::desc_sw128(b_addr + k * 2048, Smem::kStreamBox, 1024);
    wgmma::mma_rs<Tr::kHeadDim, 1>(d, a[k], db, 1);
  }
}

}  // namespace alibi::cuda
