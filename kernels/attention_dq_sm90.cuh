// The Hopper backward's deterministic dQ kernel (attention_backward_sm90.cuh,
// step 3): a CTA per 128-query block accumulates dQ over 64-key tiles of K
// and V, every element summed by one thread in a fixed order.
#pragma once

#include "kernels/attention_backward_sm90.cuh"

namespace alibi::cuda {

// Raw dot products -> log2-domain scores (alibi_score.cuh) of a warp's 16
// rows of the tile; -inf where j > i with
// kMask (tiles that cross the warp's diagonal, including keys past T: those
// are after every valid query). For element (c, e) of a thread,
// j - i = (n0 - row0 + 2t - g) + (8c + e%2 - 8(e/2)), the second term a
// compile-time constant, so bias and mask cost one FFMA and one compare.
template <int kN, bool kMask>
__device__ __forceinline__ void scores_to_log2(float (&s)[kN / 8][4], int row0, int n0,
                                               const AlibiLog2& alibi) {
  const Lane L;
  const int rel0 = n0 - row0 + 2 * L.t - L.g;  // j - i of element (0, 0)
  const float bias0 = alibi.bias(float(rel0));
#pragma unroll
  for (int c = 0; c < kN / 8; ++c)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int k = 8 * c + (e % 2) - 8 * (e / 2);
      const float v = alibi.score(s[c][e], alibi.bias_after(bias0, float(k)));
      s[c][e] = (kMask && is_future_key(rel0 + k)) ? -INFINITY : v;
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
  // Q and dO are read from shared memory by every product (this kernel has
  // no variant that keeps them in registers).
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
    bar.wait_full(0, tile);
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
  extern __shared__ unsigned char smem_raw[];
  const BackwardCta<Tr> cta(smem_raw, &qkv_map, &dout_map, args);
  const int m0 = (args.grid.blocks - 1 - cta.block) * Tr::kBlock;
  const int key_end = min(int(args.layout.T), m0 + Tr::kBlock);  // keys [0, key_end)
  const int n_tiles = (key_end + Tr::kStream - 1) / Tr::kStream;
  run_roles<Tr>(
      [&] {
        if (threadIdx.x >= 32) return;
        produce_backward<Tr, false>(cta.smem, cta.bar, cta.q, cta.dout, m0, cta.k, cta.v, 0, n_tiles, nullptr,
                                    nullptr);
      },
      [&](int consumer) { consume_dq<Tr>(args, cta.smem, cta.bar, consumer, cta.b, cta.h, m0, n_tiles); });
}

}  // namespace alibi::cuda
