// Generation with a KV cache against full recomputation on the CPU: the
// cached logits are those of a full forward over the whole sequence, so
// greedy decoding picks the same tokens; a full cache and a misuse fail
// with a message.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "model/model.h"

namespace alibi {
namespace {

ModelShape generation_shape(PositionMethod position) {
  ModelShape s;
  s.position = position;
  s.n_layer = 2, s.d_model = 12, s.n_head = 3, s.d_ff = 24, s.vocab = 17;
  return s;
}

int64_t argmax(const float* logits, int64_t V) { return std::max_element(logits, logits + V) - logits; }

class KvCacheGeneration : public ::testing::TestWithParam<PositionMethod> {};

TEST_P(KvCacheGeneration, GreedyTokensAndLogitsEqualFullRecomputation) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = generation_shape(GetParam());
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 31));
  const int64_t V = shape.vocab, new_tokens = 12;
  std::vector<std::vector<int32_t>> sequences = {{3, 1, 4, 1, 5, 9, 2}, {6, 5}};
  KvCache cache(*backend, shape, 2, 32);

  // Prompts one row at a time, then both rows a token at a time.
  std::vector<float> logits(2 * V);
  for (int64_t b = 0; b < 2; ++b) {
    const std::vector<float> row =
        model.forward_cached(sequences[b].data(), 1, static_cast<int64_t>(sequences[b].size()), cache, b);
    std::copy(row.begin(), row.end(), logits.begin() + b * V);
  }
  for (int64_t step = 0; step < new_tokens; ++step) {
    std::vector<int32_t> next(2);
    for (int64_t b = 0; b < 2; ++b) {
      // The full forward over the whole sequence so far: the reference.
      const auto& seq = sequences[b];
      const int64_t T = static_cast<int64_t>(seq.size());
      const std::vector<int32_t> no_targets(seq.size(), -1);
      model.forward(seq.data(), no_targets.data(), 1, T, /*training=*/false);
      const std::vector<float> want = model.logits_at(0, T - 1);
      for (int64_t v = 0; v < V; ++v)
        ASSERT_NEAR(logits[b * V + v], want[v], 1e-5 * (1 + std::fabs(want[v]))) << "row " << b << " step " << step;
      next[b] = static_cast<int32_t>(argmax(want.data(), V));
      EXPECT_EQ(argmax(logits.data() + b * V, V), next[b]) << "row " << b << " step " << step;
      sequences[b].push_back(next[b]);
    }
    logits = model.forward_cached(next.data(), 2, 1, cache, 0);
  }
  EXPECT_EQ(cache.length(0), 7 + new_tokens);
  EXPECT_EQ(cache.length(1), 2 + new_tokens);
}

// greedy_cached picks, among the first `limit` tokens, the likeliest of the
// logits forward_cached gives for the same step.
TEST_P(KvCacheGeneration, GreedyCachedPicksTheLikeliestTokenOfTheLogits) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = generation_shape(GetParam());
  Model greedy(*backend, shape), full(*backend, shape);
  const std::vector<float> params = init_parameters(greedy.layout(), shape, 0.3f, 37);
  greedy.load_parameters(params);
  full.load_parameters(params);
  const int64_t V = shape.vocab, limit = V - 4;
  KvCache greedy_cache(*backend, shape, 2, 32), full_cache(*backend, shape, 2, 32);
  const std::vector<int32_t> prompt = {2, 7, 1, 8};
  std::vector<int32_t> next = {greedy.greedy_cached(prompt.data(), 1, 4, greedy_cache, 0, limit)[0],
                               greedy.greedy_cached(prompt.data(), 1, 2, greedy_cache, 1, limit)[0]};
  full.forward_cached(prompt.data(), 1, 4, full_cache, 0);
  full.forward_cached(prompt.data(), 1, 2, full_cache, 1);
  for (int step = 0; step < 6; ++step) {
    const std::vector<float> logits = full.forward_cached(next.data(), 2, 1, full_cache, 0);
    const std::vector<int32_t> mine = greedy.greedy_cached(next.data(), 2, 1, greedy_cache, 0, limit);
    for (int64_t b = 0; b < 2; ++b)
      EXPECT_EQ(mine[b], argmax(logits.data() + b * V, limit)) << "row " << b << " step " << step;
    next = mine;
  }
  EXPECT_THROW(greedy.greedy_cached(next.data(), 2, 1, greedy_cache, 0, V + 1), std::invalid_argument);
}

// Decode steps over changing sets of rows (both, one, the other, both
// again) and after a cut: a step on the rows the last step took finds its
// lengths already on the device (the step advanced them there), any other
// step sends them anew; either way every row's logits are those of a full
// forward over its own sequence.
TEST(KvCachePositions, StepsOverChangingRowsEqualFullRecomputation) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = generation_shape(PositionMethod::Alibi);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 19));
  const int64_t V = shape.vocab;
  std::vector<std::vector<int32_t>> sequences = {{5, 3, 9}, {2, 2, 7, 1, 4}};
  KvCache cache(*backend, shape, 2, 32);
  std::vector<int32_t> next(2);
  for (int64_t b = 0; b < 2; ++b) {
    const auto& seq = sequences[b];
    const std::vector<float> logits = model.forward_cached(seq.data(), 1, static_cast<int64_t>(seq.size()), cache, b);
    next[b] = static_cast<int32_t>(argmax(logits.data(), V));
  }
  struct Rows {
    int64_t first, count;
  };
  const std::vector<Rows> steps = {{0, 2}, {0, 2}, {1, 1}, {1, 1}, {0, 2}, {0, 1}, {0, 2}, {0, 2}};
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i == 6) {  // row 0 loses its last token: the next step continues from the one before
      cache.truncate(0, 1, cache.length(0) - 1);
      next[0] = sequences[0].back();
      sequences[0].pop_back();
    }
    const auto [first, count] = steps[i];
    const std::vector<float> logits = model.forward_cached(next.data() + first, count, 1, cache, first);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t b = first + r;
      sequences[b].push_back(next[b]);
      const auto& seq = sequences[b];
      const std::vector<int32_t> no_targets(seq.size(), -1);
      model.forward(seq.data(), no_targets.data(), 1, static_cast<int64_t>(seq.size()), /*training=*/false);
      const std::vector<float> want = model.logits_at(0, static_cast<int64_t>(seq.size()) - 1);
      for (int64_t v = 0; v < V; ++v)
        ASSERT_NEAR(logits[r * V + v], want[v], 1e-5 * (1 + std::fabs(want[v]))) << "row " << b << " step " << i;
      next[b] = static_cast<int32_t>(argmax(want.data(), V));
      EXPECT_EQ(cache.length(b), static_cast<int32_t>(seq.size())) << "row " << b << " step " << i;
    }
  }
}

// greedy_ahead (the device a step ahead of the host) hands out the tokens
// greedy_cached's steps choose, in order; stopping early (the sink says so,
// or throws) takes the step queued beyond out of the cache again, so that
// decoding goes on from there as if it had never run.
TEST(KvCacheGreedyAhead, TokensEqualGreedyCachedStepsAndAStopLeavesNoTrace) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = generation_shape(PositionMethod::Alibi);
  Model ahead(*backend, shape), stepwise(*backend, shape);
  const std::vector<float> params = init_parameters(ahead.layout(), shape, 0.3f, 23);
  ahead.load_parameters(params);
  stepwise.load_parameters(params);
  const int64_t limit = shape.vocab - 2;
  KvCache ahead_cache(*backend, shape, 2, 40), stepwise_cache(*backend, shape, 2, 40);
  const std::vector<int32_t> prompt = {3, 14, 15, 9, 2};
  std::vector<int32_t> first(2);
  for (int64_t b = 0; b < 2; ++b) {
    first[b] = ahead.greedy_cached(prompt.data(), 1, 3 + b, ahead_cache, b, limit)[0];
    EXPECT_EQ(stepwise.greedy_cached(prompt.data(), 1, 3 + b, stepwise_cache, b, limit)[0], first[b]);
  }
  std::vector<std::vector<int32_t>> want;
  std::vector<int32_t> next = first;
  for (int step = 0; step < 9; ++step)
    want.push_back(next = stepwise.greedy_cached(next.data(), 2, 1, stepwise_cache, 0, limit));

  // Four steps of six, the sink stopping after the fourth.
  std::vector<std::vector<int32_t>> got;
  auto collect = [&](int64_t s, const std::vector<int32_t>& tokens) {
    EXPECT_EQ(s, static_cast<int64_t>(got.size()));
    got.push_back(tokens);
    return got.size() < 4;
  };
  EXPECT_EQ(ahead.greedy_ahead(first.data(), 2, ahead_cache, 0, limit, 6, collect), 4);
  EXPECT_EQ(ahead_cache.length(0), 3 + 4);
  EXPECT_EQ(ahead_cache.length(1), 4 + 4);
  // Then on from the fourth step's tokens: a throwing sink after one step ...
  auto throwing = [](int64_t, const std::vector<int32_t>&) -> bool { throw std::runtime_error("sink failed"); };
  EXPECT_THROW(ahead.greedy_ahead(got.back().data(), 2, ahead_cache, 0, limit, 3, throwing), std::runtime_error);
  EXPECT_EQ(ahead_cache.length(0), 3 + 5);  // its step stays, the one queued beyond it does not
  got.push_back(want[4]);
  // ... and the rest, all the steps asked for.
  auto all = [&](int64_t, const std::vector<int32_t>& tokens) {
    got.push_back(tokens);
    return true;
  };
  EXPECT_EQ(ahead.greedy_ahead(want[4].data(), 2, ahead_cache, 0, limit, 4, all), 4);
  EXPECT_EQ(got, want);
  EXPECT_EQ(ahead_cache.length(1), stepwise_cache.length(1));
  EXPECT_THROW(ahead.greedy_ahead(first.data(), 2, ahead_cache, 0, limit, 0, all), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(PositionMethods, KvCacheGeneration,
                         ::testing::Values(PositionMethod::Alibi, PositionMethod::None),
                         [](const auto& info) { return std::string(position_method_name(info.param)); });

TEST(KvCacheLimits, AFullRowAPromptIntoAUsedRowAndRotaryFailWithAMessage) {
  auto backend = make_cpu_backend(1);
  ModelShape shape = generation_shape(PositionMethod::Alibi);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.02f, 1));
  KvCache cache(*backend, shape, 1, 4);
  const std::vector<int32_t> prompt = {1, 2, 3};
  model.forward_cached(prompt.data(), 1, 3, cache, 0);
  EXPECT_THROW(model.forward_cached(prompt.data(), 1, 3, cache, 0), std::invalid_argument);  // row in use
  model.forward_cached(prompt.data(), 1, 1, cache, 0);  // the 4th and last position
  try {
    model.forward_cached(prompt.data(), 1, 1, cache, 0);
    ADD_FAILURE() << "a full row took another token";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-length"), std::string::npos) << e.what();
  }
  shape.position = PositionMethod::Rotary;
  Model rotary(*backend, shape);
  KvCache rotary_cache(*backend, shape, 1, 4);
  EXPECT_THROW(rotary.forward_cached(prompt.data(), 1, 3, rotary_cache, 0), std::invalid_argument);
}

TEST(KvCacheTruncate, ACutRowContinuesAsIfTheDroppedTokensNeverCame) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = generation_shape(PositionMethod::Alibi);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 8));
  const std::vector<int32_t> prompt = {4, 8, 15, 16}, detour = {13, 2}, next = {7};
  KvCache cut(*backend, shape, 1, 16), straight(*backend, shape, 1, 16);
  model.forward_cached(prompt.data(), 1, 4, cut, 0);
  model.forward_cached(detour.data(), 1, 1, cut, 0);
  model.forward_cached(detour.data() + 1, 1, 1, cut, 0);
  cut.truncate(0, 1, 4);
  EXPECT_EQ(cut.length(0), 4);
  model.forward_cached(prompt.data(), 1, 4, straight, 0);
  EXPECT_EQ(model.forward_cached(next.data(), 1, 1, cut, 0), model.forward_cached(next.data(), 1, 1, straight, 0));
  EXPECT_THROW(cut.truncate(0, 1, 6), std::out_of_range);  // it holds 5
  EXPECT_THROW(cut.truncate(0, 2, 1), std::exception);     // no row 1
}

}  // namespace
}  // namespace alibi
