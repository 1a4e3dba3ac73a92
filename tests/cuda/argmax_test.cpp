// The device argmax against cpu::argmax on the same bf16 logits: exact
// agreement (it is a choice, not a sum), ties and NaNs included.
#include "kernels/argmax.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu/argmax.h"
#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::DeviceArray;
using test::random_bf16_values;
using test::to_bf16;

void check(int64_t N, int64_t V, int64_t limit, uint64_t seed) {
  SCOPED_TRACE("N=" + std::to_string(N) + " V=" + std::to_string(V) + " limit=" + std::to_string(limit));
  std::vector<float> logits = random_bf16_values(N * V, seed);
  // Ties for the top (bf16 has few values near the maximum anyway), NaNs, a
  // maximum past the limit, and a row of NaNs.
  for (int64_t n = 0; n < N; ++n) {
    float* row = logits.data() + n * V;
    if (n % 4 == 1) row[V / 3] = row[V / 2] = 50.f;
    if (n % 4 == 2) row[0] = row[limit / 2] = std::nanf("");
    if (n % 4 == 3 && limit < V) row[limit] = 99.f;
    if (n == N - 1 && N > 4)
      for (int64_t v = 0; v < V; ++v) row[v] = std::nanf("");
  }
  DeviceArray<uint16_t> d_logits(logits.size());
  DeviceArray<int32_t> d_tokens(N);
  d_logits.upload(to_bf16(logits));
  d_tokens.poison();
  argmax(d_tokens.get(), reinterpret_cast<const __nv_bfloat16*>(d_logits.get()), N, V, limit, nullptr);
  test::cuda_check(cudaDeviceSynchronize(), "argmax");
  std::vector<int32_t> want(N);
  cpu::argmax(want.data(), logits.data(), N, V, limit);
  EXPECT_EQ(d_tokens.download(), want);
}

TEST(CudaArgmax, MatchesTheCpuWithTiesAndNaNs) {
  ALIBI_SKIP_WITHOUT_GPU();
  check(1, 50304, 50257, 1);  // GPT-2's tokenizer under a padded vocabulary
  check(9, 50304, 50304, 2);
  check(5, 17, 11, 3);
  check(32, 3000, 2999, 4);
}

}  // namespace
}  // namespace alibi::cuda
