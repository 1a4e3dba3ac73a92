// Evaluation plans: which windows of a split's token stream are run through
// the model, and which of their targets are scored (docs/eval.md).
//
// A split is a token stream t[0 .. N). Token t[j] (j >= 1) is predicted from
// the tokens before it, so N - 1 tokens can be scored. A plan scores exactly
// the first M of them, t[1 .. M], each once:
//
//   window k: input t[s_k .. s_k + L), targets t[s_k + 1 .. s_k + L]
//   nonoverlapping (stride S = L): s_k = k L, every target scored
//   sliding (stride S < L):        s_k = k S, window 0 scores all L targets,
//                                  later windows only their last S, so every
//                                  scored token after the first window sees at
//                                  least L - S tokens of context
//
// Nonoverlapping is the sliding plan with S = L, so the two agree exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace alibi {

struct EvalSpec {
  int64_t length = 0;  // L, tokens per window
  int64_t stride = 0;  // S, 1 <= S <= L; S = L is nonoverlapping

  bool nonoverlapping() const { return stride == length; }
  const char* mode() const { return nonoverlapping() ? "nonoverlapping" : "sliding"; }
};

struct EvalWindow {
  int64_t start = 0;        // s_k: the window's first input token
  int64_t first_scored = 0; // targets at window positions >= this are scored
};

// Throws std::invalid_argument when the length or stride is out of range.
void check_eval_spec(const EvalSpec& spec);

// Whether a plan for `spec` can score exactly the first `scored` tokens:
// scored >= L and (scored - L) is a multiple of S.
bool covers_exactly(const EvalSpec& spec, int64_t scored);

// The largest M <= stream_tokens - 1 that every spec covers exactly, so
// every spec scores the same tokens; 0 when there is none (the split is too
// short, or the nonoverlapping lengths have no common multiple in it).
int64_t common_scored_tokens(int64_t stream_tokens, const std::vector<EvalSpec>& specs);

// The windows that score t[1 .. scored]; `scored` must be covered exactly.
std::vector<EvalWindow> plan_windows(const EvalSpec& spec, int64_t scored);

}  // namespace alibi
