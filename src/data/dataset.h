// A prepared dataset: a directory holding meta.json, tokenizer.model and one
// token shard per split (<split>.bin). alibi-data writes it; training and
// evaluation open it with load_dataset(), which refuses anything inconsistent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_error.h"

namespace alibi {

inline constexpr int kDatasetFormatVersion = 1;
inline constexpr const char* kDatasetMetaFile = "meta.json";

struct SplitInfo {
  std::string name;    // "train", "valid", "test"
  std::string file;    // shard file name inside the dataset directory
  std::string source;  // where the text came from (path and format)
  int64_t tokens = 0;     // tokens in the shard, EOS included
  int64_t words = 0;      // whitespace-separated words of the raw text
  int64_t lines = 0;      // non-blank lines (= EOS tokens)
  int64_t documents = 0;  // documents (files) in the split
};

struct DatasetMeta {
  std::string dir;
  int format_version = kDatasetFormatVersion;
  int64_t vocab_size = 0;
  std::string tokenizer_id;
  std::string tokenizer_file = "tokenizer.model";
  std::vector<SplitInfo> splits;

  bool has_split(const std::string& name) const;
  // Throws DataError listing the available splits when `name` is absent.
  const SplitInfo& split(const std::string& name) const;
  std::string shard_path(const std::string& split_name) const;
  std::string tokenizer_path() const;
};

// Reads dir/meta.json and checks it against the tokenizer file and every
// shard header (vocab size, tokenizer id, token count).
DatasetMeta load_dataset(const std::string& dir);

// Writes meta.dir/meta.json atomically.
void save_dataset_meta(const DatasetMeta& meta);

}  // namespace alibi
