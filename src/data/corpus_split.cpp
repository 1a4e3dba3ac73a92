#include "data/corpus_split.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/random.h"
#include "data/text.h"

namespace alibi {
namespace {

constexpr uint64_t kSplitTag = 0x73706c6974ULL;  // "split"

// A positive fraction always holds out at least one unit (when any remain).
int64_t held_out_count(int64_t units, double fraction) {
  if (fraction <= 0.0) return 0;
  return std::max<int64_t>(1, std::llround(static_cast<double>(units) * fraction));
}

void check_fractions(const SplitFractions& fractions) {
  auto check = [](double value, const char* name) {
    if (!(value >= 0.0 && value < 1.0))
      throw DataError(std::string(name) + " " + std::to_string(value) + ": must be in [0, 1)");
  };
  check(fractions.valid, "--valid-fraction");
  check(fractions.test, "--test-fraction");
  if (fractions.valid + fractions.test >= 1.0)
    throw DataError("--valid-fraction + --test-fraction = " + std::to_string(fractions.valid + fractions.test) +
                    ": must be below 1 so that something is left to train on");
}

void check_train_left(int64_t units, int64_t held_out, const char* unit) {
  if (held_out >= units)
    throw DataError("the corpus has only " + std::to_string(units) + " " + unit + ", too few to hold out " +
                    std::to_string(held_out) + " for valid/test and still train; lower --valid-fraction/--test-fraction");
}

Document join_lines(const std::string& name, const std::vector<std::string_view>& lines, size_t begin, size_t end) {
  Document part{name, {}};
  for (size_t i = begin; i < end; ++i) {
    part.text.append(lines[i]);
    part.text += '\n';
  }
  return part;
}

CorpusSplits split_lines_of(const Document& document, const SplitFractions& fractions) {
  const std::vector<std::string_view> lines = split_lines(document.text);
  const auto total = static_cast<int64_t>(lines.size());
  const int64_t valid = held_out_count(total, fractions.valid);
  const int64_t test = held_out_count(total, fractions.test);
  check_train_left(total, valid + test, "lines");
  const size_t train_end = static_cast<size_t>(total - valid - test);
  const size_t valid_end = train_end + static_cast<size_t>(valid);
  CorpusSplits splits;
  splits.train.push_back(join_lines(document.name, lines, 0, train_end));
  if (valid > 0) splits.valid.push_back(join_lines(document.name, lines, train_end, valid_end));
  if (test > 0) splits.test.push_back(join_lines(document.name, lines, valid_end, lines.size()));
  return splits;
}

CorpusSplits split_documents(std::vector<Document> documents, const SplitFractions& fractions, uint64_t seed) {
  const auto total = static_cast<int64_t>(documents.size());
  const int64_t valid = held_out_count(total, fractions.valid);
  const int64_t test = held_out_count(total, fractions.test);
  check_train_left(total, valid + test, "documents");
  // Fisher-Yates over document indices; ranks [0, valid) go to valid, the next `test` to test.
  std::vector<int64_t> order(documents.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  Rng rng(derive_seed(seed, kSplitTag));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<int> split_of(documents.size(), 0);  // 0 train, 1 valid, 2 test
  for (int64_t rank = 0; rank < valid + test; ++rank) split_of[order[rank]] = rank < valid ? 1 : 2;
  CorpusSplits splits;
  for (size_t i = 0; i < documents.size(); ++i) {
    auto& target = split_of[i] == 0 ? splits.train : split_of[i] == 1 ? splits.valid : splits.test;
    target.push_back(std::move(documents[i]));
  }
  return splits;
}

}  // namespace

CorpusSplits split_corpus(std::vector<Document> documents, const SplitFractions& fractions, uint64_t seed) {
  check_fractions(fractions);
  if (documents.empty()) throw DataError("the corpus holds no documents");
  if (documents.size() == 1) return split_lines_of(documents[0], fractions);
  return split_documents(std::move(documents), fractions, seed);
}

}  // namespace alibi
