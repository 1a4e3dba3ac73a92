// The data-parallel code path as a job of one rank (the identity
// communicator on the CPU) trains exactly as the plain path: the same
// losses, bit for bit, with buckets reduced during the backward pass, without
// overlap, and with ZeRO-1 shards.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_data.h"
#include "train/trainer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

TrainSummary train_tiny(const std::string& name, bool data_parallel, std::vector<std::string> extra = {}) {
  const fs::path run_dir = fs::path(alibi::testing::bin_dir()) / "test-runs" / ("dp-path-" + name);
  fs::remove_all(run_dir);
  std::vector<std::string> overrides = {"data.dir=" + alibi::testing::grammar_dataset(), "log.run_dir=" + run_dir.string(),
                                        "model.n_layer=2", "model.d_model=32", "model.n_head=2", "model.dropout=0.1",
                                        "train.seq_len=32", "train.micro_batch=4", "train.grad_accum=2",
                                        "train.steps=8", "train.eval_interval=4", "checkpoint.interval=0",
                                        "runtime.device=cpu", "dist.bucket_mb=0.01"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  TrainOptions options;
  options.quiet = true;
  options.data_parallel = data_parallel;
  return train(parse_config("{}", "test", overrides), options);
}

TEST(DataParallelPath, OneRankTrainsBitForBitLikeThePlainPath) {
  const TrainSummary plain = train_tiny("plain", false);
  ASSERT_EQ(plain.train_losses.size(), 8u);
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {}, {"dist.overlap=false"}, {"dist.zero1=true"}, {"train.global_batch=8", "train.grad_accum=1"}}) {
    const TrainSummary dp = train_tiny("dp", true, extra);
    ASSERT_EQ(dp.train_losses.size(), plain.train_losses.size());
    for (size_t i = 0; i < plain.train_losses.size(); ++i)
      EXPECT_EQ(dp.train_losses[i], plain.train_losses[i]) << "step " << i + 1 << " with " << ::testing::PrintToString(extra);
    EXPECT_EQ(dp.final_valid_loss, plain.final_valid_loss);
  }
}

}  // namespace
}  // namespace alibi
