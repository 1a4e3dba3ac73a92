// SIGINT/SIGTERM during training: the first asks the run to stop at the next
// micro-batch (data-parallel: all ranks at the same one) and save a
// checkpoint; a second one flushes the metrics log to disk and exits at once
// with 128 + the signal (docs/reliability.md).
#pragma once

namespace alibi {

// Installs the handlers for its lifetime and restores the previous ones.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Whether a first signal came (any thread may ask).
  static bool requested();
  // The metrics log's descriptor, fsynced before an immediate exit; -1 for
  // none (call it before the log closes).
  static void flush_before_exit(int fd);

 private:
  struct Saved;
  Saved* saved_;
};

}  // namespace alibi
