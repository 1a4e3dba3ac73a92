// The whole model's wiring: its gradient against finite differences of its
// own loss, for every position method, with and without dropout. Each op's
// backward is tested in double precision in tests/cpu/; this checks that the
// model composes them correctly (residuals, layer order, tied head).
#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "tests/model/cleared_gradients_check.h"

namespace alibi {
namespace {

ModelShape tiny_shape(PositionMethod position, float dropout) {
  ModelShape s;
  s.position = position;
  s.n_layer = 2, s.d_model = 8, s.n_head = 2, s.d_ff = 16, s.vocab = 13;
  s.max_position = position == PositionMethod::Learned ? 9 : 0;
  s.dropout = dropout;
  return s;
}

struct Batch {
  int64_t B = 2, T = 7;
  std::vector<int32_t> tokens, targets;
};

Batch random_batch(int64_t vocab, uint64_t seed) {
  Batch b;
  Rng rng(seed);
  for (int64_t i = 0; i < b.B * b.T; ++i) {
    b.tokens.push_back(static_cast<int32_t>(rng.below(vocab)));
    b.targets.push_back(static_cast<int32_t>(rng.below(vocab)));
  }
  b.targets[3] = -1;  // an unscored position
  return b;
}

// (position, dropout, model.embed_layernorm)
class ModelGradient : public ::testing::TestWithParam<std::tuple<PositionMethod, float, bool>> {};

TEST_P(ModelGradient, MatchesFiniteDifferencesOfTheLoss) {
  const auto [position, dropout, embed_layernorm] = GetParam();
  auto backend = make_cpu_backend(1);
  ModelShape shape = tiny_shape(position, dropout);
  shape.embed_layernorm = embed_layernorm;
  Model model(*backend, shape);
  // A larger init than training uses, so gradients are well above fp32 noise.
  std::vector<float> params = init_parameters(model.layout(), shape, 0.3f, 11);
  model.load_parameters(params);
  const Batch batch = random_batch(shape.vocab, 5);
  const uint64_t dropout_seed = 99;  // the same masks in every evaluation

  auto mean_loss = [&](const std::vector<float>& p) {
    model.load_parameters(p);
    return model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, true, dropout_seed)
        .mean_loss();
  };
  // The gradient of the mean loss: one target is not scored (random_batch).
  const float loss_scale = 1.f / static_cast<float>(batch.B * batch.T - 1);
  model.zero_grads();  // before the forward, which takes the LM head's gradients
  const StepResult base = model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, true,
                                        dropout_seed, loss_scale);
  ASSERT_EQ(base.scored, batch.B * batch.T - 1);
  EXPECT_THROW(model.zero_grads(), std::logic_error);
  model.backward();
  std::vector<float> grads(model.grads_flat().numel());
  backend->download(grads.data(), model.grads_flat());

  // Central differences on a sample of coordinates from every tensor.
  const double h = 1e-2;
  double dot = 0, norm_fd = 0, norm_an = 0;
  Rng pick(3);
  for (const ParamSpec& spec : model.layout()) {
    for (int k = 0; k < 4; ++k) {
      const int64_t i = spec.offset + static_cast<int64_t>(pick.below(spec.numel()));
      std::vector<float> p = params;
      p[i] = params[i] + static_cast<float>(h);
      const double up = mean_loss(p);
      p[i] = params[i] - static_cast<float>(h);
      const double down = mean_loss(p);
      const double fd = (up - down) / (2 * h);
      // fp32 loss (~1e-7 relative) over 2h, plus O(h^2) truncation.
      EXPECT_NEAR(grads[i], fd, 2e-3 + 0.03 * std::fabs(fd)) << spec.name << " element " << i - spec.offset;
      dot += fd * grads[i], norm_fd += fd * fd, norm_an += double(grads[i]) * grads[i];
    }
  }
  EXPECT_GT(dot / std::sqrt(norm_fd * norm_an), 0.999);
}

std::string gradient_case_name(const ::testing::TestParamInfo<ModelGradient::ParamType>& info) {
  return std::string(position_method_name(std::get<0>(info.param))) + (std::get<1>(info.param) > 0 ? "_dropout" : "") +
         (std::get<2>(info.param) ? "_embed_ln" : "");
}

INSTANTIATE_TEST_SUITE_P(
    AllPositionMethods, ModelGradient,
    ::testing::Combine(::testing::Values(PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                                         PositionMethod::Rotary, PositionMethod::None),
                       ::testing::Values(0.f, 0.2f), ::testing::Values(false)),
    gradient_case_name);

INSTANTIATE_TEST_SUITE_P(
    EmbeddingLayerNorm, ModelGradient,
    ::testing::Combine(::testing::Values(PositionMethod::Alibi, PositionMethod::Learned), ::testing::Values(0.f, 0.2f),
                       ::testing::Values(true)),
    gradient_case_name);

TEST(Model, EvaluationForwardEqualsTrainingForwardWithoutDropout) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.f);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 1));
  const Batch batch = random_batch(shape.vocab, 8);
  const double train_loss =
      model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, true).loss_sum;
  Model eval_model(*backend, shape);
  eval_model.load_parameters(model.download_parameters());
  const double eval_loss =
      eval_model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, false).loss_sum;
  EXPECT_EQ(train_loss, eval_loss);  // same ops in the same order: bitwise equal
}

TEST(Model, LossOfAPrefixDoesNotDependOnLaterTokens) {
  // Causality through the whole stack: changing token t leaves losses < t alone.
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.f);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 2));
  Batch batch = random_batch(shape.vocab, 9);
  model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, false);
  const std::vector<float> before = model.last_token_losses();
  batch.tokens[5] = (batch.tokens[5] + 1) % shape.vocab;
  model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, false);
  const std::vector<float> after = model.last_token_losses();
  for (int t = 0; t < 5; ++t) EXPECT_EQ(before[t], after[t]) << "position " << t;
  EXPECT_NE(before[5], after[5]);
}

TEST(Model, LearnedPositionsRefuseLongerSequencesThanTheTable) {
  auto backend = make_cpu_backend(1);
  ModelShape shape = tiny_shape(PositionMethod::Learned, 0.f);
  shape.max_position = 4;
  Model model(*backend, shape);
  const Batch batch = random_batch(shape.vocab, 1);
  EXPECT_THROW(model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, false),
               std::invalid_argument);
}

}  // namespace
}  // namespace alibi

namespace alibi {
namespace {

// The largest |want| and the largest |want - got| over two gradients.
std::pair<double, double> largest_and_largest_difference(const std::vector<float>& want,
                                                         const std::vector<float>& got) {
  double largest = 0, difference = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    largest = std::max(largest, std::fabs(double(want[i])));
    difference = std::max(difference, std::fabs(double(want[i]) - got[i]));
  }
  return {largest, difference};
}

// zero_grads() leaves the buffer as it is: every gradient is then written by
// the step's first micro-batch, for every position method (the learned
// table longer than the batch), with and without dropout (the biases' sums
// taken by other ops) and the embedding LayerNorm.
TEST(Model, GradientsAfterZeroGradsAreWrittenNotAdded) {
  auto backend = make_cpu_backend(1);
  for (PositionMethod position : {PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                                  PositionMethod::Rotary, PositionMethod::None})
    for (float dropout : {0.f, 0.2f}) {
      ModelShape shape = tiny_shape(position, dropout);
      shape.embed_layernorm = position == PositionMethod::Learned;
      SCOPED_TRACE(std::string(position_method_name(position)) + (dropout > 0 ? ", dropout" : ""));
      testing::expect_cleared_gradients_are_written(*backend, shape, /*B=*/2, /*T=*/7, 21);
    }
}

TEST(Model, TwoAccumulatedHalfBatchesGiveTheFullBatchGradient) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.f);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 4));
  Batch full = random_batch(shape.vocab, 12);
  full.targets[3] = 1;  // every position scored, so both halves weigh the same
  const int64_t half = full.B / 2 * full.T, n = full.B * full.T;
  auto gradient = [&](auto run) {
    model.zero_grads();
    run();
    std::vector<float> g(model.grads_flat().numel());
    backend->download(g.data(), model.grads_flat());
    return g;
  };
  const std::vector<float> whole = gradient([&] {
    model.forward(full.tokens.data(), full.targets.data(), full.B, full.T, true, 0, 1.f / n);
    model.backward();
  });
  const std::vector<float> accumulated = gradient([&] {
    for (int64_t part = 0; part < 2; ++part) {
      model.forward(full.tokens.data() + part * half, full.targets.data() + part * half, full.B / 2, full.T, true,
                    0, 1.f / n);
      model.backward();
    }
  });
  const auto [max_abs, max_err] = largest_and_largest_difference(whole, accumulated);
  ASSERT_GT(max_abs, 1e-3);
  EXPECT_LT(max_err, 1e-5 * max_abs) << "only fp32 summation order may differ";
}

// Training takes the LM head a chunk of rows at a time (logits, loss, and
// the head's gradients at once); chunks of any size, here 5 rows of 14 (the
// last one short), give the losses and gradients of one chunk.
TEST(Model, LogitChunksGiveTheLossAndGradientsOfOneChunk) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.1f);
  const std::vector<float> params = init_parameters(parameter_layout(shape), shape, 0.3f, 6);
  const Batch batch = random_batch(shape.vocab, 13);
  auto run = [&](int64_t chunk_rows, double& loss, double& valid_loss) {
    Model model(*backend, shape);
    model.set_logit_chunk_rows(chunk_rows);
    model.load_parameters(params);
    model.zero_grads();
    loss = model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, true, 5, 0.1f).loss_sum;
    model.backward();
    std::vector<float> g(model.grads_flat().numel());
    backend->download(g.data(), model.grads_flat());
    // Validation runs on the training reservation, so in chunks too.
    valid_loss = model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, false).loss_sum;
    if (chunk_rows > 0 && chunk_rows < batch.B * batch.T) {
      EXPECT_THROW(model.logits_at(0, 0), std::logic_error) << "logits_at would read a chunk's rows";
    }
    return g;
  };
  double loss_whole, loss_chunked, valid_whole, valid_chunked;
  const std::vector<float> whole = run(batch.B * batch.T, loss_whole, valid_whole);
  const std::vector<float> chunked = run(5, loss_chunked, valid_chunked);
  EXPECT_DOUBLE_EQ(loss_chunked, loss_whole);
  EXPECT_DOUBLE_EQ(valid_chunked, valid_whole);
  const auto [max_abs, max_err] = largest_and_largest_difference(whole, chunked);
  ASSERT_GT(max_abs, 1e-3);
  EXPECT_LT(max_err, 1e-5 * max_abs) << "only the fp32 summation order of wte's gradient may differ";
}

}  // namespace
}  // namespace alibi

namespace alibi {
namespace {

// train.recompute: the backward recomputes what the forward did not keep with
// the forward's own ops and dropout seeds, so the gradients are bitwise those
// of keeping everything, and the activations take less memory.
class ModelRecompute : public ::testing::TestWithParam<std::tuple<Recompute, PositionMethod, float>> {};

std::vector<float> gradient_after_one_step(Recompute recompute, PositionMethod position, float dropout) {
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(position, dropout);
  Model model(*backend, shape);
  model.set_recompute(recompute);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 21));
  const Batch batch = random_batch(shape.vocab, 22);
  model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T, true, /*dropout_seed=*/77);
  model.backward();
  std::vector<float> g(model.grads_flat().numel());
  backend->download(g.data(), model.grads_flat());
  return g;
}

TEST_P(ModelRecompute, GradientsEqualKeepingEverything) {
  const auto [recompute, position, dropout] = GetParam();
  const std::vector<float> kept = gradient_after_one_step(Recompute::None, position, dropout);
  const std::vector<float> recomputed = gradient_after_one_step(recompute, position, dropout);
  ASSERT_EQ(kept.size(), recomputed.size());
  double max_abs = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(double(kept[i])));
    ASSERT_EQ(kept[i], recomputed[i]) << "element " << i;
  }
  EXPECT_GT(max_abs, 1e-3);  // a real gradient, not two zero vectors
}

INSTANTIATE_TEST_SUITE_P(
    AllSettings, ModelRecompute,
    ::testing::Combine(::testing::Values(Recompute::Attention, Recompute::Mlp, Recompute::Block),
                       ::testing::Values(PositionMethod::Alibi, PositionMethod::Rotary), ::testing::Values(0.f, 0.2f)),
    [](const auto& info) {
      return std::string(recompute_name(std::get<0>(info.param))) + "_" +
             position_method_name(std::get<1>(info.param)) + (std::get<2>(info.param) > 0 ? "_dropout" : "");
    });

TEST(ModelRecomputeMemory, EachSettingKeepsLessThanTheOneBefore) {
  auto backend = make_cpu_backend(1);
  ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.f);
  shape.n_layer = 4, shape.d_ff = 4 * shape.d_model;  // GPT's MLP: the larger part of a block
  Model model(*backend, shape);
  auto bytes = [&](Recompute r) {
    model.set_recompute(r);
    return model.activation_bytes_for(4, 64, /*for_training=*/true);
  };
  const size_t none = bytes(Recompute::None), attention = bytes(Recompute::Attention);
  const size_t mlp = bytes(Recompute::Mlp), block = bytes(Recompute::Block);
  EXPECT_LT(attention, none);
  EXPECT_LT(mlp, attention);
  EXPECT_LT(block, mlp);
  // Evaluation does not depend on the setting.
  model.set_recompute(Recompute::None);
  const size_t eval_none = model.activation_bytes_for(4, 64, false);
  model.set_recompute(Recompute::Block);
  EXPECT_EQ(model.activation_bytes_for(4, 64, false), eval_none);
}

// Training's logits chunk lies over the backward's gradient buffers (dead
// while the forward's LM head runs): a chunk that fits over them costs no
// memory, a larger one only what it does not overlap. Here those buffers
// hold 5 x 256 x 8 = 10,240 elements: 16 rows of 200 logits fit, 256 not.
TEST(ModelMemory, TheLogitChunkLiesOverTheBackwardsBuffers) {
  auto backend = make_cpu_backend(1);
  ModelShape shape = tiny_shape(PositionMethod::Alibi, 0.f);
  shape.vocab = 200;
  Model model(*backend, shape);
  auto bytes = [&](int64_t chunk_rows) {
    model.set_logit_chunk_rows(chunk_rows);
    return model.activation_bytes_for(4, 64, /*for_training=*/true);
  };
  const size_t four_rows = bytes(4), sixteen_rows = bytes(16), all_rows = bytes(256);
  EXPECT_EQ(sixteen_rows, four_rows);
  const size_t element = dtype_size(backend->activation_dtype());
  EXPECT_EQ(all_rows - four_rows, (256 * 200 - 5 * 256 * 8) * element);
}

}  // namespace
}  // namespace alibi
