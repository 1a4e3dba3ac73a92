// Sampling against hand-computed distributions: the temperature's softmax,
// top-k and top-p keep exactly the tokens they should, and draws follow the
// kept probabilities.
#include "generate/sampler.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"

namespace alibi {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};

TEST(Sampler, TemperatureIsASoftmaxOfScaledLogits) {
  const auto p = sampling_distribution(kLogits.data(), 5, {2.0, 0, 1.0});
  double z = 0;
  for (float l : kLogits) z += std::exp(l / 2.0);
  for (size_t i = 0; i < kLogits.size(); ++i) EXPECT_NEAR(p[i], std::exp(kLogits[i] / 2.0) / z, 1e-12);
}

TEST(Sampler, TopKKeepsTheKMostLikelyTiesToTheLowerId) {
  const auto p = sampling_distribution(kLogits.data(), 5, {1.0, 1, 1.0});
  EXPECT_EQ(p, (std::vector<double>{0, 1, 0, 0, 0}));  // tokens 1 and 3 tie: 1 wins
  const auto p3 = sampling_distribution(kLogits.data(), 5, {1.0, 3, 1.0});
  const double z = 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(p3[1], std::exp(3.0) / z, 1e-12);
  EXPECT_NEAR(p3[2], std::exp(2.0) / z, 1e-12);
  EXPECT_EQ(p3[0], 0.0);
  EXPECT_EQ(p3[4], 0.0);
}

TEST(Sampler, TopPKeepsTheFewestTokensReachingTheMass) {
  double z = 0;
  for (float l : kLogits) z += std::exp(double(l));
  const double top_two = 2 * std::exp(3.0) / z;  // about 0.78
  // Just below the top two's mass: the two suffice; just above: a third joins.
  const auto two = sampling_distribution(kLogits.data(), 5, {1.0, 0, top_two - 1e-9});
  EXPECT_GT(two[1], 0);
  EXPECT_GT(two[3], 0);
  EXPECT_EQ(two[2], 0.0);
  const auto three = sampling_distribution(kLogits.data(), 5, {1.0, 0, top_two + 1e-9});
  EXPECT_GT(three[2], 0);
  EXPECT_EQ(three[0], 0.0);
  // A tiny p still keeps the most likely token.
  const auto one = sampling_distribution(kLogits.data(), 5, {1.0, 0, 1e-6});
  EXPECT_EQ(one[1], 1.0);
}

TEST(Sampler, GreedyAndDrawsFollowTheKeptDistribution) {
  EXPECT_EQ(sample_token(kLogits.data(), 5, {0.0, 0, 1.0}, 0.99), 1);
  const SamplingSettings s{1.0, 3, 1.0};
  const auto p = sampling_distribution(kLogits.data(), 5, s);
  std::vector<int> counts(5, 0);
  Rng rng(3);
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) ++counts[sample_token(kLogits.data(), 5, s, rng.uniform())];
  for (int id = 0; id < 5; ++id) EXPECT_NEAR(counts[id] / double(draws), p[id], 0.005) << "token " << id;
  EXPECT_EQ(counts[0] + counts[4], 0);
}

}  // namespace
}  // namespace alibi
