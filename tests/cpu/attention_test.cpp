#include "cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include "cpu/grad_check.h"
#include "support/attention_reference.h"

namespace alibi::cpu {
namespace {

using test::expect_grad_near;
using test::numeric_grad;
using test::random_normal;

struct Shape {
  int64_t B, T, H, D;
  int64_t qkv_size() const { return B * T * 3 * H * D; }
  int64_t out_size() const { return B * T * H * D; }
};

// Independent reference: the fp64 definition, row by row.
void direct_attention(std::vector<double>& out, std::vector<double>& lse,
                      const std::vector<double>& qkv, const std::vector<double>& slopes,
                      const Shape& s) {
  out.assign(s.out_size(), 0.0);
  lse.assign(s.B * s.H * s.T, 0.0);
  std::vector<double> row;
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.T; ++i) {
        alibi::testing::direct_attention_row(qkv.data(), s.T, s.H, s.D, b, h, i, slopes[h], row,
                                             lse[(b * s.H + h) * s.T + i]);
        std::copy(row.begin(), row.end(), out.begin() + ((b * s.T + i) * s.H + h) * s.D);
      }
}

void expect_all_near(const std::vector<double>& a, const std::vector<double>& b, double tol,
                     const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << what << "[" << i << "]";
}

TEST(Attention, ForwardMatchesDirectTxTReference) {
  for (const Shape s : {Shape{2, 7, 3, 5}, Shape{1, 33, 4, 8}}) {
    const auto qkv = random_normal(s.qkv_size(), 21);
    const std::vector<double> slopes = {0.5, 0.125, 0.0, 2.0};
    std::vector<double> out(s.out_size()), lse(s.B * s.H * s.T), ref_out, ref_lse;
    attention_forward(out.data(), lse.data(), qkv.data(), slopes.data(), s.B, s.T, s.H, s.D);
    direct_attention(ref_out, ref_lse, qkv, slopes, s);
    expect_all_near(out, ref_out, 1e-12, "out");
    expect_all_near(lse, ref_lse, 1e-12, "lse");
  }
}

TEST(Attention, SlopeZeroIsPlainCausalAttention) {
  // With slope 0 the output is the causal softmax average of V; in
  // particular the first row attends only to itself: out_0 = v_0.
  const Shape s{1, 6, 2, 4};
  const auto qkv = random_normal(s.qkv_size(), 22);
  const std::vector<double> zero = {0.0, 0.0};
  std::vector<double> out(s.out_size()), ref_out, ref_lse;
  attention_forward(out.data(), static_cast<double*>(nullptr), qkv.data(), zero.data(), s.B, s.T,
                    s.H, s.D);
  direct_attention(ref_out, ref_lse, qkv, zero, s);
  expect_all_near(out, ref_out, 1e-12, "out");
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t d = 0; d < s.D; ++d)
      EXPECT_NEAR(out[h * s.D + d], qkv[(2 * s.H + h) * s.D + d], 1e-15);
}

TEST(Attention, LargeSlopeAttendsToTheCurrentToken) {
  // A huge distance penalty leaves only j = i: out_i = v_i.
  const Shape s{1, 5, 1, 3};
  const auto qkv = random_normal(s.qkv_size(), 23);
  const std::vector<double> steep = {1000.0};
  std::vector<double> out(s.out_size());
  attention_forward(out.data(), static_cast<double*>(nullptr), qkv.data(), steep.data(), s.B, s.T,
                    s.H, s.D);
  for (int64_t i = 0; i < s.T; ++i)
    for (int64_t d = 0; d < s.D; ++d) EXPECT_NEAR(out[i * s.D + d], qkv[(i * 3 + 2) * s.D + d], 1e-12);
}

TEST(Attention, PrefixOfLongerSequenceIsUnchanged) {
  // Causality: the first T rows of a run at 2T equal a run at T.
  const int64_t B = 2, T = 9, H = 3, D = 4;
  const Shape longer{B, 2 * T, H, D};
  const auto qkv_long = random_normal(longer.qkv_size(), 24);
  std::vector<double> qkv_short;
  for (int64_t b = 0; b < B; ++b)
    qkv_short.insert(qkv_short.end(), qkv_long.begin() + b * 2 * T * 3 * H * D,
                     qkv_long.begin() + (b * 2 * T + T) * 3 * H * D);
  const std::vector<double> slopes = {0.25, 0.0625, 0.015625};
  std::vector<double> out_long(longer.out_size()), lse_long(B * H * 2 * T);
  std::vector<double> out_short(B * T * H * D), lse_short(B * H * T);
  attention_forward(out_long.data(), lse_long.data(), qkv_long.data(), slopes.data(), B, 2 * T, H, D);
  attention_forward(out_short.data(), lse_short.data(), qkv_short.data(), slopes.data(), B, T, H, D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < H * D; ++c)
        EXPECT_EQ(out_short[(b * T + t) * H * D + c], out_long[(b * 2 * T + t) * H * D + c]);
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t t = 0; t < T; ++t) EXPECT_EQ(lse_short[bh * T + t], lse_long[bh * 2 * T + t]);
}

struct GradCase {
  Shape shape;
  std::vector<double> slopes;
  friend std::ostream& operator<<(std::ostream& os, const GradCase& c) {
    os << "B" << c.shape.B << " T" << c.shape.T << " H" << c.shape.H << " D" << c.shape.D
       << " slopes";
    for (double s : c.slopes) os << " " << s;
    return os;
  }
};

class AttentionGrad : public ::testing::TestWithParam<GradCase> {};

// Loss = sum(out * dout); dq, dk, dv come back interleaved in dqkv.
TEST_P(AttentionGrad, BackwardMatchesFiniteDifferences) {
  const Shape s = GetParam().shape;
  const std::vector<double>& slopes = GetParam().slopes;
  auto qkv = random_normal(s.qkv_size(), 25);
  const auto dout = random_normal(s.out_size(), 26);
  std::vector<double> out(s.out_size()), lse(s.B * s.H * s.T);
  auto loss = [&] {
    attention_forward(out.data(), lse.data(), qkv.data(), slopes.data(), s.B, s.T, s.H, s.D);
    return test::dot(out, dout);
  };
  loss();
  std::vector<double> dqkv(s.qkv_size(), 77.0);  // overwritten, not accumulated
  attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), slopes.data(),
                     s.B, s.T, s.H, s.D);
  const auto numeric = numeric_grad(qkv, loss);
  // Split by q/k/v so a failure says which one.
  const char* names[] = {"dq", "dk", "dv"};
  for (int which = 0; which < 3; ++which) {
    std::vector<double> a, n;
    for (int64_t bt = 0; bt < s.B * s.T; ++bt)
      for (int64_t e = 0; e < s.H * s.D; ++e) {
        const int64_t idx = (bt * 3 + which) * s.H * s.D + e;
        a.push_back(dqkv[idx]);
        n.push_back(numeric[idx]);
      }
    // With a single key the softmax is constant: q and k get no gradient.
    if (s.T == 1 && which < 2)
      test::expect_zero_grad(a, n, names[which]);
    else
      expect_grad_near(a, n, names[which]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionGrad,
    ::testing::Values(GradCase{{2, 7, 3, 5}, {0.5, 0.25, 0.125}},    // ALiBi, odd sizes
                      GradCase{{2, 7, 3, 5}, {0.0, 0.0, 0.0}},       // plain causal
                      GradCase{{1, 1, 1, 2}, {0.5}},                 // a single token
                      GradCase{{2, 24, 2, 8}, {0.0625, 0.00390625}}));  // larger

}  // namespace
}  // namespace alibi::cpu
