#include "eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "data/shard.h"

namespace alibi {

double EvalOutcome::token_ppl() const { return tokens_scored ? std::exp(nll / tokens_scored) : 0.0; }

double EvalOutcome::tokens_per_second() const { return seconds > 0 ? tokens_scored / seconds : 0.0; }

int64_t eval_batch_windows(Model& model, const EvalSpec& spec, int64_t windows, const EvalBudget& budget) {
  int64_t batch = std::clamp<int64_t>(budget.max_batch_tokens / spec.length, 1, std::max<int64_t>(windows, 1));
  if (budget.free_memory == 0) return batch;
  // The current reservation is released before a larger one is made, so it
  // counts as free.
  const size_t available = budget.free_memory + model.activation_bytes();
  while (batch > 1 && model.activation_bytes_for(batch, spec.length, /*for_training=*/false) > available)
    batch = (batch + 1) / 2;
  return batch;
}

namespace {

// Fills one window's row: inputs t[s .. s+L), targets t[s+1 .. s+L], with
// targets before `first_scored` set to -1 (not scored).
void fill_window(const ShardReader& tokens, const EvalWindow& window, int64_t length, std::vector<int32_t>& span,
                 int32_t* inputs, int32_t* targets) {
  tokens.read(window.start, length + 1, span.data());
  for (int64_t i = 0; i < length; ++i) {
    inputs[i] = span[i];
    targets[i] = i >= window.first_scored ? span[i + 1] : -1;
  }
}

}  // namespace

EvalOutcome evaluate(Model& model, const ShardReader& tokens, const EvalSpec& spec, int64_t scored,
                     const EvalBudget& budget, const EvalProgress& progress) {
  const std::vector<EvalWindow> windows = plan_windows(spec, scored);
  if (scored + 1 > tokens.size())
    throw std::invalid_argument("the plan needs " + std::to_string(scored + 1) + " tokens but '" + tokens.path() +
                                "' holds " + std::to_string(tokens.size()));
  const int64_t L = spec.length, total = static_cast<int64_t>(windows.size());
  const int64_t batch = eval_batch_windows(model, spec, total, budget);
  std::vector<int32_t> inputs(batch * L), targets(batch * L), span(L + 1);

  EvalOutcome out;
  out.batch_windows = batch;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += batch) {
    const int64_t rows = std::min(batch, total - first);  // the last batch may be partial
    for (int64_t r = 0; r < rows; ++r)
      fill_window(tokens, windows[first + r], L, span, inputs.data() + r * L, targets.data() + r * L);
    const StepResult step = model.forward(inputs.data(), targets.data(), rows, L, /*training=*/false);
    out.nll += step.loss_sum;
    out.tokens_scored += step.scored;
    out.tokens_processed += rows * L;
    if (progress) progress(first + rows, total);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.tokens_scored != scored)
    throw std::logic_error("evaluation scored " + std::to_string(out.tokens_scored) + " tokens, planned " +
                           std::to_string(scored));
  return out;
}

}  // namespace alibi
