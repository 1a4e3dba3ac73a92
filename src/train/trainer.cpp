// The training loop (train(), trainer.h): setup, steps, validation, metrics
// and the stop policy; saving and restoring the run live in
// trainer_checkpoint.cpp, the file format in checkpoint.cpp, fault injection
// and the run folder in files of their own.
#include "train/trainer.h"

#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "backend/select.h"
#include "core/atomic_file.h"
#include "core/random.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/shard.h"
#include "dist/launch_env.h"
#include "dist/process_group.h"
#include "eval/eval_checkpoint.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/fault_injection.h"
#include "train/grad_sync.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/schedule.h"
#include "train/step.h"
#include "train/stop_signals.h"
#include "train/trainer_impl.h"

namespace alibi {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Micro-batches each rank accumulates per step: train.grad_accum, or what
// train.global_batch leaves after the micro-batch and the ranks.
int accumulation_per_rank(const TrainConfig& t, int world) {
  if (t.global_batch == 0) return t.grad_accum;
  const int64_t per_micro_step = int64_t{t.micro_batch} * world;
  if (t.global_batch % per_micro_step != 0)
    throw ConfigError("train.global_batch = " + std::to_string(t.global_batch) + " is not a multiple of "
                      "train.micro_batch x ranks = " + std::to_string(t.micro_batch) + " x " + std::to_string(world) +
                      " = " + std::to_string(per_micro_step));
  return static_cast<int>(t.global_batch / per_micro_step);
}

// Seeds for the trainer's own random stream (dropout masks per step).
constexpr uint64_t kTrainerRngStream = 0x7a11;

}  // namespace

Trainer::Trainer(const Config& config, const TrainOptions& options)
    : config_(config), options_(options), rng_(derive_seed(config.train.seed, kTrainerRngStream)) {
  const TrainConfig& t = config_.train;
  join_job();
  prepare_checkpoint_dir();
  dataset_ = load_dataset(config_.data.dir);
  train_shard_ = std::make_unique<ShardReader>(dataset_.shard_path(config_.data.train_split));
  train_loader_ = std::make_unique<WindowLoader>(*train_shard_, t.seq_len, t.seed, /*shuffle=*/true);
  open_validation_split();
  const ModelShape shape = resolve_model_shape(config_, dataset_.vocab_size);
  // ZeRO-1 shards are equal, whole multiples of 64 elements.
  model_ = std::make_unique<Model>(*backend_, shape, sharded() ? int64_t{64} * world_ : int64_t{64});
  model_->set_recompute(t.recompute);
  build_optimizer();
  reserve_activations();
  schedule_ = LrSchedule{t.lr, t.warmup_steps, t.steps, t.min_lr_ratio};
  inputs_.resize(static_cast<size_t>(t.micro_batch) * t.seq_len);
  targets_.resize(inputs_.size());

  state_.config_yaml = config_to_yaml(config_);
  state_.tokenizer_id = dataset_.tokenizer_id;
  state_.data_vocab = dataset_.vocab_size;
  if (options_.init_from.empty())
    model_->load_parameters(init_parameters(model_->layout(), shape, config_.model.init_std, t.seed));
  else
    initialize_from(options_.init_from);
  if (!options_.resume_from.empty()) restore(resolve_resume_path(options_.resume_from));
}

// --init-from: a new run (step 0, fresh optimizer) that starts from the
// weights of a checkpoint or an exported folder of the same shape.
void Trainer::initialize_from(const std::string& source) {
  const EvalCheckpoint trained = load_eval_checkpoint(source);
  const std::string mismatch = checkpoint_shape_mismatch(trained.shape, model_->shape());
  if (!mismatch.empty()) throw CheckpointError("--init-from " + source + ": " + mismatch);
  if (!trained.tokenizer_id.empty() && trained.tokenizer_id != dataset_.tokenizer_id)
    throw CheckpointError("--init-from " + source + ": the model was trained with tokenizer " + trained.tokenizer_id +
                          " but data.dir '" + config_.data.dir + "' uses tokenizer " + dataset_.tokenizer_id);
  model_->load_parameters(trained.params);
}

void Trainer::join_job() {
  launch_ = detect_launch();
  backend_ = make_backend(config_.runtime, launch_.local_rank);
  if (launch_.launcher != "single" || options_.data_parallel) {
    comm_ = join_process_group(*backend_, launch_, config_.dist);
    rank_ = comm_->rank();
    world_ = comm_->world_size();
  }
  accum_ = accumulation_per_rank(config_.train, world_);
}

// Before any work: a folder the run cannot write fails now, not at the first
// save; temporary files of killed writes are removed (their processes gone).
void Trainer::prepare_checkpoint_dir() {
  if (!is_root()) return;
  const std::string dir = config_.checkpoint_dir();
  check_directory_writable(dir, config_.checkpoint.dir.empty() ? "checkpoint folder (log.run_dir/checkpoints)"
                                                              : "checkpoint.dir");
  for (const std::string& name : remove_stale_temp_files(dir))
    notes_.push_back("removed " + (fs::path(dir) / name).string() + ", left by a process killed while writing it");
}

// A misspelt data.valid_split is an error, as a misspelt train_split is; a
// dataset without the default "valid" split trains without validation, and
// says so.
void Trainer::open_validation_split() {
  const std::string& name = config_.data.valid_split;
  if (!dataset_.has_split(name)) {
    if (name != DataConfig{}.valid_split) dataset_.split(name);  // throws, listing the splits there are
    warning_ = "dataset " + config_.data.dir + " has no split '" + name +
               "': training runs without validation (set data.valid_split to validate on another split)";
    return;
  }
  valid_shard_ = std::make_unique<ShardReader>(dataset_.shard_path(name));
  valid_loader_ = std::make_unique<WindowLoader>(*valid_shard_, config_.train.seq_len, config_.train.seed,
                                                 /*shuffle=*/false);
}

void Trainer::build_optimizer() {
  OptimizerShard shard;
  if (sharded()) {
    const int64_t size = model_->params_flat().numel() / world_;
    shard.begin = rank_ * size;
    shard.end = shard.begin + size;
    shard.sum_over_shards = [this](const Tensor& norm_sq) {
      comm_->all_reduce_sum(norm_sq, "sum of the squared gradient norm over the shards");
      comm_->join();
    };
    gather_buffer_ = backend_->allocate(size * sizeof(float));
  }
  optimizer_ = std::make_unique<AdamW>(*backend_, *model_, OptimizerSettings::from(config_.train), shard);
  if (comm_) grad_sync_ = std::make_unique<GradientSync>(*backend_, *comm_, *model_, config_.dist);
}

// Everything is allocated here, once, before the first step; a config that
// does not fit fails now, saying what it needs against what is free.
void Trainer::reserve_activations() {
  const TrainConfig& t = config_.train;
  const size_t needed = model_->activation_bytes_for(t.micro_batch, t.seq_len, /*for_training=*/true);
  const size_t free = backend_->free_memory();
  const double GiB = 1024.0 * 1024.0 * 1024.0;
  if (free > 0 && needed > free) {
    char text[640];
    std::snprintf(text, sizeof text,
                  "not enough %s memory: activations for train.micro_batch = %d x train.seq_len = %d need "
                  "%.2f GiB, but only %.2f GiB is free after parameters, gradients and optimizer state "
                  "(%.2f GiB); lower train.micro_batch (and raise train.grad_accum) or train.seq_len, or recompute more (train.recompute)",
                  device_name(backend_->device()), t.micro_batch, t.seq_len, needed / GiB, free / GiB,
                  (model_->parameter_bytes() + optimizer_->state_bytes()) / GiB);
    throw std::runtime_error(text);
  }
  model_->reserve(t.micro_batch, t.seq_len, /*for_training=*/true);
}

// What a step with a NaN or infinite loss or gradient norm did, and, when the
// run stops on it, where its good weights are.
std::string Trainer::nonfinite_step_message(int64_t step, double loss, int in_a_row) const {
  const TrainConfig& t = config_.train;
  char text[256];
  std::snprintf(text, sizeof text, "step %lld: loss %g, gradient norm %g", static_cast<long long>(step), loss,
                last_info_.grad_norm);
  std::string message = text;
  message += last_info_.skipped ? ": the update was skipped" : "";
  if (t.on_nonfinite == OnNonfinite::Skip && in_a_row <= t.max_skipped_steps)
    return message + " (train.on_nonfinite = skip; " + std::to_string(in_a_row) + " in a row, at most " +
           std::to_string(t.max_skipped_steps) + ")";
  const std::string latest = latest_checkpoint(config_.checkpoint_dir());
  message += t.on_nonfinite == OnNonfinite::Stop
                 ? "; the run diverged and stops (train.on_nonfinite = stop)"
                 : "; " + std::to_string(in_a_row) + " non-finite steps in a row (train.max_skipped_steps = " +
                       std::to_string(t.max_skipped_steps) + "): the run stops";
  return message + (latest.empty() ? "; no checkpoint was written yet"
                                   : "; the last checkpoint, " + latest +
                                         ", holds finite weights: resume from it, e.g. with a lower train.lr");
}

// nullopt when a signal stopped the step between micro-batches: nothing of
// it is kept (no update, the RNG and data position of its start).
std::optional<double> Trainer::train_step(int64_t step) {
  const TrainConfig& t = config_.train;
  const StepShape shape{t.micro_batch, t.seq_len, accum_};
  // The step's windows follow the global position; each rank reads its own
  // micro-batches of them (step.h), so no two ranks read the same window.
  const int64_t first_window = state_.loader_position;
  auto next_batch = [&](int64_t global_micro, int32_t* inputs, int32_t* targets) {
    train_loader_->fill_batch(first_window + global_micro * t.micro_batch, t.micro_batch, inputs, targets);
  };
  const DataParallel dp{rank_, world_, comm_.get(), grad_sync_.get(), sharded()};
  // Between micro-batches; data-parallel, the ranks agree (a host all-reduce
  // of one number, only where a step has several micro-batches).
  const StopRequested stop_check = [this] { return any_rank_asks_to_stop(); };
  const uint64_t rng_at_start = rng_.state();
  const StepOutcome outcome = optimizer_step(*model_, *optimizer_, shape, schedule_.at(step), step,
                                             rng_.next_u64(), next_batch, inputs_, targets_, dp, stop_check);
  if (outcome.abandoned) {
    rng_.set_state(rng_at_start);
    return std::nullopt;
  }
  state_.loader_position += int64_t{t.micro_batch} * accum_ * world_;
  state_.tokens_seen += tokens_per_step();
  state_.step = step;
  last_info_ = outcome.optimizer;
  return outcome.loss;
}

double Trainer::validate() {
  const TrainConfig& t = config_.train;
  const int64_t available = valid_loader_->windows_per_epoch();
  const int64_t wanted = t.eval_batches > 0 ? std::min(available, t.eval_batches * t.micro_batch) : available;
  double loss_sum = 0.0, scored = 0.0;
  // Rank r validates batches r, r + N, ...; the sums over ranks cover each once.
  const int64_t batch_stride = int64_t{t.micro_batch} * world_;
  for (int64_t first = int64_t{t.micro_batch} * rank_; first < wanted; first += batch_stride) {
    const int batch = static_cast<int>(std::min<int64_t>(t.micro_batch, wanted - first));
    valid_loader_->fill_batch(first, batch, inputs_.data(), targets_.data());
    StepResult r = model_->forward(inputs_.data(), targets_.data(), batch, t.seq_len, /*training=*/false);
    loss_sum += r.loss_sum;
    scored += static_cast<double>(r.scored);
  }
  if (comm_) {
    const std::vector<double> sums = comm_->sum_host({loss_sum, scored}, "sum of the validation loss");
    loss_sum = sums[0], scored = sums[1];
  }
  return scored > 0 ? loss_sum / scored : 0.0;
}

// A signal may reach the ranks at different steps; they stop together.
bool Trainer::any_rank_asks_to_stop() {
  const bool mine = StopSignals::requested();
  if (!comm_) return mine;
  return comm_->sum_host({mine ? 1.0 : 0.0}, "agreeing on a stop")[0] > 0;
}

std::string Trainer::banner() const {
  char text[512];
  const double MiB = 1048576.0;
  std::snprintf(text, sizeof text,
                "alibi-train: %s | %lld parameters | %s positions | memory %.1f MiB (weights+grads %.1f, "
                "optimizer %.1f, activations %.1f)",
                backend_->name().c_str(), static_cast<long long>(model_->num_parameters()),
                position_method_name(model_->shape().position),
                (model_->parameter_bytes() + optimizer_->state_bytes() + model_->activation_bytes()) / MiB,
                model_->parameter_bytes() / MiB, optimizer_->state_bytes() / MiB, model_->activation_bytes() / MiB);
  std::string result = text;
  const TrainConfig& t = config_.train;
  if (comm_) {
    std::snprintf(text, sizeof text,
                  "\ndata parallel: %d rank(s) over %s (%s launch) | global batch %lld sequences = %d micro x %d "
                  "accum x %d ranks (%lld tokens) | all-reduce %s, %s%s",
                  world_, comm_->name().c_str(), launch_.launcher.c_str(),
                  static_cast<long long>(int64_t{t.micro_batch} * accum_ * world_), t.micro_batch, accum_, world_,
                  static_cast<long long>(tokens_per_step()), reduce_dtype_name(config_.dist.reduce_dtype),
                  config_.dist.overlap ? "overlapped with the backward" : "after the backward",
                  sharded() ? " | ZeRO-1 optimizer shards" : "");
    result += text;
  }
  return result;
}

TrainSummary Trainer::run() {
  const TrainConfig& t = config_.train;
  StopSignals signals;
  const bool resumed = !options_.resume_from.empty();
  TrainSummary summary;
  summary.run_dir = config_.log.run_dir;
  summary.metrics_path = (fs::path(config_.log.run_dir) / "metrics.jsonl").string();
  summary.world_size = world_;
  summary.rank = rank_;
  // Rank 0 alone writes the run folder, the log and the progress line.
  std::optional<MetricsLog> metrics;
  // Destroyed before the log (declared after it), on any exit: the signal
  // handler never fsyncs a closed descriptor.
  struct ForgetMetricsFd {
    ~ForgetMetricsFd() { StopSignals::flush_before_exit(-1); }
  } forget_metrics_fd;
  if (is_root()) {
    if (!resumed) prepare_fresh_run_dir(config_, options_.overwrite);
    make_directories(config_.log.run_dir);
    write_text_atomically((fs::path(config_.log.run_dir) / "config.yaml").string(), config_to_yaml(config_));
    metrics.emplace(summary.metrics_path, resumed ? state_.step : -1);
    StopSignals::flush_before_exit(metrics->fd());
    if (!warning_.empty()) std::fprintf(stderr, "alibi-train: warning: %s\n", warning_.c_str());
  }
  const bool show = is_root() && !options_.quiet;
  ProgressLine progress(t.steps, show ? config_.log.interval : int64_t{1} << 62);
  auto say = [&](const std::string& text) {
    if (show) progress.message(text);
  };
  auto log = [&](const nlohmann::json& record) {
    if (metrics) metrics->write(record);
  };

  say(banner());
  for (const std::string& note : notes_) say(note);
  if (resumed) say("resumed at step " + std::to_string(state_.step) + " from " + resolve_resume_path(options_.resume_from));

  const double flops_token = model_->training_flops_per_token(t.seq_len);
  const double peak = backend_->peak_flops() * world_;
  double ema_step_seconds = 0.0;
  int nonfinite_in_a_row = 0;
  for (int64_t step = state_.step + 1; step <= t.steps; ++step) {
    const auto start = Clock::now();
    inject_fault_if_asked(rank_, step);
    const std::optional<double> stepped = train_step(step);
    if (!stepped) {
      // Stopped by a signal between micro-batches: save the state the step started from.
      summary.interrupted = true;
      summary.last_checkpoint = save();
      say("checkpoint: " + summary.last_checkpoint);
      say("stopped by signal during step " + std::to_string(step) + " (not kept); resume with --resume " +
          config_.checkpoint_dir());
      break;
    }
    const double loss = *stepped;
    const double seconds = seconds_since(start);
    ema_step_seconds = ema_step_seconds == 0.0 ? seconds : 0.9 * ema_step_seconds + 0.1 * seconds;
    const double tokens_per_s = tokens_per_step() / seconds;
    const double mfu = peak > 0 ? tokens_per_s * flops_token / peak : 0.0;
    summary.train_losses.push_back(loss);
    summary.final_train_loss = loss;
    nlohmann::json record = {{"type", "train"}, {"step", step}, {"loss", loss}, {"lr", schedule_.at(step)},
                             {"grad_norm", last_info_.grad_norm}, {"tokens", state_.tokens_seen},
                             {"tokens_per_s", tokens_per_s}, {"step_seconds", seconds}};
    if (mfu > 0) record["mfu"] = mfu;
    const bool nonfinite = last_info_.skipped || !std::isfinite(loss);
    if (nonfinite) record["nonfinite"] = true;  // the log writes NaN and inf as null
    log(record);
    if (nonfinite) {
      const std::string what = nonfinite_step_message(step, loss, ++nonfinite_in_a_row);
      if (t.on_nonfinite == OnNonfinite::Stop || nonfinite_in_a_row > t.max_skipped_steps)
        throw std::runtime_error(what);
      say(what);
    } else {
      nonfinite_in_a_row = 0;
    }
    if (show) progress.update(step, loss, schedule_.at(step), tokens_per_s, mfu, ema_step_seconds);

    const bool last = step == t.steps;
    if (valid_loader_ && (last || (t.eval_interval > 0 && step % t.eval_interval == 0))) {
      const double val = validate();
      summary.final_valid_loss = val;
      log({{"type", "valid"}, {"step", step}, {"loss", val}, {"ppl", std::exp(val)}});
      char text[128];
      std::snprintf(text, sizeof text, "step %lld: validation loss %.4f (ppl %.2f)", static_cast<long long>(step),
                    val, std::exp(val));
      say(text);
    }
    const bool stop = any_rank_asks_to_stop();
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
  if (show) progress.finish();
  StopSignals::flush_before_exit(-1);
  if (metrics) metrics->close();
  return summary;
}

std::string resolve_resume_path(const std::string& file_or_dir) {
  if (fs::is_directory(file_or_dir)) return latest_checkpoint(file_or_dir);
  return fs::exists(file_or_dir) ? file_or_dir : "";
}

TrainSummary train(const Config& config, const TrainOptions& options) {
  Trainer trainer(config, options);
  return trainer.run();
}

}  // namespace alibi
