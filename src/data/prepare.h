// The alibi-data pipeline as a library call: read a corpus, split it, train
// (or load) the tokenizer on train only, encode every split into shards and
// write meta.json. The command-line tool is a thin wrapper around this.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "data/corpus.h"
#include "data/corpus_split.h"
#include "data/dataset.h"

namespace alibi {

inline constexpr int kMinVocabSize = 16;
inline constexpr int kMaxVocabSize = 1 << 24;

struct PrepareOptions {
  // Either one corpus to split (text_path) ...
  std::string text_path;
  // ... or explicit split files (train required, valid/test optional).
  std::string train_path, valid_path, test_path;
  CorpusFormat format = CorpusFormat::kText;
  std::string out_dir;
  int vocab_size = 8000;
  std::string tokenizer_path;  // an existing .model; skips training when set
  SplitFractions fractions;
  uint64_t seed = 1;
  int threads = 0;  // 0 = all cores
  int64_t tokenizer_max_lines = 2'000'000;
};

// Throws DataError (naming the offending option and value) on bad input.
// Progress lines go to `log` when it is not null.
DatasetMeta prepare_dataset(const PrepareOptions& options, std::ostream* log);

}  // namespace alibi
