#include "cpu/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

TEST(CrossEntropy, ForwardMatchesDirectLogSoftmax) {
  const int64_t N = 3, V = 6;
  auto logits = test::random_normal(N * V, 81, 3.0);
  logits[V + 2] = 700.0;  // exp would overflow without the max subtraction
  const std::vector<int32_t> targets = {5, 2, 0};
  const auto before = logits;
  std::vector<double> losses(N);
  cross_entropy(losses.data(), logits.data(), targets.data(), N, V, false, 1.0);
  EXPECT_EQ(logits, before);  // untouched without compute_grad
  for (int64_t n = 0; n < N; ++n) {
    // log softmax written out naively, but shifted by a constant that is not the max.
    const double shift = before[n * V];
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(before[n * V + v] - shift);
    const double ref = -(before[n * V + targets[n]] - shift - std::log(z));
    EXPECT_NEAR(losses[n], ref, 1e-12) << n;
  }
  EXPECT_NEAR(losses[1], 0.0, 1e-12);  // the dominant logit is the target
}

TEST(CrossEntropy, GradientMatchesFiniteDifferencesAndSkipsNegativeTargets) {
  const int64_t N = 4, V = 9;
  const double scale = 0.37;
  auto logits = test::random_normal(N * V, 82, 2.0);
  const std::vector<int32_t> targets = {3, -1, 0, 8};
  std::vector<double> losses(N);
  auto loss = [&] {
    auto x = logits;
    cross_entropy(losses.data(), x.data(), targets.data(), N, V, false, 1.0);
    double sum = 0;
    for (double l : losses) sum += scale * l;
    return sum;
  };
  const auto numeric = test::numeric_grad(logits, loss);
  auto grad = logits;
  std::vector<double> losses_with_grad(N);
  cross_entropy(losses_with_grad.data(), grad.data(), targets.data(), N, V, true, scale);
  test::expect_grad_near(grad, numeric, "dlogits");
  loss();
  EXPECT_EQ(losses_with_grad, losses);
  // The unscored row: zero loss and exactly zero gradient.
  EXPECT_EQ(losses[1], 0.0);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(grad[V + v], 0.0);
  // Each scored row's gradient sums to zero (softmax minus one-hot).
  double row_sum = 0;
  for (int64_t v = 0; v < V; ++v) row_sum += grad[v];
  EXPECT_NEAR(row_sum, 0.0, 1e-15);
}

TEST(CrossEntropy, RejectsTargetsBeyondTheVocabulary) {
  std::vector<double> logits(4), losses(1);
  const int32_t target = 4;
  EXPECT_THROW(cross_entropy(losses.data(), logits.data(), &target, 1, 4, true, 1.0),
               std::out_of_range);
}

}  // namespace
}  // namespace alibi::cpu
