// The Hopper product with fused GELU epilogues (gemm_sm90.cuh).
//  - Tiles of kBlockM x kBlockN outputs, persistent: one CTA an SM takes
//    every gridDim.x-th tile, N fastest (the CTAs working at one time share
//    their rows of A; W, a few MB, stays in L2).
//  - Warpgroup 0, the producer: one thread copies, by TMA, each tile's A
//    (kBlockM x 64) and W (kBlockN x 64) slices of K into a ring of stages;
//    the ring runs on across tiles, so the next tile's first slices land
//    while the consumers finish the current one.
//  - Warpgroups 1 and 2, the consumers, own 64 rows of the tile each: wgmma
//    from shared memory into 2 x 128 columns of f32 accumulators, one
//    product group in flight while the next slice is issued; then the
//    epilogue on the registers, stored as bf16 pairs.
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
// swizzled box row), 4 stages of 48 KB.
struct GemmTile {
  static constexpr int kBlockM = 128, kBlockN = 256, kBlockK = 64;
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
  static constexpr int kBarriers = kStages * kStageBytes;
  using Ring = StageRing<kStages, 1>;
  static constexpr size_t smem_bytes() { return size_t(kBarriers) + 8 * Ring::kCount + 1024; }
  static_assert(kBlockN <= 256 && kBlockM <= 256, "one TMA box a slice of each operand");
  static_assert(kProducerRegs * 128 + kConsumers * kConsumerRegs * 128 <= 65536, "register pool");
};

struct TileCoords {
  int m0, n0;
};

__device__ __forceinline__ TileCoords tile_coords(int tile, int n_tiles) {
  return {tile / n_tiles * GemmTile::kBlockM, tile % n_tiles * GemmTile::kBlockN};
}

struct KernelArgs {
  __nv_bfloat16* out;
  __nv_bfloat16* pre_written;
  const __nv_bfloat16* pre_read;
  const __nv_bfloat16* bias;
  int M, N, k_slices, m_tiles, n_tiles;
};

__device__ void produce(const CUtensorMap* a_map, const CUtensorMap* w_map, unsigned char* smem,
                        const GemmTile::Ring& ring, const KernelArgs& a) {
  tma::prefetch_map(a_map);
  tma::prefetch_map(w_map);
  int j = 0;  // the slice's place in the ring's order, across tiles
  for (int tile = blockIdx.x; tile < a.m_tiles * a.n_tiles; tile += gridDim.x) {
    const TileCoords at = tile_coords(tile, a.n_tiles);
    for (int k = 0; k < a.k_slices; ++k, ++j) {
      ring.wait_free(0, j);
      const int stage = GemmTile::Ring::stage_of(j);
      unsigned char* base = smem + stage * GemmTile::kStageBytes;
      uint64_t* full = ring.full(0, stage);
      tma::arrive_expect_bytes(full, GemmTile::kStageBytes);  // boxes past the matrix count in full, as zeros
      tma::load_2d(base, a_map, full, k * GemmTile::kBlockK, at.m0);
      tma::load_2d(base + GemmTile::kABytes, w_map, full, k * GemmTile::kBlockK, at.n0);
    }
  }
}

using Accumulator = float[2][GemmTile::kHalfN / 8][4];

// The epilogue of one thread's pair of adjacent outputs (row, col), col even.
template <GemmEpilogue kEpilogue>
__device__ __forceinline__ void store_pair(const KernelArgs& a, int row, int col, float v0, float v1) {
  const int64_t at = int64_t(row) * a.N + col;
  if constexpr (kEpilogue == GemmEpilogue::GeluAuxBias) {
    if (a.bias) {
      const __nv_bfloat162 b = *reinterpret_cast<const __nv_bfloat162*>(a.bias + col);
      v0 += __bfloat162float(b.x), v1 += __bfloat162float(b.y);
    }
    const __nv_bfloat162 pre = __floats2bfloat162_rn(v0, v1);
    *reinterpret_cast<__nv_bfloat162*>(a.pre_written + at) = pre;
    const float x0 = __bfloat162float(pre.x), x1 = __bfloat162float(pre.y);
    *reinterpret_cast<__nv_bfloat162*>(a.out + at) = __floats2bfloat162_rn(x0 * gelu_gate(x0), x1 * gelu_gate(x1));
  } else {
    const __nv_bfloat162 pre = *reinterpret_cast<const __nv_bfloat162*>(a.pre_read + at);
    *reinterpret_cast<__nv_bfloat162*>(a.out + at) = __floats2bfloat162_rn(
        v0 * gelu_grad(__bfloat162float(pre.x)), v1 * gelu_grad(__bfloat162float(pre.y)));
  }
}

// A warp's 16 rows of the consumer's 64 (wgmma.cuh's accumulator layout):
// element (c, e) of half h is row row0 + g + 8 (e / 2), column
// col0 + 128 h + 8 c + 2 t + e % 2.
template <GemmEpilogue kEpilogue>
__device__ __forceinline__ void store_tile(const KernelArgs& a, const Accumulator& acc, int row0, int col0) {
  const Lane L;
#pragma unroll
  for (int half = 0; half < 2; ++half)
#pragma unroll
    for (int c = 0; c < GemmTile::kHalfN / 8; ++c) {
      const int col = col0 + half * GemmTile::kHalfN + 8 * c + 2 * L.t;
      if (col >= a.N) continue;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = row0 + L.g + 8 * r;
        if (row < a.M) store_pair<kEpilogue>(a, row, col, acc[half][c][2 * r], acc[half][c][2 * r + 1]);
      }
    }
}

template <GemmEpilogue kEpilogue>
__device__ void consume(unsigned char* smem, const GemmTile::Ring& ring, const KernelArgs& a, int consumer) {
  const int warp = (threadIdx.x / 32) % 4;  // within the warpgroup
  const uint32_t base = tma::smem_addr(smem);
  Accumulator acc;
  int j = 0;  // as the producer's
  for (int tile = blockIdx.x; tile < a.m_tiles * a.n_tiles; tile += gridDim.x) {
    const TileCoords at = tile_coords(tile, a.n_tiles);
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
      if (k > 0 && threadIdx.x % 32 == 0) tma::arrive(ring.empty(0, GemmTile::Ring::stage_of(j - 1)));
    }
    wgmma::wait<0>();
    wgmma::fence_operand(acc[0]);
    wgmma::fence_operand(acc[1]);
    if (threadIdx.x % 32 == 0) tma::arrive(ring.empty(0, GemmTile::Ring::stage_of(j - 1)));
    store_tile<kEpilogue>(a, acc, at.m0 + consumer * GemmTile::kConsumerRows + 16 * warp, at.n0);
  }
}

template <GemmEpilogue kEpilogue>
__global__ void __launch_bounds__(GemmTile::kThreads, 1)
    gemm_sm90_kernel(const __grid_constant__ CUtensorMap a_map, const __grid_constant__ CUtensorMap w_map,
                     const KernelArgs args) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = aligned_shared_base(smem_raw);
  const GemmTile::Ring ring{reinterpret_cast<uint64_t*>(smem + GemmTile::kBarriers)};
  if (threadIdx.x == 0) ring.init(4 * GemmTile::kConsumers);  // an arrival a consumer warp
  __syncthreads();
  run_roles<GemmTile>(
      [&] {
        if (threadIdx.x == 0) produce(&a_map, &w_map, smem, ring, args);
      },
      [&](int consumer) { consume<kEpilogue>(smem, ring, args, consumer); });
#endif
}

template <GemmEpilogue kEpilogue>
void launch(const GemmSm90Args& g, cudaStream_t stream) {
  const Dims shape = {{"M", g.M}, {"N", g.N}, {"K", g.K}};
  CUtensorMap a_map, w_map;
  check_cuda(encode_matrix_map(&a_map, g.a, g.K, g.M, GemmTile::kBlockM), "gemm_sm90 (A's tensor map)", shape);
  check_cuda(encode_matrix_map(&w_map, g.w, g.K, g.N, GemmTile::kBlockN), "gemm_sm90 (W's tensor map)", shape);
  const auto kernel = gemm_sm90_kernel<kEpilogue>;
  static const cudaError_t opted_in = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                           static_cast<int>(GemmTile::smem_bytes()));
  check_cuda(opted_in, "gemm_sm90 (shared memory)", shape);
  KernelArgs args{g.out, g.pre_written, g.pre_read, g.bias, static_cast<int>(g.M), static_cast<int>(g.N),
                  static_cast<int>((g.K + GemmTile::kBlockK - 1) / GemmTile::kBlockK),
                  static_cast<int>((g.M + GemmTile::kBlockM - 1) / GemmTile::kBlockM),
                  static_cast<int>((g.N + GemmTile::kBlockN - 1) / GemmTile::kBlockN)};
  const int tiles = args.m_tiles * args.n_tiles;
  const int ctas = std::min(tiles, multiprocessor_count());
  kernel<<<ctas, GemmTile::kThreads, GemmTile::smem_bytes(), stream>>>(a_map, w_map, args);
  check_launch("gemm_sm90", shape);
}

}  // namespace

bool gemm_sm90_suits(const GemmSm90Args& g) {
  if (g.M < 1 || g.N < 1 || g.K < 1 || g.K % 8 != 0 || g.N % 8 != 0) return false;
  // TMA's coordinates and the kernel's indices are 32-bit; a tile past the end must fit too.
  constexpr int64_t kLimit = (int64_t(1) << 31) - 512;
  if (g.M > kLimit || g.N > kLimit || g.K > kLimit || g.M * g.N > (int64_t(1) << 62)) return false;
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
  if (g.epilogue == GemmEpilogue::GeluAuxBias)
    launch<GemmEpilogue::GeluAuxBias>(g, stream);
  else
    launch<GemmEpilogue::Dgelu>(g, stream);
}

}  // namespace alibi::cuda
