#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "cpu/argmax.h"

namespace alibi {

namespace {

int32_t most_likely(const float* logits, int64_t vocab) {
  int32_t token = 0;
  cpu::argmax(&token, logits, 1, vocab, vocab);  // the first of equals, as on the device
  return token;
}

}  // namespace

std::vector<double> sampling_distribution(const float* logits, int64_t vocab, const SamplingSettings& s) {
  if (vocab < 1) throw std::invalid_argument("sampling needs a vocabulary");
  if (!(s.temperature > 0)) throw std::invalid_argument("sampling_distribution needs a temperature above 0");
  // The kept tokens are a prefix of the rank order (higher logit first, the
  // lower id first among equals): at most top_k of them, and no more than the
  // fewest whose mass reaches top_p. Only as much of the order is sorted as
  // the filters read (none without them: this runs for every row and token).
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  size_t keep = s.top_k > 0 ? std::min<size_t>(static_cast<size_t>(s.top_k), order.size()) : order.size();
  const size_t ranked = s.top_p < 1.0 ? order.size() : keep < order.size() ? keep : 0;
  if (ranked > 0)
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(ranked), order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  std::vector<double> p(static_cast<size_t>(vocab), 0.0);
  const double top = logits[most_likely(logits, vocab)];
  double total = 0;
  for (int32_t id : order) total += p[id] = std::exp((logits[id] - top) / s.temperature);
  if (s.top_p < 1.0) {
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) {
      mass += p[order[i]] / total;
      if (mass >= s.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[order[i]];
  for (size_t i = keep; i < order.size(); ++i) p[order[i]] = 0.0;
  for (double& x : p) x /= kept;
  return p;
}

int32_t sample_token(const float* logits, int64_t vocab, const SamplingSettings& s, double u) {
  if (s.temperature == 0) return most_likely(logits, vocab);
  const std::vector<double> p = sampling_distribution(logits, vocab, s);
  double cumulative = 0;
  int32_t last_kept = 0;
  for (int64_t id = 0; id < vocab; ++id) {
    if (p[id] == 0) continue;
    cumulative += p[id];
    last_kept = static_cast<int32_t>(id);
    if (u < cumulative) return last_kept;
  }
  return last_kept;  // u within rounding of 1
}

}  // namespace alibi
