// Sweeps: one scored-token count for every length, word-level perplexity
// from the split's counts, learned positions beyond their table, and the
// checks made before any forward pass.
#include "eval/sweep.h"

#include <gtest/gtest.h>

#include <cmath>

#include "eval/eval_checkpoint.h"
#include "eval/eval_fixtures.h"
#include "support/test_data.h"
#include "train/checkpoint.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using testing::bin_dir;

std::string test_dir(const std::string& name) { return (fs::path(bin_dir()) / "test-runs" / name).string(); }

SweepRequest request_for(const std::string& run, const std::string& lengths, int64_t stride = 0) {
  SweepRequest r;
  r.checkpoints = {run};
  r.data.data = "valid";
  r.lengths = parse_lengths(lengths);
  r.stride = stride;
  r.runtime.device = DeviceChoice::Cpu;
  r.runtime.threads = 1;
  return r;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Sweep, EveryLengthScoresTheSameTokens) {
  const std::string data = testing::handmade_dataset(test_dir("sweep-same-data"));
  const std::string run = testing::train_tiny(data, "sweep-same");
  // 300 tokens, 299 scorable: 8, 16 and 32 share 288; relative lengths too.
  for (const auto& [lengths, stride] : {std::pair{std::string("8,16,32"), int64_t{0}},
                                        std::pair{std::string("0.5x,1x,2x"), int64_t{0}},
                                        std::pair{std::string("8,16,32"), int64_t{4}}}) {
    const std::vector<EvalRow> rows = run_sweep(request_for(run, lengths, stride));
    ASSERT_EQ(rows.size(), 3u);
    for (const EvalRow& r : rows) {
      EXPECT_TRUE(r.available);
      EXPECT_EQ(r.tokens_scored, rows[0].tokens_scored) << lengths << " at length " << r.length;
      EXPECT_NEAR(r.token_ppl, std::exp(r.nll / r.tokens_scored), 1e-9 * r.token_ppl);
      EXPECT_EQ(r.train_length, 16);
    }
    EXPECT_EQ(rows[0].length, 8);
    EXPECT_EQ(rows[2].length, 32);
    if (stride == 0) {
      EXPECT_EQ(rows[0].tokens_scored, 288);
    }
    if (stride == 4) {
      EXPECT_EQ(rows[0].mode, "sliding");
    }
  }
}

TEST(Sweep, WordPerplexityUsesWordsPlusLinesScaledToTheScoredPart) {
  const std::string data = testing::handmade_dataset(test_dir("sweep-words-data"), {300, 200, 40});
  const std::string run = testing::train_tiny(data, "sweep-words");
  SweepRequest request = request_for(run, "16");
  const EvalRow row = run_sweep(request).at(0);
  ASSERT_EQ(row.tokens_scored, 288);
  // (200 words + 40 lines) * 288 scored / 300 tokens in the split.
  EXPECT_DOUBLE_EQ(row.word_units, 240.0 * 288 / 300);
  EXPECT_NEAR(row.word_ppl, std::exp(row.nll / (240.0 * 288 / 300)), 1e-9 * row.word_ppl);
  request.words_only = true;
  const EvalRow words = run_sweep(request).at(0);
  EXPECT_DOUBLE_EQ(words.word_units, 200.0 * 288 / 300);
  EXPECT_EQ(words.nll, row.nll);
}

TEST(Sweep, LearnedPositionsBeyondTheirTableAreNotAvailable) {
  const std::string data = testing::handmade_dataset(test_dir("sweep-learned-data"));
  const std::string run = testing::train_tiny(data, "sweep-learned", "learned");
  const std::vector<EvalRow> rows = run_sweep(request_for(run, "8,16,32"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].available);
  EXPECT_TRUE(rows[1].available);
  EXPECT_FALSE(rows[2].available);
  EXPECT_EQ(rows[2].note, "n/a (learned positions: table has 16 rows)");
  // The lengths that run still share one count (that of 8 and 16: 288).
  EXPECT_EQ(rows[0].tokens_scored, 288);
  EXPECT_EQ(rows[1].tokens_scored, 288);
}

TEST(Sweep, RefusesWhatCannotBeEvaluatedBeforeRunning) {
  const std::string data = testing::handmade_dataset(test_dir("sweep-errors-data"));
  const std::string run = testing::train_tiny(data, "sweep-errors");
  EXPECT_NE(error_of([&] { run_sweep(request_for(run, "8,16", 9)); }).find("--stride 9 is larger than the length 8"),
            std::string::npos);
  EXPECT_NE(error_of([&] { run_sweep(request_for(run, "512")); }).find("too short for length 512"), std::string::npos);
  // Another tokenizer: same vocabulary size, different pieces.
  const std::string other = testing::handmade_dataset(test_dir("sweep-errors-other"), {}, "another tokenizer");
  SweepRequest request = request_for(run, "8");
  request.data.data_dir = other;
  EXPECT_NE(error_of([&] { run_sweep(request); }).find("was trained with tokenizer"), std::string::npos);
  EXPECT_NE(error_of([&] { run_sweep(request_for(test_dir("no-such-run"), "8")); }).find("no such file or folder"),
            std::string::npos);
  SweepRequest missing_shard = request_for(run, "8");
  missing_shard.data.data = test_dir("no-such-data") + "/valid.bin";
  EXPECT_NE(error_of([&] { run_sweep(missing_shard); }).find("no-such-data/valid.bin: no such file or folder"),
            std::string::npos);
}

TEST(Sweep, DataCanBeAShardFileOrADatasetFolder) {
  const std::string data = testing::handmade_dataset(test_dir("sweep-paths-data"));
  const std::string run = testing::train_tiny(data, "sweep-paths");
  const double by_name = run_sweep(request_for(run, "16")).at(0).nll;
  SweepRequest shard = request_for(run, "16");
  shard.data.data = data + "/valid.bin";
  EXPECT_EQ(run_sweep(shard).at(0).nll, by_name);
  SweepRequest folder = request_for(run, "16");
  folder.data.data = data;
  folder.data.split = "valid";
  EXPECT_EQ(run_sweep(folder).at(0).nll, by_name);
  // A run folder, its checkpoint folder and the file name the same checkpoint.
  const std::string file = resolve_checkpoint_path(run);
  EXPECT_EQ(resolve_checkpoint_path(run + "/checkpoints"), file);
  EXPECT_EQ(fs::path(file).filename(), "step_00000003.ckpt");
  EXPECT_EQ(load_eval_checkpoint(file).label, "sweep-paths@3");
}

}  // namespace
}  // namespace alibi
