#include "cpu/matmul.h"

#include <gtest/gtest.h>

#include <ostream>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

using test::expect_grad_near;
using test::minus;
using test::numeric_grad;
using test::random_normal;

struct MatmulCase {
  int64_t N, C, OC;
  friend std::ostream& operator<<(std::ostream& os, const MatmulCase& c) {
    return os << "N" << c.N << " C" << c.C << " OC" << c.OC;
  }
};

class MatmulGrad : public ::testing::TestWithParam<MatmulCase> {};

// Loss = sum(out * dout) so that dout is the upstream gradient.
TEST_P(MatmulGrad, BackwardMatchesFiniteDifferences) {
  const auto [N, C, OC] = GetParam();
  auto inp = random_normal(N * C, 1), weight = random_normal(OC * C, 2), bias = random_normal(OC, 3);
  const auto dout = random_normal(N * OC, 4);
  std::vector<double> out(N * OC);
  auto loss = [&, N = N, C = C, OC = OC] {  // bindings captured as copies (clang before 16)
    matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
    return test::dot(out, dout);
  };
  // dinp is overwritten (prefilled with garbage); dweight, dbias accumulate onto a prefill.
  std::vector<double> dinp(N * C, 123.0);
  const auto dw0 = random_normal(OC * C, 5), db0 = random_normal(OC, 6);
  auto dweight = dw0, dbias = db0;
  matmul_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(), weight.data(),
                  N, C, OC);
  expect_grad_near(dinp, numeric_grad(inp, loss), "dinp");
  expect_grad_near(minus(dweight, dw0), numeric_grad(weight, loss), "dweight");
  expect_grad_near(minus(dbias, db0), numeric_grad(bias, loss), "dbias");
}

// Small odd sizes (edge tiles only) and sizes with full 4x32 tiles plus edges.
INSTANTIATE_TEST_SUITE_P(Sizes, MatmulGrad,
                         ::testing::Values(MatmulCase{5, 7, 9}, MatmulCase{1, 1, 1},
                                           MatmulCase{9, 13, 70}, MatmulCase{37, 6, 33}));

TEST(Matmul, ForwardMatchesDirectSumAndOptionalBias) {
  const int64_t N = 11, C = 19, OC = 67;
  const auto inp = random_normal(N * C, 7), weight = random_normal(OC * C, 8);
  const auto bias = random_normal(OC, 9);
  std::vector<double> out(N * OC), out_nobias(N * OC);
  matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
  matmul_forward(out_nobias.data(), inp.data(), weight.data(), static_cast<const double*>(nullptr),
                 N, C, OC);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      double ref = 0;
      for (int64_t c = 0; c < C; ++c) ref += inp[n * C + c] * weight[o * C + c];
      EXPECT_NEAR(out_nobias[n * OC + o], ref, 1e-12);
      EXPECT_NEAR(out[n * OC + o], ref + bias[o], 1e-12);
    }
}

// Every reduction here is longer than one k-block of the kernel (256), so the
// running sums are parked and resumed between blocks.
TEST(Matmul, LongReductionsMatchDirectSums) {
  const int64_t N = 300, C = 270, OC = 260;
  const auto inp = random_normal(N * C, 13), weight = random_normal(OC * C, 14);
  const auto bias = random_normal(OC, 15), dout = random_normal(N * OC, 16);
  const auto dw0 = random_normal(OC * C, 17);
  std::vector<double> out(N * OC), dinp(N * C);
  auto dweight = dw0;
  matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), N, C, OC);
  matmul_backward<double>(dinp.data(), dweight.data(), nullptr, dout.data(), inp.data(),
                          weight.data(), N, C, OC);
  // Sums of ~300 unit normal products: 1e-11 absolute is ~1e4 ulps of slack.
  for (int64_t n = 0; n < N; n += 7)
    for (int64_t o = 0; o < OC; o += 5) {
      double ref = bias[o];
      for (int64_t c = 0; c < C; ++c) ref += inp[n * C + c] * weight[o * C + c];
      ASSERT_NEAR(out[n * OC + o], ref, 1e-11) << n << "," << o;
    }
  for (int64_t n = 0; n < N; n += 7)
    for (int64_t c = 0; c < C; c += 5) {
      double ref = 0;
      for (int64_t o = 0; o < OC; ++o) ref += dout[n * OC + o] * weight[o * C + c];
      ASSERT_NEAR(dinp[n * C + c], ref, 1e-11) << n << "," << c;
    }
  for (int64_t o = 0; o < OC; o += 7)
    for (int64_t c = 0; c < C; c += 5) {
      double ref = 0;
      for (int64_t n = 0; n < N; ++n) ref += dout[n * OC + o] * inp[n * C + c];
      ASSERT_NEAR(dweight[o * C + c] - dw0[o * C + c], ref, 1e-11) << o << "," << c;
    }
}

TEST(Matmul, BackwardWithoutDinpOrDbias) {
  const int64_t N = 6, C = 5, OC = 4;
  const auto inp = random_normal(N * C, 10), weight = random_normal(OC * C, 11);
  const auto dout = random_normal(N * OC, 12);
  std::vector<double> dw_full(OC * C), dw_only(OC * C), dinp(N * C), dbias(OC);
  matmul_backward(dinp.data(), dw_full.data(), dbias.data(), dout.data(), inp.data(), weight.data(),
                  N, C, OC);
  matmul_backward<double>(nullptr, dw_only.data(), nullptr, dout.data(), inp.data(), weight.data(),
                          N, C, OC);
  EXPECT_EQ(dw_full, dw_only);
}

TEST(Matmul, BackwardMayWriteDinpOverInp) {
  const int64_t N = 6, C = 5, OC = 4;
  const auto inp = random_normal(N * C, 13), weight = random_normal(OC * C, 14);
  const auto dout = random_normal(N * OC, 15);
  std::vector<double> dw_apart(OC * C), dw_over(OC * C), dinp(N * C), db_apart(OC), db_over(OC);
  matmul_backward(dinp.data(), dw_apart.data(), db_apart.data(), dout.data(), inp.data(), weight.data(), N, C, OC);
  std::vector<double> shared = inp;  // inp, then dinp
  matmul_backward(shared.data(), dw_over.data(), db_over.data(), dout.data(), shared.data(), weight.data(), N, C, OC);
  EXPECT_EQ(shared, dinp);
  EXPECT_EQ(dw_over, dw_apart);
  EXPECT_EQ(db_over, db_apart);
}

}  // namespace
}  // namespace alibi::cpu
