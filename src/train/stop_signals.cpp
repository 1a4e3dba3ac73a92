#include "train/stop_signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace alibi {
namespace {

// Only async-signal-safe calls in the handler: write, fsync, _exit.
std::atomic<int> g_stop_signals{0};
std::atomic<int> g_metrics_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

constexpr char kFirstSignalNote[] =
    "\nalibi-train: stopping: a checkpoint is saved after the current micro-batch (data-parallel: step); signal again "
    "to exit at once\n";
constexpr char kSecondSignalNote[] =
    "\nalibi-train: second signal: exiting at once; the last checkpoint saved is intact\n";

void write_note(const char* text, size_t size) {
  ssize_t ignored = ::write(STDERR_FILENO, text, size);
  (void)ignored;  // nothing to do about a failed write to stderr in a handler
}

extern "C" void on_stop_signal(int signal_number) {
  if (g_stop_signals.fetch_add(1) == 0) {
    write_note(kFirstSignalNote, sizeof kFirstSignalNote - 1);
    return;
  }
  write_note(kSecondSignalNote, sizeof kSecondSignalNote - 1);
  // Every record was already flushed to the kernel; make it durable.
  const int fd = g_metrics_fd.load();
  if (fd >= 0) ::fsync(fd);
  ::_exit(128 + signal_number);
}

}  // namespace

struct StopSignals::Saved {
  struct sigaction old_int{}, old_term{};
};

StopSignals::StopSignals() : saved_(new Saved) {
  g_stop_signals = 0;
  struct sigaction action{};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &saved_->old_int);
  ::sigaction(SIGTERM, &action, &saved_->old_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &saved_->old_int, nullptr);
  ::sigaction(SIGTERM, &saved_->old_term, nullptr);
  g_metrics_fd = -1;
  delete saved_;
}

bool StopSignals::requested() { return g_stop_signals.load() > 0; }

void StopSignals::flush_before_exit(int fd) { g_metrics_fd = fd; }

}  // namespace alibi
