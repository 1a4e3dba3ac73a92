// The Hopper backward's dK/dV kernel (attention_backward_sm90.cuh, step 2),
// and, fused into it, the default dQ (step 3): dS^T exchanged through shared
// memory, dQ = dS K by column parts, added into an fp32 accumulator in
// DqAccumLayout by bulk reductions.
#pragma once

#include "kernels/attention_backward_sm90.cuh"

namespace alibi::cuda {

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
    bar.wait_full(0, tile);
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
  extern __shared__ unsigned char smem_raw[];
  const BackwardCta<Tr> cta(smem_raw, &qkv_map, &dout_map, args);
  const int n0 = cta.block * Tr::kBlock;
  const int n_tiles = (int(args.layout.T) - n0 + Tr::kStream - 1) / Tr::kStream;  // queries [n0, T)
  run_roles<Tr>(
      [&] {
        if (threadIdx.x >= 32) return;
        const int64_t stats_row = (int64_t(cta.b) * args.layout.H + cta.h) * args.stats.t_pad;
        produce_backward<Tr, true>(cta.smem, cta.bar, cta.k, cta.v, n0, cta.q, cta.dout, n0, n_tiles,
                                   args.stats.lse_log2 + stats_row, args.stats.delta + stats_row);
      },
      [&](int consumer) { consume_dkdv<Tr, kFusedDq>(args, cta.smem, cta.bar, consumer, cta.b, cta.h, n0, n_tiles); });
}

}  // namespace alibi::cuda
