#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <memory>

#include "backend/select.h"
#include "core/atomic_file.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/shard.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/step.h"

namespace alibi {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop_requested{false};
extern "C" void request_stop(int) { g_stop_requested = true; }

// Restores the previous handlers when training returns.
class StopSignals {
 public:
  StopSignals() {
    g_stop_requested = false;
    old_int_ = std::signal(SIGINT, request_stop);
    old_term_ = std::signal(SIGTERM, request_stop);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string shape_mismatch(const ModelShape& ckpt, const ModelShape& cfg) {
  auto differ = [](const char* key, auto a, auto b) {
    return a == b ? std::string() : std::string(key) + " is " + std::to_string(a) +
                                        " in the checkpoint but " + std::to_string(b) + " in the config";
  };
  if (ckpt.position != cfg.position)
    return std::string("model.position is ") + position_method_name(ckpt.position) +
           " in the checkpoint but " + position_method_name(cfg.position) + " in the config";
  for (const std::string& m : {differ("model.n_layer", ckpt.n_layer, cfg.n_layer),
                               differ("model.d_model", ckpt.d_model, cfg.d_model),
                               differ("model.n_head", ckpt.n_head, cfg.n_head),
                               differ("model.d_ff", ckpt.d_ff, cfg.d_ff),
                               differ("vocabulary size", ckpt.vocab, cfg.vocab),
                               differ("model.max_position", ckpt.max_position, cfg.max_position)})
    if (!m.empty()) return m;
  return "";
}

class Trainer {
 public:
  Trainer(const Config& config, const TrainOptions& options);
  TrainSummary run();

 private:
  void reserve_activations();
  void restore(const std::string& path);
  std::string save();
  double train_step(int64_t step);
  double validate();

  Config config_;
  TrainOptions options_;
  std::unique_ptr<Backend> backend_;
  DatasetMeta dataset_;
  std::unique_ptr<ShardReader> train_shard_, valid_shard_;
  std::unique_ptr<WindowLoader> train_loader_, valid_loader_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<AdamW> optimizer_;
  LrSchedule schedule_;
  TrainingState state_;
  Rng rng_;
  std::vector<int32_t> inputs_, targets_;
  OptimizerStepInfo last_info_;
};

// Seeds for the trainer's own random stream (dropout masks per step).
constexpr uint64_t kTrainerRngStream = 0x7a11;

Trainer::Trainer(const Config& config, const TrainOptions& options)
    : config_(config), options_(options), rng_(derive_seed(config.train.seed, kTrainerRngStream)) {
  const TrainConfig& t = config_.train;
  backend_ = make_backend(config_.runtime);
  dataset_ = load_dataset(config_.data.dir);
  train_shard_ = std::make_unique<ShardReader>(dataset_.shard_path(config_.data.train_split));
  train_loader_ = std::make_unique<WindowLoader>(*train_shard_, t.seq_len, t.seed, /*shuffle=*/true);
  if (dataset_.has_split(config_.data.valid_split)) {
    valid_shard_ = std::make_unique<ShardReader>(dataset_.shard_path(config_.data.valid_split));
    valid_loader_ = std::make_unique<WindowLoader>(*valid_shard_, t.seq_len, t.seed, /*shuffle=*/false);
  }
  const ModelShape shape = resolve_model_shape(config_, dataset_.vocab_size);
  model_ = std::make_unique<Model>(*backend_, shape);
  optimizer_ = std::make_unique<AdamW>(*backend_, *model_, OptimizerSettings::from(t));
  reserve_activations();
  schedule_ = LrSchedule{t.lr, t.warmup_steps, t.steps, t.min_lr_ratio};
  inputs_.resize(static_cast<size_t>(t.micro_batch) * t.seq_len);
  targets_.resize(inputs_.size());

  state_.config_yaml = config_to_yaml(config_);
  state_.tokenizer_id = dataset_.tokenizer_id;
  state_.data_vocab = dataset_.vocab_size;
  model_->load_parameters(init_parameters(model_->layout(), shape, config_.model.init_std, t.seed));
  if (!options_.resume_from.empty()) restore(resolve_resume_path(options_.resume_from));
}

// Everything is allocated here, once, before the first step; a config that
// does not fit fails now, saying what it needs against what is free.
void Trainer::reserve_activations() {
  const TrainConfig& t = config_.train;
  const size_t needed = model_->activation_bytes_for(t.micro_batch, t.seq_len, /*for_training=*/true);
  const size_t free = backend_->free_memory();
  const double GiB = 1024.0 * 1024.0 * 1024.0;
  if (free > 0 && needed > free) {
    char text[512];
    std::snprintf(text, sizeof text,
                  "not enough %s memory: activations for train.micro_batch = %d x train.seq_len = %d need "
                  "%.2f GiB, but only %.2f GiB is free after parameters, gradients and optimizer state "
                  "(%.2f GiB); lower train.micro_batch (and raise train.grad_accum) or train.seq_len",
                  device_name(backend_->device()), t.micro_batch, t.seq_len, needed / GiB, free / GiB,
                  (model_->parameter_bytes() + optimizer_->state_bytes()) / GiB);
    throw std::runtime_error(text);
  }
  model_->reserve(t.micro_batch, t.seq_len, /*for_training=*/true);
}

void Trainer::restore(const std::string& path) {
  if (path.empty())
    throw CheckpointError("--resume " + options_.resume_from + ": no checkpoint found there" +
                          (fs::exists(options_.resume_from) ? "" : " (no such file or folder)"));
  Checkpoint ckpt = load_checkpoint(path);
  const std::string mismatch = shape_mismatch(ckpt.model, model_->shape());
  if (!mismatch.empty()) throw CheckpointError("cannot resume from '" + path + "': " + mismatch);
  if (ckpt.state.tokenizer_id != dataset_.tokenizer_id)
    throw CheckpointError("cannot resume from '" + path + "': it was trained with tokenizer " +
                          ckpt.state.tokenizer_id + " but data.dir '" + config_.data.dir +
                          "' uses tokenizer " + dataset_.tokenizer_id);
  auto copy_into = [&](const std::string& prefix, const Tensor& flat) {
    std::vector<float> host(flat.numel(), 0.f);
    for (const ParamSpec& spec : model_->layout()) {
      const LoadedTensor& t = ckpt.tensor(prefix + spec.name);
      if (t.dtype != DType::F32 || t.shape != spec.shape)
        throw CheckpointError("checkpoint '" + path + "': tensor " + prefix + spec.name + " has the wrong shape");
      std::copy(t.f32(), t.f32() + spec.numel(), host.begin() + spec.offset);
    }
    backend_->upload(flat, host.data());
  };
  copy_into("param/", model_->params_flat());
  copy_into("adam_m/", optimizer_->m_flat());
  copy_into("adam_v/", optimizer_->v_flat());
  model_->refresh_working_weights();
  const std::string config_yaml = state_.config_yaml;
  state_ = ckpt.state;
  state_.config_yaml = config_yaml;
  rng_.set_state(state_.rng_state);
}

std::string Trainer::save() {
  // Tensors are named "<kind>/<parameter>" and saved without the layout's
  // alignment padding, so other tools can read them by name and shape alone.
  std::vector<float> params(model_->params_flat().numel()), m(params.size()), v(params.size());
  backend_->download(params.data(), model_->params_flat());
  backend_->download(m.data(), optimizer_->m_flat());
  backend_->download(v.data(), optimizer_->v_flat());
  std::vector<HostTensorRef> tensors;
  for (auto [prefix, host] : {std::pair{"param/", &params}, {"adam_m/", &m}, {"adam_v/", &v}})
    for (const ParamSpec& spec : model_->layout())
      tensors.push_back({prefix + spec.name, DType::F32, spec.shape, host->data() + spec.offset});
  state_.rng_state = rng_.state();
  return save_checkpoint_in(config_.checkpoint_dir(), config_.checkpoint.keep, state_, model_->shape(), tensors);
}

double Trainer::train_step(int64_t step) {
  const TrainConfig& t = config_.train;
  const StepShape shape{t.micro_batch, t.seq_len, t.grad_accum};
  auto next_batch = [&](int, int32_t* inputs, int32_t* targets) {
    train_loader_->fill_batch(state_.loader_position, t.micro_batch, inputs, targets);
    state_.loader_position += t.micro_batch;
  };
  const StepOutcome outcome = optimizer_step(*model_, *optimizer_, shape, schedule_.at(step), step,
                                             rng_.next_u64(), next_batch, inputs_, targets_);
  state_.tokens_seen += int64_t{t.micro_batch} * t.seq_len * t.grad_accum;
  state_.step = step;
  last_info_ = outcome.optimizer;
  return outcome.loss;
}

double Trainer::validate() {
  const TrainConfig& t = config_.train;
  const int64_t available = valid_loader_->windows_per_epoch();
  const int64_t wanted = t.eval_batches > 0 ? std::min(available, t.eval_batches * t.micro_batch) : available;
  double loss_sum = 0.0;
  int64_t scored = 0;
  for (int64_t first = 0; first < wanted; first += t.micro_batch) {
    const int batch = static_cast<int>(std::min<int64_t>(t.micro_batch, wanted - first));
    valid_loader_->fill_batch(first, batch, inputs_.data(), targets_.data());
    StepResult r = model_->forward(inputs_.data(), targets_.data(), batch, t.seq_len, /*training=*/false);
    loss_sum += r.loss_sum;
    scored += r.scored;
  }
  return scored ? loss_sum / scored : 0.0;
}

// A fresh start must not silently mix with an earlier run's log and checkpoints.
void prepare_fresh_run_dir(const Config& config, bool overwrite) {
  const fs::path metrics = fs::path(config.log.run_dir) / "metrics.jsonl";
  const std::string previous = latest_checkpoint(config.checkpoint_dir());
  if (previous.empty() && !fs::exists(metrics)) return;
  if (!overwrite)
    throw std::runtime_error("log.run_dir '" + config.log.run_dir + "' already holds a run (" +
                             (previous.empty() ? metrics.string() : previous) +
                             "); pass --resume to continue it, --overwrite to start over, or choose "
                             "another --set log.run_dir=...");
  fs::remove(metrics);
  for (std::string ckpt = previous; !ckpt.empty(); ckpt = latest_checkpoint(config.checkpoint_dir())) fs::remove(ckpt);
  fs::remove(fs::path(config.checkpoint_dir()) / "latest");
}

TrainSummary Trainer::run() {
  const TrainConfig& t = config_.train;
  StopSignals signals;
  const bool resumed = !options_.resume_from.empty();
  if (!resumed) prepare_fresh_run_dir(config_, options_.overwrite);
  make_directories(config_.log.run_dir);
  write_text_atomically((fs::path(config_.log.run_dir) / "config.yaml").string(), config_to_yaml(config_));
  TrainSummary summary;
  summary.run_dir = config_.log.run_dir;
  summary.metrics_path = (fs::path(config_.log.run_dir) / "metrics.jsonl").string();
  MetricsLog metrics(summary.metrics_path, resumed ? state_.step : -1);
  ProgressLine progress(t.steps, options_.quiet ? int64_t{1} << 62 : config_.log.interval);
  auto say = [&](const std::string& text) {
    if (!options_.quiet) progress.message(text);
  };

  char banner[512];
  const double MiB = 1048576.0;
  std::snprintf(banner, sizeof banner,
                "alibi-train: %s | %lld parameters | %s positions | memory %.1f MiB (weights+grads %.1f, "
                "optimizer %.1f, activations %.1f)",
                backend_->name().c_str(), static_cast<long long>(model_->num_parameters()),
                position_method_name(model_->shape().position),
                (model_->parameter_bytes() + optimizer_->state_bytes() + model_->activation_bytes()) / MiB,
                model_->parameter_bytes() / MiB, optimizer_->state_bytes() / MiB, model_->activation_bytes() / MiB);
  say(banner);
  if (resumed) say("resumed at step " + std::to_string(state_.step) + " from " + resolve_resume_path(options_.resume_from));

  const double flops_token = model_->training_flops_per_token(t.seq_len);
  const double peak = backend_->peak_flops();
  const int64_t tokens_per_step = int64_t{t.micro_batch} * t.seq_len * t.grad_accum;
  double ema_step_seconds = 0.0;
  for (int64_t step = state_.step + 1; step <= t.steps; ++step) {
    const auto start = Clock::now();
    const double loss = train_step(step);
    const double seconds = seconds_since(start);
    ema_step_seconds = ema_step_seconds == 0.0 ? seconds : 0.9 * ema_step_seconds + 0.1 * seconds;
    const double tokens_per_s = tokens_per_step / seconds;
    const double mfu = peak > 0 ? tokens_per_s * flops_token / peak : 0.0;
    summary.train_losses.push_back(loss);
    summary.final_train_loss = loss;
    nlohmann::json record = {{"type", "train"}, {"step", step}, {"loss", loss}, {"lr", schedule_.at(step)},
                             {"grad_norm", last_info_.grad_norm}, {"tokens", state_.tokens_seen},
                             {"tokens_per_s", tokens_per_s}, {"step_seconds", seconds}};
    if (mfu > 0) record["mfu"] = mfu;
    metrics.write(record);
    if (!options_.quiet) progress.update(step, loss, schedule_.at(step), tokens_per_s, mfu, ema_step_seconds);

    const bool last = step == t.steps;
    if (valid_loader_ && (last || (t.eval_interval > 0 && step % t.eval_interval == 0))) {
      const double val = validate();
      summary.final_valid_loss = val;
      metrics.write({{"type", "valid"}, {"step", step}, {"loss", val}, {"ppl", std::exp(val)}});
      char text[128];
      std::snprintf(text, sizeof text, "step %lld: validation loss %.4f (ppl %.2f)", static_cast<long long>(step),
                    val, std::exp(val));
      say(text);
    }
    const bool stop = g_stop_requested.load();
    if (last || stop || (config_.checkpoint.interval > 0 && step % config_.checkpoint.interval == 0)) {
      summary.last_checkpoint = save();
      say("checkpoint: " + summary.last_checkpoint);
    }
    summary.steps_done = step;
    if (stop) {
      summary.interrupted = true;
      say("stopped by signal after step " + std::to_string(step) + "; resume with --resume " +
          config_.checkpoint_dir());
      break;
    }
  }
  progress.finish();
  return summary;
}

}  // namespace

std::string resolve_resume_path(const std::string& file_or_dir) {
  if (fs::is_directory(file_or_dir)) return latest_checkpoint(file_or_dir);
  return fs::exists(file_or_dir) ? file_or_dir : "";
}

TrainSummary train(const Config& config, const TrainOptions& options) {
  Trainer trainer(config, options);
  return trainer.run();
}

}  // namespace alibi
