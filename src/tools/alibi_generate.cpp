// alibi-generate: text from a trained checkpoint, with a KV cache that may
// reach far past the training length (docs/generate.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <new>

#include "backend/select.h"
#include "config/config.h"
#include "core/version.h"
#include "eval/eval_checkpoint.h"
#include "generate/generator.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "alibi-generate: error: %s\n", message.c_str());
  return 1;
}

// --prompt, else the lines of --prompt-file ("-": standard input), else standard input.
std::vector<std::string> read_prompts(const std::vector<std::string>& given, const std::string& file) {
  if (!given.empty()) return given;
  std::vector<std::string> prompts;
  std::ifstream opened;
  if (!file.empty() && file != "-") {
    opened.open(file);
    if (!opened) throw std::runtime_error("--prompt-file " + file + ": cannot be read");
  }
  std::istream& in = opened.is_open() ? static_cast<std::istream&>(opened) : std::cin;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) prompts.push_back(line);
  if (prompts.empty()) throw std::runtime_error("no prompt given (--prompt, --prompt-file or lines on standard input)");
  return prompts;
}

}  // namespace

int main(int argc, char** argv) {
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  CLI::App app{"alibi-generate: text from a trained alibi-lm checkpoint"};
  app.set_version_flag("--version", alibi::version_text());
  std::string checkpoint_path, tokenizer_path, prompt_file, device = "auto";
  std::vector<std::string> prompts;
  alibi::GenerateOptions options;
  int threads = 0;
  bool deterministic = false, quiet = false;
  app.add_option("checkpoint", checkpoint_path, "Checkpoint file, checkpoint folder, run folder or exported folder")->required();
  app.add_option("--tokenizer", tokenizer_path, "SentencePiece model (default: the checkpoint's dataset's)");
  app.add_option("--prompt", prompts, "A prompt; repeatable");
  app.add_option("--prompt-file", prompt_file, "Prompts, one per line ('-': standard input, the default)");
  app.add_option("--max-new-tokens", options.max_new_tokens, "Tokens to generate per prompt")->capture_default_str();
  app.add_option("--max-length", options.max_length,
                 "Positions a prompt and its continuation may take (the KV cache's size; may exceed the training "
                 "length many times)")
      ->capture_default_str();
  app.add_option("--batch-size", options.batch_size, "Prompts generated together")->capture_default_str();
  app.add_option("--temperature", options.sampling.temperature, "Softmax temperature; 0: greedy")
      ->capture_default_str();
  app.add_option("--top-k", options.sampling.top_k, "Sample among the k most likely tokens; 0: all")
      ->capture_default_str();
  app.add_option("--top-p", options.sampling.top_p, "Sample among the fewest tokens whose probability reaches p")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed: the same seed gives the same text")->capture_default_str();
  app.add_option("--stop", options.stop, "End a continuation before this text; repeatable");
  app.add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads; 0: all cores")->capture_default_str();
  app.add_flag("--deterministic", deterministic, "Bitwise reproducible GPU kernels (runtime.deterministic)");
  app.add_flag("-q,--quiet", quiet, "No messages besides the text");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto device_choice = alibi::parse_device_choice(device);
    if (!device_choice) return fail("--device " + device + ": must be auto, cpu or cuda");
    if (threads < 0) return fail("--threads " + std::to_string(threads) + ": must be 0 (all cores) or more");
    const auto& s = options.sampling;
    if (!(s.temperature >= 0)) return fail("--temperature " + std::to_string(s.temperature) + ": must be 0 or more");
    if (s.top_k < 0) return fail("--top-k " + std::to_string(s.top_k) + ": must be 0 (all) or more");
    if (!(s.top_p > 0 && s.top_p <= 1)) return fail("--top-p " + std::to_string(s.top_p) + ": must be in (0, 1]");
    const alibi::EvalCheckpoint checkpoint = alibi::load_eval_checkpoint(checkpoint_path);
    const alibi::Tokenizer tokenizer = alibi::load_model_tokenizer(tokenizer_path, checkpoint);
    const std::vector<std::string> inputs = read_prompts(prompts, prompt_file);
    alibi::RuntimeConfig runtime;
    runtime.device = *device_choice;
    runtime.threads = threads;
    runtime.deterministic = deterministic;
    auto backend = alibi::make_backend(runtime);
    auto model = alibi::make_eval_model(*backend, checkpoint);
    if (!quiet)
      std::fprintf(stderr, "alibi-generate: %s | %s | trained at length %lld | %zu prompt(s)\n",
                   checkpoint.label.c_str(), backend->name().c_str(),
                   static_cast<long long>(checkpoint.train_seq_len), inputs.size());
    alibi::Generator generator(*backend, *model, tokenizer, options);
    // One prompt streams as its tokens arrive; several print whole, in order.
    const bool stream = inputs.size() == 1;
    if (stream) std::cout << inputs[0] << std::flush;
    const std::vector<std::string> texts = generator.generate(inputs, [&](size_t, const std::string& text) {
      if (stream) std::cout << text << std::flush;
    });
    if (stream) std::cout << "\n";
    for (size_t i = 0; !stream && i < inputs.size(); ++i) std::cout << inputs[i] << texts[i] << "\n";
    std::cout << std::flush;
    if (!std::cout) return fail("writing the text to standard output failed");
    return 0;
  } catch (const std::bad_alloc&) {
    return fail("out of memory: lower --max-length or --batch-size");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
