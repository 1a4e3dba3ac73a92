#include "data/dataset.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "data/files.h"
#include "data/shard.h"
#include "data/tokenizer.h"

namespace alibi {
namespace {

using Json = nlohmann::ordered_json;  // keeps splits in train/valid/test order

std::string join_path(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// Fetches meta[key] with the expected type or throws naming file and key.
template <typename T>
T required(const Json& object, const std::string& key, const std::string& file, const std::string& where = "") {
  const std::string full_key = where.empty() ? key : where + "." + key;
  if (!object.is_object() || !object.contains(key))
    throw DataError(file + ": missing key \"" + full_key + "\"");
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw DataError(file + ": key \"" + full_key + "\" has the wrong type (" + object.at(key).dump() + ")");
  }
}

SplitInfo parse_split(const std::string& name, const Json& entry, const std::string& file) {
  const std::string where = "splits." + name;
  SplitInfo split;
  split.name = name;
  split.file = required<std::string>(entry, "file", file, where);
  split.tokens = required<int64_t>(entry, "tokens", file, where);
  split.words = required<int64_t>(entry, "words", file, where);
  split.lines = required<int64_t>(entry, "lines", file, where);
  split.documents = required<int64_t>(entry, "documents", file, where);
  split.source = required<std::string>(entry, "source", file, where);
  return split;
}

DatasetMeta parse_meta(const std::string& dir, const std::string& file) {
  Json json;
  try {
    json = Json::parse(read_file_bytes(file));
  } catch (const nlohmann::json::parse_error& error) {
    throw DataError(file + ": not valid JSON: " + error.what());
  }
  DatasetMeta meta;
  meta.dir = dir;
  meta.format_version = required<int>(json, "format_version", file);
  if (meta.format_version != kDatasetFormatVersion)
    throw DataError(file + ": unsupported format_version " + std::to_string(meta.format_version) +
                    " (this build reads " + std::to_string(kDatasetFormatVersion) + ")");
  meta.vocab_size = required<int64_t>(json, "vocab_size", file);
  meta.tokenizer_id = required<std::string>(json, "tokenizer_id", file);
  meta.tokenizer_file = required<std::string>(json, "tokenizer_file", file);
  const Json splits = required<Json>(json, "splits", file);
  if (!splits.is_object() || splits.empty()) throw DataError(file + ": \"splits\" must be a non-empty object");
  for (const auto& [name, entry] : splits.items()) meta.splits.push_back(parse_split(name, entry, file));
  return meta;
}

void check_tokenizer(const DatasetMeta& meta) {
  const std::string path = meta.tokenizer_path();
  if (!std::filesystem::exists(path)) throw DataError("dataset " + meta.dir + ": tokenizer file " + path + " is missing");
  const std::string actual = tokenizer_id_of_file(path);
  if (actual != meta.tokenizer_id)
    throw DataError("dataset " + meta.dir + ": " + path + " has id " + actual + " but meta.json says " +
                    meta.tokenizer_id + " (tokenizer replaced after the shards were written?)");
}

void check_shard(const DatasetMeta& meta, const SplitInfo& split) {
  const std::string path = meta.shard_path(split.name);
  const ShardHeader header = read_shard_header(path);
  auto mismatch = [&](const std::string& what, const std::string& in_shard, const std::string& in_meta) {
    throw DataError("shard " + path + ": " + what + " " + in_shard + " does not match meta.json (" + in_meta + ")");
  };
  if (header.vocab_size != meta.vocab_size)
    mismatch("vocab size", std::to_string(header.vocab_size), std::to_string(meta.vocab_size));
  if (header.tokenizer_id != meta.tokenizer_id) mismatch("tokenizer id", header.tokenizer_id, meta.tokenizer_id);
  if (header.tokens != split.tokens)
    mismatch("token count", std::to_string(header.tokens), std::to_string(split.tokens));
}

}  // namespace

bool DatasetMeta::has_split(const std::string& name) const {
  for (const SplitInfo& s : splits)
    if (s.name == name) return true;
  return false;
}

const SplitInfo& DatasetMeta::split(const std::string& name) const {
  std::string available;
  for (const SplitInfo& s : splits) {
    if (s.name == name) return s;
    available += (available.empty() ? "" : ", ") + s.name;
  }
  throw DataError("dataset " + dir + " has no split \"" + name + "\" (available: " + available + ")");
}

std::string DatasetMeta::shard_path(const std::string& split_name) const {
  return join_path(dir, split(split_name).file);
}

std::string DatasetMeta::tokenizer_path() const { return join_path(dir, tokenizer_file); }

DatasetMeta load_dataset(const std::string& dir) {
  const std::string file = join_path(dir, kDatasetMetaFile);
  if (!std::filesystem::exists(file))
    throw DataError("dataset " + dir + ": " + file + " is missing (prepare the dataset with alibi-data)");
  DatasetMeta meta = parse_meta(dir, file);
  check_tokenizer(meta);
  for (const SplitInfo& split : meta.splits) check_shard(meta, split);
  return meta;
}

void save_dataset_meta(const DatasetMeta& meta) {
  Json json;
  json["format"] = "alibi-lm dataset";
  json["format_version"] = meta.format_version;
  json["vocab_size"] = meta.vocab_size;
  json["tokenizer_id"] = meta.tokenizer_id;
  json["tokenizer_file"] = meta.tokenizer_file;
  Json splits = Json::object();
  for (const SplitInfo& split : meta.splits) {
    splits[split.name] = {{"file", split.file},           {"tokens", split.tokens}, {"words", split.words},
                          {"lines", split.lines},         {"documents", split.documents},
                          {"source", split.source}};
  }
  json["splits"] = splits;
  write_file_atomically(join_path(meta.dir, kDatasetMetaFile), json.dump(2) + "\n");
}

}  // namespace alibi
