// Token embedding lookup, the CPU reference.
#pragma once

#include <cstdint>

namespace alibi::cpu {

// out[n,:] = wte[tokens[n],:]. Throws std::out_of_range for a token outside [0, V).
template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, int64_t N, int64_t V,
                       int64_t C);

// dwte[tokens[n],:] += dout[n,:]. Rows are summed in ascending n by the one
// thread that owns the channel block, so repeated tokens are deterministic.
template <typename T>
void embedding_backward(T* dwte, const T* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C);

}  // namespace alibi::cpu
