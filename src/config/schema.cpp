#include "config/schema.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>

namespace alibi {

// ---------------------------------------------------------------------------
// Enum names: the one list of each, indexed by the enum's value.
// ---------------------------------------------------------------------------
namespace {

constexpr std::array<const char*, 5> kPositionNames = {"alibi", "sinusoidal", "learned", "rotary",
                                                       "none"};
static_assert(static_cast<size_t>(PositionMethod::None) + 1 == kPositionNames.size());

constexpr std::array<const char*, 3> kDeviceNames = {"auto", "cpu", "cuda"};
static_assert(static_cast<size_t>(DeviceChoice::Cuda) + 1 == kDeviceNames.size());

constexpr std::array<const char*, 3> kAttentionKernelNames = {"auto", "portable", "sm90"};
static_assert(static_cast<size_t>(AttentionKernelChoice::Sm90) + 1 == kAttentionKernelNames.size());

constexpr std::array<const char*, 2> kReduceDTypeNames = {"fp32", "bf16"};
static_assert(static_cast<size_t>(ReduceDType::Bf16) + 1 == kReduceDTypeNames.size());

constexpr std::array<const char*, 4> kRecomputeNames = {"none", "attention", "mlp", "block"};
static_assert(static_cast<size_t>(Recompute::Block) + 1 == kRecomputeNames.size());
constexpr std::array<const char*, 2> kOnNonfiniteNames = {"stop", "skip"};
static_assert(static_cast<size_t>(OnNonfinite::Skip) + 1 == kOnNonfiniteNames.size());

template <class Enum, size_t N>
std::optional<Enum> enum_from_name(const std::array<const char*, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* position_method_name(PositionMethod method) {
  return kPositionNames.at(static_cast<size_t>(method));
}
std::optional<PositionMethod> parse_position_method(std::string_view name) {
  return enum_from_name<PositionMethod>(kPositionNames, name);
}
const char* device_choice_name(DeviceChoice device) {
  return kDeviceNames.at(static_cast<size_t>(device));
}
std::optional<DeviceChoice> parse_device_choice(std::string_view name) {
  return enum_from_name<DeviceChoice>(kDeviceNames, name);
}
const char* attention_kernel_name(AttentionKernelChoice choice) {
  return kAttentionKernelNames.at(static_cast<size_t>(choice));
}
std::optional<AttentionKernelChoice> parse_attention_kernel(std::string_view name) {
  return enum_from_name<AttentionKernelChoice>(kAttentionKernelNames, name);
}
const char* reduce_dtype_name(ReduceDType dtype) {
  return kReduceDTypeNames.at(static_cast<size_t>(dtype));
}
const char* recompute_name(Recompute recompute) {
  return kRecomputeNames.at(static_cast<size_t>(recompute));
}
const char* on_nonfinite_name(OnNonfinite policy) {
  return kOnNonfiniteNames.at(static_cast<size_t>(policy));
}

// ---------------------------------------------------------------------------
// Building keys: the key's type follows from the field's C++ type, so the
// table cannot declare a type that the struct does not have.
// ---------------------------------------------------------------------------
namespace {

template <class>
[[maybe_unused]] inline constexpr bool kUnsupportedField = false;  // clang: used only in a discarded branch

template <class Field>
constexpr KeyType key_type_of() {
  if constexpr (std::is_same_v<Field, int>) return KeyType::Int;
  else if constexpr (std::is_same_v<Field, int64_t>) return KeyType::Int64;
  else if constexpr (std::is_same_v<Field, uint64_t>) return KeyType::UInt64;
  else if constexpr (std::is_same_v<Field, float>) return KeyType::Float;
  else if constexpr (std::is_same_v<Field, bool>) return KeyType::Bool;
  else if constexpr (std::is_same_v<Field, std::string>) return KeyType::String;
  else static_assert(kUnsupportedField<Field>, "config field of a type the schema cannot bind");
}

template <class Field>
KeyValue to_key_value(const Field& field) {
  if constexpr (std::is_same_v<Field, int>) return static_cast<int64_t>(field);
  else if constexpr (std::is_same_v<Field, float>) return static_cast<double>(field);
  else return field;
}

template <class Field>
Field from_key_value(const KeyValue& value) {
  if constexpr (std::is_same_v<Field, int>) return static_cast<int>(std::get<int64_t>(value));
  else if constexpr (std::is_same_v<Field, float>) return static_cast<float>(std::get<double>(value));
  else return std::get<Field>(value);
}

template <class Section, class Field>
ConfigKey key(std::string name, Section Config::*section, Field Section::*field, KeyRange range,
              std::string doc) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = key_type_of<Field>();
  k.range = range;
  k.doc = std::move(doc);
  k.get = [section, field](const Config& c) { return to_key_value((c.*section).*field); };
  k.set = [section, field](Config& c, const KeyValue& v) {
    (c.*section).*field = from_key_value<Field>(v);
  };
  return k;
}

template <class Section, class Enum, size_t N>
ConfigKey enum_key(std::string name, Section Config::*section, Enum Section::*field,
                   const std::array<const char*, N>& names, std::string doc) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = KeyType::Enum;
  k.choices.assign(names.begin(), names.end());
  k.doc = std::move(doc);
  k.get = [section, field, names](const Config& c) -> KeyValue {
    return std::string(names.at(static_cast<size_t>((c.*section).*field)));
  };
  k.set = [section, field, names](Config& c, const KeyValue& v) {
    (c.*section).*field = *enum_from_name<Enum>(names, std::get<std::string>(v));
  };
  return k;
}

// A required key's empty value means "not given yet": a later --set may still
// supply it, so emptiness is checked once the whole config is read.
ConfigKey required(ConfigKey k) {
  k.required = true;
  return k;
}
ConfigKey non_empty(ConfigKey k) {
  k.allow_empty = false;
  return k;
}

// Ranges, inclusive "[" and exclusive "(" as in interval notation.
const KeyRange kAnyValue{};
KeyRange at_least(double lo) { return {Limit{lo, true}, std::nullopt}; }
KeyRange above(double lo) { return {Limit{lo, false}, std::nullopt}; }
KeyRange closed(double lo, double hi) { return {Limit{lo, true}, Limit{hi, true}}; }
KeyRange half_open(double lo, double hi) { return {Limit{lo, true}, Limit{hi, false}}; }

using C = Config;

// Far above any real setting, low enough that a typo cannot make a step
// that never ends (2^31 micro-batches) or an OpenMP pool that cannot start.
constexpr double kMaxMicroBatchesPerStep = 65536;
constexpr double kMaxThreads = 4096;

std::vector<ConfigKey> build_keys() {
  return {
      // model
      enum_key("model.position", &C::model, &ModelConfig::position, kPositionNames,
               "How the model knows token order: ALiBi attention biases (the paper's method), "
               "sinusoidal or learned absolute embeddings, rotary embeddings, or nothing."),
      key("model.n_layer", &C::model, &ModelConfig::n_layer, at_least(1), "Transformer blocks."),
      key("model.d_model", &C::model, &ModelConfig::d_model, at_least(1),
          "Width of the residual stream (the embedding size); divisible by model.n_head."),
      key("model.n_head", &C::model, &ModelConfig::n_head, at_least(1),
          "Attention heads per block; with ALiBi each head gets its own slope."),
      key("model.d_ff", &C::model, &ModelConfig::d_ff, at_least(0),
          "Hidden width of each feed-forward layer; 0 means 4 * model.d_model."),
      key("model.vocab_size", &C::model, &ModelConfig::vocab_size, at_least(0),
          "Rows of the (tied) token embedding; 0 means the data's vocabulary; a larger value "
          "pads the table, e.g. to a multiple of 64 for faster matrix products."),
      key("model.max_position", &C::model, &ModelConfig::max_position, at_least(0),
          "Learned positions only: rows of the position table, the longest input the model "
          "can read; 0 means train.seq_len."),
      key("model.dropout", &C::model, &ModelConfig::dropout, half_open(0, 1),
          "Dropout probability on the embeddings and on each residual branch."),
      key("model.init_std", &C::model, &ModelConfig::init_std, above(0),
          "Standard deviation of the normal initialization of the weight matrices."),
      key("model.layernorm_eps", &C::model, &ModelConfig::layernorm_eps, above(0),
          "Added to the variance in every layer norm."),
      key("model.embed_layernorm", &C::model, &ModelConfig::embed_layernorm, kAnyValue,
          "A LayerNorm on the embeddings before the first block, as BLOOM has (a model exported to "
          "Hugging Face's BLOOM needs it)."),
      key("model.rotary_base", &C::model, &ModelConfig::rotary_base, above(0),
          "Rotary positions only: base of the rotation frequencies."),
      // data
      required(key("data.dir", &C::data, &DataConfig::dir, kAnyValue,
                   "Directory made by alibi-data (meta.json and one token file per split).")),
      non_empty(key("data.train_split", &C::data, &DataConfig::train_split, kAnyValue,
                    "Split to train on.")),
      non_empty(key("data.valid_split", &C::data, &DataConfig::valid_split, kAnyValue,
                    "Split to validate on.")),
      // train
      key("train.seq_len", &C::train, &TrainConfig::seq_len, at_least(1),
          "Tokens per training sequence: the context length the model trains on."),
      key("train.micro_batch", &C::train, &TrainConfig::micro_batch, at_least(1),
          "Sequences per forward/backward pass."),
      key("train.grad_accum", &C::train, &TrainConfig::grad_accum, closed(1, kMaxMicroBatchesPerStep),
          "Micro-batches accumulated per optimizer step; tokens per step = "
          "seq_len * micro_batch * grad_accum * ranks."),
      key("train.global_batch", &C::train, &TrainConfig::global_batch, at_least(0),
          "Sequences per optimizer step over all ranks; when set, the accumulation is derived "
          "(global_batch / (micro_batch * ranks)) so one config trains the same on any number "
          "of GPUs, and train.grad_accum must stay 1. 0 means micro_batch * grad_accum * ranks."),
      key("train.steps", &C::train, &TrainConfig::steps, at_least(1), "Optimizer steps to run."),
      key("train.lr", &C::train, &TrainConfig::lr, above(0),
          "Peak learning rate, reached at the end of warmup."),
      key("train.min_lr_ratio", &C::train, &TrainConfig::min_lr_ratio, closed(0, 1),
          "The cosine decay ends at lr * min_lr_ratio."),
      key("train.warmup_steps", &C::train, &TrainConfig::warmup_steps, at_least(0),
          "Steps of linear warmup from 0 to lr before the cosine decay."),
      key("train.weight_decay", &C::train, &TrainConfig::weight_decay, at_least(0),
          "AdamW decoupled weight decay of the weight matrices."),
      key("train.decay_embeddings", &C::train, &TrainConfig::decay_embeddings, kAnyValue,
          "Also decay the token and position embeddings."),
      key("train.decay_norms_and_biases", &C::train, &TrainConfig::decay_norms_and_biases,
          kAnyValue, "Also decay layer-norm gains and all biases."),
      key("train.beta1", &C::train, &TrainConfig::beta1, half_open(0, 1),
          "AdamW decay rate of the first moment."),
      key("train.beta2", &C::train, &TrainConfig::beta2, half_open(0, 1),
          "AdamW decay rate of the second moment."),
      key("train.eps", &C::train, &TrainConfig::eps, above(0),
          "AdamW epsilon, added to the root of the second moment."),
      key("train.grad_clip", &C::train, &TrainConfig::grad_clip, at_least(0),
          "Clip the global gradient norm to this value; 0 disables clipping."),
      key("train.seed", &C::train, &TrainConfig::seed, kAnyValue,
          "Seed of initialization, data order and dropout: the same seed repeats a run."),
      key("train.eval_interval", &C::train, &TrainConfig::eval_interval, at_least(0),
          "Steps between validations; 0 means only at the end."),
      key("train.eval_batches", &C::train, &TrainConfig::eval_batches, at_least(0),
          "Batches per validation; 0 means the whole validation split."),
      enum_key("train.recompute", &C::train, &TrainConfig::recompute, kRecomputeNames,
               "Activations the backward pass recomputes instead of keeping, trading a second "
               "forward of that part for memory: none; attention (LayerNorm 1, q/k/v and the "
               "attention output, about a third of a block's activations); mlp (LayerNorm 2 and "
               "the MLP's hidden layer, over half); block (everything but the block's input). "
               "Gradients are the same as without recomputation."),
      enum_key("train.on_nonfinite", &C::train, &TrainConfig::on_nonfinite, kOnNonfiniteNames,
               "A step whose loss or gradient norm is NaN or infinite (a diverging run): stop ends "
               "the run with a message and exit code 1, keeping the checkpoints written so far; "
               "skip logs the step and goes on. Either way a non-finite gradient never reaches "
               "the weights or the optimizer state, and no checkpoint of non-finite weights is "
               "ever written."),
      key("train.max_skipped_steps", &C::train, &TrainConfig::max_skipped_steps, at_least(1),
          "With train.on_nonfinite = skip: this many skipped steps in a row stop the run."),
      // checkpoint
      key("checkpoint.dir", &C::checkpoint, &CheckpointConfig::dir, kAnyValue,
          "Directory for checkpoints; empty means log.run_dir/checkpoints."),
      key("checkpoint.interval", &C::checkpoint, &CheckpointConfig::interval, at_least(0),
          "Steps between checkpoints; 0 means only at the end."),
      key("checkpoint.keep", &C::checkpoint, &CheckpointConfig::keep, at_least(1),
          "Most recent checkpoints kept on disk; older ones are deleted."),
      // log
      non_empty(key("log.run_dir", &C::log, &LogConfig::run_dir, kAnyValue,
                    "Directory of the run: logs, metrics and the resolved config.")),
      key("log.interval", &C::log, &LogConfig::interval, at_least(1),
          "Steps between progress lines when the output is not a terminal."),
      // runtime
      enum_key("runtime.device", &C::runtime, &RuntimeConfig::device, kDeviceNames,
               "Where to compute; auto picks CUDA when this build has it and a GPU is present, "
               "else the CPU."),
      key("runtime.threads", &C::runtime, &RuntimeConfig::threads, closed(0, kMaxThreads),
          "CPU threads; 0 means all cores."),
      key("runtime.deterministic", &C::runtime, &RuntimeConfig::deterministic, kAnyValue,
          "Bitwise reproducible runs on the GPU: the attention backward sums dQ in a fixed "
          "order (a second kernel, which recomputes the attention scores) instead of with "
          "unordered additions; docs/results/attention.md gives the cost. The CPU is always "
          "deterministic."),
      key("runtime.skip_negligible_keys", &C::runtime, &RuntimeConfig::skip_negligible_keys,
          kAnyValue,
          "Forward-only attention on the GPU (evaluation, validation) leaves out the key tiles "
          "whose ALiBi bias provably makes every key's weight below 2^-40 of its row's total "
          "(a bound from the norms of q and k; a row loses under T * 2^-40 of its mass); false "
          "computes every key. Training's forward and backward always do."),
      enum_key("runtime.attention_kernel", &C::runtime, &RuntimeConfig::attention_forward,
               kAttentionKernelNames,
               "The GPU's attention forward: auto takes the Hopper kernel (TMA + wgmma) on compute "
               "capability 9.0 for head dims 64, 80, 96 and 128, else the portable one; sm90 insists on "
               "the Hopper kernel (an error where it does not apply); portable takes the mma.sync kernel "
               "that runs on every GPU (sm_80 and later) and head dim. The CPU ignores it."),
      enum_key("runtime.attention_backward", &C::runtime, &RuntimeConfig::attention_backward,
               kAttentionKernelNames,
               "The GPU's attention backward, as runtime.attention_kernel: auto takes the Hopper "
               "backward where it applies (with runtime.deterministic, its bitwise reproducible "
               "variant), sm90 insists on it, portable takes the mma.sync kernels (always "
               "deterministic). The CPU ignores it."),
      // dist
      non_empty(key("dist.rendezvous", &C::dist, &DistConfig::rendezvous, kAnyValue,
                    "How ranks find each other: auto (MPI under mpirun when built with MPI, else "
                    "$ALIBI_RENDEZVOUS, else tcp://$MASTER_ADDR:$MASTER_PORT, else a local TCP "
                    "port on one node), mpi, tcp://HOST:PORT, or file:DIR on a shared "
                    "filesystem.")),
      key("dist.timeout_s", &C::dist, &DistConfig::timeout_s, above(0),
          "Seconds a rank waits for the others (rendezvous, and any collective, watched by a "
          "watchdog) before the job is ended with a message."),
      enum_key("dist.reduce_dtype", &C::dist, &DistConfig::reduce_dtype, kReduceDTypeNames,
               "Precision of the gradient all-reduce: fp32, or bf16 (half the traffic)."),
      key("dist.bucket_mb", &C::dist, &DistConfig::bucket_mb, above(0),
          "Gradient all-reduce bucket size in MiB (of fp32 gradients); buckets are whole "
          "layers, reduced as soon as the backward pass has finished them."),
      key("dist.overlap", &C::dist, &DistConfig::overlap, kAnyValue,
          "Overlap the gradient all-reduce with the backward pass; false reduces everything "
          "after it."),
      key("dist.zero1", &C::dist, &DistConfig::zero1, kAnyValue,
          "ZeRO stage 1: each rank keeps 1/N of the AdamW moments and updates 1/N of the "
          "weights (reduce-scatter, local update, all-gather)."),
  };
}

std::vector<CrossKeyRule> build_cross_key_rules() {
  auto head_dim = [](const Config& c) { return c.model.d_model / c.model.n_head; };
  return {
      {"model.d_model is divisible by model.n_head.",
       [](const Config& c) -> std::string {
         if (c.model.d_model % c.model.n_head == 0) return "";
         return "model.d_model = " + std::to_string(c.model.d_model) +
                " is not divisible by model.n_head = " + std::to_string(c.model.n_head);
       }, /*model_only=*/true},
      {"With model.position = rotary, the head dimension model.d_model / model.n_head is even "
       "(rotary embeddings rotate pairs of coordinates).",
       [head_dim](const Config& c) -> std::string {
         if (c.model.position != PositionMethod::Rotary || head_dim(c) % 2 == 0) return "";
         return "model.position = rotary needs an even head dimension, but model.d_model / "
                "model.n_head = " +
                std::to_string(c.model.d_model) + " / " + std::to_string(c.model.n_head) + " = " +
                std::to_string(head_dim(c));
       }, /*model_only=*/true},
      {"With model.position = sinusoidal, model.d_model is even (sines and cosines come in "
       "pairs).",
       [](const Config& c) -> std::string {
         if (c.model.position != PositionMethod::Sinusoidal || c.model.d_model % 2 == 0) return "";
         return "model.position = sinusoidal needs an even model.d_model, got " +
                std::to_string(c.model.d_model);
       }, /*model_only=*/true},
      {"dist.rendezvous is auto, mpi, tcp://HOST:PORT or file:PATH.",
       [](const Config& c) -> std::string {
         const std::string& r = c.dist.rendezvous;
         if (r == "auto" || r == "mpi" || r.rfind("tcp://", 0) == 0 || r.rfind("file:", 0) == 0) return "";
         return "dist.rendezvous = '" + r + "' is none of auto, mpi, tcp://HOST:PORT, file:PATH";
       }},
      {"With train.global_batch set, train.grad_accum is 1 (the accumulation is derived) and "
       "train.global_batch is a multiple of train.micro_batch.",
       [](const Config& c) -> std::string {
         const TrainConfig& t = c.train;
         if (t.global_batch == 0) return "";
         if (t.grad_accum != 1)
           return "train.global_batch = " + std::to_string(t.global_batch) + " derives the accumulation, "
                  "so train.grad_accum must stay 1 (got " + std::to_string(t.grad_accum) + ")";
         if (t.global_batch % t.micro_batch == 0) return "";
         return "train.global_batch = " + std::to_string(t.global_batch) + " is not a multiple of "
                "train.micro_batch = " + std::to_string(t.micro_batch);
       }},
      {"train.global_batch / train.micro_batch, the micro-batches of a step over all ranks, is at "
       "most " + std::to_string(static_cast<int64_t>(kMaxMicroBatchesPerStep)) +
           " (a larger ratio is a typo, and a step that long could not be stopped).",
       [](const Config& c) -> std::string {
         const TrainConfig& t = c.train;
         if (t.global_batch / t.micro_batch <= kMaxMicroBatchesPerStep) return "";
         return "train.global_batch / train.micro_batch = " + std::to_string(t.global_batch) + " / " +
                std::to_string(t.micro_batch) + " = " + std::to_string(t.global_batch / t.micro_batch) +
                " micro-batches per step is more than " +
                std::to_string(static_cast<int64_t>(kMaxMicroBatchesPerStep)) + "; raise train.micro_batch";
       }},
      {"With model.position = learned and a non-zero model.max_position, model.max_position "
       ">= train.seq_len (every trained position needs a row).",
       [](const Config& c) -> std::string {
         if (c.model.position != PositionMethod::Learned || c.model.max_position == 0 ||
             c.model.max_position >= c.train.seq_len)
           return "";
         return "model.max_position = " + std::to_string(c.model.max_position) +
                " is smaller than train.seq_len = " + std::to_string(c.train.seq_len) +
                "; learned positions need a table row for every position";
       }},
  };
}

}  // namespace

const std::vector<ConfigSection>& config_sections() {
  static const std::vector<ConfigSection> sections = {
      {"model", "The transformer: its size, position method and initialization."},
      {"data", "The token data prepared by alibi-data."},
      {"train", "Optimization: batch shape, AdamW, the learning-rate schedule and validation."},
      {"checkpoint", "Saved training state, for resuming."},
      {"log", "Where a run writes its outputs and how often it reports."},
      {"runtime", "Where the computation runs."},
      {"dist", "Data-parallel training over several processes (docs/distributed.md)."},
  };
  return sections;
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = build_keys();
  return keys;
}

const std::vector<CrossKeyRule>& config_cross_key_rules() {
  static const std::vector<CrossKeyRule> rules = build_cross_key_rules();
  return rules;
}

std::string_view ConfigKey::section() const {
  return std::string_view(name).substr(0, name.find('.'));
}
std::string_view ConfigKey::field() const {
  return std::string_view(name).substr(name.find('.') + 1);
}

const ConfigKey* find_config_key(std::string_view full_name) {
  for (const ConfigKey& k : config_keys()) {
    if (k.name == full_name) return &k;
  }
  return nullptr;
}

bool is_config_section(std::string_view name) {
  const auto& sections = config_sections();
  return std::any_of(sections.begin(), sections.end(),
                     [&](const ConfigSection& s) { return s.name == name; });
}

}  // namespace alibi
