// Checkpoints and datasets for the evaluation tests: a dataset built by hand
// (known word and line counts) and tiny models trained for a few steps.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/hash.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "support/test_data.h"
#include "train/trainer.h"

namespace alibi::testing {

struct HandmadeCounts {
  int64_t valid_tokens = 300, valid_words = 200, valid_lines = 40;
};

// A dataset folder of random tokens over a 16-piece vocabulary, with a
// stand-in tokenizer file (only its hash matters) and the given counts.
inline std::string handmade_dataset(const std::string& dir, const HandmadeCounts& counts = {},
                                    const std::string& tokenizer_text = "handmade tokenizer") {
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "tokenizer.model", std::ios::binary) << tokenizer_text;
  DatasetMeta meta;
  meta.dir = dir;
  meta.vocab_size = 16;
  meta.tokenizer_id = hex64(fnv1a64(tokenizer_text.data(), tokenizer_text.size()));
  Rng rng(3);
  auto tokens = [&](int64_t n) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(rng.below(16)));
    return ids;
  };
  write_shard(dir + "/train.bin", 16, meta.tokenizer_id, tokens(2000));
  write_shard(dir + "/valid.bin", 16, meta.tokenizer_id, tokens(counts.valid_tokens));
  meta.splits.push_back({"train", "train.bin", "handmade", 2000, 1500, 100, 1});
  meta.splits.push_back({"valid", "valid.bin", "handmade", counts.valid_tokens, counts.valid_words,
                         counts.valid_lines, 1});
  save_dataset_meta(meta);
  return dir;
}

// Trains a tiny model for `steps` steps into bin_dir/test-runs/<pid>/<name>
// and returns its run folder (its name is the model's label). The pid keeps
// apart the test processes ctest runs side by side that train the same
// fixture (each removes and rewrites its folder).
inline std::string train_tiny(const std::string& data_dir, const std::string& name,
                              const std::string& position = "alibi", int seq_len = 16, int steps = 3,
                              const std::vector<std::string>& more_overrides = {}) {
  namespace fs = std::filesystem;
  const fs::path run = fs::path(bin_dir()) / "test-runs" / std::to_string(::getpid()) / name;
  fs::remove_all(run);
  std::vector<std::string> overrides = {
      "data.dir=" + data_dir, "log.run_dir=" + run.string(), "model.position=" + position, "model.n_layer=1",
      "model.d_model=16", "model.n_head=2", "train.seq_len=" + std::to_string(seq_len), "train.micro_batch=2",
      "train.steps=" + std::to_string(steps), "train.warmup_steps=1", "train.eval_interval=0",
      "train.eval_batches=1", "checkpoint.interval=0", "runtime.device=cpu", "runtime.threads=1"};
  overrides.insert(overrides.end(), more_overrides.begin(), more_overrides.end());
  const Config config = parse_config("{}", "test", overrides);
  train(config, {.resume_from = "", .quiet = true});
  return run.string();
}

}  // namespace alibi::testing
