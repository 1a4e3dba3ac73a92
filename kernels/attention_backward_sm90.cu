// Launch of the Hopper backward kernels (attention_backward_sm90.cuh): the
// row statistics (lse in log2 units and delta, padded rows), then either
//  - fused: the dK/dV kernel that also adds dQ into an fp32 accumulator
//    (bulk reductions, whose order varies), and the conversion of that
//    accumulator into dqkv; or
//  - deterministic: the dK/dV kernel and the dQ kernel,
// each with TMA tensor maps over qkv and dout.
#include <algorithm>

#include "kernels/attention_dkdv_sm90.cuh"
#include "kernels/attention_dq_sm90.cuh"
#include "kernels/attention_launch.cuh"
#include "kernels/tensor_map.cuh"

namespace alibi::cuda {
namespace {

template <class Kernel>
cudaError_t launch_one(Kernel kernel, size_t smem, dim3 grid, unsigned threads,
                       const CUtensorMap& qkv_map, const CUtensorMap& dout_map,
                       const Sm90BackwardArgs& args, cudaStream_t stream) {
  if (const cudaError_t st = allow_shared_memory(kernel, smem); st != cudaSuccess) return st;
  kernel<<<grid, threads, smem, stream>>>(qkv_map, dout_map, args);
  return cudaGetLastError();
}

// A block of kColumnSumThreads over column_sum_rows(kTile) rows of one
// head, kTile / 8 lanes a row, each lane holding 8 columns (x, zero where
// the row or the columns lie outside): the rows' column sums, added over the
// rows in order by one thread a column, stored at partial[0, D). Every
// thread of the block calls it.
template <int kTile>
__device__ void store_column_partial(float* partial, const float (&x)[8], int D) {
  constexpr int kLanes = kTile / 8, kRows = column_sum_rows(kTile);
  __shared__ float4 rows[kRows][kLanes * 2];
  const int r = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  rows[r][2 * lane] = make_float4(x[0], x[1], x[2], x[3]);
  rows[r][2 * lane + 1] = make_float4(x[4], x[5], x[6], x[7]);
  __syncthreads();
  const int column = threadIdx.x;  // D <= kTile <= kColumnSumThreads
  if (column >= D) return;
  const float* row0 = reinterpret_cast<const float*>(rows[0]);
  float sum = row0[column];
  for (int i = 1; i < kRows; ++i) sum += reinterpret_cast<const float*>(rows[i])[column];
  partial[column] = sum;
}

__device__ inline void unpack_bf16x8(float (&x)[8], const uint4& v) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&words[i]));
    x[2 * i] = f.x, x[2 * i + 1] = f.y;
  }
}

// (b, h)'s chunk c of QkvColumnPartials' `base` (q or v).
__device__ inline float* column_partial(float* base, const HeadLayout& lay, int64_t bh, int64_t chunks, int64_t c) {
  return base + ((bh / lay.H * chunks + c) * lay.H + bh % lay.H) * lay.D;
}

// The Sm90RowStats rows (padded rows: lse +inf, delta 0) and, for the fused
// backward, its dQ accumulator zeroed (instead of a memset: one pass over
// memory less). kLanes = kTile / 8 threads per row k = (b * H + h) * t_pad + t,
// each reading 16 bytes of dout and of out (lanes past the head's D read
// nothing), so that a warp's loads are whole 128-byte lines; each also
// zeroes 8 of the row's kTile accumulator floats (any DqAccumLayout holds
// B * H * t_pad * kTile floats: its tiles are t_pad / 64). With v_partials,
// a block's rows (one chunk of a head: t_pad is a multiple of them) also
// give dout's column sums there (QkvColumnPartials).
template <int kTile>
__global__ void __launch_bounds__(kColumnSumThreads)
    row_stats_sm90_kernel(float* lse_log2, float* delta, float* dq_accum, float* v_partials, int64_t chunks,
                          const bf16* dout, const bf16* out, const float* lse, HeadLayout lay, int64_t t_pad) {
  constexpr int kLanes = kTile / 8;
  static_assert(32 % kLanes == 0, "a row's lanes lie in one warp");
  static_assert(64 % column_sum_rows(kTile) == 0, "a block's rows within one head's padded rows");
  // Whole blocks of whole rows: the grid covers B * H * t_pad rows exactly.
  const int64_t k = blockIdx.x * int64_t(column_sum_rows(kTile)) + threadIdx.x / kLanes;
  const int lane = int(threadIdx.x % kLanes);
  if (dq_accum != nullptr) {
    float4* zero = reinterpret_cast<float4*>(dq_accum + k * kTile + lane * 8);
    zero[0] = zero[1] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
  const int64_t bh = k / t_pad, t = k % t_pad;
  float dot = 0.f, dout_x[8] = {};
  if (t < lay.T && lane * 8 < lay.D) {
    const int64_t r = ((bh / lay.H) * lay.T + t) * lay.H + bh % lay.H;  // row of [B, T, H] out
    dot = bf16_row_dot(dout + r * lay.D + lane * 8, out + r * lay.D + lane * 8, 8);
    if (v_partials != nullptr) unpack_bf16x8(dout_x, *reinterpret_cast<const uint4*>(dout + r * lay.D + lane * 8));
  }
  const unsigned row_lanes = ((1u << kLanes) - 1) << (threadIdx.x % 32 / kLanes * kLanes);
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2)
    dot += __shfl_xor_sync(row_lanes, dot, offset);
  if (lane == 0) {
    lse_log2[k] = t < lay.T ? lse[bh * lay.T + t] * kLog2e : INFINITY;
    delta[k] = dot;
  }
  const int64_t chunk = t / column_sum_rows(kTile);  // the block's, as t is its first row's plus less than a chunk
  if (v_partials != nullptr && chunk < chunks)      // the same for the whole block
    store_column_partial<kTile>(column_partial(v_partials, lay, bh, chunks, chunk), dout_x, int(lay.D));
}

// dQ = accum * 1/sqrt(D) into the q part of dqkv; accum in DqAccumLayout
// (kTile columns, of which the head's D are stored), 8 elements (4 column
// pairs, contiguous there too) per thread. A block is chunk c of the rows of
// (b, h) = block / chunks (column_sum_rows(kTile) rows, kTile / 8 lanes each);
// with q_partials, it also gives the column sums of dQ as stored there.
template <int kTile, class Layout>
__global__ void __launch_bounds__(kColumnSumThreads)
    dq_from_accumulator_kernel(bf16* dqkv, const float* accum, HeadLayout lay, float* q_partials, int64_t chunks) {
  constexpr int kLanes = kTile / 8;
  const int64_t bh = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t t = c * column_sum_rows(kTile) + threadIdx.x / kLanes;
  const int d = int(threadIdx.x % kLanes) * 8;
  float dq_x[8] = {};
  if (t < lay.T && d < lay.D) {
    const int r = int(t % Layout::kRows), col = d % Layout::kCols;
    const float* src = accum + Layout::block(bh, lay.T, t / Layout::kRows, d / Layout::kCols) +
                       r * Layout::kCols + 2 * Layout::pair_in_row(r, col / 2);
    const float scale = rsqrtf(float(lay.D));
    const float4 lo = reinterpret_cast<const float4*>(src)[0];
    const float4 hi = reinterpret_cast<const float4*>(src)[1];
    uint4 packed;
    packed.x = mma::pack_bf16x2(lo.x * scale, lo.y * scale);
    packed.y = mma::pack_bf16x2(lo.z * scale, lo.w * scale);
    packed.z = mma::pack_bf16x2(hi.x * scale, hi.y * scale);
    packed.w = mma::pack_bf16x2(hi.z * scale, hi.w * scale);
    bf16* dq = dqkv + lay.qkv(bh / lay.H, 0, bh % lay.H) + t * 3 * lay.H * lay.D + d;
    *reinterpret_cast<uint4*>(dq) = packed;
    unpack_bf16x8(dq_x, packed);
  }
  if (q_partials != nullptr) store_column_partial<kTile>(column_partial(q_partials, lay, bh, chunks, c), dq_x, int(lay.D));
}

// Heads per group of the CTA order (Sm90BackwardGrid): as many as keep a
// group's Q, dO and dQ accumulator (8 bytes a head element) within 16 MiB
// of the L2, at least 1. AttentionTuning::backward_heads_per_group sets it
// instead (a measuring switch; N >= B * H is the block-major order over all heads).
int heads_per_group(const AttentionTuning& t, int64_t heads, int64_t T, int D) {
  constexpr int64_t kGroupBytes = int64_t(16) << 20;
  const int64_t n = t.backward_heads_per_group > 0 ? t.backward_heads_per_group : kGroupBytes / (8 * T * D);
  return int(std::max<int64_t>(1, std::min(n, heads)));
}

template <class Tr>
cudaError_t launch_backward_kernels(bf16* dqkv, const bf16* dout, const bf16* qkv,
                               const Sm90RowStats& stats, const float* slopes, float* dq_accum,
                               const QkvColumnPartials& sums, const AttentionLaunch& l) {
  constexpr int kTile = Tr::kHeadDim;
  using Smem = Sm90BackwardSmem<Tr>;
  const HeadLayout& lay = l.layout;
  // The maps span the head's own D: the tile's columns past it read as zeros.
  CUtensorMap qkv_map, dout_map;
  if (const cudaError_t st = encode_rows_map(&qkv_map, qkv, lay.D, 3 * lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  if (const cudaError_t st = encode_rows_map(&dout_map, dout, lay.D, lay.H, l.B * lay.T, Tr::kBoxRows);
      st != cudaSuccess)
    return st;
  const int blocks = int((lay.T + Tr::kBlock - 1) / Tr::kBlock);
  const Sm90BackwardGrid order{l.B * lay.H, blocks, heads_per_group(l.tuning, l.B * lay.H, lay.T, kTile)};
  const Sm90BackwardArgs args{dqkv, dq_accum, stats, slopes, lay, order};
  const dim3 grid(unsigned(order.ctas()));
  if (dq_accum == nullptr) {  // deterministic: dK/dV, then dQ by its own kernel
    if (const cudaError_t st = launch_one(attention_dkdv_sm90_kernel<Tr, false>, Smem::bytes(),
                                          grid, Tr::kThreads, qkv_map, dout_map, args, l.stream);
        st != cudaSuccess)
      return st;
    return launch_one(attention_dq_sm90_kernel<Tr>, Smem::bytes(), grid, Tr::kThreads, qkv_map,
                      dout_map, args, l.stream);
  }
  using Layout = DqAccumLayout<kTile, Tr::kDqColumnParts>;  // zeroed by row_stats_sm90_kernel
  if (const cudaError_t st = launch_one(attention_dkdv_sm90_kernel<Tr, true>, Smem::bytes(), grid,
                                        Tr::kThreads, qkv_map, dout_map, args, l.stream);
      st != cudaSuccess)
    return st;
  const int64_t chunks = (lay.T + column_sum_rows(kTile) - 1) / column_sum_rows(kTile);
  dq_from_accumulator_kernel<kTile, Layout><<<unsigned(l.B * lay.H * chunks), kColumnSumThreads, 0, l.stream>>>(
      dqkv, dq_accum, lay, sums.q, chunks);
  return cudaGetLastError();
}

}  // namespace

int64_t attention_dq_accumulator_floats(int64_t B, int64_t H, int64_t T, int64_t D) {
  // Any layout's size, over the tile's columns.
  return B * H * DqAccumLayout<64, 1>::tiles(T) * DqAccumLayout<64, 1>::kRows * sm90_tile_dim(int(D));
}

int64_t attention_sm90_stats_floats(int64_t B, int64_t H, int64_t T) {
  return 2 * B * H * Sm90RowStats::padded(T);
}

template <int D>
cudaError_t launch_attention_backward_sm90(bf16* dqkv, const bf16* dout, const bf16* qkv,
                                           const bf16* out, const float* lse, const float* slopes,
                                           float* stats_scratch, float* dq_accum,
                                           const QkvColumnPartials& sums, const AttentionLaunch& l) {
  const HeadLayout& lay = l.layout;
  const int64_t t_pad = Sm90RowStats::padded(lay.T), n = l.B * lay.H * t_pad;
  float* lse_log2 = stats_scratch;
  float* delta = stats_scratch + n;
  constexpr int kTile = sm90_tile_dim(D);
  row_stats_sm90_kernel<kTile><<<unsigned(n / column_sum_rows(kTile)), kColumnSumThreads, 0, l.stream>>>(
      lse_log2, delta, dq_accum, sums.v, sums.chunks, dout, out, lse, lay, t_pad);
  if (const cudaError_t st = cudaGetLastError(); st != cudaSuccess) return st;
  const Sm90RowStats stats{lse_log2, delta, t_pad};
  // Measuring switches at D = 64 (Sm90BackwardTraits): backward_owned_in_smem
  // reads the owned rows from shared memory; backward_dq_by_columns splits
  // the fused dQ by columns.
  constexpr int S = kSm90BackwardStages;
  if constexpr (kTile == 64) {
    if (l.tuning.backward_owned_in_smem)
      return launch_backward_kernels<Sm90BackwardTraits<kTile, S, false>>(dqkv, dout, qkv, stats, slopes, dq_accum,
                                                                          sums, l);
    if (l.tuning.backward_dq_by_columns)
      return launch_backward_kernels<Sm90BackwardTraits<kTile, S, true, 2>>(dqkv, dout, qkv, stats, slopes, dq_accum,
                                                                            sums, l);
  }
  using Tiles = Sm90BackwardTraits<kTile, S>;
  return launch_backward_kernels<Sm90BackwardTraits<kTile, S, Tiles::kOwnedInRegisters, Tiles::kDqColumnParts, D>>(
      dqkv, dout, qkv, stats, slopes, dq_accum, sums, l);
}

template cudaError_t launch_attention_backward_sm90<64>(bf16*, const bf16*, const bf16*,
                                                        const bf16*, const float*, const float*,
                                                        float*, float*, const QkvColumnPartials&,
                                                        const AttentionLaunch&);
template cudaError_t launch_attention_backward_sm90<80>(bf16*, const bf16*, const bf16*,
                                                        const bf16*, const float*, const float*,
                                                        float*, float*, const QkvColumnPartials&,
                                                        const AttentionLaunch&);
template cudaError_t launch_attention_backward_sm90<96>(bf16*, const bf16*, const bf16*,
                                                        const bf16*, const float*, const float*,
                                                        float*, float*, const QkvColumnPartials&,
                                                        const AttentionLaunch&);
template cudaError_t launch_attention_backward_sm90<128>(bf16*, const bf16*, const bf16*,
                                                         const bf16*, const float*, const float*,
                                                         float*, float*, const QkvColumnPartials&,
                                                        const AttentionLaunch&);

}  // namespace alibi::cuda
