// The ALiBi attention score, in the one form every attention kernel uses.
//
// The paper's score of query i and key j of head h is
//   q_i . k_j / sqrt(D) - m_h (i - j),   and -inf for j > i (causal).
// The kernels work in log2 units, so that exp2 does the softmax:
//   s2(i, j) = q_i . k_j * scale + slope * (j - i),
//   scale = log2(e) / sqrt(D),  slope = m_h log2(e),
// and exp2(s2 - max s2) = exp(s - max s). `rel` below is j - i: zero on the
// diagonal, negative for earlier keys. tests/cuda/alibi_score_test.cpp pins
// this arithmetic to the fp64 definition on the host.
#pragma once

#include <cmath>

#include "core/host_device.h"

namespace alibi::cuda {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct AlibiLog2 {
  float scale;  // log2(e) / sqrt(D)
  float slope;  // m_h log2(e); 0 for attention without ALiBi

  ALIBI_HOST_DEVICE static AlibiLog2 of(float slope_h, int head_dim) {
#if defined(__CUDA_ARCH__)
    const float inv_sqrt = rsqrtf(float(head_dim));
#else
    const float inv_sqrt = 1.f / std::sqrt(float(head_dim));
#endif
    return {inv_sqrt * kLog2e, slope_h * kLog2e};
  }
  // The bias of a key rel = j - i from its query.
  ALIBI_HOST_DEVICE float bias(float rel) const { return slope * rel; }
  // The bias at rel0 + k from the one at rel0: kernels that walk a tile keep
  // bias(rel0) and add a compile-time k.
  ALIBI_HOST_DEVICE float bias_after(float bias_rel0, float k) const { return fmaf(slope, k, bias_rel0); }
  // The log2-domain score of a raw dot product and its bias.
  ALIBI_HOST_DEVICE float score(float dot, float bias) const { return fmaf(dot, scale, bias); }
};

// Causal attention leaves out every key after its query.
ALIBI_HOST_DEVICE inline bool is_future_key(int rel) { return rel > 0; }

// How far before a query a key must lie for its weight to fall below
// 2^-negligible_log2 of the row's total, when no |score| exceeds
// max_abs_dot / sqrt(D) (attention_key_skip.cuh derives it):
//   r = (2 max|q.k| / sqrt(D) + negligible_log2 ln 2) / m_h,   in natural units.
ALIBI_HOST_DEVICE inline float negligible_distance(float qmax_kmax, int head_dim, float negligible_log2,
                                                   float slope_h) {
#if defined(__CUDA_ARCH__)
  const float inv_sqrt = rsqrtf(float(head_dim));
#else
  const float inv_sqrt = 1.f / std::sqrt(float(head_dim));
#endif
  return (2.f * qmax_kmax * inv_sqrt + negligible_log2 * kLn2) / slope_h;
}

}  // namespace alibi::cuda
