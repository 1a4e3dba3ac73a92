#include "export/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/bf16.h"
#include "core/checked_math.h"

namespace alibi {
namespace {

using nlohmann::json;

// Real headers are a few hundred bytes a tensor; the reference library caps
// them at 100 MB, and so do we: a larger length is a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Object {name: {shape: [dims]}}: a dimension sits at depth 3.
constexpr int kMaxDepth = 3;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_for_reading(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) throw SafetensorsError(path + ": cannot open: " + std::strerror(errno));
  return f;
}

uint64_t file_size(std::FILE* f, const std::string& path) {
  if (fseeko(f, 0, SEEK_END) != 0) throw SafetensorsError(path + ": cannot seek: " + std::strerror(errno));
  const off_t size = ftello(f);
  if (size < 0) throw SafetensorsError(path + ": cannot tell its size: " + std::strerror(errno));
  return static_cast<uint64_t>(size);
}

void read_at(std::FILE* f, uint64_t offset, void* out, uint64_t bytes, const std::string& path) {
  if (fseeko(f, static_cast<off_t>(offset), SEEK_SET) != 0 || std::fread(out, 1, bytes, f) != bytes)
    throw SafetensorsError(path + ": cannot read " + std::to_string(bytes) + " bytes at offset " +
                           std::to_string(offset) + (std::ferror(f) ? std::string(": ") + std::strerror(errno) : ""));
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header JSON, refusing deep nesting (before it is built) and
// duplicate keys (JSON allows them; a weight file that names a tensor twice
// is ambiguous).
json parse_header(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> keys_of_open_objects;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth) throw SafetensorsError(path + ": header nests deeper than a safetensors header does");
    if (event == json::parse_event_t::object_start) keys_of_open_objects.emplace_back();
    if (event == json::parse_event_t::object_end && !keys_of_open_objects.empty()) keys_of_open_objects.pop_back();
    if (event == json::parse_event_t::key && !keys_of_open_objects.empty() &&
        !keys_of_open_objects.back().insert(parsed.get<std::string>()).second)
      throw SafetensorsError(path + ": header names '" + parsed.get<std::string>() + "' twice");
    return true;
  };
  try {
    return json::parse(text, check);
  } catch (const json::exception& e) {
    throw SafetensorsError(path + ": header is not valid JSON: " + e.what());
  }
}

uint64_t size_product(uint64_t a, uint64_t b, const std::string& what) {
  const std::optional<uint64_t> product = checked_mul(a, b);
  if (!product) throw SafetensorsError(what + ": size overflows");
  return *product;
}

uint64_t unsigned_field(const json& j, const std::string& what) {
  if (!j.is_number_unsigned()) throw SafetensorsError(what + " must be a non-negative integer, not " + j.dump());
  return j.get<uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& name, const json& j, uint64_t data_bytes, const std::string& path) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    throw SafetensorsError(where + " needs dtype, shape and data_offsets");
  SafetensorsEntry e;
  e.name = name;
  if (!j["dtype"].is_string()) throw SafetensorsError(where + ": dtype must be a string");
  e.dtype = j["dtype"].get<std::string>();
  const size_t element = safetensors_dtype_size(e.dtype);
  if (element == 0) throw SafetensorsError(where + ": unknown dtype '" + e.dtype + "'");
  if (!j["shape"].is_array()) throw SafetensorsError(where + ": shape must be an array");
  uint64_t numel = 1;
  for (const json& d : j["shape"]) {
    const uint64_t dim = unsigned_field(d, where + " shape");
    numel = size_product(numel, dim, where);
    e.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(dim, INT64_MAX)));
  }
  const json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) throw SafetensorsError(where + ": data_offsets must be [begin, end]");
  e.begin = unsigned_field(offsets[0], where + " data_offsets");
  e.end = unsigned_field(offsets[1], where + " data_offsets");
  if (e.begin > e.end || e.end > data_bytes)
    throw SafetensorsError(where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                           ") lie outside the " + std::to_string(data_bytes) + " data bytes");
  if (e.end - e.begin != size_product(numel, element, where))
    throw SafetensorsError(where + ": data_offsets span " + std::to_string(e.end - e.begin) +
                           " bytes but its shape and dtype need " + std::to_string(numel * element));
  return e;
}

// The format has no holes and no overlaps: sorted by offset, each tensor
// starts where the previous one ended and the last ends the file.
void check_tiling(std::vector<SafetensorsEntry> entries, uint64_t data_bytes, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  uint64_t expected = 0;
  for (const SafetensorsEntry& e : entries) {
    if (e.begin != expected)
      throw SafetensorsError(path + ": tensor '" + e.name + "' starts at byte " + std::to_string(e.begin) +
                             " of the data, not at " + std::to_string(expected) + " (tensors overlap or leave a gap)");
    expected = e.end;
  }
  if (expected != data_bytes)
    throw SafetensorsError(path + ": the tensors cover " + std::to_string(expected) + " of the " +
                           std::to_string(data_bytes) + " data bytes");
}

std::string header_text(const std::vector<SafetensorsOut>& tensors, const std::map<std::string, std::string>& metadata,
                        std::vector<uint64_t>& sizes) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsOut& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    const size_t element = safetensors_dtype_size(t.dtype);
    if (element == 0 || header.contains(t.name))
      throw SafetensorsError("safetensors: tensor '" + t.name + "': unknown dtype or a name given twice");
    sizes.push_back(numel * element);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + sizes.back()}}};
    offset += sizes.back();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // tensors start 8-byte aligned
  return text;
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4},
      {"I16", 2}, {"U16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // checked against data_offsets when read
  return n;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<uint64_t> sizes;
  const std::string header = header_text(tensors, metadata, sizes);
  write_file_atomically(path, [&](std::FILE* f) {
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
    bool ok = std::fwrite(length, 1, 8, f) == 8 && std::fwrite(header.data(), 1, header.size(), f) == header.size();
    for (size_t i = 0; ok && i < tensors.size(); ++i)
      ok = std::fwrite(tensors[i].data, 1, sizes[i], f) == sizes[i];
    if (!ok) throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
  });
}

SafetensorsFile::SafetensorsFile(std::string path) : path_(std::move(path)) {
  File f = open_for_reading(path_);
  const uint64_t size = file_size(f.get(), path_);
  if (size < 8) throw SafetensorsError(path_ + ": " + std::to_string(size) + " bytes is too short for a safetensors file");
  unsigned char length[8];
  read_at(f.get(), 0, length, 8, path_);
  const uint64_t header_bytes = read_u64_le(length);
  if (header_bytes < 2 || header_bytes > kMaxHeaderBytes || header_bytes > size - 8)
    throw SafetensorsError(path_ + ": header length " + std::to_string(header_bytes) + " does not fit a " +
                           std::to_string(size) + "-byte file (not a safetensors file, or a corrupt one)");
  std::string text(header_bytes, '\0');
  read_at(f.get(), 8, text.data(), header_bytes, path_);
  const json header = parse_header(text, path_);
  if (!header.is_object()) throw SafetensorsError(path_ + ": header must be a JSON object");
  data_start_ = 8 + header_bytes;
  const uint64_t data_bytes = size - data_start_;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw SafetensorsError(path_ + ": __metadata__ must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw SafetensorsError(path_ + ": __metadata__ value of '" + k + "' must be a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    entries_.push_back(parse_entry(key, value, data_bytes, path_));
  }
  check_tiling(entries_, data_bytes, path_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  for (const SafetensorsEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<char> SafetensorsFile::read_bytes(const SafetensorsEntry& entry) const {
  File f = open_for_reading(path_);
  std::vector<char> bytes(entry.end - entry.begin);
  read_at(f.get(), data_start_ + entry.begin, bytes.data(), bytes.size(), path_);
  return bytes;
}

std::vector<float> SafetensorsFile::read_f32(const SafetensorsEntry& entry) const {
  const std::vector<char> bytes = read_bytes(entry);
  const size_t n = static_cast<size_t>(entry.numel());
  std::vector<float> out(n);
  if (entry.dtype == "F32") {
    std::memcpy(out.data(), bytes.data(), n * 4);
  } else if (entry.dtype == "BF16" || entry.dtype == "F16") {
    const bool bf16 = entry.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      out[i] = bf16 ? float_from_bf16(h) : float_from_f16(h);
    }
  } else {
    throw SafetensorsError(path_ + ": tensor '" + entry.name + "' is " + entry.dtype + "; weights must be F32, BF16 or F16");
  }
  return out;
}

}  // namespace alibi
