#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <unordered_map>

#include "core/hash.h"
#include "core/random.h"
#include "data/files.h"

namespace alibi {
namespace {

constexpr uint64_t kLineSampleTag = 0x746f6b2d6c696e65ULL;  // "tok-line"
// The trainer records its thread count inside the model file, so a varying
// count would change the tokenizer id of an otherwise identical model.
constexpr int kTrainerThreads = 4;

// Feeds in-memory lines to the SentencePiece trainer without a temp file.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string_view>& lines) : lines_(lines) { load(); }
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (!done()) current_.assign(lines_[index_]);
  }
  const std::vector<std::string_view>& lines_;
  size_t index_ = 0;
  std::string current_;
};

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

// At most `max_lines` non-blank lines, chosen by a seeded partial shuffle and
// kept in corpus order: the same input always trains the same model.
std::vector<std::string_view> sample_lines(const std::vector<std::string_view>& lines, int64_t max_lines,
                                           uint64_t seed) {
  std::vector<std::string_view> kept;
  for (std::string_view line : lines)
    if (!is_blank(line)) kept.push_back(line);
  if (max_lines <= 0 || static_cast<int64_t>(kept.size()) <= max_lines) return kept;
  std::vector<size_t> order(kept.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(derive_seed(seed, kLineSampleTag));
  for (size_t i = 0; i < static_cast<size_t>(max_lines); ++i)
    std::swap(order[i], order[i + rng.below(order.size() - i)]);
  order.resize(static_cast<size_t>(max_lines));
  std::sort(order.begin(), order.end());
  std::vector<std::string_view> sample;
  sample.reserve(order.size());
  for (size_t i : order) sample.push_back(kept[i]);
  return sample;
}

std::unordered_map<std::string, std::string> trainer_arguments(const TokenizerTrainOptions& options) {
  return {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", "1.0"},
      {"unk_id", "0"},
      {"eos_id", "1"},
      {"bos_id", "-1"},
      {"pad_id", "-1"},
      // We sample lines ourselves (deterministically), so SentencePiece must not.
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      // Paragraph-per-line corpora (WikiText) have long lines; the default 4192 would drop them.
      {"max_sentence_length", "1000000"},
      {"num_threads", std::to_string(kTrainerThreads)},
      {"minloglevel", "2"},
  };
}

// SentencePiece messages start with "Internal: file.cc(123) [condition] ";
// the user only needs the sentence after the condition.
std::string readable_status(const std::string& message) {
  size_t end_of_condition = message.find("] ");
  return end_of_condition == std::string::npos ? message : message.substr(end_of_condition + 2);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, std::string model_bytes)
    : processor_(std::move(processor)), model_bytes_(std::move(model_bytes)),
      id_(hex64(fnv1a64(model_bytes_.data(), model_bytes_.size()))) {}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_serialized(std::string model_bytes, const std::string& origin) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = processor->LoadFromSerializedProto(model_bytes);
  if (!status.ok()) throw DataError("tokenizer " + origin + ": not a SentencePiece model: " + status.ToString());
  if (processor->eos_id() < 0) throw DataError("tokenizer " + origin + ": model has no end-of-sentence piece");
  return Tokenizer(std::move(processor), std::move(model_bytes));
}

Tokenizer Tokenizer::load(const std::string& model_path) {
  return from_serialized(read_file_bytes(model_path), model_path);
}

Tokenizer Tokenizer::train(const std::vector<std::string_view>& lines, const TokenizerTrainOptions& options) {
  std::vector<std::string_view> sample = sample_lines(lines, options.max_lines, options.seed);
  if (sample.empty()) throw DataError("tokenizer training: the training text has no non-blank lines");
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(options.seed));
  LineIterator iterator(sample);
  std::string model_bytes;
  auto status = sentencepiece::SentencePieceTrainer::Train(trainer_arguments(options), &iterator, &model_bytes);
  if (!status.ok())
    throw DataError("tokenizer training with vocab size " + std::to_string(options.vocab_size) +
                    " failed: " + readable_status(status.ToString()));
  return from_serialized(std::move(model_bytes), "(trained)");
}

Tokenizer Tokenizer::train_file(const std::string& text_path, const TokenizerTrainOptions& options) {
  const std::string text = read_file_bytes(text_path);
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(text.data() + start, end - start);
    start = end + 1;
  }
  return train(lines, options);
}

void Tokenizer::save(const std::string& path) const { write_file_atomically(path, model_bytes_); }

std::vector<int32_t> Tokenizer::encode(std::string_view line) const {
  std::vector<int> ids;
  auto status = processor_->Encode(line, &ids);
  if (!status.ok()) throw DataError("tokenizer " + id_ + ": cannot encode: " + status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw DataError("tokenizer " + id_ + ": cannot decode: " + status.ToString());
  return text;
}

int Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int Tokenizer::eos_id() const { return processor_->eos_id(); }
int Tokenizer::unk_id() const { return processor_->unk_id(); }

std::string tokenizer_id_of_file(const std::string& model_path) {
  const std::string bytes = read_file_bytes(model_path);
  return hex64(fnv1a64(bytes.data(), bytes.size()));
}

}  // namespace alibi
