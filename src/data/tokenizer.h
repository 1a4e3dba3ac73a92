// Subword tokenizer: a thin wrapper around a SentencePiece BPE model.
//
// Ids: 0 = <unk>, 1 = </s> (end of line / document boundary); there is no
// BOS or PAD piece, so every other id is a real subword. A tokenizer's id is
// the FNV-1a hash of its serialized model, which is byte-identical to the
// .model file it is saved as, so shards can name the exact tokenizer that
// made them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/data_error.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace alibi {

struct TokenizerTrainOptions {
  int vocab_size = 8000;
  // Training reads at most this many lines, drawn with a seeded shuffle, so
  // huge corpora train in bounded time and memory yet deterministically.
  int64_t max_lines = 2'000'000;
  uint64_t seed = 1;
};

class Tokenizer {
 public:
  // Loads a .model file.
  static Tokenizer load(const std::string& model_path);
  // Loads from the bytes of a .model file.
  static Tokenizer from_serialized(std::string model_bytes, const std::string& origin);
  // Trains a BPE model on the given lines (empty lines are ignored).
  static Tokenizer train(const std::vector<std::string_view>& lines, const TokenizerTrainOptions& options);
  // Trains on a text file, one sentence/paragraph per line.
  static Tokenizer train_file(const std::string& text_path, const TokenizerTrainOptions& options);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Writes the model bytes atomically (temp file + rename).
  void save(const std::string& path) const;

  // Thread-safe: several threads may encode with one Tokenizer.
  std::vector<int32_t> encode(std::string_view line) const;
  std::string decode(const std::vector<int32_t>& ids) const;

  int vocab_size() const;
  int eos_id() const;
  int unk_id() const;
  // 16 hex digits of fnv1a64 over the model bytes.
  const std::string& id() const { return id_; }
  const std::string& model_bytes() const { return model_bytes_; }

 private:
  Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, std::string model_bytes);

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string model_bytes_;
  std::string id_;
};

// The tokenizer id of a .model file on disk.
std::string tokenizer_id_of_file(const std::string& model_path);

}  // namespace alibi
