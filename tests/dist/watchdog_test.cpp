// The watchdog: an operation that does not finish in time, or an
// asynchronous error, is reported once with its description; finished
// operations are not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "dist/watchdog.h"

namespace alibi {
namespace {

using namespace std::chrono_literals;

struct Reports {
  std::mutex mutex;
  std::vector<std::string> messages;
  Watchdog::Failure sink() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(m);
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return messages.size();
  }
};

TEST(Watchdog, ABlockingCallPastTheTimeoutIsReportedWithItsName) {
  Reports reports;
  Watchdog dog(200ms, "rank 1/4", reports.sink(), {}, 10ms);
  {
    auto guard = dog.guard("all-reduce of gradient bucket 3");
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(reports.count(), 1u);
  const std::string& m = reports.messages[0];
  EXPECT_NE(m.find("rank 1/4: all-reduce of gradient bucket 3 has not completed after"), std::string::npos) << m;
  EXPECT_NE(m.find("dist.timeout_s"), std::string::npos) << m;
}

TEST(Watchdog, OperationsThatFinishInTimeAreNotReported) {
  Reports reports;
  Watchdog dog(300ms, "rank 0/2", reports.sink(), {}, 10ms);
  for (int i = 0; i < 5; ++i) {
    auto guard = dog.guard("short call");
    std::this_thread::sleep_for(20ms);
  }
  std::atomic<bool> done{false};
  dog.watch("async op", [&] { return done.load(); });
  std::this_thread::sleep_for(100ms);
  done = true;
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(reports.count(), 0u);
}

TEST(Watchdog, AnAsyncOperationThatNeverCompletesIsReported) {
  Reports reports;
  Watchdog dog(150ms, "rank 2/3", reports.sink(), {}, 10ms);
  dog.watch("broadcast of the weights", [] { return false; });
  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(reports.count(), 1u) << "reported once, not on every tick";
  EXPECT_NE(reports.messages[0].find("broadcast of the weights"), std::string::npos);
}

TEST(Watchdog, AnAsynchronousErrorIsReportedAtOnce) {
  Reports reports;
  std::atomic<bool> broken{false};
  Watchdog dog(60s, "rank 0/8", reports.sink(), [&]() -> std::string { return broken ? "remote process exited" : ""; },
               10ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(reports.count(), 0u);
  broken = true;
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(reports.count(), 1u);
  EXPECT_NE(reports.messages[0].find("rank 0/8: communication error: remote process exited"), std::string::npos);
}

}  // namespace
}  // namespace alibi
