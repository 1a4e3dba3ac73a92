// Data-parallel training on the CPU as users launch it: `mpirun -np 2
// alibi-train` against one process with twice the accumulation, ZeRO-1,
// resuming on another world size, and a failed or hung rank ending the job.
// Skipped (with the reason) where this build has no MPI or no mpirun.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "dist/mpi_runtime.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace alibi {
namespace {

using alibi::testing::bin;
using alibi::testing::run_command;
using alibi::testing::TempDir;

struct JobRun {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

JobRun run_shell(const std::string& command, const TempDir& dir) {
  const std::string log = dir.file("run-" + std::to_string(::getpid()) + ".log");
  const auto start = std::chrono::steady_clock::now();
  JobRun r;
  r.exit_code = run_command(command + " > " + log + " 2>&1");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

// One CPU thread per rank (the machine may have two cores); the same tiny
// model, with dropout, so that the per-micro-batch dropout seeds are tested.
std::string tiny_config(const TempDir& dir, const std::string& data) {
  return dir.write("tiny.yaml",
                   "model: {n_layer: 2, d_model: 32, n_head: 2, dropout: 0.1}\n"
                   "data: {dir: " + data + "}\n"
                   "train: {seq_len: 32, micro_batch: 2, global_batch: 8, steps: 6, lr: 3.0e-3, warmup_steps: 0,\n"
                   "        min_lr_ratio: 1.0, eval_interval: 3, eval_batches: 4}\n"
                   "checkpoint: {interval: 3}\n"
                   "runtime: {device: cpu, threads: 1}\n"
                   "dist: {timeout_s: 20}\n");
}

// `fault`: an ALIBI_FAULT value for every rank, or "".
std::string mpirun(int ranks, const std::string& fault = "") {
  std::string command = "env OMP_WAIT_POLICY=PASSIVE " + (fault.empty() ? "" : "ALIBI_FAULT=" + fault + " ") +
                        "timeout 300 mpirun --oversubscribe --bind-to none -np " + std::to_string(ranks) +
                        " -x OMP_WAIT_POLICY";
  if (!fault.empty()) command += " -x ALIBI_FAULT";
  if (::geteuid() == 0) command += " --allow-run-as-root";
  return command + " ";
}

bool mpirun_usable(std::string* why) {
  if (!mpi_in_build()) {
    *why = "this build has no MPI";
    return false;
  }
  if (run_command("command -v mpirun > /dev/null 2>&1") != 0) {
    *why = "no mpirun on PATH (install openmpi-bin)";
    return false;
  }
  return true;
}

#define SKIP_WITHOUT_MPIRUN()                      \
  do {                                             \
    std::string why;                               \
    if (!mpirun_usable(&why)) GTEST_SKIP() << why; \
  } while (0)

struct Curve {
  std::map<int64_t, double> train, valid;
};

Curve read_curve(const std::string& run_dir) {
  Curve curve;
  std::ifstream in(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    (j["type"] == "train" ? curve.train : curve.valid)[j["step"].get<int64_t>()] = j["loss"].get<double>();
  }
  return curve;
}

// fp32 on both sides: only the order of the gradient sums differs.
void expect_same_curve(const Curve& a, const Curve& b, int64_t from_step = 1) {
  for (const auto& [step, loss] : a.train)
    if (step >= from_step) {
      ASSERT_TRUE(b.train.count(step)) << "step " << step;
      EXPECT_NEAR(loss, b.train.at(step), 2e-4) << "train loss at step " << step;
    }
  for (const auto& [step, loss] : a.valid)
    if (step >= from_step && b.valid.count(step)) {
      EXPECT_NEAR(loss, b.valid.at(step), 2e-4) << "valid loss at step " << step;
    }
}

class DataParallelCli : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = alibi::testing::grammar_dataset();
    ASSERT_FALSE(data_.empty());
  }
  std::string train(const std::string& run, const std::string& extra = "", bool quiet = true) {
    return bin("alibi-train") + (quiet ? " -q" : "") + " --config " + tiny_config(dir_, data_) + " --set log.run_dir=" + dir_.file(run) +
           " " + extra;
  }
  TempDir dir_{"dp-cli"};
  std::string data_;
};

TEST_F(DataParallelCli, TwoRanksTrainLikeOneRankWithTwiceTheAccumulation) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun one = run_shell(train("one"), dir_);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const JobRun two = run_shell(mpirun(2) + train("two", "", /*quiet=*/false), dir_);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const Curve a = read_curve(dir_.file("one")), b = read_curve(dir_.file("two"));
  ASSERT_EQ(a.train.size(), 6u);
  ASSERT_EQ(b.train.size(), 6u) << "rank 0 alone writes one record per step";
  EXPECT_EQ(a.valid.size(), 2u);
  expect_same_curve(a, b);
  // The banner states the split of the global batch.
  EXPECT_NE(two.output.find("global batch 8 sequences = 2 micro x 2 accum x 2 ranks"), std::string::npos) << two.output;
}

TEST_F(DataParallelCli, BucketsWithoutOverlapAndZero1GiveTheSameCurve) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun one = run_shell(train("one"), dir_);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  // Tiny buckets: many of them, some cutting through tensors.
  const JobRun buckets = run_shell(mpirun(2) + train("buckets", "--set dist.bucket_mb=0.01 dist.overlap=false"), dir_);
  ASSERT_EQ(buckets.exit_code, 0) << buckets.output;
  const JobRun zero = run_shell(mpirun(2) + train("zero1", "--set dist.zero1=true"), dir_);
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  const Curve reference = read_curve(dir_.file("one"));
  expect_same_curve(reference, read_curve(dir_.file("buckets")));
  expect_same_curve(reference, read_curve(dir_.file("zero1")));
}

TEST_F(DataParallelCli, ResumeOnAnotherWorldSizeContinuesTheSameRun) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun straight = run_shell(train("straight"), dir_);
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  // Two ranks (ZeRO-1 sharded moments) for three steps, then one rank on.
  const JobRun first = run_shell(mpirun(2) + train("split", "--set train.steps=3 dist.zero1=true"), dir_);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const JobRun rest = run_shell(train("split", "--resume"), dir_);
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  expect_same_curve(read_curve(dir_.file("straight")), read_curve(dir_.file("split")), 4);
}

// SIGTERM reaching rank 1 alone as step 4 starts: after that step's first
// micro-batch the ranks agree to stop, abandon the step together, save the
// state after step 3 and exit 130; resumed, the run goes on as if unbroken.
TEST_F(DataParallelCli, ASignalToOneRankStopsAllBetweenMicroBatches) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun straight = run_shell(train("straight"), dir_);
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  const JobRun stopped = run_shell(mpirun(2, "signal:1:4") + train("stopped", "--set checkpoint.interval=0", false), dir_);
  EXPECT_EQ(stopped.exit_code, 130) << stopped.output;
  EXPECT_NE(stopped.output.find("stopped by signal during step 4"), std::string::npos) << stopped.output;
  const Curve partial = read_curve(dir_.file("stopped"));
  ASSERT_EQ(partial.train.size(), 3u) << "steps 1-3 logged, the abandoned step 4 not";
  const JobRun rest = run_shell(mpirun(2) + train("stopped", "--resume"), dir_);
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  expect_same_curve(read_curve(dir_.file("straight")), read_curve(dir_.file("stopped")));
}

TEST_F(DataParallelCli, AFailedRankEndsTheJobWithItsMessage) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun r = run_shell(mpirun(2, "error:1:2") + train("fail"), dir_);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("alibi-train [rank 1/2]: error: fault injected"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 120) << "the job must end promptly, not wait for the watchdog";
}

TEST_F(DataParallelCli, AHungRankIsCaughtByTheWatchdogWithinTheTimeout) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun r = run_shell(mpirun(2, "hang:1:2") + train("hang", "--set dist.timeout_s=3"), dir_);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 0/2: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has not completed after"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 120) << r.output;
}

TEST_F(DataParallelCli, GlobalBatchThatDoesNotSplitOverTheRanksIsRefused) {
  SKIP_WITHOUT_MPIRUN();
  const JobRun r = run_shell(mpirun(2) + train("bad", "--set train.global_batch=6"), dir_);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train.global_batch = 6 is not a multiple of train.micro_batch x ranks = 2 x 2 = 4"),
            std::string::npos)
      << r.output;
}

TEST_F(DataParallelCli, CpuRanksWithoutMpiGetAClearMessage) {
  const JobRun r = run_shell("timeout 120 bash " + alibi::testing::source_dir() + "/scripts/launch_local.sh -n 2 -- " +
                              train("nompi", "--set dist.rendezvous=file:" + dir_.path()),
                          dir_);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("MPI"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 60) << r.output;
}

}  // namespace
}  // namespace alibi
