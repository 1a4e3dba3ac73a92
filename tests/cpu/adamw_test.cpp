#include "cpu/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

TEST(AdamW, TwoStepsMatchAHandComputation) {
  AdamWHyper hp;
  hp.lr = 0.1;
  hp.beta1 = 0.9;
  hp.beta2 = 0.99;
  hp.eps = 1e-8;
  hp.weight_decay = 0.5;
  hp.grad_scale = 0.5;
  std::vector<double> param = {1.0, -2.0, 0.0}, m(3), v(3);
  const std::vector<double> grad1 = {0.2, -0.4, 1.0}, grad2 = {-0.6, 0.0, 1.0};

  hp.step = 1;
  adamw_update(param.data(), grad1.data(), m.data(), v.data(), 3, hp);
  // Step 1, element 0: g = 0.1, m = 0.01, v = 1e-4, m_hat = 0.1, v_hat = 0.01,
  // update = 0.1 / (0.1 + 1e-8) + 0.5 * 1.0; p = 1 - 0.1 * update.
  EXPECT_NEAR(param[0], 1.0 - 0.1 * (0.1 / (0.1 + 1e-8) + 0.5), 1e-15);
  EXPECT_NEAR(m[0], 0.01, 1e-17);
  EXPECT_NEAR(v[0], 1e-4, 1e-19);
  // Element 2 starts at 0, so weight decay does nothing: p = -0.1 * 0.5/(0.5+eps).
  EXPECT_NEAR(param[2], -0.1 * (0.5 / (0.5 + 1e-8)), 1e-15);

  const double p0_after_1 = param[0];
  hp.step = 2;
  adamw_update(param.data(), grad2.data(), m.data(), v.data(), 3, hp);
  // Step 2, element 0: g = -0.3, m = 0.9*0.01 - 0.03 = -0.021,
  // v = 0.99e-4 + 0.01*0.09 = 9.99e-4, bias corrections 1-0.81 = 0.19, 1-0.9801 = 0.0199.
  const double m_hat = -0.021 / 0.19, v_hat = 9.99e-4 / 0.0199;
  EXPECT_NEAR(m[0], -0.021, 1e-16);
  EXPECT_NEAR(v[0], 9.99e-4, 1e-18);
  EXPECT_NEAR(param[0], p0_after_1 - 0.1 * (m_hat / (std::sqrt(v_hat) + 1e-8) + 0.5 * p0_after_1),
              1e-14);
  // Element 1 had g = -0.2 then 0: m = -0.018, v = 0.99 * 0.0004.
  const double p1 = -2.0 - 0.1 * (-0.2 / (0.2 + 1e-8) + 0.5 * -2.0);
  EXPECT_NEAR(param[1], p1 - 0.1 * ((-0.018 / 0.19) / (std::sqrt(0.000396 / 0.0199) + 1e-8) + 0.5 * p1),
              1e-14);
}

TEST(SumOfSquares, MatchesSerialSumAcrossChunks) {
  const int64_t n = 40000;  // several chunks plus a partial one
  const auto x = test::random_normal(n, 91);
  const std::vector<float> xf = test::to_float(x);
  double ref = 0, ref_f = 0;
  for (int64_t i = 0; i < n; ++i) {
    ref += x[i] * x[i];
    ref_f += static_cast<double>(xf[i]) * xf[i];
  }
  EXPECT_NEAR(sum_of_squares(x.data(), n), ref, 1e-10 * ref);
  EXPECT_NEAR(sum_of_squares(xf.data(), n), ref_f, 1e-10 * ref_f);
  EXPECT_EQ(sum_of_squares(x.data(), 0), 0.0);
}

}  // namespace
}  // namespace alibi::cpu
