// One optimizer step: forward and backward over grad_accum micro-batches,
// gradients accumulated (and, data-parallel, averaged over the ranks), then
// AdamW. Shared by the trainer and the benchmark.
#pragma once

#include <cstdint>
#include <functional>

#include "dist/communicator.h"
#include "model/model.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"

namespace alibi {

struct StepShape {
  int micro_batch = 1, seq_len = 1, grad_accum = 1;  // grad_accum per rank
};

// This process's part in a data-parallel step; the default is one process.
struct DataParallel {
  int rank = 0, world_size = 1;
  Communicator* comm = nullptr;  // null: a single process, nothing to reduce
  GradientSync* sync = nullptr;
  bool zero1 = false;            // the optimizer updated one shard: all-gather the weights
};

struct StepOutcome {
  double loss = 0.0;  // mean token loss over the step's micro-batches, all ranks
  OptimizerStepInfo optimizer;
  // Stopped before a micro-batch because `stop_requested` said so: no update
  // was made (the weights and optimizer state are the step's start), and the
  // gradients hold a partial sum.
  bool abandoned = false;
};

// Asked between micro-batches (before each but the first: the caller asks
// between steps); true abandons the step. Data-parallel, every rank asks the
// same number of times and the answer must be the ranks' common one (the
// trainer agrees on it through the communicator), so that all abandon
// together before any reaches the gradients' all-reduce.
using StopRequested = std::function<bool()>;

// Fills inputs and targets ([micro_batch, seq_len] each) for the step's
// micro-batch number `global_micro`, counted over all ranks: rank r's
// micro-batch k is number k * world_size + r, so that N ranks consume exactly
// the micro-batches one rank with N times the accumulation would.
using BatchSource = std::function<void(int64_t global_micro, int32_t* inputs, int32_t* targets)>;

StepOutcome optimizer_step(Model& model, AdamW& optimizer, const StepShape& shape, double lr, int64_t step,
                           uint64_t dropout_seed, const BatchSource& next_batch, std::vector<int32_t>& inputs,
                           std::vector<int32_t>& targets, const DataParallel& dp = {},
                           const StopRequested& stop_requested = {});

}  // namespace alibi
