// Evaluation plans: every token of t[1 .. M] scored exactly once, with the
// context the definitions promise, and one token count for a whole sweep.
#include "eval/eval_plan.h"

#include <gtest/gtest.h>

#include <map>

namespace alibi {
namespace {

// Scored target index -> the window start it was scored from.
std::map<int64_t, int64_t> scored_tokens(const EvalSpec& spec, int64_t scored) {
  std::map<int64_t, int64_t> context_start;
  for (const EvalWindow& w : plan_windows(spec, scored))
    for (int64_t i = w.first_scored; i < spec.length; ++i) {
      const int64_t target = w.start + i + 1;
      EXPECT_FALSE(context_start.count(target)) << "token " << target << " scored twice";
      context_start[target] = w.start;
    }
  return context_start;
}

TEST(EvalPlan, NonoverlappingCutsTheStreamIntoConsecutiveWindows) {
  const std::vector<EvalWindow> w = plan_windows({4, 4}, 12);
  ASSERT_EQ(w.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(w[k].start, 4 * k);
    EXPECT_EQ(w[k].first_scored, 0);
  }
}

TEST(EvalPlan, SlidingScoresEveryTokenOnceWithAtLeastLMinusSContext) {
  for (const EvalSpec spec : {EvalSpec{8, 3}, EvalSpec{8, 1}, EvalSpec{8, 8}, EvalSpec{5, 2}}) {
    const int64_t M = spec.length + 4 * spec.stride;
    const auto scored = scored_tokens(spec, M);
    ASSERT_EQ(static_cast<int64_t>(scored.size()), M);
    EXPECT_EQ(scored.begin()->first, 1);
    EXPECT_EQ(scored.rbegin()->first, M);
    for (const auto& [target, start] : scored) {
      const int64_t context = target - start;  // tokens the prediction sees
      EXPECT_LE(context, spec.length);
      // The first window scores all of its targets (the usual convention).
      if (target > spec.length) {
        EXPECT_GE(context, spec.length - spec.stride + 1) << "token " << target;
      }
    }
  }
}

TEST(EvalPlan, StrideEqualToLengthIsTheNonoverlappingPlan) {
  const std::vector<EvalWindow> a = plan_windows({6, 6}, 36), b = plan_windows({6, 6}, 36);
  const EvalSpec spec{6, 6};
  EXPECT_TRUE(spec.nonoverlapping());
  EXPECT_STREQ(spec.mode(), "nonoverlapping");
  EXPECT_STREQ((EvalSpec{6, 2}).mode(), "sliding");
  ASSERT_EQ(a.size(), 6u);
  for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].start, static_cast<int64_t>(6 * k));
}

TEST(EvalPlan, CommonTokenCountIsCoveredByEveryLengthAndStride) {
  // 1000 tokens: 999 scorable; 4, 8 and 16 all cover 992.
  EXPECT_EQ(common_scored_tokens(1000, {{4, 4}, {8, 8}, {16, 16}}), 992);
  // Sliding with stride 3 at L = 8 covers 8 + 3k; 16 nonoverlapping covers 16k.
  const int64_t m = common_scored_tokens(1000, {{8, 3}, {16, 16}});
  EXPECT_TRUE(covers_exactly({8, 3}, m));
  EXPECT_TRUE(covers_exactly({16, 16}, m));
  EXPECT_GT(m, 999 - 48);
  EXPECT_EQ(common_scored_tokens(100, {{8, 1}}), 99);   // stride 1 scores everything
  EXPECT_EQ(common_scored_tokens(16, {{16, 16}}), 0);   // 16 tokens: only 15 scorable
  EXPECT_EQ(common_scored_tokens(17, {{16, 16}}), 16);
}

TEST(EvalPlan, RefusesLengthAndStrideOutOfRange) {
  EXPECT_THROW(check_eval_spec({0, 0}), std::invalid_argument);
  EXPECT_THROW(check_eval_spec({8, 9}), std::invalid_argument);
  EXPECT_THROW(check_eval_spec({8, 0}), std::invalid_argument);
  EXPECT_NO_THROW(check_eval_spec({8, 1}));
  EXPECT_THROW(plan_windows({8, 8}, 12), std::invalid_argument);  // 12 is not whole windows of 8
}

}  // namespace
}  // namespace alibi
