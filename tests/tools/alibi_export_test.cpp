// alibi-export as a user runs it: a tiny model trained with the embedding
// LayerNorm (3 heads, not a power of two) exported; alibi-generate,
// alibi-eval and alibi-train --init-from then treat the folder as the
// checkpoint it came from; reference.safetensors holds our logits; models
// BLOOM cannot hold, a folder in the way and a corrupt weight file end with
// a message and exit code 1.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cpu/cpu_backend.h"
#include "eval/eval_checkpoint.h"
#include "eval/eval_fixtures.h"
#include "export/safetensors.h"
#include "support/temp_dir.h"
#include "support/test_data.h"
#include "train/checkpoint.h"

namespace alibi {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code;
  std::string out, err;
};

Outcome run_tool(const std::string& tool, const std::string& args) {
  testing::TempDir dir("export-cli");
  Outcome o;
  o.exit_code = testing::run_command(testing::bin(tool) + " " + args + " > " + dir.file("out") + " 2> " + dir.file("err"));
  std::ifstream out(dir.file("out")), err(dir.file("err"));
  o.out.assign(std::istreambuf_iterator<char>(out), {});
  o.err.assign(std::istreambuf_iterator<char>(err), {});
  return o;
}

const std::string& grammar_data() {
  static const std::string data = testing::grammar_dataset();
  return data;
}

// Trained with BLOOM's shape: embedding LayerNorm, 4 x d_model MLP, 3 heads.
const std::string& exportable_run() {
  static const std::string run =
      grammar_data().empty() ? std::string()
                             : testing::train_tiny(grammar_data(), "export", "alibi", 16, 30,
                                                   {"model.embed_layernorm=true", "model.d_model=24", "model.n_head=3"});
  return run;
}

TEST(AlibiExport, TheFolderStandsInForTheCheckpoint) {
  ASSERT_FALSE(exportable_run().empty()) << "alibi-data could not make the grammar dataset";
  testing::TempDir dir("export-cli");
  const std::string folder = dir.file("exported");
  const Outcome e = run_tool("alibi-export", exportable_run() + " --out " + folder + " --device cpu --reference-tokens 6");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.model", "reference.safetensors"})
    EXPECT_TRUE(fs::exists(fs::path(folder) / file)) << file;

  // The same text from the folder as from the checkpoint.
  const std::string generate = " -q --device cpu --prompt 'the cat' --max-new-tokens 20 --seed 7";
  const Outcome from_run = run_tool("alibi-generate", exportable_run() + generate);
  const Outcome from_folder = run_tool("alibi-generate", folder + generate);
  ASSERT_EQ(from_run.exit_code, 0) << from_run.err;
  ASSERT_EQ(from_folder.exit_code, 0) << from_folder.err;
  EXPECT_EQ(from_folder.out, from_run.out);

  // The same perplexity (the folder names no dataset: --data-dir).
  auto token_ppl = [&](const std::string& model) {
    const std::string json = dir.file("eval.json");
    const Outcome o = run_tool("alibi-eval", "--checkpoint " + model + " --data-dir " + grammar_data() +
                                                 " --lengths 16,48 --device cpu -q --json " + json);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    std::vector<double> ppl;
    const nlohmann::json results = nlohmann::json::parse(std::ifstream(json)).at("results");
    for (const auto& r : results) ppl.push_back(r.at("token_ppl").get<double>());
    return ppl;
  };
  const std::vector<double> run_ppl = token_ppl(exportable_run()), folder_ppl = token_ppl(folder);
  ASSERT_EQ(run_ppl.size(), 2u);
  EXPECT_EQ(folder_ppl, run_ppl);

  // reference.safetensors: our logits for its tokens.
  const SafetensorsFile reference(folder + "/reference.safetensors");
  EXPECT_EQ(reference.metadata().at("backend"), "cpu");
  const std::vector<char> token_bytes = reference.read_bytes(*reference.find("tokens"));
  std::vector<int32_t> tokens(token_bytes.size() / 4);
  std::memcpy(tokens.data(), token_bytes.data(), token_bytes.size());
  const std::vector<float> logits = reference.read_f32(*reference.find("logits"));
  const EvalCheckpoint trained = load_eval_checkpoint(exportable_run());
  auto backend = make_cpu_backend(1);
  auto model = make_eval_model(*backend, trained);
  const int64_t B = 2, T = 6, V = trained.shape.vocab;
  ASSERT_EQ(tokens.size(), static_cast<size_t>(B * T));
  ASSERT_EQ(logits.size(), static_cast<size_t>(B * T * V));
  const std::vector<int32_t> no_targets(B * T, -1);
  model->forward(tokens.data(), no_targets.data(), B, T, /*training=*/false);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const std::vector<float> want = model->logits_at(b, t);
      for (int64_t v = 0; v < V; ++v)
        ASSERT_NEAR(logits[(b * T + t) * V + v], want[v], 1e-5 * (1 + std::fabs(want[v])));
    }
}

TEST(AlibiExport, TrainingStartsFromTheExportedWeights) {
  ASSERT_FALSE(exportable_run().empty());
  testing::TempDir dir("export-cli");
  const std::string folder = dir.file("exported");
  ASSERT_EQ(run_tool("alibi-export", exportable_run() + " --out " + folder).exit_code, 0);
  const std::string run = dir.file("continued");
  const std::string base = " -q --config /dev/null --set data.dir=" + grammar_data() + " log.run_dir=" + run +
                           " model.n_layer=1 model.d_model=24 model.n_head=3 model.embed_layernorm=true"
                           " train.seq_len=16 train.micro_batch=2 train.steps=1 train.warmup_steps=1"
                           " train.eval_interval=0 checkpoint.interval=0 runtime.device=cpu";
  // An lr so small the one step leaves the weights as they came.
  const Outcome o = run_tool("alibi-train", "--init-from " + folder + base + " train.lr=1e-12");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::vector<float> start = load_eval_checkpoint(folder).params, after = load_eval_checkpoint(run).params;
  ASSERT_EQ(after.size(), start.size());
  for (size_t i = 0; i < start.size(); ++i) ASSERT_NEAR(after[i], start[i], 1e-6 * (1 + std::fabs(start[i]))) << i;

  const Outcome wrong = run_tool("alibi-train", "--init-from " + folder + base + " model.n_head=2 --overwrite");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("model.n_head is 3"), std::string::npos) << wrong.err;
  const Outcome both = run_tool("alibi-train", "--init-from " + folder + " --resume" + base);
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
}

TEST(AlibiExport, BadInputEndsWithAMessage) {
  ASSERT_FALSE(grammar_data().empty());
  testing::TempDir dir("export-cli");
  // A model without the embedding LayerNorm is not a BLOOM model.
  const std::string plain = testing::train_tiny(grammar_data(), "export-plain", "alibi", 16, 2);
  Outcome o = run_tool("alibi-export", plain + " --out " + dir.file("plain"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("model.embed_layernorm = true"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(dir.file("plain") + "/model.safetensors"));

  // A folder in the way is kept unless --overwrite.
  ASSERT_FALSE(exportable_run().empty());
  const std::string taken = dir.write("taken/notes.txt", "mine");
  o = run_tool("alibi-export", exportable_run() + " --out " + dir.file("taken"));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("--overwrite"), std::string::npos) << o.err;

  // A corrupt weight file: a message that names it.
  const std::string folder = dir.file("exported");
  ASSERT_EQ(run_tool("alibi-export", exportable_run() + " --out " + folder).exit_code, 0);
  {
    std::fstream f(folder + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    const char huge[8] = {0, 0, 0, 0, 0, 0, 0, 0x7f};
    f.write(huge, 8);
  }
  o = run_tool("alibi-generate", folder + " -q --device cpu --prompt 'the cat' --max-new-tokens 2");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("model.safetensors"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("header length"), std::string::npos) << o.err;

  // Without a tokenizer, generation asks for one.
  fs::remove(folder + "/tokenizer.model");
  ASSERT_EQ(run_tool("alibi-export", exportable_run() + " --out " + folder + " --overwrite --no-tokenizer").exit_code, 0);
  o = run_tool("alibi-generate", folder + " -q --device cpu --prompt 'the cat' --max-new-tokens 2");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("--tokenizer"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace alibi
