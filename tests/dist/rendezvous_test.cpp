#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <thread>

#include "support/temp_dir.h"

namespace alibi {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Running ranks as real processes
// ---------------------------------------------------------------------------

struct ChildResult {
  int exit_code = -1;  // 0: body returned, 1: it threw, -1: killed at the time limit
  std::string output;  // what body returned, or the exception's message
};

// Runs body(i) for i in [0, count) in forked children, in parallel. Each
// child sends its result through a pipe and _exit()s; children still
// running after `limit` are killed, so a hang fails the test instead of
// stalling it.
std::vector<ChildResult> run_in_children(int count, const std::function<std::string(int)>& body,
                                         std::chrono::milliseconds limit = 20s) {
  std::vector<pid_t> pids(count);
  std::vector<int> pipes(count);
  for (int i = 0; i < count; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pids[i] = ::fork();
    if (pids[i] == 0) {
      ::close(fds[0]);
      std::string out;
      int code = 0;
      try {
        out = body(i);
      } catch (const std::exception& e) {
        out = e.what();
        code = 1;
      }
      for (size_t done = 0; done < out.size();) {
        const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      ::_exit(code);  // not exit(): the parent's atexit handlers and gtest state are not ours
    }
    ::close(fds[1]);
    pipes[i] = fds[0];
  }
  std::vector<ChildResult> results(count);
  const auto deadline = Clock::now() + limit;
  std::vector<bool> open(count, true);
  int still_open = count;
  while (still_open > 0 && Clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<int> which;
    for (int i = 0; i < count; ++i) {
      if (open[i]) fds.push_back({pipes[i], POLLIN, 0}), which.push_back(i);
    }
    ::poll(fds.data(), fds.size(), 100);
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      char buffer[4096];
      const ssize_t n = ::read(pipes[which[k]], buffer, sizeof buffer);
      if (n > 0) {
        results[which[k]].output.append(buffer, static_cast<size_t>(n));
      } else {
        open[which[k]] = false;
        --still_open;
      }
    }
  }
  for (int i = 0; i < count; ++i) {
    ::close(pipes[i]);
    if (open[i]) ::kill(pids[i], SIGKILL);
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    if (!open[i] && WIFEXITED(status)) results[i].exit_code = WEXITSTATUS(status);
  }
  return results;
}

// A port nobody listens on now: bind port 0, read the one the kernel chose, close.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string tcp_address() { return "tcp://127.0.0.1:" + std::to_string(free_port()); }

// A distinct job id per test, so parallel ctest processes and earlier tests never meet.
std::string unique_job() {
  static std::atomic<int> counter{0};
  return "test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

LaunchInfo rank_of(int rank, int world, const std::string& job) {
  LaunchInfo info;
  info.rank = rank;
  info.world_size = world;
  info.local_rank = rank;
  info.local_world_size = world;
  info.launcher = "alibi";
  info.job_id = job;
  return info;
}

std::vector<uint8_t> test_blob(uint8_t seed) {
  std::vector<uint8_t> blob(128);
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<uint8_t>(seed + 7 * i);
  return blob;
}

std::string as_text(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

// Each rank of `world` calls share_from_rank0 (rank 0 with `blob`, the
// others with nothing); `before(rank)` runs first (a delay, say).
std::vector<ChildResult> share_in_children(int world, const std::string& address, const std::vector<uint8_t>& blob,
                                           std::chrono::milliseconds timeout,
                                           const std::function<void(int)>& before = [](int) {}) {
  const std::string job = unique_job();
  return run_in_children(world, [&](int rank) {
    before(rank);
    const std::vector<uint8_t> mine = rank == 0 ? blob : std::vector<uint8_t>{};
    return as_text(share_from_rank0(rank_of(rank, world, job), address, mine, timeout));
  });
}

// The message share_from_rank0 throws in this process, and how long it took.
std::string error_in_process(const LaunchInfo& launch, const std::string& address, std::chrono::milliseconds timeout,
                             double* seconds = nullptr) {
  const auto start = Clock::now();
  std::string message;
  try {
    share_from_rank0(launch, address, test_blob(1), timeout);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  if (seconds) *seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return message;
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << "in: " << (text)

// ---------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------

TEST(RendezvousTcpTest, FourRanksGetTheBlob) {
  const std::vector<uint8_t> blob = test_blob(3);
  const auto results = share_in_children(4, tcp_address(), blob, 10s);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << ": " << results[r].output;
    EXPECT_EQ(results[r].output, as_text(blob)) << "rank " << r;
  }
}

TEST(RendezvousTcpTest, RankZeroMayStartLast) {
  const std::vector<uint8_t> blob = test_blob(9);
  const auto results = share_in_children(3, tcp_address(), blob, 10s, [](int rank) {
    if (rank == 0) std::this_thread::sleep_for(700ms);
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << ": " << results[r].output;
    EXPECT_EQ(results[r].output, as_text(blob)) << "rank " << r;
  }
}

TEST(RendezvousTcpTest, RankZeroNamesTheRankThatNeverArrived) {
  const std::string address = tcp_address();
  const std::string job = unique_job();
  const auto results = run_in_children(2, [&](int rank) {
    // world 3, but rank 2 is never started
    return as_text(share_from_rank0(rank_of(rank, 3, job), address, test_blob(1), 1500ms));
  });
  EXPECT_EQ(results[1].exit_code, 0) << results[1].output;  // rank 1 got its blob at once
  EXPECT_EQ(results[0].exit_code, 1);
  EXPECT_HAS(results[0].output, "rank 2 of 3 never arrived");
  EXPECT_HAS(results[0].output, address);
}

TEST(RendezvousTcpTest, RankZeroTimesOutOnTime) {
  double seconds = 0;
  const std::string address = tcp_address();
  const std::string e = error_in_process(rank_of(0, 3, unique_job()), address, 1000ms, &seconds);
  EXPECT_HAS(e, "ranks 1, 2 of 3 never arrived");
  EXPECT_HAS(e, address);
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 3.0);
}

TEST(RendezvousTcpTest, RankWithoutRankZeroSaysSo) {
  double seconds = 0;
  const std::string address = tcp_address();
  const std::string e = error_in_process(rank_of(2, 4, unique_job()), address, 1000ms, &seconds);
  EXPECT_HAS(e, "rank 2/4 could not reach rank 0 within 1 s");
  EXPECT_HAS(e, address);
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 3.0);
}

TEST(RendezvousTcpTest, DuplicateRankIsRefused) {
  const std::string address = tcp_address();
  const std::string job = unique_job();
  // Three processes, world 3: rank 0 and two that both claim rank 1.
  const auto results = run_in_children(3, [&](int i) {
    const int rank = i == 0 ? 0 : 1;
    return as_text(share_from_rank0(rank_of(rank, 3, job), address, test_blob(1), 1500ms));
  });
  EXPECT_EQ(results[0].exit_code, 1);
  EXPECT_HAS(results[0].output, "rank 2 of 3 never arrived");
  EXPECT_HAS(results[0].output, "duplicate");
  EXPECT_EQ(results[1].exit_code + results[2].exit_code, 1) << results[1].output << " | " << results[2].output;
  const std::string refused = results[1].exit_code ? results[1].output : results[2].output;
  EXPECT_HAS(refused, "rank 0 refused rank 1/3");
  EXPECT_HAS(refused, "duplicate");
}

TEST(RendezvousTcpTest, AnotherJobsRankZeroIsNotUsed) {
  const std::string address = tcp_address();
  const std::string job = unique_job();
  const auto results = run_in_children(2, [&](int rank) {
    return as_text(share_from_rank0(rank_of(rank, rank == 0 ? 2 : 3, job), address, test_blob(1), 1500ms));
  });
  // Not this rank's rank 0: it keeps trying (its own may come) and says why at the end.
  EXPECT_EQ(results[1].exit_code, 1);
  EXPECT_HAS(results[1].output, "could not reach rank 0");
  EXPECT_HAS(results[1].output, "another job");
  EXPECT_HAS(results[1].output, "world size is 3, rank 0 says 2");
  EXPECT_HAS(results[0].output, "rank 1 of 2 never arrived");
}

// ---------------------------------------------------------------------------
// Shared folder
// ---------------------------------------------------------------------------

TEST(RendezvousFileTest, FourRanksGetTheBlobAndNothingIsLeft) {
  testing::TempDir dir("rendezvous");
  const std::vector<uint8_t> blob = test_blob(5);
  const auto results = share_in_children(4, "file:" + dir.path(), blob, 10s, [](int rank) {
    if (rank == 0) std::this_thread::sleep_for(300ms);  // the others poll before the file exists
  });
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << ": " << results[r].output;
    EXPECT_EQ(results[r].output, as_text(blob)) << "rank " << r;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "rank 0 leaves no files behind";
}

TEST(RendezvousFileTest, RankZeroNamesTheRanksThatNeverArrived) {
  testing::TempDir dir("rendezvous");
  double seconds = 0;
  const std::string e = error_in_process(rank_of(0, 3, unique_job()), "file:" + dir.path(), 1000ms, &seconds);
  EXPECT_HAS(e, "ranks 1, 2 of 3 never arrived");
  EXPECT_HAS(e, dir.path());
  EXPECT_LT(seconds, 3.0);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "rank 0 removes its file when it gives up";
}

TEST(RendezvousFileTest, RankWithoutRankZeroSaysSo) {
  testing::TempDir dir("rendezvous");
  double seconds = 0;
  const std::string e = error_in_process(rank_of(1, 2, unique_job()), "file:" + dir.path() + "/sub", 1000ms, &seconds);
  EXPECT_HAS(e, "rank 1/2: rank 0's file");
  EXPECT_HAS(e, "never appeared within 1 s");
  EXPECT_HAS(e, dir.path());
  EXPECT_LT(seconds, 3.0);
}

// A blob file as rank 0 writes it, but written `age` ago.
void write_blob_file(const testing::TempDir& dir, const std::string& job, int world, std::chrono::seconds age) {
  const auto written = std::chrono::system_clock::now() - age;
  const long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(written.time_since_epoch()).count();
  const std::string blob = as_text(test_blob(66));
  dir.write("alibi-rendezvous-" + job + ".blob", "alibi-rendezvous 1 token=00000000000000aa world=" +
                                                     std::to_string(world) + " written_ns=" + std::to_string(ns) +
                                                     " bytes=" + std::to_string(blob.size()) + "\n" + blob);
}

TEST(RendezvousFileTest, StaleFileIsNotTaken) {
  testing::TempDir dir("rendezvous");
  const std::string job = unique_job();
  write_blob_file(dir, job, 2, std::chrono::hours(1));
  const std::string e = error_in_process(rank_of(1, 2, job), "file:" + dir.path(), 1000ms);
  EXPECT_HAS(e, "never appeared");
  EXPECT_HAS(e, "stale");
}

TEST(RendezvousFileTest, FileForAnotherWorldSizeIsNotTaken) {
  testing::TempDir dir("rendezvous");
  const std::string job = unique_job();
  write_blob_file(dir, job, 4, std::chrono::seconds(0));
  const std::string e = error_in_process(rank_of(1, 2, job), "file:" + dir.path(), 1000ms);
  EXPECT_HAS(e, "never appeared");
  EXPECT_HAS(e, "world size is 4");
}

TEST(RendezvousFileTest, LeftoverFileIsReplacedByRankZero) {
  testing::TempDir dir("rendezvous");
  const std::vector<uint8_t> blob = test_blob(11);
  const std::string job = unique_job();
  write_blob_file(dir, job, 3, std::chrono::hours(2));
  const auto results = run_in_children(3, [&](int rank) {
    if (rank == 0) std::this_thread::sleep_for(300ms);
    return as_text(share_from_rank0(rank_of(rank, 3, job), "file:" + dir.path(), rank == 0 ? blob : std::vector<uint8_t>{}, 10s));
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << ": " << results[r].output;
    EXPECT_EQ(results[r].output, as_text(blob)) << "rank " << r;
  }
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

EnvLookup env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

LaunchInfo two_nodes(int rank) {
  LaunchInfo info = rank_of(rank, 4, "");
  info.local_world_size = 2;
  info.local_rank = rank % 2;
  return info;
}

TEST(RendezvousAddressTest, ExplicitAddressIsKept) {
  EXPECT_EQ(resolve_rendezvous_address("tcp://node7:1234", two_nodes(1), env_of({})), "tcp://node7:1234");
  EXPECT_EQ(resolve_rendezvous_address("file:/shared/rv", two_nodes(1), env_of({})), "file:/shared/rv");
  EXPECT_EQ(resolve_rendezvous_address("tcp://[::1]:80", two_nodes(1), env_of({})), "tcp://[::1]:80");
}

TEST(RendezvousAddressTest, BadAddressesAreRefused) {
  for (const std::string bad : {"tcp://node7", "tcp://node7:0", "tcp://node7:99999", "tcp://:80", "udp://x:1", "file:",
                                "mpi", "node7:1234"}) {
    EXPECT_THROW(resolve_rendezvous_address(bad, two_nodes(0), env_of({})), std::runtime_error) << bad;
  }
  EXPECT_THROW(resolve_rendezvous_address("auto", two_nodes(0), env_of({{"ALIBI_RENDEZVOUS", "auto"}})),
               std::runtime_error);
}

TEST(RendezvousAddressTest, AutoPrefersAlibiRendezvousThenMaster) {
  const auto both = env_of({{"ALIBI_RENDEZVOUS", "file:/shared/x"}, {"MASTER_ADDR", "n1"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(resolve_rendezvous_address("auto", two_nodes(3), both), "file:/shared/x");
  const auto master = env_of({{"MASTER_ADDR", "n1"}, {"MASTER_PORT", "29500"}});
  EXPECT_EQ(resolve_rendezvous_address("auto", two_nodes(3), master), "tcp://n1:29500");
}

TEST(RendezvousAddressTest, AutoOnOneNodeUsesLoopback) {
  EXPECT_EQ(resolve_rendezvous_address("auto", rank_of(1, 4, ""), env_of({{"MASTER_ADDR", "n1"}})),
            "tcp://127.0.0.1:29517");
}

TEST(RendezvousAddressTest, AutoOnSeveralNodesSaysWhatToSet) {
  try {
    resolve_rendezvous_address("auto", two_nodes(2), env_of({}));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_HAS(message, "ALIBI_RENDEZVOUS");
    EXPECT_HAS(message, "MASTER_ADDR");
  }
}

TEST(RendezvousAddressTest, MpiIsRecognised) {
  EXPECT_TRUE(rendezvous_is_mpi("mpi"));
  EXPECT_FALSE(rendezvous_is_mpi("auto"));
  EXPECT_FALSE(rendezvous_is_mpi("tcp://a:1"));
}

TEST(RendezvousAddressTest, OneProcessNeedsNoRendezvous) {
  const std::vector<uint8_t> blob = test_blob(2);
  EXPECT_EQ(share_from_rank0(LaunchInfo{}, "tcp://unreachable.invalid:1", blob, 1ms), blob);
}

}  // namespace
}  // namespace alibi
