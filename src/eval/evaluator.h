// Runs an evaluation plan through a model: windows packed into batches,
// forward only, one summed negative log-likelihood.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "eval/eval_plan.h"
#include "model/model.h"

namespace alibi {

class ShardReader;

struct EvalOutcome {
  int64_t tokens_scored = 0;
  int64_t tokens_processed = 0;  // window tokens run through the model
  double nll = 0.0;              // sum of per-token losses, nats
  double seconds = 0.0;
  int64_t batch_windows = 0;     // windows per forward
  double token_ppl() const;
  double tokens_per_second() const;  // scored tokens per second
};

struct EvalBudget {
  int64_t max_batch_tokens = 16384;  // window tokens per forward (logits are [B, L, vocab])
  size_t free_memory = 0;            // device bytes free besides the model's activations; 0: unknown
};

// Windows per forward: as many as fit `max_batch_tokens` (at least one), no
// more than the plan has, and, where the free memory is known, no more than
// the activations of which fit in it.
int64_t eval_batch_windows(Model& model, const EvalSpec& spec, int64_t windows, const EvalBudget& budget);

// Called after each forward with (windows done, windows in all).
using EvalProgress = std::function<void(int64_t, int64_t)>;

EvalOutcome evaluate(Model& model, const ShardReader& tokens, const EvalSpec& spec, int64_t scored,
                     const EvalBudget& budget, const EvalProgress& progress = {});

}  // namespace alibi
