#include "cpu/argmax.h"

#include <cmath>

namespace alibi::cpu {

void argmax(int32_t* tokens, const float* logits, int64_t N, int64_t V, int64_t limit) {
  for (int64_t n = 0; n < N; ++n) {
    const float* row = logits + n * V;
    int64_t best = -1;
    for (int64_t j = 0; j < limit; ++j)
      if (!std::isnan(row[j]) && (best < 0 || row[j] > row[best])) best = j;
    tokens[n] = static_cast<int32_t>(best < 0 ? 0 : best);
  }
}

}  // namespace alibi::cpu
