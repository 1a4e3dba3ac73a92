// A trained model read back for evaluation: its shape, weights and the
// training settings evaluation needs (training length, dataset), without
// the optimizer state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "model/params.h"

namespace alibi {

struct EvalCheckpoint {
  std::string path;          // the checkpoint file
  std::string label;         // short name for tables and plots: "<run>@<step>"
  int64_t step = 0;
  ModelShape shape;
  int64_t train_seq_len = 0; // train.seq_len of the run (the "1x" length)
  std::string data_dir;      // data.dir of the run
  std::string tokenizer_id;
  std::vector<float> params; // laid out by parameter_layout(shape)

  const char* position() const { return position_method_name(shape.position); }
  // Learned position tables have a fixed number of rows; 0 when any length works.
  int64_t position_limit() const;
};

// A checkpoint file, a checkpoint folder (its newest checkpoint) or a run
// folder (the newest in its checkpoints/). Throws CheckpointError when there
// is none, naming the argument.
std::string resolve_checkpoint_path(const std::string& file_or_dir);

// Reads and verifies a checkpoint (load_checkpoint) and keeps what
// evaluation needs. Throws CheckpointError.
EvalCheckpoint load_eval_checkpoint(const std::string& file_or_dir);

// A model on `backend` holding the checkpoint's weights.
std::unique_ptr<Model> make_eval_model(Backend& backend, const EvalCheckpoint& checkpoint);

}  // namespace alibi
