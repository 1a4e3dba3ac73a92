#include "train/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <utility>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "core/atomic_file.h"

namespace alibi {

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  if (resume_step >= 0) {
    // Keep only records up to the checkpoint's step.
    std::ifstream in(path);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded()) continue;  // a line torn by the kill
      if (record.value("step", int64_t{0}) <= resume_step) kept += line + "\n";
    }
    write_text_atomically(path, kept);
  }
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw std::runtime_error("cannot open metrics log '" + path + "': " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!file_) throw std::logic_error("metrics log '" + path_ + "' written after close");
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw std::runtime_error("cannot write metrics log '" + path_ + "': " + std::strerror(errno));
}

void MetricsLog::close() {
  if (!file_) return;
  std::FILE* file = std::exchange(file_, nullptr);
  if (std::fclose(file) != 0)
    throw std::runtime_error("cannot close metrics log '" + path_ + "': " + std::strerror(errno));
}

int MetricsLog::fd() const { return file_ ? ::fileno(file_) : -1; }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

ProgressLine::ProgressLine(int64_t total_steps, int64_t interval)
    : total_steps_(total_steps), interval_(interval > 0 ? interval : 1), tty_(::isatty(STDERR_FILENO)) {}

void ProgressLine::update(int64_t step, double loss, double lr, double tokens_per_s, double mfu,
                          double seconds_per_step) {
  const bool last = step == total_steps_;
  if (!tty_ && step % interval_ != 0 && !last && step != 1) return;
  const double eta = seconds_per_step * static_cast<double>(total_steps_ - step);
  char mfu_text[32] = "";
  if (mfu > 0) std::snprintf(mfu_text, sizeof mfu_text, " | MFU %4.1f%%", 100.0 * mfu);
  std::fprintf(stderr, "%sstep %6lld/%lld | loss %.4f | lr %.3e | %8.0f tok/s%s | %6.0f ms/step | ETA %s%s",
               tty_ ? "\r\033[K" : "", static_cast<long long>(step), static_cast<long long>(total_steps_),
               loss, lr, tokens_per_s, mfu_text, 1000.0 * seconds_per_step, format_duration(eta).c_str(),
               tty_ ? "" : "\n");
  line_open_ = tty_;
  std::fflush(stderr);
}

void ProgressLine::message(const std::string& text) {
  std::fprintf(stderr, "%s%s\n", line_open_ ? "\r\033[K" : "", text.c_str());
  line_open_ = false;
  std::fflush(stderr);
}

void ProgressLine::finish() {
  if (line_open_) std::fprintf(stderr, "\n");
  line_open_ = false;
}

}  // namespace alibi
