#include "cpu/gelu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

TEST(Gelu, ForwardMatchesTanhFormula) {
  const std::vector<double> x = {-3.0, -1.0, -0.1, 0.0, 0.5, 2.0};
  std::vector<double> y(x.size());
  gelu_forward(y.data(), x.data(), static_cast<int64_t>(x.size()));
  const double pi = 3.14159265358979323846;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = 0.5 * x[i] * (1 + std::tanh(std::sqrt(2 / pi) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
    EXPECT_NEAR(y[i], ref, 1e-15);
  }
  EXPECT_EQ(y[3], 0.0);
}

TEST(Gelu, SaturatesWithoutNaNsInFloat) {
  // exp overflows for large negative inputs; the limits must still come out.
  const std::vector<float> x = {-200.f, -30.f, 30.f, 200.f};
  std::vector<float> y(x.size()), dy(x.size()), ones(x.size(), 1.f);
  gelu_forward(y.data(), x.data(), 4);
  gelu_backward(dy.data(), x.data(), ones.data(), 4);
  const std::vector<float> expected_y = {0.f, 0.f, 30.f, 200.f}, expected_dy = {0.f, 0.f, 1.f, 1.f};
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(y[i], expected_y[i]) << x[i];
    EXPECT_EQ(dy[i], expected_dy[i]) << x[i];
  }
}

TEST(Gelu, BackwardMatchesFiniteDifferences) {
  const int64_t n = 57;
  auto x = test::random_normal(n, 61, 2.0);
  const auto dout = test::random_normal(n, 62);
  std::vector<double> y(n);
  auto loss = [&] {
    gelu_forward(y.data(), x.data(), n);
    return test::dot(y, dout);
  };
  std::vector<double> dinp(n, 9.0);  // overwritten
  gelu_backward(dinp.data(), x.data(), dout.data(), n);
  test::expect_grad_near(dinp, test::numeric_grad(x, loss), "dinp");
}

}  // namespace
}  // namespace alibi::cpu
