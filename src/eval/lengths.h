// Evaluation lengths as the user writes them: "512,1024" in tokens, or
// "1x,2x,4x" relative to the length the model was trained at.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace alibi {

struct LengthArg {
  std::string text;        // as written, for messages
  int64_t tokens = 0;      // absolute length; 0 when relative
  double multiple = 0.0;   // "2x" -> 2.0; 0 when absolute
};

// Parses a comma-separated list. Throws std::invalid_argument on an empty
// item, text that is not a length, or a length below 1 (e.g. "0").
std::vector<LengthArg> parse_lengths(const std::string& list);

// The length in tokens for a model trained at `train_seq_len`. Throws when a
// multiple does not give a whole number of tokens.
int64_t resolve_length(const LengthArg& arg, int64_t train_seq_len);

}  // namespace alibi
