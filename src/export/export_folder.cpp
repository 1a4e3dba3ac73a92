#include "export/export_folder.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/bf16.h"
#include "data/files.h"
#include "export/bloom.h"
#include "export/safetensors.h"
#include "train/checkpoint.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kConfigFile = "config.json";
constexpr const char* kWeightsFile = "model.safetensors";
constexpr const char* kTokenizerFile = "tokenizer.model";
constexpr int kFormatVersion = 1;
constexpr uintmax_t kMaxSmallFileBytes = 64u << 20;  // config.json, tokenizer.model

// The file's bytes, refusing sizes no config or tokenizer has (a hostile
// folder must not make us read gigabytes).
std::string read_small_file(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw std::runtime_error(path + ": " + ec.message());
  if (size > kMaxSmallFileBytes) throw std::runtime_error(path + ": " + std::to_string(size) + " bytes is too large");
  return read_file_bytes(path);
}

// One parameter's values as they are stored: BLOOM's row order for the fused
// QKV projection, ours otherwise.
std::vector<float> bloom_values(const ParamSpec& spec, const ModelShape& shape, const float* values) {
  std::vector<float> v(values, values + spec.numel());
  if (!is_fused_qkv(spec.name)) return v;
  const int64_t cols = spec.shape.size() == 2 ? spec.shape[1] : 1;
  return qkv_rows_to_bloom(v, shape.n_head, shape.head_dim(), cols);
}

// The stored bytes of every parameter: f32 straight from `params` where no
// reordering is needed, else an owned converted copy.
struct StoredTensors {
  std::vector<SafetensorsOut> tensors;
  std::vector<std::vector<float>> f32_copies;
  std::vector<std::vector<uint16_t>> bf16_copies;
};

StoredTensors stored_tensors(const ExportedModel& model, bool bf16) {
  StoredTensors out;
  const std::vector<ParamSpec> layout = parameter_layout(model.shape);
  out.f32_copies.reserve(layout.size());
  out.bf16_copies.reserve(layout.size());
  for (const ParamSpec& spec : layout) {
    const float* values = model.params.data() + spec.offset;
    const void* data = values;
    if (is_fused_qkv(spec.name) || bf16) {
      out.f32_copies.push_back(bloom_values(spec, model.shape, values));
      data = out.f32_copies.back().data();
    }
    if (bf16) {
      const std::vector<float>& f = out.f32_copies.back();
      std::vector<uint16_t>& h = out.bf16_copies.emplace_back(f.size());
      for (size_t i = 0; i < f.size(); ++i) h[i] = bf16_from_float(f[i]);
      out.f32_copies.back() = {};  // only the bf16 copy is written
      data = h.data();
    }
    out.tensors.push_back({bloom_tensor_name(spec.name), bf16 ? "BF16" : "F32", spec.shape, data});
  }
  return out;
}

json export_config(const ExportOptions& options, const ExportedModel& model) {
  json config = bloom_config(model.shape, options.bf16 ? "bfloat16" : "float32");
  if (options.eos_token_id >= 0) config["eos_token_id"] = options.eos_token_id;
  config["alibi_lm"] = {{"format_version", kFormatVersion},
                        {"step", model.step},
                        {"train_seq_len", model.train_seq_len},
                        {"tokenizer_id", model.tokenizer_id},
                        {"model", model_shape_to_json(model.shape)}};
  return config;
}

// Our extra fields, each checked for its type: a hand-edited or foreign
// config.json may hold anything.
void read_alibi_section(const json& config, const std::string& origin, ExportedModel& model) {
  if (!config.contains("alibi_lm")) return;
  const json& section = config.at("alibi_lm");
  auto field = [&](const char* name) -> const json* {
    return section.is_object() && section.contains(name) ? &section.at(name) : nullptr;
  };
  if (const json* step = field("step")) {
    if (!step->is_number_integer() || step->get<int64_t>() < 0)
      throw std::runtime_error(origin + ": alibi_lm.step = " + step->dump() + " must be an integer >= 0");
    model.step = step->get<int64_t>();
  }
  if (const json* len = field("train_seq_len")) {
    if (!len->is_number_integer() || len->get<int64_t>() < 0 || len->get<int64_t>() > (int64_t{1} << 30))
      throw std::runtime_error(origin + ": alibi_lm.train_seq_len = " + len->dump() + " is out of range");
    model.train_seq_len = len->get<int64_t>();
  }
  if (const json* id = field("tokenizer_id")) {
    if (!id->is_string()) throw std::runtime_error(origin + ": alibi_lm.tokenizer_id must be a string");
    model.tokenizer_id = id->get<std::string>();
  }
}

// The stored tensor for one of our parameters, under BLOOM's name with or
// without the "transformer." prefix (BloomModel saves without it).
const SafetensorsEntry& find_bloom_tensor(const SafetensorsFile& file, const std::string& bloom_name) {
  if (const SafetensorsEntry* e = file.find(bloom_name)) return *e;
  const std::string bare = bloom_name.substr(std::string("transformer.").size());
  if (const SafetensorsEntry* e = file.find(bare)) return *e;
  throw std::runtime_error(file.path() + ": no tensor '" + bloom_name + "'");
}

// Tensors the model does not read are an error (a different architecture),
// except an LM head that equals the embedding (a tied head saved twice).
void check_no_unused_tensors(const SafetensorsFile& file, const std::set<std::string>& used,
                             const std::vector<float>& wte) {
  for (const SafetensorsEntry& e : file.entries()) {
    if (used.count(e.name)) continue;
    if (e.name == "lm_head.weight" && file.read_f32(e) == wte) continue;
    throw std::runtime_error(file.path() + ": tensor '" + e.name + "' is not part of a BLOOM model alibi-lm can run" +
                             (e.name == "lm_head.weight" ? " (an LM head not tied to the embedding)" : ""));
  }
}

}  // namespace

void write_export(const ExportOptions& options, const ExportedModel& model) {
  if (const std::string why = bloom_incompatibility(model.shape); !why.empty())
    throw std::runtime_error("cannot export as BLOOM: " + why);
  const std::vector<ParamSpec> layout = parameter_layout(model.shape);
  if (static_cast<int64_t>(model.params.size()) != total_numel(layout))
    throw std::invalid_argument("write_export: parameter count does not match the model shape");
  make_directories(options.out_dir);
  const fs::path dir(options.out_dir);
  {
    const StoredTensors stored = stored_tensors(model, options.bf16);
    write_safetensors((dir / kWeightsFile).string(), stored.tensors, {{"format", "pt"}});
  }
  if (!options.tokenizer_path.empty())
    write_text_atomically((dir / kTokenizerFile).string(), read_small_file(options.tokenizer_path));
  write_text_atomically((dir / kConfigFile).string(), export_config(options, model).dump(2) + "\n");
}

bool is_export_folder(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kConfigFile, ec) && fs::is_regular_file(fs::path(dir) / kWeightsFile, ec);
}

ExportedModel read_export(const std::string& dir) {
  const std::string config_path = (fs::path(dir) / kConfigFile).string();
  json config;
  try {
    config = json::parse(read_small_file(config_path));
  } catch (const json::exception& e) {
    throw std::runtime_error(config_path + ": not valid JSON: " + e.what());
  }
  ExportedModel model;
  try {
    model.shape = shape_from_bloom_config(config, config_path);
    read_alibi_section(config, config_path, model);
  } catch (const json::exception& e) {  // a field of the wrong type
    throw std::runtime_error(config_path + ": " + e.what());
  }

  const SafetensorsFile file((fs::path(dir) / kWeightsFile).string());
  const std::vector<ParamSpec> layout = parameter_layout(model.shape);
  model.params.assign(total_numel(layout), 0.f);
  std::set<std::string> used;
  for (const ParamSpec& spec : layout) {
    const SafetensorsEntry& entry = find_bloom_tensor(file, bloom_tensor_name(spec.name));
    if (entry.shape != spec.shape)
      throw std::runtime_error(file.path() + ": tensor '" + entry.name + "' has shape " + json(entry.shape).dump() +
                               "; config.json implies " + json(spec.shape).dump());
    std::vector<float> values = file.read_f32(entry);
    if (is_fused_qkv(spec.name))
      values = qkv_rows_from_bloom(values, model.shape.n_head, model.shape.head_dim(),
                                   spec.shape.size() == 2 ? spec.shape[1] : 1);
    std::copy(values.begin(), values.end(), model.params.begin() + spec.offset);
    used.insert(entry.name);
  }
  const ParamSpec& wte = layout.front();
  check_no_unused_tensors(file, used,
                          std::vector<float>(model.params.begin(), model.params.begin() + wte.numel()));
  const fs::path tokenizer = fs::path(dir) / kTokenizerFile;
  std::error_code ec;
  if (fs::is_regular_file(tokenizer, ec)) model.tokenizer_path = tokenizer.string();
  return model;
}

}  // namespace alibi
