#include "train/step.h"

#include "core/random.h"

namespace alibi {

StepOutcome optimizer_step(Model& model, AdamW& optimizer, const StepShape& s, double lr, int64_t step,
                           uint64_t dropout_seed, const BatchSource& next_batch, std::vector<int32_t>& inputs,
                           std::vector<int32_t>& targets, const DataParallel& dp,
                           const StopRequested& stop_requested) {
  inputs.resize(static_cast<size_t>(s.micro_batch) * s.seq_len);
  targets.resize(inputs.size());
  // The loss is the mean over every token of the step on every rank, however
  // it is split; summing the ranks' gradients then gives the mean.
  const int64_t micro_batches = int64_t{s.grad_accum} * dp.world_size;
  const float loss_scale = 1.f / static_cast<float>(int64_t{s.micro_batch} * s.seq_len * micro_batches);
  StepOutcome outcome;
  model.zero_grads();
  for (int micro = 0; micro < s.grad_accum; ++micro) {
    if (micro > 0 && stop_requested && stop_requested()) {
      outcome.abandoned = true;
      return outcome;
    }
    const int64_t global_micro = int64_t{micro} * dp.world_size + dp.rank;
    next_batch(global_micro, inputs.data(), targets.data());
    const StepResult r = model.forward(inputs.data(), targets.data(), s.micro_batch, s.seq_len,
                                       /*training=*/true, derive_seed(dropout_seed, global_micro), loss_scale);
    const bool last = micro + 1 == s.grad_accum;
    model.backward(last && dp.sync ? dp.sync->hook() : GradsReadyHook{});
    outcome.loss += r.mean_loss() / s.grad_accum;
  }
  if (dp.sync) dp.sync->finish();
  outcome.optimizer = optimizer.step(lr, step);
  if (dp.comm) {
    if (dp.zero1) {
      dp.comm->all_gather(model.params_flat(), "all-gather of the updated weights");
      dp.comm->join();
      model.refresh_working_weights();
    }
    outcome.loss = dp.comm->sum_host({outcome.loss}, "sum of the step's loss")[0] / dp.world_size;
  }
  return outcome;
}

}  // namespace alibi
