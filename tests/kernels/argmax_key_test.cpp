// kernels/argmax_key.cuh, the greedy choice as a 64-bit maximum, compiled for
// the host: the largest key over a row's non-NaN candidates names the token
// cpu::argmax picks, for rows with ties, negative values only, signed zeros,
// infinities, NaNs and rows of nothing but NaN.
#include "kernels/argmax_key.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/random.h"
#include "cpu/argmax.h"

namespace alibi::cuda {
namespace {

int32_t by_keys(const std::vector<float>& row, int64_t limit) {
  unsigned long long best = 0;
  for (int64_t j = 0; j < limit; ++j)
    if (!std::isnan(row[static_cast<size_t>(j)])) {
      const unsigned long long key = argmax_key(row[static_cast<size_t>(j)], j);
      EXPECT_NE(key, 0ull);
      best = key > best ? key : best;
    }
  return argmax_index(best);
}

int32_t reference(const std::vector<float>& row, int64_t limit) {
  int32_t token = -1;
  cpu::argmax(&token, row.data(), 1, static_cast<int64_t>(row.size()), limit);
  return token;
}

TEST(ArgmaxKey, TheLargestKeyIsTheHostsChoice) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> rows = {
      {1.f, 3.f, 3.f, 2.f},              // a tie: the first
      {-5.f, -2.f, -2.f, -7.f},          // negatives only
      {-0.f, 0.f, -1.f},                 // -0 and +0 tie: the first
      {0.f, -0.f},                       //
      {nan, -inf, nan},                  // -inf beats nothing
      {nan, nan},                        // nothing: 0
      {2.f, inf, inf, nan},              // infinities tie
      {-inf, -inf},                      //
      {1e-40f, 2e-40f, -1e-40f},         // subnormals
      {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()},
  };
  Rng rng(29);
  for (int r = 0; r < 200; ++r) {  // random rows of few distinct values: many ties
    std::vector<float> row(1 + rng.below(300));
    for (float& v : row) v = static_cast<float>(static_cast<int>(rng.below(9)) - 4) * 0.5f;
    if (rng.below(4) == 0) row[rng.below(row.size())] = nan;
    rows.push_back(row);
  }
  for (const std::vector<float>& row : rows) {
    const int64_t V = static_cast<int64_t>(row.size());
    for (int64_t limit : {V, (V + 1) / 2, int64_t{1}}) {
      SCOPED_TRACE("row of " + std::to_string(V) + ", limit " + std::to_string(limit));
      EXPECT_EQ(by_keys(row, limit), reference(row, limit));
    }
  }
}

}  // namespace
}  // namespace alibi::cuda
