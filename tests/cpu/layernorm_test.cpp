#include "cpu/layernorm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

using test::random_normal;

TEST(LayerNorm, ForwardMatchesDirectFormula) {
  const int64_t N = 3, C = 7;
  const double eps = 1e-5;
  const auto inp = random_normal(N * C, 51, 3.0), weight = random_normal(C, 52),
             bias = random_normal(C, 53);
  std::vector<double> out(N * C), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N,
                    C, eps);
  for (int64_t n = 0; n < N; ++n) {
    double m = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) m += inp[n * C + c] / C;
    for (int64_t c = 0; c < C; ++c) var += (inp[n * C + c] - m) * (inp[n * C + c] - m) / C;
    EXPECT_NEAR(mean[n], m, 1e-14);
    EXPECT_NEAR(rstd[n], 1 / std::sqrt(var + eps), 1e-12);
    for (int64_t c = 0; c < C; ++c)
      EXPECT_NEAR(out[n * C + c], (inp[n * C + c] - m) / std::sqrt(var + eps) * weight[c] + bias[c],
                  1e-12);
  }
}

class LayerNormGrad : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(LayerNormGrad, BackwardMatchesFiniteDifferences) {
  const auto [N, C] = GetParam();
  const double eps = 1e-5;
  auto inp = random_normal(N * C, 54, 2.0), weight = random_normal(C, 55), bias = random_normal(C, 56);
  const auto dout = random_normal(N * C, 57);
  std::vector<double> out(N * C), mean(N), rstd(N);
  auto loss = [&, N = N, C = C] {  // bindings captured as copies (clang before 16)
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(),
                      N, C, eps);
    return test::dot(out, dout);
  };
  loss();
  std::vector<double> dinp(N * C, -5.0);  // overwritten
  const auto dw0 = random_normal(C, 58), db0 = random_normal(C, 59);  // accumulated onto
  auto dweight = dw0, dbias = db0;
  layernorm_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                     weight.data(), mean.data(), rstd.data(), N, C);
  test::expect_grad_near(dinp, test::numeric_grad(inp, loss), "dinp");
  test::expect_grad_near(test::minus(dweight, dw0), test::numeric_grad(weight, loss), "dweight");
  test::expect_grad_near(test::minus(dbias, db0), test::numeric_grad(bias, loss), "dbias");

  // add_to_dinp: the same gradient lands on top of what dinp held.
  const auto dinp0 = random_normal(N * C, 60);
  auto accumulated = dinp0;
  layernorm_backward(accumulated.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                     weight.data(), mean.data(), rstd.data(), N, C, /*add_to_dinp=*/true);
  test::expect_grad_near(test::minus(accumulated, dinp0), test::numeric_grad(inp, loss), "dinp (+=)");
}

// C = 70 spans several channel blocks of the parameter-gradient loop.
INSTANTIATE_TEST_SUITE_P(Sizes, LayerNormGrad,
                         ::testing::Values(std::pair<int64_t, int64_t>{4, 10},
                                           std::pair<int64_t, int64_t>{5, 70}));

}  // namespace
}  // namespace alibi::cpu
