#include "train/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <regex>
#include <set>

#include <signal.h>

#include "config/schema.h"
#include "core/atomic_file.h"
#include "core/checked_math.h"
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

const char* position_name_for_json(PositionMethod p) { return position_method_name(p); }

// Header fields are untrusted: each is checked for presence, type and range
// before use, and every error names the file and the field ("model.n_head",
// "tensors[3].offset").
class HeaderReader {
 public:
  explicit HeaderReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw CheckpointError("checkpoint '" + path_ + "': header field " + field + ": " + problem);
  }

  const nlohmann::json& at(const nlohmann::json& object, const std::string& name, const std::string& field) const {
    if (!object.is_object()) fail(field, "expected an object, got " + object.dump());
    auto it = object.find(name);
    if (it == object.end()) fail(field, "missing");
    return *it;
  }

  // JSON integers only, checked against [lo, hi] before any conversion: a
  // float such as 3.9e19 is refused (converting it to an integer is undefined).
  int64_t integer(const nlohmann::json& value, const std::string& field, int64_t lo,
                  int64_t hi = std::numeric_limits<int64_t>::max()) const {
    std::string range = "[";  // built by appends: GCC 12 warns (falsely) on "[" + to_string(...)
    range += std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (value.is_number_unsigned()) {
      const uint64_t u = value.get<uint64_t>();
      if (hi < 0 || u > static_cast<uint64_t>(hi)) fail(field, std::to_string(u) + " is out of range " + range);
      const int64_t v = static_cast<int64_t>(u);
      if (v < lo) fail(field, std::to_string(v) + " is out of range " + range);
      return v;
    }
    if (!value.is_number_integer()) fail(field, "expected an integer, got " + value.dump());
    const int64_t v = value.get<int64_t>();
    if (v < lo || v > hi) fail(field, std::to_string(v) + " is out of range " + range);
    return v;
  }

  uint64_t unsigned_integer(const nlohmann::json& value, const std::string& field) const {
    if (!value.is_number_unsigned()) fail(field, "expected a non-negative integer, got " + value.dump());
    return value.get<uint64_t>();
  }

  std::string text(const nlohmann::json& value, const std::string& field) const {
    if (!value.is_string()) fail(field, "expected a string, got " + value.dump());
    return value.get<std::string>();
  }

  // A u64 written as a decimal string (JSON numbers lose precision above 2^53).
  uint64_t decimal_u64(const nlohmann::json& value, const std::string& field) const {
    const std::string digits = text(value, field);
    uint64_t result = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), result);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size())
      fail(field, "expected a decimal unsigned 64-bit integer as a string, got " + value.dump());
    return result;
  }

  DType dtype(const nlohmann::json& value, const std::string& field) const {
    const std::string name = text(value, field);
    for (DType d : {DType::F32, DType::BF16, DType::I32, DType::U16})
      if (name == dtype_name(d)) return d;
    fail(field, "unknown tensor dtype '" + name + "'");
  }

 private:
  std::string path_;
};

// A header value as the scalar text a config file would hold, so that the
// config schema parses and range-checks it exactly as it does a config value.
std::optional<std::string> scalar_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

// The model header's fields and the config keys that define their types and
// ranges: the header is validated by the same schema as a config.
struct ModelHeaderField {
  const char* field;
  const char* config_key;
  bool optional;  // absent in checkpoints written before the option existed
};
constexpr ModelHeaderField kModelHeaderFields[] = {
    {"position", "model.position", false},       {"n_layer", "model.n_layer", false},
    {"d_model", "model.d_model", false},         {"n_head", "model.n_head", false},
    {"d_ff", "model.d_ff", false},               {"vocab", "model.vocab_size", false},
    {"max_position", "model.max_position", false}, {"layernorm_eps", "model.layernorm_eps", false},
    {"rotary_base", "model.rotary_base", false}, {"dropout", "model.dropout", false},
    {"embed_layernorm", "model.embed_layernorm", true},
};

void read_model_field(const HeaderReader& reader, const nlohmann::json& model, const ModelHeaderField& f,
                      Config& config) {
  const std::string field = std::string("model.") + f.field;
  if (f.optional && model.is_object() && !model.contains(f.field)) return;
  const nlohmann::json& value = reader.at(model, f.field, field);
  const ConfigKey& key = *find_config_key(f.config_key);
  const std::optional<std::string> text = scalar_text(value);
  if (!text) reader.fail(field, "expected " + key_expectation(key) + ", got " + value.dump());
  const ParsedValue parsed = parse_key_value(key, *text);
  if (!parsed.value) reader.fail(field, parsed.problem);
  if (!key_value_in_range(key, *parsed.value))
    reader.fail(field, *text + " is out of range (" + f.config_key + " must be " + key_range_text(key) + ")");
  key.set(config, *parsed.value);
}

// A header holds resolved sizes; a config's 0 ("derive it") is no size.
void check_resolved_sizes(const HeaderReader& reader, const ModelConfig& m) {
  if (m.d_ff == 0) reader.fail("model.d_ff", "0, but a checkpoint's feed-forward width is at least 1");
  if (m.vocab_size == 0) reader.fail("model.vocab", "0, but a checkpoint's vocabulary is at least 1");
  if (m.position == PositionMethod::Learned && m.max_position == 0)
    reader.fail("model.max_position", "0, but learned positions need at least one table row");
}

ModelShape read_model_shape(const HeaderReader& reader, const nlohmann::json& model) {
  Config config;  // the model section from the header; the rest is never read
  for (const ModelHeaderField& f : kModelHeaderFields) read_model_field(reader, model, f, config);
  for (const CrossKeyRule& rule : config_cross_key_rules()) {
    if (!rule.model_only) continue;
    const std::string violation = rule.violation(config);
    if (!violation.empty()) reader.fail("model", violation);
  }
  const ModelConfig& m = config.model;
  check_resolved_sizes(reader, m);
  ModelShape s;
  s.position = m.position;
  s.n_layer = m.n_layer, s.d_model = m.d_model, s.n_head = m.n_head, s.d_ff = m.d_ff;
  s.vocab = m.vocab_size, s.max_position = m.max_position;
  s.layernorm_eps = m.layernorm_eps, s.rotary_base = m.rotary_base, s.dropout = m.dropout;
  s.embed_layernorm = m.embed_layernorm;
  return s;
}

TrainingState read_training_state(const HeaderReader& reader, const nlohmann::json& header) {
  TrainingState s;
  s.step = reader.integer(reader.at(header, "step", "step"), "step", 0);
  s.tokens_seen = reader.integer(reader.at(header, "tokens_seen", "tokens_seen"), "tokens_seen", 0);
  s.loader_position = reader.integer(reader.at(header, "loader_position", "loader_position"), "loader_position", 0);
  s.rng_state = reader.decimal_u64(reader.at(header, "rng_state", "rng_state"), "rng_state");
  s.tokenizer_id = reader.text(reader.at(header, "tokenizer_id", "tokenizer_id"), "tokenizer_id");
  s.data_vocab = reader.integer(reader.at(header, "data_vocab", "data_vocab"), "data_vocab", 0);
  s.config_yaml = reader.text(reader.at(header, "config_yaml", "config_yaml"), "config_yaml");
  return s;
}

// Where the tensor data lies in the file: [data_start, body).
struct DataRegion {
  const std::vector<char>* file;
  uint64_t data_start = 0, body = 0;
};

std::pair<std::string, LoadedTensor> read_tensor(const HeaderReader& reader, const nlohmann::json& entry,
                                                 size_t index, const DataRegion& region) {
  const std::string where = "tensors[" + std::to_string(index) + "]";
  const std::string name = reader.text(reader.at(entry, "name", where + ".name"), where + ".name");
  const std::string field = where + " ('" + name + "')";
  LoadedTensor lt;
  lt.dtype = reader.dtype(reader.at(entry, "dtype", field + ".dtype"), field + ".dtype");
  const nlohmann::json& shape = reader.at(entry, "shape", field + ".shape");
  if (!shape.is_array()) reader.fail(field + ".shape", "expected a list of sizes, got " + shape.dump());
  for (const nlohmann::json& d : shape) lt.shape.push_back(reader.integer(d, field + ".shape", 0));
  const uint64_t offset = reader.unsigned_integer(reader.at(entry, "offset", field + ".offset"), field + ".offset");
  const uint64_t nbytes = reader.unsigned_integer(reader.at(entry, "nbytes", field + ".nbytes"), field + ".nbytes");
  uint64_t expected = 0;
  try {
    expected = Tensor(nullptr, lt.shape, lt.dtype, Device::CPU).nbytes();
  } catch (const std::length_error&) {
    reader.fail(field + ".shape", "the size of " + shape.dump() + " does not fit in 64 bits");
  }
  if (nbytes != expected)
    reader.fail(field + ".nbytes", std::to_string(nbytes) + " does not match its shape and dtype (" +
                                       std::to_string(expected) + " bytes)");
  // Checked without wrap-around: a crafted offset must not come back round into the file.
  const std::optional<uint64_t> begin = checked_add(region.data_start, offset);
  const std::optional<uint64_t> end = begin ? checked_add(*begin, nbytes) : std::nullopt;
  if (!end || *end > region.body)
    reader.fail(field + ".offset", std::to_string(offset) + " + " + std::to_string(nbytes) +
                                       " bytes lies outside the tensor data");
  lt.bytes.assign(region.file->begin() + static_cast<std::ptrdiff_t>(*begin),
                  region.file->begin() + static_cast<std::ptrdiff_t>(*end));
  return {name, std::move(lt)};
}

// The system's reason (ENOSPC: "No space left on device") with the path.
[[noreturn]] void fail_write(const std::string& path) {
  throw CheckpointError("cannot write checkpoint '" + path + "': " + std::strerror(errno));
}

// Writes bytes and folds them into the running checksum.
struct ChecksummedWriter {
  std::FILE* f;
  const std::string& path;
  uint64_t hash = kFnvOffset;
  void write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f) != n) fail_write(path);
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

ModelShape model_shape_from_json(const nlohmann::json& j, const std::string& path) {
  return read_model_shape(HeaderReader(path), j);
}

// Whether every f32 "param/" tensor holds only finite values.
static bool parameters_are_finite(const std::vector<HostTensorRef>& tensors) {
  for (const HostTensorRef& t : tensors) {
    if (t.dtype != DType::F32 || t.name.rfind("param/", 0) != 0) continue;
    const float* values = static_cast<const float*>(t.data);
    const int64_t n = Tensor(nullptr, t.shape, t.dtype, Device::CPU).numel();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(values[i])) return false;
  }
  return true;
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
  header["weights_finite"] = parameters_are_finite(tensors);
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
    ChecksummedWriter w{f, path};
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
    if (std::fwrite(&checksum, 8, 1, f) != 1 || std::fwrite(kEndMagic, 1, 8, f) != 8) fail_write(path);
  });
}

namespace {

// Checks the frame around the header (magic, version, end marker, checksum,
// header length) and returns where the tensor data lies.
DataRegion check_frame(const std::vector<char>& file, const std::string& path, uint64_t* header_bytes) {
  auto fail = [&](const std::string& why) { return CheckpointError("checkpoint '" + path + "': " + why); };
  if (file.size() < kPrefixBytes + kTrailerBytes || std::memcmp(file.data(), kMagic, 8) != 0)
    throw fail("not an alibi-lm checkpoint (bad magic or too short)");
  uint32_t version;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(header_bytes, file.data() + 16, 8);
  if (version > kCheckpointVersion)
    throw fail("format version " + std::to_string(version) + " is newer than this build reads (" +
               std::to_string(kCheckpointVersion) + "); use a newer alibi-lm");
  if (version != kCheckpointVersion) throw fail("unsupported format version " + std::to_string(version));
  if (std::memcmp(file.data() + file.size() - 8, kEndMagic, 8) != 0)
    throw fail("truncated: the end marker is missing (was the write interrupted?)");
  const uint64_t body = file.size() - kTrailerBytes;
  uint64_t stored_checksum;
  std::memcpy(&stored_checksum, file.data() + body, 8);
  if (fnv1a64(file.data(), body) != stored_checksum) throw fail("checksum mismatch: the file is corrupt");
  const std::optional<uint64_t> header_end = checked_add<uint64_t>(kPrefixBytes, *header_bytes);
  if (!header_end || *header_end > body)
    throw fail("header length " + std::to_string(*header_bytes) + " exceeds the file");
  return DataRegion{&file, align_up(*header_end, kDataAlignment), body};
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("checkpoint '" + path + "': cannot open (does it exist?)");
  const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t header_bytes = 0;
  const DataRegion region = check_frame(file, path, &header_bytes);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + kPrefixBytes,
                                   file.begin() + static_cast<std::ptrdiff_t>(kPrefixBytes + header_bytes));
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError("checkpoint '" + path + "': malformed header: " + e.what());
  }
  const HeaderReader reader(path);
  Checkpoint ckpt;
  ckpt.path = path;
  ckpt.state = read_training_state(reader, header);
  ckpt.model = read_model_shape(reader, reader.at(header, "model", "model"));
  if (header.contains("weights_finite")) {
    if (!header.at("weights_finite").is_boolean()) reader.fail("weights_finite", "expected true or false");
    ckpt.weights_finite = header.at("weights_finite").get<bool>();
  }
  const uint64_t data_bytes = reader.unsigned_integer(reader.at(header, "data_bytes", "data_bytes"), "data_bytes");
  const std::optional<uint64_t> data_end = checked_add(region.data_start, data_bytes);
  if (!data_end || *data_end != region.body)
    reader.fail("data_bytes", std::to_string(data_bytes) + " does not match the file's size");
  const nlohmann::json& tensors = reader.at(header, "tensors", "tensors");
  if (!tensors.is_array()) reader.fail("tensors", "expected a list");
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto [name, tensor] = read_tensor(reader, tensors[i], i, region);
    if (!ckpt.tensors.emplace(name, std::move(tensor)).second)
      reader.fail("tensors[" + std::to_string(i) + "].name", "'" + name + "' is given twice");
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

// write_file_atomically's temporary names for the files of a checkpoint folder.
static std::optional<pid_t> temp_file_owner(const std::string& name) {
  static const std::regex pattern(R"((step_\d{8}\.ckpt|latest)\.tmp\.(\d{1,9}))");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  const pid_t pid = static_cast<pid_t>(std::stol(match[2].str()));  // 9 digits fit
  return pid > 0 ? std::optional<pid_t>(pid) : std::nullopt;
}

static bool process_is_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::optional<pid_t> owner = temp_file_owner(name);
    if (!owner || !entry.is_regular_file(ec) || !process_is_gone(*owner)) continue;
    if (fs::remove(entry.path(), ec)) removed.push_back(name);
  }
  return removed;
}

// "latest" names a file in its own folder: no separators, no "." or "..".
static bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::string latest_checkpoint(const std::string& dir) {
  const fs::path pointer = fs::path(dir) / "latest";
  std::ifstream latest(pointer);
  std::string name;
  if (latest >> name) {
    if (!is_plain_file_name(name))
      throw CheckpointError("'" + pointer.string() + "' names '" + name +
                            "', which is not a file name in that folder (it may hold only a checkpoint's name)");
    if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  }
  std::vector<fs::path> all = checkpoints_in(dir);
  return all.empty() ? "" : all.back().string();
}

std::string checkpoint_shape_mismatch(const ModelShape& ckpt, const ModelShape& cfg) {
  auto differ = [](const char* key, auto a, auto b) {
    return a == b ? std::string() : std::string(key) + " is " + std::to_string(a) +
                                        " in the checkpoint but " + std::to_string(b) + " in the config";
  };
  if (ckpt.position != cfg.position)
    return std::string("model.position is ") + position_method_name(ckpt.position) +
           " in the checkpoint but " + position_method_name(cfg.position) + " in the config";
  for (const std::string& m : {differ("model.n_layer", ckpt.n_layer, cfg.n_layer),
                               differ("model.d_model", ckpt.d_model, cfg.d_model),
                               differ("model.n_head", ckpt.n_head, cfg.n_head),
                               differ("model.d_ff", ckpt.d_ff, cfg.d_ff),
                               differ("vocabulary size", ckpt.vocab, cfg.vocab),
                               differ("model.max_position", ckpt.max_position, cfg.max_position),
                               differ("model.embed_layernorm", ckpt.embed_layernorm, cfg.embed_layernorm)})
    if (!m.empty()) return m;
  return "";
}

}  // namespace alibi
