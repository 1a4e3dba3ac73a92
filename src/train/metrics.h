// The run's metrics log (JSON Lines, one record per step or validation) and
// the live progress line.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace alibi {

class MetricsLog {
 public:
  // Opens <path> for appending. When resuming from `resume_step`, records of
  // later steps (written after that checkpoint by the killed run) are dropped
  // first, so the log reads as one uninterrupted run.
  MetricsLog(const std::string& path, int64_t resume_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // One line, flushed. Throws std::runtime_error naming the path and the
  // system's reason (a full disk, a read-only file system): a run whose log
  // cannot be written stops rather than going on silently.
  void write(const nlohmann::json& record);
  // Closes the file, reporting an error the final flush meets; the destructor
  // closes without reporting.
  void close();
  const std::string& path() const { return path_; }
  // The open file's descriptor (-1 once closed): a signal handler may fsync it.
  int fd() const;

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// A status line on stderr: rewritten in place on a terminal, a plain line
// every `interval` steps otherwise (logs, CI).
class ProgressLine {
 public:
  ProgressLine(int64_t total_steps, int64_t interval);
  void update(int64_t step, double loss, double lr, double tokens_per_s, double mfu,
              double seconds_per_step);
  void message(const std::string& text);  // a permanent line (validation, checkpoint)
  void finish();

 private:
  int64_t total_steps_, interval_;
  bool tty_;
  bool line_open_ = false;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace alibi
