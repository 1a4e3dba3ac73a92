#include "cpu/embedding.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace alibi::cpu {
namespace {

// Checked before any parallel work so the throw happens on the caller's thread.
void check_tokens(const int32_t* tokens, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n)
    if (tokens[n] < 0 || tokens[n] >= V)
      throw std::out_of_range("embedding: token " + std::to_string(tokens[n]) + " at position " +
                              std::to_string(n) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
}

}  // namespace

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, int64_t N, int64_t V,
                       int64_t C) {
  check_tokens(tokens, N, V);
#pragma omp parallel for
  for (int64_t n = 0; n < N; ++n) std::copy_n(wte + tokens[n] * C, C, out + n * C);
}

template <typename T>
void embedding_backward(T* dwte, const T* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C) {
  check_tokens(tokens, N, V);
  // Parallel over channel blocks: every element of dwte belongs to one thread.
  constexpr int64_t kBlock = 16;
#pragma omp parallel for
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    const int64_t c1 = std::min(c0 + kBlock, C);
    for (int64_t n = 0; n < N; ++n) {
      T* row = dwte + tokens[n] * C;
      const T* g = dout + n * C;
      for (int64_t c = c0; c < c1; ++c) row[c] += g[c];
    }
  }
}

#define ALIBI_INSTANTIATE(T)                                                                 \
  template void embedding_forward<T>(T*, const int32_t*, const T*, int64_t, int64_t, int64_t); \
  template void embedding_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t, int64_t);
ALIBI_INSTANTIATE(float)
ALIBI_INSTANTIATE(double)
#undef ALIBI_INSTANTIATE

}  // namespace alibi::cpu
