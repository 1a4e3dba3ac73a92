#include "cpu/position.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

using test::random_normal;

TEST(LearnedPosition, BackwardMatchesFiniteDifferences) {
  const int64_t B = 3, T = 5, C = 6, T_max = 8;
  auto wpe = random_normal(T_max * C, 41);
  const auto x0 = random_normal(B * T * C, 42), dout = random_normal(B * T * C, 43);
  auto loss = [&] {
    auto x = x0;
    learned_position_forward(x.data(), wpe.data(), B, T, C);
    return test::dot(x, dout);
  };
  const auto dwpe0 = random_normal(T_max * C, 44);
  auto dwpe = dwpe0;
  learned_position_backward(dwpe.data(), dout.data(), B, T, C);
  const auto numeric = test::numeric_grad(wpe, loss);
  // Rows beyond T get no gradient; compare the used rows against FD.
  const auto used = [&](const std::vector<double>& g) {
    return std::vector<double>(g.begin(), g.begin() + T * C);
  };
  test::expect_grad_near(used(test::minus(dwpe, dwpe0)), used(numeric), "dwpe");
  for (int64_t i = T * C; i < T_max * C; ++i) EXPECT_EQ(dwpe[i], dwpe0[i]);
}

TEST(LearnedPosition, ForwardAddsRowT) {
  const int64_t B = 2, T = 3, C = 2;
  std::vector<double> x(B * T * C, 1.0);
  const std::vector<double> wpe = {0, 1, 2, 3, 4, 5, 6, 7};  // 4 rows
  learned_position_forward(x.data(), wpe.data(), B, T, C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < T * C; ++i) EXPECT_EQ(x[b * T * C + i], 1.0 + wpe[i]);
}

TEST(Sinusoidal, MatchesTheFormulaAtSomePositions) {
  const int64_t B = 2, T = 50, C = 10;
  const auto x0 = random_normal(B * T * C, 45);
  auto x = x0;
  sinusoidal_position_forward(x.data(), B, T, C);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t : {0, 1, 7, 49})
      for (int64_t i = 0; i < C / 2; ++i) {
        const double angle = t / std::pow(10000.0, 2.0 * i / C);
        const int64_t row = (b * T + t) * C;
        EXPECT_NEAR(x[row + 2 * i] - x0[row + 2 * i], std::sin(angle), 1e-14);
        EXPECT_NEAR(x[row + 2 * i + 1] - x0[row + 2 * i + 1], std::cos(angle), 1e-14);
      }
  // Position 0: sin 0 = 0 on even channels, cos 0 = 1 on odd ones.
  EXPECT_EQ(x[0] - x0[0], 0.0);
  EXPECT_EQ(x[1] - x0[1], 1.0);
}

struct RotaryShape {
  int64_t B = 2, T = 6, H = 3, D = 8;
  int64_t size() const { return B * T * 3 * H * D; }
  int64_t index(int64_t b, int64_t t, int64_t which, int64_t h, int64_t d) const {
    return (((b * T + t) * 3 + which) * H + h) * D + d;
  }
};

TEST(Rotary, MatchesTheFormulaAndLeavesVAlone) {
  const RotaryShape s;
  const double base = 10000.0;
  const auto x0 = random_normal(s.size(), 46);
  auto x = x0;
  rotary_forward(x.data(), s.B, s.T, s.H, s.D, base);
  const int64_t half = s.D / 2;
  for (int64_t t : {0, 1, 5})
    for (int64_t which : {0, 1})
      for (int64_t d = 0; d < half; ++d) {
        const double angle = t * std::pow(base, -2.0 * d / s.D);
        const double x1 = x0[s.index(1, t, which, 2, d)], x2 = x0[s.index(1, t, which, 2, d + half)];
        EXPECT_NEAR(x[s.index(1, t, which, 2, d)], x1 * std::cos(angle) - x2 * std::sin(angle), 1e-14);
        EXPECT_NEAR(x[s.index(1, t, which, 2, d + half)], x2 * std::cos(angle) + x1 * std::sin(angle),
                    1e-14);
      }
  for (int64_t t = 0; t < s.T; ++t)
    for (int64_t d = 0; d < s.D; ++d) EXPECT_EQ(x[s.index(0, t, 2, 1, d)], x0[s.index(0, t, 2, 1, d)]);
}

TEST(Rotary, PreservesNormsOfEveryPair) {
  const RotaryShape s;
  const auto x0 = random_normal(s.size(), 47);
  auto x = x0;
  rotary_forward(x.data(), s.B, s.T, s.H, s.D, 500.0);
  const int64_t half = s.D / 2;
  for (int64_t i = 0; i < s.size(); i += s.D)
    for (int64_t d = 0; d < half; ++d) {
      const double before = std::hypot(x0[i + d], x0[i + d + half]);
      EXPECT_NEAR(std::hypot(x[i + d], x[i + d + half]), before, 1e-13);
    }
}

TEST(Rotary, BackwardIsTheVjpOfForward) {
  // Loss = sum(w * rotary(x)) with random w; backward(w) must be dLoss/dx for q, k and v.
  const RotaryShape s;
  const double base = 10000.0;
  auto x = random_normal(s.size(), 48);
  const auto w = random_normal(s.size(), 49);
  auto loss = [&] {
    auto y = x;
    rotary_forward(y.data(), s.B, s.T, s.H, s.D, base);
    return test::dot(y, w);
  };
  auto grad = w;
  rotary_backward(grad.data(), s.B, s.T, s.H, s.D, base);
  test::expect_grad_near(grad, test::numeric_grad(x, loss), "dqkv");
}

TEST(Rotary, RejectsOddHeadDim) {
  std::vector<double> x(3 * 3);
  EXPECT_THROW(rotary_forward(x.data(), 1, 1, 1, 3, 10000.0), std::invalid_argument);
}

}  // namespace
}  // namespace alibi::cpu
