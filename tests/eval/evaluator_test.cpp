// The evaluator against a direct reference: for every scored token, the
// model is run on exactly the context the definition gives that token (one
// window per forward call), and the losses are summed.
#include "eval/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"
#include "cpu/cpu_backend.h"
#include "data/shard.h"
#include "support/temp_dir.h"

namespace alibi {
namespace {

constexpr int64_t kVocab = 13;

ModelShape tiny_shape(PositionMethod position) {
  ModelShape s;
  s.position = position;
  s.n_layer = 2, s.d_model = 16, s.n_head = 2, s.d_ff = 32, s.vocab = kVocab;
  s.max_position = position == PositionMethod::Learned ? 64 : 0;
  return s;
}

std::string random_shard(const testing::TempDir& dir, int64_t tokens) {
  Rng rng(21);
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < tokens; ++i) ids.push_back(static_cast<int32_t>(rng.below(kVocab)));
  write_shard(dir.file("valid.bin"), kVocab, "0123456789abcdef", ids);
  return dir.file("valid.bin");
}

// The loss of t[target] given t[context_start .. target), from a forward
// pass over exactly those tokens.
double token_loss(Model& model, const ShardReader& shard, int64_t context_start, int64_t target) {
  const int64_t T = target - context_start;
  std::vector<int32_t> span(T + 1), targets(T, -1);
  shard.read(context_start, T + 1, span.data());
  targets[T - 1] = span[T];
  const StepResult r = model.forward(span.data(), targets.data(), 1, T, /*training=*/false);
  EXPECT_EQ(r.scored, 1);
  return r.loss_sum;
}

struct Reference {
  int64_t scored = 0;
  double nll = 0.0;
};

// Written from the definitions in docs/eval.md, independently of the plan:
// nonoverlapping: token j sits in window floor((j - 1) / L), which starts at
// that times L; sliding: tokens 1..L come from the first window (start 0),
// a later token j from the window whose last S targets hold it, the window
// ending at target L + k S for the smallest k with L + k S >= j.
Reference direct_reference(Model& model, const ShardReader& shard, int64_t L, int64_t S, int64_t M) {
  Reference ref;
  for (int64_t j = 1; j <= M; ++j) {
    int64_t start;
    if (S == L) {
      start = (j - 1) / L * L;
    } else if (j <= L) {
      start = 0;
    } else {
      const int64_t k = (j - L + S - 1) / S;  // ceil((j - L) / S)
      start = k * S;
    }
    ref.nll += token_loss(model, shard, start, j);
    ref.scored += 1;
  }
  return ref;
}

class EvaluatorVsReference : public ::testing::TestWithParam<PositionMethod> {};

TEST_P(EvaluatorVsReference, NonoverlappingAndSlidingMatchTheDirectComputation) {
  testing::TempDir dir("evaluator");
  const ShardReader shard(random_shard(dir, 80));
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(GetParam());
  Model model(*backend, shape);
  // A larger init than training uses, so the losses differ from token to token.
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 5));

  const int64_t L = 12;
  for (const int64_t S : {L, int64_t{5}, int64_t{1}}) {
    const EvalSpec spec{L, S};
    const int64_t M = common_scored_tokens(shard.size(), {spec});
    ASSERT_GT(M, 0);
    // 3 windows per forward: several batches and, mostly, a partial last one.
    const EvalOutcome got = evaluate(model, shard, spec, M, EvalBudget{3 * L, 0});
    const Reference want = direct_reference(model, shard, L, S, M);
    EXPECT_EQ(got.tokens_scored, want.scored) << "stride " << S;
    EXPECT_NEAR(got.nll, want.nll, 1e-5 * want.nll) << "stride " << S;
    EXPECT_NEAR(got.token_ppl(), std::exp(want.nll / want.scored), 1e-4) << "stride " << S;
    EXPECT_EQ(got.batch_windows, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Eval, EvaluatorVsReference,
                         ::testing::Values(PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                                           PositionMethod::Rotary, PositionMethod::None),
                         [](const auto& info) { return std::string(position_method_name(info.param)); });

TEST(Evaluator, SlidingWithStrideEqualToLengthEqualsNonoverlappingExactly) {
  testing::TempDir dir("evaluator-same");
  const ShardReader shard(random_shard(dir, 100));
  auto backend = make_cpu_backend(1);
  const ModelShape shape = tiny_shape(PositionMethod::Alibi);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.3f, 6));
  const int64_t L = 16, M = common_scored_tokens(shard.size(), {{L, L}});
  // The same windows in batches of one and of four: bitwise the same sum on the CPU.
  const EvalOutcome one = evaluate(model, shard, {L, L}, M, EvalBudget{L, 0});
  const EvalOutcome four = evaluate(model, shard, {L, L}, M, EvalBudget{4 * L, 0});
  const Reference direct = direct_reference(model, shard, L, L, M);
  EXPECT_EQ(one.tokens_scored, M);
  EXPECT_EQ(one.nll, four.nll);
  EXPECT_NEAR(one.nll, direct.nll, 1e-5 * direct.nll);
}

TEST(Evaluator, BatchFitsTheTokenBudgetAndThePlan) {
  auto backend = make_cpu_backend(1);
  Model model(*backend, tiny_shape(PositionMethod::Alibi));
  EXPECT_EQ(eval_batch_windows(model, {16, 16}, 100, {64, 0}), 4);
  EXPECT_EQ(eval_batch_windows(model, {16, 16}, 2, {64, 0}), 2);   // no more than the plan has
  EXPECT_EQ(eval_batch_windows(model, {128, 128}, 9, {64, 0}), 1); // at least one window
  // A memory limit smaller than four windows' activations shrinks the batch.
  const size_t two = model.activation_bytes_for(2, 16, false);
  EXPECT_LE(eval_batch_windows(model, {16, 16}, 100, {64, two}), 2);
}

}  // namespace
}  // namespace alibi
