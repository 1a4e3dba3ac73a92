// Forward attention on tensor cores, portable (mma.sync: sm_80 and later),
// FlashAttention-2 style: a CTA per
// (query block, b, h); each warp owns 16 query rows and keeps their running
// max, running sum and output accumulator in registers while K/V tiles
// stream through double-buffered shared memory (cp.async). Scores live in
// the log2 domain (log2(e) folded into the scale) so exp2f does the softmax.
#pragma once

#include "kernels/attention_tiles.cuh"
#include "kernels/attention_traits.cuh"

namespace alibi::cuda {

template <class Tr>
struct ForwardSmem {
  static constexpr int kQ = Tr::kOwnedRows * Tr::kRowStride;
  static constexpr int kKV = Tr::kStreamRows * Tr::kRowStride;
  static constexpr size_t bytes() { return size_t(kQ + 4 * kKV) * sizeof(bf16); }
};

// Rescales for a new score tile and turns the scores into probabilities (in place).
template <int kN, int kD>
__device__ void online_softmax_step(float (&s)[kN / 8][4], float (&o)[kD / 8][4], RowState& st) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float tile_max = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt)
      tile_max = fmaxf(tile_max, fmaxf(s[nt][2 * half], s[nt][2 * half + 1]));
    const float new_max = fmaxf(st.max[half], quad_max(tile_max));
    // A row whose keys are all masked so far keeps max -inf; subtract 0 then (no NaN).
    const float base = new_max == -INFINITY ? 0.f : new_max;
    const float correction = exp2f(st.max[half] - base);
    st.max[half] = new_max;
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt) {
      s[nt][2 * half] = exp2f(s[nt][2 * half] - base);
      s[nt][2 * half + 1] = exp2f(s[nt][2 * half + 1] - base);
      sum += s[nt][2 * half] + s[nt][2 * half + 1];
    }
    st.sum[half] = st.sum[half] * correction + sum;
#pragma unroll
    for (int dt = 0; dt < kD / 8; ++dt) {
      o[dt][2 * half] *= correction;
      o[dt][2 * half + 1] *= correction;
    }
  }
}

template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    attention_forward_kernel(bf16* out, float* lse, const bf16* qkv, const float* slopes,
                             HeadLayout layout) {
  constexpr int kD = Tr::kHeadDim, kN = Tr::kStreamRows, kS = Tr::kRowStride;
  using Smem = ForwardSmem<Tr>;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  bf16* s_q = reinterpret_cast<bf16*>(smem_bytes);
  // Buffer n of K is s_k + n * kKV (computed, not indexed, so no local-memory array).
  bf16* s_k = s_q + Smem::kQ;
  bf16* s_v = s_k + 2 * Smem::kKV;

  // Longest query blocks first: they have the most key tiles.
  const int64_t block = gridDim.x - 1 - blockIdx.x;
  const int64_t b = blockIdx.y / layout.H, h = blockIdx.y % layout.H;
  const int64_t m0 = block * Tr::kOwnedRows, T = layout.T;
  const int warp = threadIdx.x / 32;
  const int64_t stride = layout.qkv_stride();
  const bf16* q_head = qkv + layout.qkv(b, 0, h);
  const bf16* k_head = qkv + layout.qkv(b, 1, h);
  const bf16* v_head = qkv + layout.qkv(b, 2, h);
  const AlibiLog2 alibi = AlibiLog2::of(slopes[h], kD);

  const int64_t key_end = min(T, m0 + Tr::kOwnedRows);
  const int n_tiles = int((key_end + kN - 1) / kN);
  copy_rows_async<Tr, Tr::kOwnedRows>(s_q, q_head, stride, m0, T);
  copy_rows_async<Tr, kN>(s_k, k_head, stride, 0, T);
  copy_rows_async<Tr, kN>(s_v, v_head, stride, 0, T);
  mma::cp_async_commit();

  float o[kD / 8][4];
  zero(o);
  RowState st;
  const bf16* warp_q = s_q + warp * 16 * kS;
  const int64_t row0 = m0 + warp * 16;
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int buf = tile % 2;
    prefetch_next_kv_and_wait<Tr, kN, Smem::kKV>(s_k, s_v, k_head, v_head, stride, tile, n_tiles, T);
    const int64_t n0 = int64_t(tile) * kN;
    // Skip work when every key of the tile is after every row of this warp.
    if (n0 <= row0 + 15) {
      float s[kN / 8][4];
      zero(s);
      warp_gemm_rows_rows<kD, kN, kS>(s, warp_q, s_k + buf * Smem::kKV);
      apply_alibi_and_mask<kN, false>(s, row0, n0, alibi, n0 + kN - 1 > row0);
      online_softmax_step<kN, kD>(s, o, st);
      uint32_t p[kN / 16][4];
      accumulator_to_a<kN>(p, s);
      warp_gemm_regs_cols<kN, kD, kS>(o, p, s_v + buf * Smem::kKV);
    }
    __syncthreads();  // the next iteration's copy overwrites this buffer
  }

  const Lane L;
  float inv_sum[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float total = quad_sum(st.sum[half]);
    inv_sum[half] = 1.f / total;
    const int64_t i = row0 + L.g + 8 * half;
    if (lse && L.t == 0 && i < T) lse[layout.row(b, h) + i] = st.max[half] * kLn2 + logf(total);
  }
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    o[dt][0] *= inv_sum[0], o[dt][1] *= inv_sum[0];
    o[dt][2] *= inv_sum[1], o[dt][3] *= inv_sum[1];
  }
  // The warp's Q rows are no longer read: stage the output there.
  bf16* warp_tile = s_q + warp * 16 * kS;
  stage_accumulator<Tr, kD>(warp_tile, o, 1.f);
  __syncwarp();
  store_warp_rows<Tr>(out + layout.out(b, h), layout.out_stride(), warp_tile, row0, T);
}

}  // namespace alibi::cuda
