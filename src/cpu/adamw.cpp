#include "cpu/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace alibi::cpu {

template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWHyper& hp) {
  const T beta1 = static_cast<T>(hp.beta1), beta2 = static_cast<T>(hp.beta2);
  const T lr = static_cast<T>(hp.lr), eps = static_cast<T>(hp.eps);
  const T wd = static_cast<T>(hp.weight_decay), scale = static_cast<T>(hp.grad_scale);
  // Bias corrections in double: beta^step underflows gracefully and the
  // value is the same for every element.
  const T bc1 = static_cast<T>(1.0 - std::pow(hp.beta1, static_cast<double>(hp.step)));
  const T bc2 = static_cast<T>(1.0 - std::pow(hp.beta2, static_cast<double>(hp.step)));
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i] * scale;
    m[i] = beta1 * m[i] + (T(1) - beta1) * g;
    v[i] = beta2 * v[i] + (T(1) - beta2) * g * g;
    const T m_hat = m[i] / bc1, v_hat = v[i] / bc2;
    param[i] -= lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * param[i]);
  }
}

template <typename T>
double sum_of_squares(const T* x, int64_t n) {
  constexpr int64_t kChunk = 1 << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks));
#pragma omp parallel for
  for (int64_t c = 0; c < chunks; ++c) {
    double sum = 0;
    for (int64_t i = c * kChunk, end = std::min(n, (c + 1) * kChunk); i < end; ++i)
      sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    partial[c] = sum;
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t,
                                  const AdamWHyper&);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t,
                                   const AdamWHyper&);
template double sum_of_squares<float>(const float*, int64_t);
template double sum_of_squares<double>(const double*, int64_t);

}  // namespace alibi::cpu
