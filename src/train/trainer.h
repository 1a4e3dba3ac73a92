// The training loop: data -> model -> optimizer, with validation, metrics,
// checkpoints and exact resume. Backend-agnostic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace alibi {

struct TrainOptions {
  // Resume from this checkpoint file or checkpoint folder; "" starts fresh.
  std::string resume_from;
  bool quiet = false;  // no progress line (tests)
  // Start fresh in a run folder that holds an earlier run: its checkpoints
  // and metrics log are deleted. Without it, such a start is refused.
  bool overwrite = false;
  // Take the data-parallel code path (a communicator, gradient buckets) even
  // as a single process that no launcher started: tests, and measuring what
  // that path costs.
  bool data_parallel = false;
  // Start fresh from these weights (a checkpoint or an exported folder)
  // instead of a random initialisation.
  std::string init_from = {};
};

struct TrainSummary {
  int64_t steps_done = 0;
  double final_train_loss = 0.0;
  double final_valid_loss = -1.0;  // -1 when no validation split
  std::vector<double> train_losses;  // one per step run in this process
  std::string run_dir, metrics_path, last_checkpoint;  // last_checkpoint: rank 0 only
  int world_size = 1, rank = 0;
  bool interrupted = false;  // stopped early by SIGINT/SIGTERM (after a checkpoint)
};

// Runs training as configured. Throws ConfigError, DataError, CheckpointError
// or std::runtime_error with a message for the user.
TrainSummary train(const Config& config, const TrainOptions& options);

// Resolves a --resume argument: a checkpoint file, or a folder whose newest
// checkpoint is taken. "" when the folder has none.
std::string resolve_resume_path(const std::string& file_or_dir);

}  // namespace alibi
