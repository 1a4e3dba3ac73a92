#include "cpu/elementwise.h"

#include "core/random.h"

namespace alibi::cpu {

template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void scale(T* x, int64_t n, T factor) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

template <typename T>
void dropout_forward(T* x, int64_t n, float p, uint64_t seed) {
  if (p <= 0.f) return;  // uniform_at >= 0 keeps everything; skip the work
  const T scale = p >= 1.f ? T(0) : T(1) / (T(1) - static_cast<T>(p));
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = uniform_at(seed, static_cast<uint64_t>(i)) >= p;
    x[i] = keep ? x[i] * scale : T(0);
  }
}

template <typename T>
void dropout_backward(T* dx, int64_t n, float p, uint64_t seed) {
  // d(x * mask * scale)/dx = mask * scale: the forward applied to the gradient.
  dropout_forward(dx, n, p, seed);
}

#define ALIBI_INSTANTIATE(T)                                    \
  template void add<T>(T*, const T*, const T*, int64_t);        \
  template void scale<T>(T*, int64_t, T);                         \
  template void dropout_forward<T>(T*, int64_t, float, uint64_t); \
  template void dropout_backward<T>(T*, int64_t, float, uint64_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
