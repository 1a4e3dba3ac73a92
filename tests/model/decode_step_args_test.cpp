// Backend::decode_step (the whole decode step as one op, kernels/decode_step.cu
// on Hopper) from the model's side, on the CPU: a backend without the fused
// op leaves the step to the ops (the same logits bit for bit, whatever the
// model asked for), and the op's contract names the argument that does not
// fit.
#include <gtest/gtest.h>

#include <string>

#include "backend/arg_check.h"
#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace alibi {
namespace {

ModelShape decode_shape() {
  ModelShape s;
  s.position = PositionMethod::Alibi;
  s.n_layer = 2, s.d_model = 12, s.n_head = 3, s.d_ff = 24, s.vocab = 17;
  return s;
}

TEST(FusedDecodeStep, ABackendWithoutItRunsTheStepOpByOp) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = decode_shape();
  const std::vector<float> params = init_parameters(Model(*backend, shape).layout(), shape, 0.3f, 37);
  Model asks(*backend, shape), plain(*backend, shape);
  asks.load_parameters(params);
  plain.load_parameters(params);
  asks.set_fused_decode_step(true);
  KvCache asks_cache(*backend, shape, 2, 16), plain_cache(*backend, shape, 2, 16);
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
  ASSERT_EQ(asks.forward_cached(prompt.data(), 2, 4, asks_cache, 0),
            plain.forward_cached(prompt.data(), 2, 4, plain_cache, 0));
  std::vector<int32_t> next = {7, 11};
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> got = asks.forward_cached(next.data(), 2, 1, asks_cache, 0);
    EXPECT_FALSE(asks.last_decode_step_fused()) << "the CPU backend has no fused step";
    ASSERT_EQ(got, plain.forward_cached(next.data(), 2, 1, plain_cache, 0)) << "step " << step;
    next = {next[1], next[0] + 1};
  }
}

// The arguments of a model's decode step, built from its (f32 master)
// parameters, as Model::fused_decode_step builds them from its working copy.
DecodeStepArgs args_of(const Model& model, const KvCache& cache, const Tensor& lengths, const Tensor& tokens,
                       const Tensor& logits) {
  const ModelShape& shape = model.shape();
  const ModelParams& p = model.params();
  DecodeStepArgs a;
  for (int64_t l = 0; l < shape.n_layer; ++l) {
    const BlockParams& w = p.blocks[static_cast<size_t>(l)];
    a.layers.push_back({w.ln1_weight, w.ln1_bias, w.qkv_weight, w.qkv_bias, w.proj_weight, w.proj_bias, w.ln2_weight,
                        w.ln2_bias, w.fc_weight, w.fc_bias, w.out_weight, w.out_bias, cache.keys(l, 0, 1),
                        cache.values(l, 0, 1)});
  }
  a.wte = p.wte, a.lnf_weight = p.lnf_weight, a.lnf_bias = p.lnf_bias;
  a.lengths = lengths, a.tokens = tokens, a.logits = logits;
  a.cache = cache.shape_of(1), a.d_ff = shape.d_ff;
  return a;
}

TEST(FusedDecodeStep, TheContractNamesTheArgumentThatDoesNotFit) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = decode_shape();
  Model model(*backend, shape);
  KvCache cache(*backend, shape, 1, 8);
  std::vector<float> slopes(3), logits(17);
  std::vector<int32_t> lengths = {1}, tokens = {2};
  DecodeStepArgs a = args_of(model, cache, Tensor(lengths.data(), {1}, DType::I32, Device::CPU),
                             Tensor(tokens.data(), {1}, DType::I32, Device::CPU),
                             Tensor(logits.data(), {1, 17}, DType::F32, Device::CPU));
  a.slopes = Tensor(slopes.data(), {3}, DType::F32, Device::CPU);
  const ArgCheck checks(Device::CPU, DType::F32);
  EXPECT_EQ(checks.decode_step(a), shape.vocab);

  auto expect_failure_naming = [&](DecodeStepArgs bad, const std::string& argument) {
    try {
      checks.decode_step(bad);
      ADD_FAILURE() << "accepted a bad " << argument;
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("decode_step"), std::string::npos) << what;
      EXPECT_NE(what.find(argument), std::string::npos) << what;
    }
  };
  DecodeStepArgs bad = a;
  bad.layers[1].qkv_weight = a.layers[1].proj_weight;
  expect_failure_naming(bad, "qkv_weight");
  bad = a;
  bad.layers[0].keys = Tensor();
  expect_failure_naming(bad, "k_cache");
  bad = a;
  bad.greedy_limit = shape.vocab + 1;
  expect_failure_naming(bad, "greedy_limit");
  bad = a;
  bad.embed_ln_weight = a.lnf_weight;  // an embedding LayerNorm's weight without its bias
  expect_failure_naming(bad, "embed_ln_bias");
  bad = a;
  bad.layers.clear();
  expect_failure_naming(bad, "layer");
}

}  // namespace
}  // namespace alibi
