// The Trainer behind train() (trainer.h), shared by the files that define its
// parts: trainer.cpp (the loop, setup, validation) and trainer_checkpoint.cpp
// (saving and restoring the run's state). Internal to src/train.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "config/config.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/shard.h"
#include "dist/communicator.h"
#include "dist/launch_env.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/trainer.h"

namespace alibi {

class Trainer {
 public:
  Trainer(const Config& config, const TrainOptions& options);
  TrainSummary run();

 private:
  void join_job();
  void prepare_checkpoint_dir();
  void open_validation_split();
  void build_optimizer();
  void reserve_activations();
  void restore(const std::string& path);
  void initialize_from(const std::string& source);
  std::string nonfinite_step_message(int64_t step, double loss, int in_a_row) const;
  std::string save();
  std::vector<float> gather_moments(const Tensor& shard);
  std::optional<double> train_step(int64_t step);
  double validate();
  bool any_rank_asks_to_stop();
  bool is_root() const { return rank_ == 0; }
  bool sharded() const { return comm_ && config_.dist.zero1; }
  int64_t tokens_per_step() const { return int64_t{config_.train.micro_batch} * config_.train.seq_len * accum_ * world_; }
  std::string banner() const;

  Config config_;
  TrainOptions options_;
  LaunchInfo launch_;
  int rank_ = 0, world_ = 1, accum_ = 1;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Communicator> comm_;      // null: one process, the plain path
  std::unique_ptr<GradientSync> grad_sync_;
  std::unique_ptr<Buffer> gather_buffer_;   // ZeRO-1: one shard, for checkpoints
  DatasetMeta dataset_;
  std::unique_ptr<ShardReader> train_shard_, valid_shard_;
  std::unique_ptr<WindowLoader> train_loader_, valid_loader_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<AdamW> optimizer_;
  LrSchedule schedule_;
  TrainingState state_;
  Rng rng_;
  std::vector<std::string> notes_;  // said once the run starts (rank 0)
  std::string warning_;             // printed once the run starts, quiet or not (rank 0)
  std::vector<int32_t> inputs_, targets_;
  OptimizerStepInfo last_info_;
};

}  // namespace alibi
