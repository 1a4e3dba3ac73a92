#include "cpu/attention_decode.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace alibi::cpu {

template <typename T>
void kv_cache_write(T* k_cache, T* v_cache, const T* qkv, const int32_t* starts, int64_t B, int64_t T_new,
                    int64_t H, int64_t L, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T_new; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const T* k = qkv + ((b * T_new + t) * 3 + 1) * H * D + h * D;
        const T* v = k + H * D;
        const int64_t at = ((b * H + h) * L + starts[b] + t) * D;
        std::copy(k, k + D, k_cache + at);
        std::copy(v, v + D, v_cache + at);
      }
}

void kv_cache_advance(int32_t* lengths, int64_t B, int64_t added) {
  for (int64_t b = 0; b < B; ++b) lengths[b] += static_cast<int32_t>(added);
}

template <typename T>
void attention_decode(T* out, const T* qkv, const T* k_cache, const T* v_cache, const int32_t* lengths,
                      const T* slopes, int64_t B, int64_t H, int64_t L, int64_t D) {
  const T scale = T(1) / std::sqrt(static_cast<T>(D));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t n = lengths[b];
      const T* q = qkv + b * 3 * H * D + h * D;
      const T* keys = k_cache + (b * H + h) * L * D;
      const T* values = v_cache + (b * H + h) * L * D;
      std::vector<T> s(static_cast<size_t>(n)), acc(static_cast<size_t>(D), T(0));
      for (int64_t j = 0; j < n; ++j) {
        T dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += q[d] * keys[j * D + d];
        s[j] = dot * scale - slopes[h] * static_cast<T>(n - 1 - j);
      }
      const T m = *std::max_element(s.begin(), s.end());
      T sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        const T p = std::exp(s[j] - m);
        sum += p;
        for (int64_t d = 0; d < D; ++d) acc[d] += p * values[j * D + d];
      }
      T* o = out + b * H * D + h * D;
      for (int64_t d = 0; d < D; ++d) o[d] = acc[d] / sum;
    }
}

template void kv_cache_write<float>(float*, float*, const float*, const int32_t*, int64_t, int64_t, int64_t,
                                    int64_t, int64_t);
template void kv_cache_write<double>(double*, double*, const double*, const int32_t*, int64_t, int64_t, int64_t,
                                     int64_t, int64_t);
template void attention_decode<float>(float*, const float*, const float*, const float*, const int32_t*,
                                      const float*, int64_t, int64_t, int64_t, int64_t);
template void attention_decode<double>(double*, const double*, const double*, const double*, const int32_t*,
                                       const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace alibi::cpu
