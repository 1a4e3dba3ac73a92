#include "cpu/layernorm.h"

#include <algorithm>
#include <cmath>

namespace alibi::cpu {

template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias,
                       int64_t N, int64_t C, T eps) {
#pragma omp parallel for
  for (int64_t n = 0; n < N; ++n) {
    const T* x = inp + n * C;
    // Two passes: the variance of (x - mean) does not cancel catastrophically.
    T sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const T m = sum / static_cast<T>(C);
    T sq = 0;
    for (int64_t c = 0; c < C; ++c) sq += (x[c] - m) * (x[c] - m);
    const T s = T(1) / std::sqrt(sq / static_cast<T>(C) + eps);
    T* y = out + n * C;
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = s;
  }
}

namespace {

// dinp (= or +=) rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight.
template <typename T>
void layernorm_input_grad(T* dinp, const T* dout, const T* inp, const T* weight, const T* mean,
                          const T* rstd, int64_t N, int64_t C, bool add_to_dinp) {
#pragma omp parallel for
  for (int64_t n = 0; n < N; ++n) {
    const T* x = inp + n * C;
    const T* dy = dout + n * C;
    const T m = mean[n], s = rstd[n];
    T sum_g = 0, sum_g_xhat = 0;
    for (int64_t c = 0; c < C; ++c) {
      const T g = dy[c] * weight[c];
      sum_g += g;
      sum_g_xhat += g * ((x[c] - m) * s);
    }
    const T mean_g = sum_g / static_cast<T>(C), mean_g_xhat = sum_g_xhat / static_cast<T>(C);
    T* dx = dinp + n * C;
    for (int64_t c = 0; c < C; ++c) {
      const T xhat = (x[c] - m) * s;
      const T grad = s * (dy[c] * weight[c] - mean_g - xhat * mean_g_xhat);
      dx[c] = add_to_dinp ? dx[c] + grad : grad;
    }
  }
}

// dweight[c] += sum_n dout*xhat, dbias[c] += sum_n dout; one thread per
// channel block so each channel's sum has one fixed order.
template <typename T>
void layernorm_param_grads(T* dweight, T* dbias, const T* dout, const T* inp, const T* mean,
                           const T* rstd, int64_t N, int64_t C) {
  constexpr int64_t kBlock = 32;
#pragma omp parallel for
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    const int64_t c1 = std::min(c0 + kBlock, C);
    T sum_w[kBlock] = {}, sum_b[kBlock] = {};
    for (int64_t n = 0; n < N; ++n) {
      const T* x = inp + n * C;
      const T* dy = dout + n * C;
      for (int64_t c = c0; c < c1; ++c) {
        sum_w[c - c0] += dy[c] * ((x[c] - mean[n]) * rstd[n]);
        sum_b[c - c0] += dy[c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      dweight[c] += sum_w[c - c0];
      dbias[c] += sum_b[c - c0];
    }
  }
}

}  // namespace

template <typename T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                        const T* weight, const T* mean, const T* rstd, int64_t N, int64_t C,
                        bool add_to_dinp) {
  // Parameter gradients first: dinp may alias dout.
  layernorm_param_grads(dweight, dbias, dout, inp, mean, rstd, N, C);
  layernorm_input_grad(dinp, dout, inp, weight, mean, rstd, N, C, add_to_dinp);
}

#define ALIBI_INSTANTIATE(T)                                                                    \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, \
                                     T);                                                        \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                      const T*, int64_t, int64_t, bool);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
