// One split of flash-decoding over a KV cache, for the kernels that decode:
// attention_decode.cu (a launch a layer) and decode_step.cu (the whole step
// in one persistent kernel). A block scores keys [begin, end) of one (row,
// head) against the row's newest query and leaves the split's partial: its
// max score m (log2 units), the sum l of exp2(s - m) and the values weighted
// by exp2(s - m), D + 2 floats. The math is cpu/attention_decode.h's.
// Internal to kernels/*.cu.
#pragma once

#include <type_traits>

#include "kernels/alibi_score.cuh"
#include "kernels/common.cuh"

namespace alibi::cuda {

constexpr int kDecodeVec = 8;  // bf16 channels in one 16-byte load

// How a block of kThreads walks the keys of one split, for head dim kD: each
// key is read by a team of kLanes lanes, kDecodeVec channels a lane (kD = 80
// and 96 leave some lanes of a 16-lane team idle); the block's kTeams teams
// take kTeams consecutive keys, kUnroll rounds of them in flight per
// iteration.
template <int kD, int kThreads>
struct DecodeSplitTraits {
  static_assert(kD % kDecodeVec == 0 && kD <= 32 * kDecodeVec, "head dim: a multiple of 8, at most 256");
  static constexpr int kLanes = kD <= 4 * kDecodeVec ? 4 : kD <= 8 * kDecodeVec ? 8 : kD <= 16 * kDecodeVec ? 16 : 32;
  static constexpr int kTeams = kThreads / kLanes;
  static constexpr int kUnroll = 8;  // 16 loads of 16 bytes in flight a lane
  static constexpr int kKeysPerIteration = kTeams * kUnroll;
};

// The split of one (row, head) whose query is the row's position n - 1:
//   token: its q (k and v follow at strides of hd = H * D), written by an
//          earlier launch or (decode_step) an earlier phase: read past L1;
//   keys, values: the (row, head)'s cache [L, D];
//   out: the split's partial (D + 2 floats).
// The split that holds position n - 1 first writes the token's key and value
// there. Every thread of the block must call it.
template <int kD, int kThreads>
__device__ void score_decode_split(float* out, const bf16* token, bf16* keys, bf16* values, int64_t hd, int64_t n,
                                   int64_t begin, int64_t end, float slope) {
  using Tr = DecodeSplitTraits<kD, kThreads>;
  constexpr int kVec = kDecodeVec;
  __shared__ float team_max[Tr::kTeams], team_sum[Tr::kTeams];
  __shared__ float team_values[Tr::kTeams][Tr::kLanes * kVec];
  const int lane = threadIdx.x % Tr::kLanes, team = threadIdx.x / Tr::kLanes;
  const bool has_channels = lane * kVec < kD;
  if (begin >= end) {  // past the row's keys: a split that weighs nothing
    for (int d = threadIdx.x; d < kD + 2; d += kThreads) out[d] = d == 0 ? -INFINITY : 0.f;
    return;
  }
  const AlibiLog2 alibi = AlibiLog2::of(slope, kD);
  float q[kVec] = {};
  if (has_channels) unpack_bf16x8(__ldcg(reinterpret_cast<const uint4*>(token + lane * kVec)), q);
  if (end == n) {  // this split holds the newest position: append the token's key and value first
    if (team == 0 && has_channels) {
      const int64_t at = (n - 1) * kD + lane * kVec;
      *reinterpret_cast<uint4*>(keys + at) = __ldcg(reinterpret_cast<const uint4*>(token + hd + lane * kVec));
      *reinterpret_cast<uint4*>(values + at) = __ldcg(reinterpret_cast<const uint4*>(token + 2 * hd + lane * kVec));
    }
    __syncthreads();  // the block's own writes are visible to its reads below
  }
  keys += lane * kVec, values += lane * kVec;
  float m = -INFINITY, l = 0.f, acc[kVec] = {};
  // Every lane runs the same iterations (the team sums shuffle over the warp).
  for (int64_t first = begin + team; first - team < end; first += Tr::kKeysPerIteration) {
    uint4 k_packed[Tr::kUnroll], v_packed[Tr::kUnroll];
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      const int64_t j = first + u * Tr::kTeams;
      const bool load = has_channels && j < end;
      k_packed[u] = load ? *reinterpret_cast<const uint4*>(keys + j * kD) : make_uint4(0, 0, 0, 0);
      v_packed[u] = load ? *reinterpret_cast<const uint4*>(values + j * kD) : make_uint4(0, 0, 0, 0);
    }
    float score[Tr::kUnroll], step_max = m;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      float k[kVec], dot = 0.f;
      unpack_bf16x8(k_packed[u], k);
#pragma unroll
      for (int i = 0; i < kVec; ++i) dot = fmaf(q[i], k[i], dot);
#pragma unroll
      for (int offset = Tr::kLanes / 2; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
      const int64_t j = first + u * Tr::kTeams;
      // The query is the row's last position, n - 1: rel = j - (n - 1).
      score[u] = j < end ? alibi.score(dot, alibi.bias(float(j - (n - 1)))) : -INFINITY;
      step_max = fmaxf(step_max, score[u]);
    }
    if (step_max == -INFINITY) continue;  // this team had no keys this time
    const float rescale = exp2f(m - step_max);  // 0 while m is -inf
    l *= rescale;
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[i] *= rescale;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      const float p = exp2f(score[u] - step_max);
      float v[kVec];
      unpack_bf16x8(v_packed[u], v);
      l += p;
#pragma unroll
      for (int i = 0; i < kVec; ++i) acc[i] = fmaf(p, v[i], acc[i]);
    }
    m = step_max;
  }
  if (lane == 0) team_max[team] = m, team_sum[team] = l;
#pragma unroll
  for (int i = 0; i < kVec; ++i) team_values[team][lane * kVec + i] = acc[i];
  __syncthreads();
  float block_m = -INFINITY;
  for (int t = 0; t < Tr::kTeams; ++t) block_m = fmaxf(block_m, team_max[t]);
  for (int d = threadIdx.x; d < kD + 1; d += kThreads) {
    float total = 0.f;
    for (int t = 0; t < Tr::kTeams; ++t) {
      const float w = team_max[t] > -INFINITY ? exp2f(team_max[t] - block_m) : 0.f;
      total = fmaf(w, d < kD ? team_values[t][d] : team_sum[t], total);
    }
    if (d < kD) out[2 + d] = total;
    else out[1] = total;
  }
  if (threadIdx.x == 0) out[0] = block_m;
  __syncthreads();  // team_* are the next split's
}

// Calls f(std::integral_constant<int, D>{}) for the head dims the decode
// kernels take; false (f not called) for any other.
constexpr bool decode_head_dim_supported(int64_t D) {
  return D == 32 || D == 64 || D == 80 || D == 96 || D == 128 || D == 256;
}
template <typename F>
void dispatch_decode_head_dim(int64_t D, F&& f) {
  switch (D) {
    case 32: return f(std::integral_constant<int, 32>{});
    case 64: return f(std::integral_constant<int, 64>{});
    case 80: return f(std::integral_constant<int, 80>{});
    case 96: return f(std::integral_constant<int, 96>{});
    case 128: return f(std::integral_constant<int, 128>{});
    case 256: return f(std::integral_constant<int, 256>{});
  }
}

}  // namespace alibi::cuda
