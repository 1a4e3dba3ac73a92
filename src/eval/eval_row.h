// One line of an evaluation report: a checkpoint evaluated at one length.
#pragma once

#include <cstdint>
#include <string>

namespace alibi {

struct EvalRow {
  // What was evaluated.
  std::string checkpoint;    // file path
  std::string label;         // "<run>@<step>"
  std::string position;      // position method
  int64_t step = 0;
  int64_t train_length = 0;  // train.seq_len of the run
  std::string dataset, split;
  // How.
  int64_t length = 0;        // L
  int64_t stride = 0;        // S (= L for nonoverlapping)
  std::string mode;          // "nonoverlapping" or "sliding"
  // Whether it could run; when not, `note` says why and the numbers are 0.
  bool available = true;
  std::string note;
  // Results.
  int64_t tokens_scored = 0;
  int64_t tokens_processed = 0;
  double nll = 0.0;          // summed, nats
  double token_ppl = 0.0;    // exp(nll / tokens_scored)
  double word_units = 0.0;   // words (+ lines) of the scored part
  double word_ppl = 0.0;     // exp(nll / word_units); 0 when the split has no word count
  double seconds = 0.0;
  double tokens_per_s = 0.0; // scored tokens per second
  int64_t batch_windows = 0; // windows per forward
};

}  // namespace alibi
