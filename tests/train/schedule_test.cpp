#include "train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace alibi {

TEST(LrSchedule, WarmsUpLinearlyThenDecaysByCosineToTheFloor) {
  LrSchedule s{/*peak*/ 1.0, /*warmup*/ 10, /*total*/ 110, /*min ratio*/ 0.1};
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  // Halfway through the decay the cosine is at its midpoint.
  EXPECT_NEAR(s.at(60), 0.1 + 0.5 * 0.9, 1e-12);
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(500), 0.1, 1e-12);  // stays at the floor past the end
  for (int64_t step = 11; step < 110; ++step) EXPECT_LE(s.at(step + 1), s.at(step));
}

TEST(LrSchedule, NoWarmupStartsAtPeak) {
  LrSchedule s{2e-3, 0, 100, 0.0};
  EXPECT_NEAR(s.at(0), 2e-3, 1e-15);
  EXPECT_NEAR(s.at(100), 0.0, 1e-15);
}

}  // namespace alibi
