// Backward attention on tensor cores, portable (mma.sync: sm_80 and later),
// deterministic (no atomics):
//   1. delta_i = dO_i . O_i                        (row_dot_kernel)
//   2. a CTA per key block: dV = sum_i P^T dO, dK = sum_i dS^T Q, looping
//      over query tiles; each warp owns 16 keys    (dkdv_kernel)
//   3. a CTA per query block: dQ = sum_j dS K, looping over key tiles; each
//      warp owns 16 queries                        (dq_kernel)
// with P = exp(s - lse) recomputed from lse and dS = P (dP - delta), dP = dO V^T.
// Every output element is summed by one thread in a fixed order, so results
// are bitwise reproducible. The 1/sqrt(D) of dS is applied once at the end.
#pragma once

#include "kernels/attention_tiles.cuh"
#include "kernels/attention_traits.cuh"

namespace alibi::cuda {

// delta[b,h,t] = dO . O over the head dim, one thread per (b, t, h) row.
__global__ void row_dot_kernel(float* delta, const bf16* dout, const bf16* out, HeadLayout layout,
                               int64_t rows) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const int64_t h = r % layout.H, bt = r / layout.H;
  const int64_t b = bt / layout.T, t = bt % layout.T;
  delta[layout.row(b, h) + t] = bf16_row_dot(dout + r * layout.D, out + r * layout.D, layout.D);
}

template <class Tr>
struct DkDvSmem {
  static constexpr int kKV = Tr::kOwnedRows * Tr::kRowStride;  // K or V block
  static constexpr int kQ = Tr::kStreamRows * Tr::kRowStride;  // Q or dO tile
  static constexpr size_t bytes() {
    return size_t(2 * kKV + 4 * kQ) * sizeof(bf16) + 4 * Tr::kStreamRows * sizeof(float);
  }
};

// Loads lse (as log2) and delta of a query tile. Rows past T get lse = +inf,
// so their probabilities are exactly 0 and they add nothing to dK/dV.
template <class Tr>
__device__ void load_row_stats(float* s_lse, float* s_delta, const float* lse, const float* delta,
                               int64_t row0, int64_t T) {
  for (int r = threadIdx.x; r < Tr::kStreamRows; r += Tr::kThreads) {
    const bool valid = row0 + r < T;
    s_lse[r] = valid ? lse[row0 + r] * kLog2e : INFINITY;
    s_delta[r] = valid ? delta[row0 + r] : 0.f;
  }
}

template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    attention_dkdv_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                          const float* delta, const float* slopes, HeadLayout layout) {
  constexpr int kD = Tr::kHeadDim, kM = Tr::kStreamRows, kS = Tr::kRowStride;
  using Smem = DkDvSmem<Tr>;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  bf16* s_k = reinterpret_cast<bf16*>(smem_bytes);
  bf16* s_v = s_k + Smem::kKV;
  // Double buffers: buffer n is base + n * size (computed, so no local-memory arrays).
  bf16* s_q = s_v + Smem::kKV;
  bf16* s_do = s_q + 2 * Smem::kQ;
  float* s_lse = reinterpret_cast<float*>(s_do + 2 * Smem::kQ);
  float* s_delta = s_lse + 2 * kM;

  const int64_t b = blockIdx.y / layout.H, h = blockIdx.y % layout.H, T = layout.T;
  // Key blocks near the start see the most queries: schedule them first.
  const int64_t n0 = int64_t(blockIdx.x) * Tr::kOwnedRows;
  const int warp = threadIdx.x / 32;
  const int64_t stride = layout.qkv_stride(), dstride = layout.out_stride();
  const bf16* q_head = qkv + layout.qkv(b, 0, h);
  const bf16* do_head = dout + layout.out(b, h);
  const float* lse_row = lse + layout.row(b, h);
  const float* delta_row = delta + layout.row(b, h);
  const AlibiLog2 alibi = AlibiLog2::of(slopes[h], kD);

  const int64_t m_first = (n0 / kM) * kM;  // first query tile with a row >= n0
  const int n_tiles = int((T - m_first + kM - 1) / kM);
  copy_rows_async<Tr, Tr::kOwnedRows>(s_k, qkv + layout.qkv(b, 1, h), stride, n0, T);
  copy_rows_async<Tr, Tr::kOwnedRows>(s_v, qkv + layout.qkv(b, 2, h), stride, n0, T);
  copy_rows_async<Tr, kM>(s_q, q_head, stride, m_first, T);
  copy_rows_async<Tr, kM>(s_do, do_head, dstride, m_first, T);
  mma::cp_async_commit();
  load_row_stats<Tr>(s_lse, s_delta, lse_row, delta_row, m_first, T);

  float dk[kD / 8][4], dv[kD / 8][4];
  zero(dk);
  zero(dv);
  const int64_t key0 = n0 + warp * 16;
  const bf16* warp_k = s_k + warp * 16 * kS;
  const bf16* warp_v = s_v + warp * 16 * kS;
  const Lane L;
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int buf = tile % 2;
    const int64_t m0 = m_first + int64_t(tile) * kM;
    if (tile + 1 < n_tiles) {
      copy_rows_async<Tr, kM>(s_q + (buf ^ 1) * Smem::kQ, q_head, stride, m0 + kM, T);
      copy_rows_async<Tr, kM>(s_do + (buf ^ 1) * Smem::kQ, do_head, dstride, m0 + kM, T);
      mma::cp_async_commit();
      load_row_stats<Tr>(s_lse + (buf ^ 1) * kM, s_delta + (buf ^ 1) * kM, lse_row, delta_row,
                         m0 + kM, T);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    // Skip when every query of the tile is before every key of this warp.
    if (m0 + kM - 1 >= key0) {
      // P^T: rows are this warp's keys, columns the tile's queries.
      float p[kM / 8][4];
      zero(p);
      warp_gemm_rows_rows<kD, kM, kS>(p, warp_k, s_q + buf * Smem::kQ);
      apply_alibi_and_mask<kM, true>(p, key0, m0, alibi, key0 + 15 > m0);
      float dp[kM / 8][4];
      zero(dp);
      const float* tile_lse = s_lse + buf * kM;
      const float* tile_delta = s_delta + buf * kM;
      warp_gemm_rows_rows<kD, kM, kS>(dp, warp_v, s_do + buf * Smem::kQ);
#pragma unroll
      for (int nt = 0; nt < kM / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = nt * 8 + 2 * L.t + (e % 2);
          p[nt][e] = exp2f(p[nt][e] - tile_lse[col]);
          dp[nt][e] = p[nt][e] * (dp[nt][e] - tile_delta[col]);  // dS^T (unscaled)
        }
      uint32_t a[kM / 16][4];
      accumulator_to_a<kM>(a, p);
      warp_gemm_regs_cols<kM, kD, kS>(dv, a, s_do + buf * Smem::kQ);
      accumulator_to_a<kM>(a, dp);
      warp_gemm_regs_cols<kM, kD, kS>(dk, a, s_q + buf * Smem::kQ);
    }
    __syncthreads();  // the next iteration's copies overwrite this buffer
  }

  // The warp's own K and V rows are no longer read: stage dK and dV there.
  bf16* k_tile = s_k + warp * 16 * kS;
  bf16* v_tile = s_v + warp * 16 * kS;
  stage_accumulator<Tr, kD>(k_tile, dk, rsqrtf(float(kD)));
  stage_accumulator<Tr, kD>(v_tile, dv, 1.f);
  __syncwarp();
  store_warp_rows<Tr>(dqkv + layout.qkv(b, 1, h), stride, k_tile, key0, T);
  store_warp_rows<Tr>(dqkv + layout.qkv(b, 2, h), stride, v_tile, key0, T);
}

template <class Tr>
struct DqSmem {
  static constexpr int kQ = Tr::kOwnedRows * Tr::kRowStride;    // Q or dO block
  static constexpr int kKV = Tr::kStreamRows * Tr::kRowStride;  // K or V tile
  static constexpr size_t bytes() { return size_t(2 * kQ + 4 * kKV) * sizeof(bf16); }
};

template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    attention_dq_kernel(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                        const float* delta, const float* slopes, HeadLayout layout) {
  constexpr int kD = Tr::kHeadDim, kN = Tr::kStreamRows, kS = Tr::kRowStride;
  using Smem = DqSmem<Tr>;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  bf16* s_q = reinterpret_cast<bf16*>(smem_bytes);
  bf16* s_do = s_q + Smem::kQ;
  bf16* s_k = s_do + Smem::kQ;  // double buffers, as above
  bf16* s_v = s_k + 2 * Smem::kKV;

  const int64_t block = gridDim.x - 1 - blockIdx.x;  // most key tiles first
  const int64_t b = blockIdx.y / layout.H, h = blockIdx.y % layout.H, T = layout.T;
  const int64_t m0 = block * Tr::kOwnedRows;
  const int warp = threadIdx.x / 32;
  const int64_t stride = layout.qkv_stride();
  const bf16* k_head = qkv + layout.qkv(b, 1, h);
  const bf16* v_head = qkv + layout.qkv(b, 2, h);
  const AlibiLog2 alibi = AlibiLog2::of(slopes[h], kD);

  const int64_t key_end = min(T, m0 + Tr::kOwnedRows);
  const int n_tiles = int((key_end + kN - 1) / kN);
  copy_rows_async<Tr, Tr::kOwnedRows>(s_q, qkv + layout.qkv(b, 0, h), stride, m0, T);
  copy_rows_async<Tr, Tr::kOwnedRows>(s_do, dout + layout.out(b, h), layout.out_stride(), m0, T);
  copy_rows_async<Tr, kN>(s_k, k_head, stride, 0, T);
  copy_rows_async<Tr, kN>(s_v, v_head, stride, 0, T);
  mma::cp_async_commit();

  // Row statistics of the two rows (g, g + 8) this thread touches; rows past
  // T get lse = +inf (probability 0).
  const Lane L;
  const int64_t row0 = m0 + warp * 16;
  float row_lse[2], row_delta[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t i = row0 + L.g + 8 * half;
    row_lse[half] = i < T ? lse[layout.row(b, h) + i] * kLog2e : INFINITY;
    row_delta[half] = i < T ? delta[layout.row(b, h) + i] : 0.f;
  }

  float dq[kD / 8][4];
  zero(dq);
  const bf16* warp_q = s_q + warp * 16 * kS;
  const bf16* warp_do = s_do + warp * 16 * kS;
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int buf = tile % 2;
    prefetch_next_kv_and_wait<Tr, kN, Smem::kKV>(s_k, s_v, k_head, v_head, stride, tile, n_tiles, T);
    const int64_t n0 = int64_t(tile) * kN;
    if (n0 <= row0 + 15) {
      float p[kN / 8][4];
      zero(p);
      warp_gemm_rows_rows<kD, kN, kS>(p, warp_q, s_k + buf * Smem::kKV);
      apply_alibi_and_mask<kN, false>(p, row0, n0, alibi, n0 + kN - 1 > row0);
      float ds[kN / 8][4];
      zero(ds);
      warp_gemm_rows_rows<kD, kN, kS>(ds, warp_do, s_v + buf * Smem::kKV);
#pragma unroll
      for (int nt = 0; nt < kN / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int half = e / 2;
          const float prob = exp2f(p[nt][e] - row_lse[half]);
          ds[nt][e] = prob * (ds[nt][e] - row_delta[half]);
        }
      uint32_t a[kN / 16][4];
      accumulator_to_a<kN>(a, ds);
      warp_gemm_regs_cols<kN, kD, kS>(dq, a, s_k + buf * Smem::kKV);
    }
    __syncthreads();
  }

  bf16* warp_tile = s_q + warp * 16 * kS;
  stage_accumulator<Tr, kD>(warp_tile, dq, rsqrtf(float(kD)));
  __syncwarp();
  store_warp_rows<Tr>(dqkv + layout.qkv(b, 0, h), stride, warp_tile, row0, T);
}

}  // namespace alibi::cuda
