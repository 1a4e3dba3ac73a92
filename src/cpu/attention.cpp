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

// Writes a [D, T] transposed gradient back into the interleaved dqkv rows.
template <typename T>
void scatter_transposed(T* dst, const std::vector<T>& src, const HeadView& hv) {
  for (int64_t j = 0; j < hv.Tlen; ++j)
    for (int64_t d = 0; d < hv.D; ++d) dst[j * hv.qkv_row + d] = src[d * hv.Tlen + j];
}

// Per query row i, with p_j = exp(s_ij - lse_i) and dp_j = dO_i . v_j:
//   ds_j = p_j (dp_j - D_i) / sqrt(D),  D_i = dO_i . O_i
//   dq_i = sum_j ds_j k_j,  dk_j += ds_j q_i,  dv_j += p_j dO_i
// dk and dv are accumulated transposed ([D, T]) so the rank-1 updates run
// along j and vectorize; each element still sums over i in ascending order.
template <typename T>
void backward_head(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, T slope,
                   const HeadView& hv, T scale) {
  const int64_t Tlen = hv.Tlen, D = hv.D;
  std::vector<T> k_t, v_t;
  gather_transposed(k_t, qkv + hv.k_off, hv);
  gather_transposed(v_t, qkv + hv.v_off, hv);
  std::vector<T> dk_t(static_cast<size_t>(D * Tlen)), dv_t(static_cast<size_t>(D * Tlen));
  std::vector<T> s(static_cast<size_t>(Tlen)), dp(static_cast<size_t>(Tlen));
  std::vector<T> dq(static_cast<size_t>(D));
  for (int64_t i = 0; i < Tlen; ++i) {
    const T* q = qkv + hv.q_off + i * hv.qkv_row;
    const T* o = out + hv.out_off + i * hv.out_row;
    const T* dO = dout + hv.out_off + i * hv.out_row;
    scores_row(s.data(), q, k_t.data(), i, Tlen, D, scale, slope);
    dots_with_prefix(dp.data(), dO, v_t.data(), i, Tlen, D);
    T d_i = 0;
    for (int64_t d = 0; d < D; ++d) d_i += dO[d] * o[d];
    T* p = s.data();    // probabilities replace the scores in place
    T* ds = dp.data();  // and score gradients replace dp
    for (int64_t j = 0; j <= i; ++j) p[j] = std::exp(s[j] - lse[i]);
    for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (dp[j] - d_i) * scale;
    for (int64_t d = 0; d < D; ++d) {
      T* __restrict dk_row = dk_t.data() + d * Tlen;
      T* __restrict dv_row = dv_t.data() + d * Tlen;
      const T qd = q[d], dOd = dO[d];
      for (int64_t j = 0; j <= i; ++j) {
        dk_row[j] += ds[j] * qd;
        dv_row[j] += p[j] * dOd;
      }
    }
    std::fill(dq.begin(), dq.end(), T(0));
    for (int64_t j = 0; j <= i; ++j) {
      const T* k = qkv + hv.k_off + j * hv.qkv_row;
      for (int64_t d = 0; d < D; ++d) dq[d] += ds[j] * k[d];
    }
    std::copy(dq.begin(), dq.end(), dqkv + hv.q_off + i * hv.qkv_row);
  }
  // dqkv is overwritten: every row of this head's dk and dv is written here.
  scatter_transposed(dqkv + hv.k_off, dk_t, hv);
  scatter_transposed(dqkv + hv.v_off, dv_t, hv);
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
