// alibi-train as a user runs it: bad input ends with a clear message and a
// non-zero exit, never a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/test_data.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code;
  std::string output;
};

Outcome run_train(const std::string& args) {
  const fs::path log = fs::temp_directory_path() / ("alibi-train-cli-" + std::to_string(::getpid()) + ".log");
  Outcome o;
  o.exit_code = alibi::testing::run_command(alibi::testing::bin("alibi-train") + " " + args + " > " + log.string() + " 2>&1");
  std::ifstream in(log);
  o.output.assign(std::istreambuf_iterator<char>(in), {});
  fs::remove(log);
  return o;
}

fs::path write_config(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / ("alibi-cli-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path;
}

void expect_error(const Outcome& o, std::initializer_list<std::string> words) {
  EXPECT_EQ(o.exit_code, 1) << o.output;
  for (const std::string& w : words) EXPECT_NE(o.output.find(w), std::string::npos) << "missing '" << w << "' in: " << o.output;
}

TEST(AlibiTrainCli, MisspelledKeyNamesFileKeyAndSuggestion) {
  const fs::path cfg = write_config("typo.yaml", "data:\n  dir: x\ntrain:\n  lrr: 0.1\n");
  expect_error(run_train("--config " + cfg.string()), {cfg.string(), "train.lrr", "train.lr"});
}

TEST(AlibiTrainCli, BadOverrideIsRefused) {
  const fs::path cfg = write_config("ok.yaml", "data:\n  dir: x\n");
  expect_error(run_train("--config " + cfg.string() + " --set train.micro_batch=eight"), {"train.micro_batch", "eight"});
}

TEST(AlibiTrainCli, MissingConfigFileIsNamed) {
  expect_error(run_train("--config /nonexistent/cfg.yaml"), {"/nonexistent/cfg.yaml"});
}

TEST(AlibiTrainCli, MissingDatasetIsNamed) {
  const fs::path cfg = write_config("nodata.yaml", "data:\n  dir: /nonexistent/dataset\nruntime:\n  device: cpu\n");
  expect_error(run_train("--config " + cfg.string()), {"/nonexistent/dataset"});
}

TEST(AlibiTrainCli, HelpListsEveryConfigSection) {
  const Outcome o = run_train("--help");
  EXPECT_EQ(o.exit_code, 0);
  for (const char* key : {"model.position", "train.lr", "data.dir", "checkpoint.interval", "log.run_dir", "runtime.device"})
    EXPECT_NE(o.output.find(key), std::string::npos) << key;
}

TEST(AlibiTrainCli, ResumeWithoutCheckpointSaysSo) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fs::path(alibi::testing::bin_dir()) / "test-runs" / "cli-resume-empty";
  fs::remove_all(run);
  const fs::path cfg = write_config("resume.yaml", "data:\n  dir: " + data + "\nlog:\n  run_dir: " + run.string() + "\n");
  expect_error(run_train("--config " + cfg.string() + " --resume"), {"no checkpoint found"});
}

}  // namespace
}  // namespace alibi

namespace alibi {
namespace {

TEST(AlibiTrainCli, FreshStartRefusesToMixWithAnEarlierRunUnlessOverwritten) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fs::path(alibi::testing::bin_dir()) / "test-runs" / "cli-overwrite";
  fs::remove_all(run);
  const fs::path cfg = write_config("overwrite.yaml", "data:\n  dir: " + data + "\nlog:\n  run_dir: " + run.string() +
                                                          "\nmodel:\n  n_layer: 1\n  d_model: 32\ntrain:\n  steps: 2\n  seq_len: 16\n");
  ASSERT_EQ(run_train("--config " + cfg.string() + " -q").exit_code, 0);
  expect_error(run_train("--config " + cfg.string() + " -q"), {"already holds a run", "--resume", "--overwrite"});
  const Outcome again = run_train("--config " + cfg.string() + " -q --overwrite");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  std::ifstream metrics(run / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 3) << "two steps and one validation, nothing left of the first run";
}

}  // namespace
}  // namespace alibi
