// Checkpoints: one self-describing file per save (docs/checkpoint.md).
//
//   "ALIBICKP" | u32 version | u32 0 | u64 header bytes | header JSON |
//   zero padding to 64 bytes | tensor data | u64 FNV-1a of all before | "ALIBIEND"
//
// The header names every tensor with its dtype, shape and byte offset, and
// holds the training state (step, data position, RNG), the model shape and
// the resolved config. Files are written to a temporary name, synced, and
// renamed, so a crash never leaves a half-written checkpoint under a real name.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "model/params.h"

namespace alibi {

constexpr uint32_t kCheckpointVersion = 1;

struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TrainingState {
  int64_t step = 0;             // optimizer steps completed
  int64_t tokens_seen = 0;      // training tokens consumed (global)
  int64_t loader_position = 0;  // training windows consumed (global)
  uint64_t rng_state = 0;       // trainer RNG (dropout seeds)
  std::string config_yaml;      // the resolved config the run was started with
  std::string tokenizer_id;     // of the dataset the run trains on
  int64_t data_vocab = 0;
};

// A tensor to save: host memory, f32 or i32.
struct HostTensorRef {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

struct LoadedTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<char> bytes;
  const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
};

struct Checkpoint {
  TrainingState state;
  ModelShape model;
  std::map<std::string, LoadedTensor> tensors;
  std::string path;
  // The header's record of whether every "param/" value was finite when it
  // was saved (readers still check the values); empty in older files.
  std::optional<bool> weights_finite;

  const LoadedTensor& tensor(const std::string& name) const;
};

nlohmann::json model_shape_to_json(const ModelShape& shape);
// Validates every field against the config schema's ranges (n_head >= 1,
// d_model divisible by n_head, ...); throws CheckpointError naming `path`
// and the field.
ModelShape model_shape_from_json(const nlohmann::json& j, const std::string& path);

void save_checkpoint(const std::string& path, const TrainingState& state, const ModelShape& model,
                     const std::vector<HostTensorRef>& tensors);
// Reads and verifies (magic, version, sizes, checksum). Throws CheckpointError.
Checkpoint load_checkpoint(const std::string& path);

// A run's checkpoint folder: step_<8 digits>.ckpt files and a "latest" file.
std::string checkpoint_file_name(int64_t step);
// Saves into `dir`, points "latest" at it, and deletes all but the newest `keep`.
std::string save_checkpoint_in(const std::string& dir, int keep, const TrainingState& state,
                               const ModelShape& model, const std::vector<HostTensorRef>& tensors);
// Removes the temporary files (<checkpoint or "latest">.tmp.<pid>) that
// processes killed during a write left in `dir`, each only when its process
// is gone (kill(pid, 0) fails with ESRCH), so a write in progress is never
// touched. Returns the names removed.
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

// The newest checkpoint in `dir`, or "" when there is none. The "latest"
// file must hold a plain file name (it cannot point outside `dir`); any
// other content throws CheckpointError naming the file.
std::string latest_checkpoint(const std::string& dir);

// Why a checkpoint's model cannot load into the configured one ("model.n_head
// is 8 in the checkpoint but 12 in the config"), or "" when the shapes agree.
std::string checkpoint_shape_mismatch(const ModelShape& checkpoint, const ModelShape& config);

}  // namespace alibi
