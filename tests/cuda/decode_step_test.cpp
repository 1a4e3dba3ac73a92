// The fused decode step (kernels/decode_step.cu: the whole step in one
// persistent kernel) against the op-by-op step on the same GPU: logits within
// bf16 bounds for head dims 64/80/96/128, head counts that are not powers of
// two, batches of 1 to 4 rows with prompts of different lengths, with and
// without the embedding LayerNorm, and a GPT-2-sized vocabulary (each block
// then streams its share of the LM head in several ring slots, where the
// small vocabularies take one); cache positions past each row's length
// poisoned with NaN (never read); and the greedy choice made in the kernel
// equal to the host's argmax of the logits the kernel wrote; recorded steps
// equal to eager ones bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "cpu/argmax.h"
#include "cuda_test_util.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace alibi {
namespace {

struct FusedCase {
  int64_t head_dim, n_head, rows;
  bool embed_layernorm;
  int64_t vocab = 517;
};

std::string name_of(const testing::TestParamInfo<FusedCase>& info) {
  const FusedCase& c = info.param;
  std::string name = "D";
  name += std::to_string(c.head_dim) + "H" + std::to_string(c.n_head) + "B" + std::to_string(c.rows);
  if (c.embed_layernorm) name += "EmbedLn";
  return name + "V" + std::to_string(c.vocab);
}

ModelShape shape_of(const FusedCase& c) {
  ModelShape shape;
  shape.position = PositionMethod::Alibi;
  shape.n_layer = 3, shape.n_head = c.n_head, shape.d_model = c.n_head * c.head_dim;
  shape.d_ff = 4 * shape.d_model, shape.vocab = c.vocab;
  shape.embed_layernorm = c.embed_layernorm;
  return shape;
}

// Every cache position NaN, so that a read past a row's length shows.
void poison_cache(Backend& be, const KvCache& cache, const ModelShape& shape) {
  for (int64_t l = 0; l < shape.n_layer; ++l)
    for (const Tensor& t : {cache.keys(l, 0, cache.rows()), cache.values(l, 0, cache.rows())}) {
      const std::vector<uint16_t> nan(static_cast<size_t>(t.numel()), 0x7fc0);
      be.upload(t, nan.data());
    }
}

class CudaDecodeStep : public testing::TestWithParam<FusedCase> {};

// The fused step is Hopper's (bulk copies); older GPUs run the step op by op.
#define REQUIRE_HOPPER()                                                                    \
  ALIBI_REQUIRE_GPU();                                                                      \
  if (int major = 0; cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != \
                         cudaSuccess ||                                                     \
                     major < 9)                                                             \
  GTEST_SKIP() << "the fused decode step needs an sm_90 GPU"

TEST_P(CudaDecodeStep, FusedStepEqualsTheOpByOpStep) {
  REQUIRE_HOPPER();
  const ModelShape shape = shape_of(GetParam());
  const int64_t B = GetParam().rows, V = shape.vocab;
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const std::vector<float> params = init_parameters(Model(*gpu, shape).layout(), shape, 0.1f, 61);
  Model fused(*gpu, shape), by_ops(*gpu, shape);
  fused.load_parameters(params);
  by_ops.load_parameters(params);
  fused.set_fused_decode_step(true);
  by_ops.set_fused_decode_step(false);
  KvCache fused_cache(*gpu, shape, B, 300), ops_cache(*gpu, shape, B, 300);
  poison_cache(*gpu, fused_cache, shape);
  poison_cache(*gpu, ops_cache, shape);
  Rng rng(17);
  std::vector<int32_t> next(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {  // prompts of different lengths, one not a multiple of anything
    std::vector<int32_t> prompt(static_cast<size_t>(3 + 61 * b));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(V));
    const int64_t T = static_cast<int64_t>(prompt.size());
    const auto a = fused.forward_cached(prompt.data(), 1, T, fused_cache, b);
    ASSERT_EQ(a, by_ops.forward_cached(prompt.data(), 1, T, ops_cache, b)) << "the prompts take the same path";
    next[static_cast<size_t>(b)] = static_cast<int32_t>(std::max_element(a.begin(), a.end()) - a.begin());
  }
  for (int step = 0; step < 8; ++step) {
    const auto got = fused.forward_cached(next.data(), B, 1, fused_cache, 0);
    ASSERT_TRUE(fused.last_decode_step_fused()) << "an sm_90 GPU runs this shape fused";
    const auto want = by_ops.forward_cached(next.data(), B, 1, ops_cache, 0);
    ASSERT_FALSE(by_ops.last_decode_step_fused());
    for (int64_t b = 0; b < B; ++b) {
      double max_err = 0, max_abs = 0;
      for (int64_t v = b * V; v < (b + 1) * V; ++v) {
        ASSERT_TRUE(std::isfinite(got[v])) << "row " << b << " logit " << v - b * V << " step " << step;
        max_err = std::max(max_err, std::fabs(double(got[v]) - want[v]));
        max_abs = std::max(max_abs, std::fabs(double(want[v])));
      }
      EXPECT_LT(max_err, 0.02 * max_abs + 1e-3) << "row " << b << " step " << step;
      // The same tokens go into both caches: the op-by-op step's choice.
      next[static_cast<size_t>(b)] = static_cast<int32_t>(
          std::max_element(want.begin() + b * V, want.begin() + (b + 1) * V) - (want.begin() + b * V));
    }
  }
}

// The kernel's greedy choice is the host rule's on the logits it wrote, over
// the first `limit` tokens, step after step (recorded steps included).
TEST_P(CudaDecodeStep, GreedyChoiceIsTheArgmaxOfItsLogits) {
  REQUIRE_HOPPER();
  const ModelShape shape = shape_of(GetParam());
  const int64_t B = GetParam().rows, V = shape.vocab, limit = V - 5;
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  Model model(*gpu, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.1f, 67));
  model.set_fused_decode_step(true);
  KvCache cache(*gpu, shape, B, 64);
  Rng rng(19);
  std::vector<int32_t> next(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> prompt(static_cast<size_t>(2 + 5 * b));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(V));
    next[static_cast<size_t>(b)] =
        model.greedy_cached(prompt.data(), 1, static_cast<int64_t>(prompt.size()), cache, b, limit)[0];
  }
  for (int step = 0; step < 6; ++step) {
    const std::vector<int32_t> chosen = model.greedy_cached(next.data(), B, 1, cache, 0, limit);
    ASSERT_TRUE(model.last_decode_step_fused());
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<float> logits = model.logits_at(b, 0);
      int32_t want = -1;
      cpu::argmax(&want, logits.data(), 1, V, limit);
      ASSERT_EQ(chosen[static_cast<size_t>(b)], want) << "row " << b << " step " << step;
    }
    next = chosen;
  }
}

// Fused steps recorded as a graph (from the second on) give the eager fused
// steps' logits bit for bit: no order of blocks changes a sum.
TEST_P(CudaDecodeStep, RecordedFusedStepsEqualEagerOnesBitwise) {
  REQUIRE_HOPPER();
  const ModelShape shape = shape_of(GetParam());
  const int64_t B = GetParam().rows, V = shape.vocab;
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const std::vector<float> params = init_parameters(Model(*gpu, shape).layout(), shape, 0.1f, 71);
  Model recorded(*gpu, shape), eager(*gpu, shape);
  for (Model* m : {&recorded, &eager}) {
    m->load_parameters(params);
    m->set_fused_decode_step(true);
  }
  eager.set_decode_graphs(false);
  KvCache recorded_cache(*gpu, shape, B, 40), eager_cache(*gpu, shape, B, 40);
  std::vector<int32_t> prompt(static_cast<size_t>(B * 7));
  Rng rng(23);
  for (int32_t& t : prompt) t = static_cast<int32_t>(rng.below(V));
  std::vector<float> a = recorded.forward_cached(prompt.data(), B, 7, recorded_cache, 0);
  ASSERT_EQ(a, eager.forward_cached(prompt.data(), B, 7, eager_cache, 0));
  std::vector<int32_t> next(static_cast<size_t>(B));
  for (int step = 0; step < 6; ++step) {
    for (int64_t b = 0; b < B; ++b)
      next[static_cast<size_t>(b)] =
          static_cast<int32_t>(std::max_element(a.begin() + b * V, a.begin() + (b + 1) * V) - (a.begin() + b * V));
    a = recorded.forward_cached(next.data(), B, 1, recorded_cache, 0);
    ASSERT_TRUE(recorded.last_decode_step_fused());
    ASSERT_EQ(a, eager.forward_cached(next.data(), B, 1, eager_cache, 0)) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(CudaFusedShapes, CudaDecodeStep,
                         testing::Values(FusedCase{64, 3, 1, false}, FusedCase{64, 12, 3, true},
                                         FusedCase{80, 3, 2, true}, FusedCase{96, 5, 1, false},
                                         FusedCase{128, 2, 4, false},
                                         FusedCase{64, 12, 2, false, 50257}),
                         name_of);

}  // namespace
}  // namespace alibi
