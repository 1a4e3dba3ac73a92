#include "eval/eval_checkpoint.h"

#include <filesystem>

#include "config/config.h"
#include "train/checkpoint.h"

namespace alibi {

namespace fs = std::filesystem;

int64_t EvalCheckpoint::position_limit() const {
  return shape.position == PositionMethod::Learned ? shape.max_position : 0;
}

std::string resolve_checkpoint_path(const std::string& file_or_dir) {
  std::error_code ec;
  if (!fs::exists(file_or_dir, ec))
    throw CheckpointError("checkpoint '" + file_or_dir + "': no such file or folder");
  if (!fs::is_directory(file_or_dir, ec)) return file_or_dir;
  // A run folder keeps its checkpoints one level down.
  const fs::path run_checkpoints = fs::path(file_or_dir) / "checkpoints";
  const std::string folder = fs::is_directory(run_checkpoints, ec) ? run_checkpoints.string() : file_or_dir;
  const std::string newest = latest_checkpoint(folder);
  if (newest.empty()) throw CheckpointError("checkpoint folder '" + folder + "' holds no checkpoint (step_*.ckpt)");
  return newest;
}

namespace {

// "<run folder>@<step>" for runs/<run>/checkpoints/step_N.ckpt, else the file name.
std::string checkpoint_label(const fs::path& file, int64_t step) {
  const fs::path folder = file.parent_path();
  const bool in_run = folder.filename() == "checkpoints" && !folder.parent_path().filename().empty();
  const std::string name = in_run ? folder.parent_path().filename().string() : file.stem().string();
  return name + "@" + std::to_string(step);
}

// The model header is checked against the tensors the file holds before a
// layout of its shape is built: a header claiming 2^31 layers or a vast
// width fails here, not in building or allocating for it.
void check_header_against_tensors(const Checkpoint& ckpt, const ModelShape& shape) {
  const LoadedTensor& wte = ckpt.tensor("param/wte");
  if (wte.shape != std::vector<int64_t>{shape.vocab, shape.d_model})
    throw CheckpointError("checkpoint '" + ckpt.path + "': tensor param/wte does not have the shape [vocab, d_model] = [" +
                          std::to_string(shape.vocab) + ", " + std::to_string(shape.d_model) + "] of its model header");
  if (shape.n_layer > static_cast<int64_t>(ckpt.tensors.size()))
    throw CheckpointError("checkpoint '" + ckpt.path + "': its model header says n_layer = " +
                          std::to_string(shape.n_layer) + " but the file holds only " +
                          std::to_string(ckpt.tensors.size()) + " tensors");
}

std::vector<ParamSpec> layout_of(const Checkpoint& ckpt, const ModelShape& shape) {
  check_header_against_tensors(ckpt, shape);
  try {
    return parameter_layout(shape);
  } catch (const std::length_error& e) {
    throw CheckpointError("checkpoint '" + ckpt.path + "': its model header implies a parameter of " + e.what());
  }
}

std::vector<float> flat_parameters(const Checkpoint& ckpt, const ModelShape& shape) {
  const std::vector<ParamSpec> layout = layout_of(ckpt, shape);
  // Every tensor is checked before the flat buffer is allocated.
  for (const ParamSpec& spec : layout) {
    const LoadedTensor& t = ckpt.tensor("param/" + spec.name);
    if (t.dtype != DType::F32 || t.shape != spec.shape)
      throw CheckpointError("checkpoint '" + ckpt.path + "': tensor param/" + spec.name +
                            " does not have the shape its model header implies");
  }
  std::vector<float> flat(total_numel(layout), 0.f);  // alignment padding stays zero
  for (const ParamSpec& spec : layout) {
    const LoadedTensor& t = ckpt.tensor("param/" + spec.name);
    std::copy(t.f32(), t.f32() + spec.numel(), flat.begin() + spec.offset);
  }
  return flat;
}

}  // namespace

EvalCheckpoint load_eval_checkpoint(const std::string& file_or_dir) {
  const std::string path = resolve_checkpoint_path(file_or_dir);
  const Checkpoint ckpt = load_checkpoint(path);
  EvalCheckpoint out;
  out.path = path;
  out.step = ckpt.state.step;
  out.label = checkpoint_label(path, out.step);
  out.shape = ckpt.model;
  out.tokenizer_id = ckpt.state.tokenizer_id;
  try {
    const Config config = parse_config(ckpt.state.config_yaml, "checkpoint '" + path + "' (its config)");
    out.train_seq_len = config.train.seq_len;
    out.data_dir = config.data.dir;
  } catch (const ConfigError& e) {
    throw CheckpointError(e.what());
  }
  out.params = flat_parameters(ckpt, out.shape);
  return out;
}

std::unique_ptr<Model> make_eval_model(Backend& backend, const EvalCheckpoint& checkpoint) {
  auto model = std::make_unique<Model>(backend, checkpoint.shape);
  model->load_parameters(checkpoint.params);
  return model;
}

}  // namespace alibi
