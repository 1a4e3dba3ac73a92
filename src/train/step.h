// One optimizer step: forward and backward over grad_accum micro-batches,
// gradients accumulated, then AdamW. Shared by the trainer and the benchmark.
#pragma once

#include <cstdint>
#include <functional>

#include "model/model.h"
#include "train/optimizer.h"

namespace alibi {

struct StepShape {
  int micro_batch = 1, seq_len = 1, grad_accum = 1;
};

struct StepOutcome {
  double loss = 0.0;  // mean token loss over the step's micro-batches
  OptimizerStepInfo optimizer;
};

// Fills inputs and targets ([micro_batch, seq_len] each) for micro-batch `micro`.
using BatchSource = std::function<void(int micro, int32_t* inputs, int32_t* targets)>;

StepOutcome optimizer_step(Model& model, AdamW& optimizer, const StepShape& shape, double lr, int64_t step,
                           uint64_t dropout_seed, const BatchSource& next_batch, std::vector<int32_t>& inputs,
                           std::vector<int32_t>& targets);

}  // namespace alibi
