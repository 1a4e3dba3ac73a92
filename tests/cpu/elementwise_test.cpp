#include "cpu/elementwise.h"

#include <gtest/gtest.h>

#include "core/random.h"
#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

TEST(Add, SumsAndMayAlias) {
  std::vector<double> a = {1, 2, 3}, b = {10, 20, 30}, out(3);
  add(out.data(), a.data(), b.data(), 3);
  EXPECT_EQ(out, (std::vector<double>{11, 22, 33}));
  add(a.data(), a.data(), b.data(), 3);  // in place
  EXPECT_EQ(a, out);
}

TEST(Dropout, KeepsExactlyTheElementsWhoseUniformIsAtLeastP) {
  const int64_t n = 4000;
  const float p = 0.3f;
  const uint64_t seed = 1234;
  const auto x0 = test::random_normal(n, 71);
  auto x = x0;
  dropout_forward(x.data(), n, p, seed);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = uniform_at(seed, static_cast<uint64_t>(i)) >= p;
    kept += keep;
    EXPECT_EQ(x[i], keep ? x0[i] * (1.0 / (1.0 - static_cast<double>(p))) : 0.0) << i;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 1 - p, 0.03);  // the mask is not degenerate
}

TEST(Dropout, BackwardMatchesFiniteDifferencesAndTheForwardMask) {
  const int64_t n = 300;
  const float p = 0.25f;
  const uint64_t seed = 99;
  auto x = test::random_normal(n, 72);
  const auto dout = test::random_normal(n, 73);
  auto loss = [&] {
    auto y = x;
    dropout_forward(y.data(), n, p, seed);
    return test::dot(y, dout);
  };
  auto grad = dout;
  dropout_backward(grad.data(), n, p, seed);
  test::expect_grad_near(grad, test::numeric_grad(x, loss), "dx");
  // Same mask as forward: dropping ones gives mask * scale, and grad = dout * that.
  std::vector<double> mask(n, 1.0);
  dropout_forward(mask.data(), n, p, seed);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(grad[i], dout[i] * mask[i]);
}

TEST(Dropout, EdgeProbabilities) {
  std::vector<double> x = {1, -2, 3};
  dropout_forward(x.data(), 3, 0.f, 5);
  EXPECT_EQ(x, (std::vector<double>{1, -2, 3}));
  dropout_forward(x.data(), 3, 1.f, 5);
  EXPECT_EQ(x, (std::vector<double>{0, 0, 0}));
}

}  // namespace
}  // namespace alibi::cpu
