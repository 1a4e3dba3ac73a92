// A watchdog for collectives. A rank whose peer died would otherwise wait
// forever inside a collective; the watchdog thread notices an operation that
// has not finished within the time-out (or an asynchronous communication
// error) and calls `on_failure` with a message, which by default ends the
// process so that the launcher takes the whole job down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace alibi {

class Watchdog {
 public:
  using Failure = std::function<void(const std::string& message)>;
  using AsyncError = std::function<std::string()>;  // "" while all is well

  // `label` starts every message ("rank 3/8"). `async_error` is polled on
  // every tick; may be empty.
  Watchdog(std::chrono::milliseconds timeout, std::string label, Failure on_failure,
           AsyncError async_error = {}, std::chrono::milliseconds tick = std::chrono::milliseconds(100));
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches an asynchronous operation until is_done() (called from the
  // watchdog thread) returns true.
  void watch(std::string what, std::function<bool()> is_done);

  // Watches a blocking call on this thread for as long as the guard lives.
  class Guard {
   public:
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    friend class Watchdog;
    Guard(Watchdog& dog, uint64_t id) : dog_(dog), id_(id) {}
    Watchdog& dog_;
    uint64_t id_;
  };
  Guard guard(std::string what);

  // The default failure: prints the message to stderr and ends the process
  // with exit status 1 after `before_exit` (e.g. aborting the communicator).
  static Failure exit_process(std::function<void()> before_exit = {});

 private:
  struct Pending {
    uint64_t id;
    std::string what;
    std::function<bool()> is_done;  // empty for a guard: done when removed
    std::chrono::steady_clock::time_point since;
  };
  void run();
  std::string check_locked();  // the failure message, or ""
  void remove(uint64_t id);

  std::chrono::milliseconds timeout_, tick_;
  std::string label_;
  Failure on_failure_;
  AsyncError async_error_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<Pending> pending_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool failed_ = false;
  std::thread thread_;
};

}  // namespace alibi
