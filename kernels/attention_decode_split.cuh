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

// One round of a lane's keys and values: kUnroll keys of its team, kTeams
// apart, starting at the team's key `first` (zeros past the split's end).
template <int kD, int kThreads>
struct DecodeRound {
  using Tr = DecodeSplitTraits<kD, kThreads>;
  uint4 k[Tr::kUnroll], v[Tr::kUnroll];

  __device__ static int lane() { return threadIdx.x % Tr::kLanes; }
  __device__ static int team() { return threadIdx.x / Tr::kLanes; }
  __device__ static bool has_channels() { return lane() * kDecodeVec < kD; }

  // From the cache ([L, D] of the row and head): every key of the round but
  // the newest, n - 1, which this launch's token brings (load_newest).
  __device__ void load_cached(const bf16* keys, const bf16* values, int64_t first, int64_t end, int64_t n) {
    const int64_t at = lane() * kDecodeVec;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      const int64_t j = first + u * Tr::kTeams;
      const bool load = has_channels() && j < end && j != n - 1;
      k[u] = load ? *reinterpret_cast<const uint4*>(keys + j * kD + at) : make_uint4(0, 0, 0, 0);
      v[u] = load ? *reinterpret_cast<const uint4*>(values + j * kD + at) : make_uint4(0, 0, 0, 0);
    }
  }
  // The newest key and value, where this round holds them, from the token
  // (its q, then k and v at strides of hd), read past L1.
  __device__ void load_newest(const bf16* token, int64_t hd, int64_t first, int64_t end, int64_t n) {
    if (!has_channels() || n - 1 >= end) return;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u)
      if (first + u * Tr::kTeams == n - 1) {
        k[u] = __ldcg(reinterpret_cast<const uint4*>(token + hd + lane() * kDecodeVec));
        v[u] = __ldcg(reinterpret_cast<const uint4*>(token + 2 * hd + lane() * kDecodeVec));
      }
  }
};

// The first round of a split of keys [begin, end) from the cache, which
// earlier steps wrote: a launch that starts before the kernel it depends on
// has finished (dependent_launch.cuh) loads it before it waits.
template <int kD, int kThreads>
__device__ DecodeRound<kD, kThreads> preload_decode_split(const bf16* keys, const bf16* values, int64_t n,
                                                         int64_t begin, int64_t end) {
  using Round = DecodeRound<kD, kThreads>;
  Round r;
  r.load_cached(keys, values, begin + Round::team(), end, n);
  return r;
}

// The split of one (row, head) whose query is the row's position n - 1:
//   token: its q (k and v follow at strides of hd = H * D), written by an
//          earlier launch or (decode_step) an earlier phase: read past L1;
//   keys, values: the (row, head)'s cache [L, D];
//   out: the split's partial (D + 2 floats);
//   round, first_round_loaded: the split's first round, where the caller
//          has loaded it (preload_decode_split).
// The split that holds position n - 1 writes the token's key and value there
// (for later steps: this one takes them from the token). Every thread of the
// block must call it.
template <int kD, int kThreads>
__device__ void score_decode_split(float* out, const bf16* token, bf16* keys, bf16* values, int64_t hd, int64_t n,
                                   int64_t begin, int64_t end, float slope, DecodeRound<kD, kThreads> round = {},
                                   bool first_round_loaded = false) {
  using Tr = DecodeSplitTraits<kD, kThreads>;
  using Round = DecodeRound<kD, kThreads>;
  constexpr int kVec = kDecodeVec;
  __shared__ float team_max[Tr::kTeams], team_sum[Tr::kTeams];
  __shared__ float team_values[Tr::kTeams][Tr::kLanes * kVec];
  const int lane = Round::lane(), team = Round::team();
  const bool has_channels = Round::has_channels();
  if (begin >= end) {  // past the row's keys: a split that weighs nothing
    for (int d = threadIdx.x; d < kD + 2; d += kThreads) out[d] = d == 0 ? -INFINITY : 0.f;
    return;
  }
  const AlibiLog2 alibi = AlibiLog2::of(slope, kD);
  float q[kVec] = {};
  if (has_channels) unpack_bf16x8(__ldcg(reinterpret_cast<const uint4*>(token + lane * kVec)), q);
  if (end == n && team == 0 && has_channels) {  // this split holds the newest position: append it to the cache
    const int64_t at = (n - 1) * kD + lane * kVec;
    *reinterpret_cast<uint4*>(keys + at) = __ldcg(reinterpret_cast<const uint4*>(token + hd + lane * kVec));
    *reinterpret_cast<uint4*>(values + at) = __ldcg(reinterpret_cast<const uint4*>(token + 2 * hd + lane * kVec));
  }
  float m = -INFINITY, l = 0.f, acc[kVec] = {};
  // Every lane runs the same iterations (the team sums shuffle over the warp).
  for (int64_t first = begin + team; first - team < end; first += Tr::kKeysPerIteration) {
    if (!(first_round_loaded && first == begin + team)) round.load_cached(keys, values, first, end, n);
    round.load_newest(token, hd, first, end, n);
    float score[Tr::kUnroll], step_max = m;
#pragma unroll
    for (int u = 0; u < Tr::kUnroll; ++u) {
      float k[kVec], dot = 0.f;
      unpack_bf16x8(round.k[u], k);
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
      unpack_bf16x8(round.v[u], v);
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
