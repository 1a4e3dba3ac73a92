// Datasets for tests, prepared with the real alibi-data tool and cached under
// the build folder (shared by the test processes ctest starts in parallel).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/random.h"

namespace alibi::testing {

// Where the built tools and the source tree are. Compiled in, and overridable
// by the environment for a test binary run from a copy of the tree (the GPU
// machine's).
inline std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}
inline std::string bin_dir() { return env_or("ALIBI_BIN_DIR", ALIBI_BIN_DIR); }
inline std::string source_dir() { return env_or("ALIBI_SOURCE_DIR", ALIBI_SOURCE_DIR); }
inline std::string bin(const std::string& tool) { return bin_dir() + "/" + tool; }

// bin_dir/test-runs/<name>, emptied and created: a run folder of its own.
inline std::filesystem::path fresh_run_dir(const std::string& name) {
  const std::filesystem::path run = std::filesystem::path(bin_dir()) / "test-runs" / name;
  std::filesystem::remove_all(run);
  std::filesystem::create_directories(run);
  return run;
}

inline int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Text from a small grammar with agreement (plural subjects take plural
// verbs, each verb has its own objects), so a model has structure to learn.
inline void write_grammar_text(const std::string& path, int sentences, uint64_t seed) {
  const char* singular[] = {"the cat", "a dog", "the old man", "my sister", "the teacher"};
  const char* plural[] = {"the cats", "two dogs", "the children", "our friends", "the birds"};
  const char* verb_s[] = {"eats", "sees", "likes", "finds"};
  const char* verb_p[] = {"eat", "see", "like", "find"};
  const char* objects[4][3] = {{"bread", "an apple", "the soup"},
                               {"the river", "a star", "the house"},
                               {"music", "the garden", "warm tea"},
                               {"a key", "the book", "a coin"}};
  const char* endings[] = {" .", " today .", " again .", " in the morning ."};
  Rng rng(seed);
  std::ofstream out(path);
  for (int i = 0; i < sentences; ++i) {
    const bool is_plural = rng.below(2);
    const int verb = static_cast<int>(rng.below(4));
    out << (is_plural ? plural[rng.below(5)] : singular[rng.below(5)]) << " "
        << (is_plural ? verb_p[verb] : verb_s[verb]) << " " << objects[verb][rng.below(3)]
        << endings[rng.below(4)] << (i % 8 == 7 ? "\n" : " ");
  }
}

// Prepares (once per build folder) a dataset: `make_text(dir)` writes text
// files into dir and returns alibi-data's input arguments for them.
template <typename MakeText>
std::string cached_dataset(const std::string& name, const std::string& data_args, MakeText make_text) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(bin_dir()) / "test-data";
  const fs::path final_dir = root / name;
  if (fs::exists(final_dir / "meta.json")) return final_dir.string();
  const fs::path work = root / (name + ".tmp." + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work / "text");
  const std::string inputs = make_text((work / "text").string());
  const std::string command = bin("alibi-data") + " " + data_args + " " + inputs +
                              " --out " + (work / "out").string() + " > " + (work / "log").string() + " 2>&1";
  if (run_command(command) != 0) return "";
  std::error_code ec;
  fs::rename(work / "out", final_dir, ec);  // another process may have won the race: fine
  fs::remove_all(work);
  return fs::exists(final_dir / "meta.json") ? final_dir.string() : "";
}

inline std::string grammar_dataset() {
  return cached_dataset("grammar", "--vocab-size 96 --valid-fraction 0.1 --test-fraction 0.05", [](const std::string& dir) {
    write_grammar_text(dir + "/grammar.txt", 12000, 7);
    return "--text " + dir + "/grammar.txt";
  });
}

// A slice of WikiText-2 from ../shared/data, or "" when that folder is absent.
inline std::string wikitext2_slice_dataset(int train_lines) {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(ALIBI_SHARED_DATA_DIR) / "wikitext-2";
  if (!fs::exists(src / "wiki.train.tokens.xz")) return "";
  // Training text: the first lines of WikiText-2 train; validation: the
  // first 600 lines of WikiText-2 valid (about 60k words), held-out articles.
  auto head = [&](const char* file, int lines, const std::string& out) {
    run_command("xz -dc " + (src / file).string() + " | head -n " + std::to_string(lines) + " > " + out);
  };
  return cached_dataset("wikitext2-" + std::to_string(train_lines), "--vocab-size 2048", [&](const std::string& dir) {
    head("wiki.train.tokens.xz", train_lines, dir + "/train.txt");
    head("wiki.valid.tokens.xz", 600, dir + "/valid.txt");
    return "--train " + dir + "/train.txt --valid " + dir + "/valid.txt";
  });
}

}  // namespace alibi::testing
