// Evaluation results as a table for the screen, JSON and CSV (docs/eval.md
// lists every field).
#pragma once

#include <string>
#include <vector>

#include "eval/eval_row.h"

namespace alibi {

// Aligned columns: checkpoint, position, L, mode, stride, tokens, token ppl,
// word ppl, tok/s. Rows that could not run show their note instead of numbers.
std::string format_table(const std::vector<EvalRow>& rows);

// {"results": [ {...one object per row...} ]}, numbers at full precision.
std::string format_json(const std::vector<EvalRow>& rows);

// A header line, then one line per row; unavailable rows leave numbers empty.
std::string format_csv(const std::vector<EvalRow>& rows);

}  // namespace alibi
