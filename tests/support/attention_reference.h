// The definition of causal attention with a linear bias, in fp64, one query
// row at a time: the independent reference of the CPU kernel's tests, and of
// the GPU forward at lengths where a T x T reference would not fit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace alibi::testing {

// Output row i of head h in batch b, and its log-sum-exp, from qkv
// [B, T, 3, H, D] (any element type): s_j = q_i . k_j / sqrt(D) - slope (i - j)
// for j <= i, out = sum_j softmax(s)_j v_j.
template <class Element>
void direct_attention_row(const Element* qkv, int64_t T, int64_t H, int64_t D, int64_t b,
                          int64_t h, int64_t i, double slope, std::vector<double>& out,
                          double& lse) {
  auto part = [&](int64_t t, int which) { return qkv + ((b * T + t) * 3 + which) * H * D + h * D; };
  const Element* q = part(i, 0);
  std::vector<double> score(i + 1);
  double max_score = -INFINITY;
  for (int64_t j = 0; j <= i; ++j) {
    const Element* k = part(j, 1);
    double dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += double(q[d]) * double(k[d]);
    score[j] = dot / std::sqrt(double(D)) - slope * double(i - j);
    max_score = std::max(max_score, score[j]);
  }
  out.assign(D, 0.0);
  double sum = 0;
  for (int64_t j = 0; j <= i; ++j) {
    const double p = std::exp(score[j] - max_score);
    sum += p;
    const Element* v = part(j, 2);
    for (int64_t d = 0; d < D; ++d) out[d] += p * double(v[d]);
  }
  for (double& x : out) x /= sum;
  lse = max_score + std::log(sum);
}

}  // namespace alibi::testing
