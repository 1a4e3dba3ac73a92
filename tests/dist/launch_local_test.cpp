// scripts/launch_local.sh, run as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_data.h"

namespace alibi {
namespace {

struct LaunchRun {
  int status = -1;
  std::string output;  // stdout and stderr
  double seconds = 0;
};

// Runs launch_local.sh with `args` through the shell.
LaunchRun launch_local(const std::string& args) {
  const std::string command = "bash " + testing::source_dir() + "/scripts/launch_local.sh " + args + " 2>&1";
  const auto start = std::chrono::steady_clock::now();
  LaunchRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

TEST(LaunchLocalTest, StartsEveryRankWithItsVariables) {
  const LaunchRun run = launch_local(
      "-n 3 -- sh -c 'echo \"$ALIBI_RANK $ALIBI_WORLD_SIZE $ALIBI_LOCAL_RANK $ALIBI_LOCAL_WORLD_SIZE "
      "${ALIBI_JOB_ID:+job}\"'");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(sorted_lines(run.output), (std::vector<std::string>{"0 3 0 3 job", "1 3 1 3 job", "2 3 2 3 job"}))
      << run.output;
}

TEST(LaunchLocalTest, OneFailingRankStopsTheOthersAndIsNamed) {
  // Rank 1 fails; the others would sleep for a minute if nobody stopped them.
  const LaunchRun run = launch_local("-n 3 sh -c 'if [ \"$ALIBI_RANK\" = 1 ]; then exit 3; fi; sleep 60'");
  EXPECT_EQ(run.status, 3) << run.output;
  EXPECT_NE(run.output.find("rank 1 of 3 exited with status 3"), std::string::npos) << run.output;
  EXPECT_LT(run.seconds, 8.0) << "the other ranks did not stop on SIGTERM";
}

TEST(LaunchLocalTest, RefusesABadCount) {
  const LaunchRun run = launch_local("-n zero true");
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_NE(run.output.find("-n needs a positive integer"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace alibi
