// The text an evaluation scores: one split of a prepared dataset, its token
// stream and the word counts word-level perplexity needs.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace alibi {

// What --data / --data-dir / --split name, before a checkpoint fills in the
// dataset folder of a bare split name.
struct EvalDataRequest {
  std::string data;      // a split name ("valid"), a shard file (.bin) or a dataset folder
  std::string data_dir;  // overrides the checkpoint's data.dir for a split name
  std::string split;     // the split of a dataset folder given as --data
};

struct EvalData {
  DatasetMeta dataset;
  SplitInfo split;
  std::string shard_path() const { return dataset.shard_path(split.name); }
};

// Resolves the request; `checkpoint_data_dir` is used for a bare split name
// when no data_dir is given. Throws DataError naming what is missing.
EvalData resolve_eval_data(const EvalDataRequest& request, const std::string& checkpoint_data_dir);

// Refuses a dataset whose tokenizer is not the one the model was trained on.
void check_same_tokenizer(const EvalData& data, const std::string& checkpoint_path,
                          const std::string& checkpoint_tokenizer_id);

// Word-level units of the scored tokens (docs/eval.md): the split's words,
// plus one end-of-line per line unless `words_only` (the WikiText
// convention), scaled by scored / tokens when only part of the split is
// scored.
double scored_word_units(const SplitInfo& split, int64_t scored, bool words_only);

}  // namespace alibi
