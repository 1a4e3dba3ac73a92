// Ctrl-C and SIGTERM as a user sends them to alibi-train: the first stops the
// run between micro-batches (not only between steps) with a checkpoint, a
// second exits at once, and the last checkpoint stays valid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/test_data.h"
#include "train/checkpoint.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// alibi-train started in the background, its output going to `log`.
pid_t start_train(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_text = {alibi::testing::bin("alibi-train")};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit code, or -1 when it has not ended within `limit` (it is then killed).
int wait_for_exit(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<std::string> common_args(const std::string& data, const fs::path& run) {
  return {"--config", alibi::testing::source_dir() + "/configs/tiny-cpu.yaml", "--set", "data.dir=" + data,
          "log.run_dir=" + run.string(), "model.n_layer=2", "model.d_model=64", "runtime.threads=2",
          "train.eval_interval=0", "train.eval_batches=1"};
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(AlibiTrainSignals, SigintStopsBetweenMicroBatchesWithACheckpoint) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = alibi::testing::fresh_run_dir("signal-micro");
  // One step of 60000 micro-batches takes minutes: only a stop between
  // micro-batches ends it within seconds.
  const fs::path log = run / "output.log";
  const pid_t pid = start_train(with(common_args(data, run), {"train.seq_len=16", "train.micro_batch=1",
                                                              "train.global_batch=60000", "train.steps=2"}),
                                log);
  ASSERT_TRUE(wait_until([&] { return fs::exists(run / "metrics.jsonl"); }, std::chrono::seconds(60)))
      << read_text(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // inside step 1
  const auto signalled = Clock::now();
  ::kill(pid, SIGINT);
  const int code = wait_for_exit(pid, std::chrono::seconds(60));
  const double seconds = seconds_since(signalled);
  const std::string output = read_text(log);
  EXPECT_EQ(code, 130) << output;
  EXPECT_LT(seconds, 20.0) << "the step was not interrupted between micro-batches";
  EXPECT_NE(output.find("stopped by signal during step 1"), std::string::npos) << output;
  EXPECT_EQ(read_text(run / "metrics.jsonl"), "") << "the abandoned step is not logged";
  // The state the step started from, resumable.
  const Checkpoint ckpt = load_checkpoint((run / "checkpoints" / checkpoint_file_name(0)).string());
  EXPECT_EQ(ckpt.state.step, 0);
  EXPECT_EQ(ckpt.state.loader_position, 0);
}

TEST(AlibiTrainSignals, ASecondSignalExitsAtOnceAndTheLastCheckpointStaysValid) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = alibi::testing::fresh_run_dir("signal-twice");
  const std::vector<std::string> args = common_args(data, run);
  const fs::path log = run / "output.log";
  // Two quick steps and a checkpoint, then a resume whose every micro-batch
  // (1024 x 64 tokens) takes seconds: the second signal lands inside one.
  ASSERT_EQ(wait_for_exit(start_train(with(args, {"train.seq_len=16", "train.micro_batch=2", "train.steps=2"}), log),
                          std::chrono::seconds(120)),
            0)
      << read_text(log);
  const fs::path checkpoint = run / "checkpoints" / checkpoint_file_name(2);
  ASSERT_TRUE(fs::exists(checkpoint));
  const pid_t pid = start_train(
      with(args, {"train.seq_len=64", "train.micro_batch=1024", "train.steps=10", "--resume"}), log);
  ASSERT_TRUE(wait_until([&] { return read_text(log).find("resumed at step 2") != std::string::npos; },
                         std::chrono::seconds(60)))
      << read_text(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto second = Clock::now();
  ::kill(pid, SIGTERM);
  const int code = wait_for_exit(pid, std::chrono::seconds(60));
  const double seconds = seconds_since(second);
  const std::string output = read_text(log);
  EXPECT_EQ(code, 128 + SIGTERM) << output;
  EXPECT_LT(seconds, 1.0) << output;
  EXPECT_NE(output.find("second signal: exiting at once"), std::string::npos) << output;
  // The checkpoint of step 2 is intact and still the latest; the log's lines are whole.
  EXPECT_EQ(load_checkpoint(checkpoint.string()).state.step, 2);
  EXPECT_EQ(latest_checkpoint((run / "checkpoints").string()), checkpoint.string());
  std::ifstream metrics(run / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);)
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false).is_discarded()) << line;
}

}  // namespace
}  // namespace alibi
