#include "cpu/argmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace alibi::cpu {
namespace {

TEST(Argmax, TheFirstOfTheLargestWithinTheLimit) {
  const float nan = std::nanf("");
  const int64_t V = 6;
  const std::vector<float> logits = {
      1, 3, 3, 2, 0, 9,             // a tie: the lower index; 9 lies past the limit
      nan, -1, 4, nan, 4, 7,        // NaNs are passed over, also a leading one
      nan, nan, nan, nan, nan, 8,   // nothing but NaN within the limit: 0
      -5, -4, -INFINITY, -3, -3, 0,  // all negative
  };
  std::vector<int32_t> tokens(4, -7);
  argmax(tokens.data(), logits.data(), 4, V, 5);
  EXPECT_EQ(tokens, (std::vector<int32_t>{1, 2, 0, 3}));
  argmax(tokens.data(), logits.data(), 4, V, V);
  EXPECT_EQ(tokens, (std::vector<int32_t>{5, 5, 5, 5}));
}

}  // namespace
}  // namespace alibi::cpu
