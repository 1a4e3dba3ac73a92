// End-to-end: runs the alibi-data binary the way a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdlib>

#include "core/random.h"
#include "data/dataset.h"
#include "data/files.h"
#include "data/shard.h"
#include "support/temp_dir.h"
#include "data/tokenizer.h"

namespace alibi {
namespace {

struct RunResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

RunResult run_alibi_data(const testing::TempDir& scratch, const std::string& arguments) {
  const std::string log = scratch.file("log.txt");
  const std::string command = std::string(ALIBI_BIN_DIR) + "/alibi-data " + arguments + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file_bytes(log)};
}

// Ten small "articles" of generated sentences, one file each.
void write_corpus_folder(const testing::TempDir& dir, const std::string& folder, int lines_per_file) {
  static const char* kWords[] = {"alpha", "beta", "gamma", "delta", "river", "stone", "light", "north",
                                 "sings", "falls", "grows", "moves", "a",     "the",   "of",    "in"};
  Rng rng(11);
  for (int file = 0; file < 10; ++file) {
    std::string text;
    for (int line = 0; line < lines_per_file; ++line) {
      for (int w = 0; w < 6; ++w) {
        if (w > 0) text += ' ';
        text += kWords[rng.below(std::size(kWords))];
      }
      text += line % 5 == 4 ? "\n\n" : "\n";  // blank lines are not encoded
    }
    dir.write(folder + "/article" + std::to_string(file) + ".txt", text);
  }
}

TEST(AlibiData, PreparesAFolderCorpus) {
  testing::TempDir dir("alibi-data");
  write_corpus_folder(dir, "corpus", 30);
  const std::string out = dir.file("prepared");
  RunResult result = run_alibi_data(dir, "--text " + dir.file("corpus") + " --out " + out +
                                             " --vocab-size 60 --valid-fraction 0.1 --test-fraction 0.1 --seed 3");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("tokens/word"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(out), std::string::npos) << result.output;

  nlohmann::json meta = nlohmann::json::parse(read_file_bytes(out + "/meta.json"));
  EXPECT_EQ(meta["format_version"], 1);
  EXPECT_EQ(meta["vocab_size"], 60);
  EXPECT_EQ(meta["tokenizer_file"], "tokenizer.model");
  EXPECT_EQ(meta["tokenizer_id"], tokenizer_id_of_file(out + "/tokenizer.model"));
  EXPECT_EQ(meta["splits"]["train"]["documents"], 8);
  EXPECT_EQ(meta["splits"]["valid"]["documents"], 1);
  EXPECT_EQ(meta["splits"]["test"]["documents"], 1);
  EXPECT_EQ(meta["splits"]["train"]["words"], 8 * 30 * 6);
  EXPECT_EQ(meta["splits"]["train"]["lines"], 8 * 30);
  EXPECT_EQ(meta["splits"]["valid"]["file"], "valid.bin");

  // The dataset validates, and every line ends with exactly one EOS.
  DatasetMeta loaded = load_dataset(out);
  ShardReader train(loaded.shard_path("train"));
  EXPECT_EQ(train.size(), loaded.split("train").tokens);
  Tokenizer tokenizer = Tokenizer::load(loaded.tokenizer_path());
  int64_t eos = 0;
  for (int64_t i = 0; i < train.size(); ++i) eos += train.token(i) == tokenizer.eos_id();
  EXPECT_EQ(eos, loaded.split("train").lines);
  EXPECT_EQ(train.token(train.size() - 1), tokenizer.eos_id());
}

TEST(AlibiData, OutputDoesNotDependOnThreadCount) {
  testing::TempDir dir("alibi-data");
  write_corpus_folder(dir, "corpus", 150);  // more lines than one encoding chunk
  for (int threads : {1, 2}) {
    const std::string count = std::to_string(threads);
    RunResult result = run_alibi_data(
        dir, "--text " + dir.file("corpus") + " --out " + dir.file("t" + count) + " --vocab-size 60 --threads " + count);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  EXPECT_EQ(read_file_bytes(dir.file("t1/train.bin")), read_file_bytes(dir.file("t2/train.bin")));
  EXPECT_EQ(read_file_bytes(dir.file("t1/meta.json")), read_file_bytes(dir.file("t2/meta.json")));
}

TEST(AlibiData, UsesGivenSplitFilesAndAnExistingTokenizer) {
  testing::TempDir dir("alibi-data");
  write_corpus_folder(dir, "corpus", 30);
  const std::string first = dir.file("first");
  ASSERT_EQ(run_alibi_data(dir, "--text " + dir.file("corpus") + " --out " + first + " --vocab-size 60").exit_code, 0);
  const std::string second = dir.file("second");
  RunResult result = run_alibi_data(dir, "--train " + dir.file("corpus/article0.txt") + " --valid " +
                                             dir.file("corpus/article1.txt") + " --tokenizer " + first +
                                             "/tokenizer.model --out " + second);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  DatasetMeta meta = load_dataset(second);
  EXPECT_EQ(meta.tokenizer_id, load_dataset(first).tokenizer_id);
  EXPECT_TRUE(meta.has_split("valid"));
  EXPECT_FALSE(meta.has_split("test"));
  EXPECT_EQ(meta.split("valid").documents, 1);
}

TEST(AlibiData, RewritingADatasetRemovesItsStaleSplitFilesOnly) {
  testing::TempDir dir("alibi-data");
  write_corpus_folder(dir, "corpus", 30);
  const std::string out = dir.file("out");
  ASSERT_EQ(run_alibi_data(dir, "--text " + dir.file("corpus") + " --out " + out + " --vocab-size 60").exit_code, 0);
  ASSERT_TRUE(std::filesystem::exists(out + "/test.bin"));
  dir.write("out/notes.bin", "the user's own file");
  // The same folder again, now without valid and test splits.
  const RunResult result =
      run_alibi_data(dir, "--train " + dir.file("corpus/article0.txt") + " --out " + out + " --vocab-size 60");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_FALSE(std::filesystem::exists(out + "/valid.bin"));
  EXPECT_FALSE(std::filesystem::exists(out + "/test.bin"));
  EXPECT_TRUE(std::filesystem::exists(out + "/train.bin"));
  EXPECT_TRUE(std::filesystem::exists(out + "/notes.bin")) << "not a file an earlier alibi-data run wrote";
  EXPECT_NE(result.output.find("removed " + out + "/test.bin"), std::string::npos) << result.output;
  EXPECT_EQ(load_dataset(out).splits.size(), 1u);
}

TEST(AlibiData, MissingInputIsReportedNotCrashed) {
  testing::TempDir dir("alibi-data");
  RunResult result = run_alibi_data(dir, "--text " + dir.file("nowhere") + " --out " + dir.file("out"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("--text " + dir.file("nowhere")), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("no such file"), std::string::npos) << result.output;
}

TEST(AlibiData, BadVocabSizesNameTheArgument) {
  testing::TempDir dir("alibi-data");
  write_corpus_folder(dir, "corpus", 5);
  RunResult tiny = run_alibi_data(dir, "--text " + dir.file("corpus") + " --out " + dir.file("o") + " --vocab-size 2");
  EXPECT_NE(tiny.exit_code, 0);
  EXPECT_NE(tiny.output.find("--vocab-size 2"), std::string::npos) << tiny.output;
  RunResult huge = run_alibi_data(dir, "--text " + dir.file("corpus") + " --out " + dir.file("o") + " --vocab-size 90000");
  EXPECT_NE(huge.exit_code, 0);
  EXPECT_NE(huge.output.find("--vocab-size 90000"), std::string::npos) << huge.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("o/meta.json")));
}

TEST(AlibiData, EmptyCorpusIsRefused) {
  testing::TempDir dir("alibi-data");
  dir.write("empty.txt", "\n   \n\n");
  RunResult result = run_alibi_data(dir, "--text " + dir.file("empty.txt") + " --out " + dir.file("o"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("empty"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace alibi
