#include "generate/generator.h"

#include <algorithm>
#include <stdexcept>

#include "core/random.h"

namespace alibi {

struct Generator::Row {
  size_t prompt = 0;               // index among the prompts
  std::vector<int32_t> tokens;     // the prompt's, then the generated ones
  size_t prompt_tokens = 0;
  std::string text;                // the continuation so far
  std::string finished_lines;      // its lines that ended with an end-of-line piece
  size_t line_begin = 0;           // first token of the line being generated
  std::string prompt_text;         // the prompt as the tokenizer decodes it
  bool done = false;
  Rng rng;
};

Generator::Generator(Backend& backend, Model& model, const Tokenizer& tokenizer, GenerateOptions options)
    : backend_(backend), model_(model), tokenizer_(tokenizer), options_(std::move(options)) {
  if (options_.max_new_tokens < 1) throw std::invalid_argument("--max-new-tokens must be at least 1");
  if (options_.max_length < 2) throw std::invalid_argument("--max-length must be at least 2");
  if (options_.batch_size < 1) throw std::invalid_argument("--batch-size must be at least 1");
  if (tokenizer.vocab_size() > model.shape().vocab)
    throw std::invalid_argument("the tokenizer's " + std::to_string(tokenizer.vocab_size()) +
                                " pieces do not fit the model's vocabulary of " + std::to_string(model.shape().vocab));
}

std::vector<std::string> Generator::generate(const std::vector<std::string>& prompts, const TextSink& sink) {
  std::vector<Row> all(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Row& row = all[i];
    row.prompt = i;
    row.tokens.push_back(tokenizer_.eos_id());  // a line boundary, as before every line in training
    for (int32_t id : tokenizer_.encode(prompts[i])) row.tokens.push_back(id);
    row.prompt_tokens = row.tokens.size();
    row.line_begin = 1;  // the prompt's line: decoded with its continuation, for the space between them
    row.prompt_text = tokenizer_.decode(std::vector<int32_t>(row.tokens.begin() + 1, row.tokens.end()));
    if (static_cast<int64_t>(row.prompt_tokens) >= options_.max_length)
      throw std::invalid_argument("prompt " + std::to_string(i + 1) + " is " + std::to_string(row.prompt_tokens) +
                                  " tokens long (with its leading line break), which leaves no room under "
                                  "--max-length " + std::to_string(options_.max_length));
    row.rng = Rng(derive_seed(options_.seed, i));
  }
  for (size_t first = 0; first < all.size(); first += static_cast<size_t>(options_.batch_size)) {
    const size_t end = std::min(all.size(), first + static_cast<size_t>(options_.batch_size));
    std::vector<Row> batch(std::make_move_iterator(all.begin() + first), std::make_move_iterator(all.begin() + end));
    run_batch(batch, sink);
    std::move(batch.begin(), batch.end(), all.begin() + first);
  }
  std::vector<std::string> texts;
  for (Row& row : all) texts.push_back(std::move(row.text));
  return texts;
}

void Generator::run_batch(std::vector<Row>& rows, const TextSink& sink) {
  const int64_t B = static_cast<int64_t>(rows.size());
  size_t longest = 0;
  for (const Row& row : rows) longest = std::max(longest, row.prompt_tokens);
  // Every row steps together, so the longest prompt bounds the steps.
  const int64_t steps = std::min<int64_t>(options_.max_new_tokens, options_.max_length - static_cast<int64_t>(longest));
  KvCache cache(backend_, model_.shape(), B, static_cast<int64_t>(longest) + steps);
  for (int64_t b = 0; b < B; ++b) {
    Row& row = rows[b];
    const int32_t token = next_tokens(rows, b, 1, row.tokens.data(), static_cast<int64_t>(row.tokens.size()), cache)[0];
    take_token(row, token, sink);
  }
  auto all_done = [&] { return std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.done; }); };
  if (steps < 2 || all_done()) return;
  std::vector<int32_t> last(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) last[b] = rows[b].tokens.back();
  auto take = [&](const std::vector<int32_t>& next) {
    for (int64_t b = 0; b < B; ++b)
      if (!rows[b].done) take_token(rows[b], next[b], sink);
    return !all_done();
  };
  if (options_.sampling.temperature == 0) {  // the device a step ahead, each step's tokens fed back there
    model_.greedy_ahead(last.data(), B, cache, 0, tokenizer_.vocab_size(), steps - 1,
                        [&](int64_t, const std::vector<int32_t>& next) { return take(next); });
    return;
  }
  for (int64_t step = 1; step < steps; ++step) {
    const std::vector<int32_t> next = next_tokens(rows, 0, B, last.data(), 1, cache);
    if (!take(next)) break;
    for (int64_t b = 0; b < B; ++b) last[b] = rows[b].tokens.back();
  }
}

// The next token of rows first .. first + B - 1 after `tokens` [B, T], among
// the tokenizer's pieces (the model's vocabulary may be padded past them):
// greedy on the device, or sampled on the host from the logits, one random
// draw for each row still running.
std::vector<int32_t> Generator::next_tokens(std::vector<Row>& rows, int64_t first, int64_t B, const int32_t* tokens,
                                            int64_t T, KvCache& cache) {
  const int64_t V = model_.shape().vocab, pieces = tokenizer_.vocab_size();
  if (options_.sampling.temperature == 0) return model_.greedy_cached(tokens, B, T, cache, first, pieces);
  const std::vector<float> logits = model_.forward_cached(tokens, B, T, cache, first);
  std::vector<int32_t> next(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    Row& row = rows[first + b];
    if (!row.done) next[b] = sample_token(logits.data() + b * V, pieces, options_.sampling, row.rng.uniform());
  }
  return next;
}

// Extends the row by its next token and its text, up to a stop string.
void Generator::take_token(Row& row, int32_t token, const TextSink& sink) {
  row.tokens.push_back(token);
  // Lines end at the end-of-line piece; the current one is decoded whole
  // (not piece by piece), which keeps SentencePiece's spaces right.
  if (token == tokenizer_.eos_id()) {
    row.finished_lines += tokenizer_.decode(std::vector<int32_t>(row.tokens.begin() + row.line_begin,
                                                                 row.tokens.end() - 1)) + "\n";
    row.line_begin = row.tokens.size();
  }
  std::string text =
      row.finished_lines + tokenizer_.decode(std::vector<int32_t>(row.tokens.begin() + row.line_begin, row.tokens.end()));
  // The continuation is what follows the prompt's own text.
  text = text.compare(0, row.prompt_text.size(), row.prompt_text) == 0 ? text.substr(row.prompt_text.size()) : text;
  size_t end = text.size();
  for (const std::string& stop : options_.stop)
    if (const size_t at = text.find(stop); !stop.empty() && at != std::string::npos) end = std::min(end, at);
  if (end < text.size()) {
    text.resize(end);
    row.done = true;
  }
  // Text already handed out stays; only what follows it is new.
  if (text.size() > row.text.size() && text.compare(0, row.text.size(), row.text) == 0) {
    if (sink) sink(row.prompt, text.substr(row.text.size()));
    row.text = text;
  } else if (text.size() >= row.text.size()) {
    row.text = text;  // SentencePiece rewrote an earlier piece (rare); keep the better text
  }
}

}  // namespace alibi
