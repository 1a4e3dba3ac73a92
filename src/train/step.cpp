#include "train/step.h"

#include "core/random.h"

namespace alibi {

StepOutcome optimizer_step(Model& model, AdamW& optimizer, const StepShape& s, double lr, int64_t step,
                           uint64_t dropout_seed, const BatchSource& next_batch, std::vector<int32_t>& inputs,
                           std::vector<int32_t>& targets) {
  inputs.resize(static_cast<size_t>(s.micro_batch) * s.seq_len);
  targets.resize(inputs.size());
  // The loss is the mean over every token of the step, however it is split.
  const float loss_scale = 1.f / static_cast<float>(int64_t{s.micro_batch} * s.seq_len * s.grad_accum);
  StepOutcome outcome;
  model.zero_grads();
  for (int micro = 0; micro < s.grad_accum; ++micro) {
    next_batch(micro, inputs.data(), targets.data());
    const StepResult r = model.forward(inputs.data(), targets.data(), s.micro_batch, s.seq_len,
                                       /*training=*/true, derive_seed(dropout_seed, micro));
    model.backward(loss_scale);
    outcome.loss += r.mean_loss() / s.grad_accum;
  }
  outcome.optimizer = optimizer.step(lr, step);
  return outcome;
}

}  // namespace alibi
