// kernels/alibi_score.cuh, the score arithmetic of every attention kernel,
// compiled for the host and held to the paper's definition in fp64.
#include "kernels/alibi_score.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "model/alibi_slopes.h"

namespace alibi::cuda {
namespace {

constexpr double kLog2eExact = 1.4426950408889634073599246810019;

// The paper's score in natural units: q.k / sqrt(D) - m (i - j), rel = j - i.
double paper_score(double dot, double slope, int head_dim, int rel) {
  return dot / std::sqrt(static_cast<double>(head_dim)) - slope * static_cast<double>(-rel);
}

TEST(AlibiScore, Log2ScoresAreThePapersScoresTimesLog2e) {
  std::mt19937 rng(7);
  std::normal_distribution<double> dots(0.0, 30.0);
  std::uniform_int_distribution<int> rels(-70000, 0);
  for (int heads : {1, 6, 12, 20, 25}) {
    const std::vector<float> slopes = alibi_slopes(heads);
    for (int head_dim : {32, 64, 80, 96, 128})
      for (float slope : slopes) {
        const AlibiLog2 a = AlibiLog2::of(slope, head_dim);
        for (int trial = 0; trial < 200; ++trial) {
          const float dot = static_cast<float>(dots(rng));
          const int rel = rels(rng);
          const double want = paper_score(dot, slope, head_dim, rel) * kLog2eExact;
          // Three roundings of fp32 (scale, bias, fma) on terms of this size.
          const double size = (std::fabs(dot) / std::sqrt(double(head_dim)) + slope * double(-rel)) * kLog2eExact;
          EXPECT_NEAR(a.score(dot, a.bias(static_cast<float>(rel))), want, 4e-7 * size + 1e-30)
              << "heads " << heads << " D " << head_dim << " slope " << slope << " dot " << dot << " rel " << rel;
        }
      }
  }
}

TEST(AlibiScore, ExpOfLog2ScoresIsTheSoftmaxWeight) {
  // exp2 of a log2-domain score difference is exp of the natural one: the
  // softmax is unchanged by working in log2 units.
  const std::vector<float> slopes = alibi_slopes(12);
  const AlibiLog2 a = AlibiLog2::of(slopes[3], 64);
  const float dot_i = 5.25f, dot_j = -3.5f;
  const int rel_i = -10, rel_j = -2;
  const double natural = std::exp(paper_score(dot_i, slopes[3], 64, rel_i) - paper_score(dot_j, slopes[3], 64, rel_j));
  const double log2 = std::exp2(double(a.score(dot_i, a.bias(rel_i))) - double(a.score(dot_j, a.bias(rel_j))));
  EXPECT_NEAR(log2 / natural, 1.0, 1e-6);
}

TEST(AlibiScore, BiasWalkedAlongATileEqualsTheDirectBias) {
  const AlibiLog2 a = AlibiLog2::of(alibi_slopes(20)[0], 128);
  for (int rel0 : {-4096, -1000, -64, -7, 0})
    for (int k : {-8, -1, 0, 1, 9, 63}) {
      const double want = double(a.slope) * double(rel0 + k);
      EXPECT_NEAR(a.bias_after(a.bias(static_cast<float>(rel0)), static_cast<float>(k)), want,
                  2e-7 * std::fabs(double(a.slope) * rel0) + 1e-7 * std::fabs(want) + 1e-30);
    }
}

TEST(AlibiScore, CausalMaskLeavesOutOnlyLaterKeys) {
  EXPECT_FALSE(is_future_key(0));
  EXPECT_FALSE(is_future_key(-1));
  EXPECT_TRUE(is_future_key(1));
  EXPECT_TRUE(is_future_key(100000));
}

TEST(AlibiScore, NegligibleDistanceIsTheBoundsFormula) {
  // r = (2 qmax kmax / sqrt(D) + 40 ln 2) / m: past it a key weighs < 2^-40.
  const float slope = alibi_slopes(12)[5];
  const double want = (2.0 * 30.0 / std::sqrt(96.0) + 40.0 * std::log(2.0)) / slope;
  EXPECT_NEAR(negligible_distance(30.f, 96, 40.f, slope), want, 1e-5 * want);
  // A key that far back, with the largest possible score, has weight 2^-40
  // of the diagonal's smallest possible one.
  const double r = negligible_distance(30.f, 96, 40.f, slope);
  const double far = 30.0 / std::sqrt(96.0) - slope * r, diagonal = -30.0 / std::sqrt(96.0);
  EXPECT_NEAR((far - diagonal) / std::log(2.0), -40.0, 1e-3);
}

}  // namespace
}  // namespace alibi::cuda
