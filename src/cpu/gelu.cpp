#include "cpu/gelu.h"

#include <cmath>

namespace alibi::cpu {
namespace {

template <typename T>
constexpr T kSqrt2OverPi = static_cast<T>(0.79788456080286535587989211986876);
template <typename T>
constexpr T kCubic = static_cast<T>(0.044715);

// u(x) = sqrt(2/pi) (x + 0.044715 x^3) and its derivative.
template <typename T>
T inner(T x) {
  return kSqrt2OverPi<T> * (x + kCubic<T> * x * x * x);
}
template <typename T>
T inner_derivative(T x) {
  return kSqrt2OverPi<T> * (T(1) + T(3) * kCubic<T> * x * x);
}

// 0.5 (1 + tanh(u)) equals sigmoid(2u) exactly; evaluating it as
// 1 / (1 + exp(-2u)) costs one exp instead of a (several times slower) tanh.
// exp overflowing to inf for very negative u gives the correct limit 0.
template <typename T>
T half_one_plus_tanh(T u) {
  return T(1) / (T(1) + std::exp(T(-2) * u));
}

}  // namespace

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = x * half_one_plus_tanh(inner(x));
  }
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const T x = inp[i];
    // d/dx [x s(u)] = s + x u' * 0.5 (1 - tanh^2 u) = s + 2 x u' s (1 - s), s = 0.5 (1 + tanh u).
    const T s = half_one_plus_tanh(inner(x));
    const T grad = s + T(2) * x * inner_derivative(x) * s * (T(1) - s);
    dinp[i] = dout[i] * grad;
  }
}

template void gelu_forward<float>(float*, const float*, int64_t);
template void gelu_forward<double>(double*, const double*, int64_t);
template void gelu_backward<float>(float*, const float*, const float*, int64_t);
template void gelu_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace alibi::cpu
