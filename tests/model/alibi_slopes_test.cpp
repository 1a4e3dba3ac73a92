#include "model/alibi_slopes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace alibi {
namespace {

TEST(AlibiSlopes, EightHeadsAreHalfToOne256th) {
  const std::vector<float> expected = {1.f / 2,  1.f / 4,  1.f / 8,   1.f / 16,
                                       1.f / 32, 1.f / 64, 1.f / 128, 1.f / 256};
  EXPECT_EQ(alibi_slopes(8), expected);
}

TEST(AlibiSlopes, TwelveHeadsInterleaveFromSixteen) {
  // The 8-head slopes, then every other slope of the 16-head sequence.
  const std::vector<float> expected = {
      1.f / 2, 1.f / 4, 1.f / 8, 1.f / 16, 1.f / 32, 1.f / 64, 1.f / 128, 1.f / 256,
      static_cast<float>(std::pow(2.0, -0.5)), static_cast<float>(std::pow(2.0, -1.5)),
      static_cast<float>(std::pow(2.0, -2.5)), static_cast<float>(std::pow(2.0, -3.5))};
  EXPECT_EQ(alibi_slopes(12), expected);
}

TEST(AlibiSlopes, OneAndSixteenHeads) {
  EXPECT_EQ(alibi_slopes(1), std::vector<float>{1.f / 256});
  const std::vector<float> s16 = alibi_slopes(16);
  ASSERT_EQ(s16.size(), 16u);
  for (int i = 0; i < 16; ++i)
    EXPECT_FLOAT_EQ(s16[i], static_cast<float>(std::pow(2.0, -0.5 * (i + 1)))) << i;
}

TEST(AlibiSlopes, RejectsNonPositiveCounts) {
  EXPECT_THROW(alibi_slopes(0), std::invalid_argument);
}

}  // namespace
}  // namespace alibi
