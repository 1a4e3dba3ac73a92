// Tiling of the tensor-core attention kernels, kept apart from the
// algorithms so that a Hopper kernel (or tuning) can swap them.
//
// Each warp owns 16 rows of the CTA's block (the M of one mma), so the block
// that a CTA owns is 16 * kWarps rows: query rows in the forward and dQ
// kernels, key rows in the dK/dV kernel. The other side is streamed through
// shared memory in tiles of kStreamRows rows, double-buffered.
#pragma once

#include <numeric>  // std::gcd

namespace alibi::cuda {

template <int kHeadDim_, int kWarps_, int kStreamRows_>
struct AttentionTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarps = kWarps_;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kOwnedRows = 16 * kWarps;    // rows a CTA owns
  static constexpr int kStreamRows = kStreamRows_;  // rows per streamed tile
  // Shared-memory rows are padded by 16 bytes: the 8 row addresses of one
  // ldmatrix then fall into distinct bank groups instead of all into one.
  static constexpr int kRowStride = kHeadDim + 8;     // in bf16 elements
  static constexpr int kChunksPerRow = kHeadDim / 8;  // 16-byte copies per row

  static_assert(kHeadDim % 16 == 0, "head dim must be a multiple of the mma K (16)");
  static_assert(kStreamRows % 16 == 0, "streamed tiles are consumed 16 rows at a time");
};

// Forward: a CTA owns 64 query rows (4 warps) and streams 64-key tiles of K
// and V. (128-row blocks with 8 warps were measured 8-15% slower on an H100:
// more K/V reuse did not pay for fewer resident CTAs and a longer causal tail.)
template <int D>
using ForwardTraits = AttentionTraits<D, 4, 64>;
// dQ: a CTA owns 64 query rows and streams 64-key tiles of K and V (8 warps
// measured within noise of 4).
template <int D>
using BackwardDqTraits = AttentionTraits<D, 4, 64>;
// dK/dV: a CTA owns 64 keys and streams tiles of Q and dO; at D = 128 the
// tile is halved to keep S^T and dP^T (and dK, dV) in registers.
template <int D>
using BackwardDkDvTraits = AttentionTraits<D, 4, (D > 96 ? 32 : 64)>;

// Hopper forward (attention_forward_sm90.cuh). A CTA owns kBlockM query
// rows: kConsumers warpgroups of 64 rows each (the M of one wgmma), fed by
// one producer warpgroup that streams K and V tiles of kBlockN keys through
// a ring of kStages shared-memory buffers. Tiles are stored as boxes of 64
// columns (128 bytes a row: the widest row the 128-byte swizzle allows), so
// a D = 128 tile is two boxes side by side. The Q block and the K/V tiles
// are copied with one tensor map, so in TMA boxes of one height, kBoxRows,
// that divides both (a 192-row block and 128-key tiles: 64-row copies).
// kColumnBiasInRegisters: the key-dependent half of the ALiBi bias is kept
// in registers across tiles (ColumnBias), else recomputed for every tile
// (one more FFMA a score, kN / 4 fewer registers a thread).
// kHeadDim is the tile's width (sm90_tile_dim), kDataDim the head's own D:
// the products that sum over the head dim (Q K^T) take kDataDim / 16 steps.
template <int kHeadDim_, int kBlockN_, int kStages_, int kConsumers_ = 2,
          bool kColumnBiasInRegisters_ = true, int kDataDim_ = kHeadDim_>
struct Sm90ForwardTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kDataDim = kDataDim_;
  static constexpr int kConsumers = kConsumers_;
  static constexpr int kConsumerRows = 64;
  static constexpr int kBlockM = kConsumers * kConsumerRows;
  static constexpr int kBlockN = kBlockN_;
  static constexpr int kStages = kStages_;
  static constexpr bool kColumnBiasInRegisters = kColumnBiasInRegisters_;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  // setmaxnreg budgets: the producer only issues copies; the consumers, which
  // hold S, P and O, share the rest of the pool evenly (setmaxnreg takes
  // multiples of 8). The pool, per thread slot of a warpgroup, is what
  // __launch_bounds__(kThreads, 1) gives every thread at entry times the
  // warpgroups: 168 * 3 = 504 with 2 consumers (24 + 2 * 240), 128 * 4 = 512
  // with 3 (24 + 3 * 160).
  static constexpr int kRegisterPool = 65536 / kThreads / 8 * 8 * (1 + kConsumers);
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = (kRegisterPool - kProducerRegs) / kConsumers / 8 * 8;
  static constexpr int kBoxCols = 64;
  static constexpr int kBoxes = kHeadDim / kBoxCols;
  static constexpr int kRowBytes = kBoxCols * 2;
  static constexpr int kBoxRows = std::gcd(kBlockM, kBlockN);

  static_assert(kHeadDim % kBoxCols == 0, "head dim must be a multiple of 64");
  static_assert(kDataDim % 16 == 0 && kDataDim <= kHeadDim, "the head's D: whole k-steps inside the tile");
  static_assert(kConsumers == 2 || kConsumers == 3, "instantiated: 2 or 3 consumer warpgroups");
  static_assert(kBlockN % 16 == 0 && kBlockN <= 256, "one wgmma covers the key tile");
  static_assert(kBoxRows % 8 == 0 && kBoxRows <= 256,
                "TMA copies of whole 1024-byte swizzle atoms, at most 256 rows a box");
  static_assert(kProducerRegs + kConsumers * kConsumerRegs <= kRegisterPool, "register pool");
};
// 128-key tiles: at D = 128, S (64 fp32), O (64 fp32) and P (32 bf16x2) per
// thread fit in 240 registers. Stages: 3 by default (D = 128: 224 KiB of
// shared memory, under the 227 KiB limit), so that a tile's load starts two
// tiles ahead of its use; 2 selectable (ALIBI_SM90_STAGES, for measuring:
// within noise of 3 on an H200).
// 3 consumers (D = 64 only, the default there from 2048 tokens on; the
// choice in attention_forward_sm90.cu) leave 160 registers a consumer
// thread: FlashAttention-3's 192 x 128 tiles, with the column bias
// recomputed per tile. S (64 fp32), P (32), O (32) and ColumnBias (32) did
// not fit (ptxas, CUDA 13.0: 200-296 bytes of spill stores); without
// ColumnBias they do, with no spill and under 8 registers to spare. 64-key
// tiles keeping ColumnBias also fit, with room (no spill at 128 registers),
// at twice the tiles, barrier waits and turns per row: the fallback if a
// change makes the 128-key variant spill.
// The Hopper kernels' tile width for head dim D. Their products run over
// whole 64-column boxes, so D = 80 and 96 run in 128-column tiles: TMA
// fills the columns past D with zeros, which add nothing to any product
// (Q K^T, P V, dS K, ...), and the stores leave them out. The scale and the
// row addressing use the head's own D (HeadLayout::D).
constexpr int sm90_tile_dim(int D) { return D <= 64 ? 64 : 128; }

template <int D, int kStages, int kConsumers = 2>
using ForwardSm90Traits = Sm90ForwardTraits<sm90_tile_dim(D), 128, kStages, kConsumers, kConsumers == 2, D>;
constexpr int kSm90DefaultStages = 3;

}  // namespace alibi::cuda

namespace alibi::cuda {

// Hopper backward (attention_backward_sm90.cuh), the dK/dV and the dQ kernel
// alike: a CTA owns kBlock rows (keys for dK/dV, queries for dQ), split
// between kConsumers warpgroups of 64 rows (the M of one wgmma); one producer
// warpgroup streams tiles of kStream rows of the other side (Q and dO, or K
// and V) through a ring of kStages shared-memory stages. Tiles are stored as
// 64-column boxes with the 128-byte swizzle, as in the forward.
//
// kStream = 64 at both head dims: at D = 128 a dK/dV consumer thread holds
// dK and dV (64 + 64 fp32), S^T and dP^T (32 + 32 fp32) and their bf16
// fragments (16 + 16) under the 240-register cap; a 128-row stream tile
// would double S^T and dP^T (FlashAttention-3 also streams 64 rows there).
// kHeadDim is the tile's width (sm90_tile_dim), kDataDim the head's own D:
// the products that sum over the head dim (S^T = K Q^T, dP^T = V dO^T) take
// kDataDim / 16 steps.
template <int kHeadDim_, int kStages_, bool kOwnedInRegisters_ = (kHeadDim_ == 64),
          int kDqColumnParts_ = (kHeadDim_ == 64 ? 1 : 2), int kDataDim_ = kHeadDim_>
struct Sm90BackwardTraits {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kDataDim = kDataDim_;
  static_assert(kDataDim % 16 == 0 && kDataDim <= kHeadDim, "the head's D: whole k-steps inside the tile");
  // The fused kernel's dQ = dS K of a tile, by columns: 2 parts, each
  // consumer multiplying for half of the head's columns every tile (D =
  // 128: a whole 64 x 128 dQ would not fit in registers beside dK and dV),
  // or 1, the consumers taking turns (tile % 2) to multiply for all columns
  // (D = 64: one N = 64 product reads its dS operand from shared memory
  // once instead of two N = 32 products reading it twice, and the other
  // consumer goes on without waiting).
  static constexpr int kDqColumnParts = kDqColumnParts_;
  // The warpgroup's 64 rows of the dK/dV kernel's owned blocks (K and V; the
  // dQ kernel keeps Q and dO in shared memory: see consume_dq) as wgmma A
  // fragments in registers, loaded once, instead of re-read from
  // shared memory by every product with the streamed tiles: at D = 64,
  // where those products are 64 x 64 and shared-memory bandwidth, not the
  // tensor cores, bounds them; it costs 2 * D / 4 registers per thread
  // (32 at D = 64, which fit; 64 at D = 128, which do not).
  static constexpr bool kOwnedInRegisters = kOwnedInRegisters_;
  static constexpr int kConsumers = 2;
  static constexpr int kConsumerRows = 64;
  static constexpr int kBlock = kConsumers * kConsumerRows;  // owned rows
  static constexpr int kStream = 64;                         // streamed rows per tile
  static constexpr int kStages = kStages_;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  // As the forward: 24 + 2 * 240 = 504 registers per thread slot, the pool
  // that __launch_bounds__(384, 1) gives the CTA (168 per thread).
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = 240;
  static constexpr int kBoxCols = 64;
  static constexpr int kBoxRows = 64;  // rows of one TMA box (all maps)
  static constexpr int kBoxes = kHeadDim / kBoxCols;
  static constexpr int kRowBytes = kBoxCols * 2;

  static_assert(kHeadDim == 64 || kHeadDim == 128, "wgmma shapes instantiated: N = 64, 128");
  static_assert(kStream == kConsumerRows, "the diagonal/skip tests assume square 64-row tiles");
  static_assert(kBlock % kStream == 0, "owned blocks start on stream-tile boundaries");
  static_assert(kProducerRegs + kConsumers * kConsumerRegs <= 504, "register pool");
  static_assert(kDqColumnParts == kConsumers || kDqColumnParts == 1, "dQ by columns or by turns");
};
// 2 stages: at D = 128 the fused dK/dV/dQ kernel then uses ~226 KiB of
// shared memory (the owned blocks, two stages, two dS buffers and two dQ
// part buffers per consumer). 3 stages (before the dQ part buffers were
// doubled) measured 0-10% slower on an H200.
constexpr int kSm90BackwardStages = 2;

}  // namespace alibi::cuda
