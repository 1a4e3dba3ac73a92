#include "eval/eval_checkpoint.h"

#include <filesystem>

#include "config/config.h"
#include "data/dataset.h"
#include "export/export_folder.h"
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

EvalCheckpoint from_export(const std::string& dir) {
  ExportedModel exported;
  try {
    exported = read_export(dir);
  } catch (const std::runtime_error& e) {
    throw CheckpointError(std::string("exported model: ") + e.what());
  }
  EvalCheckpoint out;
  out.path = dir;
  out.step = exported.step;
  out.label = fs::path(dir).lexically_normal().filename().string() + "@" + std::to_string(out.step);
  out.shape = exported.shape;
  out.train_seq_len = exported.train_seq_len;
  out.tokenizer_id = exported.tokenizer_id;
  out.tokenizer_path = exported.tokenizer_path;
  out.params = std::move(exported.params);
  return out;
}

// A diverged run's weights give a perplexity of nan, or garbage text; say so.
void check_finite(const EvalCheckpoint& model) {
  const std::string bad = first_nonfinite_parameter(parameter_layout(model.shape), model.params);
  if (!bad.empty())
    throw CheckpointError("model '" + model.path + "': parameter " + bad +
                          " holds NaN or infinite values (the run diverged before this was saved)");
}

EvalCheckpoint load_trained_model(const std::string& file_or_dir) {
  std::error_code ec;
  if (fs::is_directory(file_or_dir, ec) && is_export_folder(file_or_dir)) return from_export(file_or_dir);
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

}  // namespace

EvalCheckpoint load_eval_checkpoint(const std::string& file_or_dir) {
  EvalCheckpoint model = load_trained_model(file_or_dir);
  check_finite(model);
  return model;
}

std::string model_tokenizer_path(const std::string& given, const EvalCheckpoint& checkpoint) {
  std::string path = given.empty() ? checkpoint.tokenizer_path : given;
  if (path.empty()) {
    if (checkpoint.data_dir.empty())
      throw std::runtime_error("model '" + checkpoint.path + "' carries no tokenizer and names no dataset: give --tokenizer");
    DatasetMeta dataset;  // only for where a dataset keeps its tokenizer
    dataset.dir = checkpoint.data_dir;
    path = dataset.tokenizer_path();
  }
  if (!fs::exists(path))
    throw std::runtime_error("tokenizer " + path + ": no such file (give --tokenizer, the dataset's tokenizer.model)");
  return path;
}

Tokenizer load_model_tokenizer(const std::string& given, const EvalCheckpoint& checkpoint) {
  const std::string path = model_tokenizer_path(given, checkpoint);
  Tokenizer tokenizer = Tokenizer::load(path);
  if (!checkpoint.tokenizer_id.empty() && tokenizer.id() != checkpoint.tokenizer_id)
    throw std::runtime_error("tokenizer " + path + " (" + tokenizer.id() + ") is not the one model '" +
                             checkpoint.path + "' was trained with (" + checkpoint.tokenizer_id + ")");
  return tokenizer;
}

ExportedModel exported_model(EvalCheckpoint checkpoint) {
  ExportedModel model;
  model.shape = checkpoint.shape;
  model.step = checkpoint.step;
  model.train_seq_len = checkpoint.train_seq_len;
  model.tokenizer_id = checkpoint.tokenizer_id;
  model.params = std::move(checkpoint.params);
  return model;
}

std::unique_ptr<Model> make_eval_model(Backend& backend, const EvalCheckpoint& checkpoint) {
  auto model = std::make_unique<Model>(backend, checkpoint.shape);
  model->load_parameters(checkpoint.params);
  return model;
}

}  // namespace alibi
