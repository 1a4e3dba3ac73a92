// The safetensors format (Hugging Face's weight files), written and read:
//
//   u64 little-endian N | N bytes of JSON header | tensor bytes
//
// The header maps each tensor's name to {"dtype", "shape", "data_offsets":
// [begin, end)}, offsets counted from the first byte after the header, plus
// an optional "__metadata__" of string pairs. The reader treats the file as
// hostile: the header's size, nesting, keys, shapes and offsets are all
// checked (without overflow) before any tensor byte is read, and the tensors
// must tile the data section exactly, as the format requires.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace alibi {

struct SafetensorsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A tensor to write: raw little-endian bytes of `dtype` ("F32", "BF16", "I32").
struct SafetensorsOut {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes the file atomically (a temporary sibling renamed into place).
void write_safetensors(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // within the data section
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Reads and checks the header; throws SafetensorsError naming the file.
  explicit SafetensorsFile(std::string path);

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when there is no tensor of that name.
  const SafetensorsEntry* find(const std::string& name) const;

  // The tensor's raw bytes.
  std::vector<char> read_bytes(const SafetensorsEntry& entry) const;
  // The tensor as floats: F32, BF16 and F16 are converted; other dtypes throw.
  std::vector<float> read_f32(const SafetensorsEntry& entry) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Bytes per element of a safetensors dtype name; 0 when unknown.
size_t safetensors_dtype_size(const std::string& dtype);

}  // namespace alibi
