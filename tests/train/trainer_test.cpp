// End-to-end training on the CPU: the trainer learns, every position method
// learns, and a run killed mid-way resumes to the identical loss curve.
#include "train/trainer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/shard.h"
#include "support/test_data.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using alibi::testing::bin;
using alibi::testing::run_command;

fs::path fresh_run_dir(const std::string& name) {
  const fs::path dir = alibi::testing::fresh_run_dir(name);
  return dir;
}

Config tiny_config(const std::string& data_dir, const fs::path& run_dir) {
  std::vector<std::string> overrides = {
      "data.dir=" + data_dir,     "log.run_dir=" + run_dir.string(), "model.n_layer=2",
      "model.d_model=64",         "model.n_head=4",                  "train.seq_len=32",
      "train.micro_batch=8",      "train.steps=60",                  "train.lr=3e-3",
      "train.warmup_steps=5",     "train.eval_interval=0",           "train.eval_batches=4",
      "checkpoint.interval=0",    "runtime.device=cpu"};
  return parse_config("{}", "test", overrides);
}

// Cross-entropy of a unigram model fit on train (add-one smoothing) on valid.
double unigram_baseline(const std::string& data_dir) {
  const DatasetMeta meta = load_dataset(data_dir);
  const ShardReader train(meta.shard_path("train")), valid(meta.shard_path("valid"));
  std::vector<double> counts(meta.vocab_size, 1.0);
  for (int64_t i = 0; i < train.size(); ++i) counts[train.token(i)] += 1;
  double total = 0;
  for (double c : counts) total += c;
  double nll = 0;
  for (int64_t i = 0; i < valid.size(); ++i) nll -= std::log(counts[valid.token(i)] / total);
  return nll / valid.size();
}

class EveryPositionMethod : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryPositionMethod, LearnsTheGrammar) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty()) << "alibi-data failed to prepare the grammar dataset";
  const fs::path run = fresh_run_dir("position-" + GetParam());
  Config config = tiny_config(data, run);
  config = parse_config(config_to_yaml(config), "test", {"model.position=" + GetParam()});
  const TrainSummary s = train(config, {.resume_from = "", .quiet = true});
  ASSERT_EQ(s.train_losses.size(), 60u);
  // From uniform guessing (ln 96 = 4.56) to below what word frequencies
  // alone give: the model uses its context.
  const double first = s.train_losses.front(), unigram = unigram_baseline(data);
  double last = 0;
  for (size_t i = 55; i < 60; ++i) last += s.train_losses[i] / 5;
  EXPECT_NEAR(first, std::log(96.0), 0.5);
  EXPECT_LT(last, first - 1.0) << GetParam() << ": first " << first << ", last " << last;
  EXPECT_LT(s.final_valid_loss, unigram - 0.3) << GetParam() << ": unigram baseline " << unigram;
}

INSTANTIATE_TEST_SUITE_P(Trainer, EveryPositionMethod,
                         ::testing::Values("alibi", "sinusoidal", "learned", "rotary", "none"));

TEST(Trainer, TinyModelOnWikiText2BeatsTheUnigramBaseline) {
  const std::string data = alibi::testing::wikitext2_slice_dataset(6000);
  if (data.empty()) GTEST_SKIP() << "WikiText-2 not found under " << ALIBI_SHARED_DATA_DIR;
  const fs::path run = fresh_run_dir("wikitext2");
  const Config config = parse_config(
      "{}", "test",
      {"data.dir=" + data, "log.run_dir=" + run.string(), "model.n_layer=4", "model.d_model=128",
       "model.n_head=4", "train.seq_len=128", "train.micro_batch=8", "train.steps=200", "train.lr=2e-3",
       "train.warmup_steps=20", "train.eval_interval=100", "train.eval_batches=16", "checkpoint.interval=0",
       "runtime.device=cpu"});
  const TrainSummary s = train(config, {.resume_from = "", .quiet = true});
  const double unigram = unigram_baseline(data);
  std::printf("WikiText-2 slice: unigram baseline %.3f nats, first train loss %.3f, validation after 200 steps %.3f\n",
              unigram, s.train_losses.front(), s.final_valid_loss);
  EXPECT_LT(s.final_valid_loss, unigram - 0.5);
}

std::vector<nlohmann::json> read_metrics(const fs::path& path) {
  std::vector<nlohmann::json> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  return records;
}

int64_t last_logged_step(const fs::path& metrics) {
  int64_t step = 0;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto r = nlohmann::json::parse(line, nullptr, false);
    if (!r.is_discarded()) step = std::max<int64_t>(step, r.value("step", int64_t{0}));
  }
  return step;
}

TEST(Trainer, KilledRunResumesToTheIdenticalLossCurve) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path whole = fresh_run_dir("resume-whole"), killed = fresh_run_dir("resume-killed");
  // Dropout on, so the resumed RNG state matters too.
  auto args = [&](const fs::path& run) {
    return std::vector<std::string>{bin("alibi-train"), "--config", alibi::testing::source_dir() + "/configs/tiny-cpu.yaml",
                                    "--quiet", "--set", "data.dir=" + data, "log.run_dir=" + run.string(),
                                    "model.n_layer=2", "model.d_model=64", "train.seq_len=64", "train.steps=60",
                                    "train.eval_interval=20", "train.eval_batches=2", "checkpoint.interval=20",
                                    "model.dropout=0.1", "runtime.threads=2"};
  };
  auto join = [](const std::vector<std::string>& a) {
    std::string s;
    for (const auto& x : a) s += x + " ";
    return s;
  };
  ASSERT_EQ(run_command(join(args(whole)) + "> /dev/null"), 0);

  // Start the same run, and kill -9 it once it is past the step-20 checkpoint.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<std::string> a = args(killed);
    std::vector<char*> argv;
    for (auto& x : a) argv.push_back(x.data());
    argv.push_back(nullptr);
    ::freopen("/dev/null", "w", stdout);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (last_logged_step(killed / "metrics.jsonl") < 27 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  const int64_t killed_at = last_logged_step(killed / "metrics.jsonl");
  ASSERT_GE(killed_at, 20);
  ASSERT_LT(killed_at, 60);

  ASSERT_EQ(run_command(join(args(killed)) + "--resume > /dev/null"), 0);
  const auto a = read_metrics(whole / "metrics.jsonl"), b = read_metrics(killed / "metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["type"], b[i]["type"]);
    EXPECT_EQ(a[i]["step"], b[i]["step"]);
    // Bitwise: the JSON holds every double with round-trip precision.
    EXPECT_EQ(a[i]["loss"].get<double>(), b[i]["loss"].get<double>()) << "record " << i << " step " << a[i]["step"];
  }
}

TEST(Trainer, ResumeRefusesACheckpointOfAnotherModel) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fresh_run_dir("resume-mismatch");
  Config config = tiny_config(data, run);
  config.train.steps = 2;
  train(config, {.resume_from = "", .quiet = true});
  config.model.d_model = 32;
  config.train.steps = 4;
  try {
    train(config, {.resume_from = config.checkpoint_dir(), .quiet = true});
    FAIL() << "resume with another d_model must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("model.d_model is 64 in the checkpoint but 32 in the config"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace alibi
