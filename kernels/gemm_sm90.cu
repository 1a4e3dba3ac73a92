// The Hopper product with fused GELU epilogues (gemm_sm90.cuh).
//  - Tiles of kBlockM x kBlockN outputs, persistent: one CTA an SM takes
//    every gridDim.x-th tile, N fastest (the CTAs working at one time share
//    their rows of A; W, a few MB, stays in L2).
//  - Optionally in clusters of kCluster CTAs (GemmSm90Args::cta_pairs: 2)
//    on kCluster tiles one above the other: each CTA loads its own A slice
//    and a 1/kCluster share of the W slice, multicast into every CTA of the
//    cluster, so W crosses the L2 once for kCluster tiles (the L2's
//    traffic, not the tensor cores, bounded the single-CTA kernel under ncu).
//  - Warpgroup 0, the producer: one thread copies, by TMA, each tile's A
//    (kBlockM x 64) and W (kBlockN x 64) slices of K into a ring of stages;
//    the ring runs on across tiles, so the next tile's first slices land
//    while the consumers finish the current one.
//  - Warpgroups 1 and 2, the consumers, own 64 rows of the tile each: wgmma
//    from shared memory into 2 x 128 columns of f32 accumulators, one
//    product group in flight while the next slice is issued; then the
//    epilogue on the registers: its other inputs (bias, pre-activations)
//    loaded while the tile's last products run, the outputs exchanged
//    within each quad of lanes into 16-byte stores; where asked, the
//    outputs' column sums over the tile's rows (lanes, then warps through
//    shared memory, always in the same order).
#include "kernels/gemm_sm90.cuh"

#include <cuda.h>

#include <algorithm>

#include "cuda/cuda_check.cuh"
#include "kernels/attention_sm90_pipeline.cuh"
#include "kernels/attention_tiles.cuh"
#include "kernels/common.cuh"
#include "kernels/device_info.cuh"
#include "kernels/gelu_math.cuh"
#include "kernels/tensor_map.cuh"
#include "kernels/tma.cuh"
#include "kernels/wgmma.cuh"

namespace alibi::cuda {
namespace {

// The tiling: 128 x 256 outputs a CTA, K in slices of 64 (one 128-byte
// swizzled box row), 4 stages of 48 KB; then two tiles' worth of the column
// sums' warp partials (16 KB), then the ring's barriers.
struct GemmTile {
  static constexpr int kBlockM = int(kGemmSm90TileRows), kBlockN = 256, kBlockK = 64;
  static constexpr int kConsumers = 2, kConsumerRows = kBlockM / kConsumers;  // 64: one wgmma's M
  static constexpr int kHalfN = 128;  // a wgmma's N: the accumulator is two halves
  static constexpr int kStages = 4;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  // setmaxnreg: 40 + 2 x 232 a thread slot of the three warpgroups (<= 65536 / 128).
  static constexpr int kProducerRegs = 40, kConsumerRegs = 232;
  static constexpr int kRowBytes = kBlockK * 2;
  static constexpr int kABytes = kBlockM * kRowBytes;
  static constexpr int kWBytes = kBlockN * kRowBytes;
  static constexpr int kStageBytes = kABytes + kWBytes;
  static constexpr int kSumWarps = kConsumers * 4;  // a tile's warps, 16 rows each
  static constexpr int kColumnSums = kStages * kStageBytes;
  static constexpr int kColumnSumBytes = 2 * kSumWarps * kBlockN * int(sizeof(float));
  static constexpr int kBarriers = kColumnSums + kColumnSumBytes;
  using Ring = StageRing<kStages, 1, /*kOnce=*/false>;
  static constexpr size_t smem_bytes() { return size_t(kBarriers) + 8 * Ring::kCount + 1024; }
  static_assert(kBlockN <= 256 && kBlockM <= 256, "one TMA box a slice of each operand");
  static_assert(kProducerRegs * 128 + kConsumers * kConsumerRegs * 128 <= 65536, "register pool");
};

static_assert(GemmTile::smem_bytes() <= 227 * 1024, "an H100's shared memory a block");

struct TileCoords {
  int m0, n0;
};

// Groups of kCluster m-tiles (one a cluster's rank each) by n-tile: the
// persistent grid's units of work, counted alike by the launcher and the
// kernel.
template <int kCluster, class Int>
__host__ __device__ constexpr Int tile_groups(Int m_tiles, Int n_tiles) {
  return (m_tiles + kCluster - 1) / kCluster * n_tiles;
}

// A CTA's tiles: groups of kCluster m-tiles (one a cluster rank) by n-tile,
// N fastest; cluster c of C takes groups c, c + C, ... (C = gridDim.x /
// kCluster, the launch's clusters being consecutive blocks). With an odd
// count of m-tiles the last group's second tile lies past M: that CTA still
// loads (its A clamped to the last tile) and stores nothing.
template <int kCluster>
struct TileWalk {
  int rank, groups, m_tiles, n_tiles;
  __device__ TileWalk(int m_tiles_, int n_tiles_)
      : rank(kCluster > 1 ? int(tma::cluster_rank()) : 0),
        groups(tile_groups<kCluster>(m_tiles_, n_tiles_)),
        m_tiles(m_tiles_),
        n_tiles(n_tiles_) {}
  __device__ static int first() { return int(blockIdx.x) / kCluster; }
  __device__ static int stride() { return int(gridDim.x) / kCluster; }
  __device__ TileCoords at(int group) const {
    return {(group / n_tiles * kCluster + rank) * GemmTile::kBlockM, group % n_tiles * GemmTile::kBlockN};
  }
  // Where this CTA's A slices come from: its tile, or the last one where its tile lies past M.
  __device__ int a_row(const TileCoords& c) const { return min(c.m0, (m_tiles - 1) * GemmTile::kBlockM); }
};

// The product's tiles and K slices (its shape assumed positive).
struct TileCounts {
  int64_t m_tiles, n_tiles, k_slices;
};
TileCounts tile_counts(const GemmSm90Args& g) {
  return {gemm_sm90_row_tiles(g.M), (g.N + GemmTile::kBlockN - 1) / GemmTile::kBlockN,
          (g.K + GemmTile::kBlockK - 1) / GemmTile::kBlockK};
}

struct KernelArgs {
  __nv_bfloat16* out;
  __nv_bfloat16* pre_written;
  const __nv_bfloat16* pre_read;
  const __nv_bfloat16* bias;
  float* column_partials;
  int M, N, k_slices, m_tiles, n_tiles;
};

template <int kCluster>
__device__ void produce(const CUtensorMap* a_map, const CUtensorMap* w_map, unsigned char* smem,
                        const GemmTile::Ring& ring, const KernelArgs& a) {
  constexpr int kWShareRows = GemmTile::kBlockN / kCluster;  // of W's slice, this CTA's to load
  tma::prefetch_map(a_map);
  tma::prefetch_map(w_map);
  const TileWalk<kCluster> walk(a.m_tiles, a.n_tiles);
  int j = 0;  // the slice's place in the ring's order, across tiles
  for (int group = walk.first(); group < walk.groups; group += walk.stride()) {
    const TileCoords at = walk.at(group);
    for (int k = 0; k < a.k_slices; ++k, ++j) {
      ring.wait_free(0, j);  // with kCluster > 1: free in every CTA of the cluster
      const int stage = GemmTile::Ring::stage_of(j);
      unsigned char* base = smem + stage * GemmTile::kStageBytes;
      uint64_t* full = ring.full(0, stage);
      // The whole stage: the cluster's other CTAs send their shares of W to
      // this barrier too. Boxes past the matrix count in full, as zeros.
      tma::arrive_expect_bytes(full, GemmTile::kStageBytes);
      tma::load_2d(base, a_map, full, k * GemmTile::kBlockK, walk.a_row(at));
      unsigned char* w_share = base + GemmTile::kABytes + walk.rank * kWShareRows * GemmTile::kRowBytes;
      const int w_row = at.n0 + walk.rank * kWShareRows;
      if constexpr (kCluster == 1)
        tma::load_2d(w_share, w_map, full, k * GemmTile::kBlockK, w_row);
      else
        tma::load_2d_multicast(w_share, w_map, full, k * GemmTile::kBlockK, w_row, (1u << kCluster) - 1);
    }
  }
}

// A consumer warp is done with a stage: one arrival on its empty barrier in
// every CTA of the cluster (each CTA's producer refills its stage only once
// all of them have read it, as its W share lands in all of them).
template <int kCluster>
__device__ __forceinline__ void release_stage(const GemmTile::Ring& ring, int stage) {
  if (threadIdx.x % 32 != 0) return;
  if constexpr (kCluster == 1) {
    tma::arrive(ring.empty(0, stage));
  } else {
#pragma unroll
    for (int r = 0; r < kCluster; ++r) tma::arrive_in_cta(ring.empty(0, stage), r);
  }
}

using Accumulator = float[2][GemmTile::kHalfN / 8][4];

// The epilogue works on strips of 32 columns of one accumulator row: a quad
// (the 4 lanes t of one row g, wgmma.cuh's layout) holds a strip as 4 bf16
// pairs a lane, x[j] the pair at columns 8j + 2t. exchange_quad turns that
// into x[s], the pair at columns 8t + 2s: each lane then holds 8 adjacent
// columns, one 16-byte load or store, full 32-byte sectors for the quad
// (pairs of 4 bytes half-filled each sector, twice the L2 requests). The
// exchange is its own inverse: it also spreads a strip loaded that way.
__device__ __forceinline__ void xor_permute(uint32_t (&x)[4], int t) {  // x[j] <- x[j ^ t]
  const bool odd = t & 1, high = t & 2;
  const uint32_t a0 = odd ? x[1] : x[0], a1 = odd ? x[0] : x[1], a2 = odd ? x[3] : x[2], a3 = odd ? x[2] : x[3];
  x[0] = high ? a2 : a0, x[1] = high ? a3 : a1, x[2] = high ? a0 : a2, x[3] = high ? a1 : a3;
}

__device__ __forceinline__ void exchange_quad(uint32_t (&x)[4]) {
  const int t = threadIdx.x % 4;
  xor_permute(x, t);  // x[r] is now the pair lane t ^ r wants
#pragma unroll
  for (int r = 1; r < 4; ++r) x[r] = __shfl_xor_sync(0xffffffffu, x[r], r);
  xor_permute(x, t);  // received from lane t ^ r: back to its column order
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&p);
}
__device__ __forceinline__ float2 unpack_bf16x2(uint32_t w) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w));
}

// A thread's place in the tile's epilogue: its two rows (g and g + 8 of its
// warp's 16) and the quad lane t.
struct EpiloguePlace {
  int row0, col0, t;  // row0: row g; col0: the tile's first column
  __device__ int row(int r) const { return row0 + 8 * r; }
  // The first of the 8 columns lane t holds of strip q (32 columns) of half h, after exchange_quad.
  __device__ int strip_col(int h, int q) const { return col0 + h * GemmTile::kHalfN + 32 * q + 8 * t; }
};

constexpr int kStrips = GemmTile::kHalfN / 32;  // 32-column strips a half

// What the epilogue reads besides the accumulators, loaded while the
// tile's last products run (the loads' latency off the critical path):
// the bias pairs of the thread's columns (GeluAuxBias), or its rows'
// pre-activations in 16-byte pieces, as stored (Dgelu).
template <GemmEpilogue kEpilogue>
struct EpilogueInputs;

template <>
struct EpilogueInputs<GemmEpilogue::GeluAuxBias> {
  uint32_t bias[2][GemmTile::kHalfN / 8];  // [half][c]: the pair at column 8c + 2t
  __device__ void load(const KernelArgs& a, const EpiloguePlace& p) {
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int c = 0; c < GemmTile::kHalfN / 8; ++c) {
        const int col = p.col0 + h * GemmTile::kHalfN + 8 * c + 2 * p.t;
        bias[h][c] = a.bias && col < a.N ? __ldg(reinterpret_cast<const unsigned int*>(a.bias + col)) : 0u;
      }
  }
};

template <>
struct EpilogueInputs<GemmEpilogue::Dgelu> {
  uint4 pre[2][2][kStrips];  // [half][r][q]: row r's 8 columns of strip q, lane t's
  __device__ void load(const KernelArgs& a, const EpiloguePlace& p) {
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int q = 0; q < kStrips; ++q) {
          const int row = p.row(r), col = p.strip_col(h, q);
          pre[h][r][q] = row < a.M && col < a.N
                             ? __ldg(reinterpret_cast<const uint4*>(a.pre_read + int64_t(row) * a.N + col))
                             : make_uint4(0, 0, 0, 0);
        }
  }
};

__device__ __forceinline__ void store16(__nv_bfloat16* base, const KernelArgs& a, int row, int col,
                                        const uint32_t (&x)[4]) {
  if (row < a.M && col < a.N)
    *reinterpret_cast<uint4*>(base + int64_t(row) * a.N + col) = make_uint4(x[0], x[1], x[2], x[3]);
}

// sums[i] += column 8t + i of a strip as stored, out[] after exchange_quad
// (none where the row lies past M).
__device__ __forceinline__ void add_row(float (&sums)[8], const uint32_t (&out)[4], bool row_inside) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const float2 x = unpack_bf16x2(out[s]);
    sums[2 * s] += row_inside ? x.x : 0.f;
    sums[2 * s + 1] += row_inside ? x.y : 0.f;
  }
}

// pre = bf16(acc + bias) is stored, and out = bf16(GELU(pre)), GELU of pre
// as stored.
__device__ __forceinline__ void store_strip(const KernelArgs& a, const EpilogueInputs<GemmEpilogue::GeluAuxBias>& in,
                                            const Accumulator& acc, const EpiloguePlace& p, int h, int r, int q,
                                            float (&sums)[8]) {
  uint32_t pre[4], out[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = 4 * q + j;
    const float2 b = unpack_bf16x2(in.bias[h][c]);
    pre[j] = pack_bf16x2(acc[h][c][2 * r] + b.x, acc[h][c][2 * r + 1] + b.y);
    const float2 x = unpack_bf16x2(pre[j]);
    out[j] = pack_bf16x2(x.x * gelu_gate(x.x), x.y * gelu_gate(x.y));
  }
  exchange_quad(pre);
  exchange_quad(out);
  store16(a.pre_written, a, p.row(r), p.strip_col(h, q), pre);
  store16(a.out, a, p.row(r), p.strip_col(h, q), out);
  add_row(sums, out, p.row(r) < a.M);
}

// out = bf16(acc * GELU'(pre)).
__device__ __forceinline__ void store_strip(const KernelArgs& a, const EpilogueInputs<GemmEpilogue::Dgelu>& in,
                                            const Accumulator& acc, const EpiloguePlace& p, int h, int r, int q,
                                            float (&sums)[8]) {
  const uint4 v = in.pre[h][r][q];
  uint32_t pre[4] = {v.x, v.y, v.z, v.w}, out[4];
  exchange_quad(pre);  // to the accumulator's columns
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int c = 4 * q + j;
    const float2 x = unpack_bf16x2(pre[j]);
    out[j] = pack_bf16x2(acc[h][c][2 * r] * gelu_grad(x.x), acc[h][c][2 * r + 1] * gelu_grad(x.y));
  }
  exchange_quad(out);
  store16(a.out, a, p.row(r), p.strip_col(h, q), out);
  add_row(sums, out, p.row(r) < a.M);
}

// Lane (g, t) holds v[i], column 8t + i of a strip summed over its rows g
// and g + 8; returns column 8t + g summed over the warp's 16 rows. A
// reduce-scatter over g (lane bits 4, 3, 2): each round a lane keeps half
// of its columns and adds its partner's share of them, so every column is
// summed by one lane in one fixed tree.
__device__ __forceinline__ float sum_over_warp_rows(const float (&v)[8]) {
  const int lane = threadIdx.x % 32;
  float w[4], u[2];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const bool high = lane & 16;  // keeps columns 4..7
    w[i] = (high ? v[i + 4] : v[i]) + __shfl_xor_sync(0xffffffffu, high ? v[i] : v[i + 4], 16);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const bool high = lane & 8;
    u[i] = (high ? w[i + 2] : w[i]) + __shfl_xor_sync(0xffffffffu, high ? w[i] : w[i + 2], 8);
  }
  const bool high = lane & 4;
  return (high ? u[1] : u[0]) + __shfl_xor_sync(0xffffffffu, high ? u[0] : u[1], 4);
}

// The column sums of a tile's outputs as stored (KernelArgs::column_partials):
// each warp's in shared memory (put), then, once every consumer warp has
// put its own, each consumer thread adds one column's over the warps in
// order and stores the tile's partial (finish). Tiles alternate between two
// buffers, so a warp already on the next tile cannot overwrite sums another
// is still reading: it passed the barrier that one reached after reading.
class ColumnSums {
 public:
  static constexpr int kBarrier = 1;  // named barrier of the consumer warpgroups
  __device__ ColumnSums(unsigned char* smem, int consumer)
      : sums_(reinterpret_cast<float*>(smem + GemmTile::kColumnSums)),
        warp_(consumer * 4 + (int(threadIdx.x) / 32) % 4) {}
  __device__ void put(const EpiloguePlace& p, int h, int q, float warp_sum) const {
    const int g = int(threadIdx.x % 32) / 4;
    sums_[(buffer_ * GemmTile::kSumWarps + warp_) * GemmTile::kBlockN + h * GemmTile::kHalfN + 32 * q + 8 * p.t + g] =
        warp_sum;
  }
  __device__ void finish(const KernelArgs& a, const TileCoords& at) {
    constexpr int kThreads = 128 * GemmTile::kConsumers;
    static_assert(kThreads == GemmTile::kBlockN, "a consumer thread a column");
    named_barrier_sync(kBarrier, kThreads);
    const int column = int(threadIdx.x) - 128;
    const float* buffer = sums_ + buffer_ * GemmTile::kSumWarps * GemmTile::kBlockN;
    float sum = buffer[column];
#pragma unroll
    for (int w = 1; w < GemmTile::kSumWarps; ++w) sum += buffer[w * GemmTile::kBlockN + column];
    const int m_tile = at.m0 / GemmTile::kBlockM;  // past the last where a CTA pair's second tile is
    if (m_tile < a.m_tiles && at.n0 + column < a.N)
      a.column_partials[int64_t(m_tile) * a.N + at.n0 + column] = sum;
    buffer_ ^= 1;
  }

 private:
  float* sums_;
  int warp_;
  int buffer_ = 0;
};

template <GemmEpilogue kEpilogue>
__device__ __forceinline__ void store_tile(const KernelArgs& a, const EpilogueInputs<kEpilogue>& in,
                                           const Accumulator& acc, const EpiloguePlace& p, ColumnSums& sums,
                                           const TileCoords& at) {
  const bool with_sums = a.column_partials != nullptr;
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int q = 0; q < kStrips; ++q) {
      float strip[8] = {};
#pragma unroll
      for (int r = 0; r < 2; ++r) store_strip(a, in, acc, p, h, r, q, strip);
      if (with_sums) sums.put(p, h, q, sum_over_warp_rows(strip));
    }
  if (with_sums) sums.finish(a, at);
}

template <GemmEpilogue kEpilogue, int kCluster>
__device__ void consume(unsigned char* smem, const GemmTile::Ring& ring, const KernelArgs& a, int consumer) {
  const int warp = (threadIdx.x / 32) % 4;  // within the warpgroup
  const uint32_t base = tma::smem_addr(smem);
  const TileWalk<kCluster> walk(a.m_tiles, a.n_tiles);
  ColumnSums sums(smem, consumer);
  Accumulator acc;
  int j = 0;  // as the producer's
  for (int group = walk.first(); group < walk.groups; group += walk.stride()) {
    const TileCoords at = walk.at(group);
    const EpiloguePlace place{at.m0 + consumer * GemmTile::kConsumerRows + 16 * warp + int(threadIdx.x % 32) / 4,
                              at.n0, int(threadIdx.x % 4)};
    for (int k = 0; k < a.k_slices; ++k, ++j) {
      const int stage = GemmTile::Ring::stage_of(j);
      ring.wait_full(0, j);
      const uint32_t a_addr = base + stage * GemmTile::kStageBytes + consumer * GemmTile::kConsumerRows * 128;
      const uint32_t w_addr = base + stage * GemmTile::kStageBytes + GemmTile::kABytes;
      wgmma::fence();
#pragma unroll
      for (int step = 0; step < GemmTile::kBlockK / 16; ++step) {  // 16 of K a product, 32 bytes into the rows
        const uint64_t da = wgmma::desc_sw128(a_addr + step * 32, 16, 1024);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const uint64_t dw = wgmma::desc_sw128(w_addr + half * GemmTile::kHalfN * 128 + step * 32, 16, 1024);
          wgmma::mma_ss<GemmTile::kHalfN, 0>(acc[half], da, dw, k > 0 || step > 0);
        }
      }
      wgmma::commit();
      // The slice before this one has been read: its stage may be refilled.
      wgmma::wait<1>();
      if (k > 0) release_stage<kCluster>(ring, GemmTile::Ring::stage_of(j - 1));
    }
    EpilogueInputs<kEpilogue> in;
    in.load(a, place);  // while the last slice's products run
    wgmma::wait<0>();
    wgmma::fence_operand(acc[0]);
    wgmma::fence_operand(acc[1]);
    release_stage<kCluster>(ring, GemmTile::Ring::stage_of(j - 1));
    store_tile<kEpilogue>(a, in, acc, place, sums, at);
  }
}

template <GemmEpilogue kEpilogue, int kCluster>
__global__ void __launch_bounds__(GemmTile::kThreads, 1)
    gemm_sm90_kernel(const __grid_constant__ CUtensorMap a_map, const __grid_constant__ CUtensorMap w_map,
                     const KernelArgs args) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = aligned_shared_base(smem_raw);
  const GemmTile::Ring ring{reinterpret_cast<uint64_t*>(smem + GemmTile::kBarriers)};
  if (threadIdx.x == 0) ring.init(4 * GemmTile::kConsumers * kCluster);  // an arrival a consumer warp of the cluster
  if constexpr (kCluster > 1) {
    __syncwarp();           // thread 0 back with its warp: the cluster barrier is warp-aligned
    tma::cluster_sync();  // every CTA's barriers initialized before any multicast or remote arrival
  } else {
    __syncthreads();
  }
  run_roles<GemmTile>(
      [&] {
        if (threadIdx.x == 0) produce<kCluster>(&a_map, &w_map, smem, ring, args);
      },
      [&](int consumer) { consume<kEpilogue, kCluster>(smem, ring, args, consumer); });
  // No CTA leaves (its shared memory) while another may still arrive there.
  if constexpr (kCluster > 1) {
    __syncwarp();
    tma::cluster_sync();
  }
#endif
}

// How many clusters of `kernel` fit on the GPU at once: a cluster's CTAs
// share a GPC, and a GPC with an odd count of SMs leaves one idle, so pairs
// may fit fewer than SMs / 2.
template <class Kernel>
int clusters_that_fit(Kernel kernel, const cudaLaunchConfig_t& config, const Dims& shape) {
  int n = 0;
  check_cuda(cudaOccupancyMaxActiveClusters(&n, kernel, &config), "gemm_sm90 (clusters that fit)", shape);
  if (n < 1) throw_cuda_error("gemm_sm90", shape, "not one cluster of its CTAs fits the GPU");
  return n;
}

template <GemmEpilogue kEpilogue, int kCluster>
void launch(const GemmSm90Args& g, cudaStream_t stream) {
  const Dims shape = {{"M", g.M}, {"N", g.N}, {"K", g.K}};
  CUtensorMap a_map, w_map;
  check_cuda(encode_matrix_map(&a_map, g.a, g.K, g.M, GemmTile::kBlockM), "gemm_sm90 (A's tensor map)", shape);
  check_cuda(encode_matrix_map(&w_map, g.w, g.K, g.N, GemmTile::kBlockN / kCluster), "gemm_sm90 (W's tensor map)",
             shape);
  const auto kernel = gemm_sm90_kernel<kEpilogue, kCluster>;
  static const cudaError_t opted_in = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           static_cast<int>(GemmTile::smem_bytes()));
  check_cuda(opted_in, "gemm_sm90 (shared memory)", shape);
  const TileCounts tiles = tile_counts(g);
  KernelArgs args{g.out,
                  g.pre_written,
                  g.pre_read,
                  g.bias,
                  g.column_partials,
                  static_cast<int>(g.M),
                  static_cast<int>(g.N),
                  static_cast<int>(tiles.k_slices),
                  static_cast<int>(tiles.m_tiles),
                  static_cast<int>(tiles.n_tiles)};
  cudaLaunchConfig_t config{};
  config.blockDim = dim3(GemmTile::kThreads);
  config.dynamicSmemBytes = GemmTile::smem_bytes();
  config.stream = stream;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = kCluster, cluster.val.clusterDim.y = 1, cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = kCluster > 1 ? 1 : 0;
  config.gridDim = dim3(kCluster);  // a grid of one cluster, while asking how many fit
  const int64_t groups = tile_groups<kCluster>(int64_t{args.m_tiles}, int64_t{args.n_tiles});
  // The persistent grid: as many clusters as fit at once (asked once a kernel).
  static const int fitting = kCluster > 1 ? clusters_that_fit(kernel, config, shape) : multiprocessor_count();
  const int clusters = static_cast<int>(std::min<int64_t>(groups, fitting));
  config.gridDim = dim3(static_cast<unsigned>(clusters * kCluster));
  check_cuda(cudaLaunchKernelEx(&config, kernel, a_map, w_map, args), "gemm_sm90 (launch)", shape);
  check_launch("gemm_sm90", shape);
}

template <int kCluster>
void launch_epilogue(const GemmSm90Args& g, cudaStream_t stream) {
  if (g.epilogue == GemmEpilogue::GeluAuxBias)
    launch<GemmEpilogue::GeluAuxBias, kCluster>(g, stream);
  else
    launch<GemmEpilogue::Dgelu, kCluster>(g, stream);
}

}  // namespace

bool gemm_sm90_suits(const GemmSm90Args& g) {
  if (g.M < 1 || g.N < 1 || g.K < 1 || g.K % 8 != 0 || g.N % 8 != 0) return false;
  // TMA's coordinates and the kernel's indices are 32-bit; a tile past the end must fit too.
  constexpr int64_t kLimit = (int64_t(1) << 31) - 512;
  if (g.M > kLimit || g.N > kLimit || g.K > kLimit) return false;
  const TileCounts tiles = tile_counts(g);
  if (tiles.m_tiles * tiles.n_tiles > (int64_t(1) << 30)) return false;  // the tile walk's 32-bit indices
  if (!aligned16(g.a) || !aligned16(g.w) || !aligned16(g.out)) return false;
  if (g.epilogue == GemmEpilogue::GeluAuxBias) {
    if (!aligned16(g.pre_written) || (g.bias && reinterpret_cast<uintptr_t>(g.bias) % 4 != 0)) return false;
  } else if (!aligned16(g.pre_read)) {
    return false;
  }
  const ComputeCapability cc = compute_capability();  // built for sm_90a only
  return cc.major == 9 && cc.minor == 0;
}

void gemm_sm90(const GemmSm90Args& g, cudaStream_t stream) {
  const Dims shape = {{"M", g.M}, {"N", g.N}, {"K", g.K}};
  if (!gemm_sm90_suits(g))
    throw_cuda_error("gemm_sm90", shape, "shape, alignment or device outside the Hopper product");
  if (g.cta_pairs)
    launch_epilogue<2>(g, stream);
  else
    launch_epilogue<1>(g, stream);
}

}  // namespace alibi::cuda
