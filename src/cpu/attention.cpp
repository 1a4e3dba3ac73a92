#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace alibi::cpu {
namespace {

// Addresses of one (b, h) slice inside the interleaved layouts.
struct HeadView {
  int64_t Tlen, H, D;
  int64_t qkv_row;  // distance between tokens in qkv: 3*H*D
  int64_t out_row;  // distance between tokens in out: H*D
  int64_t q_off, k_off, v_off, out_off;

  HeadView(int64_t b, int64_t h, int64_t Tlen, int64_t H, int64_t D)
      : Tlen(Tlen), H(H), D(D), qkv_row(3 * H * D), out_row(H * D) {
    const int64_t base = b * Tlen * qkv_row + h * D;
    q_off = base;
    k_off = base + H * D;
    v_off = base + 2 * H * D;
    out_off = b * Tlen * out_row + h * D;
  }
};

// Copies k (or v) of one head into [D, T] so that dot products against all
// keys run along j and vectorize without reordering any single sum.
template <typename T>
void gather_transposed(std::vector<T>& dst, const T* src, const HeadView& hv) {
  dst.resize(static_cast<size_t>(hv.D * hv.Tlen));
  for (int64_t j = 0; j < hv.Tlen; ++j)
    for (int64_t d = 0; d < hv.D; ++d) dst[d * hv.Tlen + j] = src[j * hv.qkv_row + d];
}

// dots[j] = x . rows_j for j <= i, with rows given transposed [D, T]; sums over d ascending.
template <typename T>
void dots_with_prefix(T* dots, const T* x, const T* rows_t, int64_t i, int64_t Tlen, int64_t D) {
  std::fill_n(dots, i + 1, T(0));
  for (int64_t d = 0; d < D; ++d) {
    const T xd = x[d];
    const T* r = rows_t + d * Tlen;
    for (int64_t j = 0; j <= i; ++j) dots[j] += xd * r[j];
  }
}

// Scores of query i against keys 0..i: scaled dot product minus the ALiBi distance penalty.
template <typename T>
void scores_row(T* s, const T* q, const T* k_t, int64_t i, int64_t Tlen, int64_t D, T scale,
                T slope) {
  dots_with_prefix(s, q, k_t, i, Tlen, D);
  for (int64_t j = 0; j <= i; ++j) s[j] = s[j] * scale - slope * static_cast<T>(i - j);
}

template <typename T>
void forward_head(T* out, T* lse, const T* qkv, T slope, const HeadView& hv, T scale) {
  const int64_t Tlen = hv.Tlen, D = hv.D;
  std::vector<T> k_t, s(static_cast<size_t>(Tlen)), acc(static_cast<size_t>(D));
  gather_transposed(k_t, qkv + hv.k_off, hv);
  for (int64_t i = 0; i < Tlen; ++i) {
    const T* q = qkv + hv.q_off + i * hv.qkv_row;
    scores_row(s.data(), q, k_t.data(), i, Tlen, D, scale, slope);
    const T m = *std::max_element(s.begin(), s.begin() + i + 1);
    T sum = 0;
    std::fill(acc.begin(), acc.end(), T(0));
    for (int64_t j = 0; j <= i; ++j) {
      const T p = std::exp(s[j] - m);
      sum += p;
      const T* v = qkv + hv.v_off + j * hv.qkv_row;
      for (int64_t d = 0; d < D; ++d) acc[d] += p * v[d];
    }
    T* o = out + hv.out_off + i * hv.out_row;
    for (int64_t d = 0; d < D; ++d) o[d] = acc[d] / sum;
    if (lse) lse[i] = m + std::log(sum);
  }
}

template <typename T>
void backward_head(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, T slope,
                   const HeadView& hv, T scale) {
  const int64_t Tlen = hv.Tlen, D = hv.D;
  // dqkv is overwritten: clear this head's q, k and v gradients, then accumulate.
  for (int64_t t = 0; t < Tlen; ++t)
    for (int64_t off : {hv.q_off, hv.k_off, hv.v_off})
      std::fill_n(dqkv + off + t * hv.qkv_row, D, T(0));
  std::vector<T> k_t, v_t, s(static_cast<size_t>(Tlen)), dp(static_cast<size_t>(Tlen));
  gather_transposed(k_t, qkv + hv.k_off, hv);
  gather_transposed(v_t, qkv + hv.v_off, hv);
  for (int64_t i = 0; i < Tlen; ++i) {
    const T* q = qkv + hv.q_off + i * hv.qkv_row;
    const T* o = out + hv.out_off + i * hv.out_row;
    const T* dO = dout + hv.out_off + i * hv.out_row;
    scores_row(s.data(), q, k_t.data(), i, Tlen, D, scale, slope);
    dots_with_prefix(dp.data(), dO, v_t.data(), i, Tlen, D);  // dp_j = dO_i . v_j
    T d_i = 0;  // dO_i . O_i = sum_j p_j dp_j
    for (int64_t d = 0; d < D; ++d) d_i += dO[d] * o[d];
    T* __restrict dq = dqkv + hv.q_off + i * hv.qkv_row;
    for (int64_t j = 0; j <= i; ++j) {
      const T p = std::exp(s[j] - lse[i]);
      const T ds = p * (dp[j] - d_i) * scale;  // gradient of the scaled dot product
      // Gradients and inputs live in different tensors: tell the vectorizer.
      const T* __restrict k = qkv + hv.k_off + j * hv.qkv_row;
      T* __restrict dk = dqkv + hv.k_off + j * hv.qkv_row;
      T* __restrict dv = dqkv + hv.v_off + j * hv.qkv_row;
      for (int64_t d = 0; d < D; ++d) {
        dq[d] += ds * k[d];
        dk[d] += ds * q[d];
        dv[d] += p * dO[d];
      }
    }
  }
}

}  // namespace

template <typename T>
void attention_forward(T* out, T* lse, const T* qkv, const T* slopes, int64_t B, int64_t Tlen,
                       int64_t H, int64_t D) {
  const T scale = T(1) / std::sqrt(static_cast<T>(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      HeadView hv(b, h, Tlen, H, D);
      forward_head(out, lse ? lse + (b * H + h) * Tlen : nullptr, qkv, slopes[h], hv, scale);
    }
}

template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse,
                        const T* slopes, int64_t B, int64_t Tlen, int64_t H, int64_t D) {
  const T scale = T(1) / std::sqrt(static_cast<T>(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      HeadView hv(b, h, Tlen, H, D);
      backward_head(dqkv, dout, qkv, out, lse + (b * H + h) * Tlen, slopes[h], hv, scale);
    }
}

#define ALIBI_INSTANTIATE(T)                                                                 \
  template void attention_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, int64_t,  \
                                     int64_t);                                               \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const T*, const T*,  \
                                      int64_t, int64_t, int64_t, int64_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
