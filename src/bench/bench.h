// alibi-bench's measurements (src/tools/alibi_bench.cpp is the CLI). Each
// prints one line per result and optionally writes JSON for bench/*.sh.
#pragma once

#include <string>
#include <vector>

namespace alibi {

// Full training steps (forward, backward, clipping, AdamW) on random tokens.
struct TrainBenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  int steps = 20, warmup = 3;
  bool data_parallel = false;  // through a communicator of one rank
  int64_t logit_chunk_rows = 0;  // rows of the LM head per chunk; 0: the model's own choice
  std::string json_path;
};
int bench_train(const TrainBenchOptions& options);

// The attention op alone, forward and forward+backward, with ALiBi slopes
// and with slope 0, on random bf16 inputs.
struct AttentionBenchOptions {
  int head_dim = 128, heads = 8, len = 4096, batch = 4;
  bool backward = false;
  bool deterministic = false;  // runtime.deterministic: the reproducible backward
  std::string forward_kernel = "auto", backward_kernel = "auto";  // runtime.attention_kernel, _backward
  int reps = 20, warmup = 3;
  std::string device = "auto";
  std::string json_path;
};
int bench_attention(const AttentionBenchOptions& options);

// Forward-only evaluation throughput of a model at one length.
struct EvalBenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  int len = 16384;
  int tokens = 65536;  // per forward call: batch = tokens / len
  int reps = 10, warmup = 2;
  std::string json_path;
};
int bench_eval(const EvalBenchOptions& options);

// Greedy decoding with the KV cache after prompts of each context length:
// ms per step, tokens/s, and the floor the copy bandwidth allows.
struct DecodeBenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::vector<int> batches = {1, 32}, contexts = {1024, 16384};
  int new_tokens = 64, reps = 3;
  bool fused_step = false;  // Backend::decode_step (one kernel a step) where the backend has it
  std::string export_dir;  // also write the random weights here (alibi-export's folder) for the baselines
  std::string json_path;
};
int bench_decode(const DecodeBenchOptions& options);

// Median of timings in seconds.
double median_seconds(std::vector<double> seconds);

}  // namespace alibi
