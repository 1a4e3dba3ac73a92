#include "cpu/position.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace alibi::cpu {

template <typename T>
void learned_position_forward(T* x, const T* wpe, int64_t B, int64_t Tlen, int64_t C) {
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tlen; ++t) {
      T* row = x + (b * Tlen + t) * C;
      const T* pos = wpe + t * C;
      for (int64_t c = 0; c < C; ++c) row[c] += pos[c];
    }
}

template <typename T>
void learned_position_backward(T* dwpe, const T* dout, int64_t B, int64_t Tlen, int64_t C) {
  // Parallel over positions: each dwpe row is owned by one thread.
#pragma omp parallel for
  for (int64_t t = 0; t < Tlen; ++t) {
    T* grow = dwpe + t * C;
    for (int64_t b = 0; b < B; ++b) {
      const T* g = dout + (b * Tlen + t) * C;
      for (int64_t c = 0; c < C; ++c) grow[c] += g[c];
    }
  }
}

template <typename T>
void sinusoidal_position_forward(T* x, int64_t B, int64_t Tlen, int64_t C) {
  // Channel c uses frequency index i = c/2: even channels sine, odd cosine.
  std::vector<double> inv_freq(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    inv_freq[c] = std::pow(10000.0, -static_cast<double>(2 * (c / 2)) / static_cast<double>(C));
#pragma omp parallel for
  for (int64_t t = 0; t < Tlen; ++t) {
    std::vector<T> enc(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const double angle = static_cast<double>(t) * inv_freq[c];
      enc[c] = static_cast<T>(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
    for (int64_t b = 0; b < B; ++b) {
      T* row = x + (b * Tlen + t) * C;
      for (int64_t c = 0; c < C; ++c) row[c] += enc[c];
    }
  }
}

namespace {

// Rotates q and k of every (b, t, h) by +angle (sign 1) or -angle (sign -1).
template <typename T>
void rotate_qk(T* qkv, int64_t B, int64_t Tlen, int64_t H, int64_t D, double base, int sign) {
  if (D % 2 != 0) throw std::invalid_argument("rotary: head dim must be even");
  const int64_t half = D / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t d = 0; d < half; ++d)
    inv_freq[d] = std::pow(base, -static_cast<double>(2 * d) / static_cast<double>(D));
#pragma omp parallel for
  for (int64_t t = 0; t < Tlen; ++t) {
    std::vector<T> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
    for (int64_t d = 0; d < half; ++d) {
      const double angle = static_cast<double>(t) * inv_freq[d];
      cos_t[d] = static_cast<T>(std::cos(angle));
      sin_t[d] = static_cast<T>(sign * std::sin(angle));
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t which = 0; which < 2; ++which)  // q, then k; v is untouched
        for (int64_t h = 0; h < H; ++h) {
          T* x = qkv + (((b * Tlen + t) * 3 + which) * H + h) * D;
          for (int64_t d = 0; d < half; ++d) {
            const T x1 = x[d], x2 = x[d + half];
            x[d] = x1 * cos_t[d] - x2 * sin_t[d];
            x[d + half] = x2 * cos_t[d] + x1 * sin_t[d];
          }
        }
  }
}

}  // namespace

template <typename T>
void rotary_forward(T* qkv, int64_t B, int64_t Tlen, int64_t H, int64_t D, double base) {
  rotate_qk(qkv, B, Tlen, H, D, base, +1);
}

template <typename T>
void rotary_backward(T* dqkv, int64_t B, int64_t Tlen, int64_t H, int64_t D, double base) {
  // A rotation's Jacobian is the rotation itself; its transpose rotates back.
  rotate_qk(dqkv, B, Tlen, H, D, base, -1);
}

#define ALIBI_INSTANTIATE(T)                                                                  \
  template void learned_position_forward<T>(T*, const T*, int64_t, int64_t, int64_t);        \
  template void learned_position_backward<T>(T*, const T*, int64_t, int64_t, int64_t);       \
  template void sinusoidal_position_forward<T>(T*, int64_t, int64_t, int64_t);                \
  template void rotary_forward<T>(T*, int64_t, int64_t, int64_t, int64_t, double);            \
  template void rotary_backward<T>(T*, int64_t, int64_t, int64_t, int64_t, double);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
