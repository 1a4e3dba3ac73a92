#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "backend/select.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "core/random.h"
#include "model/model.h"
#include "train/optimizer.h"
#include "train/grad_sync.h"
#include "train/step.h"

namespace alibi {

int bench_train(const TrainBenchOptions& o) {
  const Config config = load_bench_config(o.config_path, o.overrides);  // random tokens
  const TrainConfig& t = config.train;
  auto backend = make_backend(config.runtime);
  // Device memory as the driver sees it (everything the process allocates
  // after this point, not only our own count): free now minus the lowest
  // free seen after each step. It leaves out the CUDA context and the
  // backend's fixed cuBLASLt workspace, allocated before this point.
  const size_t free_at_start = backend->free_memory();
  size_t lowest_free = free_at_start;
  const ModelShape shape = resolve_model_shape(config, config.model.vocab_size);
  Model model(*backend, shape);
  model.set_recompute(t.recompute);
  model.set_logit_chunk_rows(o.logit_chunk_rows);
  model.load_parameters(init_parameters(model.layout(), shape, config.model.init_std, t.seed));
  AdamW optimizer(*backend, model, OptimizerSettings::from(t));
  model.reserve(t.micro_batch, t.seq_len, /*for_training=*/true);
  // --data-parallel: the trainer's data-parallel path as a job of one rank
  // (NCCL on a GPU): what that path costs over the plain one.
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<GradientSync> sync;
  if (o.data_parallel) {
    if (config.dist.zero1) throw ConfigError("alibi-bench train --data-parallel: dist.zero1 is not benchmarked");
    CommunicatorSetup setup;
    setup.share_from_rank0 = [](const std::vector<uint8_t>& id) { return id; };
    setup.label = "rank 0/1";
    comm = make_communicator(*backend, setup);
    sync = std::make_unique<GradientSync>(*backend, *comm, model, config.dist);
  }
  const DataParallel dp{0, 1, comm.get(), sync.get(), false};

  Rng rng(t.seed);
  auto random_batch = [&](int64_t, int32_t* inputs, int32_t* targets) {
    for (int64_t i = 0; i < int64_t{t.micro_batch} * t.seq_len; ++i) {
      inputs[i] = static_cast<int32_t>(rng.below(shape.vocab));
      targets[i] = static_cast<int32_t>(rng.below(shape.vocab));
    }
  };
  const StepShape step_shape{t.micro_batch, t.seq_len, t.grad_accum};
  std::vector<int32_t> inputs, targets;
  std::vector<double> seconds;
  double last_loss = 0;
  for (int step = 1; step <= o.warmup + o.steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    // optimizer_step ends by reading the gradient norm back: the device has finished.
    last_loss = optimizer_step(model, optimizer, step_shape, t.lr, step, rng.next_u64(), random_batch, inputs,
                               targets, dp).loss;
    backend->synchronize();
    lowest_free = std::min(lowest_free, backend->free_memory());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (step > o.warmup) seconds.push_back(s);
  }

  const double step_s = median_seconds(seconds);
  const double tokens_per_step = double(t.micro_batch) * t.seq_len * t.grad_accum;
  const double tokens_per_s = tokens_per_step / step_s;
  const double flops = model.training_flops_per_token(t.seq_len) * tokens_per_s;
  const char* env_peak = std::getenv("PEAK_TFLOPS");  // the same peak the PyTorch baseline uses
  const double peak = env_peak ? std::atof(env_peak) * 1e12 : backend->peak_flops();
  const double model_bytes = double(model.parameter_bytes() + optimizer.state_bytes() + model.activation_bytes());
  const double GiB = 1024.0 * 1024 * 1024;
  const double device_gib = double(free_at_start - lowest_free) / GiB;  // 0 on the CPU
  nlohmann::json result = {{"tool", "alibi-bench train"},
                           {"backend", backend->name()},
                           {"config", o.config_path},
                           {"position", position_method_name(shape.position)},
                           {"params", model.num_parameters()},
                           {"n_layer", shape.n_layer}, {"d_model", shape.d_model}, {"n_head", shape.n_head},
                           {"seq_len", t.seq_len}, {"micro_batch", t.micro_batch}, {"grad_accum", t.grad_accum},
                           {"recompute", recompute_name(t.recompute)},
                           {"logit_chunk_rows", o.logit_chunk_rows},  // 0: the model's own choice
                           {"data_parallel", o.data_parallel ? comm->name() : std::string("off")},
                           {"timed_steps", o.steps}, {"warmup_steps", o.warmup},
                           {"ms_per_step_median", 1e3 * step_s},
                           {"ms_per_step_min", 1e3 * *std::min_element(seconds.begin(), seconds.end())},
                           {"tokens_per_s", tokens_per_s},
                           {"model_tflops", flops / 1e12},
                           {"mfu", peak > 0 ? flops / peak : 0.0},
                           {"peak_tflops_for_mfu", peak / 1e12},
                           {"allocated_gib", model_bytes / GiB},
                           {"device_gib", device_gib},
                           {"last_loss", last_loss}};
  std::printf("%s%s | %s | %.1fM params | B %d x L %d | recompute %s | %.2f ms/step | %.0f tok/s | %.1f model TFLOP/s | MFU %.1f%% | "
              "%.2f GiB (device %.2f GiB)\n",
              backend->name().c_str(), o.data_parallel ? " (data-parallel path, 1 rank)" : "",
              position_method_name(shape.position), model.num_parameters() / 1e6,
              t.micro_batch, t.seq_len, recompute_name(t.recompute), 1e3 * step_s, tokens_per_s, flops / 1e12,
              peak > 0 ? 100.0 * flops / peak : 0.0, model_bytes / GiB, device_gib);
  if (!o.json_path.empty()) std::ofstream(o.json_path) << result.dump(2) << "\n";
  return 0;
}

}  // namespace alibi
