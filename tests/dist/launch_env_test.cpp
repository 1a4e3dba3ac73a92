#include "dist/launch_env.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace alibi {
namespace {

using Env = std::map<std::string, std::string>;

LaunchInfo detect(const Env& vars) {
  return detect_launch([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

// The message detection throws for `vars` ("" when it does not throw).
std::string error_for(const Env& vars) {
  try {
    detect(vars);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void expect_info(const LaunchInfo& info, const std::string& launcher, int rank, int world, int local_rank,
                 int local_world) {
  EXPECT_EQ(info.launcher, launcher);
  EXPECT_EQ(info.rank, rank);
  EXPECT_EQ(info.world_size, world);
  EXPECT_EQ(info.local_rank, local_rank);
  EXPECT_EQ(info.local_world_size, local_world);
}

const Env kOpenMpi = {{"OMPI_COMM_WORLD_RANK", "5"},
                      {"OMPI_COMM_WORLD_SIZE", "8"},
                      {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                      {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
                      {"OMPI_MCA_ess_base_jobid", "3124756481"}};
const Env kHydra = {{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}};
const Env kSrun = {{"SLURM_PROCID", "6"},          {"SLURM_STEP_NUM_TASKS", "8"},
                   {"SLURM_LOCALID", "2"},         {"SLURM_STEP_TASKS_PER_NODE", "4(x2)"},
                   {"SLURM_NTASKS", "8"},          {"SLURM_NODEID", "1"},
                   {"SLURM_JOB_ID", "41234"},      {"SLURM_STEP_ID", "0"}};

// `a` with the variables of `b` added (b's value wins).
Env merged(Env a, const Env& b) {
  for (const auto& [name, value] : b) a[name] = value;
  return a;
}

TEST(LaunchEnvTest, NothingSetMeansOneProcess) {
  const LaunchInfo info = detect({{"HOME", "/root"}});
  expect_info(info, "single", 0, 1, 0, 1);
  EXPECT_FALSE(info.distributed());
  EXPECT_EQ(info.job_id, "");
}

TEST(LaunchEnvTest, AlibiVariables) {
  const LaunchInfo info = detect({{"ALIBI_RANK", "3"},
                                  {"ALIBI_WORLD_SIZE", "8"},
                                  {"ALIBI_LOCAL_RANK", "1"},
                                  {"ALIBI_LOCAL_WORLD_SIZE", "2"},
                                  {"ALIBI_JOB_ID", "exp7"}});
  expect_info(info, "alibi", 3, 8, 1, 2);
  EXPECT_TRUE(info.distributed());
  EXPECT_EQ(info.job_id, "exp7");
  EXPECT_EQ(info.label(), "rank 3/8");
}

TEST(LaunchEnvTest, AlibiLocalDefaultsToGlobal) {
  const LaunchInfo info = detect({{"ALIBI_RANK", "2"}, {"ALIBI_WORLD_SIZE", "4"}});
  expect_info(info, "alibi", 2, 4, 2, 4);
  EXPECT_EQ(info.job_id, "");
}

TEST(LaunchEnvTest, EmptyValueCountsAsUnset) {
  expect_info(detect({{"ALIBI_RANK", ""}, {"ALIBI_WORLD_SIZE", ""}}), "single", 0, 1, 0, 1);
}

TEST(LaunchEnvTest, OpenMpi) {
  const LaunchInfo info = detect(kOpenMpi);
  expect_info(info, "openmpi", 5, 8, 1, 4);
  EXPECT_EQ(info.job_id, "3124756481");
}

TEST(LaunchEnvTest, MpichHydra) {
  const LaunchInfo info = detect(kHydra);
  expect_info(info, "mpich", 3, 4, 1, 2);
  EXPECT_EQ(info.job_id, "");
}

TEST(LaunchEnvTest, MpichPmiLocalNames) {
  const LaunchInfo info =
      detect({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"PMI_LOCAL_RANK", "1"}, {"PMI_LOCAL_SIZE", "2"}});
  expect_info(info, "mpich", 1, 2, 1, 2);
}

TEST(LaunchEnvTest, SlurmSrun) {
  const LaunchInfo info = detect(kSrun);
  expect_info(info, "slurm", 6, 8, 2, 4);
  EXPECT_EQ(info.job_id, "41234.0");
}

TEST(LaunchEnvTest, SlurmUnevenTasksPerNodeUsesNodeId) {
  Env env = kSrun;
  env["SLURM_STEP_NUM_TASKS"] = "7";
  env["SLURM_STEP_TASKS_PER_NODE"] = "3(x2),1";
  env["SLURM_NODEID"] = "2";
  env["SLURM_PROCID"] = "6";
  env["SLURM_LOCALID"] = "0";
  expect_info(detect(env), "slurm", 6, 7, 0, 1);
  env["SLURM_NODEID"] = "0";
  env["SLURM_LOCALID"] = "2";
  expect_info(detect(env), "slurm", 6, 7, 2, 3);
}

TEST(LaunchEnvTest, SlurmOneNodeWithoutTasksPerNode) {
  const LaunchInfo info = detect({{"SLURM_PROCID", "1"},
                                  {"SLURM_STEP_NUM_TASKS", "2"},
                                  {"SLURM_LOCALID", "1"},
                                  {"SLURM_STEP_NUM_NODES", "1"},
                                  {"SLURM_JOB_ID", "9"}});
  expect_info(info, "slurm", 1, 2, 1, 2);
  EXPECT_EQ(info.job_id, "9");
}

// An sbatch script (no srun) has SLURM_NTASKS and even SLURM_PROCID but is one process.
TEST(LaunchEnvTest, SbatchWithoutSrunIsOneProcess) {
  const LaunchInfo info =
      detect({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "0"}, {"SLURM_JOB_ID", "41234"}, {"SLURM_LOCALID", "0"}});
  expect_info(info, "single", 0, 1, 0, 1);
}

TEST(LaunchEnvTest, PrecedenceAlibiThenOpenMpiThenMpichThenSlurm) {
  const Env alibi = {{"ALIBI_RANK", "0"}, {"ALIBI_WORLD_SIZE", "2"}};
  EXPECT_EQ(detect(merged(merged(merged(alibi, kOpenMpi), kHydra), kSrun)).launcher, "alibi");
  EXPECT_EQ(detect(merged(merged(kOpenMpi, kHydra), kSrun)).launcher, "openmpi");
  EXPECT_EQ(detect(merged(kHydra, kSrun)).launcher, "mpich");
  EXPECT_EQ(detect(kSrun).launcher, "slurm");
}

TEST(LaunchEnvTest, NonIntegerValueIsNamed) {
  const std::string e = error_for({{"ALIBI_RANK", "one"}, {"ALIBI_WORLD_SIZE", "2"}});
  EXPECT_NE(e.find("ALIBI_RANK='one'"), std::string::npos) << e;
  EXPECT_NE(e.find("not an integer"), std::string::npos) << e;
  EXPECT_NE(error_for({{"ALIBI_RANK", "1"}, {"ALIBI_WORLD_SIZE", "2x"}}).find("ALIBI_WORLD_SIZE='2x'"),
            std::string::npos);
  EXPECT_NE(error_for(merged(kOpenMpi, {{"OMPI_COMM_WORLD_LOCAL_RANK", " 1"}})).find("OMPI_COMM_WORLD_LOCAL_RANK"),
            std::string::npos);
}

TEST(LaunchEnvTest, RankNotBelowWorldIsNamed) {
  const std::string e = error_for({{"ALIBI_RANK", "4"}, {"ALIBI_WORLD_SIZE", "4"}});
  EXPECT_NE(e.find("ALIBI_RANK='4'"), std::string::npos) << e;
  EXPECT_NE(e.find("ALIBI_WORLD_SIZE='4'"), std::string::npos) << e;
  EXPECT_NE(error_for({{"ALIBI_RANK", "-1"}, {"ALIBI_WORLD_SIZE", "4"}}).find("ALIBI_RANK='-1'"), std::string::npos);
  EXPECT_NE(error_for(merged(kHydra, {{"MPI_LOCALRANKID", "2"}})).find("MPI_LOCALRANKID='2'"), std::string::npos);
}

TEST(LaunchEnvTest, WorldBelowOneIsNamed) {
  const std::string e = error_for({{"ALIBI_RANK", "0"}, {"ALIBI_WORLD_SIZE", "0"}});
  EXPECT_NE(e.find("ALIBI_WORLD_SIZE='0'"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 1"), std::string::npos) << e;
}

TEST(LaunchEnvTest, PartialAlibiSetIsAnError) {
  std::string e = error_for({{"ALIBI_RANK", "1"}});
  EXPECT_NE(e.find("ALIBI_RANK='1'"), std::string::npos) << e;
  EXPECT_NE(e.find("ALIBI_WORLD_SIZE"), std::string::npos) << e;
  e = error_for({{"ALIBI_WORLD_SIZE", "4"}});
  EXPECT_NE(e.find("ALIBI_WORLD_SIZE='4'"), std::string::npos) << e;
  EXPECT_NE(e.find("ALIBI_RANK"), std::string::npos) << e;
  e = error_for({{"ALIBI_RANK", "1"}, {"ALIBI_WORLD_SIZE", "4"}, {"ALIBI_LOCAL_RANK", "1"}});
  EXPECT_NE(e.find("ALIBI_LOCAL_RANK='1'"), std::string::npos) << e;
  EXPECT_NE(e.find("ALIBI_LOCAL_WORLD_SIZE"), std::string::npos) << e;
  e = error_for({{"ALIBI_LOCAL_RANK", "1"}, {"ALIBI_LOCAL_WORLD_SIZE", "2"}});
  EXPECT_NE(e.find("ALIBI_RANK"), std::string::npos) << e;
}

TEST(LaunchEnvTest, MpiWithoutLocalVariablesIsAnError) {
  Env env = kOpenMpi;
  env.erase("OMPI_COMM_WORLD_LOCAL_SIZE");
  const std::string e = error_for(env);
  EXPECT_NE(e.find("OMPI_COMM_WORLD_LOCAL_RANK='1'"), std::string::npos) << e;
  EXPECT_NE(e.find("OMPI_COMM_WORLD_LOCAL_SIZE"), std::string::npos) << e;
}

TEST(LaunchEnvTest, LocalWorldLargerThanWorldIsAnError) {
  const std::string e = error_for(
      {{"ALIBI_RANK", "1"}, {"ALIBI_WORLD_SIZE", "2"}, {"ALIBI_LOCAL_RANK", "1"}, {"ALIBI_LOCAL_WORLD_SIZE", "3"}});
  EXPECT_NE(e.find("ALIBI_LOCAL_WORLD_SIZE='3'"), std::string::npos) << e;
}

TEST(LaunchEnvTest, BadSlurmTasksPerNodeIsNamed) {
  Env env = kSrun;
  env["SLURM_STEP_TASKS_PER_NODE"] = "4(x2";
  EXPECT_NE(error_for(env).find("SLURM_STEP_TASKS_PER_NODE='4(x2'"), std::string::npos) << error_for(env);
  env["SLURM_STEP_TASKS_PER_NODE"] = "4,2";
  env["SLURM_NODEID"] = "5";
  EXPECT_NE(error_for(env).find("SLURM_NODEID='5'"), std::string::npos) << error_for(env);
  env = kSrun;
  env.erase("SLURM_LOCALID");
  EXPECT_NE(error_for(env).find("SLURM_LOCALID"), std::string::npos) << error_for(env);
}

}  // namespace
}  // namespace alibi
