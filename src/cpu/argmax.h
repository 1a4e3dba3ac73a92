// The most likely token of each row of logits (greedy decoding): the CPU
// reference for kernels/argmax.cu, and the host sampler's greedy choice.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// tokens[n] = the first index of the largest of logits[n, 0 .. limit-1].
// NaNs are passed over (a row of nothing else gives 0), so the answer does not
// depend on the order in which a parallel reduction compares the values.
void argmax(int32_t* tokens, const float* logits, int64_t N, int64_t V, int64_t limit);

}  // namespace alibi::cpu
