// An evaluation sweep: every checkpoint at every length on one split, with
// every run of a split scoring the same tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "eval/eval_data.h"
#include "eval/eval_row.h"
#include "eval/lengths.h"

namespace alibi {

struct SweepRequest {
  std::vector<std::string> checkpoints;  // files or folders (newest checkpoint)
  EvalDataRequest data;
  std::vector<LengthArg> lengths;
  int64_t stride = 0;                    // 0: nonoverlapping (S = L)
  int64_t max_batch_tokens = 16384;
  RuntimeConfig runtime;
  bool words_only = false;               // word ppl over words alone, no end-of-line units
};

// Messages while it runs (which checkpoint and length, progress).
using SweepLog = std::function<void(const std::string&)>;

// Checks everything (checkpoints, data, tokenizers, lengths, strides, split
// length) before the first forward pass, then evaluates. Throws
// CheckpointError, DataError or std::invalid_argument with a message for the user.
std::vector<EvalRow> run_sweep(const SweepRequest& request, const SweepLog& log = {});

}  // namespace alibi
