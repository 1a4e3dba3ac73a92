// Generation with a KV cache on the GPU: the prompt through the fused
// attention, then one token at a time through the decode kernel, gives the
// logits of a full forward over the whole sequence (bf16 bounds) and the
// same greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_test_util.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace alibi {
namespace {

TEST(CudaKvCache, GreedyTokensAndLogitsEqualFullRecomputation) {
  ALIBI_REQUIRE_GPU();
  ModelShape shape;
  shape.position = PositionMethod::Alibi;
  // 3 heads of 64 (not a power of two); a prompt longer than one key split.
  shape.n_layer = 2, shape.d_model = 192, shape.n_head = 3, shape.d_ff = 768, shape.vocab = 300;
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

}  // namespace
}  // namespace alibi
