// alibi-export: a trained model as a folder that Hugging Face transformers
// loads (BLOOM: config.json, model.safetensors) with its tokenizer, and that
// alibi-generate, alibi-eval and alibi-train --init-from read back
// (docs/export.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <new>
#include <random>

#include "backend/select.h"
#include "config/config.h"
#include "core/version.h"
#include "eval/eval_checkpoint.h"
#include "export/bloom.h"
#include "export/export_folder.h"
#include "export/safetensors.h"

namespace {

namespace fs = std::filesystem;

int fail(const std::string& message) {
  std::fprintf(stderr, "alibi-export: error: %s\n", message.c_str());
  return 1;
}

bool is_nonempty_folder(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && !fs::is_empty(dir, ec);
}

// reference.safetensors: random tokens [2, n] and the logits [2, n, V] that
// the model read back from the folder gives them, so that any reader of the
// folder (transformers, scripts/alibi_torch.py) can check itself against us.
void write_reference_logits(const std::string& dir, int64_t n, alibi::Backend& backend) {
  const alibi::EvalCheckpoint exported = alibi::load_eval_checkpoint(dir);
  auto model = alibi::make_eval_model(backend, exported);
  const int64_t B = 2, V = exported.shape.vocab;
  std::mt19937_64 rng(20261206);
  std::vector<int32_t> tokens(B * n), targets(B * n, -1);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(V));
  model->reserve(B, n, /*for_training=*/false);
  model->forward(tokens.data(), targets.data(), B, n, /*training=*/false);
  std::vector<float> logits;
  logits.reserve(B * n * V);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<float> row = model->logits_at(b, t);
      logits.insert(logits.end(), row.begin(), row.end());
    }
  const char* device = backend.device() == alibi::Device::CUDA ? "cuda" : "cpu";
  alibi::write_safetensors((fs::path(dir) / "reference.safetensors").string(),
                           {{"tokens", "I32", {B, n}, tokens.data()}, {"logits", "F32", {B, n, V}, logits.data()}},
                           {{"format", "pt"}, {"backend", device}});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"alibi-export: a trained model as a Hugging Face (BLOOM) folder with safetensors weights"};
  app.set_version_flag("--version", alibi::version_text());
  std::string checkpoint_path, out_dir, dtype = "f32", tokenizer_path, device = "auto";
  int64_t reference_tokens = 0;
  bool overwrite = false, no_tokenizer = false;
  app.add_option("checkpoint", checkpoint_path, "Checkpoint file, checkpoint folder, run folder or exported folder")
      ->required();
  app.add_option("-o,--out", out_dir, "Folder to write (config.json, model.safetensors, tokenizer.model)")->required();
  app.add_option("--dtype", dtype, "f32 (exact) or bf16 (half the size)")->capture_default_str();
  app.add_option("--tokenizer", tokenizer_path, "SentencePiece model (default: the checkpoint's dataset's)");
  app.add_flag("--no-tokenizer", no_tokenizer, "Export the weights without a tokenizer");
  app.add_option("--reference-tokens", reference_tokens,
                 "Also write reference.safetensors: our logits for 2 x N random tokens, for checking other readers")
      ->capture_default_str();
  app.add_option("--device", device, "Where the reference logits are computed: auto, cpu or cuda")
      ->capture_default_str();
  app.add_flag("--overwrite", overwrite, "Replace the files of a non-empty --out folder");
  CLI11_PARSE(app, argc, argv);

  try {
    if (dtype != "f32" && dtype != "bf16") return fail("--dtype " + dtype + ": must be f32 or bf16");
    if (reference_tokens < 0 || reference_tokens > 4096)
      return fail("--reference-tokens " + std::to_string(reference_tokens) + ": must be in [0, 4096]");
    const auto device_choice = alibi::parse_device_choice(device);
    if (!device_choice) return fail("--device " + device + ": must be auto, cpu or cuda");
    if (is_nonempty_folder(out_dir) && !overwrite)
      return fail("--out " + out_dir + " exists and is not empty (add --overwrite to replace its files)");

    alibi::EvalCheckpoint checkpoint = alibi::load_eval_checkpoint(checkpoint_path);
    if (const std::string why = alibi::bloom_incompatibility(checkpoint.shape); !why.empty())
      return fail("cannot export '" + checkpoint.path + "' as BLOOM: " + why);
    alibi::ExportOptions options;
    options.out_dir = out_dir;
    options.bf16 = dtype == "bf16";
    if (!no_tokenizer) {
      options.tokenizer_path = alibi::model_tokenizer_path(tokenizer_path, checkpoint);
      const alibi::Tokenizer tokenizer = alibi::load_model_tokenizer(options.tokenizer_path, checkpoint);
      options.eos_token_id = tokenizer.eos_id();
    }
    const std::string label = checkpoint.label;
    alibi::write_export(options, alibi::exported_model(std::move(checkpoint)));
    std::fprintf(stderr, "alibi-export: wrote %s (%s, %s weights%s)\n", out_dir.c_str(), label.c_str(), dtype.c_str(),
                 options.tokenizer_path.empty() ? ", no tokenizer" : ", tokenizer");
    if (reference_tokens > 0) {
      alibi::RuntimeConfig runtime;
      runtime.device = *device_choice;
      auto backend = alibi::make_backend(runtime);
      write_reference_logits(out_dir, reference_tokens, *backend);
      std::fprintf(stderr, "alibi-export: wrote reference.safetensors (%s)\n", backend->name().c_str());
    }
    return 0;
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
