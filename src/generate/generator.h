// Text from a trained model: prompts encoded, batched, run through the model
// with a KV cache (Model::forward_cached) and continued a token at a time;
// greedy decoding picks the tokens on the device (Model::greedy_cached).
//
// Each prompt starts after an end-of-line piece, as lines do in the training
// data; the piece renders as a newline when generated. Row r of the prompts
// draws from its own random stream (seed, r), so a prompt's text does not
// depend on which others share its batch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "generate/sampler.h"
#include "model/model.h"

namespace alibi {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  // Positions a row may reach, prompt included: the KV cache's size. Each
  // batch runs until every row is done or its longest row reaches it.
  int64_t max_length = 1024;
  int64_t batch_size = 8;
  SamplingSettings sampling;
  uint64_t seed = 0;
  std::vector<std::string> stop;  // a continuation ends before the first of these
};

// Called with a prompt's index and the text its continuation grew by.
using TextSink = std::function<void(size_t prompt, const std::string& text)>;

class Generator {
 public:
  Generator(Backend& backend, Model& model, const Tokenizer& tokenizer, GenerateOptions options);

  // The continuation of every prompt; `sink` sees them grow.
  std::vector<std::string> generate(const std::vector<std::string>& prompts, const TextSink& sink = {});

 private:
  struct Row;
  void run_batch(std::vector<Row>& rows, const TextSink& sink);
  std::vector<int32_t> next_tokens(std::vector<Row>& rows, int64_t first, int64_t B, const int32_t* tokens, int64_t T,
                                   KvCache& cache);
  void take_token(Row& row, int32_t token, const TextSink& sink);

  Backend& backend_;
  Model& model_;
  const Tokenizer& tokenizer_;
  GenerateOptions options_;
};

}  // namespace alibi
