// A diverging run (an absurd learning rate): train.on_nonfinite = stop ends
// it with a message naming the step and the last good checkpoint, whose
// weights are finite; skip goes on until train.max_skipped_steps in a row;
// neither writes a checkpoint of non-finite weights, and the tools refuse
// one made by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "eval/eval_checkpoint.h"
#include "support/test_data.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

Config diverging_config(const std::string& name, const std::vector<std::string>& more) {
  const fs::path run = fs::path(testing::bin_dir()) / "test-runs" / name;
  fs::remove_all(run);
  std::vector<std::string> overrides = {
      "data.dir=" + testing::grammar_dataset(), "log.run_dir=" + run.string(), "model.n_layer=2", "model.d_model=64",
      "model.n_head=4", "train.seq_len=32", "train.micro_batch=8", "train.steps=40", "train.lr=1e3",
      "train.warmup_steps=1", "train.eval_interval=0", "checkpoint.interval=2", "checkpoint.keep=2",
      "runtime.device=cpu", "runtime.threads=1"};
  overrides.insert(overrides.end(), more.begin(), more.end());
  return parse_config("{}", "test", overrides);
}

std::string training_error(const Config& config) {
  try {
    train(config, {.resume_from = "", .quiet = true});
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::vector<nlohmann::json> train_records(const Config& config) {
  std::vector<nlohmann::json> records;
  std::ifstream in(fs::path(config.log.run_dir) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = nlohmann::json::parse(line);
    if (r.at("type") == "train") records.push_back(r);
  }
  return records;
}

TEST(Divergence, StopEndsTheRunAndKeepsTheLastFiniteCheckpoint) {
  ASSERT_FALSE(testing::grammar_dataset().empty());
  const Config config = diverging_config("diverge-stop", {});
  const std::string error = training_error(config);
  ASSERT_NE(error.find("train.on_nonfinite = stop"), std::string::npos) << error;
  const std::vector<nlohmann::json> records = train_records(config);
  ASSERT_FALSE(records.empty());
  EXPECT_TRUE(records.back().value("nonfinite", false));
  EXPECT_LT(records.size(), 40u);
  // The message names the newest checkpoint; it and its sibling are finite.
  const std::string latest = latest_checkpoint(config.checkpoint_dir());
  ASSERT_FALSE(latest.empty()) << "the run diverged before its first checkpoint: " << error;
  EXPECT_NE(error.find(latest), std::string::npos) << error;
  for (const auto& entry : fs::directory_iterator(config.checkpoint_dir())) {
    if (entry.path().extension() != ".ckpt") continue;
    EXPECT_NO_THROW(load_eval_checkpoint(entry.path().string()));
    EXPECT_EQ(load_checkpoint(entry.path().string()).weights_finite, true);
  }
}

TEST(Divergence, SkipGoesOnUntilTooManyStepsInARow) {
  ASSERT_FALSE(testing::grammar_dataset().empty());
  const Config config = diverging_config("diverge-skip", {"train.on_nonfinite=skip", "train.max_skipped_steps=3"});
  const std::string error = training_error(config);
  ASSERT_NE(error.find("train.max_skipped_steps = 3"), std::string::npos) << error;
  const std::vector<nlohmann::json> records = train_records(config);
  ASSERT_GE(records.size(), 4u);
  for (size_t i = records.size() - 4; i < records.size(); ++i)
    EXPECT_TRUE(records[i].value("nonfinite", false)) << "step " << records[i].at("step");
}

TEST(Divergence, ToolsRefuseNonFiniteWeights) {
  const fs::path dir = testing::fresh_run_dir("diverge-crafted");
  ModelShape shape;
  shape.n_layer = 1, shape.d_model = 8, shape.n_head = 2, shape.d_ff = 32, shape.vocab = 16;
  const std::vector<ParamSpec> layout = parameter_layout(shape);
  std::vector<float> params = init_parameters(layout, shape, 0.02f, 1);
  params[layout[3].offset + 1] = std::numeric_limits<float>::quiet_NaN();
  std::vector<HostTensorRef> tensors;
  for (const ParamSpec& spec : layout)
    tensors.push_back({"param/" + spec.name, DType::F32, spec.shape, params.data() + spec.offset});
  TrainingState state;
  state.config_yaml = "data:\n  dir: nowhere\n";
  const std::string path = (dir / "step_00000001.ckpt").string();
  save_checkpoint(path, state, shape, tensors);
  EXPECT_EQ(load_checkpoint(path).weights_finite, false) << "the header records it";
  try {
    load_eval_checkpoint(path);
    FAIL() << "loaded non-finite weights";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(layout[3].name), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("NaN or infinite"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace alibi
