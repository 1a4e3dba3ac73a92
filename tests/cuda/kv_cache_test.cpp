// Generation with a KV cache on the GPU: the prompt through the fused
// attention, then one token at a time through the decode kernel, gives the
// logits of a full forward over the whole sequence (bf16 bounds) and the
// same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cpu/argmax.h"
#include "cuda_test_util.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace alibi {
namespace {

// 3 heads of 64 (not a power of two).
ModelShape small_alibi_shape() {
  ModelShape shape;
  shape.position = PositionMethod::Alibi;
  shape.n_layer = 2, shape.d_model = 192, shape.n_head = 3, shape.d_ff = 768, shape.vocab = 300;
  return shape;
}

TEST(CudaKvCache, GreedyTokensAndLogitsEqualFullRecomputation) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_alibi_shape();  // a prompt longer than one key split below
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  Model model(*gpu, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.1f, 41));
  Rng rng(5);
  std::vector<int32_t> sequence(300);
  for (int32_t& t : sequence) t = static_cast<int32_t>(rng.below(shape.vocab));
  KvCache cache(*gpu, shape, 1, 400);
  std::vector<float> logits = model.forward_cached(sequence.data(), 1, 300, cache, 0);
  const int64_t V = shape.vocab;
  for (int step = 0; step < 8; ++step) {
    const int64_t T = static_cast<int64_t>(sequence.size());
    const std::vector<int32_t> no_targets(sequence.size(), -1);
    model.forward(sequence.data(), no_targets.data(), 1, T, /*training=*/false);
    const std::vector<float> want = model.logits_at(0, T - 1);
    double max_err = 0, max_abs = 0;
    for (int64_t v = 0; v < V; ++v) {
      max_err = std::max(max_err, std::fabs(double(logits[v]) - want[v]));
      max_abs = std::max(max_abs, std::fabs(double(want[v])));
    }
    EXPECT_LT(max_err, 0.02 * max_abs + 1e-3) << "step " << step;  // bf16 activations through 2 layers
    const int32_t next = static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin());
    EXPECT_EQ(std::max_element(logits.begin(), logits.end()) - logits.begin(), next) << "step " << step;
    sequence.push_back(next);
    logits = model.forward_cached(&next, 1, 1, cache, 0);
  }
}

// Decode steps over changing sets of rows (each set's steps recorded
// anew, its first step eager): a step on the rows the last one took finds
// its lengths on the device already, advanced by that step; any other
// sends them. Every row's logits stay those of a full forward over its own
// sequence (bf16 bounds).
TEST(CudaKvCache, StepsOverChangingRowsEqualFullRecomputation) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_alibi_shape();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  Model model(*gpu, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.1f, 45));
  const int64_t V = shape.vocab;
  Rng rng(17);
  std::vector<std::vector<int32_t>> sequences(2);
  std::vector<int32_t> next(2);
  KvCache cache(*gpu, shape, 2, 200);
  for (int64_t b = 0; b < 2; ++b) {
    sequences[b].resize(static_cast<size_t>(30 + 41 * b));
    for (int32_t& t : sequences[b]) t = static_cast<int32_t>(rng.below(shape.vocab));
    const auto& seq = sequences[b];
    const auto logits = model.forward_cached(seq.data(), 1, static_cast<int64_t>(seq.size()), cache, b);
    next[b] = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const std::vector<std::pair<int64_t, int64_t>> steps = {{0, 2}, {0, 2}, {0, 2}, {1, 1}, {1, 1}, {1, 1},
                                                          {0, 2}, {0, 1}, {0, 2}, {0, 2}, {0, 2}};
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto [first, count] = steps[i];
    const std::vector<float> logits = model.forward_cached(next.data() + first, count, 1, cache, first);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t b = first + r;
      auto& seq = sequences[b];
      seq.push_back(next[b]);
      const std::vector<int32_t> no_targets(seq.size(), -1);
      model.forward(seq.data(), no_targets.data(), 1, static_cast<int64_t>(seq.size()), /*training=*/false);
      const std::vector<float> want = model.logits_at(0, static_cast<int64_t>(seq.size()) - 1);
      double max_err = 0, max_abs = 0;
      for (int64_t v = 0; v < V; ++v) {
        max_err = std::max(max_err, std::fabs(double(logits[r * V + v]) - want[v]));
        max_abs = std::max(max_abs, std::fabs(double(want[v])));
      }
      EXPECT_LT(max_err, 0.02 * max_abs + 1e-3) << "row " << b << " step " << i;
      next[b] = static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin());
      EXPECT_EQ(cache.length(b), static_cast<int32_t>(seq.size()));
    }
  }
}

// Decode steps recorded as a graph (from the second step on) give the logits
// of eager steps bit for bit, over a batch of rows with prompts of different
// lengths, and again after the activation buffers are laid out anew (a
// longer full forward in between): the recording is then made afresh.
TEST(CudaKvCache, RecordedDecodeStepsEqualEagerStepsBitwise) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_alibi_shape();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const std::vector<float> params = init_parameters(Model(*gpu, shape).layout(), shape, 0.1f, 43);
  Model recorded(*gpu, shape), eager(*gpu, shape);
  recorded.load_parameters(params);
  eager.load_parameters(params);
  eager.set_decode_graphs(false);
  const int64_t B = 3;
  KvCache recorded_cache(*gpu, shape, B, 200), eager_cache(*gpu, shape, B, 200);
  Rng rng(9);
  std::vector<int32_t> next(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> prompt(static_cast<size_t>(20 + 37 * b));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(shape.vocab));
    const auto a = recorded.forward_cached(prompt.data(), 1, static_cast<int64_t>(prompt.size()), recorded_cache, b);
    const auto e = eager.forward_cached(prompt.data(), 1, static_cast<int64_t>(prompt.size()), eager_cache, b);
    ASSERT_EQ(a, e) << "prompt of row " << b;
    next[b] = static_cast<int32_t>(std::max_element(a.begin(), a.end()) - a.begin());
  }
  for (int step = 0; step < 12; ++step) {
    if (step == 6) {  // a longer full forward lays the buffers out anew
      std::vector<int32_t> tokens(2 * 150, 1), no_targets(tokens.size(), -1);
      recorded.forward(tokens.data(), no_targets.data(), 2, 150, /*training=*/false);
    }
    const auto a = recorded.forward_cached(next.data(), B, 1, recorded_cache, 0);
    const auto e = eager.forward_cached(next.data(), B, 1, eager_cache, 0);
    ASSERT_EQ(a, e) << "decode step " << step;
    for (int64_t b = 0; b < B; ++b)
      next[b] = static_cast<int32_t>(std::max_element(a.begin() + b * shape.vocab, a.begin() + (b + 1) * shape.vocab) -
                                     (a.begin() + b * shape.vocab));
  }
}

// Greedy decoding with the choice made on the device (recorded steps
// included) picks the tokens the host picks from the same steps' logits,
// among the first `limit` tokens only, for a batch of rows.
TEST(CudaKvCache, GreedyOnTheDeviceEqualsTheHostsChoice) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_alibi_shape();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const std::vector<float> params = init_parameters(Model(*gpu, shape).layout(), shape, 0.1f, 47);
  Model on_device(*gpu, shape), on_host(*gpu, shape);
  on_device.load_parameters(params);
  on_host.load_parameters(params);
  const int64_t B = 3, V = shape.vocab, limit = V - 7;
  KvCache device_cache(*gpu, shape, B, 100), host_cache(*gpu, shape, B, 100);
  auto host_choice = [&](const std::vector<float>& logits) {
    std::vector<int32_t> tokens(logits.size() / V);
    cpu::argmax(tokens.data(), logits.data(), static_cast<int64_t>(tokens.size()), V, limit);
    return tokens;
  };
  Rng rng(13);
  std::vector<int32_t> next(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> prompt(static_cast<size_t>(5 + 11 * b));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(shape.vocab));
    const auto mine = on_device.greedy_cached(prompt.data(), 1, static_cast<int64_t>(prompt.size()), device_cache, b, limit);
    const auto want = host_choice(on_host.forward_cached(prompt.data(), 1, static_cast<int64_t>(prompt.size()), host_cache, b));
    ASSERT_EQ(mine, want) << "prompt of row " << b;
    next[b] = mine[0];
  }
  for (int step = 0; step < 10; ++step) {
    const auto mine = on_device.greedy_cached(next.data(), B, 1, device_cache, 0, limit);
    ASSERT_EQ(mine, host_choice(on_host.forward_cached(next.data(), B, 1, host_cache, 0))) << "decode step " << step;
    next = mine;
  }
}

// greedy_ahead (each step queued before the last one's tokens are read,
// through pinned memory) gives greedy_cached's tokens, its steps recorded
// alike; a stop midway and a new start go on where it stopped.
TEST(CudaKvCache, GreedyAheadEqualsGreedyCachedSteps) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_alibi_shape();
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const std::vector<float> params = init_parameters(Model(*gpu, shape).layout(), shape, 0.1f, 53);
  Model ahead(*gpu, shape), stepwise(*gpu, shape);
  ahead.load_parameters(params);
  stepwise.load_parameters(params);
  const int64_t B = 3, limit = shape.vocab - 5;
  KvCache ahead_cache(*gpu, shape, B, 120), stepwise_cache(*gpu, shape, B, 120);
  Rng rng(29);
  std::vector<int32_t> first(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> prompt(static_cast<size_t>(9 + 13 * b));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(shape.vocab));
    const int64_t T = static_cast<int64_t>(prompt.size());
    first[b] = ahead.greedy_cached(prompt.data(), 1, T, ahead_cache, b, limit)[0];
    ASSERT_EQ(stepwise.greedy_cached(prompt.data(), 1, T, stepwise_cache, b, limit)[0], first[b]);
  }
  std::vector<std::vector<int32_t>> want, got;
  std::vector<int32_t> next = first;
  for (int step = 0; step < 20; ++step)
    want.push_back(next = stepwise.greedy_cached(next.data(), B, 1, stepwise_cache, 0, limit));
  auto until = [&](size_t n) {
    return [&got, n](int64_t, const std::vector<int32_t>& tokens) {
      got.push_back(tokens);
      return got.size() < n;
    };
  };
  EXPECT_EQ(ahead.greedy_ahead(first.data(), B, ahead_cache, 0, limit, 20, until(7)), 7);
  EXPECT_EQ(ahead.greedy_ahead(got.back().data(), B, ahead_cache, 0, limit, 13, until(20)), 13);
  EXPECT_EQ(got, want);
  for (int64_t b = 0; b < B; ++b) EXPECT_EQ(ahead_cache.length(b), stepwise_cache.length(b));
}

}  // namespace
}  // namespace alibi
