// alibi-generate as a user runs it, on a tiny ALiBi model trained on a toy
// grammar: seeded text repeats, greedy text is greedy, a cache far past the
// training length works, and bad input ends with a message and exit code 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "eval/eval_fixtures.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace alibi {
namespace {

struct Outcome {
  int exit_code;
  std::string out, err;
};

Outcome generate(const std::string& args, const std::string& stdin_text = "") {
  testing::TempDir dir("generate-cli");
  const std::string input = dir.write("in", stdin_text);
  Outcome o;
  o.exit_code = testing::run_command(testing::bin("alibi-generate") + " " + args + " < " + input + " > " +
                                     dir.file("out") + " 2> " + dir.file("err"));
  std::ifstream out(dir.file("out")), err(dir.file("err"));
  o.out.assign(std::istreambuf_iterator<char>(out), {});
  o.err.assign(std::istreambuf_iterator<char>(err), {});
  return o;
}

// Removes a folder when the test process ends.
struct RemovedAtExit {
  std::string path;
  ~RemovedAtExit() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// One run per test process: ctest runs these tests side by side, and one
// shared run folder was retrained (removed and rewritten) under the feet of
// another process reading it.
const std::string& trained_run() {
  static const std::string run = [] {
    const std::string data = testing::grammar_dataset();
    const std::string name = "generate-" + std::to_string(::getpid());
    return data.empty() ? std::string() : testing::train_tiny(data, name, "alibi", 16, 40);
  }();
  static const RemovedAtExit cleanup{run};
  return run;
}

TEST(AlibiGenerate, SeededSamplesRepeatAndGreedyIsGreedy) {
  ASSERT_FALSE(trained_run().empty()) << "alibi-data could not make the grammar dataset";
  const std::string base = trained_run() + " -q --device cpu --prompt 'the cat' --max-new-tokens 12";
  const Outcome a = generate(base + " --seed 5"), b = generate(base + " --seed 5"), c = generate(base + " --seed 6");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("the cat", 0), 0u) << a.out;  // the prompt, then its continuation
  EXPECT_GT(a.out.size(), std::string("the cat\n").size());
  const Outcome greedy1 = generate(base + " --temperature 0 --seed 1"), greedy2 = generate(base + " --temperature 0 --seed 2");
  ASSERT_EQ(greedy1.exit_code, 0) << greedy1.err;
  EXPECT_EQ(greedy1.out, greedy2.out) << "greedy text must not depend on the seed";
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(a.out, c.out) << "another seed, the same 12 sampled tokens";
}

TEST(AlibiGenerate, BatchedPromptsFromStandardInputGoPastTheTrainingLength) {
  ASSERT_FALSE(trained_run().empty());
  // Trained at length 16; 120 new tokens with a cache of 160.
  const Outcome o = generate("-q --device cpu --max-new-tokens 120 --max-length 160 --batch-size 2 --seed 3 " +
                                 trained_run(),
                             "the cat\ntwo dogs\nmy sister\n");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("the cat"), std::string::npos);
  EXPECT_NE(o.out.find("two dogs"), std::string::npos);
  EXPECT_NE(o.out.find("my sister"), std::string::npos);
  // One prompt alone gives the same text as in a batch (its own random stream).
  const Outcome alone = generate("-q --device cpu --max-new-tokens 120 --max-length 160 --seed 3 --prompt 'the cat' " +
                                 trained_run());
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(o.out.substr(0, alone.out.size()), alone.out);
}

TEST(AlibiGenerate, StopStringsEndTheContinuation) {
  ASSERT_FALSE(trained_run().empty());
  const Outcome o = generate("-q --device cpu --max-new-tokens 60 --seed 4 --stop . --prompt 'the cat' " + trained_run());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.find('.'), std::string::npos) << o.out;
}

TEST(AlibiGenerate, BadInputEndsWithAMessage) {
  ASSERT_FALSE(trained_run().empty());
  auto expect_error = [](const Outcome& o, const std::string& words) {
    EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
    EXPECT_NE(o.err.find(words), std::string::npos) << "missing '" << words << "' in: " << o.err;
  };
  expect_error(generate("--device cpu --prompt x --tokenizer /nonexistent.model " + trained_run()),
               "/nonexistent.model: no such file");
  expect_error(generate("--device cpu --max-length 4 --prompt 'the cat sees the river again' " + trained_run()),
               "--max-length 4");
  expect_error(generate("--device cpu --top-p 0 --prompt x " + trained_run()), "--top-p");
  expect_error(generate("--device cpu --prompt x /nonexistent-run"), "/nonexistent-run");
}

}  // namespace
}  // namespace alibi
