// The next token from a row of logits: greedy, or sampled with a
// temperature, top-k and top-p (nucleus) filtering, on the host in double.
// Deterministic: the same logits and random draw give the same token on
// every machine.
#pragma once

#include <cstdint>
#include <vector>

namespace alibi {

struct SamplingSettings {
  double temperature = 1.0;  // 0: greedy (the most likely token)
  int64_t top_k = 0;         // keep the k most likely tokens; 0: all
  double top_p = 1.0;        // keep the fewest most likely tokens whose mass reaches p; 1: all
};

// Probabilities after temperature, top-k and top-p: zero outside the kept
// set, which is never empty; ties in rank go to the lower token id.
std::vector<double> sampling_distribution(const float* logits, int64_t vocab, const SamplingSettings& settings);

// The token for a uniform draw u in [0, 1) (ignored when greedy).
int32_t sample_token(const float* logits, int64_t vocab, const SamplingSettings& settings, double u);

}  // namespace alibi
