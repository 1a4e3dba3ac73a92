#include "cpu/gelu.h"

#include <cmath>

namespace alibi::cpu {
namespace {

template <typename T>
constexpr T kSqrt2OverPi = static_cast<T>(0.79788456080286535587989211986876);
template <typename T>
constexpr T kCubic = static_cast<T>(0.044715);

}  // namespace

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T u = kSqrt2OverPi<T> * (x + kCubic<T> * x * x * x);
    out[i] = T(0.5) * x * (T(1) + std::tanh(u));
  }
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T u = kSqrt2OverPi<T> * (x + kCubic<T> * x * x * x);
    const T th = std::tanh(u);
    const T du_dx = kSqrt2OverPi<T> * (T(1) + T(3) * kCubic<T> * x * x);
    const T grad = T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du_dx;
    dinp[i] = dout[i] * grad;
  }
}

template void gelu_forward<float>(float*, const float*, int64_t);
template void gelu_forward<double>(double*, const double*, int64_t);
template void gelu_backward<float>(float*, const float*, const float*, int64_t);
template void gelu_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace alibi::cpu
