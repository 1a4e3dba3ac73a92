#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "core/atomic_file.h"
#include "core/hash.h"

namespace alibi {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'A', 'L', 'I', 'B', 'I', 'C', 'K', 'P'};
constexpr char kEndMagic[8] = {'A', 'L', 'I', 'B', 'I', 'E', 'N', 'D'};
constexpr size_t kPrefixBytes = 24;  // magic, version, reserved, header length
constexpr size_t kTrailerBytes = 16;  // checksum, end magic
constexpr size_t kDataAlignment = 64;

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

DType dtype_from_name(const std::string& name, const std::string& path) {
  for (DType d : {DType::F32, DType::BF16, DType::I32, DType::U16})
    if (name == dtype_name(d)) return d;
  throw CheckpointError("checkpoint '" + path + "': unknown tensor dtype '" + name + "'");
}

const char* position_name_for_json(PositionMethod p) { return position_method_name(p); }

PositionMethod position_from_name(const std::string& name) {
  for (PositionMethod p : {PositionMethod::Alibi, PositionMethod::Sinusoidal, PositionMethod::Learned,
                           PositionMethod::Rotary, PositionMethod::None})
    if (name == position_method_name(p)) return p;
  throw CheckpointError("unknown position method '" + name + "'");
}

// Writes bytes and folds them into the running checksum.
struct ChecksummedWriter {
  std::FILE* f;
  uint64_t hash = kFnvOffset;
  void write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f) != n) throw std::runtime_error("short write");
    hash = fnv1a64(data, n, hash);
  }
  void zeros(size_t n) {
    static const char pad[kDataAlignment] = {};
    write(pad, n);
  }
};

}  // namespace

const LoadedTensor& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw CheckpointError("checkpoint '" + path + "' has no tensor '" + name + "'");
  return it->second;
}

nlohmann::json model_shape_to_json(const ModelShape& s) {
  return {{"position", position_name_for_json(s.position)},
          {"n_layer", s.n_layer},
          {"d_model", s.d_model},
          {"n_head", s.n_head},
          {"d_ff", s.d_ff},
          {"vocab", s.vocab},
          {"max_position", s.max_position},
          {"layernorm_eps", s.layernorm_eps},
          {"rotary_base", s.rotary_base},
          {"dropout", s.dropout},
          {"embed_layernorm", s.embed_layernorm}};
}

ModelShape model_shape_from_json(const nlohmann::json& j) {
  ModelShape s;
  s.position = position_from_name(j.at("position").get<std::string>());
  s.n_layer = j.at("n_layer"), s.d_model = j.at("d_model"), s.n_head = j.at("n_head");
  s.d_ff = j.at("d_ff"), s.vocab = j.at("vocab"), s.max_position = j.at("max_position");
  s.layernorm_eps = j.at("layernorm_eps"), s.rotary_base = j.at("rotary_base");
  s.dropout = j.at("dropout");
  s.embed_layernorm = j.value("embed_layernorm", false);  // absent before the option existed
  return s;
}

void save_checkpoint(const std::string& path, const TrainingState& state, const ModelShape& model,
                     const std::vector<HostTensorRef>& tensors) {
  nlohmann::json header;
  header["format_version"] = kCheckpointVersion;
  header["step"] = state.step;
  header["tokens_seen"] = state.tokens_seen;
  header["loader_position"] = state.loader_position;
  header["rng_state"] = std::to_string(state.rng_state);  // u64 exceeds JSON's exact range
  header["tokenizer_id"] = state.tokenizer_id;
  header["data_vocab"] = state.data_vocab;
  header["model"] = model_shape_to_json(model);
  header["config_yaml"] = state.config_yaml;
  nlohmann::json table = nlohmann::json::array();
  size_t offset = 0;
  for (const HostTensorRef& t : tensors) {
    Tensor shape_only(nullptr, t.shape, t.dtype, Device::CPU);
    table.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape},
                     {"offset", offset}, {"nbytes", shape_only.nbytes()}});
    offset += align_up(shape_only.nbytes(), kDataAlignment);
  }
  header["tensors"] = table;
  header["data_bytes"] = offset;
  const std::string header_text = header.dump(1);

  write_file_atomically(path, [&](std::FILE* f) {
    ChecksummedWriter w{f};
    const uint32_t version = kCheckpointVersion, reserved = 0;
    const uint64_t header_bytes = header_text.size();
    w.write(kMagic, 8);
    w.write(&version, 4);
    w.write(&reserved, 4);
    w.write(&header_bytes, 8);
    w.write(header_text.data(), header_text.size());
    w.zeros(align_up(kPrefixBytes + header_text.size(), kDataAlignment) - kPrefixBytes - header_text.size());
    for (const HostTensorRef& t : tensors) {
      const size_t n = Tensor(nullptr, t.shape, t.dtype, Device::CPU).nbytes();
      w.write(t.data, n);
      w.zeros(align_up(n, kDataAlignment) - n);
    }
    const uint64_t checksum = w.hash;
    if (std::fwrite(&checksum, 8, 1, f) != 1 || std::fwrite(kEndMagic, 1, 8, f) != 8)
      throw std::runtime_error("short write");
  });
}

Checkpoint load_checkpoint(const std::string& path) {
  auto fail = [&](const std::string& why) { return CheckpointError("checkpoint '" + path + "': " + why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open (does it exist?)");
  std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < kPrefixBytes + kTrailerBytes || std::memcmp(file.data(), kMagic, 8) != 0)
    throw fail("not an alibi-lm checkpoint (bad magic or too short)");
  uint32_t version;
  uint64_t header_bytes;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&header_bytes, file.data() + 16, 8);
  if (version > kCheckpointVersion)
    throw fail("format version " + std::to_string(version) + " is newer than this build reads (" +
               std::to_string(kCheckpointVersion) + "); use a newer alibi-lm");
  if (version != kCheckpointVersion) throw fail("unsupported format version " + std::to_string(version));
  if (std::memcmp(file.data() + file.size() - 8, kEndMagic, 8) != 0)
    throw fail("truncated: the end marker is missing (was the write interrupted?)");
  const size_t body = file.size() - kTrailerBytes;
  uint64_t stored_checksum;
  std::memcpy(&stored_checksum, file.data() + body, 8);
  if (fnv1a64(file.data(), body) != stored_checksum) throw fail("checksum mismatch: the file is corrupt");
  if (kPrefixBytes + header_bytes > body) throw fail("header length exceeds the file");

  Checkpoint ckpt;
  ckpt.path = path;
  try {
    const auto header = nlohmann::json::parse(file.begin() + kPrefixBytes,
                                              file.begin() + kPrefixBytes + header_bytes);
    TrainingState& s = ckpt.state;
    s.step = header.at("step");
    s.tokens_seen = header.at("tokens_seen");
    s.loader_position = header.at("loader_position");
    s.rng_state = std::stoull(header.at("rng_state").get<std::string>());
    s.tokenizer_id = header.at("tokenizer_id");
    s.data_vocab = header.at("data_vocab");
    s.config_yaml = header.at("config_yaml");
    ckpt.model = model_shape_from_json(header.at("model"));
    const size_t data_start = align_up(kPrefixBytes + header_bytes, kDataAlignment);
    if (data_start + header.at("data_bytes").get<size_t>() != body) throw fail("data size does not match the header");
    for (const auto& t : header.at("tensors")) {
      LoadedTensor lt;
      lt.dtype = dtype_from_name(t.at("dtype"), path);
      lt.shape = t.at("shape").get<std::vector<int64_t>>();
      const size_t offset = t.at("offset"), nbytes = t.at("nbytes");
      if (nbytes != Tensor(nullptr, lt.shape, lt.dtype, Device::CPU).nbytes() ||
          data_start + offset + nbytes > body)
        throw fail("tensor '" + t.at("name").get<std::string>() + "' has an inconsistent size");
      lt.bytes.assign(file.begin() + data_start + offset, file.begin() + data_start + offset + nbytes);
      ckpt.tensors.emplace(t.at("name").get<std::string>(), std::move(lt));
    }
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("malformed header: ") + e.what());
  }
  return ckpt;
}

std::string checkpoint_file_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld.ckpt", static_cast<long long>(step));
  return name;
}

static std::vector<fs::path> checkpoints_in(const std::string& dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  static const std::regex pattern(R"(step_\d{8}\.ckpt)");
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (std::regex_match(entry.path().filename().string(), pattern)) found.push_back(entry.path());
  std::sort(found.begin(), found.end());  // zero-padded step numbers sort by step
  return found;
}

std::string save_checkpoint_in(const std::string& dir, int keep, const TrainingState& state,
                               const ModelShape& model, const std::vector<HostTensorRef>& tensors) {
  make_directories(dir);
  const std::string name = checkpoint_file_name(state.step);
  const std::string path = (fs::path(dir) / name).string();
  save_checkpoint(path, state, model, tensors);
  write_text_atomically((fs::path(dir) / "latest").string(), name + "\n");
  std::vector<fs::path> all = checkpoints_in(dir);
  for (size_t i = 0; keep > 0 && i + keep < all.size(); ++i) fs::remove(all[i]);
  return path;
}

std::string latest_checkpoint(const std::string& dir) {
  std::ifstream latest(fs::path(dir) / "latest");
  std::string name;
  if (latest >> name && fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  std::vector<fs::path> all = checkpoints_in(dir);
  return all.empty() ? "" : all.back().string();
}

}  // namespace alibi
