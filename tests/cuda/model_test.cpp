// The whole model on the GPU against the fp32 CPU reference: the same
// weights and batch give the same loss to bf16 tolerance, and 50 training
// steps on each device follow the same loss curve.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_util.h"
#include "model/model.h"
#include "tests/model/cleared_gradients_check.h"
#include "train/optimizer.h"
#include "train/step.h"

namespace alibi {
namespace {

ModelShape small_shape(PositionMethod position) {
  ModelShape s;
  s.position = position;
  // 3 heads of 32: a head count that is not a power of two, a supported head dim.
  s.n_layer = 2, s.d_model = 96, s.n_head = 3, s.d_ff = 384, s.vocab = 500;
  s.max_position = position == PositionMethod::Learned ? 128 : 0;
  // The learned-position model also has the embedding LayerNorm
  // (model.embed_layernorm), so that path is checked against the CPU too.
  s.embed_layernorm = position == PositionMethod::Learned;
  return s;
}

// Token sequences with structure to learn: row b repeats a short random
// pattern of its own, the same at every step, so the loss falls fast.
std::vector<int32_t> patterned_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> pattern(13);
  for (auto& t : pattern) t = static_cast<int32_t>(rng.below(vocab));
  std::vector<int32_t> tokens(n + 1);
  for (int64_t i = 0; i <= n; ++i) tokens[i] = pattern[i % pattern.size()];
  return tokens;
}

class CudaModel : public ::testing::TestWithParam<PositionMethod> {};

TEST_P(CudaModel, LossMatchesTheCpuAndTrainingTracksTheCpuCurve) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_shape(GetParam());
  const int B = 4, T = 100;  // T not a multiple of the attention tile
  auto cpu = make_cpu_backend(0);
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  Model cpu_model(*cpu, shape), gpu_model(*gpu, shape);
  const std::vector<float> init = init_parameters(cpu_model.layout(), shape, 0.02f, 3);
  cpu_model.load_parameters(init);
  gpu_model.load_parameters(init);

  TrainConfig train;
  train.lr = 3e-3f;
  AdamW cpu_opt(*cpu, cpu_model, OptimizerSettings::from(train)), gpu_opt(*gpu, gpu_model, OptimizerSettings::from(train));
  const StepShape step_shape{B, T, 1};
  std::vector<int32_t> in_a, tg_a, in_b, tg_b;
  auto batch_for = [&](int64_t) {
    return [&shape](int, int32_t* inputs, int32_t* targets) {
      for (int b = 0; b < B; ++b) {
        const auto tokens = patterned_tokens(T, shape.vocab, b);
        std::copy(tokens.begin(), tokens.end() - 1, inputs + b * T);
        std::copy(tokens.begin() + 1, tokens.end(), targets + b * T);
      }
    };
  };

  std::vector<double> cpu_curve, gpu_curve;
  for (int64_t step = 1; step <= 50; ++step) {
    cpu_curve.push_back(optimizer_step(cpu_model, cpu_opt, step_shape, train.lr, step, 7, batch_for(step), in_a, tg_a).loss);
    gpu_curve.push_back(optimizer_step(gpu_model, gpu_opt, step_shape, train.lr, step, 7, batch_for(step), in_b, tg_b).loss);
  }
  // Step 1 is the forward of identical weights on an identical batch: bf16
  // activations and weights against fp32 may differ by about 1e-2 relative.
  EXPECT_NEAR(gpu_curve[0], cpu_curve[0], 1e-2 * cpu_curve[0]);
  EXPECT_NEAR(cpu_curve[0], std::log(500.0), 0.3);
  // Later steps compound rounding through 50 updates: bf16 tolerance, plus
  // the curves must both fall far.
  for (size_t i = 0; i < cpu_curve.size(); ++i)
    EXPECT_NEAR(gpu_curve[i], cpu_curve[i], 0.05 + 0.05 * cpu_curve[i]) << "step " << i + 1;
  EXPECT_LT(cpu_curve.back(), 0.5 * cpu_curve.front());
  EXPECT_LT(gpu_curve.back(), 0.5 * gpu_curve.front());
}

INSTANTIATE_TEST_SUITE_P(CudaAllPositionMethods, CudaModel,
                         ::testing::Values(PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                                           PositionMethod::Rotary, PositionMethod::None),
                         [](const auto& info) { return std::string(position_method_name(info.param)); });

TEST(CudaModelMemory, EvaluationForwardMatchesTrainingForward) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_shape(PositionMethod::Alibi);
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  Model model(*gpu, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.02f, 5));
  const auto tokens = patterned_tokens(2 * 64, shape.vocab, 1);
  std::vector<int32_t> inputs(tokens.begin(), tokens.end() - 1), targets(tokens.begin() + 1, tokens.end());
  const double train_loss = model.forward(inputs.data(), targets.data(), 2, 64, true).loss_sum;
  Model eval_model(*gpu, shape);
  eval_model.load_parameters(model.download_parameters());
  const double eval_loss = eval_model.forward(inputs.data(), targets.data(), 2, 64, false).loss_sum;
  EXPECT_NEAR(train_loss, eval_loss, 1e-6 * std::fabs(train_loss));
}

// train.recompute on the GPU: bitwise the gradients of keeping everything
// under runtime.deterministic (the recomputed forward runs the same kernels
// with the same algorithms and dropout seeds).
TEST(CudaModelRecompute, GradientsEqualKeepingEverythingBitwise) {
  ALIBI_REQUIRE_GPU();
  ModelShape shape = small_shape(PositionMethod::Alibi);
  shape.dropout = 0.1f;
  RuntimeConfig runtime{DeviceChoice::Cuda, 0};
  runtime.deterministic = true;
  auto gpu = make_backend(runtime);
  const auto tokens = patterned_tokens(2 * 80, shape.vocab, 3);
  std::vector<int32_t> inputs(tokens.begin(), tokens.end() - 1), targets(tokens.begin() + 1, tokens.end());
  auto gradient = [&](Recompute recompute) {
    Model model(*gpu, shape);
    model.set_recompute(recompute);
    model.load_parameters(init_parameters(model.layout(), shape, 0.05f, 6));
    model.forward(inputs.data(), targets.data(), 2, 80, true, /*dropout_seed=*/9, 1.f / 160);
    model.backward();
    std::vector<float> g(model.grads_flat().numel());
    gpu->download(g.data(), model.grads_flat());
    return g;
  };
  const std::vector<float> kept = gradient(Recompute::None);
  for (Recompute recompute : {Recompute::Attention, Recompute::Mlp, Recompute::Block}) {
    const std::vector<float> recomputed = gradient(recompute);
    size_t differing = 0;
    for (size_t i = 0; i < kept.size(); ++i) differing += kept[i] != recomputed[i];
    EXPECT_EQ(differing, 0u) << "train.recompute = " << recompute_name(recompute);
  }
  double max_abs = 0;
  for (float x : kept) max_abs = std::max(max_abs, std::fabs(double(x)));
  EXPECT_GT(max_abs, 1e-4);
}

// zero_grads() on the GPU: the first micro-batch writes every gradient
// (cuBLASLt with beta 0, the column sums stored, the learned table's rows
// past T zeroed), the same as adding into zeros, under runtime.deterministic.
TEST(CudaModel, GradientsAfterZeroGradsAreWrittenNotAdded) {
  ALIBI_REQUIRE_GPU();
  RuntimeConfig runtime{DeviceChoice::Cuda, 0};
  runtime.deterministic = true;
  auto gpu = make_backend(runtime);
  for (PositionMethod position : {PositionMethod::Alibi, PositionMethod::Learned})
    for (float dropout : {0.f, 0.1f}) {
      ModelShape shape = small_shape(position);
      shape.dropout = dropout;
      SCOPED_TRACE(std::string(position_method_name(position)) + (dropout > 0 ? ", dropout" : ""));
      testing::expect_cleared_gradients_are_written(*gpu, shape, /*B=*/2, /*T=*/100, 5);
    }
}

// The LM head in chunks of logit rows on the GPU (an uneven last chunk):
// the losses and gradients of one chunk, to within what GEMMs of other
// shapes (other cuBLASLt algorithms, bf16 outputs) may change.
TEST(CudaModelLogitChunks, GiveTheLossAndGradientsOfOneChunk) {
  ALIBI_REQUIRE_GPU();
  const ModelShape shape = small_shape(PositionMethod::Alibi);
  auto gpu = make_backend(RuntimeConfig{DeviceChoice::Cuda, 0});
  const auto tokens = patterned_tokens(2 * 80, shape.vocab, 4);
  std::vector<int32_t> inputs(tokens.begin(), tokens.end() - 1), targets(tokens.begin() + 1, tokens.end());
  auto run = [&](int64_t chunk_rows, double& loss) {
    Model model(*gpu, shape);
    model.set_logit_chunk_rows(chunk_rows);
    model.load_parameters(init_parameters(model.layout(), shape, 0.05f, 8));
    model.zero_grads();
    loss = model.forward(inputs.data(), targets.data(), 2, 80, true, 0, 1.f / 160).loss_sum;
    model.backward();
    std::vector<float> g(model.grads_flat().numel());
    gpu->download(g.data(), model.grads_flat());
    return g;
  };
  double loss_whole, loss_chunked;
  const std::vector<float> whole = run(160, loss_whole), chunked = run(48, loss_chunked);
  EXPECT_NEAR(loss_chunked, loss_whole, 1e-4 * loss_whole);
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(double(whole[i])));
    max_err = std::max(max_err, std::fabs(double(whole[i]) - chunked[i]));
  }
  EXPECT_GT(max_abs, 1e-4);
  EXPECT_LT(max_err, 2e-2 * max_abs);
}

}  // namespace
}  // namespace alibi
