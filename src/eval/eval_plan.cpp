#include "eval/eval_plan.h"

#include <algorithm>
#include <stdexcept>

namespace alibi {

void check_eval_spec(const EvalSpec& spec) {
  if (spec.length < 1)
    throw std::invalid_argument("evaluation length " + std::to_string(spec.length) + " must be at least 1");
  if (spec.stride < 1 || spec.stride > spec.length)
    throw std::invalid_argument("stride " + std::to_string(spec.stride) + " must be between 1 and the length " +
                                std::to_string(spec.length));
}

bool covers_exactly(const EvalSpec& spec, int64_t scored) {
  return scored >= spec.length && (scored - spec.length) % spec.stride == 0;
}

int64_t common_scored_tokens(int64_t stream_tokens, const std::vector<EvalSpec>& specs) {
  int64_t longest = 1;
  for (const EvalSpec& spec : specs) longest = std::max(longest, spec.length);
  // Counting down finds the largest common count; the distance to it is at
  // most the least common multiple of the lengths, small for the usual sweeps.
  for (int64_t scored = stream_tokens - 1; scored >= longest; --scored) {
    const bool all = std::all_of(specs.begin(), specs.end(),
                                 [&](const EvalSpec& spec) { return covers_exactly(spec, scored); });
    if (all) return scored;
  }
  return 0;
}

std::vector<EvalWindow> plan_windows(const EvalSpec& spec, int64_t scored) {
  check_eval_spec(spec);
  if (!covers_exactly(spec, scored))
    throw std::invalid_argument("a plan with length " + std::to_string(spec.length) + " and stride " +
                                std::to_string(spec.stride) + " cannot score exactly " + std::to_string(scored) +
                                " tokens");
  const int64_t count = 1 + (scored - spec.length) / spec.stride;
  std::vector<EvalWindow> windows;
  windows.reserve(static_cast<size_t>(count));
  windows.push_back({0, 0});  // the first window has no earlier one to lean on: all L targets count
  for (int64_t k = 1; k < count; ++k) windows.push_back({k * spec.stride, spec.length - spec.stride});
  return windows;
}

}  // namespace alibi
