// The per-head ALiBi slopes of Press, Smith & Lewis (2021).
#pragma once

#include <vector>

namespace alibi {

// For n a power of two: 2^(-8/n * (i+1)), i = 0..n-1 (8 heads: 1/2 ... 1/256).
// Otherwise, with p the largest power of two below n: the p slopes of
// alibi_slopes(p) followed by elements 0, 2, 4, ... of alibi_slopes(2p), n - p
// of them, so extra heads interleave between the existing slopes.
// Throws std::invalid_argument for n < 1.
std::vector<float> alibi_slopes(int n_heads);

}  // namespace alibi
