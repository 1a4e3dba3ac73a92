// What the trainer promises when the disk or the user gets in the way: write
// errors name the path and the system's reason, a folder it cannot write
// fails before any work, temporary files of killed writes are cleaned up
// (only those whose process is gone), a step can be abandoned between
// micro-batches, and validation is never silently skipped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backend/select.h"
#include "core/atomic_file.h"
#include "data/data_error.h"
#include "support/temp_dir.h"
#include "support/test_data.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/step.h"
#include "train/trainer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

template <class Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

void expect_contains(const std::string& text, std::initializer_list<std::string> words) {
  for (const std::string& w : words) EXPECT_NE(text.find(w), std::string::npos) << "no '" << w << "' in: " << text;
}

TEST(DiskErrors, MetricsLogOnAFullDiskStopsWithThePathAndReason) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  MetricsLog log("/dev/full", -1);
  expect_contains(error_of([&] { log.write({{"step", 1}, {"loss", 2.5}}); }), {"/dev/full", "No space left on device"});
}

TEST(DiskErrors, MetricsLogWritesOneFlushedLinePerRecordAndClosesCleanly) {
  alibi::testing::TempDir dir("reliability");
  MetricsLog log(dir.file("metrics.jsonl"), -1);
  log.write({{"step", 1}});
  std::ifstream in(dir.file("metrics.jsonl"));  // flushed: readable before close
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line, R"({"step":1})");
  EXPECT_GE(log.fd(), 0);
  log.close();
  EXPECT_EQ(log.fd(), -1);
}

// A file size limit makes write(2) fail with EFBIG, as a full disk fails with
// ENOSPC, without needing a full file system; restored afterwards.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // the error, not the signal
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

TEST(DiskErrors, CheckpointWriteErrorNamesThePathAndTheSystemsReason) {
  alibi::testing::TempDir dir("reliability");
  std::vector<float> weights(64 * 1024, 1.f);
  ModelShape shape;
  shape.n_layer = 1, shape.d_model = 8, shape.n_head = 2, shape.d_ff = 32, shape.vocab = 10;
  const std::string path = dir.file("step.ckpt");
  std::string message;
  {
    FileSizeLimit limit(16 * 1024);
    message = error_of([&] { save_checkpoint(path, {}, shape, {{"param/w", DType::F32, {64 * 1024}, weights.data()}}); });
  }
  expect_contains(message, {path, "File too large"});
  EXPECT_FALSE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(dir.path())) ADD_FAILURE() << "left behind: " << entry.path();
}

TEST(DiskErrors, AnUnwritableFolderIsFoundByTheProbe) {
  // Root may write anywhere chmod forbids, but not into sysfs.
  const std::string sysfs = "/sys/kernel";
  if (!fs::is_directory(sysfs)) GTEST_SKIP() << "no " << sysfs << " here";
  expect_contains(error_of([&] { check_directory_writable(sysfs, "checkpoint.dir"); }),
                  {"checkpoint.dir", sysfs, "cannot create files there"});
}

TEST(DiskErrors, AReadOnlyFolderIsFoundByTheProbe) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores permissions";
  alibi::testing::TempDir dir("reliability");
  const std::string folder = dir.file("read-only");
  fs::create_directories(folder);
  ::chmod(folder.c_str(), 0555);
  expect_contains(error_of([&] { check_directory_writable(folder, "checkpoint.dir"); }),
                  {"checkpoint.dir", folder, "Permission denied"});
  expect_contains(error_of([&] { check_directory_writable(folder + "/sub", "checkpoint.dir"); }),
                  {"checkpoint.dir", folder + "/sub", "Permission denied"});
  ::chmod(folder.c_str(), 0755);
  EXPECT_NO_THROW(check_directory_writable(folder + "/sub", "checkpoint.dir"));
  EXPECT_TRUE(fs::is_empty(folder + "/sub")) << "the probe file is removed";
}

pid_t a_dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);  // reaped: the pid names no process now
  return pid;
}

TEST(StaleTempFiles, OnlyThoseOfProcessesThatAreGoneAreRemoved) {
  alibi::testing::TempDir dir("reliability");
  const std::string dead = std::to_string(a_dead_pid()), alive = std::to_string(::getpid());
  for (const std::string& name :
       {"step_00000010.ckpt.tmp." + dead, "latest.tmp." + dead, "step_00000020.ckpt.tmp." + alive,
        "notes.txt.tmp." + dead, "step_00000010.ckpt.tmp." + dead + "x", "step_10.ckpt.tmp." + dead,
        std::string("step_00000030.ckpt")})
    dir.write(name, "partial");
  const std::vector<std::string> removed = remove_stale_temp_files(dir.path());
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_FALSE(fs::exists(dir.file("step_00000010.ckpt.tmp." + dead)));
  EXPECT_FALSE(fs::exists(dir.file("latest.tmp." + dead)));
  EXPECT_TRUE(fs::exists(dir.file("step_00000020.ckpt.tmp." + alive))) << "a write in progress is never touched";
  EXPECT_TRUE(fs::exists(dir.file("notes.txt.tmp." + dead))) << "not a file this folder's writer owns";
  EXPECT_TRUE(fs::exists(dir.file("step_00000010.ckpt.tmp." + dead + "x")));
  EXPECT_TRUE(fs::exists(dir.file("step_10.ckpt.tmp." + dead)));
  EXPECT_TRUE(fs::exists(dir.file("step_00000030.ckpt")));
}

// ---------------------------------------------------------------------------
// The trainer
// ---------------------------------------------------------------------------

fs::path fresh_run_dir(const std::string& name) {
  const fs::path dir = alibi::testing::fresh_run_dir(name);
  return dir;
}

Config small_config(const std::string& data_dir, const fs::path& run_dir, std::vector<std::string> more = {}) {
  std::vector<std::string> overrides = {"data.dir=" + data_dir,  "log.run_dir=" + run_dir.string(),
                                        "model.n_layer=1",       "model.d_model=32",
                                        "model.n_head=2",        "train.seq_len=16",
                                        "train.micro_batch=2",   "train.steps=2",
                                        "train.eval_batches=1",  "checkpoint.interval=0",
                                        "runtime.device=cpu",    "runtime.threads=1"};
  overrides.insert(overrides.end(), more.begin(), more.end());
  return parse_config("{}", "test", overrides);
}

TEST(TrainerReliability, AnUnwritableCheckpointFolderFailsBeforeAnyWork) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fresh_run_dir("reliability-readonly");
  std::string folder = "/sys/kernel";  // unwritable even for root
  if (::geteuid() != 0) {
    folder = (run / "read-only").string();
    fs::create_directories(folder);
    ::chmod(folder.c_str(), 0555);
  }
  if (!fs::is_directory(folder)) GTEST_SKIP() << "no unwritable folder to test with";
  const Config config = small_config(data, run, {"checkpoint.dir=" + folder});
  expect_contains(error_of([&] { train(config, {.resume_from = "", .quiet = true}); }), {"checkpoint.dir", folder});
  EXPECT_FALSE(fs::exists(run / "metrics.jsonl")) << "no step may run before the folder is known to be writable";
  if (::geteuid() != 0) ::chmod(folder.c_str(), 0755);
}

TEST(TrainerReliability, StaleTempFilesAreRemovedAtTheStart) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fresh_run_dir("reliability-stale");
  const fs::path checkpoints = run / "checkpoints";
  fs::create_directories(checkpoints);
  const fs::path stale = checkpoints / ("step_00000005.ckpt.tmp." + std::to_string(a_dead_pid()));
  std::ofstream(stale) << "a torn write";
  train(small_config(data, run), {.resume_from = "", .quiet = true});
  EXPECT_FALSE(fs::exists(stale));
}

TEST(TrainerReliability, AMisspeltValidSplitIsAnError) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  const fs::path run = fresh_run_dir("reliability-vaild");
  const Config config = small_config(data, run, {"data.valid_split=vaild"});
  try {
    train(config, {.resume_from = "", .quiet = true});
    FAIL() << "a misspelt valid split must be refused";
  } catch (const DataError& e) {
    expect_contains(e.what(), {"vaild", "valid", "train"});
  }
}

TEST(TrainerReliability, ADatasetWithoutAValidSplitTrainsWithAWarning) {
  const std::string data = alibi::testing::grammar_dataset();
  ASSERT_FALSE(data.empty());
  // A copy of the dataset whose meta.json lists no valid split.
  const fs::path copy = fresh_run_dir("reliability-no-valid-data");
  for (const auto& entry : fs::directory_iterator(data)) fs::copy(entry.path(), copy / entry.path().filename());
  nlohmann::ordered_json meta = nlohmann::ordered_json::parse(std::ifstream(copy / "meta.json"));
  ASSERT_TRUE(meta["splits"].contains("valid"));
  meta["splits"].erase("valid");
  std::ofstream(copy / "meta.json") << meta.dump(2);

  const fs::path run = fresh_run_dir("reliability-no-valid");
  ::testing::internal::CaptureStderr();
  const TrainSummary summary = train(small_config(copy.string(), run), {.resume_from = "", .quiet = true});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(summary.steps_done, 2);
  EXPECT_EQ(summary.final_valid_loss, -1.0);
  expect_contains(err, {"warning", "no split 'valid'", "without validation"});
  EXPECT_EQ(err.find("warning"), err.rfind("warning")) << "said once: " << err;
}

// optimizer_step asks between micro-batches; a "stop" abandons the step
// without touching the weights.
TEST(StepStop, AStopBetweenMicroBatchesAbandonsTheStepWithoutAnUpdate) {
  const Config config = small_config("unused", "unused");
  auto backend = make_backend(config.runtime);
  const ModelShape shape = resolve_model_shape(config, 16);
  Model model(*backend, shape);
  model.load_parameters(init_parameters(model.layout(), shape, 0.02f, 1));
  AdamW optimizer(*backend, model, OptimizerSettings::from(config.train));
  const StepShape step_shape{2, 8, 4};
  model.reserve(step_shape.micro_batch, step_shape.seq_len, /*for_training=*/true);
  int batches = 0, asked = 0;
  auto batch = [&](int64_t, int32_t* inputs, int32_t* targets) {
    ++batches;
    for (int i = 0; i < 16; ++i) inputs[i] = i % 16, targets[i] = (i + 1) % 16;
  };
  std::vector<int32_t> inputs, targets;
  const std::vector<float> before = model.download_parameters();
  const StepOutcome stopped = optimizer_step(model, optimizer, step_shape, 1e-2, 1, 7, batch, inputs, targets, {},
                                             [&] { return ++asked > 2; });
  EXPECT_TRUE(stopped.abandoned);
  EXPECT_EQ(asked, 3) << "asked before micro-batches 2, 3 and 4";
  EXPECT_EQ(batches, 3) << "stopped before the fourth micro-batch";
  EXPECT_EQ(model.download_parameters(), before) << "an abandoned step must not update the weights";
  const StepOutcome full = optimizer_step(model, optimizer, step_shape, 1e-2, 1, 7, batch, inputs, targets, {},
                                          [] { return false; });
  EXPECT_FALSE(full.abandoned);
  EXPECT_EQ(batches, 3 + 4);
  EXPECT_NE(model.download_parameters(), before);
}

}  // namespace
}  // namespace alibi
