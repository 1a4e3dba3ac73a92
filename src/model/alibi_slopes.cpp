#include "model/alibi_slopes.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace alibi {
namespace {

// The geometric sequence for a power of two: ratio and first term 2^(-8/n).
std::vector<double> power_of_two_slopes(int n) {
  std::vector<double> slopes(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) slopes[i] = std::exp2(-8.0 / n * (i + 1));
  return slopes;
}

}  // namespace

std::vector<float> alibi_slopes(int n_heads) {
  if (n_heads < 1)
    throw std::invalid_argument("alibi_slopes: n_heads must be >= 1, got " +
                                std::to_string(n_heads));
  int p = 1;
  while (p * 2 <= n_heads) p *= 2;
  std::vector<double> slopes = power_of_two_slopes(p);
  if (p < n_heads) {
    const std::vector<double> finer = power_of_two_slopes(2 * p);
    for (int i = 0; i < n_heads - p; ++i) slopes.push_back(finer[2 * i]);
  }
  return std::vector<float>(slopes.begin(), slopes.end());
}

}  // namespace alibi
