// Forward attention for Hopper (sm_90a), FlashAttention-3 structure: a work
// item is a (query block of kBlockM rows, b, h); a CTA takes one item a
// round of gridDim.x items (for_each_item; one CTA an item, or a persistent
// CTA an SM that takes many: the launcher's choice), with 1 + kConsumers
// warpgroups (tiling in attention_traits.cuh: 2 consumers and 128-row blocks
// by default, 3 and 192-row blocks selectable at D = 64).
//  - Warpgroup 0, the producer: one thread issues TMA copies of each item's
//    Q block and of its K and V tiles into rings of shared-memory stages;
//    full barriers tell the consumers a tile has landed, empty barriers tell
//    the producer a stage may be overwritten. K and V have barriers of their
//    own: a K stage is free as soon as S = Q K^T has completed, well before
//    the P V product frees the V stage, so the next K load starts earlier.
//    The rings run on across a CTA's items, so the next item's Q, K and V
//    land while the consumers finish this one (its last P V, normalization
//    and stores): a persistent CTA has no prologue on its critical path.
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

// The rings (attention_sm90_pipeline.cuh): K (stream 0) and V (stream 1)
// of the key tiles, with barriers of their own, so that a K stage is free as
// soon as S = Q K^T is done; and the items' Q blocks, kQStages of them. An
// empty barrier takes one arrival per consumer warp.
template <class Tr, int kQStages>
struct Sm90Rings {
  using KV = StageRing<Tr::kStages, 2, /*kOnce=*/false>;
  using Q = StageRing<kQStages, 1, /*kOnce=*/false>;
  static constexpr int kCount = KV::kCount + Q::kCount;
};

// Shared memory, in bytes from a 1024-byte aligned base (the swizzle atom):
// the Q blocks, then K stages, then V stages, each a row of 64-column boxes
// (each box one or more TMA copies of kBoxRows rows stacked), then the
// mbarriers. Two Q blocks where they fit (D = 64), so that the next item's
// Q lands while this item's is still read; else one, refilled once the
// item's last S = Q K^T has completed.
template <class Tr>
struct Sm90ForwardSmem {
  static constexpr int kCopy = Tr::kBoxRows * Tr::kRowBytes;  // one TMA copy
  static constexpr int kQBox = Tr::kBlockM * Tr::kRowBytes;   // one 64-column box of Q
  static constexpr int kKVBox = Tr::kBlockN * Tr::kRowBytes;
  static constexpr int kQBytes = Tr::kBoxes * kQBox;
  static constexpr int kKVBytes = Tr::kBoxes * kKVBox;  // one K (or V) tile
  template <int kQStagesT>
  static constexpr size_t bytes_with() {
    return size_t(kQStagesT) * kQBytes + 2 * size_t(Tr::kStages) * kKVBytes +
           8 * size_t(Sm90Rings<Tr, kQStagesT>::kCount) + 1024;
  }
  static constexpr int kQStages = bytes_with<2>() <= kSm90SharedMemoryLimit ? 2 : 1;
  static constexpr int kQ = 0;
  static constexpr int kK = kQ + kQStages * kQBytes;
  static constexpr int kV = kK + Tr::kStages * kKVBytes;
  static constexpr int kBarriers = kV + Tr::kStages * kKVBytes;
  static constexpr size_t bytes() { return bytes_with<kQStages>(); }
  static_assert(bytes() <= kSm90SharedMemoryLimit, "shared memory of one CTA on sm_90");
};

template <class Tr>
struct Sm90Barriers {
  using Rings = Sm90Rings<Tr, Sm90ForwardSmem<Tr>::kQStages>;
  static constexpr int kK = 0, kV = 1;
  typename Rings::KV kv;
  typename Rings::Q q;
  __device__ explicit Sm90Barriers(uint64_t* base) : kv{base}, q{base + Rings::KV::kCount} {}
  __device__ uint64_t* k_full(int s) const { return kv.full(kK, s); }
  __device__ uint64_t* v_full(int s) const { return kv.full(kV, s); }
  __device__ uint64_t* k_empty(int s) const { return kv.empty(kK, s); }
  __device__ uint64_t* v_empty(int s) const { return kv.empty(kV, s); }
  __device__ void init() const {
    kv.init_barriers(4 * Tr::kConsumers);
    q.init_barriers(4 * Tr::kConsumers);
    tma::barrier_init_fence();
  }
};

struct Sm90ForwardArgs {
  bf16* out;
  float* lse;  // may be null
  const float* slopes;
  HeadLayout layout;
  // The items' order: query blocks major (every head's last block, then
  // every head's block before it, ...) when set, else heads major; see
  // ForwardItem.
  bool blocks_major;
  KeySkipBounds key_skip;  // bounds null: every key tile is computed
  int64_t B;
};

// Work item `index` of the grid's B * H * ceil(T / kBlockM): a query block
// of one (b, h), and its key tiles [first_tile, n_tiles). Query blocks are
// taken in reverse order: the last block has the most key tiles (causal).
// Blocks major, that is longest first across all heads: the short blocks
// fill the tail of the grid instead of one head's long blocks starting late.
template <class Tr>
struct ForwardItem {
  int b, h, bh, m0, first_tile, n_tiles;

  __device__ static int64_t count(const Sm90ForwardArgs& a) { return a.B * a.layout.H * blocks(a); }
  __device__ static int64_t blocks(const Sm90ForwardArgs& a) { return (a.layout.T + Tr::kBlockM - 1) / Tr::kBlockM; }

  __device__ ForwardItem(const Sm90ForwardArgs& a, int64_t index) {
    const int64_t heads = a.B * a.layout.H, nb = blocks(a);
    const int64_t from_end = a.blocks_major ? index / heads : index % nb;
    bh = int(a.blocks_major ? index % heads : index / nb);
    const int H = int(a.layout.H);
    b = bh / H, h = bh % H;
    m0 = int(nb - 1 - from_end) * Tr::kBlockM;
    // Keys [0, min(T, m0 + kBlockM)): none after the block's last query.
    const int64_t keys = m0 + Tr::kBlockM < a.layout.T ? m0 + Tr::kBlockM : a.layout.T;
    n_tiles = int((keys + Tr::kBlockN - 1) / Tr::kBlockN);
    static_assert(Tr::kBlockM % kKeySkipRows == 0, "blocks start on the key-skip bounds' blocks");
    first_tile = negligible_key_tiles<Tr::kBlockN>(a.key_skip, bh, m0, Tr::kBlockM, a.slopes[h], int(a.layout.D));
  }
  __device__ int tiles() const { return n_tiles - first_tile; }
};

// Where a CTA's item stands in its rings: j0, the ring position of the
// item's first key tile (the tiles of the CTA's earlier items came before),
// and n, the item's place among the CTA's items (its Q block's ring position).
struct RingPlace {
  int j0 = 0, n = 0;
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

// The producer's single thread, one item: its Q block once its stage is
// free, then K and V of its key tiles. Tensor-map coordinates: (column,
// part * H + h, b * T + row).
template <class Tr>
__device__ void produce(const CUtensorMap* map, unsigned char* smem, const Sm90Barriers<Tr>& bar,
                        const ForwardItem<Tr>& item, int H, int64_t T, const RingPlace& at) {
  using Smem = Sm90ForwardSmem<Tr>;
  using Bar = Sm90Barriers<Tr>;
  const int row_base = int(item.b * T);
  const TileSource q{map, item.h, row_base}, k{map, H + item.h, row_base}, v{map, 2 * H + item.h, row_base};
  bar.q.wait_free(0, at.n);
  const int q_stage = Bar::Rings::Q::stage_of(at.n);
  tma::arrive_expect_bytes(bar.q.full(0, q_stage), Smem::kQBytes);
  load_rows_sm90<Tr, Tr::kBlockM>(smem + Smem::kQ + q_stage * Smem::kQBytes, Smem::kQBox, q, bar.q.full(0, q_stage),
                                  item.m0);
  for (int i = 0; i < item.tiles(); ++i) {
    const int j = at.j0 + i;  // the tile's place in the ring's order
    const int stage = Bar::Rings::KV::stage_of(j), row = (item.first_tile + i) * Tr::kBlockN;
    bar.kv.wait_free(Bar::kK, j);
    tma::arrive_expect_bytes(bar.k_full(stage), Smem::kKVBytes);
    load_rows_sm90<Tr, Tr::kBlockN>(smem + Smem::kK + stage * Smem::kKVBytes, Smem::kKVBox, k, bar.k_full(stage),
                                    row);
    bar.kv.wait_free(Bar::kV, j);
    tma::arrive_expect_bytes(bar.v_full(stage), Smem::kKVBytes);
    load_rows_sm90<Tr, Tr::kBlockN>(smem + Smem::kV + stage * Smem::kKVBytes, Smem::kKVBox, v, bar.v_full(stage),
                                    row);
  }
}

// One consumer warpgroup, one item: 64 query rows from m0 + 64 * consumer,
// over the item's key tiles.
// kPingPong: the consumers take turns issuing their matrix products, in
// round-robin order (named barrier 1 + c opens consumer c's turn; consumer
// c - 1 arrives on it after its own turn), so that one's softmax runs while
// another's products occupy the tensor cores instead of all contending at
// the same moments. The turns run on across the CTA's items (last_item: the
// CTA's last, whose last turn opens none).
template <class Tr, bool kPingPong>
__device__ void consume(const Sm90ForwardArgs& a, unsigned char* smem, const Sm90Barriers<Tr>& bar,
                        int consumer, const ForwardItem<Tr>& item, const RingPlace& at, bool last_item) {
  constexpr int kD = Tr::kHeadDim, kN = Tr::kBlockN;
  const int count = item.tiles();  // tiles j = 0 .. count - 1 of the item, at.j0 + j in ring order
  const int64_t b = item.b, h = item.h;
  using Smem = Sm90ForwardSmem<Tr>;
  using Rings = typename Sm90Barriers<Tr>::Rings;
  const Lane L;
  const int warp = (threadIdx.x / 32) % 4;  // within the warpgroup
  const int row0 = item.m0 + consumer * Tr::kConsumerRows + 16 * warp;  // this warp's first row
  const AlibiLog2 alibi = AlibiLog2::of(a.slopes[h], int(a.layout.D));  // D <= kD (sm90_tile_dim)
  // This warpgroup's 64 rows inside each Q box (64 rows = 8 whole swizzle atoms).
  const int q_stage = Rings::Q::stage_of(at.n);
  const uint32_t q_addr = tma::smem_addr(smem + Smem::kQ + q_stage * Smem::kQBytes) +
                          consumer * Tr::kConsumerRows * Tr::kRowBytes;
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
  // Tile j of the item: its stage and its round's parity in the K/V ring.
  const auto stage_of = [&](int j) { return Rings::KV::stage_of(at.j0 + j); };
  const auto parity = [&](int j) { return Rings::KV::parity_of(at.j0 + j); };
  // Barrier 1 + c: consumer c's 128 threads wait, the previous consumer's
  // (c - 1, or the last for c = 0) arrive.
  static_assert(1 + Tr::kConsumers <= 16, "named barrier ids 1 .. kConsumers (0 is __syncthreads)");
  constexpr int kLast = Tr::kConsumers - 1;
  const int next_turn = 1 + (consumer + 1) % Tr::kConsumers;  // the next consumer's barrier
  const auto take_turn = [&] {
    if constexpr (kPingPong) named_barrier_sync(1 + consumer, 256);
  };
  // Every turn taken is opened by exactly one arrival (every consumer takes
  // `count` turns an item): the last consumer opened consumer 0's first turn
  // (the kernel, before the first item), so it skips its arrival after the
  // CTA's last turn.
  const auto pass_turn = [&](bool last_tile) {
    if constexpr (kPingPong)
      if (!(consumer == kLast && last_tile && last_item)) named_barrier_arrive(next_turn, 256);
  };

  // Software pipeline inside the warpgroup: while the tensor cores compute
  // S of tile j+1 and P V of tile j, the softmax of tile j+1 runs on the
  // CUDA cores; O is rescaled once P V of tile j has completed.
  float s[kN / 8][4];
  uint32_t p[kN / 16][4];
  float correction[2];
  bar.q.wait_full(0, at.n);
  tma::wait(bar.k_full(stage_of(0)), parity(0));
  take_turn();
  issue_qk(s, stage_of(0));
  pass_turn(count == 1);
  wgmma::wait<0>();
  wgmma::fence_operand(s);
  if (L.lane == 0) tma::arrive(bar.k_empty(stage_of(0)));
  softmax(s, item.first_tile, correction);
  accumulator_to_a<kN>(p, s);
  for (int j = 1; j < count; ++j) {
    const int stage = stage_of(j), prev = stage_of(j - 1);
    tma::wait(bar.k_full(stage), parity(j));
    tma::wait(bar.v_full(prev), parity(j - 1));
    take_turn();
    issue_qk(s, stage);
    issue_pv(p, prev);
    pass_turn(j == count - 1);
    wgmma::wait<1>();  // S of this tile is ready; P V of the previous may still run
    wgmma::fence_operand(s);
    if (L.lane == 0) tma::arrive(bar.k_empty(stage));  // this warp's part of S is done
    softmax(s, item.first_tile + j, correction);
    wgmma::wait<0>();
    wgmma::fence_operand(o);
    if (L.lane == 0) tma::arrive(bar.v_empty(prev));
    rescale<kD>(o, correction);
    accumulator_to_a<kN>(p, s);
  }
  // Every S = Q K^T of the item has completed: its Q stage may be refilled.
  if (L.lane == 0) tma::arrive(bar.q.empty(0, q_stage));
  const int last = stage_of(count - 1);
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

// A CTA's items, in the roles' loops (both keep the same ring places,
// RingPlace, from the same items): in round k, item k * G + blockIdx.x for
// even k and k * G + G - 1 - blockIdx.x for odd k (G = gridDim.x). As the
// items come longest first, a CTA that took a longer item in one round takes
// a shorter one in the next: on the 124M step's shape (1,536 items, 132
// CTAs) the most tiles a CTA gets is 1% over the mean, where taking every
// G-th item would make it 7%.
template <class Tr, class Body>
__device__ __forceinline__ void for_each_item(const Sm90ForwardArgs& a, Body&& body) {
  const int64_t items = ForwardItem<Tr>::count(a), G = gridDim.x;
  const auto index_of = [&](int64_t round) { return round * G + (round % 2 == 0 ? blockIdx.x : G - 1 - blockIdx.x); };
  RingPlace at;
  for (int64_t round = 0, index = index_of(0); index < items; ++round) {
    const ForwardItem<Tr> item(a, index);
    const int64_t next = index_of(round + 1);
    body(item, at, next >= items);
    at.j0 += item.tiles();
    ++at.n;
    index = next;
  }
}

// Grid: one CTA an item, or fewer CTAs that take several (ForwardItem).
template <class Tr, bool kPingPong>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    attention_forward_sm90_kernel(const __grid_constant__ CUtensorMap qkv_map,
                                  const Sm90ForwardArgs args) {
  using Smem = Sm90ForwardSmem<Tr>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = aligned_shared_base(smem_raw);
  const Sm90Barriers<Tr> bar(reinterpret_cast<uint64_t*>(smem + Smem::kBarriers));

  if (threadIdx.x == 0) bar.init();
  __syncthreads();

  run_roles<Tr>(
      [&] {
        if (threadIdx.x != 0) return;
        tma::prefetch_map(&qkv_map);
        for_each_item<Tr>(args, [&](const ForwardItem<Tr>& item, const RingPlace& at, bool) {
          produce<Tr>(&qkv_map, smem, bar, item, int(args.layout.H), args.layout.T, at);
        });
      },
      [&](int consumer) {
        // The last consumer opens consumer 0's first turn (consume's pass_turn).
        if constexpr (kPingPong)
          if (consumer == Tr::kConsumers - 1) named_barrier_arrive(1, 256);
        for_each_item<Tr>(args, [&](const ForwardItem<Tr>& item, const RingPlace& at, bool last_item) {
          consume<Tr, kPingPong>(args, smem, bar, consumer, item, at, last_item);
        });
      });
}

}  // namespace alibi::cuda
