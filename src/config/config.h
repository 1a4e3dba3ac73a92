// The training configuration. The struct below holds the values; the one
// definition of every key (name, type, default, range, documentation) lives
// in config/schema.cpp and drives loading, validation, docs/config.md and
// --help, so they cannot drift apart.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace alibi {

enum class PositionMethod { Alibi, Sinusoidal, Learned, Rotary, None };

struct ModelConfig {
  PositionMethod position = PositionMethod::Alibi;
  int n_layer = 4;
  int d_model = 128;
  int n_head = 4;
  int d_ff = 0;             // 0: 4 * d_model
  int vocab_size = 0;       // 0: the data's vocabulary; larger pads the table
  int max_position = 0;     // learned positions: table rows; 0: train.seq_len
  float dropout = 0.0f;     // embedding and residual-branch dropout
  float init_std = 0.02f;
  float layernorm_eps = 1e-5f;
  float rotary_base = 10000.0f;
  bool embed_layernorm = false;  // a LayerNorm on the embeddings before the first block (BLOOM)
};

struct DataConfig {
  std::string dir;          // made by alibi-data: meta.json, train.bin, valid.bin, ...
  std::string train_split = "train";
  std::string valid_split = "valid";
};

// Which activations of a block the backward recomputes instead of keeping
// (memory for a second forward of that part).
enum class Recompute { None, Attention, Mlp, Block };

// What a step whose loss or gradient norm is NaN or infinite does: stop the
// run (non-zero exit, no checkpoint of it), or skip its update and go on.
enum class OnNonfinite { Stop, Skip };

struct TrainConfig {
  int seq_len = 128;
  int micro_batch = 8;
  int grad_accum = 1;
  int global_batch = 0;       // sequences per optimizer step over all ranks; 0: micro_batch * grad_accum * ranks
  int64_t steps = 200;
  float lr = 1e-3f;
  float min_lr_ratio = 0.1f;  // cosine decays to lr * min_lr_ratio
  int64_t warmup_steps = 20;
  float weight_decay = 0.1f;
  bool decay_embeddings = false;
  bool decay_norms_and_biases = false;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float grad_clip = 1.0f;     // global-norm clip; 0 disables
  uint64_t seed = 1337;
  int64_t eval_interval = 50; // steps between validations; 0: only at the end
  int64_t eval_batches = 8;   // validation batches; 0: the whole split
  Recompute recompute = Recompute::None;
  OnNonfinite on_nonfinite = OnNonfinite::Stop;
  int max_skipped_steps = 10;  // on_nonfinite = skip: this many skipped in a row stop the run
};

struct CheckpointConfig {
  std::string dir;            // empty: <log.run_dir>/checkpoints
  int64_t interval = 100;     // steps between checkpoints; 0: only at the end
  int keep = 2;               // most recent checkpoints kept on disk
};

struct LogConfig {
  std::string run_dir = "runs/default";
  int64_t interval = 10;      // steps between progress lines (non-terminal)
};

enum class DeviceChoice { Auto, Cpu, Cuda };

// Which attention kernels the CUDA backend runs: auto picks the fastest that
// applies (the Hopper kernels on compute capability 9.0 for D 64-128), sm90
// insists on them (an error where they do not apply), portable takes the
// mma.sync kernels that run on every GPU and head dim.
enum class AttentionKernelChoice { Auto, Portable, Sm90 };

struct RuntimeConfig {
  DeviceChoice device = DeviceChoice::Auto;
  int threads = 0;            // CPU threads; 0: all cores
  bool deterministic = false;  // bitwise reproducible GPU kernels (slower attention backward)
  bool skip_negligible_keys = true;  // forward-only attention skips keys ALiBi makes negligible
  AttentionKernelChoice attention_forward = AttentionKernelChoice::Auto;
  AttentionKernelChoice attention_backward = AttentionKernelChoice::Auto;
};

enum class ReduceDType { Fp32, Bf16 };

struct DistConfig {
  std::string rendezvous = "auto";  // auto | mpi | tcp://HOST:PORT | file:PATH
  float timeout_s = 300.0f;         // rendezvous and collective watchdog
  ReduceDType reduce_dtype = ReduceDType::Fp32;
  float bucket_mb = 25.0f;          // gradient all-reduce bucket size
  bool overlap = true;              // all-reduce buckets during the backward pass
  bool zero1 = false;               // shard the optimizer state across ranks
};

struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  CheckpointConfig checkpoint;
  LogConfig log;
  RuntimeConfig runtime;
  DistConfig dist;

  int d_ff() const { return model.d_ff ? model.d_ff : 4 * model.d_model; }
  std::string checkpoint_dir() const {
    return checkpoint.dir.empty() ? log.run_dir + "/checkpoints" : checkpoint.dir;
  }
};

// Every configuration error: the message names the file, the key and the value.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Loads a YAML or JSON file (by content; JSON is YAML), applies `overrides`
// ("section.key=value", applied in order), and validates. Throws ConfigError.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Parses a config from text; `origin` names it in error messages.
Config parse_config(const std::string& text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
// The fully resolved config as YAML (every key, defaults included).
std::string config_to_yaml(const Config& config);
// docs/config.md, generated from the key definitions.
std::string config_reference_markdown();
// The key list for --help.
std::string config_reference_text();

const char* position_method_name(PositionMethod method);
// The inverse of position_method_name ("alibi" -> Alibi); nullopt for other text.
std::optional<PositionMethod> parse_position_method(std::string_view name);
const char* device_choice_name(DeviceChoice device);  // "auto", "cpu", "cuda"
std::optional<DeviceChoice> parse_device_choice(std::string_view name);
const char* attention_kernel_name(AttentionKernelChoice choice);  // "auto", "portable", "sm90"
std::optional<AttentionKernelChoice> parse_attention_kernel(std::string_view name);
const char* reduce_dtype_name(ReduceDType dtype);     // "fp32", "bf16"
const char* recompute_name(Recompute recompute);       // "none", "attention", "mlp", "block"
const char* on_nonfinite_name(OnNonfinite policy);      // "stop", "skip"

}  // namespace alibi
