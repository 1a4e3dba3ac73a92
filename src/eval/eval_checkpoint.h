// A trained model read back for evaluation and generation: its shape,
// weights and the training settings they need (training length, dataset,
// tokenizer), without the optimizer state. It comes from a checkpoint or
// from a folder written by alibi-export (src/export/).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "data/tokenizer.h"
#include "export/export_folder.h"
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
  std::string tokenizer_id;   // "" when unknown (a foreign export)
  std::string tokenizer_path; // an export's own tokenizer.model, else ""
  std::vector<float> params; // laid out by parameter_layout(shape)

  const char* position() const { return position_method_name(shape.position); }
  // Learned position tables have a fixed number of rows; 0 when any length works.
  int64_t position_limit() const;
};

// A checkpoint file, a checkpoint folder (its newest checkpoint) or a run
// folder (the newest in its checkpoints/). Throws CheckpointError when there
// is none, naming the argument.
std::string resolve_checkpoint_path(const std::string& file_or_dir);

// Reads and verifies a checkpoint (load_checkpoint), or an exported folder
// (read_export), and keeps what evaluation needs. Throws CheckpointError.
EvalCheckpoint load_eval_checkpoint(const std::string& file_or_dir);

// The tokenizer file to use with the model: `given`, else the export's own,
// else the one of the dataset it was trained on. Throws std::runtime_error
// saying what to give when there is none.
std::string model_tokenizer_path(const std::string& given, const EvalCheckpoint& checkpoint);
// That tokenizer, loaded; it must be the one the model was trained with
// (where that is known).
Tokenizer load_model_tokenizer(const std::string& given, const EvalCheckpoint& checkpoint);

// The checkpoint as alibi-export writes it (its weights move out of it).
ExportedModel exported_model(EvalCheckpoint checkpoint);

// A model on `backend` holding the checkpoint's weights.
std::unique_ptr<Model> make_eval_model(Backend& backend, const EvalCheckpoint& checkpoint);

}  // namespace alibi
