// The trainer on the GPU: a config that cannot fit fails before the first
// step with what it needs against what is free; a small one trains.
#include <gtest/gtest.h>

#include <filesystem>

#include "cuda_test_util.h"
#include "support/test_data.h"
#include "train/trainer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

Config gpu_config(const std::string& data, const std::string& run, std::vector<std::string> extra) {
  std::vector<std::string> overrides = {"data.dir=" + data, "log.run_dir=" + run, "runtime.device=cuda",
                                        "model.n_layer=2", "model.d_model=128", "model.n_head=2",
                                        "train.seq_len=64", "train.eval_interval=0", "checkpoint.interval=0"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return parse_config("{}", "test", overrides);
}

TEST(CudaTrainer, AConfigThatCannotFitFailsBeforeTheFirstStep) {
  ALIBI_REQUIRE_GPU();
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const std::string run = (fs::path(alibi::testing::bin_dir()) / "test-runs" / "cuda-oom").string();
  fs::remove_all(run);
  const Config config = gpu_config(data, run, {"train.micro_batch=100000", "train.seq_len=8192", "train.steps=1"});
  try {
    train(config, {.resume_from = "", .quiet = true});
    FAIL() << "a 800M-token micro-batch cannot fit";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not enough cuda memory"), std::string::npos) << what;
    EXPECT_NE(what.find("train.micro_batch = 100000"), std::string::npos) << what;
    EXPECT_NE(what.find("GiB is free"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(fs::path(run) / "metrics.jsonl")) << "no step may have run";
}

TEST(CudaTrainer, TrainsAndValidatesTheGrammar) {
  ALIBI_REQUIRE_GPU();
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const std::string run = (fs::path(alibi::testing::bin_dir()) / "test-runs" / "cuda-grammar").string();
  fs::remove_all(run);
  const Config config = gpu_config(data, run, {"train.micro_batch=16", "train.steps=80", "train.lr=3e-3",
                                               "train.warmup_steps=5", "train.eval_batches=4"});
  const TrainSummary s = train(config, {.resume_from = "", .quiet = true});
  ASSERT_EQ(s.train_losses.size(), 80u);
  EXPECT_LT(s.final_valid_loss, s.train_losses.front() - 2.0);
  EXPECT_TRUE(fs::exists(s.last_checkpoint));
}

// runtime.deterministic: two runs of a model whose head dim (64) takes the
// Hopper attention backward give the same losses, bit for bit; without it
// they agree to rounding (the fused backward adds dQ in no fixed order).
TEST(CudaTrainer, DeterministicRunsRepeatBitForBit) {
  ALIBI_REQUIRE_GPU();
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  auto run = [&](const std::string& name, const std::string& deterministic) {
    const std::string dir = (fs::path(alibi::testing::bin_dir()) / "test-runs" / name).string();
    fs::remove_all(dir);
    const Config config = gpu_config(data, dir, {"train.micro_batch=8", "train.steps=20", "train.lr=3e-3",
                                                 "train.eval_batches=2", "runtime.deterministic=" + deterministic});
    return train(config, {.resume_from = "", .quiet = true});
  };
  const TrainSummary first = run("cuda-det-1", "true"), second = run("cuda-det-2", "true");
  ASSERT_EQ(first.train_losses.size(), 20u);
  for (size_t i = 0; i < first.train_losses.size(); ++i)
    EXPECT_EQ(first.train_losses[i], second.train_losses[i]) << "step " << i + 1;
  EXPECT_EQ(first.final_valid_loss, second.final_valid_loss);
  const TrainSummary fast = run("cuda-det-fast", "false");
  for (size_t i = 0; i < first.train_losses.size(); ++i)
    EXPECT_NEAR(fast.train_losses[i], first.train_losses[i], 0.02 * first.train_losses[i]) << "step " << i + 1;
}

}  // namespace
}  // namespace alibi
