// Backward attention for Hopper (sm_90a), tiles of D = 64 or 128 columns (D =
// 80 and 96 in 128-column tiles; the default backward there; attention.cu chooses).
//
// The steps of the portable backward (attention_backward.cuh):
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

#include "kernels/attention_forward_sm90.cuh"  // scores_to_log2, fast_exp2
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
  static constexpr int kBarrierCount = 1 + 2 * Tr::kStages;
  static constexpr size_t bytes() { return size_t(kBarriers) + 8 * kBarrierCount + 1024; }
  static_assert(kStreamBox % 1024 == 0 && kOwnedBox % 1024 == 0, "swizzle atoms stay aligned");
  static_assert(bytes() <= 227 * 1024, "shared memory of one CTA on sm_90");
};

// The mbarriers: owned blocks landed (one arrival plus the bytes); per
// stage, tile landed (one arrival plus the bytes of the tile and its
// statistics) and tile consumed (one arrival per consumer thread: an
// arrival releases only its own thread's reads of the stage, such as the
// statistics read with plain loads, before the producer overwrites it).
template <class Tr>
struct Sm90BackwardBarriers {
  uint64_t* base;
  __device__ uint64_t* owned_full() const { return base; }
  __device__ uint64_t* full(int s) const { return base + 1 + s; }
  __device__ uint64_t* empty(int s) const { return base + 1 + Tr::kStages + s; }
  __device__ void init() const {
    tma::barrier_init(owned_full(), 1);
    for (int s = 0; s < Tr::kStages; ++s) {
      tma::barrier_init(full(s), 1);
      tma::barrier_init(empty(s), 128 * Tr::kConsumers);
    }
    tma::barrier_init_fence();
  }
};

// One tensor as the TMA sees it: a 3-D map {D, parts, B*T} (innermost first)
// with 64 x 1 x 64 boxes; c1 selects the (part, head) column block, row_base
// is b * T.
struct Sm90TileSource {
  const CUtensorMap* map;
  int c1;
  int row_base;
};

// Copies rows [row, row + kRows) of src into kBoxes column boxes at dst
// (box_bytes apart), 64 rows per copy.
template <class Tr, int kRows>
__device__ __forceinline__ void load_rows_sm90(unsigned char* dst, int box_bytes,
                                               const Sm90TileSource& src, uint64_t* bar, int row) {
#pragma unroll
  for (int box = 0; box < Tr::kBoxes; ++box)
#pragma unroll
    for (int r = 0; r < kRows / Tr::kBoxRows; ++r)
      tma::load_3d(dst + box * box_bytes + r * Tr::kBoxRows * Tr::kRowBytes, src.map, bar,
                   box * Tr::kBoxCols, src.c1, src.row_base + row + r * Tr::kBoxRows);
}

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

// The producer warp (lane 0 issues the copies): the owned blocks once, then
// the streamed tiles first_row + 64 * tile, and with kStats each tile's lse
// and delta rows (stats_lse, stats_delta: this head's padded rows).
template <class Tr, bool kStats>
__device__ void produce_backward(unsigned char* smem, const Sm90BackwardBarriers<Tr>& bar,
                                 const Sm90TileSource& owned_a, const Sm90TileSource& owned_b,
                                 int owned_row, const Sm90TileSource& stream_a,
                                 const Sm90TileSource& stream_b, int first_row, int n_tiles,
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
    const int stage = tile % Tr::kStages, round = tile / Tr::kStages;
    const int row = first_row + tile * Tr::kStream;
    if (round > 0) tma::wait(bar.empty(stage), (round - 1) & 1);
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

// ---- dK / dV (and, fused, dQ) --------------------------------------------------

// Stores a warp's 16 key rows of dS^T (bf16 A fragments over the tile's
// kStream queries) into a dS buffer: row = key within the block, 128 bytes
// of queries per row, 16-byte chunk c of row r at chunk c ^ (r % 8) (the
// 128-byte swizzle, as TMA would write it), so that wgmma reads the buffer
// as the M-major A operand of dQ = dS K. Conflict-free: the 8 rows g of a
// store hit 8 distinct chunks.
template <class Tr>
__device__ __forceinline__ void store_ds_rows(unsigned char* ds, int key_row0,
                                              const uint32_t (&dsa)[Tr::kStream / 16][4]) {
  const Lane L;
#pragma unroll
  for (int k = 0; k < Tr::kStream / 16; ++k)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = key_row0 + L.g + 8 * (r % 2), chunk = 2 * k + r / 2;
      *reinterpret_cast<uint32_t*>(ds + row * 128 + ((chunk ^ L.g) * 16) + 4 * L.t) = dsa[k][r];
    }
}

// Orders this thread's generic shared-memory stores before later reads by
// the async proxy (wgmma operands from shared memory).
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// dQ[64 queries x kCols] = dS (the block's kBlock keys, M-major from a dS
// buffer) times K (the owned block, N-major), columns col0.. of the head.
template <class Tr, int kCols>
__device__ __forceinline__ void issue_dq_part(float (&dq)[kCols / 8][4], uint32_t ds_addr,
                                              uint32_t k_owned_addr, int col0) {
  using Smem = Sm90BackwardSmem<Tr>;
  const uint32_t k_cols = k_owned_addr + (col0 / Tr::kBoxCols) * Smem::kOwnedBox +
                          (col0 % Tr::kBoxCols) * 2;
#pragma unroll
  for (int k = 0; k < Tr::kBlock / 16; ++k) {
    const uint64_t da = wgmma::desc_sw128(ds_addr + k * 2048, Smem::kDsBytes, 1024);
    const uint64_t db = wgmma::desc_sw128(k_cols + k * 2048, Smem::kOwnedBox, 1024);
    wgmma::mma_ss<kCols, 1, 1>(dq, da, db, k > 0);
  }
}

// The fused kernel's fp32 dQ accumulator: per (b, h, 64-query tile, column
// part) a block of 64 rows by kCols = D / kParts columns, so that a
// consumer's part of a tile is one contiguous bulk reduction. Within a block, the
// column pair p of row r sits at pair p ^ swizzle(r), which spreads a warp's
// 8 rows over the shared-memory banks when the part is staged; groups of
// 4 pairs (8 floats) stay contiguous and in order.
template <int kD, int kParts>
struct DqAccumLayout {
  static constexpr int kCols = kD / kParts, kPairs = kCols / 2, kRows = 64;
  static constexpr int kBlockFloats = kRows * kCols;
  __host__ __device__ static int64_t tiles(int64_t T) { return (T + kRows - 1) / kRows; }
  __host__ __device__ static int64_t floats(int64_t BH, int64_t T) { return BH * tiles(T) * kRows * kD; }
  __host__ __device__ static int pair_in_row(int r, int pair) { return pair ^ ((4 * (r % 8)) & (kPairs - 1)); }
  // The block of part c (columns c * kCols ..) for rows tile * 64 .. of head bh.
  __host__ __device__ static int64_t block(int64_t bh, int64_t T, int64_t tile, int c) {
    return ((bh * tiles(T) + tile) * kParts + c) * int64_t(kBlockFloats);
  }
};

// Stages this warpgroup's 64 x kCols dQ part (its rows 16w + g + 8 half)
// in the DqAccumLayout block order.
template <class Tr, int kCols>
__device__ __forceinline__ void stage_dq_part(float* part, const float (&dq)[kCols / 8][4]) {
  using Layout = DqAccumLayout<Tr::kHeadDim, Tr::kDqColumnParts>;
  const Lane L;
  const int warp = (threadIdx.x / 32) % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = 16 * warp + L.g + 8 * half;
#pragma unroll
    for (int c = 0; c < kCols / 8; ++c)
      *reinterpret_cast<float2*>(part + r * kCols + 2 * Layout::pair_in_row(r, 4 * c + L.t)) =
          make_float2(dq[c][2 * half], dq[c][2 * half + 1]);
  }
}

// Named barriers of the fused backward's consumers (id 0 is __syncthreads).
struct DqBarrier {
  static constexpr int kExchange = 1;                                  // by columns: both dS^T stored
  __device__ static int staged(int consumer) { return 2 + consumer; }  // a part staged
  __device__ static int ready(int buffer) { return 4 + buffer; }       // by turns: dS^T stored
  __device__ static int free(int buffer) { return 6 + buffer; }        // by turns: dS buffer read
};

// The fused kernel's dQ of one streamed tile: dQ[tile's queries] += dS K
// over the CTA's keys, with dS^T from both consumers through a shared
// buffer (tile % 2) and the product added into the fp32 accumulator block
// `accum` (DqAccumLayout, part 0) by a bulk reduction in the L2 that no one
// waits for until the reduction after next needs its staging buffer.
template <class Tr>
struct FusedDqStep {
  using Smem = Sm90BackwardSmem<Tr>;
  static constexpr int kThreads = 128 * Tr::kConsumers;
  unsigned char* smem;
  int tile, n_tiles, consumer;
  uint32_t k_block;  // the owned K block
  float* accum;

  __device__ unsigned char* ds_buffer() const { return smem + Smem::kDs + (tile % 2) * Smem::kDsBytes; }
  __device__ float* part_buffer(int index) const {
    return reinterpret_cast<float*>(smem + Smem::kDqParts) + index * (Smem::kDqPartBytes / 4);
  }
  __device__ void store_ds(const uint32_t (&dsa)[Tr::kStream / 16][4]) const {
    const int warp = (threadIdx.x / 32) % 4;
    store_ds_rows<Tr>(ds_buffer(), consumer * Tr::kConsumerRows + 16 * warp, dsa);
    fence_proxy_async_shared();
  }
  // Multiplies for columns col0 .. col0 + kCols, stages the product in
  // `part` and has the warpgroup's first thread issue its reduction into
  // accum block `block`.
  template <int kCols>
  __device__ void multiply_and_reduce(int col0, float* part, int block) const {
    float dq[kCols / 8][4];
    wgmma::fence();
    issue_dq_part<Tr, kCols>(dq, tma::smem_addr(ds_buffer()), k_block, col0);
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::fence_operand(dq);
    if (Tr::kDqColumnParts == 1 && tile + 2 < n_tiles)  // the other consumer may refill the buffer
      named_barrier_arrive(DqBarrier::free(tile % 2), kThreads);
    stage_dq_part<Tr, kCols>(part, dq);
    fence_proxy_async_shared();
    named_barrier_sync(DqBarrier::staged(consumer), 128);
    if (threadIdx.x % 128 == 0) {
      constexpr int kBlockFloats = DqAccumLayout<Tr::kHeadDim, Tr::kDqColumnParts>::kBlockFloats;
      tma::bulk_reduce_add_f32(accum + block * kBlockFloats, part, Smem::kDqPartBytes);
      tma::bulk_commit();
    }
  }

  // Every tile, each consumer multiplies for its half of the columns. The
  // dS buffer's previous readers (the products of tile - 2) finished before
  // their warpgroup reached the exchange of tile - 1, which this one has
  // passed; the part buffer [tile % 2][consumer] was last read by the
  // reduction of tile - 2, issued a tile ago, which its issuer checks before
  // the exchange instead of waiting for each reduction it issues.
  __device__ void by_columns(const uint32_t (&dsa)[Tr::kStream / 16][4]) const {
    constexpr int kCols = Tr::kHeadDim / Tr::kConsumers;
    store_ds(dsa);
    if (threadIdx.x % 128 == 0) tma::bulk_wait_read<1>();
    named_barrier_sync(DqBarrier::kExchange, kThreads);
    multiply_and_reduce<kCols>(consumer * kCols, part_buffer((tile % 2) * Tr::kConsumers + consumer), consumer);
  }

  // Consumer tile % 2 multiplies for all columns; the other stores its dS^T
  // and goes on. Before refilling the dS buffer of tile - 2 it waits for
  // that tile's multiplier to have read it (DqBarrier::free); the
  // multiplier's part buffer was last read by its reduction of tile - 2.
  __device__ void by_turns(const uint32_t (&dsa)[Tr::kStream / 16][4]) const {
    static_assert(Tr::kConsumers == 2, "two consumers take turns");
    const int buffer = tile % 2;
    const bool multiplier = consumer == buffer;
    if (!multiplier && tile >= 2) named_barrier_sync(DqBarrier::free(buffer), kThreads);
    store_ds(dsa);
    if (!multiplier) {
      named_barrier_arrive(DqBarrier::ready(buffer), kThreads);
      return;
    }
    if (threadIdx.x % 128 == 0) tma::bulk_wait_read<0>();
    named_barrier_sync(DqBarrier::ready(buffer), kThreads);
    multiply_and_reduce<Tr::kHeadDim>(0, part_buffer(consumer), 0);
  }
};

// One consumer warpgroup: keys key_wg .. key_wg + 63 (this warp: 16 of them).
// kFusedDq: also dQ, without the dQ kernel (FusedDqStep): the warpgroups'
// dS^T go through a shared buffer, and all 128 keys' dS times K is added
// into dq_accum by bulk reductions in the L2 (whose order across CTAs, and
// so the last bits of dQ, vary from run to run).
template <class Tr, bool kFusedDq>
__device__ void consume_dkdv(const Sm90BackwardArgs& a, unsigned char* smem,
                             const Sm90BackwardBarriers<Tr>& bar, int consumer, int64_t b,
                             int64_t h, int n0, int n_tiles) {
  constexpr int kD = Tr::kHeadDim, kM = Tr::kStream;
  using Smem = Sm90BackwardSmem<Tr>;
  const Lane L;
  const int warp = (threadIdx.x / 32) % 4;
  const int key_wg = n0 + consumer * Tr::kConsumerRows;
  const int key0 = key_wg + 16 * warp;  // this warp's first key
  const int head_dim = int(a.layout.D);  // <= kD (sm90_tile_dim)
  const AlibiLog2 alibi = AlibiLog2::of(a.slopes[h], head_dim);
  const uint32_t k_block = tma::smem_addr(smem + Smem::kOwnedA);
  OwnedRows<Tr> k_rows(k_block + consumer * Tr::kConsumerRows * Tr::kRowBytes);
  OwnedRows<Tr> v_rows(tma::smem_addr(smem + Smem::kOwnedB) + consumer * Tr::kConsumerRows * Tr::kRowBytes);
  const uint32_t q_base = tma::smem_addr(smem + Smem::kStreamA);
  const uint32_t do_base = tma::smem_addr(smem + Smem::kStreamB);
  const float* stats = reinterpret_cast<const float*>(smem + Smem::kStats);
  const HeadLayout& lay = a.layout;
  using DqLayout = DqAccumLayout<kD, Tr::kDqColumnParts>;
  const int64_t bh = b * lay.H + h;

  float dk[kD / 8][4], dv[kD / 8][4];
  zero(dk);
  zero(dv);
  tma::wait(bar.owned_full(), 0);
  k_rows.load();
  v_rows.load();
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int stage = tile % Tr::kStages;
    const int m0 = n0 + tile * kM;  // the tile's first query
    tma::wait(bar.full(stage), uint32_t(tile / Tr::kStages) & 1);
    const uint32_t q_addr = q_base + stage * Smem::kStreamBytes;
    const uint32_t do_addr = do_base + stage * Smem::kStreamBytes;
    uint32_t dsa[kM / 16][4];
    // Unless every query of the tile precedes every key of this warpgroup
    // (then its dS^T is 0 and dK, dV gain nothing):
    if (m0 + kM - 1 >= key_wg) {
      float s[kM / 8][4], dp[kM / 8][4];
      wgmma::fence();
      k_rows.issue_times_rows<kM>(s, q_addr, Smem::kStreamBox);
      wgmma::commit();
      v_rows.issue_times_rows<kM>(dp, do_addr, Smem::kStreamBox);
      wgmma::commit();

      // P^T while dP^T is still being computed. Element (c, e) of this thread:
      // key j = key0 + g + 8(e/2), query i = m0 + 8c + 2t + e%2, so
      // j - i = (key0 + g - m0 - 2t) + (8(e/2) - 8c - e%2).
      wgmma::wait<1>();
      wgmma::fence_operand(s);
      const float* s_lse = stats + stage * 2 * kM;
      const float* s_delta = s_lse + kM;
      const bool mask = m0 < key_wg + Tr::kConsumerRows - 1;  // some j > i in the warpgroup's tile
      const int rel0 = key0 + L.g - m0 - 2 * L.t;
      const float bias0 = alibi.bias(float(rel0));
#pragma unroll
      for (int c = 0; c < kM / 8; ++c) {
        const float2 l = *reinterpret_cast<const float2*>(s_lse + 8 * c + 2 * L.t);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int k = 8 * (e / 2) - 8 * c - (e % 2);
          const float v = alibi.score(s[c][e], alibi.bias_after(bias0, float(k))) - (e % 2 ? l.y : l.x);
          s[c][e] = (mask && is_future_key(rel0 + k)) ? 0.f : fast_exp2(v);
        }
      }
      // dV += P^T dO runs while dS^T is formed (P^T in fp32 stays in s for it).
      uint32_t pa[kM / 16][4];
      accumulator_to_a<kM>(pa, s);
      wgmma::fence();
      issue_regs_cols<Tr>(dv, pa, do_addr);
      wgmma::commit();
      wgmma::wait<1>();  // groups S^T, dP^T done; dV may still run
      wgmma::fence_operand(dp);
#pragma unroll
      for (int c = 0; c < kM / 8; ++c) {
        const float2 dl = *reinterpret_cast<const float2*>(s_delta + 8 * c + 2 * L.t);
#pragma unroll
        for (int e = 0; e < 4; ++e) dp[c][e] = s[c][e] * (dp[c][e] - (e % 2 ? dl.y : dl.x));
      }
      accumulator_to_a<kM>(dsa, dp);
      wgmma::fence();
      issue_regs_cols<Tr>(dk, dsa, q_addr);
      wgmma::commit();
    } else if constexpr (kFusedDq) {
#pragma unroll
      for (int k = 0; k < kM / 16; ++k) dsa[k][0] = dsa[k][1] = dsa[k][2] = dsa[k][3] = 0u;
    }
    if constexpr (kFusedDq) {
      float* accum = a.dq_accum + DqLayout::block(bh, lay.T, m0 / kM, 0);
      const FusedDqStep<Tr> step{smem, tile, n_tiles, consumer, k_block, accum};
      if constexpr (Tr::kDqColumnParts == 1)
        step.by_turns(dsa);
      else
        step.by_columns(dsa);
      wgmma::wait<0>();
    } else {
      wgmma::wait<0>();
    }
    wgmma::fence_operand(dv);
    wgmma::fence_operand(dk);
    tma::arrive(bar.empty(stage));  // this thread no longer reads the stage
  }
  if (kFusedDq && threadIdx.x % 128 == 0) tma::bulk_wait();  // its reductions have read their parts

  const int64_t stride = 3 * lay.H * lay.D;
  const float dk_scale[2] = {rsqrtf(float(head_dim)), rsqrtf(float(head_dim))}, dv_scale[2] = {1.f, 1.f};
  store_accumulator_rows<kD>(a.dqkv + lay.qkv(b, 1, h), stride, dk, key0, lay.T, dk_scale, head_dim);
  store_accumulator_rows<kD>(a.dqkv + lay.qkv(b, 2, h), stride, dv, key0, lay.T, dv_scale, head_dim);
}

// Grid: Sm90BackwardGrid; key blocks in increasing order, so the blocks
// with the most query tiles (the first) start first.
template <class Tr, bool kFusedDq>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    attention_dkdv_sm90_kernel(const __grid_constant__ CUtensorMap qkv_map,
                               const __grid_constant__ CUtensorMap dout_map,
                               const Sm90BackwardArgs args) {
  using Smem = Sm90BackwardSmem<Tr>;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = tma::smem_addr(smem_raw);
  unsigned char* smem = smem_raw + ((1024 - raw % 1024) % 1024);
  const Sm90BackwardBarriers<Tr> bar{reinterpret_cast<uint64_t*>(smem + Smem::kBarriers)};

  const int H = int(args.layout.H), T = int(args.layout.T);
  int64_t bh;
  int block;
  args.grid.locate(blockIdx.x, bh, block);
  const int b = int(bh / H), h = int(bh % H);
  const int n0 = block * Tr::kBlock;
  const int n_tiles = (T - n0 + Tr::kStream - 1) / Tr::kStream;  // queries [n0, T)

  if (threadIdx.x == 0) bar.init();
  __syncthreads();

  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    wgmma::shrink_registers<Tr::kProducerRegs>();
    if (threadIdx.x < 32) {
      const int row_base = b * T;
      const Sm90TileSource k{&qkv_map, H + h, row_base}, v{&qkv_map, 2 * H + h, row_base};
      const Sm90TileSource q{&qkv_map, h, row_base}, dout{&dout_map, h, row_base};
      const int64_t stats_row = (int64_t(b) * H + h) * args.stats.t_pad;
      produce_backward<Tr, true>(smem, bar, k, v, n0, q, dout, n0, n_tiles,
                                 args.stats.lse_log2 + stats_row, args.stats.delta + stats_row);
    }
  } else {
    wgmma::grow_registers<Tr::kConsumerRegs>();
    consume_dkdv<Tr, kFusedDq>(args, smem, bar, warpgroup - 1, b, h, n0, n_tiles);
  }
}

// ---- dQ -----------------------------------------------------------------------

// One consumer warpgroup: queries q_wg .. q_wg + 63 (this warp: 16 of them).
template <class Tr>
__device__ void consume_dq(const Sm90BackwardArgs& a, unsigned char* smem,
                           const Sm90BackwardBarriers<Tr>& bar, int consumer, int64_t b, int64_t h,
                           int m0, int n_tiles) {
  constexpr int kD = Tr::kHeadDim, kN = Tr::kStream;
  using Smem = Sm90BackwardSmem<Tr>;
  const Lane L;
  const int warp = (threadIdx.x / 32) % 4;
  const int q_wg = m0 + consumer * Tr::kConsumerRows;
  const int row0 = q_wg + 16 * warp;  // this warp's first query
  const HeadLayout& lay = a.layout;
  const int64_t T = lay.T;
  const int head_dim = int(lay.D);  // <= kD (sm90_tile_dim)
  const AlibiLog2 alibi = AlibiLog2::of(a.slopes[h], head_dim);
  // Q and dO from shared memory: with them in registers (Tr::kOwnedInRegisters)
  // this kernel computed wrong dQ for the second consumer's rows on an H200,
  // for a reason not yet found (the dK/dV kernel's K and V in registers are right).
  OwnedRows<Tr, false> q_rows(tma::smem_addr(smem + Smem::kOwnedA) + consumer * Tr::kConsumerRows * Tr::kRowBytes);
  OwnedRows<Tr, false> do_rows(tma::smem_addr(smem + Smem::kOwnedB) + consumer * Tr::kConsumerRows * Tr::kRowBytes);
  const uint32_t k_base = tma::smem_addr(smem + Smem::kStreamA);
  const uint32_t v_base = tma::smem_addr(smem + Smem::kStreamB);

  // lse (log2 units) and delta of the two rows this thread touches; rows past
  // T get lse = +inf, so their probabilities are 0.
  float row_lse[2], row_delta[2];
  const int64_t stats_row = (b * lay.H + h) * a.stats.t_pad;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t i = row0 + L.g + 8 * half;
    row_lse[half] = i < T ? a.stats.lse_log2[stats_row + i] : INFINITY;
    row_delta[half] = i < T ? a.stats.delta[stats_row + i] : 0.f;
  }

  float dq[kD / 8][4];
  zero(dq);
  tma::wait(bar.owned_full(), 0);
  q_rows.load();
  do_rows.load();
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int stage = tile % Tr::kStages;
    const int n0 = tile * kN;  // the tile's first key
    tma::wait(bar.full(stage), uint32_t(tile / Tr::kStages) & 1);
    // Every key of the tile follows every query of this warpgroup.
    if (n0 > q_wg + Tr::kConsumerRows - 1) {
      tma::arrive(bar.empty(stage));
      continue;
    }
    const uint32_t k_addr = k_base + stage * Smem::kStreamBytes;
    const uint32_t v_addr = v_base + stage * Smem::kStreamBytes;
    float s[kN / 8][4], dp[kN / 8][4];
    wgmma::fence();
    q_rows.issue_times_rows<kN>(s, k_addr, Smem::kStreamBox);
    wgmma::commit();
    do_rows.issue_times_rows<kN>(dp, v_addr, Smem::kStreamBox);
    wgmma::commit();

    wgmma::wait<1>();
    wgmma::fence_operand(s);
    if (n0 + kN - 1 > q_wg)  // the tile crosses the warpgroup's diagonal
      scores_to_log2<kN, true>(s, row0, n0, alibi);
    else
      scores_to_log2<kN, false>(s, row0, n0, alibi);
#pragma unroll
    for (int c = 0; c < kN / 8; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[c][e] = fast_exp2(s[c][e] - row_lse[e / 2]);  // -inf -> 0
    wgmma::wait<0>();
    wgmma::fence_operand(dp);
#pragma unroll
    for (int c = 0; c < kN / 8; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) dp[c][e] = s[c][e] * (dp[c][e] - row_delta[e / 2]);
    uint32_t dsa[kN / 16][4];
    accumulator_to_a<kN>(dsa, dp);
    wgmma::fence();
    issue_regs_cols<Tr>(dq, dsa, k_addr);
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::fence_operand(dq);
    tma::arrive(bar.empty(stage));
  }

  const float dq_scale[2] = {rsqrtf(float(head_dim)), rsqrtf(float(head_dim))};
  store_accumulator_rows<kD>(a.dqkv + lay.qkv(b, 0, h), 3 * lay.H * lay.D, dq, row0, T, dq_scale, head_dim);
}

// Grid: Sm90BackwardGrid; query blocks in reverse order (the last has the
// most key tiles).
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    attention_dq_sm90_kernel(const __grid_constant__ CUtensorMap qkv_map,
                             const __grid_constant__ CUtensorMap dout_map,
                             const Sm90BackwardArgs args) {
  using Smem = Sm90BackwardSmem<Tr>;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = tma::smem_addr(smem_raw);
  unsigned char* smem = smem_raw + ((1024 - raw % 1024) % 1024);
  const Sm90BackwardBarriers<Tr> bar{reinterpret_cast<uint64_t*>(smem + Smem::kBarriers)};

  const int H = int(args.layout.H), T = int(args.layout.T);
  int64_t bh;
  int block;
  args.grid.locate(blockIdx.x, bh, block);
  const int b = int(bh / H), h = int(bh % H);
  const int m0 = (args.grid.blocks - 1 - block) * Tr::kBlock;
  const int key_end = min(T, m0 + Tr::kBlock);  // keys [0, key_end)
  const int n_tiles = (key_end + Tr::kStream - 1) / Tr::kStream;

  if (threadIdx.x == 0) bar.init();
  __syncthreads();

  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    wgmma::shrink_registers<Tr::kProducerRegs>();
    if (threadIdx.x < 32) {
      const int row_base = b * T;
      const Sm90TileSource q{&qkv_map, h, row_base}, dout{&dout_map, h, row_base};
      const Sm90TileSource k{&qkv_map, H + h, row_base}, v{&qkv_map, 2 * H + h, row_base};
      produce_backward<Tr, false>(smem, bar, q, dout, m0, k, v, 0, n_tiles, nullptr, nullptr);
    }
  } else {
    wgmma::grow_registers<Tr::kConsumerRegs>();
    consume_dq<Tr>(args, smem, bar, warpgroup - 1, b, h, m0, n_tiles);
  }
}

}  // namespace alibi::cuda
