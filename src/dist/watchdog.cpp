#include "dist/watchdog.h"

#include <cstdio>
#include <cstdlib>

namespace alibi {

Watchdog::Watchdog(std::chrono::milliseconds timeout, std::string label, Failure on_failure, AsyncError async_error,
                   std::chrono::milliseconds tick)
    : timeout_(timeout),
      tick_(tick),
      label_(std::move(label)),
      on_failure_(std::move(on_failure)),
      async_error_(std::move(async_error)) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::watch(std::string what, std::function<bool()> is_done) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back({next_id_++, std::move(what), std::move(is_done), std::chrono::steady_clock::now()});
}

Watchdog::Guard Watchdog::guard(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  pending_.push_back({id, std::move(what), {}, std::chrono::steady_clock::now()});
  return Guard(*this, id);
}

Watchdog::Guard::~Guard() { dog_.remove(id_); }

void Watchdog::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.remove_if([id](const Pending& p) { return p.id == id; });
}

// Operations complete in issue order, so only the oldest pending one can
// have run out of time first; finished ones are dropped from the front.
std::string Watchdog::check_locked() {
  if (async_error_) {
    const std::string error = async_error_();
    if (!error.empty()) return label_ + ": communication error: " + error;
  }
  while (!pending_.empty() && pending_.front().is_done && pending_.front().is_done()) pending_.pop_front();
  if (pending_.empty()) return "";
  const Pending& oldest = pending_.front();
  const auto waited = std::chrono::steady_clock::now() - oldest.since;
  if (waited < timeout_) return "";
  const double seconds = std::chrono::duration<double>(waited).count();
  char text[160];
  std::snprintf(text, sizeof text, " has not completed after %.1f s (dist.timeout_s = %.1f)", seconds,
                std::chrono::duration<double>(timeout_).count());
  return label_ + ": " + oldest.what + text +
         "; another rank has probably failed or stopped (its own message says why); ending this rank";
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, tick_, [this] { return stopping_; });
    if (stopping_ || failed_) continue;
    const std::string failure = check_locked();
    if (failure.empty()) continue;
    failed_ = true;
    lock.unlock();
    on_failure_(failure);
    lock.lock();
  }
}

Watchdog::Failure Watchdog::exit_process(std::function<void()> before_exit) {
  return [before_exit](const std::string& message) {
    std::fprintf(stderr, "alibi: %s\n", message.c_str());
    std::fflush(stderr);
    if (before_exit) before_exit();
    std::_Exit(1);
  };
}

}  // namespace alibi
