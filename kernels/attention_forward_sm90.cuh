// Forward attention for Hopper (sm_90a), FlashAttention-3 structure: one CTA
// per (query block of kBlockM rows, b, h), 1 + kConsumers warpgroups (tiling
// in attention_traits.cuh: 2 consumers and 128-row blocks by default, 3 and
// 192-row blocks selectable at D = 64).
//  - Warpgroup 0, the producer: one thread issues TMA copies of the Q block
//    (once) and of K and V tiles into a ring of shared-memory stages; full
//    barriers tell the consumers a tile has landed, empty barriers tell the
//    producer a stage may be overwritten. K and V have barriers of their own:
//    a K stage is free as soon as S = Q K^T has completed, well before the
//    P V product frees the V stage, so the next K load starts earlier.
//  - Warpgroups 1 .. kConsumers, the consumers, own 64 query rows each:
//    S = Q K^T by wgmma from shared memory, the scale, ALiBi bias and causal
//    mask and the online softmax on the accumulator registers, then
//    O += P V by wgmma with P from registers.
// Query blocks and key tiles need not be square (kBlockM != kBlockN): a
// block computes the key tiles up to its last query (or T), and each warp
// masks the tiles that reach past its first row, so a warp may see tiles
// whose keys all lie after its rows (all masked: they add nothing).
// Scores live in the log2 domain (log2(e) folded into scale and slope) so the
// softmax uses exp2. Semantics as attention_forward_kernel (attention_forward_sm80.cuh).
#pragma once

#include <cuda.h>

#include <type_traits>

#include "kernels/attention_key_skip.cuh"
#include "kernels/attention_sm90_pipeline.cuh"
#include "kernels/attention_tiles.cuh"
#include "kernels/attention_traits.cuh"
#include "kernels/tma.cuh"
#include "kernels/wgmma.cuh"

namespace alibi::cuda {

// Shared memory, in bytes from a 1024-byte aligned base (the swizzle atom):
// the Q block, then K stages, then V stages, each a row of 64-column boxes
// (each box one or more TMA copies of kBoxRows rows stacked), then the
// mbarriers.
template <class Tr>
struct Sm90ForwardSmem {
  static constexpr int kCopy = Tr::kBoxRows * Tr::kRowBytes;  // one TMA copy
  static constexpr int kQBox = Tr::kBlockM * Tr::kRowBytes;   // one 64-column box of Q
  static constexpr int kKVBox = Tr::kBlockN * Tr::kRowBytes;
  static constexpr int kQBytes = Tr::kBoxes * kQBox;
  static constexpr int kKVBytes = Tr::kBoxes * kKVBox;  // one K (or V) tile
  static constexpr int kQ = 0;
  static constexpr int kK = kQ + kQBytes;
  static constexpr int kV = kK + Tr::kStages * kKVBytes;
  static constexpr int kBarriers = kV + Tr::kStages * kKVBytes;
  static constexpr int kBarrierCount = StageRing<Tr::kStages, 2>::kCount;
  static constexpr size_t bytes() { return size_t(kBarriers) + 8 * kBarrierCount + 1024; }
};

// The forward's ring (attention_sm90_pipeline.cuh): Q once; K (stream 0)
// and V (stream 1) with barriers of their own, so that a K stage is free as
// soon as S = Q K^T is done; an empty barrier takes one arrival per consumer warp.
template <class Tr>
struct Sm90Barriers : StageRing<Tr::kStages, 2> {
  using Ring = StageRing<Tr::kStages, 2>;
  static constexpr int kK = 0, kV = 1;
  __device__ explicit Sm90Barriers(uint64_t* base) : Ring{base} {}
  __device__ uint64_t* q_full() const { return Ring::once(); }
  __device__ uint64_t* k_full(int s) const { return Ring::full(kK, s); }
  __device__ uint64_t* v_full(int s) const { return Ring::full(kV, s); }
  __device__ uint64_t* k_empty(int s) const { return Ring::empty(kK, s); }
  __device__ uint64_t* v_empty(int s) const { return Ring::empty(kV, s); }
  __device__ void init() const { Ring::init(4 * Tr::kConsumers); }
};

struct Sm90ForwardArgs {
  bf16* out;
  float* lse;  // may be null
  const float* slopes;
  HeadLayout layout;
  // Grid (B*H, query blocks) when set, else (query blocks, B*H): see the kernel.
  bool blocks_major;
  KeySkipBounds key_skip;  // bounds null: every key tile is computed
};

// The forward's split of the bias of element (c, e) of a thread, in log2
// units: slope * (j - i) = row_offset[e / 2] + column_bias[c][e % 2], where
// column_bias = slope * (8c + 2t + e%2) is the same in every tile (computed
// once, kept in registers) and row_offset = slope * (n0 - row0 - g - 8 (e/2)),
// the same for the 4 threads that share a row, changes per tile. The scores
// then cost one FFMA each, and the row offset enters the softmax once per
// row (softmax_step_sm90).
template <int kN>
struct ColumnBias {
  float v[kN / 8][2];
  __device__ ColumnBias(const AlibiLog2& alibi, int t) {
#pragma unroll
    for (int c = 0; c < kN / 8; ++c)
#pragma unroll
      for (int odd = 0; odd < 2; ++odd) v[c][odd] = alibi.bias(float(8 * c + 2 * t + odd));
  }
  __device__ float operator()(int c, int odd) const { return v[c][odd]; }
};

// The same column bias recomputed at each use, for consumers whose register
// budget cannot keep kN / 4 floats across tiles: slope * (8c + odd) + slope
// * 2t, one FFMA with a compile-time 8c + odd (the loops over c are unrolled).
template <int kN>
struct ColumnBiasRecomputed {
  AlibiLog2 alibi;
  float t_bias;
  __device__ ColumnBiasRecomputed(const AlibiLog2& alibi, int t) : alibi(alibi), t_bias(alibi.bias(float(2 * t))) {}
  __device__ float operator()(int c, int odd) const { return alibi.bias_after(t_bias, float(8 * c + odd)); }
};

// Raw dot products -> log2-domain scores less the row offset; -inf where
// j > i with kMask (as scores_to_log2). Bias: ColumnBias or ColumnBiasRecomputed.
template <int kN, bool kMask, class Bias>
__device__ __forceinline__ void scores_less_row_offset(float (&s)[kN / 8][4], const Bias& bias,
                                                       int rel0, const AlibiLog2& alibi) {
#pragma unroll
  for (int c = 0; c < kN / 8; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int k = 8 * c + (e % 2) - 8 * (e / 2);
      const float v = alibi.score(s[c][e], bias(c, e % 2));
      s[c][e] = (kMask && is_future_key(rel0 + k)) ? -INFINITY : v;
    }
}

// Turns the scores (less row_offset[e / 2]) into probabilities in place and
// updates the row state; O must then be multiplied by correction (rescale),
// which the caller defers until the P V product still reading O has completed.
template <int kN>
__device__ __forceinline__ void softmax_step_sm90(float (&s)[kN / 8][4], const float (&row_offset)[2],
                                                  RowState& st, float (&correction)[2]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float tile_max = -INFINITY;
#pragma unroll
    for (int c = 0; c < kN / 8; ++c)
      tile_max = fmaxf(tile_max, fmaxf(s[c][2 * half], s[c][2 * half + 1]));
    const float new_max = fmaxf(st.max[half], quad_max(tile_max) + row_offset[half]);
    // A row whose keys are all masked so far keeps max -inf; subtract 0 then (no NaN).
    const float base = new_max == -INFINITY ? 0.f : new_max;
    correction[half] = fast_exp2(st.max[half] - base);
    st.max[half] = new_max;
    const float shifted_base = base - row_offset[half];
    float sum = 0.f;
#pragma unroll
    for (int c = 0; c < kN / 8; ++c) {
      s[c][2 * half] = fast_exp2(s[c][2 * half] - shifted_base);
      s[c][2 * half + 1] = fast_exp2(s[c][2 * half + 1] - shifted_base);
      sum += s[c][2 * half] + s[c][2 * half + 1];
    }
    st.sum[half] = st.sum[half] * correction[half] + sum;
  }
}

template <int kD>
__device__ __forceinline__ void rescale(float (&o)[kD / 8][4], const float (&correction)[2]) {
#pragma unroll
  for (int c = 0; c < kD / 8; ++c) {
    o[c][0] *= correction[0], o[c][1] *= correction[0];
    o[c][2] *= correction[1], o[c][3] *= correction[1];
  }
}

// The producer's single thread: Q once, then K and V of key tiles
// first_tile .. n_tiles - 1. Tensor-map coordinates: (column, part * H + h,
// b * T + row).
template <class Tr>
__device__ void produce(const CUtensorMap* map, unsigned char* smem, const Sm90Barriers<Tr>& bar,
                        int h, int H, int row_base, int m0, int first_tile, int n_tiles) {
  using Smem = Sm90ForwardSmem<Tr>;
  using Bar = Sm90Barriers<Tr>;
  tma::prefetch_map(map);
  const TileSource q{map, h, row_base}, k{map, H + h, row_base}, v{map, 2 * H + h, row_base};
  tma::arrive_expect_bytes(bar.q_full(), Smem::kQBytes);
  load_rows_sm90<Tr, Tr::kBlockM>(smem + Smem::kQ, Smem::kQBox, q, bar.q_full(), m0);
  for (int j = 0; j < n_tiles - first_tile; ++j) {  // j: the tile's place in the ring's order
    const int stage = Bar::stage_of(j), row = (first_tile + j) * Tr::kBlockN;
    bar.wait_free(Bar::kK, j);
    tma::arrive_expect_bytes(bar.k_full(stage), Smem::kKVBytes);
    load_rows_sm90<Tr, Tr::kBlockN>(smem + Smem::kK + stage * Smem::kKVBytes, Smem::kKVBox, k, bar.k_full(stage),
                                    row);
    bar.wait_free(Bar::kV, j);
    tma::arrive_expect_bytes(bar.v_full(stage), Smem::kKVBytes);
    load_rows_sm90<Tr, Tr::kBlockN>(smem + Smem::kV + stage * Smem::kKVBytes, Smem::kKVBox, v, bar.v_full(stage),
                                    row);
  }
}

// One consumer warpgroup: 64 query rows from m0 + 64 * consumer, over key
// tiles first_tile .. n_tiles - 1.
// kPingPong: the consumers take turns issuing their matrix products, in
// round-robin order (named barrier 1 + c opens consumer c's turn; consumer
// c - 1 arrives on it after its own turn), so that one's softmax runs while
// another's products occupy the tensor cores instead of all contending at
// the same moments.
template <class Tr, bool kPingPong>
__device__ void consume(const Sm90ForwardArgs& a, unsigned char* smem, const Sm90Barriers<Tr>& bar,
                        int consumer, int64_t b, int64_t h, int m0, int first_tile, int n_tiles) {
  constexpr int kD = Tr::kHeadDim, kN = Tr::kBlockN;
  const int count = n_tiles - first_tile;  // tiles j = 0 .. count - 1 in ring order
  using Smem = Sm90ForwardSmem<Tr>;
  const Lane L;
  const int warp = (threadIdx.x / 32) % 4;  // within the warpgroup
  const int row0 = m0 + consumer * Tr::kConsumerRows + 16 * warp;  // this warp's first row
  const AlibiLog2 alibi = AlibiLog2::of(a.slopes[h], int(a.layout.D));  // D <= kD (sm90_tile_dim)
  // This warpgroup's 64 rows inside each Q box (64 rows = 8 whole swizzle atoms).
  const uint32_t q_addr = tma::smem_addr(smem + Smem::kQ) + consumer * Tr::kConsumerRows * Tr::kRowBytes;
  const uint32_t k_addr = tma::smem_addr(smem + Smem::kK);
  const uint32_t v_addr = tma::smem_addr(smem + Smem::kV);

  float o[kD / 8][4];
#pragma unroll
  for (int c = 0; c < kD / 8; ++c) o[c][0] = o[c][1] = o[c][2] = o[c][3] = 0.f;
  RowState st;

  // S = Q K^T of a tile: A = Q (64 x D), B = K tile (kN x D), both K-major.
  const auto issue_qk = [&](float (&s)[kN / 8][4], int stage) {
    wgmma::fence();
#pragma unroll
    for (int k = 0; k < Tr::kDataDim / 16; ++k) {  // columns past the head's D are zeros
      const uint32_t box = k / 4, within = (k % 4) * 32;
      const uint64_t da = wgmma::desc_sw128(q_addr + box * Smem::kQBox + within, 16, 1024);
      const uint64_t db = wgmma::desc_sw128(
          k_addr + stage * Smem::kKVBytes + box * Smem::kKVBox + within, 16, 1024);
      wgmma::mma_ss<kN, 0>(s, da, db, k > 0);
    }
    wgmma::commit();
  };
  // O += P V: A = P (registers), B = V tile (kN keys x D), MN-major (D contiguous).
  const auto issue_pv = [&](const uint32_t (&p)[kN / 16][4], int stage) {
    wgmma::fence();
#pragma unroll
    for (int k = 0; k < kN / 16; ++k) {
      const uint64_t db = wgmma::desc_sw128(v_addr + stage * Smem::kKVBytes + k * 2048,
                                            Smem::kKVBox, 1024);
      wgmma::mma_rs<kD, 1>(o, p[k], db, 1);
    }
    wgmma::commit();
  };
  // Scores of tile `tile` (raw dot products in s) -> probabilities. The
  // mask test is per warp: a tile needs it when its last key is after the
  // warp's first row (keys past T are after every row < T).
  using Bias =
      std::conditional_t<Tr::kColumnBiasInRegisters, ColumnBias<kN>, ColumnBiasRecomputed<kN>>;
  const Bias column_bias(alibi, L.t);
  const auto softmax = [&](float (&s)[kN / 8][4], int tile, float (&correction)[2]) {
    const int n0 = tile * kN;
    const int rel0 = n0 - row0 + 2 * L.t - L.g;  // j - i of element (0, 0)
    const int row_rel = n0 - row0 - L.g;  // j - i of the row's first key in the tile
    const float row_offset[2] = {alibi.bias(float(row_rel)), alibi.bias(float(row_rel - 8))};
    if (n0 + kN - 1 > row0)
      scores_less_row_offset<kN, true>(s, column_bias, rel0, alibi);
    else
      scores_less_row_offset<kN, false>(s, column_bias, rel0, alibi);
    softmax_step_sm90<kN>(s, row_offset, st, correction);
  };
  const auto parity = [](int j) { return Sm90Barriers<Tr>::parity_of(j); };
  // Barrier 1 + c: consumer c's 128 threads wait, the previous consumer's
  // (c - 1, or the last for c = 0) arrive.
  static_assert(1 + Tr::kConsumers <= 16, "named barrier ids 1 .. kConsumers (0 is __syncthreads)");
  constexpr int kLast = Tr::kConsumers - 1;
  const int next_turn = 1 + (consumer + 1) % Tr::kConsumers;  // the next consumer's barrier
  const auto take_turn = [&] {
    if constexpr (kPingPong) named_barrier_sync(1 + consumer, 256);
  };
  // Every turn taken is opened by exactly one arrival (every consumer takes
  // `count` turns): the last consumer opens consumer 0's first turn, so it
  // skips its arrival after its last turn.
  const auto pass_turn = [&](bool last) {
    if constexpr (kPingPong)
      if (!(consumer == kLast && last)) named_barrier_arrive(next_turn, 256);
  };

  // Software pipeline inside the warpgroup: while the tensor cores compute
  // S of tile j+1 and P V of tile j, the softmax of tile j+1 runs on the
  // CUDA cores; O is rescaled once P V of tile j has completed.
  float s[kN / 8][4];
  uint32_t p[kN / 16][4];
  float correction[2];
  if constexpr (kPingPong)
    if (consumer == kLast) named_barrier_arrive(1, 256);
  tma::wait(bar.q_full(), 0);
  tma::wait(bar.k_full(0), 0);
  take_turn();
  issue_qk(s, 0);
  pass_turn(count == 1);
  wgmma::wait<0>();
  wgmma::fence_operand(s);
  if (L.lane == 0) tma::arrive(bar.k_empty(0));
  softmax(s, first_tile, correction);
  accumulator_to_a<kN>(p, s);
  for (int j = 1; j < count; ++j) {
    const int stage = j % Tr::kStages, prev = (j - 1) % Tr::kStages;
    tma::wait(bar.k_full(stage), parity(j));
    tma::wait(bar.v_full(prev), parity(j - 1));
    take_turn();
    issue_qk(s, stage);
    issue_pv(p, prev);
    pass_turn(j == count - 1);
    wgmma::wait<1>();  // S of this tile is ready; P V of the previous may still run
    wgmma::fence_operand(s);
    if (L.lane == 0) tma::arrive(bar.k_empty(stage));  // this warp's part of S is done
    softmax(s, first_tile + j, correction);
    wgmma::wait<0>();
    wgmma::fence_operand(o);
    if (L.lane == 0) tma::arrive(bar.v_empty(prev));
    rescale<kD>(o, correction);
    accumulator_to_a<kN>(p, s);
  }
  const int last = (count - 1) % Tr::kStages;
  tma::wait(bar.v_full(last), parity(count - 1));
  issue_pv(p, last);
  wgmma::wait<0>();
  wgmma::fence_operand(o);
  if (L.lane == 0) tma::arrive(bar.v_empty(last));

  // Normalize, write lse and O (rows < T only).
  const HeadLayout& lay = a.layout;
  const int64_t T = lay.T;
  float inv_sum[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float total = quad_sum(st.sum[half]);
    inv_sum[half] = 1.f / total;
    const int64_t i = row0 + L.g + 8 * half;
    if (a.lse && L.t == 0 && i < T) a.lse[lay.row(b, h) + i] = st.max[half] * kLn2 + logf(total);
  }
  store_accumulator_rows<kD>(a.out + lay.out(b, h), lay.H * lay.D, o, row0, T, inv_sum, int(lay.D));
}

// Grid (B * H, ceil(T / kBlockM)) (blocks_major) or (ceil(T / kBlockM), B * H).
// Query blocks are taken in reverse order: the last block has the most key
// tiles (causal). With blocks_major and the x-fastest launch order, that is
// longest first across all heads: the short blocks fill the tail of the
// grid instead of one head's long blocks starting late.
template <class Tr, bool kPingPong>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    attention_forward_sm90_kernel(const __grid_constant__ CUtensorMap qkv_map,
                                  const Sm90ForwardArgs args) {
  using Smem = Sm90ForwardSmem<Tr>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = aligned_shared_base(smem_raw);
  const Sm90Barriers<Tr> bar(reinterpret_cast<uint64_t*>(smem + Smem::kBarriers));

  const int block = args.blocks_major ? gridDim.y - 1 - blockIdx.y : gridDim.x - 1 - blockIdx.x;
  const int bh = args.blocks_major ? blockIdx.x : blockIdx.y;
  const int H = int(args.layout.H);
  const int b = bh / H, h = bh % H;
  const int m0 = block * Tr::kBlockM;
  // Keys [0, min(T, m0 + kBlockM)): none after the block's last query.
  const int64_t keys = m0 + Tr::kBlockM < args.layout.T ? m0 + Tr::kBlockM : args.layout.T;
  const int n_tiles = int((keys + Tr::kBlockN - 1) / Tr::kBlockN);
  static_assert(Tr::kBlockM % kKeySkipRows == 0, "blocks start on the key-skip bounds' blocks");
  const int first_tile = negligible_key_tiles<Tr::kBlockN>(args.key_skip, bh, m0, Tr::kBlockM,
                                                           args.slopes[h], int(args.layout.D));

  if (threadIdx.x == 0) bar.init();
  __syncthreads();

  run_roles<Tr>(
      [&] {
        if (threadIdx.x == 0)
          produce<Tr>(&qkv_map, smem, bar, h, H, int(b * args.layout.T), m0, first_tile, n_tiles);
      },
      [&](int consumer) { consume<Tr, kPingPong>(args, smem, bar, consumer, b, h, m0, first_tile, n_tiles); });
}

}  // namespace alibi::cuda
