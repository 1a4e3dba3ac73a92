#include "data/prepare.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/encode.h"
#include "data/files.h"
#include "data/shard.h"
#include "data/text.h"
#include "data/tokenizer.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

struct NamedSplit {
  std::string name;
  std::string source;
  std::vector<Document> documents;
};

void check_exists(const std::string& option, const std::string& path) {
  std::error_code error;
  if (!fs::exists(path, error)) throw DataError(option + " " + path + ": no such file or directory");
}

void check_options(const PrepareOptions& options) {
  const bool single = !options.text_path.empty();
  const bool explicit_splits = !options.train_path.empty() || !options.valid_path.empty() || !options.test_path.empty();
  if (single == explicit_splits) throw DataError("give either --text PATH or --train PATH [--valid PATH] [--test PATH]");
  if (explicit_splits && options.train_path.empty()) throw DataError("--valid/--test need --train as well");
  if (options.out_dir.empty()) throw DataError("--out DIR is required");
  if (options.tokenizer_path.empty() && (options.vocab_size < kMinVocabSize || options.vocab_size > kMaxVocabSize))
    throw DataError("--vocab-size " + std::to_string(options.vocab_size) + ": must be between " +
                    std::to_string(kMinVocabSize) + " and " + std::to_string(kMaxVocabSize));
  if (single) check_exists("--text", options.text_path);
  if (!options.train_path.empty()) check_exists("--train", options.train_path);
  if (!options.valid_path.empty()) check_exists("--valid", options.valid_path);
  if (!options.test_path.empty()) check_exists("--test", options.test_path);
  if (!options.tokenizer_path.empty()) check_exists("--tokenizer", options.tokenizer_path);
}

std::string describe_source(const PrepareOptions& options, const std::string& path) {
  return std::string(corpus_format_name(options.format)) + ":" + fs::absolute(path).lexically_normal().string();
}

TextStats stats_of(const std::vector<Document>& documents) {
  TextStats stats;
  for (const Document& document : documents) stats += count_text(document.text);
  return stats;
}

std::vector<Document> read_nonempty_corpus(const std::string& option, const std::string& path, CorpusFormat format) {
  std::vector<Document> documents = read_corpus(path, format);
  if (stats_of(documents).words == 0)
    throw DataError(option + " " + path + ": corpus is empty (no non-blank lines)");
  return documents;
}

std::vector<NamedSplit> read_splits(const PrepareOptions& options) {
  std::vector<NamedSplit> splits;
  if (!options.text_path.empty()) {
    CorpusSplits parts = split_corpus(read_nonempty_corpus("--text", options.text_path, options.format),
                                      options.fractions, options.seed);
    const std::string source = describe_source(options, options.text_path);
    const std::string how = " (split with seed " + std::to_string(options.seed) + ")";
    splits.push_back({"train", source + how, std::move(parts.train)});
    if (!parts.valid.empty()) splits.push_back({"valid", source + how, std::move(parts.valid)});
    if (!parts.test.empty()) splits.push_back({"test", source + how, std::move(parts.test)});
    return splits;
  }
  auto add = [&](const std::string& name, const std::string& path) {
    if (!path.empty())
      splits.push_back({name, describe_source(options, path), read_nonempty_corpus("--" + name, path, options.format)});
  };
  add("train", options.train_path);
  add("valid", options.valid_path);
  add("test", options.test_path);
  return splits;
}

Tokenizer make_tokenizer(const PrepareOptions& options, const NamedSplit& train, std::ostream* log) {
  if (!options.tokenizer_path.empty()) return Tokenizer::load(options.tokenizer_path);
  std::vector<std::string_view> lines;
  for (const Document& document : train.documents)
    for (std::string_view line : split_lines(document.text)) lines.push_back(line);
  if (log) *log << "training a " << options.vocab_size << "-piece BPE tokenizer on " << lines.size() << " train lines\n";
  TokenizerTrainOptions train_options;
  train_options.vocab_size = options.vocab_size;
  train_options.max_lines = options.tokenizer_max_lines;
  train_options.seed = options.seed;
  try {
    return Tokenizer::train(lines, train_options);
  } catch (const DataError& error) {
    throw DataError("--vocab-size " + std::to_string(options.vocab_size) + ": cannot train a tokenizer on " +
                    train.source + ": " + error.what());
  }
}

SplitInfo write_split(const PrepareOptions& options, const Tokenizer& tokenizer, const NamedSplit& split) {
  SplitInfo info;
  info.name = split.name;
  info.file = split.name + ".bin";
  info.source = split.source;
  const TextStats stats = stats_of(split.documents);
  info.words = stats.words;
  info.lines = stats.lines;
  info.documents = static_cast<int64_t>(split.documents.size());
  ShardWriter writer((fs::path(options.out_dir) / info.file).string(), tokenizer.vocab_size(), tokenizer.id());
  info.tokens = encode_documents(tokenizer, split.documents, options.threads,
                                 [&](const std::vector<int32_t>& tokens) { writer.append(tokens); });
  writer.finish();
  return info;
}

// The split files that an earlier alibi-data run recorded in out_dir's
// meta.json: the files of that folder this tool owns. Plain names only, so a
// hand-edited meta.json cannot point the clean-up anywhere else.
std::vector<std::string> split_files_of_earlier_run(const std::string& out_dir) {
  const fs::path meta_path = fs::path(out_dir) / kDatasetMetaFile;
  std::error_code error;
  if (!fs::exists(meta_path, error)) return {};
  const nlohmann::json meta = nlohmann::json::parse(read_file_bytes(meta_path.string()), nullptr, false);
  if (!meta.is_object() || !meta.contains("splits") || !meta["splits"].is_object()) return {};
  std::vector<std::string> files;
  for (const auto& [name, entry] : meta["splits"].items()) {
    if (!entry.is_object() || !entry.contains("file") || !entry["file"].is_string()) continue;
    const std::string file = entry["file"];
    if (fs::path(file).filename() == file && file != "." && file != "..") files.push_back(file);
  }
  return files;
}

// Removes the earlier run's split files that the new dataset does not have
// (a --test split dropped, say), so that no stale shard stays beside it.
void remove_stale_split_files(const std::vector<std::string>& earlier, const DatasetMeta& meta, std::ostream* log) {
  for (const std::string& file : earlier) {
    const bool kept = std::any_of(meta.splits.begin(), meta.splits.end(),
                                  [&](const SplitInfo& split) { return split.file == file; });
    std::error_code error;
    if (kept || !fs::remove(fs::path(meta.dir) / file, error)) continue;
    if (log) *log << "removed " << (fs::path(meta.dir) / file).string() << " of the earlier dataset there\n";
  }
}

}  // namespace

DatasetMeta prepare_dataset(const PrepareOptions& options, std::ostream* log) {
  check_options(options);
  std::vector<NamedSplit> splits = read_splits(options);
  if (stats_of(splits.front().documents).words == 0)
    throw DataError("the train split of " + splits.front().source + " is empty (no non-blank lines)");
  const Tokenizer tokenizer = make_tokenizer(options, splits.front(), log);
  std::error_code error;
  fs::create_directories(options.out_dir, error);
  if (error) throw DataError("--out " + options.out_dir + ": cannot create directory: " + error.message());
  const std::vector<std::string> earlier_files = split_files_of_earlier_run(options.out_dir);
  DatasetMeta meta;
  meta.dir = options.out_dir;
  meta.vocab_size = tokenizer.vocab_size();
  meta.tokenizer_id = tokenizer.id();
  tokenizer.save(meta.tokenizer_path());
  for (const NamedSplit& split : splits) {
    if (log) *log << "encoding " << split.name << " (" << split.documents.size() << " documents)\n";
    meta.splits.push_back(write_split(options, tokenizer, split));
  }
  save_dataset_meta(meta);  // first: a crash before the clean-up leaves a consistent dataset
  remove_stale_split_files(earlier_files, meta, log);
  return meta;
}

}  // namespace alibi
