// alibi-bench: timings of alibi-lm's own code paths, for bench/*.sh to set
// beside the PyTorch baselines (src/bench/ holds the measurements).
//
//   alibi-bench train --config configs/gpt2-124m.yaml [--set key=value ...]
//   alibi-bench attention --head-dim 128 --heads 8 --len 4096 --batch 4 [--backward]
//   alibi-bench eval --config configs/gpt2-124m.yaml --len 16384 [--tokens 65536]
//   alibi-bench decode --config configs/gpt2-124m.yaml --batch 1,32 --context 1024,16384
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "bench/bench.h"
#include "core/version.h"

int main(int argc, char** argv) {
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
  CLI::App app{"alibi-bench: time alibi-lm's code paths"};
  app.set_version_flag("--version", alibi::version_text());
  app.require_subcommand(1);

  alibi::TrainBenchOptions train;
  auto* train_cmd = app.add_subcommand("train", "Full training steps on random tokens: ms/step, tokens/s, MFU");
  train_cmd->add_option("-c,--config", train.config_path, "Config file (model and train sections are used)")->required();
  train_cmd->add_option("--set", train.overrides, "Override a config key (repeatable)")->take_all();
  train_cmd->add_option("--steps", train.steps, "Timed steps")->check(CLI::PositiveNumber);
  train_cmd->add_option("--warmup", train.warmup, "Untimed steps first")->check(CLI::NonNegativeNumber);
  train_cmd->add_option("--json", train.json_path, "Also write the result as JSON here");
  train_cmd->add_flag("--data-parallel", train.data_parallel,
                      "Run the data-parallel path as a job of one rank (NCCL on a GPU): its cost over the plain path");
  train_cmd->add_option("--logit-chunk-rows", train.logit_chunk_rows,
                        "Rows of the LM head and its loss per chunk (0: the model's own choice, from memory)")
      ->check(CLI::NonNegativeNumber);

  alibi::AttentionBenchOptions attn;
  auto* attn_cmd = app.add_subcommand("attention", "The causal attention op: TFLOP/s with ALiBi and with slope 0");
  attn_cmd->add_option("--head-dim", attn.head_dim, "Head dimension D")->check(CLI::PositiveNumber);
  attn_cmd->add_option("--heads", attn.heads, "Heads H")->check(CLI::PositiveNumber);
  attn_cmd->add_option("--len", attn.len, "Sequence length L")->check(CLI::PositiveNumber);
  attn_cmd->add_option("--batch", attn.batch, "Batch B")->check(CLI::PositiveNumber);
  attn_cmd->add_flag("--backward", attn.backward, "Also time the backward pass");
  attn_cmd->add_flag("--deterministic", attn.deterministic,
                     "The bitwise reproducible backward (runtime.deterministic)");
  attn_cmd->add_option("--kernel", attn.forward_kernel, "The forward kernel: auto, portable or sm90 "
                                                        "(runtime.attention_kernel)");
  attn_cmd->add_option("--backward-kernel", attn.backward_kernel, "The backward kernels: auto, portable or sm90 "
                                                                  "(runtime.attention_backward)");
  attn_cmd->add_option("--reps", attn.reps, "Timed samples (median)")->check(CLI::PositiveNumber);
  attn_cmd->add_option("--device", attn.device, "auto, cpu or cuda");
  attn_cmd->add_option("--json", attn.json_path, "Also write the results as JSON here");

  alibi::EvalBenchOptions eval;
  auto* eval_cmd = app.add_subcommand("eval", "Forward-only evaluation throughput at one length");
  eval_cmd->add_option("-c,--config", eval.config_path, "Config file (model section is used)")->required();
  eval_cmd->add_option("--set", eval.overrides, "Override a config key (repeatable)")->take_all();
  eval_cmd->add_option("--len", eval.len, "Evaluation length")->check(CLI::PositiveNumber);
  eval_cmd->add_option("--tokens", eval.tokens, "Tokens per forward call (batch = tokens / len)")
      ->check(CLI::PositiveNumber);
  eval_cmd->add_option("--reps", eval.reps, "Timed samples (median)")->check(CLI::PositiveNumber);
  eval_cmd->add_option("--json", eval.json_path, "Also write the result as JSON here");

  alibi::DecodeBenchOptions decode;
  auto* decode_cmd = app.add_subcommand("decode", "Greedy KV-cache decoding: ms/step, tokens/s, the bandwidth floor");
  decode_cmd->add_option("-c,--config", decode.config_path, "Config file (model section is used)")->required();
  decode_cmd->add_option("--set", decode.overrides, "Override a config key (repeatable)")->take_all();
  decode_cmd->add_option("--batch", decode.batches, "Rows decoded together (comma-separated list)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  decode_cmd->add_option("--context", decode.contexts, "Prompt lengths in the cache (comma-separated list)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  decode_cmd->add_option("--new-tokens", decode.new_tokens, "Timed steps per sample")->check(CLI::PositiveNumber);
  decode_cmd->add_option("--reps", decode.reps, "Timed samples (median)")->check(CLI::PositiveNumber);
  decode_cmd->add_flag("--fused-step", decode.fused_step,
                       "Run each step as the backend's fused op where it has one (Hopper: one kernel a step)");
  decode_cmd->add_option("--export", decode.export_dir, "Also export the (random) weights here, for the baselines");
  decode_cmd->add_option("--json", decode.json_path, "Also write the results as JSON here");

  CLI11_PARSE(app, argc, argv);
  try {
    if (train_cmd->parsed()) return alibi::bench_train(train);
    if (attn_cmd->parsed()) return alibi::bench_attention(attn);
    if (decode_cmd->parsed()) return alibi::bench_decode(decode);
    return alibi::bench_eval(eval);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alibi-bench: error: %s\n", e.what());
    return 1;
  }
}
