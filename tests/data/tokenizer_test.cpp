#include "data/tokenizer.h"

#include <gtest/gtest.h>

#include "core/random.h"
#include "support/temp_dir.h"

namespace alibi {
namespace {

// A small synthetic corpus of sentences over a fixed word list.
std::vector<std::string> make_corpus(int lines) {
  static const char* kWords[] = {"the",  "quick", "brown", "fox",   "jumps", "over",  "lazy",  "dog",
                                 "cat",  "sat",   "on",    "mat",   "and",   "then",  "ran",   "away",
                                 "with", "great", "speed", "while", "birds", "sang",  "songs", "loudly"};
  Rng rng(3);
  std::vector<std::string> corpus;
  for (int i = 0; i < lines; ++i) {
    std::string line;
    int words = 4 + static_cast<int>(rng.below(8));
    for (int w = 0; w < words; ++w) {
      if (w > 0) line += ' ';
      line += kWords[rng.below(std::size(kWords))];
    }
    corpus.push_back(line + " .");
  }
  return corpus;
}

std::vector<std::string_view> views(const std::vector<std::string>& lines) {
  return std::vector<std::string_view>(lines.begin(), lines.end());
}

TokenizerTrainOptions small_options() {
  TokenizerTrainOptions options;
  options.vocab_size = 120;
  return options;
}

TEST(Tokenizer, TrainEncodeDecodeRoundTrip) {
  const std::vector<std::string> corpus = make_corpus(500);
  Tokenizer tokenizer = Tokenizer::train(views(corpus), small_options());
  EXPECT_EQ(tokenizer.vocab_size(), 120);
  EXPECT_EQ(tokenizer.eos_id(), 1);
  EXPECT_EQ(tokenizer.unk_id(), 0);
  EXPECT_EQ(tokenizer.id().size(), 16u);
  for (int i = 0; i < 20; ++i) {
    std::vector<int32_t> ids = tokenizer.encode(corpus[i]);
    ASSERT_FALSE(ids.empty());
    for (int32_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 120);
      EXPECT_NE(id, tokenizer.eos_id());
    }
    EXPECT_EQ(tokenizer.decode(ids), corpus[i]);
  }
  // Frequent words become single pieces, so text compresses.
  EXPECT_LT(tokenizer.encode("the quick brown fox").size(), 10u);
}

TEST(Tokenizer, TrainingIsDeterministic) {
  const std::vector<std::string> corpus = make_corpus(300);
  Tokenizer a = Tokenizer::train(views(corpus), small_options());
  Tokenizer b = Tokenizer::train(views(corpus), small_options());
  EXPECT_EQ(a.model_bytes(), b.model_bytes());
  EXPECT_EQ(a.id(), b.id());
}

TEST(Tokenizer, LineSampleCapIsDeterministic) {
  const std::vector<std::string> corpus = make_corpus(600);
  TokenizerTrainOptions options = small_options();
  options.max_lines = 200;
  EXPECT_EQ(Tokenizer::train(views(corpus), options).id(), Tokenizer::train(views(corpus), options).id());
}

TEST(Tokenizer, SaveAndLoadKeepTheId) {
  testing::TempDir dir("tokenizer");
  const std::vector<std::string> corpus = make_corpus(300);
  Tokenizer trained = Tokenizer::train(views(corpus), small_options());
  trained.save(dir.file("t.model"));
  Tokenizer loaded = Tokenizer::load(dir.file("t.model"));
  EXPECT_EQ(loaded.id(), trained.id());
  EXPECT_EQ(tokenizer_id_of_file(dir.file("t.model")), trained.id());
  EXPECT_EQ(loaded.encode(corpus[0]), trained.encode(corpus[0]));
}

TEST(Tokenizer, TrainFileReadsOneLinePerSentence) {
  testing::TempDir dir("tokenizer");
  std::string text;
  for (const std::string& line : make_corpus(300)) text += line + "\n";
  const std::string path = dir.write("corpus.txt", text);
  EXPECT_EQ(Tokenizer::train_file(path, small_options()).vocab_size(), 120);
}

TEST(Tokenizer, ErrorsAreDataErrors) {
  testing::TempDir dir("tokenizer");
  EXPECT_THROW(Tokenizer::load(dir.file("missing.model")), DataError);
  EXPECT_THROW(Tokenizer::load(dir.write("bad.model", "not a model")), DataError);
  EXPECT_THROW(Tokenizer::train({}, small_options()), DataError);
  TokenizerTrainOptions too_big = small_options();
  too_big.vocab_size = 50000;
  const std::vector<std::string> corpus = make_corpus(50);
  try {
    Tokenizer::train(views(corpus), too_big);
    FAIL();
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("50000"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace alibi
